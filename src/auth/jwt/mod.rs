//! JSON Web Tokens: HTTP APIs' JWT authorizer and REST APIs' Cognito user pool authorizer.
//!
//! The request path (per worker, no locks, no allocation on a cache hit):
//!
//! 1. [`bearer_token`] takes the token out of the identity source (`Bearer ` optional);
//! 2. [`JwtAuthorizer::authorize`] looks it up in the worker's [`TokenCache`] (a hash of the
//!    token bytes, the full bytes compared); on a miss it reads the issuer's current
//!    [`KeySet`] through a [`KeysReader`] (an `Arc` re-read only when the key service
//!    published a new generation) and runs [`verify`]: compact JWS, an allowed algorithm
//!    for the key named by `kid`, the signature, then `iss`, `aud` / `client_id`, `exp`,
//!    `nbf`, `iat` with the configured leeway. An unknown `kid` asks the key service for
//!    one rate-limited refresh (a message, never a wait);
//! 3. the route's scopes are checked on the verified [`Claims`] ([`Claims::has_any_scope`]),
//!    which also render `$context.authorizer.claims.NAME` (REST) and
//!    `$context.authorizer.jwt.claims.NAME` / `.jwt.scopes` (HTTP) as API Gateway does.
//!
//! Off the request path, one [`KeyService`] thread per process fetches every issuer's keys
//! (OIDC discovery, a JWKS URL or a JWKS file), refreshes them when their `max-age` runs
//! out or a worker reports an unknown `kid`, and keeps the last good keys when the issuer
//! cannot be reached.
//!
//! Refusals are typed ([`JwtError`]): each has its status (401, or 403 for missing scopes)
//! and the `www-authenticate` text API Gateway sends ([`JwtError::www_authenticate`]).
//! Tokens are signed for tests, benches and `tollgate jwt` by [`mint`].

mod cache;
mod claims;
pub mod fetch;
mod jwk;
mod keys;
pub mod mint;
mod source;
mod token;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod source_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::rc::Rc;
use std::sync::Arc;

pub use cache::{TokenCache, DEFAULT_CACHE_ENTRIES};
pub use claims::{ClaimStyle, Claims};
pub use jwk::{parse_jwks, JwksError, KeySet, PublicKey};
pub use keys::{KeysReader, PublishedKeys};
pub use source::{FetchPolicy, KeyLocation, KeyService, KeySourceSpec, KeySources};
pub use token::{verify, Validation};

/// The JWS algorithms the authorizer accepts. `none`, the HMAC family (`HS*`: a public key
/// is no secret) and everything else are refused before any key is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm named `name` in a JWS header or a JWK `alg` (case-sensitive, as
    /// RFC 7515 says); `None` for anything not supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a token was refused. Every variant but [`JwtError::InsufficientScope`] is a 401
/// `{"message":"Unauthorized"}`; that one is a 403 `{"message":"Forbidden"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// The identity source is absent or empty (no token at all).
    Missing,
    /// Not a compact JWS: not three base64url parts, a header or payload that is not a
    /// JSON object, a claim of the wrong type.
    Malformed,
    /// `alg` is `none`, an HMAC algorithm or anything else not supported.
    UnsupportedAlgorithm,
    /// The header has no `kid`: API Gateway needs one to pick the issuer's key.
    MissingKid,
    /// No key of the issuer's current key set has this `kid`. The caller asks the key
    /// service for a (rate-limited) refresh: the issuer may have rotated its keys.
    UnknownKid,
    /// The key named by `kid` may not be used with the token's `alg` (its own `alg`
    /// differs, or its type does not fit: an EC key for RS256, a P-384 key for ES256).
    AlgorithmNotAllowed,
    /// The header lists critical extensions (`crit`); none is understood.
    CriticalHeader,
    /// The signature does not verify with the key.
    BadSignature,
    /// `iss` is missing or not the configured issuer.
    BadIssuer,
    /// Neither `aud` nor (without `aud`) `client_id` names a configured audience.
    BadAudience,
    /// `exp` is missing.
    MissingExpiry,
    /// `exp` has passed (with the leeway).
    Expired,
    /// `nbf` is still ahead (with the leeway).
    NotYetValid,
    /// `iat` is ahead of now (with the leeway).
    IssuedInFuture,
    /// A valid token without any of the route's authorization scopes (403).
    InsufficientScope,
}

impl JwtError {
    /// The response status: 403 for missing scopes, 401 otherwise.
    pub fn status(self) -> u16 {
        match self {
            JwtError::InsufficientScope => 403,
            _ => 401,
        }
    }

    /// The `error_description` of the `www-authenticate` header. API Gateway documents one
    /// text ("the token does not have a valid audience"); the others follow its style.
    /// None of them quotes anything from the token.
    pub fn description(self) -> &'static str {
        match self {
            JwtError::Missing => "the token is missing",
            JwtError::Malformed => "the token is malformed",
            JwtError::UnsupportedAlgorithm => "the token's signing algorithm is not supported",
            JwtError::MissingKid => "the token does not have a kid",
            JwtError::UnknownKid => "the token's kid does not match any key of the issuer",
            JwtError::AlgorithmNotAllowed => "the token's signing algorithm does not fit its key",
            JwtError::CriticalHeader => "the token has unsupported critical headers",
            JwtError::BadSignature => "the token has an invalid signature",
            JwtError::BadIssuer => "the token does not have a valid issuer",
            JwtError::BadAudience => "the token does not have a valid audience",
            JwtError::MissingExpiry => "the token does not have an expiry",
            JwtError::Expired => "the token has expired",
            JwtError::NotYetValid => "the token is not valid yet",
            JwtError::IssuedInFuture => "the token was issued in the future",
            JwtError::InsufficientScope => "the token does not have the required scope",
        }
    }

    /// The `www-authenticate` header value, in API Gateway's form:
    /// `Bearer scope="" error="invalid_token" error_description="the token has expired"`.
    /// `scopes` are the route's authorization scopes (space-separated in `scope`). A
    /// missing token gets the challenge without an error (RFC 6750 §3.1); missing scopes
    /// get `error="insufficient_scope"`.
    pub fn www_authenticate(self, scopes: &[&str]) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("Bearer scope=\"");
        for (i, s) in scopes.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            // Scopes come from the configuration; keep the quoted string well-formed anyway.
            out.extend(
                s.chars()
                    .filter(|c| *c != '"' && *c != '\\' && !c.is_control()),
            );
        }
        out.push('"');
        let error = match self {
            JwtError::Missing => return out,
            JwtError::InsufficientScope => "insufficient_scope",
            _ => "invalid_token",
        };
        out.push_str(" error=\"");
        out.push_str(error);
        out.push_str("\" error_description=\"");
        out.push_str(self.description());
        out.push('"');
        out
    }
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for JwtError {}

/// The token in an identity source value: the value itself, or what follows `Bearer `
/// (any case, as API Gateway takes "the token, or the token prefixed with Bearer"), with
/// surrounding spaces and tabs trimmed. `None` when nothing is left.
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let v = value.trim_ascii();
    if v.eq_ignore_ascii_case(b"bearer") {
        return None; // `Bearer ` with nothing after it
    }
    let v = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") || p.eq_ignore_ascii_case(b"bearer\t") => {
            v[7..].trim_ascii()
        }
        _ => v,
    };
    (!v.is_empty()).then_some(v)
}

/// One JWT authorizer as a worker runs it: its validation rules, its view of the issuer's
/// keys and its tag in the worker's [`TokenCache`]. Plain per-worker state.
#[derive(Debug)]
pub struct JwtAuthorizer {
    validation: Validation,
    style: ClaimStyle,
    keys: KeysReader,
    tag: u64,
}

impl JwtAuthorizer {
    /// `tag` tells this authorizer's cache entries from others' in a shared per-worker
    /// cache: give every (authorizer, configuration generation) its own tag. `style`: how
    /// `$context` renders the claims (REST or HTTP).
    pub fn new(
        validation: Validation,
        style: ClaimStyle,
        keys: Arc<PublishedKeys>,
        tag: u64,
    ) -> Self {
        JwtAuthorizer {
            validation,
            style,
            keys: KeysReader::new(keys),
            tag,
        }
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verify `token` at unix time `now` (seconds): a cache hit costs a hash lookup and a
    /// byte comparison; a miss verifies and, when the token is good, caches its claims
    /// until `exp` (plus the leeway). An unknown `kid` reports itself to the key service.
    pub fn authorize(
        &mut self,
        token: &[u8],
        cache: &mut TokenCache,
        now: i64,
    ) -> Result<Rc<Claims>, JwtError> {
        let keys = self.keys.current();
        let epoch = keys.removal_epoch();
        if let Some(claims) = cache.get(self.tag, token, epoch, now) {
            return Ok(claims);
        }
        match verify(token, keys, &self.validation, now) {
            Ok(mut claims) => {
                claims.set_style(self.style);
                let until = claims
                    .expires_at()
                    .saturating_add(self.validation.leeway_secs as i64);
                let claims = Rc::new(claims);
                cache.insert(self.tag, token, epoch, Rc::clone(&claims), until, now);
                Ok(claims)
            }
            Err(JwtError::UnknownKid) => {
                self.keys.report_unknown_kid();
                Err(JwtError::UnknownKid)
            }
            Err(e) => Err(e),
        }
    }
}
