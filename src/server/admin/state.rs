//! What every admin handler is given and what every one of them may answer: the shared
//! [`AdminState`] (the policy store, the counters, the configuration, the clock), the
//! [`Metrics`] `/metrics` exposes, and [`ApiError`] with the one mapping of model refusals and
//! store failures to HTTP statuses and JSON bodies. Must never route, parse a request or decide
//! policy.
//!
//! Errors are JSON `{"message": ...}` with the status that says what kind: 400 invalid input
//! (naming the field and the allowed values), 401 no or unknown token, 403 not the caller's
//! organisation or a read-only token, 404 unknown id, 409 the organisation's state forbids it
//! (terms not accepted: with `vendorId`, `termsOfServiceUrl`).

use super::repo::RepoError;
use crate::config::{Config, ProvidersConfig};
use crate::policy::PolicyError;
use crate::policydb::cache::PolicyCache;
use crate::policydb::{Change as By, DbError, PolicyDb};
use crate::server::siprec::LiveMetrics;
use crate::time::Time;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

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

/// Counters `/metrics` exposes (Prometheus text format).
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    /// The recording server's counters, when `serve` runs one.
    pub live: OnceLock<Arc<LiveMetrics>>,
    /// The recording server's policy cache, when `serve` runs one: how fresh it is.
    pub policy: OnceLock<Arc<PolicyCache>>,
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
