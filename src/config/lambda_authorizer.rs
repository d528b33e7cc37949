//! `authorizers[j].lambda`: a TOKEN or REQUEST (Lambda) authorizer's function or HTTP
//! endpoint, result cache TTL, identity validation, event format and timeout.
//!
//! Two ways to reach the function:
//! - `uri` alone: an HTTP endpoint that takes the authorizer event as a JSON `POST` body
//!   and answers with the authorizer's response (a 401 is the `Unauthorized` error);
//! - `function` with `uri` the Lambda service endpoint (`http://127.0.0.1:3001` for a local
//!   emulator): the Lambda Invoke API, `POST {uri}/2015-03-31/functions/{function}/invocations`
//!   with the event as the payload, signed with SigV4 (service `lambda`) when `credentials`
//!   are given, unsigned otherwise (local emulators).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::authorizer::AuthorizerType;
use super::file::DurationText;
use super::snapshot::ApiType;
use super::validate::Errors;

/// API Gateway's default authorizer result TTL.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(300);
/// The longest TTL API Gateway allows.
pub const MAX_RESULT_TTL: Duration = Duration::from_secs(3600);
/// Default wait for the authorizer's answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest authorizer answer read (a Lambda's synchronous response is at most 6 MB; an
/// authorizer's is a policy and a small context).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// `apis[i].authorizers[j].lambda`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaAuthorizerFile {
    /// An `http://` endpoint that takes the authorizer event as a JSON POST body and
    /// answers with the authorizer's response; with `function`, the Lambda service
    /// endpoint.
    #[serde(default)]
    pub uri: Option<String>,
    /// A Lambda function name or ARN: call it through the Lambda Invoke API at `uri`.
    #[serde(default)]
    pub function: Option<String>,
    /// `authorizerResultTtlInSeconds`: 0 turns the cache off; at most 1 h. Default 300 s.
    #[serde(default)]
    pub result_ttl: Option<DurationText>,
    /// TOKEN: a regular expression the whole token must match, else 401 without a call.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// HTTP APIs: `1.0` or `2.0` (default).
    #[serde(default)]
    pub payload_format_version: Option<String>,
    /// HTTP APIs, payload 2.0: the `{"isAuthorized": …}` simple response.
    #[serde(default)]
    pub enable_simple_responses: bool,
    /// How long to wait for the authorizer. Default 10 s.
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// With `function`: the credentials that sign the Invoke API call (SigV4).
    #[serde(default)]
    pub credentials: Option<CredentialsFile>,
    /// With `credentials`: the region of the signature. Default `server.region`.
    #[serde(default)]
    pub region: Option<String>,
}

/// `apis[i].authorizers[j].lambda.credentials`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    pub access_key_id: String,
    /// A file holding the secret access key (relative to the configuration file).
    #[serde(default)]
    pub secret_access_key_file: Option<String>,
    /// An environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
}

/// Credentials signing the Invoke API call; the secret never appears in logs or `Debug`.
#[derive(Debug, Clone)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: super::iam::Secret,
    /// `None`: the server's region.
    pub region: Option<String>,
}

/// The event an authorizer is sent and the answer it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    /// REST TOKEN: `{type, authorizationToken, methodArn}`.
    RestToken,
    /// REST REQUEST.
    RestRequest,
    /// HTTP API payload format 1.0.
    HttpV1,
    /// HTTP API payload format 2.0.
    HttpV2,
}

/// Where the authorizer's call goes, split and checked at load.
#[derive(Debug, Clone)]
pub struct AuthorizerEndpoint {
    /// The host as written (brackets kept for IPv6), for DNS and the `Host` header.
    pub host: String,
    pub port: u16,
    /// The address when the host is an IP literal (no DNS at request time).
    pub addr: Option<SocketAddr>,
    /// The request target: the URI's path and query, or the Invoke API's path.
    pub target: String,
    /// The `Host` header's value.
    pub host_header: String,
    /// Called through the Lambda Invoke API (a function error is told by
    /// `X-Amz-Function-Error`).
    pub invoke_api: bool,
}

#[derive(Debug)]
pub struct LambdaAuthorizer {
    pub uri: String,
    /// (Boxed, as `credentials`: the settings share an enum with the JWT authorizer's.)
    pub endpoint: Box<AuthorizerEndpoint>,
    pub result_ttl: Duration,
    pub identity_validation_expression: Option<String>,
    /// The expression compiled, anchored at both ends (the whole token must match).
    pub identity_validation: Option<regex::Regex>,
    pub payload_format_version: String,
    pub enable_simple_responses: bool,
    pub format: EventFormat,
    pub timeout: Duration,
    /// Sign the Invoke API call with these (`function` with `credentials`).
    pub credentials: Option<Box<SigningCredentials>>,
}

pub(super) fn build(
    e: &mut Errors,
    api_type: ApiType,
    kind: AuthorizerType,
    f: &LambdaAuthorizerFile,
    path: &str,
) -> Option<LambdaAuthorizer> {
    let before = e.count();
    let uri = match &f.uri {
        Some(u) => u.clone(),
        None => {
            e.push(
                format!("{path}.uri"),
                "required: the authorizer's endpoint (with `function`: the Lambda endpoint)",
            );
            String::new()
        }
    };
    let endpoint = if f.uri.is_some() {
        match endpoint(&uri, f.function.as_deref()) {
            Ok(ep) => Some(ep),
            Err(reason) => {
                let at = match reason.1 {
                    Field::Uri => "uri",
                    Field::Function => "function",
                };
                e.push(format!("{path}.{at}"), reason.0);
                None
            }
        }
    } else {
        None
    };
    let result_ttl = match &f.result_ttl {
        Some(t) => e.duration(&format!("{path}.result_ttl"), t)?,
        None => DEFAULT_RESULT_TTL,
    };
    if result_ttl > MAX_RESULT_TTL {
        e.push(
            format!("{path}.result_ttl"),
            "at most 3600s (API Gateway's limit)",
        );
    }
    if result_ttl.subsec_nanos() != 0 {
        e.push(
            format!("{path}.result_ttl"),
            "whole seconds (API Gateway's authorizerResultTtlInSeconds)",
        );
    }
    if kind != AuthorizerType::Token && f.identity_validation_expression.is_some() {
        e.push(
            format!("{path}.identity_validation_expression"),
            "only TOKEN authorizers validate their identity with an expression",
        );
    }
    let identity_validation = match &f.identity_validation_expression {
        Some(expr) if kind == AuthorizerType::Token => {
            match regex::Regex::new(&format!("^(?:{expr})$")) {
                Ok(re) => Some(re),
                Err(err) => {
                    e.push(
                        format!("{path}.identity_validation_expression"),
                        format!("not a valid regular expression: {err}"),
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let payload_format_version = match (api_type, f.payload_format_version.as_deref()) {
        (ApiType::Rest, None) => "1.0".to_string(),
        (ApiType::Http, None) => "2.0".to_string(),
        (ApiType::Http, Some(v @ ("1.0" | "2.0"))) => v.to_string(),
        (ApiType::Rest, Some(_)) => {
            e.push(
                format!("{path}.payload_format_version"),
                "an HTTP API setting; REST authorizers have one event format",
            );
            "1.0".to_string()
        }
        (ApiType::Http, Some(other)) => {
            e.push(
                format!("{path}.payload_format_version"),
                format!("`{other}`: expected 1.0 or 2.0"),
            );
            "2.0".to_string()
        }
    };
    if f.enable_simple_responses && payload_format_version != "2.0" {
        e.push(
            format!("{path}.enable_simple_responses"),
            "simple responses need an HTTP API with payload_format_version 2.0",
        );
    }
    let format = match (api_type, kind, payload_format_version.as_str()) {
        (ApiType::Rest, AuthorizerType::Token, _) => EventFormat::RestToken,
        (ApiType::Rest, _, _) => EventFormat::RestRequest,
        (ApiType::Http, _, "1.0") => EventFormat::HttpV1,
        (ApiType::Http, _, _) => EventFormat::HttpV2,
    };
    let timeout = match &f.timeout {
        Some(t) => e.positive_duration(&format!("{path}.timeout"), t)?,
        None => DEFAULT_TIMEOUT,
    };
    if f.function.is_none() && (f.credentials.is_some() || f.region.is_some()) {
        e.push(
            format!("{path}.credentials"),
            "credentials and region sign Lambda Invoke API calls: give `function` too",
        );
    }
    if let Some(region) = &f.region {
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            e.push(
                format!("{path}.region"),
                format!("`{region}` is not a region"),
            );
        }
    }
    let credentials = f.credentials.as_ref().and_then(|c| {
        let cpath = format!("{path}.credentials");
        let secret = read_secret(e, c, &cpath)?;
        if c.access_key_id.is_empty() {
            e.push(format!("{cpath}.access_key_id"), "must not be empty");
            return None;
        }
        Some(Box::new(SigningCredentials {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: super::iam::Secret(secret),
            region: f.region.clone(),
        }))
    });
    if e.count() > before {
        return None;
    }
    Some(LambdaAuthorizer {
        uri,
        endpoint: Box::new(endpoint?),
        result_ttl,
        identity_validation_expression: f.identity_validation_expression.clone(),
        identity_validation,
        payload_format_version,
        enable_simple_responses: f.enable_simple_responses,
        format,
        timeout,
        credentials,
    })
}

/// The secret access key from its file or environment variable (exactly one of them).
fn read_secret(e: &mut Errors, c: &CredentialsFile, path: &str) -> Option<String> {
    match (&c.secret_access_key_file, &c.secret_access_key_env) {
        (Some(file), None) => {
            let full = e.base_dir().join(file);
            match std::fs::read_to_string(&full) {
                Ok(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Ok(_) => {
                    e.push(
                        format!("{path}.secret_access_key_file"),
                        format!("{} is empty", full.display()),
                    );
                    None
                }
                Err(err) => {
                    e.push(
                        format!("{path}.secret_access_key_file"),
                        format!("cannot read {}: {err}", full.display()),
                    );
                    None
                }
            }
        }
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
    }
}

enum Field {
    Uri,
    Function,
}

/// Split `uri` (and `function`, for the Invoke API) into where the call goes.
fn endpoint(uri: &str, function: Option<&str>) -> Result<AuthorizerEndpoint, (String, Field)> {
    let (host, port, path) = crate::upstream::uri::split_rendered(uri)
        .map_err(|why| (format!("`{uri}`: {why}"), Field::Uri))?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addr = bare
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port));
    let host_header = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let target = match function {
        None => path.to_string(),
        Some(name) => {
            if name.is_empty()
                || name.len() > 170
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
            {
                return Err((
                    format!(
                        "`{name}` is not a Lambda function name or ARN (letters, digits, `-`, `_`, `:`, `.`)"
                    ),
                    Field::Function,
                ));
            }
            if path != "/" {
                return Err((
                    format!(
                        "`{uri}`: with `function`, the URI is the Lambda endpoint alone (no path)"
                    ),
                    Field::Uri,
                ));
            }
            // `:` in an ARN is percent-encoded, as the AWS SDKs send it.
            format!(
                "/2015-03-31/functions/{}/invocations",
                name.replace(':', "%3A")
            )
        }
    };
    Ok(AuthorizerEndpoint {
        host: host.to_string(),
        port,
        addr,
        target,
        host_header,
        invoke_api: function.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::authorizer::AuthorizerSettings;
    use crate::config::validate::tests::{assert_error, check, errors};

    /// A config with one API of `api_type` holding one authorizer of `kind` whose `lambda:`
    /// is `lambda` (a YAML flow mapping).
    fn config(api_type: &str, kind: &str, lambda: &str) -> String {
        format!(
            "listeners: [{{name: p, bind: '127.0.0.1:0', default_api: a}}]
apis:
  - id: a
    type: {api_type}
    authorizers:
      - name: lam
        type: {kind}
        identity_source: ['{source}']
        lambda: {lambda}
    routes:
      - route: GET /r
        integration: {{type: MOCK}}
    stages: [{{name: prod}}]
",
            source = if api_type == "REST" {
                "method.request.header.X-Token"
            } else {
                "$request.header.X-Token"
            }
        )
    }

    /// The authorizer's settings (the returned `Arc` keeps them alive).
    struct Built(std::sync::Arc<crate::config::authorizer::Authorizer>);

    impl std::ops::Deref for Built {
        type Target = LambdaAuthorizer;
        fn deref(&self) -> &LambdaAuthorizer {
            match &self.0.settings {
                AuthorizerSettings::Lambda(l) => l,
                other => panic!("{other:?}"),
            }
        }
    }

    fn build_ok(api_type: &str, kind: &str, lambda: &str) -> Built {
        let snap = check(&config(api_type, kind, lambda)).unwrap_or_else(|e| panic!("{e}"));
        Built(std::sync::Arc::clone(&snap.apis[0].authorizers[0]))
    }

    #[track_caller]
    fn refused(api_type: &str, kind: &str, lambda: &str, key: &str, fragment: &str) {
        let list = errors(&config(api_type, kind, lambda));
        assert_error(
            &list,
            &format!("apis[0].authorizers[0].lambda.{key}"),
            fragment,
        );
    }

    #[test]
    fn defaults_and_formats() {
        let a = build_ok("REST", "TOKEN", "{uri: 'http://127.0.0.1:9000/auth?x=1'}");
        assert_eq!(a.result_ttl, DEFAULT_RESULT_TTL);
        assert_eq!(a.timeout, DEFAULT_TIMEOUT);
        assert_eq!(a.format, EventFormat::RestToken);
        assert_eq!(a.endpoint.target, "/auth?x=1");
        assert_eq!(a.endpoint.host_header, "127.0.0.1:9000");
        assert_eq!(
            a.endpoint.addr,
            Some("127.0.0.1:9000".parse().expect("addr"))
        );
        assert!(!a.endpoint.invoke_api);
        let a = build_ok("REST", "REQUEST", "{uri: 'http://auth.internal/'}");
        assert_eq!(a.format, EventFormat::RestRequest);
        assert_eq!(a.endpoint.addr, None);
        assert_eq!(a.endpoint.host_header, "auth.internal");
        let a = build_ok("HTTP", "REQUEST", "{uri: 'http://[::1]:81/a'}");
        assert_eq!(a.format, EventFormat::HttpV2);
        assert_eq!(a.endpoint.addr, Some("[::1]:81".parse().expect("addr")));
        let a = build_ok(
            "HTTP",
            "REQUEST",
            "{uri: 'http://h/a', payload_format_version: '1.0', result_ttl: 0s, timeout: 250ms}",
        );
        assert_eq!(a.format, EventFormat::HttpV1);
        assert_eq!(a.result_ttl, Duration::ZERO);
        assert_eq!(a.timeout, Duration::from_millis(250));
    }

    #[test]
    fn invoke_api() {
        let a = build_ok(
            "REST",
            "TOKEN",
            "{uri: 'http://127.0.0.1:3001', function: 'arn:aws:lambda:us-east-1:123456789012:function:auth'}",
        );
        assert!(a.endpoint.invoke_api);
        assert!(a.credentials.is_none(), "unsigned without credentials");
        assert_eq!(
            a.endpoint.target,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aauth/invocations"
        );
        refused(
            "REST",
            "TOKEN",
            "{uri: 'http://127.0.0.1:3001/x', function: f}",
            "uri",
            "Lambda endpoint alone",
        );
        refused(
            "REST",
            "TOKEN",
            "{uri: 'http://127.0.0.1:3001', function: 'a/b'}",
            "function",
            "not a Lambda function name",
        );
    }

    #[test]
    fn signing_credentials_from_a_file_never_shown() {
        let file =
            std::env::temp_dir().join(format!("tollgate-lambda-secret-{}", std::process::id()));
        std::fs::write(&file, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").expect("write");
        let a = build_ok(
            "REST",
            "TOKEN",
            &format!(
                "{{uri: 'http://127.0.0.1:3001', function: auth, region: eu-west-1, \
                 credentials: {{access_key_id: AKIDEXAMPLE, secret_access_key_file: '{}'}}}}",
                file.display()
            ),
        );
        let _ = std::fs::remove_file(&file);
        let c = a.credentials.as_ref().expect("credentials");
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            c.secret_access_key.0,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        );
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        let shown = format!("{:?}", *a);
        assert!(!shown.contains("EXAMPLEKEY"), "{shown}");
    }

    #[test]
    fn identity_validation_matches_the_whole_token() {
        let a = build_ok(
            "REST",
            "TOKEN",
            "{uri: 'http://h/', identity_validation_expression: '^Bearer [-0-9a-zA-Z._]*$'}",
        );
        let re = a.identity_validation.as_ref().expect("compiled");
        assert!(re.is_match("Bearer abc.def"));
        assert!(!re.is_match("Basic abc"));
        let a = build_ok(
            "REST",
            "TOKEN",
            "{uri: 'http://h/', identity_validation_expression: 'allow|deny'}",
        );
        let re = a.identity_validation.as_ref().expect("compiled");
        assert!(re.is_match("allow") && re.is_match("deny"));
        assert!(!re.is_match("allowed") && !re.is_match("xdeny"));
        refused(
            "REST",
            "TOKEN",
            "{uri: 'http://h/', identity_validation_expression: '('}",
            "identity_validation_expression",
            "not a valid regular expression",
        );
    }

    #[test]
    fn refusals_name_their_key() {
        for (api, kind, lambda, key, want) in [
            ("REST", "TOKEN", "{}", "uri", "required"),
            ("REST", "TOKEN", "{uri: 'https://h/'}", "uri", "http://"),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h/', result_ttl: 3601s}",
                "result_ttl",
                "at most 3600s",
            ),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h/', result_ttl: 1500ms}",
                "result_ttl",
                "whole seconds",
            ),
            (
                "REST",
                "REQUEST",
                "{uri: 'http://h/', identity_validation_expression: x}",
                "identity_validation_expression",
                "only TOKEN",
            ),
            (
                "REST",
                "REQUEST",
                "{uri: 'http://h/', payload_format_version: '2.0'}",
                "payload_format_version",
                "an HTTP API setting",
            ),
            (
                "HTTP",
                "REQUEST",
                "{uri: 'http://h/', payload_format_version: '3.0'}",
                "payload_format_version",
                "expected 1.0 or 2.0",
            ),
            (
                "HTTP",
                "REQUEST",
                "{uri: 'http://h/', payload_format_version: '1.0', enable_simple_responses: true}",
                "enable_simple_responses",
                "simple responses",
            ),
            (
                "HTTP",
                "REQUEST",
                "{uri: 'http://h/', timeout: 0s}",
                "timeout",
                "greater than 0",
            ),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h/', credentials: {access_key_id: A, secret_access_key_env: X}}",
                "credentials",
                "give `function` too",
            ),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h', function: f, credentials: {access_key_id: A}}",
                "credentials",
                "exactly one of",
            ),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h', function: f, credentials: {access_key_id: A, secret_access_key_env: TOLLGATE_TEST_UNSET_VARIABLE}}",
                "credentials.secret_access_key_env",
                "is not set",
            ),
            (
                "REST",
                "TOKEN",
                "{uri: 'http://h', function: f, region: 'US East'}",
                "region",
                "not a region",
            ),
        ] {
            refused(api, kind, lambda, key, want);
        }
    }
}
