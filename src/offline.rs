//! Recording a call from a packet capture: finds the legs, replays the datagrams through one
//! [`Recorder`] in capture time, and hands every encoded chunk to the caller. No IO here:
//! the capture comes in as bytes and the chunks go out through a callback, so tests, the
//! fuzzer and `callrec record` share this one path.

use crate::media::codec::PayloadKind;
use crate::pcap::flows::{choose_legs, find_rtp_flows, LegChoiceError, LegSelector, RtpFlow};
use crate::pcap::{CaptureError, CaptureReader, CaptureStats, Datagram};
use crate::recorder::payload::{PayloadMap, PayloadType};
use crate::recorder::summary::Summary;
use crate::recorder::{FileChunk, Leg, Recorder, RecorderConfig, RecorderError};
use crate::time::Time;
use bytes::Bytes;
use std::time::Duration;

/// What the operator says about a capture beyond the recording settings.
#[derive(Clone, Debug, Default)]
pub struct CaptureOptions {
    pub leg_a: Option<LegSelector>,
    pub leg_b: Option<LegSelector>,
    /// Dynamic payload types, e.g. `111 = opus/48000`.
    pub payload_types: Vec<(u8, PayloadType)>,
    /// Paused spans, from the call's start.
    pub pauses: Vec<(Duration, Duration)>,
    /// Excluded spans (announcements), from the call's start.
    pub exclusions: Vec<(Duration, Duration)>,
}

/// A capture that cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The capture file itself is damaged or of an unknown format.
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    /// No usable RTP, or the operator's leg selection matches nothing.
    #[error("{0}")]
    Legs(#[from] LegChoiceError),
    /// The legs carry payload types callrec cannot decode.
    #[error("{0} (payload types seen: {1:?}; map dynamic ones with --pt N=CODEC/RATE)")]
    Codec(RecorderError, Vec<u8>),
    /// The recorder could not be set up or could not encode.
    #[error("{0}")]
    Recorder(#[from] RecorderError),
    /// Writing the recording failed.
    #[error("writing the recording: {0}")]
    Output(#[from] std::io::Error),
}

/// What a replay produced besides the chunks.
#[derive(Debug)]
pub struct Replay {
    pub summary: Summary,
    pub legs: [Option<RtpFlow>; 2],
    pub capture: CaptureStats,
    /// Things the operator should know that did not stop the recording.
    pub warnings: Vec<String>,
}

/// Records the call in `capture`, passing each chunk to `sink` as soon as it is final, and
/// `progress(done, total)` every few thousand datagrams.
pub fn record_capture(
    capture: Bytes,
    config: RecorderConfig,
    options: &CaptureOptions,
    mut sink: impl FnMut(FileChunk) -> std::io::Result<()>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Replay, OfflineError> {
    let mut reader = CaptureReader::new(capture)?;
    let mut datagrams: Vec<Datagram> = Vec::new();
    let mut warnings = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(d) => datagrams.push(d),
            Err(e) if datagrams.is_empty() => return Err(e.into()),
            Err(e) => {
                warnings.push(format!("capture ends early: {e}"));
                break;
            }
        }
    }
    datagrams.sort_by_key(|d| d.time); // stable: equal times keep capture order

    let flows = find_rtp_flows(&datagrams);
    let choice = choose_legs(&flows, options.leg_a, options.leg_b)?;
    if choice.b.is_none() {
        warnings.push("only one RTP stream found: recording it as leg A, leg B is silent".into());
    }
    if flows.len() > 2 {
        for (i, flow) in flows.iter().enumerate() {
            if i != choice.a && Some(i) != choice.b {
                warnings.push(format!("ignored RTP stream {flow}"));
            }
        }
    }
    let legs = [
        Some(flows[choice.a].clone()),
        choice.b.map(|b| flows[b].clone()),
    ];
    let payloads = legs.clone().map(|flow| payload_map(flow.as_ref(), options));
    let mut seen: Vec<u8> = legs
        .iter()
        .flatten()
        .flat_map(|f| f.payload_types.clone())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    for pt in &seen {
        if payloads.iter().all(|p| p.get(*pt).is_none()) {
            warnings.push(format!("payload type {pt} is unknown: its packets are dropped (map it with --pt {pt}=CODEC/RATE)"));
        }
    }
    let mut recorder = Recorder::new(config, payloads).map_err(|e| match e {
        RecorderError::NoAudio => OfflineError::Codec(e, seen),
        e => e.into(),
    })?;
    for &(from, to) in &options.pauses {
        recorder.pause_at(from);
        recorder.resume_at(to);
    }
    for &(from, to) in &options.exclusions {
        recorder.exclude(from, to);
    }

    let route = |d: &Datagram| {
        let is = |f: &Option<RtpFlow>| f.as_ref().is_some_and(|f| f.src == d.src && f.dst == d.dst);
        match (is(&legs[0]), is(&legs[1])) {
            (true, _) => Some(Leg::A),
            (_, true) => Some(Leg::B),
            _ => None,
        }
    };
    let mut chunks = Vec::new();
    let total = datagrams.len();
    let mut previous: Option<Time> = None;
    for (i, d) in datagrams.into_iter().enumerate() {
        if i % 4096 == 0 {
            progress(i, total);
        }
        let Some(leg) = route(&d) else { continue };
        let now = d.time;
        if let Some(gap) = previous
            .map(|p| now.saturating_since(p))
            .filter(|&gap| gap > MAX_DATAGRAM_GAP)
        {
            warnings.push(format!(
                "the capture jumps {} s ahead at datagram {} of {total}: the rest is left out",
                gap.as_secs(),
                i + 1
            ));
            break;
        }
        previous = Some(now);
        recorder.push(now, leg, d.payload);
        while recorder
            .poll(now, &mut chunks)
            .map_err(RecorderError::from)?
        {
            for chunk in chunks.drain(..) {
                sink(chunk)?;
            }
        }
        for chunk in chunks.drain(..) {
            sink(chunk)?;
        }
    }
    let summary = recorder.finish(&mut chunks).map_err(RecorderError::from)?;
    for chunk in chunks {
        sink(chunk)?;
    }
    progress(total, total);
    Ok(Replay {
        summary,
        legs,
        capture: reader.stats().clone(),
        warnings,
    })
}

/// Longest time between two datagrams of the legs that a replay follows; at a longer jump
/// the replay ends. The capture's clock is input: one timestamp damaged to days ahead would
/// otherwise have the recorder write days of silence (gigabytes, in one poll). Ten minutes
/// is longer than a call holds without any media.
pub const MAX_DATAGRAM_GAP: Duration = Duration::from_secs(600);

/// The payload type assumed for RFC 4733 events when the operator maps none.
pub const DEFAULT_TELEPHONE_EVENT: u8 = 101;

/// A leg's payload types: static ones and the operator's mappings, narrowed to what it sent.
fn payload_map(flow: Option<&RtpFlow>, options: &CaptureOptions) -> PayloadMap {
    let mut map = PayloadMap::with_static();
    for &(pt, payload) in &options.payload_types {
        map.insert(pt, payload);
    }
    // Captures carry no SDP: 101 is the de-facto telephone-event type, on the audio's clock.
    if options
        .payload_types
        .iter()
        .all(|&(pt, _)| pt != DEFAULT_TELEPHONE_EVENT)
    {
        let clock_rate = flow
            .into_iter()
            .flat_map(|f| &f.payload_types)
            .filter_map(|&pt| map.get(pt))
            .find(|p| matches!(p.kind, PayloadKind::Audio(_)))
            .map_or(8000, |p| p.clock_rate);
        let kind = PayloadKind::TelephoneEvent;
        map.insert(DEFAULT_TELEPHONE_EVENT, PayloadType { kind, clock_rate });
    }
    map.retain(flow.map_or(&[][..], |f| &f.payload_types));
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Format;
    use crate::pcap::{CaptureFormat, LinkType, PcapWriter};

    /// A 20 ms PCMU packet of one source.
    fn pcmu(seq: u16) -> Vec<u8> {
        let mut b = vec![0x80, 0];
        b.extend(seq.to_be_bytes());
        b.extend((u32::from(seq) * 160).to_be_bytes());
        b.extend(0xa_u32.to_be_bytes());
        b.extend([0x55; 160]);
        b
    }

    #[test]
    fn a_jump_past_the_longest_gap_ends_the_replay() {
        let (src, dst) = (
            "10.0.0.1:4000".parse().unwrap(),
            "10.0.0.2:5000".parse().unwrap(),
        );
        let start = Time::from_nanos(1_700_000_000_000_000_000);
        let mut capture = PcapWriter::new(CaptureFormat::Pcap, LinkType::Ethernet);
        for (seq, at) in [
            (1, Duration::ZERO),
            (2, Duration::from_millis(20)),
            (3, Duration::from_millis(40)),
            (
                4,
                Duration::from_millis(40) + MAX_DATAGRAM_GAP + Duration::from_secs(1),
            ),
        ] {
            capture.write_udp(start + at, src, dst, &pcmu(seq)).unwrap();
        }
        let config = RecorderConfig {
            format: Format::Wav,
            ..RecorderConfig::default()
        };
        let options = CaptureOptions::default();
        let replay = record_capture(
            Bytes::from(capture.finish()),
            config,
            &options,
            |_| Ok(()),
            |_, _| {},
        )
        .unwrap();
        // Three packets of 160 samples at 8 kHz, not ten minutes of silence and a fourth.
        assert_eq!(replay.summary.files[0].samples_per_channel, 480);
        assert!(
            replay
                .warnings
                .iter()
                .any(|w| w
                    == "the capture jumps 601 s ahead at datagram 4 of 4: the rest is left out"),
            "{:?}",
            replay.warnings
        );
    }
}
