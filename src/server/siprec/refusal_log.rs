//! How often a refused client is logged: once per source per window (a minute), with the
//! count of refusals the log did not show, so a client retransmitting an INVITE (or a flood)
//! costs one line a minute, not one per packet. Sans-IO: each call brings its own `now`.
//!
//! Bounded: at most `capacity` sources are remembered. When that many are remembered and none
//! has expired, further sources share one line per window ("and others"), so a flood from
//! spoofed addresses can neither grow the map nor the log.

use crate::time::Time;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// What to log for one refusal, when anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogLine {
    /// Refusals of this source (or of the crowd) since its last line, this one left out.
    pub(crate) suppressed: u64,
    /// The source was not remembered on its own (too many sources): the line speaks for
    /// every such source in the window.
    pub(crate) crowd: bool,
}

/// When a source was last logged, and how many refusals since went unlogged.
#[derive(Clone, Copy, Debug)]
struct Seen {
    logged_at: Time,
    suppressed: u64,
}

impl Seen {
    /// `Some` line when the window since the last one has passed; else one more suppressed.
    fn note(&mut self, now: Time, window: Duration) -> Option<u64> {
        if now.saturating_since(self.logged_at) < window {
            self.suppressed += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        self.logged_at = now;
        Some(suppressed)
    }
}

/// Once per source per window, for at most `capacity` sources.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    window: Duration,
    capacity: usize,
    sources: HashMap<IpAddr, Seen>,
    /// The sources beyond `capacity`, as one.
    crowd: Option<Seen>,
    /// No remembered source expires before this: no need to look while the map is full.
    next_expiry: Time,
}

impl RefusalLog {
    /// The server's: once a minute per source, for 4096 sources.
    pub(crate) fn per_minute() -> RefusalLog {
        RefusalLog::new(Duration::from_secs(60), 4096)
    }

    pub(crate) fn new(window: Duration, capacity: usize) -> RefusalLog {
        RefusalLog {
            window,
            capacity: capacity.max(1),
            sources: HashMap::new(),
            crowd: None,
            next_expiry: Time::from_nanos(0),
        }
    }

    /// A refusal of `source` at `now`: the line to log, or `None` when this source (or the
    /// crowd) was logged less than a window ago.
    #[must_use = "the line to log, if any"]
    pub(crate) fn note(&mut self, now: Time, source: IpAddr) -> Option<LogLine> {
        let window = self.window;
        if let Some(seen) = self.sources.get_mut(&source) {
            return seen.note(now, window).map(|suppressed| LogLine {
                suppressed,
                crowd: false,
            });
        }
        if self.sources.len() >= self.capacity && now >= self.next_expiry {
            self.forget_expired(now);
        }
        if self.sources.len() < self.capacity {
            self.sources.insert(
                source,
                Seen {
                    logged_at: now,
                    suppressed: 0,
                },
            );
            return Some(LogLine {
                suppressed: 0,
                crowd: false,
            });
        }
        match &mut self.crowd {
            Some(crowd) => crowd.note(now, window).map(|suppressed| LogLine {
                suppressed,
                crowd: true,
            }),
            None => {
                self.crowd = Some(Seen {
                    logged_at: now,
                    suppressed: 0,
                });
                Some(LogLine {
                    suppressed: 0,
                    crowd: true,
                })
            }
        }
    }

    /// Drops the sources last logged a window or more ago (their next refusal is logged
    /// anyway), and notes when the oldest of those kept will expire.
    fn forget_expired(&mut self, now: Time) {
        let window = self.window;
        self.sources
            .retain(|_, seen| now.saturating_since(seen.logged_at) < window);
        self.next_expiry = self
            .sources
            .values()
            .map(|seen| seen.logged_at + window)
            .min()
            .unwrap_or(now);
    }

    /// Sources remembered now.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Time {
        Time::from_nanos(1_700_000_000_000_000_000) + Duration::from_secs(secs)
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn line(suppressed: u64) -> Option<LogLine> {
        Some(LogLine {
            suppressed,
            crowd: false,
        })
    }

    #[test]
    fn each_source_is_logged_once_a_minute_with_what_was_left_out() {
        let mut log = RefusalLog::per_minute();
        assert_eq!(
            log.note(at(0), ip(1)),
            line(0),
            "the first refusal is logged"
        );
        for s in 1..60 {
            assert_eq!(log.note(at(s), ip(1)), None, "second {s}");
        }
        assert_eq!(
            log.note(at(10), ip(2)),
            line(0),
            "another source, its own minute"
        );
        assert_eq!(
            log.note(at(60), ip(1)),
            line(59),
            "a minute on: 59 left out"
        );
        assert_eq!(log.note(at(61), ip(1)), None);
        assert_eq!(log.note(at(69), ip(2)), None);
        assert_eq!(log.note(at(70), ip(2)), line(1));
        assert_eq!(
            log.note(at(500), ip(1)),
            line(1),
            "quiet for long: logged at once"
        );
    }

    #[test]
    fn beyond_its_capacity_new_sources_share_one_line_a_minute() {
        let mut log = RefusalLog::new(Duration::from_secs(60), 3);
        for n in 0..3 {
            assert_eq!(log.note(at(0), ip(n)), line(0));
        }
        let crowd = |suppressed| {
            Some(LogLine {
                suppressed,
                crowd: true,
            })
        };
        assert_eq!(log.note(at(1), ip(100)), crowd(0));
        for n in 101..1000 {
            assert_eq!(log.note(at(2), ip(n)), None, "source {n}");
        }
        assert_eq!(log.remembered(), 3, "the map never grows past its capacity");
        assert_eq!(
            log.note(at(30), ip(1)),
            None,
            "remembered sources keep their own"
        );
        // A minute on, the first three expire and make room again.
        assert_eq!(log.note(at(61), ip(2000)), line(0));
        assert_eq!(log.remembered(), 1);
        assert_eq!(
            log.note(at(61), ip(1)),
            line(0),
            "expired: forgotten, logged anew"
        );
        assert_eq!(log.note(at(62), ip(3000)), line(0));
        assert_eq!(
            log.note(at(62), ip(4000)),
            crowd(899),
            "full again: the crowd's line"
        );
    }
}
