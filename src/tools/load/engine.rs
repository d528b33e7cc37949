//! The load threads: one monoio runtime each, driving its share of the connections.
//!
//! Each connection is a task with its own request bytes (built once), its own read buffer
//! (`MAX_HEAD` bytes, never grown) and its own response parser; the request loop allocates
//! nothing. Counts go to the thread's `Stats` (single-threaded, `RefCell`) and, for the
//! progress line, to the thread's own `Live` atomics (plain stores, no contention).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::response::{ParseError, ResponseParser, MAX_HEAD};
use super::schedule::{latency_origin, Schedule};
use super::sigv4::{unix_second, RequestSigner};
use super::stats::{Failure, Stats};
use super::stream::{Connector, Stream};

/// Everything the threads share (read-only).
pub struct Plan {
    pub connector: Connector,
    /// The request bytes; each connection copies them once.
    pub request: Vec<u8>,
    pub head_request: bool,
    pub connections: usize,
    /// Open loop at this total rate.
    pub rate: Option<f64>,
    pub new_connection: bool,
    pub timeout: Duration,
    /// Start of the run (the warm-up begins here).
    pub start: Instant,
    /// The wall clock at `start` (signing dates).
    pub wall_start: SystemTime,
    /// `--sigv4`: the options each thread's [`RequestSigner`] signs the request from.
    pub sigv4: Option<super::options::Options>,
    /// Requests sent (intended, for the open loop) from here on are measured (ns from
    /// `start`).
    pub measure_ns: u64,
    /// Nothing is sent from here on, and requests in flight are abandoned (ns from
    /// `start`); `None` with `--requests`.
    pub end_ns: Option<u64>,
}

/// Counters the progress line reads while the run goes on.
#[derive(Default)]
pub struct Live {
    /// Responses, warm-up included.
    pub responses: AtomicU64,
    /// Measured responses.
    pub measured: AtomicU64,
    /// Failed requests, warm-up included.
    pub errors: AtomicU64,
}

/// One thread's share of the run.
pub struct Job {
    /// Global indices of its connections (they place each one on the open-loop schedule).
    pub connections: Range<usize>,
    /// With `--requests`: how many measured requests this thread sends.
    pub tickets: Option<u64>,
    pub cpu: Option<usize>,
    pub live: Arc<crossbeam::utils::CachePadded<Live>>,
}

struct Ctx {
    plan: Arc<Plan>,
    live: Arc<crossbeam::utils::CachePadded<Live>>,
    stats: RefCell<Stats>,
    tickets: Cell<Option<u64>>,
    responses: Cell<u64>,
    errors: Cell<u64>,
    /// `--sigv4`: the thread's signer (one signature per second, shared by its connections).
    signer: Option<RefCell<RequestSigner>>,
}

impl Ctx {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.plan.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn at(&self, ns: u64) -> monoio::time::Instant {
        monoio::time::Instant::from_std(self.plan.start + Duration::from_nanos(ns))
    }

    /// Take one measured request from the thread's budget; false when it is spent.
    fn take_ticket(&self) -> bool {
        match self.tickets.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                self.tickets.set(Some(n - 1));
                true
            }
        }
    }
}

/// Run one thread's connections to the end; returns what they counted.
pub fn run_thread(plan: Arc<Plan>, job: Job) -> std::io::Result<Stats> {
    if let Some(cpu) = job.cpu {
        if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
            eprintln!("tollgate load: could not pin a thread to cpu {cpu}: {e}");
        }
    }
    let per_thread = job.connections.len() as u32;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(per_thread.saturating_mul(4).clamp(1024, 32768))
        .build()?;
    rt.block_on(async move {
        let ctx = Rc::new(Ctx {
            plan: plan.clone(),
            live: job.live,
            stats: RefCell::new(Stats::new()),
            tickets: Cell::new(job.tickets),
            responses: Cell::new(0),
            errors: Cell::new(0),
            signer: plan
                .sigv4
                .as_ref()
                .and_then(RequestSigner::new)
                .map(RefCell::new),
        });
        let mut tasks = Vec::with_capacity(job.connections.len());
        for index in job.connections {
            let ctx = ctx.clone();
            tasks.push(monoio::spawn(async move {
                let end = ctx.plan.end_ns.map(|e| ctx.at(e));
                let run = connection(ctx.clone(), index);
                match end {
                    Some(end) => {
                        let _ = monoio::time::timeout_at(end, run).await;
                    }
                    None => run.await,
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        let stats = ctx.stats.replace(Stats::new());
        Ok(stats)
    })
}

/// One connection's request loop.
async fn connection(ctx: Rc<Ctx>, index: usize) {
    let plan = ctx.plan.clone();
    let mut request = plan.request.clone();
    let mut rbuf: Vec<u8> = Vec::with_capacity(MAX_HEAD);
    let mut parser = ResponseParser::new(plan.head_request);
    let mut stream: Option<Stream> = None;
    let mut schedule = plan.rate.map(|r| Schedule::new(r, plan.connections, index));
    // When the previous exchange ended (ns from start).
    let mut ready = 0u64;
    // `--sigv4`: the second `request` is signed for.
    let mut signed_second: Option<i64> = None;
    if schedule.is_none() {
        monoio::time::sleep_until(ctx.at(0)).await;
    }
    loop {
        // When to send, and whether it counts.
        let intended = match schedule.as_mut() {
            Some(s) => {
                let t = s.next_intended();
                if plan.end_ns.is_some_and(|e| t >= e) {
                    break;
                }
                if ctx.now_ns() < t {
                    monoio::time::sleep_until(ctx.at(t)).await;
                }
                Some(t)
            }
            None => None,
        };
        let sent = ctx.now_ns();
        if plan.end_ns.is_some_and(|e| sent >= e) {
            break;
        }
        let measured = intended.unwrap_or(sent) >= plan.measure_ns;
        if measured && !ctx.take_ticket() {
            break;
        }

        if let Some(signer) = &ctx.signer {
            // A new second: the thread's request signed for it (same length, no allocation).
            let second = unix_second(plan.wall_start, sent);
            if signed_second != Some(second) {
                let mut signer = signer.borrow_mut();
                request.clear();
                request.extend_from_slice(signer.request_at(second));
                signed_second = Some(second);
            }
        }

        let mut received = 0u64;
        let outcome = monoio::time::timeout(
            plan.timeout,
            exchange(
                &plan,
                &mut stream,
                &mut request,
                &mut rbuf,
                &mut parser,
                &mut received,
            ),
        )
        .await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(_) => Err(Failed(Failure::Timeout, Detail::Timeout)),
        };
        let done = ctx.now_ns();
        if outcome.is_err() {
            // Whatever state the connection is in, it is not reusable. A timeout drops the
            // exchange while a buffer is lent to the I/O operation: get it back.
            stream = None;
            rbuf.clear();
            if rbuf.capacity() < MAX_HEAD {
                rbuf = Vec::with_capacity(MAX_HEAD);
            }
            if request.len() != plan.request.len() {
                request = plan.request.clone();
                signed_second = None;
            }
        }

        {
            let mut st = ctx.stats.borrow_mut();
            match outcome {
                Ok(status) => {
                    ctx.responses.set(ctx.responses.get() + 1);
                    ctx.live
                        .responses
                        .store(ctx.responses.get(), Ordering::Relaxed);
                    if measured {
                        st.requests += 1;
                        st.bytes += received;
                        st.record_status(status);
                        let origin = match intended {
                            Some(t) => latency_origin(t, ready, sent),
                            None => sent,
                        };
                        st.latency.record(done.saturating_sub(origin));
                        st.last_done_ns = st.last_done_ns.max(done);
                        ctx.live.measured.store(st.requests, Ordering::Relaxed);
                    } else {
                        st.warmup_requests += 1;
                    }
                }
                Err(Failed(f, detail)) => {
                    ctx.errors.set(ctx.errors.get() + 1);
                    ctx.live.errors.store(ctx.errors.get(), Ordering::Relaxed);
                    // The first error of each kind is kept as an example (warm-up included).
                    let sample = &mut st.samples[f as usize];
                    if sample.is_none() {
                        *sample = Some(detail.to_string());
                    }
                    if measured {
                        st.errors.add(f);
                        st.bytes += received;
                        st.last_done_ns = st.last_done_ns.max(done);
                    }
                }
            }
            if let (Some(t), true) = (intended, measured) {
                st.lateness.record(t, sent);
            }
        }
        ready = done;
    }
}

/// A failed exchange: its kind and what happened (formatted only for the first of a kind).
struct Failed(Failure, Detail);

enum Detail {
    Io(std::io::Error),
    Parse(ParseError),
    Timeout,
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::Io(e) => write!(f, "{e}"),
            Detail::Parse(e) => write!(f, "{e}"),
            Detail::Timeout => f.write_str("no complete response within the timeout"),
        }
    }
}

fn io_failure(kind: Failure) -> impl FnOnce(std::io::Error) -> Failed {
    move |e| Failed(kind, Detail::Io(e))
}

/// Send the request and read the whole response. Returns the status code; `received`
/// counts the bytes read.
async fn exchange(
    plan: &Plan,
    stream: &mut Option<Stream>,
    request: &mut Vec<u8>,
    rbuf: &mut Vec<u8>,
    parser: &mut ResponseParser,
    received: &mut u64,
) -> Result<u16, Failed> {
    let s = match stream {
        Some(s) => s,
        None => {
            rbuf.clear();
            let s = plan
                .connector
                .connect()
                .await
                .map_err(io_failure(Failure::Connect))?;
            stream.insert(s)
        }
    };
    let (res, buf) = s.write_all(std::mem::take(request)).await;
    *request = buf;
    res.map_err(io_failure(Failure::Write))?;

    parser.reset();
    loop {
        if !rbuf.is_empty() {
            let p = parser.feed(rbuf).map_err(parse_failure)?;
            drop_front(rbuf, p.consumed);
            if p.done {
                break;
            }
        }
        let (res, buf) = s.read_append(std::mem::take(rbuf)).await;
        *rbuf = buf;
        match res {
            Ok(0) => {
                parser.eof().map_err(parse_failure)?;
                *stream = None;
                return Ok(parser.status());
            }
            Ok(n) => *received += n as u64,
            Err(e) => return Err(Failed(Failure::Read, Detail::Io(e))),
        }
    }
    if plan.new_connection || !parser.keep_alive() {
        // Dropping the stream closes it.
        *stream = None;
        rbuf.clear();
    }
    Ok(parser.status())
}

fn parse_failure(e: ParseError) -> Failed {
    let kind = match e {
        ParseError::Truncated => Failure::Read,
        _ => Failure::Parse,
    };
    Failed(kind, Detail::Parse(e))
}

/// Remove the first `n` bytes of `buf` (usually all of it: then nothing moves).
fn drop_front(buf: &mut Vec<u8>, n: usize) {
    if n >= buf.len() {
        buf.clear();
    } else if n > 0 {
        buf.copy_within(n.., 0);
        buf.truncate(buf.len() - n);
    }
}

/// Where the connections of each thread go: contiguous ranges, as even as possible.
pub fn split_connections(connections: usize, threads: usize) -> Vec<Range<usize>> {
    let threads = threads.clamp(1, connections.max(1));
    let base = connections / threads;
    let extra = connections % threads;
    let mut out = Vec::with_capacity(threads);
    let mut start = 0;
    for t in 0..threads {
        let n = base + usize::from(t < extra);
        out.push(start..start + n);
        start += n;
    }
    out
}

/// How many of `total` requests a thread with `mine` of `all` connections sends (the
/// shares add up to `total` exactly).
pub fn split_requests(total: u64, ranges: &[Range<usize>]) -> Vec<u64> {
    let all: u64 = ranges.iter().map(|r| r.len() as u64).sum::<u64>().max(1);
    let mut out = Vec::with_capacity(ranges.len());
    let mut given = 0u64;
    let mut conns_so_far = 0u64;
    for r in ranges {
        conns_so_far += r.len() as u64;
        // Cumulative rounding: shares differ by at most one and sum to `total`.
        let upto = (u128::from(total) * u128::from(conns_so_far) / u128::from(all)) as u64;
        out.push(upto - given);
        given = upto;
    }
    out
}

/// The target address (the first the name resolves to).
pub fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_split_evenly() {
        assert_eq!(split_connections(64, 1), vec![0..64]);
        assert_eq!(split_connections(5, 2), vec![0..3, 3..5]);
        assert_eq!(split_connections(2, 4), vec![0..1, 1..2]);
    }

    #[test]
    fn requests_are_split_exactly() {
        let r = split_connections(5, 2);
        assert_eq!(split_requests(200, &r), vec![120, 80]);
        let r = split_connections(3, 3);
        let s = split_requests(100, &r);
        assert_eq!(s.iter().sum::<u64>(), 100);
        assert!(s.iter().all(|&n| n == 33 || n == 34));
        assert_eq!(
            split_requests(1, &split_connections(4, 4))
                .iter()
                .sum::<u64>(),
            1
        );
    }

    #[test]
    fn drop_front_keeps_the_rest() {
        let mut b = b"abcdef".to_vec();
        drop_front(&mut b, 2);
        assert_eq!(b, b"cdef");
        drop_front(&mut b, 0);
        assert_eq!(b, b"cdef");
        drop_front(&mut b, 10);
        assert!(b.is_empty());
    }
}
