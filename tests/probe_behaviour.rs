//! Probe regression suite, "smaller behaviours seen under load" (issue 10 item 10): each
//! test replays one probe against the real binary on loopback.
//!
//! - the account throttle in force is logged at start-up (a first benchmark above 10,000
//!   requests/s is not a mystery);
//! - responses carrying `Set-Cookie` are not stored in the stage cache unless the stage
//!   opts in;
//! - a bucket of burst 1 admits its first request on any core (2 workers).
//!
//! (The retry of a refused connect for every method is in tests/target_groups.rs, next to
//! the target-group test upstream it needs.)

mod common;

use std::time::Duration;

use common::*;

/// A line of the gateway's stderr containing `needle`, waiting for the log thread.
fn wait_for_log(gw: &Gateway, needle: &str) -> Option<String> {
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = gw
            .stderr()
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_owned);
        found.is_some()
    });
    found
}

// ---------------------------------------------------------------------------------------
// The account throttle in force is said at start-up
// ---------------------------------------------------------------------------------------

#[test]
fn quick_start_logs_the_default_account_throttle() {
    let path = manifest_dir().join("examples/quickstart.yaml");
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace("bind: 127.0.0.1:8080", "bind: 127.0.0.1:0");
    assert!(
        yaml.contains("bind: 127.0.0.1:0"),
        "quick start bind not found"
    );
    let gw = Gateway::start(&yaml);
    let line = wait_for_log(&gw, "account throttle:");
    let line = line.unwrap_or_else(|| panic!("no account throttle line:\n{}", gw.stderr()));
    assert!(
        line.contains("account throttle: 10000 requests/s, burst 5000")
            && line.contains("server.account_throttle"),
        "{line}"
    );
}

#[test]
fn a_configured_account_throttle_is_logged_as_configured() {
    let yaml = "server:
  account_throttle: {rate: 250, burst: 12.5}
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: a
apis:
  - id: a
    routes:
      - route: GET /hello
        integration: {type: MOCK, status: 200, body: hi}
    stages:
      - name: prod
";
    let gw = Gateway::start(yaml);
    let line = wait_for_log(&gw, "account throttle:");
    let line = line.unwrap_or_else(|| panic!("no account throttle line:\n{}", gw.stderr()));
    assert!(
        line.contains("account throttle: 250 requests/s, burst 12.5"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------
// Set-Cookie responses and the stage cache
// ---------------------------------------------------------------------------------------

/// An upstream answering every request with a session cookie.
const COOKIE_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
set-cookie: session=alice-secret; HttpOnly\r\ncontent-length: 5\r\n\r\nhello";

/// A REST API whose stage caches `GET /profile` (and `GET /plain`, which the upstream
/// answers without a cookie: same upstream, different response). `extra` goes under
/// `cache:`.
fn cookie_config(upstream: u16, plain: u16, extra: &str) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: a
apis:
  - id: a
    type: REST
    routes:
      - route: GET /profile
        integration: {{type: HTTP_PROXY, uri: \"http://127.0.0.1:{upstream}/profile\"}}
      - route: GET /plain
        integration: {{type: HTTP_PROXY, uri: \"http://127.0.0.1:{plain}/plain\"}}
    stages:
      - name: prod
        cache:
          enabled: true
          cluster_size: 0.5
          ttl: 300s
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
{extra}"
    )
}

#[test]
fn set_cookie_responses_are_not_cached_by_default() {
    let cookie = ScriptedUpstream::start(COOKIE_RESPONSE, After::KeepOpen);
    let plain = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain",
        After::KeepOpen,
    );
    let gw = Gateway::start(&cookie_config(cookie.port, plain.port, ""));
    // Alice's response carries her session cookie.
    let first = gw.send(&get("/prod/profile"));
    assert_eq!(first.status, 200, "{}", first.describe());
    assert_eq!(
        first.header("set-cookie"),
        Some("session=alice-secret; HttpOnly")
    );
    assert_eq!(first.header("x-cache"), Some("Miss"));
    // Bob's request goes to the upstream again: Alice's cookie is not replayed from the
    // cache.
    let second = gw.send(&get("/prod/profile"));
    assert_eq!(second.status, 200, "{}", second.describe());
    assert_eq!(
        second.header("x-cache"),
        Some("Miss"),
        "{}",
        second.describe()
    );
    assert_eq!(
        cookie.requests().len(),
        2,
        "both requests reached the upstream"
    );
    // A response without Set-Cookie on the same stage is still cached.
    for _ in 0..2 {
        assert_eq!(gw.send(&get("/prod/plain")).status, 200);
    }
    let third = gw.send(&get("/prod/plain"));
    assert_eq!(third.header("x-cache"), Some("Hit"), "{}", third.describe());
    assert_eq!(plain.requests().len(), 1);
}

#[test]
fn set_cookie_responses_are_cached_when_the_stage_opts_in() {
    let cookie = ScriptedUpstream::start(COOKIE_RESPONSE, After::KeepOpen);
    let plain = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain",
        After::KeepOpen,
    );
    let yaml = cookie_config(
        cookie.port,
        plain.port,
        "          cache_responses_with_set_cookie: true\n",
    );
    let gw = Gateway::start(&yaml);
    let first = gw.send(&get("/prod/profile"));
    assert_eq!(
        first.header("x-cache"),
        Some("Miss"),
        "{}",
        first.describe()
    );
    // API Gateway's own behaviour: the stored response, cookie included, is a hit.
    let second = gw.send(&get("/prod/profile"));
    assert_eq!(second.status, 200, "{}", second.describe());
    assert_eq!(
        second.header("x-cache"),
        Some("Hit"),
        "{}",
        second.describe()
    );
    assert_eq!(
        second.header("set-cookie"),
        Some("session=alice-secret; HttpOnly")
    );
    assert_eq!(second.body_str(), "hello");
    assert_eq!(cookie.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// A full bucket admits its burst on any core
// ---------------------------------------------------------------------------------------

/// One REST API with a MOCK `GET /hello` and, per `(stage, burst)`, a stage throttled at
/// 0.001 requests/s (no token accrues during the test) with that burst.
fn throttled_stages(stages: &[(String, u32)]) -> String {
    let mut yaml = String::from(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: t
apis:
  - id: t
    routes:
      - route: GET /hello
        integration: {type: MOCK, status: 200, body: ok}
    stages:
",
    );
    for (name, burst) in stages {
        yaml.push_str(&format!(
            "      - name: {name}\n        throttle: {{rate: 0.001, burst: {burst}}}\n"
        ));
    }
    yaml
}

#[test]
fn a_full_bucket_admits_its_burst_on_either_of_two_cores() {
    // Burst 1 over 2 workers used to leave each core a share of 0 (the token stayed
    // central): the first request got 429 on whichever core it landed. Eight stages, each
    // with its own bucket, each first hit on a fresh connection: SO_REUSEPORT spreads the
    // connections, so both cores take a first request (all eight on one core: 1 in 128).
    let ones: Vec<(String, u32)> = (0..8).map(|i| (format!("one{i}"), 1)).collect();
    let twos: Vec<(String, u32)> = (0..4).map(|i| (format!("two{i}"), 2)).collect();
    let all: Vec<(String, u32)> = ones.iter().chain(&twos).cloned().collect();
    let gw = Gateway::start_with_workers(&throttled_stages(&all), 2);
    for (stage, _) in &ones {
        let path = format!("/{stage}/hello");
        let first = gw.send(&get(&path));
        assert_eq!(
            first.status,
            200,
            "{stage}, first request: {}",
            first.describe()
        );
        // The bucket is now empty on every core: fresh connections land on both.
        for _ in 0..4 {
            let again = gw.send(&get(&path));
            again.assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
        }
    }
    // Burst 2: both tokens are there for two requests on one connection (one core), and
    // the bucket is then empty everywhere.
    for (stage, _) in &twos {
        let path = format!("/{stage}/hello");
        let mut c = gw.client();
        for n in 1..=2 {
            let r = c.request(&get(&path));
            assert_eq!(
                r.status,
                200,
                "{stage}, request {n} of the burst: {}",
                r.describe()
            );
        }
        let third = c.request(&get(&path));
        assert_eq!(third.status, 429, "{stage}, third: {}", third.describe());
        for _ in 0..3 {
            assert_eq!(
                gw.send(&get(&path)).status,
                429,
                "{stage}, another connection"
            );
        }
    }
}
