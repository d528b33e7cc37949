//! Writing response heads and API Gateway error responses into reused buffers.

use crate::error::GatewayResponse;

/// The reason phrases the gateway knows, and from them `reason_phrase` and the whole
/// status lines `push_status_line` writes with one copy.
macro_rules! statuses {
    ($($code:literal => $reason:literal,)*) => {
        pub fn reason_phrase(status: u16) -> &'static str {
            match status {
                $($code => $reason,)*
                _ => "Unknown",
            }
        }

        /// `HTTP/1.1 CODE REASON\r\n` for a status with a known reason phrase.
        fn status_line(status: u16) -> Option<&'static [u8]> {
            match status {
                $($code => Some(concat!("HTTP/1.1 ", $code, " ", $reason, "\r\n").as_bytes()),)*
                _ => None,
            }
        }
    };
}

statuses! {
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
}

/// `"00" "01" ... "99"`: two digits per step.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Appends a decimal number (no allocation beyond growing `out`): the digits are written
/// straight into `out`'s spare capacity, two at a time, without `core::fmt`.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let len = decimal_len(n);
    out.reserve(len);
    let start = out.len();
    let spare = &mut out.spare_capacity_mut()[..len];
    if write_digits(spare, n) == 0 {
        // SAFETY: `write_digits` wrote `spare[0..len]` (it returns the index of the first
        // digit written, from the right end; 0 here), the `len` bytes of spare capacity
        // right after `start` that `reserve(len)` made sure of.
        unsafe { out.set_len(start + len) };
    }
}

/// How many decimal digits `n` has: a few comparisons for the usual (small) numbers.
fn decimal_len(n: u64) -> usize {
    if n < 10 {
        1
    } else if n < 100 {
        2
    } else if n < 1_000 {
        3
    } else if n < 10_000 {
        4
    } else if n < 100_000 {
        5
    } else {
        n.ilog10() as usize + 1
    }
}

/// Writes the decimal digits of `n` right-aligned into `buf` (whose length is their
/// count) and returns the index of the first one (0 when `buf` is exactly filled).
fn write_digits(buf: &mut [std::mem::MaybeUninit<u8>], mut n: u64) -> usize {
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i].write(DIGIT_PAIRS[pair]);
        buf[i + 1].write(DIGIT_PAIRS[pair + 1]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i].write(DIGIT_PAIRS[pair]);
        buf[i + 1].write(DIGIT_PAIRS[pair + 1]);
    } else {
        i -= 1;
        buf[i].write(b'0' + n as u8);
    }
    i
}

/// An IP address as text, as `Display` writes it, without `core::fmt` (about a thousand
/// instructions per address, once per proxied request for X-Forwarded-For): IPv4
/// dotted-decimal; IPv6 as RFC 5952 says (lowercase, the longest run of two or more zero
/// groups, the first of equals, as `::`), `::ffff:a.b.c.d` for an IPv4-mapped address.
pub fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => push_ipv4(out, v4),
        std::net::IpAddr::V6(v6) => push_ipv6(out, v6),
    }
}

/// Each octet's text (`[a, b, c]` digits left-aligned) and its length.
const OCTETS: [([u8; 3], u8); 256] = octet_table();

const fn octet_table() -> [([u8; 3], u8); 256] {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let n = i as u8;
        t[i] = if n >= 100 {
            ([b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10], 3)
        } else if n >= 10 {
            ([b'0' + n / 10, b'0' + n % 10, 0], 2)
        } else {
            ([b'0' + n, 0, 0], 1)
        };
        i += 1;
    }
    t
}

fn push_ipv4(out: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    // Made on the stack four bytes (three digits and a dot) per octet, each written after
    // the previous octet's text; at most `255.255.255.255.`, of which the last dot is not
    // taken.
    let mut buf = [0u8; 16];
    let mut n = 0;
    for octet in ip.octets() {
        let ([a, b, c], len) = OCTETS[usize::from(octet)];
        let len = usize::from(len);
        if let Some(slot) = buf.get_mut(n..n + 4) {
            slot.copy_from_slice(&[a, b, c, b'.']);
            slot[len] = b'.';
        }
        n += len + 1;
    }
    // All 16 bytes go to the spare capacity at once (no call to `memcpy`); `n - 1` count.
    out.reserve(buf.len());
    let start = out.len();
    out.spare_capacity_mut()[..buf.len()].write_copy_of_slice(&buf);
    // SAFETY: the 16 bytes of spare capacity after `start` (made sure of by `reserve`) were
    // just written, and `n - 1 <= 15` of them are taken.
    unsafe { out.set_len(start + n.min(buf.len()) - 1) };
}

fn push_ipv6(out: &mut Vec<u8>, ip: std::net::Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        return push_ipv4(out, v4);
    }
    let groups = ip.segments();
    // The longest run of zero groups (the first of equal ones), if at least two long.
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let mut i = 0;
    while i < groups.len() {
        if best_len >= 2 && i == best {
            out.extend_from_slice(b"::");
            i += best_len;
            continue;
        }
        if i > 0 && !(best_len >= 2 && i == best + best_len) {
            out.push(b':');
        }
        push_hex(out, u64::from(groups[i]));
        i += 1;
    }
}

/// Appends a lowercase hexadecimal number without allocating.
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
    if let Some(line) = status_line(status) {
        return out.extend_from_slice(line);
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    // One capacity check for the line, then its four pieces copied into the spare capacity.
    let len = name.len() + value.len() + 4;
    out.reserve(len);
    let start = out.len();
    let line = &mut out.spare_capacity_mut()[..len];
    let (n, rest) = line.split_at_mut(name.len());
    n.write_copy_of_slice(name);
    let (sep, rest) = rest.split_at_mut(2);
    sep.write_copy_of_slice(b": ");
    let (v, crlf) = rest.split_at_mut(value.len());
    v.write_copy_of_slice(value);
    crlf.write_copy_of_slice(b"\r\n");
    // SAFETY: all `len` bytes of spare capacity after `start` (made sure of by `reserve`)
    // were just written: `name`, `": "`, `value` and `"\r\n"` fill them exactly (the
    // `write_copy_of_slice` calls panic on a length mismatch).
    unsafe { out.set_len(start + len) };
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
        // Every octet value in every position, appended after existing bytes.
        for o in 0..=255u8 {
            for pos in 0..4 {
                let mut octets = [1, 22, 133, 4];
                octets[pos] = o;
                let addr = std::net::IpAddr::from(octets);
                let mut out = b"for=".to_vec();
                super::push_ip(&mut out, addr);
                assert_eq!(out, format!("for={addr}").as_bytes(), "{addr}");
            }
        }
    }

    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn decimals_at_the_edges() {
        let mut cases: Vec<u64> = vec![0, 9, 10, 99, 100, 101, 999, 1000, 65535, u64::MAX];
        // Every power of ten and its neighbours (digit count changes), and a spread.
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            cases.extend([p - 1, p, p + 1, next - 1]);
            p = next;
        }
        cases.extend((0..1000).chain((0..64).map(|s| 1u64 << s)));
        for n in cases {
            let mut v = b"x".to_vec();
            push_decimal(&mut v, n);
            assert_eq!(v, format!("x{n}").as_bytes(), "{n}");
            // Into a buffer with no spare capacity, and into one with exactly enough.
            let mut tight = Vec::new();
            push_decimal(&mut tight, n);
            assert_eq!(tight, n.to_string().as_bytes());
            let mut exact = Vec::with_capacity(n.to_string().len());
            push_decimal(&mut exact, n);
            assert_eq!(exact, n.to_string().as_bytes());
        }
        let mut v = Vec::new();
        push_decimal(&mut v, u64::MAX);
        assert_eq!(v, b"18446744073709551615");
    }

    #[test]
    fn ipv6_as_display_writes_it() {
        // Zero runs of every length and place, ties, single zero groups, mapped and
        // compatible IPv4 forms.
        let mut addrs: Vec<std::net::Ipv6Addr> = [
            "::",
            "::1",
            "1::",
            "1:0:0:2:0:0:0:3",
            "1:0:0:0:2:0:0:3",
            "1:0:2:0:3:0:4:0",
            "0:1:0:1:0:1:0:1",
            "fe80::1:2",
            "2001:db8:0:0:1:0:0:1",
            "::ffff:0.0.0.0",
            "::ffff:255.1.2.3",
            "::1.2.3.4",
            "64:ff9b::1.2.3.4",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|s| s.parse().expect("ipv6"))
        .collect();
        // Every pattern of zero and non-zero groups.
        for mask in 0u32..256 {
            let g: Vec<u16> = (0..8)
                .map(|i| {
                    if mask >> i & 1 == 1 {
                        0xa0b + i as u16
                    } else {
                        0
                    }
                })
                .collect();
            addrs.push(std::net::Ipv6Addr::new(
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7],
            ));
        }
        for ip in addrs {
            let mut out = Vec::new();
            push_ip(&mut out, std::net::IpAddr::V6(ip));
            assert_eq!(out, ip.to_string().as_bytes(), "{ip}");
        }
    }

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
    fn status_lines() {
        // The prebuilt lines and the written ones (no reason phrase known) alike.
        let mut known = 0;
        for status in 0..=1000u16 {
            let mut v = b"x".to_vec();
            push_status_line(&mut v, status);
            let reason = reason_phrase(status);
            assert_eq!(v, format!("xHTTP/1.1 {status} {reason}\r\n").as_bytes());
            known += usize::from(status_line(status).is_some());
            assert_eq!(
                status_line(status).is_some(),
                reason != "Unknown",
                "{status}"
            );
        }
        assert_eq!(known, 33);
    }

    #[test]
    fn header_lines() {
        let mut v = b"x".to_vec();
        push_header(&mut v, b"content-type", b"text/plain");
        push_header(&mut v, b"x-empty", b"");
        push_header(&mut v, b"", b"");
        let long = vec![b'v'; 5000];
        push_header(&mut v, b"x-long", &long);
        let mut expected = b"xcontent-type: text/plain\r\nx-empty: \r\n: \r\nx-long: ".to_vec();
        expected.extend_from_slice(&long);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(v, expected);
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
