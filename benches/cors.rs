//! CORS (`tollgate::config::cors::Cors`): what the gateway does per request, on a realistic
//! configuration (5 listed origins with credentials, 4 methods, 5 headers, 2 exposed, a
//! max-age) and on the all-`*` one:
//!
//! - `cors/preflight_decide/*`: the preflight decision (origin, method, requested headers)
//!   for the last listed origin (`listed`), a refused origin (`refused`), a scheme wildcard
//!   (`echo`), and `*` (`star`);
//! - `cors/preflight_write/*`: the decision plus writing the answer's CORS headers into a
//!   reused response buffer, as the session does (`http::write::push_header`);
//! - `cors/response_write/*`: an actual response's headers (allowed listed origin, an origin
//!   not allowed, `*`).
//!
//! `cargo bench --bench cors -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::config::cors::{Cors, PreflightRequest};
use tollgate::http::write::push_header;

fn load(cors: &str) -> Cors {
    let yaml = format!(
        "listeners: [{{name: l, bind: 127.0.0.1:0, default_api: a}}]
apis:
  - id: a
    type: HTTP
    cors: {cors}
    routes: [{{route: GET /x, integration: {{type: MOCK, status: 200}}}}]
    stages: [{{name: $default}}]
"
    );
    let s = tollgate::config::validate::from_str(Path::new("bench.yaml"), &yaml)
        .unwrap_or_else(|e| panic!("{e}"));
    s.apis[0].cors.clone().expect("cors")
}

const LISTED: &str = "{allow_origins: ['https://www.example.com', 'https://app.example.com', \
    'https://admin.example.com', 'http://localhost:3000', 'https://partner.example.org', 'https://*'], \
    allow_methods: [GET, POST, PUT, DELETE], \
    allow_headers: [content-type, authorization, x-api-key, x-amz-date, x-request-id], \
    expose_headers: [x-request-id, date], max_age: 600, allow_credentials: true}";
const STAR: &str = "{allow_origins: ['*'], allow_methods: ['*'], allow_headers: ['*']}";

fn bench(c: &mut Criterion) {
    let listed = load(LISTED);
    let star = load(STAR);
    let requested: &[u8] = b"content-type, x-api-key, x-amz-date";
    let cases: [(&str, &Cors, &[u8]); 4] = [
        ("listed", &listed, b"https://partner.example.org"),
        ("refused", &listed, b"http://evil.example.net"),
        ("echo", &listed, b"https://other.example.net:8443"),
        ("star", &star, b"https://x.example.com"),
    ];

    let mut g = c.benchmark_group("cors/preflight_decide");
    for (name, cors, origin) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(cors.preflight(PreflightRequest {
                    origin: black_box(origin),
                    method: black_box(b"PUT"),
                    headers: [black_box(requested)],
                }))
            })
        });
    }
    g.finish();

    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("cors/preflight_write");
    for (name, cors, origin) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let origin = black_box(origin);
                let decision = cors.preflight(PreflightRequest {
                    origin,
                    method: b"PUT",
                    headers: [requested],
                });
                if let Ok(allowed) = decision {
                    cors.preflight_headers(origin, allowed, b"PUT", Some(requested), |n, v| {
                        push_header(&mut out, n, v)
                    });
                }
                black_box(out.len())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cors/response_write");
    for (name, cors, origin) in [
        ("listed", &listed, &b"https://partner.example.org"[..]),
        ("refused", &listed, b"http://evil.example.net"),
        ("star", &star, b"https://x.example.com"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                cors.response_headers(Some(black_box(origin)), |n, v| push_header(&mut out, n, v));
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
