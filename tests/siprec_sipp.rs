//! The SIPREC server driven by a real SIP client: `callrec serve` runs as its own process and
//! SIPp (Debian's `sip-tester`) plays a calling platform, sending SIPREC INVITEs and both legs
//! of RTP from a capture (scenarios in tests/sipp/). Each test checks what ends up in the
//! store: the right audio in the right channel, the metadata, the refusals.

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::serve::{metadata_files, scrape, Serve};
use common::tls::{certificate, Stunnel};
use common::{band_power, g711_frame, pcmu_frame, wav_channels, TempDir};
use serde_json::Value;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// Leg A (Alice, label 1) plays 400 Hz, leg B (Bob, label 2) 1000 Hz: whole multiples of 50 Hz,
/// so each sits in one bin of the 20 ms windows measured.
const TONE_A: f64 = 400.0;
const TONE_B: f64 = 1000.0;

/// `callrec serve` as these tests run it (calls silent 3 s ended; see
/// [`Serve::start_wav_in_temp`]).
fn start_serve(test: &str, rtp_base: u16, extra: &str) -> Serve {
    Serve::start_wav_in_temp(test, rtp_base, 3, extra)
}

/// Writes the two-leg capture SIPp plays (`seconds` long) next to a copy of `scenario`.
fn prepare(dir: &Path, scenario: &str, seconds: u64) -> PathBuf {
    let legs = [
        LegSpec {
            duration: Duration::from_secs(seconds),
            ..LegSpec::tone(Codec::Pcmu, TONE_A, 0)
        },
        LegSpec {
            duration: Duration::from_secs(seconds),
            ..LegSpec::tone(Codec::Pcmu, TONE_B, 1)
        },
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    std::fs::write(dir.join("call.pcap"), capture).unwrap();
    let target = dir.join(scenario);
    std::fs::copy(Path::new(SCENARIOS).join(scenario), &target).unwrap();
    target
}

/// Runs SIPp against the server; `port` is its own SIP port, its media port is 100 above.
/// Tests run in parallel: each keeps its SIPp ports in a hundred of its own, from 3000 to
/// 12999 (below the system's ephemeral range, 32768 and up, where ports that uploads, clients
/// and servers bind at random would now and then take one), and its server's RTP ports in a
/// thousand of its own, from 14000 to 30999.
fn sipp(serve: &Serve, scenario: &Path, port: u16, args: &[&str]) -> Output {
    sipp_to(serve.sip, scenario, port, args)
}

/// Runs SIPp against `remote` (the server, or something in front of it).
fn sipp_to(remote: SocketAddr, scenario: &Path, port: u16, args: &[&str]) -> Output {
    let mp = (port + 100).to_string();
    // The SIPREC scenarios name the participants; the one-request ones have no variables.
    let participants: &[&str] = match scenario
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("siprec_")
    {
        true => &[
            "-set",
            "aor_a",
            "sip:alice@example.com",
            "-set",
            "aor_b",
            "sip:bob@example.com",
        ],
        false => &[],
    };
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .arg(remote.to_string())
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &mp])
        .args(participants)
        .args(["-trace_err", "-nostdin", "-timeout", "60s"])
        .args(args)
        .current_dir(scenario.parent().unwrap())
        .output()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)");
    out
}

fn assert_success(out: &Output, dir: &Path) {
    if !out.status.success() {
        let errors: String = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        panic!(
            "sipp failed: {}\n{}\n{errors}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The stored WAV of a recording whose metadata document is at `metadata`.
fn channels(metadata: &Path, doc: &Value) -> (u32, Vec<Vec<i16>>) {
    let name = doc["files"][0]["name"].as_str().unwrap();
    wav_channels(&std::fs::read(metadata.with_file_name(name)).unwrap())
}

/// Samples `[from, to)` seconds of a channel.
fn span(channel: &[i16], rate: u32, from: f64, to: f64) -> &[i16] {
    let at = |s: f64| ((s * f64::from(rate)) as usize).min(channel.len());
    &channel[at(from)..at(to)]
}

#[test]
fn a_call_is_recorded_with_each_party_in_its_channel() {
    let serve = start_serve("sipp-basic", 21000, "");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    let out = sipp(&serve, &scenario, 4000, &["-m", "1", "-d", "3500"]);
    assert_success(&out, &serve.dir);
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    assert!(
        path.to_string_lossy().contains("recordings/30d/default/"),
        "no policy: the defaults (Dubber Go, 30 days): {}",
        path.display()
    );
    assert_eq!(doc["storage"]["retention"], "30d");
    assert_eq!(doc["storage"]["user"], "sip:alice@example.com");
    let siprec = &doc["input"]["siprec"];
    assert_eq!(siprec["streams"][0]["leg"], "a");
    assert_eq!(siprec["streams"][0]["sender"]["name"], "Alice");
    assert_eq!(siprec["streams"][1]["leg"], "b");
    assert_eq!(siprec["streams"][1]["sender"]["aor"], "sip:bob@example.com");
    assert_eq!(siprec["participants"].as_array().unwrap().len(), 2);

    let (rate, ch) = channels(path, doc);
    assert_eq!(ch.len(), 2);
    let seconds = ch[0].len() as f64 / f64::from(rate);
    assert!(
        (2.8..3.4).contains(&seconds),
        "a 3 s call, recorded {seconds} s"
    );
    let (left, right) = (span(&ch[0], rate, 0.3, 2.7), span(&ch[1], rate, 0.3, 2.7));
    assert!(band_power(left, rate, TONE_A) > 0.01, "Alice on the left");
    assert!(band_power(right, rate, TONE_B) > 0.01, "Bob on the right");
    assert!(band_power(left, rate, TONE_B) < 1e-4, "no Bob on the left");
    assert!(
        band_power(right, rate, TONE_A) < 1e-4,
        "no Alice on the right"
    );
    let legs = doc["legs"].as_array().unwrap();
    for leg in legs {
        assert_eq!(leg["counts"]["lost"], 0, "{leg}");
    }
}

#[test]
fn metrics_are_openmetrics_text_every_line_of_it() {
    let serve = start_serve("sipp-metrics", 30000, "");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 1);
    let out = sipp(&serve, &scenario, 3700, &["-m", "1", "-d", "1500"]);
    assert_success(&out, &serve.dir);
    serve.recordings(1);
    // The upload is counted once the store has confirmed it, just after its files appear.
    let deadline = Instant::now() + Duration::from_secs(30);
    while serve.metric("callrec_uploads_total") < 1.0 {
        assert!(Instant::now() < deadline, "{:?}", serve.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }

    let (content_type, text) = scrape(serve.admin);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let (families, samples) = parse_openmetrics(&text);
    // The worker's identity, the admin API's 4, the policy cache's 3, the webhooks'
    // deliverer's 3 and the recording server's 34 (its own CPU time among them).
    assert_eq!(families.len(), 45, "{families:?}");
    for (family, kind) in [
        ("callrec_worker", "info"),
        ("callrec_sip_stale_invites", "counter"),
        ("callrec_admin_requests", "counter"),
        ("callrec_sip_refused_clients", "counter"),
        ("callrec_policy_refreshes", "counter"),
        ("callrec_policy_seq", "gauge"),
        ("callrec_webhook_deliveries", "counter"),
        ("callrec_webhook_backlog", "gauge"),
        ("callrec_webhook_in_flight", "gauge"),
        ("callrec_calls", "counter"),
        ("callrec_calls_active", "gauge"),
        ("callrec_packet_delay_seconds", "gauge"),
        ("callrec_upload_destination_errors", "counter"),
    ] {
        assert_eq!(
            families.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .eq(labels.iter().copied())
            })
            .unwrap_or_else(|| panic!("{name}{labels:?}\n{text}"))
            .value
    };
    // Named after the host when worker.name is not set; the version is the build's.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        value(
            "callrec_worker_info",
            &[
                ("worker", host.trim()),
                ("version", env!("CARGO_PKG_VERSION"))
            ]
        ),
        1.0
    );
    assert_eq!(value("callrec_calls_total", &[]), 1.0);
    assert_eq!(value("callrec_calls_active", &[]), 0.0);
    for reason in ["address", "certificate"] {
        assert_eq!(
            value("callrec_sip_refused_clients_total", &[("reason", reason)]),
            0.0
        );
    }
    assert_eq!(
        value("callrec_recordings_total", &[("outcome", "stored")]),
        1.0
    );
    assert_eq!(value("callrec_uploads_total", &[]), 1.0);
    // A second of both legs at 20 ms a packet.
    let recorded = value("callrec_packets_total", &[("outcome", "recorded")]);
    assert!(recorded >= 90.0, "{recorded}");
    assert!(value("callrec_packet_delay_seconds", &[("quantile", "0.99")]) > 0.0);
    let destinations: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "callrec_upload_destination_backlog")
        .collect();
    assert_eq!(destinations.len(), 1, "{text}");
    assert_eq!(destinations[0].labels[0].0, "destination");
    assert_eq!(destinations[0].value, 0.0);
}

/// One sample line of OpenMetrics text, its label values unescaped.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Reads OpenMetrics text (OpenMetrics 1.0, the text format) line by line and panics naming
/// the first line that breaks a rule: every family has one `# HELP` and one `# TYPE` (a
/// counter, a gauge or an info here) before its samples, and no family comes back after another began;
/// each sample is `name{label="value",...} value`, named after the family declared last (a
/// counter's with `_total`), with valid names, each label once, values quoted with only `\\`,
/// `\"` and `\n` escaped, and the number a float; no sample twice; the text ends with `# EOF`
/// and nothing follows it. Returns each family's type and the samples.
fn parse_openmetrics(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    use std::collections::HashSet;
    let body = text
        .strip_suffix("# EOF\n")
        .unwrap_or_else(|| panic!("ends with # EOF:\n{text}"));
    let metric_name = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let label_name = |name: &str| metric_name(name) && !name.contains(':');
    let mut families: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let mut keys = HashSet::new();
    for (n, line) in body.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if let Some(meta) = line.strip_prefix("# ") {
            let (keyword, rest) = meta.split_once(' ').unwrap_or_else(|| panic!("{at}"));
            let (family, detail) = rest.split_once(' ').unwrap_or_else(|| panic!("{at}"));
            assert!(metric_name(family), "{at}");
            if current.as_deref() != Some(family) {
                assert!(
                    seen.insert(family.to_string()),
                    "family declared twice, {at}"
                );
                current = Some(family.to_string());
            }
            match keyword {
                "HELP" => {
                    assert!(!detail.is_empty(), "{at}");
                    assert!(helped.insert(family.to_string()), "second HELP, {at}");
                }
                "TYPE" => {
                    assert!(matches!(detail, "counter" | "gauge" | "info"), "{at}");
                    let first = families.insert(family.to_string(), detail.to_string());
                    assert!(first.is_none(), "second TYPE, {at}");
                }
                _ => panic!("unknown metadata, {at}"),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{at}");
        let family = current
            .as_deref()
            .unwrap_or_else(|| panic!("no family, {at}"));
        let kind = families
            .get(family)
            .unwrap_or_else(|| panic!("a sample before its TYPE, {at}"));
        let end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value, {at}"));
        let name = &line[..end];
        let expected = match kind.as_str() {
            "counter" => format!("{family}_total"),
            "info" => format!("{family}_info"),
            _ => family.to_string(),
        };
        assert_eq!(name, expected, "a sample of {family}, {at}");
        let mut rest = &line[end..];
        let mut labels = Vec::new();
        if let Some(inside) = rest.strip_prefix('{') {
            let mut chars = inside.char_indices();
            loop {
                let key_start = chars.clone().next().map(|(i, _)| i).expect("a label");
                let key_end = loop {
                    match chars.next() {
                        Some((i, '=')) => break i,
                        Some(_) => {}
                        None => panic!("a label without =, {at}"),
                    }
                };
                let key = &inside[key_start..key_end];
                assert!(label_name(key), "label name {key:?}, {at}");
                assert!(
                    matches!(chars.next(), Some((_, '"'))),
                    "unquoted value, {at}"
                );
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => panic!("escape {other:?}, {at}"),
                        },
                        Some((_, '\n')) | None => panic!("an unterminated value, {at}"),
                        Some((_, c)) => value.push(c),
                    }
                }
                assert!(
                    labels.iter().all(|(k, _): &(String, String)| k != key),
                    "label twice, {at}"
                );
                labels.push((key.to_string(), value));
                match chars.next() {
                    Some((_, ',')) => {}
                    Some((i, '}')) => {
                        rest = &inside[i + 1..];
                        break;
                    }
                    other => panic!("after a label: {other:?}, {at}"),
                }
            }
        }
        let number = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("one space before the value, {at}"));
        assert!(!number.contains(' '), "no timestamp or exemplar here, {at}");
        let value: f64 = match number {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            _ => number.parse().unwrap_or_else(|_| panic!("a number, {at}")),
        };
        assert!(
            keys.insert(line[..line.len() - number.len()].to_string()),
            "the same sample twice, {at}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for family in families.keys() {
        assert!(helped.contains(family), "{family} has no HELP");
    }
    assert_eq!(helped.len(), families.len(), "a HELP without TYPE");
    (families, samples)
}

#[test]
fn pause_and_resume_leave_a_gap_marked_by_beeps() {
    let serve = start_serve("sipp-pause", 22000, "");
    let scenario = prepare(&serve.dir, "siprec_pause.xml", 6);
    let out = sipp(&serve, &scenario, 5000, &["-m", "1", "-d", "3000"]);
    assert_success(&out, &serve.dir);
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    let pauses = doc["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{doc}");
    let (from, to) = (
        pauses[0]["from"].as_f64().unwrap(),
        pauses[0]["to"].as_f64().unwrap(),
    );
    assert!((1.2..2.2).contains(&from), "paused about 1.5 s in: {from}");
    assert!(
        (2.5..3.8).contains(&(to)),
        "resumed about 1.5 s later: {to}"
    );
    let (rate, ch) = channels(path, doc);
    let inside = span(&ch[0], rate, from + 0.25, to - 0.25);
    assert!(
        band_power(inside, rate, TONE_A) < 1e-5
            && band_power(span(&ch[1], rate, from + 0.25, to - 0.25), rate, TONE_B) < 1e-5,
        "nothing of the parties while paused"
    );
    assert!(
        band_power(span(&ch[0], rate, 0.3, from - 0.4), rate, TONE_A) > 0.01,
        "before the pause"
    );
    assert!(
        band_power(span(&ch[0], rate, to + 0.4, to + 1.5), rate, TONE_A) > 0.01,
        "after the resume"
    );
    let tones: Vec<&str> = doc["tones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        tones,
        ["pause", "resume"],
        "the notification beeps are in the file"
    );
}

/// The wall clock `offset` seconds from now (negative: before), as RFC 3339 UTC.
fn wall_clock(now: std::time::SystemTime, offset: f64) -> String {
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
        + (offset * 1e9) as i128;
    callrec::time::Time::from_nanos(nanos as u64).to_rfc3339()
}

#[test]
fn announcements_the_client_reports_are_left_out() {
    let serve = start_serve("sipp-announce", 20000, "");
    let scenario = prepare(&serve.dir, "siprec_announce.xml", 6);
    // The start announcement began before the call reached us; the UPDATE, 2.5 s into the
    // media, reports one still to come and one already over.
    let now = std::time::SystemTime::now();
    let times = [
        ("ann1_start", -1.0),
        ("ann1_end", 1.0),
        ("ann2_start", 3.5),
        ("ann2_end", 4.5),
        ("ann3_start", 1.5),
        ("ann3_end", 2.0),
    ]
    .map(|(name, offset)| (name, wall_clock(now, offset)));
    let mut args = vec!["-m", "1", "-d", "3000"];
    for (name, time) in &times {
        args.extend(["-set", name, time]);
    }
    let out = sipp(&serve, &scenario, 3000, &args);
    assert_success(&out, &serve.dir);
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    let exclusions: Vec<(f64, f64)> = doc["exclusions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_f64().unwrap(), e["to"].as_f64().unwrap()))
        .collect();
    assert_eq!(exclusions.len(), 2, "{doc}");
    let (first, second) = (exclusions[0], exclusions[1]);
    assert_eq!(
        first.0, 0.0,
        "the start announcement is cut at the media's start"
    );
    assert!((0.5..1.05).contains(&first.1), "{first:?}");
    assert!((2.9..3.55).contains(&second.0), "{second:?}");
    assert!(
        (second.1 - second.0 - 1.0).abs() < 0.01,
        "a 1 s announcement: {second:?}"
    );
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("reported late") && warnings.contains(&times[4].1),
        "the announcement already over is noted, not left out: {warnings}"
    );

    let (rate, ch) = channels(path, doc);
    let heard = |from: f64, to: f64| {
        [(0, TONE_A), (1, TONE_B)]
            .map(|(c, tone)| band_power(span(&ch[c], rate, from, to), rate, tone))
    };
    for (from, to) in [first, second] {
        let inside = heard(from + 0.05, to - 0.05);
        assert!(
            inside.iter().all(|&p| p < 1e-5),
            "nothing of the parties during the announcement {from}..{to}: {inside:?}"
        );
    }
    for (from, to) in [(first.1 + 0.1, second.0 - 0.1), (second.1 + 0.1, 5.5)] {
        let outside = heard(from, to);
        assert!(
            outside.iter().all(|&p| p > 0.01),
            "both parties between the announcements {from}..{to}: {outside:?}"
        );
    }
}

#[test]
fn a_client_that_vanishes_is_ended_after_the_idle_timeout_and_stored() {
    let serve = start_serve("sipp-vanish", 23000, "");
    let scenario = prepare(&serve.dir, "siprec_vanish.xml", 2);
    let out = sipp(
        &serve,
        &scenario,
        6000,
        &["-m", "1", "-d", "2500", "-trace_msg"],
    );
    assert_success(&out, &serve.dir);
    let messages = sipp_messages(&serve.dir);
    assert!(
        messages.contains("BYE sip:src@127.0.0.1:6000 SIP/2.0")
            && messages.contains(
                "Reason: SIP;cause=200;text=\"no RTP or signalling for 3 s: the client is gone\""
            ),
        "the client hears a BYE saying why: {messages}"
    );
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("no RTP or signalling for 3 s"),
        "{warnings}"
    );
    let (rate, ch) = channels(path, doc);
    assert!(band_power(span(&ch[0], rate, 0.3, 1.7), rate, TONE_A) > 0.01);
    let ended: Vec<Value> = serve
        .log()
        .into_iter()
        .filter(|l| l["event"] == "call.end")
        .collect();
    assert_eq!(ended[0]["reason"], "idle");
}

#[test]
fn garbage_and_a_foreign_flood_do_not_touch_the_recording() {
    let serve = start_serve("sipp-flood", 24000, "");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 4);
    let sip = serve.sip;
    let log_path = serve.path("serve.log");
    let attacker = std::thread::spawn(move || {
        // Wait for the call's ports, then flood them from a port SIPp never uses, and throw
        // garbage at the SIP port, all while the call runs.
        let first_port = wait_for_call_port(&log_path);
        // Another host (all of 127/8 is this machine): neither the offered address nor
        // the latched source.
        let socket = UdpSocket::bind("127.0.0.2:0").unwrap();
        let noise: Vec<u8> = (0..160)
            .map(|i| if i % 2 == 0 { 0x00 } else { 0x80 })
            .collect();
        let mut sent = 0u64;
        for i in 0..3000u32 {
            let packet = callrec::synth::rtp_packet(0, false, i as u16, i * 160, 0xbad, &noise);
            for port in [first_port, first_port + 2] {
                socket.send_to(&packet, ("127.0.0.1", port)).unwrap();
                sent += 1;
            }
            if i % 10 == 0 {
                socket
                    .send_to(b"\x00\xffnot sip at all\r\n\r\n", sip)
                    .unwrap();
                socket.send_to(&[0u8; 1400], sip).unwrap();
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        sent
    });
    let out = sipp(&serve, &scenario, 7000, &["-m", "1", "-d", "4500"]);
    let flooded = attacker.join().unwrap();
    assert_success(&out, &serve.dir);
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    let streams = doc["input"]["siprec"]["streams"].as_array().unwrap();
    let dropped: u64 = streams
        .iter()
        .map(|s| {
            let socket = &s["sockets"][0];
            socket["dropped_foreign"].as_u64().unwrap()
                + socket["dropped_not_rtp"].as_u64().unwrap()
        })
        .sum();
    // Loopback may drop some of a burst when a socket's buffer is full; what arrives is
    // dropped by the latch.
    assert!(
        dropped * 10 >= flooded * 9,
        "the flood was dropped at the latch: {dropped} of {flooded}"
    );
    let (rate, ch) = channels(path, doc);
    for (channel, tone) in [(&ch[0], TONE_A), (&ch[1], TONE_B)] {
        let audio = span(channel, rate, 0.3, 3.7);
        assert!(band_power(audio, rate, tone) > 0.01, "the party is intact");
        // The flood's square wave would put power at 4000 Hz … and everywhere below.
        assert!(
            band_power(audio, rate, 2000.0) < 1e-4,
            "no trace of the flood"
        );
    }
    for leg in doc["legs"].as_array().unwrap() {
        assert_eq!(leg["counts"]["lost"], 0);
        assert_eq!(
            leg["ssrcs"].as_array().unwrap().len(),
            1,
            "one source per leg"
        );
    }
}

/// The first RTP port of the first call the server started, from its log.
fn wait_for_call_port(log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v["event"] == "call.start" {
                return v["first_port"].as_u64().unwrap() as u16;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no call started");
}

/// One request and the status it must be answered with.
fn request_scenario(dir: &Path, name: &str, request: &str, status: u16) -> PathBuf {
    let ack = if request.starts_with("INVITE") {
        "  <send>\n    <![CDATA[\nACK sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-1]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>[peer_tag_param]\n\
         Call-ID: [call_id]\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n    ]]>\n  </send>\n"
    } else {
        ""
    };
    let globals = match request.contains("[$aor_a]") {
        true => "<Global variables=\"aor_a,aor_b\"/>\n",
        false => "",
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<scenario name=\"{name}\">\n{globals}\
         <send retrans=\"500\">\n    <![CDATA[\n{request}\n    ]]>\n  </send>\n\
         <recv response=\"100\" optional=\"true\"/>\n<recv response=\"{status}\"/>\n{ack}</scenario>\n"
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, xml).unwrap();
    path
}

/// A SIPREC INVITE with its headers and body adjustable.
fn invite(require: &str, contact_tag: &str, content_type: &str, body: &str) -> String {
    format!(
        "INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0\n\
         Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>\n\
         Call-ID: [call_id]\nCSeq: 1 INVITE\n\
         Contact: <sip:src@[local_ip]:[local_port]>{contact_tag}\n{require}Max-Forwards: 70\n\
         Content-Type: {content_type}\nContent-Length: [len]\n\n{body}"
    )
}

const SDP: &str = "v=0\no=- 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\n\
                   m=audio [media_port] RTP/AVP 0\na=label:1\na=sendonly\n";

#[test]
fn malformed_and_unwanted_requests_get_the_right_answer() {
    let serve = start_serve("sipp-refusals", 25000, "");
    let dir = &serve.dir;
    let siprec = "Require: siprec\n";
    let src = ";+sip.src";
    let no_codec = SDP.replace("RTP/AVP 0", "RTP/AVP 18");
    let video = SDP.replace("m=audio", "m=video");
    let cases: Vec<(&str, String, u16)> = vec![
        ("no-siprec", invite("", src, "application/sdp", SDP), 421),
        ("no-src-tag", invite(siprec, "", "application/sdp", SDP), 400),
        ("unknown-extension", invite("Require: siprec, 100rel-xyz\n", src, "application/sdp", SDP), 420),
        ("wrong-body", invite(siprec, src, "text/plain", "hello"), 415),
        ("bad-sdp", invite(siprec, src, "application/sdp", "v=1\nnonsense\n"), 400),
        ("no-codec", invite(siprec, src, "application/sdp", &no_codec), 488),
        ("video-only", invite(siprec, src, "application/sdp", &video), 488),
        (
            "bad-multipart",
            // Cut inside the last part's headers: no close delimiter, and no whole part.
            invite(siprec, src, "multipart/mixed;boundary=xyz", "--xyz\nContent-Type: application/sdp\n"),
            400,
        ),
        (
            "unknown-method",
            "PUBLISH sip:srs@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>\nCall-ID: [call_id]\n\
             CSeq: 1 PUBLISH\nMax-Forwards: 70\nContent-Length: 0\n".into(),
            405,
        ),
        (
            "bye-unknown-dialog",
            "BYE sip:srs@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>;tag=nobody\nCall-ID: [call_id]\n\
             CSeq: 2 BYE\nMax-Forwards: 70\nContent-Length: 0\n".into(),
            481,
        ),
        (
            "options",
            "OPTIONS sip:srs@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>\nCall-ID: [call_id]\n\
             CSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n".into(),
            200,
        ),
        (
            "too-large",
            format!(
                "OPTIONS sip:srs@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
                 From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>\nCall-ID: [call_id]\n\
                 CSeq: 1 OPTIONS\nMax-Forwards: 70\nX-Padding: {}\nContent-Length: 0\n",
                "p".repeat(9000)
            ),
            513,
        ),
    ];
    for (i, (name, request, status)) in cases.iter().enumerate() {
        let scenario = request_scenario(dir, name, request, *status);
        let out = sipp(&serve, &scenario, 8000 + 2 * i as u16, &["-m", "1"]);
        assert!(out.status.success(), "{name}: expected {status}");
    }
    assert!(
        metadata_files(&serve.path("recordings")).is_empty(),
        "nothing recorded"
    );
}

#[test]
fn sigterm_drains_calls_in_flight_then_exits_cleanly() {
    let serve = start_serve("sipp-drain", 26000, "");
    let dir = serve.dir.clone();
    let scenario = prepare(&dir, "siprec_call.xml", 4);
    let sip = serve.sip;
    let calls = std::thread::spawn({
        let scenario = scenario.clone();
        let dir = dir.clone();
        move || {
            Command::new("sipp")
                .arg("-sf")
                .arg(&scenario)
                .arg(sip.to_string())
                .args([
                    "-i",
                    "127.0.0.1",
                    "-p",
                    "9000",
                    "-mp",
                    "9100",
                    "-m",
                    "3",
                    "-l",
                    "3",
                    "-r",
                    "10",
                ])
                .args([
                    "-d",
                    "4000",
                    "-set",
                    "aor_a",
                    "sip:alice@example.com",
                    "-set",
                    "aor_b",
                    "sip:bob@example.com",
                ])
                .args(["-nostdin", "-timeout", "60s"])
                .current_dir(&dir)
                .output()
                .unwrap()
        }
    });
    // Once the three calls run, SIGTERM: new offers and OPTIONS get 503, the calls go on.
    let log = serve.path("serve.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    while started(&log) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(started(&log), 3);
    let pid = serve.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serve.log().iter().any(|l| l["event"] == "drain.start") {
        assert!(Instant::now() < deadline, "no drain: {:#?}", serve.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let options = request_scenario(
        &dir,
        "options-draining",
        "OPTIONS sip:srs@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
         From: <sip:src@[local_ip]>;tag=[call_number]\nTo: <sip:srs@[remote_ip]>\nCall-ID: [call_id]\n\
         CSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n",
        503,
    );
    assert!(
        sipp(&serve, &options, 9010, &["-m", "1"]).status.success(),
        "OPTIONS 503 while draining"
    );
    let refused = request_scenario(
        &dir,
        "invite-draining",
        &invite("Require: siprec\n", ";+sip.src", "application/sdp", SDP),
        503,
    );
    assert!(
        sipp(&serve, &refused, 9012, &["-m", "1"]).status.success(),
        "INVITE 503 while draining"
    );
    let out = calls.join().unwrap();
    assert!(out.status.success(), "the calls in flight ended normally");
    let mut serve = serve;
    let status = serve.wait();
    assert!(status.success(), "exit 0 after the drain: {status}");
    let stored = metadata_files(&dir.join("recordings"));
    assert_eq!(stored.len(), 3, "every call in flight stored");
    let spool = std::fs::read_dir(dir.join("spool/jobs")).unwrap().count();
    assert_eq!(spool, 0, "nothing left in the spool");
}

fn started(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"call.start\""))
        .count()
}

#[test]
fn a_hundred_concurrent_calls_are_all_recorded() {
    let serve = start_serve("sipp-hundred", 27000, "");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    let out = sipp(
        &serve,
        &scenario,
        10000,
        &["-m", "100", "-l", "100", "-r", "100", "-d", "3500"],
    );
    assert_success(&out, &serve.dir);
    let recordings = serve.recordings(100);
    for (path, doc) in &recordings {
        let (rate, ch) = channels(path, doc);
        let (left, right) = (span(&ch[0], rate, 0.5, 2.5), span(&ch[1], rate, 0.5, 2.5));
        assert!(
            band_power(left, rate, TONE_A) > 0.01,
            "{}: Alice on the left",
            path.display()
        );
        assert!(
            band_power(right, rate, TONE_B) > 0.01,
            "{}: Bob on the right",
            path.display()
        );
    }
}

/// The SIPREC INVITE of tests/sipp/siprec_call.xml (SDP and metadata naming Alice and Bob).
fn siprec_invite() -> String {
    let xml = std::fs::read_to_string(Path::new(SCENARIOS).join("siprec_call.xml")).unwrap();
    let start = xml.find("INVITE sip:").unwrap();
    let end = start + xml[start..].find("]]>").unwrap();
    xml[start..end].trim_end().to_string()
}

fn policy(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
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

#[test]
fn policy_decides_who_is_recorded_how_and_for_how_long() {
    // Acme has Alice (recording disabled, the default); Bob is nobody's.
    let serve = start_serve("sipp-policy", 28000, "");
    let dir = serve.dir.clone();
    let body = |v: Value| v.to_string();
    policy(
        &dir,
        &[
            "post",
            "/v1/organizations",
            "--org",
            "acme",
            "--body",
            &body(serde_json::json!({"id": "acme", "displayName": "Acme", "region": "US"})),
        ],
    );
    policy(
        &dir,
        &[
            "post",
            "/v1/locations",
            "--org",
            "acme",
            "--body",
            &body(serde_json::json!({"id": "hq", "name": "HQ"})),
        ],
    );
    policy(
        &dir,
        &[
            "post",
            "/v1/people",
            "--org",
            "acme",
            "--body",
            &body(serde_json::json!({
        "id": "alice", "locationId": "hq", "firstName": "Alice", "lastName": "Lee",
        "email": "alice@example.com", "timeZone": "Europe/London", "callingLicense": "Professional",
        "sipAddresses": ["sip:alice@example.com"]})),
        ],
    );
    serve.wait_for_policy();

    let refused = request_scenario(&dir, "siprec_refused", &siprec_invite(), 403);
    let out = sipp(&serve, &refused, 11000, &["-m", "1"]);
    assert!(out.status.success(), "Alice is not recorded: 403");
    let log = serve.log();
    let refusal = log
        .iter()
        .find(|l| l["event"] == "call.refused")
        .expect("logged");
    let reason = refusal["reason"].as_str().unwrap();
    assert!(
        reason.contains("sip:alice@example.com") && reason.contains("disabled"),
        "{reason}"
    );

    // Alice now records Always (no pausing): recorded as Acme's, kept 30 days (Dubber Go), and
    // the platform's pause is answered but not obeyed.
    let terms = "/v1/telephony/config/callRecording/vendors/dubber/termsOfService";
    policy(
        &dir,
        &[
            "put",
            terms,
            "--org",
            "acme",
            "--body",
            r#"{"termsOfServiceEnabled": true}"#,
        ],
    );
    let settings = "/v1/people/alice/features/callRecording";
    policy(
        &dir,
        &[
            "put",
            settings,
            "--org",
            "acme",
            "--body",
            &body(serde_json::json!({
        "enabled": true, "record": "Always", "recordVoicemailEnabled": false,
        "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
        "notification": {"type": "Beep", "enabled": true}, "repeat": {"interval": 20, "enabled": false}})),
        ],
    );
    serve.wait_for_policy();
    let scenario = prepare(&dir, "siprec_pause.xml", 6);
    let out = sipp(&serve, &scenario, 11010, &["-m", "1", "-d", "3000"]);
    assert_success(&out, &dir);
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    assert!(
        path.to_string_lossy().contains("recordings/30d/acme/"),
        "{}",
        path.display()
    );
    assert_eq!(doc["storage"]["org"], "acme");
    assert_eq!(doc["storage"]["user"], "alice");
    assert_eq!(
        doc["pauses"].as_array().unwrap().len(),
        0,
        "Always: no pausing"
    );
    let warnings = doc["warnings"].to_string();
    assert!(warnings.contains("does not allow pausing"), "{warnings}");
    let (rate, ch) = channels(path, doc);
    assert!(
        band_power(span(&ch[0], rate, 1.8, 2.8), rate, TONE_A) > 0.01,
        "recorded through the pause request"
    );
}

#[test]
fn a_call_over_tcp_is_recorded_too() {
    // Connections idle for a second are closed, but not this one: a call's dialog uses it
    // (SIPp sends nothing on it for 3.5 s between its ACK and its BYE).
    let serve = start_serve("sipp-tcp", 29000, "connection_idle_secs = 1\n");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    let out = sipp(
        &serve,
        &scenario,
        12000,
        &["-t", "t1", "-m", "1", "-d", "3500"],
    );
    assert_success(&out, &serve.dir);
    assert_call_came_over(&serve, "tcp");
    assert_eq!(
        serve.metric("callrec_sip_connections_idle_closed_total"),
        0.0
    );
}

/// A TCP connection that never sends anything is closed after `connection_idle_secs`, so idle
/// clients cannot hold every connection slot.
#[test]
fn an_idle_tcp_connection_is_closed() {
    use std::io::Read;
    let serve = start_serve("sipp-tcp-idle", 15000, "connection_idle_secs = 1\n");
    let mut idle = std::net::TcpStream::connect(serve.sip).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap(), 0, "closed by the server");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        serve.metric("callrec_sip_connections_idle_closed_total"),
        1.0
    );
}

/// The server's one recording came over `transport`, with Alice on the left and Bob on the
/// right.
fn assert_call_came_over(serve: &Serve, transport: &str) {
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    assert_eq!(doc["input"]["siprec"]["transport"], transport, "{doc}");
    let (rate, ch) = channels(path, doc);
    assert!(
        band_power(span(&ch[0], rate, 0.3, 2.7), rate, TONE_A) > 0.01,
        "Alice on the left"
    );
    assert!(
        band_power(span(&ch[1], rate, 0.3, 2.7), rate, TONE_B) > 0.01,
        "Bob on the right"
    );
}

/// What SIPp's -trace_msg wrote in `dir`.
fn sipp_messages(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

#[test]
fn a_call_over_tls_is_recorded_with_our_contact_for_tls() {
    let certs = TempDir::new("sipp-tls-certs");
    let (cert, key) = certificate(&certs.0);
    let extra = format!(
        "tls_listen = \"127.0.0.1:0\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let serve = start_serve("sipp-tls", 19000, &extra);
    let tls = serve.sip_tls.expect("serve listens for TLS");
    // SIPp speaks TCP to stunnel, which carries it over TLS to callrec and checks our
    // certificate on the way.
    let plain = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let _stunnel = Stunnel::start(&certs.0, plain, tls, &cert);
    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    let out = sipp_to(
        plain,
        &scenario,
        12600,
        &["-t", "t1", "-m", "1", "-d", "3500", "-trace_msg"],
    );
    assert_success(&out, &serve.dir);
    assert_call_came_over(&serve, "tls");
    let messages = sipp_messages(&serve.dir);
    let contact = format!("Contact: <sip:callrec@{tls};transport=tls>;+sip.srs");
    assert!(
        messages.contains(&contact),
        "the 200 OK sends in-dialog requests back over TLS: {messages}"
    );
}

/// How one leg numbers a segment of RTP: SSRC, first sequence number, first timestamp.
#[derive(Clone, Copy)]
struct Numbering {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

/// Sends 1 s of both legs at the real pace from `senders` to `to`, numbered as given.
async fn segment(
    senders: &[tokio::net::UdpSocket; 2],
    to: [SocketAddr; 2],
    numbering: [Numbering; 2],
) {
    let frames = [pcmu_frame(TONE_A), pcmu_frame(TONE_B)];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for n in 0..50u16 {
        ticker.tick().await;
        for leg in 0..2 {
            let Numbering { ssrc, seq, ts } = numbering[leg];
            let packet = callrec::synth::rtp_packet(
                0,
                n == 0,
                seq.wrapping_add(n),
                ts.wrapping_add(u32::from(n) * 160),
                ssrc,
                &frames[leg],
            );
            senders[leg].send_to(&packet, to[leg]).await.unwrap();
        }
    }
}

/// Clients differ in ways SIPp's capture play cannot show, so this one is played by callrec's
/// own recording client against the real server: media from ports other than the offered
/// ones, and after a pause leg A restarts its sequence numbers and timestamps while leg B
/// comes back with a new SSRC (and sequence numbers that wrap). One recording, whole.
#[test]
fn clients_that_restart_rtp_change_ssrc_or_send_from_other_ports_make_one_recording() {
    use callrec::server::siprec::client::SrcSession;
    let serve = start_serve("src-differ", 18000, "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let senders: [SocketAddr; 2] = runtime.block_on(async {
        let bind = || tokio::net::UdpSocket::bind("127.0.0.1:0");
        let offered = [bind().await.unwrap(), bind().await.unwrap()];
        let senders = [bind().await.unwrap(), bind().await.unwrap()];
        let port = |s: &tokio::net::UdpSocket| s.local_addr().unwrap().port();
        let (mut src, to) = SrcSession::open(
            serve.sip,
            "differ-1",
            [port(&offered[0]), port(&offered[1])],
            None,
        )
        .await
        .unwrap();
        let first = [
            Numbering {
                ssrc: 0xA1,
                seq: 100,
                ts: 8000,
            },
            Numbering {
                ssrc: 0xB1,
                seq: 65_500,
                ts: u32::MAX - 4000,
            },
        ];
        segment(&senders, to, first).await;
        src.reinvite("inactive").await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        src.reinvite("sendonly").await.unwrap();
        let second = [
            Numbering {
                ssrc: 0xA1,
                seq: 0,
                ts: 0,
            },
            Numbering {
                ssrc: 0xB2,
                seq: 31_000,
                ts: 123_456,
            },
        ];
        segment(&senders, to, second).await;
        src.bye().await.unwrap();
        senders.map(|s| s.local_addr().unwrap())
    });
    let recordings = serve.recordings(1);
    let (path, doc) = &recordings[0];
    let streams = doc["input"]["siprec"]["streams"].as_array().unwrap();
    for (stream, sender) in streams.iter().zip(senders) {
        let socket = &stream["sockets"][0];
        assert_eq!(
            socket["source"],
            sender.to_string(),
            "latched to the port it sends from"
        );
        assert_eq!(socket["kept"], 100, "{stream}");
    }
    let legs = doc["legs"].as_array().unwrap();
    for leg in legs {
        assert_eq!(leg["counts"]["lost"], 0, "{leg}");
        assert_eq!(leg["counts"]["late"], 0, "{leg}");
    }
    assert_eq!(legs[1]["ssrcs"].as_array().unwrap().len(), 2, "{}", legs[1]);

    let pauses = doc["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{doc}");
    let (from, to) = (
        pauses[0]["from"].as_f64().unwrap(),
        pauses[0]["to"].as_f64().unwrap(),
    );
    assert!(
        (0.95..1.3).contains(&from) && (1.9..2.6).contains(&to),
        "{from}..{to}"
    );
    let (rate, ch) = channels(path, doc);
    let seconds = ch[0].len() as f64 / f64::from(rate);
    assert!(
        (to + 0.9..to + 1.4).contains(&seconds),
        "one file to the end: {seconds} s"
    );
    for (from, to) in [(0.2, from - 0.2), (to + 0.2, seconds - 0.2)] {
        let (left, right) = (span(&ch[0], rate, from, to), span(&ch[1], rate, from, to));
        assert!(
            band_power(left, rate, TONE_A) > 0.01,
            "leg A in {from}..{to}"
        );
        assert!(
            band_power(right, rate, TONE_B) > 0.01,
            "leg B in {from}..{to}"
        );
        assert!(
            band_power(left, rate, TONE_B) < 1e-4,
            "no leg B on the left"
        );
        assert!(
            band_power(right, rate, TONE_A) < 1e-4,
            "no leg A on the right"
        );
    }
    let paused = span(&ch[0], rate, from + 0.25, to - 0.25);
    assert!(
        band_power(paused, rate, TONE_A) < 1e-5,
        "silent while paused"
    );
}

/// Call-IDs that fold or cut to the same file name, and one Call-ID used by two dialogs at
/// once (the same From tag, and another): every answered session is one recording of its
/// own, whole, and the sidecar keeps the Call-ID it came with.
#[test]
fn colliding_call_ids_are_each_recorded_whole() {
    let serve = start_serve("sipp-collide", 17000, "");
    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    // The same scenario with the From tag given on the command line (and the Call-ID by
    // SIPp's -cid_str).
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace("tag=[call_number]", "tag=[$fromtag]")
        .replace(
            "variables=\"aor_a,aor_b\"",
            "variables=\"aor_a,aor_b,fromtag\"",
        );
    let scenario = scenario.with_file_name("siprec_collide.xml");
    std::fs::write(&scenario, text).unwrap();
    let long = "7".repeat(139);
    let sessions = [
        ("coll-1@host".to_string(), "f1"),
        ("coll-1_host".to_string(), "f1"),
        (format!("{long}a"), "f1"),
        (format!("{long}b"), "f1"),
        ("shared@host".to_string(), "f1"),
        ("shared@host".to_string(), "f1"),
        ("shared@host".to_string(), "f2"),
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = sessions
            .iter()
            .enumerate()
            .map(|(i, (call_id, from_tag))| {
                let (serve, scenario) = (&serve, &scenario);
                scope.spawn(move || {
                    let args = ["-m", "1", "-d", "3500", "-cid_str", call_id];
                    let args = [&args[..], &["-set", "fromtag", from_tag]].concat();
                    sipp(serve, scenario, 6300 + 4 * i as u16, &args)
                })
            })
            .collect();
        for run in runs {
            assert_success(&run.join().unwrap(), &serve.dir);
        }
    });
    let recordings = serve.recordings(sessions.len());
    let mut names = std::collections::HashSet::new();
    let mut call_ids: Vec<String> = Vec::new();
    for (path, doc) in &recordings {
        let name = doc["call"]["id"].as_str().unwrap();
        assert!(names.insert(name.to_string()), "{name} stored twice");
        assert_eq!(path.parent().unwrap().file_name().unwrap(), name);
        call_ids.push(doc["call"]["sip_call_id"].as_str().unwrap().into());
        assert_eq!(
            doc["call"]["sip_call_id"],
            doc["input"]["siprec"]["call_id"]
        );
        let (rate, ch) = channels(path, doc);
        let seconds = ch[0].len() as f64 / f64::from(rate);
        assert!((2.8..3.4).contains(&seconds), "{name}: {seconds} s");
        let (left, right) = (span(&ch[0], rate, 0.3, 2.7), span(&ch[1], rate, 0.3, 2.7));
        assert!(band_power(left, rate, TONE_A) > 0.01, "{name}: Alice");
        assert!(band_power(right, rate, TONE_B) > 0.01, "{name}: Bob");
    }
    call_ids.sort();
    let mut expected: Vec<String> = sessions.iter().map(|(c, _)| c.clone()).collect();
    expected.sort();
    assert_eq!(call_ids, expected);
    let log = serve.log();
    assert!(
        !log.iter().any(|l| l["event"] == "call.not_recorded"),
        "{log:#?}"
    );
}

/// A small filesystem mounted for one test (tmpfs; the tests run as root, as CI does).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        let mount = dir.join("disk");
        std::fs::create_dir_all(&mount).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the test suite runs as root, as CI does)"
        );
        SmallDisk(mount)
    }

    /// Fills what is left of the disk.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The spool's disk fills up during an answered call: the call cannot be recorded any more,
/// so the recorder ends it with a BYE whose Reason says so, and counts it.
#[test]
fn a_call_whose_recording_fails_is_ended_with_a_bye_saying_why() {
    let mounts = TempDir::new("sipp-disk-full-mount");
    let disk = SmallDisk::mount(&mounts.0, "4m");
    let extra = format!("[store]\nspool = \"{}\"\n", disk.0.join("spool").display());
    let serve = start_serve("sipp-disk-full", 16000, &extra);
    let scenario = prepare(&serve.dir, "siprec_vanish.xml", 20);
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            sipp(
                &serve,
                &scenario,
                12200,
                // No pause: the client waits for our BYE from its ACK on (one that came during a
                // pause would be unexpected to SIPp).
                &["-m", "1", "-trace_msg"],
            )
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !serve.log().iter().any(|l| l["event"] == "call.start") {
            assert!(Instant::now() < deadline, "{:#?}", serve.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        disk.fill();
        assert_success(&client.join().unwrap(), &serve.dir);
    });
    let messages = sipp_messages(&serve.dir);
    assert!(
        messages.contains("BYE sip:src@127.0.0.1:12200 SIP/2.0")
            && messages.contains(
                "Reason: SIP;cause=503;text=\"recording failed: writing the spool failed"
            ),
        "the client hears a BYE saying why: {messages}"
    );
    assert_eq!(serve.metric("callrec_calls_recording_failed_total"), 1.0);
    let log = serve.log();
    let failed: Vec<&Value> = log
        .iter()
        .filter(|l| l["event"] == "call.recording_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{log:#?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{failed:?}"
    );
}

/// A full spool refuses new calls before they are answered (503, the client may try another
/// recorder) and leaves what it holds alone.
#[test]
fn a_full_spool_refuses_new_calls_and_keeps_what_it_holds() {
    // The store cannot be written, so the first recording stays in the spool.
    let extra = "[store]\nurl = \"file:///dev/null/store\"\nspool_limit_bytes = 1\n";
    let serve = start_serve("sipp-spool-full", 14000, extra);
    let scenario = prepare(&serve.dir, "siprec_call.xml", 2);
    let out = sipp(&serve, &scenario, 6600, &["-m", "1", "-d", "2500"]);
    assert_success(&out, &serve.dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serve.log().iter().any(|l| l["event"] == "call.spooled") {
        assert!(Instant::now() < deadline, "{:#?}", serve.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = request_scenario(&serve.dir, "siprec_full", &siprec_invite(), 503);
    let out = sipp(&serve, &refused, 6610, &["-m", "1"]);
    assert_success(&out, &serve.dir);
    let log = serve.log();
    let refusal = log
        .iter()
        .find(|l| l["event"] == "call.refused")
        .expect("logged");
    assert_eq!(refusal["status"], 503);
    assert!(
        refusal["reason"].as_str().unwrap().contains("spool"),
        "{refusal}"
    );
    let jobs: Vec<PathBuf> = std::fs::read_dir(serve.path("spool/jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        jobs[0].join("job.json").exists(),
        "the first recording kept"
    );
}

/// A real client's INVITE from fixtures/sip, adapted to reach this machine: its Via names
/// `local`, each offered `c=` address is 127.0.0.1, each audio `m=` line offers the port of
/// `media` in turn, and Content-Length is the new body's. Everything else (header order,
/// folding, the body's parts and whether it is closed) stays as the client sent it.
fn adapt_invite(fixture: &str, local: SocketAddr, media: &[u16]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sip")
        .join(fixture);
    let text = std::fs::read_to_string(path).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut ports = media.iter();
    let body: Vec<String> = body
        .split("\r\n")
        .map(|line| {
            if line.starts_with("c=IN IP4 ") {
                "c=IN IP4 127.0.0.1".to_string()
            } else if let Some(rest) = line.strip_prefix("m=audio ") {
                let (_, formats) = rest.split_once(' ').unwrap();
                format!("m=audio {} {formats}", ports.next().unwrap())
            } else {
                line.to_string()
            }
        })
        .collect();
    let body = body.join("\r\n");
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.starts_with("Via:") {
                format!("Via: SIP/2.0/UDP {local};branch=z9hG4bK-{fixture}")
            } else if line.starts_with("Content-Length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// The first value of header `name` in `message`.
fn header<'m>(message: &'m str, name: &str) -> &'m str {
    message
        .split("\r\n")
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
        .unwrap_or_else(|| panic!("{name} in {message}"))
        .trim()
}

/// Sends `request` until a final response comes; returns it.
async fn final_response(socket: &tokio::net::UdpSocket, to: SocketAddr, request: &str) -> String {
    let mut buf = vec![0u8; 65_536];
    for _ in 0..10 {
        socket.send_to(request.as_bytes(), to).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 1") || !text.starts_with("SIP/2.0 ") {
                continue;
            }
            return text;
        }
    }
    panic!("no final response to {request}");
}

/// One client shape's call: its INVITE (adapted to this machine), ACK, 1 s of tone on each
/// audio stream (TONE_A on the stream labelled `label_a`, TONE_B on `label_b`, in each
/// stream's first offered codec), BYE. Returns the 200 OK's status line.
async fn play_client_shape(sip: SocketAddr, fixture: &str, label_a: &str, label_b: &str) -> String {
    let bind = || tokio::net::UdpSocket::bind("127.0.0.1:0");
    let socket = bind().await.unwrap();
    let local = socket.local_addr().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sip")
            .join(fixture),
    )
    .unwrap();
    let audio = text.matches("\r\nm=audio ").count();
    let mut media = Vec::new();
    for _ in 0..audio {
        media.push(bind().await.unwrap());
    }
    let ports: Vec<u16> = media
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let invite = adapt_invite(fixture, local, &ports);
    let ok = final_response(&socket, sip, &invite).await;
    let status = ok.lines().next().unwrap().to_string();
    if !status.starts_with("SIP/2.0 200") {
        return status;
    }
    let (request_uri, cseq) = (
        invite.split(' ').nth(1).unwrap(),
        header(&invite, "CSeq").split(' ').next().unwrap(),
    );
    let in_dialog = |method: &str, cseq: &str| {
        format!(
            "{method} {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{method}-{fixture}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            header(&invite, "From"),
            header(&ok, "To"),
            header(&invite, "Call-ID"),
        )
    };
    socket
        .send_to(in_dialog("ACK", cseq).as_bytes(), sip)
        .await
        .unwrap();
    // Where the answer says each offered audio stream goes, with its label and codec.
    let (_, answer) = ok.split_once("\r\n\r\n").unwrap();
    let answer_ports: Vec<u16> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("m="))
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    let (_, offer) = invite.split_once("\r\n\r\n").unwrap();
    let mut streams = Vec::new(); // (destination, payload type, frame)
    let mut section: Option<(bool, u8)> = None;
    let mut index = 0;
    for line in offer.split("\r\n").chain(["m=end 0 x 0"]) {
        if let Some(rest) = line.strip_prefix("m=") {
            section = Some((
                rest.starts_with("audio "),
                rest.split(' ').nth(3).unwrap().parse().unwrap_or(0),
            ));
            index += 1;
        }
        if let (Some((true, pt)), Some(label)) = (section, line.strip_prefix("a=label:")) {
            let tone = match label {
                l if l == label_a => TONE_A,
                l if l == label_b => TONE_B,
                _ => continue,
            };
            let codec = if pt == 8 { Codec::Pcma } else { Codec::Pcmu };
            let to = SocketAddr::new(sip.ip(), answer_ports[index - 1]);
            streams.push((to, pt, g711_frame(codec, tone)));
        }
    }
    assert_eq!(streams.len(), 2, "{fixture}: both labels offered as audio");
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for n in 0..50u16 {
        ticker.tick().await;
        for (i, (to, pt, frame)) in streams.iter().enumerate() {
            let packet = callrec::synth::rtp_packet(
                *pt,
                n == 0,
                1000 + n,
                u32::from(n) * 160,
                0xC0DE + i as u32,
                frame,
            );
            // From the socket the offer named for that stream (the latch expects 127.0.0.1).
            media[i.min(media.len() - 1)]
                .send_to(&packet, to)
                .await
                .unwrap();
        }
    }
    let next = (cseq.parse::<u32>().unwrap() + 1).to_string();
    let bye = final_response(&socket, sip, &in_dialog("BYE", &next)).await;
    assert!(bye.starts_with("SIP/2.0 200"), "{fixture}: {bye}");
    status
}

/// Whole INVITEs shaped after real recording clients (fixtures/sip/; the README says where
/// each shape comes from), sent by callrec's own client to the real server with only
/// addresses, ports and Content-Length adapted: each is answered 200 OK and recorded with the
/// recorded party's stream in the left channel. Cisco CUBE, Sonus and Procomm end their body
/// without the close delimiter; their sidecars say so, the others' do not.
#[test]
fn every_real_client_shape_is_answered_and_recorded_in_the_right_legs() {
    let serve = start_serve("client-shapes", 33000, "");
    // (fixture, label of leg A, label of leg B, ends without the close delimiter)
    let cases = [
        ("invite-siprec-cube.sip", "1", "2", false),
        ("invite-siprec-cube-unclosed.sip", "1", "2", true),
        ("invite-siprec-sonus.sip", "2", "1", true),
        ("invite-siprec-procomm.sip", "a_leg", "b_leg", true),
        ("invite-siprec-audiocodes.sip", "1", "2", false),
        ("invite-siprec-rfc7866.sip", "96", "98", false),
        ("invite-siprec-broadworks.sip", "1", "2", false),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (fixture, label_a, label_b, _) in cases {
        let status = runtime.block_on(play_client_shape(serve.sip, fixture, label_a, label_b));
        assert_eq!(status, "SIP/2.0 200 OK", "{fixture}");
    }
    let recordings = serve.recordings(cases.len());
    let call_id_of = |fixture: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sip")
            .join(fixture);
        header(&std::fs::read_to_string(path).unwrap(), "Call-ID").to_string()
    };
    for (fixture, label_a, label_b, unclosed) in cases {
        let call_id = call_id_of(fixture);
        let (path, doc) = recordings
            .iter()
            .find(|(_, doc)| doc["call"]["sip_call_id"] == call_id.as_str())
            .unwrap_or_else(|| panic!("{fixture}: recorded"));
        let streams = doc["input"]["siprec"]["streams"].as_array().unwrap();
        let label_of = |leg: &str| {
            streams
                .iter()
                .find(|s| s["leg"] == leg)
                .map(|s| s["label"].as_str().unwrap().to_string())
        };
        assert_eq!(
            label_of("a").as_deref(),
            Some(label_a),
            "{fixture}: {streams:?}"
        );
        assert_eq!(
            label_of("b").as_deref(),
            Some(label_b),
            "{fixture}: {streams:?}"
        );
        for stream in streams {
            assert_eq!(stream["sockets"][0]["kept"], 50, "{fixture}: {stream}");
        }
        let warnings: Vec<&str> = doc["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let noted = warnings
            .iter()
            .any(|w| w.starts_with("the multipart body has no close delimiter"));
        assert_eq!(noted, unclosed, "{fixture}: {warnings:?}");
        let (rate, ch) = channels(path, doc);
        let seconds = ch[0].len() as f64 / f64::from(rate);
        let (from, to) = (0.2, seconds.min(1.0) - 0.1);
        let (left, right) = (span(&ch[0], rate, from, to), span(&ch[1], rate, from, to));
        assert!(
            band_power(left, rate, TONE_A) > 0.01,
            "{fixture}: leg A on the left"
        );
        assert!(
            band_power(right, rate, TONE_B) > 0.01,
            "{fixture}: leg B on the right"
        );
        assert!(
            band_power(left, rate, TONE_B) < 1e-4,
            "{fixture}: no leg B on the left"
        );
        assert!(
            band_power(right, rate, TONE_A) < 1e-4,
            "{fixture}: no leg A on the right"
        );
    }
}

/// A SIPREC INVITE as a foreign platform at `from` would send it over `transport`.
fn foreign_invite(from: SocketAddr, transport: &str, branch: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
               m=audio 9000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n";
    format!(
        "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bK{branch}\r\n\
         From: <sip:src@127.0.0.2>;tag=foreign\r\nTo: <sip:srs@127.0.0.1>\r\n\
         Call-ID: foreign-{branch}\r\nCSeq: 1 INVITE\r\nContact: <sip:src@{from}>;+sip.src\r\n\
         Require: siprec\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The status line of the response `read` returns.
fn status_line(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines().next().unwrap_or_default().to_string()
}

/// `sip.allow` names 127.0.0.1 alone; 127.0.0.2 (loopback on Linux, yet another source) plays
/// a platform nobody admitted. Its INVITEs get 403 over UDP (a retransmission too) and TCP,
/// each counted, logged once for the minute; then SIPp from 127.0.0.1 records as usual.
#[test]
fn a_foreign_source_gets_403_counted_and_logged_once_while_an_allowed_one_records() {
    let serve = start_serve("sipp-allow", 39000, "allow = [\"127.0.0.1\"]\n");
    let refused = "callrec_sip_refused_clients_total{reason=\"address\"}";
    assert_eq!(serve.metric(refused), 0.0);

    let udp = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is loopback on Linux");
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let invite = foreign_invite(udp.local_addr().unwrap(), "UDP", "f1");
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        udp.send_to(invite.as_bytes(), serve.sip).unwrap();
        let (n, _) = udp.recv_from(&mut buf).expect("an answer");
        assert_eq!(
            status_line(&buf[..n]),
            "SIP/2.0 403 Forbidden (source not allowed: sip.allow)"
        );
    }
    let mut tcp = tcp_from("127.0.0.2:0".parse().unwrap(), serve.sip);
    let invite = foreign_invite(tcp.local_addr().unwrap(), "TCP", "f2");
    std::io::Write::write_all(&mut tcp, invite.as_bytes()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = std::io::Read::read(&mut tcp, &mut buf).expect("an answer over TCP");
    assert_eq!(
        status_line(&buf[..n]),
        "SIP/2.0 403 Forbidden (source not allowed: sip.allow)"
    );
    assert_eq!(serve.metric(refused), 3.0);
    assert_eq!(serve.metric("callrec_calls_total"), 0.0);
    let logged = serve.events("sip.client_refused");
    assert_eq!(logged.len(), 1, "once a minute per source: {logged:?}");
    assert!(
        logged[0]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:")
            && logged[0]["reason"] == "address",
        "{logged:?}"
    );

    let scenario = prepare(&serve.dir, "siprec_call.xml", 3);
    let out = sipp(&serve, &scenario, 9400, &["-m", "1", "-d", "3500"]);
    assert_success(&out, &serve.dir);
    assert_call_came_over(&serve, "udp");
    assert_eq!(serve.metric("callrec_calls_total"), 1.0);
    assert_eq!(
        serve.metric(refused),
        3.0,
        "the allowed source is never refused"
    );
}

/// A TCP connection from `local` (an address of this machine) to `to`.
fn tcp_from(local: SocketAddr, to: SocketAddr) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(local).unwrap();
        let stream = socket.connect(to).await.expect("connects");
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}
