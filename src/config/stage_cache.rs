//! Validation of a stage's `cache:` (API Gateway's cache cluster and caching method
//! settings), a route's `cache_key_parameters` and a stage's `canary:`.

use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use super::file::{CanaryFile, StageCacheFile};
use super::snapshot::CachePolicy as Policy;
use super::snapshot::{
    ApiType, CacheKeyParam, CacheSettings, CacheStatusHeader, Canary, Deployment, RouteCaching,
    UnauthorizedStrategy,
};
use super::validate::{parse_method, Errors};
use crate::http::head::Method;

/// API Gateway's cache TTL range.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// The default eviction policy (chosen by the hit ratios in docs/BENCHMARKS.md).
pub const DEFAULT_POLICY: Policy = Policy::S3Fifo;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `apis[i].stages[j].cache` -> settings, or `None` when caching is off or invalid.
pub(super) fn build_cache(
    e: &mut Errors,
    f: &StageCacheFile,
    spath: &str,
    api_type: ApiType,
    deployment: Option<&Deployment>,
) -> Option<CacheSettings> {
    let path = format!("{spath}.cache");
    if api_type == ApiType::Http {
        e.push(
            path,
            "caching is a REST API feature (API Gateway HTTP APIs have no stage cache)",
        );
        return None;
    }
    let before = e.count();
    let capacity = f.cluster_size * GB;
    if !capacity.is_finite() || capacity < 1.0 || capacity > u64::MAX as f64 {
        e.push(
            format!("{path}.cluster_size"),
            format!(
                "must be a size in GB greater than 0 (API Gateway offers 0.5, 1.6, 6.1, 13.5, \
                 28.4, 58.2, 118 and 237), got {}",
                f.cluster_size
            ),
        );
    }
    let ttl = ttl(e, &format!("{path}.ttl"), &f.ttl);
    let policy = match f.eviction.as_deref() {
        None => DEFAULT_POLICY,
        Some("lru") => Policy::Lru,
        Some("s3fifo") => Policy::S3Fifo,
        Some(other) => {
            e.push(
                format!("{path}.eviction"),
                format!("unknown eviction policy `{other}`: expected `lru` or `s3fifo`"),
            );
            DEFAULT_POLICY
        }
    };
    let unauthorized = match f.unauthorized_cache_control_header_strategy.as_deref() {
        None | Some("SUCCEED_WITH_RESPONSE_HEADER") => {
            UnauthorizedStrategy::SucceedWithResponseHeader
        }
        Some("FAIL_WITH_403") => UnauthorizedStrategy::FailWith403,
        Some("SUCCEED_WITHOUT_RESPONSE_HEADER") => {
            UnauthorizedStrategy::SucceedWithoutResponseHeader
        }
        Some(other) => {
            e.push(
                format!("{path}.unauthorized_cache_control_header_strategy"),
                format!(
                    "unknown strategy `{other}`: expected FAIL_WITH_403, \
                     SUCCEED_WITH_RESPONSE_HEADER or SUCCEED_WITHOUT_RESPONSE_HEADER"
                ),
            );
            UnauthorizedStrategy::SucceedWithResponseHeader
        }
    };
    let mut invalidation_keys = Vec::new();
    for (k, id) in f.invalidation_api_keys.iter().enumerate() {
        match e.api_key_ids.get(id) {
            Some(&i) => invalidation_keys.push(i),
            None => e.push(
                format!("{path}.invalidation_api_keys[{k}]"),
                format!("no API key with id `{id}` in api_keys"),
            ),
        }
    }
    let status_header = f.status_header.as_ref().and_then(|h| {
        let hpath = format!("{path}.status_header");
        let mut ok = true;
        if h.name.is_empty() || !h.name.bytes().all(is_tchar) {
            e.push(
                format!("{hpath}.name"),
                format!("`{}` is not a valid header name", h.name),
            );
            ok = false;
        }
        for (key, v) in [("hit", &h.hit), ("miss", &h.miss)] {
            if !v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                e.push(
                    format!("{hpath}.{key}"),
                    "must be visible ASCII characters and spaces",
                );
                ok = false;
            }
        }
        ok.then(|| CacheStatusHeader {
            name: h.name.to_ascii_lowercase(),
            hit: h.hit.clone(),
            miss: h.miss.clone(),
        })
    });
    let coalescing_timeout = e
        .positive_duration(&format!("{path}.coalescing_timeout"), &f.coalescing_timeout)
        .unwrap_or(Duration::from_secs(5));

    let mut routes = AHashMap::new();
    for (k, m) in f.method_settings.iter().enumerate() {
        let mpath = format!("{path}.method_settings[{k}]");
        if let Some(d) = deployment {
            if !d.has_route_key(&m.route) {
                e.push(
                    format!("{mpath}.route"),
                    format!("no route `{}` in the stage's deployment", m.route),
                );
                continue;
            }
        }
        let route_ttl = match &m.ttl {
            Some(t) => self::ttl(e, &format!("{mpath}.ttl"), t),
            None => ttl,
        };
        let mut methods = Vec::new();
        for (n, name) in m.methods.iter().flatten().enumerate() {
            match parse_method(name) {
                Some(method) => methods.push(method),
                None => e.push(
                    format!("{mpath}.methods[{n}]"),
                    format!("unknown method `{name}`"),
                ),
            }
        }
        if m.methods.is_none() {
            methods.push(Method::Get);
        }
        let caching = RouteCaching {
            enabled: m.enabled.unwrap_or(true),
            ttl: route_ttl,
            methods,
        };
        if routes.insert(m.route.clone(), caching).is_some() {
            e.push(
                format!("{mpath}.route"),
                format!("duplicate method settings for `{}`", m.route),
            );
        }
    }
    if e.count() != before || !f.enabled {
        return None;
    }
    Some(CacheSettings {
        capacity_bytes: capacity as u64,
        policy,
        ttl,
        require_authorization: f.require_authorization_for_cache_control,
        unauthorized,
        invalidation_keys,
        status_header,
        coalescing: f.request_coalescing,
        coalescing_timeout,
        set_cookie: f.cache_responses_with_set_cookie,
        routes,
    })
}

/// A cache TTL: 0 s to 3600 s.
fn ttl(e: &mut Errors, path: &str, text: &super::file::DurationText) -> Duration {
    match text.parse() {
        Ok(d) if d <= MAX_TTL => d,
        Ok(d) => {
            e.push(path, format!("must be at most 3600s, got {}s", d.as_secs()));
            MAX_TTL
        }
        Err(reason) => {
            e.push(path, reason);
            Duration::ZERO
        }
    }
}

/// `routes[k].cache_key_parameters` -> the route's cache key parameters.
pub(super) fn build_key_parameters(
    e: &mut Errors,
    names: &[String],
    rpath: &str,
    param_names: &[String],
) -> Vec<CacheKeyParam> {
    let mut params = Vec::with_capacity(names.len());
    for (k, full) in names.iter().enumerate() {
        let kpath = format!("{rpath}.cache_key_parameters[{k}]");
        let param = if let Some(name) = full.strip_prefix("method.request.path.") {
            match param_names.iter().position(|p| p == name) {
                Some(i) => CacheKeyParam::Path(i),
                None => {
                    e.push(kpath, format!("the route has no path parameter `{name}`"));
                    continue;
                }
            }
        } else if let Some(name) = full.strip_prefix("method.request.querystring.") {
            if name.is_empty()
                || name
                    .bytes()
                    .any(|b| !b.is_ascii_graphic() || b == b'&' || b == b'=')
            {
                e.push(
                    kpath,
                    format!("`{name}` is not a query string parameter name"),
                );
                continue;
            }
            CacheKeyParam::Query(name.to_string())
        } else if let Some(name) = full.strip_prefix("method.request.header.") {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                e.push(kpath, format!("`{name}` is not a header name"));
                continue;
            }
            CacheKeyParam::Header(name.to_ascii_lowercase())
        } else {
            e.push(
                kpath,
                format!(
                    "`{full}` is not a cache key parameter: expected method.request.path.NAME, \
                     method.request.querystring.NAME or method.request.header.NAME"
                ),
            );
            continue;
        };
        if params.contains(&param) {
            e.push(kpath, format!("duplicate cache key parameter `{full}`"));
            continue;
        }
        params.push(param);
    }
    params
}

/// `apis[i].stages[j].canary` -> the canary, or `None` (after reporting) when invalid.
pub(super) fn build_canary(
    e: &mut Errors,
    f: &CanaryFile,
    spath: &str,
    deployments: &AHashMap<String, Arc<Deployment>>,
    stage_variables: &AHashMap<String, String>,
) -> Option<Canary> {
    let path = format!("{spath}.canary");
    let before = e.count();
    let deployment = deployments.get(&f.deployment).cloned();
    if deployment.is_none() {
        e.push(
            format!("{path}.deployment"),
            format!("no deployment `{}` in this API", f.deployment),
        );
    }
    if !f.percent_traffic.is_finite() || !(0.0..=100.0).contains(&f.percent_traffic) {
        e.push(
            format!("{path}.percent_traffic"),
            format!("must be a number from 0 to 100, got {}", f.percent_traffic),
        );
    }
    let mut variables = stage_variables.clone();
    let overrides = super::validate::build_variable_map(
        e,
        &f.stage_variable_overrides,
        &format!("{path}.stage_variable_overrides"),
    );
    variables.extend(overrides);
    if e.count() != before {
        return None;
    }
    Some(Canary {
        deployment: deployment?,
        percent: f.percent_traffic,
        variables,
        use_stage_cache: f.use_stage_cache,
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::validate::{from_str, ConfigErrors};
    use crate::config::Snapshot;

    fn api(stage_extra: &str, route_extra: &str, kind: &str) -> String {
        format!(
            "listeners: [{{name: l, bind: 127.0.0.1:0}}]
api_keys:
  - {{id: ops, value: ops-key-0123456789}}
apis:
  - id: demo
    type: {kind}
    deployments:
      - id: v1
        routes:
          - route: ANY /items/{{proxy+}}
            integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:9/{{proxy}}'}}
{route_extra}
          - route: POST /search
            integration: {{type: MOCK}}
      - id: v2
        routes: []
    stages:
      - name: prod
        deployment: v1
{stage_extra}
"
        )
    }

    fn ok(text: &str) -> Snapshot {
        from_str(Path::new("t.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    fn refused(text: &str, path: &str, fragment: &str) {
        match from_str(Path::new("t.yaml"), text) {
            Ok(_) => panic!("validated; expected an error at {path}"),
            Err(ConfigErrors(list)) => assert!(
                list.iter()
                    .any(|e| e.path == path && e.reason.contains(fragment)),
                "no error at `{path}` containing `{fragment}`; got:\n{}",
                ConfigErrors(list)
            ),
        }
    }

    fn stage(s: &Snapshot) -> &crate::config::snapshot::Stage {
        &s.apis[0].stages["prod"]
    }

    #[test]
    fn defaults_follow_api_gateway() {
        let s = ok(&api("        cache: {}", "", "REST"));
        let c = stage(&s).cache.as_ref().expect("cache on");
        assert_eq!(c.capacity_bytes, 512 * 1024 * 1024);
        assert_eq!(c.ttl, Duration::from_secs(300));
        assert!(c.require_authorization);
        assert_eq!(
            c.unauthorized,
            UnauthorizedStrategy::SucceedWithResponseHeader
        );
        assert!(c.status_header.is_none());
        assert!(c.coalescing);
        assert_eq!(c.coalescing_timeout, Duration::from_secs(5));
        assert_eq!(c.policy, DEFAULT_POLICY);
        // Responses with Set-Cookie are not stored unless the stage opts in.
        assert!(!c.set_cookie);
        let opted = ok(&api(
            "        cache: {cache_responses_with_set_cookie: true}",
            "",
            "REST",
        ));
        assert!(stage(&opted).cache.as_ref().is_some_and(|c| c.set_cookie));
        // GET only by default; other methods not cached.
        assert_eq!(
            c.ttl_for("ANY /items/{proxy+}", Method::Get),
            Some(Duration::from_secs(300))
        );
        assert_eq!(c.ttl_for("ANY /items/{proxy+}", Method::Post), None);
        // The cache itself is live state: the runtime's services make it (services).
        assert!(stage(&s).id < s.stage_count);
    }

    #[test]
    fn disabled_cache_builds_no_store() {
        let s = ok(&api("        cache: {enabled: false}", "", "REST"));
        assert!(stage(&s).cache.is_none());
    }

    #[test]
    fn method_settings_override_enable_ttl_and_methods() {
        let s = ok(&api(
            "        cache:
          ttl: 10s
          method_settings:
            - {route: POST /search, ttl: 60s, methods: [POST]}
            - {route: 'ANY /items/{proxy+}', enabled: false}",
            "",
            "REST",
        ));
        let c = stage(&s).cache.as_ref().expect("cache on");
        assert_eq!(
            c.ttl_for("POST /search", Method::Post),
            Some(Duration::from_secs(60))
        );
        assert_eq!(c.ttl_for("ANY /items/{proxy+}", Method::Get), None);
        // A route without settings keeps the stage TTL.
        assert_eq!(
            c.ttl_for("GET /other", Method::Get),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn ttl_zero_means_not_cached_and_range_is_checked() {
        let s = ok(&api("        cache: {ttl: 0s}", "", "REST"));
        let c = stage(&s).cache.as_ref().expect("cache on");
        assert_eq!(c.ttl_for("ANY /items/{proxy+}", Method::Get), None);
        refused(
            &api("        cache: {ttl: 3601s}", "", "REST"),
            "apis[0].stages[0].cache.ttl",
            "at most 3600s",
        );
        refused(
            &api("        cache: {ttl: soon}", "", "REST"),
            "apis[0].stages[0].cache.ttl",
            "invalid duration",
        );
    }

    #[test]
    fn cluster_size_must_be_positive_any_size_allowed() {
        refused(
            &api("        cache: {cluster_size: 0}", "", "REST"),
            "apis[0].stages[0].cache.cluster_size",
            "greater than 0",
        );
        refused(
            &api("        cache: {cluster_size: -1}", "", "REST"),
            "apis[0].stages[0].cache.cluster_size",
            "greater than 0",
        );
        let s = ok(&api("        cache: {cluster_size: 0.001}", "", "REST"));
        let c = stage(&s).cache.as_ref().expect("cache on");
        assert_eq!(c.capacity_bytes, (0.001 * GB) as u64);
    }

    #[test]
    fn strategy_eviction_and_keys_are_checked() {
        refused(
            &api(
                "        cache: {unauthorized_cache_control_header_strategy: SOMETIMES}",
                "",
                "REST",
            ),
            "apis[0].stages[0].cache.unauthorized_cache_control_header_strategy",
            "unknown strategy",
        );
        refused(
            &api("        cache: {eviction: random}", "", "REST"),
            "apis[0].stages[0].cache.eviction",
            "lru",
        );
        refused(
            &api(
                "        cache: {invalidation_api_keys: [ops, nobody]}",
                "",
                "REST",
            ),
            "apis[0].stages[0].cache.invalidation_api_keys[1]",
            "no API key with id `nobody`",
        );
        let s = ok(&api(
            "        cache: {invalidation_api_keys: [ops], unauthorized_cache_control_header_strategy: FAIL_WITH_403, eviction: lru}",
            "",
            "REST",
        ));
        let c = stage(&s).cache.as_ref().expect("cache on");
        assert_eq!(c.invalidation_keys, vec![0]);
        assert_eq!(c.unauthorized, UnauthorizedStrategy::FailWith403);
        assert_eq!(c.policy, Policy::Lru);
    }

    #[test]
    fn method_settings_name_existing_routes_and_methods() {
        refused(
            &api(
                "        cache: {method_settings: [{route: GET /nope}]}",
                "",
                "REST",
            ),
            "apis[0].stages[0].cache.method_settings[0].route",
            "no route `GET /nope`",
        );
        refused(
            &api(
                "        cache: {method_settings: [{route: POST /search, methods: [FETCH]}]}",
                "",
                "REST",
            ),
            "apis[0].stages[0].cache.method_settings[0].methods[0]",
            "unknown method",
        );
    }

    #[test]
    fn status_header_checked_and_lowercased() {
        let s = ok(&api(
            "        cache: {status_header: {name: X-Cache}}",
            "",
            "REST",
        ));
        let h = stage(&s)
            .cache
            .as_ref()
            .and_then(|c| c.status_header.as_ref())
            .expect("header");
        assert_eq!(
            (h.name.as_str(), h.hit.as_str(), h.miss.as_str()),
            ("x-cache", "Hit", "Miss")
        );
        refused(
            &api(
                "        cache: {status_header: {name: 'x cache'}}",
                "",
                "REST",
            ),
            "apis[0].stages[0].cache.status_header.name",
            "not a valid header name",
        );
    }

    #[test]
    fn http_apis_have_no_cache() {
        let text = api("        cache: {}", "", "HTTP")
            .replace("ANY /items", "GET /items")
            .replace("POST /search", "POST /search2");
        refused(&text, "apis[0].stages[0].cache", "REST API feature");
    }

    #[test]
    fn key_parameters_each_kind() {
        let s = ok(&api(
            "",
            "            cache_key_parameters: [method.request.path.proxy, method.request.querystring.q, method.request.header.X-Tenant]",
            "REST",
        ));
        let d = &stage(&s).deployment;
        let mut params = crate::routing::resource::PathParams::default();
        let route = match d.router.find(Method::Get, "/items/a", &mut params) {
            crate::routing::resource::Match::Found(r) => r,
            _ => panic!("route not found"),
        };
        assert_eq!(
            route.cache_key,
            vec![
                CacheKeyParam::Path(0),
                CacheKeyParam::Query("q".into()),
                CacheKeyParam::Header("x-tenant".into())
            ]
        );
    }

    #[test]
    fn key_parameters_refused() {
        let at = "apis[0].deployments[0].routes[0].cache_key_parameters[0]";
        for (param, fragment) in [
            ("method.request.path.nope", "no path parameter `nope`"),
            (
                "method.request.querystring.",
                "not a query string parameter name",
            ),
            ("method.request.header.bad header", "not a header name"),
            ("method.request.body", "not a cache key parameter"),
        ] {
            refused(
                &api(
                    "",
                    &format!("            cache_key_parameters: ['{param}']"),
                    "REST",
                ),
                at,
                fragment,
            );
        }
        refused(
            &api("", "            cache_key_parameters: [method.request.querystring.q, method.request.querystring.q]", "REST"),
            "apis[0].deployments[0].routes[0].cache_key_parameters[1]",
            "duplicate",
        );
    }

    #[test]
    fn canary_settings() {
        let s = ok(&api(
            "        variables: {a: '1', b: '2'}
        canary: {deployment: v2, percent_traffic: 12.5, stage_variable_overrides: {b: '3'}, use_stage_cache: true}",
            "",
            "REST",
        ));
        let c = stage(&s).canary.as_ref().expect("canary");
        assert_eq!(c.deployment.id, "v2");
        assert_eq!(c.percent, 12.5);
        assert_eq!(c.variables.get("a").map(String::as_str), Some("1"));
        assert_eq!(c.variables.get("b").map(String::as_str), Some("3"));
        assert!(c.use_stage_cache);
        refused(
            &api("        canary: {deployment: v9}", "", "REST"),
            "apis[0].stages[0].canary.deployment",
            "no deployment `v9`",
        );
        refused(
            &api(
                "        canary: {deployment: v2, percent_traffic: 101}",
                "",
                "REST",
            ),
            "apis[0].stages[0].canary.percent_traffic",
            "from 0 to 100",
        );
        refused(
            &api(
                "        canary: {deployment: v2, stage_variable_overrides: {'a b': x}}",
                "",
                "REST",
            ),
            "apis[0].stages[0].canary.stage_variable_overrides.a b",
            "not a valid stage variable name",
        );
    }
}
