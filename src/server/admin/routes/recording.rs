//! A person's call recording: their settings in the platform's JSON (enabling provisions
//! them), their Dubber entitlement (whose change re-classes their stored recordings), and the
//! effective policy the recorder would apply to their calls. Owns these routes' JSON; must
//! never decide policy (the model does) and never touch recordings except through the store's
//! migration.

use crate::catalog::sync::{self as catalog_sync, Migrated};
use crate::policy::api_json::{merged_body, put_user_settings, UserRecordingSettings};
use crate::policy::model::OrgId;
use crate::policy::plan::DubberEntitlement;
use crate::policy::user::User;
use crate::policy::{effective_policy, Decision, RetentionMigration};
use crate::server::admin::extract::{read_json, Body, Params, Reading, Writing};
use crate::server::admin::load::{load_org, load_user, modify, modify_with, Documents, Reads};
use crate::server::admin::repo;
use crate::server::admin::state::{bad_request, not_found, AdminState, ApiError};
use crate::store::destination::Destination;
use crate::store::migrate::{migrate, MigrationEvent, PlanTarget};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Most migration events a response lists (the report counts all of them).
pub(crate) const MAX_REPORTED_EVENTS: usize = 100;

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route(
            "/v1/people/{personId}/features/callRecording",
            get(get_settings).put(put_settings),
        )
        .route(
            "/v1/people/{personId}/features/callRecording/entitlement",
            get(get_entitlement).put(put_entitlement),
        )
        .route(
            "/v1/telephony/config/callRecording/effectivePolicy",
            get(get_effective_policy),
        )
}

async fn get_settings(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
) -> Result<Json<UserRecordingSettings>, ApiError> {
    let user = load_user(&state, &scope.org, &id).await?.value;
    Ok(Json(UserRecordingSettings::from(&user)))
}

/// Lays the fields sent onto the person's current settings (every field is optional, as on
/// the platform), validates the whole, then enables (provisioning the person: Dubber's
/// account is created if needed, with the caller as one of its administrators), updates or
/// disables.
async fn put_settings(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
    Body(sent): Body<Map<String, Value>>,
) -> Result<Json<UserRecordingSettings>, ApiError> {
    let admin = &scope.caller.admin();
    let reads = Reads::PersonInContext(&id);
    let account_orgs = || async { Ok(repo::admin_account_orgs(&state.db, admin).await?) };
    let put = |read: &Documents, account_orgs: Vec<OrgId>, now| {
        let body = merged_body(read.user(), &sent).map_err(|e| bad_request(e.to_string()))?;
        let body: UserRecordingSettings = read_json(body)?;
        put_user_settings(
            read.organisation(),
            read.location(),
            read.user(),
            &body,
            admin,
            &account_orgs,
            now,
        )
        .map_err(|e| state.refused(e))
    };
    let saved = modify_with(&state, &scope, reads, account_orgs, put).await?;
    Ok(Json(UserRecordingSettings::from(saved.user())))
}

fn entitlement_name(entitlement: DubberEntitlement) -> &'static str {
    entitlement.plan().tag()
}

fn entitlement_view(user: &User) -> Value {
    json!({
        "entitlement": entitlement_name(user.entitlement),
        "plan": user.entitlement.plan(),
    })
}

async fn get_entitlement(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(entitlement_view(
        &load_user(&state, &scope.org, &id).await?.value,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntitlementBody {
    entitlement: String,
}

/// Moves the person to another Dubber plan, then, if the model says so (the person records
/// with Dubber), moves their stored recordings to the new plan's retention (the response says
/// what moved).
async fn put_entitlement(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
    Body(body): Body<EntitlementBody>,
) -> Result<Json<Value>, ApiError> {
    let entitlement = DubberEntitlement::ALL
        .into_iter()
        .find(|e| entitlement_name(*e) == body.entitlement)
        .ok_or_else(|| {
            bad_request(format!(
                "entitlement: '{}' is not one of go, standard, ai",
                body.entitlement
            ))
        })?;
    let reads = Reads::PersonInContext(&id);
    let saved = modify(&state, &scope, reads, |read: &Documents, _| {
        read.user()
            .set_entitlement(read.organisation(), read.location(), entitlement)
            .map_err(|e| state.refused(e))
    })
    .await?;
    let mut view = entitlement_view(saved.user());
    view["migration"] = json!(saved.migration);
    if let Some(migration) = &saved.migration {
        view["storage"] = run_migration(&state, migration).await?;
    }
    Ok(Json(view))
}

/// Runs `migration` on the organisation's destination; what moved, or a 502 saying how to
/// finish (the entitlement is already saved).
async fn run_migration(
    state: &AdminState,
    migration: &RetentionMigration,
) -> Result<Value, ApiError> {
    let (org, user, plan) = (&migration.org.0, &migration.user.0, migration.plan);
    let failed = |e: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the entitlement is saved, but moving {user}'s stored recordings to {plan} \
                 failed: {e}; finish with `callrec retention migrate --org {org} --user {user} \
                 --plan {plan}` (safe to re-run)"
            ),
        )
    };
    let target = state.config.destination_for(Some(org));
    let options: Vec<(String, String)> = target.options.clone().into_iter().collect();
    let dest = Destination::open(&target.url, &options).map_err(|e| failed(e.to_string()))?;
    let mut events: Vec<MigrationEvent> = Vec::new();
    let mut migrated = Migrated::default();
    let to = PlanTarget {
        retention: plan.retention(),
        plan: plan.to_string(),
        provider: plan.provider().as_str().into(),
    };
    // Recordings under legal hold stay as they are.
    let held = state.db.held_prefixes().await?;
    let report = migrate(&dest, org, Some(user), &to, state.now(), &held, |event| {
        migrated.note(event);
        if events.len() < MAX_REPORTED_EVENTS {
            events.push(event.clone());
        }
    })
    .await
    .map_err(|e| failed(e.to_string()))?;
    catalog_sync::after_migration(&state.db, &target.url, &dest, &migrated, state.now())
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(json!({
        "destination": target.url,
        "report": camel_case(json!(report)),
        "events": camel_case(json!(events)),
    }))
}

/// The store's migration report and events speak snake_case (like the CLI's JSON lines and
/// the metadata files); the API speaks camelCase: keys, and the `event` names.
fn camel_case(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    fn camel(name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        let mut upper = false;
        for c in name.chars() {
            match (c, upper) {
                ('_', _) => upper = true,
                (c, true) => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                (c, false) => out.push(c),
            }
        }
        out
    }
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("event", Value::String(name)) => (key, Value::String(camel(&name))),
                    (_, value) => (camel(&key), camel_case(value)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subject {
    aor: Option<String>,
    person_id: Option<String>,
}

/// The decision the recorder would take for the person's calls, found by SIP address (as the
/// recorder finds them) or by id.
async fn get_effective_policy(
    State(state): State<AdminState>,
    scope: Reading,
    Params(subject): Params<Subject>,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    let user = match (&subject.aor, &subject.person_id) {
        (Some(aor), None) => {
            let aor = repo::normalise_aor(aor)
                .map_err(|e| bad_request(e.replacen("sipAddresses", "aor", 1)))?;
            repo::user_by_aor(&state.db, &scope.org, &aor)
                .await?
                .ok_or_else(|| {
                    not_found(format!(
                        "no person with sip address {aor} in organisation {}",
                        scope.org
                    ))
                })?
        }
        (None, Some(id)) => load_user(&state, &scope.org, id).await?,
        _ => return Err(bad_request("aor or personId: exactly one is required")),
    };
    let location = repo::location(&state.db, &scope.org, &user.value.location.0).await?;
    let decision = effective_policy(&org, location.as_ref().map(|l| &l.value), Some(&user.value));
    let mut body = json!(decision);
    if let Decision::DoNotRecord(reason) = &decision {
        body["doNotRecord"]["message"] = reason.to_string().into();
    }
    body["personId"] = json!(user.value.id);
    Ok(Json(body))
}
