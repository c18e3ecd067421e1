//! The jitter buffer of one leg: puts the packets of the leg back in sending order and decides,
//! from arrival times alone, when to stop waiting for a missing one.
//!
//! Sans-IO: it never reads a clock (every `now` is an argument, every deadline a returned
//! [`Time`]), never parses or decodes (it is generic over the item and sees only the
//! [`PacketMeta`] it is given), and never holds more than [`JitterConfig::max_packets`].
//!
//! # A recorder, not a player
//! Nobody listens live, so the buffer trades delay for completeness and never plays out on a
//! clock of its own:
//! - The first packet of a stream is held for `latency`, so that a reordered start does not make
//!   the true first packet late.
//! - After that, the next expected packet is released as soon as it is present.
//! - A packet after a gap is released once `its arrival + latency <= now`; the missing ones are
//!   then given up on: counted in [`JitterStats::lost`] and in [`Released::lost_before`].
//! - [`JitterBuffer::poll`] releases at most one packet per call, or says when to call again
//!   ([`Poll::Wait`]). `now` going backwards is treated as no progress.
//! - [`JitterBuffer::drain`] ends the call: everything held comes out in order, deadlines or not.
//!
//! # What gets dropped, and how it is counted
//! - Duplicate: the sequence number is held already, or was released (or dropped late) among the
//!   last `RELEASED_WINDOW` sequence numbers.
//! - Late: older than the next expected and never seen. A packet that was given up on and then
//!   arrives is counted once in `lost` (it is missing from the recording) and once in `late`.
//! - Out of range (RFC 3550 Appendix A.1): a packet more than `max_dropout` ahead of, or more than
//!   `max_misorder` behind, the highest sequence number is held in probation. If the next packet
//!   of the leg continues it (same SSRC, sequence + 1) the source restarted its sequence: what
//!   is held of the old one is released first, in order, then the new one starts with
//!   `discontinuity` set and the probation packet is its first packet; no loss is counted for the
//!   jump. Otherwise the probation packet is dropped and counted in `out_of_range`.
//! - SSRC change: a packet from another source goes to probation too, and two sequential packets
//!   of that source end the current one (so one stray packet, e.g. an event sent under another
//!   SSRC, cannot break a leg). The old source's held packets are released first, at once and
//!   in order; then the new source starts with `discontinuity` set. Nothing is counted lost
//!   across the change.
//! - Straggler: after an SSRC change or a restart, a packet of the previous stream's SSRC that
//!   arrives within `latency` of the change, or is at most `max_misorder` behind that stream's
//!   highest sequence number, is counted late and dropped (if it also fits the new stream,
//!   both must hold). A later packet of that SSRC ahead of where it stopped is a new change, so
//!   a source that comes back (hold, resume) is followed.
//! - Bound: once `max_packets` are held (the probation packet included), the oldest held packet
//!   is releasable at once, counted in `overflow`. A push into a full buffer that was not polled
//!   discards the oldest held packet instead (counted in `evicted` and `lost`), so memory never
//!   grows past the bound whatever the input and whoever drives it.
//!
//! Every received packet is thus accounted for exactly once:
//! `received == released + duplicate + late + out_of_range + evicted + held`.
//!
//! # Released values
//! [`Released::seq`] and [`Released::timestamp`] are unwrapped ([`crate::rtp::seq`]) within one
//! stream (one source, one sequence epoch), so a u16 or u32 wrap mid-call is seamless. A new
//! stream (`discontinuity`) starts both afresh: the timeline re-anchors there.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::rtp::seq::{ExtSeq, ExtTimestamp, SeqUnwrapper, TimestampUnwrapper};
use crate::time::Time;

/// How many sequence numbers below the next expected one a stream remembers as seen, to tell a
/// duplicate from a late packet.
const RELEASED_WINDOW: u64 = 1024;

/// The limits of one leg's jitter buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitterConfig {
    /// How long a missing packet is waited for, and how long a stream's first packet is held.
    pub latency: Duration,
    /// Most packets held at once, the probation packet included (values below 1 act as 1).
    pub max_packets: usize,
    /// Largest forward jump of the sequence number taken as loss rather than a possible restart
    /// (RFC 3550 Appendix A.1 `MAX_DROPOUT`).
    pub max_dropout: u16,
    /// Largest backward distance of the sequence number taken as reordering rather than a
    /// possible restart (RFC 3550 Appendix A.1 `MAX_MISORDER`).
    pub max_misorder: u16,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            max_packets: 512,
            max_dropout: 3000,
            max_misorder: 100,
        }
    }
}

/// What the buffer needs to know of a packet (the RTP header fields, RFC 3550 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
}

/// The verdict on a pushed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Held until its turn.
    Queued,
    /// Held already or seen recently: dropped.
    Duplicate,
    /// Its turn has passed, or it belongs to the stream before a change: dropped.
    Late,
    /// Far from the stream: held aside as the possible start of a restarted sequence, until the
    /// next push confirms or drops it.
    Probation,
}

/// A packet handed on, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released<T> {
    pub item: T,
    pub ssrc: u32,
    /// Sequence number, unwrapped within the stream.
    pub seq: ExtSeq,
    /// RTP timestamp, unwrapped within the stream.
    pub timestamp: ExtTimestamp,
    /// When the packet arrived (as pushed, never earlier than a previous `now`).
    pub arrival: Time,
    /// Packets of this stream given up on since the previous release.
    pub lost_before: u64,
    /// First packet of a new stream (SSRC change or sequence restart): re-anchor the timeline.
    pub discontinuity: bool,
}

/// What [`JitterBuffer::poll`] has to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The next packet in order.
    Packet(Released<T>),
    /// Nothing to release before this time, unless a push changes it.
    Wait(Time),
    /// Nothing held that a poll could release; only a push changes this.
    Empty,
}

/// Counters of one leg's jitter buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub received: u64,
    /// Packets released by `poll` or `drain`.
    pub released: u64,
    /// Dropped as held already or seen recently.
    pub duplicate: u64,
    /// Dropped as too late, or as stragglers of a previous stream.
    pub late: u64,
    /// Sequence numbers given up on (missing from the recording), evicted packets included.
    pub lost: u64,
    /// Queued packets that arrived after a higher sequence number.
    pub reordered: u64,
    /// Packets released before their time because `max_packets` were held.
    pub overflow: u64,
    /// Packets discarded because the buffer was pushed into while full without being polled.
    pub evicted: u64,
    /// Lone packets far from the stream, dropped after probation.
    pub out_of_range: u64,
    /// Sequence restarts within one SSRC, confirmed after probation.
    pub restarts: u64,
    /// Changes of the leg's source.
    pub ssrc_changes: u64,
    /// Packets held now, the probation packet included.
    pub held: usize,
}

/// The jitter buffer of one leg. See the module documentation for its rules.
pub struct JitterBuffer<T> {
    config: JitterConfig,
    /// Oldest first. The back one receives packets; the others are closed and flush at once.
    streams: VecDeque<Stream<T>>,
    probation: Option<Probation<T>>,
    previous: Option<Previous>,
    /// The latest `now` seen: time never goes backwards.
    clock: Time,
    stats: JitterStats,
}

struct Held<T> {
    item: T,
    timestamp: u32,
    arrival: Time,
}

/// One source in one sequence epoch.
struct Stream<T> {
    ssrc: u32,
    seqs: SeqUnwrapper,
    timestamps: TimestampUnwrapper,
    held: BTreeMap<u64, Held<T>>,
    /// Next sequence number to release; `None` until the first release.
    next: Option<u64>,
    /// When the first packet arrived; nothing is released before `started + latency`.
    started: Time,
    seen: SeenWindow,
    /// Evicted packets not yet reported in a `lost_before`.
    unreported_lost: u64,
    /// Set on the stream's first release when it follows another stream.
    discontinuity: bool,
}

struct Probation<T> {
    meta: PacketMeta,
    packet: Held<T>,
}

/// The stream before the last change, to recognise its stragglers.
struct Previous {
    ssrc: u32,
    highest: u16,
    until: Time,
}

impl<T> JitterBuffer<T> {
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            streams: VecDeque::new(),
            probation: None,
            previous: None,
            clock: Time::ZERO,
            stats: JitterStats::default(),
        }
    }

    /// Takes a packet that arrived at `now`. Every packet is held or dropped here; only
    /// [`poll`](Self::poll) and [`drain`](Self::drain) release.
    pub fn push(&mut self, now: Time, meta: PacketMeta, item: T) -> Pushed {
        let now = self.advance(now);
        self.stats.received += 1;
        let packet = Held {
            item,
            timestamp: meta.timestamp,
            arrival: now,
        };
        let verdict = match self.streams.back() {
            None => {
                self.start_stream(now, meta, packet);
                Pushed::Queued
            }
            Some(current) => {
                let same_source = current.ssrc == meta.ssrc;
                let fits = same_source
                    && current.in_range(current.seqs.peek(meta.sequence).0, &self.config);
                if self.is_straggler(now, meta, fits) {
                    self.stats.late += 1;
                    Pushed::Late
                } else if fits {
                    self.push_in_range(meta, packet)
                } else {
                    self.push_out_of_range(now, meta, packet)
                }
            }
        };
        self.enforce_bound();
        verdict
    }

    /// Releases the next packet if its time has come, else says when to call again. Call it
    /// after every push and whenever a returned [`Poll::Wait`] time is reached.
    #[must_use]
    pub fn poll(&mut self, now: Time) -> Poll<T> {
        let now = self.advance(now);
        self.release(Some(now))
    }

    /// Ends the call: releases everything held, in order, one packet per call, regardless of
    /// deadlines, until [`Poll::Empty`]. A packet still in probation is dropped (out of range).
    #[must_use]
    pub fn drain(&mut self) -> Poll<T> {
        if self.probation.take().is_some() {
            self.stats.out_of_range += 1;
            self.stats.held -= 1;
        }
        self.release(None)
    }

    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    fn advance(&mut self, now: Time) -> Time {
        self.clock = self.clock.max(now);
        self.clock
    }

    fn max_packets(&self) -> usize {
        self.config.max_packets.max(1)
    }

    fn push_in_range(&mut self, meta: PacketMeta, packet: Held<T>) -> Pushed {
        if self.probation.take().is_some() {
            // RFC 3550 Appendix A.1: the wild packet was not followed by its successor.
            self.stats.out_of_range += 1;
            self.stats.held -= 1;
        }
        let current = self
            .streams
            .back_mut()
            .expect("in range of the current stream, so there is one");
        let ext = current.seqs.peek(meta.sequence).0;
        if current.held.contains_key(&ext) || current.seen.contains(ext, current.next) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }
        if let Some(next) = current.next.filter(|&next| ext < next) {
            current.seen.mark(ext, next);
            self.stats.late += 1;
            return Pushed::Late;
        }
        if current.seqs.highest().is_some_and(|h| ext < h.0) {
            self.stats.reordered += 1;
        }
        current.queue(meta.sequence, packet);
        self.stats.held += 1;
        Pushed::Queued
    }

    fn push_out_of_range(&mut self, now: Time, meta: PacketMeta, packet: Held<T>) -> Pushed {
        match self.probation.take() {
            // RFC 3550 Appendix A.1: two sequential packets confirm a restarted sequence or a
            // new source; a lone stray packet (another SSRC, a wild number) changes nothing.
            Some(probation)
                if meta.ssrc == probation.meta.ssrc
                    && meta.sequence == probation.meta.sequence.wrapping_add(1) =>
            {
                let new_source = self.streams.back().is_some_and(|s| s.ssrc != meta.ssrc);
                if new_source {
                    self.stats.ssrc_changes += 1;
                } else {
                    self.stats.restarts += 1;
                }
                self.stats.held -= 1;
                self.start_stream(now, probation.meta, probation.packet);
                let restarted = self.streams.back_mut().expect("just started");
                restarted.queue(meta.sequence, packet);
                self.stats.held += 1;
                Pushed::Queued
            }
            replaced => {
                if replaced.is_some() {
                    self.stats.out_of_range += 1;
                    self.stats.held -= 1;
                }
                self.probation = Some(Probation { meta, packet });
                self.stats.held += 1;
                Pushed::Probation
            }
        }
    }

    /// Closes the current stream (its held packets flush at once) and starts a new one with
    /// `packet` as its first.
    fn start_stream(&mut self, now: Time, meta: PacketMeta, packet: Held<T>) {
        let follows_another = !self.streams.is_empty();
        if let Some(closed) = self.streams.back() {
            let highest = closed
                .seqs
                .highest()
                .expect("a stream starts with a packet");
            self.previous = Some(Previous {
                ssrc: closed.ssrc,
                highest: highest.0 as u16,
                until: now + self.config.latency,
            });
            if closed.held.is_empty() {
                self.streams.pop_back();
            }
        }
        if self.probation.take().is_some() {
            self.stats.out_of_range += 1;
            self.stats.held -= 1;
        }
        let mut stream = Stream::new(meta.ssrc, packet.arrival, follows_another);
        stream.queue(meta.sequence, packet);
        self.streams.push_back(stream);
        self.stats.held += 1;
    }

    /// A packet of the stream before the last change. One that also fits the current stream
    /// must meet both tests, so the current stream may later run through the old numbers.
    fn is_straggler(&self, now: Time, meta: PacketMeta, fits_current: bool) -> bool {
        self.previous.as_ref().is_some_and(|previous| {
            let recent = now < previous.until;
            let behind = previous.highest.wrapping_sub(meta.sequence) <= self.config.max_misorder;
            previous.ssrc == meta.ssrc
                && if fits_current {
                    recent && behind
                } else {
                    recent || behind
                }
        })
    }

    /// Releases the oldest held packet: at once if `now` is `None` (drain), if its stream is
    /// closed or if the buffer is full; otherwise when its time has come.
    fn release(&mut self, now: Option<Time>) -> Poll<T> {
        self.drop_flushed_streams();
        let full = self.stats.held >= self.max_packets();
        let closed = self.streams.len() > 1;
        let latency = self.config.latency;
        let Some(stream) = self.streams.front_mut() else {
            return Poll::Empty;
        };
        let Some((&seq, head)) = stream.held.first_key_value() else {
            return Poll::Empty;
        };
        if let (Some(now), false) = (now, closed) {
            let due = match stream.next {
                None => stream.started + latency,
                Some(next) if next == seq => now,
                Some(_) => head.arrival + latency,
            };
            if due > now {
                if !full {
                    return Poll::Wait(due);
                }
                self.stats.overflow += 1;
            }
        }
        let (seq, held) = stream.held.pop_first().expect("the head was just seen");
        let gap = stream.next.map_or(0, |next| {
            seq.checked_sub(next)
                .expect("held packets are never behind the next expected")
        });
        stream.advance_past(seq);
        self.stats.lost += gap;
        self.stats.released += 1;
        self.stats.held -= 1;
        Poll::Packet(Released {
            item: held.item,
            ssrc: stream.ssrc,
            seq: ExtSeq(seq),
            timestamp: stream.timestamps.unwrap(held.timestamp),
            arrival: held.arrival,
            lost_before: gap + std::mem::take(&mut stream.unreported_lost),
            discontinuity: std::mem::take(&mut stream.discontinuity),
        })
    }

    /// Keeps `held <= max_packets` when pushes come without polls: discards the oldest.
    fn enforce_bound(&mut self) {
        while self.stats.held > self.max_packets() {
            self.drop_flushed_streams();
            let Some(stream) = self.streams.front_mut() else {
                return;
            };
            let Some((seq, _)) = stream.held.pop_first() else {
                return;
            };
            let lost = 1 + stream.next.map_or(0, |next| {
                seq.checked_sub(next)
                    .expect("held packets are never behind the next expected")
            });
            stream.advance_past(seq);
            stream.unreported_lost += lost;
            self.stats.lost += lost;
            self.stats.evicted += 1;
            self.stats.held -= 1;
        }
    }

    /// Forgets closed streams that have nothing left to release.
    fn drop_flushed_streams(&mut self) {
        while self.streams.len() > 1 && self.streams.front().is_some_and(|s| s.held.is_empty()) {
            self.streams.pop_front();
        }
    }
}

impl<T> Stream<T> {
    fn new(ssrc: u32, started: Time, discontinuity: bool) -> Self {
        Self {
            ssrc,
            seqs: SeqUnwrapper::new(),
            timestamps: TimestampUnwrapper::new(),
            held: BTreeMap::new(),
            next: None,
            started,
            seen: SeenWindow::default(),
            unreported_lost: 0,
            discontinuity,
        }
    }

    /// RFC 3550 Appendix A.1: within `max_dropout` ahead of or `max_misorder` behind the highest.
    fn in_range(&self, ext: u64, config: &JitterConfig) -> bool {
        let highest = self.seqs.highest().map_or(ext, |h| h.0);
        if ext >= highest {
            ext - highest <= u64::from(config.max_dropout)
        } else {
            highest - ext <= u64::from(config.max_misorder)
        }
    }

    fn queue(&mut self, sequence: u16, packet: Held<T>) {
        let ext = self.seqs.unwrap(sequence).0;
        self.held.insert(ext, packet);
    }

    /// `seq` was released or discarded: the next expected is the one after it.
    fn advance_past(&mut self, seq: u64) {
        let next = seq + 1;
        if let Some(previous) = self.next {
            self.seen.slide(previous, next);
        }
        self.seen.mark(seq, next);
        self.next = Some(next);
    }
}

/// Which of the `RELEASED_WINDOW` sequence numbers below a stream's next expected one were
/// released, evicted or dropped late: one bit each, indexed by sequence number modulo the window.
#[derive(Default)]
struct SeenWindow {
    bits: [u64; (RELEASED_WINDOW / 64) as usize],
}

impl SeenWindow {
    fn slot(seq: u64) -> (usize, u64) {
        let index = seq % RELEASED_WINDOW;
        ((index / 64) as usize, 1 << (index % 64))
    }

    fn covers(seq: u64, next: u64) -> bool {
        seq < next && next - seq <= RELEASED_WINDOW
    }

    fn contains(&self, seq: u64, next: Option<u64>) -> bool {
        let (word, bit) = Self::slot(seq);
        next.is_some_and(|next| Self::covers(seq, next)) && self.bits[word] & bit != 0
    }

    fn mark(&mut self, seq: u64, next: u64) {
        if Self::covers(seq, next) {
            let (word, bit) = Self::slot(seq);
            self.bits[word] |= bit;
        }
    }

    /// The window's top moves from `next` to `to`: forget the sequence numbers that fall out.
    fn slide(&mut self, next: u64, to: u64) {
        if to.saturating_sub(next) >= RELEASED_WINDOW {
            self.bits = Default::default();
        } else {
            for seq in next..to {
                let (word, bit) = Self::slot(seq);
                self.bits[word] &= !bit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1 << 16;
    const T: u64 = 1 << 32;
    const A: u32 = 0xA;
    const B: u32 = 0xB;

    fn ms(n: u64) -> Time {
        Time::from_nanos(n * 1_000_000)
    }

    fn meta(ssrc: u32, sequence: u16, timestamp: u32) -> PacketMeta {
        PacketMeta {
            ssrc,
            sequence,
            timestamp,
        }
    }

    /// Audio-like packet of source A: 20 ms of 8 kHz per sequence number.
    fn a(sequence: u16) -> PacketMeta {
        meta(A, sequence, u32::from(sequence) * 160)
    }

    /// Drives a buffer as the recorder does: before each arrival it polls at every deadline up
    /// to it, after each push it polls at the arrival time, at the end it polls until empty.
    /// Items are the push index, so a test can tell which copy came out.
    struct Sim {
        buf: JitterBuffer<usize>,
        now: Time,
        pushes: usize,
        out: Vec<(Time, Released<usize>)>,
    }

    impl Sim {
        fn new(config: JitterConfig) -> Self {
            Self {
                buf: JitterBuffer::new(config),
                now: Time::ZERO,
                pushes: 0,
                out: Vec::new(),
            }
        }

        fn run_until(&mut self, target: Time) {
            loop {
                match self.buf.poll(self.now) {
                    Poll::Packet(released) => self.out.push((self.now, released)),
                    Poll::Wait(at) if at <= target => self.now = at,
                    Poll::Wait(_) | Poll::Empty => break,
                }
            }
            self.now = target;
        }

        fn push(&mut self, at_ms: u64, meta: PacketMeta) -> Pushed {
            self.run_until(ms(at_ms));
            let verdict = self.buf.push(ms(at_ms), meta, self.pushes);
            self.pushes += 1;
            self.run_until(ms(at_ms));
            verdict
        }

        fn push_all(&mut self, arrivals: &[(u64, PacketMeta)]) -> Vec<Pushed> {
            arrivals.iter().map(|&(at, m)| self.push(at, m)).collect()
        }

        fn finish(&mut self) {
            self.run_until(Time::from_nanos(u64::MAX));
        }

        /// (release ms, ssrc, extended seq, lost_before, discontinuity) of each release.
        fn log(&self) -> Vec<(u64, u32, u64, u64, bool)> {
            self.out
                .iter()
                .map(|(at, r)| {
                    let at_ms = at.as_nanos() / 1_000_000;
                    (at_ms, r.ssrc, r.seq.0, r.lost_before, r.discontinuity)
                })
                .collect()
        }
    }

    /// Every packet accounted for once; `held` matches what is really held; the bound holds.
    fn assert_accounted<T>(buf: &JitterBuffer<T>) {
        let s = &buf.stats;
        let really_held: usize = buf.streams.iter().map(|st| st.held.len()).sum::<usize>()
            + usize::from(buf.probation.is_some());
        assert_eq!(s.held, really_held, "{s:?}");
        assert!(s.held <= buf.max_packets(), "{s:?}");
        assert_eq!(
            s.received,
            s.released + s.duplicate + s.late + s.out_of_range + s.evicted + s.held as u64,
            "{s:?}"
        );
    }

    use Pushed::{Duplicate, Late, Probation, Queued};

    #[test]
    fn in_order_stream_waits_for_the_first_packet_then_flows() {
        let mut sim = Sim::new(JitterConfig::default());
        let arrivals: Vec<(u64, PacketMeta)> = (0..50u16)
            .map(|i| (1000 + 20 * u64::from(i), a(1000 + i)))
            .collect();
        assert!(sim.push_all(&arrivals).iter().all(|v| *v == Queued));
        sim.finish();
        let expected: Vec<_> = (0..50u64)
            .map(|i| ((1000 + 20 * i).max(1200), A, S + 1000 + i, 0, false))
            .collect();
        assert_eq!(sim.log(), expected);
        let first = &sim.out[0].1;
        assert_eq!(first.item, 0);
        assert_eq!(first.timestamp, ExtTimestamp(T + 1000 * 160));
        assert_eq!(first.arrival, ms(1000));
        let s = sim.buf.stats();
        assert_eq!(
            (s.received, s.released, s.lost, s.reordered, s.held),
            (50, 50, 0, 0, 0)
        );
        assert_accounted(&sim.buf);
    }

    #[test]
    fn reordering_within_latency_loses_nothing() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(11)), (10, a(10)), (20, a(12)),  // reordered start: 10 is not late
            (300, a(14)), (320, a(13)), (340, a(15)),
            (360, a(17)), (380, a(16)), (400, a(18)),
        ]);
        assert!(verdicts.iter().all(|v| *v == Queued));
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 10, 0, false), (200, A, S + 11, 0, false), (200, A, S + 12, 0, false),
            (320, A, S + 13, 0, false), (320, A, S + 14, 0, false), (340, A, S + 15, 0, false),
            (380, A, S + 16, 0, false), (380, A, S + 17, 0, false), (400, A, S + 18, 0, false),
        ]);
        let s = sim.buf.stats();
        assert_eq!((s.released, s.lost, s.late, s.reordered), (9, 0, 0, 3));
        assert_accounted(&sim.buf);
    }

    #[test]
    fn a_gap_filled_too_late_is_lost_once_and_late_once() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(10)), (20, a(11)), (60, a(13)),
            (300, a(12)), (320, a(12)), (340, a(14)),
        ]);
        assert_eq!(
            verdicts,
            vec![Queued, Queued, Queued, Late, Duplicate, Queued]
        );
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 10, 0, false), (200, A, S + 11, 0, false),
            (260, A, S + 13, 1, false), (340, A, S + 14, 0, false),
        ]);
        let s = sim.buf.stats();
        assert_eq!(
            (s.received, s.released, s.lost, s.late, s.duplicate),
            (6, 4, 1, 1, 1)
        );
        assert_accounted(&sim.buf);
    }

    #[test]
    fn loss_is_reported_on_the_packet_after_the_gap() {
        let mut sim = Sim::new(JitterConfig::default());
        sim.push_all(&[
            (0, a(10)),
            (20, a(11)),
            (40, a(12)),
            (100, a(15)),
            (120, a(16)),
        ]);
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 10, 0, false), (200, A, S + 11, 0, false), (200, A, S + 12, 0, false),
            (300, A, S + 15, 2, false), (300, A, S + 16, 0, false),
        ]);
        assert_eq!(sim.buf.stats().lost, 2);
        assert_accounted(&sim.buf);
    }

    #[test]
    fn duplicates_are_dropped_while_held_and_after_release() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(10)), (20, a(10)), (40, a(11)),  // held copy
            (250, a(10)), (260, a(11)),            // released copy
            (280, a(12)),
        ]);
        assert_eq!(
            verdicts,
            vec![Queued, Duplicate, Queued, Duplicate, Duplicate, Queued]
        );
        sim.finish();
        let items: Vec<usize> = sim.out.iter().map(|(_, r)| r.item).collect();
        assert_eq!(items, vec![0, 2, 5], "the first copy is the one kept");
        let s = sim.buf.stats();
        assert_eq!((s.released, s.duplicate, s.late, s.lost), (3, 3, 0, 0));
        assert_accounted(&sim.buf);
    }

    #[test]
    fn sequence_wrap_mid_call_is_seamless() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        sim.push_all(&[
            (0, a(65533)), (20, a(65534)),
            (300, a(0)), (320, a(65535)),  // reordered across the wrap
            (340, a(1)), (360, a(2)),
        ]);
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 65533, 0, false), (200, A, S + 65534, 0, false),
            (320, A, S + 65535, 0, false), (320, A, 2 * S, 0, false),
            (340, A, 2 * S + 1, 0, false), (360, A, 2 * S + 2, 0, false),
        ]);
        assert_eq!(sim.buf.stats().lost, 0);
    }

    #[test]
    fn timestamp_wrap_mid_call_is_seamless() {
        let mut sim = Sim::new(JitterConfig::default());
        let first = u32::MAX - 1599;
        let ts = |i: u16| first.wrapping_add(160 * u32::from(i));
        // Packets 10 (timestamp 0 after the wrap) and 11 arrive swapped.
        let order = [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 10, 12, 13, 14, 15, 16, 17, 18, 19,
        ];
        for (n, &i) in order.iter().enumerate() {
            sim.push(20 * n as u64, meta(A, 500 + i, ts(i)));
        }
        sim.finish();
        let got: Vec<u64> = sim.out.iter().map(|(_, r)| r.timestamp.0).collect();
        let expected: Vec<u64> = (0..20u64).map(|i| T + u64::from(first) + 160 * i).collect();
        assert_eq!(got, expected);
        assert_eq!(got[10], 2 * T, "raw timestamp 0 lands right after u32::MAX");
    }

    #[test]
    fn ssrc_change_flushes_the_old_source_and_drops_its_stragglers() {
        let mut sim = Sim::new(JitterConfig::default());
        let b = |sequence: u16| meta(B, sequence, 90_000 + u32::from(sequence));
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(100)), (20, a(101)), (40, a(102)), (60, a(104)),  // 103 missing
            (240, b(5000)),  // new source while A's 104 is still held: on probation
            (260, b(5001)),  // confirmed: the change happens here
            (280, a(103)),   // straggler within latency of the change
            (300, b(5002)), (460, b(5003)),
            (500, a(99)),    // straggler behind A's highest
            (600, a(150)),   // A comes back ahead of where it stopped, alone: on probation
        ]);
        #[rustfmt::skip]
        assert_eq!(verdicts, vec![Queued, Queued, Queued, Queued, Probation, Queued, Late,
                                  Queued, Queued, Late, Probation]);
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 100, 0, false), (200, A, S + 101, 0, false), (200, A, S + 102, 0, false),
            (260, A, S + 104, 1, false),  // old source flushed first, in order
            (440, B, S + 5000, 0, true), (440, B, S + 5001, 0, false), (440, B, S + 5002, 0, false),
            (460, B, S + 5003, 0, false),
        ]);
        assert_eq!(
            sim.out[4].1.timestamp,
            ExtTimestamp(T + 95_000),
            "re-anchored"
        );
        let s = sim.buf.stats();
        assert_eq!(
            (s.ssrc_changes, s.late, s.lost, s.released, s.held),
            (1, 2, 1, 8, 1)
        );
        assert_accounted(&sim.buf);
    }

    #[test]
    fn a_lone_packet_of_another_ssrc_changes_nothing() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(100)), (20, a(101)),
            (30, meta(B, 7, 1234)),  // a stray source: one packet
            (40, a(102)), (60, a(103)),
        ]);
        assert_eq!(verdicts, vec![Queued, Queued, Probation, Queued, Queued]);
        sim.finish();
        let released: Vec<u64> = sim.out.iter().map(|(_, r)| r.seq.0).collect();
        assert_eq!(released, vec![S + 100, S + 101, S + 102, S + 103]);
        let s = sim.buf.stats();
        assert_eq!(
            (s.ssrc_changes, s.late, s.lost, s.out_of_range),
            (0, 0, 0, 1),
            "the stray is dropped"
        );
        assert_accounted(&sim.buf);
    }

    #[test]
    fn sequence_restart_is_confirmed_by_probation() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(1000)), (20, a(1001)), (40, a(1002)),
            (100, a(1004)),  // 1003 missing, 1004 held at the restart
            (220, meta(A, 7, 42)),  // far from 1004: probation
            (240, meta(A, 8, 202)),  // continues it: restart
            (260, meta(A, 9, 362)),
            (280, a(1003)),  // straggler of the old sequence
        ]);
        #[rustfmt::skip]
        assert_eq!(verdicts, vec![Queued, Queued, Queued, Queued, Probation, Queued, Queued, Late]);
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 1000, 0, false), (200, A, S + 1001, 0, false), (200, A, S + 1002, 0, false),
            (240, A, S + 1004, 1, false),
            (420, A, S + 7, 0, true), (420, A, S + 8, 0, false), (420, A, S + 9, 0, false),
        ]);
        let timestamps: Vec<u64> = sim.out[4..].iter().map(|(_, r)| r.timestamp.0).collect();
        assert_eq!(timestamps, vec![T + 42, T + 202, T + 362]);
        let s = sim.buf.stats();
        assert_eq!(
            (s.restarts, s.lost, s.late, s.out_of_range, s.released),
            (1, 1, 1, 0, 7)
        );
        assert_accounted(&sim.buf);
    }

    #[test]
    fn a_lone_wild_sequence_number_is_dropped() {
        let mut sim = Sim::new(JitterConfig::default());
        #[rustfmt::skip]
        let verdicts = sim.push_all(&[
            (0, a(10)), (20, a(11)),
            (40, a(40000)),  // far ahead, not followed
            (60, a(12)),
            (80, a(111)),    // within max_dropout: a real gap
            (100, a(65000)), // far behind (wrapped), left in probation at the end
        ]);
        assert_eq!(
            verdicts,
            vec![Queued, Queued, Probation, Queued, Queued, Probation]
        );
        assert_eq!(sim.buf.stats().held, 5);
        sim.finish();
        #[rustfmt::skip]
        assert_eq!(sim.log(), vec![
            (200, A, S + 10, 0, false), (200, A, S + 11, 0, false), (200, A, S + 12, 0, false),
            (280, A, S + 111, 98, false),
        ]);
        assert_eq!(
            sim.buf.stats().held,
            1,
            "the probation packet is still held"
        );
        assert_eq!(sim.buf.drain(), Poll::Empty);
        let s = sim.buf.stats();
        assert_eq!((s.out_of_range, s.held, s.restarts, s.lost), (2, 0, 0, 98));
        assert_accounted(&sim.buf);
    }

    /// 10,000 packets at one instant, every other sequence number missing (so nothing is ever
    /// due), reversed in blocks of 8: only the bound releases anything.
    fn flood() -> impl Iterator<Item = PacketMeta> {
        (0..10_000u32).map(|n| {
            let k = (n / 8) * 8 + 7 - n % 8;
            meta(A, 60_000u16.wrapping_add((2 * k) as u16), 160 * k)
        })
    }

    fn flood_config() -> JitterConfig {
        JitterConfig {
            max_packets: 64,
            ..JitterConfig::default()
        }
    }

    #[test]
    fn the_bound_holds_under_a_polled_flood() {
        let mut buf = JitterBuffer::new(flood_config());
        let mut out = Vec::new();
        for m in flood() {
            assert_eq!(buf.push(Time::ZERO, m, ()), Queued);
            loop {
                match buf.poll(Time::ZERO) {
                    Poll::Packet(r) => out.push((r.seq.0, r.lost_before)),
                    Poll::Wait(at) => {
                        assert_eq!(at, ms(200));
                        break;
                    }
                    Poll::Empty => unreachable!("packets are held"),
                }
            }
            assert!(buf.stats().held <= 63);
        }
        assert_eq!(out.len(), 10_000 - 63);
        while let Poll::Packet(r) = buf.drain() {
            out.push((r.seq.0, r.lost_before));
        }
        let expected: Vec<(u64, u64)> = (0..10_000u64)
            .map(|k| (S + 60_000 + 2 * k, u64::from(k > 0)))
            .collect();
        assert_eq!(out, expected);
        let s = buf.stats();
        #[rustfmt::skip]
        assert_eq!(
            (s.received, s.released, s.overflow, s.evicted, s.lost, s.late, s.reordered, s.held),
            (10_000, 10_000, 10_000 - 63, 0, 9_999, 0, 8_750, 0)
        );
        assert_accounted(&buf);
    }

    #[test]
    fn the_bound_holds_when_pushed_without_polling() {
        let mut buf = JitterBuffer::new(flood_config());
        for m in flood() {
            buf.push(Time::ZERO, m, ());
            assert!(buf.stats().held <= 64);
        }
        let s = buf.stats();
        assert_eq!(
            (s.held, s.evicted, s.lost),
            (64, 10_000 - 64, 1 + 2 * (10_000 - 65))
        );
        let mut out = Vec::new();
        while let Poll::Packet(r) = buf.drain() {
            out.push((r.seq.0, r.lost_before));
        }
        let mut expected: Vec<(u64, u64)> = (10_000 - 64..10_000u64)
            .map(|k| (S + 60_000 + 2 * k, 1))
            .collect();
        expected[0].1 += 1 + 2 * (10_000 - 65);
        assert_eq!(out, expected);
        assert_eq!(
            buf.stats().lost,
            2 * 10_000 - 1 - 64,
            "every sequence number not released"
        );
        assert_accounted(&buf);
    }

    /// A tiny deterministic PRNG (xorshift64).
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn shuffled_duplicated_and_dropped_within_latency_comes_out_exactly_once_in_order() {
        // (seed, packets, drop %, duplicate %, max extra delay in ms: below the 200 ms latency)
        #[rustfmt::skip]
        let cases: &[(u64, u16, u64, u64, u64)] = &[
            (1, 500, 0, 0, 0),
            (2, 500, 0, 0, 150),
            (3, 500, 5, 0, 150),
            (4, 500, 0, 10, 150),
            (5, 800, 10, 10, 190),
            (6, 800, 30, 30, 100),
            (7, 300, 50, 50, 199),
        ];
        for &(seed, n, drop_pct, dup_pct, jitter) in cases {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ seed);
            let first_seq: u16 = 65_400; // wraps mid-stream
            let first_ts: u32 = u32::MAX - 30_000; // wraps mid-stream
                                                   // (arrival ms, copy: 0 original / 1 duplicate, index)
            let mut events = Vec::new();
            let mut dropped = 0u64;
            let mut duplicated = 0u64;
            for i in 0..n {
                let edge = i == 0 || i == n - 1;
                if !edge && rng.below(100) < drop_pct {
                    dropped += 1;
                    continue;
                }
                let arrival = 20 * u64::from(i) + rng.below(jitter + 1);
                events.push((arrival, 0, i));
                if rng.below(100) < dup_pct {
                    duplicated += 1;
                    events.push((arrival + rng.below(300), 1, i));
                }
            }
            events.sort();
            let mut sim = Sim::new(JitterConfig::default());
            for &(arrival, _, i) in &events {
                let m = meta(
                    7,
                    first_seq.wrapping_add(i),
                    first_ts.wrapping_add(160 * u32::from(i)),
                );
                sim.push(arrival, m);
            }
            sim.finish();

            let kept: Vec<u16> = events.iter().filter(|e| e.1 == 0).map(|e| e.2).collect();
            let mut kept_in_order = kept.clone();
            kept_in_order.sort();
            let released: Vec<u64> = sim.out.iter().map(|(_, r)| r.seq.0).collect();
            let expected: Vec<u64> = kept_in_order
                .iter()
                .map(|&i| S + u64::from(first_seq) + u64::from(i))
                .collect();
            assert_eq!(released, expected, "seed {seed}");
            for (_, r) in &sim.out {
                let i = (r.seq.0 - S - u64::from(first_seq)) as u16;
                assert_eq!(
                    events[r.item],
                    events
                        .iter()
                        .find(|e| e.2 == i && e.1 == 0)
                        .copied()
                        .unwrap(),
                    "seed {seed}: the original copy"
                );
                assert_eq!(
                    r.timestamp.0,
                    T + u64::from(first_ts) + 160 * u64::from(i),
                    "seed {seed}"
                );
            }
            let s = sim.buf.stats();
            let lost_before: u64 = sim.out.iter().map(|(_, r)| r.lost_before).sum();
            assert_eq!(s.lost, dropped, "seed {seed}");
            assert_eq!(lost_before, dropped, "seed {seed}");
            assert_eq!(s.lost + s.released, u64::from(n), "seed {seed}");
            assert_eq!(
                (s.duplicate, s.late, s.out_of_range),
                (duplicated, 0, 0),
                "seed {seed}"
            );
            assert_accounted(&sim.buf);
        }
    }

    #[test]
    fn hostile_input_keeps_every_packet_accounted_and_the_bound() {
        for seed in 1..=20u64 {
            let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ seed);
            let config = JitterConfig {
                latency: Duration::from_millis(50),
                max_packets: 32,
                max_dropout: 300,
                max_misorder: 20,
            };
            let mut buf = JitterBuffer::new(config);
            let (mut now, mut clock) = (0u64, Time::ZERO);
            let (mut ssrc, mut seq) = (1u32, rng.below(65536) as u16);
            let mut last: Option<(u32, u64)> = None;
            for _ in 0..5000 {
                now = (now + rng.below(30)).saturating_sub(5); // sometimes backwards
                let action = rng.below(10);
                if action < 9 {
                    clock = clock.max(ms(now)); // what the buffer has seen
                }
                let polled = match action {
                    0..=5 => {
                        if rng.below(50) == 0 {
                            ssrc = 1 + rng.below(3) as u32;
                        }
                        seq = match rng.below(20) {
                            0 => rng.below(65536) as u16,
                            1..=4 => seq.wrapping_sub(rng.below(40) as u16),
                            _ => seq.wrapping_add(1 + rng.below(3) as u16),
                        };
                        buf.push(ms(now), meta(ssrc, seq, rng.below(1 << 32) as u32), ());
                        None
                    }
                    6..=8 => Some(buf.poll(ms(now))),
                    _ => Some(buf.drain()),
                };
                match polled {
                    Some(Poll::Packet(r)) => {
                        if !r.discontinuity {
                            if let Some((last_ssrc, last_seq)) = last {
                                assert_eq!(r.ssrc, last_ssrc, "seed {seed}");
                                assert!(r.seq.0 > last_seq, "seed {seed}");
                            }
                        }
                        last = Some((r.ssrc, r.seq.0));
                    }
                    Some(Poll::Wait(at)) => assert!(at > clock, "seed {seed}"),
                    _ => {}
                }
                assert_accounted(&buf);
            }
        }
    }

    #[test]
    fn time_going_backwards_is_no_progress() {
        let mut buf = JitterBuffer::new(JitterConfig::default());
        assert_eq!(buf.push(ms(1000), a(10), 'a'), Queued);
        assert_eq!(buf.poll(ms(500)), Poll::Wait(ms(1200)));
        assert_eq!(buf.push(ms(100), a(11), 'b'), Queued);
        let Poll::Packet(first) = buf.poll(ms(1200)) else {
            panic!("10 is due")
        };
        assert_eq!((first.item, first.arrival), ('a', ms(1000)));
        let Poll::Packet(second) = buf.poll(ms(50)) else {
            panic!("11 is next")
        };
        assert_eq!(
            (second.item, second.arrival),
            ('b', ms(1000)),
            "arrival never before a seen now"
        );
        assert_eq!(buf.push(Time::ZERO, a(13), 'c'), Queued);
        assert_eq!(buf.poll(Time::ZERO), Poll::Wait(ms(1400)));
        let Poll::Packet(third) = buf.poll(ms(1400)) else {
            panic!("13 is due")
        };
        assert_eq!((third.item, third.lost_before), ('c', 1));
        assert_eq!(buf.poll(ms(1)), Poll::Empty);
    }

    #[test]
    fn drain_releases_everything_in_order_without_waiting() {
        let mut buf = JitterBuffer::new(JitterConfig::default());
        for s in [12, 10, 15, 11] {
            buf.push(ms(5), a(s), s);
        }
        let mut out = Vec::new();
        while let Poll::Packet(r) = buf.drain() {
            out.push((r.item, r.lost_before));
        }
        assert_eq!(out, vec![(10, 0), (11, 0), (12, 0), (15, 2)]);
        let s = buf.stats();
        assert_eq!((s.released, s.lost, s.held, s.overflow), (4, 2, 0, 0));
    }
}
