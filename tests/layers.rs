//! The library's modules form layers from the wire up (../shared/DESIGN.md, "Stage 2"):
//! a module may use its own layer and the layers below it, never one above. This test reads
//! every `crate::MODULE` path in the non-test code of src/ and fails on an import against
//! the order, naming the file.
//!
//! The imports that break the order today are listed in `KNOWN_BACK_EDGES` (the debt the
//! request-context issue pays off). The list may only shrink: a new back edge fails, and so
//! does a listed one that is gone (remove it from the list).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        // The wire and the basics: no gateway knowledge.
        "time" | "error" | "http" | "observe" | "log" => 0,
        // The configuration: file model and snapshot.
        "config" => 1,
        // What the pipeline uses.
        "routing" | "limits" | "cache" | "upstream" => 2,
        // The phases.
        "pipeline" => 3,
        // Connections and sessions.
        "net" => 4,
        // Supervisor, workers, services.
        "runtime" => 5,
        _ => return None,
    })
}

/// (file under src/, module it imports from a higher layer) as of the hardening issue.
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[
    ("config/custom_domain.rs", "net"),
    ("config/custom_domain.rs", "routing"),
    ("config/snapshot.rs", "routing"),
    ("config/snapshot.rs", "upstream"),
    ("config/target_group.rs", "upstream"),
    ("config/target_group.rs", "net"),
    ("config/validate/routes.rs", "routing"),
    ("config/validate/routes.rs", "upstream"),
    ("limits/bucket.rs", "runtime"),
    ("limits/reconcile.rs", "runtime"),
    ("limits/worker.rs", "runtime"),
    ("pipeline/cache.rs", "runtime"),
    ("pipeline/integration/exchange.rs", "net"),
    ("pipeline/integration/exchange.rs", "runtime"),
    ("pipeline/integration/http_proxy.rs", "net"),
    ("pipeline/integration/http_proxy.rs", "runtime"),
    ("pipeline/integration/mock.rs", "runtime"),
    ("pipeline/integration/stream_back.rs", "net"),
    ("pipeline/integration/stream_back.rs", "runtime"),
    ("pipeline/mod.rs", "runtime"),
    ("pipeline/respond.rs", "runtime"),
    ("pipeline/throttle.rs", "runtime"),
    // The session's TLS facts (TlsInfo, CertInfo) live in net until x509 moves down.
    ("pipeline/session/mod.rs", "net"),
    ("net/conn.rs", "runtime"),
    ("upstream/pool.rs", "net"),
];

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
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

/// Every (file, imported module) that goes up the layers.
fn back_edges() -> BTreeSet<(String, String)> {
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
        let own = layer(top)
            .unwrap_or_else(|| panic!("src/{rel}: module `{top}` has no layer in tests/layers.rs"));
        let text = std::fs::read_to_string(&file).expect("read source");
        for module in crate_imports(&text) {
            let theirs = layer(&module).unwrap_or_else(|| {
                panic!("src/{rel} uses crate::{module}, which has no layer in tests/layers.rs")
            });
            if theirs > own {
                edges.insert((rel.clone(), module));
            }
        }
    }
    edges
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
        "imports against the layer order (time/error/http/observe < config < routing, limits, \
         cache, upstream < pipeline < net < runtime; the binary and its tools above):\n{}",
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
    assert_eq!(got, vec!["config", "log", "net"]);
}
