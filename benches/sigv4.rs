//! SigV4 (`tollgate::auth::sigv4`): the cost of IAM authorization per request.
//!
//! - `verify_get_header`: a typical header-signed GET to execute-api (host, accept,
//!   user-agent, x-amz-date, x-amz-security-token, authorization; a query string), warm
//!   verifier (buffers grown, signing key cached);
//! - `verify_get_presigned`: the same request as a presigned URL;
//! - `verify_get_cold_key`: the header-signed GET with an empty key cache each time (the
//!   four HMACs of the key derivation included);
//! - `sign_get`: signing that request (warm key cache; the output strings are allocated).
//!
//! `cargo bench --bench sigv4 -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::auth::sigv4::{
    Credentials, RequestParts, Signer, SigningParams, SigningSettings, Verifier, VerifierConfig,
    EMPTY_PAYLOAD_SHA256,
};

fn sigv4(c: &mut Criterion) {
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let creds = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: Some("IQoJb3JpZ2luX2VjEJv//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample"),
    };
    let params = SigningParams {
        credentials: creds,
        region: "us-east-1",
        service: "execute-api",
        time,
        settings: SigningSettings::default(),
    };
    let base: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"abc123xyz0.execute-api.us-east-1.amazonaws.com"),
        (b"Accept", b"application/json"),
        (
            b"User-Agent",
            b"aws-sdk-js/3.400.0 ua/2.0 os/linux lang/js md/nodejs#20",
        ),
    ];
    let (method, path, query) = ("GET", "/prod/pets/42", "include=toys&limit=10");
    let mut signer = Signer::new();
    let req = RequestParts::new(method, path, query, &base);
    let signed = signer.sign(&req, EMPTY_PAYLOAD_SHA256, &params);
    let added: Vec<(&str, &str)> = signed.headers().collect();
    let mut headers = base.clone();
    headers.extend(added.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let presigned = signer.presign(&req, EMPTY_PAYLOAD_SHA256, &params, 900);

    let cfg = VerifierConfig::execute_api("us-east-1");
    let lookup = |k: &str| (k == "AKIAIOSFODNN7EXAMPLE").then_some(creds);
    let header_req = RequestParts::new(method, path, query, &headers);
    let query_req = RequestParts::new(method, path, &presigned.query, &base);

    let mut group = c.benchmark_group("sigv4");
    let mut verifier = Verifier::new();
    assert!(verifier
        .verify(&header_req, EMPTY_PAYLOAD_SHA256, &cfg, time, lookup)
        .is_ok());
    assert!(verifier
        .verify(&query_req, EMPTY_PAYLOAD_SHA256, &cfg, time, lookup)
        .is_ok());
    group.bench_function("verify_get_header", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify(
                        black_box(&header_req),
                        EMPTY_PAYLOAD_SHA256,
                        &cfg,
                        time,
                        lookup,
                    )
                    .is_ok(),
            )
        })
    });
    group.bench_function("verify_get_presigned", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify(
                        black_box(&query_req),
                        EMPTY_PAYLOAD_SHA256,
                        &cfg,
                        time,
                        lookup,
                    )
                    .is_ok(),
            )
        })
    });
    group.bench_function("verify_get_cold_key", |b| {
        b.iter(|| {
            let mut cold = Verifier::with_cache_capacity(1);
            black_box(
                cold.verify(
                    black_box(&header_req),
                    EMPTY_PAYLOAD_SHA256,
                    &cfg,
                    time,
                    lookup,
                )
                .is_ok(),
            )
        })
    });
    group.bench_function("sign_get", |b| {
        b.iter(|| black_box(signer.sign(black_box(&req), EMPTY_PAYLOAD_SHA256, &params)))
    });
    group.finish();
}

criterion_group!(benches, sigv4);
criterion_main!(benches);
