//! The audit trail of an organisation's policy documents, oldest first: who changed what,
//! when, and the document before and after. Read-only; must never show another
//! organisation's changes.
//!
//! Before and after speak the API's names, as its GETs show the same things: an organisation
//! as `GET /v1/organizations/{orgId}` (`displayName`, `vendorId`,
//! `callRecordingServiceEnabled`, ...), a person as `GET /v1/people/{personId}` with their
//! settings as `.../features/callRecording` under `callRecording`. Other kinds (locations'
//! internal links, AOR claims) are shown as stored; so is a document that no longer decodes.

use super::directory::{org_view, person_view};
use crate::policy::api_json::UserRecordingSettings;
use crate::policy::organisation::Organisation;
use crate::policy::user::User;
use crate::server::admin::extract::{page_size, Params, Reading};
use crate::server::admin::repo::{ORGANISATION, USER};
use crate::server::admin::state::{bad_request, AdminState, ApiError};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AdminState> {
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
    let limit = page_size("limit", params.limit)?;
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
                "before": r.before.map(|d| api_view(&r.kind, d)),
                "after": r.after.map(|d| api_view(&r.kind, d)),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })))
}

/// A stored document as the API shows it (see the module doc), or as stored.
fn api_view(kind: &str, document: Value) -> Value {
    match kind {
        ORGANISATION => match serde_json::from_value::<Organisation>(document.clone()) {
            Ok(org) => org_view(&org),
            Err(_) => document,
        },
        USER => match serde_json::from_value::<User>(document.clone()) {
            Ok(user) => {
                let mut view = person_view(&user);
                view["callRecording"] = json!(UserRecordingSettings::from(&user));
                view
            }
            Err(_) => document,
        },
        _ => document,
    }
}
