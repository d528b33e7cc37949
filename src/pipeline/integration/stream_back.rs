//! Phase 9, integration response: write the response head to the client (upstream headers
//! minus hop-by-hop ones, the gateway's request id, framing regenerated) and stream the body
//! back: socket to socket with splice when both sides are plain TCP and the body is large,
//! re-chunked when the length is unknown.

use std::io;

use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::config::Snapshot;
use crate::http::chunked::{ChunkedDecoder, Step};
use crate::http::write::{push_connection, push_decimal, push_header, push_hex, push_status_line};
use crate::net::conn::ClientConn;
use crate::net::splice::{splice_exact, SPLICE_MIN};
use crate::pipeline::cache::{Miss, IGNORED_WARNING};
use crate::pipeline::RequestFacts;
use crate::runtime::worker::WorkerCtx;
use crate::upstream::client::{ResponseFraming, ResponseHead};
use crate::upstream::pool::UpstreamConn;

/// Does the client connection close after this response? When it was to be kept
/// (`keep_alive`), only an HTTP/1.0 client that gets a body of unknown length (which only
/// the close can delimit) loses it.
pub fn client_closes(facts: &RequestFacts, framing: ResponseFraming, keep_alive: bool) -> bool {
    let unknown_length = matches!(
        framing,
        ResponseFraming::Chunked | ResponseFraming::UntilClose
    );
    !keep_alive || (unknown_length && !facts.head_only() && facts.version_minor == 0)
}

/// Write the response head to the client and stream the body.
///
/// The body the client gets follows the request it sent, the framing follows the request
/// sent upstream (they differ when the integration's `method` is set): a HEAD client gets
/// no body (the upstream connection is then not reused if the upstream sent one), a GET
/// client whose integration sent HEAD gets `content-length: 0`. 204 responses never carry
/// Content-Length; 304 and HEAD responses keep the upstream's.
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    up: &mut UpstreamConn,
    resp: &ResponseHead,
    framing: ResponseFraming,
    keep_alive: bool,
    snapshot: &Snapshot,
    mut miss: Option<&mut Miss<'_>>,
) -> io::Result<()> {
    // A cacheable response is recorded as it passes (see pipeline::cache).
    let length = match framing {
        ResponseFraming::Length(n) => Some(n),
        ResponseFraming::None => Some(0),
        ResponseFraming::Chunked | ResponseFraming::UntilClose => None,
    };
    let client_head = facts.head_only();
    let recording = match miss.as_deref_mut() {
        Some(m) if !client_head => m.begin(resp.status, length),
        _ => false,
    };
    let rechunk = matches!(
        framing,
        ResponseFraming::Chunked | ResponseFraming::UntilClose
    ) && facts.version_minor == 1;
    let bodiless_status = resp.status == 204 || resp.status == 304;
    // With no body to frame, the upstream's Content-Length describes the representation:
    // passed on for HEAD and 304 (RFC 9110 §8.6), never for 204.
    let keep_upstream_length = framing == ResponseFraming::None
        && resp.status != 204
        && (client_head || resp.status == 304);
    {
        let w = &mut conn.wbuf;
        w.clear();
        push_status_line(w, resp.status);
        for i in 0..resp.headers.len() {
            let (name, value) = resp.header(&up.rbuf, i);
            if resp.forwards(&up.rbuf, name) {
                push_header(w, name, value);
                if let Some(m) = miss.as_deref_mut() {
                    m.header(name, value);
                }
            } else if keep_upstream_length && name.eq_ignore_ascii_case(b"content-length") {
                push_header(w, name, value);
            }
        }
        if !resp.has_date {
            push_header(w, b"date", &ctx.date.now());
        }
        push_header(w, b"x-amzn-requestid", &facts.id);
        if let Some(m) = miss.as_deref_mut() {
            m.end_head();
            if let Some((name, value)) = m.status_header {
                push_header(w, name, value);
            }
            if m.warning {
                push_header(w, b"warning", IGNORED_WARNING);
            }
        }
        match framing {
            ResponseFraming::Length(n) => {
                w.extend_from_slice(b"content-length: ");
                push_decimal(w, n);
                w.extend_from_slice(b"\r\n");
            }
            ResponseFraming::Chunked | ResponseFraming::UntilClose if rechunk => {
                w.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            // The integration sent HEAD, the client did not: say there is no body.
            ResponseFraming::None if !client_head && !bodiless_status => {
                w.extend_from_slice(b"content-length: 0\r\n");
            }
            _ => {}
        }
        push_connection(
            w,
            !client_closes(facts, framing, keep_alive),
            facts.version_minor == 0,
        );
        w.extend_from_slice(b"\r\n");
    }
    up.consume(resp.head_len);
    let write_limit = snapshot.limits.body_read_timeout;
    with_timeout(write_limit, conn.flush_wbuf()).await?;
    if client_head {
        return Ok(());
    }

    match framing {
        ResponseFraming::None => Ok(()),
        ResponseFraming::Length(mut remaining) => {
            while remaining > 0 {
                // Past what is buffered, a large remainder goes socket to socket with splice.
                if up.rbuf.is_empty() && remaining >= SPLICE_MIN && !recording {
                    if let (Some(src), Some(dst)) = (up.stream.as_plain(), conn.stream.as_plain()) {
                        let mut pipe = ctx.pipes.take()?;
                        splice_exact(src, dst, &mut pipe, remaining, write_limit).await?;
                        ctx.pipes.give_back(pipe);
                        return Ok(());
                    }
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
                if let (true, Some(m)) = (recording, miss.as_deref_mut()) {
                    m.body(up.rbuf.get(..n).unwrap_or_default());
                }
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
                        if let (true, Some(m)) = (recording, miss.as_deref_mut()) {
                            m.body(&up.rbuf[start..end]);
                        }
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
            if let (true, Some(m)) = (recording, miss.as_deref_mut()) {
                m.body(&up.rbuf[..n]);
            }
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
