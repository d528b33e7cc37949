//! `apis[i].gateway_responses`: API Gateway's customisable gateway responses
//! (`PutGatewayResponse`, OpenAPI's `x-amazon-apigateway-gateway-responses`), validated and
//! compiled at load.
//!
//! ```yaml
//! gateway_responses:
//!   DEFAULT_4XX:
//!     response_parameters:
//!       gatewayresponse.header.Access-Control-Allow-Origin: "'*'"
//!   THROTTLED:
//!     status_code: 503
//!     response_parameters:
//!       gatewayresponse.header.x-client: method.request.header.x-client
//!     response_templates:
//!       application/json: '{"error": $context.error.messageString, "id": "$context.requestId"}'
//! ```
//!
//! Keys are the response types (`DEFAULT_4XX`, `THROTTLED`, ...; `error::ResponseType`);
//! each takes `status_code`, `response_parameters` and `response_templates` (AWS's
//! `statusCode`, `responseParameters`, `responseTemplates` are accepted too).
//! A response parameter maps `gatewayresponse.header.NAME` to a `'static value'`,
//! `method.request.header.NAME`, `method.request.querystring.NAME`, `method.request.path.NAME`,
//! `stageVariables.NAME` or `context.NAME`. A template (not VTL, as on API Gateway) is text
//! with `$context.NAME` and `$stageVariables.NAME` substituted; an unknown `$context`
//! variable is refused here, with its key path.
//!
//! Inheritance ([`GatewayResponses::resolve`]), as API Gateway documents it: a type not
//! customised itself takes the customisation of `DEFAULT_4XX` (4XX types) or `DEFAULT_5XX`
//! (5XX types), with the type's own status unless that default sets a `status_code`; a type
//! customised itself uses only its own headers and templates (nothing is merged from the
//! default), and its own `status_code`, else the default's, else the type's status.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::access_log::is_context_variable;
use super::file::StringMap;
use super::validate::Errors;
use crate::error::{ErrorKind, GatewayResponse, ResponseType};

/// `apis[i].gateway_responses`: response type -> its customisation, in the file's order
/// (duplicate keys are kept and refused by validation).
#[derive(Debug, Default)]
pub struct GatewayResponsesFile(pub Vec<(String, GatewayResponseFile)>);

impl<'de> Deserialize<'de> for GatewayResponsesFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GatewayResponsesFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of gateway response types (DEFAULT_4XX, THROTTLED, ...)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<GatewayResponsesFile, E> {
                Ok(GatewayResponsesFile::default())
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<GatewayResponsesFile, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, GatewayResponseFile>()? {
                    out.push(entry);
                }
                Ok(GatewayResponsesFile(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `apis[i].gateway_responses.TYPE`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayResponseFile {
    /// The response's status (a number or its text, as AWS's `statusCode` string).
    #[serde(default, alias = "statusCode")]
    pub status_code: Option<StatusCodeText>,
    /// `gatewayresponse.header.NAME` -> where its value comes from.
    #[serde(default, alias = "responseParameters")]
    pub response_parameters: StringMap,
    /// Content type -> body template.
    #[serde(default, alias = "responseTemplates")]
    pub response_templates: StringMap,
}

/// A status code as written: `404` or `"404"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StatusCodeText {
    Number(i64),
    Text(String),
}

/// An API's customised gateway responses, validated (empty: API Gateway's defaults).
#[derive(Debug, Default)]
pub struct GatewayResponses {
    /// Some type is customised (the error path's one test for the common case).
    any: bool,
    /// By `ResponseType::index`.
    by_type: [Option<Box<CustomResponse>>; ResponseType::COUNT],
    /// The method request values the customisations read (headers, query parameters),
    /// each once: what `pipeline::respond::capture` copies while the request head is
    /// readable.
    request_values: Vec<RequestValue>,
}

/// One response type's customisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomResponse {
    pub response_type: ResponseType,
    /// `status_code`, when set.
    pub status: Option<u16>,
    /// Response headers (lowercase names, the file's order).
    pub headers: Vec<ResponseHeader>,
    /// Body templates by content type (lowercase, the file's order); none: the default
    /// `{"message": ...}` body.
    pub templates: Vec<(Box<str>, Template)>,
}

/// `gatewayresponse.header.NAME: VALUE`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Lowercase.
    pub name: Box<str>,
    pub value: ParamValue,
}

/// Where a response header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// `'text'`: the text between the quotes.
    Static(Box<str>),
    /// `method.request.header.NAME` (lowercase name): the request's (last) value.
    Header(Box<str>),
    /// `method.request.querystring.NAME`: the request's (last) value, percent-decoded.
    Query(Box<str>),
    /// `method.request.path.NAME`: the matched route's path parameter.
    Path(Box<str>),
    /// `stageVariables.NAME`
    StageVariable(Box<str>),
    /// `context.NAME` (without the prefix).
    Context(Box<str>),
}

/// A compiled body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(Box<str>),
    /// `$context.NAME` (without the prefix).
    Context(Box<str>),
    /// `$stageVariables.NAME`
    StageVariable(Box<str>),
}

/// A method request value a customisation reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestValue {
    /// A header (lowercase name).
    Header(Box<str>),
    /// A query string parameter.
    Query(Box<str>),
}

/// The customisation that answers an error, with the status it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub response: &'a CustomResponse,
    pub status: u16,
}

/// `$context` variables gateway response templates and headers know besides
/// [`super::access_log::CONTEXT_VARIABLES`] (rendered by `pipeline::respond`).
pub const EXTRA_CONTEXT_VARIABLES: &[&str] = &["error.messageString"];

/// Whether `$context.NAME` may appear in a gateway response (`name` without the prefix).
pub fn is_known_variable(name: &str) -> bool {
    EXTRA_CONTEXT_VARIABLES.contains(&name) || is_context_variable(name)
}

impl GatewayResponses {
    /// No response type is customised.
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.any
    }

    /// `t`'s own customisation.
    pub fn get(&self, t: ResponseType) -> Option<&CustomResponse> {
        self.by_type.get(t.index())?.as_deref()
    }

    /// The method request values the customisations read.
    pub fn request_values(&self) -> &[RequestValue] {
        &self.request_values
    }

    /// The customisation answering `kind`, with its status (see the module comment for
    /// the inheritance); `None`: API Gateway's default response.
    pub fn resolve(&self, kind: ErrorKind) -> Option<Resolved<'_>> {
        let own_status = GatewayResponse::for_kind(kind).status;
        let t = kind.response_type();
        let fallback = match t {
            ResponseType::Default4xx | ResponseType::Default5xx => None,
            _ => self.get(t.fallback()),
        };
        let fallback_status = fallback.and_then(|f| f.status);
        match self.get(t) {
            Some(own) => Some(Resolved {
                response: own,
                status: own.status.or(fallback_status).unwrap_or(own_status),
            }),
            None => fallback.map(|f| Resolved {
                response: f,
                status: fallback_status.unwrap_or(own_status),
            }),
        }
    }
}

/// Header names a gateway response may not set: framing and connection management, and
/// what the gateway writes on every response.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "date",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-amzn-requestid",
];

const HEADER_PREFIX: &str = "gatewayresponse.header.";

pub(super) fn build(e: &mut Errors, f: &GatewayResponsesFile, path: &str) -> GatewayResponses {
    let mut out = GatewayResponses::default();
    let mut needs_accept = false;
    for (key, file) in &f.0 {
        let rpath = format!("{path}.{key}");
        let Some(t) = ResponseType::from_name(key) else {
            let names: Vec<&str> = ResponseType::ALL.iter().map(|t| t.name()).collect();
            e.push(
                rpath,
                format!(
                    "`{key}` is not a gateway response type: one of {}",
                    names.join(", ")
                ),
            );
            continue;
        };
        let response = build_response(e, t, file, &rpath, &mut out.request_values);
        needs_accept |= response.templates.len() > 1;
        match out.by_type.get_mut(t.index()) {
            Some(slot @ None) => {
                *slot = Some(Box::new(response));
                out.any = true;
            }
            Some(Some(_)) => e.push(rpath, format!("`{key}` is customised twice")),
            None => {}
        }
    }
    if needs_accept {
        // Several templates: the request's Accept chooses one.
        push_unique(
            &mut out.request_values,
            RequestValue::Header("accept".into()),
        );
    }
    out
}

fn push_unique(list: &mut Vec<RequestValue>, v: RequestValue) {
    if !list.contains(&v) {
        list.push(v);
    }
}

fn build_response(
    e: &mut Errors,
    t: ResponseType,
    f: &GatewayResponseFile,
    path: &str,
    request_values: &mut Vec<RequestValue>,
) -> CustomResponse {
    let status = f.status_code.as_ref().and_then(|s| match parse_status(s) {
        Ok(s) => Some(s),
        Err(reason) => {
            e.push(format!("{path}.status_code"), reason);
            None
        }
    });
    let mut headers: Vec<ResponseHeader> = Vec::new();
    for (key, value) in &f.response_parameters.0 {
        let ppath = format!("{path}.response_parameters.{key}");
        let name = match parse_header_key(key) {
            Ok(n) => n,
            Err(reason) => {
                e.push(ppath, reason);
                continue;
            }
        };
        if headers.iter().any(|h| h.name == name) {
            e.push(ppath, format!("the header `{name}` is set twice"));
            continue;
        }
        match parse_param_value(value) {
            Ok(value) => {
                match &value {
                    ParamValue::Header(n) => {
                        push_unique(request_values, RequestValue::Header(n.clone()))
                    }
                    ParamValue::Query(n) => {
                        push_unique(request_values, RequestValue::Query(n.clone()))
                    }
                    _ => {}
                }
                headers.push(ResponseHeader { name, value });
            }
            Err(reason) => e.push(ppath, reason),
        }
    }
    let mut templates: Vec<(Box<str>, Template)> = Vec::new();
    for (key, text) in &f.response_templates.0 {
        let tpath = format!("{path}.response_templates.{key}");
        let content_type = match parse_content_type(key) {
            Ok(c) => c,
            Err(reason) => {
                e.push(tpath, reason);
                continue;
            }
        };
        if templates.iter().any(|(c, _)| *c == content_type) {
            e.push(
                tpath,
                format!("a template for `{content_type}` is given twice"),
            );
            continue;
        }
        match compile_template(text) {
            Ok(template) => templates.push((content_type, template)),
            Err(reason) => e.push(tpath, reason),
        }
    }
    CustomResponse {
        response_type: t,
        status,
        headers,
        templates,
    }
}

/// A status code a gateway response may have: 200-599, not one that carries no body.
fn parse_status(s: &StatusCodeText) -> Result<u16, String> {
    let n: i64 = match s {
        StatusCodeText::Number(n) => *n,
        StatusCodeText::Text(t) => match t.trim() {
            t if t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()) => t
                .parse()
                .map_err(|_| format!("`{t}` is not a status code"))?,
            _ => return Err(format!("`{t}` is not a status code (three digits)")),
        },
    };
    match n {
        204 | 205 | 304 => Err(format!(
            "{n} carries no body; a gateway response has one (use another status)"
        )),
        200..=599 => Ok(n as u16),
        _ => Err(format!(
            "{n} is not a status code for a response: 200 to 599"
        )),
    }
}

/// `gatewayresponse.header.NAME` -> `name` (lowercase).
fn parse_header_key(key: &str) -> Result<Box<str>, String> {
    let Some(name) = key.strip_prefix(HEADER_PREFIX) else {
        return Err(format!(
            "`{key}` is not a gateway response parameter: \
             `gatewayresponse.header.NAME` (responses set headers only)"
        ));
    };
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    let name = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "the header `{name}` is the gateway's own (framing, date, request id); \
             it cannot be set"
        ));
    }
    Ok(name.into())
}

/// RFC 9110 token characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header value's text: no control characters (CR and LF above all).
fn valid_header_text(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
}

fn parse_param_value(v: &str) -> Result<ParamValue, String> {
    if let Some(inner) = v.strip_prefix('\'') {
        let Some(text) = inner.strip_suffix('\'') else {
            return Err(format!(
                "`{v}`: a static value is quoted at both ends ('text')"
            ));
        };
        if !valid_header_text(text) {
            return Err("a static header value may not hold control characters".into());
        }
        return Ok(ParamValue::Static(text.into()));
    }
    let named = |prefix: &str| v.strip_prefix(prefix).filter(|n| !n.is_empty());
    if let Some(n) = named("method.request.header.") {
        if !n.bytes().all(is_token_byte) {
            return Err(format!("`{n}` is not a valid header name"));
        }
        return Ok(ParamValue::Header(n.to_ascii_lowercase().into()));
    }
    if let Some(n) = named("method.request.querystring.") {
        if !valid_header_text(n) || n.contains(['&', '=', '#', ' ']) {
            return Err(format!("`{n}` is not a valid query string parameter name"));
        }
        return Ok(ParamValue::Query(n.into()));
    }
    if let Some(n) = named("method.request.path.") {
        if !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(format!("`{n}` is not a valid path parameter name"));
        }
        return Ok(ParamValue::Path(n.into()));
    }
    if let Some(n) = named("stageVariables.") {
        if !is_stage_variable_name(n) {
            return Err(format!(
                "`{n}` is not a valid stage variable name (letters, digits, `_`)"
            ));
        }
        return Ok(ParamValue::StageVariable(n.into()));
    }
    if let Some(n) = named("context.") {
        if !is_known_variable(n) {
            return Err(format!("unknown variable context.{n}"));
        }
        return Ok(ParamValue::Context(n.into()));
    }
    Err(format!(
        "`{v}` is not a response parameter value: a quoted static value ('text'), \
         method.request.header.NAME, method.request.querystring.NAME, \
         method.request.path.NAME, stageVariables.NAME or context.NAME"
    ))
}

fn is_stage_variable_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A template's key: `type/subtype` (lowercase).
fn parse_content_type(key: &str) -> Result<Box<str>, String> {
    let ok = key.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty()
            && !s.is_empty()
            && t.bytes().all(is_token_byte)
            && s.bytes().all(is_token_byte)
    });
    if !ok {
        return Err(format!(
            "`{key}` is not a content type (`type/subtype`, e.g. application/json)"
        ));
    }
    Ok(key.to_ascii_lowercase().into())
}

const CONTEXT_PREFIX: &str = "$context.";
const STAGE_PREFIX: &str = "$stageVariables.";

/// Compile a body template: literal text with `$context.NAME` and `$stageVariables.NAME`.
/// A name runs over letters, digits, `.` and `_`; a trailing `.` ends the sentence, not
/// the name. `$` followed by anything else is literal text.
pub fn compile_template(text: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        let here = &rest[at..];
        let (prefix, is_context) = if here.starts_with(CONTEXT_PREFIX) {
            (CONTEXT_PREFIX, true)
        } else if here.starts_with(STAGE_PREFIX) {
            (STAGE_PREFIX, false)
        } else {
            literal.push('$');
            rest = &here[1..];
            continue;
        };
        let after = &here[prefix.len()..];
        let len = after
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_'))
            .unwrap_or(after.len());
        let name = after[..len].trim_end_matches('.');
        if name.is_empty() {
            literal.push_str(prefix);
            rest = after;
            continue;
        }
        let part = if is_context {
            if !is_known_variable(name) {
                return Err(format!("unknown variable $context.{name}"));
            }
            TemplatePart::Context(name.into())
        } else {
            if !is_stage_variable_name(name) {
                return Err(format!(
                    "`$stageVariables.{name}`: a stage variable name is letters, digits and `_`"
                ));
            }
            TemplatePart::StageVariable(name.into())
        };
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(std::mem::take(&mut literal).into()));
        }
        parts.push(part);
        rest = &after[name.len()..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal.into()));
    }
    Ok(Template { parts })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::snapshot::Snapshot;
    use crate::config::validate::tests::{assert_error, check, errors};

    /// A REST API `a` with `gateway_responses` set to `block` (YAML, indented under it).
    fn api(block: &str) -> String {
        format!(
            "listeners: [{{name: p, bind: '127.0.0.1:0', default_api: a}}]
apis:
  - id: a
    routes:
      - route: GET /r
        integration: {{type: MOCK}}
    stages: [{{name: prod}}]
    gateway_responses:
{block}
"
        )
    }

    fn responses(s: &Snapshot) -> &GatewayResponses {
        &s.apis[0].gateway_responses
    }

    const P: &str = "apis[0].gateway_responses";

    #[test]
    fn no_gateway_responses_is_empty() {
        let s = check(&api("      {}")).unwrap();
        assert!(responses(&s).is_empty());
        assert!(responses(&s).resolve(ErrorKind::Throttled).is_none());
        assert!(responses(&s).request_values().is_empty());
        let s = check(&api("")).unwrap();
        assert!(responses(&s).is_empty());
    }

    #[test]
    fn a_full_customisation_compiles() {
        let s = check(&api(r#"      THROTTLED:
        status_code: 503
        response_parameters:
          gatewayresponse.header.X-Static: "'fixed value'"
          gatewayresponse.header.X-From-Header: method.request.header.X-Client
          gatewayresponse.header.x-from-query: method.request.querystring.q
          gatewayresponse.header.x-from-path: method.request.path.id
          gatewayresponse.header.x-stage: stageVariables.name_1
          gatewayresponse.header.x-ctx: context.requestId
        response_templates:
          application/json: '{"m": $context.error.messageString, "id": "$context.requestId"}'
          Text/Plain: 'stage $stageVariables.who: $context.error.message. $5 $ctx'"#))
        .unwrap();
        let r = responses(&s).get(ResponseType::Throttled).unwrap();
        assert_eq!(r.status, Some(503));
        let names: Vec<&str> = r.headers.iter().map(|h| &*h.name).collect();
        assert_eq!(
            names,
            [
                "x-static",
                "x-from-header",
                "x-from-query",
                "x-from-path",
                "x-stage",
                "x-ctx"
            ]
        );
        let values: Vec<&ParamValue> = r.headers.iter().map(|h| &h.value).collect();
        assert_eq!(
            values,
            [
                &ParamValue::Static("fixed value".into()),
                &ParamValue::Header("x-client".into()),
                &ParamValue::Query("q".into()),
                &ParamValue::Path("id".into()),
                &ParamValue::StageVariable("name_1".into()),
                &ParamValue::Context("requestId".into()),
            ]
        );
        assert_eq!(r.templates.len(), 2);
        assert_eq!(&*r.templates[0].0, "application/json");
        assert_eq!(
            r.templates[0].1.parts,
            [
                TemplatePart::Literal("{\"m\": ".into()),
                TemplatePart::Context("error.messageString".into()),
                TemplatePart::Literal(", \"id\": \"".into()),
                TemplatePart::Context("requestId".into()),
                TemplatePart::Literal("\"}".into()),
            ]
        );
        assert_eq!(&*r.templates[1].0, "text/plain");
        assert_eq!(
            r.templates[1].1.parts,
            [
                TemplatePart::Literal("stage ".into()),
                TemplatePart::StageVariable("who".into()),
                TemplatePart::Literal(": ".into()),
                TemplatePart::Context("error.message".into()),
                TemplatePart::Literal(". $5 $ctx".into()),
            ]
        );
        // The request values to capture: each once; Accept because two templates.
        assert_eq!(
            responses(&s).request_values(),
            [
                RequestValue::Header("x-client".into()),
                RequestValue::Query("q".into()),
                RequestValue::Header("accept".into()),
            ]
        );
    }

    #[test]
    fn aws_camel_case_keys_and_text_status_are_accepted() {
        let s = check(&api(r#"      INVALID_API_KEY:
        statusCode: "456"
        responseParameters:
          gatewayresponse.header.api-key: method.request.header.api-key
        responseTemplates:
          application/json: '{"message": "Bad api-key" }'"#))
        .unwrap();
        let r = responses(&s).get(ResponseType::InvalidApiKey).unwrap();
        assert_eq!(r.status, Some(456));
        assert_eq!(r.headers[0].value, ParamValue::Header("api-key".into()));
        assert_eq!(
            r.templates[0].1.parts,
            [TemplatePart::Literal(
                "{\"message\": \"Bad api-key\" }".into()
            )]
        );
    }

    #[test]
    fn unknown_types_and_duplicates_are_refused() {
        let list = errors(&api(
            "      THROTTLE: {status_code: 429}\n      default_4xx: {}\n      BAD_REQUEST: {}",
        ));
        assert_error(
            &list,
            &format!("{P}.THROTTLE"),
            "not a gateway response type",
        );
        assert_error(&list, &format!("{P}.THROTTLE"), "WAF_FILTERED");
        assert_error(
            &list,
            &format!("{P}.default_4xx"),
            "not a gateway response type",
        );
        assert_error(
            &list,
            &format!("{P}.BAD_REQUEST"),
            "not a gateway response type",
        );
        let list = errors(&api("      THROTTLED: {}\n      THROTTLED: {}"));
        assert_error(&list, &format!("{P}.THROTTLED"), "customised twice");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let list = errors(&api("      THROTTLED: {status: 429}"));
        assert!(
            list.iter().any(|e| e.reason.contains("unknown field")),
            "{list:?}"
        );
    }

    #[test]
    fn status_codes_are_checked() {
        for (status, fragment) in [
            ("99", "200 to 599"),
            ("600", "200 to 599"),
            ("'4x4'", "not a status code"),
            ("'4040'", "not a status code"),
            ("204", "carries no body"),
            ("'304'", "carries no body"),
            ("101", "200 to 599"),
        ] {
            let list = errors(&api(&format!(
                "      DEFAULT_4XX: {{status_code: {status}}}"
            )));
            assert_error(&list, &format!("{P}.DEFAULT_4XX.status_code"), fragment);
        }
        for (status, want) in [("200", 200), ("'599'", 599), ("418", 418)] {
            let s = check(&api(&format!(
                "      DEFAULT_5XX: {{status_code: {status}}}"
            )))
            .unwrap();
            assert_eq!(
                responses(&s).get(ResponseType::Default5xx).unwrap().status,
                Some(want)
            );
        }
    }

    #[test]
    fn response_parameter_keys_are_checked() {
        let list = errors(&api(r#"      DEFAULT_4XX:
        response_parameters:
          gatewayresponse.querystring.x: "'a'"
          method.response.header.x: "'a'"
          gatewayresponse.header.: "'a'"
          gatewayresponse.header.bad name: "'a'"
          gatewayresponse.header.Content-Length: "'1'"
          gatewayresponse.header.Transfer-Encoding: "'chunked'"
          gatewayresponse.header.x-amzn-RequestId: "'x'"
          gatewayresponse.header.X-Twice: "'1'"
          gatewayresponse.header.x-twice: "'2'""#));
        let k = |key: &str| format!("{P}.DEFAULT_4XX.response_parameters.{key}");
        assert_error(
            &list,
            &k("gatewayresponse.querystring.x"),
            "gatewayresponse.header.NAME",
        );
        assert_error(
            &list,
            &k("method.response.header.x"),
            "not a gateway response parameter",
        );
        assert_error(
            &list,
            &k("gatewayresponse.header."),
            "not a valid header name",
        );
        assert_error(
            &list,
            &k("gatewayresponse.header.bad name"),
            "not a valid header name",
        );
        for reserved in ["Content-Length", "Transfer-Encoding", "x-amzn-RequestId"] {
            assert_error(
                &list,
                &k(&format!("gatewayresponse.header.{reserved}")),
                "cannot be set",
            );
        }
        assert_error(&list, &k("gatewayresponse.header.x-twice"), "set twice");
    }

    #[test]
    fn response_parameter_values_are_checked() {
        let list = errors(&api(r#"      DEFAULT_5XX:
        response_parameters:
          gatewayresponse.header.a: "'unterminated"
          gatewayresponse.header.b: "'bad\u0001value'"
          gatewayresponse.header.c: method.request.header.bad name
          gatewayresponse.header.d: method.request.header.
          gatewayresponse.header.e: method.request.querystring.a&b
          gatewayresponse.header.f: method.request.path.a/b
          gatewayresponse.header.g: stageVariables.not-a-name
          gatewayresponse.header.h: context.noSuchThing
          gatewayresponse.header.i: integration.response.header.x
          gatewayresponse.header.j: unquoted text
          gatewayresponse.header.k: "'line\nbreak'""#));
        let k = |h: &str| format!("{P}.DEFAULT_5XX.response_parameters.gatewayresponse.header.{h}");
        assert_error(&list, &k("a"), "quoted at both ends");
        assert_error(&list, &k("b"), "control characters");
        assert_error(&list, &k("c"), "not a valid header name");
        assert_error(&list, &k("d"), "not a response parameter value");
        assert_error(&list, &k("e"), "not a valid query string parameter name");
        assert_error(&list, &k("f"), "not a valid path parameter name");
        assert_error(&list, &k("g"), "not a valid stage variable name");
        assert_error(&list, &k("h"), "unknown variable context.noSuchThing");
        assert_error(&list, &k("i"), "not a response parameter value");
        assert_error(&list, &k("j"), "not a response parameter value");
        assert_error(&list, &k("k"), "control characters");
        // An empty static value is a value.
        let s = check(&api(
            "      DEFAULT_5XX:\n        response_parameters:\n          gatewayresponse.header.x-empty: \"''\"\n          gatewayresponse.header.x-auth: context.authorizer.claims.sub\n          gatewayresponse.header.x-msg: context.error.messageString",
        ))
        .unwrap();
        let r = responses(&s).get(ResponseType::Default5xx).unwrap();
        assert_eq!(r.headers[0].value, ParamValue::Static("".into()));
        assert_eq!(
            r.headers[1].value,
            ParamValue::Context("authorizer.claims.sub".into())
        );
    }

    #[test]
    fn templates_are_checked() {
        let list = errors(&api(r#"      ACCESS_DENIED:
        response_templates:
          json: '{}'
          application/json: '{"m": "$context.error.mesage"}'
          text/plain: 'ok'
          TEXT/PLAIN: 'again'
          text/html: '$stageVariables.a-b'
          "application/ json": 'x'"#));
        let k = |c: &str| format!("{P}.ACCESS_DENIED.response_templates.{c}");
        assert_error(&list, &k("json"), "not a content type");
        assert_error(
            &list,
            &k("application/json"),
            "unknown variable $context.error.mesage",
        );
        assert_error(&list, &k("TEXT/PLAIN"), "given twice");
        // `$stageVariables.a-b` is the variable `a` then the text `-b`.
        assert!(!list.iter().any(|e| e.path == k("text/html")), "{list:?}");
        assert_error(&list, &k("application/ json"), "not a content type");
    }

    #[test]
    fn template_compilation() {
        let t = compile_template("").unwrap();
        assert!(t.parts.is_empty());
        let t = compile_template("plain $ text $context. $stageVariables.").unwrap();
        assert_eq!(
            t.parts,
            [TemplatePart::Literal(
                "plain $ text $context. $stageVariables.".into()
            )]
        );
        let t = compile_template("$context.requestId.").unwrap();
        assert_eq!(
            t.parts,
            [
                TemplatePart::Context("requestId".into()),
                TemplatePart::Literal(".".into())
            ]
        );
        let t = compile_template("$context.authorizer.claims.email!").unwrap();
        assert_eq!(
            t.parts,
            [
                TemplatePart::Context("authorizer.claims.email".into()),
                TemplatePart::Literal("!".into())
            ]
        );
        // Every access-log variable and messageString compile.
        for name in crate::config::access_log::CONTEXT_VARIABLES
            .iter()
            .chain(EXTRA_CONTEXT_VARIABLES)
        {
            let t = compile_template(&format!("[$context.{name}]")).unwrap();
            assert_eq!(t.parts[1], TemplatePart::Context((*name).into()), "{name}");
        }
        assert!(compile_template("$context.nope").is_err());
        assert!(compile_template("$context.error").is_err());
    }

    fn custom(t: ResponseType, status: Option<u16>) -> Option<Box<CustomResponse>> {
        Some(Box::new(CustomResponse {
            response_type: t,
            status,
            headers: Vec::new(),
            templates: Vec::new(),
        }))
    }

    #[test]
    fn inheritance_from_default_4xx_and_5xx() {
        use ResponseType as T;
        let mut g = GatewayResponses {
            any: true,
            ..Default::default()
        };
        // Only DEFAULT_4XX, without a status: 4XX errors take it with their own status.
        g.by_type[T::Default4xx.index()] = custom(T::Default4xx, None);
        let r = g.resolve(ErrorKind::Throttled).unwrap();
        assert_eq!((r.response.response_type, r.status), (T::Default4xx, 429));
        let r = g.resolve(ErrorKind::InvalidApiKey).unwrap();
        assert_eq!((r.response.response_type, r.status), (T::Default4xx, 403));
        // Kinds without a type of their own (400 framing, 421) are DEFAULT_4XX's.
        assert_eq!(g.resolve(ErrorKind::BadRequest).unwrap().status, 400);
        assert_eq!(
            g.resolve(ErrorKind::MisdirectedRequest).unwrap().status,
            421
        );
        // 5XX errors are not 4XX's.
        assert!(g.resolve(ErrorKind::IntegrationFailure).is_none());
        assert!(g.resolve(ErrorKind::Internal).is_none());

        // DEFAULT_4XX with a status: every 4XX without a status of its own takes it.
        g.by_type[T::Default4xx.index()] = custom(T::Default4xx, Some(400));
        assert_eq!(g.resolve(ErrorKind::Throttled).unwrap().status, 400);
        assert_eq!(
            g.resolve(ErrorKind::MissingAuthenticationToken)
                .unwrap()
                .status,
            400
        );
        // A type customised itself: its own customisation, its own status if set ...
        g.by_type[T::Throttled.index()] = custom(T::Throttled, Some(503));
        let r = g.resolve(ErrorKind::Throttled).unwrap();
        assert_eq!((r.response.response_type, r.status), (T::Throttled, 503));
        // ... else the default's status ...
        g.by_type[T::QuotaExceeded.index()] = custom(T::QuotaExceeded, None);
        let r = g.resolve(ErrorKind::QuotaExceeded).unwrap();
        assert_eq!(
            (r.response.response_type, r.status),
            (T::QuotaExceeded, 400)
        );
        // ... else its own.
        g.by_type[T::Default4xx.index()] = custom(T::Default4xx, None);
        assert_eq!(g.resolve(ErrorKind::QuotaExceeded).unwrap().status, 429);

        // DEFAULT_5XX: 502, 503, 504 and 500 errors.
        g.by_type[T::Default5xx.index()] = custom(T::Default5xx, None);
        for (kind, status) in [
            (ErrorKind::IntegrationFailure, 502),
            (ErrorKind::IntegrationTimeout, 504),
            (ErrorKind::ServiceUnavailable, 503),
            (ErrorKind::Internal, 500),
            (ErrorKind::AuthorizerFailure, 500),
        ] {
            let r = g.resolve(kind).unwrap();
            assert_eq!(
                (r.response.response_type, r.status),
                (T::Default5xx, status)
            );
        }
        g.by_type[T::Default5xx.index()] = custom(T::Default5xx, Some(599));
        assert_eq!(
            g.resolve(ErrorKind::IntegrationTimeout).unwrap().status,
            599
        );
        // A 5XX type of its own without a default.
        let mut g = GatewayResponses {
            any: true,
            ..Default::default()
        };
        g.by_type[T::IntegrationTimeout.index()] = custom(T::IntegrationTimeout, None);
        assert_eq!(
            g.resolve(ErrorKind::IntegrationTimeout).unwrap().status,
            504
        );
        assert!(g.resolve(ErrorKind::IntegrationFailure).is_none());
        assert!(g.resolve(ErrorKind::Throttled).is_none());
    }

    #[test]
    fn a_customised_type_does_not_merge_the_defaults_headers() {
        let s = check(&api(r#"      DEFAULT_4XX:
        response_parameters:
          gatewayresponse.header.x-all: "'4xx'"
      UNAUTHORIZED:
        response_templates:
          application/json: '{"u": 1}'"#))
        .unwrap();
        let g = responses(&s);
        let r = g.resolve(ErrorKind::Unauthorized).unwrap();
        assert_eq!(r.response.response_type, ResponseType::Unauthorized);
        assert!(r.response.headers.is_empty());
        let r = g.resolve(ErrorKind::AccessDenied).unwrap();
        assert_eq!(r.response.headers[0].name.as_ref(), "x-all");
    }
}
