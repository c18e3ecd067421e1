//! `callrec policy`: the admin API without HTTP, on the embedded policy database. The same
//! validation, refusals, tenant boundaries and audit trail as over HTTP.

mod common;

use common::TempDir;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn policy(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .arg("policy")
        .args(args)
        .output()
        .expect("run callrec policy")
}

fn ok(dir: &Path, args: &[&str]) -> Value {
    let out = policy(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(text.trim()).unwrap_or(Value::Null)
}

fn refused(dir: &Path, args: &[&str]) -> String {
    let out = policy(dir, args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should be refused");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).expect("utf-8")
}

#[test]
fn an_operator_sets_up_and_inspects_recording_policy_without_http() {
    let tmp = TempDir::new("cli-policy");
    let dir = &tmp.0;
    let org = json!({"id": "acme", "displayName": "Acme", "region": "US"}).to_string();
    ok(
        dir,
        &["post", "/v1/organizations", "--org", "acme", "--body", &org],
    );
    let hq = json!({"id": "hq", "name": "HQ"}).to_string();
    ok(
        dir,
        &["post", "/v1/locations", "--org", "acme", "--body", &hq],
    );
    let alice = json!({"id": "alice", "locationId": "hq", "firstName": "Alice", "lastName": "Lee",
        "email": "alice@acme.example", "timeZone": "Europe/London", "callingLicense": "Professional",
        "sipAddresses": ["sip:alice@acme.example"]})
    .to_string();
    ok(
        dir,
        &["post", "/v1/people", "--org", "acme", "--body", &alice],
    );

    let mut settings = ok(
        dir,
        &[
            "get",
            "/v1/people/alice/features/callRecording",
            "--org",
            "acme",
        ],
    );
    assert_eq!(settings["record"], "Never");
    settings["enabled"] = json!(true);
    settings["record"] = json!("Always");
    settings["repeat"] = json!({"interval": 5, "enabled": true});
    let path = "/v1/people/alice/features/callRecording";
    let body = settings.to_string();
    let err = refused(dir, &["put", path, "--org", "acme", "--body", &body]);
    assert_eq!(
        err.trim(),
        "callrec: 400 repeat.interval: 5 is outside 10-90"
    );

    settings["repeat"] = json!({"interval": 30, "enabled": true});
    let body = settings.to_string();
    let err = refused(dir, &["put", path, "--org", "acme", "--body", &body]);
    assert!(
        err.contains("409") && err.contains("terms of service for Dubber"),
        "{err}"
    );

    let accept = json!({"termsOfServiceEnabled": true}).to_string();
    let terms = "/v1/telephony/config/callRecording/vendors/dubber/termsOfService";
    ok(dir, &["put", terms, "--org", "acme", "--body", &accept]);
    let saved = ok(dir, &["put", path, "--org", "acme", "--body", &body]);
    assert_eq!(saved["enabled"], true);
    assert_eq!(saved["repeat"]["interval"], 30);

    let effective = ok(
        dir,
        &[
            "get",
            "/v1/telephony/config/callRecording/effectivePolicy?aor=sip:alice@ACME.example",
            "--org",
            "acme",
        ],
    );
    assert_eq!(effective["personId"], "alice");
    assert!(effective["record"].is_object(), "{effective}");

    // Tenant boundary: acting for acme never reaches globex.
    let err = refused(dir, &["get", "/v1/organizations/globex", "--org", "acme"]);
    assert!(err.contains("403"), "{err}");

    // Every change is audited, as the operator.
    let audit = ok(dir, &["get", "/v1/audit", "--org", "acme"]);
    let items = audit["items"].as_array().expect("items");
    assert!(items.len() >= 5, "{audit}");
    assert!(
        items.iter().all(|i| i["actor"] == "partner-admin:cli"),
        "{audit}"
    );
}
