//! Lambda custom integrations (`type: AWS` with a Lambda invocation ARN) end to end: the
//! real gateway, the demo upstream as the Lambda endpoint.
//!
//! Until mapping templates land the request body is the payload (`{}` without one) and the
//! function's result the response body (200, `application/json`: API Gateway's default
//! integration response, function errors included); `content_handling` converts the
//! request (CONVERT_TO_TEXT: binary to base64, CONVERT_TO_BINARY: base64 to bytes); a
//! result is base64-decoded when the client's first Accept type is a binary media type.
//! Refused invocations answer 500, timeouts 504.

mod common;

use base64::Engine;
use common::*;
use serde_json::json;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const DEMO_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn arn(function: &str) -> String {
    format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:{function}/invocations"
    )
}

fn route(key: &str, function: &str, extra: &str) -> String {
    format!(
        "      - route: '{key}'\n        integration: {{type: AWS, uri: '{}'{extra}}}\n",
        arn(function)
    )
}

struct Setup {
    gw: Gateway,
    _up: DemoUpstream,
}

fn start() -> Setup {
    let up = DemoUpstream::start();
    let routes = [
        route("ANY /raw", "raw", ""),
        route(
            "POST /to-text",
            "raw",
            ", content_handling: CONVERT_TO_TEXT",
        ),
        route(
            "POST /to-binary",
            "raw",
            ", content_handling: CONVERT_TO_BINARY",
        ),
        route("GET /error", "error", ""),
        route("GET /throttled", "throttled", ""),
        route("GET /slow", "slow", ", timeout: 200ms"),
        route("GET /png", "png-base64", ""),
        route("GET /string", "string", ""),
    ]
    .concat();
    let yaml = format!(
        "aws:
  credentials: {{from: none}}
  endpoints: {{lambda: 'http://127.0.0.1:{}'}}
listeners:
  - {{name: main, bind: '127.0.0.1:0', default_api: custom}}
apis:
  - id: custom
    type: REST
    binary_media_types: [image/png]
    routes:
{routes}    stages:
      - name: prod
",
        up.port
    );
    let gw = Gateway::start(&yaml);
    Setup { gw, _up: up }
}

#[test]
fn the_body_is_the_payload_and_the_result_the_body() {
    let s = start();
    let mut c = s.gw.client();
    let r = c.request(&req(
        "POST",
        "/prod/raw",
        &[("Content-Type", "application/json")],
        br#"{"order": 7, "items": ["a", "b"]}"#,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.assert_request_id();
    assert_eq!(
        r.json(),
        json!({"message": "Hello from Lambda!", "input": {"order": 7, "items": ["a", "b"]}})
    );
    // No body: an empty object.
    let r = c.request(&get("/prod/raw"));
    assert_eq!(r.json()["input"], json!({}));
    // A bare string result goes out as the function returned it (JSON text).
    let r = c.request(&get("/prod/string"));
    assert_eq!(r.body_str(), r#""Hello from Lambda!""#);
}

#[test]
fn function_errors_are_the_default_response_refusals_and_timeouts_are_not() {
    let s = start();
    let mut c = s.gw.client();
    // API Gateway's default integration response: 200 with the error document.
    let r = c.request(&get("/prod/error"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["errorMessage"], "demo failure");
    assert_eq!(r.json()["errorType"], "Error");
    let r = c.request(&get("/prod/throttled"));
    r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
    let r = c.request(&get("/prod/slow?ms=2000"));
    r.assert_gateway_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
}

#[test]
fn content_handling_converts_the_request() {
    let s = start();
    let mut c = s.gw.client();
    let bytes = b"\x89PNG\r\n\x1a\n\x00\x01\x02";
    // CONVERT_TO_TEXT: a binary body arrives as base64 text (not JSON: the demo function
    // takes it as a string).
    let r = c.request(&req(
        "POST",
        "/prod/to-text",
        &[("Content-Type", "image/png")],
        bytes,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["input"], B64.encode(bytes).as_str());
    // Text stays text.
    let r = c.request(&req(
        "POST",
        "/prod/to-text",
        &[("Content-Type", "application/json")],
        br#"{"t":1}"#,
    ));
    assert_eq!(r.json()["input"], json!({"t": 1}));
    // CONVERT_TO_BINARY: base64 text arrives as the bytes it stands for.
    let r = c.request(&req(
        "POST",
        "/prod/to-binary",
        &[("Content-Type", "text/plain")],
        B64.encode(br#"{"decoded":true}"#).as_bytes(),
    ));
    assert_eq!(r.json()["input"], json!({"decoded": true}));
    // Text that is not base64: API Gateway's 500 (a configuration error).
    let r = c.request(&req(
        "POST",
        "/prod/to-binary",
        &[("Content-Type", "text/plain")],
        b"not base64 !!",
    ));
    r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
}

#[test]
fn results_are_decoded_for_clients_accepting_binary() {
    let s = start();
    let mut c = s.gw.client();
    let png = B64.decode(DEMO_PNG_BASE64).unwrap_or_default();
    let r = c.request(&req("GET", "/prod/png", &[("Accept", "image/png")], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body, png, "base64-decoded");
    let r = c.request(&req(
        "GET",
        "/prod/png",
        &[("Accept", "application/json")],
        b"",
    ));
    assert_eq!(
        r.body_str(),
        format!("\"{DEMO_PNG_BASE64}\""),
        "as returned"
    );
    // A result that is not base64, to a binary client: 500.
    let r = c.request(&req("GET", "/prod/raw", &[("Accept", "image/png")], b""));
    r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
}
