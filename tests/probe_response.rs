//! Probe regression suite (issue 10 items 3 and 5): hostile or unusual upstream responses
//! and HTTP/1.0 keep-alive clients. Whatever the upstream sends, the client gets valid
//! HTTP: status codes in range, no Content-Length on 204, no body the head does not frame,
//! interim 1xx responses where the client can take them, no transfer coding silently
//! dropped, no header an upstream named in any `Connection` field line. Scripted raw TCP
//! upstreams serve fixed bytes; raw clients read what the gateway wrote.

mod common;
mod pki;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// [`scripted_upstream_config`] plus HEAD/GET method-overriding proxy routes and a MOCK 204.
fn config(up_port: u16) -> String {
    scripted_upstream_config(
        up_port,
        &format!(
            "      - route: GET /head-upstream
        integration:
          type: HTTP_PROXY
          method: HEAD
          uri: http://127.0.0.1:{up_port}/h
          timeout: 2s
      - route: HEAD /get-upstream
        integration:
          type: HTTP_PROXY
          method: GET
          uri: http://127.0.0.1:{up_port}/g
          timeout: 2s
      - route: GET /mock204
        integration:
          type: MOCK
          status: 204
          headers: {{x-m: '1'}}
"
        ),
    )
}

/// One request through the gateway to an upstream that answers `upstream_bytes`.
fn through(upstream_bytes: &[u8], after: After, request: &[u8]) -> Response {
    let up = ScriptedUpstream::start(upstream_bytes, after);
    let gw = Gateway::start(&config(up.port));
    gw.client().request(request)
}

// ---------------------------------------------------------------- item 3, response side

#[test]
fn every_connection_line_of_the_upstream_names_hop_by_hop_headers() {
    for upstream in [
        // The listing line first, `close` last (today only the last line was read).
        &b"HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nConnection: close\r\nX-Secret: s\r\nX-Other: o\r\nContent-Length: 2\r\n\r\nok"[..],
        &b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: X-Secret\r\nX-Secret: s\r\nX-Other: o\r\nContent-Length: 2\r\n\r\nok"[..],
        &b"HTTP/1.1 200 OK\r\nConnection: x-a\r\nConnection: X-Secret, x-b\r\nConnection: x-c\r\nX-Secret: s\r\nX-Other: o\r\nContent-Length: 2\r\n\r\nok"[..],
    ] {
        let r = through(upstream, After::Close, &get("/prod/up/c"));
        assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
        assert_eq!(
            r.header("x-secret"),
            None,
            "a header named in a Connection line reached the client: {}",
            r.describe()
        );
        assert_eq!(r.header("x-other"), Some("o"), "{}", r.describe());
        assert!(!r.says_close(), "{}", r.describe());
    }
}

// ---------------------------------------------------------------- item 5

#[test]
fn status_codes_outside_100_to_599_are_502() {
    for status in ["099", "000", "600", "999"] {
        let upstream = format!("HTTP/1.1 {status} Odd\r\nContent-Length: 2\r\n\r\nok");
        let r = through(upstream.as_bytes(), After::Close, &get("/prod/up/s"));
        r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    }
}

#[test]
fn upstream_204_carries_no_content_length_and_no_body() {
    // A 204 with a Content-Length and stray bytes: neither reaches the client, and the next
    // response on the same client connection is intact.
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Up: 1\r\n\r\nhello",
        After::Close,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    for _ in 0..2 {
        c.send(&get("/prod/up/n"));
        let r = c.read_response();
        assert_eq!(r.status, 204, "{}", r.describe());
        assert_eq!(r.header("content-length"), None, "{}", r.describe());
        assert_eq!(r.header("transfer-encoding"), None, "{}", r.describe());
        assert_eq!(r.header("x-up"), Some("1"), "{}", r.describe());
    }
    // Nothing after the two heads (no "hello").
    c.send(&get("/prod/mock"));
    let r = c.read_response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn mock_204_carries_no_content_length() {
    let up = ScriptedUpstream::start(b"", After::Close);
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    let r = c.request(&get("/prod/mock204"));
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(r.header("content-length"), None, "{}", r.describe());
    assert_eq!(r.header("x-m"), Some("1"), "{}", r.describe());
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

#[test]
fn interim_responses_reach_http11_clients_before_the_final_one() {
    let r103 = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n";
    let upstream = format!(
        "{r103}HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );
    let up = ScriptedUpstream::start(upstream.as_bytes(), After::KeepOpen);
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    c.send(&get("/prod/up/i"));
    let first = c.read_response();
    assert_eq!(first.status, 103, "{}", first.describe());
    assert_eq!(first.reason, "Early Hints");
    assert_eq!(first.header("link"), Some("</s.css>; rel=preload"));
    assert_eq!(first.header("x-hop"), None, "{}", first.describe());
    assert_eq!(first.header("content-length"), None, "{}", first.describe());
    let second = c.read_response();
    assert_eq!(second.status, 100, "{}", second.describe());
    let last = c.read_response();
    assert_eq!((last.status, last.body_str().as_str()), (200, "ok"));
    last.assert_request_id();
    // The connection goes on.
    let r = c.request(&get("/prod/mock"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "mocked"));
}

/// Sixteen interim responses are passed on; a seventeenth makes the answer a 502 (an
/// upstream streaming 1xx forever would otherwise hold the client for the whole
/// integration timeout).
#[test]
fn more_than_sixteen_interim_responses_are_502() {
    let final_ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (count, want_ok) in [(16usize, true), (17, false)] {
        let upstream = format!(
            "{}{final_ok}",
            "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(count)
        );
        let up = ScriptedUpstream::start(upstream.as_bytes(), After::KeepOpen);
        let gw = Gateway::start(&config(up.port));
        let mut c = gw.client();
        c.send(&get("/prod/up/i"));
        for n in 0..16 {
            let r = c.read_response();
            assert_eq!(
                r.status,
                103,
                "{count} interim, response {n}: {}",
                r.describe()
            );
        }
        let last = c.read_response();
        if want_ok {
            assert_eq!((last.status, last.body_str().as_str()), (200, "ok"));
        } else {
            last.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
        }
    }
}

#[test]
fn interim_responses_are_not_sent_to_http10_clients() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let out = raw_exchange(
        gw.port,
        b"GET /prod/up/i HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    let r = out.response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert!(out.closed);
    assert!(out.trailing.is_empty(), "{:?}", out.trailing);
}

#[test]
fn upstream_101_without_an_upgrade_asked_is_502() {
    let r = through(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        After::KeepOpen,
        &get("/prod/up/u"),
    );
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
}

#[test]
fn transfer_codings_other_than_chunked_are_502() {
    for upstream in [
        // Close-delimited gzip content (RFC 9112 §6.3 rule 4).
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00"[..],
        // Chunked framing of gzip-coded content.
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n"[..],
        // The same, on two field lines.
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n"[..],
        // Chunked applied twice.
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"[..],
    ] {
        let r = through(upstream, After::Close, &get("/prod/up/te"));
        r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    }
    // Plain chunked still streams.
    let r = through(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        After::Close,
        &get("/prod/up/te"),
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
}

#[test]
fn head_integration_answers_a_get_client_at_once_with_an_empty_body() {
    // The upstream answers the HEAD it was sent as it should: a Content-Length, no body.
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    for _ in 0..2 {
        c.send(&get("/prod/head-upstream"));
        let r = c.read_response_within(false, Duration::from_secs(3));
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(r.header("content-length"), Some("0"), "{}", r.describe());
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert!(r.body.is_empty());
    }
    let reqs = up.requests();
    assert!(reqs.iter().all(|q| q.starts_with(b"HEAD /h ")), "{reqs:?}");
    assert_eq!(
        up.connections(),
        1,
        "the upstream connection was not reused"
    );
}

#[test]
fn head_client_of_a_get_integration_gets_no_body_and_the_body_is_not_reused() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    c.send(&req("HEAD", "/prod/get-upstream", &[], b""));
    let r = c.read_head_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-length"), Some("5"), "{}", r.describe());
    // Nothing follows the head: the next response on the connection parses cleanly.
    let r = c.request(&get("/prod/up/after"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "hello"));
    let reqs = up.requests();
    assert!(reqs[0].starts_with(b"GET /g "), "{reqs:?}");
    // The upstream connection whose body was left unread was not pooled.
    assert_eq!(up.connections(), 2);
}

#[test]
fn http10_keep_alive_client_given_a_chunked_body_is_closed() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let out = raw_exchange(
        gw.port,
        b"GET /prod/up/c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        Duration::from_secs(5),
    );
    let r = out.response();
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert!(r.says_close(), "{}", r.describe());
    assert!(out.closed, "the close-delimited body was never delimited");
}

#[test]
fn http10_keep_alive_is_answered_with_keep_alive() {
    let up = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        After::KeepOpen,
    );
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    for (target, status) in [
        ("/prod/mock", 200),
        ("/prod/up/k", 200),
        ("/prod/nowhere", 403),
        ("/prod/mock", 200),
    ] {
        c.send(format!("GET {target} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, status, "{target}: {}", r.describe());
        assert_eq!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("keep-alive"),
            "{target}: {}",
            r.describe()
        );
    }
    // Without keep-alive the HTTP/1.0 connection closes, as before.
    let out = raw_exchange(
        gw.port,
        b"GET /prod/mock HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(out.response().status, 200);
    assert!(out.closed);
}

/// A one-connection upstream that records every byte until the gateway closes the
/// connection, then reports them. Answers nothing.
fn recording_upstream() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind recording upstream");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(seen);
    });
    (port, rx)
}

fn chunked_request(body: &[u8]) -> Vec<u8> {
    let mut out =
        b"POST /prod/up/c HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn bad_chunk_framing_in_a_request_body_what_the_upstream_saw() {
    // A bad first chunk header: the upstream head is held back, the upstream sees nothing.
    let (port, seen) = recording_upstream();
    let gw = Gateway::start(&config(port));
    let out = raw_exchange(
        gw.port,
        &chunked_request(b"zz\r\nhello\r\n0\r\n\r\n"),
        Duration::from_secs(5),
    );
    out.assert_status_and_closed(400);
    let got = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the upstream connection was not closed");
    assert_eq!(String::from_utf8_lossy(&got), "", "upstream saw bytes");

    // A good chunk, then a bad one: the upstream saw the head and the good chunk
    // (re-encoded), never a last chunk, then the connection closed.
    let (port, seen) = recording_upstream();
    let gw = Gateway::start(&config(port));
    let out = raw_exchange(
        gw.port,
        &chunked_request(b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"),
        Duration::from_secs(5),
    );
    out.assert_status_and_closed(400);
    let got = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the upstream connection was not closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("POST /c HTTP/1.1\r\n"), "{text:?}");
    assert!(
        text.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{text:?}"
    );
    assert!(text.ends_with("\r\n\r\n5\r\nhello\r\n"), "{text:?}");
    assert!(!text.contains("world"), "{text:?}");
}

// ---------------------------------------------------------------- red team finding 2
// Bytes an upstream sends outside any response to a request on that connection (an
// unsolicited extra response, the late body of a 204) must never be read as the answer to a
// later request on that connection: a reused keep-alive connection (pooled or, with PROXY
// protocol v2, pinned to its client) is probed for unread data and EOF before every reuse.

/// The PROXY protocol v2 signature (the first 12 bytes of a v2 header).
const PROXY_V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A keep-alive upstream that answers every request `GET PATH` with the body
/// `conn N for PATH` (N numbers its connections from 1), and misbehaves on two paths:
/// after answering `/poison` it sends, 250 ms later, an unsolicited
/// `HTTP/1.1 200 OK ... POISON` on the same connection; `/late204` is answered
/// `204 No Content` and the 5-byte body `hello` follows 250 ms later. Each time it has sent
/// such stray bytes it reports the connection's (gateway-side port, stray length) on
/// `strays`. A PROXY v2 header at the start of a connection is skipped.
struct StrayUpstream {
    port: u16,
    strays: mpsc::Receiver<(u16, usize)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl StrayUpstream {
    fn start() -> StrayUpstream {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stray upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, strays) = mpsc::channel();
        let s2 = stop.clone();
        let acceptor = std::thread::spawn(move || {
            let mut n = 0;
            while !s2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        n += 1;
                        let (tx, stop) = (tx.clone(), s2.clone());
                        std::thread::spawn(move || stray_conn(stream, n, &tx, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        StrayUpstream {
            port,
            strays,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Wait until the upstream has sent stray bytes and they sit unread in the gateway's
    /// socket (the kernel's receive queue of the gateway side of that connection).
    fn wait_stray_unread(&self) {
        let (gw_port, len) = self
            .strays
            .recv_timeout(Duration::from_secs(5))
            .expect("the upstream never sent its stray bytes");
        assert!(
            wait_until(Duration::from_secs(5), || unread_bytes(gw_port, self.port)
                >= len),
            "the stray bytes never reached the gateway's socket"
        );
    }
}

impl Drop for StrayUpstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn stray_conn(
    mut s: std::net::TcpStream,
    n: usize,
    strays: &mpsc::Sender<(u16, usize)>,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::io::Write;
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
    let gw_port = s.peer_addr().map(|a| a.port()).unwrap_or(0);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut first = true;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if first && buf.len() >= 16 && buf.starts_with(PROXY_V2_SIG) {
            let len = 16 + u16::from_be_bytes([buf[14], buf[15]]) as usize;
            if buf.len() < len {
                continue;
            }
            buf.drain(..len);
        }
        if let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
            first = false;
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            let stray: &[u8] = if path == "/late204" {
                if s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
                    return;
                }
                b"hello"
            } else {
                let body = format!("conn {n} for {path}");
                let answer = ok_response(&body);
                if s.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                if path != "/poison" {
                    continue;
                }
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
            };
            // The upstream's misbehaviour: stray bytes well after the response ended.
            std::thread::sleep(Duration::from_millis(250));
            if s.write_all(stray).is_err() {
                return;
            }
            let _ = strays.send((gw_port, stray.len()));
            continue;
        }
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// Bytes received but not yet read on the 127.0.0.1 TCP socket with local port `local`
/// and remote port `remote` (rx_queue in /proc/net/tcp); 0 if there is no such socket.
fn unread_bytes(local: u16, remote: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let port_of = |a: &str| {
            a.rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
        };
        if port_of(f[1]) == Some(local) && port_of(f[2]) == Some(remote) {
            return f[4]
                .split(':')
                .nth(1)
                .and_then(|q| usize::from_str_radix(q, 16).ok())
                .unwrap_or(0);
        }
    }
    0
}

/// A 200 answer whose body is `want` (a `conn N for PATH` of the stray upstreams).
fn assert_answer(r: &Response, want: &str) {
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, want),
        "{}",
        r.describe()
    );
}

/// A gateway config with one VPC_LINK route `ANY /NAME/{proxy+}` to target group `NAME`,
/// whose only target is `127.0.0.1:port`; `group_line` is one more key of the group
/// (PROXY protocol, TLS).
fn target_group_config(name: &str, group_line: &str, port: u16) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: tg
apis:
  - id: tg
    routes:
      - route: ANY /{name}/{{proxy+}}
        integration:
          type: HTTP_PROXY
          connection_type: VPC_LINK
          target_group: {name}
          uri: http://{name}.internal/{{proxy}}
          timeout: 2s
    stages:
      - name: prod
target_groups:
  - name: {name}
    {group_line}
    targets:
      - address: \"127.0.0.1:{port}\"
"
    )
}

/// `HTTP/1.1 200 OK` with `body`, framed by Content-Length.
fn ok_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn an_unsolicited_response_after_pooling_never_answers_the_next_client() {
    let up = StrayUpstream::start();
    let gw = Gateway::start(&config(up.port));
    let r = gw.send(&get("/prod/up/poison"));
    assert_answer(&r, "conn 1 for /poison");
    // The extra response now sits unread on the idle pooled connection.
    up.wait_stray_unread();
    // The next client, on a new connection: its own answer, from a clean upstream connection.
    let r = gw.send(&get("/prod/up/victim1-secret-token"));
    assert_answer(&r, "conn 2 for /victim1-secret-token");
    // And the one after gets its own too, on the clean connection, which was pooled.
    let r = gw.send(&get("/prod/up/victim2"));
    assert_answer(&r, "conn 2 for /victim2");
}

#[test]
fn a_204_whose_body_arrives_late_does_not_break_the_next_request() {
    let up = StrayUpstream::start();
    let gw = Gateway::start(&config(up.port));
    let mut c = gw.client();
    let r = c.request(&get("/prod/up/late204"));
    assert_eq!(r.status, 204, "{}", r.describe());
    up.wait_stray_unread();
    let r = c.request(&get("/prod/up/next"));
    assert_answer(&r, "conn 2 for /next");
}

#[test]
fn a_pinned_proxy_v2_connection_with_stray_bytes_is_not_reused() {
    let up = StrayUpstream::start();
    let yaml = target_group_config("pp", "proxy_protocol: v2", up.port);
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let r = c.request(&get("/prod/pp/poison"));
    assert_answer(&r, "conn 1 for /poison");
    up.wait_stray_unread();
    // The same client's next request: not the stray response, its own.
    let r = c.request(&get("/prod/pp/next"));
    assert_answer(&r, "conn 2 for /next");
    let r = c.request(&get("/prod/pp/again"));
    assert_answer(&r, "conn 2 for /again");
}

/// A TLS upstream (rustls, one thread per connection) that answers `/big` with a head and
/// body of exactly 16384 bytes (one full TLS record, body `conn N for /big` padded with
/// `.`) followed, in the same socket write, by an unsolicited `HTTP/1.1 200 OK ... POISON`
/// in a second record; other paths get a plain `conn N for PATH`. Reports each
/// connection's gateway-side port on `ports`.
fn tls_stray_upstream(dir: &pki::TempDir) -> (u16, mpsc::Receiver<u16>) {
    use std::io::Write;
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(pki::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                pki::load_certs(&dir.path("server.pem")),
                pki::load_key(&dir.path("server.key")),
            )
            .expect("server cert"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind tls upstream");
    let port = listener.local_addr().expect("addr").port();
    let (tx, ports) = mpsc::channel();
    std::thread::spawn(move || {
        // Ends when the test (and the receiver) is gone: the send fails.
        for (n, sock) in listener.incoming().enumerate() {
            let Ok(sock) = sock else { return };
            let gw_port = sock.peer_addr().map(|a| a.port()).unwrap_or(0);
            if tx.send(gw_port).is_err() {
                return;
            }
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut s = rustls::StreamOwned::new(conn, sock);
                let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
                loop {
                    while let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                        let mut body = format!("conn {} for {path}", n + 1);
                        let mut out;
                        if path == "/big" {
                            let head_len = "HTTP/1.1 200 OK\r\nContent-Length: 16345\r\n\r\n".len();
                            body.extend(std::iter::repeat_n('.', 16384 - head_len - body.len()));
                            out = ok_response(&body).into_bytes();
                            assert_eq!(out.len(), 16384);
                            out.extend_from_slice(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
                            );
                        } else {
                            out = ok_response(&body).into_bytes();
                        }
                        // One write of all records: response and stray arrive together.
                        if s.conn.writer().write_all(&out).is_err() {
                            return;
                        }
                        while s.conn.wants_write() {
                            if s.conn.write_tls(&mut s.sock).is_err() {
                                return;
                            }
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
            });
        }
    });
    (port, ports)
}

#[test]
fn stray_bytes_already_read_by_the_tls_layer_make_a_connection_unusable() {
    let dir = pki::gen_certs("stray-tls");
    let (up_port, ports) = tls_stray_upstream(&dir);
    let tls = format!(
        "tls: {{ca_file: \"{}\", server_name: localhost}}",
        dir.p("ca.pem")
    );
    let yaml = target_group_config("sec", &tls, up_port);
    let gw = Gateway::start(&yaml);
    let r = gw.send(&get("/prod/sec/big"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.body_str().starts_with("conn 1 for /big."),
        "{}",
        r.describe()
    );
    assert_eq!(r.body.len(), 16384 - 42, "{}", r.describe());
    // The gateway has read everything from its socket: the stray response is held by the
    // TLS layer only, where no MSG_PEEK sees it.
    let gw_port = ports
        .recv_timeout(Duration::from_secs(5))
        .expect("no connection");
    assert_eq!(
        unread_bytes(gw_port, up_port),
        0,
        "the stray is still in the kernel"
    );
    let r = gw.send(&get("/prod/sec/victim"));
    assert_answer(&r, "conn 2 for /victim");
}

// ---- issue 11 item 6: one response parser (the gateway's and the load generator's)

/// An upstream Content-Length is 1*DIGIT, read as the request parser reads it: a sign, a
/// list or a non-ASCII space around the digits is a 502, never a body of guessed length.
#[test]
fn upstream_content_length_other_than_digits_is_502() {
    for cl in ["+2", "2, 2", "0x2", "2\u{a0}"] {
        let upstream = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nok");
        let r = through(upstream.as_bytes(), After::Close, &get("/prod/up/cl"));
        r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    }
    let r = through(
        b"HTTP/1.1 200 OK\r\nContent-Length:  02 \r\n\r\nok",
        After::Close,
        &get("/prod/up/cl"),
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
}
