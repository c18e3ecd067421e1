//! RTP and RTCP wire formats (RFC 3550): zero-copy parsed views over `bytes::Bytes`.
//!
//! This module owns the bytes-on-the-wire layer only: it validates a datagram once and hands out
//! views whose payloads are slices of the original buffer. It must never copy payloads, keep
//! state across packets, or interpret sequence numbers and timestamps beyond reading them.

pub(crate) mod packet;
pub(crate) mod rtcp;
pub(crate) mod seq;

pub use packet::{looks_like_rtcp, HeaderExtension, RtpError, RtpPacket};
pub use rtcp::{
    App, Goodbye, ReceiverReport, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, SdesChunk,
    SenderReport, SourceDescription,
};
