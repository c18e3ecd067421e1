//! Keeping the recordings catalog ([`crate::policydb::recordings`]) true to the store: a row
//! written for each recording stored or moved, removed for each one deleted; a comparison of
//! the two for `storage verify`; and a rebuild of every row from the store's metadata
//! documents for `storage reindex` (a catalog lost with its database comes back).
//!
//! A destination is named in rows as the uploader names it: its URL, as configured.

use super::entry;
use crate::policydb::recordings::CatalogRecording;
use crate::policydb::{DbError, PolicyDb, MAX_PAGE};
use crate::store::catalog::{self, StoredRecording};
use crate::store::key::RecordingDir;
use crate::store::migrate::MigrationEvent;
use crate::store::object_lock::{self, LockOutcome};
use crate::store::spool::SpoolJob;
use crate::store::Destination;
use crate::store::StoreError;
use crate::time::Time;
use futures::TryStreamExt;
use object_store::path::Path;
use std::collections::BTreeSet;

/// What went wrong keeping the catalog.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A metadata document the catalog cannot read.
    #[error("{key}: not a metadata document: {reason}")]
    Document { key: String, reason: String },
}

/// Writes the row of the recording whose metadata document `document` is stored at
/// `metadata_key` in `destination`; returns it as written (`legal_hold` set when an active
/// hold covers it).
pub async fn catalogue(
    db: &PolicyDb,
    destination: &str,
    metadata_key: &str,
    document: &[u8],
    now: Time,
) -> Result<CatalogRecording, SyncError> {
    let mut row = row_of(destination, metadata_key, document, now)?;
    row.legal_hold = db.put_recording(&row).await?;
    Ok(row)
}

/// [`catalogue`] for a recording just stored: its row and its `recording.stored` event (for
/// an organisation with a webhook) in one transaction. A reindex or a move re-catalogues
/// without announcing; a retried upload announces once (one event per recording).
pub async fn catalogue_stored(
    db: &PolicyDb,
    destination: &str,
    metadata_key: &str,
    document: &[u8],
    now: Time,
) -> Result<CatalogRecording, SyncError> {
    let mut row = row_of(destination, metadata_key, document, now)?;
    row.legal_hold = db.put_recording_announced(&row).await?;
    Ok(row)
}

/// The row of the recording whose metadata document `document` is stored at `metadata_key`.
fn row_of(
    destination: &str,
    metadata_key: &str,
    document: &[u8],
    now: Time,
) -> Result<CatalogRecording, SyncError> {
    let bad = |reason: String| SyncError::Document {
        key: metadata_key.to_owned(),
        reason,
    };
    let (dir, _) = RecordingDir::parse(metadata_key)
        .ok_or_else(|| bad("not a key of callrec's layout".into()))?;
    entry::entry(destination, &dir, metadata_key, document, now).map_err(bad)
}

/// Writes the row (and `recording.stored` event) of a spooled job just stored in `dest`, from
/// the metadata document in the spool (the one stored, read back and checked): before the job
/// leaves the spool, so a row is never missing for long and never there without its media. A recording a legal hold covers
/// (a held person's next call) gets the store's legal hold on its objects too, where the
/// bucket has Object Lock; a store that cannot is logged, the catalog's hold still keeps it.
pub async fn catalogue_job(
    db: &PolicyDb,
    dest: &Destination,
    job: &SpoolJob,
    now: Time,
) -> Result<(), StoreError> {
    let metadata = &job.manifest.metadata;
    let path = job.path(metadata);
    let document = tokio::fs::read(&path)
        .await
        .map_err(StoreError::spool(&path))?;
    let row = catalogue_stored(db, &job.manifest.destination, &metadata.key, &document, now)
        .await
        .map_err(|e| StoreError::Catalog(e.to_string()))?;
    if row.legal_hold {
        lock_held(dest, &row).await;
    }
    Ok(())
}

/// Puts the store's legal hold on the objects of `row`, a recording held as it was stored.
async fn lock_held(dest: &Destination, row: &CatalogRecording) {
    let keys: Vec<&str> = std::iter::once(row.metadata_key.as_str())
        .chain(row.files.iter().map(|f| f.key.as_str()))
        .collect();
    let outcome = match object_lock::supported(dest).await {
        Ok(LockOutcome::Set { .. }) => object_lock::set(dest, &keys, true).await,
        other => other,
    };
    match outcome {
        Ok(LockOutcome::Set { objects }) => {
            tracing::info!(recording = %row.id, objects, "legal_hold.locked")
        }
        Ok(store) => tracing::info!(
            recording = %row.id,
            store = ?store,
            why = "the store cannot lock objects: the catalog's hold alone keeps it",
            "legal_hold.catalog_only"
        ),
        Err(e) => tracing::warn!(recording = %row.id, error = %e, "legal_hold.lock_failed"),
    }
}

/// Brings the row of the recording under `prefix` up to date with the store: written from its
/// metadata document if the recording is complete there, removed otherwise. For a recording
/// just moved (plan migration) or retagged.
pub async fn refresh(
    db: &PolicyDb,
    destination: &str,
    dest: &Destination,
    prefix: &str,
    now: Time,
) -> Result<(), SyncError> {
    let path = Path::parse(prefix.trim_end_matches('/')).map_err(|e| SyncError::Document {
        key: prefix.to_owned(),
        reason: e.to_string(),
    })?;
    let objects = dest
        .store
        .list(Some(&path))
        .try_collect()
        .await
        .map_err(StoreError::from)?;
    let found = catalog::group(objects)
        .into_iter()
        .find(|r| r.dir.prefix() == prefix);
    let Some(recording) = found else {
        db.remove_recording_at(prefix).await?;
        return Ok(());
    };
    match catalog::read_metadata(dest, &recording).await? {
        Some((document, _)) => {
            let key = metadata_key(&recording);
            catalogue(db, destination, &key, &document, now).await?;
            Ok(())
        }
        None => {
            db.remove_recording_at(prefix).await?;
            Ok(())
        }
    }
}

fn metadata_key(recording: &StoredRecording) -> String {
    recording
        .metadata
        .as_ref()
        .map(|m| m.location.to_string())
        .unwrap_or_default()
}

/// The recordings a plan migration changed, for [`after_migration`]: collect each event.
#[derive(Clone, Debug, Default)]
pub struct Migrated {
    /// (from, to) prefixes of recordings moved to another class.
    moved: Vec<(String, String)>,
    /// Prefixes of recordings retagged in place.
    retagged: Vec<String>,
}

impl Migrated {
    pub fn note(&mut self, event: &MigrationEvent) {
        match event {
            MigrationEvent::Moved { from, to, .. } => self.moved.push((from.clone(), to.clone())),
            MigrationEvent::Retagged { prefix, .. } => self.retagged.push(prefix.clone()),
            MigrationEvent::LeftoversCleaned { .. }
            | MigrationEvent::Skipped { .. }
            | MigrationEvent::Held { .. } => {}
        }
    }
}

/// Brings the rows of what a migration moved or retagged up to date: a moved recording's row
/// follows it to its new prefix, plan and expiry.
pub async fn after_migration(
    db: &PolicyDb,
    destination: &str,
    dest: &Destination,
    migrated: &Migrated,
    now: Time,
) -> Result<(), SyncError> {
    for (from, to) in &migrated.moved {
        db.remove_recording_at(from).await?;
        refresh(db, destination, dest, to, now).await?;
    }
    for prefix in &migrated.retagged {
        refresh(db, destination, dest, prefix, now).await?;
    }
    Ok(())
}

/// Where the catalog and one destination disagree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogDiff {
    /// Rows (organisation, id, prefix) of recordings the destination does not hold complete.
    pub rows_without_objects: Vec<(String, String, String)>,
    /// Prefixes of complete recordings that have no row.
    pub objects_without_rows: Vec<String>,
}

/// Compares the catalog's rows for `destination` (only `org`'s, if given) with the complete
/// recordings `stored` in it (its listing, of that organisation if given).
pub async fn compare(
    db: &PolicyDb,
    destination: &str,
    org: Option<&str>,
    stored: &[StoredRecording],
) -> Result<CatalogDiff, DbError> {
    let complete: BTreeSet<String> = stored
        .iter()
        .filter(|r| r.metadata.is_some())
        .map(|r| r.dir.prefix())
        .collect();
    let mut catalogued = BTreeSet::new();
    let mut diff = CatalogDiff::default();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = db
            .catalog_page(
                after.as_ref().map(|(o, i)| (o.as_str(), i.as_str())),
                MAX_PAGE,
            )
            .await?;
        let ours = |r: &&CatalogRecording| {
            r.destination == destination && org.is_none_or(|o| r.org_id == o)
        };
        for row in page.iter().filter(ours) {
            catalogued.insert(row.prefix.clone());
            if !complete.contains(&row.prefix) {
                let entry = (row.org_id.clone(), row.id.clone(), row.prefix.clone());
                diff.rows_without_objects.push(entry);
            }
        }
        match page.last() {
            Some(last) if page.len() == MAX_PAGE => {
                after = Some((last.org_id.clone(), last.id.clone()))
            }
            _ => break,
        }
    }
    diff.objects_without_rows = complete.difference(&catalogued).cloned().collect();
    Ok(diff)
}

/// What a reindex did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReindexReport {
    /// Rows written from metadata documents.
    pub catalogued: usize,
    /// Rows of recordings no longer in the destination, removed.
    pub removed: usize,
    /// Recordings whose metadata could not be read (each also reported to `on_problem`).
    pub skipped: usize,
}

/// Rebuilds the catalog's rows for `destination` (only `org`'s, if given) from the metadata
/// documents of `stored` (its listing): every complete recording written (legal holds kept),
/// rows of recordings it no longer holds removed. A recording whose document cannot be read
/// is reported and left out.
pub async fn reindex(
    db: &PolicyDb,
    destination: &str,
    org: Option<&str>,
    dest: &Destination,
    stored: &[StoredRecording],
    now: Time,
    mut on_problem: impl FnMut(&str, &str),
) -> Result<ReindexReport, SyncError> {
    let mut report = ReindexReport::default();
    for recording in stored.iter().filter(|r| r.metadata.is_some()) {
        let prefix = recording.dir.prefix();
        let document = match catalog::read_metadata(dest, recording).await {
            Ok(Some((document, _))) => document,
            Ok(None) => continue,
            Err(e) if catalog::is_about_this_recording(&e) => {
                on_problem(&prefix, &e.to_string());
                report.skipped += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match catalogue(db, destination, &metadata_key(recording), &document, now).await {
            Ok(_) => report.catalogued += 1,
            Err(SyncError::Document { reason, .. }) => {
                on_problem(&prefix, &reason);
                report.skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    let diff = compare(db, destination, org, stored).await?;
    for (_, _, prefix) in &diff.rows_without_objects {
        if db.remove_recording_at(prefix).await? {
            report.removed += 1;
        }
    }
    Ok(report)
}
