//! The deployment files in deploy/ cannot silently rot: every metric the Grafana dashboard and
//! the Prometheus alert rules query (and every label value they select) is in a live worker's
//! /metrics after a call; the Prometheus configuration, the rules and each dashboard query
//! parse with `promtool`; Kamailio accepts its configuration (`kamailio -c`); systemd accepts
//! the unit (`systemd-analyze verify`); and what the Containerfile copies into its build
//! exists (the image itself is not built here: no container runtime).

mod common;

use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::synth::{generate, LegSpec};
use common::serve::{scrape, Serve};
use common::TempDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn deploy(path: &str) -> PathBuf {
    Path::new(ROOT).join("deploy").join(path)
}

/// Every PromQL query of the dashboard (panels' targets and the template variables'), each
/// with where it is.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("grafana/callrec.json")).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target's expr");
            queries.push((format!("panel {:?}", panel["title"]), expr.to_string()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if let Some(query) = variable["definition"].as_str() {
            queries.push((
                format!("variable {:?}", variable["name"]),
                query.to_string(),
            ));
        }
    }
    queries
}

/// Every alert rule's expression (one line each, `expr: ...`).
fn alert_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("prometheus/callrec-alerts.yml")).expect("rules");
    let mut alert = String::new();
    let mut queries = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            alert = name.to_string();
        } else if let Some(expr) = line.strip_prefix("expr: ") {
            queries.push((format!("alert {alert}"), expr.to_string()));
        }
    }
    queries
}

/// A selector of ours in a query: a `callrec_` metric name and its exact label matchers
/// (`outcome="failed"`; regular expressions and Grafana variables are left out).
#[derive(Debug)]
struct Selector {
    name: String,
    labels: Vec<(String, String)>,
}

fn selectors(query: &str) -> Vec<Selector> {
    let bytes = query.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = query[i..].find("callrec_").map(|at| at + i) {
        if at > 0 && ident(bytes[at - 1]) {
            i = at + 1;
            continue;
        }
        let mut end = at;
        while end < bytes.len() && ident(bytes[end]) {
            end += 1;
        }
        let mut labels = Vec::new();
        if query[end..].starts_with('{') {
            let close = query[end..].find('}').expect("a closed selector") + end;
            for matcher in query[end + 1..close].split(',') {
                // label="value" exactly; not label=~"..." nor label!="...".
                if let Some((label, value)) = matcher.split_once("=\"") {
                    let label = label.trim();
                    if !label.ends_with(['!', '=', '~']) && !value.contains('$') {
                        labels.push((label.to_string(), value.trim_end_matches('"').into()));
                    }
                }
            }
            i = close;
        } else {
            i = end;
        }
        found.push(Selector {
            name: query[at..end].to_string(),
            labels,
        });
    }
    found
}

/// `/metrics` as (sample name, labels) pairs.
fn samples(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let end = line.find(['{', ' ']).expect("a sample");
            let mut labels = Vec::new();
            if line[end..].starts_with('{') {
                let close = line.rfind('}').expect("closed labels");
                for pair in line[end + 1..close].split("\",") {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    labels.push((k.to_string(), v.trim_end_matches('"').to_string()));
                }
            }
            (line[..end].to_string(), labels)
        })
        .collect()
}

/// A worker after one SIPREC call recorded and uploaded, so every family has its series
/// (the upload destination's appear with its first upload).
fn live_worker() -> (Serve, String) {
    let serve = Serve::start_wav_in_temp("deploy-metrics", 31000, 3, "");
    let legs = [
        LegSpec {
            duration: Duration::from_secs(1),
            ..LegSpec::tone(Codec::Pcmu, 400.0, 0)
        },
        LegSpec {
            duration: Duration::from_secs(1),
            ..LegSpec::tone(Codec::Pcmu, 1000.0, 1)
        },
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    std::fs::write(serve.path("call.pcap"), capture).unwrap();
    let scenario = serve.path("siprec_call.xml");
    std::fs::copy(
        Path::new(ROOT).join("tests/sipp/siprec_call.xml"),
        &scenario,
    )
    .unwrap();
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg(serve.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", "12900", "-mp", "13000"])
        .args(["-set", "aor_a", "sip:alice@example.com"])
        .args(["-set", "aor_b", "sip:bob@example.com"])
        .args(["-m", "1", "-d", "1500", "-nostdin", "-timeout", "60s"])
        .current_dir(&serve.dir)
        .output()
        .expect("sipp runs (Debian package sip-tester; scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while serve.metric("callrec_uploads_total") < 1.0 {
        assert!(Instant::now() < deadline, "{:?}", serve.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = scrape(serve.admin).1;
    (serve, text)
}

#[test]
fn every_metric_the_dashboard_and_the_alerts_query_is_in_a_live_workers_metrics() {
    let (_serve, text) = live_worker();
    let exposed = samples(&text);
    let queries: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .chain(alert_queries())
        .collect();
    assert!(queries.len() >= 30, "{queries:?}");
    let mut checked = 0;
    for (place, query) in &queries {
        for selector in selectors(query) {
            let found = exposed.iter().any(|(name, labels)| {
                *name == selector.name && selector.labels.iter().all(|l| labels.contains(l))
            });
            assert!(
                found,
                "{place}: {selector:?} is not in /metrics:\n{query}\n{text}"
            );
            checked += 1;
        }
    }
    // Each family of the dashboard's sections is there at least once.
    for name in [
        "callrec_worker_info",
        "callrec_calls_active",
        "callrec_packets_total",
        "callrec_interarrival_jitter_seconds",
        "callrec_decode_delay_seconds",
        "callrec_upload_destination_backlog",
        "callrec_recordings_total",
    ] {
        assert!(
            queries.iter().any(|(_, q)| q.contains(name)),
            "the dashboard or the alerts show {name}"
        );
    }
    eprintln!("{checked} selectors in {} queries checked", queries.len());
}

#[test]
fn prometheus_accepts_its_configuration_the_rules_and_every_dashboard_query() {
    let check = |args: &[&str]| {
        let out = Command::new("promtool")
            .args(args)
            .output()
            .expect("promtool runs (Debian package prometheus; scripts/setup installs it)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The configuration, and the rule files it names.
    check(&[
        "check",
        "config",
        &deploy("prometheus/prometheus.yml").to_string_lossy(),
    ]);
    // The dashboard's queries as recording rules, Grafana's variables filled in: promtool
    // parses each as PromQL.
    let temp = TempDir::new("deploy-promql");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, query)) in dashboard_queries().iter().enumerate() {
        if query.starts_with("label_values(") {
            continue;
        }
        let query = query
            .replace("$__rate_interval", "1m")
            .replace("$worker", ".*");
        let quoted = serde_json::to_string(&query).unwrap();
        rules.push_str(&format!(
            "      - record: callrec:dashboard_{n}\n        expr: {quoted}\n"
        ));
    }
    std::fs::write(temp.path("dashboard.yml"), rules).unwrap();
    check(&[
        "check",
        "rules",
        &temp.path("dashboard.yml").to_string_lossy(),
    ]);
}

#[test]
fn kamailio_accepts_the_balancers_configuration() {
    let temp = TempDir::new("deploy-kamailio");
    std::fs::write(
        temp.path("dispatcher.list"),
        "1 sip:127.0.0.11:5060 0 0 duid=worker-1\n1 sip:127.0.0.12:5060 0 0 duid=worker-2\n",
    )
    .unwrap();
    let out = Command::new("kamailio")
        .arg("-c")
        .arg("-f")
        .arg(deploy("kamailio/kamailio.cfg"))
        .arg("-A")
        .arg(format!(
            "DISPATCHER_LIST=\"{}\"",
            temp.path("dispatcher.list").display()
        ))
        .args(["-l", "udp:127.0.0.10:5060"])
        .output()
        .expect("kamailio runs (Debian package kamailio; scripts/setup installs it)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("config file ok"), "{said}");
}

#[test]
fn systemd_accepts_the_unit() {
    // verify insists that ExecStart's binary exists: the one just built stands in for
    // /usr/bin/callrec.
    let unit = std::fs::read_to_string(deploy("systemd/callrec.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/callrec serve"), "{unit}");
    let temp = TempDir::new("deploy-systemd");
    let copy = temp.path("callrec.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/callrec", env!("CARGO_BIN_EXE_callrec")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs (Debian package systemd; scripts/setup installs it)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn what_the_containerfile_copies_into_its_build_exists() {
    let text = std::fs::read_to_string(deploy("Containerfile")).unwrap();
    let mut copied = 0;
    for line in text.lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let mut paths: Vec<&str> = args.split_whitespace().collect();
        paths.pop(); // the destination
        for path in paths {
            assert!(Path::new(ROOT).join(path).exists(), "COPY {path}: missing");
            copied += 1;
        }
    }
    assert!(copied >= 3, "{text}");
}
