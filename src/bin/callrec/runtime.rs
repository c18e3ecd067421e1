//! The binary's one tokio runtime builder. The library never starts a runtime: every command
//! that does IO builds one here, in one of two shapes, with one refusal if it cannot.

use tokio::runtime::{Builder, Runtime};

/// A worker thread per core: the server (`serve`, `token` beside it) and the load test,
/// which run many connections at once.
pub fn runtime() -> Result<Runtime, String> {
    build(Builder::new_multi_thread())
}

/// One thread: a command that makes its requests in turn and exits (`storage`, `retention`,
/// `policy`, `record` into a store).
pub fn current_thread() -> Result<Runtime, String> {
    build(Builder::new_current_thread())
}

fn build(mut builder: Builder) -> Result<Runtime, String> {
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the IO runtime: {e}"))
}
