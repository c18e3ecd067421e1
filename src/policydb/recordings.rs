//! The recordings catalog: one row per stored recording, so people find their recordings by
//! person and date without listing a bucket. A row is written once a recording's media and
//! metadata document are in the store (never before: a row always has its media), and is kept
//! true by whatever moves or deletes the recording (the sweeper, plan migration, a person's
//! delete). The store's metadata documents remain the record: `callrec storage reindex`
//! rebuilds every row from them.
//!
//! Rows are not policy documents: they are written without the audit sequence (thousands of
//! calls an hour must not queue behind the policy's write lock) and never replayed to caches.
//! Typed here, interpreted by the recordings API.
//!
//! What people do with a recording (play, download, read its metadata, delete) is audited:
//! an `audit` row of kind [`RECORDING_ACCESS`], numbered in the audit sequence like a policy
//! change so `GET /v1/audit` shows both in one order; caches replaying the sequence skip the
//! kind (it is no document). A deletion's row removal and its audit row share one transaction.
//!
//! A recording stored, deleted or swept is announced to its organisation's webhook: the
//! `recording.stored` / `recording.deleted` event ([`super::webhooks`]) is written in the
//! transaction that writes or removes the row.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::webhooks::{announce_deleted, event_id, insert_event};
use super::{Change, DbError, PolicyDb, MAX_PAGE};
use crate::time::Time;
use crate::webhook;
use serde::{Deserialize, Serialize};

/// One stored recording as the catalog holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogRecording {
    /// The recording's name (its key segment and the sidecar's `call.id`): unique within its
    /// organisation (a live recording's name carries 64 random bits).
    pub id: String,
    pub org_id: String,
    /// The recorded person (the admin API's personId), when known.
    pub person: Option<String>,
    /// The person's location when the call was recorded, when known.
    pub location: Option<String>,
    /// The parties to the call, as the recording client's metadata named them.
    pub participants: Vec<Participant>,
    pub direction: Direction,
    /// `call` or `voicemail`.
    pub kind: String,
    pub start: Time,
    pub end: Time,
    pub duration_ms: u64,
    pub provider: String,
    /// The plan's name (`dubber-go`, `dubber-standard`, ...).
    pub plan: String,
    /// The retention class (`30d`, `unlimited`).
    pub retention: String,
    /// When the sweeper deletes it; `None` when kept without limit.
    pub expires_at: Option<Time>,
    /// Under legal hold: never deleted while set. Owned by the catalog: a reindex keeps it.
    pub legal_hold: bool,
    /// The media's bytes (every media file, not the metadata document).
    pub size_bytes: u64,
    /// The SHA-256 of the first media file (the one a person downloads).
    pub sha256: String,
    /// `opus` or `wav`.
    pub format: String,
    /// The destination the recording is in, as the uploader names it.
    pub destination: String,
    /// The key prefix every object of the recording shares, ending in `/`.
    pub prefix: String,
    /// The media objects, in file order.
    pub files: Vec<CatalogFile>,
    pub metadata_key: String,
    /// How the call ended (`bye`, `recovered`, ...), as the sidecar says.
    pub ended: String,
    /// When the row was written.
    pub stored_at: Time,
}

/// A party to a recorded call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub names: Vec<String>,
    /// Addresses of record (SIP or tel URIs).
    pub addresses: Vec<String>,
}

/// A media object of a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub name: String,
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
    /// `both`, `a` or `b`.
    pub legs: String,
}

/// Which way the recorded person's call went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The recorded person placed the call.
    Outbound,
    /// The recorded person received it.
    Inbound,
    /// The metadata did not say.
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Direction {
        match text {
            "outbound" => Direction::Outbound,
            "inbound" => Direction::Inbound,
            _ => Direction::Unknown,
        }
    }
}

/// The audit kind of what people did with a recording.
pub const RECORDING_ACCESS: &str = "recordingAccess";

/// Which recordings of one organisation to list, newest first.
#[derive(Clone, Debug)]
pub struct RecordingQuery<'a> {
    pub org_id: &'a str,
    /// Only this person's.
    pub person: Option<&'a str>,
    /// Started at or after.
    pub from: Option<Time>,
    /// Started before.
    pub to: Option<Time>,
    /// Only calls with a participant whose name or address contains this text.
    pub participant: Option<&'a str>,
    /// At most this many (capped at [`MAX_PAGE`]).
    pub limit: usize,
    /// After skipping this many.
    pub offset: usize,
}

pub(super) const COLUMNS: &str = "org_id, id, person, location_id, participants, direction, kind, \
    start_at, end_at, duration_ms, provider, plan, retention, expires_at, legal_hold, \
    size_bytes, sha256, format, destination, prefix, files, metadata_key, ended, stored_at";

/// [`COLUMNS`] of table alias `r`, for joins.
pub(super) fn columns_of(r: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{r}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PolicyDb {
    /// Writes the recording's row, replacing the one it had (a recording moved by a plan
    /// migration, or read again by a reindex) but keeping its legal hold, and flags it held
    /// when an active legal hold covers it (a held person's next call). True when the row is
    /// held once written.
    pub async fn put_recording(&self, r: &CatalogRecording) -> Result<bool, DbError> {
        let sql = upsert_sql();
        let (participants, files) = encoded(r)?;
        let mut tx = self.pool.begin().await?;
        bind_row(sqlx::query(&sql), r, participants, files)
            .execute(&mut *tx)
            .await?;
        let held = hold_if_covered(&mut tx, &r.org_id, &r.id).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// [`PolicyDb::put_recording`] for many rows in one transaction: all land or none, at a
    /// fraction of the cost of a commit each (a rebuild, a bulk load).
    pub async fn put_recordings(&self, rows: &[CatalogRecording]) -> Result<(), DbError> {
        let sql = upsert_sql();
        let mut tx = self.pool.begin().await?;
        for r in rows {
            let (participants, files) = encoded(r)?;
            bind_row(sqlx::query(&sql), r, participants, files)
                .execute(&mut *tx)
                .await?;
            hold_if_covered(&mut tx, &r.org_id, &r.id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// [`PolicyDb::put_recording`] for a recording just stored, with its `recording.stored`
    /// event (when its organisation has a webhook) in the same transaction; true if a legal
    /// hold covers it.
    pub async fn put_recording_announced(&self, r: &CatalogRecording) -> Result<bool, DbError> {
        let id = event_id()?;
        let body = webhook::body(
            &id,
            webhook::STORED,
            &r.org_id,
            &r.id,
            r.stored_at,
            stored_data(r),
        );
        let mut tx = self.pool.begin().await?;
        upsert(&mut tx, r).await?;
        let held = hold_if_covered(&mut tx, &r.org_id, &r.id).await?;
        let announced = insert_event(
            &mut tx,
            &id,
            webhook::STORED,
            &r.org_id,
            &r.id,
            &body,
            r.stored_at,
        )
        .await?;
        tx.commit().await?;
        if announced {
            self.announce_written();
        }
        Ok(held)
    }

    /// Removes the row of the recording swept from under `prefix` at `at`, with a
    /// `recording.deleted` event (reason `expired`) in the same transaction; true if there
    /// was a row.
    pub async fn remove_recording_swept(&self, prefix: &str, at: Time) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query("DELETE FROM recordings WHERE prefix = $1 RETURNING org_id, id")
            .bind(prefix)
            .fetch_all(&mut *tx)
            .await?;
        let mut announced = false;
        for row in &rows {
            let (org_id, id): (String, String) = (row.try_get("org_id")?, row.try_get("id")?);
            announced |= announce_deleted(&mut tx, &org_id, &id, "expired", at).await?;
        }
        tx.commit().await?;
        if announced {
            self.announce_written();
        }
        Ok(!rows.is_empty())
    }

    /// The recording `id` of `org_id`, if catalogued.
    pub async fn recording(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<CatalogRecording>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM recordings WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(catalog_row).transpose()
    }

    /// The recordings `query` asks for, newest first (ties by id, so pages never overlap).
    pub async fn find_recordings(
        &self,
        query: &RecordingQuery<'_>,
    ) -> Result<Vec<CatalogRecording>, DbError> {
        // The filters are spelled out rather than `($n IS NULL OR ...)`, so PostgreSQL's plan
        // for a person's recordings always uses the (org, person, start) index.
        let mut sql = format!("SELECT {COLUMNS} FROM recordings WHERE org_id = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('#', &format!("${n}")));
        };
        if query.person.is_some() {
            next(&mut sql, " AND person = #");
        }
        if query.from.is_some() {
            next(&mut sql, " AND start_at >= #");
        }
        if query.to.is_some() {
            next(&mut sql, " AND start_at < #");
        }
        if query.participant.is_some() {
            next(&mut sql, " AND LOWER(participants) LIKE #");
        }
        next(&mut sql, " ORDER BY start_at DESC, id DESC LIMIT #");
        next(&mut sql, " OFFSET #");
        let mut q = sqlx::query(&sql).bind(query.org_id);
        if let Some(person) = query.person {
            q = q.bind(person);
        }
        if let Some(from) = query.from {
            q = q.bind(from.to_rfc3339());
        }
        if let Some(to) = query.to {
            q = q.bind(to.to_rfc3339());
        }
        if let Some(text) = query.participant {
            q = q.bind(like_pattern(text));
        }
        let rows = q
            .bind(query.limit.min(MAX_PAGE) as i64)
            .bind(clamp(query.offset as u64))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(catalog_row).collect()
    }

    /// Removes the recording's row; true if there was one.
    pub async fn remove_recording(&self, org_id: &str, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM recordings WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Audits what `change.actor` did with recording `id` of `org_id` (`after` says what: the
    /// action, who, from where), in the audit sequence.
    pub async fn note_recording_access(
        &self,
        org_id: &str,
        id: &str,
        change: Change<'_>,
        after: &serde_json::Value,
    ) -> Result<(), DbError> {
        let after = serde_json::to_string(after).map_err(DbError::Encode)?;
        let mut tx = self.begin_write().await?;
        tx.audit(org_id, RECORDING_ACCESS, id, change, None, Some(&after))
            .await?;
        tx.commit().await
    }

    /// Removes recording `id`'s row and audits its deletion, with its `recording.deleted`
    /// event (when the organisation has a webhook), in one transaction: all land or none
    /// does. True if there was a row.
    pub async fn remove_recording_noted(
        &self,
        org_id: &str,
        id: &str,
        change: Change<'_>,
        after: &serde_json::Value,
    ) -> Result<bool, DbError> {
        let after = serde_json::to_string(after).map_err(DbError::Encode)?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM recordings WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        let announced = done.rows_affected() > 0
            && announce_deleted(&mut tx.tx, org_id, id, "deleted", change.at).await?;
        tx.audit(org_id, RECORDING_ACCESS, id, change, None, Some(&after))
            .await?;
        tx.commit().await?;
        if announced {
            self.announce_written();
        }
        Ok(done.rows_affected() > 0)
    }

    /// Removes the row of the recording stored under `prefix` (swept, or moved away); true
    /// if there was one.
    pub async fn remove_recording_at(&self, prefix: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM recordings WHERE prefix = $1")
            .bind(prefix)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every catalogued recording in (organisation, id) order, those after `after`, at most
    /// `limit` (capped at [`MAX_PAGE`]): for walks such as `storage verify`.
    pub async fn catalog_page(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<CatalogRecording>, DbError> {
        let (org, id) = after.unwrap_or(("", ""));
        let sql = format!(
            "SELECT {COLUMNS} FROM recordings WHERE org_id > $1 OR (org_id = $1 AND id > $2) \
             ORDER BY org_id, id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(org)
            .bind(id)
            .bind(limit.min(MAX_PAGE) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(catalog_row).collect()
    }
}

/// Writes `r`'s row in `tx` ([`PolicyDb::put_recording`]'s statement).
async fn upsert(
    tx: &mut sqlx::Transaction<'static, Any>,
    r: &CatalogRecording,
) -> Result<(), DbError> {
    let sql = upsert_sql();
    let (participants, files) = encoded(r)?;
    bind_row(sqlx::query(&sql), r, participants, files)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What a `recording.stored` event tells of the recording: enough to file it, not the
/// parties (a receiver with a token reads them from the recordings API).
fn stored_data(r: &CatalogRecording) -> serde_json::Map<String, serde_json::Value> {
    let value = serde_json::json!({
        "personId": r.person,
        "kind": r.kind,
        "direction": r.direction.as_str(),
        "start": r.start.to_rfc3339(),
        "end": r.end.to_rfc3339(),
        "durationMs": r.duration_ms,
        "format": r.format,
        "sizeBytes": r.size_bytes,
        "sha256": r.sha256,
        "expiresAt": r.expires_at.map(Time::to_rfc3339),
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a json! object is an object"),
    }
}

/// The plan whose recordings legal holds by person or range do not cover (see
/// [`crate::policydb::holds`]).
const UNHELD_PLAN: &str = "dubber-go";

/// SQL saying `recordings` row `r` (a table name or alias) is covered by hold `h`, active or
/// not.
pub(super) fn covers(r: &str) -> String {
    format!(
        "h.org_id = {r}.org_id AND ( \
         (h.recording_id <> '' AND h.recording_id = {r}.id) OR \
         (h.recording_id = '' AND {r}.plan <> '{UNHELD_PLAN}' \
          AND (h.person = '' OR h.person = {r}.person) \
          AND (h.from_at IS NULL OR {r}.start_at >= h.from_at) \
          AND (h.to_at IS NULL OR {r}.start_at < h.to_at)))"
    )
}

/// SQL saying some active hold covers `recordings` row `r` (a table name or alias).
pub(super) fn actively_held(r: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL AND {})",
        covers(r)
    )
}

/// Flags row (`org_id`, `id`) held when an active legal hold covers it; true if it is held.
async fn hold_if_covered(
    tx: &mut sqlx::Transaction<'static, Any>,
    org_id: &str,
    id: &str,
) -> Result<bool, DbError> {
    let sql = format!(
        "UPDATE recordings SET legal_hold = 1 WHERE org_id = $1 AND id = $2 \
         AND legal_hold = 0 AND {}",
        actively_held("recordings")
    );
    sqlx::query(&sql)
        .bind(org_id)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let held: Option<i64> =
        sqlx::query_scalar("SELECT legal_hold FROM recordings WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(held.unwrap_or(0) != 0)
}

/// Insert, or on the same (organisation, id) replace every column but the legal hold.
fn upsert_sql() -> String {
    format!(
        "INSERT INTO recordings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) \
         ON CONFLICT (org_id, id) DO UPDATE SET person = excluded.person, \
         location_id = excluded.location_id, participants = excluded.participants, \
         direction = excluded.direction, kind = excluded.kind, \
         start_at = excluded.start_at, end_at = excluded.end_at, \
         duration_ms = excluded.duration_ms, provider = excluded.provider, \
         plan = excluded.plan, retention = excluded.retention, \
         expires_at = excluded.expires_at, size_bytes = excluded.size_bytes, \
         sha256 = excluded.sha256, format = excluded.format, \
         destination = excluded.destination, prefix = excluded.prefix, \
         files = excluded.files, metadata_key = excluded.metadata_key, \
         ended = excluded.ended, stored_at = excluded.stored_at"
    )
}

/// The row's JSON columns: participants and files.
fn encoded(r: &CatalogRecording) -> Result<(String, String), DbError> {
    Ok((
        serde_json::to_string(&r.participants).map_err(DbError::Encode)?,
        serde_json::to_string(&r.files).map_err(DbError::Encode)?,
    ))
}

/// Binds every column of `r`, in [`COLUMNS`] order.
fn bind_row<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    r: &'q CatalogRecording,
    participants: String,
    files: String,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(&r.org_id)
        .bind(&r.id)
        .bind(r.person.as_deref().unwrap_or(""))
        .bind(r.location.as_deref().unwrap_or(""))
        .bind(participants)
        .bind(r.direction.as_str())
        .bind(&r.kind)
        .bind(r.start.to_rfc3339())
        .bind(r.end.to_rfc3339())
        .bind(clamp(r.duration_ms))
        .bind(&r.provider)
        .bind(&r.plan)
        .bind(&r.retention)
        .bind(r.expires_at.map(Time::to_rfc3339))
        .bind(i64::from(r.legal_hold))
        .bind(clamp(r.size_bytes))
        .bind(&r.sha256)
        .bind(&r.format)
        .bind(&r.destination)
        .bind(&r.prefix)
        .bind(files)
        .bind(&r.metadata_key)
        .bind(&r.ended)
        .bind(r.stored_at.to_rfc3339())
}

/// A `LIKE` pattern that finds `text` anywhere, case-insensitively, with `%` and `_` in it
/// standing for themselves (they are dropped: names and addresses rarely hold them, and no
/// escape clause works the same on both databases).
fn like_pattern(text: &str) -> String {
    let plain: String = text
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect();
    format!("%{plain}%")
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `recordings` row as a [`CatalogRecording`].
pub(super) fn catalog_row(row: &AnyRow) -> Result<CatalogRecording, DbError> {
    let id: String = row.try_get("id")?;
    let corrupt = |reason: String| DbError::Corrupt {
        kind: "recording".into(),
        id: id.clone(),
        reason,
    };
    let time = |column: &str| -> Result<Option<Time>, DbError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| Time::parse_rfc3339(&t).ok_or_else(|| corrupt(format!("{column} {t:?}"))))
            .transpose()
    };
    let required = |column: &str| -> Result<Time, DbError> {
        time(column)?.ok_or_else(|| corrupt(format!("no {column}")))
    };
    let text = |column: &str| -> Result<Option<String>, DbError> {
        let text: String = row.try_get(column)?;
        Ok((!text.is_empty()).then_some(text))
    };
    let count = |column: &str| -> Result<u64, DbError> {
        let n: i64 = row.try_get(column)?;
        Ok(n.max(0) as u64)
    };
    let participants: String = row.try_get("participants")?;
    let files: String = row.try_get("files")?;
    let direction: String = row.try_get("direction")?;
    let hold: i64 = row.try_get("legal_hold")?;
    Ok(CatalogRecording {
        org_id: row.try_get("org_id")?,
        person: text("person")?,
        location: text("location_id")?,
        participants: serde_json::from_str(&participants)
            .map_err(|e| corrupt(format!("participants: {e}")))?,
        direction: Direction::parse(&direction),
        kind: row.try_get("kind")?,
        start: required("start_at")?,
        end: required("end_at")?,
        duration_ms: count("duration_ms")?,
        provider: row.try_get("provider")?,
        plan: row.try_get("plan")?,
        retention: row.try_get("retention")?,
        expires_at: time("expires_at")?,
        legal_hold: hold != 0,
        size_bytes: count("size_bytes")?,
        sha256: row.try_get("sha256")?,
        format: row.try_get("format")?,
        destination: row.try_get("destination")?,
        prefix: row.try_get("prefix")?,
        files: serde_json::from_str(&files).map_err(|e| corrupt(format!("files: {e}")))?,
        metadata_key: row.try_get("metadata_key")?,
        ended: row.try_get("ended")?,
        stored_at: required("stored_at")?,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_text_is_found_anywhere_and_wildcards_stand_for_nothing() {
        assert_eq!(like_pattern("Alice"), "%alice%");
        assert_eq!(like_pattern("50%_off\\"), "%50off%");
    }
}
