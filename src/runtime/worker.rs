//! One worker: a thread pinned to a core, its own monoio runtime, its own listeners,
//! upstream pools and buffers. Everything here is `Rc`/`Cell` state, touched by this
//! thread only.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Receiver;
use monoio::net::TcpListener;

use crate::config::Snapshot;
use crate::http::date::DateCache;
use crate::limits::worker::WorkerLimits;
use crate::log;
use crate::net::conn::{self, ClientConn};
use crate::net::splice::Pipes;
use crate::net::stream::MaybeTls;
use crate::net::tls_accept;
use crate::pipeline::request_id::RequestIds;
use crate::runtime::control::ControlMsg;
use crate::runtime::drain::Drain;
use crate::runtime::services::Services;
use crate::upstream::pool::Upstreams;
use crate::upstream::target::TargetGroups;

/// How often a worker looks at its control channel.
const CONTROL_TICK: Duration = Duration::from_millis(10);

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
}

impl WorkerCtx {
    pub fn new(id: usize, snapshot: Arc<Snapshot>, services: Arc<Services>) -> Self {
        let targets = TargetGroups::new(&snapshot);
        let limits = WorkerLimits::new(id, &snapshot, services.limits().clone());
        WorkerCtx {
            id,
            snapshot: RefCell::new(Rc::new(snapshot)),
            services: RefCell::new(Rc::new(services)),
            drain: Drain::default(),
            ids: RequestIds::new(),
            date: DateCache::default(),
            upstreams: Upstreams::default(),
            pipes: Pipes::default(),
            targets,
            limits,
            canary_rng: Cell::new(seed(id)),
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
        services
            .unhealthy_targets()
            .for_each(|u| self.targets.apply(u));
        self.upstreams.clear();
        self.limits
            .reset(&snapshot, Some(services.limits().clone()));
        *self.snapshot.borrow_mut() = Rc::new(snapshot);
        *self.services.borrow_mut() = Rc::new(services);
        // New connections (and TLS handshakes) use it from here on.
        log!("worker {}: reloaded configuration in force", self.id);
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

/// What a worker thread needs to start.
pub struct WorkerSpec {
    pub id: usize,
    /// Core to pin to, if pinning is wanted.
    pub cpu: Option<usize>,
    pub snapshot: Arc<Snapshot>,
    /// (configured listener index, this worker's SO_REUSEPORT socket)
    pub listeners: Vec<(usize, std::net::TcpListener)>,
    pub control: Receiver<ControlMsg>,
    /// The live state that goes with `snapshot` (caches, quota counters, the link to the
    /// limits thread).
    pub services: Arc<Services>,
}

/// Run a worker to completion (returns after shutdown and drain).
pub fn run(spec: WorkerSpec) -> std::io::Result<()> {
    if let Some(cpu) = spec.cpu {
        if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
            log!("worker {}: could not pin to cpu {cpu}: {e:?}", spec.id);
        }
    }
    let builder = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .attach_thread_pool(Box::new(monoio::blocking::DefaultThreadPool::new(1)));
    let mut rt = builder.build()?;
    let driver = match &rt {
        monoio::FusionRuntime::Uring(_) => "io_uring",
        monoio::FusionRuntime::Legacy(_) => "epoll (legacy)",
    };
    log!(
        "worker {} started on cpu {:?} with the {driver} driver",
        spec.id,
        spec.cpu
    );
    rt.block_on(worker_main(spec))
}

async fn worker_main(spec: WorkerSpec) -> std::io::Result<()> {
    let drain_timeout = spec.snapshot.server.drain_timeout;
    let ctx = Rc::new(WorkerCtx::new(spec.id, spec.snapshot, spec.services));
    for (index, std_listener) in spec.listeners {
        let listener = TcpListener::from_std(std_listener)?;
        monoio::spawn(accept_loop(ctx.clone(), index, listener));
    }
    monoio::spawn(control_loop(ctx.clone(), spec.control));

    ctx.drain.wait().await;
    let deadline = monoio::time::Instant::now() + drain_timeout;
    while ctx.drain.active() > 0 && monoio::time::Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if ctx.drain.active() > 0 {
        log!(
            "worker {}: drain deadline passed with {} connection(s) open",
            ctx.id,
            ctx.drain.active()
        );
    }
    Ok(())
}

async fn control_loop(ctx: Rc<WorkerCtx>, control: Receiver<ControlMsg>) {
    loop {
        while let Ok(msg) = control.try_recv() {
            match msg {
                ControlMsg::Shutdown => ctx.drain.trigger(),
                ControlMsg::Health(update) => ctx.targets.apply(update),
                ControlMsg::Reload { snapshot, services } => ctx.reload(snapshot, services),
                ControlMsg::Grants(grants) => ctx.limits.apply(&grants),
            }
        }
        ctx.limits.report();
        if ctx.drain.is_draining() {
            return;
        }
        monoio::time::sleep(CONTROL_TICK).await;
    }
}

async fn accept_loop(ctx: Rc<WorkerCtx>, listener_index: usize, listener: TcpListener) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = ctx.drain.wait() => None,
        };
        let Some(accepted) = accepted else { return };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok().or(local).unwrap_or(peer);
                let ctx = ctx.clone();
                monoio::spawn(async move {
                    let _active = ctx.drain.track();
                    let snapshot = ctx.snapshot();
                    let services = ctx.services();
                    let tls = snapshot
                        .listeners
                        .get(listener_index)
                        .and_then(|l| l.tls.clone());
                    let mut c = match tls {
                        None => ClientConn::new(
                            MaybeTls::Plain(stream),
                            None,
                            peer,
                            local,
                            listener_index,
                        ),
                        Some(tls) => {
                            let handshake =
                                tls_accept::accept(stream, &snapshot, services.tls_configs(), &tls);
                            match monoio::time::timeout(tls.handshake_timeout, handshake).await {
                                Ok(Ok((stream, info))) => ClientConn::new(
                                    MaybeTls::Tls(Box::new(stream)),
                                    Some(info),
                                    peer,
                                    local,
                                    listener_index,
                                ),
                                // Failed or too slow handshakes just close (rustls sent any alert).
                                Ok(Err(_)) | Err(_) => return,
                            }
                        }
                    };
                    drop((snapshot, services));
                    conn::serve(&ctx, &mut c).await;
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log!("worker {}: accept failed: {e}", ctx.id);
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
