//! `callrec record` the way a new operator runs it in the first hour: through a pipe that
//! closes early, twice on the same call, interrupted with Ctrl-C, from standard input, with
//! mistyped legs, payload types and levels, with a gzipped or empty capture, and into a store
//! whose spool holds an older job for a store that is down. Each case checks the message a
//! person reads, the exit status a script reads, and what is left on disk.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::TempDir;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLEAN: &str = "fixtures/pcmu-clean.pcap";

/// `callrec ARGS` from the crate's root (so `fixtures/...` resolves), its environment free of
/// S3 settings the developer's shell may hold.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callrec"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT",
        "AWS_METADATA_ENDPOINT",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_SKIP_SIGNATURE",
        "CALLREC_STORE",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

fn callrec(args: &[&str]) -> Output {
    command(args).output().expect("run callrec")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp dir")
}

/// A refusal: status 2, nothing on stdout, no panic, the reason naming `what`.
fn assert_refused(output: &Output, what: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(output.stdout.is_empty(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for part in what {
        assert!(err.contains(part), "expected {part:?} in {err:?}");
    }
}

#[test]
fn a_reader_that_goes_away_is_no_panic() {
    let dir = TempDir::new("first-hour-pipe");
    let out = dir.path("out");
    let mut child = command(&["record", CLEAN, "--out", path_arg(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // `| head -c0`: the reader is gone before record prints its line.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        listing(&out),
        BTreeSet::from(["pcmu-clean.json".into(), "pcmu-clean.opus".into()])
    );
}

#[test]
fn a_second_recording_of_a_call_is_refused_and_force_replaces_every_old_file() {
    let dir = TempDir::new("first-hour-rerun");
    let out = dir.path("out");
    let first = callrec(&["record", CLEAN, "--out", path_arg(&out)]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(json_lines(&first)[0]["call_id"], "pcmu-clean");
    let before = std::fs::read(out.join("pcmu-clean.opus")).expect("first recording");

    let again = callrec(&["record", CLEAN, "--out", path_arg(&out), "--format", "wav"]);
    assert_refused(
        &again,
        &["already holds a recording of call 'pcmu-clean'", "--force"],
    );
    assert_eq!(
        std::fs::read(out.join("pcmu-clean.opus")).expect("kept"),
        before
    );
    assert_eq!(listing(&out).len(), 2, "{:?}", listing(&out));

    // Another format and layout: the old media go, the sidecar describes what is there.
    let args = ["record", CLEAN, "--out", path_arg(&out), "--force"];
    let forced = callrec(&[&args[..], &["--format", "wav", "--layout", "separate"]].concat());
    let err = stderr(&forced);
    assert!(forced.status.success(), "{err}");
    assert!(
        err.contains("removed") && err.contains("pcmu-clean.opus"),
        "{err}"
    );
    let expected = ["pcmu-clean-a.wav", "pcmu-clean-b.wav", "pcmu-clean.json"];
    assert_eq!(listing(&out), expected.map(String::from).into());
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(out.join("pcmu-clean.json")).expect("sidecar"))
            .expect("JSON");
    let named: Vec<&str> = sidecar["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(named, ["pcmu-clean-a.wav", "pcmu-clean-b.wav"]);
}

#[test]
fn call_ids_that_fold_alike_never_share_files_and_the_sidecar_keeps_the_id() {
    let dir = TempDir::new("first-hour-fold");
    let out = dir.path("out");
    let mut metadata = Vec::new();
    for id in ["a@b", "a#b", "a_b"] {
        let output = callrec(&["record", CLEAN, "--out", path_arg(&out), "--call-id", id]);
        assert!(output.status.success(), "{id}: {}", stderr(&output));
        let line = &json_lines(&output)[0];
        assert_eq!(line["call_id"], id);
        let path = line["metadata"].as_str().expect("metadata").to_string();
        let sidecar: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("sidecar")).expect("JSON");
        assert_eq!(sidecar["call"]["id"], id, "the id as given");
        metadata.push(path);
    }
    let distinct: BTreeSet<&String> = metadata.iter().collect();
    assert_eq!(distinct.len(), 3, "{metadata:?}");
    assert_eq!(listing(&out).len(), 6, "{:?}", listing(&out));
}

/// A 10-minute call: recording it as Opus takes long enough to be interrupted.
fn long_capture(dir: &TempDir) -> std::path::PathBuf {
    let mut a = LegSpec::tone(Codec::Pcmu, 440.0, 0);
    let mut b = LegSpec::tone(Codec::Pcmu, 1000.0, 1);
    a.duration = Duration::from_secs(600);
    b.duration = a.duration;
    let (bytes, _) = generate(&[a, b], CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
    let path = dir.path("long.pcap");
    std::fs::write(&path, bytes).expect("write capture");
    path
}

#[test]
fn ctrl_c_during_record_leaves_no_partial_file_and_a_rerun_cleans_old_ones() {
    let dir = TempDir::new("first-hour-sigint");
    let capture = long_capture(&dir);
    let out = dir.path("out");
    let mut child = command(&["record", path_arg(&capture), "--out", path_arg(&out)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Interrupt once the media file is being written.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !listing(&out).iter().any(|n| n.ends_with(".partial")) {
        assert!(Instant::now() < deadline, "no .partial file appeared");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "record ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "finished too early to test"
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let output = child.wait_with_output().expect("wait");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(listing(&out), BTreeSet::new(), "nothing left behind");

    // A partial file left by a run killed harder (SIGKILL) goes at the next run.
    std::fs::write(out.join("pcmu-clean.wav.partial"), b"stale").expect("stale partial");
    let rerun = callrec(&["record", CLEAN, "--out", path_arg(&out)]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert!(stderr(&rerun).contains("left by an interrupted run"));
    assert_eq!(
        listing(&out),
        BTreeSet::from(["pcmu-clean.json".into(), "pcmu-clean.opus".into()])
    );
}

#[test]
fn record_dash_reads_the_capture_from_standard_input() {
    let dir = TempDir::new("first-hour-stdin");
    let out = dir.path("out");
    let capture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(CLEAN)).expect("fixture");
    let mut child = command(&["record", "-", "--out", path_arg(&out), "--format", "wav"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&capture)
        .expect("feed");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["call_id"], "stdin");
    // The same call as from the file.
    let from_file = callrec(&["record", CLEAN, "--out", path_arg(&out), "--format", "wav"]);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    let read = |name: &str| std::fs::read(out.join(name)).expect(name);
    assert_eq!(read("stdin.wav"), read("pcmu-clean.wav"));

    let empty = command(&["record", "-", "--out", path_arg(&out)])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_refused(&empty, &["standard input: empty file"]);
}

#[test]
fn legs_are_named_as_wireshark_shows_them_and_a_miss_lists_the_streams() {
    let dir = TempDir::new("first-hour-legs");
    let out = dir.path("out");
    let out = path_arg(&out);
    let miss = callrec(&["record", CLEAN, "--out", out, "--leg-a", "0xdeadbeef"]);
    assert_refused(
        &miss,
        &[
            "no RTP stream matches SSRC 0xdeadbeef (3735928559)",
            "1) SSRC 0x10000000 (268435456), 192.0.2.10:40000 → 192.0.2.100:30000, payload type 0",
            "2) SSRC 0x10000001 (268435457)",
        ],
    );
    let same = callrec(&[
        "record",
        CLEAN,
        "--out",
        out,
        "--leg-a",
        "0x10000000",
        "--leg-b",
        "268435456",
    ]);
    assert_refused(
        &same,
        &["name the same stream", "SSRC 0x10000000 (268435456)"],
    );
    let bare_hex = callrec(&["record", CLEAN, "--out", out, "--leg-a", "deadbeef"]);
    assert_refused(&bare_hex, &["0xdeadbeef"]);

    // Decimal, as Wireshark's decimal view shows it: leg B's SSRC as leg A swaps the legs.
    let decimal = callrec(&["record", CLEAN, "--out", out, "--leg-a", "268435457"]);
    assert!(decimal.status.success(), "{}", stderr(&decimal));
    let metadata = json_lines(&decimal)[0]["metadata"]
        .as_str()
        .expect("path")
        .to_string();
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(metadata).expect("sidecar")).expect("JSON");
    assert_eq!(
        sidecar["legs"][0]["ssrcs"],
        serde_json::json!(["0x10000001"])
    );
}

#[test]
fn wrong_values_and_captures_are_refused_with_what_to_do() {
    let dir = TempDir::new("first-hour-refusals");
    let gz = dir.path("call.pcap.gz");
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(CLEAN)).expect("fixture");
    let mut gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gzip.extend_from_slice(&fixture[..64]);
    std::fs::write(&gz, gzip).expect("gz");
    let empty = dir.path("empty.pcap");
    std::fs::write(&empty, b"").expect("empty");
    let out = dir.path("out");
    let cases: [(Vec<&str>, Vec<&str>); 5] = [
        (
            vec![CLEAN, "--pt", "111=opus/8000"],
            vec!["opus/8000", "48000"],
        ),
        (
            vec![CLEAN, "--reminder-level", "3"],
            vec!["dBFS is at most 0"],
        ),
        (vec![path_arg(&gz)], vec!["call.pcap.gz", "gunzip it first"]),
        (vec![path_arg(&empty)], vec!["empty.pcap: empty file"]),
        (
            vec!["README.md"],
            vec!["README.md: not a pcap or pcapng capture"],
        ),
    ];
    for (args, what) in cases {
        let mut full = vec!["record"];
        full.extend(&args);
        full.extend(["--out", path_arg(&out)]);
        assert_refused(&callrec(&full), &what);
        assert!(listing(&out).is_empty(), "{args:?}: {:?}", listing(&out));
    }
}

#[test]
fn a_pause_after_the_call_is_a_warning() {
    let dir = TempDir::new("first-hour-pause");
    let out = dir.path("out");
    let output = callrec(&[
        "record",
        CLEAN,
        "--out",
        path_arg(&out),
        "--pause",
        "100:200",
    ]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("warning: --pause 100:200 starts after the call ends (3.0 s)"),
        "{err}"
    );
    // -q keeps the results and drops the notice.
    let quiet = callrec(&[
        "record",
        CLEAN,
        "--out",
        path_arg(&dir.path("quiet")),
        "--pause",
        "100:200",
        "-q",
    ]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "-q prints no notice");
    assert!(!quiet.stdout.is_empty(), "-q still prints the result");
}

#[test]
fn an_s3_store_without_credentials_says_what_to_set_before_any_network_call() {
    let dir = TempDir::new("first-hour-s3-creds");
    let started = Instant::now();
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join(CLEAN);
    let output = command(&["record", path_arg(&capture), "--store", "s3://bucket/calls"])
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert_refused(
        &output,
        &[
            "s3://bucket/calls: no S3 credentials given",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            "access_key_id and secret_access_key",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!dir.path("spool").exists(), "nothing spooled");
}

/// An S3 store that refuses every connection: credentials set, endpoint a closed port.
const UNREACHABLE_S3: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "callrec"),
    ("AWS_SECRET_ACCESS_KEY", "callrec"),
    ("AWS_ENDPOINT", "http://127.0.0.1:9"),
    ("AWS_ALLOW_HTTP", "true"),
];

fn spool_jobs(dir: &Path) -> BTreeSet<String> {
    listing(&dir.join("spool/jobs"))
}

#[test]
fn a_stale_job_for_another_store_neither_stalls_nor_is_named_by_a_later_record() {
    let dir = TempDir::new("first-hour-stale");
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join(CLEAN);
    let capture = path_arg(&capture);
    let record = |args: &[&str]| {
        let mut full = vec!["record", capture];
        full.extend_from_slice(args);
        command(&full)
            .current_dir(&dir.0)
            .envs(UNREACHABLE_S3)
            .output()
            .expect("run")
    };
    let down = ["--store", "s3://down/calls", "--upload-timeout", "0"];
    let first = record(&[&down[..], &["--call-id", "old"]].concat());
    let err = stderr(&first);
    assert_eq!(
        first.status.code(),
        Some(75),
        "postponed, not bad input: {err}"
    );
    let old_jobs = spool_jobs(&dir.0);
    assert_eq!(old_jobs.len(), 1);
    let old_job = old_jobs.first().expect("one job").clone();
    assert!(
        err.contains(&format!("kept in the spool as job {old_job}")),
        "{err}"
    );

    // A local store: the new recording only, at once, and a word about the old job.
    let started = Instant::now();
    let local = record(&[
        "--store",
        "local",
        "--call-id",
        "new",
        "--upload-timeout",
        "600",
    ]);
    let err = stderr(&local);
    assert!(local.status.success(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited on the old job: {err}"
    );
    assert!(!err.contains("retrying"), "the old job was retried: {err}");
    assert!(
        err.contains("1 older recording(s) wait in the spool"),
        "{err}"
    );
    assert!(err.contains("callrec storage flush"), "{err}");
    let lines = json_lines(&local);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "stored");
    assert!(
        lines[0]["metadata"]
            .as_str()
            .expect("key")
            .ends_with("/new/new.json"),
        "{lines:?}"
    );
    assert_eq!(spool_jobs(&dir.0), old_jobs, "the old job waits, untouched");

    // Another postponed upload names its own job, not the old one.
    let second = record(&[&down[..], &["--call-id", "later"]].concat());
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(75), "{err}");
    let jobs = spool_jobs(&dir.0);
    let new_job = jobs.difference(&old_jobs).next().expect("a second job");
    assert!(
        err.contains(&format!("kept in the spool as job {new_job}")),
        "{err}"
    );
    assert!(!err.contains(&format!("job {old_job}")), "{err}");
}

/// `callrec ARGS` on a terminal (a pseudo-terminal through `script`, for stdin, stdout and
/// stderr alike): its exit status and what a person sees. `script` comes with scripts/setup.
fn on_a_terminal(term: &str, args: &str) -> (Option<i32>, String) {
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_callrec"));
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TERM", term)
        .stdin(Stdio::null())
        .output()
        .expect("run `script` (bsdutils; scripts/setup installs it)");
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), shown)
}

#[test]
fn the_progress_bar_names_the_file_with_an_eta_and_respects_a_dumb_terminal() {
    let dir = TempDir::new("first-hour-progress");
    let record = |term: &str, out: &str| {
        let args = format!(
            "record fixtures/pcmu-impaired.pcap --out {}",
            path_arg(&dir.path(out))
        );
        let (status, shown) = on_a_terminal(term, &args);
        assert_eq!(status, Some(0), "{shown}");
        shown
    };
    let shown = record("xterm", "a");
    assert!(
        shown.contains("recording fixtures/pcmu-impaired.pcap [") && shown.contains("ETA"),
        "{shown}"
    );
    // Drawn once the length is known: the first bar reads 0%, not a bar of length 0's 100%.
    let first = shown.find('%').expect("a percentage");
    assert!(shown[..first].ends_with("   0"), "{shown}");
    let dumb = record("dumb", "b");
    assert!(!dumb.contains("ETA"), "{dumb}");
    assert!(
        dumb.contains("recorded pcmu-impaired"),
        "text for a person: {dumb}"
    );
}

#[test]
fn ctrl_c_during_record_to_a_store_leaves_no_spool_job() {
    let dir = TempDir::new("first-hour-sigint-store");
    let capture = long_capture(&dir);
    let mut child = command(&["record", path_arg(&capture), "--store", "local"])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let jobs = dir.path("spool/jobs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial_in_a_job = || {
        listing(&jobs).iter().any(|job| {
            listing(&jobs.join(job))
                .iter()
                .any(|n| n.ends_with(".partial"))
        })
    };
    while !partial_in_a_job() {
        assert!(Instant::now() < deadline, "no spool job appeared");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "record ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let output = child.wait_with_output().expect("wait");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert_eq!(listing(&jobs), BTreeSet::new(), "the job is gone: {err}");
    assert!(!dir.path("local/recordings").exists(), "nothing stored");
}

#[test]
fn record_dash_on_a_terminal_says_to_pipe_a_capture_in() {
    let dir = TempDir::new("first-hour-stdin-tty");
    let args = format!("record - --out {}", path_arg(&dir.path("out")));
    let (status, shown) = on_a_terminal("xterm", &args);
    assert_eq!(status, Some(2), "{shown}");
    assert!(
        shown.contains("which is a terminal: pipe a capture in"),
        "{shown}"
    );
}
