//! The signer: header signing (`Authorization`) and presigning (query string).

use std::time::SystemTime;

use ring::{digest, hmac};

use super::canonical::{hex32, uri_encode, write_canonical_path, write_header_value, QueryCanon};
use super::date::{format_amz_date, unix_secs};
use super::{Credentials, Headers, RequestParts, SigningKeyCache, UriMode, ALGORITHM};

/// Headers never signed: computed by the signing itself or changed on the way (the same
/// set as the AWS SDK for Rust's signer).
const NEVER_SIGNED: [&[u8]; 4] = [
    b"authorization",
    b"user-agent",
    b"x-amzn-trace-id",
    b"transfer-encoding",
];

/// How to sign, beyond who, where and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningSettings {
    /// How the path becomes the canonical URI ([`UriMode::SERVICE`] or [`UriMode::S3`]).
    pub uri: UriMode,
    /// Send (and sign) `x-amz-content-sha256` with the payload hash (S3 wants it; header
    /// signing only).
    pub content_sha256_header: bool,
    /// Sign the session token (`x-amz-security-token`); when false it is added to the
    /// request after signing (a few services want that).
    pub session_token_signed: bool,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            uri: UriMode::SERVICE,
            content_sha256_header: false,
            session_token_signed: true,
        }
    }
}

impl SigningSettings {
    /// S3's rules: the path as sent, `x-amz-content-sha256` sent.
    pub fn s3() -> Self {
        SigningSettings {
            uri: UriMode::S3,
            content_sha256_header: true,
            session_token_signed: true,
        }
    }
}

/// Who signs, for which region and service, at what time.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub credentials: Credentials<'a>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    pub settings: SigningSettings,
}

/// A header-signed request: what to add to it, and the intermediate strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    /// Lower-case hex HMAC.
    pub signature: String,
    /// `host;x-amz-date;...`
    pub signed_headers: String,
    /// The `Authorization` header value.
    pub authorization: String,
    /// The `x-amz-date` header value (`YYYYMMDDTHHMMSSZ`).
    pub x_amz_date: String,
    /// The `x-amz-security-token` header value, with temporary credentials.
    pub x_amz_security_token: Option<String>,
    /// The `x-amz-content-sha256` header value, when the settings ask for it.
    pub x_amz_content_sha256: Option<String>,
}

impl Signed {
    /// The headers to set on the request (replacing any of the same name).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            Some(("x-amz-date", self.x_amz_date.as_str())),
            self.x_amz_security_token
                .as_deref()
                .map(|t| ("x-amz-security-token", t)),
            self.x_amz_content_sha256
                .as_deref()
                .map(|h| ("x-amz-content-sha256", h)),
            Some(("authorization", self.authorization.as_str())),
        ]
        .into_iter()
        .flatten()
    }
}

/// A presigned request: the query string to send instead of the original one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub signed_headers: String,
    /// The original query as sent, then `X-Amz-Algorithm`, `X-Amz-Credential`,
    /// `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Expires`, `X-Amz-Security-Token` (with
    /// temporary credentials) and `X-Amz-Signature`.
    pub query: String,
}

/// A signer with reused buffers and its own [`SigningKeyCache`] (one per worker).
#[derive(Debug, Default)]
pub struct Signer {
    keys: SigningKeyCache,
    creq: Vec<u8>,
    query: QueryCanon,
    segs: Vec<(usize, usize)>,
}

struct Core {
    canonical_request: String,
    string_to_sign: String,
    signature: String,
    signed_headers: String,
    amz_date: String,
    scope: String,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Signer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A signer whose key cache holds at most `capacity` keys.
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Signer {
            keys: SigningKeyCache::new(capacity),
            ..Self::default()
        }
    }

    pub fn key_cache(&self) -> &SigningKeyCache {
        &self.keys
    }

    /// Sign `req` in the `Authorization` header. `payload_hash` is the lower-case hex
    /// SHA-256 of the body (or [`UNSIGNED_PAYLOAD`](super::UNSIGNED_PAYLOAD)). Every header
    /// of `req` is signed (it must include `host`) except `authorization`, `user-agent`,
    /// `x-amzn-trace-id` and `transfer-encoding`; `x-amz-date` (and the token and content
    /// hash headers, when used) are replaced by the signer's.
    pub fn sign<'a, H: Headers<'a> + ?Sized>(
        &mut self,
        req: &RequestParts<'a, H>,
        payload_hash: &str,
        params: &SigningParams<'_>,
    ) -> Signed {
        let core = self.core(req, payload_hash, params, None);
        let authorization = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
            params.credentials.access_key_id, core.scope, core.signed_headers, core.signature
        );
        Signed {
            authorization,
            x_amz_security_token: params.credentials.session_token.map(str::to_owned),
            x_amz_content_sha256: params
                .settings
                .content_sha256_header
                .then(|| payload_hash.to_owned()),
            canonical_request: core.canonical_request,
            string_to_sign: core.string_to_sign,
            signature: core.signature,
            signed_headers: core.signed_headers,
            x_amz_date: core.amz_date,
        }
    }

    /// Presign `req` for `expires_secs` seconds (AWS accepts at most 604800, 7 days):
    /// the signature goes in the query string. Headers are signed as by [`Signer::sign`]
    /// (except `x-amz-user-agent` and `x-amz-checksum-mode`); the client must send them.
    pub fn presign<'a, H: Headers<'a> + ?Sized>(
        &mut self,
        req: &RequestParts<'a, H>,
        payload_hash: &str,
        params: &SigningParams<'_>,
        expires_secs: u64,
    ) -> Presigned {
        let core = self.core(req, payload_hash, params, Some(expires_secs));
        let mut q: Vec<u8> = Vec::with_capacity(req.query.len() + 300);
        q.extend_from_slice(req.query);
        if !q.is_empty() {
            q.push(b'&');
        }
        let credential = format!("{}/{}", params.credentials.access_key_id, core.scope);
        q.extend_from_slice(b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
        uri_encode(&mut q, credential.as_bytes(), false);
        q.extend_from_slice(b"&X-Amz-Date=");
        q.extend_from_slice(core.amz_date.as_bytes());
        q.extend_from_slice(b"&X-Amz-SignedHeaders=");
        uri_encode(&mut q, core.signed_headers.as_bytes(), false);
        q.extend_from_slice(format!("&X-Amz-Expires={expires_secs}").as_bytes());
        if let Some(token) = params.credentials.session_token {
            q.extend_from_slice(b"&X-Amz-Security-Token=");
            uri_encode(&mut q, token.as_bytes(), false);
        }
        q.extend_from_slice(b"&X-Amz-Signature=");
        q.extend_from_slice(core.signature.as_bytes());
        Presigned {
            canonical_request: core.canonical_request,
            string_to_sign: core.string_to_sign,
            signature: core.signature,
            signed_headers: core.signed_headers,
            query: lossy(&q),
        }
    }

    fn core<'a, H: Headers<'a> + ?Sized>(
        &mut self,
        req: &RequestParts<'a, H>,
        payload_hash: &str,
        params: &SigningParams<'_>,
        presign: Option<u64>,
    ) -> Core {
        let creds = &params.credentials;
        let settings = &params.settings;
        let amz_date = format_amz_date(unix_secs(params.time));
        let mut date8 = [0u8; 8];
        date8.copy_from_slice(&amz_date[..8]);
        let amz_date = lossy(&amz_date);
        let scope = format!(
            "{}/{}/{}/aws4_request",
            &amz_date[..8],
            params.region,
            params.service
        );
        let token_signed = creds.session_token.is_some() && settings.session_token_signed;

        // The headers to sign: (lower-case name, value), sorted by name, stable.
        let mut list: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (n, v) in req.headers.each() {
            let name = n.to_ascii_lowercase();
            let replaced = match name.as_slice() {
                b"x-amz-date" => presign.is_none(),
                b"x-amz-security-token" => {
                    (presign.is_none() && creds.session_token.is_some())
                        || !settings.session_token_signed
                }
                b"x-amz-content-sha256" => presign.is_none() && settings.content_sha256_header,
                b"x-amz-user-agent" | b"x-amz-checksum-mode" => presign.is_some(),
                _ => false,
            };
            if replaced || NEVER_SIGNED.contains(&name.as_slice()) {
                continue;
            }
            list.push((name, v.to_vec()));
        }
        if presign.is_none() {
            list.push((b"x-amz-date".to_vec(), amz_date.as_bytes().to_vec()));
            if let (Some(token), true) = (creds.session_token, token_signed) {
                list.push((b"x-amz-security-token".to_vec(), token.as_bytes().to_vec()));
            }
            if settings.content_sha256_header {
                list.push((
                    b"x-amz-content-sha256".to_vec(),
                    payload_hash.as_bytes().to_vec(),
                ));
            }
        }
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut signed_headers: Vec<u8> = Vec::new();
        for (i, (name, _)) in list.iter().enumerate() {
            if i == 0 || list[i - 1].0 != *name {
                if !signed_headers.is_empty() {
                    signed_headers.push(b';');
                }
                signed_headers.extend_from_slice(name);
            }
        }

        let creq = &mut self.creq;
        creq.clear();
        creq.extend_from_slice(req.method.as_bytes());
        creq.push(b'\n');
        write_canonical_path(creq, req.path, settings.uri, &mut self.segs);
        creq.push(b'\n');
        self.query.clear();
        self.query.add_raw(req.query, |_| true);
        if let Some(expires) = presign {
            let credential = format!("{}/{scope}", creds.access_key_id);
            self.query.add(b"X-Amz-Algorithm", ALGORITHM.as_bytes());
            self.query.add(b"X-Amz-Credential", credential.as_bytes());
            self.query.add(b"X-Amz-Date", amz_date.as_bytes());
            self.query
                .add(b"X-Amz-Expires", expires.to_string().as_bytes());
            self.query.add(b"X-Amz-SignedHeaders", &signed_headers);
            if let (Some(token), true) = (creds.session_token, token_signed) {
                self.query.add(b"X-Amz-Security-Token", token.as_bytes());
            }
        }
        self.query.write(creq);
        creq.push(b'\n');
        for (i, (name, value)) in list.iter().enumerate() {
            let continues = i > 0 && list[i - 1].0 == *name;
            if continues {
                creq.push(b',');
            } else {
                if i > 0 {
                    creq.push(b'\n');
                }
                creq.extend_from_slice(name);
                creq.push(b':');
            }
            write_header_value(creq, value);
        }
        if !list.is_empty() {
            creq.push(b'\n');
        }
        creq.push(b'\n');
        creq.extend_from_slice(&signed_headers);
        creq.push(b'\n');
        creq.extend_from_slice(payload_hash.as_bytes());

        let creq_hash = hex32(digest::digest(&digest::SHA256, creq).as_ref());
        let mut sts = Vec::with_capacity(128);
        sts.extend_from_slice(ALGORITHM.as_bytes());
        sts.push(b'\n');
        sts.extend_from_slice(amz_date.as_bytes());
        sts.push(b'\n');
        sts.extend_from_slice(scope.as_bytes());
        sts.push(b'\n');
        sts.extend_from_slice(&creq_hash);
        let key = self.keys.get(
            creds.secret_access_key,
            &date8,
            params.region,
            params.service,
        );
        let signature = hex32(hmac::sign(key, &sts).as_ref());
        Core {
            canonical_request: lossy(creq),
            string_to_sign: lossy(&sts),
            signature: lossy(&signature),
            signed_headers: lossy(&signed_headers),
            amz_date,
            scope,
        }
    }
}

/// Sign `req` once (a fresh key derivation; keep a [`Signer`] to reuse keys).
pub fn sign<'a, H: Headers<'a> + ?Sized>(
    req: &RequestParts<'a, H>,
    payload_hash: &str,
    params: &SigningParams<'_>,
) -> Signed {
    Signer::with_cache_capacity(1).sign(req, payload_hash, params)
}

/// Presign `req` once (see [`Signer::presign`]).
pub fn presign<'a, H: Headers<'a> + ?Sized>(
    req: &RequestParts<'a, H>,
    payload_hash: &str,
    params: &SigningParams<'_>,
    expires_secs: u64,
) -> Presigned {
    Signer::with_cache_capacity(1).presign(req, payload_hash, params, expires_secs)
}
