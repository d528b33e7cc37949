//! The admin API through the real binary (issue 13 item 5): health (live, ready, ready 503
//! while draining), the bearer token, `POST /reload` for a good, a bad and an inapplicable
//! file, `/config` without secrets, `/usage`, and JSON errors (404, 405 with `allow`, 400,
//! 431; a client that sends half a request holds nothing up).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

const KEY_VALUE: &str = "partner-key-value-0123456789";
const TOKEN: &str = "admin-token-abcdef0123456789";

/// One REST API `demo` on stage `prod`: `GET /mock` (MOCK, body `v1`), `GET /held` proxied
/// to `held`, `GET /metered` requiring an API key on a usage plan with a daily quota of
/// 100; the admin listener with `admin_extra` lines.
fn config(held: &str, admin_extra: &str, mock_body: &str) -> String {
    // Quota counters of their own (the state file is shared by default).
    static STATE: AtomicUsize = AtomicUsize::new(0);
    let state = format!(
        "admin-{}-{}.state",
        std::process::id(),
        STATE.fetch_add(1, Ordering::SeqCst)
    );
    format!(
        "server:
  drain_timeout: 10s
  state_file: {state}
admin:
  bind: 127.0.0.1:0
{admin_extra}listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    routes:
      - route: GET /mock
        integration: {{type: MOCK, body: {mock_body}}}
      - route: GET /held
        integration: {{type: HTTP_PROXY, uri: 'http://{held}/held', timeout: 20s}}
      - route: GET /metered
        api_key_required: true
        integration: {{type: MOCK, body: metered}}
    stages:
      - name: prod
api_keys:
  - {{id: partner, name: Partner, value: {KEY_VALUE}}}
usage_plans:
  - name: gold
    quota: {{limit: 100, period: DAY}}
    api_stages: [{{api: demo, stage: prod}}]
    keys: [partner]
"
    )
}

fn admin(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    Client::connect(gw.port_of("admin")).request(&req(method, path, headers, b""))
}

/// The answer is `status` with a JSON body; every error carries a `message`.
#[track_caller]
fn json_of(r: &Response, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.describe());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.describe()
    );
    let v = r.json();
    if status >= 400 {
        assert!(v["message"].is_string(), "no message: {}", r.describe());
    }
    v
}

#[test]
fn live_and_ready_then_ready_503_while_draining() {
    let held = HeldUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nheld",
    );
    let mut gw = Gateway::start_with_workers(&config(&held.addr(), "", "v1"), 2);
    assert_eq!(
        json_of(&admin(&gw, "GET", "/health/live", &[]), 200)["status"],
        "live"
    );
    assert_eq!(
        json_of(&admin(&gw, "GET", "/health/ready", &[]), 200)["status"],
        "serving"
    );

    // A slow request holds the gateway open while it drains.
    let mut c = gw.client();
    c.send(&get("/prod/held"));
    assert!(
        held.wait_requests(1, Duration::from_secs(5)),
        "no request upstream"
    );
    gw.proc.sigterm();
    let mut last = String::new();
    let draining = wait_until(Duration::from_secs(5), || {
        let r = admin(&gw, "GET", "/health/ready", &[]);
        last = r.describe();
        r.status == 503
    });
    assert!(draining, "ready never said 503 while draining: {last}");
    let r = admin(&gw, "GET", "/health/ready", &[]);
    let v = json_of(&r, 503);
    assert_eq!(v["status"], "draining");
    assert!(
        gw.proc.is_running(),
        "the gateway exited before the slow request finished"
    );
    // Alive while draining; no reload while draining.
    json_of(&admin(&gw, "GET", "/health/live", &[]), 200);
    json_of(&admin(&gw, "POST", "/reload", &[]), 503);

    held.release();
    let r = c.read_response_within(false, Duration::from_secs(5));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "held"),
        "{}",
        r.describe()
    );
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after the drain; stderr:\n{}", gw.stderr()));
    assert!(status.success(), "{status:?}; stderr:\n{}", gw.stderr());
}

#[test]
fn the_token_is_required_when_configured() {
    let token = write_temp("admin.token", &format!("{TOKEN}\n"));
    let gw = Gateway::start(&config(
        "127.0.0.1:9",
        &format!("  token_file: {}\n", token.display()),
        "v1",
    ));
    let wrong = format!("Bearer {TOKEN}x");
    let good = format!("Bearer {TOKEN}");
    for path in ["/health/live", "/config", "/usage", "/no-such-thing"] {
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", TOKEN)],
            vec![("authorization", "Bearer")],
        ] {
            let r = admin(&gw, "GET", path, &headers);
            let v = json_of(&r, 401);
            assert_eq!(v, serde_json::json!({"message": "Unauthorized"}));
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")),
                "{}",
                r.describe()
            );
        }
    }
    let auth = [("authorization", good.as_str())];
    json_of(&admin(&gw, "GET", "/health/live", &auth), 200);
    json_of(&admin(&gw, "GET", "/health/ready", &auth), 200);
    let v = json_of(&admin(&gw, "GET", "/config", &auth), 200);
    assert_eq!(v["admin"]["token"], "(redacted)");
    let body = admin(&gw, "GET", "/config", &auth).body_str();
    assert!(!body.contains(TOKEN), "the token leaked: {body}");
    json_of(&admin(&gw, "GET", "/no-such-thing", &auth), 404);
    // The public listener is not the admin API.
    let r = gw.send(&req(
        "GET",
        "/health/live",
        &[("authorization", &good)],
        b"",
    ));
    assert_ne!(r.status, 200, "{}", r.describe());
}

#[test]
fn post_reload_answers_the_outcome_as_json() {
    let gw = Gateway::start(&config("127.0.0.1:9", "", "v1"));
    let public = |path: &str| {
        let r = gw.send(&get(path));
        (r.status, r.body_str())
    };
    assert_eq!(public("/prod/mock"), (200, "v1".to_string()));

    // A good file: taken, and the answer says so.
    std::fs::write(gw.config.path(), config("127.0.0.1:9", "", "v2")).expect("rewrite");
    let v = json_of(&admin(&gw, "POST", "/reload", &[]), 200);
    assert_eq!(v["reloaded"], true, "{v}");
    assert_eq!(v["source"], gw.config.display());
    assert_eq!(public("/prod/mock"), (200, "v2".to_string()));

    // A bad file: refused with every error's file, key and reason; v2 stays in force.
    let bad = config("127.0.0.1:9", "", "v3").replace("route: GET /mock", "route: GRAB /mock");
    std::fs::write(gw.config.path(), bad).expect("rewrite");
    let v = json_of(&admin(&gw, "POST", "/reload", &[]), 400);
    assert_eq!(v["reloaded"], false, "{v}");
    let errors = v["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{v}");
    assert_eq!(errors[0]["file"], gw.config.display());
    assert_eq!(errors[0]["key"], "apis[0].routes[0].route", "{v}");
    assert!(
        errors[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("GRAB")),
        "{v}"
    );
    wait_log(&gw, "reload refused", 1, Duration::from_secs(5));
    assert_eq!(public("/prod/mock"), (200, "v2".to_string()));

    // A valid file a reload cannot apply (a new listener): 409, v2 stays.
    let more = config("127.0.0.1:9", "", "v4").replace(
        "listeners:\n",
        "listeners:\n  - name: second\n    bind: 127.0.0.1:0\n",
    );
    std::fs::write(gw.config.path(), more).expect("rewrite");
    let v = json_of(&admin(&gw, "POST", "/reload", &[]), 409);
    assert_eq!(v["errors"][0]["key"], "listeners", "{v}");
    assert_eq!(public("/prod/mock"), (200, "v2".to_string()));
    // GET is not how a reload is asked for.
    let r = admin(&gw, "GET", "/reload", &[]);
    json_of(&r, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[test]
fn config_shows_the_snapshot_without_secrets() {
    let gw = Gateway::start(&config("127.0.0.1:9", "", "v1"));
    let r = admin(&gw, "GET", "/config", &[]);
    assert!(
        !r.body_str().contains(KEY_VALUE),
        "the API key leaked: {}",
        r.body_str()
    );
    let v = json_of(&r, 200);
    assert_eq!(v["listeners"][0]["name"], "public");
    assert_eq!(v["listeners"][0]["bind"], "127.0.0.1:0");
    let api = &v["apis"][0];
    assert_eq!(api["id"], "demo");
    assert_eq!(api["stages"][0]["name"], "prod");
    let routes = api["deployments"][0]["routes"].as_array().expect("routes");
    let keys: Vec<&str> = routes
        .iter()
        .filter_map(|r| r["route_key"].as_str())
        .collect();
    assert_eq!(keys, ["GET /mock", "GET /held", "GET /metered"]);
    assert_eq!(routes[1]["integration"]["uri"], "http://127.0.0.1:9/held");
    assert_eq!(v["api_keys"][0]["id"], "partner");
    assert_eq!(v["api_keys"][0]["value"], "(redacted)");
    assert_eq!(v["usage_plans"][0]["name"], "gold");
    assert_eq!(v["usage_plans"][0]["quota"]["limit"], 100);
}

#[test]
fn usage_counts_live_quota_use() {
    let gw = Gateway::start(&config("127.0.0.1:9", "", "v1"));
    for _ in 0..3 {
        let r = gw.send(&req(
            "GET",
            "/prod/metered",
            &[("x-api-key", KEY_VALUE)],
            b"",
        ));
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    let v = json_of(&admin(&gw, "GET", "/usage", &[]), 200);
    let plan = &v["usagePlans"][0];
    assert_eq!(plan["usagePlanId"], "gold", "{v}");
    assert_eq!(plan["quotas"][0]["keyId"], "partner");
    assert_eq!(plan["quotas"][0]["used"], 3, "{v}");
    assert_eq!(plan["quotas"][0]["remaining"], 97, "{v}");
    let days = plan["items"]["partner"].as_array().expect("daily items");
    assert_eq!(days.last(), Some(&serde_json::json!([3, 97])), "{v}");
}

#[test]
fn errors_are_json_and_a_stalled_client_holds_nothing_up() {
    let gw = Gateway::start(&config("127.0.0.1:9", "", "v1"));
    let port = gw.port_of("admin");
    // Half a request, then silence: other clients are answered meanwhile.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stalled
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    for _ in 0..3 {
        json_of(&admin(&gw, "GET", "/health/live", &[]), 200);
    }
    let v = json_of(&admin(&gw, "GET", "/nope", &[]), 404);
    assert_eq!(v["message"], "No such admin resource");
    let r = admin(&gw, "DELETE", "/health/ready", &[]);
    json_of(&r, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = admin(&gw, "POST", "/restapis/demo/stages/prod/cache", &[]);
    json_of(&r, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    json_of(
        &admin(&gw, "GET", "/restapis/demo/stages/nope/cache", &[]),
        404,
    );
    json_of(
        &admin(&gw, "GET", "/restapis/demo/stages/prod/cache", &[]),
        400,
    );

    let raw = raw_exchange(
        port,
        b"GET /health/live HTTP/1.1\r\nbad header\r\n\r\n",
        IO_TIMEOUT,
    );
    json_of(raw.response(), 400);
    let big = format!(
        "GET /health/live HTTP/1.1\r\nx: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    let raw = raw_exchange(port, big.as_bytes(), IO_TIMEOUT);
    json_of(raw.response(), 431);
    let raw = raw_exchange(
        port,
        b"POST /reload HTTP/1.1\r\ncontent-length: 100000\r\n\r\n",
        IO_TIMEOUT,
    );
    json_of(raw.response(), 413);
    drop(stalled);
}
