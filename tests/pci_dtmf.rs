//! PCI handling end to end: card numbers typed on a keypad never reach the file or the
//! sidecar. A call of speech-like sound with in-band DTMF keys mixed in, and a call whose keys
//! come as RFC 4733 telephone-events, recorded through the offline path (library and
//! `callrec record --pci`): the keys' spans are silent, the speech around them is kept, and
//! the sidecar lists each key press with its time and length and never its digit.

mod common;

use bytes::Bytes;
use callrec::encode::Format;
use callrec::media::codec::{Codec, Decoder, Encoder};
use callrec::media::dtmf::signal::{add_dual, frequencies, speech};
use callrec::media::dtmf::{COLUMNS, ROWS};
use callrec::offline::{record_capture, CaptureOptions};
use callrec::pcap::{CaptureFormat, LinkType, PcapWriter};
use callrec::recorder::metadata::Sidecar;
use callrec::recorder::{RecorderConfig, PCI_GUARD};
use callrec::synth::rtp_packet;
use callrec::time::Time;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const RATE: u32 = 8000;
/// The card number's first digits, typed on the caller's keypad.
const KEYS: &str = "4111";
/// When each key starts (ms) and how long it sounds.
const KEY_AT_MS: [u32; 4] = [1100, 1300, 1500, 1700];
const KEY_MS: u32 = 90;
const CALL_MS: u32 = 3600;

fn at(ms: u32) -> usize {
    (RATE * ms / 1000) as usize
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// Leg A (the caller): speech until 1 s, the keys over a murmur 22 dB below them, speech
/// again from 2 s. Leg B (the agent): other speech throughout.
fn caller_and_agent() -> [Vec<i16>; 2] {
    let len = at(CALL_MS);
    let mut caller = speech(RATE, len, -16.0, 11);
    let murmur = speech(RATE, len, -34.0, 12);
    for (i, s) in caller.iter_mut().enumerate() {
        if (at(1000)..at(2000)).contains(&i) {
            *s = murmur[i];
        }
    }
    for (key, &ms) in KEYS.chars().zip(&KEY_AT_MS) {
        let freqs = frequencies(key).expect("a key");
        add_dual(&mut caller, RATE, at(ms), at(KEY_MS), freqs, (-12.0, -12.0));
    }
    [caller, speech(RATE, len, -18.0, 13)]
}

/// One PCMU packet per 20 ms of each leg, sent on time, and each leg's audio as the
/// recorder will decode it.
fn pcmu_capture(legs: &[Vec<i16>; 2], events: &[(u32, u8)]) -> (Vec<u8>, [Vec<i16>; 2]) {
    let start = Time::from_nanos(1_700_000_000_000_000_000);
    let mut capture = PcapWriter::new(CaptureFormat::Pcap, LinkType::Ethernet);
    let ends = [
        (addr("10.0.0.1:4000"), addr("10.0.0.9:5000")),
        (addr("10.0.0.2:4002"), addr("10.0.0.9:5002")),
    ];
    let mut heard = [Vec::new(), Vec::new()];
    let mut datagrams = Vec::new();
    for (i, pcm) in legs.iter().enumerate() {
        let mut encoder = Encoder::new(Codec::Pcmu, RATE).expect("PCMU");
        let mut decoder = Decoder::new(Codec::Pcmu, RATE).expect("PCMU");
        let ssrc = 0x1000 + i as u32;
        let mut seq = 0u16;
        for (n, frame) in pcm.chunks(160).enumerate() {
            let ts = (n * 160) as u32;
            let ms = n as u32 * 20;
            // Leg A's keys, sent as RFC 4733 events, replace its audio (RFC 4733 §2.5).
            if i == 0
                && events
                    .iter()
                    .any(|&(from, _)| (from..from + 100).contains(&ms))
            {
                heard[i].extend(std::iter::repeat_n(0, frame.len()));
                continue;
            }
            let mut payload = Vec::new();
            encoder.encode(frame, &mut payload).expect("encodes");
            decoder.decode(&payload, &mut heard[i]).expect("decodes");
            let packet = rtp_packet(0, n == 0, seq, ts, ssrc, &payload);
            seq = seq.wrapping_add(1);
            datagrams.push((Duration::from_millis(u64::from(ms)), i, packet));
        }
        if i == 0 {
            for &(from, event) in events {
                // 100 ms of event: a packet every 20 ms, the last sent three times (§2.5.1.4).
                let ts = from * 8;
                for step in 1..=5u16 {
                    let end = step == 5;
                    let repeats = if end { 3 } else { 1 };
                    for _ in 0..repeats {
                        let duration = step * 160;
                        let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                        payload.extend(duration.to_be_bytes());
                        let packet = rtp_packet(101, step == 1, seq, ts, ssrc, &payload);
                        seq = seq.wrapping_add(1);
                        let sent = u64::from(from) + u64::from(step) * 20;
                        datagrams.push((Duration::from_millis(sent), i, packet));
                    }
                }
            }
        }
    }
    datagrams.sort_by_key(|d| d.0);
    for (offset, leg, packet) in datagrams {
        let (src, dst) = ends[leg];
        capture
            .write_udp(start + offset, src, dst, &packet)
            .expect("writes");
    }
    (capture.finish(), heard)
}

fn pci_wav() -> RecorderConfig {
    RecorderConfig {
        format: Format::Wav,
        pci: true,
        ..RecorderConfig::default()
    }
}

/// The recording's channels and its sidecar as JSON.
fn record_with(capture: Vec<u8>, config: RecorderConfig) -> (Vec<Vec<i16>>, Value) {
    let mut file = Vec::new();
    let replay = record_capture(
        Bytes::from(capture),
        config,
        &CaptureOptions::default(),
        |c| {
            apply(&mut file, c.chunk);
            Ok(())
        },
        |_, _| {},
    )
    .expect("records");
    let sidecar = Sidecar::new(
        "pci-call",
        replay.summary,
        [None, None],
        vec![("pci-call.wav".into(), "0".repeat(64))],
        replay.warnings,
    );
    let json = serde_json::to_value(&sidecar).expect("serialises");
    let (rate, channels) = wav_channels(&file);
    assert_eq!(rate, RATE);
    (channels, json)
}

/// Normalised correlation of two equally long stretches.
fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot = |x: &[i16], y: &[i16]| {
        x.iter()
            .zip(y)
            .map(|(&p, &q)| f64::from(p) * f64::from(q))
            .sum::<f64>()
    };
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt().max(1e-9)
}

fn energy(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

/// Every string anywhere in `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        _ => {}
    }
}

/// No digit anywhere in the sidecar: no key press or event carries a code, no string names a
/// key, and the typed sequence appears nowhere in its text.
fn assert_no_digits(sidecar: &Value) {
    let text = serde_json::to_string(sidecar).expect("text");
    assert!(!text.contains(KEYS), "{text}");
    assert!(!text.contains("\"event\""), "{text}");
    assert!(!text.contains("digit"), "{text}");
    let mut all = Vec::new();
    strings(sidecar, &mut all);
    let keys = "0123456789*#ABCD";
    for s in &all {
        assert!(
            !(s.chars().count() == 1 && keys.contains(s.as_str())),
            "a key in the sidecar: {s:?}"
        );
    }
    for press in sidecar["key_presses"].as_array().expect("key presses") {
        let mut fields: Vec<&str> = press
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let expected: &[&str] = if press["source"] == "in_band" {
            &["call_secs", "duration_ms", "leg", "silenced", "source"]
        } else {
            &["call_secs", "duration_ms", "leg", "source"]
        };
        assert_eq!(fields, expected);
    }
}

#[test]
fn in_band_keys_are_silenced_the_speech_kept_and_the_sidecar_lists_presses_without_digits() {
    let legs = caller_and_agent();
    let (capture, heard) = pcmu_capture(&legs, &[]);
    let (out, sidecar) = record_with(capture, pci_wav());
    let [left, right] = [&out[0], &out[1]];
    assert!(left.len() >= at(CALL_MS - 40), "{}", left.len());

    // Each key: silent on both channels from a guard before to a guard after, and none of
    // the eight DTMF frequencies left in it.
    let guard = PCI_GUARD.as_millis() as u32;
    for &ms in &KEY_AT_MS {
        let span = at(ms - guard + 5)..at(ms + KEY_MS + guard - 5);
        for channel in [left, right] {
            assert!(
                channel[span.clone()].iter().all(|&s| s == 0),
                "key at {ms} ms"
            );
        }
        for f in ROWS.iter().chain(&COLUMNS) {
            assert!(tone_power(&left[at(ms)..at(ms + KEY_MS)], RATE, f64::from(*f)) < 1e-9);
        }
        // The input had the key there, loud.
        let (low, high) = frequencies('1').expect("key");
        let sent = &heard[0][at(1300)..at(1300 + KEY_MS)];
        assert!(tone_power(sent, RATE, low) > 0.01 && tone_power(sent, RATE, high) > 0.01);
    }
    // Over the whole file, the keys' frequencies are no louder than the speech puts there.
    let (low, high) = frequencies('4').expect("key");
    let whole = tone_power(&left[at(1000)..at(2000)], RATE, low)
        + tone_power(&left[at(1000)..at(2000)], RATE, high);
    assert!(whole < 1e-5, "{whole}");

    // The speech around the keys is the speech sent, sample for sample (G.711 decoded).
    for (from, to) in [(100, 1000), (2000, 3500)] {
        let kept = &left[at(from)..at(to)];
        let sent = &heard[0][at(from)..at(to)];
        assert!(correlation(kept, sent) > 0.999, "{from}-{to} ms");
        assert!(energy(kept) > 1e5);
    }
    // The agent outside the silenced spans too.
    let agent = correlation(&right[at(2000)..at(3500)], &heard[1][at(2000)..at(3500)]);
    assert!(agent > 0.999, "{agent}");
    // And the murmur between keys, beyond the guards.
    let between = at(1100 + KEY_MS + guard + 5)..at(1300 - guard - 5);
    assert!(correlation(&left[between.clone()], &heard[0][between]) > 0.99);

    // The sidecar: four in-band presses on leg A at the keys' times, no digits.
    let presses = sidecar["key_presses"].as_array().expect("key presses");
    assert_eq!(presses.len(), 4, "{presses:?}");
    for (press, &ms) in presses.iter().zip(&KEY_AT_MS) {
        assert_eq!(press["leg"], "a");
        assert_eq!(press["source"], "in_band");
        let secs = press["call_secs"].as_f64().expect("time");
        assert!((secs * 1000.0 - f64::from(ms)).abs() < 10.0, "{press}");
        let duration = press["duration_ms"].as_u64().expect("length");
        assert!((75..=100).contains(&duration), "{press}");
        let silenced = &press["silenced"];
        assert!(silenced["from"].as_f64().expect("from") <= secs - 0.039);
        assert!(silenced["to"].as_f64().expect("to") >= secs + 0.085 + 0.039);
    }
    assert_no_digits(&sidecar);
}

#[test]
fn without_pci_the_keys_stay_in_the_file() {
    let (capture, _) = pcmu_capture(&caller_and_agent(), &[]);
    let config = RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    };
    let (out, sidecar) = record_with(capture, config);
    let (low, high) = frequencies('4').expect("key");
    let key = &out[0][at(1100)..at(1100 + KEY_MS)];
    assert!(tone_power(key, RATE, low) > 0.01 && tone_power(key, RATE, high) > 0.01);
    assert!(sidecar.get("key_presses").is_none());
}

#[test]
fn telephone_events_become_key_presses_without_their_codes() {
    let legs = caller_and_agent();
    // The same card digits, as RFC 4733 events (codes 4, 1, 1, 1), at 2.2 s and on.
    let events: Vec<(u32, u8)> = [2200, 2400, 2600, 2800]
        .into_iter()
        .zip([4, 1, 1, 1])
        .collect();
    let (capture, _) = pcmu_capture(&legs, &events);
    let (_, sidecar) = record_with(capture.clone(), pci_wav());
    let leg_a = &sidecar["legs"][0];
    assert_eq!(leg_a["counts"]["telephone_events"], 4);
    assert_eq!(leg_a["telephone_events"], serde_json::json!([]));
    let presses: Vec<&Value> = sidecar["key_presses"]
        .as_array()
        .expect("key presses")
        .iter()
        .filter(|p| p["source"] == "telephone_event")
        .collect();
    assert_eq!(presses.len(), 4, "{sidecar}");
    for (press, &(ms, _)) in presses.iter().zip(&events) {
        assert_eq!(press["leg"], "a");
        let secs = press["call_secs"].as_f64().expect("time");
        assert!((secs * 1000.0 - f64::from(ms)).abs() < 1.0, "{press}");
        assert_eq!(press["duration_ms"], 100);
    }
    assert_no_digits(&sidecar);

    // Without PCI handling the same capture keeps the codes: the test above would see them.
    let config = RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    };
    let (_, plain) = record_with(capture, config);
    let codes: Vec<u64> = plain["legs"][0]["telephone_events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_u64().expect("code"))
        .collect();
    assert_eq!(codes, [4, 1, 1, 1]);
}

#[test]
fn record_pci_flag_silences_the_keys_in_the_file_and_its_sidecar() {
    let dir = TempDir::new("pci-record");
    let (capture, _) = pcmu_capture(&caller_and_agent(), &[]);
    let input = dir.path("call.pcap");
    std::fs::write(&input, capture).expect("writes the capture");
    let out = dir.path("out");
    let (input, out) = (input.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let args = [
        "record",
        input,
        "--out",
        out,
        "--format",
        "wav",
        "--pci",
        "--call-id",
        "card",
    ];
    cli::ok(cli::callrec(&dir.path(""), &args));
    let mut wav = None;
    let mut json = None;
    for entry in std::fs::read_dir(out).expect("out dir") {
        let path = entry.expect("entry").path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("wav") => wav = Some(std::fs::read(&path).expect("wav")),
            Some("json") => json = Some(std::fs::read_to_string(&path).expect("json")),
            _ => {}
        }
    }
    let (_, channels) = wav_channels(&wav.expect("a WAV file"));
    for &ms in &KEY_AT_MS {
        assert!(channels[0][at(ms)..at(ms + KEY_MS)].iter().all(|&s| s == 0));
    }
    let sidecar: Value = serde_json::from_str(&json.expect("a sidecar")).expect("JSON");
    assert_eq!(sidecar["key_presses"].as_array().expect("presses").len(), 4);
    assert_no_digits(&sidecar);
}
