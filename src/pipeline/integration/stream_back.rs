//! Phase 9, integration response: write the response head to the client (upstream headers
//! minus hop-by-hop ones, the gateway's request id; the session frames the body) and stream
//! the body back: socket to socket with splice when both sides are plain TCP and the body is
//! large, otherwise piece by piece (re-framed by the session when the length is unknown).
//! The response taps (e.g. the cache recorder) see the head and body as they pass.

use std::io;
use std::time::Duration;

use crate::http::chunked::{ChunkedDecoder, Step};
use crate::pipeline::context::RequestContext;
use crate::pipeline::head_only;
use crate::pipeline::session::{ResponseBody, Session};
use crate::pipeline::taps::ResponseTaps;
use crate::pipeline::worker::WorkerCtx;
use crate::time::deadline::Deadline;
use crate::transport::splice::{splice_exact, SPLICE_MIN};
use crate::upstream::client::{ResponseFraming, ResponseHead};
use crate::upstream::pool::UpstreamConn;

/// The upstream side of a response: its connection, the parsed head and its framing, and
/// the bound on each write to the client and each read from the upstream (raced against
/// the upstream connection's one deadline, `UpstreamConn::deadline`).
pub struct Upstream<'a> {
    pub up: &'a mut UpstreamConn,
    pub head: &'a ResponseHead,
    pub framing: ResponseFraming,
    pub limit: Duration,
}

/// Write the response head to the client and stream the body.
///
/// The body the client gets follows the request it sent, the framing follows the request
/// sent upstream (they differ when the integration's `method` is set): a HEAD client gets
/// no body (the upstream connection is then not reused if the upstream sent one), a GET
/// client whose integration sent HEAD gets `content-length: 0`. 204 responses never carry
/// Content-Length; 304 and HEAD responses keep the upstream's.
pub async fn respond<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    upstream: Upstream<'_>,
    keep_alive: bool,
    taps: &mut ResponseTaps<'_>,
) -> io::Result<()> {
    let Upstream {
        up,
        head: resp,
        framing,
        limit,
    } = upstream;
    let length = match framing {
        ResponseFraming::Length(n) => Some(n),
        ResponseFraming::None => Some(0),
        ResponseFraming::Chunked | ResponseFraming::UntilClose => None,
    };
    let client_head = head_only(session);
    taps.head(resp.status, length, client_head);
    let bodiless_status = resp.status == 204 || resp.status == 304;
    // With no body to frame, the upstream's Content-Length describes the representation:
    // passed on for HEAD and 304 (RFC 9110 §8.6), never for 204.
    let keep_upstream_length = framing == ResponseFraming::None
        && resp.status != 204
        && (client_head || resp.status == 304);
    session.start_response(resp.status);
    for i in 0..resp.headers.len() {
        let (name, value) = resp.header(&up.rbuf, i);
        if resp.forwards_at(&up.rbuf, i) && !crate::pipeline::cors::replaces(rc, name) {
            session.response_header(name, value);
            taps.header(name, value);
        } else if keep_upstream_length && name.eq_ignore_ascii_case(b"content-length") {
            session.response_header(name, value);
        }
    }
    if !resp.has_date {
        session.response_header(b"date", &ctx.date.now());
    }
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    taps.end_head(|name, value| session.response_header(name, value));
    let body = match framing {
        ResponseFraming::Length(n) => ResponseBody::Length(n),
        ResponseFraming::Chunked | ResponseFraming::UntilClose => ResponseBody::Stream,
        // The integration sent HEAD, the client did not: say there is no body.
        ResponseFraming::None if !client_head && !bodiless_status => ResponseBody::Length(0),
        ResponseFraming::None => ResponseBody::None,
    };
    session.end_response_head(body, keep_alive);
    rc.status = resp.status;
    // Body bytes that arrived with the upstream's head are sent from where they lie, with
    // the response head in the same write (not moved to the front of the buffer first);
    // with none yet, the head goes out now.
    let mut start = resp.head_len;
    let with_body = !client_head
        && matches!(framing, ResponseFraming::Length(n) if n > 0)
        && up.rbuf.len() > start;
    if !with_body {
        up.consume(start);
        start = 0;
        up.deadline.within(limit, session.flush()).await??;
    }
    if client_head {
        return Ok(());
    }
    let recording = taps.wants_body();

    match framing {
        ResponseFraming::None => finish(session, &mut up.deadline, limit).await,
        ResponseFraming::Length(mut remaining) => {
            while remaining > 0 {
                // Past what is buffered, a large remainder goes socket to socket with splice.
                if up.rbuf.is_empty() && remaining >= SPLICE_MIN && !recording {
                    if let (Some(src), Some(dst)) = (up.stream.as_plain(), session.plain_socket()) {
                        let mut pipe = ctx.pipes.take()?;
                        splice_exact(src, dst, &mut pipe, remaining, limit).await?;
                        ctx.pipes.give_back(pipe);
                        rc.response_length += remaining;
                        return Ok(());
                    }
                }
                if up.rbuf.is_empty() && up.read_more_within(limit).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let n = ((up.rbuf.len() - start) as u64).min(remaining) as usize;
                if recording {
                    taps.body(up.rbuf.get(start..start + n).unwrap_or_default());
                }
                send_front(session, up, start, n, limit).await?;
                start = 0;
                rc.response_length += n as u64;
                remaining -= n as u64;
            }
            finish(session, &mut up.deadline, limit).await
        }
        ResponseFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(u64::MAX);
            loop {
                if up.rbuf.is_empty() && up.read_more_within(limit).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                match decoder
                    .decode(&up.rbuf)
                    .map_err(|_| io::Error::other("malformed chunked response"))?
                {
                    Step::Data { start, end } => {
                        if recording {
                            taps.body(&up.rbuf[start..end]);
                        }
                        send_front(session, up, start, end - start, limit).await?;
                        rc.response_length += (end - start) as u64;
                    }
                    Step::NeedMore { consumed } => {
                        up.consume(consumed);
                        if !up.rbuf.is_empty() && up.read_more_within(limit).await? == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    Step::Done { consumed } => {
                        up.consume(consumed);
                        return finish(session, &mut up.deadline, limit).await;
                    }
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            if up.rbuf.is_empty() && up.read_more_within(limit).await? == 0 {
                return finish(session, &mut up.deadline, limit).await;
            }
            let n = up.rbuf.len();
            if recording {
                taps.body(&up.rbuf[..n]);
            }
            send_front(session, up, 0, n, limit).await?;
            rc.response_length += n as u64;
        },
    }
}

/// Send `n` bytes of the upstream's read buffer from `start` to the client (lent, not
/// copied), then consume everything up to their end (with nothing after them, the buffer
/// is just emptied: no bytes move).
async fn send_front<S: Session>(
    session: &mut S,
    up: &mut UpstreamConn,
    start: usize,
    n: usize,
    limit: Duration,
) -> io::Result<()> {
    let buf = std::mem::take(&mut up.rbuf);
    match up
        .deadline
        .within(limit, session.send_body_owned(buf, start..start + n))
        .await
    {
        Ok((res, buf)) => {
            up.rbuf = buf;
            res?;
            up.consume(start + n);
            Ok(())
        }
        // The buffer went with the cancelled write.
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// End the body: bounded by `limit` when the session has something left to send (the last
/// chunk, END_STREAM); unbounded otherwise.
async fn finish<S: Session>(
    session: &mut S,
    deadline: &mut Deadline,
    limit: Duration,
) -> io::Result<()> {
    if session.finish_sends() {
        deadline.within(limit, session.finish_response()).await?
    } else {
        session.finish_response().await
    }
}
