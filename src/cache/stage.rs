//! One stage's cache: the sharded store every worker shares (the design's one deliberate
//! cross-core lock, audited in `shared`), and the stage's CacheHitCount and
//! CacheMissCount, kept per worker slot so counting never shares a cache line between cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam::utils::CachePadded;

use super::entry::CachedResponse;
use super::store::{Policy, Store};
use crate::time::{Clock, RealClock};

/// Counter slots; worker `i` counts in slot `i % SLOTS`.
const SLOTS: usize = 64;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

pub struct StageCache {
    pub api: String,
    pub stage: String,
    pub store: Store<CachedResponse>,
    counters: Box<[CachePadded<Counters>]>,
    /// Entry times are measured on this one clock whichever core reads them.
    clock: RealClock,
    /// Whether the stage stores responses carrying `Set-Cookie` (a reload that turns this
    /// off must not keep serving entries stored while it was on).
    set_cookie: bool,
}

impl std::fmt::Debug for StageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StageCache({}/{})", self.api, self.stage)
    }
}

/// What the admin endpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
}

impl StageCache {
    pub fn new(api: &str, stage: &str, capacity_bytes: u64, policy: Policy) -> Self {
        StageCache {
            api: api.to_string(),
            stage: stage.to_string(),
            store: Store::new(capacity_bytes, 0, policy),
            counters: (0..SLOTS)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
            clock: RealClock::new(),
            set_cookie: false,
        }
    }

    /// The same, for a stage that stores responses carrying `Set-Cookie`.
    pub fn storing_set_cookie(mut self, on: bool) -> Self {
        self.set_cookie = on;
        self
    }

    /// Now, on the cache's clock (the store itself takes time as an argument, so its tests
    /// run on exact fake times).
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    pub fn count_hit(&self, worker: usize) {
        if let Some(c) = self.counters.get(worker % SLOTS) {
            c.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count_miss(&self, worker: usize) {
        if let Some(c) = self.counters.get(worker % SLOTS) {
            c.misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (hits, misses) = self.counters.iter().fold((0, 0), |(h, m), c| {
            (
                h + c.hits.load(Ordering::Relaxed),
                m + c.misses.load(Ordering::Relaxed),
            )
        });
        let s = self.store.stats();
        CacheStats {
            hits,
            misses,
            entries: s.entries,
            bytes: s.bytes,
            capacity_bytes: self.store.capacity_bytes(),
        }
    }

    /// Whether this cache can serve a stage configured with these settings (a reload keeps
    /// it, entries and counters included: see `services::reconcile`).
    pub fn fits(&self, capacity_bytes: u64, policy: Policy, set_cookie: bool) -> bool {
        self.store.capacity_bytes() == capacity_bytes
            && self.store.policy() == policy
            && self.set_cookie == set_cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_slots() {
        let c = StageCache::new("a", "s", 1 << 20, Policy::Lru);
        c.count_hit(0);
        c.count_hit(65);
        c.count_miss(3);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (2, 1));
        assert_eq!(s.capacity_bytes, 1 << 20);
    }
}
