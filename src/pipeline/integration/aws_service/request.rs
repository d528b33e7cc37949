//! The integration request of an AWS service integration, as API Gateway builds it: the
//! path (placeholders filled), the query string (the action's, the ARN's, the mapped
//! parameters) and the headers (the payload's Content-Type, the JSON protocol's target,
//! the mapped ones), from the method request's values. Pure: the values come through
//! [`Sources`], so that it is tested without a session.
//!
//! Encoding: a value from `method.request.path.X` (or a route parameter filling a `{X}` of
//! the path by name) goes into the path as the client sent it (already percent-encoded);
//! every other value is text, percent-encoded into a path or a query (RFC 3986 unreserved
//! characters kept). Query values read from the method request are decoded first (`%XX`,
//! `+`). A header gets the decoded text, which must hold no control characters.

use crate::config::aws_integration::{
    encode_component, AwsServiceIntegration, ParamSource, ParamTarget, PathPiece, ServiceCall,
};

/// The Content-Type of a query-protocol action whose method request has none.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// What the mapped values are read from.
pub trait Sources {
    /// The last value of the method request's header `name` (any case).
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// The method request's query string (without `?`; empty when none).
    fn query(&self) -> &[u8];
    /// The route's path parameter `name`, as sent.
    fn path_param(&self, name: &str) -> Option<&str>;
    fn stage_variable(&self, name: &str) -> Option<&str>;
    /// Write `$context.name` into `out`; false when it has no value.
    fn context(&self, name: &str, out: &mut String) -> bool;
}

/// The service request, before signing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServiceParts {
    /// From `/`, percent-encoded as sent (without the endpoint's base path).
    pub path: String,
    /// Without `?`.
    pub query: String,
    /// (name, value) in the order sent.
    pub headers: Vec<(String, String)>,
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A `{name}` of the ARN's path has no value (neither mapped nor a route parameter).
    NoPathValue(String),
    /// A value mapped into a header holds a control character (from the client's request).
    BadHeaderValue(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::NoPathValue(n) => {
                write!(f, "no value for {{{n}}} of the integration's path")
            }
            BuildError::BadHeaderValue(n) => {
                write!(
                    f,
                    "the value mapped to header {n} holds a control character"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// A mapped value.
enum Value<'a> {
    /// Text (decoded).
    Text(std::borrow::Cow<'a, str>),
    /// A path segment as sent (percent-encoded).
    RawPath(&'a str),
}

impl Value<'_> {
    /// As text: a raw path value is percent-decoded.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Text(t) => std::borrow::Cow::Borrowed(t),
            Value::RawPath(p) => percent_decode(p.as_bytes(), false),
        }
    }
}

fn value<'a, S: Sources>(source: &'a ParamSource, src: &'a S) -> Option<Value<'a>> {
    use std::borrow::Cow;
    Some(match source {
        ParamSource::Header(name) => {
            Value::Text(String::from_utf8_lossy(src.header(name)?.trim_ascii()))
        }
        ParamSource::QueryString(name) => Value::Text(query_value(src.query(), name)?),
        ParamSource::Path(name) => Value::RawPath(src.path_param(name)?),
        ParamSource::StageVariable(name) => Value::Text(Cow::Borrowed(src.stage_variable(name)?)),
        ParamSource::Context(name) => {
            let mut out = String::new();
            if !src.context(name, &mut out) {
                return None;
            }
            Value::Text(Cow::Owned(out))
        }
        ParamSource::Static(text) => Value::Text(Cow::Borrowed(text)),
    })
}

/// The last value of `name` in a query string, decoded (`+` as space).
pub fn query_value<'q>(query: &'q [u8], name: &str) -> Option<std::borrow::Cow<'q, str>> {
    let mut found = None;
    for pair in query.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if percent_decode(k, true) == name {
            found = Some(v);
        }
    }
    found.map(|v| percent_decode(v, true))
}

/// Decode `%XX` (and `+` as a space when `plus`); invalid escapes are kept as they are,
/// invalid UTF-8 replaced.
pub fn percent_decode(raw: &[u8], plus: bool) -> std::borrow::Cow<'_, str> {
    if !raw.iter().any(|&b| b == b'%' || (plus && b == b'+')) {
        return String::from_utf8_lossy(raw);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'%' => match (
                raw.get(i + 1).and_then(|&h| hex(h)),
                raw.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            },
            b'+' if plus => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Build the request of `service` for a method request. `path_style_bucket`: an S3 bucket
/// from the ARN's subdomain (`{bucket}.s3`) that goes in front of the path (the call goes
/// to a configured endpoint, not to the bucket's own host). `content_type`: the method
/// request's, passed on with its body.
pub fn build<S: Sources>(
    service: &AwsServiceIntegration,
    path_style_bucket: Option<&str>,
    content_type: Option<&[u8]>,
    src: &S,
    out: &mut ServiceParts,
) -> Result<(), BuildError> {
    out.path.clear();
    out.query.clear();
    out.headers.clear();
    let mapped = |target: &dyn Fn(&ParamTarget) -> bool| {
        service
            .parameters
            .iter()
            .find(|p| target(&p.target))
            .and_then(|p| value(&p.source, src))
    };

    // Path and the query's fixed start.
    let fixed_query = match &service.call {
        ServiceCall::Path { path, query } => {
            if let Some(bucket) = path_style_bucket {
                out.path.push('/');
                encode_component(&mut out.path, bucket.as_bytes());
            }
            for piece in path {
                match piece {
                    PathPiece::Literal(text) => out.path.push_str(text),
                    PathPiece::Param(name) => {
                        match mapped(&|t| matches!(t, ParamTarget::Path(n) if n == name)) {
                            Some(Value::RawPath(raw)) => out.path.push_str(raw),
                            Some(Value::Text(text)) => encode_path_text(&mut out.path, &text),
                            None => match src.path_param(name) {
                                Some(raw) => out.path.push_str(raw),
                                None => return Err(BuildError::NoPathValue(name.clone())),
                            },
                        }
                    }
                }
            }
            query.as_str()
        }
        ServiceCall::QueryAction { query } => {
            out.path.push('/');
            query.as_str()
        }
        ServiceCall::JsonAction {
            target,
            content_type,
            query,
        } => {
            out.path.push('/');
            out.headers.push(("X-Amz-Target".into(), target.clone()));
            out.headers
                .push(("Content-Type".into(), (*content_type).to_string()));
            query.as_str()
        }
    };
    out.query.push_str(fixed_query);

    // The payload's own Content-Type (a JSON action's protocol sets its own); a query
    // action without one says its (form) body is of the query protocol.
    if !matches!(service.call, ServiceCall::JsonAction { .. }) {
        let ct = content_type
            .map(|ct| String::from_utf8_lossy(ct.trim_ascii()))
            .filter(|ct| !ct.is_empty() && !has_control(ct));
        match ct {
            Some(ct) => out.headers.push(("Content-Type".into(), ct.into_owned())),
            None if matches!(service.call, ServiceCall::QueryAction { .. }) => out
                .headers
                .push(("Content-Type".into(), FORM_CONTENT_TYPE.to_string())),
            None => {}
        }
    }

    // Mapped query parameters and headers, in the file's order.
    for p in &service.parameters {
        match &p.target {
            ParamTarget::QueryString(name) => {
                let Some(v) = value(&p.source, src) else {
                    continue;
                };
                if !out.query.is_empty() {
                    out.query.push('&');
                }
                out.query.push_str(name);
                out.query.push('=');
                encode_component(&mut out.query, v.text().as_bytes());
            }
            ParamTarget::Header(name) => {
                let Some(v) = value(&p.source, src) else {
                    continue;
                };
                let text = v.text();
                if has_control(&text) {
                    return Err(BuildError::BadHeaderValue(name.clone()));
                }
                // A mapped header replaces the gateway's (Content-Type, X-Amz-Target).
                out.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                out.headers.push((name.clone(), text.into_owned()));
            }
            ParamTarget::Path(_) => {}
        }
    }
    Ok(())
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Text into a path: percent-encoded, `/` too (a value is one segment's worth), and a
/// value of dots alone (`.`, `..`) encoded so that it is no dot segment.
fn encode_path_text(out: &mut String, text: &str) {
    if !text.is_empty() && text.bytes().all(|b| b == b'.') {
        for _ in 0..text.len() {
            out.push_str("%2E");
        }
        return;
    }
    encode_component(out, text.as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::aws::{ApigatewayArn, ArnAction};
    use crate::config::aws_integration::RequestParameter;
    use crate::http::head::Method;
    use std::time::Duration;

    struct Fake {
        headers: Vec<(&'static str, &'static [u8])>,
        query: &'static [u8],
        params: Vec<(&'static str, &'static str)>,
        vars: Vec<(&'static str, &'static str)>,
    }

    impl Sources for Fake {
        fn header(&self, name: &str) -> Option<&[u8]> {
            self.headers
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
        fn query(&self) -> &[u8] {
            self.query
        }
        fn path_param(&self, name: &str) -> Option<&str> {
            self.params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
        }
        fn stage_variable(&self, name: &str) -> Option<&str> {
            self.vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn context(&self, name: &str, out: &mut String) -> bool {
            if name == "requestId" {
                out.push_str("rid-1");
                true
            } else {
                false
            }
        }
    }

    fn fake() -> Fake {
        Fake {
            headers: vec![
                ("X-User", b"first"),
                ("x-user", b" alice "),
                ("X-Evil", b"a\nb"),
            ],
            query: b"q=a+b%2Fc&q=last%20one&flag&k%3D=v",
            params: vec![("name", "photo%20one.png"), ("bucket", "b1")],
            vars: vec![("table", "T1")],
        }
    }

    fn service(call: ServiceCall, parameters: Vec<RequestParameter>) -> AwsServiceIntegration {
        AwsServiceIntegration {
            arn: ApigatewayArn {
                region: "us-east-1".into(),
                service: "s3".into(),
                subdomain: None,
                kind: ArnAction::Path,
                rest: String::new(),
            },
            signing_name: "s3".into(),
            method: Method::Get,
            timeout: Duration::from_secs(29),
            endpoint: None,
            credentials: None,
            content_handling: None,
            call,
            parameters,
        }
    }

    fn p(target: ParamTarget, source: ParamSource) -> RequestParameter {
        RequestParameter { target, source }
    }

    fn path(pieces: &[&str]) -> ServiceCall {
        ServiceCall::Path {
            path: pieces
                .iter()
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(n) => PathPiece::Param(n.into()),
                        None => PathPiece::Literal((*s).into()),
                    },
                )
                .collect(),
            query: String::new(),
        }
    }

    fn run(s: &AwsServiceIntegration, bucket: Option<&str>, ct: Option<&[u8]>) -> ServiceParts {
        let mut out = ServiceParts::default();
        build(s, bucket, ct, &fake(), &mut out).unwrap();
        out
    }

    #[test]
    fn path_placeholders_from_mappings_and_route_parameters() {
        use ParamSource as S;
        use ParamTarget as T;
        // {bucket} by name from the route, {key} mapped from another path parameter.
        let s = service(
            path(&["/", "{bucket}", "/", "{key}"]),
            vec![p(T::Path("key".into()), S::Path("name".into()))],
        );
        let out = run(&s, None, Some(b"image/png"));
        assert_eq!(out.path, "/b1/photo%20one.png");
        assert_eq!(out.query, "");
        assert_eq!(
            out.headers,
            vec![("Content-Type".into(), "image/png".into())]
        );
        // Text values are encoded whole (`/` too); dots alone are no dot segment.
        for (text, want) in [
            ("a b/c", "/x/a%20b%2Fc"),
            ("..", "/x/%2E%2E"),
            ("a.b", "/x/a.b"),
        ] {
            let s = service(
                path(&["/x/", "{key}"]),
                vec![p(T::Path("key".into()), S::Static(text.into()))],
            );
            assert_eq!(run(&s, None, None).path, want, "{text}");
        }
        // A header value into the path.
        let s = service(
            path(&["/x/", "{key}"]),
            vec![p(T::Path("key".into()), S::Header("x-user".into()))],
        );
        assert_eq!(run(&s, None, None).path, "/x/alice");
        // No value at all.
        let s = service(path(&["/x/", "{missing}"]), vec![]);
        let mut out = ServiceParts::default();
        assert_eq!(
            build(&s, None, None, &fake(), &mut out),
            Err(BuildError::NoPathValue("missing".into()))
        );
        // A mapping whose source is absent falls back to the route parameter.
        let s = service(
            path(&["/x/", "{name}"]),
            vec![p(T::Path("name".into()), S::Header("absent".into()))],
        );
        assert_eq!(run(&s, None, None).path, "/x/photo%20one.png");
    }

    #[test]
    fn path_style_buckets() {
        let s = service(path(&["/", "{name}"]), vec![]);
        assert_eq!(
            run(&s, Some("my bucket"), None).path,
            "/my%20bucket/photo%20one.png"
        );
    }

    #[test]
    fn query_actions_with_mapped_parameters() {
        use ParamSource as S;
        use ParamTarget as T;
        let s = service(
            ServiceCall::QueryAction {
                query: "Action=SendMessage&Version=2012-11-05".into(),
            },
            vec![
                p(
                    T::QueryString("MessageBody".into()),
                    S::QueryString("q".into()),
                ),
                p(
                    T::QueryString("QueueUrl".into()),
                    S::Static("http://h/1/q".into()),
                ),
                p(
                    T::QueryString("Absent".into()),
                    S::QueryString("nope".into()),
                ),
                p(T::QueryString("Flag".into()), S::QueryString("flag".into())),
                p(T::QueryString("K".into()), S::QueryString("k=".into())),
                p(
                    T::QueryString("Table".into()),
                    S::StageVariable("table".into()),
                ),
                p(T::QueryString("Rid".into()), S::Context("requestId".into())),
                p(T::QueryString("NoCtx".into()), S::Context("other".into())),
                p(T::QueryString("P".into()), S::Path("name".into())),
            ],
        );
        let out = run(&s, None, None);
        assert_eq!(out.path, "/");
        assert_eq!(
            out.query,
            "Action=SendMessage&Version=2012-11-05&MessageBody=last%20one\
             &QueueUrl=http%3A%2F%2Fh%2F1%2Fq&Flag=&K=v&Table=T1&Rid=rid-1&P=photo%20one.png"
        );
        assert_eq!(
            out.headers,
            vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into()
            )]
        );
        // The method request's own Content-Type goes with its body.
        let out = run(&s, None, Some(b"text/plain"));
        assert_eq!(
            out.headers,
            vec![("Content-Type".into(), "text/plain".into())]
        );
        // A path call has none unless the method request has one.
        let s = service(path(&["/x"]), vec![]);
        assert!(run(&s, None, None).headers.is_empty());
    }

    #[test]
    fn json_actions_and_header_mappings() {
        use ParamSource as S;
        use ParamTarget as T;
        let call = ServiceCall::JsonAction {
            target: "DynamoDB_20120810.PutItem".into(),
            content_type: "application/x-amz-json-1.0",
            query: String::new(),
        };
        let s = service(
            call.clone(),
            vec![p(
                T::Header("x-amz-meta-user".into()),
                S::Header("X-User".into()),
            )],
        );
        // The client's Content-Type is not the protocol's.
        let out = run(&s, None, Some(b"application/json"));
        assert_eq!((out.path.as_str(), out.query.as_str()), ("/", ""));
        assert_eq!(
            out.headers,
            vec![
                ("X-Amz-Target".into(), "DynamoDB_20120810.PutItem".into()),
                ("Content-Type".into(), "application/x-amz-json-1.0".into()),
                ("x-amz-meta-user".into(), "alice".into()),
            ]
        );
        // A mapped Content-Type replaces the protocol's.
        let s = service(
            call,
            vec![p(
                T::Header("content-type".into()),
                S::Static("application/x-amz-json-1.1".into()),
            )],
        );
        let out = run(&s, None, None);
        assert_eq!(
            out.headers,
            vec![
                ("X-Amz-Target".into(), "DynamoDB_20120810.PutItem".into()),
                ("content-type".into(), "application/x-amz-json-1.1".into()),
            ]
        );
        // Control characters from the client never reach a header.
        let s = service(
            path(&["/x"]),
            vec![p(T::Header("x-a".into()), S::Header("x-evil".into()))],
        );
        let mut out = ServiceParts::default();
        assert_eq!(
            build(&s, None, None, &fake(), &mut out),
            Err(BuildError::BadHeaderValue("x-a".into()))
        );
        let s = service(
            path(&["/x"]),
            vec![p(T::Header("x-a".into()), S::QueryString("k=".into()))],
        );
        let mut src = fake();
        src.query = b"k%3D=a%0Db";
        assert_eq!(
            build(&s, None, None, &src, &mut out),
            Err(BuildError::BadHeaderValue("x-a".into()))
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode(b"a%20b+c", true), "a b c");
        assert_eq!(percent_decode(b"a%20b+c", false), "a b+c");
        assert_eq!(percent_decode(b"100%", false), "100%");
        assert_eq!(percent_decode(b"%zz%4", false), "%zz%4");
        assert_eq!(percent_decode(b"%C3%A9", false), "é");
        assert_eq!(query_value(b"a=1&b=2&a=3", "a").as_deref(), Some("3"));
        assert_eq!(query_value(b"a=1&b", "b").as_deref(), Some(""));
        assert_eq!(query_value(b"a=1", "c"), None);
        assert_eq!(query_value(b"", "a"), None);
    }
}
