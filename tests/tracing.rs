//! Tracing through the real gateway: the trace headers an upstream receives (passed
//! through, derived, generated, replaced), the spans a test OTLP/HTTP receiver gets
//! (decoded with the OTLP protobuf definitions), sampling, and a collector that is down or
//! slow (spans dropped and counted, requests unaffected).

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

const UP_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const COLLECTOR_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

/// A gateway whose `prod` stage samples every request (`tracing_sample_rate: 1`), `zero`
/// none and `off` has tracing off; spans go to `collector_port` (`server_extra` adds keys
/// to `server.tracing`; the batch waits 20 ms unless it sets `flush_interval`).
fn gateway(up: u16, collector_port: u16, server_extra: &str) -> Gateway {
    let flush = if server_extra.contains("flush_interval") {
        ""
    } else {
        "    flush_interval: 20ms\n"
    };
    let server_extra = format!("{flush}{server_extra}");
    Gateway::start(&format!(
        "server:
  tracing:
    otlp_endpoint: 'http://127.0.0.1:{collector_port}/v1/traces'
    service_name: tollgate-test
{server_extra}
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: t
    h2c: true
apis:
  - id: t
    routes:
      - route: ANY /up/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{up}/{{proxy}}
      - route: GET /mock
        integration: {{type: MOCK, body: m}}
    stages:
      - name: prod
        tracing_enabled: true
        tracing_sample_rate: 1
      - name: zero
        tracing_enabled: true
        tracing_sample_rate: 0
      - name: off
"
    ))
}

/// Every value of header `name` in a raw request the upstream received.
fn header_values(request: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(request);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

fn one_header(request: &[u8], name: &str) -> String {
    let v = header_values(request, name);
    assert_eq!(v.len(), 1, "{name} in {}", String::from_utf8_lossy(request));
    v[0].clone()
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The parts of a well-formed `traceparent`: (trace id, parent id, flags).
fn traceparent_parts(v: &str) -> (String, String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "{v}");
    assert!(is_hex(parts[1], 32) && parts[1] != "0".repeat(32), "{v}");
    assert!(is_hex(parts[2], 16) && parts[2] != "0".repeat(16), "{v}");
    assert!(parts[3] == "00" || parts[3] == "01", "{v}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

/// The fields of a well-formed `X-Amzn-Trace-Id`: (root, parent, sampled, other fields).
fn xray_parts(v: &str) -> (String, String, String, Vec<String>) {
    let (mut root, mut parent, mut sampled, mut rest) = (None, None, None, Vec::new());
    for field in v.split(';') {
        match field.split_once('=') {
            Some(("Root", r)) => root = Some(r.to_string()),
            Some(("Parent", p)) => parent = Some(p.to_string()),
            Some(("Sampled", s)) => sampled = Some(s.to_string()),
            _ => rest.push(field.to_string()),
        }
    }
    let root = root.unwrap_or_else(|| panic!("no Root in {v}"));
    let r: Vec<&str> = root.split('-').collect();
    assert!(
        r.len() == 3 && r[0] == "1" && is_hex(r[1], 8) && is_hex(r[2], 24),
        "{v}"
    );
    let parent = parent.unwrap_or_else(|| panic!("no Parent in {v}"));
    assert!(is_hex(&parent, 16), "{v}");
    let sampled = sampled.unwrap_or_else(|| panic!("no Sampled in {v}"));
    (root, parent, sampled, rest)
}

/// Check the two headers an upstream got name the same trace, parent and decision; return
/// (W3C trace id, parent id, sampled).
fn consistent(request: &[u8]) -> (String, String, bool) {
    let (trace, parent, flags) = traceparent_parts(&one_header(request, "traceparent"));
    let (root, xparent, sampled, _) = xray_parts(&one_header(request, "x-amzn-trace-id"));
    assert_eq!(root, format!("1-{}-{}", &trace[..8], &trace[8..]));
    assert_eq!(xparent, parent);
    assert_eq!(sampled == "1", flags == "01");
    (trace, parent, flags == "01")
}

fn proxied(gw: &Gateway, up: &ScriptedUpstream, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let before = up.requests().len();
    let r = gw.send(&req("GET", path, headers, b""));
    assert_eq!(r.status, 200, "{}", r.describe());
    let all = up.requests();
    assert_eq!(all.len(), before + 1);
    all[before].clone()
}

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn traceparent_passes_with_a_new_parent_and_the_xray_header_is_derived() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(up.port, dead_port(), "");
    let got = proxied(
        &gw,
        &up,
        "/off/up/a",
        &[("traceparent", TP), ("tracestate", "vendor=opaque")],
    );
    let (trace, parent, sampled) = consistent(&got);
    assert_eq!(trace, "0af7651916cd43dd8448eb211c80319c");
    assert_ne!(
        parent, "b7ad6b7169203331",
        "the gateway's span is the new parent"
    );
    assert!(sampled, "the caller's decision is passed on");
    assert_eq!(one_header(&got, "tracestate"), "vendor=opaque");
}

#[test]
fn xray_root_passes_and_traceparent_is_derived() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(up.port, dead_port(), "");
    let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:1";
    // A tracestate without its traceparent is dropped.
    let got = proxied(
        &gw,
        &up,
        "/off/up/b",
        &[("X-Amzn-Trace-Id", xray), ("tracestate", "orphan=1")],
    );
    let (trace, parent, sampled) = consistent(&got);
    assert_eq!(trace, "5759e988bd862e3fe1be46a994272793");
    assert_ne!(parent, "53995c3f42cd8ad8");
    assert!(!sampled);
    let (_, _, _, rest) = xray_parts(&one_header(&got, "x-amzn-trace-id"));
    assert_eq!(rest, vec!["Lineage=a87bd80c:1".to_string()]);
    assert!(header_values(&got, "tracestate").is_empty());
}

#[test]
fn both_headers_are_generated_when_absent_and_differ_per_request() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(up.port, dead_port(), "");
    let a = consistent(&proxied(&gw, &up, "/off/up/c", &[]));
    let b = consistent(&proxied(&gw, &up, "/off/up/c", &[]));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    // Not sampled: tracing is off on this stage and nobody decided.
    assert!(!a.2 && !b.2);
    // The root's first 8 digits are the epoch second (X-Ray wants a recent time).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let stamped = u64::from_str_radix(&a.0[..8], 16).expect("hex");
    assert!(now.abs_diff(stamped) < 600, "{stamped} vs {now}");
}

#[test]
fn malformed_headers_are_replaced_by_a_new_trace() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(up.port, dead_port(), "");
    for headers in [
        &[("traceparent", "00-garbage-01"), ("tracestate", "a=b")][..],
        &[("X-Amzn-Trace-Id", "Root=1-abc;Sampled=1")][..],
        &[
            (
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            ),
            (
                "X-Amzn-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a99427279Z",
            ),
        ][..],
    ] {
        let got = proxied(&gw, &up, "/off/up/d", headers);
        let (trace, _, sampled) = consistent(&got);
        assert_ne!(trace, "0".repeat(32));
        assert!(!trace.starts_with("5759e988bd862e3fe1be46a9"));
        assert!(!sampled);
        assert!(header_values(&got, "tracestate").is_empty());
    }
}

/// Spans the collector received so far, decoded.
fn received_spans(collector: &ScriptedUpstream) -> Vec<(ExportTraceServiceRequest, Span)> {
    let mut out = Vec::new();
    for request in collector.requests() {
        let head_end = find_subslice(&request, b"\r\n\r\n").expect("head") + 4;
        let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with("post /v1/traces http/1.1\r\n"), "{head}");
        assert!(
            head.contains("content-type: application/x-protobuf\r\n"),
            "{head}"
        );
        let export = ExportTraceServiceRequest::decode(&request[head_end..])
            .unwrap_or_else(|e| panic!("OTLP body does not decode: {e}"));
        for rs in &export.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push((export.clone(), span.clone()));
                }
            }
        }
    }
    out
}

/// Wait (at most 20 s) until spans of trace `hex_id` arrived; return every span so far.
fn wait_for_trace(collector: &ScriptedUpstream, hex_id: &str, n: usize) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans: Vec<Span> = received_spans(collector)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        if spans.iter().filter(|s| hex(&s.trace_id) == hex_id).count() >= n {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} spans of trace {hex_id} within 20 s; got {spans:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

fn str_attr(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

#[test]
fn sampled_spans_reach_the_otlp_receiver_with_trace_links_and_attributes() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let collector = ScriptedUpstream::start(COLLECTOR_RESPONSE, After::Close);
    let gw = gateway(up.port, collector.port, "");
    let r = gw.send(&req(
        "GET",
        "/prod/up/items/7?q=1",
        &[("traceparent", TP), ("User-Agent", "trace-test/1")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let request_id = r
        .header("x-amzn-requestid")
        .expect("request id")
        .to_string();
    let (_, upstream_parent, sampled) = consistent(&up.requests()[0]);
    assert!(sampled);

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let spans = wait_for_trace(&collector, trace, 2);
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a SERVER span");
    let client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("a CLIENT span");
    // One trace: the caller's span -> the gateway's request span -> its integration span,
    // whose id the upstream was given as its parent.
    assert_eq!(hex(&server.parent_span_id), "b7ad6b7169203331");
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(hex(&client.span_id), upstream_parent);
    assert_eq!(server.name, "ANY /up/{proxy+}");
    assert_eq!(client.name, "integration");
    assert!(server.start_time_unix_nano > 0);
    assert!(server.start_time_unix_nano <= client.start_time_unix_nano);
    assert!(client.end_time_unix_nano <= server.end_time_unix_nano);

    assert_eq!(str_attr(server, "http.request.method"), "GET");
    assert_eq!(str_attr(server, "url.path"), "/prod/up/items/7");
    assert_eq!(str_attr(server, "http.route"), "/up/{proxy+}");
    assert_eq!(
        str_attr(server, "aws.api_gateway.resource_path"),
        "/up/items/7"
    );
    assert_eq!(
        str_attr(server, "aws.api_gateway.route_key"),
        "ANY /up/{proxy+}"
    );
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(Value::IntValue(200))
    );
    assert_eq!(str_attr(server, "aws.api_gateway.api_id"), "t");
    assert_eq!(str_attr(server, "aws.api_gateway.stage"), "prod");
    assert_eq!(str_attr(server, "aws.request_id"), request_id);
    assert_eq!(str_attr(server, "client.address"), "127.0.0.1");
    assert_eq!(str_attr(server, "user_agent.original"), "trace-test/1");
    assert_eq!(
        str_attr(server, "aws.xray.trace_id"),
        "1-0af76519-16cd43dd8448eb211c80319c"
    );
    assert_eq!(
        attr(client, "http.response.status_code"),
        Some(Value::IntValue(200))
    );
    assert_eq!(
        str_attr(client, "server.address"),
        format!("127.0.0.1:{}", up.port)
    );
    assert_eq!(str_attr(client, "url.path"), "/items/7");

    let (export, _) = received_spans(&collector)
        .into_iter()
        .find(|(_, s)| hex(&s.trace_id) == trace)
        .expect("export");
    let resource = export.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    let name = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone());
    assert_eq!(name, Some(Value::StringValue("tollgate-test".into())));
}

#[test]
fn sampling_zero_sends_nothing_and_callers_decisions_are_honoured() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let collector = ScriptedUpstream::start(COLLECTOR_RESPONSE, After::Close);
    let gw = gateway(up.port, collector.port, "");
    // Not sampled: rate 0 without a decision; Sampled=0 on a rate-1 stage; tracing off
    // with Sampled=1 (passed on, not recorded); a MOCK route on the rate-0 stage.
    for _ in 0..20 {
        consistent(&proxied(&gw, &up, "/zero/up/x", &[]));
    }
    let unsampled = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0";
    let (_, _, s) = consistent(&proxied(
        &gw,
        &up,
        "/prod/up/y",
        &[("X-Amzn-Trace-Id", unsampled)],
    ));
    assert!(!s);
    let off = "Root=1-6759e988-bd862e3fe1be46a994272793;Sampled=1";
    let (_, _, s) = consistent(&proxied(&gw, &up, "/off/up/z", &[("X-Amzn-Trace-Id", off)]));
    assert!(
        s,
        "a stage with tracing off passes the caller's decision on"
    );
    assert_eq!(gw.send(&get("/zero/mock")).status, 200);
    // Sampled=1 on the rate-0 stage is honoured: its spans come after anything queued
    // before, so once they are in, nothing else was sent.
    let marker = "Root=1-7759e988-bd862e3fe1be46a994272793;Sampled=1";
    let (trace, _, s) = consistent(&proxied(
        &gw,
        &up,
        "/zero/up/m",
        &[("X-Amzn-Trace-Id", marker)],
    ));
    assert!(s);
    let spans = wait_for_trace(&collector, &trace, 2);
    let traces: std::collections::BTreeSet<String> =
        spans.iter().map(|s| hex(&s.trace_id)).collect();
    assert_eq!(traces.into_iter().collect::<Vec<_>>(), vec![trace]);
}

/// Wait (at most 20 s) until the gateway's log says spans were dropped; return that line.
fn wait_for_dropped(gw: &Gateway) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = gw.stderr();
        if let Some(line) = log
            .lines()
            .find(|l| l.starts_with("tollgate: tracing:") && l.contains("spans dropped"))
        {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no dropped-spans line in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dropped_count(line: &str) -> u64 {
    // "tracing: N spans dropped (M since start): ..."
    let after = line.split("tracing: ").nth(1).expect("prefix");
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

#[test]
fn a_collector_that_is_down_drops_and_counts_spans_and_requests_go_on() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(up.port, dead_port(), "    queue: 4\n    batch: 1\n");
    let mut c = gw.client();
    for i in 0..30 {
        let r = c.request(&req("GET", &format!("/prod/up/{i}"), &[], b""));
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    assert_eq!(up.requests().len(), 30);
    let line = wait_for_dropped(&gw);
    assert!(dropped_count(&line) >= 1, "{line}");
    assert!(gw.stderr().contains("failed: connect"), "{}", gw.stderr());
}

#[test]
fn a_collector_that_never_answers_never_stalls_requests() {
    // Accepts connections and never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        silent.set_nonblocking(true).expect("nonblocking");
        while Instant::now() < deadline && conns.len() < 4 {
            match silent.accept() {
                Ok((s, _)) => conns.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        conns
    });
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let gw = gateway(
        up.port,
        port,
        "    queue: 2\n    batch: 1\n    timeout: 1s\n",
    );
    // The exporter is stuck on its first export for a second; the queue holds 2 requests'
    // spans; every other sampled request's spans are dropped and the requests go on.
    let mut c = gw.client();
    for i in 0..40 {
        let r = c.request(&req("GET", &format!("/prod/up/{i}"), &[], b""));
        assert_eq!(r.status, 200, "{}", r.describe());
    }
    assert_eq!(up.requests().len(), 40);
    let line = wait_for_dropped(&gw);
    assert!(dropped_count(&line) >= 2, "{line}");
    drop(gw);
    drop(held);
}

#[test]
fn http2_streams_carry_the_trace_headers_too() {
    let ok = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `curl` with HTTP/2 on PATH (`make test-deps` installs it); refusing \
         to pass without it"
    );
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let collector = ScriptedUpstream::start(COLLECTOR_RESPONSE, After::Close);
    let gw = gateway(up.port, collector.port, "");
    let xray = "Root=1-8759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--http2-prior-knowledge",
            "-w",
            " %{http_version} %{http_code}",
        ])
        .args(["-H", &format!("X-Amzn-Trace-Id: {xray}")])
        .arg(format!("http://127.0.0.1:{}/prod/up/h2", gw.port))
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "ok 2 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = up.requests();
    assert_eq!(got.len(), 1);
    let (trace, parent, sampled) = consistent(&got[0]);
    assert_eq!(trace, "8759e988bd862e3fe1be46a994272793");
    assert_ne!(parent, "53995c3f42cd8ad8");
    assert!(sampled);
    let spans = wait_for_trace(&collector, &trace, 2);
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a SERVER span");
    assert_eq!(hex(&server.parent_span_id), "53995c3f42cd8ad8");
}

#[test]
fn spans_still_batched_are_exported_at_shutdown() {
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let collector = ScriptedUpstream::start(COLLECTOR_RESPONSE, After::Close);
    // A batch that would wait an hour to fill: only the shutdown flush sends it.
    let mut gw = gateway(up.port, collector.port, "    flush_interval: 1h\n");
    let (trace, _, _) = consistent(&proxied(&gw, &up, "/prod/up/last", &[]));
    assert!(received_spans(&collector).is_empty());
    gw.proc.sigterm();
    let status = gw.proc.wait_timeout(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    wait_for_trace(&collector, &trace, 2);
}

/// A route behind an authorizer gets an `authorizer` span (INTERNAL, the request span's
/// child) with the authorizer's outcome; a refused request's span says why.
#[test]
fn authorizers_have_their_own_span() {
    let auth = DemoUpstream::start();
    let up = ScriptedUpstream::start(UP_RESPONSE, After::KeepOpen);
    let collector = ScriptedUpstream::start(COLLECTOR_RESPONSE, After::Close);
    let gw = Gateway::start(&format!(
        "server:
  tracing:
    otlp_endpoint: 'http://127.0.0.1:{collector}/v1/traces'
    flush_interval: 20ms
listeners: [{{name: public, bind: '127.0.0.1:0', default_api: t}}]
apis:
  - id: t
    authorizers:
      - name: lam
        type: REQUEST
        identity_source: [method.request.header.Authorization]
        lambda: {{uri: 'http://{auth}/authorizer'}}
    routes:
      - route: GET /up/{{proxy+}}
        authorization_type: CUSTOM
        authorizer: lam
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{up}/{{proxy}}'}}
    stages:
      - {{name: prod, tracing_enabled: true, tracing_sample_rate: 1}}
",
        collector = collector.port,
        auth = auth.addr(),
        up = up.port,
    ));
    let trace_of = |tp: &str| tp.split('-').nth(1).expect("trace id").to_string();
    let allowed_tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = gw.send(&req(
        "GET",
        "/prod/up/x",
        &[("traceparent", allowed_tp), ("authorization", "allow")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let trace = trace_of(allowed_tp);
    let spans = wait_for_trace(&collector, &trace, 3);
    let ours: Vec<&Span> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    let server = ours
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("request span");
    let authorizer = ours
        .iter()
        .find(|s| s.name == "authorizer")
        .unwrap_or_else(|| panic!("no authorizer span: {ours:?}"));
    assert_eq!(authorizer.kind, SpanKind::Internal as i32);
    assert_eq!(authorizer.parent_span_id, server.span_id);
    assert_ne!(authorizer.span_id, server.span_id);
    assert!(authorizer.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(authorizer.end_time_unix_nano <= server.end_time_unix_nano);
    assert_eq!(
        str_attr(authorizer, "aws.api_gateway.authorization_type"),
        "CUSTOM"
    );
    assert_eq!(str_attr(authorizer, "enduser.id"), "demo-user");
    assert!(attr(authorizer, "error.type").is_none(), "{authorizer:?}");
    let integration = ours
        .iter()
        .find(|s| s.name == "integration")
        .expect("integration span");
    assert!(integration.start_time_unix_nano >= authorizer.end_time_unix_nano);

    // A refusal: the authorizer span carries the gateway response type, no integration.
    let denied_tp = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = gw.send(&req(
        "GET",
        "/prod/up/x",
        &[("traceparent", denied_tp), ("authorization", "deny")],
        b"",
    ));
    assert_eq!(r.status, 403, "{}", r.describe());
    let trace = trace_of(denied_tp);
    let spans = wait_for_trace(&collector, &trace, 2);
    let ours: Vec<&Span> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
    let authorizer = ours
        .iter()
        .find(|s| s.name == "authorizer")
        .unwrap_or_else(|| panic!("no authorizer span: {ours:?}"));
    assert_eq!(str_attr(authorizer, "error.type"), "ACCESS_DENIED");
    assert!(ours.iter().all(|s| s.name != "integration"), "{ours:?}");
}
