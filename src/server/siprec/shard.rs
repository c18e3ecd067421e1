//! Media shards: the threads where calls are recorded. One per core; a call is pinned to one
//! shard by its number, so its packets are handled in order by one thread that owns its
//! `Recorder` outright (no locks on the media path). Commands arrive through bounded crossbeam
//! channels; a packet that finds its shard's queue full is dropped and counted, never queued
//! without bound. The tokio runtime only moves bytes: decode, mix, encode and the spool writes
//! all happen here.
//!
//! A call's life on its shard: `Start` (recorder, spool job), `Packet`s, `Pause`/`Resume`/
//! `Exclude` edges, `End`. At the end the recorder is finished, the media files synced and
//! hashed, the sidecar and manifest committed to the spool, and the result reported.
//!
//! A crash loses at most about a second: each shard has a syncer thread that, off the media
//! path, writes a live call's job descriptor (`store::live`: at `Start`, and again once the
//! first packet fixes the recording's start) and fdatasyncs its files about once a second.
//! A restart makes the job a recording of what was synced.

use super::latency::LatencyHistogram;
use crate::recorder::metadata::{Sidecar, WaitedForStart};
use crate::recorder::payload::PayloadMap;
use crate::recorder::summary::EncoderSummary;
use crate::recorder::{Leg, Recorder, RecorderConfig};
use crate::server::log;
use crate::session::CallKind;
use crate::srtp::{Inbound, MasterKey, SrtpError};
use crate::store::envelope::OrgKeys;
use crate::store::job::{self, FinishedFile};
use crate::store::key::RecordingKey;
use crate::store::live::{self, LiveDescriptor};
use crate::store::media_files::MediaFiles;
use crate::store::metadata::StorageInfo;
use crate::store::spool::{JobWriter, SpoolJob};
use crate::time::Time;
use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Everything a shard needs to record one call.
pub struct CallSetup {
    /// The server's number for the call (pins it to a shard).
    pub call: u64,
    /// The recording's name in files and keys (unique per session, see
    /// [`crate::store::key::recording_name`]).
    pub name: String,
    /// The SIP Call-ID, kept in the sidecar for people.
    pub sip_call_id: String,
    /// Signalling's account of the call as it starts (participants, streams): a recovered
    /// recording's sidecar carries it, the end brings the full one.
    pub input: serde_json::Value,
    pub config: RecorderConfig,
    pub payloads: [PayloadMap; 2],
    /// The spool job the media is written into.
    pub job: JobWriter,
    /// The destination URL the job is uploaded to.
    pub destination: String,
    /// Whose recording, which plan and retention (`retained_since` is set when spooled).
    pub storage: StorageInfo,
    /// The offer put the call on hold from the start: paused at this time.
    pub paused_at: Option<Time>,
    /// Announcements the offer already reported, to keep out of the file.
    pub exclusions: Vec<(Time, Time)>,
    /// A call, or a voicemail deposit or retrieval (the sidecar's `call.kind`).
    pub kind: CallKind,
    /// On Demand: the session waits for the user's start ([`Command::UserStart`]); media is
    /// held back until then, and a session that never starts stores nothing.
    pub awaiting_start: bool,
    /// Each leg's SRTP master key (the sender's), when it arrives over SRTP: its datagrams are
    /// authenticated and decrypted here, before the recorder (and its jitter buffer) sees them.
    pub srtp: [Option<MasterKey>; 2],
    /// The organisation's keys when its recordings are encrypted at rest: the media is
    /// encrypted in the spool when the call is committed.
    pub keys: Option<OrgKeys>,
}

/// What a shard is told.
pub enum Command {
    Start(Box<CallSetup>),
    /// A datagram of `leg`, received at `at`.
    Packet {
        call: u64,
        leg: Leg,
        at: Time,
        datagram: Bytes,
    },
    Pause {
        call: u64,
        at: Time,
    },
    Resume {
        call: u64,
        at: Time,
    },
    /// The user's first start of an On Demand session, at `at`: the recording begins with the
    /// media that follows (no resume tone; the file starts there).
    UserStart {
        call: u64,
        at: Time,
    },
    /// Keep each `[from, to)` out of the file (announcements the parties heard).
    Exclude {
        call: u64,
        spans: Vec<(Time, Time)>,
    },
    /// The call is over: store it. `input` (signalling's account of the call: participants,
    /// streams, sources) and `warnings` go into the sidecar.
    End {
        call: u64,
        input: serde_json::Value,
        warnings: Vec<String>,
    },
}

/// How one call's recording ended.
#[derive(Debug)]
pub struct Finished {
    pub call: u64,
    pub name: String,
    /// The committed spool job, or why the recording failed.
    pub result: Result<SpoolJob, String>,
    /// An On Demand session the user never started: nothing was stored, by design (the job
    /// was abandoned; `result` says so).
    pub never_started: bool,
}

/// Counters the shards keep, read by `/metrics`.
#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub calls_active: AtomicU64,
    pub calls_stored: AtomicU64,
    pub calls_failed: AtomicU64,
    pub packets: AtomicU64,
    /// Packets dropped because their shard's queue was full.
    pub packets_queue_full: AtomicU64,
    /// Packets for a call the shard does not hold (it ended, or never started).
    pub packets_unknown_call: AtomicU64,
    /// SRTP and SRTCP packets that authenticated and were decrypted.
    pub srtp_decrypted: AtomicU64,
    pub srtcp_decrypted: AtomicU64,
    /// SRTP/SRTCP datagrams dropped before the recorder: tag not verified (tampered, wrong key),
    /// replayed, or too short to be SRTP.
    pub srtp_auth_failed: AtomicU64,
    pub srtp_replayed: AtomicU64,
    pub srtp_malformed: AtomicU64,
    /// Packets the senders of finished calls sent that never arrived, or came too late.
    pub packets_lost: AtomicU64,
    /// Audio of finished calls that arrived but too late (or too far ahead) to be placed in
    /// the file, in milliseconds.
    pub audio_dropped_ms: AtomicU64,
    /// Time spent in the recorders (decode, mix, encode, file writes), nanoseconds.
    pub record_nanos: AtomicU64,
    /// From a packet's arrival at the socket to its push into the recorder.
    pub packet_delay: LatencyHistogram,
    /// From a packet's arrival at the socket to its decode: the queue, the shard, and the
    /// jitter buffer's deliberate wait (`recording.jitter_ms`).
    pub decode_delay: LatencyHistogram,
    /// Each finished call's legs' largest RFC 3550 interarrival jitter.
    pub interarrival_jitter: LatencyHistogram,
    /// Syncs put off because a syncer's queue was full (tried again on the next tick).
    pub live_syncs_deferred: AtomicU64,
    /// Each live call's file synced by the syncer threads: how long its fdatasync took.
    pub live_sync: LatencyHistogram,
}

/// Exclusions a call keeps while waiting for its first packet.
const MAX_EARLY_EXCLUSIONS: usize = 64;

/// Packets held per shard before new ones are dropped: ~200 ms of 2,500 calls' packets.
pub const QUEUE_PACKETS: usize = 65_536;

/// How often a shard polls its recorders when packets are quiet, so output keeps flowing
/// through silences and one-sided calls.
const TICK: Duration = Duration::from_millis(100);

/// A shard's queue was full: the command comes back to the caller, who may answer 503 or try
/// again later, but never waits for room.
pub struct QueueFull(pub Command);

impl std::fmt::Debug for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueFull")
    }
}

/// Told when a call's recording fails while the call goes on (its files cannot be written, or
/// its recorder could not start): the call number and why.
pub type Failing = dyn Fn(u64, String) + Send + Sync;
/// How often a live call's files are made durable: what a power cut can lose, on top of the
/// encoder's half-second pages and the jitter buffer's wait.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Syncs a shard's syncer may have waiting: a second of 4,096 live calls' files.
const SYNC_QUEUE: usize = 4096;

/// The running shards.
pub struct Shards {
    senders: Vec<Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    pub metrics: Arc<ShardMetrics>,
}

/// What a live call shares with its shard's syncer thread.
struct LiveSync {
    /// Second handles on the call's open files.
    files: Vec<File>,
    /// The job directory while the call is live; `None` once it ended, so no descriptor is
    /// written into a job already committed or abandoned (it would look live again).
    dir: Mutex<Option<PathBuf>>,
    /// Why the descriptor could not be written, for the sidecar.
    error: Mutex<Option<String>>,
}

/// One request to a syncer: the call's files, and its descriptor when it changed.
struct SyncWork {
    call: Arc<LiveSync>,
    descriptor: Option<LiveDescriptor>,
}

/// Makes live calls durable off the media path: an fsync can take milliseconds, and a shard
/// holding hundreds of calls must not wait for each.
fn run_syncer(queue: Receiver<SyncWork>, metrics: &ShardMetrics) {
    for SyncWork { call, descriptor } in queue {
        if let Some(descriptor) = descriptor {
            let dir = call.dir.lock().unwrap_or_else(|e| e.into_inner());
            let written = dir
                .as_ref()
                .map_or(Ok(()), |dir| live::write_descriptor(dir, &descriptor));
            if let Err(e) = written {
                *call.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            }
        }
        for file in &call.files {
            let started = std::time::Instant::now();
            // A failing sync shows at the call's end, when the files are synced again and
            // the failure fails the recording.
            let _ = file.sync_data();
            metrics.live_sync.record(started.elapsed());
        }
    }
}

impl Shards {
    /// Starts `count` shard threads. `clock` is the server's wall clock; `finished` hears
    /// about every call that ends (one message per started call).
    pub fn start(
        count: usize,
        clock: fn() -> Time,
        finished: impl Fn(Finished) + Send + Sync + 'static,
    ) -> Shards {
        Shards::start_with_failing(count, clock, finished, |_, _| {})
    }

    /// [`Shards::start`], and `failing` hears (once per call, from the shard's thread) about
    /// every call whose recording fails while the call goes on, so signalling can end it.
    pub fn start_with_failing(
        count: usize,
        clock: fn() -> Time,
        finished: impl Fn(Finished) + Send + Sync + 'static,
        failing: impl Fn(u64, String) + Send + Sync + 'static,
    ) -> Shards {
        let metrics = Arc::new(ShardMetrics::default());
        let finished = Arc::new(finished);
        let failing: Arc<Failing> = Arc::new(failing);
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (tx, rx) = crossbeam_channel::bounded(QUEUE_PACKETS);
            let (sync_tx, sync_rx) = crossbeam_channel::bounded(SYNC_QUEUE);
            let syncer = {
                let metrics = Arc::clone(&metrics);
                std::thread::Builder::new()
                    .name(format!("callrec-sync-{index}"))
                    .spawn(move || run_syncer(sync_rx, &metrics))
                    .expect("the OS lets a process start a thread per core")
            };
            let shard = Shard {
                calls: HashMap::new(),
                metrics: Arc::clone(&metrics),
                clock,
                lag: Duration::ZERO,
                failing: Arc::clone(&failing),
                syncer: sync_tx,
            };
            let finished = Arc::clone(&finished);
            let thread = std::thread::Builder::new()
                .name(format!("callrec-media-{index}"))
                .spawn(move || {
                    shard.run(rx, &*finished);
                    let _ = syncer.join();
                })
                .expect("the OS lets a process start a thread per core");
            senders.push(tx);
            threads.push(thread);
        }
        Shards {
            senders,
            threads,
            metrics,
        }
    }

    /// How many shards run.
    pub fn count(&self) -> usize {
        self.senders.len()
    }

    /// The shard a call is pinned to.
    pub fn index(&self, call: u64) -> usize {
        // Fibonacci hashing spreads sequential call numbers over the shards.
        let hash = call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        (hash % self.senders.len() as u64) as usize
    }

    fn sender(&self, call: u64) -> &Sender<Command> {
        &self.senders[self.index(call)]
    }

    /// Hands a packet to its call's shard; a full queue drops it (counted).
    pub fn packet(&self, call: u64, leg: Leg, at: Time, datagram: Bytes) {
        let command = Command::Packet {
            call,
            leg,
            at,
            datagram,
        };
        match self.sender(call).try_send(command) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.packets_queue_full.fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Queues a call's control command (start, pause, end …) behind the packets already
    /// queued, so the shard sees them in the order they happened. Never waits: a full queue
    /// hands the command back ([`QueueFull`]).
    pub fn control(&self, command: Command) -> Result<(), QueueFull> {
        let call = match &command {
            Command::Start(setup) => setup.call,
            Command::Packet { call, .. }
            | Command::Pause { call, .. }
            | Command::Resume { call, .. }
            | Command::UserStart { call, .. }
            | Command::Exclude { call, .. }
            | Command::End { call, .. } => *call,
        };
        match self.sender(call).try_send(command) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => Ok(()),
            Err(TrySendError::Full(command)) => Err(QueueFull(command)),
        }
    }

    /// Closes the queues; each shard stores the calls it still holds, then its thread ends.
    pub fn stop(self) {
        drop(self.senders);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct LiveCall {
    recorder: Recorder,
    /// Each leg's SRTP receiving context (by [`leg_index`]), for legs that arrive encrypted.
    srtp: [Option<Inbound>; 2],
    /// The organisation's keys, when its recordings are encrypted at rest.
    keys: Option<OrgKeys>,
    files: MediaFiles,
    job: JobWriter,
    name: String,
    sip_call_id: String,
    destination: String,
    storage: StorageInfo,
    first_packet: Option<Time>,
    /// Exclusions reported before the first packet: the recording's clock starts there.
    early_exclusions: Vec<(Time, Time)>,
    /// What the sidecar should say about this call beyond signalling's warnings.
    notes: Vec<String>,
    /// Why writing failed; the call is then dropped at its end (the spool job abandoned).
    failed: Option<String>,
    /// Signalling has been told of `failed` (it ends the call with a BYE).
    failure_told: bool,
    kind: CallKind,
    /// Answered waiting for the user's start (On Demand), and when; and the start, once made.
    awaiting_start: Option<Time>,
    user_started: Option<Time>,
    /// What recovery needs to make a recording of the job if the process dies.
    descriptor: LiveDescriptor,
    /// The descriptor changed since it was last handed to the syncer.
    descriptor_changed: bool,
    /// What the syncer holds of the call.
    sync: Arc<LiveSync>,
    /// The call's span, entered only to report its failure or its end (never per packet).
    span: tracing::Span,
    /// When the files are next handed to the syncer.
    next_sync: Time,
    /// Bytes written when they were last handed over.
    synced: u64,
}

/// Notes a call keeps for its sidecar; past this, one line says how many more there were.
pub const MAX_NOTES: usize = 64;

/// A leg's place in per-leg arrays.
fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

/// Adds `note` to `notes`, keeping at most [`MAX_NOTES`]: the last one kept counts the rest.
pub fn push_note(notes: &mut Vec<String>, note: String) {
    const MORE: &str = "more notes not kept: ";
    match notes.len() {
        n if n < MAX_NOTES - 1 => notes.push(note),
        n if n == MAX_NOTES - 1 => notes.push(format!("{MORE}1")),
        _ => {
            if let Some(count) = notes
                .last_mut()
                .and_then(|last| last.strip_prefix(MORE).map(str::to_owned))
                .and_then(|n| n.parse::<u64>().ok())
            {
                notes[MAX_NOTES - 1] = format!("{MORE}{}", count + 1);
            }
        }
    }
}

struct Shard {
    calls: HashMap<u64, LiveCall>,
    metrics: Arc<ShardMetrics>,
    clock: fn() -> Time,
    /// How far behind its queue the shard is: the wait of the last packet it took, zero once
    /// the queue runs dry. Idle polls stay that far behind the clock, so they never write
    /// silence over audio still waiting in the queue.
    lag: Duration,
    failing: Arc<Failing>,
    /// The shard's syncer thread.
    syncer: Sender<SyncWork>,
}

impl Shard {
    fn run(mut self, commands: Receiver<Command>, finished: &dyn Fn(Finished)) {
        let mut last_tick = (self.clock)();
        loop {
            match commands.recv_timeout(TICK) {
                Ok(command) => self.handle(command, finished),
                Err(RecvTimeoutError::Timeout) => self.lag = Duration::ZERO,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = (self.clock)();
            if now.saturating_since(last_tick) >= TICK {
                last_tick = now;
                let calls: Vec<u64> = self.calls.keys().copied().collect();
                for call in calls {
                    self.poll(call, now - self.lag);
                    self.sync(call, now);
                }
            }
        }
        let calls: Vec<u64> = self.calls.keys().copied().collect();
        for call in calls {
            self.end(
                call,
                serde_json::Value::Null,
                vec!["the server stopped".into()],
                finished,
            );
        }
    }

    fn handle(&mut self, command: Command, finished: &dyn Fn(Finished)) {
        match command {
            Command::Start(setup) => self.start(*setup, finished),
            Command::Packet {
                call,
                leg,
                at,
                datagram,
            } => {
                let now = (self.clock)();
                let Some(live) = self.calls.get_mut(&call) else {
                    self.metrics.packets_unknown_call.fetch_add(1, Relaxed);
                    return;
                };
                // RFC 3711 §3.3: nothing of an SRTP packet is read before it authenticates.
                let datagram = match &mut live.srtp[leg_index(leg)] {
                    None => datagram,
                    Some(inbound) => match inbound.unprotect(&datagram) {
                        Ok(plain) => {
                            let decrypted = match crate::rtp::looks_like_rtcp(&plain) {
                                true => &self.metrics.srtcp_decrypted,
                                false => &self.metrics.srtp_decrypted,
                            };
                            decrypted.fetch_add(1, Relaxed);
                            plain
                        }
                        Err(e) => {
                            let dropped = match e {
                                SrtpError::Authentication => &self.metrics.srtp_auth_failed,
                                SrtpError::Replayed => &self.metrics.srtp_replayed,
                                SrtpError::Malformed => &self.metrics.srtp_malformed,
                            };
                            dropped.fetch_add(1, Relaxed);
                            return;
                        }
                    },
                };
                self.metrics.packets.fetch_add(1, Relaxed);
                self.lag = now.saturating_since(at);
                self.metrics.packet_delay.record(self.lag);
                if live.first_packet.is_none() {
                    live.first_packet = Some(at);
                    for (from, to) in std::mem::take(&mut live.early_exclusions) {
                        live.exclude(from, to);
                    }
                    live.descriptor.call_start = Some(at.to_rfc3339());
                    live.descriptor_changed = true;
                }
                live.recorder.push(at, leg, datagram);
                self.poll(call, at);
                self.sync(call, now);
            }
            Command::Pause { call, at } => self.edit(call, |live| {
                let offset = live.offset(at);
                live.recorder.pause_at(offset)
            }),
            Command::Resume { call, at } => self.edit(call, |live| {
                let offset = live.offset(at);
                live.recorder.resume_at(offset)
            }),
            Command::UserStart { call, at } => self.edit(call, |live| {
                live.user_started.get_or_insert(at);
                live.descriptor.awaiting_start = false;
                live.descriptor_changed = true;
            }),
            Command::Exclude { call, spans } => self.edit(call, |live| {
                for (from, to) in spans {
                    live.exclude_or_keep(from, to);
                }
            }),
            Command::End {
                call,
                input,
                warnings,
            } => self.end(call, input, warnings, finished),
        }
    }

    fn edit(&mut self, call: u64, change: impl FnOnce(&mut LiveCall)) {
        if let Some(live) = self.calls.get_mut(&call) {
            change(live);
        }
    }

    fn start(&mut self, setup: CallSetup, finished: &dyn Fn(Finished)) {
        let CallSetup {
            call,
            name,
            sip_call_id,
            input,
            config,
            payloads,
            job,
            destination,
            storage,
            paused_at,
            exclusions,
            kind,
            awaiting_start,
            srtp,
            keys,
        } = setup;
        let extension = config.format.extension();
        let names: Vec<String> = match config.layout.files() {
            1 => vec![format!("{name}.{extension}")],
            _ => vec![
                format!("{name}-a.{extension}"),
                format!("{name}-b.{extension}"),
            ],
        };
        let now = (self.clock)();
        let span = log::recording_span(&sip_call_id, &name);
        let started = Recorder::new(config.clone(), payloads)
            .map_err(|e| e.to_string())
            .and_then(|recorder| {
                let files = MediaFiles::create(job.dir(), &names).map_err(|e| e.to_string())?;
                let sync = LiveSync {
                    files: files.sync_handles().map_err(|e| e.to_string())?,
                    dir: Mutex::new(Some(job.dir().to_path_buf())),
                    error: Mutex::new(None),
                };
                let descriptor = LiveDescriptor {
                    destination: destination.clone(),
                    storage: storage.clone(),
                    name: name.clone(),
                    sip_call_id: Some(sip_call_id.clone()),
                    files: names.clone(),
                    format: config.format,
                    sample_rate: recorder.sample_rate(),
                    channels: config.layout.channels() as u8,
                    opus: config.opus,
                    stream_serial: config.stream_serial,
                    encoder: encoder_section(&config, recorder.sample_rate()),
                    began: now.to_rfc3339(),
                    call_start: None,
                    input: Some(input),
                    awaiting_start,
                    kind: Some(kind.as_str().into()),
                };
                Ok((recorder, files, descriptor, Arc::new(sync)))
            });
        match started {
            Ok((recorder, files, descriptor, sync)) => {
                self.metrics.calls_active.fetch_add(1, Relaxed);
                let mut live = LiveCall {
                    recorder,
                    files,
                    job,
                    name,
                    sip_call_id,
                    destination,
                    storage,
                    first_packet: None,
                    early_exclusions: Vec::new(),
                    notes: Vec::new(),
                    failed: None,
                    failure_told: false,
                    kind,
                    awaiting_start: awaiting_start.then_some(now),
                    user_started: None,
                    descriptor,
                    descriptor_changed: true,
                    sync,
                    next_sync: now + SYNC_INTERVAL,
                    synced: 0,
                    span,
                    srtp: srtp.map(|key| key.as_ref().map(Inbound::new)),
                    keys,
                };
                if let Some(at) = paused_at {
                    live.recorder.pause_at(live.offset(at));
                }
                for (from, to) in exclusions {
                    live.exclude_or_keep(from, to);
                }
                self.calls.insert(call, live);
                self.sync(call, now);
            }
            Err(reason) => {
                let _ = job.abandon();
                self.metrics.calls_failed.fetch_add(1, Relaxed);
                let _in_call = span.enter();
                (self.failing)(call, reason.clone());
                finished(Finished {
                    call,
                    name,
                    result: Err(reason),
                    never_started: false,
                });
            }
        }
    }

    /// Writes whatever the call's recorder has final by `now`.
    fn poll(&mut self, call: u64, now: Time) {
        let Some(live) = self.calls.get_mut(&call) else {
            return;
        };
        let started = std::time::Instant::now();
        let mut chunks = Vec::new();
        loop {
            let more = match live.recorder.poll(now, &mut chunks) {
                Ok(more) => more,
                Err(e) => {
                    live.failed.get_or_insert(format!("encoding failed: {e}"));
                    false
                }
            };
            for chunk in chunks.drain(..) {
                if live.failed.is_none() {
                    if let Err(e) = live.files.write(chunk) {
                        live.failed = Some(format!("writing the spool failed: {e}"));
                    }
                }
            }
            if !more {
                break;
            }
        }
        live.job.count(live.files.written());
        if let Some(reason) = live.failed.as_ref().filter(|_| !live.failure_told) {
            live.failure_told = true;
            live.span.in_scope(|| (self.failing)(call, reason.clone()));
        }
        let decoded = (self.clock)();
        let delays = &self.metrics.decode_delay;
        live.recorder
            .take_decoded_arrivals(|arrival| delays.record(decoded.saturating_since(arrival)));
        self.metrics
            .record_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
    }

    /// Hands the call to the syncer: at once when its descriptor changed, else once a second
    /// if anything was written since.
    fn sync(&mut self, call: u64, now: Time) {
        let Some(live) = self.calls.get_mut(&call) else {
            return;
        };
        let due = now >= live.next_sync && live.files.written() != live.synced;
        if !due && !live.descriptor_changed {
            return;
        }
        let work = SyncWork {
            call: Arc::clone(&live.sync),
            descriptor: live.descriptor_changed.then(|| live.descriptor.clone()),
        };
        match self.syncer.try_send(work) {
            Ok(()) => {
                live.descriptor_changed = false;
                live.synced = live.files.written();
                live.next_sync = now + SYNC_INTERVAL;
            }
            Err(_) => {
                self.metrics.live_syncs_deferred.fetch_add(1, Relaxed);
            }
        }
    }

    fn end(
        &mut self,
        call: u64,
        input: serde_json::Value,
        warnings: Vec<String>,
        finished: &dyn Fn(Finished),
    ) {
        let Some(mut live) = self.calls.remove(&call) else {
            return;
        };
        self.metrics.calls_active.fetch_sub(1, Relaxed);
        // From here the job is committed or abandoned: the syncer must leave it alone.
        live.sync
            .dir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(e) = live
            .sync
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            live.notes.push(format!(
                "the call was not protected against a crash: its live descriptor could not be written ({e})"
            ));
        }
        let name = live.name.clone();
        let span = live.span.clone();
        let _in_call = span.enter();
        if live.awaiting_start.is_some() && live.user_started.is_none() {
            // Nothing was recorded, by the user's choice: no empty file is stored.
            live.files.discard();
            let _ = live.job.abandon();
            return finished(Finished {
                call,
                name,
                result: Err("the user never started recording".into()),
                never_started: true,
            });
        }
        let result = live.store((self.clock)(), input, warnings, &self.metrics);
        match &result {
            Ok(_) => self.metrics.calls_stored.fetch_add(1, Relaxed),
            Err(_) => self.metrics.calls_failed.fetch_add(1, Relaxed),
        };
        finished(Finished {
            call,
            name,
            result,
            never_started: false,
        });
    }
}

/// The sidecar's `encoder` section for a recording made with `config` at `sample_rate`, as
/// `Recorder::finish` will report it: recovery writes it for a recording that never finished.
fn encoder_section(config: &RecorderConfig, sample_rate: u32) -> serde_json::Value {
    let summary = EncoderSummary {
        format: config.format,
        layout: config.layout,
        sample_rate,
        channels: config.layout.channels(),
        opus: (config.format == crate::encode::Format::OggOpus).then_some(config.opus),
        pause_mode: config.pause_mode,
    };
    serde_json::to_value(summary).unwrap_or_default()
}

impl LiveCall {
    /// Where `at` falls in the recording: the recorder's clock starts at the first packet.
    fn offset(&self, at: Time) -> Duration {
        self.first_packet
            .map_or(Duration::ZERO, |first| at.saturating_since(first))
    }

    /// Leaves wall-clock span `[from, to)` out of the file; before the first packet (the
    /// recording's clock has no start yet), keeps it for then.
    fn exclude_or_keep(&mut self, from: Time, to: Time) {
        match self.first_packet {
            Some(_) => self.exclude(from, to),
            None if self.early_exclusions.len() < MAX_EARLY_EXCLUSIONS => {
                self.early_exclusions.push((from, to))
            }
            None => push_note(
                &mut self.notes,
                format!(
                    "announcement {} to {} not left out: too many before the media started",
                    from.to_rfc3339(),
                    to.to_rfc3339()
                ),
            ),
        }
    }

    /// Leaves wall-clock span `[from, to)` out of the file, noting what was too late for it.
    fn exclude(&mut self, from: Time, to: Time) {
        let written = self.recorder.exclude(self.offset(from), self.offset(to));
        if !written.is_zero() {
            push_note(&mut self.notes, format!(
                "announcement {} to {} reported late: its first {:.3} s were already written and stay in the file",
                from.to_rfc3339(),
                to.to_rfc3339(),
                written.as_secs_f64()
            ));
        }
    }

    /// Finishes the recording and commits it to the spool.
    fn store(
        self,
        now: Time,
        input: serde_json::Value,
        warnings: Vec<String>,
        metrics: &ShardMetrics,
    ) -> Result<SpoolJob, String> {
        let LiveCall {
            recorder,
            mut files,
            job,
            name,
            sip_call_id,
            destination,
            storage,
            failed,
            notes,
            keys,
            kind,
            awaiting_start,
            user_started,
            ..
        } = self;
        let mut warnings = warnings;
        warnings.extend(notes);
        let abandon = |files: MediaFiles, job: JobWriter, reason: String| {
            files.discard();
            let _ = job.abandon();
            reason
        };
        let mut chunks = Vec::new();
        let summary = match (recorder.finish(&mut chunks), failed) {
            (Ok(summary), None) => summary,
            (Err(e), _) => return Err(abandon(files, job, format!("encoding failed: {e}"))),
            (_, Some(reason)) => return Err(abandon(files, job, reason)),
        };
        for chunk in chunks {
            if let Err(e) = files.write(chunk) {
                return Err(abandon(
                    files,
                    job,
                    format!("writing the spool failed: {e}"),
                ));
            }
        }
        let written = match files.commit() {
            Ok(written) => written,
            Err(e) => {
                let _ = job.abandon();
                return Err(format!("writing the spool failed: {e}"));
            }
        };
        let lost: u64 = summary
            .legs
            .iter()
            .map(|l| l.counts.lost + l.counts.late)
            .sum();
        metrics.packets_lost.fetch_add(lost, Relaxed);
        let dropped: u64 = summary
            .legs
            .iter()
            .map(|l| l.counts.late_samples + l.counts.dropped_ahead_samples)
            .sum();
        let rate = u64::from(summary.encoder.sample_rate.max(1));
        metrics
            .audio_dropped_ms
            .fetch_add(dropped * 1000 / rate, Relaxed);
        for leg in summary.legs.iter().filter(|l| l.counts.received > 1) {
            let jitter = Duration::from_secs_f64(leg.jitter_max_ms / 1000.0);
            metrics.interarrival_jitter.record(jitter);
        }
        let call_start = summary.call_start;
        let mut sidecar = Sidecar::new(
            &name,
            summary,
            [None, None],
            written
                .iter()
                .map(|f| (f.name.clone(), f.sha256.clone()))
                .collect(),
            warnings,
        );
        sidecar.call.sip_call_id = Some(sip_call_id);
        sidecar.call.kind = kind.as_str();
        sidecar.call.waited_for_start =
            awaiting_start
                .zip(user_started)
                .map(|(answered, started)| WaitedForStart {
                    answered: answered.to_rfc3339(),
                    started: started.to_rfc3339(),
                });
        sidecar.input = (!input.is_null()).then_some(input);
        let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
        let storage = StorageInfo {
            retained_since: now.to_rfc3339(),
            ..storage
        };
        let key = RecordingKey {
            class: storage.retention,
            org: storage.org.clone(),
            date: call_start.unwrap_or(now).date(),
            call: name,
        };
        let media = written
            .into_iter()
            .map(|f| FinishedFile {
                name: f.name,
                bytes: f.bytes,
                sha256: f.sha256,
            })
            .collect();
        let job = job::commit(
            job,
            &destination,
            &key,
            &storage,
            &json,
            media,
            keys.as_ref(),
        )
        .map_err(|e| e.to_string())?;
        live::forget(&job.dir);
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client refusing pause after pause, or reporting announcement after announcement,
    /// grows a call's notes by one line at most.
    #[test]
    fn notes_stop_at_their_bound_and_count_the_rest() {
        let mut notes = Vec::new();
        for i in 0..1000 {
            push_note(&mut notes, format!("note {i}"));
        }
        assert_eq!(notes.len(), MAX_NOTES);
        assert_eq!(notes[MAX_NOTES - 2], format!("note {}", MAX_NOTES - 2));
        let dropped = 1000 - (MAX_NOTES - 1);
        assert_eq!(
            notes[MAX_NOTES - 1],
            format!("more notes not kept: {dropped}")
        );
    }
}
