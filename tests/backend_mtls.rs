//! Backend mutual TLS (BEHAVIOUR.md "Backend client certificates"): a stage's
//! `client_certificate` is presented to its HTTP integrations' TLS upstreams (target groups
//! with `tls:`), against a real gateway and a TLS upstream (rustls over std threads) that
//! REQUIRES a client certificate signed by its client CA and answers with the subject of
//! the certificate it verified.
//!
//! - a stage with the certificate gets 200 and the upstream saw its subject; a stage of the
//!   same API without one gets 502 (TLS 1.3: the upstream's refusal arrives after the
//!   handshake, on the first read) and the upstream served nothing; a TLS 1.2 upstream
//!   refuses inside the handshake: 503, as any connect failure to a target group;
//! - stages never share connections: one with another certificate, or with none, never
//!   rides a connection another stage authenticated (one worker, one target, alternating);
//! - a reload (SIGHUP) with a new certificate file presents the new subject, on client
//!   connections opened before it too;
//! - a bad pair (another certificate's key) is refused at load with its key path, and on
//!   reload the running configuration keeps serving; an expired certificate is refused
//!   naming the date it expired.

mod common;
mod pki;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;
use pki::TempDir;

const RELOADED: &str = "configuration reloaded from";
const REFUSED: &str = "reload refused";
const CERT_KEY: &str = "apis[0].stages[0].client_certificate";

/// A client certificate `<name>.pem`/`<name>.key` for `subj`, signed by the CA `<ca>`,
/// valid for `days` (negative: it expired that many days ago).
fn make_client(dir: &Path, ca: &str, name: &str, subj: &str, serial: &str, days: &str) {
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n",
    )
    .expect("write ext file");
    pki::make_key_and_csr(dir, name, subj);
    pki::openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            serial,
            "-days",
            days,
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// The test PKI: `server-ca` signs the upstream's certificate (`server`, localhost);
/// `clients-ca` signs the gateway's client certificates `gw` (CN=gateway), `beta`
/// (CN=beta) and `gw2` (CN=gateway-2, the rotated one); `rogue-ca` signs `rogue`.
fn make_pki() -> TempDir {
    let dir = TempDir::new("backend-mtls");
    pki::make_ca(&dir.0, "server-ca", "backend test server CA");
    pki::make_leaf(&dir.0, "server-ca", "server", "0x2001");
    pki::make_ca(&dir.0, "clients-ca", "backend test clients CA");
    make_client(
        &dir.0,
        "clients-ca",
        "gw",
        "/O=Example/CN=gateway",
        "0x3001",
        "2",
    );
    make_client(&dir.0, "clients-ca", "beta", "/CN=beta", "0x3002", "2");
    make_client(&dir.0, "clients-ca", "gw2", "/CN=gateway-2", "0x3003", "2");
    make_client(&dir.0, "clients-ca", "old", "/CN=old", "0x3004", "-1");
    pki::make_ca(&dir.0, "rogue-ca", "rogue clients CA");
    make_client(&dir.0, "rogue-ca", "rogue", "/CN=rogue", "0x3005", "2");
    dir
}

/// A TLS upstream requiring a client certificate signed by its client CA. Every request
/// is answered `200` with the verified certificate's subject as the body; each answer is
/// recorded (subject, connection number).
struct MtlsUpstream {
    port: u16,
    st: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    stop: AtomicBool,
    connections: AtomicUsize,
    /// (subject of the client certificate, connection number) per request served.
    served: Mutex<Vec<(String, usize)>>,
    /// Connections closed without serving a request (refused handshakes among them).
    unserved: AtomicUsize,
}

impl MtlsUpstream {
    fn start(dir: &TempDir, versions: &[&'static rustls::SupportedProtocolVersion]) -> Self {
        let provider = pki::provider();
        let mut roots = rustls::RootCertStore::empty();
        for c in pki::load_certs(&dir.path("clients-ca.pem")) {
            roots.add(c).expect("add client CA");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                pki::load_certs(&dir.path("server.pem")),
                pki::load_key(&dir.path("server.key")),
            )
            .expect("server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let st = Arc::new(State::default());
        let st2 = st.clone();
        let acceptor = std::thread::spawn(move || {
            while !st2.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let n = st2.connections.fetch_add(1, Ordering::SeqCst);
                        let (config, st3) = (config.clone(), st2.clone());
                        std::thread::spawn(move || serve(sock, config, &st3, n));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        MtlsUpstream {
            port,
            st,
            acceptor: Some(acceptor),
        }
    }

    fn served(&self) -> Vec<(String, usize)> {
        self.st
            .served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn subjects(&self) -> Vec<String> {
        self.served().into_iter().map(|(s, _)| s).collect()
    }
}

impl Drop for MtlsUpstream {
    fn drop(&mut self) {
        self.st.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn serve(sock: TcpStream, config: Arc<rustls::ServerConfig>, st: &State, n: usize) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut requests = 0;
    loop {
        while let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
            buf.drain(..end + 4); // GETs only: no body
            let subject = s
                .conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(
                    |der| match tollgate::transport::x509::parse_certificate(der) {
                        Ok(info) => info.subject_dn,
                        Err(e) => format!("unreadable certificate: {e}"),
                    },
                )
                .unwrap_or_else(|| "no certificate".to_string());
            requests += 1;
            st.served
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((subject.clone(), n));
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{subject}",
                subject.len()
            );
            if s.write_all(resp.as_bytes())
                .and_then(|()| s.flush())
                .is_err()
            {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    if requests == 0 {
        st.unserved.fetch_add(1, Ordering::SeqCst);
    }
}

/// One REST API (the listener's default) with `ANY /{proxy+}` to target group `secure`
/// (the upstream at `port`, TLS with the server CA) and `ANY /v12/{proxy+}` to `secure12`
/// (the TLS 1.2 upstream at `port12`); stages `prod` (certificate `cert`/`key`), `beta`
/// (`beta.pem`) and `open` (none). Passive ejection is off: the refused stage's 502s must
/// not take the target away from the others.
fn config(dir: &TempDir, port: u16, port12: u16, cert: &str, key: &str) -> String {
    let route = |path: &str, group: &str| {
        format!(
            "      - route: ANY {path}
        integration:
          type: HTTP_PROXY
          connection_type: VPC_LINK
          target_group: {group}
          uri: http://localhost/{{proxy}}
          timeout: 10s
"
        )
    };
    let group = |name: &str, port: u16| {
        format!(
            "  - name: {name}
    targets: [{{address: \"127.0.0.1:{port}\"}}]
    tls: {{ca_file: \"{}\", server_name: localhost}}
    passive: {{consecutive_failures: 0}}
",
            dir.p("server-ca.pem")
        )
    };
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: b
apis:
  - id: b
    routes:
{}{}    stages:
      - name: prod
        client_certificate: {{cert: \"{cert}\", key: \"{key}\"}}
      - name: beta
        client_certificate: {{cert: \"{}\", key: \"{}\"}}
      - name: open
target_groups:
{}{}",
        route("/{proxy+}", "secure"),
        route("/v12/{proxy+}", "secure12"),
        dir.p("beta.pem"),
        dir.p("beta.key"),
        group("secure", port),
        group("secure12", port12),
    )
}

#[track_caller]
fn assert_subject(r: &Response, subject: &str, what: &str) {
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, subject),
        "{what}: {}",
        r.describe()
    );
}

#[test]
fn a_stage_presents_its_certificate_and_only_its_own_connections_carry_it() {
    let dir = make_pki();
    let up = MtlsUpstream::start(&dir, &[&rustls::version::TLS13]);
    let up12 = MtlsUpstream::start(&dir, &[&rustls::version::TLS12]);
    let (cert, key) = (dir.p("gw.pem"), dir.p("gw.key"));
    let gw = Gateway::start_with_workers(&config(&dir, up.port, up12.port, &cert, &key), 1);

    // With the certificate: 200, the upstream verified CN=gateway (keep-alive, so a pooled
    // upstream connection is left behind).
    let mut c = gw.client();
    for i in 0..3 {
        assert_subject(
            &c.request(&get(&format!("/prod/a/{i}"))),
            "CN=gateway,O=Example",
            "prod",
        );
    }
    assert_eq!(
        up.st.connections.load(Ordering::SeqCst),
        1,
        "prod's requests share one pooled connection"
    );

    // Without: the upstream refuses the handshake (TLS 1.3: its alert is the answer to the
    // request) -> 502, and it served nothing more. The pooled, authenticated connection
    // of `prod` was not used for `open`.
    for i in 0..2 {
        let r = gw.send(&get(&format!("/open/a/{i}")));
        r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    }
    assert_eq!(up.served().len(), 3, "nothing served without a certificate");
    assert!(
        wait_until(Duration::from_secs(5), || up
            .st
            .unserved
            .load(Ordering::SeqCst)
            >= 2),
        "the upstream should have refused two handshakes"
    );

    // Another certificate on the same worker and target: its own connections, its own
    // subject, alternating with prod's (a shared pool would answer with the other's).
    let mut b = gw.client();
    for i in 0..3 {
        assert_subject(&b.request(&get(&format!("/beta/x/{i}"))), "CN=beta", "beta");
        assert_subject(
            &c.request(&get(&format!("/prod/x/{i}"))),
            "CN=gateway,O=Example",
            "prod after beta",
        );
        let r = gw.send(&get(&format!("/open/x/{i}")));
        assert_eq!(r.status, 502, "open after prod and beta: {}", r.describe());
    }
    let served = up.served();
    let conns_of = |subject: &str| {
        served
            .iter()
            .filter(|(s, _)| s == subject)
            .map(|(_, n)| *n)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (prod_conns, beta_conns) = (conns_of("CN=gateway,O=Example"), conns_of("CN=beta"));
    assert!(
        prod_conns.is_disjoint(&beta_conns),
        "a connection carried both stages: prod {prod_conns:?}, beta {beta_conns:?}"
    );
    assert_eq!(
        (prod_conns.len(), beta_conns.len()),
        (1, 1),
        "each stage keeps reusing its own connection: {served:?}"
    );
    assert!(
        served.iter().all(|(s, _)| s != "no certificate"),
        "{served:?}"
    );

    // A TLS 1.2 upstream: the certificate works there too; without one the handshake
    // itself fails, a connect failure to a target group: 503.
    assert_subject(
        &gw.send(&get("/prod/v12/a")),
        "CN=gateway,O=Example",
        "prod over TLS 1.2",
    );
    let r = gw.send(&get("/open/v12/a"));
    r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
    assert_eq!(up12.subjects(), vec!["CN=gateway,O=Example".to_string()]);
}

#[test]
fn a_reload_presents_the_new_certificate_and_a_bad_pair_is_refused() {
    let dir = make_pki();
    let up = MtlsUpstream::start(&dir, &[&rustls::version::TLS13]);
    // The stage's files: gw's pair for now.
    std::fs::copy(dir.path("gw.pem"), dir.path("stage.pem")).expect("copy");
    std::fs::copy(dir.path("gw.key"), dir.path("stage.key")).expect("copy");
    let (cert, key) = (dir.p("stage.pem"), dir.p("stage.key"));
    let yaml = config(&dir, up.port, dead_port(), &cert, &key);
    let gw = Gateway::start_with_workers(&yaml, 2);
    let mut c = gw.client();
    assert_subject(
        &c.request(&get("/prod/a")),
        "CN=gateway,O=Example",
        "before",
    );

    // Rotate: a new certificate and key in the same files, then SIGHUP.
    std::fs::copy(dir.path("gw2.pem"), dir.path("stage.pem")).expect("copy");
    std::fs::copy(dir.path("gw2.key"), dir.path("stage.key")).expect("copy");
    gw.proc.signal(libc::SIGHUP);
    wait_log(&gw, RELOADED, 1, Duration::from_secs(10));
    // On the client connection opened before the reload, and on new ones.
    assert_subject(
        &c.request(&get("/prod/b")),
        "CN=gateway-2",
        "after the reload",
    );
    for i in 0..4 {
        assert_subject(
            &gw.send(&get(&format!("/prod/c/{i}"))),
            "CN=gateway-2",
            "new connection after the reload",
        );
    }
    // Still nothing for the stage without a certificate.
    assert_eq!(gw.send(&get("/open/a")).status, 502);

    // A bad pair: the certificate of gw2 with the key of beta. Refused; gw2 stays.
    std::fs::copy(dir.path("beta.key"), dir.path("stage.key")).expect("copy");
    gw.proc.signal(libc::SIGHUP);
    wait_log(&gw, REFUSED, 1, Duration::from_secs(10));
    let log = gw.stderr();
    assert!(
        log.contains(&format!(
            "{CERT_KEY}.key: {key}: the key does not match the certificate"
        )),
        "the refusal should name the key path and file:\n{log}"
    );
    assert_eq!(log.matches(RELOADED).count(), 1, "{log}");
    assert_subject(
        &c.request(&get("/prod/d")),
        "CN=gateway-2",
        "after a refused reload",
    );
    assert_subject(
        &gw.send(&get("/prod/e")),
        "CN=gateway-2",
        "new connection after a refused reload",
    );

    // A certificate the upstream does not trust: the gateway presents it (it is valid),
    // the upstream refuses it: 502.
    std::fs::copy(dir.path("rogue.pem"), dir.path("stage.pem")).expect("copy");
    std::fs::copy(dir.path("rogue.key"), dir.path("stage.key")).expect("copy");
    gw.proc.signal(libc::SIGHUP);
    wait_log(&gw, RELOADED, 2, Duration::from_secs(10));
    let r = gw.send(&get("/prod/f"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    assert!(
        up.subjects().iter().all(|s| s != "CN=rogue"),
        "{:?}",
        up.subjects()
    );
}

#[test]
fn a_bad_pair_or_an_expired_certificate_is_refused_at_load() {
    let dir = make_pki();
    let (cert, other_key) = (dir.p("gw.pem"), dir.p("beta.key"));
    let yaml = config(&dir, dead_port(), dead_port(), &cert, &other_key);
    let file = write_temp("backend-mtls-bad.yaml", &yaml);
    let mut gw = Proc::spawn("bad pair", &["run", "--config", &file.display()]);
    let status = gw
        .wait_timeout(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the gateway started with a bad pair:\n{}", gw.stderr()));
    assert!(!status.success(), "exit status {status:?}");
    let err = gw.stderr();
    assert!(
        err.contains(&format!(
            "{CERT_KEY}.key: {other_key}: the key does not match the certificate"
        )),
        "the error should name the key path:\n{err}"
    );

    // Expired yesterday: refused naming the date, as openssl prints it.
    let yaml = config(
        &dir,
        dead_port(),
        dead_port(),
        &dir.p("old.pem"),
        &dir.p("old.key"),
    );
    let file = write_temp("backend-mtls-expired.yaml", &yaml);
    let (code, _out, err) = cli(&["check", &file.display()]);
    assert_ne!(code, 0, "an expired certificate passed the check:\n{err}");
    let end = pki::openssl(&dir.0, &["x509", "-in", "old.pem", "-noout", "-enddate"]);
    let end = String::from_utf8_lossy(&end.stdout);
    let date = end.trim().trim_start_matches("notAfter=");
    assert!(
        err.contains(&format!(
            "{CERT_KEY}.cert: {}: the certificate expired on {date}",
            dir.p("old.pem")
        )),
        "the error should name the date ({date}):\n{err}"
    );
}
