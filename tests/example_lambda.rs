//! examples/lambda.yaml does what its header and the README say, through the real gateway
//! and the real demo upstream (speaking the Lambda Invoke API): the example's fixed ports
//! are swapped for ephemeral ones, nothing else.

mod common;

use common::*;

fn start() -> (Gateway, DemoUpstream) {
    let up = DemoUpstream::start();
    let text =
        std::fs::read_to_string(manifest_dir().join("examples/lambda.yaml")).expect("example");
    let text = text
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:8081", "127.0.0.1:0")
        .replace("127.0.0.1:9090", &up.addr());
    let uncommented: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !uncommented.contains(":8080") && !uncommented.contains(":9090"),
        "{text}"
    );
    (Gateway::start(&text), up)
}

#[test]
fn the_http_api_of_the_example() {
    let (gw, _up) = start();
    let mut c = Client::connect(gw.port_of("http"));
    let r = c.request(&req("GET", "/hello?name=ada", &[], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["event"]["version"], "2.0", "{v}");
    assert_eq!(v["event"]["rawQueryString"], "name=ada", "{v}");
    assert_eq!(v["event"]["routeKey"], "GET /hello", "{v}");

    let r = c.request(&req("GET", "/v1/hello?a=1&a=2", &[], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["event"]["version"], "1.0", "{v}");
    assert_eq!(
        v["event"]["multiValueQueryStringParameters"]["a"],
        serde_json::json!(["1", "2"]),
        "{v}"
    );

    // The PNG comes decoded, and goes up and back byte-exact.
    let r = c.request(&req("GET", "/image", &[], b""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.body.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", r.body);
    let png = r.body.clone();
    let r = c.request(&req(
        "POST",
        "/mirror",
        &[("content-type", "image/png")],
        &png,
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body, png);

    let r = c.request(&req("GET", "/broken", &[], b""));
    r.assert_gateway_error(502, "Internal server error", "InternalServerErrorException");

    // CORS: the preflight is the gateway's, the actual response carries the headers.
    let r = c.request(&req(
        "OPTIONS",
        "/mirror",
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
        ],
        b"",
    ));
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = c.request(&req(
        "GET",
        "/hello",
        &[("origin", "http://localhost:5173")],
        b"",
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let r = c.request(&req(
        "GET",
        "/hello",
        &[("origin", "https://evil.example")],
        b"",
    ));
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn the_rest_api_of_the_example() {
    let (gw, _up) = start();
    let mut c = Client::connect(gw.port_of("rest"));
    let r = c.request(&req("POST", "/prod/orders", &[], br#"{"sku": "42"}"#));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.json(),
        serde_json::json!({"input": {"sku": "42"}, "message": "Hello from Lambda!"})
    );

    let r = c.request(&req("GET", "/prod/items/7", &[], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["event"]["pathParameters"]["id"], "7");

    // Binary only when the first Accept type is a binary media type.
    let r = c.request(&req("GET", "/prod/logo", &[("accept", "image/png")], b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", r.body);
    let r = c.request(&req("GET", "/prod/logo", &[("accept", "*/*")], b""));
    assert!(
        r.body.starts_with(b"iVBORw0KGgo"),
        "base64 text: {}",
        r.describe()
    );

    // DEFAULT_4XX customised: its header and template.
    let r = c.request(&req("GET", "/prod/nowhere", &[], b""));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-shop-error"), Some("yes"));
    let v = r.json();
    assert_eq!(v["error"], "Missing Authentication Token", "{v}");
    assert_eq!(v["type"], "MISSING_AUTHENTICATION_TOKEN", "{v}");
    assert_eq!(v["requestId"].as_str(), r.header("x-amzn-requestid"));

    // THROTTLED customised (rate 5, burst 5: a burst of requests meets it).
    let throttled = (0..40)
        .map(|_| c.request(&req("GET", "/prod/items/1", &[], b"")))
        .find(|r| r.status == 429)
        .expect("a 429 within 40 requests at rate 5 burst 5");
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(throttled.json()["error"], "slow down");
}
