//! Customised gateway responses (API Gateway's `gateway_responses`) against the real
//! gateway on loopback (docs/BEHAVIOUR.md "Gateway responses"):
//!
//! - every response type that can be provoked today, customised: its status, a header from
//!   a static value and one from `method.request.header.x-client`, and a body template with
//!   `$context.error.responseType`, `$context.error.message`, `$context.error.messageString`
//!   and `$context.requestId` (matching the response's `x-amzn-RequestId`);
//! - DEFAULT_4XX inheritance (a 403 and a 429 take it, with their own statuses, or the
//!   default's status when it sets one), DEFAULT_5XX (a 502 from a dead upstream, a 504 from
//!   a slow one);
//! - an API without `gateway_responses` answers exactly as before;
//! - configuration errors name their key paths.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// The body template every customised type uses: a JSON document naming the type and
/// carrying the message twice (raw and as a JSON string) and the request id.
const TEMPLATE: &str = r#"'{"type":"$context.error.responseType","raw":"$context.error.message","message":$context.error.messageString,"id":"$context.requestId","stage":"$stageVariables.colour"}'"#;

/// `TYPE` customised: `status` (none: the type's own), `x-type: 'TYPE'`,
/// `x-client: method.request.header.x-client`, the JSON template and a text/plain one.
fn custom(t: &str, status: Option<u16>) -> String {
    let status = status.map_or(String::new(), |s| format!("        status_code: {s}\n"));
    format!(
        "      {t}:
{status}        response_parameters:
          gatewayresponse.header.x-type: \"'{t}'\"
          gatewayresponse.header.x-client: method.request.header.x-client
        response_templates:
          application/json: {TEMPLATE}
          text/plain: 'plain $context.error.responseType'
"
    )
}

/// A listener named `name` whose default API is `api`.
fn listener(name: &str, api: &str) -> String {
    format!("  - {{name: {name}, bind: '127.0.0.1:0', default_api: {api}}}\n")
}

/// A TCP server that accepts connections, reads a little and closes them without an answer
/// (an authorizer that fails mid-call). Stopped on drop.
struct Slammer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Slammer {
    fn start() -> Slammer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(mut c) = conn {
                    let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buf = [0u8; 1024];
                    let _ = c.read(&mut buf);
                }
            }
        });
        Slammer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Slammer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `X-Amz-Date` for `secs` since the epoch.
fn amz_date(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = tollgate::time::civil_from_unix(secs as i64);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// A SigV4 Authorization header (signature not checked: the refusals come before it).
fn sigv4(date: &str, region: &str) -> [(String, String); 2] {
    [
        (
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{}/{region}/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                &date[..8]
            ),
        ),
        ("X-Amz-Date".into(), date.to_string()),
    ]
}

/// A state file path unique to this test process (quotas), removed on drop.
struct StatePath(std::path::PathBuf);

impl StatePath {
    fn new(name: &str) -> StatePath {
        let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "gateway-responses-{}-{name}.state",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        StatePath(p)
    }
}

impl Drop for StatePath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Assert `r` is the customised response of type `t`: `status`, the static header, and the
/// template rendered with `message` and the response's own request id, and the header
/// mapped from `method.request.header.x-client`.
#[track_caller]
fn assert_custom(r: &Response, t: &str, status: u16, message: &str) {
    let what = r.describe();
    assert_eq!(r.status, status, "{t}: {what}");
    assert_eq!(r.header("x-type"), Some(t), "{t}: {what}");
    assert_eq!(r.header("x-client"), Some("c-42"), "{t}: {what}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{t}: {what}"
    );
    r.assert_request_id();
    let id = r.header("x-amzn-RequestId").unwrap_or_default().to_string();
    let body = r.json();
    assert_eq!(body["type"], t, "{t}: {what}");
    assert_eq!(body["message"], message, "{t}: {what}");
    assert_eq!(body["raw"], message, "{t}: {what}");
    assert_eq!(body["id"], id.as_str(), "{t}: {what}");
    assert_eq!(body["stage"], "red", "{t}: {what}");
}

#[test]
fn every_provokable_type_customised() {
    let up = DemoUpstream::start();
    let slammer = Slammer::start();
    let dead = dead_port();
    let state = StatePath::new("types");
    let types = [
        custom("MISSING_AUTHENTICATION_TOKEN", Some(404)),
        custom("INVALID_API_KEY", Some(456)),
        custom("THROTTLED", Some(503)),
        custom("QUOTA_EXCEEDED", Some(402)),
        custom("UNAUTHORIZED", Some(407)),
        custom("INVALID_SIGNATURE", Some(400)),
        custom("EXPIRED_TOKEN", Some(410)),
        custom("REQUEST_TOO_LARGE", None),
        custom("INTEGRATION_FAILURE", Some(503)),
        custom("INTEGRATION_TIMEOUT", None),
        custom("API_CONFIGURATION_ERROR", Some(501)),
        custom("AUTHORIZER_FAILURE", Some(502)),
        custom("AUTHORIZER_CONFIGURATION_ERROR", None),
    ]
    .concat();
    let yaml = format!(
        "server:
  state_file: '{state}'
limits:
  max_body_bytes: 1024
listeners:
{l1}{l2}{l3}apis:
  - id: types
    authorizers:
      - name: gone
        type: TOKEN
        identity_source: [method.request.header.X-Token]
        lambda: {{uri: 'http://127.0.0.1:{dead}/auth'}}
      - name: broken
        type: TOKEN
        identity_source: [method.request.header.X-Token]
        lambda: {{uri: 'http://127.0.0.1:{slam}/auth'}}
    routes:
      - route: GET /mock
        integration: {{type: MOCK, body: ok}}
      - route: POST /upload
        integration: {{type: MOCK, body: ok}}
      - route: GET /keyed
        api_key_required: true
        integration: {{type: MOCK, body: ok}}
      - route: GET /throttled
        integration: {{type: MOCK, body: ok}}
      - route: GET /dead
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{dead}/x'}}
      - route: GET /slow
        integration: {{type: HTTP_PROXY, uri: 'http://{up}/slow', timeout: 300ms}}
      - route: GET /misconfigured
        integration: {{type: HTTP_PROXY, uri: 'http://${{stageVariables.nowhere}}/x'}}
      - route: GET /iam
        authorization_type: AWS_IAM
        integration: {{type: MOCK, body: ok}}
      - route: GET /custom
        authorization_type: CUSTOM
        authorizer: gone
        integration: {{type: MOCK, body: ok}}
      - route: GET /custom-broken
        authorization_type: CUSTOM
        authorizer: broken
        integration: {{type: MOCK, body: ok}}
    stages:
      - name: prod
        variables: {{colour: red}}
        method_throttle:
          - {{route: GET /throttled, rate: 1, burst: 1}}
    gateway_responses:
{types}
  - id: walled
    routes:
      - route: GET /denied
        integration: {{type: MOCK, body: ok}}
    stages:
      - name: prod
        variables: {{colour: red}}
    resource_policy:
      Version: '2012-10-17'
      Statement:
        - {{Effect: Deny, Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*'}}
    gateway_responses:
{denied}
  - id: httpapi
    type: HTTP
    routes:
      - route: GET /there
        integration: {{type: MOCK, body: ok}}
    stages:
      - name: $default
        variables: {{colour: red}}
    gateway_responses:
{not_found}
api_keys:
  - {{id: quota, value: quota-key-0123456789}}
usage_plans:
  - name: metered
    quota: {{limit: 1, period: DAY}}
    api_stages: [{{api: types, stage: prod}}]
    keys: [quota]
",
        state = state.0.display(),
        l1 = listener("types", "types"),
        l2 = listener("walled", "walled"),
        l3 = listener("httpapi", "httpapi"),
        slam = slammer.port,
        up = up.addr(),
        denied = custom("ACCESS_DENIED", Some(451)),
        not_found = custom("RESOURCE_NOT_FOUND", Some(405)),
    );
    let gw = Gateway::start(&yaml);
    let port = gw.port_of("types");
    let client = ("x-client", "c-42");
    let send = |port: u16, method: &str, target: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![client];
        headers.extend_from_slice(extra);
        Client::connect(port).request(&req(method, target, &headers, b""))
    };

    // 403 -> 404 MISSING_AUTHENTICATION_TOKEN: no such route.
    let r = send(port, "GET", "/prod/nowhere", &[]);
    assert_custom(
        &r,
        "MISSING_AUTHENTICATION_TOKEN",
        404,
        "Missing Authentication Token",
    );

    // 403 -> 456 INVALID_API_KEY: no key, then an unknown one.
    let r = send(port, "GET", "/prod/keyed", &[]);
    assert_custom(&r, "INVALID_API_KEY", 456, "Forbidden");
    let r = send(
        port,
        "GET",
        "/prod/keyed",
        &[("x-api-key", "no-such-key-0123456789")],
    );
    assert_custom(&r, "INVALID_API_KEY", 456, "Forbidden");

    // 429 -> 503 THROTTLED: a burst of 1, at 1/s.
    let mut c = Client::connect(port);
    let throttled = (0..5)
        .map(|_| c.request(&req("GET", "/prod/throttled", &[client], b"")))
        .find(|r| r.status != 200)
        .expect("one of 5 quick requests over a 1/s limit is throttled");
    assert_custom(&throttled, "THROTTLED", 503, "Too Many Requests");
    assert!(
        throttled.header("retry-after").is_some(),
        "Retry-After stays: {}",
        throttled.describe()
    );

    // 429 -> 402 QUOTA_EXCEEDED: a quota of 1 a day (the plan's key on a keyed route).
    let key = ("x-api-key", "quota-key-0123456789");
    let r = send(port, "GET", "/prod/keyed", &[key]);
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = send(port, "GET", "/prod/keyed", &[key]);
    assert_custom(&r, "QUOTA_EXCEEDED", 402, "Limit Exceeded");

    // 401 -> 407 UNAUTHORIZED: no token for the Lambda authorizer.
    let r = send(port, "GET", "/prod/custom", &[]);
    assert_custom(&r, "UNAUTHORIZED", 407, "Unauthorized");
    // 500 -> 502 AUTHORIZER_FAILURE: the authorizer is unreachable.
    let r = send(port, "GET", "/prod/custom", &[("x-token", "abc")]);
    assert_custom(&r, "AUTHORIZER_FAILURE", 502, "Internal server error");
    // 500 AUTHORIZER_CONFIGURATION_ERROR: it hangs up without an answer.
    let r = send(port, "GET", "/prod/custom-broken", &[("x-token", "abc")]);
    assert_custom(
        &r,
        "AUTHORIZER_CONFIGURATION_ERROR",
        500,
        "Internal server error",
    );

    // 403 -> 400 INVALID_SIGNATURE: a credential scoped to another region.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let [a, d] = sigv4(&amz_date(now), "xx-nowhere-1");
    let r = send(port, "GET", "/prod/iam", &[(&a.0, &a.1), (&d.0, &d.1)]);
    assert_eq!(r.status, 400, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("scoped to a valid region"), "{message}");
    assert_custom(&r, "INVALID_SIGNATURE", 400, &message);
    // 403 -> 410 EXPIRED_TOKEN: signed in 2015.
    let [a, d] = sigv4("20150830T123600Z", "us-east-1");
    let r = send(port, "GET", "/prod/iam", &[(&a.0, &a.1), (&d.0, &d.1)]);
    assert_eq!(r.status, 410, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.starts_with("Signature expired"), "{message}");
    assert_custom(&r, "EXPIRED_TOKEN", 410, &message);

    // 413 REQUEST_TOO_LARGE (own status): a chunked body over limits.max_body_bytes.
    let body = vec![b'x'; 4096];
    let raw = [
        req(
            "POST",
            "/prod/upload",
            &[client, ("transfer-encoding", "chunked")],
            b"",
        ),
        chunked(&body, &[1000]),
    ]
    .concat();
    let r = Client::connect(port).request(&raw);
    assert_custom(
        &r,
        "REQUEST_TOO_LARGE",
        413,
        "HTTP content length exceeded 10485760 bytes.",
    );
    assert!(r.says_close(), "413 closes: {}", r.describe());

    // 502 -> 503 INTEGRATION_FAILURE: nobody listens.
    let r = send(port, "GET", "/prod/dead", &[]);
    assert_custom(&r, "INTEGRATION_FAILURE", 503, "Internal server error");
    // 504 INTEGRATION_TIMEOUT (own status): the upstream answers after the timeout.
    let r = send(port, "GET", "/prod/slow", &[("x-echo-delay-ms", "3000")]);
    assert_custom(&r, "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out");
    // 500 -> 501 API_CONFIGURATION_ERROR: the URI names an undefined stage variable.
    let r = send(port, "GET", "/prod/misconfigured", &[]);
    assert_custom(&r, "API_CONFIGURATION_ERROR", 501, "Internal server error");

    // 403 -> 451 ACCESS_DENIED: the resource policy denies everyone.
    let r = send(gw.port_of("walled"), "GET", "/prod/denied", &[]);
    assert_eq!(r.status, 451, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("not authorized"), "{message}");
    assert_custom(&r, "ACCESS_DENIED", 451, &message);

    // 404 -> 405 RESOURCE_NOT_FOUND on an HTTP API.
    let r = send(gw.port_of("httpapi"), "GET", "/nowhere", &[]);
    assert_custom(&r, "RESOURCE_NOT_FOUND", 405, "Not Found");

    // The routes themselves still answer.
    let r = send(port, "GET", "/prod/mock", &[]);
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    let r = send(gw.port_of("httpapi"), "GET", "/there", &[]);
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
}

/// The template of the DEFAULT_4XX / DEFAULT_5XX customisations below.
const DEFAULT_TEMPLATE: &str = r#"'{"default":true,"type":"$context.error.responseType","message":$context.error.messageString,"id":"$context.requestId"}'"#;

fn inheritance_config(
    up: &DemoUpstream,
    dead: u16,
    default_4xx_status: &str,
    extra: &str,
) -> String {
    format!(
        "listeners:
  - {{name: main, bind: '127.0.0.1:0', default_api: inherit}}
apis:
  - id: inherit
    routes:
      - route: GET /keyed
        api_key_required: true
        integration: {{type: MOCK, body: ok}}
      - route: GET /throttled
        integration: {{type: MOCK, body: ok}}
      - route: GET /dead
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{dead}/x'}}
      - route: GET /slow
        integration: {{type: HTTP_PROXY, uri: 'http://{up}/slow', timeout: 300ms}}
    stages:
      - name: prod
        method_throttle:
          - {{route: GET /throttled, rate: 1, burst: 1}}
    gateway_responses:
      DEFAULT_4XX:
{default_4xx_status}        response_parameters:
          gatewayresponse.header.x-default: \"'4xx'\"
          gatewayresponse.header.x-client: method.request.header.x-client
        response_templates:
          application/json: {DEFAULT_TEMPLATE}
      DEFAULT_5XX:
        response_parameters:
          gatewayresponse.header.x-default: \"'5xx'\"
        response_templates:
          application/json: {DEFAULT_TEMPLATE}
{extra}",
        up = up.addr(),
    )
}

#[track_caller]
fn assert_default(r: &Response, class: &str, t: &str, status: u16, message: &str) {
    let what = r.describe();
    assert_eq!(r.status, status, "{t}: {what}");
    assert_eq!(r.header("x-default"), Some(class), "{t}: {what}");
    r.assert_request_id();
    let body = r.json();
    assert_eq!(body["default"], true, "{t}: {what}");
    assert_eq!(body["type"], t, "{t}: {what}");
    assert_eq!(body["message"], message, "{t}: {what}");
    assert_eq!(
        body["id"],
        r.header("x-amzn-RequestId").unwrap_or_default(),
        "{t}: {what}"
    );
}

/// Send `target` on `c` until an answer is not 200 (a 1/s limit refuses one of a few quick
/// requests).
fn first_refusal(c: &mut Client, target: &str) -> Response {
    (0..5)
        .map(|_| c.request(&req("GET", target, &[("x-client", "c-7")], b"")))
        .find(|r| r.status != 200)
        .expect("one of 5 quick requests over a 1/s limit is refused")
}

#[test]
fn default_4xx_and_5xx_are_inherited() {
    let up = DemoUpstream::start();
    let dead = dead_port();
    let gw = Gateway::start(&inheritance_config(&up, dead, "", ""));
    let mut c = gw.client();

    // A 403 and a 429 both take DEFAULT_4XX, each with its own status and type.
    let r = c.request(&req("GET", "/prod/keyed", &[("x-client", "c-7")], b""));
    assert_default(&r, "4xx", "INVALID_API_KEY", 403, "Forbidden");
    assert_eq!(r.header("x-client"), Some("c-7"), "{}", r.describe());
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ForbiddenException"));
    let r = c.request(&req("GET", "/prod/nowhere", &[], b""));
    assert_default(
        &r,
        "4xx",
        "MISSING_AUTHENTICATION_TOKEN",
        403,
        "Missing Authentication Token",
    );
    // No x-client sent: the mapped header is left out.
    assert_eq!(r.header("x-client"), None, "{}", r.describe());
    let r = first_refusal(&mut c, "/prod/throttled");
    assert_default(&r, "4xx", "THROTTLED", 429, "Too Many Requests");
    assert!(r.header("retry-after").is_some(), "{}", r.describe());

    // DEFAULT_5XX: a 502 from a dead upstream, a 504 from a slow one.
    let r = c.request(&get("/prod/dead"));
    assert_default(
        &r,
        "5xx",
        "INTEGRATION_FAILURE",
        502,
        "Internal server error",
    );
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("InternalServerErrorException")
    );
    let r = c.request(&req(
        "GET",
        "/prod/slow",
        &[("x-echo-delay-ms", "3000")],
        b"",
    ));
    assert_default(
        &r,
        "5xx",
        "INTEGRATION_TIMEOUT",
        504,
        "Endpoint request timed out",
    );
}

#[test]
fn a_default_4xx_status_applies_to_every_4xx_without_its_own() {
    let up = DemoUpstream::start();
    let dead = dead_port();
    // DEFAULT_4XX answers 400; THROTTLED is customised itself (a header, no status, no
    // template): it takes DEFAULT_4XX's status but nothing else of it.
    let extra = "      THROTTLED:
        response_parameters:
          gatewayresponse.header.x-throttled: \"'yes'\"
";
    let gw = Gateway::start(&inheritance_config(
        &up,
        dead,
        "        status_code: 400\n",
        extra,
    ));
    let mut c = gw.client();
    let r = c.request(&get("/prod/keyed"));
    assert_default(&r, "4xx", "INVALID_API_KEY", 400, "Forbidden");
    let r = first_refusal(&mut c, "/prod/throttled");
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(r.header("x-throttled"), Some("yes"));
    assert_eq!(
        r.header("x-default"),
        None,
        "nothing merged: {}",
        r.describe()
    );
    r.assert_gateway_error(400, "Too Many Requests", "ThrottlingException");
    // 5XX errors keep their statuses.
    let r = c.request(&get("/prod/dead"));
    assert_default(
        &r,
        "5xx",
        "INTEGRATION_FAILURE",
        502,
        "Internal server error",
    );
}

#[test]
fn an_api_without_gateway_responses_is_unchanged() {
    let up = DemoUpstream::start();
    let dead = dead_port();
    let yaml = format!(
        "listeners:
  - {{name: main, bind: '127.0.0.1:0', default_api: plain}}
apis:
  - id: plain
    routes:
      - route: GET /keyed
        api_key_required: true
        integration: {{type: MOCK, body: ok}}
      - route: GET /dead
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{dead}/x'}}
      - route: GET /slow
        integration: {{type: HTTP_PROXY, uri: 'http://{up}/slow', timeout: 300ms}}
    stages: [{{name: prod}}]
  - id: other
    routes: []
    stages: [{{name: prod}}]
    gateway_responses:
      DEFAULT_4XX: {{status_code: 418}}
      DEFAULT_5XX: {{status_code: 599}}
",
        up = up.addr()
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let r = c.request(&get("/prod/nowhere"));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    let r = c.request(&get("/prod/keyed"));
    r.assert_gateway_error(403, "Forbidden", "ForbiddenException");
    let r = c.request(&get("/prod/dead"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    let r = c.request(&req(
        "GET",
        "/prod/slow",
        &[("x-echo-delay-ms", "3000")],
        b"",
    ));
    r.assert_gateway_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(!r.says_close(), "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// `method.request.header` / `querystring` values in headers, and the request's Accept
/// choosing the template, on a 4XX answered before the integration and on a 5XX answered
/// after it released the request head (the pipeline copies them when the API is selected).
#[test]
fn method_request_values_reach_the_response() {
    let dead = dead_port();
    let mapping = "        response_parameters:
          gatewayresponse.header.x-client: method.request.header.x-client
          gatewayresponse.header.x-q: method.request.querystring.q
        response_templates:
          application/json: '{\"json\": \"$context.error.responseType\"}'
          text/plain: 'text $context.error.responseType'
";
    let yaml = format!(
        "listeners:
  - {{name: main, bind: '127.0.0.1:0', default_api: a}}
apis:
  - id: a
    routes:
      - route: GET /dead
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{dead}/x'}}
    stages: [{{name: prod}}]
    gateway_responses:
      DEFAULT_4XX:
{mapping}      DEFAULT_5XX:
{mapping}"
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    for (target, status, t) in [
        (
            "/prod/nowhere?q=a%20b&q=last",
            403,
            "MISSING_AUTHENTICATION_TOKEN",
        ),
        ("/prod/dead?q=a%20b&q=last", 502, "INTEGRATION_FAILURE"),
    ] {
        let r = c.request(&req(
            "GET",
            target,
            &[("x-client", "one"), ("x-client", "two")],
            b"",
        ));
        assert_eq!(r.status, status, "{}", r.describe());
        // The last value of a repeated header or parameter; the query's decoded.
        assert_eq!(r.header("x-client"), Some("two"), "{}", r.describe());
        assert_eq!(r.header("x-q"), Some("last"), "{}", r.describe());
        assert_eq!(r.json()["json"], t);
        let r = c.request(&req(
            "GET",
            target,
            &[("accept", "text/html, text/plain")],
            b"",
        ));
        assert_eq!(
            r.header("content-type"),
            Some("text/plain"),
            "{}",
            r.describe()
        );
        assert_eq!(r.body_str(), format!("text {t}"));
        assert_eq!(r.header("x-client"), None, "not sent: {}", r.describe());
    }
}

#[test]
fn configuration_errors_name_their_key_paths() {
    let yaml = "listeners:
  - {name: main, bind: '127.0.0.1:0', default_api: a}
apis:
  - id: a
    routes: []
    stages: [{name: prod}]
    gateway_responses:
      THROTTLE: {status_code: 429}
      DEFAULT_4XX:
        status_code: 700
        response_parameters:
          gatewayresponse.header.x-a: unquoted
          gatewayresponse.header.Content-Length: \"'1'\"
          gatewayresponse.header.x-c: context.nope
        response_templates:
          application/json: '{\"m\": \"$context.error.mesage\"}'
";
    let cfg = write_temp("gateway-responses-errors.yaml", yaml);
    let (code, _out, err) = cli(&["check", &cfg.display()]);
    assert_eq!(code, 1, "{err}");
    let p = "apis[0].gateway_responses";
    for (path, reason) in [
        (format!("{p}.THROTTLE"), "not a gateway response type"),
        (format!("{p}.DEFAULT_4XX.status_code"), "200 to 599"),
        (
            format!("{p}.DEFAULT_4XX.response_parameters.gatewayresponse.header.x-a"),
            "not a response parameter value",
        ),
        (
            format!("{p}.DEFAULT_4XX.response_parameters.gatewayresponse.header.Content-Length"),
            "cannot be set",
        ),
        (
            format!("{p}.DEFAULT_4XX.response_parameters.gatewayresponse.header.x-c"),
            "unknown variable context.nope",
        ),
        (
            format!("{p}.DEFAULT_4XX.response_templates.application/json"),
            "unknown variable $context.error.mesage",
        ),
    ] {
        assert!(
            err.lines().any(|l| l.contains(&path) && l.contains(reason)),
            "no `{reason}` at `{path}` in:\n{err}"
        );
    }
}
