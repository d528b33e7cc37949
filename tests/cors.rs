//! CORS (`apis[i].cors`, API Gateway HTTP APIs' `corsConfiguration`) against the real
//! binary on loopback.
//!
//! What is checked (docs/BEHAVIOUR.md "CORS"):
//! - preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered
//!   204 by the gateway without calling the integration (a counting upstream sees nothing),
//!   whatever the routes (no route, an `OPTIONS` route, an API-key route), with the CORS
//!   headers when the origin, method and headers are allowed and without them when not;
//!   listed origins echoed, `*` answered `*`, credentials, max-age, keep-alive;
//! - actual responses: the integration's 200 with the gateway's CORS headers in place of
//!   the integration's own; a 403 (missing API key, no route) and a 429 (stage throttle)
//!   carry them too; so does a cache hit, also of an entry stored before the API had CORS
//!   (whose stored Access-Control-* headers are not replayed);
//! - an API without `cors:` is unchanged: its `OPTIONS` MOCK route answers preflights and
//!   the integration's CORS headers pass untouched.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

// ------------------------------------------------------------------ a backend with CORS

/// A keep-alive upstream that counts the requests it answers, each with a 200 carrying its
/// own CORS headers (which the gateway must drop on APIs with CORS) and `x-id: 42`.
struct Backend {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

const BACKEND_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
access-control-allow-origin: https://evil.example\r\n\
Access-Control-Allow-Credentials: true\r\n\
access-control-expose-headers: x-secret\r\n\
x-id: 42\r\ncontent-length: 7\r\n\r\nbackend";

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let (r, s) = (r.clone(), s.clone());
                        conns.push(std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
                            let mut seen = Vec::new();
                            let mut chunk = [0u8; 8192];
                            while !s.load(Ordering::SeqCst) {
                                match stream.read(&mut chunk) {
                                    Ok(0) => return,
                                    Ok(n) => seen.extend_from_slice(&chunk[..n]),
                                    Err(e)
                                        if e.kind() == std::io::ErrorKind::WouldBlock
                                            || e.kind() == std::io::ErrorKind::TimedOut =>
                                    {
                                        continue
                                    }
                                    Err(_) => return,
                                }
                                // Requests without bodies: one head, one answer.
                                while let Some(end) = find_subslice(&seen, b"\r\n\r\n") {
                                    seen.drain(..end + 4);
                                    r.fetch_add(1, Ordering::SeqCst);
                                    if stream.write_all(BACKEND_REPLY).is_err() {
                                        return;
                                    }
                                }
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Backend {
            port,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

// ------------------------------------------------------------------ configuration

/// Three APIs: `web` (HTTP API, listed origins with credentials), `rest` (REST API, `*`
/// everything; a throttled stage and a cached stage), `plain` (REST API without `cors:`,
/// REST-style OPTIONS MOCK route).
fn config(backend: u16) -> String {
    format!(
        r#"
server:
  account_throttle: {{rate: 100000, burst: 100000}}
listeners:
  - {{name: main, bind: 127.0.0.1:0, default_api: web}}
apis:
  - id: web
    type: HTTP
    cors:
      allow_origins: ['https://app.example', 'HTTP://LOCALHOST:3000', 'https://secure.example:443']
      allow_methods: [GET, PUT, DELETE]
      allow_headers: [Content-Type, X-Api-Key]
      expose_headers: [x-id]
      max_age: 600
      allow_credentials: true
    routes:
      - route: GET /items
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{backend}/items'}}
      - route: OPTIONS /items
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{backend}/items'}}
    stages: [{{name: $default}}]
  - id: rest
    type: REST
    cors:
      allow_origins: ['*']
      allow_methods: ['*']
      allow_headers: ['*']
    routes:
      - route: GET /keyed
        api_key_required: true
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{backend}/keyed'}}
      - route: GET /items
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{backend}/items'}}
    stages:
      - {{name: prod}}
      - {{name: tight, throttle: {{rate: 1, burst: 1}}}}
      - name: cached
        cache:
          enabled: true
          cluster_size: 0.5
          ttl: 300s
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
  - id: plain
    type: REST
    routes:
      - route: OPTIONS /items
        integration:
          type: MOCK
          status: 200
          headers: {{access-control-allow-origin: 'https://mine.example', access-control-allow-methods: 'GET,PATCH'}}
      - route: GET /items
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{backend}/items'}}
    stages: [{{name: prod}}]
"#
    )
}

const REST_HOST: &str = "rest.execute-api.localhost";
const PLAIN_HOST: &str = "plain.execute-api.localhost";

fn preflight(
    target: &str,
    host: Option<&str>,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> Vec<u8> {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if let Some(host) = host {
        h.push(("Host", host));
    }
    if let Some(list) = headers {
        h.push(("Access-Control-Request-Headers", list));
    }
    req("OPTIONS", target, &h, b"")
}

/// The response's CORS headers (and Vary), names lowercased, in order.
fn cors_headers(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n.starts_with("access-control-") || n == "vary")
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn assert_no_body_204(r: &Response) {
    assert_eq!(r.status, 204, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    assert_eq!(r.header("content-length"), None, "{}", r.describe());
    r.assert_request_id();
}

// ------------------------------------------------------------------ tests

#[test]
fn preflights_are_answered_without_the_upstream() {
    let backend = Backend::start();
    let gw = Gateway::start(&config(backend.port));
    let mut c = gw.client();

    // Allowed: the listed origin echoed, credentials, the configured lists, max-age.
    let r = c.request(&preflight(
        "/items",
        None,
        "https://app.example",
        "PUT",
        Some("content-type, x-api-key"),
    ));
    assert_no_body_204(&r);
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "https://app.example"),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET,PUT,DELETE"),
            ("access-control-allow-headers", "content-type,x-api-key"),
            ("access-control-max-age", "600"),
            ("vary", "Origin"),
        ]),
        "{}",
        r.describe()
    );
    assert!(!r.says_close());

    // The other listed origins, normalised at load (case, default port).
    for origin in ["http://localhost:3000", "https://secure.example"] {
        let r = c.request(&preflight("/items", None, origin, "GET", None));
        assert_no_body_204(&r);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    }
    // A safelisted method passes whatever the list; the requested headers are checked
    // case-insensitively.
    let r = c.request(&preflight(
        "/items",
        None,
        "https://app.example",
        "POST",
        Some("X-API-KEY"),
    ));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    // Refused: an unlisted origin (also one differing only by port or scheme), method or
    // header. 204, no CORS headers but Vary.
    for (origin, method, headers) in [
        ("https://evil.example", "GET", None),
        ("https://app.example:8443", "GET", None),
        ("http://app.example", "GET", None),
        ("https://app.example", "PATCH", None),
        (
            "https://app.example",
            "PUT",
            Some("content-type, authorization"),
        ),
    ] {
        let r = c.request(&preflight("/items", None, origin, method, headers));
        assert_no_body_204(&r);
        assert_eq!(
            cors_headers(&r),
            pairs(&[("vary", "Origin")]),
            "{origin} {method} {headers:?}: {}",
            r.describe()
        );
    }

    // Whatever the routes: a path with no route at all, and the API-key route of the REST
    // API (no key needed; `*` everywhere: origin `*`, method and headers echoed, no Vary).
    let r = c.request(&preflight(
        "/nowhere/at/all",
        None,
        "https://app.example",
        "DELETE",
        None,
    ));
    assert_no_body_204(&r);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = c.request(&preflight(
        "/prod/keyed",
        Some(REST_HOST),
        "https://anyone.example",
        "PURGE",
        Some("Authorization, X-Custom"),
    ));
    assert_no_body_204(&r);
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "*"),
            ("access-control-allow-methods", "PURGE"),
            ("access-control-allow-headers", "Authorization, X-Custom"),
        ]),
        "{}",
        r.describe()
    );
    assert_eq!(backend.requests(), 0, "a preflight reached the integration");

    // An OPTIONS that is no preflight (no Access-Control-Request-Method) goes to the
    // OPTIONS route, and gets the gateway's CORS headers instead of the backend's.
    let r = c.request(&req(
        "OPTIONS",
        "/items",
        &[("Origin", "https://app.example")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), "backend");
    assert_eq!(backend.requests(), 1);
    assert_eq!(
        r.header_count("access-control-allow-origin"),
        1,
        "{}",
        r.describe()
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn actual_responses_carry_the_gateways_headers_not_the_backends() {
    let backend = Backend::start();
    let gw = Gateway::start(&config(backend.port));
    let mut c = gw.client();

    let r = c.request(&req(
        "GET",
        "/items",
        &[("Origin", "https://app.example")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), "backend");
    assert_eq!(r.header("x-id"), Some("42"), "other backend headers pass");
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "https://app.example"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-id"),
            ("vary", "Origin"),
        ]),
        "{}",
        r.describe()
    );

    // An origin not allowed, and no origin: nothing but Vary (none of the backend's).
    for headers in [&[("Origin", "https://evil.example")][..], &[][..]] {
        let r = c.request(&req("GET", "/items", headers, b""));
        assert_eq!(r.status, 200);
        assert_eq!(
            cors_headers(&r),
            pairs(&[("vary", "Origin")]),
            "{}",
            r.describe()
        );
    }

    // `*`: any origin answered `*`, no Vary, no credentials.
    let r = c.request(&req(
        "GET",
        "/prod/items",
        &[("Host", REST_HOST), ("Origin", "https://anyone.example")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        cors_headers(&r),
        pairs(&[("access-control-allow-origin", "*")]),
        "{}",
        r.describe()
    );
    assert_eq!(backend.requests(), 4);
}

#[test]
fn gateway_errors_carry_the_headers() {
    let backend = Backend::start();
    let gw = Gateway::start(&config(backend.port));
    let mut c = gw.client();
    let origin = [("Host", REST_HOST), ("Origin", "https://anyone.example")];

    // 403: missing API key.
    let r = c.request(&req("GET", "/prod/keyed", &origin, b""));
    r.assert_gateway_error(403, "Forbidden", "ForbiddenException");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "{}",
        r.describe()
    );

    // 403: a REST route that does not exist.
    let r = c.request(&req("GET", "/prod/missing", &origin, b""));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "{}",
        r.describe()
    );

    // 404 of the HTTP API (no route), listed origin with credentials.
    let r = c.request(&req(
        "GET",
        "/missing",
        &[("Origin", "https://app.example")],
        b"",
    ));
    r.assert_gateway_error(404, "Not Found", "NotFoundException");
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "https://app.example"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-id"),
            ("vary", "Origin"),
        ])
    );

    // 429: the stage throttle (rate 1, burst 1) lets one through, then refuses.
    let mut statuses = Vec::new();
    let mut throttled = None;
    for _ in 0..5 {
        let r = c.request(&req("GET", "/tight/items", &origin, b""));
        statuses.push(r.status);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{}",
            r.describe()
        );
        if r.status == 429 {
            throttled = Some(r);
            break;
        }
    }
    let r = throttled.unwrap_or_else(|| panic!("never throttled: {statuses:?}"));
    r.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
    // Preflights are not throttled (answered before the throttle).
    let r = c.request(&preflight(
        "/tight/items",
        Some(REST_HOST),
        "https://a.example",
        "GET",
        None,
    ));
    assert_no_body_204(&r);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn cache_hits_carry_the_headers() {
    let backend = Backend::start();
    let gw = Gateway::start(&config(backend.port));
    let mut c = gw.client();
    let get = |origin: &str| {
        req(
            "GET",
            "/cached/items",
            &[("Host", REST_HOST), ("Origin", origin)],
            b"",
        )
    };
    let miss = c.request(&get("https://one.example"));
    assert_eq!(miss.header("x-cache"), Some("Miss"), "{}", miss.describe());
    let hit = c.request(&get("https://two.example"));
    assert_eq!(hit.header("x-cache"), Some("Hit"), "{}", hit.describe());
    assert_eq!(backend.requests(), 1);
    for r in [&miss, &hit] {
        assert_eq!(r.body_str(), "backend");
        assert_eq!(r.header("x-id"), Some("42"));
        assert_eq!(
            cors_headers(r),
            pairs(&[("access-control-allow-origin", "*")]),
            "{}",
            r.describe()
        );
    }
}

#[test]
fn a_cached_entry_from_before_cors_does_not_replay_the_backends_headers() {
    let backend = Backend::start();
    // The REST API's cached stage, first without `cors:`.
    let with_cors = config(backend.port);
    let without = with_cors.replacen(
        "    cors:\n      allow_origins: ['*']\n      allow_methods: ['*']\n      allow_headers: ['*']\n",
        "",
        1,
    );
    assert_ne!(
        without, with_cors,
        "test bug: the rest API's cors block not found"
    );
    let gw = Gateway::start(&without);
    let mut c = gw.client();
    let get = req(
        "GET",
        "/cached/items",
        &[("Host", REST_HOST), ("Origin", "https://one.example")],
        b"",
    );
    let r = c.request(&get);
    assert_eq!(r.header("x-cache"), Some("Miss"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://evil.example"),
        "without cors the backend's headers pass: {}",
        r.describe()
    );
    let r = c.request(&get);
    assert_eq!(r.header("x-cache"), Some("Hit"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://evil.example")
    );

    std::fs::write(gw.config.path(), &with_cors).expect("rewrite config");
    gw.proc.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.stderr().contains("reloaded configuration in force") {
        assert!(Instant::now() < deadline, "no reload:\n{}", gw.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = gw.client();
    let r = c.request(&get);
    assert_eq!(
        r.header("x-cache"),
        Some("Hit"),
        "the stage cache was kept: {}",
        r.describe()
    );
    assert_eq!(r.body_str(), "backend");
    assert_eq!(r.header("x-id"), Some("42"));
    assert_eq!(
        cors_headers(&r),
        pairs(&[("access-control-allow-origin", "*")]),
        "{}",
        r.describe()
    );
    assert!(!r.says_close());
    // The connection goes on.
    let r = c.request(&get);
    assert_eq!(r.header("x-cache"), Some("Hit"));
    assert_eq!(backend.requests(), 1);
}

#[test]
fn an_api_without_cors_is_unchanged() {
    let backend = Backend::start();
    let gw = Gateway::start(&config(backend.port));
    let mut c = gw.client();
    // The REST-style OPTIONS MOCK route answers the preflight, with its own headers.
    let r = c.request(&preflight(
        "/prod/items",
        Some(PLAIN_HOST),
        "https://app.example",
        "PATCH",
        None,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "https://mine.example"),
            ("access-control-allow-methods", "GET,PATCH"),
        ]),
        "{}",
        r.describe()
    );
    // The integration's CORS headers pass as they are; nothing is added.
    let r = c.request(&req(
        "GET",
        "/prod/items",
        &[("Host", PLAIN_HOST), ("Origin", "https://app.example")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        cors_headers(&r),
        pairs(&[
            ("access-control-allow-origin", "https://evil.example"),
            ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "x-secret"),
        ]),
        "{}",
        r.describe()
    );
    assert_eq!(backend.requests(), 1);
}
