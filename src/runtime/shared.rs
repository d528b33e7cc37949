//! The one place where state shared by every core lives (the audit point). Everything here
//! is `Send + Sync`, created once, and never touched on a request's hot path except where
//! noted.
//!
//! - the TLS session ticketer: one key schedule for the whole process, so a ticket issued on
//!   one core resumes on another, and (being outside the configuration snapshot) tickets stay
//!   valid across certificate reloads. rustls reads it during handshakes only.
//! - the stage caches (`cache::stage::StageCache`, reached through
//!   `Snapshot::stage_caches`): the design's one deliberate exception to "no lock shared
//!   with another core on the request path". Each stage's store is split into up to 64
//!   shards by key hash (`cache::store`), each behind its own `Mutex` on its own cache line,
//!   held only for the hash-map and list work of one lookup or insert (never across an
//!   await, never while allocating a response or waking a waiter). Counters are per-worker
//!   slots (relaxed atomics, no shared line). Coalesced waiters are woken through std
//!   `Waker`s (monoio's cross-thread wake-up). The admin thread flushes through the same
//!   shard locks.

use std::sync::{Arc, OnceLock};

static REFUSING: OnceLock<Option<Arc<rustls::ServerConfig>>> = OnceLock::new();

/// A server configuration that has no certificate for anyone: finishing a handshake with it
/// makes rustls send a fatal alert, so a client asking for an unknown name is told so
/// instead of seeing the connection drop.
pub fn refusing_server_config() -> Option<Arc<rustls::ServerConfig>> {
    REFUSING
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(NoCertificate));
            Some(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct NoCertificate;

impl rustls::server::ResolvesServerCert for NoCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
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
