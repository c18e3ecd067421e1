//! `callrec serve` as a library: the recording side (spool, media shards, uploads, sweeps),
//! the SIPREC server and the admin API started together, drained and stopped together. The
//! binary parses its arguments, opens the configuration and the policy store, and waits for
//! SIGTERM here; a test starts the same server inside its own runtime, on loopback ports.
//! Prints nothing: the caller says what it wants said.

use super::admin::{self, AdminState};
use super::bind::refusal;
use super::siprec::shard::{Finished, Shards};
use super::siprec::{self, sweeper, uploader, LiveMetrics, Services, SipSettings};
use super::tls_listener::TlsListener;
use super::webhooks::{self, WebhookMetrics};
use super::{client_cert, clock, tls};
use crate::config::Config;
use crate::encode::{Format, OpusSettings};
use crate::media::jitter::JitterConfig;
use crate::policydb::cache::{PolicyCache, REFRESH_INTERVAL};
use crate::policydb::PolicyDb;
use crate::recorder::RecorderConfig;
use crate::sip::message::Limits;
use crate::store::envelope::Keyring;
use crate::store::spool::{Spool, SpoolOwner};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// A whole server running: where it listens, and the handle that drains and stops it.
pub struct Running {
    /// SIP over UDP and TCP.
    pub sip: SocketAddr,
    /// SIP over TLS, when `sip.tls_listen` is set.
    pub sip_tls: Option<SocketAddr>,
    /// The admin HTTP API.
    pub admin: SocketAddr,
    /// The counters `/metrics` shows.
    pub live: Arc<LiveMetrics>,
    /// Held while the server runs: dropping it would drain the server too.
    drain: watch::Sender<bool>,
    /// The SIPREC server until its drain is over, then the recording side's finish.
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    /// Validates `config`, loads the policy cache from `db` (and keeps it fresh), starts the
    /// recording side, the admin API on `config.admin.listen` (HTTPS with its certificate)
    /// and the SIPREC server on `config.sip.listen`. Returns once both listen. Call inside a
    /// multi-thread runtime.
    pub async fn start(config: Config, db: PolicyDb) -> Result<Running, String> {
        config.validate()?;
        // Read before anything starts: a bad certificate stops nothing half-started.
        let admin_tls = admin_tls(&config)?;
        let settings = sip_settings(&config)?;
        let config = Arc::new(config);
        let policy = Arc::new(
            PolicyCache::load(db.clone())
                .await
                .map_err(|e| format!("policy: {e}"))?,
        );
        policy.spawn_refresher(REFRESH_INTERVAL);
        let mut recording = Recording::start(Arc::clone(&config), Some(Arc::clone(&policy)))?;
        let live = Arc::clone(&recording.live);

        let metrics = Arc::new(admin::Metrics::default());
        let _ = metrics.live.set(Arc::clone(&live));
        let _ = metrics.policy.set(Arc::clone(&policy));
        let _ = metrics.webhooks.set(Arc::clone(&recording.webhooks));
        let worker = worker_name(&config);
        let _ = metrics.worker.set(admin::WorkerInfo {
            name: worker.clone(),
            version: env!("CARGO_PKG_VERSION"),
        });
        let state = AdminState {
            db,
            metrics,
            links: Arc::new(admin::LinkKey::from_config(&config)?),
            key_files: Default::default(),
            config: Arc::clone(&config),
            clock: clock::now,
            throttle: Default::default(),
        };
        let admin_listen = config.admin.listen;
        let listener = tokio::net::TcpListener::bind(admin_listen)
            .await
            .map_err(|e| {
                // Named as the user set it: `--admin`, `CALLREC_ADMIN_LISTEN`, the file.
                config
                    .origins
                    .rename(format!("admin.listen: {}", refusal(admin_listen, &e)))
            })?;
        let admin_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let mut admin_stop = recording.stopped();
        let stopped = async move {
            let _ = admin_stop.wait_for(|stopped| *stopped).await;
        };
        // Each request knows its source, for slowing down failed authentication.
        let app = admin::router(state).into_make_service_with_connect_info::<admin::Peer>();
        let admin = match admin_tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, tls).map_err(|e| e.to_string())?;
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                })
            }
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }),
        };
        let (drain, draining) = watch::channel(false);
        let (bound_tx, bound) = oneshot::channel();
        let services = recording.services();
        let mut task = tokio::spawn(async move {
            let announce = move |sip, sip_tls| {
                let _ = bound_tx.send((sip, sip_tls));
            };
            siprec::run(settings, services, announce, draining).await?;
            recording.finish().await?;
            let _ = admin.await;
            Ok(())
        });
        let (sip, sip_tls) = match bound.await {
            Ok(addresses) => addresses,
            // The server stopped before it listened: its error says why.
            Err(_) => {
                return Err(match (&mut task).await {
                    // Named as the user set it: `--sip`, `CALLREC_SIP_LISTEN`, the file.
                    Ok(Err(e)) => config.origins.rename(e),
                    Ok(Ok(())) => "the SIPREC server stopped before it listened".into(),
                    Err(e) => e.to_string(),
                });
            }
        };
        tracing::info!(
            worker = worker,
            sip = %sip,
            sip_tls = sip_tls.map(|a| a.to_string()),
            admin = %admin_addr,
            "serve.ready"
        );
        Ok(Running {
            sip,
            sip_tls,
            admin: admin_addr,
            live,
            drain,
            task,
        })
    }

    /// Starts the drain: OPTIONS and new INVITEs are answered 503, `/readyz` says not ready,
    /// the calls up go on until they end or `sip.drain_deadline_secs` passes.
    pub fn drain(&self) {
        let _ = self.drain.send(true);
    }

    /// Runs until `signal` completes (SIGTERM, say), then drains; returns once every call has
    /// ended and its recording is uploaded (or left in the spool for the next start), or at
    /// once with the error that stopped the server.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), String> {
        let Running { drain, task, .. } = self;
        let mut task = task;
        tokio::select! {
            joined = &mut task => return joined.map_err(|e| e.to_string())?,
            _ = signal => {
                let _ = drain.send(true);
            }
        }
        task.await.map_err(|e| e.to_string())?
    }

    /// Drains now and waits for the end (see [`Running::run_until`]).
    pub async fn stop(self) -> Result<(), String> {
        self.drain();
        self.run_until(std::future::pending()).await
    }
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
    /// The organisations whose recordings are encrypted, with their keys.
    keyring: Arc<Keyring>,
    stop: watch::Sender<bool>,
    uploads: tokio::task::JoinHandle<()>,
    sweeps: Option<tokio::task::JoinHandle<()>>,
    /// Completion events' deliveries, when there is a policy database (their outbox).
    deliveries: Option<tokio::task::JoinHandle<()>>,
    /// What the deliverer counts.
    pub webhooks: Arc<WebhookMetrics>,
}

impl Recording {
    /// Opens the spool (discarding interrupted writes), starts the media shards, the
    /// uploader, the sweeper and (with a policy database) the webhooks' deliverer. Call
    /// inside the runtime.
    pub fn start(
        config: Arc<Config>,
        policy: Option<Arc<PolicyCache>>,
    ) -> Result<Recording, String> {
        let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
            .map_err(|e| e.to_string())?;
        let owner = spool.own().map_err(|e| e.to_string())?;
        let keyring = Arc::new(config.keyring()?);
        let recovered = spool
            .recover_with(&owner, clock::now(), &keyring)
            .map_err(|e| e.to_string())?;
        for dir in recovered.discarded {
            tracing::warn!(
                job = dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                "spool.discarded"
            );
        }
        for salvaged in &recovered.salvaged {
            tracing::warn!(
                call = salvaged.name,
                metadata = salvaged.job.manifest.metadata.key,
                duration_secs = salvaged.duration_secs,
                bytes = salvaged.bytes,
                "call.recovered"
            );
        }
        for (dir, error) in &recovered.unsalvaged {
            tracing::error!(job = %dir.display(), error = %error, "call.not_recovered");
        }
        let wake = Arc::new(Notify::new());
        let storing = Arc::new(AtomicU64::new(0));
        let shard_count = match config.sip.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        tracing::debug!(
            spool = %config.store.spool.display(),
            spool_limit_bytes = config.store.spool_limit_bytes,
            shards = shard_count,
            "recording.started"
        );
        // A call fails at most once, and at most max_calls are up: the queue never fills.
        let (failing, failures) = tokio::sync::mpsc::channel(config.sip.max_calls.max(1));
        let shards = {
            let (wake, storing) = (Arc::clone(&wake), Arc::clone(&storing));
            let finished = move |finished: Finished| {
                match &finished.result {
                    // Signalling logged `call.never_started`: nothing to store, by design.
                    Err(_) if finished.never_started => {}
                    Ok(job) => tracing::info!(
                        call = finished.name,
                        metadata = job.manifest.metadata.key,
                        "call.spooled"
                    ),
                    Err(e) => tracing::warn!(call = finished.name, error = e, "call.not_recorded"),
                }
                storing.fetch_sub(1, Relaxed);
                wake.notify_one();
            };
            let failing = move |call: u64, reason: String| {
                if failing.try_send((call, reason)).is_err() {
                    tracing::warn!(call, "call.failure_unreported");
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
                policy.clone(),
                stopped.clone(),
            ))
        });
        let webhooks = Arc::new(WebhookMetrics::default());
        let deliveries = policy.as_ref().map(|policy| {
            tokio::spawn(webhooks::run(
                policy.db().clone(),
                Arc::clone(&config),
                Arc::clone(&webhooks),
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
            keyring,
            stop,
            uploads,
            sweeps,
            deliveries,
            webhooks,
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
            keyring: Arc::clone(&self.keyring),
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
        // Stops at once, releasing its leases: what it had not delivered is delivered by the
        // next worker (or the next start) from the outbox.
        if let Some(deliveries) = self.deliveries {
            let _ = deliveries.await;
        }
        tracing::info!(
            left_in_spool = self.live.uploads.backlog.load(Relaxed),
            "drain.done"
        );
        Ok(())
    }
}

/// This worker's name: `worker.name`, else the host name (Linux keeps it in /proc; where
/// /proc/sys is hidden, as systemd's `ProcSubset=pid` does, /etc/hostname), else `callrec`.
fn worker_name(config: &Config) -> String {
    if let Some(name) = &config.worker.name {
        return name.clone();
    }
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "callrec".into())
}

/// The admin API's TLS configuration, when it is served over HTTPS (HTTP/1.1, as the router
/// speaks it).
fn admin_tls(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let admin = &config.admin;
    let (Some(certificate), Some(key)) = (&admin.tls_certificate, &admin.tls_key) else {
        return Ok(None);
    };
    let mut tls = tls::server_config("admin", certificate, key, None)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(tls)))
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
        max_invite_wait: (sip.max_invite_wait_ms > 0)
            .then(|| Duration::from_millis(sip.max_invite_wait_ms)),
        connection_idle: Duration::from_secs(sip.connection_idle_secs),
        limits: Limits {
            max_message_bytes: sip.max_message_bytes,
            ..Limits::default()
        },
        allow: sip.allow.clone(),
        tls: match (sip.tls_listen, &sip.tls_certificate, &sip.tls_key) {
            (Some(listen), Some(certificate), Some(key)) => {
                let clients = match &sip.tls_client_ca {
                    Some(ca) => Some(client_cert::client_verifier(
                        ca,
                        &sip.tls_client_names,
                        tls::provider(),
                    )?),
                    None => None,
                };
                let config = tls::server_config("sip", certificate, key, clients)?;
                Some((listen, Arc::new(config)))
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
