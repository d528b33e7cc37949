//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): the signer and the verifier, a pure
//! algorithm with no knowledge of the pipeline or the configuration.
//!
//! - [`Signer`] / [`sign`] / [`presign`]: sign a request in the `Authorization` header or
//!   in the query string (presigned URL); used by IAM-signing clients and by the Lambda and
//!   AWS-service integrations (issue 15).
//! - [`Verifier`]: check a header-signed or presigned request the way API Gateway does for
//!   `AWS_IAM` authorization, with API Gateway's error messages ([`VerifyError`]).
//! - [`SigningKeyCache`]: derived signing keys per (secret, date, region, service), reused.
//!
//! A request is seen through [`RequestParts`]: the method, the path and query exactly as
//! sent, and the headers through the [`Headers`] trait (a slice of pairs, or any closure
//! that yields them, so the pipeline needs no `Vec` of headers).
//!
//! Canonicalization follows the AWS rules ([`UriMode`]): for every service but S3 the path
//! is normalized and percent-encoded again (double encoding); for S3 it is used as sent.
//! The query string is decoded (`+` is a space) and re-encoded, sorted by name then value;
//! header values are trimmed and inner runs of spaces collapsed; repeated headers are
//! joined with `,` in request order. docs/BEHAVIOUR.md, "IAM authorization (SigV4)", says
//! what the verifier checks and answers.

mod canonical;
mod date;
mod keys;
mod sign;
#[cfg(test)]
mod tests;
mod verify;

use std::fmt;

pub use date::{format_amz_date, parse_amz_date};
pub use keys::{derive_signing_key, SigningKeyCache};
pub use sign::{presign, sign, Presigned, Signed, Signer, SigningParams, SigningSettings};
pub use verify::{declares_unsigned_payload, Verified, Verifier, VerifierConfig, VerifyError};

/// The one algorithm: HMAC-SHA256.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request that does not sign its body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far a header-signed request's `X-Amz-Date` may be from now: 5 minutes.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// The longest a presigned URL may be valid (`X-Amz-Expires`): 7 days.
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 604_800;

/// Lower-case hex SHA-256 of `body`: the payload hash of a request with that body.
pub fn payload_sha256(body: &[u8]) -> String {
    String::from_utf8_lossy(&payload_sha256_hex(body)).into_owned()
}

/// [`payload_sha256`] without an allocation: the 64 hex digits (ASCII) in an array.
pub fn payload_sha256_hex(body: &[u8]) -> [u8; 64] {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    canonical::hex32(d.as_ref())
}

/// The request's headers, each `(name, value)` as sent (any case), in order, repeated
/// names repeated. Iterated several times per request, so implementations should be cheap
/// to restart (a slice, or the parsed head's spans).
pub trait Headers<'a> {
    fn each(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])>;
}

impl<'a> Headers<'a> for [(&'a [u8], &'a [u8])] {
    fn each(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.iter().copied()
    }
}

impl<'a, const N: usize> Headers<'a> for [(&'a [u8], &'a [u8]); N] {
    fn each(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.iter().copied()
    }
}

impl<'a> Headers<'a> for Vec<(&'a [u8], &'a [u8])> {
    fn each(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.iter().copied()
    }
}

/// Headers produced by a closure, e.g. `HeaderFn(|| session.headers().chain(host))`.
#[derive(Clone, Copy)]
pub struct HeaderFn<F>(pub F);

impl<'a, F, I> Headers<'a> for HeaderFn<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (&'a [u8], &'a [u8])>,
{
    fn each(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        (self.0)()
    }
}

/// The parts of a request that SigV4 signs, all as sent on the wire.
pub struct RequestParts<'a, H: ?Sized> {
    /// `GET`, `POST`, ... (as sent; SigV4 uses it verbatim).
    pub method: &'a str,
    /// The path without the query, raw (still percent-encoded as the client sent it).
    pub path: &'a [u8],
    /// The query string without `?`, raw; empty when there is none.
    pub query: &'a [u8],
    /// Every header, including `host` (HTTP/2: give `:authority` as `host`).
    pub headers: &'a H,
}

impl<'a, H: ?Sized> Clone for RequestParts<'a, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, H: ?Sized> Copy for RequestParts<'a, H> {}

impl<'a, H: Headers<'a> + ?Sized> RequestParts<'a, H> {
    pub fn new(method: &'a str, path: &'a str, query: &'a str, headers: &'a H) -> Self {
        RequestParts {
            method,
            path: path.as_bytes(),
            query: query.as_bytes(),
            headers,
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .each()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// AWS credentials: what signs (the signer's input) and what a verifier's key lookup
/// answers for an access key id. `Debug` never shows the secret or the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// Temporary credentials' session token (`x-amz-security-token`): when the lookup
    /// answers one, the request must carry exactly that token.
    pub session_token: Option<&'a str>,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// How the canonical URI is made from the path as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriMode {
    /// Remove `.`/`..` and empty segments first (every service but S3).
    pub normalize_path: bool,
    /// Percent-encode the (already encoded) path once more (every service but S3).
    pub encode_path: bool,
}

impl UriMode {
    /// Every service but S3 (`execute-api`, `lambda`, ...): normalized, double-encoded.
    pub const SERVICE: UriMode = UriMode {
        normalize_path: true,
        encode_path: true,
    };
    /// S3: the path as sent, encoded once (by the client), never normalized.
    pub const S3: UriMode = UriMode {
        normalize_path: false,
        encode_path: false,
    };
}

impl Default for UriMode {
    fn default() -> Self {
        UriMode::SERVICE
    }
}
