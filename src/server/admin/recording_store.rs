//! The store a catalogued recording is in, opened as the recordings routes need it: the
//! organisation's own bucket with its own credentials when it has one. Must never decide who
//! may reach a recording (`recording_access` does).

use super::repo;
use super::state::{AdminState, ApiError};
use crate::policydb::recordings::CatalogRecording;
use crate::server::open_store::open_url;
use crate::store::destination::{owned_parts, Destination};
use axum::http::StatusCode;

/// The destination `row` is stored in.
pub(crate) async fn destination(
    state: &AdminState,
    row: &CatalogRecording,
) -> Result<Destination, ApiError> {
    let storage = match owned_parts(&row.destination) {
        Some((org, _)) => repo::organisation(&state.db, org)
            .await?
            .and_then(|o| o.value.customer_storage),
        None => None,
    };
    open_url(&state.config, true, storage, &row.destination).map_err(store_failed)
}

/// A 502 naming what the recording's store did.
pub(crate) fn store_failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!("the recording's store failed: {e}"),
    )
}
