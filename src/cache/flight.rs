//! Request coalescing: one fill in flight per key, other callers wait for its value.
//!
//! [`Store::lookup`](super::store::Store::lookup) with coalescing on makes the first caller to
//! miss a key its leader (`Lookup::Miss(fill)`) and records the fill's `Flight` in the key's
//! shard; later callers get `Lookup::Wait(waiter)`. The leader ends the fill exactly once:
//! [`Fill::complete`] stores the value (unless a flush came in between, it does not fit, or its
//! ttl is zero) and hands it to every waiter; [`Fill::abandon`] or dropping the fill hands them
//! `None` (they then fetch themselves). Either way the in-flight record leaves the shard in the
//! same critical section that stores the value, so a lookup always sees the flight or the entry.
//!
//! Waiters are woken through `std::task::Waker`s, outside every lock, so the leader and its
//! waiters may run on different threads (monoio's wakers are cross-thread with its `sync`
//! feature). A dropped [`Waiter`] (its caller timed out) just forgets its waker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::store::Store;

/// A fetch of one key whose result is to be stored (RAII: dropping it abandons it).
pub struct Fill<'s, V> {
    store: &'s Store<V>,
    key: Arc<[u8]>,
    hash: u64,
    /// The store's flush generation when the fill started.
    generation: u64,
    /// Some while this fill leads a coalesced flight that is not yet resolved.
    flight: Option<Arc<Flight<V>>>,
}

impl<'s, V> Fill<'s, V> {
    pub(crate) fn new(
        store: &'s Store<V>,
        key: Arc<[u8]>,
        hash: u64,
        generation: u64,
        flight: Option<Arc<Flight<V>>>,
    ) -> Self {
        Fill {
            store,
            key,
            hash,
            generation,
            flight,
        }
    }

    /// The key being filled.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether other callers may be waiting for this fill (it leads a coalesced flight).
    pub fn is_leader(&self) -> bool {
        self.flight.is_some()
    }
}

impl<V: Send + Sync> Fill<'_, V> {
    /// Store the value (unless a flush happened since the fill started, or it does not fit, or
    /// ttl == 0), then wake every waiter with Some(value) (waiters get the value even if it was
    /// not stored).
    pub fn complete(mut self, value: Arc<V>, value_bytes: usize, ttl: Duration, now: Duration) {
        let flight = self.flight.take();
        let for_waiters = flight.as_ref().map(|_| Arc::clone(&value));
        self.store.store_hashed(
            self.hash,
            Arc::clone(&self.key),
            value,
            value_bytes,
            ttl,
            now,
            Some(self.generation),
            flight.as_ref(),
        );
        if let Some(flight) = flight {
            flight.resolve(for_waiters);
        }
    }

    /// Nothing cacheable: wake waiters with None right away (they then fetch themselves). Same
    /// as drop.
    pub fn abandon(self) {
        drop(self);
    }
}

impl<V> Drop for Fill<'_, V> {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            self.store.end_flight(self.hash, &self.key, &flight);
            flight.resolve(None);
        }
    }
}

impl<V> fmt::Debug for Fill<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fill")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("generation", &self.generation)
            .field("leader", &self.flight.is_some())
            .finish()
    }
}

/// One coalesced fill: its outcome once resolved, and the wakers of the callers waiting for it.
pub(crate) struct Flight<V> {
    state: Mutex<FlightState<V>>,
}

struct FlightState<V> {
    /// None while in flight; Some(Some(value)) completed; Some(None) abandoned.
    outcome: Option<Option<Arc<V>>>,
    /// One slot per waiter that was polled; a dropped waiter empties its slot.
    wakers: Vec<Option<Waker>>,
}

impl<V> Flight<V> {
    pub(crate) fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                outcome: None,
                wakers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FlightState<V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record the outcome (first call wins) and wake the waiters, outside the lock.
    fn resolve(&self, outcome: Option<Arc<V>>) {
        let wakers = {
            let mut state = self.lock();
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Waits for another caller's fill: resolves to Some(value) when the leader completes, None
/// when it abandons or drops its fill. Dropping it (a timeout) is harmless.
pub struct Waiter<V> {
    flight: Arc<Flight<V>>,
    /// This waiter's slot in the flight's waker list, once polled.
    slot: Option<usize>,
}

impl<V> Waiter<V> {
    pub(crate) fn new(flight: Arc<Flight<V>>) -> Self {
        Waiter { flight, slot: None }
    }
}

impl<V> Future for Waiter<V> {
    type Output = Option<Arc<V>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.flight.lock();
        if let Some(outcome) = &state.outcome {
            return Poll::Ready(outcome.clone());
        }
        let waker = cx.waker();
        match this.slot {
            Some(slot) => match state.wakers.get_mut(slot) {
                Some(Some(registered)) if registered.will_wake(waker) => {}
                Some(entry) => *entry = Some(waker.clone()),
                None => {} // unreachable while in flight: the list only grows until resolved
            },
            None => {
                this.slot = Some(state.wakers.len());
                state.wakers.push(Some(waker.clone()));
            }
        }
        Poll::Pending
    }
}

impl<V> Drop for Waiter<V> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let waker = self
                .flight
                .lock()
                .wakers
                .get_mut(slot)
                .and_then(Option::take);
            drop(waker); // outside the lock
        }
    }
}

impl<V> fmt::Debug for Waiter<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resolved = self.flight.lock().outcome.is_some();
        f.debug_struct("Waiter")
            .field("resolved", &resolved)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::task::Wake;
    use std::thread::{self, Thread};

    use super::*;
    use crate::cache::store::{Lookup, Policy, Store};

    const NOW: Duration = Duration::from_secs(100);
    const TTL: Duration = Duration::from_secs(60);

    #[derive(Default)]
    struct CountingWake(AtomicUsize);

    impl Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl CountingWake {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn counting() -> (Arc<CountingWake>, Waker) {
        let wake = Arc::new(CountingWake::default());
        (Arc::clone(&wake), Waker::from(wake))
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    fn store(policy: Policy) -> Store<String> {
        Store::new(1 << 20, 4, policy)
    }

    fn leader<'s>(store: &'s Store<String>, key: &[u8]) -> Fill<'s, String> {
        match store.lookup(key, NOW, true) {
            Lookup::Miss(fill) => {
                assert!(fill.is_leader());
                assert_eq!(fill.key(), key);
                fill
            }
            other => panic!("expected Miss, got {other:?}"),
        }
    }

    fn waiter(store: &Store<String>, key: &[u8]) -> Waiter<String> {
        match store.lookup(key, NOW, true) {
            Lookup::Wait(waiter) => waiter,
            other => panic!("expected Wait, got {other:?}"),
        }
    }

    fn text(s: &str) -> Arc<String> {
        Arc::new(s.to_string())
    }

    #[test]
    fn waiters_get_the_leaders_value_then_lookups_hit() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let store = store(policy);
            let fill = leader(&store, b"k");
            let mut first = waiter(&store, b"k");
            let mut second = waiter(&store, b"k");
            let (count1, waker1) = counting();
            let (count2, waker2) = counting();
            assert!(poll(&mut first, &waker1).is_pending());
            assert!(
                poll(&mut first, &waker1).is_pending(),
                "re-poll, same waker"
            );
            assert!(poll(&mut second, &waker2).is_pending());
            assert_eq!(store.get(b"k", NOW), None);

            fill.complete(text("v"), 1, TTL, NOW);
            assert_eq!((count1.count(), count2.count()), (1, 1));
            assert_eq!(poll(&mut first, &waker1), Poll::Ready(Some(text("v"))));
            assert_eq!(poll(&mut second, &waker2), Poll::Ready(Some(text("v"))));
            match store.lookup(b"k", NOW, true) {
                Lookup::Hit(v) => assert_eq!(*v, "v"),
                other => panic!("expected Hit, got {other:?}"),
            }
            assert_eq!(store.flights_in(), 0);
        }
    }

    #[test]
    fn a_waiter_joining_late_or_never_polled_gets_the_value() {
        let store = store(Policy::S3Fifo);
        let fill = leader(&store, b"k");
        let mut never_polled = waiter(&store, b"k");
        fill.complete(text("v"), 1, TTL, NOW);
        let (count, waker) = counting();
        assert_eq!(
            poll(&mut never_polled, &waker),
            Poll::Ready(Some(text("v")))
        );
        assert_eq!(count.count(), 0);
    }

    #[test]
    fn dropping_the_leader_resolves_waiters_to_none() {
        let store = store(Policy::Lru);
        let fill = leader(&store, b"k");
        let mut wait = waiter(&store, b"k");
        let (count, waker) = counting();
        assert!(poll(&mut wait, &waker).is_pending());
        drop(fill);
        assert_eq!(count.count(), 1);
        assert_eq!(poll(&mut wait, &waker), Poll::Ready(None));
        assert_eq!(store.flights_in(), 0);
        // The next caller leads a new fill.
        let again = leader(&store, b"k");
        let mut wait = waiter(&store, b"k");
        assert!(poll(&mut wait, &waker).is_pending());
        again.abandon();
        assert_eq!(count.count(), 2);
        assert_eq!(poll(&mut wait, &waker), Poll::Ready(None));
        assert!(matches!(store.lookup(b"k", NOW, true), Lookup::Miss(_)));
    }

    #[test]
    fn a_dropped_waiter_is_harmless() {
        let store = store(Policy::S3Fifo);
        let fill = leader(&store, b"k");
        let mut gone = waiter(&store, b"k");
        let mut stays = waiter(&store, b"k");
        let (gone_count, gone_waker) = counting();
        let (count, waker) = counting();
        assert!(poll(&mut gone, &gone_waker).is_pending());
        assert!(poll(&mut stays, &waker).is_pending());
        drop(gone);
        drop(waiter(&store, b"k")); // never polled
        assert_eq!(
            Arc::strong_count(&gone_count),
            2,
            "ours and gone_waker: the clone was released"
        );
        fill.complete(text("v"), 1, TTL, NOW);
        assert_eq!((gone_count.count(), count.count()), (0, 1));
        assert_eq!(poll(&mut stays, &waker), Poll::Ready(Some(text("v"))));
        // Dropping a resolved waiter is fine too.
        drop(stays);
        assert_eq!(Arc::strong_count(&count), 2);
    }

    #[test]
    fn a_new_waker_replaces_the_old_one() {
        let store = store(Policy::Lru);
        let fill = leader(&store, b"k");
        let mut wait = waiter(&store, b"k");
        let (old_count, old_waker) = counting();
        let (new_count, new_waker) = counting();
        assert!(poll(&mut wait, &old_waker).is_pending());
        assert!(poll(&mut wait, &new_waker).is_pending());
        assert_eq!(
            Arc::strong_count(&old_count),
            2,
            "ours and old_waker: the clone was released"
        );
        fill.complete(text("v"), 1, TTL, NOW);
        assert_eq!((old_count.count(), new_count.count()), (0, 1));
    }

    #[test]
    fn waiters_get_values_that_are_not_stored() {
        let store: Store<String> = Store::new(4096, 1, Policy::S3Fifo);
        for (bytes, ttl) in [(1, Duration::ZERO), (1 << 20, TTL)] {
            let fill = leader(&store, b"k");
            let mut wait = waiter(&store, b"k");
            let (count, waker) = counting();
            assert!(poll(&mut wait, &waker).is_pending());
            fill.complete(text("big"), bytes, ttl, NOW);
            assert_eq!(count.count(), 1);
            assert_eq!(poll(&mut wait, &waker), Poll::Ready(Some(text("big"))));
            assert!(matches!(store.lookup(b"k", NOW, true), Lookup::Miss(_)));
            assert_eq!(store.stats().entries, 0);
        }
    }

    #[test]
    fn without_coalescing_every_miss_fetches() {
        let store = store(Policy::Lru);
        let Lookup::Miss(first) = store.lookup(b"k", NOW, false) else {
            panic!("expected Miss");
        };
        let Lookup::Miss(second) = store.lookup(b"k", NOW, false) else {
            panic!("expected Miss");
        };
        assert!(!first.is_leader() && !second.is_leader());
        assert_eq!(store.flights_in(), 0);
        // A coalesced leader in flight does not make uncoordinated lookups wait either.
        let lead = leader(&store, b"k");
        assert!(matches!(store.lookup(b"k", NOW, false), Lookup::Miss(_)));
        first.complete(text("1"), 1, TTL, NOW);
        assert_eq!(
            store.flights_in(),
            1,
            "an uncoordinated fill leaves the flight alone"
        );
        second.abandon();
        assert_eq!(
            store.get(b"k", NOW).as_deref().map(String::as_str),
            Some("1")
        );
        lead.complete(text("2"), 1, TTL, NOW);
        assert_eq!(
            store.get(b"k", NOW).as_deref().map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn store_fill_replaces_a_fresh_entry() {
        let store = store(Policy::S3Fifo);
        assert!(store.insert(b"k", text("old"), 3, TTL, NOW));
        store.fill(b"k").complete(text("new"), 3, TTL, NOW);
        assert_eq!(store.get(b"k", NOW), Some(text("new")));
        assert_eq!(store.stats().entries, 1);
    }

    struct Unpark {
        thread: Thread,
        woken: AtomicBool,
    }

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    #[test]
    fn waiter_and_leader_on_different_threads() {
        let store = store(Policy::S3Fifo);
        let fill = leader(&store, b"k");
        let mut wait = waiter(&store, b"k");
        let (registered_tx, registered_rx) = mpsc::channel();
        thread::scope(|scope| {
            let waiting = scope.spawn(move || {
                let unpark = Arc::new(Unpark {
                    thread: thread::current(),
                    woken: AtomicBool::new(false),
                });
                let waker = Waker::from(Arc::clone(&unpark));
                assert!(poll(&mut wait, &waker).is_pending());
                registered_tx.send(()).unwrap_or_else(|e| panic!("{e}"));
                // Bounded, so a lost wake fails the test instead of hanging it.
                for _ in 0..600 {
                    if unpark.woken.load(Ordering::SeqCst) {
                        break;
                    }
                    thread::park_timeout(Duration::from_millis(100));
                }
                assert!(unpark.woken.load(Ordering::SeqCst), "never woken");
                poll(&mut wait, &waker)
            });
            scope.spawn(move || {
                registered_rx.recv().unwrap_or_else(|e| panic!("{e}"));
                fill.complete(text("v"), 1, TTL, NOW);
            });
            let outcome = waiting.join().unwrap_or_else(|_| panic!("waiter thread"));
            assert_eq!(outcome, Poll::Ready(Some(text("v"))));
        });
        assert_eq!(store.get(b"k", NOW), Some(text("v")));
    }

    #[test]
    fn many_threads_one_fill() {
        // Every thread either leads, waits for the leader, or hits; exactly one fetch happens
        // while the entry is missing (the value never expires here).
        let store = store(Policy::Lru);
        let fetches = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        match store.lookup(b"k", NOW, true) {
                            Lookup::Hit(v) => assert_eq!(*v, "v"),
                            Lookup::Miss(fill) => {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                thread::yield_now();
                                fill.complete(text("v"), 1, TTL, NOW);
                            }
                            Lookup::Wait(mut wait) => {
                                let unpark = Arc::new(Unpark {
                                    thread: thread::current(),
                                    woken: AtomicBool::new(false),
                                });
                                let waker = Waker::from(unpark);
                                loop {
                                    match poll(&mut wait, &waker) {
                                        Poll::Ready(v) => {
                                            assert_eq!(v, Some(text("v")));
                                            break;
                                        }
                                        Poll::Pending => {
                                            thread::park_timeout(Duration::from_millis(100))
                                        }
                                    }
                                }
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
