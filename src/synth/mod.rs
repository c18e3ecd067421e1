//! callrec's own fixture generator: two-leg call captures with known audio and known
//! impairments, so tests can check that every sound lands in the right channel at the right
//! time. Deterministic: the same spec gives the same bytes (a seeded PRNG, no clock).
//!
//! Each leg plays a sine of its own frequency, optionally gated on and off so onsets show
//! where the audio sits in time. Impairments act on the wire as they would in a network:
//! loss, jitter (which reorders), duplicates, garbage datagrams, DTX gaps, an SSRC change,
//! sequence/timestamp wrap (by choosing the first values), and sender clock drift; the
//! network model in [`network`] adds heavy-tailed delay spikes, delay bursts, deliberate
//! reordering, bursts of loss and timestamp jumps, and drives a recorder directly
//! ([`datagrams`]); [`measure`] says where each leg's audio landed in a recording.

pub mod measure;
pub mod network;

use crate::media::codec::{Codec, CodecError, Encoder};
use crate::pcap::{CaptureFormat, LinkType, PcapWriter};
use crate::time::Time;
use std::f64::consts::PI;
use std::net::SocketAddr;
use std::time::Duration;

/// What one leg sends.
#[derive(Clone, Debug)]
pub struct LegSpec {
    pub codec: Codec,
    pub payload_type: u8,
    /// What the leg plays: a sine of `frequency_hz`, or noise (never periodic, so where a
    /// stretch of it landed in a recording has one answer).
    pub signal: Signal,
    /// The sine this leg plays.
    pub frequency_hz: f64,
    /// Peak amplitude of the sine.
    pub amplitude: f64,
    /// When the tone is on: `None` always, `Some((on, off))` gated in that rhythm from the leg's
    /// start.
    pub gate: Option<(Duration, Duration)>,
    /// When the leg starts, from the capture's first instant.
    pub start: Duration,
    pub duration: Duration,
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
    /// Sender clock error in parts per million (positive: its frames last longer).
    pub clock_ppm: f64,
    pub ptime: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub impairments: Impairments,
}

/// The sound a leg plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signal {
    /// A sine of the leg's `frequency_hz`.
    #[default]
    Sine,
    /// White noise of the leg's amplitude, from this seed: the same sample index always has
    /// the same value.
    Noise(u64),
}

/// What the network and the sender do to the leg.
#[derive(Clone, Debug, Default)]
pub struct Impairments {
    /// Probability a packet is lost.
    pub loss: f64,
    /// Largest extra delay of a packet (uniform), which reorders when above the ptime.
    pub jitter: Duration,
    /// Probability a packet arrives twice.
    pub duplicate: f64,
    /// Probability a garbage datagram is sent after a packet on the same flow.
    pub malformed: f64,
    /// Spans (from the leg's start) in which the sender sends nothing (DTX); the next packet
    /// carries the marker bit and a timestamp that jumped over the gap.
    pub dtx: Vec<(Duration, Duration)>,
    /// From this point (from the leg's start) the sender uses a new SSRC, sequence and
    /// timestamp base; the audio continues.
    pub ssrc_change_at: Option<Duration>,
    /// RFC 4733 digits sent instead of audio at these times (from the leg's start), 100 ms each
    /// (payload type [`DTMF_PAYLOAD_TYPE`]).
    pub dtmf: Vec<(Duration, u8)>,
    pub seed: u64,
    /// The rest of the network model ([`network::Network`]): heavy-tailed delay spikes, delay
    /// bursts, reordering, bursts of loss and timestamp jumps. Drawn from a random stream of
    /// its own, so captures that do not use it stay byte for byte what they were.
    pub network: network::Network,
}

impl LegSpec {
    /// A clean 20 ms leg playing `frequency_hz` at -12 dBFS.
    pub fn tone(codec: Codec, frequency_hz: f64, leg_index: u8) -> LegSpec {
        let payload_type = match codec {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
            Codec::Opus => 111,
        };
        let port = 40000 + u16::from(leg_index) * 2;
        LegSpec {
            codec,
            payload_type,
            signal: Signal::Sine,
            frequency_hz,
            amplitude: 8000.0,
            gate: None,
            start: Duration::ZERO,
            duration: Duration::from_secs(3),
            ssrc: 0x1000_0000 + u32::from(leg_index),
            first_sequence: 1000,
            first_timestamp: 160_000,
            clock_ppm: 0.0,
            ptime: Duration::from_millis(20),
            src: SocketAddr::from(([192, 0, 2, 10 + leg_index], port)),
            dst: SocketAddr::from(([192, 0, 2, 100], 30000 + u16::from(leg_index) * 2)),
            impairments: Impairments::default(),
        }
    }

    /// The decoded-rate sample the leg's sine has at `t` from the leg's start (what was sent).
    pub fn sample_at(&self, t: f64) -> f64 {
        let on = match self.gate {
            None => true,
            Some((on, off)) => {
                let period = (on + off).as_secs_f64();
                period <= 0.0 || t.rem_euclid(period) < on.as_secs_f64()
            }
        };
        match (on, self.signal) {
            (false, _) => 0.0,
            (true, Signal::Sine) => self.amplitude * (2.0 * PI * self.frequency_hz * t).sin(),
            (true, Signal::Noise(seed)) => {
                let n = (t * f64::from(fixture_rate(self.codec))).round() as i64 as u64;
                let mut mix = SplitMix::new(seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
                self.amplitude * (2.0 * mix.unit() - 1.0)
            }
        }
    }

    /// The DTMF digit (index, digit) being sent at `t`, if any: each lasts 100 ms.
    fn dtmf_at(&self, t: Duration) -> Option<(usize, u8)> {
        let len = Duration::from_millis(100);
        self.impairments
            .dtmf
            .iter()
            .position(|&(at, _)| at <= t && t < at + len)
            .map(|i| (i, self.impairments.dtmf[i].1))
    }

    fn in_dtx(&self, t: Duration) -> bool {
        self.impairments.dtx.iter().any(|&(a, b)| a <= t && t < b)
    }
}

/// The payload type fixtures send RFC 4733 events with.
pub const DTMF_PAYLOAD_TYPE: u8 = 101;

/// Where a capture's time starts: an arbitrary fixed instant, so fixtures are reproducible.
pub const CAPTURE_EPOCH: Time = Time::from_nanos(1_780_000_000_000_000_000);

/// A small deterministic PRNG (SplitMix64): fixtures must not depend on a crate's algorithm.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a leg put on the wire, for tests to compare against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegTruth {
    pub sent: u64,
    pub lost: u64,
    /// Lost packets no receiver can know of: before the first or after the last packet of
    /// their SSRC that did arrive.
    pub lost_unseen: u64,
    pub duplicated: u64,
    pub malformed: u64,
    /// Per 20 ms-or-ptime frame of the leg, from its start: whether its packet (audio or
    /// event) reached the receiver; `None` for frames not sent (DTX).
    pub delivered: Vec<Option<bool>>,
}

/// Builds an RTP packet (RFC 3550 §5.1, no CSRCs or extension).
pub fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.extend_from_slice(&[0x80, (u8::from(marker) << 7) | (pt & 0x7f)]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The rate a codec's fixture audio is made at.
pub fn fixture_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Pcmu | Codec::Pcma => 8000,
        Codec::G722 | Codec::Opus => 16000,
    }
}

/// Writes a capture of `legs` (in the given format and link type).
pub fn generate(
    legs: &[LegSpec],
    format: CaptureFormat,
    link: LinkType,
) -> Result<(Vec<u8>, Vec<LegTruth>), CodecError> {
    let (datagrams, truths) = datagrams(legs)?;
    let mut writer = PcapWriter::new(format, link);
    for d in &datagrams {
        let leg = &legs[d.leg];
        writer
            .write_udp(d.arrival, leg.src, leg.dst, &d.bytes)
            .expect("fixture datagrams are small and of one address family");
    }
    Ok((writer.finish(), truths))
}

/// One datagram as the receiver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub arrival: Time,
    /// Index of the leg in the spec that sent it.
    pub leg: usize,
    pub bytes: Vec<u8>,
}

/// Every datagram of `legs` in arrival order (ties keep generation order), and what each leg
/// sent: what a capture of the call holds, ready to push into a recorder without a file.
pub fn datagrams(legs: &[LegSpec]) -> Result<(Vec<Arrival>, Vec<LegTruth>), CodecError> {
    let mut datagrams = Vec::new();
    let mut truths = Vec::new();
    for (index, leg) in legs.iter().enumerate() {
        let mut truth = LegTruth::default();
        for (arrival, bytes) in leg_datagrams(leg, &mut truth)? {
            datagrams.push(Arrival {
                arrival,
                leg: index,
                bytes,
            });
        }
        truths.push(truth);
    }
    datagrams.sort_by_key(|d| d.arrival);
    Ok((datagrams, truths))
}

/// What the sender's decoder-side audio is: every frame of the leg encoded and decoded in
/// order, at the codec's fixture rate, from the leg's start (DTX and event frames as
/// silence). What a perfect receiver would play; bit-exactness is measured against it.
pub fn sent_audio(leg: &LegSpec) -> Result<Vec<i16>, CodecError> {
    let rate = fixture_rate(leg.codec);
    let mut encoder = Encoder::new(leg.codec, rate)?;
    let mut decoder = crate::media::codec::Decoder::new(leg.codec, rate)?;
    let frame_samples = (leg.ptime.as_nanos() * u128::from(rate) / 1_000_000_000) as usize;
    let frames = (leg.duration.as_nanos() / leg.ptime.as_nanos().max(1)) as u64;
    let ptime = leg.ptime.as_secs_f64();
    let mut pcm = vec![0i16; frame_samples];
    let mut payload = Vec::new();
    let mut out = Vec::with_capacity(frames as usize * frame_samples);
    for frame in 0..frames {
        let t = Duration::from_secs_f64(frame as f64 * ptime);
        if leg.in_dtx(t) || leg.dtmf_at(t).is_some() {
            out.resize(out.len() + frame_samples, 0);
            continue;
        }
        for (i, s) in pcm.iter_mut().enumerate() {
            let at = frame as f64 * ptime + i as f64 / f64::from(rate);
            *s = leg.sample_at(at).round().clamp(-32768.0, 32767.0) as i16;
        }
        payload.clear();
        encoder.encode(&pcm, &mut payload)?;
        let start = out.len();
        decoder.decode(&payload, &mut out)?;
        out.resize(start + frame_samples, 0);
    }
    Ok(out)
}

fn leg_datagrams(leg: &LegSpec, truth: &mut LegTruth) -> Result<Vec<(Time, Vec<u8>)>, CodecError> {
    let rate = fixture_rate(leg.codec);
    let clock = leg.codec.rtp_clock_rate();
    let mut encoder = Encoder::new(leg.codec, rate)?;
    let mut rng = SplitMix::new(leg.impairments.seed ^ u64::from(leg.ssrc));
    let mut network = network::LegNetwork::new(&leg.impairments, leg.ssrc, leg.ptime);
    let frame_samples = (leg.ptime.as_nanos() * u128::from(rate) / 1_000_000_000) as usize;
    let frame_ticks = (leg.ptime.as_nanos() * u128::from(clock) / 1_000_000_000) as u32;
    let frames = (leg.duration.as_nanos() / leg.ptime.as_nanos().max(1)) as u64;
    let (mut ssrc, mut seq, mut ts_base) = (leg.ssrc, leg.first_sequence, leg.first_timestamp);
    let mut frame_base = 0u64; // the frame at which the current ts base applies
    let mut changed = false;
    let mut after_gap = true;
    let mut pcm = vec![0i16; frame_samples];
    let mut payload = Vec::new();
    let mut out = Vec::new();
    // Per packet sent: (ssrc, delivered), to tell which losses a receiver can see.
    let mut fates: Vec<(u32, bool)> = Vec::new();
    let ptime = leg.ptime.as_secs_f64();
    for frame in 0..frames {
        let t = Duration::from_secs_f64(frame as f64 * ptime);
        if let Some(at) = leg.impairments.ssrc_change_at {
            if !changed && t >= at {
                changed = true;
                ssrc ^= 0xa5a5_5a5a;
                seq = seq.wrapping_add(20_000);
                ts_base = ts_base.wrapping_add(0x4000_0000);
                frame_base = frame;
            }
        }
        if leg.in_dtx(t) {
            after_gap = true;
            truth.delivered.push(None);
            continue;
        }
        let ts_base = ts_base.wrapping_add(network.timestamp_jump(t));
        let ts = ts_base.wrapping_add(((frame - frame_base) as u32).wrapping_mul(frame_ticks));
        let packet = match leg.dtmf_at(t) {
            // RFC 4733 §2.5: the event replaces audio; one timestamp (the event's start) and
            // a growing duration, the end bit on its last packet.
            Some((index, digit)) => {
                let started =
                    (leg.impairments.dtmf[index].0.as_nanos() / leg.ptime.as_nanos()) as u64;
                let event_ts = ts_base.wrapping_add(
                    ((started.max(frame_base) - frame_base) as u32).wrapping_mul(frame_ticks),
                );
                let elapsed = (frame - started + 1) as u32 * frame_ticks;
                let last = leg.dtmf_at(t + leg.ptime).map(|(i, _)| i) != Some(index);
                let flags = if last { 0x80 | 10 } else { 10 };
                let payload = [digit, flags, (elapsed >> 8) as u8, elapsed as u8];
                rtp_packet(
                    DTMF_PAYLOAD_TYPE,
                    frame == started,
                    seq,
                    event_ts,
                    ssrc,
                    &payload,
                )
            }
            None => {
                for (i, s) in pcm.iter_mut().enumerate() {
                    let at = frame as f64 * ptime + i as f64 / f64::from(rate);
                    *s = leg.sample_at(at).round().clamp(-32768.0, 32767.0) as i16;
                }
                payload.clear();
                encoder.encode(&pcm, &mut payload)?;
                rtp_packet(leg.payload_type, after_gap, seq, ts, ssrc, &payload)
            }
        };
        after_gap = false;
        seq = seq.wrapping_add(1);
        truth.sent += 1;
        // Sent on the sender's clock: a slow clock (positive ppm) stretches every frame.
        let sent_at = leg.start.as_secs_f64() + frame as f64 * ptime * (1.0 + leg.clock_ppm * 1e-6);
        let jitter = rng.unit() * leg.impairments.jitter.as_secs_f64();
        let extra = network.extra_delay(sent_at);
        let arrival = CAPTURE_EPOCH + Duration::from_secs_f64(sent_at + jitter + extra);
        let lost = rng.unit() < leg.impairments.loss;
        let lost = network.lost() || lost;
        fates.push((ssrc, !lost));
        truth.delivered.push(Some(!lost));
        if lost {
            truth.lost += 1;
        } else {
            if rng.unit() < leg.impairments.duplicate {
                truth.duplicated += 1;
                out.push((arrival + Duration::from_millis(3), packet.clone()));
            }
            out.push((arrival, packet));
        }
        if rng.unit() < leg.impairments.malformed {
            truth.malformed += 1;
            out.push((arrival + Duration::from_micros(500), malformed(&mut rng)));
        }
    }
    truth.lost_unseen = unseen_losses(&fates);
    Ok(out)
}

/// A datagram on the leg's flow that is not valid RTP, of one of the kinds real networks and
/// broken senders produce. None of them looks like RTCP (second octet below 192).
fn malformed(rng: &mut SplitMix) -> Vec<u8> {
    match rng.next_u64() % 4 {
        // Version 0 noise.
        0 => {
            let len = 1 + rng.next_u64() % 40;
            (0..len).map(|_| (rng.next_u64() & 0x3f) as u8).collect()
        }
        // Shorter than the fixed header.
        1 => rtp_packet(0, false, 1, 2, 3, &[])[..(rng.next_u64() % 12) as usize].to_vec(),
        // Claims 15 CSRCs but stops after two.
        2 => {
            let mut p = rtp_packet(0, false, 1, 2, 3, &[0; 8]);
            p[0] |= 0x0f;
            p
        }
        // Padding count larger than the payload.
        _ => {
            let mut p = rtp_packet(0, false, 1, 2, 3, &[0, 0, 0, 200]);
            p[0] |= 0x20;
            p
        }
    }
}

fn unseen_losses(fates: &[(u32, bool)]) -> u64 {
    let mut unseen = 0;
    let mut from = 0;
    while from < fates.len() {
        let ssrc = fates[from].0;
        let run = fates[from..].iter().take_while(|f| f.0 == ssrc).count();
        let stream = &fates[from..from + run];
        let first = stream.iter().position(|f| f.1).unwrap_or(run);
        let last = stream.iter().rposition(|f| f.1).map_or(run, |i| i + 1);
        unseen += (first + run.saturating_sub(last).min(run - first)) as u64;
        from += run;
    }
    unseen
}

/// A named capture the project ships in `fixtures/`.
pub struct Fixture {
    pub name: &'static str,
    pub legs: Vec<LegSpec>,
    pub format: CaptureFormat,
    pub link: LinkType,
}

/// Leg A's and leg B's frequencies in every fixture: far apart, not harmonics of each other.
pub const FREQ_A: f64 = 440.0;
pub const FREQ_B: f64 = 1000.0;

/// The captures committed under `fixtures/` (small: a few seconds each). Leg B starts 250 ms
/// after leg A, and both legs are gated 400 ms on / 600 ms off so onsets show alignment.
pub fn fixtures() -> Vec<Fixture> {
    let pair = |codec: Codec| {
        let mut a = LegSpec::tone(codec, FREQ_A, 0);
        let mut b = LegSpec::tone(codec, FREQ_B, 1);
        for leg in [&mut a, &mut b] {
            leg.gate = Some((Duration::from_millis(400), Duration::from_millis(600)));
        }
        b.start = Duration::from_millis(250);
        b.duration = Duration::from_millis(2750);
        vec![a, b]
    };
    let impaired = |codec: Codec, seed: u64| {
        let mut legs = pair(codec);
        for leg in &mut legs {
            leg.impairments = Impairments {
                loss: 0.03,
                jitter: Duration::from_millis(30),
                duplicate: 0.02,
                malformed: 0.02,
                dtx: vec![(Duration::from_millis(1400), Duration::from_millis(1600))],
                ssrc_change_at: Some(Duration::from_millis(2000)),
                dtmf: vec![(Duration::from_millis(500), 5)],
                seed,
                network: network::Network::default(),
            };
            leg.first_sequence = 65_500; // wraps mid-call
            leg.first_timestamp = u32::MAX - 4000; // wraps mid-call
            leg.clock_ppm = 300.0;
        }
        legs
    };
    vec![
        Fixture {
            name: "pcmu-clean.pcap",
            legs: pair(Codec::Pcmu),
            format: CaptureFormat::Pcap,
            link: LinkType::Ethernet,
        },
        Fixture {
            name: "pcma-clean.pcapng",
            legs: pair(Codec::Pcma),
            format: CaptureFormat::PcapNg,
            link: LinkType::LinuxSll,
        },
        Fixture {
            name: "g722-clean.pcap",
            legs: pair(Codec::G722),
            format: CaptureFormat::Pcap,
            link: LinkType::RawIp,
        },
        Fixture {
            name: "opus-clean.pcapng",
            legs: pair(Codec::Opus),
            format: CaptureFormat::PcapNg,
            link: LinkType::LinuxSll2,
        },
        Fixture {
            name: "pcmu-impaired.pcap",
            legs: impaired(Codec::Pcmu, 1),
            format: CaptureFormat::Pcap,
            link: LinkType::Ethernet,
        },
        Fixture {
            name: "g722-impaired.pcapng",
            legs: impaired(Codec::G722, 2),
            format: CaptureFormat::PcapNg,
            link: LinkType::Ethernet,
        },
        Fixture {
            name: "opus-impaired.pcap",
            legs: impaired(Codec::Opus, 3),
            format: CaptureFormat::Pcap,
            link: LinkType::Ethernet,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_losses_are_those_outside_each_streams_delivered_range() {
        let f = |s: &str| -> Vec<(u32, bool)> {
            s.split(' ')
                .enumerate()
                .flat_map(|(i, run)| run.chars().map(move |c| (i as u32, c == '+')))
                .collect()
        };
        assert_eq!(unseen_losses(&f("++-++")), 0);
        assert_eq!(unseen_losses(&f("-++-")), 2);
        assert_eq!(unseen_losses(&f("--- +-+-")), 4);
        assert_eq!(unseen_losses(&f("")), 0);
    }
}
