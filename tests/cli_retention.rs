//! The retention commands as an operator runs them: customer-owned storage from the config
//! file, `storage sweep` (dry run, then for real, then idempotent) across every organisation's
//! store, and `retention migrate`.

mod common;

use common::cli::{self, age, files};
use common::TempDir;
use serde_json::Value;
use std::path::Path;

/// `callrec ARGS` in `dir`, which must succeed: its JSON lines.
fn callrec(args: &[&str], dir: &Path) -> Vec<Value> {
    cli::json_lines(&cli::ok(cli::callrec(dir, args)))
}

#[test]
fn each_organisation_lands_in_its_own_storage_and_sweep_deletes_only_what_expired() {
    let tmp = TempDir::new("cli-retention");
    std::fs::write(
        tmp.path("callrec.toml"),
        "[store]\nurl = \"shared\"\n[orgs.acme.store]\nurl = \"acme-own\"\n",
    )
    .expect("config");
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let record = |org: &str, call: &str, plan: &str| {
        callrec(
            &[
                "record",
                &capture,
                "--config",
                "callrec.toml",
                "--org",
                org,
                "--call-id",
                call,
                "--plan",
                plan,
            ],
            &tmp.0,
        )
    };
    record("acme", "a-old", "dubber-go");
    record("acme", "a-new", "dubber-go");
    record("globex", "g-old", "dubber-go");
    record("globex", "g-paid", "dubber-ai");
    let acme = files(&tmp.path("acme-own"));
    let shared = files(&tmp.path("shared"));
    assert_eq!(acme.len(), 4, "{acme:?}");
    assert!(
        acme.iter().all(|f| f.starts_with("recordings/30d/acme/")),
        "{acme:?}"
    );
    assert_eq!(shared.len(), 4, "{shared:?}");
    assert!(shared.iter().all(|f| f.contains("/globex/")), "{shared:?}");

    // Two recordings stored 30 days ago, one 29 days ago.
    let metadata = |store: &str, call: &str| {
        let found = files(&tmp.path(store))
            .into_iter()
            .find(|f| f.ends_with(&format!("/{call}/{call}.json")));
        tmp.path(store).join(found.expect("metadata"))
    };
    age(&metadata("acme-own", "a-old"), 30);
    age(&metadata("shared", "g-old"), 30);
    age(&metadata("acme-own", "a-new"), 29);
    age(&metadata("shared", "g-paid"), 400);

    let dry = callrec(
        &["storage", "sweep", "--config", "callrec.toml", "--dry-run"],
        &tmp.0,
    );
    let would: Vec<&str> = dry
        .iter()
        .filter(|e| e["type"] == "would_delete")
        .map(|e| e["recording"].as_str().expect("prefix"))
        .collect();
    assert_eq!(would.len(), 2, "{dry:?}");
    assert!(
        would.iter().any(|p| p.contains("/a-old/")) && would.iter().any(|p| p.contains("/g-old/"))
    );
    assert_eq!(
        (
            files(&tmp.path("acme-own")).len(),
            files(&tmp.path("shared")).len()
        ),
        (4, 4)
    );

    let swept = callrec(&["storage", "sweep", "--config", "callrec.toml"], &tmp.0);
    let deleted: Vec<&Value> = swept.iter().filter(|e| e["type"] == "deleted").collect();
    assert_eq!(deleted.len(), 2, "{swept:?}");
    for event in &deleted {
        let keys = event["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        assert!(
            keys[0].as_str().expect("key").ends_with(".json"),
            "metadata first: {keys:?}"
        );
    }
    let left: Vec<String> = files(&tmp.path("acme-own"))
        .into_iter()
        .chain(files(&tmp.path("shared")))
        .collect();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(
        left.iter()
            .all(|f| f.contains("/a-new/") || f.contains("/g-paid/")),
        "{left:?}"
    );

    let again = callrec(&["storage", "sweep", "--config", "callrec.toml"], &tmp.0);
    // One `swept` line per store (acme's own and the shared one), then the summary.
    let types: Vec<&str> = again
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["swept", "swept", "summary"], "{again:?}");
    assert!(again.iter().all(|e| e["deleted"] == 0), "{again:?}");
    assert_eq!(again[2]["stores"], 2, "{again:?}");

    // acme upgrades: its remaining recording moves to unlimited in acme's own store.
    let migrated = callrec(
        &[
            "retention",
            "migrate",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
            "--plan",
            "dubber-ai",
        ],
        &tmp.0,
    );
    let summary = migrated.last().expect("summary");
    assert_eq!(
        (&summary["type"], &summary["moved"]),
        (&"summary".into(), &1.into()),
        "{migrated:?}"
    );
    let acme = files(&tmp.path("acme-own"));
    assert_eq!(acme.len(), 2);
    assert!(
        acme.iter()
            .all(|f| f.starts_with("recordings/unlimited/acme/")),
        "{acme:?}"
    );
    let verified = callrec(
        &[
            "storage",
            "verify",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ],
        &tmp.0,
    );
    assert_eq!(
        verified.len(),
        2,
        "a line for the recording, then the summary"
    );
    assert_eq!(verified[0]["ok"], true);
    assert_eq!(
        verified[1],
        serde_json::json!({"type": "summary", "recordings": 1, "ok": 1, "failed": 0})
    );
}
