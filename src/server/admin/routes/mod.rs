//! The admin API's handlers, one file a resource. A route file imports only the plumbing below
//! it (`extract`, `load`, `state`, `repo`, `auth`, `fields`), never another route file.

pub mod audit;
pub mod directory;
pub mod recording;
pub mod vendor;
