//! SIP for a SIPREC recording server (RFC 3261, RFC 7866): the recording client (the calling
//! platform) sends an INVITE whose multipart body holds an SDP offer and RFC 7865 recording
//! metadata; callrec is the recording server that answers it.
//!
//! This module owns SIP messages, bodies, SDP, SIPREC metadata, transactions and dialogs,
//! sans-IO: bytes and their `crate::time::Time` in, bytes to send, events and deadlines out. It
//! must never open a socket, read a clock or spawn a task, and imports nothing else of
//! callrec's but `time`.

pub(crate) mod bye;
pub mod framing;
pub mod message;
pub mod metadata;
pub mod multipart;
pub mod sdp;
pub mod transaction;
pub mod uas;

use bytes::Bytes;
use std::fmt;
use std::net::SocketAddr;

/// A request refused: the final status and the reason phrase sent with it, which says why
/// (`488 Not Acceptable Here (no RTP audio stream callrec decodes)`). Every refusal, from the
/// user agent's checks to the session's decisions, is one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// How a message reached us, and so how its answer goes back.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    /// A TCP connection, by the server's number for it.
    Tcp(u64),
    /// A TLS connection, numbered like the TCP ones.
    Tls(u64),
}

impl Transport {
    /// Reliable transports carry every message: nothing is retransmitted over them.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp(_) | Transport::Tls(_))
    }
}

/// The other end of a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// Bytes to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub bytes: Bytes,
}
