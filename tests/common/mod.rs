//! Shared helpers for the integration tests: start the real `tollgate` binary (gateway and
//! demo upstream) on loopback ephemeral ports, a counting raw TCP upstream, and a tiny
//! HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Every spawned process is owned by a guard that kills it on drop (also when a test
//! panics), and every socket read has a timeout so no test can hang.

#![allow(dead_code)]
pub mod moto;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default timeout for one socket read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a process may take to print its "listening"/"ready" lines.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tollgate")
}

/// Run `tollgate ARGS` (stdin empty) to completion: its output.
pub fn run_tollgate(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run tollgate {args:?}: {e}"))
}

/// Run `tollgate ARGS`: (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run tollgate {args:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static FILE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Write `text` to a fresh file under the target's test scratch directory.
pub fn write_temp(name: &str, text: &str) -> TempFile {
    let n = FILE_COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("create CARGO_TARGET_TMPDIR");
    let path = dir.join(format!("{}-{}-{}", std::process::id(), n, name));
    std::fs::write(&path, text).expect("write temp file");
    TempFile { path }
}

/// A file removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ------------------------------------------------------------------ processes

/// A child process killed (and reaped) on drop. Its stdout lines arrive on a channel; its
/// stderr is collected for failure messages.
pub struct Proc {
    pub name: String,
    child: Child,
    lines: Receiver<String>,
    stdout_seen: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// `tollgate ARGS`.
    pub fn spawn(name: &str, args: &[&str]) -> Proc {
        Proc::spawn_program(name, bin(), args)
    }

    /// Any program (e.g. a wrapper that execs `tollgate`; the pid is the wrapper's, which
    /// becomes tollgate's when it execs).
    pub fn spawn_program(name: &str, program: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program} {args:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                seen2
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(line.clone());
                let _ = tx.send(line);
            }
        });
        let err_buf = Arc::new(Mutex::new(Vec::new()));
        let err_buf2 = err_buf.clone();
        let err_reader = std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut chunk = [0u8; 4096];
            loop {
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => err_buf2
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]),
                }
            }
        });
        Proc {
            name: name.to_string(),
            child,
            lines: rx,
            stdout_seen: seen,
            stderr: err_buf,
            readers: vec![out_reader, err_reader],
            exited: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Every stdout line seen so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next stdout line, or `None` at EOF / when `deadline` passes.
    pub fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Wait for the process to exit, up to `timeout`. `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.exited {
            return Some(s);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    self.exited = Some(s);
                    // What it wrote last may still be in the pipes: let the readers reach
                    // EOF (bounded: a child it left behind could hold a pipe open).
                    let until = Instant::now() + Duration::from_secs(2);
                    while Instant::now() < until && self.readers.iter().any(|h| !h.is_finished()) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    return Some(s);
                }
                Ok(None) => {}
                Err(e) => panic!("{}: try_wait: {e}", self.name),
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.wait_timeout(Duration::ZERO).is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The pipes close with the process; the reader threads end on EOF.
        for h in self.readers.drain(..) {
            let _ = h.join();
        }
    }
}

/// `tollgate demo-upstream` on an ephemeral loopback port.
pub struct DemoUpstream {
    pub port: u16,
    pub proc: Proc,
}

impl DemoUpstream {
    pub fn start() -> DemoUpstream {
        let mut proc = Proc::spawn("demo-upstream", &["demo-upstream", "--bind", "127.0.0.1:0"]);
        let deadline = Instant::now() + START_TIMEOUT;
        let prefix = "tollgate demo-upstream: listening http://";
        loop {
            match proc.next_line(deadline) {
                Some(line) => {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let port = parse_port(addr.trim());
                        return DemoUpstream { port, proc };
                    }
                }
                None => panic!(
                    "demo upstream did not report its address; stdout {:?}, stderr:\n{}",
                    proc.stdout_lines(),
                    proc.stderr()
                ),
            }
        }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn parse_port(addr: &str) -> u16 {
    let port = addr.rsplit(':').next().unwrap_or("");
    port.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("cannot parse a port from {addr:?}"))
}

/// `tollgate run --config FILE` on loopback; `port` is the first listener's port.
pub struct Gateway {
    pub proc: Proc,
    pub ports: Vec<(String, u16)>,
    pub port: u16,
    pub workers: usize,
    pub config: TempFile,
}

impl Gateway {
    /// Start with one worker.
    pub fn start(yaml: &str) -> Gateway {
        Gateway::start_with_workers(yaml, 1)
    }

    pub fn start_with_workers(yaml: &str, workers: usize) -> Gateway {
        Gateway::start_with_args(yaml, workers, &[])
    }

    pub fn port_of(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("no listener {name} in {:?}", self.ports))
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// One request on a fresh connection.
    pub fn send(&self, request: &[u8]) -> Response {
        let mut c = self.client();
        c.request(request)
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }
}

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("local addr").port();
    drop(l);
    port
}

// ------------------------------------------------------------------ counting upstream

/// A raw TCP upstream that counts accepted connections and received bytes. It answers
/// anything that looks like a complete request head with a small fixed 200 response, so a
/// gateway that wrongly forwards a request still gets an answer (and the test can see it).
pub struct CountingUpstream {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

pub const COUNTING_BODY: &str = "counting-upstream";

impl CountingUpstream {
    pub fn start() -> CountingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind counting upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, b2, r2, s2) = (
            connections.clone(),
            bytes.clone(),
            received.clone(),
            stop.clone(),
        );
        let acceptor = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        c2.fetch_add(1, Ordering::SeqCst);
                        let (b3, r3, s3) = (b2.clone(), r2.clone(), s2.clone());
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                            let mut seen: Vec<u8> = Vec::new();
                            let mut answered = 0usize;
                            let mut chunk = [0u8; 16384];
                            let started = Instant::now();
                            while !s3.load(Ordering::SeqCst)
                                && started.elapsed() < Duration::from_secs(20)
                            {
                                match stream.read(&mut chunk) {
                                    Ok(0) => break,
                                    Ok(n) => {
                                        b3.fetch_add(n, Ordering::SeqCst);
                                        r3.lock()
                                            .unwrap_or_else(|p| p.into_inner())
                                            .extend_from_slice(&chunk[..n]);
                                        seen.extend_from_slice(&chunk[..n]);
                                        let heads = count_subslice(&seen, b"\r\n\r\n");
                                        while answered < heads {
                                            answered += 1;
                                            let body = COUNTING_BODY;
                                            let resp = format!(
                                                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                                                body.len()
                                            );
                                            let _ = stream.write_all(resp.as_bytes());
                                        }
                                    }
                                    Err(e)
                                        if e.kind() == ErrorKind::WouldBlock
                                            || e.kind() == ErrorKind::TimedOut => {}
                                    Err(_) => break,
                                }
                            }
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        CountingUpstream {
            port,
            connections,
            bytes,
            received,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn count_subslice(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

pub fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------------ HTTP client

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Header (name, value) in order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body came with chunked transfer coding.
    pub chunked: bool,
}

impl Response {
    /// First value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                truncate(&self.body_str(), 500)
            )
        })
    }

    /// Whether the response announces that the connection closes.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// Assert an API Gateway error response: status, exact JSON body, error type header,
    /// request id header.
    #[track_caller]
    pub fn assert_gateway_error(&self, status: u16, message: &str, error_type: &str) {
        assert_eq!(self.status, status, "status; response: {}", self.describe());
        assert_eq!(
            self.body_str(),
            format!("{{\"message\":\"{message}\"}}"),
            "error body; response: {}",
            self.describe()
        );
        assert_eq!(
            self.header("x-amzn-ErrorType"),
            Some(error_type),
            "x-amzn-ErrorType; response: {}",
            self.describe()
        );
        self.assert_request_id();
    }

    #[track_caller]
    pub fn assert_request_id(&self) {
        let id = self
            .header("x-amzn-RequestId")
            .unwrap_or_else(|| panic!("no x-amzn-RequestId header; response: {}", self.describe()));
        assert!(
            is_uuid_like(id),
            "x-amzn-RequestId {id:?} is not a UUID; response: {}",
            self.describe()
        );
    }

    pub fn describe(&self) -> String {
        format!(
            "{} {} {:?} headers {:?} body {:?}",
            self.version,
            self.status,
            self.reason,
            self.headers,
            truncate(&self.body_str(), 300)
        )
    }
}

pub fn is_uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...({} bytes)", &s[..end], s.len())
    }
}

/// Outcome of parsing a response out of a buffer.
pub enum Parsed {
    /// Need more bytes.
    Incomplete,
    /// A response and how many bytes of the buffer it used.
    Done(Response, usize),
}

/// Parse one response from `buf`. `head_only`: the request was HEAD (no body follows).
/// `eof`: no more bytes will come (completes a read-until-close body).
pub fn parse_response(buf: &[u8], head_only: bool, eof: bool) -> Result<Parsed, String> {
    let Some(head_end) = find_subslice(buf, b"\r\n\r\n") else {
        return Ok(Parsed::Incomplete);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| format!("response head is not UTF-8: {:?}", &buf[..head_end]))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        if n.is_empty() || n.contains(' ') {
            return Err(format!("bad header name in {line:?}"));
        }
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    let body_start = head_end + 4;
    if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Parsed::Done(resp, body_start));
    }
    let te = resp
        .header("transfer-encoding")
        .map(str::to_ascii_lowercase);
    if let Some(te) = te {
        if te.trim() != "chunked" {
            return Err(format!("unexpected transfer-encoding {te:?}"));
        }
        resp.chunked = true;
        let mut pos = body_start;
        loop {
            let Some(line_end) = find_subslice(&buf[pos..], b"\r\n") else {
                return Ok(Parsed::Incomplete);
            };
            let line = std::str::from_utf8(&buf[pos..pos + line_end])
                .map_err(|_| "chunk size line is not UTF-8".to_string())?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            pos += line_end + 2;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let Some(end) = find_subslice(&buf[pos..], b"\r\n") else {
                        return Ok(Parsed::Incomplete);
                    };
                    pos += end + 2;
                    if end == 0 {
                        return Ok(Parsed::Done(resp, pos));
                    }
                }
            }
            if buf.len() < pos + size + 2 {
                return Ok(Parsed::Incomplete);
            }
            resp.body.extend_from_slice(&buf[pos..pos + size]);
            if &buf[pos + size..pos + size + 2] != b"\r\n" {
                return Err("chunk data not followed by CRLF".to_string());
            }
            pos += size + 2;
        }
    }
    if let Some(cl) = resp.header("content-length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| format!("bad content-length {cl:?}"))?;
        if buf.len() < body_start + n {
            return Ok(Parsed::Incomplete);
        }
        resp.body = buf[body_start..body_start + n].to_vec();
        return Ok(Parsed::Done(resp, body_start + n));
    }
    // No framing: the body runs until the connection closes.
    if eof {
        resp.body = buf[body_start..].to_vec();
        return Ok(Parsed::Done(resp, buf.len()));
    }
    Ok(Parsed::Incomplete)
}

/// A client connection with a read buffer (for pipelined responses).
pub struct Client {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
    pub eof: bool,
    /// The connection was reset by the peer.
    pub reset: bool,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
        Client::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("write timeout");
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
            reset: false,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write {} bytes: {e}", bytes.len()));
    }

    /// Write, ignoring errors (the server may already have answered and closed).
    pub fn send_lenient(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read more bytes into the buffer; returns how many (0 at EOF). Panics on timeout
    /// with `what` in the message.
    fn fill(&mut self, deadline: Instant, what: &str) -> usize {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "timed out waiting for {what}; received so far: {:?}",
                truncate(&String::from_utf8_lossy(&self.buf), 600)
            );
        }
        self.stream
            .set_read_timeout(Some(left.min(IO_TIMEOUT)))
            .expect("set timeout");
        let mut chunk = vec![0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                0
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!(
                    "timed out waiting for {what}; received so far: {:?}",
                    truncate(&String::from_utf8_lossy(&self.buf), 600)
                )
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                self.reset = true;
                0
            }
            Err(e) => panic!("read error while waiting for {what}: {e}"),
        }
    }

    /// Read the next response (for a non-HEAD request).
    pub fn read_response(&mut self) -> Response {
        self.read_response_within(false, IO_TIMEOUT)
    }

    /// Read the next response to a HEAD request (no body).
    pub fn read_head_response(&mut self) -> Response {
        self.read_response_within(true, IO_TIMEOUT)
    }

    pub fn read_response_within(&mut self, head_only: bool, timeout: Duration) -> Response {
        let deadline = Instant::now() + timeout;
        loop {
            match parse_response(&self.buf, head_only, self.eof) {
                Ok(Parsed::Done(resp, used)) => {
                    self.buf.drain(..used);
                    return resp;
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => panic!(
                    "malformed response: {e}; bytes: {:?}",
                    truncate(&String::from_utf8_lossy(&self.buf), 600)
                ),
            }
            if self.eof {
                panic!(
                    "connection closed before a complete response (reset: {}); received: {:?}",
                    self.reset,
                    truncate(&String::from_utf8_lossy(&self.buf), 600)
                );
            }
            self.fill(deadline, "a response");
        }
    }

    /// Send a request and read its response.
    pub fn request(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// Read until the peer closes (EOF or reset) or `timeout` passes. Returns the bytes
    /// received (including any still buffered) and whether the connection was closed.
    pub fn read_to_eof(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set timeout");
            let mut chunk = vec![0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    break
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    self.reset = true;
                }
                Err(_) => {
                    self.eof = true;
                }
            }
        }
        (std::mem::take(&mut self.buf), self.eof)
    }

    /// Assert the server closes the connection (within `timeout`) without sending any
    /// further bytes.
    #[track_caller]
    pub fn assert_closed(&mut self, timeout: Duration) {
        let (rest, closed) = self.read_to_eof(timeout);
        assert!(
            closed,
            "connection still open after {timeout:?} (expected the server to close it)"
        );
        assert!(
            rest.is_empty(),
            "unexpected bytes before close: {:?}",
            truncate(&String::from_utf8_lossy(&rest), 300)
        );
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Send `bytes` on a fresh connection and read until the server closes it (or `timeout`).
/// Returns the parsed first response (if any), the raw bytes and whether it was closed.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> RawOutcome {
    let mut c = Client::connect(port);
    // The server may answer and close before reading everything: ignore write errors.
    let _ = c.send_lenient(bytes);
    let (raw, closed) = c.read_to_eof(timeout);
    let response = match parse_response(&raw, false, closed) {
        Ok(Parsed::Done(r, used)) => Some((r, used)),
        _ => None,
    };
    let (response, trailing) = match response {
        Some((r, used)) => (Some(r), raw[used..].to_vec()),
        None => (None, Vec::new()),
    };
    RawOutcome {
        raw,
        closed,
        response,
        trailing,
    }
}

pub struct RawOutcome {
    pub raw: Vec<u8>,
    pub closed: bool,
    pub response: Option<Response>,
    /// Bytes after the first response.
    pub trailing: Vec<u8>,
}

impl RawOutcome {
    #[track_caller]
    pub fn response(&self) -> &Response {
        self.response.as_ref().unwrap_or_else(|| {
            panic!(
                "no complete HTTP response (closed: {}); raw bytes: {:?}",
                self.closed,
                truncate(&String::from_utf8_lossy(&self.raw), 600)
            )
        })
    }

    /// Assert: exactly one response with `status`, then the connection closed.
    #[track_caller]
    pub fn assert_status_and_closed(&self, status: u16) {
        let r = self.response();
        assert_eq!(r.status, status, "status; response: {}", r.describe());
        assert!(
            self.closed,
            "connection was not closed after the {status} response: {}",
            r.describe()
        );
        assert!(
            self.trailing.is_empty(),
            "bytes after the {status} response: {:?}",
            truncate(&String::from_utf8_lossy(&self.trailing), 300)
        );
    }
}

// ------------------------------------------------------------------ request building

/// Build a request. A `Host` header is added unless one is given; a Content-Length header
/// is added for a non-empty body unless Content-Length or Transfer-Encoding is given.
pub fn req(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    if !has("host") {
        out.push_str("Host: gateway.test\r\n");
    }
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn get(target: &str) -> Vec<u8> {
    req("GET", target, &[], b"")
}

/// Encode `body` with chunked transfer coding using the given chunk sizes (cycled).
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 100 + 64);
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let n = sizes[i % sizes.len()].max(1).min(body.len() - pos);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&body[pos..pos + n]);
        out.extend_from_slice(b"\r\n");
        pos += n;
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Deterministic pseudo-random bytes.
pub fn pattern_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The demo upstream's `x-echo-size` body: `n` bytes of a..z repeating.
pub fn echo_size_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A JSON string field of a demo-upstream echo.
#[track_caller]
pub fn jstr<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or_else(|| {
        panic!(
            "echo has no string field {key:?}: {}",
            truncate(&v.to_string(), 500)
        )
    })
}

/// A header the demo upstream received (names are lower-cased by the echo).
pub fn echoed_header<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    v.get("headers")
        .and_then(|h| h.get(name))
        .and_then(|x| x.as_str())
}

/// Wait until `f` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------------ scripted upstream

/// What a [`ScriptedUpstream`] does after answering a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Keep the connection open for more requests.
    KeepOpen,
    /// Close the connection right after the answer.
    Close,
    /// Keep it open, but close it once it has been idle this long (an upstream keep-alive
    /// timeout, without any `Connection: close`).
    CloseWhenIdle(Duration),
}

/// A raw TCP upstream that answers every request (head plus a Content-Length body) with the
/// same bytes, then does what `after` says. Records the requests it read.
pub struct ScriptedUpstream {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl ScriptedUpstream {
    pub fn start(response: &[u8], after: After) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind scripted upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let response = response.to_vec();
        let (c2, r2, s2) = (connections.clone(), requests.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        c2.fetch_add(1, Ordering::SeqCst);
                        let (r3, s3, resp) = (r2.clone(), s2.clone(), response.clone());
                        std::thread::spawn(move || scripted_conn(stream, &resp, after, &r3, &s3));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ScriptedUpstream {
            port,
            connections,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// The first complete request in `buf` (head and Content-Length body), removed from it;
/// `None` while it is incomplete.
fn take_request(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = find_subslice(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let body_len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if buf.len() < end + 4 + body_len {
        return None;
    }
    Some(buf.drain(..end + 4 + body_len).collect())
}

fn scripted_conn(
    mut stream: TcpStream,
    response: &[u8],
    after: After,
    requests: &Mutex<Vec<Vec<u8>>>,
    stop: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let tick = Duration::from_millis(20);
    let _ = stream.set_read_timeout(Some(tick));
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut idle_since = Instant::now();
    let mut answered_once = false;
    let mut chunk = [0u8; 16384];
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(20) {
        // Answer every complete request in the buffer.
        while let Some(request) = take_request(&mut buf) {
            requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(request);
            if stream.write_all(response).is_err() {
                return;
            }
            answered_once = true;
            idle_since = Instant::now();
            if after == After::Close {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        if let After::CloseWhenIdle(limit) = after {
            if answered_once && idle_since.elapsed() >= limit {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                idle_since = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

// ------------------------------------------------------------------ HTTPS listeners

impl Gateway {
    /// Like [`Gateway::start_with_workers`], with extra `run` arguments (e.g. `--pid-file F`),
    /// and accepting both `http://` and `https://` listening lines (TLS listeners print
    /// `tollgate: listening NAME https://127.0.0.1:PORT`).
    pub fn start_with_args(yaml: &str, workers: usize, extra: &[&str]) -> Gateway {
        let config = write_temp("gateway.yaml", yaml);
        let workers_s = workers.to_string();
        let config_s = config.display();
        let mut args = vec![
            "run",
            "--config",
            config_s.as_str(),
            "--workers",
            workers_s.as_str(),
        ];
        args.extend_from_slice(extra);
        let proc = Proc::spawn("gateway", &args);
        Gateway::ready(proc, config, yaml, workers, "gateway")
    }

    /// Wait (up to START_TIMEOUT) until `proc`, a starting `tollgate run`, printed its
    /// listening lines and `ready`; `what` names it in the failure message.
    fn ready(mut proc: Proc, config: TempFile, yaml: &str, workers: usize, what: &str) -> Gateway {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut ports = Vec::new();
        loop {
            match proc.next_line(deadline) {
                Some(line) => {
                    if let Some(rest) = line.strip_prefix("tollgate: listening ") {
                        let (name, url) = rest
                            .split_once(' ')
                            .unwrap_or_else(|| panic!("bad listening line {line:?}"));
                        let addr = url
                            .strip_prefix("https://")
                            .or_else(|| url.strip_prefix("http://"))
                            .unwrap_or_else(|| panic!("bad listening line {line:?}"));
                        ports.push((name.to_string(), parse_port(addr)));
                    } else if line.starts_with("tollgate: ready with ") {
                        break;
                    }
                }
                None => panic!(
                    "{what} did not become ready; stdout {:?}, stderr:\n{}\nconfig:\n{yaml}",
                    proc.stdout_lines(),
                    proc.stderr()
                ),
            }
        }
        assert!(!ports.is_empty(), "gateway printed no listening line");
        let port = ports[0].1;
        Gateway {
            proc,
            ports,
            port,
            workers,
            config,
        }
    }
}

// ---- lifecycle probes helpers (issue 10 item 11)

/// A raw TCP upstream that holds every request until [`HeldUpstream::release`]: it reads each
/// request (head and Content-Length body), records it, and answers `response` only once
/// released (at once for requests after that). Tests wait on what it counts (requests
/// received, connections the peer closed) instead of sleeping.
pub struct HeldUpstream {
    pub port: u16,
    state: Arc<HeldState>,
    acceptor: Option<JoinHandle<()>>,
}

struct HeldState {
    response: Vec<u8>,
    released: AtomicBool,
    stop: AtomicBool,
    requests: Mutex<Vec<Vec<u8>>>,
    connections: AtomicUsize,
    peer_closed: AtomicUsize,
}

impl HeldUpstream {
    pub fn start(response: &[u8]) -> HeldUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind held upstream");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(HeldState {
            response: response.to_vec(),
            released: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            peer_closed: AtomicUsize::new(0),
        });
        let st = state.clone();
        let acceptor = std::thread::spawn(move || {
            while !st.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        st.connections.fetch_add(1, Ordering::SeqCst);
                        let st2 = st.clone();
                        std::thread::spawn(move || held_conn(stream, &st2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        HeldUpstream {
            port,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Answer the requests held so far and every later one at once.
    pub fn release(&self) {
        self.state.released.store(true, Ordering::SeqCst);
    }

    /// Complete requests received so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until `n` complete requests have arrived; whether they did within `timeout`.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.requests().len() >= n)
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Connections the gateway closed (EOF or reset seen by the upstream).
    pub fn peer_closed(&self) -> usize {
        self.state.peer_closed.load(Ordering::SeqCst)
    }
}

impl Drop for HeldUpstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn held_conn(mut stream: TcpStream, st: &HeldState) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(10)));
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut pending = 0usize;
    let mut chunk = [0u8; 16384];
    while !st.stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
        while let Some(request) = take_request(&mut buf) {
            st.requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(request);
            pending += 1;
        }
        if pending > 0 && st.released.load(Ordering::SeqCst) {
            for _ in 0..pending {
                if stream.write_all(&st.response).is_err() {
                    st.peer_closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            pending = 0;
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                st.peer_closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => {
                st.peer_closed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

/// Count of `marker` in the gateway's stderr reaching `n` within `timeout`.
#[track_caller]
pub fn wait_log(gw: &Gateway, marker: &str, n: usize, timeout: Duration) {
    let ok = wait_until(timeout, || gw.stderr().matches(marker).count() >= n);
    assert!(
        ok,
        "the gateway did not log {marker:?} {n} time(s) within {timeout:?}; stderr:\n{}",
        gw.stderr()
    );
}

impl Proc {
    /// Wait until the process's stdout and stderr reached EOF and were read whole (after it
    /// exited), instead of guessing how long the reader threads need.
    #[track_caller]
    pub fn wait_output_closed(&mut self, timeout: Duration) {
        let done = wait_until(timeout, || self.readers.iter().all(|h| h.is_finished()));
        assert!(
            done,
            "{}: stdout/stderr still open {timeout:?} after waiting",
            self.name
        );
    }
}

impl Gateway {
    /// `WRAPPER... tollgate run --config FILE --workers N`: the wrapper must exec its
    /// arguments (e.g. `unshare -m sh -c '...; exec "$@"'`).
    pub fn start_wrapped(yaml: &str, workers: usize, wrapper: &[&str]) -> Gateway {
        let config = write_temp("gateway.yaml", yaml);
        let workers_s = workers.to_string();
        let config_s = config.display();
        let mut args: Vec<&str> = wrapper[1..].to_vec();
        args.extend_from_slice(&[
            bin(),
            "run",
            "--config",
            config_s.as_str(),
            "--workers",
            workers_s.as_str(),
        ]);
        let proc = Proc::spawn_program("gateway", wrapper[0], &args);
        Gateway::ready(proc, config, yaml, workers, "wrapped gateway")
    }
}

// ---- scripted-upstream config (core_upstream, probe_response)

/// A config with one listener `public` whose API `u` proxies `ANY /up/{proxy+}` to a raw
/// upstream on 127.0.0.1:`up_port` (2 s timeout) and answers `GET /mock` itself, on stage
/// `prod`; `extra_routes` (YAML route items at the routes' indentation) follow those two.
pub fn scripted_upstream_config(up_port: u16, extra_routes: &str) -> String {
    format!(
        "listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: u
apis:
  - id: u
    routes:
      - route: ANY /up/{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{up_port}/{{proxy}}
          timeout: 2s
      - route: GET /mock
        integration:
          type: MOCK
          body: mocked
{extra_routes}    stages:
      - name: prod
"
    )
}

// ---- catch-all proxy config (core_http, probe_framing)

/// `limits` (top-level YAML lines, or empty), then one listener `public` whose API `g`
/// proxies `ANY /{proxy+}` to 127.0.0.1:`port` (2 s timeout), on stage `prod`;
/// `extra_routes` (YAML route items at the routes' indentation) follow that route.
pub fn catch_all_proxy_config(limits: &str, port: u16, extra_routes: &str) -> String {
    format!(
        "{limits}listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: g
apis:
  - id: g
    routes:
      - route: ANY /{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:{port}/{{proxy}}
          timeout: 2s
{extra_routes}    stages:
      - name: prod
"
    )
}
