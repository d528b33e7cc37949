//! A small blocking HTTP/1.1 GET client for the key service thread (OIDC discovery
//! documents and JWKS): std::net with timeouts, rustls for https, one request per
//! connection (`Connection: close`), bounded bodies, up to 3 redirects.
//!
//! Plain `http://` is allowed only to loopback hosts (`localhost`, 127.0.0.0/8, `::1`):
//! keys fetched in clear text from elsewhere could be anyone's. Never used on a worker.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::http::chunked::{ChunkedDecoder, Step};

/// Longest response head read.
const MAX_HEAD: usize = 32 * 1024;
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 3;

/// Why a fetch failed (for the logs; the key service keeps the old keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

fn err(msg: impl Into<String>) -> FetchError {
    FetchError(msg.into())
}

/// A parsed `http(s)://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, FetchError> {
        let (https, rest) = if let Some(r) = strip_prefix_ci(text, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(text, "http://") {
            (false, r)
        } else {
            return Err(err(format!("`{text}` is not an http(s) URL")));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(err(format!(
                "`{text}`: credentials in URLs are not supported"
            )));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| err(format!("`{text}`: unclosed IPv6 literal")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p, text)?,
                None if after.is_empty() => default_port,
                None => return Err(err(format!("`{text}`: bad authority"))),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), parse_port(p, text)?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() || target.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(err(format!("`{text}`: bad URL")));
        }
        Ok(Url {
            https,
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// Whether the host is this machine (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.https { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `location` resolved against this URL (absolute, or an absolute path).
    fn join(&self, location: &str) -> Result<Url, FetchError> {
        if location.starts_with('/') && !location.starts_with("//") {
            let mut u = self.clone();
            u.target = location.to_owned();
            Ok(u)
        } else {
            Url::parse(location)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_port(p: &str, text: &str) -> Result<u16, FetchError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| err(format!("`{text}`: bad port")))
}

/// A response to a GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` in seconds; `Some(0)` for `no-cache` / `no-store`.
    pub max_age: Option<u64>,
}

/// How to fetch: timeouts, body bound, TLS trust.
#[derive(Debug, Clone)]
pub struct Client {
    pub timeout: Duration,
    pub max_body: usize,
    /// Trust for https; `None`: https URLs fail.
    pub tls: Option<Arc<ClientConfig>>,
}

impl Client {
    /// GET `url`, following redirects; any final status is returned (the caller decides).
    pub fn get(&self, url: &str) -> Result<Response, FetchError> {
        let mut url = Url::parse(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let (resp, location) = self.get_once(&url)?;
            match (resp.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(loc)) => url = url.join(&loc)?,
                _ => return Ok(resp),
            }
        }
        Err(err(format!("more than {MAX_REDIRECTS} redirects")))
    }

    fn get_once(&self, url: &Url) -> Result<(Response, Option<String>), FetchError> {
        if !url.https && !url.is_loopback() {
            return Err(err(format!(
                "http://{}: plain http is allowed only to loopback hosts; use https",
                url.host_header()
            )));
        }
        let addrs: Vec<_> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| err(format!("{}: cannot resolve: {e}", url.host)))?
            .collect();
        let mut last = err(format!("{}: no address", url.host));
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = err(format!("{}: connect {a}: {e}", url.host_header())),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let io = |e: std::io::Error| err(format!("{}: {e}", url.host_header()));
        tcp.set_read_timeout(Some(self.timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: tollgate\r\nConnection: close\r\n\r\n",
            url.target,
            url.host_header()
        );
        let limit = MAX_HEAD + self.max_body;
        let raw = if url.https {
            let config = self
                .tls
                .clone()
                .ok_or_else(|| err("no TLS trust roots for https"))?;
            let name = ServerName::try_from(url.host.clone())
                .map_err(|e| err(format!("{}: {e}", url.host)))?;
            let conn = rustls::ClientConnection::new(config, name)
                .map_err(|e| err(format!("{}: {e}", url.host)))?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            tls.write_all(request.as_bytes()).map_err(io)?;
            read_all(&mut tls, limit).map_err(io)?
        } else {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes()).map_err(io)?;
            read_all(&mut tcp, limit).map_err(io)?
        };
        parse_response(&raw, self.max_body)
            .map_err(|e| err(format!("{}: {}", url.host_header(), e.0)))
    }
}

/// Read to EOF (or the limit, an error). A TLS peer that closes without close_notify
/// still ends the body here: the framing check in `parse_response` catches truncation.
fn read_all(r: &mut impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(8192);
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len() + n > limit {
                    return Err(std::io::Error::other("response too large"));
                }
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out)
            }
            Err(e) => return Err(e),
        }
    }
}

/// Parse a whole response (head and body up to EOF).
pub fn parse_response(
    raw: &[u8],
    max_body: usize,
) -> Result<(Response, Option<String>), FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(err("response head cut short")),
        Err(e) => return Err(err(format!("bad response head: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let mut chunked = false;
    let mut length = None;
    let mut max_age = None;
    let mut location = None;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| err("bad Content-Length"))?,
            );
        } else if h.name.eq_ignore_ascii_case("cache-control") {
            max_age = cache_max_age(value).or(max_age);
        } else if h.name.eq_ignore_ascii_case("location") {
            location = Some(value.to_owned());
        }
    }
    let rest = &raw[head_len..];
    let body = if chunked {
        let mut dec = ChunkedDecoder::new(max_body as u64);
        let mut body = Vec::new();
        let mut input = rest;
        loop {
            match dec.decode(input) {
                Ok(Step::Data { start, end }) => {
                    body.extend_from_slice(&input[start..end]);
                    input = &input[end..];
                }
                Ok(Step::Done { .. }) => break,
                Ok(Step::NeedMore { .. }) => return Err(err("chunked body cut short")),
                Err(_) => return Err(err("bad chunked body (or over the size limit)")),
            }
        }
        body
    } else if let Some(n) = length {
        if n > max_body {
            return Err(err("body over the size limit"));
        }
        rest.get(..n)
            .ok_or_else(|| err("body shorter than its Content-Length"))?
            .to_vec()
    } else {
        if rest.len() > max_body {
            return Err(err("body over the size limit"));
        }
        rest.to_vec()
    };
    Ok((
        Response {
            status,
            body,
            max_age,
        },
        location,
    ))
}

/// `max-age` of a Cache-Control value (`Some(0)` for `no-cache` / `no-store`).
pub fn cache_max_age(value: &str) -> Option<u64> {
    let mut found = None;
    for d in value.split(',') {
        let d = d.trim();
        let (name, arg) = match d.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (d, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            found = arg.and_then(|a| a.parse::<u64>().ok());
        }
    }
    found
}
