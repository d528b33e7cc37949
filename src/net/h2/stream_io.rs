//! The byte streams an HTTP/2 connection runs over, as the `h2` crate wants them (tokio's
//! `AsyncRead`/`AsyncWrite` on monoio's poll-io sockets): metered per poll (`Budgeted`),
//! with bytes already read put back in front (`Prefixed`), and TLS over rustls (`TlsPoll`).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use monoio::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the connection task shares with its metered I/O.
#[derive(Debug, Default)]
pub(super) struct IoState {
    /// Reads and writes left in the current poll.
    pub(super) budget: Cell<u32>,
    /// Since when the socket has refused our bytes (`None`: it has not).
    pub(super) write_blocked_since: Cell<Option<Instant>>,
}

/// I/O metered per poll of the connection task (monoio has no cooperative budget: a peer
/// that keeps the socket full would otherwise keep the task, and the worker, in h2's read
/// loop). Also notes when the socket stops taking bytes.
pub struct Budgeted<T> {
    pub(super) inner: T,
    pub(super) state: Rc<IoState>,
}

impl<T> Budgeted<T> {
    fn spend(&self, cx: &mut Context<'_>) -> bool {
        let left = self.state.budget.get();
        if left == 0 {
            // Yield: let the worker run other tasks, come back right after.
            cx.waker().wake_by_ref();
            return false;
        }
        self.state.budget.set(left - 1);
        true
    }

    fn note_write<R>(&self, p: &Poll<io::Result<R>>) {
        match p {
            Poll::Pending => {
                if self.state.write_blocked_since.get().is_none() {
                    self.state.write_blocked_since.set(Some(Instant::now()));
                }
            }
            Poll::Ready(_) => self.state.write_blocked_since.set(None),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Budgeted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.spend(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Budgeted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.spend(cx) {
            return Poll::Pending;
        }
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&p);
        p
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.spend(cx) {
            return Poll::Pending;
        }
        let p = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&p);
        p
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_flush(cx);
        self.note_write(&p);
        p
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Bytes already read from the socket (while looking for the h2c preface) served before
/// the socket's own.
pub struct Prefixed<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
}

impl<T> Prefixed<T> {
    pub fn new(prefix: Vec<u8>, inner: T) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A poll-based socket seen as blocking `Read`/`Write` for rustls' `read_tls`/`write_tls`:
/// `Pending` becomes `WouldBlock` (the waker is registered).
struct SyncIo<'a, 'b, T> {
    io: &'a mut T,
    cx: &'a mut Context<'b>,
}

impl<T: AsyncRead + Unpin> io::Read for SyncIo<'_, '_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<T: AsyncWrite + Unpin> io::Write for SyncIo<'_, '_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS connection whose handshake `tls_accept` finished, as a poll-based stream for h2.
pub struct TlsPoll<T> {
    tcp: T,
    conn: rustls::ServerConnection,
    /// Ciphertext read before the switch and not yet handed to rustls.
    unread: Vec<u8>,
    unread_pos: usize,
    eof: bool,
    close_sent: bool,
}

impl<T> TlsPoll<T> {
    pub fn new(tcp: T, conn: rustls::ServerConnection, unread: Vec<u8>) -> Self {
        TlsPoll {
            tcp,
            conn,
            unread,
            unread_pos: 0,
            eof: false,
            close_sent: false,
        }
    }

    /// The rustls connection (ALPN, peer certificates).
    pub fn conn(&self) -> &rustls::ServerConnection {
        &self.conn
    }
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<T: AsyncRead + AsyncWrite + Unpin> TlsPoll<T> {
    /// Write what rustls has queued to the socket. `Ready(Ok)` once nothing is left.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut io = SyncIo {
                io: &mut self.tcp,
                cx,
            };
            match self.conn.write_tls(&mut io) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Hand rustls more ciphertext (carried over, else from the socket) and process it.
    /// `Ready(Ok(false))` at end of stream.
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.unread_pos < self.unread.len() {
            let mut src = &self.unread[self.unread_pos..];
            let n = self.conn.read_tls(&mut src)?;
            self.unread_pos += n;
            if self.unread_pos >= self.unread.len() {
                self.unread = Vec::new();
                self.unread_pos = 0;
            }
        } else {
            if self.eof {
                return Poll::Ready(Ok(false));
            }
            let mut io = SyncIo {
                io: &mut self.tcp,
                cx,
            };
            match self.conn.read_tls(&mut io) {
                Ok(0) => {
                    self.eof = true;
                    return Poll::Ready(Ok(false));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if let Err(e) = self.conn.process_new_packets() {
            // Send the alert rustls queued (best effort), then fail.
            let _ = self.poll_flush_tls(cx);
            return Poll::Ready(Err(tls_err(e)));
        }
        Poll::Ready(Ok(true))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsPoll<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use std::io::Read;
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    // n == 0: the peer's close_notify (end of stream).
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: end of stream for h2 all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            // TLS 1.3 post-handshake messages may want an answer: send it if the socket takes it.
            if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
            if !ready!(this.poll_feed(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsPoll<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        use std::io::Write;
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let n = this.conn.writer().write(buf)?;
            if n > 0 {
                // Start sending; what the socket does not take now stays queued in rustls
                // (bounded by its buffer limit) for the next write or flush.
                if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            // rustls' send buffer is full: drain it first.
            ready!(this.poll_flush_tls(cx))?;
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            this.close_sent = true;
            this.conn.send_close_notify();
        }
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
