//! One deadline per connection (src/time/deadline.rs), through the real thing: a connection's
//! single alarm must follow its deadline when the deadline moves later (the alarm rings
//! early and is re-armed, nothing times out) and when it moves earlier (the alarm is brought
//! forward, the earlier bound applies). The timeouts are short; the bounds asserted are
//! loose (what is checked is which deadline applied, not how fast).

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

fn config(up: &DemoUpstream, limits: &str) -> String {
    format!(
        "{limits}listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: p
apis:
  - id: p
    routes:
      - route: ANY /slow/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/{{proxy}}
          timeout: 600ms
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

#[test]
fn keep_alive_idle_deadline_restarts_with_each_request() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&config(&up, "limits:\n  keepalive_timeout: 1s\n"));
    let mut c = gw.client();
    // Five requests 400 ms apart: two seconds on one connection, never 1 s idle.
    for i in 0..5 {
        if i > 0 {
            sleep(Duration::from_millis(400));
        }
        let r = c.request(&get("/prod/mock"));
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "mocked"),
            "request {i}"
        );
        assert!(!r.says_close(), "request {i}: {}", r.describe());
    }
    // Then idle: closed after the keep-alive timeout, not before.
    let t0 = Instant::now();
    let (rest, closed) = c.read_to_eof(Duration::from_secs(5));
    let took = t0.elapsed();
    assert!(
        closed && rest.is_empty(),
        "idle connection not closed after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(3500),
        "idle close after {took:?}, expected about 1 s"
    );
}

#[test]
fn header_deadline_earlier_than_the_idle_one_applies() {
    let up = DemoUpstream::start();
    let limits = "limits:\n  keepalive_timeout: 30s\n  header_read_timeout: 300ms\n";
    let gw = Gateway::start(&config(&up, limits));
    let mut c = gw.client();
    let r = c.request(&get("/prod/mock"));
    assert_eq!(r.status, 200, "{}", r.describe());
    // The connection now waits under the 30 s idle deadline; half a head brings the 300 ms
    // header deadline in front of it.
    let t0 = Instant::now();
    c.send(b"GET /prod/mock HTTP/1.1\r\nHost: a\r\nX-Half: ");
    let (raw, closed) = c.read_to_eof(Duration::from_secs(5));
    let took = t0.elapsed();
    let r = match parse_response(&raw, false, closed) {
        Ok(Parsed::Done(r, _)) => r,
        _ => panic!(
            "no response to a stalled head after {took:?}: {:?}",
            String::from_utf8_lossy(&raw)
        ),
    };
    r.assert_gateway_error(408, "Request Timeout", "RequestTimeoutException");
    assert!(closed, "connection not closed after 408");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(3000),
        "408 after {took:?}, expected about 300 ms"
    );
}

#[test]
fn integration_deadline_follows_each_request_on_a_pooled_connection() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&config(&up, ""));
    let mut c = gw.client();
    // Four answers of 300 ms each through the pooled upstream connection: 1.2 s in all,
    // each within its own 600 ms integration timeout.
    for i in 0..4 {
        let r = c.request(&req(
            "GET",
            &format!("/prod/slow/{i}"),
            &[("x-echo-delay-ms", "300")],
            b"",
        ));
        assert_eq!(r.status, 200, "request {i}: {}", r.describe());
    }
    // One that takes too long is a 504 after the timeout, not before.
    late_request_is_a_timed_504(&mut c, "/prod/slow/late");
    // And the next one on the same client connection is served again.
    let r = c.request(&req(
        "GET",
        "/prod/slow/again",
        &[("x-echo-delay-ms", "10")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn a_pooled_connection_taken_by_another_client_times_out_for_that_client() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&config(&up, ""));
    // One client's request opens the upstream connection (its deadline's alarm is armed
    // by that client's task), then the client goes away and the connection is pooled.
    {
        let mut a = gw.client();
        let r = a.request(&req(
            "GET",
            "/prod/slow/a",
            &[("x-echo-delay-ms", "10")],
            b"",
        ));
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    // Another client's request on that connection must get its own 504: the alarm wakes
    // the task waiting now, not the one gone.
    let mut b = gw.client();
    late_request_is_a_timed_504(&mut b, "/prod/slow/b");
}

/// A request the upstream answers after 3 s: a 504 once the 600 ms integration timeout has
/// passed, not before it and not as late as the answer.
fn late_request_is_a_timed_504(c: &mut Client, path: &str) {
    let t0 = Instant::now();
    let r = c.request(&req("GET", path, &[("x-echo-delay-ms", "3000")], b""));
    let took = t0.elapsed();
    r.assert_gateway_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(2500),
        "504 after {took:?}, expected about 600 ms"
    );
}
