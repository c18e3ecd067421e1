//! Legal holds: an organisation's orders to keep recordings whatever their retention says.
//! A hold names one recording, or a person (or everyone) and a range of start times; it covers
//! the matching recordings catalogued now AND those catalogued later while it is active (a hold
//! on a person under investigation catches their next call). Owns the `legal_holds` table and
//! keeps the catalog's `recordings.legal_hold` flag equal to "some active hold covers the row":
//! set on the rows a hold covers when it is placed, set by [`PolicyDb::put_recording`] on a row
//! written while a hold covering it is active, cleared on release only from rows no other
//! active hold covers. Must never delete a recording or decide who may hold (the API does).
//!
//! Holds by person or range cover recordings on paid plans only: on Dubber Go only the
//! recorded person reaches a recording, and nobody else may keep it from its retention. A hold
//! on one recording covers it whatever its plan (the API refuses it on Dubber Go).
//!
//! Placing and releasing are audited (kind [`LEGAL_HOLD`], the hold's id) in the transaction
//! that changes the flags: both land or neither does.

use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeSet;

use super::recordings::{actively_held, columns_of, covers, CatalogRecording};
use super::{Change, DbError, PolicyDb, MAX_PAGE};
use crate::time::Time;

/// The audit kind of a hold placed or released.
pub const LEGAL_HOLD: &str = "legalHold";

/// What a new hold covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoldScope {
    /// One recording, by id; the other fields are then ignored.
    pub recording: Option<String>,
    /// Only this person's recordings (everyone's when `None`).
    pub person: Option<String>,
    /// Recordings started at or after.
    pub from: Option<Time>,
    /// Recordings started before.
    pub to: Option<Time>,
}

/// A hold, active or released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegalHold {
    /// `hold-N`, N its audit number when placed: unique, no randomness needed.
    pub id: String,
    pub org_id: String,
    pub scope: HoldScope,
    pub reason: String,
    pub created_by: String,
    pub created_at: Time,
    pub released_by: Option<String>,
    pub released_at: Option<Time>,
}

const HOLD_COLUMNS: &str = "org_id, id, recording_id, person, from_at, to_at, reason, \
    created_by, created_at, released_by, released_at";

impl PolicyDb {
    /// Places a hold on what `scope` covers in `org_id` and audits it; returns the hold and
    /// every row it covers (their objects are what a store's own lock should keep). A
    /// recording's hold placed again while active is the one already there (nothing new is
    /// written or audited).
    pub async fn place_hold(
        &self,
        org_id: &str,
        scope: &HoldScope,
        reason: &str,
        change: Change<'_>,
        audit: impl FnOnce(&LegalHold) -> serde_json::Value,
    ) -> Result<(LegalHold, Vec<CatalogRecording>), DbError> {
        let mut tx = self.begin_write().await?;
        if let Some(recording) = &scope.recording {
            let sql = format!(
                "SELECT {HOLD_COLUMNS} FROM legal_holds WHERE org_id = $1 AND recording_id = $2 \
                 AND released_at IS NULL"
            );
            let found = sqlx::query(&sql)
                .bind(org_id)
                .bind(recording)
                .fetch_optional(&mut *tx.tx)
                .await?;
            if let Some(row) = found {
                let hold = hold_row(&row)?;
                let covered = covered(&mut tx.tx, &hold.org_id, &hold.id).await?;
                return Ok((hold, covered));
            }
        }
        let seq = tx
            .seq
            .expect("a write transaction holds its audit number until used");
        let hold = LegalHold {
            id: format!("hold-{seq}"),
            org_id: org_id.into(),
            scope: match &scope.recording {
                Some(id) => HoldScope {
                    recording: Some(id.clone()),
                    ..HoldScope::default()
                },
                None => scope.clone(),
            },
            reason: reason.into(),
            created_by: change.actor.into(),
            created_at: change.at,
            released_by: None,
            released_at: None,
        };
        sqlx::query(&format!(
            "INSERT INTO legal_holds ({HOLD_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)"
        ))
        .bind(&hold.org_id)
        .bind(&hold.id)
        .bind(hold.scope.recording.as_deref().unwrap_or(""))
        .bind(hold.scope.person.as_deref().unwrap_or(""))
        .bind(hold.scope.from.map(Time::to_rfc3339))
        .bind(hold.scope.to.map(Time::to_rfc3339))
        .bind(&hold.reason)
        .bind(&hold.created_by)
        .bind(hold.created_at.to_rfc3339())
        .execute(&mut *tx.tx)
        .await?;
        sqlx::query(&format!(
            "UPDATE recordings SET legal_hold = 1 WHERE org_id = $1 AND EXISTS \
             (SELECT 1 FROM legal_holds h WHERE h.org_id = $1 AND h.id = $2 AND {})",
            covers("recordings")
        ))
        .bind(org_id)
        .bind(&hold.id)
        .execute(&mut *tx.tx)
        .await?;
        let after = serde_json::to_string(&audit(&hold)).map_err(DbError::Encode)?;
        tx.audit(org_id, LEGAL_HOLD, &hold.id, change, None, Some(&after))
            .await?;
        let covered = covered(&mut tx.tx, org_id, &hold.id).await?;
        tx.commit().await?;
        Ok((hold, covered))
    }

    /// Releases hold `hold_id` of `org_id` and audits it; returns the hold and the rows no
    /// longer held by anything (those a store's lock may now let go). `None` when there is no
    /// such hold; a hold already released is returned as it is, with no rows.
    pub async fn release_hold(
        &self,
        org_id: &str,
        hold_id: &str,
        change: Change<'_>,
        audit: impl FnOnce(&LegalHold) -> serde_json::Value,
    ) -> Result<Option<(LegalHold, Vec<CatalogRecording>)>, DbError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {HOLD_COLUMNS} FROM legal_holds WHERE org_id = $1 AND id = $2");
        let Some(row) = sqlx::query(&sql)
            .bind(org_id)
            .bind(hold_id)
            .fetch_optional(&mut *tx.tx)
            .await?
        else {
            return Ok(None);
        };
        let mut hold = hold_row(&row)?;
        if hold.released_at.is_some() {
            return Ok(Some((hold, Vec::new())));
        }
        sqlx::query(
            "UPDATE legal_holds SET released_by = $3, released_at = $4 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(hold_id)
        .bind(change.actor)
        .bind(change.at.to_rfc3339())
        .execute(&mut *tx.tx)
        .await?;
        hold.released_by = Some(change.actor.into());
        hold.released_at = Some(change.at);
        sqlx::query(&format!(
            "UPDATE recordings SET legal_hold = 0 WHERE org_id = $1 AND legal_hold = 1 \
             AND EXISTS (SELECT 1 FROM legal_holds h WHERE h.org_id = $1 AND h.id = $2 AND {}) \
             AND NOT {}",
            covers("recordings"),
            actively_held("recordings")
        ))
        .bind(org_id)
        .bind(hold_id)
        .execute(&mut *tx.tx)
        .await?;
        // Every row the hold covered was flagged while it was active: those flagged no more
        // are the ones it alone held.
        let released: Vec<CatalogRecording> = covered(&mut tx.tx, org_id, hold_id)
            .await?
            .into_iter()
            .filter(|r| !r.legal_hold)
            .collect();
        let after = serde_json::to_string(&audit(&hold)).map_err(DbError::Encode)?;
        tx.audit(org_id, LEGAL_HOLD, hold_id, change, None, Some(&after))
            .await?;
        tx.commit().await?;
        Ok(Some((hold, released)))
    }

    /// The active hold placed on recording `recording_id` itself, if any.
    pub async fn recording_hold(
        &self,
        org_id: &str,
        recording_id: &str,
    ) -> Result<Option<LegalHold>, DbError> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds WHERE org_id = $1 AND recording_id = $2 \
             AND released_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(org_id)
            .bind(recording_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(hold_row).transpose()
    }

    /// `org_id`'s holds, newest first, active and released, at most [`MAX_PAGE`].
    pub async fn legal_holds(&self, org_id: &str) -> Result<Vec<LegalHold>, DbError> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM legal_holds WHERE org_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .bind(MAX_PAGE as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(hold_row).collect()
    }

    /// The key prefixes of every held recording, in every organisation and destination: what
    /// the sweeper and a plan migration must leave alone.
    pub async fn held_prefixes(&self) -> Result<BTreeSet<String>, DbError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT prefix FROM recordings WHERE legal_hold = 1")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().collect())
    }
}

/// Every row hold `hold_id` covers (whether the hold is active or not).
async fn covered(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org_id: &str,
    hold_id: &str,
) -> Result<Vec<CatalogRecording>, DbError> {
    let sql = format!(
        "SELECT {} FROM recordings r, legal_holds h \
         WHERE r.org_id = $1 AND h.org_id = $1 AND h.id = $2 AND {} \
         ORDER BY r.start_at, r.id",
        columns_of("r"),
        covers("r")
    );
    let rows = sqlx::query(&sql)
        .bind(org_id)
        .bind(hold_id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(super::recordings::catalog_row).collect()
}

/// A `legal_holds` row as a [`LegalHold`].
fn hold_row(row: &AnyRow) -> Result<LegalHold, DbError> {
    let id: String = row.try_get("id")?;
    let time = |column: &str| -> Result<Option<Time>, DbError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| {
            Time::parse_rfc3339(&t).ok_or_else(|| DbError::Corrupt {
                kind: "legalHold".into(),
                id: id.clone(),
                reason: format!("{column} {t:?}"),
            })
        })
        .transpose()
    };
    let text = |column: &str| -> Result<Option<String>, DbError> {
        let text: String = row.try_get(column)?;
        Ok((!text.is_empty()).then_some(text))
    };
    Ok(LegalHold {
        org_id: row.try_get("org_id")?,
        scope: HoldScope {
            recording: text("recording_id")?,
            person: text("person")?,
            from: time("from_at")?,
            to: time("to_at")?,
        },
        reason: row.try_get("reason")?,
        created_by: row.try_get("created_by")?,
        created_at: time("created_at")?.unwrap_or(Time::ZERO),
        released_by: row.try_get("released_by")?,
        released_at: time("released_at")?,
        id,
    })
}
