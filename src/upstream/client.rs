//! Upstream HTTP/1.1 responses: head parsing and body framing.

use crate::http::head::is_hop_by_hop;

/// Most header fields accepted in an upstream response.
pub const MAX_RESPONSE_HEADERS: usize = 128;
/// Largest upstream response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD request, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Body runs until the upstream closes.
    UntilClose,
}

/// A parsed upstream response head: header (name, value) ranges into the upstream buffer.
#[derive(Debug, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub head_len: usize,
    pub headers: Vec<((usize, usize), (usize, usize))>,
    pub keep_alive: bool,
    pub has_date: bool,
    /// The upstream's `Connection` header value (its tokens name more hop-by-hop headers).
    pub connection: Option<(usize, usize)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParsedResponse {
    Partial,
    /// An interim 1xx response of this length (skip it).
    Interim(usize),
    Complete(ResponseFraming),
}

/// Parse an upstream response head from `buf`. Errors are reasons (the caller answers 502).
pub fn parse_response_head(
    buf: &[u8],
    request_was_head: bool,
    out: &mut ResponseHead,
) -> Result<ParsedResponse, &'static str> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut raw);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_RESPONSE_HEAD {
                Err("response head too large")
            } else {
                Ok(ParsedResponse::Partial)
            };
        }
        Err(_) => return Err("malformed response head"),
    };
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) {
        if status == 101 {
            return Err("protocol upgrade is not supported");
        }
        return Ok(ParsedResponse::Interim(head_len));
    }
    let http10 = resp.version == Some(0);
    out.status = status;
    out.head_len = head_len;
    out.headers.clear();
    out.keep_alive = !http10;
    out.has_date = false;
    out.connection = None;
    let base = buf.as_ptr() as usize;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut has_te = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        let value = h.value;
        if name.eq_ignore_ascii_case(b"content-length") {
            let text = std::str::from_utf8(value)
                .map_err(|_| "bad content-length")?
                .trim();
            let n: u64 = text.parse().map_err(|_| "bad content-length")?;
            if content_length.is_some_and(|c| c != n) {
                return Err("conflicting content-length");
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_te = true;
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    out.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    out.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"date") {
            out.has_date = true;
        }
        let ns = name.as_ptr() as usize - base;
        let vs = value.as_ptr() as usize - base;
        if name.eq_ignore_ascii_case(b"connection") {
            out.connection = Some((vs, vs + value.len()));
        }
        out.headers
            .push(((ns, ns + name.len()), (vs, vs + value.len())));
    }
    let framing = if request_was_head || status == 204 || status == 304 {
        ResponseFraming::None
    } else if has_te {
        if chunked {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        }
    } else if let Some(n) = content_length {
        ResponseFraming::Length(n)
    } else {
        ResponseFraming::UntilClose
    };
    if framing == ResponseFraming::UntilClose {
        out.keep_alive = false;
    }
    Ok(ParsedResponse::Complete(framing))
}

/// Should this upstream response header be passed to the client as it is?
/// (Framing and hop-by-hop headers are regenerated; the request id is the gateway's.)
pub fn forward_response_header(name: &[u8]) -> bool {
    !(is_hop_by_hop(name)
        || name.eq_ignore_ascii_case(b"content-length")
        || name.eq_ignore_ascii_case(b"x-amzn-requestid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head: bool) -> (Result<ParsedResponse, &'static str>, ResponseHead) {
        let mut out = ResponseHead::default();
        (parse_response_head(raw, head, &mut out), out)
    }

    #[test]
    fn framing_rules() {
        let (r, h) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(5))));
        assert!(h.keep_alive);
        assert_eq!(h.head_len, 38);
        let (r, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Chunked)));
        let (r, h) = parse(b"HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::UntilClose)));
        assert!(!h.keep_alive);
        let (r, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::None)));
        let (r, _) = parse(b"HTTP/1.1 204 No Content\r\n\r\n", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::None)));
        let (r, h) = parse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert!(!h.keep_alive);
    }

    #[test]
    fn interim_partial_and_errors() {
        assert_eq!(
            parse(b"HTTP/1.1 100 Continue\r\n\r\n", false).0,
            Ok(ParsedResponse::Interim(25))
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Le", false).0,
            Ok(ParsedResponse::Partial)
        );
        assert!(parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            false
        )
        .0
        .is_err());
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false)
                .0
                .is_err()
        );
        assert!(parse(b"garbage\r\n\r\n", false).0.is_err());
    }

    #[test]
    fn header_filter() {
        assert!(forward_response_header(b"Content-Type"));
        assert!(!forward_response_header(b"Transfer-Encoding"));
        assert!(!forward_response_header(b"Content-Length"));
        assert!(!forward_response_header(b"Connection"));
    }
}
