//! The admin API as a client of the calling platform's published API finds it, over real
//! HTTP (`callrec serve` on a free port, its own SQLite policy database): a PUT of a person's
//! call recording settings may carry any subset of the fields, including the platform's
//! fields callrec only stores; the Bearer scheme is read in any case; unknown routes and
//! methods answer JSON messages; a body of the wrong shape is refused naming the field and
//! what it accepts.

mod common;

use common::admin::{create_token, AdminServer, Response};
use common::TempDir;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const RECORDING: &str = "/v1/telephony/config/callRecording";
const ALICE: &str = "/v1/people/alice/features/callRecording";

/// `callrec` run in `dir`, with no policy database inherited from the environment.
fn callrec(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir).env_remove("CALLREC_POLICY_DB");
    command
}

/// A server with organisation `acme` (Dubber, terms accepted), location `paris` and the
/// person `alice` there, never enabled; and a customer administrator's token.
struct Acme {
    server: AdminServer,
    token: String,
    partner: String,
    _dir: TempDir,
}

impl Acme {
    fn start(test: &str) -> Acme {
        let dir = TempDir::new(test);
        let partner = create_token(callrec(&dir.0), "partner-admin", &["acme"], &[]);
        let token = create_token(callrec(&dir.0), "customer-admin", &["acme"], &[]);
        let server = AdminServer::start(callrec(&dir.0), &[]);
        let acme = Acme {
            server,
            token,
            partner,
            _dir: dir,
        };
        let org = json!({ "id": "acme", "displayName": "ACME Ltd", "region": "EU" });
        acme.ok_as(&acme.partner, "POST", "/v1/organizations", Some(org));
        let paris = json!({ "id": "paris", "name": "Paris" });
        acme.ok("POST", "/v1/locations", Some(paris));
        let alice = json!({
            "id": "alice", "locationId": "paris", "firstName": "Alice", "lastName": "Martin",
            "email": "alice@example.com", "timeZone": "Europe/Paris",
            "callingLicense": "Professional", "sipAddresses": ["sip:alice@acme.example"],
        });
        acme.ok("POST", "/v1/people", Some(alice));
        let accept = json!({ "termsOfServiceEnabled": true });
        let terms = format!("{RECORDING}/vendors/dubber/termsOfService");
        acme.ok("PUT", &terms, Some(accept));
        acme
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) = self
            .server
            .request(method, path, Some(&self.token), body.as_ref());
        (status, body)
    }

    fn ok_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, _, response) = self
            .server
            .request(method, path, Some(token), body.as_ref());
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {response}"
        );
        response
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.ok_as(&self.token, method, path, body)
    }

    /// A PUT of alice's settings that must succeed; what a GET then shows (the same).
    fn put_alice(&self, body: Value) -> Value {
        let put = self.ok("PUT", ALICE, Some(body));
        let got = self.ok("GET", ALICE, None);
        assert_eq!(put, got, "the PUT's answer is what is stored");
        got
    }

    /// A request that must be refused with `status`; its message.
    fn refused(&self, method: &str, path: &str, body: Value, status: u16) -> String {
        let (got, response) = self.send(method, path, Some(body));
        assert_eq!(got, status, "{method} {path}: {response}");
        response["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {response}"))
            .to_string()
    }
}

/// alice's settings once enabled with nothing else said: the defaults, provisioned.
fn enabled_defaults() -> Value {
    json!({
        "enabled": true,
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
        "postCallRecordingSettings": {
            "summaryAndActionItemsEnabled": false, "transcriptEnabled": false,
        },
        "serviceProvider": "acme",
        "externalGroup": "paris",
        "externalIdentifier": "alice",
    })
}

#[test]
fn a_partial_put_changes_only_the_fields_sent() {
    let acme = Acme::start("lenient-partial");
    // A person never provisioned, enabled with one field: the defaults for the rest.
    let mut expected = enabled_defaults();
    assert_eq!(acme.put_alice(json!({ "enabled": true })), expected);

    // Nested objects merge field by field.
    let sent = json!({ "record": "Always with Pause/Resume", "notification": { "enabled": true } });
    expected["record"] = json!("Always with Pause/Resume");
    expected["notification"] = json!({ "type": "Beep", "enabled": true });
    assert_eq!(acme.put_alice(sent), expected);
    expected["repeat"] = json!({ "interval": 45, "enabled": false });
    assert_eq!(
        acme.put_alice(json!({ "repeat": { "interval": 45 } })),
        expected
    );
    expected["repeat"]["enabled"] = json!(true);
    assert_eq!(
        acme.put_alice(json!({ "repeat": { "enabled": true } })),
        expected
    );

    // Disabling with nothing else said: back to the defaults, provisioning kept.
    let mut disabled = enabled_defaults();
    disabled["enabled"] = json!(false);
    assert_eq!(acme.put_alice(json!({ "enabled": false })), disabled);
    // Settings for a disabled person would be dropped: refused, nothing stored.
    let message = acme.refused("PUT", ALICE, json!({ "record": "Always" }), 409);
    assert_eq!(
        message,
        "call recording is disabled for user alice: enable it before changing its settings"
    );
    assert_eq!(acme.ok("GET", ALICE, None), disabled);
}

#[test]
fn the_platforms_other_fields_are_accepted_stored_and_returned() {
    let acme = Acme::start("lenient-fields");
    let mut expected = enabled_defaults();
    acme.put_alice(json!({ "enabled": true }));

    // The single announcement switch sets both kinds of call.
    expected["startStopAnnouncementEnabled"] = json!(true);
    expected["startStopAnnouncement"] =
        json!({ "internalCallsEnabled": true, "pstnCallsEnabled": true });
    let sent = json!({ "startStopAnnouncementEnabled": true });
    assert_eq!(acme.put_alice(sent), expected);
    // A GET's body with the per-kind object edited: the switch it derives follows.
    let mut edited = acme.ok("GET", ALICE, None);
    edited["startStopAnnouncement"]["internalCallsEnabled"] = json!(false);
    expected["startStopAnnouncement"]["internalCallsEnabled"] = json!(false);
    assert_eq!(acme.put_alice(edited), expected);
    // Both edited, and disagreeing: refused.
    let contradiction = json!({
        "startStopAnnouncementEnabled": false,
        "startStopAnnouncement": { "internalCallsEnabled": true },
    });
    let message = acme.refused("PUT", ALICE, contradiction, 400);
    assert_eq!(
        message,
        "startStopAnnouncementEnabled: 'false' is not what startStopAnnouncement says (true: \
         internal calls true, PSTN calls true)"
    );
    assert_eq!(acme.ok("GET", ALICE, None), expected);

    // The access switches and the post-call settings are stored as sent.
    let sent = json!({
        "callRecordingAccessSettings": {
            "deleteRecordingsEnabled": false, "shareRecordingsEnabled": false,
        },
        "postCallRecordingSettings": { "transcriptEnabled": true },
    });
    expected["callRecordingAccessSettings"]["deleteRecordingsEnabled"] = json!(false);
    expected["callRecordingAccessSettings"]["shareRecordingsEnabled"] = json!(false);
    expected["postCallRecordingSettings"]["transcriptEnabled"] = json!(true);
    assert_eq!(acme.put_alice(sent), expected);

    // Disabling resets the call settings, not what alice may do with her recordings.
    let disabled = acme.put_alice(json!({ "enabled": false }));
    assert_eq!(
        disabled["callRecordingAccessSettings"],
        json!({
            "viewAndPlayRecordingsEnabled": true, "downloadRecordingsEnabled": true,
            "deleteRecordingsEnabled": false, "shareRecordingsEnabled": false,
        })
    );
    assert_eq!(
        disabled["postCallRecordingSettings"],
        json!({ "summaryAndActionItemsEnabled": false, "transcriptEnabled": false })
    );
    // ... and they can be changed while disabled.
    let sent = json!({ "callRecordingAccessSettings": { "viewAndPlayRecordingsEnabled": false } });
    let changed = acme.put_alice(sent);
    assert_eq!(
        changed["callRecordingAccessSettings"]["viewAndPlayRecordingsEnabled"],
        false
    );
    assert_eq!(changed["enabled"], false);
}

#[test]
fn notification_type_none_is_accepted_and_announces_nothing() {
    let acme = Acme::start("lenient-none");
    let policy = format!("{RECORDING}/effectivePolicy?personId=alice");
    let beep = json!({
        "enabled": true, "record": "Always with Pause/Resume",
        "notification": { "type": "Beep", "enabled": true },
    });
    acme.put_alice(beep);
    let decision = acme.ok("GET", &policy, None);
    assert_eq!(decision["record"]["pauseResumeNotification"], "Beep");

    let settings = acme.put_alice(json!({ "notification": { "type": "None" } }));
    assert_eq!(
        settings["notification"],
        json!({ "type": "None", "enabled": true })
    );
    let decision = acme.ok("GET", &policy, None);
    assert_eq!(decision["record"]["mode"], "Always with Pause/Resume");
    assert!(
        decision["record"]["pauseResumeNotification"].is_null(),
        "{decision}"
    );
}

#[test]
fn the_bearer_scheme_is_read_in_any_case() {
    let acme = Acme::start("lenient-bearer");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {}", acme.token);
        let response = acme.server.exchange(
            "GET",
            "/v1/whoami",
            &[("Authorization", header.as_str())],
            None,
        );
        assert_eq!(response.status, 200, "{scheme}: {}", response.body);
        assert_eq!(response.body["role"], "customer-admin", "{scheme}");
    }
    let basic = format!("Basic {}", acme.token);
    let response = acme.server.exchange(
        "GET",
        "/v1/whoami",
        &[("Authorization", basic.as_str())],
        None,
    );
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body["message"],
        "an Authorization: Bearer token is required"
    );
}

/// A JSON answer with a message.
fn message_of(response: &Response) -> &str {
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {}", response.body))
}

#[test]
fn unknown_routes_and_methods_answer_a_json_message() {
    let acme = Acme::start("lenient-routes");
    let auth = format!("Bearer {}", acme.token);
    let auth = [("Authorization", auth.as_str())];
    for (method, path) in [("GET", "/v1/nothing"), ("PUT", "/v1/people/alice/features")] {
        let response = acme.server.exchange(method, path, &auth, None);
        assert_eq!(response.status, 404, "{method} {path}");
        assert_eq!(
            message_of(&response),
            format!("no such route: {method} {path} (the routes are listed at /openapi.json)")
        );
    }
    for (method, path, allow) in [
        ("DELETE", "/v1/whoami", "GET,HEAD"),
        ("POST", ALICE, "GET,HEAD,PUT"),
        ("PATCH", "/healthz", "GET,HEAD"),
    ] {
        let response = acme.server.exchange(method, path, &auth, None);
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(
            message_of(&response),
            format!("{method} is not allowed on {path} (the Allow header lists what is)")
        );
    }
}

#[test]
fn a_value_of_the_wrong_type_is_refused_naming_the_field_and_what_it_accepts() {
    let acme = Acme::start("lenient-types");
    acme.put_alice(json!({ "enabled": true }));
    let cases = [
        (
            json!({ "repeat": { "interval": "20" } }),
            r#"repeat.interval: must be a whole number of seconds from 10 to 90, not string "20""#,
        ),
        (
            json!({ "enabled": "yes" }),
            r#"enabled: must be true or false, not string "yes""#,
        ),
        (
            json!({ "record": 1 }),
            "record: must be one of Never, Always, Always with Pause/Resume, On Demand with \
             User Initiated Start, not integer `1`",
        ),
        (
            json!({ "notification": { "type": false } }),
            "notification.type: must be one of Beep, Play Announcement, None, not boolean `false`",
        ),
        (
            json!({ "callRecordingAccessSettings": { "shareRecordingsEnabled": 0 } }),
            "callRecordingAccessSettings.shareRecordingsEnabled: must be true or false, not \
             integer `0`",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            acme.refused("PUT", ALICE, body.clone(), 400),
            expected,
            "{body}"
        );
    }
    assert_eq!(acme.ok("GET", ALICE, None), enabled_defaults());
}

#[test]
fn a_json_array_is_refused_wherever_an_object_is_taken() {
    let acme = Acme::start("lenient-arrays");
    acme.put_alice(json!({ "enabled": true }));
    // The settings' fields in order, as serde would have read them.
    let in_order = json!([
        false, "Always", true, true,
        { "internalCallsEnabled": true, "pstnCallsEnabled": true },
        { "type": "Beep", "enabled": true },
        { "interval": 30, "enabled": true },
    ]);
    let expected = "invalid JSON body: expected a JSON object";
    assert_eq!(acme.refused("PUT", ALICE, in_order, 400), expected);
    let nested = json!({ "notification": ["Play Announcement", true] });
    assert_eq!(
        acme.refused("PUT", ALICE, nested, 400),
        "notification: expected a JSON object"
    );
    assert_eq!(acme.ok("GET", ALICE, None), enabled_defaults());

    // Every other body the API takes (a new organisation's from its partner).
    let org = json!(["globex", "Globex", "EU"]);
    let (status, _, response) =
        acme.server
            .request("POST", "/v1/organizations", Some(&acme.partner), Some(&org));
    assert_eq!((status, &response["message"]), (400, &json!(expected)));
    for (method, path, array) in [
        ("PUT", "/v1/organizations/acme", json!(["ACME"])),
        ("POST", "/v1/locations", json!(["lyon", "Lyon"])),
        ("PUT", "/v1/people/alice", json!(["alice", "paris"])),
        ("PUT", &format!("{ALICE}/entitlement"), json!(["standard"])),
        ("PUT", RECORDING, json!([true])),
        ("PUT", &format!("{RECORDING}/vendor"), json!(["imagicle"])),
        (
            "PUT",
            &format!("{RECORDING}/vendors/dubber/termsOfService"),
            json!([true]),
        ),
        (
            "PUT",
            &format!("{RECORDING}/vendors/imagicle/account"),
            json!(["acct-1"]),
        ),
        (
            "PUT",
            "/v1/telephony/config/locations/paris/callRecording/vendor",
            json!([true]),
        ),
    ] {
        assert_eq!(
            acme.refused(method, path, array, 400),
            expected,
            "{method} {path}"
        );
    }
}
