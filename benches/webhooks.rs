//! Criterion benchmarks for completion events: what announcing a recording adds to storing
//! it. The catalog row alone (`put_recording`) against the row and its `recording.stored`
//! event in one transaction (`put_recording_announced`, an organisation with a webhook), on
//! SQLite (a file, as `serve` embeds it); and signing one event's body (HMAC-SHA256 over
//! `t.body`), the deliverer's only CPU work per try.

use callrec::policydb::recordings::{CatalogFile, CatalogRecording, Direction, Participant};
use callrec::policydb::{Change, PolicyDb};
use callrec::time::Time;
use callrec::webhook::sign;
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn row(n: u64) -> CatalogRecording {
    let start = Time::parse_rfc3339("2026-01-01T00:00:00Z").expect("time") + Duration::from_secs(n);
    let id = format!("call-{n:08}");
    let prefix = format!("recordings/30d/acme/2026/01/01/{id}/");
    CatalogRecording {
        org_id: "acme".into(),
        person: Some("alice".into()),
        location: Some("paris".into()),
        participants: vec![Participant {
            names: vec!["Alice".into()],
            addresses: vec!["sip:alice@acme.example".into()],
        }],
        direction: Direction::Outbound,
        kind: "call".into(),
        start,
        end: start + Duration::from_secs(180),
        duration_ms: 180_000,
        provider: "dubber".into(),
        plan: "dubber-standard".into(),
        retention: "30d".into(),
        expires_at: Some(start + Duration::from_secs(30 * 86_400)),
        legal_hold: false,
        size_bytes: 400_000,
        sha256: format!("{n:064x}"),
        format: "opus".into(),
        destination: "s3://recordings".into(),
        files: vec![CatalogFile {
            name: format!("{id}.opus"),
            key: format!("{prefix}{id}.opus"),
            bytes: 400_000,
            sha256: format!("{n:064x}"),
            legs: "both".into(),
        }],
        metadata_key: format!("{prefix}{id}.json"),
        prefix,
        ended: "bye".into(),
        stored_at: start + Duration::from_secs(200),
        id,
    }
}

fn webhooks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("webhooks-bench.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let db = runtime.block_on(async {
        let db = PolicyDb::open(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .expect("sqlite");
        db.migrate().await.expect("migrate");
        let by = Change {
            actor: "bench",
            at: Time::from_nanos(1),
        };
        db.set_webhook("acme", "https://hooks.acme.example/in", "plain:s", by)
            .await
            .expect("webhook");
        db
    });
    let next = AtomicU64::new(0);
    c.bench_function("webhooks/sqlite/row", |b| {
        b.iter(|| {
            let r = row(next.fetch_add(1, Ordering::Relaxed));
            runtime.block_on(db.put_recording(&r)).expect("row")
        })
    });
    c.bench_function("webhooks/sqlite/row_and_event", |b| {
        b.iter(|| {
            let r = row(next.fetch_add(1, Ordering::Relaxed));
            runtime
                .block_on(db.put_recording_announced(&r))
                .expect("row and event")
        })
    });
    let body = serde_json::json!({
        "id": "evt_0123456789abcdef0123456789abcdef",
        "type": "recording.stored",
        "orgId": "acme",
        "createdAt": "2026-01-01T00:03:20.000Z",
        "data": {"recordingId": "call-00000001", "personId": "alice", "durationMs": 180000,
                 "format": "opus", "sizeBytes": 400000, "sha256": "ab".repeat(32)},
    })
    .to_string();
    c.bench_function("webhooks/sign_event", |b| {
        b.iter(|| sign::header("whsec_0123456789abcdef", 1_765_000_000, body.as_bytes()))
    });
}

criterion_group!(benches, webhooks);
criterion_main!(benches);
