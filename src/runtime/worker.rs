//! One worker: a thread pinned to a core, its own monoio runtime, its own listeners,
//! upstream pools and buffers. Everything here is `Rc`/`Cell` state, touched by this
//! thread only.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Receiver;
use monoio::net::TcpListener;

use crate::config::Snapshot;
use crate::http::limits::HttpLimits;
use crate::log;
use crate::net::conn::{self, ClientConn};
use crate::net::h2::session::{ConnFacts, H2Session};
use crate::net::h2::{self as h2conn, H2Config, H2Stream, Prefixed, TlsPoll, PREFACE};
use crate::net::tls_accept;
use crate::pipeline::drain::Drain;
use crate::pipeline::session::Next;
pub use crate::pipeline::worker::WorkerCtx;
use crate::runtime::control::ControlMsg;
use crate::services::Services;
use crate::transport::stream::MaybeTls;

/// How often a worker looks at its control channel.
const CONTROL_TICK: Duration = Duration::from_millis(10);

/// What a worker thread needs to start.
pub struct WorkerSpec {
    pub id: usize,
    /// Core to pin to, if pinning is wanted.
    pub cpu: Option<usize>,
    pub snapshot: Arc<Snapshot>,
    /// (configured listener index, this worker's SO_REUSEPORT socket)
    pub listeners: Vec<(usize, std::net::TcpListener)>,
    pub control: Receiver<ControlMsg>,
    /// The live state that goes with `snapshot` (caches, quota counters, the link to the
    /// limits thread).
    pub services: Arc<Services>,
    /// Told this worker's id once its runtime runs and its listeners accept (the admin
    /// API's readiness).
    pub up: Option<crossbeam::channel::Sender<usize>>,
}

/// Run a worker to completion (returns after shutdown and drain).
pub fn run(spec: WorkerSpec) -> std::io::Result<()> {
    if let Some(cpu) = spec.cpu {
        if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
            log!("worker {}: could not pin to cpu {cpu}: {e:?}", spec.id);
        }
    }
    let builder = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .attach_thread_pool(Box::new(monoio::blocking::DefaultThreadPool::new(1)));
    let mut rt = builder.build()?;
    let driver = match &rt {
        monoio::FusionRuntime::Uring(_) => "io_uring",
        monoio::FusionRuntime::Legacy(_) => "epoll (legacy)",
    };
    log!(
        "worker {} started on cpu {:?} with the {driver} driver",
        spec.id,
        spec.cpu
    );
    rt.block_on(worker_main(spec))
}

async fn worker_main(spec: WorkerSpec) -> std::io::Result<()> {
    let drain_timeout = spec.snapshot.server.drain_timeout;
    let ctx = Rc::new(WorkerCtx::new(spec.id, spec.snapshot, spec.services));
    for (index, std_listener) in spec.listeners {
        let listener = TcpListener::from_std(std_listener)?;
        monoio::spawn(accept_loop(ctx.clone(), index, listener));
    }
    monoio::spawn(control_loop(ctx.clone(), spec.control));
    if let Some(up) = &spec.up {
        let _ = up.send(spec.id);
    }

    ctx.drain.wait().await;
    let deadline = monoio::time::Instant::now() + drain_timeout;
    while ctx.drain.active() > 0 && monoio::time::Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if ctx.drain.active() > 0 {
        log!(
            "worker {}: drain deadline passed with {} connection(s) open",
            ctx.id,
            ctx.drain.active()
        );
    }
    ctx.access_log.flush();
    Ok(())
}

async fn control_loop(ctx: Rc<WorkerCtx>, control: Receiver<ControlMsg>) {
    loop {
        while let Ok(msg) = control.try_recv() {
            match msg {
                ControlMsg::Shutdown => ctx.drain.trigger(),
                ControlMsg::Health(update) => ctx.targets.apply(update),
                ControlMsg::Reload { snapshot, services } => ctx.reload(snapshot, services),
                ControlMsg::Grants(grants) => ctx.limits.apply(&grants),
                ControlMsg::Applied(done) => {
                    let _ = done.send(ctx.id);
                }
            }
        }
        ctx.limits.report();
        ctx.access_log.tick();
        if ctx.drain.is_draining() {
            return;
        }
        monoio::time::sleep(CONTROL_TICK).await;
    }
}

async fn accept_loop(ctx: Rc<WorkerCtx>, listener_index: usize, listener: TcpListener) {
    let local = listener.local_addr().ok();
    // A listener bound to one address accepts only on it: each connection's local address
    // is the listener's, with no getsockname(2) per connection. A wildcard bind (0.0.0.0,
    // ::) asks the socket.
    let fixed_local = local.filter(|a| !a.ip().is_unspecified());
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => Some(r),
            _ = ctx.drain.wait() => None,
        };
        let Some(accepted) = accepted else { return };
        match accepted {
            Ok((stream, peer)) => {
                // TCP_NODELAY comes from the listening socket (net::listener).
                let local = match fixed_local {
                    Some(addr) => addr,
                    None => stream.local_addr().ok().or(local).unwrap_or(peer),
                };
                let ctx = ctx.clone();
                monoio::spawn(async move {
                    let _active = ctx.drain.track();
                    let _open = ctx.metrics.connection();
                    let snapshot = ctx.snapshot();
                    let services = ctx.services();
                    // Fires at the next reload (HTTP/2 connections then say GOAWAY).
                    let reloaded = ctx.reloaded();
                    let tls = snapshot
                        .listeners
                        .get(listener_index)
                        .and_then(|l| l.tls.clone());
                    let h2c = snapshot
                        .listeners
                        .get(listener_index)
                        .is_some_and(|l| l.h2c);
                    let mut c = match tls {
                        None if h2c => {
                            let limits = snapshot.limits.clone();
                            drop(snapshot);
                            let mut stream = stream;
                            match sniff_preface(&ctx, &mut stream, &limits).await {
                                Sniffed::Closed => return,
                                Sniffed::H2(seen) => {
                                    match stream.try_into_poll_io() {
                                        Ok(io) => {
                                            let facts = ConnFacts {
                                                peer,
                                                local,
                                                listener: listener_index,
                                                tls: None,
                                                chain: None,
                                            };
                                            let io = Prefixed::new(seen, io);
                                            run_h2(&ctx, io, facts, &limits, &reloaded).await
                                        }
                                        Err((e, _)) => log!(
                                            "worker {}: h2c connection from {peer}: {e}",
                                            ctx.id
                                        ),
                                    }
                                    return;
                                }
                                Sniffed::Http1(seen) => {
                                    let mut c = ClientConn::new(
                                        MaybeTls::Plain(stream),
                                        None,
                                        peer,
                                        local,
                                        listener_index,
                                    );
                                    c.rbuf = seen;
                                    conn::serve(&ctx, &mut c).await;
                                    return;
                                }
                            }
                        }
                        None => ClientConn::new(
                            MaybeTls::Plain(stream),
                            None,
                            peer,
                            local,
                            listener_index,
                        ),
                        Some(tls) => {
                            let handshake = tls_accept::accept(
                                stream,
                                &snapshot,
                                services.tls_configs(),
                                &tls,
                                &ctx.metrics,
                            );
                            match monoio::time::timeout(tls.handshake_timeout, handshake).await {
                                Ok(Ok((stream, info)))
                                    if stream.get_ref().alpn_protocol() == Some(b"h2") =>
                                {
                                    let limits = snapshot.limits.clone();
                                    drop(snapshot);
                                    // The client's chain stays with the streams (re-checked
                                    // after a reload); the rustls connection goes to h2.
                                    let chain =
                                        stream.get_ref().peer_certificates().map(<[_]>::to_vec);
                                    let facts = ConnFacts {
                                        peer,
                                        local,
                                        listener: listener_index,
                                        tls: Some(info),
                                        chain,
                                    };
                                    let (tcp, tls_conn, unread) = stream.into_parts_with_unread();
                                    match tcp.try_into_poll_io() {
                                        Ok(io) => {
                                            let io = TlsPoll::new(io, tls_conn, unread);
                                            run_h2(&ctx, io, facts, &limits, &reloaded).await;
                                        }
                                        Err((e, _)) => log!(
                                            "worker {}: h2 connection from {peer}: {e}",
                                            ctx.id
                                        ),
                                    }
                                    return;
                                }
                                Ok(Ok((stream, info))) => ClientConn::new(
                                    MaybeTls::Tls(Box::new(stream)),
                                    Some(info),
                                    peer,
                                    local,
                                    listener_index,
                                ),
                                // Failed or too slow handshakes just close (rustls sent any alert).
                                Ok(Err(_)) | Err(_) => return,
                            }
                        }
                    };
                    drop((snapshot, services));
                    conn::serve(&ctx, &mut c).await;
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log!("worker {}: accept failed: {e}", ctx.id);
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the first bytes of a connection on an h2c listener were.
enum Sniffed {
    /// The HTTP/2 connection preface (the bytes read so far, preface included).
    H2(Vec<u8>),
    /// Anything else: HTTP/1.1 (the bytes read so far).
    Http1(Vec<u8>),
    /// Closed, idle too long, or draining before a byte came.
    Closed,
}

/// Read until the bytes are the h2c preface or cannot be: the first byte is waited for like
/// an idle keep-alive connection (`keepalive_timeout`, drain), the rest of the preface within
/// `header_read_timeout`.
async fn sniff_preface(
    ctx: &WorkerCtx,
    stream: &mut monoio::net::TcpStream,
    limits: &HttpLimits,
) -> Sniffed {
    let mut buf: Vec<u8> = Vec::with_capacity(conn::READ_BUF);
    let mut deadline = None;
    loop {
        let n = buf.len().min(PREFACE.len());
        if buf[..n] != PREFACE[..n] {
            return Sniffed::Http1(buf);
        }
        if n == PREFACE.len() {
            return Sniffed::H2(buf);
        }
        let read = async {
            let slot = std::mem::take(&mut buf);
            conn::read_append(stream, slot, &mut buf).await
        };
        let r = match deadline {
            None => {
                deadline = Some(monoio::time::Instant::now() + limits.header_read_timeout);
                monoio::select! {
                    r = monoio::time::timeout(limits.keepalive_timeout, read) => r.ok(),
                    _ = ctx.drain.wait() => None,
                }
            }
            Some(d) => monoio::time::timeout_at(d, read).await.ok(),
        };
        match r {
            Some(Ok(n)) if n > 0 => {}
            _ => return Sniffed::Closed,
        }
    }
}

/// Serve an HTTP/2 connection (TLS with ALPN `h2`, or h2c) until it ends: each stream runs
/// through the pipeline on its own task.
async fn run_h2<IO>(
    ctx: &Rc<WorkerCtx>,
    io: IO,
    facts: ConnFacts,
    limits: &HttpLimits,
    reloaded: &Drain,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let cfg = H2Config::from_limits(limits);
    // GOAWAY when the worker drains or the configuration is reloaded.
    let goaway = async {
        monoio::select! {
            _ = ctx.drain.wait() => {},
            _ = reloaded.wait() => {},
        }
    };
    let facts = Rc::new(facts);
    let handler = {
        let ctx = ctx.clone();
        // Boxed where it is made: the stream's future (the whole pipeline's state, ~15 KB)
        // is then never copied on its way into the task, only the pointer.
        move |stream: H2Stream| Box::pin(serve_stream(ctx.clone(), facts.clone(), stream))
    };
    let ended = h2conn::serve(io, &cfg, goaway, handler).await;
    match ended {
        h2conn::Ended::Closed | h2conn::Ended::Handshake(_) => {}
        // The peer went away: nothing to report.
        h2conn::Ended::Error(e) if e.is_io() => {}
        // Attack defences and stalls: logged, a few lines per second at most (a flood of
        // such connections must not flood the log).
        other => {
            if let Some(suppressed) = crate::observe::log::allow_burst() {
                log!(
                    "worker {}: HTTP/2 connection ended: {other:?} ({suppressed} similar line(s) suppressed)",
                    ctx.id
                );
            }
        }
    }
}

/// One HTTP/2 stream through the pipeline (on its own task).
async fn serve_stream(ctx: Rc<WorkerCtx>, facts: Rc<ConnFacts>, stream: H2Stream) {
    let snapshot = ctx.snapshot();
    let session = H2Session::new(stream, facts, &snapshot.limits);
    drop(snapshot);
    match session {
        Ok(mut session) => {
            // `$context` for this stream, from the worker's spares.
            let mut rc = ctx.contexts.lease();
            // A stream the peer resets meanwhile is counted as orphaned until its work is
            // done (the connection bounds how many it may have).
            let mut watch = session.reset_watch();
            // Pinned where it is made: `watching` gets a pointer, not a copy of the
            // pipeline's ~15 KB state.
            let next = {
                let run = std::pin::pin!(crate::pipeline::run(&ctx, &mut session, &mut rc));
                h2conn::watching(&mut watch, run).await
            };
            if next == Next::Abort {
                session.abort();
            } else if !watch.was_reset() {
                session.finish().await;
            }
            drop(session);
            drop(watch);
        }
        Err(refused) => refused.answer(&ctx.date.now(), &ctx.ids.next()).await,
    }
}
