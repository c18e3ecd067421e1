//! The IO shell of `callrec serve`: sockets, the tokio runtime, HTTP. So far the admin API
//! (roles and bearer tokens, health, metrics); SIP and the media shards come with the SIPREC
//! server. Decides nothing itself: policy decisions live in `policy`, storage in `policydb`.

pub mod admin;
pub mod auth;
