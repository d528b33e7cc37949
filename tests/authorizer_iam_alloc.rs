//! Heap allocations per SigV4-signed request through an `AWS_IAM` route in the steady
//! state (verification, body buffering and hashing, the identity policy), counted by a
//! counting global allocator around the whole process, as tests/alloc_per_request.rs does.
//! The gateway runs in-process on one worker; the client and the upstream use fixed
//! buffers, so what is counted during the measured requests is the gateway's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[path = "common/raw_client.rs"]
mod raw_client;
use counting_alloc::ALLOCS;
use raw_client::{request, response_len};

use tollgate::auth::sigv4::{
    payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings,
};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A verified request allocates nothing: its `$context.identity` values are shared with the
/// principal (an `Arc`), and a buffered body is lent to the upstream write, not copied.
const ALLOWED: f64 = 0.0;

/// A keep-alive upstream answering every request (head and Content-Length body) with a
/// fixed small response.
fn spawn_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                let mut have = 0;
                loop {
                    match s.read(&mut buf[have..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    while let Some(total) = response_len(&buf[..have]).or_else(|| {
                        // A request without a body: its head alone.
                        let end = buf[..have].windows(4).position(|w| w == b"\r\n\r\n")? + 4;
                        Some(end)
                    }) {
                        if have < total {
                            break;
                        }
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                        buf.copy_within(total..have, 0);
                        have -= total;
                    }
                }
            });
        }
    });
    port
}

/// A request signed now by `AKID`, with `body`.
fn signed(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let headers: [(&[u8], &[u8]); 2] = [(b"host", b"gw"), (b"content-type", b"text/plain")];
    let req = RequestParts::new(method, target, "", &headers);
    let s = Signer::new().sign(
        &req,
        &payload_sha256(body),
        &SigningParams {
            credentials: Credentials {
                access_key_id: AKID,
                secret_access_key: SECRET,
                session_token: None,
            },
            region: "us-east-1",
            service: "execute-api",
            time: SystemTime::now(),
            settings: SigningSettings::default(),
        },
    );
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: gw\r\ncontent-type: text/plain\r\n");
    for (n, v) in s.headers() {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn a_verified_request_allocates_only_its_identity() {
    let upstream = spawn_upstream();
    let dir = std::env::temp_dir().join(format!("tollgate-iam-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET).expect("secret");
    let yaml = format!(
        "server:
  throttle_reconcile_interval: 1h
  account_throttle: {{rate: 1.0e9, burst: 1.0e9}}
listeners:
  - {{name: main, bind: 127.0.0.1:0, default_api: a}}
apis:
  - id: a
    routes:
      - route: GET /pets
        authorization_type: AWS_IAM
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{upstream}/pets'}}
      - route: POST /pets
        authorization_type: AWS_IAM
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{upstream}/pets'}}
    stages: [{{name: prod}}]
iam:
  principals:
    - access_key_id: {AKID}
      secret_access_key_file: '{secret}'
      arn: arn:aws:iam::123456789012:user/alice
      policies:
        - Statement:
            - {{Effect: Deny, Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:*:*:a/prod/DELETE/*'}}
            - {{Effect: Allow, Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:us-east-1:123456789012:a/prod/*/pets'}}
",
        secret = secret.display()
    );
    let snapshot =
        tollgate::config::validate::from_str(Path::new("alloc.yaml"), &yaml).expect("config");
    let running = tollgate::runtime::supervisor::start(Arc::new(snapshot), Some(1)).expect("start");
    let addr = running.listeners[0].1;
    let mut client = TcpStream::connect(addr).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];

    let measure = |client: &mut TcpStream, buf: &mut [u8], req: &[u8]| {
        for _ in 0..300 {
            request(client, req, buf);
        }
        let before = ALLOCS.load(Ordering::SeqCst);
        const N: u64 = 1500;
        for _ in 0..N {
            request(client, req, buf);
        }
        (ALLOCS.load(Ordering::SeqCst) - before) as f64 / N as f64
    };
    let get = signed("GET", "/prod/pets", b"");
    let post = signed("POST", "/prod/pets", &[b'x'; 4000]);
    let get_allocs = measure(&mut client, &mut buf, &get);
    let post_allocs = measure(&mut client, &mut buf, &post);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "allocations per signed request: GET {get_allocs}, POST (4000-byte body) {post_allocs}"
    );
    assert!(
        get_allocs <= ALLOWED,
        "a signed GET allocates {get_allocs} times"
    );
    assert!(
        post_allocs <= ALLOWED,
        "a signed POST allocates {post_allocs} times"
    );
}
