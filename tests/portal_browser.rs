//! The recordings portal in a real browser: headless Chromium (driven over WebDriver, see
//! tests/common/webdriver.rs) against a real `callrec serve` holding real recordings, made the
//! way they are in production: SIPREC calls from SIPp, and a call recorded from a capture that
//! waited in the spool. Each test checks what a person sees and can do: signing in, the list
//! newest first, the filters, playing (and seeking: the audio route's Range support), the
//! download link's file name, deleting with a confirmation, an administrator's view of a Dubber
//! Go recording they may not play, a recording encrypted at rest playing, seeking and
//! downloading like any other, and the list as cards on a phone. Screenshots of each scene
//! are written to `test-output/portal/` in the target folder, for a person to look at.

mod common;

use common::serve::Serve;
use common::webdriver::{Browser, Element};
use common::TempDir;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");
/// What the Dubber Go plan's rule tells an administrator who tries to play.
const GO_REFUSAL: &str =
    "Dubber Go: only the recorded person may play, download or delete this recording";

/// Where the screenshots go: `test-output/portal/` in the target folder, kept after the run.
fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("test-output/portal")
        .join(name)
}

// ---- A server with recordings ------------------------------------------------------------

/// `callrec serve` recording Ogg Opus into `store/`, SIP on a free port, its RTP ports the
/// two hundred from `rtp_base` (each test its own, between 32000 and 32767, which no other
/// test uses), calls silent 5 s ended.
fn config(rtp_base: u16) -> String {
    format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = {rtp_base}\nrtp_port_max = {}\n\
         idle_timeout_secs = 5\n[recording]\nformat = \"opus\"\njitter_ms = 60\n\
         [store]\nurl = \"store\"\n",
        rtp_base + 199
    )
}

/// Acme's keyring (`[orgs.acme.encryption]`, its key in `acme-k1.key`): its recordings are
/// encrypted at rest, in small chunks so that a seek lands across their boundaries.
const ENCRYPTED: &str = "[orgs.acme.encryption]\ncurrent = \"k1\"\nchunk_size = 4096\n\
                         key_files = { k1 = \"acme-k1.key\" }\n";

/// Runs `callrec ARGS` in `dir`; it must succeed. Its standard output.
fn callrec(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("callrec runs");
    assert!(
        out.status.success(),
        "callrec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A policy change, as an administrator makes it with `callrec policy`.
fn policy(dir: &Path, method: &str, path: &str, body: Value) {
    let body = body.to_string();
    callrec(
        dir,
        &[
            "policy",
            method,
            path,
            "--org",
            "acme",
            "--config",
            "callrec.toml",
            "--body",
            &body,
        ],
    );
}

/// Organisation `acme` (US, Dubber's terms accepted), location `hq`, and `people` at
/// `sip:ID@example.com`, each recorded on every call; those in `paid` on Dubber Standard,
/// the others on Dubber Go (the default).
fn organisation(dir: &Path, people: &[&str], paid: &[&str]) {
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
    for id in people {
        let first = format!("{}{}", id[..1].to_uppercase(), &id[1..]);
        policy(
            dir,
            "post",
            "/v1/people",
            json!({
                "id": id, "locationId": "hq", "firstName": first, "lastName": "Lee",
                "email": format!("{id}@example.com"), "timeZone": "Europe/London",
                "callingLicense": "Professional",
                "sipAddresses": [format!("sip:{id}@example.com")]}),
        );
        let recording = format!("/v1/people/{id}/features/callRecording");
        policy(
            dir,
            "put",
            &recording,
            json!({
                "enabled": true, "record": "Always", "recordVoicemailEnabled": false,
                "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
                "notification": {"type": "Beep", "enabled": false},
                "repeat": {"interval": 20, "enabled": false}}),
        );
        if paid.contains(id) {
            let entitlement = format!("{recording}/entitlement");
            policy(dir, "put", &entitlement, json!({"entitlement": "standard"}));
        }
    }
}

/// Alice's call of 28 May 2026 (the fixture capture), recorded with `callrec record` while
/// the store could not be reached: it waits in the spool for the server to upload it.
fn spool_old_call(dir: &Path) {
    std::fs::create_dir_all(dir.join("store")).expect("store");
    let blocker = dir.join("store/recordings");
    std::fs::write(&blocker, b"").expect("blocker");
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .args([
            "record",
            &capture,
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ])
        .args([
            "--user",
            "alice",
            "--plan",
            "dubber-go",
            "--call-id",
            "old-call",
        ])
        .args(["--upload-timeout", "0"])
        .output()
        .expect("record");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kept in the spool"), "{stderr}");
    std::fs::remove_file(blocker).expect("unblock the store");
}

/// The SIPREC call scenario with the participants' names as variables too, and a 6 s
/// two-leg capture for it to play, in `dir`.
fn prepare_calls(dir: &Path) -> PathBuf {
    let legs = [
        LegSpec {
            duration: Duration::from_secs(6),
            ..LegSpec::tone(Codec::Pcmu, 400.0, 0)
        },
        LegSpec {
            duration: Duration::from_secs(6),
            ..LegSpec::tone(Codec::Pcmu, 1000.0, 1)
        },
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).expect("capture");
    std::fs::write(dir.join("call.pcap"), capture).expect("capture");
    let scenario = std::fs::read_to_string(Path::new(SCENARIOS).join("siprec_call.xml"))
        .expect("scenario")
        .replace(
            "<Global variables=\"aor_a,aor_b\"/>",
            "<Global variables=\"aor_a,aor_b,name_a,name_b\"/>",
        )
        .replace("<name>Alice</name>", "<name>[$name_a]</name>")
        .replace("<name>Bob</name>", "<name>[$name_b]</name>");
    let path = dir.join("portal_call.xml");
    std::fs::write(&path, scenario).expect("scenario");
    path
}

/// One 6 s SIPREC call from SIPp: `from` (a person's id, leg A) talking with `name` at
/// `number`. SIPp's SIP port is `port`, its media 100 above (each test its own, in 10200-10799,
/// which no other test uses).
fn call(serve: &Serve, scenario: &Path, port: u16, from: &str, name: &str, number: &str) {
    let first = format!("{}{}", from[..1].to_uppercase(), &from[1..]);
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(serve.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &(port + 100).to_string()])
        .args(["-set", "aor_a", &format!("sip:{from}@example.com")])
        .args(["-set", "aor_b", &format!("sip:{number}@carrier.example")])
        .args(["-set", "name_a", &first, "-set", "name_b", name])
        .args([
            "-m",
            "1",
            "-d",
            "6500",
            "-trace_err",
            "-nostdin",
            "-timeout",
            "60s",
        ])
        .current_dir(scenario.parent().expect("folder"))
        .output()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)");
    assert!(
        out.status.success(),
        "sipp: {}\nserver log: {:#?}",
        String::from_utf8_lossy(&out.stdout),
        serve.log()
    );
}

/// A bearer token made by `callrec token create`, as an operator makes one.
fn token(dir: &Path, person: &str, role: &str) -> String {
    let line = callrec(
        dir,
        &[
            "token",
            "create",
            "--person",
            person,
            "--role",
            role,
            "--org",
            "acme",
            "--config",
            "callrec.toml",
        ],
    );
    let line: Value = serde_json::from_str(&line).expect("one JSON line");
    line["token"].as_str().expect("a token").to_string()
}

// ---- HTTP, as a script (not the browser) sees it ------------------------------------------

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A GET of `target` (a path, or an absolute URL of the server) at `admin`.
fn get(admin: SocketAddr, target: &str, token: Option<&str>) -> Reply {
    send(admin, "GET", target, token, None)
}

/// A `method` request of `target` at `admin`, with a JSON `body` when given.
fn send(
    admin: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let path = target
        .split_once("://")
        .map(|(_, rest)| &rest[rest.find('/').unwrap_or(rest.len())..])
        .unwrap_or(target);
    let mut stream = TcpStream::connect(admin).expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.map(Value::to_string).unwrap_or_default();
    let length = match body.len() {
        0 => String::new(),
        n => format!("Content-Type: application/json\r\nContent-Length: {n}\r\n"),
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n{auth}{length}\r\n{body}"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response");
    let head = String::from_utf8_lossy(&response[..at]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Reply {
        status,
        head,
        body: response[at + 4..].to_vec(),
    }
}

/// The list `path` answers `token` once it holds `count` recordings (uploads and the catalog
/// take a moment after a call ends).
fn listed(serve: &Serve, path: &str, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = get(serve.admin, path, Some(token));
        let items = reply.json()["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.len() == count {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never listed {count}: {} {}\nlog: {:#?}",
            reply.status,
            String::from_utf8_lossy(&reply.body),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every file under `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under").display().to_string());
            }
        }
    }
    out
}

// ---- What a person sees --------------------------------------------------------------------

/// Opens the portal and signs in with `token`; waits for `rows` recordings to be listed.
fn sign_in(browser: &Browser, serve: &Serve, token: &str, rows: usize) {
    browser.goto(&format!("http://{}/portal", serve.admin));
    let field = browser.find("#token");
    assert_eq!(
        browser.text_of("#sign-in-title"),
        "Sign in to your recordings"
    );
    browser.type_into(&field, token);
    browser.click(&browser.find("#sign-in-form button[type=submit]"));
    wait_rows(browser, rows);
}

/// Waits until the list shows `count` recordings (the status line says how many it loaded).
fn wait_rows(browser: &Browser, count: usize) {
    browser.wait(&format!("{count} rows"), || {
        let status = browser.text_of("#status");
        !status.contains("Loading") && browser.find_all("#rows tr").len() == count
    });
}

/// The rows' rendered text, top to bottom.
fn row_texts(browser: &Browser) -> Vec<String> {
    browser
        .find_all("#rows tr")
        .iter()
        .map(|r| browser.text(r))
        .collect()
}

/// The row of recording `id`.
fn row(browser: &Browser, id: &str) -> Element {
    browser.find(&format!("#rows tr[data-id='{id}']"))
}

/// A button of recording `id`'s row, by its class (`play`, `download`, `delete`), if shown.
fn row_button(browser: &Browser, id: &str, class: &str) -> Option<Element> {
    browser
        .find_all(&format!("#rows tr[data-id='{id}'] button.{class}"))
        .into_iter()
        .next()
}

/// `2026-05-28T20:26:40.008Z` as the portal shows it to a British reader in UTC:
/// `28 May 2026, 20:26`.
fn shown_date(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec",
    ];
    let month: usize = rfc3339[5..7].parse().expect("month");
    let day: u32 = rfc3339[8..10].parse().expect("day");
    format!(
        "{day} {} {}, {}",
        MONTHS[month - 1],
        &rfc3339[..4],
        &rfc3339[11..16]
    )
}

/// Sets a filter field (a date input takes its value as `YYYY-MM-DD` whatever the locale
/// shows) and applies the filters.
fn filter(browser: &Browser, from: &str, to: &str, participant: &str) {
    browser.eval_with(
        "document.getElementById('from').value = arguments[0];
         document.getElementById('to').value = arguments[1];
         document.getElementById('participant').value = arguments[2];",
        &[json!(from), json!(to), json!(participant)],
    );
    browser.click(&browser.find("#filters button[type=submit]"));
}

/// Waits until the page's audio element has played past `seconds`.
fn wait_playing_past(browser: &Browser, seconds: f64) {
    browser.wait(&format!("audio past {seconds} s"), || {
        let t = browser.eval("const a = document.getElementById('audio'); return a.currentTime;");
        t.as_f64().unwrap_or(0.0) > seconds
    });
}

/// Today and the days either side, as `YYYY-MM-DD` in UTC.
fn days_around_today() -> (String, String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let day = |secs: u64| {
        callrec::time::Time::from_nanos(secs * 1_000_000_000).to_rfc3339()[..10].to_string()
    };
    (day(now - 86_400), day(now), day(now + 86_400))
}

// ---- The tests -----------------------------------------------------------------------------

#[test]
fn the_portal_is_served_with_its_types_and_a_strict_content_security_policy() {
    let serve = Serve::start_in_temp("portal-assets", &config(32600));
    for (path, content_type) in [
        ("/portal", "text/html; charset=utf-8"),
        ("/portal/", "text/html; charset=utf-8"),
        ("/portal/app.js", "text/javascript; charset=utf-8"),
        ("/portal/app.css", "text/css; charset=utf-8"),
    ] {
        let reply = get(serve.admin, path, None);
        assert_eq!(reply.status, 200, "{path}: no token needed");
        assert_eq!(reply.header("content-type").as_deref(), Some(content_type));
        assert_eq!(
            reply.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let policy = reply.header("content-security-policy").expect("a policy");
        for rule in [
            "default-src 'none'",
            "script-src 'self'",
            "media-src 'self'",
            "connect-src 'self'",
        ] {
            assert!(policy.contains(rule), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
    }
    // No inline script: every script element loads its code from a file.
    let page = String::from_utf8(get(serve.admin, "/portal", None).body).expect("UTF-8");
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains("<script src=\"/portal/app.js\" defer></script>"));
}

#[test]
fn a_person_lists_filters_plays_downloads_and_deletes_their_own_recordings() {
    let tmp = TempDir::new("portal-user");
    let dir = &tmp.0;
    std::fs::write(dir.join("callrec.toml"), config(32000)).expect("config");
    organisation(dir, &["alice"], &[]);
    spool_old_call(dir);
    let serve = Serve::start(dir);
    let scenario = prepare_calls(dir);
    call(&serve, &scenario, 10200, "alice", "Carol", "+15550100");
    call(&serve, &scenario, 10200, "alice", "Dave", "+15550199");
    let alice = token(dir, "alice", "user");
    let items = listed(&serve, "/v1/convergedRecordings?max=100", &alice, 3);
    // The API's own order and words, which the page must show as they are.
    let (dave, carol, old) = (&items[0], &items[1], &items[2]);

    let browser = Browser::start(1280, 860);
    sign_in(&browser, &serve, &alice, 3);
    assert_eq!(browser.text_of("#who-person"), "alice");
    assert_eq!(browser.text_of("#list-title"), "My recordings");
    assert_eq!(browser.text_of("#status"), "3 recordings.");
    let rows = row_texts(&browser);
    assert!(rows[0].contains("Dave"), "newest first: {rows:#?}");
    assert!(rows[1].contains("Carol"), "{rows:#?}");
    assert!(rows[2].contains("28 May 2026, 20:26"), "{rows:#?}");
    for (text, item) in rows.iter().zip([dave, carol, old]) {
        let topic = item["topic"].as_str().unwrap_or_default();
        let reason = item["expiryReason"]
            .as_str()
            .expect("a reason for its expiry");
        let date = shown_date(item["createTime"].as_str().expect("createTime"));
        let expires = &item["expiresAt"].as_str().expect("Dubber Go expires")[..10];
        assert!(text.contains(&date), "{date} in {text}");
        assert!(text.contains(topic), "{topic} in {text}");
        assert!(text.contains(reason), "{reason} in {text}");
        assert!(text.contains("Expires "), "{expires}: {text}");
    }
    let seconds = dave["durationSeconds"].as_u64().expect("a duration");
    assert!((6..=7).contains(&seconds), "a 6 s call: {dave}");
    assert!(rows[0].contains(&format!("0:0{seconds}")), "{}", rows[0]);
    // Her own recordings on any plan: play, download and delete.
    for item in &items {
        let id = item["id"].as_str().expect("id");
        for class in ["play", "download", "delete"] {
            assert!(row_button(&browser, id, class).is_some(), "{class} on {id}");
        }
    }
    // A screen reader hears which call each Play is for.
    let label = browser.eval_with(
        "return document.querySelector(`#rows tr[data-id='${arguments[0]}'] button.play`)
                 .getAttribute('aria-label');",
        &[carol["id"].clone()],
    );
    let when = shown_date(carol["createTime"].as_str().unwrap());
    let topic = carol["topic"].as_str().unwrap();
    assert_eq!(label, json!(format!("Play {topic}, {when}")));
    browser.screenshot(&screenshot_path("signed-in-list.png"));

    // Filters: by participant, then by date.
    filter(&browser, "", "", "Dave");
    wait_rows(&browser, 1);
    assert!(row_texts(&browser)[0].contains("Dave"));
    filter(&browser, "", "", "+15550100");
    wait_rows(&browser, 1);
    assert!(row_texts(&browser)[0].contains("Carol"));
    let (yesterday, today, tomorrow) = days_around_today();
    filter(&browser, &today, &today, "");
    wait_rows(&browser, 2);
    filter(&browser, "2026-05-28", "2026-05-28", "");
    wait_rows(&browser, 1);
    assert!(row_texts(&browser)[0].contains("28 May 2026"));
    filter(&browser, &tomorrow, "", "");
    wait_rows(&browser, 0);
    assert!(browser.displayed(&browser.find("#empty")));
    assert_eq!(
        browser.text_of("#empty"),
        "No recordings\nNo recording matches these filters."
    );
    filter(&browser, "", &yesterday, "Carol");
    wait_rows(&browser, 0);
    browser.click(&browser.find("#clear"));
    wait_rows(&browser, 3);

    // Play Carol's call; it plays on, and seeks (the audio route answers byte ranges).
    let carol_id = carol["id"].as_str().expect("id");
    browser.click(&row_button(&browser, carol_id, "play").expect("a play button"));
    wait_playing_past(&browser, 0.5);
    assert_eq!(
        browser.text_of("#player-title"),
        carol["topic"].as_str().unwrap()
    );
    browser.eval("document.getElementById('audio').currentTime = 2.0;");
    wait_playing_past(&browser, 2.3);
    let paused = browser.eval("return document.getElementById('audio').paused;");
    assert_eq!(paused, json!(false), "still playing after the seek");
    browser.screenshot(&screenshot_path("playing.png"));

    // Its download link names the file after the call.
    let link = browser.find("#player-download");
    assert!(browser.displayed(&link));
    assert_eq!(browser.text(&link), "Download");
    let href = browser
        .eval("return document.getElementById('player-download').href;")
        .as_str()
        .expect("an href")
        .to_string();
    let reply = get(serve.admin, &href, None);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let created = carol["createTime"].as_str().unwrap();
    let name = format!(
        "{} {}-{} {}.opus",
        &created[..10],
        &created[11..13],
        &created[14..16],
        carol["topic"].as_str().unwrap()
    );
    let disposition = reply.header("content-disposition").expect("a disposition");
    assert!(
        disposition.starts_with("attachment;")
            && disposition.contains(&format!("filename=\"{name}\"")),
        "{disposition}"
    );
    assert!(reply.body.starts_with(b"OggS"), "Ogg Opus");

    // A phone: the same list as cards, nothing wider than the screen.
    {
        let phone = Browser::phone(390, 844);
        sign_in(&phone, &serve, &alice, 3);
        let layout = phone.eval(
            "const row = document.querySelector('#rows tr');
             return {
               rowDisplay: getComputedStyle(row).display,
               headShown: getComputedStyle(document.querySelector('#list thead')).display !== 'none',
               scrollWidth: document.scrollingElement.scrollWidth,
               innerWidth: window.innerWidth,
             };",
        );
        assert_eq!(layout["innerWidth"], 390, "{layout}");
        assert_eq!(layout["rowDisplay"], "grid", "a card: {layout}");
        assert_eq!(layout["headShown"], false, "no table head: {layout}");
        assert!(
            layout["scrollWidth"].as_u64() <= layout["innerWidth"].as_u64(),
            "no horizontal scroll: {layout}"
        );
        assert!(row_texts(&phone)[0].contains("Dave"));
        phone.screenshot(&screenshot_path("phone.png"));
    }

    // Delete Dave's call: asked first, then gone from the list and from the store.
    let dave_id = dave["id"].as_str().expect("id");
    let stored = |id: &str| files(&dir.join("store")).iter().any(|f| f.contains(id));
    assert!(stored(dave_id), "{:?}", files(&dir.join("store")));
    browser.click(&row_button(&browser, dave_id, "delete").expect("a delete button"));
    let dialog = browser.find("#confirm");
    browser.wait("the confirmation", || browser.displayed(&dialog));
    assert!(browser.text(&dialog).contains("Delete this recording?"));
    browser.click(&browser.find("#confirm-cancel"));
    browser.wait("the dialog closed", || !browser.displayed(&dialog));
    assert_eq!(row_texts(&browser).len(), 3, "cancelled: nothing deleted");
    browser.click(&row_button(&browser, dave_id, "delete").expect("a delete button"));
    browser.wait("the confirmation", || browser.displayed(&dialog));
    browser.click(&browser.find("#confirm-delete"));
    wait_rows(&browser, 2);
    browser.wait("the deletion said", || {
        browser.text_of("#status").starts_with("Deleted ")
    });
    assert!(row_texts(&browser).iter().all(|r| !r.contains("Dave")));
    assert!(!stored(dave_id), "{:?}", files(&dir.join("store")));
}

#[test]
fn an_administrator_sees_a_dubber_go_recording_but_may_not_play_it_and_plays_a_paid_encrypted_one()
{
    let tmp = TempDir::new("portal-admin");
    let dir = &tmp.0;
    // Acme's recordings are encrypted at rest: nothing the person sees differs.
    let key = "5a".repeat(32);
    std::fs::write(dir.join("acme-k1.key"), format!("{key}\n")).expect("key");
    let config = format!("{}{ENCRYPTED}", config(32200));
    std::fs::write(dir.join("callrec.toml"), config).expect("config");
    organisation(dir, &["alice", "bob"], &["bob"]);
    let serve = Serve::start(dir);
    let scenario = prepare_calls(dir);
    call(&serve, &scenario, 10400, "alice", "Carol", "+15550100");
    call(&serve, &scenario, 10400, "bob", "Erin", "+15550142");
    let admin = token(dir, "admin@acme.example", "customer-admin");
    let items = listed(&serve, "/v1/admin/convergedRecordings?max=100", &admin, 2);
    let (bob, alice) = (&items[0], &items[1]);
    assert_eq!(alice["plan"], "dubber-go");
    assert_eq!(bob["plan"], "dubber-standard");
    let (alice_id, bob_id) = (alice["id"].as_str().unwrap(), bob["id"].as_str().unwrap());

    let browser = Browser::start(1280, 860);
    sign_in(&browser, &serve, &admin, 2);
    assert_eq!(browser.text_of("#who-role"), "Administrator");
    assert_eq!(browser.text_of("#list-title"), "Organisation recordings");
    // Alice's Dubber Go recording is listed with everything but the means to hear it.
    let text = browser.text(&row(&browser, alice_id));
    assert!(
        text.contains("Carol") && text.contains("recorded: alice"),
        "{text}"
    );
    assert!(
        text.contains(alice["expiryReason"].as_str().unwrap()),
        "{text}"
    );
    for class in ["play", "download", "delete"] {
        assert!(
            row_button(&browser, alice_id, class).is_none(),
            "no {class}"
        );
    }
    assert!(text.contains("View only"), "{text}");
    for class in ["play", "download", "delete"] {
        assert!(
            row_button(&browser, bob_id, class).is_some(),
            "{class} on Bob's"
        );
    }

    // Forced: a link straight to playing it. The server refuses, and the page says why.
    browser.goto(&format!("http://{}/portal#play={alice_id}", serve.admin));
    wait_rows(&browser, 2);
    let error = browser.find("#error");
    browser.wait("the refusal shown", || browser.displayed(&error));
    assert_eq!(
        browser.text(&error),
        format!("It cannot be played: {GO_REFUSAL}")
    );
    let paused = browser.eval("return document.getElementById('audio').currentSrc;");
    assert_eq!(paused, json!(""), "nothing loaded into the player");
    browser.screenshot(&screenshot_path("admin-go-refused.png"));
    // The API's audio route itself, with the administrator's token, says the same.
    let audio = format!("/v1/convergedRecordings/{alice_id}/audio?purpose=play");
    let reply = get(serve.admin, &audio, Some(&admin));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["message"], GO_REFUSAL);

    // Bob's, on a paid plan, plays: ciphertext in the store, decrypted on the fly as the
    // player asks for it, and seeks (a byte range starting mid-recording, across chunks).
    let stored = files(&dir.join("store"));
    let object = |json: bool| {
        let found = stored
            .iter()
            .find(|f| f.contains(&format!("/{bob_id}/")) && f.ends_with(".json") == json);
        let key = found.unwrap_or_else(|| panic!("no object of {bob_id} in {stored:?}"));
        std::fs::read(dir.join("store").join(key)).expect("stored object")
    };
    let media = object(false);
    assert!(media.starts_with(b"CRECENC"), "encrypted at rest");
    assert!(
        !media.windows(4).any(|w| w == b"OggS"),
        "no Ogg page stored"
    );
    let document: Value = serde_json::from_slice(&object(true)).expect("metadata");
    assert_eq!(document["encryption"]["key_id"], "k1");
    browser.click(&row_button(&browser, bob_id, "play").expect("play"));
    wait_playing_past(&browser, 0.5);
    assert!(!browser.displayed(&error), "the refusal is gone");
    browser.eval("document.getElementById('audio').currentTime = 3.0;");
    wait_playing_past(&browser, 3.3);
    let paused = browser.eval("return document.getElementById('audio').paused;");
    assert_eq!(paused, json!(false), "still playing after the seek");
    assert_eq!(
        browser.text_of("#player-title"),
        bob["topic"].as_str().unwrap()
    );
    browser.screenshot(&screenshot_path("encrypted-playing.png"));
    // Its download is the plaintext as recorded (the SHA-256 the recorder wrote down before
    // sealing it), a file ffprobe reads.
    let href = browser
        .eval("return document.getElementById('player-download').href;")
        .as_str()
        .expect("an href")
        .to_string();
    let reply = get(serve.admin, &href, None);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let plain = &document["files"][0];
    assert_eq!(
        reply.body.len() as u64,
        plain["bytes"].as_u64().expect("bytes")
    );
    let sha: String = Sha256::digest(&reply.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sha, plain["sha256"].as_str().expect("sha256"));
    let saved = dir.join("bob.opus");
    std::fs::write(&saved, &reply.body).expect("saved");
    let probe = common::run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_name".as_ref(),
            saved.as_os_str(),
        ],
    );
    assert!(probe.contains("codec_name=opus"), "{probe}");

    // Put under legal hold, Bob's says so and offers no Delete; it still plays.
    let hold = format!("/v1/convergedRecordings/{bob_id}/legalHold");
    let reason = json!({ "reason": "case 7" });
    let reply = send(serve.admin, "PUT", &hold, Some(&admin), Some(&reason));
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    browser.goto(&format!("http://{}/portal", serve.admin));
    wait_rows(&browser, 2);
    let badge = browser.find(&format!("tr[data-id='{bob_id}'] .badge.hold"));
    assert_eq!(browser.text(&badge), "Legal hold");
    assert!(
        row_button(&browser, bob_id, "delete").is_none(),
        "no delete"
    );
    assert!(row_button(&browser, bob_id, "play").is_some(), "play stays");
    let alice_text = browser.text(&row(&browser, alice_id));
    assert!(!alice_text.contains("Legal hold"), "{alice_text}");
    browser.screenshot(&screenshot_path("admin-legal-hold.png"));
}
