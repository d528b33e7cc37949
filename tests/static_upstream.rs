//! Integration URIs whose authority is fixed at config load (an IP address: its socket
//! address and the upstream Host line are made once) against ones whose authority is a stage
//! variable (rendered and checked per request), through the real binary: the upstream gets
//! the same request either way, and a bad or missing value in the path is still a 500.

mod common;

use common::*;

fn rest_config(up: &DemoUpstream) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: s
apis:
  - id: s
    routes:
      - route: ANY /ip/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://{up}/base/{{proxy}}?v=${{stageVariables.v}}&p={{proxy}}
      - route: ANY /var/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://${{stageVariables.up}}/base/{{proxy}}?v=${{stageVariables.v}}&p={{proxy}}
      - route: GET /fixed
        integration:
          type: HTTP_PROXY
          uri: http://{up}/fixed/path?from=uri
      - route: GET /hash
        integration:
          type: HTTP_PROXY
          uri: http://{up}/x${{stageVariables.hash}}
      - route: GET /missing
        integration:
          type: HTTP_PROXY
          uri: http://{up}/x/${{stageVariables.nope}}
    stages:
      - name: prod
        variables:
          v: '2'
          up: '{up}'
          hash: 'a#b'
",
        up = up.addr()
    )
}

#[test]
fn a_static_authority_sends_what_a_rendered_one_sends() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&rest_config(&up));
    let mut c = gw.client();
    for target in ["/prod/ip/a/b%20c?q=1", "/prod/var/a/b%20c?q=1"] {
        let r = c.request(&get(target));
        assert_eq!(r.status, 200, "{target}: {}", r.describe());
        let echo = r.json();
        assert_eq!(jstr(&echo, "path"), "/base/a/b%20c", "{target}");
        // The path parameter in the query is one value; the client's query follows.
        assert_eq!(jstr(&echo, "query"), "v=2&p=a%2Fb%20c&q=1", "{target}");
        assert_eq!(
            echoed_header(&echo, "host"),
            Some(up.addr().as_str()),
            "{target}"
        );
    }
    // Nothing to render at all: the fixed path and query, then the client's.
    let r = c.request(&get("/prod/fixed?c=3"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/fixed/path");
    assert_eq!(jstr(&echo, "query"), "from=uri&c=3");
    assert_eq!(echoed_header(&echo, "host"), Some(up.addr().as_str()));
}

#[test]
fn a_bad_or_missing_value_after_a_static_authority_is_a_500() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&rest_config(&up));
    let mut c = gw.client();
    for target in ["/prod/hash", "/prod/missing"] {
        let r = c.request(&get(target));
        r.assert_gateway_error(500, "Internal server error", "InternalServerErrorException");
    }
    // The connection and the route still work.
    let r = c.request(&get("/prod/fixed"));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn an_http_api_default_route_joins_a_static_base_path_and_the_request_path() {
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
          uri: http://{up}/base//?from=uri
    stages:
      - name: $default
",
        up = up.addr()
    );
    let gw = Gateway::start(&yaml);
    let mut c = gw.client();
    // The base path loses its trailing slashes, the request path follows, then the URI's
    // query and the client's.
    let r = c.request(&get("/x/y?c=1"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/base/x/y");
    assert_eq!(jstr(&echo, "query"), "from=uri&c=1");
    assert_eq!(echoed_header(&echo, "host"), Some(up.addr().as_str()));
    let r = c.request(&get("/"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let echo = r.json();
    assert_eq!(jstr(&echo, "path"), "/base/");
    assert_eq!(jstr(&echo, "query"), "from=uri");
}
