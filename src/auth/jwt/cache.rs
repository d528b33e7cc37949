//! The verified-token cache of one worker: a token seen before costs a hash lookup and a
//! byte comparison instead of a signature check.
//!
//! - Key: the authorizer's tag and the token's bytes, hashed with ahash and compared in
//!   full (a hash collision cannot hand one token's claims to another).
//! - An entry expires at the token's `exp` plus the authorizer's leeway (it would be
//!   refused after that), and when the issuer's key set has since dropped a key: each
//!   entry remembers the key set's removal epoch it was verified under, and a lookup
//!   under another epoch misses (the token is then verified again, and cached again if its
//!   key is still there). Keys merely added, or a refresh that changes nothing, keep the
//!   entries.
//! - Bounded: at capacity, expired entries are swept first; if that frees less than an
//!   eighth, arbitrary entries (the hash map's first, i.e. random under ahash's random
//!   seed) go until an eighth is free, so sweeps are amortized O(1) per insert.
//!
//! Plain per-worker state (no locks); time is the caller's `now` (unix seconds), so tests
//! are exact.

use std::collections::HashMap;
use std::rc::Rc;

use super::claims::Claims;

/// Entries a worker's cache holds by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Entry {
    claims: Rc<Claims>,
    /// Unix second from which the entry is stale.
    until: i64,
    epoch: u64,
}

/// Per-worker cache of verified tokens.
#[derive(Debug)]
pub struct TokenCache {
    map: HashMap<Box<[u8]>, Entry, ahash::RandomState>,
    capacity: usize,
    /// Reused buffer for the lookup key (tag bytes + token).
    scratch: Vec<u8>,
    hits: u64,
    misses: u64,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_ENTRIES)
    }
}

impl TokenCache {
    /// A cache of at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            map: HashMap::with_hasher(ahash::RandomState::new()),
            capacity: capacity.max(1),
            scratch: Vec::with_capacity(2048),
            hits: 0,
            misses: 0,
        }
    }

    fn key(&mut self, tag: u64, token: &[u8]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(&tag.to_le_bytes());
        self.scratch.extend_from_slice(token);
    }

    /// The claims of `token` if it was verified for `tag` under removal epoch `epoch` and
    /// has not expired at `now`.
    pub fn get(&mut self, tag: u64, token: &[u8], epoch: u64, now: i64) -> Option<Rc<Claims>> {
        self.key(tag, token);
        let found = match self.map.get(self.scratch.as_slice()) {
            Some(e) if e.epoch == epoch && now < e.until => Some(Rc::clone(&e.claims)),
            Some(_) => {
                self.map.remove(self.scratch.as_slice());
                None
            }
            None => None,
        };
        match found {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        found
    }

    /// Remember `token`'s claims for `tag` until unix second `until`.
    pub fn insert(
        &mut self,
        tag: u64,
        token: &[u8],
        epoch: u64,
        claims: Rc<Claims>,
        until: i64,
        now: i64,
    ) {
        if until <= now {
            return;
        }
        self.key(tag, token);
        if !self.map.contains_key(self.scratch.as_slice()) && self.map.len() >= self.capacity {
            self.make_room(now);
        }
        self.map.insert(
            self.scratch.as_slice().into(),
            Entry {
                claims,
                until,
                epoch,
            },
        );
    }

    fn make_room(&mut self, now: i64) {
        self.map.retain(|_, e| now < e.until);
        let target = self.capacity - (self.capacity / 8).max(1);
        let excess = self.map.len().saturating_sub(target);
        let victims: Vec<Box<[u8]>> = self.map.keys().take(excess).cloned().collect();
        for k in victims {
            self.map.remove(&k);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// (hits, misses) since the cache was made.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}
