//! The TLS side of accepting on an HTTPS listener: read the ClientHello, choose the custom
//! domain from its SNI (exact name, then `*.` wildcard, else the listener's default domain,
//! else refuse with `unrecognized_name`), and finish the handshake with that domain's
//! configuration (certificate, security policy, mutual TLS verifier). A verified client
//! certificate is parsed once here for the `$context.identity.clientCert` fields and the
//! forwarded headers.
//!
//! Mutual TLS and resumption: rustls does not run the client verifier when a session is
//! resumed; it restores the chain stored with the session. So a resumed session on an mTLS
//! domain is re-verified here against the domain's current truststore and CRL (at the
//! current time) before any request is read, and refused (close_notify, connection closed,
//! logged) if that fails. Sessions are also bound to the trust they were made under
//! (`shared::mtls_session_cache`), so after a trust change the client falls back
//! to a full handshake and is refused with a TLS alert. Refused client certificates are
//! logged as API Gateway words them: "Access denied. Reason: ...".
//!
//! Open connections and reloads: a connection keeps its handshake's domain itself (never a
//! position in the domain list, which a reload may reorder) and the trust it was verified
//! under. The first request that runs on a newer configuration re-checks it (`recheck`):
//! when its domain's mutual-TLS trust changed, the chain it presented (or its absence) is
//! verified again with the domain's current verifier at the current time, and a failure
//! ends the connection with 403.

use std::io;
use std::sync::Arc;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::Acceptor;
use rustls::{HandshakeKind, ServerConnection};

use crate::config::snapshot::{CustomDomain, ListenerTls};
use crate::config::Snapshot;
use crate::pipeline::metrics::WorkerMetrics;
use crate::transport::tls_io::TlsStream;
use crate::transport::x509;

/// Largest ClientHello accepted (rustls refuses more anyway).
const MAX_HELLO: usize = 16 * 1024;

pub use crate::pipeline::session::tls::TlsInfo;

/// TLS alert descriptions the acceptor sends itself (RFC 8446 section 6).
const ALERT_HANDSHAKE_FAILURE: u8 = 40;
const ALERT_PROTOCOL_VERSION: u8 = 70;
const ALERT_UNRECOGNIZED_NAME: u8 = 112;

/// A plaintext fatal alert record (sent before any keys exist; record version 1.2 as
/// RFC 8446 section 5.1 asks).
fn fatal_alert(description: u8) -> [u8; 7] {
    [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// Whether `buf` starts with a ClientHello whose `legacy_version` is below TLS 1.2 (a TLS
/// 1.0/1.1 client: TLS 1.3 clients put 0x0303 there, RFC 8446 section 4.1.2).
fn is_legacy_hello(buf: &[u8]) -> bool {
    match buf {
        [0x16, _, _, _, _, 0x01, _, _, _, major, minor, ..] => {
            u16::from_be_bytes([*major, *minor]) < 0x0303
        }
        _ => false,
    }
}

/// Counts one handshake in the worker's metrics when dropped (`tollgate_tls_handshakes_total`
/// or, unless it succeeded, `..._failures_total`), so a handshake abandoned at the caller's
/// timeout counts as a failure too.
struct HandshakeCount<'a> {
    metrics: &'a WorkerMetrics,
    snapshot: &'a Arc<Snapshot>,
    /// The chosen domain's index, once known.
    domain: Option<usize>,
    ok: bool,
}

impl Drop for HandshakeCount<'_> {
    fn drop(&mut self) {
        self.metrics
            .tls_handshake(self.snapshot, self.domain, self.ok);
    }
}

/// Run the server side of the handshake on `tcp` (the caller bounds it with the listener's
/// handshake timeout). `configs` are the handshake configurations of `snapshot.domains`
/// with session resumption attached (`services::Services::tls_configs`). The outcome is
/// counted in `metrics` by domain.
pub async fn accept(
    tcp: TcpStream,
    snapshot: &Arc<Snapshot>,
    configs: &[Arc<rustls::ServerConfig>],
    tls: &ListenerTls,
    metrics: &WorkerMetrics,
) -> io::Result<(TlsStream<ServerConnection>, TlsInfo)> {
    let mut count = HandshakeCount {
        metrics,
        snapshot,
        domain: None,
        ok: false,
    };
    let accepted = accept_inner(tcp, snapshot, configs, tls, &mut count.domain).await;
    count.ok = accepted.is_ok();
    accepted
}

async fn accept_inner(
    mut tcp: TcpStream,
    snapshot: &Arc<Snapshot>,
    configs: &[Arc<rustls::ServerConfig>],
    tls: &ListenerTls,
    chosen: &mut Option<usize>,
) -> io::Result<(TlsStream<ServerConnection>, TlsInfo)> {
    let mut acceptor = Acceptor::default();
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut pos = 0;
    loop {
        if pos == buf.len() {
            if buf.len() >= MAX_HELLO {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ClientHello too large",
                ));
            }
            buf.reserve(2048);
            let len = buf.len();
            let (res, slice) = tcp.read(std::mem::take(&mut buf).slice_mut(len..)).await;
            buf = slice.into_inner();
            if res? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let mut rd = &buf[pos..];
        let before = rd.len();
        acceptor.read_tls(&mut rd)?;
        pos += before - rd.len();
        match acceptor.accept() {
            Ok(None) => continue,
            Ok(Some(accepted)) => {
                let sni: Option<Box<str>> = accepted
                    .client_hello()
                    .server_name()
                    .map(|n| n.to_ascii_lowercase().into());
                let domain = sni
                    .as_deref()
                    .and_then(|n| snapshot.domain_for_host(n))
                    .or(tls.default_domain);
                *chosen = domain;
                let Some(domain) = domain else {
                    // No certificate for this name: say so with a fatal alert
                    // (unrecognized_name, RFC 6066 section 3; handshake_failure without SNI).
                    let alert = if sni.is_some() {
                        ALERT_UNRECOGNIZED_NAME
                    } else {
                        ALERT_HANDSHAKE_FAILURE
                    };
                    let _ = tcp.write_all(fatal_alert(alert).to_vec()).await;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "no certificate for server name {:?}",
                            sni.as_deref().unwrap_or("(none)")
                        ),
                    ));
                };
                let (Some(d), Some(config)) = (snapshot.domains.get(domain), configs.get(domain))
                else {
                    return Err(io::Error::other("domain index out of range"));
                };
                let peer = tcp.peer_addr().ok();
                let conn = match accepted.into_connection(config.clone()) {
                    Ok(c) => c,
                    Err((err, mut alert)) => {
                        let mut out = Vec::new();
                        let _ = alert.write(&mut out);
                        let _ = tcp.write_all(out).await;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                    }
                };
                let mut stream = match TlsStream::finish_accept(tcp, conn, &buf[pos..]).await {
                    Ok(s) => s,
                    Err(e) => {
                        if d.client_verifier.is_some() {
                            if let Some(reason) = e
                                .get_ref()
                                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                                .and_then(refusal_reason)
                            {
                                log_refusal(&d.name, peer, reason, "");
                            }
                        }
                        return Err(e);
                    }
                };
                if d.client_verifier.is_some()
                    && stream.get_ref().handshake_kind() == Some(HandshakeKind::Resumed)
                {
                    if let Err(reason) = verify_stored_chain(stream.get_ref(), d) {
                        log_refusal(&d.name, peer, reason, " (resumed session)");
                        // The handshake is over, so no alert can name the reason: close
                        // cleanly before reading any request.
                        let _ = stream.shutdown().await;
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!("resumed session refused: {reason}"),
                        ));
                    }
                }
                let client_cert = stream
                    .get_ref()
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(|leaf| x509::parse_certificate(leaf).ok())
                    .map(Box::new);
                return Ok((
                    stream,
                    TlsInfo {
                        domain: d.clone(),
                        sni,
                        client_cert,
                        trust: d.trust,
                        checked: Arc::downgrade(snapshot),
                    },
                ));
            }
            Err((err, mut alert)) => {
                let mut out = Vec::new();
                if is_legacy_hello(&buf) {
                    // TLS 1.0/1.1: whatever rustls tripped over first (often the missing
                    // signature_algorithms), the answer is protocol_version.
                    out.extend_from_slice(&fatal_alert(ALERT_PROTOCOL_VERSION));
                } else {
                    let _ = alert.write(&mut out);
                }
                let _ = tcp.write_all(out).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, err));
            }
        }
    }
}

/// Whether the client certificate chain `conn` holds (or its absence) passes mutual TLS on
/// domain `d` as it is configured now: verified with the domain's current truststore and
/// CRL at the current time (a full handshake ran the same verifier inside rustls; a
/// resumed session or an open connection did not). `Err` is the refusal reason.
fn verify_stored_chain(conn: &ServerConnection, d: &CustomDomain) -> Result<(), &'static str> {
    verify_chain(conn.peer_certificates(), d)
}

/// `verify_stored_chain` for a chain kept apart from its connection (HTTP/2: the rustls
/// connection belongs to the connection task, its streams keep the chain).
fn verify_chain(
    chain: Option<&[CertificateDer<'static>]>,
    d: &CustomDomain,
) -> Result<(), &'static str> {
    let Some(mtls) = &d.mtls else {
        return Ok(());
    };
    let verifier: Option<&dyn ClientCertVerifier> = d.client_verifier.as_deref();
    match (chain, verifier) {
        (Some([leaf, intermediates @ ..]), Some(v)) => v
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| refusal_reason(&e).unwrap_or("invalid client certificate")),
        (Some([_, ..]), None) => Err("invalid client certificate"),
        _ if mtls.required => Err("No client certificate presented"),
        _ => Ok(()),
    }
}

/// Re-check an open connection against `snapshot`, the configuration its next request runs
/// on (call when `!tls.checked_against(snapshot)`). Its handshake domain is looked up by
/// name; when that domain's mutual-TLS trust is not the one the connection was verified
/// under, the connection's chain is verified again (`verify_stored_chain`) and the
/// forwarded identity taken from it anew. `Err` is the refusal reason (logged here): the
/// caller answers 403 and closes. A domain gone from the configuration leaves nothing to
/// verify (requests then name no domain of this connection: 421).
pub fn recheck(
    tls: &mut TlsInfo,
    conn: &ServerConnection,
    snapshot: &Arc<Snapshot>,
    peer: std::net::SocketAddr,
) -> Result<(), &'static str> {
    recheck_chain(tls, conn.peer_certificates(), snapshot, peer)
}

/// `recheck` with the client's certificate chain kept apart from its connection (HTTP/2
/// streams: the rustls connection belongs to the connection task).
pub fn recheck_chain(
    tls: &mut TlsInfo,
    chain: Option<&[CertificateDer<'static>]>,
    snapshot: &Arc<Snapshot>,
    peer: std::net::SocketAddr,
) -> Result<(), &'static str> {
    let current = snapshot.domains.iter().find(|d| tls.is_for(d));
    if let Some(d) = current {
        if d.trust != tls.trust {
            if let Err(reason) = verify_chain(chain, d) {
                log_refusal(
                    &d.name,
                    Some(peer),
                    reason,
                    " (open connection, after a reload)",
                );
                return Err(reason);
            }
            tls.client_cert = match d.mtls {
                Some(_) => chain
                    .and_then(|certs| certs.first())
                    .and_then(|leaf| x509::parse_certificate(leaf).ok())
                    .map(Box::new),
                None => None,
            };
            tls.trust = d.trust;
        }
        if !Arc::ptr_eq(&tls.domain, d) {
            tls.domain = d.clone();
        }
    } else {
        tls.trust = None;
    }
    tls.checked = Arc::downgrade(snapshot);
    Ok(())
}

/// API Gateway's wording for why a client certificate was refused (its execution logs say
/// "Access denied. Reason: ..."), or `None` for handshake failures that are not about the
/// client certificate.
fn refusal_reason(e: &rustls::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    Some(match e {
        rustls::Error::NoCertificatesPresented => "No client certificate presented",
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "Could not find issuer for certificate",
            C::Expired | C::ExpiredContext { .. } => "certificate has expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate is not yet valid",
            C::Revoked => "certificate revoked",
            C::UnknownRevocationStatus => "unable to get certificate CRL",
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => "CRL has expired",
            C::BadSignature | C::UnsupportedSignatureAlgorithmContext { .. } => {
                "Client cert using an insecure Signature Algorithm"
            }
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "unsupported certificate purpose"
            }
            C::BadEncoding => "unable to decode the client certificate",
            _ => "invalid client certificate",
        },
        rustls::Error::InvalidCertRevocationList(_) => "unable to get certificate CRL",
        _ => return None,
    })
}

/// Log a refused client certificate on the log thread (never blocking the worker), at most
/// a few lines per second per worker so a flood of bad handshakes cannot flood the log.
/// `how` says on what, e.g. " (resumed session)", or "" for a full handshake.
fn log_refusal(domain: &str, peer: Option<std::net::SocketAddr>, reason: &str, how: &str) {
    if let Some(suppressed) = crate::observe::log::allow_burst() {
        let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let more = if suppressed > 0 {
            format!(" ({suppressed} similar line(s) suppressed)")
        } else {
            String::new()
        };
        crate::log!("mtls {domain}: client {peer}{how}: Access denied. Reason: {reason}{more}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hellos_are_recognised() {
        let hello = |v: [u8; 2]| {
            let mut b = vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c];
            b.extend_from_slice(&v);
            b.extend_from_slice(&[0; 8]);
            b
        };
        assert!(is_legacy_hello(&hello([3, 1])));
        assert!(is_legacy_hello(&hello([3, 2])));
        assert!(is_legacy_hello(&hello([3, 0])));
        assert!(!is_legacy_hello(&hello([3, 3])));
        assert!(!is_legacy_hello(&[0x16, 0x03, 0x01]));
        assert!(!is_legacy_hello(b"GET / HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn refusal_reasons_in_api_gateway_words() {
        use rustls::CertificateError as C;
        let r = |c: C| refusal_reason(&rustls::Error::InvalidCertificate(c));
        assert_eq!(
            r(C::UnknownIssuer),
            Some("Could not find issuer for certificate")
        );
        assert_eq!(r(C::Expired), Some("certificate has expired"));
        assert_eq!(r(C::Revoked), Some("certificate revoked"));
        assert_eq!(
            refusal_reason(&rustls::Error::NoCertificatesPresented),
            Some("No client certificate presented")
        );
        assert_eq!(refusal_reason(&rustls::Error::DecryptError), None);
    }
}
