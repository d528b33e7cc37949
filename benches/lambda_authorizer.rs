//! The Lambda authorizer result cache: one per worker, or one shared by all workers?
//!
//! - `lambda_cache_hit`: cost of one cache hit (present key among 10 000, a 180-byte token
//!   as the key, the compiled answer handed out by reference count), for
//!   - `per_worker`: tollgate's `ResultCache` (`RefCell` map, `Rc` values, a clock read),
//!   - `per_worker_at`: the same with the caller's clock reading (as the authorize phase
//!     uses it: the request's start),
//!   - `per_worker_map`: the bare `RefCell<AHashMap>` under it (no clock read),
//!   - `shared_mutex16` / `shared_rwlock16`: one map shared by all workers, 16 shards each
//!     behind a `Mutex` / `RwLock`, `Arc` values,
//!   - `shared_snapshot`: a lock-free read path: each worker reads its own `Arc` of an
//!     immutable map, checked against an atomic generation (a miss publishes a new map);
//!
//!   each shared variant also with a second thread doing the same lookups at the same time
//!   (`…/contended`: the two cores of this machine), the per-thread cost reported;
//! - `lambda_cache_publish`: what a miss costs the snapshot variant (copying the map to
//!   publish one more entry) at 1 000 and 10 000 entries;
//! - the hit-rate model (authorizer calls per identity per TTL, per-worker vs shared), printed
//!   to stderr and written to `target/lambda-cache-model.txt`.
//!
//! `cargo bench --bench lambda_authorizer -- --warm-up-time 1 --measurement-time 3`.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::time::{Duration, Instant};

use ahash::{AHashMap, RandomState};
use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::auth::lambda::{AuthorizerResult, Grant, IdentityKey, ResultCache};
use tollgate::time::RealClock;

const ENTRIES: usize = 10_000;
const SHARDS: usize = 16;

fn token(i: usize) -> Vec<u8> {
    // A bearer token's size (a short JWT).
    let mut k = IdentityKey::new();
    let t = format!("eyJhbGciOiJSUzI1NiJ9.{i:0>120}.{:0>40}", i * 7);
    k.push(t.as_bytes());
    k.as_bytes().to_vec()
}

fn answer(i: usize) -> AuthorizerResult {
    AuthorizerResult {
        principal_id: Some(format!("user-{i}").into()),
        grant: Grant::Simple(true),
        context: Vec::new(),
        usage_identifier_key: None,
    }
}

type SharedValue = Arc<AuthorizerResult>;

struct Sharded<L> {
    hasher: RandomState,
    shards: Vec<L>,
}

impl<L> Sharded<L> {
    fn shard(&self, key: &[u8]) -> &L {
        &self.shards[(self.hasher.hash_one(key) as usize) % self.shards.len()]
    }
}

fn mutex_map(keys: &[Vec<u8>]) -> Sharded<Mutex<AHashMap<Box<[u8]>, SharedValue>>> {
    let s = Sharded {
        hasher: RandomState::new(),
        shards: (0..SHARDS).map(|_| Mutex::new(AHashMap::new())).collect(),
    };
    for (i, k) in keys.iter().enumerate() {
        s.shard(k)
            .lock()
            .expect("lock")
            .insert(k.clone().into(), Arc::new(answer(i)));
    }
    s
}

fn rwlock_map(keys: &[Vec<u8>]) -> Sharded<RwLock<AHashMap<Box<[u8]>, SharedValue>>> {
    let s = Sharded {
        hasher: RandomState::new(),
        shards: (0..SHARDS).map(|_| RwLock::new(AHashMap::new())).collect(),
    };
    for (i, k) in keys.iter().enumerate() {
        s.shard(k)
            .write()
            .expect("lock")
            .insert(k.clone().into(), Arc::new(answer(i)));
    }
    s
}

/// The lock-free read path: an immutable map published with a generation number. Readers
/// keep their own `Arc` of it and take the lock only when the generation moved (after a
/// miss somewhere published a new map).
struct Snapshot {
    generation: AtomicU64,
    current: Mutex<Arc<AHashMap<Box<[u8]>, SharedValue>>>,
}

struct Reader {
    generation: u64,
    map: Arc<AHashMap<Box<[u8]>, SharedValue>>,
}

impl Snapshot {
    fn reader(&self) -> Reader {
        Reader {
            generation: self.generation.load(Ordering::Acquire),
            map: Arc::clone(&self.current.lock().expect("lock")),
        }
    }

    fn get(&self, r: &mut Reader, key: &[u8]) -> Option<SharedValue> {
        let g = self.generation.load(Ordering::Acquire);
        if g != r.generation {
            r.map = Arc::clone(&self.current.lock().expect("lock"));
            r.generation = g;
        }
        r.map.get(key).cloned()
    }

    /// A miss: copy the map with one more entry and publish it.
    fn publish(&self, key: &[u8], value: SharedValue) {
        let mut current = self.current.lock().expect("lock");
        let mut next = (**current).clone();
        next.insert(key.into(), value);
        *current = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
    }
}

fn snapshot(keys: &[Vec<u8>]) -> Snapshot {
    let map: AHashMap<Box<[u8]>, SharedValue> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone().into_boxed_slice(), Arc::new(answer(i))))
        .collect();
    Snapshot {
        generation: AtomicU64::new(0),
        current: Mutex::new(Arc::new(map)),
    }
}

/// Run `op(i)` `iters` times on this thread while another thread runs `other(i)` over
/// the same keys until this one is done; the time of this thread's loop.
fn contended<F, G>(iters: u64, op: F, other: G) -> Duration
where
    F: Fn(usize),
    G: Fn(usize) + Send + Sync,
{
    let stop = AtomicBool::new(false);
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                other(i % ENTRIES);
                i = i.wrapping_add(7919);
            }
        });
        start.wait();
        let t = Instant::now();
        for i in 0..iters as usize {
            op((i * 104_729) % ENTRIES);
        }
        let took = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        took
    })
}

fn hits(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..ENTRIES).map(token).collect();
    let mut g = c.benchmark_group("lambda_cache_hit");

    let cache = ResultCache::new(Duration::from_secs(300), ENTRIES, RealClock::new());
    for (i, k) in keys.iter().enumerate() {
        cache.insert(k, Rc::new(answer(i)));
    }
    let mut i = 0usize;
    g.bench_function("per_worker", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            black_box(cache.get(black_box(&keys[i])))
        })
    });

    let now = Duration::from_secs(1);
    g.bench_function("per_worker_at", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            black_box(cache.get_at(black_box(&keys[i]), now))
        })
    });

    let map: RefCell<AHashMap<Box<[u8]>, Rc<AuthorizerResult>>> = RefCell::new(
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.clone().into_boxed_slice(), Rc::new(answer(i))))
            .collect(),
    );
    g.bench_function("per_worker_map", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            black_box(map.borrow().get(black_box(&keys[i][..])).cloned())
        })
    });

    let m = mutex_map(&keys);
    let get_m = |i: usize| {
        black_box(
            m.shard(&keys[i])
                .lock()
                .expect("lock")
                .get(&keys[i][..])
                .cloned(),
        );
    };
    g.bench_function("shared_mutex16", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            get_m(i)
        })
    });
    g.bench_function("shared_mutex16/contended", |b| {
        b.iter_custom(|n| contended(n, get_m, get_m))
    });

    let rw = rwlock_map(&keys);
    let get_rw = |i: usize| {
        black_box(
            rw.shard(&keys[i])
                .read()
                .expect("lock")
                .get(&keys[i][..])
                .cloned(),
        );
    };
    g.bench_function("shared_rwlock16", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            get_rw(i)
        })
    });
    g.bench_function("shared_rwlock16/contended", |b| {
        b.iter_custom(|n| contended(n, get_rw, get_rw))
    });

    let snap = snapshot(&keys);
    let mut reader = snap.reader();
    g.bench_function("shared_snapshot", |b| {
        b.iter(|| {
            i = (i + 104_729) % ENTRIES;
            black_box(snap.get(&mut reader, black_box(&keys[i])))
        })
    });
    g.bench_function("shared_snapshot/contended", |b| {
        b.iter_custom(|n| {
            let mine = RefCell::new(snap.reader());
            let theirs = Mutex::new(snap.reader());
            contended(
                n,
                |i| {
                    black_box(snap.get(&mut mine.borrow_mut(), &keys[i]));
                },
                |i| {
                    black_box(snap.get(&mut theirs.lock().expect("lock"), &keys[i]));
                },
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lambda_cache_publish");
    g.sample_size(20);
    for n in [1_000usize, ENTRIES] {
        let snap = snapshot(&keys[..n]);
        let extra = token(ENTRIES + 1);
        let value = Arc::new(answer(0));
        g.bench_function(format!("shared_snapshot/{n}"), |b| {
            b.iter(|| snap.publish(&extra, Arc::clone(&value)))
        });
    }
    let cache = ResultCache::new(Duration::from_secs(300), ENTRIES, RealClock::new());
    let value = Rc::new(answer(0));
    let mut j = 0usize;
    g.bench_function("per_worker_insert", |b| {
        b.iter(|| {
            j = (j + 1) % ENTRIES;
            cache.insert(&keys[j], Rc::clone(&value))
        })
    });
    g.finish();
}

/// Authorizer calls per identity per TTL when an identity's `k` requests land on workers
/// at random (a new connection each time) among `n`: a per-worker cache calls once per
/// worker reached, `n (1 - (1 - 1/n)^k)` on average; a shared one calls once. Over one
/// kept-alive connection every request lands on the same worker: one call either way.
fn model() -> String {
    let mut out = String::from(
        "authorizer calls per identity per TTL (requests on new connections, spread evenly)\n\
         workers  k=1   k=2   k=4   k=16  k=100  (shared: 1.00)\n",
    );
    for n in [2u32, 4, 8, 16, 32] {
        out.push_str(&format!("{n:>7}"));
        for k in [1i32, 2, 4, 16, 100] {
            let nf = f64::from(n);
            let calls = nf * (1.0 - (1.0 - 1.0 / nf).powi(k));
            out.push_str(&format!("  {calls:>4.2}"));
        }
        out.push('\n');
    }
    out
}

fn print_model(_: &mut Criterion) {
    let table = model();
    eprintln!("{table}");
    let _ = std::fs::create_dir_all("target");
    let _ = std::fs::write("target/lambda-cache-model.txt", table);
}

criterion_group!(benches, print_model, hits);
criterion_main!(benches);
