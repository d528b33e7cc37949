//! JWT (HTTP APIs) and COGNITO_USER_POOLS (REST APIs) authorization, over
//! `auth::jwt`:
//!
//! 1. the token is read from the authorizer's identity source (`Bearer ` optional);
//!    absent or empty: 401 without any verification;
//! 2. the worker's [`JwtAuthorizer`] for this configured authorizer verifies it, through
//!    the worker's verified-token cache (a repeated token costs a hash lookup); the keys
//!    are the issuer's as the key service last published them;
//! 3. the route's `authorization_scopes`: the token must carry one (`scope` / `scp`), else
//!    403 `{"message":"Forbidden"}`;
//! 4. `$context.authorizer`: the claims (`authorizer.claims.*` on REST APIs,
//!    `authorizer.jwt.claims.*` on HTTP APIs), the scopes (`authorizer.jwt.scopes`) and
//!    `authorizer.principalId` (the `sub` claim).
//!
//! Refusals are 401 `{"message":"Unauthorized"}`; HTTP APIs add API Gateway's
//! `www-authenticate: Bearer scope="…" error="invalid_token" error_description="…"` (REST's
//! Cognito authorizer sends none).
//!
//! Per-worker state (the cache and one [`JwtAuthorizer`] per configured authorizer) lives
//! in a thread-local of the worker's thread: plain `RefCell`, never shared. An authorizer
//! of a configuration no longer in use is dropped when the next new one is met.

use std::sync::Arc;

use super::Outcome;
use crate::auth::jwt::{
    bearer_token, ClaimStyle, Claims, JwtAuthorizer, JwtError, KeyService, TokenCache,
};
use crate::cache::key::query_values;
use crate::config::authorizer::{
    AuthorizationType, Authorizer, AuthorizerSettings, AuthorizerType, IdentitySource,
};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::{AuthorizerValues, RequestContext};
use crate::pipeline::integration::lambda::json;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;
use crate::pipeline::worker::WorkerCtx;

impl AuthorizerValues for Claims {
    fn write_value(&self, name: &str, out: &mut dyn std::fmt::Write) -> bool {
        self.render_own(name, out)
    }

    /// The claims as API Gateway puts them in a Lambda proxy event: every value a string,
    /// rendered as `$context` renders it in the claims' style (HTTP APIs' `"exp":
    /// "1787996002"`, `"groups": "[admin ops]"`; REST's Cognito dates), claims whose
    /// value is `null` left out.
    fn write_json(&self, out: &mut Vec<u8>) -> bool {
        let mut text = String::new();
        out.push(b'{');
        let mut first = true;
        for (name, value) in self.map() {
            if value.is_null() {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            json::string(out, name.as_bytes());
            out.push(b':');
            text.clear();
            self.render_own(name, &mut text);
            json::string(out, text.as_bytes());
        }
        out.push(b'}');
        true
    }
}

/// One worker's JWT state.
#[derive(Debug, Default)]
pub struct JwtWorker {
    cache: TokenCache,
    /// Per configured authorizer met so far (its `Arc` kept, so its address is not reused
    /// while it is here).
    authorizers: Vec<(Arc<Authorizer>, JwtAuthorizer)>,
    next_tag: u64,
}

impl JwtWorker {
    /// The runtime of configured authorizer `a` (made on first use: one registry lookup
    /// in the key service, which normally holds the source already).
    fn authorizer(&mut self, a: &Arc<Authorizer>) -> Result<usize, GatewayError> {
        if let Some(i) = self.authorizers.iter().position(|(k, _)| Arc::ptr_eq(k, a)) {
            return Ok(i);
        }
        // Authorizers of configurations no longer running (only this list holds them).
        self.authorizers.retain(|(k, _)| Arc::strong_count(k) > 1);
        let AuthorizerSettings::Jwt(j) = &a.settings else {
            return Err(GatewayError::with_source(
                ErrorKind::Internal,
                "a JWT route names a Lambda authorizer",
            ));
        };
        let service = KeyService::global().ok_or_else(|| {
            GatewayError::with_source(
                ErrorKind::AuthorizerFailure,
                "the JWKS key service is not running",
            )
        })?;
        let keys = service.register(j.keys.clone());
        // Authorizers of configurations nobody else holds any more go now.
        self.authorizers.retain(|(k, _)| Arc::strong_count(k) > 1);
        self.next_tag += 1;
        let runtime = JwtAuthorizer::new(j.validation.clone(), j.style, keys, self.next_tag);
        self.authorizers.push((Arc::clone(a), runtime));
        Ok(self.authorizers.len() - 1)
    }
}

/// The raw identity value of `source` (not yet stripped of `Bearer `).
fn identity<'a, S: Session>(
    source: &'a IdentitySource,
    session: &'a S,
    snapshot: &Snapshot,
    routed: &'a Routed<'_>,
    rc: &RequestContext,
    scratch: &'a mut String,
) -> Option<&'a [u8]> {
    match source {
        IdentitySource::Header(name) => session.header(name),
        IdentitySource::Query(name) => query_values(session.query()?, name.as_bytes()).next(),
        IdentitySource::StageVariable(name) => routed.variables.get(name).map(|v| v.as_bytes()),
        IdentitySource::Context(name) => {
            scratch.clear();
            rc.variable(name, snapshot, scratch);
            Some(scratch.as_bytes())
        }
    }
}

fn refuse(e: JwtError, kind: AuthorizerType, scopes: &[String]) -> GatewayError {
    let err = if e == JwtError::InsufficientScope {
        GatewayError::with_message(ErrorKind::AccessDenied, "Forbidden")
    } else {
        GatewayError::new(ErrorKind::Unauthorized)
    };
    if kind == AuthorizerType::Jwt {
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        err.with_header("www-authenticate", e.www_authenticate(&scopes))
    } else {
        err
    }
}

pub fn authorize<S: Session>(
    ctx: &WorkerCtx,
    session: &S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    authorizer: &Authorizer,
    rc: &mut RequestContext,
) -> Result<Outcome, GatewayError> {
    let scopes = &routed.route.authorization.scopes;
    let kind = authorizer.kind;
    let mut scratch = String::new();
    let token = authorizer
        .identity_source
        .first()
        .and_then(|s| identity(s, session, snapshot, routed, rc, &mut scratch))
        .and_then(bearer_token);
    let Some(token) = token else {
        rc.authorizer.error = Some(JwtError::Missing.description());
        return Err(refuse(JwtError::Missing, kind, scopes));
    };
    // The configured authorizer's `Arc` (the route holds its index).
    let arc = routed
        .route
        .authorization
        .authorizer
        .and_then(|i| routed.api.authorizers.get(i))
        .ok_or_else(|| {
            GatewayError::with_source(ErrorKind::Internal, "route names a missing authorizer")
        })?;
    let now = (rc.request_time_epoch_ms() / 1000) as i64;
    let verified = {
        let mut w = ctx.jwt.borrow_mut();
        let i = w.authorizer(arc)?;
        let JwtWorker {
            cache, authorizers, ..
        } = &mut *w;
        Ok::<_, GatewayError>(authorizers[i].1.authorize(token, cache, now))
    }?;
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            rc.authorizer.error = Some(e.description());
            return Err(refuse(e, kind, scopes));
        }
    };
    if !claims.has_any_scope(scopes) {
        rc.authorizer.error = Some(JwtError::InsufficientScope.description());
        return Err(refuse(JwtError::InsufficientScope, kind, scopes));
    }
    rc.authorizer.principal_id.clear();
    if let Some(serde_json::Value::String(sub)) = claims.get("sub") {
        rc.authorizer.principal_id.push_str(sub);
    }
    if claims.style() == ClaimStyle::Http {
        rc.authorizer.scopes = Some(claims.scopes_rc());
    }
    rc.authorizer.claims = Some(claims);
    Ok(Outcome {
        kind: match kind {
            AuthorizerType::CognitoUserPools => AuthorizationType::CognitoUserPools,
            _ => AuthorizationType::Jwt,
        },
        policy: None,
    })
}

impl JwtWorker {
    /// The verified-token cache's statistics (hits, misses).
    pub fn cache_stats(&self) -> (u64, u64) {
        self.cache.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::mint::{jwks, SigningKey};
    use crate::auth::jwt::{parse_jwks, verify, Algorithm, Validation};
    use serde_json::{json, Value};

    fn verified(claims: &Value, style: ClaimStyle) -> Claims {
        let key = match SigningKey::generate(Algorithm::ES256, "k1") {
            Ok((k, _)) => k,
            Err(e) => panic!("{e}"),
        };
        let token = key.sign(claims).unwrap_or_default();
        let keys = match parse_jwks(jwks(&[&key]).as_bytes()) {
            Ok((set, _)) => set,
            Err(e) => panic!("{e:?}"),
        };
        let v = Validation::new("https://idp.example", Some(vec!["app".to_owned()]));
        let mut c =
            verify(token.as_bytes(), &keys, &v, 1_680_633_000).unwrap_or_else(|e| panic!("{e:?}"));
        c.set_style(style);
        c
    }

    fn json_of(c: &Claims) -> Value {
        let mut out = b"[1,".to_vec();
        assert!(c.write_json(&mut out));
        out.push(b']');
        let all: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        assert_eq!(all[0], 1, "appended, not replaced");
        all[1].clone()
    }

    #[test]
    fn claims_go_to_the_event_as_strings() {
        let claims = json!({
            "iss": "https://idp.example", "aud": "app", "sub": "alice \"a\"",
            "exp": 1_680_633_579, "iat": 1_680_629_979, "email_verified": true,
            "groups": ["admin", "ops"], "nested": {"a": 1}, "nothing": null, "ratio": 0.5,
        });
        // HTTP APIs: numbers and booleans as their text, lists as `[a b]`, null left out.
        assert_eq!(
            json_of(&verified(&claims, ClaimStyle::Http)),
            json!({
                "iss": "https://idp.example", "aud": "app", "sub": "alice \"a\"",
                "exp": "1680633579", "iat": "1680629979", "email_verified": "true",
                "groups": "[admin ops]", "nested": "{\"a\":1}", "ratio": "0.5",
            })
        );
        // REST's Cognito authorizer: exp and iat as dates, lists joined by commas.
        let rest = json_of(&verified(&claims, ClaimStyle::Rest));
        assert_eq!(rest["exp"], "Tue Apr 04 18:39:39 UTC 2023");
        assert_eq!(rest["groups"], "admin,ops");
        assert_eq!(rest["email_verified"], "true");
        assert!(rest.get("nothing").is_none());
    }
}
