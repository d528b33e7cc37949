//! The Lambda proxy events, written from borrowed request facts (AWS developer guide: "Set
//! up Lambda proxy integrations in API Gateway", input format; "Create AWS Lambda proxy
//! integrations for HTTP APIs", payload formats 1.0 and 2.0):
//!
//! - **1.0** (REST APIs; HTTP APIs add `"version":"1.0"`): `resource`, `path`,
//!   `httpMethod`, `headers` (the last value of a repeated name) and `multiValueHeaders`
//!   (every value, in order; names matched without regard to case, the first spelling
//!   kept), `queryStringParameters` / `multiValueQueryStringParameters` (decoded; `null`
//!   without a query), `pathParameters` and `stageVariables` (`null` when there are none),
//!   `requestContext` (with `identity`, and `authorizer` when one ran), `body` (`null`
//!   without one) and `isBase64Encoded`;
//! - **2.0** (HTTP APIs): `version`, `routeKey`, `rawPath`, `rawQueryString`, `cookies`
//!   (every cookie of every `Cookie` header), `headers` (names lower-cased, repeated ones
//!   joined by commas, `Cookie` moved to `cookies`), `queryStringParameters` (repeated ones
//!   joined by commas), `requestContext` (`http`, `authentication` with a client
//!   certificate), `body`, `pathParameters`, `isBase64Encoded`, `stageVariables`; absent
//!   parts are left out.
//!
//! One pass into a reused buffer, no `serde_json` and no allocation besides the buffer's
//! growth (and a scratch for decoded query text): repeated names are found by scanning the
//! earlier fields (header counts are bounded by the listener's limits).

use super::json;
use crate::config::lambda_integration::PayloadFormat;

/// The facts of one request an event is made of.
#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    pub format: PayloadFormat,
    /// A REST API (1.0 without `version`).
    pub rest: bool,
    /// The resource's path template (`/pets/{id}`), or `$default`.
    pub resource: &'a str,
    /// 1.0's `path`: REST, the path the method sees (no stage or base path); HTTP APIs,
    /// the path as received.
    pub path: &'a str,
    pub http_method: &'a str,
    /// Header fields in the order received (names as sent), the gateway's own added.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The query string as sent, without `?`.
    pub raw_query: &'a [u8],
    /// Path parameters, raw (percent-decoded when written).
    pub path_parameters: &'a [(&'a str, &'a str)],
    pub stage_variables: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Send `body` base64-encoded (`isBase64Encoded`).
    pub base64: bool,
    pub context: ContextInput<'a>,
}

/// `requestContext`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextInput<'a> {
    pub account_id: &'a str,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub request_id: &'a str,
    pub extended_request_id: &'a str,
    /// REST `resourceId`.
    pub resource_id: &'a str,
    /// 1.0's `requestContext.path`: the path as received (with stage or base path).
    pub full_path: &'a str,
    /// 2.0's `rawPath` and `http.path` (the path without a custom domain's base path).
    pub raw_path: &'a str,
    /// `GET /pets/{id}`, `$default`.
    pub route_key: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// `HTTP/1.1`.
    pub protocol: &'a str,
    pub domain_name: &'a str,
    pub domain_prefix: &'a str,
    /// `12/Mar/2020:19:03:58 +0000`.
    pub request_time: &'a str,
    pub request_time_epoch_ms: u64,
    /// The API key of a route that requires one, and its id.
    pub api_key: Option<(&'a str, &'a str)>,
    pub client_cert: Option<ClientCertInput<'a>>,
    /// A SigV4-signed request's principal.
    pub iam: Option<IamInput<'a>>,
    pub authorizer: Option<AuthorizerInput<'a>>,
}

/// `clientCert`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCertInput<'a> {
    pub pem: &'a str,
    pub subject_dn: &'a str,
    pub issuer_dn: &'a str,
    pub serial_number: &'a str,
    pub not_before: &'a str,
    pub not_after: &'a str,
}

/// The IAM principal of a signed request.
#[derive(Debug, Clone, Copy, Default)]
pub struct IamInput<'a> {
    pub access_key: &'a str,
    pub account_id: &'a str,
    pub caller: &'a str,
    pub user_arn: &'a str,
}

/// What an authorizer left for the integration (`requestContext.authorizer`).
///
/// - A Lambda authorizer: 1.0 puts the context's keys in `authorizer` itself, their values
///   stringified (`"1"`, `"true"`; AWS: "Their values are stringified"), with
///   `principalId` and `integrationLatency`; 2.0 puts the context in `authorizer.lambda`
///   with the types the answer gave.
/// - A JWT authorizer: REST (Cognito) `authorizer.claims`; HTTP APIs 1.0
///   `authorizer.{claims, scopes}`, 2.0 `authorizer.jwt.{claims, scopes}` (AWS's
///   documented examples); `scopes` is `null` when empty.
#[derive(Debug, Clone, Copy)]
pub enum AuthorizerInput<'a> {
    /// A Lambda authorizer: its principal (left out when empty: a simple answer has
    /// none), its context (a JSON object's text, when known) and the call's latency in
    /// milliseconds (`integrationLatency`, 1.0 only).
    Lambda {
        principal_id: &'a str,
        context: Option<&'a [u8]>,
        latency_ms: Option<u64>,
    },
    /// A JWT (or Cognito) authorizer: its claims (a JSON object's text, when known) and
    /// scopes.
    Jwt {
        claims: Option<&'a [u8]>,
        scopes: &'a [String],
    },
}

/// Write the event for `input` into `out` (cleared first).
pub fn write(out: &mut Vec<u8>, input: &EventInput<'_>, scratch: &mut Vec<u8>) {
    out.clear();
    match input.format {
        PayloadFormat::V1 => write_v1(out, input, scratch),
        PayloadFormat::V2 => write_v2(out, input, scratch),
    }
}

fn is_cookie(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"cookie")
}

/// Whether header `i` is the first of its name (case-insensitive).
fn first_of_name(headers: &[(&[u8], &[u8])], i: usize) -> bool {
    let name = headers[i].0;
    !headers[..i]
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Query pairs (`name`, `value`), raw, in order.
fn query_pairs(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (&p[..eq], &p[eq + 1..]),
            None => (p, &b""[..]),
        })
}

/// A raw (percent-encoded) text as a JSON string, decoded.
fn decoded_string(out: &mut Vec<u8>, raw: &[u8], scratch: &mut Vec<u8>) {
    if !raw.contains(&b'%') {
        json::string(out, raw);
        return;
    }
    json::percent_decode(raw, scratch);
    json::string(out, scratch);
}

fn write_v1(out: &mut Vec<u8>, i: &EventInput<'_>, scratch: &mut Vec<u8>) {
    let c = &i.context;
    out.push(b'{');
    if !i.rest {
        json::field(out, "version", b"1.0");
    }
    json::field(out, "resource", i.resource.as_bytes());
    json::field(out, "path", i.path.as_bytes());
    json::field(out, "httpMethod", i.http_method.as_bytes());

    // headers / multiValueHeaders
    for multi in [false, true] {
        json::key(
            out,
            if multi {
                "multiValueHeaders"
            } else {
                "headers"
            },
        );
        out.push(b'{');
        for (k, &(name, _)) in i.headers.iter().enumerate() {
            if !first_of_name(i.headers, k) {
                continue;
            }
            json::string(out, name);
            out.push(b':');
            let mut same = i.headers[k..]
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name));
            if multi {
                out.push(b'[');
                for (_, v) in same {
                    json::string(out, v);
                    out.push(b',');
                }
                json::trim_comma(out);
                out.push(b']');
            } else {
                let last = same.next_back().map_or(&b""[..], |(_, v)| v);
                json::string(out, last);
            }
            out.push(b',');
        }
        json::close_object(out);
        out.push(b',');
    }

    // queryStringParameters / multiValueQueryStringParameters
    let pairs = || query_pairs(i.raw_query);
    for multi in [false, true] {
        json::key(
            out,
            if multi {
                "multiValueQueryStringParameters"
            } else {
                "queryStringParameters"
            },
        );
        if pairs().next().is_none() {
            out.extend_from_slice(b"null,");
            continue;
        }
        out.push(b'{');
        for (k, (name, _)) in pairs().enumerate() {
            if pairs().take(k).any(|(n, _)| json::decoded_eq(n, name)) {
                continue;
            }
            decoded_string(out, name, scratch);
            out.push(b':');
            let same = pairs()
                .skip(k)
                .filter(|(n, _)| json::decoded_eq(n, name))
                .map(|(_, v)| v);
            if multi {
                out.push(b'[');
                for v in same {
                    decoded_string(out, v, scratch);
                    out.push(b',');
                }
                json::trim_comma(out);
                out.push(b']');
            } else {
                let last = same.last().unwrap_or_default();
                decoded_string(out, last, scratch);
            }
            out.push(b',');
        }
        json::close_object(out);
        out.push(b',');
    }

    json::key(out, "pathParameters");
    pairs_object(out, i.path_parameters, true, scratch, true);
    json::key(out, "stageVariables");
    pairs_object(out, i.stage_variables, false, scratch, true);

    // requestContext
    json::key(out, "requestContext");
    out.push(b'{');
    if i.rest {
        json::field(out, "resourceId", c.resource_id.as_bytes());
    } else {
        json::field_or_null(out, "resourceId", None);
    }
    json::field(out, "resourcePath", i.resource.as_bytes());
    json::field(out, "httpMethod", i.http_method.as_bytes());
    json::field(out, "extendedRequestId", c.extended_request_id.as_bytes());
    json::field(out, "requestTime", c.request_time.as_bytes());
    json::field(out, "path", c.full_path.as_bytes());
    json::field(out, "accountId", c.account_id.as_bytes());
    json::field(out, "protocol", c.protocol.as_bytes());
    json::field(out, "stage", c.stage.as_bytes());
    json::field(out, "domainPrefix", c.domain_prefix.as_bytes());
    json::number_field(out, "requestTimeEpoch", c.request_time_epoch_ms);
    json::field(out, "requestId", c.request_id.as_bytes());
    json::key(out, "identity");
    out.push(b'{');
    let iam = c.iam.as_ref();
    json::field_or_null(out, "cognitoIdentityPoolId", None);
    json::field_or_null(out, "accountId", iam.map(|m| m.account_id.as_bytes()));
    json::field_or_null(out, "cognitoIdentityId", None);
    json::field_or_null(out, "caller", iam.map(|m| m.caller.as_bytes()));
    json::field(out, "sourceIp", c.source_ip.as_bytes());
    json::field_or_null(out, "principalOrgId", None);
    json::field_or_null(out, "accessKey", iam.map(|m| m.access_key.as_bytes()));
    json::field_or_null(out, "cognitoAuthenticationType", None);
    json::field_or_null(out, "cognitoAuthenticationProvider", None);
    json::field_or_null(out, "userArn", iam.map(|m| m.user_arn.as_bytes()));
    json::field(out, "userAgent", c.user_agent.as_bytes());
    json::field_or_null(out, "user", iam.map(|m| m.caller.as_bytes()));
    if let Some((key, id)) = c.api_key {
        json::field(out, "apiKey", key.as_bytes());
        json::field(out, "apiKeyId", id.as_bytes());
    }
    if let Some(cert) = &c.client_cert {
        json::key(out, "clientCert");
        client_cert(out, cert);
        out.push(b',');
    }
    json::close_object(out);
    out.push(b',');
    json::field(out, "domainName", c.domain_name.as_bytes());
    json::field(out, "apiId", c.api_id.as_bytes());
    match &c.authorizer {
        Some(AuthorizerInput::Lambda {
            principal_id,
            context,
            latency_ms,
        }) => {
            json::key(out, "authorizer");
            out.push(b'{');
            stringified_members(out, *context);
            if !principal_id.is_empty() {
                json::field(out, "principalId", principal_id.as_bytes());
            }
            if let Some(ms) = latency_ms {
                json::number_field(out, "integrationLatency", *ms);
            }
            json::close_object(out);
            out.push(b',');
        }
        Some(AuthorizerInput::Jwt { claims, scopes }) => {
            json::key(out, "authorizer");
            out.push(b'{');
            json::key(out, "claims");
            object_or_null(out, *claims);
            out.push(b',');
            if !i.rest {
                json::key(out, "scopes");
                strings_or_null(out, scopes);
                out.push(b',');
            }
            json::close_object(out);
            out.push(b',');
        }
        None => {}
    }
    json::close_object(out);
    out.push(b',');

    json::key(out, "body");
    body(out, i);
    out.push(b',');
    json::key(out, "isBase64Encoded");
    out.extend_from_slice(if i.base64 && !i.body.is_empty() {
        b"true"
    } else {
        b"false"
    });
    out.push(b'}');
}

fn write_v2(out: &mut Vec<u8>, i: &EventInput<'_>, scratch: &mut Vec<u8>) {
    let c = &i.context;
    out.push(b'{');
    json::field(out, "version", b"2.0");
    json::field(out, "routeKey", c.route_key.as_bytes());
    json::field(out, "rawPath", c.raw_path.as_bytes());
    json::field(out, "rawQueryString", i.raw_query);

    // cookies
    let mut cookies = i
        .headers
        .iter()
        .filter(|(n, _)| is_cookie(n))
        .flat_map(|(_, v)| v.split(|&b| b == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty())
        .peekable();
    if cookies.peek().is_some() {
        json::key(out, "cookies");
        out.push(b'[');
        for cookie in cookies {
            json::string(out, cookie);
            out.push(b',');
        }
        json::trim_comma(out);
        out.extend_from_slice(b"],");
    }

    // headers: lower-cased, joined by commas, cookies left out
    if i.headers.iter().any(|(n, _)| !is_cookie(n)) {
        json::key(out, "headers");
        out.push(b'{');
        for (k, &(name, _)) in i.headers.iter().enumerate() {
            if is_cookie(name) || !first_of_name(i.headers, k) {
                continue;
            }
            out.push(b'"');
            let at = out.len();
            json::string_body(out, name);
            out[at..].make_ascii_lowercase();
            out.extend_from_slice(b"\":\"");
            let mut first = true;
            for (_, v) in i.headers[k..]
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                if !first {
                    out.push(b',');
                }
                first = false;
                json::string_body(out, v);
            }
            out.extend_from_slice(b"\",");
        }
        json::close_object(out);
        out.push(b',');
    }

    // queryStringParameters: joined by commas
    let pairs = || query_pairs(i.raw_query);
    if pairs().next().is_some() {
        json::key(out, "queryStringParameters");
        out.push(b'{');
        for (k, (name, _)) in pairs().enumerate() {
            if pairs().take(k).any(|(n, _)| json::decoded_eq(n, name)) {
                continue;
            }
            decoded_string(out, name, scratch);
            out.extend_from_slice(b":\"");
            let mut first = true;
            for (_, v) in pairs().skip(k).filter(|(n, _)| json::decoded_eq(n, name)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                if v.contains(&b'%') {
                    json::percent_decode(v, scratch);
                    json::string_body(out, scratch);
                } else {
                    json::string_body(out, v);
                }
            }
            out.extend_from_slice(b"\",");
        }
        json::close_object(out);
        out.push(b',');
    }

    // requestContext
    json::key(out, "requestContext");
    out.push(b'{');
    json::field(out, "accountId", c.account_id.as_bytes());
    json::field(out, "apiId", c.api_id.as_bytes());
    if let Some(cert) = &c.client_cert {
        json::key(out, "authentication");
        out.push(b'{');
        json::key(out, "clientCert");
        client_cert(out, cert);
        out.extend_from_slice(b"},");
    }
    let authorizer = c.iam.is_some() || c.authorizer.is_some();
    if authorizer {
        json::key(out, "authorizer");
        out.push(b'{');
        if let Some(m) = &c.iam {
            json::key(out, "iam");
            out.push(b'{');
            json::field(out, "accessKey", m.access_key.as_bytes());
            json::field(out, "accountId", m.account_id.as_bytes());
            json::field(out, "callerId", m.caller.as_bytes());
            json::field_or_null(out, "cognitoIdentity", None);
            json::field_or_null(out, "principalOrgId", None);
            json::field(out, "userArn", m.user_arn.as_bytes());
            json::field(out, "userId", m.caller.as_bytes());
            json::close_object(out);
            out.push(b',');
        }
        match &c.authorizer {
            Some(AuthorizerInput::Lambda { context, .. }) => {
                json::key(out, "lambda");
                object_or_empty(out, *context);
                out.push(b',');
            }
            Some(AuthorizerInput::Jwt { claims, scopes }) => {
                json::key(out, "jwt");
                out.push(b'{');
                json::key(out, "claims");
                object_or_empty(out, *claims);
                out.push(b',');
                json::key(out, "scopes");
                strings_or_null(out, scopes);
                out.extend_from_slice(b"},");
            }
            None => {}
        }
        json::close_object(out);
        out.push(b',');
    }
    json::field(out, "domainName", c.domain_name.as_bytes());
    json::field(out, "domainPrefix", c.domain_prefix.as_bytes());
    json::key(out, "http");
    out.push(b'{');
    json::field(out, "method", i.http_method.as_bytes());
    json::field(out, "path", c.raw_path.as_bytes());
    json::field(out, "protocol", c.protocol.as_bytes());
    json::field(out, "sourceIp", c.source_ip.as_bytes());
    json::field(out, "userAgent", c.user_agent.as_bytes());
    json::close_object(out);
    out.push(b',');
    json::field(out, "requestId", c.request_id.as_bytes());
    json::field(out, "routeKey", c.route_key.as_bytes());
    json::field(out, "stage", c.stage.as_bytes());
    json::field(out, "time", c.request_time.as_bytes());
    json::number_field(out, "timeEpoch", c.request_time_epoch_ms);
    json::close_object(out);
    out.push(b',');

    if !i.body.is_empty() {
        json::key(out, "body");
        body(out, i);
        out.push(b',');
    }
    if !i.path_parameters.is_empty() {
        json::key(out, "pathParameters");
        pairs_object(out, i.path_parameters, true, scratch, false);
        out.push(b',');
    }
    json::key(out, "isBase64Encoded");
    out.extend_from_slice(if i.base64 && !i.body.is_empty() {
        b"true,"
    } else {
        b"false,"
    });
    if !i.stage_variables.is_empty() {
        json::key(out, "stageVariables");
        pairs_object(out, i.stage_variables, false, scratch, false);
        out.push(b',');
    }
    json::close_object(out);
}

/// The body: `null` (none), base64 text, or the bytes as a string.
fn body(out: &mut Vec<u8>, i: &EventInput<'_>) {
    if i.body.is_empty() {
        out.extend_from_slice(b"null");
    } else if i.base64 {
        json::base64_string(out, i.body);
    } else {
        json::string(out, i.body);
    }
}

/// `{name: value}` of unique names (the last wins); `null` or `{}` when empty (then the
/// caller adds the `,`; 1.0 closes with `,` itself via `trailing`).
fn pairs_object(
    out: &mut Vec<u8>,
    pairs: &[(&str, &str)],
    decode: bool,
    scratch: &mut Vec<u8>,
    trailing: bool,
) {
    if pairs.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'{');
        for (k, &(name, _)) in pairs.iter().enumerate() {
            if pairs[k + 1..].iter().any(|(n, _)| *n == name) {
                continue;
            }
            json::string(out, name.as_bytes());
            out.push(b':');
            let value = pairs[k].1.as_bytes();
            if decode {
                decoded_string(out, value, scratch);
            } else {
                json::string(out, value);
            }
            out.push(b',');
        }
        json::close_object(out);
    }
    if trailing {
        out.push(b',');
    }
}

fn client_cert(out: &mut Vec<u8>, c: &ClientCertInput<'_>) {
    out.push(b'{');
    json::field(out, "clientCertPem", c.pem.as_bytes());
    json::field(out, "subjectDN", c.subject_dn.as_bytes());
    json::field(out, "issuerDN", c.issuer_dn.as_bytes());
    json::field(out, "serialNumber", c.serial_number.as_bytes());
    json::key(out, "validity");
    out.push(b'{');
    json::field(out, "notBefore", c.not_before.as_bytes());
    json::field(out, "notAfter", c.not_after.as_bytes());
    json::close_object(out);
    out.push(b'}');
}

/// A JSON object's members (without its braces), each followed by `,`, with every value
/// that is neither a string nor `null` written as a string of its JSON text (`1` ->
/// `"1"`, `true` -> `"true"`, `["a"]` -> `"[\"a\"]"`); nothing when unknown, empty or not
/// a JSON object.
fn stringified_members(out: &mut Vec<u8>, object: Option<&[u8]>) {
    let Some(object) = object else {
        return;
    };
    let mark = out.len();
    if copy_stringified(out, object).is_none() {
        out.truncate(mark);
    }
}

fn copy_stringified(out: &mut Vec<u8>, o: &[u8]) -> Option<()> {
    let mut at = skip_ws(o, 0);
    if o.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_ws(o, at + 1);
    if o.get(at) == Some(&b'}') {
        return Some(());
    }
    loop {
        // "key"
        if o.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = skip_value(o, at)?;
        out.extend_from_slice(&o[at..key_end]);
        at = skip_ws(o, key_end);
        if o.get(at) != Some(&b':') {
            return None;
        }
        out.push(b':');
        at = skip_ws(o, at + 1);
        let end = skip_value(o, at)?;
        let value = &o[at..end];
        match value.first() {
            Some(b'"') => out.extend_from_slice(value),
            _ if value == b"null" => out.extend_from_slice(value),
            _ => json::string(out, value),
        }
        out.push(b',');
        at = skip_ws(o, end);
        match o.get(at) {
            Some(b',') => at = skip_ws(o, at + 1),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

fn skip_ws(o: &[u8], mut at: usize) -> usize {
    while o.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The end of the JSON value starting at `at` (a string, an object or array, or a
/// scalar); none when it does not end.
fn skip_value(o: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    loop {
        match *o.get(i)? {
            b'"' => {
                i += 1;
                loop {
                    match *o.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            b',' | b'}' | b']' if depth == 0 => return (i > at).then_some(i),
            b if depth == 0 && b.is_ascii_whitespace() => return (i > at).then_some(i),
            _ => i += 1,
        }
        if depth == 0 && i > at && matches!(o[at], b'"' | b'{' | b'[') {
            return Some(i);
        }
    }
}

fn object_or_null(out: &mut Vec<u8>, object: Option<&[u8]>) {
    match object {
        Some(o) => out.extend_from_slice(o),
        None => out.extend_from_slice(b"null"),
    }
}

fn object_or_empty(out: &mut Vec<u8>, object: Option<&[u8]>) {
    match object {
        Some(o) => out.extend_from_slice(o),
        None => out.extend_from_slice(b"{}"),
    }
}

fn strings_or_null(out: &mut Vec<u8>, list: &[String]) {
    if list.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'[');
    for s in list {
        json::string(out, s.as_bytes());
        out.push(b',');
    }
    json::trim_comma(out);
    out.push(b']');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
    }

    /// Every key of `want` has the same value in `got`, recursively, and `got` has no
    /// other keys: the test names the first field that differs.
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

    /// The request of AWS's REST example ("Input format of a Lambda function for proxy
    /// integration"): `POST /testStage/hello/world?name=me` with a JSON body, on the
    /// `/{proxy+}` resource, one stage variable; here with a repeated query parameter and
    /// header as the multi-value section shows them.
    type Headers = Vec<(&'static [u8], &'static [u8])>;

    fn rest_example() -> (Headers, EventInput<'static>) {
        let headers: Vec<(&'static [u8], &'static [u8])> = vec![
            (b"Accept", b"*/*"),
            (b"Content-Type", b"application/json"),
            (b"headerName", b"headerValue"),
            (b"Host", b"gy415nuibc.execute-api.us-east-1.amazonaws.com"),
            (b"User-Agent", b"PostmanRuntime/2.4.5"),
            (b"X-Forwarded-For", b"54.240.196.186, 54.182.214.83"),
            (b"X-Forwarded-Port", b"443"),
            (b"X-Forwarded-Proto", b"https"),
            (b"x-forwarded-for", b"10.0.0.1"),
        ];
        let input = EventInput {
            format: PayloadFormat::V1,
            rest: true,
            resource: "/{proxy+}",
            path: "/hello/world",
            http_method: "POST",
            headers: &[],
            raw_query: b"name=me&multivalueName=you&multivalueName=me",
            path_parameters: &[("proxy", "hello/world")],
            stage_variables: &[("stageVariableName", "stageVariableValue")],
            body: b"{\r\n\t\"a\": 1\r\n}",
            base64: false,
            context: ContextInput {
                account_id: "12345678912",
                api_id: "gy415nuibc",
                stage: "testStage",
                request_id: "deef4878-7910-11e6-8f14-25afc3e9ae33",
                extended_request_id: "deef48787910e6a1",
                resource_id: "roq9wj",
                full_path: "/testStage/hello/world",
                raw_path: "/testStage/hello/world",
                route_key: "ANY /{proxy+}",
                source_ip: "192.168.196.186",
                user_agent: "PostmanRuntime/2.4.5",
                protocol: "HTTP/1.1",
                domain_name: "gy415nuibc.execute-api.us-east-1.amazonaws.com",
                domain_prefix: "gy415nuibc",
                request_time: "15/May/2020:06:01:09 +0000",
                request_time_epoch_ms: 1589522469693,
                ..Default::default()
            },
        };
        (headers, input)
    }

    fn v1(input: &EventInput<'_>) -> Value {
        let mut out = Vec::new();
        write(&mut out, input, &mut Vec::new());
        parse(&out)
    }

    #[test]
    fn rest_event_as_aws_documents_it() {
        let (headers, mut input) = rest_example();
        input.headers = &headers;
        let got = v1(&input);
        let want = json!({
            "resource": "/{proxy+}",
            "path": "/hello/world",
            "httpMethod": "POST",
            "headers": {
                "Accept": "*/*",
                "Content-Type": "application/json",
                "headerName": "headerValue",
                "Host": "gy415nuibc.execute-api.us-east-1.amazonaws.com",
                "User-Agent": "PostmanRuntime/2.4.5",
                "X-Forwarded-For": "10.0.0.1",
                "X-Forwarded-Port": "443",
                "X-Forwarded-Proto": "https"
            },
            "multiValueHeaders": {
                "Accept": ["*/*"],
                "Content-Type": ["application/json"],
                "headerName": ["headerValue"],
                "Host": ["gy415nuibc.execute-api.us-east-1.amazonaws.com"],
                "User-Agent": ["PostmanRuntime/2.4.5"],
                "X-Forwarded-For": ["54.240.196.186, 54.182.214.83", "10.0.0.1"],
                "X-Forwarded-Port": ["443"],
                "X-Forwarded-Proto": ["https"]
            },
            "queryStringParameters": {"name": "me", "multivalueName": "me"},
            "multiValueQueryStringParameters": {"name": ["me"], "multivalueName": ["you", "me"]},
            "pathParameters": {"proxy": "hello/world"},
            "stageVariables": {"stageVariableName": "stageVariableValue"},
            "requestContext": {
                "resourceId": "roq9wj",
                "resourcePath": "/{proxy+}",
                "httpMethod": "POST",
                "extendedRequestId": "deef48787910e6a1",
                "requestTime": "15/May/2020:06:01:09 +0000",
                "path": "/testStage/hello/world",
                "accountId": "12345678912",
                "protocol": "HTTP/1.1",
                "stage": "testStage",
                "domainPrefix": "gy415nuibc",
                "requestTimeEpoch": 1589522469693u64,
                "requestId": "deef4878-7910-11e6-8f14-25afc3e9ae33",
                "identity": {
                    "cognitoIdentityPoolId": null,
                    "accountId": null,
                    "cognitoIdentityId": null,
                    "caller": null,
                    "sourceIp": "192.168.196.186",
                    "principalOrgId": null,
                    "accessKey": null,
                    "cognitoAuthenticationType": null,
                    "cognitoAuthenticationProvider": null,
                    "userArn": null,
                    "userAgent": "PostmanRuntime/2.4.5",
                    "user": null
                },
                "domainName": "gy415nuibc.execute-api.us-east-1.amazonaws.com",
                "apiId": "gy415nuibc"
            },
            "body": "{\r\n\t\"a\": 1\r\n}",
            "isBase64Encoded": false
        });
        assert_fields(&got, &want, "event");
    }

    #[test]
    fn rest_event_without_query_parameters_or_body() {
        let (headers, mut input) = rest_example();
        input.headers = &headers[..1];
        input.raw_query = b"";
        input.path_parameters = &[];
        input.stage_variables = &[];
        input.body = b"";
        input.http_method = "GET";
        let got = v1(&input);
        for k in [
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "stageVariables",
            "body",
        ] {
            assert_eq!(got[k], Value::Null, "{k}");
        }
        assert_eq!(got["isBase64Encoded"], false);
        assert!(got.get("version").is_none(), "REST events have no version");
    }

    #[test]
    fn query_and_path_values_are_decoded() {
        let (_, mut input) = rest_example();
        input.raw_query = b"q=a%20b&q%31=%E2%82%AC&flag&e=&q=c+d&bad=%FF";
        input.path_parameters = &[("id", "a%2Fb"), ("id", "later")];
        let got = v1(&input);
        assert_eq!(
            got["queryStringParameters"],
            json!({"q": "c+d", "q1": "€", "flag": "", "e": "", "bad": "\u{FFFD}"})
        );
        assert_eq!(
            got["multiValueQueryStringParameters"]["q"],
            json!(["a b", "c+d"])
        );
        assert_eq!(got["pathParameters"], json!({"id": "later"}));
        input.path_parameters = &[("id", "a%2Fb")];
        assert_eq!(v1(&input)["pathParameters"], json!({"id": "a/b"}));
    }

    #[test]
    fn binary_bodies_go_base64() {
        let (_, mut input) = rest_example();
        input.body = b"\x89PNG\r\n\x1a\n\x00\xff";
        input.base64 = true;
        let got = v1(&input);
        assert_eq!(got["isBase64Encoded"], true);
        assert_eq!(got["body"], "iVBORw0KGgoA/w==");
        // Text that is not UTF-8 without base64: replaced, still valid JSON.
        input.base64 = false;
        assert_eq!(v1(&input)["body"], "\u{FFFD}PNG\r\n\u{1a}\n\u{0}\u{FFFD}");
    }

    #[test]
    fn authorizers_and_identities_in_the_rest_event() {
        let (_, mut input) = rest_example();
        input.context.api_key = Some(("key-1", "id-1"));
        input.context.iam = Some(IamInput {
            access_key: "AKID",
            account_id: "123456789012",
            caller: "AIDAEXAMPLE",
            user_arn: "arn:aws:iam::123456789012:user/alice",
        });
        input.context.authorizer = Some(AuthorizerInput::Lambda {
            principal_id: "user-1",
            context: Some(br#"{"tier":1,"name":"x"}"#),
            latency_ms: Some(22),
        });
        input.context.client_cert = Some(ClientCertInput {
            pem: "",
            subject_dn: "CN=client",
            issuer_dn: "CN=ca",
            serial_number: "0a",
            not_before: "May 28 12:30:02 2019 GMT",
            not_after: "Aug  5 09:36:04 2021 GMT",
        });
        let got = v1(&input);
        let id = &got["requestContext"]["identity"];
        assert_eq!(id["apiKey"], "key-1");
        assert_eq!(id["apiKeyId"], "id-1");
        assert_eq!(id["accessKey"], "AKID");
        assert_eq!(id["caller"], "AIDAEXAMPLE");
        assert_eq!(id["user"], "AIDAEXAMPLE");
        assert_eq!(id["userArn"], "arn:aws:iam::123456789012:user/alice");
        assert_eq!(id["clientCert"]["subjectDN"], "CN=client");
        assert_eq!(
            id["clientCert"]["validity"]["notAfter"],
            "Aug  5 09:36:04 2021 GMT"
        );
        // The context's values stringified, as REST sends them.
        assert_eq!(
            got["requestContext"]["authorizer"],
            json!({"tier": "1", "name": "x", "principalId": "user-1", "integrationLatency": 22})
        );
        input.context.authorizer = Some(AuthorizerInput::Jwt {
            claims: None,
            scopes: &[],
        });
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"claims": null})
        );
    }

    /// 1.0's `authorizer` for a Lambda authorizer: AWS's documented answer (context
    /// `{stringKey, numberKey, booleanKey}`) reaches the function stringified ("Their
    /// values are stringified, for example, "stringval", "123", or "true"").
    #[test]
    fn lambda_authorizer_context_in_1_0_is_stringified() {
        let (_, mut input) = rest_example();
        let authorizer = |context: &'static [u8], principal_id: &'static str| {
            Some(AuthorizerInput::Lambda {
                principal_id,
                context: Some(context),
                latency_ms: Some(0),
            })
        };
        input.context.authorizer = authorizer(
            br#"{"stringKey":"stringval","numberKey":123,"booleanKey":true,"f":-1.5e3,"no":false}"#,
            "user",
        );
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"stringKey": "stringval", "numberKey": "123", "booleanKey": "true",
                   "f": "-1.5e3", "no": "false", "principalId": "user", "integrationLatency": 0})
        );
        // HTTP APIs' lists, maps and null (with spaces and escapes around): lists and maps
        // as their JSON text, null kept; a simple answer has no principal.
        input.rest = false;
        input.context.authorizer = authorizer(
            br#" { "l" : ["a,b", {"c": "}"}] , "m":{"k":"v\"}"}, "n" : null, "s":"x\"y" } "#,
            "",
        );
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"l": r#"["a,b", {"c": "}"}]"#, "m": r#"{"k":"v\"}"}"#, "n": null,
                   "s": "x\"y", "integrationLatency": 0})
        );
        // An empty context; then text that is not a JSON object adds nothing (the event
        // stays valid JSON).
        for context in [
            &b"{}"[..],
            b" { } ",
            b"[1]",
            b"{\"a\":",
            b"{\"a\" 1}",
            b"{\"a\":1",
        ] {
            input.context.authorizer = Some(AuthorizerInput::Lambda {
                principal_id: "p",
                context: Some(context),
                latency_ms: None,
            });
            assert_eq!(
                v1(&input)["requestContext"]["authorizer"],
                json!({"principalId": "p"}),
                "{}",
                String::from_utf8_lossy(context)
            );
        }
    }

    /// JWT authorizers: REST's Cognito `authorizer.claims`; HTTP APIs' 1.0
    /// `authorizer.{claims, scopes}` (AWS's 1.0 example) and 2.0 `authorizer.jwt`.
    #[test]
    fn jwt_claims_and_scopes_by_payload_format() {
        let (_, mut input) = rest_example();
        let scopes = ["orders/read".to_string(), "profile".to_string()];
        input.context.authorizer = Some(AuthorizerInput::Jwt {
            claims: Some(br#"{"sub":"alice","exp":"1680633579"}"#),
            scopes: &scopes,
        });
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"claims": {"sub": "alice", "exp": "1680633579"}})
        );
        input.rest = false;
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"claims": {"sub": "alice", "exp": "1680633579"},
                   "scopes": ["orders/read", "profile"]})
        );
        input.context.authorizer = Some(AuthorizerInput::Jwt {
            claims: Some(br#"{"sub":"alice"}"#),
            scopes: &[],
        });
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"claims": {"sub": "alice"}, "scopes": null})
        );
        input.format = PayloadFormat::V2;
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"jwt": {"claims": {"sub": "alice"}, "scopes": null}})
        );
    }

    /// 2.0's `authorizer.lambda`: the context with its types (AWS's HTTP API example
    /// answers with numbers, booleans, lists and maps), without principal or latency.
    #[test]
    fn lambda_authorizer_context_in_2_0_keeps_its_types() {
        let (_, mut input) = rest_example();
        input.rest = false;
        input.format = PayloadFormat::V2;
        let context = br#"{"stringKey":"value","numberKey":1,"booleanKey":true,"arrayKey":["value1","value2"],"mapKey":{"value1":"value2"}}"#;
        input.context.authorizer = Some(AuthorizerInput::Lambda {
            principal_id: "abcdef",
            context: Some(context),
            latency_ms: Some(12),
        });
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"lambda": {"stringKey": "value", "numberKey": 1, "booleanKey": true,
                   "arrayKey": ["value1", "value2"], "mapKey": {"value1": "value2"}}})
        );
        input.context.authorizer = Some(AuthorizerInput::Lambda {
            principal_id: "",
            context: None,
            latency_ms: None,
        });
        assert_eq!(
            v1(&input)["requestContext"]["authorizer"],
            json!({"lambda": {}})
        );
    }

    #[test]
    fn http_api_payload_1_0() {
        let (headers, mut input) = rest_example();
        input.headers = &headers[..2];
        input.rest = false;
        input.resource = "/my/path";
        let got = v1(&input);
        assert_eq!(got["version"], "1.0");
        assert_eq!(got["requestContext"]["resourceId"], Value::Null);
        assert_eq!(got["multiValueHeaders"]["Accept"], json!(["*/*"]));
    }

    /// AWS's 2.0 example ("Create AWS Lambda proxy integrations for HTTP APIs").
    #[test]
    fn http_api_payload_2_0_as_aws_documents_it() {
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b"Header1", b"value1"),
            (b"Cookie", b"cookie1; cookie2"),
            (b"Header2", b"value1"),
            (b"header2", b"value2"),
        ];
        let input = EventInput {
            format: PayloadFormat::V2,
            rest: false,
            resource: "$default",
            path: "/my/path",
            http_method: "POST",
            headers: &headers,
            raw_query: b"parameter1=value1&parameter1=value2&parameter2=value",
            path_parameters: &[("parameter1", "value1")],
            stage_variables: &[("stageVariable1", "value1"), ("stageVariable2", "value2")],
            body: b"Hello from Lambda",
            base64: false,
            context: ContextInput {
                account_id: "123456789012",
                api_id: "api-id",
                stage: "$default",
                request_id: "id",
                raw_path: "/my/path",
                full_path: "/my/path",
                route_key: "$default",
                source_ip: "192.0.2.1",
                user_agent: "agent",
                protocol: "HTTP/1.1",
                domain_name: "id.execute-api.us-east-1.amazonaws.com",
                domain_prefix: "id",
                request_time: "12/Mar/2020:19:03:58 +0000",
                request_time_epoch_ms: 1583348638390,
                client_cert: Some(ClientCertInput {
                    pem: "CERT_CONTENT",
                    subject_dn: "www.example.com",
                    issuer_dn: "Example issuer",
                    serial_number: "a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1",
                    not_before: "May 28 12:30:02 2019 GMT",
                    not_after: "Aug  5 09:36:04 2021 GMT",
                }),
                ..Default::default()
            },
        };
        let mut out = Vec::new();
        write(&mut out, &input, &mut Vec::new());
        let got = parse(&out);
        let want = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/my/path",
            "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
            "cookies": ["cookie1", "cookie2"],
            "headers": {"header1": "value1", "header2": "value1,value2"},
            "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api-id",
                "authentication": {"clientCert": {
                    "clientCertPem": "CERT_CONTENT",
                    "subjectDN": "www.example.com",
                    "issuerDN": "Example issuer",
                    "serialNumber": "a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1",
                    "validity": {"notBefore": "May 28 12:30:02 2019 GMT", "notAfter": "Aug  5 09:36:04 2021 GMT"}
                }},
                "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id",
                "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "agent"},
                "requestId": "id",
                "routeKey": "$default",
                "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1583348638390u64
            },
            "body": "Hello from Lambda",
            "pathParameters": {"parameter1": "value1"},
            "isBase64Encoded": false,
            "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"}
        });
        assert_fields(&got, &want, "event");
    }

    #[test]
    fn payload_2_0_leaves_absent_parts_out() {
        let headers: Vec<(&[u8], &[u8])> = vec![(b"Cookie", b"  ; "), (b"cookie", b"")];
        let input = EventInput {
            format: PayloadFormat::V2,
            rest: false,
            resource: "GET /x",
            path: "/x",
            http_method: "GET",
            headers: &headers,
            raw_query: b"",
            path_parameters: &[],
            stage_variables: &[],
            body: b"",
            base64: true,
            context: ContextInput::default(),
        };
        let mut out = Vec::new();
        write(&mut out, &input, &mut Vec::new());
        let got = parse(&out);
        for k in [
            "cookies",
            "headers",
            "queryStringParameters",
            "body",
            "pathParameters",
            "stageVariables",
        ] {
            assert!(got.get(k).is_none(), "{k} in {got}");
        }
        assert_eq!(got["isBase64Encoded"], false);
        assert!(got["requestContext"].get("authorizer").is_none());
    }

    #[test]
    fn payload_2_0_authorizers() {
        let input = EventInput {
            format: PayloadFormat::V2,
            rest: false,
            resource: "GET /x",
            path: "/x",
            http_method: "GET",
            headers: &[],
            raw_query: b"",
            path_parameters: &[],
            stage_variables: &[],
            body: b"\x00\x01",
            base64: true,
            context: ContextInput {
                iam: Some(IamInput {
                    access_key: "AKID",
                    account_id: "123456789012",
                    caller: "AIDA",
                    user_arn: "arn:aws:iam::123456789012:user/a",
                }),
                authorizer: Some(AuthorizerInput::Jwt {
                    claims: Some(br#"{"sub":"u"}"#),
                    scopes: &["read".to_string()],
                }),
                ..Default::default()
            },
        };
        let mut out = Vec::new();
        write(&mut out, &input, &mut Vec::new());
        let got = parse(&out);
        assert_eq!(got["body"], "AAE=");
        assert_eq!(got["isBase64Encoded"], true);
        let a = &got["requestContext"]["authorizer"];
        assert_eq!(a["iam"]["userId"], "AIDA");
        assert_eq!(a["iam"]["cognitoIdentity"], Value::Null);
        assert_eq!(
            a["jwt"],
            json!({"claims": {"sub": "u"}, "scopes": ["read"]})
        );
    }
}
