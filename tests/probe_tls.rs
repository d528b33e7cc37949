//! Probe regression suite, TLS (issue 10 items 1 and 6): what outside TLS probes found,
//! replayed against the real binary.
//!
//! - mTLS resumption must not outlive trust: a client that resumes a session (TLS 1.3
//!   ticket or TLS 1.2 session id) after a reload that removed its CA from the truststore,
//!   or revoked its serial by CRL, or after its certificate expired, is refused and nothing
//!   reaches the upstream; unchanged trust still resumes (also across a reload); tickets on
//!   mTLS domains stay small whatever chain the client presented.
//! - Open connections across reloads (red-team findings 1 and 4): a connection stays on its
//!   handshake domain when a reload reorders, adds or removes domains; one whose trust no
//!   longer holds (CRL revocation, CA removed, domain switched to required mTLS) is refused
//!   403 and closed on its next request, nothing forwarded; unchanged trust keeps serving.
//! - close_notify before the gateway closes (`Connection: close`, HTTP/1.0, idle timeout);
//!   `unrecognized_name` for an unknown SNI without a default domain; `protocol_version`
//!   for TLS 1.0/1.1 hellos; ALPN `http/1.0`; refused client certificates logged with
//!   API Gateway's "Access denied. Reason: ...".
//!
//! Certificates come from `certs/gen.sh DIR` and the `openssl` CLI (required: the tests fail
//! with a clear message without it). Everything is on 127.0.0.1; processes die on drop.

mod common;
mod pki;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use pki::{
    client_config, describe_io, gen_certs, legacy_client_hello, load_certs, make_key_and_csr,
    openssl, tcp_connect, tls_handshake, TempDir,
};
use rustls::pki_types::ServerName;
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, StreamOwned, SupportedProtocolVersion,
};

// ---------------------------------------------------------------------------------------
// Helpers: temp dirs, certificates, a blocking rustls client
// ---------------------------------------------------------------------------------------

/// An `openssl ca` set-up for the partner CA in `c` (index, crlnumber, serial).
fn partner_ca_conf(c: &TempDir) {
    if c.path("ca.cnf").exists() {
        return;
    }
    std::fs::write(c.path("index.txt"), "").expect("index");
    std::fs::write(c.path("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(c.path("serial.txt"), "4242\n").expect("serial");
    std::fs::write(
        c.path("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         serial = serial.txt\nnew_certs_dir = .\ndefault_md = sha256\ndefault_crl_days = 30\n\
         policy = pol\nunique_subject = no\ncopy_extensions = none\nx509_extensions = ext\n\
         [pol]\ncommonName = supplied\n[ext]\nbasicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n",
    )
    .expect("ca.cnf");
}

fn partner_ca(c: &TempDir, args: &[&str]) {
    partner_ca_conf(c);
    let mut all = vec![
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-keyfile",
        "partner-ca.key",
        "-cert",
        "partner-ca.pem",
    ];
    all.extend_from_slice(args);
    openssl(&c.0, &all);
}

/// `crl.pem`: the partner CA's CRL (revoking what `index.txt` says is revoked).
fn gen_crl(c: &TempDir) {
    partner_ca(c, &["-gencrl", "-out", "crl.pem"]);
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

struct Tls {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

fn tls_connect(port: u16, config: &Arc<ClientConfig>, sni: &str) -> Result<Tls, String> {
    let sock = tcp_connect(port, IO_TIMEOUT);
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    Ok(Tls {
        s: tls_handshake(sock, config, name, IO_TIMEOUT * 2)?,
        buf: Vec::new(),
    })
}

impl Tls {
    /// Send `bytes` and read one response (`Err` if the connection fails or ends first).
    fn request(&mut self, bytes: &[u8]) -> Result<Response, String> {
        self.s
            .write_all(bytes)
            .and_then(|_| self.s.flush())
            .map_err(|e| describe_io("write", &e))?;
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match parse_response(&self.buf, false, false) {
                Ok(Parsed::Done(r, used)) => {
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(format!("malformed response: {e}")),
            }
            if Instant::now() > deadline {
                return Err("TIMEOUT waiting for a response".into());
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) => {
                    return Err(format!(
                        "closed (close_notify) before a response; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(describe_io("read", &e)),
            }
        }
    }

    fn kind(&self) -> Option<HandshakeKind> {
        self.s.conn.handshake_kind()
    }

    /// Read until the stream ends: `Ok(bytes)` when it ended with the peer's close_notify,
    /// `Err` (rustls: `UnexpectedEof`) when the TCP connection closed without one.
    fn read_to_close(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        let _ = self.s.sock.set_read_timeout(Some(timeout));
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    return Err(format!(
                        "{} after {:?}",
                        describe_io("read to the end", &e),
                        String::from_utf8_lossy(&out)
                    ))
                }
            }
        }
    }
}

fn domain(name: &str, certs: &TempDir, extra: &str, api: &str) -> String {
    format!(
        "  - name: '{name}'\n    certificate: '{}'\n    key: '{}'\n{extra}    base_path_mappings:\n      - base_path: '(none)'\n        api: {api}\n        stage: 'prod'\n",
        certs.p("server.pem"),
        certs.p("server.key")
    )
}

const RELOADED: &str = "configuration reloaded from";
const APPLIED: &str = "reloaded configuration in force";

/// `tollgate reload --pid-file F`, then wait until the gateway logged the `n`th reload.
fn reload_and_wait(gw: &Gateway, pid_file: &str, n: usize) {
    let out = run_tollgate(&["reload", "--pid-file", pid_file]);
    assert!(
        out.status.success(),
        "tollgate reload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every worker logs when the new configuration is in force for new connections.
    let done = wait_until(Duration::from_secs(5), || {
        let log = gw.stderr();
        log.matches(RELOADED).count() >= n && log.matches(APPLIED).count() >= n * gw.workers
    });
    assert!(
        done,
        "the gateway did not log reload #{n}; stderr:\n{}",
        gw.stderr()
    );
}

/// Requests the counting upstream has seen (complete heads).
fn upstream_requests(up: &CountingUpstream) -> usize {
    let seen = up.received();
    seen.windows(4).filter(|w| w == b"\r\n\r\n").count()
}

/// Wait until the gateway's stderr contains `needle` (the log thread writes asynchronously).
#[track_caller]
fn assert_logged(gw: &Gateway, needle: &str) {
    let ok = wait_until(Duration::from_secs(5), || gw.stderr().contains(needle));
    assert!(
        ok,
        "the gateway did not log {needle:?}; stderr:\n{}",
        gw.stderr()
    );
}

// ---------------------------------------------------------------------------------------
// Item 1: mTLS resumption after trust changes
// ---------------------------------------------------------------------------------------

const MTLS_HOST: &str = "mtls.partners.localhost";

struct MtlsGateway {
    certs: TempDir,
    up: CountingUpstream,
    gw: Gateway,
    pid_file: String,
    _run: TempDir,
}

/// One TLS listener, one required-mTLS domain whose truststore is `live-truststore.pem`
/// (a copy of partner-ca.pem) and, with `crl`, whose CRL is `crl.pem` (initially revoking
/// nothing); the route proxies to a counting upstream with the forwarded cert headers.
fn mtls_gateway(tag: &str, crl: bool, workers: usize) -> MtlsGateway {
    start_mtls_gateway(tag, workers, |certs, up_port| {
        if crl {
            gen_crl(certs);
        }
        format!(
            "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d}apis:
  - id: partner
    routes:
      - route: ANY /echo/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{up_port}/{{proxy}}
    stages:
      - name: prod
",
            d = domain(MTLS_HOST, certs, &mtls_block(certs, crl), "partner"),
        )
    })
}

/// Certificates for `tag` (`live-truststore.pem` a copy of partner-ca.pem), a counting
/// upstream, and a gateway with `workers` workers and a pid file for reloads on the
/// configuration `yaml(certs, upstream port)`.
fn start_mtls_gateway(
    tag: &str,
    workers: usize,
    yaml: impl FnOnce(&TempDir, u16) -> String,
) -> MtlsGateway {
    let certs = gen_certs(tag);
    std::fs::copy(
        certs.path("partner-ca.pem"),
        certs.path("live-truststore.pem"),
    )
    .expect("copy truststore");
    let up = CountingUpstream::start();
    let run = TempDir::new(&format!("{tag}-run"));
    let pid_file = run.p("gateway.pid");
    let yaml = yaml(&certs, up.port);
    let gw = Gateway::start_with_args(&yaml, workers, &["--pid-file", &pid_file]);
    assert!(
        wait_until(Duration::from_secs(5), || Path::new(&pid_file).exists()),
        "no pid file"
    );
    MtlsGateway {
        certs,
        up,
        gw,
        pid_file,
        _run: run,
    }
}

fn echo_get() -> Vec<u8> {
    req("GET", "/echo/who", &[("Host", MTLS_HOST)], b"")
}

/// A connection that must be served: 200 from the upstream, with the given handshake kind.
#[track_caller]
fn served(m: &MtlsGateway, config: &Arc<ClientConfig>, kind: HandshakeKind, what: &str) {
    let before = upstream_requests(&m.up);
    let mut c = tls_connect(m.gw.port, config, MTLS_HOST)
        .unwrap_or_else(|e| panic!("{what}: handshake failed: {e}"));
    let r = c
        .request(&echo_get())
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    assert_eq!(c.kind(), Some(kind), "{what}: handshake kind");
    assert!(
        wait_until(Duration::from_secs(2), || upstream_requests(&m.up)
            == before + 1),
        "{what}: the upstream did not see exactly one request"
    );
}

/// A connection that must be refused at the TLS layer, promptly, with nothing forwarded;
/// the client's error must contain `expect` (the alert it received, or how it was closed).
#[track_caller]
fn refused(m: &MtlsGateway, config: &Arc<ClientConfig>, expect: &str, what: &str) {
    let before = upstream_requests(&m.up);
    let outcome = tls_connect(m.gw.port, config, MTLS_HOST).and_then(|mut c| {
        let kind = c.kind();
        c.request(&echo_get()).map(|r| (r, kind))
    });
    match outcome {
        Ok((r, kind)) => panic!(
            "{what}: expected a refusal, got {} on a {kind:?} handshake",
            r.describe()
        ),
        Err(e) => {
            eprintln!("{what}: refused: {e}");
            assert!(!e.contains("TIMEOUT"), "{what}: not refused promptly: {e}");
            assert!(e.contains(expect), "{what}: expected {expect:?}, got: {e}");
        }
    }
    nothing_forwarded_since(m, before, what);
}

fn partner_config(
    c: &TempDir,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    client_config(
        &[c.path("ca.pem")],
        Some((c.path("partner.pem"), c.path("partner.key"))),
        versions,
        &[b"http/1.1"],
    )
}

/// `openssl s_client` to the mTLS domain sending one request; with `sess_out` it saves the
/// session, with `sess_in` it resumes one (and presents no certificate unless `cert`).
fn s_client(
    m: &MtlsGateway,
    cert: bool,
    sess_in: Option<&str>,
    sess_out: Option<&str>,
    extra: &[&str],
) -> String {
    let c = &m.certs;
    let target = format!("127.0.0.1:{}", m.gw.port);
    let (ca, pem, key) = (c.p("ca.pem"), c.p("partner.pem"), c.p("partner.key"));
    let mut args = vec![
        "s_client",
        "-connect",
        &target,
        "-servername",
        MTLS_HOST,
        "-CAfile",
        &ca,
        "-tls1_3",
        "-ign_eof",
    ];
    if cert {
        args.extend_from_slice(&["-cert", &pem, "-key", &key]);
    }
    if let Some(f) = sess_in {
        args.extend_from_slice(&["-sess_in", f]);
    }
    if let Some(f) = sess_out {
        args.extend_from_slice(&["-sess_out", f]);
    }
    args.extend_from_slice(extra);
    let empty_conf = c.path("empty-openssl.cnf");
    std::fs::write(&empty_conf, "").expect("write empty openssl.cnf");
    let mut child = Command::new("openssl")
        .args(&args)
        .env("OPENSSL_CONF", &empty_conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl s_client");
    let request =
        format!("GET /echo/who HTTP/1.1\r\nHost: {MTLS_HOST}\r\nConnection: close\r\n\r\n");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(request.as_bytes());
    }
    // The gateway closes after the response (Connection: close); bound the wait anyway.
    // Output is drained by the waiting thread, so a long dump cannot block s_client.
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => out.expect("s_client output"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped (the
            // waiting thread has not returned).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("openssl s_client did not finish within 10 s");
        }
    };
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The partner's resumable sessions: rustls configs for TLS 1.3 and TLS 1.2 (their session
/// stores hold a ticket / session id) and a session file saved by `openssl s_client`.
struct PartnerSessions {
    tls13: Arc<ClientConfig>,
    tls12: Arc<ClientConfig>,
    sess: String,
}

impl PartnerSessions {
    fn configs(&self) -> [(&'static str, &Arc<ClientConfig>); 2] {
        [("TLS 1.3", &self.tls13), ("TLS 1.2", &self.tls12)]
    }

    /// After a change of trust: three resumptions per version, each refused with `alert`
    /// (`after` says after what), and the saved session (see [`saved_session_refused`]).
    #[track_caller]
    fn all_refused(&self, m: &MtlsGateway, alert: &str, after: &str, reason: &str) {
        for (name, cfg) in self.configs() {
            for i in 0..3 {
                refused(
                    m,
                    cfg,
                    alert,
                    &format!("{name} resumption {} {after}", i + 1),
                );
            }
        }
        saved_session_refused(m, &self.sess, reason);
    }
}

/// Partner configs for TLS 1.3 and TLS 1.2, each served on a full handshake and then on
/// three chained resumptions, and a session file saved by an `openssl s_client` that presented
/// the certificate and was served.
#[track_caller]
fn resumable_partner_sessions(m: &MtlsGateway) -> PartnerSessions {
    let tls13 = partner_config(&m.certs, TLS13);
    let tls12 = partner_config(&m.certs, TLS12);
    for (name, cfg) in [("TLS 1.3", &tls13), ("TLS 1.2", &tls12)] {
        served(m, cfg, HandshakeKind::Full, &format!("{name} first"));
        for i in 0..3 {
            served(
                m,
                cfg,
                HandshakeKind::Resumed,
                &format!("{name} chained resumption {}", i + 1),
            );
        }
    }
    let sess = m.certs.p("s_client.sess");
    let out = s_client(m, true, None, Some(&sess), &[]);
    assert!(
        out.contains("HTTP/1.1 200"),
        "s_client with the certificate:\n{out}"
    );
    PartnerSessions { tls13, tls12, sess }
}

/// An `openssl s_client` resuming the saved session `sess` without presenting a certificate
/// is refused with the certificate_required alert, reaches no upstream, and the gateway logs
/// `Access denied. Reason: <reason>`.
#[track_caller]
fn saved_session_refused(m: &MtlsGateway, sess: &str, reason: &str) {
    let before = upstream_requests(&m.up);
    let out = s_client(m, false, Some(sess), None, &[]);
    assert!(
        !out.contains("HTTP/1.1 200") && !out.contains("Reused, TLSv1.3"),
        "s_client resuming a saved session without a certificate was served:\n{out}"
    );
    assert!(
        out.contains("alert certificate required"),
        "s_client without a certificate: expected the certificate_required alert:\n{out}"
    );
    assert_eq!(
        upstream_requests(&m.up),
        before,
        "s_client reached the upstream"
    );
    assert_logged(&m.gw, &format!("Access denied. Reason: {reason}"));
}

/// Removing the client's CA from the truststore (reload) ends its resumable sessions:
/// rustls clients (TLS 1.3 tickets and TLS 1.2 session ids) and an `openssl s_client` that
/// resumes a saved session without presenting a certificate are all refused, and nothing
/// reaches the upstream. Before that, chained resumptions and a reload with unchanged trust
/// keep resuming.
#[test]
fn mtls_resumption_refused_after_the_ca_leaves_the_truststore() {
    let m = mtls_gateway("resume-ca", false, 2);
    let sessions = resumable_partner_sessions(&m);
    let up = m.up.received();
    assert!(
        String::from_utf8_lossy(&up).contains("x-client-cert-subject: CN=acme,O=Acme Corp,C=US"),
        "the upstream did not get the verified subject"
    );

    // A reload with the same trust keeps the sessions.
    reload_and_wait(&m.gw, &m.pid_file, 1);
    for (name, cfg) in sessions.configs() {
        served(
            &m,
            cfg,
            HandshakeKind::Resumed,
            &format!("{name} after a reload with unchanged trust"),
        );
    }

    // The partner CA leaves the truststore.
    std::fs::copy(
        m.certs.path("other-ca.pem"),
        m.certs.path("live-truststore.pem"),
    )
    .expect("replace truststore");
    reload_and_wait(&m.gw, &m.pid_file, 2);
    // The sessions are gone with the old trust: full handshakes, refused by alert.
    sessions.all_refused(
        &m,
        "received fatal alert: UnknownCA",
        "after the CA was removed",
        "Could not find issuer for certificate",
    );
}

/// Revoking the client's serial by CRL (reload) ends its resumable sessions too.
#[test]
fn mtls_resumption_refused_after_the_serial_is_revoked() {
    let m = mtls_gateway("resume-crl", true, 1);
    let sessions = resumable_partner_sessions(&m);

    partner_ca(&m.certs, &["-revoke", &m.certs.p("partner.pem")]);
    gen_crl(&m.certs);
    reload_and_wait(&m.gw, &m.pid_file, 1);
    sessions.all_refused(
        &m,
        "received fatal alert: CertificateRevoked",
        "after the serial was revoked",
        "certificate revoked",
    );
}

/// A session whose client certificate has expired since the full handshake is not served
/// on resumption (re-validated against the current time, truststore and CRL).
#[test]
fn mtls_resumption_refused_after_the_certificate_expired() {
    let m = mtls_gateway("resume-expiry", false, 1);
    let c = &m.certs;
    // A partner certificate that expires a few seconds from now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let end = now + 4;
    let fmt = |t: u64| {
        let out = Command::new("date")
            .args(["-u", "-d", &format!("@{t}"), "+%Y%m%d%H%M%SZ"])
            .output()
            .expect("run date");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    make_key_and_csr(&c.0, "brief", "/CN=brief");
    partner_ca(
        c,
        &[
            "-in",
            "brief.csr",
            "-out",
            "brief.pem",
            "-notext",
            "-startdate",
            &fmt(now - 60),
            "-enddate",
            &fmt(end),
        ],
    );
    let cfg = client_config(
        &[c.path("ca.pem")],
        Some((c.path("brief.pem"), c.path("brief.key"))),
        TLS13,
        &[b"http/1.1"],
    );
    served(&m, &cfg, HandshakeKind::Full, "the short-lived certificate");
    served(&m, &cfg, HandshakeKind::Resumed, "resumption before expiry");
    // Wait (on the wall clock, which is what expiry is about) until it has expired.
    let expired = wait_until(Duration::from_secs(10), || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() > end + 1)
            .unwrap_or(false)
    });
    assert!(expired, "the clock did not pass the certificate's notAfter");
    // Resumed (same trust), then re-verified and closed cleanly before any response.
    refused(
        &m,
        &cfg,
        "closed (close_notify) before a response",
        "resumption after the certificate expired",
    );
    assert_logged(&m.gw, "Access denied. Reason: certificate has expired");
}

/// Session tickets on an mTLS domain stay small whatever chain the client presented (the
/// stored identity does not travel in the ticket).
#[test]
fn mtls_session_tickets_are_small_with_a_large_client_chain() {
    let m = mtls_gateway("ticket-size", false, 1);
    let c = &m.certs;
    // partner.pem plus 60 unrelated certificates: about 28 KB presented.
    let mut chain = std::fs::read_to_string(c.path("partner.pem")).expect("partner.pem");
    let stranger = std::fs::read_to_string(c.path("stranger.pem")).expect("stranger.pem");
    for _ in 0..60 {
        chain.push_str(&stranger);
    }
    std::fs::write(c.path("bigchain.pem"), &chain).expect("write chain");
    let presented: usize = load_certs(&c.path("bigchain.pem"))
        .iter()
        .map(|d| d.len())
        .sum();
    assert!(presented > 20_000, "chain only {presented} bytes");
    let sess = c.p("big.sess");
    let (pem, key) = (c.p("bigchain.pem"), c.p("partner.key"));
    let out = s_client(
        &m,
        false,
        None,
        Some(&sess),
        &["-cert", &pem, "-key", &key, "-cert_chain", &pem],
    );
    assert!(
        out.contains("HTTP/1.1 200"),
        "s_client with a large chain:\n{out}"
    );
    let text = openssl(&c.0, &["sess_id", "-in", &sess, "-noout", "-text"]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    // The ticket is printed as a hex dump after "TLS session ticket:".
    let dump = text
        .split_once("TLS session ticket:")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no session ticket in the saved session:\n{text}"));
    let mut ticket = 0usize;
    for line in dump.lines().skip(1) {
        let line = line.trim();
        let Some((offset, rest)) = line.split_once(" - ") else {
            break;
        };
        if !offset.chars().all(|ch| ch.is_ascii_hexdigit()) {
            break;
        }
        // "xx xx xx-xx ..." then two spaces and the ASCII column.
        let hex = rest.split("   ").next().unwrap_or("");
        ticket += hex
            .split([' ', '-'])
            .filter(|t| t.len() == 2 && t.chars().all(|ch| ch.is_ascii_hexdigit()))
            .count();
    }
    eprintln!("presented chain {presented} bytes, session ticket {ticket} bytes");
    assert!(ticket > 0, "could not read the ticket size from:\n{text}");
    assert!(
        ticket <= 256,
        "a {ticket}-byte session ticket for a {presented}-byte client chain"
    );
    // And the small ticket resumes.
    let out = s_client(
        &m,
        false,
        Some(&sess),
        None,
        &["-cert", &pem, "-key", &key, "-cert_chain", &pem],
    );
    assert!(
        out.contains("Reused, TLSv1.3") && out.contains("HTTP/1.1 200"),
        "resuming with the small ticket:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Item 6: TLS details
// ---------------------------------------------------------------------------------------

/// A gateway with one TLS listener (no default domain) serving api.localhost, and, for
/// refused-certificate logs, an mTLS domain `mtls.partners.localhost` with a CRL.
fn plain_tls_gateway(certs: &TempDir, keepalive: &str) -> Gateway {
    let yaml = format!(
        "limits:
  keepalive_timeout: {keepalive}
listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d}apis:
  - id: site
    routes:
      - route: GET /hello
        integration:
          type: MOCK
          status: 200
          headers:
            content-type: text/plain
          body: 'hello'
    stages:
      - name: prod
",
        d = domain("api.localhost", certs, "", "site"),
    );
    Gateway::start_with_args(&yaml, 1, &[])
}

/// The gateway sends close_notify before it closes: after `Connection: close`, after an
/// HTTP/1.0 request, and when an idle keep-alive connection times out.
#[test]
fn close_notify_before_every_close() {
    let certs = gen_certs("close-notify");
    let gw = plain_tls_gateway(&certs, "400ms");
    let cfg = client_config(&[certs.path("ca.pem")], None, BOTH, &[b"http/1.1"]);
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "Connection: close",
            req(
                "GET",
                "/hello",
                &[("Host", "api.localhost"), ("Connection", "close")],
                b"",
            ),
        ),
        (
            "HTTP/1.0",
            b"GET /hello HTTP/1.0\r\nHost: api.localhost\r\n\r\n".to_vec(),
        ),
        (
            "idle keep-alive timeout",
            req("GET", "/hello", &[("Host", "api.localhost")], b""),
        ),
    ];
    for (what, request) in cases {
        let mut c = tls_connect(gw.port, &cfg, "api.localhost").expect("handshake");
        c.s.write_all(&request).expect("write");
        c.s.flush().expect("flush");
        let started = Instant::now();
        let all = c
            .read_to_close(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{what}: the gateway closed without close_notify: {e}"));
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.") && text.contains(" 200 ") && text.ends_with("hello"),
            "{what}: {text:?}"
        );
        if what.starts_with("idle") {
            assert!(
                started.elapsed() >= Duration::from_millis(300),
                "{what}: closed before the keep-alive timeout"
            );
        }
    }
}

/// A response cut short after its head went out (the upstream's chunk framing turns bad, or
/// it closes before its Content-Length) ends WITHOUT close_notify, so an HTTP/1.0 client,
/// whose body is close-delimited, sees a truncation instead of a clean end.
#[test]
fn a_response_cut_short_ends_without_close_notify() {
    let certs = gen_certs("cut-short");
    let cases: [(&str, &[u8]); 2] = [
        (
            "bad chunk framing",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\nworld\r\n0\r\n\r\n",
        ),
        (
            "upstream closed before its Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        ),
    ];
    let cfg = client_config(&[certs.path("ca.pem")], None, BOTH, &[b"http/1.1"]);
    for (what, answer) in cases {
        let up = ScriptedUpstream::start(answer, After::Close);
        let yaml = format!(
            "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{d}apis:
  - id: site
    routes:
      - route: GET /cut
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{port}/cut', timeout: 2s}}
      - route: GET /hello
        integration: {{type: MOCK, body: hello}}
    stages:
      - name: prod
",
            d = domain("api.localhost", &certs, "", "site"),
            port = up.port,
        );
        let gw = Gateway::start_with_args(&yaml, 1, &[]);
        let mut c = tls_connect(gw.port, &cfg, "api.localhost").expect("handshake");
        c.s.write_all(b"GET /cut HTTP/1.0\r\nHost: api.localhost\r\n\r\n")
            .expect("write");
        c.s.flush().expect("flush");
        let err = c
            .read_to_close(Duration::from_secs(5))
            .map(|all| String::from_utf8_lossy(&all).into_owned());
        assert!(
            err.is_err(),
            "{what}: the cut-short body ended with a clean close_notify: {err:?}"
        );
        // A complete HTTP/1.0 response still ends with close_notify (the control).
        let mut c = tls_connect(gw.port, &cfg, "api.localhost").expect("handshake");
        c.s.write_all(b"GET /hello HTTP/1.0\r\nHost: api.localhost\r\n\r\n")
            .expect("write");
        c.s.flush().expect("flush");
        let all = c.read_to_close(Duration::from_secs(5)).unwrap_or_else(|e| {
            panic!("{what}: a complete response closed without close_notify: {e}")
        });
        assert!(String::from_utf8_lossy(&all).ends_with("hello"));
    }
}

/// Bytes of the first flight a rustls client sends for `sni`.
fn client_hello(cfg: &Arc<ClientConfig>, sni: &str) -> Vec<u8> {
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    let mut conn = ClientConnection::new(cfg.clone(), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write_tls");
    }
    out
}

/// Send `hello` and collect what the server answers until it closes.
fn answer_to(port: u16, hello: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    sock.write_all(hello).expect("write hello");
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the gateway neither answered nor closed; got {out:02x?}")
            }
            Err(_) => break,
        }
    }
    out
}

/// A fatal alert record with `description`.
fn fatal_alert(description: u8) -> Vec<u8> {
    vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// An unknown SNI on a listener without a default domain gets a fatal `unrecognized_name`
/// alert (112), not a bare FIN.
#[test]
fn unknown_sni_without_default_domain_gets_unrecognized_name() {
    let certs = gen_certs("unknown-sni");
    let gw = plain_tls_gateway(&certs, "60s");
    let cfg = client_config(&[certs.path("ca.pem")], None, BOTH, &[b"http/1.1"]);
    for sni in ["unknown.localhost", "nobody.example.com"] {
        let answer = answer_to(gw.port, &client_hello(&cfg, sni));
        assert_eq!(answer, fatal_alert(112), "SNI {sni}: {answer:02x?}");
    }
    // The known name still works.
    let mut c = tls_connect(gw.port, &cfg, "api.localhost").expect("known SNI");
    let r = c
        .request(&req("GET", "/hello", &[("Host", "api.localhost")], b""))
        .expect("request");
    assert_eq!(r.status, 200);
}

/// TLS 1.0 and 1.1 hellos get a fatal `protocol_version` alert (70).
#[test]
fn legacy_hellos_get_protocol_version() {
    let certs = gen_certs("legacy");
    let gw = plain_tls_gateway(&certs, "60s");
    for version in [0x0301u16, 0x0302] {
        let answer = answer_to(
            gw.port,
            &legacy_client_hello(version, "api.localhost", false),
        );
        assert_eq!(
            answer,
            fatal_alert(70),
            "TLS {version:#06x} hello: {answer:02x?}"
        );
    }
    // openssl s_client -tls1_1 sees the alert too (when this openssl can still offer 1.1).
    let target = format!("127.0.0.1:{}", gw.port);
    let empty_conf = certs.path("empty-openssl.cnf");
    std::fs::write(&empty_conf, "").expect("write empty openssl.cnf");
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &target,
            "-servername",
            "api.localhost",
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .env("OPENSSL_CONF", &empty_conf)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("no protocols available") || text.contains("unknown option") {
        eprintln!("NOTE: this openssl cannot offer TLS 1.1; the raw hellos above decide");
    } else {
        assert!(
            text.contains("alert protocol version"),
            "s_client -tls1_1:\n{text}"
        );
    }
}

/// ALPN `http/1.0` is accepted (and `http/1.1` preferred when both are offered).
#[test]
fn alpn_http10_is_accepted() {
    let certs = gen_certs("alpn10");
    let gw = plain_tls_gateway(&certs, "60s");
    let ca = certs.path("ca.pem");
    let only10 = client_config(&[&ca], None, BOTH, &[b"http/1.0"]);
    let mut c = tls_connect(gw.port, &only10, "api.localhost").expect("ALPN http/1.0");
    assert_eq!(c.s.conn.alpn_protocol(), Some(&b"http/1.0"[..]));
    c.s.write_all(b"GET /hello HTTP/1.0\r\nHost: api.localhost\r\n\r\n")
        .expect("write");
    let all = c.read_to_close(Duration::from_secs(5)).expect("response");
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains(" 200 ") && text.ends_with("hello"),
        "{text:?}"
    );
    let both = client_config(&[&ca], None, BOTH, &[b"http/1.0", b"http/1.1"]);
    let c = tls_connect(gw.port, &both, "api.localhost").expect("ALPN both");
    assert_eq!(c.s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

/// Refused client certificates are logged with the reason in API Gateway's words.
#[test]
fn refused_client_certificates_are_logged_with_the_reason() {
    let m = mtls_gateway("refusal-log", true, 1);
    let c = &m.certs;
    let ca = c.path("ca.pem");
    // Untrusted issuer.
    let stranger = client_config(
        &[&ca],
        Some((c.path("stranger.pem"), c.path("stranger.key"))),
        BOTH,
        &[b"http/1.1"],
    );
    refused(
        &m,
        &stranger,
        "received fatal alert: UnknownCA",
        "a certificate from an untrusted CA",
    );
    assert_logged(
        &m.gw,
        "Access denied. Reason: Could not find issuer for certificate",
    );
    // No certificate on a required domain.
    let anon = client_config(&[&ca], None, BOTH, &[b"http/1.1"]);
    refused(&m, &anon, "received fatal alert", "no certificate");
    assert_logged(
        &m.gw,
        "Access denied. Reason: No client certificate presented",
    );
    // Revoked by the CRL.
    partner_ca(c, &["-revoke", &c.p("partner.pem")]);
    gen_crl(c);
    reload_and_wait(&m.gw, &m.pid_file, 1);
    refused(
        &m,
        &partner_config(c, BOTH),
        "received fatal alert: CertificateRevoked",
        "a revoked certificate",
    );
    assert_logged(&m.gw, "Access denied. Reason: certificate revoked");
    // Each line names the domain and the client address.
    let log = m.gw.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("certificate revoked"))
        .unwrap_or_default();
    assert!(
        line.contains(MTLS_HOST) && line.contains("127.0.0.1"),
        "the refusal line should name the domain and the client: {line}"
    );
}

// ---------------------------------------------------------------------------------------
// Red-team findings 1 and 4: open connections across reloads
// ---------------------------------------------------------------------------------------

const OPEN_HOST: &str = "open.partners.localhost";

/// A mutual-TLS block (required, truststore `live-truststore.pem`, optional CRL `crl.pem`)
/// forwarding the subject and serial.
fn mtls_block(certs: &TempDir, crl: bool) -> String {
    let crl_line = if crl {
        format!("      crl: '{}'\n", certs.p("crl.pem"))
    } else {
        String::new()
    };
    format!(
        "    mtls:
      truststore: '{}'
{crl_line}      mode: required
      forward_headers:
        subject: x-client-cert-subject
        serial: x-client-cert-serial
",
        certs.p("live-truststore.pem")
    )
}

/// Two domains on one TLS listener: `mtls.partners.localhost` (required mTLS, API `secret`,
/// proxied to `/secret/...`) and `open.partners.localhost` (API `partner`, proxied to
/// `/open/...`; with `open_mtls` it requires mTLS too). `order` lists which of them (`"mtls"`,
/// `"open"`, `"new"`: a third plain domain `new.partners.localhost`) appear, in that order.
fn partners_yaml(certs: &TempDir, up_port: u16, order: &[&str], open_mtls: bool) -> String {
    let mut domains = String::new();
    for which in order {
        domains.push_str(&match *which {
            "mtls" => domain(MTLS_HOST, certs, &mtls_block(certs, false), "secret"),
            "open" if open_mtls => domain(OPEN_HOST, certs, &mtls_block(certs, false), "partner"),
            "open" => domain(OPEN_HOST, certs, "", "partner"),
            "new" => domain("new.partners.localhost", certs, "", "partner"),
            other => panic!("unknown domain {other}"),
        });
    }
    format!(
        "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
{domains}apis:
  - id: secret
    routes:
      - route: ANY /r/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{up_port}/secret/{{proxy}}
    stages:
      - name: prod
  - id: partner
    routes:
      - route: ANY /r/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{up_port}/open/{{proxy}}
    stages:
      - name: prod
"
    )
}

/// [`partners_yaml`] with `order` and `open_mtls`, two workers, a pid file for reloads.
fn partners_gateway(tag: &str, order: &[&str], open_mtls: bool) -> MtlsGateway {
    start_mtls_gateway(tag, 2, |certs, up_port| {
        partners_yaml(certs, up_port, order, open_mtls)
    })
}

/// Rewrite the gateway's configuration file with [`partners_yaml`] for `order` and
/// `open_mtls`, and reload (the `n`th reload).
fn reload_partners(m: &MtlsGateway, order: &[&str], open_mtls: bool, n: usize) {
    let yaml = partners_yaml(&m.certs, m.up.port, order, open_mtls);
    std::fs::write(m.gw.config.path(), yaml).expect("rewrite the configuration");
    reload_and_wait(&m.gw, &m.pid_file, n);
}

/// A connection to the open domain without a client certificate.
fn anonymous_connection(m: &MtlsGateway) -> Tls {
    let anon_cfg = client_config(&[m.certs.path("ca.pem")], None, BOTH, &[b"http/1.1"]);
    tls_connect(m.gw.port, &anon_cfg, OPEN_HOST).expect("anonymous handshake")
}

fn get_on(host: &str, path: &str) -> Vec<u8> {
    req("GET", path, &[("Host", host)], b"")
}

/// `request` on `c` must be served 200 by the upstream, which must see `upstream_target`
/// (e.g. `GET /secret/x`); returns that forwarded head.
#[track_caller]
fn served_on(m: &MtlsGateway, c: &mut Tls, request: &[u8], upstream_target: &str) -> String {
    let r = c
        .request(request)
        .unwrap_or_else(|e| panic!("{upstream_target}: request failed: {e}"));
    assert_eq!(r.status, 200, "{upstream_target}: {}", r.describe());
    let line = format!("{upstream_target} HTTP/1.1\r\n");
    let seen = wait_until(Duration::from_secs(2), || {
        String::from_utf8_lossy(&m.up.received()).contains(&line)
    });
    let all = String::from_utf8_lossy(&m.up.received()).to_string();
    assert!(seen, "the upstream did not see {upstream_target}: {all:?}");
    let start = all.find(&line).unwrap_or(0);
    let head = &all[start..];
    head[..head.find("\r\n\r\n").unwrap_or(head.len())].to_string()
}

/// Give a wrongly forwarded request time to arrive, then check none did.
#[track_caller]
fn nothing_forwarded_since(m: &MtlsGateway, before: usize, what: &str) {
    let _ = wait_until(Duration::from_millis(300), || {
        upstream_requests(&m.up) > before
    });
    assert_eq!(
        upstream_requests(&m.up),
        before,
        "{what}: a request reached the upstream: {:?}",
        String::from_utf8_lossy(&m.up.received())
    );
}

/// The next request on the open connection `c` after a trust change: 403
/// `{"message":"Forbidden"}` with `Connection: close`, the connection then ends (with
/// close_notify), nothing reaches the upstream, and the gateway logs
/// `Access denied. Reason: <reason>`.
#[track_caller]
fn refused_on_open_connection(m: &MtlsGateway, c: &mut Tls, request: &[u8], reason: &str) {
    let before = upstream_requests(&m.up);
    let r = c
        .request(request)
        .unwrap_or_else(|e| panic!("no answer on the open connection: {e}"));
    r.assert_gateway_error(403, "Forbidden", "ForbiddenException");
    assert!(r.says_close(), "no Connection: close: {}", r.describe());
    let rest = c
        .read_to_close(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the connection did not end with close_notify: {e}"));
    assert!(rest.is_empty(), "more after the refusal: {rest:?}");
    nothing_forwarded_since(m, before, "refused open connection");
    assert_logged(&m.gw, &format!("Access denied. Reason: {reason}"));
}

/// A connection to the mTLS domain made with the partner's certificate.
fn verified_connection(m: &MtlsGateway) -> Tls {
    tls_connect(m.gw.port, &partner_config(&m.certs, BOTH), MTLS_HOST).expect("verified handshake")
}

/// `GET /echo/NAME` on the mTLS domain on `c` must be served, the upstream seeing
/// `GET /NAME`; returns that forwarded head.
#[track_caller]
fn served_echo(m: &MtlsGateway, c: &mut Tls, name: &str) -> String {
    served_on(
        m,
        c,
        &get_on(MTLS_HOST, &format!("/echo/{name}")),
        &format!("GET /{name}"),
    )
}

/// An [`mtls_gateway`] with two workers and a verified connection open on it, already
/// served once (`GET /before`); returns both and that forwarded head.
fn open_verified_connection(tag: &str, crl: bool) -> (MtlsGateway, Tls, String) {
    let m = mtls_gateway(tag, crl, 2);
    let mut c = verified_connection(&m);
    let head = served_echo(&m, &mut c, "before");
    (m, c, head)
}

/// The first reload, after a trust change: the next request on the open verified
/// connection `c` (`GET /echo/after`) is refused for `reason`.
#[track_caller]
fn refused_after_first_reload(m: &MtlsGateway, c: &mut Tls, reason: &str) {
    reload_and_wait(&m.gw, &m.pid_file, 1);
    refused_on_open_connection(m, c, &get_on(MTLS_HOST, "/echo/after"), reason);
}

/// The forwarded head carries the partner certificate's subject.
#[track_caller]
fn assert_cert_forwarded(head: &str) {
    assert!(head.contains("x-client-cert-subject: CN=acme"), "{head}");
}

/// `GET /r/NAME` with the Host `host` on `c` must be served by that domain's API, the
/// upstream seeing `GET /API/NAME` (`/secret/...` for the mTLS domain, `/open/...` for the
/// open one); returns that forwarded head.
#[track_caller]
fn served_partner(m: &MtlsGateway, c: &mut Tls, host: &str, name: &str) -> String {
    let api = if host == MTLS_HOST { "secret" } else { "open" };
    served_on(
        m,
        c,
        &get_on(host, &format!("/r/{name}")),
        &format!("GET /{api}/{name}"),
    )
}

/// `request` on `c` gets 421 Misdirected Request and nothing reaches the upstream.
#[track_caller]
fn misdirected_on(m: &MtlsGateway, c: &mut Tls, request: &[u8], what: &str) {
    let before = upstream_requests(&m.up);
    let r = c
        .request(request)
        .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
    r.assert_gateway_error(421, "Misdirected Request", "MisdirectedRequestException");
    nothing_forwarded_since(m, before, what);
}

/// Finding 1: a connection's handshake domain survives reloads by name, not by position.
/// An anonymous connection made for the open domain gets 421 for the mTLS domain's Host
/// before and after a reload that swaps the two domains (it was served 200 on the mTLS
/// domain's API, without a certificate, when the position was kept); a verified connection
/// keeps its own domain (200, certificate forwarded) and gets 421 for the other one; after
/// a reload that removes its domain and adds another in front, it is served on no domain.
#[test]
fn domain_reorder_reload_keeps_connections_on_their_handshake_domain() {
    let m = partners_gateway("swap", &["mtls", "open"], false);
    let mut anon = anonymous_connection(&m);
    let mut verified = verified_connection(&m);

    let r = anon
        .request(&get_on(MTLS_HOST, "/r/before"))
        .expect("request before the reload");
    r.assert_gateway_error(421, "Misdirected Request", "MisdirectedRequestException");
    served_partner(&m, &mut anon, OPEN_HOST, "o1");
    let head = served_partner(&m, &mut verified, MTLS_HOST, "v1");
    assert_cert_forwarded(&head);

    // Swap the two domains.
    reload_partners(&m, &["open", "mtls"], false, 1);
    misdirected_on(
        &m,
        &mut anon,
        &get_on(MTLS_HOST, "/r/SECRET-without-cert"),
        "anonymous connection, mTLS Host, after the swap",
    );
    served_partner(&m, &mut anon, OPEN_HOST, "o2");
    let head = served_partner(&m, &mut verified, MTLS_HOST, "v2");
    assert_cert_forwarded(&head);
    misdirected_on(
        &m,
        &mut verified,
        &get_on(OPEN_HOST, "/r/cert-to-open"),
        "verified connection, open Host, after the swap",
    );

    // The mTLS domain leaves; a new domain comes first.
    reload_partners(&m, &["new", "open"], false, 2);
    misdirected_on(
        &m,
        &mut verified,
        &get_on(MTLS_HOST, "/r/gone"),
        "connection whose domain left",
    );
    served_partner(&m, &mut anon, OPEN_HOST, "o3");
    assert!(
        !String::from_utf8_lossy(&m.up.received()).contains("SECRET"),
        "the upstream got the anonymous request for the mTLS domain"
    );
}

/// Finding 4: a verified connection already open when its serial is revoked by CRL
/// (reload) gets 403 + close on its next request; nothing is forwarded.
#[test]
fn open_verified_connection_refused_after_its_serial_is_revoked() {
    let (m, mut c, head) = open_verified_connection("open-crl", true);
    assert_cert_forwarded(&head);

    partner_ca(&m.certs, &["-revoke", &m.certs.p("partner.pem")]);
    gen_crl(&m.certs);
    refused_after_first_reload(&m, &mut c, "certificate revoked");
}

/// Finding 4: a verified connection already open when its CA leaves the truststore
/// (reload) gets 403 + close on its next request.
#[test]
fn open_verified_connection_refused_after_the_ca_leaves_the_truststore() {
    let (m, mut c, _) = open_verified_connection("open-ca", false);
    std::fs::copy(
        m.certs.path("other-ca.pem"),
        m.certs.path("live-truststore.pem"),
    )
    .expect("replace truststore");
    refused_after_first_reload(&m, &mut c, "Could not find issuer for certificate");
}

/// Finding 4: an anonymous connection already open on a domain that a reload switches to
/// required mutual TLS gets 403 + close on its next request.
#[test]
fn open_anonymous_connection_refused_after_its_domain_requires_mtls() {
    let m = partners_gateway("open-to-mtls", &["mtls", "open"], false);
    let mut c = anonymous_connection(&m);
    served_partner(&m, &mut c, OPEN_HOST, "before");
    reload_partners(&m, &["mtls", "open"], true, 1);
    refused_on_open_connection(
        &m,
        &mut c,
        &get_on(OPEN_HOST, "/r/after"),
        "No client certificate presented",
    );
}

/// Control for finding 4: reloads that keep trusting the client (same files; a truststore
/// that gains another CA) keep the open verified connection serving, certificate forwarded.
#[test]
fn open_verified_connection_survives_reloads_that_keep_trusting_it() {
    let (m, mut c, _) = open_verified_connection("open-keep", true);
    reload_and_wait(&m.gw, &m.pid_file, 1);
    let head = served_echo(&m, &mut c, "same");
    assert_cert_forwarded(&head);
    // Another CA joins the truststore: the trust changed, the client still verifies.
    let mut both = std::fs::read(m.certs.path("partner-ca.pem")).expect("partner-ca.pem");
    both.extend(std::fs::read(m.certs.path("other-ca.pem")).expect("other-ca.pem"));
    std::fs::write(m.certs.path("live-truststore.pem"), both).expect("write truststore");
    reload_and_wait(&m.gw, &m.pid_file, 2);
    let head = served_echo(&m, &mut c, "wider");
    assert_cert_forwarded(&head);
    assert!(
        !m.gw.stderr().contains("Access denied"),
        "{}",
        m.gw.stderr()
    );
}
