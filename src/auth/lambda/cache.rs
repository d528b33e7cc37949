//! The authorizer result cache, as API Gateway has it: keyed by the identity sources'
//! values, kept for the authorizer's TTL (default 300 s, 0 = off, at most 3600 s), holding
//! the compiled answer (policy, principal, context, usage key), never the decision for one
//! method: a cached policy is evaluated against each request's own method ARN.
//!
//! One cache per authorizer per worker (single-threaded: `RefCell`, `Rc`). Why per worker
//! and not one shared by all workers: docs/BEHAVIOUR.md, "Lambda authorizers" (measured in
//! benches/lambda_authorizer.rs).
//!
//! Bounded by entry count. All entries of a cache share its TTL, so insertion order is
//! expiry order: a queue of keys in insertion order gives both the expired entries (at its
//! front) and, when the cache is full, the entry closest to expiry to evict (also at its
//! front), each in O(1).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use ahash::AHashMap;

use crate::time::Clock;

/// API Gateway's default TTL of authorizer results.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// API Gateway's largest TTL of authorizer results.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Default bound on the entries of one authorizer's cache on one worker.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The cache key: the identity sources' values in their configured order, each prefixed
/// with its length, so no two different lists of values make the same key (`a,b` + `c`
/// and `a` + `b,c` differ). Reused across requests: `clear` keeps the capacity.
#[derive(Debug, Default, Clone)]
pub struct IdentityKey {
    buf: Vec<u8>,
}

impl IdentityKey {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Append the next identity source's value.
    pub fn push(&mut self, value: &[u8]) {
        self.buf
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(value);
    }

    /// The key of the values pushed since the last `clear`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

struct Slot<V> {
    result: Rc<V>,
    expires: Duration,
}

/// One authorizer's results on one worker: `V` is what is kept per identity (an
/// [`super::AuthorizerResult`], or the caller's wrapper of one).
pub struct ResultCache<V, C: Clock> {
    ttl: Duration,
    capacity: usize,
    clock: C,
    map: RefCell<AHashMap<Rc<[u8]>, Slot<V>>>,
    /// Keys in insertion (= expiry) order, with the expiry they were inserted with: an entry
    /// whose key was inserted again since is stale (its expiry differs) and skipped.
    order: RefCell<VecDeque<(Rc<[u8]>, Duration)>>,
}

impl<V, C: Clock> ResultCache<V, C> {
    /// A cache keeping results for `ttl` (clamped to [`MAX_TTL`]; zero: caching off), at
    /// most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize, clock: C) -> Self {
        ResultCache {
            ttl: ttl.min(MAX_TTL),
            capacity,
            clock,
            map: RefCell::new(AHashMap::new()),
            order: RefCell::new(VecDeque::new()),
        }
    }

    /// Whether results are kept at all (TTL above zero, room for one).
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The clock entries expire by.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The result cached for `key`, if it has not expired.
    pub fn get(&self, key: &[u8]) -> Option<Rc<V>> {
        self.get_at(key, self.clock.now())
    }

    /// [`ResultCache::get`] at `now`, a reading of this cache's clock the caller already
    /// has (a request's start: no second clock read per request).
    pub fn get_at(&self, key: &[u8], now: Duration) -> Option<Rc<V>> {
        if !self.enabled() {
            return None;
        }
        let mut map = self.map.borrow_mut();
        let slot = map.get(key)?;
        if now < slot.expires {
            return Some(Rc::clone(&slot.result));
        }
        map.remove(key);
        None
    }

    /// Keep `result` for `key` for the TTL from now.
    pub fn insert(&self, key: &[u8], result: Rc<V>) {
        if !self.enabled() {
            return;
        }
        let now = self.clock.now();
        self.insert_at(key, result, now);
    }

    /// [`ResultCache::insert`] at `now` (a reading of this cache's clock).
    pub fn insert_at(&self, key: &[u8], result: Rc<V>, now: Duration) {
        if !self.enabled() {
            return;
        }
        let expires = now + self.ttl;
        let mut map = self.map.borrow_mut();
        let mut order = self.order.borrow_mut();
        // Expired entries first, then the oldest ones while full (and the queue bounded,
        // whatever stale entries it holds).
        while let Some((k, at)) = order.front() {
            let expired = *at <= now;
            let full = (map.len() >= self.capacity && !map.contains_key(key))
                || order.len() > 2 * self.capacity;
            if !expired && !full {
                break;
            }
            if map.get(k).is_some_and(|slot| slot.expires == *at) {
                map.remove(k);
            }
            order.pop_front();
        }
        let key: Rc<[u8]> = Rc::from(key);
        order.push_back((Rc::clone(&key), expires));
        map.insert(key, Slot { result, expires });
    }

    /// Results held now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every result.
    pub fn clear(&self) {
        self.map.borrow_mut().clear();
        self.order.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::lambda::response::{AuthorizerResult, Grant};
    use crate::time::FakeClock;

    /// A fake clock the test keeps a handle on.
    #[derive(Clone, Default)]
    struct TestClock(Rc<FakeClock>);

    impl Clock for TestClock {
        fn now(&self) -> Duration {
            self.0.now()
        }
    }

    fn result(principal: &str) -> Rc<AuthorizerResult> {
        Rc::new(AuthorizerResult {
            principal_id: Some(principal.into()),
            grant: Grant::Simple(true),
            context: Vec::new(),
            usage_identifier_key: None,
        })
    }

    fn principal(cache: &ResultCache<AuthorizerResult, TestClock>, key: &[u8]) -> Option<String> {
        cache
            .get(key)
            .and_then(|r| r.principal_id.as_deref().map(str::to_owned))
    }

    fn key(values: &[&str]) -> Vec<u8> {
        let mut k = IdentityKey::new();
        for v in values {
            k.push(v.as_bytes());
        }
        k.as_bytes().to_vec()
    }

    #[test]
    fn keys_are_unambiguous() {
        assert_ne!(key(&["a,b", "c"]), key(&["a", "b,c"]));
        assert_ne!(key(&["ab"]), key(&["a", "b"]));
        assert_ne!(key(&[""]), key(&[]));
        assert_ne!(key(&["", ""]), key(&[""]));
        assert_eq!(key(&["tok"]), key(&["tok"]));
        let mut k = IdentityKey::new();
        k.push(b"x");
        k.clear();
        k.push(b"tok");
        assert_eq!(k.as_bytes(), key(&["tok"]));
    }

    #[test]
    fn results_live_for_the_ttl() {
        let clock = TestClock::default();
        let cache = ResultCache::new(Duration::from_secs(300), 100, clock.clone());
        let k = key(&["token-1"]);
        assert!(cache.get(&k).is_none());
        cache.insert(&k, result("p1"));
        assert_eq!(principal(&cache, &k).as_deref(), Some("p1"));
        clock.0.advance(Duration::from_millis(299_999));
        assert_eq!(principal(&cache, &k).as_deref(), Some("p1"));
        clock.0.advance(Duration::from_millis(1));
        assert!(cache.get(&k).is_none());
        assert_eq!(cache.len(), 0, "an expired entry is dropped when seen");
        // Another identity is another entry.
        cache.insert(&k, result("p1"));
        assert!(cache.get(&key(&["token-2"])).is_none());
    }

    #[test]
    fn explicit_readings_of_the_clock() {
        let clock = TestClock::default();
        let cache = ResultCache::new(Duration::from_secs(10), 10, clock.clone());
        cache.insert_at(b"k", result("p"), Duration::from_secs(5));
        assert!(cache.get_at(b"k", Duration::from_secs(14)).is_some());
        // The cache's own clock (still at 0) is not read by get_at.
        assert!(cache.get_at(b"k", Duration::from_secs(15)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn zero_ttl_is_off_and_the_ttl_is_at_most_an_hour() {
        let clock = TestClock::default();
        let cache = ResultCache::new(Duration::ZERO, 100, clock.clone());
        assert!(!cache.enabled());
        cache.insert(b"k", result("p"));
        assert!(cache.get(b"k").is_none());
        assert_eq!(cache.len(), 0);
        let cache = ResultCache::new(Duration::from_secs(7200), 100, clock.clone());
        assert_eq!(cache.ttl(), MAX_TTL);
        cache.insert(b"k", result("p"));
        clock.0.advance(MAX_TTL - Duration::from_millis(1));
        assert!(cache.get(b"k").is_some());
        clock.0.advance(Duration::from_millis(1));
        assert!(cache.get(b"k").is_none());
        assert!(!ResultCache::<AuthorizerResult, _>::new(DEFAULT_TTL, 0, clock).enabled());
    }

    #[test]
    fn bounded_evicting_the_oldest() {
        let clock = TestClock::default();
        let cache = ResultCache::new(Duration::from_secs(60), 3, clock.clone());
        for i in 0..3 {
            cache.insert(format!("k{i}").as_bytes(), result(&format!("p{i}")));
            clock.0.advance(Duration::from_secs(1));
        }
        assert_eq!(cache.len(), 3);
        cache.insert(b"k3", result("p3"));
        assert_eq!(cache.len(), 3);
        assert!(cache.get(b"k0").is_none(), "the oldest went");
        for i in 1..4 {
            assert!(cache.get(format!("k{i}").as_bytes()).is_some(), "k{i}");
        }
        // Expired entries make room before anything live is evicted.
        clock.0.advance(Duration::from_secs(58)); // k1 expires (inserted at 1 s)
        cache.insert(b"k4", result("p4"));
        assert!(cache.get(b"k1").is_none());
        for k in ["k2", "k3", "k4"] {
            assert!(cache.get(k.as_bytes()).is_some(), "{k}");
        }
    }

    #[test]
    fn a_key_inserted_again_is_not_dropped_by_its_old_queue_entry() {
        let clock = TestClock::default();
        let cache = ResultCache::new(Duration::from_secs(10), 2, clock.clone());
        cache.insert(b"a", result("old"));
        clock.0.advance(Duration::from_secs(5));
        // Two misses in flight for the same identity both answer: the later one stays.
        cache.insert(b"a", result("new"));
        clock.0.advance(Duration::from_secs(6)); // the first insertion's expiry has passed
        cache.insert(b"b", result("b"));
        assert_eq!(principal(&cache, b"a").as_deref(), Some("new"));
        assert_eq!(principal(&cache, b"b").as_deref(), Some("b"));
        // The queue stays bounded however often one key is inserted.
        for _ in 0..100 {
            cache.insert(b"a", result("again"));
        }
        assert!(cache.order.borrow().len() <= 2 * 2 + 1);
        assert_eq!(principal(&cache, b"a").as_deref(), Some("again"));
    }

    #[test]
    fn the_cached_answer_is_evaluated_per_method() {
        use crate::auth::policy::{Decision, ParseOptions, Policy};
        let policy = Policy::from_value(
            &serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "execute-api:Invoke",
                "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/*"
            }]}),
            &ParseOptions::IDENTITY,
        )
        .expect("compiles");
        let clock = TestClock::default();
        let cache = ResultCache::new(DEFAULT_TTL, 10, clock);
        cache.insert(
            b"tok",
            Rc::new(AuthorizerResult {
                principal_id: Some("u".into()),
                grant: Grant::Policy(policy),
                context: Vec::new(),
                usage_identifier_key: None,
            }),
        );
        let hit = cache.get(b"tok").expect("cached");
        assert_eq!(
            hit.decide_for("arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets"),
            Decision::Allow
        );
        assert_eq!(
            hit.decide_for("arn:aws:execute-api:us-east-1:123456789012:api/prod/DELETE/pets"),
            Decision::NoMatch
        );
    }
}
