//! IP address blocks for `aws:SourceIp` (`IpAddress` / `NotIpAddress`).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for an
//! IPv4 client) are IPv4: the client address is canonicalised before matching, and a block
//! written in the mapped form with a prefix of at least 96 (`::ffff:192.0.2.0/120`) is the
//! IPv4 block it denotes (`192.0.2.0/24`). An IPv4 client therefore matches IPv4 blocks
//! only, and IPv6 blocks (even `::/0`) match only genuine IPv6 clients: as in AWS's own
//! examples, a policy covering every address lists both `0.0.0.0/0` and `::/0`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block: a network and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, prefix: u8 },
    V6 { net: u128, prefix: u8 },
}

#[inline]
fn mask4(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

#[inline]
fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into the IPv4 address it carries.
#[inline]
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `a.b.c.d` (a /32), an IPv6 block `x::/n` or an IPv6 address (a
    /// /128). Bits past the prefix are ignored (`192.0.2.77/24` is `192.0.2.0/24`), as IAM
    /// does. Refuses anything else, with the reason.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let prefix = match prefix {
            None => None,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u8>() {
                    Ok(n) => Some(n),
                    Err(_) => return Err(format!("{s:?}: the prefix length is too large")),
                }
            }
            Some(_) => return Err(format!("{s:?} has a prefix length that is not a number")),
        };
        if let Ok(v4) = addr.parse::<Ipv4Addr>() {
            let prefix = prefix.unwrap_or(32);
            if prefix > 32 {
                return Err(format!("{s:?}: an IPv4 prefix length is at most 32"));
            }
            let net = u32::from(v4) & mask4(prefix);
            return Ok(Cidr::V4 { net, prefix });
        }
        if let Ok(v6) = addr.parse::<Ipv6Addr>() {
            let prefix = prefix.unwrap_or(128);
            if prefix > 128 {
                return Err(format!("{s:?}: an IPv6 prefix length is at most 128"));
            }
            if prefix >= 96 {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    let prefix = prefix - 96;
                    let net = u32::from(v4) & mask4(prefix);
                    return Ok(Cidr::V4 { net, prefix });
                }
            }
            let net = u128::from(v6) & mask6(prefix);
            return Ok(Cidr::V6 { net, prefix });
        }
        Err(format!("{s:?} is not an IP address or CIDR block"))
    }

    /// Whether the (already [`canonical_ip`]) address `ip` lies in this block.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Cidr::V4 { net, prefix }, IpAddr::V4(a)) => u32::from(a) & mask4(prefix) == net,
            (Cidr::V6 { net, prefix }, IpAddr::V6(a)) => u128::from(a) & mask6(prefix) == net,
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        canonical_ip(s.parse().unwrap())
    }

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn v4_blocks_and_edges() {
        let b = c("192.0.2.0/24");
        assert!(b.contains(ip("192.0.2.0")));
        assert!(b.contains(ip("192.0.2.255")));
        assert!(!b.contains(ip("192.0.3.0")));
        assert!(!b.contains(ip("192.0.1.255")));
        assert_eq!(c("192.0.2.77/24"), b, "host bits are ignored");
        // /0: every IPv4 address, no IPv6 one.
        let all = c("0.0.0.0/0");
        assert!(all.contains(ip("0.0.0.0")));
        assert!(all.contains(ip("255.255.255.255")));
        assert!(!all.contains(ip("2001:db8::1")));
        // /32 and a bare address.
        assert_eq!(c("198.51.100.7"), c("198.51.100.7/32"));
        assert!(c("198.51.100.7").contains(ip("198.51.100.7")));
        assert!(!c("198.51.100.7").contains(ip("198.51.100.6")));
        assert!(!c("198.51.100.7").contains(ip("198.51.100.8")));
        // /31 and /1 around the bit boundaries.
        assert!(c("10.0.0.0/31").contains(ip("10.0.0.1")));
        assert!(!c("10.0.0.0/31").contains(ip("10.0.0.2")));
        assert!(c("128.0.0.0/1").contains(ip("200.1.1.1")));
        assert!(!c("128.0.0.0/1").contains(ip("127.255.255.255")));
    }

    #[test]
    fn v6_blocks_and_edges() {
        let b = c("2001:db8::/32");
        assert!(b.contains(ip("2001:db8::1")));
        assert!(b.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!b.contains(ip("2001:db9::")));
        assert!(!b.contains(ip("192.0.2.1")));
        let all = c("::/0");
        assert!(all.contains(ip("::")));
        assert!(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(all.contains(ip("::1")));
        assert!(!all.contains(ip("192.0.2.1")), "::/0 is IPv6 only");
        assert_eq!(c("2001:db8::5"), c("2001:db8::5/128"));
        assert!(c("2001:db8::5").contains(ip("2001:db8::5")));
        assert!(!c("2001:db8::5").contains(ip("2001:db8::4")));
        assert!(!c("2001:db8::5").contains(ip("2001:db8::6")));
        assert!(c("2001:db8::/127").contains(ip("2001:db8::1")));
        assert!(!c("2001:db8::/127").contains(ip("2001:db8::2")));
        assert!(c("8000::/1").contains(ip("ffff::")));
        assert!(!c("8000::/1").contains(ip("7fff::")));
    }

    #[test]
    fn v4_mapped_addresses_are_ipv4() {
        // A dual-stack socket's view of an IPv4 client matches IPv4 blocks...
        assert!(c("192.0.2.0/24").contains(ip("::ffff:192.0.2.9")));
        assert!(!c("192.0.2.0/24").contains(ip("::ffff:192.0.3.9")));
        assert!(c("0.0.0.0/0").contains(ip("::ffff:1.2.3.4")));
        // ...and no IPv6 block, not even ::/0.
        assert!(!c("::/0").contains(ip("::ffff:192.0.2.9")));
        // A block written in the mapped form is the IPv4 block.
        assert_eq!(c("::ffff:192.0.2.0/120"), c("192.0.2.0/24"));
        assert_eq!(c("::ffff:0:0/96"), c("0.0.0.0/0"));
        assert_eq!(c("::ffff:192.0.2.1"), c("192.0.2.1/32"));
        assert!(c("::ffff:192.0.2.0/120").contains(ip("192.0.2.200")));
        // Not the mapped range: stays IPv6 (IPv4-compatible ::a.b.c.d is not mapped).
        assert!(matches!(c("::192.0.2.0/120"), Cidr::V6 { .. }));
        assert!(!c("::192.0.2.0/120").contains(ip("192.0.2.1")));
    }

    #[test]
    fn malformed_blocks_refused() {
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "10.0.0.0/1000",
            "10.0.0.0/300",
            "2001:db8::/256",
            "10.0.0.256/8",
            "10.0.0/8",
            "2001:db8::/129",
            "2001:db8:::/64",
            "example.com",
            " 10.0.0.0/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
