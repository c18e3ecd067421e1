//! `callrec serve`'s uploads and retention as real processes against real stores: a broken
//! destination beside a healthy one (the healthy one's recordings arrive while the broken
//! one keeps failing, its backlog in /metrics), the S3 gateway down for five minutes during calls
//! (every recording arrives once it is back, once), the sweeper deleting an expired recording
//! with nobody running a command, and a plan change reaching a recording still in the spool.
//!
//! Recordings come from `callrec record` leaving jobs in the spool (its store unreachable),
//! and from SIPp calls into the running server.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::cli::{callrec, files, json_lines, ok};
use common::s3::S3;
use common::serve::Serve;
use common::TempDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");
/// A port nothing listens on: a store "endpoint" that refuses every connection.
const DEAD_ENDPOINT: &str = "http://127.0.0.1:9";

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Waits for `done` to hold, checking every 200 ms, at most `limit`; false if it never did.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Records the fixture call as `call` of `org` with `callrec record --config seed.toml`, whose
/// stores cannot be reached: the recording stays committed in the spool.
fn spool_recording(dir: &Path, org: &str, call: &str, extra: &[&str]) {
    let capture = fixture("pcmu-impaired.pcap");
    let mut args = vec![
        "record",
        &capture,
        "--config",
        "seed.toml",
        "--org",
        org,
        "--call-id",
        call,
        "--upload-timeout",
        "0",
    ];
    args.extend_from_slice(extra);
    let out = callrec(dir, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("kept in the spool"),
        "{stderr}"
    );
}

/// Jobs committed in the spool.
fn spooled_jobs(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("spool/jobs"))
        .map(|jobs| {
            jobs.flatten()
                .filter(|j| j.path().join("job.json").exists())
                .count()
        })
        .unwrap_or(0)
}

/// `storage ls` of `store`: one line per recording (the summary that ends it left out).
fn listed(dir: &Path, store: &str) -> Vec<Value> {
    let mut lines = json_lines(&ok(callrec(dir, &["storage", "ls", "--store", store])));
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(summary["recordings"], lines.len(), "{summary}");
    assert!(lines.iter().all(|r| r["type"] == "recording"), "{lines:?}");
    lines
}

/// `storage verify` of `store`: every recording complete and intact; returns how many.
fn verified(dir: &Path, store: &str) -> usize {
    let mut lines = json_lines(&ok(callrec(dir, &["storage", "verify", "--store", store])));
    let summary = lines.pop().expect("a summary line");
    assert_eq!(
        (&summary["type"], &summary["failed"]),
        (&"summary".into(), &0.into()),
        "{summary}"
    );
    assert!(lines.iter().all(|r| r["ok"] == true), "{lines:?}");
    lines.len()
}

#[test]
fn a_broken_destination_beside_a_healthy_one_delays_nothing_and_shows_its_backlog() {
    let tmp = TempDir::new("uploads-broken");
    let s3 = S3::new("uploads-broken");
    let broken = "s3://callrec-no-such-bucket/recordings";
    // The same destinations as the server's, behind an endpoint that refuses connections.
    std::fs::write(
        tmp.path("seed.toml"),
        format!(
            "[store]\nurl = \"{}\"\noptions = {{ aws_endpoint = \"{DEAD_ENDPOINT}\" }}\n\
             [orgs.broken.store]\nurl = \"{broken}\"\noptions = {{ aws_endpoint = \"{DEAD_ENDPOINT}\" }}\n",
            s3.url
        ),
    )
    .expect("seed config");
    std::fs::write(
        tmp.path("callrec.toml"),
        format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{}\"\nsweep_interval_secs = 0\n\
             [orgs.broken.store]\nurl = \"{broken}\"\n",
            s3.url
        ),
    )
    .expect("config");
    // The broken organisation's recordings first: the oldest, first in line.
    for n in 0..8 {
        spool_recording(&tmp.0, "broken", &format!("broken-{n}"), &[]);
    }
    for n in 0..12 {
        spool_recording(&tmp.0, "acme", &format!("healthy-{n}"), &[]);
    }
    assert_eq!(spooled_jobs(&tmp.0), 20);

    let serve = Serve::start(&tmp.0);
    // One upload at a time with 30 s of retries per broken recording would take minutes.
    let arrived = wait_until(Duration::from_secs(60), || {
        listed(&tmp.0, &s3.url).len() >= 12
    });
    assert!(
        arrived,
        "healthy recordings stored; log: {:#?}",
        serve.log()
    );
    assert_eq!(verified(&tmp.0, &s3.url), 12);

    let backlog = format!("callrec_upload_destination_backlog{{destination=\"{broken}\"}}");
    let failing = format!("callrec_upload_destination_failing{{destination=\"{broken}\"}}");
    let errors = format!("callrec_upload_destination_errors_total{{destination=\"{broken}\"}}");
    let healthy = format!(
        "callrec_upload_destination_backlog{{destination=\"{}\"}}",
        s3.url
    );
    // It keeps failing, retried with backoff: the errors go on growing.
    let first = serve.metric(&errors);
    assert!(first >= 1.0, "{:?}", serve.metrics());
    assert!(
        wait_until(Duration::from_secs(30), || serve.metric(&errors) > first),
        "retried"
    );
    let metrics = serve.metrics();
    assert_eq!(metrics.get(&backlog), Some(&8.0), "{metrics:?}");
    assert_eq!(metrics.get(&failing), Some(&1.0), "{metrics:?}");
    assert_eq!(metrics.get(&healthy), Some(&0.0), "{metrics:?}");
    assert_eq!(metrics.get("callrec_upload_backlog"), Some(&8.0));
    assert_eq!(metrics.get("callrec_uploads_total"), Some(&12.0));
    assert_eq!(spooled_jobs(&tmp.0), 8, "the broken ones wait in the spool");
}

/// Writes the two-leg capture SIPp plays (`seconds` long) next to a copy of the scenario.
fn prepare_call(dir: &Path, seconds: u64) -> PathBuf {
    let legs = [(400.0, 0), (1000.0, 1)].map(|(freq, i)| LegSpec {
        duration: Duration::from_secs(seconds),
        ..LegSpec::tone(Codec::Pcmu, freq, i)
    });
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
    std::fs::write(dir.join("call.pcap"), capture).expect("capture");
    let target = dir.join("siprec_call.xml");
    std::fs::copy(Path::new(SCENARIOS).join("siprec_call.xml"), &target).expect("scenario");
    target
}

/// `calls` SIPREC calls from SIPp (SIP port `port`, media 100 above), three at a time.
fn sipp_calls(serve: &Serve, scenario: &Path, port: u16, calls: usize) {
    let mp = (port + 100).to_string();
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(serve.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &mp])
        .args(["-set", "aor_a", "sip:alice@example.com"])
        .args(["-set", "aor_b", "sip:bob@example.com"])
        .args(["-m", &calls.to_string(), "-l", "3", "-r", "3", "-d", "1500"])
        .args(["-trace_err", "-nostdin", "-timeout", "60s"])
        .current_dir(scenario.parent().expect("dir"))
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// How long the store is down while calls go on: the five minutes of an ordinary outage.
const OUTAGE: Duration = Duration::from_secs(300);
const BATCHES: u32 = 5;
const CALLS_PER_BATCH: usize = 4;

#[test]
fn a_store_down_while_calls_go_on_gets_every_recording_once_it_is_back() {
    let tmp = TempDir::new("uploads-outage");
    let s3 = S3::new("uploads-outage");
    std::fs::write(
        tmp.path("callrec.toml"),
        format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = 14000\nrtp_port_max = 14999\n\
             idle_timeout_secs = 5\n[recording]\nformat = \"wav\"\njitter_ms = 60\n\
             [store]\nurl = \"{}\"\nsweep_interval_secs = 0\n",
            s3.url
        ),
    )
    .expect("config");
    let serve = Serve::start(&tmp.0);
    let scenario = prepare_call(&tmp.0, 1);
    let destination = format!("{{destination=\"{}\"}}", s3.url);
    let errors = format!("callrec_upload_destination_errors_total{destination}");

    // The store goes away for five minutes; calls go on, a batch of four each minute.
    s3.gateway("gateway-stop");
    let outage = Instant::now();
    for batch in 0..BATCHES {
        while outage.elapsed() < OUTAGE * batch / BATCHES {
            std::thread::sleep(Duration::from_millis(200));
        }
        sipp_calls(
            &serve,
            &scenario,
            15000 + 10 * batch as u16,
            CALLS_PER_BATCH,
        );
    }
    let calls = f64::from(BATCHES * CALLS_PER_BATCH as u32);
    assert!(
        wait_until(Duration::from_secs(30), || {
            serve.metric("callrec_upload_backlog") == calls
        }),
        "every call spooled: {:?}",
        serve.metrics()
    );
    // Backoff cycles of 0.2, 0.4, ... up to 30 s, the uploads failing in each, the
    // destination shown as failing.
    while outage.elapsed() < OUTAGE {
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = serve.metrics();
    assert_eq!(
        metrics.get(&format!("callrec_upload_destination_failing{destination}")),
        Some(&1.0),
        "{metrics:?}"
    );
    // The first failure, then one probe per backoff cycle (uploads queued meanwhile wait):
    // at least four cycles.
    let failed = serve.events("upload.failed").len();
    assert!(failed >= 10, "several backoff cycles: {failed} failures");
    assert_eq!(metrics.get("callrec_uploads_total"), Some(&0.0));
    let errors_during = metrics[&errors];

    s3.gateway("gateway-start");
    assert!(
        wait_until(Duration::from_secs(90), || {
            serve.metric("callrec_uploads_total") == calls
        }),
        "every recording stored once the store is back: {:?}",
        serve.metrics()
    );
    assert_eq!(serve.metric("callrec_upload_backlog"), 0.0);
    assert_eq!(
        serve.metric(&format!("callrec_upload_destination_failing{destination}")),
        0.0
    );
    assert!(serve.metric(&errors) >= errors_during);
    // None lost, none twice: eight recordings, each stored by one upload.
    let stored = serve.events("upload.stored");
    let mut keys: Vec<&str> = stored.iter().filter_map(|l| l["key"].as_str()).collect();
    keys.sort();
    keys.dedup();
    let calls = calls as usize;
    assert_eq!((stored.len(), keys.len()), (calls, calls), "{stored:#?}");
    let recordings = listed(&tmp.0, &s3.url);
    assert_eq!(recordings.len(), calls);
    assert!(recordings.iter().all(|r| r["complete"] == true));
    assert_eq!(verified(&tmp.0, &s3.url), calls);
    assert_eq!(spooled_jobs(&tmp.0), 0);
}

#[test]
fn serve_sweeps_an_expired_recording_with_nobody_running_a_command() {
    let tmp = TempDir::new("uploads-sweep");
    std::fs::write(
        tmp.path("callrec.toml"),
        "[sip]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"store\"\nsweep_interval_secs = 1\n",
    )
    .expect("config");
    let capture = fixture("pcmu-impaired.pcap");
    let record = |call: &str, plan: &str| {
        let args = [
            "record",
            &capture,
            "--config",
            "callrec.toml",
            "--org",
            "acme",
            "--call-id",
            call,
            "--plan",
            plan,
        ];
        json_lines(&ok(callrec(&tmp.0, &args)))[0]["metadata"]
            .as_str()
            .expect("the stored metadata's key")
            .to_string()
    };
    let expired = record("old-go", "dubber-go");
    let fresh = record("new-go", "dubber-go");
    let paid = record("old-paid", "dubber-standard");
    // Recorded 31 days ago, as far as retention goes: the metadata says so.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let long_ago =
        callrec::time::Time::from_nanos((now - 31 * 86_400) * 1_000_000_000).to_rfc3339();
    for key in [&expired, &paid] {
        let path = tmp.path("store").join(key);
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("doc")).unwrap();
        doc["storage"]["retained_since"] = Value::String(long_ago.clone());
        std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).expect("write");
    }
    let before = files(&tmp.path("store"));
    let prefix = |key: &str| key.rsplit_once('/').expect("dir").0.to_string();
    assert_eq!(
        before
            .iter()
            .filter(|f| f.starts_with(&prefix(&expired)))
            .count(),
        2,
        "media and metadata: {before:?}"
    );

    let serve = Serve::start(&tmp.0);
    let gone = wait_until(Duration::from_secs(30), || {
        !files(&tmp.path("store"))
            .iter()
            .any(|f| f.starts_with(&prefix(&expired)))
    });
    assert!(gone, "expired recording deleted; log: {:#?}", serve.log());
    let after = files(&tmp.path("store"));
    let expected: Vec<String> = before
        .into_iter()
        .filter(|f| !f.starts_with(&prefix(&expired)))
        .collect();
    assert_eq!(after, expected, "the fresh and the unlimited ones are kept");
    assert_eq!(expected.len(), 4, "{expected:?}");
    assert!(after.iter().any(|f| f.starts_with(&prefix(&fresh))));
    assert!(after.iter().any(|f| f.starts_with(&prefix(&paid))));
    // The sweeper logs a deletion once it is done, a moment after the files are gone.
    assert!(
        wait_until(Duration::from_secs(30), || !serve
            .events("sweep.deleted")
            .is_empty()),
        "sweep.deleted logged; log: {:#?}",
        serve.log()
    );
    let deleted = serve.events("sweep.deleted");
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    assert_eq!(deleted[0]["recording"], format!("{}/", prefix(&expired)));
    // It goes on sweeping on its schedule; nothing more to delete.
    assert!(wait_until(Duration::from_secs(10), || {
        serve.events("sweep.done").len() >= 2
    }));
    assert_eq!(serve.events("sweep.deleted").len(), 1);
}

fn policy(dir: &Path, method: &str, path: &str, body: Value) {
    let body = body.to_string();
    let args = [
        "policy",
        method,
        path,
        "--org",
        "acme",
        "--config",
        "callrec.toml",
        "--body",
        &body,
    ];
    ok(callrec(dir, &args));
}

#[test]
fn a_plan_change_reaches_a_recording_still_in_the_spool() {
    let tmp = TempDir::new("uploads-plan");
    // The store's `recordings` is a plain file for now: nothing can be stored.
    std::fs::create_dir_all(tmp.path("blocked/store")).expect("store");
    std::fs::write(tmp.path("blocked/store/recordings"), b"").expect("blocker");
    let config = "[sip]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"blocked/store\"\n\
                  sweep_interval_secs = 0\n";
    std::fs::write(tmp.path("callrec.toml"), config).expect("config");
    std::fs::write(tmp.path("seed.toml"), config).expect("config");
    let dir = &tmp.0;
    policy(
        dir,
        "post",
        "/v1/organizations",
        serde_json::json!({"id": "acme", "displayName": "Acme", "region": "US"}),
    );
    policy(
        dir,
        "post",
        "/v1/locations",
        serde_json::json!({"id": "hq", "name": "HQ"}),
    );
    policy(
        dir,
        "post",
        "/v1/people",
        serde_json::json!({
            "id": "alice", "locationId": "hq", "firstName": "Alice", "lastName": "Lee",
            "email": "alice@example.com", "timeZone": "Europe/London",
            "callingLicense": "Professional", "sipAddresses": ["sip:alice@example.com"]}),
    );
    policy(
        dir,
        "put",
        "/v1/telephony/config/callRecording/vendors/dubber/termsOfService",
        serde_json::json!({"termsOfServiceEnabled": true}),
    );
    policy(
        dir,
        "put",
        "/v1/people/alice/features/callRecording",
        serde_json::json!({
            "enabled": true, "record": "Always", "recordVoicemailEnabled": false,
            "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
            "notification": {"type": "Beep", "enabled": true},
            "repeat": {"interval": 20, "enabled": false}}),
    );
    // Alice's call, on the free plan (30 days), waits in the spool; Bob is nobody's.
    spool_recording(
        dir,
        "acme",
        "alice-call",
        &["--user", "alice", "--plan", "dubber-go"],
    );
    spool_recording(
        dir,
        "acme",
        "bob-call",
        &["--user", "bob", "--plan", "dubber-go"],
    );
    let manifest = |dir: &Path| -> Vec<Value> {
        std::fs::read_dir(dir.join("spool/jobs"))
            .expect("jobs")
            .flatten()
            .map(|j| {
                serde_json::from_slice(&std::fs::read(j.path().join("job.json")).expect("job"))
                    .expect("manifest")
            })
            .collect()
    };
    let spooled = manifest(dir);
    assert_eq!(spooled.len(), 2);
    let recorded_since = {
        let job = std::fs::read_dir(dir.join("spool/jobs"))
            .expect("jobs")
            .flatten()
            .map(|j| j.path())
            .find(|j| {
                std::fs::read_to_string(j.join("job.json"))
                    .unwrap()
                    .contains("alice-call")
            })
            .expect("alice's job");
        let doc: Value =
            serde_json::from_slice(&std::fs::read(job.join("metadata.json")).unwrap()).unwrap();
        assert_eq!(doc["storage"]["plan"], "dubber-go");
        doc["storage"]["retained_since"].clone()
    };
    assert!(spooled.iter().all(|m| m["metadata"]["key"]
        .as_str()
        .unwrap()
        .starts_with("recordings/30d/acme/")));

    // Alice's organisation buys her the Standard plan (unlimited) before the upload.
    std::fs::remove_file(tmp.path("blocked/store/recordings")).expect("unblock");
    policy(
        dir,
        "put",
        "/v1/people/alice/features/callRecording/entitlement",
        serde_json::json!({"entitlement": "standard"}),
    );
    let serve = Serve::start(dir);
    assert!(
        wait_until(Duration::from_secs(30), || spooled_jobs(dir) == 0),
        "uploaded; log: {:#?}",
        serve.log()
    );
    let store = tmp.path("blocked/store");
    let stored = files(&store);
    let alice: Vec<&String> = stored.iter().filter(|f| f.contains("alice-call")).collect();
    let bob: Vec<&String> = stored.iter().filter(|f| f.contains("bob-call")).collect();
    assert_eq!((alice.len(), bob.len()), (2, 2), "{stored:?}");
    assert!(
        alice
            .iter()
            .all(|f| f.starts_with("recordings/unlimited/acme/")),
        "Alice's recording in the new class: {alice:?}"
    );
    assert!(
        bob.iter().all(|f| f.starts_with("recordings/30d/acme/")),
        "Bob's as it was: {bob:?}"
    );
    let metadata = alice
        .iter()
        .find(|f| f.ends_with(".json"))
        .expect("metadata");
    let doc: Value = serde_json::from_slice(&std::fs::read(store.join(metadata)).unwrap()).unwrap();
    assert_eq!(doc["storage"]["plan"], "dubber-standard");
    assert_eq!(doc["storage"]["retention"], "unlimited");
    assert_eq!(doc["storage"]["user"], "alice");
    assert_eq!(
        doc["storage"]["retained_since"], recorded_since,
        "retention runs from the recording"
    );
    let listed = listed(dir, "blocked/store");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r["complete"] == true), "{listed:?}");
    assert_eq!(verified(dir, "blocked/store"), 2);
    let reclassed = serve.events("upload.reclassed");
    assert_eq!(reclassed.len(), 1, "{reclassed:#?}");
}
