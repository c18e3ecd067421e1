//! The audit trail of an organisation's policy documents, oldest first: who changed what,
//! when, and the document before and after. Read-only; must never show another
//! organisation's changes.

use super::admin::{AdminState, ApiError};
use super::http::{bad_request, Params, Reading};
use super::routes_directory::DEFAULT_PAGE;
use crate::policydb::MAX_PAGE;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AdminState> {
    Router::new().route("/v1/audit", get(get_audit))
}

/// `since`: the last sequence number already read (0: from the start); `limit`: at most this
/// many entries. Page on with `since` = the response's `next`.
#[derive(Deserialize)]
struct AuditParams {
    since: Option<u64>,
    limit: Option<usize>,
}

async fn get_audit(
    State(state): State<AdminState>,
    scope: Reading,
    Params(params): Params<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let since = params.since.unwrap_or(0);
    let since = i64::try_from(since)
        .map_err(|_| bad_request(format!("since: {since} is not a sequence number")))?;
    let limit = match params.limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => n,
        n => return Err(bad_request(format!("limit: {n} is outside 1-{MAX_PAGE}"))),
    };
    let records = state.db.audit(&scope.org, since, limit).await?;
    let next = records.last().map_or(since, |r| r.seq);
    let items: Vec<Value> = records
        .into_iter()
        .map(|r| {
            json!({
                "seq": r.seq,
                "actor": r.actor,
                "at": r.at.to_rfc3339(),
                "kind": r.kind,
                "id": r.id,
                "before": r.before,
                "after": r.after,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })))
}
