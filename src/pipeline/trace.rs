//! Tracing in the pipeline: the trace context is read from the request's headers when it
//! begins (`start`: `traceparent`, else `X-Amzn-Trace-Id`, else a new trace; a malformed
//! header is replaced, never an error), the stage's sampling decides whether it is recorded
//! once the route is known (`sample`), both headers go to the integration
//! (`write_headers`, called by the upstream head writer), and a sampled request's spans go
//! to the exporter thread when it ends (`finish`). Only sampled requests allocate here.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use crate::config::Snapshot;
use crate::observe::trace::export::{self, int_attr, string_attr};
use crate::observe::trace::header::{format_root, format_traceparent, format_xray, xray_extras};
use crate::observe::trace::{decide, unix_nanos, Trace};
use crate::pipeline::context::{CacheStatus, RequestContext};
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;
use crate::pipeline::worker::WorkerCtx;

/// The trace context of the request whose head `session` holds (after `rc.begin`).
pub fn start<S: Session>(ctx: &WorkerCtx, session: &S, rc: &mut RequestContext) {
    let (mut t, _) = Trace::accept(
        session.header("traceparent"),
        session.header("x-amzn-trace-id"),
        &ctx.trace_ids,
        || rc.request_time_epoch_ms() / 1000,
    );
    // Until a stage says otherwise: passed on as the caller decided, nothing recorded.
    (t.sampled, t.export) = decide(false, 0.0, t.incoming_sampled, 0);
    rc.trace = t;
}

/// The stage's sampling: on a stage with tracing on, the caller's decision or a draw.
pub fn sample(ctx: &WorkerCtx, routed: &Routed<'_>, rc: &mut RequestContext) {
    let st = routed.stage.tracing;
    if !st.enabled {
        return;
    }
    let t = &mut rc.trace;
    let draw = if t.incoming_sampled.is_none() {
        ctx.trace_ids.next_u64()
    } else {
        0
    };
    (t.sampled, t.export) = decide(true, st.sample_rate, t.incoming_sampled, draw);
}

/// The trace headers of the integration request: `X-Amzn-Trace-Id` (with the caller's
/// other X-Ray fields when its header named this trace) and `traceparent` (with the caller's
/// `tracestate`, which the header loop keeps, when its `traceparent` was used), both naming
/// the gateway's integration span as the parent. `xray_in` is the caller's X-Amzn-Trace-Id.
pub fn write_headers(out: &mut Vec<u8>, t: &Trace, xray_in: Option<&[u8]>) {
    out.extend_from_slice(b"x-amzn-trace-id: ");
    out.extend_from_slice(&format_xray(&t.trace_id, &t.client_span_id, t.sampled));
    if let (true, Some(raw)) = (t.xray_in, xray_in) {
        for field in xray_extras(raw) {
            out.push(b';');
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\ntraceparent: ");
    out.extend_from_slice(&format_traceparent(
        &t.trace_id,
        &t.client_span_id,
        t.sampled,
    ));
    out.extend_from_slice(b"\r\n");
}

/// Whether the header loop skips this request header: the trace headers are written anew,
/// and a `tracestate` without the `traceparent` it belongs to is dropped (W3C).
pub fn replaces_header(name: &[u8], t: &Trace) -> bool {
    name.eq_ignore_ascii_case(b"x-amzn-trace-id")
        || name.eq_ignore_ascii_case(b"traceparent")
        || (!t.w3c_in && name.eq_ignore_ascii_case(b"tracestate"))
}

/// `$context.traceId`: the X-Amzn-Trace-Id passed to the integration (Root, Parent,
/// Sampled, then the caller's other fields).
pub fn write_trace_id(out: &mut String, t: &Trace, xray_in: &[u8]) {
    let header = format_xray(&t.trace_id, &t.client_span_id, t.sampled);
    out.push_str(std::str::from_utf8(&header).unwrap_or(""));
    if t.xray_in {
        for field in xray_extras(xray_in) {
            out.push(';');
            out.push_str(std::str::from_utf8(field).unwrap_or(""));
        }
    }
}

/// `$context.xrayTraceId`: the root, `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`.
pub fn write_root(out: &mut String, t: &Trace) {
    out.push_str(std::str::from_utf8(&format_root(&t.trace_id)).unwrap_or(""));
}

/// Start the exporter thread when some stage traces (and give it the new settings on a
/// reload).
pub fn configure(snapshot: &Snapshot) {
    let traced = snapshot
        .apis
        .iter()
        .any(|a| a.stages.values().any(|s| s.tracing.enabled));
    if traced {
        export::configure(snapshot.server.tracing.clone());
    }
}

/// The request ended (after `rc.finish`): a sampled request's spans go to the exporter.
pub fn finish(rc: &RequestContext, snapshot: &Snapshot) {
    if rc.trace.export {
        export::submit(spans(rc, snapshot, unix_nanos()));
    }
}

/// The request span (SERVER) and, when an HTTP integration was called, its integration span
/// (CLIENT, the request span's child), for a request that ended at `end_ns`.
pub fn spans(rc: &RequestContext, snapshot: &Snapshot, end_ns: u64) -> Vec<Span> {
    let t = &rc.trace;
    let total = rc.response_latency.unwrap_or_default().as_nanos() as u64;
    let start_ns = end_ns.saturating_sub(total);
    let var = |name: &str| {
        let mut s = String::new();
        rc.variable(name, snapshot, &mut s);
        s
    };
    let method = var("httpMethod");
    let route_key = var("routeKey");
    let resource = var("resourcePath");
    let name = if route_key.is_empty() {
        method.clone()
    } else {
        route_key.clone()
    };
    let mut attrs = vec![
        string_attr("http.request.method", &method),
        string_attr("url.path", rc.path()),
        int_attr("http.response.status_code", i64::from(rc.status)),
        string_attr("client.address", &var("identity.sourceIp")),
        string_attr("network.protocol.version", rc.protocol.as_str()),
        string_attr("aws.request_id", &var("requestId")),
        string_attr("aws.xray.trace_id", &var("xrayTraceId")),
        string_attr("aws.api_gateway.api_id", &var("apiId")),
        string_attr("aws.api_gateway.stage", &var("stage")),
    ];
    // The route's template (`/items/{id}`), from the route key (`GET /items/{id}`).
    if let Some((_, template)) = route_key.split_once(' ') {
        attrs.push(string_attr("http.route", template));
    }
    if !resource.is_empty() {
        attrs.push(string_attr("aws.api_gateway.resource_path", &resource));
    }
    if !route_key.is_empty() {
        attrs.push(string_attr("aws.api_gateway.route_key", &route_key));
    }
    if !rc.user_agent().is_empty() {
        attrs.push(string_attr("user_agent.original", rc.user_agent()));
    }
    match rc.cache {
        CacheStatus::None => {}
        CacheStatus::Hit => attrs.push(string_attr("aws.api_gateway.cache_status", "HIT")),
        CacheStatus::Miss => attrs.push(string_attr("aws.api_gateway.cache_status", "MISS")),
    }
    if let Some(level) = rc.throttle {
        attrs.push(string_attr(
            "aws.api_gateway.throttle_level",
            level.as_str(),
        ));
    }
    let error_type = var("error.responseType");
    if !error_type.is_empty() {
        attrs.push(string_attr("error.type", &error_type));
    }
    let flags = 0x100 | u32::from(t.sampled); // the parent-is-remote bit is known, and is set
    let mut spans = vec![Span {
        trace_id: t.trace_id.to_vec(),
        span_id: t.span_id.to_vec(),
        parent_span_id: t.parent.map(|p| p.to_vec()).unwrap_or_default(),
        flags: if t.parent.is_some() {
            flags | 0x200
        } else {
            flags
        },
        name,
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: end_ns,
        attributes: attrs,
        status: Some(status(rc.status >= 500, &error_type)),
        ..Default::default()
    }];
    if let Some((span_id, offset, took)) = t.authorizer {
        let auth_start = start_ns + offset.as_nanos() as u64;
        let mut attrs = vec![string_attr(
            "aws.api_gateway.authorization_type",
            routed_authorization(rc, snapshot),
        )];
        let principal = var("authorizer.principalId");
        if !principal.is_empty() {
            attrs.push(string_attr("enduser.id", &principal));
        }
        let user_arn = var("identity.userArn");
        if !user_arn.is_empty() {
            attrs.push(string_attr("aws.api_gateway.identity.user_arn", &user_arn));
        }
        if rc.authorizer.status != 0 {
            attrs.push(int_attr(
                "aws.api_gateway.authorizer.status",
                i64::from(rc.authorizer.status),
            ));
        }
        if let Some(l) = rc.authorizer.latency {
            attrs.push(int_attr(
                "aws.api_gateway.authorizer.latency_ms",
                l.as_millis() as i64,
            ));
        }
        // Refused here: the request's error is the authorizer's.
        let refused = rc.integration.status == 0
            && t.integration_offset.is_none()
            && matches!(rc.status, 401 | 403 | 500);
        if refused && !error_type.is_empty() {
            attrs.push(string_attr("error.type", &error_type));
        }
        spans.push(Span {
            trace_id: t.trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: t.span_id.to_vec(),
            flags: 0x100 | u32::from(t.sampled),
            name: "authorizer".into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: auth_start,
            end_time_unix_nano: auth_start + took.as_nanos() as u64,
            attributes: attrs,
            status: Some(status(refused, &error_type)),
            ..Default::default()
        });
    }
    if let Some(offset) = t.integration_offset {
        let int_start = start_ns + offset.as_nanos() as u64;
        let int_end = match rc.integration.latency {
            Some(l) => int_start + l.as_nanos() as u64,
            None => end_ns,
        };
        let (up_method, target, host) = upstream_line(&rc.scratch.upstream_request);
        let mut attrs = vec![
            string_attr("http.request.method", up_method),
            string_attr("server.address", host),
            string_attr("url.path", target),
        ];
        if rc.integration.status != 0 {
            attrs.push(int_attr(
                "http.response.status_code",
                i64::from(rc.integration.status),
            ));
        }
        if let Some(l) = rc.integration.latency {
            attrs.push(int_attr(
                "aws.api_gateway.integration_latency_ms",
                l.as_millis() as i64,
            ));
        }
        let failed = rc.integration.error.is_some() || rc.integration.status >= 500;
        if let Some(e) = rc.integration.error {
            attrs.push(string_attr("error.type", e));
        }
        spans.push(Span {
            trace_id: t.trace_id.to_vec(),
            span_id: t.client_span_id.to_vec(),
            parent_span_id: t.span_id.to_vec(),
            flags: 0x100 | u32::from(t.sampled),
            name: "integration".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: int_start,
            end_time_unix_nano: int_end.max(int_start),
            attributes: attrs,
            status: Some(status(failed, rc.integration.error.unwrap_or(""))),
            ..Default::default()
        });
    }
    spans
}

fn status(error: bool, message: &str) -> Status {
    Status {
        message: if error { message.into() } else { String::new() },
        code: if error {
            StatusCode::Error as i32
        } else {
            StatusCode::Unset as i32
        },
    }
}

/// Method, target and Host of the upstream request head (as written for the integration).
fn upstream_line(head: &[u8]) -> (&str, &str, &str) {
    let text = std::str::from_utf8(head).unwrap_or("");
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let host = lines
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("host").then_some(value.trim())
        })
        .unwrap_or("");
    (method, target.split('?').next().unwrap_or(target), host)
}

/// The authorization type of the route `rc` was routed to (`NONE` when unknown).
fn routed_authorization(rc: &RequestContext, snapshot: &Snapshot) -> &'static str {
    let Some(stage) = rc.stage_id.and_then(|id| snapshot.stage_by_id(id)) else {
        return "NONE";
    };
    let key = rc.route_key();
    stage
        .deployment
        .routes
        .iter()
        .find(|r| r.key == key)
        .map_or("NONE", |r| r.authorization.kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::IdGen;

    #[test]
    fn headers_for_the_integration_name_the_client_span() {
        let ids = IdGen::with_seed(3);
        let x = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1";
        let (mut t, _) = Trace::accept(None, Some(x), &ids, || 0);
        t.sampled = true;
        let mut out = Vec::new();
        write_headers(&mut out, &t, Some(x));
        let text = String::from_utf8(out).expect("ascii");
        let span =
            String::from_utf8(crate::observe::trace::header::span_hex(&t.client_span_id).to_vec())
                .expect("hex");
        assert_eq!(
            text,
            format!(
                "x-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent={span};Sampled=1;Lineage=a:1\r\ntraceparent: 00-5759e988bd862e3fe1be46a994272793-{span}-01\r\n"
            )
        );
        assert!(replaces_header(b"X-Amzn-Trace-Id", &t));
        assert!(replaces_header(b"tracestate", &t));
        assert!(!replaces_header(b"x-other", &t));
    }

    #[test]
    fn the_upstream_line_is_read_back() {
        let head = b"POST /items/1?x=2 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx: y\r\n\r\n";
        assert_eq!(upstream_line(head), ("POST", "/items/1", "127.0.0.1:9"));
        assert_eq!(upstream_line(b""), ("", "", ""));
    }
}
