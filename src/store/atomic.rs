//! Durable whole-file writes, the one way callrec writes a document that must survive a crash
//! whole: a spool job's manifest, a live job's descriptor, `callrec record`'s sidecar. The
//! bytes go to `NAME.partial`, are fsynced, renamed over `NAME`, and the directory is fsynced,
//! so a crash or power cut leaves the old document or the new one, never a torn one.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Writes (or replaces) `path` with `bytes` atomically and durably: write `PATH.partial`,
/// fsync, rename, fsync the directory. Errors are the IO errors as they come (the caller says
/// what it was writing), but for the directory sync's, which names the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let mut file = File::create(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    sync_parent(path)
}

/// A rename is durable only once its directory is synced.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| named(dir, e))
}

/// `e`, its message prefixed with the path it happened on.
pub(crate) fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty directory of this test's own (tests of one binary run in parallel).
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("callrec-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    }

    #[test]
    fn it_writes_then_replaces_the_whole_file_and_leaves_no_partial() {
        let dir = scratch("replace");
        let path = dir.join("call.v1.json");
        write_atomically(&path, b"{\"first\": true}").expect("first write");
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"first\": true}");
        write_atomically(&path, b"{}").expect("second write");
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["call.v1.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_document() {
        let dir = scratch("fail");
        let path = dir.join("job.json");
        write_atomically(&path, b"old").expect("first write");
        // The partial name is taken by a directory: the write fails before the rename.
        std::fs::create_dir(dir.join("job.json.partial")).unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
