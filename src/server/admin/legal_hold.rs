//! What the legal hold routes share: a hold as the API shows it, what its audit row says, and
//! putting a store's own legal hold (S3 Object Lock) on or off the objects of the recordings a
//! hold covers or frees. The catalog's hold is the one that counts (the API, the sweeper and
//! plan migration read it); the store's is a second lock where the bucket has one, so not even
//! someone with the bucket's keys, nor a lifecycle rule, deletes a held recording. A store
//! that cannot lock objects, or fails to, is logged and reported, never a refused hold.

use super::auth::Caller;
use super::fields::MAX_TEXT;
use super::recording_store::destination;
use super::state::{bad_request, AdminState, ApiError, Peer};
use crate::policydb::holds::LegalHold;
use crate::policydb::recordings::CatalogRecording;
use crate::store::object_lock::{self, LockOutcome};
use crate::time::Time;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A hold as the API shows it.
pub(crate) fn hold_view(hold: &LegalHold) -> Value {
    json!({
        "id": hold.id,
        "orgId": hold.org_id,
        "recordingId": hold.scope.recording,
        "personId": hold.scope.person,
        "from": hold.scope.from.map(Time::to_rfc3339),
        "to": hold.scope.to.map(Time::to_rfc3339),
        "reason": hold.reason,
        "createdBy": hold.created_by,
        "createTime": hold.created_at.to_rfc3339(),
        "releasedBy": hold.released_by,
        "releaseTime": hold.released_at.map(Time::to_rfc3339),
        "active": hold.released_at.is_none(),
    })
}

/// A hold's reason: 1-[`MAX_TEXT`] characters, trimmed.
pub(crate) fn hold_reason(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    match text.chars().count() {
        0 => Err(bad_request(
            "reason: required (why the recordings are held)",
        )),
        n if n > MAX_TEXT => Err(bad_request(format!(
            "reason: longer than {MAX_TEXT} characters"
        ))),
        _ => Ok(text.to_string()),
    }
}

/// What the audit row of a hold placed (`hold`) or released (`release`) says.
pub(crate) fn audit_view(
    action: &str,
    caller: &Caller,
    from: Option<Peer>,
    hold: &LegalHold,
) -> Value {
    json!({
        "action": action,
        "person": caller.person,
        "from": from.map(|Peer(peer)| peer.ip().to_string()),
        "hold": hold_view(hold),
    })
}

/// Puts the store's legal hold on (`on`) or off every object of `rows`, destination by
/// destination; what happened, for the API's answer:
/// `{"objects": n, "recordings": n, "catalogOnly": n, "failed": n}`.
pub(crate) async fn lock(state: &AdminState, rows: &[CatalogRecording], on: bool) -> Value {
    let mut by_destination: BTreeMap<&str, Vec<&CatalogRecording>> = BTreeMap::new();
    for row in rows {
        by_destination
            .entry(&row.destination)
            .or_default()
            .push(row);
    }
    let (mut objects, mut locked, mut catalog_only, mut failed) = (0, 0, 0, 0);
    for (name, rows) in by_destination {
        let dest = match destination(state, rows[0]).await {
            Ok(dest) => dest,
            Err(e) => {
                tracing::warn!(destination = name, error = %e.message, "legal_hold.lock_failed");
                failed += rows.len();
                continue;
            }
        };
        match object_lock::supported(&dest).await {
            Ok(LockOutcome::Set { .. }) => {}
            Ok(outcome) => {
                tracing::info!(
                    destination = name,
                    recordings = rows.len(),
                    store = ?outcome,
                    why = "the store cannot lock objects: the catalog's hold alone keeps them",
                    "legal_hold.catalog_only"
                );
                catalog_only += rows.len();
                continue;
            }
            Err(e) => {
                tracing::warn!(destination = name, error = %e, "legal_hold.lock_failed");
                failed += rows.len();
                continue;
            }
        }
        for row in rows {
            let keys: Vec<&str> = std::iter::once(row.metadata_key.as_str())
                .chain(row.files.iter().map(|f| f.key.as_str()))
                .collect();
            match object_lock::set(&dest, &keys, on).await {
                Ok(LockOutcome::Set { objects: n }) => {
                    objects += n;
                    locked += 1;
                }
                Ok(_) => catalog_only += 1,
                Err(e) => {
                    tracing::warn!(recording = %row.id, error = %e, "legal_hold.lock_failed");
                    failed += 1;
                }
            }
        }
    }
    json!({
        "objects": objects,
        "recordings": locked,
        "catalogOnly": catalog_only,
        "failed": failed,
    })
}
