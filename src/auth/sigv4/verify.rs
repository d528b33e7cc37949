//! The verifier: API Gateway's `AWS_IAM` check of a header-signed or presigned request.
//!
//! Order of the checks (each failure answers at once, as AWS does): a signature is there
//! at all; its parts are complete; `host` and every `x-amz-*` header sent are signed; the
//! date is ISO 8601 basic format and within the clock skew (or the presigned validity);
//! the credential has five parts and is scoped to the configured date, region and service;
//! the access key is known and the session token is the principal's; the signature
//! matches (constant-time comparison).

use std::fmt;
use std::time::SystemTime;

use ring::{digest, hmac};
use subtle::ConstantTimeEq;

use super::canonical::{
    decoded, hex32, query_decode, write_canonical_headers, write_canonical_path, QueryCanon,
};
use super::date::{format_amz_date, parse_amz_date, unix_secs};
use super::{
    Credentials, Headers, RequestParts, SigningKeyCache, UriMode, ALGORITHM, MAX_CLOCK_SKEW_SECS,
    MAX_PRESIGN_EXPIRES_SECS, UNSIGNED_PAYLOAD,
};

/// What the verifier accepts: one per API (or per configured IAM authorizer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The region credentials must be scoped to.
    pub region: String,
    /// The service credentials must be scoped to (`execute-api`).
    pub service: String,
    /// Canonical URI rules ([`UriMode::SERVICE`] for everything but S3).
    pub uri: UriMode,
    /// Whether a request declaring `x-amz-content-sha256: UNSIGNED-PAYLOAD` is checked
    /// against that literal instead of its body's hash. False for `execute-api`: API
    /// Gateway always hashes the body it received.
    pub accept_unsigned_payload: bool,
    /// Whether the session token is part of the signature (true for `execute-api`); when
    /// false an `x-amz-security-token` header or `X-Amz-Security-Token` parameter is
    /// left out of the canonical request and need not be signed.
    pub session_token_signed: bool,
    /// Allowed distance between the request's date and now, in seconds (300).
    pub max_skew_secs: i64,
    /// Longest presigned validity accepted (`X-Amz-Expires`, 604800).
    pub max_expires_secs: u64,
}

impl VerifierConfig {
    /// The rules for `service` in `region` (S3's URI rules when `service` is `s3`).
    pub fn new(region: &str, service: &str) -> Self {
        VerifierConfig {
            region: region.to_owned(),
            service: service.to_owned(),
            uri: if service == "s3" {
                UriMode::S3
            } else {
                UriMode::SERVICE
            },
            accept_unsigned_payload: service == "s3",
            session_token_signed: true,
            max_skew_secs: MAX_CLOCK_SKEW_SECS,
            max_expires_secs: MAX_PRESIGN_EXPIRES_SECS,
        }
    }

    /// API Gateway's rules: service `execute-api` in `region`.
    pub fn execute_api(region: &str) -> Self {
        Self::new(region, "execute-api")
    }
}

/// A request whose signature checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'s> {
    /// The caller's access key id (from the key lookup's answer).
    pub access_key_id: &'s str,
    /// The session token the request carried (the principal's), with temporary
    /// credentials.
    pub session_token: Option<&'s str>,
    /// Signed in the query string rather than the `Authorization` header.
    pub presigned: bool,
    /// The request declared `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    pub unsigned_payload: bool,
    /// The request's signing time, Unix seconds.
    pub signed_at: i64,
}

/// Why a request was refused. Every variant is a 403; [`VerifyError::message`] is API
/// Gateway's text, [`VerifyError::error_type`] its `x-amzn-ErrorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No `Authorization` header and no presigned query parameters.
    MissingAuthenticationToken,
    /// The signature's parts are missing or malformed (the message says which).
    IncompleteSignature(String),
    /// Credential scope or signed-header requirements not met (the message says which).
    InvalidSignature(String),
    /// Signed too long ago (`window` seconds: the clock skew, or `X-Amz-Expires`).
    SignatureExpired {
        signed_at: String,
        earliest: String,
        now: String,
        window: u64,
    },
    /// Signed in the future beyond the clock skew.
    SignatureNotYetCurrent {
        signed_at: String,
        latest: String,
        now: String,
        window: u64,
    },
    /// The signature does not match; what the gateway computed.
    SignatureMismatch {
        canonical_request: String,
        string_to_sign: String,
    },
    /// Unknown access key, or a session token that is not the principal's.
    UnrecognizedClient,
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn window_text(secs: u64) -> String {
    if secs.is_multiple_of(60) {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} sec.")
    }
}

impl VerifyError {
    /// The HTTP status: 403 for every refusal.
    pub fn status(&self) -> u16 {
        403
    }

    /// API Gateway's `x-amzn-ErrorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            VerifyError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            VerifyError::IncompleteSignature(_) => "IncompleteSignatureException",
            VerifyError::InvalidSignature(_)
            | VerifyError::SignatureExpired { .. }
            | VerifyError::SignatureNotYetCurrent { .. }
            | VerifyError::SignatureMismatch { .. } => "InvalidSignatureException",
            VerifyError::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The gateway response type whose template answers this refusal.
    pub fn response_type(&self) -> &'static str {
        match self {
            VerifyError::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            _ => "INVALID_SIGNATURE",
        }
    }

    /// The message (`{"message": ...}`), as API Gateway words it.
    pub fn message(&self) -> String {
        match self {
            VerifyError::MissingAuthenticationToken => "Missing Authentication Token".to_owned(),
            VerifyError::IncompleteSignature(m) | VerifyError::InvalidSignature(m) => m.clone(),
            VerifyError::SignatureExpired {
                signed_at,
                earliest,
                now,
                window,
            } => format!(
                "Signature expired: {signed_at} is now earlier than {earliest} ({now} - {})",
                window_text(*window)
            ),
            VerifyError::SignatureNotYetCurrent {
                signed_at,
                latest,
                now,
                window,
            } => format!(
                "Signature not yet current: {signed_at} is still later than {latest} ({now} + {})",
                window_text(*window)
            ),
            VerifyError::SignatureMismatch {
                canonical_request,
                string_to_sign,
            } => format!(
                "{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
            VerifyError::UnrecognizedClient => {
                "The security token included in the request is invalid.".to_owned()
            }
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for VerifyError {}

/// Whether the request declares an unsigned body (`x-amz-content-sha256:
/// UNSIGNED-PAYLOAD`), e.g. to skip hashing a body the verifier will not look at.
pub fn declares_unsigned_payload<'a, H: Headers<'a> + ?Sized>(headers: &H) -> bool {
    headers
        .each()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"x-amz-content-sha256"))
        .is_some_and(|(_, v)| v.trim_ascii() == UNSIGNED_PAYLOAD.as_bytes())
}

/// A range of `Verifier::auth`.
#[derive(Debug, Clone, Copy, Default)]
struct R(usize, usize);

/// The signature's parts, copied (and for the query form decoded) into `Verifier::auth`.
#[derive(Debug, Default)]
struct Parts {
    credential: R,
    signed_headers: R,
    signature: R,
    date: R,
    token: Option<R>,
    expires: Option<u64>,
    presigned: bool,
}

/// The verifier: per worker, reused for every request (its buffers and key cache warm).
#[derive(Debug, Default)]
pub struct Verifier {
    keys: SigningKeyCache,
    creq: Vec<u8>,
    sts: Vec<u8>,
    auth: Vec<u8>,
    tmp: Vec<u8>,
    query: QueryCanon,
    segs: Vec<(usize, usize)>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn push(buf: &mut Vec<u8>, bytes: &[u8]) -> R {
    let s = buf.len();
    buf.extend_from_slice(bytes);
    R(s, buf.len())
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The value of a lower-case hex digit (the only form SigV4 signatures take).
fn hex_lower_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Whether `list` (`a;b;c`) names `name` (any case).
fn lists(list: &[u8], name: &[u8]) -> bool {
    list.split(|&b| b == b';')
        .any(|n| n.eq_ignore_ascii_case(name))
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier whose key cache holds at most `capacity` keys.
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Verifier {
            keys: SigningKeyCache::new(capacity),
            ..Self::default()
        }
    }

    pub fn key_cache(&self) -> &SigningKeyCache {
        &self.keys
    }

    /// Verify `req`. `payload_hash` is the lower-case hex SHA-256 of the body received
    /// (the caller hashes it; [`EMPTY_PAYLOAD_SHA256`](super::EMPTY_PAYLOAD_SHA256) for
    /// none). `lookup` answers the credentials of an access key id (`None`: unknown).
    /// `now` is the wall clock (injected for tests).
    pub fn verify<'a, 's, H, F>(
        &mut self,
        req: &RequestParts<'a, H>,
        payload_hash: &str,
        cfg: &VerifierConfig,
        now: SystemTime,
        lookup: F,
    ) -> Result<Verified<'s>, VerifyError>
    where
        H: Headers<'a> + ?Sized,
        F: FnOnce(&str) -> Option<Credentials<'s>>,
    {
        let now = unix_secs(now);

        // The headers this needs, in one pass.
        let mut authz: Option<&[u8]> = None;
        let mut amz_date: Option<&[u8]> = None;
        let mut date: Option<&[u8]> = None;
        let mut token: Option<&[u8]> = None;
        let mut content: Option<&[u8]> = None;
        for (n, v) in req.headers.each() {
            let slot = if n.eq_ignore_ascii_case(b"authorization") {
                &mut authz
            } else if n.eq_ignore_ascii_case(b"x-amz-date") {
                &mut amz_date
            } else if n.eq_ignore_ascii_case(b"date") {
                &mut date
            } else if n.eq_ignore_ascii_case(b"x-amz-security-token") {
                &mut token
            } else if n.eq_ignore_ascii_case(b"x-amz-content-sha256") {
                &mut content
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        let date = amz_date.or(date);

        self.auth.clear();
        let parts = match authz {
            Some(value) => {
                if self.query_has_auth(req.query) {
                    return Err(VerifyError::IncompleteSignature(
                        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".to_owned(),
                    ));
                }
                self.parse_header(value, date, token)?
            }
            None => match self.parse_query(req.query, cfg)? {
                Some(parts) => parts,
                None => return Err(VerifyError::MissingAuthenticationToken),
            },
        };
        let auth = &self.auth;
        let get = |r: R| &auth[r.0..r.1];
        let signed = get(parts.signed_headers);

        // `host` and every `x-amz-*` header sent must be signed.
        if !lists(signed, b"host") {
            return Err(VerifyError::InvalidSignature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                    .to_owned(),
            ));
        }
        for (n, _) in req.headers.each() {
            let exempt =
                !cfg.session_token_signed && n.eq_ignore_ascii_case(b"x-amz-security-token");
            if n.len() >= 6
                && n[..6].eq_ignore_ascii_case(b"x-amz-")
                && !exempt
                && !lists(signed, n)
            {
                return Err(VerifyError::InvalidSignature(format!(
                    "'{}' must be a 'SignedHeader' in the AWS Authorization.",
                    lossy(&n.to_ascii_lowercase())
                )));
            }
        }

        // The date, and the time window.
        let amz = get(parts.date);
        let Some(signed_at) = parse_amz_date(amz) else {
            return Err(VerifyError::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
                lossy(amz)
            )));
        };
        let skew = cfg.max_skew_secs.max(0);
        let fmt = |t: i64| lossy(&format_amz_date(t));
        if signed_at > now.saturating_add(skew) {
            return Err(VerifyError::SignatureNotYetCurrent {
                signed_at: lossy(amz),
                latest: fmt(now.saturating_add(skew)),
                now: fmt(now),
                window: skew as u64,
            });
        }
        let window = match parts.expires {
            Some(e) => i64::try_from(e).unwrap_or(i64::MAX),
            None => skew,
        };
        if signed_at < now.saturating_sub(window) {
            return Err(VerifyError::SignatureExpired {
                signed_at: lossy(amz),
                earliest: fmt(now.saturating_sub(window)),
                now: fmt(now),
                window: window as u64,
            });
        }

        // The credential and its scope.
        let credential = get(parts.credential);
        let mut scope_parts = credential.split(|&b| b == b'/');
        let (Some(akid), Some(c_date), Some(c_region), Some(c_service), Some(c_term), None) = (
            scope_parts.next(),
            scope_parts.next(),
            scope_parts.next(),
            scope_parts.next(),
            scope_parts.next(),
            scope_parts.next(),
        ) else {
            return Err(VerifyError::IncompleteSignature(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
                lossy(credential)
            )));
        };
        let mut scope_errors = String::new();
        if c_region != cfg.region.as_bytes() {
            scope_errors.push_str(&format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                lossy(c_region)
            ));
        }
        if c_service != cfg.service.as_bytes() {
            scope_errors.push_str(&format!(
                "Credential should be scoped to correct service: '{}'. ",
                cfg.service
            ));
        }
        if c_term != b"aws4_request" {
            scope_errors.push_str(&format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                lossy(c_term)
            ));
        }
        if c_date != &amz[..8] {
            scope_errors.push_str(&format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'. ",
                lossy(c_date),
                lossy(&amz[..8]),
                lossy(amz)
            ));
        }
        if !scope_errors.is_empty() {
            return Err(VerifyError::InvalidSignature(scope_errors));
        }

        // Who: the key, and the session token.
        let akid = std::str::from_utf8(akid).map_err(|_| VerifyError::UnrecognizedClient)?;
        let creds = lookup(akid).ok_or(VerifyError::UnrecognizedClient)?;
        let sent_token = parts.token.map(get);
        let token_ok = match (creds.session_token, sent_token) {
            (None, None) => true,
            (Some(want), Some(got)) => bool::from(want.as_bytes().ct_eq(got)),
            _ => false,
        };
        if !token_ok {
            return Err(VerifyError::UnrecognizedClient);
        }

        // The canonical request.
        let unsigned = content.is_some_and(|v| trim(v) == UNSIGNED_PAYLOAD.as_bytes());
        let payload = if unsigned && cfg.accept_unsigned_payload {
            UNSIGNED_PAYLOAD
        } else {
            payload_hash
        };
        let creq = &mut self.creq;
        creq.clear();
        creq.extend_from_slice(req.method.as_bytes());
        creq.push(b'\n');
        write_canonical_path(creq, req.path, cfg.uri, &mut self.segs);
        creq.push(b'\n');
        self.query.clear();
        if parts.presigned {
            let skip_token = !cfg.session_token_signed;
            self.query.add_raw(req.query, |n| {
                n != b"X-Amz-Signature" && !(skip_token && n == b"X-Amz-Security-Token")
            });
        } else {
            self.query.add_raw(req.query, |_| true);
        }
        self.query.write(creq);
        creq.push(b'\n');
        write_canonical_headers(creq, signed, req.headers);
        creq.push(b'\n');
        creq.extend_from_slice(signed);
        creq.push(b'\n');
        creq.extend_from_slice(payload.as_bytes());

        let creq_hash = hex32(digest::digest(&digest::SHA256, creq).as_ref());
        let sts = &mut self.sts;
        sts.clear();
        sts.extend_from_slice(ALGORITHM.as_bytes());
        sts.push(b'\n');
        sts.extend_from_slice(amz);
        sts.push(b'\n');
        sts.extend_from_slice(&credential[akid.len() + 1..]);
        sts.push(b'\n');
        sts.extend_from_slice(&creq_hash);

        let mut date8 = [0u8; 8];
        date8.copy_from_slice(&amz[..8]);
        let key = self
            .keys
            .get(creds.secret_access_key, &date8, &cfg.region, &cfg.service);
        // The signature given, as bytes (malformed hex cannot match); ring compares the
        // MACs in constant time.
        let given = get(parts.signature);
        let mut given_mac = [0u8; 32];
        let well_formed = given.len() == 64
            && given
                .chunks(2)
                .zip(given_mac.iter_mut())
                .all(
                    |(pair, out)| match (hex_lower_val(pair[0]), hex_lower_val(pair[1])) {
                        (Some(h), Some(l)) => {
                            *out = h << 4 | l;
                            true
                        }
                        _ => false,
                    },
                );
        if !well_formed || hmac::verify(key, sts, &given_mac).is_err() {
            return Err(VerifyError::SignatureMismatch {
                canonical_request: lossy(creq),
                string_to_sign: lossy(sts),
            });
        }
        Ok(Verified {
            access_key_id: creds.access_key_id,
            session_token: creds.session_token,
            presigned: parts.presigned,
            unsigned_payload: unsigned,
            signed_at,
        })
    }

    /// Whether the query string carries presigned-URL parameters.
    fn query_has_auth(&mut self, query: &[u8]) -> bool {
        for piece in query.split(|&b| b == b'&') {
            let name = piece.split(|&b| b == b'=').next().unwrap_or(piece);
            if matches!(
                decoded(&mut self.tmp, name),
                b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
            ) {
                return true;
            }
        }
        false
    }

    /// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
    /// Signature=...`.
    fn parse_header(
        &mut self,
        value: &[u8],
        date: Option<&[u8]>,
        token: Option<&[u8]>,
    ) -> Result<Parts, VerifyError> {
        let value_trimmed = trim(value);
        let (alg, rest) = match value_trimmed.iter().position(|&b| b == b' ') {
            Some(sp) => (&value_trimmed[..sp], &value_trimmed[sp + 1..]),
            None => (value_trimmed, &b""[..]),
        };
        let requires = |cred: bool, sig: bool, sh: bool| {
            let mut m = String::new();
            if !cred {
                m.push_str("Authorization header requires 'Credential' parameter. ");
            }
            if !sig {
                m.push_str("Authorization header requires 'Signature' parameter. ");
            }
            if !sh {
                m.push_str("Authorization header requires 'SignedHeaders' parameter. ");
            }
            if date.is_none() {
                m.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
            }
            m.push_str("Authorization=");
            m.push_str(&String::from_utf8_lossy(value));
            VerifyError::IncompleteSignature(m)
        };
        if alg != ALGORITHM.as_bytes() {
            if alg.starts_with(b"AWS4-") {
                return Err(VerifyError::IncompleteSignature(format!(
                    "Unsupported AWS 'algorithm': '{}'.",
                    lossy(alg)
                )));
            }
            return Err(requires(false, false, false));
        }
        let (mut cred, mut sh, mut sig) = (None, None, None);
        for part in rest.split(|&b| b == b',') {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            let Some(eq) = part.iter().position(|&b| b == b'=') else {
                return Err(VerifyError::IncompleteSignature(format!(
                    "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: '{}'",
                    lossy(part),
                    lossy(value)
                )));
            };
            let (k, v) = (&part[..eq], &part[eq + 1..]);
            let slot = match k {
                b"Credential" => &mut cred,
                b"SignedHeaders" => &mut sh,
                b"Signature" => &mut sig,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        let (Some(cred), Some(sh), Some(sig), Some(date)) = (cred, sh, sig, date) else {
            return Err(requires(cred.is_some(), sig.is_some(), sh.is_some()));
        };
        let auth = &mut self.auth;
        Ok(Parts {
            credential: push(auth, cred),
            signed_headers: push(auth, sh),
            signature: push(auth, sig),
            date: push(auth, trim(date)),
            token: token.map(|t| push(auth, trim(t))),
            expires: None,
            presigned: false,
        })
    }

    /// The parts of a presigned URL (`X-Amz-Algorithm=...&X-Amz-Credential=...`); `None`
    /// when the query has none of them.
    fn parse_query(
        &mut self,
        query: &[u8],
        cfg: &VerifierConfig,
    ) -> Result<Option<Parts>, VerifyError> {
        let mut alg: Option<R> = None;
        let (mut cred, mut sh, mut sig, mut date, mut token, mut expires) =
            (None, None, None, None, None, None);
        for piece in query.split(|&b| b == b'&') {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &b""[..]),
            };
            if name.len() < 5 {
                continue;
            }
            let slot = match decoded(&mut self.tmp, name) {
                b"X-Amz-Algorithm" => &mut alg,
                b"X-Amz-Credential" => &mut cred,
                b"X-Amz-SignedHeaders" => &mut sh,
                b"X-Amz-Signature" => &mut sig,
                b"X-Amz-Date" => &mut date,
                b"X-Amz-Security-Token" => &mut token,
                b"X-Amz-Expires" => &mut expires,
                _ => continue,
            };
            if slot.is_none() {
                let s = self.auth.len();
                query_decode(&mut self.auth, value);
                *slot = Some(R(s, self.auth.len()));
            }
        }
        if alg.is_none() && cred.is_none() && sig.is_none() {
            return Ok(None);
        }
        let (Some(alg), Some(cred), Some(sh), Some(sig), Some(date)) = (alg, cred, sh, sig, date)
        else {
            return Err(VerifyError::IncompleteSignature(
                "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'. Re-examine the query-string parameters.".to_owned(),
            ));
        };
        let alg_bytes = &self.auth[alg.0..alg.1];
        if alg_bytes != ALGORITHM.as_bytes() {
            return Err(VerifyError::IncompleteSignature(format!(
                "Unsupported AWS 'algorithm': '{}'.",
                lossy(alg_bytes)
            )));
        }
        let expires = match expires {
            None => None,
            Some(r) => {
                let text = &self.auth[r.0..r.1];
                let n = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok());
                match n {
                    None => {
                        return Err(VerifyError::IncompleteSignature(format!(
                            "X-Amz-Expires should be a number, got '{}'",
                            lossy(text)
                        )))
                    }
                    Some(n) if n < 0 => {
                        return Err(VerifyError::IncompleteSignature(
                            "X-Amz-Expires must be non-negative".to_owned(),
                        ))
                    }
                    Some(n) if n as u64 > cfg.max_expires_secs => {
                        return Err(VerifyError::IncompleteSignature(format!(
                            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {} seconds",
                            cfg.max_expires_secs
                        )))
                    }
                    Some(n) => Some(n as u64),
                }
            }
        };
        Ok(Some(Parts {
            credential: cred,
            signed_headers: sh,
            signature: sig,
            date,
            token,
            expires,
            presigned: true,
        }))
    }
}
