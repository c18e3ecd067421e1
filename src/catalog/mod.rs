//! The recordings catalog kept in step with the store: a row per stored recording in the policy
//! database ([`crate::policydb::recordings`]), built from the recording's metadata document
//! ([`entry`]), written as recordings are stored and moved, removed as they are deleted, compared
//! with the store and rebuilt from it ([`sync`]). Between `store` (which knows nothing of the
//! database) and `policydb` (which never interprets a document).

pub mod entry;
pub mod sync;
