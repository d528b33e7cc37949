//! JSON Web Keys (RFC 7517, 7518, 8037): a JWKS document parsed once into [`PublicKey`]s
//! ready for ring, each knowing which algorithms it may verify.
//!
//! Usable keys: RSA (`n`, `e`; 2048 to 8192 bits, ring's bounds), EC P-256 / P-384 (`x`,
//! `y`, kept as the uncompressed SEC1 point ring takes) and OKP Ed25519 (`x`). A key is
//! skipped, with the reason kept for the logs, when it has no `kid` (API Gateway picks keys
//! by `kid` only), is not for signatures (`use` other than `sig`, `key_ops` without
//! `verify`), names an algorithm not supported, or is of another type or curve (`oct`
//! secrets, P-521, X25519, Ed448). A document that is not a JSON object with a `keys`
//! array is an error; one whose keys are all skipped is an empty, valid key set.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

use super::Algorithm;

/// The key material, in the form ring verifies with.
#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// `04 || x || y`.
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// One verification key of an issuer.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: Box<str>,
    /// The key's own `alg`, when the JWK names one: the only algorithm it verifies.
    alg: Option<Algorithm>,
    material: Material,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.material {
            Material::Rsa { n, .. } => format!("RSA-{}", n.len() * 8),
            Material::P256(_) => "EC P-256".to_owned(),
            Material::P384(_) => "EC P-384".to_owned(),
            Material::Ed25519(_) => "OKP Ed25519".to_owned(),
        };
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("type", &kind)
            .finish()
    }
}

impl PublicKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK's own `alg`, if it named one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether a token signed with `alg` may be verified with this key: the key's own
    /// `alg` when it has one, and in any case a key type that fits (RSA for RS*/PS*, the
    /// matching curve for ES256/ES384, Ed25519 for EdDSA).
    pub fn allows(&self, alg: Algorithm) -> bool {
        if self.alg.is_some_and(|own| own != alg) {
            return false;
        }
        matches!(
            (&self.material, alg),
            (
                Material::Rsa { .. },
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (Material::P256(_), Algorithm::ES256)
                | (Material::P384(_), Algorithm::ES384)
                | (Material::Ed25519(_), Algorithm::EdDSA)
        )
    }

    /// Verify `signature` over `message` with `alg`. False when the key does not allow
    /// `alg` or the signature is wrong (ring does not tell the two apart, nor need we).
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match &self.material {
            Material::Rsa { n, e } => {
                let params = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            Material::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            Material::P384(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            Material::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// The verification keys of one issuer at one moment.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
    /// Bumped (by [`super::PublishedKeys::publish`]) whenever a key set replaces one that
    /// held a key this one lacks: tokens verified under the old epoch are verified again.
    removal_epoch: u64,
}

impl KeySet {
    pub fn new(keys: Vec<PublicKey>) -> Self {
        KeySet {
            keys,
            removal_epoch: 0,
        }
    }

    /// The key with this `kid` (key sets hold a handful of keys: a linear scan).
    pub fn find(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| &*k.kid == kid)
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn removal_epoch(&self) -> u64 {
        self.removal_epoch
    }

    pub(super) fn set_removal_epoch(&mut self, epoch: u64) {
        self.removal_epoch = epoch;
    }

    /// Whether `self` holds every key of `older` (same `kid`, `alg` and material).
    pub(super) fn keeps_all_of(&self, older: &KeySet) -> bool {
        older
            .keys
            .iter()
            .all(|old| self.keys.iter().any(|k| k == old))
    }
}

/// A JWKS document that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(pub String);

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JWKS: {}", self.0)
    }
}

impl std::error::Error for JwksError {}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Parse a JWKS document: the usable keys, and for every key skipped a line saying which
/// and why (for the logs).
pub fn parse_jwks(doc: &[u8]) -> Result<(KeySet, Vec<String>), JwksError> {
    let doc: JwksDoc = serde_json::from_slice(doc)
        .map_err(|e| JwksError(format!("not a JSON object with a \"keys\" array ({e})")))?;
    let mut keys = Vec::with_capacity(doc.keys.len());
    let mut skipped = Vec::new();
    for (i, raw) in doc.keys.into_iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(j) => j,
            Err(e) => {
                skipped.push(format!("key #{i}: not a JWK ({e})"));
                continue;
            }
        };
        let name = jwk.kid.clone().unwrap_or_else(|| format!("#{i}"));
        match prepare(jwk) {
            Ok(k) => {
                if keys.iter().any(|o: &PublicKey| o.kid == k.kid) {
                    skipped.push(format!("key {name}: a second key with this kid"));
                } else {
                    keys.push(k);
                }
            }
            Err(why) => skipped.push(format!("key {name}: {why}")),
        }
    }
    Ok((KeySet::new(keys), skipped))
}

fn b64(field: &str, v: Option<&String>) -> Result<Vec<u8>, String> {
    let v = v.ok_or_else(|| format!("no `{field}`"))?;
    URL_SAFE_NO_PAD
        .decode(v)
        .map_err(|_| format!("`{field}` is not base64url"))
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let lead = v.iter().take_while(|b| **b == 0).count();
    v.drain(..lead);
    v
}

fn prepare(jwk: Jwk) -> Result<PublicKey, String> {
    let kid = jwk
        .kid
        .filter(|k| !k.is_empty())
        .ok_or("no kid (keys are chosen by kid)")?;
    if let Some(u) = &jwk.use_ {
        if u != "sig" {
            return Err(format!("\"use\": {u:?} is not \"sig\""));
        }
    }
    if let Some(ops) = &jwk.key_ops {
        if !ops.iter().any(|o| o == "verify") {
            return Err("\"key_ops\" does not allow \"verify\"".to_owned());
        }
    }
    let alg = match &jwk.alg {
        None => None,
        Some(a) => {
            Some(Algorithm::from_name(a).ok_or_else(|| format!("algorithm {a:?} not supported"))?)
        }
    };
    let kty = jwk.kty.as_deref().ok_or("no kty")?;
    let material = match kty {
        "RSA" => {
            let n = strip_zeros(b64("n", jwk.n.as_ref())?);
            let e = strip_zeros(b64("e", jwk.e.as_ref())?);
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err(format!("RSA modulus of {bits} bits (2048 to 8192 allowed)"));
            }
            if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) {
                return Err("RSA exponent is not an odd number below 2^32".to_owned());
            }
            Material::Rsa { n, e }
        }
        "EC" => {
            let (len, p384) = match jwk.crv.as_deref() {
                Some("P-256") => (32, false),
                Some("P-384") => (48, true),
                other => return Err(format!("EC curve {other:?} not supported")),
            };
            let x = b64("x", jwk.x.as_ref())?;
            let y = b64("y", jwk.y.as_ref())?;
            if x.len() != len || y.len() != len {
                return Err(format!("EC coordinates are not {len} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if p384 {
                Material::P384(point)
            } else {
                Material::P256(point)
            }
        }
        "OKP" => {
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err(format!("OKP curve {:?} not supported", jwk.crv));
            }
            let x = b64("x", jwk.x.as_ref())?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".to_owned());
            }
            Material::Ed25519(x)
        }
        other => return Err(format!("key type {other:?} not supported")),
    };
    let key = PublicKey {
        kid: kid.into(),
        alg,
        material,
    };
    if let Some(a) = alg {
        if !key.allows(a) {
            return Err(format!("algorithm {a} does not fit a {kty} key"));
        }
    }
    Ok(key)
}
