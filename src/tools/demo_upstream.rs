//! `tollgate demo-upstream`: a small echo server for the examples and tests. It answers
//! every request with JSON describing it (method, path, query, headers, body, body length
//! and SHA-256). Request headers steer it:
//! - `x-echo-status: N`     answer with status N;
//! - `x-echo-delay-ms: N`   wait N ms before answering;
//! - `x-echo-raw: 1`        answer with the request body itself (application/octet-stream);
//! - `x-echo-size: N`       answer with N bytes of a repeating pattern;
//! - `x-echo-chunked: 1`    send the answer with chunked transfer coding.
//!
//! `POST /authorizer` is a Lambda-style authorizer taking API Gateway's event (see
//! [`authorizer_answer`]); `?simple=1` answers in HTTP APIs' simple format.
//!
//! It also plays a development OIDC issuer for JWT authorizers (`tools::jwt`):
//! `GET /.well-known/openid-configuration` and `/.well-known/jwks.json`.
//!
//! And the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`, the name
//! or a function ARN, `?Qualifier=`), with built-in functions (see [`demo_function`]):
//! `echo`, `mirror`, `image`, `sized`, `error`, `throttled`, `slow`, `raw`, `string`,
//! `png-base64`, `malformed` and `huge`; any other name is Lambda's 404 `ResourceNotFoundException`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use tollgate::config::snapshot::HttpLimits;
use tollgate::http::date::DateCache;
use tollgate::http::head::Method;
use tollgate::http::write::{push_decimal, push_header, push_hex, push_status_line};
use tollgate::net::conn::ClientConn;
use tollgate::net::listener::bind_set;
use tollgate::pipeline::session::Session;

/// Run the echo server on `bind` with `threads` threads until the process is killed.
pub fn run(bind: SocketAddr, threads: usize) -> std::io::Result<()> {
    let (bound, set) = bind_set(bind, threads.max(1))?;
    println!("tollgate demo-upstream: listening http://{bound}");
    let mut handles = Vec::new();
    for l in set {
        handles.push(std::thread::spawn(move || -> std::io::Result<()> {
            let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build()?;
            rt.block_on(async move {
                let listener = TcpListener::from_std(l)?;
                let date = Rc::new(DateCache::default());
                loop {
                    let (stream, peer) = listener.accept().await?;
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let date = date.clone();
                    monoio::spawn(async move {
                        let stream = tollgate::transport::stream::MaybeTls::Plain(stream);
                        let mut conn = ClientConn::new(stream, None, peer, local, 0);
                        serve(&mut conn, &date).await;
                    });
                }
            })
        }));
    }
    for h in handles {
        match h.join() {
            Ok(r) => r?,
            Err(_) => return Err(std::io::Error::other("demo upstream thread panicked")),
        }
    }
    Ok(())
}

async fn serve(conn: &mut ClientConn, date: &DateCache) {
    let limits = HttpLimits {
        max_body_bytes: 256 * 1024 * 1024,
        ..HttpLimits::default()
    };
    loop {
        // Read a head.
        loop {
            if !conn.rbuf.is_empty() {
                match tollgate::http::parse::parse_request_head(&conn.rbuf, &limits, &mut conn.head)
                {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(_) => {
                        conn.wbuf.clear();
                        conn.wbuf.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        let _ = conn.flush_wbuf().await;
                        return;
                    }
                }
            }
            match conn.read_more_within(Duration::from_secs(120)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let buf = &conn.rbuf;
        let head = &conn.head;
        let header_num = |name: &str| -> Option<u64> {
            head.header(buf, name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse().ok())
        };
        let status = header_num("x-echo-status").unwrap_or(200).clamp(200, 599) as u16;
        let delay = header_num("x-echo-delay-ms").unwrap_or(0);
        let size = header_num("x-echo-size");
        let raw = head.header(buf, "x-echo-raw").is_some();
        let chunked = head.header(buf, "x-echo-chunked").is_some();
        let keep_alive = head.keep_alive;
        let is_head = head.method() == Method::Head;
        let mut info = serde_json::Map::new();
        info.insert("method".into(), head.method_span.str(buf).into());
        info.insert("path".into(), head.path.str(buf).into());
        info.insert(
            "query".into(),
            head.query.map(|q| q.str(buf)).unwrap_or("").into(),
        );
        let mut headers = serde_json::Map::new();
        for (n, v) in &head.headers {
            let name = n.str(buf).to_ascii_lowercase();
            let value = String::from_utf8_lossy(v.of(buf)).into_owned();
            match headers.get_mut(&name) {
                Some(serde_json::Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&value);
                }
                _ => {
                    headers.insert(name, value.into());
                }
            }
        }
        info.insert("headers".into(), headers.into());
        // JWT authorizer demo (issue 14): the development issuer's discovery document
        // and JWKS.
        let host = head
            .header(buf, "host")
            .and_then(|h| std::str::from_utf8(h).ok());
        let jwt_doc = super::jwt::demo_document(head.path.str(buf), host);
        let invoke = (head.method() == Method::Post)
            .then(|| {
                invoke_target(
                    head.path.str(buf),
                    head.query.map(|q| q.str(buf)).unwrap_or(""),
                )
            })
            .flatten();
        conn.begin_request(limits.max_body_bytes, Duration::from_secs(60));
        ClientConn::release_head(conn);

        // Read the body.
        let mut body = Vec::new();
        loop {
            match conn.body_next().await {
                Ok(0) => break,
                Ok(n) => {
                    body.extend_from_slice(&conn.rbuf[..n]);
                    conn.consume(n);
                }
                Err(_) => return,
            }
        }
        if delay > 0 {
            monoio::time::sleep(Duration::from_millis(delay)).await;
        }
        let mut extra: Vec<(&'static str, String)> = Vec::new();
        let lambda = invoke.map(|(function, qualifier)| {
            let answer = demo_function(&function, qualifier.as_deref(), &info["headers"], &body);
            extra.extend(answer.headers);
            (answer.sleep_ms, answer.status, answer.payload)
        });
        if let Some((sleep_ms, _, _)) = &lambda {
            if *sleep_ms > 0 {
                monoio::time::sleep(Duration::from_millis(*sleep_ms)).await;
            }
        }
        let authorizer = (info["path"] == "/authorizer" && info["method"] == "POST")
            .then(|| authorizer_answer(&body, info["query"] == "simple=1"));
        let status = authorizer.as_ref().map_or(status, |(s, _)| *s);
        let status = lambda.as_ref().map_or(status, |(_, s, _)| *s);
        let (content_type, payload): (&[u8], Vec<u8>) = if let Some((_, _, payload)) = lambda {
            (b"application/json", payload)
        } else if let Some((_, answer)) = authorizer {
            (b"application/json", answer)
        } else if let Some(doc) = jwt_doc {
            (b"application/json", doc)
        } else if let Some(n) = size {
            (
                b"application/octet-stream",
                (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
            )
        } else if raw {
            (b"application/octet-stream", body)
        } else {
            let digest = ring::digest::digest(&ring::digest::SHA256, &body);
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            info.insert("body_length".into(), body.len().into());
            info.insert("body_sha256".into(), hex.into());
            info.insert(
                "body".into(),
                String::from_utf8_lossy(&body).into_owned().into(),
            );
            (
                b"application/json",
                serde_json::to_vec(&serde_json::Value::Object(info)).unwrap_or_default(),
            )
        };
        let w = &mut conn.wbuf;
        w.clear();
        push_status_line(w, status);
        push_header(w, b"date", &date.now());
        push_header(w, b"content-type", content_type);
        push_header(w, b"server", b"tollgate-demo-upstream");
        for (name, value) in &extra {
            push_header(w, name.as_bytes(), value.as_bytes());
        }
        if !keep_alive {
            push_header(w, b"connection", b"close");
        }
        if chunked {
            w.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            if !is_head {
                for piece in payload.chunks(7919) {
                    push_hex(w, piece.len() as u64);
                    w.extend_from_slice(b"\r\n");
                    w.extend_from_slice(piece);
                    w.extend_from_slice(b"\r\n");
                }
                w.extend_from_slice(b"0\r\n\r\n");
            }
        } else {
            w.extend_from_slice(b"content-length: ");
            push_decimal(w, payload.len() as u64);
            w.extend_from_slice(b"\r\n\r\n");
            if !is_head {
                w.extend_from_slice(&payload);
            }
        }
        if conn.flush_wbuf().await.is_err() || !keep_alive {
            return;
        }
        if conn.wbuf.capacity() > 1 << 20 {
            conn.wbuf = Vec::with_capacity(4096);
        }
    }
}

/// The demo Lambda authorizer: reads the token from the event (`authorizationToken`,
/// else the first identity source, else the `authorization` header) and answers
/// - `allow` or `allow:KEY`: principal `demo-user`, a policy allowing every method of the
///   API (`{api}/*`), context `{user, tier, admin}`, and `KEY` as the `usageIdentifierKey`;
/// - `deny`: the same policy with `Deny`;
/// - anything else: 401, the `Unauthorized` error.
fn authorizer_answer(event: &[u8], simple: bool) -> (u16, Vec<u8>) {
    use serde_json::{json, Value};
    let event: Value = serde_json::from_slice(event).unwrap_or(Value::Null);
    let token = event["authorizationToken"]
        .as_str()
        .or_else(|| event["identitySource"][0].as_str())
        .or_else(|| event["identitySource"].as_str())
        .or_else(|| {
            // REST events keep header names as sent; payload 2.0 lower-cases them.
            event["headers"].as_object().and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    .and_then(|(_, v)| v.as_str())
            })
        })
        .unwrap_or("");
    let (word, key) = token.split_once(':').unwrap_or((token, ""));
    let effect = match word {
        "allow" => "Allow",
        "deny" => "Deny",
        _ => return (401, br#"{"message":"Unauthorized"}"#.to_vec()),
    };
    let context = json!({"user": "demo-user", "tier": 1, "admin": false});
    let answer = if simple {
        json!({"isAuthorized": effect == "Allow", "context": context})
    } else {
        let arn = event["methodArn"]
            .as_str()
            .or_else(|| event["routeArn"].as_str())
            .unwrap_or("*");
        // arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH -> every method of API.
        let api = arn.split('/').next().unwrap_or("*");
        let mut a = json!({
            "principalId": "demo-user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke", "Effect": effect, "Resource": format!("{api}/*")
            }]},
            "context": context
        });
        if !key.is_empty() {
            a["usageIdentifierKey"] = key.into();
        }
        a
    };
    (200, serde_json::to_vec(&answer).unwrap_or_default())
}

/// `POST /2015-03-31/functions/{name}/invocations[?Qualifier=q]`: the function's name (from
/// a name, `name:qualifier` or a function ARN, percent-decoded) and qualifier.
fn invoke_target(path: &str, query: &str) -> Option<(String, Option<String>)> {
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = percent_decode(name);
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    let short = match name.split_once(":function:") {
        Some((_, rest)) => rest.to_string(),
        None => name,
    };
    let (short, mut qualifier) = match short.split_once(':') {
        Some((n, q)) => (n.to_string(), Some(q.to_string())),
        None => (short, None),
    };
    for pair in query.split('&') {
        if let Some(q) = pair.strip_prefix("Qualifier=") {
            qualifier = Some(percent_decode(q));
        }
    }
    (!short.is_empty()).then_some((short, qualifier))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A 1x1 PNG, base64 (the `image` function's answer).
pub const DEMO_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// What a demo function answers: the Invoke API's status and headers, the payload, and
/// how long to wait first.
struct FunctionAnswer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    payload: Vec<u8>,
    sleep_ms: u64,
}

/// A value of the event, whichever payload format: from `queryStringParameters`, then a
/// top-level key (custom integrations' payloads), then a header (any case).
fn event_param(event: &serde_json::Value, name: &str) -> Option<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    text(&event["queryStringParameters"][name])
        .or_else(|| text(&event[name]))
        .or_else(|| {
            event["headers"].as_object().and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| text(v))
            })
        })
}

/// The demo functions. The event is the request's payload (any JSON; the proxy events'
/// fields are read where a function needs them):
/// - `echo`: a proxy result whose body is `{"event": EVENT, "invoke": {function, qualifier,
///   invocation_type, authorization, content_type, trace_id, security_token}}`, with
///   `x-demo-function: echo`, multi-value `x-demo-multi: a, b` and (2.0) two cookies;
/// - `mirror`: the event's body back as it came (`isBase64Encoded` and `Content-Type` too);
/// - `image`: a 1x1 PNG, base64 with `isBase64Encoded`;
/// - `sized`: `N` bytes (`x-echo-size` header or `bytes` query parameter; default 1024)
///   of the demo upstream's `x-echo-size` pattern, as `application/octet-stream`;
/// - `error`: a function error (`X-Amz-Function-Error: Unhandled`, Lambda's error document);
/// - `throttled`: Lambda's 429 `TooManyRequestsException`;
/// - `slow`: answers after `ms` milliseconds (query parameter or payload key; default 2000);
/// - `raw`: a bare JSON object `{"message": "Hello from Lambda!", "input": EVENT}` (payload
///   2.0's inference; custom integrations);
/// - `string`: the bare JSON string `"Hello from Lambda!"`;
/// - `png-base64`: the PNG's base64 as a bare JSON string (custom integrations' binary);
/// - `malformed`: by `case` (query parameter or payload key): `text` (default, not JSON),
///   `nostatus`, `body-object`, `status-string`, `headers-number`, `base64`;
/// - `huge`: a result of 7 MB (over Lambda's 6 MB).
fn demo_function(
    function: &str,
    qualifier: Option<&str>,
    headers: &serde_json::Value,
    payload: &[u8],
) -> FunctionAnswer {
    use serde_json::{json, Value};
    let event: Value = serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()));
    let ok = |v: Value| FunctionAnswer {
        status: 200,
        headers: Vec::new(),
        payload: serde_json::to_vec(&v).unwrap_or_default(),
        sleep_ms: 0,
    };
    let header = |n: &str| headers[n].as_str().map(str::to_string);
    match function {
        "echo" => {
            let body = json!({
                "event": event,
                "invoke": {
                    "function": function,
                    "qualifier": qualifier,
                    "invocation_type": header("x-amz-invocation-type"),
                    "authorization": header("authorization"),
                    "content_type": header("content-type"),
                    "trace_id": header("x-amzn-trace-id"),
                    "security_token": header("x-amz-security-token"),
                }
            });
            ok(json!({
                "statusCode": 200,
                "headers": {"content-type": "application/json", "x-demo-function": "echo"},
                "multiValueHeaders": {"x-demo-multi": ["a", "b"]},
                "cookies": ["demo=1; Path=/", "second=2"],
                "body": body.to_string(),
                "isBase64Encoded": false
            }))
        }
        "mirror" => {
            let content_type = event["headers"].as_object().and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
            });
            ok(json!({
                "statusCode": 200,
                "headers": {"content-type": content_type.unwrap_or_else(|| "application/octet-stream".into())},
                "body": event["body"],
                "isBase64Encoded": event["isBase64Encoded"].as_bool().unwrap_or(false)
            }))
        }
        "image" => ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": DEMO_PNG_BASE64,
            "isBase64Encoded": true
        })),
        "sized" => {
            let n: usize = event_param(&event, "x-echo-size")
                .or_else(|| event_param(&event, "bytes"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1024)
                .min(5 << 20);
            let body: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            ok(json!({
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "body": body
            }))
        }
        "error" => FunctionAnswer {
            status: 200,
            headers: vec![("x-amz-function-error", "Unhandled".into())],
            payload: br#"{"errorMessage":"demo failure","errorType":"Error","trace":["Error: demo failure","    at demo (index.mjs:1:1)"]}"#.to_vec(),
            sleep_ms: 0,
        },
        "throttled" => FunctionAnswer {
            status: 429,
            headers: vec![("x-amzn-errortype", "TooManyRequestsException".into())],
            payload: br#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#.to_vec(),
            sleep_ms: 0,
        },
        "slow" => {
            let ms = event_param(&event, "ms")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(2000u64)
                .min(120_000);
            let mut a = ok(json!({"statusCode": 200, "body": format!("slept {ms} ms")}));
            a.sleep_ms = ms;
            a
        }
        "raw" => ok(json!({"message": "Hello from Lambda!", "input": event})),
        "string" => ok(json!("Hello from Lambda!")),
        "png-base64" => ok(json!(DEMO_PNG_BASE64)),
        "malformed" => {
            let case = event_param(&event, "case").unwrap_or_else(|| "text".into());
            let v = match case.as_str() {
                "nostatus" => json!({"body": "no status"}),
                "body-object" => json!({"statusCode": 200, "body": {"a": 1}}),
                "status-string" => json!({"statusCode": "200", "body": "x"}),
                "headers-number" => json!({"statusCode": 200, "headers": 5}),
                "base64" => json!({"statusCode": 200, "isBase64Encoded": true, "body": "*** not base64 ***"}),
                _ => {
                    return FunctionAnswer {
                        status: 200,
                        headers: Vec::new(),
                        payload: b"this is not JSON".to_vec(),
                        sleep_ms: 0,
                    }
                }
            };
            ok(v)
        }
        "huge" => ok(json!({"statusCode": 200, "body": "x".repeat(7 << 20)})),
        other => FunctionAnswer {
            status: 404,
            headers: vec![("x-amzn-errortype", "ResourceNotFoundException".into())],
            payload: serde_json::to_vec(&json!({
                "Type": "User",
                "message": format!("Function not found: arn:aws:lambda:us-east-1:123456789012:function:{other}")
            }))
            .unwrap_or_default(),
            sleep_ms: 0,
        },
    }
}
