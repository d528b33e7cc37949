//! `apis[i].stages[j].client_certificate`: the certificate a stage presents to its HTTP
//! integrations' TLS upstreams (API Gateway's stage client certificate, for backend mutual
//! TLS).
//!
//! At load (off the workers), the PEM files are read and checked: readable, a certificate
//! chain and a private key, the key matching the leaf certificate, the leaf valid now (an
//! expired one is refused naming the date) and usable for client authentication. What is
//! kept is the chain and its signing key, ready for rustls ([`ClientCertificate`]), and an id
//! no other load in this process uses.
//!
//! Where it is presented: HTTP_PROXY integrations through a target group with `tls:` (URL
//! integrations are `http://` only). The rustls client configuration for a (stage
//! certificate, target group) pair is the group's own (its CA, ALPN) with this certificate
//! and a session cache of its own ([`ClientCertificate::client_config`]); each worker makes
//! it once, on the pair's first request, and keeps it until the next reload
//! (`upstream::pool::Upstreams::client_tls`), with a pool of connections of its own.
//!
//! CROSS-CORE: [`NEXT_ID`], a process-wide counter (`AtomicU64`), is taken once per stage
//! certificate at configuration load (the supervisor's thread), never on the request path.
//! The [`ClientCertificate`] itself is immutable snapshot data (`Arc<CertifiedKey>`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::Deserialize;

use super::validate::Errors;
use crate::transport::x509;

/// `apis[i].stages[j].client_certificate`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateFile {
    /// PEM certificate chain (relative to the configuration file).
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// Largest client certificate or key file read. A real chain (leaf and an intermediate or
/// two) is a few KB; every stage reads its own files, so this bounds a load.
pub const MAX_PEM_BYTES: u64 = 256 * 1024;

/// Largest certificate chain presented, in DER bytes (as for custom domains' chains).
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// The next [`ClientCertificate::id`]. See the module's CROSS-CORE note.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A stage's client certificate, loaded and checked.
pub struct ClientCertificate {
    /// Unique among every certificate this process loads (never reused across reloads):
    /// the key of the TLS configurations and connection pools made with it, so a
    /// connection authenticated with it serves no other stage and no later configuration.
    pub id: u64,
    /// The chain (leaf first) and its signing key, checked to match.
    pub certified: Arc<CertifiedKey>,
    /// The leaf's subject, RFC 4514 (`CN=gateway,O=Example`), for logs.
    pub subject_dn: String,
    /// The leaf's validity.notAfter, Unix seconds.
    pub not_after: i64,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientCertificate")
            .field("id", &self.id)
            .field("subject_dn", &self.subject_dn)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// The configuration for TLS connections to a target group whose own configuration is
    /// `base`: the same trust, name checks and ALPN, presenting this certificate, with a
    /// session cache of its own (a resumed session carries the identity it was made with,
    /// so sessions are never shared with another certificate or with none).
    pub fn client_config(&self, base: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
        crate::transport::tls_io::with_client_certificate(base, self.certified.clone())
    }
}

pub(super) fn build(
    e: &mut Errors,
    f: &ClientCertificateFile,
    path: &str,
) -> Option<ClientCertificate> {
    match load(f, &e.base_dir_owned(), unix_now()) {
        Ok(c) => Some(c),
        Err(list) => {
            for (key, reason) in list {
                e.push(format!("{path}.{key}"), reason);
            }
            None
        }
    }
}

/// Read and check the files of `f` (relative to `base_dir`), the certificate's validity
/// against `now` (Unix seconds). Every problem found, as (`cert` or `key`, reason naming
/// the file).
fn load(
    f: &ClientCertificateFile,
    base_dir: &Path,
    now: i64,
) -> Result<ClientCertificate, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let (cert_file, key_file) = (base_dir.join(&f.cert), base_dir.join(&f.key));
    let in_cert = |reason: String| ("cert", format!("{}: {reason}", cert_file.display()));
    // The certificate: read, parsed, valid now and for client authentication.
    let cert = read_chain(&cert_file).and_then(|chain| {
        let leaf = chain.first().ok_or("holds no PEM certificate")?;
        let info = x509::parse_certificate(leaf)
            .map_err(|reason| format!("cannot read the certificate: {reason}"))?;
        Ok((chain, info))
    });
    let cert = match cert {
        Ok((chain, info)) => {
            let leaf_checks = chain
                .first()
                .map(|leaf| [check_validity(&info, now), check_client_auth(leaf)]);
            for reason in leaf_checks.into_iter().flatten().filter_map(Result::err) {
                errors.push(in_cert(reason));
            }
            Some((chain, info))
        }
        Err(reason) => {
            errors.push(in_cert(reason));
            None
        }
    };
    let in_key = |reason: String| ("key", format!("{}: {reason}", key_file.display()));
    let key = read_key(&key_file).map_err(|r| errors.push(in_key(r))).ok();
    // The pair: the key is the leaf's.
    let (Some((chain, info)), Some(key)) = (cert, key) else {
        return Err(errors);
    };
    let certified = certified_key(chain, key)
        .map_err(|reason| errors.push(in_key(reason)))
        .ok();
    match certified {
        Some(certified) if errors.is_empty() => Ok(ClientCertificate {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            certified: Arc::new(certified),
            subject_dn: info.subject_dn,
            not_after: info.not_after,
        }),
        _ => Err(errors),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The certificates of the PEM file `file` (leaf first), at least one, within
/// [`MAX_CHAIN_BYTES`].
fn read_chain(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = super::bounded::read_capped(file, MAX_PEM_BYTES)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    let certs = match certs {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return Err("holds no PEM certificate".into()),
        Err(err) => return Err(format!("bad PEM: {err}")),
    };
    let bytes: usize = certs.iter().map(|c| c.len()).sum();
    if bytes > MAX_CHAIN_BYTES {
        return Err(format!(
            "the certificate chain is {bytes} bytes of DER; at most {MAX_CHAIN_BYTES} (64 KiB) \
             are allowed (a real chain is a few KB)"
        ));
    }
    Ok(certs)
}

/// The private key of the PEM file `file` (PKCS#8, PKCS#1 or SEC1).
fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = super::bounded::read_capped(file, MAX_PEM_BYTES)?;
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err("holds no PEM private key".into()),
        Err(err) => Err(format!("bad PEM: {err}")),
    }
}

/// The chain with its signing key: the key must be of a kind rustls signs with (RSA, ECDSA
/// P-256/P-384, Ed25519) and be the leaf's.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, String> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|err| format!("unusable private key: {err}"))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err("the key does not match the certificate (it is another certificate's key)".into())
        }
        Err(err) => Err(format!(
            "cannot check that the key matches the certificate: {err}"
        )),
    }
}

/// The leaf must be valid at `now` (Unix seconds): an expired certificate names the date
/// it expired, a future one the date it becomes valid.
fn check_validity(info: &x509::CertInfo, now: i64) -> Result<(), String> {
    if info.not_after < now {
        return Err(format!(
            "the certificate expired on {}",
            x509::format_validity(info.not_after)
        ));
    }
    if info.not_before > now {
        return Err(format!(
            "the certificate is not valid before {}",
            x509::format_validity(info.not_before)
        ));
    }
    Ok(())
}

/// A leaf that limits its use (extendedKeyUsage) must allow client authentication: a
/// backend verifying it would refuse a server-only certificate in every handshake.
fn check_client_auth(leaf: &CertificateDer<'_>) -> Result<(), String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref())
        .map_err(|err| format!("cannot read the certificate: {err}"))?;
    match cert.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(eku)) if eku.value.client_auth || eku.value.any => Ok(()),
        Ok(Some(_)) => Err(
            "the certificate's extended key usage does not include client authentication \
             (clientAuth, 1.3.6.1.5.5.7.3.2): a backend would refuse it"
                .into(),
        ),
        Err(err) => Err(format!(
            "cannot read the certificate's extended key usage: {err}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::{assert_error, errors};
    use crate::config::validate::{from_str, ConfigErrors};
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// A scratch directory with a CA, client leaves it signs and odd files, removed on drop.
    struct Pki(PathBuf);

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    impl Pki {
        fn p(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }

        fn openssl(&self, args: &[&str]) {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&self.0)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "these tests make their certificates with the openssl CLI, which cannot \
                         run ({e}): `make test-deps`, or apt-get install openssl"
                    )
                });
            assert!(
                out.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        /// A leaf `<name>.pem`/`<name>.key` for `subj` signed by the CA, with `ext` lines.
        fn leaf(&self, name: &str, subj: &str, ext: &str) {
            std::fs::write(self.0.join(format!("{name}.ext")), ext).expect("write ext");
            self.openssl(&[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subj,
            ]);
            self.openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ]);
        }

        fn new() -> Pki {
            static SEQ: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "tollgate-client-cert-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let pki = Pki(dir);
            pki.openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=backend test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            let client = "basicConstraints=critical,CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";
            pki.leaf("gw", "/O=Example/CN=gateway", client);
            pki.leaf("other", "/CN=other", client);
            pki.leaf(
                "server",
                "/CN=server only",
                "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
            );
            pki.leaf(
                "plain",
                "/CN=no eku",
                "basicConstraints=critical,CA:FALSE\n",
            );
            // A key rustls cannot sign with (secp256k1).
            pki.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
                "-out",
                "k1.key",
            ]);
            std::fs::write(pki.0.join("junk.pem"), "not a PEM file\n").expect("write junk");
            // The leaf then the CA: a chain.
            let chain = [
                std::fs::read_to_string(pki.0.join("gw.pem")).expect("read gw.pem"),
                std::fs::read_to_string(pki.0.join("ca.pem")).expect("read ca.pem"),
            ]
            .concat();
            std::fs::write(pki.0.join("chain.pem"), chain).expect("write chain");
            pki
        }

        /// Load `cert`/`key` (file names in the directory, or absolute) at `now`: the
        /// certificate, or every error as `KEY: reason` lines under a stage's key path.
        fn build(&self, cert: &str, key: &str, now: i64) -> Result<ClientCertificate, String> {
            let f = ClientCertificateFile {
                cert: cert.to_string(),
                key: key.to_string(),
            };
            load(&f, &self.0, now).map_err(|list| {
                list.iter()
                    .map(|(k, r)| format!("apis[0].stages[0].client_certificate.{k}: {r}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }

    fn valid_now(pki: &Pki, name: &str) -> i64 {
        let pem = std::fs::read(pki.0.join(format!("{name}.pem"))).expect("read pem");
        let der = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .and_then(Result::ok)
            .expect("a certificate");
        let info = x509::parse_certificate(&der).expect("parse");
        info.not_before + 60
    }

    #[test]
    fn a_good_pair_loads_with_its_subject_and_a_fresh_id() {
        let pki = Pki::new();
        let now = valid_now(&pki, "gw");
        let a = pki.build("gw.pem", "gw.key", now).expect("loads");
        assert_eq!(a.subject_dn, "CN=gateway,O=Example");
        assert_eq!(a.certified.cert.len(), 1);
        let b = pki
            .build("chain.pem", &pki.p("gw.key"), now)
            .expect("loads");
        assert_eq!(b.certified.cert.len(), 2, "the whole chain is presented");
        assert_ne!(a.id, b.id, "every load gets its own id");
        let plain = pki.build("plain.pem", "plain.key", now);
        assert!(plain.is_ok(), "no extendedKeyUsage: any use: {plain:?}");
        // The Debug form never shows the key.
        let shown = format!("{a:?}");
        assert!(
            shown.contains("CN=gateway") && !shown.contains("key"),
            "{shown}"
        );
    }

    #[test]
    fn unreadable_or_unparseable_files_name_their_key_and_file() {
        let pki = Pki::new();
        let now = valid_now(&pki, "gw");
        let path = "apis[0].stages[0].client_certificate";
        let err = pki
            .build("missing.pem", "gw.key", now)
            .expect_err("missing");
        assert!(
            err.contains(&format!(
                "{path}.cert: {}: cannot read the file",
                pki.p("missing.pem")
            )),
            "{err}"
        );
        let err = pki
            .build("gw.pem", "missing.key", now)
            .expect_err("missing");
        assert!(
            err.contains(&format!("{path}.key: ")) && err.contains("cannot read the file"),
            "{err}"
        );
        let err = pki.build("junk.pem", "gw.key", now).expect_err("junk");
        assert!(
            err.contains(&format!(
                "{path}.cert: {}: holds no PEM certificate",
                pki.p("junk.pem")
            )),
            "{err}"
        );
        let err = pki.build("gw.pem", "junk.pem", now).expect_err("junk");
        assert!(
            err.contains(&format!(
                "{path}.key: {}: holds no PEM private key",
                pki.p("junk.pem")
            )),
            "{err}"
        );
        // A key file given as the certificate and the other way round.
        let err = pki.build("gw.key", "gw.pem", now).expect_err("swapped");
        assert!(
            err.contains("holds no PEM certificate") && err.contains("holds no PEM private key"),
            "{err}"
        );
        let err = pki
            .build(&pki.0.display().to_string(), "gw.key", now)
            .expect_err("a directory");
        assert!(err.contains("not a regular file"), "{err}");
        // A certificate PEM block whose DER is not a certificate.
        std::fs::write(
            pki.0.join("bad-der.pem"),
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = pki
            .build("bad-der.pem", "gw.key", now)
            .expect_err("bad der");
        assert!(
            err.contains(&format!("{path}.cert: ")) && err.contains("cannot read the certificate"),
            "{err}"
        );
        // Too big.
        std::fs::write(
            pki.0.join("huge.pem"),
            vec![b'a'; MAX_PEM_BYTES as usize + 1],
        )
        .expect("write");
        let err = pki.build("huge.pem", "gw.key", now).expect_err("huge");
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused_at_the_key() {
        let pki = Pki::new();
        let now = valid_now(&pki, "gw");
        let err = pki.build("gw.pem", "other.key", now).expect_err("mismatch");
        assert!(
            err.contains(&format!(
                "apis[0].stages[0].client_certificate.key: {}: the key does not match the certificate",
                pki.p("other.key")
            )),
            "{err}"
        );
        let err = pki.build("gw.pem", "k1.key", now).expect_err("secp256k1");
        assert!(
            err.contains("client_certificate.key: ") && err.contains("unusable private key"),
            "{err}"
        );
    }

    #[test]
    fn an_expired_or_future_certificate_names_the_date() {
        let pki = Pki::new();
        let pem = std::fs::read(pki.0.join("gw.pem")).expect("read");
        let der = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .and_then(Result::ok)
            .expect("cert");
        let info = x509::parse_certificate(&der).expect("parse");
        let err = pki
            .build("gw.pem", "gw.key", info.not_after + 1)
            .expect_err("expired");
        assert!(
            err.contains(&format!(
                "apis[0].stages[0].client_certificate.cert: {}: the certificate expired on {}",
                pki.p("gw.pem"),
                x509::format_validity(info.not_after)
            )),
            "{err}"
        );
        // The last second of validity still loads; the first second too.
        assert!(pki.build("gw.pem", "gw.key", info.not_after).is_ok());
        assert!(pki.build("gw.pem", "gw.key", info.not_before).is_ok());
        let err = pki
            .build("gw.pem", "gw.key", info.not_before - 1)
            .expect_err("not yet valid");
        assert!(
            err.contains(&format!(
                "the certificate is not valid before {}",
                x509::format_validity(info.not_before)
            )),
            "{err}"
        );
        // The pure check, on made-up times.
        let mut made = info.clone();
        made.not_before = 1_000;
        made.not_after = 2_000;
        assert!(check_validity(&made, 1_500).is_ok());
        assert_eq!(
            check_validity(&made, 2_001),
            Err(format!(
                "the certificate expired on {}",
                x509::format_validity(2_000)
            ))
        );
    }

    #[test]
    fn a_server_only_certificate_is_refused() {
        let pki = Pki::new();
        let now = valid_now(&pki, "server");
        let err = pki
            .build("server.pem", "server.key", now)
            .expect_err("serverAuth only");
        assert!(
            err.contains("client_certificate.cert: ") && err.contains("clientAuth"),
            "{err}"
        );
    }

    /// Through the whole file: paths relative to the configuration file, every error found
    /// at once, and a stage without the key keeps today's behaviour.
    #[test]
    fn stage_client_certificates_in_a_configuration_file() {
        let pki = Pki::new();
        let file = |cert: &str, key: &str| {
            format!(
                "listeners:
  - name: public
    bind: 127.0.0.1:0
apis:
  - id: a
    routes: []
    stages:
      - name: prod
        client_certificate: {{cert: {cert}, key: {key}}}
      - name: plain
"
            )
        };
        let source = pki.0.join("gateway.yaml");
        let snap = from_str(&source, &file("gw.pem", "gw.key")).unwrap_or_else(|e| panic!("{e}"));
        let stages = &snap.apis[0].stages;
        let cert = stages["prod"]
            .client_certificate
            .as_ref()
            .expect("a certificate");
        assert_eq!(cert.subject_dn, "CN=gateway,O=Example");
        assert!(stages["plain"].client_certificate.is_none());
        let list = match from_str(&source, &file("gw.pem", "other.key")) {
            Ok(_) => panic!("a mismatched pair loaded"),
            Err(ConfigErrors(list)) => list,
        };
        assert_error(
            &list,
            "apis[0].stages[0].client_certificate.key",
            "does not match the certificate",
        );
        // Unknown keys are refused by the file model.
        let list =
            errors(&file("gw.pem", "gw.key").replace("key: gw.key}", "key: gw.key, password: x}"));
        assert!(
            list.iter().any(|e| e.reason.contains("password")),
            "{}",
            ConfigErrors(list.clone())
        );
    }
}
