//! The RADOS Gateway's own lifecycle, for tests that wait on it to expire objects.
//!
//! `./scripts/test` runs Ceph 16 (Pacific), whose `radosgw-admin lc process` is not "run every
//! bucket's rules now": it resets each of its 32 lifecycle shards and then processes only the
//! first bucket of each, in name order. A bucket whose rules share a shard with a bucket named
//! before it is never processed. So a bucket a test waits on is named to come first:
//! `callrec-0-` sorts before every other test bucket (`callrec-<letter>...`), and the digits
//! that follow count down with time, so the newest bucket comes first among these too, ahead of
//! any an earlier test left behind. Two tests waiting at once in one binary could still share a
//! shard; none do.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// `s3://` URL of a new bucket name for a test that waits on the lifecycle; `purpose` names
/// it for whoever reads the gateway's `lc list`.
pub fn bucket_url(purpose: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    let countdown = 10u128.pow(20) - nanos;
    format!("s3://callrec-0-{countdown:020}-{purpose}")
}

/// `radosgw-admin lc process`: one lifecycle pass now (see the module's note on which buckets
/// it takes).
pub fn process() {
    let out = admin(&["lc", "process"]).expect("run radosgw-admin");
    assert!(
        out.status.success(),
        "radosgw-admin lc process: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The gateway's `lc list`: every bucket with rules, its status and last start.
pub fn list() -> String {
    admin(&["lc", "list"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `radosgw-admin ARGS` on the gateway `./scripts/test` started.
fn admin(args: &[&str]) -> std::io::Result<std::process::Output> {
    let conf = std::env::var("CALLREC_TEST_CEPH_CONF").unwrap_or_else(|_| {
        panic!("CALLREC_TEST_CEPH_CONF is not set: run ./scripts/test, which starts the gateway")
    });
    Command::new("radosgw-admin")
        .args(["--conf", &conf])
        .args(args)
        .output()
}
