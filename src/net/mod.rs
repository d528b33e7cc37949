//! Network plumbing: SO_REUSEPORT listeners and the client connection's buffers.

pub mod conn;
pub mod h2;
pub mod listener;
pub mod splice;
pub mod stream;
pub mod tls_accept;
pub mod tls_io;
pub mod x509;
