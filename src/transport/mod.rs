//! Bytes over sockets, with no gateway knowledge: plain TCP or TLS behind one owned-buffer
//! I/O interface (`stream`, `tls_io`), socket-to-socket moves with splice (`splice`), owned buffers in one vectored write
//! (`vectored`), and
//! X.509 certificate facts for mutual TLS (`x509`).

pub mod splice;
pub mod stream;
pub mod tls_io;
pub mod vectored;
pub mod x509;
