//! rustls over monoio's owned-buffer I/O: a TLS stream for both sides (upstream targets use
//! the client side; TLS listeners, issue 4, the server side).
//!
//! CONTRACT (implemented by the TLS-stream work):
//! - `TlsStream<C>` owns a `monoio::net::TcpStream` and a rustls connection `C`
//!   (`rustls::ClientConnection` or `rustls::ServerConnection`), plus the two buffers it
//!   needs for ciphertext (sized once, reused; no allocation per read/write in steady state).
//! - `TlsStream::connect(tcp, config, server_name)` drives the client handshake to completion;
//!   `TlsStream::accept(tcp, config)` the server side. Callers wrap them in timeouts.
//! - It implements `monoio::io::AsyncReadRent` and `monoio::io::AsyncWriteRent` (read
//!   returns plaintext, 0 at close_notify or EOF; write encrypts and writes all of it before
//!   returning; `shutdown` sends close_notify then shuts the TCP write side), so the code
//!   that reads/writes `TcpStream` works unchanged on it.
//! - `get_ref()` gives the rustls connection (SNI, ALPN, peer certificates).
//! - Errors map to `io::Error` (`InvalidData` for TLS alerts/protocol errors).
//!
//! How it works: the stream keeps one ciphertext read buffer and one ciphertext write buffer.
//! Reading hands plaintext that rustls already holds to the caller; otherwise it feeds
//! buffered ciphertext to rustls (`read_tls` + `process_new_packets`) or reads more from the
//! socket. Writing gives the plaintext to rustls in batches and writes each batch's records
//! to the socket before taking the next one, so a write has finished on the wire when it
//! returns. Reads and writes take `&mut self`, so one task drives the stream at a time.
//!
//! Cancellation: dropping a read or write future while it waits on the socket (a timeout, a
//! `select!`) may lose ciphertext (io_uring completes the operation anyway). Such a stream is
//! marked broken in that direction and later calls in it fail; the other direction keeps
//! working (e.g. an error response after a header-read timeout still goes out).

use std::io::{self, BufRead, Write};
use std::ops::DerefMut;
use std::sync::Arc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as ring_provider, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, DigitallySignedStruct, RootCertStore,
    ServerConfig, ServerConnection, SideData, SignatureScheme,
};

/// Size of the ciphertext read buffer: one socket read. A full TLS record is at most
/// 16 KiB of payload plus header and (TLS 1.2) expansion, so one record fits.
const READ_BUF: usize = 18 * 1024;

/// Plaintext handed to rustls per batch on the write path; its records (plus a few dozen
/// bytes of framing per 16 KiB record) are written to the socket before the next batch.
const WRITE_BATCH: usize = 32 * 1024;

/// Initial capacity of the ciphertext write buffer: one full batch with its framing. A
/// larger handshake flight (long certificate chains) grows it once.
const WRITE_BUF: usize = WRITE_BATCH + 1024;

/// The ALPN protocol both helper configs offer.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// A TLS connection over a monoio `TcpStream`: `TlsStream<rustls::ClientConnection>` from
/// [`TlsStream::connect`], `TlsStream<rustls::ServerConnection>` from [`TlsStream::accept`].
/// Dropping it closes the socket without close_notify; `shutdown` first for a clean close.
pub struct TlsStream<C> {
    tcp: TcpStream,
    conn: C,
    /// Ciphertext read from the socket; `rbuf[rpos..]` is not yet handed to rustls.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Ciphertext on its way to the socket (empty between writes; kept for its capacity).
    wbuf: Vec<u8>,
    /// The socket's read side returned end of stream.
    eof: bool,
    /// rustls has processed the peer's close_notify.
    peer_closed: bool,
    /// A socket read was cancelled mid-flight: ciphertext may be lost, reads are over.
    read_broken: bool,
    /// The peer's data failed TLS processing (rustls keeps failing from here on).
    tls_failed: bool,
    /// A socket write failed or was cancelled mid-flight: a record may be half written.
    write_broken: bool,
    /// close_notify queued by `shutdown`.
    close_sent: bool,
}

impl<C> std::fmt::Debug for TlsStream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer_addr", &self.tcp.peer_addr().ok())
            .field("eof", &self.eof)
            .field("peer_closed", &self.peer_closed)
            .field("read_broken", &self.read_broken)
            .field("tls_failed", &self.tls_failed)
            .field("write_broken", &self.write_broken)
            .finish_non_exhaustive()
    }
}

fn read_broken_error() -> io::Error {
    io::Error::other("TLS stream unusable for reading: an earlier read was cancelled mid-flight")
}

fn tls_failed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "TLS stream unusable for reading: the peer's data failed TLS processing earlier",
    )
}

fn write_broken_error() -> io::Error {
    io::Error::other("TLS stream unusable for writing: an earlier write failed or was cancelled")
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream<ClientConnection> {
    /// Run the client handshake on `tcp` for `server_name` (SNI and certificate name check).
    /// Fails with `InvalidData` when the server's certificate is not trusted or the peer
    /// breaks the protocol, `UnexpectedEof` when it closes mid-handshake. No timeout here:
    /// callers wrap this in one.
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> io::Result<Self> {
        let conn = ClientConnection::new(config, server_name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut stream = Self::new(tcp, conn);
        stream.handshake().await?;
        Ok(stream)
    }
}

impl TlsStream<ServerConnection> {
    /// Run the server handshake on an accepted `tcp`. Fails with `InvalidData` when the
    /// client breaks the protocol or sends an alert, `UnexpectedEof` when it closes
    /// mid-handshake. No timeout here: callers wrap this in one.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Self> {
        let conn = ServerConnection::new(config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut stream = Self::new(tcp, conn);
        stream.handshake().await?;
        Ok(stream)
    }
}

impl TlsStream<ServerConnection> {
    /// Finish a server handshake whose ClientHello was read with rustls's `Acceptor` (so the
    /// configuration could be chosen from it). `unread` is ciphertext already read from
    /// `tcp` that the acceptor did not consume.
    pub async fn finish_accept(
        tcp: TcpStream,
        conn: ServerConnection,
        unread: &[u8],
    ) -> io::Result<Self> {
        let mut stream = Self::new(tcp, conn);
        stream.rbuf.extend_from_slice(unread);
        stream.handshake().await?;
        Ok(stream)
    }
}

impl<C> TlsStream<C> {
    fn new(tcp: TcpStream, conn: C) -> Self {
        Self {
            tcp,
            conn,
            rbuf: Vec::with_capacity(READ_BUF),
            rpos: 0,
            wbuf: Vec::with_capacity(WRITE_BUF),
            eof: false,
            peer_closed: false,
            read_broken: false,
            tls_failed: false,
            write_broken: false,
            close_sent: false,
        }
    }

    /// The rustls connection: SNI (`server_name()` on the server side), negotiated ALPN
    /// (`alpn_protocol()`), protocol version, peer certificates.
    pub fn get_ref(&self) -> &C {
        &self.conn
    }

    /// The underlying socket (addresses, socket options). Reading or writing it directly
    /// would corrupt the TLS stream.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Take the stream apart. Plaintext rustls already decrypted stays in the connection;
    /// ciphertext read from the socket but not yet handed to rustls (only possible while
    /// more than rustls' received-plaintext limit was waiting to be read) is dropped.
    pub fn into_parts(self) -> (TcpStream, C) {
        (self.tcp, self.conn)
    }

    /// Take the stream apart, keeping the ciphertext read from the socket but not yet handed
    /// to rustls (the caller feeds it to the connection before reading the socket again).
    pub fn into_parts_with_unread(mut self) -> (TcpStream, C, Vec<u8>) {
        let unread = self.rbuf.split_off(self.rpos.min(self.rbuf.len()));
        (self.tcp, self.conn, unread)
    }
}

impl<C, S> TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    /// Whether a read could return anything now without touching the socket, or the read
    /// side is over: ciphertext read but not yet handed to rustls, plaintext rustls holds,
    /// the peer's close_notify or EOF seen, or reads broken. An idle connection about to be
    /// reused must have none of it (bytes the socket itself still holds are the caller's
    /// `MSG_PEEK`).
    pub fn has_buffered_input(&mut self) -> bool {
        if self.rpos < self.rbuf.len() || self.eof || self.peer_closed || self.read_gate().is_some()
        {
            return true;
        }
        !matches!(
            self.conn.reader().fill_buf(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }

    /// Drive the handshake to completion, then send whatever rustls still queued (TLS 1.3
    /// session tickets on the server side).
    async fn handshake(&mut self) -> io::Result<()> {
        loop {
            self.flush_tls().await?;
            if !self.conn.is_handshaking() {
                return Ok(());
            }
            if self.peer_closed {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer sent close_notify during the TLS handshake",
                ));
            }
            if self.rpos < self.rbuf.len() {
                if self.feed().await? == 0 && self.conn.is_handshaking() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "TLS handshake stalled: the peer's data was not accepted",
                    ));
                }
                continue;
            }
            if self.read_tcp().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                ));
            }
        }
    }

    /// Why reads cannot go on, if they cannot.
    fn read_gate(&self) -> Option<io::Error> {
        if self.read_broken {
            Some(read_broken_error())
        } else if self.tls_failed {
            Some(tls_failed_error())
        } else {
            None
        }
    }

    /// Read ciphertext from the socket into `rbuf` (only called when all of it was fed).
    async fn read_tcp(&mut self) -> io::Result<usize> {
        if let Some(e) = self.read_gate() {
            return Err(e);
        }
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        self.rpos = 0;
        if buf.capacity() < READ_BUF {
            buf.reserve(READ_BUF);
        }
        // Stays set only if this future is dropped while the read is in flight.
        self.read_broken = true;
        let (res, buf) = self.tcp.read(buf).await;
        self.read_broken = false;
        self.rbuf = buf;
        let n = res?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Hand buffered ciphertext to rustls and process it. On a TLS error, send the alert
    /// rustls queued (best effort) and fail with `InvalidData`. Returns the bytes consumed.
    async fn feed(&mut self) -> io::Result<usize> {
        match self.feed_sync() {
            Ok(n) => Ok(n),
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    self.tls_failed = true;
                    if !self.write_broken {
                        let _ = self.flush_tls().await;
                    }
                }
                Err(e)
            }
        }
    }

    fn feed_sync(&mut self) -> io::Result<usize> {
        let start = self.rpos;
        while self.rpos < self.rbuf.len() {
            if self.peer_closed {
                // Nothing after close_notify counts.
                self.rpos = self.rbuf.len();
                break;
            }
            let mut src = &self.rbuf[self.rpos..];
            match self.conn.read_tls(&mut src) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "TLS record rejected (length out of range)",
                    ));
                }
                Ok(n) => self.rpos += n,
                // rustls' received-plaintext buffer is full: the reader drains it first.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(e),
            }
            let state = self.conn.process_new_packets().map_err(tls_error)?;
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
        }
        let consumed = self.rpos - start;
        if self.rpos == self.rbuf.len() {
            self.rpos = 0;
            self.rbuf.clear();
        }
        Ok(consumed)
    }

    /// Write all TLS data rustls has queued to the socket.
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.write_broken {
                return Err(write_broken_error());
            }
            let mut buf = std::mem::take(&mut self.wbuf);
            buf.clear();
            while self.conn.wants_write() {
                // Writing into a Vec cannot fail.
                self.conn.write_tls(&mut buf)?;
            }
            // Stays set if the write fails or this future is dropped mid-flight: a record
            // may be half written and nothing sent after it would make sense to the peer.
            self.write_broken = true;
            let (res, mut buf) = self.tcp.write_all(buf).await;
            buf.clear();
            self.wbuf = buf;
            res?;
            self.write_broken = false;
        }
        Ok(())
    }

    /// Copy plaintext rustls holds into `dst` (up to `cap` bytes); returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes and not overlap rustls' buffers.
    unsafe fn copy_plaintext(&mut self, dst: *mut u8, cap: usize) -> usize {
        let mut copied = 0;
        while copied < cap {
            let mut reader = self.conn.reader();
            let chunk = match reader.fill_buf() {
                Ok(chunk) if !chunk.is_empty() => chunk,
                _ => break,
            };
            let n = chunk.len().min(cap - copied);
            // SAFETY: `chunk` holds `n` initialised bytes; by this function's contract
            // `dst + copied .. dst + copied + n` is inside the caller's writable region
            // (copied + n <= cap), and rustls' buffer cannot overlap it.
            unsafe { dst.add(copied).copy_from_nonoverlapping(chunk.as_ptr(), n) };
            reader.consume(n);
            copied += n;
        }
        copied
    }

    /// Make plaintext available to read. `Ok(false)`: none will come (close_notify or EOF).
    async fn fill_plaintext(&mut self) -> io::Result<bool> {
        loop {
            match self.conn.reader().fill_buf() {
                Ok(chunk) => return Ok(!chunk.is_empty()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(e),
            }
            if self.peer_closed {
                return Ok(false);
            }
            if self.rpos < self.rbuf.len() {
                self.feed().await?;
                continue;
            }
            if self.eof {
                return Ok(false);
            }
            // Post-handshake messages (TLS 1.3 KeyUpdate) may want an answer.
            if self.conn.wants_write() && !self.write_broken {
                self.flush_tls().await?;
            }
            self.read_tcp().await?;
        }
    }

    /// Hand `len` plaintext bytes at `ptr` to rustls. `queued` counts plaintext handed over
    /// since the last flush; whenever a batch is full its records go to the socket first.
    /// The caller flushes the remainder.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` initialised bytes for as long as the returned
    /// future lives, and the bytes must not change meanwhile.
    async unsafe fn queue_plaintext(
        &mut self,
        ptr: *const u8,
        len: usize,
        queued: &mut usize,
    ) -> io::Result<()> {
        let mut off = 0;
        while off < len {
            if *queued >= WRITE_BATCH {
                self.flush_tls().await?;
                *queued = 0;
            }
            let take = (len - off).min(WRITE_BATCH - *queued);
            // SAFETY: by this function's contract `ptr .. ptr + len` is readable and
            // unchanging; `off + take <= len`. The slice dies before the next await.
            let batch = unsafe { std::slice::from_raw_parts(ptr.add(off), take) };
            let n = self.conn.writer().write(batch)?;
            if n == 0 {
                if !self.conn.wants_write() {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "TLS connection accepts no more plaintext",
                    ));
                }
                // rustls' send buffer is at its limit: drain it, then go on.
                self.flush_tls().await?;
                *queued = 0;
                continue;
            }
            off += n;
            *queued += n;
        }
        Ok(())
    }

    async fn read_into<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let cap = buf.bytes_total();
        if cap == 0 {
            return (Ok(0), buf);
        }
        if let Some(e) = self.read_gate() {
            return (Err(e), buf);
        }
        loop {
            // SAFETY: `write_ptr` is valid for `bytes_total` bytes of writes (IoBufMut
            // contract) and the buffer is owned by this future, not by rustls.
            let n = unsafe { self.copy_plaintext(buf.write_ptr(), cap) };
            if n > 0 {
                // SAFETY: the first `n` bytes were just written.
                unsafe { buf.set_init(n) };
                return (Ok(n), buf);
            }
            match self.fill_plaintext().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn readv_into<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        if let Some(e) = self.read_gate() {
            return (Err(e), buf);
        }
        let count = buf.write_iovec_len();
        let ptr = buf.write_iovec_ptr();
        let mut total_cap = 0usize;
        for i in 0..count {
            // SAFETY: `ptr` points at `count` valid iovecs (IoVecBufMut contract).
            total_cap = total_cap.saturating_add(unsafe { (*ptr.add(i)).iov_len });
        }
        if total_cap == 0 {
            return (Ok(0), buf);
        }
        loop {
            let mut total = 0;
            for i in 0..count {
                // SAFETY: as above; the iovec array is owned by `buf`, which this future owns.
                let iov = unsafe { *buf.write_iovec_ptr().add(i) };
                // SAFETY: each iovec describes a writable region of `buf`.
                let n = unsafe { self.copy_plaintext(iov.iov_base.cast::<u8>(), iov.iov_len) };
                total += n;
                if n < iov.iov_len {
                    break;
                }
            }
            if total > 0 {
                // SAFETY: the iovecs were filled in order, `total` bytes in all.
                unsafe { buf.set_init(total) };
                return (Ok(total), buf);
            }
            match self.fill_plaintext().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_from<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let len = buf.bytes_init();
        if len == 0 {
            return (Ok(0), buf);
        }
        if self.write_broken {
            return (Err(write_broken_error()), buf);
        }
        let mut queued = 0;
        // SAFETY: `read_ptr` is valid for `bytes_init` initialised bytes and stays put while
        // the buffer is owned (IoBuf contract); this future owns it and never mutates it.
        let res = unsafe { self.queue_plaintext(buf.read_ptr(), len, &mut queued).await };
        let res = match res {
            Ok(()) => self.flush_tls().await,
            Err(e) => Err(e),
        };
        (res.map(|()| len), buf)
    }

    async fn writev_from<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        if self.write_broken {
            return (Err(write_broken_error()), buf);
        }
        let count = buf.read_iovec_len();
        let mut total = 0usize;
        let mut queued = 0;
        for i in 0..count {
            // SAFETY: `read_iovec_ptr` points at `count` valid iovecs (IoVecBuf contract),
            // owned by `buf`, which this future owns.
            let iov = unsafe { *buf.read_iovec_ptr().add(i) };
            if iov.iov_len == 0 {
                continue;
            }
            // SAFETY: each iovec describes `iov_len` initialised bytes of `buf`, which stays
            // owned and unchanged by this future until it completes.
            let res = unsafe {
                self.queue_plaintext(
                    iov.iov_base.cast::<u8>().cast_const(),
                    iov.iov_len,
                    &mut queued,
                )
                .await
            };
            if let Err(e) = res {
                return (Err(e), buf);
            }
            total += iov.iov_len;
        }
        let res = self.flush_tls().await;
        (res.map(|()| total), buf)
    }

    async fn flush_all(&mut self) -> io::Result<()> {
        self.flush_tls().await?;
        self.tcp.flush().await
    }

    async fn shutdown_tls(&mut self) -> io::Result<()> {
        let mut res = Ok(());
        // After a TLS failure rustls has sent (or queued) its fatal alert; nothing follows.
        if !self.write_broken && !self.tls_failed {
            if !self.close_sent {
                self.close_sent = true;
                self.conn.send_close_notify();
            }
            res = self.flush_tls().await;
        }
        let tcp_res = self.tcp.shutdown().await;
        res.and(tcp_res)
    }
}

impl<C, S> AsyncReadRent for TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    /// Plaintext into `buf` (from its start, like `read(2)`); `Ok(0)` after the peer's
    /// close_notify or at EOF.
    fn read<T: IoBufMut>(
        &mut self,
        buf: T,
    ) -> impl std::future::Future<Output = BufResult<usize, T>> {
        self.read_into(buf)
    }

    /// Plaintext into the iovecs in order; `Ok(0)` after close_notify or at EOF.
    fn readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
    ) -> impl std::future::Future<Output = BufResult<usize, T>> {
        self.readv_into(buf)
    }
}

impl<C, S> AsyncWriteRent for TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    /// Encrypt all of `buf` and write it to the socket before returning `Ok(len)`.
    fn write<T: IoBuf>(
        &mut self,
        buf: T,
    ) -> impl std::future::Future<Output = BufResult<usize, T>> {
        self.write_from(buf)
    }

    /// Gather: encrypt all iovecs in order and write them before returning the total.
    fn writev<T: IoVecBuf>(
        &mut self,
        buf_vec: T,
    ) -> impl std::future::Future<Output = BufResult<usize, T>> {
        self.writev_from(buf_vec)
    }

    /// Writes are never left buffered; this sends anything rustls still queued.
    fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
        self.flush_all()
    }

    /// Send close_notify (unless a write broke the stream or the peer's data failed TLS
    /// processing), then shut the TCP write side. Calling it again sends nothing more.
    fn shutdown(&mut self) -> impl std::future::Future<Output = io::Result<()>> {
        self.shutdown_tls()
    }
}

// ---------------------------------------------------------------------------------------
// Client configurations
// ---------------------------------------------------------------------------------------

fn ring() -> Arc<CryptoProvider> {
    Arc::new(ring_provider::default_provider())
}

/// A client config (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`) that trusts the CA
/// certificates in `pem` (a PEM bundle). Fails with `InvalidData` when the bundle holds no
/// usable certificate.
pub fn client_config_from_ca_pem(pem: &[u8]) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        let cert = cert.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        roots.add(cert).map_err(tls_error)?;
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no CA certificate found in the PEM bundle",
        ));
    }
    let mut config = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// `base` (its trust, name checks, ALPN, versions) presenting the certificate chain and key
/// `certified` to servers that ask for one (mutual TLS), with a session cache of its own:
/// a session resumed from `base`'s cache, or from another certificate's configuration,
/// would carry another identity.
pub fn with_client_certificate(
    base: &ClientConfig,
    certified: Arc<rustls::sign::CertifiedKey>,
) -> Arc<ClientConfig> {
    let mut config = base.clone();
    config.client_auth_cert_resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));
    config.resumption = rustls::client::Resumption::default();
    Arc::new(config)
}

/// FOR LOAD TESTING ONLY: a client config that accepts ANY server certificate (expired,
/// self-signed, for another name). It still checks that the server holds the key of the
/// certificate it sent, but anyone on the path can impersonate the server. Never use it for
/// real upstreams. Ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`.
///
/// Returns `io::Result` like [`client_config_from_ca_pem`] because the rustls config
/// builder is fallible, though it cannot fail with the built-in ring provider.
pub fn insecure_client_config() -> io::Result<Arc<ClientConfig>> {
    let provider = ring();
    let verifier = Arc::new(AcceptAnyServerCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Accepts every server certificate; still verifies handshake signatures against it.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundle_without_certificates_is_invalid_data() {
        let err = client_config_from_ca_pem(b"not a pem bundle").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[test]
    fn a_client_certificate_config_keeps_the_base_and_presents_the_certificate() {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .map(|d| d.as_ref().to_vec())
        .unwrap_or_default();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
        let Ok(signing) = rustls::crypto::ring::sign::any_ecdsa_type(&key) else {
            panic!("a generated P-256 key loads");
        };
        let chain = vec![CertificateDer::from(vec![0x30, 0])];
        let certified = Arc::new(rustls::sign::CertifiedKey::new(chain.clone(), signing));
        let Ok(base) = insecure_client_config() else {
            panic!("base config");
        };
        let with = with_client_certificate(&base, certified);
        assert!(with.client_auth_cert_resolver.has_certs());
        assert!(
            !base.client_auth_cert_resolver.has_certs(),
            "the base is untouched"
        );
        let presented = with
            .client_auth_cert_resolver
            .resolve(&[], &[SignatureScheme::ECDSA_NISTP256_SHA256]);
        assert_eq!(presented.map(|c| c.cert.clone()), Some(chain));
        assert_eq!(with.alpn_protocols, base.alpn_protocols);
    }

    #[test]
    fn insecure_config_offers_http11() {
        let config = insecure_client_config();
        assert!(config.is_ok());
        if let Ok(config) = config {
            assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
    }
}
