//! Organisations' key files (`[orgs.ORG.encryption]`) read into their keys, and kept while the
//! files stay as they were. Owns reading the files and the cache of what was read; must never
//! log or show a key.
//!
//! Why a cache: the admin API needs an organisation's keys for every audio request of an
//! encrypted recording (a player's seek is one). Reading every organisation's files each time
//! made one organisation's unreadable file fail every other's playback; reading them once per
//! server start would make a key rotation need a restart. [`KeyFiles`] reads an organisation's
//! files again only when one of them changed (its size or modification time), so a request
//! costs a `stat` of each of that organisation's files.

use super::EncryptionConfig;
use crate::store::envelope::OrgKeys;
use crate::store::sealed::SecretsKey;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// `org`'s keys, read from its key files now.
pub(super) fn read(org: &str, settings: &EncryptionConfig) -> Result<OrgKeys, String> {
    let mut keys = BTreeMap::new();
    for (id, file) in &settings.key_files {
        let field = format!("orgs.{org}.encryption.key_files.{id}");
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("{field}: cannot read {}: {e}", file.display()))?;
        let key =
            SecretsKey::parse(&text).map_err(|e| format!("{field}: {}: {e}", file.display()))?;
        keys.insert(id.clone(), key);
    }
    Ok(OrgKeys {
        current: settings.current.clone(),
        keys,
        chunk_size: settings.chunk_size,
    })
}

/// What says a key file changed: its size and modification time.
type Stamp = (u64, SystemTime);

/// Each key file's stamp, in the settings' order; `None` when one cannot be had (reading
/// then says why).
fn stamps(settings: &EncryptionConfig) -> Option<Vec<Stamp>> {
    settings
        .key_files
        .values()
        .map(|file| {
            let meta = std::fs::metadata(file).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        })
        .collect()
}

/// What was read for one organisation, and from what.
struct Read {
    settings: EncryptionConfig,
    stamps: Vec<Stamp>,
    keys: Arc<OrgKeys>,
}

/// Organisations' keys as last read from their files, each read again when one of its files
/// changes. Holds one entry per organisation asked about (those the configuration gives keys).
#[derive(Default)]
pub struct KeyFiles {
    read: Mutex<BTreeMap<String, Read>>,
}

impl std::fmt::Debug for KeyFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFiles(..)")
    }
}

impl KeyFiles {
    /// `org`'s keys under `settings`: as read before if no file changed since, else read now.
    /// Errors name the file and key id, never the key.
    pub fn keys(&self, org: &str, settings: &EncryptionConfig) -> Result<Arc<OrgKeys>, String> {
        // Stamped before reading: a file changing in between is read again next time.
        let stamps = stamps(settings);
        if let Some(stamps) = &stamps {
            let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(kept) = read.get(org) {
                if kept.stamps == *stamps && kept.settings == *settings {
                    return Ok(Arc::clone(&kept.keys));
                }
            }
        }
        let result = read(org, settings).map(Arc::new);
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        match (&result, stamps) {
            (Ok(keys), Some(stamps)) => {
                let kept = Read {
                    settings: settings.clone(),
                    stamps,
                    keys: Arc::clone(keys),
                };
                read.insert(org.to_string(), kept);
            }
            _ => {
                read.remove(org);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `text` to `file` and dates it `secs` after 2026-01-01, so a change is seen
    /// whatever the file system's clock granularity.
    fn write(file: &std::path::Path, text: &str, secs: u64) {
        std::fs::write(file, text).expect("write");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs);
        let handle = std::fs::File::options()
            .write(true)
            .open(file)
            .expect("open");
        handle.set_modified(at).expect("set its time");
    }

    #[test]
    fn keys_are_read_once_and_again_only_when_a_file_changes() {
        let dir =
            Dir(std::env::temp_dir().join(format!("callrec-key-files-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).expect("dir");
        let file = dir.0.join("k1.key");
        write(&file, &format!("{K1}\n"), 0);
        let settings = EncryptionConfig {
            current: "k1".into(),
            key_files: [("k1".to_string(), file.clone())].into(),
            chunk_size: 4096,
        };
        let cache = KeyFiles::default();
        let first = cache.keys("acme", &settings).expect("read");
        assert_eq!(first.keys["k1"], SecretsKey::parse(K1).unwrap());
        assert_eq!(first.chunk_size, 4096);
        let again = cache.keys("acme", &settings).expect("kept");
        assert!(Arc::ptr_eq(&first, &again), "not read again");

        // The file replaced (same size): read again, the new key in use.
        write(&file, &format!("{K2}\n"), 1);
        let replaced = cache.keys("acme", &settings).expect("read again");
        assert!(!Arc::ptr_eq(&first, &replaced));
        assert_eq!(replaced.keys["k1"], SecretsKey::parse(K2).unwrap());

        // Other settings for the same organisation are not answered from the cache.
        let bigger = EncryptionConfig {
            chunk_size: 8192,
            ..settings.clone()
        };
        assert_eq!(cache.keys("acme", &bigger).expect("read").chunk_size, 8192);

        // Gone or broken: an error naming the file, never a stale key; another
        // organisation's keys are not affected.
        let globex = EncryptionConfig {
            key_files: [("g1".to_string(), dir.0.join("missing.key"))].into(),
            ..settings.clone()
        };
        let missing = cache.keys("globex", &globex).expect_err("no file");
        assert!(
            missing.contains("orgs.globex.encryption.key_files.g1"),
            "{missing}"
        );
        assert!(cache.keys("acme", &settings).is_ok());
        write(&file, "not a key\n", 2);
        let broken = cache.keys("acme", &settings).expect_err("not a key");
        assert!(broken.contains("k1.key"), "{broken}");
        assert!(!broken.contains(K2), "{broken}");
        std::fs::remove_file(&file).expect("remove");
        assert!(cache.keys("acme", &settings).is_err());
    }
}
