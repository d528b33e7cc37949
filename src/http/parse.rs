//! Request-head parsing plus the RFC 9112 framing guards. A head in its common shape (see
//! `fast_request_head` and `scan_fields`) is read in one pass; any other goes through
//! httparse, which accepts all the fast path accepts and finds the same fields.
//!
//! CONTRACT (implemented by the HTTP work):
//! `parse_request_head(buf, limits, head)`:
//! - `Ok(false)`: the head is incomplete and `buf.len() < limits.max_head_bytes` (read more).
//! - `Ok(true)`: `head` is filled (spans into `buf`), `head.head_len` bytes consumed.
//! - `Err(ErrorKind::HeadersTooLarge)`: no complete head within `max_head_bytes`, or more
//!   than `max_headers` fields (431).
//! - `Err(ErrorKind::BadRequest)` (400, caller closes the connection) for: httparse errors
//!   (bad tokens, spaces/control chars in names, bare CR, obs-fold), versions other than
//!   1.0/1.1 and 1.2..=1.9 (those are served as 1.1, RFC 9110 §2.5), a target that is not origin-form (`/...`), absolute-form (`http://h/...`, which
//!   is reduced to its path and its authority used as host) or `*` (OPTIONS only);
//!   both Content-Length and Transfer-Encoding; differing or malformed Content-Length
//!   (duplicates or comma lists of one identical value are accepted); any Transfer-Encoding
//!   other than exactly `chunked` (case-insensitive), or TE on HTTP/1.0; HTTP/1.1 without
//!   exactly one Host; NUL/CR/LF in header values.
//! - `Err(ErrorKind::RequestTooLarge)`: Content-Length above `limits.max_body_bytes`.
//! - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
//!   `Expect: 100-continue` (case-insensitive) sets `expect_continue` (1.1 only).
//! - Never panics on any input; allocates nothing once `head.headers` has grown.
//!
//! Deliberate choices beyond the contract (all answer 400 unless noted):
//! - Absolute-form is accepted only for `http`/`https` (scheme case-insensitive) with a
//!   non-empty authority made of host characters (no userinfo `@`) followed by a path that
//!   starts with `/`; `http://host` and `http://host?q` are refused because `path` must be a
//!   span of the buffer that starts with `/`. The Host header is still required on HTTP/1.1
//!   (RFC 9112 §3.2) but the authority replaces it as `head.host`.
//! - For `OPTIONS *` the `path` span is the `*` itself (the one path not starting with `/`).
//! - A `#` or any non-ASCII byte in the request-target is refused; in the path, also a `\`
//!   and a `%` not followed by two hex digits (the query is passed on as received).
//! - The Host value (and an absolute-form authority) must be RFC 3986 `host [ ":" port ]`:
//!   a non-empty reg-name/IPv4 or a bracketed IP-literal, and a port of at most 5 digits
//!   and 65535 (an empty port, `host:`, is allowed); more than one Host header is refused
//!   on HTTP/1.0 as well.
//! - Content-Length elements are compared numerically (`5, 05` is accepted as 5); empty list
//!   elements (`5,`) are refused. Transfer-Encoding elements are joined across all its
//!   header lines; the result must be exactly one `chunked`.
//! - At most [`HEADER_SLOTS`] header fields are ever parsed: `max_headers` above that acts
//!   as [`HEADER_SLOTS`].

use std::mem::MaybeUninit;

use crate::error::ErrorKind;
use crate::http::head::{BodyFraming, Head, Method, Span};
use crate::http::limits::HttpLimits;

/// Header slots on the stack handed to httparse; more fields than this is always a 431.
pub const HEADER_SLOTS: usize = 128;

pub fn parse_request_head(
    buf: &[u8],
    limits: &HttpLimits,
    head: &mut Head,
) -> Result<bool, ErrorKind> {
    head.clear();
    // Spans are u32 offsets: never look past what they can address.
    let limit = limits.max_head_bytes.min(u32::MAX as usize);
    let window = &buf[..buf.len().min(limit)];

    // The common shape first, in one pass (see `scan_fields`); anything else goes through
    // httparse, which decides.
    if let Some((method, target, version, head_len)) = fast_request_head(window, head) {
        return finish(buf, limits, head, method, target, version, head_len);
    }
    head.headers.clear();

    // httparse fills the slots it uses: the others are never initialised (128 empty headers
    // written per request would cost more than the parse of a small head).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(window, &mut slots) {
        Ok(httparse::Status::Complete(n)) => match (req.method, req.path, req.version) {
            (Some(m), Some(t), Some(v)) => {
                let (method, target) = (span_of(buf, m.as_bytes())?, span_of(buf, t.as_bytes())?);
                push_fields(buf, head, req.headers)?;
                finish(buf, limits, head, method, target, v, n)
            }
            _ => Err(ErrorKind::BadRequest),
        },
        Ok(httparse::Status::Partial) => incomplete(buf, limit),
        Err(httparse::Error::TooManyHeaders) => Err(ErrorKind::HeadersTooLarge),
        // httparse knows only 1.0 and 1.1; a later HTTP/1.x is served as 1.1.
        Err(httparse::Error::Version) => parse_later_minor(buf, limit, limits, head),
        Err(_) => Err(ErrorKind::BadRequest),
    }
}

/// The spans of the fields httparse found, into `head.headers`.
fn push_fields(
    buf: &[u8],
    head: &mut Head,
    fields: &[httparse::Header<'_>],
) -> Result<(), ErrorKind> {
    for h in fields {
        let name = span_of(buf, h.name.as_bytes())?;
        let value = span_of(buf, h.value)?;
        head.headers.push((name, value));
    }
    Ok(())
}

/// A request head in the common shape, parsed in one pass: `token SP target SP
/// HTTP/1.1|HTTP/1.0 CRLF` (target bytes `!`..`~`) and the fields as [`scan_fields`] takes
/// them, pushed into `head.headers`. `None` for anything else (the caller clears
/// `head.headers` and asks httparse, which accepts everything this does, and more).
/// Returns (method, target, minor version, head length).
fn fast_request_head(window: &[u8], head: &mut Head) -> Option<(Span, Span, u8, usize)> {
    let mut at = 0;
    while window.get(at).is_some_and(|&b| TOKEN[usize::from(b)]) {
        at += 1;
    }
    if at == 0 || window.get(at) != Some(&b' ') {
        return None;
    }
    let method = Span::new(0, at);
    at += 1;
    let target_start = at;
    while window.get(at).is_some_and(|&b| (b'!'..=b'~').contains(&b)) {
        at += 1;
    }
    if at == target_start || window.get(at) != Some(&b' ') {
        return None;
    }
    let target = Span::new(target_start, at);
    at += 1;
    let version = match window.get(at..at + 10)? {
        b"HTTP/1.1\r\n" => 1,
        b"HTTP/1.0\r\n" => 0,
        _ => return None,
    };
    let head_len = scan_fields(window, at + 10, HEADER_SLOTS, |(ns, ne), (vs, ve)| {
        head.headers.push((Span::new(ns, ne), Span::new(vs, ve)));
    })?;
    Some((method, target, version, head_len))
}

/// The header section from `at` in its common shape, in one pass: lines `token ":" OWS
/// value OWS CRLF` whose values hold only SP, HTAB and `!`..`~`, then an empty line (CRLF).
/// Calls `field` with the (start, end) of each name and value (the value without the
/// whitespace around it, an empty value at its line's CR, as httparse gives them) and
/// returns the offset past the empty line. `None`, having called `field` for some lines
/// perhaps, for anything else: an incomplete section, obs-text, a bare CR or LF-only line
/// end, another control byte, obs-fold, a line without a colon, more than `max` fields. The
/// caller then parses the head with httparse, which accepts all that this accepts (and finds
/// the same fields) and decides the rest.
pub(crate) fn scan_fields(
    buf: &[u8],
    mut at: usize,
    max: usize,
    mut field: impl FnMut((usize, usize), (usize, usize)),
) -> Option<usize> {
    let mut count = 0;
    loop {
        if buf.get(at..at + 2)? == b"\r\n" {
            return Some(at + 2);
        }
        if count == max {
            return None;
        }
        let name_start = at;
        while buf.get(at).is_some_and(|&b| TOKEN[usize::from(b)]) {
            at += 1;
        }
        if at == name_start || buf.get(at) != Some(&b':') {
            return None;
        }
        let name_end = at;
        at += 1;
        while matches!(buf.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        let value_start = at;
        // The value runs to its CR: eight bytes at a time, stopping at the first control,
        // DEL or non-ASCII byte (HTAB goes on; anything else but the CR goes to httparse).
        loop {
            let special = match buf.get(at..at + 8) {
                Some(word) => {
                    let flags = special_bytes(word);
                    if flags == 0 {
                        at += 8;
                        continue;
                    }
                    at += (flags.trailing_zeros() / 8) as usize;
                    *buf.get(at)?
                }
                None => match *buf.get(at)? {
                    b' '..=b'~' => {
                        at += 1;
                        continue;
                    }
                    other => other,
                },
            };
            match special {
                b'\t' => at += 1,
                b'\r' => break,
                _ => return None,
            }
        }
        if buf.get(at + 1) != Some(&b'\n') {
            return None;
        }
        let mut value_end = at;
        while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
        at += 2;
        field((name_start, name_end), (value_start, value_end));
        count += 1;
    }
}

/// The high bit of each byte of `word` (eight bytes, first in the lowest) that is a control
/// (below SP), DEL or non-ASCII. Borrows only run upwards, so the lowest flag is always a
/// true one: `trailing_zeros() / 8` is the index of the first such byte.
fn special_bytes(word: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    let w = u64::from_le_bytes(bytes);
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    let del = w ^ (ONES * 0x7f);
    let del = del.wrapping_sub(ONES) & !del;
    (control | del | w) & HIGH
}

/// Is `name`, a field name (tchar bytes only, as both parsers guarantee), `lower` (lowercase
/// letters, digits and `-`) in any ASCII case? Setting bit 5 folds `A`-`Z` onto `a`-`z`; of
/// the other bytes it maps onto a letter, digit or `-`, none is a tchar (they are controls),
/// so a word compare answers as `eq_ignore_ascii_case` does, a word or two per name.
#[inline(always)]
pub(crate) fn name_is(name: &[u8], lower: &[u8]) -> bool {
    const FOLD32: u32 = 0x2020_2020;
    const FOLD64: u64 = 0x2020_2020_2020_2020;
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    let word32 = |s: &[u8], at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[at..at + 4]);
        u32::from_le_bytes(w)
    };
    let word64 = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    match n {
        0..=3 => name.iter().zip(lower).all(|(&a, &b)| a | 0x20 == b),
        4..=8 => {
            word32(name, 0) | FOLD32 == word32(lower, 0)
                && word32(name, n - 4) | FOLD32 == word32(lower, n - 4)
        }
        9..=16 => {
            word64(name, 0) | FOLD64 == word64(lower, 0)
                && word64(name, n - 8) | FOLD64 == word64(lower, n - 8)
        }
        _ => name.eq_ignore_ascii_case(lower),
    }
}

/// RFC 9110 `tchar` (method and field-name bytes), as httparse reads them: the chunked
/// codec's `is_tchar` as a table.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = crate::http::chunked::is_tchar(b as u8);
        b += 1;
    }
    table
};

/// No complete head within the window: either wait for more or the head is too big.
fn incomplete(buf: &[u8], limit: usize) -> Result<bool, ErrorKind> {
    if buf.len() >= limit {
        Err(ErrorKind::HeadersTooLarge)
    } else {
        Ok(false)
    }
}

/// The checks on a complete head (request line parsed, the fields' spans in
/// `head.headers`): fills the rest of `head`.
fn finish(
    buf: &[u8],
    limits: &HttpLimits,
    head: &mut Head,
    method: Span,
    target: Span,
    version: u8,
    head_len: usize,
) -> Result<bool, ErrorKind> {
    if head.headers.len() > limits.max_headers {
        return Err(ErrorKind::HeadersTooLarge);
    }
    let method_kind = Method::from_bytes(method.of(buf));

    head.head_len = head_len;
    head.version_minor = version;
    head.method = Some(method_kind);
    head.method_span = method;
    head.target = target;
    let authority = split_target(buf, head, method_kind)?;

    let mut host_count = 0usize;
    let mut content_length: Option<u64> = None;
    let mut te_seen = false;
    let mut te_codings = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;

    for i in 0..head.headers.len() {
        let (name_span, value_span) = head.headers[i];
        let name = name_span.of(buf);
        let value = value_span.of(buf);

        // The fields the gateway reads, told apart by length first (one compare for most).
        match name.len() {
            4 if name_is(name, b"host") => {
                host_count += 1;
                head.host = Some(value_span);
            }
            14 if name_is(name, b"content-length") => {
                for element in value.split(|&b| b == b',') {
                    let n = parse_content_length(trim_ows(element))?;
                    match content_length {
                        Some(prev) if prev != n => return Err(ErrorKind::BadRequest),
                        _ => content_length = Some(n),
                    }
                }
            }
            17 if name_is(name, b"transfer-encoding") => {
                te_seen = true;
                for element in value.split(|&b| b == b',') {
                    if !trim_ows(element).eq_ignore_ascii_case(b"chunked") {
                        return Err(ErrorKind::BadRequest);
                    }
                    te_codings += 1;
                }
            }
            10 if name_is(name, b"connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = trim_ows(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            6 if name_is(name, b"expect")
                && trim_ows(value).eq_ignore_ascii_case(b"100-continue") =>
            {
                expect_continue = true;
            }
            _ => {}
        }
    }

    // Host: exactly one on HTTP/1.1, at most one on HTTP/1.0, and a valid value.
    if host_count > 1 || (version == 1 && host_count == 0) {
        return Err(ErrorKind::BadRequest);
    }
    if let Some(host) = head.host {
        if !is_valid_host(host.of(buf)) {
            return Err(ErrorKind::BadRequest);
        }
    }
    if let Some(authority) = authority {
        head.host = Some(authority);
    }

    // Body framing (RFC 9112 §6.1, §6.3).
    if te_seen {
        if version == 0 || content_length.is_some() || te_codings != 1 {
            return Err(ErrorKind::BadRequest);
        }
        head.body = BodyFraming::Chunked;
    } else if let Some(n) = content_length {
        if n > limits.max_body_bytes {
            return Err(ErrorKind::RequestTooLarge);
        }
        head.body = if n == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Length(n)
        };
    }

    head.keep_alive = if version == 1 {
        !conn_close
    } else {
        conn_keep_alive && !conn_close
    };
    head.expect_continue = version == 1 && expect_continue;
    Ok(true)
}

/// A request head whose request line ends in `HTTP/1.x` with x in 2..=9, which httparse
/// refuses: RFC 9110 §2.5 says a recipient may serve such a message as the highest 1.x it
/// implements (1.1). httparse only returns `Error::Version` after it accepted the method, one
/// SP and the target, so only the version and the line end are checked here; the header
/// section goes through httparse's own header parser, and the head through the same checks
/// as any other (`finish`). Other versions (`HTTP/2.0`, `HTTP/1.10`, ...) are 400.
#[cold]
#[inline(never)]
fn parse_later_minor(
    buf: &[u8],
    limit: usize,
    limits: &HttpLimits,
    head: &mut Head,
) -> Result<bool, ErrorKind> {
    let window = &buf[..buf.len().min(limit)];
    // httparse skips empty lines before the request line.
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ErrorKind::BadRequest)?;
    let line = &window[start..];
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ErrorKind::BadRequest)?;
    let sp2 = sp1
        + 1
        + line[sp1 + 1..]
            .iter()
            .position(|&b| b == b' ')
            .ok_or(ErrorKind::BadRequest)?;
    let method = std::str::from_utf8(&line[..sp1]).map_err(|_| ErrorKind::BadRequest)?;
    let target = std::str::from_utf8(&line[sp1 + 1..sp2]).map_err(|_| ErrorKind::BadRequest)?;
    let rest = &line[sp2 + 1..];
    match rest.get(..8) {
        Some([b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9']) => {}
        _ => return Err(ErrorKind::BadRequest),
    }
    let eol = match rest.get(8..) {
        Some([b'\r', b'\n', ..]) => 10,
        Some([b'\n', ..]) => 9,
        Some([] | [b'\r']) => return incomplete(buf, limit),
        _ => return Err(ErrorKind::BadRequest),
    };
    let headers_at = start + sp2 + 1 + eol;
    let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
    match httparse::parse_headers(&window[headers_at..], &mut slots) {
        Ok(httparse::Status::Complete((n, headers))) => {
            let (method, target) = (
                span_of(buf, method.as_bytes())?,
                span_of(buf, target.as_bytes())?,
            );
            push_fields(buf, head, headers)?;
            finish(buf, limits, head, method, target, 1, headers_at + n)
        }
        Ok(httparse::Status::Partial) => incomplete(buf, limit),
        Err(httparse::Error::TooManyHeaders) => Err(ErrorKind::HeadersTooLarge),
        Err(_) => Err(ErrorKind::BadRequest),
    }
}

/// The span of `part`, a sub-slice of `buf`, as offsets into `buf`.
fn span_of(buf: &[u8], part: &[u8]) -> Result<Span, ErrorKind> {
    let start = (part.as_ptr() as usize)
        .checked_sub(buf.as_ptr() as usize)
        .ok_or(ErrorKind::Internal)?;
    let end = start.checked_add(part.len()).ok_or(ErrorKind::Internal)?;
    if end > buf.len() || end > u32::MAX as usize {
        return Err(ErrorKind::Internal);
    }
    Ok(Span::new(start, end))
}

/// Fills `head.path` and `head.query` from `head.target`; returns the authority of an
/// absolute-form target.
fn split_target(buf: &[u8], head: &mut Head, method: Method) -> Result<Option<Span>, ErrorKind> {
    let t = head.target.of(buf);
    let base = head.target.start as usize;
    if t == b"*" {
        if method != Method::Options {
            return Err(ErrorKind::BadRequest);
        }
        head.path = head.target;
        head.query = None;
        return Ok(None);
    }

    let (path_start, authority) = match t.first() {
        Some(b'/') => (0, None),
        _ => {
            let scheme_len = if starts_with_ignore_case(t, b"http://") {
                7
            } else if starts_with_ignore_case(t, b"https://") {
                8
            } else {
                return Err(ErrorKind::BadRequest);
            };
            let rest = t.get(scheme_len..).unwrap_or_default();
            let auth_len = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            let auth = rest.get(..auth_len).unwrap_or_default();
            // The path must be present (see the module docs) and the authority valid (host
            // characters only: no `#`, nothing outside ASCII).
            if rest.get(auth_len) != Some(&b'/') || !is_valid_host(auth) {
                return Err(ErrorKind::BadRequest);
            }
            let auth_start = base + scheme_len;
            (
                scheme_len + auth_len,
                Some(Span::new(auth_start, auth_start + auth_len)),
            )
        }
    };

    // One pass over path and query: the path ends at the first `?`; no `#` and nothing
    // outside ASCII anywhere; in the path no `\` and only valid `%` escapes (see
    // `is_clean_path`).
    let tail = t.get(path_start..).unwrap_or_default();
    let mut i = 0;
    let query_at = loop {
        while tail
            .get(i)
            .is_some_and(|&b| PATH_BYTE[usize::from(b)] == PLAIN)
        {
            i += 1;
        }
        match tail.get(i) {
            None => break None,
            Some(b'?') => break Some(i),
            Some(b'%') if is_hex_at(tail, i + 1) && is_hex_at(tail, i + 2) => i += 3,
            // `#`, `\`, a bad `%` escape, non-ASCII.
            Some(_) => return Err(ErrorKind::BadRequest),
        }
    };
    match query_at {
        Some(q) => {
            let query = tail.get(q + 1..).unwrap_or_default();
            if query.iter().any(|&b| b == b'#' || !b.is_ascii()) {
                return Err(ErrorKind::BadRequest);
            }
            head.path = Span::new(base + path_start, base + path_start + q);
            head.query = Some(Span::new(base + path_start + q + 1, base + t.len()));
        }
        None => {
            head.path = Span::new(base + path_start, base + t.len());
            head.query = None;
        }
    }
    Ok(authority)
}

/// [`PATH_BYTE`] class of the bytes a path may hold as they are.
const PLAIN: u8 = 0;

/// Request-target bytes that end the plain run of a path: `?`, `%`, `#`, `\` and every
/// non-ASCII byte (`PLAIN` for the others; httparse already refused controls and spaces).
static PATH_BYTE: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut b = 0x80;
    while b < 256 {
        table[b] = 1;
        b += 1;
    }
    table[b'?' as usize] = 1;
    table[b'%' as usize] = 1;
    table[b'#' as usize] = 1;
    table[b'\\' as usize] = 1;
    table
};

fn is_hex_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_hexdigit)
}

/// No backslash (URL parsers that follow the WHATWG URL standard, as browsers do, read it
/// as `/`, so `/a/..\admin` would be a dot segment to them), and every `%` starts a valid
/// escape (`%` and two hex digits): a path the gateway and every upstream read alike.
pub fn is_clean_path(path: &[u8]) -> bool {
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'\\' => return false,
            b'%' => {
                let hex = |j: usize| path.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            _ => i += 1,
        }
    }
    true
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` as u64; anything else (sign, spaces, hex, empty, overflow) is a 400.
fn parse_content_length(s: &[u8]) -> Result<u64, ErrorKind> {
    if s.is_empty() {
        return Err(ErrorKind::BadRequest);
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(ErrorKind::BadRequest);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ErrorKind::BadRequest)?;
    }
    Ok(n)
}

/// RFC 3986 `host [ ":" port ]`, non-empty host: a reg-name or IPv4 address (unreserved,
/// `%`, sub-delims), or an IP-literal in brackets; the port, if there is a `:`, is `*DIGIT`
/// with a value of at most 65535. An empty port (`host:`) is allowed, as RFC 3986 §3.2.3
/// allows it (it means the scheme's default port).
pub fn is_valid_host(s: &[u8]) -> bool {
    if s.first() == Some(&b'[') {
        return is_valid_ip_literal_host(s);
    }
    // reg-name / IPv4 up to the first byte that is not a host character: it must be the end
    // or the `:` before the port.
    let mut i = 0;
    while s.get(i).is_some_and(|&b| REG_NAME[usize::from(b)]) {
        i += 1;
    }
    if i == 0 {
        return false;
    }
    match s.get(i) {
        None => true,
        Some(b':') => is_valid_port(s.get(i + 1..).unwrap_or_default()),
        Some(_) => false,
    }
}

/// `[IP-literal] [ ":" port ]` (see [`is_valid_host`]).
fn is_valid_ip_literal_host(s: &[u8]) -> bool {
    let Some(close) = s.iter().position(|&b| b == b']') else {
        return false;
    };
    let inner = &s[1..close];
    let port = match &s[close + 1..] {
        [] => None,
        [b':', port @ ..] => Some(port),
        _ => return false,
    };
    if inner.is_empty()
        || !inner
            .iter()
            .all(|&b| is_reg_name_char(b) || matches!(b, b':'))
    {
        return false;
    }
    port.is_none_or(is_valid_port)
}

/// `*DIGIT`: at most five digits (leading zeros included) and a value below 65536.
fn is_valid_port(p: &[u8]) -> bool {
    if p.len() > 5 {
        return false;
    }
    let mut n = 0u32;
    for &d in p {
        if !d.is_ascii_digit() {
            return false;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    n <= 65535
}

/// RFC 3986 reg-name characters: unreserved, `%` (pct-encoded) and sub-delims.
fn is_reg_name_char(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

/// [`is_reg_name_char`] as a table (one load per byte of a Host value).
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits::default()
    }

    fn parse(buf: &[u8]) -> Result<(bool, Head), ErrorKind> {
        parse_with(buf, &limits())
    }

    fn parse_with(buf: &[u8], limits: &HttpLimits) -> Result<(bool, Head), ErrorKind> {
        let mut head = Head::default();
        parse_request_head(buf, limits, &mut head).map(|done| (done, head))
    }

    fn ok(buf: &[u8]) -> Head {
        match parse(buf) {
            Ok((true, head)) => head,
            other => panic!(
                "expected a complete head for {:?}, got {:?}",
                String::from_utf8_lossy(buf),
                other
            ),
        }
    }

    fn err(buf: &[u8]) -> ErrorKind {
        match parse(buf) {
            Err(kind) => kind,
            other => panic!(
                "expected an error for {:?}, got {:?}",
                String::from_utf8_lossy(buf),
                other
            ),
        }
    }

    fn bad(buf: &[u8]) {
        assert_eq!(
            err(buf),
            ErrorKind::BadRequest,
            "for {:?}",
            String::from_utf8_lossy(buf)
        );
    }

    // ---- valid requests ----

    #[test]
    fn get_with_query() {
        let buf = b"GET /orders/42?expand=items&x=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.head_len, buf.len());
        assert_eq!(h.method(), Method::Get);
        assert_eq!(h.method_span.of(buf), b"GET");
        assert_eq!(h.target.of(buf), b"/orders/42?expand=items&x=1");
        assert_eq!(h.path.of(buf), b"/orders/42");
        assert_eq!(h.query.map(|q| q.of(buf)), Some(&b"expand=items&x=1"[..]));
        assert_eq!(h.host.map(|s| s.of(buf)), Some(&b"api.example.com"[..]));
        assert_eq!(h.version_minor, 1);
        assert_eq!(h.body, BodyFraming::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.headers[1].0.of(buf), b"Accept");
        assert_eq!(h.headers[1].1.of(buf), b"*/*");
        assert_eq!(h.header(buf, "accept"), Some(&b"*/*"[..]));
    }

    #[test]
    fn query_absent_and_empty() {
        let buf = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(ok(buf).query, None);
        let buf = b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.path.of(buf), b"/a");
        assert_eq!(h.query.map(|q| q.of(buf)), Some(&b""[..]));
        // Only the first `?` splits.
        let buf = b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.query.map(|q| q.of(buf)), Some(&b"b?c"[..]));
    }

    #[test]
    fn post_with_content_length() {
        let buf = b"POST /items HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        let h = ok(buf);
        assert_eq!(h.method(), Method::Post);
        assert_eq!(h.body, BodyFraming::Length(5));
        assert_eq!(h.head_len, buf.len() - 5);
        assert_eq!(&buf[h.head_len..], b"hello");
    }

    #[test]
    fn content_length_zero_is_no_body() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.body, BodyFraming::None);
    }

    #[test]
    fn identical_content_lengths_are_accepted() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Length(7));
        let h = ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7,7\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Length(7));
        let h = ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Length(7));
    }

    #[test]
    fn chunked_post() {
        let h = ok(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Chunked);
        let h = ok(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  CHUNKED \t\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Chunked);
    }

    #[test]
    fn keep_alive_rules() {
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        let h = ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(h.keep_alive);
        assert_eq!(h.version_minor, 0);
        assert_eq!(h.host, None);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Upgrade, Keep-Alive\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n").keep_alive);
        assert!(
            !ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: foo, close\r\n\r\n")
                .keep_alive
        );
        assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n").keep_alive);
    }

    #[test]
    fn pipelined_requests() {
        let buf = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two?x HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.path.of(buf), b"/one");
        assert_eq!(&buf[h.head_len..h.head_len + 8], b"GET /two");
        let rest = &buf[h.head_len..];
        let h2 = ok(rest);
        assert_eq!(h2.path.of(rest), b"/two");
        assert_eq!(h2.query.map(|q| q.of(rest)), Some(&b"x"[..]));
        assert_eq!(h2.head_len, rest.len());
    }

    #[test]
    fn expect_continue() {
        let h =
            ok(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n");
        assert!(h.expect_continue);
        assert!(
            !ok(b"PUT /x HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
                .expect_continue
        );
        assert!(!ok(b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n").expect_continue);
    }

    #[test]
    fn absolute_form() {
        let buf =
            b"GET http://api.example.com:8080/p/q?a=1 HTTP/1.1\r\nHost: other.example\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.target.of(buf), b"http://api.example.com:8080/p/q?a=1");
        assert_eq!(h.path.of(buf), b"/p/q");
        assert_eq!(h.query.map(|q| q.of(buf)), Some(&b"a=1"[..]));
        assert_eq!(
            h.host.map(|s| s.of(buf)),
            Some(&b"api.example.com:8080"[..])
        );
        let buf = b"GET HTTPS://[::1]/ HTTP/1.0\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.path.of(buf), b"/");
        assert_eq!(h.query, None);
        assert_eq!(h.host.map(|s| s.of(buf)), Some(&b"[::1]"[..]));
    }

    #[test]
    fn options_asterisk() {
        let buf = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.method(), Method::Options);
        assert_eq!(h.path.of(buf), b"*");
        assert_eq!(h.query, None);
    }

    #[test]
    fn bare_lf_and_leading_empty_lines_are_accepted() {
        let buf = b"GET /lf HTTP/1.1\nHost: h\nX: y\n\n";
        let h = ok(buf);
        assert_eq!(h.head_len, buf.len());
        assert_eq!(h.header(buf, "x"), Some(&b"y"[..]));
        let buf = b"\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.head_len, buf.len());
        assert_eq!(h.method_span.of(buf), b"GET");
    }

    #[test]
    fn header_values_are_trimmed_and_may_be_empty() {
        let buf = b"GET / HTTP/1.1\r\nHost:   h  \r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.host.map(|s| s.of(buf)), Some(&b"h"[..]));
        assert_eq!(h.header(buf, "x-empty"), Some(&b""[..]));
        assert_eq!(h.header(buf, "x-tab"), Some(&b"a\tb"[..]));
    }

    #[test]
    fn head_is_reused_without_reallocating() {
        let mut head = Head::default();
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(parse_request_head(buf, &limits(), &mut head), Ok(true));
        let (cap, ptr) = (head.headers.capacity(), head.headers.as_ptr());
        for _ in 0..10 {
            assert_eq!(parse_request_head(buf, &limits(), &mut head), Ok(true));
            assert_eq!(head.headers.len(), 4);
        }
        assert_eq!((head.headers.capacity(), head.headers.as_ptr()), (cap, ptr));
        // A failed parse leaves no stale state behind for the next one.
        assert!(parse_request_head(b"GET / HTTP/1.1\r\n\r\n", &limits(), &mut head).is_err());
        assert_eq!(
            parse_request_head(b"GET / HTTP/1.0\r\n\r\n", &limits(), &mut head),
            Ok(true)
        );
        assert_eq!(head.host, None);
        assert!(head.headers.is_empty());
    }

    // ---- incomplete heads ----

    #[test]
    fn every_prefix_is_incomplete() {
        let buf =
            b"POST /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: x\r\n\r\n";
        // (The full head is invalid; no prefix of it is complete, so none is an error yet.)
        for i in 0..buf.len() {
            assert!(matches!(parse(&buf[..i]), Ok((false, _))), "prefix {i}");
        }
        assert_eq!(err(buf), ErrorKind::BadRequest);
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        for i in 0..buf.len() {
            assert!(matches!(parse(&buf[..i]), Ok((false, _))), "prefix {i}");
        }
    }

    // ---- 431 / 413 ----

    #[test]
    fn oversized_head_is_431() {
        let l = HttpLimits {
            max_head_bytes: 64,
            ..limits()
        };
        let padded = |n: usize| {
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: {}\r\n\r\n",
                "a".repeat(n)
            )
            .into_bytes()
        };
        let exact = padded(28);
        assert_eq!(exact.len(), 64);
        assert!(matches!(parse_with(&exact, &l), Ok((true, _))));
        let over = padded(29);
        // Complete, but one byte over the limit.
        assert_eq!(
            parse_with(&over, &l).err(),
            Some(ErrorKind::HeadersTooLarge)
        );
        // Incomplete with the limit reached.
        assert_eq!(
            parse_with(&over[..64], &l).err(),
            Some(ErrorKind::HeadersTooLarge)
        );
        assert!(matches!(parse_with(&over[..63], &l), Ok((false, _))));
        // A small head followed by a big body is fine.
        let mut with_body = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n".to_vec();
        with_body.extend_from_slice(&[b'x'; 100]);
        assert!(matches!(parse_with(&with_body, &l), Ok((true, _))));
    }

    #[test]
    fn too_many_headers_is_431() {
        let l = HttpLimits {
            max_headers: 3,
            ..limits()
        };
        assert!(matches!(
            parse_with(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", &l),
            Ok((true, _))
        ));
        assert_eq!(
            parse_with(
                b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                &l
            )
            .err(),
            Some(ErrorKind::HeadersTooLarge)
        );
        // More than the httparse slots, with the default limit.
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..HEADER_SLOTS {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(err(&buf), ErrorKind::HeadersTooLarge);
        // 101 headers against the default of 100.
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..100 {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(err(&buf), ErrorKind::HeadersTooLarge);
    }

    #[test]
    fn large_content_length_is_413() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10485760\r\n\r\n");
        assert_eq!(h.body, BodyFraming::Length(10_485_760));
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10485761\r\n\r\n"),
            ErrorKind::RequestTooLarge
        );
        assert_eq!(
            err(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n"),
            ErrorKind::RequestTooLarge
        );
    }

    // ---- 400 guards, one request per guard ----

    #[test]
    fn httparse_errors() {
        bad(b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n"); // bad method token
        bad(b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: h\r\n\r\n"); // space in name
        bad(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"); // space before colon
        bad(b"GET / HTTP/1.1\r\nX\x01Y: x\r\nHost: h\r\n\r\n"); // control char in name
        bad(b"GET / HTTP/1.1\r\n: x\r\nHost: h\r\n\r\n"); // empty name
        bad(b"GET / HTTP/1.1\r\nNoColon\r\nHost: h\r\n\r\n");
        bad(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"); // double space in the request line
        bad(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
        bad(b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn bare_cr_anywhere() {
        bad(b"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET\r/ HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.1\rHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX:\r\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX\r: y\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n");
    }

    #[test]
    fn obs_fold() {
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  continued\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n\tcontinued\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n");
        bad(b"GET / HTTP/1.1\nHost: h\n continued\n\n");
    }

    #[test]
    fn control_bytes_in_values() {
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1fb\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: \0\r\n\r\n");
        // obs-text is allowed in values.
        ok(b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9 \xff\r\n\r\n");
    }

    #[test]
    fn versions() {
        bad(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/3.0\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.10\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.x\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.2 \r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.2\rHost: h\r\n\r\n");
        bad(b"GET / HTTP/0.9\r\n\r\n");
        bad(b"GET / http/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET /\r\n\r\n");
    }

    #[test]
    fn later_http_1_minor_versions_are_served_as_1_1() {
        // RFC 9110 §2.5: a recipient may treat HTTP/1.x, x > 1, as the 1.1 it implements.
        for v in ["1.2", "1.5", "1.9"] {
            let req = format!(
                "\r\nPOST /a?b HTTP/{v}\r\nHost: h\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nhi"
            );
            let buf = req.as_bytes();
            let h = ok(buf);
            assert_eq!(h.version_minor, 1, "{v}");
            assert_eq!(h.method(), Method::Post);
            assert_eq!(h.path.of(buf), b"/a");
            assert_eq!(h.query.map(|q| q.of(buf)), Some(&b"b"[..]));
            assert_eq!(h.host.map(|s| s.of(buf)), Some(&b"h"[..]));
            assert_eq!(h.header(buf, "x-a"), Some(&b"1"[..]));
            assert_eq!(h.body, BodyFraming::Length(2));
            assert_eq!(&buf[h.head_len..], b"hi");
            assert!(h.keep_alive);
        }
        // LF-only line ends, as for 1.1.
        let buf = b"GET / HTTP/1.2\nHost: h\n\n";
        assert_eq!(ok(buf).head_len, buf.len());
        // The 1.1 rules still hold: Host required, framing guards, header errors.
        bad(b"GET / HTTP/1.2\r\n\r\n");
        bad(b"GET / HTTP/1.2\r\nHost: h\r\nHost: h\r\n\r\n");
        bad(b"POST / HTTP/1.2\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        bad(b"GET / HTTP/1.2\r\nHost: h\r\nBad Name: x\r\n\r\n");
        bad(b"GET / HTTP/1.2\r\nHost: h\r\nX: a\r\n  fold\r\n\r\n");
        let h = ok(b"GET / HTTP/1.2\r\nHost: h\r\nConnection: close\r\n\r\n");
        assert!(!h.keep_alive);
        // Every prefix is incomplete, not an error.
        let buf = b"GET /x HTTP/1.2\r\nHost: h\r\n\r\n";
        for i in 0..buf.len() {
            assert!(matches!(parse(&buf[..i]), Ok((false, _))), "prefix {i}");
        }
        // Too many fields and too big a head are 431 here too.
        let l = HttpLimits {
            max_headers: 1,
            ..limits()
        };
        assert_eq!(
            parse_with(b"GET / HTTP/1.2\r\nHost: h\r\nA: 1\r\n\r\n", &l).err(),
            Some(ErrorKind::HeadersTooLarge)
        );
        let l = HttpLimits {
            max_head_bytes: 20,
            ..limits()
        };
        assert_eq!(
            parse_with(b"GET / HTTP/1.2\r\nHost: hhhhhhhhhhh\r\n\r\n", &l).err(),
            Some(ErrorKind::HeadersTooLarge)
        );
    }

    #[test]
    fn target_forms() {
        bad(b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"); // relative
        bad(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"); // authority-form
        bad(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"); // `*` without OPTIONS
        bad(b"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"); // fragment
        bad(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"); // non-ASCII
        bad(b"GET ftp://h/a HTTP/1.1\r\nHost: h\r\n\r\n"); // other scheme
        bad(b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n"); // absolute-form without a path
        bad(b"GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n"); // empty authority
        bad(b"GET http://user@h/a HTTP/1.1\r\nHost: h\r\n\r\n"); // userinfo
        bad(b"GET http:/h/a HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn backslashes_and_bad_percent_escapes_in_the_path() {
        for t in [
            r"/prod/items/..\..\admin",
            r"/a\b",
            r"\a",
            r"/a/b\",
            "/a/%zz",
            "/a/%",
            "/a/%4",
            "/a/%4g",
            "/a%/b",
            "/a/%%41",
            r"http://h/a\b",
            "http://h/%x1",
        ] {
            bad(format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        }
        for t in [
            "/a/%41%2f%2F%5c%5C",
            "/a/%e2%82%AC",
            "/a?q=%zz",
            r"/a?q=\",
            "/%25",
        ] {
            let req = format!("GET {t} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(ok(req.as_bytes()).target.of(req.as_bytes()), t.as_bytes());
        }
    }

    #[test]
    fn content_length_and_transfer_encoding() {
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn malformed_or_differing_content_length() {
        for v in [
            "5, 6",
            "+5",
            "-5",
            "5a",
            "5 5",
            "",
            " ",
            "0x5",
            "5,,5",
            "5,",
            ",5",
            "1.0",
            "\u{b3}",
            "99999999999999999999999",
        ] {
            let req = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {v}\r\n\r\n");
            bad(req.as_bytes());
        }
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5, 6\r\n\r\n");
    }

    #[test]
    fn transfer_encoding_must_be_exactly_chunked() {
        for v in [
            "gzip, chunked",
            "chunked, chunked",
            "identity",
            "chunked;q=1",
            "",
            "chunked,",
            "xchunked",
            "chunk ed",
        ] {
            let req = format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {v}\r\n\r\n");
            bad(req.as_bytes());
        }
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
        bad(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
    }

    #[test]
    fn transfer_encoding_on_http_1_0() {
        bad(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    }

    #[test]
    fn host_rules() {
        bad(b"GET / HTTP/1.1\r\n\r\n"); // missing
        bad(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"); // duplicate
        bad(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"); // empty
        bad(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"); // invalid characters
        bad(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n");
        let buf = b"GET / HTTP/1.1\r\nhOsT: Example.COM:8443\r\n\r\n";
        assert_eq!(
            ok(buf).host.map(|s| s.of(buf)),
            Some(&b"Example.COM:8443"[..])
        );
        // Absolute-form still needs the Host header on HTTP/1.1.
        bad(b"GET http://h/a HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn host_ports() {
        // RFC 3986 `port = *DIGIT`; a port must fit in 16 bits.
        for v in [
            "h:abc",
            "h:99999",
            "h:65536",
            "h:-1",
            "h:+80",
            "h:8 0",
            "h:80:80",
            "h:1a",
            "h:000080",
            "[::1]:x",
            "[::1]:70000",
            "[::1]80",
            "[::1",
            "::1",
            "[]",
            ":80",
            "[::1]]",
            "h]:80",
            "h[1]",
        ] {
            bad(format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n").as_bytes());
            bad(format!("GET http://{v}/a HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        }
        for v in [
            "h",
            "h:80",
            "h:0",
            "h:65535",
            "h:00080",
            "h:",
            "10.0.0.1:8080",
            "[::1]",
            "[::1]:",
            "[::1]:443",
            "[v1.x]",
            "a-b.c_d~e%41",
        ] {
            let req = format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n");
            let buf = req.as_bytes();
            assert_eq!(ok(buf).host.map(|s| s.of(buf)), Some(v.as_bytes()), "{v}");
            let req = format!("GET http://{v}/a HTTP/1.1\r\nHost: h\r\n\r\n");
            let buf = req.as_bytes();
            assert_eq!(ok(buf).host.map(|s| s.of(buf)), Some(v.as_bytes()), "{v}");
        }
    }

    // ---- robustness ----

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses `buf` and checks the spans of a complete head; returns whether it was complete.
    fn check_invariants(buf: &[u8], limits: &HttpLimits) -> bool {
        let mut head = Head::default();
        let complete = parse_request_head(buf, limits, &mut head) == Ok(true);
        if complete {
            assert!(head.head_len <= buf.len() && head.head_len <= limits.max_head_bytes);
            let mut spans = vec![head.method_span, head.target, head.path];
            spans.extend(head.query);
            spans.extend(head.host);
            spans.extend(head.headers.iter().flat_map(|(n, v)| [*n, *v]));
            for s in spans {
                assert!(s.start <= s.end && s.end as usize <= head.head_len);
            }
            let path = head.path.of(buf);
            assert!(path.first() == Some(&b'/') || path == b"*");
        }
        complete
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut complete = 0usize;
        let small = HttpLimits {
            max_head_bytes: 200,
            max_headers: 4,
            ..limits()
        };
        let templates: [&[u8]; 4] = [
            b"POST http://h:1/a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nConnection: keep-alive\r\n\r\nhello",
            b"PUT /x HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nExpect: 100-continue\n\n",
            b"OPTIONS * HTTP/1.0\r\nConnection: close\r\n\r\n",
            b"GET /a/b?c#d HTTP/1.1\r\nHost: [::1]:80\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ];
        let alphabet =
            b"\r\n :/?#*,;\t\0\x7f\xffGETPOSHhtp1.0-chunkedContent-LengthTransfer-EncodingHost";
        for round in 0..20_000 {
            let mut buf: Vec<u8> = if round % 4 == 0 {
                let len = rng.below(300);
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                templates[rng.below(templates.len())].to_vec()
            };
            // Mutate: replace, insert or delete a few bytes.
            for _ in 0..rng.below(6) {
                let at = rng.below(buf.len() + 1);
                let byte = if rng.below(2) == 0 {
                    alphabet[rng.below(alphabet.len())]
                } else {
                    rng.next() as u8
                };
                match rng.below(3) {
                    0 if at < buf.len() => buf[at] = byte,
                    1 => buf.insert(at, byte),
                    _ if at < buf.len() => {
                        buf.remove(at);
                    }
                    _ => {}
                }
            }
            let cut = rng.below(buf.len() + 1);
            complete += usize::from(check_invariants(&buf, &limits()));
            complete += usize::from(check_invariants(&buf[..cut], &limits()));
            complete += usize::from(check_invariants(&buf, &small));
        }
        // The mutated templates must also exercise the success path.
        assert!(complete > 1000, "only {complete} complete heads");
        let zero = HttpLimits {
            max_head_bytes: 0,
            max_headers: 0,
            ..limits()
        };
        assert_eq!(
            parse_with(b"GET / HTTP/1.0\r\n\r\n", &zero).err(),
            Some(ErrorKind::HeadersTooLarge)
        );
        assert!(matches!(parse_with(b"", &limits()), Ok((false, _))));
    }

    // ---- the one-pass checks against the passes they replaced ----

    /// The Host check as it was before the table-driven one (the reference it must match).
    fn reference_is_valid_host(s: &[u8]) -> bool {
        let reg = |b: u8| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        };
        let (host, port) = match s.first() {
            Some(b'[') => {
                let Some(close) = s.iter().position(|&b| b == b']') else {
                    return false;
                };
                let inner = &s[1..close];
                let port = match &s[close + 1..] {
                    [] => None,
                    [b':', port @ ..] => Some(port),
                    _ => return false,
                };
                if inner.is_empty() || !inner.iter().all(|&b| reg(b) || b == b':') {
                    return false;
                }
                (&s[..=close], port)
            }
            _ => match s.iter().position(|&b| b == b':') {
                Some(colon) => (&s[..colon], Some(&s[colon + 1..])),
                None => (s, None),
            },
        };
        if host.is_empty() || (host[0] != b'[' && !host.iter().all(|&b| reg(b))) {
            return false;
        }
        match port {
            None => true,
            Some(p) => {
                p.len() <= 5
                    && p.iter().all(u8::is_ascii_digit)
                    && p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
            }
        }
    }

    /// Every string over `alphabet` of at most `max` bytes.
    fn all_strings(alphabet: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..max {
            let mut next = Vec::new();
            for s in &last {
                for a in alphabet {
                    let mut t = s.clone();
                    t.extend_from_slice(a);
                    next.push(t);
                }
            }
            out.extend(next.iter().cloned());
            last = next;
        }
        out
    }

    #[test]
    fn host_check_matches_its_reference() {
        let alphabet: [&[u8]; 14] = [
            b"a", b"Z", b"1", b"9", b"-", b".", b":", b"[", b"]", b"%", b"@", b" ", b"\xff", b"0",
        ];
        let mut checked = 0;
        for s in all_strings(&alphabet, 4) {
            assert_eq!(
                is_valid_host(&s),
                reference_is_valid_host(&s),
                "{:?}",
                String::from_utf8_lossy(&s)
            );
            checked += 1;
        }
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let pieces: [&[u8]; 10] = [
            b"example.com",
            b":",
            b"65535",
            b"65536",
            b"[::1]",
            b"00080",
            b"x",
            b"]",
            b"[",
            b"/",
        ];
        for _ in 0..20_000 {
            let mut s = Vec::new();
            for _ in 0..rng.below(5) {
                s.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            assert_eq!(
                is_valid_host(&s),
                reference_is_valid_host(&s),
                "{:?}",
                String::from_utf8_lossy(&s)
            );
            checked += 1;
        }
        assert!(checked > 50_000);
    }

    /// The request-target rules as separate passes, as they were before the one-pass scan:
    /// Ok((path, query)) or Err for a 400.
    #[allow(clippy::type_complexity)]
    fn reference_target(t: &[u8], options: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ()> {
        if t.iter().any(|&b| b == b'#' || !b.is_ascii()) {
            return Err(());
        }
        if t == b"*" {
            return if options {
                Ok((t.to_vec(), None))
            } else {
                Err(())
            };
        }
        let path_start = match t.first() {
            Some(b'/') => 0,
            _ => {
                let scheme_len = if starts_with_ignore_case(t, b"http://") {
                    7
                } else if starts_with_ignore_case(t, b"https://") {
                    8
                } else {
                    return Err(());
                };
                let rest = &t[scheme_len..];
                let auth_len = rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
                if rest.get(auth_len) != Some(&b'/') || !reference_is_valid_host(&rest[..auth_len])
                {
                    return Err(());
                }
                scheme_len + auth_len
            }
        };
        let tail = &t[path_start..];
        let (path, query) = match tail.iter().position(|&b| b == b'?') {
            Some(q) => (&tail[..q], Some(tail[q + 1..].to_vec())),
            None => (tail, None),
        };
        let mut i = 0;
        while i < path.len() {
            match path[i] {
                b'\\' => return Err(()),
                b'%' => {
                    let hex = |j: usize| path.get(j).is_some_and(u8::is_ascii_hexdigit);
                    if !(hex(i + 1) && hex(i + 2)) {
                        return Err(());
                    }
                    i += 3;
                }
                _ => i += 1,
            }
        }
        Ok((path.to_vec(), query))
    }

    fn check_target(t: &[u8], method: &str) {
        let mut req = format!("{method} ").into_bytes();
        req.extend_from_slice(t);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        let expected = reference_target(t, method == "OPTIONS");
        let got = parse(&req);
        match (&expected, &got) {
            (Ok((path, query)), Ok((true, head))) => {
                assert_eq!(
                    head.path.of(&req),
                    &path[..],
                    "{:?}",
                    String::from_utf8_lossy(t)
                );
                assert_eq!(
                    head.query.map(|q| q.of(&req).to_vec()),
                    *query,
                    "{:?}",
                    String::from_utf8_lossy(t)
                );
            }
            (Err(()), Err(ErrorKind::BadRequest)) => {}
            // httparse refuses the target itself (spaces, controls): both sides refuse.
            (_, Err(ErrorKind::BadRequest)) if t.is_empty() => {}
            _ => panic!(
                "{:?}: reference {:?}, parser {:?}",
                String::from_utf8_lossy(t),
                expected,
                got.map(|(done, _)| done)
            ),
        }
    }

    #[test]
    fn target_scan_matches_the_separate_passes() {
        let alphabet: [&[u8]; 13] = [
            b"/",
            b"a",
            b"?",
            b"%",
            b"2",
            b"f",
            b"#",
            b"\\",
            b".",
            b"*",
            b":",
            b"\xc3\xa9",
            b"G",
        ];
        let mut checked = 0;
        for t in all_strings(&alphabet, 4) {
            check_target(&t, "GET");
            checked += 1;
        }
        for t in ["*", "*x", "/*"] {
            check_target(t.as_bytes(), "OPTIONS");
        }
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        let pieces: [&[u8]; 14] = [
            b"http://",
            b"HTTPS://",
            b"h:80",
            b"[::1]",
            b"/",
            b"?",
            b"%2F",
            b"%g",
            b"%",
            b"#",
            b"\\",
            b"a",
            b"\xc3\xa9",
            b"@",
        ];
        for _ in 0..20_000 {
            let mut t = Vec::new();
            for _ in 0..rng.below(7) {
                t.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            check_target(&t, "GET");
            checked += 1;
        }
        assert!(checked > 40_000);
    }

    // ---- the one-pass fast path against httparse ----

    /// The fast path's reading of `buf`, or `None` when it leaves `buf` to httparse:
    /// (method, target, version, head length, fields).
    #[allow(clippy::type_complexity)]
    fn fast(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>, u8, usize, Vec<(Span, Span)>)> {
        let mut head = Head::default();
        let (m, t, v, n) = fast_request_head(buf, &mut head)?;
        Some((m.of(buf).to_vec(), t.of(buf).to_vec(), v, n, head.headers))
    }

    /// httparse's reading of a complete head, with positions.
    #[allow(clippy::type_complexity)]
    fn by_httparse(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>, u8, usize, Vec<(Span, Span)>)> {
        let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        let mut req = httparse::Request::new(&mut slots);
        let n = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return None,
        };
        let fields = req
            .headers
            .iter()
            .map(|h| {
                (
                    span_of(buf, h.name.as_bytes()).unwrap_or_default(),
                    span_of(buf, h.value).unwrap_or_default(),
                )
            })
            .collect();
        Some((
            req.method?.as_bytes().to_vec(),
            req.path?.as_bytes().to_vec(),
            req.version?,
            n,
            fields,
        ))
    }

    /// Whatever the fast path reads, httparse reads the same (positions included).
    fn fast_agrees(buf: &[u8]) -> bool {
        match fast(buf) {
            Some(f) => {
                assert_eq!(
                    Some(&f),
                    by_httparse(buf).as_ref(),
                    "{:?}",
                    String::from_utf8_lossy(buf)
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn fast_path_reads_common_heads_as_httparse_does() {
        for buf in [
            &b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18223\r\n\r\n"[..],
            b"GET /a?b=c HTTP/1.0\r\n\r\n",
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Empty:\r\nX-Ws:  \t \r\nX-Trail: a b \t\r\n\r\nhello",
            b"GET / HTTP/1.1\r\nHost: h\r\nDate: Sun, 29 Nov 2026 18:12:06 GMT\r\nX:\ta\tb\t\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789abcdefghijklmnopqrstuvwxyz!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\r\n\r\n",
            b"M-SEARCH! /~ HTTP/1.1\r\n!#$%&'*+-.^_`|~09aZ: v\r\n\r\n",
        ] {
            assert!(fast_agrees(buf), "{:?}", String::from_utf8_lossy(buf));
        }
        // The spans are the ones the rest of the parser reads.
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Trail: a b \t\r\nX-Empty: \r\n\r\n";
        let h = ok(buf);
        assert_eq!(h.header(buf, "x-trail"), Some(&b"a b"[..]));
        assert_eq!(h.header(buf, "x-empty"), Some(&b""[..]));
        assert_eq!(h.host.map(|s| s.of(buf)), Some(&b"h"[..]));
    }

    #[test]
    fn fast_path_leaves_other_shapes_to_httparse() {
        for buf in [
            // LF-only line ends, a bare CR, obs-fold, obs-text, controls, DEL.
            &b"GET / HTTP/1.1\nHost: h\n\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\rX: y\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  fold\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789\xffabcdef\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: abcdefgh\x7fijklmnop\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n",
            // Request lines: empty lines first, other versions, double spaces, non-ASCII.
            b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
            // Field lines: no colon, space before the colon, an empty name, incomplete.
            b"GET / HTTP/1.1\r\nHost h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\n: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n\r",
            b"GET / HTTP/1.1\r\nHost: h",
            b"GET / HTT",
            b"",
        ] {
            assert!(fast(buf).is_none(), "{:?}", String::from_utf8_lossy(buf));
        }
        // The slow path then decides as before.
        ok(b"GET / HTTP/1.1\nHost: h\n\n");
        ok(b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n");
        ok(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  fold\r\n\r\n");
        bad(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n");
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: h\r\n"),
            Ok((false, _))
        ));
        // More fields than the slots: the fast path stops, httparse says 431.
        let mut many = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..HEADER_SLOTS {
            many.push_str(&format!("X-{i}: {i}\r\n"));
        }
        many.push_str("\r\n");
        assert!(fast(many.as_bytes()).is_none());
        assert_eq!(err(many.as_bytes()), ErrorKind::HeadersTooLarge);
        let mut exactly = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 1..HEADER_SLOTS {
            exactly.push_str(&format!("X-{i}: {i}\r\n"));
        }
        exactly.push_str("\r\n");
        assert!(fast_agrees(exactly.as_bytes()));
    }

    #[test]
    fn fast_path_agrees_with_httparse_on_mutated_heads() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        let templates: [&[u8]; 3] = [
            b"GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nDate: Sun, 29 Nov 2026 18:12:06 GMT\r\nX-Empty:\r\n\r\n",
            b"POST /items HTTP/1.0\r\nContent-Length: 5\r\nX-A: \t a  b \t\r\nConnection: keep-alive\r\n\r\nhello",
            b"PUT /0123456789abcdef/0123456789abcdef HTTP/1.1\r\nX-Longer-Name: 0123456789abcdef0123456789abcdef\r\n\r\n",
        ];
        let alphabet = b"\r\n \t:\x00\x01\x7f\x80\xffaZ9-/?*,;\"\\";
        let (mut fast_taken, mut left) = (0, 0);
        for _ in 0..30_000 {
            let mut buf = templates[rng.below(templates.len())].to_vec();
            for _ in 0..rng.below(4) {
                let at = rng.below(buf.len() + 1);
                let byte = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 if at < buf.len() => buf[at] = byte,
                    1 => buf.insert(at, byte),
                    _ if at < buf.len() => {
                        buf.remove(at);
                    }
                    _ => {}
                }
            }
            let cut = rng.below(buf.len() + 1);
            for b in [&buf[..], &buf[..cut]] {
                if fast_agrees(b) {
                    fast_taken += 1;
                } else {
                    left += 1;
                }
            }
        }
        // Both paths get exercised.
        assert!(fast_taken > 5_000 && left > 5_000, "{fast_taken} {left}");
    }

    #[test]
    fn special_bytes_finds_the_first_control_del_or_non_ascii_byte() {
        let special = |b: u8| !(0x20..0x7f).contains(&b);
        let first = |w: &[u8]| w.iter().position(|&b| special(b));
        let found = |w: &[u8]| {
            let flags = special_bytes(w);
            (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
        };
        // Every byte value at every position, alone and after another special byte.
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                assert_eq!(found(&w), first(&w), "{b:#x} at {pos}");
                for lower in [0u8, 0x1f, 0x7f, 0x80, b'\t', b'\r'] {
                    for at in 0..pos {
                        let mut v = w;
                        v[at] = lower;
                        assert_eq!(found(&v), first(&v), "{lower:#x}@{at} {b:#x}@{pos}");
                    }
                }
            }
        }
        let mut rng = XorShift(0xA076_1D64_78BD_642F);
        for _ in 0..200_000 {
            let x = rng.next().to_le_bytes();
            // Mostly printable, sometimes anything.
            let w: Vec<u8> = x
                .iter()
                .map(|&b| if b % 5 == 0 { b } else { b' ' + b % 95 })
                .collect();
            assert_eq!(found(&w), first(&w), "{w:?}");
        }
    }

    #[test]
    fn name_is_matches_eq_ignore_ascii_case_over_field_names() {
        let tchars: Vec<u8> = (0..=255u8).filter(|&b| TOKEN[usize::from(b)]).collect();
        for lower in [
            &b"te"[..],
            b"host",
            b"date",
            b"expect",
            b"trailer",
            b"connection",
            b"keep-alive",
            b"content-length",
            b"x-amzn-requestid",
            b"transfer-encoding",
            b"proxy-authorization",
        ] {
            // Every tchar at every position, in both cases of the name.
            for upper in [false, true] {
                let base: Vec<u8> = if upper {
                    lower.to_ascii_uppercase()
                } else {
                    lower.to_vec()
                };
                assert!(name_is(&base, lower));
                for pos in 0..base.len() {
                    for &b in &tchars {
                        let mut name = base.clone();
                        name[pos] = b;
                        assert_eq!(
                            name_is(&name, lower),
                            name.eq_ignore_ascii_case(lower),
                            "{:?} {:?}",
                            String::from_utf8_lossy(&name),
                            String::from_utf8_lossy(lower)
                        );
                    }
                }
            }
            // Other lengths never match.
            let mut longer = lower.to_vec();
            longer.push(b'x');
            assert!(!name_is(&longer, lower));
            assert!(!name_is(&lower[1..], lower));
        }
        assert!(name_is(b"", b""));
    }
}
