//! The events API Gateway sends a Lambda authorizer, as JSON, from borrowed request facts.
//!
//! Four shapes (AWS developer guide, "Input to an API Gateway Lambda authorizer" and
//! "Working with AWS Lambda authorizers for HTTP APIs"):
//!
//! - REST `TOKEN`: `{"type":"TOKEN","authorizationToken":…,"methodArn":…}`;
//! - REST `REQUEST` (and an HTTP API's payload format 1.0, which adds `version`,
//!   `identitySource` and `authorizationToken`, the identity values joined by commas):
//!   `type`, `methodArn`, `resource`, `path`, `httpMethod`, `headers`,
//!   `multiValueHeaders`, `queryStringParameters`, `multiValueQueryStringParameters`,
//!   `pathParameters`, `stageVariables`, `requestContext`;
//! - HTTP API payload format 2.0: `version`, `type`, `routeArn`, `identitySource` (an
//!   array), `routeKey`, `rawPath`, `rawQueryString`, `cookies`, `headers`,
//!   `queryStringParameters`, `requestContext`, `pathParameters`, `stageVariables`.
//!
//! Maps are written as API Gateway writes them: REST single-value maps keep the last value
//! of a repeated name, the multi-value maps every value in order; header names are matched
//! without regard to case (the first spelling is kept), query names exactly. Payload 2.0
//! lower-cases header names, joins repeated headers and query parameters with commas, and
//! moves `Cookie` headers into `cookies` (one entry per cookie). Empty maps are `{}` in the
//! REST shapes (as in AWS's examples); in 2.0, absent parts are left out, as its Lambda
//! proxy events do.
//!
//! These run only when the result cache misses, so they favour clarity: serde_json writes
//! them from borrowed structs, without an intermediate `Value`.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// The facts of one request an authorizer event is made of, borrowed from the request (the
/// authorize phase gathers them; nothing here knows the pipeline).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventInput<'a> {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{resource path}`
    /// (`methodArn`; `routeArn` in payload 2.0).
    pub method_arn: &'a str,
    /// The resource's path template (`/pets/{id}`).
    pub resource: &'a str,
    /// The request path as the method sees it (`/pets/7`), without stage or base path.
    pub path: &'a str,
    pub http_method: &'a str,
    /// Header fields in the order received, names as sent.
    pub headers: &'a [(&'a str, &'a str)],
    /// Query parameters, decoded, in order.
    pub query: &'a [(&'a str, &'a str)],
    /// The query string as sent, without `?` (payload 2.0's `rawQueryString`).
    pub raw_query: &'a str,
    pub path_parameters: &'a [(&'a str, &'a str)],
    pub stage_variables: &'a [(&'a str, &'a str)],
    /// The configured identity sources' values, in their configured order (TOKEN: the token).
    pub identity: &'a [&'a str],
    pub context: ContextInput<'a>,
}

/// The request context part of an event (`requestContext`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextInput<'a> {
    pub account_id: &'a str,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub request_id: &'a str,
    pub extended_request_id: &'a str,
    /// The resource's id (REST `resourceId`).
    pub resource_id: &'a str,
    /// The full request path as received, with the stage or base path (REST
    /// `requestContext.path`; payload 2.0 `rawPath` and `http.path`).
    pub full_path: &'a str,
    /// HTTP APIs' route key (`GET /pets/{id}`, `$default`).
    pub route_key: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub protocol: &'a str,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    /// The API key of the request, when the method requires one.
    pub api_key: Option<&'a str>,
    /// Common log format time, `12/Mar/2020:19:03:58 +0000`.
    pub request_time: &'a str,
    pub request_time_epoch_ms: u64,
    /// The client certificate, on a mutual TLS domain.
    pub client_cert: Option<ClientCertInput<'a>>,
}

/// A client certificate as the events carry it (`clientCert`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCertInput<'a> {
    pub pem: &'a str,
    pub subject_dn: &'a str,
    pub issuer_dn: &'a str,
    pub serial_number: &'a str,
    pub not_before: &'a str,
    pub not_after: &'a str,
}

/// REST `TOKEN` authorizer event.
pub fn rest_token(method_arn: &str, token: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Token<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(rename = "authorizationToken")]
        token: &'a str,
        #[serde(rename = "methodArn")]
        method_arn: &'a str,
    }
    to_json(&Token {
        kind: "TOKEN",
        token,
        method_arn,
    })
}

/// REST `REQUEST` authorizer event.
pub fn rest_request(input: &EventInput<'_>) -> Vec<u8> {
    to_json(&RequestV1 {
        version: None,
        kind: "REQUEST",
        method_arn: input.method_arn,
        identity_source: None,
        authorization_token: None,
        fields: V1Fields(input),
    })
}

/// HTTP API authorizer event, payload format 1.0: the REST `REQUEST` shape with `version`,
/// and the identity values joined by commas as `identitySource` and `authorizationToken`.
pub fn http_v1(input: &EventInput<'_>) -> Vec<u8> {
    let joined = input.identity.join(",");
    to_json(&RequestV1 {
        version: Some("1.0"),
        kind: "REQUEST",
        method_arn: input.method_arn,
        identity_source: Some(&joined),
        authorization_token: Some(&joined),
        fields: V1Fields(input),
    })
}

/// HTTP API authorizer event, payload format 2.0.
pub fn http_v2(input: &EventInput<'_>) -> Vec<u8> {
    to_json(&V2(input))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Writing borrowed strings and maps of them into a Vec cannot fail (no map key is
    // anything but a string, no number is a float).
    serde_json::to_vec(value).unwrap_or_default()
}

#[derive(Serialize)]
struct RequestV1<'a, 'b> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "methodArn")]
    method_arn: &'a str,
    #[serde(rename = "identitySource", skip_serializing_if = "Option::is_none")]
    identity_source: Option<&'a str>,
    #[serde(rename = "authorizationToken", skip_serializing_if = "Option::is_none")]
    authorization_token: Option<&'a str>,
    #[serde(flatten)]
    fields: V1Fields<'a, 'b>,
}

/// The request part of the REST `REQUEST` / payload 1.0 event.
struct V1Fields<'a, 'b>(&'b EventInput<'a>);

impl Serialize for V1Fields<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let c = &i.context;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resource", i.resource)?;
        m.serialize_entry("path", i.path)?;
        m.serialize_entry("httpMethod", i.http_method)?;
        let headers = Grouped::new(i.headers, true);
        m.serialize_entry("headers", &Last(&headers))?;
        m.serialize_entry("multiValueHeaders", &All(&headers))?;
        let query = Grouped::new(i.query, false);
        m.serialize_entry("queryStringParameters", &Last(&query))?;
        m.serialize_entry("multiValueQueryStringParameters", &All(&query))?;
        m.serialize_entry("pathParameters", &Pairs(i.path_parameters))?;
        m.serialize_entry("stageVariables", &Pairs(i.stage_variables))?;
        m.serialize_entry(
            "requestContext",
            &RestContext {
                path: c.full_path,
                account_id: c.account_id,
                resource_id: c.resource_id,
                stage: c.stage,
                domain_prefix: c.domain_prefix,
                request_id: c.request_id,
                extended_request_id: c.extended_request_id,
                request_time: c.request_time,
                request_time_epoch: c.request_time_epoch_ms,
                protocol: c.protocol,
                identity: RestIdentity {
                    api_key: c.api_key,
                    source_ip: c.source_ip,
                    user_agent: c.user_agent,
                    client_cert: c.client_cert.as_ref().map(ClientCert),
                },
                domain_name: c.domain_name,
                resource_path: i.resource,
                http_method: i.http_method,
                api_id: c.api_id,
            },
        )?;
        m.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestContext<'a> {
    path: &'a str,
    account_id: &'a str,
    resource_id: &'a str,
    stage: &'a str,
    domain_prefix: &'a str,
    request_id: &'a str,
    extended_request_id: &'a str,
    request_time: &'a str,
    request_time_epoch: u64,
    protocol: &'a str,
    identity: RestIdentity<'a>,
    domain_name: &'a str,
    resource_path: &'a str,
    http_method: &'a str,
    api_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestIdentity<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    source_ip: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cert: Option<ClientCert<'a, 'a>>,
}

struct ClientCert<'a, 'b>(&'b ClientCertInput<'a>);

impl Serialize for ClientCert<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Validity<'a> {
            not_before: &'a str,
            not_after: &'a str,
        }
        let c = self.0;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("clientCertPem", c.pem)?;
        m.serialize_entry("subjectDN", c.subject_dn)?;
        m.serialize_entry("issuerDN", c.issuer_dn)?;
        m.serialize_entry("serialNumber", c.serial_number)?;
        m.serialize_entry(
            "validity",
            &Validity {
                not_before: c.not_before,
                not_after: c.not_after,
            },
        )?;
        m.end()
    }
}

/// The payload 2.0 event.
struct V2<'a, 'b>(&'b EventInput<'a>);

impl Serialize for V2<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let c = &i.context;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", "2.0")?;
        m.serialize_entry("type", "REQUEST")?;
        m.serialize_entry("routeArn", i.method_arn)?;
        m.serialize_entry("identitySource", i.identity)?;
        m.serialize_entry("routeKey", c.route_key)?;
        m.serialize_entry("rawPath", c.full_path)?;
        m.serialize_entry("rawQueryString", i.raw_query)?;
        let cookies = Cookies(i.headers);
        if cookies.any() {
            m.serialize_entry("cookies", &cookies)?;
        }
        // Header names lower-cased; `Cookie` went to `cookies`.
        let headers = Grouped::new(i.headers, true);
        if headers.groups.iter().any(|g| !is_cookie(g.name)) {
            m.serialize_entry("headers", &Joined(&headers, true))?;
        }
        let query = Grouped::new(i.query, false);
        if !query.groups.is_empty() {
            m.serialize_entry("queryStringParameters", &Joined(&query, false))?;
        }
        m.serialize_entry(
            "requestContext",
            &V2Context {
                account_id: c.account_id,
                api_id: c.api_id,
                authentication: c.client_cert.as_ref().map(|cert| Authentication {
                    client_cert: ClientCert(cert),
                }),
                domain_name: c.domain_name,
                domain_prefix: c.domain_prefix,
                http: V2Http {
                    method: i.http_method,
                    path: c.full_path,
                    protocol: c.protocol,
                    source_ip: c.source_ip,
                    user_agent: c.user_agent,
                },
                request_id: c.request_id,
                route_key: c.route_key,
                stage: c.stage,
                time: c.request_time,
                time_epoch: c.request_time_epoch_ms,
            },
        )?;
        if !i.path_parameters.is_empty() {
            m.serialize_entry("pathParameters", &Pairs(i.path_parameters))?;
        }
        if !i.stage_variables.is_empty() {
            m.serialize_entry("stageVariables", &Pairs(i.stage_variables))?;
        }
        m.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V2Context<'a> {
    account_id: &'a str,
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authentication: Option<Authentication<'a>>,
    domain_name: &'a str,
    domain_prefix: &'a str,
    http: V2Http<'a>,
    request_id: &'a str,
    route_key: &'a str,
    stage: &'a str,
    time: &'a str,
    time_epoch: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Authentication<'a> {
    client_cert: ClientCert<'a, 'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V2Http<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    source_ip: &'a str,
    user_agent: &'a str,
}

fn is_cookie(name: &str) -> bool {
    name.eq_ignore_ascii_case("cookie")
}

/// Name/value pairs grouped by name, in order of first appearance.
struct Grouped<'a> {
    groups: Vec<Group<'a>>,
}

struct Group<'a> {
    /// The name as first seen.
    name: &'a str,
    values: Vec<&'a str>,
}

impl<'a> Grouped<'a> {
    /// `fold_case`: names match without regard to ASCII case (header names).
    fn new(pairs: &[(&'a str, &'a str)], fold_case: bool) -> Self {
        let mut groups: Vec<Group<'a>> = Vec::with_capacity(pairs.len());
        let mut index: ahash::AHashMap<std::borrow::Cow<'a, str>, usize> =
            ahash::AHashMap::with_capacity(pairs.len());
        for &(name, value) in pairs {
            let key = if fold_case && name.bytes().any(|b| b.is_ascii_uppercase()) {
                std::borrow::Cow::Owned(name.to_ascii_lowercase())
            } else {
                std::borrow::Cow::Borrowed(name)
            };
            match index.get(&key) {
                Some(&at) => groups[at].values.push(value),
                None => {
                    index.insert(key, groups.len());
                    groups.push(Group {
                        name,
                        values: vec![value],
                    });
                }
            }
        }
        Grouped { groups }
    }
}

/// `{name: last value}`.
struct Last<'g, 'a>(&'g Grouped<'a>);

impl Serialize for Last<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.groups.len()))?;
        for g in &self.0.groups {
            m.serialize_entry(g.name, g.values.last().copied().unwrap_or_default())?;
        }
        m.end()
    }
}

/// `{name: [every value]}`.
struct All<'g, 'a>(&'g Grouped<'a>);

impl Serialize for All<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.groups.len()))?;
        for g in &self.0.groups {
            m.serialize_entry(g.name, &g.values)?;
        }
        m.end()
    }
}

/// Payload 2.0: `{name: "v1,v2"}`; header names lower-cased, `Cookie` left out.
struct Joined<'g, 'a>(&'g Grouped<'a>, bool);

impl Serialize for Joined<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let headers = self.1;
        let mut m = s.serialize_map(None)?;
        for g in &self.0.groups {
            if headers && is_cookie(g.name) {
                continue;
            }
            let value = g.values.join(",");
            if headers {
                m.serialize_entry(&g.name.to_ascii_lowercase(), &value)?;
            } else {
                m.serialize_entry(g.name, &value)?;
            }
        }
        m.end()
    }
}

/// Path parameters and stage variables: names are unique already (the last wins if not).
struct Pairs<'a, 'b>(&'b [(&'a str, &'a str)]);

impl Serialize for Pairs<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Last(&Grouped::new(self.0, false)).serialize(s)
    }
}

/// Payload 2.0's `cookies`: every cookie of every `Cookie` header, in order.
struct Cookies<'a, 'b>(&'b [(&'a str, &'a str)]);

impl<'a> Cookies<'a, '_> {
    fn each(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.0
            .iter()
            .filter(|(name, _)| is_cookie(name))
            .flat_map(|(_, value)| value.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    fn any(&self) -> bool {
        self.each().next().is_some()
    }
}

impl Serialize for Cookies<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for c in self.each() {
            seq.serialize_element(c)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    /// Every key of `want` has the same value in `got`, recursively (objects compared key
    /// by key, so the test names the first field that differs).
    fn assert_fields(got: &Value, want: &Value, at: &str) {
        match (got, want) {
            (Value::Object(g), Value::Object(w)) => {
                for (k, wv) in w {
                    let gv = g
                        .get(k)
                        .unwrap_or_else(|| panic!("{at}.{k} missing in {got}"));
                    assert_fields(gv, wv, &format!("{at}.{k}"));
                }
                let extra: Vec<_> = g.keys().filter(|k| !w.contains_key(*k)).collect();
                assert!(extra.is_empty(), "{at}: unexpected fields {extra:?}");
            }
            _ => assert_eq!(got, want, "{at}"),
        }
    }

    #[test]
    fn token_event_is_awss_example() {
        // AWS's example input for an Allow on GET of any stage.
        let got = parse(&rest_token(
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/",
            "allow",
        ));
        assert_fields(
            &got,
            &json!({
                "type": "TOKEN",
                "authorizationToken": "allow",
                "methodArn": "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/"
            }),
            "$",
        );
        // Whatever the token holds, it is one JSON string.
        let got = parse(&rest_token("arn", "a\"b\\c\u{1}"));
        assert_eq!(got["authorizationToken"], "a\"b\\c\u{1}");
    }

    /// The request of AWS's REQUEST-authorizer example (`GET /request` with a header, a
    /// query parameter and a stage variable), trimmed to a few headers.
    fn example_request<'a>(
        headers: &'a [(&'a str, &'a str)],
        query: &'a [(&'a str, &'a str)],
        identity: &'a [&'a str],
    ) -> EventInput<'a> {
        EventInput {
            method_arn: "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request",
            resource: "/request",
            path: "/request",
            http_method: "GET",
            headers,
            query,
            raw_query: "QueryString1=queryValue1",
            path_parameters: &[],
            stage_variables: &[("StageVar1", "stageValue1")],
            identity,
            context: ContextInput {
                account_id: "123456789012",
                api_id: "s4x3opwd6i",
                stage: "test",
                request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                extended_request_id: "ABC123=",
                resource_id: "05c7jb",
                full_path: "/test/request",
                route_key: "GET /request",
                source_ip: "203.0.113.9",
                user_agent: "curl/8.5.0",
                protocol: "HTTP/1.1",
                domain_name: "s4x3opwd6i.execute-api.us-east-1.amazonaws.com",
                domain_prefix: "s4x3opwd6i",
                api_key: None,
                request_time: "18/Jul/2017:06:29:15 +0000",
                request_time_epoch_ms: 1_500_359_355_000,
                client_cert: None,
            },
        }
    }

    #[test]
    fn request_event_matches_awss_example_field_by_field() {
        let headers = [
            ("X-AMZ-Date", "20170718T062915Z"),
            ("Accept", "*/*"),
            ("HeaderAuth1", "headerValue1"),
            ("cache-control", "no-cache"),
        ];
        let query = [("QueryString1", "queryValue1")];
        let got = parse(&rest_request(&example_request(
            &headers,
            &query,
            &["headerValue1"],
        )));
        assert_fields(
            &got,
            &json!({
                "type": "REQUEST",
                "methodArn": "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request",
                "resource": "/request",
                "path": "/request",
                "httpMethod": "GET",
                "headers": {
                    "X-AMZ-Date": "20170718T062915Z",
                    "Accept": "*/*",
                    "HeaderAuth1": "headerValue1",
                    "cache-control": "no-cache"
                },
                "multiValueHeaders": {
                    "X-AMZ-Date": ["20170718T062915Z"],
                    "Accept": ["*/*"],
                    "HeaderAuth1": ["headerValue1"],
                    "cache-control": ["no-cache"]
                },
                "queryStringParameters": {"QueryString1": "queryValue1"},
                "multiValueQueryStringParameters": {"QueryString1": ["queryValue1"]},
                "pathParameters": {},
                "stageVariables": {"StageVar1": "stageValue1"},
                "requestContext": {
                    "path": "/test/request",
                    "accountId": "123456789012",
                    "resourceId": "05c7jb",
                    "stage": "test",
                    "domainPrefix": "s4x3opwd6i",
                    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                    "extendedRequestId": "ABC123=",
                    "requestTime": "18/Jul/2017:06:29:15 +0000",
                    "requestTimeEpoch": 1_500_359_355_000u64,
                    "protocol": "HTTP/1.1",
                    "identity": {
                        "sourceIp": "203.0.113.9",
                        "userAgent": "curl/8.5.0"
                    },
                    "domainName": "s4x3opwd6i.execute-api.us-east-1.amazonaws.com",
                    "resourcePath": "/request",
                    "httpMethod": "GET",
                    "apiId": "s4x3opwd6i"
                }
            }),
            "$",
        );
    }

    #[test]
    fn repeated_headers_and_query_parameters() {
        let headers = [
            ("X-Multi", "one"),
            ("Accept", "a/b"),
            ("x-multi", "two"),
            ("X-MULTI", "three"),
        ];
        let query = [("q", "1"), ("Q", "other"), ("q", "2")];
        let input = example_request(&headers, &query, &[]);
        let got = parse(&rest_request(&input));
        // The last value wins in the single-value maps; every value, in order, in the
        // multi-value ones. Header names fold case (first spelling kept); query names do not.
        assert_eq!(got["headers"], json!({"X-Multi": "three", "Accept": "a/b"}));
        assert_eq!(
            got["multiValueHeaders"],
            json!({"X-Multi": ["one", "two", "three"], "Accept": ["a/b"]})
        );
        assert_eq!(
            got["queryStringParameters"],
            json!({"q": "2", "Q": "other"})
        );
        assert_eq!(
            got["multiValueQueryStringParameters"],
            json!({"q": ["1", "2"], "Q": ["other"]})
        );
        // Payload 2.0 joins them with commas and lower-cases header names.
        let got = parse(&http_v2(&input));
        assert_eq!(
            got["headers"],
            json!({"x-multi": "one,two,three", "accept": "a/b"})
        );
        assert_eq!(
            got["queryStringParameters"],
            json!({"q": "1,2", "Q": "other"})
        );
    }

    #[test]
    fn api_key_and_client_certificate_in_the_rest_context() {
        let mut input = example_request(&[], &[], &[]);
        input.context.api_key = Some("key-123");
        input.context.client_cert = Some(ClientCertInput {
            pem: "CERT_CONTENT",
            subject_dn: "www.example.com",
            issuer_dn: "Example issuer",
            serial_number: "a1:a1",
            not_before: "May 28 12:30:02 2019 GMT",
            not_after: "Aug  5 09:36:04 2021 GMT",
        });
        let got = parse(&rest_request(&input));
        assert_fields(
            &got["requestContext"]["identity"],
            &json!({
                "apiKey": "key-123",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8.5.0",
                "clientCert": {
                    "clientCertPem": "CERT_CONTENT",
                    "subjectDN": "www.example.com",
                    "issuerDN": "Example issuer",
                    "serialNumber": "a1:a1",
                    "validity": {
                        "notBefore": "May 28 12:30:02 2019 GMT",
                        "notAfter": "Aug  5 09:36:04 2021 GMT"
                    }
                }
            }),
            "identity",
        );
        // Payload 2.0 carries it as requestContext.authentication.clientCert.
        let got = parse(&http_v2(&input));
        assert_eq!(
            got["requestContext"]["authentication"]["clientCert"]["subjectDN"],
            "www.example.com"
        );
    }

    #[test]
    fn http_v1_event_is_the_request_shape_with_version_and_identity() {
        let headers = [("HeaderAuth1", "headerValue1")];
        let input = example_request(&headers, &[], &["user1", "123"]);
        let got = parse(&http_v1(&input));
        assert_eq!(got["version"], "1.0");
        assert_eq!(got["type"], "REQUEST");
        assert_eq!(got["identitySource"], "user1,123");
        assert_eq!(got["authorizationToken"], "user1,123");
        assert_eq!(
            got["methodArn"],
            "arn:aws:execute-api:us-east-1:123456789012:s4x3opwd6i/test/GET/request"
        );
        // Otherwise the REST REQUEST event, field for field.
        let rest = parse(&rest_request(&input));
        let mut v1 = got.clone();
        if let Some(o) = v1.as_object_mut() {
            for k in ["version", "identitySource", "authorizationToken"] {
                o.remove(k);
            }
        }
        assert_eq!(v1, rest);
    }

    #[test]
    fn http_v2_event_matches_awss_example_field_by_field() {
        // AWS's payload 2.0 example: POST /my/path on the $default stage and route.
        let headers = [
            ("Header1", "value1"),
            ("Cookie", "cookie1; cookie2"),
            ("Header2", "value2"),
        ];
        let query = [
            ("parameter1", "value1"),
            ("parameter1", "value2"),
            ("parameter2", "value"),
        ];
        let input = EventInput {
            method_arn: "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
            resource: "/my/path",
            path: "/my/path",
            http_method: "POST",
            headers: &headers,
            query: &query,
            raw_query: "parameter1=value1&parameter1=value2&parameter2=value",
            path_parameters: &[("parameter1", "value1")],
            stage_variables: &[("stageVariable1", "value1"), ("stageVariable2", "value2")],
            identity: &["user1", "123"],
            context: ContextInput {
                account_id: "123456789012",
                api_id: "api-id",
                stage: "$default",
                request_id: "id",
                route_key: "$default",
                full_path: "/my/path",
                source_ip: "IP",
                user_agent: "agent",
                protocol: "HTTP/1.1",
                domain_name: "id.execute-api.us-east-1.amazonaws.com",
                domain_prefix: "id",
                request_time: "12/Mar/2020:19:03:58 +0000",
                request_time_epoch_ms: 1_583_348_638_390,
                ..ContextInput::default()
            },
        };
        let got = parse(&http_v2(&input));
        assert_fields(
            &got,
            &json!({
                "version": "2.0",
                "type": "REQUEST",
                "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request",
                "identitySource": ["user1", "123"],
                "routeKey": "$default",
                "rawPath": "/my/path",
                "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
                "cookies": ["cookie1", "cookie2"],
                "headers": {"header1": "value1", "header2": "value2"},
                "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "api-id",
                    "domainName": "id.execute-api.us-east-1.amazonaws.com",
                    "domainPrefix": "id",
                    "http": {
                        "method": "POST",
                        "path": "/my/path",
                        "protocol": "HTTP/1.1",
                        "sourceIp": "IP",
                        "userAgent": "agent"
                    },
                    "requestId": "id",
                    "routeKey": "$default",
                    "stage": "$default",
                    "time": "12/Mar/2020:19:03:58 +0000",
                    "timeEpoch": 1_583_348_638_390u64
                },
                "pathParameters": {"parameter1": "value1"},
                "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"}
            }),
            "$",
        );
    }

    #[test]
    fn http_v2_leaves_absent_parts_out() {
        let input = EventInput {
            method_arn: "arn",
            http_method: "GET",
            ..EventInput::default()
        };
        let got = parse(&http_v2(&input));
        for absent in [
            "cookies",
            "headers",
            "queryStringParameters",
            "pathParameters",
            "stageVariables",
        ] {
            assert!(got.get(absent).is_none(), "{absent}: {got}");
        }
        assert_eq!(got["rawQueryString"], "");
        assert_eq!(got["identitySource"], json!([]));
        // Only cookies: no headers map.
        let headers = [("cookie", "a=1;b=2"), ("Cookie", " c=3 ")];
        let input = EventInput {
            headers: &headers,
            ..input
        };
        let got = parse(&http_v2(&input));
        assert_eq!(got["cookies"], json!(["a=1", "b=2", "c=3"]));
        assert!(got.get("headers").is_none());
        // REST shapes keep empty maps.
        let got = parse(&rest_request(&EventInput::default()));
        for empty in [
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
        ] {
            assert_eq!(got[empty], json!({}), "{empty}");
        }
    }
}
