//! Zero-drop reload, proved (issue 13 item 6): sustained load over keep-alive connections
//! and over a new connection per request, against the real gateway (2 workers) and a real
//! upstream (`tollgate demo-upstream`), while the configuration file is rewritten and
//! reloaded 10 times, alternating SIGHUP and `POST /reload`, one of them an invalid file.
//! Every request must get a complete 2xx answer (no error, reset or early close); the
//! invalid reload must leave the old configuration serving and say why (file, key, reason).
//!
//! Each configuration version `N` answers `GET /prod/version` with `vN` (a MOCK route) and
//! proxies `GET /prod/up/{proxy+}` to the upstream with a stage variable and timeout that
//! change per version; version N also adds a route `GET /prod/extraN`. A keep-alive
//! connection stays on one worker, so the versions it sees never go backwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;

/// Reloads in the run, and the one (1-based) whose file is invalid.
const RELOADS: usize = 10;
const INVALID: usize = 6;
/// Requests the load makes at least, in all.
const MIN_REQUESTS: u64 = 6000;
/// Requests completed between two reloads, at least (so every reload happens under load).
const BETWEEN_RELOADS: u64 = 300;
const KEEP_ALIVE_CLIENTS: usize = 4;
const NEW_CONNECTION_CLIENTS: usize = 2;

fn config(version: usize, upstream: &str, valid: bool) -> String {
    let timeout = if valid {
        format!("{}s", 5 + version)
    } else {
        // Below the 50 ms minimum: refused, with its key path.
        "10ms".to_string()
    };
    // The account throttle (10,000 req/s, burst 5,000) would answer 429 to the closed-loop
    // load on a fast machine: this test is about reloads.
    format!(
        "server:
  account_throttle: {{rate: 1.0e9, burst: 1.0e9}}
admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: z
apis:
  - id: z
    routes:
      - route: GET /version
        integration: {{type: MOCK, body: v{version}}}
      - route: GET /up/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: 'http://{upstream}/${{stageVariables.prefix}}/{{proxy}}'
          timeout: {timeout}
      - route: GET /extra{version}
        integration: {{type: MOCK, body: extra}}
    stages:
      - name: prod
        variables: {{prefix: p{version}}}
"
    )
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// The first few failures, described.
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() < 20 {
            f.push(what);
        }
    }
}

/// One request on `stream` (written whole), its response read whole: (status, body, whether
/// the server said it closes), or why not.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<(u16, String, bool), String> {
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match parse_response(&buf, false, false) {
            Ok(Parsed::Done(r, _)) => {
                let close = r.says_close();
                return Ok((r.status, r.body_str(), close));
            }
            Ok(Parsed::Incomplete) => {}
            Err(e) => return Err(format!("malformed response: {e}")),
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "closed before a complete response ({} bytes)",
                    buf.len()
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn connect(port: u16) -> Result<TcpStream, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

/// The version number in a `/prod/version` body (`vN`).
fn version_of(body: &str) -> Option<usize> {
    body.strip_prefix('v')?.parse().ok()
}

/// A client that keeps one connection open (a new one only when the server announced a
/// close), alternating the MOCK and the proxied route.
fn keep_alive_client(port: u16, id: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut stream: Option<TcpStream> = None;
    let mut seen_version = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let s = match stream.as_mut() {
            Some(s) => s,
            None => match connect(port) {
                Ok(s) => {
                    seen_version = 0;
                    stream.insert(s)
                }
                Err(e) => {
                    tally.fail(format!("keep-alive {id}: {e}"));
                    continue;
                }
            },
        };
        let path = if n.is_multiple_of(2) {
            "/prod/version".to_string()
        } else {
            format!("/prod/up/k{id}/{n}")
        };
        match exchange(s, &get(&path)) {
            Ok((status, body, close)) => {
                if !(200..300).contains(&status) {
                    tally.fail(format!("keep-alive {id} {path}: {status} {body}"));
                } else if path == "/prod/version" {
                    match version_of(&body) {
                        Some(v) if v >= seen_version => {
                            seen_version = v;
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => tally.fail(format!(
                            "keep-alive {id}: version {body:?} after v{seen_version}"
                        )),
                    }
                } else if body.contains("\"path\"") {
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    tally.fail(format!("keep-alive {id} {path}: body {body:?}"));
                }
                if close {
                    stream = None;
                }
            }
            Err(e) => {
                tally.fail(format!("keep-alive {id} {path} (request {n}): {e}"));
                stream = None;
            }
        }
    }
}

/// A client that opens a new connection per request.
fn new_connection_client(port: u16, id: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let path = if n.is_multiple_of(2) {
            "/prod/version".to_string()
        } else {
            format!("/prod/up/n{id}/{n}")
        };
        let outcome = connect(port).and_then(|mut s| exchange(&mut s, &get(&path)));
        match outcome {
            Ok((status, _, _)) if (200..300).contains(&status) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, body, _)) => tally.fail(format!("new-conn {id} {path}: {status} {body}")),
            Err(e) => tally.fail(format!("new-conn {id} {path}: {e}")),
        }
    }
}

/// The version a fresh connection is served.
fn current_version(port: u16) -> String {
    let r = Client::connect(port).request(&get("/prod/version"));
    assert_eq!(r.status, 200, "{}", r.describe());
    r.body_str()
}

#[test]
fn ten_reloads_under_load_drop_nothing() {
    let up = DemoUpstream::start();
    let mut gw = Gateway::start_with_workers(&config(0, &up.addr(), true), 2);
    let port = gw.port;
    let admin_port = gw.port_of("admin");
    assert_eq!(current_version(port), "v0");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients: Vec<JoinHandle<()>> = Vec::new();
    for id in 0..KEEP_ALIVE_CLIENTS {
        let (stop, tally) = (stop.clone(), tally.clone());
        clients.push(std::thread::spawn(move || {
            keep_alive_client(port, id, stop, tally)
        }));
    }
    for id in 0..NEW_CONNECTION_CLIENTS {
        let (stop, tally) = (stop.clone(), tally.clone());
        clients.push(std::thread::spawn(move || {
            new_connection_client(port, id, stop, tally)
        }));
    }
    let done = || tally.ok.load(Ordering::SeqCst) + tally.failed.load(Ordering::SeqCst);
    let progress = |at_least: u64| {
        let target = done() + at_least;
        assert!(
            wait_until(Duration::from_secs(60), || done() >= target),
            "the load stalled at {} requests; stderr:\n{}",
            done(),
            gw.stderr()
        );
    };

    let mut version_in_force = 0;
    let mut sighups = 0;
    for i in 1..=RELOADS {
        progress(BETWEEN_RELOADS);
        let valid = i != INVALID;
        std::fs::write(gw.config.path(), config(i, &up.addr(), valid)).expect("rewrite");
        if !i.is_multiple_of(2) {
            // SIGHUP: the log says what happened.
            gw.proc.signal(libc::SIGHUP);
            sighups += 1;
            if valid {
                wait_log(
                    &gw,
                    "configuration reloaded from",
                    i - usize::from(i > INVALID),
                    Duration::from_secs(10),
                );
            } else {
                wait_log(&gw, "reload refused (", 1, Duration::from_secs(10));
            }
        } else {
            let r = Client::connect(admin_port).request(&req("POST", "/reload", &[], b""));
            let v = r.json();
            if valid {
                assert_eq!(
                    (r.status, &v["reloaded"]),
                    (200, &serde_json::json!(true)),
                    "{}",
                    r.describe()
                );
            } else {
                assert_eq!(r.status, 400, "{}", r.describe());
                assert_eq!(v["reloaded"], false);
                let e = &v["errors"][0];
                assert_eq!(e["file"], gw.config.display(), "{v}");
                assert_eq!(e["key"], "apis[0].routes[1].integration.timeout", "{v}");
                assert!(
                    e["reason"].as_str().is_some_and(|r| r.contains("10ms")),
                    "{v}"
                );
            }
        }
        if valid {
            version_in_force = i;
        } else {
            // Said why in the log too: file, key and reason (the log is written by its own
            // thread: wait for it).
            wait_log(&gw, "integration.timeout", 1, Duration::from_secs(10));
            let log = gw.stderr();
            let line = log
                .lines()
                .find(|l| l.contains("reload refused:") && l.contains("integration.timeout"))
                .unwrap_or_else(|| panic!("no refusal naming the key; stderr:\n{log}"));
            assert!(line.contains(&gw.config.display()), "{line}");
        }
        // The configuration in force answers on a fresh connection, whichever worker.
        for _ in 0..4 {
            assert_eq!(
                current_version(port),
                format!("v{version_in_force}"),
                "after reload {i}"
            );
        }
        let extra = Client::connect(port).request(&get(&format!("/prod/extra{i}")));
        assert_eq!(
            extra.status == 200,
            valid,
            "after reload {i}: {}",
            extra.describe()
        );
    }
    assert!(sighups >= 5);
    let left = MIN_REQUESTS.saturating_sub(done());
    progress(left.max(BETWEEN_RELOADS));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("a load client panicked");
    }
    let ok = tally.ok.load(Ordering::SeqCst);
    let failed = tally.failed.load(Ordering::SeqCst);
    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed across {RELOADS} reloads; first ones:\n{}\nstderr:\n{}",
        ok + failed,
        failures.join("\n"),
        gw.stderr()
    );
    assert!(ok >= MIN_REQUESTS, "only {ok} requests");
    assert_eq!(
        gw.stderr().matches("configuration reloaded from").count(),
        RELOADS - 1
    );
    assert!(gw.proc.is_running());
    eprintln!("{ok} requests, 0 failed, across {RELOADS} reloads");
}
