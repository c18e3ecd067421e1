//! How the admin API spells what its requests and responses carry: ids and free text (and the
//! 400 naming the field when one is not), what each field of a body accepts (for the 400 of a
//! value of the wrong type), and vendors by id (`dubber`, `imagicle`,
//! `callcabinet`, `none` for recording off) and by the name the platform shows. Must never
//! decide policy nor read a document.

use super::state::{bad_request, ApiError};
use crate::policy::model::{LocationProvider, ProviderChoice};
use crate::policy::plan::Provider;
use crate::policy::settings::{Mode, NotificationType, ReminderInterval};
use crate::time::Time;

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

/// A body that did not read, as a 400: a value of the wrong type names its field (`path`, as
/// `serde_path_to_error` writes it) and what the field accepts, in the API's words rather than
/// Rust's; any other fault (a missing or unknown field) keeps serde's words, with the path
/// when it is not the body itself.
pub(crate) fn body_refusal(path: &str, e: serde_json::Error) -> ApiError {
    let message = e.to_string();
    let wrong_type = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "));
    match (path, wrong_type) {
        (".", _) => bad_request(format!("invalid JSON body: {message}")),
        (path, Some((found, expected))) => bad_request(format!(
            "{path}: must be {}, not {found}",
            accepts(path, expected)
        )),
        (path, None) => bad_request(format!("invalid JSON body: {path}: {message}")),
    }
}

/// What the field at `path` accepts: the settings' fields by name (their values are a range
/// or a list), any other by the type serde `expected`.
fn accepts(path: &str, expected: &str) -> String {
    let one_of = |names: &[&str]| format!("one of {}", names.join(", "));
    match path {
        "repeat.interval" => format!(
            "a whole number of seconds from {} to {}",
            ReminderInterval::MIN,
            ReminderInterval::MAX
        ),
        "record" => one_of(&Mode::ALL.map(Mode::name)),
        "notification.type" => one_of(&NotificationType::ALL.map(NotificationType::name)),
        _ => match expected {
            "a boolean" => "true or false".into(),
            "a string" | "a borrowed string" => "a string".into(),
            "a sequence" => "a JSON array".into(),
            "a map" => "a JSON object".into(),
            e if e.starts_with("struct ") => "a JSON object".into(),
            e if e.starts_with('u') && e[1..].parse::<u8>().is_ok() => "a whole number".into(),
            e if e.starts_with('i') && e[1..].parse::<u8>().is_ok() => "a whole number".into(),
            other => other.into(),
        },
    }
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

/// `from`/`to`: an RFC 3339 UTC time, or a date (its midnight, UTC).
pub(crate) fn instant(field: &str, text: &str) -> Result<Time, ApiError> {
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        _ => text.to_string(),
    };
    Time::parse_rfc3339(&full).ok_or_else(|| {
        bad_request(format!(
            "{field}: '{text}' is neither an RFC 3339 UTC time (2026-11-25T10:00:00Z) nor a \
             date (2026-11-25)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `serde_path_to_error` makes of `json` read as `T`, refused.
    fn refusal<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let e = serde_path_to_error::deserialize::<_, T>(value).expect_err("refused");
        let path = e.path().to_string();
        body_refusal(&path, e.into_inner()).message
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only to be refused
    struct Repeat {
        interval: u64,
        enabled: bool,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        record: String,
        repeat: Repeat,
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_naming_its_field_and_what_it_accepts() {
        let cases = [
            (
                r#"{"record": "Always", "repeat": {"interval": "20", "enabled": true}}"#,
                r#"repeat.interval: must be a whole number of seconds from 10 to 90, not string "20""#,
            ),
            (
                r#"{"record": "Always", "repeat": {"interval": 20, "enabled": "yes"}}"#,
                r#"repeat.enabled: must be true or false, not string "yes""#,
            ),
            (
                r#"{"record": 3, "repeat": {"interval": 20, "enabled": true}}"#,
                "record: must be one of Never, Always, Always with Pause/Resume, On Demand with \
                 User Initiated Start, not integer `3`",
            ),
            (
                r#"{"record": "Always", "repeat": 20}"#,
                "repeat: must be a JSON object, not integer `20`",
            ),
            (
                r#"{"record": "Always"}"#,
                "invalid JSON body: missing field `repeat`",
            ),
            (
                r#"{"record": "Always", "repeat": {"interval": 20, "enabled": true, "x": 1}}"#,
                "invalid JSON body: repeat.x: unknown field `x`, expected `interval` or `enabled`",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(refusal::<Settings>(json), expected, "{json}");
        }
    }

    #[test]
    fn max_text_bounds_names() {
        assert!(check_text("name", &"x".repeat(MAX_TEXT)).is_ok());
        let err = check_text("name", &"x".repeat(MAX_TEXT + 1)).unwrap_err();
        assert_eq!(err.message, "name: must be 1-256 characters, not 257");
    }
}
