//! What loading a configuration file may cost, bounded before and while parsing, so that no
//! file (sent to `tollgate check` or to a running gateway by SIGHUP) can exhaust memory or
//! CPU (issue 10 item 8).
//!
//! - [`read_capped`]: only regular files (not `/dev/zero`, a FIFO or a directory), opened
//!   without blocking, at most [`MAX_FILE_BYTES`] read.
//! - [`check_yaml`]: a streaming pre-pass over the YAML events (the libyaml parser that
//!   serde_yaml_ng itself runs on) that stops at the first excess: collections nested deeper
//!   than [`MAX_DEPTH`], more than [`MAX_NODES`] nodes with aliases expanded, aliases adding
//!   more than [`MAX_ALIAS_BYTES`] of scalar text, or an alias inside the node it names.
//!   serde_yaml_ng expands aliases by copying (a 1 MiB anchored body aliased 20,000 times is
//!   20 GiB) and libyaml's scanner is quadratic in flow nesting depth; the pre-pass sees both
//!   after a bounded amount of work, before anything is expanded. Syntax errors are left to
//!   serde_yaml_ng, which reports them with the same line and column.
//! - [`max_workers`]: the most workers a file or `--workers` may ask for.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ahash::{AHashMap, AHashSet};

/// Largest configuration (and PEM) file read: 16 MiB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Deepest nesting of YAML collections (a real configuration needs about 8).
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes (scalars and collections) in a file, every alias counted as the nodes it
/// expands to.
pub const MAX_NODES: u64 = 1_000_000;
/// Most scalar bytes that aliases may add by expansion.
pub const MAX_ALIAS_BYTES: u64 = 16 << 20;
/// Hard ceiling on workers, whatever the machine.
pub const MAX_WORKERS_CEILING: usize = 1024;
/// Workers per CPU this process may run on.
pub const WORKERS_PER_CPU: usize = 4;

/// The most workers (`server.workers`, `--workers`) this machine may run: 4 per CPU in this
/// process's affinity mask (as `available_parallelism` reports it), at most 1024.
pub fn max_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .saturating_mul(WORKERS_PER_CPU)
        .min(MAX_WORKERS_CEILING)
}

/// Read a regular file of at most `cap` bytes. The file is opened with `O_NONBLOCK` (a FIFO
/// without a writer does not block the open) and refused unless `fstat` says it is a
/// regular file; then at most `cap + 1` bytes are read, so a file that grows while it is
/// read is refused too. The error is a reason without the file name.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(
            "cannot read the file: not a regular file (a device, FIFO, socket or directory)"
                .to_string(),
        );
    }
    let too_big = || format!("the file is larger than {}", size_text(cap));
    if meta.len() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let mut limited: std::io::Take<File> = file.take(cap.saturating_add(1));
    limited
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if buf.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(buf)
}

/// `16 MiB` for 16 << 20, else the number of bytes.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why the pre-pass refused a file: the key path of the node where the budget ran out
/// (`apis[0].routes[17].integration`) and the reason, with line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub reason: String,
}

/// The pre-pass: `Ok` when loading `text` stays within every bound (or when it is not valid
/// YAML: serde_yaml_ng then reports the syntax error itself).
pub fn check_yaml(text: &str) -> Result<(), Refusal> {
    let mut stats = Stats::default();
    check_yaml_counting(text, &mut stats)
}

/// Work done by one pre-pass, for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Events read from the parser.
    pub events: u64,
}

pub fn check_yaml_counting(text: &str, stats: &mut Stats) -> Result<(), Refusal> {
    let Some(mut parser) = Parser::new(text.as_bytes()) else {
        // libyaml could not allocate its buffers; serde_yaml_ng will report it.
        return Ok(());
    };
    let mut stack: Vec<Frame> = Vec::new();
    // Anchor -> (nodes, scalar bytes) of the complete node it names (the latest definition,
    // as YAML and serde_yaml_ng resolve aliases).
    let mut anchors: AHashMap<Vec<u8>, (u64, u64)> = AHashMap::new();
    let mut open_anchors: AHashSet<Vec<u8>> = AHashSet::new();
    let mut nodes: u64 = 0;
    let mut bytes: u64 = 0;
    let mut alias_bytes: u64 = 0;
    loop {
        let Some((ev, mark)) = parser.next() else {
            return Ok(());
        };
        stats.events += 1;
        let refuse = |stack: &[Frame], reason: String| {
            Err(Refusal {
                path: render_path(stack),
                reason: format!("{reason} (line {}, column {})", mark.0, mark.1),
            })
        };
        match ev {
            Ev::StreamEnd => return Ok(()),
            Ev::Other => {}
            Ev::Scalar { anchor, len, key } => {
                nodes += 1;
                bytes += len;
                if let Some(a) = anchor {
                    anchors.insert(a, (1, len));
                }
                if nodes > MAX_NODES {
                    return refuse(&stack, too_many_nodes());
                }
                node_done(&mut stack, Some(key));
            }
            Ev::Alias(name) => {
                let Some(&(n, b)) = anchors.get(&name) else {
                    if open_anchors.contains(&name) {
                        return refuse(
                            &stack,
                            format!(
                                "alias `*{}` is inside the node it names (a recursive alias)",
                                clip_bytes(&name)
                            ),
                        );
                    }
                    // Unknown anchor: serde_yaml_ng reports it.
                    return Ok(());
                };
                nodes += n;
                bytes += b;
                alias_bytes += b;
                if alias_bytes > MAX_ALIAS_BYTES {
                    return refuse(
                        &stack,
                        format!(
                            "aliases expand to more than {} of text (alias `*{}` repeats {} bytes); \
                             write the value out or make it smaller",
                            size_text(MAX_ALIAS_BYTES),
                            clip_bytes(&name),
                            b
                        ),
                    );
                }
                if nodes > MAX_NODES {
                    return refuse(&stack, too_many_nodes());
                }
                node_done(&mut stack, None);
            }
            Ev::Start { anchor, map } => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return refuse(
                        &stack,
                        format!("collections are nested deeper than {MAX_DEPTH} levels"),
                    );
                }
                if nodes > MAX_NODES {
                    return refuse(&stack, too_many_nodes());
                }
                if let Some(a) = &anchor {
                    open_anchors.insert(a.clone());
                    // A redefinition: the old node is no longer what the name means.
                    anchors.remove(a);
                }
                stack.push(Frame {
                    map,
                    want_key: true,
                    key: None,
                    index: 0,
                    anchor,
                    nodes_before: nodes - 1,
                    bytes_before: bytes,
                });
            }
            Ev::End => {
                if let Some(f) = stack.pop() {
                    if let Some(a) = f.anchor {
                        open_anchors.remove(&a);
                        anchors.insert(a, (nodes - f.nodes_before, bytes - f.bytes_before));
                    }
                }
                node_done(&mut stack, None);
            }
        }
    }
}

fn too_many_nodes() -> String {
    format!("the file has more than {MAX_NODES} YAML nodes (aliases expanded)")
}

/// One open collection.
struct Frame {
    map: bool,
    /// Mapping: the next node is a key.
    want_key: bool,
    /// Mapping: the key of the value being read.
    key: Option<String>,
    /// Sequence: the index of the item being read.
    index: usize,
    anchor: Option<Vec<u8>>,
    nodes_before: u64,
    bytes_before: u64,
}

/// A node ended in the collection on top of `stack`; `key` is its text when it is a scalar.
fn node_done(stack: &mut [Frame], key: Option<String>) {
    if let Some(top) = stack.last_mut() {
        if top.map {
            if top.want_key {
                top.key = Some(key.unwrap_or_else(|| "?".to_string()));
                top.want_key = false;
            } else {
                top.key = None;
                top.want_key = true;
            }
        } else {
            top.index += 1;
        }
    }
}

/// `apis[0].routes[3].integration` for the node being read.
fn render_path(stack: &[Frame]) -> String {
    let mut out = String::new();
    for f in stack {
        if f.map {
            if let (false, Some(k)) = (f.want_key, &f.key) {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        } else {
            out.push_str(&format!("[{}]", f.index));
        }
    }
    out
}

/// At most 80 characters of `b` (lossy UTF-8), with `…` when cut.
fn clip_bytes(b: &[u8]) -> String {
    const MAX: usize = 80;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX * 4)]);
    let mut out: String = s.chars().take(MAX).collect();
    if out.len() < b.len() {
        out.push('…');
    }
    out
}

/// The events the pre-pass needs.
enum Ev {
    StreamEnd,
    Scalar {
        anchor: Option<Vec<u8>>,
        len: u64,
        /// The text (at most 80 characters), for key paths.
        key: String,
    },
    Alias(Vec<u8>),
    Start {
        anchor: Option<Vec<u8>>,
        map: bool,
    },
    End,
    Other,
}

/// A libyaml event parser over a borrowed input.
struct Parser<'a> {
    sys: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Option<Parser<'a>> {
        let mut sys = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        let p = sys.as_mut_ptr();
        // SAFETY: `p` points to boxed (stable) storage for a parser; yaml_parser_initialize
        // initialises it (on failure nothing is kept and Drop never runs, since no `Parser`
        // is built). The input slice outlives the parser (lifetime 'a), and libyaml only
        // reads `input.len()` bytes from it.
        unsafe {
            if unsafe_libyaml::yaml_parser_initialize(p).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_encoding(p, unsafe_libyaml::YAML_UTF8_ENCODING);
            unsafe_libyaml::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Some(Parser {
            sys,
            _input: PhantomData,
        })
    }

    /// The next event and its (1-based) line and column; `None` after a syntax error.
    fn next(&mut self) -> Option<(Ev, (u64, u64))> {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        let p = self.sys.as_mut_ptr();
        // SAFETY: the parser was initialised in `new` and is only used from here; after a
        // failed parse `next` is not called again by `check_yaml`. On success the event is
        // initialised; its pointers (anchor, scalar value) are valid until
        // yaml_event_delete, which runs after they are copied.
        unsafe {
            if unsafe_libyaml::yaml_parser_parse(p, event.as_mut_ptr()).fail {
                return None;
            }
            let e = &*event.as_ptr();
            let mark = (e.start_mark.line + 1, e.start_mark.column + 1);
            let ev = match e.type_ {
                unsafe_libyaml::YAML_STREAM_END_EVENT => Ev::StreamEnd,
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let s = e.data.scalar;
                    let len = s.length;
                    let shown = (len as usize).min(80 * 4);
                    let value: &[u8] = if s.value.is_null() {
                        &[]
                    } else {
                        std::slice::from_raw_parts(s.value, shown)
                    };
                    Ev::Scalar {
                        anchor: c_bytes(s.anchor),
                        len,
                        key: clip_bytes_len(value, len as usize),
                    }
                }
                unsafe_libyaml::YAML_ALIAS_EVENT => {
                    Ev::Alias(c_bytes(e.data.alias.anchor).unwrap_or_default())
                }
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => Ev::Start {
                    anchor: c_bytes(e.data.sequence_start.anchor),
                    map: false,
                },
                unsafe_libyaml::YAML_MAPPING_START_EVENT => Ev::Start {
                    anchor: c_bytes(e.data.mapping_start.anchor),
                    map: true,
                },
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT
                | unsafe_libyaml::YAML_MAPPING_END_EVENT => Ev::End,
                _ => Ev::Other,
            };
            unsafe_libyaml::yaml_event_delete(event.as_mut_ptr());
            Some((ev, mark))
        }
    }
}

/// Like [`clip_bytes`], where `b` may be a prefix of a value of `total` bytes.
fn clip_bytes_len(b: &[u8], total: usize) -> String {
    let mut s = clip_bytes(b);
    if total > b.len() && !s.ends_with('…') {
        s.push('…');
    }
    s
}

/// The bytes of a NUL-terminated libyaml string, `None` for a null pointer.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string valid for this call.
unsafe fn c_bytes(p: *const u8) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p.cast()) }.to_bytes().to_vec())
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Parser` exists only after a successful yaml_parser_initialize; this
        // frees libyaml's buffers once.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Refusal {
        check_yaml(text).expect_err("expected a refusal")
    }

    #[test]
    fn ordinary_yaml_passes() {
        check_yaml(include_str!("../../examples/quickstart.yaml")).unwrap();
        check_yaml("a: &x {b: 1}\nc: *x\n").unwrap();
        check_yaml("").unwrap();
    }

    #[test]
    fn syntax_errors_are_left_to_serde() {
        check_yaml("a: [1, 2\n").unwrap();
        check_yaml("a: *nowhere\n").unwrap();
    }

    #[test]
    fn depth_limit_names_the_position_and_stops_early() {
        let ok = format!(
            "x: {}{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        check_yaml(&ok).unwrap();
        let d = 100_000;
        let text = format!("x: {}{}", "[".repeat(d), "]".repeat(d));
        let mut stats = Stats::default();
        let r = check_yaml_counting(&text, &mut stats).expect_err("too deep");
        assert!(r.reason.contains("nested deeper than 64"), "{r:?}");
        assert!(r.reason.contains("line 1, column"), "{r:?}");
        assert!(r.path.starts_with("x[0][0]"), "{r:?}");
        // The pass stopped at the limit, not after reading the 200,000 brackets.
        assert!(stats.events < 200, "{} events read", stats.events);
    }

    #[test]
    fn block_nesting_counts_too() {
        let mut text = String::new();
        for i in 0..=MAX_DEPTH {
            text.push_str(&" ".repeat(i));
            text.push_str("k:\n");
        }
        let r = refused(&text);
        assert!(r.reason.contains("nested deeper"), "{r:?}");
        assert!(r.path.starts_with("k.k.k"), "{r:?}");
    }

    #[test]
    fn alias_bytes_budget_names_the_alias_and_its_path() {
        let body = "x".repeat(1 << 20);
        let mut text = format!("apis:\n  - routes:\n    - integration: &m {{body: \"{body}\"}}\n");
        for _ in 0..100 {
            text.push_str("    - integration: *m\n");
        }
        let r = refused(&text);
        assert!(r.reason.contains("alias `*m`"), "{r:?}");
        assert!(r.reason.contains("16 MiB"), "{r:?}");
        // The anchored node is 1 MiB and 4 bytes: the 16th alias is one too many.
        assert_eq!(r.path, "apis[0].routes[16].integration");
        assert!(r.reason.contains("line 19"), "{r:?}");
    }

    #[test]
    fn billion_laughs_hits_the_node_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let r = refused(&text);
        assert!(r.reason.contains("YAML nodes"), "{r:?}");
    }

    #[test]
    fn node_budget_without_aliases() {
        let text = format!("x: [{}1]", "1,".repeat(MAX_NODES as usize));
        let r = refused(&text);
        assert!(r.reason.contains("more than 1000000 YAML nodes"), "{r:?}");
        assert!(r.path.starts_with("x["), "{r:?}");
    }

    #[test]
    fn recursive_alias_is_refused() {
        let r = refused("a: &r [1, *r]\n");
        assert!(r.reason.contains("recursive alias"), "{r:?}");
    }

    #[test]
    fn long_keys_are_clipped_in_paths() {
        let key = "k".repeat(1000); // a simple key may be up to 1024 characters
        let text = format!(
            "{key}: {}{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let r = refused(&text);
        assert!(r.path.len() < 400, "{}", r.path.len());
        assert!(r.path.contains('…'), "{}", r.path);
    }

    #[test]
    fn read_capped_refuses_devices_fifos_dirs_and_big_files() {
        let e = read_capped(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_capped(Path::new("/"), MAX_FILE_BYTES).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir();
        let p = dir.join(format!("tollgate-bounded-{}", std::process::id()));
        std::fs::write(&p, vec![b'a'; 2000]).unwrap();
        assert_eq!(read_capped(&p, 2000).unwrap().len(), 2000);
        let e = read_capped(&p, 1999).unwrap_err();
        assert!(e.contains("larger than 1999 bytes"), "{e}");
        let _ = std::fs::remove_file(&p);
        let e = read_capped(Path::new("/nonexistent/x.yaml"), 10).unwrap_err();
        assert!(e.contains("cannot read the file"), "{e}");
    }

    #[test]
    fn max_workers_is_bounded() {
        let m = max_workers();
        assert!((WORKERS_PER_CPU..=MAX_WORKERS_CEILING).contains(&m), "{m}");
    }
}
