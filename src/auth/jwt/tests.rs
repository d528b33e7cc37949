//! Unit tests of the JWT authorizer's pure parts: keys, verification, claims, the token
//! cache. Keys: RSA from tests/data/jwt (ring cannot generate RSA keys), EC and Ed25519
//! generated here with ring.

use std::rc::Rc;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::mint::{jwks, SigningKey};
use super::*;

const ISS: &str = "https://issuer.example/pool";
const AUD: &str = "client-1";
const NOW: i64 = 1_700_000_000;

const RSA_A: &[u8] = include_bytes!("../../../tests/data/jwt/rsa2048-a.pem");
const RSA_B: &[u8] = include_bytes!("../../../tests/data/jwt/rsa2048-b.pem");
const RSA_3072: &[u8] = include_bytes!("../../../tests/data/jwt/rsa3072.pem");

fn rsa(alg: Algorithm, kid: &str, pem: &[u8]) -> SigningKey {
    SigningKey::from_pem(alg, kid, pem).unwrap()
}

fn generated(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, kid).unwrap().0
}

fn key_for(alg: Algorithm, kid: &str) -> SigningKey {
    match alg {
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => generated(alg, kid),
        _ => rsa(alg, kid, RSA_A),
    }
}

fn keyset(keys: &[&SigningKey]) -> KeySet {
    let (set, skipped) = parse_jwks(jwks(keys).as_bytes()).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    set
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "user-1", "exp": NOW + 600, "iat": NOW - 10,
        "scope": "orders/read orders/write", "email_verified": true,
        "cognito:groups": ["admin", "editor"], "auth_time": 1_680_629_979,
    })
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

fn validation() -> Validation {
    Validation::new(ISS, Some(vec![AUD.to_owned(), "client-2".to_owned()]))
}

fn check(token: &str, keys: &KeySet, v: &Validation, now: i64) -> Result<Claims, JwtError> {
    verify(token.as_bytes(), keys, v, now)
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// A token with any header and payload text and signature bytes.
fn raw_token(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(sig)
    )
}

// ---------------------------------------------------------------------------------------
// Algorithms and keys
// ---------------------------------------------------------------------------------------

#[test]
fn every_algorithm_verifies_with_its_key() {
    for alg in Algorithm::ALL {
        let key = key_for(alg, "k1");
        let keys = keyset(&[&key]);
        let token = key.sign(&claims()).unwrap();
        let c = check(&token, &keys, &validation(), NOW).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(c.get("sub"), Some(&json!("user-1")), "{alg}");
        assert_eq!(c.expires_at(), NOW + 600);
        // One flipped signature bit: refused.
        let mut sig = URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap();
        sig[0] ^= 1;
        let (signed, _) = token.rsplit_once('.').unwrap();
        let bad = format!("{signed}.{}", b64(&sig));
        assert_eq!(
            check(&bad, &keys, &validation(), NOW),
            Err(JwtError::BadSignature),
            "{alg}"
        );
    }
    // A 3072-bit RSA key too.
    let key = rsa(Algorithm::RS256, "big", RSA_3072);
    let token = key.sign(&claims()).unwrap();
    assert!(check(&token, &keyset(&[&key]), &validation(), NOW).is_ok());
}

#[test]
fn another_key_with_the_same_kid_fails_the_signature() {
    for alg in Algorithm::ALL {
        let signer = match alg {
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => generated(alg, "k1"),
            _ => rsa(alg, "k1", RSA_B),
        };
        let published = key_for(alg, "k1");
        let token = signer.sign(&claims()).unwrap();
        assert_eq!(
            check(&token, &keyset(&[&published]), &validation(), NOW),
            Err(JwtError::BadSignature),
            "{alg}"
        );
    }
}

#[test]
fn an_algorithm_the_key_does_not_allow_is_refused() {
    let rs = rsa(Algorithm::RS256, "rsa", RSA_A);
    let ps = rsa(Algorithm::PS256, "rsa", RSA_A);
    let es256 = generated(Algorithm::ES256, "ec");
    let es384 = generated(Algorithm::ES384, "ec");
    let ed = generated(Algorithm::EdDSA, "ed");
    // The JWK says RS256: a PS256 token signed by the very same key is refused.
    let token = ps.sign(&claims()).unwrap();
    assert_eq!(
        check(&token, &keyset(&[&rs]), &validation(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    // Without `alg` in the JWK, the RSA key takes both families.
    let mut jwk = rs.public_jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    let open = parse_jwks(json!({"keys": [jwk]}).to_string().as_bytes())
        .unwrap()
        .0;
    assert!(check(&token, &open, &validation(), NOW).is_ok());
    // A P-384 token against a P-256 key with the same kid, an EdDSA token against an
    // RSA key, an RS256 header over an EC key: the key type does not fit.
    let hdr = |alg: &str, kid: &str| json!({"alg": alg, "kid": kid});
    let t = es384.sign(&claims()).unwrap();
    assert_eq!(
        check(&t, &keyset(&[&es256]), &validation(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let t = ed
        .sign_with_header(&hdr("EdDSA", "rsa"), &claims())
        .unwrap();
    assert_eq!(
        check(&t, &keyset(&[&rs]), &validation(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let mut ec_jwk = es256.public_jwk();
    ec_jwk.as_object_mut().unwrap().remove("alg");
    let ec_open = parse_jwks(json!({"keys": [ec_jwk]}).to_string().as_bytes())
        .unwrap()
        .0;
    let t = rs.sign_with_header(&hdr("RS256", "ec"), &claims()).unwrap();
    assert_eq!(
        check(&t, &ec_open, &validation(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[test]
fn alg_none_and_unknown_algorithms_are_refused() {
    let key = rsa(Algorithm::RS256, "k1", RSA_A);
    let keys = keyset(&[&key]);
    let payload = claims().to_string();
    for alg in [
        "none", "None", "NONE", "nOnE", "", "HS256", "HS384", "HS512", "ES512", "RS1", "rs256",
    ] {
        let header = json!({"alg": alg, "kid": "k1"}).to_string();
        for sig in [&b""[..], b"x"] {
            let t = raw_token(&header, &payload, sig);
            assert_eq!(
                check(&t, &keys, &validation(), NOW),
                Err(JwtError::UnsupportedAlgorithm),
                "{alg:?}"
            );
        }
    }
    // No alg at all, or not a string.
    for header in [
        json!({"kid": "k1"}),
        json!({"alg": 256, "kid": "k1"}),
        json!({"alg": null, "kid": "k1"}),
    ] {
        let t = raw_token(&header.to_string(), &payload, b"sig");
        assert!(check(&t, &keys, &validation(), NOW).is_err(), "{header}");
    }
    // An unsigned token with alg none and an empty third part.
    let t = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "k1"}).to_string().as_bytes()),
        b64(payload.as_bytes())
    );
    assert_eq!(
        check(&t, &keys, &validation(), NOW),
        Err(JwtError::UnsupportedAlgorithm)
    );
}

#[test]
fn rs256_to_hs256_confusion_with_the_public_key_as_hmac_secret_fails() {
    use ring::hmac;
    let key = rsa(Algorithm::RS256, "k1", RSA_A);
    let jwk = key.public_jwk();
    let keys = keyset(&[&key]);
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    // Every form an attacker might guess the verifier uses as "the key".
    let secrets: Vec<Vec<u8>> = vec![jwk.to_string().into_bytes(), n, jwks(&[&key]).into_bytes()];
    for secret in secrets {
        for alg in ["HS256", "RS256"] {
            let header = b64(json!({"alg": alg, "kid": "k1", "typ": "JWT"})
                .to_string()
                .as_bytes());
            let signed = format!("{header}.{}", b64(claims().to_string().as_bytes()));
            let mac = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, &secret),
                signed.as_bytes(),
            );
            let t = format!("{signed}.{}", b64(mac.as_ref()));
            let got = check(&t, &keys, &validation(), NOW);
            assert!(got.is_err(), "{alg}: accepted an HMAC token");
            let want = if alg == "HS256" {
                JwtError::UnsupportedAlgorithm
            } else {
                JwtError::BadSignature
            };
            assert_eq!(got, Err(want));
        }
    }
}

#[test]
fn kid_must_be_present_and_known() {
    let key = rsa(Algorithm::RS256, "k1", RSA_A);
    let keys = keyset(&[&key]);
    for header in [json!({"alg": "RS256"}), json!({"alg": "RS256", "kid": ""})] {
        let t = key.sign_with_header(&header, &claims()).unwrap();
        assert_eq!(
            check(&t, &keys, &validation(), NOW),
            Err(JwtError::MissingKid)
        );
    }
    let other = rsa(Algorithm::RS256, "k2", RSA_A);
    let t = other.sign(&claims()).unwrap();
    assert_eq!(
        check(&t, &keys, &validation(), NOW),
        Err(JwtError::UnknownKid)
    );
    // An empty key set (nothing fetched yet): every kid is unknown.
    assert_eq!(
        check(&t, &KeySet::default(), &validation(), NOW),
        Err(JwtError::UnknownKid)
    );
}

#[test]
fn crit_headers_are_refused_and_embedded_keys_ignored() {
    let key = rsa(Algorithm::RS256, "k1", RSA_A);
    let keys = keyset(&[&key]);
    for crit in [json!(["exp"]), json!([]), json!("b64")] {
        let h = json!({"alg": "RS256", "kid": "k1", "crit": crit, "b64": false});
        let t = key.sign_with_header(&h, &claims()).unwrap();
        assert_eq!(
            check(&t, &keys, &validation(), NOW),
            Err(JwtError::CriticalHeader)
        );
    }
    // A token carrying its own key (`jwk`, `jku`, `x5u`) is verified with the issuer's
    // key only: signed by an attacker's key under a known kid, it fails.
    let attacker = rsa(Algorithm::RS256, "k1", RSA_B);
    let h = json!({"alg": "RS256", "kid": "k1", "jwk": attacker.public_jwk(), "jku": "https://evil.example/jwks"});
    let t = attacker.sign_with_header(&h, &claims()).unwrap();
    assert_eq!(
        check(&t, &keys, &validation(), NOW),
        Err(JwtError::BadSignature)
    );
    // The same header signed by the real key passes (unknown header fields are ignored).
    let t = key.sign_with_header(&h, &claims()).unwrap();
    assert!(check(&t, &keys, &validation(), NOW).is_ok());
}

// ---------------------------------------------------------------------------------------
// Claims: iss, aud, exp, nbf, iat
// ---------------------------------------------------------------------------------------

#[test]
fn expiry_not_before_and_issued_at_edges_with_leeway() {
    let key = generated(Algorithm::ES256, "k1");
    let keys = keyset(&[&key]);
    let exp = NOW + 100;
    let t = key.sign(&with(claims(), "exp", json!(exp))).unwrap();
    let v0 = validation();
    assert!(check(&t, &keys, &v0, exp - 1).is_ok());
    assert_eq!(check(&t, &keys, &v0, exp), Err(JwtError::Expired));
    assert_eq!(check(&t, &keys, &v0, exp + 1000), Err(JwtError::Expired));
    let mut v5 = validation();
    v5.leeway_secs = 5;
    assert!(check(&t, &keys, &v5, exp + 4).is_ok());
    assert_eq!(check(&t, &keys, &v5, exp + 5), Err(JwtError::Expired));

    // nbf: valid from nbf on.
    let t = key.sign(&with(claims(), "nbf", json!(NOW + 10))).unwrap();
    assert_eq!(check(&t, &keys, &v0, NOW + 9), Err(JwtError::NotYetValid));
    assert!(check(&t, &keys, &v0, NOW + 10).is_ok());
    assert!(check(&t, &keys, &v5, NOW + 5).is_ok());
    assert_eq!(check(&t, &keys, &v5, NOW + 4), Err(JwtError::NotYetValid));

    // iat: not after now.
    let t = key.sign(&with(claims(), "iat", json!(NOW + 10))).unwrap();
    assert_eq!(
        check(&t, &keys, &v0, NOW + 9),
        Err(JwtError::IssuedInFuture)
    );
    assert!(check(&t, &keys, &v0, NOW + 10).is_ok());
    assert!(check(&t, &keys, &v5, NOW + 5).is_ok());
    assert_eq!(
        check(&t, &keys, &v5, NOW + 4),
        Err(JwtError::IssuedInFuture)
    );

    // exp is required; NumericDates may be fractional (floored) but must be numbers.
    let t = key.sign(&without(claims(), "exp")).unwrap();
    assert_eq!(check(&t, &keys, &v0, NOW), Err(JwtError::MissingExpiry));
    let t = key
        .sign(&with(claims(), "exp", json!(NOW as f64 + 0.5)))
        .unwrap();
    assert!(check(&t, &keys, &v0, NOW - 1).is_ok());
    assert_eq!(check(&t, &keys, &v0, NOW), Err(JwtError::Expired));
    for bad in [
        json!("1700000600"),
        json!(null),
        json!([NOW + 600]),
        json!(true),
    ] {
        let t = key.sign(&with(claims(), "exp", bad.clone())).unwrap();
        assert_eq!(
            check(&t, &keys, &v0, NOW),
            Err(JwtError::Malformed),
            "{bad}"
        );
        let t = key.sign(&with(claims(), "nbf", bad.clone())).unwrap();
        assert_eq!(
            check(&t, &keys, &v0, NOW),
            Err(JwtError::Malformed),
            "{bad}"
        );
    }
    // Extreme values do not overflow.
    let t = key.sign(&with(claims(), "exp", json!(i64::MAX))).unwrap();
    let mut vmax = validation();
    vmax.leeway_secs = u64::MAX;
    assert!(check(&t, &keys, &vmax, i64::MAX - 1).is_ok());
    let t = key.sign(&with(claims(), "exp", json!(1e300))).unwrap();
    assert!(check(&t, &keys, &v0, NOW).is_ok());
    let t = key.sign(&with(claims(), "exp", json!(-1e300))).unwrap();
    assert_eq!(check(&t, &keys, &v0, NOW), Err(JwtError::Expired));
}

#[test]
fn issuer_must_match_exactly() {
    let key = generated(Algorithm::EdDSA, "k1");
    let keys = keyset(&[&key]);
    for iss in [
        json!(format!("{ISS}/")),
        json!("https://issuer.example/other"),
        json!(ISS.to_uppercase()),
        json!([ISS]),
        json!(null),
    ] {
        let t = key.sign(&with(claims(), "iss", iss.clone())).unwrap();
        assert_eq!(
            check(&t, &keys, &validation(), NOW),
            Err(JwtError::BadIssuer),
            "{iss}"
        );
    }
    let t = key.sign(&without(claims(), "iss")).unwrap();
    assert_eq!(
        check(&t, &keys, &validation(), NOW),
        Err(JwtError::BadIssuer)
    );
}

#[test]
fn audience_from_aud_or_else_client_id() {
    let key = generated(Algorithm::ES384, "k1");
    let keys = keyset(&[&key]);
    let v = validation();
    let ok = |c: Value| check(&key.sign(&c).unwrap(), &keys, &v, NOW);
    assert!(ok(with(claims(), "aud", json!("client-2"))).is_ok());
    assert!(ok(with(claims(), "aud", json!(["other", "client-2"]))).is_ok());
    assert_eq!(
        ok(with(claims(), "aud", json!(["other", "third"]))),
        Err(JwtError::BadAudience)
    );
    assert_eq!(
        ok(with(claims(), "aud", json!("CLIENT-1"))),
        Err(JwtError::BadAudience)
    );
    assert_eq!(
        ok(with(claims(), "aud", json!([]))),
        Err(JwtError::BadAudience)
    );
    assert_eq!(
        ok(with(claims(), "aud", json!(42))),
        Err(JwtError::BadAudience)
    );
    // A Cognito access token: no aud, client_id.
    let access = with(without(claims(), "aud"), "client_id", json!(AUD));
    assert!(ok(access.clone()).is_ok());
    assert_eq!(
        ok(with(access.clone(), "client_id", json!("nope"))),
        Err(JwtError::BadAudience)
    );
    // With both, aud decides (API Gateway evaluates aud).
    assert_eq!(
        ok(with(access.clone(), "aud", json!("nope"))),
        Err(JwtError::BadAudience)
    );
    assert!(ok(with(
        with(claims(), "client_id", json!("nope")),
        "aud",
        json!(AUD)
    ))
    .is_ok());
    // Neither.
    assert_eq!(ok(without(claims(), "aud")), Err(JwtError::BadAudience));
    // No audience configured (REST's Cognito authorizer): not checked.
    let any = Validation::new(ISS, None);
    let t = key.sign(&without(claims(), "aud")).unwrap();
    assert!(check(&t, &keys, &any, NOW).is_ok());
}

#[test]
fn signature_is_checked_before_the_claims() {
    // A forged token (wrong key) with an expired exp and a wrong issuer reports the
    // signature, as API Gateway checks the signature first.
    let key = rsa(Algorithm::RS256, "k1", RSA_A);
    let forger = rsa(Algorithm::RS256, "k1", RSA_B);
    let c = with(with(claims(), "exp", json!(NOW - 100)), "iss", json!("x"));
    let t = forger.sign(&c).unwrap();
    assert_eq!(
        check(&t, &keyset(&[&key]), &validation(), NOW),
        Err(JwtError::BadSignature)
    );
    // A payload swapped in from another token: the signature no longer covers it.
    let good = key.sign(&claims()).unwrap();
    let other = key.sign(&with(claims(), "sub", json!("admin"))).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(
        check(&spliced, &keyset(&[&key]), &validation(), NOW),
        Err(JwtError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------
// Malformed tokens: refused, never a panic
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_tokens_of_every_shape_are_refused() {
    let key = generated(Algorithm::ES256, "k1");
    let keys = keyset(&[&key]);
    let v = validation();
    let good = key.sign(&claims()).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let hdr = |j: &str| b64(j.as_bytes());
    let shapes: Vec<String> = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "abc".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"), // JWE shape
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}.{s}!"),
        format!("{h}+.{p}.{s}"),
        format!("{h}/.{p}.{s}"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{}", &s[..s.len() - 1]),
        format!("{h}.{p}.{}A", s),
        format!("{h}.{p}."),
        format!("{}.{p}.{s}", hdr("not json")),
        format!("{}.{p}.{s}", hdr("[1,2]")),
        format!("{}.{p}.{s}", hdr("\"RS256\"")),
        format!("{}.{p}.{s}", hdr("{\"alg\":\"ES256\",\"kid\":\"k1\"")),
        format!("{}.{p}.{s}", hdr("{\"alg\":\"ES256\",\"kid\":7}")),
        format!("{h}.{}.{s}", hdr("not json")),
        format!("{h}.{}.{s}", hdr("[]")),
        format!("{h}.{}.{s}", hdr("null")),
        format!("{h}.{}.{s}", hdr("\u{0}")),
        format!("{h}.{}.{s}", b64(&[0xff, 0xfe, 0xfd])),
        format!("{h}.{p}.{}", b64(&[0u8; 63])),
        format!("{h}.{p}.{}", b64(&[0u8; 65])),
        format!("{h}.{p}.{}", b64(&[0u8; 64])),
        format!(
            "{}.{p}.{s}",
            hdr(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))
        ),
        format!(
            "{h}.{}.{s}",
            hdr(&format!(
                "{{\"a\":{}1{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ))
        ),
        "\u{feff}".to_owned() + &good,
        good.replace('.', ".."),
    ];
    for t in &shapes {
        assert!(check(t, &keys, &v, NOW).is_err(), "accepted {t:?}");
    }
    // Non-UTF-8 bytes.
    for t in [&b"\xff\xfe.\x00.\x80"[..], b"\xc3\x28.a.b", &[0u8; 100]] {
        assert!(verify(t, &keys, &v, NOW).is_err());
    }
    // Every single-character change, and every truncation, of a good token is refused
    // (base64url decoding is strict, so a changed character changes the bytes).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let bytes = good.as_bytes();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..bytes.len() {
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let c = alphabet[(seed % alphabet.len() as u64) as usize];
            if c == bytes[i] {
                continue;
            }
            let mut m = bytes.to_vec();
            m[i] = c;
            assert!(
                verify(&m, &keys, &v, NOW).is_err(),
                "accepted a change at {i}"
            );
        }
        assert!(
            verify(&bytes[..i], &keys, &v, NOW).is_err(),
            "accepted a prefix of {i}"
        );
    }
    assert!(verify(bytes, &keys, &v, NOW).is_ok());
}

// ---------------------------------------------------------------------------------------
// JWKS parsing
// ---------------------------------------------------------------------------------------

#[test]
fn jwks_parsing_keeps_usable_keys_and_says_why_others_were_skipped() {
    let rs = rsa(Algorithm::RS256, "rsa", RSA_A);
    let ec = generated(Algorithm::ES256, "ec");
    let ed = generated(Algorithm::EdDSA, "ed");
    let ec384 = generated(Algorithm::ES384, "ec384");
    let mut no_kid = rs.public_jwk();
    no_kid.as_object_mut().unwrap().remove("kid");
    let enc = with(
        with(rs.public_jwk(), "use", json!("enc")),
        "kid",
        json!("enc"),
    );
    let sign_only = with(
        with(ec.public_jwk(), "key_ops", json!(["sign"])),
        "kid",
        json!("ops"),
    );
    let verify_ok = with(
        with(ed.public_jwk(), "key_ops", json!(["verify"])),
        "kid",
        json!("ops-ok"),
    );
    let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
    let p521 = json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"});
    let x25519 = json!({"kty": "OKP", "kid": "x", "crv": "X25519", "x": b64(&[1; 32])});
    let small_rsa = json!({"kty": "RSA", "kid": "small", "n": b64(&[0xc1; 128]), "e": "AQAB"});
    let even_e = with(
        with(rs.public_jwk(), "e", json!(b64(&[1, 0, 0]))),
        "kid",
        json!("even"),
    );
    let short_x = with(
        with(ec.public_jwk(), "x", json!(b64(&[1; 31]))),
        "kid",
        json!("short"),
    );
    let bad_b64 = with(
        with(ec.public_jwk(), "y", json!("***")),
        "kid",
        json!("b64"),
    );
    let wrong_alg = with(
        with(rs.public_jwk(), "alg", json!("ES256")),
        "kid",
        json!("mismatch"),
    );
    let hs_alg = with(
        with(rs.public_jwk(), "alg", json!("HS256")),
        "kid",
        json!("hs"),
    );
    let dup = with(ec.public_jwk(), "kid", json!("rsa"));
    let doc = json!({"keys": [
        rs.public_jwk(), ec.public_jwk(), ed.public_jwk(), ec384.public_jwk(), verify_ok,
        no_kid, enc, sign_only, oct, p521, x25519, small_rsa, even_e, short_x, bad_b64,
        wrong_alg, hs_alg, dup, "not an object", {"kid": "no-kty"},
    ]});
    let (set, skipped) = parse_jwks(doc.to_string().as_bytes()).unwrap();
    let kids: Vec<&str> = set.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(kids, ["rsa", "ec", "ed", "ec384", "ops-ok"]);
    assert_eq!(skipped.len(), 15, "{skipped:#?}");
    let text = skipped.join("\n");
    for why in [
        "no kid",
        "\"enc\"",
        "key_ops",
        "\"oct\"",
        "P-521",
        "X25519",
        "1024 bits",
        "exponent",
        "32 bytes",
        "base64url",
        "does not fit",
        "\"HS256\" not supported",
        "second key",
        "no kty",
    ] {
        assert!(text.contains(why), "{why}: {text}");
    }
    assert_eq!(
        set.find("ec").and_then(PublicKey::alg),
        Some(Algorithm::ES256)
    );
    // An RSA modulus with a leading zero byte (allowed by lenient encoders) still works.
    let mut padded = rs.public_jwk();
    let n = URL_SAFE_NO_PAD
        .decode(padded["n"].as_str().unwrap())
        .unwrap();
    padded["n"] = json!(b64(&[&[0u8][..], &n].concat()));
    let set = parse_jwks(json!({"keys": [padded]}).to_string().as_bytes())
        .unwrap()
        .0;
    assert!(check(&rs.sign(&claims()).unwrap(), &set, &validation(), NOW).is_ok());
    // Not a JWKS at all.
    for bad in [
        "",
        "[]",
        "{}",
        "{\"keys\": {}}",
        "{\"keys\": null}",
        "not json",
    ] {
        assert!(parse_jwks(bad.as_bytes()).is_err(), "{bad}");
    }
    // An empty key list is a valid, empty set.
    assert!(parse_jwks(b"{\"keys\": []}").unwrap().0.is_empty());
}

// ---------------------------------------------------------------------------------------
// Claims rendering and scopes
// ---------------------------------------------------------------------------------------

#[test]
fn claims_render_as_api_gateway_does() {
    let key = generated(Algorithm::ES256, "k1");
    let c = claims();
    let c = with(c, "nested", json!({"a": [1, "b"]}));
    let c = with(c, "nothing", json!(null));
    let c = with(c, "ratio", json!(0.5));
    let c = with(c, "exp", json!(1_680_633_579));
    let c = with(c, "iat", json!(1_680_629_979));
    let t = key.sign(&c).unwrap();
    let got = check(&t, &keyset(&[&key]), &validation(), 1_680_633_000).unwrap();
    let http = |n: &str| got.rendered(n, ClaimStyle::Http);
    let rest = |n: &str| got.rendered(n, ClaimStyle::Rest);
    assert_eq!(http("sub").as_deref(), Some("user-1"));
    assert_eq!(http("exp").as_deref(), Some("1680633579"));
    assert_eq!(http("email_verified").as_deref(), Some("true"));
    assert_eq!(http("cognito:groups").as_deref(), Some("[admin editor]"));
    assert_eq!(http("nested").as_deref(), Some("{\"a\":[1,\"b\"]}"));
    assert_eq!(http("nothing").as_deref(), Some("null"));
    assert_eq!(http("ratio").as_deref(), Some("0.5"));
    assert_eq!(http("absent"), None);
    assert_eq!(rest("sub").as_deref(), Some("user-1"));
    // REST's Cognito authorizer: exp and iat as dates, other numbers as they are.
    assert_eq!(rest("exp").as_deref(), Some("Tue Apr 04 18:39:39 UTC 2023"));
    assert_eq!(rest("auth_time").as_deref(), Some("1680629979"));
    assert_eq!(rest("cognito:groups").as_deref(), Some("admin,editor"));
    assert_eq!(rest("email_verified").as_deref(), Some("true"));
    let mut out = String::from("x=");
    assert!(got.render("sub", ClaimStyle::Rest, &mut out));
    assert_eq!(out, "x=user-1");
    assert!(!got.render("absent", ClaimStyle::Rest, &mut out));
    let map = got.rendered_map(ClaimStyle::Http);
    assert_eq!(map.get("cognito:groups"), Some(&json!("[admin editor]")));
    assert!(map.values().all(Value::is_string));
    // The date of day 0 and a leap day.
    let t = key
        .sign(&with(claims(), "iat", json!(951_782_400)))
        .unwrap();
    let got = check(&t, &keyset(&[&key]), &validation(), NOW).unwrap();
    assert_eq!(
        got.rendered("iat", ClaimStyle::Rest).as_deref(),
        Some("Tue Feb 29 00:00:00 UTC 2000")
    );
}

#[test]
fn scopes_from_scope_and_scp() {
    let key = generated(Algorithm::ES256, "k1");
    let keys = keyset(&[&key]);
    let get = |c: Value| check(&key.sign(&c).unwrap(), &keys, &validation(), NOW).unwrap();
    let c = get(claims());
    assert_eq!(c.scopes(), ["orders/read", "orders/write"]);
    assert!(c.has_any_scope(&["x", "orders/write"]));
    assert!(!c.has_any_scope(&["orders", "orders/read/x"]));
    assert!(c.has_any_scope::<&str>(&[]));
    let c = get(with(
        without(claims(), "scope"),
        "scp",
        json!(["a", "b", 3]),
    ));
    assert_eq!(c.scopes(), ["a", "b"]);
    let c = get(with(without(claims(), "scope"), "scp", json!("a  b\tc")));
    assert_eq!(c.scopes().len(), 3);
    let c = get(with(claims(), "scp", json!(["orders/read", "z"])));
    assert_eq!(c.scopes().len(), 3);
    let c = get(with(
        without(claims(), "scope"),
        "scope",
        json!(["not", "a string"]),
    ));
    assert!(c.scopes().is_empty());
    assert!(!c.has_any_scope(&["not"]));
}

// ---------------------------------------------------------------------------------------
// Errors, identity source
// ---------------------------------------------------------------------------------------

#[test]
fn www_authenticate_texts() {
    assert_eq!(
        JwtError::BadAudience.www_authenticate(&[]),
        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"the token does not have a valid audience\""
    );
    assert_eq!(
        JwtError::Expired.www_authenticate(&[]),
        "Bearer scope=\"\" error=\"invalid_token\" error_description=\"the token has expired\""
    );
    assert_eq!(
        JwtError::InsufficientScope.www_authenticate(&["orders/read", "a\"b"]),
        "Bearer scope=\"orders/read ab\" error=\"insufficient_scope\" error_description=\"the token does not have the required scope\""
    );
    assert_eq!(
        JwtError::Missing.www_authenticate(&["s"]),
        "Bearer scope=\"s\""
    );
    assert_eq!(JwtError::InsufficientScope.status(), 403);
    for e in [
        JwtError::Missing,
        JwtError::Malformed,
        JwtError::UnknownKid,
        JwtError::Expired,
    ] {
        assert_eq!(e.status(), 401);
        let h = e.www_authenticate(&[]);
        assert!(h.bytes().all(|b| (0x20..0x7f).contains(&b)), "{h}");
    }
}

#[test]
fn bearer_prefix_is_optional() {
    assert_eq!(
        bearer_token(b"Bearer abc.def.ghi"),
        Some(&b"abc.def.ghi"[..])
    );
    assert_eq!(bearer_token(b"bearer   abc "), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"BEARER\tabc"), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"abc.def.ghi"), Some(&b"abc.def.ghi"[..]));
    assert_eq!(bearer_token(b"Bearerabc"), Some(&b"Bearerabc"[..]));
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bearer"), None);
    assert_eq!(bearer_token(b"   "), None);
    assert_eq!(bearer_token(b""), None);
}

// ---------------------------------------------------------------------------------------
// The token cache and key rotation
// ---------------------------------------------------------------------------------------

#[test]
fn token_cache_hits_expire_and_stay_bounded() {
    let key = generated(Algorithm::ES256, "k1");
    let keys = keyset(&[&key]);
    let t = key.sign(&claims()).unwrap();
    let c = Rc::new(check(&t, &keys, &validation(), NOW).unwrap());
    let mut cache = TokenCache::new(16);
    assert!(cache.get(1, t.as_bytes(), 0, NOW).is_none());
    cache.insert(1, t.as_bytes(), 0, Rc::clone(&c), NOW + 600, NOW);
    assert_eq!(
        cache.get(1, t.as_bytes(), 0, NOW + 599).as_deref(),
        Some(&*c)
    );
    // Another tag (authorizer), another epoch, a changed byte: misses.
    assert!(cache.get(2, t.as_bytes(), 0, NOW).is_none());
    let mut other = t.clone().into_bytes();
    let last = other.len() - 1;
    other[last] ^= 1;
    assert!(cache.get(1, &other, 0, NOW).is_none());
    assert!(cache.get(1, t.as_bytes(), 1, NOW).is_none());
    // The epoch miss dropped the entry.
    assert!(cache.get(1, t.as_bytes(), 0, NOW).is_none());
    cache.insert(1, t.as_bytes(), 0, Rc::clone(&c), NOW + 600, NOW);
    assert!(
        cache.get(1, t.as_bytes(), 0, NOW + 600).is_none(),
        "expired at until"
    );
    assert!(cache.is_empty());
    // Already expired: not stored.
    cache.insert(1, t.as_bytes(), 0, Rc::clone(&c), NOW, NOW);
    assert!(cache.is_empty());
    // Bounded: expired entries go first, then arbitrary ones; never above capacity.
    for i in 0..16u64 {
        cache.insert(
            i,
            t.as_bytes(),
            0,
            Rc::clone(&c),
            NOW + 10 + (i % 2) as i64 * 1000,
            NOW,
        );
    }
    assert_eq!(cache.len(), 16);
    cache.insert(100, t.as_bytes(), 0, Rc::clone(&c), NOW + 5000, NOW + 100);
    assert_eq!(cache.len(), 9, "the 8 expired ones swept");
    for i in 0..16u64 {
        if i % 2 == 1 {
            assert!(cache.get(i, t.as_bytes(), 0, NOW + 100).is_some(), "{i}");
        }
    }
    for i in 200..1000u64 {
        cache.insert(i, t.as_bytes(), 0, Rc::clone(&c), NOW + 5000, NOW + 100);
        assert!(cache.len() <= 16);
    }
    assert!(
        cache.get(999, t.as_bytes(), 0, NOW + 100).is_some(),
        "the newest stays"
    );
    let (hits, misses) = cache.stats();
    assert!(hits >= 9 && misses >= 5, "{hits} {misses}");
}

#[test]
fn authorizer_caches_and_follows_key_rotation() {
    let a = rsa(Algorithm::RS256, "a", RSA_A);
    let b = rsa(Algorithm::RS256, "b", RSA_B);
    let published = PublishedKeys::fixed(keyset(&[&a]));
    assert_eq!(published.generation(), 1);
    let mut auth = JwtAuthorizer::new(validation(), ClaimStyle::Http, Arc::clone(&published), 7);
    let mut cache = TokenCache::new(100);
    let ta = a.sign(&claims()).unwrap();
    let tb = b.sign(&claims()).unwrap();

    assert!(auth.authorize(ta.as_bytes(), &mut cache, NOW).is_ok());
    assert!(auth.authorize(ta.as_bytes(), &mut cache, NOW + 1).is_ok());
    assert_eq!(cache.stats(), (1, 1), "the second call was a hit");
    assert_eq!(
        auth.authorize(tb.as_bytes(), &mut cache, NOW),
        Err(JwtError::UnknownKid)
    );

    // The issuer adds b: the cached a-token stays cached (no key removed), b verifies.
    assert!(published.publish(keyset(&[&a, &b])));
    assert_eq!(published.load().removal_epoch(), 0);
    assert!(auth.authorize(tb.as_bytes(), &mut cache, NOW).is_ok());
    assert!(auth.authorize(ta.as_bytes(), &mut cache, NOW).is_ok());
    assert_eq!(cache.stats().0, 2, "a was still a hit");
    // The same set again publishes nothing.
    assert!(!published.publish(keyset(&[&b, &a])));
    assert_eq!(published.generation(), 2);

    // The issuer drops a: its cached token is verified again, and refused.
    assert!(published.publish(keyset(&[&b])));
    assert_eq!(published.load().removal_epoch(), 1);
    assert_eq!(
        auth.authorize(ta.as_bytes(), &mut cache, NOW),
        Err(JwtError::UnknownKid)
    );
    assert!(auth.authorize(tb.as_bytes(), &mut cache, NOW).is_ok());
    // Expired tokens are not served from the cache.
    assert_eq!(
        auth.authorize(tb.as_bytes(), &mut cache, NOW + 600),
        Err(JwtError::Expired)
    );
    // A key replaced under the same kid counts as removed.
    let a_again = rsa(Algorithm::RS256, "b", RSA_A);
    assert!(published.publish(keyset(&[&a_again])));
    assert_eq!(published.load().removal_epoch(), 2);
    assert_eq!(
        auth.authorize(tb.as_bytes(), &mut cache, NOW),
        Err(JwtError::BadSignature)
    );
}
