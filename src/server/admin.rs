//! The admin HTTP API (axum): health, metrics, and, behind a bearer token, the recording policy
//! of the caller's organisations. Errors are JSON `{"message": ...}` with the status that says
//! what kind: 400 invalid input (naming the field and the allowed values), 401 no or unknown
//! token, 403 not the caller's organisation or a read-only token, 404 unknown id, 409 the
//! organisation's state forbids it (terms not accepted: with `vendorId`, `termsOfServiceUrl`).
//!
//! Every policy route acts on one organisation: `?orgId=`, or the token's only one. `R` = any
//! token of the organisation, `W` = not read-only, `P` = partner administrator.
//!
//! | Route | Methods |
//! |---|---|
//! | `/v1/organizations` | GET R (the token's), POST P (an org its token names) |
//! | `/v1/organizations/{orgId}` | GET R, PUT W (name, storage; service switch P), DELETE P (empty) |
//! | `/v1/locations`, `/v1/locations/{id}` | GET R, POST W; GET R, DELETE W (no people) |
//! | `/v1/people`, `/v1/people/{id}` | GET R, POST W; GET R, PUT W, DELETE W |
//! | `/v1/people/{id}/features/callRecording` | GET R, PUT W (enabling provisions) |
//! | `.../callRecording/entitlement` | GET R, PUT W (a Dubber user's: runs the retention migration) |
//! | `/v1/telephony/config/callRecording` | GET R, PUT W (`enabled`) |
//! | `.../callRecording/vendors`, `.../vendor` | GET R; PUT W (`vendorId`) |
//! | `.../vendors/{vendorId}/termsOfService` | GET R (with the disclosure), PUT W (accept) |
//! | `.../vendors/{vendorId}/account` | PUT W (Imagicle, CallCabinet) |
//! | `.../vendors/{vendorId}/users` | GET R (the sync listing) |
//! | `.../callRecording/effectivePolicy?aor=\|personId=` | GET R |
//! | `/v1/telephony/config/locations/{id}/callRecording/vendor` | GET R, PUT W |
//! | `/v1/audit?since=&limit=` | GET R |

use super::auth::Caller;
use super::http::refusal;
use super::{routes_audit, routes_directory, routes_recording, routes_vendor};
use crate::config::Config;
use crate::policy::PolicyError;
use crate::policydb::PolicyDb;
use crate::time::Time;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
}

impl AdminState {
    pub fn now(&self) -> Time {
        (self.clock)()
    }

    /// A model refusal as this server answers it (with the configured terms page).
    pub fn refused(&self, e: PolicyError) -> ApiError {
        refusal(e, &self.config.providers)
    }
}

/// Counters `/metrics` exposes (OpenMetrics text, see [`router`]).
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    /// The recording server's counters, when `serve` runs one.
    pub live: std::sync::OnceLock<Arc<super::live_metrics::LiveMetrics>>,
    /// The recording server's policy cache, when `serve` runs one: how fresh it is.
    pub policy: std::sync::OnceLock<Arc<crate::policydb::cache::PolicyCache>>,
}

/// Read at each scrape: the admin API's counters, the policy cache's and, last, the recording
/// server's ([`LiveMetrics`](super::live_metrics::LiveMetrics)). The last two are looked up
/// at each scrape too, so the registry built once in [`router`] shows them whenever `serve`
/// sets them. Counters are named without `_total`, which the encoder appends to their samples.
impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
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
        match self.live.get() {
            Some(live) => live.encode(encoder),
            None => Ok(()),
        }
    }
}

pub fn router(state: AdminState) -> Router {
    // Built once; its collector reads the counters at each scrape.
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Arc::clone(&state.metrics)));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics).with_state(Arc::new(registry)))
        .route("/v1/whoami", get(whoami))
        .merge(routes_directory::routes())
        .merge(routes_vendor::routes())
        .merge(routes_recording::routes())
        .merge(routes_audit::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_forbidden,
        ))
        .with_state(state)
}

async fn count_forbidden(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::FORBIDDEN {
        state.metrics.forbidden.fetch_add(1, Ordering::Relaxed);
    }
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready for calls: 503 while draining, so a load balancer stops sending any.
async fn readyz(State(state): State<AdminState>) -> Response {
    match state.metrics.live.get() {
        Some(live) if !live.ready() => {
            (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
        }
        _ => "ready\n".into_response(),
    }
}

/// `/metrics`: the registry as OpenMetrics text, with the content type the standard gives it
/// (Prometheus asks for it and reads it).
async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::new();
    encode(&mut body, &registry)
        .expect("the collectors only fail when their writer does, and a String never does");
    let content_type =
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The caller as the API sees it (for scripts checking their token).
async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "role": caller.role.as_str(),
        "orgs": caller.orgs,
        "token": caller.token_id,
    }))
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
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        // `callrec policy` calls the router in-process as an operator it authenticated itself;
        // extensions never come from the network.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let unauthorized = |message: &str| {
            state.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
            ApiError::new(StatusCode::UNAUTHORIZED, message)
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("an Authorization: Bearer token is required"))?;
        let info = state
            .db
            .authenticate(token.trim())
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
            .ok_or_else(|| unauthorized("unknown token"))?;
        let caller =
            Caller::from_token(info).ok_or_else(|| unauthorized("token has an unknown role"))?;
        state.metrics.requests.fetch_add(1, Ordering::Relaxed);
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::live_metrics::LiveMetrics;

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
}
