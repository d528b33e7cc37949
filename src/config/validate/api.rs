//! The `apis` section: APIs, stages, stage variables and deployments.

use std::sync::Arc;

use ahash::AHashMap;

use super::routes::build_deployment;
use super::Errors;
use crate::config::file::{ApiFile, ApiTypeFile, StageFile, StringMap, CURRENT_DEPLOYMENT};
use crate::config::snapshot::{Api, ApiType, Deployment, ServerSettings, Stage, DEFAULT_STAGE};

pub(super) fn build_api(e: &mut Errors, f: &ApiFile, server: &ServerSettings, path: &str) -> Api {
    if f.id.is_empty()
        || !f
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        e.push(
            format!("{path}.id"),
            format!(
                "`{}` is not a valid API id: use lowercase letters, digits and `-` \
                 (it becomes the host name `{{id}}.execute-api.{{suffix}}`)",
                f.id
            ),
        );
    }
    let api_type = match f.api_type {
        ApiTypeFile::Rest => ApiType::Rest,
        ApiTypeFile::Http => ApiType::Http,
    };

    // Authorizers first: routes name them.
    let (authorizers, authorizer_names) = crate::config::authorizer::build_authorizers(
        e,
        api_type,
        &f.authorizers,
        &format!("{path}.authorizers"),
    );
    let auth = super::routes::ApiAuthorizers {
        list: &authorizers,
        names: &authorizer_names,
    };
    let resource_policy = f.resource_policy.as_ref().and_then(|doc| {
        crate::config::resource_policy::build(
            e,
            api_type,
            server,
            &f.id,
            doc,
            &format!("{path}.resource_policy"),
        )
    });
    let binary_media_types = crate::config::binary_media::build(
        e,
        &f.binary_media_types,
        &format!("{path}.binary_media_types"),
    );
    let cors = f
        .cors
        .as_ref()
        .and_then(|c| crate::config::cors::build(e, c, &format!("{path}.cors")));
    let gateway_responses = f
        .gateway_responses
        .as_ref()
        .map(|g| crate::config::gateway_response::build(e, g, &format!("{path}.gateway_responses")))
        .unwrap_or_default();
    let api_key_source = crate::config::authorizer::build_api_key_source(
        e,
        api_type,
        f.api_key_source.as_deref(),
        &format!("{path}.api_key_source"),
    );

    // Deployments: `routes` is the deployment `current`; then the explicit ones.
    let mut deployments: AHashMap<String, Arc<Deployment>> = AHashMap::new();
    let mut order: Vec<String> = Vec::new();
    if let Some(routes) = &f.routes {
        let d = build_deployment(
            e,
            api_type,
            &auth,
            CURRENT_DEPLOYMENT,
            routes,
            &format!("{path}.routes"),
        );
        deployments.insert(CURRENT_DEPLOYMENT.to_string(), d);
        order.push(CURRENT_DEPLOYMENT.to_string());
    }
    for (j, d) in f.deployments.iter().enumerate() {
        let dpath = format!("{path}.deployments[{j}]");
        let built = build_deployment(
            e,
            api_type,
            &auth,
            &d.id,
            &d.routes,
            &format!("{dpath}.routes"),
        );
        if !is_name(&d.id, false) {
            e.push(
                format!("{dpath}.id"),
                format!(
                    "`{}` is not a valid deployment id: use letters, digits, `_` and `-`",
                    d.id
                ),
            );
            continue;
        }
        if d.id == CURRENT_DEPLOYMENT && f.routes.is_some() {
            e.push(
                format!("{dpath}.id"),
                format!(
                    "`{CURRENT_DEPLOYMENT}` is already the deployment of this API's `routes`; \
                     rename this deployment or remove `routes`"
                ),
            );
            continue;
        }
        if deployments.contains_key(&d.id) {
            e.push(
                format!("{dpath}.id"),
                format!("duplicate deployment id `{}` in this API", d.id),
            );
            continue;
        }
        deployments.insert(d.id.clone(), built);
        order.push(d.id.clone());
    }

    // Stages.
    if f.stages.is_empty() {
        e.push(format!("{path}.stages"), "at least one stage is required");
    }
    let mut stages: AHashMap<String, Arc<Stage>> = AHashMap::new();
    let mut first_stage: AHashMap<&str, usize> = AHashMap::new();
    for (j, s) in f.stages.iter().enumerate() {
        let spath = format!("{path}.stages[{j}]");
        let mut ok = true;
        if s.name == DEFAULT_STAGE {
            if api_type != ApiType::Http {
                e.push(
                    format!("{spath}.name"),
                    "the `$default` stage is only valid for HTTP APIs (type: HTTP)",
                );
                ok = false;
            }
        } else if !is_name(&s.name, false) {
            e.push(
                format!("{spath}.name"),
                format!(
                    "`{}` is not a valid stage name: use letters, digits, `_` and `-` \
                     (or `$default` on HTTP APIs)",
                    s.name
                ),
            );
            ok = false;
        }
        if let Some(first) = first_stage.get(s.name.as_str()) {
            e.push(
                format!("{spath}.name"),
                format!(
                    "duplicate stage name `{}` (first defined at {path}.stages[{first}])",
                    s.name
                ),
            );
            ok = false;
        } else {
            first_stage.insert(&s.name, j);
        }
        let deployment = deployments.get(&s.deployment).cloned();
        if deployment.is_none() {
            let reason = if s.deployment == CURRENT_DEPLOYMENT && f.routes.is_none() {
                format!(
                    "no deployment `{CURRENT_DEPLOYMENT}`: this API has no `routes` \
                     (add `routes`, or name one of its `deployments`)"
                )
            } else if order.is_empty() {
                format!(
                    "no deployment `{}`: this API has no routes or deployments",
                    s.deployment
                )
            } else {
                format!(
                    "no deployment `{}` in this API (defined: {})",
                    s.deployment,
                    order.join(", ")
                )
            };
            e.push(format!("{spath}.deployment"), reason);
        }
        let variables = build_variables(e, s, &spath);
        let throttle = s.throttle.and_then(|t| {
            e.rate_limit(
                &format!("{spath}.throttle"),
                format!("stage {}/{}", f.id, s.name),
                t.rate,
                t.burst,
            )
        });
        let mut method_throttles = AHashMap::new();
        for (j, m) in s.method_throttle.iter().enumerate() {
            let mpath = format!("{spath}.method_throttle[{j}]");
            if let Some(d) = &deployment {
                if !d.has_route_key(&m.route) {
                    e.push(
                        format!("{mpath}.route"),
                        format!("no route `{}` in the stage's deployment", m.route),
                    );
                    continue;
                }
            }
            let name = format!("stage {}/{} route {}", f.id, s.name, m.route);
            if let Some(id) = e.rate_limit(&mpath, name, m.rate, m.burst) {
                if method_throttles.insert(m.route.clone(), id).is_some() {
                    e.push(
                        format!("{mpath}.route"),
                        format!("duplicate throttle for `{}`", m.route),
                    );
                }
            }
        }
        let cache = s.cache.as_ref().and_then(|c| {
            crate::config::stage_cache::build_cache(e, c, &spath, api_type, deployment.as_deref())
        });
        let canary = s.canary.as_ref().and_then(|c| {
            crate::config::stage_cache::build_canary(e, c, &spath, &deployments, &variables)
        });
        let execution_log = s.execution_log.as_ref().and_then(|x| {
            crate::config::execution_log::build_execution_log(
                e,
                x,
                &format!("{spath}.execution_log"),
            )
        });
        let tracing = crate::config::tracing::build_stage(e, s, &spath);
        let access_log = s.access_log.as_ref().and_then(|l| {
            let base_dir = e.base_dir_owned();
            crate::config::access_log::build_access_log(
                e,
                l,
                &format!("{spath}.access_log"),
                &base_dir,
            )
        });
        let client_certificate = s.client_certificate.as_ref().and_then(|c| {
            crate::config::client_certificate::build(e, c, &format!("{spath}.client_certificate"))
        });
        let id = e.stages;
        e.stages += 1;
        if let (true, Some(deployment)) = (ok, deployment) {
            stages.insert(
                s.name.clone(),
                Arc::new(Stage {
                    name: s.name.clone(),
                    deployment,
                    variables,
                    id,
                    throttle,
                    method_throttles,
                    cache,
                    canary,
                    detailed_metrics: s.detailed_metrics,
                    execution_log,
                    tracing,
                    access_log,
                    client_certificate,
                }),
            );
        }
    }

    Api {
        id: f.id.clone(),
        index: 0,
        name: f.name.clone().unwrap_or_else(|| f.id.clone()),
        api_type,
        stages,
        disable_execute_api_endpoint: f.disable_execute_api_endpoint,
        authorizers,
        resource_policy,
        api_key_source,
        binary_media_types,
        cors,
        gateway_responses,
    }
}

/// `[A-Za-z0-9_-]+` (`-` excluded when `strict`: stage variable names).
pub(super) fn is_name(s: &str, strict: bool) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (!strict && b == b'-'))
}

pub(super) fn build_variables(
    e: &mut Errors,
    s: &StageFile,
    spath: &str,
) -> AHashMap<String, String> {
    build_variable_map(e, &s.variables, &format!("{spath}.variables"))
}

/// Stage variables (or a canary's overrides) at `path`.
pub(in crate::config) fn build_variable_map(
    e: &mut Errors,
    map: &StringMap,
    path: &str,
) -> AHashMap<String, String> {
    let mut vars = AHashMap::with_capacity(map.0.len());
    for (name, value) in &map.0 {
        let vpath = format!("{path}.{name}");
        if !is_name(name, true) {
            e.push(
                vpath,
                format!("`{name}` is not a valid stage variable name: use letters, digits and `_`"),
            );
            continue;
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            e.push(
                vpath,
                "the value must not contain whitespace or control characters",
            );
            continue;
        }
        if vars.insert(name.clone(), value.clone()).is_some() {
            e.push(vpath, format!("duplicate stage variable `{name}`"));
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::*;
    use crate::config::validate::ConfigErrors;

    // ---- APIs

    #[test]
    fn no_apis() {
        let list = errors("listeners: [{name: a, bind: '127.0.0.1:1'}]\n");
        assert_error(&list, "apis", "at least one API");
    }

    #[test]
    fn duplicate_api_id() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - {id: demo, routes: [], stages: [{name: prod}]}
  - {id: demo, routes: [], stages: [{name: prod}]}
";
        let list = errors(text);
        assert_error(&list, "apis[1].id", "duplicate API id `demo`");
    }

    #[test]
    fn api_id_charset() {
        let list = errors(&minimal("", "").replace("id: demo", "id: Demo_API"));
        assert_error(&list, "apis[0].id", "not a valid API id");
    }

    #[test]
    fn api_type_http_and_default_name() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - {id: my-api-1, type: HTTP, routes: [], stages: [{name: $default}, {name: dev}]}
";
        let snap = check(text).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("my-api-1").expect("api");
        assert_eq!(api.api_type, ApiType::Http);
        assert!(api.default_stage().is_some());
        // both stages share the one deployment
        let a = &api.stages["$default"].deployment;
        let b = &api.stages["dev"].deployment;
        assert!(Arc::ptr_eq(a, b));
    }

    // ---- stages

    #[test]
    fn no_stages() {
        let list = errors(&minimal("", "").replace("    stages:\n      - name: prod\n", ""));
        assert_error(&list, "apis[0].stages", "at least one stage");
    }

    #[test]
    fn detailed_metrics_per_stage() {
        let text = minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        detailed_metrics: true\n      - name: dev\n",
        );
        let snap = check(&text).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        assert!(api.stages["prod"].detailed_metrics);
        assert!(!api.stages["dev"].detailed_metrics, "off by default");
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        detailed_metrics: sometimes\n",
        ));
        assert_error(&list, "apis[0].stages[0].detailed_metrics", "");
    }

    #[test]
    fn stage_name_charset() {
        let list = errors(&minimal("", "").replace("name: prod", "name: 'my stage'"));
        assert_error(&list, "apis[0].stages[0].name", "not a valid stage name");
    }

    #[test]
    fn duplicate_stage_name() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n      - name: prod\n",
        ));
        assert_error(
            &list,
            "apis[0].stages[1].name",
            "duplicate stage name `prod`",
        );
    }

    #[test]
    fn default_stage_only_on_http_apis() {
        let list = errors(&minimal("", "").replace("name: prod", "name: $default"));
        assert_error(&list, "apis[0].stages[0].name", "only valid for HTTP APIs");
    }

    #[test]
    fn stage_deployment_must_exist() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        deployment: d9\n",
        ));
        assert_error(
            &list,
            "apis[0].stages[0].deployment",
            "no deployment `d9` in this API (defined: current)",
        );
    }

    #[test]
    fn stage_default_deployment_needs_routes() {
        let list =
            errors(&minimal("", "").replace("    routes: []\n", "    deployments: [{id: d1}]\n"));
        assert_error(
            &list,
            "apis[0].stages[0].deployment",
            "this API has no `routes`",
        );
    }

    #[test]
    fn stage_variable_names() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        variables: {ok_1: x, bad-name: y, spaced: 'a b'}\n",
        ));
        assert_eq!(list.len(), 2, "{}", ConfigErrors(list.clone()));
        assert_error(
            &list,
            "apis[0].stages[0].variables.bad-name",
            "not a valid stage variable name",
        );
        assert_error(&list, "apis[0].stages[0].variables.spaced", "whitespace");
    }

    #[test]
    fn stage_variable_values_must_be_strings() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        variables: {port: [1]}\n",
        ));
        assert_eq!(list[0].path, "apis[0].stages[0].variables.port");
    }

    // ---- deployments

    #[test]
    fn routes_and_current_deployment_conflict() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: current}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[0].id",
            "already the deployment of this API's `routes`",
        );
    }

    #[test]
    fn duplicate_deployment_id() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: d1}, {id: d1}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[1].id",
            "duplicate deployment id `d1`",
        );
    }

    #[test]
    fn deployment_id_charset() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: 'd 1'}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[0].id",
            "not a valid deployment id",
        );
    }

    #[test]
    fn explicit_deployments_are_shared() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    deployments: [{id: d1}, {id: d2}]
    stages:
      - {name: a, deployment: d1}
      - {name: b, deployment: d1}
      - {name: c, deployment: d2}
";
        let snap = check(text).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        assert!(Arc::ptr_eq(
            &api.stages["a"].deployment,
            &api.stages["b"].deployment
        ));
        assert_eq!(api.stages["c"].deployment.id, "d2");
    }
}
