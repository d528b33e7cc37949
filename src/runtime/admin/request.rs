//! Reading one admin request: bounded in size (head and body) and in time (one deadline for
//! the whole request, not per read), so a slow or malformed client cannot hold a handler.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::reply::Reply;

/// Longest request head.
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest request body (read and ignored: no admin route takes one).
pub const MAX_BODY: u64 = 64 * 1024;
/// Most header lines.
const MAX_HEADERS: usize = 32;
/// How long a client has to send its whole request.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);

/// What the admin API needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    /// The `Authorization` header's value, if sent (the last one wins nothing: two are a
    /// 400).
    pub authorization: Option<String>,
    /// The declared body length (`content-length`), read and discarded.
    pub body_len: u64,
}

/// A complete request head at the start of `buf`: the request and the head's length;
/// `Ok(None)` while it is incomplete; an error reply (400, 413, 431) when it can never be
/// served.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, Reply> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(Reply::message(431, "Request Header Fields Too Large"))
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Reply::message(431, "Request Header Fields Too Large"))
        }
        Err(e) => return Err(Reply::message(400, &format!("Bad Request: {e}"))),
    };
    if len > MAX_HEAD {
        return Err(Reply::message(431, "Request Header Fields Too Large"));
    }
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("");
    if !target.starts_with('/') {
        return Err(Reply::message(
            400,
            "Bad Request: the target must be a path",
        ));
    }
    let path = target.split(['?', '#']).next().unwrap_or("").to_string();
    let mut authorization = None;
    let mut body_len: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                return Err(Reply::message(
                    400,
                    "Bad Request: more than one authorization header",
                ));
            }
            let value = std::str::from_utf8(h.value)
                .map_err(|_| Reply::message(400, "Bad Request: authorization is not text"))?;
            authorization = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| Reply::message(400, "Bad Request: invalid content-length"))?;
            if body_len.is_some_and(|m| m != n) {
                return Err(Reply::message(
                    400,
                    "Bad Request: conflicting content-length",
                ));
            }
            body_len = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Reply::message(
                400,
                "Bad Request: transfer-encoding is not accepted; send content-length",
            ));
        }
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > MAX_BODY {
        return Err(Reply::message(413, "Request Entity Too Large"));
    }
    Ok(Some((
        Request {
            method,
            path,
            authorization,
            body_len,
        },
        len,
    )))
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed (or timed out) before a complete request: nothing to answer.
    Gone(io::Error),
    /// The request can never be served: answer this and close.
    Refused(Reply),
}

/// Read one request from `stream` within `deadline` (its head, then its body, discarded).
pub fn read_request(stream: &mut TcpStream, deadline: Duration) -> Result<Request, ReadError> {
    let until = Instant::now() + deadline;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (request, head_len) = loop {
        read_some(stream, &mut chunk, &mut buf, until)?;
        if let Some(done) = parse_head(&buf).map_err(ReadError::Refused)? {
            break done;
        }
    };
    let mut body_seen = (buf.len() - head_len) as u64;
    while body_seen < request.body_len {
        let before = buf.len();
        read_some(stream, &mut chunk, &mut buf, until)?;
        body_seen += (buf.len() - before) as u64;
        buf.truncate(head_len);
    }
    Ok(request)
}

/// One read into `buf` with what is left of the deadline; EOF, timeout and errors are `Gone`.
fn read_some(
    stream: &mut TcpStream,
    chunk: &mut [u8],
    buf: &mut Vec<u8>,
    until: Instant,
) -> Result<(), ReadError> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Gone(io::ErrorKind::TimedOut.into()));
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(ReadError::Gone)?;
    match stream.read(chunk) {
        Ok(0) => Err(ReadError::Gone(io::ErrorKind::UnexpectedEof.into())),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) => Err(ReadError::Gone(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn parsed(text: &str) -> Request {
        match parse_head(text.as_bytes()) {
            Ok(Some((r, n))) => {
                assert_eq!(n, text.find("\r\n\r\n").expect("complete") + 4);
                r
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn refused(text: &[u8]) -> u16 {
        match parse_head(text) {
            Err(r) => r.status,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn heads_parse_into_method_path_and_token() {
        let r = parsed("POST /reload?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc\r\ncontent-length: 3\r\n\r\n");
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/reload");
        assert_eq!(r.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(r.body_len, 3);
        let r = parsed("GET /health/live HTTP/1.0\r\n\r\n");
        assert_eq!(
            (r.path.as_str(), r.authorization, r.body_len),
            ("/health/live", None, 0)
        );
        assert!(matches!(
            parse_head(b"GET /health/live HTTP/1.1\r\nhost"),
            Ok(None)
        ));
        assert!(matches!(parse_head(b""), Ok(None)));
    }

    #[test]
    fn malformed_oversized_and_ambiguous_heads_are_refused() {
        assert_eq!(refused(b"GET\x01 / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused(b"GET * HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused(b"GET http://x/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\ncontent-length: 65537\r\n\r\n"),
            413
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nauthorization: a\r\nauthorization: b\r\n\r\n"),
            400
        );
        let many: String = (0..40).map(|i| format!("x{i}: y\r\n")).collect();
        assert_eq!(
            refused(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        let long = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(refused(long.as_bytes()), 431);
    }

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (s, _) = l.accept().expect("accept");
        (c, s)
    }

    #[test]
    fn a_request_and_its_body_are_read_over_several_packets() {
        let (mut c, mut s) = pair();
        let t = std::thread::spawn(move || {
            for part in [
                &b"POST /reload HT"[..],
                b"TP/1.1\r\ncontent-length: 5\r\n\r\nab",
                b"cde",
            ] {
                c.write_all(part).expect("write");
                std::thread::sleep(Duration::from_millis(5));
            }
            c
        });
        let r = read_request(&mut s, Duration::from_secs(5)).expect("a request");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.body_len),
            ("POST", "/reload", 5)
        );
        drop(t.join());
    }

    #[test]
    fn a_client_that_stops_sending_is_dropped_at_the_deadline() {
        let (mut c, mut s) = pair();
        c.write_all(b"GET /health/live HTTP/1.1\r\n")
            .expect("write");
        // The deadline covers the whole request: here it has passed before the head ends.
        match read_request(&mut s, Duration::from_millis(50)) {
            Err(ReadError::Gone(e)) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
        drop(c);
        let (c, mut s) = pair();
        drop(c);
        assert!(matches!(
            read_request(&mut s, READ_DEADLINE),
            Err(ReadError::Gone(_))
        ));
    }
}
