//! Interarrival jitter (RFC 3550 §6.4.1, appendix A.8): how much a stream's transit time
//! varies from packet to packet, smoothed over about 16 packets, in milliseconds. What
//! operators compare with their network's figures (and tshark's RTP analysis computes the
//! same). Arrival order, audio packets only: a telephone event holds its timestamp while
//! time runs on, which is no jitter.

use crate::time::Time;

/// Transit differences larger than this are a new segment (a resume with timestamps started
/// afresh, a clock jump), not jitter: the estimate carries on from the next packet.
const MAX_TRANSIT_STEP_SECS: f64 = 3.0;

/// The running estimate for one leg.
#[derive(Clone, Debug, Default)]
pub(crate) struct InterarrivalJitter {
    last: Option<Last>,
    /// The estimate, in seconds.
    jitter: f64,
    /// The largest the estimate has been.
    max: f64,
}

#[derive(Clone, Copy, Debug)]
struct Last {
    ssrc: u32,
    clock_rate: u32,
    arrival: Time,
    timestamp: u32,
}

impl InterarrivalJitter {
    /// One audio packet of source `ssrc`, RTP `timestamp` at `clock_rate`, seen at `arrival`.
    pub(crate) fn observe(&mut self, arrival: Time, ssrc: u32, timestamp: u32, clock_rate: u32) {
        let now = Last {
            ssrc,
            clock_rate,
            arrival,
            timestamp,
        };
        let Some(last) = self.last.replace(now) else {
            return;
        };
        if last.ssrc != ssrc || last.clock_rate != clock_rate || clock_rate == 0 {
            return;
        }
        let arrived = (arrival.as_nanos() as f64 - last.arrival.as_nanos() as f64) / 1e9;
        // The timestamp difference as the sender meant it: wrapping, either way.
        let sent = f64::from(timestamp.wrapping_sub(last.timestamp) as i32) / f64::from(clock_rate);
        let transit_step = (arrived - sent).abs();
        if transit_step > MAX_TRANSIT_STEP_SECS {
            return;
        }
        self.jitter += (transit_step - self.jitter) / 16.0;
        self.max = self.max.max(self.jitter);
    }

    /// The current estimate, in milliseconds.
    pub(crate) fn millis(&self) -> f64 {
        self.jitter * 1000.0
    }

    /// The largest the estimate has been, in milliseconds.
    pub(crate) fn max_millis(&self) -> f64 {
        self.max * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: f64) -> Time {
        Time::from_nanos(1_700_000_000_000_000_000) + Duration::from_secs_f64(ms / 1000.0)
    }

    #[test]
    fn a_steady_stream_has_none() {
        let mut j = InterarrivalJitter::default();
        for n in 0..100u32 {
            j.observe(at(f64::from(n) * 20.0 + 35.0), 7, n * 160, 8000);
        }
        assert_eq!(j.millis(), 0.0);
        assert_eq!(j.max_millis(), 0.0);
    }

    #[test]
    fn alternating_delay_converges_to_the_step() {
        // Every other packet 10 ms late: each transit step is 10 ms.
        let mut j = InterarrivalJitter::default();
        for n in 0..400u32 {
            let late = if n % 2 == 1 { 10.0 } else { 0.0 };
            j.observe(at(f64::from(n) * 20.0 + late), 7, n * 160, 8000);
        }
        assert!((j.millis() - 10.0).abs() < 0.01, "{}", j.millis());
        assert!((j.max_millis() - 10.0).abs() < 0.01);
    }

    #[test]
    fn one_late_packet_moves_it_by_a_sixteenth() {
        let mut j = InterarrivalJitter::default();
        j.observe(at(0.0), 7, 0, 8000);
        j.observe(at(36.0), 7, 160, 8000); // 16 ms late
        assert!((j.millis() - 1.0).abs() < 1e-9, "{}", j.millis());
        j.observe(at(40.0), 7, 320, 8000); // back on time: another 16 ms step
        assert!((j.millis() - (1.0 + 15.0 / 16.0)).abs() < 1e-9);
    }

    #[test]
    fn wrap_restart_and_new_sources_are_no_jitter() {
        let mut j = InterarrivalJitter::default();
        j.observe(at(0.0), 7, u32::MAX - 79, 8000);
        j.observe(at(20.0), 7, 80, 8000); // wrapped, on time
        assert_eq!(j.millis(), 0.0);
        j.observe(at(5020.0), 7, 240, 8000); // 5 s later, timestamps did not move: a resume
        assert_eq!(j.millis(), 0.0);
        j.observe(at(5040.0), 8, 999_999, 8000); // another source
        j.observe(at(5060.0), 8, 999_999 + 160, 16_000); // another clock
        j.observe(at(5080.0), 8, 999_999 + 480, 16_000);
        assert_eq!(j.millis(), 0.0);
    }
}
