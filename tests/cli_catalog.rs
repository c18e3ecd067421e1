//! The recordings catalog as an operator keeps it with the CLI: `record` into a store beside a
//! policy database writes each recording's row; `retention migrate` and `storage sweep` keep
//! the rows true; `storage verify` finds rows without objects and objects without rows; and
//! `storage reindex` brings back a catalog lost with its database, row for row.

mod common;

use callrec::policydb::recordings::{CatalogRecording, RecordingQuery};
use callrec::policydb::PolicyDb;
use common::cli::{self, age, files};
use common::TempDir;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// `callrec ARGS` in `dir`, which must succeed: its JSON lines.
fn callrec(args: &[&str], dir: &Path) -> Vec<Value> {
    cli::json_lines(&cli::ok(cli::callrec(dir, args)))
}

/// Every row of the catalog in `dir`'s policy database, by id.
fn rows(dir: &Path, org: &str) -> Vec<CatalogRecording> {
    let url = format!("sqlite://{}", dir.join("policy.sqlite").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let db = PolicyDb::open(&url).await.expect("open");
        let query = RecordingQuery {
            org_id: org,
            person: None,
            from: None,
            to: None,
            participant: None,
            limit: 100,
            offset: 0,
        };
        let mut found = db.find_recordings(&query).await.expect("query");
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    })
}

fn hex_sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("stored file");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn remove_database(dir: &Path) {
    for name in ["policy.sqlite", "policy.sqlite-wal", "policy.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

#[test]
fn the_catalog_follows_the_store_through_record_migrate_sweep_and_a_lost_database() {
    let tmp = TempDir::new("cli-catalog");
    let dir = &tmp.0;
    // The policy database exists (the first token creates it), so store commands keep its
    // catalog.
    callrec(
        &[
            "token",
            "create",
            "--person",
            "pat",
            "--role",
            "customer-admin",
            "--org",
            "acme",
        ],
        dir,
    );
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let record = |org: &str, user: &str, call: &str, plan: &str| {
        let args = [
            "record",
            &capture,
            "--store",
            "store",
            "--org",
            org,
            "--user",
            user,
            "--call-id",
            call,
            "--plan",
            plan,
        ];
        callrec(&args, dir)
    };
    record("acme", "alice", "a-1", "dubber-go");
    record("acme", "bob", "a-2", "dubber-ai");
    record("globex", "gina", "g-1", "dubber-go");

    let acme = rows(dir, "acme");
    assert_eq!(
        acme.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a-1", "a-2"]
    );
    let store = tmp.path("store");
    for row in &acme {
        let media = store.join(&row.files[0].key);
        assert_eq!(row.sha256, hex_sha256(&media), "{}", row.id);
        let on_disk = std::fs::metadata(&media).expect("media").len();
        assert_eq!(row.size_bytes, on_disk);
        assert!(store.join(&row.metadata_key).is_file());
        assert!(row.prefix.starts_with("recordings/") && row.metadata_key.starts_with(&row.prefix));
        assert_eq!(row.org_id, "acme");
        assert!(row.end > row.start && row.duration_ms > 0);
    }
    let (go, paid) = (&acme[0], &acme[1]);
    assert_eq!(
        (
            go.person.as_deref(),
            go.plan.as_str(),
            go.retention.as_str()
        ),
        (Some("alice"), "dubber-go", "30d")
    );
    let kept = go
        .expires_at
        .expect("Go expires")
        .saturating_since(go.stored_at);
    assert!(
        kept.as_secs() > 29 * 86_400 && kept.as_secs() <= 30 * 86_400,
        "{kept:?}"
    );
    assert_eq!(
        (paid.retention.as_str(), paid.expires_at),
        ("unlimited", None)
    );
    assert_eq!(rows(dir, "globex").len(), 1);

    let verified = callrec(&["storage", "verify", "--store", "store"], dir);
    let summary = verified.last().expect("summary");
    assert_eq!(
        (&summary["ok"], &summary["catalog_mismatches"]),
        (&Value::from(3), &Value::from(0)),
        "{verified:?}"
    );

    // Alice moves to a paid plan: her row follows the recording to its new class.
    callrec(
        &[
            "retention",
            "migrate",
            "--store",
            "store",
            "--org",
            "acme",
            "--user",
            "alice",
            "--plan",
            "dubber-standard",
        ],
        dir,
    );
    let moved = rows(dir, "acme").remove(0);
    assert_eq!(
        (
            moved.plan.as_str(),
            moved.retention.as_str(),
            moved.expires_at
        ),
        ("dubber-standard", "unlimited", None)
    );
    assert!(
        moved.prefix.starts_with("recordings/unlimited/acme/"),
        "{}",
        moved.prefix
    );
    assert!(store.join(&moved.files[0].key).is_file());
    assert_eq!(moved.sha256, go.sha256);

    // Globex's Go recording expires: the sweep deletes it and its row.
    let g1 = rows(dir, "globex").remove(0);
    age(&store.join(&g1.metadata_key), 31);
    callrec(&["storage", "sweep", "--store", "store"], dir);
    assert!(rows(dir, "globex").is_empty());
    assert!(!store.join(&g1.files[0].key).exists());

    // The database is lost: reindex brings every row back as it was.
    let before = rows(dir, "acme");
    remove_database(dir);
    let reindexed = callrec(&["storage", "reindex", "--store", "store"], dir);
    let summary = reindexed.last().expect("summary");
    assert_eq!(summary["catalogued"], 2, "{reindexed:?}");
    let after = rows(dir, "acme");
    assert_eq!(after.len(), before.len());
    for (was, now) in before.iter().zip(&after) {
        let same = CatalogRecording {
            stored_at: was.stored_at,
            ..now.clone()
        };
        assert_eq!(&same, was);
    }

    // A recording stored while no catalog existed, and one deleted behind the catalog's back.
    let db = tmp.path("policy.sqlite");
    std::fs::rename(&db, tmp.path("aside.sqlite")).expect("set aside");
    record("acme", "carol", "a-3", "dubber-ai");
    std::fs::rename(tmp.path("aside.sqlite"), &db).expect("put back");
    let gone = after[1].clone();
    std::fs::remove_dir_all(store.join(&gone.prefix)).expect("delete by hand");
    let output = cli::callrec(dir, &["storage", "verify", "--store", "store"]);
    assert_eq!(output.status.code(), Some(1));
    let lines = cli::json_lines(&String::from_utf8_lossy(&output.stdout));
    let mismatches: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["type"] == "catalog_mismatch")
        .map(|l| {
            (
                l["recording"].as_str().expect("prefix"),
                l["problem"].as_str().expect("problem"),
            )
        })
        .collect();
    assert_eq!(mismatches.len(), 2, "{lines:?}");
    assert!(mismatches
        .iter()
        .any(|(p, why)| *p == gone.prefix && why.contains("not in the store")));
    assert!(mismatches
        .iter()
        .any(|(p, why)| p.ends_with("/a-3/") && why.contains("does not list")));
    let reindexed = callrec(&["storage", "reindex", "--store", "store"], dir);
    let summary = reindexed.last().expect("summary");
    assert_eq!(
        (&summary["catalogued"], &summary["removed"]),
        (&Value::from(2), &Value::from(1))
    );
    let ids: Vec<String> = rows(dir, "acme").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["a-1", "a-3"]);
    assert!(files(&store).iter().all(|f| !f.contains("/a-2/")));
    callrec(&["storage", "verify", "--store", "store"], dir);
}
