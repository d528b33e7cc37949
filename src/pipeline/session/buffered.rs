//! A session whose request body was read whole before the integration (a phase needed it:
//! the SigV4 payload hash, later request validation and Lambda events): the same session,
//! with the body replayed from memory. The integration sees a body of known length
//! (`Content-Length` upstream even when the client sent it chunked); everything else is the
//! wrapped session's.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::{BodyState, ResponseBody, Session, TlsInfo, Version};
use crate::cache::entry::CachedResponse;
use crate::config::Snapshot;
use crate::error::ErrorKind;
use crate::http::head::{BodyFraming, Method};
use crate::upstream::pool::{PoolKey, UpstreamConn};

/// Read the rest of `session`'s body into `out` (cleared first), at most `limit` bytes
/// (more: 413). A client waiting for `100 Continue` is sent one first.
pub async fn read_whole_body<S: Session>(
    session: &mut S,
    out: &mut Vec<u8>,
    limit: u64,
) -> Result<(), ErrorKind> {
    out.clear();
    if session.body_state() == BodyState::Done {
        return Ok(());
    }
    if let BodyFraming::Length(n) = session.body_framing() {
        if n > limit {
            return Err(ErrorKind::RequestTooLarge);
        }
        out.reserve(n as usize);
    }
    if session.body_state() == BodyState::Untouched && session.expect_continue() {
        session.start_response(100);
        if session.end_interim_head() {
            session.flush().await.map_err(|_| ErrorKind::BadRequest)?;
        }
    }
    loop {
        let n = session.body_next().await?;
        if n == 0 {
            return Ok(());
        }
        if (out.len() + n) as u64 > limit {
            return Err(ErrorKind::RequestTooLarge);
        }
        out.extend_from_slice(session.body_front().get(..n).unwrap_or_default());
        session.consume_body(n);
    }
}

/// `inner` with its (already read) body replayed from `body` (owned, so that it can be
/// lent to the socket write without a copy; [`BufferedBody::into_body`] gives it back).
pub struct BufferedBody<'a, S> {
    inner: &'a mut S,
    body: Vec<u8>,
    /// Bytes of `body` consumed.
    pos: usize,
    /// Whether `body_next` handed out the body yet.
    started: bool,
}

impl<'a, S: Session> BufferedBody<'a, S> {
    pub fn new(inner: &'a mut S, body: Vec<u8>) -> Self {
        BufferedBody {
            inner,
            body,
            pos: 0,
            started: false,
        }
    }

    /// The body's buffer, for reuse (empty if a cancelled write took it).
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

impl<S: Session> Session for BufferedBody<'_, S> {
    fn peer(&self) -> SocketAddr {
        self.inner.peer()
    }
    fn local(&self) -> SocketAddr {
        self.inner.local()
    }
    fn listener(&self) -> usize {
        self.inner.listener()
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.inner.tls()
    }
    fn check_connection(&mut self, snapshot: &Arc<Snapshot>) -> Result<(), String> {
        self.inner.check_connection(snapshot)
    }
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn method(&self) -> Method {
        self.inner.method()
    }
    fn method_bytes(&self) -> &[u8] {
        self.inner.method_bytes()
    }
    fn path(&self) -> &str {
        self.inner.path()
    }
    fn query(&self) -> Option<&[u8]> {
        self.inner.query()
    }
    fn host(&self) -> Option<&str> {
        self.inner.host()
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.inner.header(name)
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.inner.headers()
    }
    fn connection_lists(&self, name: &[u8]) -> bool {
        self.inner.connection_lists(name)
    }
    fn drop_headers(&mut self, drop: impl FnMut(&[u8]) -> bool) {
        self.inner.drop_headers(drop)
    }
    fn body_framing(&self) -> BodyFraming {
        match self.body.len() {
            0 => BodyFraming::None,
            n => BodyFraming::Length(n as u64),
        }
    }
    fn wants_keep_alive(&self) -> bool {
        self.inner.wants_keep_alive()
    }
    fn expect_continue(&self) -> bool {
        // The client was answered (or sent its body anyway) when it was read.
        false
    }
    fn release_head(&mut self) {
        self.inner.release_head()
    }
    fn body_state(&self) -> BodyState {
        if self.pos >= self.body.len() {
            BodyState::Done
        } else if self.started || self.pos > 0 {
            BodyState::Partial
        } else {
            BodyState::Untouched
        }
    }
    async fn body_next(&mut self) -> Result<usize, ErrorKind> {
        self.started = true;
        Ok(self.body.len() - self.pos.min(self.body.len()))
    }
    fn body_front(&self) -> &[u8] {
        self.body.get(self.pos..).unwrap_or_default()
    }
    fn consume_body(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.body.len());
    }
    async fn write_body_front<W: AsyncWriteRent>(
        &mut self,
        dst: &mut W,
        n: usize,
    ) -> io::Result<()> {
        use monoio::buf::IoBuf;
        let end = (self.pos + n).min(self.body.len());
        let piece = std::mem::take(&mut self.body).slice(self.pos..end);
        let (res, piece) = dst.write_all(piece).await;
        self.body = piece.into_inner();
        res?;
        self.consume_body(n);
        Ok(())
    }
    fn plain_socket(&mut self) -> Option<&mut TcpStream> {
        // For response splicing only: `take_unbuffered_body` never hands out a body.
        self.inner.plain_socket()
    }
    fn pinned_upstream(&mut self) -> Option<&mut Option<(PoolKey, UpstreamConn)>> {
        self.inner.pinned_upstream()
    }
    fn start_response(&mut self, status: u16) {
        self.inner.start_response(status)
    }
    fn response_header(&mut self, name: &[u8], value: &[u8]) {
        self.inner.response_header(name, value)
    }
    fn end_interim_head(&mut self) -> bool {
        self.inner.end_interim_head()
    }
    fn end_response_head(&mut self, body: ResponseBody, keep_alive: bool) {
        self.inner.end_response_head(body, keep_alive)
    }
    fn keeps_alive(&self) -> bool {
        self.inner.keeps_alive()
    }
    fn push_body(&mut self, data: &[u8]) {
        self.inner.push_body(data)
    }
    async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }
    async fn send_body_owned(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>) {
        self.inner.send_body_owned(buf, range).await
    }
    async fn finish_response(&mut self) -> io::Result<()> {
        self.inner.finish_response().await
    }
    fn finish_sends(&self) -> bool {
        self.inner.finish_sends()
    }
    async fn send_cached(
        &mut self,
        entry: Arc<CachedResponse>,
        headers: &[(&[u8], &[u8])],
        keep_alive: bool,
    ) -> io::Result<()> {
        self.inner.send_cached(entry, headers, keep_alive).await
    }
    async fn close_after_error(&mut self) {
        self.inner.close_after_error().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::session::memory::MemorySession;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn the_body_read_whole_is_replayed_as_one_known_length_piece() {
        block_on(async {
            let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let mut s = MemorySession::new("POST", "/x", Some("h")).with_body(&body);
            s.piece = 1000;
            let mut buf = Vec::new();
            read_whole_body(&mut s, &mut buf, 1 << 20)
                .await
                .expect("read");
            assert_eq!(buf, body);
            assert_eq!(s.body_state(), BodyState::Done);

            let mut replay = BufferedBody::new(&mut s, buf.clone());
            assert_eq!(replay.body_framing(), BodyFraming::Length(10_000));
            assert_eq!(replay.body_state(), BodyState::Untouched);
            let mut seen = Vec::new();
            loop {
                let n = replay.body_next().await.expect("next");
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&replay.body_front()[..n.min(3000)]);
                replay.consume_body(n.min(3000));
                assert_ne!(replay.body_state(), BodyState::Untouched);
            }
            assert_eq!(seen, body);
            assert_eq!(replay.body_state(), BodyState::Done);
            // Head facts are the wrapped session's.
            assert_eq!(replay.path(), "/x");
        });
    }

    #[test]
    fn a_body_over_the_limit_is_413_and_an_empty_one_is_none() {
        block_on(async {
            let mut s = MemorySession::new("POST", "/x", None).with_body(&[7u8; 100]);
            let mut buf = Vec::new();
            assert_eq!(
                read_whole_body(&mut s, &mut buf, 99).await,
                Err(ErrorKind::RequestTooLarge)
            );
            let mut s = MemorySession::new("GET", "/x", None);
            read_whole_body(&mut s, &mut buf, 99).await.expect("empty");
            assert!(buf.is_empty());
            let replay = BufferedBody::new(&mut s, buf.clone());
            assert_eq!(replay.body_framing(), BodyFraming::None);
            assert_eq!(replay.body_state(), BodyState::Done);
        });
    }
}
