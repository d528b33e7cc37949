//! The TLS side of accepting on an HTTPS listener: read the ClientHello, choose the custom
//! domain from its SNI (exact name, then `*.` wildcard, else the listener's default domain,
//! else refuse), and finish the handshake with that domain's configuration (certificate,
//! security policy, mutual TLS verifier). A verified client certificate is parsed once here
//! for the `$context.identity.clientCert` fields and the forwarded headers.

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::server::Acceptor;
use rustls::ServerConnection;

use crate::config::snapshot::ListenerTls;
use crate::config::Snapshot;
use crate::net::tls_io::TlsStream;
use crate::net::x509::{self, CertInfo};

/// Largest ClientHello accepted (rustls refuses more anyway).
const MAX_HELLO: usize = 16 * 1024;

/// What the handshake established, kept with the connection.
#[derive(Debug)]
pub struct TlsInfo {
    /// The custom domain (index into `Snapshot::domains`) whose certificate was used.
    pub domain: usize,
    /// The SNI name the client sent, if any (lowercase).
    pub sni: Option<Box<str>>,
    /// The verified client certificate (mutual TLS), if one was presented.
    pub client_cert: Option<Box<CertInfo>>,
}

/// Run the server side of the handshake on `tcp` (the caller bounds it with the listener's
/// handshake timeout).
pub async fn accept(
    mut tcp: TcpStream,
    snapshot: &Snapshot,
    tls: &ListenerTls,
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
                let Some(domain) = domain else {
                    // Let rustls refuse it with an alert, then report the reason.
                    if let Some(refusing) = crate::runtime::shared::refusing_server_config() {
                        if let Ok(conn) = accepted.into_connection(refusing) {
                            let _ = TlsStream::finish_accept(tcp, conn, &buf[pos..]).await;
                        }
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "no certificate for server name {:?}",
                            sni.as_deref().unwrap_or("(none)")
                        ),
                    ));
                };
                let Some(d) = snapshot.domains.get(domain) else {
                    return Err(io::Error::other("domain index out of range"));
                };
                let conn = match accepted.into_connection(d.server_config.clone()) {
                    Ok(c) => c,
                    Err((err, mut alert)) => {
                        let mut out = Vec::new();
                        let _ = alert.write(&mut out);
                        let _ = tcp.write_all(out).await;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                    }
                };
                let stream = TlsStream::finish_accept(tcp, conn, &buf[pos..]).await?;
                let client_cert = stream
                    .get_ref()
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .and_then(|leaf| x509::parse_certificate(leaf).ok())
                    .map(Box::new);
                return Ok((
                    stream,
                    TlsInfo {
                        domain,
                        sni,
                        client_cert,
                    },
                ));
            }
            Err((err, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write(&mut out);
                let _ = tcp.write_all(out).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, err));
            }
        }
    }
}
