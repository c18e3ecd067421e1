//! The other end of a message: its address and the transport it came over, which together say
//! where an answer goes. It names a peer, never holds a connection to it.

use std::net::SocketAddr;

use super::transport::Transport;

/// The other end of a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}
