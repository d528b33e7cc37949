//! Target health: active HTTP checks off the request path, passive ejection on the request
//! path, and the messages that carry active results to every worker.
//!
//! - [`ActiveState`]: the threshold logic of one target's active checks (pure).
//! - [`spawn_checker`]: the active checker, on its own threads, which publishes a
//!   [`HealthUpdate`] on every transition (the caller fans it out to the workers).
//! - [`PassiveHealth`]: per-worker outlier ejection from real request results, with
//!   injectable time (`now` values from a [`crate::time::Clock`]).
//!
//! A target is usable when it is actively healthy and not passively ejected; what to do
//! when no target of a group is usable (fail closed with 503, or ALB-style fail open) is
//! the caller's choice.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{select, unbounded, Receiver, Sender};

/// An active health check, as an ALB target group's health check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    /// Request path (with query, if any), starting with `/`.
    pub path: String,
    /// Time between the starts of two checks of one target.
    pub interval: Duration,
    /// A check without a complete status line within this time fails.
    pub timeout: Duration,
    /// Consecutive successes that make an unhealthy target healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy target unhealthy.
    pub unhealthy_threshold: u32,
    /// Lowest status counted as healthy.
    pub status_min: u16,
    /// Highest status counted as healthy.
    pub status_max: u16,
    /// Host header; `None` sends the target's `ip:port`.
    pub host: Option<String>,
}

impl Default for HealthCheckSpec {
    /// ALB's defaults (path `/`, every 30 s, 5 s timeout, healthy after 5 successes,
    /// unhealthy after 2 failures), except the success codes: ALB's default matcher is
    /// `200` only; we take `200..=399` (NLB's HTTP default), so a target that redirects its
    /// root is not taken out of service by a default check.
    fn default() -> Self {
        HealthCheckSpec {
            path: "/".to_string(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            status_min: 200,
            status_max: 399,
            host: None,
        }
    }
}

/// Threshold logic for one target's active checks, pure: feed it probe results.
///
/// A healthy target turns unhealthy after exactly `unhealthy_threshold` consecutive failed
/// checks; an unhealthy one turns healthy after exactly `healthy_threshold` consecutive
/// successes. A result against the trend resets the count. Thresholds of 0 count as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveState {
    healthy: bool,
    /// Consecutive results against the current state.
    streak: u32,
}

impl ActiveState {
    pub fn new(initially_healthy: bool) -> Self {
        ActiveState {
            healthy: initially_healthy,
            streak: 0,
        }
    }

    /// Record one check result; `Some(new state)` when this result changed the state.
    pub fn record(&mut self, ok: bool, spec: &HealthCheckSpec) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let threshold = if ok {
            spec.healthy_threshold
        } else {
            spec.unhealthy_threshold
        };
        if self.streak >= threshold.max(1) {
            self.healthy = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Passive {
    /// Consecutive failures since the last success or ejection.
    failures: u32,
    /// Ejections since the last success (sets the back-off).
    ejections: u32,
    /// Ejected until this time.
    until: Option<Duration>,
}

/// Passive ejection (outlier detection), per worker.
///
/// `threshold` consecutive failures (connect errors or 5xx) eject a target for
/// `base * 2^(ejections - 1)`, capped at `max`. A success resets the failure count and the
/// back-off. When the ejection ends the target is usable again, on probation: a failure
/// before any success re-ejects it at once, for twice as long (up to `max`). Results that
/// arrive while a target is ejected (requests that were already in flight) do not extend
/// the ejection. A `threshold` of 0 turns passive ejection off.
#[derive(Debug, Clone)]
pub struct PassiveHealth {
    targets: Vec<Passive>,
    threshold: u32,
    base: Duration,
    max: Duration,
}

impl PassiveHealth {
    pub fn new(targets: usize, threshold: u32, base: Duration, max: Duration) -> Self {
        PassiveHealth {
            targets: vec![Passive::default(); targets],
            threshold,
            base,
            max,
        }
    }

    /// A request to `target` succeeded: reset its failure count and back-off.
    pub fn record_success(&mut self, target: usize) {
        if let Some(t) = self.targets.get_mut(target) {
            t.failures = 0;
            t.ejections = 0;
        }
    }

    /// A request to `target` failed at `now`; `true` if this ejected it.
    pub fn record_failure(&mut self, target: usize, now: Duration) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let Some(t) = self.targets.get_mut(target) else {
            return false;
        };
        if t.until.is_some_and(|until| now < until) {
            return false;
        }
        t.failures = t.failures.saturating_add(1);
        // On probation (ejected before, no success since): one failure is enough.
        if t.ejections == 0 && t.failures < self.threshold {
            return false;
        }
        t.ejections = t.ejections.saturating_add(1);
        t.failures = 0;
        let window = backoff(self.base, self.max, t.ejections);
        t.until = Some(now.saturating_add(window));
        true
    }

    /// Whether `target` is ejected at `now` (unknown targets are not).
    pub fn is_ejected(&self, target: usize, now: Duration) -> bool {
        self.targets
            .get(target)
            .and_then(|t| t.until)
            .is_some_and(|until| now < until)
    }

    /// Ejections since the target's last success (0 for unknown targets).
    pub fn ejections(&self, target: usize) -> u32 {
        self.targets.get(target).map_or(0, |t| t.ejections)
    }
}

/// `base * 2^(n - 1)`, capped at `max`.
fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let mut d = base.min(max);
    for _ in 1..n {
        if d >= max {
            break;
        }
        d = d.checked_mul(2).map_or(max, |x| x.min(max));
    }
    d
}

/// An active health transition: `target` (index in its group's target list) of target
/// group `group` is now healthy or unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthUpdate {
    pub group: usize,
    pub target: usize,
    pub healthy: bool,
}

/// A target group to check actively.
#[derive(Debug, Clone)]
pub struct CheckedGroup {
    /// The group's id, echoed in [`HealthUpdate::group`].
    pub group: usize,
    pub targets: Vec<SocketAddr>,
    pub spec: HealthCheckSpec,
    /// Check over TLS with this client config and server name (SNI and verification).
    pub tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// The group sends PROXY protocol v2: checks start with a v2 `LOCAL` header (the spec's
    /// command for connections the proxy makes on its own, such as health checks).
    pub proxy_v2: bool,
    /// The state each target starts in (by position; a missing entry starts healthy): what
    /// the previous configuration's checker last found, for targets a reload kept.
    pub initial: Vec<bool>,
}

/// Probe threads at most; more targets share them (a slow probe delays others' checks).
const MAX_PROBE_THREADS: usize = 16;
/// Bytes read at most while looking for the status line.
const MAX_STATUS_LINE: usize = 8 * 1024;
/// Intervals and timeouts are at least this long.
const MIN_PERIOD: Duration = Duration::from_millis(1);

/// What the probe threads need about one group.
struct ProbeGroup {
    group: usize,
    targets: Vec<SocketAddr>,
    /// The request for each target (Host differs).
    requests: Vec<Vec<u8>>,
    spec: HealthCheckSpec,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    proxy_v2: bool,
    initial: Vec<bool>,
}

/// One check to run: group and target positions.
type Job = (usize, usize);
/// One check's result.
type Outcome = (usize, usize, bool);

/// A running active checker. Stopping it (or dropping it) ends the scheduler at once; a
/// probe already in flight finishes in the background within its timeout and its result
/// is dropped.
pub struct CheckerHandle {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CheckerHandle {
    /// Stop checking; returns promptly (no wait for probes in flight).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        // Disconnecting the stop channel wakes the scheduler, which exits.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether `s` can go into a request line or header value as is.
fn is_clean(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b > b' ' && b != 0x7f)
}

fn build_request(path: &str, host: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         User-Agent: tollgate-health-check\r\nAccept: */*\r\n\r\n"
    )
    .into_bytes()
}

/// Start the active checker on its own threads (a scheduler plus up to 16 probe threads;
/// blocking std sockets with timeouts, off the request path).
///
/// Every `interval`, each target gets `GET {path} HTTP/1.1` with `Host` (`spec.host` or
/// the target's `ip:port`), `Connection: close` and `User-Agent: tollgate-health-check`,
/// over TLS when the group has `tls`. A check succeeds if a status line with a status in
/// `status_min..=status_max` arrives within `timeout`. Thresholds as in [`ActiveState`].
///
/// Targets start healthy (or, after a reload, as `CheckedGroup::initial` says), so a fresh
/// start serves at once; a dead target is taken out after `unhealthy_threshold` failed
/// checks. Each transition is passed to
/// `publish` and logged. Stops when the returned handle is stopped or dropped, within
/// milliseconds.
///
/// Errors: `InvalidInput` for a path that does not start with `/` or a path or host with
/// spaces or control characters; thread spawn failures.
pub fn spawn_checker(
    groups: Vec<CheckedGroup>,
    publish: Box<dyn Fn(HealthUpdate) + Send>,
) -> io::Result<CheckerHandle> {
    let mut probe_groups = Vec::with_capacity(groups.len());
    for g in groups {
        let mut spec = g.spec;
        if !spec.path.starts_with('/') || !is_clean(&spec.path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "target group {}: health check path {:?} must start with / and have no spaces or control characters",
                    g.group, spec.path
                ),
            ));
        }
        if let Some(h) = &spec.host {
            if !is_clean(h) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "target group {}: health check host {h:?} has spaces or control characters",
                        g.group
                    ),
                ));
            }
        }
        spec.interval = spec.interval.max(MIN_PERIOD);
        spec.timeout = spec.timeout.max(MIN_PERIOD);
        let requests = g
            .targets
            .iter()
            .map(|addr| match &spec.host {
                Some(h) => build_request(&spec.path, h),
                None => build_request(&spec.path, &addr.to_string()),
            })
            .collect();
        probe_groups.push(ProbeGroup {
            group: g.group,
            targets: g.targets,
            requests,
            spec,
            tls: g.tls,
            proxy_v2: g.proxy_v2,
            initial: g.initial,
        });
    }
    let groups = Arc::new(probe_groups);
    let total: usize = groups.iter().map(|g| g.targets.len()).sum();

    let (job_tx, job_rx) = unbounded::<Job>();
    let (out_tx, out_rx) = unbounded::<Outcome>();
    for i in 0..total.min(MAX_PROBE_THREADS) {
        let (groups, job_rx, out_tx) = (Arc::clone(&groups), job_rx.clone(), out_tx.clone());
        // Probe threads are not joined: they end when the scheduler drops the job sender,
        // after the probe in hand (at most one timeout later).
        std::thread::Builder::new()
            .name(format!("tollgate-health-{i}"))
            .spawn(move || probe_loop(&groups, &job_rx, &out_tx))?;
    }
    drop(job_rx);

    let (stop_tx, stop_rx) = unbounded::<()>();
    let thread = std::thread::Builder::new()
        .name("tollgate-health".into())
        .spawn(move || schedule(&groups, job_tx, out_tx, &out_rx, &stop_rx, &*publish))?;
    Ok(CheckerHandle {
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

fn probe_loop(groups: &[ProbeGroup], jobs: &Receiver<Job>, out: &Sender<Outcome>) {
    for (g, t) in jobs {
        let ok = match (
            groups.get(g),
            groups.get(g).and_then(|pg| pg.targets.get(t)),
        ) {
            (Some(pg), Some(&addr)) => {
                let request = pg.requests.get(t).map_or(&[][..], |r| &r[..]);
                probe(addr, request, &pg.spec, pg.proxy_v2, pg.tls.as_ref())
            }
            _ => false,
        };
        if out.send((g, t, ok)).is_err() {
            return;
        }
    }
}

/// Per-target scheduling state.
struct Slot {
    state: ActiveState,
    next: Instant,
    in_flight: bool,
}

/// The scheduler: hands due checks to the probe threads, applies results, publishes
/// transitions; returns when `stop` is signalled or disconnected.
fn schedule(
    groups: &[ProbeGroup],
    jobs: Sender<Job>,
    // Kept so the outcome channel never disconnects while we wait on it.
    _out_tx: Sender<Outcome>,
    outcomes: &Receiver<Outcome>,
    stop: &Receiver<()>,
    publish: &dyn Fn(HealthUpdate),
) {
    let start = Instant::now();
    let mut slots: Vec<Vec<Slot>> = groups
        .iter()
        .map(|g| {
            (0..g.targets.len())
                .map(|t| Slot {
                    state: ActiveState::new(g.initial.get(t).copied().unwrap_or(true)),
                    next: start,
                    in_flight: false,
                })
                .collect()
        })
        .collect();
    loop {
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        for (gi, (g, gslots)) in groups.iter().zip(slots.iter_mut()).enumerate() {
            for (ti, slot) in gslots.iter_mut().enumerate() {
                if slot.in_flight {
                    continue;
                }
                if slot.next <= now {
                    if jobs.send((gi, ti)).is_err() {
                        return;
                    }
                    slot.in_flight = true;
                    slot.next = now + g.spec.interval;
                } else {
                    wake = Some(wake.map_or(slot.next, |w| w.min(slot.next)));
                }
            }
        }
        let wait = wake.map_or(Duration::from_secs(3600), |w| {
            w.saturating_duration_since(Instant::now())
        });
        select! {
            recv(stop) -> _ => return,
            recv(outcomes) -> msg => {
                let Ok((gi, ti, ok)) = msg else { return };
                let (Some(g), Some(slot)) = (
                    groups.get(gi),
                    slots.get_mut(gi).and_then(|s| s.get_mut(ti)),
                ) else {
                    continue;
                };
                slot.in_flight = false;
                if let Some(healthy) = slot.state.record(ok, &g.spec) {
                    let addr = g.targets.get(ti).map_or_else(String::new, |a| a.to_string());
                    crate::log!(
                        "target group {} target {} is now {}",
                        g.group,
                        addr,
                        if healthy { "healthy" } else { "unhealthy" }
                    );
                    publish(HealthUpdate { group: g.group, target: ti, healthy });
                }
            }
            default(wait) => {}
        }
    }
}

/// One check: connect, send the request, read the status line, all within `spec.timeout`.
fn probe(
    addr: SocketAddr,
    request: &[u8],
    spec: &HealthCheckSpec,
    proxy_v2: bool,
    tls: Option<&(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
) -> bool {
    let deadline = Instant::now() + spec.timeout;
    let status = match tls {
        None => probe_plain(addr, request, deadline, proxy_v2),
        Some((config, name)) => probe_tls(addr, request, deadline, proxy_v2, config, name),
    };
    matches!(status, Ok(s) if (spec.status_min..=spec.status_max).contains(&s))
}

/// Time left until `deadline`, or `TimedOut`.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

fn connect(addr: SocketAddr, deadline: Instant, proxy_v2: bool) -> io::Result<TcpStream> {
    let mut sock = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    let _ = sock.set_nodelay(true);
    if proxy_v2 {
        sock.set_write_timeout(Some(remaining(deadline)?))?;
        sock.write_all(&crate::upstream::proxy_protocol::LOCAL_V2)?;
    }
    Ok(sock)
}

fn probe_plain(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
    proxy_v2: bool,
) -> io::Result<u16> {
    let mut sock = connect(addr, deadline, proxy_v2)?;
    sock.set_write_timeout(Some(remaining(deadline)?))?;
    sock.write_all(request)?;
    let mut s = sock;
    read_status(deadline, |buf| {
        s.set_read_timeout(Some(remaining(deadline)?))?;
        s.read(buf)
    })
}

fn probe_tls(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
    proxy_v2: bool,
    config: &Arc<rustls::ClientConfig>,
    name: &rustls::pki_types::ServerName<'static>,
) -> io::Result<u16> {
    let sock = connect(addr, deadline, proxy_v2)?;
    let conn = rustls::ClientConnection::new(Arc::clone(config), name.clone())
        .map_err(io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    // The handshake runs inside the first write and read; timeouts apply to each.
    s.sock.set_write_timeout(Some(remaining(deadline)?))?;
    s.sock.set_read_timeout(Some(remaining(deadline)?))?;
    s.write_all(request)?;
    s.flush()?;
    read_status(deadline, |buf| {
        let left = remaining(deadline)?;
        s.sock.set_read_timeout(Some(left))?;
        s.sock.set_write_timeout(Some(left))?;
        s.read(buf)
    })
}

/// Read until the status line is complete; its status code.
fn read_status(
    deadline: Instant,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> io::Result<u16> {
    let mut buf = vec![0u8; MAX_STATUS_LINE];
    let mut len = 0;
    loop {
        if let Some(end) = buf[..len].iter().position(|&b| b == b'\n') {
            return parse_status_line(&buf[..end]).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/1.x status line")
            });
        }
        if len == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "status line too long",
            ));
        }
        remaining(deadline)?;
        let n = read(&mut buf[len..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
    }
}

/// `HTTP/1.x SSS reason` (the trailing `\r` optional): the status.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match rest.get(3) {
        None | Some(b' ') | Some(b'\r') => {}
        Some(_) => return None,
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    (100..=999).contains(&status).then_some(status)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
    use std::sync::Mutex;

    fn spec(healthy: u32, unhealthy: u32) -> HealthCheckSpec {
        HealthCheckSpec {
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            ..HealthCheckSpec::default()
        }
    }

    #[test]
    fn defaults_are_albs() {
        let d = HealthCheckSpec::default();
        assert_eq!(d.path, "/");
        assert_eq!(d.interval, Duration::from_secs(30));
        assert_eq!(d.timeout, Duration::from_secs(5));
        assert_eq!((d.healthy_threshold, d.unhealthy_threshold), (5, 2));
        assert_eq!((d.status_min, d.status_max), (200, 399));
        assert_eq!(d.host, None);
    }

    #[test]
    fn active_thresholds_are_exact() {
        let s = spec(3, 2);
        let mut a = ActiveState::new(true);
        assert!(a.healthy());
        // Successes while healthy: no noise.
        for _ in 0..5 {
            assert_eq!(a.record(true, &s), None);
        }
        // One failure, then a success: the count resets.
        assert_eq!(a.record(false, &s), None);
        assert_eq!(a.record(true, &s), None);
        assert_eq!(a.record(false, &s), None);
        assert!(a.healthy());
        // The second consecutive failure flips it, exactly once.
        assert_eq!(a.record(false, &s), Some(false));
        assert!(!a.healthy());
        for _ in 0..5 {
            assert_eq!(a.record(false, &s), None);
        }
        // Back after exactly 3 consecutive successes; a failure in between restarts.
        assert_eq!(a.record(true, &s), None);
        assert_eq!(a.record(true, &s), None);
        assert_eq!(a.record(false, &s), None);
        assert_eq!(a.record(true, &s), None);
        assert_eq!(a.record(true, &s), None);
        assert_eq!(a.record(true, &s), Some(true));
        assert!(a.healthy());
        assert_eq!(a.record(true, &s), None);
    }

    #[test]
    fn active_starts_unhealthy_and_zero_thresholds_mean_one() {
        let s = spec(0, 0);
        let mut a = ActiveState::new(false);
        assert!(!a.healthy());
        assert_eq!(a.record(false, &s), None);
        assert_eq!(a.record(true, &s), Some(true));
        assert_eq!(a.record(false, &s), Some(false));
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn passive_ejects_after_threshold_for_base() {
        let mut p = PassiveHealth::new(2, 3, S(10), S(300));
        assert!(!p.record_failure(0, S(0)));
        assert!(!p.record_failure(0, S(1)));
        assert!(!p.is_ejected(0, S(1)));
        assert!(p.record_failure(0, S(2)));
        assert!(p.is_ejected(0, S(2)));
        assert!(p.is_ejected(0, S(11)));
        assert!(p.is_ejected(0, S(12) - Duration::from_nanos(1)));
        assert!(!p.is_ejected(0, S(12)));
        // The other target is untouched; unknown targets are never ejected.
        assert!(!p.is_ejected(1, S(2)));
        assert!(!p.is_ejected(9, S(2)));
        assert!(!p.record_failure(9, S(2)));
        assert_eq!(p.ejections(0), 1);
    }

    #[test]
    fn passive_success_resets_the_count() {
        let mut p = PassiveHealth::new(1, 3, S(10), S(300));
        assert!(!p.record_failure(0, S(0)));
        assert!(!p.record_failure(0, S(0)));
        p.record_success(0);
        assert!(!p.record_failure(0, S(0)));
        assert!(!p.record_failure(0, S(0)));
        assert!(!p.is_ejected(0, S(0)));
        assert!(p.record_failure(0, S(0)));
    }

    #[test]
    fn passive_back_off_doubles_caps_and_resets() {
        let mut p = PassiveHealth::new(1, 2, S(10), S(35));
        assert!(!p.record_failure(0, S(0)));
        assert!(p.record_failure(0, S(0)));
        // Failures of requests already in flight do not extend the ejection.
        assert!(!p.record_failure(0, S(5)));
        assert!(!p.is_ejected(0, S(10)));
        // On probation: the first failure re-ejects, for twice as long.
        assert!(p.record_failure(0, S(10)));
        assert!(p.is_ejected(0, S(29)));
        assert!(!p.is_ejected(0, S(30)));
        // 40 s is capped at 35 s.
        assert!(p.record_failure(0, S(30)));
        assert!(p.is_ejected(0, S(64)));
        assert!(!p.is_ejected(0, S(65)));
        assert!(p.record_failure(0, S(65)));
        assert!(!p.is_ejected(0, S(100)));
        assert_eq!(p.ejections(0), 4);
        // A success after the ejection resets the back-off and the probation.
        p.record_success(0);
        assert_eq!(p.ejections(0), 0);
        assert!(!p.record_failure(0, S(100)));
        assert!(p.record_failure(0, S(100)));
        assert!(p.is_ejected(0, S(109)));
        assert!(!p.is_ejected(0, S(110)));
    }

    #[test]
    fn passive_threshold_zero_is_off_and_huge_back_off_saturates() {
        let mut p = PassiveHealth::new(1, 0, S(10), S(30));
        for i in 0..10 {
            assert!(!p.record_failure(0, S(i)));
        }
        assert!(!p.is_ejected(0, S(5)));
        assert_eq!(backoff(S(1), Duration::MAX, 64), S(1 << 63));
        assert_eq!(backoff(S(1), Duration::MAX, 200), Duration::MAX);
        assert_eq!(backoff(S(50), S(30), 1), S(30));
        assert_eq!(backoff(S(1), S(30), 0), S(1));
        let mut p = PassiveHealth::new(1, 1, S(1), Duration::MAX);
        assert!(p.record_failure(0, Duration::MAX - S(1)));
        assert!(p.is_ejected(0, Duration::MAX - S(1)));
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503\r"), Some(503));
        assert_eq!(parse_status_line(b"HTTP/1.1 302"), Some(302));
        assert_eq!(parse_status_line(b"HTTP/2 200 OK\r"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20 OK\r"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 099 OK\r"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r"), None);
    }

    #[test]
    fn rejects_unsafe_path_or_host() {
        let group = |path: &str, host: Option<&str>| CheckedGroup {
            group: 0,
            targets: vec![],
            spec: HealthCheckSpec {
                path: path.into(),
                host: host.map(String::from),
                ..HealthCheckSpec::default()
            },
            tls: None,
            proxy_v2: false,
            initial: Vec::new(),
        };
        for g in [
            group("health", None),
            group("/a b", None),
            group("/a\r\nX: y", None),
            group("/", Some("a\r\nb")),
            group("/", Some("")),
        ] {
            let err = spawn_checker(vec![g], Box::new(|_| {})).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        // Nothing to check still runs (and stops).
        spawn_checker(
            vec![group("/ok?x=1", Some("example.com"))],
            Box::new(|_| {}),
        )
        .unwrap()
        .stop();
    }

    /// A test upstream answering every request with the status in `status` (0: close
    /// without answering), recording the last request head.
    struct TestServer {
        addr: SocketAddr,
        status: Arc<AtomicU16>,
        last: Arc<Mutex<String>>,
        done: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl TestServer {
        fn start(status: u16) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let status = Arc::new(AtomicU16::new(status));
            let last = Arc::new(Mutex::new(String::new()));
            let done = Arc::new(AtomicBool::new(false));
            let (st, la, dn) = (status.clone(), last.clone(), done.clone());
            let thread = std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if dn.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut conn) = conn else { continue };
                    conn.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    *la.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
                    let s = st.load(Ordering::SeqCst);
                    if s != 0 {
                        let resp = format!(
                            "HTTP/1.1 {s} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        );
                        let _ = conn.write_all(resp.as_bytes());
                    }
                }
            });
            TestServer {
                addr,
                status,
                last,
                done,
                thread: Some(thread),
            }
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.done.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn fast_spec() -> HealthCheckSpec {
        HealthCheckSpec {
            path: "/healthz".into(),
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(200),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            status_min: 200,
            status_max: 299,
            host: None,
        }
    }

    fn start(
        groups: Vec<CheckedGroup>,
    ) -> (CheckerHandle, crossbeam::channel::Receiver<HealthUpdate>) {
        let (tx, rx) = unbounded();
        let handle = spawn_checker(
            groups,
            Box::new(move |u| {
                let _ = tx.send(u);
            }),
        )
        .unwrap();
        (handle, rx)
    }

    /// A reload's checker starts from the state the previous one found: a target that
    /// starts unhealthy and fails stays out without a word, one that starts unhealthy and
    /// passes comes back after `healthy_threshold` checks.
    #[test]
    fn checker_starts_from_the_initial_state() {
        let good = TestServer::start(200);
        let bad = TestServer::start(503);
        let (handle, rx) = start(vec![CheckedGroup {
            group: 3,
            targets: vec![good.addr, bad.addr],
            spec: fast_spec(),
            tls: None,
            proxy_v2: false,
            initial: vec![false, false],
        }]);
        let u = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 3,
                target: 0,
                healthy: true
            }
        );
        // The bad one was already down: no transition to announce.
        std::thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err());
        handle.stop();
    }

    #[test]
    fn checker_marks_bad_targets_and_recovers() {
        let good = TestServer::start(200);
        let bad = TestServer::start(503);
        let closing = TestServer::start(0);
        // Accepts (kernel backlog) but never answers: the probe times out.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let targets = vec![
            good.addr,
            bad.addr,
            closing.addr,
            silent.local_addr().unwrap(),
        ];
        let (handle, rx) = start(vec![CheckedGroup {
            group: 7,
            targets,
            spec: fast_spec(),
            tls: None,
            proxy_v2: false,
            initial: Vec::new(),
        }]);
        let began = Instant::now();
        let mut down = Vec::new();
        while down.len() < 3 {
            let u = rx.recv_timeout(Duration::from_secs(2)).unwrap();
            assert_eq!(u.group, 7);
            assert!(!u.healthy, "{u:?}");
            down.push(u.target);
        }
        down.sort_unstable();
        assert_eq!(down, vec![1, 2, 3]);
        assert!(began.elapsed() < Duration::from_millis(1500));
        let head = good.last.lock().unwrap().clone();
        assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\nHost: {}\r\n", good.addr)),
            "{head}"
        );
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        assert!(
            head.contains("\r\nUser-Agent: tollgate-health-check\r\n"),
            "{head}"
        );

        // The bad one recovers.
        bad.status.store(200, Ordering::SeqCst);
        let u = rx.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 7,
                target: 1,
                healthy: true
            }
        );
        // Nothing else moved: no noise for the good one, the others stay down.
        std::thread::sleep(Duration::from_millis(200));
        assert!(rx.try_recv().is_err());

        // Stop is prompt even with a probe of `silent` in flight.
        let t = Instant::now();
        handle.stop();
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(120));
        assert!(rx.try_recv().is_err());
        drop(silent);
    }

    #[test]
    fn checker_uses_host_and_status_range_and_drop_stops() {
        let redirect = TestServer::start(302);
        let mut s = fast_spec();
        s.host = Some("api.internal".into());
        s.status_max = 399;
        // A closed port: connection refused.
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (handle, rx) = start(vec![CheckedGroup {
            group: 1,
            targets: vec![refused, redirect.addr],
            spec: s,
            tls: None,
            proxy_v2: false,
            initial: Vec::new(),
        }]);
        let u = rx.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 1,
                target: 0,
                healthy: false
            }
        );
        std::thread::sleep(Duration::from_millis(150));
        assert!(rx.try_recv().is_err(), "302 is within 200..=399");
        let head = redirect.last.lock().unwrap().clone();
        assert!(head.contains("\r\nHost: api.internal\r\n"), "{head}");
        let t = Instant::now();
        drop(handle);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    /// TLS checks against a rustls server with a CA and leaf made by the `openssl` tool
    /// (required: the test fails when it is missing).
    #[test]
    fn checker_over_tls() {
        let (ca, cert, key) = make_certs().expect("make the test certificates with openssl");
        let server_cfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let st = status.clone();
        let done = Arc::new(AtomicBool::new(false));
        let dn = done.clone();
        let server = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if dn.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(sock) = conn else { continue };
                sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                let tls = rustls::ServerConnection::new(server_cfg.clone()).unwrap();
                let mut s = rustls::StreamOwned::new(tls, sock);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let code = st.load(Ordering::SeqCst);
                let resp = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                let _ = s.write_all(resp.as_bytes());
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        });

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let client_cfg = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        );
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let wrong = rustls::pki_types::ServerName::try_from("other.example").unwrap();
        let mk = |group: usize, name: rustls::pki_types::ServerName<'static>| CheckedGroup {
            group,
            targets: vec![addr],
            spec: fast_spec(),
            tls: Some((client_cfg.clone(), name)),
            proxy_v2: false,
            initial: Vec::new(),
        };
        // Group 0 verifies; group 1 expects another name, so its handshake fails.
        let (handle, rx) = start(vec![mk(0, name), mk(1, wrong)]);
        let u = rx.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 1,
                target: 0,
                healthy: false
            }
        );
        status.store(500, Ordering::SeqCst);
        let u = rx.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 0,
                target: 0,
                healthy: false
            }
        );
        status.store(204, Ordering::SeqCst);
        let u = rx.recv_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!(
            u,
            HealthUpdate {
                group: 0,
                target: 0,
                healthy: true
            }
        );
        handle.stop();
        done.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(addr);
        server.join().unwrap();
    }

    fn make_certs() -> Option<(
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::CertificateDer<'static>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )> {
        use std::process::Command;
        let dir = std::env::temp_dir().join(format!("tollgate-health-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
        // A missing `openssl` fails the test (`make test-deps` installs it); never a skip.
        let run = |args: &[&str]| -> Option<()> {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "this test needs the `openssl` CLI, which cannot be run ({e}); install \
                         it (`make test-deps`, or apt-get install openssl)"
                    )
                });
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(())
        };
        std::fs::write(
            d("ext.cnf"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost\n",
        )
        .ok()?;
        let made = (|| {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &d("ca.key"),
                "-out",
                &d("ca.pem"),
                "-days",
                "2",
                "-subj",
                "/CN=tollgate test CA",
            ])?;
            run(&[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &d("leaf.key"),
                "-out",
                &d("leaf.csr"),
                "-subj",
                "/CN=localhost",
            ])?;
            run(&[
                "x509",
                "-req",
                "-in",
                &d("leaf.csr"),
                "-CA",
                &d("ca.pem"),
                "-CAkey",
                &d("ca.key"),
                "-CAcreateserial",
                "-out",
                &d("leaf.pem"),
                "-days",
                "2",
                "-extfile",
                &d("ext.cnf"),
            ])?;
            let read_cert = |f: &str| {
                let pem = std::fs::read(d(f)).ok()?;
                let cert = rustls_pemfile::certs(&mut &pem[..]).next()?.ok();
                cert
            };
            let key_pem = std::fs::read(d("leaf.key")).ok()?;
            let key = rustls_pemfile::private_key(&mut &key_pem[..]).ok()??;
            Some((read_cert("ca.pem")?, read_cert("leaf.pem")?, key))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        made
    }
}
