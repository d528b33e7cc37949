//! CROSS-CORE: an issuer's current key set, published by the key service thread and read
//! by every worker.
//!
//! [`PublishedKeys`] is `Send + Sync`, made once per key source by [`super::KeyService`]
//! (shared by every authorizer of that source, on every core) and lives as long as an
//! authorizer uses it. It holds the current `Arc<KeySet>` behind a `Mutex` and a
//! generation counter (an `AtomicU64`) bumped after each publication. A worker reads it
//! through its own [`KeysReader`], which keeps an `Arc` of the set it last saw and the
//! generation it saw it at: on the request path it loads the counter (one Acquire load of
//! a line that changes only when keys change) and touches the mutex only when the counter
//! moved, i.e. once per worker per key change, never in the steady state. The mutex is
//! held only to clone or replace an `Arc`.
//!
//! A worker that meets an unknown `kid` calls [`PublishedKeys::report_unknown_kid`]: one
//! `try_send` on the service's bounded crossbeam channel (never blocking; a full channel
//! drops the report), sent only by the first reporter until the service has handled it
//! (an `AtomicBool`), so a flood of unknown kids costs one message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam::channel::Sender;

use super::jwk::KeySet;
use super::source::Msg;

/// One key source's current keys, shared by all workers (see the module comment).
#[derive(Debug)]
pub struct PublishedKeys {
    current: Mutex<Arc<KeySet>>,
    generation: AtomicU64,
    /// Whether a key set was ever published (false while the first fetch is pending).
    loaded: AtomicBool,
    /// A refresh for an unknown kid was asked and not yet handled.
    refresh_asked: AtomicBool,
    /// Where unknown kids are reported, and this source's id there.
    service: Option<(Sender<Msg>, u64)>,
}

impl PublishedKeys {
    /// Keys that never change (tests, benches, static key sets): unknown kids go nowhere.
    pub fn fixed(keys: KeySet) -> Arc<Self> {
        let p = Self::empty(None);
        p.publish(keys);
        p
    }

    pub(super) fn empty(service: Option<(Sender<Msg>, u64)>) -> Arc<Self> {
        Arc::new(PublishedKeys {
            current: Mutex::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
            loaded: AtomicBool::new(false),
            refresh_asked: AtomicBool::new(false),
            service,
        })
    }

    /// The generation of the current key set (0 before the first publication).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether keys were ever published.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The current key set (takes the mutex: not for the request path, see [`KeysReader`]).
    pub fn load(&self) -> Arc<KeySet> {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard)
    }

    /// Replace the key set (the key service thread; tests). When `keys` lacks a key of the
    /// set it replaces, its removal epoch is the old one plus one (cached tokens verified
    /// under the old epoch are verified again), otherwise the old one. Returns whether
    /// anything changed; an identical set is not published again.
    pub fn publish(&self, mut keys: KeySet) -> bool {
        {
            let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
            let old = &**guard;
            let unchanged =
                self.is_loaded() && keys.keys().len() == old.keys().len() && keys.keeps_all_of(old);
            if unchanged {
                return false;
            }
            let epoch = if keys.keeps_all_of(old) {
                old.removal_epoch()
            } else {
                old.removal_epoch() + 1
            };
            keys.set_removal_epoch(epoch);
            *guard = Arc::new(keys);
        }
        self.loaded.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Ask the key service for a refresh because a token named a `kid` not in the set of
    /// generation `seen` (what the reporting worker verified against: a report about a set
    /// already replaced asks for nothing). Never blocks; the service rate-limits refreshes
    /// per source.
    pub fn report_unknown_kid(&self, seen: u64) {
        let Some((tx, id)) = &self.service else {
            return;
        };
        if self.refresh_asked.swap(true, Ordering::AcqRel) {
            return; // already asked, not yet handled
        }
        if tx.try_send(Msg::UnknownKid(*id, seen)).is_err() {
            self.refresh_asked.store(false, Ordering::Release);
        }
    }

    /// The service took the report: the next unknown kid may ask again.
    pub(super) fn clear_refresh_asked(&self) {
        self.refresh_asked.store(false, Ordering::Release);
    }

    /// Whether a refresh was asked and not yet handled.
    pub fn refresh_pending(&self) -> bool {
        self.refresh_asked.load(Ordering::Acquire)
    }
}

/// A worker's view of one [`PublishedKeys`]: re-reads the shared `Arc` only when the
/// generation moved. Plain per-worker state.
#[derive(Debug)]
pub struct KeysReader {
    shared: Arc<PublishedKeys>,
    seen: u64,
    local: Arc<KeySet>,
}

impl KeysReader {
    pub fn new(shared: Arc<PublishedKeys>) -> Self {
        let seen = shared.generation();
        let local = shared.load();
        KeysReader {
            shared,
            seen,
            local,
        }
    }

    /// The current key set: one atomic load, plus a clone of the shared `Arc` when the
    /// service published a new one since the last call.
    #[inline]
    pub fn current(&mut self) -> &KeySet {
        let g = self.shared.generation();
        if g != self.seen {
            self.local = self.shared.load();
            self.seen = g;
        }
        &self.local
    }

    pub fn shared(&self) -> &Arc<PublishedKeys> {
        &self.shared
    }

    /// The generation of the set [`KeysReader::current`] last returned.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Report an unknown kid in the set last returned (see
    /// [`PublishedKeys::report_unknown_kid`]).
    pub fn report_unknown_kid(&self) {
        self.shared.report_unknown_kid(self.seen);
    }
}
