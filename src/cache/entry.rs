//! A cached response: one immutable allocation holding the response head (status line and
//! the upstream's headers, without framing, `Date` or request id) followed by the body.
//! Shared as `Arc<CachedResponse>` by every worker; a hit writes its two parts straight from
//! it (see `cache::hit`), so the body is never copied.

/// The largest body API Gateway caches (1 MB).
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug)]
pub struct CachedResponse {
    bytes: Vec<u8>,
    head_len: usize,
    status: u16,
}

impl CachedResponse {
    /// `bytes` holds the head block (`HTTP/1.1 200 OK\r\n` and header lines, each ending in
    /// CRLF, no blank line) in `..head_len`, then the body.
    pub fn new(status: u16, bytes: Vec<u8>, head_len: usize) -> Self {
        let head_len = head_len.min(bytes.len());
        CachedResponse {
            bytes,
            head_len,
            status,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn head(&self) -> &[u8] {
        &self.bytes[..self.head_len]
    }

    pub fn body(&self) -> &[u8] {
        &self.bytes[self.head_len..]
    }

    /// The bytes it occupies (charged against the stage's capacity).
    pub fn size(&self) -> usize {
        self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_body_split() {
        let r = CachedResponse::new(200, b"HTTP/1.1 200 OK\r\na: b\r\nBODY".to_vec(), 23);
        assert_eq!(r.head(), b"HTTP/1.1 200 OK\r\na: b\r\n");
        assert_eq!(r.body(), b"BODY");
        assert_eq!(r.status(), 200);
        // A head length past the end is clamped, never a panic.
        let r = CachedResponse::new(200, b"abc".to_vec(), 10);
        assert_eq!((r.head(), r.body()), (&b"abc"[..], &b""[..]));
    }
}
