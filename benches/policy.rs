//! Criterion benchmarks for `policy::index` and `policydb::cache`: how long a call set-up waits for its policy
//! (target: never more than 1 ms) and what keeping the cache fresh costs.
//!
//! The population: 10 organisations × 10 locations × 1,000 users per location = 100,000
//! users, one SIP AOR each (200,110 documents), in a SQLite policy store. It is bulk-loaded
//! in one transaction behind the store's back: 200,000 audited single inserts would take
//! minutes, and the load reads documents only.
//!
//! - `lookup/*`: one effective-policy lookup by AOR from the index: `known` (a random user's
//!   URI), `header` (the same as a whole `From` header: display name, brackets, port,
//!   parameters), `unknown` (nobody's), `cache` (known, through [`PolicyCache`]'s lock: the
//!   recorder's own path).
//! - `apply/user`: one decoded user replaced in the index, what a refresh does per change
//!   while holding the write lock (lookups wait for at most `APPLY_BATCH` of these).
//! - `refresh/*`: `idle`, a refresh with nothing new (what each worker pays every second);
//!   `one_change`, the refresh that brings in one user changed through another handle on the
//!   store (only the refresh is timed).
//! - `load/sqlite_100k`: [`PolicyCache::load`] of the whole population (a worker's start-up).
//!
//! Under `cargo test --benches` each runs once on a population a hundred times smaller.

use callrec::policy::account::ProviderAccount;
use callrec::policy::index::{
    AorTarget, Lookup, PolicyIndex, Update, KIND_AOR, KIND_LOCATION, KIND_ORGANISATION, KIND_USER,
};
use callrec::policy::location::Location;
use callrec::policy::model::{
    Admin, AdminId, AdminRole, LocationId, LocationProvider, OrgId, UserId,
};
use callrec::policy::organisation::Organisation;
use callrec::policy::plan::{DubberEntitlement, Provider};
use callrec::policy::region::Region;
use callrec::policy::settings::{Mode, PlatformInfo};
use callrec::policy::terms::TermsAcceptance;
use callrec::policy::user::{Licence, Person, User};
use callrec::policy::Decision;
use callrec::policydb::cache::PolicyCache;
use callrec::policydb::{Change, DbError, PolicyDb};
use callrec::time::Time;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde::Serialize;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ORGS: usize = 10;
const LOCATIONS: usize = 10;
const USERS_PER_LOCATION: usize = 1_000;
/// Distinct AORs each lookup benchmark cycles through (random users, so the hash maps are
/// read all over, not from one warm entry).
const SAMPLES: usize = 4096;

fn at() -> Time {
    Time::parse_rfc3339("2026-11-25T10:00:00Z").expect("valid")
}

fn admin() -> Admin {
    Admin {
        id: AdminId::from("alice"),
        role: AdminRole::Customer,
    }
}

/// Every document as `(kind, id, org, body)`: organisations on Dubber with terms and account,
/// users mostly enabled and recording (the longest path through `effective_policy`).
fn population(users_per_location: usize) -> Vec<(&'static str, String, String, String)> {
    let mut docs = Vec::new();
    for o in 0..ORGS {
        let org_id = OrgId(format!("org{o}"));
        let mut org = Organisation::new(org_id.clone(), &format!("Org {o}"), Region::Eu);
        org.terms.push(TermsAcceptance {
            provider: Provider::Dubber,
            accepted_by: admin(),
            accepted_at: at(),
        });
        org.accounts.push(ProviderAccount {
            provider: Provider::Dubber,
            external_id: org_id.0.clone(),
            created_by: admin(),
            created_at: at(),
            admins: vec![admin()],
        });
        docs.push((
            KIND_ORGANISATION,
            org_id.0.clone(),
            org_id.0.clone(),
            json(&org),
        ));
        for l in 0..LOCATIONS {
            let location = Location {
                id: LocationId(format!("org{o}-loc{l}")),
                org: org_id.clone(),
                name: format!("Site {l}"),
                region: None,
                provider: LocationProvider::OrganisationDefault,
            };
            docs.push((
                KIND_LOCATION,
                location.id.0.clone(),
                org_id.0.clone(),
                json(&location),
            ));
            for u in 0..users_per_location {
                let n = (o * LOCATIONS + l) * users_per_location + u;
                let mut user = User::new(
                    UserId(format!("user{n}")),
                    org_id.clone(),
                    location.id.clone(),
                    Person {
                        first_name: format!("First{n}"),
                        last_name: "Martin".into(),
                        email: format!("user{n}@org{o}.example.com"),
                        time_zone: "Europe/Paris".into(),
                    },
                    Licence::Professional,
                );
                user.enabled = !n.is_multiple_of(10);
                user.settings.mode = [Mode::Always, Mode::AlwaysWithPauseResume][n % 2];
                user.entitlement = DubberEntitlement::ALL[n % 3];
                user.platform = Some(PlatformInfo {
                    service_provider: org_id.0.clone(),
                    external_group: location.id.0.clone(),
                    external_identifier: user.id.0.clone(),
                });
                docs.push((KIND_USER, user.id.0.clone(), org_id.0.clone(), json(&user)));
                let target = AorTarget { user: user.id };
                docs.push((KIND_AOR, aor(n), org_id.0.clone(), json(&target)));
            }
        }
    }
    docs
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("encodes")
}

fn aor(n: usize) -> String {
    format!("sip:user{n}@example.com")
}

/// `SAMPLES` pseudo-random user numbers (xorshift; the same every run).
fn random_users(users: usize) -> Vec<usize> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..SAMPLES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % users as u64) as usize
        })
        .collect()
}

/// Where the benchmark's store lives: memory-backed when the machine has it, so that the
/// writes around `refresh/one_change` do not wait for a disk.
fn store_path() -> PathBuf {
    let dir = match std::path::Path::new("/dev/shm") {
        shm if shm.is_dir() => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    dir.join(format!(
        "callrec-bench-policy-{}.sqlite",
        std::process::id()
    ))
}

fn remove_store(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// A migrated SQLite store holding `docs`, written in one transaction.
async fn bulk_store(path: &std::path::Path, docs: &[(&str, String, String, String)]) -> PolicyDb {
    remove_store(path);
    let url = format!("sqlite://{}", path.display());
    let db = PolicyDb::open(&url).await.expect("open");
    db.migrate().await.expect("migrate");
    let raw = sqlx::AnyPool::connect(&url).await.expect("raw");
    let mut tx = raw.begin().await.expect("begin");
    let updated_at = at().to_rfc3339();
    for (kind, id, org, body) in docs {
        sqlx::query(
            "INSERT INTO documents (kind, id, org_id, version, body, updated_at) \
             VALUES ($1, $2, $3, 1, $4, $5)",
        )
        .bind(*kind)
        .bind(id)
        .bind(org)
        .bind(body)
        .bind(&updated_at)
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
    raw.close().await;
    db
}

fn record_share(index: &PolicyIndex, users: &[usize]) -> usize {
    users
        .iter()
        .filter(|&&n| matches!(index.lookup(&aor(n)), Lookup::Known(Decision::Record(_))))
        .count()
}

fn policy(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Under `cargo test --benches` (no `--bench` argument) the benchmarks run once each to
    // prove they work: a population a hundred times smaller does that as well.
    let bench = std::env::args().any(|a| a == "--bench");
    let users_per_location = if bench { USERS_PER_LOCATION } else { 10 };
    let docs = population(users_per_location);
    let path = store_path();
    let db = runtime.block_on(bulk_store(&path, &docs));

    let mut index = PolicyIndex::default();
    for (kind, id, _, body) in &docs {
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        index.apply(kind, id, Some(&body)).expect("applies");
    }
    let users = random_users(ORGS * LOCATIONS * users_per_location);
    let recorded = record_share(&index, &users);
    assert!(
        recorded > SAMPLES * 8 / 10,
        "{recorded} of {SAMPLES} recorded"
    );
    let known: Vec<String> = users.iter().map(|&n| aor(n)).collect();
    let headers: Vec<String> = users
        .iter()
        .map(|&n| format!("\"User {n}\" <sip:user{n}@EXAMPLE.com:5061;transport=tls>;tag=8a3f21c"))
        .collect();
    let unknown: Vec<String> = users
        .iter()
        .map(|&n| format!("sip:nobody{n}@example.com"))
        .collect();
    let cache = runtime
        .block_on(PolicyCache::load(db.clone()))
        .expect("load");
    // Each list asks what its name says.
    assert_eq!(index.lookup(&headers[0]), index.lookup(&known[0]));
    assert_eq!(cache.lookup(&known[1]), index.lookup(&known[1]));
    assert_eq!(index.lookup(&unknown[0]), Lookup::Unknown);

    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(1));
    for (name, aors) in [
        ("known", &known),
        ("header", &headers),
        ("unknown", &unknown),
    ] {
        let mut next = aors.iter().cycle();
        group.bench_function(name, |b| {
            b.iter(|| index.lookup(black_box(next.next().expect("cycles"))))
        });
    }
    let mut next = known.iter().cycle();
    group.bench_function("cache", |b| {
        b.iter(|| cache.lookup(black_box(next.next().expect("cycles"))))
    });
    group.finish();

    // What a refresh does under the write lock for each change: one decoded user replaced.
    let mut group = c.benchmark_group("apply");
    let user: serde_json::Value = serde_json::from_str(
        &docs
            .iter()
            .find(|(kind, ..)| *kind == KIND_USER)
            .expect("a user")
            .3,
    )
    .expect("json");
    let id = user["id"].as_str().expect("an id").to_string();
    let update = Update::decode(KIND_USER, &id, Some(&user)).expect("decodes");
    group.bench_function("user", |b| {
        b.iter_batched(
            || update.clone(),
            |update| index.update(update),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("refresh");
    group.bench_function("idle", |b| {
        b.iter(|| runtime.block_on(cache.refresh()).expect("refresh"))
    });
    let writer = runtime.block_on(async {
        PolicyDb::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("writer")
    });
    group.bench_function("one_change", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut refreshing = Duration::ZERO;
                for i in 0..iters {
                    let id = format!("user{}", users[i as usize % SAMPLES]);
                    let change = Change {
                        actor: "bench",
                        at: at(),
                    };
                    writer
                        .modify(KIND_USER, &id, change, |mut u: User| {
                            u.settings.record_voicemail = !u.settings.record_voicemail;
                            Ok::<_, DbError>(u)
                        })
                        .await
                        .expect("modify");
                    let start = Instant::now();
                    let applied = cache.refresh().await.expect("refresh");
                    refreshing += start.elapsed();
                    assert_eq!(applied, 1);
                }
                refreshing
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function("sqlite_100k", |b| {
        b.iter(|| {
            runtime
                .block_on(PolicyCache::load(db.clone()))
                .expect("load")
        })
    });
    group.finish();
    remove_store(&path);
}

criterion_group!(benches, policy);
criterion_main!(benches);
