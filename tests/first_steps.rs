//! The README's "First steps", run as an operator runs them: its shell block read out of the
//! README and each line run by `sh` in an empty folder, with the built `callrec` first on the
//! `PATH`: the organisation, the person set to Always, a token (used over HTTP), `serve`, the
//! first call played by SIPp, and the recording found with `storage ls`. Only the addresses
//! change: the server listens on ports the system picks, and the lines after it are sent
//! there; its RTP ports are a range of this test's own (`CALLREC_SIP_RTP_PORT_*`, so tests
//! running beside it never share a port). Needs SIPp and curl (`scripts/setup`).

mod common;

use common::TempDir;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const README_SIP: &str = "127.0.0.1:5060";
const README_ADMIN: &str = "127.0.0.1:8080";

/// The command lines of the README's first shell block after `## First steps`.
fn first_steps() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split_once("\n## First steps\n")
        .expect("the README has a First steps section")
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("a sh block")
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// `sh -c LINE` in `dir`, with the built callrec first on the PATH and nothing of the
/// caller's environment that would change what callrec reads.
fn shell(dir: &Path, line: &str, vars: &[(&str, String)]) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_callrec"))
        .parent()
        .expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .env("CALLREC", env!("CARGO_MANIFEST_DIR"))
        // No configuration file of the machine's user, no policy database of theirs.
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env_remove("CALLREC_CONFIG")
        .env_remove("CALLREC_POLICY_DB")
        .env_remove("CALLREC_STORE")
        .env_remove("CALLREC_STORE_URL")
        .env("CALLREC_SIP_RTP_PORT_MIN", "31000")
        .env("CALLREC_SIP_RTP_PORT_MAX", "31999");
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn succeeded(line: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{line}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_first_steps_record_the_first_call() {
    let tmp = TempDir::new("first-steps");
    let dir = &tmp.0;
    let lines = first_steps();
    assert!(
        lines.iter().any(|l| l.starts_with("callrec serve ")),
        "{lines:#?}"
    );
    let mut vars: Vec<(&str, String)> = Vec::new();
    let mut server: Option<Server> = None;
    let (mut sip, mut admin) = (String::new(), String::new());
    let mut listed = None;
    for line in &lines {
        if let Some(serve) = lines_serve(line) {
            // Started as the README does, in the background; ready once it prints where.
            let serve = serve
                .replace(README_SIP, "127.0.0.1:0")
                .replace(README_ADMIN, "127.0.0.1:0");
            let mut child = shell(dir, &format!("exec {serve}"), &vars)
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(dir.join("serve.log")).expect("log"))
                .spawn()
                .expect("serve starts");
            let mut ready = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut ready)
                .expect("serve prints its addresses");
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            let ready: Value =
                serde_json::from_str(&ready).unwrap_or_else(|_| panic!("serve: {ready}\n{log}"));
            sip = ready["sip"].as_str().expect("sip").to_string();
            admin = ready["admin"].as_str().expect("admin").to_string();
            server = Some(Server(child));
            continue;
        }
        // The lines after the server talk to where it listens.
        let line = line.replace(README_SIP, &sip).replace(README_ADMIN, &admin);
        if let Some((name, command)) = captured(&line) {
            let out = shell(dir, command, &vars).output().expect("sh runs");
            let value = succeeded(command, out).trim().to_string();
            vars.push((name, value));
            continue;
        }
        if line.starts_with("callrec storage ls") {
            listed = Some(wait_for_recording(dir, &line, &vars));
            continue;
        }
        let out = shell(dir, &line, &vars).output().expect("sh runs");
        let stdout = succeeded(&line, out);
        if line.starts_with("curl ") {
            // The token works over HTTP: Alice is recorded, Always.
            let settings: Value =
                serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{line}: {stdout}"));
            assert_eq!(settings["enabled"], true, "{stdout}");
            assert_eq!(settings["record"], "Always", "{stdout}");
        }
    }
    assert!(server.is_some(), "the README starts the server");
    let listed = listed.expect("the README finds the recording");
    assert_eq!(listed["org"], "acme", "{listed}");
    assert_eq!(listed["retention"], "30d", "{listed}");
    assert_eq!(listed["plan"], "dubber-go", "{listed}");
    assert_eq!(listed["complete"], true, "{listed}");
    let prefix = listed["recording"].as_str().expect("recording prefix");
    let stored = dir.join(prefix);
    let opus = std::fs::read_dir(&stored)
        .unwrap_or_else(|e| panic!("{}: {e}", stored.display()))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".opus"))
        .expect("the recording's media");
    assert!(opus.metadata().expect("size").len() > 1000, "{opus:?}");
}

/// The command of a line `callrec serve ... &`.
fn lines_serve(line: &str) -> Option<&str> {
    line.strip_suffix('&')
        .map(str::trim)
        .filter(|l| l.starts_with("callrec serve"))
}

/// `NAME=$(COMMAND)`: the variable and the command whose output it takes.
fn captured(line: &str) -> Option<(&'static str, &str)> {
    let (name, rest) = line.split_once("=$(")?;
    let command = rest.strip_suffix(')')?;
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    Some((name, command))
}

/// Runs `line` (`callrec storage ls ...`) until it lists a complete recording: the upload
/// follows the call's end by a moment. Returns the recording's line.
fn wait_for_recording(dir: &Path, line: &str, vars: &[(&str, String)]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = shell(dir, line, vars).output().expect("sh runs");
        let stdout = succeeded(line, out);
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{line}: {stdout}")))
            .collect();
        // Every listing ends with its summary; the recording's line comes before it, and
        // says `complete: false` while its media is stored and its metadata not yet.
        let complete = |l: &Value| l["type"] == "recording" && l["complete"] == true;
        if let Some(recording) = lines.into_iter().find(complete) {
            return recording;
        }
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nothing stored:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
