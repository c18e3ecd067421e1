//! The recording policy model, pure: every operation's acceptance and refusal (with its exact
//! message), the effective policy over the whole organisation × location × user hierarchy
//! against an expectation written from the issue's rules (not from the implementation), and
//! the exact JSON of documents and of the platform's call recording settings.

use callrec::policy::account::{sync_listing, ProviderAccount};
use callrec::policy::api_json::{put_user_settings, UserRecordingSettings};
use callrec::policy::location::Location;
use callrec::policy::model::{
    Admin, AdminId, AdminRole, LocationId, LocationProvider, OrgId, ProviderChoice, UserId,
};
use callrec::policy::organisation::{CustomerStorage, Organisation};
use callrec::policy::plan::{DubberEntitlement, Plan, Provider};
use callrec::policy::region::Region;
use callrec::policy::settings::{
    Announcement, Mode, Notification, NotificationType, PlatformInfo, PostCall, RecordingSettings,
    Reminder, ReminderInterval,
};
use callrec::policy::terms::{disclosure, TermsAcceptance};
use callrec::policy::user::{Licence, Person, User};
use callrec::policy::{
    effective_policy, Change, Decision, PolicyError, Reason, RecordingPolicy, RetentionMigration,
    Storage,
};
use callrec::store::key::RetentionClass;
use callrec::time::Time;
use std::collections::{BTreeMap, BTreeSet};

fn at(text: &str) -> Time {
    Time::parse_rfc3339(text).expect("a valid time")
}

fn customer(id: &str) -> Admin {
    Admin {
        id: AdminId::from(id),
        role: AdminRole::Customer,
    }
}

fn partner(id: &str) -> Admin {
    Admin {
        id: AdminId::from(id),
        role: AdminRole::Partner,
    }
}

fn org(id: &str, region: Region) -> Organisation {
    Organisation::new(OrgId::from(id), &format!("{id} Ltd"), region)
}

fn location(org: &Organisation, id: &str) -> Location {
    Location {
        id: LocationId::from(id),
        org: org.id.clone(),
        name: id.to_uppercase(),
        region: None,
        provider: LocationProvider::OrganisationDefault,
    }
}

fn person(first: &str) -> Person {
    Person {
        first_name: first.to_string(),
        last_name: "Martin".into(),
        email: format!("{}@example.com", first.to_lowercase()),
        time_zone: "Europe/Paris".into(),
    }
}

fn user(org: &Organisation, location: &Location, id: &str) -> User {
    User::new(
        UserId::from(id),
        org.id.clone(),
        location.id.clone(),
        person(id),
        Licence::Professional,
    )
}

/// The organisation after `change` (which must carry it).
fn org_of(change: &Change) -> Organisation {
    change
        .organisation
        .clone()
        .expect("the organisation changed")
}

fn user_of(change: &Change) -> User {
    change.user.clone().expect("the user changed")
}

fn accepted(mut org: Organisation, providers: &[Provider]) -> Organisation {
    for &p in providers {
        org = org_of(&org.accept_terms(p, &customer("alice"), at("2026-01-02T03:04:05Z")));
    }
    org
}

const NOW: &str = "2026-03-04T05:06:07.123456789Z";

// ---------------------------------------------------------------------------------------------
// The effective policy over the whole hierarchy.

/// One point of the cartesian product.
#[derive(Clone, Copy, Debug)]
struct Case {
    service: bool,
    org_choice: ProviderChoice,
    org_region: Region,
    location_setting: LocationProvider,
    location_region: Option<Region>,
    enabled: bool,
    licence: Licence,
    mode: Mode,
    terms: &'static [Provider],
    accounts: &'static [Provider],
    knobs: Knobs,
}

/// The settings that only shape a recording (never whether there is one), varied across
/// cases from independent bits of the scrambled case index.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    entitlement: DubberEntitlement,
    customer_storage: bool,
    notification: NotificationType,
    notification_on: bool,
    reminder_seconds: u64,
    reminder_on: bool,
    voicemail: bool,
    internal_calls: bool,
    pstn_calls: bool,
}

impl Knobs {
    /// `index` mixed by Fibonacci hashing, so that no knob moves in step with a loop of the
    /// product.
    fn from_index(index: usize) -> Knobs {
        let bits = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        let bit = |n: u32| bits >> n & 1 == 1;
        Knobs {
            entitlement: DubberEntitlement::ALL[(bits % 3) as usize],
            customer_storage: bit(2),
            notification: if bit(3) {
                NotificationType::Beep
            } else {
                NotificationType::PlayAnnouncement
            },
            notification_on: bit(4),
            reminder_seconds: 10 + (bits >> 5) % 81,
            reminder_on: bit(12),
            voicemail: bit(13),
            internal_calls: bit(14),
            pstn_calls: bit(15),
        }
    }
}

/// Which providers' terms were accepted, or which providers the organisation has accounts
/// with.
const PROVIDER_SETS: [&[Provider]; 5] = [
    &[],
    &[Provider::Dubber],
    &[Provider::Imagicle],
    &[Provider::CallCabinet],
    &[Provider::Dubber, Provider::Imagicle, Provider::CallCabinet],
];

/// Who serves where, as the product brief states it (written out, not taken from the code).
fn served(provider: &str, region: &str) -> bool {
    match provider {
        "Dubber" => true,
        "Imagicle" => ["US", "EU", "EUN"].contains(&region),
        "CallCabinet" => region == "US",
        other => panic!("no provider {other}"),
    }
}

/// The vendor the user ends up with, from the brief: None at the organisation removes
/// recording for everyone; otherwise the location's own choice, else the organisation's.
fn vendor_name(case: &Case) -> &'static str {
    let org = match case.org_choice {
        ProviderChoice::Dubber => "Dubber",
        ProviderChoice::Imagicle => "Imagicle",
        ProviderChoice::CallCabinet => "CallCabinet",
        ProviderChoice::None => return "None",
    };
    match case.location_setting {
        LocationProvider::OrganisationDefault => org,
        LocationProvider::Dubber => "Dubber",
        LocationProvider::Imagicle => "Imagicle",
        LocationProvider::CallCabinet => "CallCabinet",
        LocationProvider::None => "None",
    }
}

fn provider_named(name: &str) -> Provider {
    [Provider::Dubber, Provider::Imagicle, Provider::CallCabinet]
        .into_iter()
        .find(|p| format!("{p:?}") == name)
        .expect("a provider")
}

fn region_code(region: Region) -> String {
    format!("{region:?}").to_uppercase()
}

/// What the recorder must be told, from the issue's rules in the documented order.
fn expected(case: &Case) -> Decision {
    let vendor = vendor_name(case);
    let region = case.location_region.unwrap_or(case.org_region);
    let mut blocking: Vec<Reason> = Vec::new();
    if !case.service {
        blocking.push(Reason::ServiceOff);
    }
    if case.org_choice == ProviderChoice::None {
        blocking.push(Reason::OrganisationOff);
    }
    if vendor == "None" {
        blocking.push(Reason::LocationOff);
    }
    if !case.enabled {
        blocking.push(Reason::UserDisabled);
    }
    if case.licence == Licence::Other {
        blocking.push(Reason::NotLicensed);
    }
    if case.mode == Mode::Never {
        blocking.push(Reason::ModeNever);
    }
    if vendor != "None" {
        let provider = provider_named(vendor);
        if !served(vendor, &region_code(region)) {
            blocking.push(Reason::RegionNotServed { provider, region });
        }
        if !case.terms.contains(&provider) {
            blocking.push(Reason::TermsNotAccepted { provider });
        }
        if !case.accounts.contains(&provider) {
            blocking.push(Reason::NoProviderAccount { provider });
        }
    }
    if let Some(first) = blocking.first() {
        return Decision::DoNotRecord(first.clone());
    }
    let provider = provider_named(vendor);
    // (mode, from answer, user start/stop, pause/resume) as the brief describes each mode.
    let events = [
        (Mode::Always, true, false, false),
        (Mode::AlwaysWithPauseResume, true, false, true),
        (Mode::OnDemandWithUserInitiatedStart, false, true, true),
    ];
    let (_, from_answer, start_stop, pause) = events
        .into_iter()
        .find(|e| e.0 == case.mode)
        .expect("a recording mode");
    let knobs = case.knobs;
    let (plan, retention) = match (vendor, knobs.entitlement) {
        ("Dubber", DubberEntitlement::Go) => ("dubber-go", "30d"),
        ("Dubber", DubberEntitlement::Standard) => ("dubber-standard", "unlimited"),
        ("Dubber", DubberEntitlement::Ai) => ("dubber-ai", "unlimited"),
        ("Imagicle", _) => ("imagicle", "unlimited"),
        _ => ("callcabinet", "unlimited"),
    };
    Decision::Record(RecordingPolicy {
        org: OrgId::from("acme"),
        user: UserId::from("u1"),
        location: LocationId::from("paris"),
        mode: case.mode,
        record_from_answer: from_answer,
        user_start_stop: start_stop,
        pause_resume: pause,
        pause_resume_notification: (pause && knobs.notification_on).then_some(knobs.notification),
        reminder: knobs
            .reminder_on
            .then(|| ReminderInterval::new(knobs.reminder_seconds).unwrap()),
        announcement: Announcement {
            internal_calls: knobs.internal_calls,
            pstn_calls: knobs.pstn_calls,
        },
        record_voicemail: knobs.voicemail,
        provider,
        plan: plan.parse().unwrap(),
        retention: retention.parse().unwrap(),
        region,
        storage: if knobs.customer_storage && vendor != "Dubber" {
            Storage::CustomerOwned("s3://acme-recordings/calls".into())
        } else {
            Storage::Default
        },
        platform: PlatformInfo {
            service_provider: "acme".into(),
            external_group: "paris".into(),
            external_identifier: "u1".into(),
        },
        pci_dtmf: false,
    })
}

/// The documents for one case, built field by field (no operations: they refuse most of these
/// combinations, and the effective policy must be right for any stored state).
fn documents(case: &Case) -> (Organisation, Location, User) {
    let mut org = org("acme", case.org_region);
    org.service_enabled = case.service;
    org.provider = case.org_choice;
    let knobs = case.knobs;
    if knobs.customer_storage {
        org.customer_storage = Some(CustomerStorage::url_only("s3://acme-recordings/calls"));
    }
    for &provider in case.terms {
        org.terms.push(TermsAcceptance {
            provider,
            accepted_by: customer("alice"),
            accepted_at: at("2026-01-01T00:00:00Z"),
        });
    }
    for &provider in case.accounts {
        org.accounts.push(ProviderAccount {
            provider,
            external_id: format!("acme-at-{provider:?}"),
            created_by: customer("alice"),
            created_at: at("2026-01-01T00:00:00Z"),
            admins: vec![customer("alice")],
        });
    }
    let mut paris = location(&org, "paris");
    paris.provider = case.location_setting;
    paris.region = case.location_region;
    let mut user = user(&org, &paris, "u1");
    user.licence = case.licence;
    user.enabled = case.enabled;
    user.entitlement = knobs.entitlement;
    user.settings = RecordingSettings {
        mode: case.mode,
        record_voicemail: knobs.voicemail,
        announcement: Announcement {
            internal_calls: knobs.internal_calls,
            pstn_calls: knobs.pstn_calls,
        },
        notification: Notification {
            kind: knobs.notification,
            enabled: knobs.notification_on,
        },
        reminder: Reminder {
            enabled: knobs.reminder_on,
            interval: ReminderInterval::new(knobs.reminder_seconds).unwrap(),
        },
        ..RecordingSettings::default()
    };
    if case.enabled {
        user.platform = Some(PlatformInfo {
            service_provider: "acme".into(),
            external_group: "paris".into(),
            external_identifier: "u1".into(),
        });
    }
    (org, paris, user)
}

/// The outcome's name: `Record(Dubber)`, or the reason's variant.
fn outcome(decision: &Decision) -> String {
    match decision {
        Decision::Record(p) => format!("Record({:?})", p.provider),
        Decision::DoNotRecord(reason) => {
            let debug = format!("{reason:?}");
            debug
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_string()
        }
    }
}

#[test]
fn effective_policy_over_the_whole_hierarchy_matches_the_rules() {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut features = BTreeSet::new();
    let mut cases = 0;
    for service in [true, false] {
        for org_choice in ProviderChoice::ALL {
            for org_region in Region::ALL {
                for location_setting in LocationProvider::ALL {
                    for location_region in [None, Some(Region::Jp), Some(Region::Us)] {
                        for enabled in [true, false] {
                            for licence in [Licence::Basic, Licence::Other] {
                                for mode in Mode::ALL {
                                    for terms in PROVIDER_SETS {
                                        for accounts in PROVIDER_SETS {
                                            let case = Case {
                                                service,
                                                org_choice,
                                                org_region,
                                                location_setting,
                                                location_region,
                                                enabled,
                                                licence,
                                                mode,
                                                terms,
                                                accounts,
                                                knobs: Knobs::from_index(cases),
                                            };
                                            let (org, paris, user) = documents(&case);
                                            let got =
                                                effective_policy(&org, Some(&paris), Some(&user));
                                            assert_eq!(got, expected(&case), "{case:?}");
                                            *outcomes.entry(outcome(&got)).or_default() += 1;
                                            if let Decision::Record(p) = &got {
                                                features.extend([
                                                    format!("plan {}", p.plan),
                                                    format!("storage {:?}", p.storage),
                                                    format!(
                                                        "notification {:?}",
                                                        p.pause_resume_notification
                                                    ),
                                                    format!("reminder {}", p.reminder.is_some()),
                                                    format!("voicemail {}", p.record_voicemail),
                                                    format!(
                                                        "announcement {} {}",
                                                        p.announcement.internal_calls,
                                                        p.announcement.pstn_calls
                                                    ),
                                                ]);
                                            }
                                            cases += 1;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 4 * 7 * 5 * 3 * 2 * 2 * 4 * 5 * 5);
    // Every outcome is reached, so no rule of the expectation is vacuous.
    let names: Vec<&str> = outcomes.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "LocationOff",
            "ModeNever",
            "NoProviderAccount",
            "NotLicensed",
            "OrganisationOff",
            "Record(CallCabinet)",
            "Record(Dubber)",
            "Record(Imagicle)",
            "RegionNotServed",
            "ServiceOff",
            "TermsNotAccepted",
            "UserDisabled",
        ]
    );
    // Every plan, storage, notification and reminder outcome is reached too.
    let features: Vec<&str> = features.iter().map(String::as_str).collect();
    assert_eq!(
        features,
        [
            "announcement false false",
            "announcement false true",
            "announcement true false",
            "announcement true true",
            "notification None",
            "notification Some(Beep)",
            "notification Some(PlayAnnouncement)",
            "plan callcabinet",
            "plan dubber-ai",
            "plan dubber-go",
            "plan dubber-standard",
            "plan imagicle",
            "reminder false",
            "reminder true",
            "storage CustomerOwned(\"s3://acme-recordings/calls\")",
            "storage Default",
            "voicemail false",
            "voicemail true",
        ]
    );
    // The partner's switch decides half of the cases alone; the organisation's None a quarter
    // of the rest.
    assert_eq!(outcomes["ServiceOff"], cases / 2);
    assert_eq!(outcomes["OrganisationOff"], cases / 8);
}

#[test]
fn effective_policy_without_a_known_user_or_location_does_not_record() {
    let acme = accepted(org("acme", Region::Eu), &[Provider::Dubber]);
    let paris = location(&acme, "paris");
    let mut u1 = user(&acme, &paris, "u1");
    u1.enabled = true;
    u1.settings.mode = Mode::Always;
    let dnr = Decision::DoNotRecord;
    assert_eq!(
        effective_policy(&acme, Some(&paris), None),
        dnr(Reason::UnknownUser)
    );
    let globex = org("globex", Region::Eu);
    let stranger = user(&globex, &location(&globex, "paris"), "u1");
    assert_eq!(
        effective_policy(&acme, Some(&paris), Some(&stranger)),
        dnr(Reason::UnknownUser)
    );
    assert_eq!(
        effective_policy(&acme, None, Some(&u1)),
        dnr(Reason::UnknownLocation)
    );
    let lyon = location(&acme, "lyon");
    assert_eq!(
        effective_policy(&acme, Some(&lyon), Some(&u1)),
        dnr(Reason::UnknownLocation)
    );
    let foreign = location(&globex, "paris");
    assert_eq!(
        effective_policy(&acme, Some(&foreign), Some(&u1)),
        dnr(Reason::UnknownLocation)
    );
    // Enabled, Always, terms accepted, account present, but never provisioned.
    let mut with_account = acme.clone();
    with_account.accounts.push(ProviderAccount {
        provider: Provider::Dubber,
        external_id: "acme".into(),
        created_by: customer("alice"),
        created_at: at("2026-01-01T00:00:00Z"),
        admins: vec![],
    });
    assert_eq!(
        effective_policy(&with_account, Some(&paris), Some(&u1)),
        dnr(Reason::NotProvisioned)
    );
    // An organisation that is off never looks at the user at all.
    let mut off = acme.clone();
    off.provider = ProviderChoice::None;
    assert_eq!(
        effective_policy(&off, None, None),
        dnr(Reason::OrganisationOff)
    );
    assert_eq!(
        Reason::OrganisationOff.to_string(),
        "the organisation's vendor is None"
    );
    assert_eq!(
        Reason::RegionNotServed {
            provider: Provider::CallCabinet,
            region: Region::Uk
        }
        .to_string(),
        "CallCabinet does not serve region UK"
    );
}

// ---------------------------------------------------------------------------------------------
// Organisation: vendor selection, service switch, customer storage.

#[test]
fn a_new_organisation_uses_dubber_with_the_service_on() {
    let acme = org("acme", Region::Us);
    assert_eq!(acme.provider, ProviderChoice::Dubber);
    assert!(acme.service_enabled);
    assert!(acme.terms.is_empty() && acme.accounts.is_empty());
    assert_eq!(acme.customer_storage, None);
}

#[test]
fn selecting_a_vendor_needs_its_region_and_its_terms() {
    let acme = org("acme", Region::Jp);
    let err = acme
        .select_provider(&[], ProviderChoice::Imagicle, false)
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::RegionNotServed {
            provider: Provider::Imagicle,
            region: Region::Jp
        }
    );
    assert_eq!(
        err.to_string(),
        "vendor Imagicle does not serve region JP (serves US, EU, EUN)"
    );
    let err = acme
        .select_provider(&[], ProviderChoice::CallCabinet, false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vendor CallCabinet does not serve region JP (serves US)"
    );

    let acme = org("acme", Region::Eu);
    let err = acme
        .select_provider(&[], ProviderChoice::Imagicle, false)
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::TermsNotAccepted {
            provider: Provider::Imagicle,
        }
    );
    assert_eq!(
        err.to_string(),
        "terms of service for Imagicle not accepted: a customer or partner administrator must \
         accept them first"
    );
    let acme = accepted(acme, &[Provider::Imagicle]);
    let change = acme
        .select_provider(&[], ProviderChoice::Imagicle, false)
        .unwrap();
    assert_eq!(org_of(&change).provider, ProviderChoice::Imagicle);
    assert_eq!(
        (change.location, change.user, change.migration),
        (None, None, None)
    );
    // Choosing what is already chosen changes nothing.
    let imagicle = org_of(
        &acme
            .select_provider(&[], ProviderChoice::Imagicle, false)
            .unwrap(),
    );
    let again = imagicle.select_provider(&[], ProviderChoice::Imagicle, false);
    assert!(again.unwrap().is_empty());
}

#[test]
fn selecting_a_vendor_checks_the_regions_of_locations_that_follow_the_organisation() {
    let acme = accepted(org("acme", Region::Us), &[Provider::CallCabinet]);
    let mut london = location(&acme, "london");
    london.region = Some(Region::Uk);
    let err = acme
        .select_provider(
            std::slice::from_ref(&london),
            ProviderChoice::CallCabinet,
            false,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vendor CallCabinet does not serve region UK of location london (serves US)"
    );
    // A location with its own vendor, or another organisation's location, does not follow.
    london.provider = LocationProvider::Dubber;
    let mut elsewhere = location(&org("globex", Region::Uk), "tokyo");
    elsewhere.region = Some(Region::Jp);
    let change = acme
        .select_provider(&[london, elsewhere], ProviderChoice::CallCabinet, false)
        .unwrap();
    assert_eq!(org_of(&change).provider, ProviderChoice::CallCabinet);
}

#[test]
fn turning_recording_off_needs_the_confirmation_that_it_removes_it_for_everyone() {
    let acme = org("acme", Region::Au);
    let err = acme
        .select_provider(&[], ProviderChoice::None, false)
        .unwrap_err();
    assert_eq!(err, PolicyError::ConfirmationRequired);
    assert_eq!(
        err.to_string(),
        "vendor None turns call recording off and removes the feature for all users of the \
         organisation: confirm to proceed"
    );
    let off = org_of(
        &acme
            .select_provider(&[], ProviderChoice::None, true)
            .unwrap(),
    );
    assert_eq!(off.provider, ProviderChoice::None);
    // Off already: nothing to confirm, nothing changes.
    let again = off.select_provider(&[], ProviderChoice::None, false);
    assert!(again.unwrap().is_empty());
    // Back to Dubber: Dubber serves every region, its terms are needed.
    let err = off
        .select_provider(&[], ProviderChoice::Dubber, false)
        .unwrap_err();
    assert!(matches!(
        err,
        PolicyError::TermsNotAccepted {
            provider: Provider::Dubber,
            ..
        }
    ));
}

#[test]
fn only_a_partner_turns_the_service_on_or_off() {
    let acme = org("acme", Region::Us);
    let err = acme.set_service(false, &customer("alice")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "only a partner administrator can turn the call recording service on or off"
    );
    let off = org_of(&acme.set_service(false, &partner("pat")).unwrap());
    assert!(!off.service_enabled);
    assert!(acme.set_service(true, &partner("pat")).unwrap().is_empty());
}

#[test]
fn customer_storage_must_be_a_bucket_url() {
    let acme = org("acme", Region::Us);
    for good in [
        "s3://acme/recordings",
        "gs://acme",
        "az://container/prefix/deeper",
    ] {
        let change = acme.set_customer_storage(Some(url(good))).unwrap();
        let stored = org_of(&change).customer_storage;
        assert_eq!(stored.as_ref().and_then(|s| s.own_url()), Some(good));
    }
    let refused = [
        "file:///var/recordings",
        "memory://x",
        "/var/recordings",
        "s3://",
        "s3:///prefix",
        "s3://key:secret@bucket/x",
        "ftp://host/x",
    ];
    for bad in refused {
        let err = acme.set_customer_storage(Some(url(bad))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("customerStorage: '{bad}' is not an s3://, gs:// or az:// URL naming a bucket")
        );
    }
    let err = acme.set_customer_storage(Some(url(""))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "customerStorage: must be 1-1024 characters, not 0"
    );
    let long = format!("s3://b/{}", "k".repeat(1020));
    assert!(matches!(
        acme.set_customer_storage(Some(url(&long))),
        Err(PolicyError::Length { len: 1027, .. })
    ));
    let with = org_of(&acme.set_customer_storage(Some(url("gs://acme"))).unwrap());
    let cleared = org_of(&with.set_customer_storage(None).unwrap());
    assert_eq!(cleared, acme);
    let registered = CustomerStorage::Registered {
        destination: "shared-eu".into(),
    };
    let with = org_of(&acme.set_customer_storage(Some(registered.clone())).unwrap());
    assert_eq!(with.customer_storage, Some(registered));
    let nameless = CustomerStorage::Registered {
        destination: String::new(),
    };
    assert!(matches!(
        acme.set_customer_storage(Some(nameless)),
        Err(PolicyError::Length { len: 0, .. })
    ));
}

fn url(url: &str) -> CustomerStorage {
    CustomerStorage::url_only(url)
}

#[test]
fn customer_storage_documents_read_every_shape_they_had() {
    let read = |json: &str| serde_json::from_str::<CustomerStorage>(json).unwrap();
    // Before credentials: a bare URL, read as a URL without credentials (never opened).
    assert_eq!(read(r#""s3://acme/rec""#), url("s3://acme/rec"));
    let registered = read(r#"{"destination":"shared-eu"}"#);
    assert_eq!(
        registered,
        CustomerStorage::Registered {
            destination: "shared-eu".into()
        }
    );
    let own = read(
        r#"{"url":"s3://acme/rec","sealedCredentials":"v1:xyz","options":{"aws_region":"eu-west-1"}}"#,
    );
    assert_eq!(
        serde_json::to_string(&own).unwrap(),
        r#"{"url":"s3://acme/rec","sealedCredentials":"v1:xyz","options":{"aws_region":"eu-west-1"}}"#
    );
    assert_eq!(
        serde_json::to_string(&registered).unwrap(),
        r#"{"destination":"shared-eu"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Locations.

/// The location a change carries, checking that nothing else changed.
fn location_of(change: Change) -> Location {
    assert_eq!((&change.organisation, &change.user), (&None, &None));
    change.location.expect("the location changed")
}

#[test]
fn a_location_follows_the_organisation_unless_it_chooses() {
    let acme = accepted(org("acme", Region::Us), &[Provider::Imagicle]);
    let new = |provider| {
        acme.create_location(LocationId::from("nyc"), "New York", None, provider)
            .map(location_of)
    };
    let nyc = new(LocationProvider::OrganisationDefault).unwrap();
    assert_eq!(
        nyc,
        Location {
            id: LocationId::from("nyc"),
            org: acme.id.clone(),
            name: "New York".into(),
            region: None,
            provider: LocationProvider::OrganisationDefault,
        }
    );
    assert_eq!(nyc.region_in(&acme), Region::Us);
    assert_eq!(nyc.choice_in(&acme), ProviderChoice::Dubber);
    let own = new(LocationProvider::Imagicle).unwrap();
    assert_eq!(own.choice_in(&acme), ProviderChoice::Imagicle);

    let imagicle = location_of(nyc.set_provider(&acme, LocationProvider::Imagicle).unwrap());
    assert_eq!(imagicle, own);
    let none = location_of(nyc.set_provider(&acme, LocationProvider::None).unwrap());
    assert_eq!(none.choice_in(&acme), ProviderChoice::None);
    let back = none.set_provider(&acme, LocationProvider::OrganisationDefault);
    assert_eq!(location_of(back.unwrap()), nyc);
    let same = nyc.set_provider(&acme, LocationProvider::OrganisationDefault);
    assert!(same.unwrap().is_empty());
    // The organisation's None wins over the location's own vendor.
    let mut off = acme.clone();
    off.provider = ProviderChoice::None;
    assert_eq!(imagicle.choice_in(&off), ProviderChoice::None);
}

#[test]
fn a_location_vendor_must_serve_its_region_and_have_its_terms_accepted() {
    let acme = org("acme", Region::Eu);
    let mut tokyo = location(&acme, "tokyo");
    tokyo.region = Some(Region::Jp);
    let err = tokyo
        .set_provider(&acme, LocationProvider::Imagicle)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vendor Imagicle does not serve region JP of location tokyo (serves US, EU, EUN)"
    );
    // Its own vendor needs its terms; following the organisation does not (a new
    // organisation has Dubber before anyone accepted Dubber's terms).
    let err = tokyo
        .set_provider(&acme, LocationProvider::Dubber)
        .unwrap_err();
    assert!(matches!(
        err,
        PolicyError::TermsNotAccepted {
            provider: Provider::Dubber,
            ..
        }
    ));
    let none = location_of(tokyo.set_provider(&acme, LocationProvider::None).unwrap());
    assert!(none
        .set_provider(&acme, LocationProvider::OrganisationDefault)
        .is_ok());
    // Following an Imagicle organisation from Japan is refused, creating such a location too.
    let mut imagicle = accepted(acme.clone(), &[Provider::Imagicle]);
    imagicle.provider = ProviderChoice::Imagicle;
    let err = none
        .set_provider(&imagicle, LocationProvider::OrganisationDefault)
        .unwrap_err();
    assert!(matches!(
        err,
        PolicyError::LocationRegionNotServed {
            region: Region::Jp,
            ..
        }
    ));
    let create = |provider| {
        imagicle.create_location(
            LocationId::from("osaka"),
            "Osaka",
            Some(Region::Jp),
            provider,
        )
    };
    assert!(matches!(
        create(LocationProvider::OrganisationDefault),
        Err(PolicyError::LocationRegionNotServed {
            provider: Provider::Imagicle,
            ..
        })
    ));
    assert!(matches!(
        create(LocationProvider::Dubber),
        Err(PolicyError::TermsNotAccepted {
            provider: Provider::Dubber,
            ..
        })
    ));
    let osaka = location_of(create(LocationProvider::None).unwrap());
    assert_eq!(osaka.region, Some(Region::Jp));
    // In the organisation's own region the error does not name a location.
    let mut paris = location(&imagicle, "paris");
    paris.provider = LocationProvider::None;
    let err = paris
        .set_provider(&imagicle, LocationProvider::CallCabinet)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vendor CallCabinet does not serve region EU (serves US)"
    );
    // Another organisation's location is refused by name.
    let globex = org("globex", Region::Eu);
    let err = paris
        .set_provider(&globex, LocationProvider::None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "location paris does not belong to organisation globex"
    );
}

// ---------------------------------------------------------------------------------------------
// Terms of service.

#[test]
fn terms_are_accepted_once_recording_who_and_when() {
    let acme = org("acme", Region::Us);
    let first = org_of(&acme.accept_terms(Provider::Dubber, &partner("pat"), at(NOW)));
    assert_eq!(
        first.terms,
        [TermsAcceptance {
            provider: Provider::Dubber,
            accepted_by: partner("pat"),
            accepted_at: at(NOW),
        }]
    );
    let later = at("2027-01-01T00:00:00Z");
    assert!(first
        .accept_terms(Provider::Dubber, &customer("alice"), later)
        .is_empty());
    assert_eq!(first.terms_for(Provider::Imagicle), None);
}

#[test]
fn the_disclosure_lists_exactly_what_the_provider_receives() {
    let acme = org("acme", Region::Us);
    let paris = location(&acme, "paris");
    let mut boston = location(&acme, "boston");
    boston.provider = LocationProvider::CallCabinet;
    let globex = org("globex", Region::Us);
    let users = [
        user(&acme, &paris, "Ann"),
        user(&acme, &boston, "Bob"),
        user(&globex, &location(&globex, "paris"), "Eve"),
        user(&acme, &location(&acme, "nowhere"), "Zed"),
    ];
    let locations = [paris, boston];
    let dubber = disclosure(&acme, Provider::Dubber, &locations, &users);
    assert_eq!(
        serde_json::to_string_pretty(&dubber).unwrap(),
        r#"{
  "provider": "dubber",
  "customerName": "acme Ltd",
  "users": [
    {
      "firstName": "Ann",
      "lastName": "Martin",
      "email": "ann@example.com",
      "timeZone": "Europe/Paris"
    }
  ]
}"#
    );
    let callcabinet = disclosure(&acme, Provider::CallCabinet, &locations, &users);
    assert_eq!(callcabinet.users, [person("Bob")]);
    let imagicle = disclosure(&acme, Provider::Imagicle, &locations, &users);
    assert!(imagicle.users.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Enabling users: provisioning and accounts.

/// An EU organisation with Dubber's terms accepted, its Paris location and user `u1`.
fn dubber_org() -> (Organisation, Location, User) {
    let acme = accepted(org("acme", Region::Eu), &[Provider::Dubber]);
    let paris = location(&acme, "paris");
    let u1 = user(&acme, &paris, "u1");
    (acme, paris, u1)
}

#[test]
fn enabling_the_first_dubber_user_creates_the_account_with_the_admin_as_its_admin() {
    let (acme, paris, u1) = dubber_org();
    let change = u1
        .enable(&acme, &paris, &customer("alice"), &[], at(NOW))
        .unwrap();
    let acme2 = org_of(&change);
    assert_eq!(
        acme2.accounts,
        [ProviderAccount {
            provider: Provider::Dubber,
            external_id: "acme".into(),
            created_by: customer("alice"),
            created_at: at(NOW),
            admins: vec![customer("alice")],
        }]
    );
    let enabled = user_of(&change);
    assert_eq!(
        enabled,
        User {
            enabled: true,
            platform: Some(PlatformInfo {
                service_provider: "acme".into(),
                external_group: "paris".into(),
                external_identifier: "u1".into(),
            }),
            ..u1.clone()
        }
    );
    assert_eq!(enabled.entitlement, DubberEntitlement::Go);
    assert_eq!((change.location, change.migration), (None, None));

    // The next enabling administrator joins the account; the same one changes nothing.
    let u2 = user(&acme2, &paris, "u2");
    let by_bob = u2
        .enable(&acme2, &paris, &customer("bob"), &[], at(NOW))
        .unwrap();
    let admins = &org_of(&by_bob).accounts[0].admins;
    assert_eq!(admins, &[customer("alice"), customer("bob")]);
    let by_alice = u2
        .enable(&acme2, &paris, &customer("alice"), &[], at(NOW))
        .unwrap();
    assert_eq!(by_alice.organisation, None);
    assert!(user_of(&by_alice).enabled);
    // Enabling an enabled user again changes nothing.
    let again = enabled
        .enable(&acme2, &paris, &customer("alice"), &[], at(NOW))
        .unwrap();
    assert!(again.is_empty());
}

#[test]
fn a_partner_admin_administers_accounts_of_one_customer_at_most() {
    let (acme, paris, u1) = dubber_org();
    let pat = partner("pat");
    let elsewhere = [OrgId::from("globex")];
    let err = u1
        .enable(&acme, &paris, &pat, &elsewhere, at(NOW))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "partner administrator pat already administers a provider account of organisation \
         globex: a partner administrator may administer accounts of at most one customer"
    );
    // Listed only here, or nowhere yet: allowed.
    let change = u1
        .enable(&acme, &paris, &pat, std::slice::from_ref(&acme.id), at(NOW))
        .unwrap();
    let acme2 = org_of(&change);
    assert_eq!(acme2.accounts[0].admins, std::slice::from_ref(&pat));
    // Already this account's administrator: nothing to add, so nothing to refuse.
    let u2 = user(&acme2, &paris, "u2");
    let both = [acme.id.clone(), OrgId::from("globex")];
    assert!(u2.enable(&acme2, &paris, &pat, &both, at(NOW)).is_ok());
    // Customer administrators are bound to their organisation by the API, not by this rule.
    let carol = customer("carol");
    assert!(u1
        .enable(&acme, &paris, &carol, &elsewhere, at(NOW))
        .is_ok());
}

#[test]
fn imagicle_and_callcabinet_accounts_are_registered_never_created() {
    let mut acme = accepted(org("acme", Region::Us), &[Provider::Dubber]);
    acme.provider = ProviderChoice::CallCabinet;
    let boston = location(&acme, "boston");
    let u1 = user(&acme, &boston, "u1");
    let alice = customer("alice");
    let err = u1.enable(&acme, &boston, &alice, &[], at(NOW)).unwrap_err();
    assert!(matches!(
        err,
        PolicyError::TermsNotAccepted {
            provider: Provider::CallCabinet,
            ..
        }
    ));
    let register = |o: &Organisation, p, id: &str| o.register_account(p, id, &alice, at(NOW));
    let err = register(&acme, Provider::CallCabinet, "cc-991").unwrap_err();
    assert!(matches!(err, PolicyError::TermsNotAccepted { .. }));

    let acme = accepted(acme, &[Provider::CallCabinet]);
    let err = u1.enable(&acme, &boston, &alice, &[], at(NOW)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "organisation has no CallCabinet account: register the account the customer holds \
         with CallCabinet first"
    );
    let err = register(&acme, Provider::Dubber, "d-1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dubber accounts are created automatically when the first user is enabled"
    );
    let err = register(&acme, Provider::CallCabinet, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "accountId: must be 1-128 characters, not 0"
    );
    let err = register(&acme, Provider::CallCabinet, &"x".repeat(129));
    assert!(matches!(
        err,
        Err(PolicyError::Length {
            len: 129,
            max: 128,
            ..
        })
    ));

    let acme = org_of(&register(&acme, Provider::CallCabinet, "cc-991").unwrap());
    assert_eq!(
        acme.account(Provider::CallCabinet),
        Some(&ProviderAccount {
            provider: Provider::CallCabinet,
            external_id: "cc-991".into(),
            created_by: alice.clone(),
            created_at: at(NOW),
            admins: vec![],
        })
    );
    let err = register(&acme, Provider::CallCabinet, "cc-2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "organisation already has a CallCabinet account ('cc-991')"
    );
    // Enabling now provisions the user and touches no account.
    let change = u1.enable(&acme, &boston, &alice, &[], at(NOW)).unwrap();
    assert_eq!(change.organisation, None);
    assert!(user_of(&change).enabled);
}

#[test]
fn enabling_is_refused_with_the_reason() {
    let (acme, paris, u1) = dubber_org();
    let alice = customer("alice");
    let enable = |o: &Organisation, l: &Location, u: &User| {
        u.enable(o, l, &alice, &[], at(NOW))
            .unwrap_err()
            .to_string()
    };
    let mut off = acme.clone();
    off.service_enabled = false;
    assert_eq!(
        enable(&off, &paris, &u1),
        "the call recording service is turned off for organisation acme; only its partner can \
         turn it on"
    );
    let mut other_licence = u1.clone();
    other_licence.licence = Licence::Other;
    assert_eq!(
        enable(&acme, &paris, &other_licence),
        "the licence of user u1 (Other) does not include call recording: Professional or Basic \
         does"
    );
    let mut none = acme.clone();
    none.provider = ProviderChoice::None;
    assert_eq!(
        enable(&none, &paris, &u1),
        "call recording is off for organisation acme (vendor None): choose a vendor before \
         enabling users"
    );
    let mut paris_off = paris.clone();
    paris_off.provider = LocationProvider::None;
    assert_eq!(
        enable(&acme, &paris_off, &u1),
        "call recording is off for location paris (vendor None): choose a vendor before \
         enabling its users"
    );
    let mut tokyo = paris.clone();
    tokyo.region = Some(Region::Jp);
    tokyo.provider = LocationProvider::Imagicle;
    assert_eq!(
        enable(&acme, &tokyo, &u1),
        "vendor Imagicle does not serve region JP of location paris (serves US, EU, EUN)"
    );
    let globex = org("globex", Region::Eu);
    assert_eq!(
        enable(&globex, &paris, &u1),
        "user u1 does not belong to organisation globex"
    );
    let mut stray = u1.clone();
    stray.org = globex.id.clone();
    assert_eq!(
        enable(&globex, &paris, &stray),
        "location paris does not belong to organisation globex"
    );
    assert_eq!(
        enable(&acme, &location(&acme, "lyon"), &u1),
        "user u1 is not at location lyon"
    );
    let fresh = org("acme", Region::Eu);
    assert!(enable(&fresh, &paris, &u1).starts_with("terms of service for Dubber not accepted"));
}

// ---------------------------------------------------------------------------------------------
// Settings, disabling, entitlement.

fn enabled_user() -> (Organisation, Location, User) {
    let (acme, paris, u1) = dubber_org();
    let change = u1
        .enable(&acme, &paris, &customer("alice"), &[], at(NOW))
        .unwrap();
    (org_of(&change), paris, user_of(&change))
}

fn custom_settings() -> RecordingSettings {
    RecordingSettings {
        mode: Mode::AlwaysWithPauseResume,
        record_voicemail: true,
        announcement: Announcement {
            internal_calls: false,
            pstn_calls: true,
        },
        notification: Notification {
            kind: NotificationType::PlayAnnouncement,
            enabled: true,
        },
        reminder: Reminder {
            enabled: true,
            interval: ReminderInterval::new(30).unwrap(),
        },
        post_call: PostCall::default(),
    }
}

#[test]
fn disabling_a_user_puts_settings_back_to_defaults_and_keeps_the_rest() {
    let (acme, paris, u1) = enabled_user();
    let u1 = user_of(&u1.update_settings(custom_settings()).unwrap());
    let u1 = user_of(
        &u1.set_entitlement(&acme, &paris, DubberEntitlement::Ai)
            .unwrap(),
    );
    let disabled = user_of(&u1.disable());
    assert_eq!(
        disabled,
        User {
            enabled: false,
            settings: RecordingSettings::default(),
            ..u1.clone()
        }
    );
    assert_eq!(disabled.entitlement, DubberEntitlement::Ai);
    assert!(disabled.platform.is_some());
    assert!(disabled.disable().is_empty());
    let err = disabled.update_settings(custom_settings()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "call recording is disabled for user u1: enable it before changing its settings"
    );
}

#[test]
fn the_defaults_are_never_voicemail_off_beep_off_and_a_20_second_reminder_off() {
    assert_eq!(
        RecordingSettings::default(),
        RecordingSettings {
            mode: Mode::Never,
            record_voicemail: false,
            announcement: Announcement {
                internal_calls: false,
                pstn_calls: false
            },
            notification: Notification {
                kind: NotificationType::Beep,
                enabled: false
            },
            reminder: Reminder {
                enabled: false,
                interval: ReminderInterval::new(20).unwrap()
            },
            post_call: PostCall {
                summary_and_action_items: false,
                transcript: false
            },
        }
    );
}

#[test]
fn an_entitlement_change_returns_the_migration_of_the_users_recordings() {
    use RetentionClass::{Days, Unlimited};
    let (acme, paris, u1) = enabled_user();
    let set = |user: &User, to| user.set_entitlement(&acme, &paris, to).unwrap();
    let migration = |from: &User, to| set(from, to).migration;
    let expect = |plan: Plan, from, to| {
        Some(RetentionMigration {
            org: OrgId::from("acme"),
            user: UserId::from("u1"),
            plan,
            from,
            to,
        })
    };
    assert_eq!(
        migration(&u1, DubberEntitlement::Standard),
        expect(Plan::DubberStandard, Days(30), Unlimited)
    );
    let paid = user_of(&set(&u1, DubberEntitlement::Standard));
    assert_eq!(paid.entitlement, DubberEntitlement::Standard);
    assert_eq!(
        migration(&paid, DubberEntitlement::Ai),
        expect(Plan::DubberAi, Unlimited, Unlimited)
    );
    assert_eq!(
        migration(&paid, DubberEntitlement::Go),
        expect(Plan::DubberGo, Unlimited, Days(30))
    );
    assert!(set(&paid, DubberEntitlement::Standard).is_empty());
}

#[test]
fn an_entitlement_change_moves_no_recordings_unless_the_user_records_with_dubber() {
    let (acme, paris, u1) = enabled_user();
    let standard = DubberEntitlement::Standard;
    // A location of its own with Imagicle, or none; the organisation off; all keep the
    // entitlement for later and move nothing.
    let mut imagicle = paris.clone();
    imagicle.provider = LocationProvider::Imagicle;
    let mut off_here = paris.clone();
    off_here.provider = LocationProvider::None;
    let mut off = acme.clone();
    off.provider = ProviderChoice::None;
    for (org, location) in [(&acme, &imagicle), (&acme, &off_here), (&off, &paris)] {
        let change = u1.set_entitlement(org, location, standard).unwrap();
        assert_eq!(change.migration, None, "{location:?} in {:?}", org.provider);
        assert_eq!(user_of(&change).entitlement, standard);
    }
    // An Imagicle organisation whose location chose Dubber moves them.
    let mut dubber_here = paris.clone();
    dubber_here.provider = LocationProvider::Dubber;
    let mut imagicle_org = acme.clone();
    imagicle_org.provider = ProviderChoice::Imagicle;
    let change = u1.set_entitlement(&imagicle_org, &dubber_here, standard);
    assert!(change.unwrap().migration.is_some());
    // A location that is not the user's is refused, as for enabling.
    let err = u1
        .set_entitlement(&acme, &location(&acme, "lyon"), standard)
        .unwrap_err();
    assert_eq!(err.to_string(), "user u1 is not at location lyon");
}

#[test]
fn the_sync_listing_shows_enabled_provisioned_users_of_the_provider() {
    let admin = customer("a");
    let acme = accepted(org("acme", Region::Us), &[Provider::Imagicle]);
    let acme = org_of(
        &acme
            .register_account(Provider::Imagicle, "im-1", &admin, at(NOW))
            .unwrap(),
    );
    let mut nyc = location(&acme, "nyc");
    nyc.provider = LocationProvider::Imagicle;
    let paris = location(&acme, "paris");
    let ann = user(&acme, &nyc, "Ann").enable(&acme, &nyc, &admin, &[], at(NOW));
    let ann = user_of(&ann.unwrap());
    let bob = user(&acme, &nyc, "Bob");
    let mut cid = user(&acme, &paris, "Cid");
    cid.enabled = true;
    let listing = sync_listing(&acme, Provider::Imagicle, &[nyc, paris], &[ann, bob, cid]);
    assert_eq!(
        serde_json::to_string(&listing).unwrap(),
        r#"[{"id":"Ann","firstName":"Ann","lastName":"Martin","email":"ann@example.com","timeZone":"Europe/Paris","serviceProvider":"acme","externalGroup":"nyc","externalIdentifier":"Ann"}]"#
    );
}

// ---------------------------------------------------------------------------------------------
// The platform's JSON for a user's settings.

const PROVISIONED_JSON: &str = r#"{
  "enabled": true,
  "record": "Always with Pause/Resume",
  "recordVoicemailEnabled": true,
  "startStopAnnouncementEnabled": true,
  "startStopAnnouncement": {
    "internalCallsEnabled": false,
    "pstnCallsEnabled": true
  },
  "notification": {
    "type": "Play Announcement",
    "enabled": true
  },
  "repeat": {
    "interval": 30,
    "enabled": true
  },
  "callRecordingAccessSettings": {
    "viewAndPlayRecordingsEnabled": true,
    "downloadRecordingsEnabled": true,
    "deleteRecordingsEnabled": true,
    "shareRecordingsEnabled": true
  },
  "postCallRecordingSettings": {
    "summaryAndActionItemsEnabled": false,
    "transcriptEnabled": false
  },
  "serviceProvider": "acme",
  "externalGroup": "paris",
  "externalIdentifier": "u1"
}"#;

/// The provisioned body without its read-only fields.
fn settable_body() -> serde_json::Value {
    let mut body: serde_json::Value = serde_json::from_str(PROVISIONED_JSON).unwrap();
    for field in ["serviceProvider", "externalGroup", "externalIdentifier"] {
        body.as_object_mut().unwrap().remove(field);
    }
    body
}

#[test]
fn user_settings_are_written_in_the_platforms_json() {
    let (_, _, u1) = enabled_user();
    let u1 = user_of(&u1.update_settings(custom_settings()).unwrap());
    let json = serde_json::to_string_pretty(&UserRecordingSettings::from(&u1)).unwrap();
    assert_eq!(json, PROVISIONED_JSON);

    let (acme, paris, _) = dubber_org();
    let never = UserRecordingSettings::from(&user(&acme, &paris, "u9"));
    assert_eq!(
        serde_json::to_string(&never).unwrap(),
        r#"{"enabled":false,"record":"Never","recordVoicemailEnabled":false,"startStopAnnouncementEnabled":false,"startStopAnnouncement":{"internalCallsEnabled":false,"pstnCallsEnabled":false},"notification":{"type":"Beep","enabled":false},"repeat":{"interval":20,"enabled":false},"callRecordingAccessSettings":{"viewAndPlayRecordingsEnabled":true,"downloadRecordingsEnabled":true,"deleteRecordingsEnabled":true,"shareRecordingsEnabled":true},"postCallRecordingSettings":{"summaryAndActionItemsEnabled":false,"transcriptEnabled":false}}"#
    );
    let modes: Vec<String> = Mode::ALL
        .iter()
        .map(|&mode| {
            let mut u = u1.clone();
            u.settings.mode = mode;
            UserRecordingSettings::from(&u).record
        })
        .collect();
    assert_eq!(
        modes,
        [
            "Never",
            "Always",
            "Always with Pause/Resume",
            "On Demand with User Initiated Start"
        ]
    );
}

#[test]
fn a_get_body_put_back_changes_nothing_and_every_field_reaches_the_model() {
    let (acme, paris, u1) = enabled_user();
    let u1 = user_of(&u1.update_settings(custom_settings()).unwrap());
    let body: UserRecordingSettings = serde_json::from_str(PROVISIONED_JSON).unwrap();
    assert_eq!(body.to_settings(&u1).unwrap(), custom_settings());
    let alice = customer("alice");
    let put = put_user_settings(&acme, &paris, &u1, &body, &alice, &[], at(NOW));
    assert!(put.unwrap().is_empty());
    let body: UserRecordingSettings = serde_json::from_value(settable_body()).unwrap();
    assert_eq!(body.to_settings(&u1).unwrap(), custom_settings());
    // Each mode and notification name reaches its variant.
    for mode in Mode::ALL {
        let mut body = body.clone();
        body.record = mode.name().to_string();
        assert_eq!(body.to_settings(&u1).unwrap().mode, mode);
    }
    let mut beep = body.clone();
    beep.notification.kind = "Beep".into();
    let kind = beep.to_settings(&u1).unwrap().notification.kind;
    assert_eq!(kind, NotificationType::Beep);
}

/// The provisioned body with the field at `pointer` replaced.
fn body_with(pointer: &str, value: serde_json::Value) -> serde_json::Value {
    let mut body: serde_json::Value = serde_json::from_str(PROVISIONED_JSON).unwrap();
    *body.pointer_mut(pointer).expect("a field of the body") = value;
    body
}

#[test]
fn bad_values_are_refused_naming_the_field_and_the_allowed_values() {
    use serde_json::json;
    let (_, _, u1) = enabled_user();
    let refused = |pointer: &str, value: serde_json::Value| {
        let body: UserRecordingSettings =
            serde_json::from_value(body_with(pointer, value)).unwrap();
        body.to_settings(&u1).unwrap_err().to_string()
    };
    assert_eq!(
        refused("/record", json!("Sometimes")),
        "record: 'Sometimes' is not one of Never, Always, Always with Pause/Resume, On Demand \
         with User Initiated Start"
    );
    assert_eq!(
        refused("/notification/type", json!("Chime")),
        "notification.type: 'Chime' is not one of Beep, Play Announcement, None"
    );
    assert_eq!(
        refused("/repeat/interval", json!(5)),
        "repeat.interval: 5 is outside 10-90"
    );
    assert_eq!(
        refused("/repeat/interval", json!(91)),
        "repeat.interval: 91 is outside 10-90"
    );
    assert_eq!(
        refused("/repeat/interval", json!(4_294_967_306u64)),
        "repeat.interval: 4294967306 is outside 10-90"
    );
    assert_eq!(
        refused("/externalIdentifier", json!("someone-else")),
        "externalIdentifier is read-only (generated when the user is provisioned): it is 'u1', \
         not 'someone-else'"
    );
    // Before provisioning there is nothing to send back.
    let (acme, paris, _) = dubber_org();
    let fresh = user(&acme, &paris, "u1");
    let body: UserRecordingSettings = serde_json::from_str(PROVISIONED_JSON).unwrap();
    assert_eq!(
        body.to_settings(&fresh).unwrap_err().to_string(),
        "serviceProvider is read-only (generated when the user is provisioned): it is unset, \
         not 'acme'"
    );
}

#[test]
fn a_body_missing_a_field_or_carrying_an_unknown_one_does_not_parse() {
    let mut missing = settable_body();
    missing.as_object_mut().unwrap().remove("repeat");
    let err = serde_json::from_value::<UserRecordingSettings>(missing).unwrap_err();
    assert_eq!(err.to_string(), "missing field `repeat`");
    let typo = body_with(
        "/notification",
        serde_json::json!({"type": "Beep", "enable": true}),
    );
    let err = serde_json::from_value::<UserRecordingSettings>(typo).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown field `enable`, expected"),
        "{err}"
    );
    let negative = body_with("/repeat/interval", serde_json::json!(-20));
    assert!(serde_json::from_value::<UserRecordingSettings>(negative).is_err());
}

#[test]
fn a_put_enables_sets_and_disables() {
    let (acme, paris, u1) = dubber_org();
    let alice = customer("alice");
    let body: UserRecordingSettings = serde_json::from_value(settable_body()).unwrap();
    let change = put_user_settings(&acme, &paris, &u1, &body, &alice, &[], at(NOW)).unwrap();
    let acme2 = org_of(&change);
    assert_eq!(acme2.accounts[0].admins, std::slice::from_ref(&alice));
    let u1 = user_of(&change);
    assert_eq!(
        serde_json::to_string_pretty(&UserRecordingSettings::from(&u1)).unwrap(),
        PROVISIONED_JSON
    );
    // The whole body is validated even when disabling; then settings go back to defaults.
    let mut off = body.clone();
    off.enabled = false;
    off.repeat.interval = 100;
    let err = put_user_settings(&acme2, &paris, &u1, &off, &alice, &[], at(NOW)).unwrap_err();
    assert!(matches!(err, PolicyError::OutOfRange { value: 100, .. }));
    off.repeat.interval = 30;
    let change = put_user_settings(&acme2, &paris, &u1, &off, &alice, &[], at(NOW)).unwrap();
    let disabled = user_of(&change);
    assert_eq!(
        disabled,
        User {
            enabled: false,
            settings: RecordingSettings::default(),
            ..u1.clone()
        }
    );
    // Enabling refused: nothing to save.
    let mut none = acme2.clone();
    none.provider = ProviderChoice::None;
    let err = put_user_settings(&none, &paris, &disabled, &body, &alice, &[], at(NOW));
    assert!(matches!(err, Err(PolicyError::OrganisationOff { .. })));
}

// ---------------------------------------------------------------------------------------------
// Documents and decisions as JSON.

#[test]
fn organisation_and_location_documents_round_trip_exactly() {
    let (acme, paris, _) = enabled_user();
    let acme = org_of(
        &acme
            .set_customer_storage(Some(url("s3://acme/rec")))
            .unwrap(),
    );
    let json = serde_json::to_string_pretty(&acme).unwrap();
    assert_eq!(
        json,
        r#"{
  "id": "acme",
  "name": "acme Ltd",
  "region": "EU",
  "provider": "dubber",
  "serviceEnabled": true,
  "customerStorage": {
    "url": "s3://acme/rec"
  },
  "terms": [
    {
      "provider": "dubber",
      "acceptedBy": {
        "id": "alice",
        "role": "customer"
      },
      "acceptedAt": "2026-01-02T03:04:05.000000000Z"
    }
  ],
  "accounts": [
    {
      "provider": "dubber",
      "externalId": "acme",
      "createdBy": {
        "id": "alice",
        "role": "customer"
      },
      "createdAt": "2026-03-04T05:06:07.123456789Z",
      "admins": [
        {
          "id": "alice",
          "role": "customer"
        }
      ]
    }
  ]
}"#
    );
    assert_eq!(serde_json::from_str::<Organisation>(&json).unwrap(), acme);
    // The smallest document loads with the defaults of a new organisation.
    let minimal = r#"{"id":"acme","name":"acme Ltd","region":"EU"}"#;
    let minimal: Organisation = serde_json::from_str(minimal).unwrap();
    assert_eq!(minimal, org("acme", Region::Eu));

    assert_eq!(
        serde_json::to_string(&paris).unwrap(),
        r#"{"id":"paris","org":"acme","name":"PARIS","provider":"orgDefault"}"#
    );
    let minimal = r#"{"id":"paris","org":"acme","name":"PARIS"}"#;
    assert_eq!(serde_json::from_str::<Location>(minimal).unwrap(), paris);
    let mut tokyo = paris.clone();
    tokyo.region = Some(Region::Jp);
    tokyo.provider = LocationProvider::None;
    let json = serde_json::to_string(&tokyo).unwrap();
    assert_eq!(
        json,
        r#"{"id":"paris","org":"acme","name":"PARIS","region":"JP","provider":"none"}"#
    );
    assert_eq!(serde_json::from_str::<Location>(&json).unwrap(), tokyo);
}

#[test]
fn a_user_document_round_trips_exactly() {
    let (_, _, u1) = enabled_user();
    let mut u1 = user_of(&u1.update_settings(custom_settings()).unwrap());
    u1.aors = vec!["sip:+33140000001@acme.example".into()];
    let json = serde_json::to_string(&u1).unwrap();
    assert_eq!(
        json,
        r#"{"id":"u1","org":"acme","location":"paris","aors":["sip:+33140000001@acme.example"],"person":{"firstName":"u1","lastName":"Martin","email":"u1@example.com","timeZone":"Europe/Paris"},"licence":"Professional","enabled":true,"settings":{"mode":"Always with Pause/Resume","recordVoicemail":true,"announcement":{"internalCalls":false,"pstnCalls":true},"notification":{"type":"Play Announcement","enabled":true},"reminder":{"enabled":true,"interval":30},"postCall":{"summaryAndActionItems":false,"transcript":false}},"entitlement":"dubber-go","platform":{"serviceProvider":"acme","externalGroup":"paris","externalIdentifier":"u1"},"access":{"play":true,"download":true,"delete":true,"share":true}}"#
    );
    assert_eq!(serde_json::from_str::<User>(&json).unwrap(), u1);
    // A document stored before the post-call settings and the access switches: their
    // defaults (off; everything allowed).
    let older = json
        .replace(
            r#","postCall":{"summaryAndActionItems":false,"transcript":false}"#,
            "",
        )
        .replace(
            r#","access":{"play":true,"download":true,"delete":true,"share":true}"#,
            "",
        );
    assert!(
        !older.contains("postCall") && !older.contains("access"),
        "{older}"
    );
    assert_eq!(serde_json::from_str::<User>(&older).unwrap(), u1);
}

#[test]
fn decisions_and_changes_are_written_as_json() {
    let (acme, paris, u1) = enabled_user();
    let mut u1 = user_of(&u1.update_settings(custom_settings()).unwrap());
    u1.entitlement = DubberEntitlement::Standard;
    let decision = effective_policy(&acme, Some(&paris), Some(&u1));
    let json = serde_json::to_string(&decision).unwrap();
    assert_eq!(
        json,
        r#"{"record":{"orgId":"acme","personId":"u1","locationId":"paris","mode":"Always with Pause/Resume","recordFromAnswer":true,"userStartStop":false,"pauseResume":true,"pauseResumeNotification":"Play Announcement","reminder":30,"announcement":{"internalCalls":false,"pstnCalls":true},"recordVoicemail":true,"provider":"dubber","plan":"dubber-standard","retention":"unlimited","region":"EU","storage":"default","platform":{"serviceProvider":"acme","externalGroup":"paris","externalIdentifier":"u1"},"pciDtmfSuppression":false}}"#
    );
    assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), decision);
    let refused = Decision::DoNotRecord(Reason::RegionNotServed {
        provider: Provider::Imagicle,
        region: Region::Jp,
    });
    assert_eq!(
        serde_json::to_string(&refused).unwrap(),
        r#"{"doNotRecord":{"reason":"regionNotServed","provider":"imagicle","region":"JP"}}"#
    );
    assert_eq!(
        serde_json::to_string(&Decision::DoNotRecord(Reason::ModeNever)).unwrap(),
        r#"{"doNotRecord":{"reason":"modeNever"}}"#
    );
    let own = Storage::CustomerOwned("gs://b".into());
    assert_eq!(
        serde_json::to_string(&own).unwrap(),
        r#"{"customerOwned":"gs://b"}"#
    );
    let change = u1
        .set_entitlement(&acme, &paris, DubberEntitlement::Go)
        .unwrap();
    assert_eq!(
        serde_json::to_string(&change.migration).unwrap(),
        r#"{"orgId":"acme","personId":"u1","plan":"dubber-go","from":"unlimited","to":"30d"}"#
    );
    let back: Change = serde_json::from_str(&serde_json::to_string(&change).unwrap()).unwrap();
    assert_eq!(back, change);
}

#[test]
fn pci_handling_is_off_by_default_written_only_when_on_and_reaches_the_decision() {
    let (acme, paris, alice) = enabled_user();
    let alice = user_of(&alice.update_settings(custom_settings()).unwrap());
    assert!(!acme.pci_dtmf_suppression);
    let off = serde_json::to_value(&acme).unwrap();
    assert!(off.get("pciDtmfSuppression").is_none(), "{off}");
    let on = org_of(&acme.set_pci_dtmf_suppression(true));
    let json = serde_json::to_value(&on).unwrap();
    assert_eq!(json["pciDtmfSuppression"], true);
    let back: Organisation = serde_json::from_value(json).unwrap();
    assert_eq!(back, on);
    let pci = |org: &Organisation| match effective_policy(org, Some(&paris), Some(&alice)) {
        Decision::Record(policy) => policy.pci_dtmf,
        other => panic!("{other:?}"),
    };
    assert!(pci(&on));
    assert!(!pci(&acme));
    // Turning it off again is a change too (the audit trail shows both).
    let change = on.set_pci_dtmf_suppression(false);
    assert_eq!(org_of(&change), acme);
}
