//! The admin API's handlers, one file a resource. A route file imports only the plumbing below
//! it (`extract`, `load`, `state`, `repo`, `auth`, `fields`), never another route file.

pub(super) mod audit;
pub(super) mod directory;
pub(super) mod legal_holds;
pub(super) mod recording;
pub(super) mod recordings;
pub(super) mod token;
pub(super) mod vendor;
pub(super) mod webhook;
