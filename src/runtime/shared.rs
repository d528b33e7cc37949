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

use std::sync::{Arc, Mutex, OnceLock, Weak};

use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

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
}
