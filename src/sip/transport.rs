//! How a message reached us (UDP, or a numbered TCP or TLS connection), and so how its answer
//! goes back and whether it is retransmitted. Only the name of a transport: the sockets behind
//! it are the server's, never this module's.

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
