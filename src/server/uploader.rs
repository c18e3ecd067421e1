//! The live server's uploads: every recording the shards commit to the spool goes to its
//! store, read back and checked, and only then leaves the spool. The spool is the queue, so
//! it is bounded by the spool's limit and survives a restart; this task only walks it when
//! woken (a call was stored) or every few seconds (to retry a store that was down).

use crate::config::{Config, Target};
use crate::server::log;
use crate::store::destination::Destination;
use crate::store::spool::Spool;
use crate::store::upload::{self, UploadConfig};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Counters `/metrics` shows for uploads.
#[derive(Debug, Default)]
pub struct UploadMetrics {
    /// Complete recordings waiting in the spool at the last walk.
    pub backlog: AtomicU64,
    pub stored: AtomicU64,
    pub failures: AtomicU64,
}

/// How long one recording's upload may retry before the walk moves on (it is retried on a
/// later walk; nothing is dropped).
const ATTEMPT: Duration = Duration::from_secs(30);
/// How often the spool is walked when nothing wakes the uploader.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Uploads until `stop` turns true and the spool holds nothing complete, or a last walk
/// after `stop` fails (what failed stays spooled for the next start).
pub async fn run(
    config: Arc<Config>,
    spool: Spool,
    wake: Arc<Notify>,
    metrics: Arc<UploadMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut opened: HashMap<String, Destination> = HashMap::new();
    loop {
        let stopping = *stop.borrow();
        let all_stored = walk(&config, &spool, &mut opened, &metrics).await;
        if stopping {
            if !all_stored {
                log::warn(
                    "upload.left_in_spool",
                    json!({ "pending": metrics.backlog.load(Relaxed) }),
                );
            }
            return;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(RETRY_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Uploads every complete job once; true when none is left.
async fn walk(
    config: &Config,
    spool: &Spool,
    opened: &mut HashMap<String, Destination>,
    metrics: &UploadMetrics,
) -> bool {
    let scan = {
        let spool = spool.clone();
        tokio::task::spawn_blocking(move || spool.pending()).await
    };
    let jobs = match scan {
        Ok(Ok(jobs)) => jobs,
        Ok(Err(e)) => {
            log::warn("upload.spool_unreadable", json!({ "error": e.to_string() }));
            return false;
        }
        Err(_) => return false,
    };
    metrics.backlog.store(jobs.len() as u64, Relaxed);
    let mut left = jobs.len();
    for job in jobs {
        let url = job.manifest.destination.clone();
        if !opened.contains_key(&url) {
            let target = config.target_by_url(&url).unwrap_or(Target {
                url: url.clone(),
                options: Default::default(),
            });
            let options: Vec<(String, String)> = target.options.into_iter().collect();
            match Destination::open(&url, &options) {
                Ok(dest) => {
                    opened.insert(url.clone(), dest);
                }
                Err(e) => {
                    metrics.failures.fetch_add(1, Relaxed);
                    log::warn(
                        "upload.failed",
                        json!({ "destination": url, "error": e.to_string() }),
                    );
                    continue;
                }
            }
        }
        let dest = &opened[&url];
        let key = job.manifest.metadata.key.clone();
        let result = upload::upload(dest, &job, &UploadConfig::default(), Some(ATTEMPT), |e, delay| {
            log::warn(
                "upload.retry",
                json!({ "key": key, "error": e.to_string(), "retry_in_ms": delay.as_millis() as u64 }),
            )
        })
        .await;
        match result.map(|_| spool.finish(&job)) {
            Ok(Ok(())) => {
                left -= 1;
                metrics.stored.fetch_add(1, Relaxed);
                metrics.backlog.store(left as u64, Relaxed);
                log::info("upload.stored", json!({ "key": key, "destination": url }));
            }
            Ok(Err(e)) | Err(e) => {
                metrics.failures.fetch_add(1, Relaxed);
                log::warn(
                    "upload.failed",
                    json!({ "key": key, "error": e.to_string() }),
                );
            }
        }
    }
    left == 0
}
