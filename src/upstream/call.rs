//! A buffered HTTP/1.1 call on the worker's runtime: send a request held in one owned
//! buffer, get the whole response (status, headers, body read fully up to a bound), before
//! a deadline, over the worker's keep-alive pool. For "ask and wait for the answer" uses:
//! Lambda authorizer endpoints, the Lambda Invoke API and AWS service calls; not for
//! proxying (the integration streams, `pipeline::integration`).
//!
//! The response head is parsed by `upstream::client` (the integrations' parser), chunked
//! bodies decoded by `http::chunked`. TLS comes with the [`Endpoint`] (the pool connects
//! and resumes TLS itself): a caller with a `rustls::ClientConfig` gets https for free.
//!
//! A pooled connection that fails before any response byte is replaced by a fresh one once
//! (the request is in our own buffer, so it can be sent again); the connection goes back
//! to the pool when the response was read whole and the upstream keeps it open.

use std::fmt;
use std::io;

use monoio::io::AsyncWriteRentExt;
use monoio::time::Instant;

use crate::http::chunked::{ChunkedDecoder, Step};
use crate::http::write::push_header;
use crate::upstream::client::{parse_response_head, ParsedResponse, ResponseFraming, ResponseHead};
use crate::upstream::pool::{Endpoint, UpstreamConn, Upstreams};

/// Interim (1xx) responses skipped per call; one more is an error.
const MAX_INTERIM: usize = 16;

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// No connection could be opened.
    Connect(io::Error),
    /// The deadline passed (connecting, sending or reading).
    TimedOut,
    /// The connection failed while the request or the response was on its way.
    Io(io::Error),
    /// The response is not valid HTTP/1.1 (the reason says what).
    Malformed(&'static str),
    /// The response body is longer than the call allows.
    TooLarge,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "cannot connect: {e}"),
            CallError::TimedOut => write!(f, "timed out"),
            CallError::Io(e) => write!(f, "connection failed: {e}"),
            CallError::Malformed(why) => write!(f, "malformed response: {why}"),
            CallError::TooLarge => write!(f, "response body too large"),
        }
    }
}

impl std::error::Error for CallError {}

/// A whole response.
#[derive(Debug)]
pub struct CallResponse {
    pub status: u16,
    /// The head's bytes; `fields` indexes them.
    head: Vec<u8>,
    fields: ResponseHead,
    pub body: Vec<u8>,
}

impl CallResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Every header, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.fields.headers.len()).map(|i| self.fields.header(&self.head, i))
    }
}

/// Write a request into `out` (cleared first): the request line, `Host`, the given
/// headers, `Content-Length` (when there is a body or the method usually has one), then the
/// body. `headers` must not hold framing headers.
pub fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    out.clear();
    out.reserve(64 + target.len() + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    push_header(out, b"host", host.as_bytes());
    for (name, value) in headers {
        push_header(out, name.as_bytes(), value.as_bytes());
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS") {
        let n = itoa(body.len());
        push_header(out, b"content-length", n.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Decimal text of `n` on the stack.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa(mut n: usize) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

/// Send `request` (a whole request: head and body, see [`write_request`]) to `endpoint`
/// and read the whole response, all before `deadline`; a body longer than `max_body` is
/// refused. `request` is given back as it was, unless the deadline passed while it was
/// being written.
pub async fn call(
    pool: &Upstreams,
    endpoint: &Endpoint<'_>,
    request: &mut Vec<u8>,
    deadline: Instant,
    max_body: usize,
) -> Result<CallResponse, CallError> {
    let started = Instant::now();
    let sent_head = request.starts_with(b"HEAD ");
    let mut pooled = pool.take(endpoint, started);
    loop {
        let mut up = match pooled.take() {
            Some(c) => c,
            None => UpstreamConn::connect(endpoint, deadline, started)
                .await
                .map_err(|e| match e.kind() {
                    io::ErrorKind::TimedOut => CallError::TimedOut,
                    _ => CallError::Connect(e),
                })?,
        };
        up.serving(started);
        match exchange(&mut up, request, deadline, max_body, sent_head).await {
            Ok((response, reusable)) => {
                if reusable {
                    pool.put(endpoint, up);
                }
                return Ok(response);
            }
            // A pooled connection the upstream had closed: once more on a new one.
            Err(Failure::Stale(_)) if up.reused => continue,
            Err(Failure::Stale(e)) => return Err(CallError::Io(e)),
            Err(Failure::Call(e)) => return Err(e),
        }
    }
}

enum Failure {
    /// Failed before any response byte.
    Stale(io::Error),
    Call(CallError),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

/// One request and its response on `up`; with whether `up` can carry another.
async fn exchange(
    up: &mut UpstreamConn,
    request: &mut Vec<u8>,
    deadline: Instant,
    max_body: usize,
    sent_head: bool,
) -> Result<(CallResponse, bool), Failure> {
    let buf = std::mem::take(request);
    let (res, buf) = match up
        .deadline
        .race_until(deadline, up.stream.write_all(buf))
        .await
    {
        Ok(r) => r,
        // The buffer went with the cancelled write.
        Err(_) => return Err(CallError::TimedOut.into()),
    };
    *request = buf;
    res.map_err(Failure::Stale)?;

    let mut fields = ResponseHead::default();
    let mut got_bytes = false;
    let mut interim = 0usize;
    let framing = loop {
        if !up.rbuf.is_empty() {
            got_bytes = true;
            match parse_response_head(&up.rbuf, sent_head, &mut fields) {
                Ok(ParsedResponse::Complete(framing)) => break framing,
                Ok(ParsedResponse::Interim(n)) => {
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(CallError::Malformed("too many interim responses").into());
                    }
                    up.consume(n);
                    continue;
                }
                Ok(ParsedResponse::Partial) => {}
                Err(why) => return Err(CallError::Malformed(why).into()),
            }
        }
        match up.read_more_until(deadline).await {
            Ok(0) if !got_bytes => return Err(Failure::Stale(io::ErrorKind::UnexpectedEof.into())),
            Ok(0) => return Err(CallError::Malformed("closed inside the response head").into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(CallError::TimedOut.into()),
            Err(e) if !got_bytes => return Err(Failure::Stale(e)),
            Err(e) => return Err(CallError::Io(e).into()),
        }
    };
    let head = up.rbuf[..fields.head_len].to_vec();
    up.consume(fields.head_len);
    let body = read_body(up, framing, deadline, max_body).await?;
    let reusable =
        fields.keep_alive && framing != ResponseFraming::UntilClose && up.rbuf.is_empty();
    Ok((
        CallResponse {
            status: fields.status,
            head,
            fields,
            body,
        },
        reusable,
    ))
}

async fn read_more(up: &mut UpstreamConn, deadline: Instant) -> Result<usize, CallError> {
    up.read_more_until(deadline)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => CallError::TimedOut,
            _ => CallError::Io(e),
        })
}

async fn read_body(
    up: &mut UpstreamConn,
    framing: ResponseFraming,
    deadline: Instant,
    max_body: usize,
) -> Result<Vec<u8>, CallError> {
    match framing {
        ResponseFraming::None => Ok(Vec::new()),
        ResponseFraming::Length(n) => {
            if n > max_body as u64 {
                return Err(CallError::TooLarge);
            }
            let n = n as usize;
            while up.rbuf.len() < n {
                if read_more(up, deadline).await? == 0 {
                    return Err(CallError::Malformed("closed inside the body"));
                }
            }
            let body = up.rbuf[..n].to_vec();
            up.consume(n);
            Ok(body)
        }
        ResponseFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(max_body as u64);
            let mut body = Vec::new();
            loop {
                match decoder.decode(&up.rbuf) {
                    Ok(Step::Data { start, end }) => {
                        body.extend_from_slice(&up.rbuf[start..end]);
                        up.consume(end);
                    }
                    Ok(Step::NeedMore { consumed }) => {
                        up.consume(consumed);
                        if read_more(up, deadline).await? == 0 {
                            return Err(CallError::Malformed("closed inside the chunked body"));
                        }
                    }
                    Ok(Step::Done { consumed }) => {
                        up.consume(consumed);
                        return Ok(body);
                    }
                    Err(crate::error::ErrorKind::RequestTooLarge) => {
                        return Err(CallError::TooLarge)
                    }
                    Err(_) => return Err(CallError::Malformed("malformed chunked body")),
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            if up.rbuf.len() > max_body {
                return Err(CallError::TooLarge);
            }
            if read_more(up, deadline).await? == 0 {
                return Ok(std::mem::take(&mut up.rbuf));
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::upstream::pool::{PoolKey, IDLE_TIMEOUT, NO_GROUP};

    /// A real local server: each accepted connection is handed to `serve` on its own
    /// thread; counts connections. The listener thread ends with the test process.
    fn server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let serve = Arc::new(serve);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let serve = Arc::clone(&serve);
                std::thread::spawn(move || serve(conn));
            }
        });
        (addr, accepted)
    }

    /// Read one request (head, and a Content-Length body); `None` at end of stream.
    fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => buf.push(byte[0]),
                _ => return None,
            }
        }
        let head = String::from_utf8(buf).ok()?;
        let len = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).ok()?;
        Some((head, body))
    }

    /// Answer every request on the connection with `respond(head, body)`.
    fn each_request(
        respond: impl Fn(&str, &[u8]) -> Vec<u8> + Send + Sync + 'static,
    ) -> impl Fn(TcpStream) + Send + Sync + 'static {
        move |mut conn| {
            while let Some((head, body)) = read_request(&mut conn) {
                if conn.write_all(&respond(&head, &body)).is_err() {
                    return;
                }
            }
        }
    }

    fn endpoint(addr: SocketAddr) -> Endpoint<'static> {
        Endpoint {
            key: PoolKey {
                addr,
                group: NO_GROUP,
            },
            tls: None,
            proxy_v2: None,
            max_idle: 8,
            idle_timeout: IDLE_TIMEOUT,
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn post(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "POST",
            "/auth",
            "127.0.0.1",
            &[("content-type", "application/json")],
            body,
        );
        out
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn request_bytes() {
        let mut out = Vec::new();
        write_request(&mut out, "POST", "/a?b=c", "h:81", &[("x-a", "1")], b"{}");
        assert_eq!(
            out,
            b"POST /a?b=c HTTP/1.1\r\nhost: h:81\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n{}"
        );
        write_request(&mut out, "GET", "/", "h", &[], b"");
        assert_eq!(out, b"GET / HTTP/1.1\r\nhost: h\r\n\r\n");
        write_request(&mut out, "POST", "/", "h", &[], b"");
        assert_eq!(
            out,
            b"POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(itoa(1234567).as_bytes(), b"1234567");
        assert_eq!(itoa(0).as_bytes(), b"0");
    }

    #[test]
    fn whole_response_over_one_kept_connection() {
        let (addr, accepted) = server(each_request(|head, body| {
            assert!(head.starts_with("POST /auth HTTP/1.1\r\n"), "{head}");
            let answer = format!("{{\"got\":{}}}", body.len());
            format!(
                "HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .into_bytes()
        }));
        let pool = Upstreams::default();
        let ep = endpoint(addr);
        run(async {
            for round in 0..3 {
                let mut req = post(br#"{"type":"TOKEN"}"#);
                let r = call(&pool, &ep, &mut req, soon(), 1024)
                    .await
                    .expect("answer");
                assert_eq!(r.status, 200);
                assert_eq!(r.body, br#"{"got":16}"#, "round {round}");
                assert_eq!(r.header("x-amz-function-error"), Some(&b"Unhandled"[..]));
                assert_eq!(r.header("missing"), None);
                assert_eq!(r.headers().count(), 2);
                assert_eq!(
                    req,
                    post(br#"{"type":"TOKEN"}"#),
                    "the request is given back"
                );
            }
        });
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
        assert_eq!(pool.idle_count(), 1);
    }

    #[test]
    fn chunked_and_interim_responses() {
        let (addr, _) = server(each_request(|_, _| {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nX-Trailer: t\r\n\r\n".to_vec()
        }));
        let pool = Upstreams::default();
        run(async {
            let mut req = post(b"{}");
            let r = call(&pool, &endpoint(addr), &mut req, soon(), 1024)
                .await
                .expect("answer");
            assert_eq!(r.status, 200);
            assert_eq!(r.body, b"Wikipedia ");
            // Too large, chunked.
            let e = call(&pool, &endpoint(addr), &mut req, soon(), 5).await;
            assert!(matches!(e, Err(CallError::TooLarge)), "{e:?}");
        });
    }

    #[test]
    fn until_close_bodies_and_their_connections() {
        let (addr, accepted) = server(|mut conn| {
            if read_request(&mut conn).is_some() {
                let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"message\":\"no\"}");
            }
        });
        let pool = Upstreams::default();
        run(async {
            for _ in 0..2 {
                let mut req = post(b"{}");
                let r = call(&pool, &endpoint(addr), &mut req, soon(), 1024)
                    .await
                    .expect("answer");
                assert_eq!(r.status, 401);
                assert_eq!(r.body, br#"{"message":"no"}"#);
            }
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "not pooled");
        assert_eq!(pool.idle_count(), 0);
    }

    #[test]
    fn bodies_over_the_bound_are_refused() {
        let (addr, _) = server(each_request(|_, _| {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
            r.extend_from_slice(&[b'x'; 1000]);
            r
        }));
        let pool = Upstreams::default();
        run(async {
            let mut req = post(b"{}");
            let e = call(&pool, &endpoint(addr), &mut req, soon(), 999).await;
            assert!(matches!(e, Err(CallError::TooLarge)), "{e:?}");
            let r = call(&pool, &endpoint(addr), &mut req, soon(), 1000)
                .await
                .expect("fits");
            assert_eq!(r.body.len(), 1000);
        });
    }

    #[test]
    fn a_silent_upstream_times_out() {
        let (addr, _) = server(|mut conn| {
            let _ = read_request(&mut conn);
            std::thread::sleep(Duration::from_secs(3));
        });
        let pool = Upstreams::default();
        run(async {
            let mut req = post(b"{}");
            let started = std::time::Instant::now();
            let deadline = Instant::now() + Duration::from_millis(200);
            let e = call(&pool, &endpoint(addr), &mut req, deadline, 1024).await;
            assert!(matches!(e, Err(CallError::TimedOut)), "{e:?}");
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(200) && took < Duration::from_secs(2),
                "{took:?}"
            );
        });
    }

    #[test]
    fn a_closed_pooled_connection_is_replaced() {
        // One response per connection, advertised as kept alive, then closed.
        let (addr, accepted) = server(|mut conn| {
            if read_request(&mut conn).is_some() {
                let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            }
        });
        let pool = Upstreams::default();
        run(async {
            for _ in 0..3 {
                let mut req = post(b"{}");
                let r = call(&pool, &endpoint(addr), &mut req, soon(), 1024)
                    .await
                    .expect("answer");
                assert_eq!(r.status, 204);
                assert!(r.body.is_empty());
                // Let the server's close arrive.
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn errors_before_any_answer() {
        // Nobody listens.
        let free = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("addr");
        let pool = Upstreams::default();
        run(async {
            let mut req = post(b"{}");
            let e = call(&pool, &endpoint(free), &mut req, soon(), 1024).await;
            assert!(matches!(e, Err(CallError::Connect(_))), "{e:?}");
        });
        // A server that closes without answering.
        let (addr, _) = server(|mut conn| {
            let _ = read_request(&mut conn);
        });
        run(async {
            let mut req = post(b"{}");
            let e = call(&pool, &endpoint(addr), &mut req, soon(), 1024).await;
            assert!(matches!(e, Err(CallError::Io(_))), "{e:?}");
        });
        // Garbage.
        let (addr, _) = server(each_request(|_, _| b"SMTP ready\r\n\r\n".to_vec()));
        run(async {
            let mut req = post(b"{}");
            let e = call(&pool, &endpoint(addr), &mut req, soon(), 1024).await;
            assert!(matches!(e, Err(CallError::Malformed(_))), "{e:?}");
        });
    }
}
