//! The metadata sidecar: the JSON document stored beside each recording, saying whose call it
//! is, when, how it was made, what went wrong on the wire, and the media's SHA-256 so anyone
//! can check the file is the one recorded.

use super::summary::{
    EncoderSummary, KeyPress, LegCounts, SpanSecs, Summary, TelephoneEvent, ToneRecord,
};
use crate::media::codec::Codec;
use crate::time::Time;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Sidecar {
    pub callrec_version: &'static str,
    pub call: CallInfo,
    pub legs: Vec<LegInfo>,
    pub encoder: EncoderSummary,
    pub files: Vec<MediaFile>,
    pub pauses: Vec<SpanSecs>,
    pub exclusions: Vec<SpanSecs>,
    pub tones: Vec<ToneRecord>,
    /// Under PCI handling: every key pressed (RFC 4733 events and in-band tones), with its
    /// time and length but never its digit. Absent when PCI handling is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_presses: Option<Vec<KeyPress>>,
    /// Packets dropped because they came after the longest call a recording may hold.
    pub packets_beyond_max_duration: u64,
    /// What the input stage counted (for a capture: frames, UDP datagrams, what was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CallInfo {
    /// The recording's own id: its name in files and keys, unique per recording session.
    pub id: String,
    /// The SIP Call-ID, for people looking for a call (several recordings may share one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_call_id: Option<String>,
    /// `"call"`, or `"voicemail"` for a voicemail deposit or retrieval.
    pub kind: &'static str,
    /// UTC, RFC 3339; absent when no packet ever arrived. For an On Demand session, the
    /// first packet after the user's start: the file begins there.
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_secs: f64,
    /// An On Demand session began waiting for the user's start: nothing before it is in the
    /// file. Absent for sessions recorded from answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_for_start: Option<WaitedForStart>,
}

/// When an On Demand session was answered and when the user started recording it.
#[derive(Debug, Serialize)]
pub struct WaitedForStart {
    /// UTC, RFC 3339: the session was answered, waiting for the user's start.
    pub answered: String,
    /// UTC, RFC 3339: the user's first start (the offer that first sent media).
    pub started: String,
}

#[derive(Debug, Serialize)]
pub struct LegInfo {
    /// "a" (left channel) or "b" (right channel).
    pub leg: &'static str,
    /// Where the leg came from and went to, as the network showed it.
    pub source: Option<String>,
    pub destination: Option<String>,
    pub ssrcs: Vec<String>,
    pub codecs: Vec<Codec>,
    pub first_packet: Option<String>,
    pub last_packet: Option<String>,
    pub counts: LegCounts,
    /// RFC 3550 interarrival jitter at the end and the largest it was, in milliseconds.
    pub jitter_ms: f64,
    pub jitter_max_ms: f64,
    pub telephone_events: Vec<TelephoneEvent>,
}

/// One media file of the recording.
#[derive(Debug, Serialize)]
pub struct MediaFile {
    /// File name, relative to the sidecar.
    pub name: String,
    /// "both" for stereo or mono, else the leg the file holds.
    pub legs: &'static str,
    pub bytes: u64,
    pub duration_secs: f64,
    pub sha256: String,
}

/// A leg's network identity, when the recorder knows it.
pub type Endpoints = Option<(String, String)>;

impl Sidecar {
    /// Builds the sidecar from a finished recording; `files` are (name, sha256) in file order.
    pub fn new(
        call_id: &str,
        summary: Summary,
        endpoints: [Endpoints; 2],
        files: Vec<(String, String)>,
        warnings: Vec<String>,
    ) -> Sidecar {
        let stamp = |t: Option<Time>| t.map(Time::to_rfc3339);
        let end = summary
            .call_start
            .map(|s| s + Duration::from_secs_f64(summary.call_duration_secs));
        let separate = files.len() == 2;
        let media = files
            .into_iter()
            .zip(&summary.files)
            .enumerate()
            .map(|(i, ((name, sha256), f))| MediaFile {
                name,
                legs: match (separate, i) {
                    (false, _) => "both",
                    (true, 0) => "a",
                    (true, _) => "b",
                },
                bytes: f.bytes,
                duration_secs: f.duration_secs,
                sha256,
            })
            .collect();
        let [a, b] = summary.legs;
        let [ea, eb] = endpoints;
        let legs = [("a", a, ea), ("b", b, eb)]
            .into_iter()
            .map(|(leg, s, ends)| LegInfo {
                leg,
                source: ends.as_ref().map(|e| e.0.clone()),
                destination: ends.map(|e| e.1),
                ssrcs: s.ssrcs.iter().map(|x| format!("{x:#010x}")).collect(),
                codecs: s.codecs,
                first_packet: stamp(s.first_packet),
                last_packet: stamp(s.last_packet),
                counts: s.counts,
                jitter_ms: s.jitter_ms,
                jitter_max_ms: s.jitter_max_ms,
                telephone_events: s.telephone_events,
            })
            .collect();
        Sidecar {
            callrec_version: env!("CARGO_PKG_VERSION"),
            call: CallInfo {
                id: call_id.to_string(),
                sip_call_id: None,
                kind: "call",
                start: stamp(summary.call_start),
                end: stamp(end),
                duration_secs: summary.call_duration_secs,
                waited_for_start: None,
            },
            legs,
            encoder: summary.encoder,
            files: media,
            pauses: summary.pauses,
            exclusions: summary.exclusions,
            tones: summary.tones,
            key_presses: summary.key_presses,
            packets_beyond_max_duration: summary.packets_beyond_max_duration,
            input: None,
            warnings,
        }
    }
}
