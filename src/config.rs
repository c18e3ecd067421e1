//! callrec's configuration: one typed struct, read from a TOML file, overridden by environment
//! variables, overridden by flags, validated when loaded with errors that name the flag,
//! variable or field the user set.
//!
//! **Precedence**, for every setting and every command: a flag, else an environment variable,
//! else the configuration file, else the built-in default (`layers`). **The file**: `--config`,
//! else `CALLREC_CONFIG`, else `$XDG_CONFIG_HOME/callrec/config.toml` (or
//! `~/.config/callrec/config.toml`), else `/etc/callrec/config.toml`: the first that exists
//! (`locate`). A command reads and validates only the sections it uses.
//!
//! ```toml
//! [store]
//! url = "s3://recordings/callrec"        # default "." : ./recordings/... on local disk
//! spool = "/var/spool/callrec"           # default ./spool
//! spool_limit_bytes = 8589934592         # default 8 GiB
//! upload_concurrency = 16                # uploads at once, over every destination
//! sweep_interval_secs = 3600             # serve deletes expired recordings this often; 0 = off
//! [store.options]                        # object_store keys; AWS_* variables also apply
//! aws_endpoint = "http://127.0.0.1:7480"
//!
//! secrets_key_file = "/etc/callrec/secrets.key"  # seals customers' storage credentials
//! customer_endpoints = ["https://s3.example.net"]  # S3 endpoints customers may name
//! [store.destinations.shared-eu]         # registered: customers pick it by name (API)
//! url = "s3://shared-eu/callrec"
//! options = { aws_region = "eu-west-1", aws_access_key_id = "...", aws_secret_access_key = "..." }
//!
//! [orgs.acme.store]                      # customer-owned storage: acme's own bucket
//! url = "s3://acme-recordings"
//! options = { aws_region = "eu-west-1" }
//! [orgs.acme.encryption]                 # acme's recordings encrypted at rest (envelope)
//! current = "k2"                         # the key new recordings' data keys are wrapped with
//! key_files = { k1 = "/etc/callrec/keys/acme-k1.key", k2 = "/etc/callrec/keys/acme-k2.key" }
//! chunk_size = 65536                     # plaintext bytes per sealed chunk (default)
//!
//! [policy]
//! db = "postgres://callrec@db/callrec"   # default sqlite://policy.sqlite (beside ./recordings)
//!
//! [providers.dubber]                     # what the admin API shows administrators
//! terms_url = "https://www.dubber.net/"  # the terms they accept; default: the provider's site
//! login_url = "https://www.dubber.net/"  # where users reach recordings; default: the same
//!
//! [sip]                                  # the SIPREC server; defaults shown
//! listen = "127.0.0.1:5060"              # UDP and TCP
//! media_address = "192.0.2.10"           # default: listen's address
//! rtp_port_min = 20000
//! rtp_port_max = 29999
//! max_calls = 2000
//! idle_timeout_secs = 60                 # no RTP and no SIP this long: the client is gone
//! drain_deadline_secs = 300              # SIGTERM: calls may run on this long
//! max_invite_wait_ms = 32000             # an INVITE that waited longer in the socket (the
//!                                        # server stalled) is answered 503; behind a
//!                                        # balancer, under its failover time; 0: no limit
//! connection_idle_secs = 300             # a TCP/TLS connection silent this long is closed
//! shards = 0                             # media threads; 0 = one per core
//! max_message_bytes = 65536
//! tls_listen = "0.0.0.0:5061"            # SIP over TLS; default: off
//! tls_certificate = "srs.pem"            # PEM chain, leaf first (required with tls_listen)
//! tls_key = "srs-key.pem"                # PEM private key (required with tls_listen)
//! allow = ["10.0.0.0/8", "192.0.2.7"]    # who may record: source networks or addresses, IPv4
//!                                        # and IPv6; others get 403; default loopback only
//!                                        # (127.0.0.0/8, ::1); CALLREC_SIP_ALLOW=a,b
//! tls_client_ca = "sbc-ca.pem"           # mutual TLS: clients must present a certificate
//!                                        # from these CA(s) (PEM); default: not asked
//! tls_client_names = ["sbc1.example.com"]  # and naming one of these (DNS SANs, else CN);
//!                                        # default: any the CA(s) signed
//! voicemail_aors = ["sip:voicemail@example.com"]  # sessions with such a participant are
//!                                        # voicemail (recorded per the user's setting); default: none
//! srtp_over_plain_transport = false      # accept SRTP keys (a=crypto) over plain UDP/TCP SIP
//!
//! [admin]                                # the admin API (`callrec serve`)
//! listen = "127.0.0.1:8080"              # --admin
//! tls_certificate = "admin.pem"          # HTTPS with this PEM chain (may be the SIP one);
//! tls_key = "admin-key.pem"              # default: plain HTTP, on loopback only
//! allow_plain_http = false               # true: plain HTTP on any address (behind a TLS proxy)
//!
//! [recording]
//! format = "opus"                        # or "wav"
//! layout = "stereo"                      # or "mono", "separate"
//! jitter_ms = 200
//!
//! [worker]                               # this server among others (`callrec serve`)
//! name = "worker-1"                      # its name in /metrics (callrec_worker_info); default:
//!                                        # the host name
//!
//! [webhooks]                             # completion events (`callrec serve`); defaults shown
//! allow_http = false                     # true: http:// webhook URLs beyond loopback
//! timeout_secs = 10                      # a receiver answers within this, or the try failed
//! retry_initial_ms = 1000                # first retry within this (doubling, jittered)
//! retry_max_secs = 600                   # no retry waits longer
//! give_up_secs = 86400                   # an event undelivered this long is given up
//! ```
//!
//! Environment: every field, as `CALLREC_` and its path in capitals (`CALLREC_SIP_LISTEN` for
//! sip.listen, `CALLREC_STORE_URL` for store.url; see [`ENV`]); the short `CALLREC_STORE`,
//! `CALLREC_SPOOL` and `CALLREC_SPOOL_LIMIT_BYTES` still work (the full name wins when both
//! are set); providers' pages are
//! `CALLREC_{DUBBER,IMAGICLE,CALLCABINET}_{TERMS,LOGIN}_URL`.

mod key_files;
mod layers;
mod locate;
mod origin;

pub use key_files::KeyFiles;
pub use layers::{Flag, Section, Sources};
pub use locate::{locate, Located, CONFIG_VAR, SYSTEM_CONFIG};
pub use origin::{Origin, Origins};

use crate::policy::plan::Provider;
use crate::sip::sources::AllowedSources;
use crate::store::envelope::Keyring;
use crate::store::sealed::SecretsKey;
use crate::store::spool::Spool;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The order, said once in `callrec --help` and `callrec serve --help`.
pub const PRECEDENCE_HELP: &str = "\
Each setting is taken from its flag, else its environment variable, else the configuration
file, else the default. The configuration file is --config, else CALLREC_CONFIG, else
$XDG_CONFIG_HOME/callrec/config.toml (or ~/.config/callrec/config.toml), else
/etc/callrec/config.toml: the first that exists.";

/// The longest jitter buffer wait accepted, for `serve` (`recording.jitter_ms`) and `record`
/// (`--jitter-ms`) alike: beyond it a recording lags the call by more than anyone would choose.
pub const MAX_JITTER_MS: u64 = 10_000;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    /// Per-organisation settings, by organisation id.
    #[serde(default)]
    pub orgs: BTreeMap<String, OrgConfig>,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    #[serde(default)]
    pub sip: SipConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Where each setting's value came from (not a field of the file).
    #[serde(skip)]
    pub origins: Origins,
    /// The configuration file read, if any.
    #[serde(skip)]
    pub file: Option<Located>,
}

/// The SIPREC server (`callrec serve`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Where SIP is received, over UDP and TCP (a host name is resolved).
    #[serde(deserialize_with = "host_address")]
    pub listen: SocketAddr,
    /// The address SDP answers give for media; default: `listen`'s address (required when
    /// that is a wildcard such as 0.0.0.0).
    pub media_address: Option<IpAddr>,
    /// The RTP port range: each call takes consecutive even ports (RTCP on the odd ones).
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Calls recorded at once; one more is answered 503.
    pub max_calls: usize,
    /// A call with neither RTP nor signalling for this long is ended and stored.
    pub idle_timeout_secs: u64,
    /// On SIGTERM, how long calls in progress may run on before they are ended and stored.
    pub drain_deadline_secs: u64,
    /// A new INVITE that waited longer than this in the server's socket before it was read
    /// (the server was stalled: stopped, swapping, starved of CPU) is answered 503 instead of
    /// being recorded. Its client has given up on it by then: a balancer has sent it to
    /// another worker after its failover time (set this under that time), and any client's
    /// INVITE transaction ends after 32 s (RFC 3261 Timer B, the default). 0: no limit.
    pub max_invite_wait_ms: u64,
    /// A SIP connection (TCP or TLS) that sends nothing for this long is closed, so idle
    /// clients cannot hold every connection slot. Calls go on: in-dialog requests may come on
    /// a new connection.
    pub connection_idle_secs: u64,
    /// Media shard threads; 0: one per core.
    pub shards: usize,
    /// Largest SIP message accepted.
    pub max_message_bytes: usize,
    /// Where SIP over TLS is received; `None`: no TLS.
    #[serde(deserialize_with = "some_host_address")]
    pub tls_listen: Option<SocketAddr>,
    /// The server's certificate chain (PEM, leaf first), for `tls_listen`.
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key (PEM), for `tls_listen`.
    pub tls_key: Option<PathBuf>,
    /// Voicemail systems' AORs: a session with a participant at one of them is a voicemail
    /// deposit or retrieval, recorded only for users who record voicemail. Compared as policy
    /// compares AORs (see [`crate::session::call_kind`]).
    pub voicemail_aors: Vec<String>,
    /// The recording clients' source addresses and networks: a request from anywhere else is
    /// answered 403 (every transport, TLS too). Default: loopback only.
    pub allow: AllowedSources,
    /// Mutual TLS: the CA certificates (PEM) a client's certificate must chain to on
    /// `tls_listen`; `None`: clients are not asked for one.
    pub tls_client_ca: Option<PathBuf>,
    /// With `tls_client_ca`, the names a client certificate must carry one of (its DNS
    /// subject alternative names, else its common name); empty: any certificate the CAs
    /// signed.
    pub tls_client_names: Vec<String>,
    /// Accept SRTP offers (`RTP/SAVP`, SDES `a=crypto`) that came over plain UDP or TCP, where
    /// anyone on the path reads the keys. Default off: such offers are answered 488, and SRTP
    /// is accepted over TLS only.
    pub srtp_over_plain_transport: bool,
}

/// This server as one worker of a fleet (`callrec serve`): how it names itself where an
/// operator looks at many (`/metrics`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Its name, e.g. `worker-1` or `rec-eu-3`; `None`: the machine's host name, which is
    /// unique in a fleet of one worker per machine (not in one of several per machine: then
    /// name each).
    pub name: Option<String>,
}

/// The longest worker name accepted: a label value people read on a dashboard.
pub const MAX_WORKER_NAME: usize = 64;

/// The admin HTTP API (`callrec serve`): where, and over HTTPS or HTTP.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where the API is served (a host name is resolved).
    #[serde(deserialize_with = "host_address")]
    pub listen: SocketAddr,
    /// HTTPS: the certificate chain (PEM, leaf first) and its key. The SIP ones serve when
    /// the same name reaches both; named here rather than taken from `[sip]`, so turning on
    /// SIP over TLS never silently moves the API from http:// to https://.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP on an address other than loopback (bearer tokens in clear): refused unless
    /// this is true (a TLS-terminating proxy in front, on a network you trust).
    pub allow_plain_http: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_certificate: None,
            tls_key: None,
            allow_plain_http: false,
        }
    }
}

impl AdminConfig {
    /// Served over HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_certificate.is_some()
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            media_address: None,
            rtp_port_min: 20000,
            rtp_port_max: 29999,
            max_calls: 2000,
            idle_timeout_secs: 60,
            drain_deadline_secs: 300,
            max_invite_wait_ms: 32_000,
            connection_idle_secs: 300,
            shards: 0,
            max_message_bytes: 64 * 1024,
            tls_listen: None,
            tls_certificate: None,
            tls_key: None,
            voicemail_aors: Vec::new(),
            allow: AllowedSources::loopback(),
            tls_client_ca: None,
            tls_client_names: Vec::new(),
            srtp_over_plain_transport: false,
        }
    }
}

/// The providers' pages the admin API links to, by provider.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub dubber: ProviderPages,
    #[serde(default)]
    pub imagicle: ProviderPages,
    #[serde(default)]
    pub callcabinet: ProviderPages,
}

/// One provider's pages; each left out is the provider's public site
/// ([`ProviderPages::public_site`]). The agreement with a provider names the exact terms page.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderPages {
    /// The terms of service an administrator accepts on the customer's behalf (shown before,
    /// and in the 409 that asks for them).
    pub terms_url: Option<String>,
    /// Where users and administrators sign in to reach the recordings.
    pub login_url: Option<String>,
}

impl ProviderPages {
    /// The default of both pages.
    pub fn public_site(provider: Provider) -> &'static str {
        match provider {
            Provider::Dubber => "https://www.dubber.net/",
            Provider::Imagicle => "https://www.imagicle.com/",
            Provider::CallCabinet => "https://www.callcabinet.com/",
        }
    }
}

impl ProvidersConfig {
    fn pages(&self, provider: Provider) -> &ProviderPages {
        match provider {
            Provider::Dubber => &self.dubber,
            Provider::Imagicle => &self.imagicle,
            Provider::CallCabinet => &self.callcabinet,
        }
    }

    fn pages_mut(&mut self, provider: Provider) -> &mut ProviderPages {
        match provider {
            Provider::Dubber => &mut self.dubber,
            Provider::Imagicle => &mut self.imagicle,
            Provider::CallCabinet => &mut self.callcabinet,
        }
    }

    pub fn terms_url(&self, provider: Provider) -> &str {
        let pages = self.pages(provider);
        pages
            .terms_url
            .as_deref()
            .unwrap_or(ProviderPages::public_site(provider))
    }

    pub fn login_url(&self, provider: Provider) -> &str {
        let pages = self.pages(provider);
        pages
            .login_url
            .as_deref()
            .unwrap_or(ProviderPages::public_site(provider))
    }
}

impl SipConfig {
    /// The address SDP answers carry.
    pub fn media_address(&self) -> IpAddr {
        self.media_address.unwrap_or(self.listen.ip())
    }
}

/// How live calls are written (policy adds tones, notification and retention per call).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// `opus` (Ogg Opus) or `wav`.
    pub format: String,
    /// `stereo` (one party per channel), `mono` or `separate` (a file per party).
    pub layout: String,
    /// How long the jitter buffer waits for late packets.
    pub jitter_ms: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            format: "opus".into(),
            layout: "stereo".into(),
            jitter_ms: 200,
        }
    }
}

/// Completion events' delivery (see `crate::webhook`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Webhook URLs may be `http://` to any host (by default: to loopback only).
    pub allow_http: bool,
    /// How long a receiver has to answer one delivery.
    pub timeout_secs: u64,
    /// The first retry's delay, at most (and at least half); each next one doubles.
    pub retry_initial_ms: u64,
    /// No retry waits longer.
    pub retry_max_secs: u64,
    /// An event still undelivered this long after it was written is given up.
    pub give_up_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_http: false,
            timeout_secs: 10,
            retry_initial_ms: 1000,
            retry_max_secs: 600,
            give_up_secs: 24 * 3600,
        }
    }
}

/// Where the recording policy is kept.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://...` (shared by a fleet).
    #[serde(default = "default_policy_db")]
    pub db: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            db: default_policy_db(),
        }
    }
}

fn default_policy_db() -> String {
    "sqlite://policy.sqlite".into()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Where recordings go unless their organisation has its own destination.
    #[serde(default = "default_store_url")]
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default = "default_spool")]
    pub spool: PathBuf,
    #[serde(default = "default_spool_limit")]
    pub spool_limit_bytes: u64,
    /// Uploads `serve` runs at once, over every destination: a small recording costs a dozen
    /// requests of a few milliseconds each, so one upload at a time leaves the store idle.
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: usize,
    /// How often `serve` deletes expired recordings from every destination (0: never).
    #[serde(default = "default_sweep_interval")]
    pub sweep_interval_secs: u64,
    /// Destinations the operator registered, by name (`[store.destinations.NAME]`), each with
    /// its own options and credentials: a customer administrator picks one by name for the
    /// organisation's recordings, never seeing its credentials.
    #[serde(default)]
    pub destinations: BTreeMap<String, Target>,
    /// The file holding the key (32 bytes as 64 hex digits or base64) that seals the storage
    /// credentials customers supply; `CALLREC_SECRETS_KEY` gives the key itself instead.
    /// Without either, customers can only pick registered destinations.
    #[serde(default)]
    pub secrets_key_file: Option<PathBuf>,
    /// The key from `CALLREC_SECRETS_KEY` (never read from the file: it is not configuration
    /// to keep beside the rest).
    #[serde(skip)]
    pub secrets_key: Option<SecretsKey>,
    /// S3 endpoints (`https://s3.example.net`) a customer may name for its own bucket; by
    /// default none, so customers' buckets are AWS's (by region). Keeps the admin API from
    /// making the server send requests to any address a customer types.
    #[serde(default)]
    pub customer_endpoints: Vec<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            options: BTreeMap::new(),
            spool: default_spool(),
            spool_limit_bytes: default_spool_limit(),
            upload_concurrency: default_upload_concurrency(),
            sweep_interval_secs: default_sweep_interval(),
            destinations: BTreeMap::new(),
            secrets_key_file: None,
            secrets_key: None,
            customer_endpoints: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// The organisation's own storage (its own bucket), used instead of `[store]`.
    pub store: Option<Target>,
    /// The organisation's keys: with them its recordings are encrypted at rest.
    pub encryption: Option<EncryptionConfig>,
}

/// An organisation's keyring (`[orgs.ORG.encryption]`): key files by key id (each 32 bytes as
/// 64 hex digits or base64, as `store.secrets_key_file`; the keys themselves are never in the
/// configuration file), and the id new recordings are wrapped with. Rotation: add a key,
/// make it `current`, run `callrec storage rewrap`, then remove the old one.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    pub current: String,
    pub key_files: BTreeMap<String, PathBuf>,
    /// Plaintext bytes per sealed chunk (1024 to 16777216; default 65536): a range read
    /// fetches and decrypts whole chunks.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u32,
}

fn default_chunk_size() -> u32 {
    crate::store::envelope::DEFAULT_CHUNK
}

/// A destination URL with its object_store options.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_store_url() -> String {
    ".".into()
}

fn default_spool() -> PathBuf {
    "spool".into()
}

fn default_spool_limit() -> u64 {
    Spool::DEFAULT_LIMIT
}

/// Enough for 50 small recordings a second into an S3 server on loopback (README, Uploads).
fn default_upload_concurrency() -> usize {
    16
}

/// Hourly: a 30-day retention is then kept to within an hour.
fn default_sweep_interval() -> u64 {
    3600
}

impl Config {
    /// Parses TOML and validates every section; unknown fields and wrong types are errors
    /// naming the field.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config = Config::parse_unchecked(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML without validating the values.
    fn parse_unchecked(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.message().to_string() + &span(text, e.span()))
    }

    /// Applies every variable `var` knows (all sections), then validates.
    #[cfg(test)]
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        for (name, _, set) in ENV.iter().chain(PROVIDER_ENV) {
            if let Some(value) = var(name) {
                set(self, &value)
                    .map_err(|e| format!("{name}: '{}' {e}", layers::shown(name, &value)))?;
            }
        }
        self.validate()
    }

    /// Checks every field; errors name it.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_sections(&Section::ALL)
    }

    /// Checks the fields of `sections` (a command's); errors name the field.
    pub fn validate_sections(&self, sections: &[Section]) -> Result<(), String> {
        for section in sections {
            match section {
                Section::Store => self.validate_store()?,
                Section::Orgs => self.validate_orgs()?,
                Section::Policy => self.validate_policy()?,
                Section::Providers => self.validate_providers()?,
                Section::Sip => self.validate_sip()?,
                Section::Admin => self.validate_admin()?,
                Section::Recording => self.validate_recording()?,
                Section::Webhooks => self.validate_webhooks()?,
                Section::Worker => self.validate_worker()?,
            }
        }
        Ok(())
    }

    fn validate_store(&self) -> Result<(), String> {
        if self.store.url.is_empty() {
            return Err("store.url: empty".into());
        }
        if !(1..=1024).contains(&self.store.upload_concurrency) {
            return Err("store.upload_concurrency: must be 1 to 1024".into());
        }
        if self.store.spool_limit_bytes == 0 {
            return Err("store.spool_limit_bytes: must be above 0".into());
        }
        for (name, target) in &self.store.destinations {
            let fine = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
            if name.is_empty() || name.len() > 64 || !name.chars().all(fine) {
                return Err(format!(
                    "store.destinations.{name}: a name is 1-64 of A-Z a-z 0-9 - _ . ~"
                ));
            }
            if target.url.is_empty() {
                return Err(format!("store.destinations.{name}.url: empty"));
            }
        }
        if let Some(file) = &self.store.secrets_key_file {
            readable("store.secrets_key_file", file)?;
        }
        if let Some(bad) = self
            .store
            .customer_endpoints
            .iter()
            .find(|e| !is_web_page(e))
        {
            return Err(format!(
                "store.customer_endpoints: '{bad}' is not an http:// or https:// URL"
            ));
        }
        Ok(())
    }

    /// The key that seals customers' storage credentials: `CALLREC_SECRETS_KEY`, else the
    /// file `store.secrets_key_file` names; `None` when neither is set.
    pub fn secrets_key(&self) -> Result<Option<SecretsKey>, String> {
        if let Some(key) = &self.store.secrets_key {
            return Ok(Some(key.clone()));
        }
        let Some(file) = &self.store.secrets_key_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            format!(
                "store.secrets_key_file: cannot read {}: {e}",
                file.display()
            )
        })?;
        SecretsKey::parse(&text)
            .map(Some)
            .map_err(|e| format!("store.secrets_key_file: {}: {e}", file.display()))
    }

    /// Every organisation's encryption keys, read from their files: the organisations in it
    /// have their recordings encrypted at rest.
    pub fn keyring(&self) -> Result<Keyring, String> {
        let mut keyring = Keyring::new();
        for (org, settings) in &self.orgs {
            if let Some(encryption) = &settings.encryption {
                keyring.insert(org.clone(), key_files::read(org, encryption)?);
            }
        }
        Ok(keyring)
    }

    /// The destination the operator registered as `name`.
    pub fn registered_destination(&self, name: &str) -> Option<&Target> {
        self.store.destinations.get(name)
    }

    fn validate_policy(&self) -> Result<(), String> {
        if self.policy.db.is_empty() {
            return Err("policy.db: empty".into());
        }
        Ok(())
    }

    fn validate_sip(&self) -> Result<(), String> {
        let sip = &self.sip;
        if sip.rtp_port_min % 2 == 1 || sip.rtp_port_min == 0 {
            return Err(format!(
                "sip.rtp_port_min: {} is not an even port above 0",
                sip.rtp_port_min
            ));
        }
        if sip.rtp_port_max <= sip.rtp_port_min {
            return Err(format!(
                "sip.rtp_port_max: {} is not above sip.rtp_port_min {}",
                sip.rtp_port_max, sip.rtp_port_min
            ));
        }
        if sip.media_address().is_unspecified() {
            return Err(format!(
                "sip.media_address: required when sip.listen is {} (SDP must name a reachable address)",
                sip.listen
            ));
        }
        if sip.max_calls == 0 {
            return Err("sip.max_calls: must be above 0".into());
        }
        if sip.idle_timeout_secs == 0 {
            return Err("sip.idle_timeout_secs: must be above 0".into());
        }
        if sip.connection_idle_secs == 0 {
            return Err("sip.connection_idle_secs: must be above 0".into());
        }
        if let Some(aor) = sip
            .voicemail_aors
            .iter()
            .find(|aor| crate::policy::index::normalise_aor(aor).is_none())
        {
            return Err(format!(
                "sip.voicemail_aors: {aor:?} is not a sip:, sips: or tel: address"
            ));
        }
        if sip.max_message_bytes < 1024 {
            return Err("sip.max_message_bytes: must be at least 1024".into());
        }
        if sip.tls_listen.is_some() {
            for (field, path) in [
                ("sip.tls_certificate", &sip.tls_certificate),
                ("sip.tls_key", &sip.tls_key),
            ] {
                let Some(path) = path else {
                    return Err(format!("{field}: required with sip.tls_listen"));
                };
                readable(field, path)?;
            }
        }
        if sip.allow.networks().is_empty() {
            return Err(
                "sip.allow: empty: no recording client could start a session (this machine \
                 alone is [\"127.0.0.0/8\", \"::1\"])"
                    .into(),
            );
        }
        match &sip.tls_client_ca {
            Some(ca) => readable("sip.tls_client_ca", ca)?,
            None if !sip.tls_client_names.is_empty() => {
                return Err(
                    "sip.tls_client_names: needs sip.tls_client_ca (the CAs that vouch for them)"
                        .into(),
                )
            }
            None => {}
        }
        if let Some(name) = sip.tls_client_names.iter().find(|n| !is_dns_name(n)) {
            return Err(format!(
                "sip.tls_client_names: {name:?} is not a DNS name (wildcards are not accepted)"
            ));
        }
        Ok(())
    }

    fn validate_admin(&self) -> Result<(), String> {
        let admin = &self.admin;
        match (&admin.tls_certificate, &admin.tls_key) {
            (Some(certificate), Some(key)) => {
                readable("admin.tls_certificate", certificate)?;
                readable("admin.tls_key", key)?;
            }
            (Some(_), None) => {
                return Err("admin.tls_key: required with admin.tls_certificate".into())
            }
            (None, Some(_)) => {
                return Err("admin.tls_certificate: required with admin.tls_key".into())
            }
            (None, None) if !admin.listen.ip().is_loopback() && !admin.allow_plain_http => {
                return Err(format!(
                    "admin.listen: {} is not a loopback address, and plain HTTP would carry \
                     the admin API's bearer tokens in clear: set admin.tls_certificate and \
                     admin.tls_key for HTTPS, or admin.allow_plain_http = true \
                     (CALLREC_ADMIN_ALLOW_PLAIN_HTTP=true) behind a TLS proxy you trust",
                    admin.listen
                ));
            }
            (None, None) => {}
        }
        Ok(())
    }

    fn validate_webhooks(&self) -> Result<(), String> {
        let hooks = &self.webhooks;
        if !(1..=60).contains(&hooks.timeout_secs) {
            return Err("webhooks.timeout_secs: must be 1 to 60".into());
        }
        if hooks.retry_initial_ms == 0 || hooks.retry_max_secs == 0 || hooks.give_up_secs == 0 {
            return Err(
                "webhooks: retry_initial_ms, retry_max_secs and give_up_secs must be above 0"
                    .into(),
            );
        }
        Ok(())
    }

    fn validate_worker(&self) -> Result<(), String> {
        let Some(name) = &self.worker.name else {
            return Ok(());
        };
        let fine = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if name.is_empty() || name.len() > MAX_WORKER_NAME || !name.chars().all(fine) {
            return Err(format!(
                "worker.name: '{name}' is not 1-{MAX_WORKER_NAME} of A-Z a-z 0-9 - _ . :"
            ));
        }
        Ok(())
    }

    fn validate_recording(&self) -> Result<(), String> {
        let rec = &self.recording;
        rec.format
            .parse::<crate::encode::Format>()
            .map_err(|_| format!("recording.format: '{}' is not opus or wav", rec.format))?;
        rec.layout
            .parse::<crate::media::mix::Layout>()
            .map_err(|e| format!("recording.layout: {e}"))?;
        if rec.jitter_ms > MAX_JITTER_MS {
            return Err(format!(
                "recording.jitter_ms: {} is above the limit of {MAX_JITTER_MS}",
                rec.jitter_ms
            ));
        }
        Ok(())
    }

    fn validate_orgs(&self) -> Result<(), String> {
        for (org, settings) in &self.orgs {
            if settings.store.as_ref().is_some_and(|t| t.url.is_empty()) {
                return Err(format!("orgs.{org}.store.url: empty"));
            }
            if let Some(encryption) = &settings.encryption {
                if !encryption.key_files.contains_key(&encryption.current) {
                    return Err(format!(
                        "orgs.{org}.encryption.current: '{}' is not one of key_files",
                        encryption.current
                    ));
                }
                if !crate::store::envelope::CHUNK_LIMITS.contains(&encryption.chunk_size) {
                    return Err(format!(
                        "orgs.{org}.encryption.chunk_size: must be 1024 to 16777216"
                    ));
                }
                for (id, file) in &encryption.key_files {
                    readable(&format!("orgs.{org}.encryption.key_files.{id}"), file)?;
                }
            }
        }
        Ok(())
    }

    fn validate_providers(&self) -> Result<(), String> {
        for provider in Provider::ALL {
            let pages = self.providers.pages(provider);
            for (field, url) in [
                ("terms_url", &pages.terms_url),
                ("login_url", &pages.login_url),
            ] {
                if let Some(url) = url.as_deref().filter(|u| !is_web_page(u)) {
                    return Err(format!(
                        "providers.{}.{field}: '{url}' is not an http:// or https:// URL",
                        provider.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where `org`'s recordings go: its own storage if it has one, else the default.
    pub fn destination_for(&self, org: Option<&str>) -> Target {
        org.and_then(|org| self.orgs.get(org)?.store.clone())
            .unwrap_or_else(|| Target {
                url: self.store.url.clone(),
                options: self.store.options.clone(),
            })
    }

    /// The configured destination with this URL (for resuming a spooled job), if any.
    pub fn target_by_url(&self, url: &str) -> Option<Target> {
        std::iter::once(self.destination_for(None))
            .chain(self.orgs.values().filter_map(|o| o.store.clone()))
            .chain(self.store.destinations.values().cloned())
            .find(|t| t.url == url)
    }
}

/// A file a setting names must be there to be read.
fn readable(field: &str, path: &std::path::Path) -> Result<(), String> {
    match path.is_file() {
        true => Ok(()),
        false => Err(format!(
            "{field}: {} is not a readable file",
            path.display()
        )),
    }
}

/// A host name as a certificate carries it: labels of letters, digits and hyphens.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `true` or `false`, as a variable gives a switch.
fn switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("is not true or false".into()),
    }
}

/// A comma-separated list, its entries trimmed, empty ones left out.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_string)
        .collect()
}

/// An `http://` or `https://` URL with a host, and nothing a browser would not take literally.
fn is_web_page(url: &str) -> bool {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split(['/', '?', '#']).next());
    host.is_some_and(|h| !h.is_empty())
        && !url.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// Sets one field from an environment variable's text.
type Setter = fn(&mut Config, &str) -> Result<(), String>;

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "is not a number".to_string())
}
fn address<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "is not an address".to_string())
}

/// `HOST:PORT` as a socket address: an IP address as it is, a host name resolved (its first
/// address, as `bind` would take it), so `localhost:8080` works wherever an address is asked.
pub fn resolve_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err("is not HOST:PORT".into());
    }
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "names a host with no address".into()),
        Err(e) => Err(format!(
            "is not an address nor a host name that resolves ({e})"
        )),
    }
}

fn host_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    resolve_address(&text).map_err(|e| serde::de::Error::custom(format!("'{text}' {e}")))
}

fn some_host_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    host_address(d).map(Some)
}

/// Every field the environment can set: `CALLREC_` and the field's path in capitals (plus
/// the short names earlier versions read).
pub const ENV: &[(&str, &str, Setter)] = &[
    ("CALLREC_STORE", "store.url", |c, v| {
        c.store.url = v.into();
        Ok(())
    }),
    ("CALLREC_STORE_URL", "store.url", |c, v| {
        c.store.url = v.into();
        Ok(())
    }),
    ("CALLREC_SPOOL", "store.spool", |c, v| {
        c.store.spool = v.into();
        Ok(())
    }),
    ("CALLREC_STORE_SPOOL", "store.spool", |c, v| {
        c.store.spool = v.into();
        Ok(())
    }),
    (
        "CALLREC_SPOOL_LIMIT_BYTES",
        "store.spool_limit_bytes",
        |c, v| {
            c.store.spool_limit_bytes = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_STORE_SPOOL_LIMIT_BYTES",
        "store.spool_limit_bytes",
        |c, v| {
            c.store.spool_limit_bytes = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_STORE_UPLOAD_CONCURRENCY",
        "store.upload_concurrency",
        |c, v| {
            c.store.upload_concurrency = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_STORE_SWEEP_INTERVAL_SECS",
        "store.sweep_interval_secs",
        |c, v| {
            c.store.sweep_interval_secs = number(v)?;
            Ok(())
        },
    ),
    ("CALLREC_SECRETS_KEY", "store.secrets_key", |c, v| {
        c.store.secrets_key = Some(SecretsKey::parse(v).map_err(|e| e.to_string())?);
        Ok(())
    }),
    (
        "CALLREC_SECRETS_KEY_FILE",
        "store.secrets_key_file",
        |c, v| {
            c.store.secrets_key_file = Some(v.into());
            Ok(())
        },
    ),
    ("CALLREC_POLICY_DB", "policy.db", |c, v| {
        c.policy.db = v.into();
        Ok(())
    }),
    ("CALLREC_SIP_LISTEN", "sip.listen", |c, v| {
        c.sip.listen = resolve_address(v)?;
        Ok(())
    }),
    ("CALLREC_SIP_MEDIA_ADDRESS", "sip.media_address", |c, v| {
        c.sip.media_address = Some(address(v)?);
        Ok(())
    }),
    ("CALLREC_SIP_RTP_PORT_MIN", "sip.rtp_port_min", |c, v| {
        c.sip.rtp_port_min = number(v)?;
        Ok(())
    }),
    ("CALLREC_SIP_RTP_PORT_MAX", "sip.rtp_port_max", |c, v| {
        c.sip.rtp_port_max = number(v)?;
        Ok(())
    }),
    ("CALLREC_SIP_MAX_CALLS", "sip.max_calls", |c, v| {
        c.sip.max_calls = number(v)?;
        Ok(())
    }),
    (
        "CALLREC_SIP_IDLE_TIMEOUT_SECS",
        "sip.idle_timeout_secs",
        |c, v| {
            c.sip.idle_timeout_secs = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_SIP_DRAIN_DEADLINE_SECS",
        "sip.drain_deadline_secs",
        |c, v| {
            c.sip.drain_deadline_secs = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_SIP_MAX_INVITE_WAIT_MS",
        "sip.max_invite_wait_ms",
        |c, v| {
            c.sip.max_invite_wait_ms = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_SIP_CONNECTION_IDLE_SECS",
        "sip.connection_idle_secs",
        |c, v| {
            c.sip.connection_idle_secs = number(v)?;
            Ok(())
        },
    ),
    ("CALLREC_SIP_SHARDS", "sip.shards", |c, v| {
        c.sip.shards = number(v)?;
        Ok(())
    }),
    (
        "CALLREC_SIP_MAX_MESSAGE_BYTES",
        "sip.max_message_bytes",
        |c, v| {
            c.sip.max_message_bytes = number(v)?;
            Ok(())
        },
    ),
    ("CALLREC_SIP_TLS_LISTEN", "sip.tls_listen", |c, v| {
        c.sip.tls_listen = Some(resolve_address(v)?);
        Ok(())
    }),
    (
        "CALLREC_SIP_TLS_CERTIFICATE",
        "sip.tls_certificate",
        |c, v| {
            c.sip.tls_certificate = Some(v.into());
            Ok(())
        },
    ),
    ("CALLREC_SIP_TLS_KEY", "sip.tls_key", |c, v| {
        c.sip.tls_key = Some(v.into());
        Ok(())
    }),
    ("CALLREC_SIP_ALLOW", "sip.allow", |c, v| {
        c.sip.allow = AllowedSources::parse_list(v)?;
        Ok(())
    }),
    ("CALLREC_SIP_TLS_CLIENT_CA", "sip.tls_client_ca", |c, v| {
        c.sip.tls_client_ca = Some(v.into());
        Ok(())
    }),
    (
        "CALLREC_SIP_TLS_CLIENT_NAMES",
        "sip.tls_client_names",
        |c, v| {
            c.sip.tls_client_names = list(v);
            Ok(())
        },
    ),
    ("CALLREC_ADMIN_LISTEN", "admin.listen", |c, v| {
        c.admin.listen = resolve_address(v)?;
        Ok(())
    }),
    (
        "CALLREC_ADMIN_TLS_CERTIFICATE",
        "admin.tls_certificate",
        |c, v| {
            c.admin.tls_certificate = Some(v.into());
            Ok(())
        },
    ),
    ("CALLREC_ADMIN_TLS_KEY", "admin.tls_key", |c, v| {
        c.admin.tls_key = Some(v.into());
        Ok(())
    }),
    (
        "CALLREC_WEBHOOKS_ALLOW_HTTP",
        "webhooks.allow_http",
        |c, v| {
            c.webhooks.allow_http = switch(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_WEBHOOKS_TIMEOUT_SECS",
        "webhooks.timeout_secs",
        |c, v| {
            c.webhooks.timeout_secs = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_WEBHOOKS_RETRY_INITIAL_MS",
        "webhooks.retry_initial_ms",
        |c, v| {
            c.webhooks.retry_initial_ms = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_WEBHOOKS_RETRY_MAX_SECS",
        "webhooks.retry_max_secs",
        |c, v| {
            c.webhooks.retry_max_secs = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_WEBHOOKS_GIVE_UP_SECS",
        "webhooks.give_up_secs",
        |c, v| {
            c.webhooks.give_up_secs = number(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_ADMIN_ALLOW_PLAIN_HTTP",
        "admin.allow_plain_http",
        |c, v| {
            c.admin.allow_plain_http = switch(v)?;
            Ok(())
        },
    ),
    (
        "CALLREC_SIP_SRTP_OVER_PLAIN_TRANSPORT",
        "sip.srtp_over_plain_transport",
        |c, v| {
            c.sip.srtp_over_plain_transport = switch(v)?;
            Ok(())
        },
    ),
    ("CALLREC_WORKER_NAME", "worker.name", |c, v| {
        c.worker.name = Some(v.into());
        Ok(())
    }),
    ("CALLREC_RECORDING_FORMAT", "recording.format", |c, v| {
        c.recording.format = v.into();
        Ok(())
    }),
    ("CALLREC_RECORDING_LAYOUT", "recording.layout", |c, v| {
        c.recording.layout = v.into();
        Ok(())
    }),
    (
        "CALLREC_RECORDING_JITTER_MS",
        "recording.jitter_ms",
        |c, v| {
            c.recording.jitter_ms = number(v)?;
            Ok(())
        },
    ),
];

/// The providers' pages: `CALLREC_{DUBBER,IMAGICLE,CALLCABINET}_{TERMS,LOGIN}_URL`.
pub const PROVIDER_ENV: &[(&str, &str, Setter)] = &[
    (
        "CALLREC_DUBBER_TERMS_URL",
        "providers.dubber.terms_url",
        |c, v| {
            c.providers.pages_mut(Provider::Dubber).terms_url = Some(v.into());
            Ok(())
        },
    ),
    (
        "CALLREC_DUBBER_LOGIN_URL",
        "providers.dubber.login_url",
        |c, v| {
            c.providers.pages_mut(Provider::Dubber).login_url = Some(v.into());
            Ok(())
        },
    ),
    (
        "CALLREC_IMAGICLE_TERMS_URL",
        "providers.imagicle.terms_url",
        |c, v| {
            c.providers.pages_mut(Provider::Imagicle).terms_url = Some(v.into());
            Ok(())
        },
    ),
    (
        "CALLREC_IMAGICLE_LOGIN_URL",
        "providers.imagicle.login_url",
        |c, v| {
            c.providers.pages_mut(Provider::Imagicle).login_url = Some(v.into());
            Ok(())
        },
    ),
    (
        "CALLREC_CALLCABINET_TERMS_URL",
        "providers.callcabinet.terms_url",
        |c, v| {
            c.providers.pages_mut(Provider::CallCabinet).terms_url = Some(v.into());
            Ok(())
        },
    ),
    (
        "CALLREC_CALLCABINET_LOGIN_URL",
        "providers.callcabinet.login_url",
        |c, v| {
            c.providers.pages_mut(Provider::CallCabinet).login_url = Some(v.into());
            Ok(())
        },
    ),
];

fn span(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organisations_keyring_is_read_from_its_key_files_and_checked() {
        let dir = std::env::temp_dir().join(format!("callrec-keyring-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (k1, k2) = (dir.join("k1.key"), dir.join("k2.key"));
        std::fs::write(&k1, format!("{}\n", "11".repeat(32))).expect("k1");
        std::fs::write(&k2, "not a key").expect("k2");
        let text = |current: &str, chunk: u32| {
            format!(
                "[orgs.acme.encryption]\ncurrent = \"{current}\"\nchunk_size = {chunk}\n\
                 key_files = {{ k1 = {:?}, k2 = {:?} }}\n",
                k1.display().to_string(),
                k2.display().to_string()
            )
        };
        let config = Config::parse(&text("k1", 4096)).expect("valid");
        let err = config.keyring().unwrap_err();
        assert!(
            err.starts_with("orgs.acme.encryption.key_files.k2: ") && !err.contains("not a key"),
            "{err}"
        );
        std::fs::write(&k2, "22".repeat(32)).expect("k2");
        let keyring = config.keyring().expect("keys");
        let acme = &keyring["acme"];
        assert_eq!((acme.current.as_str(), acme.chunk_size), ("k1", 4096));
        assert_eq!(acme.keys.len(), 2);
        assert!(!format!("{keyring:?}").contains("1111"));
        assert_eq!(Config::default().keyring().expect("none"), Keyring::new());
        for (bad, expected) in [
            (
                text("k3", 4096),
                "orgs.acme.encryption.current: 'k3' is not one of key_files",
            ),
            (
                text("k1", 100),
                "orgs.acme.encryption.chunk_size: must be 1024 to",
            ),
        ] {
            let err = Config::parse(&bad).unwrap_err();
            assert!(err.starts_with(expected), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn registered_destinations_and_the_secrets_key_are_checked_and_never_shown() {
        let config = Config::parse(
            r#"
            [store]
            customer_endpoints = ["https://s3.example.net"]
            [store.destinations.shared-eu]
            url = "s3://shared-eu/rec"
            options = { aws_region = "eu-west-1" }
            "#,
        )
        .expect("valid");
        let shared = config
            .registered_destination("shared-eu")
            .expect("registered");
        assert_eq!(shared.options["aws_region"], "eu-west-1");
        assert_eq!(config.registered_destination("other"), None);
        assert_eq!(
            config.target_by_url("s3://shared-eu/rec").map(|t| t.url),
            Some("s3://shared-eu/rec".into()),
            "spooled jobs for it find its options"
        );
        assert_eq!(config.secrets_key(), Ok(None));
        let bad = [
            (
                "[store.destinations.\"a b\"]\nurl = \"s3://x\"",
                "store.destinations.a b: a name is 1-64 of",
            ),
            (
                "[store.destinations.x]\nurl = \"\"",
                "store.destinations.x.url: empty",
            ),
            (
                "[store]\ncustomer_endpoints = [\"s3.example.net\"]",
                "store.customer_endpoints: 's3.example.net' is not an http",
            ),
            (
                "[store]\nsecrets_key_file = \"/no/such/key\"",
                "store.secrets_key_file: /no/such/key is not a readable file",
            ),
        ];
        for (text, expected) in bad {
            let err = Config::parse(text).unwrap_err();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
        let hex = "00".repeat(32);
        let mut keyed = Config::default();
        keyed
            .apply_env(|name| (name == "CALLREC_SECRETS_KEY").then(|| hex.clone()))
            .expect("a key");
        assert!(keyed.secrets_key().expect("read").is_some());
        let mut wrong = Config::default();
        let err = wrong
            .apply_env(|name| (name == "CALLREC_SECRETS_KEY").then(|| "my-secret".to_string()))
            .unwrap_err();
        assert!(!err.contains("my-secret"), "{err}");
        assert!(
            err.starts_with("CALLREC_SECRETS_KEY: '(hidden)' the secrets key"),
            "{err}"
        );
    }

    #[test]
    fn orgs_with_their_own_storage_get_it_and_others_the_default() {
        let config = Config::parse(
            r#"
            [store]
            url = "s3://shared/rec"
            options = { aws_region = "us-east-1" }
            [orgs.acme.store]
            url = "s3://acme-own"
            options = { aws_region = "eu-west-1" }
            [orgs.globex]
            "#,
        )
        .expect("valid");
        assert_eq!(config.destination_for(Some("acme")).url, "s3://acme-own");
        assert_eq!(
            config.destination_for(Some("acme")).options["aws_region"],
            "eu-west-1"
        );
        assert_eq!(
            config.destination_for(Some("globex")).url,
            "s3://shared/rec"
        );
        assert_eq!(
            config.destination_for(None).options["aws_region"],
            "us-east-1"
        );
        assert_eq!(
            config.target_by_url("s3://acme-own").map(|t| t.url),
            Some("s3://acme-own".into())
        );
        assert_eq!(config.store.spool_limit_bytes, Spool::DEFAULT_LIMIT);
    }

    #[test]
    fn voicemail_aors_default_to_none_and_must_be_addresses() {
        assert!(Config::parse("")
            .expect("valid")
            .sip
            .voicemail_aors
            .is_empty());
        let config = Config::parse(
            "[sip]\nvoicemail_aors = [\"sip:voicemail@example.com\", \"tel:+1-555-0100\"]\n",
        )
        .expect("valid");
        assert_eq!(config.sip.voicemail_aors.len(), 2);
        let err = Config::parse("[sip]\nvoicemail_aors = [\"voicemail\"]\n").expect_err("invalid");
        assert!(
            err.contains("sip.voicemail_aors") && err.contains("voicemail"),
            "{err}"
        );
    }

    #[test]
    fn provider_pages_default_to_the_public_sites_and_are_set_by_file_or_environment() {
        let mut config = Config::parse(
            r#"
            [providers.dubber]
            terms_url = "https://partner.example/dubber-terms"
            [providers.callcabinet]
            login_url = "https://login.callcabinet.example/"
            "#,
        )
        .expect("valid");
        let pages = |c: &Config, p: Provider| {
            (
                c.providers.terms_url(p).to_string(),
                c.providers.login_url(p).to_string(),
            )
        };
        let both = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            pages(&config, Provider::Dubber),
            both(
                "https://partner.example/dubber-terms",
                "https://www.dubber.net/"
            )
        );
        assert_eq!(
            pages(&config, Provider::Imagicle),
            both("https://www.imagicle.com/", "https://www.imagicle.com/")
        );
        assert_eq!(
            pages(&config, Provider::CallCabinet),
            both(
                "https://www.callcabinet.com/",
                "https://login.callcabinet.example/"
            )
        );
        config
            .apply_env(|n| match n {
                "CALLREC_IMAGICLE_TERMS_URL" => Some("https://imagicle.example/terms".into()),
                "CALLREC_DUBBER_LOGIN_URL" => Some("https://dubber.example/login".into()),
                _ => None,
            })
            .expect("valid");
        assert_eq!(
            pages(&config, Provider::Dubber),
            both(
                "https://partner.example/dubber-terms",
                "https://dubber.example/login"
            )
        );
        assert_eq!(
            config.providers.terms_url(Provider::Imagicle),
            "https://imagicle.example/terms"
        );
        for bad in ["", "www.dubber.net", "ftp://x/", "https://", "https:// x/"] {
            let text = format!("[providers.dubber]\nterms_url = \"{bad}\"\n");
            let err = Config::parse(&text).unwrap_err();
            assert_eq!(
                err,
                format!("providers.dubber.terms_url: '{bad}' is not an http:// or https:// URL")
            );
        }
        let err = Config::parse("[providers.zoom]\n").unwrap_err();
        assert!(err.contains("unknown field `zoom`"), "{err}");
        let err = Config::default()
            .apply_env(|n| (n == "CALLREC_CALLCABINET_LOGIN_URL").then(|| "x".into()))
            .unwrap_err();
        assert_eq!(
            err,
            "providers.callcabinet.login_url: 'x' is not an http:// or https:// URL"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = Config::parse("[store]\nurl = 5\n").unwrap_err();
        assert!(
            err.contains("invalid type") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("[store]\nbucket = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown field `bucket`"), "{err}");
        let err = Config::parse("[orgs.acme.store]\nurl = \"\"\n").unwrap_err();
        assert_eq!(err, "orgs.acme.store.url: empty");
        let mut config = Config::default();
        let err = config
            .apply_env(|n| (n == "CALLREC_SPOOL_LIMIT_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.starts_with("CALLREC_SPOOL_LIMIT_BYTES"), "{err}");
        config
            .apply_env(|n| (n == "CALLREC_STORE").then(|| "memory://x".into()))
            .expect("valid");
        assert_eq!(config.store.url, "memory://x");
    }

    #[test]
    fn tls_needs_a_certificate_and_a_key_that_exist() {
        let with = |extra: &str| {
            Config::parse(&format!("[sip]\ntls_listen = \"127.0.0.1:5061\"\n{extra}"))
                .and_then(|c| c.validate())
        };
        let err = with("tls_key = \"Cargo.toml\"").unwrap_err();
        assert!(err.starts_with("sip.tls_certificate: required"), "{err}");
        let err = with("tls_certificate = \"Cargo.toml\"").unwrap_err();
        assert!(err.starts_with("sip.tls_key: required"), "{err}");
        let err =
            with("tls_certificate = \"Cargo.toml\"\ntls_key = \"no-such-key.pem\"").unwrap_err();
        assert!(
            err.starts_with("sip.tls_key: no-such-key.pem is not"),
            "{err}"
        );
        assert_eq!(
            with("tls_certificate = \"Cargo.toml\"\ntls_key = \"Cargo.toml\""),
            Ok(())
        );
    }

    #[test]
    fn recording_clients_default_to_loopback_and_are_networks_or_addresses() {
        let localhost = |c: &Config, ip: &str| c.sip.allow.admits(ip.parse().expect(ip));
        let config = Config::parse("").expect("valid");
        assert!(localhost(&config, "127.0.0.1") && localhost(&config, "::1"));
        assert!(!localhost(&config, "10.0.0.1"));
        let config =
            Config::parse("[sip]\nallow = [\"10.0.0.0/8\", \"2001:db8::7\"]\n").expect("valid");
        assert!(localhost(&config, "10.9.9.9") && localhost(&config, "2001:db8::7"));
        assert!(
            !localhost(&config, "127.0.0.1"),
            "the list replaces the default"
        );
        let err = Config::parse("[sip]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n").unwrap_err();
        assert!(
            err.contains("'10.0.0.0/40' is not an address nor a network") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("[sip]\nallow = []\n").unwrap_err();
        assert!(err.starts_with("sip.allow: empty"), "{err}");
        let mut config = Config::default();
        config
            .apply_env(|n| (n == "CALLREC_SIP_ALLOW").then(|| "192.0.2.0/24, ::1".into()))
            .expect("valid");
        assert!(localhost(&config, "192.0.2.99") && !localhost(&config, "127.0.0.1"));
        let err = Config::default()
            .apply_env(|n| (n == "CALLREC_SIP_ALLOW").then(|| "10.0.0.0/8,sbc".into()))
            .unwrap_err();
        assert!(
            err.starts_with("CALLREC_SIP_ALLOW: '10.0.0.0/8,sbc' 'sbc' is not"),
            "{err}"
        );
    }

    #[test]
    fn client_certificate_names_need_their_ca_and_are_plain_dns_names() {
        let err = Config::parse("[sip]\ntls_client_names = [\"sbc1.example.com\"]\n").unwrap_err();
        assert!(
            err.starts_with("sip.tls_client_names: needs sip.tls_client_ca"),
            "{err}"
        );
        let err = Config::parse("[sip]\ntls_client_ca = \"no-such-ca.pem\"\n").unwrap_err();
        assert_eq!(
            err,
            "sip.tls_client_ca: no-such-ca.pem is not a readable file"
        );
        for bad in ["*.example.com", "sbc 1", "", "-sbc.example.com", "a..b"] {
            let text =
                format!("[sip]\ntls_client_ca = \"Cargo.toml\"\ntls_client_names = [\"{bad}\"]\n");
            let err = Config::parse(&text).unwrap_err();
            assert!(err.starts_with("sip.tls_client_names: "), "{bad}: {err}");
        }
        let mut config = Config::parse(
            "[sip]\ntls_client_ca = \"Cargo.toml\"\ntls_client_names = [\"SBC1.example.com.\"]\n",
        )
        .expect("valid");
        config
            .apply_env(|n| {
                (n == "CALLREC_SIP_TLS_CLIENT_NAMES")
                    .then(|| "sbc1.example.com, sbc2.example.com".into())
            })
            .expect("valid");
        assert_eq!(
            config.sip.tls_client_names,
            ["sbc1.example.com", "sbc2.example.com"]
        );
    }

    #[test]
    fn plain_http_off_loopback_is_refused_unless_allowed_and_https_needs_both_files() {
        let admin = |text: &str| Config::parse(&format!("[admin]\n{text}\n"));
        assert_eq!(admin("").map(|c| c.admin), Ok(AdminConfig::default()));
        assert!(admin("listen = \"[::1]:8080\"").is_ok());
        let err = admin("listen = \"0.0.0.0:8080\"").unwrap_err();
        assert!(
            err.starts_with("admin.listen: 0.0.0.0:8080 is not a loopback address")
                && err.contains("admin.tls_certificate")
                && err.contains("admin.allow_plain_http = true"),
            "{err}"
        );
        assert!(admin("listen = \"0.0.0.0:8080\"\nallow_plain_http = true").is_ok());
        let https = admin(
            "listen = \"0.0.0.0:8443\"\ntls_certificate = \"Cargo.toml\"\ntls_key = \"Cargo.toml\"",
        )
        .expect("HTTPS anywhere");
        assert!(https.admin.tls());
        let err = admin("tls_certificate = \"Cargo.toml\"").unwrap_err();
        assert_eq!(err, "admin.tls_key: required with admin.tls_certificate");
        let err = admin("tls_key = \"Cargo.toml\"").unwrap_err();
        assert_eq!(err, "admin.tls_certificate: required with admin.tls_key");
        let err = admin("tls_certificate = \"no-such.pem\"\ntls_key = \"Cargo.toml\"").unwrap_err();
        assert_eq!(
            err,
            "admin.tls_certificate: no-such.pem is not a readable file"
        );
        let mut config = Config::default();
        let vars = |n: &str| match n {
            "CALLREC_ADMIN_LISTEN" => Some("0.0.0.0:9000".to_string()),
            "CALLREC_ADMIN_ALLOW_PLAIN_HTTP" => Some("true".to_string()),
            _ => None,
        };
        config.apply_env(vars).expect("valid");
        assert!(config.admin.allow_plain_http);
        assert_eq!(config.admin.listen.port(), 9000);
        let err = Config::default()
            .apply_env(|n| (n == "CALLREC_ADMIN_ALLOW_PLAIN_HTTP").then(|| "sure".into()))
            .unwrap_err();
        assert_eq!(
            err,
            "CALLREC_ADMIN_ALLOW_PLAIN_HTTP: 'sure' is not true or false"
        );
    }
}
