//! An organisation's webhook for completion events (`recording.stored`,
//! `recording.deleted`; see [`crate::webhook`]): register or replace it, read it with the
//! state of its deliveries, list its events, remove it. Registering is a policy write
//! (customer and partner administrators, audited with the URL and never the secret). Must
//! never return a stored secret: a secret is shown once, in the answer to the `PUT` that set
//! or generated it.

use crate::policydb::webhooks::{OutboxEvent, STATES};
use crate::server::admin::extract::{page_size, Params, RawBody, Reading, Writing};
use crate::server::admin::state::{bad_request, not_found, AdminState, ApiError};
use crate::server::webhooks::stored_secret;
use crate::time::Time;
use crate::webhook::{self, target};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const BASE: &str = "/v1/telephony/config/callRecording/webhook";

/// The shortest and longest secret a caller may choose.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route(
            BASE,
            get(get_webhook).put(put_webhook).delete(delete_webhook),
        )
        .route(&format!("{BASE}/events"), get(get_events))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookBody {
    url: String,
    /// The signing secret; one is generated when none is given.
    secret: Option<String>,
}

/// `PUT`: registers (or replaces) the webhook; answers it with its secret, once.
async fn put_webhook(
    State(state): State<AdminState>,
    scope: Writing,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: WebhookBody = body.json()?;
    target::check(&body.url, state.config.webhooks.allow_http)
        .map_err(|e| bad_request(format!("url: {e}")))?;
    let secret = match body.secret {
        Some(secret) => {
            if !SECRET_LEN.contains(&secret.len()) || !secret.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(bad_request(format!(
                    "secret: {}-{} printable ASCII characters, no spaces",
                    SECRET_LEN.start(),
                    SECRET_LEN.end()
                )));
            }
            secret
        }
        None => webhook::new_secret().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no randomness for a secret",
            )
        })?,
    };
    let key = state
        .config
        .secrets_key()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let stored = stored_secret(key.as_ref(), &scope.org, &secret)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let actor = scope.caller.actor();
    state
        .db
        .set_webhook(&scope.org, &body.url, &stored, state.by(&actor))
        .await?;
    tracing::info!(
        org = scope.org,
        url = body.url,
        by = actor,
        "webhook.registered"
    );
    let mut view = view(&state, &scope.org).await?;
    view["secret"] = json!(secret);
    Ok(Json(view))
}

/// `GET`: the URL and the state of its deliveries.
async fn get_webhook(
    State(state): State<AdminState>,
    scope: Reading,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&state, &scope.org).await?))
}

/// `DELETE`: removes the webhook and its undelivered events.
async fn delete_webhook(
    State(state): State<AdminState>,
    scope: Writing,
) -> Result<StatusCode, ApiError> {
    let actor = scope.caller.actor();
    if !state
        .db
        .remove_webhook(&scope.org, state.by(&actor))
        .await?
    {
        return Err(not_found(format!(
            "organisation {} has no webhook",
            scope.org
        )));
    }
    tracing::info!(org = scope.org, by = actor, "webhook.removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventParams {
    status: Option<String>,
    limit: Option<usize>,
}

/// `GET .../events?status=pending|delivered|failed&limit=`: the organisation's events,
/// newest first.
async fn get_events(
    State(state): State<AdminState>,
    scope: Reading,
    Params(params): Params<EventParams>,
) -> Result<Json<Value>, ApiError> {
    if let Some(status) = &params.status {
        if !STATES.contains(&status.as_str()) {
            return Err(bad_request(format!(
                "status: '{status}' is not one of {}",
                STATES.join(", ")
            )));
        }
    }
    let limit = page_size("limit", params.limit)?;
    let events = state
        .db
        .webhook_events(&scope.org, params.status.as_deref(), limit)
        .await?;
    let items: Vec<Value> = events.iter().map(event_view).collect();
    Ok(Json(json!({ "items": items })))
}

async fn view(state: &AdminState, org: &str) -> Result<Value, ApiError> {
    let hook = state
        .db
        .webhook(org)
        .await?
        .ok_or_else(|| not_found(format!("organisation {org} has no webhook")))?;
    let counts = state.db.webhook_counts(org).await?;
    Ok(json!({
        "orgId": org,
        "url": hook.url,
        "createdAt": hook.created_at.to_rfc3339(),
        "updatedAt": hook.updated_at.to_rfc3339(),
        "secretSealed": !hook.secret.starts_with("plain:"),
        "deliveries": {
            "pending": counts.pending,
            "delivered": counts.delivered,
            "failed": counts.failed,
            "lastDeliveredAt": shown(hook.last_delivered_at),
            "lastError": hook.last_error,
            "lastErrorAt": shown(hook.last_error_at),
        },
    }))
}

fn event_view(event: &OutboxEvent) -> Value {
    json!({
        "id": event.id,
        "type": event.event_type,
        "recordingId": event.recording_id,
        "createdAt": event.created_at.to_rfc3339(),
        "status": event.state,
        "attempts": event.attempts,
        "nextAttemptAt": (event.state == "pending").then(|| event.next_attempt_at.to_rfc3339()),
        "deliveredAt": shown(event.delivered_at),
        "lastError": event.last_error,
    })
}

fn shown(time: Option<Time>) -> Option<String> {
    time.map(Time::to_rfc3339)
}
