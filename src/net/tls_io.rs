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

pub struct TlsStream<C> {
    _todo: std::marker::PhantomData<C>,
}
