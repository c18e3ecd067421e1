//! A recording as plain files in a folder (`record --out`): which names a call's files get,
//! and what happens to an earlier recording of the same call there.
//!
//! - **Names.** A call id that is already a plain file name names the files itself
//!   (`call-42.opus`, `call-42.json`). Any other id is folded to one (`[A-Za-z0-9._-]`) and
//!   gets 8 hex digits of its SHA-256 (`a_b-3f2c9e1d`): `a@b` and `a#b` fold alike, and would
//!   otherwise share, and overwrite, each other's files. The sidecar keeps the id as given.
//! - **An earlier recording** is one whose sidecar (`NAME.json`) is there. It is never
//!   replaced silently: without `--force` the run is refused before any work; with it, the
//!   new recording is made, then every media file the old sidecar names and the new one does
//!   not is removed (a change of format or layout leaves nothing stale behind).
//! - **Partial files** of these names that an interrupted run left are removed first.

use crate::failure::Failure;
use crate::output::notice;
use callrec::store::key::safe_file_name;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The stem of a call's files in the folder.
pub fn file_stem(call_id: &str) -> String {
    let safe = safe_file_name(call_id);
    if safe == call_id {
        return safe;
    }
    let digest = Sha256::digest(call_id.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    let readable: String = safe.chars().take(110).collect();
    format!("{readable}-{hash}")
}

/// The media file names a recording may have: one file (both legs) or one per leg, in
/// either format. What stale partial files are looked for under.
fn possible_media(stem: &str) -> Vec<String> {
    let mut names = Vec::new();
    for ext in ["opus", "wav"] {
        for suffix in ["", "-a", "-b"] {
            names.push(format!("{stem}{suffix}.{ext}"));
        }
    }
    names
}

/// An earlier recording of the same call in the folder, to be replaced (`--force`).
#[derive(Debug)]
pub struct Earlier {
    media: Vec<String>,
}

/// Looks at the folder before recording: refuses to replace an earlier recording of the same
/// call without `force`, refuses to touch another call's files, and removes stale partials.
pub fn prepare(
    dir: &Path,
    stem: &str,
    call_id: &str,
    force: bool,
) -> Result<Option<Earlier>, Failure> {
    let sidecar = dir.join(format!("{stem}.json"));
    let earlier = match std::fs::read(&sidecar) {
        Ok(bytes) => Some(read_earlier(&sidecar, &bytes, call_id, force)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", sidecar.display()).into()),
    };
    for name in possible_media(stem) {
        let partial = dir.join(format!("{name}.partial"));
        match std::fs::remove_file(&partial) {
            Ok(()) => notice!("removed {} left by an interrupted run", partial.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::Failed(format!(
                    "cannot remove {}: {e}",
                    partial.display()
                )))
            }
        }
    }
    Ok(earlier)
}

fn read_earlier(
    sidecar: &Path,
    bytes: &[u8],
    call_id: &str,
    force: bool,
) -> Result<Earlier, Failure> {
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "{} is not a recording's metadata ({e}): move it away or choose another --out",
            sidecar.display()
        )
    })?;
    let recorded = document["call"]["id"].as_str().unwrap_or_default();
    if recorded != call_id {
        return Err(Failure::BadInput(format!(
            "{} belongs to call '{recorded}', not '{call_id}': choose another --out or --call-id",
            sidecar.display()
        )));
    }
    if !force {
        let when = document["call"]["start"].as_str().unwrap_or("unknown time");
        return Err(Failure::BadInput(format!(
            "{} already holds a recording of call '{call_id}' (call of {when}): --force replaces \
             it, or choose another --out or --call-id",
            sidecar.display()
        )));
    }
    let media = document["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        // Only plain names in this folder: a sidecar never sends a removal elsewhere.
        .filter(|name| Path::new(name).file_name().is_some_and(|n| n == *name))
        .filter(|name| !name.ends_with(".json"))
        .map(str::to_string)
        .collect();
    Ok(Earlier { media })
}

impl Earlier {
    /// Removes the earlier recording's media that the new one (`kept`) did not replace; the
    /// new sidecar is already written.
    pub fn remove_replaced(&self, dir: &Path, kept: &[String]) -> Result<Vec<PathBuf>, Failure> {
        let mut removed = Vec::new();
        for name in self.media.iter().filter(|n| !kept.contains(n)) {
            let path = dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Failure::Failed(format!(
                        "cannot remove the replaced {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_name_their_files_and_folded_ids_never_share_them() {
        assert_eq!(file_stem("call-42"), "call-42");
        let (at, hash) = (file_stem("a@b"), file_stem("a#b"));
        assert!(
            at.starts_with("a_b-") && hash.starts_with("a_b-"),
            "{at} {hash}"
        );
        assert_ne!(at, hash);
        assert_eq!(
            at,
            file_stem("a@b"),
            "the same id, the same name: re-runs find it"
        );
        assert_eq!(safe_file_name(&at), at, "a plain file name");
    }
}
