//! Test certificates made with the `openssl` CLI (a CA and leaves it signs, or the set
//! `certs/gen.sh` writes), scratch directories for them, and rustls client configs that load
//! them; shared by the TLS test binaries (`mod pki;`).
#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

/// A directory under the target's test scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh `<test binary>-<tag>-<pid>-<nanos>-<seq>`.
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}-{tag}-{}-{nanos}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Absolute path as text, for YAML configs and command lines.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails the test with a clear message when the `openssl` CLI is not on PATH.
pub fn require_openssl() {
    let ok = Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need the openssl CLI on PATH (apt-get install openssl); refusing to pass \
         without it"
    );
}

/// `certs/gen.sh DIR` in a fresh [`TempDir`]: ca, server (localhost, api.localhost,
/// *.partners.localhost, 127.0.0.1), partner-ca, partner (CN=acme), other-ca, stranger.
pub fn gen_certs(tag: &str) -> TempDir {
    require_openssl();
    let dir = TempDir::new(tag);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join("gen.sh");
    let out = Command::new(&script)
        .arg(&dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "certs/gen.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "ca.pem",
        "server.pem",
        "server.key",
        "partner.pem",
        "stranger.pem",
    ] {
        assert!(dir.path(f).exists(), "certs/gen.sh did not write {f}");
    }
    dir
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    let pem = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    assert!(!certs.is_empty(), "no certificate in {}", path.display());
    certs
}

/// The private key of a PEM file.
pub fn load_key(path: &Path) -> PrivateKeyDer<'static> {
    let pem = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    rustls_pemfile::private_key(&mut &pem[..])
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
        .unwrap_or_else(|| panic!("no key in {}", path.display()))
}

/// A rustls client trusting the CA files `cas`, optionally presenting `client` (certificate
/// chain file, key file), offering `versions` and `alpn`. Its session cache (resumption) is
/// the default in-memory one: later connections with the same config resume.
pub fn client_config(
    cas: &[impl AsRef<Path>],
    client: Option<(PathBuf, PathBuf)>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        for c in load_certs(ca.as_ref()) {
            roots.add(c).expect("add CA");
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(&cert), load_key(&key))
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

pub fn is_timeout(kind: ErrorKind) -> bool {
    kind == ErrorKind::WouldBlock || kind == ErrorKind::TimedOut
}

/// An I/O error for a failure message: `TIMEOUT during <what>` when it was a read/write
/// timeout (the peer hung), else `<what>: <error> (<kind>)`.
pub fn describe_io(what: &str, e: &std::io::Error) -> String {
    if is_timeout(e.kind()) {
        format!("TIMEOUT during {what}: {e}")
    } else {
        format!("{what}: {e} ({:?})", e.kind())
    }
}

/// A TCP connection to 127.0.0.1:`port` with `timeout` on reads and writes.
pub fn tcp_connect(port: u16, timeout: Duration) -> TcpStream {
    let sock = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("tcp connect 127.0.0.1:{port}: {e}"));
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    sock.set_write_timeout(Some(timeout)).expect("timeout");
    sock
}

/// The client handshake as `name` over `sock`, within `limit`. `Err` says why it failed
/// (`TIMEOUT` when it hung).
pub fn tls_handshake(
    mut sock: TcpStream,
    config: &Arc<ClientConfig>,
    name: ServerName<'static>,
    limit: Duration,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let mut conn = ClientConnection::new(config.clone(), name).map_err(|e| format!("{e}"))?;
    let deadline = Instant::now() + limit;
    while conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err("TIMEOUT: handshake did not finish".into());
        }
        conn.complete_io(&mut sock)
            .map_err(|e| describe_io("handshake", &e))?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// A ClientHello record for a pre-1.2 protocol (`version` 0x0301 or 0x0302), without the
/// supported_versions extension, with SNI `sni`, and (`sig_algs`) with a TLS 1.2-style
/// signature_algorithms extension, which real 1.0/1.1 clients do not send.
pub fn legacy_client_hello(version: u16, sni: &str, sig_algs: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // session id
    let suites: [u16; 4] = [0xc009, 0xc013, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    let name = sni.as_bytes();
    let mut sn = Vec::new();
    sn.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sn.extend_from_slice(name);
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sn);
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17]); // groups
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]); // point formats
    if sig_algs {
        ext.extend_from_slice(&[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04]);
    }
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// `openssl ARGS` in `dir`; fails the test when it cannot run or fails. Its output.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = match Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run the `openssl` CLI ({e}): these tests generate their certificates with \
             it; install openssl"
        ),
    };
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A self-signed CA `<name>.pem` / `<name>.key`.
pub fn make_ca(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A new EC P-256 key `<name>.key` and a certificate request `<name>.csr` for it with the
/// subject `subj` (e.g. `/CN=localhost`).
pub fn make_key_and_csr(dir: &Path, name: &str, subj: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subj,
        ],
    );
}

/// A server certificate `<name>.pem` / `<name>.key` for localhost and 127.0.0.1, signed
/// by the CA `<ca>`.
pub fn make_leaf(dir: &Path, ca: &str, name: &str, serial: &str) {
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write ext file");
    make_key_and_csr(dir, name, "/CN=localhost");
    openssl(
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
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}
