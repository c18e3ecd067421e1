//! Encryption at rest, end to end, on the filesystem store and on a real S3 bucket (the Ceph
//! RADOS Gateway `./scripts/test` starts): a real call recorded by `callrec record` for an
//! organisation with keys and catalogued by `callrec storage reindex`; what the store holds,
//! read straight from the folder or the bucket with object_store (never through callrec's
//! decrypting paths), is ciphertext (no Ogg page anywhere, near 8 bits of entropy a byte);
//! `callrec serve`'s recordings API plays it back byte for byte, whole, by ranges across chunk
//! boundaries and through a signed link; `callrec storage verify` passes, and fails on one
//! flipped byte; after a key rotation (`callrec storage rewrap`, the old key then removed from
//! the keyring) it still plays bit exact while the media object was never rewritten (its bytes,
//! ETag and modification time the same). One scenario, both stores. Without the gateway the
//! S3 test fails rather than skips.
//!
//! The database plays no part in encryption (the catalog row is the same either way), so this
//! runs on the default embedded SQLite only.

mod common;

use callrec::store::envelope::{self, DataKey, OrgKeys};
use callrec::store::sealed::SecretsKey;
use common::admin::{create_token_for, AdminServer};
use common::cli::{callrec, json_lines, ok};
use common::recordings::record_call;
use common::s3::S3;
use common::TempDir;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
/// Small chunks, so the short test call spans many and ranges cross their boundaries.
const CHUNK: usize = 1024;

/// `callrec.toml`: the store at `url`, and acme's keyring with `keys` (ids of `K1`/`K2`
/// files).
fn configure(dir: &Path, url: &str, current: &str, keys: &[&str]) {
    let files: Vec<String> = keys.iter().map(|k| format!("{k} = \"{k}.key\"")).collect();
    let config = format!(
        "[store]\nurl = \"{url}\"\n\n[orgs.acme.encryption]\ncurrent = \"{current}\"\n\
         chunk_size = {CHUNK}\nkey_files = {{ {} }}\n",
        files.join(", ")
    );
    std::fs::write(dir.join("callrec.toml"), config).expect("config");
}

fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir).env_remove("CALLREC_POLICY_DB");
    command
}

/// The store as the test reads and writes it: object_store straight on the folder or the
/// bucket (under the configured prefix), none of callrec's own store code in between.
struct Raw {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

impl Raw {
    fn new(store: Arc<dyn ObjectStore>) -> Raw {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Raw { store, runtime }
    }

    /// The folder `url` names.
    fn folder(url: &Path) -> Raw {
        std::fs::create_dir_all(url).expect("the store's folder");
        Raw::new(Arc::new(
            LocalFileSystem::new_with_prefix(url).expect("the folder"),
        ))
    }

    /// The bucket and prefix `url` (`s3://bucket/prefix`) names, with the `AWS_*` settings
    /// `./scripts/test` exports.
    fn bucket(url: &str) -> Raw {
        let rest = url.strip_prefix("s3://").expect("an s3:// URL");
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .expect("the bucket");
        Raw::new(Arc::new(PrefixStore::new(s3, prefix)))
    }

    /// The key of the recording's media object, and of its metadata document.
    fn objects(&self, id: &str) -> (String, String) {
        let keys: Vec<String> = self.runtime.block_on(async {
            use futures::TryStreamExt;
            self.store
                .list(None)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .expect("list")
        });
        let of = |json: bool| {
            keys.iter()
                .find(|k| k.contains(&format!("/{id}/")) && k.ends_with(".json") == json)
                .unwrap_or_else(|| panic!("no object of {id} in {keys:?}"))
                .clone()
        };
        (of(false), of(true))
    }

    fn read(&self, key: &str) -> Vec<u8> {
        self.runtime.block_on(async {
            let got = self
                .store
                .get(&Key::from(key))
                .await
                .expect("stored object");
            got.bytes().await.expect("its bytes").to_vec()
        })
    }

    fn write(&self, key: &str, bytes: &[u8]) {
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&Key::from(key), payload))
            .expect("written");
    }

    /// What says an object was written again even with the same bytes: its ETag and
    /// modification time.
    fn version(&self, key: &str) -> (Option<String>, String) {
        let meta = self
            .runtime
            .block_on(self.store.head(&Key::from(key)))
            .expect("head");
        (meta.e_tag, meta.last_modified.to_rfc3339())
    }
}

/// Shannon entropy in bits a byte.
fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn verify(dir: &Path) -> (bool, Vec<Value>) {
    let output = callrec(
        dir,
        &[
            "storage",
            "verify",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ],
    );
    let lines = json_lines(&String::from_utf8_lossy(&output.stdout));
    (output.status.success(), lines)
}

struct Api {
    server: AdminServer,
    token: String,
}

impl Api {
    fn start(dir: &Path, token: String) -> Api {
        let server = AdminServer::start(command(dir), &["--config", "callrec.toml"]);
        Api { server, token }
    }

    fn get(&self, path: &str, range: Option<&str>) -> common::admin::RawResponse {
        let headers: Vec<(&str, &str)> = range.map(|r| ("Range", r)).into_iter().collect();
        self.server
            .raw("GET", path, Some(&self.token), None, &headers)
    }

    /// The whole audio and every range of `ranges`, checked against `plain`.
    fn plays_bit_exact(&self, plain: &[u8]) {
        let audio = "/v1/convergedRecordings/enc-1/audio";
        let whole = self.get(audio, None);
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body.len(), plain.len());
        assert!(whole.body == plain, "the whole audio, byte for byte");
        assert_eq!(whole.header("content-type"), Some("audio/ogg"));
        let len = plain.len();
        let c = CHUNK;
        for (range, from, to) in [
            ("bytes=0-0".to_string(), 0, 1),
            (format!("bytes={}-{}", c - 1, c), c - 1, c + 1),
            (format!("bytes={c}-{}", 2 * c - 1), c, 2 * c),
            (
                format!("bytes={}-{}", c - 10, 3 * c + 10),
                c - 10,
                3 * c + 11,
            ),
            (format!("bytes={}-", 2 * c + 1), 2 * c + 1, len),
            ("bytes=-50".to_string(), len - 50, len),
            (format!("bytes={}-{}", len - 1, len + 100), len - 1, len),
        ] {
            let part = self.get(audio, Some(&range));
            assert_eq!(part.status, 206, "{range}");
            assert!(part.body == plain[from..to], "{range}: bytes differ");
            let content_range = format!("bytes {from}-{}/{len}", to - 1);
            assert_eq!(part.header("content-range"), Some(content_range.as_str()));
        }
        // The signed playback link the details give, as the portal plays it.
        let (status, _, details) = self.server.request(
            "GET",
            "/v1/convergedRecordings/enc-1",
            Some(&self.token),
            None,
        );
        assert_eq!(status, 200, "{details}");
        assert_eq!(details["sizeBytes"], len);
        let link = details["temporaryDirectDownloadLinks"]["audioPlaybackLink"]
            .as_str()
            .expect("a link");
        let path = &link[link.find("/v1/").expect("a path")..];
        let linked = self.server.raw("GET", path, None, None, &[]);
        assert_eq!(linked.status, 200);
        assert!(
            linked.body == plain,
            "the signed link's audio, byte for byte"
        );
    }
}

/// The tags kept on `key` (`None` on the filesystem store, which keeps none).
fn tags(url: &str, key: &str) -> Option<Vec<(String, String)>> {
    let dest = callrec::store::Destination::open(url, &[]).expect("the store");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime
        .block_on(callrec::store::tagging::get(&dest, key))
        .expect("tags read")
}

#[test]
fn encrypted_recordings_are_ciphertext_in_the_store_and_play_bit_exact_across_a_key_rotation() {
    let tmp = TempDir::new("crypt-e2e");
    let raw = Raw::folder(&tmp.path("store"));
    encrypted_recordings_round_trip(&tmp, "store", &raw);
}

#[test]
fn encrypted_recordings_are_ciphertext_in_a_real_bucket_and_play_bit_exact_across_a_key_rotation() {
    let s3 = S3::new("crypt-e2e");
    let tmp = TempDir::new("crypt-e2e-s3");
    let raw = Raw::bucket(&s3.url);
    encrypted_recordings_round_trip(&tmp, &s3.url, &raw);
}

/// The whole story on the store at `url`, which `raw` reads and writes directly.
fn encrypted_recordings_round_trip(tmp: &TempDir, url: &str, raw: &Raw) {
    let dir = tmp.0.as_path();
    std::fs::write(dir.join("k1.key"), format!("{K1}\n")).expect("k1");
    std::fs::write(dir.join("k2.key"), format!("{K2}\n")).expect("k2");
    configure(dir, url, "k1", &["k1"]);
    record_call(dir, "acme", "alice", "enc-1", "dubber-standard");

    // In the store: ciphertext, and a metadata document saying how to open it.
    let (media_key, metadata_key) = raw.objects("enc-1");
    let stored = raw.read(&media_key);
    assert_eq!(&stored[..7], b"CRECENC", "our header, not an Ogg page");
    assert!(
        !stored.windows(4).any(|w| w == b"OggS"),
        "no Ogg page anywhere"
    );
    let bits = entropy(&stored);
    assert!(bits > 7.5, "{bits} bits a byte");
    let document: Value = serde_json::from_slice(&raw.read(&metadata_key)).expect("json");
    let encryption = &document["encryption"];
    assert_eq!(encryption["scheme"], envelope::SCHEME);
    assert_eq!(encryption["key_id"], "k1");
    assert_eq!(encryption["chunk_size"], CHUNK);
    assert_eq!(encryption["files"][0]["bytes"], stored.len());
    assert_eq!(
        encryption["files"][0]["sha256"],
        hex(&Sha256::digest(&stored))
    );
    let plain_len = document["files"][0]["bytes"].as_u64().expect("bytes") as usize;
    let plain_sha = document["files"][0]["sha256"].as_str().expect("sha256");
    assert!(plain_len > 3 * CHUNK + 11, "{plain_len} bytes");
    assert_eq!(
        stored.len(),
        20 + plain_len + plain_len.div_ceil(CHUNK) * 16
    );

    // Catalogued from the store as it stands, then played back through the recordings API:
    // the recorder's very bytes (their SHA-256 as it recorded them), an Ogg Opus file ffprobe
    // reads.
    let reindexed = json_lines(&ok(callrec(
        dir,
        &["storage", "reindex", "--config", "callrec.toml"],
    )));
    assert_eq!(reindexed[0]["catalogued"], 1, "{reindexed:?}");
    let token = create_token_for(command(dir), "alice", "user", &["acme"], &[]);
    let api = Api::start(dir, token.clone());
    let plain = api.get("/v1/convergedRecordings/enc-1/audio", None).body;
    assert_eq!(hex(&Sha256::digest(&plain)), plain_sha);
    assert_eq!(&plain[..4], b"OggS");
    let saved = tmp.path("enc-1.opus");
    std::fs::write(&saved, &plain).expect("save");
    let probe = common::run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_name".as_ref(),
            saved.as_os_str(),
        ],
    );
    assert!(probe.contains("codec_name=opus"), "{probe}");
    api.plays_bit_exact(&plain);
    // An independent decryption with the library and the key file gives the same bytes.
    let keys = OrgKeys {
        current: "k1".into(),
        keys: [("k1".to_string(), SecretsKey::parse(K1).expect("key"))].into(),
        chunk_size: CHUNK as u32,
    };
    let data: DataKey = keys
        .unwrap(
            "acme",
            "enc-1",
            "k1",
            encryption["wrapped_key"].as_str().expect("wrapped"),
        )
        .expect("the data key");
    let name = document["files"][0]["name"].as_str().expect("name");
    let opened =
        envelope::open_all(&data, &stored, plain_len as u64, 0..0, "enc-1", name).expect("opens");
    assert!(opened == plain);

    // `storage verify` decrypts and checks; one flipped byte fails it.
    let (passed, lines) = verify(dir);
    assert!(passed, "{lines:?}");
    assert_eq!(lines[0]["ok"], true, "{lines:?}");
    let mut flipped = stored.clone();
    flipped[20 + CHUNK + 100] ^= 0x01;
    raw.write(&media_key, &flipped);
    let (passed, lines) = verify(dir);
    assert!(!passed, "{lines:?}");
    assert_eq!(lines[0]["ok"], false, "{lines:?}");
    raw.write(&media_key, &stored);
    drop(api);
    let media_version = raw.version(&media_key);

    // Rotation, step 1: k1 gone from the keyring too soon: refused, never served wrong.
    configure(dir, url, "k2", &["k2"]);
    let api = Api::start(dir, token.clone());
    let refused = api.get("/v1/convergedRecordings/enc-1/audio", None);
    assert_eq!(refused.status, 502);
    let message = String::from_utf8_lossy(&refused.body).into_owned();
    assert!(message.contains("k1"), "{message}");
    drop(api);
    let (passed, lines) = verify(dir);
    assert!(!passed, "{lines:?}");

    // Step 2: both keys, k2 current; rewrap touches the metadata document only, which keeps
    // its tags (on S3, what the bucket's lifecycle rules match).
    configure(dir, url, "k2", &["k1", "k2"]);
    let before = raw.read(&metadata_key);
    let tags_before = tags(url, &metadata_key);
    let rewrapped = ok(callrec(
        dir,
        &[
            "storage",
            "rewrap",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ],
    ));
    let lines = json_lines(&rewrapped);
    assert_eq!(lines[0]["type"], "rewrapped", "{rewrapped}");
    assert_eq!(
        (&lines[0]["from"], &lines[0]["to"]),
        (&"k1".into(), &"k2".into())
    );
    assert_eq!(lines[1]["rewrapped"], 1, "{rewrapped}");
    let after: Value = serde_json::from_slice(&raw.read(&metadata_key)).expect("json");
    assert_eq!(after["encryption"]["key_id"], "k2");
    assert_ne!(
        after["encryption"]["wrapped_key"],
        encryption["wrapped_key"]
    );
    assert_eq!(after["files"], document["files"]);
    assert_eq!(after["storage"], document["storage"]);
    assert_eq!(after["encryption"]["files"], encryption["files"]);
    assert_ne!(raw.read(&metadata_key), before);
    assert_eq!(tags(url, &metadata_key), tags_before);
    if url.starts_with("s3://") {
        assert!(tags_before.is_some_and(|t| !t.is_empty()), "tagged on S3");
    }
    // Again: nothing left to do.
    let again = json_lines(&ok(callrec(
        dir,
        &[
            "storage",
            "rewrap",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ],
    )));
    assert_eq!(again[0]["current"], 1, "{again:?}");

    // Step 3: k1 removed. The media object was never written again; it still plays, bit
    // exact.
    configure(dir, url, "k2", &["k2"]);
    assert!(raw.read(&media_key) == stored, "the media object's bytes");
    assert_eq!(raw.version(&media_key), media_version, "never rewritten");
    let api = Api::start(dir, token);
    api.plays_bit_exact(&plain);
    let (passed, lines) = verify(dir);
    assert!(passed, "{lines:?}");
}
