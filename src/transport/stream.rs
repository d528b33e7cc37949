//! A connection that is plain TCP or TLS over TCP, behind monoio's owned-buffer I/O traits,
//! so the HTTP code reads and writes either without caring. Zero-copy (splice) applies only
//! to the plain case: `as_plain` hands out the socket when there is one.

use std::io;
use std::ops::DerefMut;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::{ConnectionCommon, SideData};

use crate::transport::tls_io::TlsStream;

pub enum MaybeTls<C> {
    Plain(TcpStream),
    Tls(Box<TlsStream<C>>),
}

/// An upstream connection: TLS is the client side.
pub type UpstreamStream = MaybeTls<rustls::ClientConnection>;

/// A client connection: TLS is the server side.
pub type ClientStream = MaybeTls<rustls::ServerConnection>;

impl<C> MaybeTls<C> {
    /// The TCP socket, when no TLS is layered on it.
    pub fn as_plain(&mut self) -> Option<&mut TcpStream> {
        match self {
            MaybeTls::Plain(s) => Some(s),
            MaybeTls::Tls(_) => None,
        }
    }

    /// The underlying TCP socket.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(s) => s,
            MaybeTls::Tls(t) => t.tcp(),
        }
    }
}

impl<C, S> AsyncReadRent for MaybeTls<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.read(buf).await,
            MaybeTls::Tls(t) => t.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.readv(buf).await,
            MaybeTls::Tls(t) => t.readv(buf).await,
        }
    }
}

impl<C, S> AsyncWriteRent for MaybeTls<C>
where
    C: DerefMut<Target = ConnectionCommon<S>>,
    S: SideData,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.write(buf).await,
            MaybeTls::Tls(t) => t.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.writev(buf).await,
            MaybeTls::Tls(t) => t.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.flush().await,
            MaybeTls::Tls(t) => t.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.shutdown().await,
            MaybeTls::Tls(t) => t.shutdown().await,
        }
    }
}

/// Initial capacity of a connection's read buffer (and how much it grows by).
pub const READ_BUF: usize = 16 * 1024;

/// Read into the spare capacity of `buf` (growing it when less than 4 KiB is spare) and put
/// the buffer back into `slot`, whatever the outcome.
pub async fn read_append<R: AsyncReadRent>(
    src: &mut R,
    mut buf: Vec<u8>,
    slot: &mut Vec<u8>,
) -> io::Result<usize> {
    let len = buf.len();
    if buf.capacity() - len < 4096 {
        buf.reserve(READ_BUF.max(len));
    }
    let (res, slice) = src.read(buf.slice_mut(len..)).await;
    *slot = slice.into_inner();
    res
}
