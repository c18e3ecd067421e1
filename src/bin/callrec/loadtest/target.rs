//! `callrec loadtest --target SIP_ADDR --metrics ADMIN_ADDR`: the generator alone, driving an
//! external `callrec serve` on this machine, and what a second of call costs that server.
//!
//! Each step reads the server's `/metrics` before the step's calls are set up and again once
//! they have ended and been stored (none active, each committed and uploaded, nothing waiting
//! in the spool), and divides the server's CPU time between the two (`process_cpu_seconds_total`:
//! user and system, every thread) by the seconds of call it recorded. That figure is the whole
//! live cost of a call: SIP set-up and teardown, the media sockets and their wake-ups, the
//! queues to the shards, the recorder (jitter buffer, decode, mix), the encoder, the spool's
//! writes and syncs, and the upload to whatever store the server has, plus whatever else the
//! server did meanwhile (its policy refresh, the scrapes themselves). Its inverse is the
//! concurrent calls one core of server CPU keeps up with.
//!
//! Before the first step and after each, this process records the same synthetic call alone
//! in the server's format at the Opus defaults, on every core at once (a thread per core, each
//! recording one call after another; the generator idle meanwhile), and divides its CPU time
//! by the seconds of call recorded: the recorder's floor, which `callrec bench` measures on
//! one core. `live_over_recorder` is each step's cost over the floor measured just before and
//! just after it (pooled: both measurements' CPU over both's seconds of call). The floor is
//! taken around each step, and on every core, because a shared machine's cores change speed
//! from minute to minute (this project's two virtual cores by up to 1.5x, measured with the
//! same `callrec bench` pinned to one core): a floor taken on one core at another moment
//! measures the host, not the server, whose threads run on every core.
//!
//! Only loopback addresses are taken, for the SIP target and for the metrics alike: this tool
//! must never load a server on another machine by accident.

use super::figures::{self, calls_per_core, live_over_recorder, per_call_second};
use super::generator;
use super::scrape::{self, Counters};
use crate::output::{Line, Output};
use crate::runtime::runtime;
use crate::synthetic_call::{self, record_once, recorder_config, Packets};
use callrec::encode::Format;
use callrec::server::process_cpu;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long a step's calls may take to end, be committed and uploaded after the last BYE.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);
/// How often `/metrics` is read while waiting for that.
const SETTLE_POLL: Duration = Duration::from_millis(200);
/// The recorder-alone measurement goes on past its rounds until this much CPU time has been
/// used: 100 clock ticks, so the tick's rounding is under 1% of the figure.
const RECORDER_MIN_CPU_SECS: f64 = 1.0;
/// And never past this many rounds.
const RECORDER_MAX_ROUNDS: u32 = 10_000;

/// `--target` and `--metrics`: an address on this machine, or a refusal saying why. A clap
/// value parser, so a wrong address stops the command before anything is sent.
pub fn loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an address and port such as 127.0.0.1:5060"))?;
    if !addr.ip().to_canonical().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: loadtest only drives a server on this machine \
             (127.0.0.0/8 or [::1]), never another machine's"
        ));
    }
    Ok(addr)
}

/// What `--target` mode needs of the command line.
pub struct TargetArgs<'a> {
    pub sip: SocketAddr,
    /// Every server's admin address (several behind a balancer): their figures are summed.
    pub admins: &'a [SocketAddr],
    pub calls: &'a [usize],
    pub seconds: u64,
    pub format: &'a str,
    pub recorder_calls: u32,
}

/// One step against the external server.
struct Step {
    /// Every call answered, and under 0.1% of its packets or audio lost.
    held: bool,
    ratio: StepRatio,
}

pub fn run(args: TargetArgs) -> Result<(), String> {
    if args.sip.is_ipv6() {
        return Err(format!(
            "--target {}: the generator's SIP and RTP speak from 127.0.0.1; give the server's \
             IPv4 loopback address",
            args.sip
        ));
    }
    let format = match args.format {
        "wav" => Format::Wav,
        _ => Format::OggOpus,
    };
    let packets = synthetic_call::call(args.seconds)?;
    let payloads = synthetic_call::leg_payloads(&packets)?;
    let length = Duration::from_secs(args.seconds);
    let mut out = Output::stdout();
    let runtime = runtime()?;
    let client = runtime.block_on(async { scrape::client() })?;
    let mut steps = Vec::new();
    // The floor before the first step; each step is set against the two either side of it.
    let mut floor_before = recorder_alone(&packets, format, args.recorder_calls, args.seconds)?;
    out.line(&floor_before)?;
    for (index, &calls) in args.calls.iter().enumerate() {
        let (sent, before, after) = runtime.block_on(async {
            let before = scrape::fetch_all(&client, args.admins).await?;
            let sent = generator::step(args.sip, calls, length, index, &payloads).await?;
            let after = settle(&client, args.admins, &before).await?;
            Ok::<_, String>((sent, before, after))
        })?;
        let line = StepLine::new(calls, args.seconds, &sent, &before, &after);
        out.line(&line)?;
        // The generator's tasks have ended: the recorder runs alone in this process.
        let floor_after = recorder_alone(&packets, format, args.recorder_calls, args.seconds)?;
        out.line(&floor_after)?;
        let recorder = floor_before.bracketing(&floor_after);
        floor_before = floor_after;
        let per_call_second = line.server_cpu_ms_per_call_second.map(|ms| ms / 1e3);
        let step = Step {
            held: line.calls_refused == 0 && line.loss_percent < 0.1,
            ratio: StepRatio {
                calls,
                server_cpu_ms_per_call_second: line.server_cpu_ms_per_call_second,
                calls_per_core_of_server_cpu: calls_per_core(per_call_second),
                recorder_alone_cpu_ms_per_call_second: recorder.map(|r| r * 1e3),
                live_over_recorder: live_over_recorder(per_call_second, recorder),
            },
        };
        let held = step.held;
        steps.push(step);
        if !held {
            break;
        }
    }
    let held = steps
        .iter()
        .filter(|s| s.held)
        .max_by_key(|s| s.ratio.calls)
        .map(|s| &s.ratio);
    out.summary(&Summary {
        kind: "summary",
        sustained_calls: held.map_or(0, |r| r.calls),
        format: args.format,
        server_cpu_ms_per_call_second: held.and_then(|r| r.server_cpu_ms_per_call_second),
        calls_per_core_of_server_cpu: held.and_then(|r| r.calls_per_core_of_server_cpu),
        recorder_alone_cpu_ms_per_call_second: held
            .and_then(|r| r.recorder_alone_cpu_ms_per_call_second),
        live_over_recorder: held.and_then(|r| r.live_over_recorder),
        steps: steps.iter().map(|s| s.ratio.clone()).collect(),
        note: "server CPU from its /metrics over each step (set-up to stored and uploaded); \
               recorder alone in this process on the same audio, on every core at once, \
               just before and just after each step (pooled)",
    })?;
    Ok(())
}

/// Reads `/metrics` until the step's calls have ended and been stored, or fails naming what
/// is still outstanding.
async fn settle(
    client: &reqwest::Client,
    admins: &[SocketAddr],
    before: &Counters,
) -> Result<Counters, String> {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    loop {
        let now = scrape::fetch_all(client, admins).await?;
        if now.settled_since(before) {
            return Ok(now);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server had not finished the step's calls {} s after the last BYE: {}",
                SETTLE_DEADLINE.as_secs(),
                now.pending(before)
            ));
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// This process's CPU time per second of call while it records `packets` alone on every core
/// at once, a thread per core each recording one call after another: at least `rounds` calls
/// in all and at least [`RECORDER_MIN_CPU_SECS`] of CPU per thread.
fn recorder_alone(
    packets: &Packets,
    format: Format,
    rounds: u32,
    call_secs: u64,
) -> Result<RecorderAlone, String> {
    let config = recorder_config(format);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu =
        || process_cpu::seconds().ok_or("this system has no /proc/self/stat to read CPU time");
    let start = cpu()?;
    let done = AtomicU32::new(0);
    let enough = |done: u32, used: f64| {
        done >= RECORDER_MAX_ROUNDS
            || (done >= rounds && used >= RECORDER_MIN_CPU_SECS * threads as f64)
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| loop {
                    record_once(packets, &config, drop)?;
                    let done = done.fetch_add(1, Relaxed) + 1;
                    if enough(done, cpu()? - start) {
                        return Ok::<_, String>(());
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| "a recorder thread panicked".to_string())?
        })
    })?;
    let used = cpu()? - start;
    let done = done.into_inner();
    let per = per_call_second(used, done as usize, call_secs as f64);
    Ok(RecorderAlone {
        kind: "recorder_alone",
        format,
        threads,
        calls: done,
        call_secs,
        cpu_seconds: used,
        cpu_ms_per_call_second: per.map(|c| c * 1e3),
        calls_per_core: calls_per_core(per),
    })
}

/// One step's line.
#[derive(Serialize)]
struct StepLine {
    #[serde(rename = "type")]
    kind: &'static str,
    calls: usize,
    /// Of `calls`, those the server (or every worker behind the balancer) refused: the step
    /// did not hold. The figures below are the answered calls'.
    calls_refused: usize,
    seconds: u64,
    packets_sent: u64,
    /// Lost on the way (`callrec_packets_lost_total`) and dropped at a full shard queue.
    packets_lost: u64,
    audio_dropped_ms: u64,
    loss_percent: f64,
    recordings_stored: u64,
    server_cpu_seconds: f64,
    server_cpu_ms_per_call_second: Option<f64>,
    calls_per_core_of_server_cpu: Option<f64>,
    generator_max_behind_ms: u64,
}

impl StepLine {
    fn new(
        calls: usize,
        seconds: u64,
        sent: &generator::Sent,
        before: &Counters,
        after: &Counters,
    ) -> StepLine {
        let delta = |f: fn(&Counters) -> f64| (f(after) - f(before)).max(0.0);
        let lost = (delta(|c| c.lost) + delta(|c| c.queue_full)).round() as u64;
        let audio_dropped_ms = figures::millis(delta(|c| c.audio_dropped_secs));
        let cpu = delta(|c| c.cpu);
        let per = per_call_second(cpu, calls - sent.refused, seconds as f64);
        StepLine {
            kind: "step",
            calls,
            calls_refused: sent.refused,
            seconds,
            packets_sent: sent.packets,
            packets_lost: lost,
            audio_dropped_ms,
            loss_percent: figures::loss(sent.packets, lost, audio_dropped_ms) * 100.0,
            recordings_stored: delta(|c| c.stored).round() as u64,
            // The counter moves in clock ticks: no float noise past them.
            server_cpu_seconds: (cpu * 100.0).round() / 100.0,
            server_cpu_ms_per_call_second: per.map(|c| c * 1e3),
            calls_per_core_of_server_cpu: calls_per_core(per),
            generator_max_behind_ms: sent.behind.as_millis() as u64,
        }
    }
}

fn or_dash(value: Option<f64>, digits: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.digits$}"))
}

impl Line for StepLine {
    fn text(&self) -> String {
        format!(
            "{} calls: {} refused, {:.3}% lost, {} stored; server {:.2} s CPU, {} ms per call-second ({} calls per core)",
            self.calls,
            self.calls_refused,
            self.loss_percent,
            self.recordings_stored,
            self.server_cpu_seconds,
            or_dash(self.server_cpu_ms_per_call_second, 3),
            or_dash(self.calls_per_core_of_server_cpu, 0),
        )
    }
}

/// The recorder alone on the same call.
#[derive(Serialize)]
struct RecorderAlone {
    #[serde(rename = "type")]
    kind: &'static str,
    format: Format,
    /// Threads that recorded at once, one per core.
    threads: usize,
    calls: u32,
    call_secs: u64,
    cpu_seconds: f64,
    cpu_ms_per_call_second: Option<f64>,
    calls_per_core: Option<f64>,
}

impl RecorderAlone {
    /// The floor over a step measured between `self` and `after`: both measurements' CPU over
    /// both's seconds of call, in seconds of CPU per second of call.
    fn bracketing(&self, after: &RecorderAlone) -> Option<f64> {
        let calls = self.calls as usize + after.calls as usize;
        per_call_second(
            self.cpu_seconds + after.cpu_seconds,
            calls,
            self.call_secs as f64,
        )
    }
}

impl Line for RecorderAlone {
    fn text(&self) -> String {
        format!(
            "recorder alone: {} ms CPU per call-second ({} calls per core; {} calls of {} s on {} cores at once)",
            or_dash(self.cpu_ms_per_call_second, 3),
            or_dash(self.calls_per_core, 0),
            self.calls,
            self.call_secs,
            self.threads
        )
    }
}

/// A step's cost beside the recorder's.
#[derive(Clone, Serialize)]
struct StepRatio {
    calls: usize,
    server_cpu_ms_per_call_second: Option<f64>,
    calls_per_core_of_server_cpu: Option<f64>,
    /// The recorder alone over the step: measured just before and just after it, pooled.
    recorder_alone_cpu_ms_per_call_second: Option<f64>,
    live_over_recorder: Option<f64>,
}

/// The ramp against the external server: the largest step that held, its cost, and every
/// step's cost over the recorder's.
#[derive(Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sustained_calls: usize,
    format: &'a str,
    server_cpu_ms_per_call_second: Option<f64>,
    calls_per_core_of_server_cpu: Option<f64>,
    recorder_alone_cpu_ms_per_call_second: Option<f64>,
    live_over_recorder: Option<f64>,
    steps: Vec<StepRatio>,
    note: &'static str,
}

impl Line for Summary<'_> {
    fn text(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("{}: {}x", s.calls, or_dash(s.live_over_recorder, 2)))
            .collect();
        format!(
            "sustained {} calls: server {} ms CPU per call-second ({} calls per core), recorder \
             alone {} ms, live/recorder {}x (per step {}; {}; {})",
            self.sustained_calls,
            or_dash(self.server_cpu_ms_per_call_second, 3),
            or_dash(self.calls_per_core_of_server_cpu, 0),
            or_dash(self.recorder_alone_cpu_ms_per_call_second, 3),
            or_dash(self.live_over_recorder, 2),
            steps.join(", "),
            self.format,
            self.note
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_taken() {
        for ok in [
            "127.0.0.1:5060",
            "127.3.2.1:1",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(loopback(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn any_other_address_is_refused_saying_why() {
        for other in [
            "10.0.0.5:5060",
            "192.168.1.2:5060",
            "0.0.0.0:5060",
            "[::]:5060",
            "8.8.8.8:53",
            "[::ffff:10.0.0.1]:5060",
        ] {
            let err = loopback(other).expect_err(other);
            assert!(err.contains("not a loopback address"), "{err}");
            assert!(err.contains("this machine"), "{err}");
        }
        let err = loopback("localhost:5060").expect_err("a name is not an address");
        assert!(err.contains("127.0.0.1:5060"), "{err}");
    }

    #[test]
    fn a_steps_line_is_the_counters_deltas() {
        let before = Counters {
            cpu: 10.0,
            lost: 3.0,
            queue_full: 1.0,
            audio_dropped_secs: 0.5,
            calls: 7.0,
            stored: 7.0,
            uploads: 7.0,
            ..Counters::default()
        };
        let after = Counters {
            cpu: 12.0,
            lost: 5.0,
            queue_full: 2.0,
            audio_dropped_secs: 0.56,
            calls: 107.0,
            stored: 107.0,
            uploads: 107.0,
            ..Counters::default()
        };
        let sent = generator::Sent {
            refused: 0,
            packets: 100 * 2 * 50 * 4,
            peak_rss: 0,
            behind: Duration::from_millis(3),
        };
        let line = StepLine::new(100, 4, &sent, &before, &after);
        assert_eq!(line.packets_lost, 3);
        assert_eq!(line.audio_dropped_ms, 60);
        assert_eq!(line.recordings_stored, 100);
        assert!((line.server_cpu_seconds - 2.0).abs() < 1e-9);
        // 2 CPU seconds over 400 call-seconds: 5 ms each, 200 calls per core.
        let ms = line.server_cpu_ms_per_call_second.expect("measured");
        assert!((ms - 5.0).abs() < 1e-9, "{ms}");
        let per_core = line.calls_per_core_of_server_cpu.expect("measured");
        assert!((per_core - 200.0).abs() < 1e-6, "{per_core}");
        // 3 of 40,000 packets; 60 ms of 800 s of audio: the packets are the larger share.
        assert!(
            (line.loss_percent - 0.0075).abs() < 1e-9,
            "{}",
            line.loss_percent
        );
        assert_eq!(line.generator_max_behind_ms, 3);
    }
}
