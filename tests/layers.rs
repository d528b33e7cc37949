//! The library's modules form layers from the wire up (../shared/DESIGN.md, "Stage 2"):
//! a module may use its own layer and the layers below it, never one above. This test reads
//! every `crate::MODULE` path in the non-test code of src/ and fails on an import against
//! the order, naming the file.
//!
//! The modules form a DAG: `KNOWN_BACK_EDGES` is empty and must stay so (it was 38 entries
//! when this test came, the debt the request-context issue paid off).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layer of a module, lowest first: `module` is a path (`upstream::uri`, `config`); the
/// most specific entry wins, so a submodule can sit below its parent when it knows nothing
/// of the layers above (the mechanisms the configuration is built from).
fn layer(module: &str) -> Option<u8> {
    let specific = match module {
        // Mechanisms with no knowledge of the configuration: the configuration builds them.
        "routing::resource"
        | "upstream::uri"
        | "upstream::balance"
        | "upstream::health"
        | "upstream::proxy_protocol" => Some(1),
        _ => None,
    };
    if specific.is_some() {
        return specific;
    }
    let top = module.split("::").next().unwrap_or(module);
    Some(match top {
        // The wire and the basics: no gateway knowledge (HTTP/1 parsing and writing, host
        // names, time, errors, sockets and TLS, X.509, the audited cross-core state).
        "time" | "error" | "http" | "observe" | "log" | "transport" | "shared" => 0,
        // The configuration: file model and snapshot (pure data).
        // Pure algorithms of access control (JWT, SigV4, policies, Lambda authorizer
        // events): no configuration, no pipeline.
        "auth" => 1,
        "config" => 2,
        // What the pipeline uses, and the live state that outlives a snapshot.
        "routing" | "limits" | "cache" | "upstream" | "services" => 3,
        // The phases, over the session and the request context.
        "pipeline" => 4,
        // Connections and sessions (HTTP/1.x, HTTP/2, TLS accept).
        "net" => 5,
        // Supervisor, workers, admin.
        "runtime" => 6,
        _ => return None,
    })
}

/// Imports against the order that are still there. Empty: the modules form a DAG. A new
/// back edge fails the test; keep it that way rather than listing one here.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::MODULE`, outside comments and outside the
/// file's `#[cfg(test)]` module (tests may reach anywhere).
fn crate_imports(text: &str) -> BTreeSet<String> {
    // The test module: `#[cfg(test)]` followed by `mod` (a single test-only item elsewhere
    // in the file does not end the scan).
    let mut end = text.len();
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let after = text[start + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") || after.starts_with("pub mod ") {
            end = start;
            break;
        }
        from = start + 1;
    }
    let code = &text[..end];
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            // The module path: its first two segments (`upstream::uri`), or one.
            let word = |t: &str| -> String {
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            let name = word(after);
            let sub = after
                .get(name.len()..)
                .and_then(|t| t.strip_prefix("::"))
                .map(word)
                .filter(|w| !w.is_empty());
            if !name.is_empty() {
                out.insert(match sub {
                    Some(sub) => format!("{name}::{sub}"),
                    None => name,
                });
            }
            rest = after;
        }
    }
    out
}

/// The unit the layers are made of: a module path's entry in `layer` (`upstream::uri`, or
/// the top-level module).
fn unit(module: &str) -> String {
    let two: Vec<&str> = module.splitn(3, "::").take(2).collect();
    let specific = two.join("::");
    let top = two.first().copied().unwrap_or_default();
    if two.len() == 2 && layer(&specific) != layer(top) {
        specific
    } else {
        top.to_owned()
    }
}

/// Every (file, imported module) that goes up the layers, and every import between units
/// (for the cycle check).
fn back_edges() -> BTreeSet<(String, String)> {
    scan().0
}

/// (file or unit, imported module) pairs.
type Edges = BTreeSet<(String, String)>;

fn scan() -> (Edges, Edges) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let test_only = test_only_files(&files);
    let mut edges = BTreeSet::new();
    let mut units = BTreeSet::new();
    for file in files {
        if test_only.iter().any(|t| file.starts_with(t)) {
            continue; // a module only test builds compile (`#[cfg(test)] mod x;`)
        }
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let top = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        if top == "main" || top == "lib" || top == "tools" {
            continue; // the binary (with its tools) and the crate root sit above every layer
        }
        // The file's module path (`upstream/uri.rs` -> `upstream::uri`).
        let path = rel
            .trim_end_matches(".rs")
            .trim_end_matches("/mod")
            .replace('/', "::");
        let own = layer(&path)
            .unwrap_or_else(|| panic!("src/{rel}: module `{top}` has no layer in tests/layers.rs"));
        let text = std::fs::read_to_string(&file).expect("read source");
        for module in crate_imports(&text) {
            let theirs = layer(&module).unwrap_or_else(|| {
                panic!("src/{rel} uses crate::{module}, which has no layer in tests/layers.rs")
            });
            if theirs > own {
                let top = module.split("::").next().unwrap_or_default().to_owned();
                edges.insert((rel.clone(), top));
            }
            let (from, to) = (unit(&path), unit(&module));
            if from != to {
                units.insert((from, to));
            }
        }
    }
    (edges, units)
}

#[test]
fn modules_import_each_other_without_cycles() {
    let (_, units) = scan();
    // Depth-first search for a cycle among the units (top-level modules and the
    // submodules `layer` places apart).
    let next = |u: &str| -> Vec<String> {
        units
            .iter()
            .filter(|(f, _)| f == u)
            .map(|(_, t)| t.clone())
            .collect()
    };
    let all: BTreeSet<String> = units
        .iter()
        .flat_map(|(f, t)| [f.clone(), t.clone()])
        .collect();
    fn visit(
        u: &str,
        next: &dyn Fn(&str) -> Vec<String>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == u) {
            let mut cycle = path[at..].to_vec();
            cycle.push(u.to_owned());
            return Some(cycle);
        }
        if done.contains(u) {
            return None;
        }
        path.push(u.to_owned());
        for t in next(u) {
            if let Some(c) = visit(&t, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(u.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for u in &all {
        let cycle = visit(u, &next, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
    assert!(all.len() > 10, "found only {} modules", all.len());
}

/// The files (and directories) of modules declared `#[cfg(test)] mod NAME;`: tests may reach
/// anywhere.
fn test_only_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        // A module's children live in its own directory: `x/mod.rs`, `lib.rs`, `main.rs` ->
        // `x/`; `x.rs` -> `x/` next to it.
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let parent = file.parent().unwrap_or(Path::new(""));
        let dir = if matches!(stem, "mod" | "lib" | "main") {
            parent.to_path_buf()
        } else {
            parent.join(stem)
        };
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let decl = rest.trim_start();
            let decl = decl.strip_prefix("pub ").unwrap_or(decl);
            let Some(decl) = decl.strip_prefix("mod ") else {
                continue;
            };
            let name: String = decl
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if decl[name.len()..].trim_start().starts_with(';') {
                out.push(dir.join(format!("{name}.rs")));
                out.push(dir.join(&name));
            }
        }
    }
    out
}

#[test]
fn imports_follow_the_layers() {
    let found = back_edges();
    let known: BTreeSet<(String, String)> = KNOWN_BACK_EDGES
        .iter()
        .map(|(f, m)| (f.to_string(), m.to_string()))
        .collect();
    let new: Vec<String> = found
        .difference(&known)
        .map(|(f, m)| format!("src/{f} uses crate::{m}, a higher layer"))
        .collect();
    assert!(
        new.is_empty(),
        "imports against the layer order (time/error/http/observe/transport/shared < \
         routing::resource, upstream::{{uri,balance,health,proxy_protocol}} < config < routing, \
         limits, cache, upstream, services < pipeline < net < runtime; the binary and its \
         tools above):\n{}",
        new.join("\n")
    );
    let gone: Vec<String> = known
        .difference(&found)
        .map(|(f, m)| format!("(\"{f}\", \"{m}\")"))
        .collect();
    assert!(
        gone.is_empty(),
        "these back edges no longer exist: remove them from KNOWN_BACK_EDGES:\n{}",
        gone.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_not_comments_or_tests() {
    let text = "use crate::config::Snapshot;\n// crate::runtime in a comment\n#[cfg(test)]\nfn only_in_tests() {}\nfn f() { crate::net::conn::x(); crate::log!(\"a\"); }\n#[cfg(test)]\nmod tests { use crate::pipeline; }\n";
    let got: Vec<String> = crate_imports(text).into_iter().collect();
    assert_eq!(got, vec!["config::Snapshot", "log", "net::conn"]);
}
