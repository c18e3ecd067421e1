//! Criterion benchmarks for the recordings catalog: one organisation's 1,000,000 recordings
//! (1,000 people, a year of calls each), searched by person and a 30-day range for the newest
//! page of 100, as the recordings API and the portal ask. Measured on SQLite (a file, as
//! `serve` embeds it) and, when `CALLREC_TEST_POSTGRES` names one, on PostgreSQL.
//!
//! The time is one query from the API's side: the SQL, the rows decoded into
//! `CatalogRecording`s (JSON columns included). Besides criterion's median, each database's
//! p50 and p99 over 2,000 queries of random people and ranges are printed (the README quotes
//! them). `CALLREC_CATALOG_ROWS` changes the size; in test mode (`cargo test --benches`) the
//! catalog holds 2,000 rows so the check stays quick.

use callrec::policydb::recordings::{
    CatalogFile, CatalogRecording, Direction, Participant, RecordingQuery,
};
use callrec::policydb::PolicyDb;
use callrec::time::Time;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const PEOPLE: u64 = 1_000;
const YEAR_SECS: u64 = 365 * 86_400;
/// Rows per transaction while loading.
const BATCH: usize = 5_000;

fn rows_wanted() -> u64 {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    match std::env::var("CALLREC_CATALOG_ROWS") {
        Ok(n) => n.parse().expect("CALLREC_CATALOG_ROWS: a number"),
        Err(_) if bench_mode => 1_000_000,
        Err(_) => 2_000,
    }
}

fn epoch() -> Time {
    Time::parse_rfc3339("2026-01-01T00:00:00Z").expect("time")
}

/// Recording `n`: its person is `n % PEOPLE`, its start spread evenly over the year.
fn row(n: u64, total: u64) -> CatalogRecording {
    let start = epoch() + Duration::from_secs(n * YEAR_SECS / total.max(1));
    let id = format!("call-{n:08}-{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let person = format!("person-{:04}", n % PEOPLE);
    let prefix = format!("recordings/30d/acme/2026/01/01/{id}/");
    CatalogRecording {
        org_id: "acme".into(),
        person: Some(person.clone()),
        location: Some("paris".into()),
        participants: vec![
            Participant {
                names: vec![person.clone()],
                addresses: vec![format!("sip:{person}@acme.example")],
            },
            Participant {
                names: vec![format!("Customer {}", n % 7919)],
                addresses: vec![format!("tel:+1555{:07}", n % 10_000_000)],
            },
        ],
        direction: if n.is_multiple_of(2) {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        kind: "call".into(),
        start,
        end: start + Duration::from_secs(180),
        duration_ms: 180_000,
        provider: "dubber".into(),
        plan: "dubber-go".into(),
        retention: "30d".into(),
        expires_at: Some(start + Duration::from_secs(30 * 86_400)),
        legal_hold: false,
        size_bytes: 400_000,
        sha256: format!("{:064x}", n),
        format: "opus".into(),
        destination: "s3://recordings".into(),
        files: vec![CatalogFile {
            name: format!("{id}.opus"),
            key: format!("{prefix}{id}.opus"),
            bytes: 400_000,
            sha256: format!("{:064x}", n),
            legs: "both".into(),
        }],
        metadata_key: format!("{prefix}{id}.json"),
        prefix,
        ended: "bye".into(),
        stored_at: start + Duration::from_secs(200),
        id,
    }
}

/// Fills `db` with `total` recordings, unless an earlier run left them (the SQLite file is
/// kept between runs under the target directory; loading a million rows takes minutes).
async fn load(db: &PolicyDb, total: u64) {
    let last = row(total - 1, total);
    if db
        .recording("acme", &last.id)
        .await
        .expect("read")
        .is_some()
    {
        return;
    }
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..total {
        batch.push(row(n, total));
        if batch.len() == BATCH || n + 1 == total {
            db.put_recordings(&batch).await.expect("load");
            batch.clear();
        }
    }
    eprintln!("catalog: loaded {total} rows in {:.1?}", started.elapsed());
}

/// A random person's newest page of 100 within a random 30-day range.
fn query(rng: &mut u64) -> (String, Time, Time) {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let person = format!("person-{:04}", *rng % PEOPLE);
    let from = epoch() + Duration::from_secs((*rng >> 20) % (YEAR_SECS - 30 * 86_400));
    (person, from, from + Duration::from_secs(30 * 86_400))
}

async fn search(db: &PolicyDb, person: &str, from: Time, to: Time) -> usize {
    let q = RecordingQuery {
        org_id: "acme",
        person: Some(person),
        from: Some(from),
        to: Some(to),
        participant: None,
        limit: 100,
        offset: 0,
    };
    db.find_recordings(&q).await.expect("search").len()
}

/// p50 and p99 of `n` searches, printed for the README.
async fn percentiles(name: &str, db: &PolicyDb, n: usize) {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut times = Vec::with_capacity(n);
    let mut found = 0;
    for _ in 0..n {
        let (person, from, to) = query(&mut rng);
        let started = Instant::now();
        found += search(db, &person, from, to).await;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    eprintln!(
        "catalog/{name}: {n} searches, p50 {:.2?}, p99 {:.2?}, max {:.2?}, {:.1} rows each",
        at(0.50),
        at(0.99),
        times[times.len() - 1],
        found as f64 / n as f64
    );
}

fn bench_db(c: &mut Criterion, runtime: &Runtime, name: &str, db: &PolicyDb, total: u64) {
    runtime.block_on(load(db, total));
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    c.bench_function(&format!("catalog/{name}/person_30_days_newest_100"), |b| {
        b.iter(|| {
            let (person, from, to) = query(&mut rng);
            runtime.block_on(search(db, &person, from, to))
        })
    });
    runtime.block_on(percentiles(name, db, 2_000));
}

fn catalog(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let total = rows_wanted();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("catalog-bench-{total}.sqlite"));
    let sqlite = runtime.block_on(async {
        let db = PolicyDb::open(&format!("sqlite://{}", file.display()))
            .await
            .expect("sqlite");
        db.migrate().await.expect("migrate");
        db
    });
    bench_db(c, &runtime, "sqlite", &sqlite, total);
    if let Ok(base) = std::env::var("CALLREC_TEST_POSTGRES") {
        let postgres = runtime.block_on(async {
            // A schema of the benchmark's own, by size, kept between runs like the file.
            let schema = format!("catalog_bench_{total}");
            let admin = sqlx::AnyPool::connect(&base).await.expect("postgres");
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await
                .expect("schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            let db = PolicyDb::open(&url).await.expect("postgres");
            db.migrate().await.expect("migrate");
            db
        });
        bench_db(c, &runtime, "postgres", &postgres, total);
    }
}

criterion_group!(benches, catalog);
criterion_main!(benches);
