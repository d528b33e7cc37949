//! One HTTP/2 stream as a pipeline `Session`: the request head is h2's decoded `http`
//! request (pseudo-headers and a `HeaderMap`), the body its DATA frames (each piece handed
//! out as it came, its flow-control window given back as the pipeline consumes it), the
//! response an `http::Response` sent as HEADERS, then DATA frames within the peer's windows
//! (a peer that opens no window for `send_timeout` gets the stream reset), END_STREAM at the
//! end. Cached responses go out zero-copy (`Bytes` over the shared entry).
//!
//! Allocations: unlike HTTP/1.1 (none per request), a stream costs a few: h2's own stream
//! state and decoded header map, the stream's task, this session's response header map and
//! each owned body buffer the pipeline sends (copied into `Bytes`).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST};
use http::HeaderMap;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use rustls::pki_types::CertificateDer;

use super::{send_body, H2Stream, StreamError};
use crate::cache::entry::CachedResponse;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayResponse};
use crate::http::head::{BodyFraming, Method};
use crate::http::limits::HttpLimits;
use crate::net::tls_accept::{self, TlsInfo};
use crate::pipeline::session::{BodyState, ResponseBody, Session, Version};

/// What the streams of one connection share.
#[derive(Debug)]
pub struct ConnFacts {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub listener: usize,
    /// The handshake's facts on HTTPS listeners.
    pub tls: Option<TlsInfo>,
    /// The client's certificate chain (mutual TLS), kept to re-verify after a reload.
    pub chain: Option<Vec<CertificateDer<'static>>>,
}

/// Header names HTTP/2 forbids (RFC 9113 section 8.2.2): never sent in a response.
fn is_connection_specific(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 5] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn h2_io(e: h2::Error) -> io::Error {
    io::Error::other(e)
}

fn stream_io(e: StreamError) -> io::Error {
    match e {
        StreamError::H2(e) => h2_io(e),
        StreamError::Stalled => io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer opened no send window in time: stream reset",
        ),
        StreamError::TooLarge => io::Error::other("body too large"),
    }
}

/// A cached body shared with the cache entry (no copy).
struct CachedBody(Arc<CachedResponse>);

impl AsRef<[u8]> for CachedBody {
    fn as_ref(&self) -> &[u8] {
        self.0.body()
    }
}

/// The rules of the HTTP/1.1 parser that h2 does not apply: the method, and how the body is
/// framed, or the error to refuse the stream with.
fn check_head(
    parts: &http::request::Parts,
    body: &RecvStream,
    limits: &HttpLimits,
) -> Result<(Method, BodyFraming), ErrorKind> {
    if parts.headers.len() > limits.max_headers {
        return Err(ErrorKind::HeadersTooLarge);
    }
    let method = Method::from_bytes(parts.method.as_str().as_bytes());
    // CONNECT (no :path) is not a request the gateway serves; the path must read the same
    // to every parser (see http::parse); `*` is for OPTIONS only.
    let path = parts.uri.path().as_bytes();
    if parts.method == http::Method::CONNECT
        || !crate::http::parse::is_clean_path(path)
        || (path == b"*" && method != Method::Options)
        || !(path.starts_with(b"/") || path == b"*")
    {
        return Err(ErrorKind::BadRequest);
    }
    if let Some(a) = parts.uri.authority() {
        if !crate::http::parse::is_valid_host(a.as_str().as_bytes()) {
            return Err(ErrorKind::BadRequest);
        }
    }
    let framing = if body.is_end_stream() {
        BodyFraming::None
    } else {
        match parts.headers.get(CONTENT_LENGTH) {
            // h2 already refused a malformed value and checks it against the DATA.
            Some(v) => match v.to_str().ok().and_then(|s| s.parse::<u64>().ok()) {
                Some(0) => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
                None => return Err(ErrorKind::BadRequest),
            },
            None => BodyFraming::Chunked,
        }
    };
    if let BodyFraming::Length(n) = framing {
        if n > limits.max_body_bytes {
            return Err(ErrorKind::RequestTooLarge);
        }
    }
    Ok((method, framing))
}

/// A request stream that cannot run through the pipeline: its head breaks a rule the
/// HTTP/1.1 parser enforces too. Answered with the gateway response for `kind`.
pub struct Refused {
    pub kind: ErrorKind,
    respond: SendResponse<Bytes>,
    body: RecvStream,
}

/// After a response that did not need the rest of the request body: read and drop what the
/// client still sends (briefly, bounded, like HTTP/1.1's lingering close), so it can finish
/// its upload and read the response instead of having the stream reset under it.
async fn linger(body: &mut RecvStream) {
    const MAX: usize = 256 * 1024;
    let deadline = monoio::time::Instant::now() + Duration::from_millis(500);
    let mut dropped = 0usize;
    while dropped < MAX && !body.is_end_stream() {
        match monoio::time::timeout_at(deadline, body.data()).await {
            Ok(Some(Ok(piece))) => {
                dropped += piece.len();
                let _ = body.flow_control().release_capacity(piece.len());
            }
            _ => return,
        }
    }
}

impl Refused {
    /// Send the gateway response (`{"message": ...}`, `x-amzn-ErrorType`, request id),
    /// then let the client finish sending (bounded).
    pub async fn answer(mut self, date: &[u8; 29], request_id: &[u8]) {
        let resp = GatewayResponse::for_kind(self.kind);
        let mut body = Vec::with_capacity(resp.message.len() + 14);
        body.extend_from_slice(b"{\"message\":\"");
        body.extend_from_slice(resp.message.as_bytes());
        body.extend_from_slice(b"\"}");
        let head = http::Response::builder()
            .status(resp.status)
            .header(
                "date",
                HeaderValue::from_bytes(date).unwrap_or(HeaderValue::from_static("")),
            )
            .header(
                "x-amzn-requestid",
                HeaderValue::from_bytes(request_id).unwrap_or(HeaderValue::from_static("")),
            )
            .header("content-type", "application/json")
            .header("x-amzn-errortype", resp.error_type)
            .header(CONTENT_LENGTH, body.len())
            .body(());
        let Ok(head) = head else { return };
        // The body is small: it fits the initial window, so it is queued at once.
        if let Ok(mut send) = self.respond.send_response(head, false) {
            if send.send_data(Bytes::from(body), true).is_ok() {
                linger(&mut self.body).await;
            }
        }
    }
}

/// A stream's request and response, for the pipeline.
pub struct H2Session {
    conn: Rc<ConnFacts>,
    shared: Rc<super::ConnShared>,
    /// The connection's TLS facts as re-checked for this stream after a reload.
    rechecked: Option<TlsInfo>,
    parts: http::request::Parts,
    method: Method,
    body: RecvStream,
    /// Shared with the stream's `ResetWatch` (borrowed only between awaits).
    respond: Rc<RefCell<SendResponse<Bytes>>>,
    send: Option<SendStream<Bytes>>,
    send_timeout: Duration,
    // ---- request body
    framing: BodyFraming,
    state: BodyState,
    front: Bytes,
    received: u64,
    max_body: u64,
    read_timeout: Duration,
    body_done: bool,
    // ---- response
    status: u16,
    headers: HeaderMap,
    /// A final head built by `end_response_head`, sent by `flush`.
    head: Option<http::Response<()>>,
    /// The response body's declared length (`ResponseBody::Length`), to end with the last
    /// DATA frame.
    body_len: Option<u64>,
    sent: u64,
    /// Body bytes `push_body` buffered for `flush`.
    pending: Vec<u8>,
    /// END_STREAM went out (or the response carries no body and its HEADERS ended it).
    ended: bool,
    /// No body follows the head (HEAD, 204, ResponseBody::None).
    no_body: bool,
    /// The stream was reset (by us or the peer).
    reset: bool,
}

impl H2Session {
    /// Check the stream's head (the rules the HTTP/1.1 parser applies that h2 does not) and
    /// make it a session; a refused head is answered by the caller.
    pub fn new(
        stream: H2Stream,
        conn: Rc<ConnFacts>,
        limits: &HttpLimits,
    ) -> Result<H2Session, Refused> {
        let send_timeout = stream.send_timeout();
        let H2Stream {
            request,
            respond,
            shared,
        } = stream;
        let (parts, body) = request.into_parts();
        let (method, framing) = match check_head(&parts, &body, limits) {
            Ok(checked) => checked,
            Err(kind) => {
                return Err(Refused {
                    kind,
                    respond,
                    body,
                })
            }
        };
        let state = match framing {
            BodyFraming::None => BodyState::Done,
            _ => BodyState::Untouched,
        };
        Ok(H2Session {
            conn,
            shared,
            rechecked: None,
            parts,
            method,
            body,
            respond: Rc::new(RefCell::new(respond)),
            send: None,
            send_timeout,
            framing,
            state,
            front: Bytes::new(),
            received: 0,
            max_body: limits.max_body_bytes,
            read_timeout: limits.body_read_timeout,
            body_done: framing == BodyFraming::None,
            status: 200,
            headers: HeaderMap::new(),
            head: None,
            body_len: None,
            sent: 0,
            pending: Vec::new(),
            ended: false,
            no_body: false,
            reset: false,
        })
    }

    /// A watch for the peer's reset of this stream (see `net::h2::watching`).
    pub fn reset_watch(&self) -> super::ResetWatch {
        super::ResetWatch {
            respond: self.respond.clone(),
            shared: self.shared.clone(),
            counted: false,
        }
    }

    /// The response is complete: let the client finish a request body nobody read.
    pub async fn finish(&mut self) {
        if !self.body_done && !self.reset {
            linger(&mut self.body).await;
        }
    }

    /// The response was cut short (`Next::Abort`): reset the stream with INTERNAL_ERROR.
    pub fn abort(&mut self) {
        self.reset = true;
        match self.send.as_mut() {
            Some(send) => send.send_reset(Reason::INTERNAL_ERROR),
            None => self.respond.borrow_mut().send_reset(Reason::INTERNAL_ERROR),
        }
    }

    fn build_head(&mut self) -> Option<http::Response<()>> {
        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::from_u16(self.status).ok()?;
        *resp.headers_mut() = std::mem::take(&mut self.headers);
        Some(resp)
    }

    /// Send the pending head, if any.
    fn send_head(&mut self) -> io::Result<()> {
        let Some(head) = self.head.take() else {
            return Ok(());
        };
        let end = self.no_body && self.pending.is_empty();
        let sent = self.respond.borrow_mut().send_response(head, end);
        let send = sent.map_err(|e| {
            self.reset = true;
            h2_io(e)
        })?;
        self.send = Some(send);
        if end {
            self.ended = true;
        }
        Ok(())
    }

    /// Send body bytes, with END_STREAM when they complete the declared length.
    async fn send_data(&mut self, data: Bytes) -> io::Result<()> {
        if self.ended || self.no_body {
            return Ok(());
        }
        let len = data.len() as u64;
        let end = self.body_len.is_some_and(|n| self.sent + len >= n);
        let Some(send) = self.send.as_mut() else {
            return Err(io::Error::other("body before the response head"));
        };
        if data.is_empty() && !end {
            return Ok(());
        }
        let res = send_body(send, data, end, self.send_timeout).await;
        if let Err(e) = res {
            self.reset = true;
            return Err(stream_io(e));
        }
        self.sent += len;
        if end {
            self.ended = true;
        }
        Ok(())
    }
}

impl Session for H2Session {
    fn peer(&self) -> SocketAddr {
        self.conn.peer
    }
    fn local(&self) -> SocketAddr {
        self.conn.local
    }
    fn listener(&self) -> usize {
        self.conn.listener
    }
    fn tls(&self) -> Option<&TlsInfo> {
        self.rechecked.as_ref().or(self.conn.tls.as_ref())
    }

    fn check_connection(&mut self, snapshot: &Arc<Snapshot>) -> Result<(), String> {
        let Some(current) = self.tls() else {
            return Ok(());
        };
        if current.checked_against(snapshot) {
            return Ok(());
        }
        // After a reload (the connection has been sent GOAWAY; this stream started before
        // the client saw it): re-check like HTTP/1.1 does, for this stream.
        let mut info = current.clone();
        let chain = self.conn.chain.as_deref();
        let res = tls_accept::recheck_chain(&mut info, chain, snapshot, self.conn.peer);
        self.rechecked = Some(info);
        res.map_err(str::to_owned)
    }

    fn version(&self) -> Version {
        Version::Http2
    }
    fn method(&self) -> Method {
        self.method
    }
    fn method_bytes(&self) -> &[u8] {
        self.parts.method.as_str().as_bytes()
    }
    fn path(&self) -> &str {
        self.parts.uri.path()
    }
    fn query(&self) -> Option<&[u8]> {
        self.parts.uri.query().map(str::as_bytes)
    }
    fn host(&self) -> Option<&str> {
        match self.parts.uri.authority() {
            Some(a) => Some(a.as_str()),
            None => self.parts.headers.get(HOST).and_then(|v| v.to_str().ok()),
        }
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.parts.headers.get(name).map(HeaderValue::as_bytes)
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    }
    fn connection_lists(&self, _name: &[u8]) -> bool {
        false
    }
    fn drop_headers(&mut self, mut drop: impl FnMut(&[u8]) -> bool) {
        let doomed: Vec<HeaderName> = self
            .parts
            .headers
            .keys()
            .filter(|n| drop(n.as_str().as_bytes()))
            .cloned()
            .collect();
        for name in doomed {
            self.parts.headers.remove(&name);
        }
    }
    fn body_framing(&self) -> BodyFraming {
        self.framing
    }
    fn wants_keep_alive(&self) -> bool {
        // The connection outlives the stream; closing it is GOAWAY's job.
        true
    }
    fn expect_continue(&self) -> bool {
        false
    }
    fn release_head(&mut self) {}

    fn body_state(&self) -> BodyState {
        self.state
    }

    async fn body_next(&mut self) -> Result<usize, ErrorKind> {
        if self.state == BodyState::Untouched {
            self.state = BodyState::Partial;
        }
        if !self.front.is_empty() {
            return Ok(self.front.len());
        }
        loop {
            if self.body_done {
                self.state = BodyState::Done;
                return Ok(0);
            }
            let next = match monoio::time::timeout(self.read_timeout, self.body.data()).await {
                Ok(next) => next,
                Err(_) => return Err(ErrorKind::RequestTimeout),
            };
            match next {
                None => self.body_done = true,
                Some(Ok(chunk)) => {
                    self.received += chunk.len() as u64;
                    if self.received > self.max_body {
                        let _ = self.body.flow_control().release_capacity(chunk.len());
                        return Err(ErrorKind::RequestTooLarge);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    self.front = chunk;
                    return Ok(self.front.len());
                }
                // A reset, a content-length that the DATA did not match, the connection gone.
                Some(Err(_)) => return Err(ErrorKind::BadRequest),
            }
        }
    }

    fn body_front(&self) -> &[u8] {
        &self.front
    }

    fn consume_body(&mut self, n: usize) {
        let n = n.min(self.front.len());
        self.front.advance(n);
        // The peer may send this much more.
        let _ = self.body.flow_control().release_capacity(n);
    }

    async fn write_body_front<W: AsyncWriteRent>(
        &mut self,
        dst: &mut W,
        n: usize,
    ) -> io::Result<()> {
        let n = n.min(self.front.len());
        let piece = self.front.slice(..n);
        let (res, _) = dst.write_all(piece).await;
        res?;
        self.consume_body(n);
        Ok(())
    }

    fn start_response(&mut self, status: u16) {
        self.status = status;
        self.headers.clear();
    }

    fn response_header(&mut self, name: &[u8], value: &[u8]) {
        if is_connection_specific(name) {
            return;
        }
        if let (Ok(n), Ok(mut v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            // A value unique to this response (the request id) is never worth a place in
            // the HPACK dynamic table: sent as never-indexed, it does not evict the values
            // that repeat (RFC 7541 §6.2.3).
            if name.eq_ignore_ascii_case(b"x-amzn-requestid") {
                v.set_sensitive(true);
            }
            self.headers.append(n, v);
        }
    }

    fn end_interim_head(&mut self) -> bool {
        // 101 cannot be expressed in HTTP/2; other 1xx go out as informational HEADERS.
        if self.status == 101 {
            self.headers.clear();
            return false;
        }
        match self.build_head() {
            Some(resp) => self.respond.borrow_mut().send_informational(resp).is_ok(),
            None => false,
        }
    }

    fn end_response_head(&mut self, body: ResponseBody, _keep_alive: bool) {
        let head_only = self.method == Method::Head;
        self.no_body = head_only;
        self.body_len = None;
        match body {
            ResponseBody::None => self.no_body = true,
            ResponseBody::Length(n) => {
                self.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
                self.body_len = Some(n);
                if n == 0 {
                    self.no_body = true;
                }
            }
            ResponseBody::Stream => {}
        }
        self.head = self.build_head();
    }

    fn keeps_alive(&self) -> bool {
        !self.reset
    }

    fn push_body(&mut self, data: &[u8]) {
        if !self.no_body {
            self.pending.extend_from_slice(data);
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send_head()?;
        if !self.pending.is_empty() {
            let data = Bytes::from(std::mem::take(&mut self.pending));
            self.send_data(data).await?;
        }
        Ok(())
    }

    async fn send_body_owned(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>) {
        if let Err(e) = self.flush().await {
            return (Err(e), buf);
        }
        let end = range.end.min(buf.len());
        let res = self
            .send_data(Bytes::copy_from_slice(&buf[range.start.min(end)..end]))
            .await;
        (res, buf)
    }

    async fn finish_response(&mut self) -> io::Result<()> {
        self.flush().await?;
        if self.ended || self.reset {
            return Ok(());
        }
        self.ended = true;
        match self.send.as_mut() {
            Some(send) => send.send_data(Bytes::new(), true).map_err(h2_io),
            None => Ok(()),
        }
    }

    async fn send_cached(
        &mut self,
        entry: Arc<CachedResponse>,
        headers: &[(&[u8], &[u8])],
        _keep_alive: bool,
    ) -> io::Result<()> {
        self.start_response(entry.status());
        // The stored HTTP/1.1 head: a status line, then `name: value` lines.
        let head = entry.head();
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let value = line[colon + 1..].trim_ascii();
                self.response_header(&line[..colon], value);
            }
        }
        for (name, value) in headers {
            self.response_header(name, value);
        }
        self.headers.remove(CONTENT_LENGTH);
        let body = if entry.status() == 204 {
            ResponseBody::None
        } else {
            ResponseBody::Length(entry.body().len() as u64)
        };
        self.end_response_head(body, true);
        self.send_head()?;
        if !self.no_body {
            let data = Bytes::from_owner(CachedBody(entry));
            self.send_data(data).await?;
        }
        Ok(())
    }

    async fn close_after_error(&mut self) {
        // Nothing to linger over: the stream ends with its response; the connection stays.
    }
}
