//! The effective-policy cache: the in-memory index answers exactly what `effective_policy`
//! answers over a generated population, follows every document change (AORs moving between
//! users, users and organisations deleted), and the cache over the policy store sees every
//! change, its own or another worker's, after a refresh; on SQLite and on the real PostgreSQL
//! that `scripts/test` starts (CALLREC_TEST_POSTGRES). The store methods the cache reads by are
//! tested here too.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use callrec::policy::account::ProviderAccount;
use callrec::policy::index::{
    normalise_aor, AorTarget, IndexError, IndexStats, Lookup, PolicyIndex, Update, KIND_AOR,
    KIND_LOCATION, KIND_ORGANISATION, KIND_USER,
};
use callrec::policy::location::Location;
use callrec::policy::model::{
    Admin, AdminId, AdminRole, LocationId, LocationProvider, OrgId, ProviderChoice, UserId,
};
use callrec::policy::organisation::{CustomerStorage, Organisation};
use callrec::policy::plan::{DubberEntitlement, Provider};
use callrec::policy::region::Region;
use callrec::policy::settings::{
    Announcement, Mode, Notification, NotificationType, PlatformInfo, RecordingSettings, Reminder,
    ReminderInterval,
};
use callrec::policy::terms::TermsAcceptance;
use callrec::policy::user::{Licence, Person, User};
use callrec::policy::{effective_policy, Decision, Reason};
use callrec::policydb::cache::PolicyCache;
use callrec::policydb::{Change, DbError, PolicyDb};
use callrec::time::Time;
use common::sqlite::SqliteFile;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::AnyPool;

// ---------------------------------------------------------------------------------------------
// A generated population.

fn at(secs: u64) -> Time {
    Time::parse_rfc3339("2026-11-25T10:00:00Z").expect("valid") + Duration::from_secs(secs)
}

fn admin() -> Admin {
    Admin {
        id: AdminId::from("alice"),
        role: AdminRole::Customer,
    }
}

/// Bits of `i` scrambled (Fibonacci hashing), so that no setting moves in step with another.
fn bits(i: usize, salt: u64) -> u64 {
    ((i as u64) ^ (salt << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

/// Everything the index holds, as plain lists.
struct Population {
    orgs: Vec<Organisation>,
    locations: Vec<Location>,
    users: Vec<User>,
    /// Each AOR document's id and user.
    aors: Vec<(String, UserId)>,
}

impl Population {
    /// `orgs` organisations of `locations` locations of `users` users each, with every
    /// setting varied: vendors, regions, the service switch, terms, accounts, customer
    /// storage, location overrides, licences, modes and settings. Every 97th user's location
    /// is missing and every 89th is another organisation's; the last user belongs to an
    /// organisation that does not exist. Each user has a SIP AOR; every third a `tel:` one.
    fn new(orgs: usize, locations: usize, users: usize) -> Population {
        let mut p = Population {
            orgs: Vec::new(),
            locations: Vec::new(),
            users: Vec::new(),
            aors: Vec::new(),
        };
        for o in 0..orgs {
            p.orgs.push(organisation(o));
            for l in 0..locations {
                p.locations.push(location(o, l));
                for u in 0..users {
                    let n = (o * locations + l) * users + u;
                    let mut user = user(o, l, n);
                    if n % 97 == 96 {
                        user.location = LocationId::from("nowhere");
                    } else if n % 89 == 88 {
                        user.location = location_id((o + 1) % orgs.max(2), 0);
                    }
                    p.add_user(user);
                }
            }
        }
        let mut ghost = user(orgs, 0, p.users.len());
        ghost.org = OrgId::from("ghost");
        p.add_user(ghost);
        p
    }

    fn add_user(&mut self, user: User) {
        let n = self.users.len();
        self.aors.push((aor(n), user.id.clone()));
        if n.is_multiple_of(3) {
            self.aors
                .push((format!("tel:+3310{n:07}"), user.id.clone()));
        }
        self.users.push(user);
    }

    /// Every document as `(kind, id, org, body)`.
    fn documents(&self) -> Vec<(&'static str, String, String, Value)> {
        let mut docs = Vec::new();
        for o in &self.orgs {
            docs.push((
                KIND_ORGANISATION,
                o.id.0.clone(),
                o.id.0.clone(),
                to_json(o),
            ));
        }
        for l in &self.locations {
            docs.push((KIND_LOCATION, l.id.0.clone(), l.org.0.clone(), to_json(l)));
        }
        for u in &self.users {
            docs.push((KIND_USER, u.id.0.clone(), u.org.0.clone(), to_json(u)));
        }
        for (aor, user) in &self.aors {
            let org = self.user(user).org.0.clone();
            let body = to_json(&AorTarget { user: user.clone() });
            docs.push((KIND_AOR, aor.clone(), org, body));
        }
        docs
    }

    fn user(&self, id: &UserId) -> &User {
        self.users.iter().find(|u| &u.id == id).expect("a user")
    }

    /// What the index must answer for `user`'s AORs, from the lists.
    fn expected(&self, user: &User) -> Lookup {
        let Some(org) = self.orgs.iter().find(|o| o.id == user.org) else {
            return Lookup::Unknown;
        };
        let location = self.locations.iter().find(|l| l.id == user.location);
        Lookup::Known(effective_policy(org, location, Some(user)))
    }

    /// An index holding every document, given in the scrambled order of `salt`.
    fn index(&self, salt: u64) -> PolicyIndex {
        let mut docs = self.documents();
        docs.sort_by_key(|(kind, id, _, _)| bits(id.len() * 31 + kind.len(), salt) ^ hash(id));
        let mut index = PolicyIndex::default();
        for (kind, id, _, body) in &docs {
            index.apply(kind, id, Some(body)).expect("a valid document");
        }
        index
    }
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("encodes")
}

fn aor(n: usize) -> String {
    format!("sip:user{n}@example.com")
}

fn location_id(o: usize, l: usize) -> LocationId {
    LocationId(format!("org{o}-loc{l}"))
}

fn organisation(o: usize) -> Organisation {
    let b = bits(o, 1);
    let mut org = Organisation::new(
        OrgId(format!("org{o}")),
        &format!("Org {o}"),
        // Half in the US, where every provider records.
        [Region::Us, Region::ALL[(b >> 1) as usize % 7]][(b & 1) as usize],
    );
    // Mostly Dubber, as in life; each eighth None.
    org.provider = [0, 0, 0, 1, 1, 2, 2, 3].map(|n| ProviderChoice::ALL[n])[(b >> 4) as usize % 8];
    org.service_enabled = !(b >> 7).is_multiple_of(16);
    org.customer_storage =
        (b >> 11 & 1 == 1).then(|| CustomerStorage::url_only(&format!("s3://org{o}-recordings")));
    // For each provider: no terms (a quarter), terms but no account (a quarter), or both.
    for (n, provider) in Provider::ALL.into_iter().enumerate() {
        let stage = b >> (14 + 2 * n) & 3;
        if stage >= 1 {
            org.terms.push(TermsAcceptance {
                provider,
                accepted_by: admin(),
                accepted_at: at(1),
            });
        }
        if stage >= 2 {
            org.accounts.push(ProviderAccount {
                provider,
                external_id: format!("{}-{o}", provider.as_str()),
                created_by: admin(),
                created_at: at(2),
                admins: vec![admin()],
            });
        }
    }
    org
}

fn location(o: usize, l: usize) -> Location {
    let b = bits(o * 1000 + l, 2);
    Location {
        id: location_id(o, l),
        org: OrgId(format!("org{o}")),
        name: format!("Site {l}"),
        region: (b & 3 == 0).then(|| Region::ALL[(b >> 2) as usize % 7]),
        // Half follow the organisation.
        provider: LocationProvider::ALL[((b >> 5) as usize % 10).saturating_sub(5)],
    }
}

fn user(o: usize, l: usize, n: usize) -> User {
    let b = bits(n, 3);
    let mut user = User::new(
        UserId(format!("user{n}")),
        OrgId(format!("org{o}")),
        location_id(o, l),
        Person {
            first_name: format!("First{n}"),
            last_name: "Martin".into(),
            email: format!("user{n}@example.com"),
            time_zone: "Europe/Paris".into(),
        },
        [Licence::Professional, Licence::Basic, Licence::Other]
            [[0, 0, 0, 1, 1, 1, 1, 2][(b % 8) as usize]],
    );
    user.enabled = !(b >> 2).is_multiple_of(4);
    user.settings = RecordingSettings {
        mode: Mode::ALL[(b >> 4) as usize % 4],
        record_voicemail: b >> 6 & 1 == 1,
        announcement: Announcement {
            internal_calls: b >> 7 & 1 == 1,
            pstn_calls: b >> 8 & 1 == 1,
        },
        notification: Notification {
            kind: NotificationType::ALL[(b >> 9) as usize % 2],
            enabled: b >> 10 & 1 == 1,
        },
        reminder: Reminder {
            enabled: b >> 11 & 1 == 1,
            interval: ReminderInterval::new(10 + (b >> 12) % 81).expect("10-90"),
        },
        ..RecordingSettings::default()
    };
    user.entitlement = DubberEntitlement::ALL[(b >> 20) as usize % 3];
    user.platform = (!(b >> 22).is_multiple_of(10)).then(|| PlatformInfo {
        service_provider: format!("org{o}"),
        external_group: format!("org{o}-loc{l}"),
        external_identifier: format!("user{n}"),
    });
    user
}

/// A short name for a lookup's outcome, to count how varied a population's answers are.
fn outcome(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Known(Decision::Record(p)) => format!("record {:?}", p.plan),
        Lookup::Known(Decision::DoNotRecord(reason)) => format!("{reason:?}")
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string(),
        Lookup::Unknown => "unknown".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The index, pure.

#[test]
fn index_answers_what_effective_policy_answers_for_every_aor() {
    let p = Population::new(40, 3, 16);
    assert_eq!(p.users.len(), 40 * 3 * 16 + 1);
    let index = p.index(7);
    let mut outcomes = BTreeMap::<String, usize>::new();
    for (aor, user) in &p.aors {
        let expected = p.expected(p.user(user));
        assert_eq!(index.lookup(aor), expected, "{aor}");
        // What a spooled recording of theirs asks for at upload: the same decision.
        assert_eq!(index.lookup_user(&user.0), expected, "{aor}");
        *outcomes.entry(outcome(&expected)).or_default() += 1;
    }
    // The same party as the platform writes it in a header.
    for n in [0, 1, 2, 300, 1919] {
        let expected = p.expected(&p.users[n]);
        let header = format!("\"User {n}\" <SIP:user{n}@Example.COM:5060;transport=tls>;tag=9f");
        assert_eq!(index.lookup(&header), expected, "{header}");
    }
    assert_eq!(index.lookup("tel:+33-10-000-0003"), p.expected(&p.users[3]));
    assert_eq!(index.lookup_user("nobody"), Lookup::Unknown);
    // Nobody's addresses.
    for text in [
        "sip:nobody@example.com",
        "sip:user0@example.org",
        "sip:User0@example.com",
        "tel:+331000000001",
        "user0@example.com",
        "",
    ] {
        assert_eq!(index.lookup(text), Lookup::Unknown, "{text}");
    }
    // The population reaches every outcome but UnknownUser (the index finds the organisation
    // through the user, so a user is always their organisation's).
    let reached: Vec<&str> = outcomes.keys().map(String::as_str).collect();
    assert_eq!(
        reached,
        [
            "LocationOff",
            "ModeNever",
            "NoProviderAccount",
            "NotLicensed",
            "NotProvisioned",
            "OrganisationOff",
            "RegionNotServed",
            "ServiceOff",
            "TermsNotAccepted",
            "UnknownLocation",
            "UserDisabled",
            "record CallCabinet",
            "record DubberAi",
            "record DubberGo",
            "record DubberStandard",
            "record Imagicle",
            "unknown",
        ],
        "{outcomes:?}"
    );
    assert!(outcomes.values().all(|&n| n >= 2), "{outcomes:?}");
    assert!(!index.is_empty());
    let docs = p.documents().len() as u64;
    assert_eq!(
        index.stats(),
        &IndexStats {
            upserts: docs,
            deletes: 0,
            ignored: 0
        }
    );
}

#[test]
fn documents_in_any_order_give_the_same_answers() {
    let p = Population::new(3, 2, 30);
    let (a, b) = (p.index(1), p.index(2));
    for (aor, _) in &p.aors {
        assert_eq!(a.lookup(aor), b.lookup(aor), "{aor}");
    }
}

/// An organisation, location and user that record (Dubber, terms accepted, account held).
fn recording_org() -> (Organisation, Location, User) {
    let mut org = Organisation::new(OrgId::from("acme"), "Acme", Region::Eu);
    org.terms.push(TermsAcceptance {
        provider: Provider::Dubber,
        accepted_by: admin(),
        accepted_at: at(1),
    });
    org.accounts.push(ProviderAccount {
        provider: Provider::Dubber,
        external_id: "acme".into(),
        created_by: admin(),
        created_at: at(1),
        admins: vec![admin()],
    });
    let location = Location {
        id: LocationId::from("paris"),
        org: org.id.clone(),
        name: "Paris".into(),
        region: None,
        provider: LocationProvider::OrganisationDefault,
    };
    let mut user = User::new(
        UserId::from("u1"),
        org.id.clone(),
        location.id.clone(),
        Person {
            first_name: "Ada".into(),
            last_name: "Martin".into(),
            email: "ada@acme.example".into(),
            time_zone: "Europe/Paris".into(),
        },
        Licence::Professional,
    );
    user.enabled = true;
    user.settings.mode = Mode::Always;
    user.platform = Some(PlatformInfo {
        service_provider: "acme".into(),
        external_group: "paris".into(),
        external_identifier: "u1".into(),
    });
    (org, location, user)
}

fn another(user: &User, id: &str) -> User {
    User {
        id: UserId::from(id),
        settings: RecordingSettings {
            mode: Mode::OnDemandWithUserInitiatedStart,
            ..user.settings
        },
        ..user.clone()
    }
}

fn decision(org: &Organisation, location: Option<&Location>, user: &User) -> Lookup {
    Lookup::Known(effective_policy(org, location, Some(user)))
}

fn recorded_user(lookup: &Lookup) -> Option<&str> {
    match lookup {
        Lookup::Known(Decision::Record(policy)) => Some(&policy.user.0),
        _ => None,
    }
}

#[test]
fn the_aor_index_follows_moves_and_deletions() {
    let (org, paris, u1) = recording_org();
    let u2 = another(&u1, "u2");
    let mut index = PolicyIndex::default();
    let apply = |index: &mut PolicyIndex, kind: &str, id: &str, body: Option<Value>| {
        index.apply(kind, id, body.as_ref()).expect("applies")
    };
    let to = |user: &str| Some(json!({ "user": user }));
    const A: &str = "sip:ada@acme.example";

    // Documents in any order: the AOR before its user, the user before the organisation.
    apply(&mut index, KIND_AOR, A, to("u1"));
    assert_eq!(index.lookup(A), Lookup::Unknown);
    apply(&mut index, KIND_USER, "u1", Some(to_json(&u1)));
    assert_eq!(index.lookup(A), Lookup::Unknown, "no organisation yet");
    apply(&mut index, KIND_ORGANISATION, "acme", Some(to_json(&org)));
    assert_eq!(
        index.lookup(A),
        Lookup::Known(Decision::DoNotRecord(Reason::UnknownLocation))
    );
    apply(&mut index, KIND_LOCATION, "paris", Some(to_json(&paris)));
    let for_u1 = decision(&org, Some(&paris), &u1);
    assert_eq!(recorded_user(&for_u1), Some("u1"));
    assert_eq!(index.lookup(A), for_u1);

    // The AOR moves to another user, then back; the first user keeps no trace of it.
    apply(&mut index, KIND_USER, "u2", Some(to_json(&u2)));
    apply(&mut index, KIND_AOR, A, to("u2"));
    let for_u2 = decision(&org, Some(&paris), &u2);
    assert_eq!(recorded_user(&for_u2), Some("u2"));
    assert_eq!(index.lookup(A), for_u2);

    // A user deleted leaves their AOR unknown, until they are back.
    apply(&mut index, KIND_USER, "u2", None);
    assert_eq!(index.lookup(A), Lookup::Unknown);
    apply(&mut index, KIND_USER, "u2", Some(to_json(&u2)));
    assert_eq!(index.lookup(A), for_u2);

    // A user changed is answered as changed.
    let disabled = User {
        enabled: false,
        ..u2.clone()
    };
    apply(&mut index, KIND_USER, "u2", Some(to_json(&disabled)));
    assert_eq!(
        index.lookup(A),
        Lookup::Known(Decision::DoNotRecord(Reason::UserDisabled))
    );

    // An AOR document whose id was not normalised is still found by the normalised key, and
    // deleted by its own id.
    apply(&mut index, KIND_AOR, "<SIPS:ada@ACME.example>", to("u1"));
    assert_eq!(index.lookup(A), for_u1);
    apply(&mut index, KIND_AOR, "sip:Ada@acme.example", to("u1"));
    assert_eq!(index.lookup("sip:Ada@acme.example;user=ip"), for_u1);
    apply(&mut index, KIND_AOR, "<SIPS:ada@ACME.example>", None);
    assert_eq!(index.lookup(A), Lookup::Unknown);
    assert_eq!(index.lookup("sip:Ada@acme.example"), for_u1);

    // The location gone: the user's location is unknown; the organisation gone: unknown.
    apply(&mut index, KIND_LOCATION, "paris", None);
    assert_eq!(
        index.lookup("sip:Ada@acme.example"),
        Lookup::Known(Decision::DoNotRecord(Reason::UnknownLocation))
    );
    apply(&mut index, KIND_ORGANISATION, "acme", None);
    assert_eq!(index.lookup("sip:Ada@acme.example"), Lookup::Unknown);

    // Deleting what is not there changes nothing; other kinds are ignored.
    apply(&mut index, KIND_USER, "nobody", None);
    apply(&mut index, "token", "t1", Some(json!({"role": "admin"})));
    assert_eq!(
        index.stats(),
        &IndexStats {
            upserts: 10,
            deletes: 5,
            ignored: 1,
        }
    );
    apply(&mut index, KIND_USER, "u1", None);
    apply(&mut index, KIND_USER, "u2", None);
    assert!(!index.is_empty(), "an AOR is still held");
    apply(&mut index, KIND_AOR, "sip:Ada@acme.example", None);
    assert!(index.is_empty());
}

#[test]
fn documents_that_do_not_decode_change_nothing() {
    let (org, paris, u1) = recording_org();
    let p = |kind: &str, id: &str, body: Value| {
        let mut index = PolicyIndex::default();
        index
            .apply(KIND_ORGANISATION, "acme", Some(&to_json(&org)))
            .expect("org");
        index
            .apply(KIND_LOCATION, "paris", Some(&to_json(&paris)))
            .expect("loc");
        index
            .apply(KIND_USER, "u1", Some(&to_json(&u1)))
            .expect("user");
        index
            .apply(
                KIND_AOR,
                "sip:ada@acme.example",
                Some(&json!({"user": "u1"})),
            )
            .expect("aor");
        let before = index.lookup("sip:ada@acme.example");
        let err = index.apply(kind, id, Some(&body)).expect_err("refused");
        assert_eq!(index.lookup("sip:ada@acme.example"), before, "{err}");
        assert_eq!(index.stats().upserts, 4);
        err.to_string()
    };
    let mut bad_user = to_json(&u1);
    bad_user["settings"]["reminder"]["interval"] = json!(5);
    let err = p(KIND_USER, "u1", bad_user);
    assert!(
        err.starts_with("user \"u1\" does not decode: repeat.interval: 5 is outside 10-90"),
        "{err}"
    );
    assert_eq!(
        p(KIND_USER, "u1", to_json(&another(&u1, "u2"))),
        "user \"u1\" holds the body of \"u2\""
    );
    let mut moved = to_json(&org);
    moved["id"] = json!("other");
    assert_eq!(
        p(KIND_ORGANISATION, "acme", moved),
        "organisation \"acme\" holds the body of \"other\""
    );
    let err = p(KIND_AOR, "sip:ada@acme.example", json!({"person": "u2"}));
    assert!(
        err.starts_with("aor \"sip:ada@acme.example\" does not decode: missing field `user`"),
        "{err}"
    );
    assert_eq!(
        p(KIND_AOR, "ada", json!({"user": "u1"})),
        "aor document \"ada\" is not a SIP or tel URI"
    );
    assert!(matches!(
        Update::decode(KIND_AOR, "ada", None),
        Err(IndexError::NotAnAor(id)) if id == "ada"
    ));
    let err = p(KIND_LOCATION, "paris", json!("paris"));
    assert!(
        err.starts_with("location \"paris\" does not decode: invalid type"),
        "{err}"
    );
}

#[test]
fn updates_decode_kind_by_kind() {
    let (org, _, _) = recording_org();
    assert_eq!(
        Update::decode(KIND_ORGANISATION, "acme", Some(&to_json(&org))).expect("decodes"),
        Update::Organisation(OrgId::from("acme"), Some(org))
    );
    assert_eq!(
        Update::decode(KIND_AOR, "tel:+1 555", None).ok(),
        None,
        "no key, even to delete"
    );
    assert_eq!(
        Update::decode(KIND_AOR, "tel:+1-555", None).expect("decodes"),
        Update::Aor("tel:+1555".into(), None)
    );
    assert_eq!(
        Update::decode("token", "x", Some(&json!(1))).expect("decodes"),
        Update::Other
    );
    assert_eq!(
        normalise_aor("sip:ada@acme.example").as_deref(),
        Some("sip:ada@acme.example")
    );
}

// ---------------------------------------------------------------------------------------------
// Over the policy store, on SQLite and on PostgreSQL.

/// One test's database, migrated, and what to remove afterwards.
struct TestDb {
    url: String,
    db: PolicyDb,
    _sqlite_file: Option<SqliteFile>,
}

impl TestDb {
    async fn sqlite(test: &str) -> TestDb {
        let file = SqliteFile::new("policy-cache", test);
        TestDb::open(file.url(), Some(file)).await
    }

    /// A schema of its own in the test PostgreSQL, so tests running side by side do not meet.
    async fn postgres(test: &str) -> TestDb {
        TestDb::open(common::postgres::fresh_schema("c", test).await, None).await
    }

    async fn open(url: String, sqlite_file: Option<SqliteFile>) -> TestDb {
        let db = PolicyDb::open(&url).await.expect("open");
        db.migrate().await.expect("migrate");
        TestDb {
            url,
            db,
            _sqlite_file: sqlite_file,
        }
    }

    /// Another worker's handle on the same database.
    async fn another_worker(&self) -> PolicyDb {
        PolicyDb::open(&self.url).await.expect("second handle")
    }
}

common::postgres::on_both!(
    store_lists_every_organisation_and_replays_changes_in_order,
    cache_sees_its_own_and_other_workers_changes_after_refresh,
    cache_pages_through_large_loads_and_backlogs,
    load_during_writes_ends_where_the_store_is,
    refresher_brings_changes_within_its_interval,
    a_failed_refresh_keeps_serving_the_last_state,
);

fn by(secs: u64) -> Change<'static> {
    Change {
        actor: "alice",
        at: at(secs),
    }
}

async fn put(db: &PolicyDb, kind: &str, id: &str, org: &str, body: &Value) {
    db.insert(kind, id, org, body, by(10))
        .await
        .unwrap_or_else(|e| panic!("insert {kind} {id}: {e}"));
}

async fn put_all(db: &PolicyDb, p: &Population) {
    for (kind, id, org, body) in p.documents() {
        put(db, kind, &id, &org, &body).await;
    }
}

async fn put_recording_org(db: &PolicyDb) -> (Organisation, Location, User) {
    let (org, paris, u1) = recording_org();
    put(db, KIND_ORGANISATION, "acme", "acme", &to_json(&org)).await;
    put(db, KIND_LOCATION, "paris", "acme", &to_json(&paris)).await;
    put(db, KIND_USER, "u1", "acme", &to_json(&u1)).await;
    put(
        db,
        KIND_AOR,
        "sip:ada@acme.example",
        "acme",
        &json!({"user": "u1"}),
    )
    .await;
    (org, paris, u1)
}

/// The store's additions for the cache: documents of a kind across organisations, the audit
/// number, and the whole audit trail after a number, all exact and paged.
async fn store_lists_every_organisation_and_replays_changes_in_order(t: TestDb) {
    let db = &t.db;
    assert_eq!(db.audit_seq().await.expect("seq"), 0);
    assert_eq!(db.changes_since(0, 10).await.expect("changes"), vec![]);
    for (id, org) in [("b", "org-2"), ("a", "org-1"), ("c", "org-1")] {
        put(db, "thing", id, org, &json!({ "n": id })).await;
    }
    put(db, "other", "a0", "org-1", &json!(0)).await;
    let ids = |docs: Vec<callrec::policydb::Versioned<Value>>| -> Vec<(String, String)> {
        docs.into_iter().map(|d| (d.id, d.org_id)).collect()
    };
    let pair = |id: &str, org: &str| (id.to_string(), org.to_string());
    let all = db
        .list_kind::<Value>("thing", None, 10)
        .await
        .expect("list");
    assert_eq!(
        ids(all),
        [pair("a", "org-1"), pair("b", "org-2"), pair("c", "org-1")]
    );
    let page = db
        .list_kind::<Value>("thing", Some("a"), 1)
        .await
        .expect("page");
    assert_eq!(ids(page), [pair("b", "org-2")]);
    let rest = db
        .list_kind::<Value>("thing", Some("b"), 10)
        .await
        .expect("page");
    assert_eq!(ids(rest), [pair("c", "org-1")]);

    db.modify("thing", "b", by(11), |_: Value| {
        Ok::<_, DbError>(json!({"n": "b2"}))
    })
    .await
    .expect("modify");
    // Writes that change nothing or are refused take no audit number.
    db.modify("thing", "b", by(12), |v: Value| Ok::<_, DbError>(v))
        .await
        .expect("no change");
    let refused = db.insert("thing", "a", "org-1", &json!(1), by(12)).await;
    assert!(matches!(refused, Err(DbError::Exists { .. })));
    db.delete("thing", "a", by(13)).await.expect("delete");
    assert_eq!(db.audit_seq().await.expect("seq"), 6);

    let changes = db.changes_since(0, 100).await.expect("changes");
    let summary: Vec<(i64, &str, &str, &str, Option<&Value>)> = changes
        .iter()
        .map(|c| {
            (
                c.seq,
                c.kind.as_str(),
                c.id.as_str(),
                c.org_id.as_str(),
                c.after.as_ref(),
            )
        })
        .collect();
    let (b, a, c, a0, b2) = (
        json!({"n": "b"}),
        json!({"n": "a"}),
        json!({"n": "c"}),
        json!(0),
        json!({"n": "b2"}),
    );
    assert_eq!(
        summary,
        [
            (1, "thing", "b", "org-2", Some(&b)),
            (2, "thing", "a", "org-1", Some(&a)),
            (3, "thing", "c", "org-1", Some(&c)),
            (4, "other", "a0", "org-1", Some(&a0)),
            (5, "thing", "b", "org-2", Some(&b2)),
            (6, "thing", "a", "org-1", None),
        ]
    );
    assert_eq!(changes[4].before, Some(b.clone()));
    assert_eq!(changes[5].before, Some(a.clone()));
    let page = db.changes_since(2, 2).await.expect("page");
    let seqs: Vec<i64> = page.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(db.changes_since(6, 10).await.expect("none"), vec![]);
}

/// A change through the store (this worker's or another's) is served after one refresh, not
/// before; the audit number follows.
async fn cache_sees_its_own_and_other_workers_changes_after_refresh(t: TestDb) {
    let db = &t.db;
    let empty = PolicyCache::load(db.clone()).await.expect("load");
    assert!(empty.is_empty());
    let (org, paris, u1) = put_recording_org(db).await;
    assert!(empty.is_empty(), "not until refreshed");
    assert_eq!(empty.refresh().await.expect("refresh"), 4);
    assert!(!empty.is_empty());

    let cache = PolicyCache::load(db.clone()).await.expect("load");
    const A: &str = "\"Ada\" <sip:ada@ACME.example>;tag=1";
    let recording = decision(&org, Some(&paris), &u1);
    assert_eq!(recorded_user(&recording), Some("u1"));
    assert_eq!(cache.lookup(A), recording);
    assert_eq!(cache.stats().seq, 4);

    // This worker disables the user.
    db.modify(KIND_USER, "u1", by(20), |mut u: User| {
        u.enabled = false;
        Ok::<_, DbError>(u)
    })
    .await
    .expect("disable");
    assert_eq!(
        cache.lookup(A),
        recording,
        "served from memory until refreshed"
    );
    assert_eq!(cache.refresh().await.expect("refresh"), 1);
    assert_eq!(
        cache.lookup(A),
        Lookup::Known(Decision::DoNotRecord(Reason::UserDisabled))
    );
    assert_eq!(cache.refresh().await.expect("refresh"), 0);

    // Another worker enables them again and moves the location to no vendor.
    let other = t.another_worker().await;
    other
        .modify(KIND_USER, "u1", by(21), |mut u: User| {
            u.enabled = true;
            Ok::<_, DbError>(u)
        })
        .await
        .expect("enable");
    other
        .modify(KIND_LOCATION, "paris", by(22), |mut l: Location| {
            l.provider = LocationProvider::None;
            Ok::<_, DbError>(l)
        })
        .await
        .expect("location off");
    assert_eq!(cache.refresh().await.expect("refresh"), 2);
    assert_eq!(
        cache.lookup(A),
        Lookup::Known(Decision::DoNotRecord(Reason::LocationOff))
    );
    // ... then gives the AOR to a new user, and deletes the first.
    let u2 = User {
        location: LocationId::from("lyon"),
        ..another(&u1, "u2")
    };
    let lyon = Location {
        id: LocationId::from("lyon"),
        name: "Lyon".into(),
        ..paris.clone()
    };
    put(&other, KIND_LOCATION, "lyon", "acme", &to_json(&lyon)).await;
    put(&other, KIND_USER, "u2", "acme", &to_json(&u2)).await;
    other
        .modify(KIND_AOR, "sip:ada@acme.example", by(23), |_: AorTarget| {
            Ok::<_, DbError>(AorTarget {
                user: UserId::from("u2"),
            })
        })
        .await
        .expect("move the AOR");
    other.delete(KIND_USER, "u1", by(24)).await.expect("delete");
    assert_eq!(cache.refresh().await.expect("refresh"), 4);
    assert_eq!(cache.lookup(A), decision(&org, Some(&lyon), &u2));
    assert_eq!(recorded_user(&cache.lookup(A)), Some("u2"));
    other
        .delete(KIND_AOR, "sip:ada@acme.example", by(25))
        .await
        .expect("delete");
    assert_eq!(cache.refresh().await.expect("refresh"), 1);
    assert_eq!(cache.lookup(A), Lookup::Unknown);

    let stats = cache.stats();
    assert_eq!(stats.seq, db.audit_seq().await.expect("seq"));
    assert_eq!(stats.seq, 12);
    assert_eq!(
        (stats.changes, stats.refreshes, stats.failed_refreshes),
        (8, 6, 0)
    );
    assert_eq!(
        stats.index,
        IndexStats {
            upserts: 4 + 6,
            deletes: 2,
            ignored: 0
        }
    );
}

/// More documents and changes than one page holds: the load and a refresh page through all.
async fn cache_pages_through_large_loads_and_backlogs(t: TestDb) {
    let db = &t.db;
    let before = PolicyCache::load(db.clone()).await.expect("load empty");
    let p = Population::new(2, 2, 300);
    let docs = p.documents().len();
    assert!(p.users.len() > callrec::policydb::MAX_PAGE);
    put_all(db, &p).await;
    assert_eq!(before.refresh().await.expect("refresh"), docs);
    let after = PolicyCache::load(db.clone()).await.expect("load");
    for (aor, user) in &p.aors {
        let expected = p.expected(p.user(user));
        assert_eq!(before.lookup(aor), expected, "{aor}");
        assert_eq!(after.lookup(aor), expected, "{aor}");
    }
    assert_eq!(before.stats().changes, docs as u64);
    assert_eq!(after.stats().index.upserts, docs as u64);
    assert_eq!(after.stats().seq, docs as i64);
}

/// A load racing with writes ends, after its own catch-up, where the store is: documents read
/// after the audit number are replayed over, never missed.
async fn load_during_writes_ends_where_the_store_is(t: TestDb) {
    let db = &t.db;
    let mut p = Population::new(2, 2, 25);
    put_all(db, &p).await;
    let writer = {
        let db = t.another_worker().await;
        let users: Vec<User> = p.users.clone();
        tokio::spawn(async move {
            for round in 0..4u64 {
                for u in &users {
                    let id = u.id.0.clone();
                    db.modify(KIND_USER, &id, by(100 + round), |mut u: User| {
                        u.enabled = !u.enabled;
                        u.settings.record_voicemail = round % 2 == 0;
                        Ok::<_, DbError>(u)
                    })
                    .await
                    .expect("modify");
                }
            }
            // The first user's AOR goes to the second, and the third user goes.
            let to = AorTarget {
                user: users[1].id.clone(),
            };
            db.modify(KIND_AOR, &aor(0), by(200), |_: AorTarget| {
                Ok::<_, DbError>(to)
            })
            .await
            .expect("move");
            db.delete(KIND_USER, &users[2].id.0, by(201))
                .await
                .expect("delete");
        })
    };
    let mut caches = Vec::new();
    while !writer.is_finished() {
        caches.push(PolicyCache::load(db.clone()).await.expect("load"));
    }
    writer.await.expect("writer");
    caches.push(PolicyCache::load(db.clone()).await.expect("load"));
    assert!(caches.len() >= 2, "at least one load raced the writes");

    // What the store holds now, from the store.
    for u in &mut p.users {
        let stored = db.get::<User>(KIND_USER, &u.id.0).await.expect("get");
        if let Some(stored) = stored {
            *u = stored.value;
        }
    }
    let ghost = p.users.remove(2);
    p.aors[0].1 = p.users[1].id.clone();
    let seq = db.audit_seq().await.expect("seq");
    for cache in &caches {
        cache.refresh().await.expect("refresh");
        assert_eq!(cache.stats().seq, seq);
        for (aor, user) in &p.aors {
            let expected = match &p.users.iter().find(|u| &u.id == user) {
                Some(user) => p.expected(user),
                None => Lookup::Unknown,
            };
            assert_eq!(cache.lookup(aor), expected, "{aor}");
        }
        assert_eq!(
            cache.lookup(&aor(2)),
            Lookup::Unknown,
            "{:?} is gone",
            ghost.id
        );
    }
}

/// The refresher alone brings a change in, within its interval; it stops with the cache.
async fn refresher_brings_changes_within_its_interval(t: TestDb) {
    let db = &t.db;
    put_recording_org(db).await;
    let cache = Arc::new(PolicyCache::load(db.clone()).await.expect("load"));
    let interval = Duration::from_millis(100);
    let refresher = cache.spawn_refresher(interval);
    const A: &str = "sip:ada@acme.example";
    assert_eq!(recorded_user(&cache.lookup(A)), Some("u1"));
    t.another_worker()
        .await
        .modify(KIND_ORGANISATION, "acme", by(30), |mut o: Organisation| {
            o.service_enabled = false;
            Ok::<_, DbError>(o)
        })
        .await
        .expect("service off");
    let changed = std::time::Instant::now();
    let off = Lookup::Known(Decision::DoNotRecord(Reason::ServiceOff));
    while cache.lookup(A) != off {
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "never refreshed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // One interval and one refresh, with slack for a loaded test machine.
    assert!(
        changed.elapsed() < interval + Duration::from_millis(400),
        "{:?}",
        changed.elapsed()
    );
    assert!(cache.stats().refreshes >= 2);
    drop(cache);
    tokio::time::timeout(Duration::from_secs(5), refresher)
        .await
        .expect("the refresher ends with the cache")
        .expect("ends cleanly");
}

/// The store gone (its audit table dropped behind its back): refresh fails and is counted, and
/// lookups go on answering from the last state.
async fn a_failed_refresh_keeps_serving_the_last_state(t: TestDb) {
    let db = &t.db;
    put_recording_org(db).await;
    let cache = PolicyCache::load(db.clone()).await.expect("load");
    const A: &str = "sip:ada@acme.example";
    let before = cache.lookup(A);
    assert_eq!(recorded_user(&before), Some("u1"));
    let raw = AnyPool::connect(&t.url).await.expect("raw");
    sqlx::query("DROP TABLE audit")
        .execute(&raw)
        .await
        .expect("drop");
    raw.close().await;
    assert!(matches!(cache.refresh().await, Err(DbError::Sql(_))));
    assert!(matches!(cache.refresh().await, Err(DbError::Sql(_))));
    assert_eq!(cache.lookup(A), before);
    let stats = cache.stats();
    assert_eq!(
        (stats.refreshes, stats.failed_refreshes, stats.seq),
        (1, 2, 4)
    );
}
