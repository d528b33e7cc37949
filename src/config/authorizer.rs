//! An API's `authorizers:` and its routes' `authorization_type` / `authorizer` /
//! `authorization_scopes` (API Gateway's authorizers and method authorization), validated
//! into [`Authorizer`] and [`RouteAuthorization`]. The per-type settings are in
//! [`super::jwt_authorizer`] (JWT, COGNITO_USER_POOLS) and [`super::lambda_authorizer`]
//! (TOKEN, REQUEST).

use std::sync::Arc;

use ahash::AHashMap;
use serde::Deserialize;

use super::jwt_authorizer::{JwtAuthorizer, JwtAuthorizerFile};
use super::lambda_authorizer::{LambdaAuthorizer, LambdaAuthorizerFile};
use super::snapshot::ApiType;
use super::validate::Errors;

/// `apis[i].authorizers[j]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerFile {
    pub name: String,
    /// `JWT` (HTTP APIs), `COGNITO_USER_POOLS` (REST), `TOKEN` (REST), `REQUEST`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the identity comes from, in the API type's own syntax: HTTP APIs
    /// `$request.header.NAME`, `$request.querystring.NAME`, `$context.NAME`,
    /// `$stageVariables.NAME`; REST `method.request.header.NAME`,
    /// `method.request.querystring.NAME`, `context.NAME`, `stageVariables.NAME`. Default:
    /// the `Authorization` header (JWT, COGNITO_USER_POOLS, TOKEN); REQUEST has none.
    #[serde(default)]
    pub identity_source: Option<Vec<String>>,
    /// JWT and COGNITO_USER_POOLS settings.
    #[serde(default)]
    pub jwt: Option<JwtAuthorizerFile>,
    /// TOKEN and REQUEST settings.
    #[serde(default)]
    pub lambda: Option<LambdaAuthorizerFile>,
}

/// What kind of authorizer, in API Gateway's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerType {
    Jwt,
    CognitoUserPools,
    Token,
    Request,
}

impl AuthorizerType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizerType::Jwt => "JWT",
            AuthorizerType::CognitoUserPools => "COGNITO_USER_POOLS",
            AuthorizerType::Token => "TOKEN",
            AuthorizerType::Request => "REQUEST",
        }
    }
}

/// One identity source: where a request's identity value is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A request header (lowercase name).
    Header(String),
    /// A query string parameter.
    Query(String),
    /// A stage variable.
    StageVariable(String),
    /// A `$context` variable (by its name after `$context.`).
    Context(String),
}

/// A validated authorizer.
#[derive(Debug)]
pub struct Authorizer {
    pub name: String,
    pub kind: AuthorizerType,
    /// In the order written; the result cache key joins their values.
    pub identity_source: Vec<IdentitySource>,
    pub settings: AuthorizerSettings,
}

#[derive(Debug)]
pub enum AuthorizerSettings {
    Jwt(JwtAuthorizer),
    Lambda(LambdaAuthorizer),
}

/// A route's method authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthorizationType {
    #[default]
    None,
    AwsIam,
    /// A TOKEN or REQUEST (Lambda) authorizer.
    Custom,
    Jwt,
    CognitoUserPools,
}

impl AuthorizationType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::None => "NONE",
            AuthorizationType::AwsIam => "AWS_IAM",
            AuthorizationType::Custom => "CUSTOM",
            AuthorizationType::Jwt => "JWT",
            AuthorizationType::CognitoUserPools => "COGNITO_USER_POOLS",
        }
    }
}

/// A route's `authorization_type`, its authorizer and scopes.
#[derive(Debug, Clone, Default)]
pub struct RouteAuthorization {
    pub kind: AuthorizationType,
    /// Index into the API's `authorizers` (CUSTOM, JWT, COGNITO_USER_POOLS).
    pub authorizer: Option<usize>,
    /// The token must carry one of these (JWT, COGNITO_USER_POOLS); empty: any.
    pub scopes: Vec<String>,
}

/// Where usage plans read a request's API key (`apiKeySource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    #[default]
    Header,
    /// A Lambda authorizer's `usageIdentifierKey`.
    Authorizer,
}

/// `apis[i].authorizers` -> the API's authorizers and their names' indexes.
pub(super) fn build_authorizers(
    e: &mut Errors,
    api_type: ApiType,
    files: &[AuthorizerFile],
    path: &str,
) -> (Vec<Arc<Authorizer>>, AHashMap<String, usize>) {
    let mut out = Vec::new();
    let mut names: AHashMap<String, usize> = AHashMap::new();
    for (j, f) in files.iter().enumerate() {
        let apath = format!("{path}[{j}]");
        if let Some(a) = build_authorizer(e, api_type, f, &apath) {
            if names.contains_key(&a.name) {
                e.push(
                    format!("{apath}.name"),
                    format!("duplicate authorizer name `{}` in this API", a.name),
                );
                continue;
            }
            names.insert(a.name.clone(), out.len());
            out.push(Arc::new(a));
        }
    }
    (out, names)
}

fn build_authorizer(
    e: &mut Errors,
    api_type: ApiType,
    f: &AuthorizerFile,
    path: &str,
) -> Option<Authorizer> {
    let before = e.count();
    if f.name.is_empty()
        || !f
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        e.push(
            format!("{path}.name"),
            format!(
                "`{}` is not a valid authorizer name: use letters, digits, `_` and `-`",
                f.name
            ),
        );
    }
    let kind = match (f.kind.as_str(), api_type) {
        ("JWT", ApiType::Http) => Some(AuthorizerType::Jwt),
        ("COGNITO_USER_POOLS", ApiType::Rest) => Some(AuthorizerType::CognitoUserPools),
        ("TOKEN", ApiType::Rest) => Some(AuthorizerType::Token),
        ("REQUEST", _) => Some(AuthorizerType::Request),
        ("JWT", ApiType::Rest) => {
            e.push(
                format!("{path}.type"),
                "JWT authorizers are for HTTP APIs; a REST API uses COGNITO_USER_POOLS",
            );
            None
        }
        ("COGNITO_USER_POOLS" | "TOKEN", ApiType::Http) => {
            e.push(
                format!("{path}.type"),
                format!(
                    "`{}` authorizers are for REST APIs; an HTTP API uses JWT or REQUEST",
                    f.kind
                ),
            );
            None
        }
        (other, _) => {
            e.push(
                format!("{path}.type"),
                format!("`{other}`: expected JWT, COGNITO_USER_POOLS, TOKEN or REQUEST"),
            );
            None
        }
    };
    let kind = kind?;
    let identity_source = match &f.identity_source {
        Some(list) => {
            let mut out = Vec::new();
            for (k, text) in list.iter().enumerate() {
                match parse_identity_source(text, api_type) {
                    Ok(s) => out.push(s),
                    Err(reason) => e.push(format!("{path}.identity_source[{k}]"), reason),
                }
            }
            out
        }
        None if kind == AuthorizerType::Request => Vec::new(),
        None => vec![IdentitySource::Header("authorization".into())],
    };
    if kind == AuthorizerType::Token && identity_source.len() != 1 {
        e.push(
            format!("{path}.identity_source"),
            "a TOKEN authorizer reads exactly one header",
        );
    }
    if kind == AuthorizerType::Token
        && !matches!(
            identity_source.first(),
            Some(IdentitySource::Header(_)) | None
        )
    {
        e.push(
            format!("{path}.identity_source[0]"),
            "a TOKEN authorizer's identity source is a header",
        );
    }
    let settings = match kind {
        AuthorizerType::Jwt | AuthorizerType::CognitoUserPools => {
            if f.lambda.is_some() {
                e.push(
                    format!("{path}.lambda"),
                    format!("not allowed for a {} authorizer", kind.as_str()),
                );
            }
            match &f.jwt {
                Some(j) => super::jwt_authorizer::build(e, kind, j, &format!("{path}.jwt"))
                    .map(AuthorizerSettings::Jwt),
                None => {
                    e.push(
                        format!("{path}.jwt"),
                        format!("required for a {} authorizer", kind.as_str()),
                    );
                    None
                }
            }
        }
        AuthorizerType::Token | AuthorizerType::Request => {
            if f.jwt.is_some() {
                e.push(
                    format!("{path}.jwt"),
                    format!("not allowed for a {} authorizer", kind.as_str()),
                );
            }
            match &f.lambda {
                Some(l) => {
                    super::lambda_authorizer::build(e, api_type, kind, l, &format!("{path}.lambda"))
                        .map(AuthorizerSettings::Lambda)
                }
                None => {
                    e.push(
                        format!("{path}.lambda"),
                        format!("required for a {} authorizer", kind.as_str()),
                    );
                    None
                }
            }
        }
    };
    let settings = settings?;
    if e.count() > before {
        return None;
    }
    Some(Authorizer {
        name: f.name.clone(),
        kind,
        identity_source,
        settings,
    })
}

/// One identity source, in the API type's syntax (see [`AuthorizerFile::identity_source`]).
pub fn parse_identity_source(text: &str, api_type: ApiType) -> Result<IdentitySource, String> {
    let t = text.trim();
    let (header, query, stage, context) = match api_type {
        ApiType::Http => (
            "$request.header.",
            "$request.querystring.",
            "$stageVariables.",
            "$context.",
        ),
        ApiType::Rest => (
            "method.request.header.",
            "method.request.querystring.",
            "stageVariables.",
            "context.",
        ),
    };
    let nonempty = |name: &str| -> Result<String, String> {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == b',') {
            Err(format!(
                "`{t}`: the name after the prefix is missing or invalid"
            ))
        } else {
            Ok(name.to_string())
        }
    };
    if let Some(n) = t.strip_prefix(header) {
        return Ok(IdentitySource::Header(nonempty(n)?.to_ascii_lowercase()));
    }
    if let Some(n) = t.strip_prefix(query) {
        return Ok(IdentitySource::Query(nonempty(n)?));
    }
    if let Some(n) = t.strip_prefix(stage) {
        return Ok(IdentitySource::StageVariable(nonempty(n)?));
    }
    if let Some(n) = t.strip_prefix(context) {
        let n = nonempty(n)?;
        if !super::access_log::is_context_variable(&n) {
            return Err(format!("`{t}`: `$context.{n}` is not a context variable"));
        }
        return Ok(IdentitySource::Context(n));
    }
    Err(format!(
        "`{t}`: expected {header}NAME, {query}NAME, {stage}NAME or {context}NAME"
    ))
}

/// A route's authorization settings, checked against the API's type and authorizers.
pub(super) fn build_route_authorization(
    e: &mut Errors,
    api_type: ApiType,
    route: &crate::config::file::RouteFile,
    authorizers: &[Arc<Authorizer>],
    names: &AHashMap<String, usize>,
    path: &str,
) -> RouteAuthorization {
    let kind = route.authorization_type.as_deref();
    let authorizer = route.authorizer.as_deref();
    let scopes = &route.authorization_scopes;
    let kind = match (kind.unwrap_or("NONE"), api_type) {
        ("NONE", _) => AuthorizationType::None,
        ("AWS_IAM", _) => AuthorizationType::AwsIam,
        ("CUSTOM", _) => AuthorizationType::Custom,
        ("JWT", ApiType::Http) => AuthorizationType::Jwt,
        ("COGNITO_USER_POOLS", ApiType::Rest) => AuthorizationType::CognitoUserPools,
        (other, _) => {
            let expected = match api_type {
                ApiType::Http => "NONE, AWS_IAM, CUSTOM or JWT (HTTP API)",
                ApiType::Rest => "NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS (REST API)",
            };
            e.push(
                format!("{path}.authorization_type"),
                format!("`{other}`: expected {expected}"),
            );
            return RouteAuthorization::default();
        }
    };
    let wants_authorizer = matches!(
        kind,
        AuthorizationType::Custom | AuthorizationType::Jwt | AuthorizationType::CognitoUserPools
    );
    let index = match (wants_authorizer, authorizer) {
        (true, Some(name)) => match names.get(name) {
            Some(&i) => {
                let a = &authorizers[i];
                let fits = match kind {
                    AuthorizationType::Custom => {
                        matches!(a.kind, AuthorizerType::Token | AuthorizerType::Request)
                    }
                    AuthorizationType::Jwt => a.kind == AuthorizerType::Jwt,
                    AuthorizationType::CognitoUserPools => {
                        a.kind == AuthorizerType::CognitoUserPools
                    }
                    _ => false,
                };
                if !fits {
                    e.push(
                        format!("{path}.authorizer"),
                        format!(
                            "`{name}` is a {} authorizer, which authorization_type {} cannot use",
                            a.kind.as_str(),
                            kind.as_str()
                        ),
                    );
                }
                Some(i)
            }
            None => {
                e.push(
                    format!("{path}.authorizer"),
                    format!("no authorizer named `{name}` in this API's `authorizers`"),
                );
                None
            }
        },
        (true, None) => {
            e.push(
                format!("{path}.authorizer"),
                format!("required with authorization_type {}", kind.as_str()),
            );
            None
        }
        (false, Some(_)) => {
            e.push(
                format!("{path}.authorizer"),
                format!("not used with authorization_type {}", kind.as_str()),
            );
            None
        }
        (false, None) => None,
    };
    if !scopes.is_empty()
        && !matches!(
            kind,
            AuthorizationType::Jwt | AuthorizationType::CognitoUserPools
        )
    {
        e.push(
            format!("{path}.authorization_scopes"),
            "scopes apply to JWT and COGNITO_USER_POOLS authorization only",
        );
    }
    RouteAuthorization {
        kind,
        authorizer: index,
        scopes: scopes.to_vec(),
    }
}

/// `apis[i].api_key_source`
pub(super) fn build_api_key_source(
    e: &mut Errors,
    api_type: ApiType,
    text: Option<&str>,
    path: &str,
) -> ApiKeySource {
    match (text, api_type) {
        (None | Some("HEADER"), _) => ApiKeySource::Header,
        (Some("AUTHORIZER"), ApiType::Rest) => ApiKeySource::Authorizer,
        (Some("AUTHORIZER"), ApiType::Http) => {
            e.push(
                path,
                "API keys and usage plans are a REST API feature; an HTTP API has no API key source",
            );
            ApiKeySource::Header
        }
        (Some(other), _) => {
            e.push(path, format!("`{other}`: expected HEADER or AUTHORIZER"));
            ApiKeySource::Header
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_in_both_syntaxes() {
        use IdentitySource::*;
        let http = |t| parse_identity_source(t, ApiType::Http);
        let rest = |t| parse_identity_source(t, ApiType::Rest);
        assert_eq!(
            http("$request.header.Authorization"),
            Ok(Header("authorization".into()))
        );
        assert_eq!(
            http("$request.querystring.token"),
            Ok(Query("token".into()))
        );
        assert_eq!(http("$stageVariables.v"), Ok(StageVariable("v".into())));
        assert_eq!(http("$context.stage"), Ok(Context("stage".into())));
        assert_eq!(
            rest("method.request.header.X-Token"),
            Ok(Header("x-token".into()))
        );
        assert_eq!(rest("method.request.querystring.q"), Ok(Query("q".into())));
        assert_eq!(rest("stageVariables.v"), Ok(StageVariable("v".into())));
        assert_eq!(
            rest("context.sourceIp"),
            Err("`context.sourceIp`: `$context.sourceIp` is not a context variable".into())
        );
        assert_eq!(
            rest("context.identity.sourceIp"),
            Ok(Context("identity.sourceIp".into()))
        );
        assert!(
            http("method.request.header.A").is_err(),
            "REST syntax on HTTP"
        );
        assert!(http("$request.header.").is_err());
        assert!(rest("$request.header.A").is_err(), "HTTP syntax on REST");
    }

    use crate::config::validate::tests::{assert_error, check, errors};

    fn api(kind: &str, authorizers: &str, route_extra: &str) -> String {
        format!(
            "listeners: [{{name: p, bind: '127.0.0.1:0', default_api: a}}]
apis:
  - id: a
    type: {kind}
    authorizers:
{authorizers}
    routes:
      - route: GET /r
        integration: {{type: MOCK}}
{route_extra}
    stages: [{{name: prod}}]
"
        )
    }

    const JWT: &str = "      - name: cognito
        type: JWT
        jwt: {issuer: 'https://issuer.example', audience: [app]}
";
    const REQUEST: &str = "      - name: lam
        type: REQUEST
        identity_source: ['$request.header.X-Token']
        lambda: {uri: 'http://127.0.0.1:9/auth'}
";

    #[test]
    fn a_route_names_its_authorizer_and_scopes() {
        let text = api(
            "HTTP",
            &format!("{JWT}{REQUEST}"),
            "        authorization_type: JWT\n        authorizer: cognito\n        authorization_scopes: [read]\n",
        );
        let snap = check(&text).expect("valid");
        let api = &snap.apis[0];
        assert_eq!(api.authorizers.len(), 2);
        assert_eq!(api.authorizers[0].kind, AuthorizerType::Jwt);
        assert_eq!(
            api.authorizers[0].identity_source,
            [IdentitySource::Header("authorization".into())]
        );
        assert_eq!(
            api.authorizers[1].identity_source,
            [IdentitySource::Header("x-token".into())]
        );
        let stage = &api.stages["prod"];
        let route = &stage.deployment.routes[0];
        assert_eq!(route.authorization.kind, AuthorizationType::Jwt);
        assert_eq!(route.authorization.authorizer, Some(0));
        assert_eq!(route.authorization.scopes, ["read"]);
    }

    #[test]
    fn refusals_name_their_key() {
        let list = errors(&api(
            "HTTP",
            JWT,
            "        authorization_type: CUSTOM\n        authorizer: nope\n",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].authorizer",
            "no authorizer named `nope`",
        );
        let list = errors(&api(
            "HTTP",
            JWT,
            "        authorization_type: CUSTOM\n        authorizer: cognito\n",
        ));
        assert_error(&list, "apis[0].routes[0].authorizer", "is a JWT authorizer");
        let list = errors(&api(
            "HTTP",
            JWT,
            "        authorization_type: COGNITO_USER_POOLS\n",
        ));
        assert_error(&list, "apis[0].routes[0].authorization_type", "(HTTP API)");
        let list = errors(&api("HTTP", JWT, "        authorization_scopes: [x]\n"));
        assert_error(
            &list,
            "apis[0].routes[0].authorization_scopes",
            "JWT and COGNITO",
        );
        let list = errors(&api("HTTP", JWT, "        authorization_type: JWT\n"));
        assert_error(&list, "apis[0].routes[0].authorizer", "required");
        let list = errors(&api("REST", JWT, ""));
        assert_error(&list, "apis[0].authorizers[0].type", "COGNITO_USER_POOLS");
        let list = errors(&api("HTTP", &format!("{JWT}{JWT}"), ""));
        assert_error(&list, "apis[0].authorizers[1].name", "duplicate");
        let list = errors(&api(
            "HTTP",
            "      - name: t\n        type: TOKEN\n        lambda: {uri: 'http://x'}\n",
            "",
        ));
        assert_error(&list, "apis[0].authorizers[0].type", "REST APIs");
        let list = errors(&api("REST", "      - name: t\n        type: TOKEN\n", ""));
        assert_error(&list, "apis[0].authorizers[0].lambda", "required");
    }

    #[test]
    fn api_key_source_and_region() {
        let text =
            api("REST", "", "").replace("    authorizers:\n", "    api_key_source: AUTHORIZER\n");
        let snap = check(&text).expect("valid");
        assert_eq!(snap.apis[0].api_key_source, ApiKeySource::Authorizer);
        assert_eq!(snap.server.region, "us-east-1");
        let text =
            api("HTTP", "", "").replace("    authorizers:\n", "    api_key_source: AUTHORIZER\n");
        assert_error(&errors(&text), "apis[0].api_key_source", "REST API feature");
        let text = format!(
            "server: {{region: 'US East', account_id: '12'}}\n{}",
            api("REST", "", "").replace("    authorizers:\n", "")
        );
        let list = errors(&text);
        assert_error(&list, "server.region", "not a region");
        assert_error(&list, "server.account_id", "12 digits");
    }
}
