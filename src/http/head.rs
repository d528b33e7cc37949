//! The parsed request head: offsets into the connection's read buffer, so nothing is
//! copied and nothing borrows the buffer across `.await` points. Read a field with
//! `head.x.of(&buf)`. One `Head` lives per connection and is reused per request.

/// A byte range `[start, end)` in the connection's read buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn of<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    /// The span as text. Spans are only ever made over bytes httparse accepted as tokens or
    /// path characters (ASCII), so this never fails for method/path/query spans; header values
    /// may hold obs-text, for which this returns "".
    pub fn str<'b>(&self, buf: &'b [u8]) -> &'b str {
        std::str::from_utf8(self.of(buf)).unwrap_or("")
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Request methods API Gateway knows (plus `Other` for anything else, which matches no route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
    /// RFC 9110 idempotent methods (safe to retry on a fresh upstream connection).
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
        )
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFraming {
    /// No body (no Content-Length and no Transfer-Encoding, or Content-Length: 0).
    #[default]
    None,
    /// `Content-Length: n`, n > 0.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed, validated request head. All spans point into the read buffer that was parsed.
#[derive(Debug, Default)]
pub struct Head {
    /// Bytes of request line + headers + the blank line.
    pub head_len: usize,
    pub method: Option<Method>,
    pub method_span: Span,
    /// The whole request-target as sent.
    pub target: Span,
    /// The path part of the target (always starts with `/`; absolute-form is reduced to it).
    pub path: Span,
    /// The query string without the `?`, if any.
    pub query: Option<Span>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// Every header as (name, value), in order, including the hop-by-hop ones.
    pub headers: Vec<(Span, Span)>,
    /// The Host header value (or the authority of an absolute-form target).
    pub host: Option<Span>,
    pub body: BodyFraming,
    /// Whether the connection may stay open after this request (version + `Connection`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl Head {
    pub fn clear(&mut self) {
        self.head_len = 0;
        self.method = None;
        self.method_span = Span::default();
        self.target = Span::default();
        self.path = Span::default();
        self.query = None;
        self.version_minor = 1;
        self.headers.clear();
        self.host = None;
        self.body = BodyFraming::None;
        self.keep_alive = true;
        self.expect_continue = false;
    }

    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Other)
    }

    /// Does any of the request's `Connection` field lines list `name` (so the header
    /// `name` is hop-by-hop for this request)?
    pub fn connection_lists(&self, buf: &[u8], name: &[u8]) -> bool {
        connection_lists(
            self.headers.iter().map(|(n, v)| (n.of(buf), v.of(buf))),
            name,
        )
    }

    /// Remove the header fields whose names `drop` picks (in place: nothing allocates, the
    /// order of the others is kept). Spans already taken from them (e.g. `host`) stay.
    pub fn drop_headers(&mut self, buf: &[u8], mut drop: impl FnMut(&[u8]) -> bool) {
        self.headers.retain(|(name, _)| !drop(name.of(buf)));
    }

    /// The first header value with this name (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.of(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.of(buf))
    }
}

/// Does one `Connection` field value list `name` among its comma-separated tokens (ASCII
/// case-insensitive, optional whitespace around each)? RFC 9110 §7.6.1: a message's
/// `Connection` options are the union over ALL its `Connection` field lines, so callers ask
/// this of every line (see [`Head::connection_lists`], or [`connection_lists`] for any list
/// of fields, e.g. a response's).
pub fn lists_token(connection: &[u8], name: &[u8]) -> bool {
    connection
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

/// Does any `Connection` field among `fields` (name, value) list `name`? Allocation-free;
/// for requests and responses alike.
pub fn connection_lists<'a>(
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    name: &[u8],
) -> bool {
    fields
        .into_iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(b"connection") && lists_token(v, name))
}

/// Do two header names read alike once ASCII case is ignored and every byte other than a
/// letter or digit is read as `-`? CGI and WSGI servers turn `-` and `_` into `_`
/// (`HTTP_X_NAME`), and PHP also `.` and more, so names equal up to such punctuation reach
/// an application as one variable.
pub fn same_name_modulo_punctuation(a: &[u8], b: &[u8]) -> bool {
    let norm = |c: &u8| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            b'-'
        }
    };
    a.len() == b.len() && a.iter().map(norm).eq(b.iter().map(norm))
}

/// Is this header one of the fixed hop-by-hop set (never forwarded)? The names a message's
/// `Connection` fields list are hop-by-hop too: see [`connection_lists`].
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_reads_its_range() {
        let buf = b"GET /a HTTP/1.1";
        let s = Span::new(4, 6);
        assert_eq!(s.of(buf), b"/a");
        assert_eq!(s.str(buf), "/a");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn methods_and_hop_by_hop() {
        assert_eq!(Method::from_bytes(b"PATCH"), Method::Patch);
        assert_eq!(Method::from_bytes(b"get"), Method::Other);
        assert!(is_hop_by_hop(b"Transfer-Encoding"));
        assert!(!is_hop_by_hop(b"content-length"));
    }

    #[test]
    fn connection_options_come_from_every_connection_line() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nX-Api-Key: k\r\nconnection: x-a ,\tX-Api-Key\r\nCONNECTION:\r\n\r\n";
        let mut head = Head::default();
        let limits = crate::http::limits::HttpLimits::default();
        assert_eq!(
            crate::http::parse::parse_request_head(buf, &limits, &mut head),
            Ok(true)
        );
        assert_eq!(head.headers[3].0.of(buf), b"connection");
        assert_eq!(head.headers[3].1.of(buf), b"x-a ,\tX-Api-Key");
        assert!(head.connection_lists(buf, b"x-api-key"));
        assert!(head.connection_lists(buf, b"X-A"));
        assert!(head.connection_lists(buf, b"keep-alive"));
        assert!(!head.connection_lists(buf, b"x-b"));
        assert!(lists_token(b"a, b,c", b"B"));
        assert!(!lists_token(b"ab", b"a"));
        let fields: [(&[u8], &[u8]); 2] = [(b"Connection", b"close"), (b"Connection", b"X-Secret")];
        assert!(connection_lists(fields, b"x-secret"));
        assert!(same_name_modulo_punctuation(
            b"X_Client_Cert-Subject",
            b"x-client-cert-subject"
        ));
        assert!(same_name_modulo_punctuation(b"x-a", b"X_A"));
        assert!(!same_name_modulo_punctuation(
            b"x-client-cert-subjec",
            b"x-client-cert-subject"
        ));
        assert!(same_name_modulo_punctuation(b"x.a", b"x-a"));
        assert!(same_name_modulo_punctuation(
            b"x.client!cert~subject",
            b"x-client-cert-subject"
        ));
        assert!(!same_name_modulo_punctuation(b"xa", b"x-a"));
        assert!(!connection_lists(
            [(&b"X-Secret"[..], &b"x"[..])],
            b"x-secret"
        ));
    }
}
