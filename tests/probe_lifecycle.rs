//! Probe regression suite (issue 10 items 11 and 12): what docs/BEHAVIOUR.md claims about the
//! process lifecycle and nothing else checked, replayed against the real binary.
//!
//! - a request outlasting `server.drain_timeout`: SIGTERM exits on time, the request is cut;
//! - ordinary reloads by SIGHUP: new routes take effect, an in-flight request finishes on the
//!   old snapshot, a listener change or invalid YAML is refused with the old config serving;
//! - the stage cache kept across a reload when its capacity is unchanged, reset when it
//!   changes;
//! - integration URIs with host names: resolved on a helper thread (a slow resolver does not
//!   stall the worker) and resolved again after the 30 s cache time;
//! - the real admission path across throttle levels and quotas: a request refused at one
//!   level consumes nothing at the others.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const RELOADED: &str = "configuration reloaded from";
const REFUSED: &str = "reload refused";

/// A fixed 200 whose body is `body`.
fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Rewrite the gateway's configuration file and send SIGHUP.
fn sighup_with(gw: &Gateway, yaml: &str) {
    std::fs::write(gw.config.path(), yaml).expect("rewrite the configuration");
    gw.proc.signal(libc::SIGHUP);
}

/// GET `path` on a fresh connection until the answer is `status` with body `body`.
#[track_caller]
fn wait_for_answer(gw: &Gateway, path: &str, status: u16, body: &str) {
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(5), || {
        let r = gw.send(&get(path));
        last = r.describe();
        r.status == status && r.body_str() == body
    });
    assert!(
        ok,
        "GET {path} never answered {status} {body:?}; last: {last}\nstderr:\n{}",
        gw.stderr()
    );
}

#[track_caller]
fn assert_no_route(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.describe());
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
}

// ------------------------------------------------------------------ drain_timeout

/// BEHAVIOUR.md "Shutdown": the process exits 0 once in-flight requests are done "or
/// `server.drain_timeout` has passed". A request that outlasts it is cut (the client gets no
/// response, its connection is closed) and the exit comes on time, not when the integration
/// timeout (10 s here) would end the request.
#[test]
fn request_outlasting_drain_timeout_is_cut_and_the_process_exits_on_time() {
    let held = HeldUpstream::start(&ok_response("late"));
    let yaml = format!(
        "server:
  drain_timeout: 1s
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: d
apis:
  - id: d
    routes:
      - route: GET /held
        integration:
          type: HTTP_PROXY
          uri: http://{up}/held
          timeout: 10s
    stages:
      - name: prod
",
        up = held.addr()
    );
    let mut gw = Gateway::start(&yaml);
    let mut c = gw.client();
    c.send(&get("/prod/held"));
    assert!(
        held.wait_requests(1, Duration::from_secs(5)),
        "the request never reached the upstream"
    );
    let t0 = Instant::now();
    gw.proc.sigterm();
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(8))
        .unwrap_or_else(|| {
            panic!(
                "still running {:?} after SIGTERM with drain_timeout 1s; stderr:\n{}",
                t0.elapsed(),
                gw.stderr()
            )
        });
    let took = t0.elapsed();
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        gw.stderr()
    );
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}, before drain_timeout (1 s) with a request in flight"
    );
    assert!(
        took < Duration::from_secs(4),
        "exited after {took:?}: drain_timeout is 1 s"
    );
    gw.proc.wait_output_closed(Duration::from_secs(5));
    assert!(
        gw.stderr()
            .contains("drain deadline passed with 1 connection(s) open"),
        "the cut connection was not logged; stderr:\n{}",
        gw.stderr()
    );
    let (raw, closed) = c.read_to_eof(Duration::from_secs(2));
    assert!(closed, "the client connection was left open after the exit");
    assert!(
        !raw.starts_with(b"HTTP/1.1 200"),
        "the cut request still got the upstream's answer: {:?}",
        String::from_utf8_lossy(&raw)
    );
    // The upstream saw its connection go (nothing ever answered it).
    assert!(
        wait_until(Duration::from_secs(2), || held.peer_closed() >= 1),
        "the upstream connection of the cut request was not closed"
    );
}

// ------------------------------------------------------------------ reloads

fn reload_config(svc_up: &str, extra_routes: &str) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: r
apis:
  - id: r
    routes:
      - route: GET /svc/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{svc_up}/{{proxy}}
          timeout: 10s
{extra_routes}    stages:
      - name: prod
"
    )
}

fn mock_route(route: &str, body: &str) -> String {
    format!(
        "      - route: {route}
        integration:
          type: MOCK
          body: {body}
"
    )
}

/// BEHAVIOUR.md: reload (SIGHUP) re-reads the whole configuration; new connections and
/// requests use it, in-flight requests are untouched.
#[test]
fn sighup_reload_applies_new_routes_and_in_flight_request_finishes_on_the_old_snapshot() {
    let a = HeldUpstream::start(&ok_response("A"));
    let b = ScriptedUpstream::start(&ok_response("B"), After::KeepOpen);
    let b_addr = format!("127.0.0.1:{}", b.port);
    let v1 = reload_config(&a.addr(), &mock_route("GET /old", "old"));
    let gw = Gateway::start(&v1);
    assert_eq!(gw.send(&get("/prod/old")).body_str(), "old");
    assert_no_route(&gw.send(&get("/prod/new")), "before the reload");

    // A request in flight on the v1 route to A.
    let mut inflight = gw.client();
    inflight.send(&get("/prod/svc/1"));
    assert!(
        a.wait_requests(1, Duration::from_secs(5)),
        "the in-flight request never reached upstream A"
    );

    // v2: /svc goes to B, /old is gone, /new appears.
    let v2 = reload_config(&b_addr, &mock_route("GET /new", "new"));
    sighup_with(&gw, &v2);
    wait_log(&gw, RELOADED, 1, Duration::from_secs(5));
    wait_for_answer(&gw, "/prod/new", 200, "new");
    assert_no_route(&gw.send(&get("/prod/old")), "a route removed by the reload");
    let r = gw.send(&get("/prod/svc/2"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "B"),
        "a new request after the reload: {}",
        r.describe()
    );

    // The request in flight since before the reload finishes on the old snapshot (A).
    a.release();
    let r = inflight.read_response();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "A"),
        "the in-flight request: {}",
        r.describe()
    );
    assert!(!r.says_close(), "{}", r.describe());
    // Its connection stays open, and its next request uses the new configuration.
    let r = inflight.request(&get("/prod/svc/3"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "B"),
        "the next request on a connection opened before the reload: {}",
        r.describe()
    );
    assert_eq!(a.requests().len(), 1, "A got requests after the reload");
    assert_eq!(b.requests().len(), 2);
}

/// BEHAVIOUR.md: "Listener changes need a restart (the reload is refused)"; a reload that
/// fails leaves the running configuration serving. Each refused reload also carries a new
/// route, which must not appear; a valid reload afterwards still works.
#[test]
fn reload_with_a_listener_change_or_invalid_yaml_is_refused_and_the_old_config_serves() {
    let up = ScriptedUpstream::start(&ok_response("up"), After::KeepOpen);
    let up_addr = format!("127.0.0.1:{}", up.port);
    let v1 = reload_config(&up_addr, &mock_route("GET /v1", "one"));
    let mut gw = Gateway::start(&v1);
    let serving = |gw: &Gateway, what: &str| {
        let r = gw.send(&get("/prod/v1"));
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "one"),
            "{what}: {}",
            r.describe()
        );
        let r = gw.send(&get("/prod/svc/x"));
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "up"),
            "{what}: {}",
            r.describe()
        );
    };
    serving(&gw, "before any reload");

    // 1. A listener change (another name and a fixed port) plus a new route.
    let other_port = dead_port();
    let changed = reload_config(
        &up_addr,
        &format!(
            "{}{}",
            mock_route("GET /v1", "one"),
            mock_route("GET /added", "added")
        ),
    )
    .replace(
        "  - name: public\n    bind: 127.0.0.1:0\n",
        &format!("  - name: renamed\n    bind: 127.0.0.1:{other_port}\n"),
    );
    assert!(changed.contains("renamed"), "test bug: no listener change");
    sighup_with(&gw, &changed);
    wait_log(
        &gw,
        "reload refused: listeners changed",
        1,
        Duration::from_secs(5),
    );
    serving(&gw, "after a refused listener change");
    assert_no_route(
        &gw.send(&get("/prod/added")),
        "a route from a refused reload",
    );
    assert!(
        TcpStream::connect(("127.0.0.1", other_port)).is_err(),
        "the refused reload opened its listener"
    );

    // 2. Invalid YAML.
    let before = gw.stderr().matches(REFUSED).count();
    sighup_with(
        &gw,
        &format!("{}{}", v1, "  broken: [unclosed\n    - : :\n"),
    );
    wait_log(&gw, REFUSED, before + 1, Duration::from_secs(5));
    assert!(gw.proc.is_running(), "invalid YAML killed the gateway");
    serving(&gw, "after a refused invalid file");
    assert!(
        !gw.stderr().contains(RELOADED),
        "a refused reload was logged as applied:\n{}",
        gw.stderr()
    );

    // 3. A valid reload still applies.
    let v2 = reload_config(
        &up_addr,
        &format!(
            "{}{}",
            mock_route("GET /v1", "one"),
            mock_route("GET /added", "added")
        ),
    );
    sighup_with(&gw, &v2);
    wait_log(&gw, RELOADED, 1, Duration::from_secs(5));
    wait_for_answer(&gw, "/prod/added", 200, "added");
    serving(&gw, "after a valid reload");
}

// ------------------------------------------------------------------ stage cache and reload

fn cache_config(up: &str, cluster_size: &str, extra_routes: &str) -> String {
    format!(
        "admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: c
apis:
  - id: c
    type: REST
    routes:
      - route: GET /item
        integration: {{type: HTTP_PROXY, uri: \"http://{up}/item\"}}
{extra_routes}    stages:
      - name: prod
        cache:
          enabled: true
          cluster_size: {cluster_size}
          ttl: 300s
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
"
    )
}

fn cache_stats(gw: &Gateway) -> serde_json::Value {
    let r = Client::connect(gw.port_of("admin")).request(&get("/restapis/c/stages/prod/cache"));
    assert_eq!(r.status, 200, "cache statistics: {}", r.describe());
    r.json()
}

#[track_caller]
fn get_item(gw: &Gateway, want_cache: &str, what: &str) {
    let r = Client::connect(gw.port_of("public")).request(&get("/prod/item"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, COUNTING_BODY),
        "{what}: {}",
        r.describe()
    );
    assert_eq!(
        r.header("x-cache"),
        Some(want_cache),
        "{what}: {}",
        r.describe()
    );
}

/// Upstream requests seen by a [`CountingUpstream`].
fn upstream_requests(up: &CountingUpstream) -> usize {
    String::from_utf8_lossy(&up.received())
        .matches("GET /item HTTP/1.1\r\n")
        .count()
}

/// BEHAVIOUR.md "Stage cache": reload keeps a stage's cache (entries and counters) when the
/// API id, stage name, capacity and eviction policy are unchanged; otherwise the stage
/// starts with an empty cache. Changing routes does not flush it.
#[test]
fn stage_cache_is_kept_across_a_reload_with_the_same_capacity_and_reset_when_it_changes() {
    let up = CountingUpstream::start();
    let up_addr = format!("127.0.0.1:{}", up.port);
    let v1 = cache_config(&up_addr, "0.01", "");
    let gw = Gateway::start(&v1);
    get_item(&gw, "Miss", "first request");
    get_item(&gw, "Hit", "second request");
    assert_eq!(upstream_requests(&up), 1);

    // Same capacity and policy, another route: entries and counters are kept.
    let v2 = cache_config(&up_addr, "0.01", &mock_route("GET /v2", "two"));
    sighup_with(&gw, &v2);
    wait_log(&gw, RELOADED, 1, Duration::from_secs(5));
    assert!(
        gw.stderr().contains("reload: kept the cache of 1 stage(s)"),
        "{}",
        gw.stderr()
    );
    wait_for_answer(&gw, "/prod/v2", 200, "two");
    get_item(&gw, "Hit", "after a reload with the same capacity");
    assert_eq!(upstream_requests(&up), 1, "the kept entry went upstream");
    let s = cache_stats(&gw);
    assert_eq!(
        (&s["CacheHitCount"], &s["CacheMissCount"], &s["entries"]),
        (&2.into(), &1.into(), &1.into()),
        "counters and entries after a reload that keeps the cache: {s}"
    );
    let capacity = s["capacity_bytes"].clone();

    // Another capacity: the stage starts with an empty cache and fresh counters.
    let v3 = cache_config(
        &up_addr,
        "0.02",
        &format!(
            "{}{}",
            mock_route("GET /v2", "two"),
            mock_route("GET /v3", "three")
        ),
    );
    sighup_with(&gw, &v3);
    wait_log(&gw, RELOADED, 2, Duration::from_secs(5));
    wait_for_answer(&gw, "/prod/v3", 200, "three");
    let s = cache_stats(&gw);
    assert_ne!(
        s["capacity_bytes"], capacity,
        "the capacity did not change: {s}"
    );
    assert_eq!(
        (&s["CacheHitCount"], &s["CacheMissCount"], &s["entries"]),
        (&0.into(), &0.into(), &0.into()),
        "a cache whose capacity changed must start empty: {s}"
    );
    get_item(&gw, "Miss", "after a reload that changed the capacity");
    assert_eq!(upstream_requests(&up), 2);
    get_item(&gw, "Hit", "the new cache stores again");
}

// ------------------------------------------------------------------ admission across levels

const METERED_KEY: &str = "metered-key-0123456789";
const CAPPED_KEY: &str = "capped-key-0123456789";

/// `tollgate usage --state-file F --json`: `used` of (plan, key), once the file has it.
fn quota_used(state: &std::path::Path, plan: &str, key_id: &str) -> Option<u64> {
    if !state.exists() {
        return None;
    }
    let (code, out, err) = cli(&[
        "usage",
        "--state-file",
        &state.display().to_string(),
        "--json",
    ]);
    assert_eq!(code, 0, "tollgate usage failed: {err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tollgate usage --json is not JSON ({e}): {out}"));
    v["usagePlans"]
        .as_array()?
        .iter()
        .find(|p| p["usagePlanId"] == plan)?["quotas"]
        .as_array()?
        .iter()
        .find(|q| q["keyId"] == key_id)?["used"]
        .as_u64()
}

/// `n` GETs of `path` with `key` on one connection: (200s, 429 Too Many Requests).
#[track_caller]
fn send_n(gw: &Gateway, path: &str, key: &str, n: usize) -> (usize, usize) {
    let mut c = gw.client();
    let (mut ok, mut throttled) = (0, 0);
    for i in 0..n {
        let r = c.request(&req("GET", path, &[("x-api-key", key)], b""));
        match r.status {
            200 => ok += 1,
            429 => {
                r.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
                throttled += 1;
            }
            _ => panic!("GET {path} #{i}: {}", r.describe()),
        }
    }
    (ok, throttled)
}

/// docs/BEHAVIOUR.md "Throttling and quotas": all levels are checked before any token is
/// taken, so a request refused at one level consumes nothing at the others, and the quota is
/// counted only after throttling admits a request. Rates are 0.001/s so that only the bursts
/// matter: every count below is exact. One worker holds every token (no leases to wait for).
#[test]
fn refused_at_one_level_consumes_nothing_at_the_others_nor_the_quota() {
    let state = write_temp("admit.state", "");
    std::fs::remove_file(state.path()).expect("start without a state file");
    let yaml = format!(
        "server:
  state_file: {state}
  state_flush_interval: 100ms
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: adm
apis:
  - id: adm
    routes:
{limited}{free}    stages:
      - name: prod
        throttle: {{rate: 0.001, burst: 5}}
        method_throttle:
          - {{route: GET /limited, rate: 0.001, burst: 2}}
api_keys:
  - {{id: metered, value: {METERED_KEY}}}
  - {{id: capped, value: {CAPPED_KEY}}}
usage_plans:
  - name: quota-plan
    throttle: {{rate: 1000, burst: 500}}
    quota: {{limit: 1000, period: DAY}}
    api_stages: [{{api: adm, stage: prod}}]
    keys: [metered]
  - name: tight-plan
    throttle: {{rate: 0.001, burst: 1}}
    api_stages: [{{api: adm, stage: prod}}]
    keys: [capped]
",
        state = state.display(),
        limited = mock_route("GET /limited", "ok").replace(
            "      - route: GET /limited\n",
            "      - route: GET /limited\n        api_key_required: true\n"
        ),
        free = mock_route("GET /free", "ok").replace(
            "      - route: GET /free\n",
            "      - route: GET /free\n        api_key_required: true\n"
        ),
    );
    let gw = Gateway::start(&yaml);

    // 1. The stage's per-route throttle (burst 2) refuses 4 of 6: those spend neither the
    //    stage throttle (burst 5) nor the usage plan's quota.
    assert_eq!(
        send_n(&gw, "/prod/limited", METERED_KEY, 6),
        (2, 4),
        "GET /limited with a route burst of 2"
    );
    // 2. The tight plan (burst 1) refuses 3 of 4: they spend nothing of the stage throttle.
    assert_eq!(
        send_n(&gw, "/prod/free", CAPPED_KEY, 4),
        (1, 3),
        "the tight plan's key with a plan burst of 1"
    );
    // 3. The stage throttle spent 3 of its 5 tokens: exactly 2 more pass. Had the 7 refused
    //    requests taken a stage token, none would.
    assert_eq!(
        send_n(&gw, "/prod/free", METERED_KEY, 4),
        (2, 2),
        "the stage throttle (burst 5) after 3 admitted and 7 refused requests"
    );
    // 4. The quota counted the 4 admitted requests of its key, not the 6 refused ones.
    let mut last = None;
    let counted = wait_until(Duration::from_secs(5), || {
        last = quota_used(state.path(), "quota-plan", "metered");
        last == Some(4)
    });
    assert!(
        counted,
        "quota used by the metered key: {last:?}, expected 4 (4 admitted, 6 refused by a \
         throttle)"
    );
}

// ------------------------------------------------------------------ host names in integration URIs

/// The name the gateway resolves (only through [`TestDns`]).
const UPSTREAM_NAME: &str = "upstream.probe.test";

/// A DNS server on port 53 (UDP) of a loopback address of its own (127.53.x.y, picked from
/// the process id, so concurrent test runs and a local resolver on 127.0.0.1:53 or
/// 127.0.0.53:53 do not collide; resolv.conf cannot name a port) for [`UPSTREAM_NAME`] alone: it answers `A 127.0.0.1`
/// (mode 0) or `AAAA ::1` (mode 1), NXDOMAIN for any other name, and holds its answers until
/// [`TestDns::release`], so a test can see what the gateway does while a lookup is pending.
struct TestDns {
    /// The address it listens on (port 53), for resolv.conf.
    ip: std::net::Ipv4Addr,
    state: Arc<DnsState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct DnsState {
    mode: AtomicU8,
    released: AtomicBool,
    stop: AtomicBool,
    /// When each query for the name arrived.
    queries: Mutex<Vec<Instant>>,
    answered: AtomicUsize,
    released_at: Mutex<Option<Instant>>,
}

impl TestDns {
    fn start() -> TestDns {
        let pid = std::process::id();
        let ip = std::net::Ipv4Addr::new(127, 53, (pid >> 8) as u8, (pid as u8).max(1));
        let sock = UdpSocket::bind((ip, 53)).unwrap_or_else(|e| {
            panic!(
                "this test runs a DNS server on {ip}:53 for the gateway (which it starts \
                 with its own resolv.conf in a private mount namespace); binding it failed \
                 ({e}): run the tests as root"
            )
        });
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let state = Arc::new(DnsState {
            mode: AtomicU8::new(0),
            released: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            queries: Mutex::new(Vec::new()),
            answered: AtomicUsize::new(0),
            released_at: Mutex::new(None),
        });
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<(Vec<u8>, std::net::SocketAddr)> = Vec::new();
            let mut buf = [0u8; 1500];
            while !st.stop.load(Ordering::SeqCst) {
                if st.released.load(Ordering::SeqCst) {
                    for (q, from) in held.drain(..) {
                        if let Some(answer) = dns_answer(&q, st.mode.load(Ordering::SeqCst)) {
                            let _ = sock.send_to(&answer, from);
                            st.answered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let q = buf[..n].to_vec();
                        if dns_qname(&q).as_deref() == Some(UPSTREAM_NAME) {
                            st.queries
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(Instant::now());
                        }
                        held.push((q, from));
                    }
                    Err(e)
                        if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    }
                    Err(_) => {}
                }
            }
        });
        TestDns {
            ip,
            state,
            thread: Some(thread),
        }
    }

    fn release(&self) {
        *self
            .state
            .released_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.state.released.store(true, Ordering::SeqCst);
    }

    fn set_mode(&self, mode: u8) {
        self.state.mode.store(mode, Ordering::SeqCst);
    }

    fn queries(&self) -> Vec<Instant> {
        self.state
            .queries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }

    fn released_at(&self) -> Option<Instant> {
        *self
            .state
            .released_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question name of a DNS query (lower case, no trailing dot).
fn dns_qname(q: &[u8]) -> Option<String> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    Some(labels.join("."))
}

/// The answer to query `q`: the address of [`UPSTREAM_NAME`] for the mode's type (A
/// 127.0.0.1 in mode 0, AAAA ::1 in mode 1), no data for the other type, NXDOMAIN for other
/// names.
fn dns_answer(q: &[u8], mode: u8) -> Option<Vec<u8>> {
    let name = dns_qname(q)?;
    let mut end = 12;
    while *q.get(end)? != 0 {
        end += 1 + q[end] as usize;
    }
    let question_end = end + 5; // root label, type, class
    let qtype = u16::from_be_bytes([*q.get(end + 1)?, *q.get(end + 2)?]);
    let rdata: Option<Vec<u8>> = match (name == UPSTREAM_NAME, qtype, mode) {
        (true, 1, 0) => Some(vec![127, 0, 0, 1]),
        (true, 28, 1) => Some(std::net::Ipv6Addr::LOCALHOST.octets().to_vec()),
        _ => None,
    };
    let mut out = Vec::with_capacity(question_end + 32);
    out.extend_from_slice(&q[0..2]); // id
    let rcode = if name == UPSTREAM_NAME { 0 } else { 3 };
    out.extend_from_slice(&[0x81, 0x80 | rcode]); // QR, RD, RA
    out.extend_from_slice(&[0, 1, 0, u8::from(rdata.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(q.get(12..question_end)?);
    if let Some(rdata) = rdata {
        out.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 30]); // IN, TTL 30
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// A keep-alive upstream on `addr` answering every request with 200 `tag`.
struct TaggedUpstream {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TaggedUpstream {
    fn start(listener: TcpListener, tag: &'static str) -> TaggedUpstream {
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let st2 = st.clone();
                        std::thread::spawn(move || {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_millis(20)));
                            let mut seen = Vec::new();
                            let mut chunk = [0u8; 4096];
                            while !st2.load(Ordering::SeqCst) {
                                match s.read(&mut chunk) {
                                    Ok(0) => return,
                                    Ok(n) => seen.extend_from_slice(&chunk[..n]),
                                    Err(e)
                                        if e.kind() == ErrorKind::WouldBlock
                                            || e.kind() == ErrorKind::TimedOut => {}
                                    Err(_) => return,
                                }
                                while let Some(end) = find_subslice(&seen, b"\r\n\r\n") {
                                    seen.drain(..end + 4);
                                    if s.write_all(&ok_response(tag)).is_err() {
                                        return;
                                    }
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TaggedUpstream {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TaggedUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Listeners on 127.0.0.1:P and [::1]:P for one port P.
fn same_port_on_both_loopbacks() -> (TcpListener, TcpListener, u16) {
    for _ in 0..50 {
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = v4.local_addr().expect("addr").port();
        if let Ok(v6) = TcpListener::bind(("::1", port)) {
            return (v4, v6, port);
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}

/// BEHAVIOUR.md "HTTP_PROXY integrations": host names in integration URIs are resolved on a
/// helper thread (never on the event loop) and cached for 30 s per worker. The gateway runs
/// in a private mount namespace whose resolv.conf points at [`TestDns`] (hosts: dns only).
///
/// 1. While the lookup is pending (the DNS server holds its answer), the same single worker
///    still answers another request: the lookup does not block the event loop.
/// 2. The answer (127.0.0.1, upstream A) is used; the name then moves to ::1 (upstream B):
///    requests keep going to A, without a new query, until the cache time has passed; then the
///    gateway asks again and B gets the traffic.
#[test]
fn host_name_integration_resolves_off_the_event_loop_and_again_after_the_cache_time() {
    let dns = TestDns::start();
    let resolv = write_temp(
        "resolv.conf",
        &format!("nameserver {}\noptions timeout:10 attempts:1\n", dns.ip),
    );
    let nss = write_temp("nsswitch.conf", "hosts: dns\n");
    let (v4, v6, port) = same_port_on_both_loopbacks();
    let _a = TaggedUpstream::start(v4, "A");
    let _b = TaggedUpstream::start(v6, "B");
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: dn
apis:
  - id: dn
    routes:
      - route: GET /named
        integration:
          type: HTTP_PROXY
          uri: http://{UPSTREAM_NAME}:{port}/named
          timeout: 20s
{mock}    stages:
      - name: prod
",
        mock = mock_route("GET /mock", "mocked"),
    );
    let script = r#"r=$0; n=$1; shift; mount --bind "$r" /etc/resolv.conf && mount --bind "$n" /etc/nsswitch.conf && exec "$@""#;
    let (resolv_s, nss_s) = (resolv.display(), nss.display());
    let gw = Gateway::start_wrapped(
        &yaml,
        1,
        &["unshare", "-m", "sh", "-c", script, &resolv_s, &nss_s],
    );

    // 1. A lookup held by the DNS server; the worker still serves.
    let mut named = gw.client();
    named.send(&get("/prod/named"));
    assert!(
        wait_until(Duration::from_secs(5), || !dns.queries().is_empty()),
        "the gateway never asked the DNS server for {UPSTREAM_NAME}; stderr:\n{}",
        gw.stderr()
    );
    let r = gw.send(&get("/prod/mock"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "mocked"),
        "while a lookup was pending: {}",
        r.describe()
    );
    assert_eq!(
        dns.answered(),
        0,
        "test bug: the lookup was answered already"
    );
    dns.release();
    let r = named.read_response();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "A"),
        "once resolved to 127.0.0.1: {}",
        r.describe()
    );
    let first_queries = dns.queries().len();
    let resolved_at = dns.released_at().expect("released");

    // 2. The name moves to ::1. Within the cache time: still A, no new query.
    dns.set_mode(1);
    let mut moved_at = None;
    let deadline = resolved_at + Duration::from_secs(45);
    while Instant::now() < deadline {
        let r = named.request(&get("/prod/named"));
        assert_eq!(r.status, 200, "{}", r.describe());
        if r.body_str() == "B" {
            moved_at = Some(Instant::now());
            break;
        }
        assert_eq!(r.body_str(), "A", "{}", r.describe());
        std::thread::sleep(Duration::from_millis(200)); // request pacing, not synchronisation
    }
    let moved_at = moved_at.unwrap_or_else(|| {
        panic!(
            "requests still went to the old address 45 s after it was resolved (cache time \
             30 s); queries: {}; stderr:\n{}",
            dns.queries().len(),
            gw.stderr()
        )
    });
    let queries = dns.queries();
    assert!(
        queries.len() > first_queries,
        "the gateway moved without asking again"
    );
    let asked_again = queries[first_queries] - resolved_at;
    assert!(
        asked_again >= Duration::from_millis(29_500),
        "the name was resolved again {asked_again:?} after the first answer: before the 30 s \
         cache time"
    );
    assert!(
        moved_at - resolved_at <= Duration::from_secs(33),
        "the new address was used only {:?} after the first answer (cache time 30 s)",
        moved_at - resolved_at
    );
}
