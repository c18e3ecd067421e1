//! The live server's uploads: every recording the shards commit to the spool goes to its
//! store, read back and checked, and only then leaves the spool. The spool is the durable
//! queue (bounded by its limit, resumed after a restart); this task keeps an
//! [`UploadScheduler`] of what it holds, runs up to `store.upload_concurrency` uploads at
//! once, and gives each destination its own backoff, so one organisation's broken bucket
//! delays nobody else. Before a job goes up, its user's current plan is asked for: a plan
//! changed since the call re-classes the job (keys, tags, metadata) first.

use crate::catalog::sync as catalog_sync;
use crate::config::Config;
use crate::policy::index::Lookup;
use crate::policy::Decision;
use crate::policydb::cache::PolicyCache;
use crate::server::open_store::{open_owned, open_url};
use crate::store::backoff::BackoffConfig;
use crate::store::destination::{owned_parts, Destination};
use crate::store::error::StoreError;
use crate::store::job;
use crate::store::metadata::StorageInfo;
use crate::store::spool::{Spool, SpoolJob};
use crate::store::sweep;
use crate::store::upload::{self, UploadConfig};
use crate::store::upload_schedule::{DestinationBacklog, Outcome, UploadScheduler};
use object_store::path::Path as KeyPath;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Counters `/metrics` shows for uploads.
#[derive(Debug, Default)]
pub struct UploadMetrics {
    /// Complete recordings in the spool not yet stored.
    pub backlog: AtomicU64,
    pub stored: AtomicU64,
    pub failures: AtomicU64,
    /// Each destination's backlog, by its URL without credentials ([`public_url`]).
    pub destinations: Mutex<BTreeMap<String, DestinationBacklog>>,
}

impl UploadMetrics {
    /// A copy of the per-destination state.
    pub fn destinations(&self) -> BTreeMap<String, DestinationBacklog> {
        self.destinations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How often the spool is scanned when nothing wakes the uploader (jobs left by an earlier
/// run or another process).
const RESCAN_EVERY: Duration = Duration::from_secs(5);
/// After `stop`, how long failed uploads are still retried before what is left stays in the
/// spool for the next start.
const FINAL_GRACE: Duration = Duration::from_secs(30);

/// Uploads until `stop` turns true and the spool holds nothing complete, or nothing more can
/// be stored within [`FINAL_GRACE`] (what failed stays spooled for the next start).
pub async fn run(
    config: Arc<Config>,
    spool: Spool,
    policy: Option<Arc<PolicyCache>>,
    wake: Arc<Notify>,
    metrics: Arc<UploadMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let seed = u64::from(std::process::id());
    let mut scheduler: UploadScheduler<PathBuf> = UploadScheduler::new(
        config.store.upload_concurrency,
        BackoffConfig::default(),
        seed,
    );
    let mut jobs: HashMap<PathBuf, SpoolJob> = HashMap::new();
    let mut opened: HashMap<String, Arc<Destination>> = HashMap::new();
    let mut reported: HashSet<PathBuf> = HashSet::new();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut stopping_since = None;
    let mut rescan = true;
    let mut next_scan = Instant::now();
    loop {
        if stopping_since.is_none() && *stop.borrow() {
            stopping_since = Some(Instant::now());
            scheduler.retry_all(Instant::now());
            rescan = true;
        }
        if rescan {
            scan(&spool, &mut scheduler, &mut jobs, &mut reported).await;
            rescan = false;
            next_scan = Instant::now() + RESCAN_EVERY;
        }
        let now = Instant::now();
        while let Some((dir, url)) = scheduler.next(now) {
            let Some(job) = jobs.get(&dir).cloned() else {
                scheduler.finished(&dir, Outcome::Gone, now);
                continue;
            };
            match open(&config, policy.as_deref(), &mut opened, &url) {
                Ok(dest) => {
                    running.spawn(upload_job(
                        dest,
                        job,
                        spool.clone(),
                        policy.clone(),
                        Arc::clone(&metrics),
                    ));
                }
                Err(e) => {
                    metrics.failures.fetch_add(1, Relaxed);
                    tracing::warn!(destination = %public_url(&url), error = %e, "upload.failed");
                    scheduler.finished(&dir, Outcome::DestinationFailed, now);
                }
            }
        }
        publish(&scheduler, &metrics);
        if let Some(since) = stopping_since {
            let nothing_more = scheduler.running() == 0
                && scheduler
                    .next_wake()
                    .is_none_or(|at| at > since + FINAL_GRACE);
            if nothing_more {
                if scheduler.backlog() > 0 {
                    tracing::warn!(pending = scheduler.backlog(), "upload.left_in_spool");
                }
                return;
            }
        }
        let until = scheduler
            .next_wake()
            .map_or(next_scan, |at| at.min(next_scan));
        tokio::select! {
            Some(done) = running.join_next() => {
                let now = Instant::now();
                match done {
                    Ok(done) => {
                        match (&done.outcome, done.job) {
                            (Outcome::Stored, _) => {
                                jobs.remove(&done.dir);
                            }
                            (_, Some(rewritten)) => {
                                jobs.insert(done.dir.clone(), rewritten);
                            }
                            (_, None) => {}
                        }
                        scheduler.finished(&done.dir, done.outcome, now);
                    }
                    // A panic inside an upload: its job is looked at again on the next scan.
                    Err(e) => tracing::warn!(error = %e, "upload.crashed"),
                }
            }
            _ = wake.notified() => rescan = true,
            _ = tokio::time::sleep_until(until.into()) => {
                if Instant::now() >= next_scan {
                    rescan = true;
                }
            }
            _ = stop.changed(), if stopping_since.is_none() => {}
        }
    }
}

/// Adds the spool's new complete jobs to the scheduler and forgets the ones gone from it.
async fn scan(
    spool: &Spool,
    scheduler: &mut UploadScheduler<PathBuf>,
    jobs: &mut HashMap<PathBuf, SpoolJob>,
    reported: &mut HashSet<PathBuf>,
) {
    let known: HashSet<PathBuf> = jobs.keys().cloned().collect();
    let found = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || spool.pending_new(&known)).await
    };
    let found = match found {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upload.spool_unreadable");
            return;
        }
        Err(_) => return,
    };
    for (dir, reason) in found.unreadable {
        if reported.insert(dir.clone()) {
            tracing::warn!(
                job = dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                error = reason,
                "upload.job_unreadable"
            );
        }
    }
    let present: HashSet<PathBuf> = found.present.into_iter().collect();
    scheduler.retain(|dir| present.contains(dir));
    jobs.retain(|dir, _| present.contains(dir));
    reported.retain(|dir| present.contains(dir));
    for job in found.jobs {
        scheduler.add(job.dir.clone(), &job.manifest.destination);
        jobs.insert(job.dir.clone(), job);
    }
}

/// The destination with this URL, opened once (an open that fails is tried again next time).
/// An organisation's own bucket (`customer:ORG:URL`) opens with the credentials that
/// organisation supplied, read from the policy store and unsealed here, and nothing else.
fn open(
    config: &Config,
    policy: Option<&PolicyCache>,
    opened: &mut HashMap<String, Arc<Destination>>,
    url: &str,
) -> Result<Arc<Destination>, StoreError> {
    if let Some((org, own_url)) = owned_parts(url) {
        // Opened again whenever the organisation's storage changes (new credentials, say).
        let storage = policy.and_then(|p| p.customer_storage(org));
        let opened_as = format!("{url}\n{storage:?}");
        if let Some(dest) = opened.get(&opened_as) {
            return Ok(Arc::clone(dest));
        }
        let dest = Arc::new(open_owned(config, policy.is_some(), storage, org, own_url)?);
        opened.retain(|key, _| !key.starts_with(&format!("{url}\n")));
        opened.insert(opened_as, Arc::clone(&dest));
        return Ok(dest);
    }
    if let Some(dest) = opened.get(url) {
        return Ok(Arc::clone(dest));
    }
    let dest = Arc::new(open_url(config, policy.is_some(), None, url)?);
    opened.insert(url.to_string(), Arc::clone(&dest));
    Ok(dest)
}

/// Shows the scheduler's state in the metrics.
fn publish(scheduler: &UploadScheduler<PathBuf>, metrics: &UploadMetrics) {
    metrics.backlog.store(scheduler.backlog() as u64, Relaxed);
    let mut by_label: BTreeMap<String, DestinationBacklog> = BTreeMap::new();
    for (url, state) in scheduler.destinations() {
        let entry = by_label.entry(public_url(&url)).or_default();
        entry.backlog += state.backlog;
        entry.running += state.running;
        entry.failing |= state.failing;
        entry.failures += state.failures;
    }
    *metrics
        .destinations
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = by_label;
}

/// What one upload task did.
struct Finished {
    dir: PathBuf,
    outcome: Outcome,
    /// The job as rewritten by a plan change, when it was.
    job: Option<SpoolJob>,
}

/// Re-classes `job` if its user's plan changed, uploads it once, and removes it from the
/// spool once stored.
async fn upload_job(
    dest: Arc<Destination>,
    job: SpoolJob,
    spool: Spool,
    policy: Option<Arc<PolicyCache>>,
    metrics: Arc<UploadMetrics>,
) -> Finished {
    let dir = job.dir.clone();
    let destination = public_url(&dest.url);
    let fail = |e: StoreError, key: &str, job: Option<SpoolJob>| {
        metrics.failures.fetch_add(1, Relaxed);
        tracing::warn!(key, destination, error = %e, "upload.failed");
        Finished {
            dir: dir.clone(),
            outcome: blame(&e),
            job,
        }
    };
    let mut rewritten = None;
    let job = match &policy {
        Some(policy) => match reclass(&dest, &spool, &job, policy).await {
            Ok(Some(new)) => {
                tracing::info!(
                    from = job.manifest.metadata.key,
                    to = new.manifest.metadata.key,
                    "upload.reclassed"
                );
                rewritten = Some(new.clone());
                new
            }
            Ok(None) => job,
            Err(e) => return fail(e, &job.manifest.metadata.key, None),
        },
        None => job,
    };
    let key = job.manifest.metadata.key.clone();
    let first = match spool.mark_tried(&job) {
        Ok(first) => first,
        Err(e) => return fail(e, &key, rewritten),
    };
    if let Err(e) = upload::upload_attempt(&dest, &job, &UploadConfig::default(), first).await {
        return fail(e, &key, rewritten);
    }
    // The row goes in once media and metadata are stored, and before the job leaves the
    // spool: a catalog that cannot be written keeps the job, and the next attempt (finding
    // its objects stored) writes the row.
    if let Some(policy) = &policy {
        let now = crate::server::clock::now();
        if let Err(e) = catalog_sync::catalogue_job(policy.db(), &dest, &job, now).await {
            return fail(e, &key, rewritten);
        }
    }
    let finish = {
        let (spool, job) = (spool.clone(), job.clone());
        tokio::task::spawn_blocking(move || spool.finish(&job)).await
    };
    match finish {
        Ok(Ok(())) => {
            metrics.stored.fetch_add(1, Relaxed);
            tracing::info!(key, destination, "upload.stored");
            Finished {
                dir,
                outcome: Outcome::Stored,
                job: None,
            }
        }
        Ok(Err(e)) => fail(e, &key, rewritten),
        Err(e) => fail(
            StoreError::BadJob {
                path: job.dir.clone(),
                reason: e.to_string(),
            },
            &key,
            rewritten,
        ),
    }
}

/// Whose fault a failure is: the job's own files, or the destination.
fn blame(e: &StoreError) -> Outcome {
    match e {
        StoreError::Spool { .. } | StoreError::BadJob { .. } => Outcome::JobFailed,
        _ => Outcome::DestinationFailed,
    }
}

/// The job re-classed for its user's current plan, rewritten in the spool; `None` when the
/// plan is the one it was recorded with (or its user is not in the policy). Objects an
/// earlier attempt may have stored under the old keys are deleted first, so nothing is left
/// behind in the old class.
async fn reclass(
    dest: &Destination,
    spool: &Spool,
    job: &SpoolJob,
    policy: &PolicyCache,
) -> Result<Option<SpoolJob>, StoreError> {
    let path = job.path(&job.manifest.metadata);
    let document = tokio::fs::read(&path)
        .await
        .map_err(StoreError::spool(&path))?;
    let Some(storage) = storage_section(&document) else {
        return Ok(None);
    };
    let Some(wanted) = current_storage(&storage, policy) else {
        return Ok(None);
    };
    let bad = |e: serde_json::Error| StoreError::BadJob {
        path: path.clone(),
        reason: e.to_string(),
    };
    let Some((manifest, document)) =
        job::reclassed(&job.manifest, &document, &wanted).map_err(bad)?
    else {
        return Ok(None);
    };
    let new_keys: HashSet<&str> = manifest
        .media
        .iter()
        .chain([&manifest.metadata])
        .map(|f| f.key.as_str())
        .collect();
    // Metadata first, as everywhere: a reader never finds metadata without its media.
    for old in [&job.manifest.metadata]
        .into_iter()
        .chain(&job.manifest.media)
    {
        if !new_keys.contains(old.key.as_str()) {
            let key = KeyPath::parse(&old.key).map_err(|e| StoreError::Mismatch {
                key: old.key.clone(),
                detail: e.to_string(),
            })?;
            sweep::delete(dest, &key).await?;
        }
    }
    let (spool, job) = (spool.clone(), job.clone());
    tokio::task::spawn_blocking(move || spool.rewrite(&job, manifest, &document))
        .await
        .map_err(|e| StoreError::BadJob {
            path,
            reason: e.to_string(),
        })?
        .map(Some)
}

/// The `storage` section of a metadata document, if it has a readable one.
fn storage_section(document: &[u8]) -> Option<StorageInfo> {
    let mut value: serde_json::Value = serde_json::from_slice(document).ok()?;
    serde_json::from_value(value.get_mut("storage")?.take()).ok()
}

/// `storage` as its user's current plan has it; `None` when the user is not in the policy,
/// not recorded any more, or now in another organisation (the recording stays as it was).
pub fn current_storage(storage: &StorageInfo, policy: &PolicyCache) -> Option<StorageInfo> {
    let Lookup::Known(Decision::Record(now)) = policy.lookup_user(storage.user.as_deref()?) else {
        return None;
    };
    (now.org.0 == storage.org).then(|| StorageInfo {
        provider: now.provider.as_str().to_string(),
        plan: now.plan.to_string(),
        retention: now.retention,
        ..storage.clone()
    })
}

/// A destination URL fit to show: without userinfo (`user:secret@`), query or fragment, where
/// credentials could hide. Paths without a scheme are shown as they are.
pub fn public_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_labels_show_no_credentials() {
        for (url, shown) in [
            ("s3://bucket/prefix", "s3://bucket/prefix"),
            ("s3://key:secret@bucket/p", "s3://bucket/p"),
            (
                "https://u:p@host:9000/b?X-Amz-Signature=abc#f",
                "https://host:9000/b",
            ),
            ("s3://bucket?secret=1", "s3://bucket"),
            ("s3://b/a@b/c", "s3://b/a@b/c"),
            ("./recordings", "./recordings"),
            (".", "."),
        ] {
            assert_eq!(public_url(url), shown, "{url}");
        }
    }

    #[test]
    fn spool_trouble_blames_the_job_and_everything_else_the_destination() {
        let spool = StoreError::spool(std::path::Path::new("/x"))(std::io::Error::other("eio"));
        assert_eq!(blame(&spool), Outcome::JobFailed);
        let store = StoreError::S3("503".into());
        assert_eq!(blame(&store), Outcome::DestinationFailed);
    }
}
