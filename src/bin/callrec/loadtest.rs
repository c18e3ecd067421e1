//! `callrec loadtest`: how many concurrent calls the SIPREC server records per core with less
//! than 0.1% of packets lost, how much memory a call takes, and how long a packet waits from
//! its arrival at the socket to the recorder and to its decode (p99 of each step; the decode
//! waits out the jitter buffer's `recording.jitter_ms`, the server's default, by design).
//!
//! One process runs the whole server (SIP, media sockets, shards, spool, uploads to an
//! in-memory store) and a load generator that plays the calling platform over loopback: for
//! each step of the ramp it sets up N SIPREC sessions, sends both legs of RTP at the real
//! 20 ms pace for the step's length, hangs up, and reads the server's counters. The generator
//! shares the machine with the server, so the figures are a floor for a server with the
//! machine to itself.

use crate::output::{Line, Output};
use crate::runtime::runtime;
use callrec::config::Config;
use callrec::media::codec::{Codec, Encoder};
use callrec::server::serve::{sip_settings, Recording};
use callrec::server::siprec::{self, client::SrcSession};
use callrec::synth::rtp_packet;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::watch;

#[derive(clap::Parser)]
pub struct LoadArgs {
    /// Concurrent calls of each step, in order; the ramp stops at the first step that loses
    /// 0.1% or more of its packets, or of its audio to lateness.
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        default_value = "100,250,500,1000,1500,2000"
    )]
    calls: Vec<usize>,
    /// How long each step's calls last, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    seconds: u64,
    /// Media shard threads; 0 is one per core.
    #[arg(long, value_name = "N", default_value_t = 0)]
    shards: usize,
    /// What the recordings are written as (the server's default is opus).
    #[arg(long, default_value = "opus", value_parser = ["opus", "wav"])]
    format: String,
}

/// What one step measured.
struct Step {
    calls: usize,
    sent: u64,
    lost: u64,
    /// Arrival at the socket to the push into the recorder, and to the decode.
    p99_to_recorder: Option<Duration>,
    p99_to_decode: Option<Duration>,
    /// How many packets each p99 is over.
    measured: (u64, u64),
    /// Audio that arrived but too late to be placed, milliseconds over all calls.
    audio_dropped_ms: u64,
    memory_per_call: f64,
}

pub fn run(args: LoadArgs) -> Result<(), String> {
    let spool = std::env::temp_dir().join(format!("callrec-loadtest-{}", std::process::id()));
    let mut config = Config::default();
    config.store.url = "memory://loadtest".into();
    config.store.spool = spool.clone();
    // Nothing to expire in a fresh memory store; no sweep in the middle of a measurement.
    config.store.sweep_interval_secs = 0;
    config.sip.listen = "127.0.0.1:0".parse().expect("a literal address");
    config.sip.shards = args.shards;
    config.recording.format = args.format.clone();
    config.sip.max_calls = args.calls.iter().copied().max().unwrap_or(0) + 10;
    // Setting up thousands of sessions one by one takes a while: none may go idle meanwhile.
    config.sip.idle_timeout_secs = 600;
    config.validate()?;
    let jitter_ms = config.recording.jitter_ms;
    let shards = match config.sip.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let runtime = runtime()?;
    let mut out = Output::stdout();
    let result = runtime.block_on(async {
        let config = Arc::new(config);
        let mut recording = Recording::start(Arc::clone(&config), None)?;
        let live = Arc::clone(&recording.live);
        let (drain_tx, drain) = watch::channel(false);
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let settings = sip_settings(&config)?;
        let server = tokio::spawn(siprec::run(
            settings,
            recording.services(),
            move |addr, _| {
                let _ = addr_tx.send(addr);
            },
            drain,
        ));
        let sip = addr_rx
            .await
            .map_err(|_| "the SIPREC server did not start".to_string())?;
        let mut steps = Vec::new();
        for &calls in &args.calls {
            let before = (
                live.shards.packets_lost.load(Relaxed),
                live.shards.packets_queue_full.load(Relaxed),
                live.shards.audio_dropped_ms.load(Relaxed),
            );
            let delays_before = (
                live.shards.packet_delay.snapshot(),
                live.shards.decode_delay.snapshot(),
                live.shards.live_sync.snapshot(),
                live.shards.live_syncs_deferred.load(Relaxed),
            );
            let base_rss = rss_bytes();
            let (sent, peak_rss, generator_behind) =
                step(sip, calls, Duration::from_secs(args.seconds), steps.len()).await?;
            // Let the shards finish the step's calls before reading the counters.
            let deadline = Instant::now() + Duration::from_secs(60);
            while live.shards.calls_active.load(Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let lost = live.shards.packets_lost.load(Relaxed) - before.0
                + live.shards.packets_queue_full.load(Relaxed)
                - before.1;
            let to_recorder = live.shards.packet_delay.snapshot().since(&delays_before.0);
            let to_decode = live.shards.decode_delay.snapshot().since(&delays_before.1);
            let syncs = live.shards.live_sync.snapshot().since(&delays_before.2);
            let syncs_deferred = live.shards.live_syncs_deferred.load(Relaxed) - delays_before.3;
            let step = Step {
                calls,
                sent,
                lost,
                p99_to_recorder: to_recorder.quantile(0.99),
                p99_to_decode: to_decode.quantile(0.99),
                measured: (to_recorder.count(), to_decode.count()),
                audio_dropped_ms: live.shards.audio_dropped_ms.load(Relaxed) - before.2,
                memory_per_call: peak_rss.saturating_sub(base_rss) as f64 / calls as f64,
            };
            let loss = step.loss();
            out.line(&StepLine {
                kind: "step",
                calls: step.calls,
                packets_sent: step.sent,
                packets_lost: step.lost,
                audio_dropped_ms: step.audio_dropped_ms,
                loss_percent: loss * 100.0,
                p99_arrival_to_recorder_us: step.p99_to_recorder.map(micros),
                p99_arrival_to_decode_us: step.p99_to_decode.map(micros),
                packets_timed: PacketsTimed {
                    to_recorder: step.measured.0,
                    to_decode: step.measured.1,
                },
                memory_per_call_kib: step.memory_per_call / 1024.0,
                generator_max_behind_ms: generator_behind.as_millis() as u64,
                live_file_syncs: Syncs {
                    count: syncs.count(),
                    deferred: syncs_deferred,
                    p50_us: syncs.quantile(0.5).map(micros),
                    p99_us: syncs.quantile(0.99).map(micros),
                },
            })?;
            let failed = loss >= 0.001;
            steps.push(step);
            if failed {
                break;
            }
        }
        let _ = drain_tx.send(true);
        server.await.map_err(|e| e.to_string())??;
        recording.finish().await?;
        Ok::<_, String>(steps)
    });
    let _ = std::fs::remove_dir_all(&spool);
    let steps = result?;
    let sustained = steps
        .iter()
        .filter(|s| s.loss() < 0.001)
        .map(|s| s.calls)
        .max()
        .unwrap_or(0);
    out.summary(&Summary {
        kind: "summary",
        sustained_calls: sustained,
        media_shards: shards,
        calls_per_core: sustained as f64 / shards as f64,
        jitter_ms,
        format: &args.format,
        note: "generator and server share the machine",
    })?;
    Ok(())
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// One step of the ramp: what was sent, what was lost, how long packets waited.
#[derive(Serialize)]
struct StepLine {
    #[serde(rename = "type")]
    kind: &'static str,
    calls: usize,
    packets_sent: u64,
    packets_lost: u64,
    audio_dropped_ms: u64,
    loss_percent: f64,
    p99_arrival_to_recorder_us: Option<u64>,
    p99_arrival_to_decode_us: Option<u64>,
    packets_timed: PacketsTimed,
    memory_per_call_kib: f64,
    generator_max_behind_ms: u64,
    live_file_syncs: Syncs,
}

#[derive(Serialize)]
struct PacketsTimed {
    to_recorder: u64,
    to_decode: u64,
}

#[derive(Serialize)]
struct Syncs {
    count: u64,
    deferred: u64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
}

impl Line for StepLine {
    fn text(&self) -> String {
        let p99 =
            |us: Option<u64>| us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1e3));
        format!(
            "{} calls: {:.3}% lost, p99 to recorder {}, to decode {}, {:.0} KiB per call",
            self.calls,
            self.loss_percent,
            p99(self.p99_arrival_to_recorder_us),
            p99(self.p99_arrival_to_decode_us),
            self.memory_per_call_kib
        )
    }
}

/// The ramp's result: the most calls sustained, per media shard (core).
#[derive(Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sustained_calls: usize,
    media_shards: usize,
    calls_per_core: f64,
    jitter_ms: u64,
    format: &'a str,
    note: &'static str,
}

impl Line for Summary<'_> {
    fn text(&self) -> String {
        format!(
            "sustained {} calls on {} media shard(s): {:.0} per core ({}; {})",
            self.sustained_calls, self.media_shards, self.calls_per_core, self.format, self.note
        )
    }
}

impl Step {
    /// What did not make it into the files: the lost packets' share, or the share of audio
    /// that came too late to be placed, whichever is larger (each packet is 20 ms).
    fn loss(&self) -> f64 {
        let sent = self.sent.max(1) as f64;
        (self.lost as f64 / sent).max(self.audio_dropped_ms as f64 / (sent * 20.0))
    }
}

/// One step: `calls` sessions set up, `length` of RTP on both legs, then BYE. Returns the
/// RTP packets sent, the process's peak resident memory while the calls ran, and how far
/// behind its own timestamps the generator fell at worst (a sender that late is late for
/// the recorder too, whatever the server does).
async fn step(
    sip: SocketAddr,
    calls: usize,
    length: Duration,
    step: usize,
) -> Result<(u64, u64, Duration), String> {
    let mut sessions = Vec::with_capacity(calls);
    for i in 0..calls {
        sessions.push(Session::open(sip, &format!("load-{step}-{i}")).await?);
    }
    let payload = tone_payload();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let packets = length.as_millis() as u32 / 20;
    let mut sent = 0u64;
    let mut peak = 0u64;
    let mut behind = Duration::ZERO;
    let started = Instant::now();
    for n in 0..packets {
        ticker.tick().await;
        for (i, s) in sessions.iter().enumerate() {
            for (leg, (socket, to)) in s.legs.iter().enumerate() {
                let ssrc = (i as u32) << 1 | leg as u32;
                let packet = rtp_packet(0, n == 0, n as u16, n * 160, ssrc, &payload);
                if socket.send_to(&packet, to).await.is_ok() {
                    sent += 1;
                }
            }
        }
        let due = Duration::from_millis(20 * u64::from(n));
        behind = behind.max(started.elapsed().saturating_sub(due));
        if n % 50 == 25 {
            peak = peak.max(rss_bytes());
        }
    }
    for s in &mut sessions {
        s.src.bye().await?;
    }
    Ok((sent, peak, behind))
}

/// A calling platform's side of one recording session: its SIP and the two legs' sockets,
/// each with where the answer said to send it.
struct Session {
    src: SrcSession,
    legs: Vec<(UdpSocket, SocketAddr)>,
}

impl Session {
    async fn open(server: SocketAddr, call_id: &str) -> Result<Session, String> {
        let bind = || UdpSocket::bind("127.0.0.1:0");
        let (a, b) = (
            bind().await.map_err(|e| e.to_string())?,
            bind().await.map_err(|e| e.to_string())?,
        );
        let port = |s: &UdpSocket| s.local_addr().map(|a| a.port()).unwrap_or(0);
        let (src, [to_a, to_b]) =
            SrcSession::open(server, call_id, [port(&a), port(&b)], None).await?;
        Ok(Session {
            src,
            legs: vec![(a, to_a), (b, to_b)],
        })
    }
}

/// 20 ms of a -12 dBFS 1 kHz tone in PCMU.
fn tone_payload() -> Vec<u8> {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    let mut out = Vec::new();
    Encoder::new(Codec::Pcmu, 8000)
        .and_then(|mut e| e.encode(&pcm, &mut out))
        .expect("PCMU encodes any samples");
    out
}

/// The process's resident memory, from /proc (0 where there is none).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
