//! What every admin handler is given and what every one of them may answer: the shared
//! [`AdminState`] (the policy store, the counters, the configuration, the clock), the
//! [`Metrics`] `/metrics` exposes, and [`ApiError`] with the one mapping of model refusals and
//! store failures to HTTP statuses and JSON bodies. Must never route, parse a request or decide
//! policy.
//!
//! Errors are JSON `{"message": ...}` with the status that says what kind: 400 invalid input
//! (naming the field and the allowed values), 401 no or unknown token, 403 not the caller's
//! organisation or a read-only token, 404 unknown id (or route: the router's), 405 a method
//! the route does not serve (the router's), 409 the organisation's state forbids it
//! (terms not accepted: with `vendorId`, `termsOfServiceUrl`), 429 a source that failed
//! authentication too often (with `Retry-After`); for recordings, 409 under legal hold, 416 a
//! range outside the audio, 502 a store that failed, 503 an access that could not be audited.

use super::recording_link::LinkKey;
use super::repo::RepoError;
use super::throttle::AuthThrottle;
use crate::config::{Config, KeyFiles, ProvidersConfig};
use crate::policy::PolicyError;
use crate::policydb::cache::PolicyCache;
use crate::policydb::{Change as By, DbError, PolicyDb};
use crate::server::siprec::LiveMetrics;
use crate::server::tls_listener::TlsListener;
use crate::server::webhooks::WebhookMetrics;
use crate::time::Time;
use axum::extract::connect_info::Connected;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use axum::Json;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::TcpListener;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AdminState {
    pub db: PolicyDb,
    pub metrics: Arc<Metrics>,
    /// Where each organisation's recordings are (for retention migrations), and the providers'
    /// terms and login pages.
    pub config: Arc<Config>,
    /// The wall clock (this library reads none itself).
    pub clock: fn() -> Time,
    /// Who failed to authenticate lately, shared by every request of this server.
    pub throttle: Arc<Mutex<AuthThrottle>>,
    /// Signs and checks the recordings' audio links (see `recording_link`).
    pub links: Arc<LinkKey>,
    /// Organisations' keys for the audio of recordings encrypted at rest, read from their key
    /// files and kept until a file changes.
    pub key_files: Arc<KeyFiles>,
}

impl AdminState {
    pub fn now(&self) -> Time {
        (self.clock)()
    }

    /// A change made now by `actor`, as the audit trail records it.
    pub fn by<'a>(&self, actor: &'a str) -> By<'a> {
        By {
            actor,
            at: self.now(),
        }
    }

    /// A model refusal as this server answers it (with the configured terms page).
    pub fn refused(&self, e: PolicyError) -> ApiError {
        refusal(e, &self.config.providers)
    }
}

/// The address a request came from, over plain TCP or TLS alike (axum knows only plain
/// TCP's): what failed authentication is counted against.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Counters `/metrics` exposes (Prometheus text format).
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    /// Requests refused unread because their source failed too often ([`AuthThrottle`]).
    pub throttled: AtomicU64,
    /// The recording server's counters, when `serve` runs one.
    pub live: OnceLock<Arc<LiveMetrics>>,
    /// The recording server's policy cache, when `serve` runs one: how fresh it is.
    pub policy: OnceLock<Arc<PolicyCache>>,
    /// The completion events' deliverer, when `serve` runs one.
    pub webhooks: OnceLock<Arc<WebhookMetrics>>,
    /// Which worker of a fleet this is, when `serve` runs.
    pub worker: OnceLock<WorkerInfo>,
}

/// A worker's identity, exposed as the OpenMetrics info family `callrec_worker`, whose one
/// sample is `callrec_worker_info{worker="worker-1",version="0.1.0"} 1`.
///
/// Why an info metric of our own and not OpenTelemetry's `target_info`: the OpenMetrics
/// `info` type is made for exactly this ("textual information which should not change during
/// process lifetime"), Prometheus reads it from the text we already serve, and
/// `prometheus-client` writes it; `target_info` is what an OpenTelemetry SDK's resource
/// becomes when exported to Prometheus, which callrec does not have. A dashboard joins it
/// onto any series by the scrape's `instance`:
/// `sum by (worker) (rate(callrec_calls_total[1m]) * on (instance) group_left (worker)
/// callrec_worker_info)`, so the name is set once, in the worker's configuration
/// (`worker.name`), not again in every scrape target.
#[derive(Clone, Debug)]
pub struct WorkerInfo {
    /// `worker.name`, else the host name.
    pub name: String,
    /// callrec's version (`CARGO_PKG_VERSION`): a fleet upgraded worker by worker shows both.
    pub version: &'static str,
}

impl WorkerInfo {
    fn encode(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let labels = vec![
            ("worker", self.name.clone()),
            ("version", self.version.to_string()),
        ];
        let info = Info::new(labels);
        let descriptor = encoder.encode_descriptor(
            "callrec_worker",
            "Which worker of a fleet this is (worker.name, else the host name) and its version.",
            None,
            info.metric_type(),
        )?;
        info.encode(descriptor)
    }
}

/// An API error: a status, a message for people, and fields for scripts (the terms URL of a
/// 409 for terms not accepted, ...).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Refused because a document changed since it was read: worth re-running.
    pub stale: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: serde_json::Map::new(),
            stale: false,
        }
    }

    /// Adds a field to the error's body.
    pub fn with(mut self, field: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.details.insert(field.into(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.details;
        body.insert("message".into(), self.message.into());
        let retry_after = body.get(RETRY_AFTER).and_then(|v| v.as_u64());
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The body field of a 429 that says when to come back, also sent as `Retry-After`.
pub(crate) const RETRY_AFTER: &str = "retryAfterSeconds";

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, message)
}

pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// The HTTP status of a model refusal: 400 when the request itself is wrong, 409 when the
/// organisation's state forbids it for now, 403 when the caller's role may not.
fn refusal_status(e: &PolicyError) -> StatusCode {
    use PolicyError as P;
    match e {
        P::OutOfRange { .. }
        | P::NotAllowed { .. }
        | P::Length { .. }
        | P::ReadOnly { .. }
        | P::RegionNotServed { .. }
        | P::LocationRegionNotServed { .. }
        | P::ConfirmationRequired
        | P::AccountAutoCreated { .. }
        | P::UserNotInOrganisation { .. }
        | P::LocationNotInOrganisation { .. }
        | P::NotUsersLocation { .. } => StatusCode::BAD_REQUEST,
        P::PartnerOnly => StatusCode::FORBIDDEN,
        P::TermsNotAccepted { .. }
        | P::OrganisationOff { .. }
        | P::LocationOff { .. }
        | P::ServiceOff { .. }
        | P::NotLicensed { .. }
        | P::PartnerAdminElsewhere { .. }
        | P::NoProviderAccount { .. }
        | P::AccountExists { .. }
        | P::UserDisabled { .. } => StatusCode::CONFLICT,
    }
}

/// A model refusal as an HTTP error, with fields for scripts: a 409 for terms not accepted
/// names the provider and the terms page `providers` configures (the message too); a 400 for
/// a region names the regions the provider serves.
pub(crate) fn refusal(e: PolicyError, providers: &ProvidersConfig) -> ApiError {
    use PolicyError as P;
    let status = refusal_status(&e);
    let mut message = e.to_string();
    match e {
        P::TermsNotAccepted { provider } => {
            let url = providers.terms_url(provider);
            ApiError::new(status, format!("{message} ({url})"))
                .with("vendorId", provider.as_str())
                .with("vendorName", provider.name())
                .with("termsOfServiceUrl", url)
        }
        P::RegionNotServed { provider, region }
        | P::LocationRegionNotServed {
            provider, region, ..
        } => ApiError::new(status, message)
            .with("vendorId", provider.as_str())
            .with("region", region.code())
            .with("servedRegions", json!(provider.regions())),
        P::ConfirmationRequired => {
            message.push_str(" (send confirmDisableForAllUsers: true)");
            ApiError::new(status, message)
        }
        _ => ApiError::new(status, message),
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let status = match &e {
            DbError::NotFound { .. } => StatusCode::NOT_FOUND,
            DbError::Exists { .. } => StatusCode::CONFLICT,
            DbError::Conflict { .. } => StatusCode::CONFLICT,
            DbError::Sql(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Db(e) => e.into(),
            RepoError::Stale { .. } => {
                let mut error = ApiError::new(StatusCode::CONFLICT, e.to_string());
                error.stale = true;
                error
            }
            RepoError::AorTaken { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            // The partner rule: no provider's page to name.
            RepoError::Refused(e) => ApiError::new(refusal_status(&e), e.to_string()),
            RepoError::TooMany { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// Read at each scrape: the admin API's counters, the policy cache's and, last, the recording
/// server's ([`LiveMetrics`](LiveMetrics)). The last two are looked up
/// at each scrape too, so the registry built once in [`router`] shows them whenever `serve`
/// sets them. Counters are named without `_total`, which the encoder appends to their samples.
impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        if let Some(worker) = self.worker.get() {
            worker.encode(&mut encoder)?;
        }
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let admin = [
            (
                "callrec_admin_requests",
                "Admin API requests that carried a token.",
                load(&self.requests),
            ),
            (
                "callrec_admin_unauthorized",
                "Admin API requests refused for a missing or unknown token.",
                load(&self.unauthorized),
            ),
            (
                "callrec_admin_forbidden",
                "Admin API requests refused for another organisation or a read-only token.",
                load(&self.forbidden),
            ),
            (
                "callrec_admin_throttled",
                "Admin API requests refused unread: their source failed authentication too often.",
                load(&self.throttled),
            ),
        ];
        let policy = self.policy.get().map(|cache| cache.stats());
        let refreshes = policy.iter().flat_map(|stats| {
            [
                (
                    "callrec_policy_refreshes",
                    "Refreshes of the SIPREC server's policy cache that reached the store.",
                    stats.refreshes,
                ),
                (
                    "callrec_policy_refresh_failures",
                    "Refreshes that failed; calls were decided on the last state.",
                    stats.failed_refreshes,
                ),
            ]
        });
        for (name, help, value) in admin.into_iter().chain(refreshes) {
            let descriptor = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(descriptor)?;
        }
        if let Some(stats) = &policy {
            ConstGauge::new(stats.seq).encode(encoder.encode_descriptor(
                "callrec_policy_seq",
                "The policy store's audit number the cache holds.",
                None,
                MetricType::Gauge,
            )?)?;
        }
        if let Some(webhooks) = self.webhooks.get() {
            webhooks.encode(&mut encoder)?;
        }
        match self.live.get() {
            Some(live) => live.encode(encoder),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).expect("encodes");
        text
    }

    #[test]
    fn metrics_reads_the_counters_and_the_recording_server_at_each_scrape() {
        let metrics = Arc::new(Metrics::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&metrics)));
        metrics.requests.store(3, Ordering::Relaxed);
        metrics.forbidden.store(1, Ordering::Relaxed);
        assert_eq!(
            scrape(&registry),
            "# HELP callrec_admin_requests Admin API requests that carried a token.\n\
             # TYPE callrec_admin_requests counter\n\
             callrec_admin_requests_total 3\n\
             # HELP callrec_admin_unauthorized Admin API requests refused for a missing or unknown token.\n\
             # TYPE callrec_admin_unauthorized counter\n\
             callrec_admin_unauthorized_total 0\n\
             # HELP callrec_admin_forbidden Admin API requests refused for another organisation or a read-only token.\n\
             # TYPE callrec_admin_forbidden counter\n\
             callrec_admin_forbidden_total 1\n\
             # HELP callrec_admin_throttled Admin API requests refused unread: their source failed authentication too often.\n\
             # TYPE callrec_admin_throttled counter\n\
             callrec_admin_throttled_total 0\n\
             # EOF\n"
        );

        // Set after the registry was built, as `serve` may: shown from the next scrape on.
        let live = Arc::new(LiveMetrics::default());
        live.sip.calls_total.store(2, Ordering::Relaxed);
        metrics.live.set(Arc::clone(&live)).expect("set once");
        let text = scrape(&registry);
        assert!(text.starts_with("# HELP callrec_admin_requests "), "{text}");
        assert!(text.contains("callrec_admin_requests_total 3\n"), "{text}");
        assert!(
            text.contains("# TYPE callrec_calls counter\ncallrec_calls_total 2\n"),
            "{text}"
        );
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("\n# EOF\n"), "{text}");
    }

    #[test]
    fn the_worker_is_named_in_an_info_family_ahead_of_the_rest() {
        let metrics = Arc::new(Metrics::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&metrics)));
        metrics
            .worker
            .set(WorkerInfo {
                name: "worker-2".into(),
                version: "1.2.3",
            })
            .expect("set once");
        let text = scrape(&registry);
        assert!(
            text.starts_with(
                "# HELP callrec_worker Which worker of a fleet this is (worker.name, else the \
                 host name) and its version.\n\
                 # TYPE callrec_worker info\n\
                 callrec_worker_info{worker=\"worker-2\",version=\"1.2.3\"} 1\n\
                 # HELP callrec_admin_requests "
            ),
            "{text}"
        );
    }
}
