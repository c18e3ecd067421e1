//! One stream's UDP socket: receives datagrams, lets the latch judge each one, hands what it
//! keeps to the call's media shard and notes when the call was last heard. IO only: what to
//! keep is the latch's decision, what to do with it the shard's.

use super::latch::{Latch, LatchStats, Verdict};
use super::shard::Shards;
use crate::recorder::Leg;
use crate::time::Time;
use bytes::BytesMut;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// Largest datagram read; anything longer is truncated by the kernel and then fails to
/// parse as RTP in the recorder (counted there), which is the right outcome for it.
const MAX_DATAGRAM: usize = 2048;

/// Datagrams still read from the socket once the call is over (a second of a stream is 50).
const DRAIN_AT_END: usize = 1024;

/// Where a stream's kept datagrams go.
#[derive(Clone)]
pub(crate) struct StreamRoute {
    pub call: u64,
    /// The recording channel; `None` for a stream the recording does not use (its packets
    /// are received, so the sender sees no ICMP errors, and dropped).
    pub leg: Option<Leg>,
    pub shards: Arc<Shards>,
    /// When the call last received anything (nanoseconds since the epoch), for the idle timeout.
    pub heard: Arc<AtomicU64>,
    /// While true the stream is paused: datagrams are latched and counted, not recorded.
    pub paused: watch::Receiver<bool>,
    pub clock: fn() -> Time,
}

/// Receives on `socket` until `stop` changes; returns what the latch counted and the source
/// it latched to.
pub(crate) async fn receive(
    socket: UdpSocket,
    mut latch: Latch,
    route: StreamRoute,
    mut stop: watch::Receiver<bool>,
) -> (LatchStats, Option<std::net::SocketAddr>) {
    let mut buf = BytesMut::with_capacity(MAX_DATAGRAM * 8);
    let mut stopping = false;
    let mut drained = 0;
    loop {
        if buf.capacity() < MAX_DATAGRAM {
            buf.reserve(MAX_DATAGRAM * 8);
        }
        let received = match stopping {
            // The call is over: what the socket already holds arrived before its end (the
            // client's last packets, sent just before its BYE) and is still recorded.
            // Bounded, so a sender that floods on never holds the call's end.
            true if drained == DRAIN_AT_END => break,
            true => match socket.try_recv_buf_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                r => {
                    drained += 1;
                    r
                }
            },
            false => tokio::select! {
                biased;
                _ = stop.changed() => {
                    stopping = true;
                    continue;
                }
                r = socket.recv_buf_from(&mut buf) => r,
            },
        };
        let Ok((_, source)) = received else {
            // ICMP-induced errors on a connectionless socket: nothing was received.
            buf.clear();
            continue;
        };
        let datagram = buf.split().freeze();
        let now = (route.clock)();
        if latch.judge(source, &datagram) != Verdict::Keep {
            continue;
        }
        route.heard.store(now.as_nanos(), Relaxed);
        if let (Some(leg), false) = (route.leg, *route.paused.borrow()) {
            route.shards.packet(route.call, leg, now, datagram);
        }
    }
    let source = latch.source();
    (latch.stats, source)
}
