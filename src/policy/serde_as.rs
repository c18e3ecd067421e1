//! How values of types this module does not own are written in JSON documents. Owns nothing
//! else; must never lose precision, so a document read back equals the one written.

/// [`Time`] as RFC 3339 UTC with nanoseconds (`2026-11-25T15:52:20.123456789Z`): readable in
/// an audit trail, and exact.
pub(super) mod rfc3339 {
    use crate::time::Time;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(time: &Time, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = time.to_rfc3339();
        let seconds = millis.split_once('.').map_or(millis.as_str(), |(s, _)| s);
        let nanos = time.as_nanos() % 1_000_000_000;
        serializer.collect_str(&format_args!("{seconds}.{nanos:09}Z"))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Time, D::Error> {
        let text = String::deserialize(deserializer)?;
        Time::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("'{text}' is not an RFC 3339 UTC time"))
        })
    }
}

/// [`RetentionClass`](crate::store::key::RetentionClass) as its tag value (`30d`,
/// `unlimited`).
pub(super) mod retention {
    use crate::store::key::RetentionClass;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        class: &RetentionClass,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(class)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RetentionClass, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::key::RetentionClass;
    use crate::time::Time;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        #[serde(with = "super::rfc3339")]
        at: Time,
        #[serde(with = "super::retention")]
        class: RetentionClass,
    }

    #[test]
    fn times_and_classes_round_trip_exactly() {
        let doc = Doc {
            at: Time::from_nanos(1_764_085_940_123_456_789),
            class: RetentionClass::Days(30),
        };
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(
            json,
            r#"{"at":"2025-11-25T15:52:20.123456789Z","class":"30d"}"#
        );
        assert_eq!(serde_json::from_str::<Doc>(&json).unwrap(), doc);
        let bad = r#"{"at":"yesterday","class":"unlimited"}"#;
        let err = serde_json::from_str::<Doc>(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("'yesterday' is not an RFC 3339 UTC time"),
            "{err}"
        );
    }
}
