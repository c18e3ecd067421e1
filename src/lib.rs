//! callrec: two RTP legs in, one faithful recording out, stored with its retention.
//!
//! **The pure core** ([`rtp`], [`pcap`], [`media`], [`encode`], [`recorder`], [`offline`],
//! [`sip`], [`srtp`], [`session`], [`policy`], [`synth`], [`time`], `store::key`) is sans-IO: no
//! sockets, no files, no threads, no clock, no runtime, no database. Every input carries its
//! own `now` ([`time::Time`]) and every output is returned, so the same code runs live, offline
//! (pcap), in tests, in benches and under the fuzzer, and gives the same bytes for the same
//! input. `tests/architecture.rs` reads the core's source and fails on any IO or any import of
//! the shell.
//!
//! **The IO shell** around it: [`server`] (the SIPREC server, media shards, uploads, the admin
//! API), [`store`] (destinations, the spool, uploads, listing, sweeps, migration),
//! [`policydb`] (the policy store and the cache refreshed from it), [`config`], and the CLI
//! (the binary, `src/bin/callrec/`).

#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod catalog;
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
pub mod srtp;
pub mod store;
pub mod synth;
pub mod time;
pub mod webhook;
