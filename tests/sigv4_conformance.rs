//! AWS's official SigV4 test suite (tests/data/sigv4/, from awslabs/aws-c-auth, Apache-2.0):
//! EVERY case is signed in the header and in the query string and must reproduce the
//! expected canonical request, string to sign, signature and signed request byte for byte;
//! every signed request of the suite must then pass the verifier, and fail it once any
//! one byte of what is signed is changed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate::auth::sigv4::{
    parse_amz_date, payload_sha256, Credentials, RequestParts, Signer, SigningParams,
    SigningSettings, UriMode, Verifier, VerifierConfig, VerifyError,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}

/// A request as written in the suite's `.txt` files.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: Vec<u8>,
    query: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    /// Parse `METHOD SP target SP HTTP/1.1`, `Name:value` lines (a line starting with
    /// white space continues the previous value: obs-fold, replaced by one space), a blank
    /// line, the body. Values are trimmed as an HTTP parser does.
    fn parse(text: &[u8]) -> Req {
        let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&text[..i], text[i + 2..].to_vec()),
            None => (text.strip_suffix(b"\n").unwrap_or(text), Vec::new()),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let first = lines.next().expect("request line");
        let sp1 = first.iter().position(|&b| b == b' ').expect("method");
        let sp2 = first.iter().rposition(|&b| b == b' ').expect("version");
        let target = &first[sp1 + 1..sp2];
        let (path, query) = match target.iter().position(|&b| b == b'?') {
            Some(q) => (target[..q].to_vec(), target[q + 1..].to_vec()),
            None => (target.to_vec(), Vec::new()),
        };
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for line in lines {
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let last = headers.last_mut().expect("a header to continue");
                last.1.push(b' ');
                last.1.extend_from_slice(line.trim_ascii());
                continue;
            }
            let colon = line.iter().position(|&b| b == b':').expect("name:value");
            headers.push((
                line[..colon].to_vec(),
                line[colon + 1..].trim_ascii().to_vec(),
            ));
        }
        Req {
            method: String::from_utf8(first[..sp1].to_vec()).expect("method"),
            path,
            query,
            headers,
            body,
        }
    }

    fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    fn target(&self) -> Vec<u8> {
        let mut t = self.path.clone();
        if !self.query.is_empty() {
            t.push(b'?');
            t.extend_from_slice(&self.query);
        }
        t
    }
}

fn parts<'a>(
    r: &'a Req,
    pairs: &'a Vec<(&'a [u8], &'a [u8])>,
) -> RequestParts<'a, Vec<(&'a [u8], &'a [u8])>> {
    RequestParts {
        method: &r.method,
        path: &r.path,
        query: &r.query,
        headers: pairs,
    }
}

#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    akid: String,
    secret: String,
    token: Option<String>,
    expires: u64,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    time: SystemTime,
    omit_session_token: bool,
}

impl Case {
    fn load(dir: &Path) -> Case {
        let ctx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("context.json")).expect("context"))
                .expect("context.json");
        let s = |v: &serde_json::Value| v.as_str().expect("string").to_owned();
        let stamp: String = s(&ctx["timestamp"])
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let secs = parse_amz_date(stamp.as_bytes()).expect("timestamp");
        Case {
            name: dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
            dir: dir.to_path_buf(),
            akid: s(&ctx["credentials"]["access_key_id"]),
            secret: s(&ctx["credentials"]["secret_access_key"]),
            token: ctx["credentials"]["token"].as_str().map(str::to_owned),
            expires: ctx["expiration_in_seconds"].as_u64().expect("expiration"),
            normalize: ctx["normalize"].as_bool().expect("normalize"),
            region: s(&ctx["region"]),
            service: s(&ctx["service"]),
            sign_body: ctx["sign_body"].as_bool().expect("sign_body"),
            time: UNIX_EPOCH + Duration::from_secs(secs as u64),
            omit_session_token: ctx["omit_session_token"].as_bool().unwrap_or(false),
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", self.name))
    }

    fn text(&self, name: &str) -> String {
        String::from_utf8(self.file(name)).expect("utf-8")
    }

    fn creds(&self) -> Credentials<'_> {
        Credentials {
            access_key_id: &self.akid,
            secret_access_key: &self.secret,
            session_token: self.token.as_deref(),
        }
    }

    fn uri(&self) -> UriMode {
        UriMode {
            normalize_path: self.normalize,
            encode_path: true,
        }
    }

    fn params(&self) -> SigningParams<'_> {
        SigningParams {
            credentials: self.creds(),
            region: &self.region,
            service: &self.service,
            time: self.time,
            settings: SigningSettings {
                uri: self.uri(),
                content_sha256_header: self.sign_body,
                session_token_signed: !self.omit_session_token,
            },
        }
    }

    fn config(&self) -> VerifierConfig {
        let mut cfg = VerifierConfig::new(&self.region, &self.service);
        cfg.uri = self.uri();
        cfg.session_token_signed = !self.omit_session_token;
        cfg
    }

    fn verify(&self, v: &mut Verifier, r: &Req, payload: &str) -> Result<String, VerifyError> {
        let pairs = r.pairs();
        let creds = self.creds();
        v.verify(
            &parts(r, &pairs),
            payload,
            &self.config(),
            self.time,
            |akid| (akid == creds.access_key_id).then_some(creds),
        )
        .map(|ok| ok.access_key_id.to_owned())
    }
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/sigv4")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Case::load(d)).collect()
}

#[test]
fn every_case_is_reproduced_exactly_and_verifies() {
    let cases = cases();
    // The suite as copied: 38 cases (a case lost in a copy must fail this test).
    assert_eq!(cases.len(), 38, "cases in tests/data/sigv4");
    let mut signer = Signer::new();
    let mut verifier = Verifier::new();
    for case in &cases {
        let name = &case.name;
        let req = Req::parse(&case.file("request.txt"));
        let pairs = req.pairs();
        let payload = payload_sha256(&req.body);

        // Header signing.
        let signed = signer.sign(&parts(&req, &pairs), &payload, &case.params());
        assert_eq!(
            signed.canonical_request,
            case.text("header-canonical-request.txt"),
            "{name}: header canonical request"
        );
        assert_eq!(
            signed.string_to_sign,
            case.text("header-string-to-sign.txt"),
            "{name}: header string to sign"
        );
        assert_eq!(
            signed.signature,
            case.text("header-signature.txt"),
            "{name}"
        );
        let expected = Req::parse(&case.file("header-signed-request.txt"));
        assert_eq!(
            expected.header("authorization"),
            Some(signed.authorization.as_bytes()),
            "{name}: Authorization"
        );
        for (n, v) in signed.headers() {
            assert_eq!(expected.header(n), Some(v.as_bytes()), "{name}: {n}");
        }
        // Everything the expected request has is the request's or the signer's.
        for (n, _) in &expected.headers {
            let ours = signed
                .headers()
                .any(|(s, _)| s.as_bytes().eq_ignore_ascii_case(n));
            assert!(
                ours || req.header(&String::from_utf8_lossy(n)).is_some(),
                "{name}: {n:?}"
            );
        }
        assert_eq!(
            case.verify(&mut verifier, &expected, &payload),
            Ok(case.akid.clone()),
            "{name}: the header-signed request verifies"
        );

        // Query signing (presigned URL).
        let pre = signer.presign(&parts(&req, &pairs), &payload, &case.params(), case.expires);
        assert_eq!(
            pre.canonical_request,
            case.text("query-canonical-request.txt"),
            "{name}: query canonical request"
        );
        assert_eq!(
            pre.string_to_sign,
            case.text("query-string-to-sign.txt"),
            "{name}: query string to sign"
        );
        assert_eq!(pre.signature, case.text("query-signature.txt"), "{name}");
        let expected = Req::parse(&case.file("query-signed-request.txt"));
        let mut ours = req.path.clone();
        ours.push(b'?');
        ours.extend_from_slice(pre.query.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&expected.target()),
            "{name}: presigned target"
        );
        assert_eq!(
            case.verify(&mut verifier, &expected, &payload),
            Ok(case.akid.clone()),
            "{name}: the presigned request verifies"
        );
    }
    // One secret, one day, one region, one service: one key derivation for all.
    assert_eq!(signer.key_cache().derivations(), 1);
    assert_eq!(verifier.key_cache().derivations(), 1);
}

/// Change one byte of `b` (to another unreserved byte).
fn flip(b: &mut [u8], at: usize) {
    b[at] = if b[at] == b'x' { b'y' } else { b'x' };
}

fn expect_mismatch(case: &Case, v: &mut Verifier, r: &Req, payload: &str, what: &str) {
    match case.verify(v, r, payload) {
        Err(VerifyError::SignatureMismatch { .. }) => {}
        other => panic!("{}: {what} tampered: {other:?}", case.name),
    }
}

#[test]
fn one_byte_changed_anywhere_signed_fails() {
    let mut v = Verifier::new();
    for case in cases() {
        for file in ["header-signed-request.txt", "query-signed-request.txt"] {
            let good = Req::parse(&case.file(file));
            let payload = payload_sha256(&good.body);
            assert!(
                case.verify(&mut v, &good, &payload).is_ok(),
                "{}",
                case.name
            );

            // The method.
            let mut r = good.clone();
            r.method = if r.method == "GET" { "HEAD" } else { "GET" }.to_owned();
            expect_mismatch(&case, &mut v, &r, &payload, "method");

            // The path (its last byte).
            let mut r = good.clone();
            let last = r.path.len() - 1;
            flip(&mut r.path, last);
            expect_mismatch(&case, &mut v, &r, &payload, "path");

            // The query: the first byte of the first value (the request's own parameter,
            // or X-Amz-Algorithm's), or a parameter added.
            let mut r = good.clone();
            match r.query.iter().position(|&b| b == b'=') {
                Some(eq) if r.query.len() > eq + 1 && !r.query.starts_with(b"X-Amz") => {
                    flip(&mut r.query, eq + 1)
                }
                _ => {
                    let q = std::mem::take(&mut r.query);
                    r.query = [&b"a=b&"[..], &q].concat();
                    if r.query.ends_with(b"&") {
                        r.query.pop();
                    }
                }
            }
            expect_mismatch(&case, &mut v, &r, &payload, "query");

            // Every signed header's value (other than the date and token, below).
            for i in 0..good.headers.len() {
                let name = good.headers[i].0.to_ascii_lowercase();
                if matches!(
                    name.as_slice(),
                    b"authorization" | b"x-amz-date" | b"x-amz-security-token"
                ) || good.headers[i].1.is_empty()
                {
                    continue;
                }
                let mut r = good.clone();
                flip(&mut r.headers[i].1, 0);
                expect_mismatch(&case, &mut v, &r, &payload, "header");
            }

            // The body (its hash).
            let mut other = payload.clone().into_bytes();
            flip(&mut other, 0);
            expect_mismatch(
                &case,
                &mut v,
                &good,
                std::str::from_utf8(&other).expect("hex"),
                "body hash",
            );

            // The date: one second later, still within the skew.
            let mut r = good.clone();
            let later = |d: &[u8]| {
                let mut d = d.to_vec();
                d[14] = if d[14] == b'9' { b'8' } else { d[14] + 1 };
                d
            };
            if let Some(h) = r
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"x-amz-date"))
            {
                h.1 = later(&h.1);
            } else {
                let at = find(&r.query, b"X-Amz-Date=").expect("date") + 11;
                let d = later(&r.query[at..at + 16]);
                r.query[at..at + 16].copy_from_slice(&d);
            }
            expect_mismatch(&case, &mut v, &r, &payload, "date");

            // The signature itself.
            let mut r = good.clone();
            if let Some(h) = r
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"authorization"))
            {
                let last = h.1.len() - 1;
                flip(&mut h.1, last);
            } else {
                let last = r.query.len() - 1;
                flip(&mut r.query, last);
            }
            expect_mismatch(&case, &mut v, &r, &payload, "signature");

            // The session token.
            if case.token.is_some() {
                let mut r = good.clone();
                if let Some(h) = r
                    .headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"x-amz-security-token"))
                {
                    flip(&mut h.1, 0);
                } else {
                    let at = find(&r.query, b"X-Amz-Security-Token=").expect("token") + 21;
                    flip(&mut r.query, at);
                }
                assert_eq!(
                    case.verify(&mut v, &r, &payload),
                    Err(VerifyError::UnrecognizedClient),
                    "{}: token",
                    case.name
                );
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
