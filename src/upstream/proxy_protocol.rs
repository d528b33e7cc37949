//! PROXY protocol v2 header (NLB's client-IP preservation).
//!
//! [`encode_v2`] appends the binary v2 header for a TCP connection from `src` to `dst` to a
//! buffer, to be written to the upstream before the first request byte. [`decode_v2`] reads
//! one back (tests and test upstreams).
//!
//! Families: two IPv4 addresses are sent as `TCP4`; anything involving IPv6 is sent as
//! `TCP6`, with an IPv4 address written as its v4-mapped IPv6 form (`::ffff:a.b.c.d`). A
//! v4-mapped IPv6 address (what a dual-stack listener reports for an IPv4 client) counts as
//! IPv4, so a pair of them is sent as plain `TCP4`, which is what an NLB would report.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The 12-byte v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 2, command PROXY.
const VERSION_PROXY: u8 = 0x21;
/// AF_INET + STREAM.
const FAMILY_TCP4: u8 = 0x11;
/// AF_INET6 + STREAM.
const FAMILY_TCP6: u8 = 0x21;
/// Address block length for TCP4: two addresses and two ports.
const LEN_TCP4: u16 = 12;
/// Address block length for TCP6.
const LEN_TCP6: u16 = 36;
/// Fixed part: signature, version/command, family, length.
const FIXED_LEN: usize = 16;

/// The address as IPv4 if it is one (including a v4-mapped IPv6 address).
fn as_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Append the PROXY protocol v2 header for a TCP connection from `src` (the client) to
/// `dst` (the address the client connected to) to `out`. 28 bytes for TCP4, 52 for TCP6.
/// A v2 header with the `LOCAL` command and no addresses: for connections the proxy opens
/// on its own behalf (health checks), which the receiver must treat as its own.
pub const LOCAL_V2: [u8; 16] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00,
];

pub fn encode_v2(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(&SIGNATURE);
    out.push(VERSION_PROXY);
    match (as_v4(src.ip()), as_v4(dst.ip())) {
        (Some(s), Some(d)) => {
            out.reserve(2 + usize::from(LEN_TCP4));
            out.push(FAMILY_TCP4);
            out.extend_from_slice(&LEN_TCP4.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => {
            out.reserve(2 + usize::from(LEN_TCP6));
            out.push(FAMILY_TCP6);
            out.extend_from_slice(&LEN_TCP6.to_be_bytes());
            out.extend_from_slice(&as_v6(src.ip()).octets());
            out.extend_from_slice(&as_v6(dst.ip()).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
}

/// Decode a v2 `PROXY` header for TCP4 or TCP6 at the start of `buf`: the source and
/// destination addresses and the header's total length (TLVs after the addresses are
/// skipped). `None` for anything else: no or a partial header, another version, the `LOCAL`
/// command, or a family other than TCP over IPv4/IPv6.
pub fn decode_v2(buf: &[u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
    let fixed = buf.get(..FIXED_LEN)?;
    if fixed[..12] != SIGNATURE {
        return None;
    }
    let (ver_cmd, family) = (fixed[12], fixed[13]);
    // Version 2 LOCAL (0x20) carries no addresses; other versions are not ours.
    if ver_cmd != VERSION_PROXY {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let total = FIXED_LEN + len;
    let body = buf.get(FIXED_LEN..total)?;
    let port = |at: usize| -> Option<u16> {
        let b = body.get(at..at + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    };
    match family {
        FAMILY_TCP4 if len >= usize::from(LEN_TCP4) => {
            let ip = |at: usize| -> Option<Ipv4Addr> {
                let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
                Some(Ipv4Addr::from(b))
            };
            let src = SocketAddrV4::new(ip(0)?, port(8)?);
            let dst = SocketAddrV4::new(ip(4)?, port(10)?);
            Some((src.into(), dst.into(), total))
        }
        FAMILY_TCP6 if len >= usize::from(LEN_TCP6) => {
            let ip = |at: usize| -> Option<Ipv6Addr> {
                let b: [u8; 16] = body.get(at..at + 16)?.try_into().ok()?;
                Some(Ipv6Addr::from(b))
            };
            let src = SocketAddrV6::new(ip(0)?, port(32)?, 0, 0);
            let dst = SocketAddrV6::new(ip(16)?, port(34)?, 0, 0);
            Some((src.into(), dst.into(), total))
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_exact_bytes() {
        let mut out = Vec::new();
        encode_v2(sa("192.0.2.1:56324"), sa("198.51.100.7:443"), &mut out);
        let expected: Vec<u8> = [
            &b"\r\n\r\n\0\r\nQUIT\n"[..],
            &[0x21, 0x11, 0x00, 0x0C],
            &[192, 0, 2, 1],
            &[198, 51, 100, 7],
            &[0xDC, 0x04],
            &[0x01, 0xBB],
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(out.len(), 28);
    }

    #[test]
    fn v6_exact_bytes() {
        let mut out = vec![0xAA]; // appends, keeps what was there
        encode_v2(sa("[2001:db8::1]:1234"), sa("[2001:db8::2]:80"), &mut out);
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src[15] = 1;
        let mut dst = src;
        dst[15] = 2;
        let expected: Vec<u8> = [
            &[0xAA][..],
            &[
                0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
            ],
            &[0x21, 0x21, 0x00, 0x24],
            &src,
            &dst,
            &[0x04, 0xD2],
            &[0x00, 0x50],
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(out.len(), 1 + 52);
    }

    #[test]
    fn mixed_families_use_v4_mapped_tcp6() {
        let mut out = Vec::new();
        encode_v2(sa("192.0.2.1:1000"), sa("[2001:db8::2]:443"), &mut out);
        assert_eq!(out[13], 0x21);
        assert_eq!(out.len(), 52);
        assert_eq!(
            &out[16..32],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]
        );
        let (src, dst, len) = decode_v2(&out).unwrap();
        assert_eq!(src, sa("[::ffff:192.0.2.1]:1000"));
        assert_eq!(dst, sa("[2001:db8::2]:443"));
        assert_eq!(len, 52);
    }

    #[test]
    fn v4_mapped_pair_is_sent_as_tcp4() {
        let mut out = Vec::new();
        encode_v2(
            sa("[::ffff:10.0.0.1]:5000"),
            sa("[::ffff:10.0.0.2]:80"),
            &mut out,
        );
        assert_eq!(out[13], 0x11);
        let (src, dst, len) = decode_v2(&out).unwrap();
        assert_eq!(
            (src, dst, len),
            (sa("10.0.0.1:5000"), sa("10.0.0.2:80"), 28)
        );
    }

    #[test]
    fn round_trips() {
        let cases = [
            ("127.0.0.1:1", "127.0.0.1:65535"),
            ("0.0.0.0:0", "255.255.255.255:8080"),
            ("[::1]:443", "[fe80::1:2:3:4]:9"),
            ("[2001:db8:85a3::8a2e:370:7334]:65000", "[::]:1"),
        ];
        for (s, d) in cases {
            let mut out = b"x".to_vec();
            encode_v2(sa(s), sa(d), &mut out);
            // Followed by the request: the decoder reports where the header ends.
            out.extend_from_slice(b"GET / HTTP/1.1\r\n");
            let (src, dst, len) = decode_v2(&out[1..]).unwrap();
            assert_eq!((src, dst), (sa(s), sa(d)));
            assert_eq!(&out[1 + len..], b"GET / HTTP/1.1\r\n");
        }
    }

    #[test]
    fn decode_rejects_bad_input() {
        let mut good = Vec::new();
        encode_v2(sa("192.0.2.1:1"), sa("192.0.2.2:2"), &mut good);
        // Every truncation is incomplete.
        for n in 0..good.len() {
            assert_eq!(decode_v2(&good[..n]), None, "prefix {n}");
        }
        let mut bad_sig = good.clone();
        bad_sig[11] = b'X';
        assert_eq!(decode_v2(&bad_sig), None);
        let mut v1 = good.clone();
        v1[12] = 0x11;
        assert_eq!(decode_v2(&v1), None);
        let mut local = good.clone();
        local[12] = 0x20;
        assert_eq!(decode_v2(&local), None);
        let mut udp = good.clone();
        udp[13] = 0x12;
        assert_eq!(decode_v2(&udp), None);
        let mut short = good.clone();
        short[15] = 8; // length too small for TCP4 addresses
        assert_eq!(decode_v2(&short), None);
        assert_eq!(decode_v2(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), None);
    }

    #[test]
    fn decode_skips_tlvs() {
        let mut buf = Vec::new();
        encode_v2(sa("192.0.2.1:1"), sa("192.0.2.2:2"), &mut buf);
        // Add a 4-byte NOOP TLV (type 0x04, length 1, one byte) and fix the length.
        buf.extend_from_slice(&[0x04, 0x00, 0x01, 0x00]);
        buf[14..16].copy_from_slice(&16u16.to_be_bytes());
        let (src, dst, len) = decode_v2(&buf).unwrap();
        assert_eq!((src, dst, len), (sa("192.0.2.1:1"), sa("192.0.2.2:2"), 32));
    }

    #[test]
    fn local_header_is_a_v2_local_command_without_addresses() {
        let mut proxied = Vec::new();
        encode_v2(
            "127.0.0.1:1"
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 1))),
            "127.0.0.1:2"
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 2))),
            &mut proxied,
        );
        assert_eq!(&LOCAL_V2[..12], &proxied[..12], "same signature");
        assert_eq!(LOCAL_V2[12], 0x20, "version 2, LOCAL");
        assert_eq!(
            &LOCAL_V2[13..],
            &[0, 0, 0],
            "UNSPEC family, no address block"
        );
        assert_eq!(
            decode_v2(&LOCAL_V2),
            None,
            "LOCAL carries no client addresses"
        );
    }
}
