//! CORS (API Gateway HTTP APIs' `corsConfiguration`, on any API with `cors:`): preflight
//! `OPTIONS` requests answered by the gateway without an integration call, and the CORS
//! headers added to every other response of a cross-origin request (gateway errors too),
//! replacing any the integration sent.
//!
//! The hooks:
//! - [`begin`] in `run` once the API is known, before its route is matched: answers a
//!   preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) whatever the
//!   routes, before any authorizer, API key, throttle or integration (204, with the CORS
//!   headers when the origin, method and headers are allowed, without them when not); for
//!   any other request it records in `rc.cors` the request's `Origin`;
//! - [`add_headers`] after `x-amzn-requestid` wherever a response head is written: the
//!   headers the API's configuration gives that origin (decided there, from the copied
//!   origin, so nothing is decided twice and nothing allocates);
//! - [`replaces`] where integration response headers are copied: theirs are dropped
//!   (API Gateway ignores a backend's CORS headers when CORS is configured).
//!
//! An API without `cors:` pays one branch in `begin` and one in each of the others.

use std::sync::Arc;

use crate::config::cors::{Cors, PreflightRequest, METHOD_MAX, ORIGIN_MAX, VARY};
use crate::config::snapshot::Api;
use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::http::head::Method;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::{Next, ResponseBody, Session};
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{discard_unread, keep_alive};

/// `origin_len` when the request sent no `Origin`.
const NO_ORIGIN: u16 = u16::MAX;

/// The most bytes of `Access-Control-Request-Headers` echoed when `allow_headers` is `*`
/// (longer lists are answered with `*`).
pub const REQUESTED_HEADERS_MAX: usize = 1024;

/// What this request's response carries for CORS (reset per request): whether the API's
/// CORS applies, and the request's `Origin`, copied (the head is gone when the response is
/// written). Plain bytes: resetting and filling it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsState {
    /// The address of the `Api` whose CORS applies (in the request's snapshot); 0: none.
    api: usize,
    /// The `Origin`'s length in `origin`; [`NO_ORIGIN`] when there was none; 0 also for one
    /// longer than `ORIGIN_MAX` (no such origin can be listed, or echoed).
    origin_len: u16,
    origin: [u8; ORIGIN_MAX],
}

impl Default for CorsState {
    fn default() -> Self {
        CorsState {
            api: 0,
            origin_len: NO_ORIGIN,
            origin: [0; ORIGIN_MAX],
        }
    }
}

impl CorsState {
    /// Forget the last request (what `Default` does, without rewriting the buffer).
    #[inline]
    pub fn clear(&mut self) {
        self.api = 0;
        self.origin_len = NO_ORIGIN;
    }

    /// Whether the API's CORS configuration applies to this request's response.
    #[inline]
    pub fn active(&self) -> bool {
        self.api != 0
    }

    /// The request's `Origin` (empty when it was longer than `ORIGIN_MAX`).
    pub fn origin(&self) -> Option<&[u8]> {
        match self.origin_len {
            NO_ORIGIN => None,
            n => self.origin.get(..n as usize),
        }
    }

    fn record(&mut self, api: &Api, origin: Option<&[u8]>) {
        self.api = api as *const Api as usize;
        self.origin_len = match origin {
            None => NO_ORIGIN,
            Some(o) => match self.origin.get_mut(..o.len()) {
                Some(slot) => {
                    slot.copy_from_slice(o);
                    o.len() as u16
                }
                None => 0,
            },
        };
    }
}

/// Answer a preflight of an API with CORS configured; else note what the response needs.
pub async fn begin<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    api: &Api,
) -> Result<Option<Next>, GatewayError> {
    let Some(cors) = api.cors.as_ref() else {
        return Ok(None);
    };
    let origin = session.header("origin");
    rc.cors.record(api, origin);
    let preflight = origin.is_some()
        && session.method() == Method::Options
        && session.header("access-control-request-method").is_some();
    if !preflight {
        return Ok(None);
    }
    // A body nobody reads: dropped first, while the head is still there to decide on.
    discard_unread(session).await?;
    let keep_alive = keep_alive(ctx, session);
    write_preflight(ctx, session, rc, cors, keep_alive);
    rc.status = 204;
    rc.response_length = 0;
    if session.finish_response().await.is_err() || !session.keeps_alive() {
        return Ok(Some(Next::Close));
    }
    Ok(Some(Next::KeepAlive))
}

/// Decide the preflight in `session` and write its answer's head: 204, the gateway's
/// headers, and the CORS headers when allowed. Synchronous, so that the copies of the
/// requested method and headers (the head is released before the answer is written) live
/// on the stack, not in the request's future.
fn write_preflight<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &RequestContext,
    cors: &Cors,
    keep_alive: bool,
) {
    let mut method = [0u8; METHOD_MAX];
    let mut requested = [0u8; REQUESTED_HEADERS_MAX];
    let (decision, method_len, requested_len) = {
        let m = session
            .header("access-control-request-method")
            .unwrap_or_default();
        let lines = || {
            session
                .headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"access-control-request-headers"))
                .map(|(_, v)| v)
        };
        let decision = cors.preflight(PreflightRequest {
            origin: session.header("origin").unwrap_or_default(),
            method: m,
            headers: lines(),
        });
        let method_len = match method.get_mut(..m.len()) {
            Some(slot) => {
                slot.copy_from_slice(m);
                m.len()
            }
            None => 0,
        };
        // The requested header names, the lines joined with commas (`None`: none asked
        // for; `Some(0)`: too long to echo).
        let mut requested_len = None;
        for line in lines().map(<[u8]>::trim_ascii).filter(|l| !l.is_empty()) {
            let at = requested_len.unwrap_or(0);
            let sep = usize::from(at > 0);
            let end = at + sep + line.len();
            match requested.get_mut(at..end) {
                Some(slot) if requested_len != Some(0) || at == 0 => {
                    if sep == 1 {
                        slot[0] = b',';
                    }
                    slot[sep..].copy_from_slice(line);
                    requested_len = Some(end);
                }
                _ => {
                    requested_len = Some(0);
                    break;
                }
            }
        }
        (decision, method_len, requested_len)
    };
    session.release_head();
    session.start_response(204);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    match decision {
        Ok(allowed) => {
            let requested: Option<&[u8]> = match requested_len {
                None => None,
                Some(0) => Some(b"*"),
                Some(n) => requested.get(..n),
            };
            cors.preflight_headers(
                rc.cors.origin().unwrap_or_default(),
                allowed,
                method.get(..method_len).unwrap_or_default(),
                requested,
                |name, value| session.response_header(name, value),
            );
        }
        Err(_) if cors.varies() => session.response_header(VARY, b"Origin"),
        Err(_) => {}
    }
    session.end_response_head(ResponseBody::None, keep_alive);
}

/// Add the CORS response headers `rc.cors` calls for.
#[inline]
pub fn add_headers<S: Session>(ctx: &WorkerCtx, session: &mut S, rc: &RequestContext) {
    if !rc.cors.active() {
        return;
    }
    let snapshot = ctx.snapshot();
    if let Some(cors) = config(&snapshot, rc) {
        cors.response_headers(rc.cors.origin(), |name, value| {
            session.response_header(name, value)
        });
    }
}

/// The CORS configuration this request's response follows, in `snapshot`: its API's (the
/// one `begin` saw; after a reload in the middle of the request, the API of the same id in
/// the new configuration). `None` when the request's API has no CORS.
pub fn config<'s>(snapshot: &'s Snapshot, rc: &RequestContext) -> Option<&'s Cors> {
    if !rc.cors.active() {
        return None;
    }
    let same = rc
        .api_index
        .and_then(|i| snapshot.apis.get(i))
        .filter(|a| Arc::as_ptr(a) as usize == rc.cors.api);
    let api = match same {
        Some(api) => api,
        None => snapshot
            .apis_by_id
            .get(rc.api_id())
            .and_then(|&i| snapshot.apis.get(i))?,
    };
    api.cors.as_ref()
}

/// Whether an integration's response header `name` is left out (the gateway's CORS
/// headers replace it).
#[inline]
pub fn replaces(rc: &RequestContext, name: &[u8]) -> bool {
    rc.cors.active() && is_cors_header(name)
}

/// Whether `name` is a CORS response header (`Access-Control-*`, any case).
#[inline]
pub fn is_cors_header(name: &[u8]) -> bool {
    const PREFIX: &[u8] = b"access-control-";
    name.len() > PREFIX.len() && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::pipeline::session::memory::MemorySession;

    const CONFIG: &str = r#"
listeners:
  - {name: public, bind: 127.0.0.1:0, default_api: web}
apis:
  - id: web
    type: HTTP
    cors:
      allow_origins: ['https://app.example', 'https://*']
      allow_methods: [GET, PUT]
      allow_headers: [content-type, '*']
      expose_headers: [x-id]
      max_age: 300
      allow_credentials: true
    routes:
      - route: GET /hello
        integration: {type: MOCK, status: 200, body: hi, headers: {x-id: '1'}}
    stages: [{name: $default}]
  - id: plain
    type: REST
    routes:
      - route: OPTIONS /hello
        integration:
          type: MOCK
          status: 200
          headers: {access-control-allow-origin: 'https://mine.example'}
    stages: [{name: prod}]
"#;

    fn run(ctx: &WorkerCtx, session: &mut MemorySession, rc: &mut RequestContext) -> Next {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(crate::pipeline::run(ctx, session, rc))
    }

    fn worker() -> WorkerCtx {
        let snap = Arc::new(
            crate::config::validate::from_str(Path::new("t.yaml"), CONFIG)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let (services, _limits) = crate::services::Services::start(&snap, 1);
        WorkerCtx::new(0, snap, Arc::new(services))
    }

    fn cors_headers(s: &MemorySession) -> Vec<(String, String)> {
        s.response_headers
            .iter()
            .filter(|(n, _)| is_cors_header(n.as_bytes()) || n == "vary")
            .cloned()
            .collect()
    }

    #[test]
    fn state_keeps_the_origin_and_clears() {
        let mut st = CorsState::default();
        assert!(!st.active());
        assert_eq!(st.origin(), None);
        let snap = crate::config::validate::from_str(Path::new("t.yaml"), CONFIG)
            .unwrap_or_else(|e| panic!("{e}"));
        st.record(&snap.apis[0], Some(b"https://a.example"));
        assert!(st.active());
        assert_eq!(st.origin(), Some(&b"https://a.example"[..]));
        let long = vec![b'a'; ORIGIN_MAX + 1];
        st.record(&snap.apis[0], Some(&long));
        assert_eq!(st.origin(), Some(&b""[..]));
        st.record(&snap.apis[0], None);
        assert_eq!(st.origin(), None);
        st.clear();
        assert!(!st.active());
        assert_eq!(st.origin(), None);
    }

    #[test]
    fn cors_headers_are_recognised_in_any_case() {
        assert!(is_cors_header(b"Access-Control-Allow-Origin"));
        assert!(is_cors_header(b"access-control-max-age"));
        assert!(!is_cors_header(b"access-control-"));
        assert!(!is_cors_header(b"vary"));
        assert!(!is_cors_header(b"x-access-control-allow-origin"));
    }

    #[test]
    fn a_preflight_is_answered_before_routing() {
        let ctx = worker();
        let mut rc = RequestContext::default();
        // No OPTIONS route, and a path with no route at all.
        let mut s = MemorySession::new("OPTIONS", "/nowhere", Some("localhost"))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "PUT")
            .header("Access-Control-Request-Headers", "Content-Type")
            .header("Access-Control-Request-Headers", "X-Custom");
        assert_eq!(run(&ctx, &mut s, &mut rc), Next::KeepAlive);
        assert_eq!(s.status, Some(204));
        assert_eq!(s.framing, Some(ResponseBody::None));
        assert!(s.response_body.is_empty());
        assert!(s.response_header("x-amzn-requestid").is_some());
        let strs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cors_headers(&s),
            strs(&[
                ("access-control-allow-origin", "https://app.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET,PUT"),
                ("access-control-allow-headers", "Content-Type,X-Custom"),
                ("access-control-max-age", "300"),
                ("vary", "Origin"),
            ])
        );
        assert_eq!(rc.status, 204);

        // Refused (a method not allowed): 204 without CORS headers.
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("OPTIONS", "/hello", Some("localhost"))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "DELETE");
        run(&ctx, &mut s, &mut rc);
        assert_eq!(s.status, Some(204));
        assert_eq!(cors_headers(&s), strs(&[("vary", "Origin")]));

        // A scheme wildcard echoes the origin.
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("OPTIONS", "/hello", Some("localhost"))
            .header("Origin", "https://other.example:8443")
            .header("Access-Control-Request-Method", "GET");
        run(&ctx, &mut s, &mut rc);
        assert_eq!(
            s.response_header("access-control-allow-origin"),
            Some("https://other.example:8443")
        );
    }

    #[test]
    fn actual_responses_and_errors_carry_the_headers() {
        let ctx = worker();
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/hello", Some("localhost"))
            .header("Origin", "https://app.example");
        run(&ctx, &mut s, &mut rc);
        assert_eq!(s.status, Some(200));
        assert_eq!(
            s.response_header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            s.response_header("access-control-expose-headers"),
            Some("x-id")
        );
        assert_eq!(s.response_header("access-control-allow-methods"), None);
        // A gateway error (no route: 404) too.
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/missing", Some("localhost"))
            .header("Origin", "https://app.example");
        run(&ctx, &mut s, &mut rc);
        assert_eq!(s.status, Some(404));
        assert_eq!(
            s.response_header("access-control-allow-origin"),
            Some("https://app.example")
        );
        // An OPTIONS without Access-Control-Request-Method is no preflight: routed (here to
        // no route).
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("OPTIONS", "/hello", Some("localhost"))
            .header("Origin", "https://app.example");
        run(&ctx, &mut s, &mut rc);
        assert_eq!(s.status, Some(404));
    }

    #[test]
    fn an_api_without_cors_is_untouched() {
        let ctx = worker();
        let mut rc = RequestContext::default();
        // The REST API without `cors:`, by its execute-api host: its OPTIONS MOCK route
        // answers the preflight, with its own CORS header.
        let mut s2 = MemorySession::new(
            "OPTIONS",
            "/prod/hello",
            Some("plain.execute-api.localhost"),
        )
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "PUT");
        run(&ctx, &mut s2, &mut rc);
        assert_eq!(s2.status, Some(200), "{:?}", s2.response_headers);
        assert!(!rc.cors.active());
        assert_eq!(
            cors_headers(&s2),
            vec![(
                "access-control-allow-origin".to_string(),
                "https://mine.example".to_string()
            )]
        );
    }
}
