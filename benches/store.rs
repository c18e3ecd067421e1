//! Criterion benchmarks for `store`: what durability costs and how fast recordings leave.
//!
//! - `spool/*`: putting one finished recording (a 1 MiB file, about four minutes of Ogg Opus
//!   at 32 kbit/s) into the spool: write + fsync, then the metadata and manifest commit with
//!   their own fsyncs. `plain_write` is the file alone (write + fsync), so the difference is
//!   the spool's overhead per recording.
//! - `upload/*`: one spooled recording uploaded and verified (read back and hashed, tagged on
//!   S3) to the local filesystem, memory, and, when `CALLREC_TEST_S3` names a bucket (as under
//!   ./scripts/test), the S3-compatible server on loopback: 1 MiB (one PUT) and 24 MiB (an
//!   hour of stereo WAV at 8 kHz is 110 MiB; this is three 8 MiB parts). Throughput is in
//!   bytes of media.

use callrec::store::job::{self, FinishedFile};
use callrec::store::key::{RecordingKey, RetentionClass};
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::{Spool, SpoolJob};
use callrec::store::upload::{self, UploadConfig};
use callrec::store::Destination;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

const MEDIA: usize = 1 << 20;
const LARGE: usize = 24 << 20;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn media(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn write_synced(path: &std::path::Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("sync");
}

fn spool_one(spool: &Spool, destination: &str, call: &str, bytes: &[u8]) -> SpoolJob {
    let writer = spool.begin(destination, call).expect("begin");
    write_synced(&writer.dir().join("call.opus"), bytes);
    let sha: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = RecordingKey {
        class: RetentionClass::Days(30),
        org: "bench".into(),
        date: (2026, 11, 25),
        call: call.into(),
    };
    let storage = StorageInfo {
        org: "bench".into(),
        user: None,
        location: None,
        provider: "dubber".into(),
        plan: "dubber-go".into(),
        retention: key.class,
        retained_since: "2026-11-25T00:00:00.000Z".into(),
    };
    let sidecar = format!(r#"{{"call":{{"id":"{call}"}},"files":[]}}"#);
    let file = FinishedFile {
        name: "call.opus".into(),
        bytes: bytes.len() as u64,
        sha256: sha,
    };
    job::commit(
        writer,
        destination,
        &key,
        &storage,
        sidecar.as_bytes(),
        vec![file],
        None,
    )
    .expect("commit")
}

fn spool(c: &mut Criterion) {
    let dir = temp_dir("spool");
    let bytes = media(MEDIA);
    let spool = Spool::open(dir.join("spool"), u64::MAX).expect("spool");
    let mut group = c.benchmark_group("spool");
    group.throughput(Throughput::Bytes(MEDIA as u64));
    group.bench_function("plain_write_1MiB", |b| {
        let path = dir.join("plain.opus");
        b.iter(|| write_synced(&path, &bytes));
    });
    group.bench_function("commit_1MiB", |b| {
        b.iter(|| {
            let job = spool_one(&spool, "memory://bench", "call", &bytes);
            spool.finish(&job).expect("finish");
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

fn upload_to(c: &mut Criterion, name: &str, url: &str, len: usize) {
    let dir = temp_dir(name);
    let bytes = media(len);
    let dest = Destination::open(url, &[]).expect("store");
    let spool = Spool::open(dir.join("spool"), u64::MAX).expect("spool");
    let job = spool_one(&spool, url, "call", &bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = UploadConfig::default();
    let mut group = c.benchmark_group("upload");
    group.throughput(Throughput::Bytes(len as u64));
    if len > MEDIA {
        group.sample_size(10);
    }
    group.bench_function(format!("{name}_{}MiB", len >> 20), |b| {
        b.iter(|| {
            runtime.block_on(async {
                // Remove the stored copy so every iteration uploads in full.
                for file in job.manifest.media.iter().chain([&job.manifest.metadata]) {
                    let key = object_store::path::Path::parse(&file.key).expect("key");
                    let _ = object_store::ObjectStoreExt::delete(&*dest.store, &key).await;
                }
                let report = upload::upload_once(&dest, &job, &config)
                    .await
                    .expect("upload");
                assert_eq!(report.objects_sent, 2);
            })
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

fn upload(c: &mut Criterion) {
    let fs = temp_dir("fs-store");
    let s3 = std::env::var("CALLREC_TEST_S3").ok();
    for len in [MEDIA, LARGE] {
        upload_to(c, "filesystem", fs.to_str().expect("utf-8"), len);
        upload_to(c, "memory", "memory://bench", len);
        if let Some(bucket) = &s3 {
            let url = format!("{bucket}/bench-{}", std::process::id());
            upload_to(c, "s3_loopback", &url, len);
        }
    }
    let _ = std::fs::remove_dir_all(fs);
}

criterion_group!(benches, spool, upload);
criterion_main!(benches);
