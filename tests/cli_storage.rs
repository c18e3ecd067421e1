//! `callrec storage lifecycle --print` from the real binary.

use std::process::Command;

fn callrec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callrec"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn lifecycle_print_enforces_the_free_plan_by_default() {
    let out = callrec(&["storage", "lifecycle", "--print"]);
    assert!(out.status.success());
    let xml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(xml.contains("<Tag><Key>retention</Key><Value>30d</Value></Tag>"));
    assert!(xml.contains("<Expiration><Days>30</Days></Expiration>"));
    assert!(xml.contains("<AbortIncompleteMultipartUpload>"));
    assert!(!xml.contains("-prefix</ID>"));
}

#[test]
fn lifecycle_print_takes_classes_and_prefix_rules_and_refuses_bad_ones() {
    let out = callrec(&[
        "storage",
        "lifecycle",
        "--print",
        "--class",
        "7d",
        "--prefix-rules",
    ]);
    let xml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(xml.contains("<ID>callrec-retention-7d-prefix</ID>"));
    assert!(xml.contains("<Filter><Prefix>recordings/7d/</Prefix></Filter>"));
    assert!(!xml.contains("30d"));

    let bad = callrec(&["storage", "lifecycle", "--print", "--class", "forever"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).expect("utf-8");
    // clap's own error: the reason on its first line, then how to get help.
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{err}");
    assert!(
        first.contains("'forever' is not a retention class"),
        "{err}"
    );
    assert!(err.contains("--help"), "{err}");
}
