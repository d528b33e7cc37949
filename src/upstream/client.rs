//! Upstream HTTP/1.1 responses: head parsing and body framing.

use std::mem::MaybeUninit;

use crate::http::head::is_hop_by_hop;
use crate::http::parse::{name_is, scan_fields};

/// Most header fields accepted in an upstream response.
pub const MAX_RESPONSE_HEADERS: usize = 128;
/// Largest upstream response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (response to HEAD, 204, 304).
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
    pub headers: Vec<Field>,
    pub keep_alive: bool,
    pub has_date: bool,
    /// Some `Connection` field line lists a token other than `close` / `keep-alive` (a
    /// header name to drop; see `lists`).
    pub connection_lists: bool,
    /// Bit `i` set: header `i` is never passed on as it is (framing, the fixed hop-by-hop
    /// set, the request id; see [`forward_response_header`]), found while parsing.
    pub not_forwarded: u128,
}

impl ResponseHead {
    /// Is header `name` of this response passed on to the client as it is: not framing,
    /// not hop-by-hop (fixed set or listed in any `Connection` line), not the request id?
    pub fn forwards(&self, buf: &[u8], name: &[u8]) -> bool {
        forward_response_header(name) && !self.lists(buf, name)
    }

    /// [`ResponseHead::forwards`] for header `i` (its name classified once, while parsing).
    pub fn forwards_at(&self, buf: &[u8], i: usize) -> bool {
        if i >= MAX_RESPONSE_HEADERS || self.not_forwarded & (1u128 << i) != 0 {
            return false;
        }
        !self.connection_lists
            || self
                .headers
                .get(i)
                .is_some_and(|&((ns, ne), _)| !self.lists(buf, &buf[ns..ne]))
    }

    /// Does any of the upstream's `Connection` field lines list `name` (RFC 9110 §7.6.1:
    /// every line counts, not only the first or the last)? `buf` is the buffer parsed.
    pub fn lists(&self, buf: &[u8], name: &[u8]) -> bool {
        self.connection_lists
            && crate::http::head::connection_lists(
                self.headers
                    .iter()
                    .map(|&((ns, ne), (vs, ve))| (&buf[ns..ne], &buf[vs..ve])),
                name,
            )
    }

    /// Name and value of header `i` in `buf`.
    pub fn header<'b>(&self, buf: &'b [u8], i: usize) -> (&'b [u8], &'b [u8]) {
        let ((ns, ne), (vs, ve)) = self.headers[i];
        (&buf[ns..ne], &buf[vs..ve])
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParsedResponse {
    Partial,
    /// An interim 1xx response (not 101) of this length; its status and headers are in the
    /// `ResponseHead` (forward it to clients that can take it, then read on).
    Interim(usize),
    Complete(ResponseFraming),
}

/// Parse an upstream response head from `buf`. `sent_head`: the request sent upstream was
/// HEAD (the body expectation follows the method actually sent, not the client's). Errors
/// are reasons (the caller answers 502).
pub fn parse_response_head(
    buf: &[u8],
    sent_head: bool,
    out: &mut ResponseHead,
) -> Result<ParsedResponse, &'static str> {
    // The common shape in one pass (see `http::parse::scan_fields`); anything else goes
    // through httparse, which decides.
    out.headers.clear();
    let parsed = match fast_response_head(buf, &mut out.headers) {
        Some(line) => Some(line),
        None => {
            out.headers.clear();
            parse_with_httparse(buf, &mut out.headers)?
        }
    };
    let Some((status, http10, head_len)) = parsed else {
        return if buf.len() >= MAX_RESPONSE_HEAD {
            Err("response head too large")
        } else {
            Ok(ParsedResponse::Partial)
        };
    };
    // RFC 9110 §15: status codes are 100-599 (httparse takes any three digits).
    if !(100..=599).contains(&status) {
        return Err("response status code outside 100-599");
    }
    if status == 101 {
        // tollgate never asks for an upgrade (Upgrade is hop-by-hop, dropped upstream).
        return Err("protocol switch that was not asked for");
    }
    out.status = status;
    out.head_len = head_len;
    out.keep_alive = !http10;
    out.has_date = false;
    out.connection_lists = false;
    out.not_forwarded = 0;
    let mut content_length: Option<u64> = None;
    let mut has_te = false;
    // Transfer codings over every Transfer-Encoding line: only exactly `chunked` is valid.
    let mut codings = 0usize;
    let mut only_chunked = true;
    for i in 0..out.headers.len() {
        let ((ns, ne), (vs, ve)) = out.headers[i];
        let (name, value) = (&buf[ns..ne], &buf[vs..ve]);
        // What the gateway reads and what it never forwards, told apart by length first.
        let forwarded = match name.len() {
            4 => {
                if name_is(name, b"date") {
                    out.has_date = true;
                }
                true
            }
            14 if name_is(name, b"content-length") => {
                let n = parse_content_length(value)?;
                if content_length.is_some_and(|c| c != n) {
                    return Err("conflicting content-length");
                }
                content_length = Some(n);
                false
            }
            17 if name_is(name, b"transfer-encoding") => {
                has_te = true;
                for coding in value.split(|&b| b == b',') {
                    let coding = coding.trim_ascii();
                    if coding.is_empty() {
                        continue;
                    }
                    codings += 1;
                    only_chunked &= coding.eq_ignore_ascii_case(b"chunked");
                }
                false
            }
            10 if name_is(name, b"connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        out.keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        if http10 {
                            out.keep_alive = true;
                        }
                    } else if !token.is_empty() {
                        out.connection_lists = true;
                    }
                }
                false
            }
            // The other names `forward_response_header` refuses have these lengths.
            2 | 7 | 10 | 16 | 18 | 19 => forward_response_header(name),
            _ => true,
        };
        if !forwarded {
            out.not_forwarded |= 1u128 << (i % MAX_RESPONSE_HEADERS);
        }
    }
    if status < 200 {
        return Ok(ParsedResponse::Interim(head_len));
    }
    let framing = if sent_head || status == 204 || status == 304 {
        ResponseFraming::None
    } else if has_te {
        // The upstream request carries no TE header, so chunked is the only transfer coding
        // the upstream may use (RFC 9110 §10.1.4, RFC 9112 §6.1). Any other (`gzip`, `gzip,
        // chunked`, chunked twice) cannot be passed on as it is nor renamed to a content
        // coding: the response is refused (502), never delivered still coded.
        if codings == 1 && only_chunked {
            ResponseFraming::Chunked
        } else {
            return Err("transfer coding other than chunked");
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

/// (status, HTTP/1.0, head length) of a response head whose status line is `HTTP/1.1` or
/// `HTTP/1.0`, SP, three digits, then CRLF or SP and a reason of SP, HTAB and `!`..`~` and
/// CRLF, with the fields as `http::parse::scan_fields` takes them (their ranges pushed into
/// `fields`). `None` for anything else: the caller clears `fields` and asks httparse, which
/// accepts all this accepts, and more.
fn fast_response_head(buf: &[u8], fields: &mut Vec<Field>) -> Option<(u16, bool, usize)> {
    let http10 = match buf.get(..9)? {
        b"HTTP/1.1 " => false,
        b"HTTP/1.0 " => true,
        _ => return None,
    };
    let status = match *buf.get(9..12)? {
        [a @ b'0'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return None,
    };
    let mut at = 12;
    if buf.get(at) == Some(&b' ') {
        at += 1;
        while matches!(buf.get(at), Some(b' ' | b'\t' | b'!'..=b'~')) {
            at += 1;
        }
    }
    if buf.get(at..at + 2)? != b"\r\n" {
        return None;
    }
    let head_len = scan_fields(buf, at + 2, MAX_RESPONSE_HEADERS, |name, value| {
        fields.push((name, value));
    })?;
    Some((status, http10, head_len))
}

/// (status, HTTP/1.0, head length) by httparse (`None` while incomplete), the field ranges
/// pushed into `fields`.
fn parse_with_httparse(
    buf: &[u8],
    fields: &mut Vec<Field>,
) -> Result<Option<(u16, bool, usize)>, &'static str> {
    // httparse fills the slots it uses; the others are never initialised.
    let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut raw);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head"),
    };
    let base = buf.as_ptr() as usize;
    for h in resp.headers.iter() {
        let ns = h.name.as_ptr() as usize - base;
        let vs = h.value.as_ptr() as usize - base;
        fields.push(((ns, ns + h.name.len()), (vs, vs + h.value.len())));
    }
    Ok(Some((
        resp.code.unwrap_or(0),
        resp.version == Some(0),
        head_len,
    )))
}

/// A header's (name, value) byte ranges in the buffer parsed.
type Field = ((usize, usize), (usize, usize));

/// RFC 9110 §8.6 `Content-Length`: 1*DIGIT (no sign, no list) within optional whitespace,
/// as the request parser reads it; a value above `u64::MAX` is refused too.
fn parse_content_length(value: &[u8]) -> Result<u64, &'static str> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return Err("bad content-length");
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err("bad content-length");
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or("bad content-length")?;
    }
    Ok(n)
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
        for cl in [
            "x",
            "+5",
            "-5",
            "5,5",
            "0x5",
            "5.0",
            "",
            "5\u{a0}",
            "99999999999999999999",
        ] {
            let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nhello");
            assert_eq!(
                parse(raw.as_bytes(), false).0,
                Err("bad content-length"),
                "{cl:?}"
            );
        }
        let (r, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length:  007 \r\n\r\n", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(7))));
        assert!(parse(b"garbage\r\n\r\n", false).0.is_err());
    }

    #[test]
    fn status_codes_outside_100_to_599_and_101_are_errors() {
        for raw in [
            &b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"[..],
            b"HTTP/1.1 000 Odd\r\n\r\n",
            b"HTTP/1.1 600 Odd\r\n\r\n",
            b"HTTP/1.1 999 Odd\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        ] {
            assert!(
                parse(raw, false).0.is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let (r, h) = parse(b"HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert_eq!(h.status, 599);
    }

    #[test]
    fn interim_responses_carry_status_and_headers() {
        let raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        let (r, h) = parse(raw, false);
        assert_eq!(r, Ok(ParsedResponse::Interim(44)));
        assert_eq!(h.status, 103);
        assert_eq!(h.headers.len(), 1);
        assert_eq!(h.header(raw, 0), (&b"Link"[..], &b"</a.css>"[..]));
    }

    #[test]
    fn only_chunked_alone_is_a_transfer_coding() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n",
        ] {
            assert!(
                parse(raw, false).0.is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let (r, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Chunked)));
        // No body follows anyway: the coding is not looked at.
        let (r, _) = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::None)));
        let (r, _) = parse(
            b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip\r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::None)));
    }

    #[test]
    fn body_expectation_follows_the_method_sent_upstream() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let (r, _) = parse(raw, true);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::None)));
        let (r, _) = parse(raw, false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(5))));
    }

    #[test]
    fn every_connection_line_counts() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: x-a\r\nConnection: close\r\nConnection: X-B, x-c\r\nContent-Length: 0\r\n\r\n";
        let (r, h) = parse(raw, false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert!(!h.keep_alive);
        assert!(h.connection_lists);
        for name in [&b"X-A"[..], b"x-b", b"x-c"] {
            assert!(h.lists(raw, name), "{:?}", String::from_utf8_lossy(name));
        }
        assert!(!h.lists(raw, b"content-length"));
        let raw = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        let (_, h) = parse(raw, false);
        assert!(h.keep_alive);
        assert!(!h.connection_lists);
    }

    #[test]
    fn header_filter() {
        assert!(forward_response_header(b"Content-Type"));
        assert!(!forward_response_header(b"Transfer-Encoding"));
        assert!(!forward_response_header(b"Content-Length"));
        assert!(!forward_response_header(b"Connection"));
    }

    #[test]
    fn forwarding_is_classified_while_parsing() {
        let names = [
            "Content-Type",
            "content-length",
            "CONTENT-LENGTH",
            "Transfer-Encoding",
            "connection",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "tE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
            "proxy-authenticate",
            "X-Amzn-RequestId",
            "x-amzn-requestid",
            "Date",
            "Dat",
            "ETag",
            "te2",
            "X-Amzn-RequestIdX",
            "Trailers",
            "Upgraded",
            "X-Listed",
            "x-content-length",
            "Keep-Alives",
            "Server",
            "Set-Cookie",
            "X-Long-Header-Name-Of-Nineteen",
        ];
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for n in names {
            let value = match n.to_ascii_lowercase().as_str() {
                "content-length" => "0",
                "transfer-encoding" => "chunked",
                "connection" => "keep-alive, X-Listed",
                _ => "v",
            };
            raw.push_str(&format!("{n}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let raw = raw.as_bytes();
        let (r, h) = parse(raw, false);
        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Chunked)));
        assert_eq!(h.headers.len(), names.len());
        let mut passed = Vec::new();
        for i in 0..h.headers.len() {
            let (name, _) = h.header(raw, i);
            assert_eq!(
                h.forwards_at(raw, i),
                h.forwards(raw, name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
            if h.forwards_at(raw, i) {
                passed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        assert_eq!(
            passed,
            [
                "Content-Type",
                "Date",
                "Dat",
                "ETag",
                "te2",
                "X-Amzn-RequestIdX",
                "Trailers",
                "Upgraded",
                "x-content-length",
                "Keep-Alives",
                "Server",
                "Set-Cookie",
                "X-Long-Header-Name-Of-Nineteen",
            ]
        );
        assert!(!h.forwards_at(raw, names.len()));
        // Parsing again starts from a clean slate.
        let (r, h) = parse(
            b"HTTP/1.1 200 OK\r\nETag: x\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert_eq!(h.not_forwarded, 0b10);
        let mut reused = h;
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: x\r\n\r\n";
        assert!(parse_response_head(raw, false, &mut reused).is_ok());
        assert!(!reused.forwards_at(raw, 0));
        assert!(reused.forwards_at(raw, 1));
    }

    #[test]
    fn a_full_set_of_header_slots() {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..MAX_RESPONSE_HEADERS - 1 {
            raw.push_str(&format!("X-{i}: {i}\r\n"));
        }
        raw.push_str("Connection: close\r\n\r\n");
        let (r, h) = parse(raw.as_bytes(), false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::UntilClose)));
        assert_eq!(h.headers.len(), MAX_RESPONSE_HEADERS);
        assert!(h.forwards_at(raw.as_bytes(), 0));
        assert!(!h.forwards_at(raw.as_bytes(), MAX_RESPONSE_HEADERS - 1));
        let more = raw.replacen("X-0: 0\r\n", "X-0: 0\r\nX-a: 1\r\n", 1);
        assert_eq!(
            parse(more.as_bytes(), false).0,
            Err("malformed response head")
        );
    }

    /// The fast path's reading: (status, HTTP/1.0, head length, field ranges).
    #[allow(clippy::type_complexity)]
    fn fast(raw: &[u8]) -> Option<(u16, bool, usize, Vec<Field>)> {
        let mut fields = Vec::new();
        let (status, http10, n) = fast_response_head(raw, &mut fields)?;
        Some((status, http10, n, fields))
    }

    /// Whatever the fast path reads, httparse reads the same.
    fn fast_agrees(raw: &[u8]) -> bool {
        let Some(f) = fast(raw) else { return false };
        let mut fields = Vec::new();
        let slow = parse_with_httparse(raw, &mut fields);
        assert_eq!(
            slow,
            Ok(Some((f.0, f.1, f.2))),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(fields, f.3, "{:?}", String::from_utf8_lossy(raw));
        true
    }

    #[test]
    fn fast_path_reads_common_heads_as_httparse_does() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\ndate: Sun, 29 Nov 2026 18:12:06 GMT\r\ncontent-type: application/json\r\nserver: tollgate-demo-upstream\r\ncontent-length: 182\r\n\r\n{}"[..],
            b"HTTP/1.0 404 Not Found\r\nX-Empty:\r\nX-Ws: \t \r\nX-Trail: a b\t \r\n\r\n",
            b"HTTP/1.1 204\r\n\r\n",
            b"HTTP/1.1 599 \r\n\r\n",
            b"HTTP/1.1 200 \tOK  (fine)\t\r\nA:b\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(fast_agrees(raw), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn fast_path_leaves_other_shapes_to_httparse() {
        for raw in [
            &b"HTTP/1.1 200 OK\nContent-Length: 0\n\n"[..],
            b"\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.1 200 Caf\xc3\xa9\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n fold\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.2 200 OK\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 200",
            b"",
        ] {
            assert!(fast(raw).is_none(), "{:?}", String::from_utf8_lossy(raw));
        }
        // httparse then decides, as before.
        let (r, h) = parse(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false);
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert_eq!(h.headers.len(), 1);
        let (r, _) = parse(
            b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(r, Ok(ParsedResponse::Complete(ResponseFraming::Length(0))));
        assert!(parse(b"HTTP/1.1 200 OK\r\nX: a\r\n fold\r\n\r\n", false)
            .0
            .is_err());
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false).0,
            Ok(ParsedResponse::Partial)
        );
    }

    #[test]
    fn fast_path_agrees_with_httparse_on_mutated_heads() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut below = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let templates: [&[u8]; 2] = [
            b"HTTP/1.1 200 OK\r\ndate: Sun, 29 Nov 2026 18:12:06 GMT\r\ncontent-length: 5\r\nX-Empty:\r\n\r\nhello",
            b"HTTP/1.0 304 Not Modified\r\nETag: \"0123456789abcdef\"\r\nConnection: keep-alive, x-a\r\n\r\n",
        ];
        let alphabet = b"\r\n \t:\x00\x01\x7f\x80\xffaZ9-/";
        let (mut fast_taken, mut left) = (0, 0);
        for _ in 0..30_000 {
            let mut raw = templates[below(templates.len())].to_vec();
            for _ in 0..below(4) {
                let at = below(raw.len() + 1);
                let byte = alphabet[below(alphabet.len())];
                match below(3) {
                    0 if at < raw.len() => raw[at] = byte,
                    1 => raw.insert(at, byte),
                    _ if at < raw.len() => {
                        raw.remove(at);
                    }
                    _ => {}
                }
            }
            let cut = below(raw.len() + 1);
            for r in [&raw[..], &raw[..cut]] {
                if fast_agrees(r) {
                    fast_taken += 1;
                } else {
                    left += 1;
                }
            }
        }
        assert!(fast_taken > 5_000 && left > 5_000, "{fast_taken} {left}");
    }
}
