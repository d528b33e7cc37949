//! Probe regression suite, request side (issue 10 items 2, 3, 4 and parts of 5 and 6): each
//! test replays one class of outside probe against the real binary over raw sockets (or
//! rustls for the TLS domains), with an upstream that records the bytes it received, and pins
//! exactly what the client gets and what reaches the upstream.
//!
//! - spoofed certificate headers (`x-client-cert-subject`, `x_client_cert_subject`, ...) never
//!   reach an upstream, on any listener or domain; the real one arrives once on mTLS;
//!   `drop_underscore_headers` drops every name with `_`;
//! - headers named in ANY `Connection` field line are hop-by-hop (RFC 9110 §7.6.1);
//! - request targets with `\`, bad `%` escapes or encoded-separator dot segments are 400 and
//!   reach no upstream; path parameters substituted into an integration URI's query are
//!   percent-encoded;
//! - `HTTP/1.2` is served as HTTP/1.1, `HTTP/2.0` in an HTTP/1 request line is 400;
//! - a `Host` (or absolute-form authority) with an invalid port is 400.

mod common;
mod pki;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use pki::{gen_certs, TempDir};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

// ---------------------------------------------------------------------------------------
// What the upstream received
// ---------------------------------------------------------------------------------------

/// One request head as the upstream received it.
#[derive(Debug)]
struct UpstreamHead {
    line: String,
    headers: Vec<(String, String)>,
}

impl UpstreamHead {
    /// Values of every field named `name` (ASCII case-insensitive, exact spelling).
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Names of every field that reads as `name` once case is ignored and any punctuation
    /// (`_`, `.`, `!`, ...) is read as `-` (what a CGI/WSGI/PHP server merges into one
    /// `HTTP_...` variable).
    fn variants(&self, name: &str) -> Vec<String> {
        let norm = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        };
        self.headers
            .iter()
            .filter(|(n, _)| norm(n) == norm(name))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect()
    }
}

/// The request heads in `bytes` (GETs without bodies).
fn heads(bytes: &[u8]) -> Vec<UpstreamHead> {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n\r\n")
        .filter(|h| !h.is_empty())
        .map(|h| {
            let mut lines = h.split("\r\n");
            let line = lines.next().unwrap_or_default().to_string();
            let headers = lines
                .map(|l| match l.split_once(':') {
                    Some((n, v)) => (n.to_string(), v.trim().to_string()),
                    None => (l.to_string(), String::new()),
                })
                .collect();
            UpstreamHead { line, headers }
        })
        .collect()
}

/// The one request head the upstream received after byte `from`.
#[track_caller]
fn one_head_since(up: &CountingUpstream, from: usize) -> UpstreamHead {
    let got = up.received();
    let mut hs = heads(got.get(from..).unwrap_or_default());
    assert_eq!(
        hs.len(),
        1,
        "expected one request at the upstream, got {:?}",
        String::from_utf8_lossy(got.get(from..).unwrap_or_default())
    );
    hs.remove(0)
}

// ---------------------------------------------------------------------------------------
// A plain gateway in front of a recording upstream
// ---------------------------------------------------------------------------------------

fn plain_config(up: &CountingUpstream) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: p
  - name: strict
    bind: 127.0.0.1:0
    default_api: p
    drop_underscore_headers: true
apis:
  - id: p
    routes:
      - route: ANY /r/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/base/{{proxy}}
      - route: GET /items/{{id}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/items/{{id}}
      - route: GET /q/{{h}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/send?to={{h}}&role=user
      - route: GET /g/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/g/{{proxy}}?p={{proxy}}
    stages:
      - name: prod
",
        port = up.port
    )
}

/// `request`, sent on a fresh connection, is served (200): the request line the upstream got.
#[track_caller]
fn forwarded_line(gw: &Gateway, up: &CountingUpstream, request: &[u8]) -> String {
    let before = up.received().len();
    let r = gw.send(request);
    assert_eq!(r.status, 200, "{}", r.describe());
    one_head_since(up, before).line
}

fn start_plain() -> (CountingUpstream, Gateway) {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&plain_config(&up));
    (up, gw)
}

/// A request the gateway must refuse with 400 before anything reaches the upstream.
#[track_caller]
fn assert_refused_400(gw: &Gateway, up: &CountingUpstream, request: &[u8]) {
    let before = up.bytes();
    let out = raw_exchange(gw.port, request, IO_TIMEOUT);
    let what = String::from_utf8_lossy(request).into_owned();
    let r = out.response();
    assert_eq!(r.status, 400, "{what:?}: {}", r.describe());
    r.assert_gateway_error(400, "Bad Request", "BadRequestException");
    out.assert_status_and_closed(400);
    assert_eq!(up.bytes(), before, "{what:?} reached the upstream");
}

/// [`assert_refused_400`] for `GET <target> HTTP/1.1` to gateway.test.
fn assert_target_refused_400(gw: &Gateway, up: &CountingUpstream, target: &str) {
    assert_refused_400(
        gw,
        up,
        format!("GET {target} HTTP/1.1\r\nHost: gateway.test\r\n\r\n").as_bytes(),
    );
}

// ---------------------------------------------------------------------------------------
// Item 3: hop-by-hop headers from every Connection line
// ---------------------------------------------------------------------------------------

#[test]
fn headers_named_in_any_connection_line_are_not_forwarded() {
    let (up, gw) = start_plain();
    let mut c = gw.client();
    let before = up.received().len();
    let r = c.request(
        b"GET /prod/r/x HTTP/1.1\r\nHost: gateway.test\r\nConnection: keep-alive\r\n\
          X-Api-Key: secret-key\r\nX-Trace: t1\r\nX-Kept: yes\r\n\
          Connection: x-api-key\r\nconnection: X-TRACE , x-unused\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), COUNTING_BODY);
    let h = one_head_since(&up, before);
    assert_eq!(h.line, "GET /base/x HTTP/1.1");
    assert_eq!(h.values("x-api-key"), Vec::<&str>::new(), "{h:?}");
    assert_eq!(h.values("x-trace"), Vec::<&str>::new(), "{h:?}");
    assert_eq!(h.values("connection"), Vec::<&str>::new(), "{h:?}");
    assert_eq!(h.values("x-kept"), vec!["yes"], "{h:?}");
    // The connection stays open (keep-alive on the first line, nothing says close).
    let r = c.request(&get("/prod/r/again"));
    assert_eq!(r.status, 200, "{}", r.describe());

    // `close` on a later Connection line closes the connection (HTTP/1.1).
    let out = raw_exchange(
        gw.port,
        b"GET /prod/r/y HTTP/1.1\r\nHost: gateway.test\r\nConnection: keep-alive\r\nConnection: x-a, close\r\n\r\n",
        IO_TIMEOUT,
    );
    assert!(out.response().says_close(), "{}", out.response().describe());
    out.assert_status_and_closed(200);
    // `keep-alive` on a later line keeps an HTTP/1.0 connection open.
    let mut c = gw.client();
    let r = c.request(
        b"GET /prod/r/z HTTP/1.0\r\nHost: gateway.test\r\nConnection: x-a\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = c.request(&get("/prod/r/after-1.0"));
    assert_eq!(r.status, 200, "{}", r.describe());
}

// ---------------------------------------------------------------------------------------
// Item 4: request targets
// ---------------------------------------------------------------------------------------

#[test]
fn backslashes_in_the_path_are_400_and_reach_no_upstream() {
    let (up, gw) = start_plain();
    for target in [
        r"/prod/items/..\..\admin",
        r"/prod/r/..\..\admin",
        r"/prod/r/a\b",
        r"/prod\r\x",
        r"http://gateway.test/prod/r/..\admin",
    ] {
        assert_target_refused_400(&gw, &up, target);
    }
    // Still serving, and a backslash in the query is just data.
    assert_eq!(
        forwarded_line(
            &gw,
            &up,
            b"GET /prod/r/ok?a=\\ HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
        ),
        "GET /base/ok?a=\\ HTTP/1.1"
    );
}

#[test]
fn invalid_percent_escapes_in_the_path_are_400() {
    let (up, gw) = start_plain();
    for target in [
        "/prod/r/%zz",
        "/prod/r/a%",
        "/prod/items/%4",
        "/prod/items/%g0",
        "/prod/r/%%2e%2e",
    ] {
        assert_target_refused_400(&gw, &up, target);
    }
    assert_eq!(
        forwarded_line(&gw, &up, &get("/prod/r/a%20b%2Fc")),
        "GET /base/a%20b%2Fc HTTP/1.1"
    );
}

#[test]
fn dot_segments_behind_encoded_separators_are_400() {
    let (up, gw) = start_plain();
    for target in [
        "/prod/items/..%2f..%2fadmin",
        "/prod/items/..%5c..%5cadmin",
        "/prod/items/%2e%2e%5Cadmin",
        "/prod/r/x%2f..%2fadmin",
        "/prod/r/..%2F",
        // Servlet containers strip `;params` before resolving dot segments.
        "/prod/items/..;/public",
        "/prod/r/a/..;/..;/admin",
        "/prod/r/%2e%2e;x=1/admin",
        "/prod/r/.;/admin",
    ] {
        assert_target_refused_400(&gw, &up, target);
    }
    assert_eq!(
        forwarded_line(&gw, &up, &get("/prod/items/...%2fx")),
        "GET /items/...%2fx HTTP/1.1"
    );
}

#[test]
fn path_parameters_in_the_integration_query_are_percent_encoded() {
    let (up, gw) = start_plain();
    assert_eq!(
        forwarded_line(&gw, &up, &get("/prod/q/alice&role=admin")),
        "GET /send?to=alice%26role%3Dadmin&role=user HTTP/1.1"
    );
    // A greedy parameter: raw in the path, encoded in the query; the client's query after.
    assert_eq!(
        forwarded_line(&gw, &up, &get("/prod/g/a/b;c=d+e%20f?x=1")),
        "GET /g/a/b;c=d+e%20f?p=a%2Fb%3Bc%3Dd%2Be%20f&x=1 HTTP/1.1"
    );
}

// ---------------------------------------------------------------------------------------
// Item 5 (part): HTTP versions
// ---------------------------------------------------------------------------------------

#[test]
fn http_1_2_is_served_as_http_1_1() {
    let (up, gw) = start_plain();
    let mut c = gw.client();
    let before = up.received().len();
    let r = c.request(b"GET /prod/r/v12 HTTP/1.2\r\nHost: gateway.test\r\nX-A: 1\r\n\r\n");
    assert_eq!(
        (r.version.as_str(), r.status),
        ("HTTP/1.1", 200),
        "{}",
        r.describe()
    );
    assert_eq!(r.body_str(), COUNTING_BODY);
    let h = one_head_since(&up, before);
    assert_eq!(h.line, "GET /base/v12 HTTP/1.1");
    assert_eq!(h.values("x-a"), vec!["1"]);
    // Kept alive like 1.1, with a body framed like 1.1.
    let before = up.received().len();
    let r =
        c.request(b"POST /prod/r/p HTTP/1.9\r\nHost: gateway.test\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(r.status, 200, "{}", r.describe());
    // The counting upstream answers on the head alone, so the body may still be on its way.
    let mut text = String::new();
    let body_arrived = wait_until(IO_TIMEOUT, || {
        text = String::from_utf8_lossy(&up.received()[before..]).into_owned();
        text.ends_with("\r\n\r\nhi")
    });
    assert!(
        body_arrived && text.starts_with("POST /base/p HTTP/1.1\r\n"),
        "{text:?}"
    );
    // And the 1.1 rules apply: no Host is 400.
    assert_refused_400(&gw, &up, b"GET /prod/r/x HTTP/1.2\r\n\r\n");
}

#[test]
fn other_http_versions_in_an_http_1_request_line_are_400() {
    let (up, gw) = start_plain();
    for line in [
        "GET /prod/r/x HTTP/2.0",
        "GET /prod/r/x HTTP/3.0",
        "GET /prod/r/x HTTP/1.10",
        "GET /prod/r/x HTTP/0.9",
        "PRI * HTTP/2.0",
    ] {
        assert_refused_400(
            &gw,
            &up,
            format!("{line}\r\nHost: gateway.test\r\n\r\n").as_bytes(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Item 6 (part): Host ports
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_host_ports_are_400() {
    let (up, gw) = start_plain();
    for host in [
        "gateway.test:abc",
        "gateway.test:99999",
        "gateway.test:65536",
        "gateway.test:-1",
        "gateway.test:80:80",
        "[::1]:x",
        "::1",
    ] {
        assert_refused_400(
            &gw,
            &up,
            format!("GET /prod/r/x HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        );
        assert_refused_400(
            &gw,
            &up,
            format!("GET http://{host}/prod/r/x HTTP/1.1\r\nHost: gateway.test\r\n\r\n").as_bytes(),
        );
    }
    // An empty port is allowed (RFC 3986 §3.2.3), and so is every port up to 65535.
    for host in [
        "gateway.test:",
        "gateway.test:65535",
        "[::1]:8080",
        "[::1]:",
    ] {
        let r = gw.send(format!("GET /prod/r/x HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "Host {host}: {}", r.describe());
    }
}

// ---------------------------------------------------------------------------------------
// Item 2: certificate identity headers cannot be spoofed
// ---------------------------------------------------------------------------------------

/// A client trusting the gen.sh CA, presenting `client`'s certificate (`<client>.pem`,
/// `<client>.key`) when given, offering rustls's default versions and ALPN http/1.1.
fn tls_config(certs: &TempDir, client: Option<&str>) -> Arc<ClientConfig> {
    pki::client_config(
        &[certs.path("ca.pem")],
        client.map(|name| {
            (
                certs.path(&format!("{name}.pem")),
                certs.path(&format!("{name}.key")),
            )
        }),
        rustls::DEFAULT_VERSIONS,
        &[b"http/1.1"],
    )
}

/// One request over TLS to 127.0.0.1:`port` with SNI `host`; the response.
fn tls_request(port: u16, config: &Arc<ClientConfig>, host: &str, request: &[u8]) -> Response {
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("tcp connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    sock.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let name = ServerName::try_from(host.to_string()).expect("server name");
    let conn = ClientConnection::new(config.clone(), name).expect("client connection");
    let mut s = StreamOwned::new(conn, sock);
    s.write_all(request)
        .and_then(|_| s.flush())
        .unwrap_or_else(|e| panic!("TLS write to {host}: {e}"));
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::new();
    let mut eof = false;
    loop {
        match parse_response(&buf, false, eof) {
            Ok(Parsed::Done(r, _)) => return r,
            Ok(Parsed::Incomplete) if !eof && Instant::now() < deadline => {}
            other => panic!(
                "TLS {host}: no response ({:?}); got {:?}",
                other.err(),
                String::from_utf8_lossy(&buf)
            ),
        }
        let mut chunk = [0u8; 16384];
        match s.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("TLS read from {host}: {e}"),
        }
    }
}

/// Spoofed certificate headers: exact names, other cases, underscores, other punctuation
/// (PHP reads `.` as `_` too).
const SPOOF: &[(&str, &str)] = &[
    ("x.client.cert.subject", "CN=evil"),
    ("x!client!cert~issuer", "CN=evil CA"),
    ("x-client-cert-subject", "CN=evil"),
    ("X-Client-Cert-Issuer", "CN=evil CA"),
    ("x_client_cert_subject", "CN=evil"),
    ("X_CLIENT_CERT_ISSUER", "CN=evil CA"),
    ("x-client_cert-serial", "00"),
    ("x_other", "kept"),
];

#[test]
fn certificate_headers_cannot_be_spoofed_on_any_listener_or_domain() {
    let certs = gen_certs("certs");
    let up = CountingUpstream::start();
    let domain = |name: &str, extra: &str| {
        format!(
            "  - name: {name}\n    certificate: '{}'\n    key: '{}'\n{extra}    base_path_mappings:\n      - {{base_path: '(none)', api: partner, stage: prod}}\n",
            certs.p("server.pem"),
            certs.p("server.key")
        )
    };
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
  - name: plain
    bind: 127.0.0.1:0
    default_api: partner
  - name: strict
    bind: 127.0.0.1:0
    default_api: partner
    drop_underscore_headers: true
custom_domains:
{mtls}{open}apis:
  - id: partner
    routes:
      - route: ANY /r/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/{{proxy}}
    stages:
      - name: prod
",
        mtls = domain(
            "mtls.partners.localhost",
            &format!(
                "    mtls:\n      truststore: '{}'\n      forward_headers:\n        subject: x-client-cert-subject\n        issuer: x-client-cert-issuer\n        serial: X-Client-Cert-Serial\n",
                certs.p("partner-ca.pem")
            )
        ),
        open = domain("open.partners.localhost", ""),
        port = up.port,
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    let anon = tls_config(&certs, None);
    let partner = tls_config(&certs, Some("partner"));
    let request = |host: &str, path: &str| {
        req(
            "GET",
            path,
            &[vec![("Host", host)], SPOOF.to_vec()].concat(),
            b"",
        )
    };
    let cert_names = [
        "x-client-cert-subject",
        "x-client-cert-issuer",
        "x-client-cert-serial",
    ];

    // A domain without mTLS mapped to the same API and stage, over TLS.
    let before = up.received().len();
    let host = "open.partners.localhost";
    let r = tls_request(gw.port_of("tls"), &anon, host, &request(host, "/r/x"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let h = one_head_since(&up, before);
    for name in cert_names {
        assert_eq!(h.variants(name), Vec::<String>::new(), "open domain: {h:?}");
    }
    assert_eq!(h.values("x_other"), vec!["kept"]);

    // A plain listener.
    let before = up.received().len();
    let r = Client::connect(gw.port_of("plain")).request(&request("gateway.test", "/prod/r/x"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let h = one_head_since(&up, before);
    for name in cert_names {
        assert_eq!(
            h.variants(name),
            Vec::<String>::new(),
            "plain listener: {h:?}"
        );
    }
    assert_eq!(h.values("x_other"), vec!["kept"]);

    // The mTLS domain with a verified certificate: each real value exactly once.
    let before = up.received().len();
    let host = "mtls.partners.localhost";
    let r = tls_request(gw.port_of("tls"), &partner, host, &request(host, "/r/x"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let h = one_head_since(&up, before);
    assert_eq!(
        h.variants("x-client-cert-subject"),
        vec!["x-client-cert-subject: CN=acme,O=Acme Corp,C=US".to_string()],
        "{h:?}"
    );
    assert_eq!(
        h.variants("x-client-cert-issuer"),
        vec!["x-client-cert-issuer: CN=tollgate partner CA,O=tollgate dev".to_string()],
        "{h:?}"
    );
    let serial = h.variants("x-client-cert-serial");
    assert_eq!(serial.len(), 1, "{h:?}");
    assert!(
        serial[0].starts_with("X-Client-Cert-Serial: ") && !serial[0].ends_with(": 00"),
        "{serial:?}"
    );

    // A listener with drop_underscore_headers: every name with `_` is dropped too.
    let mut strict = Client::connect(gw.port_of("strict"));
    let before = up.received().len();
    let r = strict.request(&req(
        "GET",
        "/prod/r/x",
        &[vec![("X-Dash-Name", "d")], SPOOF.to_vec()].concat(),
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let h = one_head_since(&up, before);
    assert!(
        h.headers.iter().all(|(n, _)| !n.contains('_')),
        "a name with `_` reached the upstream: {h:?}"
    );
    for name in cert_names {
        assert_eq!(
            h.variants(name),
            Vec::<String>::new(),
            "strict listener: {h:?}"
        );
    }
    assert_eq!(h.values("x-dash-name"), vec!["d"]);
}
