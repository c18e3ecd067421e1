//! The CPU time this process has used, user and system, over every thread (finished ones
//! included), from Linux's `/proc/self/stat`: `/metrics` shows it as
//! `process_cpu_seconds_total` (the name Prometheus' own client libraries give it), and
//! `callrec loadtest` divides a server's share by the seconds of call it recorded. Where there
//! is no `/proc` there is no figure.
//!
//! Read from `/proc` rather than `getrusage` because the crate allows no `unsafe`; the
//! kernel's resolution is the same clock tick either way.

/// Ticks a second in `/proc`'s times: `USER_HZ`, which Linux's ABI fixes at 100 on every
/// architecture callrec builds for.
const TICKS_PER_SECOND: f64 = 100.0;

/// Seconds of CPU this process has used so far.
pub fn seconds() -> Option<f64> {
    parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime + stime` of a `/proc/PID/stat` line, in seconds. The command name in parentheses
/// may hold spaces and parentheses itself, so fields are counted after the last `)`.
pub fn parse(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) comes first; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_summed_past_any_command_name() {
        let line = "4242 (callrec) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 \
                    100 123456 789 18446744073709551615";
        assert_eq!(parse(line), Some(3.25));
        let odd = "7 (a) b) (c d) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse(odd), Some(0.03));
    }

    #[test]
    fn a_line_cut_short_or_not_numeric_gives_nothing() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("1 (x) S 1 2 3"), None);
        assert_eq!(parse("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 2"), None);
        assert_eq!(parse("1 (x S 1 1 1 0 -1 0 0 0 0 0 1 2"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let before = seconds().expect("Linux has /proc/self/stat");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(seconds().expect("again") >= before);
    }
}
