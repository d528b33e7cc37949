//! The request pipeline: one straight-line `run`, one phase per module, in API Gateway's
//! order, over a protocol-neutral `Session` (HTTP/1.1 or an HTTP/2 stream) and one
//! `RequestContext` (`$context`). Every phase either continues with a value or stops the
//! request with a `GatewayError` (the `?`), which `respond` turns into the gateway response.
//! Response observers (the cache recorder; later access logs and metrics) are `taps` on the
//! response, not parameters of the integration code.

pub mod access_log;
pub mod api_key;
pub mod authorize;
pub mod cache;
pub mod context;
pub mod cors;
pub mod drain;
pub mod execution_log;
pub mod integration;
pub mod metrics;
pub mod request_id;
pub mod respond;
pub mod route;
pub mod session;
pub mod taps;
pub mod throttle;
pub mod trace;
pub mod worker;

use crate::config::snapshot::{Integration, Snapshot};
use crate::error::GatewayError;
use crate::http::head::Method;
use crate::pipeline::worker::WorkerCtx;
use context::RequestContext;
use session::buffered::BufferedBody;
use session::{BodyState, Next, Session};
use taps::ResponseTaps;

/// Remove from the request, whatever the listener and the route: every header named like a
/// forwarded certificate header of any custom domain (`mtls.forward_headers`), also when
/// spelt with `_` for `-` or in another case, which CGI/WSGI upstreams would merge with the
/// real one; and, on a listener with `drop_underscore_headers`, every name holding a `_`.
/// In place, allocation-free; the upstream head is written from what is left.
pub fn drop_reserved_headers<S: Session>(snapshot: &crate::config::Snapshot, session: &mut S) {
    let underscores = snapshot
        .listeners
        .get(session.listener())
        .is_some_and(|l| l.drop_underscore_headers);
    let reserved = &snapshot.forwarded_cert_headers;
    if reserved.is_empty() && !underscores {
        return;
    }
    session.drop_headers(|name| {
        (underscores && name.contains(&b'_'))
            || reserved
                .iter()
                .any(|r| crate::http::head::same_name_modulo_punctuation(name, r.as_bytes()))
    });
}

/// Whether the response may keep the connection open: the client asked for it and the
/// worker is not draining (checked when the response is written, not when it started).
pub fn keep_alive<S: Session>(ctx: &WorkerCtx, session: &S) -> bool {
    session.wants_keep_alive() && !ctx.drain.is_draining()
}

/// Responses to HEAD carry no body.
pub fn head_only<S: Session>(session: &S) -> bool {
    session.method() == Method::Head
}

/// Read and drop a request body nobody will forward (MOCK answers, cache hits), when it
/// has not been touched yet.
pub async fn discard_unread<S: Session>(session: &mut S) -> Result<(), GatewayError> {
    if session.body_state() != BodyState::Untouched {
        return Ok(());
    }
    session.discard_body().await.map_err(GatewayError::from)
}

/// Handle the request whose head `session` holds, filling `rc` (`$context`) as it goes. On
/// return the request's head and body have been consumed (or the connection is to close).
pub async fn run<S: Session>(ctx: &WorkerCtx, session: &mut S, rc: &mut RequestContext) -> Next {
    let snapshot = ctx.snapshot();
    let services = ctx.services();
    // 2. (end of) parse: before anything reads the headers, drop those no client may send.
    drop_reserved_headers(&snapshot, session);
    rc.begin(session, ctx.ids.next());
    // Behind a trusted proxy, the client is who its X-Forwarded-For names.
    if let Some(l) = snapshot.listeners.get(session.listener()) {
        if !l.trusted_proxies.is_empty() {
            let forwarded = session
                .headers()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
                .map(|(_, v)| v);
            rc.source_ip = l.client_ip(rc.source_ip, forwarded);
        }
    }
    let _in_flight = ctx.metrics.in_flight();
    trace::start(ctx, session, rc);
    let mut taps = ResponseTaps::default();
    // The stage's execution-log settings, once the route is known (`None`: OFF).
    let mut exec = None;
    // The stage the request was routed to (its access log).
    let mut stage = None;
    // The method request values the API's gateway responses map (headers, query
    // parameters), copied while the request head is readable.
    let mut request_values = respond::RequestValues::default();

    let outcome: Result<Next, GatewayError> = async {
        // A TLS connection first meeting a reloaded configuration is re-checked there.
        route::check_connection(&snapshot, session)?;
        // 3. route: host -> API -> stage; a CORS preflight is answered here (whatever the
        // routes); then the route (+ path parameters).
        let selected = route::select(&snapshot, session, rc, || ctx.roll_percent())?;
        request_values.capture(session, selected.api);
        if let Some(next) = cors::begin(ctx, session, rc, selected.api).await? {
            return Ok(next);
        }
        let routed = route::find(session, rc, selected)?;
        exec = execution_log::begin(&routed, session, rc, &mut taps);
        trace::sample(ctx, &routed, rc);
        stage = Some(routed.stage);
        // 4. method request: resource policy and authorizer, then the API key
        // (validation: a later issue).
        authorize::authorize(ctx, session, &snapshot, &routed, rc).await?;
        api_key::identify(&snapshot, session, &routed, rc)?;
        // 5. throttling and quota.
        throttle::admit(ctx, &snapshot, &routed, rc)?;
        // 6. cache: a hit (or a refused invalidation) ends the request here; a miss taps
        // the response to record it.
        if let cache::Phase::Done(next) =
            cache::lookup(ctx, session, rc, &snapshot, &services, &routed, &mut taps).await?
        {
            return Ok(next);
        }
        // 7.-9. integration request, integration, integration response; a body a phase
        // read whole (SigV4) is replayed from memory.
        if rc.scratch.buffered_body {
            let body = std::mem::take(&mut rc.scratch.body);
            let mut replay = BufferedBody::new(session, body);
            let next = integrate(ctx, &mut replay, rc, &snapshot, &routed, &mut taps).await;
            rc.scratch.body = replay.into_body();
            // A large body's buffer is not kept for the next request.
            if rc.scratch.body.capacity() > KEPT_BODY_CAPACITY {
                rc.scratch.body = Vec::new();
            }
            return next;
        }
        integrate(ctx, session, rc, &snapshot, &routed, &mut taps).await
    }
    .await;

    // 10. method response: taps see the end (the cache stores what it recorded); errors
    // become the gateway response from the one table.
    let next = match outcome {
        Ok(next) => {
            taps.complete(next != Next::Abort);
            next
        }
        Err(err) => {
            taps.complete(false);
            if exec.is_some() {
                execution_log::failed(rc, &err);
            }
            respond::error_with(ctx, session, rc, &snapshot, err, &request_values).await
        }
    };
    rc.finish();
    metrics::finish(ctx, &snapshot, rc);
    if let Some(settings) = exec {
        execution_log::complete(settings, &snapshot, rc, &mut taps, next);
    }
    trace::finish(rc, &snapshot);
    // A request refused after its stage was known but before a route matched (403 Missing
    // Authentication Token, 404 Not Found) is logged in that stage's access log too.
    let stage = stage.or_else(|| rc.stage_id.and_then(|id| snapshot.stage_by_id(id)));
    ctx.access_log.record(&snapshot, stage.map(|s| &**s), rc);
    next
}

/// The largest buffered request body whose buffer a context keeps for the next request.
const KEPT_BODY_CAPACITY: usize = 64 * 1024;

/// Phases 7.-9.: the route's integration.
async fn integrate<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    routed: &route::Routed<'_>,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    match &routed.route.integration {
        Integration::Mock(mock) => integration::mock::respond(ctx, session, rc, mock).await,
        Integration::HttpProxy(proxy) => {
            let call = integration::http_proxy::Call {
                snapshot,
                routed,
                proxy,
            };
            integration::http_proxy::forward(ctx, session, rc, &call, taps).await
        }
        Integration::Lambda(lambda) => {
            integration::lambda::invoke(ctx, session, rc, snapshot, routed, lambda, taps).await
        }
        Integration::AwsService(service) => {
            integration::aws_service::call(ctx, session, rc, snapshot, routed, service, taps).await
        }
    }
}

#[cfg(test)]
mod tests;
