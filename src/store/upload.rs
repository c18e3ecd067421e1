//! Uploads a spooled job: media first, each checked against its size and SHA-256 and tagged,
//! then the metadata document the same way, so a reader never finds metadata without its
//! media. Re-running a job after a crash or a failed attempt is safe: keys are fixed, an object
//! already stored intact is not sent again, and anything else is overwritten whole.

use super::backoff::{Backoff, BackoffConfig};
use super::destination::Destination;
use super::error::StoreError;
use super::spool::{SpoolJob, SpooledFile};
use super::tagging;
use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest as _, Md5};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutOptions, PutPayload, TagSet, WriteMultipart};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::AsyncReadExt;

#[derive(Clone, Debug)]
pub struct UploadConfig {
    /// Files larger than this go up in parts.
    pub multipart_threshold: u64,
    /// Part size (S3 needs at least 5 MiB for every part but the last).
    pub part_size: usize,
    /// Parts in flight at once.
    pub part_concurrency: usize,
    pub backoff: BackoffConfig,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            part_concurrency: 4,
            backoff: BackoffConfig::default(),
        }
    }
}

/// What one upload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Failed attempts before the one that succeeded.
    pub retries: u32,
    /// Objects sent (objects found already stored intact are not sent again).
    pub objects_sent: usize,
    pub bytes_sent: u64,
}

/// Uploads `job`, retrying with capped exponential backoff and jitter until it succeeds or
/// `give_up_after` has passed since the first attempt (`None`: never give up). `on_retry` hears
/// each failure and the delay before the next attempt.
pub async fn upload(
    dest: &Destination,
    job: &SpoolJob,
    config: &UploadConfig,
    give_up_after: Option<Duration>,
    mut on_retry: impl FnMut(&StoreError, Duration),
) -> Result<UploadReport, StoreError> {
    let started = tokio::time::Instant::now();
    let seed = job
        .manifest
        .metadata
        .sha256
        .bytes()
        .fold(u64::from(std::process::id()), |h, b| {
            h.rotate_left(5) ^ u64::from(b)
        });
    let mut backoff = Backoff::new(config.backoff, seed);
    loop {
        match upload_once(dest, job, config).await {
            Ok(mut report) => {
                report.retries = backoff.attempts();
                return Ok(report);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                if give_up_after.is_some_and(|limit| started.elapsed() + delay > limit) {
                    return Err(e);
                }
                on_retry(&e, delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One attempt at the whole job.
pub async fn upload_once(
    dest: &Destination,
    job: &SpoolJob,
    config: &UploadConfig,
) -> Result<UploadReport, StoreError> {
    upload_attempt(dest, job, config, false).await
}

/// One attempt at the whole job; with `first`, the job is known never to have been tried
/// (committed while this process ran, not tried yet), so nothing of it can be stored and the
/// check for objects already stored intact is skipped: a request less per object, and a
/// wrong guess only sends an object again, whole.
pub async fn upload_attempt(
    dest: &Destination,
    job: &SpoolJob,
    config: &UploadConfig,
    first: bool,
) -> Result<UploadReport, StoreError> {
    let mut report = UploadReport::default();
    let manifest = &job.manifest;
    for file in manifest.media.iter().chain([&manifest.metadata]) {
        let key = parse_key(&file.key)?;
        if first && dest.s3().is_some() && file.bytes <= config.multipart_threshold {
            put_small_tagged(dest, &key, job, file, &manifest.tags).await?;
            report.objects_sent += 1;
            report.bytes_sent += file.bytes;
            continue;
        }
        if first || !stored_intact(dest, &key, file).await? {
            put_file(dest, &key, &job.path(file), file.bytes, config).await?;
            if let Some(detail) = difference(dest, &key, file).await? {
                return Err(StoreError::Mismatch {
                    key: file.key.clone(),
                    detail,
                });
            }
            report.objects_sent += 1;
            report.bytes_sent += file.bytes;
        }
        // Tags go on after the upload completes (some servers mangle tags sent with a
        // multipart upload), and again on a resumed job in case the crash came in between.
        tagging::put(dest, &file.key, &manifest.tags).await?;
    }
    Ok(report)
}

/// A small file never sent before, to S3, in one request with its tags; what the store
/// received is checked by the ETag it answers (the MD5 of a single-request upload), and only
/// read back when the ETag is not an MD5 (server-side encryption with KMS, some
/// S3-compatible servers). Two requests for what otherwise takes five: PUT, HEAD, GET,
/// PutObjectTagging and GetObjectTagging. The tags are still read back: a lifecycle rule
/// cannot match a tag the store did not keep.
async fn put_small_tagged(
    dest: &Destination,
    key: &Path,
    job: &SpoolJob,
    file: &SpooledFile,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    let path = job.path(file);
    let data = tokio::fs::read(&path)
        .await
        .map_err(StoreError::spool(&path))?;
    let md5 = hex(&Md5::digest(&data));
    let sha = hex(&Sha256::digest(&data));
    if data.len() as u64 != file.bytes || sha != file.sha256 {
        return Err(StoreError::BadJob {
            path,
            reason: format!(
                "{} bytes with SHA-256 {sha} on disk, manifest says {} bytes, {}",
                data.len(),
                file.bytes,
                file.sha256
            ),
        });
    }
    let mut tag_set = TagSet::default();
    for (k, v) in tags {
        tag_set.push(k, v);
    }
    let options = PutOptions {
        tags: tag_set,
        ..PutOptions::default()
    };
    let put = dest
        .store
        .put_opts(key, PutPayload::from(Bytes::from(data)), options)
        .await?;
    let etag = put
        .e_tag
        .as_deref()
        .map(|e| e.trim_matches('"').to_ascii_lowercase());
    if etag.as_deref() != Some(md5.as_str()) {
        if let Some(detail) = difference(dest, key, file).await? {
            return Err(StoreError::Mismatch {
                key: file.key.clone(),
                detail,
            });
        }
    }
    tagging::check(dest, &file.key, tags).await
}

fn parse_key(key: &str) -> Result<Path, StoreError> {
    Path::parse(key).map_err(|e| StoreError::Mismatch {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

/// True when the object is already there with the right size and SHA-256.
async fn stored_intact(
    dest: &Destination,
    key: &Path,
    file: &SpooledFile,
) -> Result<bool, StoreError> {
    match difference(dest, key, file).await {
        Ok(None) => Ok(true),
        Ok(Some(_)) | Err(StoreError::Object(object_store::Error::NotFound { .. })) => Ok(false),
        Err(e) => Err(e),
    }
}

/// How the stored object differs from the spooled file; `None` when it matches.
pub async fn difference(
    dest: &Destination,
    key: &Path,
    file: &SpooledFile,
) -> Result<Option<String>, StoreError> {
    let meta = dest.store.head(key).await?;
    if meta.size != file.bytes {
        return Ok(Some(format!(
            "{} bytes stored, {} recorded",
            meta.size, file.bytes
        )));
    }
    let sha = sha256_of(dest, key).await?;
    Ok((sha != file.sha256).then(|| format!("SHA-256 {sha} stored, {} recorded", file.sha256)))
}

/// Reads the object back and hashes it.
pub async fn sha256_of(dest: &Destination, key: &Path) -> Result<String, StoreError> {
    let mut stream = dest.store.get(key).await?.into_stream();
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk?);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn put_file(
    dest: &Destination,
    key: &Path,
    path: &std::path::Path,
    bytes: u64,
    config: &UploadConfig,
) -> Result<(), StoreError> {
    if bytes <= config.multipart_threshold {
        let data = tokio::fs::read(path)
            .await
            .map_err(StoreError::spool(path))?;
        dest.store
            .put(key, PutPayload::from(Bytes::from(data)))
            .await?;
        return Ok(());
    }
    let upload = dest.store.put_multipart(key).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, config.part_size);
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(StoreError::spool(path))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(StoreError::spool(path)(e));
            }
        };
        if let Err(e) = writer.wait_for_capacity(config.part_concurrency).await {
            let _ = writer.abort().await;
            return Err(e.into());
        }
        writer.write(&buf[..n]);
    }
    writer.finish().await?;
    Ok(())
}
