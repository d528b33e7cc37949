//! Routing (API/stage/route selection, precedence, path parameters), stage variables and
//! MOCK integrations, against the real binary.

mod common;

use common::*;

fn mock(route: &str, body: &str) -> String {
    format!(
        "      - route: {route}\n        integration:\n          type: MOCK\n          status: 200\n          headers:\n            content-type: text/plain\n          body: '{body}'\n"
    )
}

/// One gateway serving:
/// - `shop` (REST, default API, stage `prod`): precedence routes, ANY vs exact, proxies;
/// - `httpapi` (HTTP, `$default` stage, no `$default` route);
/// - `catchall` (HTTP, `$default` stage with a `$default` route and a named stage `v2`).
fn routing_config(up: &DemoUpstream) -> String {
    let mut routes = String::new();
    routes += &mock("GET /items/special", "literal");
    routes += &mock("GET /items/{id}", "param");
    // One variable child per resource (API Gateway refuses `{id}` beside `{proxy+}`), so
    // the greedy route sits one level down.
    routes += &mock("GET /items/{id}/{proxy+}", "greedy");
    routes += &mock("GET /thing", "get-thing");
    routes += &mock("ANY /thing", "any-thing");
    routes += &mock("ANY /a/{x}/c", "a-x-c");
    routes += &mock("ANY /a/b/{y}", "a-b-y");
    routes += &format!(
        "      - route: ANY /users/{{user}}/orders/{{order}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/u/{{user}}/o/{{order}}
      - route: ANY /files/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/static/{{proxy}}
",
        up = up.addr()
    );
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: shop
apis:
  - id: shop
    type: REST
    routes:
{routes}    stages:
      - name: prod
  - id: httpapi
    type: HTTP
    routes:
{ping}    stages:
      - name: $default
  - id: catchall
    type: HTTP
    routes:
{ping2}{fallback}    stages:
      - name: $default
      - name: v2
",
        ping = mock("GET /ping", "pong"),
        ping2 = mock("GET /ping", "catchall-pong"),
        fallback = mock("$default", "fallback"),
    )
}

fn host_get(path: &str, host: &str) -> Vec<u8> {
    req("GET", path, &[("Host", host)], b"")
}

#[track_caller]
fn assert_mock_body(r: &Response, body: &str) {
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), body, "{}", r.describe());
    r.assert_request_id();
}

#[test]
fn literal_beats_param_beats_greedy() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    assert_mock_body(&c.request(&get("/prod/items/special")), "literal");
    assert_mock_body(&c.request(&get("/prod/items/42")), "param");
    assert_mock_body(&c.request(&get("/prod/items/42/extra")), "greedy");
    assert_mock_body(&c.request(&get("/prod/items/a/b/c")), "greedy");
    // A trailing slash is ignored.
    assert_mock_body(&c.request(&get("/prod/items/special/")), "literal");
    // Backtracking: `/a/b/c` matches `/a/b/{y}` (literal `b` first), `/a/z/c` `/a/{x}/c`.
    assert_mock_body(&c.request(&get("/prod/a/b/c")), "a-b-y");
    assert_mock_body(&c.request(&get("/prod/a/z/c")), "a-x-c");
}

#[test]
fn exact_method_beats_any_and_unmatched_method_is_403() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    assert_mock_body(&c.request(&get("/prod/thing")), "get-thing");
    assert_mock_body(
        &c.request(&req("POST", "/prod/thing", &[], b"x=1")),
        "any-thing",
    );
    assert_mock_body(
        &c.request(&req("DELETE", "/prod/thing", &[], b"")),
        "any-thing",
    );
    // `/items/special` only has GET: a POST matches no route on a REST API.
    let r = c.request(&req("POST", "/prod/items/special", &[], b"abc"));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
}

#[test]
fn path_params_are_substituted_into_the_proxy_uri() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let r = gw.send(&get("/prod/users/alice/orders/17?x=1&y=two"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/u/alice/o/17");
    assert_eq!(jstr(&echo, "query"), "x=1&y=two");
    assert_eq!(jstr(&echo, "method"), "GET");
    assert_eq!(echoed_header(&echo, "host"), Some(up.addr().as_str()));

    // Greedy parameter: every remaining segment.
    let r = gw.send(&req("PUT", "/prod/files/a/b/c.txt", &[], b"data"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/static/a/b/c.txt");
    assert_eq!(jstr(&echo, "method"), "PUT");
    assert_eq!(jstr(&echo, "body"), "data");
}

#[test]
fn unknown_route_on_rest_api_is_403() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    for path in ["/prod/nope", "/prod", "/prod/", "/prod/items"] {
        let r = c.request(&get(path));
        r.assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{path}: {}",
            r.describe()
        );
        assert!(
            !r.says_close(),
            "a 403 keeps the connection: {}",
            r.describe()
        );
    }
}

#[test]
fn unknown_stage_is_403() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    for path in ["/beta/items/special", "/", "/items/special"] {
        let r = c.request(&get(path));
        r.assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    }
}

#[test]
fn execute_api_host_selects_the_api() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    // The HTTP API, selected by host (with and without port, any case), $default stage
    // without a prefix.
    let host_port = format!("httpapi.execute-api.localhost:{}", gw.port);
    assert_mock_body(&c.request(&host_get("/ping", &host_port)), "pong");
    assert_mock_body(
        &c.request(&host_get("/ping", "httpapi.execute-api.localhost")),
        "pong",
    );
    assert_mock_body(
        &c.request(&host_get("/ping", "HttpApi.Execute-API.LocalHost")),
        "pong",
    );
    // The REST API by its own host name.
    assert_mock_body(
        &c.request(&host_get(
            "/prod/items/special",
            "shop.execute-api.localhost",
        )),
        "literal",
    );
    // The default API for other hosts.
    assert_mock_body(
        &c.request(&host_get("/prod/items/special", "example.com")),
        "literal",
    );
    // `/ping` on the default (REST) API is stage `ping`, which does not exist.
    c.request(&host_get("/ping", "example.com"))
        .assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    // An execute-api host naming no API.
    c.request(&host_get(
        "/prod/items/special",
        "nosuch.execute-api.localhost",
    ))
    .assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
}

#[test]
fn http_api_unknown_route_is_404() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    let host = "httpapi.execute-api.localhost";
    for path in ["/nope", "/ping/more", "/"] {
        let r = c.request(&host_get(path, host));
        r.assert_gateway_error(404, "Not Found", "NotFoundException");
    }
    // POST on a GET-only route.
    let r = c.request(&req("POST", "/ping", &[("Host", host)], b"x"));
    r.assert_gateway_error(404, "Not Found", "NotFoundException");
}

#[test]
fn http_api_default_route_and_named_stage() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&routing_config(&up));
    let mut c = gw.client();
    let host = "catchall.execute-api.localhost";
    assert_mock_body(&c.request(&host_get("/ping", host)), "catchall-pong");
    assert_mock_body(&c.request(&host_get("/anything/else", host)), "fallback");
    assert_mock_body(
        &c.request(&req("DELETE", "/ping", &[("Host", host)], b"")),
        "fallback",
    );
    // The named stage `v2` is reached with its prefix and serves the same deployment.
    assert_mock_body(&c.request(&host_get("/v2/ping", host)), "catchall-pong");
}

// ------------------------------------------------------------------ stage variables

#[test]
fn stage_variables_pick_the_upstream_and_path() {
    let up1 = DemoUpstream::start();
    let up2 = DemoUpstream::start();
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: sv
apis:
  - id: sv
    deployments:
      - id: d1
        routes:
          - route: ANY /{{proxy+}}
            integration:
              type: HTTP_PROXY
              uri: http://${{stageVariables.host}}/${{stageVariables.base}}/{{proxy}}
    stages:
      - name: alpha
        deployment: d1
        variables:
          host: {a}
          base: alpha-base
      - name: beta
        deployment: d1
        variables:
          host: {b}
          base: beta-base
      - name: gamma
        deployment: d1
        variables:
          host: {a}
",
        a = up1.addr(),
        b = up2.addr()
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();

    let r = c.request(&get("/alpha/x/y"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/alpha-base/x/y");
    assert_eq!(echoed_header(&echo, "host"), Some(up1.addr().as_str()));

    let r = c.request(&get("/beta/x/y"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/beta-base/x/y");
    assert_eq!(echoed_header(&echo, "host"), Some(up2.addr().as_str()));

    // `gamma` lacks `base`: a configuration error at request time.
    let r = c.request(&get("/gamma/x/y"));
    r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
}

// ------------------------------------------------------------------ MOCK

const MOCK_YAML: &str = "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: m
apis:
  - id: m
    routes:
      - route: GET /mock
        integration:
          type: MOCK
          status: 201
          headers:
            content-type: text/plain; charset=utf-8
            x-custom: yes-indeed
            Cache-Control: no-store
          body: 'created: {\"ok\":true}'
      - route: ANY /any
        integration:
          type: MOCK
          status: 202
          headers:
            x-any: '1'
          body: hello
      - route: GET /empty
        integration:
          type: MOCK
    stages:
      - name: prod
";

#[test]
fn mock_status_headers_and_body_are_exact() {
    let gw = Gateway::start(MOCK_YAML);
    let mut c = gw.client();
    let r = c.request(&get("/prod/mock"));
    assert_eq!(r.status, 201, "{}", r.describe());
    assert_eq!(r.body_str(), "created: {\"ok\":true}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-custom"), Some("yes-indeed"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-length"), Some("20"));
    assert_eq!(r.header_count("content-length"), 1);
    assert!(r.header("date").is_some(), "no Date: {}", r.describe());
    r.assert_request_id();

    // Defaults: 200 and an empty body.
    let r = c.request(&get("/prod/empty"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
    r.assert_request_id();

    // A body sent to a MOCK route is read and dropped; the connection stays usable.
    let r = c.request(&req("POST", "/prod/any", &[], &pattern_bytes(100_000, 3)));
    assert_eq!(r.status, 202, "{}", r.describe());
    assert_eq!(r.body_str(), "hello");
    let r = c.request(&get("/prod/any"));
    assert_eq!((r.status, r.body_str().as_str()), (202, "hello"));
}

#[test]
fn request_ids_differ_between_requests() {
    let gw = Gateway::start(MOCK_YAML);
    let mut c = gw.client();
    let a = c.request(&get("/prod/any"));
    let b = c.request(&get("/prod/any"));
    let e = c.request(&get("/prod/missing"));
    let ids = [
        a.header("x-amzn-RequestId").unwrap_or("").to_string(),
        b.header("x-amzn-RequestId").unwrap_or("").to_string(),
        e.header("x-amzn-RequestId").unwrap_or("").to_string(),
    ];
    for r in [&a, &b, &e] {
        r.assert_request_id();
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_ne!(ids[0], ids[2]);
}

#[test]
fn mock_head_gets_no_body() {
    let gw = Gateway::start(MOCK_YAML);
    // On a keep-alive connection: the HEAD response must carry no body, so the next
    // response parses cleanly right after it.
    let mut c = gw.client();
    c.send(&req("HEAD", "/prod/any", &[], b""));
    let r = c.read_head_response();
    assert_eq!(r.status, 202, "{}", r.describe());
    assert_eq!(r.header("content-length"), Some("5"));
    assert_eq!(r.header("x-any"), Some("1"));
    r.assert_request_id();
    let r = c.request(&get("/prod/any"));
    assert_eq!(r.status, 202, "{}", r.describe());
    assert_eq!(r.body_str(), "hello");

    // And raw: HEAD with Connection: close -> nothing after the head.
    let out = raw_exchange(
        gw.port,
        &req("HEAD", "/prod/any", &[("Connection", "close")], b""),
        std::time::Duration::from_secs(3),
    );
    assert!(out.closed, "connection: close was not honoured");
    let end = find_subslice(&out.raw, b"\r\n\r\n").expect("a response head") + 4;
    assert!(
        out.raw.starts_with(b"HTTP/1.1 202 "),
        "{:?}",
        String::from_utf8_lossy(&out.raw)
    );
    assert_eq!(
        &out.raw[end..],
        b"",
        "HEAD response carried a body: {:?}",
        String::from_utf8_lossy(&out.raw)
    );

    // HEAD on a route with an error response: no body either.
    let mut c = gw.client();
    c.send(&req("HEAD", "/prod/nope", &[], b""));
    let r = c.read_head_response();
    assert_eq!(r.status, 403, "{}", r.describe());
    assert!(r.header("x-amzn-ErrorType").is_some());
    let r = c.request(&get("/prod/any"));
    assert_eq!((r.status, r.body_str().as_str()), (202, "hello"));
}

/// docs/BEHAVIOUR.md: REST APIs pick the resource by path first (a method missing on it is
/// a 403 even when a greedy route would take the method); HTTP APIs match path and method
/// together (full match, then greedy routes, then `$default`).
#[test]
fn method_mismatch_rest_is_resource_first_http_falls_back_to_greedy() {
    let routes = format!(
        "{}{}",
        mock("GET /pets/dog", "dog"),
        mock("ANY /{proxy+}", "greedy")
    );
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
apis:
  - id: rest
    type: REST
    routes:
{routes}    stages:
      - name: prod
  - id: http
    type: HTTP
    routes:
{routes}    stages:
      - name: $default
"
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let rest = "rest.execute-api.localhost";
    let http = "http.execute-api.localhost";
    assert_mock_body(&c.request(&host_get("/prod/pets/dog", rest)), "dog");
    c.request(&req("POST", "/prod/pets/dog", &[("Host", rest)], b"x"))
        .assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
    assert_mock_body(&c.request(&host_get("/prod/pets/cat", rest)), "greedy");
    assert_mock_body(&c.request(&host_get("/pets/dog", http)), "dog");
    assert_mock_body(
        &c.request(&req("POST", "/pets/dog", &[("Host", http)], b"x")),
        "greedy",
    );
    // No default API on this listener: other hosts get 403.
    c.request(&host_get("/prod/pets/dog", "example.com"))
        .assert_gateway_error(
            403,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
        );
}

/// API Gateway: "When the $default route receives a request, API Gateway sends the full
/// request path to the integration." The integration URI's own path and query stay in front.
#[test]
fn http_api_default_route_sends_the_full_request_path() {
    let up = DemoUpstream::start();
    let yaml = format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: h
apis:
  - id: h
    type: HTTP
    routes:
      - route: $default
        integration:
          type: HTTP_PROXY
          uri: http://{addr}/base/?from=gw
      - route: GET /exact
        integration:
          type: HTTP_PROXY
          uri: http://{addr}/only
    stages:
      - name: $default
      - name: v2
",
        addr = up.addr()
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    let echo = c.request(&get("/store/checkout?x=1")).json();
    assert_eq!(echo["path"], "/base/store/checkout");
    assert_eq!(echo["query"], "from=gw&x=1");
    // A named stage's prefix is not part of the path sent on.
    let echo = c.request(&get("/v2/a/b")).json();
    assert_eq!(echo["path"], "/base/a/b");
    // Other routes use their integration URI as written.
    let echo = c.request(&get("/exact")).json();
    assert_eq!(echo["path"], "/only");
}
