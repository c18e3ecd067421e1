//! Whether a destination takes recordings, asked before an organisation's choice of it is
//! accepted: a probe object is written, read back and compared, then deleted. Owns the probe's
//! steps and what a failure says; must never leave the probe behind when it can delete it.

use super::destination::Destination;
use super::spool::random_u64;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::time::Duration;

/// Longest a probe may take in all (each request is retried a little by object_store).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The step of the probe that failed, and the store's error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{step} of probe object {key} failed: {error}")]
pub struct ProbeError {
    /// `write`, `read` or `delete`.
    pub step: &'static str,
    pub key: String,
    pub error: String,
}

/// Writes, reads back and deletes a small object under `.callrec-probe/` in `dest`.
pub async fn probe(dest: &Destination) -> Result<(), ProbeError> {
    let key = format!(".callrec-probe/{:016x}", random_u64());
    let fail = |step: &'static str, error: String| ProbeError {
        step,
        key: dest.bucket_key(&key),
        error,
    };
    let content = format!("callrec probe {key}\n");
    let run = async {
        let path = Path::parse(&key).map_err(|e| fail("write", e.to_string()))?;
        let store: &dyn ObjectStore = dest.store.as_ref();
        store
            .put(&path, PutPayload::from(content.clone().into_bytes()))
            .await
            .map_err(|e| fail("write", e.to_string()))?;
        let read = async {
            let got = store.get(&path).await?.bytes().await?;
            Ok::<_, object_store::Error>(got)
        }
        .await;
        let read = match read {
            Ok(got) if got.as_ref() == content.as_bytes() => Ok(()),
            Ok(got) => Err(fail(
                "read",
                format!(
                    "{} bytes came back, not the {} written",
                    got.len(),
                    content.len()
                ),
            )),
            Err(e) => Err(fail("read", e.to_string())),
        };
        let deleted = store
            .delete(&path)
            .await
            .map_err(|e| fail("delete", e.to_string()));
        read.and(deleted)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Ok(result) => result,
        Err(_) => Err(fail(
            "write",
            format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn a_probe_leaves_nothing_and_a_read_only_store_fails_at_write() {
        let dest = Destination::open("memory://probe-unit", &[]).expect("memory");
        probe(&dest).await.expect("probe");
        let left: Vec<_> = dest.store.list(None).try_collect().await.expect("list");
        assert!(left.is_empty(), "{left:?}");

        let dir = std::env::temp_dir().join(format!("callrec-probe-{}", random_u64()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("not-a-dir");
        std::fs::write(&file, b"x").expect("file");
        let dest = Destination::open(&dir.display().to_string(), &[]).expect("file store");
        // A key under a plain file cannot be written.
        let blocked = dest.map_store(|s| {
            std::sync::Arc::new(object_store::prefix::PrefixStore::new(
                s,
                Path::from("not-a-dir"),
            ))
        });
        let err = probe(&blocked).await.unwrap_err();
        assert_eq!(err.step, "write", "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
