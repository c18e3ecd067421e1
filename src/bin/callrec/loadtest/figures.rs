//! The arithmetic of a step's figures, pure: what was lost, what a second of call cost, and
//! how that compares with the recorder alone.

/// What did not make it into the files: the lost packets' share, or the share of audio that
/// came too late to be placed, whichever is larger (each packet is 20 ms).
pub fn loss(sent: u64, lost: u64, audio_dropped_ms: u64) -> f64 {
    let sent = sent.max(1) as f64;
    (lost as f64 / sent).max(audio_dropped_ms as f64 / (sent * 20.0))
}

/// CPU seconds per second of call: `cpu_seconds` spent on `calls` calls of `call_seconds`
/// each. `None` when no call-second was recorded.
pub fn per_call_second(cpu_seconds: f64, calls: usize, call_seconds: f64) -> Option<f64> {
    let call_seconds = calls as f64 * call_seconds;
    (call_seconds > 0.0 && cpu_seconds.is_finite()).then(|| cpu_seconds / call_seconds)
}

/// Concurrent calls one core of CPU keeps up with at `per_call_second` (a core gives one CPU
/// second a second). `None` when the cost is zero or not measured: a clock tick (10 ms) too
/// coarse for the work is not an infinite capacity.
pub fn calls_per_core(per_call_second: Option<f64>) -> Option<f64> {
    per_call_second.filter(|c| *c > 0.0).map(|c| 1.0 / c)
}

/// The live server's cost per call-second over the recorder's alone on the same audio.
pub fn live_over_recorder(live: Option<f64>, recorder: Option<f64>) -> Option<f64> {
    match (live, recorder) {
        (Some(live), Some(recorder)) if recorder > 0.0 => Some(live / recorder),
        _ => None,
    }
}

/// Seconds as whole milliseconds (a counter's delta may be a hair below zero in float).
pub fn millis(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e3).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_the_larger_of_packets_lost_and_audio_dropped() {
        assert_eq!(loss(1000, 0, 0), 0.0);
        assert_eq!(loss(1000, 5, 0), 0.005);
        // 40 ms dropped of 1000 packets of 20 ms: 0.2%.
        assert_eq!(loss(1000, 1, 40), 0.002);
        assert_eq!(loss(0, 0, 0), 0.0);
    }

    #[test]
    fn cost_per_call_second_and_calls_per_core() {
        // 100 calls of 20 s on 5 CPU seconds: 2.5 ms a call-second, 400 calls per core.
        let cost = per_call_second(5.0, 100, 20.0);
        assert_eq!(cost, Some(0.0025));
        assert_eq!(calls_per_core(cost), Some(400.0));
        assert_eq!(per_call_second(5.0, 0, 20.0), None);
        assert_eq!(per_call_second(5.0, 10, 0.0), None);
        assert_eq!(per_call_second(f64::NAN, 10, 1.0), None);
        assert_eq!(calls_per_core(Some(0.0)), None);
        assert_eq!(calls_per_core(None), None);
    }

    #[test]
    fn the_live_cost_over_the_recorders() {
        assert_eq!(live_over_recorder(Some(0.003), Some(0.002)), Some(1.5));
        assert_eq!(live_over_recorder(Some(0.003), Some(0.0)), None);
        assert_eq!(live_over_recorder(None, Some(0.002)), None);
        assert_eq!(live_over_recorder(Some(0.003), None), None);
    }

    #[test]
    fn millis_round_and_never_go_negative() {
        assert_eq!(millis(0.06), 60);
        assert_eq!(millis(-1e-12), 0);
        assert_eq!(millis(1.0004), 1000);
    }
}
