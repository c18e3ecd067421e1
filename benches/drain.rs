//! Criterion benchmark of how fast `serve`'s uploader drains a backlog: a spool holding
//! small recordings (a 64 KiB media file, about 16 s of Ogg Opus at 32 kbit/s, and its
//! metadata document each), uploaded by `server::siprec::uploader::run` exactly as `serve` runs it
//! (scheduler, the integrity check of every object, tags on S3, the job removed from the spool
//! with its fsyncs) until the spool is empty. Seeding the spool is not timed. Throughput is
//! in recordings; `drain/*_c1` is one upload at a time (what serve did before), `_c16` the
//! default `store.upload_concurrency`.
//!
//! Destinations: the local filesystem, and, when `CALLREC_TEST_S3` names a bucket (as under
//! ./scripts/test), the S3-compatible server on loopback. The uploader logs a line per
//! recording on stderr: `cargo bench --bench drain 2>/dev/null`.

use callrec::config::Config;
use callrec::server::siprec::uploader::{self, UploadMetrics};
use callrec::store::job::{self, FinishedFile};
use callrec::store::key::{RecordingKey, RetentionClass};
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::Spool;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MEDIA: usize = 64 << 10;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-drain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Commits `count` recordings for `destination` to the spool, each with its own key.
fn seed(spool: &Spool, destination: &str, count: usize, next: &AtomicU64) {
    for _ in 0..count {
        let n = next.fetch_add(1, Relaxed);
        let call = format!("call-{n}");
        let writer = spool.begin(destination, &call).expect("begin");
        let media: Vec<u8> = (0..MEDIA).map(|i| (i as u64 * 7 + n) as u8).collect();
        let mut f = std::fs::File::create(writer.dir().join("call.opus")).expect("create");
        f.write_all(&media).expect("write");
        f.sync_all().expect("sync");
        let storage = StorageInfo {
            org: "bench".into(),
            user: None,
            location: None,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: RetentionClass::Days(30),
            retained_since: "2026-12-06T00:00:00.000Z".into(),
        };
        let key = RecordingKey {
            class: storage.retention,
            org: "bench".into(),
            date: (2026, 12, 6),
            call: call.clone(),
        };
        let sidecar = format!(r#"{{"call":{{"id":"{call}"}},"files":[]}}"#);
        let file = FinishedFile {
            name: "call.opus".into(),
            bytes: media.len() as u64,
            sha256: sha256(&media),
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
        .expect("commit");
    }
}

/// Runs the uploader over the spool until it has stored everything; every recording must be
/// stored (a bench that loses some would measure nothing).
fn drain(runtime: &tokio::runtime::Runtime, config: &Arc<Config>, spool: &Spool, count: usize) {
    let metrics = Arc::new(UploadMetrics::default());
    let (_stop, stopped) = tokio::sync::watch::channel(true);
    runtime.block_on(uploader::run(
        Arc::clone(config),
        spool.clone(),
        None,
        Arc::new(tokio::sync::Notify::new()),
        Arc::clone(&metrics),
        stopped,
    ));
    assert_eq!(
        metrics.stored.load(Relaxed),
        count as u64,
        "every recording stored"
    );
    assert_eq!(metrics.failures.load(Relaxed), 0);
}

fn drain_to(c: &mut Criterion, name: &str, url: &str) {
    let dir = temp_dir(name);
    let spool = Spool::open(dir.join("spool"), u64::MAX).expect("spool");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("drain");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    for (concurrency, batch) in [(1, 20), (16, 200)] {
        let mut config = Config::default();
        config.store.url = url.to_string();
        config.store.upload_concurrency = concurrency;
        let config = Arc::new(config);
        group.throughput(Throughput::Elements(batch as u64));
        group.measurement_time(Duration::from_secs(20));
        group.bench_function(format!("{name}_c{concurrency}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seed(&spool, url, batch, &next);
                    let started = Instant::now();
                    drain(&runtime, &config, &spool, batch);
                    total += started.elapsed();
                }
                total
            });
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

fn drain_rate(c: &mut Criterion) {
    let fs = temp_dir("fs-store");
    drain_to(c, "filesystem", fs.to_str().expect("utf-8"));
    if let Ok(bucket) = std::env::var("CALLREC_TEST_S3") {
        let url = format!("{bucket}/drain-{}", std::process::id());
        drain_to(c, "s3_loopback", &url);
    }
    let _ = std::fs::remove_dir_all(Path::new(&fs));
}

criterion_group!(benches, drain_rate);
criterion_main!(benches);
