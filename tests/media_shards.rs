//! The live server's media shards: calls started, fed packets, paused and ended through the
//! shards' queues are recorded into the spool with each party in its channel, one call's
//! audio never in another's file, a pause silent, and an On Demand call from the user's start.

mod common;

use callrec::encode::Format;
use callrec::media::codec::Codec;
use callrec::pcap::CaptureReader;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::{Leg, RecorderConfig};
use callrec::server::siprec::shard::{CallSetup, Command, Finished, Shards};
use callrec::store::key::RetentionClass;
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::Spool;
use callrec::synth::{generate, LegSpec};
use callrec::time::Time;
use common::{band_power, wav_channels, TempDir};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The shards' clock, stopped before the calls begin: the shards' idle ticks then never run
/// ahead of the packets this test sends faster than real time, so only the packets' own
/// times drive the recorders and every run writes the same bytes.
fn clock() -> Time {
    Time::from_nanos(0)
}

fn storage() -> StorageInfo {
    StorageInfo {
        org: "acme".into(),
        user: Some("sip:alice@acme.example".into()),
        location: None,
        provider: "dubber".into(),
        plan: "dubber-go".into(),
        retention: RetentionClass::Days(30),
        retained_since: String::new(),
    }
}

/// What the SDP of these calls offers: PCMU only.
fn pcmu() -> PayloadMap {
    let mut map = PayloadMap::with_static();
    map.retain(&[0]);
    map
}

/// A call of two PCMU tones, 3 s: the datagrams in arrival order, each with its leg.
fn call(freq_a: f64, freq_b: f64) -> Vec<(Time, Leg, bytes::Bytes)> {
    let legs = [
        LegSpec::tone(Codec::Pcmu, freq_a, 0),
        LegSpec::tone(Codec::Pcmu, freq_b, 1),
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    CaptureReader::new(bytes::Bytes::from(capture))
        .unwrap()
        .map(|d| d.unwrap())
        .map(|d| {
            let leg = if d.dst == legs[0].dst { Leg::A } else { Leg::B };
            (d.time, leg, d.payload)
        })
        .collect()
}

#[test]
fn two_calls_on_the_shards_are_recorded_apart_with_a_pause() {
    let dir = TempDir::new("shards");
    let spool = Spool::open(dir.0.join("spool"), Spool::DEFAULT_LIMIT).unwrap();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Finished>();
    let shards = Shards::start(2, clock, move |f| done_tx.send(f).unwrap());

    // Whole multiples of 50 Hz: each sits in one bin of the 20 ms windows measured.
    let calls = [(1u64, 400.0, 1000.0), (2u64, 700.0, 1300.0)];
    let mut packets = Vec::new();
    for &(number, a, b) in &calls {
        let name = format!("call-{number}");
        let setup = CallSetup {
            call: number,
            name: name.clone(),
            config: RecorderConfig {
                format: Format::Wav,
                ..RecorderConfig::default()
            },
            payloads: [pcmu(), pcmu()],
            job: spool.begin("file:///unused", &name).unwrap(),
            destination: "file:///unused".into(),
            storage: storage(),
            sip_call_id: name.clone(),
            input: serde_json::Value::Null,
            paused_at: None,
            exclusions: Vec::new(),
            kind: callrec::session::CallKind::Call,
            awaiting_start: false,
            srtp: [None, None],
            keys: None,
        };
        shards.control(Command::Start(Box::new(setup))).unwrap();
        packets.extend(
            call(a, b)
                .into_iter()
                .map(|(t, leg, p)| (t, number, leg, p)),
        );
    }
    packets.sort_by_key(|p| p.0);
    let start = packets[0].0;
    let (pause, resume) = (
        start + Duration::from_millis(1000),
        start + Duration::from_millis(1600),
    );
    let mut paused = false;
    for (at, number, leg, datagram) in packets {
        if !paused && at >= pause {
            shards
                .control(Command::Pause { call: 1, at: pause })
                .unwrap();
            shards
                .control(Command::Resume {
                    call: 1,
                    at: resume,
                })
                .unwrap();
            paused = true;
        }
        shards.packet(number, leg, at, datagram);
    }
    for &(number, ..) in &calls {
        shards
            .control(Command::End {
                call: number,
                input: serde_json::json!({ "test": number }),
                warnings: vec![],
            })
            .unwrap();
    }
    let mut finished: Vec<Finished> = (0..2)
        .map(|_| done_rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    finished.sort_by_key(|f| f.call);
    assert_eq!(shards.metrics.calls_stored.load(Ordering::SeqCst), 2);
    assert_eq!(shards.metrics.packets_queue_full.load(Ordering::SeqCst), 0);
    assert_eq!(shards.metrics.packets.load(Ordering::SeqCst), 4 * 150);
    shards.stop();

    for (f, &(number, freq_a, freq_b)) in finished.iter().zip(&calls) {
        let job = f.result.as_ref().expect("stored");
        assert_eq!(job.manifest.media.len(), 1);
        let media = &job.manifest.media[0];
        assert_eq!(media.name, format!("call-{number}.wav"));
        assert!(
            media.key.starts_with("recordings/30d/acme/"),
            "{}",
            media.key
        );
        let wav = std::fs::read(job.path(media)).unwrap();
        let (rate, ch) = wav_channels(&wav);
        assert_eq!(rate, 8000);
        // 3 s of call; 0.6 s of call 1 is paused (kept as silence).
        assert!(
            (ch[0].len() as i64 - 24_000).abs() <= 160,
            "{}",
            ch[0].len()
        );
        let window = |c: &[i16], from: f64, to: f64| {
            c[(from * 8000.0) as usize..(to * 8000.0) as usize].to_vec()
        };
        let (left, right) = (window(&ch[0], 0.2, 0.9), window(&ch[1], 0.2, 0.9));
        assert!(
            band_power(&left, rate, freq_a) > 0.01,
            "leg A in the left channel"
        );
        assert!(
            band_power(&right, rate, freq_b) > 0.01,
            "leg B in the right channel"
        );
        assert!(
            band_power(&left, rate, freq_b) < 1e-4,
            "no leg B on the left"
        );
        assert!(
            band_power(&right, rate, freq_a) < 1e-4,
            "no leg A on the right"
        );
        for other in calls.iter().filter(|c| c.0 != number) {
            let p = band_power(&left, rate, other.1);
            assert!(
                p < 1e-4,
                "no other call audio: {p} (own {})",
                band_power(&left, rate, freq_a)
            );
        }
        let during_pause = window(&ch[0], 1.05, 1.55);
        let peak = during_pause.iter().map(|s| s.unsigned_abs()).max().unwrap();
        match number {
            1 => assert_eq!(peak, 0, "call 1 is silent while paused"),
            _ => assert!(peak > 1000, "call 2 was never paused"),
        }
        let metadata = std::fs::read(job.dir.join("metadata.json")).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
        assert_eq!(doc["input"]["test"], number);
        assert_eq!(doc["storage"]["org"], "acme");
    }
}

#[test]
fn packets_for_calls_a_shard_does_not_hold_are_counted() {
    let shards = Shards::start(1, clock, |_| {});
    let metrics = std::sync::Arc::clone(&shards.metrics);
    shards.packet(99, Leg::A, clock(), bytes::Bytes::from_static(b"stray"));
    shards.stop();
    assert_eq!(metrics.packets_unknown_call.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.packets.load(Ordering::SeqCst), 0);
}

/// A shard a minute behind its queue, on a clock that moves 10 ms at every read (so idle
/// ticks come every few packets): the ticks must stay behind the queued packets, not write
/// silence up to the clock over audio still waiting in the queue.
#[test]
fn a_shard_behind_its_queue_writes_no_silence_over_what_waits_in_it() {
    use std::sync::atomic::AtomicU64;
    static NOW: AtomicU64 = AtomicU64::new(0);
    fn running_clock() -> Time {
        Time::from_nanos(NOW.fetch_add(10_000_000, Ordering::SeqCst))
    }
    let packets = call(400.0, 1000.0);
    let behind = packets[0].0 + Duration::from_secs(60);
    NOW.store(behind.as_nanos(), Ordering::SeqCst);

    let dir = TempDir::new("shards-behind");
    let spool = Spool::open(dir.0.join("spool"), Spool::DEFAULT_LIMIT).unwrap();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Finished>();
    let shards = Shards::start(1, running_clock, move |f| done_tx.send(f).unwrap());
    shards
        .control(Command::Start(Box::new(CallSetup {
            call: 1,
            name: "behind".into(),
            config: RecorderConfig {
                format: Format::Wav,
                ..RecorderConfig::default()
            },
            payloads: [pcmu(), pcmu()],
            job: spool.begin("file:///unused", "behind").unwrap(),
            destination: "file:///unused".into(),
            storage: storage(),
            sip_call_id: "behind".into(),
            input: serde_json::Value::Null,
            paused_at: None,
            exclusions: Vec::new(),
            kind: callrec::session::CallKind::Call,
            awaiting_start: false,
            srtp: [None, None],
            keys: None,
        })))
        .unwrap();
    // Everything is queued at once: the shard never finds its queue empty before the end.
    for (at, leg, datagram) in packets {
        shards.packet(1, leg, at, datagram);
    }
    shards
        .control(Command::End {
            call: 1,
            input: serde_json::Value::Null,
            warnings: vec![],
        })
        .unwrap();
    let finished = done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(shards.metrics.audio_dropped_ms.load(Ordering::SeqCst), 0);
    shards.stop();

    let job = finished.result.expect("stored");
    let wav = std::fs::read(job.path(&job.manifest.media[0])).unwrap();
    let (rate, ch) = wav_channels(&wav);
    assert!(
        (ch[0].len() as i64 - 24_000).abs() <= 160,
        "3 s of call, not a minute of silence: {} samples",
        ch[0].len()
    );
    let window = |c: &[i16], from: f64, to: f64| {
        c[(from * 8000.0) as usize..(to * 8000.0) as usize].to_vec()
    };
    for (from, to) in [(0.2, 1.4), (1.6, 2.8)] {
        assert!(band_power(&window(&ch[0], from, to), rate, 400.0) > 0.01);
        assert!(band_power(&window(&ch[1], from, to), rate, 1000.0) > 0.01);
    }
}

/// On Demand: signalling holds media back until the user's start, so the shard sees the
/// start, then packets; the file begins with them. A session never started stores nothing.
#[test]
fn an_on_demand_call_begins_at_the_users_start_and_one_never_started_stores_nothing() {
    let dir = TempDir::new("shards-on-demand");
    let spool = Spool::open(dir.0.join("spool"), Spool::DEFAULT_LIMIT).unwrap();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Finished>();
    let shards = Shards::start(2, clock, move |f| done_tx.send(f).unwrap());
    let mut jobs = Vec::new();
    for (number, kind) in [
        (1u64, callrec::session::CallKind::Voicemail),
        (2, callrec::session::CallKind::Call),
    ] {
        let name = format!("call-{number}");
        let job = spool.begin("file:///unused", &name).unwrap();
        jobs.push(job.dir().to_path_buf());
        let setup = CallSetup {
            call: number,
            name: name.clone(),
            config: RecorderConfig {
                format: Format::Wav,
                ..RecorderConfig::default()
            },
            payloads: [pcmu(), pcmu()],
            job,
            destination: "file:///unused".into(),
            storage: storage(),
            sip_call_id: name,
            input: serde_json::Value::Null,
            paused_at: None,
            exclusions: Vec::new(),
            kind,
            awaiting_start: true,
            srtp: [None, None],
            keys: None,
        };
        shards.control(Command::Start(Box::new(setup))).unwrap();
    }
    let packets = call(400.0, 1000.0);
    let started = packets[0].0 + Duration::from_millis(1000);
    shards
        .control(Command::UserStart {
            call: 1,
            at: started,
        })
        .unwrap();
    for (at, leg, datagram) in packets.into_iter().filter(|p| p.0 >= started) {
        shards.packet(1, leg, at, datagram);
    }
    for number in [1, 2] {
        shards
            .control(Command::End {
                call: number,
                input: serde_json::Value::Null,
                warnings: vec![],
            })
            .unwrap();
    }
    let mut finished: Vec<Finished> = (0..2)
        .map(|_| done_rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    finished.sort_by_key(|f| f.call);
    assert_eq!(shards.metrics.calls_stored.load(Ordering::SeqCst), 1);
    assert_eq!(shards.metrics.calls_failed.load(Ordering::SeqCst), 0);
    shards.stop();

    let never = &finished[1];
    assert!(never.never_started && never.result.is_err());
    assert!(!jobs[1].exists(), "its spool job is gone");

    let job = finished[0].result.as_ref().expect("stored");
    assert!(!finished[0].never_started);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(doc["call"]["kind"], "voicemail");
    assert_eq!(
        doc["call"]["waited_for_start"]["started"],
        started.to_rfc3339()
    );
    let start = Time::parse_rfc3339(doc["call"]["start"].as_str().unwrap()).unwrap();
    assert!(
        start >= started && start.saturating_since(started) < Duration::from_millis(20),
        "call.start is the first packet from the start on"
    );
    assert!(
        doc["tones"].as_array().unwrap().is_empty(),
        "no beep at the start"
    );
    let wav = std::fs::read(job.path(&job.manifest.media[0])).unwrap();
    let (rate, ch) = wav_channels(&wav);
    // 3 s of call, the first second before the start: 2 s in the file.
    assert!(
        (ch[0].len() as i64 - 2 * i64::from(rate)).abs() <= 160,
        "{}",
        ch[0].len()
    );
    assert!(band_power(&ch[0][800..8000], rate, 400.0) > 0.01);
    assert!(band_power(&ch[1][800..8000], rate, 1000.0) > 0.01);
}
