//! Zero-copy body transfer between two plain TCP sockets with splice(2) through a kernel
//! pipe: the bytes never enter user space. Used for large Content-Length bodies in both
//! directions of an HTTP_PROXY integration. Each worker keeps a few pipes for reuse.

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use monoio::io::as_fd::{AsReadFd, AsWriteFd};
use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::net::unix::{new_pipe, Pipe};

/// Bodies at least this long (after what is already buffered) are spliced.
pub const SPLICE_MIN: u64 = 64 * 1024;
/// Bytes moved into the pipe per splice call (the kernel's default pipe size).
const PIPE_SIZE: usize = 64 * 1024;
/// Idle pipes kept per worker.
const MAX_IDLE_PIPES: usize = 16;

/// A pipe pair: bytes go in at `write`, out at `read`.
pub struct SplicePipe {
    read: Pipe,
    write: Pipe,
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
        // monoio creates the pipe (blocking for io_uring, non-blocking for epoll) and does not
        // expose its fd, so it keeps the kernel's default 64 KiB size.
        let (read, write) = new_pipe()?;
        Ok(SplicePipe { read, write })
    }

    /// Return a pipe that is known to be empty (after a transfer that completed).
    pub fn give_back(&self, pipe: SplicePipe) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < MAX_IDLE_PIPES {
            idle.push(pipe);
        }
    }
}

/// Move exactly `len` bytes from `src` to `dst`. Each step waits at most `idle`.
/// On error the pipe may hold bytes and must be dropped (the caller does not give it back).
pub async fn splice_exact<S: AsReadFd, D: AsWriteFd>(
    src: &mut S,
    dst: &mut D,
    pipe: &mut SplicePipe,
    len: u64,
    idle: Duration,
) -> io::Result<()> {
    let mut remaining = len;
    while remaining > 0 {
        let want = remaining.min(PIPE_SIZE as u64) as u32;
        let got = match monoio::time::timeout(idle, src.splice_to_pipe(&mut pipe.write, want)).await
        {
            Ok(r) => r?,
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        };
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut left = got;
        while left > 0 {
            let put = match monoio::time::timeout(idle, dst.splice_from_pipe(&mut pipe.read, left))
                .await
            {
                Ok(r) => r?,
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            };
            if put == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            left -= put;
        }
        remaining -= u64::from(got);
    }
    Ok(())
}
