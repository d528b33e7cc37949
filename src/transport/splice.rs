//! Zero-copy body transfer between two plain TCP sockets with splice(2) through a kernel
//! pipe: the bytes never enter user space. Used for large Content-Length bodies in both
//! directions of an HTTP_PROXY integration. Each worker keeps a few pipes for reuse.
//!
//! The splices are plain non-blocking system calls on the worker's own thread, never io_uring
//! `IORING_OP_SPLICE`: the kernel marks every io_uring splice `REQ_F_FORCE_ASYNC`
//! (io_uring/splice.c, `__io_splice_prep`), so each one ran on an `iou-wrk` kernel thread
//! whatever the pipe's flags, which cost about 18 context switches per 1 MiB body. Here the
//! pipe is `O_NONBLOCK`, the two sockets are `O_NONBLOCK` for the length of the transfer
//! (splice(2) honours the socket's own flag, not `SPLICE_F_NONBLOCK`, on the socket side), and
//! `EAGAIN` waits for readiness through the runtime (an io_uring poll, or epoll), bounded by
//! the idle timeout.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use monoio::net::TcpStream;

/// Bodies at least this long (after what is already buffered) are spliced.
pub const SPLICE_MIN: u64 = 64 * 1024;
/// The pipe size asked for (the kernel's default is 64 KiB): 256 KiB takes what a loopback
/// socket usually has queued in one call. Measured on 1 MiB bodies (tollgate alone on one CPU
/// with its upstream and load): about 310 -> 255 µs of CPU per GET and 215 -> 160 µs per POST
/// against a 64 KiB pipe; 1 MiB pipes gained little more.
const PIPE_SIZE: usize = 256 * 1024;
/// The kernel's default pipe size, assumed when the size cannot be read.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;
/// Idle pipes kept per worker.
const MAX_IDLE_PIPES: usize = 16;

/// A non-blocking pipe pair: bytes go in at `write`, out at `read`; `size` is its capacity.
pub struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

impl SplicePipe {
    fn new() -> io::Result<SplicePipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the two-element array it is given.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // A larger pipe means fewer splices per body. The kernel may refuse (over the user's
        // pipe limits): the pipe then keeps the size it has.
        // SAFETY: fcntl on the pipe just created, owned by `write`.
        let mut size = unsafe {
            libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            )
        };
        if size <= 0 {
            // SAFETY: as above.
            size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_PIPE_SIZE);
        Ok(SplicePipe { read, write, size })
    }
}

/// A worker's idle pipes.
#[derive(Default)]
pub struct Pipes {
    idle: RefCell<Vec<SplicePipe>>,
}

impl Pipes {
    pub fn take(&self) -> io::Result<SplicePipe> {
        if let Some(p) = self.idle.borrow_mut().pop() {
            return Ok(p);
        }
        SplicePipe::new()
    }

    /// Return a pipe that is known to be empty (after a transfer that completed).
    pub fn give_back(&self, pipe: SplicePipe) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < MAX_IDLE_PIPES {
            idle.push(pipe);
        }
    }
}

/// Sets `O_NONBLOCK` on a descriptor and puts its flags back when dropped (a socket the
/// runtime drives through io_uring is blocking; under epoll it already is non-blocking).
struct NonBlocking {
    fd: RawFd,
    restore: Option<libc::c_int>,
}

impl NonBlocking {
    fn set(fd: RawFd) -> io::Result<NonBlocking> {
        // SAFETY: fcntl on a descriptor the caller keeps open for this guard's lifetime.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK != 0 {
            return Ok(NonBlocking { fd, restore: None });
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NonBlocking {
            fd,
            restore: Some(flags),
        })
    }
}

impl Drop for NonBlocking {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            // SAFETY: the descriptor is still open: the guard lives inside `splice_exact`,
            // which holds a borrow of the socket that owns it.
            unsafe { libc::fcntl(self.fd, libc::F_SETFL, flags) };
        }
    }
}

/// One non-blocking splice(2) of up to `len` bytes from `from` to `to` (one is the pipe).
/// `Ok(None)`: it would block.
fn splice_once(from: RawFd, to: RawFd, len: usize) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: splice(2) on open descriptors with null offsets (sockets and pipes have none).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::WouldBlock => return Ok(None),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(e),
        }
    }
}

/// Wait for the runtime to report readiness, at most `idle`.
async fn ready(
    wait: impl std::future::Future<Output = io::Result<()>>,
    idle: Duration,
) -> io::Result<()> {
    match monoio::time::timeout(idle, wait).await {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Move exactly `len` bytes from `src` to `dst`. Each wait for either socket lasts at most
/// `idle`. On error the pipe may hold bytes and must be dropped (the caller does not give it
/// back).
pub async fn splice_exact(
    src: &mut TcpStream,
    dst: &mut TcpStream,
    pipe: &mut SplicePipe,
    len: u64,
    idle: Duration,
) -> io::Result<()> {
    let (src_fd, dst_fd) = (src.as_raw_fd(), dst.as_raw_fd());
    let _src_nb = NonBlocking::set(src_fd)?;
    let _dst_nb = NonBlocking::set(dst_fd)?;
    let (pipe_in, pipe_out) = (pipe.write.as_raw_fd(), pipe.read.as_raw_fd());
    let mut remaining = len;
    while remaining > 0 {
        // The pipe is empty here: fill it with what the source has.
        let want = remaining.min(pipe.size as u64) as usize;
        let got = match splice_once(src_fd, pipe_in, want)? {
            Some(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Some(n) => n,
            None => {
                ready(src.readable(false), idle).await?;
                continue;
            }
        };
        remaining -= got as u64;
        // Drain it into the destination.
        let mut left = got;
        while left > 0 {
            match splice_once(pipe_out, dst_fd, left)? {
                Some(0) => return Err(io::ErrorKind::WriteZero.into()),
                Some(n) => left -= n,
                None => ready(dst.writable(false), idle).await?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener as StdListener;
    use std::thread;

    use monoio::io::AsyncReadRent;
    use monoio::net::TcpListener;

    use super::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn flags(s: &TcpStream) -> libc::c_int {
        // SAFETY: F_GETFL on a socket the test holds open.
        unsafe { libc::fcntl(s.as_raw_fd(), libc::F_GETFL) }
    }

    /// The shutdown(2) of a socket, at once (monoio closes a dropped socket through the
    /// runtime, which a blocking join on the test's thread would never let run).
    fn shut(s: &TcpStream, how: libc::c_int) {
        // SAFETY: shutdown(2) on a socket the test holds open.
        unsafe { libc::shutdown(s.as_raw_fd(), how) };
    }

    /// One transfer of `len` bytes: a client thread writes `sent` into the source socket (then
    /// closes it when `close` says so, else waits for the test to finish), a sink thread reads
    /// the destination's peer until EOF.
    struct Outcome {
        result: io::Result<()>,
        received: Vec<u8>,
        left_in_src: Vec<u8>,
        flags_kept: bool,
        pipe_reusable: bool,
    }

    async fn transfer(sent: Vec<u8>, close: bool, len: u64, idle: Duration) -> Outcome {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let src_addr = listener.local_addr().expect("addr");
        let writer = thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(src_addr).expect("connect");
            c.write_all(&sent).expect("write");
            if !close {
                // Keep the connection open until the test has looked at the source.
                let mut b = [0u8; 1];
                let _ = c.read(&mut b);
            }
        });
        let (mut src, _) = listener.accept().await.expect("accept");
        let sink = StdListener::bind("127.0.0.1:0").expect("bind");
        let sink_addr = sink.local_addr().expect("addr");
        let reader = thread::spawn(move || {
            let (mut s, _) = sink.accept().expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read");
            got
        });
        let mut dst = TcpStream::connect(sink_addr).await.expect("connect");
        let before = (flags(&src), flags(&dst));
        let pipes = Pipes::default();
        let mut pipe = pipes.take().expect("pipe");
        let result = splice_exact(&mut src, &mut dst, &mut pipe, len, idle).await;
        let flags_kept = before == (flags(&src), flags(&dst));
        shut(&dst, libc::SHUT_WR);
        let received = reader.join().expect("reader");
        // What the source still holds past `len` (read until the client is done or idle).
        let mut left_in_src = Vec::new();
        let mut pipe_reusable = false;
        if result.is_ok() {
            // An empty pipe after success: a second transfer through it is not polluted.
            let mut probe = [0u8; 1];
            // SAFETY: read(2) into a one-byte buffer from the pipe's non-blocking read end.
            let n = unsafe { libc::read(pipe.read.as_raw_fd(), probe.as_mut_ptr().cast(), 1) };
            pipe_reusable = n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
            let extra = monoio::time::timeout(Duration::from_millis(200), async {
                let mut out = Vec::new();
                loop {
                    let (r, buf) = src.read(Vec::with_capacity(64 * 1024)).await;
                    match r {
                        Ok(0) | Err(_) => break,
                        Ok(_) => out.extend_from_slice(&buf),
                    }
                }
                out
            })
            .await;
            if let Ok(extra) = extra {
                left_in_src = extra;
            }
        }
        shut(&src, libc::SHUT_RDWR);
        writer.join().expect("writer");
        Outcome {
            result,
            received,
            left_in_src,
            flags_kept,
            pipe_reusable,
        }
    }

    fn on_both_drivers(
        test: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    ) {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .build()
            .expect("an io_uring runtime (the workers' driver on Linux)");
        rt.block_on(test());
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("an epoll runtime");
        rt.block_on(test());
    }

    #[test]
    fn moves_exactly_len_bytes_and_leaves_what_follows() {
        on_both_drivers(|| {
            Box::pin(async {
                // 3 MiB + 5: more than the pipe and the socket buffers hold at once, so both
                // sides see EAGAIN and wait for readiness.
                let body = pattern(3 * 1024 * 1024 + 5, 3);
                let mut sent = body.clone();
                sent.extend_from_slice(b"NEXT");
                let o = transfer(sent, true, body.len() as u64, Duration::from_secs(10)).await;
                assert!(o.result.is_ok(), "{:?}", o.result);
                assert_eq!(o.received.len(), body.len());
                assert!(o.received == body, "spliced bytes differ");
                assert_eq!(o.left_in_src, b"NEXT");
                assert!(o.flags_kept, "socket flags not restored");
                assert!(o.pipe_reusable, "pipe not empty after the transfer");
            })
        });
    }

    #[test]
    fn a_source_that_ends_early_is_unexpected_eof() {
        on_both_drivers(|| {
            Box::pin(async {
                let o = transfer(pattern(100_000, 1), true, 200_000, Duration::from_secs(10)).await;
                let e = o.result.expect_err("short body accepted");
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                assert_eq!(o.received, pattern(100_000, 1));
                assert!(o.flags_kept, "socket flags not restored after an error");
            })
        });
    }

    #[test]
    fn a_silent_source_times_out_after_the_idle_limit() {
        on_both_drivers(|| {
            Box::pin(async {
                let o = transfer(
                    pattern(70_000, 2),
                    false,
                    200_000,
                    Duration::from_millis(100),
                )
                .await;
                let e = o.result.expect_err("stalled body accepted");
                assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                assert_eq!(o.received, pattern(70_000, 2));
                assert!(o.flags_kept, "socket flags not restored after a timeout");
            })
        });
    }

    #[test]
    fn pipes_are_non_blocking_and_larger_than_the_default() {
        let pipe = SplicePipe::new().expect("pipe");
        for fd in [pipe.read.as_raw_fd(), pipe.write.as_raw_fd()] {
            // SAFETY: F_GETFL on a descriptor the pipe owns.
            let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            assert!(fl & libc::O_NONBLOCK != 0, "pipe end is blocking");
        }
        // SAFETY: as above.
        let size = unsafe { libc::fcntl(pipe.write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        assert_eq!(size as usize, pipe.size);
        assert!(pipe.size >= DEFAULT_PIPE_SIZE);
    }
}
