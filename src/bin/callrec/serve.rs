//! `callrec serve` (the SIPREC recording server, its uploads and the admin API) and
//! `callrec token create`.

use crate::failure::Failure;
use crate::output::{Line, Output};
use crate::runtime::runtime;
use callrec::config::{resolve_address, Config, Section, Sources};
use callrec::policydb::{Create, PolicyDb};
use callrec::server::admin::Role;
use callrec::server::clock;
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
  voicemail_aors = []           voicemail systems' AORs: their sessions are voicemail
  srtp_over_plain_transport = false  accept SRTP keys offered over plain UDP/TCP SIP
  [recording]
  format = opus                 or wav
  layout = stereo               or mono, separate
  jitter_ms = 200
  [store]
  upload_concurrency = 16       uploads at once; each destination backs off on its own
  sweep_interval_secs = 3600    expired recordings deleted this often; 0 = off
  (store.url, store.spool, [orgs.ID.store], [policy] and [providers.ID]: see the README.)
Every field can also be set as CALLREC_<SECTION>_<FIELD>, e.g. CALLREC_SIP_LISTEN.";

#[derive(clap::Parser)]
#[command(after_help = format!("{SERVE_HELP}\n{}", callrec::config::PRECEDENCE_HELP))]
pub struct ServeArgs {
    /// Address of the admin HTTP API (/healthz, /readyz, /metrics, /openapi.json, /v1/...);
    /// HOST:PORT, a host name is resolved.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    admin: String,
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

#[derive(clap::Parser)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Issue a bearer token for the admin API; it is printed once and stored only hashed.
    Create(CreateTokenArgs),
}

#[derive(clap::Parser)]
struct CreateTokenArgs {
    /// customer-admin (one organisation), partner-admin (its customers' organisations) or
    /// read-only (reads its organisations, changes nothing).
    #[arg(long, value_name = "ROLE", value_parser = role_parser())]
    role: Role,
    /// An organisation the token may act on (repeatable).
    #[arg(long = "org", value_name = "ID")]
    orgs: Vec<String>,
    /// Who or what the token is for, shown in listings.
    #[arg(long, value_name = "TEXT", default_value = "")]
    label: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let admin =
            resolve_address(&args.admin).map_err(|e| format!("--admin: '{}' {e}", args.admin))?;
        let sources = args
            .policy
            .sources(&Section::ALL)
            .flag("--sip", "sip.listen", args.sip.clone())
            .flag("--store", "store.url", args.store.clone());
        let (db, config) = PolicyArgs::open(&sources, Create::IfMissing).await?;
        let running = Running::start(config, db, admin).await?;
        // The start line a supervisor or a test waits for; a reader gone away does not stop
        // the server (its logs go to stderr).
        Output::stdout().line(&Listening {
            kind: "listening",
            sip: running.sip.to_string(),
            sip_tls: running.sip_tls.map(|a| a.to_string()),
            admin: running.admin.to_string(),
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
}

impl Line for Listening {
    fn text(&self) -> String {
        let tls = match &self.sip_tls {
            Some(tls) => format!(", SIP over TLS on {tls}"),
            None => String::new(),
        };
        format!(
            "listening: SIP on {} (UDP, TCP){tls}, admin API on http://{}",
            self.sip, self.admin
        )
    }
}

/// `--role`'s parser: clap lists the roles in the help and suggests one for a typo.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .map(|name| name.parse::<Role>().expect("every listed role parses"))
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

/// Issues the token and prints it. A token that cannot be printed (the reader went away) is
/// revoked: it was never shown, so nobody could use it, and it must not stay valid unseen.
pub fn token(args: TokenArgs) -> Result<(), Failure> {
    let TokenCommand::Create(args) = args.command;
    args.role.check_orgs(&args.orgs)?;
    runtime()?.block_on(async {
        let sections = [Section::Policy];
        let (db, _) = PolicyArgs::open(&args.policy.sources(&sections), Create::IfMissing).await?;
        let token = db
            .create_token(args.role.as_str(), &args.orgs, &args.label, clock::now())
            .await
            .map_err(Failure::failed)?;
        let mut out = Output::stdout();
        let printed = out.line(&Token {
            kind: "token",
            token: &token,
            role: args.role.as_str(),
            orgs: &args.orgs,
            label: &args.label,
        });
        let why = match printed {
            Ok(()) if !out.is_closed() => return Ok(()),
            Ok(()) => "stdout was closed".to_string(),
            Err(e) => e.to_string(),
        };
        match db.revoke_token(&token).await {
            Ok(_) => Err(Failure::Failed(format!(
                "the token could not be printed ({why}), so it was revoked; run the command \
                 again with a reader for its output"
            ))),
            Err(e) => Err(Failure::Failed(format!(
                "the token could not be printed ({why}) and revoking it failed: {e}; it was \
                 never shown, so nobody holds it"
            ))),
        }
    })
}

/// The new token, shown this once (the database keeps only its hash). As text, the token
/// alone, so `--format text` gives a script the bare token.
#[derive(Serialize)]
struct Token<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    token: &'a str,
    role: &'a str,
    orgs: &'a [String],
    label: &'a str,
}

impl Line for Token<'_> {
    fn text(&self) -> String {
        self.token.to_string()
    }
}
