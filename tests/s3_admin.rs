//! The S3 admin requests and the lifecycle rules against a real S3 server: the Ceph RADOS
//! Gateway that `./scripts/test` starts (`scripts/radosgw`), where a lifecycle day lasts one
//! second. Without it these tests fail rather than skip.

mod common;

use callrec::store::key::RetentionClass;
use callrec::store::lifecycle;
use callrec::store::s3::{S3Admin, S3Error};
use common::lifecycle as gateway_lifecycle;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use std::time::{Duration, Instant, SystemTime};

/// An environment variable `./scripts/test` sets.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests with ./scripts/test, which starts a RADOS Gateway"
        )
    })
}

/// A name no earlier run against the same server used.
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

fn store(url: &str) -> AmazonS3 {
    AmazonS3Builder::from_env()
        .with_url(url)
        .build()
        .expect("the test server's configuration is valid")
}

/// A fresh bucket of our own, so lifecycle tests cannot disturb each other or other tests.
async fn new_bucket(name: &str) -> String {
    env("CALLREC_TEST_S3");
    let url = format!("s3://callrec-{name}-{}", unique());
    admin(&url).create_bucket().await.expect("create bucket");
    url
}

#[tokio::test]
async fn tags_round_trip_on_keys_with_percent_and_tilde() {
    let url = env("CALLREC_TEST_S3");
    let (admin, store) = (admin(&url), store(&url));
    let key = Path::parse(format!("recordings/30d/ac%2Fme/{}/a~b %.opus", unique())).expect("key");
    store
        .put(&key, PutPayload::from_static(b"x"))
        .await
        .expect("put");

    admin
        .put_object_tagging(&key, &[("retention", "30d"), ("org", "ac/me & <co>")])
        .await
        .expect("put tags");
    let mut tags = admin.get_object_tagging(&key).await.expect("get tags");
    tags.sort();
    assert_eq!(
        tags,
        vec![
            ("org".to_string(), "ac/me & <co>".to_string()),
            ("retention".to_string(), "30d".to_string())
        ]
    );

    admin
        .put_object_tagging(&key, &[("retention", "unlimited")])
        .await
        .expect("replace tags");
    let tags = admin.get_object_tagging(&key).await.expect("get tags");
    assert_eq!(
        tags,
        vec![("retention".to_string(), "unlimited".to_string())]
    );
    // The key was signed and addressed right: object_store sees the same object.
    assert_eq!(store.head(&key).await.expect("head").size, 1);
}

#[tokio::test]
async fn errors_name_the_request_status_and_s3_code() {
    let admin = admin(&env("CALLREC_TEST_S3"));
    let key = Path::from(format!("recordings/missing/{}", unique()));
    let error = admin
        .get_object_tagging(&key)
        .await
        .expect_err("no such object");
    assert!(
        matches!(&error, S3Error::Status { status: 404, code, .. } if code == "NoSuchKey"),
        "{error:?}"
    );
    assert!(error
        .to_string()
        .starts_with(&format!("GetObjectTagging {key}: HTTP 404 NoSuchKey")));
}

#[tokio::test]
async fn lifecycle_is_applied_and_verified() {
    let admin = admin(&new_bucket("apply").await);
    assert_eq!(admin.get_bucket_lifecycle().await.expect("get"), None);

    let xml = lifecycle::configuration(&[RetentionClass::Days(30)], true);
    lifecycle::apply(&admin, &xml)
        .await
        .expect("radosgw keeps our rules");

    let read_back = admin
        .get_bucket_lifecycle()
        .await
        .expect("get")
        .expect("configured");
    assert_eq!(lifecycle::check_applied(&xml, &read_back), Ok(()));
    let ids: Vec<String> = lifecycle::parse(&read_back)
        .expect("parse")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 4, "{read_back}");

    // Gone again, so `lc process` in the other tests has one bucket less to walk.
    admin.delete_bucket_lifecycle().await.expect("delete");
    assert_eq!(admin.get_bucket_lifecycle().await.expect("get"), None);
}

/// radosgw 16.2 accepts an `ObjectSizeGreaterThan` filter and silently drops it: the same
/// kind of change as a dropped tag filter. `apply` must notice, say what changed, and put the
/// previous configuration back (none, or ours).
#[tokio::test]
async fn lifecycle_changed_by_the_server_is_refused_and_rolled_back() {
    let admin = admin(&new_bucket("refuse").await);
    let good = lifecycle::configuration(&[RetentionClass::Days(30)], false);
    let narrowed = good.replace(
        "<Prefix>recordings/</Prefix>\n        <Tag>",
        "<Prefix>recordings/</Prefix><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan>\n        <Tag>",
    );
    assert_ne!(narrowed, good);
    let expected = vec!["rule \"callrec-retention-30d-tag\": other settings \
         [\"Filter/And/ObjectSizeGreaterThan=1000\"] became []"
        .to_string()];

    match lifecycle::apply(&admin, &narrowed).await {
        Err(lifecycle::ApplyError::Changed { differences }) => assert_eq!(differences, expected),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(admin.get_bucket_lifecycle().await.expect("get"), None);

    lifecycle::apply(&admin, &good).await.expect("apply");
    match lifecycle::apply(&admin, &narrowed).await {
        Err(lifecycle::ApplyError::Changed { differences }) => assert_eq!(differences, expected),
        other => panic!("not refused: {other:?}"),
    }
    let restored = admin
        .get_bucket_lifecycle()
        .await
        .expect("get")
        .expect("restored");
    assert_eq!(lifecycle::check_applied(&good, &restored), Ok(()));
    admin.delete_bucket_lifecycle().await.expect("delete");
}

/// The retention classes are enforced by the server: a tagged object expires after its class's
/// days, whether uploaded in one piece or in parts and wherever its key is; an object tagged
/// `unlimited` stays, byte for byte. Tags are set after the upload (PutObjectTagging): radosgw
/// stores tags sent with a multipart upload undecoded, and never expires those.
#[tokio::test]
async fn lifecycle_expires_30d_recordings_and_keeps_unlimited_ones() {
    env("CALLREC_TEST_S3");
    let url = gateway_lifecycle::bucket_url("expire");
    admin(&url).create_bucket().await.expect("create bucket");
    let (admin, store) = (admin(&url), store(&url));
    let thirty = Path::from("recordings/30d/ac%2Fme/2026/11/25/c1/c1.opus");
    let unlimited = Path::from("recordings/unlimited/acme/2026/11/25/c2/c2.opus");
    // Re-tagged in place after a plan change: only the tag-filtered rule matches it.
    let retagged = Path::from("recordings/unlimited/acme/2026/11/25/c3/c3.opus");
    let multipart = Path::from("recordings/30d/acme/2026/11/25/c4/c4.opus");
    let kept_bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let first_put = Instant::now();
    store
        .put(&thirty, PutPayload::from_static(b"30d"))
        .await
        .expect("put");
    store
        .put(&unlimited, kept_bytes.clone().into())
        .await
        .expect("put");
    store
        .put(&retagged, PutPayload::from_static(b"re"))
        .await
        .expect("put");
    let mut upload = store
        .put_multipart(&multipart)
        .await
        .expect("start multipart");
    upload
        .put_part(vec![1u8; 5 << 20].into())
        .await
        .expect("part 1");
    upload
        .put_part(vec![2u8; 1000].into())
        .await
        .expect("part 2");
    upload.complete().await.expect("complete multipart");
    for (key, class) in [
        (&thirty, "30d"),
        (&unlimited, "unlimited"),
        (&retagged, "30d"),
        (&multipart, "30d"),
    ] {
        admin
            .put_object_tagging(key, &[("retention", class)])
            .await
            .expect("tag");
    }
    let uploaded = Instant::now();

    let xml = lifecycle::configuration(&[RetentionClass::Days(30)], true);
    lifecycle::apply(&admin, &xml).await.expect("apply");

    // Before their 30 days, nothing goes. A pass takes a moment for each bucket with rules
    // the gateway holds; one that ends after day 30 proves nothing here, and the next steps
    // still show which go.
    gateway_lifecycle::process();
    if first_put.elapsed() < Duration::from_secs(30) {
        for key in [&thirty, &unlimited, &retagged, &multipart] {
            store.head(key).await.expect("not expired yet");
        }
    }

    // 30 lifecycle days are 30 s here; then make the gateway run the lifecycle now.
    tokio::time::sleep(Duration::from_secs(31).saturating_sub(uploaded.elapsed())).await;
    // Another test's `lc process` holds the gateway's lifecycle lock for a while (radosgw
    // then waits 5 s and tries again), so give it time on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    let expired = [&thirty, &retagged, &multipart];
    loop {
        gateway_lifecycle::process();
        let mut left = Vec::new();
        for key in expired {
            match store.head(key).await {
                Ok(_) => left.push(key.to_string()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => panic!("head {key}: {e}"),
            }
        }
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "not expired: {left:?}\nlc list: {}",
                gateway_lifecycle::list()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let kept = store.get(&unlimited).await.expect("unlimited is kept");
    assert_eq!(
        kept.bytes().await.expect("read").as_ref(),
        kept_bytes.as_slice()
    );
    let tags = admin.get_object_tagging(&unlimited).await.expect("tags");
    assert_eq!(
        tags,
        vec![("retention".to_string(), "unlimited".to_string())]
    );
    // Every later lifecycle pass would spend time on this bucket's rules.
    admin
        .delete_bucket_lifecycle()
        .await
        .expect("rules removed");
}
