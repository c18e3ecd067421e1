//! `callrec serve` (the SIPREC recording server, its uploads and the admin API) and
//! `callrec token create`.

use crate::runtime::runtime;
use callrec::config::Config;
use callrec::encode::{Format, OpusSettings};
use callrec::media::jitter::JitterConfig;
use callrec::policydb::cache::{PolicyCache, REFRESH_INTERVAL};
use callrec::policydb::PolicyDb;
use callrec::recorder::RecorderConfig;
use callrec::server::admin::{self, AdminState, Role};
use callrec::server::live_metrics::LiveMetrics;
use callrec::server::shard::{Finished, Shards};
use callrec::server::siprec::{self, Services, SipSettings};
use callrec::server::tls;
use callrec::server::{clock, log, sweeper, uploader};
use callrec::sip::message::Limits;
use callrec::store::spool::{Spool, SpoolOwner};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

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
#[command(after_help = SERVE_HELP)]
pub struct ServeArgs {
    /// Address of the admin HTTP API (/healthz, /readyz, /metrics, /v1/...).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    admin: SocketAddr,
    /// Where SIP is received, over UDP and TCP [default: sip.listen, else 127.0.0.1:5060].
    /// SIP over TLS is set in the configuration (sip.tls_listen).
    #[arg(long, value_name = "ADDR")]
    sip: Option<SocketAddr>,
    /// Where recordings are stored [default: store.url, else "." (./recordings/...)].
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Where the policy database is.
#[derive(clap::Args, Clone, Debug)]
pub struct PolicyArgs {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Policy database: sqlite://PATH or postgres://... (default: the config's policy.db, else
    /// CALLREC_POLICY_DB, else sqlite://policy.sqlite).
    #[arg(long, value_name = "URL")]
    policy_db: Option<String>,
}

impl PolicyArgs {
    /// Opens the policy database and brings its schema up to date; returns it with the
    /// configuration it was found through.
    pub async fn open(&self) -> Result<(PolicyDb, Config), String> {
        let config = Config::load(self.config.as_deref())?;
        let url = self.policy_db.clone().unwrap_or(config.policy.db.clone());
        let db = PolicyDb::open(&url).await.map_err(|e| e.to_string())?;
        db.migrate().await.map_err(|e| e.to_string())?;
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
    /// read-only.
    #[arg(long)]
    role: Role,
    /// An organisation the token may act on (repeatable).
    #[arg(long = "org", value_name = "ID")]
    orgs: Vec<String>,
    /// Who or what the token is for, shown in listings.
    #[arg(long, default_value = "")]
    label: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn serve(args: ServeArgs) -> Result<(), String> {
    runtime()?.block_on(async {
        let (db, mut config) = args.policy.open().await?;
        if let Some(sip) = args.sip {
            config.sip.listen = sip;
        }
        if let Some(url) = args.store {
            config.store.url = url;
        }
        config.validate()?;
        let config = Arc::new(config);
        let policy = Arc::new(
            PolicyCache::load(db.clone())
                .await
                .map_err(|e| format!("policy: {e}"))?,
        );
        policy.spawn_refresher(REFRESH_INTERVAL);
        let mut recording = Recording::start(Arc::clone(&config), Some(Arc::clone(&policy)))?;

        let metrics = Arc::new(admin::Metrics::default());
        let _ = metrics.live.set(Arc::clone(&recording.live));
        let _ = metrics.policy.set(Arc::clone(&policy));
        let state = AdminState {
            db,
            metrics,
            config: Arc::clone(&config),
            clock: clock::now,
        };
        let listener = tokio::net::TcpListener::bind(args.admin)
            .await
            .map_err(|e| format!("--admin {}: {e}", args.admin))?;
        let admin_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut admin_stop = recording.stopped();
        let admin = tokio::spawn(async move {
            axum::serve(listener, admin::router(state))
                .with_graceful_shutdown(async move {
                    let _ = admin_stop.wait_for(|stopped| *stopped).await;
                })
                .await
        });

        let (drain_tx, drain) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = drain_tx.send(true);
        });
        let announce = move |sip: SocketAddr, sip_tls: Option<SocketAddr>| {
            println!(
                "{}",
                json!({
                    "sip": sip.to_string(),
                    "sip_tls": sip_tls.map(|a| a.to_string()),
                    "admin": admin_addr.to_string(),
                })
            );
        };
        siprec::run(
            sip_settings(&config)?,
            recording.services(),
            announce,
            drain,
        )
        .await?;
        recording.finish().await?;
        let _ = admin.await;
        Ok(())
    })
}

/// The recording side of a server: shards, uploads and their counters. `siprec::run` feeds it.
pub struct Recording {
    config: Arc<Config>,
    spool: Spool,
    /// Held for the server's life: no `storage flush` races its uploads.
    _owner: SpoolOwner,
    policy: Option<Arc<PolicyCache>>,
    shards: Arc<Shards>,
    pub live: Arc<LiveMetrics>,
    storing: Arc<AtomicU64>,
    wake: Arc<Notify>,
    /// Where the shards tell of calls whose recording failed; handed to the SIPREC server.
    failures: Option<tokio::sync::mpsc::Receiver<(u64, String)>>,
    stop: watch::Sender<bool>,
    uploads: tokio::task::JoinHandle<()>,
    sweeps: Option<tokio::task::JoinHandle<()>>,
}

impl Recording {
    /// Opens the spool (discarding interrupted writes), starts the media shards and the
    /// uploader. Call inside the runtime.
    pub fn start(
        config: Arc<Config>,
        policy: Option<Arc<PolicyCache>>,
    ) -> Result<Recording, String> {
        let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
            .map_err(|e| e.to_string())?;
        let owner = spool.own().map_err(|e| e.to_string())?;
        let recovered = spool.recover(&owner).map_err(|e| e.to_string())?;
        for dir in recovered.discarded {
            log::warn(
                "spool.discarded",
                json!({ "job": dir.file_name().map(|n| n.to_string_lossy().into_owned()) }),
            );
        }
        for salvaged in &recovered.salvaged {
            log::warn(
                "call.recovered",
                json!({
                    "call": salvaged.name,
                    "metadata": salvaged.job.manifest.metadata.key,
                    "duration_secs": salvaged.duration_secs,
                    "bytes": salvaged.bytes,
                }),
            );
        }
        for (dir, error) in &recovered.unsalvaged {
            log::log(
                "error",
                "call.not_recovered",
                json!({ "job": dir.display().to_string(), "error": error }),
            );
        }
        let wake = Arc::new(Notify::new());
        let storing = Arc::new(AtomicU64::new(0));
        let shard_count = match config.sip.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // A call fails at most once, and at most max_calls are up: the queue never fills.
        let (failing, failures) = tokio::sync::mpsc::channel(config.sip.max_calls.max(1));
        let shards = {
            let (wake, storing) = (Arc::clone(&wake), Arc::clone(&storing));
            let finished = move |finished: Finished| {
                match &finished.result {
                    // Signalling logged `call.never_started`: nothing to store, by design.
                    Err(_) if finished.never_started => {}
                    Ok(job) => log::info(
                        "call.spooled",
                        json!({ "call": finished.name, "metadata": job.manifest.metadata.key }),
                    ),
                    Err(e) => log::warn(
                        "call.not_recorded",
                        json!({ "call": finished.name, "error": e }),
                    ),
                }
                storing.fetch_sub(1, Relaxed);
                wake.notify_one();
            };
            let failing = move |call, reason| {
                if failing.try_send((call, reason)).is_err() {
                    log::warn("call.failure_unreported", json!({ "call": call }));
                }
            };
            Arc::new(Shards::start_with_failing(
                shard_count,
                clock::now,
                finished,
                failing,
            ))
        };
        let live = Arc::new(LiveMetrics {
            shards: Arc::clone(&shards.metrics),
            ..LiveMetrics::default()
        });
        let (stop, stopped) = watch::channel(false);
        let uploads = tokio::spawn(uploader::run(
            Arc::clone(&config),
            spool.clone(),
            policy.clone(),
            Arc::clone(&wake),
            Arc::clone(&live.uploads),
            stopped.clone(),
        ));
        let sweeps = (config.store.sweep_interval_secs > 0).then(|| {
            tokio::spawn(sweeper::run(
                Arc::clone(&config),
                Duration::from_secs(config.store.sweep_interval_secs),
                clock::now,
                stopped,
            ))
        });
        Ok(Recording {
            config,
            spool,
            _owner: owner,
            policy,
            shards,
            live,
            storing,
            wake,
            failures: Some(failures),
            stop,
            uploads,
            sweeps,
        })
    }

    /// What the SIPREC server needs from the recording side (once: the failures' receiver
    /// goes with it).
    pub fn services(&mut self) -> Services {
        let failures = self
            .failures
            .take()
            .unwrap_or_else(|| tokio::sync::mpsc::channel(1).1);
        Services {
            config: Arc::clone(&self.config),
            spool: self.spool.clone(),
            shards: Arc::clone(&self.shards),
            policy: self.policy.clone(),
            wake_uploader: Arc::clone(&self.wake),
            metrics: Arc::clone(&self.live.sip),
            storing: Arc::clone(&self.storing),
            failures,
        }
    }

    /// Turns true once the recording side has finished.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Once every call has ended: lets the shards store what they hold, then uploads it all.
    pub async fn finish(self) -> Result<(), String> {
        while self.storing.load(Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Ok(shards) = Arc::try_unwrap(self.shards) {
            tokio::task::spawn_blocking(move || shards.stop())
                .await
                .map_err(|e| e.to_string())?;
        }
        let _ = self.stop.send(true);
        let _ = self.uploads.await;
        // A sweep cut short is finished by the next one (see store::sweep): no need to wait.
        if let Some(sweeps) = self.sweeps {
            sweeps.abort();
            let _ = sweeps.await;
        }
        log::info(
            "drain.done",
            json!({ "left_in_spool": self.live.uploads.backlog.load(Relaxed) }),
        );
        Ok(())
    }
}

/// The SIPREC server's settings from the configuration.
pub fn sip_settings(config: &Config) -> Result<SipSettings, String> {
    let sip = &config.sip;
    let rec = &config.recording;
    let format: Format = rec
        .format
        .parse()
        .map_err(|e| format!("recording.format: {e}"))?;
    Ok(SipSettings {
        listen: sip.listen,
        media_address: sip.media_address(),
        rtp_ports: sip.rtp_port_min..=sip.rtp_port_max,
        max_calls: sip.max_calls,
        idle_timeout: Duration::from_secs(sip.idle_timeout_secs),
        drain_deadline: Duration::from_secs(sip.drain_deadline_secs),
        connection_idle: Duration::from_secs(sip.connection_idle_secs),
        limits: Limits {
            max_message_bytes: sip.max_message_bytes,
            ..Limits::default()
        },
        tls: match (sip.tls_listen, &sip.tls_certificate, &sip.tls_key) {
            (Some(listen), Some(certificate), Some(key)) => {
                Some((listen, tls::server_config(certificate, key)?))
            }
            (Some(_), _, _) => {
                return Err("sip.tls_listen: needs sip.tls_certificate and sip.tls_key".into())
            }
            (None, _, _) => None,
        },
        recorder: RecorderConfig {
            format,
            layout: rec
                .layout
                .parse()
                .map_err(|e| format!("recording.layout: {e}"))?,
            opus: OpusSettings::default(),
            jitter: JitterConfig {
                latency: Duration::from_millis(rec.jitter_ms),
                ..JitterConfig::default()
            },
            ..RecorderConfig::default()
        },
    })
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

pub fn token(args: TokenArgs) -> Result<(), String> {
    let TokenCommand::Create(args) = args.command;
    args.role.check_orgs(&args.orgs)?;
    runtime()?.block_on(async {
        let (db, _) = args.policy.open().await?;
        let token = db
            .create_token(args.role.as_str(), &args.orgs, &args.label, clock::now())
            .await
            .map_err(|e| e.to_string())?;
        println!("{token}");
        Ok(())
    })
}
