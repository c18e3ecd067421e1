//! Object tags (`retention`, `provider`, `plan`) on stores that keep them. Set with
//! PutObjectTagging after an object is complete, never with the upload itself: some
//! S3-compatible servers store tags sent with a multipart upload or a copy undecoded, and
//! lifecycle rules then never match them.

use super::destination::Destination;
use super::error::StoreError;

/// Sets the object's tags (replacing any); does nothing on stores without tags.
pub async fn put(
    dest: &Destination,
    key: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    if !dest.keeps_tags() {
        return Ok(());
    }
    let _ = (key, tags);
    Err(StoreError::S3("object tagging is not wired yet".into()))
}
