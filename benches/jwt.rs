//! JWT authorizer (`tollgate::auth::jwt`): the cost of authorizing one request's token.
//!
//! - `jwt_verify_cold/{RS256,ES256}`: a full verification (decode, key lookup, signature,
//!   claims), what a token costs the first time a worker sees it;
//! - `jwt_authorize_warm/{RS256,ES256}`: `JwtAuthorizer::authorize` on a token already in
//!   the worker's verified-token cache (10k entries, 1k of them live): a hash lookup;
//! - `jwt_authorize_miss_insert/ES256`: a cache miss that verifies and inserts (a stream of
//!   distinct tokens through a full cache, evictions included).
//!
//! `cargo bench --bench jwt -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use tollgate::auth::jwt::mint::{jwks, SigningKey};
use tollgate::auth::jwt::{
    parse_jwks, verify, Algorithm, ClaimStyle, JwtAuthorizer, PublishedKeys, TokenCache, Validation,
};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example";
const NOW: i64 = 1_700_000_000;
const RSA_PEM: &[u8] = include_bytes!("../tests/data/jwt/rsa2048-a.pem");

fn claims(sub: u64) -> serde_json::Value {
    json!({
        "iss": ISS, "sub": format!("user-{sub}"), "client_id": "app-client",
        "token_use": "access", "scope": "orders/read orders/write",
        "auth_time": NOW - 60, "iat": NOW - 60, "exp": NOW + 3600,
        "jti": "0b7d1a3e-1111-2222-3333-444455556666", "username": "someone",
    })
}

fn keys() -> [SigningKey; 2] {
    let rsa = SigningKey::from_pem(Algorithm::RS256, "rsa", RSA_PEM).expect("rsa key");
    let ec = SigningKey::generate(Algorithm::ES256, "ec")
        .expect("ec key")
        .0;
    [rsa, ec]
}

fn bench(c: &mut Criterion) {
    let [rsa, ec] = keys();
    let (set, _) = parse_jwks(jwks(&[&rsa, &ec]).as_bytes()).expect("jwks");
    let validation = Validation::new(ISS, Some(vec!["app-client".into()]));
    let published = PublishedKeys::fixed(set.clone());

    let mut cold = c.benchmark_group("jwt_verify_cold");
    for key in [&rsa, &ec] {
        let token = key.sign(&claims(1)).expect("sign");
        assert!(verify(token.as_bytes(), &set, &validation, NOW).is_ok());
        cold.bench_function(key.alg().name(), |b| {
            b.iter(|| verify(black_box(token.as_bytes()), &set, &validation, NOW))
        });
    }
    cold.finish();

    let mut warm = c.benchmark_group("jwt_authorize_warm");
    for key in [&rsa, &ec] {
        let mut auth =
            JwtAuthorizer::new(validation.clone(), ClaimStyle::Http, published.clone(), 1);
        let mut cache = TokenCache::new(10_000);
        let tokens: Vec<String> = (0..1000)
            .map(|i| key.sign(&claims(i)).expect("sign"))
            .collect();
        for t in &tokens {
            assert!(auth.authorize(t.as_bytes(), &mut cache, NOW).is_ok());
        }
        let mut i = 0;
        warm.bench_function(key.alg().name(), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                auth.authorize(black_box(tokens[i].as_bytes()), &mut cache, NOW)
            })
        });
        assert_eq!(cache.stats().1, 1000, "every timed call was a hit");
    }
    warm.finish();

    let mut miss = c.benchmark_group("jwt_authorize_miss_insert");
    let mut auth = JwtAuthorizer::new(validation.clone(), ClaimStyle::Http, published.clone(), 1);
    let mut cache = TokenCache::new(1000);
    let tokens: Vec<String> = (0..4000)
        .map(|i| ec.sign(&claims(i)).expect("sign"))
        .collect();
    let mut i = 0;
    miss.bench_function("ES256", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            auth.authorize(black_box(tokens[i].as_bytes()), &mut cache, NOW)
        })
    });
    miss.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
