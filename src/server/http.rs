//! What every admin route shares: JSON bodies and query strings that fail as JSON 400s, the
//! organisation a request acts on (and whether its token may), the HTTP status of each model
//! refusal, the retry of operations that raced another write, and the names vendors have in
//! JSON. Must never decide policy.

use super::admin::{AdminState, ApiError};
use super::auth::{Caller, Role};
use super::repo::RepoError;
use crate::config::ProvidersConfig;
use crate::policy::model::{Admin, AdminId, AdminRole, LocationProvider, ProviderChoice};
use crate::policy::plan::Provider;
use crate::policy::PolicyError;
use crate::policydb::DbError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;

/// Times an operation is re-run after another write changed its documents under it.
pub const MAX_ATTEMPTS: usize = 8;

/// Longest id (organisation, location, user) accepted.
pub const MAX_ID: usize = 128;

/// Longest name or other free text accepted.
pub const MAX_TEXT: usize = 256;

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, message)
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// A JSON request body; anything else is a 400 saying what is wrong with it.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        RawBody::from_request(req, state).await?.json().map(Body)
    }
}

/// A request body read but not parsed yet: for a handler that decides whether the caller may
/// call at all before it looks at what was sent (a malformed body from a caller who may not
/// is a 403, not a 400).
pub struct RawBody(Bytes);

impl RawBody {
    /// The body as `T`, or a 400 saying what is wrong with it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// A request's query parameters; a malformed one is a 400 naming it.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(q)| Params(q))
            .map_err(|e| bad_request(e.body_text()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgParam {
    org_id: Option<String>,
}

/// A request that reads one organisation (`orgId`, or the token's only one) its token may
/// see.
pub struct Reading {
    pub caller: Caller,
    pub org: String,
}

/// A request that changes one organisation its token may change.
pub struct Writing {
    pub caller: Caller,
    pub org: String,
}

impl FromRequestParts<AdminState> for Reading {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Params(OrgParam { org_id }) = Params::from_request_parts(parts, state).await?;
        let org = org_of(&caller, org_id)?;
        check_read(&caller, &org)?;
        Ok(Reading { caller, org })
    }
}

impl FromRequestParts<AdminState> for Writing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let Reading { caller, org } = Reading::from_request_parts(parts, state).await?;
        check_write(&caller, &org)?;
        Ok(Writing { caller, org })
    }
}

/// The organisation asked for, or the token's only one.
fn org_of(caller: &Caller, asked: Option<String>) -> Result<String, ApiError> {
    match (asked, caller.orgs.as_slice()) {
        (Some(org), _) => Ok(org),
        (None, [only]) => Ok(only.clone()),
        (None, orgs) => Err(bad_request(format!(
            "orgId: required, this token acts for several organisations ({})",
            orgs.join(", ")
        ))),
    }
}

pub fn check_read(caller: &Caller, org: &str) -> Result<(), ApiError> {
    if caller.can_read(org) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "this token has no access to organisation {org}"
        )))
    }
}

pub fn check_write(caller: &Caller, org: &str) -> Result<(), ApiError> {
    check_read(caller, org)?;
    check_writer(caller)
}

/// Refuses a read-only token, whatever it would change.
pub fn check_writer(caller: &Caller) -> Result<(), ApiError> {
    if caller.can_write() {
        Ok(())
    } else {
        Err(forbidden(
            "this token is read-only: it cannot change anything",
        ))
    }
}

/// The administrator a token acts as in the model: the token itself (named by its id), a
/// partner's or a customer's.
pub fn admin_of(caller: &Caller) -> Admin {
    Admin {
        id: AdminId(caller.token_id.clone()),
        role: match caller.role {
            Role::PartnerAdmin => AdminRole::Partner,
            Role::CustomerAdmin | Role::ReadOnly => AdminRole::Customer,
        },
    }
}

/// Runs `attempt` until it is not refused for a stale document, at most [`MAX_ATTEMPTS`]
/// times: concurrent changes apply one after the other, none is lost.
pub async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.stale && tries < MAX_ATTEMPTS => tries += 1,
            result => return result,
        }
    }
}

/// An id in a body: 1-[`MAX_ID`] characters that need no escaping in a URL path.
pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(fine) {
        return Err(bad_request(format!(
            "{field}: '{id}' is not an id (1-{MAX_ID} of A-Z a-z 0-9 - _ . ~)"
        )));
    }
    Ok(())
}

/// Free text: 1-[`MAX_TEXT`] characters, no control characters.
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    let len = text.chars().count();
    if len == 0 || len > MAX_TEXT {
        return Err(bad_request(format!(
            "{field}: must be 1-{MAX_TEXT} characters, not {len}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(bad_request(format!(
            "{field}: control characters are not allowed"
        )));
    }
    Ok(())
}

/// A vendor's id in JSON: `dubber`, `imagicle`, `callcabinet`, or `none` (recording off).
pub fn vendor_id(choice: ProviderChoice) -> &'static str {
    choice.provider().map_or("none", Provider::as_str)
}

/// A vendor's name as the platform shows it: `Dubber`, ..., `None`.
pub fn vendor_name(choice: ProviderChoice) -> &'static str {
    choice.provider().map_or("None", Provider::name)
}

const VENDOR_IDS: &str = "dubber, imagicle, callcabinet, none";

pub fn parse_vendor(field: &str, id: &str) -> Result<ProviderChoice, ApiError> {
    ProviderChoice::ALL
        .into_iter()
        .find(|c| vendor_id(*c) == id)
        .ok_or_else(|| bad_request(format!("{field}: '{id}' is not one of {VENDOR_IDS}")))
}

/// A vendor that is a provider (terms, accounts, sync listings).
pub fn parse_provider(field: &str, id: &str) -> Result<Provider, ApiError> {
    Provider::ALL
        .into_iter()
        .find(|p| p.as_str() == id)
        .ok_or_else(|| {
            bad_request(format!(
                "{field}: '{id}' is not one of dubber, imagicle, callcabinet"
            ))
        })
}

pub fn location_vendor(field: &str, id: Option<&str>) -> Result<LocationProvider, ApiError> {
    match id {
        None => Ok(LocationProvider::OrganisationDefault),
        Some(id) => parse_vendor(field, id).map(LocationProvider::from),
    }
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
pub fn refusal(e: PolicyError, providers: &ProvidersConfig) -> ApiError {
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
