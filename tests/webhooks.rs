//! Completion events end to end: `callrec serve` as a process, recordings stored by
//! `callrec record` into its store and catalog (which writes their `recording.stored`
//! events), and a real HTTP receiver in this process that is down at first. The events wait
//! in the outbox while it is down (the failures visible in the API and `/metrics`), survive
//! `serve` being killed, and arrive once each when the receiver is up and `serve` is back;
//! each signature is checked with an HMAC this test computes itself, its timestamp against
//! this test's clock, and a stale one is shown refused. A delete through the API sends
//! `recording.deleted`.
//!
//! A slow receiver never slows recording: SIPREC calls from SIPp into `callrec serve` are
//! stored (objects, catalog rows, spool emptied, events pending) while a receiver holds the
//! first delivery unanswered, then each event arrives once when it lets go; a receiver that
//! never answers has each try ended by the delivery timeout and the event tried again, with
//! one request (one connection) in flight at a time.
//!
//! Each runs on the default embedded SQLite and on a fresh schema of the test PostgreSQL
//! (CALLREC_TEST_POSTGRES).

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
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

on_both_dbs!("hooks":
    events_wait_for_a_receiver_that_is_down_survive_a_restart_and_arrive_once_each_signed,
    calls_are_stored_while_a_receiver_holds_its_requests_and_a_silent_one_holds_no_event,
);

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
    let request = read_request(&mut stream)?;
    stream.write_all(OK).ok()?;
    Some(request)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Reads one request (head and body) from `stream`.
fn read_request(stream: &mut TcpStream) -> Option<Received> {
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

// ---- A slow receiver never slows recording ------------------------------------------------

/// What a [`Holding`] receiver has seen.
#[derive(Default)]
struct Holds {
    /// Requests are answered as they come (else held).
    released: bool,
    /// Every request read, in order.
    requests: Vec<Received>,
    /// Requests held unanswered, by index in `requests`, with their connection.
    held: Vec<(usize, TcpStream)>,
    /// Requests answered 200, by index in `requests`.
    answered: Vec<usize>,
    /// Held requests whose sender closed the connection (gave up) before an answer.
    abandoned: Vec<usize>,
    /// Connections accepted and not yet closed by the sender.
    open: usize,
    /// The most connections ever open at once.
    most_open: usize,
}

/// A webhook receiver that accepts every connection and reads each request, then holds it
/// unanswered until the test releases it: a receiver stuck behind a slow database, say. It
/// notices a sender that gives up (closes the connection) and counts the connections open at
/// once.
struct Holding {
    addr: SocketAddr,
    holds: Arc<Mutex<Holds>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Holding {
    fn start() -> Holding {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the receiver's port");
        let addr = listener.local_addr().expect("address");
        let holds = Arc::new(Mutex::new(Holds::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (holds, stop) = (Arc::clone(&holds), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    {
                        let mut h = holds.lock().unwrap();
                        h.open += 1;
                        h.most_open = h.most_open.max(h.open);
                    }
                    let holds = Arc::clone(&holds);
                    std::thread::spawn(move || hold(stream, &holds));
                }
            })
        };
        Holding {
            addr,
            holds,
            stop,
            thread: Some(thread),
        }
    }

    fn seen<T>(&self, look: impl FnOnce(&Holds) -> T) -> T {
        look(&self.holds.lock().unwrap())
    }

    /// From now on each request is answered at once; those held are answered 200 (`answer`)
    /// or their connections closed unanswered (the sender tries them again).
    fn release(&self, answer: bool) {
        let mut h = self.holds.lock().unwrap();
        h.released = true;
        for (index, mut stream) in std::mem::take(&mut h.held) {
            if answer && stream.write_all(OK).is_ok() {
                h.answered.push(index);
            }
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// From now on requests are held again.
    fn hold_again(&self) {
        self.holds.lock().unwrap().released = false;
    }
}

/// One connection of a [`Holding`] receiver: its request read, then answered or held, then
/// watched until the sender closes it.
fn hold(mut stream: TcpStream, holds: &Mutex<Holds>) {
    let request = read_request(&mut stream);
    let index = request.map(|request| {
        let mut h = holds.lock().unwrap();
        let index = h.requests.len();
        h.requests.push(request);
        if h.released {
            if stream.write_all(OK).is_ok() {
                h.answered.push(index);
            }
        } else if let Ok(clone) = stream.try_clone() {
            h.held.push((index, clone));
        }
        index
    });
    // Blocks until the sender closes its end (after our answer, or giving up on us).
    let _ = stream.set_read_timeout(None);
    let mut rest = [0u8; 1024];
    while matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
    let mut h = holds.lock().unwrap();
    h.open -= 1;
    if let Some(index) = index {
        if let Some(at) = h.held.iter().position(|(i, _)| *i == index) {
            h.held.remove(at);
            h.abandoned.push(index);
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.release(false);
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Checks `request`'s signature with `secret` (an HMAC computed here, and [`sign::verify`]
/// at this test's clock); its event.
fn signed_event(request: &Received, secret: &str) -> Value {
    let signature = &request.headers["callrec-signature"];
    let (t, v1) = signature
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("not t=...,v1=...: {signature}"));
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&request.body);
    assert_eq!(v1, hex(&hmac_sha256(secret.as_bytes(), &signed)));
    assert_eq!(
        sign::verify(secret, signature, &request.body, unix_now()),
        Ok(())
    );
    let event: Value = serde_json::from_slice(&request.body).expect("a JSON body");
    assert_eq!(request.headers["callrec-event-id"], event["id"]);
    event
}

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// `callrec policy` as an administrator runs it, against the scenario's database.
fn policy(dir: &Path, method: &str, path: &str, body: Value) {
    let body = body.to_string();
    let output = command(dir)
        .args(["policy", method, path, "--org", "acme", "--config"])
        .args(["callrec.toml", "--body", &body])
        .output()
        .expect("callrec policy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{path}: {stderr}");
}

/// Organisation `acme` with Alice (`sip:alice@example.com`) recorded on every call.
fn alice_recorded(dir: &Path) {
    let org = json!({"id": "acme", "displayName": "Acme", "region": "US"});
    policy(dir, "post", "/v1/organizations", org);
    policy(
        dir,
        "post",
        "/v1/locations",
        json!({"id": "hq", "name": "HQ"}),
    );
    let terms = "/v1/telephony/config/callRecording/vendors/dubber/termsOfService";
    policy(dir, "put", terms, json!({"termsOfServiceEnabled": true}));
    let alice = json!({
        "id": "alice", "locationId": "hq", "firstName": "Alice", "lastName": "Lee",
        "email": "alice@example.com", "timeZone": "Europe/London",
        "callingLicense": "Professional", "sipAddresses": ["sip:alice@example.com"]});
    policy(dir, "post", "/v1/people", alice);
    let recording = json!({
        "enabled": true, "record": "Always", "recordVoicemailEnabled": false,
        "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
        "notification": {"type": "Beep", "enabled": false},
        "repeat": {"interval": 20, "enabled": false}});
    policy(
        dir,
        "put",
        "/v1/people/alice/features/callRecording",
        recording,
    );
}

/// The SIPREC call scenario and a 1 s two-leg capture for it to play, in `dir`.
fn prepare_calls(dir: &Path) -> PathBuf {
    use callrec::media::codec::Codec;
    use callrec::pcap::{CaptureFormat, LinkType};
    use callrec::synth::{generate, LegSpec};
    let legs = [(400.0, 0), (1000.0, 1)].map(|(freq, i)| LegSpec {
        duration: Duration::from_secs(1),
        ..LegSpec::tone(Codec::Pcmu, freq, i)
    });
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
    std::fs::write(dir.join("call.pcap"), capture).expect("capture");
    let scenario = dir.join("siprec_call.xml");
    std::fs::copy(Path::new(SCENARIOS).join("siprec_call.xml"), &scenario).expect("scenario");
    scenario
}

/// `calls` SIPREC calls from SIPp, Alice talking with a number, all at once; SIPp's SIP port
/// `port`, its media 100 above.
fn sipp_calls(server: &AdminServer, scenario: &Path, port: u16, calls: usize) {
    let sip = server.sip.expect("serve's SIP address");
    let output = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &(port + 100).to_string()])
        .args(["-set", "aor_a", "sip:alice@example.com"])
        .args(["-set", "aor_b", "sip:+15550100@carrier.example"])
        .args(["-m", &calls.to_string(), "-l", &calls.to_string()])
        .args(["-r", &calls.to_string(), "-d", "1500"])
        .args(["-trace_err", "-nostdin", "-timeout", "60s"])
        .current_dir(scenario.parent().expect("folder"))
        .output()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)");
    assert!(
        output.status.success(),
        "sipp: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Jobs committed in the spool `spool`.
fn spooled_jobs(spool: &Path) -> usize {
    std::fs::read_dir(spool.join("jobs"))
        .map(|jobs| {
            jobs.flatten()
                .filter(|j| j.path().join("job.json").exists())
                .count()
        })
        .unwrap_or(0)
}

/// Metadata documents in the filesystem store under `dir`.
fn stored_documents(dir: &Path) -> usize {
    let mut found = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found += stored_documents(&path);
        } else if path.extension().is_some_and(|e| e == "json") {
            found += 1;
        }
    }
    found
}

/// The ids of the recordings `token` lists (the catalog's rows), sorted.
fn catalogued(server: &AdminServer, token: Option<&str>) -> Vec<String> {
    let (status, _, list) = server.request("GET", "/v1/convergedRecordings?max=100", token, None);
    assert_eq!(status, 200, "{list}");
    let mut ids: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// The events of the webhook in `status`, as the API lists them.
fn events(server: &AdminServer, token: Option<&str>, status: &str) -> Vec<Value> {
    let path = format!("{HOOK}/events?status={status}&limit=100");
    let (code, _, list) = server.request("GET", &path, token, None);
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().expect("items").clone()
}

/// Test-specific ports: SIPp's SIP port (media 100 above) and serve's first RTP port, apart
/// for the two databases (their scenarios run side by side).
fn ports(db: &Db) -> (u16, u16) {
    match db {
        Db::Sqlite => (9600, 31600),
        Db::Postgres { .. } => (9800, 31800),
    }
}

fn calls_are_stored_while_a_receiver_holds_its_requests_and_a_silent_one_holds_no_event(db: &Db) {
    let temp = TempDir::new("webhooks-stuck");
    let dir = temp.0.clone();
    let url = db.url(&dir);
    let (sipp_port, rtp) = ports(db);
    // A receiver's try may take a minute (the longest timeout allowed): longer than the
    // calls below take to be stored, so the first try is still waiting when they are.
    std::fs::write(
        dir.join("callrec.toml"),
        format!(
            "[sip]\nrtp_port_min = {rtp}\nrtp_port_max = {}\nidle_timeout_secs = 5\n\
             [recording]\nformat = \"wav\"\njitter_ms = 60\n\
             [store]\nurl = \"store\"\nspool = \"spool\"\n[policy]\ndb = \"{url}\"\n\
             [webhooks]\ntimeout_secs = 60\nretry_initial_ms = 1000\nretry_max_secs = 2\n",
            rtp + 199
        ),
    )
    .expect("config");
    alice_recorded(&dir);
    let args = ["--policy-db", url.as_str()];
    let admin = create_token_for(
        command(&dir),
        "cat@acme.example",
        "customer-admin",
        &["acme"],
        &args,
    );
    let admin = Some(admin.as_str());
    let alice = create_token_for(command(&dir), "alice", "user", &["acme"], &args);
    let alice = Some(alice.as_str());
    let receiver = Holding::start();
    let server = serve(&dir);
    let hook_url = format!("http://{}/hooks", receiver.addr);
    let (status, _, body) = server.request("PUT", HOOK, admin, Some(&json!({ "url": hook_url })));
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().expect("the secret").to_string();

    // The first call's event goes out and the receiver holds it.
    let scenario = prepare_calls(&dir);
    sipp_calls(&server, &scenario, sipp_port, 1);
    wait_for("the first event held by the receiver", || {
        receiver.seen(|h| (h.held.len() == 1).then_some(()))
    });
    assert_eq!(
        metric(&server, "callrec_webhook_in_flight"),
        1.0,
        "one request waits on the receiver"
    );

    // Three more calls while it holds it: each stored whole (media and metadata in the store,
    // its catalog row, out of the spool, its event written).
    sipp_calls(&server, &scenario, sipp_port, 3);
    let ids = wait_for("four calls stored", || {
        let ids = catalogued(&server, alice);
        let done = ids.len() == 4
            && stored_documents(&dir.join("store")) == 4
            && spooled_jobs(&dir.join("spool")) == 0
            && metric(&server, "callrec_uploads_total") == 4.0
            && events(&server, admin, "pending").len() == 4;
        done.then_some(ids)
    });
    let mut pending: Vec<String> = events(&server, admin, "pending")
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "recording.stored", "{e}");
            e["recordingId"].as_str().expect("recordingId").to_string()
        })
        .collect();
    pending.sort();
    assert_eq!(pending, ids);
    // ... and all of it while the first try still waited: the receiver has answered nothing,
    // got no second request, and the sender never gave up on the first.
    receiver.seen(|h| {
        assert_eq!(h.requests.len(), 1);
        assert!(h.answered.is_empty() && h.abandoned.is_empty());
        assert_eq!((h.held.len(), h.open), (1, 1));
    });
    assert_eq!(metric(&server, "callrec_webhook_in_flight"), 1.0);

    // The receiver answers: every event arrives, once, signed.
    receiver.release(true);
    wait_for("four events delivered", || {
        let (_, _, view) = server.request("GET", HOOK, admin, None);
        (view["deliveries"]["delivered"] == 4).then_some(())
    });
    let mut announced: Vec<String> = receiver.seen(|h| {
        assert_eq!(h.requests.len(), 4, "no event sent twice");
        assert_eq!(h.answered.len(), 4);
        h.requests
            .iter()
            .map(|r| {
                let event = signed_event(r, &secret);
                assert_eq!(event["type"], "recording.stored");
                event["data"]["recordingId"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect()
    });
    announced.sort();
    assert_eq!(announced, ids);

    // A receiver that never answers: each try ends at the delivery timeout (1 s here), which
    // ends its lease, and the event is tried again; one request in flight at a time.
    drop(server);
    receiver.hold_again();
    let mut impatient = command(&dir);
    impatient
        .env("CALLREC_WEBHOOKS_TIMEOUT_SECS", "1")
        .env("CALLREC_WEBHOOKS_RETRY_INITIAL_MS", "1000");
    let server = AdminServer::start(impatient, &["--config", "callrec.toml"]);
    let gone = &ids[1];
    let (status, _, body) = server.request(
        "DELETE",
        &format!("/v1/convergedRecordings/{gone}"),
        alice,
        None,
    );
    assert_eq!(status, 204, "{body}");
    let mut most_in_flight = 0.0f64;
    // Two tries given up at the timeout, each seen by the receiver as its sender closing the
    // connection unanswered, and by the API as a failed attempt.
    let waiting = wait_for("two tries given up at the timeout", || {
        most_in_flight = most_in_flight.max(metric(&server, "callrec_webhook_in_flight"));
        let waiting = events(&server, admin, "pending");
        let tried = waiting
            .iter()
            .all(|e| e["attempts"].as_u64().is_some_and(|n| n >= 2));
        let given_up = receiver.seen(|h| h.abandoned.len() >= 2);
        (given_up && tried && !waiting.is_empty()).then_some(waiting)
    });
    let (tries, deleted_id) = receiver.seen(|h| {
        let tried: BTreeSet<String> = h.requests[4..]
            .iter()
            .map(|r| {
                signed_event(r, &secret)["id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect();
        assert_eq!(tried.len(), 1, "one event, tried again: {tried:?}");
        assert_eq!(h.answered.len(), 4, "nothing answered while held");
        let id = tried.into_iter().next().expect("the id");
        (h.requests.len() - 4, id)
    });
    assert!(tries >= 2, "{tries}");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["id"], deleted_id.as_str());
    assert_eq!(waiting[0]["type"], "recording.deleted");
    assert!(waiting[0]["attempts"].as_u64() >= Some(2), "{waiting:?}");
    let error = waiting[0]["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    assert!(most_in_flight <= 1.0, "{most_in_flight}");
    assert_eq!(
        receiver.seen(|h| h.most_open),
        1,
        "one connection at a time"
    );

    // Let go (the requests it holds closed unanswered): the event arrives, once.
    receiver.release(false);
    wait_for("the deletion delivered", || {
        let (_, _, view) = server.request("GET", HOOK, admin, None);
        (view["deliveries"]["delivered"] == 5 && view["deliveries"]["pending"] == 0).then_some(())
    });
    receiver.seen(|h| {
        let answered: Vec<Value> = h
            .answered
            .iter()
            .map(|i| signed_event(&h.requests[*i], &secret))
            .collect();
        assert_eq!(answered.len(), 5, "each event answered once");
        let last = &answered[4];
        assert_eq!(last["id"], deleted_id.as_str());
        assert_eq!(last["data"]["recordingId"], gone.as_str());
        assert_eq!(last["data"]["reason"], "deleted");
        assert_eq!(h.most_open, 1);
    });
    assert_eq!(metric(&server, "callrec_webhook_in_flight"), 0.0);
}
