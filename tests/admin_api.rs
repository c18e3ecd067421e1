//! The admin API over real HTTP: `callrec serve` started as a process on a free port, a policy
//! database of its own, tokens issued with `callrec token create`, requests sent over TCP.
//! Every rule of the recording policy's API and each refusal (status and message), tenant
//! isolation per role over every route, the audit trail, and a Dubber entitlement change
//! moving a stored recording. Each scenario runs twice with the same body: on the default
//! embedded SQLite, and on a fresh schema of the real PostgreSQL that `scripts/test` starts
//! (CALLREC_TEST_POSTGRES).

mod common;

use callrec::policydb::schema::MIGRATIONS;
use common::admin::{create_token, create_token_for, AdminServer};
use common::cli::files;
use common::TempDir;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// The policy database a scenario runs on.
enum Db {
    /// The default: `sqlite://policy.sqlite` in the scenario's directory.
    Sqlite,
    /// A schema of its own in the test PostgreSQL, so scenarios running side by side do not meet.
    Postgres { url: String },
}

impl Db {
    fn postgres(test: &str) -> Db {
        Db::Postgres {
            url: common::postgres::fresh_schema_blocking("api", test),
        }
    }

    /// `callrec` run in `dir`, with no policy database inherited from the environment.
    fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
        command.current_dir(dir).env_remove("CALLREC_POLICY_DB");
        command
    }

    /// The database's URL, for reaching it behind the server's back.
    fn url(&self, dir: &Path) -> String {
        match self {
            Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("policy.sqlite").display()),
            Db::Postgres { url } => url.clone(),
        }
    }

    /// Runs `statements` on the database directly, in order.
    fn execute(&self, dir: &Path, statements: &[String]) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&self.url(dir))
                .await
                .expect("connect to the policy database");
            for sql in statements {
                sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            pool.close().await;
        });
    }

    /// The arguments that choose this database (none for the default).
    fn args(&self) -> Vec<&str> {
        match self {
            Db::Sqlite => Vec::new(),
            Db::Postgres { url } => vec!["--policy-db", url],
        }
    }
}

/// Runs each named scenario on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::Db::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::Db::postgres(stringify!($name)))
                }
            )*
        }
    };
}

on_both!(
    tokens_name_their_caller_and_anything_else_is_refused,
    organisations_locations_and_people_are_created_changed_and_deleted,
    call_recording_settings_are_validated_and_enabling_needs_the_providers_terms,
    vendors_regions_location_overrides_and_turning_recording_off,
    a_partner_administrator_administers_one_customers_dubber_account_at_most,
    a_partner_enabling_in_two_organisations_at_once_becomes_an_administrator_of_one,
    the_audit_trail_shows_who_changed_what_when_before_and_after,
    each_role_reaches_only_its_organisations_on_every_route,
    a_dubber_entitlement_change_moves_the_persons_stored_recordings,
    concurrent_changes_to_one_organisation_are_all_kept,
    a_first_release_database_is_upgraded_and_served,
    tokens_expire_and_a_revoked_one_is_refused_by_every_server,
);

/// A running `callrec serve` on the scenario's database; killed when dropped.
/// A configuration file registering one destination, `acme-rec` (in the server's memory).
fn registered_destinations(dir: &Path) -> String {
    let path = dir.join("destinations.toml");
    std::fs::write(
        &path,
        "[store.destinations.acme-rec]\nurl = \"memory://acme-rec\"\n",
    )
    .expect("write config");
    path.display().to_string()
}

struct Server(AdminServer);

impl Server {
    fn start(db: &Db, dir: &Path) -> Server {
        Server::start_with(db, dir, &[])
    }

    fn start_with(db: &Db, dir: &Path, args: &[&str]) -> Server {
        let args: Vec<&str> = db.args().into_iter().chain(args.iter().copied()).collect();
        Server(AdminServer::start(db.command(dir), &args))
    }

    /// One request; returns the status and the body (JSON when it is JSON).
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, _, body) = self.0.request(method, path, token, body);
        (status, body)
    }

    fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.request("GET", path, Some(token), None)
    }

    fn send(&self, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(method, path, Some(token), Some(&body))
    }

    /// A request that must succeed (2xx); its body.
    fn ok(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, response) = self.request(method, path, Some(token), body.as_ref());
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {response}"
        );
        response
    }

    /// A request that must be refused with `status`; its message.
    fn refused(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> String {
        let (got, response) = self.request(method, path, Some(token), body.as_ref());
        assert_eq!(got, status, "{method} {path}: {response}");
        response["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no message in {response}"))
            .to_string()
    }

    /// SIGTERM; the server must exit 0.
    fn terminate(mut self) {
        let pid = self.0.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.0.child.wait().expect("wait");
        assert!(exit.success(), "serve exited with {exit} on SIGTERM");
    }
}

fn token(db: &Db, dir: &Path, role: &str, orgs: &[&str]) -> String {
    create_token(db.command(dir), role, orgs, &db.args())
}

fn token_for(db: &Db, dir: &Path, person: &str, role: &str, orgs: &[&str]) -> String {
    create_token_for(db.command(dir), person, role, orgs, &db.args())
}

fn tokens_name_their_caller_and_anything_else_is_refused(db: &Db) {
    let tmp = TempDir::new("admin-auth");
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let reader = token(db, &tmp.0, "read-only", &["globex"]);
    assert!(customer.starts_with("crt_") && customer.len() > 40);
    let server = Server::start(db, &tmp.0);

    assert_eq!(
        server.request("GET", "/healthz", None, None),
        (200, Value::String("ok\n".into()))
    );
    let (status, body) = server.request("GET", "/v1/whoami", None, None);
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "an Authorization: Bearer token is required"
    );
    for wrong in [&customer[..customer.len() - 1], "crt_", "Bearer", "x"] {
        assert_eq!(
            server.request("GET", "/v1/whoami", Some(wrong), None).0,
            401,
            "{wrong}"
        );
    }
    for (token, role, orgs) in [
        (&customer, "customer-admin", vec!["acme"]),
        (&partner, "partner-admin", vec!["acme", "globex"]),
        (&reader, "read-only", vec!["globex"]),
    ] {
        let (status, body) = server.request("GET", "/v1/whoami", Some(token), None);
        assert_eq!(status, 200);
        assert_eq!(body["role"], role);
        assert_eq!(body["orgs"], serde_json::json!(orgs));
    }
    let (_, metrics) = server.request("GET", "/metrics", None, None);
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains("callrec_admin_requests_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("callrec_admin_unauthorized_total 5\n"),
        "{metrics}"
    );
    server.terminate();
}

// --- The recording policy's API ---

const RECORDING: &str = "/v1/telephony/config/callRecording";

fn token_id(server: &Server, token: &str) -> String {
    let who = server.ok(token, "GET", "/v1/whoami", None);
    who["token"].as_str().expect("token id").to_string()
}

/// The person a token was issued to: the administrator the policy's rules bind.
fn person_of(server: &Server, token: &str) -> String {
    let who = server.ok(token, "GET", "/v1/whoami", None);
    who["person"].as_str().expect("person").to_string()
}

fn new_org(id: &str, region: &str) -> Value {
    json!({ "id": id, "displayName": format!("{} Ltd", id.to_uppercase()), "region": region })
}

fn person(id: &str, location: &str, aors: &[&str]) -> Value {
    json!({
        "id": id,
        "locationId": location,
        "firstName": id.to_uppercase(),
        "lastName": "Martin",
        "email": format!("{id}@example.com"),
        "timeZone": "Europe/Paris",
        "callingLicense": "Professional",
        "sipAddresses": aors,
    })
}

/// A call recording settings body with every field: `record` mode, reminder every `interval`
/// seconds (as a GET returns it, so a test can compare the two).
fn settings(enabled: bool, record: &str, interval: u64) -> Value {
    json!({
        "enabled": enabled,
        "record": record,
        "recordVoicemailEnabled": true,
        "startStopAnnouncementEnabled": true,
        "startStopAnnouncement": { "internalCallsEnabled": false, "pstnCallsEnabled": true },
        "notification": { "type": "Play Announcement", "enabled": true },
        "repeat": { "interval": interval, "enabled": true },
        "callRecordingAccessSettings": {
            "viewAndPlayRecordingsEnabled": true, "downloadRecordingsEnabled": true,
            "deleteRecordingsEnabled": true, "shareRecordingsEnabled": true,
        },
        "postCallRecordingSettings": { "summaryAndActionItemsEnabled": false, "transcriptEnabled": false },
    })
}

fn defaults() -> Value {
    json!({
        "enabled": false,
        "record": "Never",
        "recordVoicemailEnabled": false,
        "startStopAnnouncementEnabled": false,
        "startStopAnnouncement": { "internalCallsEnabled": false, "pstnCallsEnabled": false },
        "notification": { "type": "Beep", "enabled": false },
        "repeat": { "interval": 20, "enabled": false },
        "callRecordingAccessSettings": {
            "viewAndPlayRecordingsEnabled": true, "downloadRecordingsEnabled": true,
            "deleteRecordingsEnabled": true, "shareRecordingsEnabled": true,
        },
        "postCallRecordingSettings": { "summaryAndActionItemsEnabled": false, "transcriptEnabled": false },
    })
}

fn recording_of(person: &str) -> String {
    format!("/v1/people/{person}/features/callRecording")
}

fn effective(server: &Server, token: &str, query: &str) -> Value {
    server.ok(
        token,
        "GET",
        &format!("{RECORDING}/effectivePolicy?{query}"),
        None,
    )
}

fn ids(items: &Value) -> Vec<&str> {
    items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect()
}

/// An organisation `org` in `region`, created by `partner`, with location `site` and the
/// given people there (each with `sip:{id}@{org}.example`).
fn populate(server: &Server, partner: &str, org: &str, region: &str, people: &[&str]) {
    server.ok(
        partner,
        "POST",
        "/v1/organizations",
        Some(new_org(org, region)),
    );
    let q = format!("?orgId={org}");
    let site = json!({ "id": format!("site-{org}"), "name": "Site" });
    server.ok(partner, "POST", &format!("/v1/locations{q}"), Some(site));
    for id in people {
        let aor = format!("sip:{id}@{org}.example");
        let body = person(id, &format!("site-{org}"), &[&aor]);
        server.ok(partner, "POST", &format!("/v1/people{q}"), Some(body));
    }
}

fn organisations_locations_and_people_are_created_changed_and_deleted(db: &Db) {
    let tmp = TempDir::new("admin-directory");
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let reader = token(db, &tmp.0, "read-only", &["acme"]);
    let config = registered_destinations(&tmp.0);
    let server = Server::start_with(db, &tmp.0, &["--config", &config]);
    let orgs = "/v1/organizations";

    // Who may create or change an organisation is decided before the body is read.
    let malformed = Some(json!({ "id": 5, "region": ["EU"] }));
    let message = server.refused(&reader, "POST", orgs, malformed.clone(), 403);
    assert_eq!(
        message,
        "this token is read-only: it cannot change anything"
    );
    let message = server.refused(&customer, "POST", orgs, malformed.clone(), 403);
    assert_eq!(
        message,
        "only a partner administrator creates organisations"
    );
    let message = server.refused(&partner, "POST", orgs, malformed.clone(), 400);
    assert_eq!(message, "id: must be a string, not integer `5`");
    let message = server.refused(&reader, "PUT", "/v1/organizations/acme", malformed, 403);
    assert_eq!(
        message,
        "this token is read-only: it cannot change anything"
    );

    // Only a partner creates organisations, and only those its token names.
    let acme = Some(new_org("acme", "EU"));
    let message = server.refused(&customer, "POST", orgs, acme.clone(), 403);
    assert_eq!(
        message,
        "only a partner administrator creates organisations"
    );
    let initech = Some(new_org("initech", "US"));
    let message = server.refused(&partner, "POST", orgs, initech, 403);
    assert_eq!(message, "this token has no access to organisation initech");
    let message = server.refused(&partner, "POST", orgs, Some(new_org("acme", "EUW")), 400);
    assert_eq!(
        message,
        "region: unknown region 'EUW' (one of: US, CA, EU, EUN, UK, AU, JP)"
    );
    let created = server.ok(&partner, "POST", orgs, acme.clone());
    assert_eq!(
        created,
        json!({
            "id": "acme", "displayName": "ACME Ltd", "region": "EU",
            "callRecordingServiceEnabled": true, "customerStorage": null,
            "pciDtmfSuppression": false, "vendorId": "dubber", "vendorName": "Dubber", "termsOfService": [], "accounts": [],
        })
    );
    let message = server.refused(&partner, "POST", orgs, acme, 409);
    assert_eq!(message, "organisation \"acme\" already exists");
    // An organisation the token names that does not exist has no locations or people to list.
    for path in ["/v1/locations?orgId=globex", "/v1/people?orgId=globex"] {
        let message = server.refused(&partner, "GET", path, None, 404);
        assert_eq!(message, "no organisation globex", "{path}");
    }
    server.ok(&partner, "POST", orgs, Some(new_org("globex", "JP")));
    assert_eq!(ids(&server.get(&partner, orgs).1), ["acme", "globex"]);
    assert_eq!(ids(&server.get(&customer, orgs).1), ["acme"]);

    // Name and customer storage by any administrator; the service switch by the partner only.
    let acme_path = "/v1/organizations/acme";
    let renamed = server.ok(
        &customer,
        "PUT",
        acme_path,
        Some(
            json!({ "displayName": "Acme Corp", "customerStorage": { "destination": "acme-rec" } }),
        ),
    );
    assert_eq!(
        (&renamed["displayName"], &renamed["customerStorage"]),
        (&json!("Acme Corp"), &json!({ "destination": "acme-rec" }))
    );
    // Only destinations the operator registered, and never a bare URL: the server's own
    // credentials are not for buckets a customer names.
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": { "destination": "globex-rec" } })),
        400,
    );
    assert_eq!(
        message,
        "customerStorage.destination: 'globex-rec' is not a destination the operator \
         registered (one of: acme-rec)"
    );
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": "s3://acme-rec" })),
        400,
    );
    assert!(
        message.starts_with("customerStorage: give {\"destination\": NAME}"),
        "{message}"
    );
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": { "url": "s3://acme-rec" } })),
        400,
    );
    assert!(
        message.starts_with("customerStorage.accessKeyId: required"),
        "{message}"
    );
    // Supplied credentials need a secrets key to be kept sealed; this server has none.
    let own = json!({ "url": "s3://acme-rec", "accessKeyId": "a", "secretAccessKey": "b" });
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": own })),
        409,
    );
    assert!(message.contains("no secrets key"), "{message}");
    let cleared = server.ok(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": null })),
    );
    assert_eq!(cleared["customerStorage"], Value::Null);
    assert_eq!(cleared["displayName"], "Acme Corp");
    let local = json!({ "url": "/srv/acme", "accessKeyId": "a", "secretAccessKey": "b" });
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "customerStorage": local })),
        400,
    );
    assert_eq!(
        message,
        "customerStorage: '/srv/acme' is not an s3://, gs:// or az:// URL naming a bucket"
    );
    let off = Some(json!({ "callRecordingServiceEnabled": false }));
    let message = server.refused(&customer, "PUT", acme_path, off.clone(), 403);
    assert_eq!(
        message,
        "only a partner administrator can turn the call recording service on or off"
    );
    let switched = server.ok(&partner, "PUT", acme_path, off);
    assert_eq!(switched["callRecordingServiceEnabled"], false);
    let on = Some(json!({ "callRecordingServiceEnabled": true }));
    server.ok(&partner, "PUT", acme_path, on);
    let message = server.refused(
        &customer,
        "PUT",
        acme_path,
        Some(json!({ "region": "US" })),
        400,
    );
    assert!(message.contains("unknown field `region`"), "{message}");

    // Locations.
    let paris = json!({ "id": "paris", "name": "Paris" });
    let created = server.ok(&customer, "POST", "/v1/locations", Some(paris.clone()));
    assert_eq!(
        created,
        json!({ "id": "paris", "orgId": "acme", "name": "Paris", "region": "EU" })
    );
    let message = server.refused(&customer, "POST", "/v1/locations", Some(paris), 409);
    assert_eq!(message, "location \"paris\" already exists");
    let tokyo = json!({ "id": "tokyo", "name": "Tokyo", "region": "JP" });
    let created = server.ok(&customer, "POST", "/v1/locations", Some(tokyo));
    assert_eq!(created["region"], "JP");
    let message = server.refused(
        &customer,
        "POST",
        "/v1/locations",
        Some(json!({ "id": "x", "name": "X", "region": "MARS" })),
        400,
    );
    assert!(
        message.starts_with("region: unknown region 'MARS'"),
        "{message}"
    );
    let message = server.refused(
        &customer,
        "POST",
        "/v1/locations",
        Some(json!({ "id": "a/b", "name": "X" })),
        400,
    );
    assert_eq!(
        message,
        "id: 'a/b' is not an id (1-128 of A-Z a-z 0-9 - _ . ~)"
    );
    assert_eq!(
        ids(&server.get(&customer, "/v1/locations").1),
        ["paris", "tokyo"]
    );
    let message = server.refused(&customer, "GET", "/v1/locations/lyon", None, 404);
    assert_eq!(message, "no location lyon in organisation acme");

    // People, and the SIP addresses that find them.
    let alice = person(
        "alice",
        "paris",
        &["<SIP:Alice@ACME.example;transport=tcp>"],
    );
    let created = server.ok(&customer, "POST", "/v1/people", Some(alice));
    assert_eq!(
        created,
        json!({
            "id": "alice", "orgId": "acme", "locationId": "paris", "firstName": "ALICE",
            "lastName": "Martin", "email": "alice@example.com", "timeZone": "Europe/Paris",
            "callingLicense": "Professional", "sipAddresses": ["sip:Alice@acme.example"],
        })
    );
    let clash = person(
        "bob",
        "paris",
        &["sip:bob@acme.example", "sip:Alice@acme.EXAMPLE"],
    );
    let message = server.refused(&customer, "POST", "/v1/people", Some(clash), 409);
    assert_eq!(
        message,
        "sipAddresses: 'sip:Alice@acme.example' already belongs to another user"
    );
    // All or nothing: bob was not created and kept none of his addresses.
    server.refused(&customer, "GET", "/v1/people/bob", None, 404);
    let stranger = person("mallory", "site-globex", &["sip:Alice@acme.example"]);
    server.ok(
        &partner,
        "POST",
        "/v1/locations?orgId=globex",
        Some(json!({ "id": "site-globex", "name": "Osaka" })),
    );
    let message = server.refused(
        &partner,
        "POST",
        "/v1/people?orgId=globex",
        Some(stranger),
        409,
    );
    assert_eq!(
        message,
        "sipAddresses: 'sip:Alice@acme.example' already belongs to another user"
    );
    let mut bad = person("bob", "paris", &[]);
    bad["callingLicense"] = json!("Gold");
    let message = server.refused(&customer, "POST", "/v1/people", Some(bad), 400);
    assert_eq!(
        message,
        "callingLicense: 'Gold' is not one of Professional, Basic, Other"
    );
    let bad = person("bob", "paris", &["bob@acme.example"]);
    let message = server.refused(&customer, "POST", "/v1/people", Some(bad), 400);
    assert_eq!(
        message,
        "sipAddresses: 'bob@acme.example' is not a SIP address (sip:user@host or a global tel:)"
    );
    let bad = person("bob", "lyon", &[]);
    let message = server.refused(&customer, "POST", "/v1/people", Some(bad), 400);
    assert_eq!(
        message,
        "locationId: no location 'lyon' in organisation acme"
    );
    let mut bad = person("bob", "paris", &[]);
    bad.as_object_mut().expect("object").remove("id");
    let message = server.refused(&customer, "POST", "/v1/people", Some(bad), 400);
    assert_eq!(message, "id: required");
    let mut bad = person("bob", "paris", &[]);
    bad.as_object_mut().expect("object").remove("email");
    let message = server.refused(&customer, "POST", "/v1/people", Some(bad), 400);
    assert!(
        message.starts_with("invalid JSON body: missing field `email`"),
        "{message}"
    );
    server.ok(
        &customer,
        "POST",
        "/v1/people",
        Some(person("bob", "paris", &["sip:bob@acme.example"])),
    );
    assert_eq!(
        ids(&server.get(&customer, "/v1/people").1),
        ["alice", "bob"]
    );
    assert_eq!(ids(&server.get(&customer, "/v1/people?max=1").1), ["alice"]);
    assert_eq!(
        ids(&server.get(&customer, "/v1/people?after=alice").1),
        ["bob"]
    );
    let message = server.refused(&customer, "GET", "/v1/people?max=0", None, 400);
    assert_eq!(message, "max: 0 is outside 1-1000");

    // Changing alice's addresses frees the old one for bob.
    let changed = server.ok(
        &customer,
        "PUT",
        "/v1/people/alice",
        Some(person("alice", "paris", &["sip:alice.m@acme.example"])),
    );
    assert_eq!(changed["sipAddresses"], json!(["sip:alice.m@acme.example"]));
    let bob = person(
        "bob",
        "paris",
        &["sip:bob@acme.example", "sip:Alice@acme.example"],
    );
    server.ok(&customer, "PUT", "/v1/people/bob", Some(bob));
    let moved = person("alice", "tokyo", &["sip:alice.m@acme.example"]);
    let message = server.refused(&customer, "PUT", "/v1/people/alice", Some(moved), 400);
    assert_eq!(
        message,
        "locationId: a person's location is fixed (paris, not 'tokyo'): delete and re-create \
         them to move them"
    );
    let renamed = person("carol", "paris", &[]);
    let message = server.refused(&customer, "PUT", "/v1/people/alice", Some(renamed), 400);
    assert_eq!(message, "id: a person's id is fixed (alice, not 'carol')");
    let lookup = effective(&server, &customer, "aor=sip:Alice@acme.example");
    assert_eq!(lookup["personId"], "bob");

    // Deleting: people first, then locations, then the organisation (by the partner).
    let message = server.refused(&customer, "DELETE", "/v1/locations/paris", None, 409);
    assert_eq!(
        message,
        "location paris still has people (alice, bob): delete them first"
    );
    let message = server.refused(&customer, "DELETE", acme_path, None, 403);
    assert_eq!(
        message,
        "only a partner administrator deletes organisations"
    );
    let message = server.refused(&partner, "DELETE", acme_path, None, 409);
    assert_eq!(
        message,
        "organisation acme still has locations or people: delete them first"
    );
    for path in ["/v1/people/alice", "/v1/people/bob", "/v1/locations/paris"] {
        assert_eq!(server.request("DELETE", path, Some(&customer), None).0, 204);
    }
    server.refused(&customer, "GET", "/v1/people/bob", None, 404);
    // bob's addresses went with him.
    let carol = person(
        "carol",
        "tokyo",
        &["sip:Alice@acme.example", "sip:bob@acme.example"],
    );
    server.ok(&customer, "POST", "/v1/people", Some(carol));
    assert_eq!(
        server
            .request("DELETE", "/v1/people/carol", Some(&customer), None)
            .0,
        204
    );
    assert_eq!(
        server
            .request("DELETE", "/v1/locations/tokyo", Some(&customer), None)
            .0,
        204
    );
    assert_eq!(
        server.request("DELETE", acme_path, Some(&partner), None).0,
        204
    );
    let message = server.refused(&customer, "GET", acme_path, None, 404);
    assert_eq!(message, "no organisation acme");
    server.terminate();
}

/// The Dubber terms page this scenario's configuration names.
const DUBBER_TERMS: &str = "https://partner.example/terms/dubber?lang=en";

fn call_recording_settings_are_validated_and_enabling_needs_the_providers_terms(db: &Db) {
    let tmp = TempDir::new("admin-settings");
    let config = format!("[providers.dubber]\nterms_url = \"{DUBBER_TERMS}\"\n");
    std::fs::write(tmp.path("callrec.toml"), config).expect("config");
    let partner = token(db, &tmp.0, "partner-admin", &["acme"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let server = Server::start_with(db, &tmp.0, &["--config", "callrec.toml"]);
    populate(&server, &partner, "acme", "EU", &["alice"]);
    let mut dora = person("dora", "site-acme", &[]);
    dora["callingLicense"] = json!("Other");
    server.ok(&customer, "POST", "/v1/people", Some(dora));
    let alice = recording_of("alice");

    assert_eq!(server.ok(&customer, "GET", &alice, None), defaults());
    let refusals = [
        (
            settings(true, "Always", 5),
            "repeat.interval: 5 is outside 10-90",
        ),
        (
            settings(true, "Always", 91),
            "repeat.interval: 91 is outside 10-90",
        ),
        (
            settings(true, "Sometimes", 30),
            "record: 'Sometimes' is not one of Never, Always, Always with Pause/Resume, On \
             Demand with User Initiated Start",
        ),
        (
            {
                let mut s = settings(true, "Always", 30);
                s["notification"]["type"] = json!("Ring");
                s
            },
            "notification.type: 'Ring' is not one of Beep, Play Announcement, None",
        ),
        (
            {
                let mut s = settings(true, "Always", 30);
                s["serviceProvider"] = json!("someone-else");
                s
            },
            "serviceProvider is read-only (generated when the user is provisioned): it is \
             unset, not 'someone-else'",
        ),
    ];
    for (body, expected) in refusals {
        let message = server.refused(&customer, "PUT", &alice, Some(body), 400);
        assert_eq!(message, expected);
    }
    let mut misspelt = settings(true, "Always", 30);
    misspelt["recordingMode"] = json!("Always");
    let message = server.refused(&customer, "PUT", &alice, Some(misspelt), 400);
    assert!(
        message.contains("unknown field `recordingMode`"),
        "{message}"
    );

    // Enabling before anyone accepted Dubber's terms: 409 with the provider and its terms, as
    // the configuration names them.
    let wanted = settings(true, "Always with Pause/Resume", 30);
    let (status, body) = server.send(&customer, "PUT", &alice, wanted.clone());
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({
            "message": format!(
                "terms of service for Dubber not accepted: a customer or partner administrator \
                 must accept them first ({DUBBER_TERMS})"
            ),
            "vendorId": "dubber",
            "vendorName": "Dubber",
            "termsOfServiceUrl": DUBBER_TERMS,
        })
    );
    assert_eq!(server.ok(&customer, "GET", &alice, None), defaults());
    let vendors = server.ok(&customer, "GET", &format!("{RECORDING}/vendors"), None);
    assert_eq!(
        (
            &vendors["vendors"][0]["termsOfServiceUrl"],
            &vendors["vendors"][0]["loginUrl"],
            &vendors["vendors"][1]["termsOfServiceUrl"],
        ),
        (
            &json!(DUBBER_TERMS),
            &json!("https://www.dubber.net/"),
            &json!("https://www.imagicle.com/")
        )
    );
    let recording = server.ok(&customer, "GET", RECORDING, None);
    assert_eq!(recording["termsOfServiceUrl"], DUBBER_TERMS);

    // What Dubber will receive, shown before accepting; then the acceptance, with who and when.
    let terms = format!("{RECORDING}/vendors/dubber/termsOfService");
    let person_json = |first: &str, id: &str| {
        json!({ "firstName": first, "lastName": "Martin", "email": format!("{id}@example.com"),
                "timeZone": "Europe/Paris" })
    };
    let shown = server.ok(&customer, "GET", &terms, None);
    assert_eq!(
        shown,
        json!({
            "vendorId": "dubber", "vendorName": "Dubber", "termsOfServiceEnabled": false,
            "termsOfServiceUrl": DUBBER_TERMS,
            "acceptedBy": null, "acceptedAt": null,
            "disclosure": {
                "customerName": "ACME Ltd",
                "users": [person_json("ALICE", "alice"), person_json("DORA", "dora")],
            },
        })
    );
    let message = server.refused(
        &customer,
        "PUT",
        &terms,
        Some(json!({ "termsOfServiceEnabled": false })),
        400,
    );
    assert!(message.starts_with("termsOfServiceEnabled: an acceptance cannot be withdrawn"));
    let message = server.refused(
        &customer,
        "GET",
        &format!("{RECORDING}/vendors/none/termsOfService"),
        None,
        400,
    );
    assert_eq!(
        message,
        "vendorId: 'none' is not one of dubber, imagicle, callcabinet"
    );
    let accepted = server.ok(
        &customer,
        "PUT",
        &terms,
        Some(json!({ "termsOfServiceEnabled": true })),
    );
    let customer_id = person_of(&server, &customer);
    assert_eq!(accepted["termsOfServiceEnabled"], true);
    assert_eq!(
        accepted["acceptedBy"],
        json!({ "id": customer_id, "role": "customer" })
    );
    let at = accepted["acceptedAt"].as_str().expect("acceptedAt");
    assert!(callrec::time::Time::parse_rfc3339(at).is_some(), "{at}");

    // Enabling provisions alice: platform information, and the Dubber account with the
    // enabling administrator as one of its administrators.
    let enabled = server.ok(&customer, "PUT", &alice, Some(wanted.clone()));
    let mut expected = wanted.clone();
    expected["serviceProvider"] = json!("acme");
    expected["externalGroup"] = json!("site-acme");
    expected["externalIdentifier"] = json!("alice");
    assert_eq!(enabled, expected);
    assert_eq!(server.ok(&customer, "GET", &alice, None), expected);
    // A GET's body can be PUT back; a changed read-only field cannot.
    assert_eq!(
        server.ok(&customer, "PUT", &alice, Some(expected.clone())),
        expected
    );
    let mut forged = expected.clone();
    forged["externalIdentifier"] = json!("bob");
    let message = server.refused(&customer, "PUT", &alice, Some(forged), 400);
    assert_eq!(
        message,
        "externalIdentifier is read-only (generated when the user is provisioned): it is \
         'alice', not 'bob'"
    );
    let org = server.ok(&customer, "GET", "/v1/organizations/acme", None);
    let account = &org["accounts"][0];
    assert_eq!(
        (
            &account["provider"],
            &account["externalId"],
            &account["admins"]
        ),
        (
            &json!("dubber"),
            &json!("acme"),
            &json!([{ "id": customer_id, "role": "customer" }])
        )
    );

    let decision = effective(&server, &customer, "personId=alice");
    assert_eq!(
        decision,
        json!({
            "personId": "alice",
            "record": {
                "orgId": "acme", "personId": "alice", "locationId": "site-acme",
                "mode": "Always with Pause/Resume",
                "recordFromAnswer": true, "userStartStop": false, "pauseResume": true,
                "pauseResumeNotification": "Play Announcement", "reminder": 30,
                "announcement": { "internalCalls": false, "pstnCalls": true },
                "recordVoicemail": true, "provider": "dubber", "plan": "dubber-go",
                "retention": "30d", "region": "EU", "storage": "default",
                "platform": { "serviceProvider": "acme", "externalGroup": "site-acme",
                              "externalIdentifier": "alice" },
                "pciDtmfSuppression": false,
            },
        })
    );
    assert_eq!(
        effective(&server, &customer, "aor=%3Csip:alice@ACME.example%3E"),
        decision
    );
    let message = server.refused(
        &customer,
        "GET",
        &format!("{RECORDING}/effectivePolicy?aor=sip:nobody@acme.example"),
        None,
        404,
    );
    assert_eq!(
        message,
        "no person with sip address sip:nobody@acme.example in organisation acme"
    );
    let message = server.refused(
        &customer,
        "GET",
        &format!("{RECORDING}/effectivePolicy"),
        None,
        400,
    );
    assert_eq!(message, "aor or personId: exactly one is required");

    // dora's licence does not include recording.
    let message = server.refused(&customer, "PUT", &recording_of("dora"), Some(wanted), 409);
    assert_eq!(
        message,
        "the licence of user dora (Other) does not include call recording: Professional or \
         Basic does"
    );

    // Disabling: settings back to defaults, platform information kept.
    let disabled = server.ok(
        &customer,
        "PUT",
        &alice,
        Some(settings(false, "Always", 45)),
    );
    let mut expected = defaults();
    expected["serviceProvider"] = json!("acme");
    expected["externalGroup"] = json!("site-acme");
    expected["externalIdentifier"] = json!("alice");
    assert_eq!(disabled, expected);
    assert_eq!(
        effective(&server, &customer, "personId=alice")["doNotRecord"],
        json!({ "reason": "userDisabled", "message": "call recording is disabled for the user" })
    );
    server.terminate();
}

fn vendors_regions_location_overrides_and_turning_recording_off(db: &Db) {
    let tmp = TempDir::new("admin-vendors");
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let globex = token(db, &tmp.0, "customer-admin", &["globex"]);
    let server = Server::start(db, &tmp.0);
    populate(&server, &partner, "acme", "EU", &["alice"]);
    populate(&server, &partner, "globex", "JP", &[]);

    let vendors = server.ok(&customer, "GET", &format!("{RECORDING}/vendors"), None);
    assert_eq!(
        (
            &vendors["vendorId"],
            &vendors["vendorName"],
            &vendors["storageRegion"]
        ),
        (&json!("dubber"), &json!("Dubber"), &json!("EU"))
    );
    let list = vendors["vendors"].as_array().expect("vendors");
    let field = |name: &str| list.iter().map(|v| v[name].clone()).collect::<Vec<_>>();
    assert_eq!(
        field("id"),
        [json!("dubber"), json!("imagicle"), json!("callcabinet")]
    );
    assert_eq!(
        field("name"),
        [json!("Dubber"), json!("Imagicle"), json!("CallCabinet")]
    );
    assert_eq!(
        field("migrateUserCreationEnabled"),
        [json!(true), json!(false), json!(false)]
    );
    assert_eq!(
        field("servesRegion"),
        [json!(true), json!(true), json!(false)]
    );
    // Without configuration, each provider's pages are its public site.
    let sites = [
        json!("https://www.dubber.net/"),
        json!("https://www.imagicle.com/"),
        json!("https://www.callcabinet.com/"),
    ];
    assert_eq!(field("termsOfServiceUrl"), sites);
    assert_eq!(field("loginUrl"), sites);
    assert!(list.iter().all(|v| v["description"].is_string()));

    // A vendor that does not serve the organisation's region, listing those it serves.
    let vendor = format!("{RECORDING}/vendor");
    let (status, body) = server.send(&globex, "PUT", &vendor, json!({ "vendorId": "imagicle" }));
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "message": "vendor Imagicle does not serve region JP (serves US, EU, EUN)",
            "vendorId": "imagicle", "region": "JP", "servedRegions": ["US", "EU", "EUN"],
        })
    );
    let message = server.refused(
        &customer,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "callcabinet" })),
        400,
    );
    assert_eq!(
        message,
        "vendor CallCabinet does not serve region EU (serves US)"
    );
    let message = server.refused(
        &customer,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "acme-rec" })),
        400,
    );
    assert_eq!(
        message,
        "vendorId: 'acme-rec' is not one of dubber, imagicle, callcabinet, none"
    );
    let (status, body) = server.send(&customer, "PUT", &vendor, json!({ "vendorId": "imagicle" }));
    assert_eq!(status, 409);
    assert_eq!(body["termsOfServiceUrl"], "https://www.imagicle.com/");
    assert_eq!(body["vendorId"], "imagicle");

    let accept = json!({ "termsOfServiceEnabled": true });
    let imagicle_terms = format!("{RECORDING}/vendors/imagicle/termsOfService");
    server.ok(&customer, "PUT", &imagicle_terms, Some(accept));
    let chosen = server.ok(
        &customer,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "imagicle" })),
    );
    assert_eq!(
        chosen,
        json!({
            "organization": { "id": "acme", "name": "ACME Ltd" }, "enabled": true,
            "callRecordingServiceEnabled": true, "vendorId": "imagicle",
            "vendorName": "Imagicle", "termsOfServiceUrl": "https://www.imagicle.com/",
        })
    );
    assert_eq!(server.ok(&customer, "GET", RECORDING, None), chosen);

    // Imagicle users need the customer's Imagicle account; then its sync tools list them.
    let alice = recording_of("alice");
    let message = server.refused(
        &customer,
        "PUT",
        &alice,
        Some(settings(true, "Always", 20)),
        409,
    );
    assert_eq!(
        message,
        "organisation has no Imagicle account: register the account the customer holds with \
         Imagicle first"
    );
    let message = server.refused(
        &customer,
        "PUT",
        &format!("{RECORDING}/vendors/dubber/account"),
        Some(json!({ "accountId": "D-1" })),
        400,
    );
    assert_eq!(
        message,
        "Dubber accounts are created automatically when the first user is enabled"
    );
    let account = server.ok(
        &customer,
        "PUT",
        &format!("{RECORDING}/vendors/imagicle/account"),
        Some(json!({ "accountId": "IMG-42" })),
    );
    assert_eq!(
        (&account["provider"], &account["externalId"]),
        (&json!("imagicle"), &json!("IMG-42"))
    );
    server.ok(&customer, "PUT", &alice, Some(settings(true, "Always", 20)));
    let users = format!("{RECORDING}/vendors/imagicle/users");
    let synced = server.ok(&customer, "GET", &users, None);
    assert_eq!(
        synced,
        json!({
            "vendorId": "imagicle",
            "users": [{
                "id": "alice", "firstName": "ALICE", "lastName": "Martin",
                "email": "alice@example.com", "timeZone": "Europe/Paris",
                "serviceProvider": "acme", "externalGroup": "site-acme",
                "externalIdentifier": "alice",
            }],
        })
    );
    let message = server.refused(
        &customer,
        "GET",
        &format!("{RECORDING}/vendors/dubber/users"),
        None,
        400,
    );
    assert!(message.starts_with("vendorId: Dubber users are provisioned automatically"));

    // A location's own vendor; a new location follows the organisation.
    server.ok(
        &customer,
        "POST",
        "/v1/locations",
        Some(json!({ "id": "lyon", "name": "Lyon" })),
    );
    server.ok(
        &customer,
        "POST",
        "/v1/people",
        Some(person("bob", "lyon", &["sip:bob@acme.example"])),
    );
    let lyon = "/v1/telephony/config/locations/lyon/callRecording/vendor";
    let following = json!({
        "locationId": "lyon", "orgDefaultEnabled": true, "id": null, "name": null,
        "orgDefaultVendorId": "imagicle", "orgDefaultVendorName": "Imagicle",
        "vendorId": "imagicle", "vendorName": "Imagicle", "region": "EU",
    });
    assert_eq!(server.ok(&customer, "GET", lyon, None), following);
    let message = server.refused(
        &customer,
        "PUT",
        lyon,
        Some(json!({ "orgDefaultEnabled": false })),
        400,
    );
    assert_eq!(
        message,
        "id: required when orgDefaultEnabled is false (one of dubber, imagicle, callcabinet, none)"
    );
    let message = server.refused(
        &customer,
        "PUT",
        lyon,
        Some(json!({ "orgDefaultEnabled": true, "id": "dubber" })),
        400,
    );
    assert_eq!(
        message,
        "id: must be left out when orgDefaultEnabled is true"
    );
    let (status, body) = server.send(
        &customer,
        "PUT",
        lyon,
        json!({ "orgDefaultEnabled": false, "id": "dubber" }),
    );
    assert_eq!((status, &body["vendorId"]), (409, &json!("dubber")));
    let off_here = server.ok(
        &customer,
        "PUT",
        lyon,
        Some(json!({ "orgDefaultEnabled": false, "id": "none" })),
    );
    assert_eq!(
        (
            &off_here["orgDefaultEnabled"],
            &off_here["id"],
            &off_here["vendorId"]
        ),
        (&json!(false), &json!("none"), &json!("none"))
    );
    assert_eq!(
        effective(&server, &customer, "aor=sip:bob@acme.example")["doNotRecord"]["reason"],
        "locationOff"
    );
    assert_eq!(
        server.ok(
            &customer,
            "PUT",
            lyon,
            Some(json!({ "orgDefaultEnabled": true }))
        ),
        following
    );
    assert_eq!(
        effective(&server, &customer, "aor=sip:bob@acme.example")["doNotRecord"]["reason"],
        "userDisabled"
    );

    // Turning recording off for everyone needs the explicit confirmation.
    assert!(effective(&server, &customer, "aor=sip:alice@acme.example")["record"].is_object());
    let message = server.refused(
        &customer,
        "PUT",
        RECORDING,
        Some(json!({ "enabled": false })),
        400,
    );
    assert_eq!(
        message,
        "vendor None turns call recording off and removes the feature for all users of the \
         organisation: confirm to proceed (send confirmDisableForAllUsers: true)"
    );
    let message = server.refused(
        &customer,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "none" })),
        400,
    );
    assert!(
        message.ends_with("(send confirmDisableForAllUsers: true)"),
        "{message}"
    );
    assert!(effective(&server, &customer, "aor=sip:alice@acme.example")["record"].is_object());
    let off = server.ok(
        &customer,
        "PUT",
        RECORDING,
        Some(json!({ "enabled": false, "confirmDisableForAllUsers": true })),
    );
    assert_eq!(
        (&off["enabled"], &off["vendorId"], &off["termsOfServiceUrl"]),
        (&json!(false), &json!("none"), &Value::Null)
    );
    assert_eq!(
        effective(&server, &customer, "aor=sip:alice@acme.example"),
        json!({
            "personId": "alice",
            "doNotRecord": { "reason": "organisationOff",
                             "message": "the organisation's vendor is None" },
        })
    );
    assert_eq!(
        server.ok(&customer, "GET", &users, None)["users"],
        json!([])
    );
    // On again means Dubber, the default vendor, whose terms nobody accepted here yet.
    let (status, body) = server.send(&customer, "PUT", RECORDING, json!({ "enabled": true }));
    assert_eq!((status, &body["vendorId"]), (409, &json!("dubber")));
    server.terminate();
}

fn a_partner_administrator_administers_one_customers_dubber_account_at_most(db: &Db) {
    let tmp = TempDir::new("admin-partner-rule");
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let globex = token(db, &tmp.0, "customer-admin", &["globex"]);
    let server = Server::start(db, &tmp.0);
    let accept = json!({ "termsOfServiceEnabled": true });
    for org in ["acme", "globex"] {
        populate(&server, &partner, org, "UK", &[&format!("user-{org}")]);
        let terms = format!("{RECORDING}/vendors/dubber/termsOfService?orgId={org}");
        server.ok(&partner, "PUT", &terms, Some(accept.clone()));
    }
    let enable = Some(settings(true, "Always", 20));
    server.ok(
        &partner,
        "PUT",
        &format!("{}?orgId=acme", recording_of("user-acme")),
        enable.clone(),
    );
    let partner_id = person_of(&server, &partner);
    let path = format!("{}?orgId=globex", recording_of("user-globex"));
    let message = server.refused(&partner, "PUT", &path, enable.clone(), 409);
    assert_eq!(
        message,
        format!(
            "partner administrator {partner_id} already administers a provider account of \
             organisation acme: a partner administrator may administer accounts of at most one \
             customer"
        )
    );
    // The rule binds the person: another token of theirs is refused the same way.
    let second = token_for(
        db,
        &tmp.0,
        &partner_id,
        "partner-admin",
        &["acme", "globex"],
    );
    assert_ne!(second, partner);
    let again = server.refused(&second, "PUT", &path, enable.clone(), 409);
    assert_eq!(again, message, "a second token of the same person");
    // globex's own administrator enables the user, and administers globex's account.
    server.ok(&globex, "PUT", &recording_of("user-globex"), enable.clone());
    let org = server.ok(&globex, "GET", "/v1/organizations/globex", None);
    assert_eq!(
        org["accounts"][0]["admins"],
        json!([{ "id": person_of(&server, &globex), "role": "customer" }])
    );
    // The partner still manages acme's users it administers.
    server.ok(
        &partner,
        "PUT",
        &format!("{}?orgId=acme", recording_of("user-acme")),
        Some(settings(true, "Always", 60)),
    );
    // The claim that enforces the rule is acme's, in acme's audit trail.
    let trail = server.ok(&partner, "GET", "/v1/audit?orgId=acme", None);
    let claims: Vec<&Value> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "partnerAdmin")
        .collect();
    assert_eq!(claims.len(), 1, "{trail}");
    assert_eq!(
        (&claims[0]["id"], &claims[0]["after"]),
        (&json!(partner_id), &json!({ "orgId": "acme" }))
    );
    // Once acme is gone, the partner may administer another customer's account.
    for path in [
        "/v1/people/user-acme?orgId=acme",
        "/v1/locations/site-acme?orgId=acme",
        "/v1/organizations/acme",
    ] {
        let (status, body) = server.request("DELETE", path, Some(&partner), None);
        assert_eq!(status, 204, "{path}: {body}");
    }
    let newcomer = person("newcomer", "site-globex", &[]);
    server.ok(&partner, "POST", "/v1/people?orgId=globex", Some(newcomer));
    let path = format!("{}?orgId=globex", recording_of("newcomer"));
    server.ok(&partner, "PUT", &path, enable);
    let org = server.ok(&globex, "GET", "/v1/organizations/globex", None);
    assert_eq!(
        org["accounts"][0]["admins"],
        json!([
            { "id": person_of(&server, &globex), "role": "customer" },
            { "id": partner_id, "role": "partner" },
        ])
    );
    server.terminate();
}

/// One partner administrator enabling a person in each of two organisations at the same
/// instant, in several rounds (a fresh partner each): however the two requests interleave,
/// exactly one succeeds and the other is refused, naming the organisation that won, and leaves
/// its organisation and person as they were.
fn a_partner_enabling_in_two_organisations_at_once_becomes_an_administrator_of_one(db: &Db) {
    const ROUNDS: usize = 4;
    let tmp = TempDir::new("admin-partner-race");
    let rounds: Vec<[String; 2]> = (0..ROUNDS)
        .map(|r| [format!("a{r}"), format!("b{r}")])
        .collect();
    let partners: Vec<String> = rounds
        .iter()
        .map(|[a, b]| token(db, &tmp.0, "partner-admin", &[a, b]))
        .collect();
    let server = Server::start(db, &tmp.0);
    let accept = json!({ "termsOfServiceEnabled": true });
    for (orgs, partner) in rounds.iter().zip(&partners) {
        for org in orgs {
            populate(&server, partner, org, "UK", &[&format!("user-{org}")]);
            let terms = format!("{RECORDING}/vendors/dubber/termsOfService?orgId={org}");
            server.ok(partner, "PUT", &terms, Some(accept.clone()));
        }
    }
    let enable = settings(true, "Always", 20);
    for (orgs, partner) in rounds.iter().zip(&partners) {
        let start = std::sync::Barrier::new(2);
        let results: Vec<(u16, Value)> = std::thread::scope(|s| {
            let racers: Vec<_> = orgs
                .iter()
                .map(|org| {
                    let (server, start, enable) = (&server, &start, &enable);
                    let path = format!("{}?orgId={org}", recording_of(&format!("user-{org}")));
                    s.spawn(move || {
                        start.wait();
                        server.send(partner, "PUT", &path, enable.clone())
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let statuses: Vec<u16> = results.iter().map(|(status, _)| *status).collect();
        let winner = match statuses.as_slice() {
            [200, 409] => 0,
            [409, 200] => 1,
            _ => panic!("{orgs:?}: {results:?}"),
        };
        let (won, lost) = (&orgs[winner], &orgs[1 - winner]);
        assert_eq!(
            results[1 - winner].1["message"],
            format!(
                "partner administrator {} already administers a provider account of \
                 organisation {won}: a partner administrator may administer accounts of at most \
                 one customer",
                person_of(&server, partner)
            )
        );
        let admins = |org: &str| {
            let found = server.ok(partner, "GET", &format!("/v1/organizations/{org}"), None);
            found["accounts"]
                .as_array()
                .expect("accounts")
                .iter()
                .map(|a| a["admins"].as_array().expect("admins").len())
                .sum::<usize>()
        };
        assert_eq!((admins(won), admins(lost)), (1, 0), "{orgs:?}");
        let loser = format!("{}?orgId={lost}", recording_of(&format!("user-{lost}")));
        assert_eq!(server.ok(partner, "GET", &loser, None)["enabled"], false);
    }
    server.terminate();
}

fn the_audit_trail_shows_who_changed_what_when_before_and_after(db: &Db) {
    let tmp = TempDir::new("admin-audit");
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let server = Server::start(db, &tmp.0);
    populate(&server, &partner, "acme", "EU", &["alice"]);
    populate(&server, &partner, "globex", "EU", &["gina"]);
    let terms = format!("{RECORDING}/vendors/dubber/termsOfService");
    server.ok(
        &customer,
        "PUT",
        &terms,
        Some(json!({ "termsOfServiceEnabled": true })),
    );
    server.ok(
        &customer,
        "PUT",
        &recording_of("alice"),
        Some(settings(true, "Always", 20)),
    );

    let trail = server.ok(&customer, "GET", "/v1/audit", None);
    let items = trail["items"].as_array().expect("items");
    let summary: Vec<(&str, &str, &str, bool, bool)> = items
        .iter()
        .map(|i| {
            let actor = i["actor"].as_str().expect("actor");
            let role = actor.split(':').next().expect("role");
            (
                role,
                i["kind"].as_str().expect("kind"),
                i["id"].as_str().expect("id"),
                i["before"].is_null(),
                i["after"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("partner-admin", "organisation", "acme", true, false),
            ("partner-admin", "location", "site-acme", true, false),
            (
                "partner-admin",
                "aor",
                "sip:alice@acme.example",
                true,
                false
            ),
            ("partner-admin", "user", "alice", true, false),
            ("customer-admin", "organisation", "acme", false, false),
            ("customer-admin", "organisation", "acme", false, false),
            ("customer-admin", "user", "alice", false, false),
        ],
        "{trail}"
    );
    let customer_actor = format!("customer-admin:{}", token_id(&server, &customer));
    let enabling = &items[6];
    assert_eq!(enabling["actor"], customer_actor.as_str());
    // Before and after speak the API's names: a person as GET /v1/people/{id} shows them,
    // their settings as GET .../features/callRecording does.
    assert_eq!(
        (
            &enabling["before"]["callRecording"]["enabled"],
            &enabling["after"]["callRecording"]["enabled"]
        ),
        (&json!(false), &json!(true))
    );
    assert_eq!(enabling["after"]["firstName"], "ALICE");
    assert_eq!(enabling["after"]["callRecording"]["record"], "Always");
    assert_eq!(
        enabling["after"]["callRecording"]["externalIdentifier"],
        "alice"
    );
    // An organisation as GET /v1/organizations/{orgId} shows it.
    let created = &items[0]["after"];
    assert_eq!(created["displayName"], "ACME Ltd");
    assert_eq!(created["vendorId"], "dubber");
    assert_eq!(created["callRecordingServiceEnabled"], true);
    assert!(created["name"].is_null() && created["serviceEnabled"].is_null());
    let terms_change = &items[4];
    assert_eq!(terms_change["before"]["termsOfService"], json!([]));
    assert_eq!(
        terms_change["after"]["termsOfService"][0]["provider"],
        "dubber"
    );
    assert!(items.iter().all(|i| {
        let at = i["at"].as_str().expect("at");
        callrec::time::Time::parse_rfc3339(at).is_some()
    }));
    assert_eq!(trail["next"], items[6]["seq"]);

    // Paging: `since` the last one seen, `limit` at a time; only this organisation's changes.
    let first = server.ok(&customer, "GET", "/v1/audit?limit=2", None);
    assert_eq!(first["items"].as_array().expect("items").len(), 2);
    let rest = server.ok(
        &customer,
        "GET",
        &format!("/v1/audit?since={}", first["next"]),
        None,
    );
    let rest = rest["items"].as_array().expect("items");
    assert_eq!(rest.len(), 5);
    assert_eq!(rest[0], items[2]);
    let message = server.refused(&customer, "GET", "/v1/audit?limit=0", None, 400);
    assert_eq!(message, "limit: 0 is outside 1-1000");
    let message = server.refused(&customer, "GET", "/v1/audit?since=yesterday", None, 400);
    assert!(message.contains("since"), "{message}");
    let theirs = server.ok(&partner, "GET", "/v1/audit?orgId=globex", None);
    let theirs: Vec<&str> = theirs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        theirs,
        ["globex", "site-globex", "sip:gina@globex.example", "gina"]
    );
    server.terminate();
}

/// Every policy route, with valid bodies, against organisation `org` (whose location is
/// `site-{org}` and person `user-{org}`).
fn every_route(org: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let q = format!("orgId={org}");
    let user = format!("user-{org}");
    let site = format!("site-{org}");
    let people = format!("/v1/people/{user}");
    vec![
        ("GET", format!("/v1/organizations/{org}"), None),
        (
            "PUT",
            format!("/v1/organizations/{org}"),
            Some(json!({ "displayName": "Mine" })),
        ),
        ("DELETE", format!("/v1/organizations/{org}"), None),
        ("POST", "/v1/organizations".into(), Some(new_org(org, "US"))),
        ("GET", format!("/v1/locations?{q}"), None),
        (
            "POST",
            format!("/v1/locations?{q}"),
            Some(json!({ "id": "new", "name": "New" })),
        ),
        ("GET", format!("/v1/locations/{site}?{q}"), None),
        ("DELETE", format!("/v1/locations/{site}?{q}"), None),
        ("GET", format!("/v1/people?{q}"), None),
        (
            "POST",
            format!("/v1/people?{q}"),
            Some(person("newcomer", &site, &[])),
        ),
        ("GET", format!("{people}?{q}"), None),
        (
            "PUT",
            format!("{people}?{q}"),
            Some(person(&user, &site, &[])),
        ),
        ("DELETE", format!("{people}?{q}"), None),
        ("GET", format!("{people}/features/callRecording?{q}"), None),
        (
            "PUT",
            format!("{people}/features/callRecording?{q}"),
            Some(settings(true, "Always", 20)),
        ),
        (
            "GET",
            format!("{people}/features/callRecording/entitlement?{q}"),
            None,
        ),
        (
            "PUT",
            format!("{people}/features/callRecording/entitlement?{q}"),
            Some(json!({ "entitlement": "ai" })),
        ),
        ("GET", format!("{RECORDING}?{q}"), None),
        (
            "PUT",
            format!("{RECORDING}?{q}"),
            Some(json!({ "enabled": false, "confirmDisableForAllUsers": true })),
        ),
        ("GET", format!("{RECORDING}/vendors?{q}"), None),
        (
            "PUT",
            format!("{RECORDING}/vendor?{q}"),
            Some(json!({ "vendorId": "none", "confirmDisableForAllUsers": true })),
        ),
        (
            "GET",
            format!("{RECORDING}/vendors/dubber/termsOfService?{q}"),
            None,
        ),
        (
            "PUT",
            format!("{RECORDING}/vendors/dubber/termsOfService?{q}"),
            Some(json!({ "termsOfServiceEnabled": true })),
        ),
        (
            "PUT",
            format!("{RECORDING}/vendors/imagicle/account?{q}"),
            Some(json!({ "accountId": "IMG-1" })),
        ),
        (
            "GET",
            format!("{RECORDING}/vendors/imagicle/users?{q}"),
            None,
        ),
        (
            "GET",
            format!("/v1/telephony/config/locations/{site}/callRecording/vendor?{q}"),
            None,
        ),
        (
            "PUT",
            format!("/v1/telephony/config/locations/{site}/callRecording/vendor?{q}"),
            Some(json!({ "orgDefaultEnabled": false, "id": "none" })),
        ),
        (
            "GET",
            format!("{RECORDING}/effectivePolicy?{q}&personId={user}"),
            None,
        ),
        (
            "GET",
            format!("{RECORDING}/effectivePolicy?{q}&aor=sip:{user}@{org}.example"),
            None,
        ),
        ("GET", format!("/v1/audit?{q}"), None),
    ]
}

fn each_role_reaches_only_its_organisations_on_every_route(db: &Db) {
    let tmp = TempDir::new("admin-isolation");
    let partner = token(db, &tmp.0, "partner-admin", &["acme", "globex"]);
    let other_partner = token(db, &tmp.0, "partner-admin", &["initech"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let reader = token(db, &tmp.0, "read-only", &["acme", "globex"]);
    let server = Server::start(db, &tmp.0);
    populate(&server, &partner, "acme", "EU", &["user-acme"]);
    populate(&server, &partner, "globex", "EU", &["user-globex"]);
    populate(&server, &other_partner, "initech", "US", &["user-initech"]);
    let audit_len = |token: &str, org: &str| {
        let trail = server.ok(token, "GET", &format!("/v1/audit?orgId={org}"), None);
        trail["items"].as_array().expect("items").len()
    };
    let before = [
        audit_len(&partner, "acme"),
        audit_len(&partner, "globex"),
        audit_len(&other_partner, "initech"),
    ];
    let mut forbidden = 0;

    // Every route, reads and writes alike, refuses another organisation's data. Creating an
    // organisation is refused to a role that never may before its body is read.
    let no_access = |org: &str| format!("this token has no access to organisation {org}");
    let read_only = "this token is read-only: it cannot change anything";
    let customers_create = "only a partner administrator creates organisations";
    let outsiders = [
        (&customer, "globex", customers_create),
        (&customer, "initech", customers_create),
        (&partner, "initech", &*no_access("initech")),
        (&other_partner, "acme", &*no_access("acme")),
        (&reader, "initech", read_only),
    ];
    for (token, org, refused_create) in outsiders {
        for (method, path, body) in every_route(org) {
            let message = server.refused(token, method, &path, body, 403);
            let expected = match (method, path.as_str()) {
                ("POST", "/v1/organizations") => refused_create.to_string(),
                _ => no_access(org),
            };
            assert_eq!(message, expected, "{method} {path}");
            forbidden += 1;
        }
    }
    // Naming another organisation's ids within one's own finds nothing.
    for path in [
        "/v1/people/user-globex".to_string(),
        recording_of("user-globex"),
        "/v1/locations/site-globex".to_string(),
        format!("{RECORDING}/effectivePolicy?personId=user-globex"),
        format!("{RECORDING}/effectivePolicy?aor=sip:user-globex@globex.example"),
    ] {
        server.refused(&customer, "GET", &path, None, 404);
    }
    let message = server.refused(
        &customer,
        "PUT",
        &recording_of("user-globex"),
        Some(settings(false, "Never", 20)),
        404,
    );
    assert_eq!(message, "no person user-globex in organisation acme");
    assert_eq!(ids(&server.get(&customer, "/v1/organizations").1), ["acme"]);
    assert_eq!(
        ids(&server.get(&other_partner, "/v1/organizations").1),
        ["initech"]
    );

    // A read-only token reads its organisations and changes nothing.
    for org in ["acme", "globex"] {
        for (method, path, body) in every_route(org) {
            if method == "GET" {
                let (status, response) = server.request(method, &path, Some(&reader), None);
                assert_eq!(status, 200, "{path}: {response}");
            } else {
                let message = server.refused(&reader, method, &path, body, 403);
                assert_eq!(
                    message,
                    "this token is read-only: it cannot change anything"
                );
                forbidden += 1;
            }
        }
    }
    // A partner reads both of its organisations; a customer administrator its own.
    for (token, org) in [
        (&partner, "acme"),
        (&partner, "globex"),
        (&customer, "acme"),
    ] {
        for (method, path, _) in every_route(org) {
            if method == "GET" {
                let (status, response) = server.request(method, &path, Some(token), None);
                assert_eq!(status, 200, "{path}: {response}");
            }
        }
    }
    let after = [
        audit_len(&partner, "acme"),
        audit_len(&partner, "globex"),
        audit_len(&other_partner, "initech"),
    ];
    assert_eq!(before, after, "a refused request changed something");
    let (_, metrics) = server.request("GET", "/metrics", None, None);
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains(&format!("callrec_admin_forbidden_total {forbidden}\n")),
        "{forbidden}: {metrics}"
    );
    server.terminate();
}

fn a_dubber_entitlement_change_moves_the_persons_stored_recordings(db: &Db) {
    let tmp = TempDir::new("admin-entitlement");
    std::fs::write(tmp.path("callrec.toml"), "[store]\nurl = \"store\"\n").expect("config");
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    for (user, call) in [("alice", "call-a"), ("bob", "call-b"), ("carol", "call-c")] {
        let output = Command::new(env!("CARGO_BIN_EXE_callrec"))
            .current_dir(&tmp.0)
            .args([
                "record",
                &capture,
                "--config",
                "callrec.toml",
                "--org",
                "acme",
            ])
            .args(["--user", user, "--call-id", call, "--plan", "dubber-go"])
            .output()
            .expect("record");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
    }
    let store = tmp.path("store");
    let stored = files(&store);
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(
        stored.iter().all(|f| f.starts_with("recordings/30d/acme/")),
        "{stored:?}"
    );

    let partner = token(db, &tmp.0, "partner-admin", &["acme"]);
    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let server = Server::start_with(db, &tmp.0, &["--config", "callrec.toml"]);
    populate(&server, &partner, "acme", "EU", &["alice", "bob"]);
    let accept = Some(json!({ "termsOfServiceEnabled": true }));
    let terms = format!("{RECORDING}/vendors/dubber/termsOfService");
    server.ok(&customer, "PUT", &terms, accept.clone());
    // carol's location records with Imagicle.
    let imagicle_terms = format!("{RECORDING}/vendors/imagicle/termsOfService");
    server.ok(&customer, "PUT", &imagicle_terms, accept);
    let lyon = json!({ "id": "lyon", "name": "Lyon", "vendorId": "imagicle" });
    server.ok(&customer, "POST", "/v1/locations", Some(lyon));
    let carol = person("carol", "lyon", &["sip:carol@acme.example"]);
    server.ok(&customer, "POST", "/v1/people", Some(carol));
    server.ok(
        &customer,
        "PUT",
        &recording_of("alice"),
        Some(settings(true, "Always", 20)),
    );

    let entitlement = format!("{}/entitlement", recording_of("alice"));
    assert_eq!(
        server.ok(&customer, "GET", &entitlement, None),
        json!({ "entitlement": "go", "plan": "dubber-go" })
    );
    let message = server.refused(
        &customer,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "gold" })),
        400,
    );
    assert_eq!(
        message,
        "entitlement: 'gold' is not one of go, standard, ai"
    );

    // Free → paid: alice's recording moves to unlimited retention; bob's stays.
    let paid = server.ok(
        &customer,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "standard" })),
    );
    assert_eq!(paid["entitlement"], "standard");
    assert_eq!(
        paid["migration"],
        json!({ "orgId": "acme", "personId": "alice", "plan": "dubber-standard",
                "from": "30d", "to": "unlimited" })
    );
    let storage = &paid["storage"];
    assert_eq!(storage["destination"], "store");
    assert_eq!(
        storage["report"],
        json!({ "moved": 1, "retagged": 0, "unchanged": 0, "leftoversCleaned": 0,
                "skipped": 0, "incomplete": 0, "held": 0 })
    );
    let moved = &storage["events"][0];
    assert_eq!(moved["event"], "moved");
    let (from, to) = (
        moved["from"].as_str().expect("from"),
        moved["to"].as_str().expect("to"),
    );
    assert!(
        from.starts_with("recordings/30d/acme/") && from.ends_with("/call-a/"),
        "{from}"
    );
    assert!(
        to.starts_with("recordings/unlimited/acme/") && to.ends_with("/call-a/"),
        "{to}"
    );
    let stored = files(&store);
    let (alices, others): (Vec<&String>, Vec<&String>) =
        stored.iter().partition(|f| f.contains("/call-a/"));
    assert_eq!(alices.len(), 2, "{stored:?}");
    assert!(alices.iter().all(|f| f.starts_with(to)), "{stored:?}");
    assert_eq!(others.len(), 4, "{stored:?}");
    assert!(
        others.iter().all(|f| f.starts_with("recordings/30d/acme/")),
        "{stored:?}"
    );
    let metadata = store.join(format!("{to}call-a.json"));
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(&metadata).expect("metadata")).expect("json");
    assert_eq!(
        (
            &metadata["storage"]["plan"],
            &metadata["storage"]["retention"]
        ),
        (&json!("dubber-standard"), &json!("unlimited"))
    );

    // The same entitlement again changes nothing; Standard → AI only re-tags in place.
    let again = server.ok(
        &customer,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "standard" })),
    );
    assert_eq!(
        again,
        json!({ "entitlement": "standard", "plan": "dubber-standard", "migration": null })
    );
    let ai = server.ok(
        &customer,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "ai" })),
    );
    assert_eq!(ai["storage"]["report"]["retagged"], 1);
    assert_eq!(ai["storage"]["report"]["moved"], 0);
    assert_eq!(files(&store), stored);
    let decision = effective(&server, &customer, "personId=alice");
    assert_eq!(
        (
            &decision["record"]["plan"],
            &decision["record"]["retention"]
        ),
        (&json!("dubber-ai"), &json!("unlimited"))
    );

    // carol records with Imagicle: her entitlement changes, her recordings do not move.
    let carols = format!("{}/entitlement", recording_of("carol"));
    let kept = server.ok(
        &customer,
        "PUT",
        &carols,
        Some(json!({ "entitlement": "standard" })),
    );
    assert_eq!(
        kept,
        json!({ "entitlement": "standard", "plan": "dubber-standard", "migration": null })
    );
    assert_eq!(files(&store), stored);
    server.terminate();
}

fn concurrent_changes_to_one_organisation_are_all_kept(db: &Db) {
    let tmp = TempDir::new("admin-concurrent");
    let partner = token(db, &tmp.0, "partner-admin", &["acme"]);
    let config = registered_destinations(&tmp.0);
    let server = Server::start_with(db, &tmp.0, &["--config", &config]);
    populate(&server, &partner, "acme", "US", &[]);
    let terms = |vendor: &str| format!("{RECORDING}/vendors/{vendor}/termsOfService");
    let accept = json!({ "termsOfServiceEnabled": true });
    let changes = [
        (terms("dubber"), accept.clone()),
        (terms("imagicle"), accept.clone()),
        (terms("callcabinet"), accept),
        (
            "/v1/organizations/acme".into(),
            json!({ "displayName": "Acme Renamed" }),
        ),
        (
            "/v1/organizations/acme".into(),
            json!({ "customerStorage": { "destination": "acme-rec" } }),
        ),
        (
            "/v1/organizations/acme".into(),
            json!({ "callRecordingServiceEnabled": false }),
        ),
    ];
    let start = std::sync::Barrier::new(changes.len());
    std::thread::scope(|s| {
        for (path, body) in &changes {
            let (server, partner, start) = (&server, &partner, &start);
            s.spawn(move || {
                start.wait();
                server.ok(partner, "PUT", path, Some(body.clone()));
            });
        }
    });
    let org = server.ok(&partner, "GET", "/v1/organizations/acme", None);
    let accepted: Vec<&Value> = org["termsOfService"]
        .as_array()
        .expect("terms")
        .iter()
        .map(|t| &t["provider"])
        .collect();
    assert_eq!(accepted.len(), 3, "{org}");
    for provider in ["dubber", "imagicle", "callcabinet"] {
        assert!(accepted.contains(&&json!(provider)), "{org}");
    }
    assert_eq!(
        (
            &org["displayName"],
            &org["customerStorage"],
            &org["callRecordingServiceEnabled"]
        ),
        (
            &json!("Acme Renamed"),
            &json!({ "destination": "acme-rec" }),
            &json!(false)
        )
    );
    // One audited update per change, each from the one before.
    let trail = server.ok(&partner, "GET", "/v1/audit", None);
    let updates: Vec<&Value> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "organisation" && !i["before"].is_null())
        .collect();
    assert_eq!(updates.len(), changes.len(), "{trail}");
    for pair in updates.windows(2) {
        assert_eq!(pair[0]["after"], pair[1]["before"]);
    }
    server.terminate();
}

/// A policy database as the first release left it (its schema, with the `lookup` column, and
/// the documents that release wrote for an organisation with a recorded person), opened by
/// this build: migrated, and its documents served and changed through the API.
fn a_first_release_database_is_upgraded_and_served(db: &Db) {
    let tmp = TempDir::new("admin-upgrade");
    let accepted = r#"{"id":"t-customer","role":"customer"}"#;
    let at = "2026-01-05T09:00:00.000000000Z";
    let org_v1 = format!(
        r#"{{"id":"acme","name":"ACME Ltd","region":"EU","provider":"Dubber","serviceEnabled":true,"terms":[{{"provider":"Dubber","acceptedBy":{accepted},"acceptedAt":"{at}"}}],"accounts":[{{"provider":"Dubber","externalId":"acme","createdBy":{accepted},"createdAt":"{at}","admins":[{accepted}]}}]}}"#
    );
    let location = r#"{"id":"paris","org":"acme","name":"Paris","provider":"OrganisationDefault"}"#;
    let user = r#"{"id":"alice","org":"acme","location":"paris","aors":["sip:alice@acme.example"],"person":{"firstName":"Alice","lastName":"Martin","email":"alice@example.com","timeZone":"Europe/Paris"},"licence":"Professional","enabled":true,"settings":{"mode":"Always","recordVoicemail":false,"announcement":{"internalCalls":false,"pstnCalls":false},"notification":{"type":"Beep","enabled":false},"reminder":{"enabled":false,"interval":20}},"entitlement":"dubber-go","platform":{"serviceProvider":"acme","externalGroup":"paris","externalIdentifier":"alice"}}"#;
    let mut statements = vec!["CREATE TABLE schema_version (version BIGINT PRIMARY KEY)".into()];
    statements.extend(MIGRATIONS[0].iter().map(|s| s.to_string()));
    statements.push("INSERT INTO schema_version (version) VALUES (1)".into());
    let docs = [
        ("organisation", "acme", org_v1.as_str()),
        ("location", "paris", location),
        ("user", "alice", user),
        ("aor", "sip:alice@acme.example", r#"{"user":"alice"}"#),
    ];
    for (seq, (kind, id, body)) in (1..).zip(docs) {
        statements.push(format!(
            "INSERT INTO documents (kind, id, org_id, lookup, version, body, updated_at) \
             VALUES ('{kind}', '{id}', 'acme', NULL, 1, '{body}', '{at}')"
        ));
        statements.push(format!(
            "INSERT INTO audit (seq, org_id, kind, id, actor, at, before, after) \
             VALUES ({seq}, 'acme', '{kind}', '{id}', 'partner-admin:t-partner', '{at}', NULL, \
             '{body}')"
        ));
    }
    statements.push("UPDATE sequences SET value = 4 WHERE name = 'audit'".into());
    db.execute(&tmp.0, &statements);

    let customer = token(db, &tmp.0, "customer-admin", &["acme"]);
    let server = Server::start(db, &tmp.0);
    let org = server.ok(&customer, "GET", "/v1/organizations/acme", None);
    assert_eq!(
        (
            &org["displayName"],
            &org["vendorId"],
            &org["accounts"][0]["provider"]
        ),
        (&json!("ACME Ltd"), &json!("dubber"), &json!("dubber"))
    );
    let decision = effective(&server, &customer, "aor=sip:alice@acme.example");
    assert_eq!(
        (&decision["personId"], &decision["record"]["provider"]),
        (&json!("alice"), &json!("dubber"))
    );
    let renamed = json!({ "displayName": "Acme Corp" });
    server.ok(&customer, "PUT", "/v1/organizations/acme", Some(renamed));
    let trail = server.ok(&customer, "GET", "/v1/audit", None);
    let items = trail["items"].as_array().expect("items");
    assert_eq!(items.len(), 5, "{trail}");
    assert_eq!(items[4]["seq"], 5);
    // The audit trail speaks the API's names (an organisation as GET shows it).
    assert_eq!(items[4]["before"]["displayName"], "ACME Ltd");
    assert_eq!(items[4]["after"]["displayName"], "Acme Corp");
    // Every stored document and audit row now spells providers by id (an old spelling would
    // not decode, and would be shown as stored, without `vendorId`).
    assert_eq!(items[0]["after"]["termsOfService"][0]["provider"], "dubber");
    assert_eq!(items[0]["after"]["vendorId"], "dubber");
    assert_eq!(items[1]["after"]["provider"], "orgDefault");
    server.terminate();
}

/// `callrec token ARGS` on the scenario's database: its JSON lines.
fn token_command(db: &Db, dir: &Path, args: &[&str]) -> Vec<Value> {
    let output = db
        .command(dir)
        .arg("token")
        .args(args)
        .args(db.args())
        .output()
        .expect("callrec token");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "token {args:?}: {stderr}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn tokens_expire_and_a_revoked_one_is_refused_by_every_server(db: &Db) {
    let tmp = TempDir::new("admin-token-life");
    let dir = &tmp.0;
    let partner = token_for(
        db,
        dir,
        "pat@example.com",
        "partner-admin",
        &["acme", "globex"],
    );
    let customer = token_for(db, dir, "cat@example.com", "customer-admin", &["acme"]);
    let other = token_for(db, dir, "oz@example.com", "customer-admin", &["initech"]);
    let issued = token_command(
        db,
        dir,
        &[
            "create",
            "--person",
            "sam@example.com",
            "--role",
            "read-only",
            "--org",
            "acme",
            "--expires-in",
            "2s",
        ],
    );
    let short = issued[0]["token"].as_str().expect("token").to_string();
    // Two servers on one policy store, as a fleet runs (each with a spool of its own).
    let first = Server::start(db, dir);
    let mut command = db.command(dir);
    command.env("CALLREC_STORE_SPOOL", "second-spool");
    let second = Server(AdminServer::start(command, &db.args()));
    for server in [&first, &second] {
        assert_eq!(person_of(server, &customer), "cat@example.com");
    }

    // The partner sees the tokens within its organisations, never the token itself.
    let listed = first.ok(&partner, "GET", "/v1/tokens", None);
    let people: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["person"].as_str().expect("person"))
        .collect();
    assert_eq!(
        people,
        ["pat@example.com", "cat@example.com", "sam@example.com"]
    );
    assert!(!listed.to_string().contains(&customer), "{listed}");
    // The other organisation's administrator sees only its own.
    let theirs = first.ok(&other, "GET", "/v1/tokens", None);
    assert_eq!(
        theirs["items"].as_array().map(Vec::len),
        Some(1),
        "{theirs}"
    );
    let customer_id = token_id(&first, &customer);
    let path = format!("/v1/tokens/{customer_id}");
    assert_eq!(
        first.refused(&other, "DELETE", &path, None, 404),
        format!("no token {customer_id} within this token's organisations")
    );

    // Revoked through one server: the other refuses it at its next request.
    let revoked = first.ok(&partner, "DELETE", &path, None);
    assert_eq!(
        (revoked["state"].as_str(), revoked["person"].as_str()),
        (Some("revoked"), Some("cat@example.com"))
    );
    let message = second.refused(&customer, "GET", "/v1/whoami", None, 401);
    assert!(message.starts_with("token revoked at "), "{message}");
    assert!(first
        .refused(&customer, "GET", "/v1/whoami", None, 401)
        .starts_with("token revoked"));

    // Expired: refused, and said so, once its life is over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let expired = loop {
        let (status, body) = second.request("GET", "/v1/whoami", Some(&short), None);
        if status == 401 {
            break body["message"].as_str().expect("message").to_string();
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the 2 s token never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(expired.starts_with("token expired at "), "{expired}");

    // The command line lists and revokes by id, as the API does.
    let list = token_command(db, dir, &["list"]);
    let states: Vec<(&str, &str)> = list
        .iter()
        .filter(|l| l["type"] == "token_info")
        .map(|l| (l["person"].as_str().unwrap(), l["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("pat@example.com", "active"),
            ("cat@example.com", "revoked"),
            ("oz@example.com", "active"),
            ("sam@example.com", "expired"),
        ]
    );
    assert_eq!(
        list.last().expect("summary"),
        &json!({"type": "summary", "tokens": 4, "active": 2, "expired": 1, "revoked": 1})
    );
    let partner_id = token_id(&second, &partner);
    let out = token_command(db, dir, &["revoke", &partner_id]);
    assert_eq!(
        (out[0]["type"].as_str(), out[0]["already"].as_bool()),
        (Some("revoked"), Some(false))
    );
    assert!(second
        .refused(&partner, "GET", "/v1/tokens", None, 401)
        .starts_with("token revoked"));
    let again = token_command(db, dir, &["revoke", &partner_id]);
    assert_eq!(again[0]["already"], true);

    // Guessing is slowed down: ten failures in a row from one source (the revoked partner
    // token's refusal just now was the first; a success forgets earlier ones) and even a
    // good token from it is refused unread until the window ends.
    let mut guesses = 0;
    loop {
        let bogus = format!("crt_guess{guesses}");
        match second.request("GET", "/v1/whoami", Some(&bogus), None).0 {
            401 => guesses += 1,
            429 => break,
            other => panic!("guess {guesses}: {other}"),
        }
        assert!(guesses < 100, "never slowed down");
    }
    assert_eq!(
        guesses, 9,
        "refused at the eleventh attempt after the tenth failure"
    );
    let (status, body) = second.request("GET", "/v1/whoami", Some(&other), None);
    assert_eq!(status, 429, "{body}");
    let wait = body["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=60).contains(&wait), "{body}");
    let (_, metrics) = second.request("GET", "/metrics", None, None);
    let metrics = metrics.as_str().expect("text");
    assert!(
        metrics.contains("callrec_admin_throttled_total 2\n"),
        "{metrics}"
    );
    // The other server keeps its own count: the source is only slowed down where it failed.
    assert_eq!(person_of(&first, &other), "oz@example.com");
    first.terminate();
    second.terminate();
}
