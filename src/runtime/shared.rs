//! The one place where state shared by every core lives (the audit point). Everything here
//! is `Send + Sync`, created once, and never touched on a request's hot path except where
//! noted.
//!
//! - the TLS session ticketer of domains without mutual TLS: one key schedule for the whole
//!   process, so a ticket issued on one core resumes on another, and (being outside the
//!   configuration snapshot) tickets stay valid across certificate reloads. rustls reads it
//!   during handshakes only.
//! - the session caches of mutual-TLS domains (`mtls_session_cache`): stateful (a ticket or
//!   TLS 1.2 session id is a 32-byte key; the verified client chain stays on the server),
//!   one per domain *and trust* (truststore, CRL, mode), so a reload that changes the trust
//!   leaves earlier sessions unreachable: such a client must do a full handshake and present
//!   a certificate the current verifier accepts. Each cache is a rustls
//!   `ServerSessionMemoryCache` (its own mutex, held for one map operation per handshake).
//! - the stage caches (`cache::stage::StageCache`, reached through
//!   `Snapshot::stage_caches`): the design's one deliberate exception to "no lock shared
//!   with another core on the request path". Each stage's store is split into up to 64
//!   shards by key hash (`cache::store`), each behind its own `Mutex` on its own cache line,
//!   held only for the hash-map and list work of one lookup or insert (never across an
//!   await, never while allocating a response or waking a waiter). Counters are per-worker
//!   slots (relaxed atomics, no shared line). Coalesced waiters are woken through std
//!   `Waker`s (monoio's cross-thread wake-up). The admin thread flushes through the same
//!   shard locks.
//! - the central token pools of the rate limits ([`TokenPools`], one per configuration,
//!   reached through `limits::worker::LimitsLink`): per limit, one atomic count of the whole
//!   tokens that any worker may take, on its own cache line. Touched on the request path only
//!   by a worker whose own lease of a limit is empty (one compare-and-swap per token taken);
//!   the limits thread refills it, and workers take batches from it and put revoked tokens
//!   back on their control ticks. No lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

use crossbeam::utils::CachePadded;

/// Per rate limit, the whole tokens of its central pool that any worker may take at once
/// (see `limits::reconcile`). The limits thread adds refilled tokens and workers put revoked
/// ones back (`deposit`); workers take them (`take_one`, `withdraw`). A count never goes
/// below zero and nothing is taken twice. The counts carry no other data, so relaxed
/// ordering is enough: every read-modify-write of one count is ordered with all the others
/// on it.
pub struct TokenPools {
    slots: Box<[CachePadded<AtomicU64>]>,
}

impl std::fmt::Debug for TokenPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<u64> = (0..self.slots.len()).map(|i| self.available(i)).collect();
        f.debug_tuple("TokenPools").field(&counts).finish()
    }
}

impl TokenPools {
    /// `limits` empty pools.
    pub fn new(limits: usize) -> Self {
        TokenPools {
            slots: (0..limits)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }

    /// Tokens in `limit`'s pool now (0 for an unknown limit).
    #[inline]
    pub fn available(&self, limit: usize) -> u64 {
        self.slots
            .get(limit)
            .map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Take one token from `limit`'s pool; false when it is empty (or unknown).
    #[inline]
    pub fn take_one(&self, limit: usize) -> bool {
        let Some(slot) = self.slots.get(limit) else {
            return false;
        };
        slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Add `n` tokens to `limit`'s pool; returns the count just before (0 for an unknown
    /// limit, which takes nothing).
    pub fn deposit(&self, limit: usize, n: u64) -> u64 {
        self.slots
            .get(limit)
            .map_or(0, |s| s.fetch_add(n, Ordering::Relaxed))
    }

    /// Take up to `n` tokens from `limit`'s pool: returns (the count just before, tokens
    /// taken).
    pub fn withdraw(&self, limit: usize, n: u64) -> (u64, u64) {
        let Some(slot) = self.slots.get(limit) else {
            return (0, 0);
        };
        let before =
            match slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c - c.min(n))) {
                Ok(c) | Err(c) => c,
            };
        (before, before.min(n))
    }
}

static TICKETER: OnceLock<Option<Arc<dyn rustls::server::ProducesTickets>>> = OnceLock::new();

/// The process-wide TLS 1.2/1.3 session ticketer (rotating keys, ring). `None` only if the
/// system's random source failed, in which case handshakes still work without resumption.
pub fn session_ticketer() -> Arc<dyn rustls::server::ProducesTickets> {
    let t = TICKETER.get_or_init(|| rustls::crypto::ring::Ticketer::new().ok());
    match t {
        Some(t) => t.clone(),
        None => Arc::new(NoTickets),
    }
}

#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Sessions kept per mutual-TLS domain and trust (each holds the client's chain).
pub const MTLS_SESSIONS_PER_DOMAIN: usize = 1024;

/// A ticketer that issues nothing: rustls then resumes from the config's session storage.
pub fn no_tickets() -> Arc<dyn rustls::server::ProducesTickets> {
    Arc::new(NoTickets)
}

type TrustKey = (String, [u8; 32]);

static MTLS_CACHES: Mutex<Vec<(TrustKey, Weak<ServerSessionMemoryCache>)>> = Mutex::new(Vec::new());

/// The session cache of mutual-TLS domain `name` under the trust whose fingerprint is
/// `trust` (truststore, CRL and mode; see `config::custom_domain`). A reload with the same
/// trust gets the same cache back, so sessions survive it; a different trust gets a new,
/// empty cache. Caches no configuration uses any more are forgotten.
pub fn mtls_session_cache(name: &str, trust: [u8; 32]) -> Arc<dyn StoresServerSessions> {
    let mut caches = MTLS_CACHES.lock().unwrap_or_else(|p| p.into_inner());
    caches.retain(|(_, weak)| weak.strong_count() > 0);
    let found = caches
        .iter()
        .find(|((n, t), _)| n == name && *t == trust)
        .and_then(|(_, weak)| weak.upgrade());
    if let Some(cache) = found {
        return cache;
    }
    let cache = ServerSessionMemoryCache::new(MTLS_SESSIONS_PER_DOMAIN);
    caches.push(((name.to_owned(), trust), Arc::downgrade(&cache)));
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtls_session_caches_follow_the_trust() {
        let a = mtls_session_cache("a.example", [1; 32]);
        let same = mtls_session_cache("a.example", [1; 32]);
        let other_trust = mtls_session_cache("a.example", [2; 32]);
        let other_name = mtls_session_cache("b.example", [1; 32]);
        assert!(a.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(same.get(b"k"), Some(b"v".to_vec()));
        assert_eq!(other_trust.get(b"k"), None);
        assert_eq!(other_name.get(b"k"), None);
        drop((a, same));
        // Once unused, the cache is gone: the same key starts empty.
        let again = mtls_session_cache("a.example", [1; 32]);
        assert_eq!(again.get(b"k"), None);
    }

    #[test]
    fn token_pools_count_exactly() {
        let p = TokenPools::new(2);
        assert!(!p.take_one(0));
        assert_eq!(p.deposit(0, 3), 0);
        assert_eq!(p.available(0), 3);
        assert!(p.take_one(0));
        assert_eq!(p.withdraw(0, 5), (2, 2));
        assert!(!p.take_one(0));
        assert_eq!(p.available(1), 0);
        // Unknown limits hold nothing and take nothing.
        assert_eq!(p.deposit(9, 4), 0);
        assert!(!p.take_one(9));
        assert_eq!(p.withdraw(9, 1), (0, 0));
    }

    #[test]
    fn token_pools_never_hand_out_more_than_deposited() {
        let p = Arc::new(TokenPools::new(1));
        p.deposit(0, 10_000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || (0..5_000).filter(|_| p.take_one(0)).count())
            })
            .collect();
        let taken: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(taken, 10_000);
        assert_eq!(p.available(0), 0);
    }
}
