//! Response-cache store (`tollgate::cache::store`), LRU vs S3-FIFO:
//!
//! - `cache_hit`: cost of `get` of present keys (100k entries, ~60-byte keys, 1 KiB values,
//!   0.5 GB capacity, automatic shards), from one thread and from two threads at once;
//! - `cache_sim`: cost per request of a Zipf(0.99) workload (get, insert on miss) at a cache
//!   of 5% of the key space;
//! - the hit-ratio table (Zipf 0.99 and 0.8, fixed and varying sizes, with and without a
//!   scan, cache sizes from 0.1% to 25% of the key space's bytes): computed once before the
//!   timings when run by `cargo bench`, printed to stderr and written to
//!   `target/cache-hit-ratio.txt`. `TOLLGATE_SKIP_HIT_RATIO=1` skips it.
//!
//! `cargo bench --bench cache -- --warm-up-time 1 --measurement-time 2`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use tollgate::cache::store::{Policy, Store, ENTRY_OVERHEAD};

const POLICIES: [(Policy, &str); 2] = [(Policy::Lru, "lru"), (Policy::S3Fifo, "s3fifo")];
const TTL: Duration = Duration::from_secs(3600);
const NOW: Duration = Duration::from_secs(1);

/// Distinct keys of the hit-ratio workloads.
const KEYS: u32 = 100_000;
/// Requests per hit-ratio run.
const REQUESTS: usize = 2_000_000;
/// Cache sizes, in per mille of the key space's bytes.
const SIZES_PER_MILLE: [u64; 5] = [1, 10, 50, 100, 250];

/// splitmix64: deterministic, good enough for traces.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf(s) over ranks 0..n (rank 0 the most popular), by inverse CDF: a binary search in
/// the normalised cumulative weights 1/k^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u32, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += f64::from(k).powf(-s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.unit();
        let rank = self.cdf.partition_point(|&c| c <= u);
        rank.min(self.cdf.len() - 1) as u32
    }
}

/// `requests` Zipf draws; with `scan`, the middle half of them is interleaved one-for-one
/// with keys never seen before (ids >= KEYS), each requested once.
fn trace(s: f64, requests: usize, scan: bool, seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(KEYS, s);
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(requests * 3 / 2);
    let mut next_scan = KEYS;
    for i in 0..requests {
        out.push(zipf.sample(&mut rng));
        if scan && (requests / 4..requests * 3 / 4).contains(&i) {
            out.push(next_scan);
            next_scan += 1;
        }
    }
    out
}

fn fixed_size(_id: u32) -> usize {
    1024
}

/// 256 B to 16 KiB, log-uniform, by key hash.
fn varied_size(id: u32) -> usize {
    let u = (mix(u64::from(id) ^ 0x5851_f42d_4c95_7f2d) >> 11) as f64 / (1u64 << 53) as f64;
    (256.0 * 64f64.powf(u)) as usize
}

fn charge(id: u32, size: fn(u32) -> usize) -> u64 {
    (size(id) + std::mem::size_of::<u32>() + ENTRY_OVERHEAD) as u64
}

/// One simulated request: get, and on a miss insert. True on a hit.
fn request(store: &Store<()>, unit: &Arc<()>, id: u32, size: fn(u32) -> usize) -> bool {
    let key = id.to_le_bytes();
    if store.get(&key, NOW).is_some() {
        return true;
    }
    store.insert(&key, Arc::clone(unit), size(id), TTL, NOW);
    false
}

#[derive(Default)]
struct Outcome {
    requests: u64,
    hits: u64,
    bytes: u64,
    hit_bytes: u64,
}

impl Outcome {
    fn ratio(&self) -> f64 {
        100.0 * self.hits as f64 / self.requests.max(1) as f64
    }

    fn byte_ratio(&self) -> f64 {
        100.0 * self.hit_bytes as f64 / self.bytes.max(1) as f64
    }
}

/// Hit ratios over the workload's own keys (scan requests, always misses, are not counted).
fn simulate(policy: Policy, capacity: u64, trace: &[u32], size: fn(u32) -> usize) -> Outcome {
    let store = Store::new(capacity, 0, policy);
    let unit = Arc::new(());
    let mut outcome = Outcome::default();
    for &id in trace {
        let hit = request(&store, &unit, id, size);
        if id < KEYS {
            let bytes = size(id) as u64;
            outcome.requests += 1;
            outcome.bytes += bytes;
            if hit {
                outcome.hits += 1;
                outcome.hit_bytes += bytes;
            }
        }
    }
    outcome
}

struct Workload {
    name: &'static str,
    s: f64,
    size: fn(u32) -> usize,
    scan: bool,
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "zipf 0.99, 1 KiB",
        s: 0.99,
        size: fixed_size,
        scan: false,
    },
    Workload {
        name: "zipf 0.8, 1 KiB",
        s: 0.8,
        size: fixed_size,
        scan: false,
    },
    Workload {
        name: "zipf 0.99, 256 B-16 KiB",
        s: 0.99,
        size: varied_size,
        scan: false,
    },
    Workload {
        name: "zipf 0.8, 256 B-16 KiB",
        s: 0.8,
        size: varied_size,
        scan: false,
    },
    Workload {
        name: "zipf 0.99 + scan, 1 KiB",
        s: 0.99,
        size: fixed_size,
        scan: true,
    },
    Workload {
        name: "zipf 0.8 + scan, 1 KiB",
        s: 0.8,
        size: fixed_size,
        scan: true,
    },
];

fn hit_ratio_table() -> String {
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Hit ratio, LRU vs S3-FIFO: {KEYS} keys, {REQUESTS} Zipf requests per run (+ scan: \
         the middle half interleaved 1:1 with {} one-time keys; their misses not counted).\n\
         Cache size = % of the key space's bytes (values + keys + {ENTRY_OVERHEAD} B/entry); \
         automatic shards. Object hit ratio, then byte hit ratio.\n",
        REQUESTS / 2
    );
    let _ = writeln!(
        out,
        "{:<26} {:>6}  {:>7} {:>7} {:>6}   {:>7} {:>7}",
        "workload", "cache", "LRU", "S3-FIFO", "diff", "LRU B", "S3 B"
    );
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let trace = trace(workload.s, REQUESTS, workload.scan, 42 + w as u64);
        let total: u64 = (0..KEYS).map(|id| charge(id, workload.size)).sum();
        for per_mille in SIZES_PER_MILLE {
            let capacity = total * per_mille / 1000;
            let lru = simulate(Policy::Lru, capacity, &trace, workload.size);
            let s3 = simulate(Policy::S3Fifo, capacity, &trace, workload.size);
            let _ = writeln!(
                out,
                "{:<26} {:>5}%  {:>6.2}% {:>6.2}% {:>+6.2}   {:>6.2}% {:>6.2}%",
                workload.name,
                per_mille as f64 / 10.0,
                lru.ratio(),
                s3.ratio(),
                s3.ratio() - lru.ratio(),
                lru.byte_ratio(),
                s3.byte_ratio(),
            );
        }
    }
    let _ = writeln!(
        out,
        "\n(computed in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    out
}

fn report_hit_ratios() {
    let table = hit_ratio_table();
    eprintln!("\n{table}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir.join("cache-hit-ratio.txt");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &table)) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

/// A key like the cache's (method, resource, then the cache-key parameters, NUL separated),
/// built in one reused buffer: only its five digits change.
struct HttpKey {
    buf: Vec<u8>,
    digits: usize,
}

impl HttpKey {
    fn new() -> Self {
        let buf = b"GET /echo/{proxy+}\0path=items/00000\0q=abc\0accept=application/json".to_vec();
        let digits = b"GET /echo/{proxy+}\0path=items/".len();
        HttpKey { buf, digits }
    }

    fn set(&mut self, mut i: usize) -> &[u8] {
        for d in self.buf[self.digits..self.digits + 5].iter_mut().rev() {
            *d = b'0' + (i % 10) as u8;
            i /= 10;
        }
        &self.buf
    }
}

/// Coprime with the key counts used: every key once per round, in an order unrelated to
/// insertion.
const STRIDE: usize = 7919;
/// Entries in the hit-cost store.
const HIT_KEYS: usize = 100_000;
/// The hot subset: small enough to stay in the CPU caches.
const HOT_KEYS: usize = 1_000;

/// `iters` gets rotating through the first `keys` keys, from each of `threads` threads at
/// once; the slowest thread's time.
fn timed_gets(store: &Store<Vec<u8>>, keys: usize, threads: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut key = HttpKey::new();
                    let mut at = t * keys / threads;
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        at = (at + STRIDE) % keys;
                        black_box(store.get(black_box(key.set(at)), NOW));
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

/// Run by `cargo bench` (which passes --bench), not `cargo test --benches` (a debug build
/// that runs each benchmark once: set-ups are scaled down there).
fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn hits(c: &mut Criterion) {
    let entries = if benching() { HIT_KEYS } else { HOT_KEYS };
    let mut group = c.benchmark_group("cache_hit");
    for (policy, name) in POLICIES {
        let store = Store::<Vec<u8>>::new(512 << 20, 0, policy);
        let mut key = HttpKey::new();
        for i in 0..entries {
            let value = Arc::new(vec![i as u8; 1024]);
            assert!(store.insert(key.set(i), value, 1024, TTL, NOW));
        }
        assert_eq!(store.stats().entries, entries as u64);
        // Uniform over 100k entries (~120 MB): mostly cache and TLB misses.
        group.bench_function(format!("get_100k/{name}"), |b| {
            b.iter_custom(|iters| timed_gets(&store, entries, 1, iters))
        });
        // 1k hot entries: the CPU cost.
        group.bench_function(format!("get_hot/{name}"), |b| {
            b.iter_custom(|iters| timed_gets(&store, HOT_KEYS, 1, iters))
        });
        // Two threads on the same hot entries at once: time per get on each.
        group.bench_function(format!("get_hot_2_threads/{name}"), |b| {
            b.iter_custom(|iters| timed_gets(&store, HOT_KEYS, 2, iters))
        });
    }
    group.finish();
}

fn simulated(c: &mut Criterion) {
    let requests = if benching() { REQUESTS } else { 10_000 };
    let trace = trace(0.99, requests, false, 42);
    let total: u64 = (0..KEYS).map(|id| charge(id, fixed_size)).sum();
    let mut group = c.benchmark_group("cache_sim");
    for (policy, name) in POLICIES {
        let store = Store::new(total * 50 / 1000, 0, policy);
        let unit = Arc::new(());
        for &id in &trace {
            request(&store, &unit, id, fixed_size);
        }
        let mut at = 0;
        group.bench_function(format!("zipf0.99_1KiB_5pct/{name}"), |b| {
            b.iter(|| {
                at += 1;
                if at == trace.len() {
                    at = 0;
                }
                request(&store, &unit, black_box(trace[at]), fixed_size)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hits, simulated);

fn main() {
    if benching() && std::env::var_os("TOLLGATE_SKIP_HIT_RATIO").is_none() {
        report_hit_ratios();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
