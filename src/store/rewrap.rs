//! Key rotation without re-encrypting media: each encrypted recording of an organisation has
//! its data key unwrapped with the key that wrapped it and wrapped again with the current one,
//! and only its metadata document is rewritten (then re-tagged, as a put drops the tags). The
//! media objects are never read or written. Must never write a document whose data key does
//! not open with the current key.
//!
//! Re-running is safe: a recording already under the current key is left alone, and an
//! interrupted run leaves each document whole (old key or new), as a put replaces it whole.

use super::catalog;
use super::destination::Destination;
use super::envelope::{Encryption, OrgKeys};
use super::error::StoreError;
use super::metadata::with_encryption;
use super::object_lock;
use super::tagging;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;

/// What rewrapping did to one recording (one JSON line each on the command line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RewrapEvent {
    /// Its data key is now wrapped by `to`.
    Rewrapped {
        prefix: String,
        from: String,
        to: String,
    },
    /// Left as it is: why (unreadable metadata, a key missing from the keyring).
    Skipped { prefix: String, reason: String },
}

/// How many recordings each outcome had.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RewrapReport {
    pub rewrapped: usize,
    /// Already wrapped by the current key.
    pub current: usize,
    /// Not encrypted (stored before the organisation's keys were configured).
    pub plain: usize,
    pub skipped: usize,
}

/// Rewraps every encrypted recording of `org` in `dest` with `keys.current`.
pub async fn rewrap(
    dest: &Destination,
    org: &str,
    keys: &OrgKeys,
    mut log: impl FnMut(&RewrapEvent),
) -> Result<RewrapReport, StoreError> {
    let mut report = RewrapReport::default();
    for recording in catalog::list(dest, Some(org)).await? {
        let prefix = recording.dir.prefix();
        let mut skip = |report: &mut RewrapReport, reason: String| {
            report.skipped += 1;
            log(&RewrapEvent::Skipped {
                prefix: prefix.clone(),
                reason,
            });
        };
        let (raw, metadata) = match catalog::read_metadata(dest, &recording).await {
            Ok(Some(found)) => found,
            // Media without metadata: an upload in progress, or a move's leftovers.
            Ok(None) => continue,
            Err(e) if catalog::is_about_this_recording(&e) => {
                skip(&mut report, e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(encryption) = &metadata.encryption else {
            report.plain += 1;
            continue;
        };
        if encryption.key_id == keys.current {
            report.current += 1;
            continue;
        }
        let recording_id = &metadata.call.id;
        let rewrapped = encryption
            .data_key(keys, org, recording_id)
            .and_then(|data| keys.wrap(org, recording_id, &data));
        let (key_id, wrapped_key) = match rewrapped {
            Ok(done) => done,
            Err(e) => {
                skip(&mut report, e.to_string());
                continue;
            }
        };
        let updated = Encryption {
            key_id,
            wrapped_key,
            ..encryption.clone()
        };
        let location = &recording
            .metadata
            .as_ref()
            .expect("read_metadata found it")
            .location;
        let document = with_encryption(&raw, &updated).map_err(|e| StoreError::BadMetadata {
            key: location.to_string(),
            reason: e.to_string(),
        })?;
        // A held document's new version must be held too (a lock keeps versions, not keys).
        let held = object_lock::is_held(dest, location.as_ref()).await?;
        dest.store.put(location, PutPayload::from(document)).await?;
        tagging::put(dest, location.as_ref(), &metadata.storage.tags()).await?;
        if held {
            object_lock::set(dest, &[location.as_ref()], true).await?;
        }
        report.rewrapped += 1;
        log(&RewrapEvent::Rewrapped {
            prefix: prefix.clone(),
            from: encryption.key_id.clone(),
            to: updated.key_id.clone(),
        });
    }
    Ok(report)
}
