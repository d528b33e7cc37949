//! `type: AWS` with an `arn:aws:apigateway:{region}:{service}:path/...` or `:action/...`
//! URI naming a service other than Lambda (API Gateway's "AWS service" integrations): what
//! the signed call to that service is made of, validated at load.
//!
//! ```yaml
//! integration:
//!   type: AWS
//!   uri: arn:aws:apigateway:us-east-1:dynamodb:action/PutItem
//!   method: POST                     # integrationHttpMethod: required
//!   timeout: 29s                     # 50ms .. 29s
//!   endpoint: http://127.0.0.1:5000  # default: aws.endpoints.{service}, else AWS's own
//!   credentials: {from: none}        # default: aws.credentials
//!   content_handling: CONVERT_TO_TEXT
//!   request_parameters:
//!     integration.request.header.x-amz-meta-user: method.request.header.x-user
//!     integration.request.querystring.QueueUrl: "'http://127.0.0.1:5000/123456789012/q'"
//!     integration.request.path.key: method.request.path.name
//! ```
//!
//! - `path/{path}`: the request goes to that path on the service's endpoint; `{name}`
//!   placeholders are filled from `integration.request.path.name`, else from the route's
//!   path parameter `name`.
//! - `action/{Action}`: the service's protocol decides (`service_protocol`): query-protocol
//!   services (SQS, SNS, STS, ...) get `Action=...&Version=...` in the query string,
//!   JSON-protocol services (DynamoDB, Kinesis, ...) `POST /` with `X-Amz-Target` and their
//!   `Content-Type`. Services whose protocol is not in the table have no `action/` form.
//!
//! `request_parameters` is a subset of API Gateway's integration request parameter mapping
//! (the mapping-template issue extends it): targets `integration.request.header.NAME`,
//! `integration.request.querystring.NAME` and `integration.request.path.NAME`; sources
//! `method.request.header.X`, `method.request.querystring.X`, `method.request.path.X`,
//! `stageVariables.X`, `context.X` (also written `$stageVariables.X`, `$context.X`) and
//! `'static'` values.

use std::time::Duration;

use super::aws::{ApigatewayArn, ArnAction, AwsCredentials, ServiceEndpoint};
use super::file::{IntegrationFile, DEFAULT_INTEGRATION_TIMEOUT, MIN_INTEGRATION_TIMEOUT};
use super::validate::{is_tchar, parse_method, Errors};
use crate::http::head::Method;

/// An AWS service integration, validated.
#[derive(Debug)]
pub struct AwsServiceIntegration {
    pub arn: ApigatewayArn,
    /// The SigV4 signing name (`sqs`, `s3`, `dynamodb`, `ses` for `email`, ...).
    pub signing_name: String,
    /// The HTTP method of the service call (API Gateway's `integrationHttpMethod`).
    pub method: Method,
    pub timeout: Duration,
    /// This integration's own endpoint (else `aws.endpoints`, else AWS's).
    pub endpoint: Option<ServiceEndpoint>,
    /// This integration's own credentials (else `aws.credentials`).
    pub credentials: Option<AwsCredentials>,
    pub content_handling: Option<ContentHandling>,
    /// What request the call is.
    pub call: ServiceCall,
    pub parameters: Vec<RequestParameter>,
}

impl AwsServiceIntegration {
    /// S3 signs the path as sent and wants `x-amz-content-sha256` (`UriMode::S3`).
    pub fn is_s3(&self) -> bool {
        self.arn.service == "s3"
    }
}

/// API Gateway's `contentHandling` for the integration request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHandling {
    /// A binary payload (its Content-Type in the API's binary media types) is sent base64
    /// encoded; text is sent as it is.
    ConvertToText,
    /// A text payload is base64-decoded; binary is sent as it is.
    ConvertToBinary,
}

/// The request an integration sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCall {
    /// `path/...`: the path (from `/`), and the query the ARN carries (without `?`).
    Path { path: Vec<PathPiece>, query: String },
    /// A query-protocol action: the start of the query string, `Action=X&Version=V` (and
    /// the ARN's own `?...`).
    QueryAction { query: String },
    /// A JSON-protocol action: `POST /` with `X-Amz-Target: target` and `content_type`;
    /// `query` is the ARN's own (usually empty).
    JsonAction {
        target: String,
        content_type: &'static str,
        query: String,
    },
}

/// A piece of a `path/` ARN's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    /// Text sent as written.
    Literal(String),
    /// `{name}`.
    Param(String),
}

/// One `request_parameters` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParameter {
    pub target: ParamTarget,
    pub source: ParamSource,
}

/// Where a mapped value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamTarget {
    /// A request header (the name as written).
    Header(String),
    /// A query parameter: its name percent-encoded as it goes on the wire.
    QueryString(String),
    /// A `{name}` of the ARN's path.
    Path(String),
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    /// `method.request.header.X` (the last value when repeated).
    Header(String),
    /// `method.request.querystring.X` (decoded; the last value when repeated).
    QueryString(String),
    /// `method.request.path.X` (as sent in the request path).
    Path(String),
    /// `stageVariables.X`.
    StageVariable(String),
    /// `context.X` (`$context.X`).
    Context(String),
    /// `'value'`.
    Static(String),
}

/// How a service's actions are called (`action/` ARNs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS query protocol, with the API version every call names.
    Query { version: &'static str },
    /// AWS JSON protocol: `application/x-amz-json-{json_version}`, `X-Amz-Target:
    /// {target_prefix}.{Action}`.
    Json {
        json_version: &'static str,
        target_prefix: &'static str,
    },
}

/// The protocol of `service`'s actions (the ARN's service; `subdomain` for the services
/// that have one), from the services' API models (botocore's `metadata`). SQS is called
/// with the query protocol, as API Gateway does (it also speaks JSON: use `path/` with the
/// headers mapped for that).
pub fn service_protocol(service: &str, subdomain: Option<&str>) -> Option<Protocol> {
    use Protocol::{Json, Query};
    let json = |json_version, target_prefix| {
        Some(Json {
            json_version,
            target_prefix,
        })
    };
    let query = |version| Some(Query { version });
    match (service, subdomain) {
        ("dynamodb", Some("streams")) => json("1.0", "DynamoDBStreams_20120810"),
        ("dynamodb", _) => json("1.0", "DynamoDB_20120810"),
        ("kinesis", _) => json("1.1", "Kinesis_20131202"),
        ("firehose", _) => json("1.1", "Firehose_20150804"),
        ("logs", _) => json("1.1", "Logs_20140328"),
        ("events", _) => json("1.1", "AWSEvents"),
        ("states", _) => json("1.0", "AWSStepFunctions"),
        ("ssm", _) => json("1.1", "AmazonSSM"),
        ("secretsmanager", _) => json("1.1", "secretsmanager"),
        ("kms", _) => json("1.1", "TrentService"),
        ("athena", _) => json("1.1", "AmazonAthena"),
        ("glue", _) => json("1.1", "AWSGlue"),
        ("ecs", _) => json("1.1", "AmazonEC2ContainerServiceV20141113"),
        ("ecr", _) => json("1.1", "AmazonEC2ContainerRegistry_V20150921"),
        ("cloudtrail", _) => json(
            "1.1",
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
        ),
        ("cognito-idp", _) => json("1.1", "AWSCognitoIdentityProviderService"),
        ("cognito-identity", _) => json("1.1", "AWSCognitoIdentityService"),
        ("config", _) => json("1.1", "StarlingDoveService"),
        ("elasticmapreduce", _) => json("1.1", "ElasticMapReduce"),
        ("swf", _) => json("1.0", "SimpleWorkflowService"),
        ("codebuild", _) => json("1.1", "CodeBuild_20161006"),
        ("codepipeline", _) => json("1.1", "CodePipeline_20150709"),
        ("datapipeline", _) => json("1.1", "DataPipeline"),
        ("sqs", _) => query("2012-11-05"),
        ("sns", _) => query("2010-03-31"),
        ("sts", _) => query("2011-06-15"),
        ("iam", _) => query("2010-05-08"),
        ("ec2", _) => query("2016-11-15"),
        ("cloudformation", _) => query("2010-05-15"),
        ("elasticloadbalancing", _) => query("2015-12-01"),
        ("autoscaling", _) => query("2011-01-01"),
        ("rds", _) => query("2014-10-31"),
        ("elasticache", _) => query("2015-02-02"),
        ("redshift", _) => query("2012-12-01"),
        ("sdb", _) => query("2009-04-15"),
        ("email", _) => query("2010-12-01"),
        ("monitoring", _) => query("2010-08-01"),
        _ => None,
    }
}

/// The SigV4 signing name of a service (its endpoint prefix, but for a few).
pub fn signing_name(service: &str) -> &str {
    match service {
        "email" => "ses",
        other => other,
    }
}

/// Header names a mapping may not set: the framing, the host, the signature's own.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn reserved_header(name: &str) -> bool {
    RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
        || crate::http::head::is_hop_by_hop(name.as_bytes())
        || name.eq_ignore_ascii_case("expect")
}

/// A source parameter name (API Gateway: `^[a-zA-Z0-9._$-]+$`).
fn is_param_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._$-".contains(&b))
}

/// Text that may stand in a path or query as written (no spaces, controls, `#`).
fn is_uri_text(s: &str) -> bool {
    s.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'#')
}

/// Percent-encode `s` as a query component (RFC 3986 unreserved characters kept).
pub fn encode_component(out: &mut String, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

pub(super) fn build(
    e: &mut Errors,
    f: &IntegrationFile,
    arn: ApigatewayArn,
    path: &str,
) -> Option<AwsServiceIntegration> {
    let before = e.count();
    let not_for = |e: &mut Errors, key: &str, present: bool| {
        if present {
            e.push(
                format!("{path}.{key}"),
                "not valid for a AWS integration (an AWS service call)",
            );
        }
    };
    not_for(e, "status", f.status.is_some());
    not_for(e, "headers", f.headers.is_some());
    not_for(e, "body", f.body.is_some());
    not_for(e, "connection_type", f.connection_type.is_some());
    not_for(e, "target_group", f.target_group.is_some());
    not_for(
        e,
        "payload_format_version",
        f.payload_format_version.is_some(),
    );

    let method = match f.method.as_deref() {
        None => {
            e.push(
                format!("{path}.method"),
                "required for an AWS service integration: the HTTP method of the service \
                 call (API Gateway's integrationHttpMethod), e.g. POST",
            );
            None
        }
        Some(m) => match parse_method(m) {
            Some(m) => Some(m),
            None => {
                e.push(
                    format!("{path}.method"),
                    format!("unknown method `{m}`: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                );
                None
            }
        },
    };
    let timeout = build_timeout(e, f, path);
    let content_handling = match f.content_handling.as_deref() {
        None => None,
        Some("CONVERT_TO_TEXT") => Some(ContentHandling::ConvertToText),
        Some("CONVERT_TO_BINARY") => Some(ContentHandling::ConvertToBinary),
        Some(other) => {
            e.push(
                format!("{path}.content_handling"),
                format!("unknown `{other}`: expected CONVERT_TO_TEXT or CONVERT_TO_BINARY"),
            );
            None
        }
    };
    let endpoint = f.endpoint.as_deref().and_then(|url| {
        match ServiceEndpoint::parse(url, super::aws::system_tls) {
            Ok(ep) => Some(ep),
            Err(why) => {
                e.push(format!("{path}.endpoint"), why);
                None
            }
        }
    });
    let credentials = f
        .credentials
        .as_ref()
        .map(|c| super::aws::build_credentials(e, c, &format!("{path}.credentials")));

    let call = build_call(e, &arn, method, path);
    let parameters = match (&f.request_parameters, &call) {
        (Some(map), Some(call)) => build_parameters(e, &map.0, call, path),
        _ => Vec::new(),
    };
    if e.count() > before {
        return None;
    }
    Some(AwsServiceIntegration {
        signing_name: signing_name(&arn.service).to_string(),
        arn,
        method: method?,
        timeout,
        endpoint,
        credentials,
        content_handling,
        call: call?,
        parameters,
    })
}

fn build_timeout(e: &mut Errors, f: &IntegrationFile, path: &str) -> Duration {
    let tpath = format!("{path}.timeout");
    let Some(t) = &f.timeout else {
        return DEFAULT_INTEGRATION_TIMEOUT;
    };
    match e.duration(&tpath, t) {
        Some(d) if d < MIN_INTEGRATION_TIMEOUT => {
            e.push(tpath, format!("must be at least 50ms, got {}", t.0));
            DEFAULT_INTEGRATION_TIMEOUT
        }
        Some(d) if d > DEFAULT_INTEGRATION_TIMEOUT => {
            e.push(tpath, format!("must be at most 29s, got {}", t.0));
            DEFAULT_INTEGRATION_TIMEOUT
        }
        Some(d) => d,
        None => DEFAULT_INTEGRATION_TIMEOUT,
    }
}

/// The ARN's request: its path with placeholders, or the action's protocol.
fn build_call(
    e: &mut Errors,
    arn: &ApigatewayArn,
    method: Option<Method>,
    path: &str,
) -> Option<ServiceCall> {
    let upath = format!("{path}.uri");
    let (head, query) = match arn.rest.split_once('?') {
        Some((h, q)) => (h, q),
        None => (arn.rest.as_str(), ""),
    };
    if !is_uri_text(query) {
        e.push(
            &upath,
            "the ARN's query must not hold spaces, control characters or `#`",
        );
        return None;
    }
    match arn.kind {
        ArnAction::Path => match parse_path(head) {
            Ok(pieces) => Some(ServiceCall::Path {
                path: pieces,
                query: query.to_string(),
            }),
            Err(why) => {
                e.push(upath, why);
                None
            }
        },
        ArnAction::Action => {
            if head.is_empty() || !head.bytes().all(|b| b.is_ascii_alphanumeric()) {
                e.push(
                    upath,
                    format!("`{head}` is not an action name (letters and digits, e.g. PutItem)"),
                );
                return None;
            }
            match service_protocol(&arn.service, arn.subdomain.as_deref()) {
                Some(Protocol::Query { version }) => {
                    let mut q = format!("Action={head}");
                    if !query.split('&').any(|p| p.starts_with("Version=")) {
                        q.push_str("&Version=");
                        q.push_str(version);
                    }
                    if !query.is_empty() {
                        q.push('&');
                        q.push_str(query);
                    }
                    Some(ServiceCall::QueryAction { query: q })
                }
                Some(Protocol::Json {
                    json_version,
                    target_prefix,
                }) => {
                    if method.is_some_and(|m| m != Method::Post) {
                        e.push(
                            format!("{path}.method"),
                            format!(
                                "`{}` actions use the JSON protocol: the method must be POST",
                                arn.service
                            ),
                        );
                    }
                    Some(ServiceCall::JsonAction {
                        target: format!("{target_prefix}.{head}"),
                        content_type: if json_version == "1.0" {
                            "application/x-amz-json-1.0"
                        } else {
                            "application/x-amz-json-1.1"
                        },
                        query: query.to_string(),
                    })
                }
                None => {
                    let why = if arn.service == "s3" {
                        "S3 is called by path: use arn:aws:apigateway:{region}:s3:path/{bucket}/{key}"
                            .to_string()
                    } else {
                        format!(
                            "the protocol of `{}` actions is not known here (DynamoDB, Kinesis, \
                             SQS, SNS, STS and other query or JSON services are): use a path/ ARN \
                             and map the X-Amz-Target and Content-Type headers in \
                             request_parameters",
                            arn.service
                        )
                    };
                    e.push(upath, why);
                    None
                }
            }
        }
    }
}

/// `bucket/{key}` -> [`/bucket/`, {key}].
fn parse_path(text: &str) -> Result<Vec<PathPiece>, String> {
    if !is_uri_text(text) {
        return Err("the ARN's path must not hold spaces, control characters or `#`".into());
    }
    let mut pieces = Vec::new();
    let mut literal = String::from("/");
    let mut rest = text.strip_prefix('/').unwrap_or(text);
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("`{text}`: `{{` without `}}`"))?;
        let name = &after[..close];
        if !is_param_name(name) {
            return Err(format!(
                "`{{{name}}}` is not a path parameter (letters, digits, `._-`)"
            ));
        }
        if !literal.is_empty() {
            pieces.push(PathPiece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(PathPiece::Param(name.to_string()));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("`{text}`: `}}` without `{{`"));
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(PathPiece::Literal(literal));
    }
    Ok(pieces)
}

fn build_parameters(
    e: &mut Errors,
    map: &[(String, String)],
    call: &ServiceCall,
    path: &str,
) -> Vec<RequestParameter> {
    let mut out: Vec<RequestParameter> = Vec::with_capacity(map.len());
    for (key, value) in map {
        let kpath = format!("{path}.request_parameters.{key}");
        let target = match parse_target(key, call) {
            Ok(t) => t,
            Err(why) => {
                e.push(kpath, why);
                continue;
            }
        };
        let duplicate = out.iter().any(|p| match (&p.target, &target) {
            (ParamTarget::Header(a), ParamTarget::Header(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        });
        if duplicate {
            e.push(kpath, "mapped twice");
            continue;
        }
        match parse_source(value) {
            Ok(source) => out.push(RequestParameter { target, source }),
            Err(why) => e.push(kpath, why),
        }
    }
    out
}

/// `integration.request.{header|querystring|path}.NAME`.
fn parse_target(key: &str, call: &ServiceCall) -> Result<ParamTarget, String> {
    let Some(rest) = key.strip_prefix("integration.request.") else {
        return Err(
            "expected integration.request.header.NAME, integration.request.querystring.NAME \
             or integration.request.path.NAME"
                .into(),
        );
    };
    if let Some(name) = rest.strip_prefix("header.") {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("`{name}` is not a header name"));
        }
        if reserved_header(name) {
            return Err(format!(
                "`{name}` is set by the gateway and cannot be mapped"
            ));
        }
        return Ok(ParamTarget::Header(name.to_string()));
    }
    if let Some(name) = rest.strip_prefix("querystring.") {
        if name.is_empty() || name.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(format!("`{name}` is not a query parameter name"));
        }
        let mut encoded = String::with_capacity(name.len());
        encode_component(&mut encoded, name.as_bytes());
        return Ok(ParamTarget::QueryString(encoded));
    }
    if let Some(name) = rest.strip_prefix("path.") {
        let ServiceCall::Path { path, .. } = call else {
            return Err("an action ARN has no path to map parameters into".into());
        };
        if !path
            .iter()
            .any(|p| matches!(p, PathPiece::Param(n) if n == name))
        {
            return Err(format!("the ARN's path has no `{{{name}}}`"));
        }
        return Ok(ParamTarget::Path(name.to_string()));
    }
    if rest.starts_with("body") {
        return Err(
            "the integration request body is not a parameter: it is the method \
                    request's body (mapping templates shape it)"
                .into(),
        );
    }
    Err(
        "expected integration.request.header.NAME, integration.request.querystring.NAME \
         or integration.request.path.NAME"
            .into(),
    )
}

/// `method.request.{header|querystring|path}.X`, `stageVariables.X`, `context.X`, `'v'`.
fn parse_source(value: &str) -> Result<ParamSource, String> {
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        let text = &value[1..value.len() - 1];
        if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err("a static value must not contain control characters (CR, LF, ...)".into());
        }
        return Ok(ParamSource::Static(text.to_string()));
    }
    let named = |name: &str, make: fn(String) -> ParamSource| {
        if is_param_name(name) {
            Ok(make(name.to_string()))
        } else {
            Err(format!(
                "`{value}`: `{name}` is not a parameter name (letters, digits, `._$-`)"
            ))
        }
    };
    let bare = value.strip_prefix('$').unwrap_or(value);
    if let Some(name) = value.strip_prefix("method.request.header.") {
        return named(name, ParamSource::Header);
    }
    if let Some(name) = value.strip_prefix("method.request.querystring.") {
        return named(name, ParamSource::QueryString);
    }
    if let Some(name) = value.strip_prefix("method.request.path.") {
        return named(name, ParamSource::Path);
    }
    if let Some(name) = bare.strip_prefix("stageVariables.") {
        return named(name, ParamSource::StageVariable);
    }
    if let Some(name) = bare.strip_prefix("context.") {
        if !super::access_log::is_context_variable(name) {
            return Err(format!("`$context.{name}` is not a context variable"));
        }
        return Ok(ParamSource::Context(name.to_string()));
    }
    if value.starts_with("method.request.") {
        return Err(format!(
            "`{value}` is not supported: map method.request.header.X, \
             method.request.querystring.X or method.request.path.X"
        ));
    }
    Err(format!(
        "`{value}`: expected method.request.header.X, method.request.querystring.X, \
         method.request.path.X, stageVariables.X, context.X or a 'static' value in single \
         quotes"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::snapshot::Integration;
    use crate::config::validate::tests::{assert_error, check, errors};

    /// A file with one REST route whose integration is `integration` (YAML flow map body).
    fn file(route: &str, integration: &str) -> String {
        format!(
            "
listeners: [{{name: a, bind: '127.0.0.1:1'}}]
apis:
  - id: demo
    type: REST
    routes:
      - route: '{route}'
        integration:
{integration}
    stages: [{{name: prod, variables: {{q: queue-1}}}}]
"
        )
    }

    const P: &str = "apis[0].routes[0].integration";

    fn built(route: &str, integration: &str) -> AwsServiceIntegration {
        let snap = check(&file(route, integration)).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").unwrap();
        let stage = api.stages.get("prod").unwrap();
        let r = stage.deployment.routes[0].clone();
        let Integration::AwsService(s) = &r.integration else {
            panic!("not an AWS service integration");
        };
        AwsServiceIntegration {
            arn: s.arn.clone(),
            signing_name: s.signing_name.clone(),
            method: s.method,
            timeout: s.timeout,
            endpoint: s.endpoint.clone(),
            credentials: s.credentials.clone(),
            content_handling: s.content_handling,
            call: s.call.clone(),
            parameters: s.parameters.clone(),
        }
    }

    #[test]
    fn a_path_integration_with_its_defaults() {
        let s = built(
            "GET /files/{name}",
            "          type: AWS
          uri: 'arn:aws:apigateway:eu-west-1:s3:path/my-bucket/{name}?versionId=3'
          method: GET",
        );
        assert_eq!(s.arn.region, "eu-west-1");
        assert_eq!(s.signing_name, "s3");
        assert!(s.is_s3());
        assert_eq!(s.method, Method::Get);
        assert_eq!(s.timeout, Duration::from_secs(29));
        assert!(s.endpoint.is_none() && s.credentials.is_none());
        assert_eq!(s.content_handling, None);
        assert_eq!(
            s.call,
            ServiceCall::Path {
                path: vec![
                    PathPiece::Literal("/my-bucket/".into()),
                    PathPiece::Param("name".into())
                ],
                query: "versionId=3".into()
            }
        );
        assert!(s.parameters.is_empty());
    }

    #[test]
    fn paths_and_their_placeholders() {
        assert_eq!(
            parse_path("a/{b}/c{d}").unwrap(),
            vec![
                PathPiece::Literal("/a/".into()),
                PathPiece::Param("b".into()),
                PathPiece::Literal("/c".into()),
                PathPiece::Param("d".into()),
            ]
        );
        assert_eq!(
            parse_path("{bucket}").unwrap(),
            vec![
                PathPiece::Literal("/".into()),
                PathPiece::Param("bucket".into())
            ]
        );
        assert_eq!(
            parse_path("123456789012/q").unwrap(),
            vec![PathPiece::Literal("/123456789012/q".into())]
        );
        for bad in ["a/{b", "a/b}", "a/{}", "a/{b c}", "a b", "a#b", "a/{b/c}"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_and_json_actions() {
        let s = built(
            "POST /send",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:sqs:action/SendMessage'
          method: POST",
        );
        assert_eq!(
            s.call,
            ServiceCall::QueryAction {
                query: "Action=SendMessage&Version=2012-11-05".into()
            }
        );
        // The ARN's own query, and its own Version.
        let s = built(
            "POST /send",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:sns:action/Publish?Version=2009-01-01&TopicArn=t'
          method: GET",
        );
        assert_eq!(
            s.call,
            ServiceCall::QueryAction {
                query: "Action=Publish&Version=2009-01-01&TopicArn=t".into()
            }
        );
        let s = built(
            "POST /items",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:dynamodb:action/PutItem'
          method: POST",
        );
        assert_eq!(
            s.call,
            ServiceCall::JsonAction {
                target: "DynamoDB_20120810.PutItem".into(),
                content_type: "application/x-amz-json-1.0",
                query: String::new(),
            }
        );
        let s = built(
            "POST /records",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:kinesis:action/PutRecord'
          method: POST",
        );
        assert!(matches!(
            s.call,
            ServiceCall::JsonAction { ref target, content_type: "application/x-amz-json-1.1", .. }
                if target == "Kinesis_20131202.PutRecord"
        ));
        let s = built(
            "POST /mail",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:email:action/SendEmail'
          method: POST",
        );
        assert_eq!(s.signing_name, "ses");
    }

    #[test]
    fn action_refusals() {
        let one = |uri: &str, method: &str| {
            errors(&file(
                "POST /x",
                &format!("          type: AWS\n          uri: '{uri}'\n          method: {method}"),
            ))
        };
        let list = one(
            "arn:aws:apigateway:us-east-1:dynamodb:action/GetItem",
            "GET",
        );
        assert_error(&list, &format!("{P}.method"), "must be POST");
        let list = one("arn:aws:apigateway:us-east-1:s3:action/GetObject", "GET");
        assert_error(&list, &format!("{P}.uri"), "S3 is called by path");
        let list = one("arn:aws:apigateway:us-east-1:frobnicator:action/Do", "POST");
        assert_error(&list, &format!("{P}.uri"), "not known here");
        let list = one(
            "arn:aws:apigateway:us-east-1:sqs:action/Send-Message",
            "POST",
        );
        assert_error(&list, &format!("{P}.uri"), "not an action name");
        let list = one("arn:aws:apigateway:us-east-1:sqs:action/Send?a=b c", "POST");
        assert_error(&list, &format!("{P}.uri"), "the ARN's query");
    }

    #[test]
    fn method_is_required_and_checked() {
        let list = errors(&file(
            "POST /x",
            "          type: AWS\n          uri: 'arn:aws:apigateway:us-east-1:sqs:action/SendMessage'",
        ));
        assert_error(&list, &format!("{P}.method"), "required");
        for bad in ["ANY", "FETCH", "post"] {
            let list = errors(&file(
                "POST /x",
                &format!(
                    "          type: AWS\n          uri: 'arn:aws:apigateway:us-east-1:sqs:action/SendMessage'\n          method: {bad}"
                ),
            ));
            assert_error(&list, &format!("{P}.method"), "unknown method");
        }
    }

    fn with(extra: &str) -> String {
        file(
            "PUT /files/{name}",
            &format!(
                "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{{key}}'
          method: PUT
{extra}"
            ),
        )
    }

    #[test]
    fn timeouts() {
        let s = built(
            "PUT /files/{name}",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{key}'
          method: PUT
          timeout: 250ms",
        );
        assert_eq!(s.timeout, Duration::from_millis(250));
        assert_error(
            &errors(&with("          timeout: 10ms")),
            &format!("{P}.timeout"),
            "at least 50ms",
        );
        assert_error(
            &errors(&with("          timeout: 30s")),
            &format!("{P}.timeout"),
            "at most 29s",
        );
        assert!(!errors(&with("          timeout: soon")).is_empty());
    }

    #[test]
    fn content_handling_endpoint_and_credentials() {
        let s = built(
            "PUT /files/{name}",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{key}'
          method: PUT
          content_handling: CONVERT_TO_BINARY
          endpoint: 'http://127.0.0.1:4566'
          credentials: {from: none}",
        );
        assert_eq!(s.content_handling, Some(ContentHandling::ConvertToBinary));
        let ep = s.endpoint.unwrap();
        assert_eq!(ep.host_header, "127.0.0.1:4566");
        assert_eq!(s.credentials, Some(AwsCredentials::None));
        let s = built(
            "PUT /files/{name}",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{key}'
          method: PUT
          content_handling: CONVERT_TO_TEXT",
        );
        assert_eq!(s.content_handling, Some(ContentHandling::ConvertToText));
        assert_error(
            &errors(&with("          content_handling: TEXT")),
            &format!("{P}.content_handling"),
            "expected CONVERT_TO_TEXT or CONVERT_TO_BINARY",
        );
        assert_error(
            &errors(&with("          endpoint: 'ftp://x'")),
            &format!("{P}.endpoint"),
            "http:// or https://",
        );
        assert_error(
            &errors(&with("          credentials: {from: psychic}")),
            &format!("{P}.credentials.from"),
            "unknown source",
        );
    }

    #[test]
    fn keys_of_other_integration_types_are_refused() {
        for (key, value) in [
            ("status", "200"),
            ("headers", "{a: b}"),
            ("body", "x"),
            ("connection_type", "VPC_LINK"),
            ("target_group", "g"),
            ("payload_format_version", "'2.0'"),
        ] {
            let list = errors(&with(&format!("          {key}: {value}")));
            assert_error(
                &list,
                &format!("{P}.{key}"),
                "not valid for a AWS integration",
            );
        }
    }

    fn params(map: &str) -> Vec<RequestParameter> {
        built(
            "PUT /files/{name}",
            &format!(
                "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{{key}}'
          method: PUT
          request_parameters:
{map}"
            ),
        )
        .parameters
    }

    #[test]
    fn request_parameters_of_each_kind() {
        let got = params(
            "            integration.request.path.key: method.request.path.name
            integration.request.header.x-amz-meta-user: method.request.header.X-User
            integration.request.header.Content-Type: \"'image/png'\"
            integration.request.querystring.a b: method.request.querystring.q
            integration.request.querystring.stage: stageVariables.q
            integration.request.querystring.rid: $context.requestId
            integration.request.querystring.ip: context.identity.sourceIp
            integration.request.querystring.sv: $stageVariables.q",
        );
        use ParamSource as S;
        use ParamTarget as T;
        let want = [
            (T::Path("key".into()), S::Path("name".into())),
            (
                T::Header("x-amz-meta-user".into()),
                S::Header("X-User".into()),
            ),
            (
                T::Header("Content-Type".into()),
                S::Static("image/png".into()),
            ),
            (T::QueryString("a%20b".into()), S::QueryString("q".into())),
            (T::QueryString("stage".into()), S::StageVariable("q".into())),
            (T::QueryString("rid".into()), S::Context("requestId".into())),
            (
                T::QueryString("ip".into()),
                S::Context("identity.sourceIp".into()),
            ),
            (T::QueryString("sv".into()), S::StageVariable("q".into())),
        ];
        assert_eq!(got.len(), want.len());
        for (p, (t, s)) in got.iter().zip(want) {
            assert_eq!((&p.target, &p.source), (&t, &s));
        }
    }

    #[test]
    fn request_parameter_refusals() {
        let bad = |key: &str, value: &str, fragment: &str| {
            let list = errors(&with(&format!(
                "          request_parameters:\n            '{key}': \"{value}\""
            )));
            assert_error(&list, &format!("{P}.request_parameters.{key}"), fragment);
        };
        bad(
            "method.request.header.a",
            "'x'",
            "expected integration.request",
        );
        bad(
            "integration.response.header.a",
            "'x'",
            "expected integration.request",
        );
        bad("integration.request.body", "'x'", "not a parameter");
        bad("integration.request.header.a b", "'x'", "not a header name");
        bad(
            "integration.request.header.Host",
            "'x'",
            "set by the gateway",
        );
        bad(
            "integration.request.header.Authorization",
            "'x'",
            "set by the gateway",
        );
        bad(
            "integration.request.header.X-Amz-Date",
            "'x'",
            "set by the gateway",
        );
        bad(
            "integration.request.header.Transfer-Encoding",
            "'x'",
            "set by the gateway",
        );
        bad("integration.request.path.nope", "'x'", "has no `{nope}`");
        bad(
            "integration.request.querystring.",
            "'x'",
            "not a query parameter name",
        );
        bad(
            "integration.request.header.a",
            "method.request.body",
            "not supported",
        );
        bad(
            "integration.request.header.a",
            "method.request.multivalueheader.x",
            "not supported",
        );
        bad(
            "integration.request.header.a",
            "method.request.header.",
            "not a parameter name",
        );
        bad(
            "integration.request.header.a",
            "method.request.path.a/b",
            "not a parameter name",
        );
        bad(
            "integration.request.header.a",
            "context.nope",
            "not a context variable",
        );
        bad(
            "integration.request.header.a",
            "stageVariables.",
            "not a parameter name",
        );
        bad(
            "integration.request.header.a",
            "x",
            "expected method.request",
        );
        bad(
            "integration.request.header.a",
            "'",
            "expected method.request",
        );
        bad(
            "integration.request.header.a",
            "'a\\nb'",
            "control characters",
        );
        // Mapped twice (header names in any case).
        let list = errors(&with(
            "          request_parameters:
            integration.request.header.X-A: \"'1'\"
            integration.request.header.x-a: \"'2'\"",
        ));
        assert_error(
            &list,
            &format!("{P}.request_parameters.integration.request.header.x-a"),
            "mapped twice",
        );
        // No path to map into on an action.
        let list = errors(&file(
            "POST /x",
            "          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:sqs:action/SendMessage'
          method: POST
          request_parameters:
            integration.request.path.a: \"'1'\"",
        ));
        assert_error(
            &list,
            &format!("{P}.request_parameters.integration.request.path.a"),
            "no path",
        );
    }

    #[test]
    fn services_and_their_protocols() {
        assert_eq!(
            service_protocol("dynamodb", Some("streams")),
            Some(Protocol::Json {
                json_version: "1.0",
                target_prefix: "DynamoDBStreams_20120810"
            })
        );
        assert_eq!(
            service_protocol("sqs", None),
            Some(Protocol::Query {
                version: "2012-11-05"
            })
        );
        assert_eq!(service_protocol("s3", None), None);
        assert_eq!(service_protocol("lambda", None), None);
        assert_eq!(signing_name("email"), "ses");
        assert_eq!(signing_name("sqs"), "sqs");
    }

    #[test]
    fn component_encoding() {
        let mut s = String::new();
        encode_component(&mut s, "a b/c?d=é~".as_bytes());
        assert_eq!(s, "a%20b%2Fc%3Fd%3D%C3%A9~");
    }
}
