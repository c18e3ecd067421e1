//! SIP's transports: the UDP and TCP listeners on one address, TLS, and each TCP or TLS
//! connection's life (framing, the idle close, its bounded writer queue). Messages go to the
//! driver as [`Inbound`]; this file never reads one, and knows nothing of calls but how many
//! use a connection.

use super::live_metrics::SipMetrics;
use crate::server::bind::refusal;
use crate::server::clock;
use crate::sip::framing::{Frame, Framer};
use crate::sip::message::Limits;
use crate::sip::{Peer, Transport};
use crate::time::Time;
use bytes::{Bytes, BytesMut};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use nix::sys::time::TimeSpec;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Asks the kernel to stamp each datagram the SIP socket receives with its arrival time
/// (`SO_TIMESTAMPNS`), so that [`recv_stamped`] knows how long a request waited to be read.
pub(super) fn stamp_arrivals(udp: &UdpSocket) -> std::io::Result<()> {
    setsockopt(udp, sockopt::ReceiveTimestampns, &true).map_err(std::io::Error::from)
}

/// Reads one datagram into `buf` (emptied first, at most `max` bytes kept): its sender, and
/// how long it waited in the socket before this read (zero when the kernel gave no stamp).
pub(super) async fn recv_stamped(
    udp: &UdpSocket,
    buf: &mut BytesMut,
    max: usize,
) -> std::io::Result<(SocketAddr, Duration)> {
    buf.clear();
    buf.resize(max, 0);
    let (len, from, stamp) = udp
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(&mut buf[..])];
            let mut control = nix::cmsg_space!(TimeSpec);
            let message = recvmsg::<SockaddrStorage>(
                udp.as_raw_fd(),
                &mut iov,
                Some(&mut control),
                MsgFlags::empty(),
            )?;
            let stamp = message.cmsgs()?.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(at) => Some(at),
                _ => None,
            });
            let from = message.address.as_ref().and_then(socket_addr);
            Ok((message.bytes, from, stamp))
        })
        .await?;
    buf.truncate(len);
    let from = from.ok_or_else(|| std::io::Error::other("a datagram without its sender"))?;
    let waited = stamp.map_or(Duration::ZERO, |at| {
        let nanos = (at.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(at.tv_nsec() as u64);
        clock::since_wall_stamp(Time::from_nanos(nanos))
    });
    Ok((from, waited))
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Transport-level inputs, from the UDP socket and the TCP connections.
pub(super) enum Inbound {
    Message(Peer, Bytes),
    /// A TCP connection's writer, to send its responses through.
    Connected(u64, Connection),
    Closed(u64),
    /// A TLS client whose certificate was refused (mutual TLS): for the driver to count and
    /// log, as it does refused sources.
    CertificateRefused(SocketAddr, String),
}

/// What signalling keeps of a TCP or TLS connection.
pub(super) struct Connection {
    pub(super) writer: mpsc::Sender<Bytes>,
    /// Calls whose dialog came over it: while any is up, the connection is never closed as
    /// idle (our BYE may still have to go through it).
    pub(super) calls: Arc<AtomicU64>,
}

/// UDP and TCP on one address. With port 0 the system picks the UDP port, which TCP may
/// find taken: then both are tried again on another.
pub(super) async fn bind_sip(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), String> {
    let mut attempts = if listen.port() == 0 { 16 } else { 1 };
    loop {
        // "sip.listen: ..." so that the caller can name the flag or variable that set it.
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|e| format!("sip.listen: {} (UDP)", refusal(listen, &e)))?;
        let local = udp.local_addr().map_err(|e| e.to_string())?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if attempts > 1 => attempts -= 1,
            Err(e) => return Err(format!("sip.listen: {} (TCP)", refusal(local, &e))),
        }
    }
}

/// A call's media socket, bound at once (no await: the call table binds while it decides).
pub(super) fn bind_udp(addr: SocketAddr) -> std::io::Result<mio::net::UdpSocket> {
    mio::net::UdpSocket::bind(addr)
}

/// TCP and TLS connections held at once; one more is closed as soon as it is accepted.
const MAX_CONNECTIONS: usize = 1024;
/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// What every SIP connection shares: its numbering, the slots, where messages go.
pub(super) struct Connections {
    next_id: AtomicU64,
    slots: Arc<Semaphore>,
    inbound: mpsc::Sender<Inbound>,
    limits: Limits,
    /// Silence after which a connection is closed.
    idle: Duration,
    metrics: Arc<SipMetrics>,
}

impl Connections {
    /// Connections whose messages go to `inbound`, cut within `limits`, closed after `idle`.
    pub(super) fn new(
        inbound: mpsc::Sender<Inbound>,
        limits: Limits,
        idle: Duration,
        metrics: Arc<SipMetrics>,
    ) -> Connections {
        Connections {
            next_id: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            inbound,
            limits,
            idle,
            metrics,
        }
    }
}

/// Accepts SIP over TCP, or over TLS with `tls`: each connection is served on its own task
/// (after the TLS handshake, bounded in time), within [`MAX_CONNECTIONS`].
pub(super) async fn accept_connections(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
) {
    while let Ok((stream, addr)) = listener.accept().await {
        let Ok(slot) = Arc::clone(&connections.slots).try_acquire_owned() else {
            connections
                .metrics
                .connections_refused
                .fetch_add(1, Relaxed);
            continue;
        };
        let id = connections.next_id.fetch_add(1, Relaxed) + 1;
        let connections = Arc::clone(&connections);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(tls) = tls else {
                return serve_connection(stream, addr, id, false, &connections).await;
            };
            match tokio::time::timeout(TLS_HANDSHAKE, tls.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, addr, id, true, &connections).await,
                Ok(Err(e)) => match certificate_refusal(&e) {
                    Some(why) => {
                        let refused = Inbound::CertificateRefused(addr, why);
                        let _ = connections.inbound.send(refused).await;
                    }
                    None => tracing::warn!(peer = %addr, error = %e, "sip.tls_handshake_failed"),
                },
                Err(_) => {
                    tracing::warn!(peer = %addr, error = "timed out", "sip.tls_handshake_failed")
                }
            }
        });
    }
}

/// Why a handshake failed on the client's certificate (none, not from our CAs, not a listed
/// name), in words for the log; `None` for any other failure. rustls reports it through
/// tokio-rustls as an `io::Error` holding a `rustls::Error`.
fn certificate_refusal(error: &std::io::Error) -> Option<String> {
    use rustls::{CertificateError, Error};
    match error.get_ref()?.downcast_ref::<Error>()? {
        // Our own refusal (a name not listed) says itself what it is.
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            Some(format!("invalid peer certificate: {}", other.0))
        }
        e @ (Error::InvalidCertificate(_) | Error::NoCertificatesPresented) => Some(e.to_string()),
        _ => None,
    }
}

/// One connection's life (connection `id`, TLS or plain TCP): its messages are cut by the
/// framer and handed to the signalling task; its responses come back through a bounded
/// writer queue.
async fn serve_connection<S>(
    stream: S,
    addr: SocketAddr,
    id: u64,
    tls: bool,
    connections: &Connections,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = match tls {
        true => Transport::Tls(id),
        false => Transport::Tcp(id),
    };
    let inbound = &connections.inbound;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let calls = Arc::new(AtomicU64::new(0));
    let connection = Connection {
        writer: tx.clone(),
        calls: Arc::clone(&calls),
    };
    if inbound
        .send(Inbound::Connected(id, connection))
        .await
        .is_err()
    {
        return;
    }
    let write = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let peer = Peer { addr, transport };
    let mut framer = Framer::new(&connections.limits);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match tokio::time::timeout(connections.idle, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => break,
            Err(_) if calls.load(Relaxed) > 0 => continue,
            Err(_) => {
                connections
                    .metrics
                    .connections_idle_closed
                    .fetch_add(1, Relaxed);
                tracing::info!(
                    peer = %addr,
                    idle_secs = connections.idle.as_secs(),
                    "sip.connection_idle_closed"
                );
                break;
            }
        };
        framer.push(&buf[..n]);
        for frame in framer.by_ref() {
            match frame {
                Ok(Frame::Message(bytes)) => {
                    if inbound.send(Inbound::Message(peer, bytes)).await.is_err() {
                        break 'read;
                    }
                }
                // RFC 5626 §3.5.1: a double-CRLF ping is answered with one CRLF.
                Ok(Frame::Ping) => {
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Err(e) => {
                    tracing::warn!(peer = %addr, error = %e, "sip.connection_closed");
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    let _ = inbound.send(Inbound::Closed(id)).await;
    let _ = write.await;
}
