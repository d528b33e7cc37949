//! JWT (HTTP API) and COGNITO_USER_POOLS (REST API) authorizers against the real gateway.
//!
//! The issuer is `tollgate demo-upstream`, which serves the development key's OIDC
//! discovery document and JWKS (examples/jwt); tokens are minted here with the library's
//! signer. The integration is a counting upstream that must see no request on any
//! refusal. Claims reach `$context` (checked through a stage's access log).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use tollgate::auth::jwt::mint::{jwks, SigningKey};
use tollgate::auth::jwt::Algorithm;

const DEV_KEY: &[u8] = include_bytes!("../examples/jwt/dev-rsa.pem");
const OTHER_KEY: &[u8] = include_bytes!("data/jwt/rsa2048-b.pem");
const DEV_KID: &str = "tollgate-dev-rsa-1";
const DEADLINE: Duration = Duration::from_secs(15);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn dev_key() -> SigningKey {
    SigningKey::from_pem(Algorithm::RS256, DEV_KID, DEV_KEY).expect("dev key")
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("authorizer-jwt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP API (JWT authorizer by discovery) and a REST API (Cognito authorizer with a
/// JWKS URL), both in front of `upstream`, each stage logging its authorizer's view.
fn config(issuer: &str, upstream: &str, log: &Path) -> String {
    let log = log.display();
    format!(
        r#"listeners:
  - {{name: http, bind: 127.0.0.1:0, default_api: h}}
  - {{name: rest, bind: 127.0.0.1:0, default_api: r}}
apis:
  - id: h
    type: HTTP
    authorizers:
      - name: idp
        type: JWT
        jwt: {{issuer: '{issuer}', audience: [demo-app, other-app]}}
    routes:
      - route: GET /open
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/open'}}
      - route: GET /orders
        authorization_type: JWT
        authorizer: idp
        authorization_scopes: [orders/read, orders/admin]
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/orders'}}
      - route: GET /me
        authorization_type: JWT
        authorizer: idp
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/me'}}
    stages:
      - name: prod
        access_log: {{destination: '{log}', format: 'http $context.routeKey $context.authorizer.principalId [$context.authorizer.jwt.claims.sub] [$context.authorizer.jwt.claims.groups] [$context.authorizer.jwt.scopes] [$context.authorizer.error] $context.requestId'}}
  - id: r
    type: REST
    authorizers:
      - name: pool
        type: COGNITO_USER_POOLS
        jwt: {{issuer: '{issuer}', jwks_uri: '{issuer}/.well-known/jwks.json'}}
    routes:
      - route: GET /profile
        authorization_type: COGNITO_USER_POOLS
        authorizer: pool
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/profile'}}
    stages:
      - name: prod
        access_log: {{destination: '{log}', format: 'rest $context.authorizer.claims.sub [$context.authorizer.claims.groups] [$context.authorizer.claims.exp] $context.requestId'}}
"#
    )
}

fn bearer(gw: &Gateway, listener: &str, target: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let mut c = Client::connect(gw.port_of(listener));
    c.request(&req("GET", target, &headers, b""))
}

/// Send until the gateway has the issuer's keys (the first requests may come before the
/// key service's first fetch).
fn wait_for_keys(gw: &Gateway, listener: &str, target: &str, token: &str) -> Response {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = bearer(gw, listener, target, Some(token));
        if r.status != 401 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "sub": "alice", "aud": "demo-app", "iat": now() - 5,
        "exp": now() + 600, "scope": "orders/read profile", "groups": ["admin", "ops"],
    })
}

fn with(mut c: Value, k: &str, v: Value) -> Value {
    c[k] = v;
    c
}

fn www(desc: &str, scopes: &str) -> String {
    format!("Bearer scope=\"{scopes}\" error=\"invalid_token\" error_description=\"{desc}\"")
}

#[test]
fn jwt_and_cognito_authorizers_end_to_end() {
    let idp = DemoUpstream::start();
    let issuer = format!("http://{}", idp.addr());
    let upstream = CountingUpstream::start();
    let scratch = Scratch::new("e2e");
    let log = scratch.file("access.log");
    let gw = Gateway::start(&config(
        &issuer,
        &format!("127.0.0.1:{}", upstream.port),
        &log,
    ));
    let key = dev_key();
    let good = key.sign(&claims(&issuer)).expect("sign");

    let r = wait_for_keys(&gw, "http", "/prod/orders", &good);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body_str(), COUNTING_BODY);
    // `Bearer ` is optional; the cached token is served again.
    let mut c = Client::connect(gw.port_of("http"));
    let r = c.request(&req(
        "GET",
        "/prod/orders",
        &[("authorization", &good)],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());

    let reached = upstream.connections();
    let bytes = upstream.bytes();
    let s = "orders/read orders/admin";

    // Refusals: 401 with API Gateway's body and www-authenticate, nothing upstream.
    let r = bearer(&gw, "http", "/prod/orders", None);
    assert_eq!(r.status, 401, "{}", r.describe());
    assert_eq!(r.body_str(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer scope=\"{s}\"").as_str())
    );

    let expired = key
        .sign(&with(claims(&issuer), "exp", json!(now() - 1)))
        .expect("sign");
    let wrong_aud = key
        .sign(&with(claims(&issuer), "aud", json!("someone-else")))
        .expect("sign");
    let wrong_iss = key
        .sign(&with(claims(&issuer), "iss", json!("https://evil.example")))
        .expect("sign");
    let not_yet = key
        .sign(&with(claims(&issuer), "nbf", json!(now() + 300)))
        .expect("sign");
    let forged = SigningKey::from_pem(Algorithm::RS256, DEV_KID, OTHER_KEY)
        .expect("other key")
        .sign(&claims(&issuer))
        .expect("sign");
    let unknown_kid = SigningKey::from_pem(Algorithm::RS256, "nobody", OTHER_KEY)
        .expect("other key")
        .sign(&claims(&issuer))
        .expect("sign");
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": DEV_KID})),
        b64(&claims(&issuer))
    );
    let hs256 = {
        use ring::hmac;
        let signed = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "kid": DEV_KID})),
            b64(&claims(&issuer))
        );
        let secret = jwks(&[&key]);
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            signed.as_bytes(),
        );
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    };
    // One signature character changed (not the last, whose low bits must stay zero).
    let tampered = {
        let mut t = good.clone().into_bytes();
        let i = t.len() - 10;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).expect("ascii")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", expired, "the token has expired"),
        (
            "wrong aud",
            wrong_aud,
            "the token does not have a valid audience",
        ),
        (
            "wrong iss",
            wrong_iss,
            "the token does not have a valid issuer",
        ),
        ("nbf ahead", not_yet, "the token is not valid yet"),
        ("forged", forged, "the token has an invalid signature"),
        (
            "unknown kid",
            unknown_kid,
            "the token's kid does not match any key of the issuer",
        ),
        (
            "alg none",
            alg_none,
            "the token's signing algorithm is not supported",
        ),
        (
            "HS256 with the public key",
            hs256,
            "the token's signing algorithm is not supported",
        ),
        ("garbage", "not-a-token".into(), "the token is malformed"),
        ("tampered", tampered, "the token has an invalid signature"),
    ];
    for (what, token, desc) in &cases {
        let r = bearer(&gw, "http", "/prod/orders", Some(token));
        assert_eq!(r.status, 401, "{what}: {}", r.describe());
        assert_eq!(r.body_str(), r#"{"message":"Unauthorized"}"#, "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(www(desc, s).as_str()),
            "{what}"
        );
    }

    // A valid token without the route's scopes: 403 Forbidden; a route without scopes
    // takes it.
    let no_scope = key
        .sign(&with(claims(&issuer), "scope", json!("profile")))
        .expect("sign");
    let r = bearer(&gw, "http", "/prod/orders", Some(&no_scope));
    assert_eq!(r.status, 403, "{}", r.describe());
    assert_eq!(r.body_str(), r#"{"message":"Forbidden"}"#);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer scope=\"{s}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scope\"").as_str())
    );
    assert_eq!(
        upstream.connections(),
        reached,
        "a refusal reached the upstream"
    );
    assert_eq!(upstream.bytes(), bytes, "a refusal reached the upstream");

    let r = bearer(&gw, "http", "/prod/me", Some(&no_scope));
    assert_eq!(r.status, 200, "{}", r.describe());
    // `client_id` stands in for a missing `aud` (Cognito access tokens).
    let mut access = claims(&issuer);
    access.as_object_mut().expect("object").remove("aud");
    access["client_id"] = json!("other-app");
    let r = bearer(
        &gw,
        "http",
        "/prod/me",
        Some(&key.sign(&access).expect("sign")),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = bearer(&gw, "http", "/prod/open", None);
    assert_eq!(r.status, 200, "{}", r.describe());

    // REST's Cognito authorizer: no audience configured, 401 without www-authenticate.
    let r = wait_for_keys(&gw, "rest", "/prod/profile", &good);
    assert_eq!(r.status, 200, "{}", r.describe());
    let before = upstream.connections();
    for token in [None, Some(cases[0].1.as_str()), Some("x.y.z")] {
        let r = bearer(&gw, "rest", "/prod/profile", token);
        assert_eq!(r.status, 401, "{}", r.describe());
        assert_eq!(r.body_str(), r#"{"message":"Unauthorized"}"#);
        assert_eq!(r.header("www-authenticate"), None);
    }
    assert_eq!(upstream.connections(), before);

    // The claims in $context, as each API type renders them.
    let lines = wait_lines(&log, 1);
    let http_ok = lines
        .iter()
        .find(|l| l.starts_with("http GET /orders alice "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        http_ok
            .starts_with("http GET /orders alice [alice] [[admin ops]] [orders/read profile] [-] "),
        "{http_ok}"
    );
    let exp_line = lines
        .iter()
        .find(|l| l.starts_with("http GET /orders") && l.contains("has expired"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        exp_line.starts_with("http GET /orders - [-] [-] [-] [the token has expired] "),
        "{exp_line}"
    );
    let rest_ok = lines
        .iter()
        .find(|l| l.starts_with("rest alice"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(rest_ok.starts_with("rest alice [admin,ops] ["), "{rest_ok}");
    assert!(
        rest_ok.ends_with(" UTC 20") || rest_ok.contains(" UTC 2"),
        "{rest_ok}"
    );
}

#[test]
fn a_rotated_key_in_a_jwks_file_is_picked_up_on_its_first_unknown_kid() {
    let scratch = Scratch::new("rotation");
    let keys = scratch.file("keys.json");
    let old = dev_key();
    let new = SigningKey::from_pem(Algorithm::RS256, "rotated-2", OTHER_KEY).expect("key");
    std::fs::write(&keys, jwks(&[&old])).expect("write jwks");
    let upstream = CountingUpstream::start();
    let yaml = format!(
        r#"listeners:
  - {{name: http, bind: 127.0.0.1:0, default_api: h}}
apis:
  - id: h
    type: HTTP
    authorizers:
      - name: idp
        type: JWT
        jwt: {{issuer: 'https://idp.example', audience: [demo-app], jwks_file: '{}'}}
    routes:
      - route: GET /me
        authorization_type: JWT
        authorizer: idp
        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{}/me'}}
    stages: [{{name: prod}}]
"#,
        keys.display(),
        upstream.port
    );
    let gw = Gateway::start(&yaml);
    let iss = "https://idp.example";
    let t_old = old.sign(&claims(iss)).expect("sign");
    let t_new = new.sign(&claims(iss)).expect("sign");
    let r = wait_for_keys(&gw, "http", "/prod/me", &t_old);
    assert_eq!(r.status, 200, "{}\n{}", r.describe(), gw.stderr());

    // The issuer rotates: the new key joins, the old one leaves. The new token's unknown
    // kid makes the key service re-read the file at once. (Had a token with the new kid
    // come before the file changed, that refresh would have been spent, and the next one
    // would wait for the rate limit: one per 30 s per source.)
    std::fs::write(&keys, jwks(&[&new])).expect("write jwks");
    let r = bearer(&gw, "http", "/prod/me", Some(&t_new));
    let r = if r.status == 401 {
        wait_for_keys(&gw, "http", "/prod/me", &t_new)
    } else {
        r
    };
    assert_eq!(r.status, 200, "{}", r.describe());
    // The old token was cached; its key is gone, so it is refused now.
    let r = bearer(&gw, "http", "/prod/me", Some(&t_old));
    assert_eq!(r.status, 401, "{}", r.describe());
    assert_eq!(
        r.header("www-authenticate"),
        Some(www("the token's kid does not match any key of the issuer", "").as_str())
    );
}
