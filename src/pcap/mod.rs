//! Offline input: UDP datagrams out of packet captures (pcap, pcapng) of a call.
//!
//! Owns capture framing, link-layer/IP/UDP decoding, finding the call's RTP streams (`flows`)
//! and a capture writer for fixtures and
//! tests. It must never copy a payload (datagrams are slices of the capture's `Bytes`) and
//! never panic on any input: damage to the file is a [`CaptureError`], odd frames are counted
//! in [`CaptureStats`] and skipped.

pub mod flows;
mod link;
mod reader;
mod writer;

pub use link::MAX_IPV6_EXTENSION_HEADERS;
pub use reader::{CaptureError, CaptureReader, CaptureStats, Datagram};
pub use writer::{CaptureFormat, LinkType, PcapWriter, WriteError, MAX_FRAME_LEN};

#[cfg(test)]
mod tests;
