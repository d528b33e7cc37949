//! Metrics: the counter blocks every worker writes and the admin thread sums at scrape time,
//! and the Prometheus text exposition (format 0.0.4) they are rendered in. This module is
//! the audit point for the metrics' cross-core state (as `shared` is for the rest).
//!
//! # Who writes, who reads (the ordering argument)
//!
//! - Every counter and gauge here has exactly **one writer**: the worker thread that owns
//!   the [`WorkerBlock`] (or the [`Table`]) it sits in. A worker is one thread (monoio,
//!   thread-per-core), and its HTTP/1.1 connections and HTTP/2 streams are tasks on that one
//!   thread, so two writes to one counter never race. An increment is therefore a relaxed
//!   `load` and a relaxed `store` ([`Counter::add`]): no `fetch_add` (a locked
//!   read-modify-write), no lock, no cache line written by two cores.
//! - The **reader** is the admin thread, at scrape time ([`Registry::blocks`],
//!   [`WorkerBlock::table`]): relaxed loads only. Each counter is its own atomic, so a load
//!   always returns a value the writer stored, never a torn one; and loads of one atomic
//!   never go back in its modification order (read-read coherence), so a counter read by
//!   successive scrapes never decreases. Nothing else is published through these values,
//!   so no acquire/release pairing is needed: a scrape may see one counter a few
//!   increments later than another (e.g. `_count` vs `_sum` of a histogram), which the
//!   exposition tolerates; the `+Inf` bucket and `_count` are rendered from the same reads,
//!   so they always agree.
//! - What is shared by pointer: a worker's [`WorkerBlock`] (an `Arc`, registered once in
//!   the process [`Registry`] when the worker starts; the registry holds a `Weak`, so a
//!   stopped worker's block disappears), and the worker's current [`Table`] (the series of
//!   the configuration in force: an `Arc` behind a `Mutex` in the block). The worker locks
//!   that mutex only to publish a new table on reload; the admin thread locks it at scrape
//!   time to clone the `Arc`. The request path never touches it: the worker keeps its own
//!   clone of the table (`pipeline::metrics`).
//! - Reloads: a new configuration gets a new [`Table`], built **on the worker thread**
//!   from the old one ([`Table::build`]): each series of a stage, route or domain that
//!   still exists under the same labels starts from the old series' values (the worker is
//!   the only writer of both, so the copy loses nothing), then the table is published. The
//!   labels' counts are thus continuous across reloads; series of removed stages, routes
//!   or domains stop being exposed. No `unsafe` anywhere.
//! - Quiescence: a request is counted after its response was written, so a scrape right
//!   after a client got its response may not count it yet. The in-flight gauge is
//!   decremented after the request was counted, with a release store, and read with an
//!   acquire load: a scrape that reads `tollgate_in_flight_requests` 0 for a worker, and any
//!   later read by the same thread, sees every counter of the requests that worker finished
//!   before (the tests wait for that before comparing counts). On x86-64 both are plain
//!   moves, as the relaxed ones.
//!
//! Allocation: none on the request path (fixed arrays, binary search over a sorted route
//! list). Tables are allocated at start and on reload; rendering allocates on the admin
//! thread.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// A monotonic counter with a single writer (see the module notes).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one (writer only).
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Add `n` (writer only): a relaxed load and store, no read-modify-write.
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value (any thread).
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Start from `v` (writer only: a new table carrying an old series' count).
    fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
}

/// A gauge with a single writer (see the module notes).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    #[inline]
    pub fn inc(&self) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v + 1, Ordering::Relaxed);
    }

    /// A release store: a reader that sees the lower value ([`Gauge::get`], acquire) also
    /// sees every store the writer made before (see the module notes on quiescence).
    #[inline]
    pub fn dec(&self) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v - 1, Ordering::Release);
    }

    #[inline]
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets (`le`); `+Inf` follows.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The same bounds in nanoseconds (what `observe` compares).
const BUCKET_NANOS: [u64; 14] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

const BUCKETS: usize = LATENCY_BUCKETS.len() + 1;

/// A latency histogram with the fixed [`LATENCY_BUCKETS`] (single writer).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket, not cumulative (the last is `+Inf`).
    counts: [Counter; BUCKETS],
    sum_nanos: Counter,
}

/// What a histogram holds, read at one scrape (bucket counts not cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HistogramValues {
    pub counts: [u64; BUCKETS],
    pub sum_nanos: u64,
}

impl HistogramValues {
    /// Observations counted (the `+Inf` bucket, `_count`).
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn add(&mut self, o: &HistogramValues) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.sum_nanos += o.sum_nanos;
    }
}

impl Histogram {
    #[inline]
    pub fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKET_NANOS.partition_point(|&b| b < nanos);
        if let Some(c) = self.counts.get(i) {
            c.inc();
        }
        self.sum_nanos.add(nanos);
    }

    pub fn read(&self) -> HistogramValues {
        let mut v = HistogramValues::default();
        for (out, c) in v.counts.iter_mut().zip(self.counts.iter()) {
            *out = c.get();
        }
        v.sum_nanos = self.sum_nanos.get();
        v
    }

    fn carry(&self, old: &Histogram) {
        for (n, o) in self.counts.iter().zip(old.counts.iter()) {
            n.set(o.get());
        }
        self.sum_nanos.set(old.sum_nanos.get());
    }
}

/// The `level` label values of `tollgate_throttled_requests_total`, in the order of
/// [`RequestCounters::throttled`] (the names of `$context.throttleLevel`).
pub const THROTTLE_LEVELS: [&str; 5] = [
    "usage-plan-method",
    "usage-plan",
    "stage-method",
    "stage",
    "account",
];

/// API Gateway's per-stage (and, detailed, per-route) CloudWatch metrics for one worker.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Count.
    pub requests: Counter,
    /// 4XXError.
    pub errors_4xx: Counter,
    /// 5XXError.
    pub errors_5xx: Counter,
    /// Latency: the request's head read to the end of the response.
    pub latency: Histogram,
    /// IntegrationLatency: requests that reached the integration.
    pub integration_latency: Histogram,
    /// CacheHitCount, CacheMissCount.
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Refused by a rate limit, per [`THROTTLE_LEVELS`].
    pub throttled: [Counter; THROTTLE_LEVELS.len()],
    /// Refused by a usage plan's quota.
    pub quota_exceeded: Counter,
}

/// [`RequestCounters`] read (or summed over workers) at one scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestTotals {
    pub requests: u64,
    pub errors_4xx: u64,
    pub errors_5xx: u64,
    pub latency: HistogramValues,
    pub integration_latency: HistogramValues,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub throttled: [u64; THROTTLE_LEVELS.len()],
    pub quota_exceeded: u64,
}

impl RequestTotals {
    fn add(&mut self, o: &RequestTotals) {
        self.requests += o.requests;
        self.errors_4xx += o.errors_4xx;
        self.errors_5xx += o.errors_5xx;
        self.latency.add(&o.latency);
        self.integration_latency.add(&o.integration_latency);
        self.cache_hits += o.cache_hits;
        self.cache_misses += o.cache_misses;
        for (a, b) in self.throttled.iter_mut().zip(o.throttled.iter()) {
            *a += b;
        }
        self.quota_exceeded += o.quota_exceeded;
    }
}

impl RequestCounters {
    pub fn read(&self) -> RequestTotals {
        let mut throttled = [0; THROTTLE_LEVELS.len()];
        for (out, c) in throttled.iter_mut().zip(self.throttled.iter()) {
            *out = c.get();
        }
        RequestTotals {
            requests: self.requests.get(),
            errors_4xx: self.errors_4xx.get(),
            errors_5xx: self.errors_5xx.get(),
            latency: self.latency.read(),
            integration_latency: self.integration_latency.read(),
            cache_hits: self.cache_hits.get(),
            cache_misses: self.cache_misses.get(),
            throttled,
            quota_exceeded: self.quota_exceeded.get(),
        }
    }

    /// Start from `old`'s values (writer only, on reload).
    fn carry(&self, old: &RequestCounters) {
        self.requests.set(old.requests.get());
        self.errors_4xx.set(old.errors_4xx.get());
        self.errors_5xx.set(old.errors_5xx.get());
        self.latency.carry(&old.latency);
        self.integration_latency.carry(&old.integration_latency);
        self.cache_hits.set(old.cache_hits.get());
        self.cache_misses.set(old.cache_misses.get());
        for (n, o) in self.throttled.iter().zip(old.throttled.iter()) {
            n.set(o.get());
        }
        self.quota_exceeded.set(old.quota_exceeded.get());
    }
}

/// One stage's series on one worker (labels `api`, `stage`).
#[derive(Debug)]
pub struct StageSeries {
    pub api: Box<str>,
    pub stage: Box<str>,
    pub counters: RequestCounters,
    /// Per-route series when the stage has detailed metrics, sorted by route key.
    routes: Box<[RouteSeries]>,
}

/// One route's series (detailed metrics; label `route`).
#[derive(Debug)]
pub struct RouteSeries {
    pub route: Box<str>,
    pub counters: RequestCounters,
}

impl StageSeries {
    pub fn new(api: &str, stage: &str, routes: &[&str]) -> Self {
        let mut routes: Vec<RouteSeries> = routes
            .iter()
            .map(|r| RouteSeries {
                route: (*r).into(),
                counters: RequestCounters::default(),
            })
            .collect();
        routes.sort_by(|a, b| a.route.cmp(&b.route));
        routes.dedup_by(|a, b| a.route == b.route);
        StageSeries {
            api: api.into(),
            stage: stage.into(),
            counters: RequestCounters::default(),
            routes: routes.into_boxed_slice(),
        }
    }

    /// The series of route `key` (detailed metrics only; allocation-free).
    #[inline]
    pub fn route(&self, key: &str) -> Option<&RequestCounters> {
        self.routes
            .binary_search_by(|r| (*r.route).cmp(key))
            .ok()
            .and_then(|i| self.routes.get(i))
            .map(|r| &r.counters)
    }

    pub fn routes(&self) -> &[RouteSeries] {
        &self.routes
    }

    fn carry(&self, old: &StageSeries) {
        self.counters.carry(&old.counters);
        for r in self.routes.iter() {
            if let Some(o) = old.route(&r.route) {
                r.counters.carry(o);
            }
        }
    }
}

/// TLS handshakes for one custom domain on one worker (label `domain`).
#[derive(Debug)]
pub struct DomainSeries {
    pub domain: Box<str>,
    pub handshakes: Counter,
    pub failures: Counter,
}

impl DomainSeries {
    pub fn new(domain: &str) -> Self {
        DomainSeries {
            domain: domain.into(),
            handshakes: Counter::default(),
            failures: Counter::default(),
        }
    }
}

/// What a table is built from: one configuration's stages and domains.
pub struct TableSpec<'a> {
    /// An opaque identity of the configuration (the worker compares it with the one a
    /// request ran on).
    pub config: usize,
    /// Per stage id (`None` for an id without a stage): api id, stage name, and the route
    /// keys when the stage has detailed metrics (else empty).
    pub stages: Vec<Option<(&'a str, &'a str, Vec<&'a str>)>>,
    /// Per domain index, its name.
    pub domains: Vec<&'a str>,
}

/// A worker's series for one configuration (see the module notes on reloads).
#[derive(Debug)]
pub struct Table {
    pub config: usize,
    /// By stage id.
    pub stages: Box<[Option<StageSeries>]>,
    /// Requests that reached no stage (unknown host, API or base path): `api=""`, `stage=""`.
    pub unrouted: StageSeries,
    /// By domain index.
    pub domains: Box<[DomainSeries]>,
    /// Handshakes that failed before a domain was chosen (bad ClientHello, unknown SNI
    /// without a default domain): `domain=""`.
    pub no_domain: DomainSeries,
}

impl Table {
    /// A table for `spec`, each series starting from the value of `previous`'s series with
    /// the same labels (call on the writer's thread: see the module notes).
    pub fn build(spec: &TableSpec<'_>, previous: Option<&Table>) -> Table {
        let table = Table {
            config: spec.config,
            stages: spec
                .stages
                .iter()
                .map(|s| s.as_ref().map(|(a, st, r)| StageSeries::new(a, st, r)))
                .collect(),
            unrouted: StageSeries::new("", "", &[]),
            domains: spec.domains.iter().map(|d| DomainSeries::new(d)).collect(),
            no_domain: DomainSeries::new(""),
        };
        if let Some(old) = previous {
            let mut by_label: std::collections::HashMap<(&str, &str), &StageSeries> =
                std::collections::HashMap::new();
            for s in old.stages.iter().flatten() {
                by_label.insert((&s.api, &s.stage), s);
            }
            for s in table.stages.iter().flatten() {
                if let Some(o) = by_label.get(&(&*s.api, &*s.stage)) {
                    s.carry(o);
                }
            }
            table.unrouted.carry(&old.unrouted);
            for d in table.domains.iter() {
                if let Some(o) = old.domain_by_name(&d.domain) {
                    d.handshakes.set(o.handshakes.get());
                    d.failures.set(o.failures.get());
                }
            }
            table
                .no_domain
                .handshakes
                .set(old.no_domain.handshakes.get());
            table.no_domain.failures.set(old.no_domain.failures.get());
        }
        table
    }

    /// The series of stage `api`/`stage` (linear: for requests that ran on an older
    /// configuration than the table's).
    pub fn stage_by_name(&self, api: &str, stage: &str) -> Option<&StageSeries> {
        self.stages
            .iter()
            .flatten()
            .find(|s| &*s.api == api && &*s.stage == stage)
    }

    /// The series of domain `name` (linear, as `stage_by_name`).
    pub fn domain_by_name(&self, name: &str) -> Option<&DomainSeries> {
        self.domains.iter().find(|d| &*d.domain == name)
    }
}

/// One worker's metrics, as the admin thread sees them.
#[derive(Debug)]
pub struct WorkerBlock {
    pub worker: usize,
    /// Client connections open (TLS handshakes included).
    pub open_connections: Gauge,
    /// Requests between their head and the end of their response.
    pub in_flight: Gauge,
    /// Idle keep-alive connections in the worker's upstream pools.
    pub idle_upstream: Gauge,
    table: Mutex<Arc<Table>>,
}

impl WorkerBlock {
    pub fn new(worker: usize, table: Arc<Table>) -> Self {
        WorkerBlock {
            worker,
            open_connections: Gauge::default(),
            in_flight: Gauge::default(),
            idle_upstream: Gauge::default(),
            table: Mutex::new(table),
        }
    }

    /// Make `table` the one scrapes read (the worker, on reload).
    pub fn publish(&self, table: Arc<Table>) {
        *self.table.lock().unwrap_or_else(|p| p.into_inner()) = table;
    }

    /// The table in force (the admin thread, at scrape time).
    pub fn table(&self) -> Arc<Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Every live worker's block.
#[derive(Debug, Default)]
pub struct Registry {
    blocks: Mutex<Vec<Weak<WorkerBlock>>>,
}

impl Registry {
    /// Register a worker's block (once, when the worker starts).
    pub fn register(&self, block: &Arc<WorkerBlock>) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|b| b.strong_count() > 0);
        blocks.push(Arc::downgrade(block));
    }

    /// The blocks of the workers still running, by worker id.
    pub fn blocks(&self) -> Vec<Arc<WorkerBlock>> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.retain(|b| b.strong_count() > 0);
        let mut live: Vec<Arc<WorkerBlock>> = blocks.iter().filter_map(Weak::upgrade).collect();
        live.sort_by_key(|b| b.worker);
        live
    }
}

/// The process's registry.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Access-log lines dropped because the writer fell behind.
fn access_log_lines_dropped() -> u64 {
    crate::observe::access_log::lines_dropped()
}

/// The Prometheus `content-type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the workers' blocks hold, summed over workers per label set, in the text
/// exposition format 0.0.4. `health` lists `(target_group, target, healthy)` for
/// `tollgate_target_healthy` (the caller reads it from the live configuration).
pub fn render(blocks: &[Arc<WorkerBlock>], health: &[(String, String, bool)]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let tables: Vec<Arc<Table>> = blocks.iter().map(|b| b.table()).collect();

    // Stage and route series, summed over workers by labels (sorted output).
    let mut stages: BTreeMap<Vec<&str>, RequestTotals> = BTreeMap::new();
    let mut routes: BTreeMap<Vec<&str>, RequestTotals> = BTreeMap::new();
    let mut domains: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for t in &tables {
        for s in t
            .stages
            .iter()
            .flatten()
            .chain(std::iter::once(&t.unrouted))
        {
            let v = s.counters.read();
            if s.api.is_empty() && v.requests == 0 {
                continue; // no unrouted request yet: no empty-label series
            }
            stages.entry(vec![&s.api, &s.stage]).or_default().add(&v);
            for r in s.routes.iter() {
                routes
                    .entry(vec![&s.api, &s.stage, &r.route])
                    .or_default()
                    .add(&r.counters.read());
            }
        }
        for d in t.domains.iter().chain(std::iter::once(&t.no_domain)) {
            let (h, f) = (d.handshakes.get(), d.failures.get());
            if d.domain.is_empty() && h == 0 && f == 0 {
                continue;
            }
            let e = domains.entry(&d.domain).or_default();
            e.0 += h;
            e.1 += f;
        }
    }

    request_families(&mut out, "tollgate", &["api", "stage"], &stages);
    request_families(
        &mut out,
        "tollgate_route",
        &["api", "stage", "route"],
        &routes,
    );

    header(
        &mut out,
        "tollgate_target_healthy",
        "gauge",
        "Whether a target group's target passes its active health check (1) or not (0).",
    );
    for (group, target, healthy) in health {
        sample(
            &mut out,
            "tollgate_target_healthy",
            &[("target_group", group), ("target", target)],
            u64::from(*healthy),
        );
    }

    for (name, help, get) in [
        (
            "tollgate_upstream_idle_connections",
            "Idle keep-alive upstream connections in the worker's pools.",
            (|b: &WorkerBlock| b.idle_upstream.get()) as fn(&WorkerBlock) -> i64,
        ),
        (
            "tollgate_open_connections",
            "Client connections open on the worker.",
            |b: &WorkerBlock| b.open_connections.get(),
        ),
        (
            "tollgate_in_flight_requests",
            "Requests the worker is handling.",
            |b: &WorkerBlock| b.in_flight.get(),
        ),
    ] {
        header(&mut out, name, "gauge", help);
        for b in blocks {
            let w = b.worker.to_string();
            let v = get(b).max(0) as u64;
            sample(&mut out, name, &[("worker", &w)], v);
        }
    }

    header(
        &mut out,
        "tollgate_tls_handshakes_total",
        "counter",
        "TLS handshakes completed, by custom domain.",
    );
    for (d, (h, _)) in &domains {
        sample(
            &mut out,
            "tollgate_tls_handshakes_total",
            &[("domain", d)],
            *h,
        );
    }
    header(
        &mut out,
        "tollgate_tls_handshake_failures_total",
        "counter",
        "TLS handshakes that failed or timed out, by custom domain (\"\": none chosen yet).",
    );
    for (d, (_, f)) in &domains {
        sample(
            &mut out,
            "tollgate_tls_handshake_failures_total",
            &[("domain", d)],
            *f,
        );
    }

    header(
        &mut out,
        "tollgate_access_log_lines_dropped_total",
        "counter",
        "Access-log lines dropped because the log writer fell behind.",
    );
    sample(
        &mut out,
        "tollgate_access_log_lines_dropped_total",
        &[],
        access_log_lines_dropped(),
    );
    header(
        &mut out,
        "tollgate_trace_spans_dropped_total",
        "counter",
        "Sampled spans dropped because the exporter's queue was full or the collector failed.",
    );
    sample(
        &mut out,
        "tollgate_trace_spans_dropped_total",
        &[],
        crate::observe::trace::export::spans_dropped(),
    );
    out
}

/// The per-request families (`{prefix}_requests_total` ...) for one set of label keys.
fn request_families<'a>(
    out: &mut String,
    prefix: &str,
    label_names: &[&'a str],
    series: &BTreeMap<Vec<&'a str>, RequestTotals>,
) {
    let labels = |k: &[&'a str]| zip_labels(label_names, k);
    type Get = fn(&RequestTotals) -> u64;
    let counters: [(&str, &str, Get); 6] = [
        ("requests_total", "Requests (API Gateway Count).", |t| {
            t.requests
        }),
        (
            "4xx_errors_total",
            "Responses with a 4xx status (4XXError).",
            |t| t.errors_4xx,
        ),
        (
            "5xx_errors_total",
            "Responses with a 5xx status (5XXError).",
            |t| t.errors_5xx,
        ),
        (
            "cache_hits_total",
            "Requests answered from the stage cache (CacheHitCount).",
            |t| t.cache_hits,
        ),
        (
            "cache_misses_total",
            "Cacheable requests the stage cache could not answer (CacheMissCount).",
            |t| t.cache_misses,
        ),
        (
            "quota_exceeded_total",
            "Requests refused by a usage plan's quota.",
            |t| t.quota_exceeded,
        ),
    ];
    for (suffix, help, get) in counters {
        let name = format!("{prefix}_{suffix}");
        header(out, &name, "counter", help);
        for (k, t) in series {
            sample(out, &name, &labels(k), get(t));
        }
    }
    let name = format!("{prefix}_throttled_requests_total");
    header(
        out,
        &name,
        "counter",
        "Requests refused with 429 by a rate limit, by the level that refused them.",
    );
    for (k, t) in series {
        for (level, n) in THROTTLE_LEVELS.iter().zip(t.throttled.iter()) {
            let mut l = labels(k);
            l.push(("level", level));
            sample(out, &name, &l, *n);
        }
    }
    type GetH = fn(&RequestTotals) -> &HistogramValues;
    let histograms: [(&str, &str, GetH); 2] = [
        (
            "latency_seconds",
            "From the request's head to the end of its response (Latency).",
            |t| &t.latency,
        ),
        (
            "integration_latency_seconds",
            "From the request sent to the integration to its response head (IntegrationLatency).",
            |t| &t.integration_latency,
        ),
    ];
    for (suffix, help, get) in histograms {
        let name = format!("{prefix}_{suffix}");
        header(out, &name, "histogram", help);
        for (k, t) in series {
            histogram(out, &name, &labels(k), get(t));
        }
    }
}

fn zip_labels<'a>(names: &[&'a str], values: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    names.iter().copied().zip(values.iter().copied()).collect()
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels_text(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label(out, v);
        out.push('"');
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels_text(out, labels);
    let _ = writeln!(out, " {value}");
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &HistogramValues) {
    let mut cumulative = 0u64;
    let bucket = format!("{name}_bucket");
    for (i, n) in h.counts.iter().enumerate() {
        cumulative += n;
        let le = match LATENCY_BUCKETS.get(i) {
            Some(b) => format!("{b}"),
            None => "+Inf".to_string(),
        };
        let mut l = labels.to_vec();
        l.push(("le", &le));
        sample(out, &bucket, &l, cumulative);
    }
    out.push_str(name);
    out.push_str("_sum");
    labels_text(out, labels);
    let _ = writeln!(out, " {}", h.sum_nanos as f64 / 1e9);
    sample(out, &format!("{name}_count"), labels, cumulative);
}

/// Label values: `\`, `"` and newline escaped (format 0.0.4).
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text: `\` and newline escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(config: usize, stages: &[(&'a str, &'a str, &[&'a str])]) -> TableSpec<'a> {
        TableSpec {
            config,
            stages: stages
                .iter()
                .map(|(a, s, r)| Some((*a, *s, r.to_vec())))
                .collect(),
            domains: vec!["api.example.com"],
        }
    }

    #[test]
    fn counters_and_gauges_count() {
        let c = Counter::default();
        c.inc();
        c.add(41);
        assert_eq!(c.get(), 42);
        let g = Gauge::default();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
        g.set(7);
        assert_eq!(g.get(), 7);
    }

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500)); // <= 1 ms
        h.observe(Duration::from_millis(1)); // exactly 1 ms: le="0.001"
        h.observe(Duration::from_millis(3)); // le="0.005"
        h.observe(Duration::from_secs(60)); // +Inf
        let v = h.read();
        assert_eq!(v.counts[0], 2);
        assert_eq!(v.counts[2], 1);
        assert_eq!(v.counts[BUCKETS - 1], 1);
        assert_eq!(v.count(), 4);
        assert_eq!(
            v.sum_nanos,
            500_000 + 1_000_000 + 3_000_000 + 60_000_000_000
        );
        assert_eq!(BUCKET_NANOS.len(), LATENCY_BUCKETS.len());
        for (n, s) in BUCKET_NANOS.iter().zip(LATENCY_BUCKETS.iter()) {
            assert_eq!(*n, (s * 1e9).round() as u64);
        }
    }

    #[test]
    fn route_lookup_finds_only_listed_routes() {
        let s = StageSeries::new("a", "prod", &["GET /b", "GET /a", "POST /a", "GET /a"]);
        assert_eq!(s.routes().len(), 3);
        assert!(s.route("GET /a").is_some());
        assert!(s.route("POST /a").is_some());
        assert!(s.route("GET /c").is_none());
        assert!(StageSeries::new("a", "p", &[]).route("GET /a").is_none());
    }

    #[test]
    fn a_rebuilt_table_continues_the_series_that_keep_their_labels() {
        let t1 = Table::build(
            &spec(1, &[("shop", "prod", &["GET /x"]), ("shop", "dev", &[])]),
            None,
        );
        let prod = t1.stages[0].as_ref().expect("prod");
        prod.counters.requests.add(5);
        prod.counters.latency.observe(Duration::from_millis(2));
        prod.route("GET /x").expect("route").requests.add(3);
        t1.stages[1].as_ref().expect("dev").counters.requests.add(2);
        t1.unrouted.counters.requests.inc();
        t1.domains[0].handshakes.add(4);
        t1.no_domain.failures.inc();

        // Reordered ids, `dev` gone, `test` new, `prod` keeps its route and adds one.
        let t2 = Table::build(
            &spec(
                2,
                &[
                    ("shop", "test", &[]),
                    ("shop", "prod", &["GET /x", "GET /y"]),
                ],
            ),
            Some(&t1),
        );
        assert_eq!(t2.config, 2);
        let prod = t2.stages[1].as_ref().expect("prod");
        assert_eq!(prod.counters.requests.get(), 5);
        assert_eq!(prod.counters.latency.read().count(), 1);
        assert_eq!(prod.route("GET /x").expect("x").requests.get(), 3);
        assert_eq!(prod.route("GET /y").expect("y").requests.get(), 0);
        assert_eq!(
            t2.stages[0].as_ref().expect("test").counters.requests.get(),
            0
        );
        assert!(t2.stage_by_name("shop", "dev").is_none());
        assert_eq!(t2.unrouted.counters.requests.get(), 1);
        assert_eq!(t2.domains[0].handshakes.get(), 4);
        assert_eq!(t2.no_domain.failures.get(), 1);
    }

    #[test]
    fn registry_forgets_dropped_blocks() {
        let r = Registry::default();
        let t = Arc::new(Table::build(&spec(1, &[]), None));
        let a = Arc::new(WorkerBlock::new(1, t.clone()));
        let b = Arc::new(WorkerBlock::new(0, t));
        r.register(&a);
        r.register(&b);
        let ids: Vec<usize> = r.blocks().iter().map(|b| b.worker).collect();
        assert_eq!(ids, vec![0, 1]);
        drop(a);
        assert_eq!(r.blocks().len(), 1);
    }

    #[test]
    fn render_sums_workers_and_writes_the_text_format() {
        let t0 = Arc::new(Table::build(
            &spec(1, &[("shop", "prod", &["GET /x"])]),
            None,
        ));
        let t1 = Arc::new(Table::build(
            &spec(1, &[("shop", "prod", &["GET /x"])]),
            None,
        ));
        for (t, n) in [(&t0, 2u64), (&t1, 3)] {
            let s = t.stages[0].as_ref().expect("prod");
            s.counters.requests.add(n);
            s.counters.errors_4xx.inc();
            s.counters.throttled[4].inc();
            s.counters.latency.observe(Duration::from_millis(20));
            s.route("GET /x").expect("x").requests.add(n);
            t.domains[0].handshakes.inc();
        }
        let b0 = Arc::new(WorkerBlock::new(0, t0));
        let b1 = Arc::new(WorkerBlock::new(1, t1));
        b1.open_connections.set(3);
        let text = render(&[b0, b1], &[("pool".into(), "127.0.0.1:9\"x".into(), true)]);
        let has = |line: &str| {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            )
        };
        has("# TYPE tollgate_requests_total counter");
        has("tollgate_requests_total{api=\"shop\",stage=\"prod\"} 5");
        has("tollgate_4xx_errors_total{api=\"shop\",stage=\"prod\"} 2");
        has("tollgate_throttled_requests_total{api=\"shop\",stage=\"prod\",level=\"account\"} 2");
        has("tollgate_throttled_requests_total{api=\"shop\",stage=\"prod\",level=\"stage\"} 0");
        has("# TYPE tollgate_latency_seconds histogram");
        has("tollgate_latency_seconds_bucket{api=\"shop\",stage=\"prod\",le=\"0.01\"} 0");
        has("tollgate_latency_seconds_bucket{api=\"shop\",stage=\"prod\",le=\"0.025\"} 2");
        has("tollgate_latency_seconds_bucket{api=\"shop\",stage=\"prod\",le=\"+Inf\"} 2");
        has("tollgate_latency_seconds_sum{api=\"shop\",stage=\"prod\"} 0.04");
        has("tollgate_latency_seconds_count{api=\"shop\",stage=\"prod\"} 2");
        has("tollgate_route_requests_total{api=\"shop\",stage=\"prod\",route=\"GET /x\"} 5");
        has("tollgate_target_healthy{target_group=\"pool\",target=\"127.0.0.1:9\\\"x\"} 1");
        has("tollgate_open_connections{worker=\"1\"} 3");
        has("tollgate_open_connections{worker=\"0\"} 0");
        has("tollgate_tls_handshakes_total{domain=\"api.example.com\"} 2");
        has("tollgate_access_log_lines_dropped_total 0");
        // No unrouted request, no handshake failure without a domain: no empty labels.
        assert!(!text.contains("api=\"\""), "{text}");
        assert!(!text.contains("domain=\"\""), "{text}");
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\\b\"c\nd");
        assert_eq!(s, "a\\\\b\\\"c\\nd");
    }
}
