//! The protocol-neutral session: what the pipeline knows of a downstream request and how it
//! answers, whatever the wire. HTTP/1.1 (`net::h1`, over `ClientConn`, zero-copy spans into
//! the connection's read buffer) and HTTP/2 (`net::h2`, one session per stream) implement it;
//! the phases never see status lines, chunked framing or frames. Tests drive the phases over
//! an in-memory session (`pipeline::session::memory`, test builds only).
//!
//! A request's life through a session: the head is readable (`method`, `path`, `headers`...)
//! until `release_head`; the body is then read piece by piece (`body_next` makes the next
//! piece readable at `body_front`, the caller consumes it); the response is a head
//! (`start_response`, `response_header`, `end_response_head`), then body bytes (buffered with
//! `push_body`, or written from an owned buffer with `send_body_owned`), then
//! `finish_response`. A cached response goes out whole with `send_cached`.

#![allow(async_fn_in_trait)] // sessions live on one worker: no Send bound is wanted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use monoio::io::AsyncWriteRent;
use monoio::net::TcpStream;

use crate::cache::entry::CachedResponse;
use crate::config::Snapshot;
use crate::error::ErrorKind;
use crate::http::head::{BodyFraming, Method};
use crate::upstream::pool::{PoolKey, UpstreamConn};
pub use tls::TlsInfo;

/// The protocol the request came in on (`$context.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    Http2,
}

impl Version {
    /// As API Gateway writes it in `$context.protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2.0",
        }
    }
}

/// Progress through the current request's body (decides whether an error response can
/// keep the connection open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    /// Nothing read yet: it can still be read and discarded.
    Untouched,
    /// Partly read: the connection must close after the response.
    Partial,
    /// Fully read (or there was none).
    Done,
}

/// How the response body is delimited, as the pipeline knows it; the session turns it into
/// its wire's framing (Content-Length, chunked or close-delimited, DATA frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body follows (HEAD, 204, 304, an integration that sent HEAD upstream...). The
    /// framing headers the pipeline set itself (e.g. a HEAD's Content-Length) stand.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// A body of unknown length follows.
    Stream,
}

/// How the exchange on a session ended: what to do with the connection (HTTP/1.1) or the
/// stream (HTTP/2) afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    /// The response is complete; close the connection (on TLS with close_notify).
    Close,
    /// The response was cut short after its head went out (the upstream failed mid-body or
    /// the client went away): close WITHOUT close_notify (HTTP/1.1: a TLS client reading a
    /// close-delimited body sees a truncation, RFC 8446 §6.1), reset the stream (HTTP/2).
    Abort,
}

/// A downstream request and its response, on any wire.
pub trait Session {
    // ---- the connection the request came on
    fn peer(&self) -> SocketAddr;
    fn local(&self) -> SocketAddr;
    /// Index of the configured listener.
    fn listener(&self) -> usize;
    /// The TLS facts (handshake domain, client certificate) on HTTPS listeners.
    fn tls(&self) -> Option<&TlsInfo>;
    /// A TLS connection meeting a configuration it was not checked against is re-checked
    /// there (its domain by name, its client certificate against the current trust).
    fn check_connection(&mut self, snapshot: &Arc<Snapshot>) -> Result<(), String>;

    // ---- the request head (readable until `release_head`)
    fn version(&self) -> Version;
    fn method(&self) -> Method;
    /// The method as sent (for `Method::Other`).
    fn method_bytes(&self) -> &[u8];
    /// The path, without the query.
    fn path(&self) -> &str;
    fn query(&self) -> Option<&[u8]>;
    /// Host header (HTTP/1.1) or `:authority` (HTTP/2).
    fn host(&self) -> Option<&str>;
    /// The first value of a header (name in any case).
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// Every header line in order (repeated names repeated; no pseudo-headers).
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])>;
    /// Whether a `Connection` header lists `name` (always false where there is none).
    fn connection_lists(&self, name: &[u8]) -> bool;
    /// Remove every header for which `drop` says yes.
    fn drop_headers(&mut self, drop: impl FnMut(&[u8]) -> bool);
    /// The request body's framing: `Chunked` stands for any body of unknown length.
    fn body_framing(&self) -> BodyFraming;
    /// Whether the client asked to keep the connection open after this request.
    fn wants_keep_alive(&self) -> bool;
    /// Whether the client waits for `100 Continue` before sending its body.
    fn expect_continue(&self) -> bool;
    /// The head is no longer needed (its bytes may be reused for the body).
    fn release_head(&mut self);

    // ---- the request body
    fn body_state(&self) -> BodyState;
    /// Make the next piece of body readable at `body_front` and return its length; 0 means
    /// the body is complete.
    async fn body_next(&mut self) -> Result<usize, ErrorKind>;
    /// The piece `body_next` made readable (and what follows it, unconsumed).
    fn body_front(&self) -> &[u8];
    /// The first `n` bytes of `body_front` are used.
    fn consume_body(&mut self, n: usize);
    /// Read and drop the rest of the body.
    async fn discard_body(&mut self) -> Result<(), ErrorKind> {
        loop {
            let n = self.body_next().await?;
            if n == 0 {
                return Ok(());
            }
            self.consume_body(n);
        }
    }
    /// For a body of known length of which nothing is buffered and at least `min` bytes
    /// remain, on a plain socket: hand the caller that length to move socket to socket
    /// (`plain_socket`); the body then counts as read.
    async fn take_unbuffered_body(&mut self, _min: u64) -> Result<Option<u64>, ErrorKind> {
        Ok(None)
    }
    /// Write the first `n` bytes of `body_front` to `dst`, then consume them.
    async fn write_body_front<W: AsyncWriteRent>(
        &mut self,
        dst: &mut W,
        n: usize,
    ) -> io::Result<()>;
    /// The client's TCP socket, when nothing (TLS, HTTP/2 framing) is layered on it.
    fn plain_socket(&mut self) -> Option<&mut TcpStream> {
        None
    }
    /// The slot for an upstream connection that belongs to this client connection alone
    /// (PROXY protocol v2 targets learn the client's address once per connection); `None`
    /// where there is no such slot (then such a connection is used for one request).
    fn pinned_upstream(&mut self) -> Option<&mut Option<(PoolKey, UpstreamConn)>> {
        None
    }

    // ---- the response
    /// Begin a response head (also an interim one) with this status.
    fn start_response(&mut self, status: u16);
    /// One response header (hop-by-hop headers are the pipeline's to leave out).
    fn response_header(&mut self, name: &[u8], value: &[u8]);
    /// End an interim (1xx) head; `flush` sends it. Returns false where the client cannot
    /// take one (HTTP/1.0): then nothing is sent.
    fn end_interim_head(&mut self) -> bool;
    /// End the head: the session adds its framing for `body` and says whether the connection
    /// stays open (`keep_alive`, when the wire allows it). Nothing is sent before `flush`.
    fn end_response_head(&mut self, body: ResponseBody, keep_alive: bool);
    /// Whether the connection stays open after this response (decided by
    /// `end_response_head`: an HTTP/1.0 client loses it to a body of unknown length).
    fn keeps_alive(&self) -> bool;
    /// Append body bytes to what `flush` sends (small bodies: mock answers, errors).
    fn push_body(&mut self, data: &[u8]);
    /// Send what is buffered (head and pushed body).
    async fn flush(&mut self) -> io::Result<()>;
    /// Send `buf[range]` as body, after anything buffered (a response head not yet flushed
    /// goes out with it, in one write where the protocol allows); the buffer comes back
    /// whatever happens. A range past the buffer's end is cut to it.
    async fn send_body_owned(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>);
    /// The body is complete (the last chunk, END_STREAM).
    async fn finish_response(&mut self) -> io::Result<()>;
    /// Whether `finish_response` has anything to send (else it returns at once and needs
    /// no timer).
    fn finish_sends(&self) -> bool {
        true
    }
    /// Send a whole cached response: its stored head, then `headers`, then its body.
    async fn send_cached(
        &mut self,
        entry: Arc<CachedResponse>,
        headers: &[(&[u8], &[u8])],
        keep_alive: bool,
    ) -> io::Result<()>;
    /// After an error response the connection closes: do it without losing the response.
    async fn close_after_error(&mut self);
}

pub mod buffered;
#[cfg(test)]
pub mod memory;
pub mod tls;
