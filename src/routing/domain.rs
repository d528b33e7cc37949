//! Host and path -> (API, stage, resource path).
//!
//! CONTRACT (implemented by the routing work):
//! - Host (port stripped by the caller, once per request: [`strip_port`]; case-insensitive)
//!   `{api-id}.execute-api.{suffix}` selects API
//!   `api-id` (`suffix` = `snapshot.server.execute_api_suffix`); an unknown id -> error.
//!   Any other host (or none) -> the listener's `default_api`, else error.
//! - REST API: the first path segment names the stage; the rest (or `/`) is the resource path.
//! - HTTP API: if the first segment names a stage other than `$default`, that stage and the
//!   rest; else the `$default` stage with the whole path; else error.
//! - Errors: REST semantics `ErrorKind::MissingAuthenticationToken` (unknown host/API/stage,
//!   REST or when no API is selected), `ErrorKind::ResourceNotFound` for an HTTP API without
//!   a matching stage.
//! - Allocates nothing.

use std::sync::Arc;

use crate::config::snapshot::{Api, ApiType, ListenerSpec, Snapshot, Stage, DEFAULT_STAGE};
use crate::error::ErrorKind;

#[derive(Debug)]
pub struct Selected<'s, 'p> {
    pub api: &'s Arc<Api>,
    pub stage: &'s Arc<Stage>,
    /// The path to match against the stage's routes (starts with `/`).
    pub resource_path: &'p str,
}

/// `host`: the request's host with its port already stripped ([`strip_port`]).
pub fn select<'s, 'p>(
    snapshot: &'s Snapshot,
    listener: &ListenerSpec,
    host: Option<&str>,
    path: &'p str,
) -> Result<Selected<'s, 'p>, ErrorKind> {
    let api = match host.and_then(|h| execute_api_id(h, &snapshot.server.execute_api_suffix)) {
        Some(id) => find_api(snapshot, id),
        None => listener.default_api.and_then(|i| snapshot.apis.get(i)),
    }
    .ok_or(ErrorKind::MissingAuthenticationToken)?;
    if api.disable_execute_api_endpoint {
        // API Gateway's disableExecuteApiEndpoint: only custom domains reach the API.
        return Err(ErrorKind::Forbidden);
    }

    let (first, rest) = first_segment(path);
    match api.api_type {
        ApiType::Rest => {
            let stage = stage_named(api, first).ok_or(ErrorKind::MissingAuthenticationToken)?;
            Ok(Selected {
                api,
                stage,
                resource_path: rest,
            })
        }
        ApiType::Http => {
            if first != DEFAULT_STAGE {
                if let Some(stage) = stage_named(api, first) {
                    return Ok(Selected {
                        api,
                        stage,
                        resource_path: rest,
                    });
                }
            }
            let stage = stage_named(api, DEFAULT_STAGE).ok_or(ErrorKind::ResourceNotFound)?;
            Ok(Selected {
                api,
                stage,
                resource_path: path,
            })
        }
    }
}

/// `api.stages.get(name)`; an API with one stage (a lone `$default` or `prod`, the common
/// case) compares the name with that stage's instead of hashing it.
fn stage_named<'s>(api: &'s Api, name: &str) -> Option<&'s Arc<Stage>> {
    if api.stages.len() == 1 {
        return api
            .stages
            .iter()
            .next()
            .filter(|(n, _)| n.as_str() == name)
            .map(|(_, stage)| stage);
    }
    api.stages.get(name)
}

/// Custom domain `domain` (an index into `snapshot.domains`) and path -> (API, stage,
/// resource path) through the domain's base-path mappings: the longest base path that is a
/// whole-segment prefix of the path wins and is stripped; `(none)` (empty) matches every
/// path. No mapping: REST semantics, 403 Missing Authentication Token.
pub fn select_by_domain<'s, 'p>(
    snapshot: &'s Snapshot,
    domain: usize,
    path: &'p str,
) -> Result<Selected<'s, 'p>, ErrorKind> {
    let d = snapshot
        .domains
        .get(domain)
        .ok_or(ErrorKind::MissingAuthenticationToken)?;
    for m in &d.mappings {
        let rest = if m.base_path.is_empty() {
            Some(path)
        } else {
            path.strip_prefix('/')
                .and_then(|p| p.strip_prefix(m.base_path.as_str()))
                .filter(|r| r.is_empty() || r.starts_with('/'))
        };
        let Some(rest) = rest else { continue };
        let api = snapshot
            .apis
            .get(m.api)
            .ok_or(ErrorKind::MissingAuthenticationToken)?;
        let stage = api
            .stages
            .get(&m.stage)
            .ok_or(ErrorKind::MissingAuthenticationToken)?;
        let resource_path = if rest.is_empty() { "/" } else { rest };
        return Ok(Selected {
            api,
            stage,
            resource_path,
        });
    }
    Err(ErrorKind::MissingAuthenticationToken)
}

pub use crate::http::host::{execute_api_id, strip_port};

/// The API with id `id`: exact first, then ignoring ASCII case (hosts are case-insensitive).
fn find_api<'s>(snapshot: &'s Snapshot, id: &str) -> Option<&'s Arc<Api>> {
    snapshot
        .api(id)
        .or_else(|| snapshot.apis.iter().find(|a| a.id.eq_ignore_ascii_case(id)))
}

/// `/prod/a/b` -> (`prod`, `/a/b`); `/prod` and `/prod/` -> (`prod`, `/`); `/` -> (``, `/`).
fn first_segment(path: &str) -> (&str, &str) {
    let p = path.strip_prefix('/').unwrap_or(path);
    // A byte search: `/` is ASCII, so `i` is a char boundary.
    match p.bytes().position(|b| b == b'/') {
        Some(i) => p.split_at(i),
        None => (p, "/"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use ahash::AHashMap;

    use super::*;
    use crate::config::snapshot::{Deployment, HttpLimits, ServerSettings};
    use crate::routing::resource::Router;

    fn api(id: &str, api_type: ApiType, stages: &[&str]) -> Arc<Api> {
        let deployment = Arc::new(Deployment {
            id: format!("{id}-dep"),
            router: Router::new(),
            route_keys: Vec::new(),
            route_key_set: Default::default(),
            routes: Vec::new(),
        });
        let stages = stages
            .iter()
            .map(|s| {
                let stage = Stage {
                    name: s.to_string(),
                    deployment: deployment.clone(),
                    variables: AHashMap::new(),
                    id: 0,
                    throttle: None,
                    method_throttles: AHashMap::new(),
                    cache: None,
                    canary: None,
                    detailed_metrics: false,
                    execution_log: None,
                    tracing: Default::default(),
                    access_log: None,
                    client_certificate: None,
                };
                (s.to_string(), Arc::new(stage))
            })
            .collect();
        Arc::new(Api {
            id: id.into(),
            name: format!("{id} api"),
            api_type,
            stages,
            disable_execute_api_endpoint: false,
            authorizers: Vec::new(),
            resource_policy: None,
            api_key_source: Default::default(),
            index: 0,
            binary_media_types: Default::default(),
            cors: None,
            gateway_responses: Default::default(),
        })
    }

    fn snapshot() -> Snapshot {
        let apis = vec![
            api("restapi1", ApiType::Rest, &["prod", "dev"]),
            api("httpapi1", ApiType::Http, &["$default", "beta"]),
            api("httpnodef", ApiType::Http, &["v1"]),
            api("MixedCase", ApiType::Rest, &["prod"]),
            api("onlydefault", ApiType::Http, &["$default"]),
        ];
        let apis_by_id = apis
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        Snapshot {
            source: PathBuf::from("test.yaml"),
            server: ServerSettings {
                workers: Some(1),
                execute_api_suffix: "localhost".into(),
                drain_timeout: Duration::from_secs(1),
                reconcile_interval: Duration::from_millis(20),
                state_file: PathBuf::from("test.state"),
                state_flush_interval: Duration::from_secs(2),
                tracing: Default::default(),
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
            },
            limits: HttpLimits::default(),
            listeners: Vec::new(),
            apis,
            apis_by_id,
            target_groups: Vec::new(),
            domains: Vec::new(),
            domain_index: Default::default(),
            rate_limits: Vec::new(),
            api_keys: Vec::new(),
            api_keys_by_value: AHashMap::new(),
            plan_bindings: AHashMap::new(),
            quotas: Vec::new(),
            stage_count: 0,
            admin: None,
            forwarded_cert_headers: Vec::new(),
            admin_token: None,
            iam: Default::default(),
            aws: Default::default(),
        }
    }

    fn listener(default_api: Option<usize>) -> ListenerSpec {
        let bind: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        ListenerSpec {
            name: "main".into(),
            bind,
            default_api,
            tls: None,
            drop_underscore_headers: false,
            h2c: false,
            trusted_proxies: Vec::new(),
        }
    }

    /// (api id, stage name, resource path) or the error.
    fn sel<'p>(
        snap: &Snapshot,
        default_api: Option<usize>,
        host: Option<&str>,
        path: &'p str,
    ) -> Result<(String, String, &'p str), ErrorKind> {
        select(snap, &listener(default_api), host.map(strip_port), path)
            .map(|s| (s.api.id.clone(), s.stage.name.clone(), s.resource_path))
    }

    fn ok(
        api: &str,
        stage: &str,
        path: &'static str,
    ) -> Result<(String, String, &'static str), ErrorKind> {
        Ok((api.into(), stage.into(), path))
    }

    #[test]
    fn rest_stage_is_the_first_segment() {
        let s = snapshot();
        let h = Some("restapi1.execute-api.localhost");
        assert_eq!(
            sel(&s, None, h, "/prod/pets/1"),
            ok("restapi1", "prod", "/pets/1")
        );
        assert_eq!(sel(&s, None, h, "/dev/a/"), ok("restapi1", "dev", "/a/"));
        assert_eq!(sel(&s, None, h, "/prod"), ok("restapi1", "prod", "/"));
        assert_eq!(sel(&s, None, h, "/prod/"), ok("restapi1", "prod", "/"));
        assert_eq!(
            sel(&s, None, h, "/staging/pets"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
        assert_eq!(
            sel(&s, None, h, "/Prod/pets"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
        assert_eq!(
            sel(&s, None, h, "/"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
        assert_eq!(
            sel(&s, None, h, "//prod"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
    }

    #[test]
    fn execute_api_host_selects_the_api() {
        let s = snapshot();
        for h in [
            "restapi1.execute-api.localhost",
            "restapi1.execute-api.localhost:8080",
            "RESTAPI1.Execute-API.LocalHost:443",
            "restapi1.execute-api.localhost.",
        ] {
            assert_eq!(
                sel(&s, Some(1), Some(h), "/prod/x"),
                ok("restapi1", "prod", "/x"),
                "{h}"
            );
        }
        // Ids are matched ignoring case too.
        assert_eq!(
            sel(&s, None, Some("mixedcase.execute-api.localhost"), "/prod"),
            ok("MixedCase", "prod", "/")
        );
        // Unknown id: an error even with a default API.
        let unknown = Some("nope.execute-api.localhost");
        assert_eq!(
            sel(&s, Some(0), unknown, "/prod"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
        assert_eq!(
            sel(&s, None, unknown, "/prod"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
    }

    #[test]
    fn other_hosts_use_the_default_api() {
        let s = snapshot();
        for h in [
            None,
            Some("example.com"),
            Some("example.com:80"),
            Some("127.0.0.1:8080"),
            Some("[::1]:8080"),
            Some("[::1]"),
            Some("execute-api.localhost"),
            Some(".execute-api.localhost"),
            Some("a.b.execute-api.localhost"),
            Some("restapi1.execute-api.example.com"),
            Some("restapi1.execute-api.localhostx"),
            Some("restapi1xexecute-api.localhost"),
            Some("restapi1.execute-api.localhosté"),
            Some("éxecute-api.localhost"),
            Some(""),
        ] {
            assert_eq!(
                sel(&s, Some(0), h, "/dev/q"),
                ok("restapi1", "dev", "/q"),
                "{h:?}"
            );
            assert_eq!(
                sel(&s, None, h, "/dev/q"),
                Err(ErrorKind::MissingAuthenticationToken),
                "{h:?}"
            );
        }
        // A default index outside the API list selects nothing.
        assert_eq!(
            sel(&s, Some(99), None, "/dev"),
            Err(ErrorKind::MissingAuthenticationToken)
        );
    }

    #[test]
    fn http_api_stages() {
        let s = snapshot();
        let h = Some("httpapi1.execute-api.localhost");
        assert_eq!(
            sel(&s, None, h, "/pets/1"),
            ok("httpapi1", "$default", "/pets/1")
        );
        assert_eq!(sel(&s, None, h, "/"), ok("httpapi1", "$default", "/"));
        assert_eq!(
            sel(&s, None, h, "/beta/pets/1"),
            ok("httpapi1", "beta", "/pets/1")
        );
        assert_eq!(sel(&s, None, h, "/beta"), ok("httpapi1", "beta", "/"));
        // `$default` is never a prefix.
        assert_eq!(
            sel(&s, None, h, "/$default/x"),
            ok("httpapi1", "$default", "/$default/x")
        );
        assert_eq!(
            sel(&s, Some(1), Some("gw.example.com"), "/betax"),
            ok("httpapi1", "$default", "/betax")
        );

        let h = Some("httpnodef.execute-api.localhost");
        assert_eq!(sel(&s, None, h, "/v1/a"), ok("httpnodef", "v1", "/a"));
        assert_eq!(sel(&s, None, h, "/v2/a"), Err(ErrorKind::ResourceNotFound));
        assert_eq!(sel(&s, None, h, "/"), Err(ErrorKind::ResourceNotFound));
    }

    #[test]
    fn host_helpers() {
        assert_eq!(strip_port("a.b:81"), "a.b");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1"), "[::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("a.b."), "a.b");
        assert_eq!(
            execute_api_id("x1.execute-api.localhost", "localhost"),
            Some("x1")
        );
        assert_eq!(execute_api_id("x1.execute-api", ""), Some("x1"));
        assert_eq!(
            execute_api_id(
                "x1.EXECUTE-API.us-east-1.amazonaws.com",
                "us-east-1.amazonaws.com"
            ),
            Some("x1")
        );
        assert_eq!(execute_api_id("x1.execute-api.localhost", ""), None);
        assert_eq!(execute_api_id("localhost", "localhost"), None);
    }

    #[test]
    fn apis_with_one_stage() {
        let s = snapshot();
        // REST, one stage: the name must match exactly.
        let h = Some("mixedcase.execute-api.localhost");
        assert_eq!(sel(&s, None, h, "/prod/a"), ok("MixedCase", "prod", "/a"));
        for path in ["/Prod/a", "/", "/prodx", "/pro", "//prod"] {
            assert_eq!(
                sel(&s, None, h, path),
                Err(ErrorKind::MissingAuthenticationToken),
                "{path}"
            );
        }
        // HTTP, only `$default`: every path, whole.
        let h = Some("onlydefault.execute-api.localhost");
        for path in ["/", "/a/b", "/$default", "/$default/x", "/v1/a", "//"] {
            assert_eq!(
                sel(&s, None, h, path),
                ok("onlydefault", "$default", path),
                "{path}"
            );
        }
        assert_eq!(
            sel(&s, Some(4), Some("127.0.0.1:8080"), "/x"),
            ok("onlydefault", "$default", "/x")
        );
        // HTTP, one named stage and no `$default`.
        let h = Some("httpnodef.execute-api.localhost");
        assert_eq!(sel(&s, None, h, "/v1"), ok("httpnodef", "v1", "/"));
        assert_eq!(sel(&s, None, h, "/V1/a"), Err(ErrorKind::ResourceNotFound));
        assert_eq!(
            sel(&s, None, h, "/$default"),
            Err(ErrorKind::ResourceNotFound)
        );
    }

    #[test]
    fn stage_lookup_agrees_with_the_map() {
        let s = snapshot();
        for api in &s.apis {
            for name in [
                "", "prod", "Prod", "dev", "$default", "beta", "v1", "v2", "x",
            ] {
                assert_eq!(
                    stage_named(api, name).map(|st| st.name.as_str()),
                    api.stages.get(name).map(|st| st.name.as_str()),
                    "{} {name}",
                    api.id
                );
            }
        }
    }

    #[test]
    fn first_segments() {
        assert_eq!(first_segment("/prod/a/b"), ("prod", "/a/b"));
        assert_eq!(first_segment("/prod"), ("prod", "/"));
        assert_eq!(first_segment("/prod/"), ("prod", "/"));
        assert_eq!(first_segment("/"), ("", "/"));
        assert_eq!(first_segment("//a"), ("", "/a"));
        assert_eq!(first_segment(""), ("", "/"));
    }
}
