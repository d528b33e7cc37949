//! Cost of evaluating an IAM policy (auth::policy) against a request's method ARN: a
//! 10-statement resource policy (wildcard resources, principals, IP and listener
//! conditions) and a 10-statement Lambda authorizer policy, for an allowed request (every
//! statement looked at), a denied one, and one that nothing matches. Also checks, with a
//! counting allocator, that evaluating allocates nothing. `cargo bench --bench policy`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::auth::policy::{evaluate, Caller, Decision, ParseOptions, Policy, RequestFacts};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const API: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123";

const RESOURCE_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "1", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]}}},
    {"Sid": "2", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*/DELETE/*"},
    {"Sid": "3", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::210987654321:user/mallory"},
     "Action": "*", "Resource": "*"},
    {"Sid": "4", "Effect": "Allow", "Principal": {"AWS": ["123456789012", "arn:aws:iam::210987654321:user/bob"]},
     "Action": "execute-api:*", "Resource": "execute-api:/admin/*"},
    {"Sid": "5", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/prod/*/internal/*", "Condition": {"StringNotEquals": {"aws:SourceVpce": "internal"}}},
    {"Sid": "6", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": ["execute-api:/test/GET/*", "execute-api:/test/POST/*"]},
    {"Sid": "7", "Effect": "Deny", "Principal": "*", "Action": "execute-api:InvalidateCache", "Resource": "*"},
    {"Sid": "8", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/prod/GET/health", "Condition": {"StringEquals": {"aws:SourceVpce": "monitoring"}}},
    {"Sid": "9", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/prod/PUT/pets/*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops/*"}}},
    {"Sid": "10", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/prod/*", "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}}
  ]
}"#;

fn lambda_policy() -> String {
    let statements: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "{API}/prod/GET/pets/{i}/*"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    )
}

fn policy(c: &mut Criterion) {
    let resource = Policy::parse(
        RESOURCE_POLICY.as_bytes(),
        &ParseOptions::resource(Some(API)),
    )
    .expect("the resource policy parses");
    let lambda = Policy::parse(lambda_policy().as_bytes(), &ParseOptions::IDENTITY)
        .expect("the Lambda policy parses");
    assert_eq!(resource.len(), 10);
    assert_eq!(lambda.len(), 10);

    let get = format!("{API}/prod/GET/pets/9/toys");
    let delete = format!("{API}/prod/DELETE/pets/9");
    let other = format!("{API}/staging/GET/pets/9/toys");
    let facts = |resource: &'static str| RequestFacts {
        action: "execute-api:Invoke",
        resource,
        caller: None,
        source_ip: "192.0.2.10".parse().expect("an address"),
        source_vpce: Some("public"),
    };
    let get: &'static str = Box::leak(get.into_boxed_str());
    let delete: &'static str = Box::leak(delete.into_boxed_str());
    let other: &'static str = Box::leak(other.into_boxed_str());
    let iam = RequestFacts {
        caller: Caller::from_arn("arn:aws:iam::210987654321:user/ops/eve"),
        source_ip: "2001:db8::7".parse().expect("an address"),
        ..facts(get)
    };

    assert_eq!(resource.evaluate(&facts(get)), Decision::Allow);
    assert_eq!(resource.evaluate(&facts(delete)), Decision::ExplicitDeny);
    assert_eq!(resource.evaluate(&facts(other)), Decision::NoMatch);
    assert_eq!(resource.evaluate(&iam), Decision::Allow);
    assert_eq!(lambda.evaluate(&facts(get)), Decision::Allow);
    assert_eq!(lambda.evaluate(&facts(other)), Decision::NoMatch);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for f in [facts(get), facts(delete), facts(other), iam] {
        black_box(evaluate([&resource, &lambda], black_box(&f)));
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocated, 0, "evaluation allocated {allocated} times");

    let mut g = c.benchmark_group("policy_evaluate_10_statements");
    g.bench_function("resource_policy_allow_last_statement", |b| {
        let f = facts(get);
        b.iter(|| black_box(&resource).evaluate(black_box(&f)))
    });
    g.bench_function("resource_policy_explicit_deny", |b| {
        let f = facts(delete);
        b.iter(|| black_box(&resource).evaluate(black_box(&f)))
    });
    g.bench_function("resource_policy_no_match", |b| {
        let f = facts(other);
        b.iter(|| black_box(&resource).evaluate(black_box(&f)))
    });
    g.bench_function("resource_policy_iam_caller_ipv6", |b| {
        b.iter(|| black_box(&resource).evaluate(black_box(&iam)))
    });
    g.bench_function("lambda_policy_allow_last_statement", |b| {
        let f = facts(get);
        b.iter(|| black_box(&lambda).evaluate(black_box(&f)))
    });
    g.bench_function("lambda_policy_no_match", |b| {
        let f = facts(other);
        b.iter(|| black_box(&lambda).evaluate(black_box(&f)))
    });
    g.finish();

    c.bench_function("policy_parse_resource_policy_10_statements", |b| {
        b.iter(|| {
            Policy::parse(
                black_box(RESOURCE_POLICY.as_bytes()),
                &ParseOptions::resource(Some(API)),
            )
        })
    });
}

criterion_group!(benches, policy);
criterion_main!(benches);
