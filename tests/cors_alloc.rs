//! Heap allocations per CORS preflight, and per response decorated with CORS headers, in
//! the steady state, counted by a counting global allocator around the whole process (as
//! tests/authorizer_iam_alloc.rs does). The gateway runs in-process on one worker; the
//! client uses fixed buffers, so what is counted during the measured requests is the
//! gateway's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// A preflight, allowed or refused, and a decorated MOCK response allocate nothing.
const ALLOWED: f64 = 0.0;

/// Send `req` and read one whole response (head, then a Content-Length body if any) into
/// `buf`; returns the head. Panics unless the status is `status`.
fn exchange<'b>(client: &mut TcpStream, req: &[u8], buf: &'b mut [u8], status: &[u8]) -> &'b [u8] {
    client.write_all(req).expect("write request");
    let mut have = 0;
    loop {
        let n = client.read(&mut buf[have..]).expect("read response");
        assert!(n > 0, "gateway closed the connection");
        have += n;
        let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head_end = end + 4;
        let body = content_length(&buf[..head_end]);
        if have < head_end + body {
            continue;
        }
        assert!(
            buf[9..12] == *status,
            "{}",
            String::from_utf8_lossy(&buf[..have])
        );
        return &buf[..head_end];
    }
}

/// The Content-Length of a response head (0 without one).
fn content_length(head: &[u8]) -> usize {
    let key = b"content-length: ";
    let Some(at) = head
        .windows(key.len())
        .position(|w| w.eq_ignore_ascii_case(key))
    else {
        return 0;
    };
    head[at + key.len()..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, &b| n * 10 + usize::from(b - b'0'))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[test]
fn preflights_and_decorated_responses_allocate_nothing() {
    let yaml = "server:
  throttle_reconcile_interval: 1h
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - {name: main, bind: 127.0.0.1:0, default_api: web}
apis:
  - id: web
    type: HTTP
    cors:
      allow_origins: ['https://app.example', 'https://*.invalid', 'http://*']
      allow_methods: [GET, PUT]
      allow_headers: [content-type, x-api-key]
      expose_headers: [x-id]
      max_age: 600
      allow_credentials: true
    routes:
      - route: GET /items
        integration: {type: MOCK, status: 200, body: hello, headers: {x-id: '1'}}
    stages: [{name: $default}]
  - id: star
    type: HTTP
    cors: {allow_origins: ['*'], allow_methods: ['*'], allow_headers: ['*']}
    routes:
      - route: GET /items
        integration: {type: MOCK, status: 200, body: hello}
    stages: [{name: $default}]
";
    // `https://*.invalid` is refused (only `*` and `scheme://*` are wildcards): the test's
    // configuration must be the valid one below.
    assert!(
        tollgate::config::validate::from_str(Path::new("bad.yaml"), yaml).is_err(),
        "a partial wildcard was accepted"
    );
    let yaml = yaml.replace("'https://*.invalid', ", "");
    let snapshot =
        tollgate::config::validate::from_str(Path::new("alloc.yaml"), &yaml).expect("config");
    let running = tollgate::runtime::supervisor::start(Arc::new(snapshot), Some(1)).expect("start");
    let addr = running.listeners[0].1;
    let mut client = TcpStream::connect(addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];

    let preflight = b"OPTIONS /items HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\n\
Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type, x-api-key\r\n\r\n";
    let refused = b"OPTIONS /items HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example\r\n\
Access-Control-Request-Method: PUT\r\n\r\n";
    let echoed = b"OPTIONS /items HTTP/1.1\r\nHost: gw\r\nOrigin: http://any.example:8080\r\n\
Access-Control-Request-Method: GET\r\n\r\n";
    let star = b"OPTIONS /items HTTP/1.1\r\nHost: star.execute-api.localhost\r\n\
Origin: https://x.example\r\nAccess-Control-Request-Method: PURGE\r\n\
Access-Control-Request-Headers: authorization, x-custom\r\n\r\n";
    let decorated = b"GET /items HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\n\r\n";

    // Each request answers as it should (so what is measured is the real thing).
    let head = exchange(&mut client, preflight, &mut buf, b"204");
    assert!(contains(
        head,
        b"access-control-allow-origin: https://app.example\r\n"
    ));
    assert!(contains(
        head,
        b"access-control-allow-headers: content-type,x-api-key\r\n"
    ));
    let head = exchange(&mut client, refused, &mut buf, b"204");
    assert!(!contains(head, b"access-control-allow-origin"));
    let head = exchange(&mut client, echoed, &mut buf, b"204");
    assert!(contains(
        head,
        b"access-control-allow-origin: http://any.example:8080\r\n"
    ));
    let head = exchange(&mut client, star, &mut buf, b"204");
    assert!(contains(
        head,
        b"access-control-allow-headers: authorization, x-custom\r\n"
    ));
    assert!(contains(head, b"access-control-allow-methods: PURGE\r\n"));
    let head = exchange(&mut client, decorated, &mut buf, b"200");
    assert!(contains(head, b"access-control-expose-headers: x-id\r\n"));

    let mut measure = |req: &[u8], status: &[u8]| {
        for _ in 0..300 {
            exchange(&mut client, req, &mut buf, status);
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        const N: u64 = 1500;
        for _ in 0..N {
            exchange(&mut client, req, &mut buf, status);
        }
        (ALLOCS.load(Ordering::SeqCst) - before) as f64 / N as f64
    };
    let results = [
        ("allowed preflight", measure(preflight, b"204")),
        ("refused preflight", measure(refused, b"204")),
        ("echoed-origin preflight", measure(echoed, b"204")),
        (
            "`*` preflight (method and headers echoed)",
            measure(star, b"204"),
        ),
        ("decorated MOCK response", measure(decorated, b"200")),
    ];
    eprintln!("allocations per request: {results:?}");
    for (what, allocs) in results {
        assert!(allocs <= ALLOWED, "a {what} allocates {allocs} times");
    }
}
