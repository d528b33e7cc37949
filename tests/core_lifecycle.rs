//! Process lifecycle: graceful shutdown on SIGTERM/SIGINT, and configuration errors from
//! `tollgate check` and `tollgate run`.

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn lifecycle_config(up: &DemoUpstream) -> String {
    format!(
        "server:
  drain_timeout: 5s
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: life
apis:
  - id: life
    routes:
      - route: ANY /echo/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/{{proxy}}
      - route: GET /mock
        integration:
          type: MOCK
          body: mocked
    stages:
      - name: prod
",
        up = up.addr()
    )
}

/// The lifecycle configuration with `/held` going to a [`HeldUpstream`] (answers only once
/// released), so a test knows when a request is in flight instead of guessing.
fn held_config(up: &DemoUpstream, held: &HeldUpstream) -> String {
    lifecycle_config(up).replace(
        "      - route: GET /mock\n",
        &format!(
            "      - route: ANY /held/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{}/{{proxy}}
      - route: GET /mock\n",
            held.addr()
        ),
    )
}

const HELD_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld";

/// Wait until nothing accepts on `port` any more (the listeners are closed); whether that
/// happened within `timeout`.
fn wait_port_closed(port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || TcpStream::connect(("127.0.0.1", port)).is_err())
}

#[test]
fn sigterm_drains_in_flight_request_and_exits_0() {
    let up = DemoUpstream::start();
    let held = HeldUpstream::start(HELD_ANSWER);
    let mut gw = Gateway::start_with_workers(&held_config(&up, &held), 2);
    let port = gw.port;
    let mut c = gw.client();
    // Warm up: the connection is served before the slow request goes out on it.
    let r = c.request(&get("/prod/mock"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = pattern_bytes(50_000, 4);
    c.send(&req("POST", "/prod/held/slow", &[], &body));
    assert!(
        held.wait_requests(1, Duration::from_secs(5)),
        "the request never reached the upstream"
    );
    let t0 = Instant::now();
    gw.proc.sigterm();

    // New connections are no longer served: the listeners close.
    assert!(
        wait_port_closed(port, Duration::from_secs(3)),
        "the listener still accepts connections 3 s after SIGTERM; stderr:\n{}",
        gw.stderr()
    );

    // The in-flight request completes once the upstream answers.
    held.release();
    let r = c.read_response_within(false, Duration::from_secs(5));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "held"),
        "{}",
        r.describe()
    );
    let got = held.requests();
    assert!(
        got[0].starts_with(b"POST /slow HTTP/1.1\r\n") && got[0].ends_with(&body),
        "the upstream did not get the request intact"
    );
    // Then the connection is closed and the process exits 0, well before drain_timeout.
    c.assert_closed(Duration::from_secs(4));
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "gateway still running {:?} after SIGTERM; stderr:\n{}",
                t0.elapsed(),
                gw.stderr()
            )
        });
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        gw.stderr()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "shutdown took {:?}",
        t0.elapsed()
    );
}

/// RFC 9112 §9.6: a server that is going to close after a response SHOULD say so in that
/// response, so that a client does not reuse (or pipeline onto) a dying connection.
#[test]
fn response_completed_during_drain_announces_connection_close() {
    let up = DemoUpstream::start();
    let held = HeldUpstream::start(HELD_ANSWER);
    let mut gw = Gateway::start(&held_config(&up, &held));
    let mut c = gw.client();
    c.send(&get("/prod/held/slow"));
    assert!(
        held.wait_requests(1, Duration::from_secs(5)),
        "the request never reached the upstream"
    );
    gw.proc.sigterm();
    // The response completes during the drain (the listener is closed by then).
    assert!(
        wait_port_closed(gw.port, Duration::from_secs(3)),
        "the listener still accepts connections 3 s after SIGTERM"
    );
    held.release();
    let r = c.read_response_within(false, Duration::from_secs(5));
    assert_eq!(r.status, 200, "{}", r.describe());
    c.assert_closed(Duration::from_secs(3));
    assert!(
        r.says_close(),
        "the last response before the drain closed the connection did not carry \
         `connection: close`: {}",
        r.describe()
    );
    let status = gw.proc.wait_timeout(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "exit {status:?}");
}

#[test]
fn idle_connections_do_not_hold_up_shutdown() {
    let up = DemoUpstream::start();
    let mut gw = Gateway::start_with_workers(&lifecycle_config(&up), 2);
    let mut idle = gw.client();
    let r = idle.request(&get("/prod/mock"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut silent = gw.client();
    let t0 = Instant::now();
    gw.proc.sigterm();
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(4))
        .unwrap_or_else(|| panic!("gateway did not exit; stderr:\n{}", gw.stderr()));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "idle connections delayed shutdown to {:?} (drain_timeout is 5 s)",
        t0.elapsed()
    );
    idle.assert_closed(Duration::from_secs(2));
    let (rest, closed) = silent.read_to_eof(Duration::from_secs(2));
    assert!(closed, "silent connection not closed at shutdown");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn sigint_stops_gracefully_too() {
    let up = DemoUpstream::start();
    let mut gw = Gateway::start(&lifecycle_config(&up));
    let r = gw.send(&get("/prod/mock"));
    assert_eq!(r.status, 200, "{}", r.describe());
    gw.proc.signal(libc::SIGINT);
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(4))
        .unwrap_or_else(|| panic!("gateway did not exit on SIGINT; stderr:\n{}", gw.stderr()));
    assert!(status.success(), "exit status {status:?}");
}

// ------------------------------------------------------------------ configuration errors

fn run_check(file: &str) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args(["check", file])
        .output()
        .expect("run tollgate check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Assert `stderr` has a line `FILE: PATH: reason` (non-empty reason).
#[track_caller]
fn assert_error_line(stderr: &str, file: &str, path: &str, fragment: &str) {
    let prefix = format!("{file}: {path}: ");
    let found = stderr.lines().any(|l| {
        l.strip_prefix(&prefix)
            .is_some_and(|reason| !reason.trim().is_empty() && reason.contains(fragment))
    });
    assert!(
        found,
        "no line `{prefix}...{fragment}...` in stderr:\n{stderr}"
    );
}

const BROKEN: &str = "server:
  drain_timeout: 1.5s
limits:
  header_read_timeout: 10
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    routes:
      - route: GET /a
        integration:
          type: HTTP_PROXY
          uri: ftp://example.com/x
      - route: GET /b
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:9/b
          timeout: fast
      - route: GET /c
        integration:
          type: MOCK
          body: ok
    stages:
      - name: prod
        deployment: nope
";

#[test]
fn check_reports_every_error_with_its_key_path() {
    let f = write_temp("broken.yaml", BROKEN);
    let file = f.display();
    let (code, stdout, stderr) = run_check(&file);
    assert!(
        matches!(code, Some(c) if c != 0),
        "check exited {code:?} on a broken file; stdout {stdout:?} stderr {stderr:?}"
    );
    assert_error_line(&stderr, &file, "server.drain_timeout", "1.5s");
    assert_error_line(&stderr, &file, "limits.header_read_timeout", "unit");
    assert_error_line(&stderr, &file, "apis[0].routes[0].integration.uri", "");
    assert_error_line(
        &stderr,
        &file,
        "apis[0].routes[1].integration.timeout",
        "fast",
    );
    assert_error_line(&stderr, &file, "apis[0].stages[0].deployment", "nope");
    // Nothing else is blamed: every stderr line names the file.
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with(&format!("{file}: ")),
            "stray stderr line {line:?}"
        );
    }
}

#[test]
fn check_reports_an_unknown_field_by_its_path() {
    let f = write_temp(
        "unknown-field.yaml",
        "listeners:
  - name: public
    bind: 127.0.0.1:0
apis:
  - id: demo
    routes:
      - route: GET /c
        integration:
          type: MOCK
    stages:
      - name: prod
        colour: blue
",
    );
    let file = f.display();
    let (code, _, stderr) = run_check(&file);
    assert!(matches!(code, Some(c) if c != 0), "check exited {code:?}");
    assert_error_line(&stderr, &file, "apis[0].stages[0].colour", "unknown field");
}

#[test]
fn check_accepts_the_quickstart() {
    let file = manifest_dir().join("examples/quickstart.yaml");
    let file = file.display().to_string();
    let (code, stdout, stderr) = run_check(&file);
    assert_eq!(code, Some(0), "stdout {stdout:?} stderr {stderr:?}");
    assert!(stdout.contains("OK"), "stdout {stdout:?}");
}

#[test]
fn check_without_a_readable_file_fails() {
    let missing = manifest_dir().join("tests/no-such-config.yaml");
    let file = missing.display().to_string();
    let (code, _, stderr) = run_check(&file);
    assert!(matches!(code, Some(c) if c != 0), "check exited {code:?}");
    assert!(stderr.contains(&file), "stderr {stderr:?}");
}

#[test]
fn run_with_a_broken_config_exits_without_listening() {
    let f = write_temp("broken-run.yaml", BROKEN);
    let file = f.display();
    let mut p = Proc::spawn("gateway", &["run", "--config", &file, "--workers", "1"]);
    let status = p
        .wait_timeout(Duration::from_secs(10))
        .expect("tollgate run kept running with a broken config");
    assert!(!status.success(), "exit status {status:?}");
    p.wait_output_closed(Duration::from_secs(5));
    let stdout = p.stdout_lines();
    assert!(
        !stdout
            .iter()
            .any(|l| l.contains("listening") || l.contains("ready")),
        "stdout {stdout:?}"
    );
    let stderr = p.stderr();
    assert_error_line(&stderr, &file, "apis[0].stages[0].deployment", "nope");
}

#[test]
fn run_with_a_busy_port_fails_cleanly() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let f = write_temp(
        "busy.yaml",
        &format!(
            "listeners:
  - name: public
    bind: 127.0.0.1:{port}
    default_api: demo
apis:
  - id: demo
    routes:
      - route: GET /c
        integration:
          type: MOCK
    stages:
      - name: prod
"
        ),
    );
    let mut p = Proc::spawn(
        "gateway",
        &["run", "--config", &f.display(), "--workers", "1"],
    );
    let status = p
        .wait_timeout(Duration::from_secs(10))
        .expect("tollgate run kept running on a busy port");
    assert!(!status.success(), "exit status {status:?}");
    p.wait_output_closed(Duration::from_secs(5));
    assert!(
        !p.stdout_lines().iter().any(|l| l.contains("ready")),
        "stdout {:?}",
        p.stdout_lines()
    );
    drop(holder);
}
