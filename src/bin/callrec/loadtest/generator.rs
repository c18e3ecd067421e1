//! The load generator: plays the calling platform over loopback, whichever server it drives
//! (the one in this process, or `--target`'s). Each call sends `callrec bench`'s synthetic call
//! ([`crate::synthetic_call`]): leg A's and leg B's PCMU frames, in this call's own RTP headers.

use bytes::Bytes;
use callrec::server::siprec::client::{self, SrcSession};
use callrec::synth::rtp_packet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// What the generator did in one step.
pub struct Sent {
    /// Calls the server refused (answered 503, or another error status): a server or fleet
    /// at its limit, so the step did not hold.
    pub refused: usize,
    /// RTP packets handed to the sockets.
    pub packets: u64,
    /// This process's peak resident memory while the calls ran (in-process mode: the server's
    /// memory is in it).
    pub peak_rss: u64,
    /// How far behind its own timestamps the generator fell at worst: a sender that late is
    /// late for the recorder too, whatever the server does.
    pub behind: Duration,
}

/// One step: `calls` sessions set up, `length` of RTP on both legs (`payloads`' frames, one
/// list a leg, from the start again if the step outlasts them), then BYE.
pub async fn step(
    sip: SocketAddr,
    calls: usize,
    length: Duration,
    step: usize,
    payloads: &[Vec<Bytes>; 2],
) -> Result<Sent, String> {
    if payloads.iter().any(Vec::is_empty) {
        return Err("the synthetic call has a leg without packets".into());
    }
    // The process id keeps Call-IDs apart across runs against the same external server.
    let run = std::process::id();
    let mut sessions = Vec::with_capacity(calls);
    let mut refused = 0;
    for i in 0..calls {
        match Session::open(sip, &format!("load-{run}-{step}-{i}")).await {
            Ok(session) => sessions.push(session),
            Err(e) if client::answered_status(&e).is_some() => refused += 1,
            Err(e) => return Err(e),
        }
    }
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
                let frames = &payloads[leg];
                let payload = &frames[n as usize % frames.len()];
                let packet = rtp_packet(0, n == 0, n as u16, n * 160, ssrc, payload);
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
    Ok(Sent {
        refused,
        packets: sent,
        peak_rss: peak,
        behind,
    })
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

/// The process's resident memory, from /proc (0 where there is none).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
