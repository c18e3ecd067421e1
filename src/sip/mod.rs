//! SIP for a SIPREC recording server (RFC 7866): the recording client (the calling platform)
//! sends an INVITE whose multipart body holds an SDP offer and RFC 7865 recording metadata;
//! callrec is the recording server that answers it.
//!
//! This module owns SIP messages, SDP, SIPREC metadata, transactions and dialogs, sans-IO: text
//! and bytes in, values and text out. It must never open sockets, read a clock, or import
//! anything else of callrec's.

pub mod metadata;
pub mod sdp;
