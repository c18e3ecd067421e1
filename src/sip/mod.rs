//! SIP for the SIPREC recording server (RFC 3261, RFC 7866): messages, bodies, SDP, recording
//! metadata, transactions and dialogs.
//!
//! This module owns signalling from bytes to meaning and back: it parses what a Session
//! Recording Client sends, builds what we answer, and keeps transaction and dialog state from
//! the times it is given. It must never open a socket, read a clock or spawn a task: bytes and
//! their `crate::time::Time` come in, bytes to send and deadlines go out. It imports nothing
//! else of ours.

pub mod framing;
pub mod message;
pub mod metadata;
pub mod multipart;
pub mod sdp;
