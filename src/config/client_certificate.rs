//! `apis[i].stages[j].client_certificate`: the certificate a stage presents to its HTTP
//! integrations' TLS upstreams (API Gateway's stage client certificate).
//!
//! SKELETON (issue 15): the helper for backend mutual TLS fills this in.

use serde::Deserialize;

use super::validate::Errors;

/// `apis[i].stages[j].client_certificate`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateFile {
    /// PEM certificate chain (relative to the configuration file).
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// A stage's client certificate, loaded.
#[derive(Debug)]
pub struct ClientCertificate {}

pub(super) fn build(
    e: &mut Errors,
    f: &ClientCertificateFile,
    path: &str,
) -> Option<ClientCertificate> {
    let _ = f;
    e.push(
        path.to_string(),
        "stage client certificates are not built yet",
    );
    None
}
