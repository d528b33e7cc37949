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
        let authorizer = (info["path"] == "/authorizer" && info["method"] == "POST")
            .then(|| authorizer_answer(&body, info["query"] == "simple=1"));
        let status = authorizer.as_ref().map_or(status, |(s, _)| *s);
        let (content_type, payload): (&[u8], Vec<u8>) = if let Some((_, answer)) = authorizer {
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
        .or_else(|| event["headers"]["authorization"].as_str())
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
