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
//! from the bottom up; **nor between the sibling modules of any directory** (`policy/`,
//! `sip/`, `sip/message/`, ...): inside a room, too, the arrows point down only.
//!
//! All are read from the source, line by line, so a new `use tokio::...` in a core module or
//! an import that closes a ring fails here with its file and line. Comments are skipped (doc
//! links may name anything).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The core: directories and single files under `src/`.
const CORE: &[&str] = &[
    "rtp",
    "pcap",
    "media",
    "encode",
    "recorder",
    "sip",
    "srtp",
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

/// Each line of `text` that is code, by index, its indent trimmed: comment lines are skipped
/// (doc links may name anything).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .map(str::trim_start)
        .enumerate()
        .filter(|(_, code)| !code.starts_with("//"))
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
        for (n, code) in code_lines(&text) {
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
            for (n, code) in code_lines(&text) {
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

/// Directories under `src/` whose sibling modules are not checked for rings: none. (Kept as
/// the one place an exception would have to be written down, with its reason.)
const NOT_YET_CHECKED: &[&str] = &[];

/// The library's source files, by path under `src/` (`policy/mod.rs`), as text.
type Sources = BTreeMap<String, String>;

fn library_sources() -> Sources {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("read source");
            let relative = file.strip_prefix(&src).expect("under src").display();
            (relative.to_string().replace('\\', "/"), text)
        })
        .collect()
}

/// A module by its path from the crate root (`["sip", "message", "head"]`).
type ModPath = Vec<String>;

/// Which module imports which, with the first place it does (`policy/error.rs:7`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// Where each module of the library lives: following `mod x;` declarations from `lib.rs`
/// (with their `#[path]` attributes), the file that holds each module.
fn module_files(sources: &Sources) -> BTreeMap<String, ModPath> {
    let mut found = BTreeMap::new();
    let mut todo = vec![("lib.rs".to_string(), ModPath::new())];
    while let Some((file, module)) = todo.pop() {
        let Some(text) = sources.get(&file) else {
            continue;
        };
        let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        // `mod x;` in lib.rs or a mod.rs names dir/x.rs; in name.rs it names dir/name/x.rs.
        let children_dir = match file.rsplit('/').next().unwrap_or_default() {
            "lib.rs" | "mod.rs" => dir.to_string(),
            name => join(dir, name.trim_end_matches(".rs")),
        };
        let mut path_attr = None;
        for line in text.lines() {
            let code = line.trim();
            if let Some(rest) = code.strip_prefix("#[path = \"") {
                path_attr = rest.split('"').next().map(str::to_string);
                continue;
            }
            if code.starts_with("#[") {
                continue;
            }
            if let Some(name) = declared_module(code).filter(|_| code.ends_with(';')) {
                let child = match path_attr.take() {
                    Some(path) => join(dir, &path),
                    None => {
                        let flat = join(&children_dir, &format!("{name}.rs"));
                        match sources.contains_key(&flat) {
                            true => flat,
                            false => join(&children_dir, &format!("{name}/mod.rs")),
                        }
                    }
                };
                let mut path = module.clone();
                path.push(name.to_string());
                todo.push((child, path));
            }
            path_attr = None;
        }
        found.insert(file, module);
    }
    found
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_string(),
        dir => format!("{dir}/{name}"),
    }
}

/// The module a `mod` item declares (`pub(crate) mod x;`, `mod tests {`), if `code` is one.
fn declared_module(code: &str) -> Option<&str> {
    let code = match code.strip_prefix("pub") {
        Some(rest) if rest.starts_with('(') => rest.split_once(')')?.1.trim_start(),
        Some(rest) => rest.trim_start(),
        None => code,
    };
    let name = code.strip_prefix("mod ")?;
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(name.len());
    let rest = name[end..].trim();
    (end > 0 && (rest == ";" || rest == "{")).then(|| &name[..end])
}

/// A line of code (comments dropped) or a whole `use` statement, with the module it is
/// written in (inline modules included) and its line number.
struct Statement {
    module: ModPath,
    line: usize,
    code: String,
}

fn statements(text: &str, file_module: &ModPath) -> Vec<Statement> {
    let mut out = Vec::new();
    // Inline modules (`mod tests {`) by the indentation of their closing brace.
    let mut inline: Vec<(String, String)> = Vec::new();
    let mut pending: Option<Statement> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let code = line.trim();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        if inline
            .last()
            .is_some_and(|(at, _)| at == indent && code == "}")
        {
            inline.pop();
            continue;
        }
        let module = || {
            let mut module = file_module.clone();
            module.extend(inline.iter().map(|(_, name)| name.clone()));
            module
        };
        if let Some(statement) = pending.as_mut() {
            statement.code.push_str(code);
            if code.ends_with(';') {
                out.extend(pending.take());
            }
            continue;
        }
        if let Some(name) = declared_module(code).filter(|_| code.ends_with('{')) {
            inline.push((indent.to_string(), name.to_string()));
            continue;
        }
        let statement = Statement {
            module: module(),
            line: n + 1,
            code: code.to_string(),
        };
        let is_use =
            code.starts_with("use ") || (code.starts_with("pub") && code.contains(" use "));
        match is_use && !code.ends_with(';') {
            true => pending = Some(statement),
            false => out.push(statement),
        }
    }
    out
}

/// The paths a statement names: a `use` tree expanded (`use super::{a::X, b}` names
/// `super::a::X` and `super::b`), anywhere else every `crate::`, `super::` or `self::` path.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let use_tree = code
        .split_once("use ")
        .filter(|(before, _)| before.is_empty() || before.starts_with("pub"))
        .map(|(_, tree)| tree.trim_end_matches(';'));
    if let Some(tree) = use_tree {
        let mut out = Vec::new();
        expand_use(tree, &mut Vec::new(), &mut out);
        return out;
    }
    let mut out = Vec::new();
    for root in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(root) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: Vec<String> = code[at..]
                .split("::")
                .map_while(|segment| {
                    let end = segment
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(segment.len());
                    (end > 0).then(|| (segment[..end].to_string(), end == segment.len()))
                })
                .scan(true, |go_on, (segment, whole)| {
                    let keep = std::mem::replace(go_on, whole);
                    keep.then_some(segment)
                })
                .collect();
            out.push(path);
        }
    }
    out
}

/// Expands one `use` tree (`a::{b, c::{d, self}} as e` and the like) under `prefix`.
fn expand_use(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let depth = prefix.len();
    let (path, group) = match tree.find('{') {
        Some(open) => (
            &tree[..open],
            Some(&tree[open + 1..tree.rfind('}').unwrap_or(tree.len())]),
        ),
        None => (tree, None),
    };
    let path = path.split(" as ").next().unwrap_or(path);
    for segment in path.split("::").map(str::trim) {
        // `{self, X}` names the prefix itself; a leading `self::` is kept to be resolved.
        if !segment.is_empty() && (segment != "self" || prefix.is_empty()) {
            prefix.push(segment.to_string());
        }
    }
    match group {
        None => out.push(prefix.clone()),
        Some(group) => {
            let mut level = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        expand_use(&group[start..i], prefix, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !group[start..].trim().is_empty() {
                expand_use(&group[start..], prefix, out);
            }
        }
    }
    prefix.truncate(depth);
}

/// `path` as written in `module`, from the crate root; `None` for other crates and names in
/// scope (`std::..`, `bytes::..`).
fn absolute(path: &[String], module: &ModPath) -> Option<ModPath> {
    match path.first().map(String::as_str)? {
        "crate" => Some(path[1..].to_vec()),
        "self" => Some(module.iter().chain(&path[1..]).cloned().collect()),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let base = module.get(..module.len().checked_sub(ups)?)?;
            Some(base.iter().chain(&path[ups..]).cloned().collect())
        }
        _ => None,
    }
}

/// For every directory module (`policy`, `sip/message`) whose siblings are checked, the graph
/// of its children's imports of each other.
fn sibling_graphs(sources: &Sources, not_checked: &[&str]) -> BTreeMap<String, Graph> {
    let files = module_files(sources);
    let directory = |module: &[String]| {
        files
            .iter()
            .any(|(file, m)| m == module && (file.ends_with("/mod.rs") || file == "lib.rs"))
            || files
                .values()
                .any(|m| m.len() > module.len() && m.starts_with(module))
    };
    // Each module's children, and the names its own file re-exports from them.
    let mut children: BTreeMap<ModPath, BTreeSet<String>> = BTreeMap::new();
    for module in files.values() {
        for len in 1..=module.len() {
            let parent = module[..len - 1].to_vec();
            children
                .entry(parent)
                .or_default()
                .insert(module[len - 1].clone());
        }
    }
    let mut reexports: BTreeMap<ModPath, BTreeMap<String, String>> = BTreeMap::new();
    for (file, module) in &files {
        let kids = children.get(module).cloned().unwrap_or_default();
        for statement in statements(&sources[file], module) {
            if statement.module != *module || !statement.code.contains("use ") {
                continue;
            }
            for path in named_paths(&statement.code) {
                let path = absolute(&path, module)
                    .unwrap_or_else(|| module.iter().chain(&path).cloned().collect());
                let (Some(child), Some(name)) = (path.get(module.len()), path.last()) else {
                    continue;
                };
                if path.starts_with(module) && kids.contains(child) && path.len() > module.len() + 1
                {
                    let name = statement
                        .code
                        .split(&format!("{name} as "))
                        .nth(1)
                        .and_then(|alias| alias.split([',', '}', ';']).next())
                        .map_or(name.clone(), |alias| alias.trim().to_string());
                    reexports
                        .entry(module.clone())
                        .or_default()
                        .insert(name, child.clone());
                }
            }
        }
    }
    let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
    for (file, file_module) in &files {
        for statement in statements(&sources[file], file_module) {
            let from = &statement.module;
            for path in named_paths(&statement.code) {
                let Some(to) = absolute(&path, from) else {
                    continue;
                };
                for depth in 1..from.len() {
                    let parent = &from[..depth];
                    let name = parent.join("/");
                    if !directory(parent)
                        || not_checked
                            .iter()
                            .any(|n| name == *n || name.starts_with(&format!("{n}/")))
                        || !to.starts_with(parent)
                        || to.len() <= depth
                    {
                        continue;
                    }
                    let kids = &children[parent];
                    let target = match kids.contains(&to[depth]) {
                        true => Some(to[depth].clone()),
                        false => reexports
                            .get(parent)
                            .and_then(|names| names.get(&to[depth]))
                            .cloned(),
                    };
                    let sibling = &from[depth];
                    if let Some(target) = target.filter(|t| t != sibling) {
                        graphs
                            .entry(name)
                            .or_default()
                            .entry(sibling.clone())
                            .or_default()
                            .entry(target)
                            .or_insert_with(|| format!("{file}:{}", statement.line));
                    }
                }
            }
        }
    }
    graphs
}

/// Every ring between siblings, one per directory, as `dir: a -> b (file:line) -> a (..)`.
fn sibling_rings(sources: &Sources, not_checked: &[&str]) -> Vec<String> {
    let mut rings = Vec::new();
    for (dir, graph) in sibling_graphs(sources, not_checked) {
        if let Some(ring) = find_cycle(&graph) {
            let mut report = format!("src/{dir}/: {}", ring[0]);
            for step in ring.windows(2) {
                write!(report, " -> {} ({})", step[1], graph[&step[0]][&step[1]])
                    .expect("writing to a String cannot fail");
            }
            rings.push(report);
        }
    }
    rings
}

#[test]
fn sibling_modules_import_each_other_without_a_ring() {
    let sources = library_sources();
    let graphs = sibling_graphs(&sources, NOT_YET_CHECKED);
    for dir in [
        "policy",
        "sip",
        "sip/message",
        "store",
        "server",
        "server/siprec",
        "server/admin",
    ] {
        assert!(
            graphs.contains_key(dir),
            "no imports seen in src/{dir}/: {:?}",
            graphs.keys()
        );
    }
    let rings = sibling_rings(&sources, NOT_YET_CHECKED);
    assert!(
        rings.is_empty(),
        "sibling modules import each other in a ring:\n{}",
        rings.join("\n")
    );
}

#[test]
fn the_sibling_check_reports_a_ring_with_its_files_and_lines() {
    let sources: Sources = [
        ("lib.rs", "pub mod room;\npub mod other;\n"),
        ("other.rs", "use crate::room::low::Low;\n"),
        (
            "room/mod.rs",
            "//! A room.\nmod high;\nmod low;\n#[cfg(test)]\n#[path = \"odd_tests.rs\"]\nmod tests;\npub use high::High;\n",
        ),
        ("room/low.rs", "// use super::high::High; (a comment)\npub struct Low;\n"),
        (
            "room/high.rs",
            "use super::{\n    low::Low,\n};\npub struct High(Low);\n",
        ),
        ("room/odd_tests.rs", "use super::high::High;\n"),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_string(), text.to_string()))
    .collect();
    assert_eq!(sibling_rings(&sources, &[]), Vec::<String>::new());

    // `low` reaches up: through the parent's re-export, from an inline test module.
    let mut ring = sources.clone();
    ring.insert(
        "room/low.rs".into(),
        "pub struct Low;\n\n#[cfg(test)]\nmod tests {\n    use super::super::High;\n}\n".into(),
    );
    assert_eq!(
        sibling_rings(&ring, &[]),
        ["src/room/: high -> low (room/high.rs:1) -> high (room/low.rs:5)"]
    );
    assert_eq!(sibling_rings(&ring, &["room"]), Vec::<String>::new());

    // By its absolute path, in an expression.
    ring.insert(
        "room/low.rs".into(),
        "pub fn low() -> u8 {\n    crate::room::high::make()\n}\n".into(),
    );
    assert_eq!(
        sibling_rings(&ring, &[]),
        ["src/room/: high -> low (room/high.rs:1) -> high (room/low.rs:2)"]
    );
}
