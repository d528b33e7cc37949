//! Probe regression suite (issue 10 items 7, 8, 9): hostile and misleading configuration
//! files, given to `tollgate check` under an address-space and CPU limit (`prlimit` from
//! util-linux) and to a running gateway by SIGHUP. A configuration must never take the
//! gateway down: every refusal is a clean error naming the file, the key or position and the
//! reason, with exit code 1 (never an abort or a signal).

mod common;
mod pki;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Address-space limit for `tollgate check` runs: far below what the hostile files would
/// need if expanded (gigabytes), far above what a bounded load needs.
const AS_LIMIT: u64 = 1 << 30;
/// CPU-seconds limit: a safety net against a runaway parse (not a timing assertion; the
/// bounded load of every file here takes a small fraction of it).
const CPU_LIMIT_SECS: u64 = 120;

/// The outcome of one `tollgate check` run.
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "status {:?} (signal {:?}); stdout:\n{}\nstderr (first 2000 bytes):\n{}",
            self.status.code(),
            self.status.signal(),
            truncate(&self.stdout, 2000),
            truncate(&self.stderr, 2000)
        )
    }

    /// Exit code 1 (not a signal), and stderr naming `file` and containing every fragment.
    #[track_caller]
    fn assert_refused(&self, file: &str, fragments: &[&str]) {
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected a clean refusal (exit 1): {}",
            self.describe()
        );
        assert!(
            self.stderr.contains(file),
            "the error does not name the file {file}: {}",
            self.describe()
        );
        for f in fragments {
            assert!(
                self.stderr.contains(f),
                "the error does not say {f:?}: {}",
                self.describe()
            );
        }
    }
}

fn prlimit() -> &'static str {
    let ok = Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need `prlimit` (util-linux) to run tollgate under a memory limit; \
         install util-linux (`make deps` / apt-get install util-linux)"
    );
    "prlimit"
}

/// `tollgate ARGS` under the address-space and CPU limits; killed if it has not exited by
/// `deadline` (a FIFO can block forever).
fn limited(args: &[&str], deadline: Duration) -> Outcome {
    let as_arg = format!("--as={AS_LIMIT}");
    let cpu_arg = format!("--cpu={CPU_LIMIT_SECS}");
    let mut child = Command::new(prlimit())
        .args([as_arg.as_str(), cpu_arg.as_str(), "--", bin()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn prlimit tollgate {args:?}: {e}"));
    // Drain the pipes on threads so a large stderr cannot block the child.
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut s);
        s
    });
    let end = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tollgate {args:?} did not exit within {deadline:?} (killed)");
            }
            Err(e) => panic!("wait for tollgate: {e}"),
        }
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    Outcome {
        status,
        stdout,
        stderr,
    }
}

fn check(file: &TempFile) -> Outcome {
    limited(&["check", &file.display()], Duration::from_secs(300))
}

const HEAD: &str = "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
apis:
  - id: demo
    routes:
";
const TAIL: &str = "    stages:
      - name: prod
";

/// HEAD, one route `route` with the integration `integration` (YAML flow map), TAIL.
fn mock_route(route: &str, integration: &str) -> String {
    format!("{HEAD}      - route: {route}\n        integration: {integration}\n{TAIL}")
}

/// `text` written to a temporary file `name`, given to `check`.
fn check_text(name: &str, text: &str) -> (TempFile, Outcome) {
    let f = write_temp(name, text);
    let out = check(&f);
    (f, out)
}

/// `text` given to `check` (as [`check_text`]) must be refused naming the file and saying
/// every fragment; returns the outcome.
#[track_caller]
fn check_refused(name: &str, text: &str, fragments: &[&str]) -> Outcome {
    let (f, out) = check_text(name, text);
    out.assert_refused(&f.display(), fragments);
    out
}

/// One MOCK body of 1 MiB anchored once and aliased by `aliases` further routes: ~1.7 MB of
/// YAML that expands to `aliases` MiB.
fn alias_bomb(aliases: usize) -> String {
    let mut y = String::from(HEAD);
    y.push_str("      - route: GET /r0\n        integration: &m {type: MOCK, body: \"");
    y.push_str(&"x".repeat(1 << 20));
    y.push_str("\"}\n");
    for i in 1..=aliases {
        y.push_str(&format!("      - {{route: GET /r{i}, integration: *m}}\n"));
    }
    y.push_str(TAIL);
    y
}

// ------------------------------------------------------------------ item 8: bounded loading

#[test]
fn alias_bomb_is_refused_by_check_under_a_memory_limit() {
    let out = check_refused("alias-bomb.yaml", &alias_bomb(20_000), &["alias", "line "]);
    assert!(
        out.stderr.contains("apis[0].routes["),
        "the error names no key path: {}",
        out.describe()
    );
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let d = 100_000;
    let text = format!("x: {}{}\n", "[".repeat(d), "]".repeat(d));
    check_refused("deep.yaml", &text, &["nested deeper than", "line 1"]);
}

#[test]
fn too_many_nodes_are_refused() {
    // 1.5 million one-character scalars: a 3 MB file under the size cap, over the node budget.
    let mut text = String::from("x: [");
    for _ in 0..1_500_000 {
        text.push_str("1,");
    }
    text.push_str("1]\n");
    check_refused("wide.yaml", &text, &["more than 1000000 YAML nodes"]);
}

#[test]
fn forty_thousand_routes_check_and_count() {
    let mut y = String::from(HEAD);
    for i in 0..40_000 {
        y.push_str(&format!(
            "      - {{route: GET /r{i}, integration: {{type: MOCK}}}}\n"
        ));
    }
    y.push_str(TAIL);
    let f = write_temp("40k-routes.yaml", &y);
    let out = check(&f);
    assert_eq!(out.status.code(), Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains("40000 stage route(s)"),
        "{}",
        out.describe()
    );
}

#[test]
fn file_over_the_size_cap_is_refused_unread() {
    // A valid file padded with a comment to just over 16 MiB.
    let mut y = mock_route("GET /a", "{type: MOCK}");
    let pad = (16 << 20) + 1 - y.len();
    y.push('#');
    y.push_str(&"p".repeat(pad));
    y.push('\n');
    check_refused("huge.yaml", &y, &["16 MiB"]);
}

#[test]
fn dev_zero_as_config_is_refused() {
    let out = limited(&["check", "/dev/zero"], Duration::from_secs(60));
    out.assert_refused("/dev/zero", &["not a regular file"]);
}

#[test]
fn fifo_as_config_is_refused_without_blocking() {
    let f = write_temp("fifo.yaml", "");
    std::fs::remove_file(f.path()).expect("remove the placeholder");
    let c = std::ffi::CString::new(f.display()).expect("path without NUL");
    // SAFETY: mkfifo(3) with a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
    // Nobody ever writes the FIFO: reading it would block forever.
    let out = limited(&["check", &f.display()], Duration::from_secs(60));
    out.assert_refused(&f.display(), &["not a regular file"]);
}

#[test]
fn huge_bad_value_is_quoted_short() {
    let big = "b".repeat(8 << 20);
    let y = format!(
        "listeners:
  - name: public
    bind: \"{big}\"
apis:
  - id: demo
    routes: []
    stages:
      - name: prod
"
    );
    let out = check_refused(
        "huge-value.yaml",
        &y,
        &["listeners[0].bind", "not a socket address", "…"],
    );
    assert!(
        out.stderr.len() < 2000,
        "the error is {} bytes long: {}",
        out.stderr.len(),
        out.describe()
    );
}

#[test]
fn workers_beyond_the_machine_are_refused() {
    let ok = mock_route("GET /a", "{type: MOCK}");
    let y = format!("server:\n  workers: 1000000\n{ok}");
    check_refused("workers.yaml", &y, &["server.workers", "at most"]);

    let g = write_temp("workers-cli.yaml", &ok);
    let (code, _out, err) = cli(&["run", "--config", &g.display(), "--workers", "5000"]);
    assert_eq!(code, 2, "--workers 5000 was not refused: {err}");
    assert!(
        err.contains("--workers") && err.contains("at most"),
        "{err}"
    );
}

/// Current virtual size of a process, from /proc/PID/status (kB -> bytes).
fn vm_size(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmSize in /proc/{pid}/status"));
    kb * 1024
}

/// A gateway serving `GET /prod/hello` with the body `old-config`, its address space then
/// capped (`prlimit --pid`) at what it uses now plus 1 GiB.
fn capped_old_config_gateway() -> Gateway {
    let yaml = mock_route("GET /hello", "{type: MOCK, body: old-config}");
    let gw = Gateway::start(&yaml);
    let pid = gw.proc.pid();
    let limit = vm_size(pid) + (1 << 30);
    let st = Command::new(prlimit())
        .args(["--pid", &pid.to_string(), &format!("--as={limit}")])
        .status()
        .expect("run prlimit --pid");
    assert!(st.success(), "prlimit --pid {pid} failed");
    gw
}

/// The gateway still answers `GET /prod/hello` from the old configuration.
#[track_caller]
fn serves_old_config(gw: &Gateway) {
    let r = gw.send(&get("/prod/hello"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), "old-config");
}

#[test]
fn alias_bomb_sent_by_sighup_leaves_the_gateway_serving() {
    // The bomb expands to 20 GiB, so an unbounded load dies under the gateway's address
    // space cap (and cannot hurt the machine).
    let gw = capped_old_config_gateway();

    std::fs::write(gw.config.path(), alias_bomb(20_000)).expect("rewrite the config");
    gw.proc.signal(libc::SIGHUP);
    let refused = wait_until(Duration::from_secs(60), || {
        gw.stderr().contains("reload refused (")
    });
    let mut gw = gw;
    assert!(
        refused,
        "the gateway did not log the refusal (running: {}); stderr:\n{}",
        gw.proc.is_running(),
        truncate(&gw.stderr(), 4000)
    );
    assert!(gw.proc.is_running(), "the gateway died: {}", gw.stderr());
    assert!(
        gw.stderr().contains("alias"),
        "the refusal does not say why: {}",
        truncate(&gw.stderr(), 4000)
    );
    serves_old_config(&gw);
}

// ------------------------------------------------------------------ item 7: checks that never lie

#[test]
fn route_with_dot_segments_is_refused() {
    for route in ["GET /a/../b", "GET /a/./b", "ANY /..", "GET /x/{id}/."] {
        let y = mock_route(route, "{type: MOCK}");
        check_refused("dots.yaml", &y, &["apis[0].routes[0].route", "dot segment"]);
    }
}

#[test]
fn base_path_with_dot_segments_is_refused() {
    for base in ["..", "v1/../admin", "./v1"] {
        let y = format!(
            "{}custom_domains:
  - name: api.example.com
    certificate: missing.pem
    key: missing.key
    base_path_mappings:
      - base_path: \"{base}\"
        api: demo
        stage: prod
",
            mock_route("GET /a", "{type: MOCK}")
        );
        check_refused(
            "base-dots.yaml",
            &y,
            &[
                "custom_domains[0].base_path_mappings[0].base_path",
                "dot segment",
            ],
        );
    }
}

#[test]
fn custom_domain_shadowing_an_execute_api_host_is_refused() {
    for name in [
        "demo.execute-api.localhost",
        "*.execute-api.localhost",
        "Other.Execute-Api.localhost",
    ] {
        let y = format!(
            "{}custom_domains:
  - name: \"{name}\"
    certificate: missing.pem
    key: missing.key
",
            mock_route("GET /a", "{type: MOCK}")
        );
        check_refused(
            "shadow.yaml",
            &y,
            &["custom_domains[0].name", "execute-api"],
        );
    }
}

// ------------------------------------------------------------------ item 9: sibling variables

#[test]
fn sibling_path_variables_are_refused_as_api_gateway_does() {
    let cases: [(&str, &str, &str); 3] = [
        ("GET /a/{id}/x", "GET /a/{name}/y", "{id}"),
        ("DELETE /b/{id}", "GET /b/{name}", "{id}"),
        ("GET /{id}/posts", "ANY /{catchall+}", "{id}"),
    ];
    for (first, second, sibling) in cases {
        let y = format!(
            "{HEAD}      - route: {first}\n        integration: {{type: MOCK}}\n      - route: {second}\n        integration: {{type: MOCK}}\n{TAIL}"
        );
        let msg = format!(
            "A sibling ({sibling}) of this resource already has a variable path part -- only one is allowed"
        );
        check_refused("siblings.yaml", &y, &["apis[0].routes[1].route", &msg]);
    }
}

// ------------------------------------------------------------------ item 8: custom domains

/// The most custom domains a configuration may have (docs/CONFIG.md, "Limits on a
/// configuration file").
const DOMAIN_CAP: usize = 10_000;

/// HEAD/TAIL (one MOCK route) plus `n` custom domains that all name the same certificate and
/// key (and, with `mtls`, the same truststore): a few hundred bytes of YAML per domain.
fn many_domains(certs: &pki::TempDir, n: usize, mtls: bool) -> String {
    let mut y = mock_route("GET /hello", "{type: MOCK, body: old-config}");
    y.push_str("custom_domains:\n");
    let (cert, key, ca) = (
        certs.p("server.pem"),
        certs.p("server.key"),
        certs.p("partner-ca.pem"),
    );
    for i in 0..n {
        y.push_str(&format!(
            "  - {{name: d{i}.example.com, certificate: \"{cert}\", key: \"{key}\""
        ));
        if mtls {
            y.push_str(&format!(", mtls: {{truststore: \"{ca}\"}}"));
        }
        y.push_str(", base_path_mappings: [{base_path: \"(none)\", api: demo, stage: prod}]}\n");
    }
    y
}

/// More custom domains than the cap (plain, then mutual TLS, all sharing one certificate,
/// key and truststore): refused by `check` with the cap, naming the file and key, without
/// building a TLS configuration per domain (which took ~40 KB per plain and ~150 KB per mTLS
/// domain, and aborted `check` under the address-space limit).
#[test]
fn custom_domains_over_the_cap_are_refused_by_check() {
    let certs = pki::gen_certs("domain-cap");
    for mtls in [false, true] {
        check_refused(
            "many-domains.yaml",
            &many_domains(&certs, DOMAIN_CAP + 1, mtls),
            &[
                "custom_domains:",
                &format!("{} custom domains", DOMAIN_CAP + 1),
                &format!("at most {DOMAIN_CAP}"),
            ],
        );
    }
}

/// A file at the cap (mutual TLS on every domain: the costliest kind; and plain) loads under
/// the same address-space limit.
#[test]
fn custom_domains_at_the_cap_load_within_the_memory_limit() {
    let certs = pki::gen_certs("domain-cap-ok");
    for mtls in [true, false] {
        let f = write_temp("cap-domains.yaml", &many_domains(&certs, DOMAIN_CAP, mtls));
        let out = check(&f);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{DOMAIN_CAP} domains (mtls: {mtls}): {}",
            out.describe()
        );
    }
}

/// Three times the cap of mTLS domains (a 10 MB file; ~4 GB of TLS state were it built)
/// sent by SIGHUP to a running gateway whose address space is capped (what it uses now plus
/// 1 GiB): refused, logged, and the old configuration keeps serving.
#[test]
fn custom_domains_over_the_cap_sent_by_sighup_leave_the_gateway_serving() {
    let certs = pki::gen_certs("domain-cap-hup");
    let mut gw = capped_old_config_gateway();

    std::fs::write(gw.config.path(), many_domains(&certs, 3 * DOMAIN_CAP, true))
        .expect("rewrite the config");
    gw.proc.signal(libc::SIGHUP);
    let refused = wait_until(Duration::from_secs(120), || {
        gw.stderr().contains("reload refused (") || !gw.proc.is_running()
    });
    assert!(
        refused && gw.proc.is_running(),
        "the gateway did not log the refusal or died (running: {}); stderr:\n{}",
        gw.proc.is_running(),
        truncate(&gw.stderr(), 4000)
    );
    assert!(
        gw.stderr().contains(&format!("at most {DOMAIN_CAP}")),
        "the refusal does not name the cap: {}",
        truncate(&gw.stderr(), 4000)
    );
    serves_old_config(&gw);
}

/// Domains without mTLS no longer get a session store each: TLS 1.2 clients that resume by
/// session id (no tickets) are served from the one process-wide store, which (like the
/// ticketer) outlives a reload: a session made before the reload resumes after it.
#[test]
fn plain_domain_tls12_session_ids_resume_across_a_reload() {
    use rustls::client::{Resumption, Tls12Resumption};
    let certs = pki::gen_certs("plain-resume");
    let yaml = |body: &str| {
        format!(
            "listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
apis:
  - id: demo
    routes:
      - route: GET /hello
        integration: {{type: MOCK, body: {body}}}
    stages:
      - name: prod
custom_domains:
  - name: api.localhost
    certificate: \"{}\"
    key: \"{}\"
    base_path_mappings: [{{base_path: \"(none)\", api: demo, stage: prod}}]
",
            certs.p("server.pem"),
            certs.p("server.key")
        )
    };
    let mut gw = Gateway::start(&yaml("first"));
    let port = gw.port_of("tls");
    let mut cfg = (*pki::client_config(
        &[certs.path("ca.pem")],
        None,
        &[&rustls::version::TLS12],
        &[b"http/1.1"],
    ))
    .clone();
    cfg.resumption =
        Resumption::in_memory_sessions(8).tls12_resumption(Tls12Resumption::SessionIdOnly);
    let cfg = std::sync::Arc::new(cfg);
    let kind = |what: &str| {
        let name = rustls::pki_types::ServerName::try_from("api.localhost").expect("name");
        let mut s = pki::tls_handshake(
            pki::tcp_connect(port, Duration::from_secs(5)),
            &cfg,
            name,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let k = s.conn.handshake_kind();
        s.conn.send_close_notify();
        let _ = s.conn.complete_io(&mut s.sock);
        k
    };
    assert_eq!(kind("first"), Some(rustls::HandshakeKind::Full));
    assert_eq!(kind("second"), Some(rustls::HandshakeKind::Resumed));

    std::fs::write(gw.config.path(), yaml("second")).expect("rewrite the config");
    gw.proc.signal(libc::SIGHUP);
    let applied = wait_until(Duration::from_secs(10), || {
        gw.stderr().contains("reloaded configuration in force") || !gw.proc.is_running()
    });
    assert!(
        applied && gw.proc.is_running(),
        "no reload: {}",
        gw.stderr()
    );
    assert_eq!(
        kind("after the reload"),
        Some(rustls::HandshakeKind::Resumed),
        "a TLS 1.2 session id from before the reload did not resume"
    );
}

// ------------------------------------------------------------------ item 8: certificate material

/// Certificates from `certs/gen.sh` plus a chain file `chain.pem` (server.pem followed by
/// as many copies of ca.pem as keep it within `file_bytes` and `der` bytes of DER) and
/// `keys` copies `k{i}.key` of server.key (distinct files of one key); returns the
/// directory and a configuration whose domain `d{i}` names the chain and `k{i}.key`.
fn chain_with_many_keys(
    tag: &str,
    file_bytes: usize,
    der: usize,
    keys: usize,
) -> (pki::TempDir, String) {
    let certs = pki::gen_certs(tag);
    let read = |f: &str| std::fs::read(certs.path(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
    let der_of = |f: &str| {
        pki::load_certs(&certs.path(f))
            .iter()
            .map(|c| c.len())
            .sum::<usize>()
    };
    let (server, ca, key) = (read("server.pem"), read("ca.pem"), read("server.key"));
    let copies = ((file_bytes - server.len()) / ca.len())
        .min(der.saturating_sub(der_of("server.pem")) / der_of("ca.pem"));
    let mut chain = server;
    for _ in 0..copies {
        chain.extend_from_slice(&ca);
    }
    std::fs::write(certs.path("chain.pem"), &chain).expect("write chain.pem");
    let mut y = mock_route("GET /hello", "{type: MOCK, body: old-config}");
    y.push_str("custom_domains:\n");
    for i in 0..keys {
        let k = format!("k{i}.key");
        std::fs::write(certs.path(&k), &key).expect("write a key copy");
        y.push_str(&format!(
            "  - {{name: d{i}.example.com, certificate: \"{}\", key: \"{}\", \
             base_path_mappings: [{{base_path: \"(none)\", api: demo, stage: prod}}]}}\n",
            certs.p("chain.pem"),
            certs.p(&k)
        ));
    }
    (certs, y)
}

const HUGE_CHAIN_DOMAINS: usize = 200;

/// A 16 MiB certificate chain (server.pem and ~24,000 copies of ca.pem) named by 200 domains
/// with 200 distinct copies of one key file: each (certificate, key) pair copied the whole
/// chain (~12 MB of DER each, 2.5 GB in all), and `check` aborted under the address-space
/// limit. Now a chain is at most 64 KiB of DER, refused at each domain's `certificate`.
#[test]
fn huge_certificate_chain_named_with_many_keys_is_refused_by_check() {
    let (_certs, yaml) =
        chain_with_many_keys("huge-chain", 16 << 20, usize::MAX, HUGE_CHAIN_DOMAINS);
    check_refused(
        "huge-chain.yaml",
        &yaml,
        &[
            "custom_domains[0].certificate",
            "at most 65536 (64 KiB)",
            "chain.pem: the certificate chain is",
        ],
    );
}

/// The same configuration sent by SIGHUP to a running gateway whose address space is capped
/// (what it uses now plus 1 GiB) killed it; now the reload is refused, logged, and the old
/// configuration keeps serving.
#[test]
fn huge_certificate_chain_sent_by_sighup_leaves_the_gateway_serving() {
    let (_certs, yaml) =
        chain_with_many_keys("huge-chain-hup", 16 << 20, usize::MAX, HUGE_CHAIN_DOMAINS);
    let mut gw = capped_old_config_gateway();
    std::fs::write(gw.config.path(), yaml).expect("rewrite the config");
    gw.proc.signal(libc::SIGHUP);
    let refused = wait_until(Duration::from_secs(120), || {
        gw.stderr().contains("reload refused (") || !gw.proc.is_running()
    });
    assert!(
        refused && gw.proc.is_running(),
        "the gateway did not log the refusal or died (running: {}); stderr:\n{}",
        gw.proc.is_running(),
        truncate(&gw.stderr(), 4000)
    );
    assert!(
        gw.stderr().contains("at most 65536 (64 KiB)"),
        "the refusal does not name the chain limit: {}",
        truncate(&gw.stderr(), 4000)
    );
    serves_old_config(&gw);
}

/// Chains under the per-chain limit (~60 KiB of DER) but named with 2,300 distinct key
/// files: every distinct (certificate, key) pair holds its own copy of the chain, so the
/// load would hold ~140 MB of chains; past 128 MiB the next pair is refused at its `key`,
/// naming the limit.
#[test]
fn many_distinct_certificate_key_pairs_are_refused_past_the_load_budget() {
    let (_certs, yaml) = chain_with_many_keys("chain-budget", 16 << 20, 60 * 1024, 2_300);
    let out = check_refused(
        "chain-budget.yaml",
        &yaml,
        &[
            "custom_domains[2",
            ".key: ",
            ".key: the certificate chains of this configuration's domains would pass 128 MiB",
        ],
    );
    // The first pairs fit: the budget is about the load, not about any one domain.
    assert!(
        !out.stderr.contains("custom_domains[0].key"),
        "{}",
        out.describe()
    );
}

/// `tollgate check BAD | head` (or a reader gone before the errors are written): the exit
/// code is still the verdict (1), not a panic's (101) on the broken pipe.
#[test]
fn check_verdict_survives_a_closed_output_pipe() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let bad = write_temp("bad.yaml", "listeners: [{name: a, bind: 'nowhere'}]\n");
    for (stdout_closed, args) in [
        (false, vec!["check".to_string(), bad.display()]),
        (
            true,
            vec![
                "check".to_string(),
                manifest_dir()
                    .join("examples/quickstart.yaml")
                    .display()
                    .to_string(),
            ],
        ),
    ] {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
        // SAFETY: pipe(2) just returned these two descriptors, owned by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(read_end); // the reader is gone before anything is written
        let mut cmd = Command::new(bin());
        cmd.args(&args).stdin(Stdio::null());
        if stdout_closed {
            cmd.stdout(Stdio::from(write_end)).stderr(Stdio::null());
        } else {
            cmd.stderr(Stdio::from(write_end)).stdout(Stdio::null());
        }
        let status = cmd.status().expect("run tollgate check");
        let want = if stdout_closed { 0 } else { 1 };
        assert_eq!(
            status.code(),
            Some(want),
            "check {args:?} with its output pipe closed: {status:?}"
        );
    }
}
