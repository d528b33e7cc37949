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
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
