//! The IO shell of `callrec serve`: sockets, the tokio runtime, threads, HTTP. Two servers and
//! what they share:
//! - **The SIPREC server**, in `siprec/`: SIP over UDP, TCP and TLS driving the sans-IO
//!   `sip::uas`, each call's life, RTP in, the media shards, uploads and sweeps, and
//!   callrec's own recording client for tests and `callrec loadtest`.
//! - **The admin API**: `admin` (router and state), `auth` (roles, bearer tokens), `http`,
//!   `repo` (the policy documents' conventions over `policydb`), `routes_*`.
//! - **What both stand on**: `clock`, `log`, `tls`; and above both, `serve`, which starts
//!   them together (the binary's `callrec serve`, and the tests' in-process server).
//!
//! Decides nothing itself: who is recorded and how is `policy` and `session`, what a call
//! sounds like is `recorder`, where it is kept is `store`.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod http;
pub mod log;
pub mod repo;
pub mod routes_audit;
pub mod routes_directory;
pub mod routes_recording;
pub mod routes_vendor;
pub mod serve;
pub mod siprec;
pub mod tls;
