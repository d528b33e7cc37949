//! Request ids in API Gateway's shape (a UUID, e.g. `c6af9ac6-7b61-11e6-9a41-93e8deadbeef`):
//! a per-worker xorshift generator seeded from the OS, formatted without allocating.

use std::cell::Cell;

#[derive(Debug)]
pub struct RequestIds {
    state: Cell<(u64, u64)>,
}

impl RequestIds {
    pub fn new() -> Self {
        let mut seed = [0u8; 16];
        let rng = ring::rand::SystemRandom::new();
        if ring::rand::SecureRandom::fill(&rng, &mut seed).is_err() {
            // Fall back to time and address entropy; ids need uniqueness, not secrecy.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            seed[..8].copy_from_slice(&t.to_le_bytes());
            let addr = &seed as *const _ as u64;
            seed[8..].copy_from_slice(&addr.to_le_bytes());
        }
        let a = u64::from_le_bytes([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
        ]);
        let b = u64::from_le_bytes([
            seed[8], seed[9], seed[10], seed[11], seed[12], seed[13], seed[14], seed[15],
        ]);
        RequestIds {
            state: Cell::new((a | 1, b | 1)),
        }
    }

    fn next_u64(&self) -> u64 {
        // xorshift128+
        let (mut s1, s0) = self.state.get();
        s1 ^= s1 << 23;
        s1 ^= s1 >> 17;
        s1 ^= s0 ^ (s0 >> 26);
        self.state.set((s0, s1));
        s1.wrapping_add(s0)
    }

    /// A fresh id, formatted as a version-4 UUID.
    pub fn next(&self) -> [u8; 36] {
        let hi = (self.next_u64() & !0xf000) | 0x4000; // version 4
        let lo = (self.next_u64() & !(0xc000 << 48)) | (0x8000 << 48); // variant 10xx
        uuid_text(hi, lo)
    }
}

/// The 128 bits `hi`, `lo` as a UUID: 32 lowercase hex digits, most significant first, in
/// groups of 8-4-4-4-12.
fn uuid_text(hi: u64, lo: u64) -> [u8; 36] {
    let [h0, h1] = hex16(hi);
    let [l0, l1] = hex16(lo);
    let mut out = [b'-'; 36];
    out[..8].copy_from_slice(&h0);
    out[9..13].copy_from_slice(&h1[..4]);
    out[14..18].copy_from_slice(&h1[4..]);
    out[19..23].copy_from_slice(&l0[..4]);
    out[24..28].copy_from_slice(&l0[4..]);
    out[28..].copy_from_slice(&l1);
    out
}

/// `x` as 16 lowercase hex digits (two groups of 8), eight digits at a time in a word.
fn hex16(x: u64) -> [[u8; 8]; 2] {
    [hex8((x >> 32) as u32), hex8(x as u32)]
}

/// `x` as 8 lowercase hex digits: each nibble spread into a byte of its own (most
/// significant last in the word, so first in big-endian order), then `0`-`9` / `a`-`f`.
fn hex8(x: u32) -> [u8; 8] {
    let mut n = u64::from(x);
    n = (n | (n << 16)) & 0x0000_ffff_0000_ffff;
    n = (n | (n << 8)) & 0x00ff_00ff_00ff_00ff;
    n = (n | (n << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // Bytes holding 10..=15 get `a` - `0` - 10 = 39 more than `0` + n.
    let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (n + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_uuid_v4(id: &[u8; 36]) -> bool {
        id.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            14 => c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        })
    }

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        let s = std::str::from_utf8(&a).unwrap_or_default();
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert_eq!(&s[14..15], "4");
        assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn many_ids_are_all_version_4_and_all_distinct() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next();
            assert!(is_uuid_v4(&id), "{}", String::from_utf8_lossy(&id));
            assert!(seen.insert(id), "{}", String::from_utf8_lossy(&id));
        }
        // Two generators (two workers) do not repeat each other either.
        let other = RequestIds::new();
        for _ in 0..10_000 {
            assert!(seen.insert(other.next()));
        }
    }

    /// The formatting as it was before the word-at-a-time one: nibble by nibble.
    fn reference_text(hi: u64, lo: u64) -> [u8; 36] {
        let mut out = [b'-'; 36];
        let hex = b"0123456789abcdef";
        let mut nibbles = [0u8; 32];
        for i in 0..16 {
            nibbles[i] = ((hi >> (60 - 4 * i)) & 0xf) as u8;
            nibbles[16 + i] = ((lo >> (60 - 4 * i)) & 0xf) as u8;
        }
        let mut n = 0;
        for (pos, slot) in out.iter_mut().enumerate() {
            if matches!(pos, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = hex[nibbles[n] as usize];
            n += 1;
        }
        out
    }

    #[test]
    fn text_is_the_nibbles_in_order() {
        assert_eq!(
            &uuid_text(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            b"01234567-89ab-cdef-fedc-ba9876543210"
        );
        assert_eq!(&uuid_text(0, 0), b"00000000-0000-0000-0000-000000000000");
        assert_eq!(
            &uuid_text(u64::MAX, u64::MAX),
            b"ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let y = x.rotate_left(29) ^ 0x5555_aaaa_0f0f_f0f0;
            assert_eq!(uuid_text(x, y), reference_text(x, y), "{x:x} {y:x}");
        }
        // Every nibble value in every position.
        for d in 0..16u64 {
            for pos in 0..16 {
                let v = d << (4 * pos);
                assert_eq!(uuid_text(v, !v), reference_text(v, !v));
            }
        }
    }
}
