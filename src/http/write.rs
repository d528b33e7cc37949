//! Writing response heads and API Gateway error responses into reused buffers.

use crate::error::GatewayResponse;

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Appends a decimal number without allocating.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends a lowercase hexadecimal number without allocating.
/// An IP address as text: IPv4 dotted-decimal written by hand (the `Display` machinery
/// costs about a thousand instructions per address, once per proxied request for
/// X-Forwarded-For); IPv6 as `Display` writes it (RFC 5952).
pub fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            push_decimal(out, u64::from(a));
            out.push(b'.');
            push_decimal(out, u64::from(b));
            out.push(b'.');
            push_decimal(out, u64::from(c));
            out.push(b'.');
            push_decimal(out, u64::from(d));
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

pub fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

pub fn push_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `Connection` header a response needs: `close` when the connection ends after it,
/// `keep-alive` when an HTTP/1.0 client's connection is kept (1.0 closes by default),
/// nothing otherwise.
pub fn push_connection(out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        push_header(out, b"connection", b"close");
    } else if http10 {
        push_header(out, b"connection", b"keep-alive");
    }
}

/// The headers every gateway-produced response carries: Date, request id, connection.
pub fn push_common_headers(
    out: &mut Vec<u8>,
    date: &[u8; 29],
    request_id: &[u8],
    keep_alive: bool,
    http10: bool,
) {
    push_header(out, b"date", date);
    push_header(out, b"x-amzn-requestid", request_id);
    push_connection(out, keep_alive, http10);
}

/// A complete API Gateway error response: `{"message":"..."}` with `x-amzn-ErrorType`.
#[allow(clippy::too_many_arguments)]
pub fn push_error_response(
    out: &mut Vec<u8>,
    resp: &GatewayResponse,
    date: &[u8; 29],
    request_id: &[u8],
    keep_alive: bool,
    http10: bool,
    head_only: bool,
    retry_after: Option<u64>,
) {
    push_status_line(out, resp.status);
    push_common_headers(out, date, request_id, keep_alive, http10);
    if let Some(secs) = retry_after {
        out.extend_from_slice(b"retry-after: ");
        push_decimal(out, secs);
        out.extend_from_slice(b"\r\n");
    }
    push_header(out, b"content-type", b"application/json");
    push_header(out, b"x-amzn-errortype", resp.error_type.as_bytes());
    // {"message":"..."}: the table's messages hold no characters that need JSON escaping.
    let body_len = resp.message.len() + 14;
    out.extend_from_slice(b"content-length: ");
    push_decimal(out, body_len as u64);
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(b"{\"message\":\"");
        out.extend_from_slice(resp.message.as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ip_addresses_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "255.255.255.255",
            "::1",
            "2001:db8::8:800:200c:417a",
            "::ffff:1.2.3.4",
        ] {
            let addr: std::net::IpAddr = ip.parse().expect("ip");
            let mut out = Vec::new();
            super::push_ip(&mut out, addr);
            assert_eq!(out, addr.to_string().as_bytes(), "{ip}");
        }
    }

    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        push_decimal(&mut v, 0);
        v.push(b' ');
        push_decimal(&mut v, 10485760);
        v.push(b' ');
        push_hex(&mut v, 0x1f00);
        assert_eq!(v, b"0 10485760 1f00");
    }

    #[test]
    fn error_response_has_api_gateway_shape() {
        let mut v = Vec::new();
        let r = GatewayResponse::for_kind(ErrorKind::MissingAuthenticationToken);
        push_error_response(
            &mut v,
            &r,
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"rid",
            false,
            false,
            false,
            None,
        );
        let s = String::from_utf8(v).unwrap_or_default();
        assert!(s.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{s}");
        assert!(s.contains("x-amzn-errortype: MissingAuthenticationTokenException\r\n"));
        assert!(s.contains("connection: close\r\n"));
        let body = "{\"message\":\"Missing Authentication Token\"}";
        assert!(s.ends_with(body));
        assert!(s.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn connection_header_per_version() {
        let mut v = Vec::new();
        push_connection(&mut v, true, false);
        assert_eq!(v, b"");
        push_connection(&mut v, true, true);
        assert_eq!(v, b"connection: keep-alive\r\n");
        v.clear();
        push_connection(&mut v, false, true);
        assert_eq!(v, b"connection: close\r\n");
    }
}
