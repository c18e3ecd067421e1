//! The recorder driven by the generator's network model: delay (uniform, heavy-tailed spikes,
//! congestion bursts), reordering, duplicates, loss and bursts of loss, sender clock drift and
//! timestamp jumps. Each test records a two-leg PCMU call of noise (so each stretch of audio
//! has one place it matches) and measures per leg: frames bit-exact with what was sent, the
//! placement second by second, the legs' relative offset, and the concealed time.

mod common;

use bytes::Bytes;
use callrec::encode::Format;
use callrec::media::codec::Codec;
use callrec::recorder::summary::Summary;
use callrec::recorder::{Leg, Recorder, RecorderConfig};
use callrec::synth::measure::{place_leg, LegPlacement};
use callrec::synth::network::{DelayBursts, LossBursts, Network, Spikes};
use callrec::synth::{datagrams, sent_audio, Impairments, LegSpec, Signal};
use common::*;
use std::time::Duration;

const RATE: u32 = 8000;
/// Leg B starts this long after leg A (in samples at 8 kHz: 250 ms).
const B_AFTER: i64 = 2000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two PCMU legs of gated noise (1.2 s on, 0.8 s off: speech-like, with silences where a
/// drift follower is free to move a leg), B starting 250 ms after A, both through `network`
/// (each leg its own seed).
fn call(secs: u64, impairments: impl Fn(u64) -> Impairments) -> Vec<LegSpec> {
    (0..2u8)
        .map(|i| {
            let mut leg = LegSpec::tone(Codec::Pcmu, 440.0, i);
            leg.signal = Signal::Noise(0x5eed + u64::from(i));
            leg.gate = Some((ms(1200), ms(800)));
            leg.duration = Duration::from_secs(secs);
            leg.start = ms(250 * u64::from(i));
            leg.impairments = impairments(u64::from(i) + 1);
            leg
        })
        .collect()
}

struct Measured {
    legs: [LegPlacement; 2],
    summary: Summary,
}

impl Measured {
    /// B's placement minus A's, in samples.
    fn relative(&self) -> Option<i64> {
        Some(self.legs[1].placement? - self.legs[0].placement?)
    }

    fn report(&self, name: &str) -> String {
        let leg = |p: &LegPlacement| {
            let (lo, hi) = p.range().unwrap_or((0, 0));
            format!(
                "{}/{} frames exact, placement {:.3}..{:.3} ms, corr {:.4}",
                p.exact_frames,
                p.frames,
                lo as f64 / 8.0,
                hi as f64 / 8.0,
                p.correlation
            )
        };
        format!(
            "{name}: A {} | B {} | B-A {:?} ms | concealed {} / {} ms",
            leg(&self.legs[0]),
            leg(&self.legs[1]),
            self.relative().map(|r| r as f64 / 8.0),
            self.summary.legs[0].counts.concealed_ms,
            self.summary.legs[1].counts.concealed_ms,
        )
    }

    /// Both legs bit-exact, each at one placement all call long, 250 ms apart within 1 ms.
    fn assert_faithful(&self, name: &str) {
        let report = self.report(name);
        eprintln!("{report}");
        for p in &self.legs {
            assert!(p.bit_exact(), "{report}");
            assert!(p.constant(), "{report}: {:?}", p.per_second);
        }
        assert_eq!(self.legs[0].placement, Some(0), "{report}");
        let relative = self.relative().expect("both legs placed");
        assert!((relative - B_AFTER).abs() <= 8, "{report}");
    }
}

/// Records `legs` (arrival order, one poll after each datagram, as a live server does) to a
/// stereo WAV and finds each leg in its channel.
fn record(legs: &[LegSpec], config: RecorderConfig) -> Measured {
    let (arrivals, truths) = datagrams(legs).expect("the legs encode");
    let mut recorder = Recorder::new(config, pcmu()).expect("recorder");
    let mut chunks = Vec::new();
    for d in &arrivals {
        let leg = [Leg::A, Leg::B][d.leg];
        recorder.push(d.arrival, leg, Bytes::copy_from_slice(&d.bytes));
        while recorder.poll(d.arrival, &mut chunks).expect("poll") {}
    }
    let summary = recorder.finish(&mut chunks).expect("finish");
    let mut file = Vec::new();
    for chunk in chunks {
        apply(&mut file, chunk.chunk);
    }
    let (rate, channels) = wav_channels(&file);
    assert_eq!(rate, RATE);
    let placements = [0, 1].map(|i| {
        let sent = sent_audio(&legs[i]).expect("encodes");
        let guess = legs[i].start.as_millis() as i64 * 8;
        place_leg(
            &channels[i],
            &sent,
            160,
            &truths[i].delivered,
            RATE,
            guess,
            1600,
        )
    });
    Measured {
        legs: placements,
        summary,
    }
}

fn pcmu() -> [callrec::recorder::payload::PayloadMap; 2] {
    let mut map = callrec::recorder::payload::PayloadMap::with_static();
    map.retain(&[0]);
    [map.clone(), map]
}

fn wav() -> RecorderConfig {
    RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    }
}

fn impaired(seed: u64, jitter_ms: u64, duplicate: f64, reorder: f64) -> Impairments {
    Impairments {
        jitter: ms(jitter_ms),
        duplicate,
        seed,
        network: Network {
            reorder,
            ..Network::default()
        },
        ..Impairments::default()
    }
}

/// The issue's table: 45 s, leg B 250 ms after A, no loss. Every row bit-exact, each leg at
/// one place for the whole call, B exactly 250 ms after A.
#[test]
fn the_issue_table_rows_are_bit_exact_with_constant_placement() {
    #[rustfmt::skip]
    let rows: [(&str, u64, f64, f64); 5] = [
        ("none", 0, 0.0, 0.0),
        ("2% duplicated", 0, 0.02, 0.0),
        ("uniform 0-30 ms delay", 30, 0.0, 0.0),
        ("3% reordered", 0, 0.0, 0.03),
        ("the three together", 30, 0.02, 0.03),
    ];
    for (name, jitter, duplicate, reorder) in rows {
        let legs = call(45, |seed| impaired(seed, jitter, duplicate, reorder));
        let m = record(&legs, wav());
        m.assert_faithful(name);
        for leg in &m.summary.legs {
            assert_eq!(leg.counts.lost, 0, "{name}");
            assert_eq!(leg.counts.concealed_ms, 0, "{name}");
            assert_eq!(leg.counts.drift_correction_samples, 0, "{name}");
        }
    }
}

/// Heavy-tailed spikes and congestion bursts, each within the jitter buffer's depth, move
/// nothing either.
#[test]
fn spikes_and_delay_bursts_within_the_buffer_move_nothing() {
    let spikes = |seed| Impairments {
        jitter: ms(10),
        seed,
        network: Network {
            spikes: Some(Spikes {
                probability: 0.2,
                scale: ms(15),
                max: ms(170),
            }),
            reorder: 0.02,
            ..Network::default()
        },
        ..Impairments::default()
    };
    let bursts = |seed| Impairments {
        jitter: ms(20),
        duplicate: 0.02,
        seed,
        network: Network {
            delay_bursts: Some(DelayBursts {
                every: Duration::from_secs(4),
                length: ms(1500),
                extra: ms(150),
            }),
            ..Network::default()
        },
        ..Impairments::default()
    };
    for (name, legs) in [
        ("heavy-tailed spikes", call(45, spikes)),
        ("delay bursts", call(45, bursts)),
    ] {
        let m = record(&legs, wav());
        m.assert_faithful(name);
        for leg in &m.summary.legs {
            assert_eq!(leg.counts.drift_correction_samples, 0, "{name}");
        }
    }
}

/// The first packet of each leg arriving late (over a uniform 0-4 ms jitter) does not shift
/// its leg: each leg sits where its least-delayed packets put it, and the relative offset is
/// the true one.
#[test]
fn a_late_first_packet_does_not_shift_its_leg() {
    for first_delays in [[25u64, 3], [3, 25], [28, 28], [150, 0]] {
        let legs = call(10, |seed| Impairments {
            jitter: ms(4),
            seed,
            network: Network {
                first_packet_delay: ms(first_delays[seed as usize - 1]),
                ..Network::default()
            },
            ..Impairments::default()
        });
        let m = record(&legs, wav());
        m.assert_faithful(&format!("first packets {first_delays:?} ms late"));
    }
}

/// Prints the measurements behind the README's table (run with `--ignored --nocapture`):
/// the issue's rows, then uniform jitter swept up to and past the jitter buffer's depth
/// (200 ms), each with 2% duplicates and 3% reordering.
#[test]
#[ignore = "prints a table; run by hand"]
fn print_the_sweep() {
    #[rustfmt::skip]
    let rows: [(&str, u64, f64, f64); 5] = [
        ("none", 0, 0.0, 0.0),
        ("2% duplicated", 0, 0.02, 0.0),
        ("uniform 0-30 ms delay", 30, 0.0, 0.0),
        ("3% reordered", 0, 0.0, 0.03),
        ("the three together", 30, 0.02, 0.03),
    ];
    for (name, jitter, duplicate, reorder) in rows {
        let legs = call(45, |seed| impaired(seed, jitter, duplicate, reorder));
        println!("{}", record(&legs, wav()).report(name));
    }
    #[rustfmt::skip]
    let sweep = [(60, 0.03), (100, 0.03), (150, 0.03), (160, 0.03), (180, 0.03), (190, 0.03),
                 (200, 0.03), (250, 0.03), (150, 0.0), (190, 0.0), (200, 0.0), (210, 0.0),
                 (220, 0.0), (250, 0.0), (300, 0.0)];
    for (jitter, reorder) in sweep {
        let legs = call(45, |seed| impaired(seed, jitter, 0.02, reorder));
        let m = record(&legs, wav());
        let lost: Vec<u64> = m.summary.legs.iter().map(|l| l.counts.lost).collect();
        let late: Vec<u64> = m.summary.legs.iter().map(|l| l.counts.late).collect();
        let corrections: Vec<i64> = m
            .summary
            .legs
            .iter()
            .map(|l| l.counts.drift_correction_samples)
            .collect();
        let late_samples: Vec<u64> = m
            .summary
            .legs
            .iter()
            .map(|l| l.counts.late_samples)
            .collect();
        let resyncs: Vec<u64> = m.summary.legs.iter().map(|l| l.counts.resyncs).collect();
        println!(
            "{} | lost {lost:?} late {late:?} late samples {late_samples:?} resyncs {resyncs:?} drift corrections {corrections:?}",
            m.report(&format!("uniform 0-{jitter} ms + 2% dup + {reorder} reorder"))
        );
    }
}

/// Drops leg A's packets with sequence numbers in `lost` from a clean call's arrivals.
fn without(legs: &[LegSpec], lost: std::ops::Range<u16>) -> Vec<callrec::synth::Arrival> {
    let (arrivals, _) = datagrams(legs).expect("encodes");
    arrivals
        .into_iter()
        .filter(|d| {
            let seq = u16::from_be_bytes([d.bytes[2], d.bytes[3]]);
            d.leg != 0 || !lost.contains(&seq)
        })
        .collect()
}

/// Records arrivals as they come and returns the stereo channels and the summary.
fn record_arrivals(arrivals: &[callrec::synth::Arrival]) -> (Vec<Vec<i16>>, Summary) {
    let mut recorder = Recorder::new(wav(), pcmu()).expect("recorder");
    let mut chunks = Vec::new();
    for d in arrivals {
        recorder.push(
            d.arrival,
            [Leg::A, Leg::B][d.leg],
            Bytes::copy_from_slice(&d.bytes),
        );
        while recorder.poll(d.arrival, &mut chunks).expect("poll") {}
    }
    let summary = recorder.finish(&mut chunks).expect("finish");
    let mut file = Vec::new();
    for chunk in chunks {
        apply(&mut file, chunk.chunk);
    }
    (wav_channels(&file).1, summary)
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

/// Concealment sits where the loss was: right after the last packet heard, fading out over
/// 60 ms; a gap longer than the concealment limit (200 ms) is silent after the fade, and
/// nothing made up sits just before the next packet. Every packet that arrived is exact.
#[test]
fn concealment_starts_where_the_loss_was_and_a_long_gap_is_silent_after_the_fade() {
    let mut legs = call(6, |seed| Impairments {
        seed,
        ..Impairments::default()
    });
    for leg in &mut legs {
        leg.gate = None; // sound all through: the loss is in the middle of it
        leg.signal = Signal::Sine;
    }
    let first = legs[0].first_sequence;
    // A 600 ms gap (frames 100..130) and a 40 ms one (frames 200..202).
    let mut arrivals = without(&legs, first + 100..first + 130);
    let short = first + 200..first + 202;
    arrivals
        .retain(|d| d.leg != 0 || !short.contains(&u16::from_be_bytes([d.bytes[2], d.bytes[3]])));
    let (channels, summary) = record_arrivals(&arrivals);
    let a = &channels[0];
    let sent = sent_audio(&legs[0]).expect("encodes");
    let frame = |k: usize| &a[k * 160..(k + 1) * 160];
    let before = energy(frame(99));
    // Long gap: the first concealed frame carries most of the old level and the fade goes
    // down; from 60 ms on it is silent, up to the very next packet.
    let first_20 = energy(frame(100));
    let third_20 = energy(frame(102));
    assert!(
        first_20 > before * 0.2,
        "concealment right after the last packet: {first_20} vs {before}"
    );
    assert!(
        third_20 < first_20 * 0.5,
        "it fades: {third_20} vs {first_20}"
    );
    assert_eq!(
        peak(&a[103 * 160..130 * 160]),
        0,
        "silent after the fade, up to the next packet"
    );
    // Short gap: concealed whole, from its start, fading.
    assert!(energy(frame(200)) > before * 0.2);
    assert!(energy(frame(201)) < energy(frame(200)));
    // Everything that arrived is sample for sample what was sent.
    for k in (0..300).filter(|k| !(100..130).contains(k) && !(200..202).contains(k)) {
        assert!(frame(k) == &sent[k * 160..(k + 1) * 160], "frame {k} exact");
    }
    let counts = &summary.legs[0].counts;
    assert_eq!(counts.lost, 32);
    assert_eq!(
        counts.concealed_ms,
        200 + 40,
        "the limit, then the short gap whole"
    );
}

/// Random loss and bursts of loss under jitter, duplicates and reordering: every packet that
/// arrived is still exact and in one place, and the concealed time is what the gaps were
/// (each up to the 200 ms limit).
#[test]
fn loss_and_bursts_of_loss_conceal_exactly_the_gaps() {
    let legs = call(45, |seed| Impairments {
        jitter: ms(30),
        duplicate: 0.02,
        loss: 0.02,
        seed,
        network: Network {
            reorder: 0.03,
            loss_bursts: Some(LossBursts {
                start: 0.004,
                mean_length: 15.0,
            }),
            ..Network::default()
        },
        ..Impairments::default()
    });
    let (_, truths) = datagrams(&legs).expect("encodes");
    let m = record(&legs, wav());
    m.assert_faithful("2% loss + bursts of loss + jitter, duplicates, reordering");
    for (leg, truth) in m.summary.legs.iter().zip(&truths) {
        // Runs of lost frames between two delivered ones.
        let fates: Vec<bool> = truth.delivered.iter().map(|f| f == &Some(true)).collect();
        let first = fates.iter().position(|&d| d).expect("some arrive");
        let last = fates.iter().rposition(|&d| d).expect("some arrive");
        let gaps: Vec<u64> = fates[first..=last]
            .split(|&d| d)
            .map(|run| run.len() as u64)
            .filter(|&n| n > 0)
            .collect();
        assert!(
            gaps.iter().any(|&n| n > 10),
            "a burst longer than the limit: {gaps:?}"
        );
        assert!(gaps.contains(&1), "and single losses: {gaps:?}");
        let expected: u64 = gaps.iter().map(|&n| (n * 20).min(200)).sum();
        assert_eq!(leg.counts.lost, gaps.iter().sum::<u64>());
        assert_eq!(leg.counts.concealed_ms, expected);
    }
}

/// Real clock drift is still followed: A's sender clock 300 ppm slow and B's 300 ppm fast,
/// under 30 ms of jitter with reordering. Each second of each leg sits within 8 ms of where
/// the drifting clock puts it, the corrections happen in the silences (so the audio itself
/// stays exact), and they add up to the drift.
#[test]
fn real_drift_is_followed_in_the_silences() {
    let mut legs = call(120, |seed| impaired(seed, 30, 0.0, 0.03));
    legs[0].clock_ppm = 300.0;
    legs[1].clock_ppm = -300.0;
    let m = record(&legs, wav());
    eprintln!("{}", m.report("300 ppm drift"));
    for (i, p) in m.legs.iter().enumerate() {
        let ppm = legs[i].clock_ppm * 1e-6;
        let start = legs[i].start.as_secs_f64() * 8000.0;
        for (s, placement) in p.per_second.iter().enumerate() {
            let Some(placement) = placement else { continue };
            // The leg's second s is heard at start + s * (1 + ppm): its placement (where its
            // sample 0 would be, given that second) moves by s * ppm.
            let ideal = start + s as f64 * 8000.0 * ppm;
            assert!(
                (*placement as f64 - ideal).abs() <= 64.0,
                "leg {i} second {s}: {placement} vs {ideal}"
            );
        }
        assert!(
            p.exact_anywhere * 100 >= p.frames * 99,
            "{}",
            m.report("drift")
        );
        let corrections = m.summary.legs[i].counts.drift_correction_samples;
        let expected = 120.0 * 8000.0 * ppm;
        assert!(
            (corrections as f64 - expected).abs() < 64.0,
            "leg {i}: {corrections}"
        );
    }
}

/// A sender that jumps its timestamps 1 s ahead mid-call (no new SSRC or sequence) is
/// re-anchored within a few frames: the audio after the jump stays where time put it.
#[test]
fn a_timestamp_jump_is_reanchored_within_a_few_frames() {
    let legs = call(20, |seed| Impairments {
        seed,
        network: Network {
            timestamp_jumps: vec![(Duration::from_millis(10_010), 8000)],
            ..Network::default()
        },
        ..Impairments::default()
    });
    let m = record(&legs, wav());
    eprintln!("{}", m.report("timestamp jump"));
    for (i, p) in m.legs.iter().enumerate() {
        assert!(
            p.frames - p.exact_frames <= 6,
            "leg {i}: {}",
            m.report("jump")
        );
        assert_eq!(m.summary.legs[i].counts.resyncs, 1);
        assert_eq!(p.placement, Some([0, B_AFTER][i]));
    }
}

/// A leg that starts seconds after the other has ended, its first packets reordered and the
/// very first one late (the fuzzer's first finding): the mixer waits for it, so nothing of it
/// is written late, and it is bit-exact in one place.
#[test]
fn a_leg_starting_late_with_a_reordered_start_loses_nothing() {
    for seed in 1..=8 {
        let mut legs = call(6, |s| Impairments {
            seed: seed * 10 + s,
            network: Network {
                reorder: 0.13,
                first_packet_delay: ms(44),
                ..Network::default()
            },
            ..Impairments::default()
        });
        legs[1].start = Duration::ZERO;
        legs[1].duration = ms(560);
        legs[0].start = ms(2300);
        let m = record(&legs, wav());
        let report = m.report(&format!("seed {seed}"));
        for (leg, p) in m.summary.legs.iter().zip(&m.legs) {
            assert_eq!(
                (leg.counts.late_samples, leg.counts.lost),
                (0, 0),
                "{report}"
            );
            assert!(p.bit_exact() && p.constant(), "{report}");
        }
    }
}
