//! Completion events end to end: `callrec serve` as a process, recordings stored by
//! `callrec record` into its store and catalog (which writes their `recording.stored`
//! events), and a real HTTP receiver in this process that is down at first. The events wait
//! in the outbox while it is down (the failures visible in the API and `/metrics`), survive
//! `serve` being killed, and arrive once each when the receiver is up and `serve` is back;
//! each signature is checked with an HMAC this test computes itself, its timestamp against
//! this test's clock, and a stale one is shown refused. A delete through the API sends
//! `recording.deleted`. Runs on the default embedded SQLite and on a fresh schema of the test
//! PostgreSQL (CALLREC_TEST_POSTGRES).

mod common;

use callrec::webhook::sign::{self, Refusal};
use callrec::webhook::TOLERANCE_SECS;
use common::admin::{create_token_for, AdminServer};
use common::scenario_db::{callrec_in as command, on_both_dbs, Db};
use common::TempDir;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

on_both_dbs!("hooks":events_wait_for_a_receiver_that_is_down_survive_a_restart_and_arrive_once_each_signed);

/// One request the receiver took.
#[derive(Clone, Debug)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver: plain HTTP/1.1 on a loopback port, answering 200 to every POST and
/// keeping what it was sent.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(addr: SocketAddr) -> Receiver {
        let listener = TcpListener::bind(addr).expect("the receiver's port");
        let addr = listener.local_addr().expect("address");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, stop) = (Arc::clone(&got), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        if let Some(request) = take(stream) {
                            got.lock().unwrap().push(request);
                        }
                    }
                }
            })
        };
        Receiver {
            addr,
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and answers 200.
fn take(mut stream: TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let split = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let headers: BTreeMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buf[split + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    Some(Received { headers, body })
}

/// HMAC-SHA256 (RFC 2104), computed here from SHA-256 alone, apart from the server's.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Polls `check` until it gives a value (a minute at most, so a broken build fails rather
/// than hangs; no assertion is made on how long it took).
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A port on loopback no one listens on (yet): the receiver's, while it is down.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address")
}

fn serve(dir: &Path) -> AdminServer {
    AdminServer::start(command(dir), &["--config", "callrec.toml"])
}

fn record(dir: &Path, call_id: &str) {
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let output = command(dir)
        .args([
            "record",
            &capture,
            "--config",
            "record.toml",
            "--org",
            "acme",
        ])
        .args([
            "--user",
            "alice",
            "--call-id",
            call_id,
            "--plan",
            "dubber-standard",
        ])
        .output()
        .expect("record");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

fn metric(server: &AdminServer, sample: &str) -> f64 {
    let (status, _, body) = server.request("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let text = body.as_str().unwrap_or_default().to_string();
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(name, _)| *name == sample)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(-1.0)
}

const HOOK: &str = "/v1/telephony/config/callRecording/webhook";

fn events_wait_for_a_receiver_that_is_down_survive_a_restart_and_arrive_once_each_signed(db: &Db) {
    let temp = TempDir::new("webhooks");
    let dir = temp.0.clone();
    let url = db.url(&dir);
    let config = |spool: &str| {
        format!(
            "[store]\nurl = \"store\"\nspool = \"{spool}\"\n[policy]\ndb = \"{url}\"\n\
             [webhooks]\ntimeout_secs = 2\nretry_initial_ms = 200\nretry_max_secs = 1\n"
        )
    };
    std::fs::write(dir.join("callrec.toml"), config("spool-serve")).expect("config");
    std::fs::write(dir.join("record.toml"), config("spool-record")).expect("config");
    let admin = create_token_for(
        command(&dir),
        "cat@acme.example",
        "customer-admin",
        &["acme"],
        &["--policy-db", &url],
    );
    let token = Some(admin.as_str());
    let server = serve(&dir);

    // Registered while the receiver is down; URLs that would reach inside are refused.
    let down = free_port();
    for refused in [
        "http://169.254.169.254/latest/meta-data/",
        "http://hooks.example.com/in",
        "ftp://127.0.0.1/",
    ] {
        let (status, _, body) =
            server.request("PUT", HOOK, token, Some(&json!({ "url": refused })));
        assert_eq!(status, 400, "{refused}: {body}");
    }
    let hook_url = format!("http://{down}/hooks");
    let (status, _, body) = server.request("PUT", HOOK, token, Some(&json!({ "url": hook_url })));
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(body["url"], hook_url);
    let (_, _, shown) = server.request("GET", HOOK, token, None);
    assert_eq!(shown["url"], hook_url);
    assert!(
        shown.get("secret").is_none(),
        "a GET never shows the secret: {shown}"
    );

    // Three recordings stored while the receiver is down: their events wait, tried and
    // failed, visible in the API and in /metrics.
    let calls = ["call-1", "call-2", "call-3"];
    for call in calls {
        record(&dir, call);
    }
    let failing = wait_for("a failed delivery shown by the API", || {
        let (_, _, view) = server.request("GET", HOOK, token, None);
        let tried = !view["deliveries"]["lastError"].is_null();
        (tried && view["deliveries"]["pending"] == 3).then_some(view)
    });
    assert_eq!(failing["deliveries"]["delivered"], 0, "{failing}");
    assert!(
        metric(
            &server,
            "callrec_webhook_deliveries_total{outcome=\"retried\"}"
        ) >= 1.0
    );
    let (status, _, pending) =
        server.request("GET", &format!("{HOOK}/events?status=pending"), token, None);
    assert_eq!(status, 200, "{pending}");
    let waiting: BTreeSet<&str> = pending["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["recordingId"].as_str().expect("recordingId"))
        .collect();
    assert_eq!(waiting, BTreeSet::from(calls));

    // serve dies with every event pending; the receiver comes up; serve comes back.
    drop(server);
    let receiver = Receiver::start(down);
    let server = serve(&dir);
    let got = wait_for("three events delivered", || {
        let got = receiver.received();
        (got.len() >= 3).then_some(got)
    });

    // A delete through the API announces itself too.
    let (status, _, body) = server.request("DELETE", "/v1/convergedRecordings/call-2", token, None);
    assert_eq!(status, 204, "{body}");
    let got = wait_for("the deletion delivered", || {
        let all = receiver.received();
        (all.len() > got.len()).then_some(all)
    });
    let view = wait_for("every delivery counted", || {
        let (_, _, view) = server.request("GET", HOOK, token, None);
        (view["deliveries"]["delivered"] == 4).then_some(view)
    });
    assert_eq!(view["deliveries"]["pending"], 0, "{view}");
    assert!(view["deliveries"]["lastDeliveredAt"].is_string(), "{view}");

    // Each event once, each signed with the secret over t.body at a fresh t.
    let now = unix_now();
    let mut ids = BTreeSet::new();
    let mut seen = Vec::new();
    for request in &got {
        let event: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        let id = event["id"].as_str().expect("an id").to_string();
        assert_eq!(request.headers["callrec-event-id"], id);
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(ids.insert(id.clone()), "event {id} arrived twice");
        let signature = &request.headers["callrec-signature"];
        let (t, v1) = signature
            .split_once(',')
            .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
            .unwrap_or_else(|| panic!("not t=...,v1=...: {signature}"));
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(&request.body);
        assert_eq!(
            v1,
            hex(&hmac_sha256(secret.as_bytes(), &signed)),
            "{signature}"
        );
        let t: u64 = t.parse().expect("unix seconds");
        assert!(now.abs_diff(t) <= TOLERANCE_SECS, "t={t} now={now}");
        assert_eq!(sign::verify(&secret, signature, &request.body, now), Ok(()));
        // The same request replayed later than the tolerance: a receiver refuses it.
        assert!(matches!(
            sign::verify(&secret, signature, &request.body, t + TOLERANCE_SECS + 1),
            Err(Refusal::Stale(_))
        ));
        assert_eq!(event["orgId"], "acme");
        seen.push((
            event["type"].as_str().unwrap().to_string(),
            event["data"]["recordingId"].as_str().unwrap().to_string(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("recording.deleted".to_string(), "call-2".to_string()),
            ("recording.stored".to_string(), "call-1".to_string()),
            ("recording.stored".to_string(), "call-2".to_string()),
            ("recording.stored".to_string(), "call-3".to_string()),
        ]
    );
    let stored: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(stored["data"]["personId"], "alice", "{stored}");
    assert_eq!(stored["data"]["format"], "opus", "{stored}");

    // Visible: the deliveries counted, the outbox empty.
    assert_eq!(
        metric(
            &server,
            "callrec_webhook_deliveries_total{outcome=\"delivered\"}"
        ),
        4.0
    );
    wait_for("the backlog gauge at zero", || {
        (metric(&server, "callrec_webhook_backlog") == 0.0).then_some(())
    });
    let (_, _, delivered) = server.request(
        "GET",
        &format!("{HOOK}/events?status=delivered"),
        token,
        None,
    );
    assert_eq!(
        delivered["items"].as_array().map(Vec::len),
        Some(4),
        "{delivered}"
    );

    // Registration and removal are in the audit trail, with the URL and never the secret.
    let (status, _, _) = server.request("DELETE", HOOK, token, None);
    assert_eq!(status, 204);
    let (status, _, _) = server.request("GET", HOOK, token, None);
    assert_eq!(status, 404);
    let (_, _, audit) = server.request("GET", "/v1/audit?limit=1000", token, None);
    let rows: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "webhook")
        .collect();
    assert_eq!(rows.len(), 2, "{audit}");
    assert_eq!(rows[0]["after"]["url"], hook_url);
    assert!(rows[1]["after"].is_null());
    assert!(
        !audit.to_string().contains(&secret),
        "the secret is in the audit trail"
    );
    drop(receiver);
}
