//! The audio of a recording encrypted at rest ([`crate::store::envelope`]), decrypted on the
//! fly: the data key unwrapped with the organisation's keys (from its key files, read again
//! whenever one changes, so a rotated key needs no restart: [`KeyFiles`]), only the chunks a
//! byte range touches fetched,
//! each chunk's tag checked before any of its bytes are sent. Must never send a byte that did
//! not authenticate, nor log a key.
//!
//! Three requests to the store: the metadata document (the wrapped key), the 20-byte header,
//! the chunks. A chunk that fails to open ends the response early (the status is already
//! sent): the client sees a short body, never altered audio.

use crate::config::{Config, KeyFiles};
use crate::policydb::recordings::{CatalogFile, CatalogRecording};
use crate::store::envelope::{Opener, HEADER_LEN};
use crate::store::metadata::StoredMetadata;
use crate::store::Destination;
use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStoreExt as _};
use std::ops::Range;

/// The most a metadata document read for its wrapped key may hold.
const MAX_METADATA_BYTES: u64 = 4 << 20;

/// True when `org` has a keyring: its recordings may be encrypted.
pub(crate) fn may_be_sealed(config: &Config, org: &str) -> bool {
    config.orgs.get(org).is_some_and(|o| o.encryption.is_some())
}

/// Plaintext bytes `range` (empty: none) of `file`, decrypted as they stream; `None` when the
/// recording's metadata says it is not encrypted (recorded before its organisation's keys
/// were configured). Errors say what failed, for a 502.
pub(crate) async fn body(
    config: &Config,
    key_files: &KeyFiles,
    dest: &Destination,
    row: &CatalogRecording,
    file: &CatalogFile,
    range: Range<u64>,
) -> Result<Option<Body>, String> {
    let metadata = dest
        .store
        .get(&key(&row.metadata_key)?)
        .await
        .map_err(|e| e.to_string())?;
    if metadata.meta.size > MAX_METADATA_BYTES {
        return Err(format!(
            "its metadata document is {} bytes, more than {MAX_METADATA_BYTES}",
            metadata.meta.size
        ));
    }
    let document = metadata.bytes().await.map_err(|e| e.to_string())?;
    let metadata: StoredMetadata = serde_json::from_slice(&document)
        .map_err(|e| format!("its metadata document does not read: {e}"))?;
    let Some(encryption) = &metadata.encryption else {
        return Ok(None);
    };
    let settings = config
        .orgs
        .get(&row.org_id)
        .and_then(|o| o.encryption.as_ref())
        .ok_or_else(|| format!("organisation {} has no keys in the keyring", row.org_id))?;
    let keys = key_files.keys(&row.org_id, settings)?;
    let data = encryption
        .data_key(&keys, &row.org_id, &metadata.call.id)
        .map_err(|e| e.to_string())?;
    let sealed = encryption
        .file(&file.name)
        .ok_or_else(|| format!("{} is not in its encryption section", file.name))?;
    let object = key(&file.key)?;
    let header = dest
        .store
        .get_opts(
            &object,
            GetOptions {
                range: Some(GetRange::Bounded(0..HEADER_LEN)),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    if header.meta.size != sealed.bytes {
        return Err(format!(
            "{} is {} bytes, its encryption section says {}",
            file.key, header.meta.size, sealed.bytes
        ));
    }
    let header = header.bytes().await.map_err(|e| e.to_string())?;
    let (mut opener, span) = Opener::new(
        &data,
        &header,
        file.bytes,
        range,
        &metadata.call.id,
        &file.name,
    )
    .map_err(|e| e.to_string())?;
    let got = dest
        .store
        .get_opts(
            &object,
            GetOptions {
                range: Some(GetRange::Bounded(span)),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let failed = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let mut stream = got.into_stream();
    let plain = futures::stream::poll_fn(move |cx| loop {
        use std::task::Poll;
        let Some(piece) = std::task::ready!(stream.poll_next_unpin(cx)) else {
            return Poll::Ready(opener.finish().err().map(|e| Err(failed(&e))));
        };
        match piece {
            Err(e) => return Poll::Ready(Some(Err(failed(&e)))),
            Ok(piece) => match opener.push(&piece) {
                Err(e) => {
                    tracing::warn!(file = %object, error = %e, "recording.decrypt_failed");
                    return Poll::Ready(Some(Err(failed(&e))));
                }
                Ok(plain) if plain.is_empty() => continue,
                Ok(plain) => return Poll::Ready(Some(Ok(Bytes::from(plain)))),
            },
        }
    });
    Ok(Some(Body::from_stream(plain)))
}

fn key(text: &str) -> Result<Path, String> {
    Path::parse(text).map_err(|e| e.to_string())
}
