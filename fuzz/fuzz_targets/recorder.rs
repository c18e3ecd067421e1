//! The whole recorder: a call of two legs built from arbitrary datagrams (raw bytes, or RTP
//! packets from arbitrary header fields and payloads, stepping sequence numbers and timestamps
//! the way a sender does so the input reaches the jitter buffer, decoders and timeline),
//! arrival times, pauses, resumes and exclusions; `push` + `poll` after every datagram, then
//! `finish`. Asserts:
//! - nothing panics and encoding never fails;
//! - each file's appended chunks add up to the size its summary reports; a WAV file is its
//!   44-byte header plus 2 bytes per sample;
//! - every file has the same length, which is the call's duration, minus the paused time when
//!   pauses are cut (within one 20 ms block);
//! - output is bounded by the call's time span. The timeline drops a frame that would start
//!   more than `max_ahead` (5 s) past what was written, and what was written trails the last
//!   `now`; so a file holds at most `span + max_ahead + longest frame` seconds, where the
//!   longest frame is the biggest payload at 8 bytes a millisecond (G.711 and G.722), or
//!   200 ms (an Opus frame, or concealment), plus one block of rounding.
//!
//! Pauses are placed the way a live caller places them, at or after the call time of `now`
//! (never inside audio already written), and in order, so they never overlap.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use callrec::encode::{Chunk, Format};
use callrec::media::codec::{Codec, PayloadKind};
use callrec::media::mix::Layout;
use callrec::media::spans::PauseMode;
use callrec::media::tones::ToneSpec;
use callrec::recorder::payload::{PayloadMap, PayloadType};
use callrec::recorder::{FileChunk, Leg, Recorder, RecorderConfig, Reminder};
use callrec::time::Time;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Ogg Opus when divisible by 16 (libopus encoding is most of the time a run takes), else
    /// WAV.
    format: u8,
    layout: LayoutChoice,
    cut_pauses: bool,
    notify_pauses: bool,
    /// A reminder every `10 + n % 81` seconds.
    reminder: Option<u8>,
    /// The rate Opus legs decode at: 8, 12, 16, 24 or 48 kHz.
    opus_rate: u8,
    payloads: [Payloads; 2],
    events: Vec<Event>,
}

#[derive(Arbitrary, Debug)]
enum LayoutChoice {
    Stereo,
    Mono,
    Separate,
}

/// A leg's payload types: the static ones, plus what signalling could add.
#[derive(Arbitrary, Debug)]
struct Payloads {
    opus_111: bool,
    telephone_event_101: bool,
    /// Any type mapped to any kind at any clock rate.
    extra: Option<(u8, KindChoice, u32)>,
}

#[derive(Arbitrary, Debug)]
enum KindChoice {
    Pcmu,
    Pcma,
    G722,
    Opus,
    ComfortNoise,
    TelephoneEvent,
}

#[derive(Arbitrary, Debug)]
enum Event {
    Datagram {
        leg_b: bool,
        /// Milliseconds after the previous datagram, `% 2001`.
        delta_ms: u16,
        datagram: Datagram,
    },
    /// Pause at `after_ms % 5000` after the latest pause point or the call time of `now`.
    Pause {
        after_ms: u16,
    },
    Resume {
        after_ms: u16,
    },
    /// Exclude `[from_ms, from_ms + len_ms)` of the call.
    Exclude {
        from_ms: u32,
        len_ms: u16,
    },
}

#[derive(Arbitrary, Debug)]
enum Datagram {
    Raw(Vec<u8>),
    Rtp {
        marker: bool,
        payload_type: PtChoice,
        /// One of three sources per leg.
        source: u8,
        /// Added to the leg's previous sequence number.
        seq_step: i8,
        timestamp: TsStep,
        /// The P bit with this many padding octets (0: no padding).
        padding: u8,
        payload: Payload,
    },
}

#[derive(Arbitrary, Debug)]
enum PtChoice {
    Pcmu,
    Pcma,
    G722,
    ComfortNoise,
    TelephoneEvent,
    Opus,
    Any(u8),
}

#[derive(Arbitrary, Debug)]
enum TsStep {
    /// This many 20 ms frames at the payload type's clock rate after the previous packet.
    Frames(u8),
    /// Any step.
    Ticks(i32),
}

#[derive(Arbitrary, Debug)]
enum Payload {
    /// `ms % 121` milliseconds of G.711/G.722 (8 bytes a millisecond) of one byte.
    Fill {
        byte: u8,
        ms: u8,
    },
    Bytes(Vec<u8>),
}

/// What the target remembers of a leg's sender, to step its header fields.
#[derive(Default)]
struct Sender {
    sequence: u16,
    timestamp: u32,
}

const SSRCS: [[u32; 3]; 2] = [
    [0xa000_0001, 0xa000_0002, 0xa000_0003],
    [0xb000_0001, 0xb000_0002, 0xb000_0003],
];
const START: u64 = 1_700_000_000_000_000_000;
/// `TimelineConfig::default().max_ahead`, in seconds.
const MAX_AHEAD_SECS: f64 = 5.0;
/// Longest call the target builds: keeps one run fast.
const MAX_SPAN_MS: u64 = 30_000;
const MAX_SPAN_MS_OPUS: u64 = 10_000;

fn payload_map(p: &Payloads) -> PayloadMap {
    let mut map = PayloadMap::with_static();
    let audio = |codec| PayloadKind::Audio(codec);
    if p.opus_111 {
        let kind = audio(Codec::Opus);
        map.insert(
            111,
            PayloadType {
                kind,
                clock_rate: 48000,
            },
        );
    }
    if p.telephone_event_101 {
        let kind = PayloadKind::TelephoneEvent;
        map.insert(
            101,
            PayloadType {
                kind,
                clock_rate: 8000,
            },
        );
    }
    if let Some((pt, kind, clock_rate)) = &p.extra {
        let kind = match kind {
            KindChoice::Pcmu => audio(Codec::Pcmu),
            KindChoice::Pcma => audio(Codec::Pcma),
            KindChoice::G722 => audio(Codec::G722),
            KindChoice::Opus => audio(Codec::Opus),
            KindChoice::ComfortNoise => PayloadKind::ComfortNoise,
            KindChoice::TelephoneEvent => PayloadKind::TelephoneEvent,
        };
        let clock_rate = (*clock_rate).max(1);
        map.insert(pt & 0x7f, PayloadType { kind, clock_rate });
    }
    map
}

fn rtp(sender: &mut Sender, ssrc: u32, map: &PayloadMap, d: &Datagram) -> Vec<u8> {
    let Datagram::Rtp {
        marker,
        payload_type,
        seq_step,
        timestamp,
        padding,
        payload,
        ..
    } = d
    else {
        unreachable!("only RTP is built")
    };
    let pt = match payload_type {
        PtChoice::Pcmu => 0,
        PtChoice::Pcma => 8,
        PtChoice::G722 => 9,
        PtChoice::ComfortNoise => 13,
        PtChoice::TelephoneEvent => 101,
        PtChoice::Opus => 111,
        PtChoice::Any(pt) => pt & 0x7f,
    };
    sender.sequence = sender.sequence.wrapping_add_signed(i16::from(*seq_step));
    sender.timestamp = match timestamp {
        TsStep::Frames(n) => {
            let clock = map.get(pt).map_or(8000, |p| p.clock_rate);
            sender
                .timestamp
                .wrapping_add((clock / 50).wrapping_mul(u32::from(*n)))
        }
        TsStep::Ticks(t) => sender.timestamp.wrapping_add_signed(*t),
    };
    let mut b = vec![0x80 | if *padding > 0 { 0x20 } else { 0 }];
    b.push(u8::from(*marker) << 7 | pt);
    b.extend(sender.sequence.to_be_bytes());
    b.extend(sender.timestamp.to_be_bytes());
    b.extend(ssrc.to_be_bytes());
    match payload {
        Payload::Fill { byte, ms } => b.resize(b.len() + 8 * usize::from(ms % 121), *byte),
        Payload::Bytes(bytes) => b.extend(bytes),
    }
    if *padding > 0 {
        b.resize(b.len() + usize::from(*padding) - 1, 0);
        b.push(*padding);
    }
    b
}

/// Sums each file's appended bytes and forgets the chunks.
fn count(out: &mut Vec<FileChunk>, appended: &mut [u64; 2]) {
    for c in out.drain(..) {
        if let Chunk::Append(bytes) = c.chunk {
            appended[c.file] += bytes.len() as u64;
        }
    }
}

fuzz_target!(|input: Input| {
    let format = if input.format.is_multiple_of(16) {
        Format::OggOpus
    } else {
        Format::Wav
    };
    let config = RecorderConfig {
        format,
        layout: match input.layout {
            LayoutChoice::Stereo => Layout::Stereo,
            LayoutChoice::Mono => Layout::Mono,
            LayoutChoice::Separate => Layout::Separate,
        },
        pause_mode: if input.cut_pauses {
            PauseMode::Cut
        } else {
            PauseMode::Silence
        },
        notification: input
            .notify_pauses
            .then_some((ToneSpec::PAUSE, ToneSpec::RESUME)),
        reminder: input.reminder.map(|n| Reminder {
            interval_secs: 10 + u32::from(n % 81),
            tone: ToneSpec::REMINDER,
        }),
        opus_rate: [8000, 16000, 48000][usize::from(input.opus_rate % 3)],
        ..RecorderConfig::default()
    };
    let maps = [
        payload_map(&input.payloads[0]),
        payload_map(&input.payloads[1]),
    ];
    let mut recorder =
        Recorder::new(config, maps.clone()).expect("static types are audio, the reminder valid");
    let rate = recorder.sample_rate();
    let max_span = match format {
        Format::OggOpus => MAX_SPAN_MS_OPUS,
        Format::Wav => MAX_SPAN_MS,
    };

    let mut now = Time::from_nanos(START);
    let mut senders = [Sender::default(), Sender::default()];
    let mut pause_point = Duration::ZERO;
    let mut out = Vec::new();
    let mut appended = [0u64; 2];
    let mut longest_payload = 0usize;
    for event in &input.events {
        match event {
            Event::Datagram {
                leg_b,
                delta_ms,
                datagram,
            } => {
                let step = Duration::from_millis(u64::from(delta_ms % 2001));
                if (now + step)
                    .saturating_since(Time::from_nanos(START))
                    .as_millis()
                    > u128::from(max_span)
                {
                    break;
                }
                now = now + step;
                let (leg, i) = if *leg_b { (Leg::B, 1) } else { (Leg::A, 0) };
                let bytes = match datagram {
                    Datagram::Raw(bytes) => bytes.clone(),
                    Datagram::Rtp { source, .. } => {
                        let ssrc = SSRCS[i][usize::from(source % 3)];
                        rtp(&mut senders[i], ssrc, &maps[i], datagram)
                    }
                };
                longest_payload = longest_payload.max(bytes.len());
                recorder.push(now, leg, Bytes::from(bytes));
                while recorder.poll(now, &mut out).expect("encoding never fails") {
                    count(&mut out, &mut appended);
                }
                count(&mut out, &mut appended);
            }
            Event::Pause { after_ms } | Event::Resume { after_ms } => {
                let call_time = now.saturating_since(Time::from_nanos(START));
                pause_point =
                    pause_point.max(call_time) + Duration::from_millis(u64::from(after_ms % 5000));
                if matches!(event, Event::Pause { .. }) {
                    recorder.pause_at(pause_point);
                } else {
                    recorder.resume_at(pause_point);
                }
            }
            Event::Exclude { from_ms, len_ms } => {
                let from = Duration::from_millis(u64::from(*from_ms));
                recorder.exclude(from, from + Duration::from_millis(u64::from(*len_ms)));
            }
        }
    }
    let summary = recorder.finish(&mut out).expect("encoding never fails");
    count(&mut out, &mut appended);

    let channels = summary.encoder.channels as u64;
    let block = f64::from(rate / 50) / f64::from(rate);
    let cut: f64 = if summary.encoder.pause_mode == PauseMode::Cut {
        let end = summary.call_duration_secs;
        summary
            .pauses
            .iter()
            .map(|p| p.to.unwrap_or(f64::MAX).min(end) - p.from.min(end))
            .sum()
    } else {
        0.0
    };
    let span = summary
        .call_start
        .map_or(0.0, |start| now.saturating_since(start).as_secs_f64());
    let longest_frame = (longest_payload as f64 / 8000.0).max(0.2);
    let bound = (span + MAX_AHEAD_SECS + longest_frame + block) * f64::from(rate);
    let first = &summary.files[0];
    for (file, f) in summary.files.iter().enumerate() {
        assert_eq!(appended[file], f.bytes, "file {file}: chunks add up");
        if format == Format::Wav {
            assert_eq!(f.bytes, 44 + 2 * channels * f.samples_per_channel);
        }
        assert_eq!(f.samples_per_channel, first.samples_per_channel);
        let expected = summary.call_duration_secs - cut;
        assert!(
            (f.duration_secs - expected).abs() <= block + 1e-9,
            "file {file}: {} s, call {} s minus {cut} s cut",
            f.duration_secs,
            summary.call_duration_secs
        );
        assert!(
            f.samples_per_channel as f64 <= bound,
            "file {file}: {} samples for a {span} s call (bound {bound})",
            f.samples_per_channel
        );
    }
    if summary.call_start.is_none() {
        assert_eq!(first.samples_per_channel, 0);
    }
});
