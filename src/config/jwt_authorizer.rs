//! `authorizers[j].jwt`: a JWT (HTTP API) or COGNITO_USER_POOLS (REST) authorizer's issuer,
//! audiences and key source. (Skeleton of issue 14: the JWT helper owns and completes it.)

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::authorizer::AuthorizerType;
use super::file::DurationText;
use super::validate::Errors;

/// `apis[i].authorizers[j].jwt`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthorizerFile {
    /// The `iss` every token must carry; also where OIDC discovery starts
    /// (`{issuer}/.well-known/openid-configuration`) when no key source is given.
    pub issuer: String,
    /// Tokens must name one of these in `aud` (or, for access tokens, `client_id`).
    #[serde(default)]
    pub audience: Vec<String>,
    /// A JWKS URL, instead of discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A JWKS file (relative to the configuration file), instead of discovery.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// Allowed clock difference for exp / nbf / iat. Default 0 (as API Gateway).
    #[serde(default)]
    pub leeway: Option<DurationText>,
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `{issuer}/.well-known/openid-configuration` -> `jwks_uri`.
    Discovery(String),
    Uri(String),
    File(PathBuf),
}

#[derive(Debug)]
pub struct JwtAuthorizer {
    pub issuer: String,
    pub audience: Vec<String>,
    pub keys: JwksSource,
    pub leeway: Duration,
}

pub(super) fn build(
    e: &mut Errors,
    kind: AuthorizerType,
    f: &JwtAuthorizerFile,
    path: &str,
) -> Option<JwtAuthorizer> {
    let before = e.count();
    if f.issuer.is_empty() {
        e.push(format!("{path}.issuer"), "must not be empty");
    }
    if kind == AuthorizerType::Jwt && f.audience.is_empty() {
        e.push(
            format!("{path}.audience"),
            "a JWT authorizer needs at least one audience",
        );
    }
    let keys = match (&f.jwks_uri, &f.jwks_file) {
        (Some(_), Some(_)) => {
            e.push(path, "give `jwks_uri` or `jwks_file`, not both");
            return None;
        }
        (Some(u), None) => JwksSource::Uri(u.clone()),
        (None, Some(p)) => JwksSource::File(e.base_dir().join(p)),
        (None, None) => JwksSource::Discovery(f.issuer.clone()),
    };
    let leeway = match &f.leeway {
        Some(t) => e.duration(&format!("{path}.leeway"), t)?,
        None => Duration::ZERO,
    };
    if e.count() > before {
        return None;
    }
    Some(JwtAuthorizer {
        issuer: f.issuer.clone(),
        audience: f.audience.clone(),
        keys,
        leeway,
    })
}
