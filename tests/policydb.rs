//! The policy store, each test run twice with the same body: on a fresh SQLite file, and on a
//! fresh schema of the real PostgreSQL that `scripts/test` starts (CALLREC_TEST_POSTGRES).

mod common;

use callrec::policydb::recordings::{
    CatalogFile, CatalogRecording, Direction, Participant, RecordingQuery,
};
use callrec::policydb::schema::MIGRATIONS;
use callrec::policydb::{
    AuditRecord, Change, DbError, NewToken, PolicyDb, Revoked, Versioned, Write, TOKEN_PREFIX,
};
use callrec::time::Time;
use common::sqlite::SqliteFile;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct User {
    name: String,
    count: u64,
}

fn user(name: &str, count: u64) -> User {
    User {
        name: name.into(),
        count,
    }
}

/// `secs` seconds after a fixed instant (whole milliseconds, as the store keeps them).
fn at(secs: u64) -> Time {
    Time::parse_rfc3339("2026-11-25T10:00:00Z").expect("valid")
        + std::time::Duration::from_secs(secs)
}

fn by(actor: &str, secs: u64) -> Change<'_> {
    Change {
        actor,
        at: at(secs),
    }
}

/// One test's database, not yet migrated, and what to remove afterwards.
struct TestDb {
    url: String,
    db: PolicyDb,
    _sqlite_file: Option<SqliteFile>,
}

impl TestDb {
    async fn sqlite(test: &str) -> TestDb {
        let file = SqliteFile::new("policydb", test);
        let url = file.url();
        let db = PolicyDb::open(&url).await.expect("open sqlite");
        TestDb {
            url,
            db,
            _sqlite_file: Some(file),
        }
    }

    /// A schema of its own in the test PostgreSQL, so tests running side by side do not meet.
    async fn postgres(test: &str) -> TestDb {
        let url = common::postgres::fresh_schema("t", test).await;
        let db = PolicyDb::open(&url).await.expect("open postgres");
        TestDb {
            url,
            db,
            _sqlite_file: None,
        }
    }

    async fn migrated(self) -> TestDb {
        self.db.migrate().await.expect("migrate");
        self
    }

    /// A plain connection to the same database, to look at rows behind the store's back.
    async fn raw(&self) -> AnyPool {
        AnyPool::connect(&self.url).await.expect("raw connection")
    }

    async fn audit_all(&self, org: &str) -> Vec<AuditRecord> {
        self.db.audit(org, 0, 1000).await.expect("audit")
    }
}

common::postgres::on_both!(
    round_trip,
    tenant_filtering,
    audit_rows_are_exact,
    failed_writes_leave_no_trace,
    audit_failure_undoes_the_change,
    stale_update_conflicts,
    concurrent_modify_never_loses_a_write,
    concurrent_updates_with_retry_never_lose_a_write,
    tokens,
    migrate_is_idempotent_and_concurrent,
    migrate_refuses_a_newer_schema,
    a_version_1_database_upgrades_and_keeps_its_data,
    several_writes_land_together_or_not_at_all,
    the_catalog_finds_a_person_s_recordings_by_date_newest_first,
    the_outbox_announces_each_recording_once_and_leases_each_event_to_one_worker,
);

async fn round_trip(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    assert_eq!(db.get::<User>("user", "u1").await.expect("get"), None);
    let v = db
        .insert("user", "u1", "org-a", &user("alice", 1), by("admin", 1))
        .await
        .expect("insert");
    assert_eq!(v, 1);
    let got = db.get::<User>("user", "u1").await.expect("get");
    let expected = Versioned {
        id: "u1".to_string(),
        org_id: "org-a".to_string(),
        version: 1,
        updated_at: at(1),
        value: user("alice", 1),
    };
    assert_eq!(got, Some(expected.clone()));

    // The same id under another kind is another document.
    db.insert("location", "u1", "org-a", &json!({"x": 1}), by("admin", 2))
        .await
        .expect("other kind");
    assert!(matches!(
        db.insert("user", "u1", "org-b", &user("mallory", 0), by("admin", 3)).await,
        Err(DbError::Exists { kind, id }) if kind == "user" && id == "u1"
    ));

    let v = db
        .update("user", "u1", 1, &user("alice", 2), by("bob", 4))
        .await
        .expect("update");
    assert_eq!(v, 2);
    let got = db
        .get::<User>("user", "u1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        (got.version, got.updated_at, got.value),
        (2, at(4), user("alice", 2))
    );

    // Writing what is there changes nothing: same version, no audit row.
    let audit_rows = t.audit_all("org-a").await.len();
    let v = db
        .update("user", "u1", 2, &user("alice", 2), by("bob", 5))
        .await
        .expect("no-op update");
    assert_eq!(v, 2);
    let got = db
        .modify("user", "u1", by("bob", 6), |u: User| Ok::<_, DbError>(u))
        .await
        .expect("no-op modify");
    assert_eq!((got.version, got.updated_at), (2, at(4)));
    assert_eq!(t.audit_all("org-a").await.len(), audit_rows);

    // A body that is not the caller's type is reported, not guessed at.
    assert!(matches!(
        db.get::<Vec<u8>>("user", "u1").await,
        Err(DbError::Corrupt { kind, id, .. }) if kind == "user" && id == "u1"
    ));

    db.delete("user", "u1", by("admin", 7))
        .await
        .expect("delete");
    assert_eq!(db.get::<User>("user", "u1").await.expect("get"), None);
    assert!(db
        .get::<serde_json::Value>("location", "u1")
        .await
        .expect("get")
        .is_some());
    for result in [
        db.delete("user", "u1", by("admin", 8)).await.map(|_| 0),
        db.update("user", "u1", 2, &user("x", 0), by("admin", 8))
            .await,
        db.modify("user", "u1", by("admin", 8), |u: User| Ok::<_, DbError>(u))
            .await
            .map(|v| v.version),
    ] {
        assert!(
            matches!(&result, Err(DbError::NotFound { kind, id }) if kind == "user" && id == "u1"),
            "{result:?}"
        );
    }
}

async fn tenant_filtering(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    for (id, org) in [
        ("a2", "org-a"),
        ("b1", "org-b"),
        ("a1", "org-a"),
        ("a3", "org-a"),
    ] {
        db.insert("user", id, org, &user(id, 0), by("admin", 1))
            .await
            .expect("insert");
    }
    db.insert("location", "a-loc", "org-a", &json!({}), by("admin", 1))
        .await
        .expect("insert");
    let ids = |docs: Vec<Versioned<User>>| docs.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let list = |org: &'static str, after: Option<&'static str>, limit| async move {
        ids(db
            .list::<User>("user", org, after, limit)
            .await
            .expect("list"))
    };
    assert_eq!(list("org-a", None, 10).await, ["a1", "a2", "a3"]);
    assert_eq!(list("org-b", None, 10).await, ["b1"]);
    assert!(list("org-c", None, 10).await.is_empty());
    // Pages.
    assert_eq!(list("org-a", None, 2).await, ["a1", "a2"]);
    assert_eq!(list("org-a", Some("a2"), 2).await, ["a3"]);
    assert!(list("org-a", Some("a3"), 2).await.is_empty());

    assert_eq!(
        db.get_in::<User>("org-a", "user", "b1")
            .await
            .expect("get_in"),
        None
    );
    let b1 = db
        .get_in::<User>("org-b", "user", "b1")
        .await
        .expect("get_in");
    assert_eq!(
        b1.map(|d| (d.org_id, d.value)),
        Some(("org-b".to_string(), user("b1", 0)))
    );

    let orgs_seen = |rows: Vec<AuditRecord>| {
        rows.into_iter()
            .map(|r| (r.org_id, r.id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        orgs_seen(t.audit_all("org-b").await),
        [("org-b".to_string(), "b1".to_string())]
    );
    let a_rows = orgs_seen(t.audit_all("org-a").await);
    assert_eq!(
        a_rows,
        [
            ("org-a", "a2"),
            ("org-a", "a1"),
            ("org-a", "a3"),
            ("org-a", "a-loc")
        ]
        .map(|(o, i)| (o.to_string(), i.to_string()))
    );
}

async fn audit_rows_are_exact(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.insert("user", "u1", "org-a", &user("alice", 0), by("ann", 1))
        .await
        .expect("insert");
    db.update("user", "u1", 1, &user("alice", 1), by("ben", 2))
        .await
        .expect("update");
    db.modify("user", "u1", by("cat", 3), |mut u: User| {
        u.name = "alicia".into();
        Ok::<_, DbError>(u)
    })
    .await
    .expect("modify");
    db.delete("user", "u1", by("dan", 4)).await.expect("delete");

    let record = |seq, actor: &str, secs, before, after| AuditRecord {
        seq,
        org_id: "org-a".into(),
        kind: "user".into(),
        id: "u1".into(),
        actor: actor.into(),
        at: at(secs),
        before,
        after,
    };
    let expected = vec![
        record(
            1,
            "ann",
            1,
            None,
            Some(json!({"name": "alice", "count": 0})),
        ),
        record(
            2,
            "ben",
            2,
            Some(json!({"name": "alice", "count": 0})),
            Some(json!({"name": "alice", "count": 1})),
        ),
        record(
            3,
            "cat",
            3,
            Some(json!({"name": "alice", "count": 1})),
            Some(json!({"name": "alicia", "count": 1})),
        ),
        record(
            4,
            "dan",
            4,
            Some(json!({"name": "alicia", "count": 1})),
            None,
        ),
    ];
    assert_eq!(t.audit_all("org-a").await, expected);
    assert_eq!(
        db.audit("org-a", 2, 1000).await.expect("audit"),
        expected[2..]
    );
    assert_eq!(
        db.audit("org-a", 1, 2).await.expect("audit"),
        expected[1..3]
    );
    assert!(db.audit("org-a", 4, 1000).await.expect("audit").is_empty());
}

/// A write that is refused changes neither the document nor the audit trail, and takes no
/// audit number.
async fn failed_writes_leave_no_trace(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.insert("user", "u1", "org-a", &user("alice", 0), by("admin", 1))
        .await
        .expect("insert");
    db.insert("user", "u2", "org-a", &user("bob", 0), by("admin", 1))
        .await
        .expect("insert");
    let before = (
        db.get::<User>("user", "u1").await.expect("get"),
        db.get::<User>("user", "u2").await.expect("get"),
        t.audit_all("org-a").await,
    );

    #[derive(Debug)]
    enum EditError {
        Db(DbError),
        Refused,
    }
    impl From<DbError> for EditError {
        fn from(e: DbError) -> Self {
            EditError::Db(e)
        }
    }
    let refused = db
        .modify("user", "u1", by("admin", 2), |_: User| {
            Err(EditError::Refused)
        })
        .await;
    match refused {
        Err(EditError::Refused) => {}
        Err(EditError::Db(e)) => panic!("modify: {e}"),
        Ok(v) => panic!("modify stored {v:?}"),
    }
    let conflict = db
        .update("user", "u1", 7, &user("x", 1), by("admin", 2))
        .await;
    assert!(matches!(
        conflict,
        Err(DbError::Conflict {
            expected: 7,
            actual: 1,
            ..
        })
    ));
    let exists = db
        .insert("user", "u2", "org-a", &user("x", 1), by("admin", 2))
        .await;
    assert!(matches!(exists, Err(DbError::Exists { .. })));

    let after = (
        db.get::<User>("user", "u1").await.expect("get"),
        db.get::<User>("user", "u2").await.expect("get"),
        t.audit_all("org-a").await,
    );
    assert_eq!(after, before);
    // The next change gets the next number: refused writes took none.
    db.update("user", "u1", 1, &user("alice", 1), by("admin", 3))
        .await
        .expect("update");
    let seqs: Vec<i64> = t.audit_all("org-a").await.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

/// `write_all`: every write lands, each with its own audit row numbered in order, or none does
/// (and the refused transaction uses up no audit number).
async fn several_writes_land_together_or_not_at_all(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.insert("user", "u1", "org-a", &user("alice", 0), by("admin", 1))
        .await
        .expect("insert");
    db.insert("claim", "c0", "org-b", &json!({}), by("admin", 2))
        .await
        .expect("insert");
    let together = |claim: &'static str, version: i64| {
        [
            Write::update("user", "u1", version, &user("alice", 1)).expect("encode"),
            Write::insert("claim", claim, "org-a", &json!({"user": "u1"})).expect("encode"),
        ]
    };
    let before = (
        db.get::<User>("user", "u1").await.expect("get"),
        t.audit_all("org-a").await,
    );
    let taken = db.write_all(&together("c0", 1), by("admin", 3)).await;
    assert!(
        matches!(&taken, Err(DbError::Exists { kind, id }) if kind == "claim" && id == "c0"),
        "{taken:?}"
    );
    let stale = db.write_all(&together("c1", 7), by("admin", 3)).await;
    assert!(
        matches!(
            &stale,
            Err(DbError::Conflict {
                expected: 7,
                actual: 1,
                ..
            })
        ),
        "{stale:?}"
    );
    let after = (
        db.get::<User>("user", "u1").await.expect("get"),
        t.audit_all("org-a").await,
    );
    assert_eq!(after, before);
    assert_eq!(
        db.get::<serde_json::Value>("claim", "c1")
            .await
            .expect("get"),
        None
    );

    db.write_all(&together("c1", 1), by("admin", 4))
        .await
        .expect("write_all");
    let u1 = db
        .get::<User>("user", "u1")
        .await
        .expect("get")
        .expect("u1");
    assert_eq!((u1.version, u1.value), (2, user("alice", 1)));
    let trail: Vec<(i64, String, String)> = t
        .audit_all("org-a")
        .await
        .into_iter()
        .map(|r| (r.seq, r.kind, r.id))
        .collect();
    let row = |seq, kind: &str, id: &str| (seq, kind.to_string(), id.to_string());
    assert_eq!(
        trail,
        [
            row(1, "user", "u1"),
            row(3, "user", "u1"),
            row(4, "claim", "c1")
        ]
    );

    // Deleting at a stale version changes nothing; at the current one, both go.
    let delete = |version| {
        [
            Write::Delete {
                kind: "claim",
                id: "c1",
                expected_version: Some(1),
            },
            Write::Delete {
                kind: "user",
                id: "u1",
                expected_version: Some(version),
            },
        ]
    };
    let stale = db.write_all(&delete(1), by("admin", 5)).await;
    assert!(matches!(stale, Err(DbError::Conflict { .. })), "{stale:?}");
    assert!(db
        .get::<serde_json::Value>("claim", "c1")
        .await
        .expect("get")
        .is_some());
    db.write_all(&delete(2), by("admin", 6))
        .await
        .expect("delete");
    assert_eq!(db.get::<User>("user", "u1").await.expect("get"), None);
    assert_eq!(
        db.get::<serde_json::Value>("claim", "c1")
            .await
            .expect("get"),
        None
    );
    let seqs: Vec<i64> = t.audit_all("org-a").await.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 3, 4, 5, 6]);
}

/// The audit row is written in the change's transaction: when it cannot be written, the
/// change is undone.
async fn audit_failure_undoes_the_change(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.insert("user", "u1", "org-a", &user("alice", 0), by("admin", 1))
        .await
        .expect("insert");
    let raw = t.raw().await;
    sqlx::query("ALTER TABLE audit RENAME TO audit_away")
        .execute(&raw)
        .await
        .expect("rename");
    let update = db
        .update("user", "u1", 1, &user("alice", 1), by("admin", 2))
        .await;
    assert!(matches!(update, Err(DbError::Sql(_))), "{update:?}");
    let modify = db
        .modify("user", "u1", by("admin", 2), |mut u: User| {
            u.count = 9;
            Ok::<_, DbError>(u)
        })
        .await;
    assert!(matches!(modify, Err(DbError::Sql(_))), "{modify:?}");
    let insert = db
        .insert("user", "u2", "org-a", &user("bob", 0), by("admin", 2))
        .await;
    assert!(matches!(insert, Err(DbError::Sql(_))), "{insert:?}");
    let delete = db.delete("user", "u1", by("admin", 2)).await;
    assert!(matches!(delete, Err(DbError::Sql(_))), "{delete:?}");
    sqlx::query("ALTER TABLE audit_away RENAME TO audit")
        .execute(&raw)
        .await
        .expect("rename back");

    let u1 = db
        .get::<User>("user", "u1")
        .await
        .expect("get")
        .expect("still there");
    assert_eq!((u1.version, u1.value), (1, user("alice", 0)));
    assert_eq!(db.get::<User>("user", "u2").await.expect("get"), None);
    let rows = t.audit_all("org-a").await;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
}

async fn stale_update_conflicts(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.insert("user", "u1", "org-a", &user("alice", 0), by("admin", 1))
        .await
        .expect("insert");
    // Two editors read version 1; the first to save wins, the second is told.
    let read = db
        .get::<User>("user", "u1")
        .await
        .expect("get")
        .expect("there");
    let first = db
        .update("user", "u1", read.version, &user("first", 0), by("one", 2))
        .await;
    assert_eq!(first.expect("first save"), 2);
    let second = db
        .update("user", "u1", read.version, &user("second", 0), by("two", 3))
        .await;
    match second {
        Err(DbError::Conflict {
            kind,
            id,
            expected,
            actual,
        }) => assert_eq!(
            (kind.as_str(), id.as_str(), expected, actual),
            ("user", "u1", 1, 2)
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let now = db
        .get::<User>("user", "u1")
        .await
        .expect("get")
        .expect("there");
    assert_eq!((now.version, now.value), (2, user("first", 0)));
}

const TASKS: u64 = 8;
const INCREMENTS: u64 = 50;

/// The audit trail of the counter: one insert at 0, then every count from 1 to the total,
/// each change from the count before it.
async fn assert_counter_history(t: &TestDb) {
    let rows = t.audit_all("org-a").await;
    let total = TASKS * INCREMENTS;
    assert_eq!(rows.len() as u64, total + 1);
    let count =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v["count"].as_u64().expect("count"));
    assert_eq!(
        (count(&rows[0].before), count(&rows[0].after)),
        (None, Some(0))
    );
    for (n, row) in (1..).zip(&rows[1..]) {
        assert_eq!(
            (count(&row.before), count(&row.after)),
            (Some(n - 1), Some(n))
        );
    }
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=total as i64 + 1).collect::<Vec<_>>()
    );
}

async fn concurrent_modify_never_loses_a_write(t: TestDb) {
    let t = t.migrated().await;
    t.db.insert("user", "c", "org-a", &user("counter", 0), by("admin", 0))
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = t.db.clone();
            tokio::spawn(async move {
                let actor = format!("task{task}");
                for i in 0..INCREMENTS {
                    db.modify("user", "c", by(&actor, i), |mut u: User| {
                        u.count += 1;
                        Ok::<_, DbError>(u)
                    })
                    .await
                    .expect("modify");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let c =
        t.db.get::<User>("user", "c")
            .await
            .expect("get")
            .expect("there");
    assert_eq!(
        (c.value.count, c.version),
        (TASKS * INCREMENTS, (TASKS * INCREMENTS + 1) as i64)
    );
    assert_counter_history(&t).await;
}

/// Read, edit, save with the version read, and on a conflict read again: the optimistic way
/// an API client works. Every conflict is one another task's success, so none is lost.
async fn concurrent_updates_with_retry_never_lose_a_write(t: TestDb) {
    let t = t.migrated().await;
    t.db.insert("user", "c", "org-a", &user("counter", 0), by("admin", 0))
        .await
        .expect("insert");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let db = t.db.clone();
            tokio::spawn(async move {
                let actor = format!("task{task}");
                let mut conflicts = 0u64;
                for i in 0..INCREMENTS {
                    loop {
                        let c = db
                            .get::<User>("user", "c")
                            .await
                            .expect("get")
                            .expect("there");
                        let next = user("counter", c.value.count + 1);
                        match db
                            .update("user", "c", c.version, &next, by(&actor, i))
                            .await
                        {
                            Ok(_) => break,
                            Err(DbError::Conflict { .. }) => conflicts += 1,
                            Err(e) => panic!("update: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("task");
    }
    let c =
        t.db.get::<User>("user", "c")
            .await
            .expect("get")
            .expect("there");
    assert_eq!(
        (c.value.count, c.version),
        (TASKS * INCREMENTS, (TASKS * INCREMENTS + 1) as i64)
    );
    assert_counter_history(&t).await;
    // Eight tasks on one row do collide; the test is void if they never did.
    assert!(
        conflicts > 0,
        "no conflicts: the tasks did not run concurrently"
    );
}

async fn tokens(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    let orgs = ["org-a".to_string(), "org-b".to_string()];
    let partner = db
        .create_token(&NewToken {
            person: "pat@example.com",
            role: "partner_admin",
            orgs: &orgs,
            label: "partner ci",
            created_at: at(1),
            expires_at: at(100),
        })
        .await
        .expect("create");
    let reader = db
        .create_token(&NewToken {
            person: "rita@example.com",
            role: "read_only",
            orgs: &orgs[..1],
            label: "dashboard",
            created_at: at(2),
            expires_at: at(100),
        })
        .await
        .expect("create");
    assert!(partner.starts_with(TOKEN_PREFIX) && partner.len() == TOKEN_PREFIX.len() + 43);
    assert_ne!(partner, reader);

    let sha256 = |s: &str| {
        Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let info = db
        .authenticate(&partner)
        .await
        .expect("authenticate")
        .expect("known token");
    assert_eq!(info.id, sha256(&partner)[..16]);
    assert_eq!(
        (
            info.role.as_str(),
            info.orgs.as_slice(),
            info.label.as_str(),
            info.created_at
        ),
        ("partner_admin", &orgs[..], "partner ci", at(1))
    );
    let info = db
        .authenticate(&reader)
        .await
        .expect("authenticate")
        .expect("known token");
    assert_eq!(
        (info.role.as_str(), info.orgs.as_slice()),
        ("read_only", &orgs[..1])
    );

    // Stored: the hash, never the token.
    let raw = t.raw().await;
    let rows = sqlx::query("SELECT hash, role, orgs, label, created_at FROM tokens ORDER BY role")
        .fetch_all(&raw)
        .await
        .expect("tokens");
    let stored: Vec<[String; 5]> = rows
        .iter()
        .map(|r| [0, 1, 2, 3, 4].map(|i| r.try_get::<String, _>(i).expect("text")))
        .collect();
    assert_eq!(
        stored,
        [
            [
                sha256(&partner),
                "partner_admin".into(),
                r#"["org-a","org-b"]"#.into(),
                "partner ci".into(),
                "2026-11-25T10:00:01.000Z".into()
            ],
            [
                sha256(&reader),
                "read_only".into(),
                r#"["org-a"]"#.into(),
                "dashboard".into(),
                "2026-11-25T10:00:02.000Z".into()
            ],
        ]
    );

    // Anything else is refused: one character off, a bare secret, its hash, nothing.
    let mut off_by_one = partner.clone();
    let last = off_by_one.pop().expect("non-empty");
    off_by_one.push(if last == 'A' { 'B' } else { 'A' });
    let secret = partner.trim_start_matches(TOKEN_PREFIX).to_string();
    for wrong in [off_by_one, secret, sha256(&partner), String::new()] {
        assert_eq!(
            db.authenticate(&wrong).await.expect("authenticate"),
            None,
            "{wrong}"
        );
    }

    // Revoked: refused from then on, the other token untouched; a second revoke finds nothing.
    assert!(db.revoke_token(&reader).await.expect("revoke"));
    assert_eq!(db.authenticate(&reader).await.expect("authenticate"), None);
    assert!(!db.revoke_token(&reader).await.expect("revoke"));
    let partner_info = db
        .authenticate(&partner)
        .await
        .expect("authenticate")
        .expect("the other token stays");
    assert_eq!(partner_info.person, "pat@example.com");
    assert_eq!(partner_info.expires_at, Some(at(100)));
    assert_eq!(partner_info.refusal(at(99)), None);
    assert_eq!(
        partner_info.refusal(at(100)).as_deref(),
        Some("token expired at 2026-11-25T10:01:40.000Z")
    );

    // Listed (never the token itself), revoked by id: kept and shown as revoked, refused.
    let listed = db.tokens().await.expect("tokens");
    assert_eq!(
        listed,
        vec![partner_info.clone()],
        "the deleted token is gone"
    );
    assert_eq!(
        db.revoke_token_id("0123456789abcdef", at(5))
            .await
            .expect("revoke"),
        Revoked::Unknown
    );
    let Revoked::Now(revoked) = db
        .revoke_token_id(&partner_info.id, at(5))
        .await
        .expect("revoke")
    else {
        panic!("revoked now")
    };
    assert_eq!(revoked.revoked_at, Some(at(5)));
    assert_eq!(
        revoked.refusal(at(6)).as_deref(),
        Some("token revoked at 2026-11-25T10:00:05.000Z")
    );
    let again = db
        .revoke_token_id(&partner_info.id, at(9))
        .await
        .expect("revoke");
    assert_eq!(
        again,
        Revoked::Already(revoked.clone()),
        "the first revocation stands"
    );
    assert_eq!(db.tokens().await.expect("tokens"), vec![revoked]);
}

async fn migrate_is_idempotent_and_concurrent(t: TestDb) {
    // Four workers starting at once on an empty database, like a fleet after a deploy.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = PolicyDb::open(&t.url).await.expect("open");
        tasks.push(tokio::spawn(async move { db.migrate().await }));
    }
    for task in tasks {
        task.await.expect("task").expect("migrate");
    }
    t.db.migrate().await.expect("again");
    let raw = t.raw().await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_version ORDER BY version")
            .fetch_all(&raw)
            .await
            .expect("versions");
    let known: Vec<i64> = (1..=MIGRATIONS.len() as i64).collect();
    assert_eq!(versions, known);
    let audit_counter: i64 = sqlx::query_scalar("SELECT value FROM sequences WHERE name = 'audit'")
        .fetch_one(&raw)
        .await
        .expect("sequence");
    assert_eq!(audit_counter, 0);
}

async fn migrate_refuses_a_newer_schema(t: TestDb) {
    let t = t.migrated().await;
    let raw = t.raw().await;
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&raw)
        .await
        .expect("insert");
    let result = t.db.migrate().await;
    assert!(
        matches!(
            result,
            Err(DbError::SchemaTooNew { found: 99, known }) if known == MIGRATIONS.len() as i64
        ),
        "{result:?}"
    );
}

/// A database as the first release left it (its schema SQL, a document with a `lookup` key,
/// the document's audit row), opened by this build: migrated, the `lookup` column gone, the
/// document and its history read and written as any other.
async fn a_version_1_database_upgrades_and_keeps_its_data(t: TestDb) {
    let raw = t.raw().await;
    sqlx::query("CREATE TABLE schema_version (version BIGINT PRIMARY KEY)")
        .execute(&raw)
        .await
        .expect("schema_version");
    for statement in MIGRATIONS[0] {
        sqlx::query(statement)
            .execute(&raw)
            .await
            .expect("version 1");
    }
    let body = r#"{"name":"alice","count":7}"#;
    for sql in [
        "INSERT INTO schema_version (version) VALUES (1)".to_string(),
        format!(
            "INSERT INTO documents (kind, id, org_id, lookup, version, body, updated_at) \
             VALUES ('user', 'u1', 'org-a', 'sip:alice@a', 3, '{body}', '{}')",
            at(1).to_rfc3339()
        ),
        format!(
            "INSERT INTO audit (seq, org_id, kind, id, actor, at, before, after) \
             VALUES (1, 'org-a', 'user', 'u1', 'admin', '{}', NULL, '{body}')",
            at(1).to_rfc3339()
        ),
        "UPDATE sequences SET value = 1 WHERE name = 'audit'".to_string(),
    ] {
        sqlx::query(&sql)
            .execute(&raw)
            .await
            .expect("version 1 data");
    }

    t.db.migrate().await.expect("upgrade");
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_version ORDER BY version")
            .fetch_all(&raw)
            .await
            .expect("versions");
    let known: Vec<i64> = (1..=MIGRATIONS.len() as i64).collect();
    assert_eq!(versions, known);
    let gone = sqlx::query("SELECT lookup FROM documents")
        .fetch_all(&raw)
        .await;
    assert!(gone.is_err(), "the lookup column is still there");

    let expected = Versioned {
        id: "u1".to_string(),
        org_id: "org-a".to_string(),
        version: 3,
        updated_at: at(1),
        value: user("alice", 7),
    };
    assert_eq!(
        t.db.get::<User>("user", "u1").await.expect("get"),
        Some(expected)
    );
    let v =
        t.db.update("user", "u1", 3, &user("alice", 8), by("admin", 2))
            .await
            .expect("update");
    assert_eq!(v, 4);
    let trail = t.audit_all("org-a").await;
    let summary: Vec<(i64, Option<serde_json::Value>)> =
        trail.into_iter().map(|r| (r.seq, r.after)).collect();
    assert_eq!(
        summary,
        [
            (1, Some(json!({"name": "alice", "count": 7}))),
            (2, Some(json!({"name": "alice", "count": 8}))),
        ]
    );
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let file = SqliteFile::new("policydb", "wal");
    let (path, url) = (&file.path, file.url());
    let db = PolicyDb::open(&url).await.expect("open");
    db.migrate().await.expect("migrate");
    assert!(path.exists());
    let raw = AnyPool::connect(&url).await.expect("raw");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "mysql://localhost/x",
        "sqlite::memory:",
        "sqlite://x?mode=memory",
        "policy.db",
    ] {
        let result = PolicyDb::open(url).await;
        assert!(
            matches!(&result, Err(DbError::UnsupportedUrl(u)) if u == url),
            "{url}: {result:?}"
        );
    }
}

/// The shared PostgreSQL harness names a schema per test that PostgreSQL keeps whole.
#[test]
fn schema_names_fit_postgresql_and_stay_apart() {
    let short = common::postgres::schema_name("t", "round_trip");
    assert_eq!(short, format!("t_{}_round_trip", std::process::id()));
    let long =
        |end: &str| common::postgres::schema_name("api", &format!("{}_{end}", "x".repeat(80)));
    let (a, b) = (long("a"), long("b"));
    assert_eq!(a.len(), 63);
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("api_{}_xxx", std::process::id())));
    assert!(a
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
}

/// A catalog row as the uploader would write it, `minutes` after 2026-11-25 10:00 UTC.
fn catalogued(org: &str, id: &str, person: &str, minutes: u64, other: &str) -> CatalogRecording {
    let start = Time::parse_rfc3339("2026-11-25T10:00:00Z").expect("time")
        + std::time::Duration::from_secs(minutes * 60);
    let prefix = format!("recordings/30d/{org}/2026/11/25/{id}/");
    CatalogRecording {
        id: id.into(),
        org_id: org.into(),
        person: Some(person.into()),
        location: Some("paris".into()),
        participants: vec![
            Participant {
                names: vec![person.to_uppercase()],
                addresses: vec![format!("sip:{person}@example.com")],
            },
            Participant {
                names: vec![other.into()],
                addresses: vec![match other {
                    "Dave" => "sip:dave@example.org".into(),
                    _ => "tel:+15550100".into(),
                }],
            },
        ],
        direction: Direction::Outbound,
        kind: "call".into(),
        start,
        end: start + std::time::Duration::from_secs(90),
        duration_ms: 90_000,
        provider: "dubber".into(),
        plan: "dubber-go".into(),
        retention: "30d".into(),
        expires_at: Some(start + std::time::Duration::from_secs(30 * 86_400)),
        legal_hold: false,
        size_bytes: 1234,
        sha256: "ab".repeat(32),
        format: "opus".into(),
        destination: "file:///recordings".into(),
        files: vec![CatalogFile {
            name: format!("{id}.opus"),
            key: format!("{prefix}{id}.opus"),
            bytes: 1234,
            sha256: "ab".repeat(32),
            legs: "both".into(),
        }],
        metadata_key: format!("{prefix}{id}.json"),
        prefix,
        ended: "bye".into(),
        stored_at: start + std::time::Duration::from_secs(100),
    }
}

async fn find(db: &PolicyDb, query: RecordingQuery<'_>) -> Result<Vec<CatalogRecording>, DbError> {
    db.find_recordings(&query).await
}

/// Rows round-trip every field; a person's are found by date range, newest first, page by
/// page without overlap; the participant filter finds names and addresses in any case; rows of
/// another organisation or person never show; a re-write keeps a legal hold; removal by id and
/// by prefix.
async fn the_catalog_finds_a_person_s_recordings_by_date_newest_first(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    for (i, person) in ["alice", "bob", "alice", "alice", "alice"]
        .iter()
        .enumerate()
    {
        let other = if i % 2 == 0 { "Zoë Martin" } else { "Dave" };
        let row = catalogued("acme", &format!("c{i}"), person, i as u64 * 10, other);
        db.put_recording(&row).await.expect("put");
    }
    db.put_recording(&catalogued("globex", "c0", "alice", 5, "Dave"))
        .await
        .expect("another organisation's row with the same id");
    let back = db.recording("acme", "c3").await.expect("get").expect("row");
    assert_eq!(back, catalogued("acme", "c3", "alice", 30, "Dave"));
    assert_eq!(db.recording("acme", "nope").await.expect("get"), None);

    let ids = |rows: Vec<CatalogRecording>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let query = |person, from: Option<u64>, to: Option<u64>, participant, limit, offset| {
        let at = |m: u64| {
            Time::parse_rfc3339("2026-11-25T10:00:00Z").expect("time")
                + std::time::Duration::from_secs(m * 60)
        };
        RecordingQuery {
            org_id: "acme",
            person,
            from: from.map(at),
            to: to.map(at),
            participant,
            limit,
            offset,
        }
    };
    let all = find(db, query(None, None, None, None, 100, 0)).await;
    assert_eq!(ids(all.expect("all")), ["c4", "c3", "c2", "c1", "c0"]);
    let alice = find(db, query(Some("alice"), None, None, None, 100, 0));
    assert_eq!(ids(alice.await.expect("alice")), ["c4", "c3", "c2", "c0"]);
    // From inclusive, to exclusive.
    let range = find(db, query(Some("alice"), Some(20), Some(40), None, 100, 0));
    assert_eq!(ids(range.await.expect("range")), ["c3", "c2"]);
    let first = find(db, query(Some("alice"), None, None, None, 3, 0));
    let second = find(db, query(Some("alice"), None, None, None, 3, 3));
    assert_eq!(ids(first.await.expect("page 1")), ["c4", "c3", "c2"]);
    assert_eq!(ids(second.await.expect("page 2")), ["c0"]);
    for text in ["zoë", "MARTIN", "+1555"] {
        let found = find(db, query(Some("alice"), None, None, Some(text), 100, 0));
        assert_eq!(
            ids(found.await.expect("participant")),
            ["c4", "c2", "c0"],
            "{text}"
        );
    }
    let none = find(db, query(Some("carol"), None, None, None, 100, 0));
    assert!(none.await.expect("nobody").is_empty());

    // A hold set on the row survives the row being written again (a reindex, a migration).
    let raw = t.raw().await;
    sqlx::query("UPDATE recordings SET legal_hold = 1 WHERE org_id = 'acme' AND id = 'c2'")
        .execute(&raw)
        .await
        .expect("hold");
    let mut again = catalogued("acme", "c2", "alice", 20, "Zoë Martin");
    again.plan = "dubber-standard".into();
    db.put_recording(&again).await.expect("rewrite");
    let held = db.recording("acme", "c2").await.expect("get").expect("row");
    assert!(held.legal_hold);
    assert_eq!(held.plan, "dubber-standard");

    assert!(db.remove_recording("acme", "c0").await.expect("remove"));
    assert!(!db.remove_recording("acme", "c0").await.expect("again"));
    let prefix = "recordings/30d/acme/2026/11/25/c1/";
    assert!(db.remove_recording_at(prefix).await.expect("by prefix"));
    let left = find(db, query(None, None, None, None, 100, 0));
    assert_eq!(ids(left.await.expect("left")), ["c4", "c3", "c2"]);
    assert!(db.recording("globex", "c0").await.expect("get").is_some());
}

/// Completion events: written with the row they announce, for organisations with a webhook
/// only, once per recording and type, each commit that wrote one waking the deliverer;
/// claimed by concurrent workers without overlap; a lease runs out, and a failed try ends
/// its lease and waits for its retry time.
async fn the_outbox_announces_each_recording_once_and_leases_each_event_to_one_worker(t: TestDb) {
    let t = t.migrated().await;
    let db = &t.db;
    db.set_webhook(
        "org-a",
        "https://hooks.example/in",
        "plain:s",
        by("admin", 1),
    )
    .await
    .expect("webhook");
    let mut rows = Vec::new();
    for n in 0..20 {
        let row = catalogued("org-a", &format!("rec-{n:02}"), "alice", n, "Bob");
        db.put_recording_announced(&row).await.expect("stored");
        rows.push(row);
    }
    // Each commit that wrote an event wakes this process's deliverer (one wake waits for it,
    // however many commits came meanwhile).
    use futures::FutureExt;
    assert!(db.outbox_written().now_or_never().is_some(), "woken");
    assert!(db.outbox_written().now_or_never().is_none(), "one wake");
    // A retried upload writes its row again, not a second event; globex has no webhook.
    db.put_recording_announced(&rows[0]).await.expect("again");
    db.put_recording_announced(&catalogued("org-b", "rec-b", "carol", 1, "Bob"))
        .await
        .expect("no webhook");
    assert!(
        db.outbox_written().now_or_never().is_none(),
        "no event written, no wake"
    );
    assert_eq!(
        db.webhook_counts("org-a").await.expect("counts").pending,
        20
    );
    assert_eq!(db.webhook_backlog().await.expect("backlog"), 20);
    assert!(db.recording("org-b", "rec-b").await.expect("row").is_some());

    // Four workers claim at once, then one more until nothing is left: no event goes to two
    // of them. (On PostgreSQL a claim that waited for another's rows may come back short; the
    // next poll takes them.)
    let now = rows[19].stored_at + std::time::Duration::from_secs(1);
    let until = now + std::time::Duration::from_secs(60);
    let mut claims: Vec<(String, Vec<_>)> = futures::future::join_all((0..4).map(|w| {
        let owner = format!("worker-{w}");
        async move {
            let claim = db
                .claim_webhook_events("org-a", &owner, now, until, 8)
                .await
                .expect("claim");
            (owner, claim)
        }
    }))
    .await;
    for n in 0.. {
        let owner = format!("late-{n}");
        let more = db
            .claim_webhook_events("org-a", &owner, now, until, 8)
            .await
            .expect("claim");
        if more.is_empty() {
            break;
        }
        claims.push((owner, more));
    }
    claims.retain(|(_, claim)| !claim.is_empty());
    let mut claimed = std::collections::BTreeSet::new();
    for (_, claim) in &claims {
        for event in claim {
            assert!(
                claimed.insert(event.id.clone()),
                "{} claimed twice",
                event.id
            );
            assert_eq!(event.event_type, "recording.stored");
        }
    }
    assert_eq!(claimed.len(), 20, "every event claimed once");
    assert!(claims.len() >= 3, "8 at most a claim");

    // One delivered, one failed until later; a stopped worker's leases go back at once, a
    // dead one's when they run out.
    let first = &claims[0].1[0];
    db.webhook_delivered(first, now).await.expect("delivered");
    let second = &claims[0].1[1];
    let later = now + std::time::Duration::from_secs(30);
    db.webhook_failed(second, now, Some(later), "the receiver answered 503")
        .await
        .expect("failed");
    let (stopped, theirs) = &claims[1];
    let released = db.release_webhook_leases(stopped).await.expect("released");
    assert_eq!(released as usize, theirs.len());
    let again = db
        .claim_webhook_events("org-a", "next", now, until, 100)
        .await
        .expect("claim");
    assert_eq!(again.len(), theirs.len());
    // A failed try ends its lease (a receiver that never answers holds no event): the event
    // is due again at its retry time, before the lease it was claimed with runs out.
    assert!(later < until);
    let retry = db
        .claim_webhook_events(
            "org-a",
            "retrier",
            later,
            later + std::time::Duration::from_secs(1),
            100,
        )
        .await
        .expect("claim");
    let retry: Vec<&str> = retry.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(retry, [second.id.as_str()]);
    let expired = db
        .claim_webhook_events(
            "org-a",
            "next",
            until,
            until + std::time::Duration::from_secs(60),
            100,
        )
        .await
        .expect("claim");
    // Past every lease (the one `next` just took too): every event not delivered, the
    // failed one among them once its retry time has come.
    assert_eq!(expired.len(), 20 - 1);
    let retried = expired.iter().find(|e| e.id == second.id).expect("retried");
    assert_eq!(retried.attempts, 1);
    assert_eq!(
        retried.last_error.as_deref(),
        Some("the receiver answered 503")
    );
    let hook = db.webhook("org-a").await.expect("read").expect("a webhook");
    assert_eq!(hook.last_delivered_at, Some(now));
    assert_eq!(
        hook.last_error.as_deref(),
        Some("the receiver answered 503")
    );

    // A sweep's removal announces an expiry, a person's delete a deletion.
    assert!(db
        .remove_recording_swept(&rows[5].prefix, now)
        .await
        .expect("swept"));
    db.remove_recording_noted(
        "org-a",
        "rec-06",
        by("alice", 2),
        &json!({"action": "delete"}),
    )
    .await
    .expect("deleted");
    assert!(db.outbox_written().now_or_never().is_some(), "woken");
    let deleted = db
        .webhook_events("org-a", Some("pending"), 100)
        .await
        .expect("events");
    let reasons: Vec<(String, String)> = deleted
        .iter()
        .filter(|e| e.event_type == "recording.deleted")
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).expect("json");
            (
                e.recording_id.clone(),
                body["data"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.contains(&("rec-05".into(), "expired".into())));
    assert!(reasons.contains(&("rec-06".into(), "deleted".into())));

    // Removing the webhook drops what it had not delivered, and audits the URL only.
    assert!(db
        .remove_webhook("org-a", by("admin", 3))
        .await
        .expect("removed"));
    let counts = db.webhook_counts("org-a").await.expect("counts");
    assert_eq!((counts.pending, counts.delivered), (0, 1));
    let audit = t.audit_all("org-a").await;
    let hooks: Vec<_> = audit.iter().filter(|r| r.kind == "webhook").collect();
    assert_eq!(hooks.len(), 2);
    assert_eq!(
        hooks[0].after,
        Some(json!({"url": "https://hooks.example/in"}))
    );
}
