//! Recording policy: who is recorded, how, by which provider, kept how long. Pure types and
//! functions, no IO, no clock: operations take the documents they read (and `now`) and return
//! a [`Change`] (the documents to save, the migration to run) or a [`PolicyError`] that names
//! what to fix; [`effective_policy`] answers the recorder at call set-up. Persistence and the
//! admin HTTP API live elsewhere and speak these types' serde JSON.
//!
//! One module per job, read bottom-up (no module imports one above it; `tests/architecture.rs`
//! keeps it so):
//! - the words: `plan` (providers, plans, retention), `region` (who serves where), `model`
//!   (ids, administrators, vendor choices, licences), `error`, `settings` (a user's recording
//!   settings);
//! - the documents and what reads them: `organisation` (with its terms acceptances and
//!   provider accounts), `location` (follows its organisation), `user` (at a location);
//! - `change`: what an operation produced, holding the documents;
//! - `operations`: every operation, each in the file of the document it is a method of;
//! - what is computed from the documents: `terms` (what a provider is shown), `account` (what
//!   a provider's sync tool lists), `effective` (the decision), `index` (every document in
//!   memory, looked up by AOR at call set-up; kept current by `policydb::cache`), `api_json`
//!   (the platform's JSON for a user's settings).

pub mod account;
pub mod api_json;
pub(crate) mod change;
pub(crate) mod effective;
pub(crate) mod error;
pub mod index;
pub mod location;
pub mod model;
mod operations;
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
