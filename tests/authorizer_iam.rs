//! IAM authorization (`authorization_type: AWS_IAM`) end to end, through the real gateway
//! binary and a recording upstream that must not be reached on any refusal: requests
//! signed by our signer (header form and presigned URL), by the AWS SDK's signer (the
//! aws-sigv4 oracle) and by curl's `--aws-sigv4` (HTTP/1.1 and h2c, where `host` is
//! `:authority`); bodies sent with a length or chunked reach the upstream whole, with a
//! Content-Length; every refusal answers API Gateway's 403 with AWS's text; identity
//! policies (explicit Deny, no Allow); temporary credentials' session token;
//! `$context.identity.*` in an access log line; `tollgate load --sigv4` gets only 2xx.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use tollgate::auth::sigv4::{
    payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings,
};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// A principal with temporary credentials.
const TEMP_AKID: &str = "ASIAIOSFODNN7EXAMPLE";
const TEMP_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const TEMP_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/+=";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:iam/prod";

const UPSTREAM_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nupstream";

/// A scratch directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("authorizer-iam-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Dir(dir)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Setup {
    gw: Gateway,
    up: ScriptedUpstream,
    log: String,
    _dir: Dir,
}

/// API `iam` (the listeners' default API: paths `/prod/...`): `/pets` (GET, POST, DELETE)
/// and `/private` behind AWS_IAM, `/open` without; alice may invoke `*/pets` but not
/// DELETE (explicit Deny) and has no Allow for `/private`; the temporary principal may
/// invoke anything. Listener `h2c` speaks HTTP/2 with prior knowledge.
fn setup(name: &str) -> Setup {
    let dir = Dir::new(name);
    let secret = dir.write("alice.secret", &format!("{SECRET}\n"));
    let temp_secret = dir.write("temp.secret", TEMP_SECRET);
    let temp_token = dir.write("temp.token", TEMP_TOKEN);
    let log = dir.path("access.log");
    let up = ScriptedUpstream::start(UPSTREAM_OK, After::KeepOpen);
    let upstream = format!("127.0.0.1:{}", up.port);
    let route = |route: &str, auth: &str| {
        format!(
            "      - route: {route}\n        authorization_type: {auth}\n        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/up'}}\n"
        )
    };
    let yaml = format!(
        "listeners:
  - {{name: main, bind: 127.0.0.1:0, default_api: iam}}
  - {{name: h2c, bind: 127.0.0.1:0, default_api: iam, h2c: true}}
apis:
  - id: iam
    routes:
{}{}{}{}{}    stages:
      - name: prod
        access_log:
          destination: '{log}'
          format: '$context.requestId $context.status $context.identity.userArn $context.identity.accessKey $context.identity.caller $context.identity.accountId'
iam:
  principals:
    - access_key_id: {AKID}
      secret_access_key_file: {secret}
      arn: {ALICE}
      user_id: AIDAEXAMPLEALICE0001
      policies:
        - Version: '2012-10-17'
          Statement:
            - {{Effect: Allow, Action: 'execute-api:Invoke', Resource: '{ARN}/*/pets'}}
            - {{Effect: Deny, Action: 'execute-api:Invoke', Resource: '{ARN}/DELETE/*'}}
    - access_key_id: {TEMP_AKID}
      secret_access_key_file: {temp_secret}
      session_token_file: {temp_token}
      arn: arn:aws:sts::123456789012:assumed-role/reader/session-1
      policies:
        - '{{\"Statement\": [{{\"Effect\": \"Allow\", \"Action\": \"execute-api:*\", \"Resource\": \"*\"}}]}}'
",
        route("GET /pets", "AWS_IAM"),
        route("POST /pets", "AWS_IAM"),
        route("DELETE /pets", "AWS_IAM"),
        route("GET /private", "AWS_IAM"),
        route("GET /open", "NONE"),
    );
    let gw = Gateway::start(&yaml);
    Setup {
        gw,
        up,
        log,
        _dir: dir,
    }
}

impl Setup {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.gw.port)
    }

    fn send(&self, raw: &[u8]) -> Response {
        self.gw.send(raw)
    }

    /// Send `raw`, expect a refusal and that the upstream saw nothing new.
    #[track_caller]
    fn refused(&self, raw: &[u8], message_starts: &str, error_type: &str) -> Response {
        let before = self.up.requests().len();
        let r = self.send(raw);
        assert_eq!(r.status, 403, "{}", r.describe());
        let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            message.starts_with(message_starts),
            "message {message:?} should start with {message_starts:?}"
        );
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some(error_type),
            "{}",
            r.describe()
        );
        r.assert_request_id();
        // Give a wrongly forwarded request time to arrive.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            self.up.requests().len(),
            before,
            "the upstream was reached by a refused request"
        );
        assert_eq!(
            self.up.connections(),
            0,
            "an upstream connection was opened"
        );
        r
    }
}

struct Key<'a> {
    akid: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
}

const ALICE_KEY: Key<'static> = Key {
    akid: AKID,
    secret: SECRET,
    token: None,
};

const TEMP_KEY: Key<'static> = Key {
    akid: TEMP_AKID,
    secret: TEMP_SECRET,
    token: Some(TEMP_TOKEN),
};

fn params<'a>(key: &'a Key<'a>, time: SystemTime) -> SigningParams<'a> {
    SigningParams {
        credentials: Credentials {
            access_key_id: key.akid,
            secret_access_key: key.secret,
            session_token: key.token,
        },
        region: "us-east-1",
        service: "execute-api",
        time,
        settings: SigningSettings::default(),
    }
}

/// A request head (`extra` headers after the signed ones) and body as bytes.
fn raw(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A request signed in the Authorization header by our signer: Host and `headers` signed,
/// the body's hash as the payload hash; Content-Length added (unsigned) for a body.
fn signed(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    key: &Key<'_>,
    time: SystemTime,
) -> (Vec<(String, String)>, Vec<u8>) {
    let mut list: Vec<(String, String)> = vec![("Host".into(), host.into())];
    list.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let pairs: Vec<(&[u8], &[u8])> = list
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = RequestParts::new(method, path, query, &pairs);
    let s = Signer::new().sign(&req, &payload_sha256(body), &params(key, time));
    list.extend(s.headers().map(|(n, v)| (n.to_string(), v.to_string())));
    (list, body.to_vec())
}

fn signed_raw(
    s: &Setup,
    method: &str,
    target: &str,
    body: &[u8],
    key: &Key<'_>,
    time: SystemTime,
) -> Vec<u8> {
    let (mut headers, body) = signed(&s.host(), method, target, &[], body, key, time);
    if !body.is_empty() || method == "POST" {
        headers.push(("Content-Length".into(), body.len().to_string()));
    }
    raw(method, target, &headers, &body)
}

/// The body of the upstream's `i`-th request, after checking it came with exactly this
/// Content-Length and no transfer coding.
#[track_caller]
fn upstream_body(up: &ScriptedUpstream, i: usize) -> Vec<u8> {
    let requests = up.requests();
    let r = requests
        .get(i)
        .unwrap_or_else(|| panic!("the upstream got {} request(s)", requests.len()));
    let end = find_subslice(r, b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&r[..end]).to_ascii_lowercase();
    let body = r[end..].to_vec();
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(
        head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{head}"
    );
    body
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn signed_get_and_post_reach_the_upstream_with_the_body_intact() {
    let s = setup("ok");
    // GET, no body.
    let r = s.send(&signed_raw(
        &s,
        "GET",
        "/prod/pets?b=2&a=1",
        b"",
        &ALICE_KEY,
        now(),
    ));
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "upstream"),
        "{}",
        r.describe()
    );

    // POST with a Content-Length body (larger than one read).
    let body = pattern(200_000);
    let r = s.send(&signed_raw(
        &s,
        "POST",
        "/prod/pets",
        &body,
        &ALICE_KEY,
        now(),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(upstream_body(&s.up, 1), body);

    // POST chunked, in uneven pieces: signed with the whole body's hash; the upstream gets
    // it with a Content-Length.
    let body = pattern(70_001);
    let (mut headers, _) = signed(
        &s.host(),
        "POST",
        "/prod/pets",
        &[],
        &body,
        &ALICE_KEY,
        now(),
    );
    headers.push(("Transfer-Encoding".into(), "chunked".into()));
    let mut c = s.gw.client();
    c.send(&raw("POST", "/prod/pets", &headers, b""));
    for piece in body.chunks(9_999) {
        let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(piece);
        chunk.extend_from_slice(b"\r\n");
        c.send(&chunk);
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(upstream_body(&s.up, 2), body);

    // Keep-alive: a second signed request on the same connection.
    let r = c.request(&signed_raw(&s, "GET", "/prod/pets", b"", &ALICE_KEY, now()));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(s.up.requests().len(), 4);

    // A route without authorization needs no signature.
    let r = s.send(format!("GET /prod/open HTTP/1.1\r\nHost: {}\r\n\r\n", s.host()).as_bytes());
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn a_presigned_url_is_accepted_until_it_expires() {
    let s = setup("presigned");
    let host = s.host();
    let pairs: Vec<(&[u8], &[u8])> = vec![(b"host", host.as_bytes())];
    let presign = |time: SystemTime, expires: u64| {
        let req = RequestParts::new("GET", "/prod/pets", "color=tabby", &pairs);
        let p = Signer::new().presign(
            &req,
            &payload_sha256(b""),
            &params(&ALICE_KEY, time),
            expires,
        );
        format!(
            "GET /prod/pets?{} HTTP/1.1\r\nHost: {host}\r\n\r\n",
            p.query
        )
    };
    let r = s.send(presign(now(), 60).as_bytes());
    assert_eq!(r.status, 200, "{}", r.describe());
    let got = String::from_utf8_lossy(&s.up.requests()[0]).into_owned();
    assert!(
        got.starts_with("GET /up?color=tabby&X-Amz-Algorithm="),
        "{got}"
    );

    // Signed 10 minutes ago for 60 seconds.
    let old = now() - Duration::from_secs(600);
    let before = s.up.requests().len();
    let r = s.send(presign(old, 60).as_bytes());
    assert_eq!(r.status, 403, "{}", r.describe());
    let m = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        m.starts_with("Signature expired: ") && m.ends_with(" - 1 min.)"),
        "{m}"
    );
    assert_eq!(s.up.requests().len(), before);
}

#[test]
fn refusals_answer_aws_messages_and_never_reach_the_upstream() {
    let s = setup("refusals");
    let host = s.host();

    // Unsigned.
    s.refused(
        format!("GET /prod/pets HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    )
    .assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    // Unsigned with a body: answered without reading it, and the connection still works.
    let mut c = s.gw.client();
    let r = c.request(
        format!("POST /prod/pets HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello")
            .as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.describe());

    // Wrong secret: the mismatch message, with the canonical request the gateway computed.
    let wrong = Key {
        akid: AKID,
        secret: "not-the-secret",
        token: None,
    };
    let r = s.refused(
        &signed_raw(&s, "GET", "/prod/pets?x=1", b"", &wrong, now()),
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        "InvalidSignatureException",
    );
    let m = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        m.contains(
            "The Canonical String for this request should have been\n'GET\n/prod/pets\nx=1\nhost:"
        ),
        "{m}"
    );

    // A body other than the one signed (same length).
    let (mut headers, _) = signed(
        &host,
        "POST",
        "/prod/pets",
        &[],
        b"hello",
        &ALICE_KEY,
        now(),
    );
    headers.push(("Content-Length".into(), "5".into()));
    s.refused(
        &raw("POST", "/prod/pets", &headers, b"HELLO"),
        "The request signature we calculated does not match",
        "InvalidSignatureException",
    );

    // Signed 10 minutes ago.
    let r = s.refused(
        &signed_raw(
            &s,
            "GET",
            "/prod/pets",
            b"",
            &ALICE_KEY,
            now() - Duration::from_secs(600),
        ),
        "Signature expired: ",
        "InvalidSignatureException",
    );
    let m = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        m.contains(" is now earlier than ") && m.ends_with(" - 5 min.)"),
        "{m}"
    );
    // And 10 minutes ahead.
    s.refused(
        &signed_raw(
            &s,
            "GET",
            "/prod/pets",
            b"",
            &ALICE_KEY,
            now() + Duration::from_secs(600),
        ),
        "Signature not yet current: ",
        "InvalidSignatureException",
    );

    // An access key no principal holds.
    let unknown = Key {
        akid: "AKIAUNKNOWNUNKNOWN00",
        secret: SECRET,
        token: None,
    };
    s.refused(
        &signed_raw(&s, "GET", "/prod/pets", b"", &unknown, now()),
        "The security token included in the request is invalid.",
        "UnrecognizedClientException",
    );

    // Temporary credentials without their session token, or with another one.
    let no_token = Key {
        token: None,
        ..TEMP_KEY
    };
    s.refused(
        &signed_raw(&s, "GET", "/prod/pets", b"", &no_token, now()),
        "The security token included in the request is invalid.",
        "UnrecognizedClientException",
    );
    let other_token = Key {
        token: Some("another-token"),
        ..TEMP_KEY
    };
    s.refused(
        &signed_raw(&s, "GET", "/prod/pets", b"", &other_token, now()),
        "The security token included in the request is invalid.",
        "UnrecognizedClientException",
    );

    // A malformed Authorization header.
    s.refused(
        format!("GET /prod/pets HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x\r\n\r\n").as_bytes(),
        "Authorization header requires 'Signature' parameter.",
        "IncompleteSignatureException",
    );

    // Identity policies: an explicit Deny, and no Allow.
    s.refused(
        &signed_raw(&s, "DELETE", "/prod/pets", b"", &ALICE_KEY, now()),
        "",
        "AccessDeniedException",
    )
    .assert_gateway_error(
        403,
        &format!("User: {ALICE} is not authorized to perform: execute-api:Invoke on resource: {ARN}/DELETE/pets with an explicit deny"),
        "AccessDeniedException",
    );
    s.refused(
        &signed_raw(&s, "GET", "/prod/private", b"", &ALICE_KEY, now()),
        "",
        "AccessDeniedException",
    )
    .assert_gateway_error(
        403,
        &format!("User: {ALICE} is not authorized to perform: execute-api:Invoke on resource: {ARN}/GET/private"),
        "AccessDeniedException",
    );

    // The temporary principal with its token is let through (and may invoke /private).
    let r = s.send(&signed_raw(
        &s,
        "GET",
        "/prod/private",
        b"",
        &TEMP_KEY,
        now(),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn the_identity_is_in_the_access_log() {
    let s = setup("log");
    let r = s.send(&signed_raw(&s, "GET", "/prod/pets", b"", &ALICE_KEY, now()));
    assert_eq!(r.status, 200, "{}", r.describe());
    let id = r.header("x-amzn-RequestId").unwrap_or_default().to_owned();
    let r = s.send(&signed_raw(
        &s,
        "GET",
        "/prod/private",
        b"",
        &TEMP_KEY,
        now(),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let id2 = r.header("x-amzn-RequestId").unwrap_or_default().to_owned();
    // A refused policy check knows who called; an unsigned request has no identity.
    let r = s.send(&signed_raw(
        &s,
        "GET",
        "/prod/private",
        b"",
        &ALICE_KEY,
        now(),
    ));
    assert_eq!(r.status, 403);
    let id3 = r.header("x-amzn-RequestId").unwrap_or_default().to_owned();
    let r = s.send(format!("GET /prod/pets HTTP/1.1\r\nHost: {}\r\n\r\n", s.host()).as_bytes());
    let id4 = r.header("x-amzn-RequestId").unwrap_or_default().to_owned();

    let deadline = Instant::now() + Duration::from_secs(15);
    let lines = loop {
        let text = std::fs::read_to_string(&s.log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 4 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no line for {id} in {lines:?}"))
            .clone()
    };
    assert_eq!(
        line(&id),
        format!("{id} 200 {ALICE} {AKID} AIDAEXAMPLEALICE0001 123456789012")
    );
    assert_eq!(
        line(&id2),
        format!("{id2} 200 arn:aws:sts::123456789012:assumed-role/reader/session-1 {TEMP_AKID} session-1 123456789012")
    );
    assert_eq!(
        line(&id3),
        format!("{id3} 403 {ALICE} {AKID} AIDAEXAMPLEALICE0001 123456789012")
    );
    assert_eq!(line(&id4), format!("{id4} 403 - - - -"));
}

#[test]
fn a_request_signed_by_the_aws_sdk_signer_is_accepted() {
    use aws_credential_types::Credentials as AwsCredentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;

    let s = setup("oracle");
    let host = s.host();
    let body = br#"{"name":"rex","tags":["a b","c+d"]}"#;
    let identity = AwsCredentials::new(AKID, SECRET, None, None, "test").into();
    let signing = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
        ("x-amz-meta-note", "  spaced   out  "),
    ];
    let target = "/prod/pets?q=a%20b&p=%E6%97%A5";
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}{target}"),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(request, &signing).expect("signed").into_parts();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    all.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    all.push(("content-length".into(), body.len().to_string()));
    let r = s.send(&raw("POST", target, &all, body));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(upstream_body(&s.up, 0), body);
}

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `curl --aws-sigv4 ... ARGS`: (status code, body).
fn curl_sigv4(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--aws-sigv4",
            "aws:amz:us-east-1:execute-api",
        ])
        .args(["--user", &format!("{AKID}:{SECRET}")])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (
        code.trim().parse().unwrap_or(0),
        format!("{body} / stderr: {}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn curl_aws_sigv4_is_accepted_over_http1_and_h2c() {
    if !curl_available() {
        eprintln!("curl is not installed: skipped");
        return;
    }
    let s = setup("curl");
    let url = format!("http://{}/prod/pets", s.host());
    let (code, body) = curl_sigv4(&[&url]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl_sigv4(&["-d", "name=rex&age=3", &url]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(upstream_body(&s.up, 1), b"name=rex&age=3");
    // HTTP/2 with prior knowledge: `host` is `:authority`.
    let h2 = format!("http://127.0.0.1:{}/prod/pets", s.gw.port_of("h2c"));
    let (code, body) = curl_sigv4(&["--http2-prior-knowledge", &h2]);
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl_sigv4(&["--http2-prior-knowledge", "-d", "over h2", &h2]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(upstream_body(&s.up, 3), b"over h2");
    // A wrong secret is refused there too.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "--aws-sigv4",
            "aws:amz:us-east-1:execute-api",
        ])
        .args([
            "--user",
            &format!("{AKID}:wrong"),
            "-w",
            "\n%{http_code}",
            &h2,
        ])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n403"), "{text}");
    assert!(
        text.contains("The request signature we calculated does not match"),
        "{text}"
    );
    assert_eq!(s.up.requests().len(), 4);
}

#[test]
fn tollgate_load_sigv4_gets_only_2xx() {
    let s = setup("load");
    let url = format!("http://{}/prod/pets", s.host());
    let sigv4 = format!("{AKID}:{SECRET}:us-east-1");
    let (code, stdout, stderr) = cli(&[
        "load",
        &url,
        "--sigv4",
        &sigv4,
        "--method",
        "POST",
        "--body",
        "{\"n\":1}",
        "--requests",
        "300",
        "--connections",
        "4",
        "--warmup",
        "0",
        "--json",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(j["requests"], 300, "{j}");
    assert_eq!(j["status"]["2xx"], 300, "{j}");
    assert_eq!(s.up.requests().len(), 300);
    assert_eq!(upstream_body(&s.up, 299), b"{\"n\":1}");

    // Without --sigv4 every request is refused (and the upstream sees none of them).
    let (code, stdout, stderr) = cli(&[
        "load",
        &url,
        "--requests",
        "50",
        "--connections",
        "2",
        "--warmup",
        "0",
        "--json",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(j["status"]["4xx"], 50, "{j}");
    assert_eq!(s.up.requests().len(), 300);

    // A secret other than the principal's: all refused.
    let (_, stdout, _) = cli(&[
        "load",
        &url,
        "--sigv4",
        &format!("{AKID}:wrong:us-east-1"),
        "--requests",
        "20",
        "--connections",
        "1",
        "--warmup",
        "0",
        "--json",
        "--quiet",
    ]);
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(j["status"]["4xx"], 20, "{j}");
}
