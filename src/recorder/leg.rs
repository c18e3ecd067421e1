//! One leg of a recorded call: datagrams in, decoded audio placed on the call clock out.
//! Composes parse → jitter buffer → decode (with concealment) → upsample → timeline, and keeps
//! the leg's counters. Does no IO.

use super::payload::{PayloadMap, PayloadType};
use super::summary::{LegCounts, TelephoneEvent};
use crate::media::codec::{Codec, Decoder, PayloadKind};
use crate::media::interarrival::InterarrivalJitter;
use crate::media::jitter::{JitterBuffer, JitterConfig, PacketMeta, Poll, Released};
use crate::media::resample::Upsampler;
use crate::media::timeline::{LegTimeline, TimelineConfig};
use crate::rtp::{looks_like_rtcp, RtcpCompound, RtpPacket};
use crate::time::Time;
use bytes::Bytes;
use std::time::Duration;

/// Telephone events kept per leg; more are counted, not stored.
const MAX_TELEPHONE_EVENTS: usize = 1024;

/// Arrival times of decoded packets kept until the owner takes them (a live server measures
/// arrival-to-decode with them); a recorder nobody asks keeps only this many.
const MAX_DECODED_ARRIVALS: usize = 4096;

/// How long a leg whose audio stopped without a word (no comfort noise, no event) holds the
/// output at its end, waiting for the packet that says whether packets were lost there: a
/// loss is concealed from where it began only if that is not written yet. Longer gaps (and
/// talkspurts that simply ended) are silence; output waits at most this long for them.
const LOSS_WAIT: Duration = Duration::from_secs(1);

/// How long after a leg's first packet its first stream may hold output while it waits in
/// the jitter buffer (beyond that, a leg that never decodes holds nothing).
const FIRST_STREAM_WAIT: Duration = Duration::from_secs(2);

/// Where the last decoded packet ended and how long it was, in RTP ticks.
#[derive(Copy, Clone, Debug)]
struct LastAudio {
    end: u64,
    ticks: u64,
    clock_rate: u32,
}

/// A decoder for one codec of the leg, with the upsampler that brings it to the call's rate.
struct CodecChain {
    codec: Codec,
    decoder: Decoder,
    upsampler: Upsampler,
}

pub(crate) struct LegState {
    payloads: PayloadMap,
    jitter: JitterBuffer<RtpPacket>,
    chains: Vec<CodecChain>,
    timeline: Option<LegTimeline>,
    /// The last decoded packet, for concealing what is lost after it.
    last_audio: Option<LastAudio>,
    counts: LegCounts,
    ssrcs: Vec<u32>,
    codecs: Vec<Codec>,
    events: Vec<TelephoneEvent>,
    first_packet: Option<Time>,
    last_packet: Option<Time>,
    decoded: Vec<i16>,
    upsampled: Vec<i16>,
    decoded_arrivals: Vec<Time>,
    interarrival: InterarrivalJitter,
    /// PCI handling: telephone events are kept without their code.
    pci: bool,
}

impl LegState {
    pub(super) fn new(payloads: PayloadMap, jitter: JitterConfig, pci: bool) -> Self {
        LegState {
            pci,
            payloads,
            jitter: JitterBuffer::new(jitter),
            chains: Vec::new(),
            timeline: None,
            last_audio: None,
            counts: LegCounts::default(),
            ssrcs: Vec::new(),
            codecs: Vec::new(),
            events: Vec::new(),
            first_packet: None,
            last_packet: None,
            decoded: Vec::new(),
            upsampled: Vec::new(),
            decoded_arrivals: Vec::new(),
            interarrival: InterarrivalJitter::default(),
        }
    }

    pub(super) fn start_timeline(&mut self, rate: u32, call_start: Time, config: TimelineConfig) {
        self.timeline = Some(LegTimeline::new(rate, call_start, config));
    }

    pub(super) fn timeline(&mut self) -> Option<&mut LegTimeline> {
        self.timeline.as_mut()
    }

    pub(super) fn end(&self) -> u64 {
        self.timeline.as_ref().map_or(0, LegTimeline::end)
    }

    /// Takes one datagram. Returns true when it was RTP the jitter buffer accepted for
    /// consideration (the call's clock starts at the first such packet).
    pub(super) fn push(&mut self, now: Time, datagram: Bytes) -> bool {
        if looks_like_rtcp(&datagram) {
            match RtcpCompound::parse(datagram) {
                Ok(_) => self.counts.rtcp += 1,
                Err(_) => self.counts.malformed += 1,
            }
            return false;
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(packet) => packet,
            Err(_) => {
                self.counts.malformed += 1;
                return false;
            }
        };
        self.counts.received += 1;
        self.first_packet.get_or_insert(now);
        self.last_packet = Some(now);
        let meta = PacketMeta {
            ssrc: packet.ssrc(),
            sequence: packet.sequence(),
            timestamp: packet.timestamp(),
        };
        if let Some(PayloadType {
            kind: PayloadKind::Audio(_),
            clock_rate,
        }) = self.payloads.get(packet.payload_type())
        {
            self.interarrival
                .observe(now, meta.ssrc, packet.timestamp(), clock_rate);
        }
        if !self.ssrcs.contains(&meta.ssrc) && self.ssrcs.len() < 64 {
            self.ssrcs.push(meta.ssrc);
        }
        let _ = self.jitter.push(now, meta, packet);
        true
    }

    /// How far (a timeline position) the mixer may take this leg now: while its stream is being
    /// anchored, or while its audio has stopped and the packets that would say whether that
    /// was a loss may still come (the jitter buffer waits on a gap, or the leg went quiet in
    /// sound less than [`LOSS_WAIT`] ago), not past what could still change. `None` when
    /// nothing holds it.
    pub(super) fn hold(&self, now: Time) -> Option<u64> {
        let timeline = self.timeline.as_ref()?;
        if let Some(hold) = timeline.hold().or_else(|| self.first_stream_hold(now)) {
            return Some(hold);
        }
        self.last_audio?;
        let waiting_on_gap = self.jitter.stats().held > 0;
        let went_quiet = self.last_packet.is_some_and(|last| now < last + LOSS_WAIT);
        (waiting_on_gap || went_quiet).then(|| timeline.end())
    }

    /// Whether the leg's first stream is arriving but not anchored yet (in the jitter buffer,
    /// or in the timeline's anchor window): the call's start cannot be fixed before it.
    pub(super) fn anchoring(&self, now: Time) -> bool {
        self.timeline
            .as_ref()
            .is_some_and(|t| t.hold().is_some() || self.first_stream_hold(now).is_some())
    }

    /// While the leg's first packets wait in the jitter buffer (up to the output lag and a
    /// second after the first arrived, should they never decode), the mixer must not pass
    /// where they may land.
    fn first_stream_hold(&self, now: Time) -> Option<u64> {
        let timeline = self.timeline.as_ref()?;
        let first = self.first_packet?;
        let waiting = timeline.unanchored() && now < first + FIRST_STREAM_WAIT;
        waiting.then(|| timeline.hold_for_arrival(first))
    }

    /// RFC 3550 interarrival jitter of the leg's audio.
    pub(super) fn interarrival(&self) -> &InterarrivalJitter {
        &self.interarrival
    }

    /// Hands over the arrival time of every packet decoded since the last call.
    pub(super) fn take_decoded_arrivals(&mut self, each: &mut impl FnMut(Time)) {
        self.decoded_arrivals.drain(..).for_each(each);
    }

    /// Plays every packet the jitter buffer releases by `now`; with `now = None`, everything
    /// it holds (end of call).
    pub(super) fn play_until(&mut self, now: Option<Time>, max_conceal: Duration) {
        loop {
            let poll = match now {
                Some(now) => self.jitter.poll(now),
                None => self.jitter.drain(),
            };
            match poll {
                Poll::Packet(released) => self.play(released, max_conceal),
                Poll::Wait(_) | Poll::Empty => break,
            }
        }
    }

    fn play(&mut self, released: Released<RtpPacket>, max_conceal: Duration) {
        let packet = &released.item;
        let Some(PayloadType { kind, clock_rate }) = self.payloads.get(packet.payload_type())
        else {
            self.counts.unknown_payload_type += 1;
            return;
        };
        match kind {
            PayloadKind::Audio(codec) => self.play_audio(codec, clock_rate, &released, max_conceal),
            PayloadKind::ComfortNoise => {
                // RFC 3389 noise is recorded as silence; the next talkspurt is not a loss.
                self.counts.comfort_noise += 1;
                self.last_audio = None;
            }
            PayloadKind::TelephoneEvent => {
                // The event replaces audio (RFC 4733 §2.5): nothing to conceal across it.
                self.last_audio = None;
                self.note_event(packet.payload(), released.timestamp.0, clock_rate)
            }
        }
    }

    fn play_audio(
        &mut self,
        codec: Codec,
        clock_rate: u32,
        released: &Released<RtpPacket>,
        max_conceal: Duration,
    ) {
        let Some(timeline) = self.timeline.as_mut() else {
            return;
        };
        let rate = timeline.rate();
        let timestamp = released.timestamp.0;
        let payload = released.item.payload();
        if released.discontinuity {
            // A new source or sequence: no decoder state (ADPCM, Opus) carries across.
            self.chains.clear();
        }
        let Some(chain) = chain_for(&mut self.chains, &mut self.codecs, codec, rate) else {
            self.counts.decode_errors += 1;
            return;
        };
        let native = chain.decoder.sample_rate();
        let decoded = &mut self.decoded;
        let upsampled = &mut self.upsampled;

        // Lost packets just before this one (not DTX: the jitter buffer saw the sequence skip).
        // The loss is where the lost packets were: they run up to this packet, so with no DTX
        // between, from right after the last packet heard. Concealment starts there and
        // fades out; a gap longer than `max_conceal` stays silent after it, rather than a
        // fading echo of the old audio just before the new.
        if let (Some(last), false) = (self.last_audio, released.discontinuity) {
            if released.lost_before > 0 && last.clock_rate == clock_rate {
                let lost_ticks = released.lost_before.saturating_mul(last.ticks);
                let limit = max_conceal.as_millis() as u64 * u64::from(clock_rate) / 1000;
                let gap = timestamp.saturating_sub(last.end).min(lost_ticks);
                let ticks = gap.min(limit);
                let samples = (ticks * u64::from(native) / u64::from(clock_rate)) as usize;
                if samples > 0 {
                    decoded.clear();
                    // A gap concealed whole ends at this packet: Opus rebuilds its last frame
                    // from this packet's FEC data. A longer one only fades out from its start.
                    let whole = gap <= limit;
                    if !whole || chain.decoder.recover(payload, samples, decoded).is_err() {
                        decoded.clear();
                        chain.decoder.conceal(samples, decoded);
                    }
                    self.counts.concealed_ms += samples as u64 * 1000 / u64::from(native);
                    let made_up = at_call_rate(&mut chain.upsampler, decoded, upsampled);
                    timeline.place(None, timestamp - gap, clock_rate, false, made_up);
                }
            }
        }

        decoded.clear();
        if chain.decoder.decode(payload, decoded).is_err() {
            self.counts.decode_errors += 1;
            self.last_audio = None;
            return;
        }
        if self.decoded_arrivals.len() < MAX_DECODED_ARRIVALS {
            self.decoded_arrivals.push(released.arrival);
        }
        let ticks = decoded.len() as u64 * u64::from(clock_rate) / u64::from(native);
        self.last_audio = Some(LastAudio {
            end: timestamp + ticks,
            ticks,
            clock_rate,
        });
        timeline.place(
            Some(released.arrival),
            timestamp,
            clock_rate,
            released.discontinuity,
            at_call_rate(&mut chain.upsampler, decoded, upsampled),
        );
    }

    /// RFC 4733 §2.3: event, E bit, volume, duration. One entry per event (its timestamp).
    fn note_event(&mut self, payload: &[u8], timestamp: u64, clock_rate: u32) {
        let Some(&[event, flags, d0, d1]) = payload.get(..4) else {
            self.counts.malformed += 1;
            return;
        };
        let ended = flags & 0x80 != 0;
        let duration = u16::from_be_bytes([d0, d1]);
        let duration_ms = u64::from(duration) * 1000 / u64::from(clock_rate.max(1));
        let wire_timestamp = timestamp as u32; // the low 32 bits are what was on the wire
        if let Some(last) = self
            .events
            .last_mut()
            .filter(|e| e.rtp_timestamp == wire_timestamp)
        {
            last.duration_ms = last.duration_ms.max(duration_ms);
            last.ended |= ended;
            return;
        }
        self.counts.telephone_events += 1;
        if self.events.len() < MAX_TELEPHONE_EVENTS {
            let call_secs = self
                .timeline
                .as_ref()
                .and_then(|t| t.seconds_at(timestamp, clock_rate));
            self.events.push(TelephoneEvent {
                event: (!self.pci).then_some(event),
                rtp_timestamp: wire_timestamp,
                call_secs,
                duration_ms,
                ended,
            });
        }
    }

    /// The leg's counters, with the jitter buffer's and timeline's folded in.
    pub(super) fn counts(&self) -> LegCounts {
        let jitter = self.jitter.stats();
        let mut counts = self.counts.clone();
        counts.lost = jitter.lost;
        counts.late = jitter.late;
        counts.duplicate = jitter.duplicate;
        counts.reordered = jitter.reordered;
        counts.ssrc_changes = jitter.ssrc_changes;
        counts.sequence_restarts = jitter.restarts;
        counts.jitter_overflow = jitter.overflow;
        counts.out_of_range = jitter.out_of_range;
        counts.jitter_evicted = jitter.evicted;
        if let Some(timeline) = &self.timeline {
            let t = timeline.stats();
            counts.late_samples = t.late_samples;
            counts.dropped_ahead_samples = t.dropped_ahead_samples;
            counts.resyncs = t.resyncs;
            counts.drift_correction_samples = t.drift_correction_samples;
        }
        counts
    }

    pub(super) fn ssrcs(&self) -> &[u32] {
        &self.ssrcs
    }

    pub(super) fn codecs(&self) -> &[Codec] {
        &self.codecs
    }

    pub(super) fn events(&self) -> &[TelephoneEvent] {
        &self.events
    }

    pub(super) fn packet_times(&self) -> (Option<Time>, Option<Time>) {
        (self.first_packet, self.last_packet)
    }
}

/// `decoded` at the call's rate: itself when its codec runs at that rate (no copy), else
/// upsampled into `buf`.
fn at_call_rate<'a>(
    upsampler: &mut Upsampler,
    decoded: &'a [i16],
    buf: &'a mut Vec<i16>,
) -> &'a [i16] {
    if upsampler.factor() == 1 {
        return decoded;
    }
    buf.clear();
    upsampler.process(decoded, buf);
    buf
}

/// The leg's decoder chain for `codec`, made on first use (a leg may switch codecs).
fn chain_for<'a>(
    chains: &'a mut Vec<CodecChain>,
    codecs: &mut Vec<Codec>,
    codec: Codec,
    rate: u32,
) -> Option<&'a mut CodecChain> {
    if let Some(i) = chains.iter().position(|c| c.codec == codec) {
        return chains.get_mut(i);
    }
    let native = super::native_rate(codec, rate);
    let decoder = Decoder::new(codec, native).ok()?;
    let upsampler = Upsampler::new((rate / native.max(1)).max(1) as usize);
    codecs.push(codec);
    chains.push(CodecChain {
        codec,
        decoder,
        upsampler,
    });
    chains.last_mut()
}
