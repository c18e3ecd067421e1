//! Time as an input. The core never reads a clock: every packet arrives with the [`Time`] at
//! which the capture or the socket saw it, and every deadline is returned as a [`Time`].

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant on the clock that delivered the packets, in nanoseconds since the Unix epoch
/// (pcap timestamps are UTC; the live server maps its monotonic clock onto UTC at start).
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub const fn from_nanos(nanos: u64) -> Self {
        Time(nanos)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Time((secs.max(0.0) * 1e9) as u64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T15:52:20.123Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1_000_000_000;
        let millis = (self.0 % 1_000_000_000) / 1_000_000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    }

    /// Reads what [`Time::to_rfc3339`] writes: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, UTC only.
    pub fn parse_rfc3339(text: &str) -> Option<Time> {
        let b = text.as_bytes();
        let digits = |from: usize, len: usize| -> Option<u64> {
            let part = b.get(from..from + len)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
        };
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) || b.last() != Some(&b'Z') {
            return None;
        }
        let (y, m, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
        let (hh, mm, ss) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
        let valid = (1970..=9999).contains(&y)
            && (1..=12).contains(&m)
            && (1..=31).contains(&d)
            && hh < 24
            && mm < 60
            && ss < 60;
        let fraction = &b[19..b.len() - 1];
        let nanos = match fraction {
            [] => 0,
            [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
                digits(20, rest.len())? * 10u64.pow(9 - rest.len() as u32)
            }
            _ => return None,
        };
        let days = u64::try_from(days_from_civil(y as i64, m as u32, d as u32)).ok()?;
        let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
        (valid && civil_from_days(days as i64) == (y as i64, m as u32, d as u32))
            .then(|| Time(secs * 1_000_000_000 + nanos))
    }

    /// The UTC calendar date (year, month, day).
    pub fn date(self) -> (u32, u32, u32) {
        let (y, m, d) = civil_from_days((self.0 / 1_000_000_000 / 86_400) as i64);
        (y as u32, m, d)
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `d` in nanoseconds, at most `u64::MAX` (585 years): arithmetic on [`Time`] saturates
/// rather than wrapping, so a huge duration pins the result to the clock's end or start.
fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(saturating_nanos(d)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(saturating_nanos(d)))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_reads_back_what_it_writes_and_refuses_the_rest() {
        for nanos in [
            0,
            1_764_083_540_123_000_000,
            951_782_400_000_000_000,
            4_102_444_799_999_000_000,
        ] {
            let t = Time::from_nanos(nanos);
            assert_eq!(
                Time::parse_rfc3339(&t.to_rfc3339()),
                Some(t),
                "{}",
                t.to_rfc3339()
            );
        }
        assert_eq!(
            Time::parse_rfc3339("2026-11-25T18:00:01Z"),
            Some(Time::from_nanos(1_795_629_601_000_000_000))
        );
        assert_eq!(
            Time::from_nanos(1_795_629_601_000_000_000).date(),
            (2026, 11, 25)
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T18:00:01",
            "2026-11-25 18:00:01Z",
            "2026-11-25T18:00:01.Z",
            "2026-11-25T18:00:01+01:00",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert_eq!(Time::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_utc_dates() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000Z"),
            (1_795_622_340_123_456_789, "2026-11-25T15:59:00.123Z"),
            (4_107_542_399_999_000_000, "2100-02-28T23:59:59.999Z"),
        ];
        for (nanos, text) in cases {
            assert_eq!(Time::from_nanos(nanos).to_rfc3339(), text);
        }
    }

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let t = Time::from_nanos(5);
        assert_eq!(t - Duration::from_nanos(10), Time::ZERO);
        assert_eq!(
            Time::from_nanos(u64::MAX) + Duration::from_secs(1),
            Time::from_nanos(u64::MAX)
        );
        // A duration beyond u64 nanoseconds pins the result instead of wrapping.
        assert_eq!(t + Duration::MAX, Time::from_nanos(u64::MAX));
        assert_eq!(t - Duration::MAX, Time::ZERO);
        assert_eq!(Time::from_nanos(3).saturating_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_since(Time::from_nanos(2)),
            Duration::from_nanos(3)
        );
    }
}
