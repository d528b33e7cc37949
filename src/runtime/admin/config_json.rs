//! `GET /config`: the configuration in force as JSON (API Gateway's GetRestApis, GetStages,
//! GetDeployments, GetUsagePlans, GetDomainNames, in one document). Secrets are never
//! rendered: API key values (the snapshot keeps them only as lookup keys), the admin token,
//! certificate private keys (held inside rustls configurations, which are not rendered).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::snapshot::{
    Api, ApiType, CachePolicy, Deployment, Integration, RateLimitId, Stage, UnauthorizedStrategy,
};
use crate::config::Snapshot;

/// What stands in for a secret.
pub const REDACTED: &str = "(redacted)";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn throttle(s: &Snapshot, id: Option<RateLimitId>) -> Value {
    match id.and_then(|i| s.rate_limits.get(i)) {
        Some(l) => json!({"rate": l.rate, "burst": l.burst}),
        None => Value::Null,
    }
}

fn sorted<V: Clone>(m: &ahash::AHashMap<String, V>) -> BTreeMap<String, V> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn deployment(d: &Deployment, s: &Snapshot) -> Value {
    let routes: Vec<Value> = d
        .routes
        .iter()
        .map(|r| {
            let integration = match &r.integration {
                Integration::Mock(m) => json!({
                    "type": "MOCK",
                    "status": m.status,
                    "headers": m.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    "body_bytes": m.body.len(),
                }),
                Integration::HttpProxy(h) => json!({
                    "type": "HTTP_PROXY",
                    "uri": h.uri.as_str(),
                    "method": h.method.map(|m| m.as_str()),
                    "timeout_ms": ms(h.timeout),
                    "connection_type": if h.target_group.is_some() { "VPC_LINK" } else { "INTERNET" },
                    "target_group": h.target_group
                        .and_then(|g| s.target_groups.get(g))
                        .map(|g| g.name.clone()),
                }),
                Integration::Lambda(l) => json!({
                    "type": if l.proxy { "AWS_PROXY" } else { "AWS" },
                    "uri": l.uri,
                    "payload_format_version": l.proxy.then(|| l.payload.as_str()),
                    "timeout_ms": ms(l.timeout),
                }),
                Integration::AwsService(a) => json!({
                    "type": "AWS",
                    "service": a.arn.service,
                    "region": a.arn.region,
                }),
            };
            json!({
                "route_key": r.key,
                "api_key_required": r.api_key_required,
                "integration": integration,
            })
        })
        .collect();
    json!({"id": d.id, "routes": routes})
}

fn stage(st: &Stage, s: &Snapshot) -> Value {
    let cache = st.cache.as_ref().map(|c| {
        json!({
            "capacity_bytes": c.capacity_bytes,
            "eviction": match c.policy { CachePolicy::Lru => "lru", CachePolicy::S3Fifo => "s3fifo" },
            "ttl_seconds": c.ttl.as_secs(),
            "require_authorization": c.require_authorization,
            "unauthorized_strategy": match c.unauthorized {
                UnauthorizedStrategy::FailWith403 => "FAIL_WITH_403",
                UnauthorizedStrategy::SucceedWithResponseHeader => "SUCCEED_WITH_RESPONSE_HEADER",
                UnauthorizedStrategy::SucceedWithoutResponseHeader => "SUCCEED_WITHOUT_RESPONSE_HEADER",
            },
            "coalescing": c.coalescing,
            "routes": c.routes.iter().map(|(k, r)| (k.clone(), json!({
                "enabled": r.enabled,
                "ttl_seconds": r.ttl.as_secs(),
                "methods": r.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            }))).collect::<BTreeMap<_, _>>(),
        })
    });
    let method_throttles: BTreeMap<String, Value> = st
        .method_throttles
        .iter()
        .map(|(k, &id)| (k.clone(), throttle(s, Some(id))))
        .collect();
    json!({
        "name": st.name,
        "deployment_id": st.deployment.id,
        "variables": sorted(&st.variables),
        "throttle": throttle(s, st.throttle),
        "method_throttles": method_throttles,
        "cache": cache,
        "canary": st.canary.as_ref().map(|c| json!({
            "deployment_id": c.deployment.id,
            "percent": c.percent,
            "variables": sorted(&c.variables),
            "use_stage_cache": c.use_stage_cache,
        })),
        "client_certificate": st.client_certificate.as_ref().map(|c| json!({
            "subject": c.subject_dn,
            "not_after_unix": c.not_after,
            "private_key": REDACTED,
        })),
    })
}

fn api(a: &Api, s: &Snapshot) -> Value {
    let mut stages: Vec<&Arc<Stage>> = a.stages.values().collect();
    stages.sort_by(|x, y| x.name.cmp(&y.name));
    // Every deployment a stage (or its canary) serves, once, by id.
    let mut deployments: BTreeMap<&str, &Deployment> = BTreeMap::new();
    for st in &stages {
        deployments.insert(&st.deployment.id, &st.deployment);
        if let Some(c) = &st.canary {
            deployments.insert(&c.deployment.id, &c.deployment);
        }
    }
    json!({
        "id": a.id,
        "name": a.name,
        "type": match a.api_type { ApiType::Rest => "REST", ApiType::Http => "HTTP" },
        "disable_execute_api_endpoint": a.disable_execute_api_endpoint,
        "stages": stages.iter().map(|st| stage(st, s)).collect::<Vec<_>>(),
        "deployments": deployments.values().map(|d| deployment(d, s)).collect::<Vec<_>>(),
    })
}

/// Usage plans as API Gateway lists them: name, API stages, keys, throttle, quota.
fn usage_plans(s: &Snapshot) -> Value {
    let mut stage_names: BTreeMap<usize, (String, String)> = BTreeMap::new();
    for a in &s.apis {
        for st in a.stages.values() {
            stage_names.insert(st.id, (a.id.clone(), st.name.clone()));
        }
    }
    #[derive(Default)]
    struct Plan {
        stages: std::collections::BTreeSet<(String, String)>,
        keys: std::collections::BTreeSet<String>,
        throttle: Value,
        quota: Value,
    }
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    for (&(stage_id, key), b) in &s.plan_bindings {
        let p = plans.entry(b.plan.clone()).or_default();
        if let Some(n) = stage_names.get(&stage_id) {
            p.stages.insert(n.clone());
        }
        if let Some(k) = s.api_keys.get(key) {
            p.keys.insert(k.id.clone());
        }
        if p.throttle.is_null() {
            p.throttle = throttle(s, b.throttle);
        }
        if let (true, Some(q)) = (p.quota.is_null(), b.quota.and_then(|q| s.quotas.get(q))) {
            p.quota = json!({
                "limit": q.spec.limit,
                "period": q.spec.period.name(),
                "offset": q.spec.offset,
            });
        }
    }
    Value::Array(
        plans
            .into_iter()
            .map(|(name, p)| {
                json!({
                    "name": name,
                    "api_stages": p.stages.iter()
                        .map(|(a, st)| json!({"api": a, "stage": st}))
                        .collect::<Vec<_>>(),
                    "keys": p.keys,
                    "throttle": p.throttle,
                    "quota": p.quota,
                })
            })
            .collect(),
    )
}

/// The whole document.
pub fn render(s: &Snapshot) -> Value {
    let api_id = |i: usize| s.apis.get(i).map(|a| a.id.clone());
    json!({
        "source": s.source.display().to_string(),
        "server": {
            "workers": s.server.workers,
            "execute_api_suffix": s.server.execute_api_suffix,
            "drain_timeout_ms": ms(s.server.drain_timeout),
            "throttle_reconcile_interval_ms": ms(s.server.reconcile_interval),
            "state_file": s.server.state_file.display().to_string(),
            "state_flush_interval_ms": ms(s.server.state_flush_interval),
            "account_throttle": throttle(s, Some(crate::config::snapshot::ACCOUNT_LIMIT)),
        },
        "admin": {
            "bind": s.admin.map(|a| a.to_string()),
            "token": s.admin_token.as_ref().map(|_| REDACTED),
        },
        "listeners": s.listeners.iter().map(|l| json!({
            "name": l.name,
            "bind": l.bind.to_string(),
            "default_api": l.default_api.and_then(api_id),
            "tls": l.tls.as_ref().map(|t| json!({
                "default_domain": t.default_domain
                    .and_then(|d| s.domains.get(d))
                    .map(|d| d.name.clone()),
                "handshake_timeout_ms": ms(t.handshake_timeout),
            })),
            "h2c": l.h2c,
            "drop_underscore_headers": l.drop_underscore_headers,
        })).collect::<Vec<_>>(),
        "apis": s.apis.iter().map(|a| api(a, s)).collect::<Vec<_>>(),
        "target_groups": s.target_groups.iter().map(|g| json!({
            "name": g.name,
            "policy": format!("{:?}", g.policy),
            "targets": g.targets.iter()
                .map(|t| json!({"address": t.addr.to_string(), "weight": t.weight}))
                .collect::<Vec<_>>(),
            "tls": g.tls.is_some(),
            "proxy_protocol_v2": g.proxy_protocol_v2,
            "health_check": g.health_check.as_ref().map(|h| json!({
                "path": h.path,
                "interval_ms": ms(h.interval),
                "timeout_ms": ms(h.timeout),
            })),
        })).collect::<Vec<_>>(),
        "custom_domains": s.domains.iter().map(|d| json!({
            "name": d.name,
            "certificate": {"not_after_unix": d.not_after, "private_key": REDACTED},
            "mtls": d.mtls.as_ref().map(|m| json!({
                "mode": if m.required { "required" } else { "optional" },
            })),
            "base_path_mappings": d.mappings.iter().map(|m| json!({
                "base_path": if m.base_path.is_empty() { "(none)" } else { m.base_path.as_str() },
                "api": api_id(m.api),
                "stage": m.stage,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "api_keys": s.api_keys.iter().map(|k| json!({
            "id": k.id,
            "name": k.name,
            "enabled": k.enabled,
            "value": REDACTED,
        })).collect::<Vec<_>>(),
        "usage_plans": usage_plans(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_snapshot_renders_without_its_secrets() {
        let s = crate::config::validate::from_str(
            Path::new("c.yaml"),
            "listeners: [{name: l, bind: 127.0.0.1:0, default_api: shop}]
apis:
  - id: shop
    routes:
      - {route: GET /items, integration: {type: HTTP_PROXY, uri: 'http://127.0.0.1:9/items'}, api_key_required: true}
      - {route: POST /items, integration: {type: MOCK, status: 201}}
    stages:
      - {name: prod, variables: {v: one}, throttle: {rate: 5, burst: 10}, cache: {cluster_size: 0.5}}
api_keys:
  - {id: k1, name: partner, value: super-secret-key-value-123}
usage_plans:
  - name: gold
    quota: {limit: 100, period: WEEK}
    api_stages: [{api: shop, stage: prod}]
    keys: [k1]
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let v = render(&s);
        let text = v.to_string();
        assert!(!text.contains("super-secret-key-value-123"), "{text}");
        assert_eq!(v["api_keys"][0]["value"], REDACTED);
        assert_eq!(v["api_keys"][0]["id"], "k1");
        assert_eq!(v["listeners"][0]["default_api"], "shop");
        let api = &v["apis"][0];
        assert_eq!(api["type"], "REST");
        assert_eq!(api["stages"][0]["name"], "prod");
        assert_eq!(api["stages"][0]["variables"]["v"], "one");
        assert_eq!(api["stages"][0]["throttle"]["rate"], 5.0);
        assert_eq!(api["stages"][0]["cache"]["capacity_bytes"], 1u64 << 29);
        let dep = &api["deployments"][0];
        assert_eq!(api["stages"][0]["deployment_id"], dep["id"]);
        assert_eq!(dep["routes"][0]["route_key"], "GET /items");
        assert_eq!(dep["routes"][0]["api_key_required"], true);
        assert_eq!(
            dep["routes"][0]["integration"]["uri"],
            "http://127.0.0.1:9/items"
        );
        assert_eq!(dep["routes"][1]["integration"]["type"], "MOCK");
        assert_eq!(dep["routes"][1]["integration"]["status"], 201);
        assert_eq!(v["usage_plans"][0]["name"], "gold");
        assert_eq!(v["usage_plans"][0]["keys"][0], "k1");
        assert_eq!(v["usage_plans"][0]["api_stages"][0]["stage"], "prod");
        assert_eq!(v["usage_plans"][0]["quota"]["period"], "WEEK");
        assert_eq!(v["admin"]["token"], Value::Null);
    }
}
