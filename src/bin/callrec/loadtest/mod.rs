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
//!
//! Each call sends `callrec bench`'s synthetic call (two PCMU legs of tones,
//! [`crate::synthetic_call`]). With `--target SIP_ADDR --metrics ADMIN_ADDR` this process is
//! the generator alone, driving an external `callrec serve` on this machine, and reports what
//! a second of call costs that server next to the recorder alone ([`target`]).

mod figures;
mod generator;
mod scrape;
mod target;

use crate::output::{Line, Output};
use crate::runtime::runtime;
use crate::synthetic_call;
use callrec::config::Config;
use callrec::server::serve::{sip_settings, Recording};
use callrec::server::siprec;
use generator::rss_bytes;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(clap::Parser)]
pub struct LoadArgs {
    /// Concurrent calls of each step, in order; the ramp stops at the first step that loses
    /// 0.1% or more of its packets, or of its audio to lateness, or (with --target) has calls
    /// refused.
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
    /// Media shard threads of the server in this process; 0 is one per core.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "target")]
    shards: usize,
    /// What the recordings are written as (the server's default is opus); with --target, what
    /// that server writes, so the recorder alone is measured in the same format.
    #[arg(long, default_value = "opus", value_parser = ["opus", "wav"])]
    format: String,
    /// Drive an external `callrec serve` at this SIP address (UDP, a loopback address only)
    /// instead of a server in this process; needs --metrics.
    #[arg(long, value_name = "SIP_ADDR", value_parser = target::loopback, requires = "metrics")]
    target: Option<SocketAddr>,
    /// The external server's admin address (loopback only), whose /metrics is read before
    /// and after each step; once per worker when --target is a balancer in front of several
    /// (their counters and CPU are summed).
    #[arg(long, value_name = "ADMIN_ADDR", value_parser = target::loopback, requires = "target")]
    metrics: Vec<SocketAddr>,
    /// With --target: how many times at least this process records the call alone after the
    /// ramp (and on until it has used a second of CPU), for the recorder's own cost.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    recorder_calls: u32,
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
    if let Some(sip) = args.target {
        return target::run(target::TargetArgs {
            sip,
            admins: &args.metrics,
            calls: &args.calls,
            seconds: args.seconds,
            format: &args.format,
            recorder_calls: args.recorder_calls,
        });
    }
    let payloads = synthetic_call::leg_payloads(&synthetic_call::call(args.seconds)?)?;
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
            let generator::Sent {
                refused,
                packets: sent,
                peak_rss,
                behind: generator_behind,
            } = generator::step(
                sip,
                calls,
                Duration::from_secs(args.seconds),
                steps.len(),
                &payloads,
            )
            .await?;
            if refused > 0 {
                return Err(format!(
                    "the server refused {refused} of the step's {calls} calls (sip.max_calls, or \
                     its RTP ports, are fewer than the step needs)"
                ));
            }
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
    fn loss(&self) -> f64 {
        figures::loss(self.sent, self.lost, self.audio_dropped_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<LoadArgs, String> {
        LoadArgs::try_parse_from([&"loadtest"].into_iter().chain(args)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_target_off_this_machine_is_refused_before_anything_is_sent() {
        let err = parse(&["--target", "10.1.2.3:5060", "--metrics", "127.0.0.1:8080"])
            .err()
            .expect("a private address is refused");
        assert!(
            err.contains("10.1.2.3:5060 is not a loopback address"),
            "{err}"
        );
        let err = parse(&["--target", "127.0.0.1:5060", "--metrics", "192.0.2.1:8080"])
            .err()
            .expect("metrics elsewhere are refused too");
        assert!(
            err.contains("192.0.2.1:8080 is not a loopback address"),
            "{err}"
        );
    }

    #[test]
    fn target_and_metrics_come_together_and_shards_are_the_in_process_servers() {
        assert!(parse(&["--target", "127.0.0.1:5060"]).is_err());
        assert!(parse(&["--metrics", "127.0.0.1:8080"]).is_err());
        let both = &["--target", "127.0.0.1:5060", "--metrics", "127.0.0.1:8080"];
        let args = parse(both).expect("both on loopback");
        assert_eq!(args.target, Some("127.0.0.1:5060".parse().unwrap()));
        assert!(parse(&[both, &["--shards", "2"][..]].concat()).is_err());
    }
}
