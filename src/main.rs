//! The `tollgate` command: `run`, `check`, `demo-upstream`, `load`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod tools;

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const USAGE: &str = "usage:
  tollgate run --config FILE [--workers N] [--pid-file F]
                                             start the gateway
  tollgate check FILE                        validate a configuration file and exit
  tollgate usage --state-file F [--json]     quota use per usage plan and API key (GetUsage)
  tollgate reload (--pid PID | --pid-file F) re-read the configuration and certificates of a
                                             running gateway (the same as sending it SIGHUP)
  tollgate flush-stage-cache --admin ADDR --api ID --stage NAME
                                             flush a stage's cache through the admin listener
  tollgate demo-upstream [--bind ADDR] [--threads N]
                                             start the echo upstream used by the examples
  tollgate load URL [--connections N] [--duration 10s | --requests N] [--rate R] ...
                                             generate HTTP load (tollgate load --help)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("check") => check(&args[1..]),
        Some("reload") => reload(&args[1..]),
        Some("usage") => usage(&args[1..]),
        Some("flush-stage-cache") => flush_stage_cache(&args[1..]),
        Some("demo-upstream") => demo_upstream(&args[1..]),
        Some("load") => tools::load::main(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The value after `--name` (or `--name=value`).
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == name {
            return it.next().map(String::as_str);
        }
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
    }
    None
}

fn parse_count(args: &[String], name: &str) -> Result<Option<usize>, String> {
    match flag(args, name) {
        None => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!(
                "{name} must be a positive integer, got '{}'",
                tollgate::config::validate::clip_quoted(&format!("`{v}`")).trim_matches('`')
            )),
        },
    }
}

fn run(args: &[String]) -> ExitCode {
    let Some(path) = flag(args, "--config") else {
        eprintln!("tollgate run: --config FILE is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let workers = match parse_count(args, "--workers") {
        Ok(Some(n)) if n > tollgate::config::bounded::max_workers() => {
            eprintln!(
                "tollgate run: --workers {}",
                tollgate::config::validate::workers_too_many(
                    n as u64,
                    tollgate::config::bounded::max_workers()
                )
            );
            return ExitCode::from(2);
        }
        Ok(w) => w,
        Err(e) => {
            eprintln!("tollgate run: {e}");
            return ExitCode::from(2);
        }
    };
    let snapshot = match tollgate::config::load(&PathBuf::from(path)) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "tollgate: configuration refused ({} error(s))",
                errors.0.len()
            );
            return ExitCode::from(1);
        }
    };
    if let Some(pid_file) = flag(args, "--pid-file") {
        if let Err(e) = std::fs::write(pid_file, format!("{}\n", std::process::id())) {
            eprintln!("tollgate run: cannot write --pid-file {pid_file}: {e}");
            return ExitCode::from(1);
        }
    }
    match tollgate::runtime::supervisor::run(Arc::new(snapshot), workers) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tollgate: {e}");
            tollgate::observe::log::flush();
            ExitCode::from(1)
        }
    }
}

fn flush_stage_cache(args: &[String]) -> ExitCode {
    let (Some(admin), Some(api), Some(stage)) = (
        flag(args, "--admin"),
        flag(args, "--api"),
        flag(args, "--stage"),
    ) else {
        eprintln!("tollgate flush-stage-cache: --admin, --api and --stage are required\n{USAGE}");
        return ExitCode::from(2);
    };
    match tollgate::runtime::admin::flush_stage_cache(admin, api, stage) {
        Ok(()) => {
            println!("flushed the cache of stage {api}/{stage}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate flush-stage-cache: {e}");
            ExitCode::from(1)
        }
    }
}

fn usage(args: &[String]) -> ExitCode {
    let Some(path) = flag(args, "--state-file") else {
        eprintln!("tollgate usage: --state-file FILE is required (server.state_file of the configuration)\n{USAGE}");
        return ExitCode::from(2);
    };
    let json = args.iter().any(|a| a == "--json");
    match tollgate::limits::quota::usage_report(std::path::Path::new(path), json) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate usage: {e}");
            ExitCode::from(1)
        }
    }
}

fn reload(args: &[String]) -> ExitCode {
    let pid = match (flag(args, "--pid"), flag(args, "--pid-file")) {
        (Some(p), _) => p.trim().to_owned(),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => s.trim().to_owned(),
            Err(e) => {
                eprintln!("tollgate reload: cannot read {f}: {e}");
                return ExitCode::from(1);
            }
        },
        (None, None) => {
            eprintln!("tollgate reload: --pid PID or --pid-file FILE is required\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Ok(pid) = pid.parse::<i32>() else {
        eprintln!("tollgate reload: `{pid}` is not a process id");
        return ExitCode::from(2);
    };
    // SAFETY: kill(2) with a plain pid and signal number; no memory is involved.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        eprintln!(
            "tollgate reload: cannot signal process {pid}: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(1);
    }
    println!("tollgate reload: asked process {pid} to reload; its log says whether the new configuration was taken");
    ExitCode::SUCCESS
}

fn check(args: &[String]) -> ExitCode {
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("tollgate check: FILE is required\n{USAGE}");
        return ExitCode::from(2);
    };
    match tollgate::config::load(&PathBuf::from(path)) {
        Ok(s) => {
            let routes: usize = s
                .apis
                .iter()
                .flat_map(|a| a.stages.values())
                .map(|st| st.deployment.router.len())
                .sum();
            // Written without println!: a closed pipe (`check FILE | head`) must not turn
            // the verdict into a panic's exit code.
            let _ = writeln!(
                std::io::stdout(),
                "{path}: OK ({} listener(s), {} API(s), {} stage route(s))",
                s.listeners.len(),
                s.apis.len(),
                routes
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let _ = writeln!(std::io::stderr(), "{errors}");
            ExitCode::from(1)
        }
    }
}

fn demo_upstream(args: &[String]) -> ExitCode {
    let bind = flag(args, "--bind").unwrap_or("127.0.0.1:9090");
    let Ok(addr) = bind.parse() else {
        eprintln!(
            "tollgate demo-upstream: --bind must be an address like 127.0.0.1:9090, got '{bind}'"
        );
        return ExitCode::from(2);
    };
    let threads = match parse_count(args, "--threads") {
        Ok(t) => t.unwrap_or(1),
        Err(e) => {
            eprintln!("tollgate demo-upstream: {e}");
            return ExitCode::from(2);
        }
    };
    match tools::demo_upstream::run(addr, threads) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate demo-upstream: {e}");
            ExitCode::from(1)
        }
    }
}
