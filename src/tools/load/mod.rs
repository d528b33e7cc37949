//! `tollgate load`: the bundled HTTP/1.1 load generator, on the same monoio thread-per-core
//! runtime as the gateway.
//!
//! - `options`: the command line (`clap`), the target URL, and the request bytes (built once).
//! - `engine`: the load threads (one monoio runtime each, optionally pinned) and the
//!   per-connection request loop: closed loop (send, wait for the response, send again) or
//!   open loop (wrk2-style schedule, latency from the intended send time).
//! - `schedule`: open-loop send times and lateness accounting (pure arithmetic).
//! - `response`: incremental response parsing (the head by the library's upstream response
//!   parser; Content-Length, chunked or close-delimited body skipped without copying).
//! - `histogram`: the latency histogram, `hdrhistogram` (1/1024 precision, 1 µs .. 1 h) with
//!   exact min, max and mean, merged across threads.
//! - `stats`, `report`: counts, the final report (text or `--json`) and the progress line.
//! - `stream`: the connection type the request loop uses (plain TCP, or TLS through
//!   `transport::tls_io::TlsStream`).
//!
//! Exit status: 0 when the run got at least one response, 1 when it got none (or the
//! target cannot be resolved), 2 for bad arguments.

pub mod engine;
pub mod histogram;
pub mod options;
pub mod report;
pub mod response;
pub mod schedule;
pub mod sigv4;
pub mod stats;
pub mod stream;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Job, Live, Plan};
use options::{Options, Stop};
use stats::Stats;
use stream::Connector;

/// Entry point of `tollgate load`, with its arguments as `clap` read them.
pub fn main(args: options::LoadArgs) -> ExitCode {
    let opts = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tollgate load: {e}\n(tollgate load --help lists the options)");
            return ExitCode::from(2);
        }
    };
    let addr = match engine::resolve(&opts.target.host, opts.target.port) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tollgate load: cannot resolve {}: {e}", opts.target.host);
            return ExitCode::from(1);
        }
    };
    let tls = if opts.target.https {
        match tls_setup(&opts) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("tollgate load: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let connector = Connector { addr, tls };
    match run(&opts, connector) {
        Ok((stats, duration_s)) => {
            let report = report::Report::new(&opts, &stats, duration_s);
            let out = if opts.json {
                report.to_json() + "\n"
            } else {
                report.to_text(&opts)
            };
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            if stats.requests + stats.warmup_requests == 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tollgate load: {e}");
            ExitCode::from(1)
        }
    }
}

/// TLS client settings for an https target: the CA bundle from `--cacert`, no verification
/// with `--insecure`, otherwise the system's CA bundle (a well-known path; there is no
/// built-in root store).
fn tls_setup(opts: &Options) -> Result<stream::TlsSetup, String> {
    use tollgate::transport::tls_io;
    let config = if opts.insecure {
        tls_io::insecure_client_config().map_err(|e| format!("TLS setup: {e}"))?
    } else {
        let path = match &opts.cacert {
            Some(p) => p.clone(),
            None => SYSTEM_CA_BUNDLES
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
                .ok_or("https: no system CA bundle found; use --cacert FILE or --insecure")?,
        };
        let pem = std::fs::read(&path)
            .map_err(|e| format!("--cacert: cannot read {}: {e}", path.display()))?;
        tls_io::client_config_from_ca_pem(&pem)
            .map_err(|e| format!("--cacert {}: {e}", path.display()))?
    };
    let config = if opts.no_resume {
        let mut c = (*config).clone();
        c.resumption = rustls::client::Resumption::disabled();
        std::sync::Arc::new(c)
    } else {
        config
    };
    let server_name = rustls::pki_types::ServerName::try_from(opts.target.host.clone())
        .map_err(|e| format!("'{}' is not a TLS server name: {e}", opts.target.host))?;
    Ok(stream::TlsSetup {
        config,
        server_name,
    })
}

/// Where Linux distributions keep the CA bundle.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Run the load; returns the merged counts and the measured duration in seconds.
pub fn run(opts: &Options, connector: Connector) -> std::io::Result<(Stats, f64)> {
    let ranges = engine::split_connections(opts.connections, opts.threads);
    let tickets: Vec<Option<u64>> = match opts.stop {
        Stop::Requests(n) => engine::split_requests(n, &ranges)
            .into_iter()
            .map(Some)
            .collect(),
        Stop::Duration(_) => vec![None; ranges.len()],
    };
    let measure_ns = duration_ns(opts.warmup);
    let end_ns = match opts.stop {
        Stop::Duration(d) => Some(measure_ns.saturating_add(duration_ns(d))),
        Stop::Requests(_) => None,
    };
    // A short lead so every thread has built its runtime before the start.
    let lead = Duration::from_millis(20);
    let (start, wall_start) = (Instant::now() + lead, std::time::SystemTime::now() + lead);
    let plan = Arc::new(Plan {
        connector,
        request: options::build_request(opts),
        head_request: opts.method == "HEAD",
        connections: opts.connections,
        rate: opts.rate,
        new_connection: opts.new_connection,
        timeout: opts.timeout,
        start,
        wall_start,
        sigv4: opts.sigv4.is_some().then(|| opts.clone()),
        measure_ns,
        end_ns,
    });

    let mut lives = Vec::new();
    let mut handles = Vec::new();
    for (i, (range, tickets)) in ranges.into_iter().zip(tickets).enumerate() {
        let live = Arc::new(crossbeam::utils::CachePadded::new(Live::default()));
        lives.push(live.clone());
        let job = Job {
            connections: range,
            tickets,
            cpu: (!opts.cpus.is_empty()).then(|| opts.cpus[i % opts.cpus.len()]),
            live,
        };
        let plan = plan.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("tollgate-load-{i}"))
                .spawn(move || engine::run_thread(plan, job))?,
        );
    }

    progress(opts, start, measure_ns, &lives, &handles);

    let mut total = Stats::new();
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => total.merge(&s),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("a load thread panicked")),
        }
    }
    let duration_s = match end_ns {
        Some(end) => (end - measure_ns) as f64 / 1e9,
        None => total.last_done_ns.saturating_sub(measure_ns) as f64 / 1e9,
    };
    Ok((total, duration_s))
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Print the progress line once a second until every thread has finished.
fn progress(
    opts: &Options,
    start: Instant,
    measure_ns: u64,
    lives: &[Arc<crossbeam::utils::CachePadded<Live>>],
    handles: &[std::thread::JoinHandle<std::io::Result<Stats>>],
) {
    use std::sync::atomic::Ordering::Relaxed;
    let tty = std::io::stderr().is_terminal();
    let mut next = start + Duration::from_secs(1);
    let mut last_responses = 0u64;
    let mut last_at = start;
    let mut printed = false;
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if opts.quiet || now < next {
            continue;
        }
        next += Duration::from_secs(1);
        let responses: u64 = lives.iter().map(|l| l.responses.load(Relaxed)).sum();
        let measured: u64 = lives.iter().map(|l| l.measured.load(Relaxed)).sum();
        let errors: u64 = lives.iter().map(|l| l.errors.load(Relaxed)).sum();
        let dt = now.duration_since(last_at).as_secs_f64();
        let rate = if dt > 0.0 {
            responses.saturating_sub(last_responses) as f64 / dt
        } else {
            0.0
        };
        last_responses = responses;
        last_at = now;
        let elapsed = now.saturating_duration_since(start);
        let line = report::progress_line(
            elapsed.as_secs_f64(),
            duration_ns(elapsed) < measure_ns,
            measured,
            rate,
            errors,
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        printed = true;
    }
    if tty && printed {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err);
    }
}
