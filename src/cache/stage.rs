//! One stage's cache: the sharded store every worker shares (the design's one deliberate
//! cross-core lock, audited in `runtime::shared`), and the stage's CacheHitCount and
//! CacheMissCount, kept per worker slot so counting never shares a cache line between cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::utils::CachePadded;

use super::entry::CachedResponse;
use super::store::{Policy, Store};
use crate::config::snapshot::Api;
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
    /// it, entries and counters included).
    fn fits(&self, capacity_bytes: u64, policy: Policy, set_cookie: bool) -> bool {
        self.store.capacity_bytes() == capacity_bytes
            && self.store.policy() == policy
            && self.set_cookie == set_cookie
    }
}

/// A new cache for every stage with caching on, indexed by stage id.
pub fn for_stages(apis: &[Arc<Api>], stage_count: usize) -> Vec<Option<Arc<StageCache>>> {
    let mut caches = vec![None; stage_count];
    for api in apis {
        for stage in api.stages.values() {
            if let (Some(c), Some(slot)) = (&stage.cache, caches.get_mut(stage.id)) {
                *slot = Some(Arc::new(
                    StageCache::new(&api.id, &stage.name, c.capacity_bytes, c.policy)
                        .storing_set_cookie(c.set_cookie),
                ));
            }
        }
    }
    caches
}

/// On reload: keep the running cache of every stage (same API id and stage name) whose
/// capacity, policy and Set-Cookie opt-in are unchanged, as API Gateway keeps a stage's
/// cache cluster until its size changes. Returns how many were kept.
pub fn adopt(new: &mut [Option<Arc<StageCache>>], old: &[Option<Arc<StageCache>>]) -> usize {
    let mut kept = 0;
    for slot in new.iter_mut() {
        let Some(fresh) = slot else { continue };
        let running = old.iter().flatten().find(|c| {
            c.api == fresh.api
                && c.stage == fresh.stage
                && c.fits(
                    fresh.store.capacity_bytes(),
                    fresh.store.policy(),
                    fresh.set_cookie,
                )
        });
        if let Some(running) = running {
            *slot = Some(Arc::clone(running));
            kept += 1;
        }
    }
    kept
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

    #[test]
    fn adopt_keeps_same_stage_with_same_capacity() {
        let old_cache = Arc::new(StageCache::new("a", "s", 1 << 20, Policy::Lru));
        let value = Arc::new(CachedResponse::new(
            200,
            b"HTTP/1.1 200 OK\r\nx".to_vec(),
            17,
        ));
        assert!(old_cache
            .store
            .insert(b"k", value, 18, Duration::from_secs(10), Duration::ZERO));
        let old = vec![Some(old_cache.clone())];
        let mut same = vec![
            None,
            Some(Arc::new(StageCache::new("a", "s", 1 << 20, Policy::Lru))),
        ];
        assert_eq!(adopt(&mut same, &old), 1);
        assert!(same[1].as_ref().is_some_and(|c| Arc::ptr_eq(c, &old_cache)));
        let mut resized = vec![Some(Arc::new(StageCache::new(
            "a",
            "s",
            2 << 20,
            Policy::Lru,
        )))];
        assert_eq!(adopt(&mut resized, &old), 0);
        let mut other = vec![Some(Arc::new(StageCache::new(
            "a",
            "t",
            1 << 20,
            Policy::Lru,
        )))];
        assert_eq!(adopt(&mut other, &old), 0);
        // Turning the Set-Cookie opt-in on or off starts an empty cache.
        let mut cookies = vec![Some(Arc::new(
            StageCache::new("a", "s", 1 << 20, Policy::Lru).storing_set_cookie(true),
        ))];
        assert_eq!(adopt(&mut cookies, &old), 0);
        let old = cookies.clone();
        let mut off = vec![Some(Arc::new(StageCache::new(
            "a",
            "s",
            1 << 20,
            Policy::Lru,
        )))];
        assert_eq!(adopt(&mut off, &old), 0);
    }
}
