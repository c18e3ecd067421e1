//! The IO shell of `callrec serve`: sockets, the tokio runtime, threads, HTTP. Two servers and
//! what they share:
//! - **The SIPREC server**: `siprec` (SIP over UDP, TCP and TLS driving the sans-IO
//!   `sip::uas`, each call's life), `ports`, `media_socket` and `latch` (RTP in), `shard`
//!   (media threads running the recorders, writing the spool), `uploader` and `sweeper`
//!   (storage), `latency`, `live_metrics`, `clock`, `log`, `tls`; `src_client` is callrec's
//!   own recording client for tests and `callrec loadtest`.
//! - **The admin API**: `admin/` (its router, state and errors, extractors, the one
//!   load-check-modify-save-retry helper, bearer-token roles, the policy documents'
//!   conventions over `policydb`, and `routes/` one file a resource).
//!
//! Decides nothing itself: who is recorded and how is `policy` and `session`, what a call
//! sounds like is `recorder`, where it is kept is `store`.

pub mod admin;
pub mod clock;
pub mod latch;
pub mod latency;
pub mod live_metrics;
pub mod log;
pub mod media_socket;
pub mod ports;
pub mod shard;
pub mod siprec;
pub mod src_client;
pub mod sweeper;
pub mod tls;
pub mod uploader;
