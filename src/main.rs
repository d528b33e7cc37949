//! The `tollgate` command: `run`, `check`, `demo-upstream`, `load`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod tools;

use clap::{Args, Parser, Subcommand};

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Self-hosted API gateway (the Amazon API Gateway data plane) on monoio.
#[derive(Parser)]
#[command(name = "tollgate", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// start the gateway
    Run {
        /// the configuration file
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// worker threads [default: server.workers of the configuration, else one per core]
        #[arg(long, value_name = "N", value_parser = positive)]
        workers: Option<usize>,
        /// write the process id to F (for `tollgate reload --pid-file F`)
        #[arg(long, value_name = "F")]
        pid_file: Option<PathBuf>,
    },
    /// validate a configuration file and exit
    Check {
        /// the configuration file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// quota use per usage plan and API key (GetUsage)
    Usage {
        /// the quota state file (server.state_file of the configuration)
        #[arg(long, value_name = "F")]
        state_file: PathBuf,
        /// one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// re-read the configuration and certificates of a running gateway (the same as sending
    /// it SIGHUP)
    Reload {
        #[command(flatten)]
        target: ReloadTarget,
    },
    /// flush a stage's cache through the admin listener
    FlushStageCache {
        /// the admin listener's address
        #[arg(long, value_name = "ADDR")]
        admin: String,
        /// the API id
        #[arg(long, value_name = "ID")]
        api: String,
        /// the stage name
        #[arg(long, value_name = "NAME")]
        stage: String,
    },
    /// start the echo upstream used by the examples
    DemoUpstream {
        /// the address to listen on (port 0: any free port)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090", value_parser = socket_addr)]
        bind: SocketAddr,
        /// server threads
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = positive)]
        threads: usize,
    },
    /// generate HTTP load: closed or open loop, HTTP/1.1 over TCP or TLS
    Load(tools::load::options::LoadArgs),
    /// mint development tokens for JWT / Cognito authorizers (and print their JWKS)
    #[command(subcommand)]
    Jwt(tools::jwt::JwtCommand),
}

/// The gateway `tollgate reload` signals: one of --pid and --pid-file.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct ReloadTarget {
    /// the gateway's process id
    #[arg(long, value_name = "PID", value_parser = process_id)]
    pid: Option<i32>,
    /// the file `tollgate run --pid-file` wrote
    #[arg(long, value_name = "F")]
    pid_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Bad arguments: clap prints what is wrong and exits with status 2; --help and
    // --version print to stdout and exit 0.
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            workers,
            pid_file,
        } => run(&config, workers, pid_file.as_deref()),
        Command::Check { file } => check(&file),
        Command::Usage { state_file, json } => usage(&state_file, json),
        Command::Reload { target } => reload(target),
        Command::FlushStageCache { admin, api, stage } => flush_stage_cache(&admin, &api, &stage),
        Command::DemoUpstream { bind, threads } => demo_upstream(bind, threads),
        Command::Load(args) => tools::load::main(args),
        Command::Jwt(cmd) => tools::jwt::main(cmd),
    }
}

fn positive(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("must be a positive integer".into()),
    }
}

fn socket_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| "must be an address like 127.0.0.1:9090".into())
}

/// A process id: a positive integer (0 and negative numbers would signal process groups).
fn process_id(value: &str) -> Result<i32, String> {
    match value.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!("`{}` is not a process id", value.trim())),
    }
}

fn run(path: &Path, workers: Option<usize>, pid_file: Option<&Path>) -> ExitCode {
    if let Some(n) = workers {
        if n > tollgate::config::bounded::max_workers() {
            eprintln!(
                "tollgate run: --workers {}",
                tollgate::config::validate::workers_too_many(
                    n as u64,
                    tollgate::config::bounded::max_workers()
                )
            );
            return ExitCode::from(2);
        }
    }
    let snapshot = match tollgate::config::load(path) {
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
    if let Some(pid_file) = pid_file {
        if let Err(e) = std::fs::write(pid_file, format!("{}\n", std::process::id())) {
            eprintln!(
                "tollgate run: cannot write --pid-file {}: {e}",
                pid_file.display()
            );
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

fn flush_stage_cache(admin: &str, api: &str, stage: &str) -> ExitCode {
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

fn usage(path: &Path, json: bool) -> ExitCode {
    match tollgate::limits::quota::usage_report(path, json) {
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

fn reload(target: ReloadTarget) -> ExitCode {
    let pid = match (target.pid, target.pid_file) {
        (Some(pid), _) => pid,
        (None, Some(f)) => {
            let text = match std::fs::read_to_string(&f) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("tollgate reload: cannot read {}: {e}", f.display());
                    return ExitCode::from(1);
                }
            };
            match process_id(&text) {
                Ok(pid) => pid,
                Err(e) => {
                    eprintln!("tollgate reload: {}: {e}", f.display());
                    return ExitCode::from(2);
                }
            }
        }
        // clap requires one of the two.
        (None, None) => return ExitCode::from(2),
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

fn check(path: &Path) -> ExitCode {
    match tollgate::config::load(path) {
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
                "{}: OK ({} listener(s), {} API(s), {} stage route(s))",
                path.display(),
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

fn demo_upstream(addr: SocketAddr, threads: usize) -> ExitCode {
    match tools::demo_upstream::run(addr, threads) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate demo-upstream: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn process_ids_are_positive() {
        assert_eq!(process_id("4242\n"), Ok(4242));
        for bad in ["0", "-1", "", "12x", "99999999999"] {
            let err = process_id(bad).expect_err(bad);
            assert!(err.contains("is not a process id"), "{bad:?}: {err}");
        }
    }
}
