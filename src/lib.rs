//! callrec: the recorder core. Two RTP legs in, one faithful recording out.
//!
//! Everything in this crate but `main.rs` is sans-IO: no sockets, no files, no clock. Every
//! input carries its own `now` ([`time::Time`]) and every output is returned, so the same code
//! runs live, offline (pcap), in tests, in benches and under the fuzzer, and gives the same
//! bytes for the same input.

pub mod config;
pub mod encode;
pub mod media;
pub mod offline;
pub mod pcap;
pub mod policy;
pub mod policydb;
pub mod recorder;
pub mod rtp;
pub mod server;
pub mod session;
pub mod sip;
pub mod store;
pub mod synth;
pub mod time;
