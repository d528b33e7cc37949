//! Validation of `custom_domains:`: certificate chain and key (read now, so a bad or expired
//! file is refused with the old configuration kept), security policy, mutual TLS truststore
//! and CRL, and base-path mappings to existing API stages.

use std::path::Path;
use std::sync::Arc;

use ahash::AHashMap;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::file::CustomDomainFile;
use super::snapshot::{Api, BasePathMapping, CustomDomain, MtlsSettings};
use super::validate::Errors;
use crate::net::x509;

pub(super) fn build_domains(
    e: &mut Errors,
    files: &[CustomDomainFile],
    base_dir: &Path,
    apis_by_id: &AHashMap<String, usize>,
    apis: &[Arc<Api>],
    execute_api_suffix: &str,
) -> Vec<Arc<CustomDomain>> {
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
        if let Some(domain) = build_domain(e, d, &path, base_dir, apis_by_id, apis) {
            out.push(Arc::new(domain));
        }
    }
    out
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
    let id = crate::routing::domain::execute_api_id(&lower, suffix)?;
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

    let chain = read_certs(
        e,
        &format!("{path}.certificate"),
        &base_dir.join(&d.certificate),
    );
    let key = read_key(e, &format!("{path}.key"), &base_dir.join(&d.key));
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

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut mtls = None;
    // Fingerprint of the mutual-TLS trust (mode, truststore, CRLs): sessions are kept per
    // domain and trust, so changing any of them ends earlier sessions.
    let mut trust = ring::digest::Context::new(&ring::digest::SHA256);
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
            trust.update(&[u8::from(required)]);
            let mut roots = RootCertStore::empty();
            if let Some(cas) = read_certs(
                e,
                &format!("{mpath}.truststore"),
                &base_dir.join(&m.truststore),
            ) {
                for ca in cas {
                    trust.update(b"ca");
                    trust.update(&(ca.len() as u64).to_be_bytes());
                    trust.update(ca.as_ref());
                    if let Err(err) = roots.add(ca) {
                        e.push(
                            format!("{mpath}.truststore"),
                            format!("unusable CA certificate: {err}"),
                        );
                    }
                }
            }
            let crls = match &m.crl {
                None => Vec::new(),
                Some(f) => read_crls(e, &format!("{mpath}.crl"), &base_dir.join(f)),
            };
            for crl in &crls {
                trust.update(b"crl");
                trust.update(&(crl.len() as u64).to_be_bytes());
                trust.update(crl.as_ref());
            }
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
            if roots.is_empty() {
                None
            } else {
                let mut b =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .with_crls(crls);
                if !required {
                    b = b.allow_unauthenticated();
                }
                match b.build() {
                    Ok(v) => Some(v),
                    Err(err) => {
                        e.push(
                            format!("{mpath}.truststore"),
                            format!("cannot build the client verifier: {err}"),
                        );
                        None
                    }
                }
            }
        }
    };

    let mut mappings = Vec::with_capacity(d.base_path_mappings.len());
    let mut bases: ahash::AHashSet<&str> = ahash::AHashSet::new();
    for (j, m) in d.base_path_mappings.iter().enumerate() {
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
    let builder = ServerConfig::builder_with_provider(provider).with_protocol_versions(versions);
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
    let mut config = match builder.with_single_cert(chain, key) {
        Ok(c) => c,
        Err(err) => {
            e.push(
                format!("{path}.key"),
                format!("the key does not fit the certificate: {err}"),
            );
            return None;
        }
    };
    // HTTP/1.1 preferred; HTTP/1.0 clients that say so in ALPN are served too.
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    let fingerprint = if verifier.is_some() {
        // Mutual TLS: stateful sessions (small tickets, the client chain stays here), bound
        // to this domain and its trust, and re-verified on every resumption (tls_accept).
        let fingerprint: [u8; 32] = trust.finish().as_ref().try_into().unwrap_or([0; 32]);
        config.ticketer = crate::runtime::shared::no_tickets();
        config.session_storage = crate::runtime::shared::mtls_session_cache(&name, fingerprint);
        Some(fingerprint)
    } else {
        config.ticketer = crate::runtime::shared::session_ticketer();
        None
    };
    Some(CustomDomain {
        name,
        wildcard_suffix,
        server_config: Arc::new(config),
        client_verifier: verifier,
        mtls,
        trust: fingerprint,
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

fn read_certs(e: &mut Errors, key: &str, file: &Path) -> Option<Vec<CertificateDer<'static>>> {
    let pem = match super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(err) => {
            e.push(key, format!("{}: {err}", file.display()));
            return None;
        }
    };
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    match certs {
        Ok(c) if !c.is_empty() => Some(c),
        Ok(_) => {
            e.push(key, format!("{} holds no PEM certificate", file.display()));
            None
        }
        Err(err) => {
            e.push(key, format!("{}: bad PEM: {err}", file.display()));
            None
        }
    }
}

fn read_key(e: &mut Errors, key: &str, file: &Path) -> Option<PrivateKeyDer<'static>> {
    let pem = match super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(err) => {
            e.push(key, format!("{}: {err}", file.display()));
            return None;
        }
    };
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(k)) => Some(k),
        Ok(None) => {
            e.push(key, format!("{} holds no PEM private key", file.display()));
            None
        }
        Err(err) => {
            e.push(key, format!("{}: bad PEM: {err}", file.display()));
            None
        }
    }
}

fn read_crls(e: &mut Errors, key: &str, file: &Path) -> Vec<CertificateRevocationListDer<'static>> {
    let pem = match super::bounded::read_capped(file, super::bounded::MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(err) => {
            e.push(key, format!("{}: {err}", file.display()));
            return Vec::new();
        }
    };
    let crls: Result<Vec<_>, _> = rustls_pemfile::crls(&mut &pem[..]).collect();
    match crls {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            e.push(key, format!("{} holds no PEM CRL", file.display()));
            Vec::new()
        }
        Err(err) => {
            e.push(key, format!("{}: bad PEM: {err}", file.display()));
            Vec::new()
        }
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
    use std::path::Path;

    use crate::config::validate::{from_str, ConfigError, ConfigErrors};

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
        let text = format!("{BASE}custom_domains:\n{domain}");
        match from_str(Path::new("test.yaml"), &text) {
            Ok(_) => panic!("expected errors"),
            Err(ConfigErrors(list)) => list,
        }
    }

    #[track_caller]
    fn assert_error(list: &[ConfigError], path: &str, fragment: &str) {
        assert!(
            list.iter()
                .any(|e| e.path == path && e.reason.contains(fragment)),
            "no error at `{path}` containing `{fragment}`; got:\n{}",
            ConfigErrors(list.to_vec())
        );
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
}
