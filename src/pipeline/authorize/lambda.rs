//! TOKEN and REQUEST (Lambda) authorizers, as API Gateway runs them:
//!
//! 1. the identity sources' values: any missing or empty -> 401 without a call; a TOKEN
//!    that does not match `identity_validation_expression` -> 401 without a call;
//! 2. the result cache (per authorizer, per worker; keyed by those values): a hit costs a
//!    hash lookup and the cached policy's evaluation against this request's method ARN;
//! 3. on a miss, the event (`auth::lambda::event`) is POSTed to the authorizer's endpoint
//!    or through the Lambda Invoke API (`upstream::call`), within the authorizer's timeout,
//!    and the answer read (`auth::lambda::response`): `Unauthorized` -> 401; invalid, a
//!    function error or a timeout -> 500 `AuthorizerConfigurationException`; no connection
//!    -> 500 `AuthorizerFailureException`. Valid answers are cached (refusals are not);
//! 4. `$context.authorizer.principalId` / `.KEY` / `.lambda.KEY` and the
//!    `usageIdentifierKey` are set, then the answer decides (its policy evaluated by
//!    `auth::policy` for this request's method ARN and source address): REST Deny -> 403
//!    `User is not authorized to access this resource with an explicit deny`, nothing
//!    allowing -> 403 without `with an explicit deny`; HTTP APIs -> 403 `Forbidden`. On a
//!    REST API with a resource policy the decision goes to `resource_policy::after`, which
//!    combines the two (API Gateway's Table A: either may allow, an explicit deny wins).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use monoio::time::Instant;

use super::{method_arn, Outcome, Verdict};
use crate::auth::lambda::event::{self, ContextInput, EventInput};
use crate::auth::lambda::{
    AuthorizerResult, ContextValue, Expect, Grant, IdentityKey, Refusal, Reply, ResultCache,
};
use crate::auth::policy::{Decision, Denial, DenialText, RequestFacts};
use crate::auth::sigv4::{payload_sha256, Credentials, RequestParts, Signer, SigningParams};
use crate::config::authorizer::{
    AuthorizationType, Authorizer, AuthorizerSettings, IdentitySource,
};
use crate::config::lambda_authorizer::{
    AuthorizerEndpoint, EventFormat, LambdaAuthorizer, SigningCredentials, MAX_ANSWER_BYTES,
};
use crate::config::snapshot::ApiType;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::{AuthorizerValues, RequestContext};
use crate::pipeline::integration::lambda::json;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;
use crate::pipeline::worker::WorkerCtx;
use crate::time::Clock;
use crate::upstream::call::{call, write_request, CallError};
use crate::upstream::pool::{Endpoint, PoolKey, IDLE_TIMEOUT, MAX_IDLE_PER_ORIGIN, NO_GROUP};

/// REST's 403 when the authorizer's policy denies explicitly.
pub const EXPLICIT_DENY: &str =
    "User is not authorized to access this resource with an explicit deny";
/// HTTP APIs' 403.
pub const FORBIDDEN: &str = "Forbidden";
/// Bound on the entries of one authorizer's cache on one worker.
pub const CACHE_CAPACITY: usize = crate::auth::lambda::cache::DEFAULT_CAPACITY;

/// A cached answer with what each request takes from it, made once per answer so a hit
/// copies nothing: the usage key shared as `Rc<str>`.
#[derive(Debug)]
pub struct Cached {
    pub result: AuthorizerResult,
    usage_key: Option<Rc<str>>,
}

impl AuthorizerValues for Cached {
    fn write_value(&self, name: &str, out: &mut dyn std::fmt::Write) -> bool {
        match self.result.context_value(name) {
            Some(v) => out.write_str(v).is_ok(),
            None => false,
        }
    }

    /// The context map with each value as the answer gave it: strings, numbers, booleans
    /// (and, on HTTP APIs, objects, lists and null as their JSON).
    fn write_json(&self, out: &mut Vec<u8>) -> bool {
        out.push(b'{');
        for (i, (key, value)) in self.result.context.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::string(out, key.as_bytes());
            out.push(b':');
            match value {
                ContextValue::String(s) => json::string(out, s.as_bytes()),
                ContextValue::Number(n) | ContextValue::Json(n) => {
                    out.extend_from_slice(n.as_bytes())
                }
                ContextValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            }
        }
        out.push(b'}');
        true
    }
}

type Cache = ResultCache<Cached, Origin>;

/// This worker's clock for the caches: time since the worker's first Lambda authorizer
/// request. A request's own clock reading (`rc.start`) is measured against it, so a cache
/// hit reads no clock.
#[derive(Debug, Clone, Copy)]
pub struct Origin(std::time::Instant);

impl Default for Origin {
    fn default() -> Self {
        Origin(std::time::Instant::now())
    }
}

impl Clock for Origin {
    fn now(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

impl Origin {
    /// `at` on this clock.
    fn reading(&self, at: Instant) -> std::time::Duration {
        at.into_std().saturating_duration_since(self.0)
    }
}

/// This worker's result caches, one per authorizer of the configuration in force. An
/// authorizer is known by its `Arc` (a reload builds new ones: their caches start empty,
/// and the caches of authorizers no longer in any configuration are dropped when a new
/// one is first used).
#[derive(Default)]
pub struct LambdaCaches {
    origin: Origin,
    caches: RefCell<Vec<(Weak<Authorizer>, Rc<Cache>)>>,
    /// Scratch for the cache key and the method ARN (reused: no allocation per request).
    key: RefCell<IdentityKey>,
    arn: RefCell<String>,
    /// Signs Lambda Invoke API calls (its signing keys cached per secret, day and region).
    signer: RefCell<Signer>,
}

impl LambdaCaches {
    /// The worker's SigV4 signer (Lambda Invoke API and AWS service calls; its signing keys
    /// cached per secret, day, region and service).
    pub fn signer(&self) -> &RefCell<Signer> {
        &self.signer
    }
    fn cache_for(&self, authorizer: &Arc<Authorizer>, settings: &LambdaAuthorizer) -> Rc<Cache> {
        let ptr = Arc::as_ptr(authorizer);
        let mut caches = self.caches.borrow_mut();
        if let Some((_, c)) = caches
            .iter()
            .find(|(w, _)| w.as_ptr() == ptr && w.strong_count() > 0)
        {
            return Rc::clone(c);
        }
        caches.retain(|(w, _)| w.strong_count() > 0);
        // Caching needs an identity source to key on (API Gateway: "To enable caching,
        // your authorizer must have at least one identity source").
        let ttl = if authorizer.identity_source.is_empty() {
            std::time::Duration::ZERO
        } else {
            settings.result_ttl
        };
        let cache = Rc::new(Cache::new(ttl, CACHE_CAPACITY, self.origin));
        caches.push((Arc::downgrade(authorizer), Rc::clone(&cache)));
        cache
    }
}

pub async fn authorize<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    authorizer: &Authorizer,
    rc: &mut RequestContext,
) -> Result<Outcome, GatewayError> {
    let AuthorizerSettings::Lambda(settings) = &authorizer.settings else {
        return Err(GatewayError::with_source(
            ErrorKind::Internal,
            "a CUSTOM route names a non-Lambda authorizer",
        ));
    };
    let Some(shared) = routed
        .api
        .authorizers
        .iter()
        .find(|a| std::ptr::eq(&***a, authorizer))
    else {
        return Err(GatewayError::with_source(
            ErrorKind::Internal,
            "authorizer not in its API",
        ));
    };
    let http = routed.api_type == ApiType::Http;
    let c = &ctx.lambda_caches;
    let cache = c.cache_for(shared, settings);

    // 1. The identity. TOKEN: the token (its one identity source, a header) must match the
    // validation expression.
    if let (Some(re), Some(IdentitySource::Header(name))) = (
        &settings.identity_validation,
        authorizer.identity_source.first(),
    ) {
        let token = session
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok());
        if !token.is_some_and(|t| re.is_match(t)) {
            return Err(unauthorized(
                rc,
                "token does not match the validation expression",
            ));
        }
    }
    // 2. The cache, keyed by the identity sources' values (built in this worker's scratch
    // key: no allocation on a hit).
    let hit = {
        let mut key = c.key.borrow_mut();
        key.clear();
        for source in &authorizer.identity_source {
            if !identity_value(session, snapshot, routed, rc, source, |v| key.push(v)) {
                return Err(unauthorized(rc, "identity source missing"));
            }
        }
        cache.get_at(key.as_bytes(), c.origin.reading(rc.start))
    };
    // 3. Or the call (the key copied first: the scratch is another request's meanwhile).
    let entry = match hit {
        Some(hit) => hit,
        None => {
            let key = c.key.borrow().as_bytes().to_vec();
            let values =
                session_identity(session, snapshot, routed, rc, &authorizer.identity_source);
            let entry =
                Rc::new(invoke(ctx, session, snapshot, routed, settings, http, &values, rc).await?);
            cache.insert(&key, Rc::clone(&entry));
            entry
        }
    };

    // 4. The context, then the decision for this method.
    let result = &entry.result;
    rc.authorizer.principal_id.clear();
    if let Some(p) = &result.principal_id {
        rc.authorizer.principal_id.push_str(p);
    }
    rc.authorizer.usage_identifier_key = entry.usage_key.clone();
    rc.authorizer.context = Some(entry.clone() as Rc<dyn AuthorizerValues>);
    let listener = snapshot
        .listeners
        .get(session.listener())
        .map(|l| l.name.as_str());
    let decision = {
        let mut arn = c.arn.borrow_mut();
        method_arn(snapshot, rc, &mut arn);
        result.decide(&RequestFacts {
            action: "execute-api:Invoke",
            resource: &arn,
            caller: None,
            source_ip: rc.source_ip,
            source_vpce: listener,
        })
    };
    let verdict = match decision {
        Decision::Allow => Verdict::Allow,
        Decision::ExplicitDeny => Verdict::ExplicitDeny,
        Decision::NoMatch => Verdict::NoMatch,
    };
    match (&result.grant, http) {
        // HTTP APIs: allowed, or 403 Forbidden (they have no resource policies).
        (_, true) if verdict == Verdict::Allow => Ok(Outcome {
            kind: AuthorizationType::Custom,
            policy: None,
        }),
        (_, true) => Err(GatewayError::with_message(
            ErrorKind::AccessDenied,
            FORBIDDEN,
        )),
        // REST with a resource policy: the two decide together (`resource_policy::after`,
        // API Gateway's Table A).
        (Grant::Policy(_), false) if routed.api.resource_policy.is_some() => Ok(Outcome {
            kind: AuthorizationType::Custom,
            policy: Some(verdict),
        }),
        // Without one, the authorizer's policy alone: its Allow, or the 403 Table A gives
        // (the same messages as `auth::policy::combine` with no resource policy).
        (_, false) if verdict == Verdict::Allow => Ok(Outcome {
            kind: AuthorizationType::Custom,
            policy: Some(Verdict::Allow),
        }),
        (_, false) => {
            let denial = Denial {
                text: DenialText::Authorizer,
                explicit: verdict == Verdict::ExplicitDeny,
            };
            Err(GatewayError::with_message(
                ErrorKind::AccessDenied,
                denial.message(None, "execute-api:Invoke", ""),
            ))
        }
    }
}

fn unauthorized(rc: &mut RequestContext, why: &'static str) -> GatewayError {
    rc.authorizer.error = Some(why);
    GatewayError::with_source(ErrorKind::Unauthorized, why)
}

/// The value of one identity source, handed to `found`; false when it is missing or empty.
fn identity_value<S: Session>(
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &RequestContext,
    source: &IdentitySource,
    mut found: impl FnMut(&[u8]),
) -> bool {
    let value: Option<std::borrow::Cow<'_, [u8]>> = match source {
        IdentitySource::Header(name) => session.header(name).map(Into::into),
        IdentitySource::Query(name) => session.query().and_then(|q| {
            crate::cache::key::query_values(q, name.as_bytes())
                .next()
                .map(|v| percent_decode(v).into())
        }),
        IdentitySource::StageVariable(name) => {
            routed.variables.get(name).map(|v| v.as_bytes().into())
        }
        IdentitySource::Context(name) => {
            let mut out = String::new();
            rc.variable(name, snapshot, &mut out)
                .then(|| out.into_bytes().into())
        }
    };
    match value {
        Some(v) if !v.is_empty() => {
            found(&v);
            true
        }
        _ => false,
    }
}

/// The identity sources' values, in order (all present: checked before).
fn session_identity<S: Session>(
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &RequestContext,
    sources: &[IdentitySource],
) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        identity_value(session, snapshot, routed, rc, source, |v| {
            out.push(v.to_vec())
        });
    }
    out
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// `%XX` decoded (invalid escapes kept as they are); `+` stays `+`.
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Call the authorizer and read its answer.
#[allow(clippy::too_many_arguments)]
async fn invoke<S: Session>(
    ctx: &WorkerCtx,
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    settings: &LambdaAuthorizer,
    http: bool,
    identity: &[Vec<u8>],
    rc: &mut RequestContext,
) -> Result<Cached, GatewayError> {
    let body = event_json(session, snapshot, routed, settings, identity, rc);
    let ep = &settings.endpoint;
    let addr = match ep.addr {
        Some(a) => a,
        None => ctx
            .upstreams
            .resolve(&ep.host, ep.port)
            .await
            .map_err(|e| {
                rc.authorizer.error = Some("authorizer endpoint unresolved");
                GatewayError::with_source(ErrorKind::AuthorizerFailure, e)
            })?,
    };
    let endpoint = Endpoint {
        key: PoolKey {
            addr,
            group: NO_GROUP,
        },
        tls: None,
        proxy_v2: None,
        max_idle: MAX_IDLE_PER_ORIGIN,
        idle_timeout: IDLE_TIMEOUT,
    };
    let mut headers: Vec<(&str, String)> = vec![
        ("content-type", "application/json".into()),
        ("accept", "application/json".into()),
    ];
    if let (true, Some(creds)) = (ep.invoke_api, &settings.credentials) {
        let signed = sign_invoke(ctx, snapshot, ep, creds, &headers, &body);
        headers.extend(signed);
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut request = Vec::new();
    write_request(
        &mut request,
        "POST",
        &ep.target,
        &ep.host_header,
        &headers,
        &body,
    );
    let started = Instant::now();
    let answer = call(
        &ctx.upstreams,
        &endpoint,
        &mut request,
        started + settings.timeout,
        MAX_ANSWER_BYTES,
    )
    .await;
    rc.authorizer.latency = Some(started.elapsed());
    let answer = answer.map_err(|e| {
        let (kind, why) = match &e {
            CallError::Connect(_) => (ErrorKind::AuthorizerFailure, "authorizer unreachable"),
            CallError::TimedOut => (ErrorKind::AuthorizerConfiguration, "authorizer timed out"),
            CallError::TooLarge => (
                ErrorKind::AuthorizerConfiguration,
                "authorizer answer too large",
            ),
            CallError::Io(_) | CallError::Malformed(_) => {
                (ErrorKind::AuthorizerConfiguration, "authorizer call failed")
            }
        };
        rc.authorizer.error = Some(why);
        GatewayError::with_source(kind, e)
    })?;
    rc.authorizer.status = answer.status;
    let expect = match (http, settings.enable_simple_responses) {
        (false, _) => Expect::RestPolicy,
        (true, true) => Expect::HttpSimple,
        (true, false) => Expect::HttpPolicy,
    };
    let reply = Reply {
        status: answer.status,
        function_error: answer.header("x-amz-function-error").is_some(),
        body: &answer.body,
    };
    match crate::auth::lambda::response::parse(reply, expect) {
        Ok(result) => {
            let usage_key = result.usage_identifier_key.as_deref().map(Rc::from);
            Ok(Cached { result, usage_key })
        }
        Err(Refusal::Unauthorized) => Err(unauthorized(rc, "authorizer said Unauthorized")),
        Err(Refusal::Invalid(why)) => {
            rc.authorizer.error = Some("invalid authorizer answer");
            Err(GatewayError::with_source(
                ErrorKind::AuthorizerConfiguration,
                why,
            ))
        }
    }
}

/// SigV4 headers (service `lambda`) for the Invoke API call whose other headers are
/// `headers` (besides `host`) and whose body is `body`.
fn sign_invoke(
    ctx: &WorkerCtx,
    snapshot: &Snapshot,
    ep: &AuthorizerEndpoint,
    creds: &SigningCredentials,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut signed_over: Vec<(&[u8], &[u8])> = vec![(b"host", ep.host_header.as_bytes())];
    signed_over.extend(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let (path, query) = ep.target.split_once('?').unwrap_or((&ep.target, ""));
    let parts = RequestParts::new("POST", path, query, &signed_over[..]);
    let params = SigningParams {
        credentials: Credentials {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key.0,
            session_token: None,
        },
        region: creds.region.as_deref().unwrap_or(&snapshot.server.region),
        service: "lambda",
        time: std::time::SystemTime::now(),
        settings: Default::default(),
    };
    let signed = ctx
        .lambda_caches
        .signer
        .borrow_mut()
        .sign(&parts, &payload_sha256(body), &params);
    signed.headers().map(|(n, v)| (n, v.to_string())).collect()
}

/// The event for this request in the authorizer's format.
fn event_json<S: Session>(
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    settings: &LambdaAuthorizer,
    identity: &[Vec<u8>],
    rc: &RequestContext,
) -> Vec<u8> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let identity: Vec<String> = identity.iter().map(|v| text(v)).collect();
    let mut arn = String::new();
    method_arn(snapshot, rc, &mut arn);
    if settings.format == EventFormat::RestToken {
        return event::rest_token(&arn, identity.first().map_or("", String::as_str));
    }
    let headers: Vec<(String, String)> =
        session.headers().map(|(n, v)| (text(n), text(v))).collect();
    let raw_query = session.query().map(text).unwrap_or_default();
    let query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (
                text(&percent_decode(n.as_bytes())),
                text(&percent_decode(v.as_bytes())),
            )
        })
        .collect();
    let path = session.path();
    let params: Vec<(&str, &str)> = routed
        .route
        .param_names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((n.as_str(), routed.param_at(i, path)?)))
        .collect();
    let variables: Vec<(&str, &str)> = routed
        .variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let var = |name: &str| {
        let mut out = String::new();
        rc.variable(name, snapshot, &mut out);
        out
    };
    let (request_time, domain_name, domain_prefix) =
        (var("requestTime"), var("domainName"), var("domainPrefix"));
    let request_id = var("requestId");
    let extended_request_id = var("extendedRequestId");
    let source_ip = rc.source_ip.to_string();
    let cert = [
        var("identity.clientCert.subjectDN"),
        var("identity.clientCert.issuerDN"),
        var("identity.clientCert.serialNumber"),
        var("identity.clientCert.validity.notBefore"),
        var("identity.clientCert.validity.notAfter"),
    ];
    let api_key = session.header("x-api-key").map(text);
    // The resource's path template: the route key's path (`GET /pets/{id}`).
    let route_key = &routed.route.key;
    let resource = route_key
        .split_once(' ')
        .map_or(rc.resource_path(), |(_, p)| p);
    let (headers, query) = (pairs(&headers), pairs(&query));
    let identity: Vec<&str> = identity.iter().map(String::as_str).collect();
    let input = EventInput {
        method_arn: &arn,
        resource,
        path: rc.resource_path(),
        http_method: rc.method_text(),
        headers: &headers,
        query: &query,
        raw_query: &raw_query,
        path_parameters: &params,
        stage_variables: &variables,
        identity: &identity,
        context: ContextInput {
            account_id: &snapshot.server.account_id,
            api_id: rc.api_id(),
            stage: rc.stage_name(),
            request_id: &request_id,
            extended_request_id: &extended_request_id,
            resource_id: "",
            full_path: path,
            route_key: rc.route_key(),
            source_ip: &source_ip,
            user_agent: rc.user_agent(),
            protocol: rc.protocol.as_str(),
            domain_name: &domain_name,
            domain_prefix: &domain_prefix,
            api_key: api_key.as_deref(),
            request_time: &request_time,
            request_time_epoch_ms: rc.request_time_epoch_ms(),
            client_cert: (!cert[0].is_empty()).then(|| event::ClientCertInput {
                pem: "",
                subject_dn: &cert[0],
                issuer_dn: &cert[1],
                serial_number: &cert[2],
                not_before: &cert[3],
                not_after: &cert[4],
            }),
        },
    };
    match settings.format {
        EventFormat::RestToken | EventFormat::RestRequest => event::rest_request(&input),
        EventFormat::HttpV1 => event::http_v1(&input),
        EventFormat::HttpV2 => event::http_v2(&input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%20b%2Fc"), b"a b/c");
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(percent_decode(b"a+b"), b"a+b");
        assert_eq!(percent_decode(b"%e2%82%ac"), "€".as_bytes());
    }

    fn cached(answer: serde_json::Value, expect: Expect) -> Cached {
        let body = serde_json::to_vec(&answer).unwrap_or_default();
        let reply = Reply {
            status: 200,
            function_error: false,
            body: &body,
        };
        match crate::auth::lambda::response::parse(reply, expect) {
            Ok(result) => Cached {
                result,
                usage_key: None,
            },
            Err(e) => panic!("{e:?}"),
        }
    }

    fn json_of(c: &Cached) -> serde_json::Value {
        let mut out = b"prefix".to_vec();
        assert!(c.write_json(&mut out));
        assert!(out.starts_with(b"prefix"), "appended, not replaced");
        serde_json::from_slice(&out[6..])
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn the_context_as_json_keeps_the_answers_types() {
        use serde_json::json;
        let policy = json!({"Version": "2012-10-17", "Statement": []});
        let c = cached(
            json!({"principalId": "p", "policyDocument": policy,
                   "context": {"s": "a \"quoted\"\nline", "n": 1, "f": -2.5, "t": true, "no": false}}),
            Expect::RestPolicy,
        );
        assert_eq!(
            json_of(&c),
            json!({"s": "a \"quoted\"\nline", "n": 1, "f": -2.5, "t": true, "no": false})
        );
        // `$context.authorizer.KEY` still reads them as text.
        let mut text = String::new();
        assert!(c.write_value("n", &mut text));
        assert_eq!(text, "1");
        // HTTP APIs' lists, maps and null, as JSON.
        let c = cached(
            json!({"principalId": "p", "policyDocument": policy,
                   "context": {"list": ["a", 1], "map": {"k": "v"}, "none": null}}),
            Expect::HttpPolicy,
        );
        assert_eq!(
            json_of(&c),
            json!({"list": ["a", 1], "map": {"k": "v"}, "none": null})
        );
        // No context: an empty object.
        let c = cached(json!({"isAuthorized": true}), Expect::HttpSimple);
        assert_eq!(json_of(&c), json!({}));
    }
}
