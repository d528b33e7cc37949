//! Request-head parsing and routing cost per request.
//! `cargo bench --bench parse_route` (or `make bench`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate::config::snapshot::HttpLimits;
use tollgate::http::head::{Head, Method};
use tollgate::http::parse::parse_request_head;
use tollgate::routing::resource::{PathParams, RouteMethod, Router};

const SMALL_GET: &[u8] = b"GET /prod/echo/orders/12345?expand=items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";

const BROWSER_POST: &[u8] = b"POST /prod/orders/12345/items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: application/json, text/plain, */*\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nContent-Type: application/json\r\nContent-Length: 48\r\nOrigin: https://app.example.com\r\nReferer: https://app.example.com/orders\r\nCookie: session=abcdef0123456789; theme=dark\r\nX-Request-Id: 6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b\r\nConnection: keep-alive\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = HttpLimits::default();
    let mut group = c.benchmark_group("parse_request_head");
    for (name, req) in [
        ("small_get", SMALL_GET),
        ("browser_post_13_headers", BROWSER_POST),
    ] {
        let mut head = Head::default();
        group.throughput(Throughput::Bytes(req.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let done = parse_request_head(black_box(req), &limits, &mut head);
                black_box((done, head.head_len))
            })
        });
    }
    group.finish();
}

fn router_with(n: usize) -> Router<usize> {
    let mut r = Router::new();
    let methods = [Method::Get, Method::Post, Method::Put, Method::Delete];
    for i in 0..n {
        let m = RouteMethod::Only(methods[i % methods.len()]);
        let _ = r.insert(m, &format!("/service{}/items/{{id}}", i / methods.len()), i);
        let _ = r.insert(
            RouteMethod::Only(Method::Get),
            &format!("/service{}/health", i),
            i,
        );
    }
    let _ = r.insert(RouteMethod::Any, "/echo/{proxy+}", usize::MAX);
    r
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_find");
    for n in [10usize, 200] {
        let r = router_with(n);
        let mut params = PathParams::default();
        let last = format!("/service{}/items/98765", (n - 1) / 4);
        group.bench_function(format!("param_route_of_{n}"), |b| {
            b.iter(|| {
                black_box(matches!(
                    r.find(Method::Get, black_box(&last), &mut params),
                    tollgate::routing::resource::Match::Found(_)
                ))
            })
        });
        group.bench_function(format!("greedy_route_of_{n}"), |b| {
            b.iter(|| {
                black_box(matches!(
                    r.find(Method::Post, black_box("/echo/a/b/c/d"), &mut params),
                    tollgate::routing::resource::Match::Found(_)
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, route);
criterion_main!(benches);
