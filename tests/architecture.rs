//! The architecture, kept by the tests rather than by good intentions.
//!
//! **The core is pure.** The build keeps callrec's core pure: the modules that parse, decide, record and encode
//! (RTP, captures, media, encoding, the recorder, SIP, the session's decisions, policy, the
//! fixture generator, time, the key layout) never reach for the network, files, threads, the
//! process, a clock, an async runtime or a database, and never import the IO shell around them
//! (server, store IO, policydb, config, the CLI). That is what lets the same recorder run
//! offline, in tests, benches and under the fuzzer, and give the same bytes for the same input.
//!
//! **No cycles between the library's top-level modules**, so each can be read (and tested)
//! from the bottom up.
//!
//! Both are read from the source, line by line, so a new `use tokio::...` in a core module or
//! an import that closes a ring fails here with its file and line. Comments are skipped (doc
//! links may name anything).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The core: directories and single files under `src/`.
const CORE: &[&str] = &[
    "rtp",
    "pcap",
    "media",
    "encode",
    "recorder",
    "sip",
    "synth",
    "policy",
    "session.rs",
    "time.rs",
    "offline.rs",
    "store/key.rs",
];

/// What no core line may name, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "an async runtime"),
    ("futures", "async plumbing"),
    ("crossbeam", "threads and their queues"),
    ("object_store", "object storage"),
    ("sqlx", "a database"),
    ("axum", "HTTP serving"),
    ("hyper", "HTTP"),
    ("std::fs", "files"),
    ("std::net::UdpSocket", "sockets"),
    ("std::net::TcpStream", "sockets"),
    ("std::net::TcpListener", "sockets"),
    ("UdpSocket", "sockets"),
    ("std::thread", "threads"),
    ("std::process", "the process"),
    ("std::env", "the environment"),
    ("SystemTime", "the wall clock (time is an input)"),
    ("Instant::now", "the monotonic clock (time is an input)"),
    ("crate::server", "the servers"),
    ("crate::policydb", "the policy database"),
    ("crate::config", "the configuration file"),
    ("crate::store::spool", "the spool's files"),
    ("crate::store::upload", "uploads"),
    ("crate::store::destination", "object storage"),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("read dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Every line of the core that names something forbidden, as `file:line: what (why)`.
fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for part in CORE {
        let path = src.join(part);
        assert!(path.exists(), "{part} is listed as core but does not exist");
        rust_files(&path, &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split(" //").next().unwrap_or(code);
            for (name, why) in FORBIDDEN {
                if names(code, name) {
                    let relative = file.strip_prefix(&src).unwrap_or(file);
                    found.push(format!("{}:{}: {name} ({why})", relative.display(), n + 1));
                }
            }
        }
    }
    found
}

/// `name` appears in `code` as a path, not inside a longer identifier.
fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn the_core_names_no_io_and_no_part_of_the_shell() {
    let found = violations();
    assert!(
        found.is_empty(),
        "the pure core reaches for IO or the shell:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_forbids() {
    assert!(names("use tokio::net::UdpSocket;", "tokio"));
    assert!(names("let t = std::time::SystemTime::now();", "SystemTime"));
    assert!(names("    std::fs::read(path)", "std::fs"));
    assert!(!names("use crate::media::tokio_free;", "tokio"));
    assert!(!names("let my_futures = 1;", "futures"));
    assert!(names("use crate::server::shard;", "crate::server"));
}

/// The library's top-level modules (`pub mod` lines of `src/lib.rs`).
fn library_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

/// Which top-level modules each one imports (`crate::NAME` on a line that is not a comment),
/// with the first place it does.
fn module_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = library_modules();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.exists() {
            rust_files(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            rust_files(&file, &mut files);
        }
        let mut edges = BTreeMap::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read source");
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for other in &modules {
                    if other != module && names(code, &format!("crate::{other}")) {
                        let at = file.strip_prefix(&src).unwrap_or(file).display();
                        edges
                            .entry(other.clone())
                            .or_insert_with(|| format!("{at}:{}", n + 1));
                    }
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// A cycle in `graph`, as the modules around it, if there is one.
fn find_cycle<V>(graph: &BTreeMap<String, BTreeMap<String, V>>) -> Option<Vec<String>> {
    fn visit<V>(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, V>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut ring = path[start..].to_vec();
            ring.push(node.to_string());
            return Some(ring);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(ring) = visit(next, graph, path, done) {
                return Some(ring);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_import_each_other_without_a_ring() {
    let graph = module_graph();
    assert!(graph.len() > 10, "modules found: {:?}", graph.keys());
    if let Some(ring) = find_cycle(&graph) {
        let places: Vec<String> = ring
            .windows(2)
            .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("a ring of imports:\n{}", places.join("\n"));
    }
}

#[test]
fn the_ring_finder_finds_rings() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeMap<String, ()>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry(from.to_string())
                .or_default()
                .insert(to.to_string(), ());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    let ring = find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).expect("a ring");
    assert_eq!(ring.first(), ring.last());
    assert_eq!(ring.len(), 4);
}
