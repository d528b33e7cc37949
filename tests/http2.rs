//! HTTP/2 downstream (issue 11 item 3), against the real binary: ALPN `h2` on HTTPS
//! listeners per custom domain (curl --http2, mutual TLS included, `http2: false` opting a
//! domain out), h2c with prior knowledge on an opted-in plain listener (curl
//! --http2-prior-knowledge), HTTP/1.1 unchanged on both, h2load with many concurrent
//! streams, the SETTINGS the server advertises and enforces (128 streams, 10240-byte header
//! list -> 431), rapid reset (CVE-2023-44487) and CONTINUATION floods closed with
//! GOAWAY(ENHANCE_YOUR_CALM) without memory growth or effect on another connection, a
//! zero-window peer's stream reset, idle, reload and drain GOAWAY with in-flight streams
//! finishing; and streams through the pipeline: the quick start and the mTLS example
//! (the issue's done-when command), interleaved large bodies on one connection with
//! checksums, the stage cache, gateway errors, 413, a re-check after a trust change, and
//! rapid reset of accepted streams.
//!
//! Raw-frame tests speak HTTP/2 (h2c, or over rustls) with a small blocking frame
//! writer/reader below (no HPACK decoder needed: they look at frame types, flags, stream
//! ids and DATA); the interleaved-bodies test uses the h2 crate's client on monoio.

mod common;
mod pki;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pki::{gen_certs, TempDir};

const MOCK_BODY: &str = "hello from tollgate";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types and flags (RFC 9113 section 6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
// Error codes.
const NO_ERROR: u32 = 0x0;
const CANCEL: u32 = 0x8;
const REFUSED_STREAM: u32 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

struct Setup {
    certs: TempDir,
    gw: Gateway,
    #[allow(dead_code)] // kept running for the echo route
    up: DemoUpstream,
}

/// Listeners: `h2c` (plain, h2c on), `plain` (plain, h2c off), `tls` (HTTPS). API `demo`,
/// stage `prod`: `GET /hello` (MOCK) and `ANY /echo/{proxy+}` (the demo upstream). Domains:
/// api.localhost (HTTP/2 on by default), partner.partners.localhost (mutual TLS required),
/// old.partners.localhost (`http2: false`). `limits` is extra YAML under `limits:`.
fn setup(limits: &str) -> Setup {
    require_tool("curl", &["--version"]);
    let certs = gen_certs("http2");
    let up = DemoUpstream::start();
    let c = |f: &str| certs.path(f).display().to_string();
    // No account throttle in the way: h2load sends thousands of requests in a fraction of a
    // second, past API Gateway's default burst of 5000 on a fast machine.
    let yaml = format!(
        "server:
  account_throttle: {{rate: 1.0e9, burst: 1.0e9}}
listeners:
  - name: h2c
    bind: 127.0.0.1:0
    h2c: true
    default_api: demo
  - name: plain
    bind: 127.0.0.1:0
    default_api: demo
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: api.localhost
limits:
  max_head_bytes: 10240
{limits}custom_domains:
  - name: api.localhost
    certificate: {server}
    key: {key}
    base_path_mappings:
      - base_path: (none)
        api: demo
        stage: prod
  - name: partner.partners.localhost
    certificate: {server}
    key: {key}
    security_policy: TLS_1_3
    mtls:
      truststore: {partner_ca}
    base_path_mappings:
      - base_path: (none)
        api: demo
        stage: prod
  - name: old.partners.localhost
    certificate: {server}
    key: {key}
    http2: false
    base_path_mappings:
      - base_path: (none)
        api: demo
        stage: prod
apis:
  - id: demo
    routes:
      - route: GET /hello
        integration:
          type: MOCK
          status: 200
          body: 'hello from tollgate'
      - route: ANY /echo/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{upstream}/{{proxy}}
    stages:
      - name: prod
",
        upstream = up.addr(),
        server = c("server.pem"),
        key = c("server.key"),
        partner_ca = c("partner-ca.pem"),
    );
    let gw = Gateway::start(&yaml);
    Setup { certs, gw, up }
}

fn require_tool(tool: &str, args: &[&str]) {
    let ok = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `{tool}` on PATH (`make test-deps` installs it); refusing to pass \
         without it"
    );
}

/// Run curl with `args`; returns (exit code, stdout, stderr).
fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// curl over TLS to `host` on the `tls` listener; `-w` appends " <version> <status>".
fn curl_tls(s: &Setup, host: &str, extra: &[&str]) -> (i32, String, String) {
    let port = s.gw.port_of("tls");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}/hello");
    let ca = s.certs.path("ca.pem").display().to_string();
    let mut args = vec![
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-w",
        " %{http_version} %{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

// ---------------------------------------------------------------------------------------
// A raw HTTP/2 client (h2c, prior knowledge)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(
            self.payload[at..at + 4]
                .try_into()
                .expect("error code bytes"),
        )
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block for `method path` (static-table indexes, literal :authority).
fn request_block(method: &str, path: &str) -> Vec<u8> {
    request_block_for(method, path, "localhost")
}

/// `request_block` with this `:authority`.
fn request_block_for(method: &str, path: &str, authority: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.push(match method {
        "GET" => 0x82,
        "POST" => 0x83,
        other => panic!("no static index for {other}"),
    });
    b.push(0x86); // :scheme http
    if path == "/" {
        b.push(0x84);
    } else {
        b.push(0x04); // :path, literal without indexing, name index 4
        b.push(path.len() as u8);
        b.extend_from_slice(path.as_bytes());
    }
    b.push(0x01); // :authority, literal without indexing, name index 1
    b.push(authority.len() as u8);
    b.extend_from_slice(authority.as_bytes());
    b
}

/// A byte stream the raw client speaks over: TCP, or TLS over TCP.
trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

struct RawH2 {
    sock: Box<dyn Io>,
    buf: Vec<u8>,
    /// `:authority` of the requests `get` sends.
    authority: String,
    /// The server's first SETTINGS frame.
    settings: Vec<(u16, u32)>,
}

impl RawH2 {
    /// Connect, send the preface and `settings`, read the server's SETTINGS (acked).
    fn connect(port: u16, settings: &[(u16, u32)]) -> RawH2 {
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        sock.set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        sock.set_nodelay(true).expect("nodelay");
        RawH2::over(Box::new(sock), settings)
    }

    /// Speak HTTP/2 over `sock` (a TLS stream that negotiated h2).
    fn over(sock: Box<dyn Io>, settings: &[(u16, u32)]) -> RawH2 {
        let mut c = RawH2 {
            sock,
            buf: Vec::new(),
            authority: "localhost".into(),
            settings: Vec::new(),
        };
        let mut payload = Vec::new();
        for (id, v) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&v.to_be_bytes());
        }
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &payload));
        c.send(&hello);
        let f = c
            .next_frame()
            .unwrap_or_else(|e| panic!("no server SETTINGS: {e}"));
        assert_eq!(f.kind, SETTINGS, "first server frame: {f:?}");
        c.settings = f
            .payload
            .chunks(6)
            .map(|s| {
                (
                    u16::from_be_bytes([s[0], s[1]]),
                    u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
                )
            })
            .collect();
        c
    }

    fn setting(&self, id: u16) -> Option<u32> {
        self.settings
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write frames");
    }

    fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// The next frame; SETTINGS and PING from the server are acknowledged on the way (and
    /// still returned). `Err` on EOF, timeout or a socket error.
    fn next_frame(&mut self) -> Result<Frame, String> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5] & 0x7f,
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]),
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    if f.kind == SETTINGS && f.flags & ACK == 0 {
                        let _ = self.try_send(&frame(SETTINGS, ACK, 0, &[]));
                    }
                    if f.kind == PING && f.flags & ACK == 0 {
                        let _ = self.try_send(&frame(PING, ACK, 0, &f.payload));
                    }
                    return Ok(f);
                }
            }
            let mut chunk = [0u8; 16384];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err("EOF".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A signal reached this test process (another test's child exiting): retry.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Frames until one matches `want` (the others are returned too, in order).
    fn until(&mut self, what: &str, want: impl Fn(&Frame) -> bool) -> (Frame, Vec<Frame>) {
        let mut seen = Vec::new();
        loop {
            match self.next_frame() {
                Ok(f) if want(&f) => return (f, seen),
                Ok(f) => seen.push(f),
                Err(e) => panic!("waiting for {what}: {e}; frames seen: {seen:?}"),
            }
        }
    }

    /// Read until the server closes; returns the frames read (a reset counts as closed).
    fn until_closed(&mut self) -> Vec<Frame> {
        let mut seen = Vec::new();
        loop {
            match self.next_frame() {
                Ok(f) => seen.push(f),
                Err(e) if e == "EOF" || e.contains("reset") => return seen,
                Err(e) => panic!("waiting for the server to close: {e}; frames: {seen:?}"),
            }
        }
    }

    fn get(&mut self, stream: u32, end: bool) {
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        let block = request_block_for("GET", "/prod/hello", &self.authority);
        let f = frame(HEADERS, flags, stream, &block);
        self.send(&f);
    }

    /// A round trip: everything sent before was processed when the ACK arrives.
    fn ping(&mut self) -> Vec<Frame> {
        self.send(&frame(PING, 0, 0, b"tollgate"));
        let (_, seen) = self.until("PING ACK", |f| f.kind == PING && f.flags & ACK != 0);
        seen
    }

    /// A GET of `path` with one extra header, ending the stream.
    fn get_with(&mut self, stream: u32, path: &str, name: &str, value: &str) {
        self.try_get_with(stream, path, name, value)
            .expect("write frames");
    }

    fn try_get_with(
        &mut self,
        stream: u32,
        path: &str,
        name: &str,
        value: &str,
    ) -> std::io::Result<()> {
        let mut block = request_block("GET", path);
        block.push(0x00); // literal without indexing, new name
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
        self.try_send(&frame(HEADERS, END_HEADERS | END_STREAM, stream, &block))
    }

    /// The whole response body on `stream` (after its HEADERS), up to END_STREAM.
    fn body_of(&mut self, stream: u32) -> Vec<u8> {
        self.until("response HEADERS", |f| {
            f.kind == HEADERS && f.stream == stream
        });
        let mut body = Vec::new();
        loop {
            let (f, _) = self.until("response DATA", |f| f.kind == DATA && f.stream == stream);
            body.extend_from_slice(&f.payload);
            if f.flags & END_STREAM != 0 {
                return body;
            }
        }
    }

    /// The MOCK route's response on `stream`: HEADERS, then its body with END_STREAM.
    fn expect_mock(&mut self, stream: u32) {
        let (_, _) = self.until("response HEADERS", |f| {
            f.kind == HEADERS && f.stream == stream
        });
        let mut body = Vec::new();
        loop {
            let (f, _) = self.until("response DATA", |f| f.kind == DATA && f.stream == stream);
            body.extend_from_slice(&f.payload);
            if f.flags & END_STREAM != 0 {
                break;
            }
        }
        assert_eq!(String::from_utf8_lossy(&body), MOCK_BODY);
    }
}

// ---------------------------------------------------------------------------------------
// Real clients
// ---------------------------------------------------------------------------------------

#[test]
fn curl_http2_over_tls_negotiates_h2_per_domain() {
    let s = setup("");
    let (code, out, err) = curl_tls(&s, "api.localhost", &["--http2"]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 2 200"));

    // HTTP/1.1 on the same listener and domain is served as before.
    let (code, out, err) = curl_tls(&s, "api.localhost", &["--http1.1"]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 1.1 200"));

    // Mutual TLS is unchanged: with the partner certificate h2 is negotiated, without it
    // there is no handshake.
    let cert = s.certs.path("partner.pem").display().to_string();
    let key = s.certs.path("partner.key").display().to_string();
    let (code, out, err) = curl_tls(
        &s,
        "partner.partners.localhost",
        &["--http2", "--cert", &cert, "--key", &key],
    );
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 2 200"));
    let (code, _, _) = curl_tls(&s, "partner.partners.localhost", &["--http2"]);
    assert_ne!(code, 0, "no client certificate must mean no handshake");

    // A domain with `http2: false` does not offer h2: curl falls back to HTTP/1.1.
    let (code, out, err) = curl_tls(&s, "old.partners.localhost", &["--http2"]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 1.1 200"));
}

#[test]
fn h2c_prior_knowledge_only_on_the_opted_in_listener() {
    let s = setup("");
    let h2c = format!("http://127.0.0.1:{}/prod/hello", s.gw.port_of("h2c"));
    let plain = format!("http://127.0.0.1:{}/prod/hello", s.gw.port_of("plain"));
    let w = " %{http_version} %{http_code}";
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-w", w, &h2c]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 2 200"));
    // HTTP/1.1 on the h2c listener (the first bytes are not the preface): as before,
    // keep-alive included (two requests on one connection).
    let (code, out, err) = curl(&["--http1.1", "-w", w, &h2c, &h2c]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 1.1 200{MOCK_BODY} 1.1 200"));
    let (code, out, err) = curl(&["--http1.1", "-w", w, &plain]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, format!("{MOCK_BODY} 1.1 200"));
    // The plain listener without h2c does not speak HTTP/2.
    let (_, out, _) = curl(&["--http2-prior-knowledge", "-w", w, &plain]);
    assert!(!out.ends_with(" 2 200"), "plain listener spoke h2: {out:?}");
}

/// h2load's summary lines.
fn h2load(args: &[&str]) -> String {
    let out = Command::new("h2load")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "h2load failed: {text}");
    text
}

#[test]
fn h2load_many_concurrent_streams_all_complete() {
    require_tool("h2load", &["--version"]);
    let s = setup("");
    for url in [
        format!("https://127.0.0.1:{}/hello", s.gw.port_of("tls")),
        format!("http://127.0.0.1:{}/prod/hello", s.gw.port_of("h2c")),
    ] {
        let out = h2load(&["-n", "4000", "-c", "8", "-m", "64", &url]);
        assert!(
            out.contains("requests: 4000 total, 4000 started, 4000 done"),
            "{url}: {out}"
        );
        assert!(out.contains(" 0 errored, 0 timeout"), "{url}: {out}");
        assert!(
            out.contains("status codes: 4000 2xx, 0 3xx, 0 4xx, 0 5xx"),
            "{url}: {out}"
        );
        if url.starts_with("https") {
            assert!(out.contains("Application protocol: h2"), "{url}: {out}");
        }
    }
}

#[test]
fn oversized_header_list_is_answered_431() {
    let s = setup("");
    let h2c = format!("http://127.0.0.1:{}/prod/hello", s.gw.port_of("h2c"));
    let big = format!("x-big: {}", "a".repeat(11000));
    let w = " %{http_version} %{http_code}";
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-H", &big, "-w", w, &h2c]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert!(out.ends_with(" 2 431"), "{out:?}");
    // The connection's other streams are unaffected: a normal request still works.
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-w", w, &h2c]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert!(out.ends_with(" 2 200"), "{out:?}");
}

// ---------------------------------------------------------------------------------------
// SETTINGS, limits and attacks (raw frames)
// ---------------------------------------------------------------------------------------

#[test]
fn settings_advertise_and_enforce_the_stream_limit() {
    let s = setup("");
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[]);
    assert_eq!(c.setting(0x3), Some(128), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert_eq!(c.setting(0x6), Some(10240), "SETTINGS_MAX_HEADER_LIST_SIZE");
    assert_eq!(
        c.setting(0x4),
        Some(256 * 1024),
        "SETTINGS_INITIAL_WINDOW_SIZE"
    );
    // 128 streams held open (request bodies not ended), then one more: refused.
    for i in 0..128 {
        c.get(1 + 2 * i, false);
    }
    c.ping();
    c.get(257, true);
    let (rst, seen) = c.until("RST_STREAM on 257", |f| f.kind == RST_STREAM);
    assert_eq!(rst.stream, 257, "{rst:?} after {seen:?}");
    assert_eq!(rst.error_code(), REFUSED_STREAM);
    // An open stream finishes normally once its request ends.
    c.send(&frame(DATA, END_STREAM, 1, b""));
    c.expect_mock(1);
}

#[test]
fn rapid_reset_gets_goaway_without_growth_or_harm_to_others() {
    let s = setup("");
    let port = s.gw.port_of("h2c");
    let pid = s.gw.proc.pid();
    // Another client, served before, during and after the attack.
    let mut other = RawH2::connect(port, &[]);
    other.get(1, true);
    other.expect_mock(1);
    // Warm up (allocator arenas, buffers) before the baseline.
    let attacker_round = |round: u32| {
        let mut c = RawH2::connect(port, &[]);
        let mut batch = Vec::new();
        let mut id = 1u32;
        let mut goaway = None;
        for _ in 0..200 {
            batch.clear();
            for _ in 0..100 {
                batch.extend(frame(
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    id,
                    &request_block("GET", "/prod/hello"),
                ));
                batch.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
                id += 2;
            }
            if c.try_send(&batch).is_err() {
                break;
            }
        }
        for f in c.until_closed() {
            if f.kind == GOAWAY {
                goaway = Some(f);
            }
        }
        let g = goaway.unwrap_or_else(|| panic!("round {round}: closed without GOAWAY"));
        assert_eq!(g.error_code(), ENHANCE_YOUR_CALM, "round {round}: {g:?}");
    };
    attacker_round(0);
    let before = rss_kib(pid);
    // The other connection keeps being served while the attacks run (each response within
    // the client's 10 s read timeout, or the thread panics).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let served = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut id = 3u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                other.get(id, true);
                other.expect_mock(id);
                let _ = tx.send(id);
                id += 2;
            }
        })
    };
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the other connection is served before the attacks");
    for round in 1..=20 {
        attacker_round(round);
    }
    // Served after them too (a response that started after the last attack).
    while rx.try_recv().is_ok() {}
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the other connection is served after the attacks");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    served
        .join()
        .expect("the other connection failed during the attacks");
    let after = rss_kib(pid);
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 20 rapid-reset connections"
    );
}

#[test]
fn continuation_flood_is_closed() {
    let s = setup("");
    let mut other = RawH2::connect(s.gw.port_of("h2c"), &[]);
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[]);
    // A header block that never ends: HEADERS without END_HEADERS, then CONTINUATION
    // frames (each with a little of a header field) forever.
    let mut block = request_block("GET", "/prod/hello");
    block.truncate(block.len() - 1);
    c.send(&frame(HEADERS, 0, 1, &block));
    let piece = frame(CONTINUATION, 0, 1, &[0x40]);
    let mut sent = 0;
    while sent < 10_000 {
        if c.try_send(&piece).is_err() {
            break;
        }
        sent += 1;
    }
    let frames = c.until_closed();
    let g = frames
        .iter()
        .find(|f| f.kind == GOAWAY)
        .unwrap_or_else(|| panic!("closed without GOAWAY: {frames:?}"));
    assert_eq!(g.error_code(), ENHANCE_YOUR_CALM, "{g:?}");
    // Another connection is unaffected.
    other.get(1, true);
    other.expect_mock(1);
}

#[test]
fn zero_window_stream_is_reset_after_the_send_timeout() {
    let s = setup("  body_read_timeout: 1s\n");
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the response head goes out, its body cannot.
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[(0x4, 0)]);
    let started = Instant::now();
    c.get(1, true);
    let (rst, seen) = c.until("RST_STREAM", |f| f.kind == RST_STREAM);
    assert_eq!(rst.stream, 1);
    assert_eq!(rst.error_code(), CANCEL, "{rst:?}");
    assert!(
        seen.iter().any(|f| f.kind == HEADERS && f.stream == 1),
        "the head went out first: {seen:?}"
    );
    assert!(!seen.iter().any(|f| f.kind == DATA), "{seen:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The connection itself is still usable.
    c.send(&frame(0x8, 0, 0, &(1u32 << 20).to_be_bytes())); // connection WINDOW_UPDATE
    c.send(&frame(SETTINGS, 0, 0, &[0, 4, 0, 1, 0, 0])); // initial window 64 KiB
    c.get(3, true);
    c.expect_mock(3);
}

#[test]
fn idle_connection_gets_goaway() {
    let s = setup("  keepalive_timeout: 1s\n");
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[]);
    c.get(1, true);
    c.expect_mock(1);
    let started = Instant::now();
    let (g, _) = c.until("GOAWAY", |f| f.kind == GOAWAY);
    assert_eq!(g.error_code(), NO_ERROR);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let rest = c.until_closed();
    assert!(rest.iter().all(|f| f.kind != HEADERS), "{rest:?}");
}

#[test]
fn drain_sends_goaway_and_the_in_flight_stream_finishes() {
    let mut s = setup("");
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[]);
    // Two streams in flight: one whose request body has not ended yet, one waiting for a
    // slow upstream.
    c.get(1, false);
    c.get_with(3, "/prod/echo/slow", "x-echo-delay-ms", "300");
    c.ping();
    s.gw.proc.sigterm();
    let (g, _) = c.until("GOAWAY", |f| f.kind == GOAWAY);
    assert_eq!(g.error_code(), NO_ERROR, "{g:?}");
    // Both still complete.
    let slow = c.body_of(3);
    let echo: serde_json::Value = serde_json::from_slice(&slow).expect("echo JSON");
    assert_eq!(echo["path"], "/slow");
    c.send(&frame(DATA, END_STREAM, 1, b"the end"));
    c.expect_mock(1);
    // Then the connection closes and the gateway exits cleanly.
    c.until_closed();
    let status =
        s.gw.proc
            .wait_timeout(Duration::from_secs(10))
            .expect("gateway did not exit after drain");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn h2c_detection_waits_for_a_split_preface() {
    let s = setup("");
    let mut sock = TcpStream::connect(("127.0.0.1", s.gw.port_of("h2c"))).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The preface in two writes, then SETTINGS: still HTTP/2.
    sock.write_all(&PREFACE[..10]).expect("write");
    sock.flush().expect("flush");
    sock.write_all(&PREFACE[10..]).expect("write");
    sock.write_all(&frame(SETTINGS, 0, 0, &[])).expect("write");
    let mut head = [0u8; 9];
    match sock.read_exact(&mut head) {
        Ok(()) => assert_eq!(head[3], SETTINGS, "server's first frame: {head:?}"),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => panic!("closed instead of h2"),
        Err(e) => panic!("read: {e}"),
    }
}

#[test]
fn h2c_is_refused_on_https_listeners_at_check_time() {
    let certs = gen_certs("http2-check");
    let yaml = format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    h2c: true
    tls:
      default_domain: api.localhost
custom_domains:
  - name: api.localhost
    certificate: {}
    key: {}
apis:
  - id: demo
    routes:
      - route: GET /hello
        integration:
          type: MOCK
          status: 200
    stages:
      - name: prod
",
        certs.path("server.pem").display(),
        certs.path("server.key").display()
    );
    let file = write_temp("h2c-tls.yaml", &yaml);
    let (code, out, err) = cli(&["check", &file.display()]);
    assert_ne!(code, 0, "accepted: {out}{err}");
    assert!(
        err.contains("listeners[0].h2c") || out.contains("listeners[0].h2c"),
        "{out}{err}"
    );
    // Without `h2c` the same file is fine, and `http2: false` is a known domain key.
    let ok = yaml
        .replace("    h2c: true\n", "")
        .replace("    key: ", "    http2: false\n    key: ");
    let file = write_temp("h2c-ok.yaml", &ok);
    let (code, out, err) = cli(&["check", &file.display()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn reload_sends_goaway_and_new_connections_carry_on() {
    let s = setup("");
    let mut c = RawH2::connect(s.gw.port_of("h2c"), &[]);
    c.get(1, false);
    c.ping();
    s.gw.proc.signal(libc::SIGHUP);
    let (g, _) = c.until("GOAWAY", |f| f.kind == GOAWAY);
    assert_eq!(g.error_code(), NO_ERROR, "{g:?}");
    c.send(&frame(DATA, END_STREAM, 1, b""));
    c.expect_mock(1);
    c.until_closed();
    // A new connection (on the reloaded configuration) is served.
    let mut d = RawH2::connect(s.gw.port_of("h2c"), &[]);
    d.get(1, true);
    d.expect_mock(1);
    // The log line is written by the log thread: it may land just after the new stream.
    assert!(
        wait_until(Duration::from_secs(5), || s
            .gw
            .stderr()
            .contains("reloaded configuration in force")),
        "no reload line: {}",
        s.gw.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// Streams through the pipeline: integrations, bodies, the cache, errors
// ---------------------------------------------------------------------------------------

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i.wrapping_mul(2654435761) >> 7) as u8) ^ (seed as u8).wrapping_mul(37))
        .collect()
}

/// `streams` POSTs of `size` bytes each on ONE HTTP/2 connection, all at once (their DATA
/// frames interleave both ways), to the echo route with `x-echo-raw: 1` (the upstream
/// answers with the request body): every response body must be its own request body.
fn interleaved_echo(port: u16, streams: usize, size: usize) {
    use monoio::io::IntoPollIo;
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tcp = monoio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let io = tcp.into_poll_io().expect("poll io");
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .handshake::<_, bytes::Bytes>(io)
            .await
            .expect("h2 handshake");
        monoio::spawn(async move {
            let _ = conn.await;
        });
        let mut tasks = Vec::new();
        for i in 0..streams {
            let client = client.clone();
            tasks.push(monoio::spawn(async move {
                let body = pattern(size, i);
                let mut client = client.ready().await.expect("ready");
                let req = http::Request::builder()
                    .method("POST")
                    .uri(format!("http://localhost/prod/echo/stream{i}"))
                    .header("x-echo-raw", "1")
                    .header("content-length", size)
                    .body(())
                    .expect("request");
                let (resp, mut send) = client.send_request(req, false).expect("send request");
                let mut data = bytes::Bytes::from(body.clone());
                while !data.is_empty() {
                    send.reserve_capacity(data.len().min(64 * 1024));
                    let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
                        .await
                        .expect("stream open")
                        .expect("capacity");
                    let piece = data.split_to(cap.min(data.len()));
                    send.send_data(piece, data.is_empty()).expect("send data");
                }
                let resp = resp.await.expect("response");
                assert_eq!(resp.status(), 200, "stream {i}");
                let mut rb = resp.into_body();
                let mut got = Vec::with_capacity(size);
                while let Some(piece) = rb.data().await {
                    let piece = piece.expect("response data");
                    got.extend_from_slice(&piece);
                    let _ = rb.flow_control().release_capacity(piece.len());
                }
                assert_eq!(got.len(), size, "stream {i}: body length");
                assert_eq!(sha256_hex(&got), sha256_hex(&body), "stream {i}: checksum");
            }));
        }
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn interleaved_large_bodies_on_one_connection_keep_their_bytes() {
    let s = setup("");
    interleaved_echo(s.gw.port_of("h2c"), 8, 2 << 20);
}

#[test]
fn errors_and_body_limits_over_http2() {
    let s = setup("  max_body_bytes: 1000\n");
    let base = format!("http://127.0.0.1:{}", s.gw.port_of("h2c"));
    // A gateway error: status, JSON body and x-amzn-ErrorType as over HTTP/1.1.
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-i", &format!("{base}/nope")]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert!(out.starts_with("HTTP/2 403"), "{out}");
    assert!(
        out.contains("x-amzn-errortype: MissingAuthenticationTokenException"),
        "{out}"
    );
    assert!(out.contains("x-amzn-requestid: "), "{out}");
    assert!(
        out.ends_with(r#"{"message":"Missing Authentication Token"}"#),
        "{out}"
    );
    // A body over limits.max_body_bytes: 413, with and without a Content-Length.
    let echo = format!("{base}/prod/echo/x");
    let big = "x".repeat(2000);
    let w = "%{http_version} %{http_code}";
    for extra in [&[][..], &["-H", "content-length:"][..]] {
        let mut args = vec![
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            w,
            "-d",
            &big,
        ];
        args.extend_from_slice(extra);
        args.push(&echo);
        let (code, out, err) = curl(&args);
        assert_eq!(code, 0, "curl {extra:?} failed: {err}");
        assert_eq!(out, "2 413", "{extra:?}");
    }
    // Within the limit it goes through, body intact.
    let small = "y".repeat(900);
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-d", &small, &echo]);
    assert_eq!(code, 0, "curl failed: {err}");
    let echo: serde_json::Value = serde_json::from_str(&out).expect("echo JSON");
    assert_eq!(echo["body_sha256"], sha256_hex(small.as_bytes()));
    // A path HTTP/1.1 refuses is refused over HTTP/2 too (a bad escape).
    let (code, out, err) = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        w,
        "--path-as-is",
        &format!("{base}/prod/echo/%zz"),
    ]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, "2 400");
}

/// An example configuration from examples/ with its fixed ports, certificate paths and
/// upstream replaced (each replacement must apply).
fn example(name: &str, certs: &TempDir, up: &DemoUpstream, edits: &[(&str, &str)]) -> String {
    let path = manifest_dir().join("examples").join(name);
    let mut yaml = std::fs::read_to_string(&path).expect("read example");
    let certs_dir = format!("{}/", certs.0.display());
    let upstream = up.addr();
    let mut all: Vec<(&str, &str)> = vec![("../certs/", &certs_dir), ("127.0.0.1:9090", &upstream)];
    all.extend_from_slice(edits);
    for (from, to) in all {
        if from == "../certs/" && !yaml.contains(from) {
            continue;
        }
        assert!(yaml.contains(from), "{name} has no {from:?}");
        yaml = yaml.replace(from, to);
    }
    yaml
}

#[test]
fn quickstart_over_h2c_mock_and_upstream() {
    let certs = gen_certs("http2-quick");
    let up = DemoUpstream::start();
    let yaml = example(
        "quickstart.yaml",
        &certs,
        &up,
        &[("bind: 127.0.0.1:8080", "bind: 127.0.0.1:0\n    h2c: true")],
    );
    let gw = Gateway::start(&yaml);
    let base = format!("http://127.0.0.1:{}/prod", gw.port);
    let w = "\n%{http_version} %{http_code}";
    let (code, out, err) = curl(&["--http2-prior-knowledge", "-w", w, &format!("{base}/hello")]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, "{\"message\":\"hello from tollgate\"}\n2 200");
    // POST bodies reach the upstream intact (its SHA-256 is echoed).
    let body: String = (0..50_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let (code, out, err) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        w,
        "--data-binary",
        &body,
        &format!("{base}/echo/orders?x=1"),
    ]);
    assert_eq!(code, 0, "curl failed: {err}");
    let (json, tail) = out.rsplit_once('\n').expect("status line");
    assert_eq!(tail, "2 200");
    let echo: serde_json::Value = serde_json::from_str(json).expect("echo JSON");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/orders");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["body_length"], 50_000);
    assert_eq!(echo["body_sha256"], sha256_hex(body.as_bytes()));
    // A large response body from the upstream.
    let (code, out, err) = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "x-echo-size: 3000000",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code} %{size_download}",
        &format!("{base}/echo/big"),
    ]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, "2 200 3000000");
}

/// The issue's "done when": `curl --http2 --cacert certs/ca.pem --resolve
/// api.localhost:8443:127.0.0.1 https://api.localhost:8443/orders/hello` against
/// examples/mtls-partner.yaml answers over HTTP/2; the partner's client certificate works
/// over HTTP/2 and its fields reach the upstream.
#[test]
fn mtls_partner_example_over_http2() {
    let certs = gen_certs("http2-mtls");
    let up = DemoUpstream::start();
    let yaml = example(
        "mtls-partner.yaml",
        &certs,
        &up,
        &[("bind: 127.0.0.1:8443", "bind: 127.0.0.1:0")],
    );
    let gw = Gateway::start(&yaml);
    let port = gw.port;
    let ca = certs.path("ca.pem").display().to_string();
    let run = |host: &str, path: &str, extra: &[&str]| {
        let resolve = format!("{host}:{port}:127.0.0.1");
        let url = format!("https://{host}:{port}{path}");
        let mut args = vec!["--http2", "--cacert", &ca, "--resolve", &resolve];
        args.extend_from_slice(&["-w", "\n%{http_version} %{http_code}"]);
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&args)
    };
    let (code, out, err) = run("api.localhost", "/orders/hello", &[]);
    assert_eq!(code, 0, "curl failed: {err}");
    assert_eq!(out, "{\"message\":\"hello from tollgate\"}\n2 200");

    let cert = certs.path("partner.pem").display().to_string();
    let key = certs.path("partner.key").display().to_string();
    let (code, out, err) = run(
        "partner.partners.localhost",
        "/echo/x",
        &["--cert", &cert, "--key", &key],
    );
    assert_eq!(code, 0, "curl failed: {err}");
    let (json, tail) = out.rsplit_once('\n').expect("status line");
    assert_eq!(tail, "2 200");
    let echo: serde_json::Value = serde_json::from_str(json).expect("echo JSON");
    assert_eq!(
        echo["headers"]["x-client-cert-subject"], "CN=acme,O=Acme Corp,C=US",
        "{echo}"
    );
    // A spoofed certificate header sent over HTTP/2 is dropped, the real one stands.
    let (code, out, err) = run(
        "partner.partners.localhost",
        "/echo/x",
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "-H",
            "x-client-cert-subject: CN=evil",
        ],
    );
    assert_eq!(code, 0, "curl failed: {err}");
    let (json, _) = out.rsplit_once('\n').expect("status line");
    let echo: serde_json::Value = serde_json::from_str(json).expect("echo JSON");
    assert_eq!(
        echo["headers"]["x-client-cert-subject"],
        "CN=acme,O=Acme Corp,C=US"
    );
    // Without the certificate: no handshake, over HTTP/2 as over HTTP/1.1.
    let (code, _, _) = run("partner.partners.localhost", "/echo/x", &[]);
    assert_ne!(code, 0);
}

#[test]
fn stage_cache_hits_over_http2() {
    let certs = gen_certs("http2-cache");
    let up = DemoUpstream::start();
    let yaml = example(
        "cache.yaml",
        &certs,
        &up,
        &[
            ("bind: 127.0.0.1:8080", "bind: 127.0.0.1:0\n    h2c: true"),
            ("bind: 127.0.0.1:9901", "bind: 127.0.0.1:0"),
        ],
    );
    let gw = Gateway::start(&yaml);
    let url = format!(
        "http://127.0.0.1:{}/prod/echo/item?q=7",
        gw.port_of("public")
    );
    let get = || {
        let (code, out, err) = curl(&["--http2-prior-knowledge", "-i", &url]);
        assert_eq!(code, 0, "curl failed: {err}");
        out
    };
    let first = get();
    assert!(first.starts_with("HTTP/2 200"), "{first}");
    assert!(first.contains("x-cache: Miss"), "{first}");
    let second = get();
    assert!(second.starts_with("HTTP/2 200"), "{second}");
    assert!(second.contains("x-cache: Hit"), "{second}");
    let body = |r: &str| r.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    assert_eq!(body(&first), body(&second));
    let len = body(&second).map(|b| b.len()).unwrap_or(0);
    assert!(
        second.contains(&format!("content-length: {len}")),
        "{second}"
    );
}

/// After a reload that changes a domain's mutual-TLS trust, an open HTTP/2 connection gets
/// GOAWAY; a stream the client still opens before it has seen the final GOAWAY runs on the
/// new configuration and is re-checked there like an HTTP/1.1 request: the partner's
/// certificate is no longer trusted, so 403 and nothing is forwarded.
#[test]
fn streams_after_a_trust_change_are_rechecked() {
    let certs = gen_certs("http2-recheck");
    let c = |f: &str| certs.path(f).display().to_string();
    let yaml = |truststore: &str| {
        format!(
            "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls:
      default_domain: partner.partners.localhost
custom_domains:
  - name: partner.partners.localhost
    certificate: {server}
    key: {key}
    mtls:
      truststore: {truststore}
    base_path_mappings:
      - base_path: (none)
        api: demo
        stage: prod
apis:
  - id: demo
    routes:
      - route: GET /prod/hello
        integration:
          type: MOCK
          status: 200
          body: 'hello from tollgate'
    stages:
      - name: prod
",
            server = c("server.pem"),
            key = c("server.key"),
        )
    };
    let gw = Gateway::start(&yaml(&c("partner-ca.pem")));
    let config = pki::client_config(
        &[certs.path("ca.pem")],
        Some((certs.path("partner.pem"), certs.path("partner.key"))),
        &[&rustls::version::TLS13],
        &[b"h2"],
    );
    let sock = pki::tcp_connect(gw.port, Duration::from_secs(10));
    let name = rustls::pki_types::ServerName::try_from("partner.partners.localhost").expect("name");
    let tls =
        pki::tls_handshake(sock, &config, name, Duration::from_secs(10)).expect("mTLS handshake");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut h = RawH2::over(Box::new(tls), &[]);
    h.authority = "partner.partners.localhost".into();
    h.get(1, true);
    h.expect_mock(1);
    // The partner CA leaves the truststore.
    std::fs::write(gw.config.path(), yaml(&c("other-ca.pem"))).expect("rewrite config");
    gw.proc.signal(libc::SIGHUP);
    let (g, _) = h.until("GOAWAY", |f| f.kind == GOAWAY);
    assert_eq!(g.error_code(), NO_ERROR);
    // Before answering the server's PING (so before its final GOAWAY), open a stream.
    h.get(3, true);
    let body = h.body_of(3);
    assert_eq!(String::from_utf8_lossy(&body), r#"{"message":"Forbidden"}"#);
    wait_log(
        &gw,
        "Access denied. Reason: Could not find issuer for certificate",
        1,
        Duration::from_secs(10),
    );
}

/// Rapid reset of ACCEPTED streams: each stream is reset only after the server took it
/// (a PING round trip in between), while its work (a slow upstream) still runs. Resets free
/// the client's stream slots, so without a bound the work would pile up; past 128 orphaned
/// streams the connection gets GOAWAY(ENHANCE_YOUR_CALM), and another connection is served.
#[test]
fn rapid_reset_of_accepted_streams_is_bounded() {
    let s = setup("");
    let port = s.gw.port_of("h2c");
    let mut c = RawH2::connect(port, &[]);
    let mut goaway = None;
    for i in 0..400u32 {
        let id = 1 + 2 * i;
        // The server may have said GOAWAY after the last reset and closed before this
        // request: then its GOAWAY is among what is left to read.
        let sent = c
            .try_get_with(id, "/prod/echo/slow", "x-echo-delay-ms", "5000")
            .and_then(|()| c.try_send(&frame(PING, 0, 0, b"accepted")));
        if sent.is_err() {
            let frames = c.until_closed();
            if let Some(g) = frames.into_iter().find(|f| f.kind == GOAWAY) {
                goaway = Some((i, g));
            }
            break;
        }
        // Once the PING is answered the server has taken the stream.
        let (f, seen) = c.until("PING ACK or GOAWAY", |f| {
            (f.kind == PING && f.flags & ACK != 0) || f.kind == GOAWAY
        });
        if let Some(g) = seen.into_iter().chain(Some(f)).find(|f| f.kind == GOAWAY) {
            goaway = Some((i, g));
            break;
        }
        if c.try_send(&frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()))
            .is_err()
        {
            let frames = c.until_closed();
            if let Some(g) = frames.into_iter().find(|f| f.kind == GOAWAY) {
                goaway = Some((i + 1, g));
            }
            break;
        }
    }
    let (after, g) = goaway.expect("no GOAWAY after 400 accepted-then-reset streams");
    assert_eq!(g.error_code(), ENHANCE_YOUR_CALM, "{g:?}");
    assert!(after > 128, "GOAWAY after only {after} streams");
    let mut other = RawH2::connect(port, &[]);
    other.get(1, true);
    other.expect_mock(1);
}
