//! An organisation's legal holds by person or date range: placed, listed and released by an
//! administrator or a compliance officer of a paid plan. A hold covers the matching recordings
//! catalogued now and those catalogued while it stays active (see `policydb::holds`); one
//! recording's own hold is placed on the recording's route. Must never delete a recording.

use crate::policydb::holds::HoldScope;
use crate::server::admin::extract::{Body, Reading, Source};
use crate::server::admin::fields::{check_id, instant};
use crate::server::admin::legal_hold::{audit_view, hold_reason, hold_view, lock};
use crate::server::admin::recording_access::{may_hold, Refusal};
use crate::server::admin::state::{bad_request, forbidden, not_found, AdminState, ApiError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const HOLDS: &str = "/v1/admin/convergedRecordings/legalHolds";

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route(HOLDS, get(list).post(place))
        .route(&format!("{HOLDS}/{{holdId}}"), delete(release))
}

/// A new hold: whose recordings, started when, and why.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewHold {
    person_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    reason: String,
}

fn may(scope: &Reading) -> Result<(), ApiError> {
    may_hold(&scope.caller, &scope.org, None).map_err(|refusal| match refusal {
        Refusal::Forbidden(why) | Refusal::Conflict(why) => forbidden(why),
        Refusal::Unknown => forbidden(format!(
            "this token has no access to organisation {}",
            scope.org
        )),
    })
}

/// `POST /v1/admin/convergedRecordings/legalHolds`: holds a person's recordings, or those
/// started within a range, or both (one of them at least: a hold on everything is one hold
/// per range, said on purpose); 201 with the hold, how many recordings it covers now and what
/// the stores' Object Lock did.
async fn place(
    State(state): State<AdminState>,
    scope: Reading,
    Source(peer): Source,
    Body(body): Body<NewHold>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    may(&scope)?;
    let reason = hold_reason(&body.reason)?;
    if let Some(person) = &body.person_id {
        check_id("personId", person)?;
    }
    let from = body
        .from
        .as_deref()
        .map(|t| instant("from", t))
        .transpose()?;
    let to = body.to.as_deref().map(|t| instant("to", t)).transpose()?;
    if body.person_id.is_none() && from.is_none() && to.is_none() {
        return Err(bad_request(
            "personId, from or to: at least one (a recording's own hold is PUT on \
             /v1/convergedRecordings/{recordingId}/legalHold)",
        ));
    }
    if let (Some(from), Some(to)) = (from, to) {
        if from >= to {
            return Err(bad_request("from: must be before to"));
        }
    }
    let hold_scope = HoldScope {
        recording: None,
        person: body.person_id.clone(),
        from,
        to,
    };
    let actor = scope.caller.actor();
    let (hold, covered) = state
        .db
        .place_hold(&scope.org, &hold_scope, &reason, state.by(&actor), |hold| {
            audit_view("hold", &scope.caller, peer, hold)
        })
        .await?;
    let object_lock = lock(&state, &covered, true).await;
    tracing::info!(org = %scope.org, hold = %hold.id, recordings = covered.len(), by = %actor, "legal_hold.placed");
    let body = json!({
        "hold": hold_view(&hold),
        "recordings": covered.len(),
        "objectLock": object_lock,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /v1/admin/convergedRecordings/legalHolds`: the organisation's holds, newest first,
/// active and released.
async fn list(State(state): State<AdminState>, scope: Reading) -> Result<Json<Value>, ApiError> {
    let holds = state.db.legal_holds(&scope.org).await?;
    let items: Vec<Value> = holds.iter().map(hold_view).collect();
    Ok(Json(json!({ "items": items })))
}

/// `DELETE /v1/admin/convergedRecordings/legalHolds/{holdId}`: releases the hold; the
/// recordings it alone held may then be deleted again (and their objects' Object Lock hold
/// is lifted).
async fn release(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
    Source(peer): Source,
) -> Result<Json<Value>, ApiError> {
    may(&scope)?;
    let actor = scope.caller.actor();
    let (hold, freed) = state
        .db
        .release_hold(&scope.org, &id, state.by(&actor), |hold| {
            audit_view("release", &scope.caller, peer, hold)
        })
        .await?
        .ok_or_else(|| not_found(format!("no legal hold {id} in {}", scope.org)))?;
    let object_lock = lock(&state, &freed, false).await;
    tracing::info!(org = %scope.org, hold = %hold.id, recordings = freed.len(), by = %actor, "legal_hold.released");
    Ok(Json(json!({
        "hold": hold_view(&hold),
        "released": freed.len(),
        "objectLock": object_lock,
    })))
}
