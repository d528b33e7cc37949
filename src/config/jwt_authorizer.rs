//! `authorizers[j].jwt`: a JWT (HTTP API) or COGNITO_USER_POOLS (REST) authorizer's issuer,
//! audiences, algorithms and key source, validated into [`JwtAuthorizer`] (pure data: the
//! keys themselves are fetched by `auth::jwt::KeyService` once the configuration runs).
//!
//! Checked at load: the issuer, the JWKS URL (https, or http to a loopback host only), the
//! JWKS file (read and parsed now: a file without one usable key is an error), the CA file
//! (a PEM bundle with at least one certificate), the leeway (at most 1 h) and the algorithm
//! names.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::authorizer::{AuthorizerSettings, AuthorizerType};
use super::file::DurationText;
use super::validate::Errors;
use super::Snapshot;
use crate::auth::jwt::fetch::Url;
use crate::auth::jwt::{parse_jwks, Algorithm, ClaimStyle, KeyLocation, KeySourceSpec, Validation};

/// Largest `leeway`.
const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// `apis[i].authorizers[j].jwt`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthorizerFile {
    /// The `iss` every token must carry; also where OIDC discovery starts
    /// (`{issuer}/.well-known/openid-configuration`) when no key source is given.
    pub issuer: String,
    /// Tokens must name one of these in `aud` (or, without `aud`, `client_id`). Required
    /// for JWT authorizers; for COGNITO_USER_POOLS optional (unset: not checked, as REST's
    /// Cognito authorizer accepts every app client of the pool).
    #[serde(default)]
    pub audience: Vec<String>,
    /// A JWKS URL, instead of discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A JWKS file (relative to the configuration file), instead of discovery.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// CA certificates (PEM, relative to the configuration file) to trust for the https
    /// discovery / JWKS URLs instead of the system's trust roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Allowed clock difference for exp / nbf / iat. Default 0 (as API Gateway).
    #[serde(default)]
    pub leeway: Option<DurationText>,
    /// The JWS algorithms tokens may use. Default: RS256, RS384, RS512, PS256, PS384,
    /// PS512, ES256, ES384 and EdDSA (each key still verifies only its own kind).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
}

/// A validated JWT / Cognito user pool authorizer.
#[derive(Debug, Clone)]
pub struct JwtAuthorizer {
    pub issuer: String,
    pub audience: Vec<String>,
    /// Where its keys come from (the key service fetches them).
    pub keys: KeySourceSpec,
    pub leeway: Duration,
    /// What tokens must satisfy: issuer, audiences (none for COGNITO_USER_POOLS without
    /// `audience`), leeway, algorithms.
    pub validation: Validation,
    /// How `$context` renders its claims: REST (`authorizer.claims.*`) or HTTP
    /// (`authorizer.jwt.claims.*`).
    pub style: ClaimStyle,
}

/// An http(s) URL keys may be fetched from: https anywhere, plain http to loopback only.
fn fetchable(e: &mut Errors, path: &str, url: &str) {
    match Url::parse(url) {
        Ok(u) if u.https || u.is_loopback() => {}
        Ok(_) => e.push(
            path,
            format!("`{url}`: keys are fetched over https (plain http only from a loopback host)"),
        ),
        Err(why) => e.push(path, why.0),
    }
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
    if f.audience.iter().any(String::is_empty) {
        e.push(format!("{path}.audience"), "an audience must not be empty");
    }
    let location = match (&f.jwks_uri, &f.jwks_file) {
        (Some(_), Some(_)) => {
            e.push(path, "give `jwks_uri` or `jwks_file`, not both");
            return None;
        }
        (Some(u), None) => {
            fetchable(e, &format!("{path}.jwks_uri"), u);
            KeyLocation::JwksUrl(u.clone())
        }
        (None, Some(p)) => {
            let file = e.base_dir().join(p);
            check_jwks_file(e, &format!("{path}.jwks_file"), &file);
            KeyLocation::JwksFile(file)
        }
        (None, None) => {
            if !f.issuer.is_empty() {
                fetchable(e, &format!("{path}.issuer"), &f.issuer);
            }
            KeyLocation::Discovery {
                issuer: f.issuer.clone(),
            }
        }
    };
    let ca_file = f.ca_file.as_ref().map(|p| e.base_dir().join(p));
    if let Some(ca) = &ca_file {
        let cpath = format!("{path}.ca_file");
        match std::fs::read(ca) {
            Ok(pem) => {
                if let Err(why) = crate::transport::tls_io::client_config_from_ca_pem(&pem) {
                    e.push(cpath, format!("{}: {why}", ca.display()));
                }
            }
            Err(why) => e.push(cpath, format!("cannot read {}: {why}", ca.display())),
        }
    }
    let leeway = match &f.leeway {
        Some(t) => {
            let d = e.duration(&format!("{path}.leeway"), t)?;
            if d > MAX_LEEWAY {
                e.push(format!("{path}.leeway"), "at most 1h");
            }
            d
        }
        None => Duration::ZERO,
    };
    let mut algorithms = Vec::new();
    if let Some(names) = &f.algorithms {
        if names.is_empty() {
            e.push(
                format!("{path}.algorithms"),
                "list at least one algorithm (or leave the key out for all)",
            );
        }
        for (k, name) in names.iter().enumerate() {
            match Algorithm::from_name(name) {
                Some(a) if !algorithms.contains(&a) => algorithms.push(a),
                Some(_) => {}
                None => e.push(
                    format!("{path}.algorithms[{k}]"),
                    format!(
                        "`{name}` is not supported: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"
                    ),
                ),
            }
        }
    }
    if e.count() > before {
        return None;
    }
    let audiences = match (kind, f.audience.is_empty()) {
        (AuthorizerType::CognitoUserPools, true) => None,
        _ => Some(f.audience.clone()),
    };
    let mut validation = Validation::new(f.issuer.clone(), audiences);
    validation.leeway_secs = leeway.as_secs();
    validation.algorithms = algorithms;
    Some(JwtAuthorizer {
        issuer: f.issuer.clone(),
        audience: f.audience.clone(),
        keys: KeySourceSpec { location, ca_file },
        leeway,
        validation,
        style: match kind {
            AuthorizerType::CognitoUserPools => ClaimStyle::Rest,
            _ => ClaimStyle::Http,
        },
    })
}

fn check_jwks_file(e: &mut Errors, path: &str, file: &PathBuf) {
    match std::fs::read(file) {
        Ok(doc) => match parse_jwks(&doc) {
            Ok((set, skipped)) if set.is_empty() => e.push(
                path,
                format!(
                    "{}: no usable key{}{}",
                    file.display(),
                    if skipped.is_empty() { "" } else { " (" },
                    if skipped.is_empty() {
                        String::new()
                    } else {
                        format!("{})", skipped.join("; "))
                    }
                ),
            ),
            Ok(_) => {}
            Err(why) => e.push(path, format!("{}: {why}", file.display())),
        },
        Err(why) => e.push(path, format!("cannot read {}: {why}", file.display())),
    }
}

/// Every key source the JWT and Cognito authorizers of `snapshot` use, each once: what
/// the running configuration registers with the key service (`auth::jwt::KeySources`).
pub fn key_sources(snapshot: &Snapshot) -> Vec<KeySourceSpec> {
    let mut out: Vec<KeySourceSpec> = Vec::new();
    for api in &snapshot.apis {
        for a in &api.authorizers {
            if let AuthorizerSettings::Jwt(j) = &a.settings {
                if !out.contains(&j.keys) {
                    out.push(j.keys.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::validate::tests::{assert_error, check, errors};

    fn api(kind: &str, auth_type: &str, jwt: &str) -> String {
        format!(
            "listeners: [{{name: p, bind: '127.0.0.1:0', default_api: a}}]
apis:
  - id: a
    type: {kind}
    authorizers:
      - name: idp
        type: {auth_type}
        jwt: {jwt}
    routes:
      - route: GET /r
        integration: {{type: MOCK}}
    stages: [{{name: prod}}]
"
        )
    }

    fn jwt_of(s: &Snapshot) -> JwtAuthorizer {
        match &s.apis[0].authorizers[0].settings {
            AuthorizerSettings::Jwt(j) => j.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn discovery_by_default_with_api_gateway_defaults() {
        let s = check(&api(
            "HTTP",
            "JWT",
            "{issuer: 'https://idp.example/pool', audience: [app]}",
        ))
        .unwrap();
        let j = jwt_of(&s);
        assert_eq!(
            j.keys,
            KeySourceSpec::new(KeyLocation::Discovery {
                issuer: "https://idp.example/pool".into()
            })
        );
        assert_eq!(j.validation.audiences, Some(vec!["app".into()]));
        assert_eq!(j.validation.leeway_secs, 0);
        assert!(j.validation.algorithms.is_empty());
        assert_eq!(j.style, ClaimStyle::Http);
        assert_eq!(key_sources(&s), vec![j.keys.clone()]);
        // REST's Cognito authorizer: no audience means none is checked; REST claims.
        let s = check(&api(
            "REST",
            "COGNITO_USER_POOLS",
            "{issuer: 'https://idp.example/pool'}",
        ))
        .unwrap();
        let j = jwt_of(&s);
        assert_eq!(j.validation.audiences, None);
        assert_eq!(j.style, ClaimStyle::Rest);
    }

    #[test]
    fn key_sources_leeway_and_algorithms() {
        let s = check(&api(
            "HTTP",
            "JWT",
            "{issuer: 'http://127.0.0.1:9090', audience: [app], jwks_uri: 'http://127.0.0.1:9090/keys', leeway: 30s, algorithms: [RS256, ES256, RS256]}",
        ))
        .unwrap();
        let j = jwt_of(&s);
        assert_eq!(
            j.keys.location,
            KeyLocation::JwksUrl("http://127.0.0.1:9090/keys".into())
        );
        assert_eq!(j.validation.leeway_secs, 30);
        assert_eq!(
            j.validation.algorithms,
            vec![Algorithm::RS256, Algorithm::ES256]
        );
    }

    #[test]
    fn bad_settings_are_refused_with_their_path() {
        let p = "apis[0].authorizers[0].jwt";
        let cases = [
            ("{issuer: 'http://idp.example', audience: [app]}", "issuer", "https"),
            ("{issuer: 'ftp://idp.example', audience: [app]}", "issuer", "not an http(s) URL"),
            ("{issuer: 'https://idp.example', audience: [app], jwks_uri: 'http://keys.example/k'}", "jwks_uri", "https"),
            ("{issuer: 'https://idp.example', audience: [app], jwks_file: 'no-such-file.json'}", "jwks_file", "cannot read"),
            ("{issuer: 'https://idp.example', audience: [app], ca_file: 'no-such-ca.pem'}", "ca_file", "cannot read"),
            ("{issuer: 'https://idp.example', audience: [app], leeway: 2h}", "leeway", "at most 1h"),
            ("{issuer: 'https://idp.example', audience: [app], algorithms: [HS256]}", "algorithms[0]", "not supported"),
            ("{issuer: 'https://idp.example', audience: [app], algorithms: []}", "algorithms", "at least one"),
            ("{issuer: 'https://idp.example', audience: ['']}", "audience", "must not be empty"),
            ("{issuer: 'https://idp.example'}", "audience", "at least one audience"),
        ];
        for (jwt, key, fragment) in cases {
            let list = errors(&api("HTTP", "JWT", jwt));
            assert_error(&list, &format!("{p}.{key}"), fragment);
        }
        let list = errors(&api(
            "HTTP",
            "JWT",
            "{issuer: 'https://idp.example', audience: [app], jwks_uri: 'https://k', jwks_file: 'k.json'}",
        ));
        assert_error(&list, p, "not both");
    }

    #[test]
    fn a_jwks_file_is_read_at_load() {
        let dir = std::env::temp_dir().join(format!("tollgate-jwtcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        let key = crate::auth::jwt::mint::SigningKey::generate(Algorithm::ES256, "k")
            .unwrap()
            .0;
        std::fs::write(&good, crate::auth::jwt::mint::jwks(&[&key])).unwrap();
        let empty = dir.join("empty.json");
        std::fs::write(
            &empty,
            r#"{"keys": [{"kty": "oct", "kid": "s", "k": "AA"}]}"#,
        )
        .unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "not json").unwrap();
        let jwt = |f: &std::path::Path| {
            format!(
                "{{issuer: 'https://idp.example', audience: [app], jwks_file: '{}'}}",
                f.display()
            )
        };
        let s = check(&api("HTTP", "JWT", &jwt(&good))).unwrap();
        assert_eq!(
            jwt_of(&s).keys.location,
            KeyLocation::JwksFile(good.clone())
        );
        let p = "apis[0].authorizers[0].jwt.jwks_file";
        assert_error(
            &errors(&api("HTTP", "JWT", &jwt(&empty))),
            p,
            "no usable key (key s: key type \"oct\"",
        );
        assert_error(&errors(&api("HTTP", "JWT", &jwt(&bad))), p, "invalid JWKS");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
