//! Heap allocations per proxied request in the steady state, counted by a counting global
//! allocator around the whole process (gateway worker, client and upstream threads alike).
//! The gateway runs in-process on one worker; the client and the upstream use fixed stack
//! buffers, so every allocation counted during the measured requests is the gateway's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[path = "common/raw_client.rs"]
mod raw_client;
use counting_alloc::ALLOCS;
use raw_client::request;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// Find `\r\n\r\n` and a `content-length` in a response head, without allocating.
/// A keep-alive upstream answering every request with a fixed small response.
fn spawn_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                let mut have = 0;
                loop {
                    match s.read(&mut buf[have..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        // Two Connection lines: every one is read (issue 10 item 3).
                        let reply = b"HTTP/1.1 200 OK\r\nconnection: x-up-a\r\ncontent-type: text/plain\r\nconnection: x-up-b\r\nx-up-b: 1\r\ncontent-length: 5\r\n\r\nhello";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn proxied_small_get_allocates_nothing_in_the_steady_state() {
    let upstream = spawn_upstream();
    // Every request is access-logged (JSON, the heaviest preset) to a file.
    let log_dir = std::env::temp_dir().join(format!("tollgate-alloc-log-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log_path = log_dir.join("access.log");
    // The limits thread reconciles token leases every 20 ms and allocates a little per tick,
    // whatever the request rate; pausing it (and giving the account bucket room for every
    // request) leaves only what the requests themselves allocate.
    let yaml = format!(
        "server:
  throttle_reconcile_interval: 1h
  account_throttle: {{rate: 1.0e9, burst: 1.0e9}}
listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: a
    drop_underscore_headers: true
apis:
  - id: a
    type: REST
    routes:
      - route: GET /mock
        integration:
          type: MOCK
          body: hello
      - route: GET /small/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{upstream}/{{proxy}}
        cache_key_parameters: [method.request.path.proxy]
    stages:
      # Metrics are always on; per-route (detailed) metrics too on this stage.
      - name: prod
        detailed_metrics: true
        access_log: {{destination: '{log}', format: json}}
      - name: cached
        access_log: {{destination: '{log}', format: json}}
        cache:
          cluster_size: 0.01
          status_header: {{name: x-cache}}
      - name: traced
        tracing_enabled: true
        tracing_sample_rate: 0
",
        log = log_path.display()
    );
    let mut snapshot =
        tollgate::config::validate::from_str(Path::new("alloc.yaml"), &yaml).expect("config");
    // As if a custom domain forwarded certificate headers (their spoofs are dropped on every
    // request: that must not allocate either).
    snapshot
        .forwarded_cert_headers
        .push("x-client-cert-subject".into());
    let running = tollgate::runtime::supervisor::start(Arc::new(snapshot), Some(1)).expect("start");
    let addr = running.listeners[0].1;
    let mut client = TcpStream::connect(addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];

    let measure = |client: &mut TcpStream, buf: &mut [u8], req: &[u8]| {
        for _ in 0..500 {
            request(client, req, buf);
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        const N: u64 = 2000;
        for _ in 0..N {
            request(client, req, buf);
        }
        (ALLOCS.load(Ordering::SeqCst) - before) as f64 / N as f64
    };
    let proxied = measure(
        &mut client,
        &mut buf,
        b"GET /prod/small/x?y=1 HTTP/1.1\r\nHost: gw\r\nUser-Agent: t\r\nConnection: keep-alive\r\n\
          X_Client_Cert_Subject: CN=evil\r\nX-Hop: 1\r\nX_Other: 1\r\nConnection: x-hop\r\n\
          Accept: */*\r\n\r\n",
    );
    let mock = measure(
        &mut client,
        &mut buf,
        b"GET /prod/mock HTTP/1.1\r\nHost: gw\r\n\r\n",
    );
    // Stage `cached` serves the same route from its cache after the first request.
    let hit = measure(
        &mut client,
        &mut buf,
        b"GET /cached/small/x HTTP/1.1\r\nHost: gw\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    );
    let n = request(
        &mut client,
        b"GET /cached/small/x HTTP/1.1\r\nHost: gw\r\n\r\n",
        &mut buf,
    );
    assert!(
        buf[..n].windows(12).any(|w| w == b"x-cache: Hit"),
        "the measured requests were not cache hits: {}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Tracing on and not sampled (rate 0; a caller's Sampled=0): the trace headers are
    // parsed, derived and written, nothing allocates.
    let traced = measure(
        &mut client,
        &mut buf,
        b"GET /traced/small/x HTTP/1.1\r\nHost: gw\r\nAccept: */*\r\n\r\n",
    );
    let traced_in = measure(
        &mut client,
        &mut buf,
        b"GET /traced/small/x HTTP/1.1\r\nHost: gw\r\n\
          traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\r\n\
          X-Amzn-Trace-Id: Root=1-0af76519-16cd43dd8448eb211c80319c;Sampled=0;Lineage=a:1\r\n\r\n",
    );
    println!(
        "heap allocations per request: proxied small GET {proxied:.3}, MOCK {mock:.3}, cache hit {hit:.3}, traced unsampled {traced:.3} / {traced_in:.3}"
    );
    drop(client);
    running.shutdown();
    tollgate::observe::access_log::flush(Duration::from_secs(5));
    let logged = std::fs::read_to_string(&log_path).expect("access log");
    let _ = std::fs::remove_dir_all(&log_dir);
    // Every request is logged, or counted as dropped if the writer thread was starved.
    let dropped = tollgate::observe::access_log::lines_dropped();
    assert!(
        logged.lines().count() as u64 + dropped >= 7501,
        "every request is logged: {} line(s), {dropped} dropped",
        logged.lines().count()
    );
    assert!(
        logged.contains("\"status\":\"200\""),
        "{}",
        &logged[..logged.len().min(500)]
    );
    assert_eq!(mock, 0.0, "MOCK requests allocate");
    assert_eq!(hit, 0.0, "cache hits allocate");
    assert_eq!(
        proxied, 0.0,
        "proxied small GETs through a warm pool allocate"
    );
    assert_eq!(traced, 0.0, "unsampled requests on a traced stage allocate");
    assert_eq!(traced_in, 0.0, "requests carrying trace headers allocate");
}
