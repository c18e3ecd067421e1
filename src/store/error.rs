//! Everything that can go wrong between a finished recording and its stored copy, each with a
//! message that says what and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL or its options are unusable.
    #[error("store '{url}': {reason}")]
    Destination { url: String, reason: String },
    /// The object store refused or failed a request.
    #[error(transparent)]
    Object(#[from] object_store::Error),
    /// A signed S3 request outside object_store (tags, lifecycle) failed.
    #[error("{0}")]
    S3(String),
    /// Local spool IO failed.
    #[error("spool {}: {source}", path.display())]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The spool holds as much as it may; new recordings are refused, spooled ones are kept.
    #[error(
        "spool full: {used} bytes waiting for upload, limit {limit} bytes; nothing spooled is \
         lost, new recordings are refused until uploads drain (is the store reachable?)"
    )]
    SpoolFull { used: u64, limit: u64 },
    /// Another live process owns the spool's backlog (see `Spool::own`).
    #[error(
        "the spool {} is in use by another callrec process (a running `callrec serve` uploads \
         it itself); try again once that process has stopped",
        spool.display()
    )]
    SpoolInUse { spool: PathBuf },
    /// A spooled job's manifest is unreadable.
    #[error("spool job {}: {reason}", path.display())]
    BadJob { path: PathBuf, reason: String },
    /// The stored object is not the one sent: size or SHA-256 differ.
    #[error("{key}: stored copy differs from the recording ({detail})")]
    Mismatch { key: String, detail: String },
    /// The recordings catalog could not be written: the recording stays spooled until it is.
    #[error("recordings catalog: {0}")]
    Catalog(String),
    /// A stored metadata document cannot be read.
    #[error("{key}: unreadable metadata: {reason}")]
    BadMetadata { key: String, reason: String },
}

impl StoreError {
    pub(crate) fn spool(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Spool { path, source }
    }
}
