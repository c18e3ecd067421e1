//! Bearer tokens, for administrators: list the tokens within the caller's organisations and
//! revoke one. A token is within a caller's reach when every organisation it may act on is
//! one the caller's token names (a customer administrator never sees a partner's token);
//! any token may revoke itself. Tokens are issued by `callrec token create` on the server,
//! never over the API: the API cannot widen anyone's access.

use crate::policydb::{Revoked, TokenInfo};
use crate::server::admin::auth::Caller;
use crate::server::admin::extract::PolicyCaller;
use crate::server::admin::state::{forbidden, not_found, AdminState, ApiError};
use crate::time::Time;
use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/tokens", get(list_tokens))
        .route("/v1/tokens/{tokenId}", delete(revoke_token))
}

/// Whether `caller` may see and revoke `token`.
fn within_reach(caller: &Caller, token: &TokenInfo) -> bool {
    token.id == caller.token_id || token.orgs.iter().all(|org| caller.can_read(org))
}

/// A token as the API shows it: never the token itself, which only its holder has.
pub(crate) fn token_view(token: &TokenInfo, now: Time) -> Value {
    let state = match (token.revoked_at, token.refusal(now)) {
        (Some(_), _) => "revoked",
        (None, Some(_)) => "expired",
        (None, None) => "active",
    };
    json!({
        "id": token.id,
        "person": token.person,
        "role": token.role,
        "orgs": token.orgs,
        "label": token.label,
        "createdAt": token.created_at.to_rfc3339(),
        "expiresAt": token.expires_at.map(Time::to_rfc3339),
        "revokedAt": token.revoked_at.map(Time::to_rfc3339),
        "state": state,
    })
}

async fn list_tokens(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
) -> Result<Json<Value>, ApiError> {
    let now = state.now();
    let items: Vec<Value> = state
        .db
        .tokens()
        .await?
        .iter()
        .filter(|t| within_reach(&caller, t))
        .map(|t| token_view(t, now))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Revokes a token within reach (a read-only token only itself); idempotent. A token out of
/// reach is answered as one that does not exist.
async fn revoke_token(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || not_found(format!("no token {id} within this token's organisations"));
    let now = state.now();
    let target = state.db.tokens().await?.into_iter().find(|t| t.id == id);
    let target = target
        .filter(|t| within_reach(&caller, t))
        .ok_or_else(unknown)?;
    if !caller.can_write() && target.id != caller.token_id {
        return Err(forbidden("a read-only token may revoke only itself"));
    }
    match state.db.revoke_token_id(&id, now).await? {
        Revoked::Now(token) => {
            tracing::info!(token = %token.id, person = %token.person, by = %caller.actor(), "token.revoked");
            Ok(Json(token_view(&token, now)))
        }
        Revoked::Already(token) => Ok(Json(token_view(&token, now))),
        Revoked::Unknown => Err(unknown()),
    }
}
