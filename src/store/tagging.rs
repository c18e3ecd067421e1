//! Object tags (`retention`, `provider`, `plan`) on stores that keep them. Set with
//! PutObjectTagging after a multipart upload or a resumed one, never with a multipart upload
//! or a copy itself: some S3-compatible servers store tags sent that way undecoded, and
//! lifecycle rules then never match them (a small file's first upload carries them in its
//! single PUT, see `upload`). Always read back, because a tag a lifecycle rule cannot match
//! deletes a free recording never or a paid one too early.

use super::destination::Destination;
use super::error::StoreError;
use object_store::path::Path;

/// Sets the object's tags (replacing any) and checks the store kept them; does nothing on
/// stores without tags.
pub async fn put(
    dest: &Destination,
    key: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    let Some(s3) = dest.s3() else {
        return Ok(());
    };
    let path = Path::parse(key).map_err(|e| StoreError::S3(format!("{key}: {e}")))?;
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s3.put_object_tagging(&path, &pairs)
        .await
        .map_err(|e| StoreError::S3(e.to_string()))?;
    check(dest, key, tags).await
}

/// Checks the object carries exactly `tags` (on stores that keep tags).
pub async fn check(
    dest: &Destination,
    key: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    let Some(kept) = get(dest, key).await? else {
        return Ok(());
    };
    if !same_set(&kept, tags) {
        return Err(StoreError::Mismatch {
            key: key.to_string(),
            detail: format!("tags {tags:?} sent, {kept:?} kept"),
        });
    }
    Ok(())
}

/// The object's tags; `None` on stores without tags.
pub async fn get(
    dest: &Destination,
    key: &str,
) -> Result<Option<Vec<(String, String)>>, StoreError> {
    let Some(s3) = dest.s3() else {
        return Ok(None);
    };
    let path = Path::parse(key).map_err(|e| StoreError::S3(format!("{key}: {e}")))?;
    let tags = s3
        .get_object_tagging(&path)
        .await
        .map_err(|e| StoreError::S3(e.to_string()))?;
    Ok(Some(tags))
}

/// Tag sets are unordered.
pub fn same_set(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
