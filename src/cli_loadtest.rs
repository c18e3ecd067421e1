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

use crate::cli_serve::{sip_settings, Recording};
use bytes::Bytes;
use callrec::config::Config;
use callrec::media::codec::{Codec, Encoder};
use callrec::server::siprec;
use callrec::sip::sdp::{self, SessionDescription};
use callrec::synth::rtp_packet;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::watch;

#[derive(clap::Parser)]
pub struct LoadArgs {
    /// Concurrent calls of each step, in order; the ramp stops at the first step that loses
    /// 0.1% of its packets or more.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,250,500,1000,1500,2000"
    )]
    calls: Vec<usize>,
    /// How long each step's calls last, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Media shard threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    shards: usize,
}

/// What one step measured.
struct Step {
    calls: usize,
    sent: u64,
    lost: u64,
    /// Arrival at the socket to the push into the recorder, and to the decode.
    p99_to_recorder: Option<Duration>,
    p99_to_decode: Option<Duration>,
    memory_per_call: f64,
}

pub fn run(args: LoadArgs) -> Result<(), String> {
    let spool = std::env::temp_dir().join(format!("callrec-loadtest-{}", std::process::id()));
    let mut config = Config::default();
    config.store.url = "memory://loadtest".into();
    config.store.spool = spool.clone();
    config.sip.listen = "127.0.0.1:0".parse().expect("a literal address");
    config.sip.shards = args.shards;
    config.sip.max_calls = args.calls.iter().copied().max().unwrap_or(0) + 10;
    config.sip.idle_timeout_secs = 30;
    config.validate()?;
    let jitter_ms = config.recording.jitter_ms;
    let shards = match config.sip.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(async {
        let config = Arc::new(config);
        let recording = Recording::start(Arc::clone(&config), None)?;
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
            );
            let delays_before = (
                live.shards.packet_delay.snapshot(),
                live.shards.decode_delay.snapshot(),
            );
            let base_rss = rss_bytes();
            let (sent, peak_rss) =
                step(sip, calls, Duration::from_secs(args.seconds), steps.len()).await?;
            // Let the shards finish the step's calls before reading the counters.
            let deadline = Instant::now() + Duration::from_secs(60);
            while live.shards.calls_active.load(Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let lost = live.shards.packets_lost.load(Relaxed) - before.0
                + live.shards.packets_queue_full.load(Relaxed)
                - before.1;
            let step = Step {
                calls,
                sent,
                lost,
                p99_to_recorder: live
                    .shards
                    .packet_delay
                    .snapshot()
                    .since(&delays_before.0)
                    .quantile(0.99),
                p99_to_decode: live
                    .shards
                    .decode_delay
                    .snapshot()
                    .since(&delays_before.1)
                    .quantile(0.99),
                memory_per_call: peak_rss.saturating_sub(base_rss) as f64 / calls as f64,
            };
            let loss = step.lost as f64 / step.sent.max(1) as f64;
            println!(
                "{}",
                json!({
                    "calls": step.calls,
                    "packets_sent": step.sent,
                    "packets_lost": step.lost,
                    "loss_percent": loss * 100.0,
                    "p99_arrival_to_recorder_us": step.p99_to_recorder.map(|d| d.as_micros() as u64),
                    "p99_arrival_to_decode_us": step.p99_to_decode.map(|d| d.as_micros() as u64),
                    "memory_per_call_kib": step.memory_per_call / 1024.0,
                })
            );
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
        .filter(|s| (s.lost as f64) < 0.001 * s.sent as f64)
        .map(|s| s.calls)
        .max()
        .unwrap_or(0);
    println!(
        "{}",
        json!({
            "sustained_calls": sustained,
            "media_shards": shards,
            "calls_per_core": sustained as f64 / shards as f64,
            "jitter_ms": jitter_ms,
            "note": "generator and server share the machine",
        })
    );
    Ok(())
}

/// One step: `calls` sessions set up, `length` of RTP on both legs, then BYE. Returns the
/// RTP packets sent and the process's peak resident memory while the calls ran.
async fn step(
    sip: SocketAddr,
    calls: usize,
    length: Duration,
    step: usize,
) -> Result<(u64, u64), String> {
    let mut sessions = Vec::with_capacity(calls);
    for i in 0..calls {
        sessions.push(Session::open(sip, &format!("load-{step}-{i}")).await?);
    }
    let payload = tone_payload();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let packets = length.as_millis() as u32 / 20;
    let mut sent = 0u64;
    let mut peak = 0u64;
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
        if n % 50 == 25 {
            peak = peak.max(rss_bytes());
        }
    }
    for s in &sessions {
        s.bye().await?;
    }
    Ok((sent, peak))
}

/// A calling platform's side of one recording session.
struct Session {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    to_tag: String,
    /// Each leg's RTP socket and where the answer said to send it.
    legs: Vec<(UdpSocket, SocketAddr)>,
}

impl Session {
    async fn open(server: SocketAddr, call_id: &str) -> Result<Session, String> {
        let sip = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let a = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let b = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let port = |s: &UdpSocket| s.local_addr().map(|a| a.port()).unwrap_or(0);
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n\
             m=audio {} RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n",
            port(&a),
            port(&b)
        );
        let local = sip.local_addr().map_err(|e| e.to_string())?;
        let invite = format!(
            "INVITE sip:srs@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
             From: <sip:src@{local}>;tag=src\r\nTo: <sip:srs@{server}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:src@{local}>;+sip.src\r\nRequire: siprec\r\n\
             Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let answer = exchange(&sip, server, invite.as_bytes(), 200).await?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let to_tag = text
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split(";tag=").nth(1))
            .map(|t| t.trim().to_string())
            .ok_or("the 200 OK has no To-tag")?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let answer =
            SessionDescription::parse(body, &sdp::Limits::default()).map_err(|e| e.to_string())?;
        let ports: Vec<u16> = answer.media.iter().map(|m| m.port).collect();
        let ack = format!(
            "ACK sip:srs@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ack-{call_id}\r\n\
             From: <sip:src@{local}>;tag=src\r\nTo: <sip:srs@{server}>;tag={to_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        sip.send_to(ack.as_bytes(), server)
            .await
            .map_err(|e| e.to_string())?;
        let media = |port: u16| SocketAddr::new(server.ip(), port);
        Ok(Session {
            legs: vec![(a, media(ports[0])), (b, media(ports[1]))],
            sip,
            server,
            call_id: call_id.to_string(),
            to_tag,
        })
    }

    async fn bye(&self) -> Result<(), String> {
        let local = self.sip.local_addr().map_err(|e| e.to_string())?;
        let (server, call_id, tag) = (self.server, &self.call_id, &self.to_tag);
        let bye = format!(
            "BYE sip:srs@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-bye-{call_id}\r\n\
             From: <sip:src@{local}>;tag=src\r\nTo: <sip:srs@{server}>;tag={tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        exchange(&self.sip, server, bye.as_bytes(), 200)
            .await
            .map(|_| ())
    }
}

/// Sends `request` (again every 500 ms, as UDP needs) until a final response arrives;
/// `Ok` when it is `status`.
async fn exchange(
    socket: &UdpSocket,
    to: SocketAddr,
    request: &[u8],
    status: u16,
) -> Result<Bytes, String> {
    let mut buf = vec![0u8; 65_536];
    for _ in 0..10 {
        socket
            .send_to(request, to)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            let code: u16 = String::from_utf8_lossy(&buf[8..n.min(11)])
                .parse()
                .unwrap_or(0);
            match code {
                100..=199 => continue,
                c if c == status => return Ok(Bytes::copy_from_slice(&buf[..n])),
                c => return Err(format!("answered {c}")),
            }
        }
    }
    Err("no answer".into())
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
