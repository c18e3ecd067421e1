//! What the server's logs are made of: `tracing` events and one span per call. The library
//! never prints and never installs a subscriber; the binary does (`callrec`'s `logging.rs`:
//! one JSON object per line on stderr, levels from `-q`/`-v` and `CALLREC_LOG`).
//!
//! The conventions every event here follows, so one `grep` follows a call and the lines stay
//! what operators and tests already read:
//! - An event's message is its name, dotted and stable (`call.start`, `upload.stored`); the
//!   subscriber writes it as `"event"`. Names are never reworded: alerts and scripts match
//!   them.
//! - Levels: `error` lost a recording or cannot go on; `warn` something went wrong that the
//!   server works around (a failed upload retried, a refused connection); `info` a call's or
//!   a job's milestones (at most a handful per call); `debug` each SIP request and the
//!   settings the server chose. Nothing is logged per packet: the media path (media sockets,
//!   a shard's packet handling, the recorder) emits no event and enters no span per packet.
//! - A call's events are emitted inside its span ([`call_span`]), which carries the Call-ID
//!   and the recording's name; the subscriber writes span fields at the top level of each
//!   line beside the event's own, so events deep in a call (a shard thread's `call.spooled`)
//!   carry `call_id` without passing it down. Signalling enters the span while it handles
//!   the call's messages, the task that stores the call runs in it (`.instrument`), and the
//!   shard enters its own span of the call (same fields) only to report the call's end or
//!   failure. The media socket tasks are deliberately not instrumented: an instrumented
//!   task enters its span at every poll, which is every datagram, and the env filter takes
//!   a lock on each enter; they emit no event, and what they saw is reported by the store
//!   task.
//! - Fields are flat: strings, numbers, booleans. A nested value (a list of participants, a
//!   stream's description) is written as one field holding its JSON text (`%value` of a
//!   `serde_json::Value`), because `tracing` cannot record structures while its `valuable`
//!   support is unstable. A reader parses that field's string again; a `grep` still finds it.
//! - A field whose value may be absent (`Option`) is left out of the line when absent.

/// The span a call's work runs in: signalling handling its messages, its media socket tasks,
/// the task that stores it, and its shard's reports. `recording` is the recording's name once
/// chosen (`tracing::field::Empty` until then; fill it with `span.record("recording", ..)`).
///
/// Spans are cheap but not free to enter: nothing enters one per packet.
pub(crate) fn call_span(call_id: &str) -> tracing::Span {
    tracing::info_span!("call", call_id = call_id, recording = tracing::field::Empty)
}

/// [`call_span`] with the recording's name already known (the shard's side of a call).
pub(crate) fn recording_span(call_id: &str, recording: &str) -> tracing::Span {
    let span = call_span(call_id);
    span.record("recording", recording);
    span
}
