//! Cost of the throttle phase per request: `WorkerLimits::admit` over 1 and 4 levels
//! (usage-plan method, usage plan, stage, account), and the whole phase (choosing the levels
//! by usage-plan binding and route, then admitting), tokens always available.
//! `cargo bench --bench throttle`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::limits::service::prepare;
use tollgate::limits::worker::WorkerLimits;

const CONFIG: &str = "
server:
  account_throttle: {rate: 1.0e12, burst: 1.0e12}
listeners:
  - name: l
    bind: 127.0.0.1:0
apis:
  - id: a
    routes:
      - route: GET /x
        api_key_required: true
        integration: {type: MOCK}
    stages:
      - name: prod
        throttle: {rate: 1.0e12, burst: 1.0e12}
api_keys:
  - {id: k, value: bench-key-0123456789}
usage_plans:
  - name: p
    throttle: {rate: 1.0e12, burst: 1.0e12}
    method_throttle:
      - {route: GET /x, rate: 1.0e12, burst: 1.0e12}
    api_stages: [{api: a, stage: prod}]
    keys: [k]
";

fn admit(c: &mut Criterion) {
    let snapshot = match tollgate::config::validate::from_str(Path::new("bench.yaml"), CONFIG) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (_reconciler, startup, _reports) = prepare(&snapshot, 1, None);
    let limits = WorkerLimits::new(0, &snapshot, startup.link.clone());
    let all: Vec<usize> = (0..snapshot.rate_limits.len()).collect();
    assert_eq!(all.len(), 4, "account, stage, plan, plan method");
    let mut group = c.benchmark_group("throttle_admit");
    group.bench_function("one_level", |b| {
        b.iter(|| black_box(limits.admit(black_box(&all[..1]))))
    });
    group.bench_function("four_levels", |b| {
        b.iter(|| black_box(limits.admit(black_box(&all[..]))))
    });
    // The whole phase's work: choose the levels (usage-plan binding and per-method lookups)
    // and admit against them.
    let stage = match snapshot.api("a").and_then(|a| a.stages.get("prod")) {
        Some(s) => s.clone(),
        None => panic!("stage a/prod"),
    };
    let key = snapshot
        .api_keys_by_value
        .get("bench-key-0123456789")
        .copied();
    group.bench_function("phase_four_levels_with_lookups", |b| {
        b.iter(|| {
            let (ids, _, n) = tollgate::pipeline::throttle::levels(
                &snapshot,
                &stage,
                black_box("GET /x"),
                black_box(key),
            );
            black_box(limits.admit(&ids[..n]))
        })
    });
    group.finish();
}

criterion_group!(benches, admit);
criterion_main!(benches);
