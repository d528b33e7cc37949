//! The connection the request loop talks over: plain TCP, or TLS (rustls over monoio,
//! `transport::tls_io::TlsStream`). One enum so the request loop is shared; both variants are
//! driven through monoio's owned-buffer I/O.

use std::io;
use std::net::SocketAddr;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::ClientConnection;

use tollgate::transport::tls_io::TlsStream;

/// How to open a connection to the target.
#[derive(Clone)]
pub struct Connector {
    pub addr: SocketAddr,
    pub tls: Option<TlsSetup>,
}

/// TLS settings for https targets.
#[derive(Clone)]
pub struct TlsSetup {
    pub config: std::sync::Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<ClientConnection>>),
}

impl Connector {
    /// Open a connection (TCP connect, then the TLS handshake for https).
    pub async fn connect(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect_addr(self.addr).await?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => {
                let s =
                    TlsStream::connect(tcp, tls.config.clone(), tls.server_name.clone()).await?;
                Ok(Stream::Tls(Box::new(s)))
            }
        }
    }
}

impl Stream {
    /// Write all of `buf`; the buffer comes back whatever the outcome.
    pub async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Plain(s) => s.write_all(buf).await,
            Stream::Tls(s) => s.write_all(buf).await,
        }
    }

    /// Read into the spare capacity of `buf` (appending; `buf` never grows). `Ok(0)` is end
    /// of stream; a buffer without spare room is an error (the caller keeps room).
    pub async fn read_append(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let len = buf.len();
        if len == buf.capacity() {
            return (Err(io::Error::other("read buffer full")), buf);
        }
        let slice = buf.slice_mut(len..);
        let (res, slice) = match self {
            Stream::Plain(s) => s.read(slice).await,
            Stream::Tls(s) => s.read(slice).await,
        };
        (res, slice.into_inner())
    }
}
