//! Execution logs per stage, in API Gateway's style (its `loggingLevel` OFF / ERROR / INFO
//! and `dataTraceEnabled`): every line of a request is prefixed with its request id in
//! parentheses, as CloudWatch shows them:
//!
//! ```text
//! (c0ffee..) Extended Request Id: c0ffee..
//! (c0ffee..) Verifying Usage Plan for request: c0ffee... API Key: **** API Stage: demo/prod
//! (c0ffee..) Endpoint request URI: http://127.0.0.1:8080/items/1
//! (c0ffee..) Received response. Status: 200, Integration latency: 3 ms
//! (c0ffee..) Method completed with status: 200, Latency: 4 ms
//! ```
//!
//! Cost model: a stage without `execution_log` (level OFF) costs each hook one test of a
//! `None` or a `false` and nothing else (no allocation, no clock read). A stage that logs
//! may allocate (a debugging feature): the lines of a request are gathered in its
//! `RequestContext` (what only the request head holds, when the route is known), the rest
//! is written from the context when the request ends, and the whole text goes to the
//! destination's writer thread in one message (never written from a worker).
//!
//! Data tracing captures a bounded copy (the first [`BODY_LIMIT`] bytes) of the request
//! body as the integration forwards it and of the response body as the response taps see
//! it; what is forwarded is unchanged (only the socket-to-socket splice is not used, so
//! the bytes pass where they can be seen).

pub mod sink;

use std::fmt::Write as _;

use crate::config::execution_log::{ExecutionLogSettings, Level, REDACTED};
use crate::config::Snapshot;
use crate::error::{GatewayError, GatewayResponse};
use crate::pipeline::context::{CacheStatus, RequestContext, ThrottleLevel};
use crate::pipeline::route::Routed;
use crate::pipeline::session::{Next, Session};
use crate::pipeline::taps::ResponseTaps;

/// Body bytes kept for data tracing; a longer body ends with [`TRUNCATED`].
pub const BODY_LIMIT: usize = 1024;
/// Marks a body cut at [`BODY_LIMIT`] (API Gateway's marker).
pub const TRUNCATED: &str = "[TRUNCATED]";

/// A request's execution-log state (a field of `RequestContext`): off unless its stage
/// logs. Its buffers keep their capacity from request to request.
#[derive(Debug, Default)]
pub struct ExecutionTrace {
    /// The request's stage logs (ERROR or INFO): the integration records what it sends.
    pub on: bool,
    /// Bodies are captured.
    pub data_trace: bool,
    level: Option<Level>,
    /// The route wants an API key.
    key_required: bool,
    /// Lines written while the request head was readable (INFO).
    head: String,
    /// The endpoint request URI, once the integration request is made.
    endpoint: String,
    /// The endpoint request headers (data tracing).
    endpoint_headers: String,
    /// Why the request failed (the gateway error, with its cause).
    failure: String,
}

/// A bounded copy of a body as it passes: its first [`BODY_LIMIT`] bytes and its length.
#[derive(Debug, Default)]
pub struct BodyCapture {
    bytes: Vec<u8>,
    total: u64,
}

impl BodyCapture {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.total = 0;
    }

    /// More body bytes went by.
    pub fn push(&mut self, data: &[u8]) {
        let room = BODY_LIMIT.saturating_sub(self.bytes.len()).min(data.len());
        self.bytes
            .extend_from_slice(data.get(..room).unwrap_or_default());
        self.total += data.len() as u64;
    }

    /// The kept bytes (escaped), then [`TRUNCATED`] if the body was longer.
    fn write(&self, out: &mut String) {
        push_escaped(out, &self.bytes);
        if self.total > BODY_LIMIT as u64 {
            out.push_str(TRUNCATED);
        }
    }
}

/// The response tap of a data-traced request: the response headers and body as they pass
/// to the client.
pub struct ResponseTrace<'s> {
    settings: &'s ExecutionLogSettings,
    headers: String,
    body: BodyCapture,
}

impl ResponseTrace<'_> {
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        push_header(&mut self.headers, self.settings, name, value);
    }

    pub fn body(&mut self, data: &[u8]) {
        self.body.push(data);
    }
}

/// The route is known (phase 3): when the stage logs, start the request's trace and write
/// what only the request head holds. Returns the stage's settings (`None`: OFF, and the
/// request pays this one test).
#[inline]
pub fn begin<'s, S: Session>(
    routed: &Routed<'s>,
    session: &S,
    rc: &mut RequestContext,
    taps: &mut ResponseTaps<'s>,
) -> Option<&'s ExecutionLogSettings> {
    match routed.stage.execution_log.as_ref() {
        None => {
            rc.execution.on = false;
            None
        }
        Some(settings) => {
            begin_logged(settings, routed, session, rc, taps);
            Some(settings)
        }
    }
}

#[cold]
fn begin_logged<'s, S: Session>(
    settings: &'s ExecutionLogSettings,
    routed: &Routed<'s>,
    session: &S,
    rc: &mut RequestContext,
    taps: &mut ResponseTaps<'s>,
) {
    let t = &mut rc.execution;
    t.on = true;
    t.data_trace = settings.data_trace;
    t.level = Some(settings.level);
    t.key_required = routed.route.api_key_required;
    t.head.clear();
    t.endpoint.clear();
    t.endpoint_headers.clear();
    t.failure.clear();
    rc.scratch.request_body.clear();
    if settings.data_trace {
        taps.execution = Some(ResponseTrace {
            settings,
            headers: String::new(),
            body: BodyCapture::default(),
        });
    }
    if settings.level != Level::Info {
        return;
    }
    let mut out = std::mem::take(&mut rc.execution.head);
    let id = request_id(rc);
    let extended = std::str::from_utf8(&rc.extended_request_id).unwrap_or("");
    let _ = writeln!(out, "({id}) Extended Request Id: {extended}");
    let _ = writeln!(out, "({id}) Starting execution for request: {id}");
    let _ = writeln!(
        out,
        "({id}) HTTP Method: {}, Resource Path: {}",
        String::from_utf8_lossy(session.method_bytes()),
        rc.resource_path()
    );
    let path = session.path();
    let _ = write!(out, "({id}) Method request path: {{");
    for (i, name) in routed.route.param_names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        push_escaped(&mut out, routed.param_at(i, path).unwrap_or("").as_bytes());
    }
    out.push_str("}\n");
    let _ = write!(out, "({id}) Method request query string: {{");
    let query = session.query().unwrap_or_default();
    for (i, pair) in query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(", ");
        }
        match pair.iter().position(|&b| b == b'=') {
            Some(eq) => {
                push_escaped(&mut out, pair.get(..eq).unwrap_or_default());
                out.push('=');
                push_escaped(&mut out, pair.get(eq + 1..).unwrap_or_default());
            }
            None => {
                push_escaped(&mut out, pair);
                out.push('=');
            }
        }
    }
    out.push_str("}\n");
    let _ = write!(out, "({id}) Method request headers: {{");
    let mut headers = String::new();
    for (name, value) in session.headers() {
        push_header(&mut headers, settings, name, value);
    }
    out.push_str(&headers);
    out.push_str("}\n");
    rc.execution.head = out;
}

/// The integration request is made (HTTP_PROXY): its URI (`scheme://host[:port]` and the
/// request target of the upstream `head`) and, with data tracing, its headers.
#[cold]
pub fn endpoint_request(
    rc: &mut RequestContext,
    settings: &ExecutionLogSettings,
    https: bool,
    host: &str,
    port: u16,
    head: &[u8],
) {
    let t = &mut rc.execution;
    t.endpoint.clear();
    let default_port = if https { 443 } else { 80 };
    let _ = write!(
        t.endpoint,
        "{}://{host}",
        if https { "https" } else { "http" }
    );
    if port != default_port {
        let _ = write!(t.endpoint, ":{port}");
    }
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let target = request_line
        .split(|&b| b == b' ')
        .nth(1)
        .unwrap_or_default();
    push_escaped(&mut t.endpoint, target);
    if !t.data_trace {
        return;
    }
    t.endpoint_headers.clear();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or_default();
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        if !t.endpoint_headers.is_empty() {
            t.endpoint_headers.push_str(", ");
        }
        push_escaped(&mut t.endpoint_headers, name);
        t.endpoint_headers.push('=');
        if settings.redacts(name) {
            t.endpoint_headers.push_str(REDACTED);
        } else {
            push_escaped(&mut t.endpoint_headers, value);
        }
    }
}

/// The request failed with `err` (before its gateway response is written).
#[cold]
pub fn failed(rc: &mut RequestContext, err: &GatewayError) {
    rc.execution.failure.clear();
    let _ = write!(rc.execution.failure, "{err}");
}

/// The request is over (`rc.finish()` done): write its lines (INFO: all of them; ERROR:
/// those of a request that failed) to the stage's destination.
#[cold]
pub fn complete(
    settings: &ExecutionLogSettings,
    snapshot: &Snapshot,
    rc: &mut RequestContext,
    taps: &mut ResponseTaps<'_>,
    next: Next,
) {
    let response = taps.execution.take();
    let text = render(settings, snapshot, rc, response.as_ref(), next);
    rc.execution.on = false;
    if let Some(text) = text {
        sink::send(&settings.destination, text);
    }
}

/// The request's lines (without a final newline), or `None` when nothing is to be logged.
fn render(
    settings: &ExecutionLogSettings,
    snapshot: &Snapshot,
    rc: &RequestContext,
    response: Option<&ResponseTrace<'_>>,
    next: Next,
) -> Option<String> {
    let t = &rc.execution;
    let gateway_error = rc.error.map(GatewayResponse::for_kind);
    let cut_short = next == Next::Abort && gateway_error.is_none();
    let failed = gateway_error.is_some() || cut_short;
    let info = settings.level == Level::Info;
    if !info && !failed {
        return None;
    }
    let id = request_id(rc);
    let mut out = String::with_capacity(1024);
    let mut var = String::new();
    let mut value = |name: &str| {
        var.clear();
        rc.variable(name, snapshot, &mut var);
        var.clone()
    };
    let (api, stage, route_key) = (value("apiId"), value("stage"), value("routeKey"));
    if info {
        out.push_str(&t.head);
    }
    let _ = writeln!(
        out,
        "({id}) Route chosen: API: {api}, Stage: {stage}, Route key: {route_key}"
    );
    let key_failed = t.key_required && rc.api_key.is_none();
    if info {
        let key_value = if settings.redacts(b"x-api-key") {
            REDACTED.to_string()
        } else {
            value("identity.apiKey")
        };
        let shown = if rc.api_key.is_some() {
            format!("{key_value} (id: {})", value("identity.apiKeyId"))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "({id}) Verifying Usage Plan for request: {id}. API Key: {shown} API Stage: {api}/{stage}"
        );
        if !t.key_required {
            let _ = writeln!(
                out,
                "({id}) API Key {shown} authorized because method '{route_key}' does not \
                 require API Key. Request will not contribute to throttle or quota limits"
            );
        } else if key_failed {
            let _ = writeln!(
                out,
                "({id}) API Key not authorized: method '{route_key}' requires an API Key \
                 of a usage plan for API Stage {api}/{stage}"
            );
        } else {
            let _ = writeln!(
                out,
                "({id}) Usage Plan check succeeded for API Key {shown} and API Stage {api}/{stage}"
            );
        }
        if !key_failed {
            match rc.throttle {
                Some(ThrottleLevel::Quota) => {
                    let _ = writeln!(out, "({id}) Usage plan quota exceeded: request refused");
                }
                Some(level) => {
                    let _ = writeln!(
                        out,
                        "({id}) Request throttled at level: {} (rate limit exceeded)",
                        level.as_str()
                    );
                }
                None => {
                    let _ = writeln!(out, "({id}) Throttle check succeeded");
                }
            }
        }
        match rc.cache {
            CacheStatus::Hit => {
                let _ = writeln!(
                    out,
                    "({id}) Stage cache: HIT (response served from the cache, integration skipped)"
                );
            }
            CacheStatus::Miss => {
                let _ = writeln!(out, "({id}) Stage cache: MISS");
            }
            CacheStatus::None => {}
        }
    }
    let forwarded = !t.endpoint.is_empty();
    if forwarded && settings.data_trace {
        let _ = write!(out, "({id}) Method request body before transformations: ");
        rc.scratch.request_body.write(&mut out);
        out.push('\n');
    }
    if forwarded && info {
        let _ = writeln!(out, "({id}) Endpoint request URI: {}", t.endpoint);
        if settings.data_trace {
            let _ = writeln!(
                out,
                "({id}) Endpoint request headers: {{{}}}",
                t.endpoint_headers
            );
        }
        let _ = writeln!(out, "({id}) Sending request to {}", t.endpoint);
    }
    if rc.integration.status != 0 && (info || failed) {
        let ms = rc.integration.latency.map_or(0, |d| d.as_millis());
        let _ = writeln!(
            out,
            "({id}) Received response. Status: {}, Integration latency: {ms} ms",
            rc.integration.status
        );
    }
    if let Some(r) = response.filter(|r| r.body.total > 0 || !r.headers.is_empty()) {
        let _ = writeln!(out, "({id}) Endpoint response headers: {{{}}}", r.headers);
        let _ = write!(
            out,
            "({id}) Endpoint response body before transformations: "
        );
        r.body.write(&mut out);
        out.push('\n');
    }
    if let Some(g) = gateway_error {
        let cause = if rc.integration.error.is_some() {
            "integration error"
        } else if g.status >= 500 {
            "an internal error"
        } else {
            "a client error"
        };
        let _ = writeln!(out, "({id}) Execution failed due to {cause}: {}", t.failure);
        let _ = writeln!(
            out,
            "({id}) Gateway response type: {} with status code: {}",
            g.response_type, g.status
        );
    } else if cut_short {
        let _ = writeln!(
            out,
            "({id}) Execution failed: the response was cut short after {} body bytes \
             (a connection failed mid-response)",
            rc.response_length
        );
    } else if info {
        let _ = writeln!(out, "({id}) Successfully completed execution");
    }
    let ms = rc.response_latency.map_or(0, |d| d.as_millis());
    let _ = write!(
        out,
        "({id}) Method completed with status: {}, Latency: {ms} ms",
        rc.status
    );
    Some(out)
}

fn request_id(rc: &RequestContext) -> &str {
    std::str::from_utf8(&rc.request_id).unwrap_or("-")
}

/// `Name=value` (or `Name=****`) appended to a `{..}` header list.
fn push_header(out: &mut String, settings: &ExecutionLogSettings, name: &[u8], value: &[u8]) {
    if !out.is_empty() {
        out.push_str(", ");
    }
    push_escaped(out, name);
    out.push('=');
    if settings.redacts(name) {
        out.push_str(REDACTED);
    } else {
        push_escaped(out, value);
    }
}

/// `bytes` as text on one line: invalid UTF-8 replaced (U+FFFD), control characters
/// escaped (`\n`, `\r`, `\t`, `\u{..}`) so that a request can never forge a line.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::execution_log::{Destination, DEFAULT_REDACTED};

    fn settings() -> ExecutionLogSettings {
        ExecutionLogSettings {
            level: Level::Info,
            data_trace: true,
            redact_headers: DEFAULT_REDACTED.iter().map(|s| s.to_string()).collect(),
            destination: Destination::Stderr,
        }
    }

    #[test]
    fn a_capture_keeps_the_first_kib_and_says_it_truncated() {
        let mut c = BodyCapture::default();
        c.push(&[b'a'; 1000]);
        c.push(&[b'b'; 100]);
        let mut s = String::new();
        c.write(&mut s);
        assert_eq!(s.len(), BODY_LIMIT + TRUNCATED.len());
        assert!(s.starts_with(&"a".repeat(1000)));
        assert!(s.ends_with(&format!("{}{TRUNCATED}", "b".repeat(24))));
        c.clear();
        c.push(&[b'x'; BODY_LIMIT]);
        let mut s = String::new();
        c.write(&mut s);
        assert_eq!(s, "x".repeat(BODY_LIMIT), "exactly 1 KiB is whole");
    }

    #[test]
    fn headers_are_redacted_in_any_case_and_escaped() {
        let s = settings();
        let mut out = String::new();
        push_header(&mut out, &s, b"Accept", b"*/*");
        push_header(&mut out, &s, b"AUTHORIZATION", b"Bearer secret");
        push_header(&mut out, &s, b"x-api-key", b"k-secret");
        push_header(&mut out, &s, b"x-odd", b"a\r\nb\x01");
        assert_eq!(
            out,
            "Accept=*/*, AUTHORIZATION=****, x-api-key=****, x-odd=a\\r\\nb\\u{1}"
        );
    }

    #[test]
    fn endpoint_request_uri_and_headers_come_from_the_upstream_head() {
        let mut rc = RequestContext::default();
        rc.execution.data_trace = true;
        let head = b"GET /items/1?a=b HTTP/1.1\r\nhost: up\r\nauthorization: Bearer x\r\n\r\n";
        let s = settings();
        endpoint_request(&mut rc, &s, false, "up", 8080, head);
        assert_eq!(rc.execution.endpoint, "http://up:8080/items/1?a=b");
        assert_eq!(rc.execution.endpoint_headers, "host=up, authorization=****");
        endpoint_request(&mut rc, &s, true, "up", 443, head);
        assert_eq!(rc.execution.endpoint, "https://up/items/1?a=b");
    }
}
