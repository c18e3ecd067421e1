//! How the admin API spells what its requests and responses carry: ids and free text (and the
//! 400 naming the field when one is not), and vendors by id (`dubber`, `imagicle`,
//! `callcabinet`, `none` for recording off) and by the name the platform shows. Must never
//! decide policy nor read a document.

use super::state::{bad_request, ApiError};
use crate::policy::model::{LocationProvider, ProviderChoice};
use crate::policy::plan::Provider;

/// Longest id (organisation, location, user) accepted.
pub(crate) const MAX_ID: usize = 128;

/// Longest name or other free text accepted.
pub(crate) const MAX_TEXT: usize = 256;

/// An id in a body: 1-[`MAX_ID`] characters that need no escaping in a URL path.
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(fine) {
        return Err(bad_request(format!(
            "{field}: '{id}' is not an id (1-{MAX_ID} of A-Z a-z 0-9 - _ . ~)"
        )));
    }
    Ok(())
}

/// Free text: 1-[`MAX_TEXT`] characters, no control characters.
pub(crate) fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    let len = text.chars().count();
    if len == 0 || len > MAX_TEXT {
        return Err(bad_request(format!(
            "{field}: must be 1-{MAX_TEXT} characters, not {len}"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(bad_request(format!(
            "{field}: control characters are not allowed"
        )));
    }
    Ok(())
}

/// A vendor's id in JSON: `dubber`, `imagicle`, `callcabinet`, or `none` (recording off).
pub(crate) fn vendor_id(choice: ProviderChoice) -> &'static str {
    choice.provider().map_or("none", Provider::as_str)
}

/// A vendor's name as the platform shows it: `Dubber`, ..., `None`.
pub(crate) fn vendor_name(choice: ProviderChoice) -> &'static str {
    choice.provider().map_or("None", Provider::name)
}

const VENDOR_IDS: &str = "dubber, imagicle, callcabinet, none";

pub(crate) fn parse_vendor(field: &str, id: &str) -> Result<ProviderChoice, ApiError> {
    ProviderChoice::ALL
        .into_iter()
        .find(|c| vendor_id(*c) == id)
        .ok_or_else(|| bad_request(format!("{field}: '{id}' is not one of {VENDOR_IDS}")))
}

/// A vendor that is a provider (terms, accounts, sync listings).
pub(crate) fn parse_provider(field: &str, id: &str) -> Result<Provider, ApiError> {
    Provider::ALL
        .into_iter()
        .find(|p| p.as_str() == id)
        .ok_or_else(|| {
            bad_request(format!(
                "{field}: '{id}' is not one of dubber, imagicle, callcabinet"
            ))
        })
}

pub(crate) fn location_vendor(field: &str, id: Option<&str>) -> Result<LocationProvider, ApiError> {
    match id {
        None => Ok(LocationProvider::OrganisationDefault),
        Some(id) => parse_vendor(field, id).map(LocationProvider::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_text_bounds_names() {
        assert!(check_text("name", &"x".repeat(MAX_TEXT)).is_ok());
        let err = check_text("name", &"x".repeat(MAX_TEXT + 1)).unwrap_err();
        assert_eq!(err.message, "name: must be 1-256 characters, not 257");
    }
}
