//! Persistence for the recording policy: JSON documents by kind and id, the audit trail of
//! every change, and hashed bearer tokens; in embedded SQLite (one file, the default) or in
//! PostgreSQL (one database shared by a fleet of workers), with the same schema
//! ([`schema::MIGRATIONS`]) and the same SQL on both, through sqlx's `Any` driver. Typed at
//! the edges only: callers hand in and get back their own `Serialize`/`Deserialize` types; this
//! module never interprets a document and never decides policy.
//!
//! - **Writes are serialised.** Every write transaction begins by taking the next audit
//!   sequence number (`UPDATE sequences ... RETURNING`). That row lock (PostgreSQL) or write
//!   lock (SQLite) holds until commit, so a write reads the current row and no other write can
//!   slip in before it commits. Policy changes are rare admin actions; readers never wait.
//! - **No lost writes.** [`PolicyDb::update`] takes the version the caller read and refuses a
//!   stale one with [`DbError::Conflict`] (for an API's read-edit-save); [`PolicyDb::modify`]
//!   reads, edits and writes inside one write transaction, so concurrent edits apply one after
//!   another and none is lost.
//! - **Audited atomically.** Every insert, update and delete writes its audit row (actor, time,
//!   body before and after) in the same transaction: both land or neither does.
//!   [`PolicyDb::write_all`] writes several documents (and their audit rows) in one
//!   transaction, for documents that must change together. Audit sequence
//!   numbers have no gaps and follow commit order, so reading "after `seq`" misses nothing.
//! - **Tenants.** Every document belongs to one organisation, fixed at insert. Reads that take
//!   an `org_id` filter on it in SQL.
//! - **Time is an input** ([`Change::at`]); this module reads no clock.

pub mod cache;
mod connect;
pub mod holds;
pub mod recordings;
pub mod schema;
pub(crate) mod token;
pub mod webhooks;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};
use std::path::PathBuf;

use crate::time::Time;

pub use connect::{Create, MAX_CONNECTIONS};
pub use token::{NewToken, Revoked, TokenInfo, TOKEN_PREFIX};

/// The most rows one [`PolicyDb::list`] or [`PolicyDb::audit`] call returns; page on from the
/// last one for more.
pub const MAX_PAGE: usize = 1000;

/// What went wrong in the policy store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite://PATH` nor `postgres://...`.
    #[error("unsupported policy database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database refused a statement or could not be reached.
    #[error("policy database: {0}")]
    Sql(#[from] sqlx::Error),
    /// The PostgreSQL server (host:port) refused or did not answer.
    #[error("cannot connect to the policy database at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// A read found no SQLite database at this path (it creates none).
    #[error(
        "no policy database at {}: reading creates none (`callrec serve`, `callrec token \
         create` or a `callrec policy POST|PUT` creates it; is the path right?)",
        path.display()
    )]
    NoDatabase { path: PathBuf },
    /// The SQLite database file could not be opened (or created).
    #[error("cannot open the policy database file {}: {reason}", path.display())]
    CannotOpen { path: PathBuf, reason: String },
    /// The database was migrated by a newer callrec; this one does not know its schema.
    #[error("policy database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// A document could not be encoded as JSON.
    #[error("cannot encode a policy document: {0}")]
    Encode(serde_json::Error),
    /// A stored row does not decode (into the caller's type, or as a time or JSON).
    #[error("stored {kind} {id:?} does not decode: {reason}")]
    Corrupt {
        kind: String,
        id: String,
        reason: String,
    },
    /// No document of this kind has this id.
    #[error("no {kind} {id:?}")]
    NotFound { kind: String, id: String },
    /// Insert: a document of this kind already has this id.
    #[error("{kind} {id:?} already exists")]
    Exists { kind: String, id: String },
    /// Update: the document changed since the caller read it.
    #[error("{kind} {id:?} is at version {actual}, not {expected}")]
    Conflict {
        kind: String,
        id: String,
        expected: i64,
        actual: i64,
    },
    /// The operating system's random generator failed.
    #[error("no randomness for a token: {0}")]
    Random(String),
}

/// Who makes a change, and when (recorded in the audit trail and `updated_at`).
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub at: Time,
}

/// A stored document with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub id: String,
    pub org_id: String,
    /// 1 when inserted, one more at each change.
    pub version: i64,
    pub updated_at: Time,
    pub value: T,
}

/// One change, as the audit trail keeps it. `before` is `None` for an insert, `after` for a
/// delete.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub org_id: String,
    pub kind: String,
    pub id: String,
    pub actor: String,
    pub at: Time,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A handle on the policy database; cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct PolicyDb {
    pool: AnyPool,
    /// Woken after this handle or a clone of it commits a completion event to the outbox, so
    /// the deliverer of the same process starts at once instead of at its next poll
    /// ([`PolicyDb::outbox_written`]); other processes' events are found by polling.
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

/// The highest migration this build knows.
const MIGRATIONS_KNOWN: i64 = schema::MIGRATIONS.len() as i64;

/// The columns every document read selects, in [`Stored::from_row`]'s terms.
const DOCUMENT_COLUMNS: &str = "kind, id, org_id, version, body, updated_at";

/// A document row before its body is decoded.
struct Stored {
    kind: String,
    id: String,
    org_id: String,
    version: i64,
    body: String,
    updated_at: String,
}

impl Stored {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(Stored {
            kind: row.try_get("kind")?,
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            version: row.try_get("version")?,
            body: row.try_get("body")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    fn corrupt(&self, reason: String) -> DbError {
        DbError::Corrupt {
            kind: self.kind.clone(),
            id: self.id.clone(),
            reason,
        }
    }

    fn decode<T: DeserializeOwned>(self) -> Result<Versioned<T>, DbError> {
        let value = serde_json::from_str(&self.body).map_err(|e| self.corrupt(e.to_string()))?;
        let updated_at = Time::parse_rfc3339(&self.updated_at)
            .ok_or_else(|| self.corrupt(format!("updated_at {:?}", self.updated_at)))?;
        Ok(Versioned {
            id: self.id,
            org_id: self.org_id,
            version: self.version,
            updated_at,
            value,
        })
    }
}

fn encode<T: Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(DbError::Encode)
}

/// One write of a [`PolicyDb::write_all`] transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<'a> {
    /// A new document at version 1 in `org_id` ([`DbError::Exists`] if the id is taken).
    Insert {
        kind: &'a str,
        id: &'a str,
        org_id: &'a str,
        body: String,
    },
    /// A document's new body, if it is still at `expected_version` ([`DbError::Conflict`]);
    /// the same body writes nothing.
    Update {
        kind: &'a str,
        id: &'a str,
        expected_version: i64,
        body: String,
    },
    /// Removes a document, if it is at `expected_version` (`None`: whatever its version).
    Delete {
        kind: &'a str,
        id: &'a str,
        expected_version: Option<i64>,
    },
}

impl<'a> Write<'a> {
    pub fn insert<T: Serialize>(
        kind: &'a str,
        id: &'a str,
        org_id: &'a str,
        value: &T,
    ) -> Result<Self, DbError> {
        Ok(Write::Insert {
            kind,
            id,
            org_id,
            body: encode(value)?,
        })
    }

    pub fn update<T: Serialize>(
        kind: &'a str,
        id: &'a str,
        expected_version: i64,
        value: &T,
    ) -> Result<Self, DbError> {
        Ok(Write::Update {
            kind,
            id,
            expected_version,
            body: encode(value)?,
        })
    }
}

/// A write transaction holding the write lock.
struct Tx {
    tx: Transaction<'static, Any>,
    /// The audit number taken with the lock, until a change uses it; each further change
    /// takes the next one.
    seq: Option<i64>,
    /// Whether a change was written (else there is nothing to commit).
    written: bool,
}

impl PolicyDb {
    /// Connects to `sqlite://PATH` (the file is created if missing, and put in WAL mode so
    /// readers never wait for a writer) or `postgres://USER@HOST:PORT/DB`. Run
    /// [`PolicyDb::migrate`] before use.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        PolicyDb::open_with(url, Create::IfMissing).await
    }

    /// [`PolicyDb::open`], creating a missing SQLite file only if `create` says so.
    pub async fn open_with(url: &str, create: Create) -> Result<Self, DbError> {
        let pool = connect::connect(url, create).await?;
        Ok(PolicyDb {
            pool,
            outbox: Default::default(),
        })
    }

    /// Brings the schema up to date; safe to run from many processes at once (each migration
    /// is applied by whichever gets its `schema_version` row first).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let create = "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)";
        // Two PostgreSQL sessions creating the same table at once may fail one of them even
        // with IF NOT EXISTS; by the second try the table is there.
        if sqlx::query(create).execute(&self.pool).await.is_err() {
            sqlx::query(create).execute(&self.pool).await?;
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        let found = found.unwrap_or(0);
        if found > MIGRATIONS_KNOWN {
            return Err(DbError::SchemaTooNew {
                found,
                known: MIGRATIONS_KNOWN,
            });
        }
        let applied = usize::try_from(found).unwrap_or(0);
        for (version, statements) in (1..).zip(schema::MIGRATIONS).skip(applied) {
            let mut tx = self.pool.begin().await?;
            let claimed = sqlx::query(
                "INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                continue; // Another process applied it; dropping `tx` rolls back.
            }
            for statement in *statements {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The document `kind`/`id`, in any organisation.
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, DbError> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Stored::from_row(&r)?.decode()).transpose()
    }

    /// The document `kind`/`id` if it belongs to `org_id`.
    pub async fn get_in<T: DeserializeOwned>(
        &self,
        org_id: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, DbError> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2 AND org_id = $3"
        );
        let row = sqlx::query(&sql)
            .bind(kind)
            .bind(id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Stored::from_row(&r)?.decode()).transpose()
    }

    /// The documents of `kind` in `org_id` by id, those after `after_id` (if given), at most
    /// `limit` (capped at [`MAX_PAGE`]).
    pub async fn list<T: DeserializeOwned>(
        &self,
        kind: &str,
        org_id: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Versioned<T>>, DbError> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND org_id = $2 \
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(kind)
            .bind(org_id)
            .bind(after_id)
            .bind(limit.min(MAX_PAGE) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Stored::from_row(r)?.decode()).collect()
    }

    /// Stores a new document at version 1 in `org_id` (for good).
    pub async fn insert<T: Serialize>(
        &self,
        kind: &str,
        id: &str,
        org_id: &str,
        value: &T,
        change: Change<'_>,
    ) -> Result<i64, DbError> {
        self.write_one(Write::insert(kind, id, org_id, value)?, change)
            .await
    }

    /// Replaces the document's body if it is still at `expected_version`, and
    /// returns its new version; a stale version is a [`DbError::Conflict`] and changes nothing.
    /// Replacing it with what it already holds writes nothing and keeps the version.
    pub async fn update<T: Serialize>(
        &self,
        kind: &str,
        id: &str,
        expected_version: i64,
        value: &T,
        change: Change<'_>,
    ) -> Result<i64, DbError> {
        let write = Write::update(kind, id, expected_version, value)?;
        self.write_one(write, change).await
    }

    /// Applies `edit` to the current document and stores the result, all under the write lock,
    /// so concurrent `modify` calls never lose each other's changes. `edit` refusing leaves
    /// the document as it was. An edit that changes nothing writes nothing.
    pub async fn modify<T, E>(
        &self,
        kind: &str,
        id: &str,
        change: Change<'_>,
        edit: impl FnOnce(T) -> Result<T, E>,
    ) -> Result<Versioned<T>, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<DbError>,
    {
        let mut tx = self.begin_write().await?;
        let stored = read_existing(&mut tx.tx, kind, id).await?;
        let current: T =
            serde_json::from_str(&stored.body).map_err(|e| stored.corrupt(e.to_string()))?;
        let value = edit(current)?;
        let body = encode(&value)?;
        let version = tx.replace(&stored, &body, change).await?;
        tx.commit().await?;
        let updated_at = if version == stored.version {
            Time::parse_rfc3339(&stored.updated_at)
                .ok_or_else(|| stored.corrupt(format!("updated_at {:?}", stored.updated_at)))?
        } else {
            change.at
        };
        Ok(Versioned {
            id: stored.id,
            org_id: stored.org_id,
            version,
            updated_at,
            value,
        })
    }

    /// Removes the document.
    pub async fn delete(&self, kind: &str, id: &str, change: Change<'_>) -> Result<(), DbError> {
        let write = Write::Delete {
            kind,
            id,
            expected_version: None,
        };
        self.write_one(write, change).await?;
        Ok(())
    }

    /// Applies `writes` in order in one transaction, each audited as `change` in a row of its
    /// own: all of them land, or (the first refusal is returned) none. For documents that
    /// must change together, such as a document and another keyed by something it must hold
    /// alone (the primary key refusing a second holder even when two writers race).
    pub async fn write_all(&self, writes: &[Write<'_>], change: Change<'_>) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        for write in writes {
            tx.apply(write, change).await?;
        }
        tx.commit().await
    }

    async fn write_one(&self, write: Write<'_>, change: Change<'_>) -> Result<i64, DbError> {
        let mut tx = self.begin_write().await?;
        let version = tx.apply(&write, change).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The changes to `org_id`'s documents after `since_seq` (0 for all), oldest first, at
    /// most `limit` (capped at [`MAX_PAGE`]).
    pub async fn audit(
        &self,
        org_id: &str,
        since_seq: i64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT seq, org_id, kind, id, actor, at, before, after FROM audit \
             WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(org_id)
        .bind(since_seq)
        .bind(limit.min(MAX_PAGE) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// The documents of `kind` in every organisation by id, those after `after_id` (if given),
    /// at most `limit` (capped at [`MAX_PAGE`]): for a process that caches all of them.
    pub async fn list_kind<T: DeserializeOwned>(
        &self,
        kind: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Versioned<T>>, DbError> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(kind)
            .bind(after_id)
            .bind(limit.min(MAX_PAGE) as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Stored::from_row(r)?.decode()).collect()
    }

    /// The audit number of the last committed change (0 before the first): every change
    /// after it is in [`PolicyDb::changes_since`] of it.
    pub async fn audit_seq(&self) -> Result<i64, DbError> {
        let seq = sqlx::query_scalar("SELECT value FROM sequences WHERE name = 'audit'")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }

    /// The changes to every organisation's documents after `since_seq`, oldest first, at most
    /// `limit` (capped at [`MAX_PAGE`]): what a cache replays to stay current.
    pub async fn changes_since(
        &self,
        since_seq: i64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT seq, org_id, kind, id, actor, at, before, after FROM audit \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(since_seq)
        .bind(limit.min(MAX_PAGE) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Starts a write transaction: takes the next audit number, and with it the write lock.
    async fn begin_write(&self) -> Result<Tx, DbError> {
        let mut tx = self.pool.begin().await?;
        let seq = take_seq(&mut tx).await?;
        Ok(Tx {
            tx,
            seq: Some(seq),
            written: false,
        })
    }
}

/// The next audit number (and, in the transaction's first call, the write lock).
async fn take_seq(tx: &mut Transaction<'static, Any>) -> Result<i64, DbError> {
    let seq = sqlx::query_scalar(
        "UPDATE sequences SET value = value + 1 WHERE name = 'audit' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(seq)
}

impl Tx {
    /// Applies one write and returns the document's version after it (0: deleted).
    async fn apply(&mut self, write: &Write<'_>, change: Change<'_>) -> Result<i64, DbError> {
        match *write {
            Write::Insert {
                kind,
                id,
                org_id,
                ref body,
            } => {
                if read(&mut self.tx, kind, id).await?.is_some() {
                    return Err(DbError::Exists {
                        kind: kind.into(),
                        id: id.into(),
                    });
                }
                sqlx::query(
                    "INSERT INTO documents (kind, id, org_id, version, body, updated_at) \
                     VALUES ($1, $2, $3, 1, $4, $5)",
                )
                .bind(kind)
                .bind(id)
                .bind(org_id)
                .bind(body)
                .bind(change.at.to_rfc3339())
                .execute(&mut *self.tx)
                .await?;
                self.audit(org_id, kind, id, change, None, Some(body))
                    .await?;
                Ok(1)
            }
            Write::Update {
                kind,
                id,
                expected_version,
                ref body,
            } => {
                let stored = read_existing(&mut self.tx, kind, id).await?;
                check_version(&stored, Some(expected_version))?;
                self.replace(&stored, body, change).await
            }
            Write::Delete {
                kind,
                id,
                expected_version,
            } => {
                let stored = read_existing(&mut self.tx, kind, id).await?;
                check_version(&stored, expected_version)?;
                sqlx::query("DELETE FROM documents WHERE kind = $1 AND id = $2")
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?;
                let (org_id, before) = (&stored.org_id, Some(stored.body.as_str()));
                self.audit(org_id, kind, id, change, before, None).await?;
                Ok(0)
            }
        }
    }

    /// Stores `body` over `stored` and returns the new version; or, when it is the same,
    /// writes nothing and returns the current one.
    async fn replace(
        &mut self,
        stored: &Stored,
        body: &str,
        change: Change<'_>,
    ) -> Result<i64, DbError> {
        if body == stored.body {
            return Ok(stored.version);
        }
        let version = stored.version + 1;
        sqlx::query(
            "UPDATE documents SET version = $3, body = $4, updated_at = $5 \
             WHERE kind = $1 AND id = $2",
        )
        .bind(&stored.kind)
        .bind(&stored.id)
        .bind(version)
        .bind(body)
        .bind(change.at.to_rfc3339())
        .execute(&mut *self.tx)
        .await?;
        let (org_id, kind, id) = (&stored.org_id, &stored.kind, &stored.id);
        self.audit(org_id, kind, id, change, Some(&stored.body), Some(body))
            .await?;
        Ok(version)
    }

    /// Writes the audit row of one change, numbered after the one before.
    async fn audit(
        &mut self,
        org_id: &str,
        kind: &str,
        id: &str,
        change: Change<'_>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<(), DbError> {
        let seq = match self.seq.take() {
            Some(seq) => seq,
            None => take_seq(&mut self.tx).await?,
        };
        sqlx::query(
            "INSERT INTO audit (seq, org_id, kind, id, actor, at, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(org_id)
        .bind(kind)
        .bind(id)
        .bind(change.actor)
        .bind(change.at.to_rfc3339())
        .bind(before)
        .bind(after)
        .execute(&mut *self.tx)
        .await?;
        self.written = true;
        Ok(())
    }

    /// Commits what was written; a transaction that wrote nothing is rolled back, so the
    /// audit number it took is not used up.
    async fn commit(self) -> Result<(), DbError> {
        if self.written {
            self.tx.commit().await?;
        }
        Ok(())
    }
}

/// Refuses `stored` unless it is at `expected` (any version when `None`).
fn check_version(stored: &Stored, expected: Option<i64>) -> Result<(), DbError> {
    match expected {
        Some(expected) if expected != stored.version => Err(DbError::Conflict {
            kind: stored.kind.clone(),
            id: stored.id.clone(),
            expected,
            actual: stored.version,
        }),
        _ => Ok(()),
    }
}

async fn read(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    id: &str,
) -> Result<Option<Stored>, DbError> {
    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(kind)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| Stored::from_row(&r)).transpose()
}

async fn read_existing(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    id: &str,
) -> Result<Stored, DbError> {
    read(tx, kind, id).await?.ok_or_else(|| DbError::NotFound {
        kind: kind.into(),
        id: id.into(),
    })
}

fn audit_record(row: &AnyRow) -> Result<AuditRecord, DbError> {
    let (kind, id): (String, String) = (row.try_get("kind")?, row.try_get("id")?);
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |reason: String| DbError::Corrupt {
        kind: "audit".into(),
        id: seq.to_string(),
        reason,
    };
    let json = |column: &str| -> Result<Option<serde_json::Value>, DbError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("{column}: {e}"))))
            .transpose()
    };
    let at: String = row.try_get("at")?;
    Ok(AuditRecord {
        seq,
        org_id: row.try_get("org_id")?,
        at: Time::parse_rfc3339(&at).ok_or_else(|| corrupt(format!("at {at:?}")))?,
        actor: row.try_get("actor")?,
        before: json("before")?,
        after: json("after")?,
        kind,
        id,
    })
}
