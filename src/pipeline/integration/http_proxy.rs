//! HTTP_PROXY integration: render the integration URI, re-serialise the request head for
//! the upstream (hop-by-hop headers dropped, X-Forwarded-* added), stream the body, and
//! stream the upstream's response back. Failures before the response starts become 502
//! (refused, reset, malformed) or 504 (integration timeout); after it starts, the client
//! connection is closed.

use std::io;
use std::net::SocketAddr;

use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::config::snapshot::{ApiType, HttpProxyIntegration};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::http::chunked::{ChunkedDecoder, Step};
use crate::http::head::{is_hop_by_hop, BodyFraming, Head};
use crate::http::write::{push_decimal, push_header, push_hex, push_status_line};
use crate::net::conn::{BodyState, ClientConn, Next};
use crate::net::splice::{splice_exact, SPLICE_MIN};
use crate::pipeline::body::BodyReader;
use crate::pipeline::route::Routed;
use crate::pipeline::RequestFacts;
use crate::routing::resource::DEFAULT_ROUTE;
use crate::runtime::worker::WorkerCtx;
use crate::upstream::client::{
    forward_response_header, parse_response_head, ParsedResponse, ResponseFraming, ResponseHead,
};
use crate::upstream::pool::UpstreamConn;
use crate::upstream::uri::{split_rendered, UriValues};

struct Values<'a, 's> {
    routed: &'a Routed<'s>,
    rbuf: &'a [u8],
}

impl UriValues for Values<'_, '_> {
    fn path_param(&self, name: &str) -> Option<&str> {
        self.routed.param(name, self.rbuf)
    }
    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.routed.stage.variables.get(name).map(String::as_str)
    }
}

pub async fn forward(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    proxy: &HttpProxyIntegration,
) -> Result<Next, GatewayError> {
    // 7. Integration request: target URI and the upstream head, while the head is in rbuf.
    let mut uri = std::mem::take(&mut conn.scratch);
    uri.clear();
    let prepared = prepare(conn, facts, routed, proxy, &mut uri);
    let target = match prepared {
        Ok((host, port)) => ctx.upstreams.resolve(host, port).await,
        Err(e) => {
            conn.scratch = uri;
            return Err(e);
        }
    };
    conn.scratch = uri;
    let addr = target.map_err(|e| GatewayError::with_source(ErrorKind::IntegrationFailure, e))?;
    conn.release_head();

    // 8. Integration: send the request, wait (bounded by the integration timeout) for the head.
    let deadline = Instant::now() + proxy.timeout;
    let mut resp = std::mem::take(&mut conn.upstream_head);
    let exchanged = exchange(ctx, conn, facts, snapshot, addr, deadline, &mut resp).await;
    let (mut up, framing) = match exchanged {
        Ok(x) => x,
        Err(e) => {
            conn.upstream_head = resp;
            return Err(e);
        }
    };

    // 9. Integration response: stream it back.
    let keep_alive = facts.keep_alive(ctx) && conn.body_state == BodyState::Done;
    let streamed = respond(
        ctx, conn, facts, &mut up, &resp, framing, keep_alive, snapshot,
    )
    .await;
    let upstream_keep_alive = resp.keep_alive;
    conn.upstream_head = resp;
    match streamed {
        Ok(()) => {
            if upstream_keep_alive && framing != ResponseFraming::UntilClose {
                ctx.upstreams.put(addr, up);
            }
            let closes =
                !keep_alive || (facts.version_minor == 0 && framing == ResponseFraming::UntilClose);
            Ok(if closes { Next::Close } else { Next::KeepAlive })
        }
        Err(_) => Ok(Next::Close),
    }
}

/// Render the URI, then write the upstream request head into `conn.ubuf`.
/// Returns the upstream host and port (borrowed from `uri`).
fn prepare<'u>(
    conn: &mut ClientConn,
    facts: &RequestFacts,
    routed: &Routed<'_>,
    proxy: &HttpProxyIntegration,
    uri: &'u mut String,
) -> Result<(&'u str, u16), GatewayError> {
    let values = Values {
        routed,
        rbuf: &conn.rbuf,
    };
    proxy.uri.render(&values, uri).map_err(|name| {
        GatewayError::with_source(
            ErrorKind::ApiConfigurationError,
            format!("integration URI has no value for {name}"),
        )
    })?;
    let (host, port, path_query) = split_rendered(uri)
        .map_err(|reason| GatewayError::with_source(ErrorKind::ApiConfigurationError, reason))?;
    let method = proxy.method.unwrap_or(facts.method);
    let method_bytes: &[u8] =
        if facts.method == crate::http::head::Method::Other && proxy.method.is_none() {
            conn.head.method_span.of(&conn.rbuf)
        } else {
            method.as_str().as_bytes()
        };
    let query = conn
        .head
        .query
        .map(|q| q.of(&conn.rbuf))
        .filter(|q| !q.is_empty());
    // An HTTP API's `$default` route sends the full request path to the integration.
    let full_path = (routed.api_type == ApiType::Http && routed.route.key == DEFAULT_ROUTE)
        .then(|| routed.resource_path.map_or(&b"/"[..], |p| p.of(&conn.rbuf)));
    write_upstream_head(
        &mut conn.ubuf,
        method_bytes,
        host,
        port,
        path_query,
        full_path,
        query,
        &conn.head,
        &conn.rbuf,
        conn.peer,
        conn.local,
    );
    Ok((host, port))
}

#[allow(clippy::too_many_arguments)]
fn write_upstream_head(
    out: &mut Vec<u8>,
    method: &[u8],
    host: &str,
    port: u16,
    path_query: &str,
    request_path: Option<&[u8]>,
    client_query: Option<&[u8]>,
    head: &Head,
    buf: &[u8],
    peer: SocketAddr,
    local: SocketAddr,
) {
    out.clear();
    out.extend_from_slice(method);
    out.push(b' ');
    match request_path {
        None => out.extend_from_slice(path_query.as_bytes()),
        Some(rest) => {
            // Integration path (without a trailing slash) + request path + integration query.
            let (path, query) = path_query
                .split_once('?')
                .map_or((path_query, None), |(p, q)| (p, Some(q)));
            out.extend_from_slice(path.trim_end_matches('/').as_bytes());
            out.extend_from_slice(rest);
            if let Some(q) = query {
                out.push(b'?');
                out.extend_from_slice(q.as_bytes());
            }
        }
    }
    if let Some(q) = client_query {
        out.push(if path_query.contains('?') { b'&' } else { b'?' });
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    if port != 80 {
        out.push(b':');
        push_decimal(out, u64::from(port));
    }
    out.extend_from_slice(b"\r\n");
    let connection_tokens = head.header(buf, "connection");
    let mut forwarded_for = 0usize;
    for (name, value) in &head.headers {
        let (name, value) = (name.of(buf), value.of(buf));
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"x-forwarded-proto")
            || name.eq_ignore_ascii_case(b"x-forwarded-port")
            || connection_tokens.is_some_and(|t| lists_token(t, name))
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
        for (name, value) in &head.headers {
            if name.of(buf).eq_ignore_ascii_case(b"x-forwarded-for") {
                out.extend_from_slice(value.of(buf));
                out.extend_from_slice(b", ");
            }
        }
    }
    push_ip(out, peer);
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\nx-forwarded-port: ");
    push_decimal(out, u64::from(local.port()));
    out.extend_from_slice(b"\r\n");
    match head.body {
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
    use std::io::Write;
    let _ = write!(out, "{}", addr.ip());
}

/// Does a Connection header value list `name` as one of its tokens?
fn lists_token(connection: &[u8], name: &[u8]) -> bool {
    connection
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

fn io_failure(e: io::Error) -> GatewayError {
    if e.kind() == io::ErrorKind::TimedOut {
        GatewayError::with_source(ErrorKind::IntegrationTimeout, e)
    } else {
        GatewayError::with_source(ErrorKind::IntegrationFailure, e)
    }
}

/// Send the request and read the response head. A reused connection that fails before
/// any response byte is replaced by a fresh one once, when there is no body to replay.
async fn exchange(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    addr: SocketAddr,
    deadline: Instant,
    resp: &mut ResponseHead,
) -> Result<(UpstreamConn, ResponseFraming), GatewayError> {
    let replayable = facts.body == BodyFraming::None;
    let mut pooled = ctx.upstreams.take(addr, !replayable);
    loop {
        let mut up = match pooled.take() {
            Some(c) => c,
            None => UpstreamConn::connect(addr, deadline)
                .await
                .map_err(io_failure)?,
        };
        let reused = up.reused;
        match send_and_read_head(ctx, conn, facts, snapshot, &mut up, deadline, resp).await {
            Ok(framing) => return Ok((up, framing)),
            Err(Failure::Stale(_)) if reused && replayable => continue,
            Err(Failure::Stale(e)) | Err(Failure::Io(e)) => return Err(io_failure(e)),
            Err(Failure::Client(kind)) => return Err(kind.into()),
            Err(Failure::Malformed(reason)) => {
                return Err(GatewayError::with_source(
                    ErrorKind::IntegrationFailure,
                    reason,
                ))
            }
        }
    }
}

enum Failure {
    /// Failed before any response byte (a reused connection may have been closed).
    Stale(io::Error),
    Io(io::Error),
    /// The client's body was bad or too slow.
    Client(ErrorKind),
    Malformed(&'static str),
}

async fn send_and_read_head(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    up: &mut UpstreamConn,
    deadline: Instant,
    resp: &mut ResponseHead,
) -> Result<ResponseFraming, Failure> {
    let head = std::mem::take(&mut conn.ubuf);
    let (res, head) = match monoio::time::timeout_at(deadline, up.stream.write_all(head)).await {
        Ok(r) => r,
        Err(_) => {
            // The buffer went with the cancelled write; start a new one.
            return Err(Failure::Io(io::ErrorKind::TimedOut.into()));
        }
    };
    conn.ubuf = head;
    res.map_err(Failure::Stale)?;

    if conn.body_state == BodyState::Untouched {
        send_body(ctx, conn, facts, snapshot, up, deadline).await?;
    }

    let mut got_bytes = false;
    loop {
        if !up.rbuf.is_empty() {
            got_bytes = true;
            match parse_response_head(&up.rbuf, facts.head_only(), resp) {
                Ok(ParsedResponse::Complete(framing)) => {
                    return Ok(framing);
                }
                Ok(ParsedResponse::Interim(n)) => {
                    up.consume(n);
                    continue;
                }
                Ok(ParsedResponse::Partial) => {}
                Err(reason) => return Err(Failure::Malformed(reason)),
            }
        }
        match up.read_more_until(deadline).await {
            Ok(0) if !got_bytes => return Err(Failure::Stale(io::ErrorKind::UnexpectedEof.into())),
            Ok(0) => {
                return Err(Failure::Malformed(
                    "upstream closed inside the response head",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() != io::ErrorKind::TimedOut && !got_bytes => {
                return Err(Failure::Stale(e))
            }
            Err(e) => return Err(Failure::Io(e)),
        }
    }
}

/// Stream the client's body to the upstream (chunked bodies are re-encoded).
async fn send_body(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    up: &mut UpstreamConn,
    deadline: Instant,
) -> Result<(), Failure> {
    let limits = &snapshot.limits;
    let mut body = BodyReader::new(
        facts.body,
        facts.expect_continue,
        limits.max_body_bytes,
        limits.body_read_timeout,
    );
    let chunked = facts.body == BodyFraming::Chunked;
    conn.body_state = BodyState::Partial;
    loop {
        // A large Content-Length remainder goes socket to socket with splice.
        if let Some(rest) = body
            .take_unbuffered_rest(conn, SPLICE_MIN)
            .await
            .map_err(Failure::Client)?
        {
            let mut pipe = ctx.pipes.take().map_err(Failure::Io)?;
            let idle = limits.body_read_timeout;
            match splice_exact(&mut conn.stream, &mut up.stream, &mut pipe, rest, idle).await {
                Ok(()) => ctx.pipes.give_back(pipe),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Failure::Client(ErrorKind::BadRequest))
                }
                Err(e) => return Err(Failure::Io(e)),
            }
            break;
        }
        let n = body.next(conn).await.map_err(Failure::Client)?;
        if n == 0 {
            break;
        }
        let written = if chunked {
            let mut frame = std::mem::take(&mut conn.ubuf);
            frame.clear();
            push_hex(&mut frame, n as u64);
            frame.extend_from_slice(b"\r\n");
            frame.extend_from_slice(&conn.rbuf[..n]);
            frame.extend_from_slice(b"\r\n");
            let (res, frame) =
                match monoio::time::timeout_at(deadline, up.stream.write_all(frame)).await {
                    Ok(r) => r,
                    Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
                };
            conn.ubuf = frame;
            conn.consume(n);
            res.map(|_| ())
        } else {
            match monoio::time::timeout_at(deadline, conn.forward_front(&mut up.stream, n)).await {
                Ok(r) => r,
                Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
            }
        };
        written.map_err(Failure::Io)?;
    }
    if chunked {
        let (res, _) = match monoio::time::timeout_at(
            deadline,
            up.stream.write_all(&b"0\r\n\r\n"[..]),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
        };
        res.map_err(Failure::Io)?;
    }
    conn.body_state = BodyState::Done;
    Ok(())
}

/// Write the response head to the client and stream the body.
#[allow(clippy::too_many_arguments)]
async fn respond(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    up: &mut UpstreamConn,
    resp: &ResponseHead,
    framing: ResponseFraming,
    keep_alive: bool,
    snapshot: &Snapshot,
) -> io::Result<()> {
    let rechunk = matches!(
        framing,
        ResponseFraming::Chunked | ResponseFraming::UntilClose
    ) && facts.version_minor == 1;
    {
        let w = &mut conn.wbuf;
        w.clear();
        push_status_line(w, resp.status);
        for &((ns, ne), (vs, ve)) in &resp.headers {
            let (name, value) = (&up.rbuf[ns..ne], &up.rbuf[vs..ve]);
            let listed = resp
                .connection
                .is_some_and(|(s, e)| lists_token(&up.rbuf[s..e], name));
            if forward_response_header(name) && !listed {
                push_header(w, name, value);
            } else if framing == ResponseFraming::None
                && name.eq_ignore_ascii_case(b"content-length")
            {
                // HEAD and 304 responses describe the representation's length: keep it.
                push_header(w, name, value);
            }
        }
        if !resp.has_date {
            push_header(w, b"date", &ctx.date.now());
        }
        push_header(w, b"x-amzn-requestid", &facts.id);
        match framing {
            ResponseFraming::Length(n) => {
                w.extend_from_slice(b"content-length: ");
                push_decimal(w, n);
                w.extend_from_slice(b"\r\n");
            }
            ResponseFraming::Chunked | ResponseFraming::UntilClose if rechunk => {
                w.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            _ => {}
        }
        let closes = !keep_alive || (!rechunk && framing == ResponseFraming::UntilClose);
        if closes {
            w.extend_from_slice(b"connection: close\r\n");
        }
        w.extend_from_slice(b"\r\n");
    }
    up.consume(resp.head_len);
    let write_limit = snapshot.limits.body_read_timeout;
    with_timeout(write_limit, conn.flush_wbuf()).await?;

    match framing {
        ResponseFraming::None => Ok(()),
        ResponseFraming::Length(mut remaining) => {
            while remaining > 0 {
                // Past what is buffered, a large remainder goes socket to socket with splice.
                if up.rbuf.is_empty() && remaining >= SPLICE_MIN {
                    let mut pipe = ctx.pipes.take()?;
                    splice_exact(
                        &mut up.stream,
                        &mut conn.stream,
                        &mut pipe,
                        remaining,
                        write_limit,
                    )
                    .await?;
                    ctx.pipes.give_back(pipe);
                    return Ok(());
                }
                if up.rbuf.is_empty()
                    && up.read_more_until(Instant::now() + write_limit).await? == 0
                {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let n = (up.rbuf.len() as u64).min(remaining) as usize;
                let buf = std::mem::take(&mut up.rbuf);
                let (res, slice) =
                    with_timeout_buf(write_limit, conn.stream.write_all(buf.slice(0..n))).await;
                up.rbuf = slice.map(|s| s.into_inner()).unwrap_or_default();
                res?;
                up.consume(n);
                remaining -= n as u64;
            }
            Ok(())
        }
        ResponseFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(u64::MAX);
            loop {
                if up.rbuf.is_empty()
                    && up.read_more_until(Instant::now() + write_limit).await? == 0
                {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                match decoder
                    .decode(&up.rbuf)
                    .map_err(|_| io::Error::other("malformed chunked response"))?
                {
                    Step::Data { start, end } => {
                        write_piece(conn, &up.rbuf[start..end], rechunk, write_limit).await?;
                        up.consume(end);
                    }
                    Step::NeedMore { consumed } => {
                        up.consume(consumed);
                        if !up.rbuf.is_empty()
                            && up.read_more_until(Instant::now() + write_limit).await? == 0
                        {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    Step::Done { consumed } => {
                        up.consume(consumed);
                        return finish_chunked(conn, rechunk, write_limit).await;
                    }
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            if up.rbuf.is_empty() && up.read_more_until(Instant::now() + write_limit).await? == 0 {
                return finish_chunked(conn, rechunk, write_limit).await;
            }
            let n = up.rbuf.len();
            write_piece(conn, &up.rbuf[..n], rechunk, write_limit).await?;
            up.consume(n);
        },
    }
}

/// Write body bytes to the client, as one chunk when re-chunking.
async fn write_piece(
    conn: &mut ClientConn,
    data: &[u8],
    rechunk: bool,
    limit: std::time::Duration,
) -> io::Result<()> {
    let w = &mut conn.wbuf;
    w.clear();
    if rechunk {
        push_hex(w, data.len() as u64);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(data);
    if rechunk {
        w.extend_from_slice(b"\r\n");
    }
    with_timeout(limit, conn.flush_wbuf()).await
}

async fn finish_chunked(
    conn: &mut ClientConn,
    rechunk: bool,
    limit: std::time::Duration,
) -> io::Result<()> {
    if !rechunk {
        return Ok(());
    }
    conn.wbuf.clear();
    conn.wbuf.extend_from_slice(b"0\r\n\r\n");
    with_timeout(limit, conn.flush_wbuf()).await
}

async fn with_timeout<F: std::future::Future<Output = io::Result<()>>>(
    limit: std::time::Duration,
    f: F,
) -> io::Result<()> {
    match monoio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

async fn with_timeout_buf<T, F: std::future::Future<Output = monoio::BufResult<usize, T>>>(
    limit: std::time::Duration,
    f: F,
) -> (io::Result<usize>, Option<T>) {
    match monoio::time::timeout(limit, f).await {
        Ok((r, b)) => (r, Some(b)),
        Err(_) => (Err(io::ErrorKind::TimedOut.into()), None),
    }
}
