//! Per-stage response cache (API Gateway stage caching) against the real binary on loopback.
//!
//! What is checked (the stage `cache` block, `method_settings`, the admin listener's cache
//! endpoints, `tollgate flush-stage-cache` and canary `use_stage_cache`):
//!
//! - a hit is served without the upstream (also while the upstream is down), byte-identical
//!   in status, body and stored headers, with a fresh `x-amzn-RequestId`;
//! - the cache key: method + route key + the route's `cache_key_parameters` (path parameter,
//!   query string value, header value) and nothing else;
//! - what is cacheable: cached methods (default GET, `methods` opts others in), disabled
//!   routes, TTL 0, only 2xx, bodies up to and including 1 MiB, chunked upstream responses;
//! - `Cache-Control: max-age=0`: allowed callers refresh the entry, the three strategies for
//!   the others, `require_authorization_for_cache_control: false`;
//! - request coalescing (one upstream fetch for concurrent misses, across cores), the
//!   coalescing timeout, one cache per stage (not per core);
//! - TTL expiry, the status header, flush (admin and CLI), the statistics endpoint;
//! - canary requests with and without `use_stage_cache`, and the canary traffic split;
//! - configuration errors reported by `tollgate check` with their key paths.
//!
//! The upstream is [`SerialUpstream`]: it numbers every request it receives, so a response
//! tells which upstream fetch produced it (`x-upstream-n` header, `"n"` in JSON bodies).

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

// ------------------------------------------------------------------ the numbering upstream

/// One request as [`SerialUpstream`] received it.
#[derive(Debug, Clone)]
struct Seen {
    /// Serial number, from 1, in order of arrival (assigned before any delay).
    n: usize,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct UpShared {
    count: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
    /// Clones of every accepted connection, shut down by `stop`.
    conns: Mutex<Vec<TcpStream>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A std-thread HTTP/1.1 upstream on `127.0.0.1:0` (keep-alive, one thread per connection)
/// that counts and numbers every request. The answer is steered by the request:
///
/// - path ending in `/status/NNN`: that status (default 200);
/// - `?size=N`: a body of N filler bytes (`a..z` repeating, `application/octet-stream`);
///   otherwise a JSON body `{"n":N,"method":..,"path":..,"query":..,"status":..,"body_len":..}`;
/// - `?chunked=1`: chunked transfer coding (chunk sizes 1, 4096, 65536, 333 cycled);
/// - `?delay_ms=N`: wait N ms before answering (the request is counted on arrival).
///
/// Every response carries `x-upstream-n: N` and `x-upstream-tag: serial-upstream`.
/// [`SerialUpstream::stop`] closes the listener (new connections are refused) and shuts down
/// every open connection, so an upstream that was stopped is really down.
struct SerialUpstream {
    port: u16,
    shared: Arc<UpShared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl SerialUpstream {
    fn start() -> SerialUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind serial upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(UpShared {
            count: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            handlers: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let acceptor = std::thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        if let Ok(c) = stream.try_clone() {
                            lock(&sh.conns).push(c);
                        }
                        let sh2 = sh.clone();
                        let h = std::thread::spawn(move || serve_conn(stream, &sh2));
                        lock(&sh.handlers).push(h);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        SerialUpstream {
            port,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// `127.0.0.1:PORT`
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests received so far.
    fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Requests received so far whose path is exactly `path`.
    fn count_path(&self, path: &str) -> usize {
        lock(&self.shared.seen)
            .iter()
            .filter(|s| s.path == path)
            .count()
    }

    /// Every request received so far, in order.
    fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Stop: close the listener, shut down every connection, join every thread. Idempotent.
    fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = lock(&self.acceptor).take() {
            let _ = h.join();
        }
        for c in lock(&self.shared.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let handlers: Vec<JoinHandle<()>> = lock(&self.shared.handlers).drain(..).collect();
        for h in handlers {
            let _ = h.join();
        }
    }
}

impl Drop for SerialUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// One complete request from the front of `buf` and the bytes it used; `None` if incomplete.
fn parse_request(buf: &[u8]) -> Result<Option<(RawRequest, usize)>, String> {
    let Some(end) = find_subslice(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "request head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    if method.is_empty() || target.is_empty() {
        return Err(format!("bad request line in {head:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let start = end + 4;
    let chunked_body = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let (body, used) = if chunked_body {
        match decode_chunked(&buf[start..])? {
            Some((body, used)) => (body, start + used),
            None => return Ok(None),
        }
    } else {
        let len: usize = match find("content-length") {
            Some(v) => v.parse().map_err(|_| format!("bad content-length {v:?}"))?,
            None => 0,
        };
        if buf.len() < start + len {
            return Ok(None);
        }
        (buf[start..start + len].to_vec(), start + len)
    };
    Ok(Some((
        RawRequest {
            method,
            target,
            headers,
            body,
        },
        used,
    )))
}

/// A chunked body from the front of `buf` and the bytes it used; `None` if incomplete.
fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find_subslice(&buf[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + line_end]).map_err(|_| "chunk line")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        pos += line_end + 2;
        if size == 0 {
            loop {
                let Some(e) = find_subslice(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += e + 2;
                if e == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

fn serve_conn(mut stream: TcpStream, sh: &UpShared) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !sh.stop.load(Ordering::SeqCst) {
        match parse_request(&buf) {
            Err(_) => return,
            Ok(Some((request, used))) => {
                buf.drain(..used);
                if !answer(&mut stream, request, sh) {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                continue;
            }
            Ok(None) => {}
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// `/.../status/NNN` -> NNN
fn status_from_path(path: &str) -> Option<u16> {
    let mut segs = path.rsplit('/');
    let last = segs.next()?;
    let before = segs.next()?;
    if before == "status" {
        last.parse().ok().filter(|s| (200..600).contains(s))
    } else {
        None
    }
}

/// Answer one request; `false` when the connection must close.
fn answer(stream: &mut TcpStream, request: RawRequest, sh: &UpShared) -> bool {
    let n = sh.count.fetch_add(1, Ordering::SeqCst) + 1;
    let (path, query) = match request.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (request.target.clone(), String::new()),
    };
    let params: HashMap<String, String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect();
    let close = request
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    lock(&sh.seen).push(Seen {
        n,
        method: request.method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
    });

    let delay = params
        .get("delay_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if delay > 0 {
        let until = Instant::now() + Duration::from_millis(delay);
        while Instant::now() < until {
            if sh.stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    let status = status_from_path(&path).unwrap_or(200);
    let (content_type, body) = match params.get("size").and_then(|v| v.parse::<usize>().ok()) {
        Some(size) => ("application/octet-stream", echo_size_body(size)),
        None => (
            "application/json",
            serde_json::json!({
                "n": n,
                "method": request.method,
                "path": path,
                "query": query,
                "status": status,
                "body_len": request.body.len(),
            })
            .to_string()
            .into_bytes(),
        ),
    };
    let use_chunked = params.get("chunked").map(String::as_str) == Some("1");
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\nx-upstream-n: {n}\r\nx-upstream-tag: serial-upstream\r\n",
        reason(status)
    );
    if use_chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if request.method != "HEAD" {
        if use_chunked {
            out.extend_from_slice(&chunked(&body, &[1, 4096, 65536, 333]));
        } else {
            out.extend_from_slice(&body);
        }
    }
    if stream.write_all(&out).is_err() {
        return false;
    }
    !close
}

// ------------------------------------------------------------------ configuration

/// The specification's example configuration; `UPSTREAM` is replaced by the upstream's
/// address. `GET /shared/{id}` is cached here (no key parameters: one shared entry); the
/// disabled-route test adds the `enabled: false` method setting.
const BASE: &str = r#"admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
api_keys:
  - {id: ops, value: ops-key-0123456789}
  - {id: user, value: user-key-0123456789}
apis:
  - id: demo
    type: REST
    routes:
      - route: ANY /items/{proxy+}
        integration: {type: HTTP_PROXY, uri: "http://UPSTREAM/{proxy}"}
        cache_key_parameters: [method.request.path.proxy, method.request.querystring.q, method.request.header.x-tenant]
      - route: GET /shared/{id}
        integration: {type: HTTP_PROXY, uri: "http://UPSTREAM/shared/{id}"}
      - route: POST /search
        integration: {type: HTTP_PROXY, uri: "http://UPSTREAM/search"}
    stages:
      - name: prod
        cache:
          enabled: true
          cluster_size: 0.5
          ttl: 300s
          require_authorization_for_cache_control: true
          unauthorized_cache_control_header_strategy: SUCCEED_WITH_RESPONSE_HEADER
          invalidation_api_keys: [ops]
          status_header: {name: x-cache, hit: Hit, miss: Miss}
          request_coalescing: true
          coalescing_timeout: 5s
          method_settings:
            - {route: "POST /search", enabled: true, ttl: 60s, methods: [POST]}
"#;

/// The `method_settings` entry of [`BASE`] (with its line break), to append entries after.
const MS_SEARCH: &str =
    "            - {route: \"POST /search\", enabled: true, ttl: 60s, methods: [POST]}\n";

/// A second cached stage, appended to [`BASE`]'s stage list.
const BETA_STAGE: &str = "      - name: beta
        cache:
          enabled: true
          cluster_size: 0.5
          status_header: {name: x-cache, hit: Hit, miss: Miss}
";

const OPS_KEY: &str = "ops-key-0123456789";
const USER_KEY: &str = "user-key-0123456789";
const ONE_MIB: usize = 1_048_576;

/// `yaml` with `from` replaced by `to`; `from` must occur.
#[track_caller]
fn edit(yaml: &str, from: &str, to: &str) -> String {
    assert!(
        yaml.contains(from),
        "test bug: {from:?} is not in the configuration"
    );
    yaml.replacen(from, to, 1)
}

/// [`BASE`] with extra `method_settings` entries (full lines, indented like [`MS_SEARCH`]).
fn with_method_settings(yaml: &str, extra: &str) -> String {
    edit(yaml, MS_SEARCH, &format!("{MS_SEARCH}{extra}"))
}

// ------------------------------------------------------------------ test environment

/// A gateway and its upstream; dropped gateway first (killed), then the upstream.
struct Env {
    gw: Gateway,
    up: SerialUpstream,
}

impl Env {
    fn start(yaml: &str) -> Env {
        Env::start_with_workers(yaml, 1)
    }

    fn start_with_workers(yaml: &str, workers: usize) -> Env {
        let up = SerialUpstream::start();
        let yaml = yaml.replace("UPSTREAM", &up.addr());
        let gw = Gateway::start_with_workers(&yaml, workers);
        Env { gw, up }
    }

    /// The public listener's port (the admin listener may be listed first).
    fn public(&self) -> u16 {
        self.gw.port_of("public")
    }

    fn admin_port(&self) -> u16 {
        self.gw.port_of("admin")
    }

    /// A request on a fresh connection to the public listener.
    fn send(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        Client::connect(self.public()).request(&req(method, target, headers, body))
    }

    fn get(&self, target: &str) -> Response {
        self.send("GET", target, &[], b"")
    }

    fn get_h(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.send("GET", target, headers, b"")
    }

    /// A request to the admin listener.
    fn admin(&self, method: &str, path: &str) -> Response {
        Client::connect(self.admin_port()).request(&req(method, path, &[], b""))
    }

    /// `GET /restapis/demo/stages/STAGE/cache`, asserted 200 JSON.
    fn stats(&self, stage: &str) -> serde_json::Value {
        let r = self.admin("GET", &format!("/restapis/demo/stages/{stage}/cache"));
        assert_eq!(r.status, 200, "cache statistics: {}", r.describe());
        r.json()
    }

    fn flush(&self, api: &str, stage: &str) -> Response {
        self.admin(
            "DELETE",
            &format!("/restapis/{api}/stages/{stage}/cache/data"),
        )
    }
}

/// The serial number of the upstream fetch that produced `r` (its `x-upstream-n` header).
#[track_caller]
fn serial(r: &Response) -> usize {
    r.header("x-upstream-n")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no x-upstream-n header: {}", r.describe()))
}

fn x_cache(r: &Response) -> Option<&str> {
    r.header("x-cache")
}

/// Assert a 200 with `x-cache: expected`; returns the upstream serial number.
#[track_caller]
fn expect(r: &Response, expected: &str, what: &str) -> usize {
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    assert_eq!(x_cache(r), Some(expected), "{what}: {}", r.describe());
    serial(r)
}

#[track_caller]
fn miss(r: &Response, what: &str) -> usize {
    expect(r, "Miss", what)
}

#[track_caller]
fn hit(r: &Response, what: &str) -> usize {
    expect(r, "Hit", what)
}

/// Assert a 200 without any `x-cache` header (a request that is not cacheable).
#[track_caller]
fn uncached(r: &Response, what: &str) -> usize {
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    assert_eq!(
        r.header_count("x-cache"),
        0,
        "{what}: a request that is not cacheable has no x-cache header: {}",
        r.describe()
    );
    serial(r)
}

/// An integer field of the cache statistics.
#[track_caller]
fn stat(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key)
        .and_then(|x| x.as_u64())
        .unwrap_or_else(|| panic!("cache statistics have no integer field {key:?}: {v}"))
}

/// Send GET `target` once on each of `n` connections (opened first), all released at once.
fn concurrent_gets(port: u16, n: usize, target: &str) -> Vec<Response> {
    let clients: Vec<Client> = (0..n).map(|_| Client::connect(port)).collect();
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<JoinHandle<Response>> = clients
        .into_iter()
        .map(|mut c| {
            let barrier = barrier.clone();
            let request = get(target);
            std::thread::spawn(move || {
                barrier.wait();
                c.request(&request)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect()
}

// ------------------------------------------------------------------ hits and misses

#[test]
fn second_request_is_a_hit_served_without_the_upstream() {
    let env = Env::start(BASE);
    let first = env.get("/prod/items/a?q=1");
    let n1 = miss(&first, "first request");
    assert_eq!(n1, 1);
    let echo = first.json();
    assert_eq!(echo["n"], 1, "{echo}");
    assert_eq!(jstr(&echo, "path"), "/a");
    assert_eq!(jstr(&echo, "query"), "q=1");
    first.assert_request_id();

    let second = env.get("/prod/items/a?q=1");
    hit(&second, "second request");
    assert_eq!(env.up.count(), 1, "a hit must not contact the upstream");
    assert_eq!(
        second.body, first.body,
        "a hit is byte-identical to the miss"
    );
    assert_eq!(serial(&second), 1);
    assert_eq!(second.header("content-type"), Some("application/json"));
    assert_eq!(second.header("x-upstream-tag"), Some("serial-upstream"));
    assert_eq!(second.header_count("content-length"), 1);
    assert_eq!(
        second.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    assert_eq!(second.header_count("date"), 1, "{}", second.describe());
    second.assert_request_id();
    assert_ne!(
        second.header("x-amzn-RequestId"),
        first.header("x-amzn-RequestId"),
        "every response has its own request id, also a hit"
    );

    // Also on a keep-alive connection, several hits in a row.
    let mut c = Client::connect(env.public());
    for i in 0..3 {
        let r = c.request(&get("/prod/items/a?q=1"));
        hit(&r, &format!("keep-alive hit {i}"));
        assert_eq!(r.body, first.body);
    }

    // Upstream down: the hit is still served; an uncached key fails (it really is down).
    env.up.stop();
    let down = env.get("/prod/items/a?q=1");
    hit(&down, "hit while the upstream is down");
    assert_eq!(down.body, first.body);
    let other = env.get("/prod/items/not-cached");
    assert_eq!(
        other.status,
        502,
        "a miss while the upstream is down: {}",
        other.describe()
    );
    assert_eq!(env.up.count(), 1);
}

#[test]
fn cache_key_is_route_plus_listed_parameters_only() {
    let env = Env::start(BASE);

    // Query string: `q` is a key parameter, `x` is not.
    let a = miss(&env.get("/prod/items/k?q=1&x=1"), "q=1 x=1");
    let r = env.get("/prod/items/k?q=1&x=2");
    assert_eq!(hit(&r, "q=1 x=2 (x is not a key parameter)"), a);
    assert_eq!(jstr(&r.json(), "query"), "q=1&x=1", "the stored response");
    let b = miss(&env.get("/prod/items/k?q=2&x=1"), "q=2");
    assert_ne!(a, b);
    assert_eq!(hit(&env.get("/prod/items/k?q=2&x=9"), "q=2 again"), b);
    assert_eq!(hit(&env.get("/prod/items/k?q=1&x=3"), "q=1 again"), a);

    // Path parameter.
    let c = miss(&env.get("/prod/items/other?q=1&x=1"), "another proxy path");
    assert_ne!(c, a);
    assert_eq!(
        hit(&env.get("/prod/items/other?q=1"), "other path again"),
        c
    );
    let d = miss(
        &env.get("/prod/items/deeper/path?q=1"),
        "a deeper proxy path",
    );
    assert_eq!(
        hit(&env.get("/prod/items/deeper/path?q=1"), "deeper again"),
        d
    );

    // Header value.
    let ta = miss(
        &env.get_h("/prod/items/t?q=1", &[("x-tenant", "a")]),
        "tenant a",
    );
    let tb = miss(
        &env.get_h("/prod/items/t?q=1", &[("x-tenant", "b")]),
        "tenant b",
    );
    assert_ne!(ta, tb);
    assert_eq!(
        hit(
            &env.get_h("/prod/items/t?q=1", &[("x-tenant", "a")]),
            "tenant a again"
        ),
        ta
    );
    assert_eq!(
        hit(
            &env.get_h("/prod/items/t?q=1", &[("X-Tenant", "b")]),
            "tenant b again (header names are case-insensitive)"
        ),
        tb
    );
    let tenants: Vec<Option<String>> = env
        .up
        .requests()
        .iter()
        .filter(|s| s.path == "/t")
        .map(|s| s.header("x-tenant").map(str::to_string))
        .collect();
    assert_eq!(
        tenants,
        [Some("a".to_string()), Some("b".to_string())],
        "one fetch per tenant, with its header"
    );
    // An unlisted header does not matter.
    assert_eq!(
        hit(
            &env.get_h(
                "/prod/items/t?q=1",
                &[("x-tenant", "a"), ("x-other", "zzz")]
            ),
            "tenant a with an unlisted header"
        ),
        ta
    );

    // A route without key parameters: one entry for every caller.
    let s1 = env.get("/prod/shared/1");
    let s = miss(&s1, "/shared/1");
    let s2 = env.get("/prod/shared/2");
    assert_eq!(hit(&s2, "/shared/2 shares /shared/1's entry"), s);
    assert_eq!(s2.body, s1.body);
    assert_eq!(jstr(&s2.json(), "path"), "/shared/1");

    assert_eq!(
        env.up.count(),
        7,
        "upstream requests: {:?}",
        env.up
            .requests()
            .iter()
            .map(|s| format!("#{} {} {}?{}", s.n, s.method, s.path, s.query))
            .collect::<Vec<_>>()
    );
}

#[test]
fn post_to_the_any_route_is_not_cached() {
    let env = Env::start(BASE);
    let a = uncached(
        &env.send("POST", "/prod/items/p?q=1", &[], b"{\"a\":1}"),
        "first POST",
    );
    let b = uncached(
        &env.send("POST", "/prod/items/p?q=1", &[], b"{\"a\":1}"),
        "second POST",
    );
    assert_ne!(a, b, "each POST went upstream");
    assert_eq!(env.up.count(), 2);
    // The POSTs did not fill the GET entry either.
    let g = miss(&env.get("/prod/items/p?q=1"), "GET after the POSTs");
    assert_eq!(g, 3);
    // Nor does a POST read it.
    let p = uncached(
        &env.send("POST", "/prod/items/p?q=1", &[], b"{\"a\":1}"),
        "POST after the GET",
    );
    assert_eq!(p, 4);
    assert_eq!(env.up.count(), 4);
}

#[test]
fn post_route_opted_in_by_method_settings_is_cached() {
    let env = Env::start(BASE);
    let body = b"{\"term\":\"cache\"}";
    let first = env.send("POST", "/prod/search", &[], body);
    let n = miss(&first, "first POST /search");
    assert_eq!(
        first.json()["body_len"],
        body.len(),
        "the body was forwarded"
    );
    let second = env.send("POST", "/prod/search", &[], body);
    assert_eq!(hit(&second, "second POST /search"), n);
    assert_eq!(second.body, first.body);
    assert_eq!(env.up.count(), 1);
    assert_eq!(env.up.requests()[0].body, body);
}

#[test]
fn route_disabled_in_method_settings_is_not_cached() {
    let yaml = with_method_settings(
        BASE,
        "            - {route: \"GET /shared/{id}\", enabled: false}\n",
    );
    let env = Env::start(&yaml);
    let a = uncached(&env.get("/prod/shared/1"), "first GET of a disabled route");
    let b = uncached(&env.get("/prod/shared/1"), "second GET of a disabled route");
    assert_ne!(a, b);
    assert_eq!(env.up.count_path("/shared/1"), 2);
    // Other routes of the stage are still cached.
    let c = miss(&env.get("/prod/items/x"), "enabled route");
    assert_eq!(hit(&env.get("/prod/items/x"), "enabled route again"), c);
}

#[test]
fn only_2xx_responses_are_stored() {
    let env = Env::start(BASE);
    for status in [503u16, 404, 500] {
        let target = format!("/prod/items/status/{status}");
        let mut serials = Vec::new();
        for i in 0..2 {
            let r = env.get(&target);
            assert_eq!(r.status, status, "request {i}: {}", r.describe());
            assert_ne!(
                x_cache(&r),
                Some("Hit"),
                "a {status} must not be stored: {}",
                r.describe()
            );
            serials.push(serial(&r));
        }
        assert_ne!(serials[0], serials[1], "{status}: both went upstream");
        assert_eq!(env.up.count_path(&format!("/status/{status}")), 2);
    }
    // A 2xx other than 200 is stored.
    let first = env.get("/prod/items/status/201");
    assert_eq!(first.status, 201, "{}", first.describe());
    assert_eq!(x_cache(&first), Some("Miss"), "{}", first.describe());
    let second = env.get("/prod/items/status/201");
    assert_eq!(second.status, 201, "{}", second.describe());
    assert_eq!(x_cache(&second), Some("Hit"), "{}", second.describe());
    assert_eq!(second.body, first.body);
    assert_eq!(env.up.count_path("/status/201"), 1);
}

#[test]
fn bodies_over_1mib_are_not_stored_and_exactly_1mib_is() {
    let env = Env::start(BASE);
    let cases = [
        ("over", ONE_MIB + 1, false, false),
        ("exact", ONE_MIB, false, true),
        ("overchunked", ONE_MIB + 1, true, false),
        ("exactchunked", ONE_MIB, true, true),
    ];
    for (name, size, use_chunked, stored) in cases {
        let chunk_q = if use_chunked { "&chunked=1" } else { "" };
        let target = format!("/prod/items/{name}?size={size}{chunk_q}");
        let expected_body = echo_size_body(size);
        let first = env.get(&target);
        let n = miss(&first, &format!("{name}: first"));
        assert_eq!(first.body.len(), size, "{name}: first body length");
        assert!(first.body == expected_body, "{name}: first body differs");
        let second = env.get(&target);
        assert_eq!(second.status, 200, "{name}: {}", second.describe());
        assert_eq!(second.body.len(), size, "{name}: second body length");
        assert!(second.body == expected_body, "{name}: second body differs");
        if stored {
            assert_eq!(
                x_cache(&second),
                Some("Hit"),
                "{name}: {}",
                second.describe()
            );
            assert_eq!(serial(&second), n);
            assert_eq!(
                second.header("content-length"),
                Some(size.to_string().as_str()),
                "{name}"
            );
            assert_eq!(env.up.count_path(&format!("/{name}")), 1, "{name}");
        } else {
            assert_eq!(
                x_cache(&second),
                Some("Miss"),
                "{name}: {size} bytes must not be stored: {}",
                second.describe()
            );
            assert_ne!(serial(&second), n);
            assert_eq!(env.up.count_path(&format!("/{name}")), 2, "{name}");
        }
    }
}

#[test]
fn chunked_upstream_response_is_cached_and_served_with_content_length() {
    let env = Env::start(BASE);
    // A multi-chunk body.
    let size = 200_000;
    let first = env.get(&format!("/prod/items/chunky?size={size}&chunked=1"));
    let n = miss(&first, "chunked miss");
    assert_eq!(first.body.len(), size);
    let second = env.get(&format!("/prod/items/chunky?size={size}&chunked=1"));
    assert_eq!(hit(&second, "chunked hit"), n);
    assert!(second.body == first.body, "hit body differs");
    assert!(
        !second.chunked,
        "a hit has a known length: {}",
        truncate(&format!("{:?}", second.headers), 300)
    );
    assert_eq!(
        second.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(second.header_count("transfer-encoding"), 0);
    assert_eq!(env.up.count(), 1);

    // A small chunked JSON body.
    let first = env.get("/prod/items/cj?chunked=1");
    let n = miss(&first, "small chunked miss");
    let second = env.get("/prod/items/cj?chunked=1");
    assert_eq!(hit(&second, "small chunked hit"), n);
    assert_eq!(second.body, first.body);
    assert_eq!(second.json()["n"], n);
    assert!(!second.chunked);
    assert_eq!(
        second.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    assert_eq!(env.up.count(), 2);
}

#[test]
fn status_header_is_absent_by_default() {
    let yaml = edit(
        BASE,
        "          status_header: {name: x-cache, hit: Hit, miss: Miss}\n",
        "",
    );
    let env = Env::start(&yaml);
    let first = env.get("/prod/items/a");
    let second = env.get("/prod/items/a");
    for (r, what) in [(&first, "miss"), (&second, "hit")] {
        assert_eq!(r.status, 200, "{what}: {}", r.describe());
        assert_eq!(
            r.header_count("x-cache"),
            0,
            "{what} without status_header: {}",
            r.describe()
        );
    }
    assert_eq!(second.body, first.body, "still cached");
    assert_eq!(env.up.count(), 1);
}

#[test]
fn defaults_apply_when_cache_settings_are_omitted() {
    // Only enabled, cluster_size and the status header: require_authorization true and
    // SUCCEED_WITH_RESPONSE_HEADER, cached methods [GET], coalescing on.
    let yaml = r#"admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    routes:
      - route: ANY /items/{proxy+}
        integration: {type: HTTP_PROXY, uri: "http://UPSTREAM/{proxy}"}
        cache_key_parameters: [method.request.path.proxy]
    stages:
      - name: prod
        cache:
          enabled: true
          cluster_size: 0.5
          status_header: {name: x-cache, hit: Hit, miss: Miss}
"#;
    let env = Env::start(yaml);
    let n = miss(&env.get("/prod/items/d"), "first GET");
    assert_eq!(hit(&env.get("/prod/items/d"), "second GET"), n);
    let r = env.get_h("/prod/items/d", &[("Cache-Control", "max-age=0")]);
    assert_eq!(
        hit(&r, "max-age=0 without authorization (default strategy)"),
        n
    );
    assert!(
        r.header("warning").is_some_and(|w| w.starts_with("199")),
        "default strategy SUCCEED_WITH_RESPONSE_HEADER: {}",
        r.describe()
    );
    uncached(
        &env.send("POST", "/prod/items/d", &[], b"x"),
        "POST (only GET by default)",
    );
    let results = concurrent_gets(env.public(), 4, "/prod/items/slowd?delay_ms=300");
    for r in &results {
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    assert_eq!(
        env.up.count_path("/slowd"),
        1,
        "coalescing is on by default"
    );
}

// ------------------------------------------------------------------ Cache-Control: max-age=0

#[test]
fn max_age_0_from_an_invalidation_key_refreshes_the_entry() {
    let env = Env::start(BASE);
    let n1 = miss(&env.get("/prod/items/m?q=1"), "prime");
    let refreshed = env.get_h(
        "/prod/items/m?q=1",
        &[("Cache-Control", "max-age=0"), ("x-api-key", OPS_KEY)],
    );
    let n2 = miss(&refreshed, "max-age=0 with the ops key goes upstream");
    assert_ne!(n1, n2);
    assert_eq!(env.up.count(), 2);
    let after = env.get("/prod/items/m?q=1");
    assert_eq!(hit(&after, "after the refresh"), n2, "the new response");
    assert_eq!(after.body, refreshed.body);
    assert_eq!(env.up.count(), 2);
}

/// Prime an entry, then send `Cache-Control: max-age=0` without a key and with a key that is
/// not an invalidation key; `check` judges each of those responses. Afterwards the entry is
/// unchanged and the ops key can still refresh it.
fn unauthorized_refresh(strategy: &str, check: impl Fn(&Response, usize, &str)) {
    let yaml = edit(
        BASE,
        "unauthorized_cache_control_header_strategy: SUCCEED_WITH_RESPONSE_HEADER",
        &format!("unauthorized_cache_control_header_strategy: {strategy}"),
    );
    let env = Env::start(&yaml);
    let target = "/prod/items/u?q=1";
    let n1 = miss(&env.get(target), "prime");
    let no_key = env.get_h(target, &[("Cache-Control", "max-age=0")]);
    check(&no_key, n1, "max-age=0 without an API key");
    let user = env.get_h(
        target,
        &[("Cache-Control", "max-age=0"), ("x-api-key", USER_KEY)],
    );
    check(&user, n1, "max-age=0 with a key that may not invalidate");
    assert_eq!(
        env.up.count(),
        1,
        "{strategy}: an unauthorized max-age=0 must not reach the upstream"
    );
    assert_eq!(
        hit(&env.get(target), "plain request afterwards"),
        n1,
        "{strategy}: the entry is unchanged"
    );
    let n2 = miss(
        &env.get_h(
            target,
            &[("Cache-Control", "max-age=0"), ("x-api-key", OPS_KEY)],
        ),
        "max-age=0 with the ops key",
    );
    assert_ne!(n2, n1);
    assert_eq!(hit(&env.get(target), "after the ops refresh"), n2);
}

#[test]
fn unauthorized_max_age_0_fail_with_403() {
    unauthorized_refresh("FAIL_WITH_403", |r, _, what| {
        assert_eq!(r.status, 403, "{what}: {}", r.describe());
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("AccessDeniedException"),
            "{what}: {}",
            r.describe()
        );
        let body = r.json();
        assert!(
            body.get("message").is_some_and(|m| m.is_string()),
            "{what}: the body is {{\"message\": ...}}: {body}"
        );
    });
}

#[test]
fn unauthorized_max_age_0_succeed_with_response_header() {
    unauthorized_refresh("SUCCEED_WITH_RESPONSE_HEADER", |r, n1, what| {
        assert_eq!(hit(r, what), n1, "{what}: served from the cache");
        let warning = r
            .header("warning")
            .unwrap_or_else(|| panic!("{what}: no warning header: {}", r.describe()));
        assert!(
            warning.starts_with("199"),
            "{what}: warning {warning:?} should start with 199"
        );
    });
}

#[test]
fn unauthorized_max_age_0_succeed_without_response_header() {
    unauthorized_refresh("SUCCEED_WITHOUT_RESPONSE_HEADER", |r, n1, what| {
        assert_eq!(hit(r, what), n1, "{what}: served from the cache");
        assert_eq!(
            r.header_count("warning"),
            0,
            "{what}: no warning header: {}",
            r.describe()
        );
    });
}

#[test]
fn without_required_authorization_anyone_can_refresh() {
    let yaml = edit(
        BASE,
        "require_authorization_for_cache_control: true",
        "require_authorization_for_cache_control: false",
    );
    let env = Env::start(&yaml);
    let target = "/prod/items/r";
    let n1 = miss(&env.get(target), "prime");
    let n2 = miss(
        &env.get_h(target, &[("Cache-Control", "max-age=0")]),
        "max-age=0 without a key",
    );
    assert_ne!(n1, n2);
    assert_eq!(hit(&env.get(target), "after the refresh"), n2);
    let n3 = miss(
        &env.get_h(
            target,
            &[("Cache-Control", "max-age=0"), ("x-api-key", USER_KEY)],
        ),
        "max-age=0 with the user key",
    );
    assert_eq!(hit(&env.get(target), "after the second refresh"), n3);
    assert_eq!(env.up.count(), 3);
}

// ------------------------------------------------------------------ flush and statistics

#[test]
fn admin_flush_empties_only_that_stage_cache() {
    let env = Env::start(&format!("{BASE}{BETA_STAGE}"));
    let p1 = miss(&env.get("/prod/items/f"), "prod prime");
    assert_eq!(hit(&env.get("/prod/items/f"), "prod hit"), p1);
    let b1 = miss(&env.get("/beta/items/f"), "beta prime (its own cache)");
    assert_ne!(p1, b1);
    assert_eq!(hit(&env.get("/beta/items/f"), "beta hit"), b1);
    assert_eq!(env.up.count(), 2);

    let r = env.flush("demo", "prod");
    assert_eq!(r.status, 202, "flush: {}", r.describe());

    let p2 = miss(&env.get("/prod/items/f"), "prod after the flush");
    assert_ne!(p2, p1);
    assert_eq!(env.up.count(), 3);
    assert_eq!(hit(&env.get("/prod/items/f"), "prod refilled"), p2);
    assert_eq!(hit(&env.get("/beta/items/f"), "beta was not flushed"), b1);

    for (path, what) in [
        ("/restapis/nope/stages/prod/cache/data", "unknown api"),
        ("/restapis/demo/stages/nope/cache/data", "unknown stage"),
    ] {
        let r = env.admin("DELETE", path);
        assert_eq!(r.status, 404, "{what}: {}", r.describe());
    }
    assert_eq!(env.up.count(), 3);
}

#[test]
fn cli_flush_stage_cache() {
    let env = Env::start(BASE);
    let n1 = miss(&env.get("/prod/items/c"), "prime");
    let n2 = miss(&env.get("/prod/shared/1"), "prime shared");
    assert_eq!(hit(&env.get("/prod/items/c"), "hit"), n1);
    assert_eq!(hit(&env.get("/prod/shared/1"), "hit"), n2);
    let admin = format!("127.0.0.1:{}", env.admin_port());

    let (code, out, err) = cli(&[
        "flush-stage-cache",
        "--admin",
        &admin,
        "--api",
        "demo",
        "--stage",
        "prod",
    ]);
    assert_eq!(code, 0, "flush-stage-cache: stdout {out:?} stderr {err:?}");
    let s = env.stats("prod");
    assert_eq!(stat(&s, "entries"), 0, "after the flush: {s}");
    assert_eq!(stat(&s, "bytes"), 0, "after the flush: {s}");
    let n3 = miss(&env.get("/prod/items/c"), "after the CLI flush");
    assert_ne!(n3, n1);
    miss(&env.get("/prod/shared/1"), "shared after the CLI flush");
    assert_eq!(env.up.count(), 4);

    let (code, out, err) = cli(&[
        "flush-stage-cache",
        "--admin",
        &admin,
        "--api",
        "demo",
        "--stage",
        "nope",
    ]);
    assert_ne!(
        code, 0,
        "flush-stage-cache of an unknown stage: stdout {out:?} stderr {err:?}"
    );
    assert!(
        !err.trim().is_empty(),
        "flush-stage-cache of an unknown stage says why on stderr (stdout {out:?})"
    );
    // The failed flush did not touch the prod cache.
    assert_eq!(hit(&env.get("/prod/items/c"), "still cached"), n3);
}

#[test]
fn statistics_count_hits_misses_and_entries() {
    let env = Env::start(BASE);
    let s = env.stats("prod");
    for key in ["CacheHitCount", "CacheMissCount", "entries", "bytes"] {
        assert_eq!(stat(&s, key), 0, "{key} at start: {s}");
    }
    let capacity = stat(&s, "capacity_bytes");
    assert!(
        (450_000_000..=600_000_000).contains(&capacity),
        "cluster_size 0.5 (GB): capacity_bytes {capacity}"
    );

    let a = env.get("/prod/items/a");
    miss(&a, "a");
    hit(&env.get("/prod/items/a"), "a");
    hit(&env.get("/prod/items/a"), "a");
    let b = env.get("/prod/items/b?q=7");
    miss(&b, "b");
    // Not cacheable: counted neither as a hit nor as a miss.
    uncached(
        &env.send("POST", "/prod/items/a", &[], b"p"),
        "POST to the ANY route",
    );

    let mut last = serde_json::Value::Null;
    let settled = wait_until(Duration::from_secs(5), || {
        last = env.stats("prod");
        stat(&last, "CacheHitCount") == 2
            && stat(&last, "CacheMissCount") == 2
            && stat(&last, "entries") == 2
    });
    assert!(settled, "expected 2 hits, 2 misses and 2 entries: {last}");
    let bytes = stat(&last, "bytes");
    assert!(
        bytes >= (a.body.len() + b.body.len()) as u64,
        "bytes {bytes} cannot be less than the stored bodies ({} + {}): {last}",
        a.body.len(),
        b.body.len()
    );
    assert!(bytes <= stat(&last, "capacity_bytes"), "{last}");
    assert_eq!(stat(&last, "capacity_bytes"), capacity);

    // Flushing empties the entries; the counters keep counting since start.
    let r = env.flush("demo", "prod");
    assert_eq!(r.status, 202, "{}", r.describe());
    let s = env.stats("prod");
    assert_eq!(stat(&s, "entries"), 0, "{s}");
    assert_eq!(stat(&s, "bytes"), 0, "{s}");
    miss(&env.get("/prod/items/a"), "a after the flush");
    let settled = wait_until(Duration::from_secs(5), || {
        last = env.stats("prod");
        // The miss is counted when the response goes out, the entry when its store lands
        // (just after): wait for both.
        stat(&last, "CacheMissCount") == 3 && stat(&last, "entries") == 1
    });
    assert!(settled, "expected 3 misses and 1 entry: {last}");
    assert_eq!(stat(&last, "CacheHitCount"), 2, "{last}");
}

// ------------------------------------------------------------------ coalescing and cores

#[test]
fn concurrent_misses_are_coalesced_into_one_upstream_request() {
    let env = Env::start_with_workers(BASE, 2);
    let results = concurrent_gets(env.public(), 8, "/prod/items/slow?delay_ms=500");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.status, 200, "client {i}: {}", r.describe());
        assert_eq!(r.body, results[0].body, "client {i}: same body");
    }
    assert_eq!(
        env.up.count(),
        1,
        "8 concurrent requests for one uncached key"
    );
    assert_eq!(results[0].json()["n"], 1);
    assert_eq!(
        hit(&env.get("/prod/items/slow?delay_ms=500"), "afterwards"),
        1
    );
}

#[test]
fn coalescing_waiters_go_upstream_after_the_coalescing_timeout() {
    let yaml = edit(BASE, "coalescing_timeout: 5s", "coalescing_timeout: 200ms");
    let env = Env::start_with_workers(&yaml, 2);
    let n = 8;
    let results = concurrent_gets(env.public(), n, "/prod/items/slower?delay_ms=1500");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.status, 200, "client {i}: {}", r.describe());
    }
    assert_eq!(
        env.up.count(),
        n,
        "every waiter gave up after 200 ms and went upstream itself"
    );
}

#[test]
fn without_request_coalescing_every_concurrent_miss_goes_upstream() {
    let yaml = edit(
        BASE,
        "request_coalescing: true",
        "request_coalescing: false",
    );
    let env = Env::start_with_workers(&yaml, 2);
    let n = 8;
    let results = concurrent_gets(env.public(), n, "/prod/items/slow?delay_ms=500");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.status, 200, "client {i}: {}", r.describe());
    }
    assert_eq!(env.up.count(), n);
    // A response was still stored.
    let r = env.get("/prod/items/slow?delay_ms=500");
    hit(&r, "afterwards");
    assert_eq!(env.up.count(), n);
}

#[test]
fn one_cache_per_stage_shared_by_all_workers() {
    let env = Env::start_with_workers(BASE, 2);
    for key in ["w1", "w2", "w3"] {
        let target = format!("/prod/items/{key}");
        let first = env.get(&target);
        let n = miss(&first, &format!("{key}: first"));
        // Each on a new connection: the kernel spreads them over both workers.
        for i in 0..8 {
            let r = env.get(&target);
            assert_eq!(
                hit(&r, &format!("{key}: connection {i}")),
                n,
                "{key}: a miss on one core fills the cache of every core"
            );
            assert_eq!(r.body, first.body);
        }
        assert_eq!(env.up.count_path(&format!("/{key}")), 1, "{key}");
    }
    assert_eq!(env.up.count(), 3);
}

// ------------------------------------------------------------------ TTL

#[test]
fn entries_expire_after_their_ttl() {
    // prod: stage TTL 1s; POST /search keeps 60s; GET /shared/{id} has TTL 0 (not cached).
    // beta: stage TTL 300s; the ANY route 1s by method_settings; GET /shared/{id} 300s.
    let yaml = with_method_settings(
        &edit(BASE, "ttl: 300s", "ttl: 1s"),
        "            - {route: \"GET /shared/{id}\", enabled: true, ttl: 0s}\n",
    );
    let yaml = format!(
        "{yaml}      - name: beta
        cache:
          enabled: true
          cluster_size: 0.5
          ttl: 300s
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
          method_settings:
            - {{route: \"ANY /items/{{proxy+}}\", enabled: true, ttl: 1s}}
"
    );
    let env = Env::start(&yaml);
    let t1 = miss(&env.get("/prod/items/t1"), "prod: stage ttl 1s");
    assert_eq!(hit(&env.get("/prod/items/t1"), "prod: at once"), t1);
    let s = miss(
        &env.send("POST", "/prod/search", &[], b"q"),
        "prod: ttl 60s",
    );
    assert_eq!(
        hit(
            &env.send("POST", "/prod/search", &[], b"q"),
            "prod: at once"
        ),
        s
    );
    let z1 = env.get("/prod/shared/z");
    let z2 = env.get("/prod/shared/z");
    for r in [&z1, &z2] {
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_ne!(
            x_cache(r),
            Some("Hit"),
            "ttl 0 is not cached: {}",
            r.describe()
        );
    }
    assert_eq!(env.up.count_path("/shared/z"), 2, "ttl 0 is not cached");
    let t2 = miss(&env.get("/beta/items/t2"), "beta: method ttl 1s");
    assert_eq!(hit(&env.get("/beta/items/t2"), "beta: at once"), t2);
    let b = miss(&env.get("/beta/shared/b"), "beta: stage ttl 300s");

    std::thread::sleep(Duration::from_millis(1500));

    let t1b = miss(&env.get("/prod/items/t1"), "prod: after 1.5 s");
    assert_ne!(t1b, t1);
    assert_eq!(hit(&env.get("/prod/items/t1"), "prod: refilled"), t1b);
    let t2b = miss(&env.get("/beta/items/t2"), "beta: after 1.5 s");
    assert_ne!(t2b, t2);
    assert_eq!(
        hit(
            &env.send("POST", "/prod/search", &[], b"q"),
            "prod: ttl 60s, after 1.5 s"
        ),
        s
    );
    assert_eq!(
        hit(&env.get("/beta/shared/b"), "beta: ttl 300s, after 1.5 s"),
        b
    );
}

// ------------------------------------------------------------------ canary

/// Deployments v1 and v2 answer from different upstream paths (`/v1/...`, `/v2/...`), both
/// including the stage variable `k` (`stable` on the stage, `canary` in the canary's
/// overrides). `GET /c/{id}` is cached by `id`; `GET /n/{id}` is disabled by method_settings.
fn canary_config(stages: &str) -> String {
    let route = |dep: &str| {
        format!(
            "          - route: GET /c/{{id}}
            integration: {{type: HTTP_PROXY, uri: \"http://UPSTREAM/{dep}/${{stageVariables.k}}/{{id}}\"}}
            cache_key_parameters: [method.request.path.id]
          - route: GET /n/{{id}}
            integration: {{type: HTTP_PROXY, uri: \"http://UPSTREAM/{dep}/${{stageVariables.k}}/{{id}}\"}}
"
        )
    };
    format!(
        "admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    type: REST
    deployments:
      - id: v1
        routes:
{v1}      - id: v2
        routes:
{v2}    stages:
{stages}",
        v1 = route("v1"),
        v2 = route("v2"),
    )
}

/// A stage serving v1 with a canary on v2.
fn canary_stage(name: &str, percent: u32, use_stage_cache: bool) -> String {
    format!(
        "      - name: {name}
        deployment: v1
        variables: {{k: stable}}
        cache:
          enabled: true
          cluster_size: 0.5
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
          method_settings:
            - {{route: \"GET /n/{{id}}\", enabled: false}}
        canary: {{deployment: v2, percent_traffic: {percent}, stage_variable_overrides: {{k: canary}}, use_stage_cache: {use_stage_cache}}}
"
    )
}

#[test]
fn canary_requests_bypass_the_stage_cache_by_default() {
    let stages = format!(
        "{}{}",
        canary_stage("prod", 100, false),
        canary_stage("zero", 0, false)
    );
    let env = Env::start(&canary_config(&stages));
    let mut serials = Vec::new();
    for i in 0..3 {
        let r = env.get("/prod/c/1");
        let n = uncached(&r, &format!("canary request {i}"));
        assert_eq!(
            jstr(&r.json(), "path"),
            "/v2/canary/1",
            "percent_traffic 100: served by v2 with the overrides"
        );
        serials.push(n);
    }
    serials.dedup();
    assert_eq!(serials.len(), 3, "every canary request went upstream");
    assert_eq!(env.up.count_path("/v2/canary/1"), 3);

    // percent_traffic 0: every request is served by the stage's own deployment, cached.
    let first = env.get("/zero/c/1");
    let n = miss(&first, "percent_traffic 0: first");
    assert_eq!(jstr(&first.json(), "path"), "/v1/stable/1");
    assert_eq!(hit(&env.get("/zero/c/1"), "percent_traffic 0: second"), n);
    assert_eq!(env.up.count_path("/v1/stable/1"), 1);
    assert_eq!(env.up.count_path("/v2/canary/1"), 3);
}

#[test]
fn canary_with_use_stage_cache_uses_the_stage_cache() {
    let env = Env::start(&canary_config(&canary_stage("prod", 100, true)));
    let first = env.get("/prod/c/1");
    let n = miss(&first, "canary, first");
    assert_eq!(jstr(&first.json(), "path"), "/v2/canary/1");
    let second = env.get("/prod/c/1");
    assert_eq!(hit(&second, "canary, second"), n);
    assert_eq!(second.body, first.body);
    assert_eq!(env.up.count(), 1);
    // Another key is another entry.
    let other = miss(&env.get("/prod/c/2"), "canary, another id");
    assert_ne!(other, n);
    assert_eq!(env.up.count_path("/v2/canary/2"), 1);
}

#[test]
fn canary_percent_traffic_splits_requests() {
    let env = Env::start(&canary_config(&canary_stage("prod", 50, false)));
    let total = 200;
    let (mut v1, mut v2) = (0, 0);
    for i in 0..total {
        // A fresh connection per request: the split must not depend on connections.
        let r = env.get(&format!("/prod/n/{i}"));
        assert_eq!(r.status, 200, "request {i}: {}", r.describe());
        let path = jstr(&r.json(), "path").to_string();
        if path == format!("/v1/stable/{i}") {
            v1 += 1;
        } else if path == format!("/v2/canary/{i}") {
            v2 += 1;
        } else {
            panic!("request {i} reached an unexpected upstream path {path:?}");
        }
    }
    assert_eq!(v1 + v2, total);
    assert!(
        v1 >= 40 && v2 >= 40,
        "percent_traffic 50 over {total} requests: {v1} to v1, {v2} to the canary v2"
    );
    assert_eq!(env.up.count(), total, "a disabled route is never cached");
}

// ------------------------------------------------------------------ configuration errors

/// `tollgate check` on `yaml` (written to a temporary file): (exit code, stdout, stderr).
fn check(name: &str, yaml: &str) -> (i32, String, String) {
    let file = write_temp(name, yaml);
    let (code, out, err) = cli(&["check", &file.display()]);
    (code, out, err)
}

#[track_caller]
fn check_ok(name: &str, yaml: &str) {
    let (code, out, err) = check(name, yaml);
    assert_eq!(
        code, 0,
        "{name}: expected a valid configuration; stdout {out:?} stderr:\n{err}\n{yaml}"
    );
}

#[track_caller]
fn check_fails_at(name: &str, yaml: &str, key: &str) {
    let (code, out, err) = check(name, yaml);
    assert_ne!(
        code, 0,
        "{name}: expected `tollgate check` to refuse it; stdout {out:?} stderr:\n{err}"
    );
    assert!(
        err.contains(key),
        "{name}: the error should name {key:?}; stderr:\n{err}"
    );
}

#[test]
fn check_reports_cache_configuration_errors_by_key() {
    let base = BASE.replace("UPSTREAM", "127.0.0.1:9");
    check_ok("cache-valid.yaml", &base);
    check_ok("cache-ttl-0.yaml", &edit(&base, "ttl: 300s", "ttl: 0s"));
    check_ok(
        "cache-ttl-3600.yaml",
        &edit(&base, "ttl: 300s", "ttl: 3600s"),
    );

    check_fails_at(
        "cache-ttl.yaml",
        &edit(&base, "ttl: 300s", "ttl: 3601s"),
        "apis[0].stages[0].cache.ttl",
    );
    check_fails_at(
        "cache-size.yaml",
        &edit(&base, "cluster_size: 0.5", "cluster_size: 0"),
        "apis[0].stages[0].cache.cluster_size",
    );
    check_fails_at(
        "cache-keyparam.yaml",
        &edit(
            &base,
            "uri: \"http://127.0.0.1:9/shared/{id}\"}\n",
            "uri: \"http://127.0.0.1:9/shared/{id}\"}\n        cache_key_parameters: [method.request.path.nope]\n",
        ),
        "apis[0].routes[1].cache_key_parameters",
    );
    check_fails_at(
        "cache-strategy.yaml",
        &edit(
            &base,
            "unauthorized_cache_control_header_strategy: SUCCEED_WITH_RESPONSE_HEADER",
            "unauthorized_cache_control_header_strategy: FAIL_WITH_404",
        ),
        "apis[0].stages[0].cache.unauthorized_cache_control_header_strategy",
    );
    check_fails_at(
        "cache-method-route.yaml",
        &edit(&base, "{route: \"POST /search\"", "{route: \"POST /nope\""),
        "apis[0].stages[0].cache.method_settings[0]",
    );
    check_fails_at(
        "cache-invalidation-key.yaml",
        &edit(
            &base,
            "invalidation_api_keys: [ops]",
            "invalidation_api_keys: [ops, ghost]",
        ),
        "apis[0].stages[0].cache.invalidation_api_keys",
    );

    let http_api = "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: h
apis:
  - id: h
    type: HTTP
    routes:
      - route: GET /x
        integration: {type: HTTP_PROXY, uri: \"http://127.0.0.1:9/x\"}
    stages:
      - name: prod
";
    check_ok("http-api.yaml", http_api);
    check_fails_at(
        "cache-http-api.yaml",
        &format!("{http_api}        cache: {{enabled: true, cluster_size: 0.5}}\n"),
        "apis[0].stages[0].cache",
    );
}
