//! Sharded, byte-bounded, TTL-aware key/value store: the storage layer of the response cache.
//!
//! One `Store` per stage, shared by every worker thread. A key's 64-bit hash (ahash with fixed
//! seeds, the same on every thread) picks its shard; each shard is a `Mutex` padded to its own
//! cache line, held only for map and list work: values are allocated before it is taken, and
//! values that leave the store are dropped after it is released (see `Graveyard`); wakers
//! are never woken under it.
//!
//! Inside a shard: a `HashMap` from key to slot index, and a slab of nodes with a free list and
//! intrusive doubly linked lists by `u32` index, so a hit allocates nothing. Each entry is
//! charged `value_bytes + key.len() + ENTRY_OVERHEAD` against the shard's share of the
//! capacity, and evicted by the store's [`Policy`]:
//!
//! - [`Policy::Lru`]: a hit moves the entry to the head; eviction takes the tail.
//! - [`Policy::S3Fifo`] (Yang et al., "FIFO queues are all you need for cache eviction",
//!   SOSP'23), by bytes: a small FIFO (~10% of the shard), a main FIFO (the rest) and a ghost
//!   FIFO of the hashes of keys recently evicted from the small one. A new key enters the small
//!   queue, or the main one when its hash is in the ghost. A hit only bumps a 2-bit frequency
//!   (no list movement). Eviction from the small queue (when it holds its share or more)
//!   promotes a tail that was hit since insertion to main and drops the others into the ghost;
//!   eviction from main gives a tail that was hit another round at the head (frequency - 1) and
//!   drops the others. One-hit wonders (scans) thus pass through the small queue without
//!   displacing the working set in main.
//!
//! Expiry: an entry lives while `now < expires_at`, with `expires_at = insert time + ttl`; an
//! expired entry is removed when a lookup finds it, and eviction drops expired entries it meets
//! without promoting them.
//!
//! [`Store::flush`] bumps a generation counter that every fill captures when it starts: a fill
//! that started before a flush stores nothing afterwards (its waiters still get the value).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ahash::RandomState;
use crossbeam::utils::CachePadded;

use super::flight::{Fill, Flight, Waiter};

/// Eviction policy of a [`Store`]: a stage's configured choice (defined with the
/// configuration, which the cache layer sits above).
pub use crate::config::snapshot::CachePolicy as Policy;

/// Bookkeeping bytes charged per entry on top of the key and the value: the slab node (72
/// bytes on 64-bit targets), the hash-map slot (24 bytes at a load factor of at most 7/8, plus
/// its control byte), the headers of the key's and the value's `Arc` (16 bytes each) and, for
/// S3-FIFO, about one ghost record (ring slot and set slot).
pub const ENTRY_OVERHEAD: usize = 160;

/// Automatic sharding: one shard per this many bytes of capacity...
const AUTO_SHARD_BYTES: u64 = 4 << 20;
/// ...and at most this many shards.
const MAX_AUTO_SHARDS: usize = 64;
/// Fixed seeds of the shard hash: every thread (and every store) agrees on a key's hash.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];
/// No node (list end, empty free list).
const NIL: u32 = u32::MAX;
/// S3-FIFO frequency saturates here (two bits).
const MAX_FREQ: u8 = 3;
/// The ghost always remembers at least this many hashes.
const GHOST_MIN: usize = 64;
/// Values evicted by one operation that are dropped after the lock is released; more than
/// this (a large insert evicting many small entries) are dropped under it.
const GRAVE_SLOTS: usize = 8;

/// Entries and bytes currently held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Number of entries.
    pub entries: u64,
    /// Sum of the entries' charges (`value_bytes + key.len() + ENTRY_OVERHEAD`).
    pub bytes: u64,
}

/// The outcome of [`Store::lookup`].
pub enum Lookup<'s, V> {
    /// A live entry.
    Hit(Arc<V>),
    /// Miss; this caller fetches and must `complete` or drop the fill. With coalescing on, it
    /// is the leader: later lookups of the same key get `Wait` until the fill completes or is
    /// dropped.
    Miss(Fill<'s, V>),
    /// Another caller is fetching this key.
    Wait(Waiter<V>),
}

impl<V> fmt::Debug for Lookup<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Hit(_) => f.write_str("Hit"),
            Lookup::Miss(fill) => f.debug_tuple("Miss").field(fill).finish(),
            Lookup::Wait(waiter) => f.debug_tuple("Wait").field(waiter).finish(),
        }
    }
}

/// A sharded, byte-bounded, TTL-aware key/value store shared by all worker threads.
pub struct Store<V> {
    shards: Box<[CachePadded<Mutex<Shard<V>>>]>,
    hasher: RandomState,
    capacity: u64,
    shard_capacity: u64,
    policy: Policy,
    /// Bumped by every flush; fills compare it with the value they captured.
    generation: AtomicU64,
}

impl<V> fmt::Debug for Store<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<V: Send + Sync> Store<V> {
    /// A store of `capacity_bytes` split evenly between `shards` shards.
    ///
    /// `shards == 0`: automatic = largest power of two <= capacity/4 MiB, clamped to 1..=64.
    ///
    /// # Panics
    /// When `shards` is neither 0 nor a power of two (configuration validation refuses it).
    pub fn new(capacity_bytes: u64, shards: usize, policy: Policy) -> Self {
        let count = if shards == 0 {
            auto_shards(capacity_bytes)
        } else {
            assert!(
                shards.is_power_of_two(),
                "cache shard count must be a power of two, got {shards}"
            );
            shards
        };
        let shard_capacity = capacity_bytes / count as u64;
        let shards = (0..count)
            .map(|_| CachePadded::new(Mutex::new(Shard::new(shard_capacity, policy))))
            .collect();
        Store {
            shards,
            hasher: RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3]),
            capacity: capacity_bytes,
            shard_capacity,
            policy,
            generation: AtomicU64::new(0),
        }
    }

    /// The capacity given to [`Store::new`].
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The eviction policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Entry found and `now < expires_at`: returns it (and records the access for the policy).
    /// An expired entry found is removed and None returned.
    pub fn get(&self, key: &[u8], now: Duration) -> Option<Arc<V>> {
        let hash = self.hash(key);
        let mut grave = Graveyard::new();
        let mut shard = self.lock(self.shard_index(hash));
        shard.get(key, now, &mut grave)
    }

    /// Get, or on a miss join/lead the key's fill (see `flight`). `coalesce == false`: a miss
    /// always returns `Lookup::Miss(fill)` with a fill that coordinates with nobody.
    pub fn lookup(&self, key: &[u8], now: Duration, coalesce: bool) -> Lookup<'_, V> {
        let hash = self.hash(key);
        let index = self.shard_index(hash);
        {
            let mut grave = Graveyard::new();
            let mut shard = self.lock(index);
            if let Some(value) = shard.get(key, now, &mut grave) {
                return Lookup::Hit(value);
            }
            if !coalesce {
                drop(shard);
                return Lookup::Miss(Fill::new(
                    self,
                    Arc::from(key),
                    hash,
                    self.generation(),
                    None,
                ));
            }
            if let Some(flight) = shard.flights.get(key) {
                return Lookup::Wait(Waiter::new(Arc::clone(flight)));
            }
        }
        // Lead the fill. Allocate its records outside the lock, then check again: another
        // caller may have stored the key or started its fill in between.
        let key: Arc<[u8]> = Arc::from(key);
        let flight = Arc::new(Flight::new());
        let mut grave = Graveyard::new();
        let mut shard = self.lock(index);
        if let Some(value) = shard.get(&key, now, &mut grave) {
            return Lookup::Hit(value);
        }
        if let Some(other) = shard.flights.get(&*key) {
            return Lookup::Wait(Waiter::new(Arc::clone(other)));
        }
        // Read under the shard lock: a flush either bumped it already (this fill may store) or
        // will clear this shard, flight record included, after this lock is released.
        let generation = self.generation();
        shard.flights.insert(Arc::clone(&key), Arc::clone(&flight));
        drop(shard);
        Lookup::Miss(Fill::new(self, key, hash, generation, Some(flight)))
    }

    /// A fill that does not coordinate with other callers (used for `Cache-Control: max-age=0`
    /// refreshes and for callers whose wait timed out or whose leader produced nothing).
    pub fn fill(&self, key: &[u8]) -> Fill<'_, V> {
        Fill::new(
            self,
            Arc::from(key),
            self.hash(key),
            self.generation(),
            None,
        )
    }

    /// Insert/replace directly. `value_bytes` is the value's size; the charge against capacity
    /// is `value_bytes + key.len() + ENTRY_OVERHEAD`. Returns false (and stores nothing) when
    /// the charge exceeds one shard's capacity or ttl is zero; an entry the key already had is
    /// then removed (it is superseded). Evicts by policy until it fits.
    pub fn insert(
        &self,
        key: &[u8],
        value: Arc<V>,
        value_bytes: usize,
        ttl: Duration,
        now: Duration,
    ) -> bool {
        let hash = self.hash(key);
        if !self.storable(key.len(), value_bytes, ttl) {
            self.remove_hashed(hash, key);
            return false;
        }
        self.store_hashed(
            hash,
            Arc::from(key),
            value,
            value_bytes,
            ttl,
            now,
            None,
            None,
        )
    }

    /// Remove the key's entry; true when there was one.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.remove_hashed(self.hash(key), key)
    }

    /// Drop every entry. Fills that started before the flush store nothing afterwards; lookups
    /// after it start new fills rather than joining the old ones.
    pub fn flush(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for index in 0..self.shards.len() {
            let fresh = Shard::new(self.shard_capacity, self.policy);
            let old = std::mem::replace(&mut *self.lock(index), fresh);
            drop(old); // after the lock is released
        }
    }

    /// Entries and bytes currently held (summed over the shards, each read under its lock).
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for index in 0..self.shards.len() {
            let shard = self.lock(index);
            stats.entries += shard.map.len() as u64;
            stats.bytes += shard.bytes;
        }
        stats
    }
}

/// Crate-internal plumbing shared with `flight` (no bounds: `Fill`'s `Drop` uses it).
impl<V> Store<V> {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard_index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (self.shards.len() - 1)
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Lock a shard; a poisoned lock is recovered (the shard's work never leaves it torn, and
    /// release builds abort on panic anyway).
    fn lock(&self, index: usize) -> MutexGuard<'_, Shard<V>> {
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn storable(&self, key_len: usize, value_bytes: usize, ttl: Duration) -> bool {
        !ttl.is_zero() && charge(key_len, value_bytes) <= self.shard_capacity
    }

    fn remove_hashed(&self, hash: u64, key: &[u8]) -> bool {
        let mut grave = Graveyard::new();
        let mut shard = self.lock(self.shard_index(hash));
        shard.remove(key, &mut grave)
    }

    /// Store a value. With `flight`, first remove that fill's in-flight record (if it is still
    /// the key's), in the same critical section, so a lookup sees the flight or the entry. With
    /// `generation`, store only when no flush happened since the fill started.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_hashed(
        &self,
        hash: u64,
        key: Arc<[u8]>,
        value: Arc<V>,
        value_bytes: usize,
        ttl: Duration,
        now: Duration,
        generation: Option<u64>,
        flight: Option<&Arc<Flight<V>>>,
    ) -> bool {
        let storable = self.storable(key.len(), value_bytes, ttl);
        let charge = charge(key.len(), value_bytes);
        let expires_at = now.checked_add(ttl).unwrap_or(Duration::MAX);
        let mut grave = Graveyard::new();
        let mut shard = self.lock(self.shard_index(hash));
        if let Some(flight) = flight {
            shard.end_flight(&key, flight);
        }
        if generation.is_some_and(|g| g != self.generation()) {
            return false;
        }
        if !storable {
            shard.remove(&key, &mut grave);
            return false;
        }
        shard.insert(hash, key, value, charge, expires_at, now, &mut grave)
    }

    /// A fill that stores nothing ends: remove its in-flight record if it is still the key's.
    pub(crate) fn end_flight(&self, hash: u64, key: &[u8], flight: &Arc<Flight<V>>) {
        let mut shard = self.lock(self.shard_index(hash));
        shard.end_flight(key, flight);
    }
}

fn auto_shards(capacity: u64) -> usize {
    let wanted = capacity / AUTO_SHARD_BYTES;
    if wanted <= 1 {
        return 1;
    }
    let pow = 1u64 << (63 - wanted.leading_zeros());
    (pow as usize).min(MAX_AUTO_SHARDS)
}

fn charge(key_len: usize, value_bytes: usize) -> u64 {
    (value_bytes as u64)
        .saturating_add(key_len as u64)
        .saturating_add(ENTRY_OVERHEAD as u64)
}

/// Values removed under a shard lock, dropped when this is dropped: declare it before the
/// guard so the guard goes first. Fixed size, so it allocates nothing.
pub(crate) struct Graveyard<V> {
    slots: [Option<Arc<V>>; GRAVE_SLOTS],
    len: usize,
}

impl<V> Graveyard<V> {
    fn new() -> Self {
        Graveyard {
            slots: [const { None }; GRAVE_SLOTS],
            len: 0,
        }
    }

    fn bury(&mut self, value: Arc<V>) {
        if let Some(slot) = self.slots.get_mut(self.len) {
            *slot = Some(value);
            self.len += 1;
        }
        // Full: `value` is dropped here, under the lock (rare: one insert evicting many).
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    /// S3-FIFO's small queue.
    Small = 0,
    /// S3-FIFO's main queue; LRU's only list.
    Main = 1,
}

struct Node<V> {
    /// None while the slot is free.
    key: Option<Arc<[u8]>>,
    value: Option<Arc<V>>,
    charge: u64,
    expires_at: Duration,
    /// The store's hash of the key (the ghost remembers it).
    hash: u64,
    prev: u32,
    /// Next in the node's list, or next free slot.
    next: u32,
    freq: u8,
    queue: Queue,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: u32,
    bytes: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
        bytes: 0,
    };
}

/// S3-FIFO's ghost: a FIFO of hashes of keys evicted from the small queue, bounded by about the
/// number of entries the main queue holds. A readmitted hash leaves the set at once; its stale
/// ring record is skipped when it falls off.
struct Ghost {
    ring: VecDeque<(u64, u64)>,
    /// Hash -> sequence number of its newest ring record.
    live: HashMap<u64, u64, RandomState>,
    seq: u64,
}

impl Ghost {
    fn new() -> Self {
        Ghost {
            ring: VecDeque::new(),
            live: HashMap::with_hasher(RandomState::new()),
            seq: 0,
        }
    }

    fn push(&mut self, hash: u64, limit: usize) {
        self.seq += 1;
        self.ring.push_back((hash, self.seq));
        self.live.insert(hash, self.seq);
        while self.ring.len() > limit {
            if let Some((old, seq)) = self.ring.pop_front() {
                if self.live.get(&old) == Some(&seq) {
                    self.live.remove(&old);
                }
            }
        }
    }

    /// Whether the hash was in the ghost; it leaves it.
    fn take(&mut self, hash: u64) -> bool {
        self.live.remove(&hash).is_some()
    }
}

pub(crate) struct Shard<V> {
    map: HashMap<Arc<[u8]>, u32, RandomState>,
    nodes: Vec<Node<V>>,
    free: u32,
    lists: [List; 2],
    bytes: u64,
    capacity: u64,
    small_capacity: u64,
    policy: Policy,
    ghost: Ghost,
    /// Keys with a coalesced fill in flight.
    flights: HashMap<Arc<[u8]>, Arc<Flight<V>>, RandomState>,
}

impl<V> Shard<V> {
    /// Allocates nothing (a flush builds these outside the lock).
    fn new(capacity: u64, policy: Policy) -> Self {
        Shard {
            map: HashMap::with_hasher(RandomState::new()),
            nodes: Vec::new(),
            free: NIL,
            lists: [List::EMPTY; 2],
            bytes: 0,
            capacity,
            small_capacity: capacity / 10,
            policy,
            ghost: Ghost::new(),
            flights: HashMap::with_hasher(RandomState::new()),
        }
    }

    fn get(&mut self, key: &[u8], now: Duration, grave: &mut Graveyard<V>) -> Option<Arc<V>> {
        let index = *self.map.get(key)?;
        let node = &mut self.nodes[index as usize];
        if now >= node.expires_at {
            self.remove_node(index, grave);
            return None;
        }
        match self.policy {
            // Saturated: leave the line clean (other cores may be reading it).
            Policy::S3Fifo if node.freq >= MAX_FREQ => {}
            Policy::S3Fifo => node.freq += 1,
            Policy::Lru => {
                if self.lists[Queue::Main as usize].head != index {
                    self.unlink(index);
                    self.push_head(index, Queue::Main);
                }
            }
        }
        self.nodes[index as usize].value.clone()
    }

    /// Insert or replace; the caller checked `charge <= capacity` and `expires_at > now`.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        hash: u64,
        key: Arc<[u8]>,
        value: Arc<V>,
        charge: u64,
        expires_at: Duration,
        now: Duration,
        grave: &mut Graveyard<V>,
    ) -> bool {
        if let Some(&index) = self.map.get(&*key) {
            // Replace in place: out of its list while room is made (so it cannot be evicted
            // itself), then back at the head of its queue, frequency kept.
            self.unlink(index);
            self.make_room(charge, now, grave);
            let node = &mut self.nodes[index as usize];
            if let Some(old) = node.value.replace(value) {
                grave.bury(old);
            }
            node.charge = charge;
            node.expires_at = expires_at;
            let queue = node.queue;
            self.push_head(index, queue);
            return true;
        }
        let queue = match self.policy {
            Policy::Lru => Queue::Main,
            Policy::S3Fifo if self.ghost.take(hash) => Queue::Main,
            Policy::S3Fifo => Queue::Small,
        };
        self.make_room(charge, now, grave);
        let node = Node {
            key: Some(Arc::clone(&key)),
            value: Some(value),
            charge,
            expires_at,
            hash,
            prev: NIL,
            next: NIL,
            freq: 0,
            queue,
        };
        let index = if self.free != NIL {
            let index = self.free;
            let slot = &mut self.nodes[index as usize];
            self.free = slot.next;
            *slot = node;
            index
        } else if self.nodes.len() < NIL as usize {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        } else {
            if let Some(value) = node.value {
                grave.bury(value);
            }
            return false;
        };
        self.map.insert(key, index);
        self.push_head(index, queue);
        true
    }

    fn make_room(&mut self, charge: u64, now: Duration, grave: &mut Graveyard<V>) {
        while self.bytes.saturating_add(charge) > self.capacity {
            if !self.evict_one(now, grave) {
                break;
            }
        }
    }

    fn remove(&mut self, key: &[u8], grave: &mut Graveyard<V>) -> bool {
        match self.map.get(key) {
            Some(&index) => {
                self.remove_node(index, grave);
                true
            }
            None => false,
        }
    }

    fn end_flight(&mut self, key: &[u8], flight: &Arc<Flight<V>>) {
        if self
            .flights
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, flight))
        {
            self.flights.remove(key);
        }
    }

    /// Evict one entry by policy; false when there is none.
    fn evict_one(&mut self, now: Duration, grave: &mut Graveyard<V>) -> bool {
        if self.policy == Policy::Lru {
            let tail = self.lists[Queue::Main as usize].tail;
            if tail == NIL {
                return false;
            }
            self.remove_node(tail, grave);
            return true;
        }
        loop {
            let small = self.lists[Queue::Small as usize];
            let main = self.lists[Queue::Main as usize];
            if small.len > 0 && (small.bytes >= self.small_capacity || main.len == 0) {
                let tail = small.tail;
                let node = &mut self.nodes[tail as usize];
                let live = now < node.expires_at;
                if live && node.freq > 0 {
                    node.freq = 0;
                    self.unlink(tail);
                    self.push_head(tail, Queue::Main);
                    continue;
                }
                let hash = node.hash;
                self.remove_node(tail, grave);
                if live {
                    let limit = self.ghost_limit();
                    self.ghost.push(hash, limit);
                }
                return true;
            }
            let tail = main.tail;
            if tail == NIL {
                return false;
            }
            let node = &mut self.nodes[tail as usize];
            if now < node.expires_at && node.freq > 0 {
                node.freq -= 1;
                if main.len > 1 {
                    self.unlink(tail);
                    self.push_head(tail, Queue::Main);
                }
                continue;
            }
            self.remove_node(tail, grave);
            return true;
        }
    }

    /// About the number of entries the main queue holds when full, at the current average
    /// charge.
    fn ghost_limit(&self) -> usize {
        let entries = u128::from(self.lists[0].len) + u128::from(self.lists[1].len);
        let bytes = u128::from(self.bytes);
        if bytes == 0 {
            return GHOST_MIN;
        }
        let main_capacity = u128::from(self.capacity - self.small_capacity);
        let estimate = (main_capacity * entries / bytes).min(u32::MAX as u128) as usize;
        estimate.max(GHOST_MIN)
    }

    /// Unlink, forget and free a node; its value goes to the graveyard.
    fn remove_node(&mut self, index: u32, grave: &mut Graveyard<V>) {
        self.unlink(index);
        let node = &mut self.nodes[index as usize];
        let key = node.key.take();
        let value = node.value.take();
        node.next = self.free;
        self.free = index;
        if let Some(key) = key {
            self.map.remove(&*key);
        }
        if let Some(value) = value {
            grave.bury(value);
        }
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next, charge, queue) = {
            let node = &self.nodes[index as usize];
            (node.prev, node.next, node.charge, node.queue)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        let list = &mut self.lists[queue as usize];
        if list.head == index {
            list.head = next;
        }
        if list.tail == index {
            list.tail = prev;
        }
        list.len -= 1;
        list.bytes -= charge;
        self.bytes -= charge;
        let node = &mut self.nodes[index as usize];
        node.prev = NIL;
        node.next = NIL;
    }

    fn push_head(&mut self, index: u32, queue: Queue) {
        let list = &mut self.lists[queue as usize];
        let old_head = list.head;
        list.head = index;
        if old_head == NIL {
            list.tail = index;
        }
        let node = &mut self.nodes[index as usize];
        node.prev = NIL;
        node.next = old_head;
        node.queue = queue;
        let charge = node.charge;
        if old_head != NIL {
            self.nodes[old_head as usize].prev = index;
        }
        let list = &mut self.lists[queue as usize];
        list.len += 1;
        list.bytes += charge;
        self.bytes += charge;
    }
}

#[cfg(test)]
impl<V> Store<V> {
    /// Recompute every shard's accounting from its lists and map; Err names the first
    /// inconsistency. Ok: the totals.
    pub(crate) fn check_invariants(&self) -> Result<StoreStats, String> {
        let mut total = StoreStats::default();
        for index in 0..self.shards.len() {
            let shard = self.lock(index);
            let mut bytes = 0u64;
            let mut entries = 0u64;
            for (q, list) in shard.lists.iter().enumerate() {
                let (mut len, mut list_bytes, mut prev, mut at) = (0u32, 0u64, NIL, list.head);
                while at != NIL {
                    let node = &shard.nodes[at as usize];
                    if node.prev != prev || node.queue as usize != q {
                        return Err(format!("shard {index} list {q}: bad links at {at}"));
                    }
                    let Some(key) = &node.key else {
                        return Err(format!("shard {index}: free node {at} in list {q}"));
                    };
                    if shard.map.get(&**key) != Some(&at) {
                        return Err(format!("shard {index}: node {at} not in the map"));
                    }
                    let expected = charge(key.len(), 0);
                    if node.charge < expected {
                        return Err(format!("shard {index}: node {at} charge below overhead"));
                    }
                    len += 1;
                    list_bytes += node.charge;
                    prev = at;
                    at = node.next;
                }
                if list.tail != prev || list.len != len || list.bytes != list_bytes {
                    return Err(format!(
                        "shard {index} list {q}: len {} bytes {} tail {}, counted {len} {list_bytes} {prev}",
                        list.len, list.bytes, list.tail
                    ));
                }
                bytes += list_bytes;
                entries += u64::from(len);
            }
            if shard.bytes != bytes || shard.map.len() as u64 != entries {
                return Err(format!(
                    "shard {index}: accounted {} bytes {} entries, counted {bytes} {entries}",
                    shard.bytes,
                    shard.map.len()
                ));
            }
            if bytes > shard.capacity {
                return Err(format!("shard {index}: {bytes} > {}", shard.capacity));
            }
            total.bytes += bytes;
            total.entries += entries;
        }
        Ok(total)
    }

    /// Which S3-FIFO queue holds the key ("small" / "main"), if any.
    pub(crate) fn queue_of(&self, key: &[u8]) -> Option<&'static str> {
        let shard = self.lock(self.shard_index(self.hash(key)));
        let index = *shard.map.get(key)?;
        Some(match shard.nodes[index as usize].queue {
            Queue::Small => "small",
            Queue::Main => "main",
        })
    }

    pub(crate) fn flights_in(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock(i).flights.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const TTL: Duration = Duration::from_secs(60);

    fn value(n: u32) -> Arc<u32> {
        Arc::new(n)
    }

    /// Capacity for `n` entries with `len`-byte keys and `bytes`-byte values, one shard.
    fn room_for(n: u64, key_len: usize, bytes: usize) -> u64 {
        n * charge(key_len, bytes)
    }

    fn got(store: &Store<u32>, key: &[u8], now: Duration) -> Option<u32> {
        store.get(key, now).map(|v| *v)
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Store<Vec<u8>>>();
        check::<Lookup<'static, Vec<u8>>>();
    }

    #[test]
    fn entry_overhead_covers_the_bookkeeping() {
        use std::mem::size_of;
        let node = size_of::<Node<Vec<u8>>>();
        let map_slot = size_of::<(Arc<[u8]>, u32)>() + 1;
        let arc_headers = 2 * 2 * size_of::<usize>();
        assert!(
            ENTRY_OVERHEAD >= node + map_slot * 8 / 7 + arc_headers,
            "node {node}, map slot {map_slot}"
        );
    }

    #[test]
    fn automatic_and_explicit_shards() {
        assert_eq!(Store::<u32>::new(0, 0, Policy::Lru).shard_count(), 1);
        assert_eq!(Store::<u32>::new(1 << 20, 0, Policy::Lru).shard_count(), 1);
        assert_eq!(Store::<u32>::new(8 << 20, 0, Policy::Lru).shard_count(), 2);
        assert_eq!(Store::<u32>::new(20 << 20, 0, Policy::Lru).shard_count(), 4);
        assert_eq!(
            Store::<u32>::new(512 << 20, 0, Policy::Lru).shard_count(),
            64
        );
        assert_eq!(Store::<u32>::new(1 << 40, 0, Policy::Lru).shard_count(), 64);
        let store = Store::<u32>::new(1000, 8, Policy::S3Fifo);
        assert_eq!(store.shard_count(), 8);
        assert_eq!(store.capacity_bytes(), 1000);
        assert_eq!(store.policy(), Policy::S3Fifo);
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn shard_count_must_be_a_power_of_two() {
        let _ = Store::<u32>::new(1000, 3, Policy::Lru);
    }

    #[test]
    fn expiry_exactly_at_the_boundary() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let store = Store::new(1 << 20, 1, policy);
            assert!(store.insert(b"k", value(1), 10, S(10), S(5)));
            assert_eq!(got(&store, b"k", S(5)), Some(1));
            let just_before = S(15) - Duration::from_nanos(1);
            assert_eq!(got(&store, b"k", just_before), Some(1));
            assert_eq!(store.stats().entries, 1);
            assert_eq!(
                got(&store, b"k", S(15)),
                None,
                "now == expires_at is expired"
            );
            assert_eq!(
                store.stats(),
                StoreStats::default(),
                "expired entry removed"
            );
            assert!(matches!(store.lookup(b"k", S(15), true), Lookup::Miss(_)));
            store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn ttl_zero_stores_nothing_and_supersedes() {
        let store = Store::new(1 << 20, 1, Policy::Lru);
        assert!(!store.insert(b"k", value(1), 10, Duration::ZERO, S(1)));
        assert_eq!(store.get(b"k", S(1)), None);
        assert_eq!(store.stats(), StoreStats::default());
        assert!(store.insert(b"k", value(1), 10, TTL, S(1)));
        assert!(!store.insert(b"k", value(2), 10, Duration::ZERO, S(2)));
        assert_eq!(store.get(b"k", S(2)), None, "the stale entry is gone");
        assert_eq!(store.stats(), StoreStats::default());
    }

    #[test]
    fn huge_ttl_does_not_overflow() {
        let store = Store::new(1 << 20, 1, Policy::S3Fifo);
        assert!(store.insert(b"k", value(1), 10, Duration::MAX, S(1)));
        assert_eq!(got(&store, b"k", S(1_000_000)), Some(1));
    }

    #[test]
    fn oversize_value_rejected() {
        // 4 shards of 250 bytes.
        let store = Store::new(1000, 4, Policy::Lru);
        let fits = 250 - ENTRY_OVERHEAD - 1;
        assert!(!store.insert(b"k", value(1), fits + 1, TTL, S(0)));
        assert_eq!(store.stats(), StoreStats::default());
        assert!(store.insert(b"k", value(1), fits, TTL, S(0)));
        assert_eq!(
            store.stats(),
            StoreStats {
                entries: 1,
                bytes: 250
            }
        );
        // Too big for the key that is cached: refused, and the old entry is superseded.
        assert!(!store.insert(b"k", value(2), fits + 1, TTL, S(0)));
        assert_eq!(store.stats(), StoreStats::default());
    }

    #[test]
    fn replace_updates_value_bytes_and_expiry() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let store = Store::new(1 << 20, 1, policy);
            assert!(store.insert(b"key", value(1), 100, S(10), S(0)));
            assert!(store.insert(b"other", value(9), 50, TTL, S(0)));
            let other = charge(5, 50);
            assert_eq!(store.stats().bytes, charge(3, 100) + other);
            assert!(store.insert(b"key", value(2), 300, S(100), S(1)));
            assert_eq!(
                store.stats(),
                StoreStats {
                    entries: 2,
                    bytes: charge(3, 300) + other
                }
            );
            assert_eq!(got(&store, b"key", S(50)), Some(2), "new expiry");
            assert!(store.insert(b"key", value(3), 1, TTL, S(50)));
            assert_eq!(store.stats().bytes, charge(3, 1) + other);
            assert_eq!(got(&store, b"key", S(50)), Some(3));
            store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn replace_that_needs_room_evicts_others_not_itself() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let store = Store::new(room_for(4, 1, 100), 1, policy);
            for k in [b"a", b"b", b"c", b"d"] {
                assert!(store.insert(k, value(1), 100, TTL, S(0)));
            }
            // "a" is the eviction candidate under both policies; grow it.
            assert!(store.insert(b"a", value(2), 200, TTL, S(0)));
            assert_eq!(got(&store, b"a", S(0)), Some(2), "{policy:?}");
            let stats = store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(stats.entries, 3, "{policy:?}");
        }
    }

    #[test]
    fn remove_and_stats() {
        let store = Store::new(1 << 20, 4, Policy::S3Fifo);
        assert!(store.insert(b"a", value(1), 10, TTL, S(0)));
        assert!(store.insert(b"b", value(2), 20, TTL, S(0)));
        assert_eq!(store.stats().entries, 2);
        assert!(store.remove(b"a"));
        assert!(!store.remove(b"a"));
        assert_eq!(
            store.stats(),
            StoreStats {
                entries: 1,
                bytes: charge(1, 20)
            }
        );
        assert_eq!(store.get(b"a", S(0)), None);
        assert_eq!(got(&store, b"b", S(0)), Some(2));
    }

    #[test]
    fn byte_bound_never_exceeded() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            for shards in [1, 4] {
                let capacity = 64 * 1024;
                let store = Store::new(capacity, shards, policy);
                let mut rng = Rng(7);
                for i in 0..20_000u32 {
                    let key = format!("key-{}", rng.below(3000));
                    let bytes = rng.below(2000) as usize;
                    let now = Duration::from_millis(u64::from(i));
                    store.insert(key.as_bytes(), value(i), bytes, TTL, now);
                    if i % 3 == 0 {
                        let probe = format!("key-{}", rng.below(3000));
                        store.get(probe.as_bytes(), now);
                    }
                    let stats = store.stats();
                    assert!(stats.bytes <= capacity, "{policy:?}: {stats:?}");
                }
                let checked = store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(checked, store.stats());
                assert!(checked.entries > 10, "the store is in use: {checked:?}");
            }
        }
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let store = Store::new(room_for(3, 1, 100), 1, Policy::Lru);
        for k in [b"a", b"b", b"c"] {
            assert!(store.insert(k, value(1), 100, TTL, S(0)));
        }
        assert!(store.get(b"a", S(1)).is_some());
        assert!(store.insert(b"d", value(1), 100, TTL, S(2)));
        // `queue_of` looks without touching.
        assert_eq!(store.queue_of(b"b"), None, "b was least recently used");
        for k in [b"a", b"c", b"d"] {
            assert!(store.queue_of(k).is_some());
        }
        // Now c is the oldest.
        assert!(store.insert(b"e", value(1), 100, TTL, S(4)));
        assert_eq!(store.queue_of(b"c"), None);
        assert!(store.queue_of(b"a").is_some());
    }

    /// A hot key hit a few times, then a scan of one-hit keys several times the capacity.
    fn hot_key_survives_scan(policy: Policy) -> bool {
        let store = Store::new(room_for(20, 8, 100), 1, policy);
        assert!(store.insert(b"hot-key0", value(0), 100, TTL, S(0)));
        for i in 0..5u32 {
            let key = format!("warm-{i:03}");
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(0)));
        }
        assert!(store.get(b"hot-key0", S(1)).is_some());
        assert!(store.get(b"hot-key0", S(1)).is_some());
        for i in 0..100u32 {
            let key = format!("scan-{i:03}");
            assert!(store.get(key.as_bytes(), S(2)).is_none());
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(2)));
        }
        store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        store.get(b"hot-key0", S(3)).is_some()
    }

    #[test]
    fn s3fifo_keeps_a_hot_key_through_a_scan_lru_does_not() {
        assert!(hot_key_survives_scan(Policy::S3Fifo));
        assert!(!hot_key_survives_scan(Policy::Lru));
    }

    #[test]
    fn s3fifo_main_gives_hit_entries_another_round() {
        // Room for 10; small's share is one entry.
        let store = Store::new(room_for(10, 2, 100), 1, Policy::S3Fifo);
        for i in 0..10u32 {
            let key = format!("{i:02}");
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(0)));
            assert!(store.get(key.as_bytes(), S(0)).is_some(), "hit once");
        }
        // Everything hit once: evictions promote to main first, so the scan below pushes
        // entries out of main only after each used up its frequency.
        for i in 0..30u32 {
            let key = format!("s{i}");
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(1)));
            let stats = store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
            assert!(stats.entries <= 10);
        }
        assert_eq!(store.queue_of(b"s29"), Some("small"));
        let main = (0..10)
            .filter(|i| store.queue_of(format!("{i:02}").as_bytes()) == Some("main"))
            .count();
        assert!(main >= 8, "hit entries were promoted and kept: {main}");
    }

    #[test]
    fn ghost_readmission_goes_to_main() {
        let store = Store::new(room_for(10, 2, 100), 1, Policy::S3Fifo);
        assert!(store.insert(b"g0", value(0), 100, TTL, S(0)));
        assert_eq!(store.queue_of(b"g0"), Some("small"));
        // Never hit: g0 leaves the small queue for the ghost.
        let mut i = 0u32;
        while store.queue_of(b"g0").is_some() {
            let key = format!("{i:02}");
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(0)));
            i += 1;
            assert!(i < 100, "g0 never evicted");
        }
        assert!(store.insert(b"g0", value(1), 100, TTL, S(1)));
        assert_eq!(
            store.queue_of(b"g0"),
            Some("main"),
            "readmitted from the ghost"
        );
        // A key never seen goes to small.
        assert!(store.insert(b"new", value(2), 100, TTL, S(1)));
        assert_eq!(store.queue_of(b"new"), Some("small"));
        // The ghost record was consumed by the readmission.
        assert!(store.remove(b"g0"));
        assert!(store.insert(b"g0", value(3), 100, TTL, S(1)));
        assert_eq!(store.queue_of(b"g0"), Some("small"));
        store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn ghost_is_bounded() {
        let store = Store::new(room_for(50, 8, 100), 1, Policy::S3Fifo);
        for i in 0..100_000u32 {
            let key = format!("{i:08}");
            assert!(store.insert(key.as_bytes(), value(i), 100, TTL, S(0)));
        }
        let shard = store.lock(0);
        assert!(
            shard.ghost.ring.len() <= GHOST_MIN,
            "{}",
            shard.ghost.ring.len()
        );
        assert!(shard.ghost.live.len() <= GHOST_MIN);
    }

    #[test]
    fn eviction_drops_expired_entries_without_promoting_them() {
        let store = Store::new(room_for(4, 1, 100), 1, Policy::S3Fifo);
        assert!(store.insert(b"x", value(0), 100, S(5), S(0)));
        assert!(store.get(b"x", S(1)).is_some());
        for k in [b"a", b"b", b"c", b"d"] {
            assert!(store.insert(k, value(1), 100, TTL, S(10)));
        }
        assert_eq!(store.queue_of(b"x"), None, "expired, evicted first");
        for k in [b"a", b"b", b"c", b"d"] {
            assert!(store.get(k, S(10)).is_some());
        }
    }

    #[test]
    fn flush_empties_and_fences_older_fills() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let store = Store::new(1 << 20, 4, policy);
            for i in 0..50u32 {
                assert!(store.insert(format!("k{i}").as_bytes(), value(i), 10, TTL, S(0)));
            }
            let before = store.fill(b"old");
            let Lookup::Miss(leader_before) = store.lookup(b"led", S(0), true) else {
                panic!("expected a miss");
            };
            store.flush();
            assert_eq!(store.stats(), StoreStats::default());
            assert_eq!(store.get(b"k1", S(0)), None);
            assert_eq!(store.flights_in(), 0);

            // After the flush a lookup starts a new fill rather than joining the old one.
            let Lookup::Miss(leader_after) = store.lookup(b"led", S(0), true) else {
                panic!("expected a new leader after the flush");
            };
            let after = store.fill(b"new");
            before.complete(value(1), 10, TTL, S(1));
            assert_eq!(store.get(b"old", S(1)), None, "started before the flush");
            after.complete(value(2), 10, TTL, S(1));
            assert_eq!(
                got(&store, b"new", S(1)),
                Some(2),
                "started after the flush"
            );

            leader_after.complete(value(3), 10, TTL, S(1));
            assert_eq!(store.flights_in(), 0);
            leader_before.complete(value(4), 10, TTL, S(1));
            assert_eq!(
                got(&store, b"led", S(1)),
                Some(3),
                "the old leader stored nothing"
            );
            store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn a_poisoned_shard_is_recovered() {
        let store = Store::new(1 << 20, 1, Policy::S3Fifo);
        assert!(store.insert(b"k", value(1), 10, TTL, S(0)));
        let poisoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = store.lock(0);
            panic!("poison the shard");
        }));
        assert!(poisoned.is_err());
        assert!(store.shards[0].is_poisoned());
        assert_eq!(got(&store, b"k", S(1)), Some(1));
        assert!(store.insert(b"j", value(2), 10, TTL, S(1)));
        assert!(matches!(store.lookup(b"x", S(1), true), Lookup::Miss(_)));
        store.flush();
        assert_eq!(store.stats(), StoreStats::default());
    }

    /// xorshift64*: deterministic test randomness.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn concurrent_use_keeps_the_accounting_exact() {
        for policy in [Policy::Lru, Policy::S3Fifo] {
            let capacity = 32 * 1024;
            let store = Store::new(capacity, 4, policy);
            std::thread::scope(|scope| {
                for t in 0..4u64 {
                    let store = &store;
                    scope.spawn(move || {
                        let mut rng = Rng(t * 7919 + 1);
                        for i in 0..20_000u64 {
                            let key = format!("k{}", rng.below(500));
                            let now = Duration::from_millis(i);
                            match rng.below(10) {
                                0..=3 => {
                                    let bytes = rng.below(600) as usize;
                                    let ttl = Duration::from_millis(rng.below(2000));
                                    store.insert(key.as_bytes(), value(1), bytes, ttl, now);
                                }
                                4 => {
                                    store.remove(key.as_bytes());
                                }
                                5 => match store.lookup(key.as_bytes(), now, true) {
                                    Lookup::Miss(fill) if rng.below(2) == 0 => {
                                        fill.complete(value(2), 100, TTL, now)
                                    }
                                    _ => {}
                                },
                                _ => {
                                    store.get(key.as_bytes(), now);
                                }
                            }
                        }
                    });
                }
            });
            let checked = store.check_invariants().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(checked, store.stats());
            assert!(checked.bytes <= capacity);
            assert_eq!(store.flights_in(), 0, "every fill ended");
        }
    }
}
