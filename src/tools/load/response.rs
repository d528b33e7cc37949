//! Incremental parsing of HTTP/1.1 responses for the load generator: the head with the
//! library's upstream response parser ([`tollgate::upstream::client::parse_response_head`],
//! the gateway's own rules: status 100-599, Content-Length digits only and never
//! conflicting, `chunked` as the only transfer coding, 101 refused), then the body by its
//! framing (Content-Length, chunked, or until the server closes), which is skipped without
//! being copied anywhere.
//!
//! The caller owns the read buffer: it feeds whatever it holds to [`ResponseParser::feed`],
//! drops the `consumed` prefix, reads more, and repeats until `done`; at end of stream it
//! calls [`ResponseParser::eof`]. Interim 1xx responses are skipped.

use tollgate::http::chunked::{ChunkedDecoder, Step};
use tollgate::upstream::client::{
    parse_response_head, ParsedResponse, ResponseFraming, ResponseHead, MAX_RESPONSE_HEAD,
};

/// Largest response head accepted (also the read buffer's size): the gateway's limit.
pub const MAX_HEAD: usize = MAX_RESPONSE_HEAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The head was refused by the parser; the reason says why (malformed, too large, bad
    /// or conflicting Content-Length, a transfer coding other than chunked, an unasked-for
    /// protocol switch, a status outside 100-599).
    Head(&'static str),
    /// A malformed chunked body.
    BadChunk,
    /// The connection ended before the response was complete.
    Truncated,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParseError::Head(reason) => reason,
            ParseError::BadChunk => "malformed chunked body",
            ParseError::Truncated => "connection closed before the response was complete",
        })
    }
}

#[derive(Debug)]
enum State {
    Head,
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// What one `feed` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes at the front of the buffer that are finished with (drop them before feeding
    /// again).
    pub consumed: usize,
    /// The response is complete.
    pub done: bool,
}

#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    /// The last head parsed (its header list is reused: no allocation per response).
    head: ResponseHead,
    head_request: bool,
    status: u16,
    keep_alive: bool,
    body_bytes: u64,
}

impl ResponseParser {
    /// A parser for the response to one request (`head_request`: the method was HEAD, so
    /// the response has no body whatever its headers say).
    pub fn new(head_request: bool) -> Self {
        ResponseParser {
            state: State::Head,
            head: ResponseHead::default(),
            head_request,
            status: 0,
            keep_alive: false,
            body_bytes: 0,
        }
    }

    /// Get ready for the next response on the same connection.
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.status = 0;
        self.keep_alive = false;
        self.body_bytes = 0;
    }

    /// The final status code (0 until the head is parsed).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the connection can carry another request after this response.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Body bytes seen so far (decoded length for chunked bodies).
    #[cfg(test)]
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Advance over `buf` (everything received and not yet consumed).
    pub fn feed(&mut self, buf: &[u8]) -> Result<Progress, ParseError> {
        let mut pos = 0usize;
        loop {
            let rest = buf.get(pos..).unwrap_or(&[]);
            match &mut self.state {
                State::Done => {
                    return Ok(Progress {
                        consumed: pos,
                        done: true,
                    })
                }
                State::Head => match self.parse_head(rest)? {
                    None => {
                        return Ok(Progress {
                            consumed: pos,
                            done: false,
                        })
                    }
                    Some(n) => pos += n,
                },
                State::Length(remaining) => {
                    let take = (*remaining).min(rest.len() as u64);
                    *remaining -= take;
                    self.body_bytes += take;
                    // `take <= rest.len()`, so it fits a usize.
                    pos += take as usize;
                    if *remaining == 0 {
                        self.state = State::Done;
                        continue;
                    }
                    return Ok(Progress {
                        consumed: pos,
                        done: false,
                    });
                }
                State::Chunked(decoder) => {
                    match decoder.decode(rest).map_err(|_| ParseError::BadChunk)? {
                        Step::Data { start, end } => {
                            self.body_bytes += (end - start) as u64;
                            pos += end;
                        }
                        Step::NeedMore { consumed } => {
                            return Ok(Progress {
                                consumed: pos + consumed,
                                done: false,
                            })
                        }
                        Step::Done { consumed } => {
                            pos += consumed;
                            self.state = State::Done;
                        }
                    }
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return Ok(Progress {
                        consumed: buf.len(),
                        done: false,
                    });
                }
            }
        }
    }

    /// The connection reached end of stream: completes a close-delimited body, otherwise
    /// the response was cut short.
    pub fn eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ParseError::Truncated),
        }
    }

    /// Parse a head at the front of `buf`. `Ok(None)`: incomplete; `Ok(Some(n))`: a head of
    /// `n` bytes was read (an interim one leaves the state at `Head`).
    fn parse_head(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let framing = match parse_response_head(buf, self.head_request, &mut self.head)
            .map_err(ParseError::Head)?
        {
            ParsedResponse::Partial => return Ok(None),
            ParsedResponse::Interim(n) => return Ok(Some(n)),
            ParsedResponse::Complete(framing) => framing,
        };
        self.status = self.head.status;
        self.keep_alive = self.head.keep_alive;
        self.state = match framing {
            ResponseFraming::None | ResponseFraming::Length(0) => State::Done,
            ResponseFraming::Length(n) => State::Length(n),
            ResponseFraming::Chunked => {
                // Transfer-Encoding overrides Content-Length; a message with both is
                // suspect, so the load generator does not reuse the connection after it.
                let head = &self.head;
                if (0..head.headers.len()).any(|i| {
                    head.header(buf, i)
                        .0
                        .eq_ignore_ascii_case(b"content-length")
                }) {
                    self.keep_alive = false;
                }
                State::Chunked(ChunkedDecoder::new(u64::MAX))
            }
            ResponseFraming::UntilClose => State::UntilClose,
        };
        Ok(Some(self.head.head_len))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `step` bytes the way the connection loop does (keep
    /// unconsumed bytes, append more); returns (status, body bytes, keep-alive, leftover).
    fn run(
        input: &[u8],
        step: usize,
        head_request: bool,
    ) -> Result<(u16, u64, bool, Vec<u8>), ParseError> {
        let mut p = ResponseParser::new(head_request);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            if !buf.is_empty() {
                let pr = p.feed(&buf)?;
                buf.drain(..pr.consumed);
                if pr.done {
                    return Ok((p.status(), p.body_bytes(), p.keep_alive(), buf));
                }
            }
            if fed == input.len() {
                p.eof()?;
                return Ok((p.status(), p.body_bytes(), p.keep_alive(), buf));
            }
            let end = (fed + step).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
        }
    }

    #[test]
    fn content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for step in [1, 2, 7, r.len()] {
            assert_eq!(
                run(r, step, false),
                Ok((200, 5, true, vec![])),
                "step {step}"
            );
        }
        // Bytes after the body are left for the next response.
        let two = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nabHTTP/1.1";
        let mut p = ResponseParser::new(false);
        let pr = p.feed(two).unwrap();
        assert!(pr.done);
        assert_eq!(&two[pr.consumed..], b"HTTP/1.1");
        assert_eq!(p.status(), 404);
        p.reset();
        assert_eq!(
            p.feed(b"HTTP/1.1").unwrap(),
            Progress {
                consumed: 0,
                done: false
            }
        );
    }

    #[test]
    fn empty_bodies() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(run(r, 3, false), Ok((200, 0, true, vec![])));
        let r = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(run(r, 3, false), Ok((204, 0, true, vec![])));
        let r = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(run(r, 100, false), Ok((304, 0, true, vec![])));
        // HEAD: the Content-Length describes the GET body that is not sent.
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        assert_eq!(run(r, 100, true), Ok((200, 0, true, vec![])));
    }

    #[test]
    fn chunked() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        for step in [1, 3, 10, r.len()] {
            assert_eq!(
                run(r, step, false),
                Ok((200, 11, true, vec![])),
                "step {step}"
            );
        }
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(run(bad, 100, false), Err(ParseError::BadChunk));
        // Both framings: chunked wins, the connection is not reused.
        let both = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
        assert_eq!(run(both, 100, false), Ok((200, 1, false, vec![])));
    }

    #[test]
    fn close_delimited() {
        let r = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(run(r, 4, false), Ok((200, 13, false, vec![])));
        let r = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(run(r, 4, false), Ok((200, 2, false, vec![])));
        let r = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(run(r, 4, false), Ok((200, 2, true, vec![])));
        let r = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(run(r, 4, false), Ok((200, 2, false, vec![])));
        // The gateway's rule: chunked is the only transfer coding (the request sends no TE).
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz";
        assert_eq!(
            run(r, 4, false),
            Err(ParseError::Head("transfer coding other than chunked"))
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
        for step in [1, 5, r.len()] {
            assert_eq!(
                run(r, step, false),
                Ok((201, 1, true, vec![])),
                "step {step}"
            );
        }
    }

    #[test]
    fn truncated_and_malformed() {
        assert_eq!(
            run(
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                100,
                false
            ),
            Err(ParseError::Truncated)
        );
        assert_eq!(
            run(b"HTTP/1.1 200 O", 100, false),
            Err(ParseError::Truncated)
        );
        assert_eq!(
            run(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                100,
                false
            ),
            Err(ParseError::Truncated)
        );
        assert_eq!(
            run(b"garbage\r\n\r\n", 100, false),
            Err(ParseError::Head("malformed response head"))
        );
        assert_eq!(
            run(
                b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
                100,
                false
            ),
            Err(ParseError::Head("bad content-length"))
        );
        assert_eq!(
            run(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                100,
                false
            ),
            Err(ParseError::Head("conflicting content-length"))
        );
        assert_eq!(
            run(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 100, false),
            Err(ParseError::Head("protocol switch that was not asked for"))
        );
        assert_eq!(
            run(b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", 100, false),
            Err(ParseError::Head("response status code outside 100-599"))
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        assert_eq!(
            run(&huge, 4096, false),
            Err(ParseError::Head("response head too large"))
        );
    }
}
