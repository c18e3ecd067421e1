//! Recording policy: who is recorded, how, by which provider, kept how long. Pure types and
//! functions, no IO, no clock: operations take the documents they read (and `now`) and return
//! a [`Change`] (the documents to save, the migration to run) or a [`PolicyError`] that names
//! what to fix; [`effective_policy`] answers the recorder at call set-up. Persistence and the
//! admin HTTP API live elsewhere and speak these types' serde JSON.
//!
//! One module per job: `plan` (providers, plans, retention), `region` (who serves where),
//! `model` (ids, administrators, vendor choices), `settings` (a user's recording settings),
//! `organisation`, `location`, `user` (each entity and its operations), `terms` (acceptance
//! and disclosure), `account` (provider accounts and sync listings), `effective` (the
//! decision), `index` (every document in memory, looked up by AOR at call set-up; kept
//! current by `policydb::cache`), `api_json` (the platform's JSON for a user's settings),
//! `change`, `error`.

pub mod account;
pub mod api_json;
pub mod change;
pub mod effective;
pub mod error;
pub mod index;
pub mod location;
pub mod model;
pub mod organisation;
pub mod plan;
pub mod region;
mod serde_as;
pub mod settings;
pub mod terms;
pub mod user;

pub use change::{Change, RetentionMigration};
pub use effective::{effective_policy, Decision, Reason, RecordingPolicy, Storage};
pub use error::PolicyError;
