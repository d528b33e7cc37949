//! The per-worker state every phase reads (`WorkerCtx`): the configuration snapshot and its
//! services, this worker's upstream pools, target-group view, token buckets, request ids,
//! Date cache and drain signal. `Rc`/`Cell` state, touched by the worker's thread only; the
//! runtime (`runtime::worker`) creates it, switches it on reload and runs the loops.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::config::Snapshot;
use crate::http::date::DateCache;
use crate::limits::worker::WorkerLimits;
use crate::log;
use crate::pipeline::drain::Drain;
use crate::pipeline::request_id::RequestIds;
use crate::services::Services;
use crate::transport::splice::Pipes;
use crate::upstream::pool::Upstreams;
use crate::upstream::target::TargetGroups;

/// Per-worker state shared by this worker's tasks.
pub struct WorkerCtx {
    pub id: usize,
    // Rc around the Arc on purpose: each request clones the Rc (a plain increment on this
    // core) instead of the Arc (an atomic on a cache line every core shares).
    #[allow(clippy::redundant_allocation)]
    snapshot: RefCell<Rc<Arc<Snapshot>>>,
    /// The live state that goes with `snapshot` (replaced with it, in the same step).
    #[allow(clippy::redundant_allocation)]
    services: RefCell<Rc<Arc<Services>>>,
    pub drain: Drain,
    /// Fires (and is replaced) on every reload: HTTP/2 connections then say GOAWAY, so no
    /// new stream runs on a connection set up under an older configuration (its handshake's
    /// certificate, ALPN and mutual-TLS trust).
    reloaded: RefCell<Rc<Drain>>,
    pub ids: RequestIds,
    pub date: DateCache,
    pub upstreams: Upstreams,
    /// Kernel pipes for splicing large bodies.
    pub pipes: Pipes,
    /// This worker's view of the target groups (balancers, health).
    pub targets: TargetGroups,
    /// This worker's token buckets and the shared quota counters.
    pub limits: WorkerLimits,
    /// State of the canary coin (xorshift64*).
    canary_rng: Cell<u64>,
    /// Spare `$context`s, leased per connection (HTTP/1.1) or stream (HTTP/2).
    pub contexts: crate::pipeline::context::ContextPool,
    /// This worker's counters (`/metrics`).
    pub metrics: crate::pipeline::metrics::WorkerMetrics,
    /// Trace and span ids, and the sampling draw.
    pub trace_ids: crate::observe::trace::IdGen,
    /// This worker's access log buffers.
    pub access_log: crate::pipeline::access_log::AccessLogWorker,
    /// Lambda authorizers' result caches (one per authorizer, this worker's; they follow
    /// the configuration by themselves, keyed by the authorizer's `Arc`).
    pub lambda_caches: crate::pipeline::authorize::lambda::LambdaCaches,
    /// JWT authorizers' verified-token cache and key readers.
    pub jwt: RefCell<crate::pipeline::authorize::jwt::JwtWorker>,
    /// SigV4 verification state of AWS_IAM routes (verifier buffers, signing-key cache).
    pub iam: crate::pipeline::authorize::iam::IamState,
}

impl WorkerCtx {
    pub fn new(id: usize, snapshot: Arc<Snapshot>, services: Arc<Services>) -> Self {
        let targets = TargetGroups::new(&snapshot);
        crate::pipeline::execution_log::sink::prepare(&snapshot);
        let limits = WorkerLimits::new(id, &snapshot, services.limits().clone());
        let metrics = crate::pipeline::metrics::WorkerMetrics::new(id, &snapshot);
        let access_log = crate::pipeline::access_log::AccessLogWorker::default();
        access_log.configure(&snapshot);
        WorkerCtx {
            id,
            snapshot: RefCell::new(Rc::new(snapshot)),
            services: RefCell::new(Rc::new(services)),
            drain: Drain::default(),
            reloaded: RefCell::new(Rc::new(Drain::default())),
            ids: RequestIds::new(),
            date: DateCache::default(),
            upstreams: Upstreams::default(),
            pipes: Pipes::default(),
            targets,
            limits,
            canary_rng: Cell::new(seed(id)),
            contexts: Default::default(),
            metrics,
            trace_ids: crate::observe::trace::IdGen::new(id),
            access_log,
            lambda_caches: Default::default(),
            jwt: Default::default(),
            iam: Default::default(),
        }
    }

    /// A uniform draw in [0, 100) for choosing canary requests.
    pub fn roll_percent(&self) -> f64 {
        let mut x = self.canary_rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.canary_rng.set(x);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }

    /// Switch to a new configuration and its services: target-group state is rebuilt,
    /// pooled upstream connections dropped (groups may have changed) and the rate-limit
    /// leases start over; open client connections stay.
    pub fn reload(&self, snapshot: Arc<Snapshot>, services: Arc<Services>) {
        self.targets.reset(&snapshot);
        crate::pipeline::execution_log::sink::prepare(&snapshot);
        services
            .unhealthy_targets()
            .for_each(|u| self.targets.apply(u));
        self.upstreams.clear();
        self.metrics.reload(&snapshot);
        self.metrics.set_idle_upstream(0);
        self.access_log.configure(&snapshot);
        self.limits
            .reset(&snapshot, Some(services.limits().clone()));
        *self.snapshot.borrow_mut() = Rc::new(snapshot);
        *self.services.borrow_mut() = Rc::new(services);
        let before = self.reloaded.replace(Rc::new(Drain::default()));
        before.trigger();
        // New connections (and TLS handshakes) use it from here on.
        log!("worker {}: reloaded configuration in force", self.id);
    }

    /// Fires at the next reload (HTTP/2 connections then say GOAWAY).
    pub fn reloaded(&self) -> Rc<Drain> {
        self.reloaded.borrow().clone()
    }

    /// The snapshot a request runs on (a cheap, non-atomic `Rc` clone).
    #[allow(clippy::redundant_allocation)]
    pub fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        self.snapshot.borrow().clone()
    }

    /// The services that go with [`snapshot`](Self::snapshot) (take both at the same time:
    /// a reload replaces them together).
    #[allow(clippy::redundant_allocation)]
    pub fn services(&self) -> Rc<Arc<Services>> {
        self.services.borrow().clone()
    }
}

/// A non-zero seed that differs per worker and per start.
fn seed(id: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}
