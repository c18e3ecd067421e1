//! `callrec loadtest --target`: the generator alone, in its own process, driving a real
//! `callrec serve` (a filesystem store, the admin API on loopback) and reading its /metrics.
//! Shown by what the server stored: exactly the calls sent, each two channels of the length
//! sent, not only by what the load test says.

mod common;

use common::serve::{metadata_files, Serve};
use common::{playback_length, run};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const CALLS: u64 = 4;
const SECONDS: u64 = 2;

fn loadtest(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .arg("loadtest")
        .args(args)
        .output()
        .expect("callrec loadtest runs")
}

/// Every stored media file (not the metadata documents) under `dir`.
fn media_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(media_files(&path));
        } else if path.extension().is_some_and(|e| e != "json") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn a_target_servers_cost_is_read_from_its_metrics_and_its_store_holds_every_call() {
    let serve = Serve::start_in_temp(
        "loadtest-target",
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = 42000\nrtp_port_max = 42999\n\
         max_calls = 50\nidle_timeout_secs = 600\n",
    );
    let (sip, admin) = (serve.sip.to_string(), serve.admin.to_string());
    let output = loadtest(&[
        "--target",
        &sip,
        "--metrics",
        &admin,
        "--calls",
        &CALLS.to_string(),
        "--seconds",
        &SECONDS.to_string(),
        "--recorder-calls",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["recorder_alone", "step", "recorder_alone", "summary"],
        "{stdout}"
    );

    let step = &lines[1];
    assert_eq!(step["calls"], CALLS);
    // Two legs, 50 packets a second each.
    assert_eq!(step["packets_sent"], CALLS * 2 * 50 * SECONDS, "{step}");
    assert_eq!(step["recordings_stored"], CALLS, "{step}");
    let cpu = step["server_cpu_seconds"].as_f64().unwrap();
    assert!(cpu > 0.0, "the server used CPU for the calls: {step}");
    let per_call_second = step["server_cpu_ms_per_call_second"].as_f64().unwrap();
    let expected = cpu * 1e3 / (CALLS * SECONDS) as f64;
    assert!((per_call_second - expected).abs() < 1e-6, "{step}");

    // The floor, just before and just after the step: the recorder alone on every core.
    let (before, after) = (&lines[0], &lines[2]);
    let cores = std::thread::available_parallelism().unwrap().get();
    for alone in [before, after] {
        assert_eq!(
            (alone["format"].as_str(), alone["call_secs"].as_u64()),
            (Some("opus"), Some(SECONDS)),
            "{alone}"
        );
        assert_eq!(alone["threads"], cores, "{alone}");
        assert!(alone["calls"].as_u64().unwrap() >= 1, "{alone}");
        assert!(alone["cpu_seconds"].as_f64().unwrap() > 0.0, "{alone}");
    }

    // The step's floor pools both: their CPU over their seconds of call.
    let summary = &lines[3];
    assert_eq!(summary["steps"].as_array().unwrap().len(), 1, "{summary}");
    let pooled = |key: &str| before[key].as_f64().unwrap() + after[key].as_f64().unwrap();
    let floor_ms = pooled("cpu_seconds") * 1e3 / (pooled("calls") * SECONDS as f64);
    let recorder = summary["steps"][0]["recorder_alone_cpu_ms_per_call_second"]
        .as_f64()
        .unwrap();
    assert!((recorder - floor_ms).abs() < 1e-9, "{summary}");
    let ratio = summary["steps"][0]["live_over_recorder"].as_f64().unwrap();
    assert!(
        (ratio - per_call_second / floor_ms).abs() < 1e-9,
        "{summary}"
    );

    // The server's store: exactly the calls sent, each both legs for the length sent.
    let store = serve.path("recordings");
    assert_eq!(
        metadata_files(&store).len(),
        CALLS as usize,
        "metadata documents"
    );
    let media = media_files(&store);
    assert_eq!(media.len(), CALLS as usize, "recordings: {media:?}");
    for file in &media {
        let probe = run(
            "ffprobe",
            &[
                "-v".as_ref(),
                "error".as_ref(),
                "-show_entries".as_ref(),
                "stream=channels".as_ref(),
                "-of".as_ref(),
                "default=noprint_wrappers=1".as_ref(),
                file.as_os_str(),
            ],
        );
        assert_eq!(probe.trim(), "channels=2", "{file:?}");
        let played = playback_length(&run("opusinfo", &[file.as_os_str()]));
        assert!(
            (played - SECONDS as f64).abs() <= 0.1,
            "{file:?} plays {played} s of the {SECONDS} s sent"
        );
    }
}

#[test]
fn a_server_off_this_machine_is_never_loaded() {
    let output = loadtest(&["--target", "10.0.0.7:5060", "--metrics", "127.0.0.1:8080"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("10.0.0.7:5060 is not a loopback address"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
