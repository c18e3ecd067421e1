//! The converged recordings routes: a person's own recordings and an organisation's, a
//! recording's details with short-lived audio links, its stored metadata document, its audio
//! (whole or a byte range, streamed from the store) and its deletion. Owns these routes' JSON
//! and headers; who may do what is `recording_access`'s to say, links are `recording_link`'s,
//! names `recording_name`'s, ranges `byte_range`'s. Must never change a policy document.
//!
//! A recording's own legal hold is placed and released here (`.../{recordingId}/legalHold`);
//! holds by person or date range are `legal_holds`'s.
//!
//! Every play, download (an audio request from byte 0), metadata read and delete is audited
//! (kind `recordingAccess`) before the bytes go out; an unaudited play is refused (503).

use crate::policydb::holds::HoldScope;
use crate::policydb::recordings::{CatalogRecording, RecordingQuery};
use crate::server::admin::auth::{Caller, Role};
use crate::server::admin::byte_range::{self, Ranged};
use crate::server::admin::extract::{
    check_read, org_of, with_switches, Body as JsonBody, Params, Reading, Source,
};
use crate::server::admin::fields::{instant, MAX_TEXT};
use crate::server::admin::legal_hold::{audit_view, hold_reason, hold_view, lock};
use crate::server::admin::recording_access::{may, may_hold, Action, Refusal, PLAY_SWITCHED_OFF};
use crate::server::admin::recording_link::{Link, Purpose, LINK_LIFE_SECS};
use crate::server::admin::recording_name::{content_disposition, content_type, file_name, topic};
use crate::server::admin::recording_store::{destination, store_failed};
use crate::server::admin::sealed_audio;
use crate::server::admin::state::{bad_request, forbidden, not_found, AdminState, ApiError, Peer};
use crate::time::Time;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use object_store::path::Path as KeyPath;
use object_store::{GetOptions, GetRange, ObjectStoreExt as _};
use serde::Deserialize;
use serde_json::{json, Value};

const RECORDINGS: &str = "/v1/convergedRecordings";
const ONE: &str = "/v1/convergedRecordings/{recordingId}";

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route(RECORDINGS, get(list_own))
        .route("/v1/admin/convergedRecordings", get(list_org))
        .route(ONE, get(details).delete(delete_recording))
        .route(&format!("{ONE}/metadata"), get(metadata))
        .route(&format!("{ONE}/audio"), get(audio))
        .route(
            &format!("{ONE}/legalHold"),
            put(hold_one).delete(release_one),
        )
}

/// Recordings a listing returns when `max` is not given, and the most it returns.
const DEFAULT_MAX: usize = 10;
const MAX_MAX: usize = 100;
/// The last page a listing serves (10 000 pages of 100: older ones by date, `from`/`to`).
const MAX_PAGE_NUMBER: usize = 10_000;
/// The largest metadata document served (a sidecar is a few kilobytes).
const MAX_METADATA_BYTES: u64 = 4 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    org_id: Option<String>,
    person_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    max: Option<usize>,
    page: Option<usize>,
    participant: Option<String>,
}

/// `GET /v1/convergedRecordings`: the caller's own recordings (recorded person = the token's
/// person) in its organisation.
async fn list_own(
    State(state): State<AdminState>,
    caller: Caller,
    Params(params): Params<ListParams>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org = org_of(&caller, params.org_id.clone())?;
    check_read(&caller, &org)?;
    if caller.role == Role::User && !caller.switches.play {
        return Err(forbidden(PLAY_SWITCHED_OFF));
    }
    let person = caller.person.clone();
    listing(&state, &caller, &org, Some(&person), &params, &uri).await
}

/// `GET /v1/admin/convergedRecordings`: an organisation's recordings, or one person's
/// (`personId`); not for a user token.
async fn list_org(
    State(state): State<AdminState>,
    scope: Reading,
    Params(params): Params<ListParams>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let person = params.person_id.as_deref();
    listing(&state, &scope.caller, &scope.org, person, &params, &uri).await
}

/// One page of `org`'s recordings (of `person`, when given) as `params` asks, newest first,
/// with the `Link` header of the pages beside it.
async fn listing(
    state: &AdminState,
    caller: &Caller,
    org: &str,
    person: Option<&str>,
    params: &ListParams,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let max = match params.max.unwrap_or(DEFAULT_MAX) {
        n @ 1..=MAX_MAX => n,
        n => return Err(bad_request(format!("max: {n} is outside 1-{MAX_MAX}"))),
    };
    let page = match params.page.unwrap_or(1) {
        n @ 1..=MAX_PAGE_NUMBER => n,
        n => {
            return Err(bad_request(format!(
                "page: {n} is outside 1-{MAX_PAGE_NUMBER} (narrow the listing with from and to)"
            )))
        }
    };
    let from = params
        .from
        .as_deref()
        .map(|t| instant("from", t))
        .transpose()?;
    let to = params.to.as_deref().map(|t| instant("to", t)).transpose()?;
    let participant = params.participant.as_deref().filter(|p| !p.is_empty());
    if let Some(text) = participant {
        if text.chars().count() > MAX_TEXT {
            return Err(bad_request(format!(
                "participant: longer than {MAX_TEXT} characters"
            )));
        }
    }
    // One more than a page: whether there is a next one.
    let mut rows = state
        .db
        .find_recordings(&RecordingQuery {
            org_id: org,
            person,
            from,
            to,
            participant,
            limit: max + 1,
            offset: (page - 1) * max,
        })
        .await?;
    let has_more = rows.len() > max;
    rows.truncate(max);
    let items: Vec<Value> = rows
        .iter()
        .filter(|row| may(caller, row, Action::List).is_ok())
        .map(|row| recording_view(caller, row))
        .collect();
    let body = json!({ "items": items, "page": page, "max": max, "hasMore": has_more });
    let mut response = Json(body).into_response();
    let mut links = Vec::new();
    if has_more {
        links.push(format!("<{}>; rel=\"next\"", page_link(uri, page + 1)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", page_link(uri, page - 1)));
    }
    if !links.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// The request's own path and query with `page` set to `page` (RFC 8288 target, relative).
fn page_link(uri: &Uri, page: usize) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let page = format!("page={page}");
    query.push(&page);
    format!("{}?{}", uri.path(), query.join("&"))
}

/// A recording as the API shows it, with what this caller may do with it.
fn recording_view(caller: &Caller, row: &CatalogRecording) -> Value {
    let right = |action| may(caller, row, action).is_ok();
    json!({
        "id": row.id,
        "orgId": row.org_id,
        "personId": row.person,
        "locationId": row.location,
        "topic": topic(row),
        "createTime": row.start.to_rfc3339(),
        "endTime": row.end.to_rfc3339(),
        "durationSeconds": row.duration_ms / 1000,
        "direction": row.direction.as_str(),
        "participants": row.participants,
        "format": row.format,
        "sizeBytes": row.size_bytes,
        "sha256": row.sha256,
        "provider": row.provider,
        "plan": row.plan,
        "retention": row.retention,
        "expiresAt": row.expires_at.map(Time::to_rfc3339),
        "expiryReason": expiry_reason(row),
        "legalHold": row.legal_hold,
        "endedBy": row.ended,
        "kind": row.kind,
        "access": {
            "play": right(Action::Play),
            "download": right(Action::Download),
            "delete": right(Action::Delete),
        },
    })
}

/// Why a recording will be deleted when it will (none when it is kept without limit).
fn expiry_reason(row: &CatalogRecording) -> Option<String> {
    if row.legal_hold {
        return Some("under legal hold: kept until the hold is lifted".into());
    }
    row.expires_at?;
    let kept = match row.retention.strip_suffix('d') {
        Some(days) => format!("{days} days"),
        None => row.retention.clone(),
    };
    Some(match row.plan.as_str() {
        "dubber-go" => format!("Dubber Go keeps recordings {kept}"),
        plan => format!("the {plan} plan keeps recordings {kept}"),
    })
}

/// `orgId` on a recording's routes: which of the token's organisations to look in (all of
/// them when not given: recording ids are unique enough).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OneParams {
    org_id: Option<String>,
}

/// The recording `id` as `caller` may see it, or 404.
async fn find(
    state: &AdminState,
    caller: &Caller,
    org: Option<&str>,
    id: &str,
) -> Result<CatalogRecording, ApiError> {
    let unknown = || not_found(format!("no recording {id} within this token's reach"));
    let orgs: Vec<&str> = match org {
        Some(org) => vec![org],
        None => caller.orgs.iter().map(String::as_str).collect(),
    };
    for org in orgs.into_iter().filter(|org| caller.can_read(org)) {
        if let Some(row) = state.db.recording(org, id).await? {
            return match may(caller, &row, Action::List) {
                Ok(()) => Ok(row),
                Err(Refusal::Unknown) => Err(unknown()),
                Err(_) => allowed(caller, &row, Action::List).map(|()| row),
            };
        }
    }
    Err(unknown())
}

/// `caller` may do `action` with `row`, or the error that says why not.
fn allowed(caller: &Caller, row: &CatalogRecording, action: Action) -> Result<(), ApiError> {
    may(caller, row, action).map_err(|refusal| match refusal {
        Refusal::Unknown => not_found(format!("no recording {} within this token's reach", row.id)),
        Refusal::Forbidden(why) => forbidden(why),
        Refusal::Conflict(why) => ApiError::new(StatusCode::CONFLICT, why),
    })
}

/// `GET /v1/convergedRecordings/{recordingId}`: the recording, and links to its audio when
/// the caller may hear it.
async fn details(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    let mut view = recording_view(&caller, &row);
    if may(&caller, &row, Action::Play).is_ok() {
        let base = base_url(&state, &uri, &headers)?;
        let now_secs = state.now().as_nanos() / 1_000_000_000;
        let expires = now_secs + LINK_LIFE_SECS;
        let link = |purpose| {
            let signed = Link {
                org: &row.org_id,
                id: &row.id,
                purpose,
                expires,
                person: &caller.person,
                token_id: &caller.token_id,
            };
            format!(
                "{base}{RECORDINGS}/{}/audio?purpose={}&expires={expires}&orgId={}&by={}&sig={}",
                escape(&row.id),
                purpose.as_str(),
                escape(&row.org_id),
                escape(&caller.token_id),
                state.links.sign(&signed),
            )
        };
        let at = Time::from_nanos(expires.saturating_mul(1_000_000_000));
        view["temporaryDirectDownloadLinks"] = json!({
            "audioPlaybackLink": link(Purpose::Play),
            "audioDownloadLink": may(&caller, &row, Action::Download)
                .is_ok()
                .then(|| link(Purpose::Download)),
            "expiration": at.to_rfc3339(),
        });
    }
    Ok(Json(view))
}

/// `scheme://host` of the request, for absolute links: HTTPS when the admin API serves TLS.
fn base_url(state: &AdminState, uri: &Uri, headers: &HeaderMap) -> Result<String, ApiError> {
    let scheme = if state.config.admin.tls() {
        "https"
    } else {
        "http"
    };
    let host = match uri.authority() {
        Some(authority) => authority.to_string(),
        None => match headers.get(header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => host.to_string(),
            Some(Err(_)) => return Err(bad_request("Host: not a host name")),
            None => state.config.admin.listen.to_string(),
        },
    };
    let fine = |c: char| c.is_ascii_alphanumeric() || "-.:[]_".contains(c);
    if host.is_empty() || host.len() > 255 || !host.chars().all(fine) {
        return Err(bad_request(format!("Host: '{host}' is not a host name")));
    }
    Ok(format!("{scheme}://{host}"))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The audit row of `action` on `row` by `caller`, from `from`.
async fn note(
    state: &AdminState,
    caller: &Caller,
    row: &CatalogRecording,
    action: Action,
    from: Option<Peer>,
) -> Result<(), ApiError> {
    let actor = caller.actor();
    state
        .db
        .note_recording_access(
            &row.org_id,
            &row.id,
            state.by(&actor),
            &access(caller, row, action, from),
        )
        .await
        .map_err(unaudited)
}

/// What an audit row of a recording's access says.
fn access(caller: &Caller, row: &CatalogRecording, action: Action, from: Option<Peer>) -> Value {
    json!({
        "action": action.as_str(),
        "recordingId": row.id,
        "person": caller.person,
        "recordedPerson": row.person,
        "from": from.map(|Peer(peer)| peer.ip().to_string()),
    })
}

fn unaudited(e: crate::policydb::DbError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the access could not be audited, so it is refused: {e}"),
    )
}

fn key(text: &str) -> Result<KeyPath, ApiError> {
    KeyPath::parse(text).map_err(store_failed)
}

/// `GET .../{recordingId}/metadata`: the stored metadata document, as stored.
async fn metadata(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Source(peer): Source,
) -> Result<Response, ApiError> {
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    allowed(&caller, &row, Action::Metadata)?;
    let dest = destination(&state, &row).await?;
    let got = dest
        .store
        .get(&key(&row.metadata_key)?)
        .await
        .map_err(store_failed)?;
    if got.meta.size > MAX_METADATA_BYTES {
        return Err(store_failed(format!(
            "its metadata document is {} bytes, more than {MAX_METADATA_BYTES}",
            got.meta.size
        )));
    }
    let document = got.bytes().await.map_err(store_failed)?;
    note(&state, &caller, &row, Action::Metadata, peer).await?;
    let json = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json)], document).into_response())
}

/// `DELETE /v1/convergedRecordings/{recordingId}`: the metadata document first (so a
/// half-done deletion leaves no document describing missing media), every media object, then
/// the catalog row with its audit row.
async fn delete_recording(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Source(peer): Source,
) -> Result<StatusCode, ApiError> {
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    allowed(&caller, &row, Action::Delete)?;
    let dest = destination(&state, &row).await?;
    let keys = std::iter::once(&row.metadata_key).chain(row.files.iter().map(|f| &f.key));
    for text in keys {
        match dest.store.delete(&key(text)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_failed(e)),
        }
    }
    let actor = caller.actor();
    let after = access(&caller, &row, Action::Delete, peer);
    state
        .db
        .remove_recording_noted(&row.org_id, &row.id, state.by(&actor), &after)
        .await?;
    tracing::info!(recording = %row.id, org = %row.org_id, by = %actor, "recording.deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A hold's body: why (kept in the hold and its audit rows).
#[derive(Deserialize)]
struct HoldBody {
    reason: String,
}

/// The error a refusal to hold `row` answers.
fn hold_refused(row: &CatalogRecording, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unknown => not_found(format!("no recording {} within this token's reach", row.id)),
        Refusal::Forbidden(why) => forbidden(why),
        Refusal::Conflict(why) => ApiError::new(StatusCode::CONFLICT, why),
    }
}

/// `PUT .../{recordingId}/legalHold`: puts the recording under a hold of its own (the one it
/// has, if it has one), audited, and the store's legal hold on its objects where the bucket
/// has Object Lock.
async fn hold_one(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Source(peer): Source,
    JsonBody(body): JsonBody<HoldBody>,
) -> Result<Json<Value>, ApiError> {
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    may_hold(&caller, &row.org_id, Some(&row)).map_err(|r| hold_refused(&row, r))?;
    let reason = hold_reason(&body.reason)?;
    let scope = HoldScope {
        recording: Some(row.id.clone()),
        ..HoldScope::default()
    };
    let actor = caller.actor();
    let (hold, covered) = state
        .db
        .place_hold(&row.org_id, &scope, &reason, state.by(&actor), |hold| {
            audit_view("hold", &caller, peer, hold)
        })
        .await
        .map_err(unaudited)?;
    let object_lock = lock(&state, &covered, true).await;
    let row = state
        .db
        .recording(&row.org_id, &row.id)
        .await?
        .unwrap_or(row);
    tracing::info!(recording = %row.id, org = %row.org_id, hold = %hold.id, by = %actor, "legal_hold.placed");
    Ok(Json(json!({
        "hold": hold_view(&hold),
        "recording": recording_view(&caller, &row),
        "objectLock": object_lock,
    })))
}

/// `DELETE .../{recordingId}/legalHold`: releases the recording's own hold, audited; it stays
/// held while a hold on its person or dates covers it (the answer's `recording.legalHold`).
async fn release_one(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<OneParams>,
    Source(peer): Source,
) -> Result<Json<Value>, ApiError> {
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    may_hold(&caller, &row.org_id, Some(&row)).map_err(|r| hold_refused(&row, r))?;
    let Some(own) = state.db.recording_hold(&row.org_id, &row.id).await? else {
        return Err(not_found(format!(
            "recording {id} has no hold of its own{}",
            if row.legal_hold {
                " (a hold on its person or dates covers it: see \
                 /v1/admin/convergedRecordings/legalHolds)"
            } else {
                ""
            }
        )));
    };
    let actor = caller.actor();
    let (hold, freed) = state
        .db
        .release_hold(&row.org_id, &own.id, state.by(&actor), |hold| {
            audit_view("release", &caller, peer, hold)
        })
        .await
        .map_err(unaudited)?
        .ok_or_else(|| not_found(format!("recording {id} has no hold of its own")))?;
    let object_lock = lock(&state, &freed, false).await;
    let row = state
        .db
        .recording(&row.org_id, &row.id)
        .await?
        .unwrap_or(row);
    tracing::info!(recording = %row.id, org = %row.org_id, hold = %hold.id, by = %actor, "legal_hold.released");
    Ok(Json(json!({
        "hold": hold_view(&hold),
        "recording": recording_view(&caller, &row),
        "objectLock": object_lock,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AudioParams {
    purpose: Option<String>,
    expires: Option<u64>,
    sig: Option<String>,
    org_id: Option<String>,
    by: Option<String>,
}

/// `GET .../{recordingId}/audio`: the first media file, whole or one byte range, streamed
/// from the store; authorised by a signed link (`sig`) or a bearer token.
async fn audio(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Params(params): Params<AudioParams>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let purpose = match params.purpose.as_deref() {
        None => Purpose::Play,
        Some(text) => Purpose::parse(text).ok_or_else(|| {
            bad_request(format!("purpose: '{text}' is not one of play, download"))
        })?,
    };
    let caller = match &params.sig {
        Some(sig) => link_caller(&state, &id, purpose, &params, sig).await?,
        None => Caller::from_request_parts(&mut parts, &state).await?,
    };
    let row = find(&state, &caller, params.org_id.as_deref(), &id).await?;
    let action = match purpose {
        Purpose::Play => Action::Play,
        Purpose::Download => Action::Download,
    };
    allowed(&caller, &row, action)?;
    let file = row
        .files
        .first()
        .ok_or_else(|| not_found(format!("recording {id} has no media file")))?;
    let range_header = parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let (status, range) = match byte_range::resolve(range_header, file.bytes) {
        Ranged::Whole => (StatusCode::OK, 0..file.bytes),
        Ranged::Part(range) => (StatusCode::PARTIAL_CONTENT, range),
        Ranged::Unsatisfiable => {
            let mut refused = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!(
                    "the range asked for is not within the recording's {} bytes",
                    file.bytes
                ),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", file.bytes)) {
                refused.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(refused);
        }
    };
    let dest = destination(&state, &row).await?;
    // Encrypted at rest: decrypted on the fly, only the chunks the range needs fetched.
    let sealed = match sealed_audio::may_be_sealed(&state.config, &row.org_id) {
        true => sealed_audio::body(
            &state.config,
            &state.key_files,
            &dest,
            &row,
            file,
            range.clone(),
        )
        .await
        .map_err(store_failed)?,
        false => None,
    };
    let body = match sealed {
        Some(body) => body,
        None => {
            let options = GetOptions {
                range: (!range.is_empty()).then(|| GetRange::Bounded(range.clone())),
                ..Default::default()
            };
            let got = dest
                .store
                .get_opts(&key(&file.key)?, options)
                .await
                .map_err(store_failed)?;
            if got.meta.size != file.bytes {
                return Err(store_failed(format!(
                    "{} is {} bytes, the catalog says {}",
                    file.key, got.meta.size, file.bytes
                )));
            }
            Body::from_stream(got.into_stream())
        }
    };
    // A play or download is one request from the start; a player's later ranges are the same
    // listening.
    if range.start == 0 {
        let Source(peer) = Source::from_request_parts(&mut parts, &state)
            .await
            .unwrap_or(Source(None));
        note(&state, &caller, &row, action, peer).await?;
    }
    let name = file_name(&row);
    let disposition = content_disposition(purpose == Purpose::Download, &name);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&row.format)),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let content_range = format!("bytes {}-{}/{}", range.start, range.end - 1, file.bytes);
        if let Ok(value) = HeaderValue::from_str(&content_range) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}

/// The caller a signed link was made for, if the link is genuine, unexpired, and its token
/// still active; else a 403 saying which.
async fn link_caller(
    state: &AdminState,
    id: &str,
    purpose: Purpose,
    params: &AudioParams,
    sig: &str,
) -> Result<Caller, ApiError> {
    let not_valid = || forbidden("this link is not valid");
    let (Some(expires), Some(org), Some(by)) = (params.expires, &params.org_id, &params.by) else {
        return Err(not_valid());
    };
    let info = state.db.token_by_id(by).await?.ok_or_else(not_valid)?;
    let caller = Caller::from_token(info.clone()).ok_or_else(not_valid)?;
    let caller = with_switches(&state.db, caller).await?;
    let link = Link {
        org,
        id,
        purpose,
        expires,
        person: &caller.person,
        token_id: &caller.token_id,
    };
    let now = state.now();
    state
        .links
        .check(&link, sig, now)
        .map_err(|refusal| forbidden(refusal.to_string()))?;
    if let Some(refusal) = info.refusal(now) {
        return Err(forbidden(format!("this link is not valid: its {refusal}")));
    }
    Ok(caller)
}
