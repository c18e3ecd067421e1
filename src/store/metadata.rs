//! What the store keeps about a recording beyond its media: the `storage` section added to the
//! metadata sidecar (whose recording, which plan, which retention since when), and the few
//! sidecar fields that listing, verifying, sweeping and migrating read back.

use super::envelope::Encryption;
use super::key::RetentionClass;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `storage` section of a stored recording's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageInfo {
    pub org: String,
    /// The recorded user (AOR or id), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The recorded user's location, when known (recordings from before it was kept have
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub provider: String,
    /// The plan name (`dubber-go`, ...).
    pub plan: String,
    #[serde(with = "class_text")]
    pub retention: RetentionClass,
    /// When the retention clock started (RFC 3339 UTC): when the recording was spooled, or
    /// when a plan migration last re-classed it.
    pub retained_since: String,
}

impl StorageInfo {
    /// When the recording may be deleted; `None` when kept without limit or unreadable.
    pub fn expiry(&self) -> Option<Time> {
        let RetentionClass::Days(days) = self.retention else {
            return None;
        };
        let since = Time::parse_rfc3339(&self.retained_since)?;
        Some(since + Duration::from_secs(u64::from(days) * 86_400))
    }

    /// The object tags: `retention`, `provider`, `plan` (the plan's name, e.g. `dubber-go`).
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            ("retention".into(), self.retention.to_string()),
            ("provider".into(), self.provider.clone()),
            ("plan".into(), self.plan.clone()),
        ]
    }
}

/// The parts of a stored metadata document that the store reads back.
#[derive(Clone, Debug, Deserialize)]
pub struct StoredMetadata {
    pub call: CallRef,
    pub files: Vec<FileRef>,
    pub storage: StorageInfo,
    /// How the media is encrypted, when it is ([`super::envelope`]).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CallRef {
    pub id: String,
    /// The SIP Call-ID of a live call (absent for recordings of captures).
    #[serde(default)]
    pub sip_call_id: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub duration_secs: f64,
}

/// A media file as the sidecar lists it.
#[derive(Clone, Debug, Deserialize)]
pub struct FileRef {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Replaces (or adds) the `storage` section of a metadata document, keeping every other field.
pub fn with_storage(document: &[u8], storage: &StorageInfo) -> Result<Vec<u8>, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(document)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("storage".into(), serde_json::to_value(storage)?);
    }
    serde_json::to_vec_pretty(&value)
}

/// Replaces (or adds) the `encryption` section of a metadata document, keeping every other
/// field: when a job is encrypted, and when its data key is rewrapped.
pub fn with_encryption(
    document: &[u8],
    encryption: &Encryption,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(document)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("encryption".into(), serde_json::to_value(encryption)?);
    }
    serde_json::to_vec_pretty(&value)
}

mod class_text {
    use super::RetentionClass;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        class: &RetentionClass,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(class)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RetentionClass, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(retention: RetentionClass) -> StorageInfo {
        StorageInfo {
            org: "acme".into(),
            user: Some("alice".into()),
            location: None,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention,
            retained_since: "2026-11-01T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn expiry_counts_whole_days_from_retained_since() {
        let since = Time::parse_rfc3339("2026-11-01T10:00:00Z").expect("valid");
        let expiry = info(RetentionClass::Days(30)).expiry().expect("expires");
        assert_eq!(
            expiry.saturating_since(since),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(info(RetentionClass::Unlimited).expiry(), None);
    }

    #[test]
    fn storage_section_replaces_and_reads_back() {
        let sidecar = br#"{"call":{"id":"c1","start":null,"duration_secs":1.5},
            "files":[{"name":"c1.opus","legs":"both","bytes":10,"duration_secs":1.5,"sha256":"ab"}],
            "storage":{"old":true}}"#;
        let doc = with_storage(sidecar, &info(RetentionClass::Days(30))).expect("json");
        let back: StoredMetadata = serde_json::from_slice(&doc).expect("readable");
        assert_eq!(back.storage, info(RetentionClass::Days(30)));
        assert_eq!(back.files[0].bytes, 10);
        assert_eq!(back.call.id, "c1");
        let tags = back.storage.tags();
        assert_eq!(tags[0], ("retention".to_string(), "30d".to_string()));
    }
}
