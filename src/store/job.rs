//! A finished recording becomes a spool job: its keys from the layout, its tags from the
//! storage section, its metadata document (the sidecar plus that section) uploaded last; and
//! a spooled job is re-classed when its user's plan changed before it was uploaded. An
//! organisation with keys in the keyring has its media encrypted here, in the spool, before
//! anything is uploaded ([`super::envelope`]).

use super::envelope::{self, DataKey, Encryption, OrgKeys, SealedFile, Sealer};
use super::error::StoreError;
use super::key::{segment, RecordingDir, RecordingKey};
use super::metadata::{with_encryption, with_storage, StorageInfo};
use super::spool::{JobWriter, Manifest, SpoolJob, SpooledFile};
use super::tagging;
use super::upload::hex;
use sha2::{Digest, Sha256};

/// A media file as the recorder finished it, already in the job's directory.
#[derive(Clone, Debug)]
pub struct FinishedFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Commits `job` for upload to `destination` (a URL). `sidecar` is the recorder's metadata
/// JSON; the stored document adds `storage` to it. With `keys` (the organisation's keyring),
/// the media files are encrypted in place first and the document gains `encryption`; its
/// `files` keep the plaintext's size and SHA-256, the manifest (what the upload checks) the
/// ciphertext's.
pub fn commit(
    job: JobWriter,
    destination: &str,
    key: &RecordingKey,
    storage: &StorageInfo,
    sidecar: &[u8],
    media: Vec<FinishedFile>,
    keys: Option<&OrgKeys>,
) -> Result<SpoolJob, StoreError> {
    let bad = |reason: String| StoreError::BadJob {
        path: job.dir().to_path_buf(),
        reason,
    };
    let mut document = with_storage(sidecar, storage).map_err(|e| bad(e.to_string()))?;
    // Media names become spool paths and keys: plain names only, and never the metadata's.
    if let Some(f) = media
        .iter()
        .find(|f| segment(&f.name) != f.name || f.name.ends_with(".json"))
    {
        return Err(bad(format!("'{}' is not a media file name", f.name)));
    }
    let media = match keys {
        None => media,
        Some(keys) => {
            let (sealed, encryption) = encrypt_files(job.dir(), &media, keys, &key.org, &key.call)?;
            document = with_encryption(&document, &encryption).map_err(|e| bad(e.to_string()))?;
            sealed
        }
    };
    let manifest = Manifest {
        destination: destination.to_string(),
        media: media
            .into_iter()
            .map(|f| SpooledFile {
                key: key.object(&f.name),
                name: f.name,
                bytes: f.bytes,
                sha256: f.sha256,
            })
            .collect(),
        metadata: SpooledFile {
            key: key.object(&format!("{}.json", key.call)),
            name: "metadata.json".into(),
            bytes: document.len() as u64,
            sha256: hex(&Sha256::digest(&document)),
        },
        tags: storage.tags(),
    };
    job.commit(manifest, &document)
}

/// Encrypts each media file of a job in its directory (written beside, then renamed over the
/// plaintext), checking the plaintext against the size and SHA-256 the recorder gave: the
/// files as they now are, and the document's `encryption` section.
fn encrypt_files(
    dir: &std::path::Path,
    media: &[FinishedFile],
    keys: &OrgKeys,
    org: &str,
    recording: &str,
) -> Result<(Vec<FinishedFile>, Encryption), StoreError> {
    use std::io::{Read, Write};
    let bad = |path: &std::path::Path, reason: String| StoreError::BadJob {
        path: path.to_path_buf(),
        reason,
    };
    let data = DataKey::generate().map_err(|e| bad(dir, e.to_string()))?;
    let (key_id, wrapped_key) = keys
        .wrap(org, recording, &data)
        .map_err(|e| bad(dir, e.to_string()))?;
    let mut sealed = Vec::new();
    for file in media {
        let path = dir.join(&file.name);
        let partial = dir.join(format!("{}.sealing", file.name));
        let mut sealer = Sealer::new(&data, keys.chunk_size, recording, &file.name)
            .map_err(|e| bad(&path, e.to_string()))?;
        let mut input = std::fs::File::open(&path).map_err(StoreError::spool(&path))?;
        let mut output = std::fs::File::create(&partial).map_err(StoreError::spool(&partial))?;
        let mut plain_sha = Sha256::new();
        let mut cipher_sha = Sha256::new();
        let (mut plain_len, mut cipher_len) = (0u64, 0u64);
        let mut write = |bytes: &[u8]| -> Result<(), StoreError> {
            cipher_sha.update(bytes);
            cipher_len += bytes.len() as u64;
            output.write_all(bytes).map_err(StoreError::spool(&partial))
        };
        write(sealer.header())?;
        let mut chunk = Vec::with_capacity(sealer.chunk_size() + 16);
        loop {
            chunk.clear();
            (&mut input)
                .take(sealer.chunk_size() as u64)
                .read_to_end(&mut chunk)
                .map_err(StoreError::spool(&path))?;
            plain_sha.update(&chunk);
            plain_len += chunk.len() as u64;
            let last = plain_len == file.bytes;
            if !last && chunk.len() < sealer.chunk_size() {
                return Err(bad(
                    &path,
                    format!("{plain_len} bytes, the recorder wrote {}", file.bytes),
                ));
            }
            sealer
                .seal(&mut chunk, last)
                .map_err(|e| bad(&path, e.to_string()))?;
            write(&chunk)?;
            if last {
                break;
            }
        }
        let plain_sha = hex(&plain_sha.finalize());
        if plain_sha != file.sha256 {
            return Err(bad(
                &path,
                format!("SHA-256 {plain_sha}, the recorder wrote {}", file.sha256),
            ));
        }
        output.sync_all().map_err(StoreError::spool(&partial))?;
        std::fs::rename(&partial, &path).map_err(StoreError::spool(&path))?;
        sealed.push(FinishedFile {
            name: file.name.clone(),
            bytes: cipher_len,
            sha256: hex(&cipher_sha.finalize()),
        });
    }
    let encryption = Encryption {
        scheme: envelope::SCHEME.into(),
        key_id,
        wrapped_key,
        chunk_size: keys.chunk_size,
        files: sealed
            .iter()
            .map(|f| SealedFile {
                name: f.name.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
            })
            .collect(),
    };
    Ok((sealed, encryption))
}

/// A spooled job re-classed for `storage` (a plan change since it was recorded): its keys
/// under the new class's prefix, its tags and its metadata document's `storage` section from
/// `storage`. `None` when the job already has it (nothing to do), or its keys are not of our
/// layout (left as they are). `retained_since` is kept: the recording was never stored in
/// the old class, so its retention runs from when it was recorded.
pub fn reclassed(
    manifest: &Manifest,
    document: &[u8],
    storage: &StorageInfo,
) -> Result<Option<(Manifest, Vec<u8>)>, serde_json::Error> {
    let Some((dir, _)) = RecordingDir::parse(&manifest.metadata.key) else {
        return Ok(None);
    };
    let rekey = |key: &str| {
        RecordingDir::parse(key)
            .filter(|(d, _)| *d == dir)
            .map(|(d, file)| format!("{}{file}", d.with_class(storage.retention).prefix()))
    };
    let Some(media_keys) = manifest
        .media
        .iter()
        .map(|f| rekey(&f.key))
        .collect::<Option<Vec<String>>>()
    else {
        return Ok(None);
    };
    let Some(metadata_key) = rekey(&manifest.metadata.key) else {
        return Ok(None);
    };
    let tags = storage.tags();
    if metadata_key == manifest.metadata.key && tagging::same_set(&tags, &manifest.tags) {
        return Ok(None);
    }
    let document = with_storage(document, storage)?;
    let manifest = Manifest {
        destination: manifest.destination.clone(),
        media: manifest
            .media
            .iter()
            .zip(media_keys)
            .map(|(f, key)| SpooledFile { key, ..f.clone() })
            .collect(),
        metadata: SpooledFile {
            key: metadata_key,
            name: manifest.metadata.name.clone(),
            bytes: document.len() as u64,
            sha256: hex(&Sha256::digest(&document)),
        },
        tags,
    };
    Ok(Some((manifest, document)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key::{RecordingKey, RetentionClass};

    fn spooled(storage: &StorageInfo) -> (Manifest, Vec<u8>) {
        let key = RecordingKey {
            class: storage.retention,
            org: "acme".into(),
            date: (2026, 12, 6),
            call: "c@1".into(),
        };
        let document = with_storage(br#"{"call":{"id":"c@1"},"files":[]}"#, storage).unwrap();
        let manifest = Manifest {
            destination: "memory://t".into(),
            media: vec![SpooledFile {
                name: "c.opus".into(),
                key: key.object("c.opus"),
                bytes: 5,
                sha256: "ab".into(),
            }],
            metadata: SpooledFile {
                name: "metadata.json".into(),
                key: key.object("c@1.json"),
                bytes: document.len() as u64,
                sha256: hex(&Sha256::digest(&document)),
            },
            tags: storage.tags(),
        };
        (manifest, document)
    }

    fn go() -> StorageInfo {
        StorageInfo {
            org: "acme".into(),
            user: Some("alice".into()),
            location: None,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: RetentionClass::Days(30),
            retained_since: "2026-12-06T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_plan_change_moves_keys_tags_and_storage_section_and_keeps_the_rest() {
        let (manifest, document) = spooled(&go());
        let paid = StorageInfo {
            plan: "dubber-standard".into(),
            retention: RetentionClass::Unlimited,
            ..go()
        };
        let (new, doc) = reclassed(&manifest, &document, &paid)
            .unwrap()
            .expect("re-classed");
        assert_eq!(
            new.media[0].key,
            "recordings/unlimited/acme/2026/12/06/c%401/c.opus"
        );
        assert_eq!(
            new.metadata.key,
            "recordings/unlimited/acme/2026/12/06/c%401/c%401.json"
        );
        assert_eq!((new.media[0].bytes, &*new.media[0].sha256), (5, "ab"));
        assert_eq!(new.tags, paid.tags());
        let parsed: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(parsed["storage"]["retention"], "unlimited");
        assert_eq!(parsed["storage"]["plan"], "dubber-standard");
        assert_eq!(
            parsed["storage"]["retained_since"],
            "2026-12-06T10:00:00.000Z"
        );
        assert_eq!(parsed["call"]["id"], "c@1");
        assert_eq!(new.metadata.bytes, doc.len() as u64);
        assert_eq!(new.metadata.sha256, hex(&Sha256::digest(&doc)));
    }

    #[test]
    fn an_encrypted_commit_spools_ciphertext_that_opens_to_what_was_recorded() {
        use crate::store::envelope::{open_all, Keyring};
        use crate::store::sealed::SecretsKey;
        use crate::store::spool::{tests::TempDir, Spool};
        let tmp = TempDir::new("encrypted-commit");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let writer = spool.begin("memory://t", "acme\nc@1").expect("begin");
        let plain: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(writer.dir().join("c.opus"), &plain).expect("media");
        let keys = OrgKeys {
            current: "k1".into(),
            keys: [(
                "k1".to_string(),
                SecretsKey::parse(&"11".repeat(32)).unwrap(),
            )]
            .into(),
            chunk_size: 1024,
        };
        let key = RecordingKey {
            class: go().retention,
            org: "acme".into(),
            date: (2026, 12, 6),
            call: "c@1".into(),
        };
        let media = vec![FinishedFile {
            name: "c.opus".into(),
            bytes: plain.len() as u64,
            sha256: hex(&Sha256::digest(&plain)),
        }];
        let sidecar = br#"{"call":{"id":"c@1"},"files":[]}"#;
        let job = commit(
            writer,
            "memory://t",
            &key,
            &go(),
            sidecar,
            media,
            Some(&keys),
        )
        .expect("committed");
        let stored = std::fs::read(job.path(&job.manifest.media[0])).expect("spooled");
        assert_ne!(stored, plain);
        assert_eq!(job.manifest.media[0].bytes, stored.len() as u64);
        assert_eq!(job.manifest.media[0].sha256, hex(&Sha256::digest(&stored)));
        assert!(!job.dir.join("c.opus.sealing").exists());
        let document = std::fs::read(job.path(&job.manifest.metadata)).expect("document");
        let parsed: serde_json::Value = serde_json::from_slice(&document).unwrap();
        let encryption: Encryption =
            serde_json::from_value(parsed["encryption"].clone()).expect("encryption section");
        assert_eq!(
            (encryption.key_id.as_str(), encryption.chunk_size),
            ("k1", 1024)
        );
        assert_eq!(encryption.files[0].bytes, stored.len() as u64);
        let keyring = Keyring::from([("acme".to_string(), keys)]);
        let data = encryption
            .data_key(&keyring["acme"], "acme", "c@1")
            .expect("unwrap");
        let opened = open_all(&data, &stored, plain.len() as u64, 0..0, "c@1", "c.opus");
        assert_eq!(opened.expect("opens"), plain);
    }

    #[test]
    fn the_same_plan_or_keys_not_of_our_layout_change_nothing() {
        let (manifest, document) = spooled(&go());
        assert!(reclassed(&manifest, &document, &go()).unwrap().is_none());
        let mut foreign = manifest.clone();
        foreign.metadata.key = "elsewhere/c.json".into();
        let paid = StorageInfo {
            retention: RetentionClass::Unlimited,
            ..go()
        };
        assert!(reclassed(&foreign, &document, &paid).unwrap().is_none());
    }

    #[test]
    fn a_new_plan_in_the_same_class_retags_without_moving() {
        let (manifest, document) = spooled(&go());
        let ai = StorageInfo {
            plan: "dubber-ai".into(),
            ..go()
        };
        let (new, _) = reclassed(&manifest, &document, &ai)
            .unwrap()
            .expect("retagged");
        assert_eq!(new.metadata.key, manifest.metadata.key);
        assert!(new.tags.contains(&("plan".into(), "dubber-ai".into())));
    }
}
