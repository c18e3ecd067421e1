//! A recording server that dies mid-call loses at most about a second of it. `callrec serve`
//! runs as its own process; callrec's own recording client sends a 20 s call (leg A 400 Hz,
//! leg B 1000 Hz); the server is killed (SIGKILL) at chosen moments, started again on the same
//! spool and store, and what it stores is checked: one recording, marked recovered, playing in
//! ffprobe/opusinfo, its SHA-256 right, as long as the call was up to the kill (less at most
//! ~1 s), each leg's tone in its channel. A power cut (writes that never reached the disk, or
//! reached it torn) is played at the spool level: a live job's files cut and garbled after
//! their last sync, then `callrec storage flush`.

mod common;

use callrec::encode::repair::{repair_ogg_opus, repair_wav};
use callrec::encode::{Chunk, Format, MediaEncoder, OpusSettings};
use callrec::server::siprec::client::SrcSession;
use callrec::store::key::RetentionClass;
use callrec::store::live::{self, LiveDescriptor};
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::Spool;
use common::serve::{metadata_files, Serve};
use common::{band_power, pcmu_frame, playback_length, run, wav_channels, TempDir};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const TONE_A: f64 = 400.0;
const TONE_B: f64 = 1000.0;

/// Starts `callrec serve` on a folder that outlives it (spool, store and log stay).
fn start_serve(dir: &Path, format: &str, rtp_base: u16) -> Serve {
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = {rtp_base}\nrtp_port_max = {}\n\
         [recording]\nformat = \"{format}\"\n",
        rtp_base + 99
    );
    std::fs::write(dir.join("callrec.toml"), config).unwrap();
    Serve::start(dir)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Plays a 20 s call into `serve` and kills the server `kill_at` after the first RTP packet;
/// returns how long after the first packet it really died.
fn call_killed_at(serve: &mut Serve, call_id: &str, kill_at: Duration) -> Duration {
    let sip = serve.sip;
    match play_call(sip, call_id, Duration::from_secs(20), kill_at, || {
        serve.kill();
        true
    }) {
        Played::Stopped(at) => at,
        Played::Whole => panic!("the call ended before the kill"),
    }
}

enum Played {
    /// `at_moment` stopped the call this long after its first packet.
    Stopped(Duration),
    /// The call played to its end and was hung up.
    Whole,
}

/// Plays a call of `length` (leg A 400 Hz, leg B 1000 Hz, 20 ms PCMU) into the server at
/// `sip`; `at` after the first packet, runs `at_moment`, which says whether the call stops
/// there (the server was killed). Hangs up with a BYE when it plays whole.
fn play_call(
    sip: SocketAddr,
    call_id: &str,
    length: Duration,
    at: Duration,
    at_moment: impl FnOnce() -> bool,
) -> Played {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut at_moment = Some(at_moment);
    runtime.block_on(async {
        let bind = || tokio::net::UdpSocket::bind("127.0.0.1:0");
        let senders = [bind().await.unwrap(), bind().await.unwrap()];
        let port = |s: &tokio::net::UdpSocket| s.local_addr().unwrap().port();
        let (mut src, to) =
            SrcSession::open(sip, call_id, [port(&senders[0]), port(&senders[1])], None)
                .await
                .unwrap();
        let frames = [pcmu_frame(TONE_A), pcmu_frame(TONE_B)];
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let mut first = None;
        let packets = (length.as_millis() / 20) as u32;
        for n in 0..packets {
            ticker.tick().await;
            let first = *first.get_or_insert_with(Instant::now);
            if first.elapsed() >= at && at_moment.take().is_some_and(|run| run()) {
                return Played::Stopped(first.elapsed());
            }
            for leg in 0..2 {
                let packet = callrec::synth::rtp_packet(
                    0,
                    n == 0,
                    n as u16,
                    n * 160,
                    0xA0 + leg as u32,
                    &frames[leg],
                );
                senders[leg].send_to(&packet, to[leg]).await.unwrap();
            }
        }
        src.bye().await.unwrap();
        Played::Whole
    })
}

/// The stored media's channels, decoded by an independent reader (hound, or opusdec).
fn decode(media: &Path, dir: &Path, format: &str) -> (u32, Vec<Vec<i16>>) {
    match format {
        "wav" => wav_channels(&std::fs::read(media).unwrap()),
        _ => {
            let wav = dir.join("decoded.wav");
            run(
                "opusdec",
                &["--quiet".as_ref(), media.as_os_str(), wav.as_os_str()],
            );
            wav_channels(&std::fs::read(wav).unwrap())
        }
    }
}

/// Length of a stored file as a player sees it.
fn played_seconds(media: &Path, format: &str) -> f64 {
    if format == "opus" {
        let info = run("opusinfo", &[media.as_os_str()]);
        assert!(
            !info.contains("WARNING") && !info.contains("ERROR"),
            "{info}"
        );
        return playback_length(&info);
    }
    let out = run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "format=duration".as_ref(),
            "-of".as_ref(),
            "csv=p=0".as_ref(),
            media.as_os_str(),
        ],
    );
    match out.trim() {
        // ffprobe has no duration for an empty data chunk.
        "N/A" => 0.0,
        seconds => seconds.parse().unwrap_or_else(|_| panic!("ffprobe: {out}")),
    }
}

/// Kill, restart, and check what was stored.
fn killed_mid_call_the_restart_stores_the_call_up_to_the_kill(
    test: &str,
    format: &str,
    rtp_base: u16,
    kill_at_secs: f64,
) {
    let kill_at = Duration::from_secs_f64(kill_at_secs);
    let dir = TempDir::new(test);
    let mut serve = start_serve(&dir.0, format, rtp_base);
    let died = call_killed_at(&mut serve, test, kill_at).as_secs_f64();
    assert!(
        metadata_files(&dir.path("recordings")).is_empty(),
        "nothing stored before the restart"
    );
    let restarted = start_serve(&dir.0, format, rtp_base);
    let (metadata, doc) = restarted.recordings(1).remove(0);
    assert_eq!(doc["call"]["ended"], "recovered", "{doc:#}");
    // The recording's own name: the Call-ID's readable start and a unique part.
    assert_eq!(doc["call"]["sip_call_id"], test);
    assert!(
        doc["call"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("{test}-"))),
        "{doc:#}"
    );
    assert!(
        doc["recovered"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("crash")),
        "{doc:#}"
    );
    assert!(doc["call"]["start"].is_string(), "{doc:#}");
    // Who was on the call, and which stream is which leg, as signalling knew at the start.
    let siprec = &doc["input"]["siprec"];
    assert_eq!(siprec["call_id"], test, "{doc:#}");
    let legs: Vec<&Value> = siprec["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| &s["leg"])
        .collect();
    assert_eq!(legs, [&Value::from("a"), &Value::from("b")], "{doc:#}");

    let file = &doc["files"][0];
    let media = metadata.with_file_name(file["name"].as_str().unwrap());
    let bytes = std::fs::read(&media).unwrap();
    assert_eq!(file["bytes"], bytes.len());
    assert_eq!(file["sha256"], sha256_hex(&bytes), "the sidecar's checksum");
    assert_eq!(doc["recovered"]["bytes"], bytes.len());

    let played = played_seconds(&media, format);
    eprintln!("{test}: killed {died:.3} s into the call, {played:.3} s recovered");
    let recorded = doc["call"]["duration_secs"].as_f64().unwrap();
    assert!(
        (played - recorded).abs() < 0.01,
        "{played} s vs {recorded} s"
    );
    assert!(
        (died - 1.0..=died + 0.05).contains(&played),
        "killed {died:.2} s into the call, {played:.2} s recovered"
    );

    let (rate, channels) = decode(&media, &dir.0, format);
    assert_eq!(channels.len(), 2);
    let seconds = channels[0].len() as f64 / f64::from(rate);
    assert!((seconds - played).abs() < 0.03, "{seconds} s decoded");
    // Every second of the call, up to the last 100 ms kept: each leg in its own channel.
    let mut from = 0.1;
    while from + 0.2 < seconds - 0.1 {
        let to = (from + 1.0).min(seconds - 0.1);
        let span = |c: &[i16]| {
            c[(from * f64::from(rate)) as usize..(to * f64::from(rate)) as usize].to_vec()
        };
        let (left, right) = (span(&channels[0]), span(&channels[1]));
        assert!(
            band_power(&left, rate, TONE_A) > 0.01,
            "leg A at {from:.1} s"
        );
        assert!(
            band_power(&right, rate, TONE_B) > 0.01,
            "leg B at {from:.1} s"
        );
        assert!(
            band_power(&left, rate, TONE_B) < 1e-3,
            "no leg B on the left at {from:.1} s"
        );
        assert!(
            band_power(&right, rate, TONE_A) < 1e-3,
            "no leg A on the right at {from:.1} s"
        );
        from = to;
    }
    // The metadata document goes up last; the job leaves the spool just after.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(dir.path("spool/jobs")).unwrap().count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the recovered job was uploaded and removed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `storage flush` beside a running server is refused (both would upload the same jobs),
/// and the server's live call is left alone: stored whole when it ends, not salvaged as a
/// fragment from under the recorder still writing it.
#[test]
fn storage_flush_beside_a_running_server_is_refused_and_leaves_its_live_call_alone() {
    let dir = TempDir::new("flush-beside-serve");
    let serve = start_serve(&dir.0, "wav", 21600);
    let mut flush: Option<std::thread::JoinHandle<Output>> = None;
    let played = play_call(
        serve.sip,
        "flush-beside",
        Duration::from_secs(4),
        Duration::from_secs(2),
        || {
            let dir = dir.0.clone();
            flush = Some(std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_callrec"))
                    .args(["storage", "flush", "--config", "callrec.toml"])
                    .current_dir(dir)
                    .output()
                    .unwrap()
            }));
            false
        },
    );
    assert!(matches!(played, Played::Whole));
    let flushed = flush.expect("flush ran").join().unwrap();
    let stderr = String::from_utf8_lossy(&flushed.stderr);
    assert_eq!(flushed.status.code(), Some(75), "postponed: {stderr}");
    assert!(
        stderr.contains("in use by another callrec process"),
        "{stderr}"
    );

    let (metadata, doc) = serve.recordings(1).remove(0);
    assert!(doc["call"].get("ended").is_none(), "{doc:#}");
    assert!(doc.get("recovered").is_none(), "{doc:#}");
    assert!(serve.events("call.recovered").is_empty());
    let media = metadata.with_file_name(doc["files"][0]["name"].as_str().unwrap());
    let (rate, channels) = decode(&media, &dir.0, "wav");
    let seconds = channels[0].len() as f64 / f64::from(rate);
    assert!((3.9..4.1).contains(&seconds), "the whole call: {seconds} s");
    let late =
        |c: &[i16]| c[(3.0 * f64::from(rate)) as usize..(3.8 * f64::from(rate)) as usize].to_vec();
    assert!(
        band_power(&late(&channels[0]), rate, TONE_A) > 0.01,
        "leg A after the flush"
    );
    assert!(
        band_power(&late(&channels[1]), rate, TONE_B) > 0.01,
        "leg B after the flush"
    );
}

#[test]
fn wav_call_killed_at_3_7_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-wav-3", "wav", 21000, 3.7);
}

#[test]
fn wav_call_killed_at_8_3_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-wav-8", "wav", 21100, 8.3);
}

#[test]
fn wav_call_killed_at_12_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-wav-12", "wav", 21200, 12.0);
}

#[test]
fn opus_call_killed_at_3_7_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-opus-3", "opus", 21300, 3.7);
}

#[test]
fn opus_call_killed_at_8_3_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-opus-8", "opus", 21400, 8.3);
}

#[test]
fn opus_call_killed_at_12_s_is_stored_up_to_the_kill() {
    killed_mid_call_the_restart_stores_the_call_up_to_the_kill("live-opus-12", "opus", 21500, 12.0);
}

/// What a shard's encoder handed out for `seconds` of a call (leg A left, leg B right), in
/// 20 ms pushes: the file, and where each write ended.
fn encoded(format: Format, seconds: f64) -> (Vec<u8>, Vec<usize>) {
    let rate = 8000;
    let mut encoder = MediaEncoder::new(format, rate, 2, OpusSettings::default(), 9).unwrap();
    let (mut file, mut writes, mut chunks) = (Vec::new(), Vec::new(), Vec::new());
    let frames = (seconds * f64::from(rate)) as usize;
    let pcm: Vec<i16> = (0..frames)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            let tone = |f: f64| (8000.0 * (2.0 * std::f64::consts::PI * f * t).sin()) as i16;
            [tone(TONE_A), tone(TONE_B)]
        })
        .collect();
    for push in pcm.chunks(320) {
        encoder.push(push, &mut chunks).unwrap();
        for chunk in chunks.drain(..) {
            if let Chunk::Append(bytes) = chunk {
                file.extend_from_slice(&bytes);
                writes.push(file.len());
            }
        }
    }
    (file, writes)
}

/// A live job as a shard leaves it in `spool`: its descriptor, and `media` (if any) as the
/// `.partial` file the disk kept.
fn live_job(spool: &Path, store: &Path, name: &str, format: Format, media: Option<&[u8]>) {
    let spool = Spool::open(spool, 1 << 30).unwrap();
    let destination = store.display().to_string();
    let job = spool.begin(&destination, &format!("acme\n{name}")).unwrap();
    let file = format!("{name}.{}", format.extension());
    if let Some(media) = media {
        std::fs::write(job.dir().join(format!("{file}.partial")), media).unwrap();
    }
    let descriptor = LiveDescriptor {
        destination,
        storage: StorageInfo {
            org: "acme".into(),
            user: None,
            location: None,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: RetentionClass::Days(30),
            retained_since: String::new(),
        },
        name: name.into(),
        sip_call_id: None,
        files: vec![file],
        format,
        sample_rate: 8000,
        channels: 2,
        opus: OpusSettings::default(),
        stream_serial: 9,
        encoder: serde_json::json!({ "format": format.extension(), "layout": "stereo" }),
        began: "2026-12-06T10:00:00Z".into(),
        call_start: Some("2026-12-06T10:00:01.000Z".into()),
        input: None,
        awaiting_start: false,
        kind: None,
    };
    live::write_descriptor(job.dir(), &descriptor).unwrap();
}

/// A power cut: what was synced is on disk, what was written after it is lost, torn
/// (garbage) or zero-filled (blocks allocated, never written). `storage flush` then stores a
/// recording of at least what was synced, valid, marked recovered, checksum right; nothing
/// after the sync that is not audio that was written.
#[test]
fn after_a_power_cut_storage_flush_keeps_what_was_synced() {
    for format in [Format::OggOpus, Format::Wav] {
        let (whole, writes) = encoded(format, 6.0);
        // The last sync: the write ending nearest 3 s into the call.
        let synced = writes[writes.len() / 2];
        let next = writes[writes.len() / 2 + 1];
        let synced_secs = match format {
            Format::OggOpus => repair_ogg_opus(&whole[..synced]).unwrap().duration_secs(),
            Format::Wav => repair_wav(&whole[..44], synced as u64)
                .unwrap()
                .duration_secs(),
        };
        let torn = {
            let mut torn = whole[..(synced + next) / 2].to_vec();
            // PCM has no checksum: a torn WAV write is taken as zeros (silence) here.
            let garbage = if format == Format::Wav { 0 } else { 0x5a };
            torn[synced..].iter_mut().for_each(|b| *b ^= garbage);
            torn
        };
        let mut zeroed = whole.clone();
        zeroed[synced..].fill(0);
        let cases: [(&str, &[u8]); 3] = [
            ("lost", &whole[..synced]),
            ("torn", &torn),
            ("zeroed", &zeroed),
        ];
        for (case, media) in cases {
            let case = format!("{}-{case}", format.extension());
            let media_len = media.len();
            let dir = TempDir::new(&format!("powercut-{case}"));
            let store = dir.path("store");
            live_job(&dir.path("spool"), &store, &case, format, Some(media));
            // Beside it: a job killed before any audio reached the disk, and a
            // `record --store` job (no descriptor) that is discarded as before.
            live_job(&dir.path("spool"), &store, "no-audio", format, None);
            let spool = Spool::open(dir.path("spool"), 1 << 30).unwrap();
            let interrupted = spool
                .begin(&store.display().to_string(), "acme\nrecord")
                .unwrap();
            std::fs::write(interrupted.dir().join("x.wav.partial"), b"RIFF").unwrap();
            drop(interrupted); // its process died

            let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
                .args(["storage", "flush", "--spool", "spool"])
                .current_dir(&dir.0)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{case}: {stderr}");
            assert!(stderr.contains("discarded spool job"), "{case}: {stderr}");
            assert_eq!(
                std::fs::read_dir(dir.path("spool/jobs")).unwrap().count(),
                0
            );

            let mut stored = metadata_files(&store);
            stored.sort();
            assert_eq!(stored.len(), 2, "{case}: {stored:?}");
            for metadata in stored {
                let doc: Value =
                    serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
                assert_eq!(doc["call"]["ended"], "recovered", "{case}");
                assert_eq!(doc["call"]["start"], "2026-12-06T10:00:01.000Z", "{case}");
                let file = &doc["files"][0];
                let media = metadata.with_file_name(file["name"].as_str().unwrap());
                let bytes = std::fs::read(&media).unwrap();
                assert_eq!(file["sha256"], sha256_hex(&bytes), "{case}");
                let played = played_seconds(&media, format.extension());
                if doc["call"]["id"] == "no-audio" {
                    assert_eq!(played, 0.0, "{case}: {doc:#}");
                    let warnings = doc["warnings"].to_string();
                    assert!(warnings.contains("none of its audio"), "{warnings}");
                    continue;
                }
                // Ogg keeps exactly the synced pages; WAV every whole frame on disk (a torn or
                // zero-filled tail plays as the silence it holds).
                let expected = match format {
                    Format::OggOpus => synced_secs,
                    Format::Wav => ((media_len - 44) / 4) as f64 / 8000.0,
                };
                assert!(
                    (played - expected).abs() < 0.001 && played >= synced_secs - 0.001,
                    "{case}: {played} s kept, {synced_secs} s synced"
                );
                // The synced audio is all there, each leg in its channel.
                let (rate, channels) = decode(&media, &dir.0, format.extension());
                let end = (synced_secs * f64::from(rate)) as usize;
                let kept = |c: usize| &channels[c][rate as usize / 10..end];
                assert!(band_power(kept(0), rate, TONE_A) > 0.01, "{case}");
                assert!(band_power(kept(1), rate, TONE_B) > 0.01, "{case}");
                if format == Format::Wav {
                    let (_, original) = wav_channels(&{
                        let mut file = whole.clone();
                        repair_wav(&file[..44], file.len() as u64)
                            .unwrap()
                            .apply(&mut file);
                        file
                    });
                    assert!(
                        channels[0][..end] == original[0][..end],
                        "{case}: bit exact"
                    );
                }
            }
        }
    }
}
