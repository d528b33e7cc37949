//! The OTLP/HTTP span exporter: ONE background thread (not a worker) takes finished spans
//! from a bounded queue the workers feed with `try_send`, batches them, encodes an OTLP
//! `ExportTraceServiceRequest` (protobuf, the `opentelemetry-proto` message types) and POSTs
//! it as `application/x-protobuf` to the collector with a blocking HTTP/1.1 client (connect,
//! write and read timeouts). A full queue, a failed or slow export: spans are dropped and
//! counted (`spans_dropped`), requests never wait; the count is logged (at most once a
//! second, when it grew). At shutdown, `flush` sends what is left (bounded in time).
//!
//! Only `http://` endpoints (a collector or agent beside the gateway; TLS to a remote
//! collector is that agent's job).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// Where and how spans are exported (`server.tracing`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterConfig {
    pub endpoint: Endpoint,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Spans the queue from the workers holds (fixed when the exporter starts).
    pub queue: usize,
    /// Spans per export request, at most.
    pub batch: usize,
    /// A batch that is not full goes out this long after its first span.
    pub flush_interval: Duration,
    /// Connect, write and read timeout of one export request.
    pub timeout: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            endpoint: Endpoint {
                url: DEFAULT_ENDPOINT.into(),
                authority: "127.0.0.1:4318".into(),
                host: "127.0.0.1:4318".into(),
                path: "/v1/traces".into(),
            },
            service_name: "tollgate".into(),
            queue: 2048,
            batch: 512,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }
}

/// An `http://host[:port]/path` collector URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// `host:port` to connect to.
    pub authority: String,
    /// The Host header.
    pub host: String,
    pub path: String,
}

/// OTLP/HTTP's default traces endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4318/v1/traces";

impl Endpoint {
    /// Split an `http://` URL; the reason when it is not one.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("`{url}` is not an http:// URL (OTLP/HTTP, e.g. `{DEFAULT_ENDPOINT}`)")
        })?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/v1/traces"),
        };
        if host.is_empty() || host.contains('@') || host.bytes().any(|b| b <= b' ') {
            return Err(format!("`{url}` has no usable host"));
        }
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "`{url}`: the path holds spaces or control characters"
            ));
        }
        let has_port = match host.rfind(':') {
            Some(i) => !host[i..].contains(']'),
            None => false,
        };
        if has_port {
            let port = &host[host.rfind(':').map_or(0, |i| i + 1)..];
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(format!("`{url}`: `{port}` is not a port"));
            }
        }
        let authority = if has_port {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(Endpoint {
            url: url.to_string(),
            authority,
            host: host.to_string(),
            path: path.to_string(),
        })
    }
}

static QUEUE: OnceLock<Sender<Vec<Span>>> = OnceLock::new();
static SETTINGS: Mutex<Option<Arc<ExporterConfig>>> = Mutex::new(None);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static EXPORTED: AtomicU64 = AtomicU64::new(0);
/// Set by `flush`: send what is batched now.
static FLUSH: AtomicBool = AtomicBool::new(false);
/// Set by the exporter once flushing left nothing queued or batched.
static FLUSHED: AtomicBool = AtomicBool::new(false);

/// Spans dropped since the process started: the queue was full (the collector slow or
/// down) or their export failed.
pub fn spans_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Spans the collector accepted since the process started.
pub fn spans_exported() -> u64 {
    EXPORTED.load(Ordering::Relaxed)
}

/// Start the exporter thread with `config`, or (already started) switch it to `config` (a
/// reload; the queue keeps the size it started with).
pub fn configure(config: ExporterConfig) {
    let queue = config.queue.max(1);
    if let Ok(mut s) = SETTINGS.lock() {
        *s = Some(Arc::new(config));
    }
    QUEUE.get_or_init(|| {
        let (tx, rx) = bounded::<Vec<Span>>(queue);
        let spawned = std::thread::Builder::new()
            .name("tollgate-trace".into())
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            crate::log!("tracing: could not start the exporter thread ({e}); spans are dropped");
        }
        tx
    });
}

/// Hand a request's spans to the exporter (never blocks): false, and the spans counted as
/// dropped, when the queue is full or the exporter is not running.
pub fn submit(spans: Vec<Span>) -> bool {
    let n = spans.len() as u64;
    let sent = match QUEUE.get() {
        Some(tx) => match tx.try_send(spans) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        },
        None => false,
    };
    if !sent {
        DROPPED.fetch_add(n, Ordering::Relaxed);
    }
    sent
}

/// At shutdown, after the workers stopped: export what is queued and batched, waiting at
/// most `limit` (a collector that is down costs at most that).
pub fn flush(limit: Duration) {
    let Some(tx) = QUEUE.get() else { return };
    FLUSH.store(true, Ordering::SeqCst);
    // Wakes the exporter if it waits for spans (a full queue: it is busy anyway).
    let _ = tx.try_send(Vec::new());
    let until = Instant::now() + limit;
    while Instant::now() < until && !FLUSHED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn settings() -> Option<Arc<ExporterConfig>> {
    SETTINGS.lock().ok().and_then(|s| s.clone())
}

/// The exporter thread: batch, encode, POST; until every sender is gone.
fn run(rx: Receiver<Vec<Span>>) {
    let mut batch: Vec<Span> = Vec::new();
    let mut first_at: Option<Instant> = None;
    let mut logged_dropped = 0u64;
    let mut last_log = Instant::now() - Duration::from_secs(10);
    loop {
        let Some(cfg) = settings() else { return };
        let flushing = FLUSH.load(Ordering::SeqCst);
        let wait = match first_at {
            _ if flushing => Duration::from_millis(5),
            Some(t) => cfg
                .flush_interval
                .saturating_sub(t.elapsed())
                .min(Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        let mut closed = false;
        match rx.recv_timeout(wait) {
            Ok(spans) => {
                first_at.get_or_insert_with(Instant::now);
                batch.extend(spans);
                while batch.len() < cfg.batch {
                    match rx.try_recv() {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => closed = true,
        }
        let due = flushing || first_at.is_some_and(|t| t.elapsed() >= cfg.flush_interval);
        if !batch.is_empty() && (batch.len() >= cfg.batch || due || closed) {
            let spans = std::mem::take(&mut batch);
            first_at = None;
            let n = spans.len() as u64;
            let body = encode(&cfg, spans);
            match post(&cfg.endpoint, &body, cfg.timeout) {
                Ok(()) => {
                    EXPORTED.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    DROPPED.fetch_add(n, Ordering::Relaxed);
                    if last_log.elapsed() >= Duration::from_secs(1) {
                        crate::log!(
                            "tracing: export of {n} spans to {} failed: {e}",
                            cfg.endpoint.url
                        );
                    }
                }
            }
        }
        let dropped = spans_dropped();
        if dropped != logged_dropped && last_log.elapsed() >= Duration::from_secs(1) {
            crate::log!(
                "tracing: {} spans dropped ({dropped} since start): the collector at {} is slow or down",
                dropped - logged_dropped,
                cfg.endpoint.url
            );
            logged_dropped = dropped;
            last_log = Instant::now();
        }
        if flushing && batch.is_empty() && rx.is_empty() {
            FLUSHED.store(true, Ordering::SeqCst);
        }
        if closed {
            return;
        }
    }
}

/// One OTLP export request for `spans`, encoded.
pub fn encode(cfg: &ExporterConfig, spans: Vec<Span>) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attr("service.name", &cfg.service_name)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tollgate".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    request.encode_to_vec()
}

/// A string attribute.
pub fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// POST `body` to the collector; Ok on a 2xx answer.
fn post(ep: &Endpoint, body: &[u8], timeout: Duration) -> Result<(), String> {
    let addr = ep
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("resolve {}: {e}", ep.authority))?
        .next()
        .ok_or_else(|| format!("{} has no address", ep.authority))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\nuser-agent: tollgate/{}\r\n\r\n",
        ep.path,
        ep.host,
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| format!("send: {e}"))?;
    let started = Instant::now();
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        if started.elapsed() > timeout || got.len() > 8192 {
            return Err("no response status".into());
        }
        match s.read(&mut buf) {
            Ok(0) => return Err("connection closed before a response".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&got);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| "malformed response".to_string())?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_split() {
        let e = Endpoint::parse(DEFAULT_ENDPOINT).expect("ok");
        assert_eq!(e.authority, "127.0.0.1:4318");
        assert_eq!(e.host, "127.0.0.1:4318");
        assert_eq!(e.path, "/v1/traces");
        let e = Endpoint::parse("http://collector").expect("ok");
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("collector:80", "/v1/traces")
        );
        let e = Endpoint::parse("http://[::1]:4318/x").expect("ok");
        assert_eq!(e.authority, "[::1]:4318");
        assert!(Endpoint::parse("https://c:4318/v1/traces").is_err());
        assert!(Endpoint::parse("http:///v1/traces").is_err());
        assert!(Endpoint::parse("http://c:0/").is_err());
        assert!(Endpoint::parse("http://c:99999/").is_err());
        assert!(Endpoint::parse("http://c:1/a b").is_err());
    }

    #[test]
    fn an_export_request_decodes_back() {
        let cfg = ExporterConfig {
            endpoint: Endpoint::parse(DEFAULT_ENDPOINT).expect("ok"),
            service_name: "svc".into(),
            queue: 4,
            batch: 4,
            flush_interval: Duration::from_millis(10),
            timeout: Duration::from_millis(10),
        };
        let span = Span {
            name: "GET /x".into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![int_attr("http.response.status_code", 200)],
            ..Default::default()
        };
        let body = encode(&cfg, vec![span.clone()]);
        let back = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes");
        let rs = &back.resource_spans[0];
        let attrs = &rs.resource.as_ref().expect("resource").attributes;
        assert_eq!(attrs[0], string_attr("service.name", "svc"));
        assert_eq!(rs.scope_spans[0].spans, vec![span]);
    }
}
