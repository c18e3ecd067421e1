//! Structured logs: one JSON object per line on stderr, with the time, the level, what
//! happened and, for a call, its Call-ID, so one `grep` follows a call through the server.

use serde_json::{json, Value};

/// Writes one log line: `event` names what happened, `fields` (an object) says the rest.
pub(crate) fn log(level: &str, event: &str, fields: Value) {
    let mut line = json!({
        "ts": crate::server::clock::now().to_rfc3339(),
        "level": level,
        "event": event,
    });
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    eprintln!("{line}");
}

pub(crate) fn info(event: &str, fields: Value) {
    log("info", event, fields);
}

pub(crate) fn warn(event: &str, fields: Value) {
    log("warn", event, fields);
}
