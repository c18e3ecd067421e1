//! One leg's audio placed on the call clock.
//!
//! Owns the mapping from a leg's RTP timestamps to output sample positions counted from the
//! timeline's origin, and the samples placed there until the mixer takes them. Knows nothing of
//! codecs or files; never reads a clock (arrival times come with the frames).
//!
//! How a frame finds its place:
//! - Jitter is not drift. A packet's arrival is its sending time plus the network's least
//!   delay plus its own extra delay; only the first two say where the audio belongs. So a
//!   stream (the leg's first, or the first after a discontinuity: new SSRC, sequence restart)
//!   is not anchored on its first packet: its frames are held for an anchor window (2 s) and
//!   the stream is anchored on the least arrival-minus-timestamp offset among them. The first
//!   packet's own delay does not shift the leg, and two legs that see the same delay
//!   distribution keep their true relative offset. While a stream is anchoring, [`hold`] says
//!   how far the mixer may take (the recorder waits).
//! - Frames land by RTP timestamp relative to that anchor, whatever order or delay they
//!   arrived in, so gaps (DTX, silence suppression, loss) stay gaps of the right length and
//!   jitter does not move audio.
//! - The sender's clock drifts against the receiving clock (hundreds of ppm are common). The
//!   timeline tracks the lower envelope of the offsets (the least offset over a sliding 6 s
//!   window): jitter, spikes and bursts of delay shorter than the window never raise it, and
//!   nothing can arrive earlier than the true clock relation allows, so only a clock that
//!   really runs apart moves it. Beyond a deadband it moves toward it: at once in silence or
//!   after a gap, where nobody can hear it, else one repeated or dropped sample per 8 kHz
//!   frame-worth (6250 ppm, inaudible). It keeps both legs within a few milliseconds of each
//!   other over hours.
//! - A timestamp jump that arrival times contradict (a client restarting its timestamps) is
//!   confirmed over a few frames and then re-anchored, so it cannot push a leg seconds away.
//!
//! [`hold`]: LegTimeline::hold

use crate::time::Time;
use std::collections::VecDeque;
use std::time::Duration;

/// A frame whose every sample is below this (-40 dBFS) is silence: clock corrections there
/// are free.
const SILENT_BELOW: u16 = 328;

/// Limits and tuning of a leg's timeline.
#[derive(Clone, Debug)]
pub struct TimelineConfig {
    /// Offsets from the lower envelope within this band are left alone.
    pub drift_deadband: Duration,
    /// The window over which the least arrival offset (the lower envelope) is tracked: a
    /// rise of every packet's delay that lasts less than this is jitter, not drift.
    pub drift_window: Duration,
    /// How long a stream's frames are held to find its least-delayed packets before it is
    /// anchored.
    pub anchor_window: Duration,
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
            drift_window: Duration::from_secs(6),
            anchor_window: Duration::from_secs(2),
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
    anchor_window: Duration,
    resync_threshold: i64,
    max_delay: i64,
    max_ahead: i64,
    /// Most samples held while anchoring: the anchor window's worth, twice over.
    max_pending: usize,
}

#[derive(Copy, Clone, Debug)]
struct Anchor {
    timestamp: u64,
    clock_rate: u32,
    position: i64,
}

/// A frame of a stream that is not anchored yet.
struct PendingFrame {
    arrival: Option<Time>,
    timestamp: u64,
    samples: Vec<i16>,
}

/// The frames of a stream being anchored, in the order they were released.
struct Pending {
    clock_rate: u32,
    /// The first frame's arrival: the window runs from here.
    since: Time,
    frames: Vec<PendingFrame>,
    samples: usize,
}

pub struct LegTimeline {
    rate: u32,
    origin: Time,
    config: TimelineConfig,
    limits: Limits,
    anchor: Option<Anchor>,
    pending: Option<Pending>,
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
    /// Where the first sample this leg placed landed.
    first: Option<u64>,
    /// Timeline position of the call's start (see [`LegTimeline::set_lead`]).
    lead: u64,
    stats: TimelineStats,
}

impl LegTimeline {
    /// A timeline whose position 0 is `origin`.
    pub fn new(rate: u32, origin: Time, config: TimelineConfig) -> Self {
        let limits = Limits {
            drift_deadband: samples(rate, config.drift_deadband),
            drift_window: samples(rate, config.drift_window),
            anchor_window: config.anchor_window,
            resync_threshold: samples(rate, config.resync_threshold),
            max_delay: samples(rate, config.max_delay),
            max_ahead: samples(rate, config.max_ahead),
            max_pending: 2 * samples(rate, config.anchor_window).max(i64::from(rate) / 50) as usize,
        };
        LegTimeline {
            rate,
            origin,
            config,
            limits,
            anchor: None,
            pending: None,
            correction: 0,
            offsets: VecDeque::new(),
            suspect_frames: 0,
            buf: Vec::new(),
            head: 0,
            taken: 0,
            end: 0,
            first: None,
            lead: 0,
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

    /// Says that the call's start (its second 0) is timeline position `lead`: what
    /// [`seconds_at`](Self::seconds_at) counts from.
    pub fn set_lead(&mut self, lead: u64) {
        self.lead = lead;
    }

    /// Where RTP `timestamp` (on `clock_rate`) sits on the call clock, in seconds from the
    /// call's start, once the leg has a place on that clock (while its stream is still being
    /// anchored, where the least-delayed frame so far puts it).
    pub fn seconds_at(&self, timestamp: u64, clock_rate: u32) -> Option<f64> {
        let position = match (&self.pending, self.anchor) {
            (Some(p), _) if p.clock_rate == clock_rate => {
                let anchor = self.provisional_anchor(p)?;
                self.rtp_position(anchor, timestamp)
            }
            (None, Some(a)) if a.clock_rate == clock_rate => {
                self.rtp_position(a, timestamp) + self.correction
            }
            _ => return None,
        };
        Some((position - self.lead as i64) as f64 / f64::from(self.rate))
    }

    /// One past the last sample placed: where this leg's audio ends on the timeline.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Where the first sample this leg placed landed, if it placed any.
    pub fn first(&self) -> Option<u64> {
        self.first
    }

    /// While a stream is being anchored, how far the mixer may take without taking a place
    /// its frames may still land on; `None` when nothing is held back.
    pub fn hold(&self) -> Option<u64> {
        let pending = self.pending.as_ref()?;
        let earliest = self.arrival_position(pending.since) - self.limits.max_delay;
        Some(earliest.max(0) as u64)
    }

    /// Whether the leg has never been placed nor started anchoring.
    pub fn unanchored(&self) -> bool {
        self.anchor.is_none() && self.pending.is_none()
    }

    /// How far the mixer may take before a stream whose first packet arrived at `arrival`
    /// (and is still in the jitter buffer) could land: its frames may sit up to the output
    /// lag before their arrival.
    pub fn hold_for_arrival(&self, arrival: Time) -> u64 {
        (self.arrival_position(arrival) - self.limits.max_delay).max(0) as u64
    }

    /// Anchors a stream whose anchor window has passed by `now`; with `None` (the call's end),
    /// any stream still being anchored.
    pub fn settle(&mut self, now: Option<Time>) {
        let due = match (&self.pending, now) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(p), Some(now)) => now >= p.since + self.limits.anchor_window,
        };
        if due {
            self.commit();
        }
    }

    fn arrival_position(&self, arrival: Time) -> i64 {
        samples(self.rate, arrival.saturating_since(self.origin))
    }

    fn rtp_position(&self, anchor: Anchor, timestamp: u64) -> i64 {
        let ticks = i128::from(timestamp) - i128::from(anchor.timestamp);
        let samples = ticks * i128::from(self.rate) / i128::from(anchor.clock_rate.max(1));
        anchor.position + samples.clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64
    }

    /// The anchor the pending frames give: the first frame's timestamp at the least offset.
    fn provisional_anchor(&self, pending: &Pending) -> Option<Anchor> {
        let first = pending.frames.first()?;
        let zero = Anchor {
            timestamp: first.timestamp,
            clock_rate: pending.clock_rate,
            position: 0,
        };
        let position = pending
            .frames
            .iter()
            .filter_map(|f| {
                let arrival = f.arrival?;
                Some(self.arrival_position(arrival) - self.rtp_position(zero, f.timestamp))
            })
            .min()?;
        Some(Anchor { position, ..zero })
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

    /// Anchors the pending stream on its least-delayed frame and places its frames.
    fn commit(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let Some(mut anchor) = self.provisional_anchor(&pending) else {
            return; // nothing real to anchor on: made-up audio is dropped
        };
        // A stream whose start the mixer has already passed (it came while output could not
        // wait for it) starts where the mixer is: complete, if a little late.
        let earliest = pending
            .frames
            .iter()
            .map(|f| self.rtp_position(anchor, f.timestamp))
            .min()
            .unwrap_or(anchor.position);
        anchor.position += (self.taken as i64 - earliest).max(0);
        self.reanchor(anchor.timestamp, anchor.clock_rate, anchor.position);
        // The window's frames defined the anchor: they land by timestamp, and their offsets
        // (none below zero) start the lower envelope.
        for frame in pending.frames {
            let raw = self.rtp_position(anchor, frame.timestamp);
            if let Some(arrival) = frame.arrival {
                let arrived_at = self.arrival_position(arrival);
                self.note_offset(arrived_at, arrived_at - raw);
            }
            self.write(raw, &frame.samples);
        }
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
        let new_stream = discontinuity
            || match (&self.pending, self.anchor) {
                (Some(p), _) => p.clock_rate != clock_rate,
                (None, Some(a)) => a.clock_rate != clock_rate,
                (None, None) => true,
            };
        if new_stream {
            self.commit();
            let Some(since) = arrival else {
                return; // made-up audio with nothing to anchor it to
            };
            self.pending = Some(Pending {
                clock_rate,
                since,
                frames: Vec::new(),
                samples: 0,
            });
        }
        if let (Some(arrival), Some(pending)) = (arrival, &self.pending) {
            // A timestamp jump inside the anchor window (arrivals contradict the timestamps
            // by more than any delay): what came before is one stream, what follows another.
            let jumped = self.provisional_anchor(pending).is_some_and(|anchor| {
                let offset = self.arrival_position(arrival) - self.rtp_position(anchor, timestamp);
                let threshold = self.limits.resync_threshold.max(self.limits.max_delay);
                offset < -threshold || offset > threshold
            });
            if jumped {
                self.stats.resyncs += 1;
                self.commit();
                self.pending = Some(Pending {
                    clock_rate,
                    since: arrival,
                    frames: Vec::new(),
                    samples: 0,
                });
            }
        }
        if let Some(pending) = &mut self.pending {
            pending.frames.push(PendingFrame {
                arrival,
                timestamp,
                samples: samples.to_vec(),
            });
            pending.samples += samples.len();
            let window_over =
                arrival.is_some_and(|a| a >= pending.since + self.limits.anchor_window);
            if window_over || pending.samples > self.limits.max_pending {
                self.commit();
            }
            return;
        }
        if let Some(anchor) = self.anchor {
            self.place_anchored(anchor, arrival, timestamp, samples);
        }
    }

    fn place_anchored(
        &mut self,
        anchor: Anchor,
        arrival: Option<Time>,
        timestamp: u64,
        samples: &[i16],
    ) {
        let raw = self.rtp_position(anchor, timestamp);
        if let Some(arrival) = arrival {
            let silent = samples.iter().all(|s| s.unsigned_abs() < SILENT_BELOW);
            let clock_rate = anchor.clock_rate;
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
        self.note_offset(arrived_at, offset);
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

    /// Adds an arrival's offset to the lower envelope (a monotonic deque of the window's
    /// minimum candidates).
    fn note_offset(&mut self, arrived_at: i64, offset: i64) {
        let window = self.limits.drift_window;
        while self
            .offsets
            .front()
            .is_some_and(|&(at, _)| at < arrived_at - window)
        {
            self.offsets.pop_front();
        }
        while self.offsets.back().is_some_and(|&(_, o)| o >= offset) {
            self.offsets.pop_back();
        }
        self.offsets.push_back((arrived_at, offset));
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
        self.first = Some(self.first.map_or(start as u64, |f| f.min(start as u64)));
    }

    /// Appends this leg's samples for positions `[taken, upto)` to `out` (silence where
    /// nothing was placed) and forgets them. A stream still being anchored whose frames could
    /// land there is anchored first (the recorder waits for [`hold`](Self::hold), so this
    /// only happens when a caller does not).
    pub fn take(&mut self, upto: u64, out: &mut Vec<i16>) {
        if self.hold().is_some_and(|hold| upto > hold) {
            self.commit();
        }
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
        t.settle(None);
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
    fn a_timestamp_jump_inside_the_anchor_window_starts_a_stream_of_its_own() {
        let mut t = timeline();
        for i in 0..10u64 {
            t.place(at(i * 20), i * 160, 8000, false, &frame(1));
        }
        for i in 10..20u64 {
            t.place(at(i * 20), 80_000 + i * 160, 8000, false, &frame(2));
        }
        assert_eq!(t.stats().resyncs, 1);
        let out = take_all(&mut t, 3200);
        assert!(out[..10 * 160].iter().all(|&s| s == 1), "before the jump");
        assert!(out[10 * 160..].iter().all(|&s| s == 2), "after it, at once");
        assert_eq!(t.end(), 3200);
    }

    /// A tiny deterministic PRNG (xorshift64) for arrival noise.
    fn noise(state: &mut u64, below: u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state % below
    }

    #[test]
    fn the_anchor_is_the_least_delayed_frame_not_the_first() {
        let mut t = timeline();
        let mut rng = 0x1234_5678;
        for i in 0..200u64 {
            // 10 ms of base delay; the first frame 25 ms more, the others 0-5 ms more.
            let extra = if i == 0 { 25 } else { noise(&mut rng, 6) };
            t.place(at(10 + i * 20 + extra), i * 160, 8000, false, &frame(1));
            if i == 20 {
                assert!(t.hold().is_some(), "still anchoring");
                assert_eq!(t.end(), 0, "nothing placed yet");
            }
        }
        assert_eq!(t.hold(), None, "anchored after the 2 s window");
        let out = take_all(&mut t, 200 * 160 + 80);
        // The least-delayed frames arrived 10 ms after their timestamp: the leg starts at
        // 10 ms (80 samples), not at the first frame's 35 ms.
        assert!(out[..80].iter().all(|&s| s == 0));
        let wrong = out[80..].iter().position(|&s| s != 1);
        assert_eq!(wrong, None, "{:?}", t.stats());
    }

    #[test]
    fn jitter_spikes_and_delay_bursts_are_never_taken_for_drift() {
        let config = TimelineConfig {
            max_delay: Duration::from_millis(220),
            ..TimelineConfig::default()
        };
        let mut t = LegTimeline::new(8000, at(0).unwrap(), config);
        let mut rng = 0x9e37_79b9;
        let mut out = Vec::new();
        for i in 0..3000u64 {
            // Uniform 0-150 ms, one frame in 50 a spike to 200 ms, and a 2 s burst of 150 ms
            // more (a triangle) every 10 s.
            let mut delay = noise(&mut rng, 151);
            if noise(&mut rng, 50) == 0 {
                delay = 200;
            }
            let in_period = (i * 20) % 10_000;
            if (5_000..7_000).contains(&in_period) {
                let from_edge = 1000 - (in_period as i64 - 6000).abs();
                delay += (150 * from_edge / 1000) as u64;
            }
            let value = if (i / 50) % 2 == 0 { 1000 } else { 0 }; // sound, then silence
            t.place(at(i * 20 + delay), i * 160, 8000, false, &frame(value));
            let until = t.end().saturating_sub(8000);
            t.take(until, &mut out);
        }
        t.settle(None);
        let end = t.end();
        t.take(end, &mut out);
        assert_eq!(t.stats().drift_correction_samples, 0);
        assert_eq!(t.stats().late_samples, 0);
        for (i, frame) in out.chunks(160).enumerate() {
            let value = if (i / 50) % 2 == 0 { 1000 } else { 0 };
            assert!(frame.iter().all(|&s| s == value), "frame {i} in its place");
        }
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
            t.place(at(5), 0, 8000, false, &frame(value));
            t.settle(None); // anchored on this frame alone, its 5 ms of extra delay included
            t.place(at(20), 160, 8000, false, &frame(value)); // then a frame with none
            assert_eq!(t.correction, -expected, "frame value {value}");
        }
    }

    #[test]
    fn one_sample_drift_holes_repeat_the_previous_sample() {
        let mut t = timeline();
        t.place(at(0), 0, 8000, false, &frame(5));
        t.settle(None);
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
        t.settle(None);
        t.place(at(20), 8000 * 60, 8000, false, &frame(1));
        assert_eq!(t.stats().dropped_ahead_samples, 160);
        assert!(t.buf.len() <= 8000 * 5 + 160);
    }
}
