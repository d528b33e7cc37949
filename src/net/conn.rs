//! A client connection: its socket and the buffers reused for every request on it.
//!
//! `rbuf` holds the request head (parsed in place; `head` keeps offsets into it) followed by
//! whatever else has arrived (body bytes, pipelined requests). Once a phase no longer needs
//! the head it calls `release_head`, and body bytes are then consumed from the front.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::net::tls_accept::TlsInfo;
use crate::transport::stream::ClientStream;
use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::http::head::Head;
use crate::time::deadline::Deadline;

/// Initial capacity of the read buffer; it grows only to fit `max_head_bytes`.
pub use crate::transport::stream::{read_append, READ_BUF};

pub struct ClientConn {
    pub stream: ClientStream,
    /// Set for connections on HTTPS listeners: the domain and client certificate.
    pub tls: Option<TlsInfo>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Index of the configured listener this connection came in on.
    pub listener: usize,
    pub rbuf: Vec<u8>,
    /// Response heads and other small writes.
    pub wbuf: Vec<u8>,
    pub head: Head,
    /// How much of the current request's body has been read.
    pub body_state: BodyState,
    /// The current request's body decoding.
    pub body: crate::net::h1::BodyReader,
    /// The response body goes out chunked.
    pub chunking: bool,
    /// The connection stays open after the current response.
    pub keep: bool,
    /// The current request's path was checked to be ASCII (`Session::path`).
    pub path_ascii: bool,
    /// I/O vectors for writing cache hits (reused; empty between writes).
    pub iov: Vec<libc::iovec>,
    /// An upstream connection that belongs to this client connection alone: with PROXY
    /// protocol the target learns the client's address once per connection, so such a
    /// connection is never shared through the worker's pool (NLB keeps one upstream
    /// connection per client connection too). Closed with the client connection.
    pub pinned_upstream: Option<(
        crate::upstream::pool::PoolKey,
        crate::upstream::pool::UpstreamConn,
    )>,
    /// The deadline of the client read in progress: one alarm for the connection's life,
    /// not a timer per read (`crate::time::deadline`).
    pub deadline: Deadline,
}

pub use crate::pipeline::session::{BodyState, Next};

impl ClientConn {
    pub fn new(
        stream: ClientStream,
        tls: Option<TlsInfo>,
        peer: SocketAddr,
        local: SocketAddr,
        listener: usize,
    ) -> Self {
        ClientConn {
            stream,
            tls,
            peer,
            local,
            listener,
            rbuf: Vec::with_capacity(READ_BUF),
            wbuf: Vec::with_capacity(1024),
            head: Head::default(),
            iov: Vec::new(),
            body_state: BodyState::Done,
            body: Default::default(),
            chunking: false,
            keep: false,
            path_ascii: false,
            pinned_upstream: None,
            deadline: Deadline::new(),
        }
    }

    /// Read more bytes onto the end of `rbuf`. `Ok(0)` is end of stream.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        read_append(&mut self.stream, buf, &mut self.rbuf).await
    }

    /// `read_more` with a deadline; `Err(TimedOut)` when it passes.
    pub async fn read_more_until(&mut self, deadline: Instant) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        let read = read_append(&mut self.stream, buf, &mut self.rbuf);
        self.deadline.race_until(deadline, read).await?
    }

    /// `read_more` with an idle timeout (from the moment the read has to wait).
    pub async fn read_more_within(&mut self, limit: Duration) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        let read = read_append(&mut self.stream, buf, &mut self.rbuf);
        self.deadline.within(limit, read).await?
    }

    /// Drop the parsed head from the front of `rbuf`; later bytes move to the front.
    pub fn release_head(&mut self) {
        self.path_ascii = false;
        let n = self.head.head_len.min(self.rbuf.len());
        self.rbuf.drain(..n);
        self.head.head_len = 0;
    }

    /// Drop `n` consumed bytes from the front of `rbuf`.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.rbuf.len());
        self.rbuf.drain(..n);
    }

    /// Write all of `wbuf` to the client and clear it.
    pub async fn flush_wbuf(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.wbuf);
        let (res, mut buf) = self.stream.write_all(buf).await;
        buf.clear();
        self.wbuf = buf;
        res.map(|_| ())
    }

    /// Close after an error response without losing it: shut down our side, then read and
    /// drop what the client still sends (briefly, bounded), so the kernel does not answer
    /// unread data with a reset that could destroy the response in flight.
    pub async fn linger_close(&mut self) {
        use monoio::io::AsyncWriteRent;
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut dropped = 0usize;
        while dropped < 256 * 1024 {
            self.rbuf.clear();
            match self.read_more_until(deadline).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
        self.rbuf.clear();
    }

    /// Write `rbuf[..n]` (body bytes at the front) to `dst`, then consume them.
    pub async fn forward_front<W: AsyncWriteRentExt>(
        &mut self,
        dst: &mut W,
        n: usize,
    ) -> io::Result<()> {
        let n = n.min(self.rbuf.len());
        let buf = std::mem::take(&mut self.rbuf);
        let (res, slice) = dst.write_all(buf.slice(0..n)).await;
        self.rbuf = slice.into_inner();
        self.consume(n);
        res.map(|_| ())
    }
}

/// How long closing a TLS connection may wait to send its close_notify (a client that
/// stopped reading must not hold the task).
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(1);

/// Serve requests on one connection until it closes, errs, idles out or the worker drains,
/// then close it: on TLS, with close_notify first, so a client can tell the end of a
/// close-delimited body (or of an idle connection) from a truncation.
pub async fn serve(ctx: &crate::pipeline::worker::WorkerCtx, conn: &mut ClientConn) {
    let last = serve_requests(ctx, conn).await;
    if last == Next::Abort {
        return;
    }
    if let crate::transport::stream::MaybeTls::Tls(tls) = &mut conn.stream {
        use monoio::io::AsyncWriteRent;
        let _ = conn
            .deadline
            .within(CLOSE_NOTIFY_TIMEOUT, tls.shutdown())
            .await;
    }
}

/// Serve until the connection is to close; returns how (`Close` or `Abort`).
async fn serve_requests(ctx: &crate::pipeline::worker::WorkerCtx, conn: &mut ClientConn) -> Next {
    // `$context`, reused by every request on the connection.
    let mut rc = ctx.contexts.lease();
    loop {
        match read_head(ctx, conn).await {
            HeadRead::Ready => {}
            HeadRead::Closed => return Next::Close,
            HeadRead::Failed(kind) => {
                refuse_head(ctx, conn, kind).await;
                return Next::Close;
            }
        }
        let limits = &ctx.snapshot().limits;
        conn.begin_request(limits.max_body_bytes, limits.body_read_timeout);
        match crate::pipeline::run(ctx, conn, &mut rc).await {
            Next::KeepAlive if !ctx.drain.is_draining() => {}
            Next::KeepAlive => return Next::Close,
            ended => return ended,
        }
    }
}

enum HeadRead {
    Ready,
    /// Peer closed, idle timeout, drain while idle, or an I/O error: close silently.
    Closed,
    /// Answer with this error and close.
    Failed(crate::error::ErrorKind),
}

async fn read_head(ctx: &crate::pipeline::worker::WorkerCtx, conn: &mut ClientConn) -> HeadRead {
    use crate::error::ErrorKind;
    let snapshot = ctx.snapshot();
    let limits = &snapshot.limits;
    // The header-read deadline starts with the first byte of the head.
    let mut deadline = None;
    loop {
        if !conn.rbuf.is_empty() {
            match crate::http::parse::parse_request_head(&conn.rbuf, limits, &mut conn.head) {
                Ok(true) => return HeadRead::Ready,
                Ok(false) => {}
                Err(kind) => return HeadRead::Failed(kind),
            }
            if deadline.is_none() {
                deadline = Some(Instant::now() + limits.header_read_timeout);
            }
        }
        let read = match deadline {
            Some(d) => conn.read_more_until(d).await,
            None => {
                // Idle between requests: the keep-alive timeout applies and a drain closes us.
                if ctx.drain.is_draining() {
                    return HeadRead::Closed;
                }
                let idle = limits.keepalive_timeout;
                let r = monoio::select! {
                    r = conn.read_more_within(idle) => Some(r),
                    _ = ctx.drain.wait() => None,
                };
                match r {
                    Some(r) => r,
                    None => return HeadRead::Closed,
                }
            }
        };
        match read {
            Ok(0) => {
                // EOF in the middle of a head is a client error nobody will read; just close.
                return HeadRead::Closed;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut && deadline.is_some() => {
                return HeadRead::Failed(ErrorKind::RequestTimeout);
            }
            Err(_) => return HeadRead::Closed,
        }
    }
}

/// Answer a request whose head could not be read (malformed, too large, too slow) and close.
async fn refuse_head(
    ctx: &crate::pipeline::worker::WorkerCtx,
    conn: &mut ClientConn,
    kind: crate::error::ErrorKind,
) {
    let resp = crate::error::GatewayResponse::for_kind(kind);
    let id = ctx.ids.next();
    conn.wbuf.clear();
    crate::http::write::push_error_response(
        &mut conn.wbuf,
        &resp,
        &ctx.date.now(),
        &id,
        false,
        false,
        false,
        None,
    );
    let _ = conn.flush_wbuf().await;
    conn.linger_close().await;
}
