//! The request body, read piece by piece from the front of `conn.rbuf` (after the head was
//! released): Content-Length or chunked, bounded by the payload limit and the body read
//! timeout, with `Expect: 100-continue` answered before the first read.

use std::time::Duration;

use crate::config::snapshot::HttpLimits;
use crate::error::{ErrorKind, GatewayError};
use crate::http::chunked::{ChunkedDecoder, Step};
use crate::http::head::BodyFraming;
use crate::net::conn::{BodyState, ClientConn};
use crate::pipeline::RequestFacts;

/// Read and drop a request body nobody will forward (MOCK answers, cache hits), when it
/// has not been touched yet.
pub async fn discard_unread(
    conn: &mut ClientConn,
    facts: &RequestFacts,
    limits: &HttpLimits,
) -> Result<(), GatewayError> {
    if conn.body_state != BodyState::Untouched {
        return Ok(());
    }
    let mut body = BodyReader::new(
        facts.body,
        facts.expect_continue,
        limits.max_body_bytes,
        limits.body_read_timeout,
    );
    conn.body_state = BodyState::Partial;
    body.discard(conn).await?;
    conn.body_state = BodyState::Done;
    Ok(())
}

pub struct BodyReader {
    remaining: u64,
    decoder: Option<ChunkedDecoder>,
    done: bool,
    continue_pending: bool,
    read_timeout: Duration,
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

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Make the next piece of body available at the front of `conn.rbuf` and return its
    /// length; 0 means the body is complete. The caller uses the bytes and then calls
    /// `conn.consume(n)`.
    pub async fn next(&mut self, conn: &mut ClientConn) -> Result<usize, ErrorKind> {
        loop {
            if self.done {
                return Ok(0);
            }
            if let Some(decoder) = self.decoder.as_mut() {
                if !conn.rbuf.is_empty() {
                    match decoder.decode(&conn.rbuf)? {
                        Step::Data { start, end } => {
                            conn.consume(start);
                            return Ok(end - start);
                        }
                        Step::NeedMore { consumed } => conn.consume(consumed),
                        Step::Done { consumed } => {
                            conn.consume(consumed);
                            self.done = true;
                            return Ok(0);
                        }
                    }
                }
            } else {
                if self.remaining == 0 {
                    self.done = true;
                    return Ok(0);
                }
                if !conn.rbuf.is_empty() {
                    let n = (conn.rbuf.len() as u64).min(self.remaining) as usize;
                    self.remaining -= n as u64;
                    return Ok(n);
                }
            }
            self.fill(conn).await?;
        }
    }

    async fn fill(&mut self, conn: &mut ClientConn) -> Result<(), ErrorKind> {
        if self.continue_pending {
            self.continue_pending = false;
            conn.wbuf.clear();
            conn.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            conn.flush_wbuf().await.map_err(|_| ErrorKind::BadRequest)?;
        }
        match conn.read_more_within(self.read_timeout).await {
            Ok(0) => Err(ErrorKind::BadRequest),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(ErrorKind::RequestTimeout),
            Err(_) => Err(ErrorKind::BadRequest),
        }
    }

    /// For a Content-Length body of which nothing is buffered and at least `min` bytes
    /// remain: answer a pending `Expect: 100-continue`, then hand the remaining length to the
    /// caller, who moves it straight from the socket (splice). The body then counts as read.
    pub async fn take_unbuffered_rest(
        &mut self,
        conn: &mut ClientConn,
        min: u64,
    ) -> Result<Option<u64>, ErrorKind> {
        if self.done || self.decoder.is_some() || !conn.rbuf.is_empty() || self.remaining < min {
            return Ok(None);
        }
        if self.continue_pending {
            self.continue_pending = false;
            conn.wbuf.clear();
            conn.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            conn.flush_wbuf().await.map_err(|_| ErrorKind::BadRequest)?;
        }
        let n = self.remaining;
        self.remaining = 0;
        self.done = true;
        Ok(Some(n))
    }

    /// Read and drop the rest of the body (mock integrations, errors before the body).
    pub async fn discard(&mut self, conn: &mut ClientConn) -> Result<(), ErrorKind> {
        loop {
            let n = self.next(conn).await?;
            if n == 0 {
                return Ok(());
            }
            conn.consume(n);
        }
    }
}
