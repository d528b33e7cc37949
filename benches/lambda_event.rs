//! What a Lambda proxy request costs the gateway besides the call: the event it writes and
//! the result it reads (`pipeline::integration::lambda::{event, result}`).
//!
//! - `lambda_event/v1`, `lambda_event/v2`: a typical browser-ish request (14 headers, a
//!   repeated one, a cookie, 3 query parameters, a path parameter, 2 stage variables, a
//!   200-byte JSON body) written as the payload 1.0 / 2.0 event into a reused buffer;
//!   `…/serde_json_value`: the same 1.0 event built as a `serde_json::Value` and
//!   serialized (the obvious way, for comparison);
//! - `lambda_event/v1_binary_64k`: the same with a 64 KiB binary body (base64);
//! - `lambda_result/v1`: a result with 3 headers, a multi-value header and a 200-byte JSON
//!   body (escaped, so the body is unescaped into its own string);
//!   `lambda_result/v2_inferred`: a bare JSON object (2.0's inference);
//!   `lambda_result/v1_base64_64k`: a 64 KiB base64 body (parsed, then decoded).
//!
//! `cargo bench --bench lambda_event -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Map, Value};
use tollgate::config::lambda_integration::PayloadFormat;
use tollgate::pipeline::integration::lambda::event::{self, ContextInput, EventInput};
use tollgate::pipeline::integration::lambda::{binary, result};

const HEADERS: &[(&[u8], &[u8])] = &[
    (b"Host", b"api.example.com"),
    (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"),
    (b"Accept", b"application/json, text/plain, */*"),
    (b"Accept-Language", b"en-US,en;q=0.9"),
    (b"Accept-Encoding", b"gzip, deflate, br"),
    (b"Content-Type", b"application/json"),
    (b"Content-Length", b"200"),
    (b"Authorization", b"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"),
    (b"Cookie", b"session=abc123; theme=dark"),
    (b"X-Request-Tag", b"one"),
    (b"X-Request-Tag", b"two"),
    (b"X-Amzn-Trace-Id", b"Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e;Parent=d5d92b3515a950e0;Sampled=0"),
    (b"X-Forwarded-For", b"203.0.113.9, 127.0.0.1"),
    (b"X-Forwarded-Port", b"8080"),
    (b"X-Forwarded-Proto", b"http"),
];

fn body(n: usize) -> Vec<u8> {
    let mut b = br#"{"order":{"id":"ord-000123","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"leave at the door"},"pad":""#.to_vec();
    while b.len() < n - 2 {
        b.push(b'x');
    }
    b.extend_from_slice(b"\"}");
    b
}

fn input<'a>(format: PayloadFormat, body: &'a [u8], base64: bool) -> EventInput<'a> {
    EventInput {
        format,
        rest: format == PayloadFormat::V1,
        resource: "/orders/{id}",
        path: "/orders/123",
        http_method: "POST",
        headers: HEADERS,
        raw_query: b"expand=items&expand=notes&page=2",
        path_parameters: &[("id", "123")],
        stage_variables: &[("color", "blue"), ("alias", "live")],
        body,
        base64,
        context: ContextInput {
            account_id: "123456789012",
            api_id: "a1b2c3d4e5",
            stage: "prod",
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            extended_request_id: "c6af9ac67b6111e6",
            resource_id: "roq9wj",
            full_path: "/prod/orders/123",
            raw_path: "/prod/orders/123",
            route_key: "POST /orders/{id}",
            source_ip: "203.0.113.9",
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            protocol: "HTTP/1.1",
            domain_name: "a1b2c3d4e5.execute-api.localhost",
            domain_prefix: "a1b2c3d4e5",
            request_time: "30/Nov/2026:00:00:00 +0000",
            request_time_epoch_ms: 1_795_996_800_000,
            ..Default::default()
        },
    }
}

/// The 1.0 event as a `serde_json::Value`, the way one would write it first.
fn v1_value(i: &EventInput<'_>) -> Vec<u8> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut headers = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (n, v) in i.headers {
        headers.insert(text(n), Value::String(text(v)));
        match multi.get_mut(&text(n)) {
            Some(Value::Array(a)) => a.push(Value::String(text(v))),
            _ => {
                multi.insert(text(n), json!([text(v)]));
            }
        }
    }
    let mut query = Map::new();
    let mut mquery: Map<String, Value> = Map::new();
    for pair in i.raw_query.split(|&b| b == b'&') {
        let s = text(pair);
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        query.insert(k.to_string(), Value::String(v.to_string()));
        match mquery.get_mut(k) {
            Some(Value::Array(a)) => a.push(Value::String(v.to_string())),
            _ => {
                mquery.insert(k.to_string(), json!([v]));
            }
        }
    }
    let pairs = |p: &[(&str, &str)]| {
        Value::Object(
            p.iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        )
    };
    let c = &i.context;
    let v = json!({
        "resource": i.resource,
        "path": i.path,
        "httpMethod": i.http_method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": mquery,
        "pathParameters": pairs(i.path_parameters),
        "stageVariables": pairs(i.stage_variables),
        "requestContext": {
            "resourceId": c.resource_id, "resourcePath": i.resource, "httpMethod": i.http_method,
            "extendedRequestId": c.extended_request_id, "requestTime": c.request_time,
            "path": c.full_path, "accountId": c.account_id, "protocol": c.protocol,
            "stage": c.stage, "domainPrefix": c.domain_prefix,
            "requestTimeEpoch": c.request_time_epoch_ms, "requestId": c.request_id,
            "identity": {"cognitoIdentityPoolId": null, "accountId": null, "cognitoIdentityId": null,
                "caller": null, "sourceIp": c.source_ip, "principalOrgId": null, "accessKey": null,
                "cognitoAuthenticationType": null, "cognitoAuthenticationProvider": null,
                "userArn": null, "userAgent": c.user_agent, "user": null},
            "domainName": c.domain_name, "apiId": c.api_id
        },
        "body": text(i.body),
        "isBase64Encoded": false
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

fn events(c: &mut Criterion) {
    let small = body(200);
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("lambda_event");
    let mut out = Vec::with_capacity(8192);
    let mut scratch = Vec::new();
    for (name, format) in [("v1", PayloadFormat::V1), ("v2", PayloadFormat::V2)] {
        let i = input(format, &small, false);
        g.bench_function(name, |b| {
            b.iter(|| {
                event::write(&mut out, black_box(&i), &mut scratch);
                black_box(out.len())
            })
        });
    }
    let i = input(PayloadFormat::V1, &small, false);
    g.bench_function("v1/serde_json_value", |b| {
        b.iter(|| black_box(v1_value(black_box(&i)).len()))
    });
    let i = input(PayloadFormat::V1, &big, true);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("v1_binary_64k", |b| {
        b.iter(|| {
            event::write(&mut out, black_box(&i), &mut scratch);
            black_box(out.len())
        })
    });
    g.finish();
}

fn results(c: &mut Criterion) {
    let small = String::from_utf8(body(200)).unwrap_or_default();
    let v1 = json!({
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Request-Id": "r-123", "Cache-Control": "no-store"},
        "multiValueHeaders": {"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"]},
        "body": small,
        "isBase64Encoded": false
    })
    .to_string();
    let inferred = String::from_utf8(body(200)).unwrap_or_default();
    let blob: Vec<u8> = (0..64 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let b64 = json!({
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64::engine::general_purpose::STANDARD.encode(&blob),
        "isBase64Encoded": true
    })
    .to_string();
    let mut g = c.benchmark_group("lambda_result");
    g.bench_function("v1", |b| {
        b.iter(|| {
            let r = result::parse(black_box(v1.as_bytes()), PayloadFormat::V1);
            black_box(r.map(|r| r.headers.len()).unwrap_or(0))
        })
    });
    g.bench_function("v2_inferred", |b| {
        b.iter(|| {
            let r = result::parse(black_box(inferred.as_bytes()), PayloadFormat::V2);
            black_box(r.map(|r| r.status).unwrap_or(0))
        })
    });
    g.throughput(Throughput::Bytes(blob.len() as u64));
    g.bench_function("v1_base64_64k", |b| {
        b.iter(|| {
            let r = result::parse(black_box(b64.as_bytes()), PayloadFormat::V1);
            let n = match r.map(|r| r.body) {
                Ok(result::Body::Text(t)) => binary::decode(t.as_bytes()).map_or(0, |d| d.len()),
                _ => 0,
            };
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, events, results);
criterion_main!(benches);
