//! Throttling, API keys, usage plans and quotas against the real binary on loopback.
//!
//! What is checked (docs/CONFIG.md "Throttling, API keys and usage plans", docs/BEHAVIOUR.md
//! "Throttling and quotas", DESIGN.md "Throttling is global in effect"):
//!
//! - the 429 `Too Many Requests` shape (body, `x-amzn-ErrorType`, `Retry-After`, request id,
//!   keep-alive) and that waiting `Retry-After` seconds is enough;
//! - every throttle level (usage-plan per-method, usage plan, stage per-method, stage,
//!   account) caps its route/key combination, the most restrictive one winning; routes
//!   without `api_key_required` ignore the plan;
//! - the global properties of the per-core leases: (a) clients spread over cores get about
//!   `rate x t + burst` in total and never more, (b) one connection on one core gets the
//!   whole rate, (c) a limit below the number of cores still admits one per second;
//! - API key errors (403 Forbidden);
//! - quota exhaustion (429 `Limit Exceeded`), `tollgate usage`, periods that roll over,
//!   quotas surviving SIGTERM, SIGKILL (after a flush) and reload (also under load, and
//!   with reload signals arriving during a reload).
//!
//! The load-measuring tests take [`LOAD_LOCK`] so that their measurements do not compete for
//! the two cores of the CI machine; the quick functional tests run beside them.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

/// Serialises the tests whose assertions are about admitted rates.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

fn load_lock() -> MutexGuard<'static, ()> {
    LOAD_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

// ------------------------------------------------------------------ helpers

/// A GET with an optional `x-api-key`.
fn get_key(target: &str, key: Option<&str>) -> Vec<u8> {
    match key {
        Some(k) => req("GET", target, &[("x-api-key", k)], b""),
        None => get(target),
    }
}

/// What a group of keep-alive connections saw while sending one request over and over.
#[derive(Debug, Default)]
struct Outcome {
    /// 200 responses.
    ok: u64,
    /// 429 Too Many Requests responses.
    throttled: u64,
    /// Anything else: (status, body).
    other: Vec<(u16, String)>,
    /// When each 200 arrived, measured from the common start (sorted).
    ok_at: Vec<Duration>,
    /// From the common start until the last response arrived.
    elapsed: Duration,
    /// Requests sent in total.
    requests: u64,
    /// When each request was sent, measured from the common start (sorted).
    sent_at: Vec<Duration>,
}

impl Outcome {
    #[track_caller]
    fn assert_clean(&self, what: &str) {
        assert!(
            self.other.is_empty(),
            "{what}: unexpected responses (first few): {:?}",
            &self.other[..self.other.len().min(5)]
        );
        assert!(
            self.requests > self.ok,
            "{what}: no request was throttled ({} sent, {} admitted): the client was too slow to test the limit",
            self.requests,
            self.ok
        );
    }

    /// How many of the requests actually sent an ideal token bucket (`rate`/s, `burst`, full
    /// at the start) would have admitted, judging each at the moment it was sent. The lower
    /// bounds are judged against this, so a client slowed down by a loaded machine (sending
    /// less than the limit in some windows) lowers the expectation instead of failing the
    /// test, while a gateway admitting less than the demand allows still fails it.
    fn ideal(&self, rate: f64, burst: f64) -> f64 {
        let mut tokens = burst;
        let mut last = Duration::ZERO;
        let mut admitted = 0u64;
        for &t in &self.sent_at {
            tokens = (tokens + rate * (t - last).as_secs_f64()).min(burst);
            last = t;
            if tokens >= 1.0 {
                tokens -= 1.0;
                admitted += 1;
            }
        }
        admitted as f64
    }

    /// Assert that, at every moment a 200 arrived, the admitted count so far stayed within
    /// `burst + rate x t + slack` (a response received by then was admitted by then).
    #[track_caller]
    fn assert_never_above(&self, rate: f64, burst: f64, slack: f64, what: &str) {
        for (i, at) in self.ok_at.iter().enumerate() {
            let n = (i + 1) as f64;
            let cap = burst + rate * at.as_secs_f64() + slack;
            assert!(
                n <= cap,
                "{what}: {n} requests admitted within {at:?}, above burst {burst} + rate {rate}/s x t + {slack} = {cap:.1}"
            );
        }
    }
}

/// Open `conns` keep-alive connections to `port`, then (all at once) send `request` on each,
/// one at a time, until `duration` has passed; `pause` between requests on a connection.
/// Only 200 and 429 (with the throttling body) are expected.
fn hammer(port: u16, conns: usize, duration: Duration, request: &[u8], pause: Duration) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    hammer_until(port, conns, duration, request, pause, stop)
}

/// [`hammer`], also stopping early once `stop` is set.
fn hammer_until(
    port: u16,
    conns: usize,
    duration: Duration,
    request: &[u8],
    pause: Duration,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let barrier = Arc::new(Barrier::new(conns + 1));
    let start = Arc::new(Mutex::new(None::<Instant>));
    let mut handles = Vec::new();
    for _ in 0..conns {
        let barrier = barrier.clone();
        let start = start.clone();
        let request = request.to_vec();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut c = Client::connect(port);
            barrier.wait();
            let t0 = start
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .expect("start time set before the barrier releases");
            let deadline = t0 + duration;
            let mut out = Outcome::default();
            let mut last = t0;
            while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                out.sent_at.push(Instant::now() - t0);
                let r = c.request(&request);
                last = Instant::now();
                out.requests += 1;
                match r.status {
                    200 => {
                        out.ok += 1;
                        out.ok_at.push(last - t0);
                    }
                    429 if r.body_str() == r#"{"message":"Too Many Requests"}"# => {
                        out.throttled += 1
                    }
                    s => out.other.push((s, truncate(&r.body_str(), 200))),
                }
                if r.says_close() {
                    out.other.push((r.status, "connection: close".to_string()));
                    break;
                }
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
            }
            out.elapsed = last - t0;
            out
        }));
    }
    // Set the start just before releasing the clients.
    *start.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    barrier.wait();
    let mut total = Outcome::default();
    for h in handles {
        let o = h.join().expect("client thread panicked");
        total.ok += o.ok;
        total.throttled += o.throttled;
        total.other.extend(o.other);
        total.ok_at.extend(o.ok_at);
        total.requests += o.requests;
        total.sent_at.extend(o.sent_at);
        total.elapsed = total.elapsed.max(o.elapsed);
    }
    total.ok_at.sort();
    total.sent_at.sort();
    total
}

/// A MOCK route item (indented for `routes:`).
fn mock_route(route: &str, key_required: bool) -> String {
    format!(
        "      - route: {route}
        api_key_required: {key_required}
        integration:
          type: MOCK
          status: 200
          body: ok
"
    )
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// If fewer than `margin` seconds are left in the current UTC period of `period` seconds,
/// sleep until `0.2 s` into the next one (so a test's requests fall in one period).
fn avoid_period_end(period: u64, margin: f64) {
    let now = unix_now();
    let into = now % period as f64;
    if period as f64 - into < margin {
        let wait = period as f64 - into + 0.2;
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

/// A path in the test scratch directory (not created), removed on drop together with the
/// `PATH.tmp` a state-file write leaves behind when the gateway dies in the middle of it.
struct ScratchPath(TempFile);

impl std::ops::Deref for ScratchPath {
    type Target = TempFile;
    fn deref(&self) -> &TempFile {
        &self.0
    }
}

impl Drop for ScratchPath {
    fn drop(&mut self) {
        let mut tmp = self.0.path().as_os_str().to_os_string();
        tmp.push(".tmp");
        let _ = std::fs::remove_file(tmp);
    }
}

fn temp_path(name: &str) -> ScratchPath {
    let f = write_temp(name, "");
    let _ = std::fs::remove_file(f.path());
    ScratchPath(f)
}

/// `tollgate usage --state-file F --json`: the quota record of (plan, key), if present.
fn usage_quota(state: &TempFile, plan: &str, key_id: &str) -> Option<serde_json::Value> {
    if !state.path().exists() {
        return None;
    }
    let (code, out, err) = cli(&["usage", "--state-file", &state.display(), "--json"]);
    assert_eq!(code, 0, "tollgate usage failed: {err}\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tollgate usage --json is not JSON ({e}): {out}"));
    let plans = v["usagePlans"].as_array()?;
    let p = plans.iter().find(|p| p["usagePlanId"] == plan)?;
    p["quotas"]
        .as_array()?
        .iter()
        .find(|q| q["keyId"] == key_id)
        .cloned()
}

/// Wait until `tollgate usage` shows `used` for (plan, key); returns the record.
#[track_caller]
fn wait_usage(state: &TempFile, plan: &str, key_id: &str, used: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = None;
    loop {
        if let Some(q) = usage_quota(state, plan, key_id) {
            if q["used"].as_u64() == Some(used) {
                return q;
            }
            last = Some(q);
        }
        if Instant::now() >= deadline {
            panic!(
                "state file {} never showed used {used} for plan {plan} key {key_id}; last record: {last:?}",
                state.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn expect_ok(c: &mut Client, request: &[u8], what: &str) {
    let r = c.request(request);
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
}

#[track_caller]
fn expect_limit_exceeded(c: &mut Client, request: &[u8], what: &str) {
    let r = c.request(request);
    r.assert_gateway_error(429, "Limit Exceeded", "LimitExceededException");
    assert!(
        !r.says_close(),
        "{what}: 429 closed the connection: {}",
        r.describe()
    );
}

// ------------------------------------------------------------------ 1. the 429 shape

#[test]
fn throttled_request_gets_api_gateway_429_and_keeps_the_connection() {
    let _serial = load_lock();
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: t
apis:
  - id: t
    routes:
{hello}    stages:
      - name: prod
api_keys:
  - id: one
    value: key-one-0123456789
  - id: half
    value: key-half-0123456789
usage_plans:
  - name: tiny
    throttle: {{rate: 1, burst: 1}}
    api_stages: [{{api: t, stage: prod}}]
    keys: [one]
  - name: slow
    throttle: {{rate: 0.5, burst: 1}}
    api_stages: [{{api: t, stage: prod}}]
    keys: [half]
",
        hello = mock_route("GET /hello", true)
    );
    let gw = Gateway::start(&yaml);
    let request = get_key("/prod/hello", Some("key-one-0123456789"));
    let mut c = gw.client();

    let first = c.request(&request);
    assert_eq!(first.status, 200, "first request: {}", first.describe());
    assert_eq!(first.body_str(), "ok");

    let second = c.request(&request);
    second.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
    let retry = second
        .header("Retry-After")
        .unwrap_or_else(|| panic!("429 without Retry-After: {}", second.describe()));
    let retry: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {retry:?} is not an integer"));
    assert!(retry >= 1, "Retry-After {retry}: {}", second.describe());
    assert!(
        !second.says_close(),
        "a 429 must not close the connection: {}",
        second.describe()
    );
    assert_eq!(second.header_count("content-length"), 1);

    // The same connection keeps working: refused again at once, admitted after Retry-After.
    let third = c.request(&request);
    third.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
    std::thread::sleep(Duration::from_secs(retry) + Duration::from_millis(300));
    let after = c.request(&request);
    assert_eq!(
        after.status,
        200,
        "after waiting Retry-After ({retry} s) on the same connection: {}",
        after.describe()
    );

    // Retry-After follows the refusing level's rate: 0.5/s -> a token every 2 s.
    let slow = get_key("/prod/hello", Some("key-half-0123456789"));
    let mut c2 = gw.client();
    expect_ok(&mut c2, &slow, "first request of the 0.5/s key");
    let r = c2.request(&slow);
    r.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
    let retry: u64 = r
        .header("Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing or not an integer: {}", r.describe()));
    assert_eq!(retry, 2, "rate 0.5/s: {}", r.describe());
}

// ------------------------------------------------------------------ 2. levels and precedence

/// Each route/key combination runs on its own stage and key so that the combinations can be
/// measured at the same time without sharing a bucket; every stage has the same settings.
#[test]
fn each_combination_is_capped_by_its_most_restrictive_level() {
    let _serial = load_lock();
    let stages = ["a", "b", "c", "d", "e"];
    let mut stage_yaml = String::new();
    for s in stages {
        stage_yaml.push_str(&format!(
            "      - name: {s}
        throttle: {{rate: 40, burst: 10}}
        method_throttle:
          - {{route: GET /smethod, rate: 10, burst: 5}}
"
        ));
    }
    let api_stages: Vec<String> = stages
        .iter()
        .map(|s| format!("{{api: lv, stage: {s}}}"))
        .collect();
    let yaml = format!(
        "server:
  account_throttle: {{rate: 10000, burst: 5000}}
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: lv
apis:
  - id: lv
    routes:
{r1}{r2}{r3}{r4}    stages:
{stage_yaml}api_keys:
  - {{id: k1, value: level-key-1-0123456789}}
  - {{id: k2, value: level-key-2-0123456789}}
  - {{id: k3, value: level-key-3-0123456789}}
  - {{id: k4, value: level-key-4-0123456789}}
  - {{id: kp, value: level-key-p-0123456789}}
usage_plans:
  - name: gold
    throttle: {{rate: 20, burst: 5}}
    method_throttle:
      - {{route: GET /pmethod, rate: 5, burst: 5}}
    api_stages: [{stages}]
    keys: [k1, k2, k3, k4]
  - name: premium
    throttle: {{rate: 1000, burst: 500}}
    api_stages: [{{api: lv, stage: e}}]
    keys: [kp]
",
        r1 = mock_route("GET /pmethod", true),
        r2 = mock_route("GET /plan", true),
        r3 = mock_route("GET /smethod", true),
        r4 = mock_route("GET /open", false),
        stages = api_stages.join(", "),
    );
    let gw = Gateway::start_with_workers(&yaml, 2);
    // (what, stage, path, key, binding rate, binding burst)
    let combos: [(&str, &str, &str, &str, f64, f64); 5] = [
        (
            "plan method throttle 5/s (below plan 20, stage 40)",
            "a",
            "/pmethod",
            "level-key-1-0123456789",
            5.0,
            5.0,
        ),
        (
            "plan throttle 20/s (below stage 40)",
            "b",
            "/plan",
            "level-key-2-0123456789",
            20.0,
            5.0,
        ),
        (
            "stage method throttle 10/s (below plan 20, stage 40)",
            "c",
            "/smethod",
            "level-key-3-0123456789",
            10.0,
            5.0,
        ),
        (
            "route without api_key_required: stage 40/s, not the plan's 20/s",
            "d",
            "/open",
            "level-key-4-0123456789",
            40.0,
            10.0,
        ),
        (
            "premium plan 1000/s: the stage's 40/s caps it",
            "e",
            "/plan",
            "level-key-p-0123456789",
            40.0,
            10.0,
        ),
    ];
    let secs = 2.0;
    let port = gw.port;
    let handles: Vec<_> = combos
        .iter()
        .map(|&(what, stage, path, key, rate, burst)| {
            let request = get_key(&format!("/{stage}{path}"), Some(key));
            std::thread::spawn(move || {
                let o = hammer(
                    port,
                    1,
                    Duration::from_secs_f64(secs),
                    &request,
                    Duration::from_millis(1),
                );
                (what, rate, burst, o)
            })
        })
        .collect();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for h in handles {
        let (what, rate, burst, o) = h.join().expect("measuring thread panicked");
        o.assert_clean(what);
        let t = o.elapsed.as_secs_f64();
        let expected = rate * t + burst;
        let ideal = o.ideal(rate, burst);
        let line = format!(
            "{what}: admitted {} of {} in {t:.2} s, expected at most {expected:.1} +20% and at \
             least 80% of the {ideal} an ideal bucket admits of the requests sent",
            o.ok, o.requests
        );
        if (o.ok as f64) < ideal * 0.8 || (o.ok as f64) > expected * 1.2 {
            failures.push(line.clone());
        }
        o.assert_never_above(rate, burst, 1.0, what);
        report.push(line);
    }
    eprintln!("levels:\n  {}", report.join("\n  "));
    assert!(
        failures.is_empty(),
        "outside tolerance:\n  {}",
        failures.join("\n  ")
    );
}

// ------------------------------------------------------------------ 3-5. global properties

fn stage_limit_config(rate: f64, burst: f64) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: g
apis:
  - id: g
    routes:
{hello}    stages:
      - name: prod
        throttle: {{rate: {rate}, burst: {burst}}}
",
        hello = mock_route("GET /hello", false)
    )
}

/// (a) Clients spread over both cores: the total is the global limit, not per core.
///
/// The issue asks for +-5% over 10 s; this run is 4 s long, so a fixed lag of one or two
/// reconcile rounds weighs more: the bound here is +-10% of `50 x t + 25`, and the hard upper
/// bound `25 + 50 x t (+1)` is checked at every admitted response.
#[test]
fn property_a_many_connections_share_one_global_limit() {
    let _serial = load_lock();
    let gw = Gateway::start_with_workers(&stage_limit_config(50.0, 25.0), 2);
    let o = hammer(
        gw.port,
        16,
        Duration::from_secs(4),
        &get("/prod/hello"),
        Duration::ZERO,
    );
    o.assert_clean("16 connections");
    let t = o.elapsed.as_secs_f64();
    let expected = 50.0 * t + 25.0;
    let ideal = o.ideal(50.0, 25.0);
    eprintln!(
        "property (a): 16 connections, 2 workers: admitted {} of {} in {t:.2} s (expected {expected:.1}; an ideal bucket admits {ideal} of the requests sent)",
        o.ok, o.requests
    );
    assert!(
        o.ok as f64 <= expected * 1.10,
        "admitted {} in {t:.2} s, expected {expected:.1} +10% at most",
        o.ok
    );
    assert!(
        o.ok as f64 >= ideal * 0.90,
        "admitted {} in {t:.2} s: below 90% of the {ideal} an ideal 50/s bucket (burst 25) \
         admits of the requests sent",
        o.ok
    );
    o.assert_never_above(50.0, 25.0, 1.0, "16 connections");
}

/// (b) One keep-alive connection lands on one core and still gets the whole rate once the
/// first reconciliation has run.
#[test]
fn property_b_one_connection_gets_the_whole_rate() {
    let _serial = load_lock();
    let gw = Gateway::start_with_workers(&stage_limit_config(50.0, 25.0), 2);
    let o = hammer(
        gw.port,
        1,
        Duration::from_secs(4),
        &get("/prod/hello"),
        Duration::ZERO,
    );
    o.assert_clean("one connection");
    let t = o.elapsed.as_secs_f64();
    // One core starts with half the burst, and the first reconciliation may take up to
    // 0.2 s: 95% of what an ideal bucket admits of the requests sent, less the burst and
    // 0.2 s of rate (for a client that keeps up: 95% of 50/s x (t - 0.2 s)).
    let floor = 0.95 * (o.ideal(50.0, 25.0) - 25.0 - 50.0 * 0.2);
    eprintln!(
        "property (b): 1 connection, 2 workers: admitted {} of {} in {t:.2} s (at least {floor:.1}, at most {:.1})",
        o.ok,
        o.requests,
        50.0 * t + 25.0
    );
    assert!(
        o.ok as f64 >= floor,
        "one connection got {} in {t:.2} s: below {floor:.1} (95% of what an ideal bucket admits of the requests sent, less the burst and 0.2 s of rate; rate / workers would be about {:.0})",
        o.ok,
        25.0 * t + 12.0
    );
    o.assert_never_above(50.0, 25.0, 1.0, "one connection");
}

/// (c) A limit below the number of cores: 1/s over 2 workers admits 1 per second (plus the
/// burst of 1), not 0 and not 1 per core.
#[test]
fn property_c_one_per_second_over_two_cores() {
    let _serial = load_lock();
    let gw = Gateway::start_with_workers(&stage_limit_config(1.0, 1.0), 2);
    let o = hammer(
        gw.port,
        8,
        Duration::from_secs(4),
        &get("/prod/hello"),
        Duration::ZERO,
    );
    o.assert_clean("8 connections at 1/s");
    eprintln!(
        "property (c): 8 connections, 2 workers, 1/s burst 1: admitted {} of {} in {:.2} s at {:?}",
        o.ok,
        o.requests,
        o.elapsed.as_secs_f64(),
        o.ok_at
    );
    let ideal = o.ideal(1.0, 1.0);
    assert!(
        o.ok as f64 >= ideal - 2.0 && o.ok <= 6,
        "rate 1 burst 1 for {:?}: admitted {} (expected {} to 6: an ideal bucket admits {ideal} \
         of the requests sent) at {:?}",
        o.elapsed,
        o.ok,
        ideal - 2.0,
        o.ok_at
    );
    o.assert_never_above(1.0, 1.0, 1.0, "1/s over 2 workers");
}

// ------------------------------------------------------------------ 6. API keys

#[test]
fn api_key_errors_are_403_forbidden() {
    let _serial = load_lock();
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: k
apis:
  - id: k
    routes:
{secret}{public}    stages:
      - name: prod
      - name: beta
api_keys:
  - {{id: good, value: good-key-0123456789}}
  - {{id: off, value: disabled-key-0123456789, enabled: false}}
  - {{id: lonely, value: lonely-key-0123456789}}
  - {{id: betaonly, value: beta-key-0123456789}}
usage_plans:
  - name: main
    throttle: {{rate: 1000, burst: 500}}
    api_stages: [{{api: k, stage: prod}}]
    keys: [good, off]
  - name: beta
    api_stages: [{{api: k, stage: beta}}]
    keys: [betaonly]
",
        secret = mock_route("GET /secret", true),
        public = mock_route("GET /public", false),
    );
    let gw = Gateway::start_with_workers(&yaml, 2);
    let mut c = gw.client();
    let cases: [(&str, Option<&str>); 5] = [
        ("no x-api-key header", None),
        ("unknown key", Some("no-such-key-0123456789")),
        ("disabled key", Some("disabled-key-0123456789")),
        ("valid key in no usage plan", Some("lonely-key-0123456789")),
        (
            "valid key in a plan for another stage only",
            Some("beta-key-0123456789"),
        ),
    ];
    for (what, key) in cases {
        let r = c.request(&get_key("/prod/secret", key));
        assert_eq!(r.status, 403, "{what}: {}", r.describe());
        r.assert_gateway_error(403, "Forbidden", "ForbiddenException");
        assert!(!r.says_close(), "{what}: 403 closed the connection");
    }
    // A key value differing only in case is another (unknown) key.
    let r = c.request(&get_key("/prod/secret", Some("GOOD-KEY-0123456789")));
    r.assert_gateway_error(403, "Forbidden", "ForbiddenException");

    let r = c.request(&get_key("/prod/secret", Some("good-key-0123456789")));
    assert_eq!(r.status, 200, "valid key: {}", r.describe());
    assert_eq!(r.body_str(), "ok");
    let r = c.request(&get_key("/beta/secret", Some("beta-key-0123456789")));
    assert_eq!(r.status, 200, "beta key on beta: {}", r.describe());
    // A route without api_key_required needs no key, and ignores a bad one.
    let r = c.request(&get_key("/prod/public", None));
    assert_eq!(
        r.status,
        200,
        "public route without a key: {}",
        r.describe()
    );
    let r = c.request(&get_key("/prod/public", Some("no-such-key-0123456789")));
    assert_eq!(
        r.status,
        200,
        "public route with an unknown key: {}",
        r.describe()
    );
}

// ------------------------------------------------------------------ 7. quotas

fn quota_config(state: &TempFile, quota: &str, throttle: &str) -> String {
    format!(
        "server:
  state_file: {state}
  state_flush_interval: 200ms
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: q
apis:
  - id: q
    routes:
{hello}    stages:
      - name: prod
api_keys:
  - {{id: qk, value: quota-key-0123456789}}
  - {{id: other, value: other-key-0123456789}}
usage_plans:
  - name: metered
    throttle: {throttle}
    quota: {quota}
    api_stages: [{{api: q, stage: prod}}]
    keys: [qk, other]
",
        state = state.display(),
        hello = mock_route("GET /hello", true),
    )
}

const QKEY: &str = "quota-key-0123456789";

#[test]
fn quota_exhaustion_gives_limit_exceeded_and_usage_reports_it() {
    let _serial = load_lock();
    let state = temp_path("quota-minute.state");
    let yaml = quota_config(
        &state,
        "{limit: 3, period: MINUTE}",
        "{rate: 1000, burst: 500}",
    );
    // All requests in one UTC minute.
    avoid_period_end(60, 8.0);
    let gw = Gateway::start_with_workers(&yaml, 2);
    let request = get_key("/prod/hello", Some(QKEY));
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(&mut c, &request, &format!("request {i} of a quota of 3"));
    }
    expect_limit_exceeded(&mut c, &request, "4th request");
    // Also on a new connection (possibly the other worker): the count is global.
    for _ in 0..4 {
        let mut c = gw.client();
        expect_limit_exceeded(&mut c, &request, "new connection after the quota");
    }
    // The plan's other key has its own counter.
    let mut c2 = gw.client();
    expect_ok(
        &mut c2,
        &get_key("/prod/hello", Some("other-key-0123456789")),
        "the plan's other key",
    );

    std::thread::sleep(Duration::from_millis(400));
    let q = wait_usage(&state, "metered", "qk", 3);
    assert_eq!(q["remaining"], 0, "{q}");
    assert_eq!(q["limit"], 3, "{q}");
    assert_eq!(q["period"], "MINUTE", "{q}");
    // The period is the current UTC minute.
    let start = q["periodStart"].as_str().unwrap_or_default().to_string();
    let end = q["periodEnd"].as_str().unwrap_or_default().to_string();
    assert!(
        start.ends_with(":00Z") && end.ends_with(":00Z") && start != end,
        "periodStart {start} periodEnd {end}: {q}"
    );
    let other = wait_usage(&state, "metered", "other", 1);
    assert_eq!(other["remaining"], 2, "{other}");
}

/// A count saved for an earlier period is not carried into the current one, and a count of
/// the current period is (the roll-over as seen through the state file, without waiting).
#[test]
fn quota_count_of_a_past_minute_is_not_restored() {
    let _serial = load_lock();
    let state = temp_path("quota-past.state");
    let yaml = quota_config(
        &state,
        "{limit: 3, period: MINUTE}",
        "{rate: 1000, burst: 500}",
    );
    avoid_period_end(60, 10.0);
    // Exhaust the quota and let a clean stop write the file.
    {
        let mut gw = Gateway::start_with_workers(&yaml, 1);
        let request = get_key("/prod/hello", Some(QKEY));
        let mut c = gw.client();
        for _ in 0..3 {
            expect_ok(&mut c, &request, "first gateway");
        }
        expect_limit_exceeded(&mut c, &request, "first gateway, 4th");
        drop(c);
        gw.proc.sigterm();
        let status = gw.proc.wait_timeout(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIGTERM: {status:?}\n{}",
            gw.stderr()
        );
    }
    let q = usage_quota(&state, "metered", "qk").expect("state file written at shutdown");
    assert_eq!(q["used"], 3, "{q}");

    // Move every record one minute back, as if the file had been written last minute.
    let text = std::fs::read_to_string(state.path()).expect("read state file");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("state file is JSON");
    for rec in v["quotas"].as_array_mut().expect("quotas array") {
        rec["period_index"] = serde_json::json!(rec["period_index"].as_i64().expect("index") - 1);
        for k in ["period_start_unix", "period_end_unix"] {
            rec[k] = serde_json::json!(rec[k].as_i64().expect("unix time") - 60);
        }
    }
    v["saved_at_unix"] = serde_json::json!(v["saved_at_unix"].as_i64().unwrap_or(0) - 60);
    std::fs::write(state.path(), serde_json::to_vec_pretty(&v).expect("json")).expect("write");

    let gw = Gateway::start_with_workers(&yaml, 1);
    let request = get_key("/prod/hello", Some(QKEY));
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(&mut c, &request, &format!("new minute, request {i}"));
    }
    expect_limit_exceeded(&mut c, &request, "new minute, 4th");
}

/// The quota rolls over in a running gateway when the UTC minute ends. Takes up to ~70 s
/// (it waits for the next minute), so it is not part of the default run:
/// `cargo test --test throttling -- --ignored`.
#[test]
#[ignore = "waits for a UTC minute to roll over (up to ~70 s)"]
fn quota_rolls_over_at_the_next_minute() {
    let _serial = load_lock();
    let state = temp_path("quota-rollover.state");
    let yaml = quota_config(
        &state,
        "{limit: 3, period: MINUTE}",
        "{rate: 1000, burst: 500}",
    );
    avoid_period_end(60, 10.0);
    let gw = Gateway::start_with_workers(&yaml, 2);
    let request = get_key("/prod/hello", Some(QKEY));
    let mut c = gw.client();
    for _ in 0..3 {
        expect_ok(&mut c, &request, "before the roll-over");
    }
    expect_limit_exceeded(&mut c, &request, "4th before the roll-over");
    let now = unix_now();
    let wait = 60.0 - now % 60.0 + 0.3;
    std::thread::sleep(Duration::from_secs_f64(wait));
    for i in 1..=3 {
        expect_ok(&mut c, &request, &format!("new minute, request {i}"));
    }
    expect_limit_exceeded(&mut c, &request, "new minute, 4th");
}

// ------------------------------------------------------------------ 8. restarts

fn restart_config(state: &TempFile) -> String {
    quota_config(state, "{limit: 5, period: DAY}", "{rate: 1000, burst: 500}")
}

#[test]
fn quota_survives_a_graceful_restart() {
    let _serial = load_lock();
    let state = temp_path("quota-sigterm.state");
    let yaml = restart_config(&state);
    avoid_period_end(86_400, 30.0);
    let request = get_key("/prod/hello", Some(QKEY));
    {
        let mut gw = Gateway::start_with_workers(&yaml, 2);
        // Two connections: likely both workers.
        for i in 0..2 {
            let mut c = gw.client();
            expect_ok(&mut c, &request, &format!("first run, request {}", i + 1));
        }
        gw.proc.sigterm();
        let status = gw.proc.wait_timeout(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIGTERM: {status:?}\n{}",
            gw.stderr()
        );
    }
    let gw = Gateway::start_with_workers(&yaml, 2);
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(
            &mut c,
            &request,
            &format!("after restart, request {i} of 3 left"),
        );
    }
    expect_limit_exceeded(&mut c, &request, "after restart, 6th of a quota of 5");
}

#[test]
fn quota_survives_sigkill_after_a_flush() {
    let _serial = load_lock();
    let state = temp_path("quota-sigkill.state");
    let yaml = restart_config(&state);
    avoid_period_end(86_400, 30.0);
    let request = get_key("/prod/hello", Some(QKEY));
    {
        let mut gw = Gateway::start_with_workers(&yaml, 2);
        for i in 0..2 {
            let mut c = gw.client();
            expect_ok(&mut c, &request, &format!("first run, request {}", i + 1));
        }
        // Past the flush interval (200 ms), the file has both requests.
        std::thread::sleep(Duration::from_millis(500));
        let q = wait_usage(&state, "metered", "qk", 2);
        assert_eq!(q["remaining"], 3, "{q}");
        gw.proc.signal(libc::SIGKILL);
        assert!(
            gw.proc.wait_timeout(Duration::from_secs(5)).is_some(),
            "SIGKILL did not stop the gateway"
        );
    }
    let gw = Gateway::start_with_workers(&yaml, 2);
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(
            &mut c,
            &request,
            &format!("after SIGKILL, request {i} of 3 left"),
        );
    }
    expect_limit_exceeded(&mut c, &request, "after SIGKILL, 6th of a quota of 5");
}

// ------------------------------------------------------------------ 9. reload

#[test]
fn reload_keeps_quota_counts() {
    let _serial = load_lock();
    let state = temp_path("quota-reload.state");
    let pid_file = temp_path("gateway.pid");
    let yaml = restart_config(&state);
    avoid_period_end(86_400, 30.0);
    let gw = Gateway::start_with_args(&yaml, 2, &["--pid-file", &pid_file.display()]);
    let request = get_key("/prod/hello", Some(QKEY));
    for i in 0..2 {
        let mut c = gw.client();
        expect_ok(
            &mut c,
            &request,
            &format!("before reload, request {}", i + 1),
        );
    }
    // A real change (the plan's throttle); the (plan, key) pair stays.
    let changed = yaml.replace("{rate: 1000, burst: 500}", "{rate: 900, burst: 400}");
    assert_ne!(changed, yaml);
    std::fs::write(gw.config.path(), &changed).expect("rewrite config");
    let (code, out, err) = cli(&["reload", "--pid-file", &pid_file.display()]);
    assert_eq!(code, 0, "tollgate reload: {out}{err}");
    assert!(
        wait_until(Duration::from_secs(10), || gw
            .stderr()
            .contains("configuration reloaded")),
        "no reload in the log:\n{}",
        gw.stderr()
    );
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(
            &mut c,
            &request,
            &format!("after reload, request {i} of 3 left"),
        );
    }
    expect_limit_exceeded(&mut c, &request, "after reload, 6th of a quota of 5");
    for _ in 0..3 {
        let mut c = gw.client();
        expect_limit_exceeded(&mut c, &request, "after reload, new connection");
    }
}

/// Every request admitted while a reload happens is counted against the quota exactly once:
/// the count the gateway ends with (written at a clean stop) equals the 200s the clients saw.
/// (BEHAVIOUR.md: "quota counts carry over for (plan, key) pairs that still exist".)
#[test]
fn reload_under_load_counts_every_request_and_keeps_admitting() {
    let _serial = load_lock();
    let state = temp_path("quota-reload-load.state");
    let pid_file = temp_path("gateway-load.pid");
    let yaml = quota_config(
        &state,
        "{limit: 10000000, period: DAY}",
        "{rate: 100000, burst: 50000}",
    )
    .replace(
        "server:\n",
        "server:\n  account_throttle: {rate: 100000, burst: 50000}\n",
    );
    avoid_period_end(86_400, 30.0);
    let mut gw = Gateway::start_with_args(&yaml, 2, &["--pid-file", &pid_file.display()]);
    let port = gw.port;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let load = std::thread::spawn(move || {
        hammer_until(
            port,
            4,
            Duration::from_secs(15),
            &get_key("/prod/hello", Some(QKEY)),
            Duration::ZERO,
            stop2,
        )
    });
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = cli(&["reload", "--pid-file", &pid_file.display()]);
    let signalled_at = t0.elapsed();
    assert_eq!(code, 0, "tollgate reload: {out}{err}");
    let reloaded = wait_until(Duration::from_secs(10), || {
        gw.stderr().contains("configuration reloaded")
    });
    let reloaded_at = t0.elapsed();
    // Keep the load on a little longer: the workers switch over on their next control tick.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let o = load.join().expect("load thread panicked");
    assert!(reloaded, "no reload in the log:\n{}", gw.stderr());
    assert!(
        o.other.is_empty(),
        "unexpected responses: {:?}",
        &o.other[..o.other.len().min(5)]
    );
    assert!(o.ok > 1000, "too little load to test: {} admitted", o.ok);
    gw.proc.sigterm();
    let status = gw.proc.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM: {status:?}\n{}",
        gw.stderr()
    );
    let q = usage_quota(&state, "metered", "qk").expect("state file written at shutdown");
    eprintln!(
        "reload under load: signalled after {signalled_at:?}, reload logged after {reloaded_at:?}; {} requests admitted, {} throttled, quota used {}",
        o.ok, o.throttled, q["used"]
    );
    let mut failures = Vec::new();
    if q["used"].as_u64() != Some(o.ok) {
        failures.push(format!(
            "quota count {} after the reload differs from the {} requests admitted: {} counted requests lost",
            q["used"],
            o.ok,
            o.ok as i64 - q["used"].as_i64().unwrap_or(0)
        ));
    }
    // The offered load (a few 10k/s) is far below every limit (100000/s, burst 50000): a
    // reload must not make the gateway refuse requests it would otherwise admit.
    if o.throttled > 0 {
        failures.push(format!(
            "{} requests got 429 Too Many Requests during the reload although every limit is far above the offered load (reload logged {:?} after the signal)",
            o.throttled,
            reloaded_at.saturating_sub(signalled_at)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Reload signals that arrive while a reload is in progress (`tollgate reload` run twice, a
/// config manager and an operator at once) are taken or merged; they never stop the gateway,
/// and the quota counts survive them.
#[test]
fn repeated_reload_signals_never_kill_the_gateway() {
    let _serial = load_lock();
    use std::os::unix::process::ExitStatusExt;
    let state = temp_path("quota-hup-storm.state");
    let yaml = restart_config(&state);
    avoid_period_end(86_400, 30.0);
    let mut gw = Gateway::start_with_workers(&yaml, 2);
    let request = get_key("/prod/hello", Some(QKEY));
    for i in 0..2 {
        let mut c = gw.client();
        expect_ok(
            &mut c,
            &request,
            &format!("before the reloads, request {}", i + 1),
        );
    }
    for _ in 0..40 {
        gw.proc.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = gw.proc.wait_timeout(Duration::ZERO) {
        panic!(
            "the gateway stopped during repeated reloads: {status:?} (signal {:?}); reloads logged: {}; stderr:\n{}",
            status.signal(),
            gw.stderr().matches("configuration reloaded").count(),
            gw.stderr()
        );
    }
    let mut c = gw.client();
    for i in 1..=3 {
        expect_ok(
            &mut c,
            &request,
            &format!("after the reloads, request {i} of 3 left"),
        );
    }
    expect_limit_exceeded(&mut c, &request, "after the reloads, 6th of a quota of 5");
}
