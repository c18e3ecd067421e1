//! Completion events: what an organisation's webhook is told when one of its recordings is
//! stored or deleted, signed so the receiver knows it came from us and is fresh. Pure: the
//! event bodies, the signature, the URL rules and the retry schedule, all with time as an
//! input. Owns no queue and sends nothing: the outbox is a table of the policy database
//! ([`crate::policydb::webhooks`]) and the deliverer is the server's
//! (`server::webhooks`).
//!
//! **The contract with a receiver** (README "Completion events"):
//! - One `POST` of `application/json` per event; a 2xx answer is delivery, anything else (or
//!   no answer within the timeout) is retried with capped exponential backoff and jitter,
//!   until `webhooks.give_up_secs` after the event was written (default 24 h).
//! - **At least once.** An event may arrive more than once (a worker stopped between the
//!   receiver's 2xx and the outbox row's update); `callrec-event-id` (also the body's `id`)
//!   names it, and a receiver drops the ids it has seen. In the normal case each id arrives
//!   once.
//! - **Signed** ([`sign`]): `callrec-signature: t=UNIX_SECONDS,v1=HEX` where HEX is
//!   HMAC-SHA256 keyed with the secret's UTF-8 bytes over `"{t}.{body}"` (the exact body
//!   bytes). A receiver recomputes it, compares in constant time, and rejects a `t` more than
//!   [`TOLERANCE_SECS`] from its own clock (a replayed request carries its old `t`, and `t`
//!   cannot be changed without the secret).

pub mod schedule;
pub mod sign;
pub mod target;

use crate::time::Time;
use serde_json::{json, Value};

/// A recording was stored: its media and metadata document are in the store and its catalog
/// row written.
pub const STORED: &str = "recording.stored";
/// A recording was deleted: by a person through the API, or by the sweeper at its expiry.
pub const DELETED: &str = "recording.deleted";

/// How far a signature's `t` may be from the receiver's clock before the receiver should
/// reject it as a replay (what [`sign::verify`] applies): five minutes.
pub const TOLERANCE_SECS: u64 = 300;

/// The body of event `id` of `event_type` for recording `recording_id` of `org_id`, written
/// at `at`, with what is known of the recording in `data` (its `recordingId` is added).
pub fn body(
    id: &str,
    event_type: &str,
    org_id: &str,
    recording_id: &str,
    at: Time,
    mut data: serde_json::Map<String, Value>,
) -> String {
    data.insert("recordingId".into(), Value::from(recording_id));
    json!({
        "id": id,
        "type": event_type,
        "orgId": org_id,
        "createdAt": at.to_rfc3339(),
        "data": data,
    })
    .to_string()
}

/// A new event id: `evt_` and 128 random bits in hex; `None` when the system has no
/// randomness.
pub fn new_event_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("evt_{}", hex(&bytes)))
}

/// A new signing secret: `whsec_` and 256 random bits in hex.
pub fn new_secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("whsec_{}", hex(&bytes)))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_names_the_event_the_organisation_and_the_recording() {
        let mut data = serde_json::Map::new();
        data.insert("reason".into(), "expired".into());
        let text = body(
            "evt_1",
            DELETED,
            "acme",
            "rec-9",
            Time::from_nanos(1_765_000_000_000_000_000),
            data,
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "recording.deleted");
        assert_eq!(v["orgId"], "acme");
        assert_eq!(v["createdAt"], "2025-12-06T05:46:40.000Z");
        assert_eq!(v["data"]["recordingId"], "rec-9");
        assert_eq!(v["data"]["reason"], "expired");
    }

    #[test]
    fn ids_and_secrets_are_fresh_each_time() {
        let (a, b) = (new_event_id().unwrap(), new_event_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert!(new_secret().unwrap().starts_with("whsec_"));
    }
}
