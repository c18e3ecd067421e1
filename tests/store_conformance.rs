//! One conformance suite for every store callrec writes to, run unchanged on memory, the local
//! filesystem and a real S3-compatible server (Ceph's RADOS Gateway, started on loopback by
//! ./scripts/test): spool, upload (single and multipart), verify, resume, hostile ids.

mod common;

use callrec::store::catalog;
use callrec::store::job::{self, FinishedFile};
use callrec::store::key::{RecordingKey, RetentionClass};
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::{Spool, SpoolJob};
use callrec::store::upload::{self, UploadConfig};
use callrec::store::{tagging, verify, Destination};
use callrec::time::Time;
use common::TempDir;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// Small parts so a 12 MiB file goes up in three (S3's minimum part is 5 MiB).
fn small_parts() -> UploadConfig {
    UploadConfig {
        multipart_threshold: 6 << 20,
        part_size: 5 << 20,
        ..UploadConfig::default()
    }
}

/// Bytes that differ everywhere, so a misplaced or dropped part changes the hash.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Call<'a> {
    org: &'a str,
    call: &'a str,
    class: RetentionClass,
    files: Vec<(&'a str, Vec<u8>)>,
}

/// Spools a recording the way `record --store` does.
fn spool_call(spool: &Spool, dest: &Destination, call: &Call) -> SpoolJob {
    let writer = spool
        .begin(&dest.url, &format!("{}\n{}", call.org, call.call))
        .expect("begin");
    let mut media = Vec::new();
    let mut listed = Vec::new();
    for (name, bytes) in &call.files {
        std::fs::write(writer.dir().join(name), bytes).expect("write media");
        media.push(FinishedFile {
            name: name.to_string(),
            bytes: bytes.len() as u64,
            sha256: sha(bytes),
        });
        listed.push(serde_json::json!({"name": name, "bytes": bytes.len(), "sha256": sha(bytes)}));
    }
    let sidecar = serde_json::json!({"call": {"id": call.call}, "files": listed});
    let key = RecordingKey {
        class: call.class,
        org: call.org.into(),
        date: (2026, 11, 25),
        call: call.call.into(),
    };
    let storage = StorageInfo {
        org: call.org.into(),
        user: Some("alice".into()),
        location: None,
        provider: "dubber".into(),
        plan: "dubber-go".into(),
        retention: call.class,
        retained_since: Time::from_nanos(1_795_600_000_000_000_000).to_rfc3339(),
    };
    let sidecar = serde_json::to_vec(&sidecar).expect("json");
    job::commit(writer, &dest.url, &key, &storage, &sidecar, media, None).expect("commit")
}

async fn bytes_at(dest: &Destination, key: &str) -> Vec<u8> {
    let path = Path::parse(key).expect("key");
    dest.store
        .get(&path)
        .await
        .expect("stored")
        .bytes()
        .await
        .expect("read")
        .to_vec()
}

/// The real store, with every write it receives noted in order (and every read, apart).
#[derive(Debug)]
struct NotedWrites {
    inner: Arc<dyn ObjectStore>,
    writes: Arc<Mutex<Vec<String>>>,
    reads: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Display for NotedWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotedWrites({})", self.inner)
    }
}

impl NotedWrites {
    fn note(&self, what: &str, location: &Path) {
        self.writes
            .lock()
            .expect("lock")
            .push(format!("{what} {location}"));
    }
}

#[async_trait::async_trait]
impl ObjectStore for NotedWrites {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.note("put", location);
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.note("multipart", location);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let what = if options.head { "head" } else { "get" };
        self.reads
            .lock()
            .expect("lock")
            .push(format!("{what} {location}"));
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.note("copy", to);
        self.inner.copy_opts(from, to, options).await
    }
}

async fn suite(url: &str) {
    let tmp = TempDir::new("conformance");
    let writes = Arc::new(Mutex::new(Vec::new()));
    let reads = Arc::new(Mutex::new(Vec::new()));
    let (noted_writes, noted_reads) = (writes.clone(), reads.clone());
    let dest = Destination::open(url, &[])
        .expect("open store")
        .map_store(|inner| {
            Arc::new(NotedWrites {
                inner,
                writes: noted_writes,
                reads: noted_reads,
            })
        });
    let spool = Spool::open(tmp.path("spool"), 1 << 30).expect("spool");

    // A stereo file big enough for multipart, and a small one: stored byte for byte.
    let big = noise(12 << 20, 1);
    let small = noise(70_001, 2);
    let call = Call {
        org: "acme",
        call: "call-1",
        class: RetentionClass::Days(30),
        files: vec![
            ("call-1.wav", big.clone()),
            ("call-1-b.opus", small.clone()),
        ],
    };
    let job = spool_call(&spool, &dest, &call);
    let report = upload::upload_once(&dest, &job, &small_parts())
        .await
        .expect("upload");
    assert_eq!(report.objects_sent, 3);
    assert_eq!(
        report.bytes_sent,
        big.len() as u64 + small.len() as u64 + job.manifest.metadata.bytes
    );
    let prefix = "recordings/30d/acme/2026/11/25/call-1/";
    // Media first (the big one in parts), the metadata document last.
    assert_eq!(
        *writes.lock().expect("lock"),
        vec![
            format!("multipart {prefix}call-1.wav"),
            format!("put {prefix}call-1-b.opus"),
            format!("put {prefix}call-1.json"),
        ]
    );
    assert_eq!(bytes_at(&dest, &format!("{prefix}call-1.wav")).await, big);
    assert_eq!(
        bytes_at(&dest, &format!("{prefix}call-1-b.opus")).await,
        small
    );

    let listed = catalog::list(&dest, Some("acme")).await.expect("list");
    assert_eq!(listed.len(), 1);
    let recording = &listed[0];
    assert_eq!(recording.dir.prefix(), prefix);
    assert_eq!(recording.media.len(), 2);
    let (_, metadata) = catalog::read_metadata(&dest, recording)
        .await
        .expect("read")
        .expect("metadata");
    assert_eq!(metadata.storage.retention, RetentionClass::Days(30));
    assert_eq!(metadata.storage.user.as_deref(), Some("alice"));
    assert_eq!(metadata.files.len(), 2);
    assert_eq!(
        verify::check(&dest, recording, &Default::default())
            .await
            .expect("verify"),
        Vec::<String>::new()
    );

    // Resuming the same job (a crash after upload, before the spool copy was removed) sends
    // nothing again and leaves exactly the same objects.
    let again = upload::upload_once(&dest, &job, &small_parts())
        .await
        .expect("resume");
    assert_eq!((again.objects_sent, again.bytes_sent), (0, 0));
    assert_eq!(
        catalog::list(&dest, Some("acme")).await.expect("list")[0]
            .media
            .len(),
        2
    );

    // A damaged stored copy is found by verify, and re-uploading the job repairs it.
    let damaged = Path::parse(format!("{prefix}call-1-b.opus")).expect("key");
    dest.store
        .put(&damaged, PutPayload::from(b"not the recording".to_vec()))
        .await
        .expect("put");
    let problems = verify::check(&dest, recording, &Default::default())
        .await
        .expect("verify");
    assert_eq!(
        problems,
        vec![format!(
            "call-1-b.opus: 17 bytes stored, {} recorded",
            small.len()
        )]
    );
    let repair = upload::upload_once(&dest, &job, &small_parts())
        .await
        .expect("repair");
    assert_eq!(repair.objects_sent, 1);
    assert_eq!(
        bytes_at(&dest, &format!("{prefix}call-1-b.opus")).await,
        small
    );
    spool.finish(&job).expect("finish");

    // Ids from outside stay inside their own prefix and never meet another's key.
    let hostile = Call {
        org: "../acme",
        call: "call-1/../../x%2F",
        class: RetentionClass::Unlimited,
        files: vec![("m.opus", noise(1000, 3))],
    };
    let job = spool_call(&spool, &dest, &hostile);
    upload::upload_once(&dest, &job, &small_parts())
        .await
        .expect("upload");
    let hostile_list = catalog::list(&dest, Some("../acme")).await.expect("list");
    assert_eq!(hostile_list.len(), 1);
    assert_eq!(
        hostile_list[0].dir.prefix(),
        "recordings/unlimited/%2E.%2Facme/2026/11/25/call-1%2F..%2F..%2Fx%252F/"
    );
    assert_eq!(
        verify::check(&dest, &hostile_list[0], &Default::default())
            .await
            .expect("verify"),
        Vec::<String>::new()
    );
    let acme = catalog::list(&dest, Some("acme")).await.expect("list");
    assert_eq!(acme.len(), 1, "the hostile org's recording is not acme's");
    let everything = catalog::list(&dest, None).await.expect("list");
    assert_eq!(everything.len(), 2);

    // A job's first attempt (never tried, so nothing of it can be stored yet), as `serve`
    // makes it. On S3 each small file goes up in one request with its tags and is checked by
    // the MD5 ETag the store answers: nothing is read back. Stores without MD5 ETags read
    // each object back (a HEAD and a GET).
    let fresh = Call {
        org: "acme",
        call: "call-2",
        class: RetentionClass::Days(30),
        files: vec![("call-2.opus", noise(5000, 4))],
    };
    let job = spool_call(&spool, &dest, &fresh);
    reads.lock().expect("lock").clear();
    let report = upload::upload_attempt(&dest, &job, &small_parts(), true)
        .await
        .expect("first attempt");
    assert_eq!(report.objects_sent, 2);
    let read = std::mem::take(&mut *reads.lock().expect("lock"));
    if dest.s3().is_some() {
        assert_eq!(read, Vec::<String>::new(), "checked by ETag, not read back");
        for file in job.manifest.media.iter().chain([&job.manifest.metadata]) {
            let mut tags = tagging::get(&dest, &file.key)
                .await
                .expect("tags")
                .expect("S3");
            let mut sent = job.manifest.tags.clone();
            tags.sort();
            sent.sort();
            assert_eq!(tags, sent, "{}", file.key);
        }
    } else {
        assert_eq!(read.len(), 4, "{read:?}");
    }
    let listed = catalog::list(&dest, Some("acme")).await.expect("list");
    let stored = listed
        .iter()
        .find(|r| r.dir.prefix().ends_with("/call-2/"))
        .expect("call-2 listed");
    assert_eq!(
        verify::check(&dest, stored, &Default::default())
            .await
            .expect("verify"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn memory_store() {
    suite("memory://conformance").await;
}

#[tokio::test]
async fn local_filesystem_store() {
    let dir = TempDir::new("fs-store");
    suite(dir.0.to_str().expect("utf-8 path")).await;
}

/// The S3-compatible server ./scripts/test starts (Ceph RADOS Gateway on loopback).
pub fn s3_url(test: &str) -> String {
    let bucket = std::env::var("CALLREC_TEST_S3").unwrap_or_else(|_| {
        panic!("CALLREC_TEST_S3 is not set: run ./scripts/test, which starts the S3 server")
    });
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{bucket}/{test}-{}-{unique}", std::process::id())
}

#[tokio::test]
async fn s3_store() {
    suite(&s3_url("conformance")).await;
}
