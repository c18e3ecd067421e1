//! docs/openapi.json checked against the code, so the two cannot drift apart: its paths are
//! exactly the paths the server's routing code names; each path accepts exactly the documented
//! methods on a live `callrec serve`; a realistic scenario's every request body and response
//! (status and body) conforms to the document; and the document is well-formed (every `$ref`
//! resolves, every operation has a 2xx, operationIds are unique).

mod common;

use common::admin::{create_token, create_token_for, AdminServer};
use common::recordings::{catalogue, record_call};
use common::TempDir;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const METHODS: [&str; 4] = ["get", "put", "post", "delete"];
const RECORDING: &str = "/v1/telephony/config/callRecording";

fn document() -> Value {
    let path = format!("{}/docs/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// The value a local `$ref` (`#/components/...`) points at, or `None`.
fn pointer<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
        .filter(|v| !v.is_null())
}

/// `value`, or what its `$ref` points at.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => pointer(doc, r).unwrap_or_else(|| panic!("$ref {r} resolves to nothing")),
        None => value,
    }
}

/// Checks `value` against `schema`, a subset of OpenAPI 3.1 / JSON Schema: `$ref`, `type` (one
/// or a list, so `["string", "null"]` is nullable), `properties`, `required`,
/// `additionalProperties: false`, `enum`, `items`, `oneOf`, `allOf`, `minimum`, `maximum`,
/// `minLength`, `maxLength`, `maxItems`; `format` and `pattern` are not checked. Returns every
/// mismatch with its JSON path.
fn check(schema: &Value, value: &Value, doc: &Value, path: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = pointer(doc, reference);
        let target = target.unwrap_or_else(|| panic!("{path}: $ref {reference} names nothing"));
        return check(target, value, doc, path, problems);
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(part, value, doc, path, problems);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let matching = choices
            .iter()
            .filter(|choice| {
                let mut inner = Vec::new();
                check(choice, value, doc, path, &mut inner);
                inner.is_empty()
            })
            .count();
        if matching != 1 {
            problems.push(format!(
                "{path}: {value} matches {matching} of oneOf's {} schemas",
                choices.len()
            ));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let type_ok = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !type_ok {
        problems.push(format!("{path}: {actual}, schema says {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            problems.push(format!("{path}: {value} not in {allowed:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if n < min {
            problems.push(format!("{path}: {n} below minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), value.as_f64()) {
        if n > max {
            problems.push(format!("{path}: {n} above maximum {max}"));
        }
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| len < min) {
            problems.push(format!("{path}: '{s}' shorter than minLength"));
        }
        if schema["maxLength"].as_u64().is_some_and(|max| len > max) {
            problems.push(format!("{path}: '{s}' longer than maxLength"));
        }
    }
    if let Value::Object(fields) = value {
        let properties = schema["properties"].as_object();
        let required = schema["required"].as_array().into_iter().flatten();
        for name in required.filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                problems.push(format!("{path}: required field {name} missing"));
            }
        }
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check(
                    field_schema,
                    field,
                    doc,
                    &format!("{path}.{name}"),
                    problems,
                ),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    problems.push(format!("{path}: field {name} is not documented"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        if schema["maxItems"]
            .as_u64()
            .is_some_and(|max| items.len() as u64 > max)
        {
            problems.push(format!("{path}: more than maxItems items"));
        }
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, doc, &format!("{path}[{i}]"), problems);
        }
    }
}

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first argument of every `.route(...)` call under src/server/: a string literal, a
/// `const` of the same file, or `&format!("{CONST}/...")` (with `{{`/`}}` for braces).
fn routed_paths() -> BTreeSet<String> {
    let dir = format!("{}/src/server", env!("CARGO_MANIFEST_DIR"));
    let mut paths = BTreeSet::new();
    for file in rust_files(Path::new(&dir)) {
        let source = std::fs::read_to_string(&file).expect("read source");
        let consts = string_consts(&source);
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + ".route(".len()..].trim_start();
            let path = if let Some(literal) = rest.strip_prefix('"') {
                literal
                    .split('"')
                    .next()
                    .expect("a closed literal")
                    .to_string()
            } else if let Some(format) = rest.strip_prefix("&format!(\"") {
                let mut path = format
                    .split('"')
                    .next()
                    .expect("a closed literal")
                    .to_string();
                for (name, value) in &consts {
                    path = path.replace(&format!("{{{name}}}"), value);
                }
                path.replace("{{", "{").replace("}}", "}")
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                consts
                    .get(&name)
                    .unwrap_or_else(|| panic!("{}: route path {name} is no const", file.display()))
                    .clone()
            };
            paths.insert(path);
        }
    }
    paths
}

/// `const NAME: &str = "value";` declarations.
fn string_consts(source: &str) -> BTreeMap<String, String> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("const ")?;
            let (name, rest) = rest.split_once(": &str = \"")?;
            Some((name.to_string(), rest.split('"').next()?.to_string()))
        })
        .collect()
}

/// `callrec serve` in `dir`, storing in `dir/store`.
fn start(dir: &Path) -> AdminServer {
    std::fs::write(dir.join("callrec.toml"), "[store]\nurl = \"store\"\n").expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir);
    AdminServer::start(command, &["--config", "callrec.toml"])
}

fn token(dir: &Path, role: &str, orgs: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir);
    create_token(command, role, orgs, &[])
}

/// The documented path a concrete path (query left out) is an instance of; literal segments
/// win over parameters.
fn template_of(doc: &Value, path: &str) -> String {
    let path = path.split('?').next().expect("a path");
    let segments: Vec<&str> = path.split('/').collect();
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .keys()
        .filter(|t| {
            let parts: Vec<&str> = t.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && p.ends_with('}')))
        })
        .min_by_key(|t| t.matches('{').count())
        .unwrap_or_else(|| panic!("{path} is no documented path"))
        .clone()
}

/// A live server whose every exchange is checked against the document.
struct Api {
    server: AdminServer,
    doc: Value,
    problems: RefCell<Vec<String>>,
    /// (operationId, status) of every checked response.
    seen: RefCell<BTreeSet<(String, u16)>>,
}

impl Api {
    fn new(server: AdminServer) -> Api {
        Api {
            server,
            doc: document(),
            problems: RefCell::new(Vec::new()),
            seen: RefCell::new(BTreeSet::new()),
        }
    }

    /// Sends the request, checks the body it sends (when it expects success) and the status
    /// and body it gets against the document; returns the status and body.
    fn exchange(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let template = template_of(&self.doc, path);
        let operation = &self.doc["paths"][&template][method.to_ascii_lowercase()];
        let (status, content_type, response) =
            self.server.request(method, path, token, body.as_ref());
        let what = format!("{method} {path} → {status}");
        let mut problems = self.problems.borrow_mut();
        if operation.is_null() {
            problems.push(format!("{what}: {method} {template} is not documented"));
            return (status, response);
        }
        let op_id = operation["operationId"].as_str().expect("operationId");
        if let (Some(body), true) = (&body, (200..300).contains(&status)) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                problems.push(format!(
                    "{what}: sends a body the document does not describe"
                ));
            } else {
                check(
                    schema,
                    body,
                    &self.doc,
                    &format!("{op_id} request"),
                    &mut problems,
                );
            }
        }
        let documented = &operation["responses"][status.to_string()];
        if documented.is_null() {
            problems.push(format!(
                "{what}: status {status} not documented: {response}"
            ));
            return (status, response);
        }
        self.seen.borrow_mut().insert((op_id.to_string(), status));
        let documented = resolve(&self.doc, documented);
        match documented["content"]
            .as_object()
            .and_then(|c| c.iter().next())
        {
            None if status == 204 => {}
            None => problems.push(format!("{what}: documented without content")),
            Some((media, content)) => {
                if !content_type.starts_with(media.as_str()) {
                    problems.push(format!("{what}: Content-Type {content_type}, not {media}"));
                }
                let at = format!("{op_id} {status}");
                check(&content["schema"], &response, &self.doc, &at, &mut problems);
            }
        }
        (status, response)
    }

    /// A request that must get `expect`; its body.
    fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let (status, response) = self.exchange(token, method, path, body);
        assert_eq!(status, expect, "{method} {path}: {response}");
        response
    }

    fn assert_conforms(&self) {
        let problems = self.problems.borrow();
        assert!(
            problems.is_empty(),
            "{} mismatches:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

fn person(id: &str, location: &str) -> Value {
    json!({
        "id": id,
        "locationId": location,
        "firstName": id.to_uppercase(),
        "lastName": "Martin",
        "email": format!("{id}@example.com"),
        "timeZone": "Europe/Paris",
        "callingLicense": "Professional",
        "sipAddresses": [format!("sip:{id}@acme.example")],
    })
}

fn settings(enabled: bool) -> Value {
    json!({
        "enabled": enabled,
        "record": "Always with Pause/Resume",
        "recordVoicemailEnabled": true,
        "startStopAnnouncement": { "internalCallsEnabled": false, "pstnCallsEnabled": true },
        "notification": { "type": "Play Announcement", "enabled": true },
        "repeat": { "interval": 30, "enabled": true },
    })
}

#[test]
fn the_document_is_well_formed() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                out.extend(map.get("$ref").and_then(Value::as_str));
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "{} $refs", all.len());
    for reference in all {
        assert!(
            pointer(&doc, reference).is_some(),
            "$ref {reference} resolves to nothing"
        );
    }
    let mut ids = BTreeSet::new();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        let mut operations = 0;
        for (method, operation) in item.as_object().expect("path item") {
            if method == "parameters" {
                continue;
            }
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            operations += 1;
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no 2xx response"
            );
            for scheme in operation["security"].as_array().into_iter().flatten() {
                for name in scheme.as_object().expect("requirement").keys() {
                    assert!(schemes.contains_key(name), "{id}: unknown scheme {name}");
                }
            }
            // Every `{name}` of the path is a declared path parameter, and no other.
            let mut params = shared.clone();
            params.extend(
                operation["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            let declared: BTreeSet<&str> = params
                .iter()
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().expect("name"))
                .collect();
            let named: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, named, "{method} {path}: path parameters");
        }
        assert!(operations > 0, "{path} has no operation");
    }
    assert_eq!(ids.len(), 56, "{ids:?}");
}

#[test]
fn every_routed_path_is_documented_and_every_documented_path_routed() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routed = routed_paths();
    assert!(routed.contains("/v1/telephony/config/callRecording/vendors/{vendorId}/users"));
    assert!(
        routed.contains("/openapi.json"),
        "serve serves its description"
    );
    assert_eq!(routed.len(), 38, "{routed:#?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed, not documented: {undocumented:?}"
    );
    assert!(unrouted.is_empty(), "documented, not routed: {unrouted:?}");
}

/// An organisation `acme` (EU) with location `paris` and person `alice`, and tokens: a
/// partner's for acme and `scratch`, acme's customer administrator, acme's read-only.
fn acme(dir: &Path) -> (Api, [String; 3]) {
    let partner = token(dir, "partner-admin", &["acme", "scratch"]);
    let customer = token(dir, "customer-admin", &["acme"]);
    let reader = token(dir, "read-only", &["acme"]);
    let api = Api::new(start(dir));
    let new_org = json!({ "id": "acme", "displayName": "ACME Ltd", "region": "EU" });
    api.call(
        Some(&partner),
        "POST",
        "/v1/organizations",
        Some(new_org),
        201,
    );
    let paris = json!({ "id": "paris", "name": "Paris" });
    api.call(Some(&customer), "POST", "/v1/locations", Some(paris), 201);
    let alice = person("alice", "paris");
    api.call(Some(&customer), "POST", "/v1/people", Some(alice), 201);
    (api, [partner, customer, reader])
}

#[test]
fn each_path_accepts_exactly_its_documented_methods() {
    let tmp = TempDir::new("openapi-methods");
    let (api, [_, _, reader]) = acme(&tmp.0);
    let doc = document();
    let ids = [
        ("{orgId}", "acme"),
        ("{locationId}", "paris"),
        ("{personId}", "alice"),
        ("{vendorId}", "imagicle"),
        ("{tokenId}", "0123456789abcdef"),
        ("{recordingId}", "nope"),
        ("{holdId}", "hold-0"),
    ];
    let mut probed = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let mut path = template.clone();
        for (param, id) in ids {
            path = path.replace(param, id);
        }
        assert!(!path.contains('{'), "{template}: no id for a parameter");
        if template.starts_with("/v1/") && template != "/v1/whoami" {
            path.push_str("?orgId=acme");
        }
        for method in METHODS {
            let upper = method.to_ascii_uppercase();
            if item[method].is_null() {
                let (status, content_type, body) =
                    api.server
                        .request(&upper, &path, Some(&reader), Some(&json!({})));
                assert_eq!(status, 405, "{upper} {path} is not documented: {body}");
                // Answered as the document's 405 says: an Error, in JSON.
                assert!(
                    content_type.starts_with("application/json"),
                    "{upper} {path}"
                );
                let mut problems = Vec::new();
                let e405 = &doc["components"]["responses"]["E405"]["content"];
                check(
                    &e405["application/json"]["schema"],
                    &body,
                    &doc,
                    &upper,
                    &mut problems,
                );
                assert!(problems.is_empty(), "{upper} {path}: {problems:?}");
            } else {
                // A read-only token: changes are refused by the handler, never made.
                let body = (!item[method]["requestBody"].is_null()).then(|| json!({}));
                let (status, body) = api.exchange(Some(&reader), &upper, &path, body);
                // The router's own 404 names the route it has not got.
                let no_route = body["message"]
                    .as_str()
                    .is_none_or(|m| m.starts_with("no such route"));
                let from_router = status == 405 || (status == 404 && no_route);
                assert!(!from_router, "{upper} {path}: {status} {body}");
                probed += 1;
            }
        }
    }
    assert_eq!(probed, 56);
    api.assert_conforms();
}

#[test]
fn responses_and_requests_conform_to_the_document() {
    let tmp = TempDir::new("openapi-scenario");
    // A call of alice's, stored before the server starts, catalogued once it has.
    std::fs::write(tmp.path("callrec.toml"), "[store]\nurl = \"store\"\n").expect("config");
    record_call(&tmp.0, "acme", "alice", "call-1", "dubber-standard");
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(&tmp.0);
    let alice_token = create_token_for(command, "alice", "user", &["acme"], &[]);
    let globex = token(&tmp.0, "customer-admin", &["globex"]);
    let (api, [partner, customer, reader]) = acme(&tmp.0);
    let (p, c, r) = (
        Some(partner.as_str()),
        Some(customer.as_str()),
        Some(reader.as_str()),
    );

    // The portal's page and assets, without a token (tests/portal_browser.rs uses them).
    for path in ["/portal", "/portal/", "/portal/app.js", "/portal/app.css"] {
        api.call(None, "GET", path, None, 200);
    }

    // The document itself, without a token: exactly docs/openapi.json, OpenAPI 3.1.
    let served = api.call(None, "GET", "/openapi.json", None, 200);
    assert_eq!(served, document());
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        served["openapi"]
    );
    // A route that does not exist is named in the 404, not answered with an empty body.
    let (status, content_type, missing) = api.server.request("GET", "/v1/nope", r, None);
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        missing["message"],
        "no such route: GET /v1/nope (the routes are listed at /openapi.json)"
    );

    // Health, metrics, the caller.
    assert_eq!(api.call(None, "GET", "/healthz", None, 200), "ok\n");
    assert_eq!(api.call(None, "GET", "/readyz", None, 200), "ready\n");
    let metrics = api.call(None, "GET", "/metrics", None, 200);
    assert!(metrics
        .as_str()
        .expect("text")
        .contains("callrec_admin_requests_total"));
    assert!(
        metrics
            .as_str()
            .expect("text")
            .contains("callrec_calls_active"),
        "serve reports the SIPREC server's counters"
    );
    let who = api.call(p, "GET", "/v1/whoami", None, 200);
    assert_eq!(who["orgs"], json!(["acme", "scratch"]));
    api.call(None, "GET", "/v1/whoami", None, 401);
    api.call(Some("crt_unknown"), "GET", "/v1/locations", None, 401);

    // Organisations.
    let org = json!({ "id": "acme", "displayName": "ACME again", "region": "EU" });
    api.call(p, "POST", "/v1/organizations", Some(org), 409);
    let bad = json!({ "id": "scratch", "displayName": "Scratch", "region": "XX" });
    assert!(
        api.call(p, "POST", "/v1/organizations", Some(bad), 400)["message"]
            .as_str()
            .expect("message")
            .starts_with("region:")
    );
    let by_customer = json!({ "id": "acme", "displayName": "ACME", "region": "EU" });
    api.call(c, "POST", "/v1/organizations", Some(by_customer), 403);
    api.call(p, "GET", "/v1/organizations/scratch", None, 404);
    api.call(p, "GET", "/v1/people?orgId=scratch", None, 404);
    let scratch = json!({ "id": "scratch", "displayName": "Scratch", "region": "US" });
    api.call(p, "POST", "/v1/organizations", Some(scratch), 201);
    api.call(p, "DELETE", "/v1/organizations/scratch", None, 204);
    let listed = api.call(c, "GET", "/v1/organizations", None, 200);
    assert_eq!(listed["items"][0]["id"], "acme");
    api.call(c, "GET", "/v1/organizations/acme", None, 200);
    api.call(c, "GET", "/v1/organizations/globex", None, 403);
    let renamed = json!({ "displayName": "ACME Ltd" });
    api.call(c, "PUT", "/v1/organizations/acme", Some(renamed), 200);
    let switch = json!({ "callRecordingServiceEnabled": false });
    api.call(c, "PUT", "/v1/organizations/acme", Some(switch), 403);
    let pci = json!({ "pciDtmfSuppression": true });
    let org = api.call(c, "PUT", "/v1/organizations/acme", Some(pci), 200);
    assert_eq!(org["pciDtmfSuppression"], true);
    let not_bool = json!({ "pciDtmfSuppression": "yes" });
    api.call(c, "PUT", "/v1/organizations/acme", Some(not_bool), 400);
    api.call(r, "PUT", "/v1/organizations/acme", Some(json!({})), 403);
    api.call(p, "DELETE", "/v1/organizations/acme", None, 409);

    // Locations and people (the partner's token names two organisations: orgId needed).
    api.call(p, "GET", "/v1/locations", None, 400);
    let lyon = json!({ "id": "lyon", "name": "Lyon", "region": "EU" });
    api.call(p, "POST", "/v1/locations?orgId=acme", Some(lyon), 201);
    api.call(c, "GET", "/v1/locations?max=1", None, 200);
    api.call(c, "GET", "/v1/locations?after=lyon&max=10", None, 200);
    api.call(c, "GET", "/v1/locations?max=0", None, 400);
    api.call(c, "GET", "/v1/locations/lyon", None, 200);
    api.call(c, "GET", "/v1/locations/nowhere", None, 404);
    api.call(c, "POST", "/v1/people", Some(person("bob", "lyon")), 201);
    api.call(c, "POST", "/v1/people", Some(person("bob", "lyon")), 409);
    let mut no_email = person("carol", "lyon");
    no_email["email"] = json!("carol");
    api.call(c, "POST", "/v1/people", Some(no_email), 400);
    api.call(c, "GET", "/v1/people", None, 200);
    api.call(c, "GET", "/v1/people/bob", None, 200);
    api.call(c, "GET", "/v1/people/nobody", None, 404);
    let mut bob = person("bob", "lyon");
    bob["sipAddresses"] = json!(["sip:bob@acme.example", "sip:robert@acme.example"]);
    api.call(c, "PUT", "/v1/people/bob", Some(bob), 200);

    // Settings: enabling needs Dubber's terms (409 saying where they are), then provisions.
    let alice = "/v1/people/alice/features/callRecording";
    api.call(c, "GET", alice, None, 200);
    let refused = api.call(c, "PUT", alice, Some(settings(true)), 409);
    assert_eq!(refused["vendorId"], "dubber");
    let mut wrong = settings(true);
    wrong["record"] = json!("Sometimes");
    api.call(c, "PUT", alice, Some(wrong), 400);
    let dubber_terms = format!("{RECORDING}/vendors/dubber/termsOfService");
    let unaccepted = api.call(c, "GET", &dubber_terms, None, 200);
    assert_eq!(unaccepted["acceptedBy"], Value::Null);
    let accept = json!({ "termsOfServiceEnabled": true });
    api.call(r, "PUT", &dubber_terms, Some(accept.clone()), 403);
    api.call(c, "PUT", &dubber_terms, Some(accept.clone()), 200);
    api.call(c, "PUT", alice, Some(settings(true)), 200);
    let provisioned = api.call(c, "GET", alice, None, 200);
    assert_eq!(provisioned["externalIdentifier"], "alice");
    api.call(c, "PUT", alice, Some(provisioned), 200);

    // The organisation's recording and vendors.
    api.call(c, "GET", RECORDING, None, 200);
    api.call(c, "PUT", RECORDING, Some(json!({ "enabled": true })), 200);
    let vendors = api.call(c, "GET", &format!("{RECORDING}/vendors"), None, 200);
    assert_eq!(vendors["vendors"].as_array().expect("vendors").len(), 3);
    let vendor = format!("{RECORDING}/vendor");
    api.call(c, "PUT", &vendor, Some(json!({ "vendorId": "none" })), 400);
    let cabinet = api.call(
        c,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "callcabinet" })),
        400,
    );
    assert_eq!(cabinet["servedRegions"], json!(["US"]));
    let imagicle = format!("{RECORDING}/vendors/imagicle");
    let unaccepted = api.call(
        c,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "imagicle" })),
        409,
    );
    assert_eq!(unaccepted["vendorId"], "imagicle");
    assert!(unaccepted["termsOfServiceUrl"].is_string(), "{unaccepted}");
    api.call(
        c,
        "PUT",
        &vendor,
        Some(json!({ "vendorId": "dubber" })),
        200,
    );

    // Imagicle at Lyon: terms, account, the location's override, the sync listing.
    api.call(
        c,
        "PUT",
        &format!("{imagicle}/termsOfService"),
        Some(accept),
        200,
    );
    let account = json!({ "accountId": "img-42" });
    api.call(c, "PUT", &format!("{imagicle}/account"), Some(account), 200);
    let lyon_vendor = "/v1/telephony/config/locations/lyon/callRecording/vendor";
    api.call(c, "GET", lyon_vendor, None, 200);
    let both = json!({ "orgDefaultEnabled": true, "id": "imagicle" });
    api.call(c, "PUT", lyon_vendor, Some(both), 400);
    let own = json!({ "orgDefaultEnabled": false, "id": "imagicle" });
    let chosen = api.call(c, "PUT", lyon_vendor, Some(own), 200);
    assert_eq!(chosen["vendorId"], "imagicle");
    api.call(
        c,
        "PUT",
        "/v1/people/bob/features/callRecording",
        Some(settings(true)),
        200,
    );
    let synced = api.call(c, "GET", &format!("{imagicle}/users"), None, 200);
    assert_eq!(synced["users"][0]["id"], "bob");
    api.call(
        c,
        "GET",
        &format!("{RECORDING}/vendors/dubber/users"),
        None,
        400,
    );
    api.call(
        c,
        "GET",
        &format!("{RECORDING}/vendors/zoom/termsOfService"),
        None,
        400,
    );
    api.call(
        c,
        "PUT",
        "/v1/telephony/config/locations/nowhere/callRecording/vendor",
        Some(json!({ "orgDefaultEnabled": true })),
        404,
    );

    // The effective policy, by SIP address and by id; recorded or not, and why.
    let effective = format!("{RECORDING}/effectivePolicy");
    let recorded = api.call(
        c,
        "GET",
        &format!("{effective}?aor=sip:alice@acme.example"),
        None,
        200,
    );
    assert_eq!(recorded["record"]["provider"], "dubber");
    let by_id = api.call(c, "GET", &format!("{effective}?personId=bob"), None, 200);
    assert_eq!(by_id["record"]["provider"], "imagicle");
    api.call(
        c,
        "PUT",
        "/v1/people/bob/features/callRecording",
        Some(settings(false)),
        200,
    );
    let not = api.call(c, "GET", &format!("{effective}?personId=bob"), None, 200);
    assert_eq!(not["doNotRecord"]["reason"], "userDisabled");
    api.call(c, "GET", &effective, None, 400);
    api.call(
        c,
        "GET",
        &format!("{effective}?aor=sip:nobody@acme.example"),
        None,
        404,
    );
    api.call(
        Some(&globex),
        "GET",
        &format!("{effective}?orgId=acme&personId=bob"),
        None,
        403,
    );

    // A Dubber entitlement change (no recordings stored: the migration moves nothing).
    let entitlement = format!("{alice}/entitlement");
    api.call(c, "GET", &entitlement, None, 200);
    api.call(
        c,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "gold" })),
        400,
    );
    let paid = api.call(
        c,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "standard" })),
        200,
    );
    assert_eq!(paid["storage"]["report"]["moved"], 0, "{paid}");
    let again = api.call(
        c,
        "PUT",
        &entitlement,
        Some(json!({ "entitlement": "standard" })),
        200,
    );
    assert_eq!(again["migration"], Value::Null);

    // Deletions, then the audit trail of all of it.
    api.call(c, "DELETE", "/v1/locations/lyon", None, 409);
    api.call(c, "DELETE", "/v1/people/bob", None, 204);
    api.call(c, "DELETE", "/v1/locations/lyon", None, 204);
    let first = api.call(c, "GET", "/v1/audit?limit=5", None, 200);
    assert_eq!(first["items"].as_array().expect("items").len(), 5);
    let rest = api.call(
        c,
        "GET",
        &format!("/v1/audit?since={}", first["next"]),
        None,
        200,
    );
    assert!(
        rest["items"].as_array().expect("items").len() > 10,
        "{rest}"
    );
    api.call(c, "GET", "/v1/audit?limit=0", None, 400);
    api.call(Some(&globex), "GET", "/v1/audit?orgId=acme", None, 403);

    // Recordings: alice's own, the organisation's, one in detail, its metadata, its audio;
    // deleted by an administrator (a paid plan).
    let db = format!("sqlite://{}?mode=rwc", tmp.path("policy.sqlite").display());
    catalogue(&tmp.0, &db, |_, _| {});
    let a = Some(alice_token.as_str());
    let own = api.call(a, "GET", "/v1/convergedRecordings?max=5", None, 200);
    assert_eq!(own["items"][0]["id"], "call-1", "{own}");
    api.call(a, "GET", "/v1/convergedRecordings?from=someday", None, 400);
    api.call(a, "GET", "/v1/admin/convergedRecordings", None, 403);
    let all = api.call(
        c,
        "GET",
        "/v1/admin/convergedRecordings?personId=alice",
        None,
        200,
    );
    assert_eq!(all["items"][0]["access"]["delete"], true, "{all}");
    let one = api.call(a, "GET", "/v1/convergedRecordings/call-1", None, 200);
    assert!(
        one["temporaryDirectDownloadLinks"]["audioPlaybackLink"].is_string(),
        "{one}"
    );
    api.call(r, "GET", "/v1/convergedRecordings/call-1", None, 200);
    api.call(
        Some(&globex),
        "GET",
        "/v1/convergedRecordings/call-1",
        None,
        404,
    );
    let document = api.call(
        a,
        "GET",
        "/v1/convergedRecordings/call-1/metadata",
        None,
        200,
    );
    assert_eq!(document["call"]["id"], "call-1");
    api.call(
        r,
        "GET",
        "/v1/convergedRecordings/call-1/metadata",
        None,
        403,
    );
    api.call(
        a,
        "GET",
        "/v1/convergedRecordings/call-1/audio?purpose=download",
        None,
        200,
    );
    api.call(
        a,
        "GET",
        "/v1/convergedRecordings/call-1/audio?purpose=x",
        None,
        400,
    );
    // The organisation's webhook for completion events: registered (its secret shown once),
    // read, its events listed (the deletion below is one), removed.
    let hook = format!("{RECORDING}/webhook");
    api.call(c, "GET", &hook, None, 404);
    let refused = json!({ "url": "http://169.254.169.254/latest/meta-data/" });
    api.call(c, "PUT", &hook, Some(refused), 400);
    api.call(
        r,
        "PUT",
        &hook,
        Some(json!({ "url": "https://hooks.acme.example/in" })),
        403,
    );
    let url = json!({ "url": "https://hooks.acme.example/in", "secret": "an-acme-chosen-secret" });
    let registered = api.call(c, "PUT", &hook, Some(url), 200);
    assert_eq!(registered["secret"], "an-acme-chosen-secret");
    let shown = api.call(r, "GET", &hook, None, 200);
    assert_eq!(shown["url"], "https://hooks.acme.example/in");
    api.call(r, "GET", &format!("{hook}/events?status=sent"), None, 400);
    // Legal holds: call-1 held on its own (no deletion), released; alice's recordings held by
    // a named hold, listed, released.
    let hold_one = "/v1/convergedRecordings/call-1/legalHold";
    let held = api.call(c, "PUT", hold_one, Some(json!({ "reason": "case 7" })), 200);
    assert_eq!(held["recording"]["legalHold"], true, "{held}");
    api.call(c, "DELETE", "/v1/convergedRecordings/call-1", None, 409);
    api.call(r, "PUT", hold_one, Some(json!({ "reason": "case 7" })), 403);
    api.call(c, "DELETE", hold_one, None, 200);
    let holds = "/v1/admin/convergedRecordings/legalHolds";
    let by_person = json!({ "personId": "alice", "reason": "inquiry" });
    let named = api.call(c, "POST", holds, Some(by_person), 201);
    api.call(c, "POST", holds, Some(json!({ "reason": "all" })), 400);
    let listed = api.call(r, "GET", holds, None, 200);
    assert_eq!(listed["items"].as_array().expect("items").len(), 2);
    let named_id = named["hold"]["id"].as_str().expect("an id");
    api.call(c, "DELETE", &format!("{holds}/{named_id}"), None, 200);
    api.call(r, "DELETE", "/v1/convergedRecordings/call-1", None, 403);
    api.call(c, "DELETE", "/v1/convergedRecordings/call-1", None, 204);
    api.call(c, "DELETE", "/v1/convergedRecordings/call-1", None, 404);
    let events = api.call(
        r,
        "GET",
        &format!("{hook}/events?status=pending"),
        None,
        200,
    );
    assert_eq!(events["items"][0]["type"], "recording.deleted", "{events}");
    assert_eq!(events["items"][0]["recordingId"], "call-1", "{events}");
    api.call(c, "DELETE", &hook, None, 204);
    api.call(c, "DELETE", &hook, None, 404);

    // Tokens: listed within the caller's organisations, revoked by id.
    let listed = api.call(Some(&partner), "GET", "/v1/tokens", None, 200);
    let reader_id = api.call(Some(&reader), "GET", "/v1/whoami", None, 200)["token"]
        .as_str()
        .expect("token id")
        .to_string();
    assert!(listed.to_string().contains(&reader_id), "{listed}");
    let path = format!("/v1/tokens/{reader_id}");
    api.call(Some(&globex), "DELETE", &path, None, 404);
    let revoked = api.call(Some(&partner), "DELETE", &path, None, 200);
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    api.call(Some(&reader), "GET", "/v1/whoami", None, 401);

    api.assert_conforms();
    // Every documented operation's success was seen and checked.
    let doc = &api.doc;
    let seen = api.seen.borrow();
    for item in doc["paths"].as_object().expect("paths").values() {
        for method in METHODS {
            let Some(id) = item[method]["operationId"].as_str() else {
                continue;
            };
            assert!(
                seen.iter()
                    .any(|(op, status)| op == id && (200..300).contains(status)),
                "{id}: no success checked"
            );
        }
    }
    let statuses: BTreeSet<u16> = seen.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        statuses,
        BTreeSet::from([200, 201, 204, 400, 401, 403, 404, 409])
    );
}
