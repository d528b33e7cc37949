//! The verifier's checks and answers, over requests made by the signer (whose output the
//! conformance suite, tests/sigv4_conformance.rs, pins to AWS's vectors).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session/token+value==";
const REGION: &str = "us-east-1";
/// 2015-08-30T12:36:00Z
const T: u64 = 1_440_938_160;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn creds(token: Option<&'static str>) -> Credentials<'static> {
    Credentials {
        access_key_id: AKID,
        secret_access_key: SECRET,
        session_token: token,
    }
}

/// A request: method, path, query, headers (owned), body hash.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    payload: String,
}

impl Req {
    fn get(path: &str, query: &str) -> Req {
        Req {
            method: "GET",
            path: path.to_owned(),
            query: query.to_owned(),
            headers: vec![
                (
                    "Host".to_owned(),
                    "abc123.execute-api.us-east-1.amazonaws.com".to_owned(),
                ),
                ("Accept".to_owned(), "application/json".to_owned()),
            ],
            payload: EMPTY_PAYLOAD_SHA256.to_owned(),
        }
    }

    fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect()
    }

    fn with(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Header-signed by `c` for `service` at `time`.
    fn signed(self, c: Credentials<'static>, service: &str, time: SystemTime) -> Req {
        let pairs = self.pairs();
        let parts = RequestParts::new(self.method, &self.path, &self.query, &pairs);
        let params = SigningParams {
            credentials: c,
            region: REGION,
            service,
            time,
            settings: SigningSettings::default(),
        };
        let s = sign(&parts, &self.payload, &params);
        let mut out = self.clone();
        for (n, v) in s.headers() {
            out = out.with(n, v);
        }
        out
    }

    /// Presigned by `c` for `expires` seconds at `time`.
    fn presigned(self, c: Credentials<'static>, time: SystemTime, expires: u64) -> Req {
        let pairs = self.pairs();
        let parts = RequestParts::new(self.method, &self.path, &self.query, &pairs);
        let params = SigningParams {
            credentials: c,
            region: REGION,
            service: "execute-api",
            time,
            settings: SigningSettings::default(),
        };
        let p = presign(&parts, &self.payload, &params, expires);
        Req {
            query: p.query,
            ..self.clone()
        }
    }

    fn verify_with(
        &self,
        v: &mut Verifier,
        cfg: &VerifierConfig,
        now: SystemTime,
        principal: Option<Credentials<'static>>,
    ) -> Result<Verified<'static>, VerifyError> {
        let pairs = self.pairs();
        let parts = RequestParts::new(self.method, &self.path, &self.query, &pairs);
        v.verify(&parts, &self.payload, cfg, now, |akid| {
            principal.filter(|p| p.access_key_id == akid)
        })
    }

    fn verify(&self, now: SystemTime) -> Result<Verified<'static>, VerifyError> {
        self.verify_with(
            &mut Verifier::new(),
            &VerifierConfig::execute_api(REGION),
            now,
            Some(creds(None)),
        )
    }
}

fn message(r: Result<Verified<'_>, VerifyError>) -> String {
    r.expect_err("refused").message()
}

#[test]
fn a_signed_request_verifies_and_names_its_principal() {
    let req = Req::get("/prod/pets/%7Bid%7D", "b=2&a=1").signed(creds(None), "execute-api", at(T));
    let ok = req.verify(at(T)).expect("verified");
    assert_eq!(ok.access_key_id, AKID);
    assert_eq!(ok.session_token, None);
    assert!(!ok.presigned && !ok.unsigned_payload);
    assert_eq!(ok.signed_at, T as i64);
}

#[test]
fn unsigned_requests_get_missing_authentication_token() {
    let e = Req::get("/prod/pets", "a=1")
        .verify(at(T))
        .expect_err("refused");
    assert_eq!(e, VerifyError::MissingAuthenticationToken);
    assert_eq!(e.message(), "Missing Authentication Token");
    assert_eq!(e.to_string(), "Missing Authentication Token");
    assert_eq!(e.status(), 403);
    assert_eq!(e.error_type(), "MissingAuthenticationTokenException");
    assert_eq!(e.response_type(), "MISSING_AUTHENTICATION_TOKEN");
}

#[test]
fn malformed_authorization_headers_get_incomplete_signature() {
    let base = Req::get("/", "");
    let dated = base.clone().with("X-Amz-Date", "20150830T123600Z");
    let cases: [(&Req, &str, &str); 6] = [
        (
            &dated,
            "Bearer abc.def",
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc.def",
        ),
        (
            &base,
            "Basic dXNlcjpwYXNz",
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Basic dXNlcjpwYXNz",
        ),
        (
            &dated,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request",
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request",
        ),
        (
            &base,
            "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=00",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=00",
        ),
        (
            &dated,
            "AWS4-HMAC-SHA256 FooBar, Signature=00",
            "'FooBar' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 FooBar, Signature=00'",
        ),
        (
            &dated,
            "AWS4-ECDSA-P256-SHA256 Credential=a, SignedHeaders=host, Signature=00",
            "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.",
        ),
    ];
    for (req, authz, want) in cases {
        let e = req
            .clone()
            .with("Authorization", authz)
            .verify(at(T))
            .expect_err(authz);
        assert_eq!(e.message(), want, "{authz}");
        assert_eq!(e.error_type(), "IncompleteSignatureException");
        assert_eq!(e.response_type(), "INVALID_SIGNATURE");
    }

    let five = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api, SignedHeaders=host;x-amz-date, Signature=00";
    assert_eq!(
        message(dated.clone().with("Authorization", five).verify(at(T))),
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/execute-api'"
    );
    let iso = Req::get("/", "")
        .with("X-Amz-Date", "2015-08-30T12:36:00Z")
        .with(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host;x-amz-date, Signature=00",
        );
    assert_eq!(
        message(iso.verify(at(T))),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
}

#[test]
fn header_and_query_signatures_together_are_refused() {
    let pre = Req::get("/", "").presigned(creds(None), at(T), 60);
    let both = pre.clone().with("X-Amz-Date", "20150830T123600Z").with(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
    );
    assert!(matches!(
        both.verify(at(T)),
        Err(VerifyError::IncompleteSignature(m)) if m.starts_with("Only one auth mechanism allowed")
    ));
}

#[test]
fn clock_skew_is_five_minutes_either_way() {
    let req = Req::get("/", "").signed(creds(None), "execute-api", at(T));
    assert!(req.verify(at(T + 300)).is_ok());
    assert!(req.verify(at(T - 300)).is_ok());
    let late = req.verify(at(T + 301)).expect_err("expired");
    assert_eq!(
        late.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
    );
    assert_eq!(late.error_type(), "InvalidSignatureException");
    assert_eq!(
        message(req.verify(at(T - 301))),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T123059Z + 5 min.)"
    );
}

#[test]
fn presigned_urls_round_trip_within_their_validity() {
    for (query, token) in [("", None), ("a=1&b=x%20y&a=0", Some(TOKEN))] {
        let req = Req::get("/prod/files/a%20b", query).presigned(creds(token), at(T), 60);
        assert!(req.query.starts_with(query));
        let cfg = VerifierConfig::execute_api(REGION);
        let mut v = Verifier::new();
        for now in [T - 300, T, T + 60] {
            let ok = req
                .verify_with(&mut v, &cfg, at(now), Some(creds(token)))
                .expect("valid");
            assert!(ok.presigned);
            assert_eq!(ok.session_token, token);
        }
        let late = req
            .verify_with(&mut v, &cfg, at(T + 61), Some(creds(token)))
            .expect_err("expired");
        assert_eq!(
            late.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T123701Z - 1 min.)"
        );
        assert!(matches!(
            req.verify_with(&mut v, &cfg, at(T - 301), Some(creds(token))),
            Err(VerifyError::SignatureNotYetCurrent { .. })
        ));
        // Tampered: a parameter added, the expiry stretched.
        let mut more = req.clone();
        more.query.push_str("&extra=1");
        assert!(matches!(
            more.verify_with(&mut v, &cfg, at(T), Some(creds(token))),
            Err(VerifyError::SignatureMismatch { .. })
        ));
        let stretched = Req {
            query: req.query.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),
            ..req.clone()
        };
        assert!(matches!(
            stretched.verify_with(&mut v, &cfg, at(T + 100), Some(creds(token))),
            Err(VerifyError::SignatureMismatch { .. })
        ));
    }
    let ninety = Req::get("/", "").presigned(creds(None), at(T), 90);
    assert!(message(ninety.verify(at(T + 91)))
        .ends_with("is now earlier than 20150830T123601Z (20150830T123731Z - 90 sec.)"));
}

#[test]
fn presigned_validity_is_at_most_seven_days() {
    let week = Req::get("/", "").presigned(creds(None), at(T), 604_800);
    assert!(week.verify(at(T + 604_800)).is_ok());
    assert!(matches!(
        week.verify(at(T + 604_801)),
        Err(VerifyError::SignatureExpired { .. })
    ));
    let more = Req::get("/", "").presigned(creds(None), at(T), 604_801);
    assert_eq!(
        message(more.verify(at(T))),
        "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"
    );
    let partial = Req::get("/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00");
    assert!(message(partial.verify(at(T))).starts_with("AWS query-string parameters must include"));
}

#[test]
fn host_and_every_amz_header_must_be_signed() {
    let no_host = Req::get("/", "")
        .without("host")
        .signed(creds(None), "execute-api", at(T))
        .with("Host", "abc123.execute-api.us-east-1.amazonaws.com");
    let e = no_host.verify(at(T)).expect_err("host unsigned");
    assert_eq!(
        e.message(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    assert_eq!(e.error_type(), "InvalidSignatureException");

    let extra = Req::get("/", "")
        .signed(creds(None), "execute-api", at(T))
        .with("X-Amz-Meta-Color", "red");
    assert_eq!(
        message(extra.verify(at(T))),
        "'x-amz-meta-color' must be a 'SignedHeader' in the AWS Authorization."
    );
    // Other unsigned headers are fine (proxies add them).
    let via = Req::get("/", "")
        .signed(creds(None), "execute-api", at(T))
        .with("Via", "1.1 proxy");
    assert!(via.verify(at(T)).is_ok());
}

#[test]
fn unknown_keys_and_wrong_session_tokens_are_unrecognized() {
    let cfg = VerifierConfig::execute_api(REGION);
    let mut v = Verifier::new();
    let plain = Req::get("/", "").signed(creds(None), "execute-api", at(T));
    let e = plain
        .verify_with(&mut v, &cfg, at(T), None)
        .expect_err("unknown key");
    assert_eq!(e, VerifyError::UnrecognizedClient);
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
    assert_eq!(e.error_type(), "UnrecognizedClientException");

    let temp = Req::get("/", "").signed(creds(Some(TOKEN)), "execute-api", at(T));
    let ok = temp
        .verify_with(&mut v, &cfg, at(T), Some(creds(Some(TOKEN))))
        .expect("token matches");
    assert_eq!(ok.session_token, Some(TOKEN));
    for principal in [creds(Some("another")), creds(None)] {
        assert_eq!(
            temp.verify_with(&mut v, &cfg, at(T), Some(principal)),
            Err(VerifyError::UnrecognizedClient)
        );
    }
    // The principal has a token; the request carries none.
    assert_eq!(
        plain.verify_with(&mut v, &cfg, at(T), Some(creds(Some(TOKEN)))),
        Err(VerifyError::UnrecognizedClient)
    );
}

#[test]
fn credential_scope_must_match_region_service_and_date() {
    let lambda = Req::get("/", "").signed(creds(None), "lambda", at(T));
    assert_eq!(
        message(lambda.verify(at(T))),
        "Credential should be scoped to correct service: 'execute-api'. "
    );
    let cfg = VerifierConfig::execute_api("eu-west-1");
    let e = Req::get("/", "")
        .signed(creds(None), "execute-api", at(T))
        .verify_with(&mut Verifier::new(), &cfg, at(T), Some(creds(None)))
        .expect_err("region");
    assert_eq!(
        e.message(),
        "Credential should be scoped to a valid region, not 'us-east-1'. "
    );
    // Signed just before midnight, x-amz-date moved past it.
    let before = 1_440_979_199; // 2015-08-30T23:59:59Z
    let mut moved = Req::get("/", "").signed(creds(None), "execute-api", at(before));
    for h in &mut moved.headers {
        if h.0 == "x-amz-date" {
            h.1 = "20150831T000001Z".to_owned();
        }
    }
    assert_eq!(
        message(moved.verify(at(before + 2))),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150830' != '20150831', from '20150831T000001Z'. "
    );
}

#[test]
fn a_wrong_signature_answers_with_the_canonical_strings() {
    let mut req = Req::get("/prod/a b", "x=1").signed(creds(None), "execute-api", at(T));
    req.path = "/prod/a c".to_owned();
    let e = req.verify(at(T)).expect_err("mismatch");
    let VerifyError::SignatureMismatch {
        canonical_request,
        string_to_sign,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(canonical_request.starts_with("GET\n/prod/a%20c\nx=1\naccept:application/json\nhost:"));
    assert!(string_to_sign.starts_with(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/execute-api/aws4_request\n"
    ));
    assert_eq!(
        e.message(),
        format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n")
    );
    assert_eq!(e.error_type(), "InvalidSignatureException");
    assert_eq!(e.response_type(), "INVALID_SIGNATURE");
}

#[test]
fn unsigned_payload_only_where_accepted() {
    let mut req = Req::get("/", "").with("x-amz-content-sha256", UNSIGNED_PAYLOAD);
    req.method = "POST";
    req.payload = UNSIGNED_PAYLOAD.to_owned();
    let signed = req.signed(creds(None), "execute-api", at(T));
    let pairs = signed.pairs();
    assert!(declares_unsigned_payload(pairs.as_slice()));
    // What the body really hashes to: API Gateway checks that, whatever was declared.
    let body_hash = payload_sha256(b"{\"a\":1}");
    let received = Req {
        payload: body_hash,
        ..signed.clone()
    };
    assert!(matches!(
        received.verify(at(T)),
        Err(VerifyError::SignatureMismatch { .. })
    ));
    let mut cfg = VerifierConfig::execute_api(REGION);
    cfg.accept_unsigned_payload = true;
    let ok = received
        .verify_with(&mut Verifier::new(), &cfg, at(T), Some(creds(None)))
        .expect("accepted");
    assert!(ok.unsigned_payload);
    let plain = Req::get("/", "");
    assert!(!declares_unsigned_payload(plain.pairs().as_slice()));
}

#[test]
fn the_date_header_stands_in_for_x_amz_date() {
    // Computed by hand: the signer always sends x-amz-date.
    let creq = format!(
        "GET\n/\n\ndate:20150830T123600Z\nhost:example.amazonaws.com\n\ndate;host\n{EMPTY_PAYLOAD_SHA256}"
    );
    let hash = payload_sha256(creq.as_bytes());
    let sts = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/execute-api/aws4_request\n{hash}"
    );
    let key = derive_signing_key(SECRET, b"20150830", REGION, "execute-api");
    let sig = canonical::hex32(ring::hmac::sign(&key, sts.as_bytes()).as_ref());
    let req = Req {
        method: "GET",
        path: "/".to_owned(),
        query: String::new(),
        headers: vec![
            ("Host".to_owned(), "example.amazonaws.com".to_owned()),
            ("Date".to_owned(), "20150830T123600Z".to_owned()),
            (
                "Authorization".to_owned(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=date;host, Signature={}",
                    String::from_utf8_lossy(&sig)
                ),
            ),
        ],
        payload: EMPTY_PAYLOAD_SHA256.to_owned(),
    };
    assert!(req.verify(at(T)).is_ok());
}

#[test]
fn keys_are_derived_once_per_day_region_service() {
    let cfg = VerifierConfig::execute_api(REGION);
    let mut v = Verifier::with_cache_capacity(8);
    for i in 0..50 {
        let req = Req::get(&format!("/item/{i}"), "").signed(creds(None), "execute-api", at(T + i));
        assert!(req
            .verify_with(&mut v, &cfg, at(T + i), Some(creds(None)))
            .is_ok());
    }
    assert_eq!(v.key_cache().derivations(), 1);
    let next_day = Req::get("/", "").signed(creds(None), "execute-api", at(T + 86_400));
    assert!(next_day
        .verify_with(&mut v, &cfg, at(T + 86_400), Some(creds(None)))
        .is_ok());
    assert_eq!(v.key_cache().derivations(), 2);
}

#[test]
fn headers_from_a_closure_need_no_vec() {
    let req = Req::get("/x", "").signed(creds(None), "execute-api", at(T));
    let headers = &req.headers;
    let view = HeaderFn(|| headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let parts = RequestParts::new("GET", "/x", "", &view);
    let ok = Verifier::new().verify(
        &parts,
        EMPTY_PAYLOAD_SHA256,
        &VerifierConfig::execute_api(REGION),
        at(T),
        |akid| (akid == AKID).then_some(creds(None)),
    );
    assert!(ok.is_ok());
    assert_eq!(
        parts.header("HOST"),
        Some(&b"abc123.execute-api.us-east-1.amazonaws.com"[..])
    );
}

#[test]
fn arbitrary_input_is_refused_without_panicking() {
    // Fragments of signatures, glued at random: the verifier answers every one.
    const BITS: &[&str] = &[
        "AWS4-HMAC-SHA256",
        " ",
        ",",
        "=",
        "/",
        ";",
        "&",
        "%",
        "%2F",
        "%zz",
        "+",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "AKIDEXAMPLE",
        "20150830",
        "us-east-1",
        "execute-api",
        "aws4_request",
        "host",
        "x-amz-date",
        "0123456789abcdef",
        "X-Amz-Algorithm=",
        "X-Amz-Credential=",
        "X-Amz-Signature=",
        "X-Amz-Date=",
        "X-Amz-SignedHeaders=",
        "X-Amz-Expires=",
        "X-Amz-Security-Token=",
        "20150830T123600Z",
        "-1",
        "99999999999999999999",
        "\u{e9}",
        "..",
        "",
    ];
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut glue = |n: u64| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(BITS[(next() % BITS.len() as u64) as usize]);
        }
        s
    };
    let cfg = VerifierConfig::execute_api(REGION);
    let mut v = Verifier::new();
    let mut answered = 0;
    for i in 0..3000u64 {
        let mut req = Req::get(&format!("/{}", glue(i % 4)), &glue(i % 9));
        if i % 2 == 0 {
            req = req.with("Authorization", &glue(3 + i % 12));
        }
        if i % 3 != 0 {
            req = req.with("X-Amz-Date", &glue(1 + i % 2));
        }
        if i % 5 == 0 {
            req = req.with("x-amz-security-token", &glue(2));
        }
        let r = req.verify_with(&mut v, &cfg, at(T), Some(creds(None)));
        if let Err(e) = r {
            assert!(!e.message().is_empty());
            answered += 1;
        }
    }
    assert_eq!(answered, 3000);
}
