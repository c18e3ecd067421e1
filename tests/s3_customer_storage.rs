//! Customer-owned storage without borrowed keys, against a real S3 server (the Ceph RADOS
//! Gateway `./scripts/test` starts) and a real `callrec serve`: a customer administrator picks
//! a destination the operator registered, or gives its own bucket with its own credentials,
//! which are probed (write, read back, delete) before anything is saved and kept sealed. The
//! server runs with working `AWS_*` credentials of its own throughout, and they never reach a
//! bucket a customer named. Without the gateway these tests fail rather than skip.

mod common;

use callrec::store::s3::S3Admin;
use common::admin::{create_token, AdminServer};
use common::TempDir;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as KeyPath;
use object_store::ObjectStore;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

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

const SECRETS_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The customer's own account on the S3 server: a user of its own with its own keys, and a
/// bucket it owns (the server's credentials cannot write it; its keys cannot write the
/// server's bucket).
struct Customer {
    access_key: String,
    secret_key: String,
    bucket_url: String,
}

fn customer_account(tag: &str) -> Customer {
    let access_key = format!("cust{}", tag.replace('-', ""));
    let secret_key = format!("{access_key}-secret-0123456789abcdef");
    let out = Command::new("radosgw-admin")
        .args(["--conf", &env("CALLREC_TEST_CEPH_CONF"), "user", "create"])
        .args(["--uid", &access_key, "--display-name", &access_key])
        .args(["--access-key", &access_key, "--secret-key", &secret_key])
        .output()
        .expect("radosgw-admin runs");
    assert!(
        out.status.success(),
        "radosgw-admin user create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bucket_url = format!("s3://callrec-customer-{tag}");
    let settings: Vec<(String, String)> = [
        ("aws_endpoint", env("AWS_ENDPOINT")),
        ("aws_allow_http", "true".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_access_key_id", access_key.clone()),
        ("aws_secret_access_key", secret_key.clone()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .into();
    let admin = S3Admin::with_settings_only(&bucket_url, &settings).expect("admin");
    runtime()
        .block_on(admin.create_bucket())
        .expect("the customer creates its bucket");
    Customer {
        access_key,
        secret_key,
        bucket_url,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Every object under `url` (`s3://bucket/prefix`), read with the given credentials.
fn listed(url: &str, access_key: &str, secret_key: &str) -> Vec<String> {
    let (bucket, prefix) = url
        .strip_prefix("s3://")
        .expect("s3 url")
        .split_once('/')
        .unwrap_or((url.strip_prefix("s3://").unwrap(), ""));
    let store = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(env("AWS_ENDPOINT"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(access_key)
        .with_secret_access_key(secret_key)
        .build()
        .expect("store");
    let prefix = (!prefix.is_empty()).then(|| KeyPath::from(prefix));
    runtime().block_on(async {
        use futures::TryStreamExt;
        store
            .list(prefix.as_ref())
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list")
    })
}

fn callrec(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command
        .current_dir(dir)
        .env_remove("CALLREC_POLICY_DB")
        .env_remove("CALLREC_CONFIG")
        .env("CALLREC_SECRETS_KEY", SECRETS_KEY);
    command
}

struct Setup {
    _tmp: TempDir,
    dir: std::path::PathBuf,
    server: AdminServer,
    customer_token: String,
    registered_url: String,
    customer: Customer,
}

/// `serve` with the server's own working `AWS_*` credentials (inherited), one registered
/// destination (`shared`, a prefix of the server's bucket), the S3 server's endpoint allowed
/// for customers, and organisation `acme` with a customer administrator.
fn setup(test: &str) -> Setup {
    let tag = unique();
    let tmp = TempDir::new(test);
    let dir = tmp.0.clone();
    let server_bucket = env("CALLREC_TEST_S3");
    let registered_url = format!("{server_bucket}/registered-{tag}");
    let config = format!(
        "[store]\nurl = \"{server_bucket}/default-{tag}\"\nsweep_interval_secs = 0\n\
         customer_endpoints = [\"{endpoint}\"]\n\
         [store.destinations.shared]\nurl = \"{registered_url}\"\n",
        endpoint = env("AWS_ENDPOINT"),
    );
    std::fs::write(dir.join("callrec.toml"), config).expect("config");
    let args = ["--config", "callrec.toml"];
    let partner = create_token(callrec(&dir), "partner-admin", &["acme"], &args);
    let customer_token = create_token(callrec(&dir), "customer-admin", &["acme"], &args);
    let server = AdminServer::start(callrec(&dir), &args);
    let org = json!({ "id": "acme", "displayName": "Acme", "region": "US" });
    let (status, body) = request(&server, &partner, "POST", "/v1/organizations", Some(org));
    assert_eq!(status, 201, "{body}");
    Setup {
        _tmp: tmp,
        dir,
        server,
        customer_token,
        registered_url,
        customer: customer_account(&tag),
    }
}

fn request(
    server: &AdminServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, body) = server.request(method, path, Some(token), body.as_ref());
    (status, body)
}

impl Setup {
    /// PUTs `storage` as acme's customer storage: the status and the body.
    fn choose(&self, storage: Value) -> (u16, Value) {
        let body = json!({ "customerStorage": storage });
        request(
            &self.server,
            &self.customer_token,
            "PUT",
            "/v1/organizations/acme",
            Some(body),
        )
    }

    fn refused(&self, storage: Value, status: u16) -> String {
        let (got, body) = self.choose(storage.clone());
        assert_eq!(got, status, "{storage}: {body}");
        body["message"].as_str().expect("a message").to_string()
    }

    fn stored(&self) -> Value {
        let (status, org) = request(
            &self.server,
            &self.customer_token,
            "GET",
            "/v1/organizations/acme",
            None,
        );
        assert_eq!(status, 200, "{org}");
        org["customerStorage"].clone()
    }

    fn own(&self, url: &str, secret: &str) -> Value {
        json!({
            "url": url,
            "accessKeyId": self.customer.access_key,
            "secretAccessKey": secret,
            "endpoint": env("AWS_ENDPOINT"),
        })
    }

    /// The policy database as it lies on disk (the file and its write-ahead log).
    fn raw_policy_db(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for name in ["policy.sqlite", "policy.sqlite-wal"] {
            if let Ok(more) = std::fs::read(self.dir.join(name)) {
                bytes.extend(more);
            }
        }
        bytes
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_customer_cannot_send_recordings_to_a_bucket_with_the_servers_credentials() {
    let s = setup("byos-borrowed");
    let servers_bucket = format!("{}/stolen-{}", env("CALLREC_TEST_S3"), unique());
    // A bare URL, which the server would have written with its own credentials: refused.
    let message = s.refused(json!(servers_bucket), 400);
    assert!(
        message.starts_with("customerStorage: give {\"destination\": NAME}"),
        "{message}"
    );
    // A URL without credentials: refused, whatever the server's environment holds.
    let message = s.refused(json!({ "url": servers_bucket }), 400);
    assert!(
        message.starts_with("customerStorage.accessKeyId: required"),
        "{message}"
    );
    // The customer's own keys on the server's bucket: the probe's write is refused by S3.
    let message = s.refused(s.own(&servers_bucket, &s.customer.secret_key), 400);
    assert!(
        message.contains("did not take a probe object: write of probe object"),
        "{message}"
    );
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(message.ends_with("nothing was saved"), "{message}");
    // An endpoint the operator did not allow is never asked.
    let mut elsewhere = s.own(&s.customer.bucket_url, &s.customer.secret_key);
    elsewhere["endpoint"] = json!("http://169.254.169.254");
    let message = s.refused(elsewhere, 400);
    assert!(
        message.starts_with(
            "customerStorage.endpoint: 'http://169.254.169.254' is not an endpoint the operator \
             allows"
        ),
        "{message}"
    );
    // A name the operator did not register.
    let message = s.refused(json!({ "destination": "someone-else" }), 400);
    assert_eq!(
        message,
        "customerStorage.destination: 'someone-else' is not a destination the operator \
         registered (one of: shared)"
    );
    assert_eq!(s.stored(), Value::Null, "nothing was saved");
    let access = env("AWS_ACCESS_KEY_ID");
    let secret = env("AWS_SECRET_ACCESS_KEY");
    assert!(listed(&servers_bucket, &access, &secret).is_empty());
}

#[test]
fn a_registered_destination_is_chosen_by_name_after_a_probe() {
    let s = setup("byos-registered");
    let (status, org) = s.choose(json!({ "destination": "shared" }));
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["customerStorage"], json!({ "destination": "shared" }));
    assert_eq!(s.stored(), json!({ "destination": "shared" }));
    // The probe object was written with the destination's credentials and deleted.
    let access = env("AWS_ACCESS_KEY_ID");
    let secret = env("AWS_SECRET_ACCESS_KEY");
    assert_eq!(
        listed(&s.registered_url, &access, &secret),
        Vec::<String>::new()
    );
    // Clearing it goes back to the default destination.
    let (status, org) = s.choose(Value::Null);
    assert_eq!((status, &org["customerStorage"]), (200, &Value::Null));
}

#[test]
fn supplied_credentials_are_probed_kept_sealed_and_never_shown() {
    let s = setup("byos-own");
    let url = format!("{}/calls", s.customer.bucket_url);
    // Wrong credentials: the probe fails at its write, naming S3's refusal; nothing is saved.
    let message = s.refused(s.own(&url, "not-the-secret-key-0123456789"), 400);
    assert!(
        message
            .contains("did not take a probe object: write of probe object calls/.callrec-probe/"),
        "{message}"
    );
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    assert_eq!(s.stored(), Value::Null);

    let (status, org) = s.choose(s.own(&url, &s.customer.secret_key));
    assert_eq!(status, 200, "{org}");
    let shown = json!({ "url": url, "credentialsSet": true, "endpoint": env("AWS_ENDPOINT") });
    assert_eq!(org["customerStorage"], shown);
    assert_eq!(s.stored(), shown);
    assert!(!org.to_string().contains(&s.customer.secret_key));
    // Probed with the customer's keys, and the probe deleted.
    assert_eq!(
        listed(
            &s.customer.bucket_url,
            &s.customer.access_key,
            &s.customer.secret_key
        ),
        Vec::<String>::new()
    );
    // The database holds the credentials sealed, never in clear; the audit trail neither.
    let raw = s.raw_policy_db();
    assert!(contains(&raw, "sealedCredentials"), "the document is there");
    assert!(
        !contains(&raw, &s.customer.secret_key),
        "the secret is not in clear"
    );
    let (status, trail) = request(&s.server, &s.customer_token, "GET", "/v1/audit", None);
    assert_eq!(status, 200);
    assert!(!trail.to_string().contains(&s.customer.secret_key));
    assert!(!trail.to_string().contains("sealedCredentials"), "{trail}");
}

/// `callrec policy METHOD PATH --org acme --body BODY` in `dir` (the operator's in-process
/// API, with the secrets key), which must succeed.
fn policy(dir: &Path, method: &str, path: &str, body: Value) {
    let out = callrec(dir)
        .args([
            "policy",
            method,
            path,
            "--org",
            "acme",
            "--config",
            "callrec.toml",
        ])
        .args(["--body", &body.to_string()])
        .output()
        .expect("callrec policy runs");
    assert!(
        out.status.success(),
        "policy {method} {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the two-leg capture SIPp plays next to a copy of the scenario.
fn prepare_call(dir: &Path) -> std::path::PathBuf {
    use callrec::media::codec::Codec;
    use callrec::pcap::{CaptureFormat, LinkType};
    use callrec::synth::{generate, LegSpec};
    let legs = [(400.0, 0), (1000.0, 1)].map(|(freq, i)| LegSpec {
        duration: std::time::Duration::from_secs(1),
        ..LegSpec::tone(Codec::Pcmu, freq, i)
    });
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
    std::fs::write(dir.join("call.pcap"), capture).expect("capture");
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");
    let target = dir.join("siprec_call.xml");
    std::fs::copy(Path::new(scenarios).join("siprec_call.xml"), &target).expect("scenario");
    target
}

/// Sets up organisation `acme` with Imagicle, its storage `storage` and Alice recorded
/// always (through `callrec policy`), starts `serve` (with the server's own working `AWS_*`
/// credentials) and makes one SIPp call of Alice's from local port `sip_port`.
fn imagicle_call(
    dir: &Path,
    default_url: &str,
    registered_url: &str,
    storage: Value,
    sip_port: u16,
) -> common::serve::Serve {
    let rtp = 16400 + (sip_port % 10) * 100;
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = {rtp}\nrtp_port_max = {}\n\
         idle_timeout_secs = 5\n[recording]\nformat = \"wav\"\n\
         [store]\nurl = \"{default_url}\"\nsweep_interval_secs = 0\n\
         customer_endpoints = [\"{}\"]\n\
         [store.destinations.shared]\nurl = \"{registered_url}\"\n",
        rtp + 98,
        env("AWS_ENDPOINT")
    );
    std::fs::write(dir.join("callrec.toml"), config).expect("config");
    let recording = "/v1/telephony/config/callRecording";
    policy(
        dir,
        "post",
        "/v1/organizations",
        json!({"id": "acme", "displayName": "Acme", "region": "US"}),
    );
    policy(
        dir,
        "post",
        "/v1/locations",
        json!({"id": "hq", "name": "HQ"}),
    );
    policy(
        dir,
        "post",
        "/v1/people",
        json!({
            "id": "alice", "locationId": "hq", "firstName": "Alice", "lastName": "Lee",
            "email": "alice@example.com", "timeZone": "Europe/London",
            "callingLicense": "Professional", "sipAddresses": ["sip:alice@example.com"]}),
    );
    policy(
        dir,
        "put",
        &format!("{recording}/vendors/imagicle/termsOfService"),
        json!({"termsOfServiceEnabled": true}),
    );
    policy(
        dir,
        "put",
        &format!("{recording}/vendors/imagicle/account"),
        json!({"accountId": "imagicle-acme"}),
    );
    policy(
        dir,
        "put",
        &format!("{recording}/vendor"),
        json!({"vendorId": "imagicle"}),
    );
    policy(
        dir,
        "put",
        "/v1/organizations/acme",
        json!({ "customerStorage": storage }),
    );
    policy(
        dir,
        "put",
        "/v1/people/alice/features/callRecording",
        json!({
            "enabled": true, "record": "Always", "recordVoicemailEnabled": false,
            "startStopAnnouncement": {"internalCallsEnabled": false, "pstnCallsEnabled": false},
            "notification": {"type": "Beep", "enabled": true},
            "repeat": {"interval": 20, "enabled": false}}),
    );
    let serve = common::serve::Serve::start_with(dir, &[], &[("CALLREC_SECRETS_KEY", SECRETS_KEY)]);
    serve.wait_for_policy();
    let scenario = prepare_call(dir);
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg(serve.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-mp", &(sip_port + 100).to_string()])
        .args(["-set", "aor_a", "sip:alice@example.com"])
        .args(["-set", "aor_b", "sip:bob@example.com"])
        .args([
            "-m",
            "1",
            "-d",
            "1500",
            "-trace_err",
            "-nostdin",
            "-timeout",
            "60s",
        ])
        .current_dir(dir)
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    serve
}

/// Waits for a recording's metadata under `url`, read with the given keys; every key there.
fn wait_for_recording(
    serve: &common::serve::Serve,
    url: &str,
    access_key: &str,
    secret_key: &str,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let objects = listed(url, access_key, secret_key);
        if objects.iter().any(|k| k.ends_with(".json")) {
            return objects;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recording in {url}: {objects:?}\n{:?}",
            serve.events("upload.failed")
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_recording_lands_in_the_customers_bucket_with_the_customers_keys() {
    let tag = unique();
    let tmp = TempDir::new("byos-lands");
    let customer = customer_account(&tag);
    let server_bucket = env("CALLREC_TEST_S3");
    let default_url = format!("{server_bucket}/default-{tag}");
    let registered_url = format!("{server_bucket}/registered-{tag}");
    let own_url = format!("{}/calls", customer.bucket_url);
    let own = json!({
        "url": own_url, "accessKeyId": customer.access_key,
        "secretAccessKey": customer.secret_key, "endpoint": env("AWS_ENDPOINT")});
    // The server keeps its own working AWS_* credentials, which cannot write the customer's
    // bucket: a recording there was written with the customer's keys.
    let serve = imagicle_call(&tmp.0, &default_url, &registered_url, own, 15710);
    let stored = wait_for_recording(
        &serve,
        &customer.bucket_url,
        &customer.access_key,
        &customer.secret_key,
    );
    assert!(
        stored
            .iter()
            .all(|k| k.starts_with("calls/recordings/unlimited/acme/")),
        "{stored:?}"
    );
    assert!(stored.iter().any(|k| k.ends_with(".wav")), "{stored:?}");
    let access = env("AWS_ACCESS_KEY_ID");
    let secret = env("AWS_SECRET_ACCESS_KEY");
    assert!(listed(&default_url, &access, &secret).is_empty());
    let uploads = serve.events("upload.stored");
    assert!(!uploads.is_empty());
    assert!(
        uploads.iter().all(|e| e["destination"] == own_url.as_str()),
        "{uploads:?}"
    );
    // The backlog is shown under the organisation's name for the bucket.
    let backlog =
        format!("callrec_upload_destination_backlog{{destination=\"customer:acme:{own_url}\"}}");
    assert_eq!(serve.metrics().get(&backlog), Some(&0.0), "{backlog}");
}

#[test]
fn a_recording_lands_in_the_registered_destination_chosen_by_name() {
    let tag = unique();
    let tmp = TempDir::new("byos-lands-registered");
    let server_bucket = env("CALLREC_TEST_S3");
    let default_url = format!("{server_bucket}/default-{tag}");
    let registered_url = format!("{server_bucket}/registered-{tag}");
    let chosen = json!({ "destination": "shared" });
    let serve = imagicle_call(&tmp.0, &default_url, &registered_url, chosen, 15720);
    let access = env("AWS_ACCESS_KEY_ID");
    let secret = env("AWS_SECRET_ACCESS_KEY");
    let stored = wait_for_recording(&serve, &registered_url, &access, &secret);
    let prefix = format!("registered-{tag}/recordings/unlimited/acme/");
    assert!(stored.iter().all(|k| k.starts_with(&prefix)), "{stored:?}");
    assert!(listed(&default_url, &access, &secret).is_empty());
}
