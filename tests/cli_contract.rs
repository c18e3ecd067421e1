//! The output contract, held for every printing subcommand by the real binary (see
//! src/bin/callrec/output.rs and failure.rs): JSON lines whose first key is `type`, a summary
//! ending every walk, text with `--output-format text`, and a reader that goes away early
//! (`| head -1`) never a panic: status 0 (a token that could not be shown: revoked, status 1),
//! the changing commands' work done all the same. Also what a first hour meets around it:
//! clap's help and suggestions, completions, and `ls`/`verify` carrying on past one broken
//! recording.

mod common;

use common::TempDir;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn callrec(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir).env_remove("CALLREC_STORE");
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    callrec(dir).args(args).output().expect("run callrec")
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A local store (`store/`, spool `spool/`) holding `calls`, each the clean PCMU fixture.
fn store_with(dir: &Path, calls: &[&str]) {
    store_at(dir, "store", calls);
}

/// The store at `url` (spool `spool/`) holding `calls`, each the clean PCMU fixture.
fn store_at(dir: &Path, url: &str, calls: &[&str]) {
    for call in calls {
        let out = run(
            dir,
            &[
                "record",
                &fixture("pcmu-clean.pcap"),
                "--store",
                url,
                "--spool",
                "spool",
                "--org",
                "acme",
                "--call-id",
                call,
            ],
        );
        assert!(
            out.status.success(),
            "record {call}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every file under `dir` whose path ends with `suffix`.
fn find(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// How a case's reader treats stdout.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Gone before the command writes anything: its first write meets a broken pipe.
    GoneAtOnce,
    /// Reads the first line, then goes away (`| head -1`).
    FirstLine,
    /// Reads everything.
    All,
}

/// Runs the command with `reader` on its stdout; returns (status, stdout read, stderr).
fn run_with(dir: &Path, args: &[&str], reader: Reader) -> (Option<i32>, String, String) {
    let mut child = callrec(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callrec");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    // stderr drained beside, so a command that writes much of it never blocks.
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut read = String::new();
    match reader {
        Reader::GoneAtOnce => drop(stdout),
        Reader::FirstLine => {
            let _ = BufReader::new(stdout).read_line(&mut read);
        }
        Reader::All => {
            let _ = BufReader::new(stdout).read_to_string(&mut read);
        }
    }
    let status = child.wait().expect("wait");
    (status.code(), read, errors.join().expect("stderr reader"))
}

/// One printing subcommand: its arguments, whether it walks many things (so ends with a
/// summary), whether it prints JSON lines at all (a document such as XML or a script is
/// printed as it is), and the status it exits with when its reader went away at once.
struct Case {
    args: Vec<String>,
    walks: bool,
    json: bool,
    status_when_gone: i32,
}

fn case(args: &[&str], walks: bool, json: bool) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        walks,
        json,
        status_when_gone: 0,
    }
}

fn cases() -> Vec<Case> {
    let db = "sqlite://policy.sqlite";
    let mut token = case(
        &[
            "token",
            "create",
            "--person",
            "ann@example.com",
            "--role",
            "read-only",
            "--org",
            "acme",
            "--policy-db",
            db,
        ],
        false,
        true,
    );
    token.status_when_gone = 1;
    vec![
        case(&["storage", "ls", "--store", "store"], true, true),
        case(&["storage", "verify", "--store", "store"], true, true),
        case(
            &["storage", "sweep", "--store", "store", "--dry-run"],
            true,
            true,
        ),
        case(&["storage", "sweep", "--store", "store"], true, true),
        case(
            &["storage", "flush", "--store", "store", "--spool", "spool"],
            true,
            true,
        ),
        case(&["storage", "lifecycle", "--print"], false, false),
        case(
            &[
                "retention",
                "migrate",
                "--store",
                "store",
                "--org",
                "acme",
                "--plan",
                "dubber-go",
            ],
            true,
            true,
        ),
        case(&["synth", "--out", "synth"], true, true),
        case(&["bench", "--call-secs", "1", "--calls", "1"], false, true),
        case(
            &[
                "loadtest",
                "--calls",
                "2",
                "--seconds",
                "1",
                "--shards",
                "1",
            ],
            true,
            true,
        ),
        token,
        case(&["token", "list", "--policy-db", db], true, true),
        case(
            &[
                "policy",
                "GET",
                "/v1/whoami",
                "--org",
                "acme",
                "--policy-db",
                db,
            ],
            false,
            false,
        ),
        case(&["completions", "bash"], false, false),
    ]
}

/// Every printing subcommand, three ways: reader gone at once, reader gone after one line,
/// reader reading all. Never a panic; the documented status; whole output on the contract.
#[test]
fn every_printing_command_keeps_the_contract_through_any_pipe() {
    let tmp = TempDir::new("contract-pipes");
    store_with(&tmp.0, &["call-1", "call-2", "call-3"]);
    let mut failures = Vec::new();
    for case in cases() {
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        for reader in [Reader::GoneAtOnce, Reader::FirstLine, Reader::All] {
            let (status, stdout, stderr) = run_with(&tmp.0, &args, reader);
            let expected = match reader {
                Reader::GoneAtOnce => case.status_when_gone,
                _ => 0,
            };
            let mut fail = |what: String| failures.push(format!("{args:?} {reader:?}: {what}"));
            if stderr.contains("panicked") {
                fail(format!("panicked: {stderr}"));
            }
            if status != Some(expected) {
                fail(format!("status {status:?}, expected {expected}: {stderr}"));
            }
            if !matches!(reader, Reader::All) || !case.json {
                continue;
            }
            let lines: Vec<&str> = stdout.lines().collect();
            for line in &lines {
                if !line.starts_with("{\"type\":\"") {
                    fail(format!("not a line with `type` first: {line}"));
                } else if serde_json::from_str::<Value>(line).is_err() {
                    fail(format!("not JSON: {line}"));
                }
            }
            let last: Option<Value> = lines.last().and_then(|l| serde_json::from_str(l).ok());
            let last_type = last.as_ref().and_then(|v| v["type"].as_str());
            if case.walks && last_type != Some("summary") {
                fail(format!("no summary at the end: {stdout}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The changing commands finished their work though their readers went away: every
    // fixture written, every recording still listed (the sweep found nothing expired).
    assert_eq!(find(&tmp.path("synth"), "").len(), 7);
    let (_, listed, _) = run_with(&tmp.0, &["storage", "ls", "--store", "store"], Reader::All);
    let summary: Value = serde_json::from_str(listed.lines().last().expect("summary")).unwrap();
    assert_eq!(summary["recordings"], 3, "{listed}");
}

/// `--output-format text` prints for a person, never JSON, for each JSON-printing command.
#[test]
fn text_format_is_text() {
    let tmp = TempDir::new("contract-text");
    store_with(&tmp.0, &["call-1"]);
    for case in cases().into_iter().filter(|c| c.json) {
        let mut args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        args.push("--output-format");
        args.push("text");
        let out = run(&tmp.0, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.trim().is_empty(), "{args:?}: nothing printed");
        assert!(
            stdout.lines().all(|l| !l.starts_with('{')),
            "{args:?}: JSON in text: {stdout}"
        );
    }
}

/// A token that could not be printed was never shown: it is revoked, and the command says so
/// and fails. One that was printed stays valid.
#[test]
fn a_token_nobody_saw_is_revoked() {
    let tmp = TempDir::new("contract-token");
    let db = format!("sqlite://{}", tmp.path("policy.sqlite").display());
    let args = [
        "token",
        "create",
        "--person",
        "ann@example.com",
        "--role",
        "read-only",
        "--org",
        "acme",
        "--policy-db",
        &db,
    ];
    let (status, stdout, _) = run_with(&tmp.0, &args, Reader::All);
    assert_eq!(status, Some(0));
    let shown: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(
        (&shown["type"], &shown["role"], &shown["orgs"]),
        (
            &"token".into(),
            &"read-only".into(),
            &serde_json::json!(["acme"])
        )
    );
    let (status, _, stderr) = run_with(&tmp.0, &args, Reader::GoneAtOnce);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be printed") && stderr.contains("revoked"),
        "{stderr}"
    );
    let tokens = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .connect(&db)
                .await
                .expect("open the database");
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
                .fetch_one(&pool)
                .await
                .expect("count");
            n
        });
    assert_eq!(tokens, 1, "only the token that was shown");
}

/// Lines of `storage ls|verify --store URL`, parsed.
fn walk(dir: &Path, command: &str, url: &str) -> (Option<i32>, Vec<Value>, String) {
    let out = run(dir, &["storage", command, "--store", url]);
    let lines = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    (out.status.code(), lines, stderr)
}

/// Breaks two of the store's recordings through the store's own API (so the same on disk and
/// on S3): `a-unreadable`'s metadata is not JSON any more, `b-no-media`'s media is deleted.
fn break_two(url: &str) {
    use object_store::{ObjectStoreExt, PutPayload};
    let dest = callrec::store::Destination::open(url, &[]).expect("open the store");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let recordings = callrec::store::catalog::list(&dest, None)
                .await
                .expect("list");
            let named = |call: &str| {
                recordings
                    .iter()
                    .find(|r| r.dir.prefix().contains(&format!("/{call}/")))
                    .unwrap_or_else(|| panic!("{call} stored"))
            };
            let metadata = &named("a-unreadable")
                .metadata
                .as_ref()
                .expect("metadata")
                .location;
            let broken = PutPayload::from_static(b"{\"call\": {\"id\": 7");
            dest.store
                .put(metadata, broken)
                .await
                .expect("overwrite the metadata");
            let media = &named("b-no-media").media[0].location;
            dest.store.delete(media).await.expect("delete the media");
        });
}

/// One recording with unreadable metadata, one whose media was deleted, one intact: `ls` and
/// `verify` report all three (the broken two as such) and count them in their summaries.
fn ls_and_verify_carry_on_past_broken_recordings(dir: &Path, url: &str) {
    store_at(dir, url, &["a-unreadable", "b-no-media", "c-intact"]);
    break_two(url);

    let (status, lines, stderr) = walk(dir, "ls", url);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(
        lines.len(),
        4,
        "three recordings and the summary: {lines:?}"
    );
    let by_call = |call: &str| {
        lines
            .iter()
            .find(|l| l["recording"].as_str().is_some_and(|r| r.contains(call)))
            .unwrap_or_else(|| panic!("{call} listed: {lines:?}"))
    };
    let unreadable = by_call("a-unreadable");
    assert_eq!(unreadable["complete"], false);
    assert!(
        unreadable["reason"]
            .as_str()
            .is_some_and(|r| r.contains("metadata")),
        "{unreadable}"
    );
    let no_media = by_call("b-no-media");
    assert_eq!(no_media["complete"], false);
    assert_eq!(no_media["reason"], "missing: b-no-media.opus", "{no_media}");
    let intact = by_call("c-intact");
    assert_eq!(
        (&intact["complete"], &intact["reason"]),
        (&true.into(), &Value::Null)
    );
    let bytes: u64 = lines[..3]
        .iter()
        .map(|l| l["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        lines[3],
        serde_json::json!({"type": "summary", "recordings": 3, "complete": 1, "incomplete": 2,
            "bytes": bytes})
    );

    let (status, lines, stderr) = walk(dir, "verify", url);
    assert_eq!(
        status,
        Some(1),
        "a check that found problems fails: {stderr}"
    );
    assert!(
        stderr.contains("2 of 3 recording(s) failed verification"),
        "{stderr}"
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    let by_call = |call: &str| {
        lines
            .iter()
            .find(|l| l["recording"].as_str().is_some_and(|r| r.contains(call)))
            .unwrap_or_else(|| panic!("{call} verified: {lines:?}"))
    };
    let problems = |call: &str| by_call(call)["problems"].as_array().unwrap().clone();
    assert_eq!(by_call("a-unreadable")["ok"], false);
    assert!(
        problems("a-unreadable")[0]
            .as_str()
            .is_some_and(|p| p.contains("metadata")),
        "{lines:?}"
    );
    assert_eq!(
        problems("b-no-media"),
        [Value::from("b-no-media.opus: missing")]
    );
    assert_eq!(by_call("c-intact")["ok"], true);
    assert_eq!(
        lines[3],
        serde_json::json!({"type": "summary", "recordings": 3, "ok": 1, "failed": 2})
    );
}

#[test]
fn ls_and_verify_carry_on_past_broken_recordings_in_a_local_store() {
    let tmp = TempDir::new("contract-broken");
    let url = tmp.path("store").display().to_string();
    ls_and_verify_carry_on_past_broken_recordings(&tmp.0, &url);
}

#[test]
fn ls_and_verify_carry_on_past_broken_recordings_in_s3() {
    let tmp = TempDir::new("contract-broken-s3");
    let s3 = common::s3::S3::new("contract-broken");
    ls_and_verify_carry_on_past_broken_recordings(&tmp.0, &s3.url);
}

/// On a terminal (here: `--output-format text`) `ls` and `verify` print a table: a header,
/// aligned columns, then the summary in words.
#[test]
fn ls_and_verify_print_a_table_for_a_person() {
    let tmp = TempDir::new("contract-table");
    store_with(&tmp.0, &["short", "a-much-longer-call-id"]);
    for (command, header, last) in [
        ("ls", "COMPLETE", "2 recording(s): 2 complete, 0 incomplete"),
        (
            "verify",
            "OK",
            "2 recording(s) verified: 2 intact, 0 with problems",
        ),
    ] {
        let out = run(
            &tmp.0,
            &[
                "storage",
                command,
                "--store",
                "store",
                "--output-format",
                "text",
            ],
        );
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "header, two rows, summary: {text}");
        assert!(lines[0].starts_with("RECORDING "), "{text}");
        // Every column starts where its title does.
        let column = lines[0].find(header).expect("header names the column");
        for row in &lines[1..3] {
            assert!(row.starts_with("recordings/30d/acme/"), "{text}");
            assert_eq!(&row[column..column + 3], "yes", "{text}");
            assert_eq!(row.as_bytes()[column - 1], b' ', "{text}");
        }
        assert!(lines[3].starts_with(last), "{text}");
    }
}

/// clap's own help and suggestions: bare commands list their subcommands (status 2, on
/// stderr), a typo gets "a similar argument", a missing argument the `Usage:` line.
#[test]
fn help_lists_subcommands_and_suggests_fixes() {
    let tmp = TempDir::new("contract-help");
    for (args, names) in [
        (
            &[][..],
            &["record", "storage", "retention", "token", "completions"][..],
        ),
        (
            &["storage"][..],
            &["ls", "verify", "sweep", "flush", "lifecycle"][..],
        ),
        (&["retention"][..], &["migrate"][..]),
        (&["token"][..], &["create"][..]),
    ] {
        let out = run(&tmp.0, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: help of an error goes to stderr"
        );
        assert!(stderr.contains("Commands:"), "{args:?}: {stderr}");
        for name in names {
            assert!(
                stderr.contains(&format!("\n  {name} ")),
                "{args:?} lists {name}: {stderr}"
            );
        }
    }
    let typo = run(&tmp.0, &["record", "x.pcap", "--outt", "dir"]);
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr.contains("a similar argument exists: '--out'"),
        "{stderr}"
    );
    let missing = run(&tmp.0, &["retention", "migrate", "--org", "acme"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr.contains("--plan <PLAN>") && stderr.contains("Usage: callrec retention migrate"),
        "{stderr}"
    );
}

/// What `--help` offers: no `--spool` where it would be ignored, the possible plans and roles,
/// no default said twice.
#[test]
fn help_offers_only_what_each_command_uses() {
    let tmp = TempDir::new("contract-flags");
    let help = |args: &[&str]| {
        let mut full = args.to_vec();
        full.push("--help");
        let out = run(&tmp.0, &full);
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    for args in [
        &["storage", "ls"][..],
        &["storage", "verify"],
        &["storage", "lifecycle"],
        &["storage", "sweep"],
        &["retention", "migrate"],
    ] {
        assert!(!help(args).contains("--spool"), "{args:?}");
    }
    assert!(help(&["storage", "flush"]).contains("--spool <DIR>"));
    let plans = "[possible values: dubber-go, dubber-standard, dubber-ai, imagicle, callcabinet]";
    assert!(help(&["retention", "migrate"]).contains(plans));
    assert!(help(&["record"]).contains(plans));
    assert!(help(&["token", "create"]).contains(
        "[possible values: customer-admin, partner-admin, read-only, compliance-officer, user]"
    ));
    for args in [
        &["record"][..],
        &["storage", "lifecycle"],
        &["loadtest"],
        &["bench"],
        &["synth"],
    ] {
        let text = help(args);
        for line in text.lines() {
            assert!(
                !(line.contains("[default:") && line.to_lowercase().contains("(default")),
                "{args:?}: a default said twice: {line}"
            );
        }
    }
}

/// `callrec completions SHELL`: a script for each shell that names the subcommands; bash's
/// parses.
#[test]
fn completions_for_each_shell() {
    let tmp = TempDir::new("contract-completions");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&tmp.0, &["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).expect("utf-8");
        for name in ["record", "storage", "retention", "completions", "verify"] {
            assert!(script.contains(name), "{shell} names {name}");
        }
        if shell == "bash" {
            let path = tmp.path("callrec.bash");
            std::fs::write(&path, &script).expect("write");
            let check = Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("bash");
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let bad = run(&tmp.0, &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The usage lines in the README's code blocks: each `callrec ...` line with its indented
/// continuation lines, joined.
fn readme_synopses() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (mut in_block, mut synopses) = (false, Vec::<String>::new());
    let mut continues = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            (in_block, continues) = (!in_block, false);
        } else if in_block && line.starts_with("callrec ") {
            synopses.push(line.to_string());
            continues = true;
        } else if in_block && continues && line.starts_with("  ") {
            let last = synopses.last_mut().expect("a usage line before");
            last.push(' ');
            last.push_str(line.trim());
        } else {
            continues = false;
        }
    }
    synopses
}

/// A word that stands for a value (`DIR`, `FROM:TO`, `opus|wav`, `0-10`), not an example
/// value (`30d`) or another flag.
fn is_placeholder(word: &str) -> bool {
    let first = word.chars().next().unwrap_or(' ');
    !word.starts_with('-')
        && (first.is_ascii_uppercase()
            || (word.contains('|') && !word.contains("--"))
            || word.split_once('-').is_some_and(|(a, b)| {
                [a, b]
                    .iter()
                    .all(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
            }))
}

#[test]
fn the_readme_and_the_help_name_each_value_alike() {
    let tmp = TempDir::new("contract-placeholders");
    let mut checked = 0;
    for synopsis in readme_synopses() {
        let words: Vec<&str> = synopsis
            .split_whitespace()
            .map(|w| w.trim_start_matches('[').trim_end_matches("..."))
            .map(|w| w.trim_end_matches(']'))
            .collect();
        let command: Vec<&str> = words[1..]
            .iter()
            .copied()
            .take_while(|w| !w.is_empty() && w.bytes().all(|c| c.is_ascii_lowercase()))
            .collect();
        let help_args: Vec<&str> = command.iter().copied().chain(["--help"]).collect();
        let help = String::from_utf8(run(&tmp.0, &help_args).stdout).expect("utf-8");
        for pair in words.windows(2) {
            let (flag, value) = (pair[0], pair[1]);
            if flag.starts_with("--") && is_placeholder(value) {
                let shown = format!("{flag} <{value}>");
                assert!(
                    help.contains(&shown),
                    "{command:?} --help lacks {shown}:\n{help}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 40,
        "only {checked} placeholders found in the README's usage lines"
    );
}
