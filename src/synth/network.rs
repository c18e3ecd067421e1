//! The network model of the generator beyond uniform jitter, loss and duplicates: heavy-tailed
//! delay spikes, bursts of congestion delay, deliberate reordering, bursts of loss (a
//! Gilbert model) and sender timestamp jumps. Seeded and sans-IO: the same spec always gives
//! the same arrivals, so a test or the fuzzer can replay any network exactly.
//!
//! It draws from a random stream of its own (never the one uniform jitter, loss and
//! duplicates draw from), so a spec that leaves it at its default makes byte for byte the
//! capture it made before the model existed.

use super::SplitMix;
use std::time::Duration;

/// Everything of the network model a leg can turn on; the default turns nothing on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    pub spikes: Option<Spikes>,
    pub delay_bursts: Option<DelayBursts>,
    /// Probability that a packet is held back behind the next 1..=3 packets (it arrives that
    /// many packet times, plus a millisecond, later than it would have).
    pub reorder: f64,
    pub loss_bursts: Option<LossBursts>,
    /// From these points (from the leg's start) on, the sender's timestamps are this many
    /// ticks off (summed): a sender restarting its clock without a new SSRC or sequence.
    pub timestamp_jumps: Vec<(Duration, i64)>,
    /// Extra delay of the leg's first packet alone (a first packet that waited on a route
    /// being set up, an ARP lookup): it says nothing of the leg's clock.
    pub first_packet_delay: Duration,
}

/// Heavy-tailed delay: with `probability` a packet is delayed by an extra Pareto (α = 1.5)
/// amount of scale `scale`, never more than `max`. Most spikes are small, a few are huge.
#[derive(Clone, Debug, PartialEq)]
pub struct Spikes {
    pub probability: f64,
    pub scale: Duration,
    pub max: Duration,
}

/// Congestion: episodes start about every `every` and last `length`; within one the extra
/// delay rises linearly to `extra` and falls back (a triangle), so consecutive packets share
/// most of their delay, as behind a filling queue.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayBursts {
    pub every: Duration,
    pub length: Duration,
    pub extra: Duration,
}

/// A Gilbert loss model: from a good state a packet starts a burst with `start`; within a
/// burst every packet is lost, and the burst lasts `mean_length` packets on average.
#[derive(Clone, Debug, PartialEq)]
pub struct LossBursts {
    pub start: f64,
    pub mean_length: f64,
}

/// The model's state for one leg while its packets are sent.
pub(super) struct LegNetwork {
    spec: Network,
    rng: SplitMix,
    ptime: f64,
    first: bool,
    /// The congestion episode in progress or next: (start, end) in seconds of send time.
    burst: Option<(f64, f64)>,
    in_loss_burst: bool,
}

impl LegNetwork {
    pub(super) fn new(impairments: &super::Impairments, ssrc: u32, ptime: Duration) -> Self {
        let seed = impairments.seed ^ u64::from(ssrc) ^ 0x6e65_7477_6f72_6b21; // "network!"
        let mut rng = SplitMix::new(seed);
        let spec = impairments.network.clone();
        let burst = spec
            .delay_bursts
            .as_ref()
            .map(|b| next_burst(&mut rng, b, 0.0));
        LegNetwork {
            spec,
            rng,
            ptime: ptime.as_secs_f64(),
            first: true,
            burst,
            in_loss_burst: false,
        }
    }

    /// Extra delay, in seconds, of the packet sent at `sent_at` (seconds), beyond uniform
    /// jitter. Called once per packet, in sending order.
    pub(super) fn extra_delay(&mut self, sent_at: f64) -> f64 {
        let mut extra = 0.0;
        if std::mem::take(&mut self.first) {
            extra += self.spec.first_packet_delay.as_secs_f64();
        }
        if let Some(spikes) = &self.spec.spikes {
            if self.rng.unit() < spikes.probability {
                // Pareto by inversion: scale / u^(1/α), less the scale so small spikes are small.
                let u = 1.0 - self.rng.unit(); // (0, 1]
                let pareto = spikes.scale.as_secs_f64() * (u.powf(-1.0 / 1.5) - 1.0);
                extra += pareto.min(spikes.max.as_secs_f64());
            }
        }
        if let Some(bursts) = &self.spec.delay_bursts {
            while let Some((_, end)) = self.burst.filter(|&(_, end)| sent_at >= end) {
                self.burst = Some(next_burst(&mut self.rng, bursts, end));
            }
            if let Some((start, end)) = self.burst.filter(|&(start, _)| sent_at >= start) {
                let half = (end - start) / 2.0;
                let from_edge = half - (sent_at - start - half).abs();
                extra += bursts.extra.as_secs_f64() * (from_edge / half).clamp(0.0, 1.0);
            }
        }
        if self.spec.reorder > 0.0 && self.rng.unit() < self.spec.reorder {
            let behind = 1 + self.rng.next_u64() % 3;
            extra += behind as f64 * self.ptime + 0.001;
        }
        extra
    }

    /// Whether the next packet is lost in a burst. Called once per packet, in sending order.
    pub(super) fn lost(&mut self) -> bool {
        let Some(bursts) = &self.spec.loss_bursts else {
            return false;
        };
        let (start, mean) = (bursts.start, bursts.mean_length.max(1.0));
        self.in_loss_burst = if self.in_loss_burst {
            self.rng.unit() >= 1.0 / mean
        } else {
            self.rng.unit() < start
        };
        self.in_loss_burst
    }

    /// How many ticks the sender's timestamps are off at `t` from the leg's start.
    pub(super) fn timestamp_jump(&self, t: Duration) -> u32 {
        let ticks: i64 = self
            .spec
            .timestamp_jumps
            .iter()
            .filter(|&&(at, _)| at <= t)
            .map(|&(_, ticks)| ticks)
            .sum();
        ticks as u32 // wrapping, as on the wire
    }
}

/// The next congestion episode after `after` seconds: a gap of 0.5..1.5 × `every`, then
/// `length`.
fn next_burst(rng: &mut SplitMix, bursts: &DelayBursts, after: f64) -> (f64, f64) {
    let gap = bursts.every.as_secs_f64() * (0.5 + rng.unit());
    let start = after + gap;
    (start, start + bursts.length.as_secs_f64().max(1e-3))
}

#[cfg(test)]
mod tests {
    use super::super::Impairments;
    use super::*;

    fn leg(network: Network) -> LegNetwork {
        let impairments = Impairments {
            seed: 7,
            network,
            ..Impairments::default()
        };
        LegNetwork::new(&impairments, 1, Duration::from_millis(20))
    }

    #[test]
    fn the_default_network_does_nothing_and_draws_nothing() {
        let mut net = leg(Network::default());
        let before = net.rng.0;
        for i in 0..100 {
            assert_eq!(net.extra_delay(f64::from(i) * 0.02), 0.0);
            assert!(!net.lost());
        }
        assert_eq!(net.timestamp_jump(Duration::from_secs(5)), 0);
        assert_eq!(net.rng.0, before);
    }

    #[test]
    fn spikes_are_heavy_tailed_and_capped() {
        let mut net = leg(Network {
            spikes: Some(Spikes {
                probability: 1.0,
                scale: Duration::from_millis(10),
                max: Duration::from_millis(150),
            }),
            ..Network::default()
        });
        let mut delays: Vec<f64> = (0..10_000).map(|_| net.extra_delay(0.0)).collect();
        delays.sort_by(f64::total_cmp);
        let median = delays[5000];
        // Pareto α = 1.5: median scale * (2^(2/3) - 1) ≈ 5.9 ms; a long tail up to the cap.
        assert!((0.004..0.008).contains(&median), "median {median}");
        assert!(delays[9990] > 0.1, "tail {}", delays[9990]);
        assert!(delays[9999] <= 0.150 + 1e-12);
    }

    #[test]
    fn delay_bursts_rise_and_fall_and_losses_come_in_runs() {
        let mut net = leg(Network {
            delay_bursts: Some(DelayBursts {
                every: Duration::from_secs(2),
                length: Duration::from_millis(600),
                extra: Duration::from_millis(80),
            }),
            loss_bursts: Some(LossBursts {
                start: 0.01,
                mean_length: 5.0,
            }),
            ..Network::default()
        });
        let delays: Vec<f64> = (0..1500)
            .map(|i| net.extra_delay(f64::from(i) * 0.02))
            .collect();
        let peak = delays.iter().copied().fold(0.0, f64::max);
        assert!(peak > 0.07 && peak <= 0.08 + 1e-9, "peak {peak}");
        let steps = delays.windows(2).map(|w| (w[1] - w[0]).abs());
        assert!(
            steps.fold(0.0, f64::max) < 0.01,
            "a burst ramps, it does not jump"
        );
        let quiet = delays.iter().filter(|&&d| d == 0.0).count();
        assert!(quiet > 750, "mostly no congestion: {quiet}");

        let lost: Vec<bool> = (0..20_000).map(|_| net.lost()).collect();
        let runs = lost.windows(2).filter(|w| !w[0] && w[1]).count();
        let total = lost.iter().filter(|&&l| l).count();
        let mean_run = total as f64 / runs as f64;
        assert!((4.0..6.0).contains(&mean_run), "mean run {mean_run}");
    }

    #[test]
    fn timestamp_jumps_add_up_from_their_time_on() {
        let net = leg(Network {
            timestamp_jumps: vec![
                (Duration::from_secs(1), 8000),
                (Duration::from_secs(2), -16000),
            ],
            ..Network::default()
        });
        assert_eq!(net.timestamp_jump(Duration::from_millis(999)), 0);
        assert_eq!(net.timestamp_jump(Duration::from_secs(1)), 8000);
        assert_eq!(
            net.timestamp_jump(Duration::from_secs(3)),
            (-8000i64) as u32
        );
    }
}
