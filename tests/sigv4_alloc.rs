//! A warm verifier (buffers grown, signing key cached) verifies without a heap allocation:
//! header-signed and presigned requests, counted by a counting global allocator (one test
//! in this binary, so nothing else allocates meanwhile).

use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use tollgate::auth::sigv4::{
    payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings, Verifier,
    VerifierConfig,
};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::ALLOCS;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn warm_verify_does_not_allocate() {
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: Some("token/value+=="),
    };
    let params = SigningParams {
        credentials: creds,
        region: "us-east-1",
        service: "execute-api",
        time,
        settings: SigningSettings::default(),
    };
    let body = br#"{"name":"Rex","kind":"dog"}"#;
    let payload = payload_sha256(body);
    let base: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"abc123.execute-api.us-east-1.amazonaws.com"),
        (b"Content-Type", b"application/json"),
        (b"Accept", b"application/json,  text/plain"),
        (b"User-Agent", b"aws-sdk-rust/1.0"),
    ];
    let (method, path, query) = (
        "POST",
        "/prod/pets/%7Bid%7D/../toys",
        "limit=10&next=a%2Bb&q=x y",
    );
    let mut signer = Signer::new();
    let signed = signer.sign(
        &RequestParts::new(method, path, query, &base),
        &payload,
        &params,
    );
    let mut headers = base.clone();
    let added: Vec<(&str, &str)> = signed.headers().collect();
    for (n, v) in &added {
        headers.push((n.as_bytes(), v.as_bytes()));
    }
    let presigned = signer.presign(
        &RequestParts::new(method, path, query, &base),
        &payload,
        &params,
        900,
    );

    let cfg = VerifierConfig::execute_api("us-east-1");
    let mut verifier = Verifier::new();
    let header_req = RequestParts::new(method, path, query, &headers);
    let query_req = RequestParts::new(method, path, &presigned.query, &base);
    let mut check = |req: &RequestParts<'_, Vec<(&[u8], &[u8])>>| {
        let ok = verifier.verify(req, &payload, &cfg, time, |k| {
            (k == "AKIDEXAMPLE").then_some(creds)
        });
        assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.message()));
    };
    // Warm up: buffers grow, the key is derived.
    check(&header_req);
    check(&query_req);

    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        check(&header_req);
        check(&query_req);
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations in 200 warm verifications");

    // The counter does count (signing returns owned strings).
    let before = ALLOCS.load(Ordering::Relaxed);
    let again = signer.sign(
        &RequestParts::new(method, path, query, &base),
        &payload,
        &params,
    );
    assert_eq!(again.signature, signed.signature);
    assert!(ALLOCS.load(Ordering::Relaxed) > before);
}
