//! When a failed delivery is tried again: capped exponential backoff with jitter (the
//! store's [`Backoff`], so a receiver back from an outage is not hit by every event at once),
//! and when it is given up: once the next try would fall after the event's deadline.

use crate::store::backoff::{Backoff, BackoffConfig};
use crate::time::Time;
use std::time::Duration;

/// The retry settings (`[webhooks]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The first retry's delay is at most this (and at least half).
    pub initial: Duration,
    /// No delay exceeds this.
    pub max: Duration,
    /// An event still undelivered this long after it was written is given up.
    pub give_up_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// What to do after delivery number `attempts` (from 1) of an event written at `created`
/// failed at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    RetryAt(Time),
    /// The deadline has passed: stop trying.
    GiveUp,
}

/// The next step for an event after its `attempts`-th failure. `seed` (say, a hash of the
/// event's id) spreads events apart within each delay's jitter.
pub fn after_failure(retry: &Retry, seed: u64, attempts: u32, created: Time, now: Time) -> Next {
    let mut backoff = Backoff::new(
        BackoffConfig {
            initial: retry.initial,
            max: retry.max,
        },
        seed,
    );
    // Past 40 doublings every delay is the cap; no need to walk further.
    let mut delay = backoff.next_delay();
    for _ in 1..attempts.min(40) {
        delay = backoff.next_delay();
    }
    let at = now + delay;
    if at.saturating_since(created) > retry.give_up_after {
        Next::GiveUp
    } else {
        Next::RetryAt(at)
    }
}

/// A seed from an event id (FNV-1a), so each event's jitter is its own but repeatable.
pub fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn delays_double_from_the_first_to_the_cap() {
        let retry = Retry::default();
        let created = Time::from_nanos(1_000 * S);
        let ceilings = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600];
        for (n, ceiling) in ceilings.into_iter().enumerate() {
            let attempts = n as u32 + 1;
            let Next::RetryAt(at) =
                after_failure(&retry, seed("evt_a"), attempts, created, created)
            else {
                panic!("attempt {attempts} gave up");
            };
            let delay = at.saturating_since(created);
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempts}: {delay:?} not within {ceiling:?}"
            );
        }
    }

    #[test]
    fn an_event_is_given_up_once_its_next_try_falls_past_the_deadline() {
        let retry = Retry::default();
        let created = Time::from_nanos(1_000 * S);
        let nearly = created + Duration::from_secs(24 * 3600 - 700);
        assert!(matches!(
            after_failure(&retry, 1, 30, created, nearly),
            Next::RetryAt(_)
        ));
        let late = created + Duration::from_secs(24 * 3600);
        assert_eq!(after_failure(&retry, 1, 30, created, late), Next::GiveUp);
    }

    #[test]
    fn seeds_differ_by_event() {
        assert_ne!(seed("evt_a"), seed("evt_b"));
        assert_eq!(seed("evt_a"), seed("evt_a"));
    }
}
