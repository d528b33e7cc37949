//! `TlsStream` end to end on loopback: a rustls server and client over monoio sockets, with
//! certificates made at test time by the `openssl` CLI (a throwaway CA, a server certificate
//! for `localhost` / `127.0.0.1`, and a second "rogue" CA the client does not trust). Also
//! checks interop with `curl` and `openssl s_client`. Every socket is on 127.0.0.1 and every
//! wait is bounded.

mod pki;
use pki::{make_ca, make_leaf};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use monoio::buf::{IoBufMut, VecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::task::JoinHandle;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, ServerConfig, ServerConnection};
use tollgate::transport::tls_io::{client_config_from_ca_pem, insecure_client_config, TlsStream};

const STEP: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

struct Pems {
    ca: Vec<u8>,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
    rogue_cert: Vec<u8>,
    rogue_key: Vec<u8>,
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "tollgate-tls-io-{tag}-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, data).expect("write temp file");
        path
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("read generated file")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generated once per test process; the files are read into memory and removed.
fn pems() -> &'static Pems {
    static PEMS: OnceLock<Pems> = OnceLock::new();
    PEMS.get_or_init(|| {
        let dir = TempDir::new("certs");
        make_ca(&dir.0, "ca", "tollgate test CA");
        make_leaf(&dir.0, "ca", "server", "0x1001");
        make_ca(&dir.0, "rogue-ca", "rogue test CA");
        make_leaf(&dir.0, "rogue-ca", "rogue", "0x2002");
        Pems {
            ca: dir.read("ca.pem"),
            server_cert: dir.read("server.pem"),
            server_key: dir.read("server.key"),
            rogue_cert: dir.read("rogue.pem"),
            rogue_key: dir.read("rogue.key"),
        }
    })
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config_from(cert_pem: &[u8], key_pem: &[u8]) -> Arc<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .expect("parse certs");
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .expect("parse key")
        .expect("a private key");
    let mut config = ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server cert");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn server_config() -> Arc<ServerConfig> {
    server_config_from(&pems().server_cert, &pems().server_key)
}

fn rogue_server_config() -> Arc<ServerConfig> {
    server_config_from(&pems().rogue_cert, &pems().rogue_key)
}

fn client_config() -> Arc<ClientConfig> {
    client_config_from_ca_pem(&pems().ca).expect("client config")
}

fn server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).expect("server name")
}

// ---------------------------------------------------------------------------------------
// Runtime helpers
// ---------------------------------------------------------------------------------------

fn run<F: Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("monoio runtime")
        .block_on(f)
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match monoio::time::timeout(STEP, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} timed out after {STEP:?}"),
    }
}

fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Accept one connection, run the server handshake, hand the outcome to `handler`.
fn serve_one<F, Fut>(config: Arc<ServerConfig>, handler: F) -> (SocketAddr, JoinHandle<Fut::Output>)
where
    F: FnOnce(io::Result<TlsStream<ServerConnection>>) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: 'static,
{
    let (listener, addr) = bind();
    let handle = monoio::spawn(async move {
        let (tcp, _) = within("accept", listener.accept()).await.expect("accept");
        let tls = within("server handshake", TlsStream::accept(tcp, config)).await;
        handler(tls).await
    });
    (addr, handle)
}

async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> io::Result<TlsStream<ClientConnection>> {
    let tcp = within("tcp connect", TcpStream::connect_addr(addr))
        .await
        .expect("tcp connect");
    within(
        "client handshake",
        TlsStream::connect(tcp, config, server_name(name)),
    )
    .await
}

/// Read exactly `n` bytes (panics on EOF first).
async fn read_exact<R: AsyncReadRent>(r: &mut R, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = out.len();
        let (res, slice) = within("read", r.read(out.slice_mut(len..n))).await;
        out = slice.into_inner();
        let got = res.expect("read");
        assert!(got > 0, "EOF after {len} of {n} bytes");
    }
    out
}

/// One read; its result.
async fn read_once<R: AsyncReadRent>(r: &mut R, cap: usize) -> io::Result<Vec<u8>> {
    let (res, buf) = within("read", r.read(Vec::with_capacity(cap))).await;
    res.map(|_| buf)
}

async fn write_all<W: AsyncWriteRent>(w: &mut W, data: Vec<u8>) {
    let (res, _) = within("write", w.write_all(data)).await;
    res.expect("write_all");
}

/// Echo until EOF / close_notify, then close_notify back. Returns the bytes echoed.
async fn echo(mut tls: TlsStream<ServerConnection>) -> usize {
    let mut total = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (res, b) = within("echo read", tls.read(buf)).await;
        buf = b;
        let n = res.expect("echo read");
        if n == 0 {
            break;
        }
        total += n;
        let (res, b) = within("echo write", tls.write_all(buf)).await;
        buf = b;
        res.expect("echo write");
    }
    let _ = within("echo shutdown", tls.shutdown()).await;
    total
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 9) as u8) ^ seed)
        .collect()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

// ---------------------------------------------------------------------------------------
// In-process client <-> server
// ---------------------------------------------------------------------------------------

async fn echo_scenario() {
    let (addr, server) = serve_one(server_config(), |tls| echo(tls.expect("accept")));
    let mut client = connect(addr, client_config(), "localhost")
        .await
        .expect("connect");

    // 1 byte.
    write_all(&mut client, b"x".to_vec()).await;
    assert_eq!(read_exact(&mut client, 1).await, b"x");

    // 16 KiB.
    let msg = pattern(16 * 1024, 7);
    write_all(&mut client, msg.clone()).await;
    assert_eq!(read_exact(&mut client, msg.len()).await, msg);

    // Several writes and reads on the same connection, odd sizes.
    for (i, size) in [3usize, 1000, 4096, 17_000, 40_000, 1, 65_536, 5]
        .iter()
        .enumerate()
    {
        let msg = pattern(*size, i as u8);
        write_all(&mut client, msg.clone()).await;
        let back = read_exact(&mut client, msg.len()).await;
        assert!(back == msg, "round trip {i} ({size} bytes) differs");
    }

    within("client shutdown", client.shutdown())
        .await
        .expect("shutdown");
    assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
    let echoed = within("server task", server).await;
    assert_eq!(
        echoed,
        1 + 16 * 1024 + 3 + 1000 + 4096 + 17_000 + 40_000 + 1 + 65_536 + 5
    );
}

#[test]
fn handshake_then_echo_1_byte_16k_and_many_round_trips() {
    run(echo_scenario());
}

#[test]
fn echo_works_on_the_legacy_and_io_uring_drivers() {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("legacy runtime")
        .block_on(echo_scenario());
    if monoio::utils::detect_uring() {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()
            .expect("io_uring runtime")
            .block_on(echo_scenario());
    } else {
        eprintln!("io_uring unavailable here; only the legacy driver was exercised");
    }
}

#[test]
fn five_mib_each_way_with_checksums() {
    const SIZE: usize = 5 * 1024 * 1024;
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            // Receive 5 MiB, hashing as it comes in 64 KiB reads.
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            let mut got = 0;
            let mut buf = Vec::with_capacity(64 * 1024);
            while got < SIZE {
                buf.clear();
                let (res, b) = within("server read", tls.read(buf)).await;
                buf = b;
                let n = res.expect("server read");
                assert!(n > 0, "EOF after {got} bytes");
                ctx.update(&buf[..n]);
                got += n;
            }
            assert_eq!(got, SIZE);
            write_all(&mut tls, ctx.finish().as_ref().to_vec()).await;
            // Send 5 MiB back in one write.
            write_all(&mut tls, pattern(SIZE, 99)).await;
            within("server shutdown", tls.shutdown())
                .await
                .expect("shutdown");
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        let up = pattern(SIZE, 42);
        let up_sum = sha256(&up);
        write_all(&mut client, up).await;
        assert_eq!(read_exact(&mut client, 32).await, up_sum, "upload checksum");

        let down = read_exact(&mut client, SIZE).await;
        assert_eq!(
            sha256(&down),
            sha256(&pattern(SIZE, 99)),
            "download checksum"
        );
        assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
        within("server task", server).await;
    });
}

#[test]
fn small_reads_drain_large_records() {
    // 100 KiB sent at once, read back 1000 bytes at a time: decrypted records stay buffered
    // in rustls across many reads, and records straddle socket reads.
    run(async {
        let msg = pattern(100 * 1024, 3);
        let expect = msg.clone();
        let (addr, server) = serve_one(server_config(), move |tls| async move {
            let mut tls = tls.expect("accept");
            write_all(&mut tls, msg).await;
            within("server shutdown", tls.shutdown())
                .await
                .expect("shutdown");
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        let mut got = Vec::new();
        loop {
            let chunk = read_once(&mut client, 1000).await.expect("read");
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 1000);
            got.extend_from_slice(&chunk);
        }
        assert!(got == expect, "payload differs ({} bytes read)", got.len());
        within("server task", server).await;
    });
}

#[test]
fn alpn_is_http11_and_server_sees_sni() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            let conn = tls.get_ref();
            let seen = (
                conn.alpn_protocol().map(<[u8]>::to_vec),
                conn.server_name().map(str::to_string),
                conn.protocol_version(),
            );
            let _ = within("server shutdown", tls.shutdown()).await;
            seen
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        assert_eq!(client.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(
            client.get_ref().protocol_version(),
            Some(ProtocolVersion::TLSv1_3)
        );
        assert!(client.tcp().peer_addr().expect("peer").ip().is_loopback());
        let (alpn, sni, version) = within("server task", server).await;
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(sni.as_deref(), Some("localhost"));
        assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
        assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
    });
}

#[test]
fn tls12_round_trip() {
    run(async {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pems().ca[..]) {
            roots.add(cert.expect("ca cert")).expect("add root");
        }
        let config = ClientConfig::builder_with_provider(ring())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("tls12")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (addr, server) = serve_one(server_config(), |tls| echo(tls.expect("accept")));
        let mut client = connect(addr, Arc::new(config), "localhost")
            .await
            .expect("connect");
        assert_eq!(
            client.get_ref().protocol_version(),
            Some(ProtocolVersion::TLSv1_2)
        );
        let msg = pattern(100_000, 12);
        write_all(&mut client, msg.clone()).await;
        assert_eq!(read_exact(&mut client, msg.len()).await, msg);
        within("client shutdown", client.shutdown())
            .await
            .expect("shutdown");
        assert_eq!(within("server task", server).await, 100_000);
    });
}

#[test]
fn ip_address_server_name_is_verified() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| echo(tls.expect("accept")));
        let mut client = connect(addr, client_config(), "127.0.0.1")
            .await
            .expect("connect by IP");
        write_all(&mut client, b"ip".to_vec()).await;
        assert_eq!(read_exact(&mut client, 2).await, b"ip");
        within("client shutdown", client.shutdown())
            .await
            .expect("shutdown");
        within("server task", server).await;
    });
}

#[test]
fn client_refuses_certificate_from_untrusted_ca() {
    run(async {
        let (addr, server) = serve_one(rogue_server_config(), |tls| async move { tls.err() });
        let err = connect(addr, client_config(), "localhost")
            .await
            .expect_err("handshake must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // The server learns about it from the client's alert.
        let server_err = within("server task", server)
            .await
            .expect("server handshake must fail");
        assert_eq!(
            server_err.kind(),
            io::ErrorKind::InvalidData,
            "{server_err}"
        );
    });
}

#[test]
fn client_refuses_certificate_for_another_name() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move { tls.err() });
        let err = connect(addr, client_config(), "example.com")
            .await
            .expect_err("handshake must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(within("server task", server).await.is_some());
    });
}

#[test]
fn insecure_config_connects_to_untrusted_server() {
    run(async {
        let (addr, server) = serve_one(rogue_server_config(), |tls| echo(tls.expect("accept")));
        let config = insecure_client_config().expect("insecure config");
        let mut client = connect(addr, config, "not-the-right-name.example")
            .await
            .expect("insecure connect");
        assert_eq!(client.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
        write_all(&mut client, b"anyway".to_vec()).await;
        assert_eq!(read_exact(&mut client, 6).await, b"anyway");
        within("client shutdown", client.shutdown())
            .await
            .expect("shutdown");
        assert_eq!(within("server task", server).await, 6);
    });
}

#[test]
fn close_notify_reads_as_zero_both_ways() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            assert_eq!(read_exact(&mut tls, 3).await, b"bye");
            // The client's close_notify: end of stream, and it stays that way.
            assert_eq!(read_once(&mut tls, 16).await.expect("read").len(), 0);
            assert_eq!(read_once(&mut tls, 16).await.expect("read").len(), 0);
            // Our direction is still open.
            write_all(&mut tls, b"ack".to_vec()).await;
            within("server shutdown", tls.shutdown())
                .await
                .expect("shutdown");
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        write_all(&mut client, b"bye".to_vec()).await;
        within("client shutdown", client.shutdown())
            .await
            .expect("shutdown");
        assert_eq!(read_exact(&mut client, 3).await, b"ack");
        assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
        assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
        within("server task", server).await;
    });
}

#[test]
fn tcp_eof_without_close_notify_reads_as_zero() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            write_all(&mut tls, b"partial".to_vec()).await;
            let (tcp, _conn) = tls.into_parts();
            drop(tcp);
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        within("server task", server).await;
        assert_eq!(read_exact(&mut client, 7).await, b"partial");
        assert_eq!(read_once(&mut client, 16).await.expect("read").len(), 0);
    });
}

#[test]
fn peer_closing_mid_handshake_is_unexpected_eof() {
    run(async {
        let (listener, addr) = bind();
        let server = monoio::spawn(async move {
            let (mut tcp, _) = within("accept", listener.accept()).await.expect("accept");
            // Take the ClientHello, close our side, drain until the client gives up.
            let (res, _) = within("read hello", tcp.read(Vec::with_capacity(16 * 1024))).await;
            assert!(res.expect("read hello") > 0);
            within("shutdown", tcp.shutdown()).await.expect("shutdown");
            loop {
                let (res, _) = within("drain", tcp.read(Vec::with_capacity(4096))).await;
                if !matches!(res, Ok(n) if n > 0) {
                    break;
                }
            }
        });
        let err = connect(addr, client_config(), "localhost")
            .await
            .expect_err("handshake must fail");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        within("server task", server).await;
    });
}

#[test]
fn plaintext_http_from_client_is_invalid_data() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move { tls.err() });
        let mut tcp = within("connect", TcpStream::connect_addr(addr))
            .await
            .expect("connect");
        write_all(
            &mut tcp,
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        )
        .await;
        let err = within("server task", server)
            .await
            .expect("accept must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    });
}

#[test]
fn corrupt_record_after_handshake_is_invalid_data_and_stays_so() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let (mut tcp, _conn) = tls.expect("accept").into_parts();
            // An application-data record that will not decrypt.
            let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
            record.extend_from_slice(&[0x5a; 32]);
            write_all(&mut tcp, record).await;
            // Keep the socket open until the client goes away.
            loop {
                let (res, _) = within("drain", tcp.read(Vec::with_capacity(4096))).await;
                if !matches!(res, Ok(n) if n > 0) {
                    break;
                }
            }
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        let err = read_once(&mut client, 64)
            .await
            .expect_err("bad record must fail");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // Fails again at once instead of waiting on the socket.
        let err = read_once(&mut client, 64).await.expect_err("still failed");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        drop(client);
        within("server task", server).await;
    });
}

#[test]
fn writev_gathers_and_readv_scatters() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            let mut got = Vec::new();
            while got.len() < 11 {
                let bufs = VecBuf::from(vec![vec![0u8; 4], vec![0u8; 20]]);
                let (res, bufs) = within("readv", tls.readv(bufs)).await;
                let n = res.expect("readv");
                assert!(n > 0, "EOF in readv");
                let flat: Vec<u8> = Vec::<Vec<u8>>::from(bufs).concat();
                got.extend_from_slice(&flat[..n]);
            }
            write_all(&mut tls, got).await;
            let _ = within("server shutdown", tls.shutdown()).await;
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        let parts = VecBuf::from(vec![b"hello ".to_vec(), Vec::new(), b"world".to_vec()]);
        let (res, _) = within("writev", client.writev(parts)).await;
        assert_eq!(res.expect("writev"), 11);
        assert_eq!(read_exact(&mut client, 11).await, b"hello world");
        within("server task", server).await;
    });
}

#[test]
fn cancelled_read_breaks_reads_but_not_writes() {
    run(async {
        let (addr, server) = serve_one(server_config(), |tls| async move {
            let mut tls = tls.expect("accept");
            read_exact(&mut tls, 5).await
        });
        let mut client = connect(addr, client_config(), "localhost")
            .await
            .expect("connect");
        // Nothing is coming: the timeout drops the read mid-flight.
        let timed_out = monoio::time::timeout(
            Duration::from_millis(50),
            client.read(Vec::with_capacity(16)),
        )
        .await;
        assert!(timed_out.is_err(), "read should have been cancelled");
        let err = read_once(&mut client, 16)
            .await
            .expect_err("reads are broken");
        assert_eq!(err.kind(), io::ErrorKind::Other, "{err}");
        // Writing still works.
        write_all(&mut client, b"still".to_vec()).await;
        assert_eq!(within("server task", server).await, b"still");
    });
}

// ---------------------------------------------------------------------------------------
// Interop with curl and openssl s_client
// ---------------------------------------------------------------------------------------

/// Run `cmd` with `stdin`, killing it (and failing) after `limit`.
fn run_command(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn command");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// Fail (never skip) when a tool the test needs is missing: `make test` installs it
/// (`make test-deps`).
#[track_caller]
fn require(tool: &str, version_arg: &str) {
    if let Err(e) = Command::new(tool)
        .arg(version_arg)
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

/// Run `server` (one connection) on its own thread and runtime; returns its port and result.
fn server_thread<T, F, Fut>(server: F) -> (u16, std::thread::JoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        run(async move {
            let (listener, addr) = bind();
            tx.send(addr.port()).expect("send port");
            server(listener).await
        })
    });
    let port = rx.recv_timeout(STEP).expect("server thread started");
    (port, handle)
}

const BODY: &str = "hello from tollgate over TLS\n";

#[test]
fn curl_fetches_from_http11_responder() {
    require("curl", "--version");
    let dir = TempDir::new("curl");
    let ca = dir.write("ca.pem", &pems().ca);
    let (port, server) = server_thread(|listener| async move {
        let (tcp, _) = within("accept", listener.accept()).await.expect("accept");
        let mut tls = within("handshake", TlsStream::accept(tcp, server_config()))
            .await
            .expect("server handshake");
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let chunk = read_once(&mut tls, 4096).await.expect("read request");
            assert!(!chunk.is_empty(), "EOF before the request head ended");
            head.extend_from_slice(&chunk);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        write_all(&mut tls, response.into_bytes()).await;
        let _ = within("shutdown", tls.shutdown()).await;
        let alpn = tls.get_ref().alpn_protocol().map(<[u8]>::to_vec);
        (String::from_utf8_lossy(&head).into_owned(), alpn)
    });
    let mut cmd = Command::new("curl");
    cmd.arg("--cacert")
        .arg(&ca)
        .args(["-s", "-S", "--max-time", "5", "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/"));
    let out = run_command(cmd, b"", Duration::from_secs(10));
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), BODY);
    let (head, alpn) = server.join().expect("server thread");
    assert!(
        head.starts_with("GET / HTTP/1.1\r\n"),
        "request head: {head:?}"
    );
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

fn s_client_round_trip(version_flag: &str, expect_version: ProtocolVersion, expect_text: &str) {
    require("openssl", "version");
    let dir = TempDir::new("s-client");
    let ca = dir.write("ca.pem", &pems().ca);
    let (port, server) = server_thread(|listener| async move {
        let (tcp, _) = within("accept", listener.accept()).await.expect("accept");
        let mut tls = within("handshake", TlsStream::accept(tcp, server_config()))
            .await
            .expect("server handshake");
        let mut line = Vec::new();
        while !line.contains(&b'\n') {
            let chunk = read_once(&mut tls, 256).await.expect("read");
            assert!(!chunk.is_empty(), "EOF before the line ended");
            line.extend_from_slice(&chunk);
        }
        assert_eq!(line, b"ping\n");
        write_all(&mut tls, b"pong\n".to_vec()).await;
        let _ = within("shutdown", tls.shutdown()).await;
        (
            tls.get_ref().protocol_version(),
            tls.get_ref().alpn_protocol().map(<[u8]>::to_vec),
        )
    });
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-CAfile"])
        .arg(&ca)
        .args([
            "-verify_return_error",
            version_flag,
            "-alpn",
            "http/1.1",
            "-ign_eof",
        ]);
    let out = run_command(cmd, b"ping\n", Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "s_client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("pong"), "no reply in:\n{stdout}\n{stderr}");
    assert!(stdout.contains(expect_text), "not {expect_text}:\n{stdout}");
    assert!(
        stdout.contains("Verify return code: 0 (ok)"),
        "verification:\n{stdout}"
    );
    let (version, alpn) = server.join().expect("server thread");
    assert_eq!(version, Some(expect_version));
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn openssl_s_client_tls13() {
    s_client_round_trip("-tls1_3", ProtocolVersion::TLSv1_3, "TLSv1.3");
}

#[test]
fn openssl_s_client_tls12() {
    s_client_round_trip("-tls1_2", ProtocolVersion::TLSv1_2, "TLSv1.2");
}
