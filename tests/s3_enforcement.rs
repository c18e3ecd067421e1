//! Retention enforced by the store itself, end to end through the `callrec` command: recordings
//! made on the free plan disappear when their 30 days are up, paid ones stay, and a plan
//! migration moves the deadline: free -> paid keeps them, paid -> free deletes them 30 days
//! after the migration, not after the recording. On the RADOS Gateway `./scripts/test` starts,
//! where a lifecycle day lasts one second and `radosgw-admin lc process` runs the lifecycle.

mod common;

use callrec::store::s3::S3Admin;
use common::{cli, lifecycle};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests with ./scripts/test, which starts a RADOS Gateway"
        )
    })
}

/// `callrec ARGS` in `dir`, which must succeed: its stdout.
fn callrec(args: &[&str], dir: &Path) -> String {
    cli::ok(cli::callrec(dir, args))
}

/// Recording prefix -> call id, from `storage ls`.
fn stored_calls(store: &str, dir: &Path) -> Vec<String> {
    let mut calls: Vec<String> = callrec(&["storage", "ls", "--store", store], dir)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|v| v["type"] == "recording")
        .map(|v| {
            format!(
                "{}:{}",
                v["call"].as_str().expect("call"),
                v["retention"].as_str().expect("class")
            )
        })
        .collect();
    calls.sort();
    calls
}

/// Runs the lifecycle until `expected` is what the store holds (deletion may take a pass or
/// two), or fails with what it holds after 30 s.
fn expect_after_lifecycle(store: &str, dir: &Path, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        lifecycle::process();
        let calls = stored_calls(store, dir);
        if calls == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "store holds {calls:?}, expected {expected:?}\nlc list: {}",
            lifecycle::list()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sleep_until(start: Instant, after: Duration) {
    std::thread::sleep(after.saturating_sub(start.elapsed()));
}

#[test]
fn the_store_deletes_free_recordings_on_time_before_and_after_plan_migrations() {
    env("CALLREC_TEST_S3");
    let store = lifecycle::bucket_url("enforce");
    let unique = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    runtime()
        .block_on(S3Admin::new(&store, &[]).expect("admin").create_bucket())
        .expect("create bucket");
    let tmp = std::env::temp_dir().join(format!("callrec-enforce-{unique}"));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let applied = callrec(
        &["storage", "lifecycle", "--apply", "--store", &store],
        &tmp,
    );
    // The line comes only after the bucket's configuration was read back and matched.
    let applied: serde_json::Value = serde_json::from_str(applied.trim()).expect("one JSON line");
    assert_eq!(applied["type"], "lifecycle_applied", "{applied}");
    assert!(applied["rules"].as_u64() >= Some(1), "{applied}");

    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let record = |call: &str, org: &str, plan: &str| {
        callrec(
            &[
                "record",
                &capture,
                "--store",
                &store,
                "--call-id",
                call,
                "--org",
                org,
                "--plan",
                plan,
            ],
            &tmp,
        );
    };
    let recorded = Instant::now();
    record("stays-free", "free-org", "dubber-go");
    record("upgraded", "upgrading-org", "dubber-go");
    record("always-paid", "paid-org", "dubber-ai");
    record("downgraded", "downgrading-org", "dubber-standard");
    // The upgrade right away; the downgrade 15 "days" after the recording.
    callrec(
        &[
            "retention",
            "migrate",
            "--store",
            &store,
            "--org",
            "upgrading-org",
            "--plan",
            "dubber-ai",
        ],
        &tmp,
    );
    sleep_until(recorded, Duration::from_secs(15));
    let downgraded = Instant::now();
    callrec(
        &[
            "retention",
            "migrate",
            "--store",
            &store,
            "--org",
            "downgrading-org",
            "--plan",
            "dubber-go",
        ],
        &tmp,
    );
    lifecycle::process();
    assert_eq!(
        stored_calls(&store, &tmp),
        [
            "always-paid:unlimited",
            "downgraded:30d",
            "stays-free:30d",
            "upgraded:unlimited"
        ]
    );

    // Day 31 after the recordings, day 16 after the downgrade: only the free recording goes.
    sleep_until(recorded, Duration::from_secs(31));
    expect_after_lifecycle(
        &store,
        &tmp,
        &[
            "always-paid:unlimited",
            "downgraded:30d",
            "upgraded:unlimited",
        ],
    );

    // Day 31 after the downgrade: the downgraded recording goes; paid ones stay.
    sleep_until(downgraded, Duration::from_secs(31));
    expect_after_lifecycle(
        &store,
        &tmp,
        &["always-paid:unlimited", "upgraded:unlimited"],
    );
    let verified = callrec(&["storage", "verify", "--store", &store], &tmp);
    assert_eq!(verified.matches("\"ok\":true").count(), 2, "{verified}");
    let _ = std::fs::remove_dir_all(&tmp);
    // Every later lifecycle pass would spend time on this bucket's rules.
    runtime()
        .block_on(
            S3Admin::new(&store, &[])
                .expect("admin")
                .delete_bucket_lifecycle(),
        )
        .expect("rules removed");
}
