//! Running the built `callrec` binary as an operator does, and reading what it leaves: its
//! stdout (one JSON object a line) and the files it wrote under a directory. One copy for
//! every test that starts the binary, so a change to how a run is judged is made once.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `callrec ARGS`, run in `dir`: its output, whatever its exit status.
pub fn callrec(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run callrec")
}

/// The stdout of a run that must have succeeded; a failed run fails the test with its stderr.
pub fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "callrec failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Each line of `stdout` as the JSON object it must be; a line that is not fails the test
/// naming it.
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// Every file under `dir`, by its path relative to `dir`, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                out.push(relative.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Moves a stored recording's retention clock back (its metadata document at `metadata`), as
/// if it had been stored `days` ago.
pub fn age(metadata: &Path, days: u64) {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(metadata).expect("metadata")).expect("json");
    let since = callrec::time::Time::parse_rfc3339(
        doc["storage"]["retained_since"].as_str().expect("since"),
    )
    .expect("time");
    let earlier = callrec::time::Time::from_nanos(since.as_nanos() - days * 86_400_000_000_000);
    doc["storage"]["retained_since"] = earlier.to_rfc3339().into();
    std::fs::write(metadata, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
}
