//! The IO shell of `callrec serve`: sockets, the tokio runtime, HTTP. So far the admin API
//! (roles and bearer tokens, health, metrics, and the recording policy's routes); SIP and the
//! media shards come with the SIPREC server. Decides nothing itself: policy decisions live in
//! `policy`, storage in `policydb` (through `repo`, which owns the document conventions).

pub mod admin;
pub mod auth;
pub mod clock;
pub mod http;
pub mod latch;
pub mod latency;
pub mod live_metrics;
pub mod log;
pub mod media_socket;
pub mod ports;
pub mod repo;
pub mod routes_audit;
pub mod routes_directory;
pub mod routes_recording;
pub mod routes_vendor;
pub mod shard;
pub mod siprec;
pub mod src_client;
pub mod sweeper;
pub mod tls;
pub mod uploader;
