//! HTTP/1.x as a `Session`: the request head is read in place from the connection's read
//! buffer (spans, nothing copied), the body decoded from its front (Content-Length or
//! chunked, bounded, `Expect: 100-continue` answered before the first read), the response
//! written as HTTP/1.1 bytes into the connection's write buffer (chunked when the length is
//! unknown, close-delimited for HTTP/1.0) or straight from owned buffers (zero-copy).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use monoio::buf::IoBuf;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::cache::entry::CachedResponse;
use crate::cache::hit::write_hit;
use crate::config::Snapshot;
use crate::error::ErrorKind;
use crate::http::chunked::{ChunkedDecoder, Step};
use crate::http::head::{BodyFraming, Method};
use crate::http::write::{push_connection, push_decimal, push_header, push_hex, push_status_line};
use crate::net::conn::ClientConn;
use crate::net::tls_accept::{self, TlsInfo};
use crate::pipeline::session::{BodyState, ResponseBody, Session, Version};
use crate::transport::stream::MaybeTls;
use crate::transport::vectored::{write_parts, HeadAndBody};
use crate::upstream::pool::{PoolKey, UpstreamConn};

/// The request body's decoding state, reset with each request head.
#[derive(Debug)]
pub struct BodyReader {
    remaining: u64,
    decoder: Option<ChunkedDecoder>,
    done: bool,
    continue_pending: bool,
    read_timeout: Duration,
}

impl Default for BodyReader {
    fn default() -> Self {
        BodyReader {
            remaining: 0,
            decoder: None,
            done: true,
            continue_pending: false,
            read_timeout: Duration::from_secs(30),
        }
    }
}

impl BodyReader {
    pub fn new(
        framing: BodyFraming,
        expect_continue: bool,
        max_body: u64,
        read_timeout: Duration,
    ) -> Self {
        let (remaining, decoder, done) = match framing {
            BodyFraming::None => (0, None, true),
            BodyFraming::Length(n) => (n, None, false),
            BodyFraming::Chunked => (0, Some(ChunkedDecoder::new(max_body)), false),
        };
        BodyReader {
            remaining,
            decoder,
            done,
            continue_pending: expect_continue && !done,
            read_timeout,
        }
    }
}

impl ClientConn {
    /// A request head was parsed into `self.head`: get ready to read its body.
    pub fn begin_request(&mut self, max_body: u64, read_timeout: Duration) {
        let head = &self.head;
        self.body = BodyReader::new(head.body, head.expect_continue, max_body, read_timeout);
        self.body_state = match head.body {
            BodyFraming::None => BodyState::Done,
            _ => BodyState::Untouched,
        };
        self.chunking = false;
        self.keep = false;
        self.path_ascii = self.head.path.of(&self.rbuf).is_ascii();
    }

    /// Where the body's bytes start in `rbuf`: after the head while it is kept (a phase
    /// that reads the body whole before the integration, e.g. the SigV4 payload hash, still
    /// reads the head afterwards), at 0 once it is released.
    fn body_start(&self) -> usize {
        self.head.head_len.min(self.rbuf.len())
    }

    /// Drop `n` body bytes (those at `body_start`; the head, if kept, stays in place).
    fn consume_body_bytes(&mut self, n: usize) {
        let start = self.body_start();
        let end = start.saturating_add(n).min(self.rbuf.len());
        self.rbuf.drain(start..end);
    }

    fn http10(&self) -> bool {
        self.head.version_minor == 0
    }

    async fn send_continue(&mut self) -> Result<(), ErrorKind> {
        self.body.continue_pending = false;
        self.wbuf.clear();
        self.wbuf
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        self.flush_wbuf().await.map_err(|_| ErrorKind::BadRequest)
    }

    async fn fill(&mut self) -> Result<(), ErrorKind> {
        if self.body.continue_pending {
            self.send_continue().await?;
        }
        match self.read_more_within(self.body.read_timeout).await {
            Ok(0) => Err(ErrorKind::BadRequest),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(ErrorKind::RequestTimeout),
            Err(_) => Err(ErrorKind::BadRequest),
        }
    }

    /// Append body bytes to `wbuf`, as one chunk when chunking.
    fn push_piece(&mut self, data: &[u8]) {
        let w = &mut self.wbuf;
        if self.chunking {
            push_hex(w, data.len() as u64);
            w.extend_from_slice(b"\r\n");
            w.extend_from_slice(data);
            w.extend_from_slice(b"\r\n");
        } else {
            w.extend_from_slice(data);
        }
    }
}

impl Session for ClientConn {
    fn peer(&self) -> SocketAddr {
        self.peer
    }
    fn local(&self) -> SocketAddr {
        self.local
    }
    fn listener(&self) -> usize {
        self.listener
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    fn check_connection(&mut self, snapshot: &Arc<Snapshot>) -> Result<(), String> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        if tls.checked_against(snapshot) {
            return Ok(());
        }
        let MaybeTls::Tls(stream) = &self.stream else {
            return Ok(());
        };
        tls_accept::recheck(tls, stream.get_ref(), snapshot, self.peer).map_err(str::to_owned)
    }

    fn version(&self) -> Version {
        if self.http10() {
            Version::Http10
        } else {
            Version::Http11
        }
    }
    fn method(&self) -> Method {
        self.head.method()
    }
    fn method_bytes(&self) -> &[u8] {
        self.head.method_span.of(&self.rbuf)
    }
    fn path(&self) -> &str {
        let bytes = self.head.path.of(&self.rbuf);
        if self.path_ascii {
            // SAFETY: `begin_request` found these bytes (the head is not touched until
            // `release_head`, which clears the flag) to be ASCII, which is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            // The request parser refuses non-ASCII request targets: not reached.
            ""
        }
    }
    fn query(&self) -> Option<&[u8]> {
        self.head.query.map(|q| q.of(&self.rbuf))
    }
    fn host(&self) -> Option<&str> {
        self.head
            .host
            .map(|h| crate::http::host::host_str(h.of(&self.rbuf)))
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(&self.rbuf, name)
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let buf = &self.rbuf;
        self.head
            .headers
            .iter()
            .map(|(n, v)| (n.of(buf), v.of(buf)))
    }
    fn connection_lists(&self, name: &[u8]) -> bool {
        self.head.connection_lists(&self.rbuf, name)
    }
    fn drop_headers(&mut self, drop: impl FnMut(&[u8]) -> bool) {
        self.head.drop_headers(&self.rbuf, drop);
    }
    fn body_framing(&self) -> BodyFraming {
        self.head.body
    }
    fn wants_keep_alive(&self) -> bool {
        self.head.keep_alive
    }
    fn expect_continue(&self) -> bool {
        self.head.expect_continue
    }
    fn release_head(&mut self) {
        if self.head.head_len != 0 {
            ClientConn::release_head(self);
        }
    }

    fn body_state(&self) -> BodyState {
        self.body_state
    }

    async fn body_next(&mut self) -> Result<usize, ErrorKind> {
        if self.body_state == BodyState::Untouched {
            self.body_state = BodyState::Partial;
        }
        loop {
            if self.body.done {
                self.body_state = BodyState::Done;
                return Ok(0);
            }
            let at = self.body_start();
            if let Some(decoder) = self.body.decoder.as_mut() {
                if self.rbuf.len() > at {
                    match decoder.decode(&self.rbuf[at..])? {
                        Step::Data { start, end } => {
                            self.consume_body_bytes(start);
                            return Ok(end - start);
                        }
                        Step::NeedMore { consumed } => self.consume_body_bytes(consumed),
                        Step::Done { consumed } => {
                            self.consume_body_bytes(consumed);
                            self.body.done = true;
                            continue;
                        }
                    }
                }
            } else {
                if self.body.remaining == 0 {
                    self.body.done = true;
                    continue;
                }
                if self.rbuf.len() > at {
                    let n = ((self.rbuf.len() - at) as u64).min(self.body.remaining) as usize;
                    self.body.remaining -= n as u64;
                    return Ok(n);
                }
            }
            self.fill().await?;
        }
    }

    fn body_front(&self) -> &[u8] {
        &self.rbuf[self.body_start()..]
    }

    fn consume_body(&mut self, n: usize) {
        self.consume_body_bytes(n);
    }

    async fn take_unbuffered_body(&mut self, min: u64) -> Result<Option<u64>, ErrorKind> {
        let b = &self.body;
        if b.done || b.decoder.is_some() || self.rbuf.len() > self.body_start() || b.remaining < min
        {
            return Ok(None);
        }
        if self.body.continue_pending {
            self.send_continue().await?;
        }
        let n = self.body.remaining;
        self.body.remaining = 0;
        self.body.done = true;
        self.body_state = BodyState::Done;
        Ok(Some(n))
    }

    async fn write_body_front<W: AsyncWriteRent>(
        &mut self,
        dst: &mut W,
        n: usize,
    ) -> io::Result<()> {
        let at = self.body_start();
        if at == 0 {
            return self.forward_front(dst, n).await;
        }
        // The head is kept in front of the body: forward a copy of the piece.
        let end = at.saturating_add(n).min(self.rbuf.len());
        let piece = self.rbuf[at..end].to_vec();
        let (res, _) = monoio::io::AsyncWriteRentExt::write_all(dst, piece).await;
        res?;
        self.consume_body_bytes(n);
        Ok(())
    }

    fn plain_socket(&mut self) -> Option<&mut TcpStream> {
        self.stream.as_plain()
    }

    fn pinned_upstream(&mut self) -> Option<&mut Option<(PoolKey, UpstreamConn)>> {
        Some(&mut self.pinned_upstream)
    }

    fn start_response(&mut self, status: u16) {
        self.wbuf.clear();
        push_status_line(&mut self.wbuf, status);
    }

    fn response_header(&mut self, name: &[u8], value: &[u8]) {
        push_header(&mut self.wbuf, name, value);
    }

    fn end_interim_head(&mut self) -> bool {
        if self.http10() {
            self.wbuf.clear();
            return false;
        }
        self.wbuf.extend_from_slice(b"\r\n");
        true
    }

    fn end_response_head(&mut self, body: ResponseBody, keep_alive: bool) {
        let http10 = self.http10();
        let head_only = self.head.method() == Method::Head;
        let w = &mut self.wbuf;
        self.chunking = false;
        let mut keep = keep_alive;
        match body {
            ResponseBody::None => {}
            ResponseBody::Length(n) => {
                w.extend_from_slice(b"content-length: ");
                push_decimal(w, n);
                w.extend_from_slice(b"\r\n");
            }
            ResponseBody::Stream if !http10 => {
                w.extend_from_slice(b"transfer-encoding: chunked\r\n");
                self.chunking = !head_only;
            }
            // HTTP/1.0: only the close can end a body of unknown length.
            ResponseBody::Stream => keep &= head_only,
        }
        push_connection(w, keep, http10);
        w.extend_from_slice(b"\r\n");
        self.keep = keep;
    }

    fn keeps_alive(&self) -> bool {
        self.keep
    }

    fn push_body(&mut self, data: &[u8]) {
        self.push_piece(data);
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.flush_wbuf().await
    }

    async fn send_body_owned(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>) {
        let end = range.end.min(buf.len());
        let range = range.start.min(end)..end;
        if self.chunking {
            // One chunk: its framing and the bytes, copied together into one write.
            self.push_piece(&buf[range]);
            return (self.flush_wbuf().await, buf);
        }
        if !self.wbuf.is_empty() {
            // The head (or pushed bytes) not sent yet: it and the body in one vectored
            // write, neither copied.
            let head = std::mem::take(&mut self.wbuf);
            let iov = std::mem::take(&mut self.iov);
            let parts = HeadAndBody {
                head,
                body: buf,
                range,
            };
            let (res, parts, iov) = write_parts(&mut self.stream, parts, iov).await;
            let HeadAndBody { mut head, body, .. } = parts;
            head.clear();
            self.wbuf = head;
            self.iov = iov;
            return (res, body);
        }
        let (res, slice) = self.stream.write_all(buf.slice(range)).await;
        (res.map(|_| ()), slice.into_inner())
    }

    fn finish_sends(&self) -> bool {
        self.chunking || !self.wbuf.is_empty()
    }

    async fn finish_response(&mut self) -> io::Result<()> {
        if self.chunking {
            self.chunking = false;
            self.wbuf.extend_from_slice(b"0\r\n\r\n");
        }
        self.flush().await
    }

    async fn send_cached(
        &mut self,
        entry: Arc<CachedResponse>,
        headers: &[(&[u8], &[u8])],
        keep_alive: bool,
    ) -> io::Result<()> {
        let http10 = self.http10();
        let mut w = std::mem::take(&mut self.wbuf);
        w.clear();
        for (name, value) in headers {
            push_header(&mut w, name, value);
        }
        if entry.status() != 204 {
            w.extend_from_slice(b"content-length: ");
            push_decimal(&mut w, entry.body().len() as u64);
            w.extend_from_slice(b"\r\n");
        }
        push_connection(&mut w, keep_alive, http10);
        w.extend_from_slice(b"\r\n");
        self.keep = keep_alive;
        let iov = std::mem::take(&mut self.iov);
        let (res, mut w, iov) = write_hit(&mut self.stream, entry, w, iov).await;
        w.clear();
        self.wbuf = w;
        self.iov = iov;
        res
    }

    async fn close_after_error(&mut self) {
        self.linger_close().await;
    }
}
