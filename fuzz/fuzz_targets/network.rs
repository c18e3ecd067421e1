//! The whole recorder behind the generator's network model (`callrec::synth::network`): two
//! legs of G.711/G.722 through fuzzed delay (uniform, heavy-tailed spikes, congestion bursts,
//! a late first packet), reordering, duplicates, loss and bursts of loss, sender clock drift,
//! timestamp jumps, DTX and an SSRC change, with a fuzzed jitter buffer latency. Every
//! datagram is pushed in arrival order with a poll after it, then `finish`. Asserts:
//! - nothing panics and encoding never fails;
//! - accounting: each leg received exactly what the network delivered (sent - lost +
//!   duplicated), and never conceals more than its lost packets' time;
//! - a benign network (no loss, no drift, no jumps, no DTX or SSRC change, every packet's
//!   extra delay within the jitter buffer's latency less a block) loses nothing: no packet
//!   lost or late, no sample written late, no re-anchoring;
//! - output is bounded: each file as long as the call, and the call no longer than its
//!   packets' span plus `max_ahead` (5 s), the output lag and a second of rounding.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use callrec::encode::{Chunk, Format};
use callrec::media::codec::Codec;
use callrec::media::jitter::JitterConfig;
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::{FileChunk, Leg, Recorder, RecorderConfig};
use callrec::synth::network::{DelayBursts, LossBursts, Network, Spikes};
use callrec::synth::{datagrams, Impairments, LegSpec, Signal};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    /// Jitter buffer latency: `20 + n % 481` ms.
    latency_ms: u16,
    legs: [LegInput; 2],
}

#[derive(Arbitrary, Debug)]
struct LegInput {
    codec: u8,
    noise: bool,
    /// `n % 15_001` ms of audio.
    duration_ms: u16,
    /// Starts `n % 3001` ms into the call.
    start_ms: u16,
    first_sequence: u16,
    first_timestamp: u32,
    /// `n % 1001` ppm either way.
    clock_ppm: i16,
    /// Uniform extra delay up to `n % 401` ms.
    jitter_ms: u16,
    /// Loss, duplicates and reordering in percent (`n % 31`).
    loss_pct: u8,
    duplicate_pct: u8,
    reorder_pct: u8,
    /// Spikes: probability `p % 101` %, scale `s % 51` ms, capped at `max % 401` ms.
    spikes: Option<(u8, u8, u16)>,
    /// Bursts every `1 + e % 10` s, `l % 3001` ms long, `x % 301` ms of extra delay.
    bursts: Option<(u8, u16, u16)>,
    /// Loss bursts: start `s % 51` per mille, mean length `1 + m % 30` packets.
    loss_bursts: Option<(u8, u8)>,
    /// Up to three jumps at `t % 15_000` ms by any number of ticks.
    jumps: Vec<(u16, i32)>,
    first_packet_delay_ms: u16,
    /// Sends nothing for `len % 2001` ms from `at % 15_000` ms.
    dtx: Option<(u16, u16)>,
    ssrc_change_ms: Option<u16>,
}

fn codec(n: u8) -> Codec {
    match n % 3 {
        0 => Codec::Pcmu,
        1 => Codec::Pcma,
        _ => Codec::G722,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn leg_spec(input: &LegInput, index: u8, seed: u64) -> LegSpec {
    let mut leg = LegSpec::tone(codec(input.codec), [440.0, 1000.0][usize::from(index)], index);
    if input.noise {
        leg.signal = Signal::Noise(seed);
    }
    leg.duration = ms(u64::from(input.duration_ms % 15_001));
    leg.start = ms(u64::from(input.start_ms % 3001));
    leg.first_sequence = input.first_sequence;
    leg.first_timestamp = input.first_timestamp;
    leg.clock_ppm = f64::from(input.clock_ppm % 1001);
    let pct = |n: u8| f64::from(n % 31) / 100.0;
    leg.impairments = Impairments {
        loss: pct(input.loss_pct),
        jitter: ms(u64::from(input.jitter_ms % 401)),
        duplicate: pct(input.duplicate_pct),
        dtx: input
            .dtx
            .map(|(at, len)| {
                let at = ms(u64::from(at % 15_000));
                vec![(at, at + ms(u64::from(len % 2001)))]
            })
            .unwrap_or_default(),
        ssrc_change_at: input.ssrc_change_ms.map(|t| ms(u64::from(t % 15_000))),
        seed: seed ^ u64::from(index),
        network: Network {
            spikes: input.spikes.map(|(p, s, max)| Spikes {
                probability: f64::from(p % 101) / 100.0,
                scale: ms(u64::from(s % 51)),
                max: ms(u64::from(max % 401)),
            }),
            delay_bursts: input.bursts.map(|(every, length, extra)| DelayBursts {
                every: Duration::from_secs(1 + u64::from(every % 10)),
                length: ms(u64::from(length % 3001)),
                extra: ms(u64::from(extra % 301)),
            }),
            reorder: pct(input.reorder_pct),
            loss_bursts: input.loss_bursts.map(|(start, mean)| LossBursts {
                start: f64::from(start % 51) / 1000.0,
                mean_length: 1.0 + f64::from(mean % 30),
            }),
            timestamp_jumps: input
                .jumps
                .iter()
                .take(3)
                .map(|&(t, ticks)| (ms(u64::from(t % 15_000)), i64::from(ticks)))
                .collect(),
            first_packet_delay: ms(u64::from(input.first_packet_delay_ms % 1001)),
        },
        ..Impairments::default()
    };
    leg
}

/// The most extra delay (beyond the least) any packet of the leg can see, or `None` when the
/// network is not benign (loss, drift, jumps, DTX, an SSRC change).
fn benign_delay(leg: &LegSpec) -> Option<Duration> {
    let i = &leg.impairments;
    let n = &i.network;
    let lossless = i.loss == 0.0 && n.loss_bursts.as_ref().is_none_or(|b| b.start == 0.0);
    let steady = leg.clock_ppm == 0.0
        && n.timestamp_jumps.iter().all(|&(_, t)| t == 0)
        && i.dtx.is_empty()
        && i.ssrc_change_at.is_none();
    if !(lossless && steady) {
        return None;
    }
    let spikes = n.spikes.as_ref().map_or(Duration::ZERO, |s| s.max);
    let bursts = n.delay_bursts.as_ref().map_or(Duration::ZERO, |b| b.extra);
    let reorder = if n.reorder > 0.0 { ms(61) } else { Duration::ZERO };
    Some(i.jitter + spikes + bursts + reorder + n.first_packet_delay + ms(3))
}

fn payloads() -> [PayloadMap; 2] {
    let mut map = PayloadMap::with_static();
    map.retain(&[0, 8, 9]);
    [map.clone(), map]
}

fn count(out: &mut Vec<FileChunk>, appended: &mut u64) {
    for c in out.drain(..) {
        if let Chunk::Append(bytes) = c.chunk {
            *appended += bytes.len() as u64;
        }
    }
}

fuzz_target!(|input: Input| {
    let legs: Vec<LegSpec> = (0..2u8)
        .map(|i| leg_spec(&input.legs[usize::from(i)], i, input.seed))
        .collect();
    let Ok((arrivals, truths)) = datagrams(&legs) else {
        return;
    };
    let latency = ms(20 + u64::from(input.latency_ms % 481));
    let config = RecorderConfig {
        format: Format::Wav,
        jitter: JitterConfig {
            latency,
            ..JitterConfig::default()
        },
        ..RecorderConfig::default()
    };
    let mut recorder = Recorder::new(config, payloads()).expect("static audio types");
    let rate = recorder.sample_rate();
    let mut out = Vec::new();
    let mut appended = 0u64;
    for d in &arrivals {
        let leg = [Leg::A, Leg::B][d.leg];
        recorder.push(d.arrival, leg, Bytes::copy_from_slice(&d.bytes));
        while recorder.poll(d.arrival, &mut out).expect("encoding never fails") {
            count(&mut out, &mut appended);
        }
        count(&mut out, &mut appended);
    }
    let summary = recorder.finish(&mut out).expect("encoding never fails");
    count(&mut out, &mut appended);

    for (i, (leg, truth)) in summary.legs.iter().zip(&truths).enumerate() {
        let c = &leg.counts;
        assert_eq!(
            c.received,
            truth.sent - truth.lost + truth.duplicated,
            "leg {i}: received what the network delivered"
        );
        assert!(
            c.concealed_ms <= 20 * c.lost + 1,
            "leg {i}: concealed {} ms for {} lost packets",
            c.concealed_ms,
            c.lost
        );
        let delay = benign_delay(&legs[i]);
        if delay.is_some_and(|d| d + ms(25) <= latency) && truth.sent > 0 {
            assert_eq!(
                (c.lost, c.late, c.late_samples, c.resyncs),
                (0, 0, 0, 0),
                "leg {i}: a benign network within the latency loses nothing"
            );
        }
    }
    let file = &summary.files[0];
    assert_eq!(appended, file.bytes);
    assert_eq!(file.bytes, 44 + 4 * file.samples_per_channel);
    let block = 0.02;
    assert!((file.duration_secs - summary.call_duration_secs).abs() <= block + 1e-9);
    if let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) {
        let span = last.arrival.saturating_since(first.arrival).as_secs_f64();
        let bound = span + 5.0 + latency.as_secs_f64() + 1.0;
        assert!(
            summary.call_duration_secs <= bound,
            "{} s for a {span} s span",
            summary.call_duration_secs
        );
    }
    let _ = rate;
});
