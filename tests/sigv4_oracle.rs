//! Property test against the oracle, the AWS SDK for Rust's own signer (`aws-sigv4`):
//! random requests (paths with reserved, percent-encoded, dot and unicode segments;
//! repeated query keys, `+` and `%20` spaces, valueless keys; header values with runs of
//! spaces, repeated and mixed-case names; bodies; session tokens) are signed by the oracle
//! in the header and in the query string. Our verifier must accept every one, and our
//! signer must produce the very same signature.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{
    sign as aws_sign, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings as AwsSettings,
};
use aws_sigv4::sign::v4;
use tollgate::auth::sigv4::{
    payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings, Verifier,
    VerifierConfig,
};

/// splitmix64: deterministic, so a failure names its seed and replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const SUB_DELIMS: &str = "!$&'()*+,;=:@";

/// Characters of path segments and query components before encoding.
const POOL: &[char] = &[
    'a', 'b', 'z', 'A', 'Q', 'Z', '0', '7', '9', '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')',
    '*', '+', ',', ';', '=', ':', '@', ' ', '%', '/', '?', '#', '[', ']', '"', '<', '>', '\\', '^',
    '`', '{', '|', '}', 'é', 'ß', 'ሴ', '日', '😀',
];

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~".contains(c)
}

fn pct(out: &mut String, c: char, rng: &mut Rng) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        if rng.one_in(4) {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A path as a client sends it: unreserved characters raw, sub-delimiters raw or encoded,
/// everything else percent-encoded; dot segments and empty segments now and then.
fn gen_path(rng: &mut Rng) -> String {
    let mut p = String::new();
    for _ in 0..rng.below(5) {
        p.push('/');
        match rng.below(12) {
            0 => p.push('.'),
            1 => p.push_str(".."),
            2 => {}
            _ => {
                for _ in 0..1 + rng.below(8) {
                    let c = rng.pick(POOL);
                    if unreserved(c) || (SUB_DELIMS.contains(c) && rng.one_in(2)) {
                        p.push(c);
                    } else {
                        pct(&mut p, c, rng);
                    }
                }
            }
        }
    }
    if p.is_empty() || rng.one_in(4) {
        p.push('/');
    }
    p
}

fn gen_component(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.below(7) {
        let c = rng.pick(POOL);
        match c {
            ' ' if rng.one_in(2) => out.push('+'),
            c if unreserved(c) => out.push(c),
            '!' | '$' | '\'' | '(' | ')' | '*' | ',' | ';' | ':' | '@' | '/' | '?'
                if rng.one_in(2) =>
            {
                out.push(c)
            }
            c => pct(out, c, rng),
        }
    }
}

/// A query string: keys from a small set (so they repeat) or random, values random,
/// empty or absent.
fn gen_query(rng: &mut Rng) -> String {
    let mut q = String::new();
    for i in 0..rng.below(6) {
        if i > 0 {
            q.push('&');
        }
        if rng.one_in(3) {
            q.push_str(rng.pick(&["a", "b", "Param", "x-y", "k~", "%E1%88%B4", "sp+ace"]));
        } else {
            gen_component(rng, &mut q);
            if q.is_empty() || q.ends_with('&') {
                q.push('k');
            }
        }
        match rng.below(5) {
            0 => {}
            1 => q.push('='),
            _ => {
                q.push('=');
                gen_component(rng, &mut q);
            }
        }
    }
    q
}

fn gen_value(rng: &mut Rng) -> String {
    let mut v = String::new();
    for _ in 0..rng.below(12) {
        match rng.below(5) {
            0 => v.push_str(&" ".repeat(1 + rng.below(3) as usize)),
            _ => v.push(char::from(0x21 + rng.below(0x5e) as u8)),
        }
    }
    v
}

/// Owned (name, value) pairs.
type Pairs = Vec<(String, String)>;

struct Case {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    region: &'static str,
    service: &'static str,
    time: SystemTime,
}

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn gen_case(rng: &mut Rng) -> Case {
    let mut headers = vec![(
        rng.pick(&["host", "Host", "HOST"]).to_string(),
        rng.pick(&[
            "example.amazonaws.com",
            "abc123.execute-api.eu-west-3.amazonaws.com",
            "127.0.0.1:8443",
        ])
        .to_string(),
    )];
    for _ in 0..rng.below(6) {
        let name = rng.pick(&[
            "x-custom",
            "X-Mixed-Case",
            "content-type",
            "Accept",
            "x-amz-meta-thing",
            "X-Amz-Target",
            "user-agent",
            "x-custom",
        ]);
        headers.push((name.to_owned(), gen_value(rng)));
    }
    let body: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
    let token = rng.one_in(3).then(|| {
        let mut t = String::from("IQoJb3JpZ2lu");
        for _ in 0..rng.below(40) {
            t.push(rng.pick(&['A', 'z', '0', '/', '+', '=']));
        }
        t
    });
    Case {
        method: rng.pick(&["GET", "POST", "PUT", "DELETE", "PATCH"]),
        path: gen_path(rng),
        query: gen_query(rng),
        headers,
        body,
        token,
        region: rng.pick(&["us-east-1", "eu-west-3", "ap-southeast-2"]),
        service: rng.pick(&["execute-api", "lambda"]),
        // 2010-01-01 + up to ~25 years.
        time: UNIX_EPOCH + Duration::from_secs(1_262_304_000 + rng.below(25 * 365 * 86_400)),
    }
}

impl Case {
    fn uri(&self, query: &str) -> String {
        let mut u = format!("https://example.amazonaws.com{}", self.path);
        if !query.is_empty() {
            u.push('?');
            u.push_str(query);
        }
        u
    }

    fn creds(&self) -> Credentials<'_> {
        Credentials {
            access_key_id: AKID,
            secret_access_key: SECRET,
            session_token: self.token.as_deref(),
        }
    }

    fn params(&self) -> SigningParams<'_> {
        SigningParams {
            credentials: self.creds(),
            region: self.region,
            service: self.service,
            time: self.time,
            settings: SigningSettings::default(),
        }
    }

    /// Sign with the oracle: (headers to add, query parameters to add, signature).
    fn oracle(&self, presign_secs: Option<u64>) -> (Pairs, Pairs, String) {
        let identity = AwsCredentials::new(AKID, SECRET, self.token.clone(), None, "test").into();
        let mut settings = AwsSettings::default();
        if let Some(secs) = presign_secs {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(secs));
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let request = SignableRequest::new(
            self.method,
            self.uri(&self.query),
            self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(&self.body),
        )
        .expect("signable");
        let (instructions, signature) = aws_sign(request, &params).expect("signed").into_parts();
        let headers = instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let query = instructions
            .params()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        (headers, query, signature)
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pairs(h: &[(String, String)]) -> Vec<(&[u8], &[u8])> {
    h.iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect()
}

const CASES: u64 = 400;

#[test]
fn oracle_header_signatures_verify_and_match_ours() {
    let mut signer = Signer::new();
    let mut verifier = Verifier::new();
    for seed in 0..CASES {
        let mut rng = Rng(seed);
        let case = gen_case(&mut rng);
        let (added, _, signature) = case.oracle(None);
        let what = format!(
            "seed {seed}: {} {}?{} {:?} token={:?}",
            case.method, case.path, case.query, case.headers, case.token
        );
        let payload = payload_sha256(&case.body);

        // Ours signs the same.
        let h = pairs(&case.headers);
        let parts = RequestParts::new(case.method, &case.path, &case.query, &h);
        let ours = signer.sign(&parts, &payload, &case.params());
        assert_eq!(
            ours.signature, signature,
            "{what}\n{}",
            ours.canonical_request
        );
        let authz = added
            .iter()
            .find(|(n, _)| n == "authorization")
            .expect("authz");
        assert_eq!(ours.authorization, authz.1, "{what}");

        // Ours verifies the oracle's request, within the clock skew.
        let mut all = case.headers.clone();
        all.extend(added.iter().cloned());
        let h = pairs(&all);
        let parts = RequestParts::new(case.method, &case.path, &case.query, &h);
        let cfg = VerifierConfig::new(case.region, case.service);
        let creds = case.creds();
        let now =
            case.time + Duration::from_secs(rng.below(300)) - Duration::from_secs(rng.below(300));
        let ok = verifier
            .verify(&parts, &payload, &cfg, now, |k| {
                (k == AKID).then_some(creds)
            })
            .unwrap_or_else(|e| panic!("{what}: {}", e.message()));
        assert_eq!(ok.session_token, case.token.as_deref());
    }
}

#[test]
fn oracle_presigned_urls_verify_and_match_ours() {
    let mut signer = Signer::new();
    let mut verifier = Verifier::new();
    for seed in 0..CASES {
        let mut rng = Rng(seed ^ 0x5eed);
        let case = gen_case(&mut rng);
        let expires = 1 + rng.below(604_800);
        let (_, added, signature) = case.oracle(Some(expires));
        let what = format!(
            "seed {seed}: {} {}?{} expires {expires}",
            case.method, case.path, case.query
        );
        let payload = payload_sha256(&case.body);

        let h = pairs(&case.headers);
        let parts = RequestParts::new(case.method, &case.path, &case.query, &h);
        let ours = signer.presign(&parts, &payload, &case.params(), expires);
        assert_eq!(
            ours.signature, signature,
            "{what}\n{}",
            ours.canonical_request
        );

        // The URL the oracle's client sends: the query, then its parameters.
        let mut query = case.query.clone();
        for (n, v) in &added {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(n);
            query.push('=');
            query.push_str(&enc(v));
        }
        let parts = RequestParts::new(case.method, &case.path, &query, &h);
        let cfg = VerifierConfig::new(case.region, case.service);
        let creds = case.creds();
        for now in [
            case.time - Duration::from_secs(300),
            case.time + Duration::from_secs(rng.below(expires + 1)),
            case.time + Duration::from_secs(expires),
        ] {
            let ok = verifier
                .verify(&parts, &payload, &cfg, now, |k| {
                    (k == AKID).then_some(creds)
                })
                .unwrap_or_else(|e| panic!("{what}: {}", e.message()));
            assert!(ok.presigned);
        }
        assert!(verifier
            .verify(
                &parts,
                &payload,
                &cfg,
                case.time + Duration::from_secs(expires + 1),
                |k| (k == AKID).then_some(creds)
            )
            .is_err());
    }
}
