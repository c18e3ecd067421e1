//! The server's logs as an operator reads them: one JSON object per line on stderr, the
//! level chosen by `-q`/`-v` (which win) or `CALLREC_LOG` (which wins over the default), and
//! every line about a call carrying its Call-ID at the top level, including the lines its
//! shard thread writes long after signalling has let go of it. The last two run the server's
//! parts in-process under a subscriber of the test's own, writing into a buffer: the call's
//! span as tracing sees it, and the policy cache's failures logged once.

mod common;

use callrec::policydb::cache::PolicyCache;
use callrec::policydb::PolicyDb;
use callrec::server::siprec::client::SrcSession;
use common::in_process::InProcess;
use common::serve::Serve;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// SIP on a loopback port the system picks, RTP from `rtp_base` (this file's own range).
fn config(rtp_base: u16) -> String {
    format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = {rtp_base}\nrtp_port_max = {}\n\
         [recording]\nformat = \"wav\"\njitter_ms = 60\n",
        rtp_base + 99
    )
}

/// The log lines a server started with `flags` and `env` wrote while starting: it prints its
/// ready line after logging `serve.ready`, so once it is read every start-up line is there.
fn start_up_lines(test: &str, rtp_base: u16, flags: &[&str], env: &[(&str, &str)]) -> Vec<Value> {
    let mut serve = Serve::start_in_temp_with(test, &config(rtp_base), flags, env);
    serve.kill();
    serve.log()
}

fn events(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["event"].as_str()).collect()
}

#[test]
fn by_default_the_server_logs_info_lines_with_time_level_and_event() {
    let lines = start_up_lines("logs-default", 44_000, &[], &[]);
    let ready = lines
        .iter()
        .find(|l| l["event"] == "serve.ready")
        .unwrap_or_else(|| panic!("no serve.ready in {lines:#?}"));
    assert_eq!(ready["level"], "info");
    assert_eq!(ready["target"], "callrec::server::serve");
    assert!(
        ready["ts"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ready}"
    );
    assert!(ready["sip"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    // Debug lines wait for -v.
    assert!(!events(&lines).contains(&"recording.started"), "{lines:#?}");
}

#[test]
fn quiet_drops_every_line_below_error() {
    let lines = start_up_lines("logs-quiet", 44_100, &["-q"], &[]);
    assert!(lines.iter().all(|l| l["level"] == "error"), "{lines:#?}");
    assert!(!events(&lines).contains(&"serve.ready"));
}

#[test]
fn callrec_log_chooses_levels_per_module() {
    let lines = start_up_lines(
        "logs-env",
        44_200,
        &[],
        &[("CALLREC_LOG", "warn,callrec::server::serve=debug")],
    );
    let seen = events(&lines);
    assert!(seen.contains(&"recording.started"), "{lines:#?}");
    assert!(seen.contains(&"serve.ready"), "{lines:#?}");

    let lines = start_up_lines("logs-env-warn", 44_300, &[], &[("CALLREC_LOG", "warn")]);
    assert!(!events(&lines).contains(&"serve.ready"), "{lines:#?}");
}

#[test]
fn a_flag_wins_over_callrec_log() {
    let lines = start_up_lines("logs-flag", 44_400, &["-v"], &[("CALLREC_LOG", "error")]);
    let started = lines
        .iter()
        .find(|l| l["event"] == "recording.started")
        .unwrap_or_else(|| panic!("-v shows debug lines: {lines:#?}"));
    assert_eq!(started["level"], "debug");
    assert!(started["shards"].as_u64().is_some_and(|n| n > 0));

    let lines = start_up_lines("logs-flag-q", 44_500, &["-q"], &[("CALLREC_LOG", "debug")]);
    assert!(!events(&lines).contains(&"serve.ready"), "{lines:#?}");
}

#[test]
fn a_callrec_log_that_does_not_parse_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .args(["serve", "--config", "no-such-file.toml"])
        .env("CALLREC_LOG", "callrec=loud")
        .output()
        .expect("callrec runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("callrec: CALLREC_LOG=callrec=loud: "),
        "{stderr}"
    );
}

/// Places one short call to `sip`: a session, ten packets of tone on each leg, a BYE.
async fn place_call(sip: SocketAddr, call_id: &str) {
    let senders = [
        UdpSocket::bind("127.0.0.1:0").await.expect("a socket"),
        UdpSocket::bind("127.0.0.1:0").await.expect("a socket"),
    ];
    let offered = senders
        .each_ref()
        .map(|s| s.local_addr().expect("bound").port());
    let (mut src, to) = SrcSession::open(sip, call_id, offered, None)
        .await
        .expect("the call is answered");
    let frame = common::pcmu_frame(400.0);
    for n in 0..10u16 {
        for (leg, sender) in senders.iter().enumerate() {
            let ssrc = 0xC0 + leg as u32;
            let packet = callrec::synth::rtp_packet(0, n == 0, n, u32::from(n) * 160, ssrc, &frame);
            sender.send_to(&packet, to[leg]).await.expect("sent");
        }
    }
    src.bye().await.expect("the BYE is answered");
}

/// A call through the built binary: every line about it carries its Call-ID and recording
/// name at the top level, the ones signalling writes (`call.start`, `call.end`) and the one
/// its media shard's thread writes once the recording is in the spool (`call.spooled`,
/// whose own fields name only the recording: the call's span brings the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_call_carries_its_call_id() {
    let serve = Serve::start_in_temp_with("logs-call", &config(44_600), &[], &[]);
    let call_id = "logs-call-1@example.com";
    place_call(serve.sip, call_id).await;
    let serve = tokio::task::spawn_blocking(move || {
        serve.recordings(1);
        serve
    })
    .await
    .expect("the recording is stored");

    let lines = serve.log();
    let start = serve.events("call.start");
    assert_eq!(start.len(), 1, "{lines:#?}");
    let recording = start[0]["recording"].as_str().expect("a recording name");
    assert!(recording.starts_with("logs-call-1"), "{recording}");
    // The shard logs the spooled recording before the uploader may store it: it is there.
    let spooled = serve.events("call.spooled");
    assert_eq!(spooled.len(), 1, "{lines:#?}");
    let spooled = &spooled[0];
    assert_eq!(spooled["call_id"], call_id, "{spooled}");
    assert_eq!(spooled["recording"], recording, "{spooled}");
    assert_eq!(spooled["call"], recording, "{spooled}");

    let of_the_call: Vec<&str> = lines
        .iter()
        .filter(|l| l["call_id"] == call_id)
        .filter_map(|l| l["event"].as_str())
        .collect();
    for event in ["call.start", "call.end", "call.spooled"] {
        assert!(of_the_call.contains(&event), "{event} in {lines:#?}");
    }
    for line in lines.iter().filter(|l| l["call_id"] == call_id) {
        assert_eq!(line["recording"], recording, "{line}");
    }
}

/// Where the in-process server's events go: every line the subscriber writes, kept.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// Every line written so far, parsed.
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("the buffer").clone();
        String::from_utf8(bytes)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect()
    }
}

/// The test process's subscriber, installed by the first test that asks: tracing-subscriber's
/// own JSON format (span list and thread names on), into a buffer. Tests tell their lines
/// apart by what they hold (a Call-ID, an event only they cause).
fn captured() -> &'static Buffer {
    static CAPTURED: OnceLock<Buffer> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_span_list(true)
            .with_current_span(false)
            .with_thread_names(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        buffer
    })
}

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The server inside the test, its events caught by [`captured`]: the call's span reaches
/// `call.spooled`, an event the media shard's thread emits with nothing of the call but the
/// recording's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_span_reaches_an_event_the_media_shard_emits() {
    let buffer = captured();

    let mut server = InProcess::start("logs-in-process", |config| {
        config.recording.format = "wav".into();
        config.sip.rtp_port_min = 44_700;
        config.sip.rtp_port_max = 44_799;
    })
    .await;
    let call_id = "logs-in-process-1";
    place_call(server.sip, call_id).await;
    server.recordings(1).await;
    server.stop().await;

    let lines = buffer.lines();
    let spooled: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "call.spooled")
        .filter(|l| l["spans"][0]["call_id"] == call_id)
        .collect();
    assert_eq!(spooled.len(), 1, "{lines:#?}");
    let spooled = spooled[0];
    assert!(
        spooled["threadName"]
            .as_str()
            .is_some_and(|t| t.starts_with("callrec-media-")),
        "emitted on a media shard's thread: {spooled}"
    );
    assert!(spooled["fields"].get("call_id").is_none(), "{spooled}");
    let span = &spooled["spans"][0];
    assert_eq!(span["name"], "call", "{spooled}");
    assert_eq!(span["call_id"], call_id, "{spooled}");
    assert_eq!(span["recording"], spooled["fields"]["call"], "{spooled}");
    // Signalling's lines of the call are in its span too.
    let start = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call.start" && l["spans"][0]["call_id"] == call_id)
        .expect("call.start");
    assert_eq!(start["spans"][0]["call_id"], call_id, "{start}");
    assert_eq!(start["spans"][0]["recording"], span["recording"], "{start}");
}

/// A policy store that stops answering is logged once when refreshes start failing, not at
/// every tick (the failures are counted in `/metrics`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_policy_refreshes_are_logged_once() {
    let buffer = captured();
    let file = common::sqlite::SqliteFile::new("logs", "policy-refresh");
    let db = PolicyDb::open(&file.url())
        .await
        .expect("the policy store opens");
    db.migrate().await.expect("the policy schema");
    let cache = Arc::new(PolicyCache::load(db).await.expect("the cache loads"));
    let refresher = cache.spawn_refresher(Duration::from_millis(10));
    let raw = sqlx::AnyPool::connect(&file.url())
        .await
        .expect("a second connection");
    sqlx::query("DROP TABLE audit")
        .execute(&raw)
        .await
        .expect("the audit table dropped behind the cache's back");
    raw.close().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Waiting on the counter, a few ticks past the first failure.
    while cache.stats().failed_refreshes < 5 {
        assert!(Instant::now() < deadline, "refreshes never failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    refresher.abort();
    let failed: Vec<Value> = buffer
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "policy.refresh_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["level"], "WARN");
    assert!(
        failed[0]["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("audit")),
        "{failed:#?}"
    );
}
