//! Phase 8, the integration: send the request head and body to the upstream and read the
//! response head, within the integration timeout. A reused pooled connection that fails
//! before any response byte is replaced by a fresh one once, when the request has no body
//! to replay. A failure to connect is reported apart, with whether the request had already
//! been written to such a pooled connection, so target groups can retry elsewhere.

use std::io;

use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::error::{ErrorKind, GatewayError};
use crate::http::head::BodyFraming;
use crate::http::write::push_hex;
use crate::pipeline::session::{BodyState, Session};
use crate::pipeline::worker::WorkerCtx;
use crate::transport::splice::{splice_exact, SPLICE_MIN};
use crate::upstream::client::{parse_response_head, ParsedResponse, ResponseFraming, ResponseHead};
use crate::upstream::pool::{Endpoint, UpstreamConn};

/// Why an exchange failed.
pub enum ExchangeError {
    /// No connection could be opened. `sent` is false when nothing of this request was
    /// written anywhere (safe to try another target whatever the method); true when its head
    /// had gone out on a reused connection that then failed, before this reconnect failed
    /// (the target may have seen it).
    Connect { error: io::Error, sent: bool },
    /// Anything later, already mapped to its gateway response.
    Failed(GatewayError),
}

pub fn io_failure(e: io::Error) -> GatewayError {
    if e.kind() == io::ErrorKind::TimedOut {
        GatewayError::with_source(ErrorKind::IntegrationTimeout, e)
    } else {
        GatewayError::with_source(ErrorKind::IntegrationFailure, e)
    }
}

/// The upstream request on its way: its head (kept for one retry), where the response
/// head is parsed, when the integration began (the request's one clock reading here: the
/// pool's idle ages are measured against it) and the integration's deadline.
pub struct Outbound<'b> {
    pub head: &'b mut Vec<u8>,
    pub resp: &'b mut ResponseHead,
    pub started: Instant,
    pub deadline: Instant,
    /// Where the request body is copied as it goes (execution logs' data tracing).
    pub capture: Option<&'b mut crate::pipeline::execution_log::BodyCapture>,
}

/// Send the request and read the response head. A reused connection that fails before
/// any response byte is replaced by a fresh one once, when there is no body to replay.
pub async fn exchange<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    endpoint: &Endpoint<'_>,
    out: &mut Outbound<'_>,
) -> Result<(UpstreamConn, ResponseFraming), ExchangeError> {
    let replayable = session.body_framing() == BodyFraming::None;
    // The body expectation follows the method actually sent upstream (the integration's
    // `method` may differ from the client's), read off the head about to be sent.
    let sent_head = out.head.starts_with(b"HEAD ");
    // A reused connection, pooled or pinned, is probed first: closed, or holding bytes
    // nobody asked for, it is dropped (see `UpstreamConn::is_open_and_quiet`).
    let mut pooled = if endpoint.proxy_v2.is_some() {
        // This client's own connection, if it still is one to the same target.
        match session.pinned_upstream().and_then(Option::take) {
            Some((key, mut up)) if key == endpoint.key => up.is_open_and_quiet().then(|| {
                up.reused = true;
                up
            }),
            _ => None,
        }
    } else {
        ctx.upstreams.take(endpoint, out.started)
    };
    // Whether the head was already written to a pooled connection that then failed.
    let mut sent = false;
    loop {
        let mut up = match pooled.take() {
            Some(c) => c,
            None => UpstreamConn::connect(endpoint, out.deadline, out.started)
                .await
                .map_err(|error| ExchangeError::Connect { error, sent })?,
        };
        up.serving(out.started);
        let reused = up.reused;
        match send_and_read_head(ctx, session, &mut up, out, sent_head).await {
            Ok(framing) => return Ok((up, framing)),
            Err(Failure::Stale(_)) if reused && replayable => {
                sent = true;
                continue;
            }
            Err(Failure::Stale(e)) | Err(Failure::Io(e)) => {
                return Err(ExchangeError::Failed(io_failure(e)))
            }
            Err(Failure::Client(kind)) => return Err(ExchangeError::Failed(kind.into())),
            Err(Failure::Malformed(reason)) => {
                return Err(ExchangeError::Failed(GatewayError::with_source(
                    ErrorKind::IntegrationFailure,
                    reason,
                )))
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

async fn send_and_read_head<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    up: &mut UpstreamConn,
    out: &mut Outbound<'_>,
    sent_head: bool,
) -> Result<ResponseFraming, Failure> {
    let deadline = out.deadline;
    let framing = session.body_framing();
    // A chunked body's head is held back until the first chunk header has parsed (and goes
    // out with that chunk): bad framing at the start sends the upstream nothing.
    let untouched = session.body_state() == BodyState::Untouched;
    let hold_head = untouched && framing == BodyFraming::Chunked;
    if !hold_head {
        let head = std::mem::take(out.head);
        let write = up.stream.write_all(head);
        let (res, head) = match up.deadline.race_until(deadline, write).await {
            Ok(r) => r,
            Err(_) => {
                // The buffer went with the cancelled write; start a new one.
                return Err(Failure::Io(io::ErrorKind::TimedOut.into()));
            }
        };
        *out.head = head;
        res.map_err(Failure::Stale)?;
    }

    if untouched {
        send_body(ctx, session, up, out, hold_head).await?;
    }

    let resp = &mut *out.resp;
    let mut got_bytes = false;
    let mut interim = 0usize;
    loop {
        if !up.rbuf.is_empty() {
            got_bytes = true;
            match parse_response_head(&up.rbuf, sent_head, resp) {
                Ok(ParsedResponse::Complete(framing)) => {
                    return Ok(framing);
                }
                Ok(ParsedResponse::Interim(n)) => {
                    // A few are normal (100, then 103s); an endless stream of them is an
                    // upstream holding the client for the whole integration timeout.
                    interim += 1;
                    if interim > MAX_INTERIM_RESPONSES {
                        return Err(Failure::Malformed("too many interim responses"));
                    }
                    forward_interim(session, &mut *up, resp, deadline).await?;
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

/// Interim (1xx) responses passed on per request; one more is a 502.
const MAX_INTERIM_RESPONSES: usize = 16;

/// Pass an interim 1xx response (100 Continue, 103 Early Hints, ...) on to the client, as a
/// proxy must (RFC 9110 §15.2), minus hop-by-hop headers; not to clients that cannot take
/// one (HTTP/1.0).
async fn forward_interim<S: Session>(
    session: &mut S,
    up: &mut UpstreamConn,
    resp: &ResponseHead,
    deadline: Instant,
) -> Result<(), Failure> {
    session.start_response(resp.status);
    for i in 0..resp.headers.len() {
        let (name, value) = resp.header(&up.rbuf, i);
        if resp.forwards_at(&up.rbuf, i) {
            session.response_header(name, value);
        }
    }
    if !session.end_interim_head() {
        return Ok(());
    }
    match up.deadline.race_until(deadline, session.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Io(e)),
        Err(_) => Err(Failure::Io(io::ErrorKind::TimedOut.into())),
    }
}

/// Stream the client's body to the upstream (chunked bodies are re-encoded).
async fn send_body<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    up: &mut UpstreamConn,
    out: &mut Outbound<'_>,
    mut head_pending: bool,
) -> Result<(), Failure> {
    let deadline = out.deadline;
    let chunked = session.body_framing() == BodyFraming::Chunked;
    let idle = ctx.snapshot().limits.body_read_timeout;
    loop {
        // A large Content-Length remainder goes socket to socket with splice.
        // Only between two plain TCP sockets: otherwise the threshold is never reached.
        // (Not while a data trace copies the body: it must pass where it can be seen.)
        let plain = up.stream.as_plain().is_some()
            && session.plain_socket().is_some()
            && out.capture.is_none();
        let splice_min = if plain { SPLICE_MIN } else { u64::MAX };
        if let Some(rest) = session
            .take_unbuffered_body(splice_min)
            .await
            .map_err(Failure::Client)?
        {
            let (Some(src), Some(dst)) = (session.plain_socket(), up.stream.as_plain()) else {
                return Err(Failure::Io(io::Error::other("splice needs plain TCP")));
            };
            let mut pipe = ctx.pipes.take().map_err(Failure::Io)?;
            match splice_exact(src, dst, &mut pipe, rest, idle).await {
                Ok(()) => ctx.pipes.give_back(pipe),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Failure::Client(ErrorKind::BadRequest))
                }
                Err(e) => return Err(Failure::Io(e)),
            }
            break;
        }
        let n = session.body_next().await.map_err(Failure::Client)?;
        if n == 0 {
            break;
        }
        if let Some(c) = out.capture.as_deref_mut() {
            c.push(session.body_front().get(..n).unwrap_or_default());
        }
        let written = if chunked {
            // The held-back head (still in `out.head`) goes out with the first chunk.
            let mut frame = std::mem::take(out.head);
            if !head_pending {
                frame.clear();
            }
            head_pending = false;
            push_hex(&mut frame, n as u64);
            frame.extend_from_slice(b"\r\n");
            frame.extend_from_slice(session.body_front().get(..n).unwrap_or_default());
            frame.extend_from_slice(b"\r\n");
            let write = up.stream.write_all(frame);
            let (res, frame) = match up.deadline.race_until(deadline, write).await {
                Ok(r) => r,
                Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
            };
            *out.head = frame;
            session.consume_body(n);
            res.map(|_| ())
        } else {
            let write = session.write_body_front(&mut up.stream, n);
            match up.deadline.race_until(deadline, write).await {
                Ok(r) => r,
                Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
            }
        };
        written.map_err(Failure::Io)?;
    }
    if chunked {
        let mut last = std::mem::take(out.head);
        if !head_pending {
            last.clear();
        }
        last.extend_from_slice(b"0\r\n\r\n");
        let write = up.stream.write_all(last);
        let (res, last) = match up.deadline.race_until(deadline, write).await {
            Ok(r) => r,
            Err(_) => return Err(Failure::Io(io::ErrorKind::TimedOut.into())),
        };
        *out.head = last;
        res.map_err(Failure::Io)?;
    }
    Ok(())
}
