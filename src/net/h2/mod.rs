//! HTTP/2 downstream: one client connection served by the `h2` crate (hyper's HTTP/2, with
//! the 2023-24 denial-of-service fixes), on monoio through its `poll-io` feature.
//!
//! Why this shape: `h2` is poll-based (tokio's `AsyncRead`/`AsyncWrite`) and needs no tokio
//! runtime, only those traits. monoio's `TcpStream::try_into_poll_io()` gives a socket with
//! them. TLS: the handshake stays ours (`tls_accept`: SNI -> custom domain, mutual TLS,
//! session stores, ALPN); the finished `rustls::ServerConnection` and the socket then move
//! into [`TlsPoll`], a small poll-based adapter (rustls' `read_tls`/`write_tls` over the
//! poll socket), with any ciphertext already read but not yet decrypted carried over.
//! tokio-rustls cannot adopt a connection that finished its handshake elsewhere, and
//! monoio-rustls is reported to panic under h2.
//!
//! What a connection gets:
//! - SETTINGS: `max_concurrent_streams` (128; more open streams are refused with
//!   RST_STREAM(REFUSED_STREAM)), `max_header_list_size` (the HTTP/1.1 head limit, API
//!   Gateway's 10240 bytes; a larger request head is answered `431` by h2 and the stream
//!   reset), initial windows of 256 KiB per stream and 1 MiB per connection.
//! - Rapid reset (CVE-2023-44487): at most 20 peer-reset streams waiting to be accepted and
//!   1024 streams reset for the peer's errors (h2's limits), and at most
//!   `max_concurrent_streams` streams reset after they were accepted while their handler
//!   still runs ([`ResetWatch`]: a reset frees the peer's slot, not our work); past any of
//!   them, GOAWAY(ENHANCE_YOUR_CALM). Locally reset streams are remembered for at most
//!   50 / 1 s.
//! - CONTINUATION floods: h2 caps the CONTINUATION frames of one header block (derived from
//!   the header list size: 5 here) and closes with GOAWAY(ENHANCE_YOUR_CALM); HPACK bombs:
//!   the decoded header list is bounded by `max_header_list_size` and the dynamic table by
//!   the default 4096-byte SETTINGS_HEADER_TABLE_SIZE; small-DATA-frame floods by h2's data
//!   frame budget.
//! - Stalls: a stream waiting for send window (the peer never sends WINDOW_UPDATE) longer
//!   than `send_timeout` is reset with RST_STREAM(CANCEL) ([`send_body`]); a
//!   connection whose socket accepts no bytes for `send_timeout` is closed; a connection with
//!   no open stream for `idle_timeout` gets GOAWAY(NO_ERROR).
//! - Drain: when the drain signal fires, GOAWAY (h2's graceful shutdown: a GOAWAY, a PING
//!   round trip, the final GOAWAY with the last stream id); in-flight streams finish, new
//!   ones are refused; a peer that does not let the shutdown end within `goaway_grace` is
//!   closed.
//! - Fairness: monoio has no task budget, so the connection's I/O is metered
//!   ([`Budgeted`]): after `IO_OPS_PER_POLL` reads and writes in one poll the task yields.
//! - Each accepted stream runs on its own monoio task, so the streams of one connection run
//!   concurrently; the handler is generic ([`StreamHandler`]). The gateway's handler
//!   (`runtime::worker`) runs each stream through the pipeline as a [`session::H2Session`].

use std::cell::Cell;
use std::future::Future;

use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use monoio::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

pub mod session;
mod stream_io;

use stream_io::IoState;
pub use stream_io::{Budgeted, Prefixed, TlsPoll};

/// The client connection preface (RFC 9113 section 3.4) an h2c client with prior knowledge
/// starts with.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads and writes one connection task may do in one poll before it yields.
pub const IO_OPS_PER_POLL: u32 = 32;

/// How an HTTP/2 connection is run.
#[derive(Debug, Clone)]
pub struct H2Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (decoded names and values plus 32 bytes per field).
    pub max_header_list_size: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE (per stream, for request bodies).
    pub initial_stream_window: u32,
    /// The connection's receive window.
    pub initial_connection_window: u32,
    /// Preface and SETTINGS exchange must finish within this.
    pub handshake_timeout: Duration,
    /// No progress writing (socket, or a stream's send window) for this long ends it.
    pub send_timeout: Duration,
    /// A connection with no open stream this long is sent GOAWAY.
    pub idle_timeout: Duration,
    /// After GOAWAY, how long the peer has to finish its streams and close.
    pub goaway_grace: Duration,
    /// Peer-reset streams waiting to be accepted before GOAWAY(ENHANCE_YOUR_CALM).
    pub max_pending_accept_reset_streams: usize,
    /// Streams reset for the peer's protocol errors before GOAWAY(ENHANCE_YOUR_CALM).
    pub max_local_error_reset_streams: usize,
    /// Data a stream may have queued for sending before it waits.
    pub max_send_buffer_size: usize,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_concurrent_streams: 128,
            max_header_list_size: 10240,
            initial_stream_window: 256 * 1024,
            initial_connection_window: 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            goaway_grace: Duration::from_secs(30),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_send_buffer_size: 256 * 1024,
        }
    }
}

impl H2Config {
    /// The settings for a configuration's HTTP limits: the header list is bounded by the
    /// head limit (`max_head_bytes`), the handshake by `header_read_timeout`, stalls (a
    /// stream's send window, a request body, the socket) by `body_read_timeout`, idle
    /// connections by `keepalive_timeout`.
    pub fn from_limits(limits: &crate::http::limits::HttpLimits) -> Self {
        H2Config {
            max_header_list_size: u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX),
            handshake_timeout: limits.header_read_timeout,
            send_timeout: limits.body_read_timeout,
            idle_timeout: limits.keepalive_timeout,
            ..H2Config::default()
        }
    }
}

/// Why a connection ended (for logs and tests).
#[derive(Debug)]
pub enum Ended {
    /// Closed cleanly (peer closed, idle GOAWAY, drain GOAWAY finished).
    Closed,
    /// The preface or SETTINGS exchange failed or took too long.
    Handshake(String),
    /// A protocol error or an attack defence closed it (GOAWAY sent with the reason).
    Error(h2::Error),
    /// The socket accepted no bytes for `send_timeout`.
    WriteStalled,
    /// After GOAWAY the peer kept its streams open past `goaway_grace`.
    GoawayTimedOut,
}

/// What one connection's streams share with it.
#[derive(Debug)]
struct ConnShared {
    send_timeout: Duration,
    /// Streams the peer reset while their handler still runs (its work goes on: the
    /// pipeline is not cancelled mid-exchange). Resets free the peer's stream slots, so
    /// these are bounded separately: past `max_concurrent_streams` of them the connection
    /// gets GOAWAY(ENHANCE_YOUR_CALM) (rapid reset of accepted streams).
    orphans: Cell<u32>,
}

/// Watches one stream for the peer's RST_STREAM while its handler runs, counting it among
/// the connection's orphaned streams until dropped.
pub struct ResetWatch {
    respond: Rc<std::cell::RefCell<SendResponse<Bytes>>>,
    shared: Rc<ConnShared>,
    counted: bool,
}

impl ResetWatch {
    /// Note a reset by the peer (registers the waker otherwise). Call while the handler's
    /// work is pending.
    pub fn poll(&mut self, cx: &mut Context<'_>) {
        if self.counted {
            return;
        }
        let Ok(mut respond) = self.respond.try_borrow_mut() else {
            return;
        };
        if respond.poll_reset(cx).is_ready() {
            self.counted = true;
            self.shared.orphans.set(self.shared.orphans.get() + 1);
        }
    }

    /// Whether the peer reset the stream.
    pub fn was_reset(&self) -> bool {
        self.counted
    }
}

impl Drop for ResetWatch {
    fn drop(&mut self) {
        if self.counted {
            self.shared
                .orphans
                .set(self.shared.orphans.get().saturating_sub(1));
        }
    }
}

/// Run `work` (a stream's handler) while watching for the peer's reset of the stream.
pub async fn watching<F: Future>(watch: &mut ResetWatch, work: F) -> F::Output {
    let mut work = pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        watch.poll(cx);
        Poll::Pending
    })
    .await
}

/// One request stream, handed to the [`StreamHandler`] on its own task.
pub struct H2Stream {
    pub request: http::Request<RecvStream>,
    pub respond: SendResponse<Bytes>,
    shared: Rc<ConnShared>,
}

impl H2Stream {
    /// How long a send may wait for window before the stream is reset.
    pub fn send_timeout(&self) -> Duration {
        self.shared.send_timeout
    }

    /// Read and drop the request body (giving its window back), each read bounded by
    /// `send_timeout`; stops after `limit` bytes. `Err` when the peer reset the stream, the
    /// body stalled or passed the limit.
    pub async fn discard_body(&mut self, limit: usize) -> Result<(), StreamError> {
        let timeout = self.shared.send_timeout;
        let body = self.request.body_mut();
        let mut seen = 0usize;
        loop {
            let next = match monoio::time::timeout(timeout, body.data()).await {
                Ok(next) => next,
                Err(_) => return Err(StreamError::Stalled),
            };
            match next {
                None => return Ok(()),
                Some(Ok(chunk)) => {
                    seen = seen.saturating_add(chunk.len());
                    let _ = body.flow_control().release_capacity(chunk.len());
                    if seen > limit {
                        return Err(StreamError::TooLarge);
                    }
                }
                Some(Err(e)) => return Err(StreamError::H2(e)),
            }
        }
    }

    /// Send a whole response: its head, then `body` (if any) within the peer's windows.
    pub async fn send_full(
        &mut self,
        response: http::Response<()>,
        body: Bytes,
    ) -> Result<(), StreamError> {
        let end = body.is_empty();
        let mut send = self
            .respond
            .send_response(response, end)
            .map_err(StreamError::H2)?;
        if !end {
            send_body(&mut send, body, true, self.shared.send_timeout).await?;
        }
        Ok(())
    }
}

/// Why a stream's response could not be completed.
#[derive(Debug)]
pub enum StreamError {
    /// h2 reported an error (the peer reset the stream, the connection went away, ...).
    H2(h2::Error),
    /// The peer opened no window (or sent no body byte) for `send_timeout`: the stream was
    /// reset with CANCEL.
    Stalled,
    /// The request body passed the limit.
    TooLarge,
}

/// Send `data` on `send` as the peer's flow-control windows allow; waiting more than
/// `timeout` for window resets the stream with RST_STREAM(CANCEL) (a zero-window peer
/// cannot hold the stream, or the data queued for it, forever).
pub async fn send_body(
    send: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    timeout: Duration,
) -> Result<(), StreamError> {
    if data.is_empty() {
        if end {
            send.send_data(data, true).map_err(StreamError::H2)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let cap = std::future::poll_fn(|cx| send.poll_capacity(cx));
        let cap = match monoio::time::timeout(timeout, cap).await {
            Ok(Some(Ok(n))) => n,
            Ok(Some(Err(e))) => return Err(StreamError::H2(e)),
            Ok(None) => {
                // The stream is gone (reset by the peer).
                return Err(match std::future::poll_fn(|cx| send.poll_reset(cx)).await {
                    Ok(reason) => StreamError::H2(reason.into()),
                    Err(e) => StreamError::H2(e),
                });
            }
            Err(_) => {
                send.send_reset(Reason::CANCEL);
                return Err(StreamError::Stalled);
            }
        };
        if cap == 0 {
            continue;
        }
        let chunk = data.split_to(cap.min(data.len()));
        let last = end && data.is_empty();
        send.send_data(chunk, last).map_err(StreamError::H2)?;
    }
    Ok(())
}

/// Runs one stream. Its future runs on its own task, so it must own what it uses.
pub trait StreamHandler: 'static {
    type Fut: Future<Output = ()> + 'static;
    fn call(&self, stream: H2Stream) -> Self::Fut;
}

impl<F, Fut> StreamHandler for F
where
    F: Fn(H2Stream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    type Fut = Fut;
    fn call(&self, stream: H2Stream) -> Fut {
        self(stream)
    }
}

/// Connection events (accepted streams, timer checks) handled in a row before the task
/// yields.
const EVENTS_PER_YIELD: u32 = 64;

/// Return `Pending` once (waking at once): the task goes to the back of the run queue.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Poll `fut` with a fresh I/O budget on every poll.
async fn with_budget<F: Future>(state: &IoState, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        state.budget.set(IO_OPS_PER_POLL);
        fut.as_mut().poll(cx)
    })
    .await
}

// Moved once per stream, straight into the stream's task: boxing would only add an
// allocation per stream.
#[allow(clippy::large_enum_variant)]
enum Event {
    Stream(http::Request<RecvStream>, SendResponse<Bytes>),
    Ended(Ended),
    Timer,
}

/// Serve one HTTP/2 connection on `io` (a socket, or [`TlsPoll`], positioned at the client
/// preface) until it closes. `drain` resolves when the worker starts draining: the
/// connection then says GOAWAY and finishes its streams. Each stream goes to `handler` on
/// its own task.
pub async fn serve<IO, D, H>(io: IO, cfg: &H2Config, drain: D, handler: H) -> Ended
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
    D: Future<Output = ()>,
    H: StreamHandler,
{
    let state = Rc::new(IoState::default());
    let io = Budgeted {
        inner: io,
        state: state.clone(),
    };
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .max_header_list_size(cfg.max_header_list_size)
        .initial_window_size(cfg.initial_stream_window)
        .initial_connection_window_size(cfg.initial_connection_window)
        .max_pending_accept_reset_streams(cfg.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(cfg.max_local_error_reset_streams))
        .max_send_buffer_size(cfg.max_send_buffer_size);
    let handshake = with_budget(&state, builder.handshake::<_, Bytes>(io));
    let mut conn = match monoio::time::timeout(cfg.handshake_timeout, handshake).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Ended::Handshake(e.to_string()),
        Err(_) => return Ended::Handshake("timed out".into()),
    };
    let shared = Rc::new(ConnShared {
        send_timeout: cfg.send_timeout,
        orphans: Cell::new(0),
    });
    let handler = Rc::new(handler);
    let mut drain = pin!(drain);
    let mut draining = false;
    let mut goaway_at: Option<Instant> = None;
    let mut idle_since: Option<Instant> = Some(Instant::now());
    let far = Duration::from_secs(3600);
    let mut timer = pin!(monoio::time::sleep(far));
    let mut ready_in_a_row = 0u32;
    loop {
        let mut pended = false;
        let event = std::future::poll_fn(|cx| {
            state.budget.set(IO_OPS_PER_POLL);
            if !draining && drain.as_mut().poll(cx).is_ready() {
                draining = true;
            }
            if draining && goaway_at.is_none() {
                conn.graceful_shutdown();
                goaway_at = Some(Instant::now());
            }
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    return Poll::Ready(Event::Stream(req, respond))
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Event::Ended(Ended::Error(e))),
                Poll::Ready(None) => return Poll::Ready(Event::Ended(Ended::Closed)),
                Poll::Pending => {}
            }
            // Arm the timer for the nearest deadline.
            let now = Instant::now();
            if conn.has_streams() {
                idle_since = None;
            } else if idle_since.is_none() {
                idle_since = Some(now);
            }
            let mut deadline = now + far;
            match (idle_since, goaway_at) {
                (Some(t), None) => deadline = deadline.min(t + cfg.idle_timeout),
                (_, Some(t)) => deadline = deadline.min(t + cfg.goaway_grace),
                (None, None) => {}
            }
            if let Some(t) = state.write_blocked_since.get() {
                deadline = deadline.min(t + cfg.send_timeout);
            }
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Event::Timer),
                Poll::Pending => {
                    pended = true;
                    Poll::Pending
                }
            }
        })
        .await;
        // Events that were ready at once do not make the task yield: after a bounded run
        // of them, let the worker's other tasks (and its I/O driver) run.
        if pended {
            ready_in_a_row = 0;
        }
        ready_in_a_row += 1;
        if ready_in_a_row >= EVENTS_PER_YIELD {
            ready_in_a_row = 0;
            yield_now().await;
        }
        match event {
            Event::Stream(request, mut respond) => {
                idle_since = None;
                if shared.orphans.get() > cfg.max_concurrent_streams {
                    // Rapid reset of accepted streams: their work is still running.
                    respond.send_reset(Reason::REFUSED_STREAM);
                    conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                    continue;
                }
                let stream = H2Stream {
                    request,
                    respond,
                    shared: shared.clone(),
                };
                monoio::spawn(handler.call(stream));
            }
            Event::Ended(how) => return how,
            Event::Timer => {
                let now = Instant::now();
                if let Some(t) = state.write_blocked_since.get() {
                    if now >= t + cfg.send_timeout {
                        return Ended::WriteStalled;
                    }
                }
                if let Some(t) = goaway_at {
                    if now >= t + cfg.goaway_grace {
                        return Ended::GoawayTimedOut;
                    }
                }
                if let Some(t) = idle_since {
                    if now >= t + cfg.idle_timeout && goaway_at.is_none() {
                        conn.graceful_shutdown();
                        goaway_at = Some(now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_limits() {
        let c = H2Config::default();
        assert_eq!(c.max_concurrent_streams, 128);
        assert_eq!(c.max_header_list_size, 10240);
        assert_eq!(c.max_pending_accept_reset_streams, 20);
    }

    /// A small checksum for the large-body round trip (FNV-1a, 64 bit).
    fn fnv(data: &[u8], mut h: u64) -> u64 {
        for b in data {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h
    }
    const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
            .collect()
    }

    /// The TLS adapter and flow control, end to end with curl: a 3 MiB request body read
    /// and checksummed by the handler while a 5 MiB response body goes back, over TLS 1.3
    /// with ALPN h2, on the driver the workers use.
    #[test]
    fn tls_poll_carries_large_bodies_both_ways() {
        use std::process::{Command, Stdio};
        let dir = std::env::temp_dir().join(format!("tollgate-h2-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let gen = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/gen.sh");
        let out = Command::new(gen)
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run certs/gen.sh (needs openssl: make test-deps)");
        assert!(out.status.success(), "certs/gen.sh: {out:?}");
        let certs: Vec<_> = rustls_pemfile::certs(
            &mut &std::fs::read(dir.join("server.pem")).expect("server.pem")[..],
        )
        .collect::<Result<_, _>>()
        .expect("certs");
        let key = rustls_pemfile::private_key(
            &mut &std::fs::read(dir.join("server.key")).expect("server.key")[..],
        )
        .expect("key")
        .expect("a key");
        let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let config = std::sync::Arc::new(config);

        let request = pattern(3 << 20, 7);
        let response = Bytes::from(pattern(5 << 20, 11));
        let body_file = dir.join("request.bin");
        std::fs::write(&body_file, &request).expect("write request body");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served = response.clone();
        let server = std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = monoio::net::TcpListener::from_std(listener).expect("listener");
                let (tcp, _) = listener.accept().await.expect("accept");
                let tls = crate::transport::tls_io::TlsStream::accept(tcp, config)
                    .await
                    .expect("handshake");
                assert_eq!(tls.get_ref().alpn_protocol(), Some(&b"h2"[..]));
                let (tcp, conn, unread) = tls.into_parts_with_unread();
                let io = TlsPoll::new(
                    tcp.try_into_poll_io().map_err(|(e, _)| e).expect("poll io"),
                    conn,
                    unread,
                );
                let handler = move |mut stream: H2Stream| {
                    let served = served.clone();
                    async move {
                        let body = stream.request.body_mut();
                        let (mut len, mut sum) = (0usize, FNV0);
                        while let Some(chunk) = body.data().await {
                            let chunk = chunk.expect("request body");
                            len += chunk.len();
                            sum = fnv(&chunk, sum);
                            let _ = body.flow_control().release_capacity(chunk.len());
                        }
                        let head = http::Response::builder()
                            .status(200)
                            .header("x-got", format!("{len}:{sum:016x}"))
                            .body(())
                            .expect("head");
                        stream.send_full(head, served).await.expect("send response");
                    }
                };
                serve(
                    io,
                    &H2Config::default(),
                    std::future::pending::<()>(),
                    handler,
                )
                .await
            })
        });
        let out = Command::new("curl")
            .args(["-sS", "--http2", "-k", "--max-time", "30", "-D", "-", "-o"])
            .arg(dir.join("response.bin"))
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()))
            .arg(format!("https://127.0.0.1:{port}/upload"))
            .stdin(Stdio::null())
            .output()
            .expect("run curl (make test-deps installs it)");
        let head = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "curl: {head} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(head.starts_with("HTTP/2 200"), "{head}");
        let want = format!("x-got: {}:{:016x}", request.len(), fnv(&request, FNV0));
        assert!(head.contains(&want), "{head} (wanted {want})");
        let got = std::fs::read(dir.join("response.bin")).expect("response body");
        assert_eq!(got.len(), response.len());
        assert!(got == response[..], "response body differs");
        // curl closed the connection: the server's connection task ends.
        let ended = server.join().expect("server thread");
        assert!(
            matches!(ended, Ended::Closed | Ended::Error(_)),
            "{ended:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prefixed_serves_the_prefix_first() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let rest: &[u8] = b" world";
            let mut p = Prefixed::new(b"hello".to_vec(), rest);
            let mut out = Vec::new();
            p.read_to_end(&mut out).await.expect("read");
            assert_eq!(out, b"hello world");
        });
    }
}
