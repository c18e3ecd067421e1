//! One leg's audio placed on the call clock.
//!
//! Owns the mapping from a leg's RTP timestamps to output sample positions counted from the
//! call's start, and the samples placed there until the mixer takes them. Knows nothing of
//! codecs or files; never reads a clock (arrival times come with the frames).
//!
//! How a frame finds its place:
//! - The first frame (and the first after a discontinuity: new SSRC, sequence restart) lands
//!   where it arrived: a leg that starts 250 ms after the other sounds 250 ms later.
//! - Later frames land by RTP timestamp relative to that anchor, so gaps (DTX, silence
//!   suppression, loss) stay gaps of the right length and jitter does not move audio.
//! - The sender's clock drifts against the receiving clock (hundreds of ppm are common). The
//!   timeline tracks the smallest arrival-minus-RTP offset over a sliding window (the
//!   least-delayed packets show the true clock relation) and moves toward it: at once in
//!   silence or after a gap, where nobody can hear it, else one repeated or dropped sample per
//!   8 kHz-frame-worth (6250 ppm, inaudible). It keeps both legs within a few milliseconds of
//!   each other over hours.
//! - A timestamp jump that arrival times contradict (a client restarting its timestamps) is
//!   confirmed over a few frames and then re-anchored, so it cannot push a leg seconds away.

use crate::time::Time;
use std::collections::VecDeque;
use std::time::Duration;

/// A frame whose every sample is below this (-40 dBFS) is silence: clock corrections there
/// are free.
const SILENT_BELOW: u16 = 328;

/// Limits and tuning of a leg's timeline.
#[derive(Clone, Debug)]
pub struct TimelineConfig {
    /// Offsets from the smallest-delay estimate within this band are left alone.
    pub drift_deadband: Duration,
    /// The window over which the smallest arrival offset is tracked.
    pub drift_window: Duration,
    /// An offset this far from the estimate, held for `resync_after` frames, re-anchors.
    pub resync_threshold: Duration,
    pub resync_after: u32,
    /// How late a frame may arrive and still be placed by its timestamp (the recorder's output
    /// lag): a delay spike up to this moves nothing and is no reason to re-anchor.
    pub max_delay: Duration,
    /// Frames placed further than this ahead of what the mixer has taken are dropped: bounds
    /// memory per leg whatever timestamps a sender invents.
    pub max_ahead: Duration,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            drift_deadband: Duration::from_millis(4),
            drift_window: Duration::from_secs(3),
            resync_threshold: Duration::from_millis(250),
            resync_after: 5,
            max_delay: Duration::from_millis(500),
            max_ahead: Duration::from_secs(5),
        }
    }
}

/// Counters of one leg's timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Samples that arrived after the mixer had already written their place.
    pub late_samples: u64,
    /// Samples dropped because they landed beyond `max_ahead`.
    pub dropped_ahead_samples: u64,
    /// Re-anchors forced by timestamps that arrival times contradict.
    pub resyncs: u64,
    /// Single samples repeated (+) or dropped (-) to follow clock drift, net.
    pub drift_correction_samples: i64,
}

/// The config's durations in samples at the timeline's rate, worked out once rather than with
/// a 128-bit division for each use on every frame.
#[derive(Copy, Clone, Debug)]
struct Limits {
    drift_deadband: i64,
    drift_window: i64,
    resync_threshold: i64,
    max_delay: i64,
    max_ahead: i64,
}

#[derive(Copy, Clone, Debug)]
struct Anchor {
    timestamp: u64,
    clock_rate: u32,
    position: i64,
}

pub struct LegTimeline {
    rate: u32,
    call_start: Time,
    config: TimelineConfig,
    limits: Limits,
    anchor: Option<Anchor>,
    /// Samples inserted (+) or removed (-) since the anchor to follow drift.
    correction: i64,
    /// Recent (position, raw offset) pairs; the minimum offset is the drift estimate.
    offsets: VecDeque<(i64, i64)>,
    suspect_frames: u32,
    /// Samples from `taken` on; `buf[head..]` is what the mixer has not taken yet.
    buf: Vec<i16>,
    head: usize,
    taken: u64,
    end: u64,
    stats: TimelineStats,
}

impl LegTimeline {
    pub fn new(rate: u32, call_start: Time, config: TimelineConfig) -> Self {
        let limits = Limits {
            drift_deadband: samples(rate, config.drift_deadband),
            drift_window: samples(rate, config.drift_window),
            resync_threshold: samples(rate, config.resync_threshold),
            max_delay: samples(rate, config.max_delay),
            max_ahead: samples(rate, config.max_ahead),
        };
        LegTimeline {
            rate,
            call_start,
            config,
            limits,
            anchor: None,
            correction: 0,
            offsets: VecDeque::new(),
            suspect_frames: 0,
            buf: Vec::new(),
            head: 0,
            taken: 0,
            end: 0,
            stats: TimelineStats::default(),
        }
    }

    /// The output sample rate positions are counted in.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn stats(&self) -> &TimelineStats {
        &self.stats
    }

    /// Where RTP `timestamp` (on `clock_rate`) sits on the call clock, in seconds, once the
    /// leg is anchored on that clock.
    pub fn seconds_at(&self, timestamp: u64, clock_rate: u32) -> Option<f64> {
        let anchor = self.anchor.filter(|a| a.clock_rate == clock_rate)?;
        let position = self.rtp_position(anchor, timestamp) + self.correction;
        Some(position as f64 / f64::from(self.rate))
    }

    /// One past the last sample placed: where this leg's audio ends on the call clock.
    pub fn end(&self) -> u64 {
        self.end
    }

    fn arrival_position(&self, arrival: Time) -> i64 {
        samples(self.rate, arrival.saturating_since(self.call_start))
    }

    fn rtp_position(&self, anchor: Anchor, timestamp: u64) -> i64 {
        let ticks = i128::from(timestamp) - i128::from(anchor.timestamp);
        let samples = ticks * i128::from(self.rate) / i128::from(anchor.clock_rate.max(1));
        anchor.position + samples.clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64
    }

    fn reanchor(&mut self, timestamp: u64, clock_rate: u32, position: i64) {
        self.anchor = Some(Anchor {
            timestamp,
            clock_rate,
            position,
        });
        self.correction = 0;
        self.offsets.clear();
        self.suspect_frames = 0;
    }

    /// Places a decoded frame (at the output rate) whose first sample has RTP `timestamp` on a
    /// clock of `clock_rate`. `arrival` is when its packet arrived; `None` for audio the
    /// recorder made up (concealment), which follows the timestamps but teaches nothing about
    /// the clock.
    pub fn place(
        &mut self,
        arrival: Option<Time>,
        timestamp: u64,
        clock_rate: u32,
        discontinuity: bool,
        samples: &[i16],
    ) {
        let anchor = match (self.anchor, arrival) {
            (Some(anchor), _) if !discontinuity && anchor.clock_rate == clock_rate => anchor,
            (_, Some(arrival)) => {
                let position = self.arrival_position(arrival);
                self.reanchor(timestamp, clock_rate, position);
                self.anchor.expect("just anchored")
            }
            (_, None) => return, // made-up audio with nothing to anchor it to
        };
        let raw = self.rtp_position(anchor, timestamp);
        if let Some(arrival) = arrival {
            let silent = samples.iter().all(|s| s.unsigned_abs() < SILENT_BELOW);
            if let Some(position) = self.follow_clock(arrival, raw, timestamp, clock_rate, silent) {
                return self.write(position, samples);
            }
        }
        self.write(raw + self.correction, samples);
    }

    /// Updates the drift estimate with a real arrival; returns a position when the frame
    /// re-anchored the timeline.
    fn follow_clock(
        &mut self,
        arrival: Time,
        raw: i64,
        timestamp: u64,
        clock_rate: u32,
        silent: bool,
    ) -> Option<i64> {
        let arrived_at = self.arrival_position(arrival);
        let offset = arrived_at - raw;
        let window = self.limits.drift_window;
        while self
            .offsets
            .front()
            .is_some_and(|&(at, _)| at < arrived_at - window)
        {
            self.offsets.pop_front();
        }
        // Keep only offsets that can still be the minimum (a monotonic deque).
        while self.offsets.back().is_some_and(|&(_, o)| o >= offset) {
            self.offsets.pop_back();
        }
        self.offsets.push_back((arrived_at, offset));

        let estimate = self.offsets.front().map_or(offset, |&(_, o)| o);
        let threshold = self.limits.resync_threshold;
        let off_by = offset - self.correction;
        // Arriving early for its timestamp, or later than it can still be placed: the sender's
        // timestamps say something arrivals contradict.
        if off_by < -threshold || off_by > threshold.max(self.limits.max_delay) {
            self.suspect_frames += 1;
            if self.suspect_frames >= self.config.resync_after {
                self.stats.resyncs += 1;
                self.reanchor(timestamp, clock_rate, arrived_at);
                return Some(arrived_at);
            }
        } else {
            self.suspect_frames = 0;
        }
        let error = estimate - self.correction;
        if error.abs() <= self.limits.drift_deadband || error.abs() > threshold {
            return None; // nothing to do, or a jump only confirmation may follow
        }
        // Where nothing is heard (silence, or a frame after a gap) the whole error goes at
        // once; in sound, one sample per 8 kHz frame-worth (6250 ppm), which is inaudible.
        let step = if silent || raw + self.correction > self.end as i64 {
            error
        } else {
            error.signum() * i64::from(self.rate / 8000).max(1)
        };
        self.correction += step;
        self.stats.drift_correction_samples += step;
        None
    }

    fn write(&mut self, position: i64, samples: &[i16]) {
        let len = samples.len() as i64;
        let taken = self.taken as i64;
        let late = (taken - position).clamp(0, len);
        self.stats.late_samples += late as u64;
        let start = position + late;
        let samples = &samples[late as usize..];
        if samples.is_empty() {
            return;
        }
        if start - taken > self.limits.max_ahead {
            self.stats.dropped_ahead_samples += samples.len() as u64;
            return;
        }
        let from = self.head + (start - taken) as usize;
        let to = from + samples.len();
        if to > self.buf.len() {
            // A hole left by a drift step repeats the last sample instead of a click.
            let max_step = (self.rate / 8000).max(1) as usize;
            let fill = match self.buf.last() {
                Some(&last) if from > self.buf.len() && from - self.buf.len() <= max_step => last,
                _ => 0,
            };
            self.buf.resize(to, fill);
        }
        self.buf[from..to].copy_from_slice(samples);
        self.end = self.end.max(start as u64 + samples.len() as u64);
    }

    /// Appends this leg's samples for call positions `[taken, upto)` to `out` (silence where
    /// nothing was placed) and forgets them.
    pub fn take(&mut self, upto: u64, out: &mut Vec<i16>) {
        let want = upto.saturating_sub(self.taken) as usize;
        let have = (self.buf.len() - self.head).min(want);
        out.extend_from_slice(&self.buf[self.head..self.head + have]);
        out.resize(out.len() + (want - have), 0);
        self.head += have;
        self.taken += want as u64;
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head > 4096 && self.head * 2 > self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }
}

/// `d` in samples at `rate`.
fn samples(rate: u32, d: Duration) -> i64 {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn at(ms: u64) -> Option<Time> {
        Some(Time::from_nanos(1_000_000_000_000 + ms * MS))
    }

    fn timeline() -> LegTimeline {
        LegTimeline::new(8000, at(0).unwrap(), TimelineConfig::default())
    }

    fn frame(value: i16) -> Vec<i16> {
        vec![value; 160]
    }

    fn take_all(t: &mut LegTimeline, upto: u64) -> Vec<i16> {
        let mut out = Vec::new();
        t.take(upto, &mut out);
        out
    }

    #[test]
    fn first_frame_lands_where_it_arrived() {
        let mut t = timeline();
        t.place(at(250), 5000, 8000, false, &frame(7));
        let out = take_all(&mut t, 2160);
        assert!(out[..2000].iter().all(|&s| s == 0));
        assert!(out[2000..2160].iter().all(|&s| s == 7));
        assert_eq!(t.end(), 2160);
    }

    #[test]
    fn timestamps_place_frames_despite_jitter_and_keep_gaps() {
        let mut t = timeline();
        t.place(at(0), 0, 8000, false, &frame(1));
        t.place(at(35), 160, 8000, false, &frame(2)); // 15 ms of jitter
        t.place(at(40), 320, 8000, false, &frame(3));
        t.place(at(100), 800, 8000, false, &frame(4)); // 40 ms DTX gap before it
        let out = take_all(&mut t, 960);
        assert!(out[..160].iter().all(|&s| s == 1));
        assert!(out[160..320].iter().all(|&s| s == 2));
        assert!(out[320..480].iter().all(|&s| s == 3));
        assert!(out[480..800].iter().all(|&s| s == 0));
        assert!(out[800..960].iter().all(|&s| s == 4));
    }

    #[test]
    fn samples_behind_what_was_taken_are_counted_late() {
        let mut t = timeline();
        t.place(at(0), 0, 8000, false, &frame(1));
        let _ = take_all(&mut t, 240);
        t.place(at(20), 160, 8000, false, &frame(2));
        assert_eq!(t.stats().late_samples, 80);
        assert!(take_all(&mut t, 320).iter().all(|&s| s == 2));
    }

    #[test]
    fn discontinuity_reanchors_at_arrival() {
        let mut t = timeline();
        t.place(at(0), 1_000_000, 8000, false, &frame(1));
        t.place(at(500), 42, 8000, true, &frame(2));
        let out = take_all(&mut t, 4160);
        assert!(out[4000..4160].iter().all(|&s| s == 2));
        assert_eq!(t.stats().resyncs, 0);
    }

    #[test]
    fn contradicted_timestamp_jump_is_resynced_after_confirmation() {
        let mut t = timeline();
        for i in 0..10u64 {
            t.place(at(i * 20), i * 160, 8000, false, &frame(1));
        }
        // The sender jumps its timestamps 10 s ahead without a discontinuity.
        for i in 10..20u64 {
            t.place(at(i * 20), 80_000 + i * 160, 8000, false, &frame(2));
        }
        assert_eq!(t.stats().resyncs, 1);
        let out = take_all(&mut t, 3200);
        // Frames from the confirmation on sit at their arrival positions.
        assert!(out[14 * 160..20 * 160].iter().all(|&s| s == 2));
        assert_eq!(t.end(), 3200);
    }

    #[test]
    fn a_delay_spike_within_the_output_lag_moves_nothing() {
        let mut t = timeline();
        for i in 0..40u64 {
            let spike = if (10..25).contains(&i) { 300 } else { 0 };
            t.place(at(i * 20 + spike), i * 160, 8000, false, &frame(1000));
        }
        assert_eq!(t.stats().resyncs, 0);
        let out = take_all(&mut t, 40 * 160);
        assert!(
            out.iter().all(|&s| s == 1000),
            "every frame at its timestamp"
        );
    }

    #[test]
    fn drift_steps_at_16_khz_leave_no_zero_holes() {
        let mut t = LegTimeline::new(16000, at(0).unwrap(), TimelineConfig::default());
        for i in 0..3000u64 {
            // 400 ppm slow sender: arrivals fall behind the timestamps.
            let arrival = Time::from_nanos(1_000_000_000_000 + i * 20_008_000);
            t.place(Some(arrival), i * 160, 8000, false, &vec![1000; 320]);
        }
        assert!(t.stats().drift_correction_samples > 0);
        let end = t.end();
        let out = take_all(&mut t, end);
        assert!(out.iter().all(|&s| s == 1000), "no hole in the sound");
    }

    #[test]
    fn made_up_audio_without_anchor_is_ignored() {
        let mut t = timeline();
        t.place(None, 0, 8000, false, &frame(3));
        assert_eq!(t.end(), 0);
    }

    #[test]
    fn drift_of_500_ppm_for_an_hour_stays_within_a_few_milliseconds() {
        // Sender clock 500 ppm slow: its 160-tick frames really last 20.01 ms.
        let mut t = timeline();
        let frames = 180_000u64; // one hour of 20 ms frames
        let mut out = Vec::new();
        for i in 0..frames {
            let arrival_ns = i * 20_010_000 + (i * 7919 % 13) * MS; // plus up to 12 ms jitter
            let arrival = Time::from_nanos(1_000_000_000_000 + arrival_ns);
            t.place(Some(arrival), i * 160, 8000, false, &frame(1000));
            if i % 50 == 0 {
                // Where did this frame land compared with its least-delayed arrival time?
                let ideal = (i * 20_010_000) as f64 * 8000.0 / 1e9;
                let landed = (i * 160) as f64 + t.correction as f64;
                assert!(
                    (landed - ideal).abs() < 8.0 * 8.0,
                    "frame {i}: {landed} vs {ideal}"
                );
                t.take(t.end().saturating_sub(2000), &mut out);
                out.clear();
            }
        }
        let expected_end = (frames * 20_010_000) as f64 * 8000.0 / 1e9;
        assert!((t.end() as f64 - expected_end).abs() < 8.0 * 8.0);
        assert_eq!(t.stats().resyncs, 0);
        // 500 ppm of an hour is 1.8 s: 14,400 samples repeated, one at a time.
        assert!((t.stats().drift_correction_samples - 14_400).abs() < 80);
    }

    #[test]
    fn sound_slews_one_sample_a_frame_but_silence_takes_the_whole_correction() {
        for (value, expected) in [(1000, 1), (0, 40)] {
            let mut t = timeline();
            t.place(at(5), 0, 8000, false, &frame(value)); // 5 ms of extra delay on the first
            t.place(at(20), 160, 8000, false, &frame(value)); // then none
            assert_eq!(t.correction, -expected, "frame value {value}");
        }
    }

    #[test]
    fn one_sample_drift_holes_repeat_the_previous_sample() {
        let mut t = timeline();
        t.place(at(0), 0, 8000, false, &frame(5));
        t.write(161, &frame(6));
        let out = take_all(&mut t, 321);
        assert_eq!(out[160], 5);
        assert_eq!(out[161], 6);
    }

    #[test]
    fn frames_far_ahead_are_dropped_and_memory_stays_bounded() {
        let config = TimelineConfig {
            resync_after: u32::MAX,
            ..TimelineConfig::default()
        };
        let mut t = LegTimeline::new(8000, at(0).unwrap(), config);
        t.place(at(0), 0, 8000, false, &frame(1));
        t.place(at(20), 8000 * 60, 8000, false, &frame(1));
        assert_eq!(t.stats().dropped_ahead_samples, 160);
        assert!(t.buf.len() <= 8000 * 5 + 160);
    }
}
