//! The streams' UDP sockets, read by a few receive threads (one per media shard; a call's
//! sockets go to its shard's). Each thread waits on all its sockets at once (epoll, through
//! mio) and wakes at most every [`PACE`]: one wake then reads every datagram that arrived
//! meanwhile on hundreds of sockets, and hands them to the shard in a burst that wakes it once.
//! A task per socket, as before, woke a runtime thread and the shard for every datagram, and
//! that cost more than the recording itself (README, "Receive threads").
//!
//! Each datagram: the latch judges it, the kept ones go to the call's shard, and the call is
//! noted as heard. IO only: what to keep is the latch's decision, what to do with it the
//! shard's.

use super::latch::{Latch, LatchStats, Verdict};
use super::shard::Shards;
use crate::recorder::Leg;
use crate::time::Time;
use bytes::BytesMut;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Largest datagram read; anything longer is truncated by the kernel and then fails to
/// parse as RTP in the recorder (counted there), which is the right outcome for it.
const MAX_DATAGRAM: usize = 2048;

/// Datagrams are read into shared blocks of this size (each kept datagram a slice of one, so
/// nothing is copied); a block is freed once the last of its datagrams is recorded.
const BLOCK: usize = MAX_DATAGRAM * 64;

/// Datagrams still read from the socket once the call is over (a second of a stream is 50).
const DRAIN_AT_END: usize = 1024;

/// Least time between two wakes of a busy receive thread: what a datagram may wait in its
/// socket before it is read, far inside the jitter buffer's wait. At 20 ms packets, a socket
/// holds at most one datagram per wake, but a thread serves every socket of its shard's calls.
const PACE: Duration = Duration::from_millis(5);

/// Streams added but not yet taken by their thread (each thread takes them at every wake).
const PENDING_STREAMS: usize = 4096;

/// The waker's token; streams are numbered from 1.
const WAKER: Token = Token(0);

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

/// What a stream's socket counted when it was stopped, and the source it latched to.
pub(crate) type Received = (LatchStats, Option<SocketAddr>);

/// The receive threads.
pub(crate) struct Receivers {
    threads: Vec<ReceiveThread>,
}

struct ReceiveThread {
    streams: Sender<Stream>,
    waker: Arc<Waker>,
}

/// One stream's socket as its thread holds it.
struct Stream {
    socket: UdpSocket,
    latch: Latch,
    route: StreamRoute,
    stop: Arc<AtomicBool>,
    done: oneshot::Sender<Received>,
}

/// A stream being received; stopping it (or dropping it) ends its reads.
pub(crate) struct StreamReceiver {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    done: oneshot::Receiver<Received>,
}

impl Receivers {
    /// Starts `count` receive threads.
    pub(crate) fn start(count: usize) -> std::io::Result<Receivers> {
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let (streams, added) = crossbeam_channel::bounded(PENDING_STREAMS);
            std::thread::Builder::new()
                .name(format!("callrec-rtp-{index}"))
                .spawn(move || run(poll, &added))?;
            threads.push(ReceiveThread { streams, waker });
        }
        Ok(Receivers { threads })
    }

    /// Receives on `socket` from now on, with `latch` judging its datagrams and `route` taking
    /// the kept ones, on the thread of the call's shard.
    pub(crate) fn receive(
        &self,
        socket: UdpSocket,
        latch: Latch,
        route: StreamRoute,
    ) -> StreamReceiver {
        let route_call = route.call;
        let thread = &self.threads[route.shards.index(route.call) % self.threads.len()];
        let stop = Arc::new(AtomicBool::new(false));
        let (done, finished) = oneshot::channel();
        let stream = Stream {
            socket,
            latch,
            route,
            stop: Arc::clone(&stop),
            done,
        };
        // A thread takes every waiting stream at each wake, every few milliseconds under
        // load, so thousands waiting means it is stuck: the stream is dropped (its socket
        // closed, nothing received), said loudly, rather than the call waiting.
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            thread.streams.try_send(stream)
        {
            tracing::error!(call = route_call, "media.receiver_stuck");
        }
        // A thread that cannot be woken finds the stream at its next wake.
        let _ = thread.waker.wake();
        StreamReceiver {
            stop,
            waker: Arc::clone(&thread.waker),
            done: finished,
        }
    }
}

impl Drop for ReceiveThread {
    /// The thread ends once its streams are stopped (not waited for: a call's store task may
    /// still hold one).
    fn drop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(1);
        drop(std::mem::replace(&mut self.streams, closed));
        let _ = self.waker.wake();
    }
}

impl StreamReceiver {
    /// Stops the stream: what its socket already holds arrived before the call's end (the
    /// client's last packets, sent just before its BYE) and is still read, a bounded amount.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Relaxed);
        let _ = self.waker.wake();
    }

    /// Stops the stream and waits for its counts; `None` if its thread is gone.
    pub(crate) async fn finish(mut self) -> Option<Received> {
        self.stop();
        (&mut self.done).await.ok()
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A receive thread: waits for datagrams on every stream's socket, reads them all, sleeps out
/// the rest of [`PACE`], and again, until the streams' sender is gone and its streams ended.
fn run(mut poll: Poll, added: &Receiver<Stream>) {
    let mut events = Events::with_capacity(1024);
    let mut streams: HashMap<usize, Stream> = HashMap::new();
    let mut next_token = WAKER.0 + 1;
    let mut block = BytesMut::zeroed(BLOCK);
    let mut closed = false;
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "media.poll_failed");
            return;
        }
        let woke = Instant::now();
        for event in &events {
            if let Some(stream) = streams.get_mut(&event.token().0) {
                stream.read(&mut block, usize::MAX);
            }
        }
        loop {
            match added.try_recv() {
                Ok(mut stream) => {
                    let token = Token(next_token);
                    next_token += 1;
                    let registered =
                        poll.registry()
                            .register(&mut stream.socket, token, Interest::READABLE);
                    match registered {
                        // Edge-triggered: what arrived before it was registered is read now.
                        Ok(()) => {
                            stream.read(&mut block, usize::MAX);
                            streams.insert(token.0, stream);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "media.register_failed");
                            stream.end();
                        }
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let stopped: Vec<usize> = streams
            .iter()
            .filter(|(_, stream)| stream.stop.load(Relaxed))
            .map(|(&token, _)| token)
            .collect();
        for token in stopped {
            if let Some(mut stream) = streams.remove(&token) {
                stream.read(&mut block, DRAIN_AT_END);
                let _ = poll.registry().deregister(&mut stream.socket);
                stream.end();
            }
        }
        if closed && streams.is_empty() {
            return;
        }
        if !streams.is_empty() {
            std::thread::sleep(PACE.saturating_sub(woke.elapsed()));
        }
    }
}

impl Stream {
    /// Reads datagrams until the socket has none (or `limit` were read): the latch judges
    /// each, the kept ones go to the shard.
    fn read(&mut self, block: &mut BytesMut, limit: usize) {
        for _ in 0..limit {
            if block.len() < MAX_DATAGRAM {
                *block = BytesMut::zeroed(BLOCK);
            }
            let (len, source) = match self.socket.recv_from(&mut block[..MAX_DATAGRAM]) {
                Ok(received) => received,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // ICMP-induced errors on a connectionless socket: nothing was received.
                Err(_) => continue,
            };
            let datagram = block.split_to(len).freeze();
            let now = (self.route.clock)();
            if self.latch.judge(source, &datagram) != Verdict::Keep {
                continue;
            }
            self.route.heard.store(now.as_nanos(), Relaxed);
            if let (Some(leg), false) = (self.route.leg, *self.route.paused.borrow()) {
                self.route
                    .shards
                    .packet(self.route.call, leg, now, datagram);
            }
        }
    }

    /// Closes the socket, then reports the stream's counts: by then its port can be bound
    /// again by the call that is given it next.
    fn end(self) {
        let Stream {
            socket,
            latch,
            done,
            ..
        } = self;
        drop(socket);
        let source = latch.source();
        let _ = done.send((latch.stats, source));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clock;

    /// Datagrams sent before the stream is stopped (a client's last packets, just before its
    /// BYE) are judged, counted and reach the shard; once the stream is finished its port can
    /// be bound again, so the next call given it is not refused.
    #[tokio::test]
    async fn a_stopped_stream_counts_what_arrived_then_frees_its_port() {
        let shards = Arc::new(Shards::start(1, clock::now, |_| {}));
        let receivers = Receivers::start(1).expect("a thread");
        let socket = UdpSocket::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let port = socket.local_addr().expect("bound");
        let (_paused, paused) = watch::channel(false);
        let route = StreamRoute {
            call: 7,
            leg: Some(Leg::A),
            shards: Arc::clone(&shards),
            heard: Arc::default(),
            paused,
            clock: clock::now,
        };
        let stream = receivers.receive(socket, Latch::new(None), route);
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("sender");
        let stranger = std::net::UdpSocket::bind("127.0.0.1:0").expect("stranger");
        let mut rtp = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        rtp.extend([0xff; 160]);
        for _ in 0..10 {
            sender.send_to(&rtp, port).expect("send");
        }
        stranger.send_to(&rtp, port).expect("send");

        let (stats, source) = stream.finish().await.expect("the thread reports");
        assert_eq!((stats.kept, stats.foreign), (10, 1));
        assert_eq!(source, Some(sender.local_addr().expect("sender's address")));
        std::net::UdpSocket::bind(port).expect("the port is free again");
        // The kept datagrams reached the call's shard (which holds no such call and says so).
        let deadline = Instant::now() + Duration::from_secs(10);
        while shards.metrics.packets_unknown_call.load(Relaxed) < 10 {
            assert!(Instant::now() < deadline, "the shard got the datagrams");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(shards.metrics.packets_unknown_call.load(Relaxed), 10);
    }
}
