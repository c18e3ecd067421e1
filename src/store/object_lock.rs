//! S3 Object Lock legal holds on a recording's objects: while on, the bucket itself refuses to
//! delete the held versions, whoever asks (a person with the bucket's keys, a lifecycle rule).
//! Only a bucket created with Object Lock enabled can hold objects; elsewhere (a filesystem,
//! a bucket without it) the catalog's hold is the only one and this says so. Must never delete
//! or write object data.
//!
//! A held object's `retention` tag also reads [`HELD`] until released: a lock keeps a version,
//! but an expiration rule would still lay a delete marker over it, and a recording under
//! investigation would then vanish from playback while its bytes stay locked in the bucket.
//! No tag-filtered rule matches `held`, so the recording stays where the catalog says it is.

use super::destination::Destination;
use super::error::StoreError;
use super::key::RecordingDir;
use super::tagging;
use object_store::path::Path;

/// The `retention` tag value of an object under legal hold (see the module's doc).
pub const HELD: &str = "held";

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
        retag(dest, key, on).await?;
    }
    Ok(LockOutcome::Set {
        objects: keys.len(),
    })
}

/// Whether the current version of `key` carries the store's legal hold (never on stores that
/// cannot hold objects): asked before a held object is rewritten, so the new version is held too.
pub async fn is_held(dest: &Destination, key: &str) -> Result<bool, StoreError> {
    let Some(s3) = dest.s3() else {
        return Ok(false);
    };
    let path = Path::parse(key).map_err(|e| StoreError::S3(format!("{key}: {e}")))?;
    s3.get_object_legal_hold(&path)
        .await
        .map_err(|e| StoreError::S3(e.to_string()))
}

/// Sets `key`'s `retention` tag to [`HELD`] (`on`) or back to the class its key names, keeping
/// its other tags; objects without a `retention` tag are left as they are.
async fn retag(dest: &Destination, key: &str, on: bool) -> Result<(), StoreError> {
    let Some(mut tags) = tagging::get(dest, key).await? else {
        return Ok(());
    };
    let value = match (on, RecordingDir::parse(key)) {
        (true, _) => HELD.to_string(),
        (false, Some((dir, _))) => dir.class.to_string(),
        (false, None) => return Ok(()),
    };
    let Some(retention) = tags.iter_mut().find(|(name, _)| name == "retention") else {
        return Ok(());
    };
    if retention.1 == value {
        return Ok(());
    }
    retention.1 = value;
    tagging::put(dest, key, &tags).await
}
