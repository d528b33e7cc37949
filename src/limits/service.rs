//! The limits thread: owns the `Reconciler` (the true token buckets), turns the workers'
//! reports into grants every `reconcile_interval`, and writes the quota counters to the
//! state file every `state_flush_interval` and when it stops. It never touches a worker's
//! event loop: reports arrive on a channel, grants leave through the runtime's `PublishGrants`
//! (as control messages).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::config::snapshot::ACCOUNT_LIMIT;
use crate::config::Snapshot;
use crate::limits::quota::QuotaStore;
use crate::limits::reconcile::{
    min_burst_for_full_rate, Grant, LimitSpec, Reconciler, WorkerReport,
};
use crate::limits::worker::LimitsLink;
use crate::log;

pub struct LimitsService {
    /// Dropping the sender wakes the thread at once (it then flushes and stops).
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The quota persistence thread (none without quotas) and its stop signal.
    flush_stop: Option<Sender<()>>,
    flusher: Option<JoinHandle<()>>,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Build the reconciler for `snapshot`'s rate limits and `workers` workers, and the link the
/// workers use (report channel, `quotas`, the limits' central token pools). Every bucket
/// starts full in its shared pool, where any core can take from it; the leases start empty.
pub fn prepare(
    snapshot: &Snapshot,
    workers: usize,
    quotas: Arc<QuotaStore>,
) -> (Reconciler, LimitsLink, Receiver<WorkerReport>) {
    // The account throttle covers everything this process serves: say which one is in
    // force, so a first benchmark that meets API Gateway's default is not a mystery.
    if let Some(account) = snapshot.rate_limits.get(ACCOUNT_LIMIT) {
        log!(
            "account throttle: {} requests/s, burst {} over every API (server.account_throttle; API Gateway's default is 10000/5000)",
            account.rate, account.burst
        );
    }
    // A token taken counts as held for about two reconcile ticks until a report shows it
    // spent, so a burst smaller than that cannot carry the full rate; say so rather than
    // under-admit silently.
    for l in &snapshot.rate_limits {
        let need = min_burst_for_full_rate(l.rate, snapshot.server.reconcile_interval);
        if l.burst < need {
            log!(
                "throttle {}: burst {} is below rate x 2 reconcile ticks ({need:.1}); it will admit less than {} per second (raise burst or lower server.throttle_reconcile_interval)",
                l.name, l.burst, l.rate
            );
        }
    }
    let specs: Vec<LimitSpec> = snapshot
        .rate_limits
        .iter()
        .map(|l| LimitSpec {
            rate: l.rate,
            burst: l.burst,
        })
        .collect();
    let n = specs.len();
    let reconciler = Reconciler::new(specs, workers, Duration::ZERO);
    let pools = reconciler.pools();
    // Room for several ticks of every worker reporting every limit.
    let (tx, rx) = bounded((n * workers * 4).clamp(1024, 1 << 20));
    (
        reconciler,
        LimitsLink {
            reports: tx,
            quotas,
            pools,
        },
        rx,
    )
}

/// Where the limits thread sends one worker's grants: (worker, [(rate limit, tokens)]); the
/// runtime turns them into control messages.
pub type PublishGrants = Box<dyn Fn(usize, Vec<(usize, f64)>) + Send>;

/// Run the reconciler on its own thread for `workers` workers, handing each worker's grants
/// to `publish`.
pub fn spawn(
    mut reconciler: Reconciler,
    reports: Receiver<WorkerReport>,
    workers: usize,
    publish: PublishGrants,
    quotas: Arc<QuotaStore>,
    snapshot: &Snapshot,
) -> std::io::Result<LimitsService> {
    let (stop, stop_rx) = bounded::<()>(1);
    let interval = snapshot.server.reconcile_interval;
    let flush = snapshot.server.state_flush_interval;
    let path = snapshot.server.state_file.clone();
    // Persistence has its own thread: a slow fsync must never delay the token leases.
    let (flush_stop, flush_rx) = bounded::<()>(1);
    let flusher = if quotas.is_empty() {
        None
    } else {
        let quotas = quotas.clone();
        Some(
            std::thread::Builder::new()
                .name("tollgate-quota-flush".into())
                .spawn(move || loop {
                    let stopping =
                        !matches!(flush_rx.recv_timeout(flush), Err(RecvTimeoutError::Timeout));
                    if let Err(e) = quotas.save(&path, unix_now()) {
                        log!("quota state: cannot write {}: {e}", path.display());
                    }
                    if stopping {
                        return;
                    }
                })?,
        )
    };
    let thread = std::thread::Builder::new()
        .name("tollgate-limits".into())
        .spawn(move || {
            let origin = Instant::now();
            let mut per_worker: Vec<Vec<(usize, f64)>> = vec![Vec::new(); workers];
            loop {
                // A tick, or a stop (the sender dropped) at once.
                let stopping = !matches!(
                    stop_rx.recv_timeout(interval),
                    Err(RecvTimeoutError::Timeout)
                );
                while let Ok(r) = reports.try_recv() {
                    reconciler.report(r);
                }
                for Grant {
                    worker,
                    limit,
                    tokens,
                } in reconciler.tick(origin.elapsed())
                {
                    if let Some(list) = per_worker.get_mut(worker) {
                        list.push((limit, tokens));
                    }
                }
                for (worker, list) in per_worker.iter_mut().enumerate() {
                    if !list.is_empty() {
                        publish(worker, std::mem::take(list));
                    }
                }
                if stopping {
                    return;
                }
            }
        })?;
    Ok(LimitsService {
        stop: Some(stop),
        thread: Some(thread),
        flush_stop: Some(flush_stop),
        flusher,
    })
}

impl LimitsService {
    /// Stop handing out tokens (quick: the thread wakes at once).
    pub fn stop_leasing(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stop reconciling, and persistence after a last quota flush.
    pub fn stop(mut self) {
        self.stop_leasing();
        self.flush_stop.take();
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LimitsService {
    fn drop(&mut self) {
        self.stop.take();
        self.flush_stop.take();
    }
}
