//! A finished recording becomes a spool job: its keys from the layout, its tags from the
//! storage section, its metadata document (the sidecar plus that section) uploaded last.

use super::error::StoreError;
use super::key::{segment, RecordingKey};
use super::metadata::{with_storage, StorageInfo};
use super::spool::{JobWriter, Manifest, SpoolJob, SpooledFile};
use super::upload::hex;
use sha2::{Digest, Sha256};

/// A media file as the recorder finished it, already in the job's directory.
#[derive(Clone, Debug)]
pub struct FinishedFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Commits `job` for upload to `destination` (a URL). `sidecar` is the recorder's metadata
/// JSON; the stored document adds `storage` to it.
pub fn commit(
    job: JobWriter,
    destination: &str,
    key: &RecordingKey,
    storage: &StorageInfo,
    sidecar: &[u8],
    media: Vec<FinishedFile>,
) -> Result<SpoolJob, StoreError> {
    let bad = |reason: String| StoreError::BadJob {
        path: job.dir().to_path_buf(),
        reason,
    };
    let document = with_storage(sidecar, storage).map_err(|e| bad(e.to_string()))?;
    // Media names become spool paths and keys: plain names only, and never the metadata's.
    if let Some(f) = media
        .iter()
        .find(|f| segment(&f.name) != f.name || f.name.ends_with(".json"))
    {
        return Err(bad(format!("'{}' is not a media file name", f.name)));
    }
    let manifest = Manifest {
        destination: destination.to_string(),
        media: media
            .into_iter()
            .map(|f| SpooledFile {
                key: key.object(&f.name),
                name: f.name,
                bytes: f.bytes,
                sha256: f.sha256,
            })
            .collect(),
        metadata: SpooledFile {
            key: key.object(&format!("{}.json", key.call)),
            name: "metadata.json".into(),
            bytes: document.len() as u64,
            sha256: hex(&Sha256::digest(&document)),
        },
        tags: storage.tags(),
    };
    job.commit(manifest, &document)
}
