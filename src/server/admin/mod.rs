//! The admin HTTP API (axum): health, metrics, and, behind a bearer token, the recording policy
//! of the caller's organisations. Arrows point down only: `router` names the `routes` (one
//! file a resource, handlers only, never importing each other); they take their requests
//! through `extract`, check and name their fields with `fields`, change documents through
//! `load`, read them through `repo`, and answer with `state`'s errors; `auth` says who is
//! calling, `throttle` slows down whoever keeps failing to say so. The recordings routes ask
//! `recording_access` who may do what, sign their audio links with `recording_link`, name
//! downloads with `recording_name` and cut them with `byte_range` (all four pure), and decrypt
//! the audio of recordings encrypted at rest with `sealed_audio`. None of
//! these imports `routes` or `router`. `portal` is the recordings portal's page and assets,
//! served as they are: it imports nothing of the API's.

mod auth;
mod byte_range;
mod extract;
mod fields;
mod legal_hold;
mod load;
mod portal;
mod recording_access;
mod recording_link;
mod recording_name;
mod recording_store;
mod repo;
mod router;
mod routes;
mod sealed_audio;
mod state;
mod throttle;

pub use auth::{Caller, Role};
pub use recording_link::LinkKey;
pub use router::router;
pub use state::{AdminState, ApiError, Metrics, Peer, WorkerInfo};
pub use throttle::{AuthThrottle, FAILURES_ALLOWED};
