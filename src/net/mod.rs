//! Network plumbing: SO_REUSEPORT listeners, TLS, and the sessions the pipeline runs over
//! (`h1`: HTTP/1.x on a client connection).

pub mod conn;
pub mod h1;
pub mod listener;
pub mod splice;
pub mod stream;
pub mod tls_accept;
pub mod tls_io;
pub mod x509;
