//! HTTPS listeners with custom domains, against the real binary: SNI -> domain (exact,
//! wildcard, listener default, refusal), 421 on a Host that is not the SNI's domain,
//! base-path mappings (longest whole-segment prefix, stripped; `(none)`), the
//! `disable_execute_api_endpoint` switch, security policies and ALPN, mutual TLS (required and
//! optional, forwarded certificate headers, spoofed headers dropped), certificate reload under
//! load (SIGHUP through `tollgate reload --pid-file`), expired certificates refused at load,
//! session resumption across reloads, and interop with `curl` / `openssl s_client`.
//!
//! Certificates come from `certs/gen.sh DIR` (a fresh directory per test, removed on drop).
//! Clients are rustls over blocking std sockets with timeouts; every process is killed on
//! drop; everything is on 127.0.0.1.

mod common;
mod pki;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use pki::{
    describe_io, gen_certs, is_timeout, legacy_client_hello, load_certs, make_key_and_csr, openssl,
    tcp_connect, tls_handshake, TempDir,
};
use rustls::pki_types::ServerName;
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, ProtocolVersion, StreamOwned,
    SupportedProtocolVersion,
};

// ---------------------------------------------------------------------------------------
// Certificates (tests/pki: temp dirs, certs/gen.sh, loading) and client configs
// ---------------------------------------------------------------------------------------

/// DER of the first certificate in a PEM file.
fn leaf_der(path: &Path) -> Vec<u8> {
    load_certs(path)[0].as_ref().to_vec()
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
const ONLY_12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// A rustls client trusting `cas`, optionally presenting `client` (cert, key), offering
/// `versions` and ALPN http/1.1. Its session cache (resumption) is the default in-memory one.
fn client_config(
    cas: &[PathBuf],
    client: Option<(PathBuf, PathBuf)>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    pki::client_config(cas, client, versions, &[b"http/1.1"])
}

// ---------------------------------------------------------------------------------------
// A blocking TLS client
// ---------------------------------------------------------------------------------------

struct Tls {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
    eof: bool,
}

/// Connect to 127.0.0.1:`port` and run the handshake. `sni: None` connects by IP (rustls
/// then sends no SNI). `Err` says why the handshake failed (`TIMEOUT` when it hung).
fn tls_connect(port: u16, config: &Arc<ClientConfig>, sni: Option<&str>) -> Result<Tls, String> {
    let sock = tcp_connect(port, IO_TIMEOUT);
    let _ = sock.set_nodelay(true);
    let name = match sni {
        Some(n) => ServerName::try_from(n.to_string()).expect("server name"),
        None => ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()),
    };
    Ok(Tls {
        s: tls_handshake(sock, config, name, IO_TIMEOUT * 2)?,
        buf: Vec::new(),
        eof: false,
    })
}

impl Tls {
    /// Send `bytes` and read one response. `Err` if the connection fails or closes first.
    fn request(&mut self, bytes: &[u8]) -> Result<Response, String> {
        self.s
            .write_all(bytes)
            .and_then(|_| self.s.flush())
            .map_err(|e| describe_io("write", &e))?;
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match parse_response(&self.buf, false, self.eof) {
                Ok(Parsed::Done(r, used)) => {
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(format!("malformed response: {e}")),
            }
            if self.eof {
                return Err(format!(
                    "closed before a complete response; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            if Instant::now() > deadline {
                return Err("TIMEOUT waiting for a response".into());
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(describe_io("read", &e)),
            }
        }
    }

    fn get(&mut self, host: &str, path: &str) -> Result<Response, String> {
        self.request(&req("GET", path, &[("Host", host)], b""))
    }

    fn leaf(&self) -> Vec<u8> {
        self.s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .expect("the server presented a certificate")
    }

    fn version(&self) -> Option<ProtocolVersion> {
        self.s.conn.protocol_version()
    }

    fn kind(&self) -> Option<HandshakeKind> {
        self.s.conn.handshake_kind()
    }

    fn alpn(&self) -> Option<Vec<u8>> {
        self.s.conn.alpn_protocol().map(|p| p.to_vec())
    }
}

/// One GET on a fresh connection: handshake errors and connection errors are `Err`.
fn https_get(
    port: u16,
    config: &Arc<ClientConfig>,
    sni: Option<&str>,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let mut c = tls_connect(port, config, sni)?;
    let mut h: Vec<(&str, &str)> = vec![("Host", host)];
    h.extend_from_slice(headers);
    c.request(&req("GET", path, &h, b""))
}

/// A 200 from a fresh connection, panicking with the reason otherwise.
#[track_caller]
fn ok_get(
    port: u16,
    config: &Arc<ClientConfig>,
    sni: Option<&str>,
    host: &str,
    path: &str,
) -> Response {
    let r = https_get(port, config, sni, host, path, &[])
        .unwrap_or_else(|e| panic!("GET https://{host}{path} (SNI {sni:?}): {e}"));
    assert_eq!(
        r.status,
        200,
        "GET https://{host}{path} (SNI {sni:?}): {}",
        r.describe()
    );
    r
}

/// Same, for a bare handshake.
#[track_caller]
fn assert_handshake_refused(outcome: Result<Tls, String>, what: &str) {
    match outcome {
        Ok(t) => panic!(
            "{what}: expected the handshake to fail, it succeeded ({:?})",
            t.version()
        ),
        Err(e) => {
            eprintln!("{what}: refused: {e}");
            assert!(
                !e.contains("TIMEOUT"),
                "{what}: the gateway did not refuse promptly: {e}"
            )
        }
    }
}

/// The TLS layer refused with the fatal alert docs/BEHAVIOUR.md promises (`alert` is rustls's
/// name for it, e.g. `CertificateRequired`), not with any other failure.
#[track_caller]
fn assert_alert<T>(outcome: Result<T, String>, alert: &str, what: &str) {
    match outcome {
        Ok(_) => panic!("{what}: expected a fatal {alert} alert, the request got through"),
        Err(e) => assert!(
            e.contains(&format!("received fatal alert: {alert}")),
            "{what}: expected a fatal {alert} alert, got: {e}"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Config and process helpers
// ---------------------------------------------------------------------------------------

fn mock(route: &str, body: &str) -> String {
    format!(
        "      - route: {route}\n        integration:\n          type: MOCK\n          status: 200\n          headers:\n            content-type: text/plain\n          body: '{body}'\n"
    )
}

fn proxy(route: &str, uri: &str) -> String {
    format!(
        "      - route: {route}\n        integration:\n          type: HTTP_PROXY\n          uri: {uri}\n"
    )
}

/// A domain entry: name, certificate dir (server.pem/server.key), extra keys (already
/// indented by 4) and mappings (`base_path`, api, stage).
fn domain(name: &str, certs: &TempDir, extra: &str, mappings: &[(&str, &str, &str)]) -> String {
    let mut out = format!(
        "  - name: '{name}'\n    certificate: '{}'\n    key: '{}'\n{extra}    base_path_mappings:\n",
        certs.p("server.pem"),
        certs.p("server.key")
    );
    for (base, api, stage) in mappings {
        out +=
            &format!("      - base_path: '{base}'\n        api: {api}\n        stage: '{stage}'\n");
    }
    out
}

/// Fail (never skip) when a tool the test needs is missing: `make test` installs it
/// (`make test-deps`).
#[track_caller]
fn require(tool: &str, version_arg: &str) {
    if let Err(e) = Command::new(tool)
        .arg(version_arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "this test needs the `{tool}` CLI, which cannot be run ({e}); install it \
             (`make test-deps`, or apt-get install {tool})"
        );
    }
}

/// `tollgate reload --pid-file F`, then wait for the gateway to log the `n`th
/// "configuration reloaded" (or, with `expect_refusal`, the `n`th "reload refused (").
fn reload_and_wait(gw: &Gateway, pid_file: &str, marker: &str, n: usize) {
    let out = run_tollgate(&["reload", "--pid-file", pid_file]);
    assert!(
        out.status.success(),
        "tollgate reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = wait_until(Duration::from_secs(5), || {
        gw.stderr().matches(marker).count() >= n
    });
    assert!(
        done,
        "the gateway did not log {marker:?} {n} time(s); stderr:\n{}",
        gw.stderr()
    );
}

const RELOADED: &str = "configuration reloaded from";
const REFUSED: &str = "reload refused (";

// ---------------------------------------------------------------------------------------
// 1 + 2. SNI selection and 421
// ---------------------------------------------------------------------------------------

struct SniSetup {
    a: TempDir,
    b: TempDir,
    gw: Gateway,
}

/// api.localhost with the certificate from dir `a`, `*.partners.localhost` with the one
/// from dir `b`; listener `tls-default` (default_domain api.localhost) and `tls-strict`
/// (no default domain).
fn sni_setup() -> SniSetup {
    let a = gen_certs("sni-a");
    let b = gen_certs("sni-b");
    let yaml = format!(
        "listeners:
  - name: tls-default
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
  - name: tls-strict
    bind: 127.0.0.1:{strict_port}
    tls:
      handshake_timeout: 5s
custom_domains:
{d1}{d2}apis:
  - id: site
    routes:
{r1}    stages:
      - name: prod
  - id: partners
    routes:
{r2}    stages:
      - name: prod
",
        d1 = domain("api.localhost", &a, "", &[("(none)", "site", "prod")]),
        d2 = domain(
            "*.partners.localhost",
            &b,
            "",
            &[("(none)", "partners", "prod")]
        ),
        r1 = mock("GET /whoami", "site"),
        r2 = mock("GET /whoami", "partners"),
        strict_port = dead_port(),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    SniSetup { a, b, gw }
}

#[test]
fn sni_selects_domain_certificate_and_route() {
    let s = sni_setup();
    let cfg = client_config(&[s.a.path("ca.pem"), s.b.path("ca.pem")], None, BOTH);
    let (def, strict) = (s.gw.port_of("tls-default"), s.gw.port_of("tls-strict"));
    let cert_a = leaf_der(&s.a.path("server.pem"));
    let cert_b = leaf_der(&s.b.path("server.pem"));
    assert_ne!(cert_a, cert_b);

    // Exact name.
    let mut c = tls_connect(def, &cfg, Some("api.localhost")).expect("handshake api.localhost");
    assert!(
        c.leaf() == cert_a,
        "api.localhost got the wrong certificate"
    );
    let r = c.get("api.localhost", "/whoami").expect("request");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "site"),
        "{}",
        r.describe()
    );

    // Wildcard.
    let mut c = tls_connect(def, &cfg, Some("x.partners.localhost")).expect("handshake wildcard");
    assert!(
        c.leaf() == cert_b,
        "x.partners.localhost got the wrong certificate"
    );
    let r = c.get("x.partners.localhost", "/whoami").expect("request");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "partners"),
        "{}",
        r.describe()
    );
    // Another label under the same wildcard, on the strict listener too.
    let mut c = tls_connect(strict, &cfg, Some("other.partners.localhost")).expect("wildcard");
    assert!(c.leaf() == cert_b);
    let r = c
        .get("other.partners.localhost:443", "/whoami")
        .expect("request");
    assert_eq!(r.body_str(), "partners", "{}", r.describe());

    // No SNI (connect by IP): the listener's default domain.
    let mut c = tls_connect(def, &cfg, None).expect("handshake without SNI");
    assert!(
        c.leaf() == cert_a,
        "no-SNI handshake did not get the default certificate"
    );
    let host = format!("127.0.0.1:{def}");
    let r = c.get(&host, "/whoami").expect("request");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "site"),
        "{}",
        r.describe()
    );

    // An SNI name that is no domain (`localhost` is on the certificate): default domain.
    let mut c = tls_connect(def, &cfg, Some("localhost")).expect("handshake localhost");
    assert!(c.leaf() == cert_a);
    let r = c.get("localhost", "/whoami").expect("request");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "site"),
        "{}",
        r.describe()
    );

    // Without a default domain: no SNI, unknown SNI and a name two labels under the
    // wildcard all fail the handshake...
    assert_handshake_refused(tls_connect(strict, &cfg, None), "no SNI, no default domain");
    assert_handshake_refused(
        tls_connect(strict, &cfg, Some("localhost")),
        "unknown SNI, no default domain",
    );
    assert_handshake_refused(
        tls_connect(strict, &cfg, Some("a.b.partners.localhost")),
        "two labels under *.partners.localhost",
    );
    // ...and the gateway keeps serving.
    let r = ok_get(
        strict,
        &cfg,
        Some("api.localhost"),
        "api.localhost",
        "/whoami",
    );
    assert_eq!(r.body_str(), "site");
}

#[test]
fn host_other_than_sni_domain_is_misdirected() {
    let s = sni_setup();
    let cfg = client_config(&[s.a.path("ca.pem"), s.b.path("ca.pem")], None, BOTH);
    let port = s.gw.port_of("tls-default");

    let mut c = tls_connect(port, &cfg, Some("api.localhost")).expect("handshake");
    let r = c
        .get("other.partners.localhost", "/whoami")
        .expect("request");
    r.assert_gateway_error(421, "Misdirected Request", "MisdirectedRequestException");

    let r = https_get(
        port,
        &cfg,
        Some("x.partners.localhost"),
        "api.localhost",
        "/whoami",
        &[],
    )
    .expect("request");
    r.assert_gateway_error(421, "Misdirected Request", "MisdirectedRequestException");

    // The Host's port and case do not matter.
    let host = format!("API.localhost:{port}");
    let r = ok_get(port, &cfg, Some("api.localhost"), &host, "/whoami");
    assert_eq!(r.body_str(), "site");
}

// ---------------------------------------------------------------------------------------
// 3. Base-path mappings and disable_execute_api_endpoint
// ---------------------------------------------------------------------------------------

#[test]
fn base_path_mappings_longest_match_stripped() {
    let certs = gen_certs("mappings");
    let up = DemoUpstream::start();
    let upa = up.addr();
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
  - name: plain
    bind: 127.0.0.1:{plain_port}
custom_domains:
{d1}{d2}apis:
  - id: ordersv1
    routes:
{v1}    stages:
      - name: prod
  - id: ordersv2
    routes:
{v2}    stages:
      - name: prod
  - id: root
    type: HTTP
    routes:
{root}    stages:
      - name: '$default'
  - id: hidden
    disable_execute_api_endpoint: true
    routes:
{hidden}    stages:
      - name: prod
",
        // `(none)` and the shorter path first: the order in the file must not matter.
        d1 = domain(
            "api.localhost",
            &certs,
            "",
            &[
                ("(none)", "root", "$default"),
                ("orders", "ordersv1", "prod"),
                ("orders/v2", "ordersv2", "prod"),
            ]
        ),
        d2 = domain(
            "shop.partners.localhost",
            &certs,
            "",
            &[("shop", "hidden", "prod")]
        ),
        v1 = mock("GET /", "orders-v1-root")
            + &mock("GET /items", "orders-v1")
            + &proxy("ANY /{proxy+}", &format!("http://{upa}/v1/{{proxy}}")),
        v2 = mock("GET /items", "orders-v2"),
        root = mock("GET /items", "root") + &proxy("$default", &format!("http://{upa}/base")),
        hidden = mock("GET /items", "hidden"),
        plain_port = dead_port(),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    let port = gw.port_of("tls");
    let cfg = client_config(&[certs.path("ca.pem")], None, BOTH);
    let api = |path: &str| {
        https_get(
            port,
            &cfg,
            Some("api.localhost"),
            "api.localhost",
            path,
            &[],
        )
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    };
    let body = |path: &str| {
        let r = api(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        r.body_str()
    };
    let upstream_path = |path: &str| {
        let r = api(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.describe());
        let echo = r.json();
        let q = jstr(&echo, "query").to_string();
        let p = jstr(&echo, "path").to_string();
        if q.is_empty() {
            p
        } else {
            format!("{p}?{q}")
        }
    };

    assert_eq!(body("/orders/items"), "orders-v1");
    assert_eq!(
        body("/orders/v2/items"),
        "orders-v2",
        "longest base path wins"
    );
    assert_eq!(body("/orders"), "orders-v1-root");
    assert_eq!(body("/orders/"), "orders-v1-root");
    assert_eq!(body("/items"), "root");
    // Stripped before routing and before building the integration path.
    assert_eq!(upstream_path("/orders/abc/def?x=1"), "/v1/abc/def?x=1");
    assert_eq!(upstream_path("/orders/v2x/items"), "/v1/v2x/items");
    // `/ordersx` is not under `orders`: the `(none)` mapping, nothing stripped.
    assert_eq!(upstream_path("/ordersx/items"), "/base/ordersx/items");
    assert_eq!(upstream_path("/other/thing"), "/base/other/thing");

    // A domain without `(none)`: unmapped paths are 403 Missing Authentication Token.
    let shop = |path: &str| {
        https_get(
            port,
            &cfg,
            Some("shop.partners.localhost"),
            "shop.partners.localhost",
            path,
            &[],
        )
        .unwrap_or_else(|e| panic!("GET shop {path}: {e}"))
    };
    let r = shop("/shop/items");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "hidden"),
        "{}",
        r.describe()
    );
    for path in ["/items", "/shopx/items", "/", "/orders/items"] {
        shop(path).assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    }

    // disable_execute_api_endpoint: the execute-api host is refused...
    let plain = gw.port_of("plain");
    let r = raw_exchange(
        plain,
        &req(
            "GET",
            "/prod/items",
            &[
                ("Host", "hidden.execute-api.localhost"),
                ("Connection", "close"),
            ],
            b"",
        ),
        IO_TIMEOUT,
    );
    r.response()
        .assert_gateway_error(403, "Forbidden", "ForbiddenException");
    // ...while an API without the switch is reachable that way...
    let r = raw_exchange(
        plain,
        &req(
            "GET",
            "/prod/items",
            &[
                ("Host", "ordersv1.execute-api.localhost"),
                ("Connection", "close"),
            ],
            b"",
        ),
        IO_TIMEOUT,
    );
    assert_eq!(r.response().status, 200, "{}", r.response().describe());
    assert_eq!(r.response().body_str(), "orders-v1");
    // ...and the disabled API through its custom domain (Host on the plain listener too).
    let r = raw_exchange(
        plain,
        &req(
            "GET",
            "/shop/items",
            &[("Host", "shop.partners.localhost"), ("Connection", "close")],
            b"",
        ),
        IO_TIMEOUT,
    );
    assert_eq!(r.response().status, 200, "{}", r.response().describe());
    assert_eq!(r.response().body_str(), "hidden");
}

// ---------------------------------------------------------------------------------------
// 4. Security policies, legacy versions, ALPN
// ---------------------------------------------------------------------------------------

/// Send a legacy ClientHello and return what the server answered before closing.
fn legacy_hello_answer(port: u16, version: u16, sig_algs: bool) -> Vec<u8> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    sock.write_all(&legacy_client_hello(version, "api.localhost", sig_algs))
        .expect("write hello");
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(e.kind()) => {
                panic!("the gateway neither answered nor closed a TLS {version:#06x} hello; got {out:?}")
            }
            Err(_) => break,
        }
    }
    out
}

#[test]
fn security_policies_versions_and_alpn() {
    let certs = gen_certs("versions");
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d1}{d2}apis:
  - id: site
    routes:
{r}    stages:
      - name: prod
",
        d1 = domain(
            "api.localhost",
            &certs,
            "    security_policy: TLS_1_2\n",
            &[("(none)", "site", "prod")]
        ),
        d2 = domain(
            "v13.partners.localhost",
            &certs,
            "    security_policy: TLS_1_3\n",
            &[("(none)", "site", "prod")]
        ),
        r = mock("GET /whoami", "site"),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    let port = gw.port;
    let ca = certs.path("ca.pem");
    let cas = std::slice::from_ref(&ca);
    let any = client_config(cas, None, BOTH);
    let only12 = client_config(cas, None, ONLY_12);

    // TLS_1_2 domain: a 1.2-only client works; a modern one gets 1.3.
    let mut c = tls_connect(port, &only12, Some("api.localhost")).expect("TLS 1.2 to TLS_1_2");
    assert_eq!(c.version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(c.alpn().as_deref(), Some(&b"http/1.1"[..]));
    let r = c
        .get("api.localhost", "/whoami")
        .expect("request over TLS 1.2");
    assert_eq!((r.status, r.body_str().as_str()), (200, "site"));
    let c = tls_connect(port, &any, Some("api.localhost")).expect("handshake");
    assert_eq!(c.version(), Some(ProtocolVersion::TLSv1_3));

    // TLS_1_3 domain: 1.2-only clients are refused, 1.3 works.
    assert_handshake_refused(
        tls_connect(port, &only12, Some("v13.partners.localhost")),
        "TLS 1.2-only client to a TLS_1_3 domain",
    );
    let mut c = tls_connect(port, &any, Some("v13.partners.localhost")).expect("TLS 1.3");
    assert_eq!(c.version(), Some(ProtocolVersion::TLSv1_3));
    let r = c.get("v13.partners.localhost", "/whoami").expect("request");
    assert_eq!(r.status, 200);

    // ALPN: h2 is chosen when offered (custom domains offer HTTP/2 by default; tests/http2.rs
    // covers `http2: false`), http/1.1 otherwise; without ALPN the handshake still works.
    let alpn = pki::client_config(cas, None, BOTH, &[b"h2", b"http/1.1"]);
    let c = tls_connect(port, &alpn, Some("api.localhost")).expect("ALPN handshake");
    assert_eq!(c.alpn().as_deref(), Some(&b"h2"[..]));
    let c = tls_connect(port, &any, Some("api.localhost")).expect("ALPN handshake");
    assert_eq!(c.alpn().as_deref(), Some(&b"http/1.1"[..]));
    let no_alpn = pki::client_config(cas, None, BOTH, &[]);
    let mut c = tls_connect(port, &no_alpn, Some("api.localhost")).expect("no ALPN");
    assert_eq!(c.alpn(), None);
    assert_eq!(
        c.get("api.localhost", "/whoami").expect("request").status,
        200
    );
    // A client offering only h2 gets it; one offering only a protocol the gateway does not
    // speak cannot agree on one.
    let h2 = pki::client_config(cas, None, BOTH, &[b"h2"]);
    let c = tls_connect(port, &h2, Some("api.localhost")).expect("h2-only ALPN");
    assert_eq!(c.alpn().as_deref(), Some(&b"h2"[..]));
    let spdy = pki::client_config(cas, None, BOTH, &[b"spdy/3.1"]);
    assert_handshake_refused(
        tls_connect(port, &spdy, Some("api.localhost")),
        "spdy-only ALPN",
    );

    // TLS 1.0 / 1.1 ClientHellos get a fatal alert and no ServerHello (rustls has no
    // 1.0/1.1): protocol_version (70) once the hello gets as far as version selection,
    // handshake_failure (40) for a hello without signature_algorithms, which rustls checks
    // first.
    assert!(rustls::ALL_VERSIONS.iter().all(|v| matches!(
        v.version,
        ProtocolVersion::TLSv1_2 | ProtocolVersion::TLSv1_3
    )));
    for version in [0x0301u16, 0x0302] {
        for (sig_algs, alerts) in [(true, &[70u8][..]), (false, &[40, 70][..])] {
            let answer = legacy_hello_answer(port, version, sig_algs);
            assert!(
                answer.len() == 7
                    && answer[0] == 0x15
                    && answer[5] == 2
                    && alerts.contains(&answer[6]),
                "TLS {version:#06x} hello (signature_algorithms: {sig_algs}): expected only a \
                 fatal alert {alerts:?}, got {answer:02x?}"
            );
        }
    }

    // openssl s_client (required: `make test-deps` installs it).
    require("openssl", "version");
    {
        let s_client = |extra: &[&str], sni: &str| -> String {
            let target = format!("127.0.0.1:{port}");
            let mut args = vec![
                "s_client",
                "-connect",
                &target,
                "-servername",
                sni,
                "-CAfile",
            ];
            let ca_s = ca.display().to_string();
            args.push(&ca_s);
            args.extend_from_slice(extra);
            let empty_conf = certs.path("empty-openssl.cnf");
            std::fs::write(&empty_conf, "").expect("write empty openssl.cnf");
            let out = Command::new("openssl")
                .args(&args)
                .env("OPENSSL_CONF", &empty_conf)
                .stdin(Stdio::null())
                .output()
                .expect("run openssl s_client");
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let out = s_client(&["-tls1_2", "-alpn", "http/1.1"], "api.localhost");
        assert!(
            out.contains("Protocol  : TLSv1.2"),
            "s_client -tls1_2:\n{out}"
        );
        assert!(
            out.contains("ALPN protocol: http/1.1"),
            "s_client ALPN:\n{out}"
        );
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "s_client verify:\n{out}"
        );
        let out = s_client(&["-tls1_2"], "v13.partners.localhost");
        assert!(
            !out.contains("Protocol  : TLSv1.2") || out.contains("Cipher is (NONE)"),
            "s_client -tls1_2 to a TLS_1_3 domain succeeded:\n{out}"
        );
        for flag in ["-tls1_1", "-tls1"] {
            let out = s_client(&[flag, "-cipher", "DEFAULT@SECLEVEL=0"], "api.localhost");
            if out.contains("alert protocol version") || out.contains("alert handshake failure") {
                // The server refused with a fatal alert (handshake_failure: an OpenSSL
                // 1.0/1.1 hello has no signature_algorithms, which rustls checks first).
                assert!(
                    out.contains("Cipher is (NONE)"),
                    "{flag} got a session:\n{out}"
                );
            } else if out.contains("no protocols available")
                || out.contains("unsupported protocol")
                || out.contains("unknown option")
            {
                eprintln!(
                    "NOTE: this openssl cannot offer {flag}; relying on the raw ClientHello \
                     check above"
                );
            } else {
                panic!("openssl s_client {flag}: expected a protocol_version alert:\n{out}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 5. Mutual TLS
// ---------------------------------------------------------------------------------------

struct MtlsSetup {
    certs: TempDir,
    up: DemoUpstream,
    gw: Gateway,
}

fn mtls_setup() -> MtlsSetup {
    let certs = gen_certs("mtls");
    let up = DemoUpstream::start();
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
  - name: plain
    bind: 127.0.0.1:{plain_port}
  - name: tls-default
    bind: 127.0.0.1:{default_port}
    tls:
      default_domain: open.partners.localhost
custom_domains:
{d1}{d2}{d3}apis:
  - id: partner
    routes:
{r}    stages:
      - name: prod
",
        d1 = domain(
            "mtls.partners.localhost",
            &certs,
            &format!(
                "    mtls:
      truststore: '{}'
      mode: required
      forward_headers:
        subject: x-client-cert-subject
        issuer: x-client-cert-issuer
        serial: x-client-cert-serial
        validity: x-client-cert-validity
",
                certs.p("partner-ca.pem")
            ),
            &[("(none)", "partner", "prod")]
        ),
        d2 = domain(
            "opt.partners.localhost",
            &certs,
            &format!(
                "    mtls:
      truststore: '{}'
      mode: optional
      forward_headers:
        subject: x-client-cert-subject
",
                certs.p("partner-ca.pem")
            ),
            &[("(none)", "partner", "prod")]
        ),
        // No mutual TLS; the default domain of listener `tls-default`.
        d3 = domain(
            "open.partners.localhost",
            &certs,
            "",
            &[("(none)", "partner", "prod")]
        ),
        r = proxy(
            "ANY /echo/{proxy+}",
            &format!("http://{}/{{proxy}}", up.addr())
        ),
        plain_port = dead_port(),
        default_port = dead_port(),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    MtlsSetup { certs, up, gw }
}

/// `openssl x509 -noout FIELD` value (after `=`), when openssl is installed.
fn openssl_field(pem: &Path, field: &str) -> Option<String> {
    let out = Command::new("openssl")
        .args(["x509", "-noout", field, "-in"])
        .arg(pem)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    text.split_once('=').map(|(_, v)| v.to_string())
}

fn norm_serial(s: &str) -> String {
    let s = s.trim_start_matches('0').to_ascii_lowercase();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

#[test]
fn mtls_required_and_optional() {
    let s = mtls_setup();
    let c = &s.certs;
    let port = s.gw.port_of("tls");
    let ca = vec![c.path("ca.pem")];
    let anon = client_config(&ca, None, BOTH);
    let anon12 = client_config(&ca, None, ONLY_12);
    let partner = client_config(
        &ca,
        Some((c.path("partner.pem"), c.path("partner.key"))),
        BOTH,
    );
    let stranger = client_config(
        &ca,
        Some((c.path("stranger.pem"), c.path("stranger.key"))),
        BOTH,
    );
    let req_host = "mtls.partners.localhost";
    let opt_host = "opt.partners.localhost";
    let spoof: &[(&str, &str)] = &[
        ("x-client-cert-subject", "CN=admin"),
        ("X-Client-Cert-Serial", "00"),
    ];

    // Required: no certificate / an untrusted one -> no HTTP response.
    assert_alert(
        https_get(port, &anon, Some(req_host), req_host, "/echo/x", &[]),
        "CertificateRequired",
        "required mTLS without a client certificate (TLS 1.3)",
    );
    assert_alert(
        tls_connect(port, &anon12, Some(req_host)),
        "CertificateRequired",
        "required mTLS without a client certificate (TLS 1.2)",
    );
    assert_alert(
        https_get(port, &stranger, Some(req_host), req_host, "/echo/x", &[]),
        "UnknownCA",
        "required mTLS with a certificate from an untrusted CA",
    );

    // A valid partner certificate: 200, and the certificate's fields reach the upstream;
    // the client's own copies of those headers are replaced.
    let r = https_get(port, &partner, Some(req_host), req_host, "/echo/x", spoof)
        .expect("partner request");
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/x");
    assert_eq!(
        echoed_header(&echo, "x-client-cert-subject"),
        Some("CN=acme,O=Acme Corp,C=US"),
        "echo: {echo}"
    );
    assert_eq!(
        echoed_header(&echo, "x-client-cert-issuer"),
        Some("CN=tollgate partner CA,O=tollgate dev"),
        "echo: {echo}"
    );
    let serial = echoed_header(&echo, "x-client-cert-serial").expect("serial header");
    assert_ne!(serial, "00", "the client's serial header was not replaced");
    assert!(!serial.contains(','), "two serial values: {serial}");
    let validity = echoed_header(&echo, "x-client-cert-validity").expect("validity header");
    assert!(
        validity.starts_with("notBefore=") && validity.contains("; notAfter="),
        "{validity}"
    );
    require("openssl", "version");
    {
        let pem = c.path("partner.pem");
        let want = openssl_field(&pem, "-serial").expect("openssl serial");
        assert_eq!(norm_serial(serial), norm_serial(&want));
        let nb = openssl_field(&pem, "-startdate").expect("startdate");
        let na = openssl_field(&pem, "-enddate").expect("enddate");
        assert_eq!(validity, format!("notBefore={nb}; notAfter={na}"));
    }
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), Some("https"));

    // Optional: anonymous clients pass, without any certificate header (spoofed or not).
    let r = https_get(port, &anon, Some(opt_host), opt_host, "/echo/anon", spoof)
        .expect("anonymous request on the optional domain");
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(
        echoed_header(&echo, "x-client-cert-subject"),
        None,
        "a client-supplied subject header reached the upstream: {echo}"
    );
    // (Only the subject is configured on this domain, but a name any domain forwards is
    // reserved on every domain and listener.)
    assert_eq!(echoed_header(&echo, "x-client-cert-serial"), None);
    // With a valid certificate: the subject is forwarded (and the spoof replaced).
    let r = https_get(port, &partner, Some(opt_host), opt_host, "/echo/p", spoof)
        .expect("partner request on the optional domain");
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(
        echoed_header(&echo, "x-client-cert-subject"),
        Some("CN=acme,O=Acme Corp,C=US"),
        "echo: {echo}"
    );
    assert_eq!(echoed_header(&echo, "x-client-cert-issuer"), None);
    // With an untrusted certificate: refused even in optional mode.
    assert_alert(
        https_get(port, &stranger, Some(opt_host), opt_host, "/echo/s", &[]),
        "UnknownCA",
        "optional mTLS with a certificate from an untrusted CA",
    );

    // Still serving after all the refusals.
    let r = https_get(port, &partner, Some(req_host), req_host, "/echo/again", &[])
        .expect("partner request after refusals");
    assert_eq!(r.status, 200);
    drop(s.up);
}

/// Requests for the mutual-TLS domains on connections where no client certificate was
/// verified for them: plain HTTP with their Host (custom domains are "matched by Host on any
/// listener"), and TLS without SNI on a listener whose default domain has no mutual TLS (the
/// Host then picks the domain). `(path, Host, status, x-client-cert-subject at the
/// upstream)` for each.
fn requests_without_verified_cert(s: &MtlsSetup) -> Vec<(String, String, u16, Option<String>)> {
    let plain = s.gw.port_of("plain");
    let tls_default = s.gw.port_of("tls-default");
    let anon = client_config(&[s.certs.path("ca.pem")], None, BOTH);
    let mut out = Vec::new();
    for host in ["mtls.partners.localhost", "opt.partners.localhost"] {
        let spoofed: &[(&str, &str)] = &[("Host", host), ("x-client-cert-subject", "CN=admin")];
        let mut headers = spoofed.to_vec();
        headers.push(("Connection", "close"));
        let plain_r = raw_exchange(plain, &req("GET", "/echo/plain", &headers, b""), IO_TIMEOUT)
            .response()
            .clone();
        let tls_r = https_get(
            tls_default,
            &anon,
            None,
            host,
            "/echo/nosni",
            &[("x-client-cert-subject", "CN=admin")],
        )
        .unwrap_or_else(|e| panic!("TLS without SNI, Host {host}: {e}"));
        for (way, r) in [("plain HTTP", plain_r), ("TLS without SNI", tls_r)] {
            let subject = (r.status == 200)
                .then(|| r.json())
                .and_then(|echo| echoed_header(&echo, "x-client-cert-subject").map(String::from));
            if r.status == 403 {
                r.assert_gateway_error(403, "Forbidden", "ForbiddenException");
            }
            out.push((way.to_string(), host.to_string(), r.status, subject));
        }
    }
    out
}

/// A client-supplied certificate header must never reach the integration of a mutual-TLS
/// domain, whichever way the request came in.
#[test]
fn mtls_domain_without_verified_cert_drops_spoofed_cert_headers() {
    let s = mtls_setup();
    let leaks: Vec<String> = requests_without_verified_cert(&s)
        .into_iter()
        .filter_map(|(way, host, status, subject)| {
            subject.map(|v| {
                format!(
                    "{way}, Host {host}: status {status}, upstream got x-client-cert-subject: {v}"
                )
            })
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "client-supplied certificate headers reached the upstream:\n{}",
        leaks.join("\n")
    );
}

/// `mode: required` means no verified client certificate, no request: the domain must not
/// be served on a connection that did not verify one. docs/BEHAVIOUR.md: naming a mutual-TLS
/// domain (required or optional) in the `Host` of a plain connection or of a TLS connection
/// made for another domain gets **403** `{"message":"Forbidden"}` -- that status, not any
/// other refusal.
#[test]
fn mtls_required_domain_not_served_without_client_cert() {
    let s = mtls_setup();
    let wrong: Vec<String> = requests_without_verified_cert(&s)
        .into_iter()
        .filter(|(_, _, status, _)| *status != 403)
        .map(|(way, host, status, _)| format!("{way}, Host {host}: status {status}, not 403"))
        .collect();
    assert!(
        wrong.is_empty(),
        "a mutual-TLS domain was not refused with 403 on a connection without its verified \
         client certificate:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 6. Reload under load
// ---------------------------------------------------------------------------------------

#[test]
fn reload_certificate_under_load_without_failures() {
    let a = gen_certs("reload-a");
    let b = gen_certs("reload-b");
    let live = TempDir::new("reload-live");
    std::fs::copy(a.path("server.pem"), live.path("server.pem")).expect("copy cert");
    std::fs::copy(a.path("server.key"), live.path("server.key")).expect("copy key");
    let pid_file = live.p("gateway.pid");
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
custom_domains:
{d}apis:
  - id: site
    routes:
{r}    stages:
      - name: prod
",
        d = domain("api.localhost", &live, "", &[("(none)", "site", "prod")]),
        r = mock("GET /whoami", "site"),
    );
    let gw = Gateway::start_with_args(&yaml, 2, &["--pid-file", &pid_file]);
    assert!(wait_until(Duration::from_secs(2), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.trim() == gw.proc.pid().to_string())
    }));
    let port = gw.port;
    let cfg = client_config(&[a.path("ca.pem"), b.path("ca.pem")], None, BOTH);
    let cert_a = leaf_der(&a.path("server.pem"));
    let cert_b = leaf_der(&b.path("server.pem"));

    // Sequential requests: a new connection every 1..4 requests; every other connection
    // with a fresh client (a full handshake, which shows the certificate in force), the
    // others with a shared one (session resumption).
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let (stop2, failures2, cfg2) = (stop.clone(), failures.clone(), cfg.clone());
    let cas = vec![a.path("ca.pem"), b.path("ca.pem")];
    let (old2, new2) = (cert_a.clone(), cert_b.clone());
    let load = std::thread::spawn(move || {
        let (mut ok, mut conns, mut saw_old, mut saw_new) = (0usize, 0usize, 0usize, 0usize);
        let per_conn = [1usize, 3, 4, 2];
        let started = Instant::now();
        while !stop2.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(10) {
            let n = per_conn[conns % per_conn.len()];
            let fresh = conns % 2 == 0;
            conns += 1;
            let cfg = if fresh {
                client_config(&cas, None, BOTH)
            } else {
                cfg2.clone()
            };
            let mut c = match tls_connect(port, &cfg, Some("api.localhost")) {
                Ok(c) => c,
                Err(e) => {
                    failures2
                        .lock()
                        .expect("lock")
                        .push(format!("handshake: {e}"));
                    continue;
                }
            };
            if fresh {
                let leaf = c.leaf();
                if leaf == old2 {
                    saw_old += 1;
                } else if leaf == new2 {
                    saw_new += 1;
                } else {
                    failures2
                        .lock()
                        .expect("lock")
                        .push("an unknown certificate".into());
                }
            }
            for _ in 0..n {
                match c.get("api.localhost", "/whoami") {
                    Ok(r) if r.status == 200 && r.body_str() == "site" => ok += 1,
                    Ok(r) => failures2.lock().expect("lock").push(r.describe()),
                    Err(e) => {
                        failures2.lock().expect("lock").push(e);
                        break;
                    }
                }
            }
        }
        (ok, conns, saw_old, saw_new)
    });

    std::thread::sleep(Duration::from_millis(400));
    // Replace the files the configuration points to with a fresh pair, then reload twice.
    std::fs::copy(b.path("server.pem"), live.path("server.pem")).expect("copy new cert");
    std::fs::copy(b.path("server.key"), live.path("server.key")).expect("copy new key");
    reload_and_wait(&gw, &pid_file, RELOADED, 1);
    std::thread::sleep(Duration::from_millis(500));
    reload_and_wait(&gw, &pid_file, RELOADED, 2);
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, Ordering::SeqCst);
    let (ok, conns, saw_old, saw_new) = load.join().expect("load thread");
    eprintln!(
        "reload under load: {ok} requests on {conns} connections; full handshakes saw the \
         old certificate {saw_old} time(s), the new one {saw_new} time(s)"
    );
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "{} failed request(s) during reloads (of {} ok on {conns} connections): {:?}",
        failures.len(),
        ok,
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok >= 20 && conns >= 8,
        "too little load: {ok} requests on {conns} connections"
    );
    assert!(
        saw_old > 0 && saw_new > 0,
        "the load did not span the reload: old certificate {saw_old}x, new {saw_new}x"
    );

    // New handshakes (fresh clients, so nothing is resumed) present the new certificate,
    // on every worker.
    for _ in 0..6 {
        let fresh = client_config(&[a.path("ca.pem"), b.path("ca.pem")], None, BOTH);
        let mut c = tls_connect(port, &fresh, Some("api.localhost")).expect("handshake");
        assert!(
            c.leaf() == cert_b,
            "a handshake after the reload got the old certificate"
        );
        assert_eq!(
            c.get("api.localhost", "/whoami").expect("request").status,
            200
        );
    }

    // A broken key: the reload is refused, naming the key, and the certificate stays.
    let key_path = live.p("server.key");
    std::fs::write(live.path("server.key"), "this is not a private key\n").expect("break key");
    reload_and_wait(&gw, &pid_file, REFUSED, 1);
    let err = gw.stderr();
    let refused: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert!(
        refused
            .iter()
            .any(|l| l.contains("custom_domains[0].key") && l.contains(&key_path)),
        "the refusal does not name custom_domains[0].key / {key_path}: {refused:?}"
    );
    for _ in 0..4 {
        let fresh = client_config(&[a.path("ca.pem"), b.path("ca.pem")], None, BOTH);
        let mut c = tls_connect(port, &fresh, Some("api.localhost")).expect("handshake");
        assert!(
            c.leaf() == cert_b,
            "the refused reload changed the certificate"
        );
        assert!(c.leaf() != cert_a);
        assert_eq!(
            c.get("api.localhost", "/whoami").expect("request").status,
            200
        );
    }
}

// ---------------------------------------------------------------------------------------
// 7. Expired (and not yet valid) certificates
// ---------------------------------------------------------------------------------------

/// `name.pem` / `name.key`: a self-signed certificate valid from `start` to `end`
/// (`YYYYMMDDhhmmssZ`), via `openssl ca` (OpenSSL 3.0's req/x509 cannot backdate).
fn dated_cert(dir: &Path, name: &str, cn: &str, start: &str, end: &str) {
    if !dir.join("ca.cnf").exists() {
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = dflt\n[dflt]\ndatabase = index.txt\nserial = serial.txt\n\
             new_certs_dir = .\ndefault_md = sha256\npolicy = pol\nunique_subject = no\n\
             [pol]\ncommonName = supplied\n",
        )
        .expect("write ca.cnf");
        std::fs::write(dir.join("index.txt"), "").expect("write index");
        std::fs::write(dir.join("serial.txt"), "01\n").expect("write serial");
    }
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    make_key_and_csr(dir, name, &format!("/CN={cn}"));
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            &key,
            "-in",
            &csr,
            "-out",
            &pem,
            "-notext",
            "-startdate",
            start,
            "-enddate",
            end,
        ],
    );
}

#[test]
fn expired_certificate_refused_at_load() {
    require("openssl", "version");
    let dir = TempDir::new("expired");
    dated_cert(
        &dir.0,
        "old",
        "api.localhost",
        "20200101000000Z",
        "20200102000000Z",
    );
    dated_cert(
        &dir.0,
        "future",
        "v.partners.localhost",
        "20990101000000Z",
        "20990102000000Z",
    );
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
  - name: api.localhost
    certificate: '{}'
    key: '{}'
    base_path_mappings:
      - base_path: '(none)'
        api: site
        stage: prod
  - name: v.partners.localhost
    certificate: '{}'
    key: '{}'
apis:
  - id: site
    routes:
{r}    stages:
      - name: prod
",
        dir.p("old.pem"),
        dir.p("old.key"),
        dir.p("future.pem"),
        dir.p("future.key"),
        r = mock("GET /whoami", "site"),
    );
    let config = dir.path("gateway.yaml");
    std::fs::write(&config, &yaml).expect("write config");
    let config_s = config.display().to_string();

    let out = run_tollgate(&["check", &config_s]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "tollgate check: {err}");
    let line = err
        .lines()
        .find(|l| l.contains("custom_domains[0].certificate"))
        .unwrap_or_else(|| panic!("no custom_domains[0].certificate error in:\n{err}"));
    assert!(line.contains("expired"), "{line}");
    assert!(line.contains("Jan  2 00:00:00 2020 GMT"), "{line}");
    let line = err
        .lines()
        .find(|l| l.contains("custom_domains[1].certificate"))
        .unwrap_or_else(|| panic!("no custom_domains[1].certificate error in:\n{err}"));
    assert!(line.contains("not valid before"), "{line}");

    // `run` refuses the same file and exits 1.
    let mut p = Proc::spawn("gateway", &["run", "--config", &config_s, "--workers", "1"]);
    let status = p
        .wait_timeout(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("gateway with an expired certificate kept running"));
    assert_eq!(status.code(), Some(1));
    // The stderr reader thread may still be catching up with the exited process.
    wait_until(Duration::from_secs(2), || {
        p.stderr().contains("configuration refused")
    });
    assert!(
        p.stderr().contains("custom_domains[0].certificate"),
        "{}",
        p.stderr()
    );
    assert!(p.stderr().contains("expired"), "{}", p.stderr());
}

// ---------------------------------------------------------------------------------------
// 8. Session resumption, also across a reload
// ---------------------------------------------------------------------------------------

#[test]
fn session_resumption_survives_reload() {
    let certs = gen_certs("resume");
    let run_dir = TempDir::new("resume-run");
    let pid_file = run_dir.p("gateway.pid");
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d}apis:
  - id: site
    routes:
{r}    stages:
      - name: prod
",
        d = domain("api.localhost", &certs, "", &[("(none)", "site", "prod")]),
        r = mock("GET /whoami", "site"),
    );
    let gw = Gateway::start_with_args(&yaml, 2, &["--pid-file", &pid_file]);
    assert!(wait_until(Duration::from_secs(2), || std::path::Path::new(
        &pid_file
    )
    .exists()));
    let port = gw.port;
    let ca = vec![certs.path("ca.pem")];

    // Each connection reads a response, so the client takes the server's tickets.
    let connect = |cfg: &Arc<ClientConfig>| -> Tls {
        let mut c = tls_connect(port, cfg, Some("api.localhost")).expect("handshake");
        let r = c.get("api.localhost", "/whoami").expect("request");
        assert_eq!(r.status, 200);
        c
    };
    let tls13 = client_config(&ca, None, BOTH);
    let tls12 = client_config(&ca, None, ONLY_12);
    for (name, cfg) in [("TLS 1.3", &tls13), ("TLS 1.2", &tls12)] {
        let c = connect(cfg);
        assert_eq!(
            c.kind(),
            Some(HandshakeKind::Full),
            "{name}: first handshake"
        );
        // Several, so both workers are likely to be hit (the ticketer is process-wide).
        for i in 0..4 {
            let c = connect(cfg);
            assert_eq!(
                c.kind(),
                Some(HandshakeKind::Resumed),
                "{name}: handshake {} was not resumed",
                i + 2
            );
        }
    }

    reload_and_wait(&gw, &pid_file, RELOADED, 1);
    for (name, cfg) in [("TLS 1.3", &tls13), ("TLS 1.2", &tls12)] {
        for i in 0..4 {
            let c = connect(cfg);
            assert_eq!(
                c.kind(),
                Some(HandshakeKind::Resumed),
                "{name}: handshake {} after the reload was not resumed",
                i + 1
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 9. curl
// ---------------------------------------------------------------------------------------

#[test]
fn curl_interop() {
    require("curl", "--version");
    let s = {
        let certs = gen_certs("curl");
        let up = DemoUpstream::start();
        let yaml = format!(
            "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
custom_domains:
{d1}{d2}apis:
  - id: demo
    disable_execute_api_endpoint: true
    routes:
{r}    stages:
      - name: prod
",
            d1 = domain("api.localhost", &certs, "", &[("orders", "demo", "prod")]),
            d2 = domain(
                "partner.partners.localhost",
                &certs,
                &format!(
                    "    security_policy: TLS_1_3\n    mtls:\n      truststore: '{}'\n      forward_headers:\n        subject: x-client-cert-subject\n",
                    certs.p("partner-ca.pem")
                ),
                &[("(none)", "demo", "prod")]
            ),
            r = mock("GET /hello", "hello from tollgate")
                + &proxy("ANY /echo/{proxy+}", &format!("http://{}/{{proxy}}", up.addr())),
        );
        let gw = Gateway::start_with_args(&yaml, 1, &[]);
        MtlsSetup { certs, up, gw }
    };
    let port = s.gw.port;
    let ca = s.certs.p("ca.pem");
    let curl = |host: &str, path: &str, extra: &[&str]| -> (Option<i32>, String, String) {
        let resolve = format!("{host}:{port}:127.0.0.1");
        let url = format!("https://{host}:{port}{path}");
        let mut args = vec![
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_code}",
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        let out = Command::new("curl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (code, out, err) = curl("api.localhost", "/orders/hello", &[]);
    assert_eq!(code, Some(0), "curl: {err}");
    assert_eq!(out, "hello from tollgate\n200", "curl stderr: {err}");

    let (pem, key) = (s.certs.p("partner.pem"), s.certs.p("partner.key"));
    let (code, out, err) = curl(
        "partner.partners.localhost",
        "/echo/x",
        &["--cert", &pem, "--key", &key],
    );
    assert_eq!(code, Some(0), "curl with the partner certificate: {err}");
    let (body, status) = out.rsplit_once('\n').expect("status line");
    assert_eq!(status, "200", "{out}");
    let echo: serde_json::Value = serde_json::from_str(body).expect("echo JSON");
    assert_eq!(jstr(&echo, "path"), "/x");
    assert_eq!(
        echoed_header(&echo, "x-client-cert-subject"),
        Some("CN=acme,O=Acme Corp,C=US")
    );

    // Without the certificate curl gets no response.
    let (code, out, err) = curl("partner.partners.localhost", "/echo/x", &[]);
    assert_ne!(
        code,
        Some(0),
        "curl without a client certificate succeeded: {out}"
    );
    assert!(!out.contains("\n200"), "{out} / {err}");
    drop(s.up);
}

// ---------------------------------------------------------------------------------------
// Revocation lists and the handshake timeout
// ---------------------------------------------------------------------------------------

/// Revoke `partner.pem` with the partner CA and write `crl.pem` next to it (openssl ca).
fn revoke_partner(c: &TempDir) {
    std::fs::write(c.path("index.txt"), "").expect("index");
    std::fs::write(c.path("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(
        c.path("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 30\n",
            c.p("index.txt"),
            c.p("crlnumber")
        ),
    )
    .expect("ca.cnf");
    let ca = |args: &[&str]| {
        let mut all = vec!["ca", "-batch", "-config"];
        let cnf = c.p("ca.cnf");
        let key = c.p("partner-ca.key");
        let cert = c.p("partner-ca.pem");
        all.extend_from_slice(&[&cnf, "-keyfile", &key, "-cert", &cert]);
        all.extend_from_slice(args);
        let out = Command::new("openssl")
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .expect("openssl ca");
        assert!(
            out.status.success(),
            "openssl {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ca(&["-revoke", &c.p("partner.pem")]);
    ca(&["-gencrl", "-out", &c.p("crl.pem")]);
}

/// mtls.crl: a revoked client certificate is refused even though its CA is trusted; the same
/// certificate still works on a domain with the same truststore and no CRL.
#[test]
fn revoked_client_certificate_is_refused_with_a_crl() {
    require("openssl", "version");
    let c = gen_certs("crl");
    revoke_partner(&c);
    let mtls = |crl: bool| {
        let crl = if crl {
            format!("      crl: '{}'\n", c.p("crl.pem"))
        } else {
            String::new()
        };
        format!(
            "    mtls:\n      truststore: '{}'\n{crl}",
            c.p("partner-ca.pem")
        )
    };
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d1}{d2}apis:
  - id: a
    routes:
{r}    stages:
      - name: prod
",
        d1 = domain(
            "crl.partners.localhost",
            &c,
            &mtls(true),
            &[("(none)", "a", "prod")]
        ),
        d2 = domain(
            "nocrl.partners.localhost",
            &c,
            &mtls(false),
            &[("(none)", "a", "prod")]
        ),
        r = mock("GET /who", "served"),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    let port = gw.port_of("tls");
    let partner = client_config(
        &[c.path("ca.pem")],
        Some((c.path("partner.pem"), c.path("partner.key"))),
        BOTH,
    );
    let ok = https_get(
        port,
        &partner,
        Some("nocrl.partners.localhost"),
        "nocrl.partners.localhost",
        "/who",
        &[],
    )
    .expect("the partner certificate without a CRL");
    assert_eq!(
        (ok.status, ok.body_str().as_str()),
        (200, "served"),
        "{}",
        ok.describe()
    );
    assert_alert(
        https_get(
            port,
            &partner,
            Some("crl.partners.localhost"),
            "crl.partners.localhost",
            "/who",
            &[],
        ),
        "CertificateRevoked",
        "a client certificate revoked by the domain's CRL",
    );
}

/// listeners[].tls.handshake_timeout: a client that connects and then stalls (nothing, or
/// half a ClientHello) is disconnected once the timeout passes, and others are served.
#[test]
fn stalled_handshakes_are_closed_after_the_handshake_timeout() {
    let c = gen_certs("hs-timeout");
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
      handshake_timeout: 300ms
custom_domains:
{d}apis:
  - id: a
    routes:
{r}    stages:
      - name: prod
",
        d = domain("api.localhost", &c, "", &[("(none)", "a", "prod")]),
        r = mock("GET /ok", "ok"),
    );
    let gw = Gateway::start_with_args(&yaml, 1, &[]);
    let port = gw.port_of("tls");
    for partial in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00][..]] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(partial).expect("write");
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        let waited = started.elapsed();
        assert_eq!(n, 0, "expected the gateway to close the stalled handshake");
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "closed after {waited:?}, expected about 300 ms"
        );
    }
    let ca = client_config(&[c.path("ca.pem")], None, BOTH);
    let r = https_get(
        port,
        &ca,
        Some("api.localhost"),
        "api.localhost",
        "/ok",
        &[],
    )
    .expect("a normal client");
    assert_eq!(r.status, 200, "{}", r.describe());
}
