//! Target groups (API Gateway's VPC link to a private NLB/ALB) end to end: the real gateway
//! binary on loopback in front of small std::net test upstreams. Balancing (round robin
//! with weights, least outstanding requests, flow hash), passive ejection and retry on
//! connect failures, active health checks fanned out to every worker, 503 and fail-open,
//! PROXY protocol v2, TLS to the targets, 10 MiB bodies both ways, and `tollgate check`.
//!
//! Every socket is on 127.0.0.1, every read has a timeout, every process and thread
//! started here is stopped when its guard drops.

mod common;

mod pki;
use pki::{make_ca, make_leaf};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use tollgate::upstream::proxy_protocol::decode_v2;

// ---------------------------------------------------------------------------------------
// Test upstream
// ---------------------------------------------------------------------------------------

/// What one test target saw and how it behaves (shared with its threads).
struct TargetState {
    name: String,
    /// Expect a PROXY v2 header at the start of every connection.
    proxy_v2: bool,
    stop: AtomicBool,
    /// Requests other than health checks, counted when their head arrives.
    requests: AtomicUsize,
    /// Health checks (`GET /health...`).
    health_checks: AtomicUsize,
    /// Status answered to health checks.
    health_status: AtomicU16,
    /// Delay before answering a (non-health) request.
    delay_ms: AtomicU64,
    /// Status of the answers to normal requests.
    status: AtomicU16,
    /// Non-health requests being answered right now.
    in_flight: AtomicUsize,
    /// Accepted connections (all of them).
    connections: AtomicUsize,
    /// Connection threads still running.
    open_conns: AtomicUsize,
    /// Non-health request heads, with the PROXY source of their connection (proxy mode).
    heads: Mutex<Vec<(Option<SocketAddr>, String)>>,
    /// Per connection: its first bytes, up to the end of its first request head.
    prefixes: Mutex<Vec<Vec<u8>>>,
}

/// A tiny HTTP/1.1 upstream on a std listener: answers `200` with its name as the body,
/// `/health` with `health_status`, counts requests; can be killed (listener closed and
/// every connection closed, so connects are refused) and restarted on the same port.
struct TestTarget {
    port: u16,
    st: Arc<TargetState>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestTarget {
    fn start(name: &str) -> TestTarget {
        TestTarget::start_with(name, false)
    }

    fn start_with(name: &str, proxy_v2: bool) -> TestTarget {
        let st = Arc::new(TargetState {
            name: name.to_string(),
            proxy_v2,
            stop: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            health_checks: AtomicUsize::new(0),
            health_status: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            status: AtomicU16::new(200),
            in_flight: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            open_conns: AtomicUsize::new(0),
            heads: Mutex::new(Vec::new()),
            prefixes: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test target");
        let port = listener.local_addr().expect("addr").port();
        let acceptor = Some(spawn_acceptor(listener, st.clone()));
        TestTarget { port, st, acceptor }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> usize {
        self.st.requests.load(Ordering::SeqCst)
    }

    fn in_flight(&self) -> usize {
        self.st.in_flight.load(Ordering::SeqCst)
    }

    fn set_health(&self, status: u16) {
        self.st.health_status.store(status, Ordering::SeqCst);
    }

    fn set_status(&self, status: u16) {
        self.st.status.store(status, Ordering::SeqCst);
    }

    fn set_delay(&self, ms: u64) {
        self.st.delay_ms.store(ms, Ordering::SeqCst);
    }

    fn heads(&self) -> Vec<(Option<SocketAddr>, String)> {
        self.st
            .heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn prefixes(&self) -> Vec<Vec<u8>> {
        self.st
            .prefixes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop accepting (the listener is closed: connects are refused) and close every
    /// connection; returns once all of them are closed.
    fn kill(&mut self) {
        self.st.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        let closed = wait_until(Duration::from_secs(3), || {
            self.st.open_conns.load(Ordering::SeqCst) == 0
        });
        assert!(closed, "{}: connections did not close", self.st.name);
        // Nothing listens on the port any more.
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "{}: port {} still accepts after kill",
            self.st.name,
            self.port
        );
    }

    /// Listen again on the same port (after `kill`).
    fn restart(&mut self) {
        assert!(self.acceptor.is_none(), "restart without kill");
        self.st.stop.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("rebind 127.0.0.1:{}: {e}", self.port),
            }
        };
        self.acceptor = Some(spawn_acceptor(listener, self.st.clone()));
    }
}

impl Drop for TestTarget {
    fn drop(&mut self) {
        self.st.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn spawn_acceptor(listener: TcpListener, st: Arc<TargetState>) -> JoinHandle<()> {
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        while !st.stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    st.connections.fetch_add(1, Ordering::SeqCst);
                    st.open_conns.fetch_add(1, Ordering::SeqCst);
                    let st2 = st.clone();
                    std::thread::spawn(move || {
                        serve_target_conn(stream, &st2);
                        st2.open_conns.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        // The listener drops here: the port refuses connections from now on.
    })
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

fn serve_target_conn(mut s: TcpStream, st: &TargetState) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    // Length of the PROXY header still at the front of `buf` (before the first request).
    let mut proxy: Option<(SocketAddr, usize)> = None;
    let mut first = true;
    let mut chunk = vec![0u8; 64 * 1024];
    while !st.stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
        // Answer every complete request in the buffer.
        loop {
            if st.proxy_v2 && first && proxy.is_none() {
                if buf.len() < 16 {
                    break;
                }
                let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
                if buf.len() < len {
                    break;
                }
                match decode_v2(&buf) {
                    Some((src, _, used)) => proxy = Some((src, used)),
                    None => {
                        // Not a PROXY header: record what came and give up on the connection.
                        st.prefixes
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(buf.clone());
                        return;
                    }
                }
            }
            let skip = if first { proxy.map_or(0, |p| p.1) } else { 0 };
            let Some(end) = find_subslice(&buf[skip..], b"\r\n\r\n") else {
                break;
            };
            let head = String::from_utf8_lossy(&buf[skip..skip + end]).into_owned();
            let total = skip + end + 4 + content_length(&head);
            if buf.len() < total {
                break;
            }
            if first {
                st.prefixes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(buf[..skip + end + 4].to_vec());
                first = false;
            }
            buf.drain(..total);
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let is_head = head.starts_with("HEAD ");
            let close = head.lines().any(|l| {
                l.split_once(':').is_some_and(|(n, v)| {
                    n.trim().eq_ignore_ascii_case("connection")
                        && v.trim().eq_ignore_ascii_case("close")
                })
            });
            if path.starts_with("/health") {
                st.health_checks.fetch_add(1, Ordering::SeqCst);
                let code = st.health_status.load(Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 {code} Check\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = s.write_all(resp.as_bytes());
                return;
            }
            st.requests.fetch_add(1, Ordering::SeqCst);
            st.in_flight.fetch_add(1, Ordering::SeqCst);
            st.heads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((proxy.map(|p| p.0), head.clone()));
            let delay = st.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            let body = if is_head { "" } else { st.name.as_str() };
            let code = st.status.load(Ordering::SeqCst);
            let resp = format!(
                "HTTP/1.1 {code} Test\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                st.name.len(),
            );
            let written = s.write_all(resp.as_bytes());
            st.in_flight.fetch_sub(1, Ordering::SeqCst);
            if written.is_err() || close {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration and requests
// ---------------------------------------------------------------------------------------

/// `targets:` lines for a group, indented for `config`.
fn targets_yaml(targets: &[(&str, u32)]) -> String {
    let mut out = String::from("    targets:\n");
    for (addr, weight) in targets {
        out.push_str(&format!(
            "      - address: \"{addr}\"\n        weight: {weight}\n"
        ));
    }
    out
}

/// One REST API `tg` (default API of the listener, stage `prod`). For every group `(name,
/// body)`: a group `name` with `body` (YAML lines indented by 4) and a route
/// `ANY /{name}/{proxy+}` to it, `uri: http://{name}.internal/{proxy}`.
fn config(groups: &[(&str, String)], top: &str) -> String {
    let mut routes = String::new();
    let mut tgs = String::new();
    for (name, body) in groups {
        routes.push_str(&format!(
            "      - route: ANY /{name}/{{proxy+}}
        integration:
          type: HTTP_PROXY
          connection_type: VPC_LINK
          target_group: {name}
          uri: http://{name}.internal/{{proxy}}
          timeout: 10s
"
        ));
        tgs.push_str(&format!("  - name: {name}\n{body}"));
    }
    format!(
        "{top}listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: tg
apis:
  - id: tg
    routes:
{routes}    stages:
      - name: prod
target_groups:
{tgs}"
    )
}

/// GET `path` on `c`; the response status and body.
fn get_on(c: &mut Client, path: &str) -> (u16, String) {
    let r = c.request(&get(path));
    (r.status, r.body_str())
}

/// GET `path` on a fresh connection.
fn get_fresh(port: u16, path: &str) -> (u16, String) {
    let mut c = Client::connect(port);
    get_on(&mut c, path)
}

/// Lines of `log` that mention a failed connect to `addr`.
/// GET on `c` every 20 ms (each answered 200 by B, or A's own 500) until `done` holds, within
/// `timeout`; returns when the request after which it held was sent and when it was answered.
#[track_caller]
fn requests_until(
    c: &mut Client,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> (Instant, Instant) {
    let deadline = Instant::now() + timeout;
    let mut i = 0;
    loop {
        let sent = Instant::now();
        let (status, body) = get_on(c, &format!("/prod/five/{what}/{i}"));
        assert!(
            (status, body.as_str()) == (200, "B") || body == "A",
            "{what} request {i}: {status} {body}"
        );
        if done() {
            return (sent, Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not done after {timeout:?} ({i} requests)"
        );
        i += 1;
        std::thread::sleep(Duration::from_millis(20)); // pacing, not synchronisation
    }
}

fn connect_failures(log: &str, addr: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!("connect to {addr} failed")))
        .count()
}

// ---------------------------------------------------------------------------------------
// 1. Round robin
// ---------------------------------------------------------------------------------------

#[test]
fn round_robin_is_even_and_follows_weights() {
    let (t1, t2, t3) = (
        TestTarget::start("t1"),
        TestTarget::start("t2"),
        TestTarget::start("t3"),
    );
    let (w1, w2) = (TestTarget::start("w1"), TestTarget::start("w2"));
    let cfg = config(
        &[
            (
                "even",
                targets_yaml(&[(&t1.addr(), 1), (&t2.addr(), 1), (&t3.addr(), 1)]),
            ),
            (
                "weighted",
                format!(
                    "    balancing: round_robin\n{}",
                    targets_yaml(&[(&w1.addr(), 1), (&w2.addr(), 2)])
                ),
            ),
        ],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..300 {
        let (status, body) = get_on(&mut c, &format!("/prod/even/item/{i}"));
        assert_eq!(status, 200, "request {i}: {body}");
        *seen.entry(body).or_default() += 1;
    }
    for (name, t) in [("t1", &t1), ("t2", &t2), ("t3", &t3)] {
        let n = seen.get(name).copied().unwrap_or(0);
        assert!((98..=102).contains(&n), "{name} got {n}: {seen:?}");
        assert_eq!(t.requests(), n, "{name}: upstream count vs responses");
    }
    // The URI's authority is the Host header; the path comes from the URI template.
    let heads = t1.heads();
    let head = &heads[0].1;
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nhost: even.internal\r\n"),
        "{head}"
    );
    assert!(head.starts_with("GET /item/"), "{head}");

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..300 {
        let (status, body) = get_on(&mut c, &format!("/prod/weighted/{i}"));
        assert_eq!(status, 200, "request {i}: {body}");
        *seen.entry(body).or_default() += 1;
    }
    let (n1, n2) = (
        seen.get("w1").copied().unwrap_or(0),
        seen.get("w2").copied().unwrap_or(0),
    );
    assert!(
        (98..=102).contains(&n1) && (198..=202).contains(&n2),
        "weights 1:2 over 300 requests: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Least outstanding requests
// ---------------------------------------------------------------------------------------

#[test]
fn least_outstanding_requests_prefers_the_idle_target() {
    let slow = TestTarget::start("slow");
    let fast = TestTarget::start("fast");
    slow.set_delay(500);
    let cfg = config(
        &[(
            "lor",
            format!(
                "    balancing: least_outstanding_requests\n{}",
                targets_yaml(&[(&slow.addr(), 1), (&fast.addr(), 1)])
            ),
        )],
        // A second of four keep-alive clients passes the default account throttle's
        // burst on a fast machine: not what this test is about.
        "server:\n  account_throttle: {rate: 1000000, burst: 500000}\n",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let port = gw.port;

    // Deterministic part: while one request is in flight on the slow target, every new
    // request goes to the idle fast one.
    let mut held = None;
    for _ in 0..4 {
        let h = std::thread::spawn(move || get_fresh(port, "/prod/lor/first"));
        let on_slow = wait_until(Duration::from_secs(2), || {
            slow.in_flight() == 1 || h.is_finished()
        });
        assert!(
            on_slow,
            "first request neither reached the slow target nor finished"
        );
        if slow.in_flight() == 1 {
            held = Some(h);
            break;
        }
        let (status, body) = h.join().expect("client thread");
        assert_eq!((status, body.as_str()), (200, "fast"));
    }
    let held = held.expect("no request went to the slow target in 4 tries (ties should alternate)");
    let mut c = gw.client();
    for i in 0..10 {
        let (status, body) = get_on(&mut c, &format!("/prod/lor/next/{i}"));
        assert_eq!(
            (status, body.as_str()),
            (200, "fast"),
            "request {i} while the slow target has one outstanding"
        );
    }
    let (status, body) = held.join().expect("client thread");
    assert_eq!((status, body.as_str()), (200, "slow"));

    // Statistical part: four concurrent keep-alive clients for a second.
    let stop_at = Instant::now() + Duration::from_millis(1000);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                while Instant::now() < stop_at {
                    let (status, body) = get_on(&mut c, "/prod/lor/load");
                    assert_eq!(status, 200, "{body}");
                    *counts.entry(body).or_default() += 1;
                }
                counts
            })
        })
        .collect();
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for h in clients {
        for (k, v) in h.join().expect("client thread") {
            *total.entry(k).or_default() += v;
        }
    }
    let (s, f) = (
        total.get("slow").copied().unwrap_or(0),
        total.get("fast").copied().unwrap_or(0),
    );
    assert!(
        f >= 10 * s.max(1),
        "least outstanding requests should send most requests to the fast target: {total:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Flow hash
// ---------------------------------------------------------------------------------------

#[test]
fn flow_hash_sticks_one_connection_to_one_target() {
    let ts: Vec<TestTarget> = ["f1", "f2", "f3"]
        .iter()
        .map(|n| TestTarget::start(n))
        .collect();
    let addrs: Vec<String> = ts.iter().map(TestTarget::addr).collect();
    let cfg = config(
        &[(
            "flow",
            format!(
                "    balancing: flow_hash\n{}",
                targets_yaml(&[(&addrs[0], 1), (&addrs[1], 1), (&addrs[2], 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    let (status, first) = get_on(&mut c, "/prod/flow/0");
    assert_eq!(status, 200);
    for i in 1..50 {
        let (status, body) = get_on(&mut c, &format!("/prod/flow/{i}"));
        assert_eq!(status, 200);
        assert_eq!(body, first, "request {i} on the same connection moved");
    }
    let mut targets = BTreeSet::new();
    for conn in 0..16 {
        let mut c = gw.client();
        let (status, t) = get_on(&mut c, "/prod/flow/a");
        assert_eq!(status, 200);
        for i in 0..3 {
            let (status, body) = get_on(&mut c, &format!("/prod/flow/b{i}"));
            assert_eq!(status, 200);
            assert_eq!(body, t, "connection {conn}, request {i} moved");
        }
        targets.insert(t);
    }
    assert!(
        targets.len() > 1,
        "16 client connections all hashed to one target: {targets:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Passive ejection, retry, re-admission
// ---------------------------------------------------------------------------------------

#[test]
fn killed_target_is_ejected_without_5xx_and_readmitted_when_healthy() {
    let a = TestTarget::start("A");
    let mut b = TestTarget::start("B");
    let c = TestTarget::start("C");
    let b_addr = b.addr();
    let cfg = config(
        &[(
            "pool",
            format!(
                "{}    health_check: {{path: /health, interval: 100ms, timeout: 100ms, healthy_threshold: 1, unhealthy_threshold: 2}}
    passive: {{consecutive_failures: 1, ejection: 1s, max_ejection: 10s}}
",
                targets_yaml(&[(&a.addr(), 1), (&b_addr, 1), (&c.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut client = gw.client();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..30 {
        let (status, body) = get_on(&mut client, &format!("/prod/pool/warm/{i}"));
        assert_eq!(status, 200, "warm-up {i}: {body}");
        *seen.entry(body).or_default() += 1;
    }
    assert_eq!(seen.get("B"), Some(&10), "{seen:?}");

    // Kill B between two requests: its pooled connections are closed, its port refuses.
    b.kill();
    let killed = Instant::now();
    let mut during: BTreeMap<String, usize> = BTreeMap::new();
    let mut n = 0;
    while killed.elapsed() < Duration::from_millis(1300) {
        let (status, body) = get_on(&mut client, &format!("/prod/pool/dead/{n}"));
        assert_eq!(status, 200, "request {n} after the kill: {body}");
        *during.entry(body).or_default() += 1;
        n += 1;
    }
    assert!(
        !during.contains_key("B"),
        "B answered while dead: {during:?}"
    );
    assert!(
        during.get("A").copied().unwrap_or(0) > 5 && during.get("C").copied().unwrap_or(0) > 5,
        "A and C should share the load: {during:?}"
    );
    // B comes back on the same port: its health check passes, it gets traffic again.
    b.restart();
    let back = Instant::now();
    let before = b.requests();
    // The log goes through one FIFO channel, and B's "is now healthy" line is sent after
    // every line of the requests above: once it is in the log, their lines are too.
    let healthy = format!("target {b_addr} is now healthy");
    assert!(
        wait_until(Duration::from_secs(3), || gw.stderr().contains(&healthy)),
        "B's health check did not pass within 3 s of its restart; log:\n{}",
        gw.stderr()
    );
    let log = gw.stderr();
    assert_eq!(
        connect_failures(&log, &b_addr),
        1,
        "the dead target must get exactly one connect attempt (then be ejected for 1s, \
         then kept out by its failing health check) over {n} requests; log:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("target {b_addr} ejected"))),
        "no ejection logged; log:\n{log}"
    );
    let mut n = 0;
    let readmitted = loop {
        let (status, body) = get_on(&mut client, &format!("/prod/pool/back/{n}"));
        assert_eq!(status, 200, "request {n} after the restart: {body}");
        n += 1;
        if body == "B" {
            break true;
        }
        if back.elapsed() > Duration::from_secs(2) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        readmitted,
        "B was not re-admitted within 2 s of coming back ({n} requests); log:\n{}",
        gw.stderr()
    );
    assert!(b.requests() > before);
}

#[test]
fn consecutive_5xx_answers_eject_with_a_doubling_back_off() {
    let a = TestTarget::start("A");
    let b = TestTarget::start("B");
    a.set_status(500);
    let cfg = config(
        &[(
            "five",
            format!(
                "{}    passive: {{consecutive_failures: 2, ejection: 1s, max_ejection: 10s}}\n",
                targets_yaml(&[(&a.addr(), 1), (&b.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    let mut statuses = Vec::new();
    let mut second_5xx_sent = Instant::now();
    for i in 0..20 {
        if i == 2 {
            second_5xx_sent = Instant::now();
        }
        let (status, body) = get_on(&mut c, &format!("/prod/five/{i}"));
        statuses.push(status);
        match status {
            500 => assert_eq!(body, "A", "the upstream's own 500 is passed through"),
            _ => assert_eq!((status, body.as_str()), (200, "B"), "request {i}"),
        }
    }
    assert_eq!(
        a.requests(),
        2,
        "two 5xx in a row eject A (round robin gives it requests 0 and 2): {statuses:?}"
    );
    // After the 1 s ejection (which began while request 2 was under way) A is back on
    // probation: requests paced 20 ms apart reach it again after it, not before; its next 5xx
    // ejects it at once, for twice as long.
    let (probation_sent, probation_done) =
        requests_until(&mut c, "probation", Duration::from_secs(4), || {
            a.requests() == 3
        });
    let gap = probation_done - second_5xx_sent;
    assert!(
        gap >= Duration::from_secs(1),
        "A got a request {gap:?} after its 1 s ejection began"
    );
    let reejected = wait_until(Duration::from_secs(2), || {
        gw.stderr().contains("ejection 2)")
    });
    assert!(reejected, "second ejection not logged:\n{}", gw.stderr());
    // A now answers 200; the second window is 2 s: A gets its next request (and 200) only
    // after it, and that success resets the back-off.
    a.set_status(200);
    let (healed_sent, healed_done) =
        requests_until(&mut c, "still-out", Duration::from_secs(5), || {
            a.requests() == 4
        });
    let window = healed_done - probation_sent;
    assert!(
        window >= Duration::from_secs(2),
        "A was back {window:?} after its second ejection, which lasts 2 s"
    );
    let window = healed_sent - probation_done;
    assert!(
        window <= Duration::from_secs(4),
        "A was out for {window:?} after its second ejection of 2 s"
    );
    let mut seen = BTreeMap::new();
    for i in 0..10 {
        let (status, body) = get_on(&mut c, &format!("/prod/five/healed/{i}"));
        assert_eq!(status, 200);
        *seen.entry(body).or_default() += 1;
    }
    assert!(
        seen.get("A").copied().unwrap_or(0) >= 4,
        "A healed: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Active health checks, two workers
// ---------------------------------------------------------------------------------------

/// `n` GETs, each on a fresh connection (spread over the workers); counts per body.
fn spread(port: u16, path: &str, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for i in 0..n {
        let (status, body) = get_fresh(port, &format!("{path}/{i}"));
        assert_eq!(status, 200, "request {i}: {body}");
        *seen.entry(body).or_default() += 1;
    }
    seen
}

#[test]
fn failing_health_check_takes_a_target_out_on_every_worker() {
    let a = TestTarget::start("A");
    let b = TestTarget::start("B");
    let cfg = config(
        &[(
            "hc",
            format!(
                "{}    health_check: {{path: /health, interval: 100ms, timeout: 100ms, healthy_threshold: 2, unhealthy_threshold: 2, matcher: 200-299}}
",
                targets_yaml(&[(&a.addr(), 1), (&b.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 2);
    let seen = spread(gw.port, "/prod/hc/warm", 20);
    assert!(seen.contains_key("A") && seen.contains_key("B"), "{seen:?}");
    assert!(
        wait_until(Duration::from_secs(2), || a
            .st
            .health_checks
            .load(Ordering::SeqCst)
            >= 2),
        "no health checks reached A"
    );

    // /health says 503; normal requests still get 200 from A.
    a.set_health(503);
    let down = format!("target {} is now unhealthy", a.addr());
    assert!(
        wait_until(Duration::from_secs(3), || gw.stderr().contains(&down)),
        "A's failing health check was not logged; log:\n{}",
        gw.stderr()
    );
    // Every worker applies the change on its next control tick: within the deadline, a run of
    // 40 requests over fresh connections (both workers) sends none to A.
    let mut last = (0, BTreeMap::new());
    let out = wait_until(Duration::from_secs(3), || {
        let before = a.requests();
        let seen = spread(gw.port, "/prod/hc/out", 40);
        last = (a.requests() - before, seen);
        last.0 == 0 && last.1.get("B") == Some(&40)
    });
    assert!(
        out,
        "A fails its health check but still got {} of 40 requests (a worker did not hear \
         about it?): {:?}",
        last.0, last.1
    );
    let (status, body) = {
        let mut direct = Client::connect(a.port);
        get_on(&mut direct, "/direct")
    };
    assert_eq!((status, body.as_str()), (200, "A"), "A itself still serves");

    // /health is fine again: A gets traffic again, from both workers.
    a.set_health(200);
    let back = Instant::now();
    let before = a.requests();
    let mut i = 0;
    while a.requests() == before {
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "A did not get traffic within 2 s of passing its health check again; log:\n{}",
            gw.stderr()
        );
        let (status, _) = get_fresh(gw.port, &format!("/prod/hc/back/{i}"));
        assert_eq!(status, 200);
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    // The other worker heard it too (within its control tick): a run of 40 over fresh
    // connections alternates A and B on both.
    let mut seen = BTreeMap::new();
    let both = wait_until(Duration::from_secs(3), || {
        seen = spread(gw.port, "/prod/hc/again", 40);
        seen.get("A").copied().unwrap_or(0) >= 15
    });
    assert!(
        both,
        "after recovery both workers should alternate A and B (about 20 of 40 to A): {seen:?}"
    );
}

/// A reload keeps what the health checker found for a group whose targets are unchanged:
/// a target known to be down is not sent requests again while the new checker re-learns
/// it (before, every target started healthy after a reload, so a dead one was tried again
/// for `unhealthy_threshold` intervals). The new checker starts from that state: the
/// target comes back once it passes.
#[test]
fn reload_keeps_a_failing_target_out() {
    let a = TestTarget::start("A");
    let b = TestTarget::start("B");
    // Slow to take a target out (3 failures, 1 s apart), quick to bring it back.
    let cfg = config(
        &[(
            "hc",
            format!(
                "{}    health_check: {{path: /health, interval: 1s, timeout: 200ms, healthy_threshold: 1, unhealthy_threshold: 3, matcher: 200-299}}
",
                targets_yaml(&[(&a.addr(), 1), (&b.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 2);
    a.set_health(503);
    wait_log(
        &gw,
        &format!("target {} is now unhealthy", a.addr()),
        1,
        Duration::from_secs(10),
    );
    let out = wait_until(Duration::from_secs(3), || {
        spread(gw.port, "/prod/hc/before", 20).get("B") == Some(&20)
    });
    assert!(out, "A was not taken out on every worker before the reload");

    // Reload with the group unchanged (another group added, so it is a real change).
    let changed = cfg.replace(
        "target_groups:\n",
        &format!(
            "target_groups:\n  - name: spare\n{}",
            targets_yaml(&[(&b.addr(), 1)])
        ),
    );
    assert_ne!(changed, cfg);
    std::fs::write(gw.config.path(), &changed).expect("rewrite config");
    gw.proc.signal(libc::SIGHUP);
    wait_log(
        &gw,
        "reloaded configuration in force",
        2,
        Duration::from_secs(10),
    );
    assert!(
        gw.stderr()
            .contains("reload: 1 target group(s) keep their targets' health"),
        "{}",
        gw.stderr()
    );
    // Right after the reload (well within the new checker's 3 s to take A out again): no
    // request reaches A, on either worker.
    let before = a.requests();
    let seen = spread(gw.port, "/prod/hc/after", 40);
    assert_eq!(
        (a.requests() - before, seen.get("B").copied()),
        (0, Some(40)),
        "A, known to be down, was sent requests after the reload: {seen:?}"
    );

    // A passes again: the new checker (started from "unhealthy") brings it back.
    a.set_health(200);
    wait_log(
        &gw,
        &format!("target {} is now healthy", a.addr()),
        1,
        Duration::from_secs(5),
    );
    let mut seen = BTreeMap::new();
    let back = wait_until(Duration::from_secs(3), || {
        seen = spread(gw.port, "/prod/hc/back", 40);
        seen.get("A").copied().unwrap_or(0) >= 15
    });
    assert!(back, "A did not come back after passing again: {seen:?}");
}

// ---------------------------------------------------------------------------------------
// 6. Retry on connect failure (idempotent only)
// ---------------------------------------------------------------------------------------

#[test]
fn connect_failure_is_retried_for_every_method() {
    // A refused connect sent nothing, so every method (POST and PATCH included, as nginx
    // does) gets one more try on another target.
    let live = TestTarget::start("live");
    let dead = format!("127.0.0.1:{}", dead_port());
    // Passive ejection off, no health checks: round robin keeps alternating live/dead.
    let cfg = config(
        &[(
            "half",
            format!(
                "{}    passive: {{consecutive_failures: 0}}\n",
                targets_yaml(&[(&live.addr(), 1), (&dead, 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    for i in 0..10 {
        let (status, body) = get_on(&mut c, &format!("/prod/half/get/{i}"));
        assert_eq!((status, body.as_str()), (200, "live"), "GET {i}");
    }
    for method in ["POST", "PATCH"] {
        for i in 0..10 {
            let mut c = gw.client();
            let r = c.request(&req(
                method,
                &format!("/prod/half/post/{i}"),
                &[("content-type", "text/plain")],
                b"payload",
            ));
            assert_eq!(
                (r.status, r.body_str().as_str()),
                (200, "live"),
                "{method} {i}: {}",
                r.describe()
            );
        }
    }
    // Every POST/PATCH body reached the live target whole.
    let posted = live
        .heads()
        .iter()
        .filter(|(_, h)| h.starts_with("POST ") || h.starts_with("PATCH "))
        .count();
    assert_eq!(posted, 20);
    // DELETE, PUT, HEAD and OPTIONS are idempotent too.
    for method in ["DELETE", "PUT", "OPTIONS", "GET"] {
        for i in 0..2 {
            let r = c.request(&req(method, &format!("/prod/half/m/{i}"), &[], b""));
            assert_eq!(r.status, 200, "{method} {i}: {}", r.describe());
        }
    }
    for i in 0..2 {
        c.send(&req("HEAD", &format!("/prod/half/h/{i}"), &[], b""));
        let r = c.read_head_response();
        assert_eq!(r.status, 200, "HEAD {i}: {}", r.describe());
    }
    // The retries are logged (by the log thread: wait for it).
    let logged = wait_until(Duration::from_secs(5), || {
        connect_failures(&gw.stderr(), &dead) >= 10
    });
    assert!(
        logged,
        "connect failures to {dead} not logged:\n{}",
        gw.stderr()
    );
}

/// A target answering every request `200 a`, until `hang_up()`: then its listener closes
/// (connects are refused) while its open connections stay open and quiet, and each closes
/// without an answer when its next request arrives (a target that died after the gateway's
/// pre-reuse probe). Its threads stop when it drops.
struct HalfDeadTarget {
    port: u16,
    dead: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl HalfDeadTarget {
    fn start() -> HalfDeadTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind half-dead target");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let (dead, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (d2, s2) = (dead.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) && !d2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut sock, _)) => {
                        let (d3, s3) = (d2.clone(), s2.clone());
                        std::thread::spawn(move || {
                            let _ = sock.set_nonblocking(false);
                            let _ = sock.set_read_timeout(Some(Duration::from_millis(20)));
                            let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
                            while !s3.load(Ordering::SeqCst) {
                                if let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
                                    buf.drain(..end + 4);
                                    if d3.load(Ordering::SeqCst) {
                                        return; // hang up, no answer
                                    }
                                    let resp = "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na";
                                    if sock.write_all(resp.as_bytes()).is_err() {
                                        return;
                                    }
                                    continue;
                                }
                                match sock.read(&mut chunk) {
                                    Ok(0) => return,
                                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                    Err(e)
                                        if e.kind() == ErrorKind::WouldBlock
                                            || e.kind() == ErrorKind::TimedOut => {}
                                    Err(_) => return,
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener drops here: the port refuses connections from now on.
        });
        HalfDeadTarget {
            port,
            dead,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Close the listener (waited for) and make open connections hang up on their next request.
    fn hang_up(&mut self) {
        self.dead.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "port {} still accepts after hang_up",
            self.port
        );
    }
}

impl Drop for HalfDeadTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// Round robin over `a` and `b` (passive ejection off); four GETs on `c` reach both, so the
/// worker pools a connection to each.
fn warm_pair(gw: &Gateway, c: &mut Client) {
    let mut seen = BTreeSet::new();
    for i in 0..4 {
        let (status, body) = get_on(c, &format!("/prod/pair/warm/{i}"));
        assert_eq!(status, 200, "warm-up {i}: {}", gw.stderr());
        seen.insert(body);
    }
    assert_eq!(seen.len(), 2, "round robin reached both targets: {seen:?}");
}

fn pair_config(a: &str, b: &str) -> String {
    config(
        &[(
            "pair",
            format!(
                "{}    passive: {{consecutive_failures: 0}}\n",
                targets_yaml(&[(a, 1), (b, 1)])
            ),
        )],
        "",
    )
}

/// Six bodyless POSTs on `c` (a new client after each gateway error); their statuses, every
/// 200 answered by `b`.
fn six_posts(gw: &Gateway, c: &mut Client) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = c.request(&req("POST", &format!("/prod/pair/p/{i}"), &[], b""));
        if r.status != 200 {
            r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
            // A 5xx from the gateway may close the client connection; go on with a new one.
            *c = gw.client();
        } else {
            assert_eq!(r.body_str(), "b", "POST {i}");
        }
        statuses.push(r.status);
    }
    statuses
}

#[test]
fn post_written_to_a_dead_pooled_connection_is_not_retried_elsewhere() {
    // "Nothing sent" means nothing: a bodyless POST whose head went out on a pooled
    // connection that turned out dead (then the reconnect was refused) may have reached
    // the target, so it is not replayed on another one; GETs still are. The connection
    // passes the pre-reuse probe (open, quiet) and dies only when the request arrives.
    let mut a = HalfDeadTarget::start();
    let b = TestTarget::start("b");
    let gw = Gateway::start_with_workers(&pair_config(&a.addr(), &b.addr()), 1);
    let mut c = gw.client();
    warm_pair(&gw, &mut c);
    a.hang_up();
    let statuses = six_posts(&gw, &mut c);
    // Exactly one POST (the first one sent to `a`, on the pooled connection that then hung
    // up) fails; later ones to `a` find no pooled connection, their connect is refused
    // before anything was written, and they are retried on `b`.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses[..2].contains(&503), "{statuses:?}");
}

#[test]
fn a_pooled_connection_closed_while_idle_is_dropped_before_anything_is_sent() {
    // The target died while its connection sat in the pool: the pre-reuse probe sees the
    // close, nothing is written to it, so even a POST is retried on the other target.
    let mut a = TestTarget::start("a");
    let b = TestTarget::start("b");
    let gw = Gateway::start_with_workers(&pair_config(&a.addr(), &b.addr()), 1);
    let mut c = gw.client();
    warm_pair(&gw, &mut c);
    // `a` dies: its pooled connection is closed, new connects are refused.
    a.kill();
    let statuses = six_posts(&gw, &mut c);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(a.requests(), 2, "requests reached the dead target");
}

// ---------------------------------------------------------------------------------------
// 7. Everything down: 503 and fail open
// ---------------------------------------------------------------------------------------

#[test]
fn all_targets_down_is_503_and_fails_open() {
    let (d1, d2) = (
        format!("127.0.0.1:{}", dead_port()),
        format!("127.0.0.1:{}", dead_port()),
    );
    let cfg = config(
        &[(
            "gone",
            format!(
                "{}    passive: {{consecutive_failures: 1, ejection: 10s, max_ejection: 20s}}\n",
                targets_yaml(&[(&d1, 1), (&d2, 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    for i in 0..4 {
        let r = c.request(&get(&format!("/prod/gone/{i}")));
        r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
        assert_eq!(
            r.body_str(),
            r#"{"message":"Service Unavailable"}"#,
            "{}",
            r.describe()
        );
        assert!(r.header("x-amzn-ErrorType").is_some());
        assert!(r.header("x-amzn-RequestId").is_some());
    }
    let r = gw.send(&req("POST", "/prod/gone/p", &[], b"x"));
    r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
    // The log thread is asynchronous: wait for the lines.
    let logged = wait_until(Duration::from_secs(3), || {
        let log = gw.stderr();
        log.contains("failing open")
            && connect_failures(&log, &d1) >= 2
            && connect_failures(&log, &d2) >= 2
    });
    // Both targets were actually tried while failing open.
    let log = gw.stderr();
    assert!(
        logged,
        "expected 'failing open' and every target tried again while failing open; log:\n{log}"
    );
}

#[test]
fn all_targets_failing_health_checks_fail_open_and_still_serve() {
    let a = TestTarget::start("A");
    let b = TestTarget::start("B");
    a.set_health(503);
    b.set_health(503);
    let cfg = config(
        &[(
            "sick",
            format!(
                "{}    health_check: {{path: /health, interval: 100ms, timeout: 100ms, healthy_threshold: 1, unhealthy_threshold: 1}}\n",
                targets_yaml(&[(&a.addr(), 1), (&b.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let both_down = wait_until(Duration::from_secs(2), || {
        gw.stderr().matches("is now unhealthy").count() >= 2
    });
    assert!(
        both_down,
        "health checks did not mark both down:\n{}",
        gw.stderr()
    );
    // The worker hears of it on its next control tick: requests (paced, all served) until it
    // logs that it fails open.
    let mut c = gw.client();
    let mut n = 0;
    let failing_open = wait_until(Duration::from_secs(3), || {
        let (status, _) = get_on(&mut c, &format!("/prod/sick/wait/{n}"));
        assert_eq!(status, 200, "fail open: request {n} should still be served");
        n += 1;
        gw.stderr().contains("failing open")
    });
    assert!(
        failing_open,
        "no 'failing open' in the log:\n{}",
        gw.stderr()
    );
    let mut seen = BTreeMap::new();
    for i in 0..10 {
        let (status, body) = get_on(&mut c, &format!("/prod/sick/{i}"));
        assert_eq!(status, 200, "fail open: request {i} should still be served");
        *seen.entry(body).or_default() += 1;
    }
    assert_eq!(
        (seen.get("A"), seen.get("B")),
        (Some(&5), Some(&5)),
        "failing open tries all targets: {seen:?}"
    );
    // One recovers: it takes all the traffic again.
    b.set_health(200);
    assert!(
        wait_until(Duration::from_secs(2), || gw
            .stderr()
            .contains("is now healthy")),
        "B not marked healthy:\n{}",
        gw.stderr()
    );
    // Once the worker applied it (round robin over both while failing open can never give
    // B twice in a row), B takes every request.
    let mut previous = String::new();
    let mut n = 0;
    let applied = wait_until(Duration::from_secs(3), || {
        let (status, body) = get_on(&mut c, &format!("/prod/sick/switch/{n}"));
        assert_eq!(status, 200, "request {n} while B recovers");
        n += 1;
        let twice = body == "B" && previous == "B";
        previous = body;
        twice
    });
    assert!(applied, "B alone never took the traffic after recovering");
    for i in 0..6 {
        let (status, body) = get_on(&mut c, &format!("/prod/sick/b/{i}"));
        assert_eq!((status, body.as_str()), (200, "B"), "request {i}");
    }
}

#[test]
fn max_connections_full_target_is_skipped_and_all_full_is_503() {
    let slow = TestTarget::start("slow");
    slow.set_delay(600);
    let cfg = config(
        &[(
            "capped",
            format!(
                "{}    pool: {{max_connections: 1}}\n",
                targets_yaml(&[(&slow.addr(), 1)])
            ),
        )],
        "",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    let port = gw.port;
    let held = std::thread::spawn(move || get_fresh(port, "/prod/capped/first"));
    assert!(
        wait_until(Duration::from_secs(2), || slow.in_flight() == 1),
        "first request did not reach the target"
    );
    let r = gw.send(&get("/prod/capped/second"));
    r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
    let (status, body) = held.join().expect("client thread");
    assert_eq!((status, body.as_str()), (200, "slow"));
    slow.set_delay(0);
    let (status, body) = get_fresh(port, "/prod/capped/third");
    assert_eq!((status, body.as_str()), (200, "slow"), "room again");
    assert_eq!(slow.requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 8. PROXY protocol v2
// ---------------------------------------------------------------------------------------

fn proxy_config(target: &TestTarget) -> String {
    config(
        &[(
            "pp",
            format!(
                "    proxy_protocol: v2\n{}",
                targets_yaml(&[(&target.addr(), 1)])
            ),
        )],
        "",
    )
}

#[test]
fn proxy_v2_header_precedes_the_request() {
    let t = TestTarget::start_with("pp", true);
    let gw = Gateway::start_with_workers(&proxy_config(&t), 1);
    let mut c = gw.client();
    let client_addr = c.stream.local_addr().expect("client addr");
    let (status, body) = get_on(&mut c, "/prod/pp/first?x=1");
    assert_eq!((status, body.as_str()), (200, "pp"));
    let prefixes = t.prefixes();
    assert_eq!(prefixes.len(), 1, "one upstream connection expected");
    let bytes = &prefixes[0];
    let (src, dst, len) = decode_v2(bytes).unwrap_or_else(|| {
        panic!(
            "no PROXY v2 header at the start of the upstream connection: {:?}",
            truncate(&String::from_utf8_lossy(bytes), 200)
        )
    });
    assert_eq!(len, 28, "TCP4 header with no TLVs");
    assert_eq!(src, client_addr, "source = the client's address");
    let listener: SocketAddr = format!("127.0.0.1:{}", gw.port).parse().expect("addr");
    assert_eq!(dst, listener, "destination = the gateway's listener");
    let rest = String::from_utf8_lossy(&bytes[len..]);
    assert!(
        rest.starts_with("GET /first?x=1 HTTP/1.1\r\n"),
        "the HTTP request must follow the header directly: {rest:?}"
    );
    assert!(rest
        .to_ascii_lowercase()
        .contains("\r\nhost: pp.internal\r\n"));
    // Further requests on the same client connection reuse the upstream connection (no
    // second header in the middle of the stream).
    for i in 0..3 {
        let (status, body) = get_on(&mut c, &format!("/prod/pp/more/{i}"));
        assert_eq!((status, body.as_str()), (200, "pp"));
    }
    assert_eq!(t.requests(), 4);
}

/// The PROXY header is the upstream's record of who the client is for everything on that
/// connection; a request of another client must not arrive on a connection whose header
/// names somebody else.
#[test]
fn proxy_v2_source_is_right_for_every_client_connection() {
    let t = TestTarget::start_with("pp", true);
    let gw = Gateway::start_with_workers(&proxy_config(&t), 1);
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = gw.client();
        let addr = c.stream.local_addr().expect("client addr");
        let (status, body) = get_on(&mut c, &format!("/prod/pp/client/{i}"));
        assert_eq!((status, body.as_str()), (200, "pp"));
        clients.push(addr);
        drop(c);
    }
    let heads = t.heads();
    assert_eq!(heads.len(), 3);
    for (i, (src, head)) in heads.iter().enumerate() {
        assert!(head.starts_with(&format!("GET /client/{i} ")), "{head}");
        assert_eq!(
            *src,
            Some(clients[i]),
            "request {i} from client {} arrived on an upstream connection whose PROXY \
             header names {src:?} ({} upstream connection(s) for 3 clients)",
            clients[i],
            t.st.connections.load(Ordering::SeqCst)
        );
    }
}

// ---------------------------------------------------------------------------------------
// 9. TLS to the targets
// ---------------------------------------------------------------------------------------

/// A directory under the test scratch dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "target-groups-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TLS upstream (rustls over std sockets) answering every request `200 secure`; counts
/// requests and health checks (`/health...`) and records the SNI of every connection.
struct TlsTarget {
    port: u16,
    st: Arc<TlsState>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct TlsState {
    stop: AtomicBool,
    requests: AtomicUsize,
    health_checks: AtomicUsize,
    snis: Mutex<Vec<Option<String>>>,
}

impl TlsTarget {
    fn start(cert_pem: &[u8], key_pem: &[u8]) -> TlsTarget {
        let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
            rustls_pemfile::certs(&mut &cert_pem[..])
                .collect::<Result<_, _>>()
                .expect("parse cert");
        let key = rustls_pemfile::private_key(&mut &key_pem[..])
            .expect("parse key")
            .expect("a key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server cert"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tls target");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let st = Arc::new(TlsState::default());
        let st2 = st.clone();
        let acceptor = std::thread::spawn(move || {
            while !st2.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let (config, st3) = (config.clone(), st2.clone());
                        std::thread::spawn(move || serve_tls_conn(sock, config, &st3));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TlsTarget {
            port,
            st,
            acceptor: Some(acceptor),
        }
    }

    fn requests(&self) -> usize {
        self.st.requests.load(Ordering::SeqCst)
    }

    fn snis(&self) -> Vec<Option<String>> {
        self.st
            .snis
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for TlsTarget {
    fn drop(&mut self) {
        self.st.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn serve_tls_conn(sock: TcpStream, config: Arc<rustls::ServerConfig>, st: &TlsState) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut first = true;
    loop {
        while let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let total = end + 4 + content_length(&head);
            if buf.len() < total {
                break;
            }
            buf.drain(..total);
            if head.split(' ').nth(1).unwrap_or("").starts_with("/health") {
                st.health_checks.fetch_add(1, Ordering::SeqCst);
            } else {
                st.requests.fetch_add(1, Ordering::SeqCst);
            }
            let resp =
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nsecure";
            if s.write_all(resp.as_bytes())
                .and_then(|()| s.flush())
                .is_err()
            {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if first {
                    first = false;
                    let sni = s.conn.server_name().map(str::to_string);
                    st.snis.lock().unwrap_or_else(|p| p.into_inner()).push(sni);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

#[test]
fn tls_to_targets_verifies_the_ca() {
    let dir = TempDir::new("tls");
    make_ca(&dir.0, "ca", "tollgate target-group test CA");
    make_leaf(&dir.0, "ca", "server", "0x1001");
    make_ca(&dir.0, "rogue", "rogue test CA");
    let read = |f: &str| std::fs::read(dir.0.join(f)).expect("read generated file");
    let target = TlsTarget::start(&read("server.pem"), &read("server.key"));
    let addr = format!("127.0.0.1:{}", target.port);
    let ca = dir.0.join("ca.pem").display().to_string();
    let rogue = dir.0.join("rogue.pem").display().to_string();
    let cfg = config(
        &[
            (
                "secure",
                format!(
                    "{}    tls: {{ca_file: \"{ca}\", server_name: localhost}}
    health_check: {{path: /health, interval: 100ms, timeout: 100ms, unhealthy_threshold: 1}}
",
                    targets_yaml(&[(&addr, 1)])
                ),
            ),
            (
                "untrusted",
                format!(
                    "{}    tls: {{ca_file: \"{rogue}\", server_name: localhost}}\n",
                    targets_yaml(&[(&addr, 1)])
                ),
            ),
            (
                "sni",
                format!(
                    "{}    tls: {{ca_file: \"{ca}\"}}\n",
                    targets_yaml(&[(&addr, 1)])
                ),
            ),
        ],
        "",
    )
    // Without `server_name`, the integration URI's host is the TLS name.
    .replace("uri: http://sni.internal/", "uri: http://localhost/");
    let gw = Gateway::start_with_workers(&cfg, 1);
    let mut c = gw.client();
    for i in 0..3 {
        let r = c.request(&get(&format!("/prod/secure/{i}")));
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "secure"),
            "{}",
            r.describe()
        );
    }
    // A refused handshake is a connect failure (nothing was sent): with no other target to
    // retry on, 503 Service Unavailable (BEHAVIOUR.md "Target groups"), whatever the method.
    let r = gw.send(&get("/prod/untrusted/x"));
    r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
    r.assert_request_id();
    let r = gw.send(&req("POST", "/prod/untrusted/y", &[], b"body"));
    r.assert_gateway_error(503, "Service Unavailable", "ServiceUnavailableException");
    assert_eq!(
        target.requests(),
        3,
        "nothing reached the target over the untrusted group"
    );
    // Still up and still verifying with the right CA.
    let mut c = gw.client();
    let (status, body) = get_on(&mut c, "/prod/secure/after");
    assert_eq!((status, body.as_str()), (200, "secure"));
    let (status, body) = get_on(&mut c, "/prod/sni/x");
    assert_eq!(
        (status, body.as_str()),
        (200, "secure"),
        "TLS name from the URI host `localhost`"
    );
    assert!(
        target
            .snis()
            .iter()
            .all(|s| s.as_deref() == Some("localhost")),
        "every connection should send SNI localhost: {:?}",
        target.snis()
    );
    // The active checks speak TLS too (and pass): the target stays healthy.
    assert!(
        wait_until(Duration::from_secs(2), || {
            target.st.health_checks.load(Ordering::SeqCst) >= 3
        }),
        "no TLS health checks arrived"
    );
    let log = gw.stderr();
    assert!(
        !log.contains("is now unhealthy") && !log.contains("failing open"),
        "TLS health checks fail against a good target:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------
// 10. 10 MiB both ways
// ---------------------------------------------------------------------------------------

#[test]
fn ten_mib_bodies_both_ways_through_a_target_group() {
    let demo = DemoUpstream::start();
    let cfg = config(
        &[("big", targets_yaml(&[(&demo.addr(), 1)]))],
        "limits: {max_body_bytes: 20971520}\n",
    );
    let gw = Gateway::start_with_workers(&cfg, 1);
    const N: usize = 10 * 1024 * 1024;
    // Letters only, so the echo's JSON copy of the body stays 10 MiB.
    let body: Vec<u8> = pattern_bytes(N, 7)
        .into_iter()
        .map(|b| b'A' + b % 26)
        .collect();
    let mut c = gw.client();
    c.send(&req(
        "POST",
        "/prod/big/upload",
        &[("content-type", "application/octet-stream")],
        &body,
    ));
    let r = c.read_response_within(false, Duration::from_secs(30));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(
        echo.get("body_length").and_then(|v| v.as_u64()),
        Some(N as u64)
    );
    assert_eq!(jstr(&echo, "body_sha256"), sha256_hex(&body));
    assert_eq!(jstr(&echo, "path"), "/upload");
    assert_eq!(echoed_header(&echo, "host"), Some("big.internal"));

    let size = N.to_string();
    c.send(&req(
        "GET",
        "/prod/big/download",
        &[("x-echo-size", &size)],
        b"",
    ));
    let r = c.read_response_within(false, Duration::from_secs(30));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body.len(), N);
    assert!(
        r.body == echo_size_body(N),
        "download content differs from a..z"
    );
}

// ---------------------------------------------------------------------------------------
// 11. tollgate check
// ---------------------------------------------------------------------------------------

#[test]
fn check_names_unknown_group_and_bad_target_address() {
    let text = "listeners:
  - name: public
    bind: 127.0.0.1:0
apis:
  - id: tg
    routes:
      - route: GET /orders
        integration:
          type: HTTP_PROXY
          connection_type: VPC_LINK
          target_group: missing
          uri: http://orders.internal/orders
    stages:
      - name: prod
target_groups:
  - name: orders
    targets:
      - address: nowhere
";
    let file = write_temp("bad-target-groups.yaml", text);
    let mut p = Proc::spawn("check", &["check", &file.display()]);
    let status = p
        .wait_timeout(Duration::from_secs(10))
        .expect("tollgate check did not exit");
    assert_eq!(status.code(), Some(1), "stderr:\n{}", p.stderr());
    let want = [
        "apis[0].routes[0].integration.target_group",
        "target_groups[0].targets[0].address",
    ];
    wait_until(Duration::from_secs(2), || {
        let e = p.stderr();
        want.iter().all(|w| e.contains(w))
    });
    let err = p.stderr();
    for w in want {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("{}: {w}: ", file.display()))),
            "no `FILE: {w}: ...` line in:\n{err}"
        );
    }
    assert!(
        err.contains("missing"),
        "the unknown group's name should be quoted:\n{err}"
    );
    assert!(
        err.contains("nowhere"),
        "the bad address should be quoted:\n{err}"
    );
    assert!(p.stdout_lines().is_empty(), "{:?}", p.stdout_lines());
}
