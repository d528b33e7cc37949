//! The `tollgate` command line (parsed by clap): every subcommand is there, `--help` exits 0
//! on stdout, and bad arguments exit 2 naming what is wrong, before anything starts.

mod common;

use common::*;

#[track_caller]
fn refused(args: &[&str], words: &[&str]) {
    let (code, out, err) = cli(args);
    assert_eq!(code, 2, "tollgate {args:?}: stdout {out:?} stderr {err:?}");
    for w in words {
        assert!(
            err.contains(w),
            "tollgate {args:?}: {w:?} not in stderr {err:?}"
        );
    }
}

#[test]
fn help_lists_every_subcommand_and_exits_0() {
    let (code, out, err) = cli(&["--help"]);
    assert_eq!(code, 0, "stderr {err:?}");
    for sub in [
        "run",
        "check",
        "usage",
        "reload",
        "flush-stage-cache",
        "demo-upstream",
        "load",
    ] {
        assert!(
            out.contains(&format!("\n  {sub} ")),
            "{sub} missing in:\n{out}"
        );
    }
    let (code, out, _) = cli(&["run", "--help"]);
    assert_eq!(code, 0);
    for flag in ["--config <FILE>", "--workers <N>", "--pid-file <F>"] {
        assert!(out.contains(flag), "{flag} missing in:\n{out}");
    }
    let (code, out, _) = cli(&["load", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--connections <N>",
        "[default: 64]",
        "--duration <10s>",
        "--no-resume",
    ] {
        assert!(out.contains(flag), "{flag} missing in:\n{out}");
    }
}

#[test]
fn no_or_unknown_subcommand_exits_2() {
    let (code, out, err) = cli(&[]);
    assert_eq!(code, 2, "stdout {out:?}");
    assert!(err.contains("Usage: tollgate <COMMAND>"), "{err}");
    refused(&["serve"], &["'serve'"]);
    refused(&["run", "--bogus"], &["--bogus"]);
}

#[test]
fn bad_arguments_exit_2_naming_the_option() {
    refused(&["run"], &["--config"]);
    refused(
        &["run", "--config", "x.yaml", "--workers", "0"],
        &["--workers", "positive"],
    );
    refused(
        &["run", "--config", "x.yaml", "--workers", "many"],
        &["--workers", "'many'"],
    );
    refused(&["check"], &["FILE"]);
    refused(&["usage"], &["--state-file"]);
    refused(&["reload"], &["--pid", "--pid-file"]);
    refused(&["reload", "--pid", "1", "--pid-file", "f"], &["--pid"]);
    refused(&["reload", "--pid", "0"], &["not a process id"]);
    refused(
        &["flush-stage-cache", "--admin", "127.0.0.1:1"],
        &["--api", "--stage"],
    );
    refused(
        &["demo-upstream", "--bind", "nowhere"],
        &["--bind", "127.0.0.1:9090"],
    );
    refused(&["demo-upstream", "--threads", "0"], &["--threads"]);
    refused(&["load"], &["<URL>"]);
    refused(
        &["load", "http://127.0.0.1:1/", "--duration", "10x"],
        &["--duration", "`10x`"],
    );
}

#[test]
fn a_pid_file_without_a_process_id_exits_2() {
    // (A negative or zero id is refused too: unit test process_ids_are_positive; not tried
    // here, where a regression would signal a process group.)
    let f = write_temp("not-a-pid", "gateway\n");
    refused(
        &["reload", "--pid-file", &f.display()],
        &["not a process id"],
    );
    let (code, _, err) = cli(&["reload", "--pid-file", "/nonexistent/tollgate.pid"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read"), "{err}");
}
