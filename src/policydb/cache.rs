//! The policy index kept current from the policy store, for call set-up without waiting on a
//! database ([`PolicyCache`], the async shell around the pure
//! [`crate::policy::index::PolicyIndex`]). Owns how fresh the cache is; must never decide
//! policy itself nor write the store.
//!
//! **Freshness.** Every write to the store takes the next audit number, without gaps and in
//! commit order, so "the changes after `seq`" misses nothing. [`PolicyCache::refresh`] applies
//! them in order; [`PolicyCache::spawn_refresher`] runs it every [`REFRESH_INTERVAL`]. A change
//! committed by any worker at `t` is served by every worker from `t + REFRESH_INTERVAL + one
//! refresh` at the latest (a refresh is one indexed query and a hash-map write per change:
//! about 0.1 ms idle and 0.2 ms for one change on SQLite, `refresh/*` in benches/policy.rs).
//! A worker that writes can call [`PolicyCache::refresh`] right after, to serve its own
//! change at once. While the store cannot be reached, lookups keep answering from the last
//! state, [`CacheStats::failed_refreshes`] counts, and the log says when refreshes start
//! failing and when they work again (`policy.refresh_failed`, `policy.refresh_recovered`); a
//! call set-up never waits on the store (a lookup is about a microsecond: a read lock, a few
//! hash-map reads, `effective_policy`).

use super::{DbError, PolicyDb, MAX_PAGE};
use crate::policy::index::{
    IndexStats, Lookup, PolicyIndex, Update, KIND_AOR, KIND_LOCATION, KIND_ORGANISATION, KIND_USER,
};
use crate::policy::organisation::CustomerStorage;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// How often [`PolicyCache::spawn_refresher`] is meant to run: an administrator's change is
/// live on every worker within about a second (as good as immediate for someone at a console),
/// for one indexed query per worker per second that almost always returns nothing.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Changes [`PolicyCache::refresh`] applies per hold of the write lock, so that a lookup waits
/// for a few dozen hash-map writes at most (`apply/user` in benches/policy.rs: well under a
/// microsecond each), never for a whole page. Any prefix of the audit trail is a state the
/// store was in, so lookups between batches see a true, slightly older, policy.
pub const APPLY_BATCH: usize = 32;

/// How the cache has kept up with the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The audit number of the last change applied: the cache holds the store as of it.
    pub seq: i64,
    /// Refreshes that reached the store.
    pub refreshes: u64,
    /// Refreshes that failed (the store unreachable); the cache served its last state.
    pub failed_refreshes: u64,
    /// Changes applied since the initial load (documents loaded are in `index.upserts`).
    pub changes: u64,
    /// Documents or changes that did not decode: a change leaves the document as it was (a
    /// damaged row must not flip anyone's recording on or off), a document at load is left
    /// out.
    pub undecodable: u64,
    pub index: IndexStats,
}

/// A [`PolicyIndex`] loaded from a [`PolicyDb`] and kept current from its audit trail; shared
/// by every call set-up of a worker. Lookups take a read lock; a refresh decodes first and
/// holds the write lock only to insert [`APPLY_BATCH`] decoded documents at a time.
#[derive(Debug)]
pub struct PolicyCache {
    db: PolicyDb,
    state: RwLock<State>,
}

#[derive(Debug)]
struct State {
    index: PolicyIndex,
    stats: CacheStats,
}

/// The kinds [`PolicyCache::load`] reads.
const KINDS: [&str; 4] = [KIND_ORGANISATION, KIND_LOCATION, KIND_USER, KIND_AOR];

impl PolicyCache {
    /// The database the cache reads: for what is not cached (tokens, the recordings catalog).
    pub fn db(&self) -> &PolicyDb {
        &self.db
    }

    /// Loads every policy document, then the changes made while loading. The audit number is
    /// read first: documents read afterwards are at least that fresh, and replaying every
    /// change after it (whole documents, so replays are idempotent) brings each one to its
    /// latest state whatever the pages saw.
    pub async fn load(db: PolicyDb) -> Result<PolicyCache, DbError> {
        let seq = db.audit_seq().await?;
        let mut index = PolicyIndex::default();
        let mut undecodable = 0;
        for kind in KINDS {
            let mut after: Option<String> = None;
            loop {
                let page = db
                    .list_kind::<serde_json::Value>(kind, after.as_deref(), MAX_PAGE)
                    .await?;
                for doc in &page {
                    if index.apply(kind, &doc.id, Some(&doc.value)).is_err() {
                        undecodable += 1;
                    }
                }
                match page.last() {
                    Some(last) if page.len() == MAX_PAGE => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        let stats = CacheStats {
            seq,
            undecodable,
            ..CacheStats::default()
        };
        let cache = PolicyCache {
            db,
            state: RwLock::new(State { index, stats }),
        };
        cache.refresh().await?;
        Ok(cache)
    }

    /// Applies every change committed since the last one applied, in audit order, and returns
    /// how many. Safe to run concurrently (a change already applied is skipped).
    pub async fn refresh(&self) -> Result<usize, DbError> {
        let mut applied = 0;
        loop {
            let since = self.read().stats.seq;
            let rows = match self.db.changes_since(since, MAX_PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    self.write().stats.failed_refreshes += 1;
                    return Err(e);
                }
            };
            let mut decoded = rows
                .iter()
                .map(|r| (r.seq, Update::decode(&r.kind, &r.id, r.after.as_ref())))
                .collect::<Vec<_>>()
                .into_iter()
                .peekable();
            while decoded.peek().is_some() {
                let mut state = self.write();
                for (seq, update) in decoded.by_ref().take(APPLY_BATCH) {
                    if seq <= state.stats.seq {
                        continue;
                    }
                    match update {
                        Ok(update) => state.index.update(update),
                        Err(_) => state.stats.undecodable += 1,
                    }
                    state.stats.seq = seq;
                    state.stats.changes += 1;
                    applied += 1;
                }
            }
            if rows.len() < MAX_PAGE {
                self.write().stats.refreshes += 1;
                return Ok(applied);
            }
        }
    }

    /// Runs [`PolicyCache::refresh`] every `interval` (see [`REFRESH_INTERVAL`]) until the
    /// cache is dropped. A failed refresh is counted and retried at the next tick.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Logged when refreshes start failing and when they work again, not once a tick.
            let mut failing = false;
            loop {
                ticks.tick().await;
                let Some(cache) = cache.upgrade() else { return };
                // Counted in the stats; lookups go on from the last state.
                match cache.refresh().await {
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "policy.refresh_failed");
                    }
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("policy.refresh_recovered");
                    }
                    _ => {}
                }
            }
        })
    }

    /// The decision for the party whose AOR (or `From`/`To` header value) is `aor`.
    pub fn lookup(&self, aor: &str) -> Lookup {
        self.read().index.lookup(aor)
    }

    /// The decision for the user with this id (see [`PolicyIndex::lookup_user`]).
    pub fn lookup_user(&self, user: &str) -> Lookup {
        self.read().index.lookup_user(user)
    }

    /// The storage organisation `org` chose (as of the last refresh), sealed credentials
    /// included: for the uploader, which opens its own bucket with them.
    pub fn customer_storage(&self, org: &str) -> Option<CustomerStorage> {
        self.read()
            .index
            .organisation(org)
            .and_then(|o| o.customer_storage.clone())
    }

    /// No policy in the store (as of the last refresh).
    pub fn is_empty(&self) -> bool {
        self.read().index.is_empty()
    }

    pub fn stats(&self) -> CacheStats {
        let state = self.read();
        CacheStats {
            index: state.index.stats().clone(),
            ..state.stats.clone()
        }
    }

    /// The state; a panic while it was written left whole documents only, so it stays usable.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}
