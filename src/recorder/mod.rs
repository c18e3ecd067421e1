//! One call's recorder: the two legs' datagrams in, encoded file chunks and a summary out.
//!
//! A plain struct that owns both legs end to end. It does no IO and reads no clock: every
//! input carries its own `now`, every output is returned. The same `Recorder` runs live
//! (socket time), offline (capture time), in tests, benches and the fuzzer, and gives the
//! same bytes for the same input.
//!
//! Output is cut in 20 ms blocks that trail the newest packet by the jitter buffer's latency
//! (plus room for a pause beep), so each block is final when it is written: both legs are
//! taken from their timelines, combined by the layout, tones added, excluded and paused
//! spans silenced or cut, then encoded.
//!
//! Under PCI handling ([`RecorderConfig::pci`]) each leg's audio also passes a DTMF detector
//! ([`crate::media::dtmf`]) before it is mixed, and finished blocks wait [`PCI_LOOKAHEAD`]
//! before they are encoded, so a tone found there is silenced from a guard before its start
//! ([`PCI_GUARD`]) to a guard after its end; the key pressed is noted without its digit,
//! and RFC 4733 events are noted without their code.

mod leg;
pub mod metadata;
pub mod payload;
pub mod summary;

use crate::encode::{Chunk, EncodeError, Format, MediaEncoder, OpusSettings};
use crate::media::codec::Codec;
use crate::media::dtmf::{DtmfDetector, Tone};
use crate::media::jitter::JitterConfig;
use crate::media::mix::{self, Layout};
use crate::media::spans::{PauseMode, Span, Spans};
use crate::media::timeline::TimelineConfig;
use crate::media::tones::{PlacedTone, ToneBank, ToneKind, ToneSpec};
use crate::time::Time;
use bytes::Bytes;
use leg::LegState;
use payload::PayloadMap;
use std::collections::VecDeque;
use std::time::Duration;
use summary::{
    EncoderSummary, FileSummary, KeyPress, KeyPressSource, LegSummary, SpanSecs, Summary,
    ToneRecord,
};

/// Which party's stream a datagram belongs to. Leg A is the left channel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Leg {
    A,
    B,
}

impl Leg {
    fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// The reminder that the call is being recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Reminder {
    /// Seconds of call time between reminders, the first one after one interval (10..=90).
    pub interval_secs: u32,
    pub tone: ToneSpec,
}

/// Tones logged in a recording's summary; a call longer than this many tones (a day of
/// 10 s reminders) still plays them, unlogged.
const MAX_TONE_LOG: usize = 10_000;

/// Key presses listed in a recording's summary under PCI handling; more are silenced all the
/// same.
pub const MAX_KEY_PRESSES: usize = 4096;

/// Under PCI handling, audio silenced before an in-band DTMF tone's detected start and after
/// its end: the detector places edges within a quarter window (6.4 ms), and a key's first and
/// last milliseconds must not survive either.
pub const PCI_GUARD: Duration = Duration::from_millis(40);

/// Under PCI handling, how long finished blocks wait before they are encoded: a tone is
/// certain 38-45 ms after it starts, and must be silenced from [`PCI_GUARD`] before that.
pub const PCI_LOOKAHEAD: Duration = Duration::from_millis(100);

/// Most 20 ms blocks one `poll` writes: one second of audio.
const BLOCKS_PER_POLL: usize = 50;

/// Reminder intervals policy allows.
pub const REMINDER_INTERVALS: std::ops::RangeInclusive<u32> = 10..=90;

/// How one call is recorded.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    pub layout: Layout,
    pub format: Format,
    pub opus: OpusSettings,
    pub jitter: JitterConfig,
    pub timeline: TimelineConfig,
    pub reminder: Option<Reminder>,
    /// Beeps marking a pause's start and a resume; `None` for no notification.
    pub notification: Option<(ToneSpec, ToneSpec)>,
    pub pause_mode: PauseMode,
    /// The rate Opus legs are decoded at (libopus decodes to any of 8/12/16/24/48 kHz).
    pub opus_rate: u32,
    /// Longest gap of lost packets filled by concealment; longer gaps stay silent.
    pub max_conceal: Duration,
    /// Ogg stream serial of the first file (the second gets the next number).
    pub stream_serial: u32,
    /// Packets arriving later than this after the call's start are dropped and counted: no
    /// input can make a recording grow without end.
    pub max_call_duration: Duration,
    /// PCI handling (the organisation's `pciDtmfSuppression`): card numbers typed on a keypad
    /// are never stored. RFC 4733 events are noted without their code, in-band DTMF tones
    /// are silenced (with a guard each side), and each key press is listed without its
    /// digit.
    pub pci: bool,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            layout: Layout::Stereo,
            format: Format::OggOpus,
            opus: OpusSettings::default(),
            jitter: JitterConfig::default(),
            timeline: TimelineConfig::default(),
            reminder: None,
            notification: None,
            pause_mode: PauseMode::Silence,
            opus_rate: 16000,
            max_conceal: Duration::from_millis(200),
            stream_serial: 0x6361_6c6c, // "call"
            max_call_duration: Duration::from_secs(12 * 3600),
            pci: false,
        }
    }
}

/// A recorder that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// Neither leg has an audio codec callrec decodes.
    #[error("no leg carries audio callrec can decode (payload types unknown or unsupported)")]
    NoAudio,
    /// The reminder interval is outside what policy allows.
    #[error("reminder interval {0} s is outside 10..=90 s")]
    ReminderInterval(u32),
    /// A tone's frequency, length or level cannot be played at the recording's rate.
    #[error("{0}")]
    Tone(String),
    /// Opus legs decode at 8, 16 or 48 kHz: whole multiples of the other codecs' rates.
    #[error("Opus decode rate {0} Hz is not 8000, 16000 or 48000")]
    OpusRate(u32),
    /// The encoder refused its settings or failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Encoded bytes for one of the recording's files (`file` 0, or 1 for leg B when separate).
#[derive(Clone, Debug, PartialEq)]
pub struct FileChunk {
    pub file: usize,
    pub chunk: Chunk,
}

/// The sample rate a codec decodes at when the recording runs at `rate`.
fn native_rate(codec: Codec, recording_rate: u32) -> u32 {
    match codec {
        Codec::Pcmu | Codec::Pcma => 8000,
        Codec::G722 => 16000,
        Codec::Opus => recording_rate,
    }
}

pub struct Recorder {
    config: RecorderConfig,
    rate: u32,
    block: u64,
    legs: [LegState; 2],
    /// When the call's second 0 is: the first packet's arrival at first, then (once the legs
    /// are anchored) moved earlier by the first leg's anchor, so the earliest audio starts the
    /// file even when its first packet came late.
    call_start: Option<Time>,
    /// Position 0 of the legs' timelines: the first packet's arrival less the output lag, so a
    /// leg anchored earlier than its first packet's arrival still has room.
    origin: Option<Time>,
    /// The first packet's arrival on the timelines (the output lag, in samples).
    slack: u64,
    /// The timeline position of the call's second 0, fixed once the first streams are
    /// anchored; nothing is written before.
    lead: Option<u64>,
    /// The latest accepted packet: the call lasts at least until then.
    last_packet: Option<Time>,
    beyond_max_duration: u64,
    /// Call samples `[0, emitted)` have been written.
    emitted: u64,
    spans: Spans,
    tones: ToneBank,
    pending_tones: Vec<PlacedTone>,
    /// How far output trails `now`: the jitter buffer's wait, plus room for a pause beep that
    /// is placed just before the moment of the pause.
    output_lag: Duration,
    tone_log: Vec<ToneRecord>,
    encoders: Vec<MediaEncoder>,
    left: Vec<i16>,
    right: Vec<i16>,
    mixed: Vec<i16>,
    /// The parts of the block being written that stay in the file.
    kept: Vec<(u64, u64)>,
    /// PCI handling, when on.
    pci: Option<Pci>,
}

/// The state PCI handling adds to a recorder.
struct Pci {
    /// One detector per leg, fed the leg's audio at call positions.
    detectors: [DtmfDetector; 2],
    /// Finished blocks waiting to be encoded.
    held: VecDeque<Held>,
    /// Call spans to silence (tones found, guards added) not yet passed by encoding.
    silence: Vec<(u64, u64)>,
    key_presses: Vec<KeyPress>,
    guard: u64,
    lookahead: u64,
    tones: Vec<Tone>,
}

/// A block of one file, mixed and with its tones, waiting under PCI handling.
struct Held {
    file: usize,
    from: u64,
    to: u64,
    samples: Vec<i16>,
    kept: Vec<(u64, u64)>,
}

impl Recorder {
    /// A recorder for a call whose legs use `payloads` (what signalling or the capture says).
    pub fn new(config: RecorderConfig, payloads: [PayloadMap; 2]) -> Result<Self, RecorderError> {
        if let Some(r) = &config.reminder {
            if !REMINDER_INTERVALS.contains(&r.interval_secs) {
                return Err(RecorderError::ReminderInterval(r.interval_secs));
            }
        }
        if ![8000, 16000, 48000].contains(&config.opus_rate) {
            return Err(RecorderError::OpusRate(config.opus_rate));
        }
        let rate = payloads
            .iter()
            .flat_map(PayloadMap::codecs)
            .map(|c| native_rate(c, config.opus_rate))
            .max()
            .ok_or(RecorderError::NoAudio)?;
        let channels = config.layout.channels();
        let encoders = (0..config.layout.files())
            .map(|i| {
                let serial = config.stream_serial.wrapping_add(i as u32);
                MediaEncoder::new(config.format, rate, channels as u8, config.opus, serial)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let notification = config
            .notification
            .as_ref()
            .map(|(pause, resume)| [pause, resume]);
        let reminder_tone = config.reminder.as_ref().map(|r| &r.tone);
        for tone in reminder_tone
            .into_iter()
            .chain(notification.into_iter().flatten())
        {
            tone.check(rate).map_err(RecorderError::Tone)?;
        }
        // Beeps that can never play are not rendered, and output leaves room for a pause beep
        // (placed just before the moment of the pause) only when pauses are notified.
        let silent = ToneSpec {
            length_ms: 0,
            ..ToneSpec::PAUSE
        };
        let (pause_tone, resume_tone) = match &config.notification {
            Some((pause, resume)) => (pause, resume),
            None => (&silent, &silent),
        };
        let beep = Duration::from_nanos(pause_tone.len(rate) * 1_000_000_000 / u64::from(rate));
        let output_lag = config.jitter.latency + beep + Duration::from_millis(20);
        let tones = ToneBank::new(
            rate,
            config.reminder.as_ref().map(|r| (&r.tone, r.interval_secs)),
            pause_tone,
            resume_tone,
        );
        let [a, b] = payloads;
        Ok(Recorder {
            rate,
            block: u64::from(rate) / 50,
            legs: [
                LegState::new(a, config.jitter, config.pci),
                LegState::new(b, config.jitter, config.pci),
            ],
            call_start: None,
            origin: None,
            slack: 0,
            lead: None,
            last_packet: None,
            beyond_max_duration: 0,
            emitted: 0,
            spans: Spans::new(config.pause_mode),
            tones,
            pending_tones: Vec::new(),
            output_lag,
            tone_log: Vec::new(),
            encoders,
            left: Vec::new(),
            right: Vec::new(),
            mixed: Vec::new(),
            kept: Vec::new(),
            pci: config.pci.then(|| {
                let samples = |d: Duration| d.as_millis() as u64 * u64::from(rate) / 1000;
                Pci {
                    detectors: [DtmfDetector::new(rate), DtmfDetector::new(rate)],
                    held: VecDeque::new(),
                    silence: Vec::new(),
                    key_presses: Vec::new(),
                    guard: samples(PCI_GUARD),
                    lookahead: samples(PCI_LOOKAHEAD),
                    tones: Vec::new(),
                }
            }),
            config,
        })
    }

    /// The recording's sample rate: the fastest codec's rate among the legs.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn position(&self, at: Duration) -> u64 {
        (at.as_nanos() * u128::from(self.rate) / 1_000_000_000) as u64
    }

    /// One datagram (RTP or RTCP) of `leg`, seen at `now`.
    pub fn push(&mut self, now: Time, leg: Leg, datagram: Bytes) {
        if let Some(start) = self.call_start {
            if now.saturating_since(start) > self.config.max_call_duration {
                self.beyond_max_duration += 1;
                return;
            }
        }
        if !self.legs[leg.index()].push(now, datagram) {
            return;
        }
        self.last_packet = self.last_packet.max(Some(now));
        if self.call_start.is_none() {
            self.call_start = Some(now);
            let origin = now - self.output_lag;
            self.origin = Some(origin);
            self.slack = self.position(now.saturating_since(origin));
            // Frames may arrive as late as output trails input and still be placed.
            let lag = self.output_lag;
            let timeline = TimelineConfig {
                max_delay: lag,
                max_ahead: self.config.timeline.max_ahead + lag,
                ..self.config.timeline.clone()
            };
            for leg in &mut self.legs {
                leg.start_timeline(self.rate, origin, timeline.clone());
            }
        }
    }

    /// Pauses recording at `at` into the call (live: `now` minus the call's start).
    pub fn pause_at(&mut self, at: Duration) {
        let pos = self.position(at);
        if self.spans.pause(pos) && self.config.notification.is_some() {
            let len = self.tones.len(ToneKind::Pause);
            self.pending_tones.push(PlacedTone {
                kind: ToneKind::Pause,
                start: pos.saturating_sub(len),
            });
        }
    }

    /// Resumes recording at `at` into the call.
    pub fn resume_at(&mut self, at: Duration) {
        let pos = self.position(at);
        if self.spans.resume(pos) && self.config.notification.is_some() {
            self.pending_tones.push(PlacedTone {
                kind: ToneKind::Resume,
                start: pos,
            });
        }
    }

    /// Keeps `[from, to)` of the call (an announcement the parties heard) out of the file.
    /// Audio already written stays in it: returns how much of the span that was (zero when
    /// the span is reported before its audio is final, as a live client's reports are within
    /// the jitter buffer's wait, and an offline recording's always are).
    pub fn exclude(&mut self, from: Duration, to: Duration) -> Duration {
        let (from, to) = (self.position(from), self.position(to));
        let still_open = from.max(self.emitted).min(to);
        self.spans.exclude(still_open, to);
        let written = still_open - from.min(to);
        Duration::from_nanos(written * 1_000_000_000 / u64::from(self.rate))
    }

    /// Plays what is due by `now` and appends blocks that are final to `out`: at most one
    /// second of them, so a long silence (or a capture clock that jumps) never piles up
    /// unbounded output. Returns true when more is due: take `out`, then call again.
    #[must_use = "true means more output is due: drain `out` and poll again"]
    pub fn poll(&mut self, now: Time, out: &mut Vec<FileChunk>) -> Result<bool, EncodeError> {
        if self.call_start.is_none() {
            return Ok(false);
        }
        for leg in &mut self.legs {
            leg.play_until(Some(now), self.config.max_conceal);
            if let Some(timeline) = leg.timeline() {
                timeline.settle(Some(now));
            }
        }
        let Some(lead) = self.lead.or_else(|| self.fix_lead(Some(now))) else {
            return Ok(false); // the first streams are still being anchored
        };
        let call_start = self.call_start.expect("set with the first packet");
        let elapsed = now.saturating_since(call_start + self.output_lag);
        let mut final_until = self.position(elapsed.min(self.config.max_call_duration));
        // A stream still being anchored, or a loss still to be concealed where it began: wait.
        for leg in &self.legs {
            if let Some(hold) = leg.hold(now) {
                final_until = final_until.min(hold.saturating_sub(lead));
            }
        }
        for _ in 0..BLOCKS_PER_POLL {
            if self.emitted + self.block > final_until {
                return Ok(false);
            }
            self.emit(self.emitted + self.block, out)?;
        }
        Ok(self.emitted + self.block <= final_until)
    }

    /// Fixes the call's second 0 once no leg is anchoring a stream (or two anchor windows
    /// after the first packet; with `now = None`, at the call's end, whatever the legs do):
    /// the earliest audio placed, or the first packet's arrival if that is earlier or nothing
    /// was placed within the anchor window. Returns it.
    fn fix_lead(&mut self, now: Option<Time>) -> Option<u64> {
        let (call_start, origin) = (self.call_start?, self.origin?);
        let anchoring = self
            .legs
            .iter()
            .any(|leg| now.is_some_and(|now| leg.anchoring(now)));
        let first = self
            .legs
            .iter_mut()
            .filter_map(|leg| leg.timeline().and_then(|t| t.first()))
            .min();
        if let Some(now) = now {
            // Streams that keep restarting must not hold the call's start for ever.
            let window = self.config.timeline.anchor_window;
            let waited = now >= call_start + window;
            let waited_twice = now >= call_start + 2 * window;
            if (anchoring && !waited_twice) || (first.is_none() && !waited) {
                return None;
            }
        }
        let lead = first.unwrap_or(self.slack).min(self.slack);
        self.lead = Some(lead);
        let nanos = u128::from(lead) * 1_000_000_000 / u128::from(self.rate);
        self.call_start = Some(origin + Duration::from_nanos(nanos as u64));
        let mut discard = Vec::new();
        for leg in &mut self.legs {
            if let Some(timeline) = leg.timeline() {
                timeline.set_lead(lead);
                discard.clear();
                timeline.take(lead, &mut discard); // before the call's start: nothing
            }
        }
        Some(lead)
    }

    /// Hands over the arrival time of every packet decoded since the last call (both legs;
    /// at most a few thousand are kept between calls).
    pub fn take_decoded_arrivals(&mut self, mut each: impl FnMut(Time)) {
        for leg in &mut self.legs {
            leg.take_decoded_arrivals(&mut each);
        }
    }

    /// Ends the call: plays everything still held, writes the rest and closes the files.
    pub fn finish(mut self, out: &mut Vec<FileChunk>) -> Result<Summary, EncodeError> {
        for leg in &mut self.legs {
            leg.play_until(None, self.config.max_conceal);
            if let Some(timeline) = leg.timeline() {
                timeline.settle(None);
            }
        }
        let lead = self.lead.or_else(|| self.fix_lead(None)).unwrap_or(0);
        // The call lasts until its last audio ends or its last packet arrived (comfort noise
        // and events count), and never less than what was already written.
        let last_packet = match (self.call_start, self.last_packet) {
            (Some(start), Some(last)) => self.position(last.saturating_since(start)),
            _ => 0,
        };
        let audio_end = self.legs.iter().map(LegState::end).max().unwrap_or(0);
        let audio_end = audio_end.saturating_sub(lead);
        let longest = self.position(self.config.max_call_duration);
        let end = audio_end.max(last_packet).max(self.emitted).min(longest);
        while self.emitted < end {
            self.emit((self.emitted + self.block).min(end), out)?;
        }
        if let Some(pci) = &mut self.pci {
            for leg in 0..2 {
                pci.detectors[leg].finish(&mut pci.tones);
                pci.note_tones(leg, self.rate);
            }
            pci.release(u64::MAX, &mut self.encoders, out)?;
        }
        // Tones the call's end cut short were still heard: log them too.
        self.pending_tones.retain(|tone| tone.start < end);
        self.retire_tones(u64::MAX);
        let mut files = Vec::new();
        for (file, encoder) in std::mem::take(&mut self.encoders).into_iter().enumerate() {
            let mut chunks = Vec::new();
            let done = encoder.finish(&mut chunks)?;
            out.extend(chunks.into_iter().map(|chunk| FileChunk { file, chunk }));
            files.push(FileSummary {
                samples_per_channel: done.samples_per_channel,
                bytes: done.bytes,
                duration_secs: done.samples_per_channel as f64 / f64::from(self.rate),
            });
        }
        Ok(self.summary(end, files))
    }

    /// Writes call samples `[emitted, to)`.
    fn emit(&mut self, to: u64, out: &mut Vec<FileChunk>) -> Result<(), EncodeError> {
        let from = self.emitted;
        self.left.clear();
        self.right.clear();
        let lead = self.lead.unwrap_or(0);
        let [a, b] = &mut self.legs;
        if let Some(t) = a.timeline() {
            t.take(to + lead, &mut self.left);
        }
        if let Some(t) = b.timeline() {
            t.take(to + lead, &mut self.right);
        }
        if let Some(pci) = &mut self.pci {
            for (leg, audio) in [&self.left, &self.right].into_iter().enumerate() {
                let detector = &mut pci.detectors[leg];
                let heard = audio.len().min((to - from) as usize);
                detector.push(&audio[..heard], &mut pci.tones);
                if detector.position() < to {
                    let unheard = to - detector.position();
                    detector.skip(unheard, &mut pci.tones);
                }
                pci.note_tones(leg, self.rate);
            }
        }
        for start in self.tones.reminders_in(from, to) {
            if !self.spans.is_hidden(start) {
                self.pending_tones.push(PlacedTone {
                    kind: ToneKind::Reminder,
                    start,
                });
            }
        }
        let channels = self.config.layout.channels();
        let mut blocks: [Option<&mut Vec<i16>>; 2] = [None, None];
        self.mixed.clear();
        match self.config.layout {
            Layout::Stereo => {
                mix::interleave(&self.left, &self.right, &mut self.mixed);
                blocks[0] = Some(&mut self.mixed);
            }
            Layout::Mono => {
                mix::sum(&self.left, &self.right, &mut self.mixed);
                blocks[0] = Some(&mut self.mixed);
            }
            Layout::Separate => {
                blocks = [Some(&mut self.left), Some(&mut self.right)];
            }
        }
        self.spans.kept(from, to, &mut self.kept);
        for (file, block) in blocks.into_iter().enumerate() {
            let Some(block) = block else { continue };
            for &tone in &self.pending_tones {
                self.tones.add_into(tone, block, from, channels);
            }
            self.spans.silence(block, from, channels);
            if let Some(pci) = &mut self.pci {
                pci.held.push_back(Held {
                    file,
                    from,
                    to,
                    samples: block.clone(),
                    kept: self.kept.clone(),
                });
                continue;
            }
            let encoder = &mut self.encoders[file];
            let mut chunks = Vec::new();
            for &(k0, k1) in &self.kept {
                let range = (k0 - from) as usize * channels..(k1 - from) as usize * channels;
                encoder.push(&block[range], &mut chunks)?;
            }
            out.extend(chunks.into_iter().map(|chunk| FileChunk { file, chunk }));
        }
        if let Some(pci) = &mut self.pci {
            let until = to.saturating_sub(pci.lookahead);
            pci.release(until, &mut self.encoders, out)?;
        }
        self.retire_tones(to);
        self.emitted = to;
        Ok(())
    }

    /// Logs and forgets tones that have fully played by `to`.
    fn retire_tones(&mut self, to: u64) {
        let rate = f64::from(self.rate);
        let (tones, spans, log) = (&self.tones, &self.spans, &mut self.tone_log);
        self.pending_tones.retain(|tone| {
            let done = tone.start + tones.len(tone.kind) <= to;
            if done && log.len() < MAX_TONE_LOG {
                log.push(ToneRecord {
                    kind: tone.kind,
                    call_secs: tone.start as f64 / rate,
                    file_secs: (tone.start - spans.cut_before(tone.start)) as f64 / rate,
                });
            }
            !done
        });
    }

    fn summary(&self, end: u64, files: Vec<FileSummary>) -> Summary {
        let secs = |pos: u64| pos as f64 / f64::from(self.rate);
        let span = |s: &Span| SpanSecs {
            from: secs(s.start),
            to: (s.end != u64::MAX).then(|| secs(s.end)),
        };
        let pci = self.config.pci;
        let leg = |l: &LegState| {
            let (first_packet, last_packet) = l.packet_times();
            LegSummary {
                ssrcs: l.ssrcs().to_vec(),
                codecs: l.codecs().to_vec(),
                first_packet,
                last_packet,
                counts: l.counts(),
                jitter_ms: l.interarrival().millis(),
                jitter_max_ms: l.interarrival().max_millis(),
                // Under PCI handling the events are listed as key presses instead.
                telephone_events: if pci { Vec::new() } else { l.events().to_vec() },
            }
        };
        let key_presses = self.pci.as_ref().map(|p| {
            let mut presses = p.key_presses.clone();
            for (name, leg) in ["a", "b"].into_iter().zip(&self.legs) {
                presses.extend(leg.events().iter().map(|e| KeyPress {
                    leg: name,
                    source: KeyPressSource::TelephoneEvent,
                    call_secs: e.call_secs,
                    duration_ms: e.duration_ms,
                    silenced: None,
                }));
            }
            presses.sort_by(|x, y| {
                let at = |k: &KeyPress| k.call_secs.unwrap_or(f64::MAX);
                at(x).total_cmp(&at(y))
            });
            presses
        });
        let mut tones = self.tone_log.clone();
        tones.sort_by(|a, b| a.call_secs.total_cmp(&b.call_secs));
        Summary {
            call_start: self.call_start,
            call_duration_secs: secs(end),
            encoder: EncoderSummary {
                format: self.config.format,
                layout: self.config.layout,
                sample_rate: self.rate,
                channels: self.config.layout.channels(),
                opus: (self.config.format == Format::OggOpus).then_some(self.config.opus),
                pause_mode: self.config.pause_mode,
            },
            files,
            legs: [leg(&self.legs[0]), leg(&self.legs[1])],
            pauses: self.spans.pauses().iter().map(span).collect(),
            exclusions: self.spans.exclusions().iter().map(span).collect(),
            tones,
            key_presses,
            spans_refused: self.spans.refused,
            packets_beyond_max_duration: self.beyond_max_duration,
        }
    }
}

impl Pci {
    /// Lists the tones leg `leg`'s detector found (dropping their keys) and marks their spans,
    /// guards added, to be silenced.
    fn note_tones(&mut self, leg: usize, rate: u32) {
        let secs = |pos: u64| pos as f64 / f64::from(rate);
        for tone in self.tones.drain(..) {
            let span = (tone.start.saturating_sub(self.guard), tone.end + self.guard);
            self.silence.push(span);
            if self.key_presses.len() >= MAX_KEY_PRESSES {
                continue;
            }
            self.key_presses.push(KeyPress {
                leg: if leg == 0 { "a" } else { "b" },
                source: KeyPressSource::InBand,
                call_secs: Some(secs(tone.start)),
                duration_ms: (tone.end - tone.start) * 1000 / u64::from(rate),
                silenced: Some(SpanSecs {
                    from: secs(span.0),
                    to: Some(secs(span.1)),
                }),
            });
        }
    }

    /// Silences and encodes the held blocks that end by `until` (all, with `u64::MAX`).
    fn release(
        &mut self,
        until: u64,
        encoders: &mut [MediaEncoder],
        out: &mut Vec<FileChunk>,
    ) -> Result<(), EncodeError> {
        // A tone still sounding is silenced from its guard on, wherever it will end.
        let open = self
            .detectors
            .iter()
            .filter_map(DtmfDetector::active_since)
            .map(|start| (start.saturating_sub(self.guard), u64::MAX));
        let spans: Vec<(u64, u64)> = self.silence.iter().copied().chain(open).collect();
        while self.held.front().is_some_and(|h| h.to <= until) {
            let mut held = self.held.pop_front().expect("checked above");
            let frames = (held.to - held.from) as usize;
            let channels = held.samples.len() / frames.max(1);
            for &(s0, s1) in &spans {
                let (a, b) = (s0.max(held.from), s1.min(held.to));
                if a < b {
                    let range =
                        (a - held.from) as usize * channels..(b - held.from) as usize * channels;
                    held.samples[range].fill(0);
                }
            }
            let encoder = &mut encoders[held.file];
            let mut chunks = Vec::new();
            for &(k0, k1) in &held.kept {
                let range =
                    (k0 - held.from) as usize * channels..(k1 - held.from) as usize * channels;
                encoder.push(&held.samples[range], &mut chunks)?;
            }
            let file = held.file;
            out.extend(chunks.into_iter().map(|chunk| FileChunk { file, chunk }));
        }
        // Spans wholly behind what is encoded are done with.
        let done = self.held.front().map_or(until, |h| h.from);
        self.silence.retain(|&(_, end)| end > done);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::PayloadKind;
    use payload::PayloadType;

    /// A leg map with only PCMU (8 kHz), so the recording runs at 8 kHz.
    fn pcmu_only() -> PayloadMap {
        let mut map = PayloadMap::empty();
        let kind = PayloadKind::Audio(Codec::Pcmu);
        map.insert(
            0,
            PayloadType {
                kind,
                clock_rate: 8000,
            },
        );
        map
    }

    /// One 20 ms PCMU packet.
    fn pcmu_packet() -> Bytes {
        let mut b = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xa];
        b.extend([0x55; 160]);
        Bytes::from(b)
    }

    #[test]
    fn silence_polled_past_the_last_audio_counts_in_the_call_duration() {
        let config = RecorderConfig {
            format: Format::Wav,
            ..RecorderConfig::default()
        };
        let mut recorder = Recorder::new(config, [pcmu_only(), pcmu_only()]).expect("valid");
        let start = Time::from_nanos(1_000_000_000_000);
        recorder.push(start, Leg::A, pcmu_packet());
        let mut out = Vec::new();
        // Output trails `now` by 200 ms latency + 20 ms: 1.78 s written, where the audio
        // ended after 20 ms.
        while recorder
            .poll(start + Duration::from_secs(2), &mut out)
            .expect("encodes")
        {}
        let summary = recorder.finish(&mut out).expect("encodes");
        assert_eq!(summary.files[0].samples_per_channel, 14_240);
        assert_eq!(summary.files[0].bytes, 44 + 4 * 14_240);
        assert_eq!(summary.call_duration_secs, 1.78);
        assert_eq!(summary.files[0].duration_secs, 1.78);
    }
}
