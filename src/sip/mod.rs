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
mod peer;
mod refusal;
pub mod sdp;
pub mod sources;
pub mod transaction;
mod transmit;
mod transport;
pub mod uas;

pub use peer::Peer;
pub use refusal::Refusal;
pub use transmit::Transmit;
pub use transport::Transport;
