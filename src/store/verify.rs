//! Re-reads stored recordings and checks every media file against the size and SHA-256 its
//! metadata recorded when it was made. A recording's own trouble (unreadable metadata, a
//! missing or altered file) is a problem in the answer; only the store failing is an error.
//! Encrypted media is checked twice over: the stored ciphertext against the size and SHA-256
//! of the `encryption` section, and, decrypted with the keyring (every chunk's tag checked),
//! the plaintext against the size and SHA-256 recorded.

use super::catalog::{self, StoredRecording};
use super::destination::Destination;
use super::envelope::{Keyring, Opener, HEADER_LEN};
use super::error::StoreError;
use super::key::segment;
use super::metadata::{FileRef, StoredMetadata};
use super::upload::{hex, sha256_of};
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};

/// What is wrong with one stored recording; empty when it is intact.
pub async fn check(
    dest: &Destination,
    recording: &StoredRecording,
    keyring: &Keyring,
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
        if metadata.encryption.is_some() {
            if let Some(problem) = check_sealed(dest, &path, &metadata, file, keyring).await? {
                problems.push(format!("{}: {problem}", file.name));
            }
            continue;
        }
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

/// What is wrong with one encrypted media file: its ciphertext against the `encryption`
/// section, then its plaintext (decrypted as it streams) against what was recorded.
async fn check_sealed(
    dest: &Destination,
    path: &Path,
    metadata: &StoredMetadata,
    file: &FileRef,
    keyring: &Keyring,
) -> Result<Option<String>, StoreError> {
    let encryption = metadata
        .encryption
        .as_ref()
        .expect("only called when encrypted");
    let Some(sealed) = encryption.file(&file.name) else {
        return Ok(Some("encrypted, but not in the encryption section".into()));
    };
    let org = &metadata.storage.org;
    let Some(keys) = keyring.get(org) else {
        return Ok(Some(format!(
            "encrypted, and the keyring has no keys for organisation {org}"
        )));
    };
    let data = match encryption.data_key(keys, org, &metadata.call.id) {
        Ok(data) => data,
        Err(e) => return Ok(Some(e.to_string())),
    };
    let got = dest.store.get(path).await?;
    if got.meta.size != sealed.bytes {
        return Ok(Some(format!(
            "{} bytes stored, {} encrypted",
            got.meta.size, sealed.bytes
        )));
    }
    let mut stream = got.into_stream();
    let (mut cipher_sha, mut plain_sha) = (Sha256::new(), Sha256::new());
    let mut header = Vec::new();
    let mut opener: Option<Opener> = None;
    let mut plain_len = 0u64;
    let mut failure = None;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        cipher_sha.update(&piece);
        if failure.is_some() {
            continue;
        }
        let mut rest = &piece[..];
        if opener.is_none() {
            let take = (HEADER_LEN as usize - header.len()).min(rest.len());
            header.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if header.len() < HEADER_LEN as usize {
                continue;
            }
            match Opener::new(
                &data,
                &header,
                file.bytes,
                0..0,
                &metadata.call.id,
                &file.name,
            ) {
                Ok((o, _)) => opener = Some(o),
                Err(e) => {
                    failure = Some(e.to_string());
                    continue;
                }
            }
        }
        let opener = opener.as_mut().expect("set above");
        match opener.push(rest) {
            Ok(plain) => {
                plain_len += plain.len() as u64;
                plain_sha.update(&plain);
            }
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let cipher_sha = hex(&cipher_sha.finalize());
    if cipher_sha != sealed.sha256 {
        return Ok(Some(format!(
            "SHA-256 {cipher_sha} stored, {} encrypted",
            sealed.sha256
        )));
    }
    if let Some(failure) = failure {
        return Ok(Some(format!("does not decrypt: {failure}")));
    }
    match opener.map(|o| o.finish()) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Ok(Some(format!("does not decrypt: {e}"))),
        None => return Ok(Some("does not decrypt: no header".into())),
    }
    let plain_sha = hex(&plain_sha.finalize());
    Ok(if plain_len != file.bytes {
        Some(format!(
            "{plain_len} bytes decrypted, {} recorded",
            file.bytes
        ))
    } else if plain_sha != file.sha256 {
        Some(format!(
            "SHA-256 {plain_sha} decrypted, {} recorded",
            file.sha256
        ))
    } else {
        None
    })
}
