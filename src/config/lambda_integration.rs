//! `type: AWS_PROXY` (Lambda proxy) and `type: AWS` with a Lambda ARN (Lambda custom
//! integration): the function, its endpoint and credentials, the payload format.
//!
//! ```yaml
//! integration:
//!   type: AWS_PROXY                 # or AWS (custom, REST APIs only)
//!   uri: my-function                # a name, a function ARN or an invocation ARN
//!   payload_format_version: '2.0'   # HTTP APIs: 1.0 or 2.0 (default 2.0); REST: 1.0
//!   timeout: 29s                    # 50ms..29s (REST), ..30s (HTTP APIs); default 29s
//!   endpoint: http://127.0.0.1:3001 # default: aws.endpoints.lambda, else AWS's own
//!   credentials: {from: none}       # default: aws.credentials
//!   content_handling: CONVERT_TO_TEXT   # AWS (custom) only
//! ```
//!
//! `uri` names the function as API Gateway accepts it:
//! - a function name, optionally qualified: `my-function`, `my-function:live`;
//! - a function ARN: `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`;
//! - API Gateway's invocation ARN:
//!   `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations`
//!   (the only form of a custom integration, as in AWS).
//!
//! The name and the qualifier may hold stage variables (`${stageVariables.alias}`), filled
//! in per request; the ARN's region (else `aws.region`) picks the endpoint and signs the
//! call. The Invoke API path is made here once (`/2015-03-31/functions/{name}/invocations`,
//! the ARN percent-encoded as AWS's SDKs send it) unless a stage variable is in it.

use std::time::Duration;

use super::aws::{AwsCredentials, ServiceEndpoint};
use super::file::{IntegrationFile, IntegrationType, DEFAULT_INTEGRATION_TIMEOUT};
use super::snapshot::ApiType;
use super::validate::Errors;

/// The shortest integration timeout API Gateway accepts.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(50);
/// The longest integration timeout of REST APIs.
pub const MAX_REST_TIMEOUT: Duration = Duration::from_secs(29);
/// The longest integration timeout of HTTP APIs.
pub const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The event format of a proxy integration (`payloadFormatVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `1.0`: REST APIs' event (HTTP APIs add `version`).
    V1,
    /// `2.0`: HTTP APIs' event and the inferred response.
    V2,
}

impl PayloadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::V1 => "1.0",
            PayloadFormat::V2 => "2.0",
        }
    }
}

/// `contentHandling` of a custom integration's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHandling {
    /// A text payload is base64-decoded to binary.
    ConvertToBinary,
    /// A binary payload is base64-encoded to text.
    ConvertToText,
}

/// Text with `${stageVariables.NAME}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    StageVariable(String),
}

/// The function an integration invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function (name or unqualified ARN) as the Invoke API path names it, before
    /// percent-encoding.
    pub name: Vec<Part>,
    /// The version or alias (`?Qualifier=`).
    pub qualifier: Option<Vec<Part>>,
    /// The region the function ARN names (`None`: a bare name, `aws.region` applies).
    pub region: Option<String>,
    /// With no stage variable: the Invoke API path and query, made once.
    pub fixed: Option<(String, String)>,
}

impl FunctionRef {
    /// Render the name and qualifier with `variables` (a stage's); `Err` names a variable
    /// with no value or a rendered name that is not one.
    pub fn render(
        &self,
        variables: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, String), String> {
        if let Some((p, q)) = &self.fixed {
            return Ok((p.clone(), q.clone()));
        }
        let name = render(&self.name, variables)?;
        let qualifier = match &self.qualifier {
            Some(q) => Some(render(q, variables)?),
            None => None,
        };
        check_rendered(&name, qualifier.as_deref())?;
        Ok(invoke_target(&name, qualifier.as_deref()))
    }
}

fn render(parts: &[Part], variables: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::StageVariable(v) => match variables(v) {
                Some(value) => out.push_str(&value),
                None => return Err(format!("stage variable `{v}` has no value")),
            },
        }
    }
    Ok(out)
}

/// A rendered name (bare or ARN) and qualifier, checked as at load.
fn check_rendered(name: &str, qualifier: Option<&str>) -> Result<(), String> {
    let bare = match name.strip_prefix("arn:") {
        Some(_) => match parse_function_arn(name) {
            Ok((_, n, None)) => n,
            Ok((_, _, Some(_))) => return Err(format!("`{name}` holds a qualifier already")),
            Err(why) => return Err(why),
        },
        None => name,
    };
    if !is_function_name(bare) {
        return Err(format!("`{name}` is not a Lambda function name"));
    }
    if let Some(q) = qualifier {
        if !is_qualifier(q) {
            return Err(format!("`{q}` is not a Lambda version or alias"));
        }
    }
    Ok(())
}

/// The Invoke API path and query for a function (name or ARN, checked) and qualifier.
pub fn invoke_target(name: &str, qualifier: Option<&str>) -> (String, String) {
    let mut path = String::with_capacity(40 + name.len() * 3);
    path.push_str("/2015-03-31/functions/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$".contains(&b) {
            path.push(b as char);
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path.push_str("/invocations");
    let query = match qualifier {
        Some(q) => {
            let mut s = String::from("Qualifier=");
            for b in q.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    s.push(b as char);
                } else {
                    s.push_str(&format!("%{b:02X}"));
                }
            }
            s
        }
        None => String::new(),
    };
    (path, query)
}

/// A Lambda integration, validated.
#[derive(Debug)]
pub struct LambdaIntegration {
    /// Proxy (`AWS_PROXY`) or custom (`AWS`).
    pub proxy: bool,
    /// The `uri` as configured.
    pub uri: String,
    pub function: FunctionRef,
    /// The event format (proxy integrations).
    pub payload: PayloadFormat,
    pub timeout: Duration,
    /// This integration's Lambda endpoint (else `aws.endpoints.lambda`, else AWS's).
    pub endpoint: Option<ServiceEndpoint>,
    /// This integration's credentials (else `aws.credentials`).
    pub credentials: Option<AwsCredentials>,
    /// Custom integrations: the request payload's conversion.
    pub content_handling: Option<ContentHandling>,
}

/// Build an `AWS_PROXY` integration, or an `AWS` one whose ARN names the Lambda service.
pub(super) fn build(
    e: &mut Errors,
    api_type: ApiType,
    f: &IntegrationFile,
    path: &str,
) -> Option<LambdaIntegration> {
    let before = e.count();
    let proxy = f.kind == IntegrationType::AwsProxy;
    let kind = f.kind.as_str();
    let not_for = |e: &mut Errors, key: &str, present: bool| {
        if present {
            e.push(
                format!("{path}.{key}"),
                format!("not valid for a {kind} integration"),
            );
        }
    };
    not_for(e, "status", f.status.is_some());
    not_for(e, "headers", f.headers.is_some());
    not_for(e, "body", f.body.is_some());
    not_for(e, "connection_type", f.connection_type.is_some());
    not_for(e, "target_group", f.target_group.is_some());
    if f.request_parameters.is_some() {
        e.push(
            format!("{path}.request_parameters"),
            "not supported for Lambda integrations (parameter mapping comes with mapping templates)",
        );
    }
    if let Some(m) = &f.method {
        if m != "POST" {
            e.push(
                format!("{path}.method"),
                format!("Lambda functions are invoked with POST, got `{m}`"),
            );
        }
    }
    if !proxy && api_type == ApiType::Http {
        e.push(
            format!("{path}.type"),
            "HTTP APIs integrate Lambda functions with AWS_PROXY only (AWS custom integrations are for REST APIs)",
        );
    }

    // The function.
    let function = match f.uri.as_deref() {
        None => {
            e.push(
                format!("{path}.uri"),
                format!("required for a {kind} integration: a Lambda function name or ARN"),
            );
            None
        }
        Some(uri) => match parse_uri(uri, proxy) {
            Ok(func) => Some(func),
            Err(why) => {
                e.push(format!("{path}.uri"), why);
                None
            }
        },
    };

    // The payload format.
    let payload = if proxy {
        payload_format(e, api_type, f.payload_format_version.as_deref(), path)
    } else {
        not_for(
            e,
            "payload_format_version",
            f.payload_format_version.is_some(),
        );
        PayloadFormat::V1
    };

    // Content handling.
    let content_handling = match (&f.content_handling, proxy) {
        (None, _) => None,
        (Some(_), true) => {
            not_for(e, "content_handling", true);
            None
        }
        (Some(c), false) => match parse_content_handling(c) {
            Ok(c) => Some(c),
            Err(why) => {
                e.push(format!("{path}.content_handling"), why);
                None
            }
        },
    };

    // The timeout.
    let tpath = format!("{path}.timeout");
    let max = match api_type {
        ApiType::Rest => MAX_REST_TIMEOUT,
        ApiType::Http => MAX_HTTP_TIMEOUT,
    };
    let timeout = match &f.timeout {
        None => DEFAULT_INTEGRATION_TIMEOUT,
        Some(t) => match e.duration(&tpath, t) {
            Some(d) => match check_timeout(d, max) {
                Ok(d) => d,
                Err(why) => {
                    e.push(tpath, format!("{why}, got {}", t.0));
                    DEFAULT_INTEGRATION_TIMEOUT
                }
            },
            None => DEFAULT_INTEGRATION_TIMEOUT,
        },
    };

    // Endpoint and credentials.
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

    if e.count() > before {
        return None;
    }
    Some(LambdaIntegration {
        proxy,
        uri: f.uri.clone().unwrap_or_default(),
        function: function?,
        payload,
        timeout,
        endpoint,
        credentials,
        content_handling,
    })
}

/// `payload_format_version` for an API type: REST APIs send 1.0 only; HTTP APIs 1.0 or 2.0
/// (default 2.0, the console's).
fn payload_format(e: &mut Errors, api_type: ApiType, v: Option<&str>, path: &str) -> PayloadFormat {
    match check_payload_format(api_type, v) {
        Ok(p) => p,
        Err(why) => {
            e.push(format!("{path}.payload_format_version"), why);
            PayloadFormat::V1
        }
    }
}

fn check_payload_format(api_type: ApiType, v: Option<&str>) -> Result<PayloadFormat, String> {
    match (api_type, v) {
        (ApiType::Rest, None | Some("1.0")) => Ok(PayloadFormat::V1),
        (ApiType::Rest, Some(other)) => Err(format!(
            "REST APIs send Lambda proxy events in format 1.0 only, got `{other}`"
        )),
        (ApiType::Http, None | Some("2.0")) => Ok(PayloadFormat::V2),
        (ApiType::Http, Some("1.0")) => Ok(PayloadFormat::V1),
        (ApiType::Http, Some(other)) => Err(format!("expected 1.0 or 2.0, got `{other}`")),
    }
}

fn check_timeout(d: Duration, max: Duration) -> Result<Duration, String> {
    if d < MIN_TIMEOUT {
        return Err("must be at least 50ms".into());
    }
    if d > max {
        return Err(format!(
            "must be at most {}s for this API type",
            max.as_secs()
        ));
    }
    Ok(d)
}

fn parse_content_handling(c: &str) -> Result<ContentHandling, String> {
    match c {
        "CONVERT_TO_BINARY" => Ok(ContentHandling::ConvertToBinary),
        "CONVERT_TO_TEXT" => Ok(ContentHandling::ConvertToText),
        other => Err(format!(
            "expected CONVERT_TO_BINARY or CONVERT_TO_TEXT, got `{other}`"
        )),
    }
}

/// The invocation ARN's prefix (after the region) and suffix.
const INVOCATION_PATH: &str = ":lambda:path/2015-03-31/functions/";
const INVOCATION_END: &str = "/invocations";

/// Parse `uri` (a custom integration takes only the invocation ARN).
pub fn parse_uri(uri: &str, proxy: bool) -> Result<FunctionRef, String> {
    let inner = match strip_partition(uri, "apigateway") {
        Some(rest) => {
            let (region, rest) = rest.split_once(':').ok_or_else(|| no_invocation_arn(uri))?;
            if !super::aws::is_region(region) {
                return Err(format!("`{uri}`: `{region}` is not a region"));
            }
            let rest = rest
                .strip_prefix(&INVOCATION_PATH[1..])
                .and_then(|r| r.strip_suffix(INVOCATION_END))
                .ok_or_else(|| no_invocation_arn(uri))?;
            if !rest.starts_with("arn:") {
                return Err(format!(
                    "`{uri}`: the invocation ARN names a function by its ARN (arn:aws:lambda:...)"
                ));
            }
            rest
        }
        None if !proxy => return Err(no_invocation_arn(uri)),
        None => uri,
    };
    if inner.starts_with("arn:") {
        let (region, name, qualifier) = parse_function_arn(inner)?;
        // The unqualified ARN names the function in the path.
        let unqualified_len = inner.len() - qualifier.map_or(0, |q| q.len() + 1);
        let unqualified = &inner[..unqualified_len];
        let name_parts = parse_template(unqualified, "the function ARN", |_| true)?;
        check_parts(&parse_template(name, "the function name", is_name_byte)?)?;
        function_ref(name_parts, qualifier, Some(region.to_string()))
    } else {
        let (name, qualifier) = split_qualifier(inner);
        if !name.contains("${") && !is_function_name(name) {
            return Err(format!(
                "`{uri}` is not a Lambda function name (1-64 letters, digits, `-`, `_`), \
                 function ARN or invocation ARN"
            ));
        }
        let parts = parse_template(name, "the function name", is_name_byte)?;
        check_parts(&parts)?;
        function_ref(parts, qualifier, None)
    }
}

fn no_invocation_arn(uri: &str) -> String {
    format!(
        "`{uri}`: expected arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations"
    )
}

fn function_ref(
    name: Vec<Part>,
    qualifier: Option<&str>,
    region: Option<String>,
) -> Result<FunctionRef, String> {
    let qualifier = match qualifier {
        None => None,
        Some(q) => {
            let parts = parse_template(q, "the qualifier", is_qualifier_byte)?;
            if parts.is_empty() {
                return Err("the qualifier after `:` is empty".into());
            }
            if let [Part::Text(t)] = parts.as_slice() {
                if !is_qualifier(t) {
                    return Err(format!(
                        "`{q}` is not a Lambda version or alias ($LATEST, a version number or \
                         an alias name)"
                    ));
                }
            }
            Some(parts)
        }
    };
    let text = |parts: &[Part]| match parts {
        [] => Some(String::new()),
        [Part::Text(t)] => Some(t.clone()),
        _ => None,
    };
    let fixed = match (&qualifier, text(&name)) {
        (None, Some(n)) => Some(invoke_target(&n, None)),
        (Some(q), Some(n)) => text(q).map(|q| invoke_target(&n, Some(&q))),
        _ => None,
    };
    Ok(FunctionRef {
        name,
        qualifier,
        region,
        fixed,
    })
}

/// Stage variables must be named, the text between them valid.
fn check_parts(parts: &[Part]) -> Result<(), String> {
    if parts.is_empty() {
        return Err("the function name is empty".into());
    }
    Ok(())
}

/// `NAME` or `NAME:QUALIFIER` (a `:` inside `${...}` does not count).
fn split_qualifier(s: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    (s, None)
}

/// `arn:PARTITION:SERVICE:` stripped.
fn strip_partition<'a>(s: &'a str, service: &str) -> Option<&'a str> {
    let rest = s.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return None;
    }
    rest.strip_prefix(service)?.strip_prefix(':')
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` -> (region, name, qualifier).
/// The name and qualifier may hold stage variables.
pub fn parse_function_arn(arn: &str) -> Result<(&str, &str, Option<&str>), String> {
    let want = || {
        format!("`{arn}`: expected a function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]")
    };
    let rest = strip_partition(arn, "lambda").ok_or_else(want)?;
    let (region, rest) = rest.split_once(':').ok_or_else(want)?;
    if !super::aws::is_region(region) {
        return Err(format!("`{arn}`: `{region}` is not a region"));
    }
    let (account, rest) = rest.split_once(':').ok_or_else(want)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{arn}`: `{account}` is not an account id (12 digits)"
        ));
    }
    let rest = rest.strip_prefix("function:").ok_or_else(want)?;
    let (name, qualifier) = split_qualifier(rest);
    if name.is_empty() {
        return Err(want());
    }
    if let Some(q) = qualifier {
        if split_qualifier(q).1.is_some() || q.is_empty() {
            return Err(want());
        }
    }
    if !name.contains("${") && !is_function_name(name) {
        return Err(format!(
            "`{arn}`: `{name}` is not a Lambda function name (1-64 letters, digits, `-`, `_`)"
        ));
    }
    Ok((region, name, qualifier))
}

/// Split `text` at `${stageVariables.NAME}`; literal text must pass `ok_byte`.
fn parse_template(
    text: &str,
    what: &str,
    ok_byte: impl Fn(u8) -> bool,
) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let lit = &rest[..start];
        push_text(&mut parts, lit, what, &ok_byte)?;
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{text}`: unclosed `${{` in {what}"))?;
        let var = after[..end]
            .strip_prefix("stageVariables.")
            .ok_or_else(|| {
                format!(
                    "`{text}`: only stage variables (`${{stageVariables.NAME}}`) may appear in {what}"
                )
            })?;
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("`{text}`: `{var}` is not a stage variable name"));
        }
        parts.push(Part::StageVariable(var.to_string()));
        rest = &after[end + 1..];
    }
    push_text(&mut parts, rest, what, &ok_byte)?;
    Ok(parts)
}

fn push_text(
    parts: &mut Vec<Part>,
    lit: &str,
    what: &str,
    ok_byte: &impl Fn(u8) -> bool,
) -> Result<(), String> {
    if lit.is_empty() {
        return Ok(());
    }
    if let Some(bad) = lit.bytes().find(|&b| !ok_byte(b)) {
        return Err(format!(
            "`{lit}`: `{}` is not allowed in {what}",
            (bad as char).escape_default()
        ));
    }
    parts.push(Part::Text(lit.to_string()));
    Ok(())
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_qualifier_byte(b: u8) -> bool {
    is_name_byte(b) || b == b'$'
}

/// A Lambda function name: 1-64 of `A-Za-z0-9-_`.
pub fn is_function_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(is_name_byte)
}

/// `$LATEST`, a version number, or an alias name (1-128 of `A-Za-z0-9-_`, not all digits).
pub fn is_qualifier(s: &str) -> bool {
    s == "$LATEST" || (!s.is_empty() && s.len() <= 128 && s.bytes().all(is_name_byte))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::snapshot::Integration;
    use crate::config::validate::tests::{assert_error, check, errors};

    fn file(api_type: &str, integration: &str) -> String {
        format!(
            "
listeners: [{{name: a, bind: '127.0.0.1:1'}}]
apis:
  - id: demo
    type: {api_type}
    routes:
      - route: 'POST /f'
        integration: {integration}
    stages: [{{name: prod}}]
"
        )
    }

    fn built(api_type: &str, integration: &str) -> crate::config::Snapshot {
        check(&file(api_type, integration)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn lambda(snap: &crate::config::Snapshot) -> &LambdaIntegration {
        let api = snap.api("demo").unwrap();
        let route = &api.stages["prod"].deployment.routes[0];
        match &route.integration {
            Integration::Lambda(l) => l,
            _ => panic!("not a Lambda integration"),
        }
    }

    #[test]
    fn function_names_and_qualifiers() {
        let f = parse_uri("my-fn_1", true).unwrap();
        assert_eq!(f.region, None);
        assert_eq!(
            f.fixed,
            Some((
                "/2015-03-31/functions/my-fn_1/invocations".into(),
                "".into()
            ))
        );
        let f = parse_uri("my-fn:live", true).unwrap();
        assert_eq!(
            f.fixed,
            Some((
                "/2015-03-31/functions/my-fn/invocations".into(),
                "Qualifier=live".into()
            ))
        );
        let f = parse_uri("my-fn:$LATEST", true).unwrap();
        assert_eq!(f.fixed.unwrap().1, "Qualifier=%24LATEST");
        for bad in [
            "",
            "a b",
            "a/b",
            "fn:",
            "fn:a:b",
            "fn:a.b",
            "x".repeat(65).as_str(),
        ] {
            assert!(parse_uri(bad, true).is_err(), "{bad:?}");
        }
        assert!(is_qualifier("7") && is_qualifier("$LATEST") && is_qualifier("blue-2"));
        assert!(!is_qualifier("") && !is_qualifier("$NOPE"));
    }

    #[test]
    fn function_arns() {
        let f = parse_uri(
            "arn:aws:lambda:eu-west-1:123456789012:function:orders",
            true,
        )
        .unwrap();
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        let (path, query) = f.fixed.unwrap();
        assert_eq!(
            path,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Aorders/invocations"
        );
        assert_eq!(query, "");
        let f = parse_uri(
            "arn:aws:lambda:us-east-1:123456789012:function:orders:7",
            true,
        )
        .unwrap();
        let (path, query) = f.fixed.unwrap();
        assert!(path.ends_with("%3Afunction%3Aorders/invocations"), "{path}");
        assert_eq!(query, "Qualifier=7");
        for bad in [
            "arn:aws:lambda:us-east-1:12345:function:f",
            "arn:aws:lambda:US:123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:layer:f",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
            "arn:aws:lambda:us-east-1:123456789012:function:a.b",
            "arn:other:lambda:us-east-1:123456789012:function:f",
            "arn:aws:s3:::bucket",
        ] {
            assert!(parse_uri(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn invocation_arns() {
        let uri = "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/arn:aws:lambda:us-west-2:123456789012:function:Simple/invocations";
        for proxy in [true, false] {
            let f = parse_uri(uri, proxy).unwrap();
            assert_eq!(f.region.as_deref(), Some("us-west-2"));
            assert!(f.fixed.unwrap().0.contains("%3Afunction%3ASimple/"));
        }
        // A custom integration takes only the invocation ARN.
        assert!(parse_uri("Simple", false).is_err());
        assert!(parse_uri(
            "arn:aws:lambda:us-west-2:123456789012:function:Simple",
            false
        )
        .is_err());
        for bad in [
            "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/Simple/invocations",
            "arn:aws:apigateway:us-west-2:lambda:path/2015-03-31/functions/arn:aws:lambda:us-west-2:123456789012:function:Simple",
            "arn:aws:apigateway:us-west-2:lambda:action/Invoke",
        ] {
            assert!(parse_uri(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_variables_in_the_function() {
        let f = parse_uri("orders:${stageVariables.alias}", true).unwrap();
        assert!(f.fixed.is_none());
        let vars = |n: &str| (n == "alias").then(|| "live".to_string());
        assert_eq!(
            f.render(&vars).unwrap(),
            (
                "/2015-03-31/functions/orders/invocations".into(),
                "Qualifier=live".into()
            )
        );
        let none = |_: &str| None;
        assert!(f
            .render(&none)
            .unwrap_err()
            .contains("`alias` has no value"));
        let bad = |_: &str| Some("a/b".to_string());
        assert!(f.render(&bad).is_err());
        let f = parse_uri(
            "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}",
            true,
        )
        .unwrap();
        let vars = |_: &str| Some("orders".to_string());
        assert!(f
            .render(&vars)
            .unwrap()
            .0
            .ends_with("%3Afunction%3Aorders/invocations"));
        let vars = |_: &str| Some("orders:7".to_string());
        assert!(
            f.render(&vars).is_err(),
            "a qualifier smuggled into the name"
        );
        assert!(parse_uri("${context.x}", true).is_err());
        assert!(parse_uri("${stageVariables.}", true).is_err());
        assert!(parse_uri("${stageVariables.a", true).is_err());
    }

    #[test]
    fn payload_formats() {
        assert_eq!(
            check_payload_format(ApiType::Rest, None),
            Ok(PayloadFormat::V1)
        );
        assert_eq!(
            check_payload_format(ApiType::Rest, Some("1.0")),
            Ok(PayloadFormat::V1)
        );
        assert!(check_payload_format(ApiType::Rest, Some("2.0")).is_err());
        assert_eq!(
            check_payload_format(ApiType::Http, None),
            Ok(PayloadFormat::V2)
        );
        assert_eq!(
            check_payload_format(ApiType::Http, Some("1.0")),
            Ok(PayloadFormat::V1)
        );
        assert!(check_payload_format(ApiType::Http, Some("3.0")).is_err());
        assert_eq!(PayloadFormat::V2.as_str(), "2.0");
    }

    #[test]
    fn timeouts() {
        assert!(check_timeout(Duration::from_millis(49), MAX_REST_TIMEOUT).is_err());
        assert!(check_timeout(Duration::from_millis(50), MAX_REST_TIMEOUT).is_ok());
        assert!(check_timeout(Duration::from_secs(29), MAX_REST_TIMEOUT).is_ok());
        assert!(check_timeout(Duration::from_secs(30), MAX_REST_TIMEOUT).is_err());
        assert!(check_timeout(Duration::from_secs(30), MAX_HTTP_TIMEOUT).is_ok());
        assert!(check_timeout(Duration::from_millis(30_001), MAX_HTTP_TIMEOUT).is_err());
    }

    #[test]
    fn content_handling_values() {
        assert_eq!(
            parse_content_handling("CONVERT_TO_TEXT"),
            Ok(ContentHandling::ConvertToText)
        );
        assert_eq!(
            parse_content_handling("CONVERT_TO_BINARY"),
            Ok(ContentHandling::ConvertToBinary)
        );
        assert!(parse_content_handling("convert_to_text").is_err());
    }

    #[test]
    fn a_proxy_integration_with_its_defaults() {
        let snap = built("HTTP", "{type: AWS_PROXY, uri: my-fn}");
        let l = lambda(&snap);
        assert!(l.proxy);
        assert_eq!(l.uri, "my-fn");
        assert_eq!(l.payload, PayloadFormat::V2);
        assert_eq!(l.timeout, DEFAULT_INTEGRATION_TIMEOUT);
        assert!(l.endpoint.is_none() && l.credentials.is_none());
        let snap = built(
            "REST",
            "{type: AWS_PROXY, uri: my-fn, timeout: 2s, endpoint: 'http://127.0.0.1:3001', credentials: {from: none}}",
        );
        let l = lambda(&snap);
        assert_eq!(l.payload, PayloadFormat::V1);
        assert_eq!(l.timeout, Duration::from_secs(2));
        assert_eq!(l.endpoint.as_ref().unwrap().host_header, "127.0.0.1:3001");
        assert_eq!(l.credentials, Some(AwsCredentials::None));
    }

    #[test]
    fn a_custom_integration() {
        let snap = built(
            "REST",
            "{type: AWS, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:raw/invocations', content_handling: CONVERT_TO_TEXT, method: POST}",
        );
        let l = lambda(&snap);
        assert!(!l.proxy);
        assert_eq!(l.content_handling, Some(ContentHandling::ConvertToText));
        assert_eq!(l.function.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn keys_that_do_not_belong() {
        let at = "apis[0].routes[0].integration";
        let list = errors(&file(
            "REST",
            "{type: AWS_PROXY, uri: f, status: 200, body: x, headers: {a: b}, connection_type: VPC_LINK, target_group: g, content_handling: CONVERT_TO_TEXT, request_parameters: {a: b}, method: GET}",
        ));
        for key in [
            "status",
            "body",
            "headers",
            "connection_type",
            "target_group",
            "content_handling",
        ] {
            assert_error(
                &list,
                &format!("{at}.{key}"),
                "not valid for a AWS_PROXY integration",
            );
        }
        assert_error(&list, &format!("{at}.request_parameters"), "not supported");
        assert_error(&list, &format!("{at}.method"), "invoked with POST");
        let list = errors(&file(
            "REST",
            "{type: AWS, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:raw/invocations', payload_format_version: '1.0'}",
        ));
        assert_error(
            &list,
            &format!("{at}.payload_format_version"),
            "not valid for a AWS integration",
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let at = "apis[0].routes[0].integration";
        let list = errors(&file("HTTP", "{type: AWS_PROXY}"));
        assert_error(&list, &format!("{at}.uri"), "required");
        let list = errors(&file("HTTP", "{type: AWS_PROXY, uri: 'a b'}"));
        assert_error(&list, &format!("{at}.uri"), "not a Lambda function name");
        let list = errors(&file(
            "HTTP",
            "{type: AWS_PROXY, uri: f, payload_format_version: '3.0', timeout: 31s, endpoint: 'ftp://x'}",
        ));
        assert_error(&list, &format!("{at}.payload_format_version"), "1.0 or 2.0");
        assert_error(&list, &format!("{at}.timeout"), "at most 30s");
        assert_error(&list, &format!("{at}.endpoint"), "http://");
        let list = errors(&file("REST", "{type: AWS_PROXY, uri: f, timeout: 30s}"));
        assert_error(&list, &format!("{at}.timeout"), "at most 29s");
        let list = errors(&file("REST", "{type: AWS_PROXY, uri: f, timeout: 10ms}"));
        assert_error(&list, &format!("{at}.timeout"), "at least 50ms");
        let list = errors(&file(
            "REST",
            "{type: AWS_PROXY, uri: f, payload_format_version: '2.0'}",
        ));
        assert_error(&list, &format!("{at}.payload_format_version"), "1.0 only");
        let list = errors(&file(
            "REST",
            "{type: AWS_PROXY, uri: f, credentials: {from: nowhere}}",
        ));
        assert_error(&list, &format!("{at}.credentials.from"), "unknown source");
        let list = errors(&file(
            "HTTP",
            "{type: AWS, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:raw/invocations'}",
        ));
        assert_error(&list, &format!("{at}.type"), "AWS_PROXY only");
        let list = errors(&file(
            "REST",
            "{type: AWS, uri: 'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:raw/invocations', content_handling: BINARY}",
        ));
        assert_error(
            &list,
            &format!("{at}.content_handling"),
            "CONVERT_TO_BINARY",
        );
    }
}
