//! The store's own legal hold against a real S3 server (the Ceph RADOS Gateway `./scripts/test`
//! starts): on a bucket made with Object Lock, a held recording's objects cannot be deleted
//! even by a request naming their version (what someone with the bucket's keys, or a lifecycle
//! rule expiring old versions, would send), and can once released; a bucket made without
//! Object Lock says so, and the catalog's hold is then the only one. Without the server these
//! tests fail rather than skip.
//!
//! Also on the gateway: its own lifecycle (callrec's rules, `radosgw-admin lc process`, a
//! lifecycle day of one second) removes what was deleted and what expired, version and all,
//! but never a held recording's version, and leaves a held recording playable; and a held
//! person's next call, stored by `callrec serve`'s uploader, is locked in the bucket as it is
//! catalogued.

mod common;

use callrec::store::key::RetentionClass;
use callrec::store::object_lock::{self, LockOutcome};
use callrec::store::s3::{S3Admin, S3Error};
use callrec::store::{lifecycle, tagging, Destination};
use common::admin::{create_token_for, AdminServer};
use common::lifecycle as gateway_lifecycle;
use common::recordings::record_call;
use common::scenario_db::callrec_in;
use common::serve::Serve;
use common::TempDir;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStoreExt, PutPayload};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};

/// An environment variable `./scripts/test` sets.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests with ./scripts/test, which starts a RADOS Gateway"
        )
    })
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn admin(url: &str) -> S3Admin {
    S3Admin::new(url, &[]).expect("the test server's configuration is valid")
}

/// A recording's objects (metadata document first, then its media), stored in `dest`.
async fn store_recording(dest: &Destination, call: &str) -> Vec<String> {
    store_recording_in(dest, "unlimited", call).await
}

/// [`store_recording`] in retention class `class`.
async fn store_recording_in(dest: &Destination, class: &str, call: &str) -> Vec<String> {
    let prefix = format!("recordings/{class}/acme/2026/11/25/{call}/");
    let keys = vec![
        format!("{prefix}{call}.json"),
        format!("{prefix}{call}.opus"),
    ];
    for (i, key) in keys.iter().enumerate() {
        let body: Vec<u8> = (0..10_000u32).map(|n| (n * 7 + i as u32) as u8).collect();
        dest.store
            .put(&Path::from(key.as_str()), PutPayload::from(body))
            .await
            .expect("put");
    }
    keys
}

/// The current version of `key` (Object Lock buckets are versioned).
async fn version(dest: &Destination, key: &str) -> String {
    let meta = dest.store.head(&Path::from(key)).await.expect("head");
    meta.version
        .unwrap_or_else(|| panic!("{key}: no version id: the bucket is not versioned"))
}

#[tokio::test]
async fn held_objects_refuse_deletion_of_their_version_until_released() {
    env("CALLREC_TEST_S3");
    let url = locked_bucket("versions").await;
    let dest = Destination::open(&url, &[]).expect("open the bucket");
    assert_eq!(
        object_lock::supported(&dest).await.expect("asked"),
        LockOutcome::Set { objects: 0 }
    );
    let held = store_recording(&dest, "held-1").await;
    let free = store_recording(&dest, "free-1").await;
    let keys: Vec<&str> = held.iter().map(String::as_str).collect();
    assert_eq!(
        object_lock::set(&dest, &keys, true).await.expect("held"),
        LockOutcome::Set { objects: 2 }
    );
    let s3 = dest.s3().expect("an S3 destination");
    for key in &held {
        let on = s3.get_object_legal_hold(&Path::from(key.as_str())).await;
        assert!(on.expect("read"), "{key} carries the legal hold");
    }

    // Deleting a held version is refused, object by object; the bytes stay readable.
    for key in &held {
        let v = version(&dest, key).await;
        match s3
            .delete_object_version(&Path::from(key.as_str()), &v)
            .await
        {
            Err(S3Error::Status {
                status: 403, code, ..
            }) => assert_eq!(code, "AccessDenied"),
            other => panic!("{key} version {v}: deletion not refused: {other:?}"),
        }
        let got = dest
            .store
            .get(&Path::from(key.as_str()))
            .await
            .expect("still there");
        assert_eq!(got.bytes().await.expect("bytes").len(), 10_000);
    }
    // A plain delete only hides the held version behind a delete marker: it is still there.
    let media = Path::from(held[1].as_str());
    let v = version(&dest, &held[1]).await;
    dest.store.delete(&media).await.expect("a delete marker");
    let options = GetOptions {
        version: Some(v.clone()),
        ..Default::default()
    };
    let kept = dest
        .store
        .get_opts(&media, options)
        .await
        .expect("the held version");
    assert_eq!(kept.bytes().await.expect("bytes").len(), 10_000);

    // An unheld recording's versions delete as usual.
    for key in &free {
        let v = version(&dest, key).await;
        s3.delete_object_version(&Path::from(key.as_str()), &v)
            .await
            .expect("an unheld version deletes");
    }

    // Released: the held versions delete too (the media's, hidden behind its delete marker,
    // released by its version).
    assert_eq!(
        object_lock::set(&dest, &keys[..1], false)
            .await
            .expect("released"),
        LockOutcome::Set { objects: 1 }
    );
    s3.put_object_legal_hold(&media, Some(&v), false)
        .await
        .expect("released by version");
    s3.delete_object_version(&media, &v)
        .await
        .expect("a released version deletes");
    let meta_version = version(&dest, &held[0]).await;
    s3.delete_object_version(&Path::from(held[0].as_str()), &meta_version)
        .await
        .expect("a released version deletes");
    let gone = dest.store.head(&Path::from(held[0].as_str())).await;
    assert!(
        matches!(gone, Err(object_store::Error::NotFound { .. })),
        "{gone:?}"
    );
}

#[tokio::test]
async fn a_bucket_without_object_lock_says_so_and_holds_nothing_itself() {
    let url = format!("s3://callrec-nolock-{}", unique());
    env("CALLREC_TEST_S3");
    admin(&url).create_bucket().await.expect("create bucket");
    let dest = Destination::open(&url, &[]).expect("open the bucket");
    assert_eq!(
        object_lock::supported(&dest).await.expect("asked"),
        LockOutcome::NotEnabled
    );
    let keys = store_recording(&dest, "c1").await;
    // Asked anyway, the server refuses: callers ask `supported` first and fall back.
    let refused = object_lock::set(&dest, &[keys[0].as_str()], true).await;
    assert!(refused.is_err(), "{refused:?}");
}

/// A new bucket with Object Lock, named after `name`: its URL.
async fn locked_bucket(name: &str) -> String {
    create_locked(format!("s3://callrec-hold-{name}-{}", unique())).await
}

/// Creates the bucket at `url` with Object Lock; returns `url`.
async fn create_locked(url: String) -> String {
    admin(&url)
        .create_bucket_with_object_lock()
        .await
        .expect("create a bucket with Object Lock");
    url
}

/// Every key in `dest`.
async fn all_keys(dest: &Destination) -> Vec<String> {
    use futures::TryStreamExt;
    let listed: Vec<_> = dest.store.list(None).try_collect().await.expect("list");
    listed.into_iter().map(|m| m.location.to_string()).collect()
}

/// Whether version `version` of `key` is still in the bucket (hidden or not).
async fn version_kept(dest: &Destination, key: &str, version: &str) -> bool {
    let options = GetOptions {
        version: Some(version.to_string()),
        ..Default::default()
    };
    match dest.store.get_opts(&Path::from(key), options).await {
        Ok(got) => {
            assert_eq!(got.bytes().await.expect("bytes").len(), 10_000, "{key}");
            true
        }
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("{key} version {version}: {e}"),
    }
}

/// Runs the lifecycle (a pass a second) until none of `versions` is left, or fails after 60 s
/// naming those still there.
async fn lifecycle_removes(dest: &Destination, versions: &[(String, String)]) {
    let start = Instant::now();
    loop {
        gateway_lifecycle::process();
        let mut left = Vec::new();
        for (key, version) in versions {
            if version_kept(dest, key, version).await {
                left.push(key.as_str());
            }
        }
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the lifecycle left {left:?}\nlc list: {}",
            gateway_lifecycle::list()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The `retention` tag of `key`.
async fn retention_tag(dest: &Destination, key: &str) -> String {
    let tags = tagging::get(dest, key)
        .await
        .expect("tags")
        .expect("S3 tags");
    tags.into_iter()
        .find(|(name, _)| name == "retention")
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("{key}: no retention tag"))
}

#[tokio::test]
async fn the_gateway_s_lifecycle_removes_deleted_and_expired_versions_but_never_a_held_one() {
    env("CALLREC_TEST_S3");
    let url = create_locked(gateway_lifecycle::bucket_url("hold")).await;
    let admin = admin(&url);
    // callrec's own rules, for a two-day class: expired after 2 s, hidden versions 1 s later.
    let xml = lifecycle::configuration(&[RetentionClass::Days(2)], false);
    lifecycle::apply(&admin, &xml)
        .await
        .expect("the gateway keeps callrec's rules as sent");
    let dest = Destination::open(&url, &[]).expect("open the bucket");
    let tags = vec![("retention".to_string(), "2d".to_string())];
    let mut calls = Vec::new();
    for call in ["held", "expiring", "deleted"] {
        let keys = store_recording_in(&dest, "2d", call).await;
        let mut versions = Vec::new();
        for key in &keys {
            tagging::put(&dest, key, &tags).await.expect("tagged");
            versions.push((key.clone(), version(&dest, key).await));
        }
        calls.push(versions);
    }
    let [held, expiring, deleted] = <[_; 3]>::try_from(calls).expect("three");
    let held_keys: Vec<&str> = held.iter().map(|(k, _)| k.as_str()).collect();
    object_lock::set(&dest, &held_keys, true)
        .await
        .expect("held");
    for (key, _) in &held {
        assert_eq!(retention_tag(&dest, key).await, object_lock::HELD, "{key}");
    }
    // Deleted as callrec deletes (a delete marker on a versioned bucket); someone with the
    // bucket's keys hides the held media the same way.
    for (key, _) in &deleted {
        dest.store
            .delete(&Path::from(key.as_str()))
            .await
            .expect("delete");
    }
    let (held_media, held_media_version) = &held[1];
    dest.store
        .delete(&Path::from(held_media.as_str()))
        .await
        .expect("a delete marker over the held media");

    let mut gone = deleted.clone();
    gone.extend(expiring.iter().cloned());
    lifecycle_removes(&dest, &gone).await;

    // The held recording: its metadata document untouched by the expiration (still current,
    // readable by key), its media's version kept behind the marker, both still locked.
    let (held_document, held_document_version) = &held[0];
    let current = dest
        .store
        .get(&Path::from(held_document.as_str()))
        .await
        .expect("the held document is still current");
    assert_eq!(current.bytes().await.expect("bytes").len(), 10_000);
    assert_eq!(version(&dest, held_document).await, *held_document_version);
    assert!(version_kept(&dest, held_media, held_media_version).await);
    let s3 = dest.s3().expect("S3");
    assert!(s3
        .get_object_legal_hold(&Path::from(held_document.as_str()))
        .await
        .expect("read"));

    // Released, the same rules take it: the document expires, the hidden media goes.
    object_lock::set(&dest, &held_keys[..1], false)
        .await
        .expect("released");
    assert_eq!(retention_tag(&dest, held_document).await, "2d");
    s3.put_object_legal_hold(
        &Path::from(held_media.as_str()),
        Some(held_media_version),
        false,
    )
    .await
    .expect("released by version");
    lifecycle_removes(&dest, &held).await;
    // Every later lifecycle pass would spend time on this bucket's rules.
    admin
        .delete_bucket_lifecycle()
        .await
        .expect("rules removed");
}

#[test]
fn a_held_person_s_next_call_is_locked_in_the_bucket_as_serve_stores_it() {
    env("CALLREC_TEST_S3");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(locked_bucket("next"));
    let tmp = TempDir::new("hold-next-call");
    let dir = &tmp.0;
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{url}\"\nsweep_interval_secs = 0\n"
    );
    std::fs::write(dir.join("callrec.toml"), config).expect("config");

    // An officer puts Alice on hold before her next call.
    let officer = create_token_for(
        callrec_in(dir),
        "olga@acme.example",
        "compliance-officer",
        &["acme"],
        &[],
    );
    let server = AdminServer::start(callrec_in(dir), &["--config", "callrec.toml"]);
    let (status, _, body) = server.request(
        "POST",
        "/v1/admin/convergedRecordings/legalHolds",
        Some(&officer),
        Some(&json!({"personId": "alice", "reason": "under investigation"})),
    );
    assert_eq!(status, 201, "{body}");
    drop(server);

    // Her call and Bob's wait in the spool (the gateway unreachable while they are recorded),
    // then a fresh `serve` uploads and catalogues them.
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    for (person, call) in [("alice", "alice-next"), ("bob", "bob-next")] {
        let out = callrec_in(dir)
            .args([
                "record",
                &capture,
                "--config",
                "callrec.toml",
                "--org",
                "acme",
            ])
            .args([
                "--user",
                person,
                "--call-id",
                call,
                "--plan",
                "dubber-standard",
            ])
            .args(["--upload-timeout", "0"])
            .env("AWS_ENDPOINT", "http://127.0.0.1:9")
            .output()
            .expect("record");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("kept in the spool"), "{stderr}");
    }
    let serve = Serve::start(dir);
    let spooled = || {
        std::fs::read_dir(dir.join("spool/jobs"))
            .map(|jobs| {
                jobs.flatten()
                    .filter(|j| j.path().join("job.json").exists())
                    .count()
            })
            .unwrap_or(0)
    };
    let start = Instant::now();
    while spooled() > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "still spooled");
        std::thread::sleep(Duration::from_millis(200));
    }

    let dest = Destination::open(&url, &[]).expect("open the bucket");
    let s3 = dest.s3().expect("S3");
    let keys = runtime.block_on(all_keys(&dest));
    let of = |call: &str| -> Vec<&String> { keys.iter().filter(|k| k.contains(call)).collect() };
    assert!(of("alice-next").len() >= 2, "{keys:?}");
    assert!(of("bob-next").len() >= 2, "{keys:?}");
    runtime.block_on(async {
        for key in of("alice-next") {
            let on = s3.get_object_legal_hold(&Path::from(key.as_str())).await;
            assert!(on.expect("read"), "{key} is locked");
            assert_eq!(retention_tag(&dest, key).await, object_lock::HELD, "{key}");
        }
        for key in of("bob-next") {
            let on = s3.get_object_legal_hold(&Path::from(key.as_str())).await;
            assert!(!on.expect("read"), "{key} is not locked");
            assert_eq!(retention_tag(&dest, key).await, "unlimited", "{key}");
        }
    });
    let locked = serve.events("legal_hold.locked");
    assert_eq!(locked.len(), 1, "{locked:?}");
}

#[test]
fn a_key_rotation_keeps_a_held_recording_held() {
    env("CALLREC_TEST_S3");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime.block_on(locked_bucket("rewrap"));
    let tmp = TempDir::new("hold-rewrap");
    let dir = &tmp.0;
    std::fs::write(dir.join("k1.key"), format!("{}\n", "1".repeat(64))).expect("k1");
    std::fs::write(dir.join("k2.key"), format!("{}\n", "2".repeat(64))).expect("k2");
    let configure = |current: &str| {
        let config = format!(
            "[store]\nurl = \"{url}\"\n\n[orgs.acme.encryption]\ncurrent = \"{current}\"\n\
             key_files = {{ k1 = \"k1.key\", k2 = \"k2.key\" }}\n"
        );
        std::fs::write(dir.join("callrec.toml"), config).expect("config");
    };
    configure("k1");
    record_call(dir, "acme", "alice", "held-enc", "dubber-standard");

    let dest = Destination::open(&url, &[]).expect("open the bucket");
    let s3 = dest.s3().expect("S3");
    let document = runtime.block_on(async {
        let keys = all_keys(&dest).await;
        let held: Vec<&str> = keys.iter().map(String::as_str).collect();
        object_lock::set(&dest, &held, true).await.expect("held");
        keys.into_iter()
            .find(|k| k.ends_with(".json"))
            .expect("a metadata document")
    });
    let first = runtime.block_on(version(&dest, &document));

    // The rotation writes a new version of the metadata document: held like the first.
    configure("k2");
    let out = callrec_in(dir)
        .args([
            "storage",
            "rewrap",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
        ])
        .output()
        .expect("rewrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    runtime.block_on(async {
        let second = version(&dest, &document).await;
        assert_ne!(second, first, "a new version");
        let path = Path::from(document.as_str());
        assert!(s3.get_object_legal_hold(&path).await.expect("read"));
        assert_eq!(retention_tag(&dest, &document).await, object_lock::HELD);
        match s3.delete_object_version(&path, &first).await {
            Err(S3Error::Status { status: 403, .. }) => {}
            other => panic!("the first version is still held: {other:?}"),
        }
    });
}
