//! What the SIPREC server is given: its settings (from `[sip]` and `[recording]`), and the
//! services it shares with the rest of `serve` (spool, shards, policy, uploader, counters).
//! Plain data: nothing here acts.

use super::live_metrics::SipMetrics;
use super::shard::Shards;
use crate::config::Config;
use crate::policydb::cache::PolicyCache;
use crate::recorder::RecorderConfig;
use crate::sip::message::Limits;
use crate::sip::sources::AllowedSources;
use crate::sip::uas::SessionId;
use crate::store::envelope::Keyring;
use crate::store::spool::Spool;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

#[derive(Clone, Debug)]
pub struct SipSettings {
    pub listen: SocketAddr,
    /// The address our SDP answers give for media.
    pub media_address: IpAddr,
    pub rtp_ports: RangeInclusive<u16>,
    pub max_calls: usize,
    /// A call with neither RTP nor signalling for this long is ended and stored.
    pub idle_timeout: Duration,
    /// How long a drain waits for calls to end before ending them itself.
    pub drain_deadline: Duration,
    /// A new INVITE that waited longer in the socket is answered 503 (`None`: no limit).
    pub max_invite_wait: Option<Duration>,
    /// A TCP or TLS connection that sends nothing for this long is closed.
    pub connection_idle: Duration,
    pub limits: Limits,
    /// The recording clients' sources: others are answered 403.
    pub allow: AllowedSources,
    /// SIP over TLS: where, and the server's TLS configuration (with mutual TLS, its client
    /// verifier).
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// Format, layout, codec and jitter settings; policy adds tones per call.
    pub recorder: RecorderConfig,
}

/// What the server shares with the rest of `serve`.
pub struct Services {
    pub config: Arc<Config>,
    pub spool: Spool,
    pub shards: Arc<Shards>,
    /// `None`: no policy configured; every call is recorded with the defaults.
    pub policy: Option<Arc<PolicyCache>>,
    pub wake_uploader: Arc<Notify>,
    pub metrics: Arc<SipMetrics>,
    /// Calls started on a shard and not yet stored there.
    pub storing: Arc<AtomicU64>,
    /// Calls whose recording failed while they go on (from the shards): ended with a BYE.
    pub failures: mpsc::Receiver<(SessionId, String)>,
    /// The organisations whose recordings are encrypted at rest, with their keys.
    pub keyring: Arc<Keyring>,
}
