//! The extractors every admin handler takes its request through: the bearer-token
//! [`Caller`], JSON bodies (always an object, as the platform's API takes) and query strings
//! that fail as JSON 400s naming the field, and the organisation a
//! request acts on (`?orgId=`, or the token's only one) together with whether its token may
//! read or change it (a user token: none of the policy's). Must never decide policy nor touch
//! a document.

use super::auth::{Caller, Role};
use super::fields;
use super::repo;
use super::state::{bad_request, forbidden, AdminState, ApiError, Peer, RETRY_AFTER};
use crate::policydb::{PolicyDb, MAX_PAGE};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// Items a listing returns when its size is not given.
pub(crate) const DEFAULT_PAGE: usize = 100;

/// The caller of a request: a bearer token the policy store knows, neither expired nor
/// revoked (counted), or a 401 saying which; a 429 for a source that failed too often (see
/// `throttle`). Tokens are read from the store on every request, so a revocation holds on
/// every server sharing it from the next request on.
impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        // `callrec policy` calls the router in-process as an operator it authenticated itself;
        // extensions never come from the network.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let now = state.now();
        let source = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(Peer(peer))| peer.ip());
        if let Some(source) = source {
            let throttle = state.throttle.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(wait) = throttle.check(source, now) {
                state.metrics.throttled.fetch_add(1, Ordering::Relaxed);
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("too many failed authentications from {source}; try again in {secs} s"),
                )
                .with(RETRY_AFTER, secs));
            }
        }
        let unauthorized = |message: String| {
            state.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
            if let Some(source) = source {
                let mut throttle = state.throttle.lock().unwrap_or_else(|e| e.into_inner());
                throttle.failed(source, now);
            }
            ApiError::new(StatusCode::UNAUTHORIZED, message)
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| unauthorized("an Authorization: Bearer token is required".into()))?;
        let info = state
            .db
            .authenticate(token.trim())
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
            .ok_or_else(|| unauthorized("unknown token".into()))?;
        if let Some(refusal) = info.refusal(now) {
            return Err(unauthorized(refusal));
        }
        let caller = Caller::from_token(info)
            .ok_or_else(|| unauthorized("token has an unknown role".into()))?;
        let caller = with_switches(&state.db, caller).await?;
        if let Some(source) = source {
            let mut throttle = state.throttle.lock().unwrap_or_else(|e| e.into_inner());
            throttle.succeeded(source);
        }
        state.metrics.requests.fetch_add(1, Ordering::Relaxed);
        Ok(caller)
    }
}

/// `caller` with its person's switches over their recordings when it is a user token (read
/// on every request, like the token, so an administrator's change holds at the next one);
/// a person with no document has every switch on.
pub(crate) async fn with_switches(db: &PolicyDb, mut caller: Caller) -> Result<Caller, ApiError> {
    if caller.role != Role::User {
        return Ok(caller);
    }
    let org = caller.orgs.first().cloned().unwrap_or_default();
    let user = repo::user(db, &org, &caller.person)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if let Some(user) = user {
        caller.switches = user.value.access;
    }
    Ok(caller)
}

/// The token of an `Authorization` header's value, when its scheme is Bearer in any case
/// (`bearer`, `BEARER`): schemes are case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then_some(token)
}

/// Where a request came from, when the server knows (not for `callrec policy`'s in-process
/// calls): what an audit row of a recording's access names.
pub(crate) struct Source(pub Option<Peer>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<Peer>>();
        Ok(Source(peer.map(|ConnectInfo(peer)| *peer)))
    }
}

/// A JSON object request body; anything else is a 400 saying what is wrong with it.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        RawBody::from_request(req, state).await?.json().map(Body)
    }
}

/// A request body read but not parsed yet: for a handler that decides whether the caller may
/// call at all before it looks at what was sent (a malformed body from a caller who may not
/// is a 403, not a 400).
pub(crate) struct RawBody(Bytes);

impl RawBody {
    /// The body as `T`, or a 400 saying what is wrong with it. It must be a JSON object:
    /// serde would read an array as a struct's fields in order, which no client means.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let value: Value = serde_json::from_slice(&self.0)
            .map_err(|e| bad_request(format!("invalid JSON body: {e}")))?;
        if !value.is_object() {
            return Err(bad_request("invalid JSON body: expected a JSON object"));
        }
        read_json(value)
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

/// `value` as `T`, or a 400 naming the field that is wrong and what it accepts.
pub(crate) fn read_json<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        fields::body_refusal(&path, e.into_inner())
    })
}

/// A request's query parameters; a malformed one is a 400 naming it.
pub(crate) struct Params<T>(pub T);

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
pub(crate) struct Reading {
    pub caller: Caller,
    pub org: String,
}

/// A request that changes one organisation its token may change.
pub(crate) struct Writing {
    pub caller: Caller,
    pub org: String,
}

/// The caller of a policy route (organisations, people, settings, audit, tokens): any token
/// but a user's, which reaches only its own recordings (a 403 saying so).
pub(crate) struct PolicyCaller(pub Caller);

/// The refusal of a user token on every route but its recordings'.
pub(crate) const USER_ONLY_RECORDINGS: &str = "a user token reaches only its own recordings";

impl FromRequestParts<AdminState> for PolicyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.is_user() {
            return Err(forbidden(USER_ONLY_RECORDINGS));
        }
        Ok(PolicyCaller(caller))
    }
}

impl FromRequestParts<AdminState> for Reading {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let PolicyCaller(caller) = PolicyCaller::from_request_parts(parts, state).await?;
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
pub(crate) fn org_of(caller: &Caller, asked: Option<String>) -> Result<String, ApiError> {
    match (asked, caller.orgs.as_slice()) {
        (Some(org), _) => Ok(org),
        (None, [only]) => Ok(only.clone()),
        (None, orgs) => Err(bad_request(format!(
            "orgId: required, this token acts for several organisations ({})",
            orgs.join(", ")
        ))),
    }
}

pub(crate) fn check_read(caller: &Caller, org: &str) -> Result<(), ApiError> {
    if caller.can_read(org) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "this token has no access to organisation {org}"
        )))
    }
}

pub(crate) fn check_write(caller: &Caller, org: &str) -> Result<(), ApiError> {
    check_read(caller, org)?;
    check_writer(caller)
}

/// Refuses a read-only token, whatever it would change.
pub(crate) fn check_writer(caller: &Caller) -> Result<(), ApiError> {
    if caller.can_write() {
        Ok(())
    } else {
        Err(forbidden(
            "this token is read-only: it cannot change anything",
        ))
    }
}

/// The size of a listing's page asked for as `field` ([`DEFAULT_PAGE`] when not given), or a
/// 400 naming the field when it is outside 1-[`MAX_PAGE`].
pub(crate) fn page_size(field: &str, asked: Option<usize>) -> Result<usize, ApiError> {
    match asked.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        n => Err(bad_request(format!("{field}: {n} is outside 1-{MAX_PAGE}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::admin::auth::Role;

    fn partner(orgs: &[&str]) -> Caller {
        Caller {
            token_id: "t1".into(),
            person: "pat@example.com".into(),
            role: Role::PartnerAdmin,
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
            switches: Default::default(),
        }
    }

    #[test]
    fn a_request_acts_on_the_organisation_asked_for_or_the_tokens_only_one() {
        let one = partner(&["acme"]);
        assert_eq!(org_of(&one, None).ok().as_deref(), Some("acme"));
        assert_eq!(
            org_of(&one, Some("globex".into())).ok().as_deref(),
            Some("globex")
        );
        let two = partner(&["acme", "globex"]);
        let refused = org_of(&two, None).expect_err("ambiguous");
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.message,
            "orgId: required, this token acts for several organisations (acme, globex)"
        );
        // Asking is not being allowed: that is check_read's to say.
        let elsewhere = check_read(&one, "globex").expect_err("not the token's");
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in [
            "Bearer crt_x",
            "bearer crt_x",
            "BEARER crt_x",
            "bEaReR crt_x",
        ] {
            assert_eq!(bearer_token(value), Some("crt_x"), "{value}");
        }
        for value in ["Basic crt_x", "Bearercrt_x", "Bearer", "crt_x"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn page_sizes_default_and_stay_within_the_stores_page() {
        assert_eq!(page_size("max", None).ok(), Some(DEFAULT_PAGE));
        assert_eq!(page_size("max", Some(1)).ok(), Some(1));
        assert_eq!(page_size("max", Some(MAX_PAGE)).ok(), Some(MAX_PAGE));
        for n in [0, MAX_PAGE + 1] {
            let refused = page_size("limit", Some(n)).expect_err("out of range");
            assert_eq!(
                refused.message,
                format!("limit: {n} is outside 1-{MAX_PAGE}")
            );
        }
    }
}
