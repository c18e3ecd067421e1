//! `callrec record --store` and `callrec storage ...` as real processes against real stores,
//! with the faults they must survive: the process killed (SIGKILL) at any moment, the S3 server
//! stopped mid-upload and restarted, the spool full. After each: every recording stored once,
//! intact (its SHA-256 re-read from the store), and nothing left in the spool.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::cli::{json_lines, ok};
use common::s3::S3;
use common::TempDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn command(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callrec"));
    cmd.current_dir(dir).args(args);
    cmd
}

fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args, dir);
    cmd.envs(env.iter().copied());
    cmd.output().expect("run callrec")
}

/// A 10-minute two-leg PCMU call: long enough (seconds to record as WAV) to be killed at
/// chosen moments, and a 19 MB WAV goes up to S3 in parts.
fn long_capture() -> &'static Path {
    static CAPTURE: OnceLock<PathBuf> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let mut a = LegSpec::tone(Codec::Pcmu, 440.0, 0);
        let mut b = LegSpec::tone(Codec::Pcmu, 1000.0, 1);
        a.duration = Duration::from_secs(600);
        b.duration = a.duration;
        let (bytes, _) = generate(&[a, b], CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
        let path =
            std::env::temp_dir().join(format!("callrec-faults-long-{}.pcap", std::process::id()));
        std::fs::write(&path, bytes).expect("write capture");
        path
    })
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Files left in the spool's jobs (none once everything is stored).
fn spool_files(spool: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(jobs) = std::fs::read_dir(spool.join("jobs")) {
        for job in jobs.flatten() {
            files.extend(
                std::fs::read_dir(job.path())
                    .expect("job dir")
                    .flatten()
                    .map(|e| e.path())
                    // The writer's lock is the spool's, not the recording's.
                    .filter(|p| p.file_name().is_none_or(|n| n != "writer.lock")),
            );
        }
    }
    files
}

/// `storage ls` and `storage verify` agree the store holds exactly `expected` complete,
/// intact recordings; returns the ls lines.
fn assert_stored(store: &str, dir: &Path, env: &[(&str, &str)], expected: usize) -> Vec<Value> {
    let mut listed = json_lines(&ok(run(&["storage", "ls", "--store", store], dir, env)));
    let summary = listed.pop().expect("a summary line");
    assert_eq!(
        (
            &summary["type"],
            &summary["complete"],
            &summary["incomplete"]
        ),
        (&"summary".into(), &expected.into(), &0.into()),
        "{summary}"
    );
    assert_eq!(listed.len(), expected, "{listed:?}");
    assert!(listed.iter().all(|r| r["complete"] == true), "{listed:?}");
    let mut verified = json_lines(&ok(run(&["storage", "verify", "--store", store], dir, env)));
    let summary = verified.pop().expect("a summary line");
    assert_eq!(
        (&summary["type"], &summary["ok"], &summary["failed"]),
        (&"summary".into(), &expected.into(), &0.into()),
        "{summary}"
    );
    assert_eq!(verified.len(), expected);
    assert!(verified.iter().all(|r| r["ok"] == true), "{verified:?}");
    listed
}

#[test]
fn record_to_a_local_store_keeps_the_exact_recording_with_its_retention() {
    let tmp = TempDir::new("faults-local");
    let store = tmp.path("store");
    let store = store.to_str().expect("utf-8");
    let capture = fixture("pcmu-impaired.pcap");
    let stdout = ok(run(
        &[
            "record",
            &capture,
            "--store",
            store,
            "--org",
            "acme",
            "--user",
            "sip:alice@acme.example",
            "--plan",
            "dubber-go",
        ],
        &tmp.0,
        &[],
    ));
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "stored");
    let metadata_key = lines[0]["metadata"].as_str().expect("the metadata's key");
    assert!(
        metadata_key.starts_with("recordings/30d/acme/"),
        "{metadata_key}"
    );
    // The stored media are byte for byte what `record --out` writes for the same capture.
    let plain = ok(run(&["record", &capture, "--out", "plain"], &tmp.0, &[]));
    let plain_media = json_lines(&plain)[0]["recording"]
        .as_str()
        .expect("path")
        .to_string();
    let stored_media = lines[0]["media"][0].as_str().expect("media key");
    assert_eq!(
        std::fs::read(tmp.path(&plain_media)).expect("plain"),
        std::fs::read(Path::new(store).join(stored_media)).expect("stored")
    );
    let listed = assert_stored(store, &tmp.0, &[], 1);
    let since = listed[0]["retained_since"].as_str().expect("since");
    let expires = listed[0]["expires"].as_str().expect("expires");
    let days = |t: &str| {
        callrec::time::Time::parse_rfc3339(t)
            .expect("time")
            .as_secs_f64()
            / 86_400.0
    };
    assert!(
        (days(expires) - days(since) - 30.0).abs() < 1e-9,
        "{since} -> {expires}"
    );
    assert_eq!(listed[0]["user"], "sip:alice@acme.example");
    assert!(spool_files(&tmp.path("spool")).is_empty());

    // A paid plan: unlimited, no expiry.
    let paid = ok(run(
        &[
            "record",
            &capture,
            "--store",
            store,
            "--org",
            "acme",
            "--plan",
            "dubber-ai",
        ],
        &tmp.0,
        &[],
    ));
    assert!(json_lines(&paid)[0]["metadata"]
        .as_str()
        .expect("key")
        .starts_with("recordings/unlimited/acme/"));
    let listed = assert_stored(store, &tmp.0, &[], 2);
    assert!(listed
        .iter()
        .any(|r| r["expires"].is_null() && r["plan"] == "dubber-ai"));
}

#[test]
fn killed_at_any_moment_a_rerun_stores_the_recording_exactly_once() {
    let tmp = TempDir::new("faults-kill");
    let store = tmp.path("store");
    let store = store.to_str().expect("utf-8");
    let capture = long_capture().to_str().expect("utf-8").to_string();
    let args = [
        "record",
        capture.as_str(),
        "--format",
        "wav",
        "--store",
        store,
        "--org",
        "acme",
    ];
    let started = Instant::now();
    ok(run(&args, &tmp.0, &[]));
    let full = started.elapsed();
    let reference = assert_stored(store, &tmp.0, &[], 1);
    std::fs::remove_dir_all(tmp.path("store")).expect("clear store");

    // Kill it at moments spread over a whole run: while recording into the spool, while
    // committing, while uploading. Each rerun stores its own recording; `storage flush` then
    // finishes what the killed run left (a `record` never waits on another job), leaving one
    // intact copy.
    let mut discarded = 0;
    for fraction in [0.1, 0.5, 0.8, 0.9, 0.95, 0.99] {
        let mut child = command(&args, &tmp.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(full.mul_f64(fraction));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        ok(run(&args, &tmp.0, &[]));
        let flush = run(&["storage", "flush"], &tmp.0, &[]);
        let stderr = String::from_utf8_lossy(&flush.stderr).to_string();
        discarded += usize::from(stderr.contains("discarded spool job"));
        ok(flush);
        let listed = assert_stored(store, &tmp.0, &[], 1);
        assert_eq!(listed[0]["recording"], reference[0]["recording"]);
        assert_eq!(
            listed[0]["bytes"].as_u64().map(|b| b > 19_000_000),
            Some(true)
        );
        assert!(
            spool_files(&tmp.path("spool")).is_empty(),
            "spool left: {:?}",
            spool_files(&tmp.path("spool"))
        );
    }
    assert!(
        discarded >= 1,
        "no kill landed while the spool job was being written"
    );
}

/// Records `count` long calls as WAV while the store is unreachable: each stays in the spool.
fn spool_while_down(s3: &S3, dir: &Path, count: usize) {
    s3.gateway("gateway-stop");
    let capture = long_capture().to_str().expect("utf-8").to_string();
    for n in 0..count {
        let call = format!("call-{n}");
        let out = run(
            &[
                "record",
                &capture,
                "--format",
                "wav",
                "--store",
                &s3.url,
                "--org",
                "acme",
                "--call-id",
                &call,
                "--upload-timeout",
                "0",
            ],
            dir,
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("kept in the spool"),
            "{stderr}"
        );
    }
    assert_eq!(
        spool_files(&dir.join("spool")).len(),
        count * 3,
        "media, metadata, manifest each"
    );
    s3.gateway("gateway-start");
}

fn wait_ok(mut child: std::process::Child, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let output = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(status.success(), "flush failed: {stderr}");
            return String::from_utf8(output.stdout).expect("utf-8");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn store_stopped_mid_upload_and_restarted_every_recording_arrives_once_intact() {
    let tmp = TempDir::new("faults-s3-down");
    let s3 = S3::new("faults-down");
    spool_while_down(&s3, &tmp.0, 3);

    let flush = command(&["storage", "flush"], &tmp.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flush");
    std::thread::sleep(Duration::from_millis(400));
    s3.gateway("gateway-stop");
    std::thread::sleep(Duration::from_secs(4));
    s3.gateway("gateway-start");
    let stdout = wait_ok(flush, Duration::from_secs(180));

    let mut jobs = json_lines(&stdout);
    let summary = jobs.pop().expect("a summary line");
    assert_eq!(
        summary,
        serde_json::json!({"type": "summary", "stored": 3, "pending": 0})
    );
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j["type"] == "stored"), "{jobs:?}");
    let retries: u64 = jobs
        .iter()
        .map(|j| j["retries"].as_u64().expect("retries"))
        .sum();
    assert!(retries >= 1, "the outage never hit an upload: {jobs:?}");
    let listed = assert_stored(&s3.url, &tmp.0, &[], 3);
    assert!(listed.iter().all(|r| r["objects"] == 2), "{listed:?}");
    assert!(spool_files(&tmp.path("spool")).is_empty());
}

#[test]
fn killed_while_uploading_the_next_start_completes_every_upload() {
    let tmp = TempDir::new("faults-s3-kill");
    let s3 = S3::new("faults-kill");
    spool_while_down(&s3, &tmp.0, 3);
    for delay_ms in [300, 900] {
        let mut flush = command(&["storage", "flush"], &tmp.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("flush");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = flush.kill();
        let _ = flush.wait();
    }
    assert!(
        !spool_files(&tmp.path("spool")).is_empty(),
        "the kills came too late to test anything"
    );
    ok(run(&["storage", "flush"], &tmp.0, &[]));
    let listed = assert_stored(&s3.url, &tmp.0, &[], 3);
    assert!(listed.iter().all(|r| r["objects"] == 2), "{listed:?}");
    assert!(spool_files(&tmp.path("spool")).is_empty());
}

#[test]
fn a_full_spool_refuses_new_recordings_and_loses_nothing_already_spooled() {
    let tmp = TempDir::new("faults-s3-full");
    let s3 = S3::new("faults-full");
    let capture = fixture("pcmu-impaired.pcap");
    let limit = [("CALLREC_SPOOL_LIMIT_BYTES", "1000")];
    s3.gateway("gateway-stop");
    let first = run(
        &[
            "record",
            &capture,
            "--store",
            &s3.url,
            "--call-id",
            "first",
            "--upload-timeout",
            "0",
        ],
        &tmp.0,
        &limit,
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("kept in the spool"));
    let spooled: Vec<(PathBuf, Vec<u8>)> = spool_files(&tmp.path("spool"))
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    let second = run(
        &[
            "record",
            &capture,
            "--store",
            &s3.url,
            "--call-id",
            "second",
            "--upload-timeout",
            "0",
        ],
        &tmp.0,
        &limit,
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    // Nothing of the new recording is kept: a failure (1), not bad input.
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("spool full") && stderr.contains("limit 1000 bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 recording(s) wait in the spool") && stderr.contains("storage flush"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "the refusal only: the older job is not retried: {stderr}"
    );
    for (path, bytes) in &spooled {
        assert_eq!(&std::fs::read(path).expect("still spooled"), bytes);
    }
    s3.gateway("gateway-start");
    ok(run(&["storage", "flush"], &tmp.0, &limit));
    let listed = assert_stored(&s3.url, &tmp.0, &[], 1);
    assert_eq!(listed[0]["call"], "first");
}
