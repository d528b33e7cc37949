//! `tollgate load` against real servers on loopback: request counts, status accounting,
//! keep-alive versus a connection per request, the open-loop rate, and errors.

mod common;
mod pki;

use std::time::{Duration, Instant};

use common::*;

/// Run `tollgate load ARGS --json --quiet`; returns the exit code and the parsed report.
fn load(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all: Vec<&str> = vec!["load"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "--quiet"]);
    let mut proc = Proc::spawn("load", &all);
    let line = proc
        .next_line(Instant::now() + Duration::from_secs(60))
        .unwrap_or_else(|| {
            panic!(
                "tollgate {all:?} printed no report; stderr:\n{}",
                proc.stderr()
            )
        });
    let status = proc
        .wait_timeout(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("tollgate {all:?} did not exit after its report"));
    let report: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("report is not JSON ({e}): {line}"));
    (status.code().unwrap_or(-1), report)
}

fn u(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not an integer in {v}"))
}

fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

#[track_caller]
fn assert_sane_latencies(r: &serde_json::Value) {
    let l = |k: &str| f(r, &["latency_us", k]);
    let (min, p50, p90, p99, p999, max, mean) = (
        l("min"),
        l("p50"),
        l("p90"),
        l("p99"),
        l("p99.9"),
        l("max"),
        l("mean"),
    );
    assert!(min >= 1.0, "min {min} µs in {r}");
    assert!(
        min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "quantiles out of order in {r}"
    );
    assert!(min <= mean && mean <= max, "mean outside min..max in {r}");
    // Loopback against an idle echo server: well under the 5 s timeout.
    assert!(max < 2_000_000.0, "max {max} µs in {r}");
}

#[test]
fn closed_loop_keep_alive_sends_exactly_the_requests_asked_for() {
    let up = DemoUpstream::start();
    let url = format!("http://{}/load/test", up.addr());
    let (code, r) = load(&[&url, "--requests", "200", "--connections", "4"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 200, "{r}");
    assert_eq!(u(&r, &["status", "2xx"]), 200, "{r}");
    assert_eq!(u(&r, &["status", "codes", "200"]), 200, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");
    assert_eq!(r["mode"], "closed");
    assert!(u(&r, &["bytes"]) > 200 * 100, "{r}");
    assert!(f(&r, &["duration_s"]) > 0.0, "{r}");
    // The default one-second warm-up ran first and is not counted.
    assert!(u(&r, &["warmup_requests"]) > 0, "{r}");
    assert_sane_latencies(&r);
}

#[test]
fn keep_alive_reuses_connections_and_new_connection_opens_one_per_request() {
    let up = CountingUpstream::start();
    let url = format!("http://127.0.0.1:{}/", up.port);
    let (code, r) = load(&[
        &url,
        "--requests",
        "200",
        "--connections",
        "4",
        "--warmup",
        "0",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 200, "{r}");
    assert_eq!(up.connections(), 4, "keep-alive: one connection each");

    let up = CountingUpstream::start();
    let url = format!("http://127.0.0.1:{}/", up.port);
    let (code, r) = load(&[
        &url,
        "--requests",
        "100",
        "--connections",
        "4",
        "--warmup",
        "0",
        "--new-connection",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 100, "{r}");
    assert_eq!(u(&r, &["status", "2xx"]), 100, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");
    assert_eq!(up.connections(), 100, "a connection per request");
    assert!(
        String::from_utf8_lossy(&up.received()).contains("Connection: close\r\n"),
        "--new-connection sends Connection: close"
    );
}

#[test]
fn new_connection_mode_against_the_demo_upstream() {
    let up = DemoUpstream::start();
    let url = format!("http://{}/x", up.addr());
    let (code, r) = load(&[
        &url,
        "--requests",
        "200",
        "--connections",
        "4",
        "--new-connection",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 200, "{r}");
    assert_eq!(u(&r, &["status", "codes", "200"]), 200, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");
    assert_eq!(r["new_connection"], true);
    assert_sane_latencies(&r);
}

#[test]
fn open_loop_sends_at_the_asked_rate() {
    let up = DemoUpstream::start();
    let url = format!("http://{}/x", up.addr());
    let (code, r) = load(&[&url, "--rate", "200", "--duration", "1s"]);
    assert_eq!(code, 0, "{r}");
    let n = u(&r, &["requests"]);
    assert!(
        (170..=230).contains(&n),
        "expected about 200 requests, got {n}: {r}"
    );
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");
    assert_eq!(r["mode"], "open");
    assert_eq!(f(&r, &["open_loop", "rate_per_connection"]), 200.0 / 64.0);
    assert_sane_latencies(&r);
}

#[test]
fn status_codes_and_chunked_bodies_are_counted() {
    let up = DemoUpstream::start();
    let url = format!("http://{}/x", up.addr());
    let (code, r) = load(&[
        &url,
        "--requests",
        "50",
        "--connections",
        "2",
        "--warmup",
        "0",
        "--header",
        "x-echo-status: 503",
        "--header",
        "x-echo-chunked: 1",
        "--header",
        "x-echo-size: 20000",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 50, "{r}");
    assert_eq!(u(&r, &["status", "5xx"]), 50, "{r}");
    assert_eq!(u(&r, &["status", "codes", "503"]), 50, "{r}");
    assert_eq!(u(&r, &["status", "2xx"]), 0, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");
    assert!(u(&r, &["bytes"]) >= 50 * 20_000, "{r}");
}

#[test]
fn errors_are_counted_by_kind() {
    // Nobody listens: every request is a connect error, and the exit status says so.
    let port = dead_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, r) = load(&[
        &url,
        "--requests",
        "20",
        "--connections",
        "2",
        "--warmup",
        "0",
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(u(&r, &["requests"]), 0, "{r}");
    assert_eq!(u(&r, &["errors", "connect"]), 20, "{r}");
    assert!(r["error_samples"]["connect"].is_string(), "{r}");

    // Slower than the timeout: timeouts.
    let up = DemoUpstream::start();
    let url = format!("http://{}/x", up.addr());
    let (code, r) = load(&[
        &url,
        "--requests",
        "4",
        "--connections",
        "2",
        "--warmup",
        "0",
        "--timeout",
        "100ms",
        "--header",
        "x-echo-delay-ms: 1000",
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(u(&r, &["errors", "timeout"]), 4, "{r}");
}

#[test]
fn bad_arguments_exit_2() {
    let out = std::process::Command::new(bin())
        .args(["load", "http://127.0.0.1:1/", "--connections", "0"])
        .output()
        .expect("run tollgate load");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connections"));
}

// ------------------------------------------------------------------ https

/// A throwaway CA and a server certificate for localhost / 127.0.0.1 (made with the
/// `openssl` CLI), in `dir`: ca.pem, server.pem, server.key.
fn make_certs(dir: &std::path::Path) {
    pki::make_ca(dir, "ca", "tollgate load test CA");
    pki::make_leaf(dir, "ca", "server", "0x77");
}

/// A blocking rustls server on 127.0.0.1 answering every request head with a 200 and a
/// Content-Length body, keep-alive. The acceptor thread lives as long as the test process.
fn tls_server(dir: &std::path::Path) -> u16 {
    use std::io::{Read, Write};
    let cert_pem = std::fs::read(dir.join("server.pem")).expect("server.pem");
    let key_pem = std::fs::read(dir.join("server.key")).expect("server.key");
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .expect("key")
        .expect("a key");
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut seen = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&chunk[..n]),
                    }
                    while let Some(end) = find_subslice(&seen, b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello tls";
                        if tls.write_all(resp).and_then(|_| tls.flush()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn https_with_a_ca_bundle_insecure_and_untrusted() {
    let dir = std::env::temp_dir().join(format!("tollgate-load-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    make_certs(&dir);
    let port = tls_server(&dir);
    let ca = dir.join("ca.pem").display().to_string();

    let url = format!("https://localhost:{port}/");
    let (code, r) = load(&[
        &url,
        "--requests",
        "100",
        "--connections",
        "2",
        "--warmup",
        "0",
        "--cacert",
        &ca,
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 100, "{r}");
    assert_eq!(u(&r, &["status", "2xx"]), 100, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");

    // A connection per request: a handshake each time.
    let url_ip = format!("https://127.0.0.1:{port}/");
    let (code, r) = load(&[
        &url_ip,
        "--requests",
        "20",
        "--connections",
        "2",
        "--warmup",
        "0",
        "--insecure",
        "--new-connection",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(u(&r, &["requests"]), 20, "{r}");
    assert_eq!(u(&r, &["errors", "total"]), 0, "{r}");

    // The server's CA is not in the bundle given: every handshake fails.
    let other = dir.join("server.pem").display().to_string();
    let (code, r) = load(&[
        &url,
        "--requests",
        "4",
        "--connections",
        "1",
        "--warmup",
        "0",
        "--cacert",
        &other,
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(u(&r, &["errors", "connect"]), 4, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}
