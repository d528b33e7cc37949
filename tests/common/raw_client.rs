//! A raw HTTP/1.1 keep-alive client for the allocations-per-request tests (no allocation of
//! its own per request). Include it with `#[path = "common/raw_client.rs"] mod raw_client;`.

use std::io::{Read, Write};
use std::net::TcpStream;

/// The length of the response at the start of `buf` (head plus Content-Length body), once
/// its head is complete.
pub fn response_len(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &buf[..end];
    let key = b"content-length: ";
    let at = head
        .windows(key.len())
        .position(|w| w.eq_ignore_ascii_case(key))?
        + key.len();
    let mut n = 0usize;
    for &b in &head[at..] {
        if !b.is_ascii_digit() {
            break;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(end + n)
}

/// Send `req` and read one whole 200 response into `buf`; returns its length.
pub fn request(client: &mut TcpStream, req: &[u8], buf: &mut [u8]) -> usize {
    client.write_all(req).expect("write request");
    let mut have = 0;
    loop {
        let n = client.read(&mut buf[have..]).expect("read response");
        assert!(n > 0, "gateway closed the connection");
        have += n;
        if let Some(total) = response_len(&buf[..have]) {
            if have >= total {
                assert!(
                    buf.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&buf[..have])
                );
                return have;
            }
        }
    }
}
