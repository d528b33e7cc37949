//! How the gateway copes with upstream behaviour the demo upstream never shows: garbage,
//! early close, close-delimited bodies, Connection-listed response headers, and idle
//! keep-alive connections the upstream has closed. Uses a scripted raw TCP upstream.

mod common;

use std::time::Duration;

use common::*;

fn config(up_port: u16) -> String {
    scripted_upstream_config(up_port, "")
}

#[test]
fn garbage_from_upstream_is_502() {
    let up = ScriptedUpstream::start(b"this is not HTTP\r\n\r\n", After::Close);
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    let r = c.request(&get("/prod/up/x"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn upstream_closing_without_an_answer_is_502() {
    let up = ScriptedUpstream::start(b"", After::Close);
    let gw = Gateway::start(&config(up.port));
    let r = gw.send(&get("/prod/up/x"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    assert!(up.connections() >= 1);
}

#[test]
fn upstream_close_delimited_body_reaches_the_client() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil-close-body",
        After::Close,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    let r = c.request(&get("/prod/up/a"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), "until-close-body");
    r.assert_request_id();
    if !r.chunked {
        // Without chunking the only delimiter is the close.
        assert!(r.says_close(), "{}", r.describe());
        c.assert_closed(Duration::from_secs(3));
    } else {
        let r = c.request(&get("/prod/up/b"));
        assert_eq!(r.body_str(), "until-close-body");
    }
}

#[test]
fn upstream_request_id_is_replaced_by_the_gateways() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: from-upstream\r\ncontent-length: 2\r\n\r\nok",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let r = gw.send(&get("/prod/up/id"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert_eq!(r.header_count("x-amzn-RequestId"), 1, "{}", r.describe());
    r.assert_request_id();
}

#[test]
fn connection_listed_response_headers_are_not_forwarded() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nConnection: x-up-private\r\nX-Up-Private: secret\r\nKeep-Alive: timeout=5\r\nX-Fine: 1\r\nContent-Length: 2\r\n\r\nok",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let r = gw.send(&get("/prod/up/hop"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert_eq!(r.header("x-fine"), Some("1"), "{}", r.describe());
    assert_eq!(r.header("keep-alive"), None, "{}", r.describe());
    assert_eq!(
        r.header("x-up-private"),
        None,
        "a header the upstream listed in Connection was forwarded: {}",
        r.describe()
    );
}

#[test]
fn upstream_connection_close_is_not_passed_to_the_client() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        After::Close,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    for _ in 0..3 {
        let r = c.request(&get("/prod/up/cc"));
        assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
        assert!(!r.says_close(), "{}", r.describe());
    }
    assert_eq!(up.connections(), 3);
}

/// Wait until the gateway holds a connection to 127.0.0.1:`port` that the upstream closed
/// (CLOSE_WAIT in /proc/net/tcp): the pooled connection is dead before the next request.
#[track_caller]
fn wait_pooled_connection_closed_by(port: u16) {
    let remote = format!("0100007F:{port:04X}");
    let closed = wait_until(Duration::from_secs(5), || {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2] == remote && f[3] == "08"
        })
    });
    assert!(
        closed,
        "no pooled connection to port {port} was closed by the upstream within 5 s"
    );
}

/// Upstreams close idle keep-alive connections (Node.js after 5 s, many servers after a
/// few seconds) without warning. The next request must not fail because the gateway
/// picked such a dead pooled connection: GET (no body) and POST (with a body) alike.
#[test]
fn pooled_connection_closed_by_the_upstream_is_not_a_502() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        After::CloseWhenIdle(Duration::from_millis(100)),
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    let r = c.request(&get("/prod/up/first"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));

    wait_pooled_connection_closed_by(up.port);
    let r = c.request(&get("/prod/up/second"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "ok"),
        "GET after the upstream closed its idle connection: {}",
        r.describe()
    );

    wait_pooled_connection_closed_by(up.port);
    let r = c.request(&req("POST", "/prod/up/third", &[], b"payload"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "ok"),
        "POST after the upstream closed its idle connection: {}",
        r.describe()
    );
    let reqs = up.requests();
    assert!(
        reqs.iter()
            .any(|q| q.starts_with(b"POST /third ") && q.ends_with(b"payload")),
        "the POST never reached the upstream intact"
    );
}

/// Keep-alive pools are per worker and per upstream address (docs/BEHAVIOUR.md): reuse is
/// proven by counting the connections the upstream accepted -- one for ten requests, on one
/// client connection and across fresh ones, with and without a body.
#[test]
fn upstream_keep_alive_connections_are_reused() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    for i in 0..5 {
        let r = c.request(&req("POST", &format!("/prod/up/{i}"), &[], b"abc"));
        assert_eq!((r.status, r.body_str().as_str()), (200, COUNTING_BODY));
    }
    drop(c);
    for i in 5..10 {
        let r = gw.send(&get(&format!("/prod/up/{i}")));
        assert_eq!((r.status, r.body_str().as_str()), (200, COUNTING_BODY));
    }
    let received = String::from_utf8_lossy(&up.received()).into_owned();
    assert_eq!(
        received.matches(" HTTP/1.1\r\n").count(),
        10,
        "the upstream did not get the ten requests:\n{received}"
    );
    assert_eq!(
        up.connections(),
        1,
        "upstream connection not reused: {} connections for 10 requests",
        up.connections()
    );
}
