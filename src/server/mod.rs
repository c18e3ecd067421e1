//! The IO shell of `callrec serve`: sockets, the tokio runtime, threads, HTTP. Two servers and
//! what they share:
//! - **The SIPREC server**, in `siprec/`: SIP over UDP, TCP and TLS driving the sans-IO
//!   `sip::uas`, each call's life, RTP in, the media shards, uploads and sweeps, and
//!   callrec's own recording client for tests and `callrec loadtest`.
//! - **The admin API**: `admin/` (its router, state and errors, extractors, the one
//!   load-check-modify-save-retry helper, bearer-token roles, the policy documents'
//!   conventions over `policydb`, and `routes/` one file a resource).
//! - **What both stand on**: `bind`, `clock`, `log`, `open_store` (a stored recording's
//!   destination, by the URL it was uploaded with), `process_cpu` (the CPU it has used), `tls` (rustls configurations), with
//!   `client_cert` (SIP's mutual TLS) and `tls_listener` (the admin API's HTTPS); and above
//!   both, `serve`, which starts them together (the binary's `callrec serve`, and the tests'
//!   in-process server).
//!
//! Decides nothing itself: who is recorded and how is `policy` and `session`, what a call
//! sounds like is `recorder`, where it is kept is `store`.

pub mod admin;
mod bind;
pub(crate) mod client_cert;
pub mod clock;
pub(crate) mod log;
pub(crate) mod open_store;
pub mod process_cpu;
pub mod serve;
pub mod siprec;
pub(crate) mod tls;
pub(crate) mod tls_listener;
pub mod webhooks;
