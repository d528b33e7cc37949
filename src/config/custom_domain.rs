//! Validation of `custom_domains:`: certificate chain and key (read now, so a bad or expired
//! file is refused with the old configuration kept), security policy, mutual TLS truststore
//! and CRL, and base-path mappings to existing API stages.
//!
//! What a domain costs is bounded: at most [`MAX_CUSTOM_DOMAINS`] domains of at most
//! [`MAX_BASE_PATH_MAPPINGS`] mappings each; every certificate, key, truststore and CRL file
//! is read and parsed once per load however many domains name it ([`SharedFiles`]), what
//! the copies built from them may hold is bounded ([`MAX_CHAIN_BYTES`],
//! [`MAX_CERTIFICATE_BYTES`], [`MAX_TRUST_BYTES`]), and no domain pre-allocates session
//! storage (`shared`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::AHashMap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};

use super::file::{CustomDomainFile, MtlsFile};
use super::snapshot::{Api, BasePathMapping, CustomDomain, MtlsSettings};
use super::validate::Errors;
use crate::transport::x509;

/// The most custom domains one configuration may have. API Gateway's default quota is 120
/// per account and region; this is generous beyond it, and bounds what loading can cost
/// (each domain holds a rustls configuration; see docs/BEHAVIOUR.md "Configuration loading").
pub const MAX_CUSTOM_DOMAINS: usize = 10_000;

/// The most base-path mappings one custom domain may have (API Gateway allows 200
/// multi-level mappings per domain). Each request on a domain scans its mappings.
pub const MAX_BASE_PATH_MAPPINGS: usize = 1_000;

pub(super) fn build_domains(
    e: &mut Errors,
    files: &[CustomDomainFile],
    base_dir: &Path,
    apis_by_id: &AHashMap<String, usize>,
    apis: &[Arc<Api>],
    execute_api_suffix: &str,
) -> Vec<Arc<CustomDomain>> {
    if files.len() > MAX_CUSTOM_DOMAINS {
        // Refused before anything is built for them.
        e.push(
            "custom_domains",
            format!(
                "{} custom domains; at most {MAX_CUSTOM_DOMAINS} are allowed (each holds a TLS \
                 configuration; API Gateway's default quota is 120 per region)",
                files.len()
            ),
        );
        return Vec::new();
    }
    let mut shared = SharedFiles::new();
    let mut out = Vec::with_capacity(files.len());
    let mut seen: AHashMap<String, usize> = AHashMap::with_capacity(files.len());
    for (i, d) in files.iter().enumerate() {
        let path = format!("custom_domains[{i}]");
        if let Some(first) = seen.get(&d.name.to_ascii_lowercase()) {
            e.push(
                format!("{path}.name"),
                format!(
                    "duplicate custom domain `{}` (first defined at custom_domains[{first}])",
                    d.name
                ),
            );
        } else {
            seen.insert(d.name.to_ascii_lowercase(), i);
        }
        if let Some(reason) = shadows_execute_api(&d.name, execute_api_suffix, apis_by_id) {
            e.push(format!("{path}.name"), reason);
        }
        if let Some(domain) = build_domain(e, &mut shared, d, &path, base_dir, apis_by_id, apis) {
            out.push(Arc::new(domain));
        }
    }
    out
}

/// A file as the kernel knows it (device and inode), so that `c.pem`, `./c.pem` and a
/// symbolic link to it are one file; its path when it cannot be examined (reading it
/// fails then too, with the reason).
#[derive(Clone, PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64),
    Path(PathBuf),
}

impl FileId {
    fn of(path: &Path) -> FileId {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(m) => FileId::Inode(m.dev(), m.ino()),
            Err(_) => FileId::Path(path.to_path_buf()),
        }
    }
}

/// The mutual-TLS trust of a domain: its verifier (none when the truststore was unusable),
/// the fingerprint its session cache is bound to, and the errors found building it (key
/// suffix under `mtls`, reason).
struct Trust {
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    fingerprint: [u8; 32],
    errors: Vec<(&'static str, String)>,
}

/// A truststore file as read once per load: its CA certificates (none when unusable), the
/// digest of its certificates (part of the trust fingerprint), and the errors found reading it.
struct TrustStore {
    roots: Option<Arc<RootCertStore>>,
    digest: [u8; 32],
    errors: Vec<String>,
}

/// A CRL file as read once per load: its CRLs, their digest (part of the trust
/// fingerprint) and their size in DER bytes.
struct Crls {
    list: Vec<CertificateRevocationListDer<'static>>,
    digest: [u8; 32],
    bytes: usize,
}

/// What one load has read, parsed and built from the files its domains name, so that ten
/// thousand domains naming one certificate, key and truststore hold one copy of each (a
/// file may be up to 16 MiB), and an error about a file is found once and reported for
/// every domain naming it. Lives for one load only: a reload reads every file again.
///
/// What it holds is bounded: a certificate chain is at most [`MAX_CHAIN_BYTES`]; the chains
/// of distinct certificate files plus the copy each distinct (certificate, key) pair makes
/// are at most [`MAX_CERTIFICATE_BYTES`]; the CA certificates of distinct truststores, the
/// CRLs of distinct CRL files and the copy of them each distinct (truststore, CRL, mode)
/// verifier makes are at most [`MAX_TRUST_BYTES`]. What goes past is refused.
struct SharedFiles {
    provider: Arc<CryptoProvider>,
    certs: AHashMap<FileId, Result<Arc<Vec<CertificateDer<'static>>>, String>>,
    keys: AHashMap<FileId, Result<Arc<PrivateKeyDer<'static>>, String>>,
    certified: AHashMap<(FileId, FileId), Result<Arc<CertifiedKey>, String>>,
    /// DER bytes of the chains in `certs` and `certified`.
    certificate_bytes: usize,
    truststores: AHashMap<FileId, Arc<TrustStore>>,
    crls: AHashMap<FileId, Result<Arc<Crls>, String>>,
    trusts: AHashMap<(FileId, Option<FileId>, bool), Arc<Trust>>,
    /// DER bytes of the truststores in `truststores`, the CRLs in `crls`, and the CRLs
    /// handed to the verifiers in `trusts`.
    trust_bytes: usize,
    /// How many times a truststore and a CRL file were read (tests).
    #[cfg(test)]
    reads: (usize, usize),
}

/// The largest certificate chain a domain may serve, in DER bytes: a real chain (leaf and
/// one or two intermediates) is a few KB.
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// The most certificate chain bytes (DER) one load may hold: each distinct certificate
/// file's chain, and the copy each distinct (certificate, key) pair makes. 10,000 domains
/// each with its own files and a 6 KB chain need 120 MB.
pub const MAX_CERTIFICATE_BYTES: usize = 128 << 20;

/// The most trust material (DER bytes) one load may hold: the CA certificates of each
/// distinct truststore, the CRLs of each distinct CRL file, and the copy of the CRLs each
/// distinct (truststore, CRL, mode) client verifier makes.
pub const MAX_TRUST_BYTES: usize = 64 << 20;

const MIB: usize = 1 << 20;

impl SharedFiles {
    fn new() -> Self {
        SharedFiles {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            certs: AHashMap::new(),
            keys: AHashMap::new(),
            certified: AHashMap::new(),
            certificate_bytes: 0,
            truststores: AHashMap::new(),
            crls: AHashMap::new(),
            trusts: AHashMap::new(),
            trust_bytes: 0,
            #[cfg(test)]
            reads: (0, 0),
        }
    }

    fn certs(
        &mut self,
        e: &mut Errors,
        key: &str,
        file: &Path,
    ) -> Option<Arc<Vec<CertificateDer<'static>>>> {
        let held = &mut self.certificate_bytes;
        let got = self.certs.entry(FileId::of(file)).or_insert_with(|| {
            let chain = read_certs(file)?;
            let bytes = der_bytes(&chain);
            if bytes > MAX_CHAIN_BYTES {
                return Err(format!(
                    "{}: the certificate chain is {bytes} bytes of DER; at most \
                     {MAX_CHAIN_BYTES} (64 KiB) are allowed (a real chain is a few KB)",
                    file.display()
                ));
            }
            if *held + bytes > MAX_CERTIFICATE_BYTES {
                return Err(over_certificate_budget(file, *held));
            }
            *held += bytes;
            Ok(Arc::new(chain))
        });
        report(e, key, got)
    }

    fn key(
        &mut self,
        e: &mut Errors,
        key: &str,
        file: &Path,
    ) -> Option<Arc<PrivateKeyDer<'static>>> {
        let got = self
            .keys
            .entry(FileId::of(file))
            .or_insert_with(|| read_key(file).map(Arc::new));
        report(e, key, got)
    }

    /// The signing key and chain of certificate file `cert` and key file `key` (both read
    /// without error before), checked to match. Each distinct pair holds its own copy of
    /// the chain, counted against [`MAX_CERTIFICATE_BYTES`].
    fn certified(
        &mut self,
        cert: &Path,
        key: &Path,
        chain: &[CertificateDer<'static>],
        der: &PrivateKeyDer<'static>,
    ) -> Result<Arc<CertifiedKey>, String> {
        let provider = &self.provider;
        let held = &mut self.certificate_bytes;
        self.certified
            .entry((FileId::of(cert), FileId::of(key)))
            .or_insert_with(|| {
                let bytes = der_bytes(chain);
                if *held + bytes > MAX_CERTIFICATE_BYTES {
                    return Err(over_certificate_budget(key, *held));
                }
                *held += bytes;
                CertifiedKey::from_der(chain.to_vec(), der.clone_key(), provider)
                    .map(Arc::new)
                    .map_err(|err| format!("the key does not fit the certificate: {err}"))
            })
            .clone()
    }

    /// The truststore `file`, read and parsed once per load.
    fn truststore(&mut self, file: &Path) -> Arc<TrustStore> {
        let id = FileId::of(file);
        if let Some(t) = self.truststores.get(&id) {
            return t.clone();
        }
        #[cfg(test)]
        {
            self.reads.0 += 1;
        }
        let t = Arc::new(read_truststore(file, &mut self.trust_bytes));
        self.truststores.insert(id, t.clone());
        t
    }

    /// The CRL file `file`, read once per load.
    fn crl_file(&mut self, file: &Path) -> Result<Arc<Crls>, String> {
        let id = FileId::of(file);
        if let Some(c) = self.crls.get(&id) {
            return c.clone();
        }
        #[cfg(test)]
        {
            self.reads.1 += 1;
        }
        let got = read_crls(file).and_then(|list| {
            let bytes = list.iter().map(|c| c.len()).sum::<usize>();
            if self.trust_bytes + bytes > MAX_TRUST_BYTES {
                return Err(over_trust_budget(file, self.trust_bytes));
            }
            self.trust_bytes += bytes;
            let mut d = ring::digest::Context::new(&ring::digest::SHA256);
            for crl in &list {
                d.update(b"crl");
                d.update(&(crl.len() as u64).to_be_bytes());
                d.update(crl.as_ref());
            }
            Ok(Arc::new(Crls {
                list,
                digest: digest32(d),
                bytes,
            }))
        });
        self.crls.insert(id, got.clone());
        got
    }

    /// The trust of `m` (its truststore, CRL and mode): each file read once per load, the
    /// verifier built once per distinct trio from the shared parts.
    fn trust(&mut self, m: &MtlsFile, base_dir: &Path, required: bool) -> Arc<Trust> {
        let truststore = base_dir.join(&m.truststore);
        let crl = m.crl.as_ref().map(|f| base_dir.join(f));
        let id = (
            FileId::of(&truststore),
            crl.as_deref().map(FileId::of),
            required,
        );
        if let Some(t) = self.trusts.get(&id) {
            return t.clone();
        }
        let store = self.truststore(&truststore);
        let crls = crl.as_deref().map(|f| (f, self.crl_file(f)));
        let t = Arc::new(self.build_trust(&store, crls, required));
        self.trusts.insert(id, t.clone());
        t
    }

    fn build_trust(
        &mut self,
        store: &TrustStore,
        crls: Option<(&Path, Result<Arc<Crls>, String>)>,
        required: bool,
    ) -> Trust {
        let mut errors: Vec<(&'static str, String)> = store
            .errors
            .iter()
            .map(|r| ("truststore", r.clone()))
            .collect();
        // Fingerprint of the mutual-TLS trust (mode, truststore, CRLs), composed of the
        // files' digests: sessions are kept per domain and trust, so changing any of them
        // ends earlier sessions.
        let mut trust = ring::digest::Context::new(&ring::digest::SHA256);
        trust.update(&[u8::from(required)]);
        trust.update(b"truststore");
        trust.update(&store.digest);
        let mut list = Vec::new();
        match crls {
            None => trust.update(b"no crl"),
            Some((_, Err(reason))) => {
                trust.update(b"unreadable crl");
                errors.push(("crl", reason));
            }
            Some((file, Ok(c))) => {
                trust.update(b"crl");
                trust.update(&c.digest);
                // The verifier keeps its own copy of the CRLs: counted once per trio.
                if store.roots.is_some() {
                    if self.trust_bytes + c.bytes > MAX_TRUST_BYTES {
                        errors.push(("crl", over_trust_budget(file, self.trust_bytes)));
                    } else {
                        self.trust_bytes += c.bytes;
                        list = c.list.clone();
                    }
                }
            }
        }
        let verifier = match &store.roots {
            Some(roots) if errors.is_empty() => {
                let mut b = WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    self.provider.clone(),
                )
                .with_crls(list);
                if !required {
                    b = b.allow_unauthenticated();
                }
                match b.build() {
                    Ok(v) => Some(v),
                    Err(err) => {
                        errors.push((
                            "truststore",
                            format!("cannot build the client verifier: {err}"),
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        Trust {
            verifier,
            fingerprint: digest32(trust),
            errors,
        }
    }
}

/// Read and parse truststore `file`, counting its DER bytes in `held` (refused when that
/// would pass [`MAX_TRUST_BYTES`]).
fn read_truststore(file: &Path, held: &mut usize) -> TrustStore {
    let mut errors = Vec::new();
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    let mut roots = RootCertStore::empty();
    match read_certs(file) {
        Ok(cas) if *held + der_bytes(&cas) > MAX_TRUST_BYTES => {
            errors.push(over_trust_budget(file, *held));
        }
        Ok(cas) => {
            *held += der_bytes(&cas);
            for ca in cas {
                d.update(b"ca");
                d.update(&(ca.len() as u64).to_be_bytes());
                d.update(ca.as_ref());
                if let Err(err) = roots.add(ca) {
                    errors.push(format!("unusable CA certificate: {err}"));
                }
            }
        }
        Err(reason) => errors.push(reason),
    }
    TrustStore {
        roots: (!roots.is_empty()).then(|| Arc::new(roots)),
        digest: digest32(d),
        errors,
    }
}

fn der_bytes(chain: &[CertificateDer<'_>]) -> usize {
    chain.iter().map(|c| c.len()).sum()
}

fn digest32(d: ring::digest::Context) -> [u8; 32] {
    d.finish().as_ref().try_into().unwrap_or([0; 32])
}

fn over_certificate_budget(file: &Path, held: usize) -> String {
    format!(
        "{}: the certificate chains of this configuration's domains would pass {} MiB of DER \
         ({held} bytes held before this file; each distinct certificate file and each \
         distinct certificate/key pair holds a copy of its chain): let domains share \
         certificate and key files",
        file.display(),
        MAX_CERTIFICATE_BYTES / MIB
    )
}

fn over_trust_budget(file: &Path, held: usize) -> String {
    format!(
        "{}: the truststores and CRLs of this configuration's domains would pass {} MiB of \
         DER ({held} bytes held before this file; each distinct truststore and CRL file is \
         held once, and each distinct truststore/CRL/mode combination holds a copy of its \
         CRLs): let domains share truststore and CRL files",
        file.display(),
        MAX_TRUST_BYTES / MIB
    )
}

/// Push the cached error of a shared file (if any) at this domain's `key`.
fn report<T: Clone>(e: &mut Errors, key: &str, got: &Result<T, String>) -> Option<T> {
    match got {
        Ok(v) => Some(v.clone()),
        Err(reason) => {
            e.push(key, reason.clone());
            None
        }
    }
}

/// The header names every domain's `mtls.forward_headers` sets, lowercase, each once.
pub(super) fn forwarded_cert_headers(domains: &[Arc<CustomDomain>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in domains.iter().filter_map(|d| d.mtls.as_ref()) {
        for name in [
            &m.forward_subject,
            &m.forward_issuer,
            &m.forward_serial,
            &m.forward_validity,
        ]
        .into_iter()
        .flatten()
        {
            let name = name.to_ascii_lowercase();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Why a custom domain named `name` would shadow execute-api hosts
/// (`{api-id}.execute-api.{suffix}`): custom domains are matched by Host first, so such a
/// domain would take the requests meant for an API's own endpoint (and for an unknown id,
/// a host that must answer 403), making `check` say one thing and the gateway do another.
fn shadows_execute_api(
    name: &str,
    suffix: &str,
    apis_by_id: &AHashMap<String, usize>,
) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let namespace = if suffix.is_empty() {
        "execute-api".to_string()
    } else {
        format!("execute-api.{suffix}")
    };
    if lower.strip_prefix("*.") == Some(namespace.as_str()) {
        return Some(format!(
            "`{name}` would shadow every API's execute-api host (`{{api-id}}.{namespace}`); \
             choose a name outside `{namespace}`"
        ));
    }
    let id = crate::http::host::execute_api_id(&lower, suffix)?;
    let whose = match apis_by_id.keys().find(|k| k.eq_ignore_ascii_case(id)) {
        Some(api) => format!("the execute-api host of API `{api}`"),
        None => "an execute-api host".to_string(),
    };
    Some(format!(
        "`{name}` is {whose}; a custom domain of that name would shadow it (custom domains \
         are matched first); choose a name outside `{namespace}`"
    ))
}

fn build_domain(
    e: &mut Errors,
    shared: &mut SharedFiles,
    d: &CustomDomainFile,
    path: &str,
    base_dir: &Path,
    apis_by_id: &AHashMap<String, usize>,
    apis: &[Arc<Api>],
) -> Option<CustomDomain> {
    let before = e.count();
    let name = d.name.to_ascii_lowercase();
    let wildcard_suffix = name.strip_prefix("*.").map(str::to_owned);
    let bare = wildcard_suffix.as_deref().unwrap_or(&name);
    if !is_dns_name(bare) {
        e.push(
            format!("{path}.name"),
            format!("`{}` is not a domain name (or `*.` wildcard)", d.name),
        );
    }

    let (cert_file, key_file) = (base_dir.join(&d.certificate), base_dir.join(&d.key));
    let chain = shared.certs(e, &format!("{path}.certificate"), &cert_file);
    let key = shared.key(e, &format!("{path}.key"), &key_file);
    let mut not_after = 0;
    if let Some(leaf) = chain.as_ref().and_then(|c| c.first()) {
        match x509::parse_certificate(leaf) {
            Ok(info) => {
                let now = unix_now();
                not_after = info.not_after;
                if info.not_after < now {
                    e.push(
                        format!("{path}.certificate"),
                        format!(
                            "the certificate expired on {}",
                            x509::format_validity(info.not_after)
                        ),
                    );
                } else if info.not_before > now {
                    e.push(
                        format!("{path}.certificate"),
                        format!(
                            "the certificate is not valid before {}",
                            x509::format_validity(info.not_before)
                        ),
                    );
                }
            }
            Err(reason) => e.push(
                format!("{path}.certificate"),
                format!("cannot read the certificate: {reason}"),
            ),
        }
    }

    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match d.security_policy.as_deref().unwrap_or("TLS_1_2") {
            "TLS_1_2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            "TLS_1_3" => &[&rustls::version::TLS13],
            other => {
                e.push(
                    format!("{path}.security_policy"),
                    format!("unknown policy `{other}`: expected TLS_1_2 or TLS_1_3"),
                );
                &[&rustls::version::TLS13, &rustls::version::TLS12]
            }
        };

    let mut mtls = None;
    let mut fingerprint = [0; 32];
    let verifier = match &d.mtls {
        None => None,
        Some(m) => {
            let mpath = format!("{path}.mtls");
            let required = match m.mode.as_deref().unwrap_or("required") {
                "required" => true,
                "optional" => false,
                other => {
                    e.push(
                        format!("{mpath}.mode"),
                        format!("unknown mode `{other}`: expected required or optional"),
                    );
                    true
                }
            };
            let trust = shared.trust(m, base_dir, required);
            for (key, reason) in &trust.errors {
                e.push(format!("{mpath}.{key}"), reason.clone());
            }
            fingerprint = trust.fingerprint;
            for (key, value) in [
                ("subject", &m.forward_headers.subject),
                ("issuer", &m.forward_headers.issuer),
                ("serial", &m.forward_headers.serial),
                ("validity", &m.forward_headers.validity),
            ] {
                if let Some(h) = value {
                    if h.is_empty() || !h.bytes().all(is_tchar) {
                        e.push(
                            format!("{mpath}.forward_headers.{key}"),
                            format!("`{h}` is not a valid header name"),
                        );
                    } else if let Some(own) = GATEWAY_HEADERS.iter().find(|g| {
                        crate::http::head::same_name_modulo_punctuation(h.as_bytes(), g.as_bytes())
                    }) {
                        // Forwarded names are dropped from every request on every listener:
                        // one of these would break framing, routing or API keys everywhere.
                        e.push(
                            format!("{mpath}.forward_headers.{key}"),
                            format!(
                                "`{h}` is `{own}`, a header the gateway reads or sets itself; choose another name"
                            ),
                        );
                    }
                }
            }
            mtls = Some(MtlsSettings {
                required,
                forward_subject: m.forward_headers.subject.clone(),
                forward_issuer: m.forward_headers.issuer.clone(),
                forward_serial: m.forward_headers.serial.clone(),
                forward_validity: m.forward_headers.validity.clone(),
            });
            trust.verifier.clone()
        }
    };

    let listed = if d.base_path_mappings.len() > MAX_BASE_PATH_MAPPINGS {
        e.push(
            format!("{path}.base_path_mappings"),
            format!(
                "{} base-path mappings; at most {MAX_BASE_PATH_MAPPINGS} are allowed per domain \
                 (each request on the domain looks through them)",
                d.base_path_mappings.len()
            ),
        );
        &[][..]
    } else {
        &d.base_path_mappings[..]
    };
    let mut mappings = Vec::with_capacity(listed.len());
    let mut bases: ahash::AHashSet<&str> = ahash::AHashSet::new();
    for (j, m) in listed.iter().enumerate() {
        let mpath = format!("{path}.base_path_mappings[{j}]");
        let base = if m.base_path == "(none)" {
            ""
        } else {
            m.base_path.trim_matches('/')
        };
        if let Some(dots) = base.split('/').find(|seg| *seg == "." || *seg == "..") {
            e.push(
                format!("{mpath}.base_path"),
                format!(
                    "`{}` has the dot segment `{dots}`: requests with dot segments are refused \
                     (400), so this mapping could never match",
                    m.base_path
                ),
            );
        } else if !base.is_empty()
            && !base.split('/').all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            })
        {
            e.push(
                format!("{mpath}.base_path"),
                format!(
                    "`{}`: segments of letters, digits, - . _ ~ separated by /",
                    m.base_path
                ),
            );
        }
        if !bases.insert(base) {
            e.push(
                format!("{mpath}.base_path"),
                format!("duplicate base path `{}`", m.base_path),
            );
        }
        match apis_by_id
            .get(&m.api)
            .and_then(|&a| apis.get(a).map(|api| (a, api)))
        {
            None => e.push(
                format!("{mpath}.api"),
                format!("no API with id `{}`", m.api),
            ),
            Some((a, api)) => {
                if !api.stages.contains_key(&m.stage) {
                    e.push(
                        format!("{mpath}.stage"),
                        format!("API `{}` has no stage `{}`", m.api, m.stage),
                    );
                }
                mappings.push(BasePathMapping {
                    base_path: base.to_owned(),
                    api: a,
                    stage: m.stage.clone(),
                });
            }
        }
    }
    // Longest base path first, so the most specific mapping wins.
    mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));

    if e.count() > before {
        return None;
    }
    let (chain, key) = (chain?, key?);
    let certified = match shared.certified(&cert_file, &key_file, &chain, &key) {
        Ok(c) => c,
        Err(reason) => {
            e.push(format!("{path}.key"), reason);
            return None;
        }
    };
    let builder = ServerConfig::builder_with_provider(shared.provider.clone())
        .with_protocol_versions(versions);
    let builder = match builder {
        Ok(b) => b,
        Err(err) => {
            e.push(format!("{path}.security_policy"), format!("{err}"));
            return None;
        }
    };
    let builder = match verifier.clone() {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // HTTP/2 first when the domain offers it (the client's preference order is not
    // consulted: rustls picks the first of ours the client lists); HTTP/1.0 clients that say
    // so in ALPN are served too.
    config.alpn_protocols = if d.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()]
    } else {
        vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()]
    };
    // Session resumption is live state: the runtime's services attach the ticketer and
    // the session store (`services`, `shared`). Until then this
    // configuration resumes nothing and allocates no session cache (rustls's default, a
    // 256-entry cache per configuration, is not kept).
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let trust = verifier.is_some().then_some(fingerprint);
    Some(CustomDomain {
        name,
        wildcard_suffix,
        server_config: Arc::new(config),
        client_verifier: verifier,
        mtls,
        trust,
        mappings,
        not_after,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// The readers below return the error as it is reported, naming the file as the first
// domain that names it spells it.

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES)
        .map_err(|err| format!("{}: {err}", file.display()))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(format!("{} holds no PEM certificate", file.display())),
        Err(err) => Err(format!("{}: bad PEM: {err}", file.display())),
    }
}

fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES)
        .map_err(|err| format!("{}: {err}", file.display()))?;
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(format!("{} holds no PEM private key", file.display())),
        Err(err) => Err(format!("{}: bad PEM: {err}", file.display())),
    }
}

fn read_crls(file: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let pem = super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES)
        .map_err(|err| format!("{}: {err}", file.display()))?;
    let crls: Result<Vec<_>, _> = rustls_pemfile::crls(&mut &pem[..]).collect();
    match crls {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(format!("{} holds no PEM CRL", file.display())),
        Err(err) => Err(format!("{}: bad PEM: {err}", file.display())),
    }
}

/// Lowercase-insensitive DNS name of letters, digits and hyphens in dot-separated labels.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Headers the gateway reads or writes itself, which cannot be forwarded certificate headers
/// (compared ignoring case, `_` read as `-`).
const GATEWAY_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "expect",
    "x-api-key",
    "cache-control",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-amzn-requestid",
];

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use crate::config::validate::tests::{assert_error, errors as file_errors};
    use crate::config::validate::{ConfigError, ConfigErrors};

    const BASE: &str = "listeners:
  - name: public
    bind: 127.0.0.1:0
apis:
  - id: demo
    routes:
      - route: GET /a
        integration: {type: MOCK}
    stages:
      - name: prod
";

    /// Errors of BASE plus one custom domain (its certificate files do not exist, so
    /// `cannot read` errors come too; the tests look for their own).
    fn errors(domain: &str) -> Vec<ConfigError> {
        file_errors(&format!("{BASE}custom_domains:\n{domain}"))
    }

    #[test]
    fn execute_api_hosts_cannot_be_custom_domains() {
        let d =
            |name: &str| format!("  - name: \"{name}\"\n    certificate: c.pem\n    key: k.pem\n");
        let list = errors(&d("demo.execute-api.localhost"));
        assert_error(
            &list,
            "custom_domains[0].name",
            "the execute-api host of API `demo`",
        );
        let list = errors(&d("Other.Execute-API.localhost"));
        assert_error(&list, "custom_domains[0].name", "is an execute-api host");
        let list = errors(&d("*.execute-api.localhost"));
        assert_error(
            &list,
            "custom_domains[0].name",
            "every API's execute-api host",
        );
        // Outside the namespace: only the missing files are reported.
        for ok in [
            "api.localhost",
            "demo.execute-api.example.com",
            "*.localhost",
        ] {
            let list = errors(&d(ok));
            assert!(
                list.iter().all(|e| e.path != "custom_domains[0].name"),
                "{ok}: {}",
                ConfigErrors(list)
            );
        }
    }

    #[test]
    fn base_paths_with_dot_segments_are_refused() {
        for base in ["..", "v1/../admin", "./v1", "v1/."] {
            let list = errors(&format!(
                "  - name: api.example.com\n    certificate: c.pem\n    key: k.pem\n    base_path_mappings:\n      - {{base_path: \"{base}\", api: demo, stage: prod}}\n"
            ));
            assert_error(
                &list,
                "custom_domains[0].base_path_mappings[0].base_path",
                "dot segment",
            );
        }
        // Dots inside a segment are fine.
        let list = errors(
            "  - name: api.example.com\n    certificate: c.pem\n    key: k.pem\n    base_path_mappings:\n      - {base_path: v1.2, api: demo, stage: prod}\n",
        );
        assert!(
            list.iter().all(|e| !e.path.ends_with("base_path")),
            "{}",
            ConfigErrors(list)
        );
    }

    #[test]
    fn duplicate_domains_and_base_paths_name_the_first() {
        let d = "  - name: api.example.com\n    certificate: c.pem\n    key: k.pem\n    base_path_mappings:\n      - {base_path: v1, api: demo, stage: prod}\n      - {base_path: /v1/, api: demo, stage: prod}\n";
        let list = errors(&format!(
            "{d}  - name: API.example.com\n    certificate: c.pem\n    key: k.pem\n"
        ));
        assert_error(
            &list,
            "custom_domains[1].name",
            "first defined at custom_domains[0]",
        );
        assert_error(
            &list,
            "custom_domains[0].base_path_mappings[1].base_path",
            "duplicate base path",
        );
    }

    #[test]
    fn more_custom_domains_than_the_cap_are_refused_before_building() {
        use super::MAX_CUSTOM_DOMAINS;
        let d =
            |i: usize| format!("  - {{name: d{i}.example.com, certificate: c.pem, key: k.pem}}\n");
        let over: String = (0..=MAX_CUSTOM_DOMAINS).map(d).collect();
        let list = errors(&over);
        // One error for the whole list: no domain was built (none reports its missing files).
        assert_eq!(list.len(), 1, "{}", ConfigErrors(list.clone()));
        assert_error(
            &list,
            "custom_domains",
            &format!(
                "{} custom domains; at most {MAX_CUSTOM_DOMAINS} are allowed",
                MAX_CUSTOM_DOMAINS + 1
            ),
        );
        // At the cap: each domain is built (and reports its own missing files).
        let at: String = (0..MAX_CUSTOM_DOMAINS).map(d).collect();
        let list = errors(&at);
        assert!(list.iter().all(|e| e.path != "custom_domains"));
        assert_error(
            &list,
            &format!("custom_domains[{}].certificate", MAX_CUSTOM_DOMAINS - 1),
            "c.pem",
        );
    }

    #[test]
    fn more_base_path_mappings_than_the_cap_are_refused() {
        use super::MAX_BASE_PATH_MAPPINGS;
        let domain = |n: usize| {
            let mut d = String::from(
                "  - name: api.example.com\n    certificate: c.pem\n    key: k.pem\n    base_path_mappings:\n",
            );
            for j in 0..n {
                d.push_str(&format!(
                    "      - {{base_path: b{j}, api: demo, stage: prod}}\n"
                ));
            }
            d
        };
        let list = errors(&domain(MAX_BASE_PATH_MAPPINGS + 1));
        assert_error(
            &list,
            "custom_domains[0].base_path_mappings",
            &format!(
                "{} base-path mappings; at most {MAX_BASE_PATH_MAPPINGS} are allowed per domain",
                MAX_BASE_PATH_MAPPINGS + 1
            ),
        );
        let list = errors(&domain(MAX_BASE_PATH_MAPPINGS));
        assert!(
            list.iter().all(|e| !e.path.contains("base_path_mappings")),
            "{}",
            ConfigErrors(list)
        );
    }

    #[test]
    fn a_file_named_by_many_domains_is_read_once_and_reported_for_each() {
        let dir = std::env::temp_dir().join(format!("tollgate-shared-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("not.pem");
        std::fs::write(&f, "no pem here").expect("write");
        let first = f.display().to_string();
        let other = dir.join(".").join("not.pem").display().to_string();
        let mut text = String::new();
        for (i, cert) in [&first, &first, &other].iter().enumerate() {
            text.push_str(&format!(
                "  - {{name: d{i}.example.com, certificate: \"{cert}\", key: k.pem}}\n"
            ));
        }
        let list = errors(&text);
        let _ = std::fs::remove_dir_all(&dir);
        // Every domain gets the error at its own key; the file was read once (by device and
        // inode), so the third domain's error spells it as the first domain did.
        for i in 0..3 {
            assert_error(
                &list,
                &format!("custom_domains[{i}].certificate"),
                &format!("{first} holds no PEM certificate"),
            );
            assert_error(&list, &format!("custom_domains[{i}].key"), "k.pem");
        }
    }

    /// Each truststore and CRL file is read once per load however many (truststore, CRL,
    /// mode) trios name it; the trust fingerprint is composed of the mode and the files'
    /// contents: it differs for every trio and follows a CRL's contents, not its name.
    #[test]
    fn each_truststore_and_crl_file_is_read_once_and_the_fingerprint_follows_each() {
        use super::{FileId, SharedFiles};
        use crate::config::file::{ForwardHeadersFile, MtlsFile};
        let dir = std::env::temp_dir().join(format!("tollgate-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let gen = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/gen.sh");
        let out = std::process::Command::new(&gen)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("run {} (needs bash and openssl): {e}", gen.display()));
        assert!(
            out.status.success(),
            "certs/gen.sh failed (it needs openssl): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // CRL files are only PEM-decoded when read; their DER is checked when a verifier
        // is built, which these are not asked to survive.
        let crl = |name: &str, b64: &str| {
            std::fs::write(
                dir.join(name),
                format!("-----BEGIN X509 CRL-----\n{b64}\n-----END X509 CRL-----\n"),
            )
            .expect("write crl");
        };
        crl("a.crl", "Y3JsIGE="); // "crl a"
        crl("b.crl", "Y3JsIGI=");
        crl("c.crl", "Y3JsIGM=");
        crl("a-again.crl", "Y3JsIGE=");
        let m = |truststore: &str, crl: Option<&str>| MtlsFile {
            truststore: truststore.to_string(),
            mode: None,
            crl: crl.map(str::to_string),
            forward_headers: ForwardHeadersFile::default(),
        };
        let mut shared = SharedFiles::new();
        let mut fingerprints = ahash::AHashMap::new();
        for _round in 0..2 {
            for ts in ["partner-ca.pem", "ca.pem"] {
                for c in [None, Some("a.crl"), Some("b.crl"), Some("c.crl")] {
                    for required in [true, false] {
                        let t = shared.trust(&m(ts, c), &dir, required);
                        let seen = *fingerprints
                            .entry((ts, c, required))
                            .or_insert(t.fingerprint);
                        assert_eq!(seen, t.fingerprint, "{ts} {c:?} {required}");
                    }
                }
            }
        }
        // 16 trios, each built once, from 2 truststore and 3 CRL reads.
        assert_eq!(shared.trusts.len(), 16);
        assert_eq!(shared.reads, (2, 3), "(truststore reads, CRL reads)");
        let distinct: ahash::AHashSet<_> = fingerprints.values().collect();
        assert_eq!(distinct.len(), 16, "every trio has its own fingerprint");
        // Another file with the same CRLs: the same trust.
        let again = shared.trust(&m("ca.pem", Some("a-again.crl")), &dir, true);
        assert_eq!(
            again.fingerprint,
            fingerprints[&("ca.pem", Some("a.crl"), true)]
        );
        assert_eq!(shared.reads, (2, 4));
        // A later load after the CRL changed: another fingerprint.
        crl("a.crl", "Y3JsIGEy"); // "crl a2"
        let mut next = SharedFiles::new();
        let changed = next.trust(&m("ca.pem", Some("a.crl")), &dir, true);
        assert_ne!(
            changed.fingerprint,
            fingerprints[&("ca.pem", Some("a.crl"), true)]
        );
        assert!(next
            .truststores
            .contains_key(&FileId::of(&dir.join("ca.pem"))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
