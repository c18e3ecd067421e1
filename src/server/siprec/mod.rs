//! The SIPREC server: SIP over UDP, TCP and TLS into the sans-IO user agent, each call's media
//! from its sockets to the media shards, the spool, the uploads and the sweeps.
//!
//! From the top down (each file imports only those below it): `driver` (the task that owns
//! the user agent) over `call` (each call's life) over `transport` (listeners, connections),
//! `media_socket` and `latch` (RTP in), `ports`, `facts` (the answer and the sidecar's words,
//! pure), `refusal_log` (refused clients logged once a minute, pure) and `settings`; beside them `shard` (media threads running the recorders, writing the
//! spool), `uploader` and `sweeper` (storage), `latency` and `live_metrics` (counters).
//! `client` is callrec's own recording client, for tests and `callrec loadtest`.

mod call;
pub mod client;
mod driver;
mod facts;
pub(crate) mod latch;
pub(crate) mod latency;
pub(crate) mod live_metrics;
pub(crate) mod media_socket;
pub(crate) mod ports;
mod refusal_log;
mod settings;
pub mod shard;
pub(crate) mod sweeper;
mod transport;
pub mod uploader;

pub use driver::run;
pub use live_metrics::{LiveMetrics, SipMetrics};
pub use settings::{Services, SipSettings};
