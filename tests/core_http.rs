//! HTTP/1.1 handling: keep-alive, pipelining, RFC 9112 framing guards (400 + close, and
//! nothing reaches the upstream), and the client-side limits (431, 413, 408, idle close).

mod common;

use std::time::{Duration, Instant};

use common::*;

// ------------------------------------------------------------------ keep-alive, pipelining

fn ka_config(up: &DemoUpstream) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: k
apis:
  - id: k
    routes:
      - route: ANY /echo/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/{{proxy}}
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

#[test]
fn three_requests_on_one_connection() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let r1 = c.request(&get("/prod/mock"));
    assert_eq!((r1.status, r1.body_str().as_str()), (200, "mocked"));
    assert!(!r1.says_close(), "{}", r1.describe());
    let r2 = c.request(&req("POST", "/prod/echo/two", &[], b"second body"));
    assert_eq!(r2.status, 200, "{}", r2.describe());
    let e2 = r2.json();
    assert_eq!(jstr(&e2, "path"), "/two");
    assert_eq!(jstr(&e2, "body"), "second body");
    assert!(!r2.says_close(), "{}", r2.describe());
    let r3 = c.request(&get("/prod/echo/three?n=3"));
    assert_eq!(r3.status, 200, "{}", r3.describe());
    assert_eq!(jstr(&r3.json(), "query"), "n=3");
    assert!(!r3.says_close(), "{}", r3.describe());
    // Connection: close on the last one ends the connection after its response.
    let r4 = c.request(&req("GET", "/prod/mock", &[("Connection", "close")], b""));
    assert_eq!((r4.status, r4.body_str().as_str()), (200, "mocked"));
    assert!(r4.says_close(), "{}", r4.describe());
    c.assert_closed(Duration::from_secs(3));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let mut batch = Vec::new();
    batch.extend(get("/prod/mock"));
    batch.extend(req("POST", "/prod/echo/p2", &[], b"pipelined-2"));
    batch.extend(get("/prod/echo/p3?third=1"));
    batch.extend(get("/prod/nope"));
    batch.extend(req("GET", "/prod/mock", &[("Connection", "close")], b""));
    c.send(&batch);
    let r1 = c.read_response();
    assert_eq!((r1.status, r1.body_str().as_str()), (200, "mocked"));
    let r2 = c.read_response();
    assert_eq!(r2.status, 200, "{}", r2.describe());
    let e2 = r2.json();
    assert_eq!(jstr(&e2, "path"), "/p2");
    assert_eq!(jstr(&e2, "body"), "pipelined-2");
    let r3 = c.read_response();
    assert_eq!(r3.status, 200, "{}", r3.describe());
    let e3 = r3.json();
    assert_eq!(jstr(&e3, "path"), "/p3");
    assert_eq!(jstr(&e3, "query"), "third=1");
    let r4 = c.read_response();
    r4.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    let r5 = c.read_response();
    assert_eq!((r5.status, r5.body_str().as_str()), (200, "mocked"));
    c.assert_closed(Duration::from_secs(3));
}

#[test]
fn pipelined_mock_does_not_overtake_a_slow_proxy_request() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let mut batch = req("GET", "/prod/echo/slow", &[("x-echo-delay-ms", "300")], b"");
    batch.extend(get("/prod/mock"));
    batch.extend(req("GET", "/prod/echo/fast", &[], b""));
    c.send(&batch);
    let r1 = c.read_response();
    assert_eq!(r1.status, 200, "{}", r1.describe());
    assert_eq!(jstr(&r1.json(), "path"), "/slow");
    let r2 = c.read_response();
    assert_eq!((r2.status, r2.body_str().as_str()), (200, "mocked"));
    let r3 = c.read_response();
    assert_eq!(jstr(&r3.json(), "path"), "/fast");
}

#[test]
fn chunked_body_with_extensions_and_trailers_then_a_pipelined_request() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let mut batch = req(
        "POST",
        "/prod/echo/trailers",
        &[("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum")],
        b"",
    );
    batch.extend_from_slice(
        b"5;name=value\r\nhello\r\n1;x\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\n\r\n",
    );
    batch.extend(get("/prod/mock"));
    c.send(&batch);
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "body"), "hello world");
    assert_eq!(echo["body_length"].as_u64(), Some(11));
    assert_eq!(
        echoed_header(&echo, "trailer"),
        None,
        "Trailer is hop-by-hop"
    );
    let r = c.read_response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn pipelined_malformed_request_gets_400_after_the_good_response() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let mut batch = get("/prod/mock");
    batch.extend_from_slice(b"GET /prod/mock HTTP/1.1\r\nX-No-Host: 1\r\n\r\n");
    batch.extend(get("/prod/mock"));
    c.send(&batch);
    let r1 = c.read_response();
    assert_eq!((r1.status, r1.body_str().as_str()), (200, "mocked"));
    let r2 = c.read_response();
    r2.assert_gateway_error(400, "Bad Request", "BadRequestException");
    // Nothing after a framing error is served: the connection closes.
    c.assert_closed(Duration::from_secs(3));
}

#[test]
fn large_body_to_an_unknown_route_is_discarded_and_the_connection_kept() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let mut c = gw.client();
    let r = c.request(&req(
        "POST",
        "/prod/nope",
        &[],
        &pattern_bytes(1_100_000, 8),
    ));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn http10_closes_unless_keep_alive_is_asked_for() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&ka_config(&up));
    let out = raw_exchange(
        gw.port,
        b"GET /prod/mock HTTP/1.0\r\n\r\n",
        Duration::from_secs(3),
    );
    out.assert_status_and_closed(200);
    assert_eq!(out.response().body_str(), "mocked");

    let mut c = gw.client();
    let r = c.request(b"GET /prod/mock HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
    let r = c.request(b"GET /prod/echo/ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(jstr(&r.json(), "path"), "/ten");
}

// ------------------------------------------------------------------ framing guards

/// [`catch_all_proxy_config`] to `up` plus `ANY /sink`, a MOCK answering `sunk`.
fn guard_config(up: &CountingUpstream, limits: &str) -> String {
    catch_all_proxy_config(
        limits,
        up.port,
        "      - route: ANY /sink
        integration:
          type: MOCK
          body: sunk
",
    )
}

/// Send `request` raw; expect a 400 API Gateway error, the connection closed, and no
/// connection (not a byte) at the upstream.
#[track_caller]
fn assert_rejected_before_upstream(request: &[u8], status: u16, message: &str, error_type: &str) {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, ""));
    let out = raw_exchange(gw.port, request, Duration::from_secs(3));
    let shown = String::from_utf8_lossy(request).into_owned();
    let r = out.response.as_ref().unwrap_or_else(|| {
        panic!(
            "request {shown:?}: no complete response (closed: {}); got {:?}",
            out.closed,
            String::from_utf8_lossy(&out.raw)
        )
    });
    assert_eq!(r.status, status, "request {shown:?}: {}", r.describe());
    assert_eq!(
        r.body_str(),
        format!("{{\"message\":\"{message}\"}}"),
        "request {shown:?}"
    );
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some(error_type),
        "request {shown:?}"
    );
    r.assert_request_id();
    assert!(
        out.closed,
        "request {shown:?}: connection not closed after {}",
        r.describe()
    );
    assert!(
        out.trailing.is_empty(),
        "request {shown:?}: bytes after the error response: {:?}",
        String::from_utf8_lossy(&out.trailing)
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        (up.connections(), up.bytes()),
        (0, 0),
        "request {shown:?} reached the upstream: {:?}",
        String::from_utf8_lossy(&up.received())
    );
}

#[track_caller]
fn assert_400(request: &[u8]) {
    assert_rejected_before_upstream(request, 400, "Bad Request", "BadRequestException");
}

/// The control for the guard tests: a valid request on the same route is forwarded.
#[test]
fn guard_control_valid_requests_reach_the_counting_upstream() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, ""));
    let r = gw.send(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), COUNTING_BODY);
    assert_eq!(up.connections(), 1);
    let seen = String::from_utf8_lossy(&up.received()).into_owned();
    assert!(seen.starts_with("POST /x HTTP/1.1\r\n"), "{seen:?}");
    assert!(seen.ends_with("\r\n\r\nhello"), "{seen:?}");
    // Identical duplicate Content-Length values are one length (RFC 9112 §6.3).
    let r = gw.send(
        b"POST /prod/y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn pipelined_bytes_after_a_body_are_not_sent_upstream() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, ""));
    let mut c = gw.client();
    c.send(
        b"POST /prod/first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /prod/sink HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let r1 = c.read_response();
    assert_eq!((r1.status, r1.body_str().as_str()), (200, COUNTING_BODY));
    let r2 = c.read_response();
    assert_eq!((r2.status, r2.body_str().as_str()), (200, "sunk"));
    std::thread::sleep(Duration::from_millis(50));
    let seen = String::from_utf8_lossy(&up.received()).into_owned();
    assert!(seen.starts_with("POST /first HTTP/1.1\r\n"), "{seen:?}");
    assert!(
        seen.ends_with("\r\n\r\nhello"),
        "upstream got more than the first request: {seen:?}"
    );
    assert!(!seen.contains("/sink"), "{seen:?}");
}

#[test]
fn guard_content_length_and_transfer_encoding() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn guard_transfer_encoding_and_content_length() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn guard_differing_content_lengths() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    );
}

#[test]
fn guard_differing_content_length_list() {
    assert_400(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!");
}

#[test]
fn guard_content_length_not_a_number() {
    assert_400(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\nabc");
}

#[test]
fn guard_content_length_with_sign() {
    assert_400(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello");
    assert_400(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
}

#[test]
fn guard_transfer_encoding_gzip() {
    assert_400(b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxxxx");
}

#[test]
fn guard_transfer_encoding_chunked_then_gzip() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn guard_transfer_encoding_gzip_then_chunked() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn guard_transfer_encoding_chunked_twice() {
    assert_400(
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
}

#[test]
fn guard_transfer_encoding_on_http10() {
    assert_400(b"POST /prod/x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
}

#[test]
fn guard_obs_fold() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n");
}

#[test]
fn guard_bare_cr_in_header() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Bad: one\rtwo\r\n\r\n");
}

#[test]
fn guard_space_in_header_name() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX Bad: one\r\n\r\n");
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Bad : one\r\n\r\n");
}

#[test]
fn guard_control_character_in_header_name() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-B\x01ad: one\r\n\r\n");
}

#[test]
fn guard_control_character_in_header_value() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Bad: o\x01ne\r\n\r\n");
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Bad: o\x00ne\r\n\r\n");
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Bad: o\x7fne\r\n\r\n");
}

#[test]
fn guard_missing_host_on_http11() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nX-Any: 1\r\n\r\n");
}

#[test]
fn guard_two_host_headers() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
}

#[test]
fn guard_request_target_not_origin_form() {
    assert_400(b"GET prod/x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_400(b"GET /prod/x#frag HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_400(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn guard_empty_header_name() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n");
}

#[test]
fn guard_invalid_host_value() {
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert_400(b"GET /prod/x HTTP/1.1\r\nHost: \r\n\r\n");
}

#[test]
fn guard_unsupported_http_version() {
    assert_400(b"GET /prod/x HTTP/2.0\r\nHost: a\r\n\r\n");
}

#[test]
fn bad_chunk_size_on_a_mock_route_is_400_and_closes() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, ""));
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        &b"\r\nhello\r\n0\r\n\r\n"[..],
        &b"5\r\nhelloXX0\r\n\r\n"[..],
    ] {
        let mut request =
            b"POST /prod/sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        let out = raw_exchange(gw.port, &request, Duration::from_secs(3));
        let shown = String::from_utf8_lossy(&request).into_owned();
        let r = out.response.as_ref().unwrap_or_else(|| {
            panic!(
                "{shown:?}: no response; raw {:?}",
                String::from_utf8_lossy(&out.raw)
            )
        });
        assert_eq!(r.status, 400, "{shown:?}: {}", r.describe());
        assert_eq!(r.body_str(), "{\"message\":\"Bad Request\"}", "{shown:?}");
        assert!(out.closed, "{shown:?}: connection not closed");
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(up.connections(), 0, "a mock route contacted the upstream");
}

#[test]
fn bad_chunk_size_on_a_proxy_route_is_400_and_closes() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, ""));
    let out = raw_exchange(
        gw.port,
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(3),
    );
    out.assert_status_and_closed(400);
    assert_eq!(out.response().body_str(), "{\"message\":\"Bad Request\"}");
    // Whatever reached the upstream, it must not be a complete chunked body.
    let seen = up.received();
    assert!(
        find_subslice(&seen, b"hello").is_none(),
        "body bytes after a bad chunk size reached the upstream: {:?}",
        String::from_utf8_lossy(&seen)
    );
}

// ------------------------------------------------------------------ limits

#[test]
fn oversized_head_is_431_and_nothing_reaches_upstream() {
    let big = "a".repeat(12 * 1024);
    let request = format!("GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n");
    assert_rejected_before_upstream(
        request.as_bytes(),
        431,
        "Request Header Fields Too Large",
        "RequestHeaderFieldsTooLargeException",
    );
}

#[test]
fn too_many_headers_is_431() {
    let mut request = String::from("GET /prod/x HTTP/1.1\r\nHost: a\r\n");
    for i in 0..120 {
        request.push_str(&format!("X-H{i}: v\r\n"));
    }
    request.push_str("\r\n");
    assert_rejected_before_upstream(
        request.as_bytes(),
        431,
        "Request Header Fields Too Large",
        "RequestHeaderFieldsTooLargeException",
    );
}

#[test]
fn content_length_over_10mib_is_413_and_nothing_reaches_upstream() {
    let request = format!(
        "POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\nstart-of-body",
        11 * 1024 * 1024
    );
    assert_rejected_before_upstream(
        request.as_bytes(),
        413,
        "HTTP content length exceeded 10485760 bytes.",
        "RequestTooLargeException",
    );
}

const TIGHT_LIMITS: &str = "limits:
  max_body_bytes: 1024
  header_read_timeout: 300ms
  keepalive_timeout: 300ms
  body_read_timeout: 300ms
";

#[test]
fn body_over_configured_max_is_413() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, TIGHT_LIMITS));

    // Exactly the limit is fine (chunked and with Content-Length).
    let body = pattern_bytes(1024, 1);
    let mut request =
        b"POST /prod/sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend(chunked(&body, &[500]));
    let r = gw.send(&request);
    assert_eq!((r.status, r.body_str().as_str()), (200, "sunk"));
    let r = gw.send(&req("POST", "/prod/sink", &[], &body));
    assert_eq!((r.status, r.body_str().as_str()), (200, "sunk"));

    // One chunked body over it.
    let body = pattern_bytes(4096, 2);
    let mut request =
        b"POST /prod/sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend(chunked(&body, &[512]));
    let out = raw_exchange(gw.port, &request, Duration::from_secs(3));
    out.assert_status_and_closed(413);
    let r = out.response();
    assert_eq!(
        r.body_str(),
        "{\"message\":\"HTTP content length exceeded 10485760 bytes.\"}"
    );
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("RequestTooLargeException")
    );

    // A Content-Length over it, refused before the body (nothing upstream on a proxy route).
    let out = raw_exchange(
        gw.port,
        &req("POST", "/prod/x", &[], &pattern_bytes(2000, 3)),
        Duration::from_secs(3),
    );
    out.assert_status_and_closed(413);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(up.connections(), 0);
}

#[test]
fn chunked_body_over_max_on_a_proxy_route_is_413() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, TIGHT_LIMITS));
    let mut request =
        b"POST /prod/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend(chunked(&pattern_bytes(4096, 5), &[700]));
    let out = raw_exchange(gw.port, &request, Duration::from_secs(3));
    out.assert_status_and_closed(413);
    assert_eq!(
        out.response().body_str(),
        "{\"message\":\"HTTP content length exceeded 10485760 bytes.\"}"
    );
    // The upstream never sees the end of the body.
    std::thread::sleep(Duration::from_millis(50));
    let seen = up.received();
    assert!(
        find_subslice(&seen, b"\r\n0\r\n\r\n").is_none(),
        "a truncated body was completed upstream: {} bytes",
        seen.len()
    );
}

#[test]
fn slow_head_is_408_after_header_read_timeout() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, TIGHT_LIMITS));
    let mut c = gw.client();
    let t0 = Instant::now();
    c.send(b"GET /prod/x HTTP/1.1\r\nHost: a\r\nX-Half: ");
    let (raw, closed) = c.read_to_eof(Duration::from_secs(4));
    let took = t0.elapsed();
    let r = match parse_response(&raw, false, closed) {
        Ok(Parsed::Done(r, _)) => r,
        _ => panic!(
            "no response to a stalled head after {took:?}: {:?}",
            String::from_utf8_lossy(&raw)
        ),
    };
    r.assert_gateway_error(408, "Request Timeout", "RequestTimeoutException");
    assert!(closed, "connection not closed after 408");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2000),
        "408 after {took:?}, expected about 300 ms"
    );
    assert_eq!(up.connections(), 0);
}

#[test]
fn slow_body_is_408_after_body_read_timeout() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, TIGHT_LIMITS));
    let mut c = gw.client();
    let t0 = Instant::now();
    c.send(b"POST /prod/sink HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    let (raw, closed) = c.read_to_eof(Duration::from_secs(4));
    let took = t0.elapsed();
    let r = match parse_response(&raw, false, closed) {
        Ok(Parsed::Done(r, _)) => r,
        _ => panic!(
            "no response to a stalled body after {took:?}: {:?}",
            String::from_utf8_lossy(&raw)
        ),
    };
    r.assert_gateway_error(408, "Request Timeout", "RequestTimeoutException");
    assert!(closed, "connection not closed after 408");
    assert!(
        took < Duration::from_millis(2000),
        "408 after {took:?}, expected about 300 ms"
    );
}

#[test]
fn idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&guard_config(&up, TIGHT_LIMITS));
    let mut c = gw.client();
    let r = c.request(&get("/prod/sink"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "sunk"));
    assert!(!r.says_close());
    let t0 = Instant::now();
    let (rest, closed) = c.read_to_eof(Duration::from_secs(3));
    let took = t0.elapsed();
    assert!(closed, "idle connection still open after {took:?}");
    assert!(
        rest.is_empty(),
        "bytes on an idle connection: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(2000),
        "idle close after {took:?}, expected about 300 ms"
    );
    // A connection that never sends anything is closed the same way.
    let mut idle = gw.client();
    let t0 = Instant::now();
    let (rest, closed) = idle.read_to_eof(Duration::from_secs(3));
    assert!(closed && rest.is_empty(), "silent connection not closed");
    assert!(t0.elapsed() < Duration::from_millis(2000));
}
