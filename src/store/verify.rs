//! Re-reads stored recordings and checks every media file against the size and SHA-256 its
//! metadata recorded when it was made. A recording's own trouble (unreadable metadata, a
//! missing or altered file) is a problem in the answer; only the store failing is an error.

use super::catalog::{self, StoredRecording};
use super::destination::Destination;
use super::error::StoreError;
use super::key::segment;
use super::upload::sha256_of;
use object_store::path::Path;
use object_store::ObjectStoreExt;

/// What is wrong with one stored recording; empty when it is intact.
pub async fn check(
    dest: &Destination,
    recording: &StoredRecording,
) -> Result<Vec<String>, StoreError> {
    let metadata = match catalog::read_metadata(dest, recording).await {
        Ok(Some((_, metadata))) => metadata,
        Ok(None) => return Ok(vec!["no metadata (upload or move incomplete)".into()]),
        // One unreadable document is this recording's problem, not the walk's end.
        Err(e) if catalog::is_about_this_recording(&e) => return Ok(vec![e.to_string()]),
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    let prefix = recording.dir.prefix();
    let mut listed = Vec::new();
    for file in &metadata.files {
        let key = format!("{prefix}{}", segment(&file.name));
        let path = match Path::parse(&key) {
            Ok(path) => path,
            Err(e) => {
                problems.push(format!("{}: not a valid key: {e}", file.name));
                continue;
            }
        };
        listed.push(path.clone());
        let meta = match dest.store.head(&path).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => {
                problems.push(format!("{}: missing", file.name));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if meta.size != file.bytes {
            problems.push(format!(
                "{}: {} bytes stored, {} recorded",
                file.name, meta.size, file.bytes
            ));
            continue;
        }
        let sha = sha256_of(dest, &path).await?;
        if sha != file.sha256 {
            problems.push(format!(
                "{}: SHA-256 {sha} stored, {} recorded",
                file.name, file.sha256
            ));
        }
    }
    for object in &recording.media {
        if !listed.contains(&object.location) {
            problems.push(format!("{}: not in the metadata", object.location));
        }
    }
    Ok(problems)
}
