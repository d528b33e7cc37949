//! Access logs: once a request is finished, its stage's format is rendered from the
//! request context into this worker's buffer for the stage's destination
//! (`observe::access_log` writes it, on its own thread).
//!
//! Rendering allocates nothing in the steady state: the numbers and ids most formats hold
//! are written straight into the buffer (no `core::fmt`), the rest go through
//! `RequestContext::variable` into a reused string and are escaped as the format wants. A
//! variable without a value is written `-`, as API Gateway does.

use std::cell::RefCell;
use std::time::Duration;

use crate::config::access_log::{AccessLogFormat, Escape, Segment, CONTEXT_VARIABLES};
use crate::config::snapshot::Stage;
use crate::config::Snapshot;
use crate::observe::access_log::{Destination, WorkerLog};
use crate::pipeline::context::RequestContext;

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
const STATUS: usize = index_of("status");
const RESPONSE_LENGTH: usize = index_of("responseLength");
const RESPONSE_LATENCY: usize = index_of("responseLatency");
const INTEGRATION_LATENCY: usize = index_of("integrationLatency");
const INTEGRATION_LATENCY_2: usize = index_of("integration.latency");
const INTEGRATION_STATUS: usize = index_of("integrationStatus");
const INTEGRATION_STATUS_2: usize = index_of("integration.status");
const REQUEST_TIME_EPOCH: usize = index_of("requestTimeEpoch");

/// Append one line (with its `\n`) for `rc` in `format` to `out`.
pub fn render(
    out: &mut Vec<u8>,
    format: &AccessLogFormat,
    rc: &RequestContext,
    snapshot: &Snapshot,
    value: &mut String,
) {
    for segment in &format.segments {
        match segment {
            Segment::Literal(text) => out.extend_from_slice(text.as_bytes()),
            Segment::Variable { index, name } => {
                let start = out.len();
                if !render_fast(out, *index, rc) {
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

/// The variables that need no escaping, written without `core::fmt`; false for the others.
fn render_fast(out: &mut Vec<u8>, index: usize, rc: &RequestContext) -> bool {
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    match index {
        REQUEST_ID => out.extend_from_slice(&rc.request_id),
        EXTENDED_REQUEST_ID => out.extend_from_slice(&rc.extended_request_id),
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
        REQUEST_TIME_EPOCH => push_u64(out, rc.request_time_epoch_ms()),
        _ => return false,
    }
    true
}

/// Decimal digits of `v`.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `v` escaped for `mode` (see `Escape`).
fn escape(out: &mut Vec<u8>, v: &[u8], mode: Escape) {
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
        for index in [
            REQUEST_ID,
            EXTENDED_REQUEST_ID,
            STATUS,
            RESPONSE_LENGTH,
            RESPONSE_LATENCY,
            INTEGRATION_LATENCY,
            INTEGRATION_LATENCY_2,
            INTEGRATION_STATUS,
            INTEGRATION_STATUS_2,
        ] {
            let mut fast = Vec::new();
            assert!(render_fast(&mut fast, index, &rc));
            let mut slow = String::new();
            assert!(rc.variable(CONTEXT_VARIABLES[index], &snap, &mut slow));
            assert_eq!(fast, slow.as_bytes(), "{}", CONTEXT_VARIABLES[index]);
        }
        // The epoch is read off the clock on each call: equal to within a second.
        let mut fast = Vec::new();
        render_fast(&mut fast, REQUEST_TIME_EPOCH, &rc);
        let fast: u64 = std::str::from_utf8(&fast)
            .expect("ascii")
            .parse()
            .expect("number");
        assert!(rc.request_time_epoch_ms().abs_diff(fast) < 1000);
        // A whole line: literal text, values, and `-` for the empty ones.
        let format = crate::config::access_log::compile(
            "$context.requestId $context.status $context.integration.error $context.stage",
        )
        .expect("format");
        let mut line = Vec::new();
        let mut value = String::new();
        render(&mut line, &format, &rc, &snap, &mut value);
        let id = std::str::from_utf8(&rc.request_id).expect("ascii");
        assert_eq!(line, format!("{id} 201 - prod\n").as_bytes());
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
