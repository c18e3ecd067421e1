//! Ctrl-C during `record`: the files of the unfinished recording (its `.partial` media, or
//! its spool job) are removed, and the process ends with 130 (128 + SIGINT, as a shell
//! reports it). Without this, an interrupted run leaves partial files nobody removes.
//!
//! The handler and the recording share one list under a lock: the recording holds the lock
//! while it makes its files final, so an interrupt then waits and finds nothing left to
//! remove; it never removes a file half-renamed.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// What an interrupt removes now: files, and directories (a spool job).
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the handler; until [`watch`] names something, an interrupt only ends the process.
pub fn install() -> Result<(), String> {
    ctrlc::set_handler(|| {
        for path in unfinished().drain(..) {
            let _ = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
        }
        eprintln!("callrec: interrupted: the unfinished recording was removed");
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot watch for Ctrl-C: {e}"))
}

/// Names what an interrupt removes from now on.
pub fn watch(paths: impl IntoIterator<Item = PathBuf>) {
    unfinished().extend(paths);
}

/// Runs `finish` (making the recording's files final) with interrupts held off, then forgets
/// the list: from here on the recording is complete and an interrupt removes nothing.
pub fn finishing<T>(finish: impl FnOnce() -> T) -> T {
    let mut list = unfinished();
    let result = finish();
    list.clear();
    result
}
