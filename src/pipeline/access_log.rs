//! Access logs: once a request is finished, its stage's format is rendered from the
//! request context into this worker's buffer for the stage's destination
//! (`observe::access_log` writes it, on its own thread).
//!
//! Rendering allocates nothing in the steady state: the numbers and ids most formats hold
//! are written straight into the buffer (no `core::fmt`), the rest go through
//! `RequestContext::variable` into a reused string and are escaped as the format wants. A
//! variable without a value is written `-`, as API Gateway does.

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::access_log::{AccessLogFormat, Escape, Segment, CONTEXT_VARIABLES};
use crate::config::snapshot::Stage;
use crate::config::Snapshot;
use crate::error::GatewayResponse;
use crate::http::host::strip_port;
use crate::observe::access_log::{Destination, WorkerLog};
use crate::pipeline::context::{CacheStatus, RequestContext};

/// A worker's access log state: its buffers and a reused string for variable values.
#[derive(Default)]
pub struct AccessLogWorker {
    log: RefCell<WorkerLog>,
    value: RefCell<String>,
}

impl AccessLogWorker {
    /// Write to the destinations of `snapshot`'s stages from now on (at start and on
    /// reload: destinations kept keep their buffers and files).
    pub fn configure(&self, snapshot: &Snapshot) {
        let mut destinations: Vec<Destination> = Vec::new();
        for api in &snapshot.apis {
            for stage in api.stages.values() {
                if let Some(log) = &stage.access_log {
                    if !destinations.contains(&log.destination) {
                        destinations.push(log.destination.clone());
                    }
                }
            }
        }
        self.log.borrow_mut().set_destinations(&destinations);
    }

    /// Called on the worker's control tick: hands buffered lines to the writer every
    /// `FLUSH_INTERVAL`.
    pub fn tick(&self) {
        self.log.borrow_mut().tick(std::time::Instant::now());
    }

    /// Hand every buffered line to the writer now (the worker is stopping).
    pub fn flush(&self) {
        self.log.borrow_mut().flush();
    }

    /// Log the finished request `rc`, routed to `stage` (none: refused before routing, not
    /// logged, as API Gateway logs per stage).
    pub fn record(&self, snapshot: &Snapshot, stage: Option<&Stage>, rc: &RequestContext) {
        let Some(settings) = stage.and_then(|s| s.access_log.as_ref()) else {
            return;
        };
        let mut log = self.log.borrow_mut();
        // A request that began before a reload removed its destination is not logged.
        let Some(slot) = log.slot(&settings.destination) else {
            return;
        };
        let mut value = self.value.borrow_mut();
        if let Some(buf) = log.buffer(slot) {
            render(buf, &settings.format, rc, snapshot, &mut value);
        }
        log.line_written(slot);
    }
}

const fn index_of(name: &str) -> usize {
    let mut i = 0;
    while i < CONTEXT_VARIABLES.len() {
        let v = CONTEXT_VARIABLES[i].as_bytes();
        let n = name.as_bytes();
        if v.len() == n.len() {
            let mut j = 0;
            while j < v.len() && v[j] == n[j] {
                j += 1;
            }
            if j == v.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a $context variable")
}

const REQUEST_ID: usize = index_of("requestId");
const EXTENDED_REQUEST_ID: usize = index_of("extendedRequestId");
const SOURCE_IP: usize = index_of("identity.sourceIp");
const USER_AGENT: usize = index_of("identity.userAgent");
const API_KEY: usize = index_of("identity.apiKey");
const API_KEY_ID: usize = index_of("identity.apiKeyId");
const CALLER: usize = index_of("identity.caller");
const USER: usize = index_of("identity.user");
const REQUEST_TIME: usize = index_of("requestTime");
const REQUEST_TIME_EPOCH: usize = index_of("requestTimeEpoch");
const HTTP_METHOD: usize = index_of("httpMethod");
const PATH: usize = index_of("path");
const RESOURCE_PATH: usize = index_of("resourcePath");
const ROUTE_KEY: usize = index_of("routeKey");
const PROTOCOL: usize = index_of("protocol");
const STATUS: usize = index_of("status");
const RESPONSE_LENGTH: usize = index_of("responseLength");
const RESPONSE_LATENCY: usize = index_of("responseLatency");
const INTEGRATION_LATENCY: usize = index_of("integrationLatency");
const INTEGRATION_LATENCY_2: usize = index_of("integration.latency");
const INTEGRATION_STATUS: usize = index_of("integrationStatus");
const INTEGRATION_STATUS_2: usize = index_of("integration.status");
const INTEGRATION_ERROR: usize = index_of("integration.error");
const ERROR_MESSAGE: usize = index_of("error.message");
const ERROR_RESPONSE_TYPE: usize = index_of("error.responseType");
const API_ID: usize = index_of("apiId");
const STAGE: usize = index_of("stage");
const DOMAIN_NAME: usize = index_of("domainName");
const PRINCIPAL_ID: usize = index_of("authorizer.principalId");
const CACHE_STATUS: usize = index_of("cacheStatus");
const THROTTLE_LEVEL: usize = index_of("throttleLevel");
const TRACE_ID: usize = index_of("traceId");

/// Append one line (with its `\n`) for `rc` in `format` to `out`.
pub fn render(
    out: &mut Vec<u8>,
    format: &AccessLogFormat,
    rc: &RequestContext,
    snapshot: &Snapshot,
    value: &mut String,
) {
    // The wall clock is read once per line (requestTime and requestTimeEpoch agree).
    let mut epoch_ms = None;
    for segment in &format.segments {
        match segment {
            Segment::Literal(text) => out.extend_from_slice(text.as_bytes()),
            Segment::Variable { index, name } => {
                let start = out.len();
                if !render_direct(out, *index, rc, snapshot, format.escape, &mut epoch_ms) {
                    value.clear();
                    rc.variable(name, snapshot, value);
                    escape(out, value.as_bytes(), format.escape);
                }
                if out.len() == start {
                    out.push(b'-');
                }
            }
        }
    }
    out.push(b'\n');
}

/// Write variable `index` straight from the context (no `core::fmt`, no string match);
/// false for the rare ones left to `RequestContext::variable` (client certificate fields,
/// `domainPrefix`, the authorizer families, an IPv6 source). Must write what `variable`
/// writes (a unit test compares them).
fn render_direct(
    out: &mut Vec<u8>,
    index: usize,
    rc: &RequestContext,
    snapshot: &Snapshot,
    mode: Escape,
    epoch_ms: &mut Option<u64>,
) -> bool {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    let mut epoch = || *epoch_ms.get_or_insert_with(|| rc.request_time_epoch_ms());
    let text = |out: &mut Vec<u8>, s: &str| escape(out, s.as_bytes(), mode);
    match index {
        REQUEST_ID => out.extend_from_slice(&rc.request_id),
        EXTENDED_REQUEST_ID => out.extend_from_slice(&rc.extended_request_id),
        SOURCE_IP => match rc.source_ip {
            IpAddr::V4(a) => {
                let [a, b, c, d] = a.octets();
                for (i, o) in [a, b, c, d].into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    push_u64(out, u64::from(o));
                }
            }
            IpAddr::V6(_) => return false,
        },
        USER_AGENT => text(out, rc.user_agent()),
        API_KEY => text(out, rc.api_key_value()),
        API_KEY_ID => {
            if let Some(k) = rc.api_key.and_then(|k| snapshot.api_keys.get(k)) {
                text(out, &k.id)
            }
        }
        CALLER | USER if rc.authorizer.iam.is_none() => {}
        REQUEST_TIME => push_clf_time(out, epoch() / 1000),
        REQUEST_TIME_EPOCH => push_u64(out, epoch()),
        HTTP_METHOD => text(out, rc.method_text()),
        PATH => text(out, rc.path()),
        RESOURCE_PATH => text(out, rc.resource_path()),
        ROUTE_KEY => text(out, rc.route_key()),
        PROTOCOL => text(out, rc.protocol.as_str()),
        STATUS => push_u64(out, u64::from(rc.status)),
        RESPONSE_LENGTH => push_u64(out, rc.response_length),
        RESPONSE_LATENCY => {
            if let Some(v) = ms(rc.response_latency) {
                push_u64(out, v)
            }
        }
        INTEGRATION_LATENCY | INTEGRATION_LATENCY_2 => {
            if let Some(v) = ms(rc.integration.latency) {
                push_u64(out, v)
            }
        }
        INTEGRATION_STATUS | INTEGRATION_STATUS_2 => {
            if rc.integration.status != 0 {
                push_u64(out, u64::from(rc.integration.status))
            }
        }
        INTEGRATION_ERROR => {
            if let Some(e) = rc.integration.error {
                text(out, e)
            }
        }
        ERROR_MESSAGE => match (&rc.error_message, rc.error) {
            (Some(m), _) => text(out, m),
            (None, Some(kind)) => text(out, GatewayResponse::for_kind(kind).message),
            (None, None) => {}
        },
        ERROR_RESPONSE_TYPE => {
            if let Some(kind) = rc.error {
                text(out, GatewayResponse::for_kind(kind).response_type)
            }
        }
        API_ID => text(out, rc.api_id()),
        STAGE => text(out, rc.stage_name()),
        DOMAIN_NAME => match rc.domain.and_then(|d| snapshot.domains.get(d)) {
            Some(d) => text(out, &d.name),
            None => text(out, strip_port(rc.host())),
        },
        PRINCIPAL_ID => text(out, &rc.authorizer.principal_id),
        CACHE_STATUS => match rc.cache {
            CacheStatus::None => {}
            CacheStatus::Hit => out.extend_from_slice(b"HIT"),
            CacheStatus::Miss => out.extend_from_slice(b"MISS"),
        },
        THROTTLE_LEVEL => {
            if let Some(t) = rc.throttle {
                text(out, t.as_str())
            }
        }
        TRACE_ID => {
            // The X-Amzn-Trace-Id passed to the integration (`pipeline::trace`), then the
            // caller's other fields.
            let t = &rc.trace;
            use crate::observe::trace::header::{format_xray, xray_extras};
            out.extend_from_slice(&format_xray(&t.trace_id, &t.client_span_id, t.sampled));
            if t.xray_in {
                for field in xray_extras(rc.trace_id().as_bytes()) {
                    out.push(b';');
                    escape(out, field, mode);
                }
            }
        }
        _ => return false,
    }
    true
}

/// "00" to "99".
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Decimal digits of `v` (two at a time).
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + v as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// Two digits, zero-padded.
fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `$context.requestTime`: CLF form, `dd/MMM/yyyy:HH:mm:ss +0000`.
fn push_clf_time(out: &mut Vec<u8>, secs: u64) {
    let (y, m, d, hh, mm, ss) = crate::time::civil_from_unix(secs as i64);
    push_2(out, d);
    out.push(b'/');
    out.extend_from_slice(crate::time::month_name(m).as_bytes());
    out.push(b'/');
    push_u64(out, y.max(0) as u64);
    for v in [hh, mm, ss] {
        out.push(b':');
        push_2(out, v);
    }
    out.extend_from_slice(b" +0000");
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `v` escaped for `mode` (see `Escape`).
fn escape(out: &mut Vec<u8>, v: &[u8], mode: Escape) {
    // The usual case: nothing to escape (one table lookup per byte).
    let bit = mode_bit(mode);
    let Some(first) = v.iter().position(|&b| SPECIAL[usize::from(b)] & bit != 0) else {
        out.extend_from_slice(v);
        return;
    };
    if mode == Escape::Csv {
        // The whole value is quoted.
        return escape_slow(out, v, mode);
    }
    out.extend_from_slice(&v[..first]);
    escape_slow(out, &v[first..], mode)
}

const fn mode_bit(mode: Escape) -> u8 {
    match mode {
        Escape::Plain => 1,
        Escape::Clf => 2,
        Escape::Json => 4,
        Escape::Csv => 8,
        Escape::Xml => 16,
    }
}

/// Per byte, the modes (`mode_bit`) that escape it.
const SPECIAL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let control = c < 0x20 || c == 0x7f;
        let mut m = 0;
        if control || c == b'\\' {
            m |= 1 | 2 | 4;
        }
        if c == b'"' {
            m |= 2 | 4 | 8 | 16;
        }
        if control || c == b',' {
            m |= 8;
        }
        if control || c == b'&' || c == b'<' || c == b'>' || c == b'\'' {
            m |= 16;
        }
        t[b] = m;
        b += 1;
    }
    t
};

/// Escape every byte of `v` that `mode` escapes.
fn escape_slow(out: &mut Vec<u8>, v: &[u8], mode: Escape) {
    match mode {
        Escape::Plain | Escape::Clf => {
            for &b in v {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'"' if mode == Escape::Clf => out.extend_from_slice(b"\\\""),
                    0..=0x1f | 0x7f => {
                        out.extend_from_slice(b"\\x");
                        out.push(HEX[usize::from(b >> 4)]);
                        out.push(HEX[usize::from(b & 15)]);
                    }
                    _ => out.push(b),
                }
            }
        }
        Escape::Json => {
            for &b in v {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0..=0x1f | 0x7f => {
                        out.extend_from_slice(b"\\u00");
                        out.push(HEX[usize::from(b >> 4)]);
                        out.push(HEX[usize::from(b & 15)]);
                    }
                    _ => out.push(b),
                }
            }
        }
        Escape::Csv => {
            let quote = v
                .iter()
                .any(|&b| b == b',' || b == b'"' || b < 0x20 || b == 0x7f);
            if !quote {
                out.extend_from_slice(v);
                return;
            }
            out.push(b'"');
            for &b in v {
                match b {
                    b'"' => out.extend_from_slice(b"\"\""),
                    // Kept on one line: control characters become spaces.
                    0..=0x1f | 0x7f => out.push(b' '),
                    _ => out.push(b),
                }
            }
            out.push(b'"');
        }
        Escape::Xml => {
            for &b in v {
                match b {
                    b'&' => out.extend_from_slice(b"&amp;"),
                    b'<' => out.extend_from_slice(b"&lt;"),
                    b'>' => out.extend_from_slice(b"&gt;"),
                    b'"' => out.extend_from_slice(b"&quot;"),
                    b'\'' => out.extend_from_slice(b"&apos;"),
                    // Not allowed in XML 1.0.
                    0..=0x1f | 0x7f => out.push(b'?'),
                    _ => out.push(b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(v: &str, mode: Escape) -> String {
        let mut out = Vec::new();
        escape(&mut out, v.as_bytes(), mode);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_table_escapes_exactly_what_the_slow_path_changes() {
        for mode in [
            Escape::Plain,
            Escape::Clf,
            Escape::Json,
            Escape::Csv,
            Escape::Xml,
        ] {
            for b in 0..=255u8 {
                if b >= 0x80 {
                    continue;
                }
                let mut slow = Vec::new();
                escape_slow(&mut slow, &[b], mode);
                let special = SPECIAL[usize::from(b)] & mode_bit(mode) != 0;
                assert_eq!(special, slow != [b], "{mode:?} {b:#x}");
            }
        }
    }

    #[test]
    fn clf_time_without_fmt() {
        let mut out = Vec::new();
        // 2024-02-29T13:05:09Z
        push_clf_time(&mut out, 1_709_211_909);
        assert_eq!(out, b"29/Feb/2024:13:05:09 +0000");
    }

    #[test]
    fn numbers_without_fmt() {
        for v in [0u64, 7, 10, 404, 1_234_567, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn json_escaping_keeps_the_line_valid() {
        let v = "a \"quoted\" \\ agent\u{1}\n/é";
        let s = format!("{{\"ua\":\"{}\"}}", escaped(v, Escape::Json));
        let parsed: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(parsed["ua"], v);
    }

    #[test]
    fn csv_escaping_quotes_what_needs_it() {
        assert_eq!(escaped("plain", Escape::Csv), "plain");
        assert_eq!(escaped("a,b", Escape::Csv), "\"a,b\"");
        assert_eq!(escaped("say \"hi\"", Escape::Csv), "\"say \"\"hi\"\"\"");
        assert_eq!(escaped("a\tb", Escape::Csv), "\"a b\"");
    }

    #[test]
    fn xml_escaping_uses_entities() {
        assert_eq!(
            escaped("<a href=\"x\">&'", Escape::Xml),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert_eq!(escaped("a\u{1}b", Escape::Xml), "a?b");
    }

    #[test]
    fn plain_and_clf_escaping_keep_one_line() {
        assert_eq!(escaped("a\nb\\c\"d", Escape::Plain), "a\\x0ab\\\\c\"d");
        assert_eq!(escaped("say \"hi\"", Escape::Clf), "say \\\"hi\\\"");
    }

    /// The fast path writes what `RequestContext::variable` writes, for a real request.
    #[test]
    fn fast_values_equal_the_context_lookup() {
        use crate::pipeline::session::memory::MemorySession;
        use std::sync::Arc;
        let text = "
listeners: [{name: p, bind: '127.0.0.1:0', default_api: d}]
apis:
  - id: d
    routes:
      - route: GET /hello
        integration: {type: MOCK, status: 201, body: hi}
    stages:
      - name: prod
";
        let snap = Arc::new(
            crate::config::validate::from_str(std::path::Path::new("t.yaml"), text)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let (services, _limits) = crate::services::Services::start(&snap, 1);
        let ctx = crate::pipeline::worker::WorkerCtx::new(0, snap.clone(), Arc::new(services));
        let mut rc = RequestContext::default();
        let mut session = MemorySession::new("GET", "/prod/hello", Some("localhost"));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(crate::pipeline::run(&ctx, &mut session, &mut rc));
        rc.integration.status = 202;
        rc.integration.latency = Some(Duration::from_millis(1234));
        rc.integration.error = Some("timeout");
        rc.error = Some(crate::error::ErrorKind::Throttled);
        rc.throttle = Some(crate::pipeline::context::ThrottleLevel::Stage);
        rc.cache = CacheStatus::Miss;
        let mut direct = 0;
        for (index, name) in CONTEXT_VARIABLES.iter().enumerate() {
            let mut fast = Vec::new();
            let mut epoch = None;
            if !render_direct(&mut fast, index, &rc, &snap, Escape::Plain, &mut epoch) {
                continue;
            }
            direct += 1;
            let mut slow = String::new();
            assert!(rc.variable(name, &snap, &mut slow));
            if *name == "requestTime" || *name == "requestTimeEpoch" {
                // Read off the clock on each call: the same length, the same shape.
                assert_eq!(fast.len(), slow.len(), "{name}");
                continue;
            }
            assert_eq!(String::from_utf8_lossy(&fast), slow, "{name}");
        }
        assert_eq!(
            direct,
            CONTEXT_VARIABLES.len() - 15,
            "the rare ones (and the authorizers' and IAM identities') go to `variable`"
        );
        // A whole line: literal text, values, and `-` for the empty ones.
        let format = crate::config::access_log::compile(
            "$context.requestId $context.status $context.integration.error $context.stage",
        )
        .expect("format");
        let mut line = Vec::new();
        let mut value = String::new();
        render(&mut line, &format, &rc, &snap, &mut value);
        let id = std::str::from_utf8(&rc.request_id).expect("ascii");
        assert_eq!(line, format!("{id} 201 timeout prod\n").as_bytes());
    }

    #[test]
    fn the_fast_indices_name_their_variables() {
        assert_eq!(CONTEXT_VARIABLES[REQUEST_ID], "requestId");
        assert_eq!(CONTEXT_VARIABLES[STATUS], "status");
        assert_eq!(
            CONTEXT_VARIABLES[INTEGRATION_STATUS_2],
            "integration.status"
        );
        assert_eq!(CONTEXT_VARIABLES[REQUEST_TIME_EPOCH], "requestTimeEpoch");
    }
}
