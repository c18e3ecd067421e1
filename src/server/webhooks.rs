//! The deliverer of completion events: a task of `callrec serve` that takes due events from
//! the outbox ([`crate::policydb::webhooks`]) and POSTs each, signed ([`crate::webhook::sign`]),
//! to its organisation's webhook. It never touches the media path: it reads the outbox the
//! catalog writes fill, and a receiver that is slow or down delays only its own
//! organisation's events.
//!
//! - **One organisation, one delivery at a time**, oldest first; up to [`MAX_ORGS_IN_FLIGHT`]
//!   organisations at once, each as its own task, so one slow receiver (up to
//!   `webhooks.timeout_secs` a try) never holds up the others. **Bounded**: a worker has at
//!   most [`MAX_ORGS_IN_FLIGHT`] tasks and as many requests (so connections) waiting on
//!   receivers, however many events wait and however slow the receivers are; a receiver that
//!   never answers costs its organisation one connection, given up at the timeout (which
//!   ends the try and its lease: the event is retried on the schedule, not held).
//! - **Woken, and polling.** An event this process writes wakes the deliverer at once
//!   ([`PolicyDb::outbox_written`]); every [`POLL`] it also looks for due events (retries,
//!   and events other workers or `callrec` commands wrote).
//! - **Leased.** A task claims at most [`BATCH`] events of its organisation for long enough to
//!   try them all ([`lease_for`]); another worker on the same PostgreSQL skips them. Stopping
//!   releases the leases; a killed worker's run out.
//! - **Retried.** A failed try is retried on [`crate::webhook::schedule`]'s backoff; the rest
//!   of its batch waits with it (a receiver that refused one event is not sent the next at
//!   once). Given up after `webhooks.give_up_secs`.
//! - **Only where allowed.** No redirects are followed, no proxy is used, and a host name is
//!   connected to only at addresses [`crate::webhook::target::forbidden`] allows.
//! - Every outcome is counted for `/metrics` and kept in the outbox row and on the webhook
//!   (`GET .../callRecording/webhook`).

use super::clock;
use crate::config::Config;
use crate::policydb::webhooks::{OutboxEvent, Webhook};
use crate::policydb::PolicyDb;
use crate::store::sealed::SecretsKey;
use crate::webhook::schedule::{self, Next, Retry};
use crate::webhook::{sign, target};
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::EncodeMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Organisations delivered to at once, by one worker.
pub const MAX_ORGS_IN_FLIGHT: usize = 32;
/// Events one task claims (and tries, one after another) for its organisation.
pub const BATCH: usize = 8;
/// How often the outbox is looked at for due events besides being woken by this process's
/// own writes: retries coming due, and events another process wrote.
pub const POLL: Duration = Duration::from_millis(500);
/// Delivered and given-up events are kept this long past their deadline, for the API's
/// listing, then pruned.
pub const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the deliverer counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    /// Events a receiver took (2xx).
    pub delivered: AtomicU64,
    /// Tries that failed and will be tried again.
    pub retried: AtomicU64,
    /// Events given up.
    pub given_up: AtomicU64,
    /// Events pending over every organisation, as last counted.
    pub backlog: AtomicU64,
    /// Requests sent and not yet answered (nor timed out): at most [`MAX_ORGS_IN_FLIGHT`].
    pub in_flight: AtomicU64,
}

impl WebhookMetrics {
    /// `callrec_webhook_deliveries_total{outcome}`, `callrec_webhook_backlog` and
    /// `callrec_webhook_in_flight`.
    pub fn encode(&self, out: &mut DescriptorEncoder) -> fmt::Result {
        let mut family = out.encode_descriptor(
            "callrec_webhook_deliveries",
            "Webhook delivery tries by outcome: delivered, retried (failed, tried again), given_up.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, counter) in [
            ("delivered", &self.delivered),
            ("retried", &self.retried),
            ("given_up", &self.given_up),
        ] {
            let labels = [("outcome", outcome)];
            ConstCounter::new(counter.load(Relaxed)).encode(family.encode_family(&labels)?)?;
        }
        ConstGauge::new(self.backlog.load(Relaxed) as i64).encode(out.encode_descriptor(
            "callrec_webhook_backlog",
            "Completion events waiting in the outbox to be delivered (every organisation).",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(self.in_flight.load(Relaxed) as i64).encode(out.encode_descriptor(
            "callrec_webhook_in_flight",
            "Webhook requests sent and waiting for the receiver's answer (at most one per organisation, 32 per worker).",
            None,
            MetricType::Gauge,
        )?)
    }
}

/// The delivery settings, from `[webhooks]` and the secrets key.
#[derive(Clone)]
struct Settings {
    retry: Retry,
    timeout: Duration,
    secrets: Option<SecretsKey>,
    /// This worker's name on its leases.
    owner: String,
}

/// How long a claim of [`BATCH`] events holds: long enough to try each to its timeout.
pub fn lease_for(timeout: Duration) -> Duration {
    timeout * BATCH as u32 + Duration::from_secs(30)
}

/// What the signing secret is sealed for: the organisation's webhook only.
pub fn secret_owner(org_id: &str) -> String {
    format!("webhook\n{org_id}")
}

/// The signing secret as stored: sealed with the secrets key when the server has one, else
/// `plain:` and the secret (the policy database is then what protects it, as it protects the
/// tokens' hashes and the policy: a secret used to sign must be kept whole, not hashed).
pub fn stored_secret(
    key: Option<&SecretsKey>,
    org_id: &str,
    secret: &str,
) -> Result<String, String> {
    match key {
        Some(key) => key
            .seal(secret.as_bytes(), &secret_owner(org_id))
            .map_err(|e| e.to_string()),
        None => Ok(format!("plain:{secret}")),
    }
}

/// The signing secret of `hook`.
fn open_secret(hook: &Webhook, key: Option<&SecretsKey>) -> Result<String, String> {
    if let Some(plain) = hook.secret.strip_prefix("plain:") {
        return Ok(plain.to_owned());
    }
    let key = key.ok_or("the webhook's secret is sealed and the server has no secrets key")?;
    let bytes = key
        .open(&hook.secret, &secret_owner(&hook.org_id))
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "the webhook's secret is not text".to_string())
}

/// Delivers due events until `stop` turns true, then releases this worker's leases.
pub async fn run(
    db: PolicyDb,
    config: Arc<Config>,
    metrics: Arc<WebhookMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let hooks = &config.webhooks;
    let secrets = match config.secrets_key() {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(error = %e, "webhooks.no_secrets_key");
            None
        }
    };
    let settings = Arc::new(Settings {
        retry: Retry {
            initial: Duration::from_millis(hooks.retry_initial_ms),
            max: Duration::from_secs(hooks.retry_max_secs),
            give_up_after: Duration::from_secs(hooks.give_up_secs),
        },
        timeout: Duration::from_secs(hooks.timeout_secs),
        secrets,
        owner: crate::webhook::new_event_id()
            .map(|id| id.replace("evt_", "worker_"))
            .unwrap_or_else(|| format!("worker_{}", std::process::id())),
    });
    let client = match client(settings.timeout) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "webhooks.no_client");
            return;
        }
    };
    let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut polls: u64 = 0;
    loop {
        let now = clock::now();
        if busy.len() < MAX_ORGS_IN_FLIGHT {
            match db.due_webhook_orgs(now, MAX_ORGS_IN_FLIGHT * 2).await {
                Ok(orgs) => {
                    for org in orgs {
                        if busy.len() >= MAX_ORGS_IN_FLIGHT || busy.values().any(|o| *o == org) {
                            continue;
                        }
                        let task = deliver_org(
                            db.clone(),
                            client.clone(),
                            Arc::clone(&settings),
                            Arc::clone(&metrics),
                            org.clone(),
                        );
                        let handle = tasks.spawn(task);
                        busy.insert(handle.id(), org);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks.outbox_unreadable"),
            }
        }
        if polls.is_multiple_of(10) {
            if let Ok(backlog) = db.webhook_backlog().await {
                metrics.backlog.store(backlog, Relaxed);
            }
        }
        if polls.is_multiple_of(7200) {
            let before = now - (settings.retry.give_up_after + KEEP);
            if let Err(e) = db.prune_webhook_events(before).await {
                tracing::warn!(error = %e, "webhooks.not_pruned");
            }
        }
        polls += 1;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = db.outbox_written() => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                busy.remove(&id);
            }
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        while let Some(done) = tasks.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                Err(e) => e.id(),
            };
            busy.remove(&id);
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    match db.release_webhook_leases(&settings.owner).await {
        Ok(released) => tracing::debug!(released, "webhooks.stopped"),
        Err(e) => tracing::warn!(error = %e, "webhooks.leases_kept"),
    }
}

/// Claims a batch of `org`'s due events and tries them in order.
async fn deliver_org(
    db: PolicyDb,
    client: reqwest::Client,
    settings: Arc<Settings>,
    metrics: Arc<WebhookMetrics>,
    org: String,
) {
    let now = clock::now();
    let until = now + lease_for(settings.timeout);
    let events = match db
        .claim_webhook_events(&org, &settings.owner, now, until, BATCH)
        .await
    {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(org, error = %e, "webhooks.not_claimed");
            return;
        }
    };
    if events.is_empty() {
        return;
    }
    let hook = match db.webhook(&org).await {
        Ok(Some(hook)) => hook,
        // Removed since (its pending events went with it), or unreadable: the lease runs out.
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(org, error = %e, "webhooks.not_read");
            return;
        }
    };
    let secret = open_secret(&hook, settings.secrets.as_ref());
    let mut rest = events.iter();
    while let Some(event) = rest.next() {
        let result = match &secret {
            Ok(secret) => {
                let _sending = InFlight::count(&metrics.in_flight);
                post(&client, &hook.url, secret, event).await
            }
            Err(e) => Err(e.clone()),
        };
        let at = clock::now();
        match result {
            Ok(()) => {
                metrics.delivered.fetch_add(1, Relaxed);
                tracing::debug!(
                    org,
                    event_id = event.id,
                    kind = event.event_type,
                    "webhook.delivered"
                );
                if let Err(e) = db.webhook_delivered(event, at).await {
                    tracing::warn!(org, event_id = event.id, error = %e, "webhook.not_marked");
                }
            }
            Err(error) => {
                let seed = schedule::seed(&event.id);
                let next = schedule::after_failure(
                    &settings.retry,
                    seed,
                    event.attempts + 1,
                    event.created_at,
                    at,
                );
                tracing::warn!(
                    org,
                    event_id = event.id,
                    attempts = event.attempts + 1,
                    error,
                    "webhook.failed"
                );
                match next {
                    Next::RetryAt(retry_at) => {
                        metrics.retried.fetch_add(1, Relaxed);
                        let _ = db.webhook_failed(event, at, Some(retry_at), &error).await;
                        for later in rest.by_ref() {
                            let _ = db.webhook_deferred(later, retry_at).await;
                        }
                        return;
                    }
                    Next::GiveUp => {
                        metrics.given_up.fetch_add(1, Relaxed);
                        tracing::error!(org, event_id = event.id, "webhook.given_up");
                        let _ = db.webhook_failed(event, at, None, &error).await;
                    }
                }
            }
        }
    }
}

/// One request counted in [`WebhookMetrics::in_flight`] while it lives (a task aborted while
/// it waits is uncounted too).
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn count(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Relaxed);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// One try: the event's body, signed now; a 2xx answer is delivery, and no answer within the
/// client's timeout (`webhooks.timeout_secs`, connecting included) a failure.
async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &OutboxEvent,
) -> Result<(), String> {
    let t = clock::now().as_nanos() / 1_000_000_000;
    let signature = sign::header(secret, t, event.body.as_bytes());
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::SIGNATURE_HEADER, signature)
        .header(sign::EVENT_ID_HEADER, &event.id)
        .body(event.body.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// A client error with its causes (reqwest's own text stops at "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Guarded))
        .user_agent(concat!("callrec/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Resolves host names as the system does, keeping only the addresses webhooks may reach.
struct Guarded;

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| !target::forbidden(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no address webhooks may reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
