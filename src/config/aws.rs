//! `aws:` what AWS integrations (Lambda proxy and custom, AWS service actions and paths)
//! call and sign with: the region, the credentials, and an endpoint per service.
//!
//! ```yaml
//! aws:
//!   region: us-east-1                 # default: server.region
//!   credentials:                      # default: from the environment, else unsigned
//!     from: environment               # environment | static | shared_file | none
//!   endpoints:                        # default: https://{service}.{region}.amazonaws.com
//!     lambda: http://127.0.0.1:3001   # SAM local, the Lambda RIE, moto, LocalStack ...
//!     sqs: http://127.0.0.1:5000
//! ```
//!
//! Credentials are read when the configuration is loaded (and again on reload): from the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), from a
//! key id with its secret in a file or a named variable (`static`), or from a profile of an
//! AWS shared credentials file (`shared_file`, default `~/.aws/credentials`, profile
//! `default`). `none` sends calls unsigned, for local emulators that need no signature.
//! An integration may name its own `endpoint` and `credentials`; they override these.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ahash::AHashMap;
use serde::Deserialize;

use super::file::StringMap;
use super::iam::Secret;
use super::validate::Errors;

/// `aws:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsFile {
    /// The region of calls whose ARN names none (Lambda function names); default
    /// `server.region`.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsFile>,
    /// Service name (`lambda`, `sqs`, `s3`, `dynamodb`, ...) -> base URL.
    #[serde(default)]
    pub endpoints: StringMap,
}

/// `aws.credentials` and `integration.credentials`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// `environment`, `static` (the default when `access_key_id` is given), `shared_file`
    /// or `none`.
    #[serde(default)]
    pub from: Option<String>,
    // static
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// A file holding the secret access key (relative to the configuration file).
    #[serde(default)]
    pub secret_access_key_file: Option<String>,
    /// An environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// A file holding a session token (temporary credentials).
    #[serde(default)]
    pub session_token_file: Option<String>,
    // shared_file
    /// An AWS shared credentials file (INI); default `$HOME/.aws/credentials`.
    #[serde(default)]
    pub file: Option<String>,
    /// Its profile; default `default`.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Keys that sign calls (SigV4); the secret and token never appear in logs or `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// What signs a call: keys, or nothing (local emulators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsCredentials {
    /// Send unsigned.
    None,
    Keys(Arc<AwsKeys>),
}

impl AwsCredentials {
    pub fn keys(&self) -> Option<&AwsKeys> {
        match self {
            AwsCredentials::None => None,
            AwsCredentials::Keys(k) => Some(k),
        }
    }
}

/// A service endpoint, split and checked at load.
#[derive(Clone)]
pub struct ServiceEndpoint {
    /// `https` (TLS with the system's trust roots) or `http`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The host as written (brackets kept for IPv6), for DNS, SNI and `Host`.
    pub host: String,
    pub port: u16,
    /// The address when the host is an IP literal (no DNS at request time).
    pub addr: Option<SocketAddr>,
    /// The `Host` header's value (the port when not the scheme's default).
    pub host_header: String,
    /// A path prefix the endpoint URL carries (without a trailing `/`; usually empty).
    pub base_path: String,
}

impl std::fmt::Debug for ServiceEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceEndpoint")
            .field("https", &self.tls.is_some())
            .field("host_header", &self.host_header)
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

impl ServiceEndpoint {
    /// Parse `http://host[:port][/path]` or `https://...`. `tls` is the client config
    /// https endpoints use (built once per load by the caller).
    pub fn parse(
        url: &str,
        tls: impl FnOnce() -> Result<Arc<rustls::ClientConfig>, String>,
    ) -> Result<ServiceEndpoint, String> {
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("`{url}`: expected an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if path.contains('?') || path.contains('#') {
            return Err(format!("`{url}`: an endpoint has no query or fragment"));
        }
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}`: expected a host"));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port)
            .ok_or_else(|| format!("`{url}`: bad host or port"))?;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addr = bare
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port));
        let host_header = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let tls = if https { Some(tls()?) } else { None };
        Ok(ServiceEndpoint {
            tls,
            host: host.to_string(),
            port,
            addr,
            host_header,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The TLS server name of an https endpoint.
    pub fn server_name(&self) -> Option<rustls::pki_types::ServerName<'static>> {
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        rustls::pki_types::ServerName::try_from(bare.to_string()).ok()
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let host = &authority[..=end];
        return match &authority[end + 1..] {
            "" => Some((host, default_port)),
            p => Some((host, p.strip_prefix(':')?.parse().ok()?)),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, default_port)),
    }
}

/// `aws:` validated.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    pub credentials: AwsCredentials,
    /// Configured endpoints by service name.
    pub endpoints: AHashMap<String, ServiceEndpoint>,
    /// TLS for the default (real AWS) endpoints: the system's trust roots; `None` when
    /// they could not be loaded (then calls to real AWS fail with a clear reason).
    pub system_tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for AwsSettings {
    /// No endpoints, unsigned, `us-east-1` (tests' snapshots).
    fn default() -> Self {
        AwsSettings {
            region: "us-east-1".into(),
            credentials: AwsCredentials::None,
            endpoints: AHashMap::new(),
            system_tls: None,
        }
    }
}

impl AwsSettings {
    /// The endpoint calls to `service` in `region` go to: the configured one, else AWS's
    /// own (`https://{service}.{region}.amazonaws.com`), built on demand.
    pub fn endpoint(&self, service: &str, region: &str) -> Result<ServiceEndpoint, String> {
        if let Some(ep) = self.endpoints.get(service) {
            return Ok(ep.clone());
        }
        let url = format!("https://{service}.{region}.amazonaws.com");
        ServiceEndpoint::parse(&url, || {
            self.system_tls
                .clone()
                .ok_or_else(|| "the system's TLS trust roots could not be loaded".to_string())
        })
    }
}

/// The client config https endpoints use: the system's trust roots.
pub fn system_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no trust roots found on this system".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Build `aws:` (absent: the server's region, credentials from the environment).
pub(super) fn build(e: &mut Errors, f: Option<&AwsFile>, server_region: &str) -> AwsSettings {
    let default = AwsFile::default();
    let f = f.unwrap_or(&default);
    let region = f
        .region
        .clone()
        .unwrap_or_else(|| server_region.to_string());
    if !is_region(&region) {
        e.push("aws.region", format!("`{region}` is not a region name"));
    }
    let credentials = match &f.credentials {
        Some(c) => build_credentials(e, c, "aws.credentials"),
        None => from_environment().unwrap_or(AwsCredentials::None),
    };
    let mut endpoints = AHashMap::new();
    let mut system = None;
    for (service, url) in &f.endpoints.0 {
        let path = format!("aws.endpoints.{service}");
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            e.push(&path, format!("`{service}` is not a service name"));
            continue;
        }
        match ServiceEndpoint::parse(url, || system_tls_cached(&mut system)) {
            Ok(ep) => {
                endpoints.insert(service.clone(), ep);
            }
            Err(why) => e.push(path, why),
        }
    }
    AwsSettings {
        region,
        credentials,
        endpoints,
        system_tls: system.or_else(|| system_tls().ok()),
    }
}

fn system_tls_cached(
    slot: &mut Option<Arc<rustls::ClientConfig>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(c) = slot {
        return Ok(Arc::clone(c));
    }
    let c = system_tls()?;
    *slot = Some(Arc::clone(&c));
    Ok(c)
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `local`: lowercase letters, digits, `-`.
pub fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`);
/// `None` when the first two are not both set.
fn from_environment() -> Option<AwsCredentials> {
    let id = std::env::var("AWS_ACCESS_KEY_ID")
        .ok()
        .filter(|s| !s.is_empty())?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .ok()
        .filter(|s| !s.is_empty())?;
    let token = std::env::var("AWS_SESSION_TOKEN")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret);
    Some(AwsCredentials::Keys(Arc::new(AwsKeys {
        access_key_id: id,
        secret_access_key: Secret(secret),
        session_token: token,
    })))
}

/// Validate one `credentials:` block.
pub(super) fn build_credentials(e: &mut Errors, c: &CredentialsFile, path: &str) -> AwsCredentials {
    let from = c.from.as_deref().unwrap_or(if c.access_key_id.is_some() {
        "static"
    } else {
        "environment"
    });
    let stray = |e: &mut Errors, key: &str, present: bool| {
        if present {
            e.push(
                format!("{path}.{key}"),
                format!("not used with `from: {from}`"),
            );
        }
    };
    if from != "static" {
        stray(e, "access_key_id", c.access_key_id.is_some());
        stray(
            e,
            "secret_access_key_file",
            c.secret_access_key_file.is_some(),
        );
        stray(
            e,
            "secret_access_key_env",
            c.secret_access_key_env.is_some(),
        );
        stray(e, "session_token_file", c.session_token_file.is_some());
    }
    if from != "shared_file" {
        stray(e, "file", c.file.is_some());
        stray(e, "profile", c.profile.is_some());
    }
    match from {
        "none" => AwsCredentials::None,
        "environment" => match from_environment() {
            Some(c) => c,
            None => {
                e.push(
                    format!("{path}.from"),
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set",
                );
                AwsCredentials::None
            }
        },
        "static" => {
            let Some(id) = c.access_key_id.clone().filter(|s| !s.is_empty()) else {
                e.push(
                    format!("{path}.access_key_id"),
                    "required with `from: static`",
                );
                return AwsCredentials::None;
            };
            let secret = match (&c.secret_access_key_file, &c.secret_access_key_env) {
                (Some(file), None) => read_file(e, file, &format!("{path}.secret_access_key_file")),
                (None, Some(var)) => match std::env::var(var) {
                    Ok(s) if !s.is_empty() => Some(s),
                    _ => {
                        e.push(
                            format!("{path}.secret_access_key_env"),
                            format!("the environment variable `{var}` is not set"),
                        );
                        None
                    }
                },
                _ => {
                    e.push(
                        path.to_string(),
                        "give exactly one of `secret_access_key_file` and `secret_access_key_env`",
                    );
                    None
                }
            };
            let token = c
                .session_token_file
                .as_ref()
                .and_then(|f| read_file(e, f, &format!("{path}.session_token_file")));
            match secret {
                Some(secret) => AwsCredentials::Keys(Arc::new(AwsKeys {
                    access_key_id: id,
                    secret_access_key: Secret(secret),
                    session_token: token.map(Secret),
                })),
                None => AwsCredentials::None,
            }
        }
        "shared_file" => {
            let file = match &c.file {
                Some(f) => e.base_dir().join(f),
                None => match std::env::var_os("HOME") {
                    Some(home) => std::path::PathBuf::from(home).join(".aws/credentials"),
                    None => {
                        e.push(format!("{path}.file"), "HOME is not set: name the file");
                        return AwsCredentials::None;
                    }
                },
            };
            let profile = c.profile.as_deref().unwrap_or("default");
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(err) => {
                    e.push(
                        format!("{path}.file"),
                        format!("cannot read {}: {err}", file.display()),
                    );
                    return AwsCredentials::None;
                }
            };
            match shared_file_profile(&text, profile) {
                Ok(keys) => AwsCredentials::Keys(Arc::new(keys)),
                Err(why) => {
                    e.push(
                        format!("{path}.profile"),
                        format!("{}: {why}", file.display()),
                    );
                    AwsCredentials::None
                }
            }
        }
        other => {
            e.push(
                format!("{path}.from"),
                format!(
                    "unknown source `{other}`: expected environment, static, shared_file or none"
                ),
            );
            AwsCredentials::None
        }
    }
}

fn read_file(e: &mut Errors, file: &str, path: &str) -> Option<String> {
    let full = e.base_dir().join(file);
    match std::fs::read_to_string(&full) {
        Ok(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Ok(_) => {
            e.push(path, format!("{} is empty", full.display()));
            None
        }
        Err(err) => {
            e.push(path, format!("cannot read {}: {err}", full.display()));
            None
        }
    }
}

/// The keys of `[profile]` in an AWS shared credentials file (INI: `[name]` sections of
/// `key = value` lines; `#` and `;` start comments).
pub fn shared_file_profile(text: &str, profile: &str) -> Result<AwsKeys, String> {
    let mut in_profile = false;
    let mut found = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            found |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "aws_access_key_id" => id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    if !found {
        return Err(format!("no profile `{profile}`"));
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(AwsKeys {
            access_key_id: id,
            secret_access_key: Secret(secret),
            session_token: token.filter(|t| !t.is_empty()).map(Secret),
        }),
        _ => Err(format!(
            "profile `{profile}` lacks aws_access_key_id or aws_secret_access_key"
        )),
    }
}

/// An API Gateway integration ARN, `arn:aws:apigateway:{region}:{service}:{kind}/{rest}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApigatewayArn {
    pub region: String,
    /// The service's endpoint prefix (`lambda`, `sqs`, `s3`, `dynamodb`, ...); a
    /// `{subdomain}.{service}` form keeps only the service in `service` and the subdomain
    /// in `subdomain`.
    pub service: String,
    pub subdomain: Option<String>,
    pub kind: ArnAction,
    /// After `path/` or `action/` (an action's query, `?a=b`, kept).
    pub rest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnAction {
    /// `path/{path}`: the request path on the service's endpoint.
    Path,
    /// `action/{Action}`: a service action (query or JSON protocol).
    Action,
}

impl ApigatewayArn {
    pub fn parse(uri: &str) -> Result<ApigatewayArn, String> {
        let rest = uri
            .strip_prefix("arn:aws:apigateway:")
            .or_else(|| uri.strip_prefix("arn:aws-cn:apigateway:"))
            .or_else(|| uri.strip_prefix("arn:aws-us-gov:apigateway:"))
            .ok_or_else(|| {
                format!("`{uri}`: expected arn:aws:apigateway:{{region}}:{{service}}:path/... or :action/...")
            })?;
        let (region, rest) = rest
            .split_once(':')
            .ok_or_else(|| format!("`{uri}`: no region"))?;
        if !is_region(region) {
            return Err(format!("`{uri}`: `{region}` is not a region"));
        }
        let (service, rest) = rest
            .split_once(':')
            .ok_or_else(|| format!("`{uri}`: no service"))?;
        let (subdomain, service) = match service.rsplit_once('.') {
            Some((sub, svc)) => (Some(sub.to_string()), svc),
            None => (None, service),
        };
        if service.is_empty()
            || !service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!("`{uri}`: `{service}` is not a service name"));
        }
        let (kind, rest) = if let Some(r) = rest.strip_prefix("path/") {
            (ArnAction::Path, r)
        } else if let Some(r) = rest.strip_prefix("action/") {
            (ArnAction::Action, r)
        } else {
            return Err(format!(
                "`{uri}`: expected `path/...` or `action/...` after the service"
            ));
        };
        if rest.is_empty() {
            return Err(format!("`{uri}`: nothing after path/ or action/"));
        }
        Ok(ApigatewayArn {
            region: region.to_string(),
            service: service.to_string(),
            subdomain,
            kind,
            rest: rest.to_string(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let no_tls = || Err::<Arc<rustls::ClientConfig>, String>("no".into());
        let ep = ServiceEndpoint::parse("http://127.0.0.1:3001", no_tls).unwrap();
        assert_eq!(ep.port, 3001);
        assert_eq!(ep.host_header, "127.0.0.1:3001");
        assert_eq!(ep.addr, Some("127.0.0.1:3001".parse().unwrap()));
        assert_eq!(ep.base_path, "");
        let ep = ServiceEndpoint::parse("http://localhost/lambda/", no_tls).unwrap();
        assert_eq!((ep.port, ep.host_header.as_str()), (80, "localhost"));
        assert_eq!(ep.base_path, "/lambda");
        assert!(ep.addr.is_none());
        let ep = ServiceEndpoint::parse("http://[::1]:9000", no_tls).unwrap();
        assert_eq!(ep.addr, Some("[::1]:9000".parse().unwrap()));
        assert!(ServiceEndpoint::parse("ftp://x", no_tls).is_err());
        assert!(ServiceEndpoint::parse("http://", no_tls).is_err());
        assert!(ServiceEndpoint::parse("http://h:x", no_tls).is_err());
        assert!(ServiceEndpoint::parse("http://h/?q", no_tls).is_err());
        assert!(
            ServiceEndpoint::parse("https://h", no_tls).is_err(),
            "needs TLS"
        );
    }

    #[test]
    fn arns() {
        let a =
            ApigatewayArn::parse("arn:aws:apigateway:us-east-1:sqs:path/123456789012/q").unwrap();
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "sqs");
        assert_eq!(a.kind, ArnAction::Path);
        assert_eq!(a.rest, "123456789012/q");
        let a =
            ApigatewayArn::parse("arn:aws:apigateway:eu-west-1:dynamodb:action/PutItem").unwrap();
        assert_eq!((a.kind, a.rest.as_str()), (ArnAction::Action, "PutItem"));
        let a = ApigatewayArn::parse("arn:aws:apigateway:us-east-1:mybucket.s3:path/k").unwrap();
        assert_eq!(a.service, "s3");
        assert_eq!(a.subdomain.as_deref(), Some("mybucket"));
        for bad in [
            "arn:aws:lambda:us-east-1:1:function:f",
            "arn:aws:apigateway:US:sqs:path/x",
            "arn:aws:apigateway:us-east-1:sqs:other/x",
            "arn:aws:apigateway:us-east-1:sqs:path/",
        ] {
            assert!(ApigatewayArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shared_credentials_file() {
        let text = "# c\n[default]\naws_access_key_id = AKID\naws_secret_access_key=S\n\n[other]\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token = TOK\n";
        let k = shared_file_profile(text, "default").unwrap();
        assert_eq!(k.access_key_id, "AKID");
        assert_eq!(k.secret_access_key.expose(), "S");
        assert!(k.session_token.is_none());
        let k = shared_file_profile(text, "other").unwrap();
        assert_eq!(k.session_token.as_ref().map(Secret::expose), Some("TOK"));
        assert!(shared_file_profile(text, "missing").is_err());
        assert!(shared_file_profile("[p]\naws_access_key_id=A\n", "p").is_err());
        assert!(!format!("{k:?}").contains("TOK"), "token redacted");
    }

    #[test]
    fn regions() {
        assert!(is_region("us-east-1"));
        assert!(!is_region("US-EAST-1"));
        assert!(!is_region(""));
    }
}
