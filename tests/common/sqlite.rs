//! A SQLite policy database file of a test's own under the system temp dir, removed with its
//! write-ahead log and shared memory when dropped (and before use, if an earlier run left one).

use std::path::{Path, PathBuf};

pub struct SqliteFile {
    pub path: PathBuf,
}

impl SqliteFile {
    /// `callrec-{prefix}-{test}-{pid}.sqlite`: `prefix` names the test binary, the process id
    /// keeps two runs apart.
    pub fn new(prefix: &str, test: &str) -> SqliteFile {
        let name = format!("callrec-{prefix}-{test}-{}.sqlite", std::process::id());
        let file = SqliteFile {
            path: std::env::temp_dir().join(name),
        };
        remove(&file.path);
        file
    }

    /// The URL callrec opens it by.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
