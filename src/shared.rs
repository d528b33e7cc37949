//! The one place where state shared by every core lives (the audit point). Everything here
//! is `Send + Sync`, created once, and never touched on a request's hot path except where
//! noted.
//!
//! - the TLS session ticketer of domains without mutual TLS: one key schedule for the whole
//!   process, so a ticket issued on one core resumes on another, and (being outside the
//!   configuration snapshot) tickets stay valid across certificate reloads. rustls reads it
//!   during handshakes only. `services` attaches it, and the session stores below,
//!   to each domain's handshake configuration.
//! - the session caches of mutual-TLS domains (`mtls_session_cache`): stateful (a ticket or
//!   TLS 1.2 session id is a 32-byte key; the verified client chain stays on the server),
//!   one per domain *and trust* (truststore, CRL, mode), so a reload that changes the trust
//!   leaves earlier sessions unreachable: such a client must do a full handshake and present
//!   a certificate the current verifier accepts. Each cache is a [`LazySessionCache`]: a
//!   rustls `ServerSessionMemoryCache` (its own mutex, held for one map operation per
//!   handshake) allocated when the domain stores its first session, so a configuration of
//!   many mTLS domains costs nothing here until clients use them.
//! - the one session cache of all domains without mutual TLS (`plain_session_cache`, also a
//!   [`LazySessionCache`]): those resume through the ticketer, so it only serves TLS 1.2
//!   clients that resume by session id without tickets. rustls binds every stored session
//!   to the SNI it was made under and refuses it under another name, so sharing it between
//!   domains that hold no client identity is as safe as sharing the ticketer, and like the
//!   ticketer it survives reloads.
//! - the stage caches (`cache::stage::StageCache`, held by `services::Services`
//!   and reached through `WorkerCtx::services`): the design's one deliberate exception to
//!   "no lock shared with another core on the request path". Each stage's store is split into up to 64
//!   shards by key hash (`cache::store`), each behind its own `Mutex` on its own cache line,
//!   held only for the hash-map and list work of one lookup or insert (never across an
//!   await, never while allocating a response or waking a waiter). Counters are per-worker
//!   slots (relaxed atomics, no shared line). Coalesced waiters are woken through std
//!   `Waker`s (monoio's cross-thread wake-up). The admin thread flushes through the same
//!   shard locks.
//! - the central token pools of the rate limits ([`TokenPools`], one per configuration,
//!   reached through `limits::worker::LimitsLink`, which `services` holds): per
//!   limit, one atomic count of the whole tokens that any worker may take, on its own cache
//!   line. Touched on the request path only
//!   by a worker whose own lease of a limit is empty (one compare-and-swap per token taken);
//!   the limits thread refills it, and workers take batches from it and put revoked tokens
//!   back on their control ticks. No lock.
//! - the JWT authorizers' key sets (`auth::jwt::keys::PublishedKeys`, one per key source,
//!   made by the process's key service thread `auth::jwt::KeyService`, held by `services`
//!   and by each worker's `KeysReader`): the current `Arc<KeySet>` behind a mutex plus an
//!   atomic generation. A worker loads the generation on each JWT verification that misses
//!   its token cache and takes the mutex only when it moved (once per worker per key
//!   change) to clone the `Arc`. Unknown kids are reported with a non-blocking send on an
//!   unbounded crossbeam channel, at most one outstanding per source (an `AtomicBool`).
//!   The key service's registry (a mutex'd map of sources) is used at configuration time
//!   and on a worker's first request for an authorizer, never in the steady state.
//! - the stage client certificates' ids (`config::client_certificate::NEXT_ID`, an
//!   `AtomicU64`): one taken per stage certificate at configuration load (supervisor
//!   thread), never on the request path; ids are never reused, so a pool group of one
//!   configuration's certificate is never another's. The (certificate, target group) TLS
//!   client configurations built from them are per worker (`Upstreams::client_tls`).
//! - not here by choice: the Lambda authorizers' result caches are per worker
//!   (`WorkerCtx::lambda_caches`; docs/BEHAVIOUR.md "Lambda authorizers" says why), as are
//!   the verified-token caches of JWT authorizers and the SigV4 signing-key caches.

use std::collections::HashMap;
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

/// Sessions kept for all domains without mutual TLS together (TLS 1.2 session ids of
/// clients that do not take tickets).
pub const PLAIN_SESSIONS: usize = 1024;

/// A ticketer that issues nothing: rustls then resumes from the config's session storage.
pub fn no_tickets() -> Arc<dyn rustls::server::ProducesTickets> {
    Arc::new(NoTickets)
}

/// A server session store whose rustls `ServerSessionMemoryCache` (which reserves room for
/// all its `size` entries up front: ~150 KB for 1024) is created by the first `put`. Until
/// then it holds nothing and finds nothing.
#[derive(Debug)]
pub struct LazySessionCache {
    size: usize,
    inner: OnceLock<Arc<ServerSessionMemoryCache>>,
}

impl LazySessionCache {
    pub fn new(size: usize) -> Arc<Self> {
        Arc::new(LazySessionCache {
            size,
            inner: OnceLock::new(),
        })
    }

    /// Whether a session was ever stored (the inner cache exists).
    pub fn is_allocated(&self) -> bool {
        self.inner.get().is_some()
    }
}

impl StoresServerSessions for LazySessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner
            .get_or_init(|| ServerSessionMemoryCache::new(self.size))
            .put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get()?.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get()?.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

static PLAIN_CACHE: OnceLock<Arc<LazySessionCache>> = OnceLock::new();

/// The session store shared by every domain without mutual TLS (see the module comment).
pub fn plain_session_cache() -> Arc<dyn StoresServerSessions> {
    PLAIN_CACHE
        .get_or_init(|| LazySessionCache::new(PLAIN_SESSIONS))
        .clone()
}

type TrustKey = (String, [u8; 32]);

/// The live mTLS session caches by (domain, trust). Entries whose cache no configuration
/// uses any more are swept when the map has doubled since the last sweep, so building N
/// domains costs O(N) here, not O(N^2).
struct MtlsCaches {
    by_trust: HashMap<TrustKey, Weak<LazySessionCache>>,
    sweep_at: usize,
}

static MTLS_CACHES: Mutex<Option<MtlsCaches>> = Mutex::new(None);

/// The session cache of mutual-TLS domain `name` under the trust whose fingerprint is
/// `trust` (truststore, CRL and mode; see `config::custom_domain`). A reload with the same
/// trust gets the same cache back, so sessions survive it; a different trust gets a new,
/// empty cache. Caches no configuration uses any more are forgotten.
pub fn mtls_session_cache(name: &str, trust: [u8; 32]) -> Arc<dyn StoresServerSessions> {
    let mut guard = MTLS_CACHES.lock().unwrap_or_else(|p| p.into_inner());
    let caches = guard.get_or_insert_with(|| MtlsCaches {
        by_trust: HashMap::new(),
        sweep_at: 64,
    });
    let key = (name.to_owned(), trust);
    if let Some(cache) = caches.by_trust.get(&key).and_then(Weak::upgrade) {
        return cache;
    }
    if caches.by_trust.len() >= caches.sweep_at {
        caches.by_trust.retain(|_, weak| weak.strong_count() > 0);
        caches.sweep_at = (caches.by_trust.len() * 2).max(64);
    }
    let cache = LazySessionCache::new(MTLS_SESSIONS_PER_DOMAIN);
    caches.by_trust.insert(key, Arc::downgrade(&cache));
    cache
}

/// How many (domain, trust) entries the mTLS cache registry holds (live or not yet swept).
#[cfg(test)]
fn mtls_registry_len() -> usize {
    MTLS_CACHES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map_or(0, |c| c.by_trust.len())
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
    fn lazy_session_cache_allocates_on_first_put() {
        let c = LazySessionCache::new(4);
        assert!(!c.is_allocated());
        // Lookups on an empty store allocate nothing.
        assert_eq!(c.get(b"k"), None);
        assert_eq!(c.take(b"k"), None);
        assert!(c.can_cache());
        assert!(!c.is_allocated());
        assert!(c.put(b"k".to_vec(), b"v".to_vec()));
        assert!(c.is_allocated());
        assert_eq!(c.get(b"k"), Some(b"v".to_vec()));
        assert_eq!(c.take(b"k"), Some(b"v".to_vec()));
        assert_eq!(c.get(b"k"), None);
        // Bounded like the inner cache: the oldest of 5 entries in a store of 4 is gone.
        for i in 0..5u8 {
            assert!(c.put(vec![i], vec![i]));
        }
        assert_eq!(c.get(&[0]), None);
        assert_eq!(c.get(&[4]), Some(vec![4]));
    }

    #[test]
    fn plain_domains_share_one_session_cache() {
        let a = plain_session_cache();
        let b = plain_session_cache();
        assert!(std::ptr::addr_eq(Arc::as_ptr(&a), Arc::as_ptr(&b)));
    }

    #[test]
    fn mtls_cache_registry_forgets_unused_caches() {
        // 1000 domains built and dropped, config after config: the registry never holds
        // more than about twice what is alive (swept when it doubles; other tests of this
        // module may add a few entries meanwhile).
        for round in 0..5u8 {
            let live: Vec<_> = (0..1000)
                .map(|i| mtls_session_cache(&format!("sweep{i}.example"), [round; 32]))
                .collect();
            assert!(
                mtls_registry_len() <= 2 * live.len() + 100,
                "{}",
                mtls_registry_len()
            );
            drop(live);
        }
        let live: Vec<_> = (0..10)
            .map(|i| mtls_session_cache(&format!("fresh{i}.example"), [9; 32]))
            .collect();
        assert!(mtls_registry_len() < 5 * 1000, "{}", mtls_registry_len());
        drop(live);
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
