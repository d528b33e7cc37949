//! HTTP_PROXY integration: render the integration URI, re-serialise the request head for
//! the upstream (hop-by-hop headers dropped, X-Forwarded-* added), stream the body, and
//! stream the upstream's response back. Failures before the response starts become 502
//! (refused, reset, malformed) or 504 (integration timeout); after it starts, the client
//! connection is closed.

use std::net::SocketAddr;

use monoio::time::Instant;
use rustls::pki_types::ServerName;

use crate::config::snapshot::{ApiType, HttpProxyIntegration, MtlsSettings};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError, GatewayResponse};
use crate::http::head::{is_hop_by_hop, BodyFraming, Method};
use crate::http::write::{push_decimal, push_header};
use crate::observe::trace::Trace;
use crate::pipeline::context::{RequestContext, Scratch};
use crate::pipeline::integration::exchange::{exchange, io_failure, ExchangeError, Outbound};
use crate::pipeline::integration::stream_back::{respond, Upstream};
use crate::pipeline::route::Routed;
use crate::pipeline::session::{BodyState, Next, Session};
use crate::pipeline::taps::ResponseTaps;
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{head_only, keep_alive};
use crate::routing::resource::DEFAULT_ROUTE;
use crate::transport::x509::{self, CertInfo};
use crate::upstream::balance::flow_hash;
use crate::upstream::client::{ResponseFraming, ResponseHead};
use crate::upstream::pool::{
    Endpoint, PoolKey, UpstreamConn, IDLE_TIMEOUT, MAX_IDLE_PER_ORIGIN, NO_GROUP,
};
use crate::upstream::target::Pick;
use crate::upstream::uri::{check_path, split_rendered, UriValues};

struct Values<'a, 's> {
    routed: &'a Routed<'s>,
    path: &'a str,
}

impl UriValues for Values<'_, '_> {
    fn path_param(&self, name: &str) -> Option<&str> {
        self.routed.param(name, self.path)
    }
    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.routed.variables.get(name).map(String::as_str)
    }
}

/// What the route phase decided for an HTTP_PROXY request.
pub struct Call<'a, 's> {
    pub snapshot: &'s Snapshot,
    pub routed: &'a Routed<'s>,
    pub proxy: &'s HttpProxyIntegration,
}

pub async fn forward<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    call: &Call<'_, '_>,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    // The reused buffers leave the context for the exchange (moves of a few pointers).
    let mut scratch = std::mem::take(&mut rc.scratch);
    scratch.uri.clear();
    let result = forward_with(ctx, session, rc, call, &mut scratch, taps).await;
    rc.scratch = scratch;
    if let Err(e) = &result {
        if matches!(
            e.kind,
            ErrorKind::IntegrationFailure
                | ErrorKind::IntegrationTimeout
                | ErrorKind::ServiceUnavailable
        ) {
            rc.integration.error = Some(GatewayResponse::for_kind(e.kind).response_type);
        }
    }
    result
}

async fn forward_with<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    call: &Call<'_, '_>,
    scratch: &mut Scratch,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    let Call {
        snapshot,
        routed,
        proxy,
    } = *call;
    // 7. Integration request: target URI and the upstream head, while the head is readable.
    let Scratch {
        uri,
        upstream_request: request,
        upstream_head: resp,
        request_body,
        ..
    } = scratch;
    let (host, port) = prepare(session, snapshot, routed, proxy, uri, request, &rc.trace)?;
    if rc.execution.on {
        if let Some(settings) = routed.stage.execution_log.as_ref() {
            let https = proxy
                .target_group
                .and_then(|g| snapshot.target_groups.get(g))
                .is_some_and(|g| g.tls.is_some());
            crate::pipeline::execution_log::endpoint_request(
                rc, settings, https, host, port, request,
            );
        }
    }
    let capture = rc.execution.data_trace.then_some(request_body);
    let known_addr = proxy.upstream.as_ref().and_then(|u| u.addr);
    session.release_head();
    let started = Instant::now();
    rc.trace.integration_offset = Some(started.saturating_duration_since(rc.start));
    let deadline = started + proxy.timeout;
    let mut out = Outbound {
        head: request,
        resp,
        started,
        deadline,
        capture,
    };

    // 8.-9. Integration and integration response, to the URI's host or a target group.
    let Some(gi) = proxy.target_group else {
        let addr = match known_addr {
            // An IP literal in the URI: its address was made at config load.
            Some(addr) => addr,
            None => ctx
                .upstreams
                .resolve(host, port)
                .await
                .map_err(|e| GatewayError::with_source(ErrorKind::IntegrationFailure, e))?,
        };
        let endpoint = Endpoint {
            key: PoolKey {
                addr,
                group: NO_GROUP,
            },
            tls: None,
            proxy_v2: None,
            max_idle: MAX_IDLE_PER_ORIGIN,
            idle_timeout: IDLE_TIMEOUT,
        };
        return match exchange(ctx, session, &endpoint, &mut out).await {
            Ok((up, framing)) => {
                rc.integration.status = out.resp.status;
                rc.integration.latency = Some(started.elapsed());
                let answer = Answer {
                    up,
                    head: &*out.resp,
                    framing,
                };
                Ok(respond_and_pool(ctx, session, rc, snapshot, &endpoint, answer, taps).await)
            }
            Err(ExchangeError::Connect { error, .. }) => Err(io_failure(error)),
            Err(ExchangeError::Failed(e)) => Err(e),
        };
    };
    let group = snapshot
        .target_groups
        .get(gi)
        .ok_or_else(|| GatewayError::with_source(ErrorKind::Internal, "unknown target group"))?;
    let (peer, local) = (session.peer(), session.local());
    let flow = flow_hash(peer, local);
    // A stage with a client certificate presents it to a TLS group, over connections of
    // its own (the configuration and pool group this worker made for the pair).
    let stage_tls = match (&group.tls, &routed.stage.client_certificate) {
        (Some(tls), Some(cert)) => Some(
            ctx.upstreams
                .client_tls(cert, gi, &tls.config)
                .ok_or_else(|| {
                    GatewayError::with_source(
                        ErrorKind::Internal,
                        "no pool group left for a stage client certificate",
                    )
                })?,
        ),
        _ => None,
    };
    let mut exclude = None;
    loop {
        let t = match ctx.targets.pick(gi, group, flow, exclude) {
            Pick::Healthy(t) | Pick::FailOpen(t) => t,
            Pick::Nothing => {
                return Err(GatewayError::with_source(
                    ErrorKind::ServiceUnavailable,
                    format!("target group {}: no target available", group.name),
                ))
            }
        };
        let Some(target) = group.targets.get(t) else {
            return Err(GatewayError::new(ErrorKind::Internal));
        };
        let (tls, pool_group) = match &group.tls {
            None => (None, gi as u32),
            Some(tls) => {
                let name = tls_name(tls.server_name.as_ref(), host)?;
                match &stage_tls {
                    None => (Some((&tls.config, name)), gi as u32),
                    Some((config, pool)) => (Some((config, name)), *pool),
                }
            }
        };
        let endpoint = Endpoint {
            key: PoolKey {
                addr: target.addr,
                group: pool_group,
            },
            tls,
            proxy_v2: group.proxy_protocol_v2.then_some((peer, local)),
            max_idle: group.pool.max_idle,
            idle_timeout: group.pool.idle_timeout,
        };
        ctx.targets.started(gi, t);
        match exchange(ctx, session, &endpoint, &mut out).await {
            Ok((up, framing)) => {
                let ok = out.resp.status < 500;
                rc.integration.status = out.resp.status;
                rc.integration.latency = Some(started.elapsed());
                let answer = Answer {
                    up,
                    head: &*out.resp,
                    framing,
                };
                let next =
                    respond_and_pool(ctx, session, rc, snapshot, &endpoint, answer, taps).await;
                ctx.targets.finished(gi, group, t, ok);
                return Ok(next);
            }
            Err(ExchangeError::Connect { error: e, sent }) => {
                ctx.targets.finished(gi, group, t, false);
                // Nothing was sent: any request gets one more try elsewhere (as nginx does).
                // If its head went out on a pooled connection that failed before this
                // reconnect, the target may have seen it: only an idempotent one is retried.
                if exclude.is_none() && (!sent || session.method().is_idempotent()) {
                    crate::log!(
                        "target group {}: connect to {} failed ({e}); retrying on another target",
                        group.name,
                        target.addr
                    );
                    exclude = Some(t);
                    continue;
                }
                return Err(GatewayError::with_source(
                    ErrorKind::ServiceUnavailable,
                    format!(
                        "target group {}: connect to {} failed: {e}",
                        group.name, target.addr
                    ),
                ));
            }
            Err(ExchangeError::Failed(e)) => {
                let upstream_fault = matches!(
                    e.kind,
                    ErrorKind::IntegrationFailure | ErrorKind::IntegrationTimeout
                );
                ctx.targets.finished(gi, group, t, !upstream_fault);
                return Err(e);
            }
        }
    }
}

/// The TLS name for a target: the configured one, else the integration URI's host.
fn tls_name(
    configured: Option<&ServerName<'static>>,
    host: &str,
) -> Result<ServerName<'static>, GatewayError> {
    if let Some(name) = configured {
        return Ok(name.clone());
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_owned()).map_err(|_| {
        GatewayError::with_source(
            ErrorKind::ApiConfigurationError,
            format!("`{host}` is not a TLS server name"),
        )
    })
}

/// The integration's answer: its connection, with the response head read.
struct Answer<'a> {
    up: UpstreamConn,
    head: &'a ResponseHead,
    framing: ResponseFraming,
}

/// Stream the response back, then keep the upstream connection if it can be reused.
async fn respond_and_pool<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    endpoint: &Endpoint<'_>,
    answer: Answer<'_>,
    taps: &mut ResponseTaps<'_>,
) -> Next {
    let Answer {
        mut up,
        head: resp,
        framing,
    } = answer;
    let keep_alive = keep_alive(ctx, session) && session.body_state() == BodyState::Done;
    let back = Upstream {
        up: &mut up,
        head: resp,
        framing,
        limit: snapshot.limits.body_read_timeout,
    };
    let result = respond(ctx, session, rc, back, keep_alive, taps).await;
    match result {
        Ok(()) => {
            // A HEAD client got no body: one the upstream sends is left unread.
            let body_unread = head_only(session) && framing != ResponseFraming::None;
            if resp.keep_alive
                && framing != ResponseFraming::UntilClose
                && up.rbuf.is_empty()
                && !body_unread
            {
                if endpoint.proxy_v2.is_some() {
                    if let Some(slot) = session.pinned_upstream() {
                        *slot = Some((endpoint.key, up));
                    }
                } else {
                    ctx.upstreams.put(endpoint, up);
                }
            }
            if session.keeps_alive() {
                Next::KeepAlive
            } else {
                Next::Close
            }
        }
        // Cut short after the head went out: no clean TLS close either.
        Err(_) => Next::Abort,
    }
}

/// Render the URI (only its path and query when its authority is static), then write the
/// upstream request head into `out`. Returns the upstream host and port (borrowed from
/// `uri` or the integration).
fn prepare<'u, S: Session>(
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    proxy: &'u HttpProxyIntegration,
    uri: &'u mut String,
    out: &mut Vec<u8>,
    trace: &Trace,
) -> Result<(&'u str, u16), GatewayError> {
    let path = session.path();
    let values = Values { routed, path };
    let no_value = |name: String| {
        GatewayError::with_source(
            ErrorKind::ApiConfigurationError,
            format!("integration URI has no value for {name}"),
        )
    };
    let bad_uri =
        |reason: String| GatewayError::with_source(ErrorKind::ApiConfigurationError, reason);
    let (host, port, path_query, host_line) = match &proxy.upstream {
        // The authority was split and checked at config load: the path and query are all
        // there is to render (and nothing, when they are static too).
        Some(up) => {
            let path_query = match proxy.uri.static_path() {
                Some(p) => p,
                None => {
                    proxy.uri.render_path(&values, uri).map_err(no_value)?;
                    check_path(uri).map_err(bad_uri)?;
                    uri.as_str()
                }
            };
            let line = HostLine::Prebuilt(&up.head_host);
            (up.host.as_str(), up.port, path_query, line)
        }
        None => {
            proxy.uri.render(&values, uri).map_err(no_value)?;
            let (host, port, path_query) = split_rendered(uri).map_err(bad_uri)?;
            (host, port, path_query, HostLine::Write(host, port))
        }
    };
    let client_method = session.method();
    let method_bytes: &[u8] = match proxy.method {
        None if client_method == Method::Other => session.method_bytes(),
        None => client_method.as_str().as_bytes(),
        Some(m) => m.as_str().as_bytes(),
    };
    let query = session.query().filter(|q| !q.is_empty());
    // An HTTP API's `$default` route sends the full request path to the integration.
    let full_path = (routed.api_type == ApiType::Http && routed.route.key == DEFAULT_ROUTE)
        .then(|| routed.resource_path(path).as_bytes());
    // The routed domain's mTLS settings (the route phase made sure the connection was
    // verified for that domain).
    let domain = routed.domain.and_then(|d| snapshot.domains.get(d));
    let mtls = domain.and_then(|d| d.mtls.as_ref());
    let client_cert = session
        .tls()
        .filter(|t| domain.is_some_and(|d| t.is_for(d)))
        .and_then(|t| t.client_cert.as_deref());
    let target = Target {
        host_line,
        path_query,
        request_path: full_path,
        client_query: query,
    };
    write_upstream_head(out, method_bytes, target, session, mtls, client_cert, trace);
    Ok((host, port))
}

/// How the upstream request line ends and its Host line is written.
enum HostLine<'a> {
    /// ` HTTP/1.1\r\nhost: ...\r\n`, made at config load (`StaticUpstream::head_host`).
    Prebuilt(&'a [u8]),
    /// From the rendered URI's host and port.
    Write(&'a str, u16),
}

/// Where the upstream request goes (from the integration URI), and what of the client's
/// request target it carries: the full path (an HTTP API's `$default` route) and the query.
struct Target<'a> {
    host_line: HostLine<'a>,
    path_query: &'a str,
    request_path: Option<&'a [u8]>,
    client_query: Option<&'a [u8]>,
}

fn write_upstream_head<S: Session>(
    out: &mut Vec<u8>,
    method: &[u8],
    target: Target<'_>,
    session: &S,
    mtls: Option<&MtlsSettings>,
    client_cert: Option<&CertInfo>,
    trace: &Trace,
) {
    let Target {
        host_line,
        path_query,
        request_path,
        client_query,
    } = target;
    let (peer, local, https) = (session.peer(), session.local(), session.tls().is_some());
    out.clear();
    out.extend_from_slice(method);
    out.push(b' ');
    let pq = path_query.as_bytes();
    let query_at = pq.iter().position(|&b| b == b'?');
    match request_path {
        None => out.extend_from_slice(pq),
        Some(rest) => {
            // Integration path (without a trailing slash) + request path + integration query.
            let (path, query) = match query_at {
                Some(i) => (pq.get(..i).unwrap_or(pq), pq.get(i..)),
                None => (pq, None),
            };
            let trimmed = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
            out.extend_from_slice(path.get(..trimmed).unwrap_or(path));
            out.extend_from_slice(rest);
            if let Some(q) = query {
                out.extend_from_slice(q);
            }
        }
    }
    if let Some(q) = client_query {
        out.push(if query_at.is_some() { b'&' } else { b'?' });
        out.extend_from_slice(q);
    }
    match host_line {
        HostLine::Prebuilt(line) => out.extend_from_slice(line),
        HostLine::Write(host, port) => {
            out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
            out.extend_from_slice(host.as_bytes());
            if port != 80 {
                out.push(b':');
                push_decimal(out, u64::from(port));
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    let mut forwarded_for = 0usize;
    for (name, value) in session.headers() {
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"x-forwarded-proto")
            || name.eq_ignore_ascii_case(b"x-forwarded-port")
            || session.connection_lists(name)
            || crate::pipeline::trace::replaces_header(name, trace)
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for += 1;
            continue;
        }
        push_header(out, name, value);
    }
    // Several X-Forwarded-For fields are folded, in order, into the one we append to.
    out.extend_from_slice(b"x-forwarded-for: ");
    if forwarded_for > 0 {
        for (name, value) in session.headers() {
            if name.eq_ignore_ascii_case(b"x-forwarded-for") {
                out.extend_from_slice(value);
                out.extend_from_slice(b", ");
            }
        }
    }
    push_ip(out, peer);
    out.extend_from_slice(if https {
        &b"\r\nx-forwarded-proto: https\r\nx-forwarded-port: "[..]
    } else {
        &b"\r\nx-forwarded-proto: http\r\nx-forwarded-port: "[..]
    });
    push_decimal(out, u64::from(local.port()));
    out.extend_from_slice(b"\r\n");
    // The verified client certificate (mutual TLS), under the domain's configured names (a
    // client's own headers of those names never got this far: see `pipeline::run`).
    if let (Some(m), Some(cert)) = (mtls, client_cert) {
        if let Some(h) = &m.forward_subject {
            push_header(out, h.as_bytes(), cert.subject_dn.as_bytes());
        }
        if let Some(h) = &m.forward_issuer {
            push_header(out, h.as_bytes(), cert.issuer_dn.as_bytes());
        }
        if let Some(h) = &m.forward_serial {
            push_header(out, h.as_bytes(), cert.serial_hex.as_bytes());
        }
        if let Some(h) = &m.forward_validity {
            let v = format!(
                "notBefore={}; notAfter={}",
                x509::format_validity(cert.not_before),
                x509::format_validity(cert.not_after)
            );
            push_header(out, h.as_bytes(), v.as_bytes());
        }
    }
    // The trace headers, naming the gateway's integration span (the caller's were skipped).
    crate::pipeline::trace::write_headers(out, trace, session.header("x-amzn-trace-id"));
    match session.body_framing() {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

fn push_ip(out: &mut Vec<u8>, addr: SocketAddr) {
    crate::http::write::push_ip(out, addr.ip());
}

/// Does a Connection header value list `name` as one of its tokens? (Moved to
/// `http::head`, with `connection_lists` for every `Connection` line of a message.)
pub use crate::http::head::lists_token;
