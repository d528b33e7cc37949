//! Routes and their integrations (route keys, HTTP_PROXY and MOCK).

use std::collections::HashSet;
use std::sync::Arc;

use super::Errors;
use crate::config::file::{
    IntegrationFile, IntegrationType, RouteFile, DEFAULT_INTEGRATION_TIMEOUT,
    MIN_INTEGRATION_TIMEOUT,
};
use crate::config::snapshot::{
    ApiType, Deployment, HttpProxyIntegration, Integration, MockIntegration, Route, StaticUpstream,
};
use crate::http::head::{is_hop_by_hop, Method};
use crate::routing::resource::{RouteMethod, Router};
use crate::upstream::uri::UriTemplate;

/// An API's authorizers, for its routes to name.
pub(super) struct ApiAuthorizers<'a> {
    pub list: &'a [Arc<crate::config::authorizer::Authorizer>],
    pub names: &'a ahash::AHashMap<String, usize>,
}

pub(super) fn build_deployment(
    e: &mut Errors,
    api_type: ApiType,
    auth: &ApiAuthorizers<'_>,
    id: &str,
    routes: &[RouteFile],
    path: &str,
) -> Arc<Deployment> {
    let mut router: Router<Arc<Route>> = Router::new();
    let mut route_keys = Vec::new();
    let mut routes_in_order = Vec::new();
    let mut seen: HashSet<(RouteMethod, &str)> = HashSet::new();
    for (k, r) in routes.iter().enumerate() {
        let rpath = format!("{path}[{k}]");
        let key_path = format!("{rpath}.route");
        let ipath = format!("{rpath}.integration");
        let integration = build_integration(e, api_type, &r.integration, &ipath);
        let (method, template) = match parse_route_key(&r.route, api_type) {
            Ok(v) => v,
            Err(reason) => {
                e.push(key_path, reason);
                continue;
            }
        };
        if !seen.insert((method, template)) {
            e.push(key_path, format!("duplicate route `{}`", r.route));
            continue;
        }
        let checked = integration.is_some();
        route_keys.push(r.route.clone());
        let param_names = template_params(template);
        let cache_key = crate::config::stage_cache::build_key_parameters(
            e,
            &r.cache_key_parameters,
            &rpath,
            &param_names,
        );
        let authorization = crate::config::authorizer::build_route_authorization(
            e, api_type, r, auth.list, auth.names, &rpath,
        );
        let route = Arc::new(Route {
            authorization,
            key: r.route.clone(),
            api_key_required: r.api_key_required,
            method,
            param_names,
            cache_key,
            // The placeholder is never served: the snapshot is refused when this failed.
            integration: integration.unwrap_or_else(|| {
                Integration::Mock(MockIntegration {
                    status: 500,
                    headers: Vec::new(),
                    body: Vec::new(),
                })
            }),
        });
        if let Err(reason) = router.insert(method, template, Arc::clone(&route)) {
            e.push(key_path, reason);
            continue;
        }
        routes_in_order.push(Arc::clone(&route));
        if let (true, Integration::HttpProxy(h)) = (checked, &route.integration) {
            for name in h.uri.path_param_names() {
                if !route.param_names.iter().any(|p| p == name) {
                    e.push(
                        format!("{ipath}.uri"),
                        format!(
                            "uses path parameter `{{{name}}}`, which route `{}` does not define",
                            r.route
                        ),
                    );
                }
            }
        }
    }
    let route_key_set = route_keys.iter().cloned().collect();
    Arc::new(Deployment {
        id: id.to_string(),
        router,
        route_keys,
        route_key_set,
        routes: routes_in_order,
    })
}

pub(super) const METHODS_HELP: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

pub(in crate::config) fn parse_method(s: &str) -> Option<Method> {
    Some(match s {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => return None,
    })
}

/// `"METHOD /path"` or `"$default"` -> (method, template for the router).
pub(super) fn parse_route_key(key: &str, api_type: ApiType) -> Result<(RouteMethod, &str), String> {
    if key == "$default" {
        if api_type != ApiType::Http {
            return Err("the `$default` route is only valid for HTTP APIs (type: HTTP)".into());
        }
        return Ok((RouteMethod::Any, key));
    }
    let Some((m, p)) = key.split_once(' ') else {
        return Err(format!(
            "`{key}` is not a route key: expected `METHOD /path` (e.g. `GET /orders/{{id}}`) \
             or `$default`"
        ));
    };
    let method = if m == "ANY" {
        RouteMethod::Any
    } else {
        match parse_method(m) {
            Some(m) => RouteMethod::Only(m),
            None => {
                return Err(format!(
                    "unknown method `{m}` in route `{key}`: expected one of {METHODS_HELP} or ANY"
                ))
            }
        }
    };
    if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "path `{p}` in route `{key}` must start with `/` and contain no whitespace"
        ));
    }
    Ok((method, p))
}

/// Parameter names of a template in order, the greedy one without its `+`.
pub(super) fn template_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|inner| inner.strip_suffix('+').unwrap_or(inner).to_string())
        .collect()
}

/// Returns `None` (after reporting) when anything about the integration is wrong.
pub(super) fn build_integration(
    e: &mut Errors,
    api_type: ApiType,
    f: &IntegrationFile,
    path: &str,
) -> Option<Integration> {
    let before = e.count();
    let kind = f.kind.as_str();
    let not_for = |e: &mut Errors, key: &str, present: bool| {
        if present {
            e.push(
                format!("{path}.{key}"),
                format!("not valid for a {kind} integration"),
            );
        }
    };
    if matches!(f.kind, IntegrationType::Mock | IntegrationType::HttpProxy) {
        not_for(
            e,
            "payload_format_version",
            f.payload_format_version.is_some(),
        );
        not_for(e, "content_handling", f.content_handling.is_some());
        not_for(e, "endpoint", f.endpoint.is_some());
        not_for(e, "credentials", f.credentials.is_some());
        not_for(e, "request_parameters", f.request_parameters.is_some());
    }
    let built = match f.kind {
        IntegrationType::AwsProxy => Integration::Lambda(Box::new(
            crate::config::lambda_integration::build(e, api_type, f, path)?,
        )),
        IntegrationType::Aws => {
            let uri = f.uri.as_deref().unwrap_or_default();
            match crate::config::aws::ApigatewayArn::parse(uri) {
                Err(why) if f.uri.is_some() => {
                    e.push(format!("{path}.uri"), why);
                    return None;
                }
                Err(_) => {
                    e.push(format!("{path}.uri"), "required for an AWS integration");
                    return None;
                }
                Ok(arn) if arn.service == "lambda" => Integration::Lambda(Box::new(
                    crate::config::lambda_integration::build(e, api_type, f, path)?,
                )),
                Ok(arn) => Integration::AwsService(Box::new(
                    crate::config::aws_integration::build(e, f, arn, path)?,
                )),
            }
        }
        IntegrationType::Mock => {
            not_for(e, "uri", f.uri.is_some());
            not_for(e, "method", f.method.is_some());
            not_for(e, "timeout", f.timeout.is_some());
            not_for(e, "connection_type", f.connection_type.is_some());
            not_for(e, "target_group", f.target_group.is_some());
            let status = f.status.unwrap_or(200);
            // A MOCK answer is a final response: 1xx statuses are interim (RFC 9110 §15.2)
            // and would leave the client waiting for the real one.
            if !(200..=599).contains(&status) {
                e.push(
                    format!("{path}.status"),
                    format!("must be between 200 and 599 (a final response), got {status}"),
                );
            }
            let mut headers = Vec::new();
            if let Some(h) = &f.headers {
                let mut seen: HashSet<String> = HashSet::new();
                for (name, value) in &h.0 {
                    let hpath = format!("{path}.headers.{name}");
                    if name.is_empty() || !name.bytes().all(is_tchar) {
                        e.push(hpath, format!("`{name}` is not a valid header name"));
                    } else if is_hop_by_hop(name.as_bytes())
                        || name.eq_ignore_ascii_case("content-length")
                    {
                        e.push(
                            hpath,
                            format!("`{name}` is set by the gateway and cannot be configured"),
                        );
                    } else if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                        e.push(
                            hpath,
                            "the value must not contain control characters (CR, LF, ...)",
                        );
                    } else if !seen.insert(name.to_ascii_lowercase()) {
                        e.push(hpath, format!("duplicate header `{name}`"));
                    } else {
                        headers.push((name.clone(), value.clone()));
                    }
                }
            }
            Integration::Mock(MockIntegration {
                status: u16::try_from(status).unwrap_or(500),
                headers,
                body: f.body.clone().unwrap_or_default().into_bytes(),
            })
        }
        IntegrationType::HttpProxy => {
            not_for(e, "status", f.status.is_some());
            not_for(e, "headers", f.headers.is_some());
            not_for(e, "body", f.body.is_some());
            let uri = match &f.uri {
                None => {
                    e.push(
                        format!("{path}.uri"),
                        "required for an HTTP_PROXY integration",
                    );
                    None
                }
                Some(s) => match UriTemplate::parse(s) {
                    Ok(t) => Some(t),
                    Err(reason) => {
                        e.push(format!("{path}.uri"), format!("`{s}`: {reason}"));
                        None
                    }
                },
            };
            let method = match f.method.as_deref() {
                None => None,
                Some(m) => match parse_method(m) {
                    Some(m) => Some(m),
                    None => {
                        let reason = if m == "ANY" {
                            "ANY is not allowed here; omit `method` to send the request's own method"
                                .to_string()
                        } else {
                            format!("unknown method `{m}`: expected one of {METHODS_HELP}")
                        };
                        e.push(format!("{path}.method"), reason);
                        None
                    }
                },
            };
            let tpath = format!("{path}.timeout");
            let timeout = match &f.timeout {
                None => DEFAULT_INTEGRATION_TIMEOUT,
                Some(t) => match e.duration(&tpath, t) {
                    Some(d) if d < MIN_INTEGRATION_TIMEOUT => {
                        e.push(tpath, format!("must be at least 50ms, got {}", t.0));
                        DEFAULT_INTEGRATION_TIMEOUT
                    }
                    Some(d) => d,
                    None => DEFAULT_INTEGRATION_TIMEOUT,
                },
            };
            let target_group = match (
                f.connection_type.as_deref().unwrap_or("INTERNET"),
                &f.target_group,
            ) {
                ("INTERNET", None) => None,
                ("INTERNET", Some(_)) => {
                    e.push(
                        format!("{path}.target_group"),
                        "needs connection_type: VPC_LINK",
                    );
                    None
                }
                ("VPC_LINK", None) => {
                    e.push(
                        format!("{path}.target_group"),
                        "required with connection_type: VPC_LINK",
                    );
                    None
                }
                ("VPC_LINK", Some(name)) => match e.target_groups.get(name) {
                    Some(&i) => Some(i),
                    None => {
                        let known: Vec<&str> = e.target_groups.keys().map(String::as_str).collect();
                        e.push(
                            format!("{path}.target_group"),
                            format!(
                                "no target group `{name}` (defined: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                        None
                    }
                },
                (other, _) => {
                    e.push(
                        format!("{path}.connection_type"),
                        format!("unknown connection type `{other}`: expected INTERNET or VPC_LINK"),
                    );
                    None
                }
            };
            let uri = uri?;
            Integration::HttpProxy(HttpProxyIntegration {
                upstream: StaticUpstream::of(&uri),
                uri,
                method,
                timeout,
                target_group,
            })
        }
    };
    if e.count() > before {
        None
    } else {
        Some(built)
    }
}

/// RFC 9110 token character.
pub(in crate::config) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::*;
    use crate::config::validate::ConfigErrors;
    use std::time::Duration;

    // ---- routes (these need the router and URI templates)

    fn with_routes(api_type: &str, routes: &str) -> String {
        format!(
            "
listeners: [{{name: a, bind: '127.0.0.1:1'}}]
apis:
  - id: demo
    type: {api_type}
    routes:
{routes}
    stages: [{{name: prod, variables: {{up: '127.0.0.1:9'}}}}]
"
        )
    }

    #[test]
    fn route_key_syntax() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET', integration: {type: MOCK}}
      - {route: 'get /a', integration: {type: MOCK}}
      - {route: 'GET a', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[0].route", "not a route key");
        assert_error(&list, "apis[0].routes[1].route", "unknown method `get`");
        assert_error(&list, "apis[0].routes[2].route", "must start with `/`");
    }

    #[test]
    fn default_route_only_on_http_apis() {
        let route = "      - {route: $default, integration: {type: MOCK}}";
        let list = errors(&with_routes("REST", route));
        assert_error(&list, "apis[0].routes[0].route", "only valid for HTTP APIs");
        check(&with_routes("HTTP", route)).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn duplicate_route() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK}}
      - {route: 'GET /a', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[1].route", "duplicate route `GET /a`");
    }

    #[test]
    fn sibling_variables_refused_with_api_gateways_message() {
        for api_type in ["REST", "HTTP"] {
            let list = errors(&with_routes(
                api_type,
                "      - {route: 'GET /a/{id}/x', integration: {type: MOCK}}
      - {route: 'GET /a/{name}/y', integration: {type: MOCK}}
      - {route: 'DELETE /b/{id}', integration: {type: MOCK}}
      - {route: 'GET /b/{name}', integration: {type: MOCK}}
      - {route: 'GET /{id}/posts', integration: {type: MOCK}}
      - {route: 'ANY /{catchall+}', integration: {type: MOCK}}",
            ));
            let msg = "A sibling ({id}) of this resource already has a variable path part -- only one is allowed";
            assert_error(&list, "apis[0].routes[1].route", msg);
            assert_error(&list, "apis[0].routes[3].route", msg);
            assert_error(&list, "apis[0].routes[5].route", msg);
            assert_eq!(list.len(), 3, "{}", ConfigErrors(list.clone()));
        }
    }

    #[test]
    fn dot_segment_routes_refused() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/../b', integration: {type: MOCK}}
      - {route: 'GET /./c', integration: {type: MOCK}}
      - {route: 'GET /d/.e', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[0].route", "dot segment '..'");
        assert_error(&list, "apis[0].routes[1].route", "dot segment '.'");
        assert_eq!(list.len(), 2, "{}", ConfigErrors(list.clone()));
    }

    #[test]
    fn malformed_template_reported_by_router() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/{proxy+}/b', integration: {type: MOCK}}",
        ));
        assert_eq!(list.len(), 1, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "apis[0].routes[0].route", "greedy");
    }

    #[test]
    fn routes_in_explicit_deployment_have_their_path() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    deployments:
      - id: d1
        routes:
          - {route: 'GET /a', integration: {type: MOCK, status: 99}}
    stages: [{name: prod, deployment: d1}]
";
        let list = errors(text);
        assert_error(
            &list,
            "apis[0].deployments[0].routes[0].integration.status",
            "between 200 and 599",
        );
    }

    #[test]
    fn param_names_in_order() {
        let snap = check(&with_routes(
            "REST",
            "      - {route: 'GET /a/{x}/b/{y}/{rest+}', integration: {type: MOCK}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let route = match api.stages["prod"].deployment.router.find(
            Method::Get,
            "/a/1/b/2/c/d",
            &mut params,
        ) {
            crate::routing::resource::Match::Found(r) => r,
            other => panic!("no match: {other:?}"),
        };
        assert_eq!(route.param_names, vec!["x", "y", "rest"]);
        assert_eq!(route.key, "GET /a/{x}/b/{y}/{rest+}");
    }

    #[test]
    fn mock_defaults_and_headers() {
        let snap = check(&with_routes(
            "REST",
            "      - route: GET /a
        integration:
          type: MOCK
          headers: {x-b: '1', content-type: text/plain}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let crate::routing::resource::Match::Found(route) = api.stages["prod"]
            .deployment
            .router
            .find(Method::Get, "/a", &mut params)
        else {
            panic!("no match")
        };
        let Integration::Mock(m) = &route.integration else {
            panic!("not a mock")
        };
        assert_eq!(m.status, 200);
        assert!(m.body.is_empty());
        assert_eq!(
            m.headers,
            vec![
                ("x-b".to_string(), "1".to_string()),
                ("content-type".to_string(), "text/plain".to_string())
            ]
        );
    }

    #[test]
    fn forwarded_certificate_headers_cannot_be_gateway_headers() {
        let text = format!(
            "{}custom_domains:
  - name: api.example.com
    certificate: missing.pem
    key: missing.key
    mtls:
      truststore: missing-ca.pem
      forward_headers: {{subject: X_Api_Key, issuer: Host, serial: x-client-serial, validity: 'a b'}}
    base_path_mappings: [{{api: demo, stage: prod}}]
",
            minimal("", "")
        );
        let list = errors(&text);
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.subject",
            "`X_Api_Key` is `x-api-key`, a header the gateway reads or sets itself",
        );
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.issuer",
            "`Host` is `host`",
        );
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.validity",
            "not a valid header name",
        );
        assert!(
            !list
                .iter()
                .any(|e| e.to_string().contains("forward_headers.serial")),
            "{}",
            ConfigErrors(list.clone())
        );
    }

    #[test]
    fn mock_status_range() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK, status: 600}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.status",
            "between 200 and 599 (a final response), got 600",
        );
        for interim in [100, 103, 199] {
            let list = errors(&with_routes(
                "REST",
                &format!(
                    "      - {{route: 'GET /a', integration: {{type: MOCK, status: {interim}}}}}"
                ),
            ));
            assert_error(
                &list,
                "apis[0].routes[0].integration.status",
                &format!("got {interim}"),
            );
        }
    }

    #[test]
    fn mock_header_checks() {
        let list = errors(&with_routes(
            "REST",
            "      - route: GET /a
        integration:
          type: MOCK
          headers: {'bad name': x, content-length: '5', x-a: \"a\\r\\nb\", X-Dup: a, x-dup: b}",
        ));
        assert_eq!(list.len(), 4, "{}", ConfigErrors(list.clone()));
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.bad name",
            "not a valid header name",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.content-length",
            "set by the gateway",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.x-a",
            "control characters",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.x-dup",
            "duplicate header",
        );
    }

    #[test]
    fn keys_of_the_other_integration_type() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK, uri: 'http://x/', timeout: 1s}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://x/', body: hi}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.uri",
            "not valid for a MOCK integration",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.timeout",
            "not valid for a MOCK integration",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.body",
            "not valid for a HTTP_PROXY integration",
        );
    }

    #[test]
    fn proxy_uri_required() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY}}",
        ));
        assert_error(&list, "apis[0].routes[0].integration.uri", "required");
    }

    #[test]
    fn proxy_uri_must_parse() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'ftp://x/'}}",
        ));
        assert_error(&list, "apis[0].routes[0].integration.uri", "`ftp://x/`: ");
    }

    #[test]
    fn proxy_uri_params_must_be_route_params() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/{id}', integration: {type: HTTP_PROXY, uri: 'http://h/{id}/{other}'}}
      - {route: 'ANY /b/{proxy+}', integration: {type: HTTP_PROXY, uri: 'http://${stageVariables.up}/{proxy}'}}",
        ));
        assert_eq!(list.len(), 1, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "apis[0].routes[0].integration.uri", "`{other}`");
    }

    #[test]
    fn missing_stage_variable_is_not_an_error() {
        check(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://${stageVariables.nope}/'}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn proxy_method() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://h/', method: ANY}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://h/', method: FETCH}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.method",
            "ANY is not allowed",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.method",
            "unknown method `FETCH`",
        );
    }

    #[test]
    fn proxy_timeout() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://h/', timeout: 10ms}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://h/', timeout: 1.5s}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.timeout",
            "at least 50ms",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.timeout",
            "invalid duration `1.5s`",
        );
    }

    #[test]
    fn proxy_defaults() {
        let snap = check(&with_routes(
            "REST",
            "      - {route: 'POST /a', integration: {type: HTTP_PROXY, uri: 'http://h/', method: PUT}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let crate::routing::resource::Match::Found(route) = api.stages["prod"]
            .deployment
            .router
            .find(Method::Post, "/a", &mut params)
        else {
            panic!("no match")
        };
        let Integration::HttpProxy(h) = &route.integration else {
            panic!("not a proxy")
        };
        assert_eq!(h.timeout, Duration::from_secs(29));
        assert_eq!(h.method, Some(Method::Put));
        assert_eq!(route.method, RouteMethod::Only(Method::Post));
    }
    /// What the proxy integration of the route `method path` (API `demo`, stage `prod`)
    /// precomputed for its upstream.
    fn static_upstream(
        snap: &crate::config::Snapshot,
        method: Method,
        path: &str,
    ) -> Option<StaticUpstream> {
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let crate::routing::resource::Match::Found(route) = api.stages["prod"]
            .deployment
            .router
            .find(method, path, &mut params)
        else {
            panic!("no match for {path}")
        };
        let Integration::HttpProxy(h) = &route.integration else {
            panic!("not a proxy")
        };
        h.upstream.clone()
    }

    #[test]
    fn a_static_authority_is_computed_at_load() {
        let snap = check(&with_routes(
            "HTTP",
            "      - {route: 'GET /ip', integration: {type: HTTP_PROXY, uri: 'http://127.0.0.1:18081'}}
      - {route: 'GET /name/{id}', integration: {type: HTTP_PROXY, uri: 'HTTP://Up.Example/base/{id}?v=${stageVariables.up}'}}
      - {route: 'GET /v6', integration: {type: HTTP_PROXY, uri: 'http://[::1]:8080/x'}}
      - {route: 'GET /port80', integration: {type: HTTP_PROXY, uri: 'http://10.0.0.1:80/'}}
      - {route: 'GET /var', integration: {type: HTTP_PROXY, uri: 'http://${stageVariables.up}/x'}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let up = |path: &str| static_upstream(&snap, Method::Get, path);
        let ip = up("/ip").expect("static");
        assert_eq!((ip.host.as_str(), ip.port), ("127.0.0.1", 18081));
        assert_eq!(&*ip.head_host, b" HTTP/1.1\r\nhost: 127.0.0.1:18081\r\n");
        assert_eq!(ip.addr, Some("127.0.0.1:18081".parse().expect("addr")));

        // A name keeps being resolved per request (through the DNS cache); the stage
        // variable in the query does not make the authority dynamic.
        let name = up("/name/7").expect("static");
        assert_eq!((name.host.as_str(), name.port), ("Up.Example", 80));
        assert_eq!(&*name.head_host, b" HTTP/1.1\r\nhost: Up.Example\r\n");
        assert_eq!(name.addr, None);

        let v6 = up("/v6").expect("static");
        assert_eq!(v6.host, "[::1]");
        assert_eq!(&*v6.head_host, b" HTTP/1.1\r\nhost: [::1]:8080\r\n");
        assert_eq!(v6.addr, Some("[::1]:8080".parse().expect("addr")));

        let p80 = up("/port80").expect("static");
        assert_eq!(&*p80.head_host, b" HTTP/1.1\r\nhost: 10.0.0.1\r\n");
        assert_eq!(p80.addr, Some("10.0.0.1:80".parse().expect("addr")));

        // A stage variable in the authority: rendered and checked per request.
        assert_eq!(up("/var"), None);
    }
}
