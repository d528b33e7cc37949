//! The request context: everything API Gateway exposes as `$context.*` about one request,
//! in one struct that every phase reads and writes. One lives per in-flight request and is
//! reused (`begin` resets it; its text buffer keeps its capacity), so a request in steady
//! state allocates nothing for it.
//!
//! Values that refer to the configuration (API, stage, custom domain) are indices into the
//! snapshot the request runs on; text that would vanish with the request head (path,
//! user agent, trace id...) is copied into the context's own buffer when the head is read.
//! `variable` looks any of them up by its API Gateway name, the one lookup used by access
//! logs, templates, parameter mapping and gateway responses.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::time::Duration;

use monoio::time::Instant;

use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayResponse};
use crate::http::head::Method;
use crate::pipeline::session::{Session, Version};

/// Whether the stage cache answered the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheStatus {
    /// Caching does not apply to this request.
    #[default]
    None,
    Hit,
    Miss,
}

/// The throttling level that refused a request (most specific first, as they are checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleLevel {
    UsagePlanMethod,
    UsagePlan,
    StageMethod,
    Stage,
    Account,
    /// The usage plan's quota, not a rate.
    Quota,
}

impl ThrottleLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleLevel::UsagePlanMethod => "usage-plan-method",
            ThrottleLevel::UsagePlan => "usage-plan",
            ThrottleLevel::StageMethod => "stage-method",
            ThrottleLevel::Stage => "stage",
            ThrottleLevel::Account => "account",
            ThrottleLevel::Quota => "quota",
        }
    }
}

/// Values an authorizer produced, looked up by name: a JWT's claims, a Lambda
/// authorizer's context map. Shared (`Rc`) with the authorizer's cache, so that a cached
/// result costs no copy per request.
pub trait AuthorizerValues: std::fmt::Debug {
    /// Write the value called `name` as API Gateway renders it (strings as they are,
    /// numbers and booleans as JSON text); false when there is none.
    fn write_value(&self, name: &str, out: &mut dyn std::fmt::Write) -> bool;

    /// Append every value as one JSON object to `out`, as the Lambda proxy event carries
    /// them (a Lambda authorizer's context with the types its answer gave; a JWT's claims
    /// as API Gateway renders them); false (nothing appended) when unsupported.
    fn write_json(&self, out: &mut Vec<u8>) -> bool {
        let _ = out;
        false
    }
}

/// The IAM identity of a SigV4-signed request (`$context.identity.*`), shared with its
/// principal in the configuration.
pub use crate::config::iam::PrincipalIdentity as IamIdentity;

/// `$context.authorizer.*` and the identity an authorizer established.
#[derive(Debug, Default)]
pub struct AuthorizerContext {
    /// `authorizer.principalId`: the Lambda authorizer's principalId, the JWT's `sub`.
    pub principal_id: String,
    /// JWT claims: `authorizer.claims.NAME` (REST), `authorizer.jwt.claims.NAME` (HTTP).
    pub claims: Option<std::rc::Rc<dyn AuthorizerValues>>,
    /// The token's scopes: `authorizer.jwt.scopes` (HTTP).
    pub scopes: Option<std::rc::Rc<[String]>>,
    /// A Lambda authorizer's context map: `authorizer.NAME` (REST),
    /// `authorizer.lambda.NAME` (HTTP).
    pub context: Option<std::rc::Rc<dyn AuthorizerValues>>,
    /// A Lambda authorizer's `usageIdentifierKey` (API key source AUTHORIZER).
    pub usage_identifier_key: Option<std::rc::Rc<str>>,
    /// A SigV4-signed request's principal.
    pub iam: Option<std::sync::Arc<IamIdentity>>,
    /// `authorizer.integrationLatency` / `authorizer.latency`: the authorizer call's
    /// duration (none when cached or not called).
    pub latency: Option<Duration>,
    /// `authorizer.status`: the authorizer's response status (0: not called).
    pub status: u16,
    /// `authorizer.error`: why it failed, if it did.
    pub error: Option<&'static str>,
}

impl AuthorizerContext {
    fn clear(&mut self) {
        self.principal_id.clear();
        self.claims = None;
        self.scopes = None;
        self.context = None;
        self.usage_identifier_key = None;
        self.iam = None;
        self.latency = None;
        self.status = 0;
        self.error = None;
    }
}

/// `$context.integration.*`.
#[derive(Debug, Default, Clone)]
pub struct IntegrationContext {
    /// The integration's status code (0 until it answered).
    pub status: u16,
    /// From sending the request to the integration to its response head.
    pub latency: Option<Duration>,
    /// Why the integration failed, if it did.
    pub error: Option<&'static str>,
}

/// Buffers the phases reuse from request to request (their capacity stays).
#[derive(Debug, Default)]
pub struct Scratch {
    /// The request's cache key.
    pub cache_key: Vec<u8>,
    /// The rendered integration URI.
    pub uri: String,
    /// The upstream request head (kept until the response arrives, for one retry).
    pub upstream_request: Vec<u8>,
    /// The upstream response head (its header list keeps its capacity).
    pub upstream_head: crate::upstream::client::ResponseHead,
    /// The request body as forwarded (execution logs with data tracing).
    pub request_body: crate::pipeline::execution_log::BodyCapture,
    /// The whole request body, when a phase read it before the integration (SigV4's
    /// payload hash): `buffered_body` says so, and the integration replays it.
    pub body: Vec<u8>,
    pub buffered_body: bool,
    /// A Lambda event as written (its capacity kept for the next request).
    pub event: Vec<u8>,
}

/// A worker's spare request contexts. A connection (HTTP/1.1) or stream (HTTP/2) leases one
/// and gives it back when it ends, so the buffers a context grew (its text, the rendered
/// URI, the upstream request and response heads) serve the next connection too: a new
/// connection then allocates nothing for them (without it, 5 buffers grew from empty on
/// every new connection: ~3,600 instructions per request under callgrind).
#[derive(Default)]
pub struct ContextPool {
    // Boxed so that a lease moves a pointer, not the context (~700 bytes), in and out.
    #[allow(clippy::vec_box)]
    spare: std::cell::RefCell<Vec<Box<RequestContext>>>,
}

/// Spare contexts kept per worker; more in flight at once are dropped when they end.
pub const MAX_SPARE_CONTEXTS: usize = 1024;

impl ContextPool {
    /// A context for one connection or stream, returned to the pool when the lease drops.
    pub fn lease(&self) -> ContextLease<'_> {
        let rc = self.spare.borrow_mut().pop().unwrap_or_default();
        ContextLease {
            pool: self,
            rc: Some(rc),
        }
    }

    /// How many spare contexts the pool holds.
    pub fn spare(&self) -> usize {
        self.spare.borrow().len()
    }
}

/// A leased [`RequestContext`]; derefs to it.
pub struct ContextLease<'a> {
    pool: &'a ContextPool,
    rc: Option<Box<RequestContext>>,
}

impl std::ops::Deref for ContextLease<'_> {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        // The Option is only emptied in drop.
        self.rc
            .as_deref()
            .expect("a lease holds its context until dropped")
    }
}

impl std::ops::DerefMut for ContextLease<'_> {
    fn deref_mut(&mut self) -> &mut RequestContext {
        self.rc
            .as_deref_mut()
            .expect("a lease holds its context until dropped")
    }
}

impl Drop for ContextLease<'_> {
    fn drop(&mut self) {
        if let Some(rc) = self.rc.take() {
            let mut spare = self.pool.spare.borrow_mut();
            if spare.len() < MAX_SPARE_CONTEXTS {
                spare.push(rc);
            }
        }
    }
}

/// `$context` for one request.
#[derive(Debug)]
pub struct RequestContext {
    pub request_id: [u8; 36],
    /// API Gateway's second id for a request (its own format; here 16 characters derived
    /// from the request id).
    pub extended_request_id: [u8; 16],
    /// When the request's head was complete.
    pub start: Instant,
    pub protocol: Version,
    pub method: Method,
    pub source_ip: IpAddr,
    /// The custom domain the request was routed through (index in the snapshot).
    pub domain: Option<usize>,
    /// Served by the stage's canary deployment.
    pub canary: bool,
    /// The API key identifying the caller (index in the snapshot), when the route wants one.
    pub api_key: Option<usize>,
    pub authorizer: AuthorizerContext,
    pub integration: IntegrationContext,
    /// The error the request ended with, if any.
    pub error: Option<ErrorKind>,
    /// Its message when not the gateway response table's (an authorizer's denial).
    pub error_message: Option<String>,
    pub cache: CacheStatus,
    pub throttle: Option<ThrottleLevel>,
    /// The status and body length of the response sent.
    pub status: u16,
    pub response_length: u64,
    /// From `start` to the end of the response.
    pub response_latency: Option<Duration>,
    /// Reused buffers of the phases (not `$context` variables).
    pub scratch: Scratch,
    /// Copied text (bytes as sent; validated as UTF-8 when read).
    text: Vec<u8>,
    method_text: Range<usize>,
    path: Range<usize>,
    resource_path: Range<usize>,
    route_key: Range<usize>,
    user_agent: Range<usize>,
    trace_id: Range<usize>,
    host: Range<usize>,
    api_id: Range<usize>,
    stage_name: Range<usize>,
    api_key_value: Range<usize>,
    /// The verified client certificate (mutual TLS): subject, issuer, serial; validity.
    cert_subject: Range<usize>,
    cert_issuer: Range<usize>,
    cert_serial: Range<usize>,
    cert_validity: Option<(i64, i64)>,
    /// The stage the request was routed to (`Stage::id` in its snapshot), for metrics.
    pub stage_id: Option<usize>,
    /// The API the request was routed to (`Api::index` in its snapshot): its gateway
    /// responses and CORS settings.
    pub api_index: Option<usize>,
    /// What the response carries for CORS (`pipeline::cors`).
    pub cors: crate::pipeline::cors::CorsState,
    /// The execution log's state for this request (off unless the stage logs).
    pub execution: crate::pipeline::execution_log::ExecutionTrace,
    /// The trace context (`pipeline::trace`).
    pub trace: crate::observe::trace::Trace,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            request_id: [b'0'; 36],
            extended_request_id: [b'0'; 16],
            start: Instant::now(),
            protocol: Version::Http11,
            method: Method::Get,
            source_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            domain: None,
            canary: false,
            api_key: None,
            authorizer: AuthorizerContext::default(),
            integration: IntegrationContext::default(),
            error: None,
            error_message: None,
            cache: CacheStatus::None,
            throttle: None,
            status: 0,
            response_length: 0,
            response_latency: None,
            scratch: Scratch::default(),
            text: Vec::with_capacity(256),
            method_text: 0..0,
            path: 0..0,
            resource_path: 0..0,
            route_key: 0..0,
            user_agent: 0..0,
            trace_id: 0..0,
            host: 0..0,
            api_id: 0..0,
            stage_name: 0..0,
            api_key_value: 0..0,
            cert_subject: 0..0,
            cert_issuer: 0..0,
            cert_serial: 0..0,
            cert_validity: None,
            stage_id: None,
            api_index: None,
            cors: Default::default(),
            execution: Default::default(),
            trace: Default::default(),
        }
    }
}

impl RequestContext {
    /// Reset for a new request whose head `session` holds, and copy from the head what
    /// outlives it. Allocation-free once the text buffer has grown to the usual size.
    pub fn begin<S: Session>(&mut self, session: &S, id: [u8; 36]) {
        self.request_id = id;
        // 16 characters of the id's hex digits (it is random): API Gateway's
        // extendedRequestId is another opaque, per-request value.
        let digits = id.iter().filter(|b| **b != b'-');
        for (slot, &b) in self.extended_request_id.iter_mut().zip(digits) {
            *slot = b;
        }
        self.start = Instant::now();
        self.protocol = session.version();
        self.method = session.method();
        self.source_ip = session.peer().ip();
        self.domain = None;
        self.canary = false;
        self.api_key = None;
        self.authorizer.clear();
        self.integration = IntegrationContext::default();
        self.error = None;
        self.error_message = None;
        self.scratch.buffered_body = false;
        self.cache = CacheStatus::None;
        self.throttle = None;
        self.status = 0;
        self.response_length = 0;
        self.response_latency = None;
        self.stage_id = None;
        self.api_index = None;
        self.cors.clear();
        self.text.clear();
        self.method_text = self.push_text(session.method_bytes());
        self.path = self.push_text(session.path().as_bytes());
        self.resource_path = 0..0;
        self.route_key = 0..0;
        self.api_id = 0..0;
        self.stage_name = 0..0;
        self.api_key_value = 0..0;
        self.user_agent = self.push_text(session.header("user-agent").unwrap_or_default());
        self.trace_id = self.push_text(session.header("x-amzn-trace-id").unwrap_or_default());
        self.host = self.push_text(session.host().unwrap_or_default().as_bytes());
        match session.tls().and_then(|t| t.client_cert.as_deref()) {
            Some(cert) => {
                self.cert_subject = self.push_text(cert.subject_dn.as_bytes());
                self.cert_issuer = self.push_text(cert.issuer_dn.as_bytes());
                self.cert_serial = self.push_text(cert.serial_hex.as_bytes());
                self.cert_validity = Some((cert.not_before, cert.not_after));
            }
            None => {
                self.cert_subject = 0..0;
                self.cert_issuer = 0..0;
                self.cert_serial = 0..0;
                self.cert_validity = None;
            }
        }
    }

    fn push_text(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        start..self.text.len()
    }

    /// Copied text as a string; header values may hold obs-text: what is not UTF-8 reads
    /// as empty.
    fn text(&self, r: &Range<usize>) -> &str {
        self.text
            .get(r.clone())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The route phase's result: where the request goes.
    pub fn set_route(&mut self, api_id: &str, stage: &str, domain: Option<usize>, canary: bool) {
        self.api_id = self.push_text(api_id.as_bytes());
        self.stage_name = self.push_text(stage.as_bytes());
        self.domain = domain;
        self.canary = canary;
    }

    /// The caller's API key (its index in the snapshot and the value it sent).
    pub fn set_api_key(&mut self, index: usize, value: &[u8]) {
        self.api_key = Some(index);
        self.api_key_value = self.push_text(value);
    }

    /// The resource path (as matched, after any stage or base path) and the route key.
    pub fn set_resource(&mut self, resource_path: &str, route_key: &str) {
        self.resource_path = self.push_text(resource_path.as_bytes());
        self.route_key = self.push_text(route_key.as_bytes());
    }

    pub fn path(&self) -> &str {
        self.text(&self.path)
    }
    pub fn resource_path(&self) -> &str {
        self.text(&self.resource_path)
    }
    pub fn route_key(&self) -> &str {
        self.text(&self.route_key)
    }
    pub fn user_agent(&self) -> &str {
        self.text(&self.user_agent)
    }
    /// The caller's `X-Amzn-Trace-Id`, as sent (`$context.traceId` is the one passed on).
    pub fn trace_id(&self) -> &str {
        self.text(&self.trace_id)
    }
    /// The method as sent (`$context.httpMethod`).
    pub fn method_text(&self) -> &str {
        self.text(&self.method_text)
    }
    pub fn api_id(&self) -> &str {
        self.text(&self.api_id)
    }
    pub fn stage_name(&self) -> &str {
        self.text(&self.stage_name)
    }
    /// The API key the caller sent (`$context.identity.apiKey`).
    pub fn api_key_value(&self) -> &str {
        self.text(&self.api_key_value)
    }
    /// The request's Host (with any port).
    pub fn host(&self) -> &str {
        self.text(&self.host)
    }

    /// Milliseconds since the Unix epoch when the request began (read off the wall clock
    /// now, minus the time since: one clock read per request is saved for the requests
    /// nobody logs).
    pub fn request_time_epoch_ms(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.saturating_sub(self.start.elapsed()).as_millis() as u64
    }

    /// The response is complete.
    pub fn finish(&mut self) {
        self.response_latency = Some(self.start.elapsed());
    }

    /// Write the value of `$context.NAME` (`name` without the `$context.` prefix, e.g.
    /// `identity.sourceIp`) to `out`. Returns false for a name API Gateway does not define
    /// (config validation refuses those at load). A defined variable without a value writes
    /// nothing (access logs show `-` for it, as API Gateway does).
    pub fn variable(&self, name: &str, snapshot: &Snapshot, out: &mut String) -> bool {
        use std::fmt::Write;
        let domain = self.domain.and_then(|d| snapshot.domains.get(d));
        let key = self.api_key.and_then(|k| snapshot.api_keys.get(k));
        let response = self.error.map(GatewayResponse::for_kind);
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis());
        let epoch_ms = || self.request_time_epoch_ms();
        let _ = match name {
            "requestId" => write!(
                out,
                "{}",
                std::str::from_utf8(&self.request_id).unwrap_or("")
            ),
            "extendedRequestId" => write!(
                out,
                "{}",
                std::str::from_utf8(&self.extended_request_id).unwrap_or("")
            ),
            "identity.sourceIp" => {
                push_ip(out, self.source_ip);
                Ok(())
            }
            "identity.userAgent" => write!(out, "{}", self.user_agent()),
            "identity.apiKey" => write!(out, "{}", self.text(&self.api_key_value)),
            "identity.clientCert.subjectDN" => write!(out, "{}", self.text(&self.cert_subject)),
            "identity.clientCert.issuerDN" => write!(out, "{}", self.text(&self.cert_issuer)),
            "identity.clientCert.serialNumber" => {
                write!(out, "{}", self.text(&self.cert_serial))
            }
            "identity.clientCert.validity.notBefore" => match self.cert_validity {
                Some((from, _)) => write!(out, "{}", crate::transport::x509::format_validity(from)),
                None => Ok(()),
            },
            "identity.clientCert.validity.notAfter" => match self.cert_validity {
                Some((_, until)) => {
                    write!(out, "{}", crate::transport::x509::format_validity(until))
                }
                None => Ok(()),
            },
            "identity.apiKeyId" => write!(out, "{}", key.map_or("", |k| k.id.as_str())),
            "requestTime" => {
                write_clf_time(out, epoch_ms() / 1000);
                Ok(())
            }
            "requestTimeEpoch" => write!(out, "{}", epoch_ms()),
            "httpMethod" => write!(out, "{}", self.text(&self.method_text)),
            "path" => write!(out, "{}", self.path()),
            "resourcePath" => write!(out, "{}", self.resource_path()),
            "routeKey" => write!(out, "{}", self.route_key()),
            "protocol" => write!(out, "{}", self.protocol.as_str()),
            "status" => write!(out, "{}", self.status),
            "responseLength" => write!(out, "{}", self.response_length),
            "responseLatency" => match ms(self.response_latency) {
                Some(v) => write!(out, "{v}"),
                None => Ok(()),
            },
            "integrationLatency" | "integration.latency" => match ms(self.integration.latency) {
                Some(v) => write!(out, "{v}"),
                None => Ok(()),
            },
            "integrationStatus" | "integration.status" => match self.integration.status {
                0 => Ok(()),
                s => write!(out, "{s}"),
            },
            "integration.error" => write!(out, "{}", self.integration.error.unwrap_or("")),
            "error.message" => match &self.error_message {
                Some(m) => write!(out, "{m}"),
                None => write!(out, "{}", response.map_or("", |r| r.message)),
            },
            "error.responseType" => write!(out, "{}", response.map_or("", |r| r.response_type)),
            "apiId" => write!(out, "{}", self.text(&self.api_id)),
            "stage" => write!(out, "{}", self.text(&self.stage_name)),
            "domainName" => {
                out.push_str(match domain {
                    Some(d) => &d.name,
                    None => strip_port(self.text(&self.host)),
                });
                Ok(())
            }
            "domainPrefix" => {
                let name = domain.map_or(strip_port(self.text(&self.host)), |d| d.name.as_str());
                out.push_str(name.split('.').next().unwrap_or(""));
                Ok(())
            }
            "authorizer.principalId" => write!(out, "{}", self.authorizer.principal_id),
            "cacheStatus" => write!(
                out,
                "{}",
                match self.cache {
                    CacheStatus::None => "",
                    CacheStatus::Hit => "HIT",
                    CacheStatus::Miss => "MISS",
                }
            ),
            "throttleLevel" => write!(out, "{}", self.throttle.map_or("", |t| t.as_str())),
            "traceId" => {
                let raw = self.text.get(self.trace_id.clone()).unwrap_or_default();
                crate::pipeline::trace::write_trace_id(out, &self.trace, raw);
                Ok(())
            }
            "xrayTraceId" => {
                crate::pipeline::trace::write_root(out, &self.trace);
                Ok(())
            }
            // IAM identities (SigV4-signed requests).
            "identity.caller" | "identity.user" => {
                write!(
                    out,
                    "{}",
                    self.authorizer.iam.as_ref().map_or("", |i| &i.caller)
                )
            }
            "identity.userArn" => write!(
                out,
                "{}",
                self.authorizer.iam.as_ref().map_or("", |i| &i.user_arn)
            ),
            "identity.accessKey" => write!(
                out,
                "{}",
                self.authorizer.iam.as_ref().map_or("", |i| &i.access_key)
            ),
            "identity.accountId" => write!(
                out,
                "{}",
                self.authorizer.iam.as_ref().map_or("", |i| &i.account_id)
            ),
            "authorizer.integrationLatency" | "authorizer.latency" => {
                match ms(self.authorizer.latency) {
                    Some(v) => write!(out, "{v}"),
                    None => Ok(()),
                }
            }
            "authorizer.status" => match self.authorizer.status {
                0 => Ok(()),
                s => write!(out, "{s}"),
            },
            "authorizer.error" => write!(out, "{}", self.authorizer.error.unwrap_or("")),
            "authorizer.jwt.scopes" => {
                if let Some(scopes) = &self.authorizer.scopes {
                    let _ = write!(out, "{}", scopes.join(" "));
                }
                Ok(())
            }
            other => {
                let claim = other
                    .strip_prefix("authorizer.claims.")
                    .or_else(|| other.strip_prefix("authorizer.jwt.claims."));
                if let Some(claim) = claim {
                    if let Some(c) = &self.authorizer.claims {
                        c.write_value(claim, out);
                    }
                    return true;
                }
                let field = other
                    .strip_prefix("authorizer.lambda.")
                    .or_else(|| other.strip_prefix("authorizer."));
                if let Some(field) = field {
                    if let Some(c) = &self.authorizer.context {
                        c.write_value(field, out);
                    }
                    return true;
                }
                return false;
            }
        };
        true
    }
}

/// Every `$context` variable name `variable` knows (without the prefix), besides the
/// `authorizer.claims.*` and `authorizer.*` families: the configuration's list, so that
/// validation refuses an unknown name at load.
pub use crate::config::access_log::CONTEXT_VARIABLES as VARIABLES;

fn strip_port(host: &str) -> &str {
    crate::routing::domain::strip_port(host)
}

/// `$context.requestTime`: CLF format, `dd/MMM/yyyy:HH:mm:ss +0000`.
fn write_clf_time(out: &mut String, secs: u64) {
    // Formatted once per second per thread (Lambda events carry it on every request), into
    // a stack buffer: not through `core::fmt`, not char by char.
    thread_local! {
        static LAST: std::cell::Cell<(u64, Ascii<40>)> =
            const { std::cell::Cell::new((u64::MAX, Ascii::EMPTY)) };
    }
    let (at, mut text) = LAST.with(std::cell::Cell::get);
    if at != secs {
        let (y, m, d, hh, mm, ss) = crate::time::civil_from_unix(secs as i64);
        text = Ascii::EMPTY;
        text.two(d);
        text.push(b'/');
        text.extend(crate::time::month_name(m).as_bytes());
        text.push(b'/');
        text.decimal(y.max(0) as u64);
        for v in [hh, mm, ss] {
            text.push(b':');
            text.two(v);
        }
        text.extend(b" +0000");
        LAST.with(|c| c.set((secs, text)));
    }
    out.push_str(text.as_str());
}

/// A short ASCII text built on the stack (bytes past `N` are dropped).
#[derive(Clone, Copy)]
struct Ascii<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Ascii<N> {
    const EMPTY: Self = Ascii {
        buf: [0; N],
        len: 0,
    };

    fn new() -> Self {
        Self::EMPTY
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn two(&mut self, v: u32) {
        self.push(b'0' + (v / 10 % 10) as u8);
        self.push(b'0' + (v % 10) as u8);
    }

    fn decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.extend(&digits[i..]);
    }

    fn as_str(&self) -> &str {
        // Only ASCII bytes are ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// `n` in decimal, appended without `core::fmt`.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut buf = Ascii::<20>::new();
    buf.decimal(n);
    out.push_str(buf.as_str());
}

/// An address as `Display` writes it; IPv4 (the common case) without `core::fmt`.
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            let mut buf = Ascii::<15>::new();
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                buf.decimal(u64::from(o));
            }
            out.push_str(buf.as_str());
        }
        IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time() {
        let mut s = String::new();
        // 2024-02-29T13:05:09Z
        write_clf_time(&mut s, 1_709_211_909);
        assert_eq!(s, "29/Feb/2024:13:05:09 +0000");
        s.clear();
        write_clf_time(&mut s, 0);
        assert_eq!(s, "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn ip_as_display_writes_it() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "203.0.113.255",
            "10.20.3.45",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip
                .parse()
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }

    #[test]
    fn a_returned_context_keeps_its_buffers_for_the_next_lease() {
        let pool = ContextPool::default();
        {
            let mut rc = pool.lease();
            rc.scratch
                .uri
                .push_str("http://127.0.0.1:8080/some/long/path");
            rc.scratch.upstream_request.extend_from_slice(&[b'x'; 700]);
        }
        assert_eq!(pool.spare(), 1);
        let rc = pool.lease();
        assert_eq!(pool.spare(), 0);
        assert!(rc.scratch.uri.capacity() >= "http://127.0.0.1:8080/some/long/path".len());
        assert!(rc.scratch.upstream_request.capacity() >= 700);
    }

    #[test]
    fn the_pool_keeps_at_most_max_spare_contexts() {
        let pool = ContextPool::default();
        let leases: Vec<_> = (0..MAX_SPARE_CONTEXTS + 5).map(|_| pool.lease()).collect();
        assert_eq!(pool.spare(), 0);
        drop(leases);
        assert_eq!(pool.spare(), MAX_SPARE_CONTEXTS);
    }
}
