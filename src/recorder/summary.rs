//! What a finished recording reports about itself: the facts the metadata sidecar is made of.

use crate::encode::{Format, OpusSettings};
use crate::media::codec::Codec;
use crate::media::mix::Layout;
use crate::media::spans::PauseMode;
use crate::media::tones::ToneKind;
use crate::time::Time;
use serde::Serialize;

/// Per-leg counters, each one a packet count unless its name says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LegCounts {
    /// RTP packets that parsed.
    pub received: u64,
    /// Packets the jitter buffer gave up waiting for.
    pub lost: u64,
    /// Packets that arrived after their place was played.
    pub late: u64,
    pub duplicate: u64,
    pub reordered: u64,
    /// Datagrams that were neither valid RTP nor valid RTCP (or bad telephone events).
    pub malformed: u64,
    pub rtcp: u64,
    pub unknown_payload_type: u64,
    pub decode_errors: u64,
    pub comfort_noise: u64,
    pub telephone_events: u64,
    pub ssrc_changes: u64,
    pub sequence_restarts: u64,
    /// Lone packets far from the stream (or of a stray SSRC), dropped after probation.
    pub out_of_range: u64,
    pub jitter_overflow: u64,
    /// Packets discarded because the jitter buffer was full.
    pub jitter_evicted: u64,
    /// Milliseconds of audio made up for lost packets (codec PLC/FEC or fade).
    pub concealed_ms: u64,
    /// Output samples that arrived too late to be placed.
    pub late_samples: u64,
    /// Output samples dropped because their timestamps put them too far ahead.
    pub dropped_ahead_samples: u64,
    pub resyncs: u64,
    /// Samples repeated (+) or dropped (-) to follow the sender's clock drift.
    pub drift_correction_samples: i64,
}

/// An RFC 4733 event (DTMF digit 0-15 and others), noted, never played into the file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TelephoneEvent {
    /// The event code; `None` under PCI handling, where the digit is never kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<u8>,
    /// The event's RTP timestamp as sent.
    pub rtp_timestamp: u32,
    /// When it started, in seconds from the call's start (when the leg's clock is known).
    pub call_secs: Option<f64>,
    pub duration_ms: u64,
    pub ended: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct LegSummary {
    pub ssrcs: Vec<u32>,
    pub codecs: Vec<Codec>,
    #[serde(skip)]
    pub first_packet: Option<Time>,
    #[serde(skip)]
    pub last_packet: Option<Time>,
    pub counts: LegCounts,
    /// RFC 3550 interarrival jitter of the leg's audio at the end, and the largest it was,
    /// in milliseconds (from arrival times: meaningful live, and for a capture's timestamps).
    pub jitter_ms: f64,
    pub jitter_max_ms: f64,
    pub telephone_events: Vec<TelephoneEvent>,
}

/// How a key press was found.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPressSource {
    /// An RFC 4733 telephone-event (it never turns into audio).
    TelephoneEvent,
    /// DTMF tones heard in the decoded audio (silenced in the file).
    InBand,
}

/// A key pressed on a keypad during a call recorded under PCI handling: when and how long,
/// never which key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyPress {
    /// "a" or "b".
    pub leg: &'static str,
    pub source: KeyPressSource,
    /// When it started, in seconds from the call's start (when the leg's clock is known).
    pub call_secs: Option<f64>,
    pub duration_ms: u64,
    /// The span of the call silenced in the file for it (in-band tones, with a guard on
    /// each side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silenced: Option<SpanSecs>,
}

/// A span on the call clock, in seconds from the call's start.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct SpanSecs {
    pub from: f64,
    /// `None` for a pause still open when the call ended.
    pub to: Option<f64>,
}

/// A tone placed in the recording: when in the call, and where in the file.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct ToneRecord {
    pub kind: ToneKind,
    pub call_secs: f64,
    pub file_secs: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EncoderSummary {
    pub format: Format,
    pub layout: Layout,
    pub sample_rate: u32,
    pub channels: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opus: Option<OpusSettings>,
    pub pause_mode: PauseMode,
}

/// One output file's facts (its bytes went out as chunks).
#[derive(Clone, Debug, Serialize)]
pub struct FileSummary {
    pub samples_per_channel: u64,
    pub bytes: u64,
    pub duration_secs: f64,
}

/// Everything a finished recording knows about itself.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    #[serde(skip)]
    pub call_start: Option<Time>,
    /// The call's length: from its first packet to the end of its last audio, or of the
    /// silence already written after it, whichever is later.
    pub call_duration_secs: f64,
    pub encoder: EncoderSummary,
    pub files: Vec<FileSummary>,
    pub legs: [LegSummary; 2],
    pub pauses: Vec<SpanSecs>,
    pub exclusions: Vec<SpanSecs>,
    pub tones: Vec<ToneRecord>,
    /// Key presses, when the call was recorded under PCI handling (`None` otherwise); at most
    /// [`MAX_KEY_PRESSES`](super::MAX_KEY_PRESSES) are listed, all are silenced.
    pub key_presses: Option<Vec<KeyPress>>,
    /// Pause or exclusion requests refused because a call's span limit was reached.
    pub spans_refused: u64,
    /// Packets dropped because they came after the longest call a recording may hold.
    pub packets_beyond_max_duration: u64,
}
