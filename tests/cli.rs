//! The `callrec` binary as an operator runs it: what it prints, what it leaves on disk, and
//! how it refuses bad input (a one-line reason, status 2, no panic, no files left behind).

mod common;

use callrec::pcap::{CaptureFormat, LinkType, PcapWriter};
use callrec::synth::{CAPTURE_EPOCH, FREQ_A, FREQ_B};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `callrec ARGS` from the crate's root (so `fixtures/...` resolves).
fn callrec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run callrec")
}

/// Runs `callrec record CAPTURE --out DIR EXTRA...`, which must succeed, and returns the
/// (recording, metadata) paths of its stdout lines.
fn record_ok(capture: &str, out: &Path, extra: &[&str]) -> Vec<(PathBuf, PathBuf)> {
    let out_arg = out.to_str().expect("utf-8 temp dir");
    let mut args = vec!["record", capture, "--out", out_arg];
    args.extend_from_slice(extra);
    let output = callrec(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let object = v.as_object().expect("a JSON object per line");
            assert_eq!(
                object.len(),
                4,
                "{line}: type, call id, recording, metadata"
            );
            assert!(
                line.starts_with(r#"{"type":"recording","call_id":"#),
                "{line}"
            );
            let path = |key: &str| PathBuf::from(v[key].as_str().expect(key));
            (path("recording"), path("metadata"))
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Names of the files in `dir` (none if it does not exist).
fn listing(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Nanoseconds since the Unix epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.frac]Z`;
/// `None` for anything else (an offset other than `Z` included).
fn parse_rfc3339_utc(text: &str) -> Option<i128> {
    let body = text.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let num = |s: &str, len: usize| -> Option<i64> {
        if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hh, mm, ss) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 60 || frac.len() > 9 {
        return None;
    }
    let frac_nanos = if frac.is_empty() {
        0
    } else {
        num(frac, frac.len())? * 10i64.pow(9 - frac.len() as u32)
    };
    // Days from the civil date (proleptic Gregorian), March-based years.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(frac_nanos))
}

#[test]
fn rfc3339_parser_reads_known_instants() {
    let cases: [(&str, Option<i128>); 6] = [
        ("1970-01-01T00:00:00Z", Some(0)),
        ("2000-03-01T00:00:00.5Z", Some(951_868_800_500_000_000)),
        // `date -u -d @1780000000`
        ("2026-05-28T20:26:40.000Z", Some(1_780_000_000_000_000_000)),
        ("2026-05-28T20:26:40+00:00", None),
        ("2026-05-28 20:26:40Z", None),
        ("2026-13-28T20:26:40Z", None),
    ];
    for (text, nanos) in cases {
        assert_eq!(parse_rfc3339_utc(text), nanos, "{text}");
    }
}

/// Each clean fixture recorded by the binary: one stdout line naming files that exist and
/// nothing else in the directory; a sidecar whose hashes and sizes are the files', whose
/// times are RFC 3339 UTC and agree with the duration, and whose legs are the generator's.
#[test]
fn record_prints_one_line_per_file_and_a_sidecar_true_to_the_files() {
    let cases = [
        ("pcmu-clean", "pcap", "pcmu", &[][..]),
        ("pcma-clean", "pcapng", "pcma", &[][..]),
        ("g722-clean", "pcap", "g722", &[][..]),
        (
            "opus-clean",
            "pcapng",
            "opus",
            &["--pt", "111=opus/48000"][..],
        ),
    ];
    for (stem, ext, codec, extra) in cases {
        let dir = TempDir::new("cli-record");
        let out = dir.path("out");
        let lines = record_ok(&format!("fixtures/{stem}.{ext}"), &out, extra);
        let (recording, metadata) = (
            out.join(format!("{stem}.opus")),
            out.join(format!("{stem}.json")),
        );
        assert_eq!(lines, vec![(recording.clone(), metadata.clone())], "{stem}");
        assert_eq!(
            listing(&out),
            names(&[&format!("{stem}.opus"), &format!("{stem}.json")]),
            "{stem}: the recording and its sidecar, no .partial"
        );

        let media = std::fs::read(&recording).expect("recording exists");
        let sidecar: Value =
            serde_json::from_slice(&std::fs::read(&metadata).expect("metadata exists"))
                .expect("sidecar is JSON");
        let files = sidecar["files"].as_array().expect("files");
        assert_eq!(files.len(), 1, "{stem}");
        assert_eq!(files[0]["name"], format!("{stem}.opus"), "{stem}");
        assert_eq!(files[0]["legs"], "both", "{stem}");
        assert_eq!(files[0]["sha256"], sha256_hex(&media), "{stem}: sha256");
        assert_eq!(files[0]["bytes"], media.len() as u64, "{stem}: bytes");

        let call = &sidecar["call"];
        assert_eq!(call["id"], stem);
        let time = |key: &str| {
            let text = call[key]
                .as_str()
                .unwrap_or_else(|| panic!("{stem}: call.{key}"));
            parse_rfc3339_utc(text)
                .unwrap_or_else(|| panic!("{stem}: call.{key} {text} is not RFC 3339 UTC"))
        };
        let (start, end) = (time("start"), time("end"));
        let duration = call["duration_secs"].as_f64().expect("duration_secs");
        // The capture starts at the generator's epoch; the call lasts 3 s (A from 0 to 3 s).
        assert_eq!(start, i128::from(CAPTURE_EPOCH.as_nanos()), "{stem}: start");
        assert_eq!(duration, 3.0, "{stem}: duration");
        let span = (end - start) as f64 / 1e9;
        assert!(
            (span - duration).abs() < 0.001,
            "{stem}: end - start = {span} s, duration {duration} s"
        );
        assert_eq!(files[0]["duration_secs"], duration, "{stem}");

        let legs = sidecar["legs"].as_array().expect("legs");
        assert_eq!(legs.len(), 2);
        for (leg, (name, ssrc)) in legs.iter().zip([("a", "0x10000000"), ("b", "0x10000001")]) {
            assert_eq!(leg["leg"], name, "{stem}");
            assert_eq!(leg["ssrcs"], serde_json::json!([ssrc]), "{stem} leg {name}");
            assert_eq!(
                leg["codecs"],
                serde_json::json!([codec]),
                "{stem} leg {name}"
            );
            assert_eq!(leg["counts"]["lost"], 0, "{stem} leg {name}");
        }
        assert_eq!(sidecar["warnings"], serde_json::json!([]), "{stem}");
    }
}

/// `--layout separate` makes two files, `ID-a` and `ID-b`, one line each, one sidecar.
#[test]
fn separate_layout_prints_a_line_per_leg() {
    let dir = TempDir::new("cli-separate");
    let out = dir.path("out");
    let lines = record_ok("fixtures/pcmu-clean.pcap", &out, &["--layout", "separate"]);
    let metadata = out.join("pcmu-clean.json");
    let expected: Vec<(PathBuf, PathBuf)> = ["pcmu-clean-a.opus", "pcmu-clean-b.opus"]
        .iter()
        .map(|name| (out.join(name), metadata.clone()))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(
        listing(&out),
        names(&["pcmu-clean-a.opus", "pcmu-clean-b.opus", "pcmu-clean.json"])
    );
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(&metadata).expect("metadata")).expect("JSON");
    let files = sidecar["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    for ((recording, _), (file, leg)) in lines.iter().zip(files.iter().zip(["a", "b"])) {
        let media = std::fs::read(recording).expect("recording exists");
        assert_eq!(file["legs"], leg);
        assert_eq!(file["sha256"], sha256_hex(&media), "leg {leg}");
        assert_eq!(file["bytes"], media.len() as u64, "leg {leg}");
    }
}

/// `--format wav` writes a WAV hound reads: 8 kHz stereo, 3 s, A's tone left, B's right.
/// `--leg-a`/`--leg-b` by SSRC swap the channels.
#[test]
fn wav_format_and_leg_selection_put_the_chosen_leg_on_the_left() {
    for (swap, left_freq, right_freq) in [(false, FREQ_A, FREQ_B), (true, FREQ_B, FREQ_A)] {
        let dir = TempDir::new("cli-wav");
        let out = dir.path("out");
        let mut extra = vec!["--format", "wav"];
        if swap {
            extra.extend(["--leg-a", "0x10000001", "--leg-b", "0x10000000"]);
        }
        let lines = record_ok("fixtures/pcmu-clean.pcap", &out, &extra);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, out.join("pcmu-clean.wav"));
        assert_eq!(listing(&out), names(&["pcmu-clean.wav", "pcmu-clean.json"]));
        let media = std::fs::read(&lines[0].0).expect("recording");
        let (rate, ch) = wav_channels(&media);
        assert_eq!(
            (rate, ch.len(), ch[0].len()),
            (8000, 2, 24_000),
            "swap {swap}"
        );
        // In the fixture A sounds 0-400 ms and B 250-650 ms of every second: 300-400 ms holds
        // both.
        let both = 2400..3200;
        let (left, right) = (&ch[0][both.clone()], &ch[1][both]);
        assert!(
            band_power(left, rate, left_freq) > 0.02,
            "swap {swap}: left"
        );
        assert!(
            band_power(left, rate, right_freq) < 0.0005,
            "swap {swap}: left"
        );
        assert!(
            band_power(right, rate, right_freq) > 0.02,
            "swap {swap}: right"
        );
        assert!(
            band_power(right, rate, left_freq) < 0.0005,
            "swap {swap}: right"
        );

        let sidecar: Value =
            serde_json::from_slice(&std::fs::read(&lines[0].1).expect("metadata")).expect("JSON");
        let left_ssrc = if swap { "0x10000001" } else { "0x10000000" };
        assert_eq!(sidecar["legs"][0]["ssrcs"], serde_json::json!([left_ssrc]));
        assert_eq!(sidecar["encoder"]["format"], "wav");
        assert_eq!(sidecar["files"][0]["sha256"], sha256_hex(&media));
    }
}

/// A capture whose only datagram is UDP that is not RTP.
fn no_rtp_capture(path: &Path) {
    let mut writer = PcapWriter::new(CaptureFormat::Pcap, LinkType::Ethernet);
    let src = SocketAddr::from(([192, 0, 2, 1], 5060));
    let dst = SocketAddr::from(([192, 0, 2, 2], 5060));
    writer
        .write_udp(
            CAPTURE_EPOCH,
            src,
            dst,
            b"OPTIONS sip:callrec SIP/2.0\r\n\r\n",
        )
        .expect("small datagram");
    std::fs::write(path, writer.finish()).expect("write capture");
}

/// A refusal as an operator reads it: callrec's own is one line; a flag's value clap refuses
/// is clap's `error:` line followed by its usage hint.
fn one_reason(stderr: &str) -> bool {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    match lines.first() {
        Some(first) if first.starts_with("error: ") => lines.len() > 1 && stderr.contains("--help"),
        Some(first) => first.starts_with("callrec: ") && lines.len() == 1,
        None => false,
    }
}

/// Each bad input: status 2, nothing on stdout, one reason on stderr naming the problem, no
/// panic, and no file in the output directory (no media, no sidecar, no `.partial`).
#[test]
fn bad_input_exits_2_with_a_one_line_reason_and_leaves_no_files() {
    let dir = TempDir::new("cli-bad");
    let no_rtp = dir.path("no-rtp.pcap");
    no_rtp_capture(&no_rtp);
    let no_rtp = no_rtp.to_str().expect("utf-8 temp dir");
    let clean = "fixtures/pcmu-clean.pcap";
    let cases: [(&[&str], &str); 7] = [
        (&["fixtures/missing.pcap"], "fixtures/missing.pcap"),
        (&["README.md"], "not a pcap or pcapng"),
        (&[clean, "--pt", "96=speex/8000"], "speex"),
        (&[clean, "--pause", "5:2"], "5:2"),
        (&[clean, "--reminder-interval", "5"], "reminder interval 5"),
        (&[clean, "--complexity", "11"], "complexity 11"),
        (&[no_rtp], "no RTP"),
    ];
    // Every case is checked before the test fails, so one report names every broken case.
    let mut failures = Vec::new();
    for (i, (args, names_problem)) in cases.iter().enumerate() {
        let out = dir.path(&format!("out-{i}"));
        let mut full = vec!["record"];
        full.extend_from_slice(args);
        full.extend(["--out", out.to_str().expect("utf-8 temp dir")]);
        let output = callrec(&full);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let checks = [
            (output.status.code() == Some(2), "exit status 2"),
            (output.stdout.is_empty(), "nothing on stdout"),
            (!stderr.contains("panicked"), "no panic"),
            (
                one_reason(&stderr),
                "one line on stderr, or clap's error with its usage",
            ),
            (
                stderr.contains(names_problem),
                "the reason names the problem",
            ),
            (listing(&out).is_empty(), "no file in the output directory"),
        ];
        for (ok, what) in checks {
            if !ok {
                failures.push(format!(
                    "{args:?}: expected {what}; status {:?}, stderr {stderr:?}, files {:?}",
                    output.status.code(),
                    listing(&out)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn loadtest_runs_every_step_of_its_ramp_and_reports_each() {
    let output = callrec(&[
        "loadtest",
        "--calls",
        "4,8",
        "--seconds",
        "2",
        "--shards",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 3, "two steps and the summary: {stdout}");
    for (step, calls) in lines.iter().zip([4u64, 8]) {
        assert_eq!(step["calls"], calls);
        // Two legs, 50 packets a second each, for 2 s.
        assert_eq!(step["packets_sent"], calls * 200, "{step}");
        let to_recorder = step["p99_arrival_to_recorder_us"].as_u64().unwrap();
        let to_decode = step["p99_arrival_to_decode_us"].as_u64().unwrap();
        assert!(to_recorder > 0 && to_decode >= to_recorder, "{step}");
    }
    let summary = &lines[2];
    assert_eq!(summary["media_shards"], 1);
    assert_eq!(summary["jitter_ms"], 200);
}

#[test]
fn serve_help_shows_every_live_setting_with_its_default() {
    let output = callrec(&["serve", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let defaults = callrec::config::Config::default();
    let (sip, rec) = (&defaults.sip, &defaults.recording);
    for line in [
        format!("listen = {}", sip.listen),
        format!("rtp_port_min = {}", sip.rtp_port_min),
        format!("rtp_port_max = {}", sip.rtp_port_max),
        format!("max_calls = {}", sip.max_calls),
        format!("idle_timeout_secs = {}", sip.idle_timeout_secs),
        format!("drain_deadline_secs = {}", sip.drain_deadline_secs),
        format!("connection_idle_secs = {}", sip.connection_idle_secs),
        format!("shards = {}", sip.shards),
        format!("max_message_bytes = {}", sip.max_message_bytes),
        format!(
            "srtp_over_plain_transport = {}",
            sip.srtp_over_plain_transport
        ),
        format!("format = {}", rec.format),
        format!("layout = {}", rec.layout),
        format!("jitter_ms = {}", rec.jitter_ms),
        format!("upload_concurrency = {}", defaults.store.upload_concurrency),
        format!(
            "sweep_interval_secs = {}",
            defaults.store.sweep_interval_secs
        ),
        "tls_listen = (off)".to_string(),
        "media_address = (listen's)".to_string(),
        format!(
            "allow = [{}]",
            sip.allow
                .networks()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "tls_client_ca = (off)".to_string(),
        "tls_client_names = []".to_string(),
        format!("listen = {}", defaults.admin.listen),
        "tls_certificate = (off)".to_string(),
        format!("allow_plain_http = {}", defaults.admin.allow_plain_http),
    ] {
        assert!(
            help.contains(&format!("  {line} ")) || help.contains(&format!("  {line}\n")),
            "{line}:\n{help}"
        );
    }
    assert!(sip.tls_listen.is_none() && sip.media_address.is_none());
    assert!(sip.tls_client_ca.is_none() && sip.tls_client_names.is_empty());
    assert!(defaults.admin.tls_certificate.is_none());
    assert!(
        help.contains("127.0.0.1:8080)"),
        "--admin names its default: {help}"
    );
}
