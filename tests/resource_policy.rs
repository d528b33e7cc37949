//! REST APIs' resource policies against the real binary on loopback (docs/BEHAVIOUR.md,
//! "Resource policies in the request path"): `aws:SourceIp` by IPv4 and IPv6 CIDR (deny
//! lists and allow lists), path- and method-scoped statements, the listener standing for
//! `aws:SourceVpce` (API Gateway's private APIs), a bad document refused by `tollgate
//! check` with its key path, and the combination with a Lambda authorizer (explicit deny
//! before the authorizer is called, then API Gateway's Table A).
//!
//! Every refusal is checked against a counting upstream that must not have been reached,
//! and every test has an allowed request beside its refusals, through the same gateway and
//! upstream, that does reach it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;

const ACCOUNT: &str = "123456789012";
const DENIED: &str = "AccessDeniedException";

/// `arn:aws:execute-api:us-east-1:123456789012:{api}/prod/{method}{path}`
fn arn(api: &str, method: &str, path: &str) -> String {
    format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/prod/{method}{path}")
}

/// The resource policy's 403 text for an anonymous caller.
fn anonymous(api: &str, method: &str, path: &str, explicit: bool) -> String {
    format!(
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: {}{}",
        arn(api, method, path),
        if explicit {
            " with an explicit deny"
        } else {
            ""
        }
    )
}

/// An API `id` on stage `prod` whose routes `GET /path`, `GET /admin/{x}` and
/// `ANY /admin/{x}` proxy to the counting upstream, with `policy` (YAML lines at the
/// policy's indentation) as its resource policy; `extra` is spliced into the API (e.g.
/// authorizers) and `auth` into each route.
fn api(id: &str, up: u16, policy: &str, extra: &str, auth: &str) -> String {
    format!(
        "  - id: {id}
{extra}    routes:
      - route: GET /path
{auth}        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{up}/path'}}
      - route: ANY /admin/{{x}}
{auth}        integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:{up}/admin'}}
    stages: [{{name: prod}}]
    resource_policy:
{policy}"
    )
}

/// Allow everyone everything, then the `deny` statement's Effect/Resource/Condition lines.
fn allow_all_but(deny: &str) -> String {
    format!(
        "      Version: '2012-10-17'
      Statement:
        - Effect: Allow
          Principal: '*'
          Action: execute-api:Invoke
          Resource: execute-api:/*
        - Effect: Deny
          Principal: '*'
          Action: execute-api:Invoke
{deny}"
    )
}

/// Allow everyone under `condition` (one YAML flow mapping), nothing else.
fn allow_only(condition: &str) -> String {
    format!(
        "      Version: '2012-10-17'
      Statement:
        - Effect: Allow
          Principal: '*'
          Action: execute-api:Invoke
          Resource: execute-api:/*
          Condition: {condition}
"
    )
}

/// A listener named `name` on `bind` serving `api` by default.
fn listener(name: &str, bind: &str, api: &str) -> String {
    format!("  - name: {name}\n    bind: '{bind}'\n    default_api: {api}\n")
}

fn config(listeners: &[String], apis: &[String]) -> String {
    format!("listeners:\n{}apis:\n{}", listeners.concat(), apis.concat())
}

/// Requests the counting upstream received (its connections are kept alive and reused).
fn requests(up: &CountingUpstream) -> usize {
    let line_end = b" HTTP/1.1\r\n";
    let received = up.received();
    received
        .windows(line_end.len())
        .filter(|w| *w == line_end)
        .count()
}

#[track_caller]
fn assert_reached(r: &Response, up: &CountingUpstream, requests_so_far: usize) {
    assert_eq!(
        r.status,
        200,
        "expected the upstream's 200: {}",
        r.describe()
    );
    assert_eq!(r.body_str(), COUNTING_BODY, "{}", r.describe());
    assert_eq!(
        requests(up),
        requests_so_far,
        "requests the upstream received"
    );
}

#[test]
fn ip_deny_by_cidr() {
    let up = CountingUpstream::start();
    let deny_local = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {IpAddress: {aws:SourceIp: [127.0.0.1/32, '2001:db8::/32']}}
",
    );
    let deny_elsewhere = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {IpAddress: {aws:SourceIp: [10.0.0.0/8, '::1/128']}}
",
    );
    let gw = Gateway::start(&config(
        &[
            listener("shop", "127.0.0.1:0", "shop"),
            listener("open", "127.0.0.1:0", "open"),
        ],
        &[
            api("shop", up.port, &deny_local, "", ""),
            api("open", up.port, &deny_elsewhere, "", ""),
        ],
    ));

    let shop = gw.port_of("shop");
    for (method, path) in [
        ("GET", "/path"),
        ("POST", "/admin/x"),
        ("DELETE", "/admin/y"),
    ] {
        let r = Client::connect(shop).request(&req(method, &format!("/prod{path}"), &[], b""));
        r.assert_gateway_error(403, &anonymous("shop", method, path, true), DENIED);
    }
    assert_eq!(requests(&up), 0, "a denied request reached the upstream");

    // The same routes on an API whose Deny names other addresses.
    let r = Client::connect(gw.port_of("open")).request(&get("/prod/path"));
    assert_reached(&r, &up, 1);
}

#[test]
fn ip_allow_list_v4() {
    let up = CountingUpstream::start();
    let gw = Gateway::start(&config(
        &[
            listener("elsewhere", "127.0.0.1:0", "elsewhere"),
            listener("local", "127.0.0.1:0", "local"),
        ],
        &[
            api(
                "elsewhere",
                up.port,
                &allow_only("{IpAddress: {aws:SourceIp: 127.0.0.2/32}}"),
                "",
                "",
            ),
            api(
                "local",
                up.port,
                &allow_only("{IpAddress: {aws:SourceIp: [192.0.2.0/24, 127.0.0.0/30]}}"),
                "",
                "",
            ),
        ],
    ));
    // Not on the list: no statement applies, an implicit deny (no "explicit deny").
    let r = Client::connect(gw.port_of("elsewhere")).request(&get("/prod/path"));
    r.assert_gateway_error(403, &anonymous("elsewhere", "GET", "/path", false), DENIED);
    assert_eq!(requests(&up), 0, "a refused request reached the upstream");

    let r = Client::connect(gw.port_of("local")).request(&get("/prod/path"));
    assert_reached(&r, &up, 1);
}

/// Whether ::1 can be bound here (a loopback without IPv6 cannot).
fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn ip_allow_list_v6() {
    if !ipv6_loopback() {
        eprintln!(
            "SKIPPED ip_allow_list_v6: ::1 is not configured on this machine \
             (binding [::1]:0 failed), so no IPv6 listener can be tested"
        );
        return;
    }
    let up = CountingUpstream::start();
    let gw = Gateway::start(&config(
        &[
            listener("v6", "[::1]:0", "six"),
            listener("v6other", "[::1]:0", "other"),
        ],
        &[
            api(
                "six",
                up.port,
                &allow_only("{IpAddress: {aws:SourceIp: ['::1/128']}}"),
                "",
                "",
            ),
            api(
                "other",
                up.port,
                // The IPv4 loopback and another IPv6 block: not the client.
                &allow_only("{IpAddress: {aws:SourceIp: [127.0.0.1/32, 'fe80::/10']}}"),
                "",
                "",
            ),
        ],
    ));
    let v6 =
        |port: u16| Client::from_stream(TcpStream::connect(("::1", port)).expect("connect [::1]"));
    let r = v6(gw.port_of("v6other")).request(&get("/prod/path"));
    r.assert_gateway_error(403, &anonymous("other", "GET", "/path", false), DENIED);
    assert_eq!(requests(&up), 0, "a refused request reached the upstream");

    let r = v6(gw.port_of("v6")).request(&get("/prod/path"));
    assert_reached(&r, &up, 1);
}

#[test]
fn path_and_method_scoped_deny() {
    let up = CountingUpstream::start();
    let policy = allow_all_but(
        "          Resource: [execute-api:/prod/GET/admin/*, execute-api:/*/DELETE/*]
",
    );
    let gw = Gateway::start(&config(
        &[listener("public", "127.0.0.1:0", "scoped")],
        &[api("scoped", up.port, &policy, "", "")],
    ));
    let mut reached = 0;
    for (method, path, denied) in [
        ("GET", "/admin/users", true),
        ("DELETE", "/admin/users", true),
        ("GET", "/path", false),
        ("POST", "/admin/users", false),
        ("PUT", "/admin/users", false),
    ] {
        let r = gw.send(&req(method, &format!("/prod{path}"), &[], b""));
        if denied {
            r.assert_gateway_error(403, &anonymous("scoped", method, path, true), DENIED);
            assert_eq!(
                requests(&up),
                reached,
                "{method} {path} reached the upstream"
            );
        } else {
            reached += 1;
            assert_reached(&r, &up, reached);
        }
    }
}

#[test]
fn listener_as_source_vpce_private_api() {
    let up = CountingUpstream::start();
    // API Gateway's documented private-API policy: allow everyone, deny what does not come
    // through the VPC endpoint (here the listener named `internal`).
    let private = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {StringNotEquals: {aws:SourceVpce: internal}}
",
    );
    // The allow-list form: only through `internal`; elsewhere nothing applies.
    let listed = allow_only("{StringEquals: {aws:SourceVpce: internal}}");
    let gw = Gateway::start(&config(
        &[
            listener("internal", "127.0.0.1:0", "private"),
            listener("public", "127.0.0.1:0", "private"),
            listener("internal2", "127.0.0.1:0", "listed"),
            listener("public2", "127.0.0.1:0", "listed"),
        ],
        &[
            api("private", up.port, &private, "", ""),
            api("listed", up.port, &listed, "", ""),
        ],
    ));
    let r = Client::connect(gw.port_of("public")).request(&get("/prod/path"));
    r.assert_gateway_error(403, &anonymous("private", "GET", "/path", true), DENIED);
    // `internal2` is not `internal`: the names compare exactly.
    for name in ["public2", "internal2"] {
        let r = Client::connect(gw.port_of(name)).request(&get("/prod/path"));
        r.assert_gateway_error(403, &anonymous("listed", "GET", "/path", false), DENIED);
    }
    assert_eq!(requests(&up), 0, "a refused request reached the upstream");

    let r = Client::connect(gw.port_of("internal")).request(&get("/prod/path"));
    assert_reached(&r, &up, 1);
}

#[test]
fn bad_document_refused_by_check_with_its_key_path() {
    let policy = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {IpAddress: {aws:SourceIp: 10.0.0.300/8}}
",
    );
    let text = config(
        &[listener("public", "127.0.0.1:0", "ok")],
        &[
            api(
                "ok",
                9,
                &allow_only("{IpAddress: {aws:SourceIp: 10.0.0.0/8}}"),
                "",
                "",
            ),
            api("bad", 9, &policy, "", ""),
        ],
    );
    let file = write_temp("bad-policy.yaml", &text);
    let (code, out, err) = cli(&["check", &file.display()]);
    assert_ne!(code, 0, "check accepted it; stdout {out:?} stderr:\n{err}");
    let line = err
        .lines()
        .find(|l| l.contains("apis[1].resource_policy"))
        .unwrap_or_else(|| panic!("no error at apis[1].resource_policy in:\n{err}"));
    assert!(
        line.contains("Statement[1]: Condition.IpAddress.aws:SourceIp")
            && line.contains("10.0.0.300/8"),
        "{line}"
    );
    assert!(
        !err.contains("apis[0]"),
        "the good policy was refused:\n{err}"
    );

    // The same file with the CIDR fixed is valid.
    let fixed = write_temp(
        "fixed-policy.yaml",
        &text.replace("10.0.0.300/8", "10.0.0.0/8"),
    );
    let (code, out, err) = cli(&["check", &fixed.display()]);
    assert_eq!(code, 0, "stdout {out:?} stderr:\n{err}");
}

// ------------------------------------------------------------------ Lambda authorizer

/// A Lambda-style authorizer endpoint (the event as a JSON POST, the REST answer back)
/// that counts its calls. The answer depends on the token found in the event:
/// `allow-all` -> Allow on `*`; `deny-all` -> Deny on `*`; `allow-other` -> Allow on
/// another API only (no statement applies to the request: an implicit deny).
struct Authorizer {
    port: u16,
    calls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Authorizer {
    fn start() -> Authorizer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind authorizer");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let calls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (calls.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let c = c.clone();
                        std::thread::spawn(move || serve_authorizer(stream, &c));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Authorizer {
            port,
            calls,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Authorizer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// Keep-alive: one answer per request (head, Content-Length body) until EOF.
fn serve_authorizer(stream: TcpStream, calls: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        calls.fetch_add(1, Ordering::SeqCst);
        let event = String::from_utf8_lossy(&body);
        let (effect, resource) = if event.contains("deny-all") {
            ("Deny", "*".to_string())
        } else if event.contains("allow-other") {
            (
                "Allow",
                format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:nothere/*"),
            )
        } else if event.contains("allow-all") {
            ("Allow", "*".to_string())
        } else {
            let _ = writer.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
            continue;
        };
        let answer = format!(
            r#"{{"principalId":"alice","policyDocument":{{"Version":"2012-10-17","Statement":[{{"Action":"execute-api:Invoke","Effect":"{effect}","Resource":"{resource}"}}]}}}}"#
        );
        let _ = writer.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .as_bytes(),
        );
    }
}

/// An API whose routes use a REQUEST authorizer on the `X-Token` header (no result cache:
/// each request asks), answered by `authorizer`.
fn lambda_api(id: &str, up: u16, authorizer: u16, policy: &str) -> String {
    let extra = format!(
        "    authorizers:
      - name: gate
        type: REQUEST
        identity_source: [method.request.header.X-Token]
        lambda: {{uri: 'http://127.0.0.1:{authorizer}/authorize', result_ttl: 0s}}
"
    );
    let auth = "        authorization_type: CUSTOM\n        authorizer: gate\n";
    api(id, up, policy, &extra, auth)
}

fn with_token(path: &str, token: &str) -> Vec<u8> {
    req("GET", path, &[("X-Token", token)], b"")
}

/// API Gateway checks the resource policy for an explicit deny before it calls a Lambda
/// authorizer: the authorizer is not asked, the upstream not reached.
#[test]
fn explicit_deny_before_the_lambda_authorizer_is_called() {
    let up = CountingUpstream::start();
    let authorizer = Authorizer::start();
    let deny_local = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {IpAddress: {aws:SourceIp: 127.0.0.0/8}}
",
    );
    let gw = Gateway::start(&config(
        &[listener("public", "127.0.0.1:0", "guarded")],
        &[lambda_api("guarded", up.port, authorizer.port, &deny_local)],
    ));
    for token in ["allow-all", "deny-all", "unknown"] {
        let r = gw.send(&with_token("/prod/path", token));
        r.assert_gateway_error(403, &anonymous("guarded", "GET", "/path", true), DENIED);
    }
    // Without the identity source too: the resource policy speaks before the 401.
    let r = gw.send(&get("/prod/path"));
    r.assert_gateway_error(403, &anonymous("guarded", "GET", "/path", true), DENIED);
    assert_eq!(authorizer.calls(), 0, "the authorizer was called");
    assert_eq!(requests(&up), 0, "a denied request reached the upstream");
}

/// Table A with a Lambda authorizer: either the authorizer's policy or the resource policy
/// may allow; an explicit deny in either refuses, with the text of the one that denied.
#[test]
fn lambda_authorizer_combined_with_the_resource_policy() {
    let up = CountingUpstream::start();
    let authorizer = Authorizer::start();
    // `local` allows this client (127.0.0.1); `remote` allows only another address, so for
    // us it neither allows nor denies.
    let local = allow_only("{IpAddress: {aws:SourceIp: 127.0.0.1/32}}");
    let remote = allow_only("{IpAddress: {aws:SourceIp: 127.0.0.2/32}}");
    let gw = Gateway::start(&config(
        &[
            listener("local", "127.0.0.1:0", "local"),
            listener("remote", "127.0.0.1:0", "remote"),
        ],
        &[
            lambda_api("local", up.port, authorizer.port, &local),
            lambda_api("remote", up.port, authorizer.port, &remote),
        ],
    ));
    let send = |listener: &str, token: &str| {
        Client::connect(gw.port_of(listener)).request(&with_token("/prod/path", token))
    };
    let explicit = "User is not authorized to access this resource with an explicit deny";
    let implicit = "User is not authorized to access this resource";

    // Authorizer Deny: refused whatever the resource policy says.
    send("local", "deny-all").assert_gateway_error(403, explicit, DENIED);
    send("remote", "deny-all").assert_gateway_error(403, explicit, DENIED);
    // Neither allows.
    send("remote", "allow-other").assert_gateway_error(403, implicit, DENIED);
    assert_eq!(authorizer.calls(), 3);
    assert_eq!(requests(&up), 0, "a refused request reached the upstream");

    // The resource policy allows what the authorizer's policy does not cover.
    let r = send("local", "allow-other");
    assert_reached(&r, &up, 1);
    // The authorizer allows what the resource policy does not cover.
    let r = send("remote", "allow-all");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(authorizer.calls(), 5);
}

// ------------------------------------------------------------------ IAM callers

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const CAROL: &str = "arn:aws:iam::123456789012:user/carol";
/// In another account.
const BOB: &str = "arn:aws:iam::210987654321:user/bob";

/// (access key id, secret) of each principal.
fn key_of(arn: &str) -> (&'static str, &'static str) {
    match arn {
        ALICE => (
            "AKIAALICEEXAMPLE0001",
            "alice/K7MDENG/bPxRfiCYEXAMPLEKEY0001",
        ),
        BOB => (
            "AKIABOBEXAMPLE000002",
            "bob/K7MDENG/bPxRfiCYEXAMPLEKEY000002",
        ),
        _ => (
            "AKIACAROLEXAMPLE0003",
            "carol/K7MDENG/bPxRfiCYEXAMPLEKEY0003",
        ),
    }
}

/// A GET or DELETE signed by `caller` (header form, empty body) for `host`.
fn signed(host: &str, method: &str, path: &str, caller: &str) -> Vec<u8> {
    use tollgate::auth::sigv4::{
        payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings,
    };
    let (akid, secret) = key_of(caller);
    let headers: Vec<(&[u8], &[u8])> = vec![(b"host", host.as_bytes())];
    let parts = RequestParts::new(method, path, "", &headers);
    let params = SigningParams {
        credentials: Credentials {
            access_key_id: akid,
            secret_access_key: secret,
            session_token: None,
        },
        region: "us-east-1",
        service: "execute-api",
        time: std::time::SystemTime::now(),
        settings: SigningSettings::default(),
    };
    let s = Signer::new().sign(&parts, &payload_sha256(b""), &params);
    let mut list: Vec<(&str, &str)> = vec![("Host", host)];
    list.extend(s.headers());
    req(method, path, &list, b"")
}

/// IAM callers and the resource policy, as API Gateway's tables say: within the API's
/// account either may allow (Table A), across accounts both must (Table B), an explicit
/// deny in either refuses; a Deny naming one principal leaves the others alone; the 403
/// names the caller.
#[test]
fn iam_callers_combined_with_the_resource_policy() {
    let up = CountingUpstream::start();
    let dir = write_temp("alice.secret", key_of(ALICE).1);
    let bob_secret = write_temp("bob.secret", key_of(BOB).1);
    let carol_secret = write_temp("carol.secret", key_of(CAROL).1);
    let api_arn = format!("arn:aws:execute-api:us-east-1:{ACCOUNT}:iam");
    let policy = format!(
        "      Version: '2012-10-17'
      Statement:
        - Sid: BobReads
          Effect: Allow
          Principal: {{AWS: '{BOB}'}}
          Action: execute-api:Invoke
          Resource: execute-api:/prod/GET/path
        - Sid: OwnAccountAdmin
          Effect: Allow
          Principal: {{AWS: '{ACCOUNT}'}}
          Action: execute-api:Invoke
          Resource: execute-api:/prod/*/admin/*
        - Sid: NoDeletesByAlice
          Effect: Deny
          Principal: {{AWS: '{ALICE}'}}
          Action: execute-api:Invoke
          Resource: execute-api:/prod/DELETE/*
"
    );
    let auth = "        authorization_type: AWS_IAM\n";
    let iam = format!(
        "iam:
  principals:
    - access_key_id: {}
      secret_access_key_file: '{}'
      arn: '{ALICE}'
      policies:
        - Statement: {{Effect: Allow, Action: 'execute-api:Invoke', Resource: '{api_arn}/prod/GET/path'}}
    - access_key_id: {}
      secret_access_key_file: '{}'
      arn: '{BOB}'
      policies:
        - Statement: {{Effect: Allow, Action: 'execute-api:Invoke', Resource: '*'}}
    - access_key_id: {}
      secret_access_key_file: '{}'
      arn: '{CAROL}'
",
        key_of(ALICE).0,
        dir.display(),
        key_of(BOB).0,
        bob_secret.display(),
        key_of(CAROL).0,
        carol_secret.display(),
    );
    let gw = Gateway::start(&format!(
        "{}{iam}",
        config(
            &[listener("public", "127.0.0.1:0", "iam")],
            &[api("iam", up.port, &policy, "", auth)],
        )
    ));
    let host = format!("127.0.0.1:{}", gw.port);
    let caller_text = |caller: &str, method: &str, path: &str, explicit: bool| {
        format!(
            "User: {caller} is not authorized to perform: execute-api:Invoke on resource: {}{}",
            arn("iam", method, path),
            if explicit {
                " with an explicit deny"
            } else {
                ""
            }
        )
    };
    let refusals = [
        // The resource policy denies alice explicitly, whatever her own policies say.
        (ALICE, "DELETE", "/admin/x", true),
        // Across accounts the resource policy must allow too: not for admin.
        (BOB, "GET", "/admin/x", false),
        // Same account, neither allows.
        (CAROL, "GET", "/path", false),
    ];
    for (caller, method, path, explicit) in refusals {
        let r = gw.send(&signed(&host, method, &format!("/prod{path}"), caller));
        r.assert_gateway_error(403, &caller_text(caller, method, path, explicit), DENIED);
    }
    // Unsigned: IAM authenticates first.
    let r = gw.send(&get("/prod/path"));
    r.assert_gateway_error(
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    );
    assert_eq!(requests(&up), 0, "a refused request reached the upstream");

    let allowed = [
        // Table A: her identity policy allows, the resource policy says nothing.
        (ALICE, "GET", "/path"),
        // Table A: the resource policy allows her account, her policies say nothing.
        (ALICE, "GET", "/admin/x"),
        // Table B: both allow.
        (BOB, "GET", "/path"),
        // The Deny names alice only.
        (CAROL, "DELETE", "/admin/x"),
    ];
    for (i, (caller, method, path)) in allowed.into_iter().enumerate() {
        let r = gw.send(&signed(&host, method, &format!("/prod{path}"), caller));
        assert_reached(&r, &up, i + 1);
    }
}

// ------------------------------------------------------------------ Cognito (JWT) authorizer

/// A Cognito user pool authorizer and the resource policy: the token is verified first (a
/// bad or missing token is a 401 even where the policy denies), then the resource policy
/// decides on its own and must allow explicitly (a verified token is not an IAM allow).
#[test]
fn cognito_authorizer_combined_with_the_resource_policy() {
    use std::time::{SystemTime, UNIX_EPOCH};
    use tollgate::auth::jwt::mint::{jwks, SigningKey};
    use tollgate::auth::jwt::Algorithm;

    let key = SigningKey::from_pem(
        Algorithm::RS256,
        "tollgate-dev-rsa-1",
        include_bytes!("../examples/jwt/dev-rsa.pem"),
    )
    .expect("dev key");
    let keys = write_temp("jwks.json", &jwks(&[&key]));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let token = key
        .sign(&serde_json::json!({
            "iss": "https://idp.example", "sub": "alice", "iat": now - 5, "exp": now + 600,
        }))
        .expect("sign");
    let bearer = format!("Bearer {token}");

    let up = CountingUpstream::start();
    let policy = "      Version: '2012-10-17'
      Statement:
        - Effect: Allow
          Principal: '*'
          Action: execute-api:Invoke
          Resource: [execute-api:/prod/GET/path, execute-api:/prod/DELETE/*]
        - Effect: Deny
          Principal: '*'
          Action: execute-api:Invoke
          Resource: execute-api:/prod/DELETE/*
          Condition: {IpAddress: {aws:SourceIp: 127.0.0.0/8}}
";
    let extra = format!(
        "    authorizers:
      - name: pool
        type: COGNITO_USER_POOLS
        jwt: {{issuer: 'https://idp.example', jwks_file: '{}'}}
",
        keys.display()
    );
    let auth = "        authorization_type: COGNITO_USER_POOLS\n        authorizer: pool\n";
    let gw = Gateway::start(&config(
        &[listener("public", "127.0.0.1:0", "cog")],
        &[api("cog", up.port, policy, &extra, auth)],
    ));
    let send = |method: &str, path: &str, token: bool| {
        let headers: Vec<(&str, &str)> = if token {
            vec![("Authorization", bearer.as_str())]
        } else {
            vec![]
        };
        gw.send(&req(method, &format!("/prod{path}"), &headers, b""))
    };

    // Allowed by the resource policy, with a verified token (the keys may take a moment to
    // be published to the worker).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let r = loop {
        let r = send("GET", "/path", true);
        if r.status != 401 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_reached(&r, &up, 1);

    // No token: 401 before the resource policy is looked at, denied route or not.
    for (method, path) in [("GET", "/path"), ("DELETE", "/admin/x")] {
        let r = send(method, path, false);
        assert_eq!(r.status, 401, "{}", r.describe());
        assert_eq!(r.body_str(), r#"{"message":"Unauthorized"}"#);
    }
    // A verified token, and the resource policy denies explicitly (this address)...
    let r = send("DELETE", "/admin/x", true);
    r.assert_gateway_error(403, &anonymous("cog", "DELETE", "/admin/x", true), DENIED);
    // ...or says nothing: a verified token alone does not allow.
    let r = send("GET", "/admin/x", true);
    r.assert_gateway_error(403, &anonymous("cog", "GET", "/admin/x", false), DENIED);
    assert_eq!(requests(&up), 1, "a refused request reached the upstream");
}

/// `aws:SourceIp` behind a trusted proxy: on a listener whose `trusted_proxies` hold the
/// peer, the client is the right-most untrusted `X-Forwarded-For` address; elsewhere the
/// header is only text and the peer is the client.
#[test]
fn source_ip_from_x_forwarded_for_on_trusted_listeners_only() {
    let up = CountingUpstream::start();
    let deny_one = allow_all_but(
        "          Resource: execute-api:/*
          Condition: {IpAddress: {aws:SourceIp: [203.0.113.7/32]}}
",
    );
    let trusted = format!(
        "{}    trusted_proxies: [127.0.0.0/8, 10.0.0.0/8]\n",
        listener("edge", "127.0.0.1:0", "shop")
    );
    let gw = Gateway::start(&config(
        &[trusted, listener("direct", "127.0.0.1:0", "shop")],
        &[api("shop", up.port, &deny_one, "", "")],
    ));
    let edge = gw.port_of("edge");
    let send = |port: u16, xff: &[&str]| {
        let headers: Vec<(&str, &str)> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        Client::connect(port).request(&req("GET", "/prod/path", &headers, b""))
    };
    // The client named by the trusted peer is denied, also behind a second trusted hop
    // and when the header comes on two lines.
    for xff in [
        &["203.0.113.7"][..],
        &["203.0.113.7, 10.1.2.3"],
        &["198.51.100.1, 203.0.113.7"],
        &["198.51.100.1", "203.0.113.7, 10.0.0.1"],
    ] {
        let r = send(edge, xff);
        r.assert_gateway_error(403, &anonymous("shop", "GET", "/path", true), DENIED);
    }
    assert_eq!(requests(&up), 0, "a denied request reached the upstream");
    // Right-most untrusted address: a client cannot hide behind an address it prepends.
    assert_reached(&send(edge, &["203.0.113.7, 198.51.100.1"]), &up, 1);
    // Not an address: nothing left of it is believed (the peer is the client).
    assert_reached(&send(edge, &["203.0.113.7, unknown"]), &up, 2);
    // On a listener without trusted proxies the header changes nothing.
    assert_reached(&send(gw.port_of("direct"), &["203.0.113.7"]), &up, 3);
}
