//! Retention end to end on real object stores (in memory, and a local filesystem in a temp
//! dir; every test body runs on both): the sweeper on a controllable clock, and plan
//! migrations in both directions, re-run and interrupted. Recordings are written straight
//! through object_store in callrec's key layout, so the tests depend on nothing but the layout.

use callrec::policy::plan::Plan;
use callrec::store::key::{RecordingKey, RetentionClass};
use callrec::store::metadata::{self, StorageInfo, StoredMetadata};
use callrec::store::migrate::{self, MigrationEvent, MigrationReport};
use callrec::store::sweep::{self, SweepEvent, SweepReport};
use callrec::store::Destination;
use callrec::time::Time;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);
const SECOND: Duration = Duration::from_secs(1);

fn at(text: &str) -> Time {
    Time::parse_rfc3339(text).expect("a valid time")
}

/// One recording as a test writes it.
struct Rec<'a> {
    class: RetentionClass,
    user: Option<&'a str>,
    plan: Plan,
    date: (u32, u32, u32),
    call: &'a str,
    retained_since: Time,
    media: &'a [(&'a str, &'a [u8])],
}

impl Rec<'_> {
    fn key(&self) -> RecordingKey {
        RecordingKey {
            class: self.class,
            org: "acme".into(),
            date: self.date,
            call: self.call.into(),
        }
    }

    fn media_keys(&self) -> Vec<String> {
        self.media
            .iter()
            .map(|(f, _)| self.key().object(f))
            .collect()
    }

    fn metadata_key(&self) -> String {
        self.key().object(&format!("{}.json", self.call))
    }

    /// Every key, in the order a sorted listing gives them.
    fn keys_in(&self, class: RetentionClass) -> Vec<String> {
        let moved = Rec { class, ..*self };
        let mut keys = moved.media_keys();
        keys.push(moved.metadata_key());
        keys.sort();
        keys
    }

    fn storage(&self) -> StorageInfo {
        StorageInfo {
            org: "acme".into(),
            user: self.user.map(str::to_string),
            location: None,
            provider: self.plan.provider().as_str().into(),
            plan: self.plan.to_string(),
            retention: self.class,
            retained_since: self.retained_since.to_rfc3339(),
        }
    }

    /// The sidecar document (with a field the store never reads, which must survive).
    fn sidecar(&self) -> Vec<u8> {
        let files: Vec<serde_json::Value> = self
            .media
            .iter()
            .map(|(name, bytes)| {
                serde_json::json!({"name": name, "legs": "both", "bytes": bytes.len(), "sha256": "00"})
            })
            .collect();
        let doc = serde_json::json!({
            "call": {"id": self.call, "start": null, "duration_secs": 12.5},
            "files": files,
            "recorder": {"version": "test", "legs": 2},
        });
        serde_json::to_vec(&doc).expect("json")
    }

    /// Media first, metadata last, as an upload does.
    async fn write(&self, dest: &Destination) {
        self.write_media(dest).await;
        let doc = metadata::with_storage(&self.sidecar(), &self.storage()).expect("json");
        put(dest, &self.metadata_key(), doc).await;
    }

    async fn write_media(&self, dest: &Destination) {
        for ((_, bytes), key) in self.media.iter().zip(self.media_keys()) {
            put(dest, &key, bytes.to_vec()).await;
        }
    }
}

fn rec<'a>(class: &str, plan: Plan, call: &'a str, retained_since: Time) -> Rec<'a> {
    Rec {
        class: class.parse().expect("class"),
        user: Some("alice"),
        plan,
        date: retained_since.date(),
        call,
        retained_since,
        media: &[("a.opus", b"left and right"), ("b.wav", b"RIFF....")],
    }
}

fn path(key: &str) -> Path {
    Path::parse(key).expect("a valid key")
}

async fn put(dest: &Destination, key: &str, bytes: Vec<u8>) {
    dest.store
        .put(&path(key), PutPayload::from(bytes))
        .await
        .expect("put");
}

async fn get(dest: &Destination, key: &str) -> Vec<u8> {
    let found = dest.store.get(&path(key)).await.expect("stored");
    found.bytes().await.expect("readable").to_vec()
}

async fn delete(dest: &Destination, key: &str) {
    dest.store.delete(&path(key)).await.expect("delete");
}

/// The object as a listing shows it: the sweeper's view (S3 stamps a listing's
/// Last-Modified to the millisecond but a HEAD's to the second).
async fn head(dest: &Destination, key: &str) -> ObjectMeta {
    let listed: Vec<ObjectMeta> = dest.store.list(None).try_collect().await.expect("list");
    listed
        .into_iter()
        .find(|o| o.location.as_ref() == key)
        .expect("stored")
}

fn written(object: &ObjectMeta) -> Time {
    let nanos = object
        .last_modified
        .timestamp_nanos_opt()
        .expect("in range");
    Time::from_nanos(u64::try_from(nanos).expect("after 1970"))
}

/// Every key in the store, sorted.
async fn keys(dest: &Destination) -> Vec<String> {
    let listed: Vec<ObjectMeta> = dest.store.list(None).try_collect().await.expect("list");
    let mut keys: Vec<String> = listed.iter().map(|o| o.location.to_string()).collect();
    keys.sort();
    keys
}

/// Every key with its bytes.
async fn snapshot(dest: &Destination) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for key in keys(dest).await {
        let bytes = get(dest, &key).await;
        all.push((key, bytes));
    }
    all
}

async fn stored_metadata(dest: &Destination, key: &str) -> (serde_json::Value, StoredMetadata) {
    let bytes = get(dest, key).await;
    let value = serde_json::from_slice(&bytes).expect("json");
    let parsed = serde_json::from_slice(&bytes).expect("our metadata");
    (value, parsed)
}

async fn run_sweep(dest: &Destination, now: Time, dry_run: bool) -> (SweepReport, Vec<SweepEvent>) {
    let mut events = Vec::new();
    let report = sweep::sweep(dest, now, dry_run, &Default::default(), |e| {
        events.push(e.clone())
    })
    .await
    .expect("sweep");
    (report, events)
}

/// The plan as the store sees it.
fn target(plan: Plan) -> migrate::PlanTarget {
    migrate::PlanTarget {
        retention: plan.retention(),
        plan: plan.to_string(),
        provider: plan.provider().as_str().into(),
    }
}

async fn run_migrate(
    dest: &Destination,
    user: Option<&str>,
    plan: Plan,
    now: Time,
) -> (MigrationReport, Vec<MigrationEvent>) {
    let mut events = Vec::new();
    let report = migrate::migrate(
        dest,
        "acme",
        user,
        &target(plan),
        now,
        &Default::default(),
        |e| events.push(e.clone()),
    )
    .await
    .expect("migrate");
    (report, events)
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

// ---- The sweeper ----

async fn sweeper_deletes_at_exactly_day_30_and_keeps_unlimited_forever(dest: Destination) {
    // Retained since T, written (by the store's clock) later: the metadata decides.
    let t = at("2026-10-01T08:00:00.000Z");
    let free = rec("30d", Plan::DubberGo, "free", t);
    let paid = rec(
        "unlimited",
        Plan::DubberStandard,
        "paid",
        at("2020-01-01T00:00:00Z"),
    );
    free.write(&dest).await;
    paid.write(&dest).await;
    let all = sorted([free.keys_in(free.class), paid.keys_in(paid.class)].concat());

    for before in [
        t + 29 * DAY,
        t + 30 * DAY - SECOND,
        t + 30 * DAY - Duration::from_nanos(1),
    ] {
        let (report, events) = run_sweep(&dest, before, false).await;
        let expected = SweepReport {
            kept: 1,
            ..SweepReport::default()
        };
        assert_eq!((report, events), (expected, vec![]), "{before:?}");
        assert_eq!(keys(&dest).await, all);
    }

    let bytes = (14 + 8 + get(&dest, &free.metadata_key()).await.len()) as u64;
    let (report, events) = run_sweep(&dest, t + 30 * DAY, false).await;
    let expected = SweepReport {
        deleted: 1,
        objects_deleted: 3,
        bytes_deleted: bytes,
        ..SweepReport::default()
    };
    assert_eq!(report, expected);
    let mut deleted_in_order = vec![free.metadata_key()];
    deleted_in_order.extend(free.media_keys());
    assert_eq!(
        events,
        vec![SweepEvent::Expired {
            prefix: free.key().prefix(),
            keys: deleted_in_order,
            expiry: t + 30 * DAY,
            bytes,
            dry_run: false,
        }]
    );
    assert_eq!(keys(&dest).await, paid.keys_in(paid.class));

    // Idempotent, and unlimited recordings are never even listed.
    for now in [t + 30 * DAY, t + 10_000 * DAY] {
        let (report, events) = run_sweep(&dest, now, false).await;
        assert_eq!((report, events), (SweepReport::default(), vec![]));
        assert_eq!(keys(&dest).await, paid.keys_in(paid.class));
    }
}

async fn dry_run_reports_the_same_set_and_deletes_nothing(dest: Destination) {
    let t = at("2026-10-01T08:00:00.000Z");
    rec("30d", Plan::DubberGo, "old-1", t).write(&dest).await;
    rec("30d", Plan::DubberGo, "old-2", t + DAY)
        .write(&dest)
        .await;
    rec("30d", Plan::DubberGo, "young", t + 5 * DAY)
        .write(&dest)
        .await;
    let now = t + 31 * DAY;
    let before = snapshot(&dest).await;

    let (dry_report, dry_events) = run_sweep(&dest, now, true).await;
    assert_eq!(snapshot(&dest).await, before, "a dry run deletes nothing");
    assert_eq!((dry_report.deleted, dry_report.kept), (2, 1));
    assert_eq!(dry_report.objects_deleted, 6);

    let (report, events) = run_sweep(&dest, now, false).await;
    assert_eq!(report, dry_report);
    let as_real: Vec<SweepEvent> = dry_events
        .into_iter()
        .map(|e| match e {
            SweepEvent::Expired {
                prefix,
                keys,
                expiry,
                bytes,
                dry_run,
            } => {
                assert!(dry_run);
                SweepEvent::Expired {
                    prefix,
                    keys,
                    expiry,
                    bytes,
                    dry_run: false,
                }
            }
            other => other,
        })
        .collect();
    assert_eq!(events, as_real);
    let young = rec("30d", Plan::DubberGo, "young", t + 5 * DAY);
    assert_eq!(keys(&dest).await, young.keys_in(young.class));
}

async fn leftover_media_expire_by_their_newest_write(dest: Destination) {
    let t = at("2026-10-01T08:00:00.000Z");
    let partial = rec("30d", Plan::DubberGo, "partial", t);
    let [first, second] = partial.media_keys().try_into().expect("two files");
    put(&dest, &first, b"first".to_vec()).await;
    // Stores stamp writes coarsely (S3's Last-Modified in whole seconds): keep them apart.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&dest, &second, b"second".to_vec()).await;
    let (older, newest) = (
        written(&head(&dest, &first).await),
        written(&head(&dest, &second).await),
    );
    assert!(older < newest, "{older:?} {newest:?}");

    for now in [
        older + 30 * DAY,
        newest + 30 * DAY - Duration::from_nanos(1),
    ] {
        let (report, _) = run_sweep(&dest, now, false).await;
        assert_eq!((report.deleted, report.kept), (0, 1), "{now:?}");
    }
    let (report, events) = run_sweep(&dest, newest + 30 * DAY, false).await;
    assert_eq!(
        (report.deleted, report.objects_deleted, report.bytes_deleted),
        (1, 2, 11)
    );
    assert_eq!(
        events,
        vec![SweepEvent::Expired {
            prefix: partial.key().prefix(),
            keys: vec![first, second],
            expiry: newest + 30 * DAY,
            bytes: 11,
            dry_run: false,
        }]
    );
    assert_eq!(keys(&dest).await, Vec::<String>::new());
}

async fn interrupted_sweep_is_finished_by_the_next_run(dest: Destination) {
    // A sweep deleted the metadata and the first media object, then died. What is left are
    // media written after retained_since, so they expire no earlier than the metadata did;
    // the next daily run deletes them.
    let now_ish = Time::from_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64
            * 1_000_000,
    );
    let r = rec("30d", Plan::DubberGo, "interrupted", now_ish);
    r.write(&dest).await;
    delete(&dest, &r.metadata_key()).await;
    delete(&dest, &r.media_keys()[0]).await;

    let (report, _) = run_sweep(&dest, now_ish + 30 * DAY - SECOND, false).await;
    assert_eq!((report.deleted, report.kept), (0, 1));
    let (report, events) = run_sweep(&dest, now_ish + 31 * DAY, false).await;
    assert_eq!((report.deleted, report.objects_deleted), (1, 1));
    let SweepEvent::Expired { keys: deleted, .. } = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(deleted, &r.media_keys()[1..]);
    assert_eq!(keys(&dest).await, Vec::<String>::new());
}

async fn unreadable_metadata_is_reported_and_never_deleted(dest: Destination) {
    let t = at("2020-01-01T00:00:00Z");
    let garbled = rec("30d", Plan::DubberGo, "garbled", t);
    garbled.write_media(&dest).await;
    put(&dest, &garbled.metadata_key(), b"{not json".to_vec()).await;
    let undated = rec("30d", Plan::DubberGo, "undated", t);
    undated.write_media(&dest).await;
    let mut storage = undated.storage();
    storage.retained_since = "last tuesday".into();
    let doc = metadata::with_storage(&undated.sidecar(), &storage).expect("json");
    put(&dest, &undated.metadata_key(), doc).await;
    let before = snapshot(&dest).await;

    let (report, events) = run_sweep(&dest, t + 10_000 * DAY, false).await;
    assert_eq!(
        report,
        SweepReport {
            skipped: 2,
            ..SweepReport::default()
        }
    );
    let reasons: Vec<(String, String)> = events
        .into_iter()
        .map(|e| match e {
            SweepEvent::Skipped { prefix, reason } => (prefix, reason),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reasons[0].0, garbled.key().prefix());
    assert!(
        reasons[0].1.contains(&garbled.metadata_key()),
        "{}",
        reasons[0].1
    );
    assert!(
        reasons[0].1.contains("unreadable metadata"),
        "{}",
        reasons[0].1
    );
    assert_eq!(reasons[1].0, undated.key().prefix());
    assert!(reasons[1].1.contains("'last tuesday'"), "{}", reasons[1].1);
    assert_eq!(snapshot(&dest).await, before);
}

// ---- Plan migration ----

async fn free_to_paid_moves_to_unlimited_and_is_never_swept(dest: Destination) {
    let recorded = at("2026-11-01T09:30:00.000Z");
    let r = rec("30d", Plan::DubberGo, "upgrade", recorded);
    r.write(&dest).await;
    let (old_doc, _) = stored_metadata(&dest, &r.metadata_key()).await;
    let t = at("2026-11-20T12:00:00.000Z");

    let (report, events) = run_migrate(&dest, None, Plan::DubberStandard, t).await;
    assert_eq!(
        report,
        MigrationReport {
            moved: 1,
            ..MigrationReport::default()
        }
    );
    let moved = Rec {
        class: RetentionClass::Unlimited,
        ..r
    };
    assert_eq!(
        events,
        vec![MigrationEvent::Moved {
            from: r.key().prefix(),
            to: moved.key().prefix(),
            plan: "dubber-standard".into(),
            retention: "unlimited".into(),
            retained_since: "2026-11-20T12:00:00.000Z".into(),
            media: 2,
            bytes: 22,
        }]
    );
    assert_eq!(keys(&dest).await, r.keys_in(RetentionClass::Unlimited));
    for ((_, bytes), key) in r.media.iter().zip(moved.media_keys()) {
        assert_eq!(get(&dest, &key).await, *bytes);
    }
    let (doc, parsed) = stored_metadata(&dest, &moved.metadata_key()).await;
    assert_eq!(
        parsed.storage,
        StorageInfo {
            org: "acme".into(),
            user: Some("alice".into()),
            location: None,
            provider: "dubber".into(),
            plan: "dubber-standard".into(),
            retention: RetentionClass::Unlimited,
            retained_since: "2026-11-20T12:00:00.000Z".into(),
        }
    );
    for field in ["call", "files", "recorder"] {
        assert_eq!(doc[field], old_doc[field], "{field} kept");
    }

    let (report, _) = run_sweep(&dest, recorded + 10_000 * DAY, false).await;
    assert_eq!(report, SweepReport::default());
    assert_eq!(keys(&dest).await, r.keys_in(RetentionClass::Unlimited));
}

async fn paid_to_free_expires_30_days_after_the_migration(dest: Destination) {
    // Recorded years ago on a paid plan: the free plan's 30 days start at the migration.
    let r = rec(
        "unlimited",
        Plan::DubberAi,
        "downgrade",
        at("2019-05-04T10:00:00Z"),
    );
    r.write(&dest).await;
    let t = at("2026-11-20T12:00:00.000Z");

    let (report, _) = run_migrate(&dest, None, Plan::DubberGo, t).await;
    assert_eq!(
        report,
        MigrationReport {
            moved: 1,
            ..MigrationReport::default()
        }
    );
    let moved = Rec {
        class: RetentionClass::Days(30),
        ..r
    };
    assert_eq!(keys(&dest).await, r.keys_in(moved.class));
    let (_, parsed) = stored_metadata(&dest, &moved.metadata_key()).await;
    assert_eq!(parsed.storage.plan, "dubber-go");
    assert_eq!(parsed.storage.retention, RetentionClass::Days(30));
    assert_eq!(parsed.storage.retained_since, t.to_rfc3339());

    for before in [t + 29 * DAY, t + 30 * DAY - SECOND] {
        let (report, _) = run_sweep(&dest, before, false).await;
        assert_eq!((report.deleted, report.kept), (0, 1), "{before:?}");
    }
    let (report, _) = run_sweep(&dest, t + 30 * DAY, false).await;
    assert_eq!((report.deleted, report.objects_deleted), (1, 3));
    assert_eq!(keys(&dest).await, Vec::<String>::new());
}

async fn user_option_moves_only_that_users_recordings(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    let alice_1 = rec("30d", Plan::DubberGo, "alice-1", t);
    let alice_2 = rec("30d", Plan::DubberGo, "alice-2", t + DAY);
    let bob = Rec {
        user: Some("bob"),
        ..rec("30d", Plan::DubberGo, "bob", t)
    };
    let nobody = Rec {
        user: None,
        ..rec("30d", Plan::DubberGo, "nobody", t)
    };
    for r in [&alice_1, &alice_2, &bob, &nobody] {
        r.write(&dest).await;
    }
    let (report, events) = run_migrate(&dest, Some("alice"), Plan::DubberAi, t + 3 * DAY).await;
    assert_eq!(
        report,
        MigrationReport {
            moved: 2,
            ..MigrationReport::default()
        }
    );
    assert_eq!(events.len(), 2);
    let expected = sorted(
        [
            alice_1.keys_in(RetentionClass::Unlimited),
            alice_2.keys_in(RetentionClass::Unlimited),
            bob.keys_in(bob.class),
            nobody.keys_in(nobody.class),
        ]
        .concat(),
    );
    assert_eq!(keys(&dest).await, expected);
    let (_, parsed) = stored_metadata(&dest, &bob.metadata_key()).await;
    assert_eq!(parsed.storage, bob.storage(), "bob's recording untouched");
}

async fn rerunning_a_migration_changes_nothing(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    rec("30d", Plan::DubberGo, "one", t).write(&dest).await;
    rec("30d", Plan::DubberGo, "two", t).write(&dest).await;
    rec("unlimited", Plan::DubberStandard, "three", t)
        .write(&dest)
        .await;
    let (first, _) = run_migrate(&dest, None, Plan::DubberAi, t + DAY).await;
    assert_eq!((first.moved, first.retagged), (2, 1));
    let after_first = snapshot(&dest).await;

    let (report, events) = run_migrate(&dest, None, Plan::DubberAi, t + 2 * DAY).await;
    assert_eq!(
        report,
        MigrationReport {
            unchanged: 3,
            ..MigrationReport::default()
        }
    );
    assert_eq!(events, vec![]);
    assert_eq!(
        snapshot(&dest).await,
        after_first,
        "not even retained_since moves"
    );
}

async fn same_class_plan_change_rewrites_metadata_in_place(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    let r = rec("unlimited", Plan::DubberStandard, "sideways", t);
    r.write(&dest).await;
    let media_before: Vec<Vec<u8>> = r.media.iter().map(|(_, b)| b.to_vec()).collect();

    let (report, events) = run_migrate(&dest, None, Plan::Imagicle, t + DAY).await;
    assert_eq!(
        report,
        MigrationReport {
            retagged: 1,
            ..MigrationReport::default()
        }
    );
    assert_eq!(
        events,
        vec![MigrationEvent::Retagged {
            prefix: r.key().prefix(),
            plan: "imagicle".into(),
            provider: "imagicle".into(),
        }]
    );
    assert_eq!(keys(&dest).await, r.keys_in(r.class));
    let (_, parsed) = stored_metadata(&dest, &r.metadata_key()).await;
    let expected = StorageInfo {
        plan: "imagicle".into(),
        provider: "imagicle".into(),
        ..r.storage()
    };
    assert_eq!(parsed.storage, expected, "retained_since kept");
    for (key, bytes) in r.media_keys().iter().zip(media_before) {
        assert_eq!(get(&dest, key).await, bytes);
    }
}

async fn interrupted_migration_is_finished_by_a_rerun(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    let migrated_at = t + 2 * DAY;
    let target = RetentionClass::Unlimited;
    // Died after deleting the old metadata: old media left behind.
    let late = rec("30d", Plan::DubberGo, "late", t);
    // Died after writing the new metadata, before deleting the old.
    let early = rec("30d", Plan::DubberGo, "early", t);
    // Died after copying one media object.
    let first = rec("30d", Plan::DubberGo, "first", t);
    for r in [&late, &early, &first] {
        r.write(&dest).await;
    }
    for r in [&late, &early] {
        let moved = Rec {
            class: target,
            plan: Plan::DubberAi,
            retained_since: migrated_at,
            ..*r
        };
        for (from, to) in r.media_keys().iter().zip(moved.media_keys()) {
            dest.store
                .copy(&path(from), &path(&to))
                .await
                .expect("copy");
        }
        let doc = metadata::with_storage(&r.sidecar(), &moved.storage()).expect("json");
        put(&dest, &moved.metadata_key(), doc).await;
    }
    delete(&dest, &late.metadata_key()).await;
    let first_moved = Rec {
        class: target,
        ..first
    };
    dest.store
        .copy(
            &path(&first.media_keys()[0]),
            &path(&first_moved.media_keys()[0]),
        )
        .await
        .expect("copy");

    let (report, events) = run_migrate(&dest, None, Plan::DubberAi, migrated_at).await;
    assert_eq!(
        report,
        MigrationReport {
            moved: 2,
            unchanged: 1,
            leftovers_cleaned: 1,
            ..MigrationReport::default()
        }
    );
    let cleaned: Vec<&MigrationEvent> = events
        .iter()
        .filter(|e| matches!(e, MigrationEvent::LeftoversCleaned { .. }))
        .collect();
    assert_eq!(
        cleaned,
        vec![&MigrationEvent::LeftoversCleaned {
            prefix: late.key().prefix(),
            complete_at: Rec {
                class: target,
                ..late
            }
            .key()
            .prefix(),
            keys: late.media_keys(),
        }]
    );
    let expected = sorted(
        [
            late.keys_in(target),
            early.keys_in(target),
            first.keys_in(target),
        ]
        .concat(),
    );
    assert_eq!(
        keys(&dest).await,
        expected,
        "every recording once, in the target class"
    );
    for r in [&late, &early, &first] {
        let (_, parsed) = stored_metadata(
            &dest,
            &Rec {
                class: target,
                ..*r
            }
            .metadata_key(),
        )
        .await;
        assert_eq!(parsed.storage.plan, "dubber-ai");
        assert_eq!(parsed.storage.retained_since, migrated_at.to_rfc3339());
    }

    let (report, _) = run_migrate(&dest, None, Plan::DubberAi, migrated_at + DAY).await;
    assert_eq!(
        report,
        MigrationReport {
            unchanged: 3,
            ..MigrationReport::default()
        }
    );
}

async fn uploads_in_progress_and_unreadable_metadata_are_left_alone(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    // Media without metadata, in the old class and in the target class: uploads in progress.
    rec("30d", Plan::DubberGo, "uploading-old", t)
        .write_media(&dest)
        .await;
    rec("unlimited", Plan::DubberGo, "uploading-new", t)
        .write_media(&dest)
        .await;
    let garbled = rec("30d", Plan::DubberGo, "garbled", t);
    garbled.write_media(&dest).await;
    put(&dest, &garbled.metadata_key(), b"[]".to_vec()).await;
    let before = snapshot(&dest).await;

    let (report, events) = run_migrate(&dest, None, Plan::DubberStandard, t + DAY).await;
    assert_eq!(
        report,
        MigrationReport {
            skipped: 1,
            incomplete: 2,
            ..MigrationReport::default()
        }
    );
    let [MigrationEvent::Skipped { prefix, reason }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(prefix, &garbled.key().prefix());
    assert!(reason.contains(&garbled.metadata_key()), "{reason}");
    assert_eq!(snapshot(&dest).await, before);
}

// ---- Interrupted at every step ----

/// A store that dies at its `n`th write (put, copy or delete): every later write fails too,
/// as if the process had been killed there. Reads pass through.
#[derive(Debug)]
struct Crashing {
    inner: Arc<dyn ObjectStore>,
    writes_left: Arc<AtomicUsize>,
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = object_store::Result<T>> + Send + 'a>>;

impl Crashing {
    fn wrap(dest: &Destination, writes: usize) -> Destination {
        let mut crashing = dest.clone();
        crashing.store = Arc::new(Crashing {
            inner: dest.store.clone(),
            writes_left: Arc::new(AtomicUsize::new(writes)),
        });
        crashing
    }

    fn write(&self) -> object_store::Result<()> {
        take_write(&self.writes_left)
    }
}

fn take_write(writes_left: &AtomicUsize) -> object_store::Result<()> {
    let left = writes_left.load(Ordering::SeqCst);
    if left == 0 {
        return Err(object_store::Error::Generic {
            store: "crashing",
            source: "killed".into(),
        });
    }
    writes_left.store(left - 1, Ordering::SeqCst);
    Ok(())
}

impl std::fmt::Display for Crashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crashing({})", self.inner)
    }
}

impl ObjectStore for Crashing {
    fn put_opts<'a, 'b, 'c>(
        &'a self,
        location: &'b Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Fut<'c, PutResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.write()?;
            self.inner.put_opts(location, payload, opts).await
        })
    }

    fn put_multipart_opts<'a, 'b, 'c>(
        &'a self,
        location: &'b Path,
        opts: PutMultipartOptions,
    ) -> Fut<'c, Box<dyn MultipartUpload>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            self.write()?;
            self.inner.put_multipart_opts(location, opts).await
        })
    }

    fn get_opts<'a, 'b, 'c>(&'a self, location: &'b Path, options: GetOptions) -> Fut<'c, GetResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.get_opts(location, options)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let (inner, writes_left) = (self.inner.clone(), self.writes_left.clone());
        locations
            .then(move |location| {
                let (inner, writes_left) = (inner.clone(), writes_left.clone());
                async move {
                    let location = location?;
                    take_write(&writes_left)?;
                    inner.delete(&location).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_delimiter<'a, 'b, 'c>(&'a self, prefix: Option<&'b Path>) -> Fut<'c, ListResult>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.list_with_delimiter(prefix)
    }

    fn copy_opts<'a, 'b, 'c, 'd>(
        &'a self,
        from: &'b Path,
        to: &'c Path,
        options: CopyOptions,
    ) -> Fut<'d, ()>
    where
        'a: 'd,
        'b: 'd,
        'c: 'd,
        Self: 'd,
    {
        Box::pin(async move {
            self.write()?;
            self.inner.copy_opts(from, to, options).await
        })
    }
}

async fn clear(dest: &Destination) {
    for key in keys(dest).await {
        delete(dest, &key).await;
    }
}

/// No reader may find metadata without every media file it names.
async fn assert_no_metadata_without_media(dest: &Destination, context: &str) {
    let present = keys(dest).await;
    for key in present.iter().filter(|k| k.ends_with(".json")) {
        let (_, parsed) = stored_metadata(dest, key).await;
        let prefix = &key[..key.rfind('/').expect("in a prefix") + 1];
        for file in &parsed.files {
            let media = format!("{prefix}{}", file.name);
            assert!(present.contains(&media), "{context}: {key} without {media}");
        }
    }
}

async fn migration_interrupted_at_any_write_is_finished_by_a_rerun(dest: Destination) {
    let t = at("2026-11-01T09:00:00.000Z");
    let now = t + 3 * DAY;
    for (plan, class, sideways) in [
        (Plan::DubberAi, "30d", Plan::DubberStandard),
        (Plan::DubberGo, "unlimited", Plan::DubberGo),
    ] {
        let recordings = [
            rec(class, Plan::DubberGo, "one", t),
            rec(class, Plan::DubberGo, "two", t + DAY),
            // Already in the target class: retagged (paid) or unchanged (free).
            rec(&plan.retention().to_string(), sideways, "three", t),
        ];
        let setup = || async {
            clear(&dest).await;
            for r in &recordings {
                r.write(&dest).await;
            }
        };
        setup().await;
        run_migrate(&dest, None, plan, now).await;
        let finished = snapshot(&dest).await;
        let writes = 2 * 6 + usize::from(sideways != plan);

        for crash_at in 0..writes {
            let context = format!("{plan} crashed at write {crash_at}");
            setup().await;
            let crashing = Crashing::wrap(&dest, crash_at);
            let result = migrate::migrate(
                &crashing,
                "acme",
                None,
                &target(plan),
                now,
                &Default::default(),
                |_| {},
            )
            .await;
            assert!(result.is_err(), "{context}: {result:?}");
            assert_no_metadata_without_media(&dest, &context).await;
            run_migrate(&dest, None, plan, now).await;
            assert_eq!(snapshot(&dest).await, finished, "{context}");
            let (again, _) = run_migrate(&dest, None, plan, now + DAY).await;
            let expected = MigrationReport {
                unchanged: 3,
                ..MigrationReport::default()
            };
            assert_eq!(again, expected, "{context}");
        }
        let crashing = Crashing::wrap(&dest, writes);
        setup().await;
        let result = migrate::migrate(
            &crashing,
            "acme",
            None,
            &target(plan),
            now,
            &Default::default(),
            |_| {},
        )
        .await;
        assert!(result.is_ok(), "{plan}: {writes} writes are enough");
    }
}

async fn sweep_interrupted_at_any_write_is_finished_by_the_next_days_run(dest: Destination) {
    let now_ish = Time::from_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64
            * 1_000_000,
    );
    let expiring = [
        rec("30d", Plan::DubberGo, "one", now_ish),
        rec("30d", Plan::DubberGo, "two", now_ish),
    ];
    let young = rec("30d", Plan::DubberGo, "young", now_ish + 2 * DAY);
    let writes = 2 * 3;
    for crash_at in 0..writes {
        let context = format!("sweep crashed at write {crash_at}");
        clear(&dest).await;
        for r in expiring.iter().chain([&young]) {
            r.write(&dest).await;
        }
        let crashing = Crashing::wrap(&dest, crash_at);
        let result = sweep::sweep(
            &crashing,
            now_ish + 30 * DAY,
            false,
            &Default::default(),
            |_| {},
        )
        .await;
        assert!(result.is_err(), "{context}: {result:?}");
        assert_no_metadata_without_media(&dest, &context).await;
        let (report, _) = run_sweep(&dest, now_ish + 31 * DAY, false).await;
        assert_eq!(report.kept, 1, "{context}");
        assert_eq!(keys(&dest).await, young.keys_in(young.class), "{context}");
    }
}

/// Runs each body on a `memory://` store, on a local filesystem in a temp dir, and under a
/// fresh prefix of the S3 server `./scripts/test` starts (the RADOS Gateway; without it the S3
/// runs fail rather than skip).
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = format!("memory://retention-{}", stringify!($name));
                    super::$name(Destination::open(&url, &[]).expect("memory")).await;
                }
            )*
            use callrec::store::Destination;
        }
        mod file {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = super::TempDir::new(stringify!($name));
                    let url = dir.0.to_str().expect("utf-8 temp dir");
                    super::$name(Destination::open(url, &[]).expect("local")).await;
                }
            )*
            use callrec::store::Destination;
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    let bucket = std::env::var("CALLREC_TEST_S3").expect(
                        "CALLREC_TEST_S3 is not set: run ./scripts/test, which starts the S3 server",
                    );
                    let unique = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default();
                    let url = format!("{bucket}/retention-{}-{unique}", stringify!($name));
                    super::$name(Destination::open(&url, &[]).expect("s3")).await;
                }
            )*
            use callrec::store::Destination;
        }
    };
}

on_every_backend!(
    sweeper_deletes_at_exactly_day_30_and_keeps_unlimited_forever,
    dry_run_reports_the_same_set_and_deletes_nothing,
    leftover_media_expire_by_their_newest_write,
    interrupted_sweep_is_finished_by_the_next_run,
    unreadable_metadata_is_reported_and_never_deleted,
    free_to_paid_moves_to_unlimited_and_is_never_swept,
    paid_to_free_expires_30_days_after_the_migration,
    user_option_moves_only_that_users_recordings,
    rerunning_a_migration_changes_nothing,
    same_class_plan_change_rewrites_metadata_in_place,
    interrupted_migration_is_finished_by_a_rerun,
    uploads_in_progress_and_unreadable_metadata_are_left_alone,
    migration_interrupted_at_any_write_is_finished_by_a_rerun,
    sweep_interrupted_at_any_write_is_finished_by_the_next_days_run,
);

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("callrec-retention-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
