//! Slows down token guessing: a source whose bearer tokens fail authentication
//! [`FAILURES_ALLOWED`] times within [`WINDOW`] is refused (429, with the seconds until it may
//! try again) for the rest of that window, whatever token it sends. Sans-IO: the caller
//! passes the time. Bounded: at most [`SOURCES`] sources are remembered; when full, the
//! stalest is forgotten (an attacker with that many addresses is not stopped by any
//! per-address limit anyway).
//!
//! A token of 256 random bits cannot be guessed at any rate; this keeps a scanner from
//! filling the logs and the database with lookups, and is what operators' security reviews
//! ask of every login.

use crate::time::Time;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Failed attempts a source may make within [`WINDOW`] before it is refused.
pub const FAILURES_ALLOWED: u32 = 10;

/// The window failures are counted in, from a source's first failure.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Sources remembered at most.
pub(crate) const SOURCES: usize = 10_000;

/// A source's failures in its current window.
#[derive(Clone, Copy, Debug)]
struct Failures {
    since: Time,
    count: u32,
}

/// The failed authentications of each recent source.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    sources: HashMap<IpAddr, Failures>,
}

impl AuthThrottle {
    /// `Err(wait)` when `source` has used up its failures for this window: refuse it without
    /// looking at its token, and tell it to come back after `wait`.
    pub fn check(&self, source: IpAddr, now: Time) -> Result<(), Duration> {
        match self.sources.get(&source) {
            Some(f) if f.count >= FAILURES_ALLOWED => {
                let ends = f.since + WINDOW;
                match now < ends {
                    true => Err(ends.saturating_since(now)),
                    false => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// `source` sent a token that does not authenticate.
    pub fn failed(&mut self, source: IpAddr, now: Time) {
        if !self.sources.contains_key(&source) && self.sources.len() >= SOURCES {
            self.forget_stalest(now);
        }
        let entry = self.sources.entry(source).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now >= entry.since + WINDOW {
            *entry = Failures {
                since: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// `source` authenticated: its earlier failures were typos, not guesses.
    pub fn succeeded(&mut self, source: IpAddr) {
        self.sources.remove(&source);
    }

    /// Makes room: every source whose window has ended, or else the one that began longest
    /// ago.
    fn forget_stalest(&mut self, now: Time) {
        self.sources.retain(|_, f| now < f.since + WINDOW);
        if self.sources.len() >= SOURCES {
            let stalest = self.sources.iter().min_by_key(|(_, f)| f.since);
            if let Some(&source) = stalest.map(|(source, _)| source) {
                self.sources.remove(&source);
            }
        }
    }

    /// Sources remembered now.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Time {
        Time::from_nanos(1_000_000_000_000_000_000 + secs * 1_000_000_000)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_source_is_refused_after_its_failures_until_the_window_ends() {
        let mut throttle = AuthThrottle::default();
        for i in 0..FAILURES_ALLOWED {
            assert_eq!(
                throttle.check(ip(1), at(u64::from(i))),
                Ok(()),
                "attempt {i}"
            );
            throttle.failed(ip(1), at(u64::from(i)));
        }
        // Ten failures from t=0 to t=9: refused until t=60, told how long is left.
        assert_eq!(throttle.check(ip(1), at(10)), Err(Duration::from_secs(50)));
        assert_eq!(throttle.check(ip(1), at(59)), Err(Duration::from_secs(1)));
        assert_eq!(
            throttle.check(ip(2), at(10)),
            Ok(()),
            "another source is not"
        );
        assert_eq!(throttle.check(ip(1), at(60)), Ok(()));
        // A new window starts with its first failure.
        throttle.failed(ip(1), at(61));
        assert_eq!(throttle.check(ip(1), at(62)), Ok(()));
    }

    #[test]
    fn a_success_forgets_the_typos_before_it() {
        let mut throttle = AuthThrottle::default();
        for _ in 0..FAILURES_ALLOWED - 1 {
            throttle.failed(ip(1), at(0));
        }
        throttle.succeeded(ip(1));
        throttle.failed(ip(1), at(1));
        assert_eq!(throttle.check(ip(1), at(2)), Ok(()));
    }

    #[test]
    fn it_remembers_a_bounded_number_of_sources_forgetting_the_stalest() {
        let mut throttle = AuthThrottle::default();
        let source = |i: usize| IpAddr::from((i as u128).to_be_bytes());
        // One a millisecond: the first is the stalest.
        let ms = |i: usize| at(0) + Duration::from_millis(i as u64);
        for i in 0..SOURCES {
            throttle.failed(source(i), ms(i));
        }
        assert_eq!(throttle.len(), SOURCES);
        // Still within everyone's window: the one that began first makes room.
        throttle.failed(source(SOURCES), at(20));
        assert_eq!(throttle.len(), SOURCES);
        assert!(!throttle.sources.contains_key(&source(0)));
        assert!(throttle.sources.contains_key(&source(SOURCES)));
        // Once windows have ended, all of those go at once.
        throttle.failed(source(SOURCES + 1), at(200));
        assert_eq!(throttle.len(), 1);
    }
}
