//! The key service against a tiny std::net HTTP server on 127.0.0.1 that serves an OIDC
//! discovery document and a JWKS that changes during the tests; and the fetcher's parts.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::fetch::{cache_max_age, parse_response, Client, Url};
use super::mint::{jwks, SigningKey};
use super::*;

const NOW: i64 = 1_700_000_000;

struct Reply {
    status: u16,
    body: String,
    /// One more header line (`Name: value`).
    header: Option<String>,
}

/// What the test server answers per path, and how often each path was asked.
#[derive(Default)]
struct Routes {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

struct Server {
    port: u16,
    routes: Arc<Mutex<Routes>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&routes), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(c) = conn {
                    serve(c, &r);
                }
            }
        });
        Server {
            port,
            routes,
            stop,
            thread: Some(thread),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, path: &str, status: u16, body: &str, header: Option<&str>) {
        self.routes.lock().unwrap().replies.insert(
            path.to_owned(),
            Reply {
                status,
                body: body.to_owned(),
                header: header.map(str::to_owned),
            },
        );
    }

    fn hits(&self, path: &str) -> usize {
        *self.routes.lock().unwrap().hits.get(path).unwrap_or(&0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut c: TcpStream, routes: &Mutex<Routes>) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
    let mut routes = routes.lock().unwrap();
    *routes.hits.entry(path.clone()).or_default() += 1;
    let (status, body, cc) = match routes.replies.get(&path) {
        Some(r) => (r.status, r.body.clone(), r.header.clone()),
        None => (404, "{}".to_owned(), None),
    };
    drop(routes);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(cc) = cc {
        head.push_str(&format!("{cc}\r\n"));
    }
    head.push_str("\r\n");
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(body.as_bytes());
}

fn rsa_key(kid: &str, pem: &[u8]) -> SigningKey {
    SigningKey::from_pem(Algorithm::RS256, kid, pem).unwrap()
}

const RSA_A: &[u8] = include_bytes!("../../../tests/data/jwt/rsa2048-a.pem");
const RSA_B: &[u8] = include_bytes!("../../../tests/data/jwt/rsa2048-b.pem");

fn token(key: &SigningKey, iss: &str) -> String {
    key.sign(&json!({"iss": iss, "aud": "app", "exp": NOW + 600}))
        .unwrap()
}

fn policy(unknown_kid_interval: Duration) -> FetchPolicy {
    FetchPolicy {
        unknown_kid_interval,
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    }
}

#[test]
fn discovery_then_rotation_with_one_rate_limited_refresh() {
    let server = Server::start();
    let issuer = server.base();
    server.set(
        "/.well-known/openid-configuration",
        200,
        &json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys.json")}).to_string(),
        None,
    );
    let a = rsa_key("a", RSA_A);
    let b = rsa_key("b", RSA_B);
    server.set(
        "/keys.json",
        200,
        &jwks(&[&a]),
        Some("Cache-Control: public, max-age=3600"),
    );

    let service = KeyService::start(policy(Duration::from_secs(3600))).unwrap();
    // A trailing slash on the issuer is dropped for the discovery URL.
    let spec = KeySourceSpec::new(KeyLocation::Discovery {
        issuer: format!("{issuer}/"),
    });
    let keys = service.register(spec.clone());
    let same = service.register(spec);
    assert!(Arc::ptr_eq(&keys, &same), "one source, one fetch");
    service.sync();
    assert!(keys.is_loaded());
    assert_eq!(server.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits("/keys.json"), 1);

    // A report about a key set older than the published one asks for nothing (the
    // worker had looked before the first fetch landed).
    keys.report_unknown_kid(0);
    service.sync();
    assert_eq!(server.hits("/keys.json"), 1);
    assert!(!keys.refresh_pending());

    let v = Validation::new(issuer.clone(), Some(vec!["app".into()]));
    let mut auth = JwtAuthorizer::new(v, ClaimStyle::Http, Arc::clone(&keys), 1);
    let mut cache = TokenCache::new(64);
    assert!(auth
        .authorize(token(&a, &issuer).as_bytes(), &mut cache, NOW)
        .is_ok());

    // The issuer rotates to b. A b-token is first an unknown kid, which asks for one
    // refresh; once the service has run it, the b-token verifies and a is gone.
    server.set(
        "/keys.json",
        200,
        &jwks(&[&b]),
        Some("Cache-Control: max-age=3600"),
    );
    let tb = token(&b, &issuer);
    assert_eq!(
        auth.authorize(tb.as_bytes(), &mut cache, NOW),
        Err(JwtError::UnknownKid)
    );
    // More unknown kids before the service ran: still one report.
    assert_eq!(
        auth.authorize(tb.as_bytes(), &mut cache, NOW),
        Err(JwtError::UnknownKid)
    );
    service.sync();
    assert_eq!(server.hits("/keys.json"), 2);
    assert!(!keys.refresh_pending());
    assert!(auth.authorize(tb.as_bytes(), &mut cache, NOW).is_ok());
    assert_eq!(
        auth.authorize(token(&a, &issuer).as_bytes(), &mut cache, NOW),
        Err(JwtError::UnknownKid)
    );
    // That unknown kid asked again, within the hour's rate limit: deferred, not fetched.
    service.sync();
    assert_eq!(server.hits("/keys.json"), 2);
    assert!(keys.refresh_pending(), "the deferred refresh is still owed");
    drop((auth, keys, same));
    drop(service);
}

#[test]
fn stale_keys_stay_when_the_issuer_fails() {
    let server = Server::start();
    let a = rsa_key("a", RSA_A);
    server.set("/jwks", 200, &jwks(&[&a]), None);
    let service = KeyService::start(policy(Duration::ZERO)).unwrap();
    let keys = service.register(KeySourceSpec::new(KeyLocation::JwksUrl(format!(
        "{}/jwks",
        server.base()
    ))));
    service.sync();
    assert_eq!(keys.load().len(), 1);
    let generation = keys.generation();
    // The issuer now fails in every way; each unknown kid forces a refresh (no rate
    // limit here) and the last good keys stay.
    for (status, body) in [
        (500, "oops"),
        (200, "not json"),
        (200, "{\"keys\": 5}"),
        (404, ""),
    ] {
        server.set("/jwks", status, body, None);
        keys.report_unknown_kid(keys.generation());
        service.sync();
        assert_eq!(keys.load().len(), 1, "{status} {body}");
        assert_eq!(keys.generation(), generation);
    }
    let fetched = server.hits("/jwks");
    assert_eq!(fetched, 5);
    // The server gone entirely: connection refused, keys kept.
    let url = format!("{}/jwks", server.base());
    drop(server);
    keys.report_unknown_kid(keys.generation());
    service.sync();
    assert_eq!(keys.load().len(), 1);
    assert!(Client {
        timeout: Duration::from_secs(2),
        max_body: 1024,
        tls: None
    }
    .get(&url)
    .is_err());
}

#[test]
fn a_jwks_file_source_reloads_on_unknown_kid() {
    let dir = std::env::temp_dir().join(format!("tollgate-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.json");
    let a = rsa_key("a", RSA_A);
    let b = rsa_key("b", RSA_B);
    std::fs::write(&path, jwks(&[&a])).unwrap();
    let service = KeyService::start(policy(Duration::ZERO)).unwrap();
    let keys = service.register(KeySourceSpec::new(KeyLocation::JwksFile(path.clone())));
    service.sync();
    assert!(keys.load().find("a").is_some());
    std::fs::write(&path, jwks(&[&a, &b])).unwrap();
    keys.report_unknown_kid(keys.generation());
    service.sync();
    assert!(keys.load().find("b").is_some());
    assert_eq!(keys.load().removal_epoch(), 0);
    // A missing file keeps the keys.
    std::fs::remove_file(&path).unwrap();
    keys.report_unknown_kid(keys.generation());
    service.sync();
    assert_eq!(keys.load().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refresh_times_follow_max_age_within_bounds() {
    let p = FetchPolicy::default();
    assert_eq!(p.ttl(None), Duration::from_secs(7200));
    assert_eq!(p.ttl(Some(600)), Duration::from_secs(600));
    assert_eq!(p.ttl(Some(0)), Duration::from_secs(60));
    assert_eq!(p.ttl(Some(5)), Duration::from_secs(60));
    assert_eq!(p.ttl(Some(10_000_000)), Duration::from_secs(86_400));
    assert_eq!(p.backoff(1), Duration::from_secs(5));
    assert_eq!(p.backoff(2), Duration::from_secs(10));
    assert_eq!(p.backoff(4), Duration::from_secs(40));
    assert_eq!(p.backoff(7), Duration::from_secs(300));
    assert_eq!(p.backoff(u32::MAX), Duration::from_secs(300));
    assert_eq!(cache_max_age("public, max-age=300"), Some(300));
    assert_eq!(cache_max_age("max-age=\"60\", must-revalidate"), Some(60));
    assert_eq!(cache_max_age("no-cache, max-age=300"), Some(0));
    assert_eq!(cache_max_age("no-store"), Some(0));
    assert_eq!(cache_max_age("private"), None);
    assert_eq!(cache_max_age("max-age=abc"), None);
}

#[test]
fn a_max_age_refresh_happens_without_being_asked() {
    let server = Server::start();
    let a = rsa_key("a", RSA_A);
    let b = rsa_key("b", RSA_B);
    server.set("/jwks", 200, &jwks(&[&a]), Some("Cache-Control: max-age=0"));
    let service = KeyService::start(FetchPolicy {
        min_ttl: Duration::from_millis(20),
        ..policy(Duration::from_secs(3600))
    })
    .unwrap();
    let keys = service.register(KeySourceSpec::new(KeyLocation::JwksUrl(format!(
        "{}/jwks",
        server.base()
    ))));
    service.sync();
    server.set(
        "/jwks",
        200,
        &jwks(&[&b]),
        Some("Cache-Control: max-age=3600"),
    );
    // Wait (bounded) for the expiry-driven refresh: no unknown kid is reported.
    let mut waited = 0;
    while keys.load().find("b").is_none() && waited < 500 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert!(keys.load().find("b").is_some());
    assert_eq!(keys.load().removal_epoch(), 1, "a was dropped");
    // Now fresh for an hour: no more fetches.
    let n = server.hits("/jwks");
    std::thread::sleep(Duration::from_millis(100));
    service.sync();
    assert_eq!(server.hits("/jwks"), n);
}

#[test]
fn urls_and_responses_parse_strictly() {
    let u = Url::parse("https://Issuer.Example/pool/.well-known/jwks.json?x=1#frag").unwrap();
    assert_eq!(
        (u.https, u.host.as_str(), u.port),
        (true, "issuer.example", 443)
    );
    assert_eq!(u.target, "/pool/.well-known/jwks.json?x=1");
    let u = Url::parse("http://[::1]:8080").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.target.as_str()),
        ("::1", 8080, "/")
    );
    assert!(u.is_loopback());
    let u = Url::parse("http://localhost:9?q").unwrap();
    assert_eq!(u.target, "/?q");
    assert!(u.is_loopback());
    for bad in [
        "ftp://x/",
        "x/y",
        "https://",
        "https://u:p@host/",
        "http://h:0/",
        "http://h:99999/",
        "http://[::1/",
    ] {
        assert!(Url::parse(bad).is_err(), "{bad}");
    }
    // Plain http to a non-loopback host is refused before any connection.
    let client = Client {
        timeout: Duration::from_secs(1),
        max_body: 1024,
        tls: None,
    };
    let e = client.get("http://issuer.example/jwks").unwrap_err();
    assert!(e.0.contains("loopback"), "{e}");
    // https without trust configured fails cleanly.
    assert!(client.get("https://127.0.0.1:1/jwks").is_err());

    let (r, loc) = parse_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=30\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        100,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.body.as_slice(), r.max_age, loc),
        (200, &b"abcde"[..], Some(30), None)
    );
    let (r, loc) = parse_response(
        b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n",
        100,
    )
    .unwrap();
    assert_eq!((r.status, loc.as_deref()), (302, Some("/next")));
    let (r, _) = parse_response(b"HTTP/1.0 200 OK\r\n\r\nuntil eof", 100).unwrap();
    assert_eq!(r.body, b"until eof");
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"garbage",
    ] {
        assert!(
            parse_response(bad, 100).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Over the body limit.
    assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n0123456789", 5).is_err());
}

#[test]
fn redirects_are_followed_a_few_times() {
    let server = Server::start();
    let base = server.base();
    server.set("/a", 200, "{}", None);
    server.set("/r1", 302, "", Some("Location: /r2"));
    server.set("/r2", 301, "", Some(&format!("Location: {base}/a")));
    server.set("/loop", 307, "", Some("Location: /loop"));
    server.set("/away", 308, "", Some("Location: http://issuer.example/a"));
    let client = Client {
        timeout: Duration::from_secs(5),
        max_body: 1024,
        tls: None,
    };
    let r = client.get(&format!("{base}/r1")).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    assert_eq!(
        (server.hits("/r1"), server.hits("/r2"), server.hits("/a")),
        (1, 1, 1)
    );
    let e = client.get(&format!("{base}/loop")).unwrap_err();
    assert!(e.0.contains("redirects"), "{e}");
    assert_eq!(server.hits("/loop"), 4);
    // A redirect to plain http elsewhere is refused like any such URL.
    let e = client.get(&format!("{base}/away")).unwrap_err();
    assert!(e.0.contains("loopback"), "{e}");
    let r = client.get(&format!("{base}/missing")).unwrap();
    assert_eq!(r.status, 404);
}
