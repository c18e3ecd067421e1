//! The store's own legal hold against a real S3 server (the Ceph RADOS Gateway `./scripts/test`
//! starts): on a bucket made with Object Lock, a held recording's objects cannot be deleted
//! even by a request naming their version (what someone with the bucket's keys, or a lifecycle
//! rule expiring old versions, would send), and can once released; a bucket made without
//! Object Lock says so, and the catalog's hold is then the only one. Without the server these
//! tests fail rather than skip.

use callrec::store::object_lock::{self, LockOutcome};
use callrec::store::s3::{S3Admin, S3Error};
use callrec::store::Destination;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStoreExt, PutPayload};
use std::time::SystemTime;

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
    let prefix = format!("recordings/unlimited/acme/2026/11/25/{call}/");
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
    let url = format!("s3://callrec-hold-{}", unique());
    admin(&url)
        .create_bucket_with_object_lock()
        .await
        .expect("create a bucket with Object Lock");
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
