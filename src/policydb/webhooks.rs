//! Completion events in the policy database: each organisation's webhook and the durable
//! outbox of events for it ([`crate::webhook`] says what an event is and how it is signed).
//!
//! - **Written with what they announce.** A `recording.stored` event is inserted in the
//!   transaction that writes the recording's catalog row ([`PolicyDb::put_recording_announced`]),
//!   a `recording.deleted` one in the transaction that removes it (a person's delete, a
//!   sweep): a row without its event, or an event without its row, never commits. Only for an
//!   organisation with a webhook (the insert selects from `webhooks`), and once per
//!   (organisation, type, recording): a retried upload writes no second event.
//! - **Claimed with a lease.** A worker takes an organisation's due events by setting
//!   `lease_until` and its own name in one `UPDATE` whose `WHERE` still holds when PostgreSQL
//!   rechecks it after a concurrent claim took the row lock, so two workers never deliver
//!   the same event at once. A worker that dies leaves its lease to run out; one that stops
//!   releases its leases. A delivery's outcome ends the lease.
//! - **Not policy.** Outbox rows are written without the audit sequence (like catalog rows:
//!   calls must not queue behind policy writes). Registering, changing or removing a webhook
//!   is a policy write: audited (kind [`WEBHOOK`], the URL only, never the secret).
//! - **Announced in-process.** A transaction that wrote an event wakes the deliverer of the
//!   same process once it commits ([`PolicyDb::outbox_written`]); polling stays the way events
//!   written by another worker (or a `callrec` command) are found.
//! - **Time is an input**; this module reads no clock.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Change, DbError, PolicyDb, MAX_PAGE};
use crate::time::Time;
use crate::webhook;

/// The audit kind of a webhook's registration.
pub const WEBHOOK: &str = "webhook";

/// An organisation's webhook as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    pub org_id: String,
    pub url: String,
    /// The signing secret as stored: sealed (`v1:...`) or `plain:` and the secret.
    pub secret: String,
    pub created_at: Time,
    pub updated_at: Time,
    pub last_delivered_at: Option<Time>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Time>,
}

/// One event of the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub id: String,
    pub org_id: String,
    pub event_type: String,
    pub recording_id: String,
    /// The JSON body, sent byte for byte.
    pub body: String,
    pub created_at: Time,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Deliveries tried so far.
    pub attempts: u32,
    pub next_attempt_at: Time,
    pub delivered_at: Option<Time>,
    pub last_error: Option<String>,
}

/// How many of an organisation's events are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// The states an event may be listed by.
pub const STATES: [&str; 3] = ["pending", "delivered", "failed"];

/// The longest error text kept for an event (a receiver's answer is cut to it).
pub const MAX_ERROR_LEN: usize = 500;

const EVENT_COLUMNS: &str = "id, org_id, event_type, recording_id, body, created_at, state, \
    attempts, next_attempt_at, delivered_at, last_error";

/// Inserts one event unless the organisation has no webhook or already has it.
const INSERT_EVENT: &str = "INSERT INTO webhook_events (id, org_id, event_type, recording_id, \
    body, created_at, state, attempts, next_attempt_at) \
    SELECT $1, $2, $3, $4, $5, $6, 'pending', 0, $6 FROM webhooks WHERE org_id = $2 \
    ON CONFLICT (org_id, event_type, recording_id) DO NOTHING";

impl PolicyDb {
    /// Registers (or replaces) `org_id`'s webhook, audited: the URL before and after.
    pub async fn set_webhook(
        &self,
        org_id: &str,
        url: &str,
        secret: &str,
        change: Change<'_>,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT url FROM webhooks WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx.tx)
                .await?;
        let at = change.at.to_rfc3339();
        sqlx::query(
            "INSERT INTO webhooks (org_id, url, secret, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (org_id) DO UPDATE SET \
             url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at, \
             last_error = NULL, last_error_at = NULL",
        )
        .bind(org_id)
        .bind(url)
        .bind(secret)
        .bind(&at)
        .execute(&mut *tx.tx)
        .await?;
        let before = before.map(|url| audited(&url));
        let after = audited(url);
        tx.audit(
            org_id,
            WEBHOOK,
            org_id,
            change,
            before.as_deref(),
            Some(&after),
        )
        .await?;
        tx.commit().await
    }

    /// `org_id`'s webhook, if it has one.
    pub async fn webhook(&self, org_id: &str) -> Result<Option<Webhook>, DbError> {
        let row = sqlx::query(
            "SELECT org_id, url, secret, created_at, updated_at, last_delivered_at, \
             last_error, last_error_at FROM webhooks WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(webhook_row).transpose()
    }

    /// Removes `org_id`'s webhook and its pending events (audited); true if it had one.
    /// Delivered and given-up events stay until pruned.
    pub async fn remove_webhook(&self, org_id: &str, change: Change<'_>) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT url FROM webhooks WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx.tx)
                .await?;
        let Some(before) = before else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM webhooks WHERE org_id = $1")
            .bind(org_id)
            .execute(&mut *tx.tx)
            .await?;
        sqlx::query("DELETE FROM webhook_events WHERE org_id = $1 AND state = 'pending'")
            .bind(org_id)
            .execute(&mut *tx.tx)
            .await?;
        tx.audit(
            org_id,
            WEBHOOK,
            org_id,
            change,
            Some(&audited(&before)),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Resolves once an event has been committed to the outbox through this handle or a
    /// clone of it since the last call resolved (at once if one has been meanwhile): the
    /// deliverer waits on it beside its poll. One waiter is woken per commit.
    pub async fn outbox_written(&self) {
        self.outbox.notified().await
    }

    /// Wakes [`PolicyDb::outbox_written`]: call after committing a transaction in which
    /// [`insert_event`] (or [`announce_deleted`]) inserted an event.
    pub(super) fn announce_written(&self) {
        self.outbox.notify_one();
    }

    /// Each organisation with events due at `now` and not leased, at most `limit`.
    pub async fn due_webhook_orgs(&self, now: Time, limit: usize) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query_scalar(
            "SELECT DISTINCT org_id FROM webhook_events WHERE state = 'pending' \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) \
             ORDER BY org_id LIMIT $2",
        )
        .bind(now.to_rfc3339())
        .bind(limit.min(MAX_PAGE) as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Leases up to `limit` of `org_id`'s events due at `now` to `owner` until `until`, oldest
    /// first. An event another worker leased meanwhile is not returned.
    pub async fn claim_webhook_events(
        &self,
        org_id: &str,
        owner: &str,
        now: Time,
        until: Time,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, DbError> {
        // The conditions are repeated outside the subquery: PostgreSQL rechecks those (not
        // the subquery's) on a row another claim updated while this one waited for it.
        let sql = format!(
            "UPDATE webhook_events SET lease_until = $3, lease_owner = $4 \
             WHERE id IN (SELECT id FROM webhook_events WHERE org_id = $1 \
             AND state = 'pending' AND next_attempt_at <= $2 \
             AND (lease_until IS NULL OR lease_until <= $2) \
             ORDER BY created_at, id LIMIT $5) \
             AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $2) \
             RETURNING {EVENT_COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .bind(now.to_rfc3339())
            .bind(until.to_rfc3339())
            .bind(owner)
            .bind(limit.min(MAX_PAGE) as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut events = rows.iter().map(event_row).collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(events)
    }

    /// Event `id` was delivered at `at`.
    pub async fn webhook_delivered(&self, event: &OutboxEvent, at: Time) -> Result<(), DbError> {
        let at = at.to_rfc3339();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE webhook_events SET state = 'delivered', delivered_at = $2, \
             attempts = attempts + 1, lease_until = NULL, lease_owner = NULL, last_error = NULL \
             WHERE id = $1",
        )
        .bind(&event.id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE webhooks SET last_delivered_at = $2 WHERE org_id = $1")
            .bind(&event.org_id)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A delivery of `event` failed at `at` with `error`: tried again at `retry_at`, or given
    /// up when `None`.
    pub async fn webhook_failed(
        &self,
        event: &OutboxEvent,
        at: Time,
        retry_at: Option<Time>,
        error: &str,
    ) -> Result<(), DbError> {
        let error = cut(error);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE webhook_events SET state = $2, next_attempt_at = $3, \
             attempts = attempts + 1, lease_until = NULL, lease_owner = NULL, last_error = $4 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(&event.id)
        .bind(if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        })
        .bind(retry_at.unwrap_or(at).to_rfc3339())
        .bind(&error)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE webhooks SET last_error = $2, last_error_at = $3 WHERE org_id = $1")
            .bind(&event.org_id)
            .bind(&error)
            .bind(at.to_rfc3339())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the lease on `event` untried, due again at `at` (the receiver failed an earlier
    /// event of the batch: the rest wait with it rather than each failing in turn).
    pub async fn webhook_deferred(&self, event: &OutboxEvent, at: Time) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE webhook_events SET next_attempt_at = $2, lease_until = NULL, \
             lease_owner = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(&event.id)
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends every lease `owner` holds (a worker stopping), so another takes them at once.
    pub async fn release_webhook_leases(&self, owner: &str) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE webhook_events SET lease_until = NULL, lease_owner = NULL \
             WHERE lease_owner = $1 AND state = 'pending'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Events not yet delivered nor given up, over every organisation.
    pub async fn webhook_backlog(&self) -> Result<u64, DbError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(n.max(0) as u64)
    }

    /// How many of `org_id`'s events are in each state.
    pub async fn webhook_counts(&self, org_id: &str) -> Result<OutboxCounts, DbError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM webhook_events WHERE org_id = $1 GROUP BY state",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = OutboxCounts::default();
        for row in &rows {
            let (state, n): (String, i64) = (row.try_get("state")?, row.try_get("n")?);
            let n = n.max(0) as u64;
            match state.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// `org_id`'s events in `state` (any when `None`), newest first, at most `limit`.
    pub async fn webhook_events(
        &self,
        org_id: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, DbError> {
        let filter = if state.is_some() {
            " AND state = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM webhook_events WHERE org_id = $1{filter} \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let mut q = sqlx::query(&sql)
            .bind(org_id)
            .bind(limit.min(MAX_PAGE) as i64);
        if let Some(state) = state {
            q = q.bind(state);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(event_row).collect()
    }

    /// Deletes delivered and given-up events written before `before`; how many.
    pub async fn prune_webhook_events(&self, before: Time) -> Result<u64, DbError> {
        let done =
            sqlx::query("DELETE FROM webhook_events WHERE state <> 'pending' AND created_at < $1")
                .bind(before.to_rfc3339())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}

/// Inserts a `recording.deleted` event for recording `id` of `org_id` in `tx` (when the
/// organisation has a webhook); `reason` is `deleted` (a person) or `expired` (the sweeper).
/// True if an event was inserted.
pub(super) async fn announce_deleted(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org_id: &str,
    id: &str,
    reason: &str,
    at: Time,
) -> Result<bool, DbError> {
    let event = event_id()?;
    let mut data = serde_json::Map::new();
    data.insert("reason".into(), reason.into());
    let body = webhook::body(&event, webhook::DELETED, org_id, id, at, data);
    insert_event(tx, &event, webhook::DELETED, org_id, id, &body, at).await
}

/// Inserts event `id` in `tx` unless `org_id` has no webhook or already has this event of
/// the recording; true if it was inserted.
pub(super) async fn insert_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    event_type: &str,
    org_id: &str,
    recording_id: &str,
    body: &str,
    at: Time,
) -> Result<bool, DbError> {
    let done = sqlx::query(INSERT_EVENT)
        .bind(id)
        .bind(org_id)
        .bind(event_type)
        .bind(recording_id)
        .bind(body)
        .bind(at.to_rfc3339())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub(super) fn event_id() -> Result<String, DbError> {
    webhook::new_event_id().ok_or_else(|| DbError::Random("an event id".into()))
}

/// A webhook as its audit row shows it: the URL, never the secret.
fn audited(url: &str) -> String {
    serde_json::json!({ "url": url }).to_string()
}

fn cut(error: &str) -> String {
    let mut end = error.len().min(MAX_ERROR_LEN);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error[..end].to_owned()
}

fn time_of(row: &AnyRow, column: &str, id: &str) -> Result<Option<Time>, DbError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        Time::parse_rfc3339(&t).ok_or_else(|| DbError::Corrupt {
            kind: "webhook".into(),
            id: id.into(),
            reason: format!("{column} {t:?}"),
        })
    })
    .transpose()
}

fn required(row: &AnyRow, column: &str, id: &str) -> Result<Time, DbError> {
    time_of(row, column, id)?.ok_or_else(|| DbError::Corrupt {
        kind: "webhook".into(),
        id: id.into(),
        reason: format!("no {column}"),
    })
}

fn webhook_row(row: &AnyRow) -> Result<Webhook, DbError> {
    let org_id: String = row.try_get("org_id")?;
    Ok(Webhook {
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        created_at: required(row, "created_at", &org_id)?,
        updated_at: required(row, "updated_at", &org_id)?,
        last_delivered_at: time_of(row, "last_delivered_at", &org_id)?,
        last_error: row.try_get("last_error")?,
        last_error_at: time_of(row, "last_error_at", &org_id)?,
        org_id,
    })
}

fn event_row(row: &AnyRow) -> Result<OutboxEvent, DbError> {
    let id: String = row.try_get("id")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(OutboxEvent {
        org_id: row.try_get("org_id")?,
        event_type: row.try_get("event_type")?,
        recording_id: row.try_get("recording_id")?,
        body: row.try_get("body")?,
        created_at: required(row, "created_at", &id)?,
        state: row.try_get("state")?,
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        next_attempt_at: required(row, "next_attempt_at", &id)?,
        delivered_at: time_of(row, "delivered_at", &id)?,
        last_error: row.try_get("last_error")?,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let kept = cut(&long);
        assert!(kept.len() <= MAX_ERROR_LEN && kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_audit_row_holds_the_url_only() {
        assert_eq!(audited("https://x/h"), r#"{"url":"https://x/h"}"#);
    }
}
