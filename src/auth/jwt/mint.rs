//! Signing tokens: for tests, benches and `tollgate jwt` (a development token issuer),
//! never on the request path. Keys are PKCS#8 (PEM or DER); EC and Ed25519 keys can be
//! generated (ring cannot generate RSA keys: use `openssl genpkey`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use super::Algorithm;

enum Inner {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key that signs tokens with one algorithm under one `kid`.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    inner: Inner,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn ecdsa_signing(alg: Algorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

impl SigningKey {
    /// A key from PKCS#8 DER, for `alg` (RS*/PS* need an RSA key, ES256 a P-256 key,
    /// ES384 a P-384 key, EdDSA an Ed25519 key).
    pub fn from_pkcs8(alg: Algorithm, kid: &str, der: &[u8]) -> Result<SigningKey, String> {
        let rng = SystemRandom::new();
        let inner = match alg {
            Algorithm::EdDSA => Inner::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?,
            ),
            Algorithm::ES256 | Algorithm::ES384 => {
                let sa = ecdsa_signing(alg).ok_or("no ECDSA algorithm")?;
                Inner::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(sa, der, &rng)
                        .map_err(|e| format!("not a PKCS#8 key for {alg}: {e}"))?,
                )
            }
            _ => Inner::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?,
            ),
        };
        Ok(SigningKey {
            alg,
            kid: kid.to_owned(),
            inner,
            rng,
        })
    }

    /// A key from a PEM file's text (`-----BEGIN PRIVATE KEY-----`, PKCS#8).
    pub fn from_pem(alg: Algorithm, kid: &str, pem: &[u8]) -> Result<SigningKey, String> {
        let der = rustls_pemfile::private_key(&mut &pem[..])
            .map_err(|e| format!("bad PEM: {e}"))?
            .ok_or("no private key in the PEM text")?;
        match der {
            rustls::pki_types::PrivateKeyDer::Pkcs8(k) => {
                Self::from_pkcs8(alg, kid, k.secret_pkcs8_der())
            }
            _ => Err("the key is not PKCS#8 (convert it: openssl pkcs8 -topk8 -nocrypt)".into()),
        }
    }

    /// A new key for ES256, ES384 or EdDSA, and its PKCS#8 DER (to save it).
    pub fn generate(alg: Algorithm, kid: &str) -> Result<(SigningKey, Vec<u8>), String> {
        let rng = SystemRandom::new();
        let der = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| e.to_string())?
                .as_ref()
                .to_vec(),
            Algorithm::ES256 | Algorithm::ES384 => {
                let sa = ecdsa_signing(alg).ok_or("no ECDSA algorithm")?;
                EcdsaKeyPair::generate_pkcs8(sa, &rng)
                    .map_err(|e| e.to_string())?
                    .as_ref()
                    .to_vec()
            }
            _ => return Err(format!("cannot generate {alg} keys; use openssl genpkey")),
        };
        Ok((Self::from_pkcs8(alg, kid, &der)?, der))
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> Value {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let mut jwk = match &self.inner {
            Inner::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "n": b(&c.n), "e": b(&c.e)})
            }
            Inner::Ecdsa(k) => {
                let p = k.public_key().as_ref();
                let len = (p.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b(&p[1..1 + len]), "y": b(&p[1 + len..])})
            }
            Inner::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b(k.public_key().as_ref())})
            }
        };
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!(self.kid));
            o.insert("alg".into(), json!(self.alg.name()));
            o.insert("use".into(), json!("sig"));
        }
        jwk
    }

    /// The raw signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.inner {
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Ecdsa(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| e.to_string()),
            Inner::Rsa(k) => {
                let pad: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    other => return Err(format!("{other} with an RSA key")),
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(pad, &self.rng, message, &mut sig)
                    .map_err(|e| e.to_string())?;
                Ok(sig)
            }
        }
    }

    /// A compact JWS of `claims` with header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": self.alg.name(), "kid": self.kid, "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    /// A compact JWS of `claims` with any `header` (tests of refused headers).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.sign_bytes(out.as_bytes())?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(out)
    }
}

/// A JWKS document (`{"keys": [...]}`) of these keys' public halves.
pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>()}).to_string()
}
