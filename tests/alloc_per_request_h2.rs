//! Heap allocations per HTTP/2 request in the steady state (h2c, one connection, one stream
//! at a time), counted by a counting global allocator around the whole process. The gateway
//! runs in-process on one worker; the client writes pre-built frames from fixed buffers and
//! the upstream answers from fixed buffers, so what is counted is the gateway's. HTTP/2 is
//! not allocation-free (h2's stream state and header maps, the stream's task, `$context`):
//! the counts are reported and bounded here so they cannot grow unnoticed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Requests the upstream answered.
static UPSTREAM: AtomicU64 = AtomicU64::new(0);
#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

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
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                        UPSTREAM.fetch_add(1, Ordering::SeqCst);
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    port
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Write a frame header into `out[..9]`.
fn frame_header(out: &mut [u8], len: usize, kind: u8, flags: u8, stream: u32) {
    out[..3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    out[3] = kind;
    out[4] = flags;
    out[5..9].copy_from_slice(&stream.to_be_bytes());
}

/// A GET of `path` as one HEADERS frame (END_STREAM | END_HEADERS) in `out`; returns its
/// length. The stream id is patched in per request.
fn get_frame(out: &mut [u8], path: &[u8]) -> usize {
    let mut b = 9;
    for byte in [0x82u8, 0x86, 0x04, path.len() as u8] {
        out[b] = byte;
        b += 1;
    }
    out[b..b + path.len()].copy_from_slice(path);
    b += path.len();
    out[b] = 0x01; // :authority, literal without indexing
    out[b + 1] = 2;
    out[b + 2..b + 4].copy_from_slice(b"gw");
    b += 4;
    frame_header(out, b - 9, 0x1, 0x5, 1);
    b
}

/// Send the request on `stream` and read frames (from a fixed buffer) until that stream's
/// END_STREAM; returns the :status-bearing HEADERS count seen and the DATA bytes.
fn request(c: &mut TcpStream, frame: &mut [u8], len: usize, stream: u32, buf: &mut [u8]) -> usize {
    frame[5..9].copy_from_slice(&stream.to_be_bytes());
    c.write_all(&frame[..len]).expect("write HEADERS");
    let mut have = 0;
    let mut data = 0;
    loop {
        while have >= 9 {
            let flen = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if have < 9 + flen {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let id = u32::from_be_bytes([buf[5] & 0x7f, buf[6], buf[7], buf[8]]);
            assert_ne!(kind, 0x3, "RST_STREAM on stream {id}");
            assert_ne!(kind, 0x7, "GOAWAY");
            if kind == 0x0 && id == stream {
                data += flen;
            }
            let end = id == stream && flags & 0x1 != 0 && (kind == 0x0 || kind == 0x1);
            buf.copy_within(9 + flen..have, 0);
            have -= 9 + flen;
            if end {
                assert_eq!(have, 0, "frames after the end of stream {stream}");
                return data;
            }
        }
        let n = c.read(&mut buf[have..]).expect("read frames");
        assert!(n > 0, "gateway closed the connection");
        have += n;
    }
}

#[test]
fn http2_request_allocations_are_bounded() {
    let upstream = spawn_upstream();
    let yaml = format!(
        "server:
  throttle_reconcile_interval: 1h
  account_throttle: {{rate: 1.0e9, burst: 1.0e9}}
listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: a
    h2c: true
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
      - name: prod
      - name: cached
        cache:
          cluster_size: 0.01
          status_header: {{name: x-cache}}
"
    );
    let snapshot =
        tollgate::config::validate::from_str(Path::new("alloc-h2.yaml"), &yaml).expect("config");
    let running = tollgate::runtime::supervisor::start(Arc::new(snapshot), Some(1)).expect("start");
    let addr = running.listeners[0].1;
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.set_nodelay(true).expect("nodelay");
    // Preface, empty SETTINGS, a SETTINGS ACK for the server's, and a connection window
    // large enough for every response.
    let mut hello = [0u8; 24 + 9 + 9 + 13];
    hello[..24].copy_from_slice(PREFACE);
    frame_header(&mut hello[24..], 0, 0x4, 0, 0);
    frame_header(&mut hello[33..], 0, 0x4, 0x1, 0);
    frame_header(&mut hello[42..], 4, 0x8, 0, 0);
    hello[51..55].copy_from_slice(&(1u32 << 30).to_be_bytes());
    c.write_all(&hello).expect("write preface");
    let mut buf = vec![0u8; 65536];
    let mut frame = [0u8; 128];
    let mut stream = 1u32;

    let mut measure = |path: &[u8]| {
        let len = get_frame(&mut frame, path);
        for _ in 0..300 {
            assert_eq!(request(&mut c, &mut frame, len, stream, &mut buf), 5);
            stream += 2;
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        const N: u64 = 1000;
        for _ in 0..N {
            assert_eq!(request(&mut c, &mut frame, len, stream, &mut buf), 5);
            stream += 2;
        }
        (ALLOCS.load(Ordering::SeqCst) - before) as f64 / N as f64
    };
    let proxied = measure(b"/prod/small/x?y=1");
    let mock = measure(b"/prod/mock");
    let upstream_before = UPSTREAM.load(Ordering::SeqCst);
    let hit = measure(b"/cached/small/x");
    // One miss filled the cache; every other request was a hit.
    assert_eq!(UPSTREAM.load(Ordering::SeqCst) - upstream_before, 1);
    println!(
        "heap allocations per HTTP/2 request: proxied small GET {proxied:.3}, MOCK {mock:.3}, cache hit {hit:.3}"
    );
    drop(c);
    running.shutdown();
    for (what, n) in [("proxied", proxied), ("MOCK", mock), ("cache hit", hit)] {
        assert!(n < 32.0, "{what}: {n} allocations per HTTP/2 request");
    }
}
