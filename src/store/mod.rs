//! Recordings in object storage: key layout and retention classes (so far). Knows nothing of
//! RTP; the spool, uploads, lifecycle rules and the sweeper come with the storage work.

pub mod key;
pub mod lifecycle;
pub mod s3;
