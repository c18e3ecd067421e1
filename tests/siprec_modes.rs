//! Each user's recording mode on the live call, against a real `callrec serve` and SIPp: On
//! Demand (started late, started-stopped-started, never started), Always with Pause/Resume,
//! Always; voicemail recorded or refused per the user; and each policy refusal. Policy lives in
//! the server's own SQLite store, written with `callrec policy` as an administrator would.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::policydb::recordings::{CatalogRecording, Direction};
use callrec::policydb::PolicyDb;
use callrec::synth::{generate, LegSpec};
use common::serve::{metadata_files, Serve};
use common::{band_power, onset, wav_channels};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Alice (leg A, label 1) plays 400 Hz from the capture's start; Bob (leg B) plays 1000 Hz
/// from [`BOB_STARTS`] on, so where Bob begins in a file tells where the file begins.
const TONE_A: f64 = 400.0;
const TONE_B: f64 = 1000.0;
const BOB_STARTS: f64 = 2.0;
/// The pause and resume beeps (`ToneSpec::PAUSE`, `ToneSpec::RESUME`).
const PAUSE_BEEP: f64 = 660.0;
const RESUME_BEEP: f64 = 990.0;

/// `callrec serve` as these tests run it (calls silent 5 s ended; see
/// [`Serve::start_wav_in_temp`]).
fn start_serve(test: &str, rtp_base: u16, extra_sip: &str) -> Serve {
    Serve::start_wav_in_temp(test, rtp_base, 5, extra_sip)
}

/// What these tests do to a running server as an administrator would.
trait Administer {
    fn wait_for_metric(&self, sample: &str, value: f64);
    fn policy(&self, args: &[&str]);
    fn post(&self, org: &str, path: &str, body: Value);
    fn put(&self, org: &str, path: &str, body: Value);
    fn organisation(&self, org: &str);
    fn person(&self, org: &str, id: &str, location: &str, licence: &str, post: bool);
    fn recording(&self, org: &str, id: &str, mode: &str, notification: &str, voicemail: bool);
}

impl Administer for Serve {
    /// Waits for a metric to reach `value`.
    fn wait_for_metric(&self, sample: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.metric(sample) < value {
            assert!(
                Instant::now() < deadline,
                "{sample} never reached {value}: {}",
                self.metric(sample)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `callrec policy ARGS` against the server's policy store.
    fn policy(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .current_dir(&self.dir)
            .arg("policy")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn post(&self, org: &str, path: &str, body: Value) {
        self.policy(&["post", path, "--org", org, "--body", &body.to_string()]);
    }

    fn put(&self, org: &str, path: &str, body: Value) {
        self.policy(&["put", path, "--org", org, "--body", &body.to_string()]);
    }

    /// An organisation (US, Dubber terms accepted) with location `ORG-hq`.
    fn organisation(&self, org: &str) {
        self.post(
            org,
            "/v1/organizations",
            json!({"id": org, "displayName": org, "region": "US"}),
        );
        self.post(
            org,
            "/v1/locations",
            json!({"id": format!("{org}-hq"), "name": "HQ"}),
        );
        self.put(
            org,
            "/v1/telephony/config/callRecording/vendors/dubber/termsOfService",
            json!({"termsOfServiceEnabled": true}),
        );
    }

    /// A person `id` at `sip:ID@example.com`, in `location`, with `licence`.
    fn person(&self, org: &str, id: &str, location: &str, licence: &str, post: bool) {
        let body = json!({
            "id": id, "locationId": location, "firstName": id, "lastName": "Lee",
            "email": format!("{id}@example.com"), "timeZone": "Europe/London",
            "callingLicense": licence, "sipAddresses": [format!("sip:{id}@example.com")]});
        match post {
            true => self.post(org, "/v1/people", body),
            false => self.put(org, &format!("/v1/people/{id}"), body),
        }
    }

    /// Turns recording on for `id` in `mode`, with the pause/resume `notification` type.
    fn recording(&self, org: &str, id: &str, mode: &str, notification: &str, voicemail: bool) {
        self.put(
            org,
            &format!("/v1/people/{id}/features/callRecording"),
            json!({
                "enabled": true, "record": mode, "recordVoicemailEnabled": voicemail,
                "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
                "notification": {"type": notification, "enabled": true},
                "repeat": {"interval": 20, "enabled": false}}),
        );
    }
}

/// The SIPREC offer (SDP with both parties' streams in `direction`, metadata naming
/// `[$aor_a]` and `[$aor_b]`) as INVITE number `cseq` of the dialog.
fn offer(cseq: u32, direction: &str) -> String {
    let to_tag = if cseq == 1 { "" } else { "[peer_tag_param]" };
    let stream = |port: &str, label: u8| {
        format!(
            "m=audio {port} RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n\
             a=label:{label}\na={direction}\n"
        )
    };
    let participant = |id: &str, var: &str, name: &str| {
        format!(
            "  <participant participant_id=\"{id}\">\n    <nameID aor=\"[${var}]\"><name>{name}</name></nameID>\n  </participant>\n"
        )
    };
    format!(
        "INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>{to_tag}\n\
         Call-ID: [call_id]\nCSeq: {cseq} INVITE\n\
         Contact: <sip:src@[local_ip]:[local_port]>;+sip.src\nRequire: siprec\nMax-Forwards: 70\n\
         Content-Type: multipart/mixed;boundary=callrec-boundary\nContent-Length: [len]\n\n\
         --callrec-boundary\nContent-Type: application/sdp\n\n\
         v=0\no=- 1 {cseq} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\nt=0 0\n\
         {}{}--callrec-boundary\nContent-Type: application/rs-metadata+xml\n\
         Content-Disposition: recording-session\n\n\
         <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">\n  <datamode>complete</datamode>\n\
         <session session_id=\"c2Vzc2lvbjAx\"><sipSessionID>[call_id]</sipSessionID></session>\n\
         {}{}\
         <stream stream_id=\"c3RyZWFtMQ\" session_id=\"c2Vzc2lvbjAx\"><label>1</label></stream>\n\
         <stream stream_id=\"c3RyZWFtMg\" session_id=\"c2Vzc2lvbjAx\"><label>2</label></stream>\n\
         <participantstreamassoc participant_id=\"cGFydGEx\"><send>c3RyZWFtMQ</send><recv>c3RyZWFtMg</recv></participantstreamassoc>\n\
         <participantstreamassoc participant_id=\"cGFydGIy\"><send>c3RyZWFtMg</send><recv>c3RyZWFtMQ</recv></participantstreamassoc>\n\
         </recording>\n--callrec-boundary--",
        stream("[media_port]", 1),
        stream("[media_port+2]", 2),
        participant("cGFydGEx", "aor_a", "Alice"),
        participant("cGFydGIy", "aor_b", "Bob"),
    )
}

fn send(request: &str) -> String {
    format!("  <send retrans=\"500\">\n    <![CDATA[\n{request}\n    ]]>\n  </send>\n")
}

fn ack(cseq: u32) -> String {
    format!(
        "  <send>\n    <![CDATA[\nACK sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>[peer_tag_param]\n\
         Call-ID: [call_id]\nCSeq: {cseq} ACK\nMax-Forwards: 70\nContent-Length: 0\n\n    ]]>\n  </send>\n"
    )
}

/// A session whose first offer is in `first` direction, the capture playing from the ACK;
/// then each `(wait ms, direction)` re-INVITE in turn, then `end` ms and BYE. Written with a
/// `seconds`-long capture into `dir/name/`.
fn scenario(
    dir: &Path,
    name: &str,
    seconds: f64,
    first: &str,
    steps: &[(u64, &str)],
    end: u64,
) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let total = Duration::from_secs_f64(seconds);
    let legs = [
        LegSpec {
            duration: total,
            ..LegSpec::tone(Codec::Pcmu, TONE_A, 0)
        },
        LegSpec {
            start: Duration::from_secs_f64(BOB_STARTS),
            duration: total - Duration::from_secs_f64(BOB_STARTS),
            ..LegSpec::tone(Codec::Pcmu, TONE_B, 1)
        },
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    std::fs::write(folder.join("call.pcap"), capture).unwrap();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<scenario name=\"{name}\">\n\
         <Global variables=\"aor_a,aor_b\"/>\n{}\
         <recv response=\"100\" optional=\"true\"/>\n<recv response=\"200\" rrs=\"true\"/>\n{}\
         <nop><action><exec play_pcap_audio=\"call.pcap\"/></action></nop>\n",
        send(&offer(1, first)),
        ack(1)
    );
    let mut cseq = 1;
    for (wait, direction) in steps {
        cseq += 1;
        xml += &format!("<pause milliseconds=\"{wait}\"/>\n");
        xml += &send(&offer(cseq, direction));
        xml += "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"200\"/>\n";
        xml += &ack(cseq);
    }
    cseq += 1;
    xml += &format!("<pause milliseconds=\"{end}\"/>\n");
    xml += &send(&format!(
        "BYE sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>[peer_tag_param]\n\
         Call-ID: [call_id]\nCSeq: {cseq} BYE\nMax-Forwards: 70\nContent-Length: 0\n"
    ));
    xml += "<recv response=\"200\"/>\n</scenario>\n";
    let path = folder.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    path
}

/// An INVITE answered `status` (a refusal), with the participants of [`offer`].
fn refused_scenario(dir: &Path, name: &str, status: u16) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<scenario name=\"{name}\">\n\
         <Global variables=\"aor_a,aor_b\"/>\n{}\
         <recv response=\"100\" optional=\"true\"/>\n<recv response=\"{status}\"/>\n{}</scenario>\n",
        send(&offer(1, "sendonly")),
        ack(1).replace("[branch]", "[branch-1]")
    );
    let path = folder.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    path
}

/// Runs SIPp's `scenario` from its own folder as `aor_a` calling `aor_b`; SIP on `port`,
/// media 100 above (each test in its own hundreds of 8400-8999, which no other test uses).
fn sipp(serve: &Serve, scenario: &Path, port: u16, aor_a: &str, aor_b: &str) -> Output {
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(serve.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &(port + 100).to_string()])
        .args(["-set", "aor_a", aor_a, "-set", "aor_b", aor_b])
        .args(["-m", "1", "-trace_err", "-nostdin", "-timeout", "60s"])
        .current_dir(scenario.parent().unwrap())
        .output()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)");
    if !out.status.success() {
        let errors: String = std::fs::read_dir(scenario.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!(
            "sipp {} failed: {}\n{errors}\nserver log: {:#?}",
            scenario.display(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n"),
            serve.log()
        );
    }
    out
}

/// The catalog row of recording `id`, once the server has written it (just after the
/// recording's metadata is stored, so a test that saw the metadata may have to wait a moment).
fn catalog_row(serve: &Serve, org: &str, id: &str) -> CatalogRecording {
    let url = format!("sqlite://{}", serve.path("policy.sqlite").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = PolicyDb::open(&url)
            .await
            .expect("the server's policy database");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(row) = db.recording(org, id).await.expect("catalog") {
                return row;
            }
            assert!(Instant::now() < deadline, "no catalog row for {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The one stored recording of `user` (by policy user id), waiting for `total` recordings.
fn recording_of(serve: &Serve, total: usize, user: &str) -> (PathBuf, Value) {
    let all = serve.recordings(total);
    let mine: Vec<_> = all
        .into_iter()
        .filter(|(_, doc)| doc["storage"]["user"] == user)
        .collect();
    assert_eq!(mine.len(), 1, "one recording of {user}");
    mine.into_iter().next().unwrap()
}

/// The recording's channels, and its length in seconds.
fn channels(path: &Path, doc: &Value) -> (u32, Vec<Vec<i16>>, f64) {
    let name = doc["files"][0]["name"].as_str().unwrap();
    let (rate, ch) = wav_channels(&std::fs::read(path.with_file_name(name)).unwrap());
    let seconds = ch[0].len() as f64 / f64::from(rate);
    (rate, ch, seconds)
}

fn span(channel: &[i16], rate: u32, from: f64, to: f64) -> &[i16] {
    let at = |s: f64| ((s.max(0.0) * f64::from(rate)) as usize).min(channel.len());
    &channel[at(from)..at(to)]
}

/// Where Bob's tone begins in the file, in seconds.
fn bob_onset(ch: &[Vec<i16>], rate: u32) -> f64 {
    let at = onset(&ch[1], rate, TONE_B, 0).expect("Bob is in the file");
    at as f64 / f64::from(rate)
}

/// Bob is where his first packet arrived, counted from `call.start` (the file's first sample).
fn assert_placed_from_the_start(doc: &Value, bob_at: f64) {
    let expected = seconds_between(&doc["call"]["start"], &doc["legs"][1]["first_packet"]);
    assert!(
        (bob_at - expected).abs() < 0.1,
        "Bob at {bob_at} s in the file, his first packet {expected} s after call.start"
    );
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    let t = |v: &Value| callrec::time::Time::parse_rfc3339(v.as_str().unwrap()).unwrap();
    (t(to).as_nanos() as f64 - t(from).as_nanos() as f64) / 1e9
}

fn tone_kinds(doc: &Value) -> Vec<String> {
    doc["tones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_recording_mode_is_honoured_on_the_live_call() {
    let serve = start_serve("modes", 36000, "");
    let dir = serve.dir.clone();
    serve.organisation("acme");
    for (id, mode, notification) in [
        ("alice", "On Demand with User Initiated Start", "Beep"),
        ("carol", "Always with Pause/Resume", "Play Announcement"),
        ("dave", "Always", "Beep"),
        ("erin", "Always", "Beep"),
    ] {
        serve.person("acme", id, "acme-hq", "Professional", true);
        serve.recording("acme", id, mode, notification, false);
    }
    serve.wait_for_policy();
    let bob = "sip:bob@example.com";

    // On Demand, never started: nothing stored, a log line and the counter say so.
    let never = scenario(&dir, "never", 3.0, "inactive", &[], 2500);
    sipp(&serve, &never, 8400, "sip:alice@example.com", bob);
    serve.wait_for_metric("callrec_calls_never_started_total", 1.0);
    let logged = serve.events("call.never_started");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["user"], "sip:alice@example.com");
    assert!(logged[0]["call_id"].as_str().is_some_and(|c| !c.is_empty()));
    // The shard abandons the spool job: the spool ends with no job in it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spool_jobs(&dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "a job was left: {:?}",
            spool_jobs(&dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        metadata_files(&dir.join("recordings")).is_empty(),
        "no empty file stored"
    );
    assert!(serve.events("call.not_recorded").is_empty());

    // On Demand, started 1 s after the answer: the file begins at the start.
    let late = scenario(&dir, "late", 5.0, "inactive", &[(1000, "sendonly")], 4500);
    sipp(&serve, &late, 8410, "sip:alice@example.com", bob);
    let (path, doc) = recording_of(&serve, 1, "alice");
    assert_eq!(doc["call"]["kind"], "call");
    // Its catalog row: whose, where, with whom, which way, and what is stored.
    let row = catalog_row(&serve, "acme", doc["call"]["id"].as_str().unwrap());
    assert_eq!(
        (row.person.as_deref(), row.location.as_deref()),
        (Some("alice"), Some("acme-hq"))
    );
    assert_eq!(
        row.direction,
        Direction::Outbound,
        "Alice is the first party"
    );
    let parties: Vec<(&str, &str)> = row
        .participants
        .iter()
        .map(|p| (p.names[0].as_str(), p.addresses[0].as_str()))
        .collect();
    assert_eq!(
        parties,
        [
            ("Alice", "sip:alice@example.com"),
            ("Bob", "sip:bob@example.com")
        ]
    );
    let media = path.with_file_name(doc["files"][0]["name"].as_str().unwrap());
    assert_eq!(row.size_bytes, std::fs::metadata(media).unwrap().len());
    assert_eq!((row.format.as_str(), row.ended.as_str()), ("wav", "bye"));
    assert_eq!(
        row.start.to_rfc3339(),
        doc["call"]["start"].as_str().unwrap()
    );
    let waited = &doc["call"]["waited_for_start"];
    let wait = seconds_between(&waited["answered"], &waited["started"]);
    assert!(
        (0.9..1.8).contains(&wait),
        "started 1 s after the answer: {wait} {doc}"
    );
    let first = seconds_between(&waited["started"], &doc["call"]["start"]);
    assert!(
        (0.0..0.5).contains(&first),
        "call.start is the start: {first}"
    );
    let (rate, ch, seconds) = channels(&path, &doc);
    assert!(
        (3.3..4.5).contains(&seconds),
        "5 s of media less the 1 s before the start: {seconds}"
    );
    let bob_at = bob_onset(&ch, rate);
    assert!(
        (0.5..1.3).contains(&bob_at),
        "Bob, 2 s into the media, is about 1 s into the file: {bob_at}"
    );
    assert_placed_from_the_start(&doc, bob_at);
    assert!(
        band_power(span(&ch[0], rate, 0.1, 0.7), rate, TONE_A) > 0.01,
        "Alice from the file's start"
    );
    assert!(
        tone_kinds(&doc).is_empty(),
        "no beep at the first start: {doc}"
    );
    assert!(doc["pauses"].as_array().unwrap().is_empty());
    assert_eq!(serve.events("call.user_start").len(), 1);

    // On Demand, started, stopped and started again: the stop is a pause with the beeps.
    let again = scenario(
        &dir,
        "again",
        7.0,
        "inactive",
        &[(1000, "sendonly"), (2000, "inactive"), (1500, "sendonly")],
        2500,
    );
    sipp(&serve, &again, 8420, "sip:alice@example.com", bob);
    let all = serve.recordings(2);
    let (path, doc) = all
        .iter()
        .find(|(p, _)| *p != path)
        .cloned()
        .expect("the second recording");
    assert!(doc["call"]["waited_for_start"]["started"].is_string());
    let pauses = doc["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{doc}");
    let (from, to) = (
        pauses[0]["from"].as_f64().unwrap(),
        pauses[0]["to"].as_f64().unwrap(),
    );
    assert!(
        (1.8..2.5).contains(&from),
        "stopped 2 s into the file: {from}"
    );
    assert!((3.2..4.1).contains(&to), "started again 1.5 s later: {to}");
    let (rate, ch, seconds) = channels(&path, &doc);
    assert!(
        (5.2..6.6).contains(&seconds),
        "7 s of media less the 1 s before the start: {seconds}"
    );
    let bob_at = bob_onset(&ch, rate);
    assert!(
        (0.5..1.3).contains(&bob_at),
        "the file begins at the start: {bob_at}"
    );
    assert_placed_from_the_start(&doc, bob_at);
    assert!(
        band_power(span(&ch[0], rate, from + 0.25, to - 0.25), rate, TONE_A) < 1e-5
            && band_power(span(&ch[1], rate, from + 0.25, to - 0.25), rate, TONE_B) < 1e-5,
        "nothing of the parties while stopped"
    );
    assert!(band_power(span(&ch[0], rate, to + 0.4, to + 1.5), rate, TONE_A) > 0.01);
    assert_eq!(
        tone_kinds(&doc),
        ["pause", "resume"],
        "the Beep notification"
    );
    let tones = doc["tones"].as_array().unwrap();
    let pause_at = tones[0]["file_secs"].as_f64().unwrap();
    let resume_at = tones[1]["file_secs"].as_f64().unwrap();
    assert!(
        (from - 0.25..=from).contains(&pause_at),
        "the pause beep ends at the stop: {pause_at}"
    );
    assert!(
        (to - 0.05..=to + 0.05).contains(&resume_at),
        "the resume beep at the start: {resume_at}"
    );
    assert!(
        band_power(
            span(&ch[0], rate, pause_at + 0.02, pause_at + 0.18),
            rate,
            PAUSE_BEEP
        ) > 0.005
    );
    assert!(
        band_power(
            span(&ch[0], rate, resume_at + 0.02, resume_at + 0.18),
            rate,
            RESUME_BEEP
        ) > 0.005
    );
    assert!(
        band_power(span(&ch[0], rate, 0.1, pause_at - 0.1), rate, PAUSE_BEEP) < 1e-4,
        "no beep before"
    );

    // Always with Pause/Resume, Play Announcement: recorded from answer; the pause is kept out,
    // with no beep (the platform plays the announcement).
    let paused = scenario(
        &dir,
        "paused",
        5.5,
        "sendonly",
        &[(1500, "inactive"), (1500, "sendonly")],
        2500,
    );
    sipp(&serve, &paused, 8430, "sip:carol@example.com", bob);
    let (path, doc) = recording_of(&serve, 3, "carol");
    assert!(doc["call"].get("waited_for_start").is_none(), "{doc}");
    assert_eq!(doc["call"]["kind"], "call");
    let (rate, ch, seconds) = channels(&path, &doc);
    assert!((5.0..6.1).contains(&seconds), "from answer: {seconds}");
    let pauses = doc["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{doc}");
    let (from, to) = (
        pauses[0]["from"].as_f64().unwrap(),
        pauses[0]["to"].as_f64().unwrap(),
    );
    assert!(
        (1.3..2.1).contains(&from) && (2.7..3.6).contains(&to),
        "{from} {to}"
    );
    let bob_at = bob_onset(&ch, rate);
    assert!(
        (to - 0.05..to + 0.3).contains(&bob_at),
        "Bob began (2 s in) while paused: heard from the resume on: {bob_at}"
    );
    assert!(
        band_power(span(&ch[0], rate, 0.1, from - 0.3), rate, TONE_A) > 0.01,
        "Alice from the answer"
    );
    assert!(band_power(span(&ch[0], rate, from + 0.25, to - 0.25), rate, TONE_A) < 1e-5);
    assert!(
        tone_kinds(&doc).is_empty(),
        "announcements are not beeps: {doc}"
    );
    assert!(band_power(span(&ch[0], rate, from - 0.3, to + 0.3), rate, PAUSE_BEEP) < 1e-4);

    // Always: recorded from answer, the client's stop answered and not obeyed.
    let always = scenario(&dir, "always", 4.0, "sendonly", &[(1500, "inactive")], 2500);
    sipp(&serve, &always, 8440, "sip:dave@example.com", bob);
    let (path, doc) = recording_of(&serve, 4, "dave");
    assert!(doc["pauses"].as_array().unwrap().is_empty());
    assert!(doc["warnings"]
        .to_string()
        .contains("does not allow pausing"));
    let (rate, ch, _) = channels(&path, &doc);
    assert!((1.8..2.3).contains(&bob_onset(&ch, rate)));
    assert!(
        band_power(span(&ch[0], rate, 2.0, 3.5), rate, TONE_A) > 0.01,
        "recorded through the stop"
    );

    // Always, on hold at set-up: the inactive first offer pauses it, and the first sending
    // re-offer resumes it (only a stop is refused in Always, never the resumption).
    let held = scenario(&dir, "held", 4.0, "inactive", &[(1000, "sendonly")], 2500);
    sipp(&serve, &held, 8450, "sip:erin@example.com", bob);
    let (path, doc) = recording_of(&serve, 5, "erin");
    assert!(
        !doc["warnings"]
            .to_string()
            .contains("does not allow pausing"),
        "{doc}"
    );
    // Held from the answer, so the file begins at the resume: its one pause ends at 0 s.
    let pauses = doc["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{doc}");
    assert_eq!(pauses[0]["to"].as_f64(), Some(0.0), "{doc}");
    let (rate, ch, seconds) = channels(&path, &doc);
    assert!(
        (2.2..3.0).contains(&seconds),
        "from the resume on: {seconds}"
    );
    let bob_at = bob_onset(&ch, rate);
    assert!(
        (0.6..1.6).contains(&bob_at),
        "Bob (2 s after the ACK) about 1 s after the resume: {bob_at}"
    );
    assert!(
        band_power(span(&ch[0], rate, 0.1, seconds - 0.2), rate, TONE_A) > 0.01,
        "Alice recorded from the resume on"
    );
    assert!(
        tone_kinds(&doc).is_empty(),
        "Always has no pause beeps: {doc}"
    );

    assert_eq!(serve.metric("callrec_calls_never_started_total"), 1.0);
    assert_eq!(serve.metric("callrec_calls_rejected_total"), 0.0);
}

/// The spool's job folders (anything but the spool's own lock and temporary files).
fn spool_jobs(dir: &Path) -> Vec<PathBuf> {
    let mut jobs = Vec::new();
    let mut stack = vec![dir.join("spool")];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().contains("lock") {
                jobs.push(path);
            }
        }
    }
    jobs
}

#[test]
fn voicemail_and_every_policy_refusal_are_answered_per_the_user() {
    let serve = start_serve(
        "modes-refusals",
        37000,
        "voicemail_aors = [\"sip:voicemail@example.com\", \"tel:+15550100\"]",
    );
    let dir = serve.dir.clone();
    serve.organisation("acme");
    serve.post(
        "acme",
        "/v1/locations",
        json!({"id": "branch", "name": "Branch"}),
    );
    for (id, location, mode, voicemail) in [
        ("erin", "acme-hq", "Always", true),
        ("frank", "acme-hq", "Always", false),
        ("never", "acme-hq", "Never", false),
        ("unlicensed", "acme-hq", "Always", false),
        ("branchy", "branch", "Always", false),
    ] {
        serve.person("acme", id, location, "Professional", true);
        serve.recording("acme", id, mode, "Beep", voicemail);
    }
    // The branch's vendor becomes None after its user turned recording on.
    serve.put(
        "acme",
        "/v1/telephony/config/locations/branch/callRecording/vendor",
        json!({"orgDefaultEnabled": false, "id": "none"}),
    );
    // A licence without recording, given after recording was turned on.
    serve.person("acme", "unlicensed", "acme-hq", "Other", false);
    // The partner turned the service off for one organisation; another chose vendor None.
    // (Their users' own settings are never reached; a partner administrator may hold
    // provider accounts of one customer only, so they are left as they are.)
    for (org, id) in [("dark", "gina"), ("nonecorp", "hank")] {
        serve.organisation(org);
        serve.person(org, id, &format!("{org}-hq"), "Professional", true);
    }
    serve.put(
        "dark",
        "/v1/organizations/dark",
        json!({"callRecordingServiceEnabled": false}),
    );
    serve.put(
        "nonecorp",
        "/v1/telephony/config/callRecording",
        json!({"enabled": false, "confirmDisableForAllUsers": true}),
    );
    serve.wait_for_policy();

    // Voicemail: Erin records it, Frank does not.
    let voicemail = "sip:voicemail@example.com";
    let deposit = scenario(&dir, "deposit", 3.0, "sendonly", &[], 3000);
    sipp(&serve, &deposit, 8600, "sip:erin@example.com", voicemail);
    let (path, doc) = recording_of(&serve, 1, "erin");
    assert_eq!(doc["call"]["kind"], "voicemail", "{doc}");
    let (rate, ch, _) = channels(&path, &doc);
    assert!(band_power(span(&ch[0], rate, 0.3, 1.5), rate, TONE_A) > 0.01);

    let refused = |name: &str, port: u16, aor_a: &str, aor_b: &str, reason: &str| {
        let before = serve.events("call.refused").len();
        let scenario = refused_scenario(&dir, name, 403);
        sipp(&serve, &scenario, port, aor_a, aor_b);
        let refusals = serve.events("call.refused");
        assert_eq!(refusals.len(), before + 1, "{name}");
        let logged = &refusals[before];
        assert_eq!(logged["status"], 403);
        let said = logged["reason"].as_str().unwrap();
        assert!(
            said.contains(aor_a) && said.contains(reason),
            "{name}: {said}"
        );
    };
    // Frank's voicemail retrieval (the voicemail system by its number) is refused...
    refused(
        "retrieval",
        8610,
        "sip:frank@example.com",
        "tel:+1-555-0100",
        "does not record voicemail",
    );
    // ... his ordinary call is recorded, and says so.
    let call = scenario(&dir, "call", 3.0, "sendonly", &[], 3000);
    sipp(
        &serve,
        &call,
        8620,
        "sip:frank@example.com",
        "sip:bob@example.com",
    );
    let (_, doc) = recording_of(&serve, 2, "frank");
    assert_eq!(doc["call"]["kind"], "call");

    let bob = "sip:bob@example.com";
    refused(
        "never",
        8630,
        "sip:never@example.com",
        bob,
        "recording mode is Never",
    );
    refused(
        "licence",
        8640,
        "sip:unlicensed@example.com",
        bob,
        "licence does not include recording",
    );
    refused(
        "location",
        8650,
        "sip:branchy@example.com",
        bob,
        "location's vendor is None",
    );
    refused(
        "service",
        8660,
        "sip:gina@example.com",
        bob,
        "turned the call recording service off",
    );
    refused(
        "vendor",
        8670,
        "sip:hank@example.com",
        bob,
        "organisation's vendor is None",
    );
    assert_eq!(serve.metric("callrec_calls_rejected_total"), 6.0);
    assert_eq!(
        metadata_files(&dir.join("recordings")).len(),
        2,
        "nothing else stored"
    );
}

/// Files under the spool's job folders whose name ends with `suffix`, with their sizes.
fn spool_files(dir: &Path, suffix: &str) -> Vec<(PathBuf, u64)> {
    spool_jobs(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .map(|p| {
            let len = std::fs::metadata(&p).map_or(0, |m| m.len());
            (p, len)
        })
        .collect()
}

#[test]
fn a_server_killed_while_an_on_demand_session_waits_stores_nothing_of_it_after_restart() {
    let mut serve = start_serve(
        "modes-crash",
        38000,
        "voicemail_aors = [\"sip:voicemail@example.com\"]",
    );
    let dir = serve.dir.clone();
    serve.organisation("acme");
    serve.person("acme", "alice", "acme-hq", "Professional", true);
    serve.recording(
        "acme",
        "alice",
        "On Demand with User Initiated Start",
        "Beep",
        false,
    );
    serve.person("acme", "carol", "acme-hq", "Professional", true);
    serve.recording("acme", "carol", "Always", "Beep", true);
    serve.wait_for_policy();

    // Alice's session waits for her start; Carol's voicemail deposit (Always, voicemail
    // recorded) records from the answer, beside.
    let waiting = scenario(&dir, "waiting", 20.0, "inactive", &[], 20_000);
    let recording = scenario(&dir, "recording", 20.0, "sendonly", &[], 20_000);
    let spawn = |scenario: &Path, port: u16, aor_a: &str, aor_b: &str| {
        Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .arg(serve.sip.to_string())
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &(port + 100).to_string()])
            .args(["-set", "aor_a", aor_a, "-set", "aor_b", aor_b])
            .args(["-m", "1", "-nostdin", "-timeout", "60s"])
            .current_dir(scenario.parent().unwrap())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sipp runs")
    };
    let mut clients = [
        spawn(
            &waiting,
            8800,
            "sip:alice@example.com",
            "sip:bob@example.com",
        ),
        spawn(
            &recording,
            8810,
            "sip:carol@example.com",
            "sip:voicemail@example.com",
        ),
    ];
    // Both calls are live on disk, and Carol's has audio synced.
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool_files(&dir, "live.json").len() < 2
        || !spool_files(&dir, ".partial")
            .iter()
            .any(|(_, len)| *len > 16_000)
    {
        assert!(
            Instant::now() < deadline,
            "calls not live: {:?}\n{:#?}",
            spool_jobs(&dir),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    serve.kill();
    for client in &mut clients {
        let _ = client.kill();
        let _ = client.wait();
    }

    serve.restart();
    let discarded = serve.events("spool.discarded");
    assert_eq!(discarded.len(), 1, "Alice's waiting job: {discarded:?}");
    assert_eq!(serve.events("call.recovered").len(), 1, "Carol's call");
    let (_, doc) = recording_of(&serve, 1, "carol");
    assert_eq!(doc["call"]["ended"], "recovered", "{doc}");
    assert_eq!(doc["call"]["kind"], "voicemail", "kept through the crash");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spool_jobs(&dir).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", spool_jobs(&dir));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        metadata_files(&dir.join("recordings")).len(),
        1,
        "nothing of Alice's"
    );
}
