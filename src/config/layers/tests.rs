//! The precedence order, case by case, for every setting that has a flag, a variable and a
//! field; and that a command reads only its own sections.

use super::*;
use std::collections::HashMap;
use std::path::PathBuf;

/// A file in a scratch directory of its own.
fn file(test: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-layers-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config file");
    path
}

const NO_SYSTEM: &str = "/nonexistent/callrec/config.toml";

fn resolve(sources: &Sources, vars: &[(&str, &str)]) -> Result<Config, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::resolve(sources, &|n| vars.get(n).cloned(), Path::new(NO_SYSTEM))
}

/// One setting reachable from a flag, a variable and the file: its values in each source.
struct Setting {
    flag: &'static str,
    field: &'static str,
    var: &'static str,
    section: Section,
    /// The value each source gives: flag, variable, file; and the default.
    values: [&'static str; 3],
    default: &'static str,
    read: fn(&Config) -> String,
}

const SETTINGS: &[Setting] = &[
    Setting {
        flag: "--store",
        field: "store.url",
        var: "CALLREC_STORE_URL",
        section: Section::Store,
        values: ["memory://flag", "memory://env", "memory://file"],
        default: ".",
        read: |c| c.store.url.clone(),
    },
    Setting {
        flag: "--store",
        field: "store.url",
        var: "CALLREC_STORE",
        section: Section::Store,
        values: ["memory://flag", "memory://env", "memory://file"],
        default: ".",
        read: |c| c.store.url.clone(),
    },
    Setting {
        flag: "--spool",
        field: "store.spool",
        var: "CALLREC_SPOOL",
        section: Section::Store,
        values: ["flag-spool", "env-spool", "file-spool"],
        default: "spool",
        read: |c| c.store.spool.display().to_string(),
    },
    Setting {
        flag: "--spool",
        field: "store.spool",
        var: "CALLREC_STORE_SPOOL",
        section: Section::Store,
        values: ["flag-spool", "env-spool", "file-spool"],
        default: "spool",
        read: |c| c.store.spool.display().to_string(),
    },
    Setting {
        flag: "--policy-db",
        field: "policy.db",
        var: "CALLREC_POLICY_DB",
        section: Section::Policy,
        values: [
            "sqlite://flag.sqlite",
            "sqlite://env.sqlite",
            "sqlite://file.sqlite",
        ],
        default: "sqlite://policy.sqlite",
        read: |c| c.policy.db.clone(),
    },
    Setting {
        flag: "--sip",
        field: "sip.listen",
        var: "CALLREC_SIP_LISTEN",
        section: Section::Sip,
        values: ["127.0.0.1:5071", "127.0.0.1:5072", "127.0.0.1:5073"],
        default: "127.0.0.1:5060",
        read: |c| c.sip.listen.to_string(),
    },
    // `record`'s own flags over the settings `serve` records calls with.
    Setting {
        flag: "--format",
        field: "recording.format",
        var: "CALLREC_RECORDING_FORMAT",
        section: Section::Recording,
        values: ["wav", "opus", "wav"],
        default: "opus",
        read: |c| c.recording.format.clone(),
    },
    Setting {
        flag: "--layout",
        field: "recording.layout",
        var: "CALLREC_RECORDING_LAYOUT",
        section: Section::Recording,
        values: ["mono", "separate", "mono"],
        default: "stereo",
        read: |c| c.recording.layout.clone(),
    },
    Setting {
        flag: "--jitter-ms",
        field: "recording.jitter_ms",
        var: "CALLREC_RECORDING_JITTER_MS",
        section: Section::Recording,
        values: ["100", "150", "250"],
        default: "200",
        read: |c| c.recording.jitter_ms.to_string(),
    },
    Setting {
        flag: "--admin",
        field: "admin.listen",
        var: "CALLREC_ADMIN_LISTEN",
        section: Section::Admin,
        values: ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"],
        default: "127.0.0.1:8080",
        read: |c| c.admin.listen.to_string(),
    },
];

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    for (i, setting) in SETTINGS.iter().enumerate() {
        let [flag_value, env_value, file_value] = setting.values;
        let (section, key) = setting.field.split_once('.').expect("section.key");
        let path = file(
            &format!("order-{i}"),
            &match file_value.parse::<u64>() {
                Ok(number) => format!("[{section}]\n{key} = {number}\n"),
                Err(_) => format!("[{section}]\n{key} = \"{file_value}\"\n"),
            },
        );
        let sections = [setting.section];
        // (flag given, variable set, file given) → the value and where it came from.
        let cases = [
            (
                true,
                true,
                true,
                flag_value,
                Origin::Flag(setting.flag.into()),
            ),
            (
                true,
                false,
                false,
                flag_value,
                Origin::Flag(setting.flag.into()),
            ),
            (
                false,
                true,
                true,
                env_value,
                Origin::Env(setting.var.into()),
            ),
            (
                false,
                true,
                false,
                env_value,
                Origin::Env(setting.var.into()),
            ),
            (false, false, true, file_value, Origin::File(path.clone())),
            (false, false, false, setting.default, Origin::Default),
        ];
        for (flag, env, in_file, expected, origin) in cases {
            let sources = Sources::new(in_file.then_some(path.as_path()), &sections).flag(
                setting.flag,
                setting.field,
                flag.then(|| flag_value.to_string()),
            );
            let vars: &[(&str, &str)] = match env {
                true => &[(setting.var, env_value)],
                false => &[],
            };
            let config = resolve(&sources, vars).expect("valid");
            let case = format!("{} flag={flag} env={env} file={in_file}", setting.var);
            assert_eq!((setting.read)(&config), expected, "{case}");
            assert_eq!(*config.origins.of(setting.field), origin, "{case}");
        }
    }
}

#[test]
fn a_bad_value_is_reported_as_the_flag_or_variable_that_gave_it() {
    let sections = [Section::Sip];
    let sources = Sources::new(None, &sections);
    let err = resolve(&sources, &[("CALLREC_SIP_LISTEN", "garbage")]).unwrap_err();
    assert_eq!(err, "CALLREC_SIP_LISTEN: 'garbage' is not HOST:PORT");
    let sources = sources.flag("--sip", "sip.listen", Some("nowhere".into()));
    let err = resolve(&sources, &[]).unwrap_err();
    assert_eq!(err, "--sip: 'nowhere' is not HOST:PORT");
    let err = resolve(
        &Sources::new(None, &[Section::Recording]),
        &[("CALLREC_RECORDING_JITTER_MS", "20000")],
    )
    .unwrap_err();
    assert_eq!(
        err,
        "CALLREC_RECORDING_JITTER_MS: 20000 is above the limit of 10000"
    );
    let path = file("bad-value", "[sip]\nmax_calls = 0\n");
    let err = resolve(&Sources::new(Some(&path), &[Section::Sip]), &[]).unwrap_err();
    assert_eq!(
        err,
        format!("{} (sip.max_calls): must be above 0", path.display())
    );
}

#[test]
fn host_names_are_resolved_wherever_an_address_is_asked() {
    let path = file("host-names", "[sip]\nlisten = \"localhost:5090\"\n");
    let config = resolve(&Sources::new(Some(&path), &[Section::Sip]), &[]).expect("valid");
    assert!(
        config.sip.listen.ip().is_loopback(),
        "{}",
        config.sip.listen
    );
    assert_eq!(config.sip.listen.port(), 5090);
    let sources = Sources::new(None, &[Section::Sip]).flag(
        "--sip",
        "sip.listen",
        Some("localhost:5091".into()),
    );
    let config = resolve(&sources, &[]).expect("valid");
    assert!(config.sip.listen.ip().is_loopback());
}

#[test]
fn a_command_reads_only_its_own_sections() {
    let store_only = [Section::Store, Section::Orgs];
    let garbage = [
        ("CALLREC_SIP_LISTEN", "garbage"),
        ("CALLREC_RECORDING_JITTER_MS", "lots"),
        ("CALLREC_POLICY_DB", ""),
        ("CALLREC_STORE", "memory://used"),
    ];
    let config = resolve(&Sources::new(None, &store_only), &garbage).expect("SIP not read");
    assert_eq!(config.store.url, "memory://used");
    assert_eq!(config.sip, crate::config::SipConfig::default());
    // The file's other sections are not read either, but its section names still are.
    let text = "sip.max_calls = 0\n[store]\nurl = \"memory://file\"\n[sip]\nlisten = \"garbage\"\n\
                [recording]\njitter_ms = \"x\"\n[orgs.acme.store]\nurl = \"memory://acme\"\n";
    let path = file("sections", text);
    let config = resolve(&Sources::new(Some(&path), &store_only), &[]).expect("SIP not read");
    assert_eq!(config.store.url, "memory://file");
    assert_eq!(config.destination_for(Some("acme")).url, "memory://acme");
    let err = resolve(&Sources::new(Some(&path), &Section::ALL), &[]).unwrap_err();
    assert!(
        err.contains("sip.max_calls") || err.contains("line"),
        "{err}"
    );
    let path = file("unknown-section", "[stor]\nurl = \"x\"\n");
    let err = resolve(&Sources::new(Some(&path), &store_only), &[]).unwrap_err();
    assert!(err.contains("unknown field `stor`"), "{err}");
    // A field of a used section misspelt is still found, with its line.
    let path = file("misspelt", "[sip]\nlisten = \"x\"\n[store]\nulr = \"x\"\n");
    let err = resolve(&Sources::new(Some(&path), &store_only), &[]).unwrap_err();
    assert!(
        err.contains("unknown field `ulr`") && err.contains("(line 4)"),
        "{err}"
    );
}

#[test]
fn of_a_short_and_a_full_variable_the_full_one_wins() {
    let sections = [Section::Store];
    let both = [
        ("CALLREC_STORE", "memory://short"),
        ("CALLREC_STORE_URL", "memory://full"),
        ("CALLREC_SPOOL", "short-spool"),
        ("CALLREC_STORE_SPOOL", "full-spool"),
    ];
    let config = resolve(&Sources::new(None, &sections), &both).expect("valid");
    assert_eq!(config.store.url, "memory://full");
    assert_eq!(config.store.spool, Path::new("full-spool"));
    assert_eq!(
        *config.origins.of("store.url"),
        Origin::Env("CALLREC_STORE_URL".into())
    );
}

/// The settings with a variable and a field but no flag: the variable beats the file, which
/// beats the default; each value's origin is kept for messages.
#[test]
fn a_variable_beats_the_file_for_settings_without_a_flag() {
    // (field, variable, the file's TOML line, the variable's value, read, file's, variable's)
    type Read = fn(&Config) -> String;
    let cases: [(&str, &str, &str, &str, Read, &str, &str); 3] = [
        (
            "sip.allow",
            "CALLREC_SIP_ALLOW",
            "[sip]\nallow = [\"10.0.0.0/8\"]\n",
            "192.0.2.7, 2001:db8::/32",
            |c| {
                let nets: Vec<String> = c
                    .sip
                    .allow
                    .networks()
                    .iter()
                    .map(|n| n.to_string())
                    .collect();
                nets.join(",")
            },
            "10.0.0.0/8",
            "192.0.2.7,2001:db8::/32",
        ),
        (
            "sip.tls_client_names",
            "CALLREC_SIP_TLS_CLIENT_NAMES",
            "[sip]\ntls_client_ca = \"Cargo.toml\"\ntls_client_names = [\"a.example.com\"]\n",
            "b.example.com,c.example.com",
            |c| c.sip.tls_client_names.join(","),
            "a.example.com",
            "b.example.com,c.example.com",
        ),
        (
            "admin.allow_plain_http",
            "CALLREC_ADMIN_ALLOW_PLAIN_HTTP",
            "[admin]\nallow_plain_http = true\n",
            "false",
            |c| c.admin.allow_plain_http.to_string(),
            "true",
            "false",
        ),
    ];
    for (i, (field, var, text, value, read, from_file, from_var)) in cases.into_iter().enumerate() {
        let path = file(&format!("no-flag-{i}"), text);
        let sections = [Section::of(field).expect("a known section")];
        let sources = Sources::new(Some(&path), &sections);
        let config = resolve(&sources, &[]).expect("valid");
        assert_eq!(read(&config), from_file, "{field}");
        assert_eq!(
            *config.origins.of(field),
            Origin::File(path.clone()),
            "{field}"
        );
        let config = resolve(&sources, &[(var, value)]).expect("valid");
        assert_eq!(read(&config), from_var, "{field}");
        assert_eq!(
            *config.origins.of(field),
            Origin::Env(var.into()),
            "{field}"
        );
    }
    let sources = Sources::new(None, &[Section::Admin]);
    let err = resolve(&sources, &[("CALLREC_ADMIN_LISTEN", "0.0.0.0:8080")]).unwrap_err();
    assert!(
        err.starts_with("CALLREC_ADMIN_LISTEN: 0.0.0.0:8080 is not a loopback address"),
        "{err}"
    );
}

#[test]
fn srtp_over_plain_transport_is_off_unless_the_file_or_the_environment_says_so() {
    let sections = [Section::Sip];
    let none = Sources::new(None, &sections);
    assert!(!resolve(&none, &[]).unwrap().sip.srtp_over_plain_transport);
    let var = "CALLREC_SIP_SRTP_OVER_PLAIN_TRANSPORT";
    assert!(
        resolve(&none, &[(var, "true")])
            .unwrap()
            .sip
            .srtp_over_plain_transport
    );
    let path = file("srtp-plain", "[sip]\nsrtp_over_plain_transport = true\n");
    let from_file = Sources::new(Some(&path), &sections);
    assert!(
        resolve(&from_file, &[])
            .unwrap()
            .sip
            .srtp_over_plain_transport
    );
    // The variable beats the file.
    assert!(
        !resolve(&from_file, &[(var, "false")])
            .unwrap()
            .sip
            .srtp_over_plain_transport
    );
    let err = resolve(&none, &[(var, "maybe")]).unwrap_err();
    assert_eq!(err, format!("{var}: 'maybe' is not true or false"));
}
