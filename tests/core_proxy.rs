//! HTTP_PROXY integration: bodies both ways, query strings, forwarded and hop-by-hop
//! headers, upstream failures (502/504) and `Expect: 100-continue`.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn proxy_config(up: &DemoUpstream, dead: u16) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: p
apis:
  - id: p
    routes:
      - route: ANY /echo/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/{{proxy}}
      - route: ANY /slow/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/{{proxy}}
          timeout: 200ms
      - route: ANY /dead/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{dead}/{{proxy}}
      - route: GET /fixedq/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/fixed/{{proxy}}?from=uri
      - route: GET /mock
        integration:
          type: MOCK
          body: mocked
    stages:
      - name: prod
",
        up = up.addr()
    )
}

fn start() -> (DemoUpstream, Gateway) {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&proxy_config(&up, dead_port()));
    (up, gw)
}

#[test]
fn content_length_body_over_1mib_arrives_intact() {
    let (_up, gw) = start();
    let body = pattern_bytes(1_500_000, 7);
    let mut c = gw.client();
    let r = c.request(&req(
        "POST",
        "/prod/echo/upload",
        &[("Content-Type", "application/octet-stream")],
        &body,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(echo["body_length"].as_u64(), Some(body.len() as u64));
    assert_eq!(jstr(&echo, "body_sha256"), sha256_hex(&body));
    assert_eq!(jstr(&echo, "path"), "/upload");
    assert_eq!(
        echoed_header(&echo, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(echoed_header(&echo, "transfer-encoding"), None);
    // The connection is still good for another request.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn chunked_body_over_1mib_arrives_intact() {
    let (_up, gw) = start();
    let body = pattern_bytes(1_300_000, 11);
    let encoded = chunked(&body, &[1, 7, 65536, 4096, 100_000, 13, 8192]);
    let mut c = gw.client();
    let mut request = req(
        "POST",
        "/prod/echo/chunked",
        &[("Transfer-Encoding", "chunked")],
        b"",
    );
    request.extend_from_slice(&encoded);
    let r = c.request(&request);
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(echo["body_length"].as_u64(), Some(body.len() as u64));
    assert_eq!(jstr(&echo, "body_sha256"), sha256_hex(&body));
    assert_eq!(echoed_header(&echo, "content-length"), None);
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn raw_echo_returns_the_request_body() {
    let (_up, gw) = start();
    let body = pattern_bytes(300_000, 5);
    let r = gw.send(&req("PUT", "/prod/echo/raw", &[("x-echo-raw", "1")], &body));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(
        r.body == body,
        "raw echo body differs ({} bytes back)",
        r.body.len()
    );
}

#[test]
fn two_mib_content_length_response_arrives_intact() {
    let (_up, gw) = start();
    let n = 2 * 1024 * 1024;
    let mut c = gw.client();
    let r = c.request(&req(
        "GET",
        "/prod/echo/big",
        &[("x-echo-size", &n.to_string())],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(!r.chunked);
    assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
    assert_eq!(r.body.len(), n);
    assert!(r.body == echo_size_body(n), "2 MiB body differs");
    r.assert_request_id();
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn two_mib_chunked_response_arrives_intact() {
    let (_up, gw) = start();
    let n = 2 * 1024 * 1024 + 17;
    let mut c = gw.client();
    let r = c.request(&req(
        "GET",
        "/prod/echo/bigchunked",
        &[("x-echo-size", &n.to_string()), ("x-echo-chunked", "1")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.chunked, "expected a chunked response: {}", r.describe());
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body.len(), n);
    assert!(r.body == echo_size_body(n), "chunked 2 MiB body differs");
    r.assert_request_id();
    // Framing stayed intact: the next response on the connection parses.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

/// The gateway's threads (names from /proc) and whether it drives an io_uring.
fn threads_and_uring(pid: i32) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task") {
        let path = t.expect("task entry").path().join("comm");
        if let Ok(name) = std::fs::read_to_string(path) {
            names.push(name.trim().to_string());
        }
    }
    let uring = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.to_string_lossy() == "anon_inode:[io_uring]");
    (names, uring)
}

/// Large bodies are spliced on the worker's own thread: no io_uring splice, which the kernel
/// always hands to an `iou-wrk` worker thread.
#[test]
fn large_bodies_move_without_kernel_worker_threads() {
    let (_up, gw) = start();
    let mut c = gw.client();
    let body = pattern_bytes(1_500_000, 9);
    let r = c.request(&req("POST", "/prod/echo/up", &[], &body));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(jstr(&r.json(), "body_sha256"), sha256_hex(&body));
    let n = 2 * 1024 * 1024;
    let r = c.request(&req(
        "GET",
        "/prod/echo/big",
        &[("x-echo-size", &n.to_string())],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body == echo_size_body(n), "2 MiB body differs");
    let (threads, uring) = threads_and_uring(gw.proc.pid());
    assert!(
        uring,
        "the gateway runs without io_uring here, so this test checks nothing; threads: {threads:?}"
    );
    assert!(
        !threads.iter().any(|t| t.starts_with("iou-wrk")),
        "kernel worker threads ran for the bodies: {threads:?}"
    );
}

#[test]
fn chunked_upstream_response_to_http10_client_is_delimited() {
    let (_up, gw) = start();
    let n = 100_000;
    let request = format!(
        "GET /prod/echo/c10 HTTP/1.0\r\nHost: gateway.test\r\nx-echo-size: {n}\r\nx-echo-chunked: 1\r\n\r\n"
    )
    .into_bytes();
    let out = raw_exchange(gw.port, &request, Duration::from_secs(5));
    let r = out.response();
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(out.closed, "HTTP/1.0 connection not closed");
    assert!(
        !r.chunked,
        "chunked sent to an HTTP/1.0 client: {}",
        r.describe()
    );
    assert_eq!(r.body.len(), n);
    assert!(r.body == echo_size_body(n));
}

#[test]
fn query_string_passes_through() {
    let (_up, gw) = start();
    let r = gw.send(&get("/prod/echo/search?q=a%20b&x=1&x=2&empty="));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/search");
    assert_eq!(jstr(&echo, "query"), "q=a%20b&x=1&x=2&empty=");
    // Percent-encoded path parameters stay as received.
    let r = gw.send(&get("/prod/echo/a%2Fb/c%20d"));
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/a%2Fb/c%20d");
    assert_eq!(jstr(&echo, "query"), "");
}

#[test]
fn forwarded_headers_are_added() {
    let (_up, gw) = start();
    let r = gw.send(&get("/prod/echo/fwd"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(echoed_header(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), Some("http"));
    let port = gw.port.to_string();
    assert_eq!(
        echoed_header(&echo, "x-forwarded-port"),
        Some(port.as_str())
    );

    // A client's X-Forwarded-For is appended to; its -Proto/-Port are replaced.
    let r = gw.send(&req(
        "GET",
        "/prod/echo/fwd",
        &[
            ("X-Forwarded-For", "10.1.2.3"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Port", "1"),
        ],
        b"",
    ));
    let echo = r.json();
    assert_eq!(
        echoed_header(&echo, "x-forwarded-for"),
        Some("10.1.2.3, 127.0.0.1")
    );
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        echoed_header(&echo, "x-forwarded-port"),
        Some(port.as_str())
    );
}

#[test]
fn hop_by_hop_headers_are_not_forwarded() {
    let (up, gw) = start();
    let r = gw.send(&req(
        "GET",
        "/prod/echo/hop",
        &[
            ("Connection", "x-custom, keep-alive"),
            ("X-Custom", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("Upgrade", "h2c"),
            ("X-Keep", "kept"),
            ("Authorization", "Bearer abc"),
        ],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    for dropped in [
        "x-custom",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(
            echoed_header(&echo, dropped),
            None,
            "hop-by-hop header {dropped} was forwarded; upstream saw {}",
            echo["headers"]
        );
    }
    if let Some(conn) = echoed_header(&echo, "connection") {
        assert!(
            !conn.to_ascii_lowercase().contains("x-custom"),
            "Connection tokens forwarded: {conn}"
        );
    }
    assert_eq!(echoed_header(&echo, "x-keep"), Some("kept"));
    assert_eq!(echoed_header(&echo, "authorization"), Some("Bearer abc"));
    assert_eq!(echoed_header(&echo, "host"), Some(up.addr().as_str()));
}

#[test]
fn upstream_status_and_headers_pass_through_with_a_request_id() {
    let (_up, gw) = start();
    let r = gw.send(&req(
        "GET",
        "/prod/echo/st",
        &[("x-echo-status", "404")],
        b"",
    ));
    assert_eq!(r.status, 404, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("server"), Some("tollgate-demo-upstream"));
    assert_eq!(r.header("x-amzn-ErrorType"), None, "{}", r.describe());
    assert_eq!(jstr(&r.json(), "path"), "/st");
    r.assert_request_id();
    let r = gw.send(&req(
        "POST",
        "/prod/echo/st",
        &[("x-echo-status", "201")],
        b"{}",
    ));
    assert_eq!(r.status, 201, "{}", r.describe());
    r.assert_request_id();
}

#[test]
fn upstream_204_and_304_pass_through_without_a_body() {
    let (_up, gw) = start();
    let mut c = gw.client();
    for status in ["204", "304"] {
        let r = c.request(&req(
            "GET",
            "/prod/echo/nb",
            &[("x-echo-status", status)],
            b"",
        ));
        assert_eq!(r.status.to_string(), status, "{}", r.describe());
        assert!(r.body.is_empty());
        r.assert_request_id();
    }
    // The connection is still in step.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn head_request_through_the_proxy_has_no_body() {
    let (_up, gw) = start();
    let mut c = gw.client();
    c.send(&req("HEAD", "/prod/echo/h", &[], b""));
    let r = c.read_head_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    r.assert_request_id();
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

// ------------------------------------------------------------------ 502 / 504

#[test]
fn integration_timeout_is_504() {
    let (_up, gw) = start();
    let mut c = gw.client();
    let t0 = Instant::now();
    let r = c.request(&req(
        "GET",
        "/prod/slow/x",
        &[("x-echo-delay-ms", "2000")],
        b"",
    ));
    let took = t0.elapsed();
    r.assert_gateway_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_millis(1200),
        "504 after {took:?}, expected about 200 ms"
    );
    // The client connection is still usable.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
    // Within the timeout the same route answers normally.
    let r = c.request(&req(
        "GET",
        "/prod/slow/y",
        &[("x-echo-delay-ms", "20")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(jstr(&r.json(), "path"), "/y");
}

#[test]
fn refused_upstream_is_502() {
    let (_up, gw) = start();
    let mut c = gw.client();
    let t0 = Instant::now();
    let r = c.request(&get("/prod/dead/x"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "502 took {:?}",
        t0.elapsed()
    );
    // With a body too.
    let r = c.request(&req("POST", "/prod/dead/y", &[], b"payload"));
    assert_eq!(r.status, 502, "{}", r.describe());
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

// ------------------------------------------------------------------ Expect: 100-continue

#[test]
fn expect_100_continue_then_body() {
    let (_up, gw) = start();
    let mut c = gw.client();
    let body = b"hello world";
    c.send(&req(
        "POST",
        "/prod/echo/expect",
        &[("Content-Length", "11"), ("Expect", "100-continue")],
        b"",
    ));
    let interim = c.read_response();
    assert_eq!(interim.status, 100, "{}", interim.describe());
    assert_eq!(interim.reason, "Continue");
    c.send(body);
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "body"), "hello world");
    assert_eq!(echo["body_length"].as_u64(), Some(11));
    assert_eq!(
        echoed_header(&echo, "expect"),
        None,
        "Expect forwarded upstream"
    );
    // The connection continues.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn expect_100_continue_with_chunked_body() {
    let (_up, gw) = start();
    let mut c = gw.client();
    c.send(&req(
        "PUT",
        "/prod/echo/expect",
        &[("Transfer-Encoding", "chunked"), ("Expect", "100-Continue")],
        b"",
    ));
    let interim = c.read_response();
    assert_eq!(interim.status, 100, "{}", interim.describe());
    let body = pattern_bytes(200_000, 9);
    c.send(&chunked(&body, &[30_000]));
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(echo["body_length"].as_u64(), Some(body.len() as u64));
    assert_eq!(jstr(&echo, "body_sha256"), sha256_hex(&body));
}

#[test]
fn expect_100_continue_on_unknown_route_gets_the_error_not_continue() {
    let (_up, gw) = start();
    let mut c = gw.client();
    c.send(&req(
        "POST",
        "/prod/nope",
        &[("Content-Length", "1000"), ("Expect", "100-continue")],
        b"",
    ));
    let r = c.read_response();
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
}

#[test]
fn integration_uri_query_is_combined_with_the_client_query() {
    let (_up, gw) = start();
    let r = gw.send(&get("/prod/fixedq/p?client=1"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/fixed/p");
    assert_eq!(jstr(&echo, "query"), "from=uri&client=1");
    let r = gw.send(&get("/prod/fixedq/p"));
    let echo = r.json();
    assert_eq!(jstr(&echo, "query"), "from=uri");
}

#[test]
fn several_x_forwarded_for_lines_are_all_kept() {
    let (_up, gw) = start();
    let r = gw.send(&req(
        "GET",
        "/prod/echo/xff",
        &[
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2"),
        ],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(
        echoed_header(&echo, "x-forwarded-for"),
        Some("10.0.0.1, 10.0.0.2, 127.0.0.1"),
        "upstream saw headers {}",
        echo["headers"]
    );
}

#[test]
fn large_head_within_the_limit_is_forwarded() {
    let (_up, gw) = start();
    let big = "b".repeat(9 * 1024);
    let r = gw.send(&req("GET", "/prod/echo/bighead", &[("X-Big", &big)], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(echoed_header(&r.json(), "x-big"), Some(big.as_str()));
}

#[test]
fn absolute_form_target_selects_by_its_authority() {
    let (_up, gw) = start();
    let r = gw.send(&req(
        "GET",
        "http://p.execute-api.localhost/prod/echo/abs?q=1",
        &[("Host", "ignored.example")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/abs");
    assert_eq!(jstr(&echo, "query"), "q=1");
    let r = gw.send(&req(
        "GET",
        "http://nosuch.execute-api.localhost/prod/mock",
        &[("Host", "p.execute-api.localhost")],
        b"",
    ));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
}

/// `{proxy+}` is substituted raw, so a `..` segment would let an upstream that resolves
/// dot segments serve paths outside the integration's base path. The gateway refuses them.
#[test]
fn dot_segments_cannot_escape_the_integration_base_path() {
    // Decision (docs/BEHAVIOUR.md): a `.` or `..` segment, literal or percent-encoded, is
    // refused with 400 before routing, so nothing reaches the upstream.
    let (_up, gw) = start();
    for target in [
        "/prod/fixedq/../secret",
        "/prod/fixedq/a/../../secret",
        "/prod/fixedq/%2e%2e/secret",
        "/prod/fixedq/./x",
    ] {
        let r = gw.send(&get(target));
        assert_eq!(r.status, 400, "{target}: {}", r.describe());
    }
    // Dots inside names are ordinary characters.
    let r = gw.send(&get("/prod/fixedq/a.b/...x"));
    assert_eq!(r.status, 200, "{}", r.describe());
}
