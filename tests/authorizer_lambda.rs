//! Lambda authorizers end to end, through the real gateway binary: a counting authorizer
//! endpoint (a local HTTP server taking API Gateway's event) and a counting upstream that
//! must never be reached on a refusal.
//!
//! - REST TOKEN: the event; one call for many requests within the TTL, a new one after it
//!   and for another identity; the cached policy evaluated against each method's ARN;
//!   `$context.authorizer.*` in the access log;
//! - refusals: missing token / token failing the validation expression -> 401 without a
//!   call; the `Unauthorized` answer -> 401; Deny -> 403 explicit deny; no matching Allow
//!   -> 403; invalid answer -> 500; timeout -> 500; unreachable -> 500;
//! - HTTP API REQUEST authorizer, payload 2.0 with simple responses;
//! - `usageIdentifierKey` as the API key (`api_key_source: AUTHORIZER`), throttled by its
//!   usage plan.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

// ------------------------------------------------------------------ the authorizer

/// A Lambda-style authorizer endpoint: it counts calls, keeps the events it got, and answers
/// by the token (`authorizationToken`, else the first identity source, else the `X-Token`
/// header):
/// - `allow` / `allow:KEY`: principal `user-1`, Allow on every method of the API, context
///   `{user, tier, admin}`, `KEY` as `usageIdentifierKey`;
/// - `exact`: Allow on the event's own method ARN only;
/// - `deny`: Deny on every method;
/// - `unauthorized`: the Lambda `Unauthorized` error (`X-Amz-Function-Error`);
/// - `crash`: another function error;
/// - `invalid`: a context value that is an object (invalid for REST);
/// - `slow`: `allow` after 3 s;
/// - anything else: 401.
///
/// `?simple=1` answers in the simple format (`isAuthorized`).
struct AuthorizerEndpoint {
    port: u16,
    calls: Arc<AtomicUsize>,
    /// (request head and body as received, event) of every call.
    events: Arc<Mutex<Vec<(String, Value)>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl AuthorizerEndpoint {
    fn start() -> AuthorizerEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind authorizer");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let calls = Arc::new(AtomicUsize::new(0));
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, e, s) = (calls.clone(), events.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (c, e, s) = (c.clone(), e.clone(), s.clone());
                        std::thread::spawn(move || serve(stream, &c, &e, &s));
                    }
                    Err(err) if err.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        AuthorizerEndpoint {
            port,
            calls,
            events,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn last_event(&self) -> Value {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .map(|(_, e)| e.clone())
            .unwrap_or(Value::Null)
    }

    /// The last call's head and body, as received.
    fn last_raw(&self) -> (String, String) {
        let raw = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .map(|(r, _)| r.clone())
            .unwrap_or_default();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        (head.to_string(), body.to_string())
    }

    fn last_head(&self) -> String {
        self.last_raw().0
    }

    fn last_request_line(&self) -> String {
        self.last_head().lines().next().unwrap_or("").to_string()
    }
}

impl Drop for AuthorizerEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    calls: &AtomicUsize,
    events: &Mutex<Vec<(String, Value)>>,
    stop: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16384];
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
        // A whole request in `buf`?
        if let Some(end) = find_subslice(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                calls.fetch_add(1, Ordering::SeqCst);
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                events.lock().unwrap_or_else(|p| p.into_inner()).push((
                    format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body)),
                    event.clone(),
                ));
                let simple = head.lines().next().is_some_and(|l| l.contains("simple=1"));
                let (status, extra, answer) = answer(&event, simple);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if stream.write_all(resp.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// (status, extra header lines, body) for an event.
fn answer(event: &Value, simple: bool) -> (u16, &'static str, String) {
    // REST REQUEST events carry no identity field: the token is the X-Token header.
    let header = event["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-token"))
            .and_then(|(_, v)| v.as_str())
    });
    let token = event["authorizationToken"]
        .as_str()
        .or_else(|| event["identitySource"][0].as_str())
        .or(header)
        .unwrap_or("");
    let arn = event["methodArn"]
        .as_str()
        .or_else(|| event["routeArn"].as_str())
        .unwrap_or("");
    let every_method = format!("{}/*", arn.split('/').next().unwrap_or(""));
    let (word, key) = token.split_once(':').unwrap_or((token, ""));
    let policy = |effect: &str, resource: &str| {
        let mut a = json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ]},
            "context": {"user": "ana", "tier": 2, "admin": true}
        });
        if !key.is_empty() {
            a["usageIdentifierKey"] = key.into();
        }
        a.to_string()
    };
    if word == "slow" {
        std::thread::sleep(Duration::from_secs(3));
    }
    match word {
        _ if simple && word == "allow" => (
            200,
            "",
            json!({"isAuthorized": true, "context": {"user": "ana"}}).to_string(),
        ),
        _ if simple && word == "deny" => (200, "", json!({"isAuthorized": false}).to_string()),
        "allow" | "slow" => (200, "", policy("Allow", &every_method)),
        "exact" => (200, "", policy("Allow", arn)),
        "deny" => (200, "", policy("Deny", &every_method)),
        "crash" => (
            200,
            "x-amz-function-error: Unhandled\r\n",
            json!({"errorMessage": "boom", "errorType": "Error"}).to_string(),
        ),
        "unauthorized" => (
            200,
            "x-amz-function-error: Unhandled\r\n",
            json!({"errorMessage": "Unauthorized"}).to_string(),
        ),
        "invalid" => (
            200,
            "",
            json!({"principalId": "u", "policyDocument": {"Statement": []}, "context": {"o": {}}})
                .to_string(),
        ),
        _ => (401, "", json!({"message": "Unauthorized"}).to_string()),
    }
}

// ------------------------------------------------------------------ configurations

/// A REST API `a` with a TOKEN authorizer on header `X-Token` (whole tokens of letters,
/// digits, `:` and `-`), `ttl`, `timeout`, a proxied route to `upstream` and a MOCK route.
fn rest_config(authorizer_uri: &str, upstream: &str, ttl: &str, timeout: &str) -> String {
    format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: a
apis:
  - id: a
    authorizers:
      - name: tok
        type: TOKEN
        identity_source: [method.request.header.X-Token]
        lambda:
          uri: '{authorizer_uri}'
          result_ttl: {ttl}
          timeout: {timeout}
          identity_validation_expression: '[a-z0-9:-]+'
    routes:
      - route: GET /pets
        authorization_type: CUSTOM
        authorizer: tok
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/pets'}}
      - route: POST /pets
        authorization_type: CUSTOM
        authorizer: tok
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/pets'}}
      - route: GET /open
        integration: {{type: MOCK, status: 200, body: open}}
    stages:
      - name: prod
        access_log:
          destination: stdout
          format: '{{\"id\":\"$context.requestId\",\"p\":\"$context.authorizer.principalId\",\"user\":\"$context.authorizer.user\",\"tier\":\"$context.authorizer.tier\",\"admin\":\"$context.authorizer.admin\",\"status\":\"$context.status\"}}'
"
    )
}

fn with_token(method: &str, path: &str, token: &str) -> Vec<u8> {
    req(method, path, &[("x-token", token)], b"")
}

// ------------------------------------------------------------------ tests

#[test]
fn token_results_are_cached_for_the_ttl_and_evaluated_per_method() {
    let auth = AuthorizerEndpoint::start();
    let up = CountingUpstream::start();
    let uri = format!("http://127.0.0.1:{}/authorize", auth.port);
    let gw = Gateway::start(&rest_config(
        &uri,
        &format!("127.0.0.1:{}", up.port),
        "1s",
        "5s",
    ));
    let mut c = gw.client();

    // One call for many requests, whichever method (the policy allows the whole API).
    let first = c.request(&with_token("GET", "/prod/pets", "allow"));
    assert_eq!(first.status, 200, "{}", first.describe());
    assert_eq!(first.body_str(), COUNTING_BODY);
    for _ in 0..4 {
        assert_eq!(
            c.request(&with_token("GET", "/prod/pets", "allow")).status,
            200
        );
        assert_eq!(
            c.request(&with_token("POST", "/prod/pets", "allow")).status,
            200
        );
    }
    assert_eq!(auth.calls(), 1, "one authorizer call within the TTL");

    // The TOKEN event API Gateway sends.
    let event = auth.last_event();
    assert_eq!(
        event,
        json!({
            "type": "TOKEN",
            "authorizationToken": "allow",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:a/prod/GET/pets"
        })
    );

    // Another identity: another call.
    assert_eq!(
        c.request(&with_token("GET", "/prod/pets", "exact")).status,
        200
    );
    assert_eq!(auth.calls(), 2);
    // Its cached policy names GET /pets only: POST is refused from the cache, no call.
    let r = c.request(&with_token("POST", "/prod/pets", "exact"));
    r.assert_gateway_error(
        403,
        "User is not authorized to access this resource",
        "AccessDeniedException",
    );
    assert_eq!(
        c.request(&with_token("GET", "/prod/pets", "exact")).status,
        200
    );
    assert_eq!(auth.calls(), 2, "both answered from the cache");

    // After the TTL: a new call.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        c.request(&with_token("GET", "/prod/pets", "allow")).status,
        200
    );
    assert_eq!(auth.calls(), 3, "a new call after the TTL");

    // The authorizer's context in $context.authorizer.* (the access log).
    let id = first
        .header("x-amzn-requestid")
        .unwrap_or_default()
        .to_string();
    let mut proc = gw.proc;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let line = proc
            .next_line(deadline)
            .unwrap_or_else(|| panic!("no access log line for {id}: {:?}", proc.stdout_lines()));
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v["id"] == id.as_str() {
            assert_eq!(
                v,
                json!({"id": id, "p": "user-1", "user": "ana", "tier": "2", "admin": "true", "status": "200"})
            );
            break;
        }
    }
}

#[test]
fn refusals_never_reach_the_upstream() {
    let auth = AuthorizerEndpoint::start();
    let up = CountingUpstream::start();
    let uri = format!("http://127.0.0.1:{}/authorize", auth.port);
    let gw = Gateway::start(&rest_config(
        &uri,
        &format!("127.0.0.1:{}", up.port),
        "300s",
        "5s",
    ));
    let mut c = gw.client();

    // No token, an empty one, one failing the validation expression: 401 without a call.
    for request in [
        get("/prod/pets"),
        with_token("GET", "/prod/pets", ""),
        with_token("GET", "/prod/pets", "Not Valid!"),
    ] {
        let r = c.request(&request);
        r.assert_gateway_error(401, "Unauthorized", "UnauthorizedException");
    }
    assert_eq!(auth.calls(), 0, "no call without a valid identity");

    // The function's Unauthorized error: 401.
    c.request(&with_token("GET", "/prod/pets", "unauthorized"))
        .assert_gateway_error(401, "Unauthorized", "UnauthorizedException");
    // Another answer than those: 401 from an HTTP endpoint.
    c.request(&with_token("GET", "/prod/pets", "nobody"))
        .assert_gateway_error(401, "Unauthorized", "UnauthorizedException");
    // Deny: 403 with an explicit deny.
    c.request(&with_token("GET", "/prod/pets", "deny"))
        .assert_gateway_error(
            403,
            "User is not authorized to access this resource with an explicit deny",
            "AccessDeniedException",
        );
    // An invalid answer: 500.
    c.request(&with_token("GET", "/prod/pets", "invalid"))
        .assert_gateway_error(
            500,
            "Internal server error",
            "AuthorizerConfigurationException",
        );
    assert_eq!(auth.calls(), 4);
    // Refusals are not cached; a cached Deny is.
    c.request(&with_token("GET", "/prod/pets", "unauthorized"))
        .assert_gateway_error(401, "Unauthorized", "UnauthorizedException");
    assert_eq!(
        c.request(&with_token("GET", "/prod/pets", "deny")).status,
        403
    );
    assert_eq!(auth.calls(), 5);

    assert_eq!(up.connections(), 0, "no refusal reached the upstream");
    // A route without authorization is untouched.
    assert_eq!(c.request(&get("/prod/open")).body_str(), "open");
    // And an allowed caller gets through.
    assert_eq!(
        c.request(&with_token("GET", "/prod/pets", "allow")).status,
        200
    );
    assert_eq!(up.connections(), 1);
}

#[test]
fn timeouts_and_unreachable_authorizers_are_500() {
    let auth = AuthorizerEndpoint::start();
    let up = CountingUpstream::start();
    let uri = format!("http://127.0.0.1:{}/authorize", auth.port);
    let gw = Gateway::start(&rest_config(
        &uri,
        &format!("127.0.0.1:{}", up.port),
        "300s",
        "300ms",
    ));
    let started = Instant::now();
    gw.send(&with_token("GET", "/prod/pets", "slow"))
        .assert_gateway_error(
            500,
            "Internal server error",
            "AuthorizerConfigurationException",
        );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(auth.calls(), 1);

    let dead = format!("http://127.0.0.1:{}/authorize", dead_port());
    let gw = Gateway::start(&rest_config(
        &dead,
        &format!("127.0.0.1:{}", up.port),
        "300s",
        "5s",
    ));
    gw.send(&with_token("GET", "/prod/pets", "allow"))
        .assert_gateway_error(500, "Internal server error", "AuthorizerFailureException");
    assert_eq!(up.connections(), 0);
}

#[test]
fn http_api_request_authorizer_with_simple_responses() {
    let auth = AuthorizerEndpoint::start();
    let up = DemoUpstream::start();
    let yaml = format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: h
apis:
  - id: h
    type: HTTP
    authorizers:
      - name: req
        type: REQUEST
        identity_source: ['$request.header.X-Token', '$request.querystring.tenant']
        lambda:
          uri: 'http://127.0.0.1:{port}/authorize?simple=1'
          enable_simple_responses: true
          result_ttl: 60s
    routes:
      - route: GET /items/{{id}}
        authorization_type: CUSTOM
        authorizer: req
        integration: {{type: HTTP_PROXY, uri: 'http://{up}/items/{{id}}'}}
    stages:
      - name: $default
",
        port = auth.port,
        up = up.addr()
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let r = c.request(&req(
        "GET",
        "/items/7?tenant=acme&x=1&x=2",
        &[("x-token", "allow"), ("cookie", "a=1; b=2")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["path"], "/items/7");
    let event = auth.last_event();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(
        event["routeArn"],
        "arn:aws:execute-api:us-east-1:123456789012:h/$default/GET/items/7"
    );
    assert_eq!(event["identitySource"], json!(["allow", "acme"]));
    assert_eq!(event["routeKey"], "GET /items/{id}");
    assert_eq!(event["rawPath"], "/items/7");
    assert_eq!(event["rawQueryString"], "tenant=acme&x=1&x=2");
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-token"], "allow");
    assert_eq!(
        event["queryStringParameters"],
        json!({"tenant": "acme", "x": "1,2"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "7"}));
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["requestContext"]["stage"], "$default");

    // The same identity on another item: cached (simple answers allow every route).
    assert_eq!(
        c.request(&req(
            "GET",
            "/items/8?tenant=acme",
            &[("x-token", "allow")],
            b""
        ))
        .status,
        200
    );
    assert_eq!(auth.calls(), 1);
    // Another tenant is another identity.
    assert_eq!(
        c.request(&req(
            "GET",
            "/items/8?tenant=other",
            &[("x-token", "allow")],
            b""
        ))
        .status,
        200
    );
    assert_eq!(auth.calls(), 2);
    // A missing identity source: 401 without a call.
    let r = c.request(&req("GET", "/items/8", &[("x-token", "allow")], b""));
    assert_eq!(r.status, 401, "{}", r.describe());
    assert_eq!(r.body_str(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(auth.calls(), 2);
    // isAuthorized false: 403 Forbidden.
    let r = c.request(&req(
        "GET",
        "/items/8?tenant=acme",
        &[("x-token", "deny")],
        b"",
    ));
    assert_eq!(r.status, 403, "{}", r.describe());
    assert_eq!(r.body_str(), r#"{"message":"Forbidden"}"#);
    assert_eq!(auth.calls(), 3);
}

#[test]
fn usage_identifier_key_is_throttled_by_its_usage_plan() {
    let auth = AuthorizerEndpoint::start();
    let yaml = format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: k
apis:
  - id: k
    api_key_source: AUTHORIZER
    authorizers:
      - name: tok
        type: TOKEN
        identity_source: [method.request.header.X-Token]
        lambda: {{uri: 'http://127.0.0.1:{port}/authorize'}}
    routes:
      - route: GET /metered
        api_key_required: true
        authorization_type: CUSTOM
        authorizer: tok
        integration: {{type: MOCK, status: 200, body: ok}}
    stages:
      - name: prod
api_keys:
  - {{id: one, value: key-one-0123456789}}
usage_plans:
  - name: tiny
    throttle: {{rate: 1, burst: 1}}
    api_stages: [{{api: k, stage: prod}}]
    keys: [one]
",
        port = auth.port
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let metered = with_token("GET", "/prod/metered", "allow:key-one-0123456789");
    let r = c.request(&metered);
    assert_eq!(r.status, 200, "{}", r.describe());
    // The plan's burst of 1 is spent: the key the authorizer named is throttled.
    c.request(&metered)
        .assert_gateway_error(429, "Too Many Requests", "ThrottlingException");
    // A key no plan knows, or none at all: 403 Forbidden.
    c.request(&with_token(
        "GET",
        "/prod/metered",
        "allow:nobody-knows-this",
    ))
    .assert_gateway_error(403, "Forbidden", "ForbiddenException");
    c.request(&with_token("GET", "/prod/metered", "allow"))
        .assert_gateway_error(403, "Forbidden", "ForbiddenException");
    // The x-api-key header does not count with this key source.
    c.request(&req(
        "GET",
        "/prod/metered",
        &[("x-token", "allow"), ("x-api-key", "key-one-0123456789")],
        b"",
    ))
    .assert_gateway_error(403, "Forbidden", "ForbiddenException");
    assert_eq!(auth.calls(), 3, "three identities, one call each");
}

#[test]
fn rest_request_authorizer_through_the_invoke_api() {
    let auth = AuthorizerEndpoint::start();
    let yaml = format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: r
apis:
  - id: r
    authorizers:
      - name: req
        type: REQUEST
        identity_source: [method.request.header.X-Token, stageVariables.tenant]
        lambda:
          uri: 'http://127.0.0.1:{port}'
          function: 'arn:aws:lambda:us-east-1:123456789012:function:auth'
    routes:
      - route: GET /orders/{{id}}
        authorization_type: CUSTOM
        authorizer: req
        integration: {{type: MOCK, status: 200, body: ok}}
    stages:
      - name: prod
        variables: {{tenant: acme}}
",
        port = auth.port
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let r = c.request(&req(
        "GET",
        "/prod/orders/42?q=a%20b&q=2",
        &[("x-token", "allow"), ("X-Multi", "1"), ("x-multi", "2")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        auth.last_request_line(),
        "POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aauth/invocations HTTP/1.1"
    );
    let e = auth.last_event();
    assert_eq!(e["type"], "REQUEST");
    assert_eq!(
        e["methodArn"],
        "arn:aws:execute-api:us-east-1:123456789012:r/prod/GET/orders/42"
    );
    assert_eq!(e["resource"], "/orders/{id}");
    assert_eq!(e["path"], "/orders/42");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["headers"]["X-Multi"], "2");
    assert_eq!(e["multiValueHeaders"]["X-Multi"], json!(["1", "2"]));
    assert_eq!(e["queryStringParameters"], json!({"q": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"q": ["a b", "2"]})
    );
    assert_eq!(e["pathParameters"], json!({"id": "42"}));
    assert_eq!(e["stageVariables"], json!({"tenant": "acme"}));
    let ctx = &e["requestContext"];
    assert_eq!(ctx["path"], "/prod/orders/42");
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["apiId"], "r");
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["resourcePath"], "/orders/{id}");
    assert_eq!(ctx["httpMethod"], "GET");
    assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        ctx["requestId"].as_str(),
        r.header("x-amzn-requestid"),
        "the event carries the request's id"
    );
    // Function errors through the Invoke API: Unauthorized -> 401, any other -> 500.
    c.request(&with_token("GET", "/prod/orders/1", "unauthorized"))
        .assert_gateway_error(401, "Unauthorized", "UnauthorizedException");
    c.request(&with_token("GET", "/prod/orders/1", "crash"))
        .assert_gateway_error(
            500,
            "Internal server error",
            "AuthorizerConfigurationException",
        );
    assert_eq!(auth.calls(), 3);
}

/// Check the SigV4 signature of a call the authorizer endpoint received, with the
/// library's verifier (tested against AWS's suite): `head` as received, `body` the event.
fn verify_signature(head: &str, body: &[u8], secret: &str) -> Result<(), String> {
    use tollgate::auth::sigv4::{
        payload_sha256, Credentials, RequestParts, Verifier, VerifierConfig,
    };
    let mut lines = head.lines();
    let line = lines.next().unwrap_or("");
    let target = line.split(' ').nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(&[u8], &[u8])> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().as_bytes(), v.trim().as_bytes()))
        .collect();
    let parts = RequestParts::new("POST", path, query, &headers[..]);
    Verifier::new()
        .verify(
            &parts,
            &payload_sha256(body),
            &VerifierConfig::new("eu-west-1", "lambda"),
            std::time::SystemTime::now(),
            |id| {
                (id == "AKIDEXAMPLE").then_some(Credentials {
                    access_key_id: "AKIDEXAMPLE",
                    secret_access_key: secret,
                    session_token: None,
                })
            },
        )
        .map(|_| ())
        .map_err(|e| e.message())
}

#[test]
fn invoke_api_calls_are_signed_with_the_configured_credentials() {
    let auth = AuthorizerEndpoint::start();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let secret_file = write_temp("lambda-secret", secret);
    let yaml = format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: s
apis:
  - id: s
    authorizers:
      - name: tok
        type: TOKEN
        identity_source: [method.request.header.X-Token]
        lambda:
          uri: 'http://127.0.0.1:{port}'
          function: authorizer
          region: eu-west-1
          credentials: {{access_key_id: AKIDEXAMPLE, secret_access_key_file: '{file}'}}
    routes:
      - route: GET /signed
        authorization_type: CUSTOM
        authorizer: tok
        integration: {{type: MOCK, status: 200, body: ok}}
    stages:
      - name: prod
",
        port = auth.port,
        file = secret_file.display()
    );
    let gw = Gateway::start(&yaml);
    let r = gw.send(&with_token("GET", "/prod/signed", "allow"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let head = auth.last_head();
    assert!(
        head.starts_with("POST /2015-03-31/functions/authorizer/invocations HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{head}"
    );
    let (_, sent) = auth.last_raw();
    let sent = sent.as_bytes();
    verify_signature(&head, sent, secret).unwrap_or_else(|e| panic!("{e}\n{head}"));
    // The oracle refuses another secret and another body.
    assert!(verify_signature(&head, sent, "another secret").is_err());
    assert!(verify_signature(&head, b"{}", secret).is_err());
    assert!(!gw.stderr().contains(secret), "the secret is never logged");
}
