//! Compact JWS verification (RFC 7515, 7519), in API Gateway's order: decode, the header's
//! algorithm and `kid`, the signature with the issuer's key, then the claims (`iss`,
//! `aud` or `client_id`, `exp`, `nbf`, `iat`). Nothing from an unverified token is
//! trusted: the payload is parsed before the signature is checked only so a malformed
//! one is refused, and its claims are read after.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::Claims;
use super::jwk::KeySet;
use super::{Algorithm, JwtError};

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// `iss` must equal this exactly (a trailing `/` matters, as with API Gateway).
    pub issuer: String,
    /// `aud` (a string or an array) must name one of these, or, for a token without `aud`
    /// (a Cognito access token), `client_id` must. `None`: the audience is not checked
    /// (REST's Cognito user pool authorizer).
    pub audiences: Option<Vec<String>>,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat` (API Gateway: 0).
    pub leeway_secs: u64,
    /// The algorithms tokens may use; empty: every supported one.
    pub algorithms: Vec<Algorithm>,
}

impl Validation {
    pub fn new(issuer: impl Into<String>, audiences: Option<Vec<String>>) -> Self {
        Validation {
            issuer: issuer.into(),
            audiences,
            leeway_secs: 0,
            algorithms: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

fn decode_part(part: &[u8]) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)
}

/// Verify the compact JWS `token` against `keys` and `v` at unix time `now` (seconds).
pub fn verify(token: &[u8], keys: &KeySet, v: &Validation, now: i64) -> Result<Claims, JwtError> {
    // header.payload.signature: exactly two dots (five parts would be a JWE).
    let mut parts = token.splitn(4, |b| *b == b'.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if h64.is_empty() || p64.is_empty() {
        return Err(JwtError::Malformed);
    }
    let header: Header =
        serde_json::from_slice(&decode_part(h64)?).map_err(|_| JwtError::Malformed)?;
    if header.crit.is_some() {
        return Err(JwtError::CriticalHeader);
    }
    let alg = header
        .alg
        .as_deref()
        .and_then(Algorithm::from_name)
        .filter(|a| v.algorithms.is_empty() || v.algorithms.contains(a))
        .ok_or(JwtError::UnsupportedAlgorithm)?;
    let kid = header
        .kid
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or(JwtError::MissingKid)?;
    let key = keys.find(kid).ok_or(JwtError::UnknownKid)?;
    if !key.allows(alg) {
        return Err(JwtError::AlgorithmNotAllowed);
    }
    let payload: Map<String, Value> =
        serde_json::from_slice(&decode_part(p64)?).map_err(|_| JwtError::Malformed)?;
    let sig = decode_part(s64)?;
    let signed = &token[..h64.len() + 1 + p64.len()];
    if !key.verify(alg, signed, &sig) {
        return Err(JwtError::BadSignature);
    }
    check_claims(payload, v, now)
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional; fractions are floored.
fn numeric_date(v: &Value) -> Result<i64, JwtError> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() => Ok(f.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64),
        _ => Err(JwtError::Malformed),
    }
}

fn check_claims(payload: Map<String, Value>, v: &Validation, now: i64) -> Result<Claims, JwtError> {
    match payload.get("iss") {
        Some(Value::String(iss)) if *iss == v.issuer => {}
        _ => return Err(JwtError::BadIssuer),
    }
    if let Some(allowed) = &v.audiences {
        let ok = |s: &str| allowed.iter().any(|a| a == s);
        let fits = match (payload.get("aud"), payload.get("client_id")) {
            (Some(Value::String(a)), _) => ok(a),
            (Some(Value::Array(list)), _) => list.iter().any(|a| a.as_str().is_some_and(ok)),
            // `aud` present but neither a string nor an array.
            (Some(_), _) => false,
            (None, Some(Value::String(c))) => ok(c),
            (None, _) => false,
        };
        if !fits {
            return Err(JwtError::BadAudience);
        }
    }
    let leeway = i64::try_from(v.leeway_secs).unwrap_or(i64::MAX);
    let exp = numeric_date(payload.get("exp").ok_or(JwtError::MissingExpiry)?)?;
    // Valid while now < exp (+ leeway): "on or after which the JWT MUST NOT be accepted".
    if now >= exp.saturating_add(leeway) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = payload.get("nbf") {
        if numeric_date(nbf)? > now.saturating_add(leeway) {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = payload.get("iat") {
        if numeric_date(iat)? > now.saturating_add(leeway) {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(Claims::from_payload(payload, exp))
}
