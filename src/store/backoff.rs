//! Retry delays: capped exponential backoff with jitter, so a fleet of workers that lost the
//! store at the same moment does not hammer it in step when it comes back. Sans-IO: the caller
//! sleeps.

use std::time::Duration;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first delay's upper bound.
    pub initial: Duration,
    /// No delay exceeds this.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

/// Delay `n` (from 0) is uniform in `[ceiling/2, ceiling]` with `ceiling = min(max,
/// initial * 2^n)`: never zero (a dead store is not retried in a tight loop), never above the cap.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// `seed` decorrelates workers (any value; zero is fine).
    pub(crate) fn new(config: BackoffConfig, seed: u64) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .config
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.config.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let nanos = u64::try_from(ceiling.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.random() % nanos.saturating_add(1))
    }

    /// How many delays were handed out (failed attempts so far).
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    /// SplitMix64: small, fast, good enough to spread retries.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let config = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let mut backoff = Backoff::new(config, 7);
        let ceilings = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for (n, ceiling) in ceilings.into_iter().enumerate() {
            let d = backoff.next_delay();
            let ceiling = Duration::from_millis(ceiling);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {n}: {d:?}");
        }
        assert_eq!(backoff.attempts(), 8);
        for _ in 0..100 {
            assert!(backoff.next_delay() <= config.max);
        }
    }

    #[test]
    fn seeds_spread_workers_apart() {
        let delays: std::collections::HashSet<Duration> = (0..16)
            .map(|seed| Backoff::new(BackoffConfig::default(), seed).next_delay())
            .collect();
        assert!(delays.len() > 12, "{delays:?}");
    }
}
