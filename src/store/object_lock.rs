//! S3 Object Lock legal holds on a recording's objects: while on, the bucket itself refuses to
//! delete the held versions, whoever asks (a person with the bucket's keys, a lifecycle rule).
//! Only a bucket created with Object Lock enabled can hold objects; elsewhere (a filesystem,
//! a bucket without it) the catalog's hold is the only one and this says so. Must never delete
//! or write object data.

use super::destination::Destination;
use super::error::StoreError;
use object_store::path::Path;

/// What the store did with a legal hold request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockOutcome {
    /// Every object's current version now carries (or no longer carries) a legal hold.
    Set { objects: usize },
    /// An S3 bucket without Object Lock: only the catalog holds the recording.
    NotEnabled,
    /// Not an S3 store: only the catalog holds the recording.
    NotS3,
}

/// Whether `dest` can hold objects: an S3 bucket with Object Lock enabled.
pub async fn supported(dest: &Destination) -> Result<LockOutcome, StoreError> {
    let Some(s3) = dest.s3() else {
        return Ok(LockOutcome::NotS3);
    };
    match s3.object_lock_enabled().await {
        Ok(true) => Ok(LockOutcome::Set { objects: 0 }),
        Ok(false) => Ok(LockOutcome::NotEnabled),
        Err(e) => Err(StoreError::S3(e.to_string())),
    }
}

/// Puts the legal hold on (`on`) or off every object of `keys` in `dest`, when the store can
/// hold objects (see [`supported`]; ask it once per destination, not per recording).
pub async fn set(dest: &Destination, keys: &[&str], on: bool) -> Result<LockOutcome, StoreError> {
    let Some(s3) = dest.s3() else {
        return Ok(LockOutcome::NotS3);
    };
    for key in keys {
        let path = Path::parse(*key).map_err(|e| StoreError::S3(format!("{key}: {e}")))?;
        s3.put_object_legal_hold(&path, None, on)
            .await
            .map_err(|e| StoreError::S3(e.to_string()))?;
    }
    Ok(LockOutcome::Set {
        objects: keys.len(),
    })
}
