//! Phase 10 for errors: a `GatewayError` becomes API Gateway's gateway response
//! (`{"message": ...}`, `x-amzn-ErrorType`, `x-amzn-RequestId`) from the one table in
//! `error`, and the connection is kept or closed as the request's state allows.
//!
//! An API's customised gateway responses (`config::gateway_response`) replace the
//! default's status, add headers and render the body from a template. The uncustomised
//! path costs one test more than before (the API has no customisation) and allocates
//! nothing; a customised response is rendered into owned buffers (allocating).
//!
//! `method.request.header` / `querystring` values come from the copy
//! [`RequestValues::capture`] made when the API was selected (the pipeline passes it to
//! [`error_with`]); without one they are absent and their headers left out
//! (docs/BEHAVIOUR.md "Gateway responses").

use std::borrow::Cow;

use crate::config::gateway_response::{ParamValue, RequestValue, Resolved, TemplatePart};
use crate::config::snapshot::Api;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError, GatewayResponse};
use crate::log;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::{BodyState, Next, ResponseBody, Session};
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{head_only, keep_alive};

/// Answer a request with the gateway response for `err` (customised responses without
/// method request values: [`error_with`] passes them).
pub async fn error<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    err: GatewayError,
) -> Next {
    error_with(ctx, session, rc, snapshot, err, &RequestValues::default()).await
}

/// [`error`], with the method request values `values` copied when the API was selected
/// ([`RequestValues::capture`]), which a customised response maps (the request head may be
/// gone: an integration releases it before it calls the backend).
pub async fn error_with<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    err: GatewayError,
    values: &RequestValues,
) -> Next {
    if matches!(
        err.kind,
        ErrorKind::IntegrationFailure
            | ErrorKind::IntegrationRejected
            | ErrorKind::IntegrationTimeout
            | ErrorKind::Internal
    ) || err.source.is_some()
    {
        log!(
            "request {}: {err}",
            std::str::from_utf8(&rc.request_id).unwrap_or("-")
        );
    }
    rc.error = Some(err.kind);
    // The API's customisation, if it has one for this error (usually none: one test).
    let custom = match customisation(snapshot, rc, err.kind) {
        None => None,
        Some((api, resolved)) => {
            // `$context.status` is the response's.
            rc.status = resolved.status;
            let source = MethodRequest::of(values, api);
            Some(render(snapshot, api, rc, &err, resolved, &source))
        }
    };
    session.release_head();
    let mut keep_alive = keep_alive(ctx, session) && !err.closes_connection();
    if keep_alive {
        match session.body_state() {
            BodyState::Done => {}
            BodyState::Partial => keep_alive = false,
            // Read and drop a body nobody asked for yet, unless the client is waiting for a
            // 100 Continue (then it is cheaper to close than to invite the upload).
            BodyState::Untouched if session.expect_continue() => keep_alive = false,
            BodyState::Untouched => {
                if session.discard_body().await.is_err() {
                    keep_alive = false;
                }
            }
        }
    }
    if let Some(custom) = custom {
        write_custom(ctx, session, rc, &err, &custom, keep_alive);
        rc.status = custom.status;
        rc.response_length = custom.body.len() as u64;
    } else {
        write_default(ctx, session, rc, &err, keep_alive);
    }
    rc.error_message = err.detail.and_then(|d| d.message);
    if session.flush().await.is_err() {
        return Next::Close;
    }
    if !session.keeps_alive() {
        session.close_after_error().await;
        return Next::Close;
    }
    Next::KeepAlive
}

/// API Gateway's default response: the table's status, `x-amzn-ErrorType` and
/// `{"message": ...}` (allocation-free unless the error carries a message of its own).
fn write_default<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    err: &GatewayError,
    keep_alive: bool,
) {
    let resp = GatewayResponse::for_kind(err.kind);
    // {"message":"..."}: the table's messages hold no characters that need JSON escaping;
    // a message of the error's own (authorizers; the error path only) is escaped.
    let own = own_message_json(err);
    let body_len = match &own {
        Some(quoted) => quoted.len() + 12,
        None => resp.message.len() + 14,
    };
    session.start_response(resp.status);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    if let Some(secs) = err.retry_after {
        let mut digits = [0u8; 20];
        session.response_header(b"retry-after", decimal(secs, &mut digits));
    }
    session.response_header(b"content-type", b"application/json");
    session.response_header(b"x-amzn-errortype", resp.error_type.as_bytes());
    if let Some(detail) = &err.detail {
        for (name, value) in &detail.headers {
            session.response_header(name.as_bytes(), value.as_bytes());
        }
    }
    session.end_response_head(ResponseBody::Length(body_len as u64), keep_alive);
    if !head_only(session) {
        match &own {
            Some(quoted) => {
                session.push_body(b"{\"message\":");
                session.push_body(quoted.as_bytes());
                session.push_body(b"}");
            }
            None => {
                session.push_body(b"{\"message\":\"");
                session.push_body(resp.message.as_bytes());
                session.push_body(b"\"}");
            }
        }
    }
    rc.status = resp.status;
    rc.response_length = body_len as u64;
}

/// The error's own message as a JSON string, when it has one.
fn own_message_json(err: &GatewayError) -> Option<String> {
    err.detail
        .as_ref()
        .and_then(|d| d.message.as_deref())
        .map(json_string)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The API's customisation answering `kind`, if the request reached an API that has any.
#[inline]
fn customisation<'s>(
    snapshot: &'s Snapshot,
    rc: &RequestContext,
    kind: ErrorKind,
) -> Option<(&'s Api, Resolved<'s>)> {
    let api = &**snapshot.apis.get(rc.api_index?)?;
    if api.gateway_responses.is_empty() {
        return None;
    }
    Some((api, api.gateway_responses.resolve(kind)?))
}

/// A customised response, rendered.
#[derive(Debug, PartialEq, Eq)]
struct Rendered<'s> {
    status: u16,
    /// Lowercase names (the configuration's), values free of control characters.
    headers: Vec<(&'s str, String)>,
    /// The template's content type (`None`: the default body, `application/json`).
    content_type: Option<&'s str>,
    body: String,
}

impl Rendered<'_> {
    fn sets(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| *n == name)
    }
}

/// Where `method.request.header` / `querystring` values are read: the copy made when the
/// API was selected. The request head itself is never read here: an integration may have
/// released it (HTTP/1.1 reuses its bytes for the body), and no session says whether it
/// did.
struct MethodRequest<'a> {
    copied: Option<(&'a RequestValues, &'a Api)>,
}

impl<'a> MethodRequest<'a> {
    /// The copy in `values`, when it was made for `api`.
    fn of(values: &'a RequestValues, api: &'a Api) -> Self {
        MethodRequest {
            copied: (values.api == Some(api.index)).then_some((values, api)),
        }
    }

    /// The (last) value of header `name` (lowercase).
    fn header(&self, name: &str) -> Option<&'a str> {
        let (values, api) = self.copied?;
        values.find(
            api,
            |v| matches!(v, RequestValue::Header(n) if &**n == name),
        )
    }

    /// The (last) value of query parameter `name`, percent-decoded.
    fn query(&self, name: &str) -> Option<&'a str> {
        let (values, api) = self.copied?;
        values.find(api, |v| matches!(v, RequestValue::Query(n) if &**n == name))
    }
}

fn last_header<'a, S: Session>(session: &'a S, name: &str) -> Option<Cow<'a, str>> {
    let value = session
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .last()?
        .1;
    Some(String::from_utf8_lossy(value))
}

fn last_query<S: Session>(session: &S, name: &str) -> Option<String> {
    let query = session.query()?;
    let raw = crate::cache::key::query_values(query, name.as_bytes()).last()?;
    Some(percent_decode(raw))
}

/// `%XX` decoded (other bytes as they are; `+` stays `+`), as text.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                raw.get(i + 1).and_then(|&c| hex(c)),
                raw.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The method request values an API's gateway responses read (`GatewayResponses::
/// request_values`), copied while the request head is readable so that errors raised after
/// it is released (integration failures and timeouts) still have them. One per request,
/// reused: its buffers keep their capacity.
#[derive(Debug, Default)]
pub struct RequestValues {
    /// The API the values were copied for (`Api::index`); `None`: nothing copied.
    api: Option<usize>,
    text: String,
    /// Parallel to the API's `request_values()`: each value's range in `text`.
    ranges: Vec<Option<(usize, usize)>>,
}

impl RequestValues {
    /// Forget the previous request's values (keeping the buffers).
    pub fn clear(&mut self) {
        self.api = None;
        self.text.clear();
        self.ranges.clear();
    }

    /// Copy what `api`'s gateway responses read from the request (nothing when they read
    /// nothing: the common case costs one test).
    pub fn capture<S: Session>(&mut self, session: &S, api: &Api) {
        let wanted = api.gateway_responses.request_values();
        if wanted.is_empty() {
            return;
        }
        self.clear();
        self.api = Some(api.index);
        for v in wanted {
            let value = match v {
                RequestValue::Header(name) => last_header(session, name),
                RequestValue::Query(name) => last_query(session, name).map(Cow::Owned),
            };
            let range = value.map(|value| {
                let start = self.text.len();
                self.text.push_str(&value);
                (start, self.text.len())
            });
            self.ranges.push(range);
        }
    }

    /// The copied value of the first of `api`'s request values `which` picks (`None`: not
    /// sent, or not copied for `api`).
    fn find(&self, api: &Api, which: impl Fn(&RequestValue) -> bool) -> Option<&str> {
        if self.api != Some(api.index) {
            return None;
        }
        let i = api
            .gateway_responses
            .request_values()
            .iter()
            .position(which)?;
        let (start, end) = (*self.ranges.get(i)?)?;
        self.text.get(start..end)
    }
}

/// Render `resolved` for this request.
fn render<'s>(
    snapshot: &'s Snapshot,
    api: &'s Api,
    rc: &RequestContext,
    err: &GatewayError,
    resolved: Resolved<'s>,
    source: &MethodRequest<'_>,
) -> Rendered<'s> {
    let custom = resolved.response;
    let mut headers = Vec::with_capacity(custom.headers.len());
    for h in &custom.headers {
        let value: Option<Cow<'_, str>> = match &h.value {
            ParamValue::Static(text) => Some(Cow::Borrowed(text)),
            ParamValue::Header(name) => source.header(name).map(Cow::Borrowed),
            ParamValue::Query(name) => source.query(name).map(Cow::Borrowed),
            ParamValue::Path(name) => {
                path_parameter(rc.route_key(), rc.resource_path(), name).map(Cow::Borrowed)
            }
            ParamValue::StageVariable(name) => stage_variable(api, rc, name).map(Cow::Borrowed),
            ParamValue::Context(name) => {
                let mut out = String::new();
                context_value(name, snapshot, rc, err, &mut out);
                Some(Cow::Owned(out))
            }
        };
        // A mapped value the request does not have leaves the header out.
        let dynamic = !matches!(h.value, ParamValue::Static(_));
        match value {
            Some(v) if !(dynamic && v.is_empty()) => {
                headers.push((&*h.name, header_safe(v.into_owned())));
            }
            _ => {}
        }
    }
    let (content_type, body) = match choose_template(&custom.templates, source) {
        Some((content_type, template)) => {
            let mut body = String::new();
            for part in &template.parts {
                match part {
                    TemplatePart::Literal(text) => body.push_str(text),
                    TemplatePart::Context(name) => {
                        context_value(name, snapshot, rc, err, &mut body)
                    }
                    TemplatePart::StageVariable(name) => {
                        body.push_str(stage_variable(api, rc, name).unwrap_or(""))
                    }
                }
            }
            (Some(content_type), body)
        }
        None => {
            let mut body = String::from("{\"message\":");
            match own_message_json(err) {
                Some(quoted) => body.push_str(&quoted),
                None => {
                    // The table's messages need no escaping.
                    body.push('"');
                    body.push_str(GatewayResponse::for_kind(err.kind).message);
                    body.push('"');
                }
            }
            body.push('}');
            (None, body)
        }
    };
    Rendered {
        status: resolved.status,
        headers,
        content_type,
        body,
    }
}

/// The template for the request's Accept (its first media type that has one), else
/// `application/json`'s, else the first.
fn choose_template<'t>(
    templates: &'t [(Box<str>, crate::config::gateway_response::Template)],
    source: &MethodRequest<'_>,
) -> Option<(&'t str, &'t crate::config::gateway_response::Template)> {
    let by_type = |ct: &str| {
        templates
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(ct))
            .map(|(c, t)| (&**c, t))
    };
    if templates.len() > 1 {
        if let Some(accept) = source.header("accept") {
            let chosen = accept
                .split(',')
                .filter_map(|range| range.split(';').next())
                .map(str::trim)
                .find_map(by_type);
            if chosen.is_some() {
                return chosen;
            }
        }
    }
    by_type("application/json").or_else(|| templates.first().map(|(c, t)| (&**c, t)))
}

/// `$context.NAME` for a gateway response: the error's own (`error.message`,
/// `error.messageString`, `error.responseType`), else the request context's.
fn context_value(
    name: &str,
    snapshot: &Snapshot,
    rc: &RequestContext,
    err: &GatewayError,
    out: &mut String,
) {
    match name {
        "error.message" => out.push_str(err.message()),
        "error.messageString" => out.push_str(&json_string(err.message())),
        "error.responseType" => out.push_str(err.kind.response_type().name()),
        _ => {
            rc.variable(name, snapshot, out);
        }
    }
}

/// Stage variable `name` of the request's stage (its canary's when the canary served it).
fn stage_variable<'s>(api: &'s Api, rc: &RequestContext, name: &str) -> Option<&'s str> {
    let id = rc.stage_id?;
    let stage = api.stages.values().find(|s| s.id == id)?;
    let variables = match (&stage.canary, rc.canary) {
        (Some(canary), true) => &canary.variables,
        _ => &stage.variables,
    };
    variables.get(name).map(String::as_str)
}

/// Path parameter `name` of the matched route (`route_key` like `GET /pets/{id}`, matched
/// by `resource_path`), raw as in the path; a greedy `{name+}` takes the rest.
fn path_parameter<'p>(route_key: &str, resource_path: &'p str, name: &str) -> Option<&'p str> {
    let template = route_key.split_once(' ').map(|(_, p)| p)?;
    let mut rest = resource_path.strip_prefix('/').unwrap_or(resource_path);
    for segment in template.trim_start_matches('/').split('/') {
        let param = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        let (value, after) = rest.split_once('/').unwrap_or((rest, ""));
        match param {
            Some(p) if p.strip_suffix('+') == Some(name) => return Some(rest),
            Some(p) if p.ends_with('+') => return None,
            Some(p) if p == name => return Some(value),
            _ => rest = after,
        }
    }
    None
}

/// A header value without control characters (a mapped value could carry one).
fn header_safe(mut v: String) -> String {
    if v.chars().any(|c| c.is_control() && c != '\t') {
        v = v
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
    }
    v
}

/// Write a customised response.
fn write_custom<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &RequestContext,
    err: &GatewayError,
    custom: &Rendered<'_>,
    keep_alive: bool,
) {
    let resp = GatewayResponse::for_kind(err.kind);
    session.start_response(custom.status);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    // The gateway's own headers, unless the customisation sets them.
    if let Some(secs) = err.retry_after.filter(|_| !custom.sets("retry-after")) {
        let mut digits = [0u8; 20];
        session.response_header(b"retry-after", decimal(secs, &mut digits));
    }
    if !custom.sets("content-type") {
        let content_type = custom.content_type.unwrap_or("application/json");
        session.response_header(b"content-type", content_type.as_bytes());
    }
    if !custom.sets("x-amzn-errortype") {
        session.response_header(b"x-amzn-errortype", resp.error_type.as_bytes());
    }
    if let Some(detail) = &err.detail {
        for (name, value) in &detail.headers {
            if !custom.sets(name) {
                session.response_header(name.as_bytes(), value.as_bytes());
            }
        }
    }
    for (name, value) in &custom.headers {
        // The gateway's CORS headers (the API's `cors:`) win over a customised one.
        if !crate::pipeline::cors::replaces(rc, name.as_bytes()) {
            session.response_header(name.as_bytes(), value.as_bytes());
        }
    }
    session.end_response_head(ResponseBody::Length(custom.body.len() as u64), keep_alive);
    if !head_only(session) {
        session.push_body(custom.body.as_bytes());
    }
}

/// `n` in decimal, written into the end of `buf` (no allocation).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::session::memory::MemorySession;
    use std::path::Path;
    use std::sync::Arc;

    const CONFIG: &str = r#"
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    routes:
      - route: GET /items/{id}
        integration: {type: MOCK, body: item}
    stages:
      - name: prod
        variables: {team: blue}
    gateway_responses:
      MISSING_AUTHENTICATION_TOKEN:
        status_code: 404
        response_parameters:
          gatewayresponse.header.x-static: "'fixed'"
          gatewayresponse.header.x-client: method.request.header.x-client
          gatewayresponse.header.x-q: method.request.querystring.q
          gatewayresponse.header.x-team: stageVariables.team
          gatewayresponse.header.x-id: context.requestId
          gatewayresponse.header.x-missing: method.request.header.x-not-sent
          gatewayresponse.header.x-amzn-ErrorType: "'Custom'"
        response_templates:
          application/json: '{"error":$context.error.messageString,"type":"$context.error.responseType","id":"$context.requestId","status":$context.status,"team":"$stageVariables.team"}'
          text/plain: 'not here: $context.error.message'
      DEFAULT_5XX:
        response_parameters:
          gatewayresponse.header.x-client: method.request.header.x-client
          gatewayresponse.header.x-q: method.request.querystring.q
          gatewayresponse.header.x-item: method.request.path.id
        response_templates:
          application/json: '{"oops":"$context.error.message"}'
  - id: plain
    routes: []
    stages: [{name: prod}]
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

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(f)
    }

    /// What `pipeline::run` does for a request that fails routing: with `copy`, the copy of
    /// the method request values made once the API is selected (REQUESTS-gwresp.md, item 1)
    /// passed to `error_with`; without, `error`.
    fn route_and_answer(
        ctx: &WorkerCtx,
        snap: &Snapshot,
        s: &mut MemorySession,
        rc: &mut RequestContext,
        copy: bool,
    ) -> Next {
        rc.begin(&*s, [b'0'; 36]);
        let mut values = RequestValues::default();
        let err = match crate::pipeline::route::select(snap, &*s, rc, || 100.0) {
            Err(e) => e,
            Ok(selected) => {
                if copy {
                    values.capture(&*s, selected.api);
                }
                match crate::pipeline::route::find(&*s, rc, selected) {
                    Err(e) => e,
                    Ok(_) => panic!("the request was expected not to route"),
                }
            }
        };
        block_on(error_with(ctx, s, rc, snap, err, &values))
    }

    fn body(s: &MemorySession) -> String {
        String::from_utf8_lossy(&s.response_body).into_owned()
    }

    #[test]
    fn a_customised_type_renders_status_headers_and_template() {
        let snap = snapshot();
        let ctx = worker(&snap);
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/nope?q=a%20b&q=last%21", None)
            .header("x-client", "first")
            .header("X-Client", "second");
        assert_eq!(
            route_and_answer(&ctx, &snap, &mut s, &mut rc, true),
            Next::KeepAlive
        );
        assert_eq!(s.status, Some(404));
        let id = s.response_header("x-amzn-requestid").unwrap().to_string();
        assert_eq!(s.response_header("x-static"), Some("fixed"));
        // The last value of a repeated header or query parameter, decoded.
        assert_eq!(s.response_header("x-client"), Some("second"));
        assert_eq!(s.response_header("x-q"), Some("last!"));
        assert_eq!(s.response_header("x-team"), Some("blue"));
        assert_eq!(s.response_header("x-id"), Some(id.as_str()));
        assert_eq!(s.response_header("x-missing"), None);
        // A customised header replaces the gateway's own of that name.
        assert_eq!(s.response_header("x-amzn-errortype"), Some("Custom"));
        assert_eq!(
            s.response_headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("x-amzn-errortype"))
                .count(),
            1
        );
        assert_eq!(s.response_header("content-type"), Some("application/json"));
        let want = format!(
            r#"{{"error":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN","id":"{id}","status":404,"team":"blue"}}"#
        );
        assert_eq!(body(&s), want);
        assert_eq!(s.framing, Some(ResponseBody::Length(want.len() as u64)));
        assert_eq!((rc.status, rc.response_length), (404, want.len() as u64));
    }

    #[test]
    fn without_a_copy_mapped_request_values_are_left_out() {
        // Answered through `error` (no copy): the head is not read (an integration may have
        // released it); static values, `$context` and the template are there.
        let snap = snapshot();
        let ctx = worker(&snap);
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/nope?q=1", None).header("x-client", "c");
        assert_eq!(
            route_and_answer(&ctx, &snap, &mut s, &mut rc, false),
            Next::KeepAlive
        );
        assert_eq!(s.status, Some(404));
        assert_eq!(s.response_header("x-static"), Some("fixed"));
        assert_eq!(s.response_header("x-team"), Some("blue"));
        assert_eq!(s.response_header("x-client"), None);
        assert_eq!(s.response_header("x-q"), None);
        assert!(body(&s).starts_with(r#"{"error":"Missing Authentication Token""#));
    }

    #[test]
    fn the_template_follows_accept() {
        let snap = snapshot();
        let ctx = worker(&snap);
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/nope", None).header(
            "accept",
            "image/png, text/plain;q=0.9, application/json;q=0.1",
        );
        route_and_answer(&ctx, &snap, &mut s, &mut rc, true);
        assert_eq!(s.response_header("content-type"), Some("text/plain"));
        assert_eq!(body(&s), "not here: Missing Authentication Token");
        // No match: application/json.
        let mut s = MemorySession::new("GET", "/prod/nope", None).header("accept", "image/png");
        route_and_answer(&ctx, &snap, &mut s, &mut rc, true);
        assert_eq!(s.response_header("content-type"), Some("application/json"));
        // HEAD: the length, no body.
        let mut s = MemorySession::new("HEAD", "/prod/nope", None).header("accept", "text/plain");
        route_and_answer(&ctx, &snap, &mut s, &mut rc, true);
        assert_eq!(s.status, Some(404));
        assert_eq!(
            s.framing,
            Some(ResponseBody::Length(
                "not here: Missing Authentication Token".len() as u64
            ))
        );
        assert!(s.response_body.is_empty());
    }

    #[test]
    fn an_api_without_customisation_answers_the_default() {
        let snap = snapshot();
        let ctx = worker(&snap);
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/nope", Some("plain.execute-api.localhost"));
        block_on(super::super::run(&ctx, &mut s, &mut rc));
        assert_eq!(rc.api_index, Some(1), "the request reached API `plain`");
        assert_eq!(s.status, Some(403));
        assert_eq!(body(&s), r#"{"message":"Missing Authentication Token"}"#);
        assert_eq!(
            s.response_header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException")
        );
        assert_eq!(s.response_header("x-static"), None);
        // The customised API's other types keep their defaults too: a 5XX customisation
        // does not touch a 403.
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/items/1", None);
        rc.begin(&s, [b'1'; 36]);
        rc.api_index = Some(0);
        let next = block_on(error(
            &ctx,
            &mut s,
            &mut rc,
            &snap,
            GatewayError::new(ErrorKind::InvalidApiKey),
        ));
        assert_eq!(next, Next::KeepAlive);
        assert_eq!(s.status, Some(403));
        assert_eq!(body(&s), r#"{"message":"Forbidden"}"#);
        assert_eq!(
            s.response_header("x-amzn-errortype"),
            Some("ForbiddenException")
        );
        assert_eq!(s.response_header("x-client"), None);
    }

    #[test]
    fn captured_values_serve_an_error_after_the_head_is_released() {
        let snap = snapshot();
        let ctx = worker(&snap);
        let api = &snap.apis[0];
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/items/7?q=x", None).header("x-client", "c1");
        rc.begin(&s, [b'2'; 36]);
        rc.api_index = Some(0);
        rc.stage_id = api.stages.get("prod").map(|st| st.id);
        rc.set_resource("/items/7", "GET /items/{id}");
        let mut values = RequestValues::default();
        values.capture(&s, api);
        // An integration released the head, then failed.
        s.release_head();
        let err = GatewayError::with_message(ErrorKind::IntegrationFailure, "it \"broke\"");
        block_on(error_with(&ctx, &mut s, &mut rc, &snap, err, &values));
        assert_eq!(s.status, Some(502));
        assert_eq!(s.response_header("x-client"), Some("c1"));
        assert_eq!(s.response_header("x-q"), Some("x"));
        assert_eq!(s.response_header("x-item"), Some("7"));
        assert_eq!(
            s.response_header("x-amzn-errortype"),
            Some("InternalServerErrorException")
        );
        assert_eq!(body(&s), r#"{"oops":"it "broke""}"#);
        assert_eq!(rc.error_message.as_deref(), Some("it \"broke\""));
        // Reused for another request: cleared, and nothing copied for an API that reads
        // nothing.
        values.capture(&s, &snap.apis[1]);
        assert_eq!(values.api, Some(0));
        values.clear();
        assert_eq!(values.api, None);
        assert!(values.text.is_empty() && values.ranges.is_empty());
    }

    #[test]
    fn retry_after_and_own_headers_stay_unless_replaced() {
        let snap = snapshot();
        let ctx = worker(&snap);
        let mut rc = RequestContext::default();
        let mut s = MemorySession::new("GET", "/prod/items/1", None);
        rc.begin(&s, [b'3'; 36]);
        rc.api_index = Some(0);
        // A 503 (DEFAULT_5XX) with a Retry-After and a header of its own.
        let mut err = GatewayError::new(ErrorKind::ServiceUnavailable);
        err.retry_after = Some(7);
        let err = err.with_header("www-authenticate", "Bearer");
        block_on(error(&ctx, &mut s, &mut rc, &snap, err));
        assert_eq!(s.status, Some(503));
        assert_eq!(s.response_header("retry-after"), Some("7"));
        assert_eq!(s.response_header("www-authenticate"), Some("Bearer"));
        assert_eq!(body(&s), r#"{"oops":"Service Unavailable"}"#);
    }

    #[test]
    fn path_parameters_from_the_route_key() {
        let p = |key, path, name| path_parameter(key, path, name);
        assert_eq!(p("GET /pets/{id}", "/pets/42", "id"), Some("42"));
        assert_eq!(p("GET /pets/{id}", "/pets/42", "other"), None);
        assert_eq!(p("ANY /a/{x}/b/{y}", "/a/1/b/two%20", "y"), Some("two%20"));
        assert_eq!(p("ANY /a/{x}/b/{y}", "/a/1/b/2", "x"), Some("1"));
        assert_eq!(
            p("ANY /files/{proxy+}", "/files/a/b/c.txt", "proxy"),
            Some("a/b/c.txt")
        );
        assert_eq!(p("ANY /{proxy+}", "/x", "proxy"), Some("x"));
        assert_eq!(p("ANY /{proxy+}", "/x", "x"), None);
        assert_eq!(p("$default", "/x", "x"), None);
        assert_eq!(p("GET /pets", "/pets", "id"), None);
        assert_eq!(p("GET /pets/{id}", "/pets", "id"), Some(""));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"a+b"), "a+b");
        assert_eq!(percent_decode(b"%e2%82%ac"), "\u{20ac}");
    }

    #[test]
    fn header_values_lose_control_characters() {
        assert_eq!(header_safe("a\r\nb\tc".into()), "a  b\tc");
        assert_eq!(header_safe("plain".into()), "plain");
    }

    #[test]
    fn decimal_digits() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1234, &mut buf), b"1234");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
