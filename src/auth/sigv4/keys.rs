//! Signing keys: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
//! "aws4_request")`, and a small per-worker cache of them.
//!
//! A signing key is a pure function of (secret, date, region, service), so the cache needs
//! no clock: an entry is never stale, only unused. It is bounded by a capacity and evicts
//! the least recently used entry; a new day (or a rotated secret) simply makes new entries
//! and the old ones age out. Plain struct, no locks: one per worker.

use std::fmt;

use ring::hmac;

/// The key of HMAC-SHA256 with `key` bytes.
fn hmac_key(key: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

/// Derive the signing key for `secret` on `date` (`YYYYMMDD`) in `region` for `service`.
pub fn derive_signing_key(secret: &str, date: &[u8], region: &str, service: &str) -> hmac::Key {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac::sign(&hmac_key(&k_secret), date);
    let k_region = hmac::sign(&hmac_key(k_date.as_ref()), region.as_bytes());
    let k_service = hmac::sign(&hmac_key(k_region.as_ref()), service.as_bytes());
    let k_signing = hmac::sign(&hmac_key(k_service.as_ref()), b"aws4_request");
    hmac_key(k_signing.as_ref())
}

struct Entry {
    hash: u64,
    secret: Box<str>,
    date: [u8; 8],
    region: Box<str>,
    service: Box<str>,
    key: hmac::Key,
    last_used: u64,
}

/// Derived signing keys per (secret, date, region, service), computed once and reused.
pub struct SigningKeyCache {
    entries: Vec<Entry>,
    capacity: usize,
    tick: u64,
    hasher: ahash::RandomState,
    derivations: u64,
}

impl fmt::Debug for SigningKeyCache {
    // Never prints the secrets it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .field("derivations", &self.derivations)
            .finish()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl SigningKeyCache {
    /// Entries kept by default: enough for many principals across a day boundary.
    pub const DEFAULT_CAPACITY: usize = 256;

    /// A cache of at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        SigningKeyCache {
            entries: Vec::new(),
            capacity: capacity.max(1),
            tick: 0,
            hasher: ahash::RandomState::new(),
            derivations: 0,
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys were derived (cache misses) since this cache was made.
    pub fn derivations(&self) -> u64 {
        self.derivations
    }

    /// The signing key for (secret, `date` = `YYYYMMDD`, region, service), derived on a
    /// miss.
    pub fn get(&mut self, secret: &str, date: &[u8; 8], region: &str, service: &str) -> &hmac::Key {
        let hash = self.hasher.hash_one((secret, date, region, service));
        self.tick += 1;
        let tick = self.tick;
        let found = self.entries.iter().position(|e| {
            e.hash == hash
                && e.date == *date
                && *e.secret == *secret
                && *e.region == *region
                && *e.service == *service
        });
        let at = match found {
            Some(i) => i,
            None => {
                self.derivations += 1;
                let entry = Entry {
                    hash,
                    secret: secret.into(),
                    date: *date,
                    region: region.into(),
                    service: service.into(),
                    key: derive_signing_key(secret, date, region, service),
                    last_used: tick,
                };
                if self.entries.len() < self.capacity {
                    self.entries.push(entry);
                    self.entries.len() - 1
                } else {
                    let lru = self
                        .entries
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.last_used)
                        .map_or(0, |(i, _)| i);
                    self.entries[lru] = entry;
                    lru
                }
            }
        };
        let e = &mut self.entries[at];
        e.last_used = tick;
        &e.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::canonical::hex32;

    fn sig(key: &hmac::Key, msg: &[u8]) -> [u8; 64] {
        hex32(hmac::sign(key, msg).as_ref())
    }

    #[test]
    fn derivation_matches_the_aws_documented_example() {
        // The IAM user guide's example key: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
        // 20150830/us-east-1/iam; the signature of its string to sign.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            b"20150830",
            "us-east-1",
            "iam",
        );
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            &sig(&key, sts.as_bytes()),
            b"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn cache_derives_once_per_distinct_input_and_stays_bounded() {
        let mut c = SigningKeyCache::new(3);
        let d1 = b"20150830";
        let d2 = b"20150831";
        let a = sig(c.get("s1", d1, "us-east-1", "execute-api"), b"m");
        for _ in 0..5 {
            assert_eq!(sig(c.get("s1", d1, "us-east-1", "execute-api"), b"m"), a);
        }
        assert_eq!(c.derivations(), 1);
        // Each input part makes a different key.
        let b = sig(c.get("s2", d1, "us-east-1", "execute-api"), b"m");
        let cc = sig(c.get("s1", d2, "us-east-1", "execute-api"), b"m");
        assert_eq!(c.derivations(), 3);
        assert!(a != b && a != cc && b != cc);
        let r = sig(c.get("s1", d1, "eu-west-1", "execute-api"), b"m");
        let s = sig(c.get("s1", d1, "us-east-1", "lambda"), b"m");
        assert!(r != a && s != a && r != s);
        assert_eq!(c.derivations(), 5);
        assert_eq!(c.len(), 3);
        // The two most recent survive; the first (least recently used) was evicted.
        c.get("s1", d1, "us-east-1", "lambda");
        assert_eq!(c.derivations(), 5);
        c.get("s1", d1, "us-east-1", "execute-api");
        assert_eq!(c.derivations(), 6);
        assert_eq!(
            sig(
                &derive_signing_key("s1", d1, "us-east-1", "execute-api"),
                b"m"
            ),
            a
        );
        assert!(!format!("{c:?}").contains("s1"));
    }
}
