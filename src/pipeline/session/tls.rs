//! The TLS facts of a downstream connection, as the phases see them (`Session::tls`): the
//! handshake's custom domain, the SNI, the verified client certificate and the trust and
//! configuration it was last checked against. `net::tls_accept` establishes and re-checks
//! them.

use std::sync::{Arc, Weak};

use crate::config::snapshot::CustomDomain;
use crate::config::Snapshot;
use crate::transport::x509::CertInfo;

/// What the handshake established, kept with the connection.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// The custom domain whose certificate the handshake used. Requests match it to the
    /// current configuration's domains by name (`is_for`), never by position: a reload may
    /// reorder, add or remove domains. `recheck` replaces it with the current
    /// configuration's domain of the same name.
    pub domain: Arc<CustomDomain>,
    /// The SNI name the client sent, if any (lowercase).
    pub sni: Option<Box<str>>,
    /// The verified client certificate (mutual TLS), if one was presented.
    pub client_cert: Option<Box<CertInfo>>,
    /// The mutual-TLS trust (`CustomDomain::trust`) the connection was last verified under.
    pub trust: Option<[u8; 32]>,
    /// The configuration the connection was last checked against (`Weak`: it keeps the
    /// allocation, so a later configuration cannot reuse its address).
    pub checked: Weak<Snapshot>,
}

impl TlsInfo {
    /// Whether `d`, a domain of the configuration a request runs on, is this connection's
    /// handshake domain: the same one, or the one with its name after a reload.
    pub fn is_for(&self, d: &CustomDomain) -> bool {
        std::ptr::eq(&*self.domain, d) || self.domain.name.eq_ignore_ascii_case(&d.name)
    }

    /// Whether the connection was last checked against `snapshot` (then nothing changed
    /// for it: one pointer comparison).
    pub fn checked_against(&self, snapshot: &Arc<Snapshot>) -> bool {
        std::ptr::eq(self.checked.as_ptr(), Arc::as_ptr(snapshot))
    }
}
