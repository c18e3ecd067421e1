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

/// Counters `/metrics` exposes (Prometheus text format).
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    /// The recording server's counters, when `serve` runs one.
    pub live: std::sync::OnceLock<Arc<super::siprec::LiveMetrics>>,
    /// The recording server's policy cache, when `serve` runs one: how fresh it is.
    pub policy: std::sync::OnceLock<Arc<crate::policydb::cache::PolicyCache>>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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

async fn metrics(State(state): State<AdminState>) -> Response {
    let m = &state.metrics;
    let mut body = format!(
        "# HELP callrec_admin_requests_total Admin API requests that carried a token.\n\
         # TYPE callrec_admin_requests_total counter\n\
         callrec_admin_requests_total {}\n\
         # HELP callrec_admin_unauthorized_total Admin API requests refused for a missing or unknown token.\n\
         # TYPE callrec_admin_unauthorized_total counter\n\
         callrec_admin_unauthorized_total {}\n\
         # HELP callrec_admin_forbidden_total Admin API requests refused for another organisation or a read-only token.\n\
         # TYPE callrec_admin_forbidden_total counter\n\
         callrec_admin_forbidden_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.unauthorized.load(Ordering::Relaxed),
        m.forbidden.load(Ordering::Relaxed),
    );
    if let Some(live) = m.live.get() {
        body.push_str(&live.render());
    }
    if let Some(policy) = m.policy.get() {
        let stats = policy.stats();
        body.push_str(&format!(
            "# HELP callrec_policy_refreshes_total Refreshes of the SIPREC server's policy cache that reached the store.\n\
             # TYPE callrec_policy_refreshes_total counter\n\
             callrec_policy_refreshes_total {}\n\
             # HELP callrec_policy_refresh_failures_total Refreshes that failed; calls were decided on the last state.\n\
             # TYPE callrec_policy_refresh_failures_total counter\n\
             callrec_policy_refresh_failures_total {}\n\
             # HELP callrec_policy_seq The policy store's audit number the cache holds.\n\
             # TYPE callrec_policy_seq gauge\n\
             callrec_policy_seq {}\n",
            stats.refreshes, stats.failed_refreshes, stats.seq
        ));
    }
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4");
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
