//! Recordings in object storage: where they go (destinations by URL), how they get there (a
//! durable spool, then verified uploads), where they live (the key layout) and how long
//! (retention tags, lifecycle rules, the sweeper, plan migration). Knows nothing of RTP.

pub mod atomic;
pub(crate) mod backoff;
pub mod catalog;
pub(crate) mod destination;
pub mod envelope;
pub(crate) mod error;
pub mod job;
pub mod key;
pub mod lifecycle;
pub mod live;
pub mod media_files;
pub mod metadata;
pub mod migrate;
pub mod object_lock;
pub mod probe;
pub(crate) mod recovery;
pub mod rewrap;
pub mod s3;
pub mod sealed;
pub mod spool;
pub mod sweep;
pub mod tagging;
pub mod upload;
pub(crate) mod upload_schedule;
pub mod verify;

pub use destination::{
    owned_destination, owned_parts, Backend, Destination, OwnCredentials, OWN_OPTIONS,
};
pub use error::StoreError;
