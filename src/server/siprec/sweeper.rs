//! Retention without an operator: `serve` runs the sweeper ([`crate::store::sweep`]) over
//! every configured destination at start and every `store.sweep_interval_secs`. Every
//! destination is swept, S3 buckets with lifecycle rules too: a sweep deletes only what has
//! expired and is idempotent, so where a lifecycle rule got there first it finds nothing, and
//! where a bucket has no rules (S3-compatible servers without lifecycle) it is what enforces
//! retention. Recordings under legal hold (the catalog's, when there is a policy database)
//! are kept, expired or not.

use super::uploader::public_url;
use crate::config::{Config, Target};
use crate::policydb::cache::PolicyCache;
use crate::policydb::PolicyDb;
use crate::store::destination::Destination;
use crate::store::sweep::{self, SweepEvent};
use crate::time::Time;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Every configured destination recordings may go to: the default, each organisation's own
/// and each registered one (buckets customers supplied with their own credentials are not
/// swept by the server).
pub(crate) fn destinations(config: &Config) -> Vec<Target> {
    let mut targets = vec![config.destination_for(None)];
    let registered = config.store.destinations.values().cloned();
    for own in config
        .orgs
        .values()
        .filter_map(|o| o.store.clone())
        .chain(registered)
    {
        if !targets.contains(&own) {
            targets.push(own);
        }
    }
    targets
}

/// Sweeps every destination now and then every `interval`, until `stop` turns true; each
/// recording deleted leaves the catalog (when there is a policy database), announced to its
/// organisation's webhook (`recording.deleted`, reason `expired`).
pub(crate) async fn run(
    config: Arc<Config>,
    interval: Duration,
    clock: fn() -> Time,
    policy: Option<Arc<PolicyCache>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        for target in destinations(&config) {
            sweep_one(&target, clock(), policy.as_deref().map(PolicyCache::db)).await;
        }
    }
}

/// One sweep of one destination; failures are logged and tried again next time (a row left
/// behind by a failed removal is what `storage verify` reports and `storage reindex` removes).
async fn sweep_one(target: &Target, now: Time, db: Option<&PolicyDb>) {
    let shown = public_url(&target.url);
    let options: Vec<(String, String)> = target.options.clone().into_iter().collect();
    let dest = match Destination::open(&target.url, &options) {
        Ok(dest) => dest,
        Err(e) => {
            tracing::warn!(destination = shown, error = %e, "sweep.failed");
            return;
        }
    };
    let mut deleted = Vec::new();
    let on_event = |event: &SweepEvent| match event {
        SweepEvent::Expired {
            prefix,
            expiry,
            bytes,
            ..
        } => {
            deleted.push(prefix.clone());
            tracing::info!(
                destination = shown,
                recording = prefix,
                expired = %expiry.to_rfc3339(),
                bytes,
                "sweep.deleted"
            )
        }
        SweepEvent::Skipped { prefix, reason } => tracing::warn!(
            destination = shown,
            recording = prefix,
            reason,
            "sweep.skipped"
        ),
        SweepEvent::Held { prefix, expiry } => tracing::info!(
            destination = shown,
            recording = prefix,
            expired = %expiry.to_rfc3339(),
            "sweep.held"
        ),
    };
    // Without the catalog's holds nothing is swept: a held recording must never go.
    let held = match db {
        Some(db) => match db.held_prefixes().await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(destination = shown, error = %e, "sweep.failed: legal holds unknown");
                return;
            }
        },
        None => BTreeSet::new(),
    };
    let swept = sweep::sweep(&dest, now, false, &held, on_event).await;
    if let Some(db) = db {
        for prefix in &deleted {
            if let Err(e) = db.remove_recording_swept(prefix, now).await {
                tracing::warn!(recording = prefix, error = %e, "catalog.not_removed");
            }
        }
    }
    match swept {
        Ok(report) => tracing::info!(
            destination = shown,
            deleted = report.deleted,
            kept = report.kept,
            skipped = report.skipped,
            held = report.held,
            "sweep.done"
        ),
        Err(e) => tracing::warn!(destination = shown, error = %e, "sweep.failed"),
    }
}
