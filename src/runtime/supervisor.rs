//! The supervisor: binds every listener once per worker (SO_REUSEPORT), starts one pinned
//! worker per core, then waits for signals. SIGINT/SIGTERM drain and stop the workers
//! (bounded by `server.drain_timeout`) and the process exits 0.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{unbounded, Receiver, Sender};

use crate::config::Snapshot;
use crate::limits::service::{self as limits_service, LimitsService};
use crate::log;
use crate::net::listener::bind_set;
use crate::runtime::admin::{Admin, Readiness, ReloadError, ReloadOutcome, SupervisorRequest};
use crate::runtime::control::ControlMsg;
use crate::runtime::worker::{self, WorkerSpec};
use crate::services::{self, LimitsThread, Services};
use crate::upstream::health::{spawn_checker, CheckedGroup, CheckerHandle, HealthUpdate};
use rustls::pki_types::ServerName;

/// How many workers to run: `--workers`, else `server.workers`, else one per core.
pub fn worker_count(snapshot: &Snapshot, cli: Option<usize>) -> usize {
    cli.or(snapshot.server.workers)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

struct Worker {
    handle: JoinHandle<io::Result<()>>,
    control: Sender<ControlMsg>,
}

/// A started gateway: its listeners' bound addresses and its workers.
pub struct Running {
    /// (listener name, bound address), in configuration order.
    pub listeners: Vec<(String, SocketAddr)>,
    workers: Vec<Worker>,
    drain_timeout: Duration,
    /// The active health checker, when any target group has checks.
    checker: Option<CheckerHandle>,
    /// (name, configured address, is TLS) of each listener, to refuse reloads that change them.
    listener_specs: Vec<(String, SocketAddr, bool)>,
    /// The reconciler and quota-flush thread of `services`.
    limits: Option<LimitsService>,
    /// The admin listener, when configured.
    admin: Option<Admin>,
    /// The configuration in force.
    snapshot: Arc<Snapshot>,
    /// The live state that goes with it (reconciled on reload).
    services: Arc<Services>,
    /// Requests from the admin listener (`POST /reload`), answered by `serve_requests`.
    requests: Receiver<SupervisorRequest>,
}

/// How long `start` waits for every worker to say it is up before returning (the admin
/// API's readiness stays `starting` until they have).
const STARTUP_WAIT: Duration = Duration::from_secs(10);

/// How long a reload waits for every worker to confirm the new configuration.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Bind every listener once per worker and start the workers. Returns once they run.
/// Callers that want signal handling block the signals before calling this (see `run`).
pub fn start(snapshot: Arc<Snapshot>, workers_cli: Option<usize>) -> io::Result<Running> {
    let n = worker_count(&snapshot, workers_cli);
    let cpus = allowed_cpus();

    // Bind everything before starting anything, so a busy port fails the start cleanly.
    let mut per_worker: Vec<Vec<(usize, std::net::TcpListener)>> =
        (0..n).map(|_| Vec::new()).collect();
    let mut listeners = Vec::new();
    for (index, spec) in snapshot.listeners.iter().enumerate() {
        let (bound, set) = bind_set(spec.bind, n).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("listener {} on {}: {e}", spec.name, spec.bind),
            )
        })?;
        listeners.push((spec.name.clone(), bound));
        for (w, l) in set.into_iter().enumerate() {
            per_worker[w].push((index, l));
        }
    }

    let (services, limits_thread) = Services::start(&snapshot, n);
    wait_for_jwt_keys(&services);
    let services = Arc::new(services);
    // The admin listener first (bound before any worker starts, so a busy port fails the
    // start cleanly): it answers `starting` until every worker is up.
    let (requests_tx, requests) = unbounded();
    let admin = match snapshot.admin {
        Some(addr) => Some(Admin::start(
            addr,
            snapshot.clone(),
            services.clone(),
            requests_tx,
        )?),
        None => None,
    };
    let (up_tx, up_rx) = unbounded();
    // The span exporter thread, when some stage traces.
    crate::pipeline::trace::configure(&snapshot);
    let mut workers = Vec::with_capacity(n);
    for (id, sockets) in per_worker.into_iter().enumerate() {
        let (tx, rx) = unbounded();
        let spec = WorkerSpec {
            services: services.clone(),
            id,
            cpu: cpus.get(id % cpus.len().max(1)).copied(),
            snapshot: snapshot.clone(),
            listeners: sockets,
            control: rx,
            up: Some(up_tx.clone()),
        };
        let handle = std::thread::Builder::new()
            .name(format!("tollgate-w{id}"))
            .spawn(move || worker::run(spec))?;
        workers.push(Worker {
            handle,
            control: tx,
        });
    }
    drop(up_tx);
    let checker = start_health_checks(&snapshot, &services, &workers)?;
    let limits = spawn_limits(limits_thread, &workers, &services, &snapshot)?;
    if wait_until_up(&up_rx, &workers, STARTUP_WAIT) {
        if let Some(a) = &admin {
            a.set_readiness(Readiness::Serving);
        }
    } else {
        log!("not every worker started within {STARTUP_WAIT:?}; /health/ready stays 503");
    }
    Ok(Running {
        requests,
        admin,
        snapshot: snapshot.clone(),
        services,
        limits: Some(limits),
        listeners,
        workers,
        drain_timeout: snapshot.server.drain_timeout,
        checker,
        listener_specs: snapshot
            .listeners
            .iter()
            .map(|l| (l.name.clone(), l.bind, l.tls.is_some()))
            .collect(),
    })
}

/// Wait until every worker in `workers` has said it is up on `up` (false when one stopped
/// or `wait` passed first).
fn wait_until_up(up: &Receiver<usize>, workers: &[Worker], wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut seen = 0;
    while seen < workers.len() {
        if Instant::now() >= deadline || workers.iter().any(|w| w.handle.is_finished()) {
            return false;
        }
        if up.recv_timeout(Duration::from_millis(20)).is_ok() {
            seen += 1;
        }
    }
    true
}

/// Run the limits thread of `services` (grants go to every worker's control channel).
fn spawn_limits(
    thread: LimitsThread,
    workers: &[Worker],
    services: &Services,
    snapshot: &Snapshot,
) -> io::Result<LimitsService> {
    let controls: Vec<Sender<ControlMsg>> = workers.iter().map(|w| w.control.clone()).collect();
    let n = controls.len();
    let publish = Box::new(move |worker: usize, grants| {
        if let Some(tx) = controls.get(worker) {
            let _ = tx.send(ControlMsg::Grants(grants));
        }
    });
    limits_service::spawn(
        thread.reconciler,
        thread.reports,
        n,
        publish,
        services.quotas().clone(),
        snapshot,
    )
}

/// Start the active health checker for the groups that have checks; its results go to every
/// worker as control messages. Over TLS the checks verify the group's `server_name`, else
/// the check's `host`, else the target's IP address.
fn start_health_checks(
    snapshot: &Snapshot,
    services: &Services,
    workers: &[Worker],
) -> io::Result<Option<CheckerHandle>> {
    let mut groups = Vec::new();
    for (gi, g) in snapshot.target_groups.iter().enumerate() {
        let Some(spec) = g.health_check.clone() else {
            continue;
        };
        let targets: Vec<SocketAddr> = g.targets.iter().map(|t| t.addr).collect();
        let tls = g.tls.as_ref().map(|t| {
            let name = t
                .server_name
                .clone()
                .or_else(|| {
                    spec.host
                        .as_deref()
                        .and_then(|h| ServerName::try_from(h.to_owned()).ok())
                })
                .or_else(|| {
                    targets
                        .first()
                        .map(|a| ServerName::IpAddress(a.ip().into()))
                })
                .unwrap_or(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
            (t.config.clone(), name)
        });
        groups.push(CheckedGroup {
            group: gi,
            targets,
            spec,
            tls,
            proxy_v2: g.proxy_protocol_v2,
            initial: services.health(gi).map(|h| h.states()).unwrap_or_default(),
        });
    }
    if groups.is_empty() {
        return Ok(None);
    }
    let senders: Vec<Sender<ControlMsg>> = workers.iter().map(|w| w.control.clone()).collect();
    let board: Vec<_> = (0..snapshot.target_groups.len())
        .map(|gi| services.health(gi).cloned())
        .collect();
    let publish = Box::new(move |update: HealthUpdate| {
        if let Some(Some(h)) = board.get(update.group) {
            h.set(update.target, update.healthy);
        }
        for tx in &senders {
            let _ = tx.send(ControlMsg::Health(update));
        }
    });
    spawn_checker(groups, publish).map(Some)
}

impl Running {
    /// Re-read the configuration file (certificates, keys and truststores included) and,
    /// if every part of it is valid and the listeners are unchanged, hand it to every
    /// worker. Otherwise log why and keep the configuration in force. The outcome (with
    /// every error's file, key and reason) is logged and returned (`POST /reload`).
    pub fn reload(&mut self, path: &std::path::Path) -> ReloadOutcome {
        let new = match crate::config::load(path) {
            Ok(s) => s,
            Err(errors) => {
                for e in &errors.0 {
                    log!("reload refused: {e}");
                }
                log!(
                    "reload refused ({} error(s)); the running configuration stays in force",
                    errors.0.len()
                );
                return ReloadOutcome::Refused {
                    status: 400,
                    errors: errors.0.iter().map(ReloadError::from).collect(),
                };
            }
        };
        let same_listeners = new.listeners.len() == self.listener_specs.len()
            && new
                .listeners
                .iter()
                .zip(&self.listener_specs)
                .all(|(a, b)| a.name == b.0 && a.bind == b.1 && a.tls.is_some() == b.2);
        if !same_listeners {
            log!("reload refused: listeners changed (names, addresses or TLS); restart to apply them");
            return ReloadOutcome::Refused {
                status: 409,
                errors: vec![ReloadError {
                    file: path.display().to_string(),
                    key: "listeners".to_string(),
                    reason: "listeners changed (names, addresses or TLS); restart to apply them"
                        .to_string(),
                }],
            };
        }
        let mut notes = Vec::new();
        if new.admin != self.snapshot.admin {
            notes.push(
                "admin.bind changed; the admin listener stays where it is until a restart"
                    .to_string(),
            );
        }
        let new = Arc::new(new);
        // Stop the old leases first (a grant from them must not reach the new buckets); the
        // old service's last quota flush waits until the new one runs, so workers are not
        // left without tokens while it writes.
        let mut old_limits = self.limits.take();
        if let Some(old) = old_limits.as_mut() {
            old.stop_leasing();
        }
        // And the old checker (joined: no result of it, indexed by the old target groups,
        // reaches a worker after the new configuration; what it found is in the services).
        if let Some(checker) = self.checker.take() {
            checker.stop();
        }
        let (services, limits_thread, kept) =
            services::reconcile(&self.services, &new, self.workers.len());
        wait_for_jwt_keys(&services);
        if kept.caches > 0 {
            notes.push(format!("kept the cache of {} stage(s)", kept.caches));
        }
        if kept.quota_counters > 0 {
            notes.push(format!(
                "{} quota counter(s) keep counting",
                kept.quota_counters
            ));
        }
        if kept.target_groups > 0 {
            notes.push(format!(
                "{} target group(s) keep their targets' health",
                kept.target_groups
            ));
        }
        for n in &notes {
            log!("reload: {n}");
        }
        let services = Arc::new(services);
        crate::pipeline::trace::configure(&new);
        // One message per worker: the snapshot and its services, switched in one step.
        for w in &self.workers {
            let _ = w.control.send(ControlMsg::Reload {
                snapshot: new.clone(),
                services: services.clone(),
            });
        }
        if let Some(admin) = &self.admin {
            admin.set(new.clone(), services.clone());
        }
        // Answer only once every worker has switched (they look at their channel every
        // few milliseconds): after `reloaded: true`, every new request sees the new file.
        if !self.wait_applied(APPLY_WAIT) {
            notes.push(format!(
                "not every worker confirmed the new configuration within {APPLY_WAIT:?}"
            ));
        }
        match start_health_checks(&new, &services, &self.workers) {
            Ok(c) => self.checker = c,
            Err(e) => {
                log!("reload: health checks could not start: {e}");
                notes.push(format!("health checks could not start: {e}"));
            }
        }
        match spawn_limits(limits_thread, &self.workers, &services, &new) {
            Ok(s) => self.limits = Some(s),
            Err(e) => {
                log!("reload: the limits thread could not start: {e}");
                notes.push(format!("the limits thread could not start: {e}"));
            }
        }
        self.snapshot = new.clone();
        self.services = services;
        self.drain_timeout = new.server.drain_timeout;
        // Logged once every worker has been sent the new configuration, before the old
        // service's last quota flush: that flush fsyncs, and a busy disk must not make a
        // reload that already took effect look stalled.
        log!("configuration reloaded from {}", path.display());
        if let Some(old) = old_limits {
            old.stop();
        }
        ReloadOutcome::Reloaded {
            source: path.to_path_buf(),
            notes,
        }
    }

    /// Whether every worker handled its control messages sent so far within `wait`.
    fn wait_applied(&self, wait: Duration) -> bool {
        let (tx, rx) = unbounded();
        let mut asked = 0;
        for w in &self.workers {
            if w.control.send(ControlMsg::Applied(tx.clone())).is_ok() {
                asked += 1;
            }
        }
        drop(tx);
        let deadline = Instant::now() + wait;
        (0..asked).all(|_| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        })
    }

    /// Answer the admin listener's requests waiting now (`POST /reload` reloads `path`).
    pub fn serve_requests(&mut self, path: &std::path::Path) {
        while let Ok(request) = self.requests.try_recv() {
            match request {
                SupervisorRequest::Reload { reply } => {
                    log!("reload requested through the admin API");
                    let outcome = self.reload(path);
                    let _ = reply.send(outcome);
                }
            }
        }
    }

    /// Whether the gateway is ready (`GET /health/ready`).
    fn set_readiness(&self, r: Readiness) {
        if let Some(a) = &self.admin {
            a.set_readiness(r);
        }
    }

    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// The admin listener's bound address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Whether a worker has stopped on its own (it should not).
    pub fn worker_died(&self) -> bool {
        self.workers.iter().any(|w| w.handle.is_finished())
    }

    /// Drain and stop every worker (bounded by the drain timeout). Returns the exit status.
    /// The admin listener answers until the end, `/health/ready` 503 (draining).
    pub fn shutdown(self) -> i32 {
        self.set_readiness(Readiness::Draining);
        if let Some(checker) = self.checker {
            checker.stop();
        }
        for w in &self.workers {
            let _ = w.control.send(ControlMsg::Shutdown);
        }
        let deadline = Instant::now() + self.drain_timeout + Duration::from_secs(2);
        while Instant::now() < deadline && !self.workers.iter().all(|w| w.handle.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut status = 0;
        for w in self.workers {
            if w.handle.is_finished() {
                match w.handle.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        log!("worker failed: {e}");
                        status = 1;
                    }
                    Err(_) => status = 1,
                }
            }
        }
        // The spans of the last requests (bounded: a collector that is down costs 2 s).
        crate::observe::trace::export::flush(Duration::from_secs(2));
        // Last: the final quota flush sees every request the workers counted.
        if let Some(limits) = self.limits {
            limits.stop();
        }
        if let Some(admin) = self.admin {
            admin.stop();
        }
        status
    }
}

/// How long the supervisor waits for a signal before it looks at the admin listener's
/// requests (the longest a `POST /reload` waits to start).
const SIGNAL_TICK: Duration = Duration::from_millis(50);

/// Start the gateway and block until it has been told to stop. Returns the exit status.
pub fn run(snapshot: Arc<Snapshot>, workers_cli: Option<usize>) -> io::Result<i32> {
    // Before any thread exists (the log thread included): threads inherit the mask, so no
    // thread can take SIGINT/SIGTERM/SIGHUP with its default, process-killing action.
    let signals = block_signals()?;
    crate::observe::log::init();
    let mut running = start(snapshot.clone(), workers_cli)?;
    for ((name, addr), spec) in running.listeners.iter().zip(&snapshot.listeners) {
        let scheme = if spec.tls.is_some() { "https" } else { "http" };
        println!("tollgate: listening {name} {scheme}://{addr}");
    }
    if let Some(addr) = running.admin_addr() {
        println!("tollgate: listening admin http://{addr}");
    }
    let n = running.worker_count();
    println!("tollgate: ready with {n} worker(s)");
    log!("serving {} with {n} worker(s)", snapshot.source.display());

    let mut status = 0;
    loop {
        match wait_signal(&signals, SIGNAL_TICK) {
            Some(libc::SIGINT) | Some(libc::SIGTERM) => {
                running.set_readiness(Readiness::Draining);
                log!(
                    "shutting down: draining in-flight requests (up to {:?})",
                    snapshot.server.drain_timeout
                );
                break;
            }
            Some(libc::SIGHUP) => {
                running.reload(&snapshot.source);
            }
            Some(libc::SIGUSR1) => {
                crate::observe::access_log::reopen();
                crate::pipeline::execution_log::sink::reopen_files();
            }
            _ => {}
        }
        running.serve_requests(&snapshot.source);
        if running.worker_died() {
            log!("a worker stopped unexpectedly; shutting down");
            status = 1;
            break;
        }
    }
    status = status.max(running.shutdown());
    log!("stopped");
    crate::observe::access_log::flush(Duration::from_secs(1));
    crate::observe::log::flush();
    Ok(status)
}

/// The CPUs this process may run on (its affinity mask, as `taskset` sets it), in order;
/// worker i is pinned to the i-th of them. Empty if the mask cannot be read (no pinning).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO initialises it, and sched_getaffinity writes
    // at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Block SIGINT, SIGTERM, SIGHUP and SIGUSR1 (reopen the access log files) in this thread (and so in the threads it starts), so
/// they are taken synchronously by `wait_signal`.
fn block_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set points to a live sigset_t; the calls only modify it and this thread's mask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: set and ts are valid for the call; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// Give the JWT authorizers' issuers a moment to answer before the configuration serves
/// (off the workers: the supervisor may wait), so that the first tokens are not refused
/// for keys still on their way. Past the wait, tokens get 401 until their keys arrive.
fn wait_for_jwt_keys(services: &Services) {
    let keys = services.jwt_keys();
    if !keys.is_empty() && !keys.wait_loaded(std::time::Duration::from_secs(5)) {
        log!("jwt: some issuers' keys are not loaded yet; their tokens are refused until they are");
    }
}
