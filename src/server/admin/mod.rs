//! The admin HTTP API (axum): health, metrics, and, behind a bearer token, the recording policy
//! of the caller's organisations. Arrows point down only: `router` names the `routes` (one
//! file a resource, handlers only, never importing each other); they take their requests
//! through `extract`, check and name their fields with `fields`, change documents through
//! `load`, read them through `repo`, and answer with `state`'s errors; `auth` says who is
//! calling, `throttle` slows down whoever keeps failing to say so. None of these imports
//! `routes` or `router`. `portal` is the recordings portal's page and assets, served as they
//! are: it imports nothing of the API's.

mod auth;
mod extract;
mod fields;
mod load;
mod portal;
mod repo;
mod router;
mod routes;
mod state;
mod throttle;

pub use auth::{Caller, Role};
pub use router::router;
pub use state::{AdminState, ApiError, Metrics, Peer};
pub use throttle::{AuthThrottle, FAILURES_ALLOWED};
