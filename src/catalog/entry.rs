//! A recording's catalog row, read from its stored metadata document: the one function the
//! uploader (a recording just stored), plan migration (moved) and `storage reindex` (the whole
//! catalog rebuilt) share, so a row always says what the document says.
//! The call's direction is the one signalling wrote in the sidecar (`input.siprec.direction`,
//! see `session::direction`); recordings without it (captures, older sidecars) are `unknown`.

use crate::policydb::recordings::{CatalogFile, CatalogRecording, Direction, Participant};
use crate::store::key::{segment, RecordingDir};
use crate::store::metadata::StorageInfo;
use crate::time::Time;
use serde::Deserialize;
use serde_json::Value;

/// The parts of a metadata document the catalog reads (the sidecar writes many more).
#[derive(Deserialize)]
struct Document {
    call: Call,
    files: Vec<File>,
    storage: StorageInfo,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct Call {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    duration_secs: f64,
    /// Set by recovery (`recovered`).
    #[serde(default)]
    ended: Option<String>,
}

#[derive(Deserialize)]
struct File {
    name: String,
    bytes: u64,
    sha256: String,
    #[serde(default)]
    legs: Option<String>,
}

/// The row for the recording whose metadata document (at `metadata_key`, in `dir`, in the
/// destination named `destination`) is `document`. Fails only on a document that is not one.
pub fn entry(
    destination: &str,
    dir: &RecordingDir,
    metadata_key: &str,
    document: &[u8],
    stored_at: Time,
) -> Result<CatalogRecording, String> {
    let doc: Document = serde_json::from_slice(document).map_err(|e| e.to_string())?;
    let since = Time::parse_rfc3339(&doc.storage.retained_since);
    let start = doc
        .call
        .start
        .as_deref()
        .and_then(Time::parse_rfc3339)
        .or(since)
        .unwrap_or(stored_at);
    let duration_ms = (doc.call.duration_secs.max(0.0) * 1000.0).round() as u64;
    let end = doc
        .call
        .end
        .as_deref()
        .and_then(Time::parse_rfc3339)
        .unwrap_or(start + std::time::Duration::from_millis(duration_ms));
    let siprec = doc.input.as_ref().and_then(|i| i.get("siprec"));
    let (participants, direction) = parties(siprec);
    let prefix = dir.prefix();
    let files: Vec<CatalogFile> = doc
        .files
        .iter()
        .map(|f| CatalogFile {
            name: f.name.clone(),
            key: format!("{prefix}{}", segment(&f.name)),
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            legs: f.legs.clone().unwrap_or_else(|| "both".into()),
        })
        .collect();
    let format = files
        .first()
        .and_then(|f| f.name.rsplit_once('.'))
        .map_or("", |(_, ext)| ext)
        .to_ascii_lowercase();
    let ended = doc
        .call
        .ended
        .clone()
        .or_else(|| text(siprec, "end"))
        .unwrap_or_else(|| "completed".into());
    Ok(CatalogRecording {
        id: doc.call.id,
        org_id: doc.storage.org.clone(),
        person: doc.storage.user.clone(),
        location: doc.storage.location.clone(),
        participants,
        direction,
        kind: doc.call.kind.unwrap_or_else(|| "call".into()),
        start,
        end,
        duration_ms,
        provider: doc.storage.provider.clone(),
        plan: doc.storage.plan.clone(),
        retention: doc.storage.retention.to_string(),
        expires_at: doc.storage.expiry(),
        legal_hold: false,
        size_bytes: files.iter().map(|f| f.bytes).sum(),
        sha256: files.first().map(|f| f.sha256.clone()).unwrap_or_default(),
        format: if format == "ogg" {
            "opus".into()
        } else {
            format
        },
        destination: destination.to_owned(),
        prefix,
        files,
        metadata_key: metadata_key.to_owned(),
        ended,
        stored_at,
    })
}

fn text(value: Option<&Value>, field: &str) -> Option<String> {
    value?.get(field)?.as_str().map(str::to_owned)
}

/// The call's parties as the recording client named them, and which way the call went.
fn parties(siprec: Option<&Value>) -> (Vec<Participant>, Direction) {
    let strings = |v: &Value, field: &str| -> Vec<String> {
        v.get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let participants: Vec<Participant> = siprec
        .and_then(|s| s.get("participants"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| Participant {
                    names: strings(p, "names"),
                    addresses: strings(p, "aors"),
                })
                .collect()
        })
        .unwrap_or_default();
    let direction = match text(siprec, "direction").as_deref() {
        Some("outbound") => Direction::Outbound,
        Some("inbound") => Direction::Inbound,
        _ => Direction::Unknown,
    };
    (participants, direction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key::RetentionClass;

    fn dir() -> RecordingDir {
        RecordingDir {
            class: RetentionClass::Days(30),
            org: "acme".into(),
            date: (2026, 11, 25),
            call: "c-1".into(),
        }
    }

    fn document(direction: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "call": {"id": "c-1", "kind": "call", "start": "2026-11-25T10:02:00.000Z",
                     "end": "2026-11-25T10:03:30.500Z", "duration_secs": 90.5},
            "files": [{"name": "c-1.opus", "legs": "both", "bytes": 1200, "sha256": "ab"}],
            "storage": {"org": "acme", "user": "alice", "location": "paris",
                        "provider": "dubber", "plan": "dubber-go", "retention": "30d",
                        "retained_since": "2026-11-25T10:03:31.000Z"},
            "input": {"siprec": {"direction": direction, "end": "bye", "participants": [
                {"id": "p1", "names": ["Alice"], "aors": ["sip:alice@example.com"]},
                {"id": "p2", "names": [], "aors": ["tel:+15550100"]}]}}
        }))
        .expect("json")
    }

    #[test]
    fn a_row_says_what_the_document_says() {
        let stored = Time::parse_rfc3339("2026-11-25T10:03:40Z").expect("time");
        let key = "recordings/30d/acme/2026/11/25/c-1/c-1.json";
        let row = entry(".", &dir(), key, &document("outbound"), stored).expect("a document");
        assert_eq!((row.id.as_str(), row.org_id.as_str()), ("c-1", "acme"));
        assert_eq!(row.person.as_deref(), Some("alice"));
        assert_eq!(row.location.as_deref(), Some("paris"));
        assert_eq!(row.duration_ms, 90_500);
        assert_eq!(row.end.to_rfc3339(), "2026-11-25T10:03:30.500Z");
        assert_eq!(row.participants[1].addresses, ["tel:+15550100"]);
        assert_eq!(row.direction, Direction::Outbound);
        assert_eq!(row.ended, "bye");
        assert_eq!(row.format, "opus");
        assert_eq!(row.size_bytes, 1200);
        assert_eq!(
            row.files[0].key,
            "recordings/30d/acme/2026/11/25/c-1/c-1.opus"
        );
        assert_eq!(
            row.expires_at.map(Time::to_rfc3339).as_deref(),
            Some("2026-12-25T10:03:31.000Z")
        );
    }

    #[test]
    fn direction_is_the_one_signalling_wrote_else_unknown() {
        let stored = Time::from_nanos(0);
        let of = |direction: &str| {
            entry(".", &dir(), "k", &document(direction), stored)
                .expect("a document")
                .direction
        };
        assert_eq!(of("inbound"), Direction::Inbound);
        assert_eq!(of("sideways"), Direction::Unknown);
    }

    #[test]
    fn what_is_not_a_metadata_document_is_refused() {
        assert!(entry(".", &dir(), "k", b"[1,2]", Time::from_nanos(0)).is_err());
    }
}
