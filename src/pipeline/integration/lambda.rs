//! Lambda integrations: `AWS_PROXY` (payload format 1.0 / 2.0 events, the function's result
//! as the response) and `AWS` custom (the body as the payload), over the Lambda Invoke API
//! (`upstream::lambda`).
//!
//! A request's way: its body is read whole (at most the listener's payload limit, 10 MB by
//! default: past it 413); the event (`event`) or the custom payload is made while the head
//! is readable; the function is invoked within the integration's timeout; its answer
//! becomes the response:
//!
//! | what happened | client gets |
//! |---|---|
//! | proxy: a valid result (`result`) | its status, headers, cookies, body (base64 decoded as `binary` says) |
//! | proxy: a malformed result | 502 `{"message": "Internal server error"}`, the reason in the execution log |
//! | proxy: a function error (`X-Amz-Function-Error`) | 502 `Internal server error` |
//! | custom: the result, or a function error | 200 with it as the body (API Gateway's default integration response), `application/json` |
//! | Lambda refused the invocation (429 throttled, 404, 413...) | 500 `Internal server error` |
//! | no answer within the timeout | 504 `Endpoint request timed out` |
//! | an answer over 6 MB | 502, "Lambda response exceeds 6291456 bytes" in the log |
//! | the endpoint unreachable, a broken answer | 502 |
//!
//! `$context.integration.status` is the Invoke API's status (the function's `statusCode`
//! once a proxy result is read), `$context.integration.latency` the call's duration and
//! `$context.integration.error` what went wrong.

pub mod binary;
pub mod event;
pub mod json;
pub mod result;

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use monoio::time::Instant;

use crate::auth::sigv4::Signer;
use crate::config::aws::ServiceEndpoint;
use crate::config::lambda_integration::{ContentHandling, LambdaIntegration};
use crate::config::snapshot::ApiType;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::is_hop_by_hop;
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::buffered::read_whole_body;
use crate::pipeline::session::{Next, ResponseBody, Session};
use crate::pipeline::taps::ResponseTaps;
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{head_only, keep_alive};
use crate::upstream::call::CallError;
use crate::upstream::lambda::{Invocation, Invoked, MAX_RESPONSE_BYTES};
use event::{AuthorizerInput, ClientCertInput, ContextInput, EventInput, IamInput};
use result::Body;

/// `$context.integration.error` values.
pub const MALFORMED: &str = "Malformed Lambda proxy response";
pub const FUNCTION_ERROR: &str = "Lambda function error";
pub const REJECTED: &str = "Lambda invocation failed";
pub const TIMED_OUT: &str = "Endpoint request timed out";
pub const TOO_LARGE: &str = "Lambda response too large";
pub const UNREACHABLE: &str = "Lambda endpoint unreachable";

/// What a refused invocation (429, 404, 413... from the Invoke API) answers: 500
/// `Internal server error` ("If the Lambda API rejects the invocation request, API Gateway
/// returns a 500 error code"), gateway response type INTEGRATION_FAILURE.
const REJECTED_KIND: ErrorKind = ErrorKind::IntegrationRejected;

/// Responses up to this size are written without a timer (see `respond`).
const UNTIMED_WRITE: usize = 64 * 1024;

/// Buffers kept between a body over this size and the next request are dropped.
const KEPT_CAPACITY: usize = 64 * 1024;

/// The worker's SigV4 signer (shared with the Lambda authorizer and AWS service calls).
fn signer(ctx: &WorkerCtx) -> &RefCell<Signer> {
    ctx.lambda_caches.signer()
}

/// Phases 7-9 for a Lambda integration, the response seen by `taps` (the stage cache's
/// recorder, the execution log's data trace).
pub async fn invoke<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    lambda: &LambdaIntegration,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    let mut body = std::mem::take(&mut rc.scratch.body);
    let mut request = std::mem::take(&mut rc.scratch.upstream_request);
    let mut call = Call {
        ctx,
        snapshot,
        routed,
        lambda,
        body: &mut body,
        request: &mut request,
    };
    let result = call.run(session, rc, taps).await;
    for (slot, mut buf) in [
        (&mut rc.scratch.body, body),
        (&mut rc.scratch.upstream_request, request),
    ] {
        if buf.capacity() > KEPT_CAPACITY {
            buf = Vec::new();
        }
        *slot = buf;
    }
    result
}

struct Call<'c, 's> {
    ctx: &'c WorkerCtx,
    snapshot: &'c Snapshot,
    routed: &'c Routed<'s>,
    lambda: &'c LambdaIntegration,
    body: &'c mut Vec<u8>,
    request: &'c mut Vec<u8>,
}

/// What the request head told, kept for the response (the head is released before the
/// call).
struct Client {
    /// A proxy result's `isBase64Encoded` body is decoded (or a custom integration's
    /// result base64-decoded) for this client.
    binary_accepted: bool,
}

impl Call<'_, '_> {
    async fn run<S: Session>(
        &mut self,
        session: &mut S,
        rc: &mut RequestContext,
        taps: &mut ResponseTaps<'_>,
    ) -> Result<Next, GatewayError> {
        let (snapshot, routed, lambda) = (self.snapshot, self.routed, self.lambda);
        // 7. Integration request: the body whole, then the event or payload while the
        // head is readable.
        read_whole_body(session, self.body, snapshot.limits.max_body_bytes)
            .await
            .map_err(GatewayError::from)?;
        if rc.execution.data_trace {
            rc.scratch.request_body.push(self.body);
        }
        let api_type = routed.api_type;
        let types = &routed.api.binary_media_types;
        let accept = session.header("accept");
        let client = Client {
            binary_accepted: match (lambda.proxy, api_type) {
                (true, _) => binary::decode_result(api_type, types, accept),
                (false, _) => binary::accepts_binary(types, accept),
            },
        };
        let content_type = session.header("content-type");
        let request_binary = binary::request_is_binary(api_type, types, content_type);
        // The facts' text reuses the context's URI buffer (HTTP integrations' own).
        let mut facts = Facts {
            text: std::mem::take(&mut rc.scratch.uri),
            ..Facts::default()
        };
        facts.text.clear();
        facts.gather(session, rc, snapshot, routed);
        let payload: Cow<'_, [u8]> = if lambda.proxy {
            let mut out = std::mem::take(&mut rc.scratch.event);
            out.clear();
            out.reserve(2048 + self.body.len() * 4 / 3);
            let mut scratch = Vec::new();
            let request = EventRequest {
                format: lambda.payload,
                body: self.body,
                base64: request_binary,
            };
            facts.write_event(
                &mut out,
                &mut scratch,
                session,
                rc,
                snapshot,
                routed,
                request,
            );
            Cow::Owned(out)
        } else {
            custom_payload(lambda.content_handling, request_binary, self.body)?
        };
        let (path, query) = match &lambda.function.fixed {
            Some((p, q)) => (Cow::Borrowed(p.as_str()), Cow::Borrowed(q.as_str())),
            None => {
                let vars = |n: &str| routed.variables.get(n).cloned();
                let (p, q) = lambda.function.render(&vars).map_err(|why| {
                    GatewayError::with_source(
                        ErrorKind::ApiConfigurationError,
                        format!("Lambda integration `{}`: {why}", lambda.uri),
                    )
                })?;
                (Cow::Owned(p), Cow::Owned(q))
            }
        };
        session.release_head();

        // 8. The invocation.
        let region = lambda
            .function
            .region
            .as_deref()
            .unwrap_or(&snapshot.aws.region);
        let endpoint = endpoint(snapshot, lambda, region)?;
        let credentials = lambda
            .credentials
            .as_ref()
            .unwrap_or(&snapshot.aws.credentials);
        let trace_id = facts.get(facts.trace_id.clone());
        let inv = Invocation {
            path: &path,
            query: &query,
            region,
            payload: &payload,
            trace_id: Some(trace_id),
        };
        let started = Instant::now();
        rc.trace.integration_offset = Some(started.saturating_duration_since(rc.start));
        let answer = crate::upstream::lambda::invoke(
            &self.ctx.upstreams,
            signer(self.ctx),
            &endpoint,
            credentials,
            &inv,
            started + lambda.timeout,
            self.request,
        )
        .await;
        if let Cow::Owned(mut event) = payload {
            if event.capacity() <= KEPT_CAPACITY {
                event.clear();
                rc.scratch.event = event;
            }
        }
        let mut text = std::mem::take(&mut facts.text);
        if text.capacity() <= KEPT_CAPACITY {
            text.clear();
            rc.scratch.uri = text;
        }
        rc.integration.latency = Some(started.elapsed());
        if rc.execution.on {
            if let Some(settings) = routed.stage.execution_log.as_ref() {
                let head_end = self
                    .request
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .unwrap_or(self.request.len());
                crate::pipeline::execution_log::endpoint_request(
                    rc,
                    settings,
                    endpoint.tls.is_some(),
                    &endpoint.host,
                    endpoint.port,
                    self.request.get(..head_end).unwrap_or_default(),
                );
            }
        }
        let invoked = answer.map_err(|e| call_failed(rc, e))?;
        rc.integration.status = invoked.status;
        if invoked.status != 200 {
            rc.integration.error = Some(REJECTED);
            return Err(GatewayError::with_source(REJECTED_KIND, refusal(&invoked)));
        }

        // 9. Integration response.
        if lambda.proxy {
            self.proxy_response(session, rc, taps, invoked, &client)
                .await
        } else {
            self.custom_response(session, rc, taps, invoked, &client)
                .await
        }
    }

    async fn proxy_response<S: Session>(
        &self,
        session: &mut S,
        rc: &mut RequestContext,
        taps: &mut ResponseTaps<'_>,
        invoked: Invoked,
        client: &Client,
    ) -> Result<Next, GatewayError> {
        if let Some(kind) = &invoked.function_error {
            rc.integration.error = Some(FUNCTION_ERROR);
            return Err(GatewayError::with_source(
                ErrorKind::IntegrationFailure,
                format!(
                    "Lambda function error ({kind}): {}",
                    String::from_utf8_lossy(&invoked.body)
                        .chars()
                        .take(1024)
                        .collect::<String>()
                ),
            ));
        }
        let parsed = result::parse(&invoked.body, self.lambda.payload).map_err(|m| {
            rc.integration.error = Some(MALFORMED);
            GatewayError::with_source(ErrorKind::IntegrationFailure, m)
        })?;
        let result::ProxyResult {
            status,
            headers,
            cookies,
            body,
            base64,
            ..
        } = parsed;
        rc.integration.status = status;
        let base = invoked.body.as_ptr() as usize;
        let range_of = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let out = match body {
            Body::None => Out::Empty,
            Body::Raw(raw) => Out::Range(range_of(raw)),
            Body::Text(text) if base64 && client.binary_accepted => {
                match binary::decode(text.as_bytes()) {
                    Some(bytes) => Out::Owned(bytes),
                    None => {
                        rc.integration.error = Some(MALFORMED);
                        return Err(GatewayError::with_source(
                            ErrorKind::IntegrationFailure,
                            result::Malformed(
                                "isBase64Encoded is true but the body is not base64".into(),
                            ),
                        ));
                    }
                }
            }
            Body::Text(Cow::Borrowed(text)) => Out::Range(range_of(text.as_bytes())),
            Body::Text(Cow::Owned(text)) => Out::Owned(text.into_bytes()),
        };
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        let mut head = Head::new(status);
        for (n, v) in &headers {
            head.header(n.as_bytes(), v.as_bytes());
        }
        for c in &cookies {
            head.header(b"set-cookie", c.as_bytes());
        }
        if !has_type {
            head.header(b"content-type", b"application/json");
        }
        // The result's text borrows the answer, which goes to the client next.
        drop(headers);
        drop(cookies);
        self.respond(session, rc, taps, head, out, invoked.body)
            .await
    }

    async fn custom_response<S: Session>(
        &self,
        session: &mut S,
        rc: &mut RequestContext,
        taps: &mut ResponseTaps<'_>,
        invoked: Invoked,
        client: &Client,
    ) -> Result<Next, GatewayError> {
        if invoked.function_error.is_some() {
            // API Gateway's default integration response: the error document, 200 (an
            // integration response matching its `errorMessage` comes with mapping
            // templates: `result::error_message`).
            rc.integration.error = Some(FUNCTION_ERROR);
        }
        let out = if client.binary_accepted {
            let text = match serde_json::from_slice::<String>(&invoked.body) {
                Ok(s) => Cow::Owned(s.into_bytes()),
                Err(_) => Cow::Borrowed(&invoked.body[..]),
            };
            match binary::decode(&text) {
                Some(bytes) => Out::Owned(bytes),
                None => {
                    return Err(GatewayError::with_source(
                        ErrorKind::ApiConfigurationError,
                        "the Lambda result is not base64 text, so it cannot be converted to \
                         the binary the client accepts",
                    ))
                }
            }
        } else {
            Out::Range(0..invoked.body.len())
        };
        let mut head = Head::new(200);
        head.header(b"content-type", b"application/json");
        self.respond(session, rc, taps, head, out, invoked.body)
            .await
    }

    /// Write the response: `head`'s status and headers, the gateway's, then the body.
    async fn respond<S: Session>(
        &self,
        session: &mut S,
        rc: &mut RequestContext,
        taps: &mut ResponseTaps<'_>,
        head: Head,
        out: Out,
        answer: Vec<u8>,
    ) -> Result<Next, GatewayError> {
        let ctx = self.ctx;
        let keep_alive = keep_alive(ctx, session);
        let client_head = head_only(session);
        let bodiless = head.status == 204 || head.status == 304;
        let len = if bodiless { 0 } else { out.len() };
        taps.head(head.status, Some(len as u64), client_head);
        session.start_response(head.status);
        for (n, v) in head.iter() {
            if crate::pipeline::cors::replaces(rc, n) {
                continue;
            }
            session.response_header(n, v);
            taps.header(n, v);
        }
        session.response_header(b"date", &ctx.date.now());
        session.response_header(b"x-amzn-requestid", &rc.request_id);
        crate::pipeline::cors::add_headers(ctx, session, rc);
        taps.end_head(|name, value| session.response_header(name, value));
        let framing = if bodiless {
            ResponseBody::None
        } else {
            ResponseBody::Length(len as u64)
        };
        session.end_response_head(framing, keep_alive);
        rc.status = head.status;
        rc.response_length = len as u64;
        let limit = self.snapshot.limits.body_read_timeout;
        // A response this small fits a socket's send buffer: written without arming a
        // timer, as MOCK answers and gateway errors are; a larger one is bounded by the
        // body timeout against a client that stops reading.
        let timed = len > UNTIMED_WRITE;
        let sent = if client_head || len == 0 {
            if timed {
                monoio::time::timeout(limit, session.flush()).await
            } else {
                Ok(session.flush().await)
            }
        } else {
            let (buf, range) = match out {
                Out::Range(r) => (answer, r),
                Out::Owned(v) => {
                    let n = v.len();
                    (v, 0..n)
                }
                Out::Empty => (Vec::new(), 0..0),
            };
            if taps.wants_body() {
                taps.body(buf.get(range.clone()).unwrap_or_default());
            }
            if timed {
                monoio::time::timeout(limit, session.send_body_owned(buf, range))
                    .await
                    .map(|(r, _)| r)
            } else {
                Ok(session.send_body_owned(buf, range).await.0)
            }
        };
        if !matches!(sent, Ok(Ok(()))) {
            return Ok(Next::Abort);
        }
        let finished = if session.finish_sends() && timed {
            monoio::time::timeout(limit, session.finish_response())
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        } else {
            session.finish_response().await
        };
        if finished.is_err() {
            return Ok(Next::Abort);
        }
        Ok(if session.keeps_alive() {
            Next::KeepAlive
        } else {
            Next::Close
        })
    }
}

/// The response body: a range of the function's answer, bytes of its own, or none.
enum Out {
    Empty,
    Range(Range<usize>),
    Owned(Vec<u8>),
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Empty => 0,
            Out::Range(r) => r.len(),
            Out::Owned(v) => v.len(),
        }
    }
}

/// A response head being made: status and headers (names and values in one buffer),
/// those the gateway sets itself left out.
struct Head {
    status: u16,
    text: Vec<u8>,
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl Head {
    fn new(status: u16) -> Head {
        Head {
            status,
            text: Vec::with_capacity(256),
            fields: Vec::with_capacity(8),
        }
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"date")
            || name.eq_ignore_ascii_case(b"x-amzn-requestid")
        {
            return;
        }
        let n = self.text.len();
        self.text.extend_from_slice(name);
        let v = self.text.len();
        self.text.extend_from_slice(value);
        self.fields.push((n..v, v..self.text.len()));
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields.iter().map(|(n, v)| {
            (
                self.text.get(n.clone()).unwrap_or_default(),
                self.text.get(v.clone()).unwrap_or_default(),
            )
        })
    }
}

/// A custom integration's payload: the body (converted as `content_handling` says), `{}`
/// when there is none.
fn custom_payload(
    handling: Option<ContentHandling>,
    request_binary: bool,
    body: &[u8],
) -> Result<Cow<'_, [u8]>, GatewayError> {
    let payload = match handling {
        Some(ContentHandling::ConvertToText) if request_binary => Cow::Owned(binary::encode(body)),
        Some(ContentHandling::ConvertToBinary) if !request_binary && !body.is_empty() => {
            match binary::decode(body) {
                Some(bytes) => Cow::Owned(bytes),
                None => {
                    return Err(GatewayError::with_source(
                        ErrorKind::ApiConfigurationError,
                        "CONVERT_TO_BINARY: the request body is not base64 text",
                    ))
                }
            }
        }
        _ => Cow::Borrowed(body),
    };
    Ok(if payload.is_empty() {
        Cow::Borrowed(&b"{}"[..])
    } else {
        payload
    })
}

/// The Lambda endpoint of this integration: its own, `aws.endpoints.lambda`, or AWS's for
/// the region.
fn endpoint<'a>(
    snapshot: &'a Snapshot,
    lambda: &'a LambdaIntegration,
    region: &str,
) -> Result<Cow<'a, ServiceEndpoint>, GatewayError> {
    if let Some(ep) = &lambda.endpoint {
        return Ok(Cow::Borrowed(ep));
    }
    if let Some(ep) = snapshot.aws.endpoints.get("lambda") {
        return Ok(Cow::Borrowed(ep));
    }
    snapshot
        .aws
        .endpoint("lambda", region)
        .map(Cow::Owned)
        .map_err(|why| {
            GatewayError::with_source(
                ErrorKind::ApiConfigurationError,
                format!("Lambda endpoint for {region}: {why}"),
            )
        })
}

/// A failed call: its status and the context's error.
fn call_failed(rc: &mut RequestContext, e: CallError) -> GatewayError {
    let (kind, what) = match &e {
        CallError::TimedOut => (ErrorKind::IntegrationTimeout, TIMED_OUT),
        CallError::TooLarge => {
            rc.integration.error = Some(TOO_LARGE);
            return GatewayError::with_source(
                ErrorKind::IntegrationFailure,
                format!(
                    "Lambda response exceeds {MAX_RESPONSE_BYTES} bytes (the 6 MB limit of a \
                     synchronous invocation)"
                ),
            );
        }
        CallError::Connect(_) => (ErrorKind::IntegrationFailure, UNREACHABLE),
        CallError::Io(_) | CallError::Malformed(_) => {
            (ErrorKind::IntegrationFailure, "Lambda call failed")
        }
    };
    rc.integration.error = Some(what);
    GatewayError::with_source(kind, format!("Lambda Invoke API: {e}"))
}

/// Why Lambda refused an invocation, for the logs.
fn refusal(invoked: &Invoked) -> String {
    let body = String::from_utf8_lossy(&invoked.body);
    format!(
        "Lambda invocation failed with status: {}{}{}: {}",
        invoked.status,
        if invoked.error_type.is_some() {
            " "
        } else {
            ""
        },
        invoked.error_type.as_deref().unwrap_or(""),
        body.chars().take(512).collect::<String>()
    )
}

/// The event's format and the request body it carries.
struct EventRequest<'a> {
    format: crate::config::lambda_integration::PayloadFormat,
    body: &'a [u8],
    /// The body goes base64-encoded.
    base64: bool,
}

/// Text the event borrows (one buffer per request): ranges into `text`.
#[derive(Default)]
struct Facts {
    text: String,
    request_time: Range<usize>,
    domain_name: Range<usize>,
    domain_prefix: Range<usize>,
    source_ip: Range<usize>,
    trace_id: Range<usize>,
    forwarded_for: Range<usize>,
    local_port: Range<usize>,
    resource_id: Range<usize>,
    cert: [Range<usize>; 5],
}

impl Facts {
    fn get(&self, r: Range<usize>) -> &str {
        self.text.get(r).unwrap_or("")
    }

    fn push(&mut self, write: impl FnOnce(&mut String)) -> Range<usize> {
        let start = self.text.len();
        write(&mut self.text);
        start..self.text.len()
    }

    fn gather<S: Session>(
        &mut self,
        session: &S,
        rc: &RequestContext,
        snapshot: &Snapshot,
        routed: &Routed<'_>,
    ) {
        let var = |name: &'static str| {
            move |s: &mut String| {
                rc.variable(name, snapshot, s);
            }
        };
        self.request_time = self.push(var("requestTime"));
        self.domain_name = self.push(var("domainName"));
        self.domain_prefix = self.push(var("domainPrefix"));
        self.trace_id = self.push(var("traceId"));
        self.source_ip = self.push(|s| crate::pipeline::context::push_ip(s, rc.source_ip));
        // X-Forwarded-For: the client's chain, then the peer.
        self.forwarded_for = self.push(|s| {
            for (n, v) in session.headers() {
                if n.eq_ignore_ascii_case(b"x-forwarded-for") {
                    s.push_str(&String::from_utf8_lossy(v));
                    s.push_str(", ");
                }
            }
            crate::pipeline::context::push_ip(s, session.peer().ip());
        });
        self.local_port = self.push(|s| {
            crate::pipeline::context::push_decimal(s, u64::from(session.local().port()));
        });
        // A stable resource id (API Gateway's is random, six characters).
        self.resource_id = self.push(|s| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in routed.api.id.bytes().chain(routed.route.key.bytes()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            for _ in 0..6 {
                let d = (h % 36) as u8;
                s.push(if d < 10 { b'0' + d } else { b'a' + d - 10 } as char);
                h /= 36;
            }
        });
        if session.tls().is_some_and(|t| t.client_cert.is_some()) {
            for (i, name) in [
                "identity.clientCert.subjectDN",
                "identity.clientCert.issuerDN",
                "identity.clientCert.serialNumber",
                "identity.clientCert.validity.notBefore",
                "identity.clientCert.validity.notAfter",
            ]
            .into_iter()
            .enumerate()
            {
                self.cert[i] = self.push(var(name));
            }
        }
    }

    /// The proxy event for this request.
    #[allow(clippy::too_many_arguments)]
    fn write_event<S: Session>(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        session: &S,
        rc: &RequestContext,
        snapshot: &Snapshot,
        routed: &Routed<'_>,
        request: EventRequest<'_>,
    ) {
        let EventRequest {
            format,
            body,
            base64,
        } = request;
        let https = session.tls().is_some();
        let trace = self.get(self.trace_id.clone());
        // The client's headers (hop-by-hop ones and those the gateway sets left out), then
        // the gateway's.
        let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(24);
        for (n, v) in session.headers() {
            if is_hop_by_hop(n)
                || n.eq_ignore_ascii_case(b"expect")
                || n.eq_ignore_ascii_case(b"x-forwarded-for")
                || n.eq_ignore_ascii_case(b"x-forwarded-port")
                || n.eq_ignore_ascii_case(b"x-forwarded-proto")
                || (!trace.is_empty() && n.eq_ignore_ascii_case(b"x-amzn-trace-id"))
                || session.connection_lists(n)
            {
                continue;
            }
            headers.push((n, v));
        }
        // HTTP/2 carries the host as `:authority`.
        if let Some(host) = session.host() {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(b"host")) {
                headers.push((b"Host", host.as_bytes()));
            }
        }
        if !trace.is_empty() {
            headers.push((b"X-Amzn-Trace-Id", trace.as_bytes()));
        }
        headers.push((
            b"X-Forwarded-For",
            self.get(self.forwarded_for.clone()).as_bytes(),
        ));
        headers.push((
            b"X-Forwarded-Port",
            self.get(self.local_port.clone()).as_bytes(),
        ));
        headers.push((b"X-Forwarded-Proto", if https { b"https" } else { b"http" }));
        let path = session.path();
        let params: Vec<(&str, &str)> = routed
            .route
            .param_names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.as_str(), routed.param_at(i, path)?)))
            .collect();
        let variables: Vec<(&str, &str)> = routed
            .variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let key = &routed.route.key;
        let resource = key.split_once(' ').map_or(key.as_str(), |(_, p)| p);
        let rest = routed.api_type == ApiType::Rest;
        let within = routed.resource_path(path);
        let raw_path = if routed.domain.is_some() {
            within
        } else {
            path
        };
        let request_id = std::str::from_utf8(&rc.request_id).unwrap_or("");
        let extended = std::str::from_utf8(&rc.extended_request_id).unwrap_or("");
        let api_key = rc.api_key.and_then(|k| {
            let id = snapshot.api_keys.get(k)?.id.as_str();
            Some((rc.api_key_value(), id))
        });
        let cert = self.get(self.cert[0].clone());
        let client_cert = (!cert.is_empty()).then(|| ClientCertInput {
            pem: "",
            subject_dn: cert,
            issuer_dn: self.get(self.cert[1].clone()),
            serial_number: self.get(self.cert[2].clone()),
            not_before: self.get(self.cert[3].clone()),
            not_after: self.get(self.cert[4].clone()),
        });
        let iam = rc.authorizer.iam.as_deref().map(|i| IamInput {
            access_key: &i.access_key,
            account_id: &i.account_id,
            caller: &i.caller,
            user_arn: &i.user_arn,
        });
        // The authorizer's values as JSON (a request without an authorizer allocates
        // nothing here).
        let a = &rc.authorizer;
        let mut values = Vec::new();
        let written = match (&a.context, &a.claims) {
            (Some(context), _) => context.write_json(&mut values),
            (None, Some(claims)) => claims.write_json(&mut values),
            (None, None) => false,
        };
        let values = written.then_some(values.as_slice());
        let authorizer = if a.context.is_some() {
            Some(AuthorizerInput::Lambda {
                principal_id: &a.principal_id,
                context: values,
                // A cached answer took no call: 0, as API Gateway reports it.
                latency_ms: Some(a.latency.map_or(0, |d| d.as_millis() as u64)),
            })
        } else if a.claims.is_some() {
            Some(AuthorizerInput::Jwt {
                claims: values,
                // API Gateway sends the token's scopes only on routes that require
                // scopes; elsewhere `scopes` is null.
                scopes: if routed.route.authorization.scopes.is_empty() {
                    &[]
                } else {
                    a.scopes.as_deref().unwrap_or(&[])
                },
            })
        } else {
            None
        };
        let input = EventInput {
            format,
            rest,
            resource,
            path: if rest { within } else { path },
            http_method: rc.method_text(),
            headers: &headers,
            raw_query: session.query().unwrap_or_default(),
            path_parameters: &params,
            stage_variables: &variables,
            body,
            base64,
            context: ContextInput {
                account_id: &snapshot.server.account_id,
                api_id: rc.api_id(),
                stage: rc.stage_name(),
                request_id,
                extended_request_id: extended,
                resource_id: self.get(self.resource_id.clone()),
                full_path: path,
                raw_path,
                route_key: key,
                source_ip: self.get(self.source_ip.clone()),
                user_agent: rc.user_agent(),
                protocol: rc.protocol.as_str(),
                domain_name: self.get(self.domain_name.clone()),
                domain_prefix: self.get(self.domain_prefix.clone()),
                request_time: self.get(self.request_time.clone()),
                request_time_epoch_ms: rc.request_time_epoch_ms(),
                api_key,
                client_cert,
                iam,
                authorizer,
            },
        };
        event::write(out, &input, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_payloads_follow_content_handling() {
        let p = |h, bin, body: &'static [u8]| {
            custom_payload(h, bin, body)
                .map(|c| c.into_owned())
                .map_err(|e| e.kind)
        };
        assert_eq!(p(None, false, b""), Ok(b"{}".to_vec()));
        assert_eq!(p(None, true, b"\x00\x01"), Ok(b"\x00\x01".to_vec()));
        let text = Some(ContentHandling::ConvertToText);
        assert_eq!(p(text, true, b"\x00\x01"), Ok(b"AAE=".to_vec()));
        assert_eq!(p(text, false, b"{\"a\":1}"), Ok(b"{\"a\":1}".to_vec()));
        let bin = Some(ContentHandling::ConvertToBinary);
        assert_eq!(p(bin, false, b"AAE="), Ok(b"\x00\x01".to_vec()));
        assert_eq!(p(bin, true, b"\x00\x01"), Ok(b"\x00\x01".to_vec()));
        assert_eq!(
            p(bin, false, b"not base64!"),
            Err(ErrorKind::ApiConfigurationError)
        );
    }

    #[test]
    fn response_heads_leave_the_gateways_headers_out() {
        let mut h = Head::new(200);
        for (n, v) in [
            ("Content-Type", "text/plain"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "99"),
            ("Date", "x"),
            ("x-amzn-RequestId", "theirs"),
            ("X-Custom", "1"),
        ] {
            h.header(n.as_bytes(), v.as_bytes());
        }
        let got: Vec<(&[u8], &[u8])> = h.iter().collect();
        assert_eq!(
            got,
            [
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (&b"X-Custom"[..], &b"1"[..])
            ]
        );
    }

    #[test]
    fn refusals_name_status_and_type() {
        let inv = Invoked {
            status: 429,
            function_error: None,
            error_type: Some("TooManyRequestsException".into()),
            lambda_request_id: None,
            body: br#"{"message":"Rate Exceeded."}"#.to_vec(),
        };
        assert_eq!(
            refusal(&inv),
            r#"Lambda invocation failed with status: 429 TooManyRequestsException: {"message":"Rate Exceeded."}"#
        );
    }
}
