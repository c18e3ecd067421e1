//! `callrec serve` (the SIPREC recording server, its uploads and the admin API), and where
//! the policy database is (`PolicyArgs`, shared with `token` and `policy`).

use crate::failure::Failure;
use crate::output::{Line, Output};
use crate::runtime::runtime;
use callrec::config::{Config, Section, Sources};
use callrec::policydb::{Create, PolicyDb};
use callrec::server::serve::Running;
use serde::Serialize;
use std::path::PathBuf;

/// The configuration file's live-recording fields and their defaults (`config::SipConfig`,
/// `config::RecordingConfig`; a test keeps the two in step).
const SERVE_HELP: &str = "\
Configuration file (--config), with the defaults:
  [sip]
  listen = 127.0.0.1:5060       UDP and TCP
  media_address = (listen's)    the address SDP answers give
  rtp_port_min = 20000          each call takes consecutive even ports
  rtp_port_max = 29999
  max_calls = 2000              one more is answered 503
  idle_timeout_secs = 60        no RTP and no SIP this long: the call is ended and stored
  drain_deadline_secs = 300     after SIGTERM, calls may run on this long
  connection_idle_secs = 300    a TCP/TLS connection silent this long is closed
  shards = 0                    media threads; 0 = one per core
  max_message_bytes = 65536
  tls_listen = (off)            SIP over TLS, with tls_certificate and tls_key (PEM)
  allow = [127.0.0.0/8, ::1]    who may record (networks, addresses); others get 403
  tls_client_ca = (off)         mutual TLS: client certificates from these CA(s) (PEM)
  tls_client_names = []         ... naming one of these (DNS SANs, else CN); [] = any
  voicemail_aors = []           voicemail systems' AORs: their sessions are voicemail
  srtp_over_plain_transport = false  accept SRTP keys offered over plain UDP/TCP SIP
  [admin]
  listen = 127.0.0.1:8080       --admin
  tls_certificate = (off)       HTTPS, with tls_key (PEM; may be the SIP ones)
  allow_plain_http = false      plain HTTP off loopback is refused unless true
  [recording]
  format = opus                 or wav
  layout = stereo               or mono, separate
  jitter_ms = 200
  [worker]
  name = (the host name)        this worker's name in /metrics (callrec_worker_info)
  [store]
  upload_concurrency = 16       uploads at once; each destination backs off on its own
  sweep_interval_secs = 3600    expired recordings deleted this often; 0 = off
  (store.url, store.spool, [store.destinations.NAME] that customers pick by name,
  store.secrets_key_file or CALLREC_SECRETS_KEY sealing the credentials customers supply,
  store.customer_endpoints, [orgs.ID.store], [policy] and [providers.ID]: see the README.)
Every field can also be set as CALLREC_<SECTION>_<FIELD>, e.g. CALLREC_SIP_LISTEN.";

#[derive(clap::Parser)]
#[command(after_help = format!("{SERVE_HELP}\n{}", callrec::config::PRECEDENCE_HELP))]
pub struct ServeArgs {
    /// Address of the admin HTTP API (/healthz, /readyz, /metrics, /openapi.json, /v1/...);
    /// HOST:PORT, a host name is resolved (CALLREC_ADMIN_LISTEN, admin.listen; default
    /// 127.0.0.1:8080). Off loopback it needs HTTPS (admin.tls_certificate) or
    /// admin.allow_plain_http.
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
    /// Where SIP is received, over UDP and TCP (CALLREC_SIP_LISTEN, sip.listen; default
    /// 127.0.0.1:5060). SIP over TLS is set in the configuration (sip.tls_listen).
    #[arg(long, value_name = "ADDR")]
    sip: Option<String>,
    /// Where recordings are stored (CALLREC_STORE_URL, store.url; default "." for
    /// ./recordings/...).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Where the policy database is.
#[derive(clap::Args, Clone, Debug)]
pub struct PolicyArgs {
    /// The TOML configuration file (else CALLREC_CONFIG, else
    /// $XDG_CONFIG_HOME/callrec/config.toml, else /etc/callrec/config.toml, if one exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Policy database: sqlite://PATH or postgres://... (CALLREC_POLICY_DB, policy.db;
    /// default sqlite://policy.sqlite).
    #[arg(long, value_name = "URL")]
    policy_db: Option<String>,
}

impl PolicyArgs {
    /// Where a command's settings come from: this `--config` and `--policy-db`, for
    /// `sections` (which must include the policy).
    pub fn sources<'a>(&'a self, sections: &'a [Section]) -> Sources<'a> {
        Sources::new(self.config.as_deref(), sections).flag(
            "--policy-db",
            "policy.db",
            self.policy_db.clone(),
        )
    }

    /// Loads the settings from `sources`, opens the policy database (creating an SQLite one
    /// only as `create` allows) and brings its schema up to date.
    pub async fn open(sources: &Sources<'_>, create: Create) -> Result<(PolicyDb, Config), String> {
        let config = Config::load(sources)?;
        let url = &config.policy.db;
        // Named as the user gave it: `--policy-db URL`, `CALLREC_POLICY_DB`, the file.
        let named =
            |e: callrec::policydb::DbError| format!("{}: {e}", config.origins.name("policy.db"));
        let db = PolicyDb::open_with(url, create).await.map_err(named)?;
        db.migrate().await.map_err(named)?;
        Ok((db, config))
    }
}

pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let sources = args
            .policy
            .sources(&Section::ALL)
            .flag("--admin", "admin.listen", args.admin.clone())
            .flag("--sip", "sip.listen", args.sip.clone())
            .flag("--store", "store.url", args.store.clone());
        let (db, config) = PolicyArgs::open(&sources, Create::IfMissing).await?;
        let admin_tls = config.admin.tls();
        let running = Running::start(config, db).await?;
        // The start line a supervisor or a test waits for; a reader gone away does not stop
        // the server (its logs go to stderr).
        Output::stdout().line(&Listening {
            kind: "listening",
            sip: running.sip.to_string(),
            sip_tls: running.sip_tls.map(|a| a.to_string()),
            admin: running.admin.to_string(),
            admin_tls,
        })?;
        running
            .run_until(shutdown_signal())
            .await
            .map_err(Failure::Failed)
    })
}

/// `serve`'s first line: where it listens (the ports it was given, or those it was lent for
/// `:0`).
#[derive(Serialize)]
struct Listening {
    #[serde(rename = "type")]
    kind: &'static str,
    sip: String,
    sip_tls: Option<String>,
    admin: String,
    /// The admin API is served over HTTPS.
    #[serde(skip)]
    admin_tls: bool,
}

impl Line for Listening {
    fn text(&self) -> String {
        let tls = match &self.sip_tls {
            Some(tls) => format!(", SIP over TLS on {tls}"),
            None => String::new(),
        };
        let scheme = match self.admin_tls {
            true => "https",
            false => "http",
        };
        format!(
            "listening: SIP on {} (UDP, TCP){tls}, admin API on {scheme}://{}",
            self.sip, self.admin
        )
    }
}

/// SIGTERM or SIGINT: stop taking requests, finish the ones in flight, exit 0.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
