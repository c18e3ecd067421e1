//! Lock-free latency histograms for the media path: shards record from their threads,
//! `/metrics` and `callrec loadtest` read quantiles. Log-linear buckets (four per octave of
//! microseconds, so a quantile is within 19% of the truth) from 1 µs to about 70 s; anything
//! longer lands in the last bucket.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Sub-buckets per power of two.
const STEPS: usize = 4;
/// Octaves of microseconds covered: 2^26 µs is about 67 s.
const OCTAVES: usize = 26;
const BUCKETS: usize = OCTAVES * STEPS;

/// Counts of delays per bucket, shared between threads.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A copy of a histogram's counts at one moment; two of them give the delays in between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencySnapshot {
    buckets: [u64; BUCKETS],
}

impl LatencyHistogram {
    pub fn record(&self, delay: Duration) {
        self.buckets[bucket_of(delay)].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
        }
    }

    pub fn count(&self) -> u64 {
        self.snapshot().count()
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.snapshot().quantile(q)
    }
}

impl LatencySnapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// What was recorded after `earlier` (a snapshot of the same histogram).
    pub fn since(&self, earlier: &LatencySnapshot) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
        }
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        let index = self.buckets.iter().position(|&n| {
            seen += n;
            seen >= rank
        })?;
        Some(Duration::from_micros(upper_bound(index)))
    }
}

/// Bucket `octave * STEPS + step` holds `[2^o + step·2^o/4, 2^o + (step+1)·2^o/4)` µs.
fn bucket_of(delay: Duration) -> usize {
    let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX).max(1);
    let octave = 63 - micros.leading_zeros() as usize;
    if octave >= OCTAVES {
        return BUCKETS - 1;
    }
    // The two bits after the leading one; below 4 µs the octave is too narrow for them.
    let step = if octave >= 2 {
        (micros >> (octave - 2)) as usize & (STEPS - 1)
    } else {
        ((micros << (2 - octave)) as usize) & (STEPS - 1)
    };
    octave * STEPS + step
}

/// The first microsecond past bucket `index`.
fn upper_bound(index: usize) -> u64 {
    let (octave, step) = (index / STEPS, index % STEPS);
    let base = 1u64 << octave;
    base + (base * (step as u64 + 1)).div_ceil(STEPS as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_within_a_quarter_octave() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.99), None);
        for _ in 0..990 {
            h.record(Duration::from_micros(300));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(5));
        }
        assert_eq!(h.count(), 1000);
        // 300 µs lies in [256, 320); 5000 µs in [4096, 5120).
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(320)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(320)));
        assert_eq!(h.quantile(0.995), Some(Duration::from_micros(5120)));
        h.record(Duration::from_secs(3600));
        assert_eq!(h.quantile(1.0), Some(Duration::from_micros(1 << 26)));
    }

    #[test]
    fn every_delay_is_below_its_bucket_bound_and_above_the_previous_one() {
        for micros in (1..5000).chain([65_535, 65_536, 1 << 25, (1 << 26) - 1]) {
            let index = bucket_of(Duration::from_micros(micros));
            assert!(micros < upper_bound(index), "{micros} µs in bucket {index}");
            if index > 0 {
                assert!(
                    micros >= upper_bound(index - 1),
                    "{micros} µs in bucket {index}"
                );
            }
        }
    }

    #[test]
    fn a_snapshot_difference_holds_only_what_came_after() {
        let h = LatencyHistogram::default();
        for _ in 0..100 {
            h.record(Duration::from_millis(40));
        }
        let before = h.snapshot();
        for _ in 0..100 {
            h.record(Duration::from_micros(10));
        }
        let step = h.snapshot().since(&before);
        assert_eq!(step.count(), 100);
        assert_eq!(step.quantile(0.99), Some(Duration::from_micros(12)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(40_960)));
    }
}
