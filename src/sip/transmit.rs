//! Bytes the sans-IO user agent asks its driver to send, and to whom: how whatever `sip` says
//! reaches the wire. It is a request to send, never a send.

use bytes::Bytes;

use super::peer::Peer;

/// Bytes to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub to: Peer,
    pub bytes: Bytes,
}
