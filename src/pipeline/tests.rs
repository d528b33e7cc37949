//! The phases over the in-memory session: no socket, no wire format, a real snapshot built
//! from YAML and a real worker context.

use std::path::Path;
use std::sync::Arc;

use super::context::{CacheStatus, RequestContext, ThrottleLevel};
use super::session::memory::MemorySession;
use super::session::{Next, ResponseBody, Session, Version};
use crate::config::Snapshot;
use crate::error::ErrorKind;
use crate::pipeline::worker::WorkerCtx;

const CONFIG: &str = r#"
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    type: REST
    routes:
      - route: GET /hello
        integration:
          type: MOCK
          status: 200
          headers:
            content-type: application/json
          body: '{"message":"hi"}'
      - route: GET /gone
        integration:
          type: MOCK
          status: 204
      - route: GET /keyed
        api_key_required: true
        integration:
          type: MOCK
          status: 200
          body: 'keyed'
      - route: GET /items/{id}/parts/{part}
        integration:
          type: MOCK
          status: 200
          body: 'item'
    stages:
      - name: prod
        deployment: current
        variables:
          upstream: 127.0.0.1:9
api_keys:
  - id: k1
    value: partner-key-0123456789
usage_plans:
  - name: gold
    throttle: {rate: 1, burst: 1}
    api_stages:
      - {api: demo, stage: prod}
    keys: [k1]
"#;

fn snapshot() -> Arc<Snapshot> {
    Arc::new(
        crate::config::validate::from_str(Path::new("test.yaml"), CONFIG)
            .unwrap_or_else(|e| panic!("test config: {e:?}")),
    )
}

fn worker(snapshot: &Arc<Snapshot>) -> WorkerCtx {
    let (services, _limits_thread) = crate::services::Services::start(snapshot, 1);
    WorkerCtx::new(0, snapshot.clone(), Arc::new(services))
}

/// Run the whole pipeline for `session` on a fresh single-thread runtime.
fn run(ctx: &WorkerCtx, session: &mut MemorySession, rc: &mut RequestContext) -> Next {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    rt.block_on(super::run(ctx, session, rc))
}

fn var(rc: &RequestContext, snapshot: &Snapshot, name: &str) -> String {
    let mut out = String::new();
    assert!(rc.variable(name, snapshot, &mut out), "unknown {name}");
    out
}

#[test]
fn mock_route_answers_and_fills_the_context() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/hello?x=1", Some("localhost"))
        .header("User-Agent", "unit/1.0")
        .header(
            "X-Amzn-Trace-Id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1;Lineage=a:1",
        );
    assert_eq!(run(&ctx, &mut s, &mut rc), Next::KeepAlive);
    assert_eq!(s.status, Some(200));
    assert_eq!(s.response_body, br#"{"message":"hi"}"#);
    assert_eq!(s.framing, Some(ResponseBody::Length(16)));
    assert_eq!(s.response_header("content-type"), Some("application/json"));
    let id = s.response_header("x-amzn-requestid").expect("request id");
    assert_eq!(id.len(), 36);
    assert_eq!(var(&rc, &snap, "requestId"), id);
    assert_eq!(var(&rc, &snap, "extendedRequestId").len(), 16);
    assert_eq!(var(&rc, &snap, "apiId"), "demo");
    assert_eq!(var(&rc, &snap, "stage"), "prod");
    assert_eq!(var(&rc, &snap, "resourcePath"), "/hello");
    assert_eq!(var(&rc, &snap, "routeKey"), "GET /hello");
    assert_eq!(var(&rc, &snap, "path"), "/prod/hello");
    assert_eq!(var(&rc, &snap, "httpMethod"), "GET");
    assert_eq!(var(&rc, &snap, "protocol"), "HTTP/1.1");
    assert_eq!(var(&rc, &snap, "status"), "200");
    assert_eq!(var(&rc, &snap, "responseLength"), "16");
    assert_eq!(var(&rc, &snap, "identity.sourceIp"), "127.0.0.1");
    assert_eq!(var(&rc, &snap, "identity.userAgent"), "unit/1.0");
    // The X-Amzn-Trace-Id passed on: the caller's root and decision, the gateway's span as
    // the parent, the other fields kept.
    let trace_id = var(&rc, &snap, "traceId");
    assert!(
        trace_id.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=")
            && trace_id.ends_with(";Sampled=1;Lineage=a:1")
            && trace_id.len() == 74 + ";Lineage=a:1".len(),
        "{trace_id}"
    );
    assert_eq!(
        var(&rc, &snap, "xrayTraceId"),
        "1-5759e988-bd862e3fe1be46a994272793"
    );
    assert_eq!(var(&rc, &snap, "domainName"), "localhost");
    assert_eq!(var(&rc, &snap, "error.message"), "");
    assert!(!var(&rc, &snap, "responseLatency").is_empty());
    assert_eq!(rc.cache, CacheStatus::None);
    // Without mutual TLS the client certificate fields are defined and empty.
    assert_eq!(var(&rc, &snap, "identity.clientCert.subjectDN"), "");
    assert_eq!(var(&rc, &snap, "identity.clientCert.validity.notAfter"), "");
    let mut out = String::new();
    assert!(!rc.variable("noSuchThing", &snap, &mut out));
    // Every listed name is one the lookup knows.
    for name in super::context::VARIABLES {
        let mut out = String::new();
        assert!(rc.variable(name, &snap, &mut out), "{name}");
    }
    let epoch = var(&rc, &snap, "requestTimeEpoch");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let epoch: u64 = epoch.parse().expect("epoch ms");
    assert!(
        epoch <= now_ms && now_ms - epoch < 60_000,
        "{epoch} vs {now_ms}"
    );
    assert!(var(&rc, &snap, "requestTime").ends_with(" +0000"));
}

#[test]
fn head_request_gets_the_length_but_no_body_and_204_no_length() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("HEAD", "/prod/hello", None);
    // HEAD matches the GET route on a REST API only through ANY: here it is no route.
    run(&ctx, &mut s, &mut rc);
    assert_eq!(s.status, Some(403));
    let mut s = MemorySession::new("GET", "/prod/gone", None);
    run(&ctx, &mut s, &mut rc);
    assert_eq!(s.status, Some(204));
    assert_eq!(s.framing, Some(ResponseBody::None));
    assert!(s.response_body.is_empty());
}

#[test]
fn no_route_is_the_gateway_response_from_the_table() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/nope", None);
    assert_eq!(run(&ctx, &mut s, &mut rc), Next::KeepAlive);
    assert_eq!(s.status, Some(403));
    assert_eq!(
        s.response_header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(
        s.response_body,
        br#"{"message":"Missing Authentication Token"}"#
    );
    assert_eq!(rc.error, Some(ErrorKind::MissingAuthenticationToken));
    assert_eq!(
        var(&rc, &snap, "error.responseType"),
        "MISSING_AUTHENTICATION_TOKEN"
    );
    assert_eq!(var(&rc, &snap, "status"), "403");
}

#[test]
fn dot_segments_are_refused_before_routing() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/a/%2e%2e/hello", None);
    assert_eq!(run(&ctx, &mut s, &mut rc), Next::Close);
    assert_eq!(s.status, Some(400));
    assert!(s.closed_after_error);
}

#[test]
fn route_phase_gives_path_parameters_relative_to_the_path() {
    let snap = snapshot();
    let mut rc = RequestContext::default();
    let s = MemorySession::new("GET", "/prod/items/42/parts/a%20b", None);
    rc.begin(&s, [b'0'; 36]);
    let routed = super::route::resolve(&snap, &s, &mut rc, || 0.0).expect("routed");
    assert_eq!(routed.param("id", s.path()), Some("42"));
    assert_eq!(routed.param("part", s.path()), Some("a%20b"));
    assert_eq!(routed.param("nope", s.path()), None);
    assert_eq!(routed.resource_path(s.path()), "/items/42/parts/a%20b");
    assert_eq!(rc.route_key(), "GET /items/{id}/parts/{part}");
}

#[test]
fn api_key_phase_checks_the_key_and_records_it() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/keyed", None);
    run(&ctx, &mut s, &mut rc);
    assert_eq!(s.status, Some(403));
    assert_eq!(rc.api_key, None);

    let mut s = MemorySession::new("GET", "/prod/keyed", None)
        .header("x-api-key", "partner-key-0123456789");
    run(&ctx, &mut s, &mut rc);
    assert_eq!(s.status, Some(200));
    assert_eq!(var(&rc, &snap, "identity.apiKey"), "partner-key-0123456789");
    assert_eq!(var(&rc, &snap, "identity.apiKeyId"), "k1");

    // The plan's burst of 1 is spent: the usage-plan level refuses, and says so.
    let mut s = MemorySession::new("GET", "/prod/keyed", None)
        .header("x-api-key", "partner-key-0123456789");
    run(&ctx, &mut s, &mut rc);
    assert_eq!(s.status, Some(429));
    assert_eq!(rc.throttle, Some(ThrottleLevel::UsagePlan));
    assert_eq!(var(&rc, &snap, "throttleLevel"), "usage-plan");
    assert!(s.response_header("retry-after").is_some());
}

#[test]
fn an_unread_body_is_drained_and_the_connection_kept() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/hello", None).with_body(b"0123456789abcdef");
    assert_eq!(run(&ctx, &mut s, &mut rc), Next::KeepAlive);
    assert_eq!(s.status, Some(200));
    assert_eq!(s.body_state(), super::session::BodyState::Done);
}

#[test]
fn reserved_certificate_headers_are_dropped_in_any_spelling() {
    let yaml = CONFIG.replace(
        "listeners:\n  - name: public\n    bind: 127.0.0.1:0\n",
        "listeners:\n  - name: public\n    bind: 127.0.0.1:0\n    drop_underscore_headers: true\n",
    );
    let snap = crate::config::validate::from_str(Path::new("t.yaml"), &yaml).expect("config");
    let mut s = MemorySession::new("GET", "/", None)
        .header("x_forwarded_thing", "1")
        .header("keep-me", "2");
    super::drop_reserved_headers(&snap, &mut s);
    let names: Vec<&str> = s.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["keep-me"]);
}

#[test]
fn protocol_comes_from_the_session() {
    let snap = snapshot();
    let ctx = worker(&snap);
    let mut rc = RequestContext::default();
    let mut s = MemorySession::new("GET", "/prod/hello", None);
    s.version = Version::Http2;
    run(&ctx, &mut s, &mut rc);
    assert_eq!(var(&rc, &snap, "protocol"), "HTTP/2.0");
}
