//! The recorder driven packet by packet at its edges: stray sources, comfort-noise tails, loss
//! after silence, tones cut by the call's end, long jitter settings and the call length bound.

mod common;

use bytes::Bytes;
use callrec::encode::{Chunk, Format};
use callrec::media::codec::{Codec, Encoder};
use callrec::media::jitter::JitterConfig;
use callrec::media::tones::ToneSpec;
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::summary::Summary;
use callrec::recorder::{Leg, Recorder, RecorderConfig, Reminder};
use callrec::synth::{rtp_packet, CAPTURE_EPOCH};
use common::*;
use std::time::Duration;

const SSRC: u32 = 0x1234_5678;

/// What one leg sends in a test: (ms, packet bytes).
struct Sender {
    encoder: Encoder,
    seq: u16,
    packets: Vec<(u64, Vec<u8>)>,
}

impl Sender {
    fn new() -> Self {
        Sender {
            encoder: Encoder::new(Codec::Pcmu, 8000).expect("pcmu"),
            seq: 1,
            packets: Vec::new(),
        }
    }

    /// A 20 ms PCMU frame of a 440 Hz tone for RTP time `frame`, arriving at `ms`.
    fn tone(&mut self, ms: u64, frame: u32) {
        let pcm: Vec<i16> = (0..160)
            .map(|i| {
                let t = f64::from(frame * 160 + i) / 8000.0;
                (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        let mut payload = Vec::new();
        self.encoder.encode(&pcm, &mut payload).expect("encode");
        self.send(ms, 0, frame * 160, &payload);
    }

    fn send(&mut self, ms: u64, pt: u8, ts: u32, payload: &[u8]) {
        self.packets
            .push((ms, rtp_packet(pt, false, self.seq, ts, SSRC, payload)));
        self.seq = self.seq.wrapping_add(1);
    }

    /// A packet the network lost: it takes a sequence number but is never delivered.
    fn lose(&mut self) {
        self.seq = self.seq.wrapping_add(1);
    }
}

fn pcmu() -> [PayloadMap; 2] {
    let mut map = PayloadMap::with_static();
    map.retain(&[0, 13]);
    [map.clone(), map]
}

fn wav_config() -> RecorderConfig {
    RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    }
}

/// Records leg A's packets (B silent) and returns the left channel and the summary.
fn record_leg_a(config: RecorderConfig, packets: &[(u64, Vec<u8>)]) -> (Vec<i16>, Summary) {
    let mut recorder = Recorder::new(config, pcmu()).expect("recorder");
    let mut chunks = Vec::new();
    let mut sorted: Vec<&(u64, Vec<u8>)> = packets.iter().collect();
    sorted.sort_by_key(|p| p.0);
    for (ms, bytes) in sorted {
        let now = CAPTURE_EPOCH + Duration::from_millis(*ms);
        recorder.push(now, Leg::A, Bytes::copy_from_slice(bytes));
        while recorder.poll(now, &mut chunks).expect("poll") {}
    }
    let summary = recorder.finish(&mut chunks).expect("finish");
    let mut file = Vec::new();
    for chunk in chunks {
        apply(&mut file, chunk.chunk);
    }
    let (_, channels) = wav_channels(&file);
    (channels[0].clone(), summary)
}

#[test]
fn a_stray_packet_of_another_source_leaves_the_leg_untouched() {
    let mut clean = Sender::new();
    for f in 0..100 {
        clean.tone(u64::from(f) * 20, f);
    }
    let mut strayed = clean.packets.clone();
    strayed.push((
        1001,
        rtp_packet(0, false, 777, 999_999, 0xdead_beef, &[0xff; 160]),
    ));
    let (expected, _) = record_leg_a(wav_config(), &clean.packets);
    let (got, summary) = record_leg_a(wav_config(), &strayed);
    assert!(got == expected, "the stray packet changed the recording");
    let counts = &summary.legs[0].counts;
    assert_eq!(
        (counts.ssrc_changes, counts.late, counts.out_of_range),
        (0, 0, 1)
    );
}

#[test]
fn comfort_noise_after_the_last_audio_is_still_call_time() {
    let mut s = Sender::new();
    for f in 0..100 {
        s.tone(u64::from(f) * 20, f); // 2 s of sound
    }
    for k in 0..10u32 {
        s.send(2000 + u64::from(k) * 200, 13, (100 + k * 10) * 160, &[40]); // CN until 3.8 s
    }
    let (left, summary) = record_leg_a(wav_config(), &s.packets);
    assert_eq!(summary.call_duration_secs, 3.8);
    assert_eq!(
        left.len(),
        3 * 8000 + 6400,
        "the file is as long as the call"
    );
    assert_eq!(
        peak(&left[16_000..]),
        0,
        "comfort noise is recorded as silence"
    );
    assert_eq!(summary.legs[0].counts.comfort_noise, 10);
}

#[test]
fn loss_after_silence_conceals_only_the_lost_packet() {
    let mut s = Sender::new();
    for f in 0..25 {
        s.tone(u64::from(f) * 20, f); // sound until 0.5 s
    }
    // 500 ms of DTX (nothing sent), then the first packet after it is lost.
    s.lose();
    for f in 51..75 {
        s.tone(u64::from(f) * 20, f);
    }
    let (left, summary) = record_leg_a(wav_config(), &s.packets);
    assert_eq!(summary.legs[0].counts.lost, 1);
    assert_eq!(summary.legs[0].counts.concealed_ms, 20);
    // The silence between 0.5 s and the concealed 20 ms before 1.02 s holds nothing.
    assert_eq!(
        peak(&left[4000 + 80..8000]),
        0,
        "no concealment inside the silence"
    );
    assert!(
        peak(&left[8000..8160]) > 0,
        "the lost packet's place is concealed"
    );
}

#[test]
fn a_reminder_cut_short_by_the_calls_end_is_still_logged() {
    let mut s = Sender::new();
    for f in 0..505 {
        s.tone(u64::from(f) * 20, f); // 10.1 s
    }
    let config = RecorderConfig {
        reminder: Some(Reminder {
            interval_secs: 10,
            tone: ToneSpec::REMINDER,
        }),
        ..wav_config()
    };
    let (left, summary) = record_leg_a(config, &s.packets);
    assert_eq!(left.len(), 80_800);
    let times: Vec<f64> = summary.tones.iter().map(|t| t.call_secs).collect();
    assert_eq!(times, vec![10.0]);
    assert!(tone_power(&left[80_000..80_800], 8000, 1400.0) > 0.001);
}

#[test]
fn a_long_jitter_wait_drops_no_audio() {
    let mut s = Sender::new();
    for f in 0..1000 {
        s.tone(u64::from(f) * 20, f); // 20 s
    }
    let config = RecorderConfig {
        jitter: JitterConfig {
            latency: Duration::from_secs(6),
            ..JitterConfig::default()
        },
        ..wav_config()
    };
    let (left, summary) = record_leg_a(config, &s.packets);
    assert_eq!(left.len(), 160_000);
    assert_eq!(summary.legs[0].counts.dropped_ahead_samples, 0);
    let silent_frames = left.chunks(160).filter(|f| peak(f) == 0).count();
    assert_eq!(silent_frames, 0, "every frame of the tone is in the file");
}

#[test]
fn packets_past_the_longest_call_are_dropped_and_counted() {
    let mut s = Sender::new();
    for f in 0..10 {
        s.tone(u64::from(f) * 20, f);
    }
    s.tone(3_600_000, 180_000); // an hour later
    let config = RecorderConfig {
        max_call_duration: Duration::from_secs(60),
        ..wav_config()
    };
    let (left, summary) = record_leg_a(config, &s.packets);
    assert_eq!(summary.packets_beyond_max_duration, 1);
    // The call was still up (its packet came), so the file runs to the limit and stops.
    assert_eq!(left.len(), 60 * 8000);
    assert_eq!(summary.call_duration_secs, 60.0);
}

#[test]
fn one_poll_writes_at_most_a_second_however_far_the_clock_jumps() {
    let mut recorder = Recorder::new(wav_config(), pcmu()).expect("recorder");
    let mut s = Sender::new();
    s.tone(0, 0);
    recorder.push(CAPTURE_EPOCH, Leg::A, Bytes::from(s.packets.remove(0).1));
    let mut out = Vec::new();
    let later = CAPTURE_EPOCH + Duration::from_secs(3600);
    let mut polls = 0;
    while recorder.poll(later, &mut out).expect("poll") {
        let bytes: usize = out
            .iter()
            .map(|c| match &c.chunk {
                Chunk::Append(b) => b.len(),
                Chunk::Patch { bytes, .. } => bytes.len(),
            })
            .sum();
        assert!(bytes <= 8000 * 4 + 44, "one poll wrote {bytes} bytes");
        out.clear();
        polls += 1;
    }
    // An hour less the output lag, one second per poll.
    assert_eq!(polls, 3599);
}
