//! Reading back what is stored: every recording under `recordings/`, grouped by its prefix,
//! with its objects and (once it is complete) its metadata document.

use super::destination::Destination;
use super::error::StoreError;
use super::key::{segment, RecordingDir};
use super::metadata::StoredMetadata;
use crate::time::Time;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use std::collections::BTreeMap;

/// One recording's objects as the store lists them.
#[derive(Clone, Debug)]
pub struct StoredRecording {
    pub dir: RecordingDir,
    /// Media objects (everything but the metadata document), by key.
    pub media: Vec<ObjectMeta>,
    /// The metadata document; absent while an upload (or a move) is incomplete.
    pub metadata: Option<ObjectMeta>,
}

impl StoredRecording {
    /// When the newest of its objects was written.
    pub fn last_modified(&self) -> Option<Time> {
        self.media
            .iter()
            .chain(&self.metadata)
            .map(|o| o.last_modified.timestamp_nanos_opt().unwrap_or(0).max(0) as u64)
            .max()
            .map(Time::from_nanos)
    }

    /// The media files `metadata` names that the listing does not hold: empty when the
    /// recording is complete (its metadata and every media object it names are there).
    pub fn missing_media<'m>(&self, metadata: &'m StoredMetadata) -> Vec<&'m str> {
        let prefix = self.dir.prefix();
        metadata
            .files
            .iter()
            .filter(|file| {
                let key = format!("{prefix}{}", segment(&file.name));
                !self.media.iter().any(|o| o.location.as_ref() == key)
            })
            .map(|file| file.name.as_str())
            .collect()
    }

    pub fn bytes(&self) -> u64 {
        self.media
            .iter()
            .chain(&self.metadata)
            .map(|o| o.size)
            .sum()
    }
}

/// Every recording in the store, or only one organisation's, in key order.
pub async fn list(
    dest: &Destination,
    org: Option<&str>,
) -> Result<Vec<StoredRecording>, StoreError> {
    let mut objects = Vec::new();
    match org {
        None => {
            objects = dest
                .store
                .list(Some(&Path::from("recordings")))
                .try_collect()
                .await?
        }
        Some(org) => {
            let classes = dest
                .store
                .list_with_delimiter(Some(&Path::from("recordings")))
                .await?;
            for class in classes.common_prefixes {
                let prefix = Path::parse(format!("{class}/{}", segment(org)))
                    .map_err(|e| StoreError::S3(e.to_string()))?;
                let found: Vec<ObjectMeta> = dest.store.list(Some(&prefix)).try_collect().await?;
                objects.extend(found);
            }
        }
    }
    Ok(group(objects))
}

/// Groups listed objects by recording; keys outside our layout are left alone.
pub fn group(objects: Vec<ObjectMeta>) -> Vec<StoredRecording> {
    let mut recordings: BTreeMap<RecordingDir, StoredRecording> = BTreeMap::new();
    for object in objects {
        let key = object.location.to_string();
        let Some((dir, file)) = RecordingDir::parse(&key) else {
            continue;
        };
        let is_metadata = file.ends_with(".json");
        let entry = recordings
            .entry(dir.clone())
            .or_insert_with(|| StoredRecording {
                dir,
                media: Vec::new(),
                metadata: None,
            });
        if is_metadata {
            entry.metadata = Some(object);
        } else {
            entry.media.push(object);
        }
    }
    let mut list: Vec<StoredRecording> = recordings.into_values().collect();
    for r in &mut list {
        r.media.sort_by(|a, b| a.location.cmp(&b.location));
    }
    list
}

/// The recording's metadata document, raw and parsed. `BadMetadata` (unparsable) and a
/// document gone since the listing (`Object(NotFound)`) concern this recording alone: a walk
/// reports them and goes on (see [`is_about_this_recording`]).
pub async fn read_metadata(
    dest: &Destination,
    recording: &StoredRecording,
) -> Result<Option<(Vec<u8>, StoredMetadata)>, StoreError> {
    let Some(meta) = &recording.metadata else {
        return Ok(None);
    };
    let bytes = dest.store.get(&meta.location).await?.bytes().await?;
    let parsed = serde_json::from_slice(&bytes).map_err(|e| StoreError::BadMetadata {
        key: meta.location.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Some((bytes.to_vec(), parsed)))
}

/// True for the errors of [`read_metadata`] that concern one recording (its document is
/// unreadable, or went away since the listing) rather than the store: a walk over many
/// recordings reports them for that one and carries on.
pub fn is_about_this_recording(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::BadMetadata { .. } | StoreError::Object(object_store::Error::NotFound { .. })
    )
}
