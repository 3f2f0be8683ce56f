//! The layers of docs/architecture.md, enforced: every `crate::` path in
//! `src/` (in `use` lines and inline, grouped ones included) may name only
//! a module of the same layer or one below; the top-level modules import
//! each other without a cycle; nothing below `ui` prints; only
//! `transport` spawns programs or opens connections; only `cli` knows clap.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its layer, bottom (1) to top (8).
/// A new module must be placed here.
const LAYERS: &[(&str, u8)] = &[
    ("model", 1),
    ("platform", 1),
    ("aws", 2),
    ("secrets", 2),
    ("config", 2),
    ("settings", 2),
    ("effective", 2),
    ("plan", 3),
    ("doctor", 3),
    ("fleet", 3),
    ("inventory", 3),
    ("firewall", 3),
    ("host_keys", 3),
    ("ssh_config", 3),
    ("transport", 4),
    ("error", 5),
    ("app", 5),
    ("ui", 6),
    ("cli", 7),
    ("commands", 7),
    ("lib", 8),
    ("main", 8),
];

/// Imports that still point upward, each to be removed by a later step.
/// None is left; the test fails when a listed one is gone too, so that the
/// list only shrinks.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

/// The layer of `ui` and above: the only modules that write to the terminal.
const UI: u8 = 6;

/// What only `transport` may do: start programs, open connections.
const PROCESS_AND_SOCKET: &[&str] = &[
    "process::Command",
    "Command::new",
    "TcpStream::connect",
    "TcpListener::bind",
    "UdpSocket::bind",
    "UnixStream::connect",
    "connect_async",
    "Client::builder",
];

/// The print macros, longest first: the first that matches is named.
const PRINTS: &[&str] = &["eprintln!", "println!", "eprint!(", "print!("];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|&(_, layer)| layer)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.strip_suffix(".rs").unwrap_or(&first).to_owned()
}

/// The text without `//` comments (doc comments name modules freely).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by `crate::` paths in `code`, inline paths
/// and `crate::{a::b, c}` groups included.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The group's items at depth 0, each up to its first `::`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || item.is_empty() {
                    item.push(c);
                }
            }
            names.insert(first_segment(&item));
        } else {
            names.insert(first_segment(after));
        }
        rest = after;
    }
    names.remove("");
    names.remove("self");
    names
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// `(module, named module)` -> the files that name it.
type Edges = BTreeMap<(String, String), Vec<String>>;

/// Each file's module, and its path (first line) and code.
type Texts = Vec<(String, String)>;

/// The imports between top-level modules, and every file's code.
fn imports() -> (Edges, Texts) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut texts = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        let text = code(&std::fs::read_to_string(&file).expect("read source"));
        let shown = file
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        for named in named_modules(&text) {
            if named != module {
                edges
                    .entry((module.clone(), named))
                    .or_default()
                    .push(shown.clone());
            }
        }
        texts.push((module, format!("{shown}\n{text}")));
    }
    (edges, texts)
}

#[test]
fn crate_paths_are_read_whole() {
    let text = "use crate::aws::Aws;\nuse crate::{model::host::{Host, Instance}, plan, \
                transport::eice::X};\nlet x = crate::render::shell_words(&a);";
    let named: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(named, ["aws", "model", "plan", "render", "transport"]);
    assert_eq!(
        code("let a = 1; // crate::ui\n//! crate::cli"),
        "let a = 1; \n"
    );
}

#[test]
fn every_module_imports_only_its_layer_and_below() {
    let (edges, _) = imports();
    let mut problems = Vec::new();
    let mut upward = BTreeSet::new();
    for ((module, named), files) in &edges {
        let (Some(from), Some(to)) = (layer_of(module), layer_of(named)) else {
            problems.push(format!(
                "{module} or {named} has no layer: place it in LAYERS ({files:?})"
            ));
            continue;
        };
        if to > from {
            let pair = (module.as_str(), named.as_str());
            if KNOWN_UPWARD.contains(&pair) {
                upward.insert(pair);
            } else {
                problems.push(format!(
                    "{module} (layer {from}) imports {named} (layer {to}) in {files:?}"
                ));
            }
        }
    }
    for pair in KNOWN_UPWARD {
        if !upward.contains(pair) {
            problems.push(format!(
                "{} no longer imports {}: remove it from KNOWN_UPWARD",
                pair.0, pair.1
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// Depth-first; a module met again while still on the path closes a
// cycle.
fn visit<'a>(
    node: &'a str,
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Option<Vec<&'a str>> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node);
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(next, graph, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let (edges, _) = imports();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (module, named) in edges.keys() {
        if !KNOWN_UPWARD.contains(&(module.as_str(), named.as_str())) {
            graph.entry(module).or_default().push(named);
        }
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn nothing_below_ui_prints_and_only_transport_spawns_or_connects() {
    let (_, texts) = imports();
    let mut problems = Vec::new();
    for (module, text) in &texts {
        let file = text.lines().next().unwrap_or_default();
        let layer = layer_of(module).unwrap_or(0);
        if layer < UI
            && let Some(print) = PRINTS.iter().find(|p| text.contains(*p))
        {
            problems.push(format!("{file} (below ui) uses {print}"));
        }
        if module != "transport" {
            for call in PROCESS_AND_SOCKET {
                if text.contains(call) {
                    problems.push(format!("{file} (not transport) uses {call}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_cli_knows_clap() {
    let (_, texts) = imports();
    let strays: Vec<&str> = texts
        .iter()
        .filter(|(module, text)| module != "cli" && text.contains("clap"))
        .map(|(_, text)| text.lines().next().unwrap_or_default())
        .collect();
    assert!(strays.is_empty(), "clap outside cli/: {strays:?}");
}
