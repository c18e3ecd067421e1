//! Settings as users meet them, through the built binary: one precedence order (flag, else
//! environment variable, else configuration file, else default) for every command; the
//! standard configuration file locations; a command reads only the settings it uses; and the
//! messages for an unreachable or mistyped policy database, a host name or a taken port, and
//! the `policy` command's refusals, each naming what the user typed.

mod common;

use common::TempDir;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pcmu-clean.pcap");

/// `callrec ARGS` in `dir`, with none of the caller's callrec settings and no user
/// configuration file (`XDG_CONFIG_HOME` is the folder's own), plus `vars`.
fn callrec(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CALLREC_") && !name.starts_with("CALLREC_TEST") {
            command.env_remove(name);
        }
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    callrec(dir, args, vars).output().expect("callrec runs")
}

fn ok(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> String {
    let out = run(dir, args, vars);
    assert!(
        out.status.success(),
        "{args:?} {vars:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The one line a refusal prints, without `callrec: `; the status must be 2.
fn refused(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> String {
    let out = run(dir, args, vars);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?} {vars:?}: {stderr}");
    stderr
        .trim()
        .strip_prefix("callrec: ")
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string()
}

/// The S3 path prefix `storage lifecycle --print` filters under: it shows which store URL
/// the command settled on, without touching any store.
fn lifecycle_prefix(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> String {
    let mut full = vec!["storage", "lifecycle", "--print"];
    full.extend(args);
    // Any credentials do: printing touches no store, but an S3 store without any is refused.
    let mut vars = vars.to_vec();
    vars.extend([
        ("AWS_ACCESS_KEY_ID", "print"),
        ("AWS_SECRET_ACCESS_KEY", "print"),
    ]);
    let xml = ok(dir, &full, &vars);
    let at = xml.find("/recordings/").unwrap_or_else(|| panic!("{xml}"));
    let start = xml[..at].rfind('>').expect("a filter element") + 1;
    xml[start..at].to_string()
}

#[test]
fn every_store_command_takes_a_flag_over_the_environment_over_the_file() {
    let tmp = TempDir::new("config-order");
    let dir = &tmp.0;
    std::fs::write(
        dir.join("callrec.toml"),
        "[store]\nurl = \"s3://bucket/from-file\"\n",
    )
    .expect("config");
    let flag = ["--store", "s3://bucket/from-flag"];
    let file = ["--config", "callrec.toml"];
    let env = [("CALLREC_STORE_URL", "s3://bucket/from-env")];
    let short_env = [("CALLREC_STORE", "s3://bucket/from-short-env")];
    let both: Vec<&str> = flag.iter().chain(&file).copied().collect();
    assert_eq!(lifecycle_prefix(dir, &both, &env), "from-flag");
    assert_eq!(lifecycle_prefix(dir, &flag, &env), "from-flag");
    assert_eq!(lifecycle_prefix(dir, &file, &env), "from-env");
    assert_eq!(lifecycle_prefix(dir, &file, &short_env), "from-short-env");
    assert_eq!(lifecycle_prefix(dir, &file, &[]), "from-file");
    assert_eq!(lifecycle_prefix(dir, &[], &env), "from-env");
    // The file named by CALLREC_CONFIG, and found at the user's standard place.
    let named = [("CALLREC_CONFIG", "callrec.toml")];
    assert_eq!(lifecycle_prefix(dir, &[], &named), "from-file");
    std::fs::create_dir_all(dir.join("xdg/callrec")).expect("xdg dir");
    std::fs::write(
        dir.join("xdg/callrec/config.toml"),
        "[store]\nurl = \"s3://bucket/from-xdg\"\n",
    )
    .expect("xdg config");
    assert_eq!(lifecycle_prefix(dir, &[], &[]), "from-xdg");
    assert_eq!(lifecycle_prefix(dir, &[], &named), "from-file");
    assert_eq!(lifecycle_prefix(dir, &[], &env), "from-env");
}

#[test]
fn a_named_configuration_file_that_does_not_exist_is_an_error_naming_it() {
    let tmp = TempDir::new("config-missing");
    let dir = &tmp.0;
    assert_eq!(
        refused(dir, &["storage", "ls", "--config", "typo.toml"], &[]),
        "--config typo.toml: no such configuration file"
    );
    assert_eq!(
        refused(
            dir,
            &["storage", "ls"],
            &[("CALLREC_CONFIG", "/etc/calrec.toml")]
        ),
        "CALLREC_CONFIG=/etc/calrec.toml: no such configuration file"
    );
}

#[test]
fn record_reads_no_sip_setting_and_stores_where_the_environment_says() {
    let tmp = TempDir::new("config-record");
    let dir = &tmp.0;
    // A broken SIP setting is not record's business.
    let broken = [("CALLREC_SIP_LISTEN", "garbage")];
    let plain = ok(dir, &["record", CAPTURE, "--out", "plain"], &broken);
    assert!(plain.contains("plain/pcmu-clean.opus"), "{plain}");
    // CALLREC_STORE alone sends the recording to that store, through the spool.
    let env = [("CALLREC_STORE", "store")];
    let stored = ok(dir, &["record", CAPTURE], &env);
    assert!(stored.contains("\"stored\""), "{stored}");
    assert!(
        dir.join("store/recordings/30d/default").is_dir(),
        "stored under the store of CALLREC_STORE: {stored}"
    );
    assert!(
        !dir.join("recordings").exists(),
        "nothing written to --out's default"
    );
    // --out, a flag, wins over the environment's store.
    let out = ok(dir, &["record", CAPTURE, "--out", "again"], &env);
    assert!(out.contains("again/pcmu-clean.opus"), "{out}");
}

/// The media files `record --out DIR` wrote, by name.
fn media_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn record_shapes_the_recording_as_its_flags_else_the_environment_else_the_file_say() {
    let tmp = TempDir::new("config-record-shape");
    let dir = &tmp.0;
    std::fs::write(
        dir.join("callrec.toml"),
        "[recording]\nformat = \"wav\"\nlayout = \"separate\"\n",
    )
    .expect("config");
    let named = [("CALLREC_CONFIG", "callrec.toml")];
    let record = |out: &str, flags: &[&str], vars: &[(&str, &str)]| {
        let args: Vec<&str> = ["record", CAPTURE, "--out", out]
            .into_iter()
            .chain(flags.iter().copied())
            .collect();
        ok(dir, &args, vars);
        media_in(&dir.join(out))
    };
    let legs = |ext: &str| vec![format!("pcmu-clean-a.{ext}"), format!("pcmu-clean-b.{ext}")];
    assert_eq!(record("default", &[], &[]), ["pcmu-clean.opus"]);
    assert_eq!(record("file", &[], &named), legs("wav"));
    let env = [
        named[0],
        ("CALLREC_RECORDING_FORMAT", "opus"),
        ("CALLREC_RECORDING_LAYOUT", "mono"),
    ];
    assert_eq!(record("env", &[], &env), ["pcmu-clean.opus"]);
    let flags = ["--format", "wav", "--layout", "stereo"];
    assert_eq!(record("flag", &flags, &env), ["pcmu-clean.wav"]);
    // A bad value is named by where it came from.
    let bad = refused(
        dir,
        &["record", CAPTURE, "--out", "bad"],
        &[("CALLREC_RECORDING_JITTER_MS", "lots")],
    );
    assert!(
        bad.starts_with("CALLREC_RECORDING_JITTER_MS: 'lots'"),
        "{bad}"
    );
    std::fs::write(dir.join("slow.toml"), "[recording]\njitter_ms = 99999\n").expect("config");
    let slow = refused(
        dir,
        &["record", CAPTURE, "--out", "bad", "--config", "slow.toml"],
        &[],
    );
    assert!(
        slow.contains("jitter_ms") && slow.contains("10000"),
        "{slow}"
    );
}

#[test]
fn policy_database_errors_say_the_real_cause_and_name_it() {
    let tmp = TempDir::new("config-db");
    let dir = &tmp.0;
    let get = ["policy", "GET", "/v1/organizations", "--org", "acme"];
    // A read never creates a database where a mistyped path points.
    let mut args = get.to_vec();
    args.extend(["--policy-db", "sqlite://typo.sqlite"]);
    let err = refused(dir, &args, &[]);
    assert!(
        err.starts_with("--policy-db: no policy database at typo.sqlite: reading creates none"),
        "{err}"
    );
    assert!(
        !dir.join("typo.sqlite").exists(),
        "no empty database created"
    );
    let err = refused(dir, &get, &[("CALLREC_POLICY_DB", "sqlite://typo.sqlite")]);
    assert!(
        err.starts_with("CALLREC_POLICY_DB: no policy database at typo.sqlite"),
        "{err}"
    );
    // A file that cannot be opened is named, with why.
    let token = [
        "token",
        "create",
        "--person",
        "ann",
        "--role",
        "read-only",
        "--org",
        "acme",
    ];
    let mut args = token.to_vec();
    args.extend(["--policy-db", "sqlite://missing-dir/p.sqlite"]);
    assert_eq!(
        refused(dir, &args, &[]),
        "--policy-db: cannot open the policy database file missing-dir/p.sqlite: unable to \
         open database file (its directory missing-dir does not exist)"
    );
    // PostgreSQL that refuses: said at once, by host and port.
    let started = Instant::now();
    let err = refused(
        dir,
        &token,
        &[("CALLREC_POLICY_DB", "postgres://callrec@127.0.0.1:1/x")],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.starts_with(
            "CALLREC_POLICY_DB: cannot connect to the policy database at 127.0.0.1:1: connection refused"
        ),
        "{err}"
    );
}

/// Starts `serve` with `args` in `dir`; the first line it prints, or its refusal.
fn serve(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Result<String, String> {
    let mut full = vec!["serve"];
    full.extend(args);
    let mut child = callrec(dir, &full, vars)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    if line.is_empty() {
        let out = child.wait_with_output().expect("exits");
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let refusal = stderr.lines().last().unwrap_or_default();
        return Err(refusal.trim_start_matches("callrec: ").to_string());
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(line)
}

#[test]
fn serve_takes_host_names_and_names_a_taken_port_as_the_user_gave_it() {
    let tmp = TempDir::new("config-addresses");
    let dir = &tmp.0;
    let ready = serve(
        dir,
        &["--admin", "localhost:0", "--sip", "localhost:0"],
        &[],
    )
    .expect("host names are resolved");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("json");
    let admin: std::net::SocketAddr = ready["admin"]
        .as_str()
        .expect("admin")
        .parse()
        .expect("addr");
    assert!(admin.ip().is_loopback(), "{ready}");

    let taken = UdpSocket::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("bound");
    let in_use = format!("{port}: the port is in use (another callrec, or another server?) (UDP)");
    let sip = port.to_string();
    let admin_any = ["--admin", "127.0.0.1:0"];
    let mut args = admin_any.to_vec();
    args.extend(["--sip", &sip]);
    assert_eq!(serve(dir, &args, &[]), Err(format!("--sip: {in_use}")));
    let env = [("CALLREC_SIP_LISTEN", sip.as_str())];
    assert_eq!(
        serve(dir, &admin_any, &env),
        Err(format!("CALLREC_SIP_LISTEN: {in_use}"))
    );
    std::fs::write(
        dir.join("callrec.toml"),
        format!("[sip]\nlisten = \"{sip}\"\n"),
    )
    .expect("config");
    let mut args = admin_any.to_vec();
    args.extend(["--config", "callrec.toml"]);
    assert_eq!(
        serve(dir, &args, &[]),
        Err(format!("callrec.toml (sip.listen): {in_use}"))
    );

    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let admin = taken.local_addr().expect("bound").to_string();
    assert_eq!(
        serve(dir, &["--admin", &admin, "--sip", "127.0.0.1:0"], &[]),
        Err(format!(
            "--admin: {admin}: the port is in use (another callrec, or another server?)"
        ))
    );
    // One limit for the jitter buffer, live or offline.
    assert_eq!(
        serve(dir, &admin_any, &[("CALLREC_RECORDING_JITTER_MS", "20000")]),
        Err("CALLREC_RECORDING_JITTER_MS: 20000 is above the limit of 10000".into())
    );
}

#[test]
fn the_policy_command_says_what_was_not_found_and_which_organisation_is_outside_org() {
    let tmp = TempDir::new("config-policy-messages");
    let dir = &tmp.0;
    let org = r#"{"id": "acme", "displayName": "Acme", "region": "US"}"#;
    ok(
        dir,
        &[
            "policy",
            "POST",
            "/v1/organizations",
            "--org",
            "acme",
            "--body",
            org,
        ],
        &[],
    );
    assert_eq!(
        refused(dir, &["policy", "GET", "/v1/nope", "--org", "acme"], &[]),
        "404 no such route: GET /v1/nope (the routes are listed at /openapi.json)"
    );
    assert_eq!(
        refused(
            dir,
            &["policy", "GET", "/v1/people?orgId=globex", "--org", "acme"],
            &[]
        ),
        "403 organisation globex is outside --org (acme): add --org globex to act for it"
    );
}

#[test]
fn the_help_says_the_order_once() {
    let tmp = TempDir::new("config-help");
    let dir = &tmp.0;
    let order = "Each setting is taken from its flag, else its environment variable, else the \
                 configuration file, else the default.";
    let flat = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    for args in [&["--help"][..], &["serve", "--help"]] {
        let help = flat(ok(dir, args, &[]));
        assert_eq!(help.matches(order).count(), 1, "{args:?}: {help}");
        assert!(help.contains("/etc/callrec/config.toml"), "{help}");
    }
    // No flag's help says another order (they said the file won over the environment).
    for args in [
        &["storage", "ls", "--help"][..],
        &["token", "create", "--help"],
    ] {
        let help = flat(ok(dir, args, &[]));
        for wrong in [
            "store.url, else CALLREC_STORE",
            "policy.db, else CALLREC_POLICY_DB",
        ] {
            assert!(!help.contains(wrong), "{args:?}: {help}");
        }
        assert!(
            help.contains("CALLREC_"),
            "each flag names its variable: {help}"
        );
    }
}

#[test]
fn plain_http_admin_off_loopback_is_refused_at_start_naming_the_setting() {
    let tmp = TempDir::new("config-admin-plain-http");
    let dir = &tmp.0;
    let public = ["--admin", "0.0.0.0:0", "--sip", "127.0.0.1:0"];
    let err = serve(dir, &public, &[]).unwrap_err();
    assert!(
        err.starts_with("--admin: 0.0.0.0:0 is not a loopback address")
            && err.contains("admin.tls_certificate and admin.tls_key")
            && err.contains("admin.allow_plain_http = true"),
        "{err}"
    );
    std::fs::write(
        dir.join("callrec.toml"),
        "[admin]\nlisten = \"0.0.0.0:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n",
    )
    .expect("config");
    let err = serve(dir, &["--config", "callrec.toml"], &[]).unwrap_err();
    assert!(
        err.starts_with("callrec.toml (admin.listen): 0.0.0.0:0 is not a loopback address"),
        "{err}"
    );
    // Said explicitly, it serves plain HTTP there.
    let ready = serve(dir, &public, &[("CALLREC_ADMIN_ALLOW_PLAIN_HTTP", "true")])
        .expect("plain HTTP allowed explicitly");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("json");
    assert!(
        ready["admin"]
            .as_str()
            .expect("admin")
            .starts_with("0.0.0.0:"),
        "{ready}"
    );
}
