//! Plan migration: when an organisation (or one user) changes plan, its stored recordings take
//! the new plan's retention. Owns the order of every write; must never leave metadata that a
//! reader can find without its media, and never touch a recording still being uploaded.
//!
//! A recording whose retention class changes is MOVED to the new class's prefix: each media
//! object is copied and tagged, then the new metadata is written (`retained_since` = the
//! migration time) and tagged, then the old metadata is deleted, then the old media. The move
//! is what makes retention right everywhere: the key's class matches prefix-filtered lifecycle
//! rules, the tags match tag-filtered ones, and a copy's creation time on S3 is the migration
//! time, so paid → free expires 30 days after the migration, not after the call (and
//! `retained_since` tells the sweeper the same). A recording whose class stays but whose plan
//! or provider changes is re-tagged and its metadata rewritten in place.
//!
//! Re-running is safe after an interruption at any point: old metadata still present → the
//! move is done again (copies overwrite); old media left without metadata while the recording
//! is complete in the target class → the leftovers are deleted. Media without metadata and
//! without a complete twin (an upload in progress) are left alone. Do not run a migration and
//! a sweep of the same store at once.
//!
//! A recording under legal hold (its prefix among the `held` the caller reads from the
//! catalog) is left exactly as it is: not moved (a move deletes the original, and on a bucket
//! with Object Lock the held versions could not be deleted anyway), not retagged (its metadata
//! document stays the one that was held). It keeps its old plan's class, tags and metadata
//! and is reported `held`; a migration run after the hold is released moves it.

use super::catalog::{self, StoredRecording};
use super::destination::Destination;
use super::error::StoreError;
use super::key::{RecordingDir, RetentionClass};
use super::metadata::{self, StorageInfo, StoredMetadata};
use super::sweep::delete;
use super::tagging;
use crate::time::Time;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the migration did to one recording (one JSON line each on the command line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MigrationEvent {
    /// Moved to another retention class's prefix.
    Moved {
        from: String,
        to: String,
        plan: String,
        retention: String,
        retained_since: String,
        /// Media objects copied (the metadata document not counted).
        media: usize,
        bytes: u64,
    },
    /// Same class, new plan or provider: metadata rewritten and tags replaced in place.
    Retagged {
        prefix: String,
        plan: String,
        provider: String,
    },
    /// Media an interrupted move left in the old class, deleted: the recording is complete in
    /// the target class.
    LeftoversCleaned {
        prefix: String,
        complete_at: String,
        keys: Vec<String>,
    },
    /// A recording left alone because its metadata cannot be read.
    Skipped { prefix: String, reason: String },
    /// A recording left as it is because it is under legal hold.
    Held { prefix: String },
}

/// How many recordings each outcome had.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub moved: usize,
    pub retagged: usize,
    /// Already on the plan (class, plan and provider all match).
    pub unchanged: usize,
    pub leftovers_cleaned: usize,
    /// Unreadable metadata: left alone and reported.
    pub skipped: usize,
    /// Media without metadata and without a complete twin (an upload in progress): left alone.
    pub incomplete: usize,
    /// Under legal hold: left as they are.
    pub held: usize,
}

/// The plan recordings move to, as the store sees it: the class of its keys and what its
/// metadata and tags say. Data, so the store needs nothing of the policy model (the caller
/// reads it off `policy::plan::Plan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTarget {
    pub retention: RetentionClass,
    /// The plan's name, e.g. `dubber-go`.
    pub plan: String,
    /// The provider's name, e.g. `dubber`.
    pub provider: String,
}

/// Puts every recording of `org` (only `user`'s, by `storage.user`, when given) on `plan`,
/// then deletes what earlier interrupted moves left behind. `now` becomes `retained_since` of
/// every moved recording. Recordings whose prefix is in `held` are left as they are.
#[allow(clippy::too_many_arguments)]
pub async fn migrate(
    dest: &Destination,
    org: &str,
    user: Option<&str>,
    plan: &PlanTarget,
    now: Time,
    held: &BTreeSet<String>,
    mut log: impl FnMut(&MigrationEvent),
) -> Result<MigrationReport, StoreError> {
    let target = plan.retention;
    let mut report = MigrationReport::default();
    let listed = catalog::list(dest, Some(org)).await?;
    // Moves first: a recording complete in both classes (a move interrupted before it deleted
    // the old metadata) is moved again, and its stale copy in the target class not counted.
    let (to_move, in_place): (Vec<&StoredRecording>, Vec<&StoredRecording>) = listed
        .iter()
        .filter(|r| r.metadata.is_some())
        .partition(|r| r.dir.class != target);
    let mut written: BTreeSet<RecordingDir> = BTreeSet::new();
    for recording in to_move.into_iter().chain(in_place) {
        if written.contains(&recording.dir) {
            continue;
        }
        let Some((raw, parsed)) = readable(dest, recording, &mut report, &mut log).await? else {
            continue;
        };
        if user.is_some_and(|u| parsed.storage.user.as_deref() != Some(u)) {
            continue;
        }
        if held.contains(&recording.dir.prefix()) {
            report.held += 1;
            log(&MigrationEvent::Held {
                prefix: recording.dir.prefix(),
            });
            continue;
        }
        let mut storage = StorageInfo {
            plan: plan.plan.clone(),
            provider: plan.provider.clone(),
            retention: target,
            ..parsed.storage.clone()
        };
        if recording.dir.class != target {
            storage.retained_since = now.to_rfc3339();
            let to = recording.dir.with_class(target);
            move_recording(dest, recording, &raw, &storage, &to).await?;
            report.moved += 1;
            log(&MigrationEvent::Moved {
                from: recording.dir.prefix(),
                to: to.prefix(),
                plan: storage.plan,
                retention: target.to_string(),
                retained_since: storage.retained_since,
                media: recording.media.len(),
                bytes: recording.media.iter().map(|o| o.size).sum(),
            });
            written.insert(to);
        } else if storage != parsed.storage {
            retag_in_place(dest, recording, &raw, &storage).await?;
            report.retagged += 1;
            log(&MigrationEvent::Retagged {
                prefix: recording.dir.prefix(),
                plan: storage.plan,
                provider: storage.provider,
            });
        } else {
            report.unchanged += 1;
        }
    }
    clean_leftovers(dest, org, user, target, held, &mut report, &mut log).await?;
    Ok(report)
}

/// The recording's metadata, or `None` after reporting why it cannot be read.
async fn readable(
    dest: &Destination,
    recording: &StoredRecording,
    report: &mut MigrationReport,
    log: &mut impl FnMut(&MigrationEvent),
) -> Result<Option<(Vec<u8>, StoredMetadata)>, StoreError> {
    match catalog::read_metadata(dest, recording).await {
        Ok(found) => Ok(found),
        Err(e @ StoreError::BadMetadata { .. }) => {
            report.skipped += 1;
            log(&MigrationEvent::Skipped {
                prefix: recording.dir.prefix(),
                reason: e.to_string(),
            });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Copy and tag the media, write and tag the new metadata, delete the old metadata, then the
/// old media: at every step the recording is complete in at least one class.
async fn move_recording(
    dest: &Destination,
    recording: &StoredRecording,
    raw: &[u8],
    storage: &StorageInfo,
    to: &RecordingDir,
) -> Result<(), StoreError> {
    let old_metadata = recording
        .metadata
        .as_ref()
        .expect("only recordings with metadata are moved");
    let tags = storage.tags();
    for media in &recording.media {
        let copy = rekey(media, to)?;
        dest.store.copy(&media.location, &copy).await?;
        tagging::put(dest, copy.as_ref(), &tags).await?;
    }
    let new_metadata = rekey(old_metadata, to)?;
    put_metadata(dest, &new_metadata, raw, storage).await?;
    tagging::put(dest, new_metadata.as_ref(), &tags).await?;
    delete(dest, &old_metadata.location).await?;
    for media in &recording.media {
        delete(dest, &media.location).await?;
    }
    Ok(())
}

/// Tags the media, then rewrites the metadata and tags it. An interruption before the rewrite
/// is redone by a re-run (the metadata still names the old plan); one after it leaves the
/// metadata object with the old tags of the same class, so every lifecycle rule still treats
/// it as the new plan does.
async fn retag_in_place(
    dest: &Destination,
    recording: &StoredRecording,
    raw: &[u8],
    storage: &StorageInfo,
) -> Result<(), StoreError> {
    let metadata_object = recording
        .metadata
        .as_ref()
        .expect("only recordings with metadata are retagged");
    let tags = storage.tags();
    for media in &recording.media {
        tagging::put(dest, media.location.as_ref(), &tags).await?;
    }
    put_metadata(dest, &metadata_object.location, raw, storage).await?;
    tagging::put(dest, metadata_object.location.as_ref(), &tags).await
}

async fn put_metadata(
    dest: &Destination,
    key: &Path,
    raw: &[u8],
    storage: &StorageInfo,
) -> Result<(), StoreError> {
    let document = metadata::with_storage(raw, storage).map_err(|e| StoreError::BadMetadata {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    dest.store.put(key, PutPayload::from(document)).await?;
    Ok(())
}

/// The same file in another recording prefix.
fn rekey(object: &ObjectMeta, to: &RecordingDir) -> Result<Path, StoreError> {
    let file = object.location.filename().unwrap_or_default();
    Path::parse(format!("{}{file}", to.prefix())).map_err(|e| StoreError::BadMetadata {
        key: object.location.to_string(),
        reason: e.to_string(),
    })
}

/// Deletes media left in another class by an interrupted move, where the recording is complete
/// (readable metadata, of `user` when given) in the `target` class.
async fn clean_leftovers(
    dest: &Destination,
    org: &str,
    user: Option<&str>,
    target: RetentionClass,
    held: &BTreeSet<String>,
    report: &mut MigrationReport,
    log: &mut impl FnMut(&MigrationEvent),
) -> Result<(), StoreError> {
    let listed = catalog::list(dest, Some(org)).await?;
    let complete: BTreeMap<&RecordingDir, &StoredRecording> = listed
        .iter()
        .filter(|r| r.dir.class == target && r.metadata.is_some())
        .map(|r| (&r.dir, r))
        .collect();
    for leftover in listed
        .iter()
        .filter(|r| r.metadata.is_none() && !held.contains(&r.dir.prefix()))
    {
        let twin_dir = leftover.dir.with_class(target);
        let Some(twin) = complete
            .get(&twin_dir)
            .filter(|_| leftover.dir.class != target)
        else {
            report.incomplete += 1;
            continue;
        };
        let owner = match catalog::read_metadata(dest, twin).await {
            Ok(Some((_, parsed))) => parsed.storage.user,
            Ok(None) | Err(StoreError::BadMetadata { .. }) => {
                report.incomplete += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        if user.is_some_and(|u| owner.as_deref() != Some(u)) {
            continue;
        }
        for media in &leftover.media {
            delete(dest, &media.location).await?;
        }
        report.leftovers_cleaned += 1;
        log(&MigrationEvent::LeftoversCleaned {
            prefix: leftover.dir.prefix(),
            complete_at: twin_dir.prefix(),
            keys: leftover
                .media
                .iter()
                .map(|o| o.location.to_string())
                .collect(),
        });
    }
    Ok(())
}
