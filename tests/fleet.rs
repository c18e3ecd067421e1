//! A fleet as an operator runs one: `scripts/fleet` starts Kamailio (the dispatcher module,
//! deploy/kamailio/kamailio.cfg) in front of three `callrec serve` workers sharing the test
//! suite's PostgreSQL (a schema of its own) and RADOS Gateway (a prefix of its own), and SIPp
//! plays a calling platform against the balancer only. What is checked is what the operator
//! would check: every call answered is in the store exactly once, whole and catalogued, the
//! calls spread over every worker, a worker drained with SIGTERM takes no new call while its
//! own calls finish and are stored, a worker lost while idle costs no call (the balancer
//! fails over), a worker killed mid-call (SIGKILL) and started again stores what it had
//! of its call while the others' calls are untouched, and a worker that stalls (SIGSTOP) and
//! resumes answers none of the calls the balancer gave another worker meanwhile;
//! `callrec loadtest` drives the whole fleet through the balancer.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::TempDir;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FLEET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fleet");
const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/sipp/siprec_call_routed.xml"
);
const WORKERS: usize = 3;

/// Polls `done` every 20 ms until it holds, failing with `what` after `secs` seconds.
fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fleet started by `scripts/fleet start`, stopped by `scripts/fleet stop` when dropped (a
/// failed assertion too), which stops everything it started and nothing else.
struct Fleet {
    dir: PathBuf,
    /// Its `export` lines, by name.
    env: HashMap<String, String>,
    /// The policy database's URL (the workers', the checks').
    policy_db: String,
    /// The store's URL.
    store: String,
}

impl Fleet {
    fn start(dir: PathBuf, policy_db: &str, store: &str) -> Fleet {
        let out = Command::new(FLEET)
            .args(["start", &dir.to_string_lossy(), &WORKERS.to_string()])
            .env("CALLREC_BIN", env!("CARGO_BIN_EXE_callrec"))
            .env("CALLREC_FLEET_POLICY_DB", policy_db)
            .env("CALLREC_FLEET_STORE", store)
            // Read back with an independent WAV reader; a short jitter buffer, short calls.
            .env("CALLREC_RECORDING_FORMAT", "wav")
            .env("CALLREC_RECORDING_JITTER_MS", "60")
            .env("CALLREC_SIP_IDLE_TIMEOUT_SECS", "5")
            .output()
            .expect("scripts/fleet runs");
        // Dropped on every path from here: a start that failed halfway is stopped too.
        let mut fleet = Fleet {
            dir,
            env: HashMap::new(),
            policy_db: policy_db.into(),
            store: store.into(),
        };
        assert!(
            out.status.success(),
            "scripts/fleet start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fleet.env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fleet
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("scripts/fleet exported no {name}: {:?}", self.env))
    }

    /// Worker `i`'s log (1-based): one JSON object a line.
    fn log(&self, i: usize) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join(format!("worker-{i}/serve.log")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The SIP Call-IDs of the sessions worker `i` answered and started recording.
    fn started(&self, i: usize) -> HashSet<String> {
        self.log(i)
            .iter()
            .filter(|l| l["event"] == "call.start")
            .filter_map(|l| l["call_id"].as_str().map(str::to_string))
            .collect()
    }

    fn events(&self, i: usize, event: &str) -> usize {
        self.log(i).iter().filter(|l| l["event"] == event).count()
    }

    fn pid(&self, i: usize) -> u32 {
        let file = self.var(&format!("CALLREC_FLEET_PID_{i}"));
        std::fs::read_to_string(file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    fn callrec(&self, args: &[&str]) -> Vec<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .args(args)
            .args(["--store", &self.store])
            .output()
            .expect("callrec runs");
        assert!(
            out.status.success(),
            "callrec {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        common::cli::json_lines(&String::from_utf8_lossy(&out.stdout))
    }

    /// `storage ls`: each stored recording's SIP Call-ID, once per recording (so a call
    /// stored twice shows twice), with its name (the catalog's id) and whether it is complete.
    fn stored(&self) -> Vec<(String, bool, String)> {
        self.callrec(&["storage", "ls"])
            .into_iter()
            .filter(|l| l["type"] == "recording")
            .map(|l| {
                (
                    l["sip_call_id"].as_str().unwrap_or("").to_string(),
                    l["complete"] == true,
                    l["call"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// `scripts/fleet ACTION DIR ARGS`.
    fn script(&self, action: &str, args: &[&str]) {
        let out = Command::new(FLEET)
            .arg(action)
            .arg(&self.dir)
            .args(args)
            .env("CALLREC_BIN", env!("CARGO_BIN_EXE_callrec"))
            .env("CALLREC_RECORDING_FORMAT", "wav")
            .env("CALLREC_RECORDING_JITTER_MS", "60")
            .env("CALLREC_SIP_IDLE_TIMEOUT_SECS", "5")
            .output()
            .expect("scripts/fleet runs");
        assert!(
            out.status.success(),
            "scripts/fleet {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until every worker's policy cache holds audit number `seq` (they refresh each
    /// second).
    fn wait_policy(&self, seq: i64) {
        for i in 1..=WORKERS {
            wait_until(30, &format!("worker-{i} never read the policy"), || {
                self.metric(i, "callrec_policy_seq") >= seq as f64
            });
        }
    }

    /// Worker `i`'s `/metrics` sample `name` (a counter's with `_total`).
    fn metric(&self, i: usize, name: &str) -> f64 {
        let admin = self
            .var(&format!("CALLREC_FLEET_ADMIN_{i}"))
            .parse()
            .unwrap();
        let text = common::serve::scrape(admin).1;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    }

    /// Waits until `calls` are all in the store, complete (the uploads follow the calls' ends
    /// by a moment), or fails naming what is missing after a generous minute.
    fn wait_stored(&self, calls: &HashSet<String>) -> Vec<(String, bool, String)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stored = self.stored();
            let complete: HashSet<&str> = stored
                .iter()
                .filter(|(_, whole, _)| *whole)
                .map(|(id, _, _)| id.as_str())
                .collect();
            if calls.iter().all(|c| complete.contains(c.as_str())) {
                return stored;
            }
            assert!(
                Instant::now() < deadline,
                "not stored: {:?}",
                calls
                    .iter()
                    .filter(|c| !complete.contains(c.as_str()))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // A failed test keeps the logs (not the spools) beside the fleet's folder.
        if std::thread::panicking() {
            let kept = self.dir.with_extension("failed");
            for name in ["kamailio/kamailio.log", "kamailio/dispatcher.list"]
                .into_iter()
                .map(String::from)
                .chain((1..=WORKERS).map(|i| format!("worker-{i}/serve.log")))
            {
                let to = kept.join(name.replace('/', "-"));
                let _ = std::fs::create_dir_all(&kept);
                let _ = std::fs::copy(self.dir.join(&name), &to);
            }
            eprintln!("the fleet's logs are in {}", kept.display());
        }
        let out = Command::new(FLEET)
            .args(["stop", &self.dir.to_string_lossy()])
            .output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!(
                    "scripts/fleet stop: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// The two-leg capture SIPp plays (Alice 400 Hz, Bob 1000 Hz, `seconds` long) next to a copy
/// of the routed scenario, in `dir`.
fn prepare(dir: &Path, seconds: u64) -> PathBuf {
    let legs = [
        LegSpec {
            duration: Duration::from_secs(seconds),
            ..LegSpec::tone(Codec::Pcmu, 400.0, 0)
        },
        LegSpec {
            duration: Duration::from_secs(seconds),
            ..LegSpec::tone(Codec::Pcmu, 1000.0, 1)
        },
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("call.pcap"), capture).unwrap();
    let target = dir.join("siprec_call_routed.xml");
    std::fs::copy(SCENARIO, &target).unwrap();
    target
}

/// Starts SIPp playing `calls` SIPREC sessions of `millis` against the balancer, `rate` new
/// ones a second, from SIP port `port` (its media ports from `port + 100`); its errors are
/// read from stderr ([`assert_sipp`]). Each run's Call-IDs end in its own process id, so runs
/// never share one.
fn sipp(
    fleet: &Fleet,
    scenario: &Path,
    port: u16,
    calls: usize,
    rate: usize,
    millis: u64,
) -> Child {
    Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(fleet.var("CALLREC_FLEET_SIP"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &(port + 100).to_string()])
        .args(["-set", "aor_a", "sip:alice@example.com"])
        .args(["-set", "aor_b", "sip:bob@example.com"])
        .args(["-m", &calls.to_string(), "-l", &calls.to_string()])
        .args(["-r", &rate.to_string(), "-d", &millis.to_string()])
        .args(["-trace_err", "-nostdin", "-timeout", "90s"])
        .current_dir(scenario.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)")
}

/// The Call-IDs SIPp's run with `pid` used: `N-PID@127.0.0.1` for N from 1.
fn call_ids(pid: u32, calls: usize) -> HashSet<String> {
    (1..=calls)
        .map(|n| format!("{n}-{pid}@127.0.0.1"))
        .collect()
}

fn assert_sipp(out: &Output, dir: &Path) {
    if !out.status.success() {
        let errors: String = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!(
            "sipp failed: {}\n{errors}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs SIPp to its end: its Call-IDs, every one of them answered and hung up.
fn play(
    fleet: &Fleet,
    dir: &Path,
    port: u16,
    calls: usize,
    rate: usize,
    millis: u64,
) -> HashSet<String> {
    let scenario = prepare(dir, 2);
    let child = sipp(fleet, &scenario, port, calls, rate, millis);
    let pid = child.id();
    let out = child.wait_with_output().expect("sipp ends");
    assert_sipp(&out, dir);
    call_ids(pid, calls)
}

/// One HTTP/1.1 request to a worker's admin API with a bearer token: the status and the body
/// (JSON when it is JSON).
fn http(addr: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: callrec\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.into()));
    (status, body)
}

/// A SIPREC INVITE for Alice (siprec_call.xml's) that must be answered 403, and the ACK of
/// that answer (one transaction with the INVITE: the balancer absorbs it).
fn refused_scenario(dir: &Path) -> PathBuf {
    let xml = std::fs::read_to_string(SCENARIO).unwrap();
    let start = xml
        .find("INVITE [")
        .or_else(|| xml.find("INVITE sip:"))
        .expect("an INVITE");
    let invite = &xml[start..xml[start..].find("]]>").expect("its end") + start];
    let ack = "ACK sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>[peer_tag_param]\n\
         Call-ID: [call_id]\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n";
    let scenario = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<scenario name=\"siprec refused\">\n\
         <Global variables=\"aor_a,aor_b\"/>\n\
         <send retrans=\"500\">\n    <![CDATA[\n{invite}    ]]>\n  </send>\n\
         <recv response=\"100\" optional=\"true\"/>\n<recv response=\"403\"/>\n\
         <send>\n    <![CDATA[\n{ack}    ]]>\n  </send>\n</scenario>\n"
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("siprec_refused.xml");
    std::fs::write(&path, scenario).unwrap();
    path
}

/// The policy database's audit number: the last change's.
fn audit_seq(policy_db: &str) -> i64 {
    count(
        policy_db,
        "SELECT value FROM sequences WHERE name = 'audit'",
    )
}

/// One number the policy database answers `sql` with.
fn count(policy_db: &str, sql: &str) -> i64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(policy_db).await.expect("connect");
            let (n,): (i64,) = sqlx::query_as(sql)
                .fetch_one(&pool)
                .await
                .expect("a number");
            pool.close().await;
            n
        })
}

/// `kill -SIGNAL pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

fn gone(pid: u32) -> bool {
    // A zombie is gone too: the script that started it is its parent, not us.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// The catalog's rows (recording name → duration in ms and how the call ended), read from the
/// fleet's schema.
fn catalog(policy_db: &str) -> BTreeMap<String, (i64, String)> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(policy_db).await.expect("connect");
            let rows: Vec<(String, i64, String)> =
                sqlx::query_as("SELECT id, duration_ms, ended FROM recordings")
                    .fetch_all(&pool)
                    .await
                    .expect("the catalog");
            pool.close().await;
            rows.into_iter()
                .map(|(id, ms, ended)| (id, (ms, ended)))
                .collect()
        })
}

#[test]
fn a_fleet_behind_kamailio_records_every_call_once_and_a_drained_worker_takes_no_new_ones() {
    let temp = TempDir::new("fleet");
    let policy_db = common::postgres::fresh_schema_blocking("fleet", "fleet");
    let s3 = common::s3::S3::new("fleet");
    let fleet = Fleet::start(temp.path("fleet"), &policy_db, &s3.url);

    // Twelve sessions through the balancer, four a second, 2 s each.
    let first = play(&fleet, &temp.path("first"), 13000, 12, 4, 2000);
    let stored = fleet.wait_stored(&first);
    let mut per_call: HashMap<&str, usize> = HashMap::new();
    for (id, _, _) in &stored {
        *per_call.entry(id.as_str()).or_default() += 1;
    }
    for call in &first {
        assert_eq!(per_call.get(call.as_str()), Some(&1), "{call} stored once");
    }
    assert_eq!(stored.len(), first.len(), "nothing else stored: {stored:?}");
    // Round-robin over three workers: each took some (no worker counted twice, none idle).
    let by_worker: Vec<HashSet<String>> = (1..=WORKERS).map(|i| fleet.started(i)).collect();
    for (i, calls) in by_worker.iter().enumerate() {
        assert!(!calls.is_empty(), "worker-{} recorded none", i + 1);
    }
    assert_eq!(
        by_worker.iter().map(HashSet::len).sum::<usize>(),
        first.len()
    );

    // Three long sessions, one per worker; worker 2 is drained while its own is up.
    let long_dir = temp.path("long");
    let scenario = prepare(&long_dir, 5);
    let long = sipp(&fleet, &scenario, 13200, 3, 10, 5500);
    let long_ids = call_ids(long.id(), 3);
    let deadline = Instant::now() + Duration::from_secs(30);
    let on_2 = loop {
        let mine: Vec<String> = fleet.started(2).intersection(&long_ids).cloned().collect();
        let all: usize = (1..=WORKERS)
            .map(|i| fleet.started(i).intersection(&long_ids).count())
            .sum();
        if all == 3 {
            break mine;
        }
        assert!(
            Instant::now() < deadline,
            "the long calls never all started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(on_2.len(), 1, "one long call on worker-2");
    let drained_pid = fleet.pid(2);
    let out = Command::new(FLEET)
        .args(["drain", &fleet.dir.to_string_lossy(), "2"])
        .output()
        .expect("scripts/fleet drain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Draining: its OPTIONS answer is 503 from now on (the balancer probes each second), and
    // an INVITE that reaches it before the balancer knows is answered 503 and sent elsewhere.
    wait_until(30, "worker-2 never started draining", || {
        fleet.events(2, "drain.start") > 0
    });
    let before_2 = fleet.started(2);
    let second = play(&fleet, &temp.path("second"), 13400, 6, 6, 2000);
    let out = long.wait_with_output().expect("sipp ends");
    assert_sipp(&out, &long_dir);

    // No new call went to the drained worker; all six were recorded by the others.
    assert_eq!(
        fleet.started(2),
        before_2,
        "worker-2 took a call while draining"
    );
    let on_others: HashSet<String> = [1, 3].iter().flat_map(|&i| fleet.started(i)).collect();
    for call in &second {
        assert!(
            on_others.contains(call),
            "{call} recorded by worker-1 or worker-3"
        );
    }
    // A worker that is gone without a word (SIGKILL while idle: a crash, its machine lost):
    // the INVITEs the balancer sends it go unanswered for 2 s, then to the next worker, and
    // its OPTIONS probes go unanswered too, taking it out of rotation. Every call is still
    // answered. (A worker that stalls and resumes is below.)
    let lost = fleet.pid(3);
    signal(lost, "KILL");
    wait_until(30, "worker-3 survived SIGKILL", || gone(lost));
    let third = play(&fleet, &temp.path("third"), 13600, 4, 10, 2000);
    let on_1 = fleet.started(1);
    for call in &third {
        assert!(
            on_1.contains(call),
            "{call} recorded by worker-1, the one left"
        );
    }
    fleet.script("worker-start", &["3"]);

    // Worker 2 ran its own call to its end and stored it, then exited.
    wait_until(60, "worker-2 never exited after draining", || {
        gone(drained_pid)
    });
    assert_eq!(fleet.events(2, "drain.done"), 1);
    let drained_call = fleet
        .log(2)
        .into_iter()
        .find(|l| l["event"] == "call.end" && l["call_id"] == on_2[0].as_str())
        .expect("worker-2 ended its long call");
    assert_eq!(
        drained_call["reason"], "bye",
        "ended by its client: {drained_call}"
    );

    // Worker 2 starts again; the balancer takes workers 2 and 3 back once each has answered
    // a probe (its SIP requests counted twice: the first OPTIONS answered 200 a probe
    // interval before the second arrived). Until then the round-robin below would skip them.
    fleet.script("worker-start", &["2"]);
    for i in [2, 3] {
        wait_until(30, &format!("the balancer never probed worker-{i}"), || {
            fleet.metric(i, "callrec_sip_requests_total") >= 2.0
        });
    }

    // Three long calls, one a worker; the worker holding the last is killed (SIGKILL) 3 s
    // into it and started again: that call is recovered from its spool (what reached the
    // disk, up to about a second before the kill), the other two are untouched.
    let crash_dir = temp.path("crash");
    let scenario = prepare(&crash_dir, 5);
    let mut crash_calls = Vec::new();
    for n in 0..3u16 {
        let child = sipp(&fleet, &scenario, 13800 + 10 * n, 1, 1, 5500);
        let id = call_ids(child.id(), 1)
            .into_iter()
            .next()
            .expect("one call");
        crash_calls.push((id, child));
        // In order, so the balancer's round-robin gives one to each worker.
        wait_until(30, &format!("call {n} never started"), || {
            (1..=WORKERS).any(|i| fleet.started(i).contains(&crash_calls[n as usize].0))
        });
    }
    let holder = |call: &str| {
        (1..=WORKERS)
            .find(|&i| fleet.started(i).contains(call))
            .expect("a worker")
    };
    let victim = holder(&crash_calls[2].0);
    let crashed_call = crash_calls[2].0.clone();
    let spread: HashSet<usize> = crash_calls.iter().map(|(id, _)| holder(id)).collect();
    assert_eq!(spread.len(), 3, "one long call a worker");
    std::thread::sleep(Duration::from_millis(3000));
    let killed = fleet.pid(victim);
    signal(killed, "KILL");
    wait_until(30, &format!("worker-{victim} survived SIGKILL"), || {
        gone(killed)
    });
    fleet.script("worker-start", &[&victim.to_string()]);
    let mut crash_ids = HashSet::new();
    for (n, (id, child)) in crash_calls.into_iter().enumerate() {
        let out = child.wait_with_output().expect("sipp ends");
        // The killed worker's client hears no answer to its BYE (or a 481 from the worker
        // started again, which has no such dialog): its SIPp reports the call failed.
        if n < 2 {
            assert_sipp(&out, &crash_dir);
        }
        crash_ids.insert(id);
    }
    let crashed = fleet
        .log(victim)
        .into_iter()
        .filter(|l| l["event"] == "call.recovered")
        .count();
    assert_eq!(
        crashed, 1,
        "worker-{victim} recovered the call it was recording"
    );

    // A worker that stalls (SIGSTOP: swapped out, starved of CPU) for 3 s while calls come:
    // the INVITE the balancer gives it goes unanswered for 2 s and then to the next worker.
    // Resumed, it finds that INVITE still queued in its socket, read 3 s late: it answers
    // 503 (`sip.max_invite_wait_ms`, 1.5 s in a fleet) instead of answering a call whose
    // client took another worker's answer, and records none of these calls.
    // Not the worker just killed: the balancer may not have probed it back in yet, and a
    // worker out of rotation is given no INVITE to read late.
    let stalled = (1..=WORKERS)
        .find(|&i| i != victim)
        .expect("another worker");
    let stalled_pid = fleet.pid(stalled);
    signal(stalled_pid, "STOP");
    let stall_dir = temp.path("stall");
    let scenario = prepare(&stall_dir, 2);
    let child = sipp(&fleet, &scenario, 14200, 3, 10, 2000);
    let stall_ids = call_ids(child.id(), 3);
    std::thread::sleep(Duration::from_millis(3000));
    signal(stalled_pid, "CONT");
    let out = child.wait_with_output().expect("sipp ends");
    assert_sipp(&out, &stall_dir);
    wait_until(
        30,
        "the stalled worker never refused its stale INVITE",
        || fleet.metric(stalled, "callrec_sip_stale_invites_total") >= 1.0,
    );
    let on_stalled = fleet.started(stalled);
    assert!(
        stall_ids.iter().all(|call| !on_stalled.contains(call)),
        "worker-{stalled} answered a call it read after the balancer gave it to another"
    );
    // Back in the balancer's rotation once a probe sent after it resumed is answered.
    let requests = fleet.metric(stalled, "callrec_sip_requests_total");
    wait_until(30, "the balancer never probed the resumed worker", || {
        fleet.metric(stalled, "callrec_sip_requests_total") >= requests + 2.0
    });

    let everything: HashSet<String> = first
        .iter()
        .chain(&second)
        .chain(&long_ids)
        .chain(&third)
        .chain(&crash_ids)
        .chain(&stall_ids)
        .cloned()
        .collect();
    let stored = fleet.wait_stored(&everything);
    assert_eq!(stored.len(), everything.len(), "each call once: {stored:?}");

    // Catalogued, each once, each as long as its call (the crashed one up to about a second
    // before the kill), ended by its client's BYE but for the crashed one; the store and the
    // catalog agree.
    let rows = catalog(&fleet.policy_db);
    assert_eq!(rows.len(), everything.len(), "{rows:?}");
    let names: HashMap<&str, &str> = stored
        .iter()
        .map(|(sip, _, name)| (sip.as_str(), name.as_str()))
        .collect();
    for call in &everything {
        let name = names[call.as_str()];
        let (ms, ended) = rows
            .get(name)
            .unwrap_or_else(|| panic!("{call} ({name}) catalogued"));
        let crashed = *call == crashed_call;
        // The crashed call: 3 s in when killed, what its last syncs put on disk (a busy
        // machine's shard and syncer may lag a second or more behind the packets).
        let least = if crashed { 1000 } else { 1800 };
        assert!(
            *ms >= least,
            "{call} (crashed: {crashed}): {ms} ms of its call"
        );
        assert_eq!(ended, if crashed { "recovered" } else { "bye" }, "{call}");
    }
    let verified = fleet.callrec(&["storage", "verify", "--policy-db", &fleet.policy_db]);
    let summary = verified.last().expect("a summary");
    assert_eq!(
        (&summary["ok"], &summary["catalog_mismatches"]),
        (&Value::from(everything.len()), &Value::from(0)),
        "{verified:?}"
    );
    let balancer =
        std::fs::read_to_string(fleet.dir.join("kamailio/kamailio.log")).unwrap_or_default();
    eprintln!(
        "fleet: {} calls answered and stored, {} verified; per worker {:?}; failed over by \
         the balancer: {} after a 503, {} after no answer; the call killed 3 s in recovered \
         with {} ms; the stalled worker answered {} INVITEs 503 it read too late",
        everything.len(),
        summary["ok"],
        (1..=WORKERS)
            .map(|i| fleet.started(i).len())
            .collect::<Vec<_>>(),
        balancer.matches("(503), trying the next").count(),
        balancer.matches("(408), trying the next").count(),
        rows[names[crashed_call.as_str()]].0,
        fleet.metric(stalled, "callrec_sip_stale_invites_total"),
    );

    loadtest_drives_the_whole_fleet(&fleet);
    policy_and_tokens_reach_every_worker(&fleet, &temp);
}

/// `callrec loadtest --target` aimed at the balancer, with every worker's `/metrics`: its
/// calls go through Kamailio (RTP straight to the worker each answer names, in-dialog
/// requests along the recorded route), spread over the workers, and the step's figures are
/// the fleet's, summed.
fn loadtest_drives_the_whole_fleet(fleet: &Fleet) {
    let calls_before: Vec<f64> = (1..=WORKERS)
        .map(|i| fleet.metric(i, "callrec_calls_total"))
        .collect();
    let mut args = vec![
        "loadtest".to_string(),
        "--target".into(),
        fleet.var("CALLREC_FLEET_SIP").into(),
        "--calls".into(),
        "6".into(),
        "--seconds".into(),
        "2".into(),
        "--recorder-calls".into(),
        "1".into(),
        "--output-format".into(),
        "json".into(),
    ];
    for i in 1..=WORKERS {
        args.push("--metrics".into());
        args.push(fleet.var(&format!("CALLREC_FLEET_ADMIN_{i}")).into());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .args(&args)
        .output()
        .expect("callrec loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = common::cli::json_lines(&stdout);
    let step = lines
        .iter()
        .find(|l| l["type"] == "step")
        .expect("a step line");
    assert_eq!(step["packets_sent"], 6 * 2 * 100, "{step}");
    assert_eq!(step["recordings_stored"], 6, "{step}");
    let took: Vec<f64> = (1..=WORKERS)
        .map(|i| fleet.metric(i, "callrec_calls_total") - calls_before[i - 1])
        .collect();
    assert_eq!(took.iter().sum::<f64>(), 6.0, "{took:?}");
    assert!(took.iter().filter(|&&n| n > 0.0).count() >= 2, "{took:?}");
}

/// A change made through one worker's API governs calls on every worker, and a token revoked
/// on one is refused by all: the policy database is shared, each worker's policy cache
/// refreshes every second, and tokens are read from the database at each request.
fn policy_and_tokens_reach_every_worker(fleet: &Fleet, temp: &TempDir) {
    // Acme has Alice, her recording off (the default); an administrator's token.
    let db = ["--policy-db", fleet.policy_db.as_str()];
    let policy = |method: &str, path: &str, body: Value| {
        let body = body.to_string();
        let mut args = vec!["policy", method, path, "--org", "acme", "--body", &body];
        args.extend(db);
        let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .args(&args)
            .output()
            .expect("callrec policy");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    policy(
        "POST",
        "/v1/organizations",
        serde_json::json!({"id": "acme", "displayName": "Acme", "region": "US"}),
    );
    policy(
        "POST",
        "/v1/locations",
        serde_json::json!({"id": "hq", "name": "HQ"}),
    );
    policy(
        "POST",
        "/v1/people",
        serde_json::json!({"id": "alice", "locationId": "hq", "firstName": "Alice",
            "lastName": "Lee", "email": "alice@example.com", "timeZone": "Europe/London",
            "callingLicense": "Professional", "sipAddresses": ["sip:alice@example.com"]}),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .args(["token", "create", "--person", "ann@example.com"])
        .args(["--role", "customer-admin", "--org", "acme"])
        .args(db)
        .output()
        .expect("callrec token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let token = created["token"].as_str().expect("a token").to_string();
    let token_id = created["id"].as_str().expect("its id").to_string();
    fleet.wait_policy(audit_seq(&fleet.policy_db));

    // Refused (403) by every worker: three calls, round-robin, one each.
    let dir = temp.path("policy");
    let refused = refused_scenario(&dir);
    let before: Vec<usize> = (1..=WORKERS)
        .map(|i| fleet.events(i, "call.refused"))
        .collect();
    let out = sipp(fleet, &refused, 14000, 3, 10, 0)
        .wait_with_output()
        .expect("sipp ends");
    assert_sipp(&out, &dir);
    for i in 1..=WORKERS {
        assert_eq!(
            fleet.events(i, "call.refused"),
            before[i - 1] + 1,
            "worker-{i} refused one of Alice's calls"
        );
    }

    // Through worker 1's API: Dubber's terms accepted, Alice recorded Always.
    let admin = |i: usize| fleet.var(&format!("CALLREC_FLEET_ADMIN_{i}")).to_string();
    let terms = "/v1/telephony/config/callRecording/vendors/dubber/termsOfService";
    let (status, body) = http(
        &admin(1),
        "PUT",
        terms,
        &token,
        Some(serde_json::json!({"termsOfServiceEnabled": true})),
    );
    assert!((200..300).contains(&status), "{status} {body}");
    let feature = "/v1/people/alice/features/callRecording";
    let (status, body) = http(
        &admin(1),
        "PUT",
        feature,
        &token,
        Some(serde_json::json!({"enabled": true, "record": "Always",
            "notification": {"enabled": false}})),
    );
    assert!((200..300).contains(&status), "{status} {body}");
    let changed = Instant::now();
    let seq = audit_seq(&fleet.policy_db);
    let reached: Vec<Duration> = (1..=WORKERS)
        .map(|i| {
            wait_until(30, &format!("worker-{i} never read the change"), || {
                fleet.metric(i, "callrec_policy_seq") >= seq as f64
            });
            changed.elapsed()
        })
        .collect();

    // Now recorded by every worker, as Acme's.
    let recorded = play(fleet, &temp.path("alice"), 14200, 3, 10, 2000);
    for i in 1..=WORKERS {
        assert_eq!(
            fleet.started(i).intersection(&recorded).count(),
            1,
            "worker-{i} recorded one of Alice's calls"
        );
    }
    fleet.wait_stored(&recorded);
    let acme = count(
        &fleet.policy_db,
        "SELECT COUNT(*) FROM recordings WHERE org_id = 'acme'",
    );
    assert_eq!(acme, 3, "Alice's calls catalogued as Acme's");

    // The token works on every worker; revoked through worker 2 (a token may revoke
    // itself), it is refused by every worker from the next request on.
    for i in 1..=WORKERS {
        let (status, body) = http(&admin(i), "GET", feature, &token, None);
        assert_eq!(status, 200, "worker-{i}: {body}");
        assert_eq!(body["record"], "Always", "worker-{i}: {body}");
    }
    let (status, body) = http(
        &admin(2),
        "DELETE",
        &format!("/v1/tokens/{token_id}"),
        &token,
        None,
    );
    assert!((200..300).contains(&status), "{status} {body}");
    for i in 1..=WORKERS {
        let (status, body) = http(&admin(i), "GET", feature, &token, None);
        assert_eq!(status, 401, "worker-{i}: {body}");
    }
    eprintln!(
        "fleet: a policy change through worker-1 read by each worker's cache after {:?} \
         (refreshed every second), then Alice's calls recorded by all three",
        reached
    );
}
