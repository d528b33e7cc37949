//! An in-memory session for unit tests of the phases: a request given as values, the
//! response captured as status, headers and body. No socket, no wire format.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use monoio::io::AsyncWriteRent;

use super::TlsInfo;
use super::{BodyState, ResponseBody, Session, Version};
use crate::cache::entry::CachedResponse;
use crate::config::Snapshot;
use crate::error::ErrorKind;
use crate::http::head::{BodyFraming, Method};

/// A request to play and the response the pipeline gave.
pub struct MemorySession {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub listener: usize,
    pub version: Version,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Body bytes handed out so far.
    body_pos: usize,
    /// The piece `body_next` made readable: `body[body_pos..body_end]`.
    body_end: usize,
    /// How many body bytes `body_next` gives at a time (pieces, as a wire would).
    pub piece: usize,
    state: BodyState,
    head_released: bool,
    /// The response: interim heads, then the final status, headers and body.
    pub interim: Vec<u16>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub framing: Option<ResponseBody>,
    pub keep: bool,
    pub finished: bool,
    pub closed_after_error: bool,
    pending_status: u16,
    pending_headers: Vec<(String, String)>,
}

impl MemorySession {
    /// `GET`-like request for `path` (with `?query` split off) to `host`.
    pub fn new(method: &str, target: &str, host: Option<&str>) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let loopback = SocketAddr::from(([127, 0, 0, 1], 40000));
        MemorySession {
            peer: loopback,
            local: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listener: 0,
            version: Version::Http11,
            method: method.to_owned(),
            path,
            query,
            host: host.map(str::to_owned),
            headers: Vec::new(),
            body: Vec::new(),
            body_pos: 0,
            body_end: 0,
            piece: 7,
            state: BodyState::Done,
            head_released: false,
            interim: Vec::new(),
            status: None,
            response_headers: Vec::new(),
            response_body: Vec::new(),
            framing: None,
            keep: false,
            finished: false,
            closed_after_error: false,
            pending_status: 0,
            pending_headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self.state = if body.is_empty() {
            BodyState::Done
        } else {
            BodyState::Untouched
        };
        self
    }

    /// The first response header of that name (any case).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn assert_head(&self) {
        assert!(!self.head_released, "request head read after release_head");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Session for MemorySession {
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
        None
    }
    fn check_connection(&mut self, _: &Arc<Snapshot>) -> Result<(), String> {
        Ok(())
    }
    fn version(&self) -> Version {
        self.version
    }
    fn method(&self) -> Method {
        Method::from_bytes(self.method.as_bytes())
    }
    fn method_bytes(&self) -> &[u8] {
        self.method.as_bytes()
    }
    fn path(&self) -> &str {
        self.assert_head();
        &self.path
    }
    fn query(&self) -> Option<&[u8]> {
        self.assert_head();
        self.query.as_deref().map(str::as_bytes)
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.assert_head();
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.assert_head();
        self.headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
    }
    fn connection_lists(&self, _: &[u8]) -> bool {
        false
    }
    fn drop_headers(&mut self, mut drop: impl FnMut(&[u8]) -> bool) {
        self.headers.retain(|(n, _)| !drop(n.as_bytes()));
    }
    fn body_framing(&self) -> BodyFraming {
        if self.body.is_empty() {
            BodyFraming::None
        } else {
            BodyFraming::Length(self.body.len() as u64)
        }
    }
    fn wants_keep_alive(&self) -> bool {
        true
    }
    fn expect_continue(&self) -> bool {
        false
    }
    fn release_head(&mut self) {
        self.head_released = true;
    }
    fn body_state(&self) -> BodyState {
        self.state
    }
    async fn body_next(&mut self) -> Result<usize, ErrorKind> {
        if self.body_pos >= self.body.len() {
            self.state = BodyState::Done;
            return Ok(0);
        }
        self.state = BodyState::Partial;
        self.body_end = (self.body_pos + self.piece.max(1)).min(self.body.len());
        Ok(self.body_end - self.body_pos)
    }
    fn body_front(&self) -> &[u8] {
        &self.body[self.body_pos..self.body_end]
    }
    fn consume_body(&mut self, n: usize) {
        self.body_pos = (self.body_pos + n).min(self.body_end);
    }
    async fn write_body_front<W: AsyncWriteRent>(&mut self, _: &mut W, _: usize) -> io::Result<()> {
        Err(io::Error::other("the memory session forwards no body"))
    }
    fn start_response(&mut self, status: u16) {
        self.pending_status = status;
        self.pending_headers.clear();
    }
    fn response_header(&mut self, name: &[u8], value: &[u8]) {
        self.pending_headers.push((text(name), text(value)));
    }
    fn end_interim_head(&mut self) -> bool {
        self.interim.push(self.pending_status);
        true
    }
    fn end_response_head(&mut self, body: ResponseBody, keep_alive: bool) {
        assert!(self.status.is_none(), "two response heads");
        self.status = Some(self.pending_status);
        self.response_headers = std::mem::take(&mut self.pending_headers);
        self.framing = Some(body);
        self.keep = keep_alive;
    }
    fn keeps_alive(&self) -> bool {
        self.keep
    }
    fn push_body(&mut self, data: &[u8]) {
        assert!(self.status.is_some(), "body before the head");
        self.response_body.extend_from_slice(data);
    }
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    async fn send_body_owned(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>) {
        // The head was recorded as it was written; only the body bytes are kept here.
        self.response_body
            .extend_from_slice(buf.get(range).unwrap_or_default());
        (Ok(()), buf)
    }
    async fn finish_response(&mut self) -> io::Result<()> {
        self.finished = true;
        Ok(())
    }
    async fn send_cached(
        &mut self,
        entry: Arc<CachedResponse>,
        headers: &[(&[u8], &[u8])],
        keep_alive: bool,
    ) -> io::Result<()> {
        self.status = Some(entry.status());
        // The stored head: its status line, then header lines.
        let head = text(entry.head());
        for line in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
            if let Some((n, v)) = line.split_once(": ") {
                self.response_headers.push((n.to_owned(), v.to_owned()));
            }
        }
        for (n, v) in headers {
            self.response_headers.push((text(n), text(v)));
        }
        self.response_body.extend_from_slice(entry.body());
        self.framing = Some(ResponseBody::Length(entry.body().len() as u64));
        self.keep = keep_alive;
        self.finished = true;
        Ok(())
    }
    async fn close_after_error(&mut self) {
        self.closed_after_error = true;
    }
}
