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
