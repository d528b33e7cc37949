//! Lambda proxy integrations (`AWS_PROXY`) end to end: the real gateway, the demo upstream
//! as the Lambda endpoint (its Invoke API and demo functions, `tools::demo_upstream`).
//!
//! - REST (payload 1.0) and HTTP APIs (2.0, and 1.0 on request): the event the function
//!   got (headers and multi-value headers, query strings, cookies, path parameters, stage
//!   variables, `requestContext`), the result as the response (multi-value headers,
//!   cookies as `set-cookie`), 2.0's inference for a bare JSON result;
//! - binary: request bodies base64 by Content-Type, results decoded by the first Accept
//!   type (REST) or always (HTTP APIs), an image round trip byte-exact;
//! - failures: function error -> 502, Lambda's 429 -> 500, timeout -> 504, each malformed
//!   result -> 502 (with the reason in the log and `$context.integration.error` in the
//!   access log), an answer over 6 MB -> 502, a request body over 10 MB -> 413;
//! - the Invoke call: signed with credentials (`AWS4-HMAC-SHA256 Credential=KEY/DATE/
//!   REGION/lambda/aws4_request`), unsigned without, the qualifier, stage variables;
//! - the authorizers' output in `requestContext.authorizer`: a REQUEST Lambda authorizer
//!   (1.0 stringified with `principalId` and `integrationLatency`, 2.0 `lambda` typed) and
//!   JWT / Cognito claims (`jwt.claims` and `jwt.scopes`, `claims`).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The demo functions' PNG (`tools::demo_upstream::DEMO_PNG_BASE64`).
const DEMO_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// Two APIs on two listeners: `rest` (REST, stage `prod`, `/prod/...`) and `http` (HTTP
/// API, `$default` stage); their Lambda endpoint is the demo upstream, calls unsigned.
fn config(lambda: u16, rest_routes: &str, http_routes: &str, stage_extra: &str) -> String {
    format!(
        "aws:
  region: eu-central-1
  credentials: {{from: none}}
  endpoints: {{lambda: 'http://127.0.0.1:{lambda}'}}
listeners:
  - {{name: rest, bind: '127.0.0.1:0', default_api: rest}}
  - {{name: http, bind: '127.0.0.1:0', default_api: http, h2c: true}}
apis:
  - id: rest
    type: REST
    binary_media_types: ['image/png', 'application/octet-stream']
    routes:
      - {{route: 'ANY /echo/{{proxy+}}', integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'POST /mirror', integration: {{type: AWS_PROXY, uri: mirror}}}}
      - {{route: 'GET /image', integration: {{type: AWS_PROXY, uri: image}}}}
      - {{route: 'GET /error', integration: {{type: AWS_PROXY, uri: error}}}}
      - {{route: 'GET /throttled', integration: {{type: AWS_PROXY, uri: throttled}}}}
      - {{route: 'GET /slow', integration: {{type: AWS_PROXY, uri: slow, timeout: 300ms}}}}
      - {{route: 'GET /malformed', integration: {{type: AWS_PROXY, uri: malformed}}}}
      - {{route: 'GET /huge', integration: {{type: AWS_PROXY, uri: huge}}}}
      - {{route: 'GET /missing', integration: {{type: AWS_PROXY, uri: no-such-function}}}}
{rest_routes}    stages:
      - name: prod
        variables: {{color: blue, alias: live}}
{stage_extra}  - id: http
    type: HTTP
    routes:
      - {{route: 'ANY /echo/{{proxy+}}', integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'ANY /v1/{{proxy+}}', integration: {{type: AWS_PROXY, uri: echo, payload_format_version: '1.0'}}}}
      - {{route: 'POST /mirror', integration: {{type: AWS_PROXY, uri: mirror}}}}
      - {{route: 'GET /image', integration: {{type: AWS_PROXY, uri: image}}}}
      - {{route: 'GET /raw', integration: {{type: AWS_PROXY, uri: raw}}}}
      - {{route: 'GET /string', integration: {{type: AWS_PROXY, uri: string}}}}
      - {{route: 'GET /malformed', integration: {{type: AWS_PROXY, uri: malformed}}}}
      - {{route: 'GET /error', integration: {{type: AWS_PROXY, uri: error}}}}
{http_routes}    stages:
      - name: '$default'
        variables: {{color: green}}
"
    )
}

struct Setup {
    // Dropped in this order: the gateway first.
    gw: Gateway,
    _up: DemoUpstream,
}

impl Setup {
    fn start() -> Setup {
        Setup::with("", "", "")
    }

    fn with(rest_routes: &str, http_routes: &str, stage_extra: &str) -> Setup {
        let up = DemoUpstream::start();
        let gw = Gateway::start(&config(up.port, rest_routes, http_routes, stage_extra));
        Setup { gw, _up: up }
    }

    fn rest(&self, request: &[u8]) -> Response {
        Client::connect(self.gw.port_of("rest")).request(request)
    }

    fn http(&self, request: &[u8]) -> Response {
        Client::connect(self.gw.port_of("http")).request(request)
    }
}

/// The echo function's body: `{"event": ..., "invoke": ...}`.
fn echoed(r: &Response) -> (Value, Value) {
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("x-demo-function"),
        Some("echo"),
        "{}",
        r.describe()
    );
    let v = r.json();
    (v["event"].clone(), v["invoke"].clone())
}

fn values(r: &Response, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn rest_api_event_1_0_and_the_result() {
    let s = Setup::start();
    let body = br#"{"a": 1}"#;
    let r = s.rest(&req(
        "POST",
        "/prod/echo/hello/world?name=me&multi=a&multi=b&sp=x%20y",
        &[
            ("Content-Type", "application/json"),
            ("X-Multi", "1"),
            ("x-multi", "2"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "lambda-test/1.0"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
        body,
    ));
    let (event, invoke) = echoed(&r);
    r.assert_request_id();
    let request_id = r.header("x-amzn-requestid").unwrap_or_default().to_string();
    // The result: its headers (multi-value ones each a line), no cookies in 1.0.
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(values(&r, "x-demo-multi"), ["a", "b"]);
    assert_eq!(r.header_count("set-cookie"), 0, "{}", r.describe());

    assert_eq!(event["resource"], "/echo/{proxy+}");
    assert_eq!(event["path"], "/echo/hello/world");
    assert_eq!(event["httpMethod"], "POST");
    assert!(
        event.get("version").is_none(),
        "REST events carry no version"
    );
    let h = &event["headers"];
    assert_eq!(h["Content-Type"], "application/json");
    assert_eq!(h["X-Multi"], "2", "the last value");
    assert_eq!(h["Cookie"], "c1=v1; c2=v2");
    assert_eq!(h["User-Agent"], "lambda-test/1.0");
    assert_eq!(h["X-Forwarded-For"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["X-Forwarded-Proto"], "http");
    assert_eq!(
        h["X-Forwarded-Port"],
        s.gw.port_of("rest").to_string().as_str()
    );
    assert_eq!(event["multiValueHeaders"]["X-Multi"], json!(["1", "2"]));
    assert_eq!(
        event["queryStringParameters"],
        json!({"name": "me", "multi": "b", "sp": "x y"})
    );
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"name": ["me"], "multi": ["a", "b"], "sp": ["x y"]})
    );
    assert_eq!(event["pathParameters"], json!({"proxy": "hello/world"}));
    assert_eq!(
        event["stageVariables"],
        json!({"color": "blue", "alias": "live"})
    );
    assert_eq!(event["body"], r#"{"a": 1}"#);
    assert_eq!(event["isBase64Encoded"], false);
    let c = &event["requestContext"];
    assert_eq!(c["stage"], "prod");
    assert_eq!(c["apiId"], "rest");
    assert_eq!(c["accountId"], "123456789012");
    assert_eq!(c["path"], "/prod/echo/hello/world");
    assert_eq!(c["resourcePath"], "/echo/{proxy+}");
    assert_eq!(c["httpMethod"], "POST");
    assert_eq!(c["protocol"], "HTTP/1.1");
    assert_eq!(c["requestId"], request_id.as_str());
    assert_eq!(c["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(c["identity"]["userAgent"], "lambda-test/1.0");
    assert_eq!(c["identity"]["caller"], Value::Null);
    assert_eq!(c["resourceId"].as_str().map(str::len), Some(6));
    let epoch = c["requestTimeEpoch"].as_u64().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    assert!(
        now.abs_diff(epoch) < 60_000,
        "requestTimeEpoch {epoch} vs {now}"
    );
    assert!(c["requestTime"].as_str().unwrap_or("").ends_with(" +0000"));
    // The Invoke call.
    assert_eq!(invoke["function"], "echo");
    assert_eq!(invoke["invocation_type"], "RequestResponse");
    assert_eq!(
        invoke["authorization"],
        Value::Null,
        "unsigned without credentials"
    );
    assert_eq!(invoke["qualifier"], Value::Null);
}

#[test]
fn http_api_event_2_0_and_cookies() {
    let s = Setup::start();
    let r = s.http(&req(
        "GET",
        "/echo/a%20b/c?x=1&x=2&y=%E2%82%AC",
        &[
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
            ("X-Dup", "1"),
            ("X-DUP", "2"),
        ],
        b"",
    ));
    let (event, _) = echoed(&r);
    // The result's cookies, each a set-cookie line.
    assert_eq!(values(&r, "set-cookie"), ["demo=1; Path=/", "second=2"]);
    assert_eq!(values(&r, "x-demo-multi"), ["a", "b"]);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "ANY /echo/{proxy+}");
    assert_eq!(event["rawPath"], "/echo/a%20b/c");
    assert_eq!(event["rawQueryString"], "x=1&x=2&y=%E2%82%AC");
    assert_eq!(event["cookies"], json!(["a=1", "b=2", "c=3"]));
    assert_eq!(event["headers"]["x-dup"], "1,2");
    assert!(event["headers"].get("cookie").is_none());
    assert!(event["headers"].get("X-Dup").is_none(), "lower-cased names");
    assert_eq!(event["headers"]["host"], "gateway.test");
    assert_eq!(
        event["queryStringParameters"],
        json!({"x": "1,2", "y": "€"})
    );
    assert_eq!(event["pathParameters"], json!({"proxy": "a b/c"}));
    assert_eq!(event["stageVariables"], json!({"color": "green"}));
    assert!(event.get("body").is_none(), "no body, no key");
    assert_eq!(event["isBase64Encoded"], false);
    let c = &event["requestContext"];
    assert_eq!(c["http"]["method"], "GET");
    assert_eq!(c["http"]["path"], "/echo/a%20b/c");
    assert_eq!(c["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(c["routeKey"], "ANY /echo/{proxy+}");
    assert_eq!(c["stage"], "$default");
    assert_eq!(c["apiId"], "http");
    assert_eq!(
        c["requestId"],
        r.header("x-amzn-requestid").unwrap_or_default()
    );
    assert!(c["timeEpoch"].as_u64().is_some());

    // Payload 1.0 on an HTTP API: the 1.0 shape with a version.
    let r = s.http(&req("PUT", "/v1/x?q=1", &[], b"hi"));
    let (event, _) = echoed(&r);
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["path"], "/v1/x");
    assert_eq!(event["resource"], "/v1/{proxy+}");
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"q": ["1"]})
    );
    assert_eq!(event["requestContext"]["resourceId"], Value::Null);
    assert_eq!(
        r.header_count("set-cookie"),
        0,
        "1.0 results have no cookies"
    );
}

#[test]
fn payload_2_0_infers_a_bare_result() {
    let s = Setup::start();
    let r = s.http(&get("/raw?k=v"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["message"], "Hello from Lambda!");
    assert_eq!(
        v["input"]["queryStringParameters"]["k"], "v",
        "the body is the output"
    );
    let r = s.http(&get("/string"));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "Hello from Lambda!")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    // An object without statusCode is a body in 2.0, malformed in 1.0.
    let r = s.http(&get("/malformed?case=nostatus"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!({"body": "no status"}));
    let r = s.rest(&get("/prod/malformed?case=nostatus"));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
}

#[test]
fn binary_bodies_both_ways() {
    let s = Setup::start();
    // REST: a binary media type goes base64, text as it is.
    let bytes = b"\x89PNG\r\n\x1a\n\x00\xffbinary";
    let r = s.rest(&req(
        "POST",
        "/prod/echo/up",
        &[("Content-Type", "image/png")],
        bytes,
    ));
    let (event, _) = echoed(&r);
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], B64.encode(bytes).as_str());
    let r = s.rest(&req(
        "POST",
        "/prod/echo/up",
        &[("Content-Type", "text/plain")],
        b"text",
    ));
    let (event, _) = echoed(&r);
    assert_eq!(
        (event["isBase64Encoded"].clone(), event["body"].clone()),
        (json!(false), json!("text"))
    );
    // HTTP APIs: anything but text types goes base64.
    for (ct, b64) in [
        ("application/octet-stream", true),
        ("application/x-www-form-urlencoded", true),
        ("application/json", false),
        ("text/csv", false),
    ] {
        let r = s.http(&req("POST", "/echo/up", &[("Content-Type", ct)], b"a=1"));
        let (event, _) = echoed(&r);
        assert_eq!(event["isBase64Encoded"], b64, "{ct}");
        let want = if b64 {
            B64.encode(b"a=1")
        } else {
            "a=1".into()
        };
        assert_eq!(event["body"], want.as_str(), "{ct}");
    }

    // Results: REST decodes when the first Accept type is binary, else the base64 text.
    let png = B64.decode(DEMO_PNG_BASE64).unwrap_or_default();
    let r = s.rest(&req("GET", "/prod/image", &[("Accept", "image/png")], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body, png);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(
        r.header("content-length"),
        Some(png.len().to_string().as_str())
    );
    let r = s.rest(&req(
        "GET",
        "/prod/image",
        &[("Accept", "text/html, image/png")],
        b"",
    ));
    assert_eq!(
        r.body_str(),
        DEMO_PNG_BASE64,
        "only the first Accept type counts"
    );
    let r = s.rest(&req("GET", "/prod/image", &[], b""));
    assert_eq!(r.body_str(), DEMO_PNG_BASE64, "no Accept: text");
    // HTTP APIs decode always.
    let r = s.http(&req("GET", "/image", &[("Accept", "text/html")], b""));
    assert_eq!(r.body, png);
}

#[test]
fn an_image_round_trip_is_byte_exact() {
    let s = Setup::start();
    let mut image = b"\x89PNG\r\n\x1a\n".to_vec();
    image.extend(pattern_bytes(300_000, 7));
    for (api, path) in [("rest", "/prod/mirror"), ("http", "/mirror")] {
        let request = req(
            "POST",
            path,
            &[("Content-Type", "image/png"), ("Accept", "image/png")],
            &image,
        );
        let r = if api == "rest" {
            s.rest(&request)
        } else {
            s.http(&request)
        };
        assert_eq!(r.status, 200, "{api}: {}", r.describe());
        assert_eq!(r.header("content-type"), Some("image/png"), "{api}");
        assert_eq!(r.body.len(), image.len(), "{api}");
        assert!(r.body == image, "{api}: the bytes differ");
    }
}

#[test]
fn failures_map_to_api_gateway_statuses() {
    let dir = std::env::temp_dir().join(format!("lambda-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let log = dir.join("access.log");
    let stage_extra = format!(
        "        access_log: {{destination: '{}', format: '$context.requestId|$context.status|$context.integration.error|$context.integrationStatus'}}\n",
        log.display()
    );
    let s = Setup::with("", "", &stage_extra);
    let internal = "InternalServerErrorException";
    // A function error: 502.
    let r = s.rest(&get("/prod/error"));
    r.assert_gateway_error(502, "Internal server error", internal);
    let r = s.http(&get("/error"));
    r.assert_gateway_error(502, "Internal server error", internal);
    // Lambda refused the invocation (throttled, no such function): 500.
    let r = s.rest(&get("/prod/throttled"));
    r.assert_gateway_error(500, "Internal server error", internal);
    let r = s.rest(&get("/prod/missing"));
    r.assert_gateway_error(500, "Internal server error", internal);
    // No answer within the integration's timeout (300 ms; the function takes 2 s): 504.
    let started = Instant::now();
    let r = s.rest(&get("/prod/slow?ms=2000"));
    r.assert_gateway_error(504, "Endpoint request timed out", internal);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    // Within it: the answer.
    let r = s.rest(&get("/prod/slow?ms=10"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "slept 10 ms"));
    // Each malformed result: 502, the reason in the log.
    for (case, reason) in [
        ("text", "not JSON"),
        ("nostatus", "no statusCode"),
        ("body-object", "expected a string (body)"),
        ("status-string", "statusCode"),
        ("headers-number", "headers as an object"),
        ("base64", "not base64"),
    ] {
        let path = format!("/prod/malformed?case={case}");
        let accept = [("Accept", "image/png")];
        let r = s.rest(&req("GET", &path, &accept, b""));
        r.assert_gateway_error(502, "Internal server error", internal);
        let id = r.header("x-amzn-requestid").unwrap_or_default().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let err = s.gw.stderr();
            let line = err
                .lines()
                .find(|l| l.contains(&id))
                .unwrap_or("")
                .to_string();
            if line.contains("Malformed Lambda proxy response") && line.contains(reason) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{case}: no `{reason}` for {id} in:\n{err}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // An answer over Lambda's 6 MB: 502, and why.
    let r = s.rest(&get("/prod/huge"));
    r.assert_gateway_error(502, "Internal server error", internal);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s
        .gw
        .stderr()
        .contains("Lambda response exceeds 6291456 bytes")
    {
        assert!(
            Instant::now() < deadline,
            "no size error in:\n{}",
            s.gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The access log: the status, `$context.integration.error`, the integration status.
    let want = [
        "502|Lambda function error|200",
        "500|Lambda invocation failed|429",
        "500|Lambda invocation failed|404",
        "504|Endpoint request timed out|-",
        "200|-|200",
        "502|Malformed Lambda proxy response|200",
        "502|Lambda response too large|-",
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() >= 12 {
            for w in want {
                let w = format!("|{w}");
                assert!(
                    lines.iter().any(|l| l.ends_with(&w)),
                    "no `{w}` in {lines:?}"
                );
            }
            break;
        }
        assert!(Instant::now() < deadline, "access log: {lines:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_bodies_over_the_payload_limit_are_refused() {
    let s = Setup::start();
    // Announced over 10 MB: 413 before any of it is read.
    let head = "POST /prod/echo/big HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: text/plain\r\nContent-Length: 10485761\r\n\r\n";
    let out = raw_exchange(
        s.gw.port_of("rest"),
        head.as_bytes(),
        Duration::from_secs(10),
    );
    out.assert_status_and_closed(413);
    // Exactly 10 MB is taken (as base64 in the event... the demo echoes it back).
    let body = vec![b'a'; 10 * 1024 * 1024];
    let r = s.http(&req(
        "POST",
        "/echo/big",
        &[("Content-Type", "text/plain")],
        &body,
    ));
    // The echo's result (the whole event) is over 6 MB: Lambda's limit answers.
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");
    // A chunked body over the limit: 413 too.
    let mut big =
        b"POST /echo/big HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    big.extend(chunked(&vec![b'z'; 10 * 1024 * 1024 + 1], &[1 << 20]));
    let out = raw_exchange(s.gw.port_of("http"), &big, Duration::from_secs(20));
    out.assert_status_and_closed(413);
}

#[test]
fn head_requests_get_no_body() {
    let s = Setup::start();
    let mut c = Client::connect(s.gw.port_of("http"));
    c.send(&req("HEAD", "/echo/head", &[], b""));
    let r = c.read_head_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.is_empty());
    let len: usize = r
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(len > 20, "the length of the GET's body: {len}");
    // The connection is still good.
    let r = c.request(&get("/string"));
    assert_eq!(r.body_str(), "Hello from Lambda!");
}

#[test]
fn invoke_calls_signed_qualified_and_by_stage_variable() {
    let secret = write_temp("lambda-secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    let rest_routes = format!(
        "      - route: 'GET /signed'
        integration:
          type: AWS_PROXY
          uri: 'arn:aws:lambda:us-west-2:123456789012:function:echo:7'
          credentials: {{access_key_id: AKIDLAMBDATEST, secret_access_key_file: '{}'}}
      - route: 'GET /signed-default-region'
        integration:
          type: AWS_PROXY
          uri: echo
          credentials: {{access_key_id: AKIDLAMBDATEST, secret_access_key_file: '{}'}}
      - {{route: 'GET /alias', integration: {{type: AWS_PROXY, uri: 'echo:${{stageVariables.alias}}'}}}}
      - {{route: 'GET /invocation-arn', integration: {{type: AWS_PROXY, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo/invocations'}}}}
      - {{route: 'GET /unset', integration: {{type: AWS_PROXY, uri: 'echo:${{stageVariables.nothere}}'}}}}
",
        secret.display(),
        secret.display()
    );
    let s = Setup::with(&rest_routes, "", "");
    let today = {
        let r = s.rest(&get("/prod/signed"));
        let (_, invoke) = echoed(&r);
        let auth = invoke["authorization"].as_str().unwrap_or("").to_string();
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDLAMBDATEST/";
        assert!(auth.starts_with(prefix), "{auth}");
        let scope: Vec<&str> = auth[prefix.len()..]
            .split(',')
            .next()
            .unwrap_or("")
            .split('/')
            .collect();
        assert_eq!(scope.len(), 4, "{auth}");
        assert_eq!(
            scope[1..],
            ["us-west-2", "lambda", "aws4_request"],
            "the ARN's region"
        );
        assert_eq!(scope[0].len(), 8, "{auth}");
        assert!(auth.contains("SignedHeaders=") && auth.contains("Signature="));
        assert_eq!(invoke["qualifier"], "7");
        assert_eq!(invoke["function"], "echo");
        scope[0].to_string()
    };
    // A bare name signs for aws.region.
    let r = s.rest(&get("/prod/signed-default-region"));
    let (_, invoke) = echoed(&r);
    assert_eq!(
        invoke["authorization"].as_str().unwrap_or("").split(',').next(),
        Some(
            format!("AWS4-HMAC-SHA256 Credential=AKIDLAMBDATEST/{today}/eu-central-1/lambda/aws4_request")
                .as_str()
        )
    );
    // Unsigned without credentials, the alias from a stage variable.
    let r = s.rest(&get("/prod/alias"));
    let (_, invoke) = echoed(&r);
    assert_eq!(invoke["authorization"], Value::Null);
    assert_eq!(invoke["qualifier"], "live");
    let r = s.rest(&get("/prod/invocation-arn"));
    let (_, invoke) = echoed(&r);
    assert_eq!(invoke["function"], "echo");
    // A stage variable without a value: the API's configuration is at fault.
    let r = s.rest(&get("/prod/unset"));
    r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
}

/// Run curl (HTTP/2 with prior knowledge) with `args`; returns (exit code, stdout, stderr).
fn curl_h2(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run curl (this test needs it on PATH)");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn over_http2_too() {
    let s = Setup::start();
    let base = format!("http://127.0.0.1:{}", s.gw.port_of("http"));
    // The event: the host from :authority, the method, the body.
    let (code, out, err) = curl_h2(&[
        "-H",
        "x-h2: yes",
        "--data-binary",
        "hello",
        &format!("{base}/echo/h2?a=1"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_slice(&out).unwrap_or(Value::Null);
    let event = &v["event"];
    assert_eq!(
        event["requestContext"]["http"]["protocol"], "HTTP/2.0",
        "{v}"
    );
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(
        event["headers"]["host"],
        format!("127.0.0.1:{}", s.gw.port_of("http")).as_str()
    );
    assert_eq!(event["headers"]["x-h2"], "yes");
    assert_eq!(
        event["body"],
        B64.encode(b"hello").as_str(),
        "curl's form type is binary"
    );
    // An image up and down, byte-exact.
    let dir = std::env::temp_dir().join(format!("lambda-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (up, down) = (dir.join("up.png"), dir.join("down.png"));
    let mut image = b"\x89PNG\r\n\x1a\n".to_vec();
    image.extend(pattern_bytes(200_000, 3));
    std::fs::write(&up, &image).expect("write image");
    let (code, out, err) = curl_h2(&[
        "-H",
        "Content-Type: image/png",
        "-H",
        "Accept: image/png",
        "--data-binary",
        &format!("@{}", up.display()),
        "-o",
        &down.display().to_string(),
        "-w",
        "%{http_version} %{http_code}",
        &format!("{base}/mirror"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "2 200");
    let got = std::fs::read(&down).unwrap_or_default();
    assert!(
        got == image,
        "{} bytes back, {} sent",
        got.len(),
        image.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token the demo upstream's development issuer signed (examples/jwt/dev-rsa.pem),
/// valid for ten minutes.
fn dev_token(issuer: &str) -> String {
    use tollgate::auth::jwt::mint::SigningKey;
    use tollgate::auth::jwt::Algorithm;
    let key = SigningKey::from_pem(
        Algorithm::RS256,
        "tollgate-dev-rsa-1",
        include_bytes!("../examples/jwt/dev-rsa.pem"),
    )
    .expect("the development key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    key.sign(&json!({
        "iss": issuer, "sub": "alice", "aud": "demo-app", "iat": now - 5, "exp": now + 600,
        "scope": "orders/read profile", "groups": ["admin", "ops"], "email_verified": true,
        "nickname": null,
    }))
    .expect("sign")
}

/// The authorizers' output in the events: a REQUEST Lambda authorizer and a JWT (REST:
/// Cognito) authorizer in front of the echo function, with each payload format.
#[test]
fn authorizer_output_reaches_the_event() {
    let up = DemoUpstream::start();
    let issuer = format!("http://{}", up.addr());
    let authorizer = format!("http://{}/authorizer", up.addr());
    let rest_routes = format!(
        "      - {{route: 'GET /lambda-authz', authorization_type: CUSTOM, authorizer: req,
          integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'GET /cognito', authorization_type: COGNITO_USER_POOLS, authorizer: pool,
          integration: {{type: AWS_PROXY, uri: echo}}}}
    authorizers:
      - name: req
        type: REQUEST
        identity_source: [method.request.header.Authorization]
        lambda: {{uri: '{authorizer}', result_ttl: 60s}}
      - name: pool
        type: COGNITO_USER_POOLS
        jwt: {{issuer: '{issuer}', jwks_uri: '{issuer}/.well-known/jwks.json'}}
"
    );
    let http_routes = format!(
        "      - {{route: 'GET /lambda-authz', authorization_type: CUSTOM, authorizer: simple,
          integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'GET /lambda-authz-1', authorization_type: CUSTOM, authorizer: simple,
          integration: {{type: AWS_PROXY, uri: echo, payload_format_version: '1.0'}}}}
      - {{route: 'GET /jwt', authorization_type: JWT, authorizer: idp,
          authorization_scopes: [orders/read], integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'GET /jwt-any', authorization_type: JWT, authorizer: idp,
          integration: {{type: AWS_PROXY, uri: echo}}}}
      - {{route: 'GET /jwt-1', authorization_type: JWT, authorizer: idp,
          authorization_scopes: [profile],
          integration: {{type: AWS_PROXY, uri: echo, payload_format_version: '1.0'}}}}
    authorizers:
      - name: simple
        type: REQUEST
        identity_source: ['$request.header.Authorization']
        lambda: {{uri: '{authorizer}?simple=1', enable_simple_responses: true}}
      - name: idp
        type: JWT
        jwt: {{issuer: '{issuer}', audience: [demo-app]}}
"
    );
    let gw = Gateway::start(&config(up.port, &rest_routes, &http_routes, ""));
    let s = Setup { gw, _up: up };
    let authorized = |token: &str, path: &str, rest: bool| {
        let request = req("GET", path, &[("Authorization", token)], b"");
        let r = if rest {
            s.rest(&request)
        } else {
            s.http(&request)
        };
        let (event, _) = echoed(&r);
        event["requestContext"]["authorizer"].clone()
    };

    // REST, payload 1.0: the context's keys stringified, the principal, the call's
    // latency (0 once the answer is cached).
    let a = authorized("allow", "/prod/lambda-authz", true);
    assert!(a["integrationLatency"].is_u64(), "{a}");
    let want = |latency: &Value| {
        json!({"user": "demo-user", "tier": "1", "admin": "false",
               "principalId": "demo-user", "integrationLatency": latency})
    };
    assert_eq!(a, want(&a["integrationLatency"]));
    // (One worker: the second request finds the answer in its cache.)
    let a = authorized("allow", "/prod/lambda-authz", true);
    assert_eq!(a, want(&json!(0)), "a cached answer");

    // HTTP API, payload 2.0: `authorizer.lambda` with the answer's types; 1.0: the REST
    // shape (a simple answer names no principal).
    let a = authorized("allow", "/lambda-authz", false);
    assert_eq!(
        a,
        json!({"lambda": {"user": "demo-user", "tier": 1, "admin": false}})
    );
    let a = authorized("allow", "/lambda-authz-1", false);
    assert!(a["integrationLatency"].is_u64(), "{a}");
    assert_eq!(
        a,
        json!({"user": "demo-user", "tier": "1", "admin": "false",
               "integrationLatency": a["integrationLatency"]})
    );

    // JWT: every claim a string (null ones left out); the scopes on routes that require
    // scopes, null elsewhere.
    let token = dev_token(&issuer);
    let bearer = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while s
        .http(&req("GET", "/jwt", &[("Authorization", &bearer)], b""))
        .status
        == 401
        && Instant::now() < deadline
    {
        // The key service's first fetch of the issuer's keys.
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = authorized(&bearer, "/jwt", false);
    let claims = &a["jwt"]["claims"];
    assert_eq!(claims["sub"], "alice", "{a}");
    assert_eq!(claims["aud"], "demo-app");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["groups"], "[admin ops]");
    assert_eq!(claims["email_verified"], "true");
    assert!(
        claims["exp"]
            .as_str()
            .is_some_and(|e| e.parse::<i64>().is_ok()),
        "{a}"
    );
    assert!(claims.get("nickname").is_none(), "{a}");
    assert_eq!(a["jwt"]["scopes"], json!(["orders/read", "profile"]));
    assert_eq!(a.as_object().map(|o| o.len()), Some(1), "{a}");
    let a = authorized(&bearer, "/jwt-any", false);
    assert_eq!(a["jwt"]["claims"], *claims);
    assert_eq!(a["jwt"]["scopes"], Value::Null);
    let a = authorized(&bearer, "/jwt-1", false);
    assert_eq!(
        a,
        json!({"claims": claims.clone(), "scopes": ["orders/read", "profile"]})
    );

    // REST's Cognito authorizer: `authorizer.claims`, exp and iat as dates.
    let deadline = Instant::now() + Duration::from_secs(15);
    while s
        .rest(&req(
            "GET",
            "/prod/cognito",
            &[("Authorization", &token)],
            b"",
        ))
        .status
        == 401
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = authorized(&token, "/prod/cognito", true);
    let rest_claims = &a["claims"];
    assert_eq!(rest_claims["sub"], "alice", "{a}");
    assert_eq!(rest_claims["groups"], "admin,ops");
    assert!(
        rest_claims["exp"]
            .as_str()
            .is_some_and(|e| e.contains(" UTC 2")),
        "{a}"
    );
    assert_eq!(a.as_object().map(|o| o.len()), Some(1), "{a}");

    // Without an authorizer, no `authorizer` at all.
    let r = s.http(&get("/echo/open"));
    let (event, _) = echoed(&r);
    assert!(
        event["requestContext"].get("authorizer").is_none(),
        "{event}"
    );
    let r = s.rest(&get("/prod/echo/open"));
    let (event, _) = echoed(&r);
    assert!(
        event["requestContext"].get("authorizer").is_none(),
        "{event}"
    );
}
