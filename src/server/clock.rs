//! The server's clock: the one place the live server reads the time. Everything below it
//! (recorder, SIP, policy) is handed `now`.
//!
//! It reads the wall clock once, then moves on with the monotonic clock: a step of the
//! system clock (NTP, an operator) never makes time go back or leap under a call, which would
//! reorder its packets and bend its delay measurements. The monotonic clock is slewed with
//! NTP like the wall clock, so the two stay together but for steps.

use crate::time::Time;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// When the clock was first read: on both clocks.
static ANCHOR: OnceLock<(Instant, Time)> = OnceLock::new();

/// Now, as nanoseconds since the Unix epoch (a wall clock before 1970 reads as the epoch).
pub fn now() -> Time {
    let (instant, wall) = *ANCHOR.get_or_init(|| (Instant::now(), wall_now()));
    wall + instant.elapsed()
}

/// How long ago a wall-clock stamp was (a kernel's receive timestamp, which is on the wall
/// clock), read on the wall clock too: a step of the clock since [`now`] was anchored cannot
/// skew it.
pub fn since_wall_stamp(stamp: Time) -> std::time::Duration {
    wall_now().saturating_since(stamp)
}

fn wall_now() -> Time {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Time::from_nanos(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_never_goes_back_and_starts_at_the_wall_clock() {
        let wall = wall_now();
        let mut last = now();
        assert!(last.saturating_since(wall) < std::time::Duration::from_secs(1));
        assert!(wall.saturating_since(last) < std::time::Duration::from_secs(1));
        for _ in 0..100_000 {
            let next = now();
            assert!(next >= last);
            last = next;
        }
    }
}
