//! The sweeper: deletes recordings whose retention has ended, for stores that enforce no
//! lifecycle rules of their own (a local filesystem, S3-compatible servers without lifecycle).
//!
//! [`expiry`] decides, without IO, when a recording may go; [`sweep`] lists the finite
//! retention classes and deletes what has expired. It deletes the metadata document before the
//! media, so a reader never sees metadata without its media; a recording whose metadata cannot
//! be read is never deleted, only reported. Every run starts from the listing, so a second run
//! deletes nothing and a run interrupted half-way is finished by a later one: the media it left
//! without metadata expire by their newest write, which is at most an upload's delay after the
//! `retained_since` their metadata had (a local filesystem's copies keep the original's time).
//!
//! A recording under legal hold is never deleted, expired or not: the caller hands in the key
//! prefixes the catalog holds ([`crate::policydb::PolicyDb::held_prefixes`]), since the store
//! alone cannot say (on an S3 bucket with Object Lock the objects also refuse deletion).

use super::catalog::{self, StoredRecording};
use super::destination::Destination;
use super::error::StoreError;
use super::key::RetentionClass;
use super::metadata::StoredMetadata;
use crate::time::Time;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use std::collections::BTreeSet;
use std::time::Duration;

/// When `recording` may be deleted; `None` when it is kept without limit. The key's class
/// decides whether it expires at all; the metadata's `retained_since` decides when. Media left
/// without metadata (an interrupted upload or move) expire N days after the newest of them was
/// written.
pub fn expiry(recording: &StoredRecording, metadata: Option<&StoredMetadata>) -> Option<Time> {
    let RetentionClass::Days(days) = recording.dir.class else {
        return None;
    };
    match metadata {
        Some(metadata) => metadata.storage.expiry(),
        None => Some(recording.last_modified()? + days_duration(days)),
    }
}

fn days_duration(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

/// What the sweeper did to one recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SweepEvent {
    /// An expired recording, deleted (in a dry run: that would be deleted).
    Expired {
        /// The recording's prefix.
        prefix: String,
        /// Its objects, in the order they are deleted: metadata first, then the media.
        keys: Vec<String>,
        expiry: Time,
        bytes: u64,
        dry_run: bool,
    },
    /// A recording kept because its metadata cannot be read or makes no sense for its key.
    Skipped { prefix: String, reason: String },
    /// An expired recording kept because it is under legal hold.
    Held { prefix: String, expiry: Time },
}

/// What one sweep did (in a dry run: would have done).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired recordings deleted.
    pub deleted: usize,
    /// Recordings of finite classes not yet expired (unlimited classes are not even listed).
    pub kept: usize,
    /// Recordings left alone because their metadata is unreadable.
    pub skipped: usize,
    /// Expired recordings kept because they are under legal hold.
    pub held: usize,
    pub objects_deleted: usize,
    pub bytes_deleted: u64,
}

/// Deletes every recording with `now >= expiry` but those whose prefix is in `held` (nothing
/// when `dry_run`, which reports the same set); `log` hears each one. Lists one organisation
/// of one class at a time.
pub async fn sweep(
    dest: &Destination,
    now: Time,
    dry_run: bool,
    held: &BTreeSet<String>,
    mut log: impl FnMut(&SweepEvent),
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    for class_prefix in sub_prefixes(dest, &Path::from("recordings")).await? {
        let finite = class_prefix
            .filename()
            .and_then(|c| c.parse::<RetentionClass>().ok())
            .is_some_and(|c| c != RetentionClass::Unlimited);
        if !finite {
            continue;
        }
        for org_prefix in sub_prefixes(dest, &class_prefix).await? {
            let objects: Vec<ObjectMeta> = dest.store.list(Some(&org_prefix)).try_collect().await?;
            for recording in catalog::group(objects) {
                let run = Run { now, dry_run, held };
                sweep_one(dest, &recording, &run, &mut report, &mut log).await?;
            }
        }
    }
    Ok(report)
}

async fn sub_prefixes(dest: &Destination, prefix: &Path) -> Result<Vec<Path>, StoreError> {
    Ok(dest
        .store
        .list_with_delimiter(Some(prefix))
        .await?
        .common_prefixes)
}

/// What one sweep goes by.
struct Run<'a> {
    now: Time,
    dry_run: bool,
    held: &'a BTreeSet<String>,
}

async fn sweep_one(
    dest: &Destination,
    recording: &StoredRecording,
    run: &Run<'_>,
    report: &mut SweepReport,
    log: &mut impl FnMut(&SweepEvent),
) -> Result<(), StoreError> {
    let prefix = recording.dir.prefix();
    let metadata = match catalog::read_metadata(dest, recording).await {
        Ok(metadata) => metadata.map(|(_, parsed)| parsed),
        Err(
            e @ (StoreError::BadMetadata { .. }
            | StoreError::Object(object_store::Error::NotFound { .. })),
        ) => {
            report.skipped += 1;
            let reason = e.to_string();
            log(&SweepEvent::Skipped { prefix, reason });
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // A metadata document that cannot say when a finite class expires is kept for a person to
    // look at, never deleted on a guess.
    if let Some(storage) = metadata.as_ref().map(|m| &m.storage) {
        if storage.expiry().is_none() {
            report.skipped += 1;
            let reason = format!(
                "metadata says retention {} since '{}' under a {} key",
                storage.retention, storage.retained_since, recording.dir.class
            );
            log(&SweepEvent::Skipped { prefix, reason });
            return Ok(());
        }
    }
    let (now, dry_run) = (run.now, run.dry_run);
    let Some(expiry) = expiry(recording, metadata.as_ref()).filter(|&e| now >= e) else {
        report.kept += 1;
        return Ok(());
    };
    if run.held.contains(&prefix) {
        report.held += 1;
        log(&SweepEvent::Held { prefix, expiry });
        return Ok(());
    }
    let objects: Vec<&ObjectMeta> = recording.metadata.iter().chain(&recording.media).collect();
    if !dry_run {
        for object in &objects {
            delete(dest, &object.location).await?;
        }
    }
    report.deleted += 1;
    report.objects_deleted += objects.len();
    report.bytes_deleted += recording.bytes();
    log(&SweepEvent::Expired {
        prefix,
        keys: objects.iter().map(|o| o.location.to_string()).collect(),
        expiry,
        bytes: recording.bytes(),
        dry_run,
    });
    Ok(())
}

/// Deletes one object; one already gone (a concurrent or earlier run) counts as deleted.
pub(crate) async fn delete(dest: &Destination, key: &Path) -> Result<(), StoreError> {
    match dest.store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key::RecordingDir;
    use crate::store::metadata::{CallRef, StorageInfo};
    use std::time::UNIX_EPOCH;

    const DAY: u64 = 86_400;

    fn object(key: &str, written_secs: u64) -> ObjectMeta {
        ObjectMeta {
            location: Path::parse(key).expect("valid key"),
            last_modified: (UNIX_EPOCH + Duration::from_secs(written_secs)).into(),
            size: 10,
            e_tag: None,
            version: None,
        }
    }

    fn recording(class: &str, media_written: &[u64], metadata: bool) -> StoredRecording {
        let prefix = format!("recordings/{class}/acme/2026/01/02/c1/");
        StoredRecording {
            dir: RecordingDir::parse(&format!("{prefix}c1.json"))
                .expect("our layout")
                .0,
            media: media_written
                .iter()
                .enumerate()
                .map(|(i, &t)| object(&format!("{prefix}c1-{i}.opus"), t))
                .collect(),
            metadata: metadata.then(|| object(&format!("{prefix}c1.json"), 5 * DAY)),
        }
    }

    fn metadata(retention: &str, retained_since: &str) -> StoredMetadata {
        StoredMetadata {
            call: CallRef {
                id: "c1".into(),
                sip_call_id: None,
                start: None,
                duration_secs: 1.0,
            },
            files: Vec::new(),
            encryption: None,
            storage: StorageInfo {
                org: "acme".into(),
                user: None,
                location: None,
                provider: "dubber".into(),
                plan: "dubber-go".into(),
                retention: retention.parse().expect("class"),
                retained_since: retained_since.into(),
            },
        }
    }

    /// Key class, media write times, metadata (retention, retained_since), expected expiry.
    type Case<'a> = (&'a str, &'a [u64], Option<(&'a str, &'a str)>, Option<Time>);

    #[test]
    fn expiry_follows_the_key_class_then_the_metadata_then_the_newest_write() {
        let since = "1970-01-11T00:00:00.000Z"; // day 10
        let secs = |s: u64| Some(Time::from_nanos(s * 1_000_000_000));
        #[rustfmt::skip]
        let cases: [Case; 9] = [
            // Metadata present: retained_since + the metadata's days, whatever the writes.
            ("30d", &[DAY], Some(("30d", since)), secs(40 * DAY)),
            ("30d", &[DAY], Some(("7d", since)), secs(17 * DAY)),
            ("30d", &[90 * DAY], Some(("30d", since)), secs(40 * DAY)),
            // Metadata that cannot say: no expiry (the sweeper reports it instead).
            ("30d", &[DAY], Some(("30d", "yesterday")), None),
            ("30d", &[DAY], Some(("unlimited", since)), None),
            // Media without metadata: the newest write + the key's days.
            ("30d", &[DAY, 3 * DAY, 2 * DAY], None, secs(33 * DAY)),
            ("7d", &[DAY], None, secs(8 * DAY)),
            // Unlimited keys never expire, with or without metadata.
            ("unlimited", &[DAY], None, None),
            ("unlimited", &[DAY], Some(("30d", since)), None),
        ];
        for (class, writes, meta, expected) in cases {
            let r = recording(class, writes, meta.is_some());
            let m = meta.map(|(retention, since)| metadata(retention, since));
            assert_eq!(
                expiry(&r, m.as_ref()),
                expected,
                "{class} {writes:?} {meta:?}"
            );
        }
    }

    #[test]
    fn metadata_alone_counts_when_it_is_the_only_object_left() {
        // A recording whose media are gone but metadata is not cannot come from us (metadata
        // goes first); it still expires by its metadata.
        let r = recording("30d", &[], true);
        let m = metadata("30d", "1970-01-02T00:00:00Z");
        assert_eq!(
            expiry(&r, Some(&m)),
            Some(Time::from_nanos(31 * DAY * 1_000_000_000))
        );
        assert_eq!(expiry(&recording("30d", &[], false), None), None);
    }
}
