//! A stage's access log (API Gateway's `accessLogSettings`): where lines go and the format
//! they are written in, compiled at load into literal text and `$context.*` variables.
//! Also the list of `$context` variable names every `$context` user (access logs,
//! templates, mappings) validates against, kept here (the configuration's layer) so that
//! validation can refuse an unknown name at load; `pipeline::context` resolves them.

use std::path::Path;
use std::sync::Arc;

use super::file::AccessLogFile;
use super::validate::Errors;

/// Every `$context` variable name (without the prefix) `RequestContext::variable` knows,
/// besides the `authorizer.claims.*` and `authorizer.*` families.
pub const CONTEXT_VARIABLES: &[&str] = &[
    "requestId",
    "extendedRequestId",
    "identity.sourceIp",
    "identity.userAgent",
    "identity.apiKey",
    "identity.apiKeyId",
    "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN",
    "identity.clientCert.serialNumber",
    "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter",
    "requestTime",
    "requestTimeEpoch",
    "httpMethod",
    "path",
    "resourcePath",
    "routeKey",
    "protocol",
    "status",
    "responseLength",
    "responseLatency",
    "integrationLatency",
    "integration.latency",
    "integrationStatus",
    "integration.status",
    "integration.error",
    "error.message",
    "error.responseType",
    "apiId",
    "stage",
    "domainName",
    "domainPrefix",
    "authorizer.principalId",
    "cacheStatus",
    "throttleLevel",
    "traceId",
    "xrayTraceId",
    // IAM identities of SigV4-signed requests (empty otherwise); in AWS's example formats.
    "identity.caller",
    "identity.user",
    "identity.userArn",
    "identity.accessKey",
    "identity.accountId",
    // The authorizer's call.
    "authorizer.integrationLatency",
    "authorizer.latency",
    "authorizer.status",
    "authorizer.error",
    "authorizer.jwt.scopes",
];

/// Whether `$context.NAME` exists (`name` without the prefix).
pub fn is_context_variable(name: &str) -> bool {
    CONTEXT_VARIABLES.contains(&name)
        || name
            .strip_prefix("authorizer.claims.")
            .is_some_and(|c| !c.is_empty())
        || name
            .strip_prefix("authorizer.")
            .is_some_and(|c| !c.is_empty())
}

/// Where a stage's access log lines go (`Stdout`, or a `File`: relative paths are relative
/// to the configuration file's directory).
pub use crate::observe::access_log::Destination as AccessLogDestination;

/// How variable values are escaped in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Control characters (and `\`) as `\xHH` / `\\`: one line per request whatever the value.
    Plain,
    /// The `clf` preset: as `Plain`, and `"` as `\"` (Apache's escaping).
    Clf,
    /// JSON string content: `"`, `\` and control characters escaped.
    Json,
    /// RFC 4180: a value holding `,`, `"` or a control character is quoted, `"` doubled.
    Csv,
    /// XML text and attributes: `&`, `<`, `>`, `"`, `'` as entities; control characters as `?`.
    Xml,
}

/// One piece of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(Box<str>),
    /// `$context.NAME`: `index` into [`CONTEXT_VARIABLES`] (`usize::MAX` for the
    /// `authorizer.*` families) and the name.
    Variable {
        index: usize,
        name: Box<str>,
    },
}

/// A compiled access log format.
#[derive(Debug, PartialEq, Eq)]
pub struct AccessLogFormat {
    /// The format as configured (a preset's name is expanded).
    pub source: String,
    pub segments: Vec<Segment>,
    pub escape: Escape,
}

/// A stage's access log.
#[derive(Debug, Clone)]
pub struct AccessLog {
    pub destination: AccessLogDestination,
    pub format: Arc<AccessLogFormat>,
}

/// AWS's example CLF format, exactly.
pub const PRESET_CLF: &str = "$context.identity.sourceIp $context.identity.caller \
$context.identity.user [$context.requestTime]\"$context.httpMethod $context.resourcePath \
$context.protocol\" $context.status $context.responseLength $context.requestId \
$context.extendedRequestId";

/// AWS's example JSON format, then tollgate's extra fields.
pub const PRESET_JSON: &str = "{ \"requestId\":\"$context.requestId\", \
\"extendedRequestId\":\"$context.extendedRequestId\",\"ip\": \"$context.identity.sourceIp\", \
\"caller\":\"$context.identity.caller\", \"user\":\"$context.identity.user\", \
\"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\", \
\"resourcePath\":\"$context.resourcePath\", \"status\":\"$context.status\", \
\"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\", \
\"requestTimeEpoch\":\"$context.requestTimeEpoch\", \"path\":\"$context.path\", \
\"routeKey\":\"$context.routeKey\", \"userAgent\":\"$context.identity.userAgent\", \
\"apiKeyId\":\"$context.identity.apiKeyId\", \"apiId\":\"$context.apiId\", \
\"stage\":\"$context.stage\", \"domainName\":\"$context.domainName\", \
\"responseLatency\":\"$context.responseLatency\", \
\"integrationLatency\":\"$context.integrationLatency\", \
\"integrationStatus\":\"$context.integrationStatus\", \
\"integrationError\":\"$context.integration.error\", \
\"errorMessage\":\"$context.error.message\", \
\"errorResponseType\":\"$context.error.responseType\", \
\"cacheStatus\":\"$context.cacheStatus\", \"throttleLevel\":\"$context.throttleLevel\", \
\"traceId\":\"$context.traceId\" }";

/// AWS's example XML format, then tollgate's extra fields (before `</request>`).
pub const PRESET_XML: &str = "<request id=\"$context.requestId\"> \
<extendedRequestId>$context.extendedRequestId</extendedRequestId> \
<ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> \
<user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> \
<httpMethod>$context.httpMethod</httpMethod> \
<resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> \
<protocol>$context.protocol</protocol> \
<responseLength>$context.responseLength</responseLength> \
<apiKeyId>$context.identity.apiKeyId</apiKeyId> \
<responseLatency>$context.responseLatency</responseLatency> \
<integrationLatency>$context.integrationLatency</integrationLatency> \
<integrationStatus>$context.integrationStatus</integrationStatus> \
<errorMessage>$context.error.message</errorMessage> \
<cacheStatus>$context.cacheStatus</cacheStatus> \
<throttleLevel>$context.throttleLevel</throttleLevel> \
<traceId>$context.traceId</traceId> </request>";

/// AWS's example CSV format, then tollgate's extra columns.
pub const PRESET_CSV: &str = "$context.identity.sourceIp,$context.identity.caller,\
$context.identity.user,$context.requestTime,$context.httpMethod,$context.resourcePath,\
$context.protocol,$context.status,$context.responseLength,$context.requestId,\
$context.extendedRequestId,$context.identity.apiKeyId,$context.responseLatency,\
$context.integrationLatency,$context.integrationStatus,$context.error.message,\
$context.cacheStatus,$context.throttleLevel,$context.traceId";

const PREFIX: &str = "$context.";

/// Compile `format` (a preset name or a format string). The escaping of a custom format
/// follows its first character: `{` JSON, `<` XML, anything else plain.
pub fn compile(format: &str) -> Result<AccessLogFormat, String> {
    let (source, escape) = match format.to_ascii_lowercase().as_str() {
        "json" => (PRESET_JSON, Escape::Json),
        "clf" => (PRESET_CLF, Escape::Clf),
        "csv" => (PRESET_CSV, Escape::Csv),
        "xml" => (PRESET_XML, Escape::Xml),
        _ => {
            let escape = match format.trim_start().as_bytes().first() {
                Some(b'{') => Escape::Json,
                Some(b'<') => Escape::Xml,
                _ => Escape::Plain,
            };
            (format, escape)
        }
    };
    if source.trim().is_empty() {
        return Err("the format is empty".into());
    }
    if source.contains(['\n', '\r']) {
        return Err("the format must be one line (no line breaks)".into());
    }
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = source;
    while let Some(at) = rest.find(PREFIX) {
        literal.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let len = after
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_'))
            .unwrap_or(after.len());
        // A trailing `.` ends the sentence, not the name.
        let name = after[..len].trim_end_matches('.');
        if name.is_empty() {
            literal.push_str(PREFIX);
            rest = after;
            continue;
        }
        if !is_context_variable(name) {
            return Err(format!("unknown variable $context.{name}"));
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut literal).into()));
        }
        let index = CONTEXT_VARIABLES
            .iter()
            .position(|v| *v == name)
            .unwrap_or(usize::MAX);
        segments.push(Segment::Variable {
            index,
            name: name.into(),
        });
        rest = &after[name.len()..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal.into()));
    }
    let has_id = segments.iter().any(|s| {
        matches!(s, Segment::Variable { name, .. }
            if &**name == "requestId" || &**name == "extendedRequestId")
    });
    if !has_id {
        return Err(
            "the format must include $context.requestId or $context.extendedRequestId \
             (as API Gateway requires)"
                .into(),
        );
    }
    Ok(AccessLogFormat {
        source: source.to_string(),
        segments,
        escape,
    })
}

/// Validate `apis[i].stages[j].access_log` (at `path`).
pub(super) fn build_access_log(
    e: &mut Errors,
    f: &AccessLogFile,
    path: &str,
    base_dir: &Path,
) -> Option<AccessLog> {
    let destination = match f.destination.as_str() {
        "stdout" => Some(AccessLogDestination::Stdout),
        "" => {
            e.push(
                format!("{path}.destination"),
                "the destination is empty: a file path or `stdout`",
            );
            None
        }
        p if p.contains('\0') => {
            e.push(
                format!("{path}.destination"),
                "the path holds a NUL character",
            );
            None
        }
        p if p.ends_with('/') => {
            e.push(
                format!("{path}.destination"),
                format!("`{p}` names a directory, not a file"),
            );
            None
        }
        p => {
            let file = base_dir.join(p);
            let dir = match file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if file.is_dir() {
                e.push(
                    format!("{path}.destination"),
                    format!("`{p}` is a directory, not a file"),
                );
                None
            } else if !dir.is_dir() {
                e.push(
                    format!("{path}.destination"),
                    format!("the directory of `{p}` does not exist"),
                );
                None
            } else {
                Some(AccessLogDestination::File(file))
            }
        }
    };
    let format = match compile(&f.format) {
        Ok(c) => Some(c),
        Err(reason) => {
            e.push(format!("{path}.format"), reason);
            None
        }
    };
    Some(AccessLog {
        destination: destination?,
        format: Arc::new(format?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::{assert_error, check, errors, minimal};
    use std::path::PathBuf;

    fn names(f: &AccessLogFormat) -> Vec<&str> {
        f.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Variable { name, .. } => Some(&**name),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    #[test]
    fn compiles_literals_and_variables() {
        let f = compile("id=$context.requestId s=$context.status.").expect("compiles");
        assert_eq!(
            f.segments,
            vec![
                Segment::Literal("id=".into()),
                Segment::Variable {
                    index: 0,
                    name: "requestId".into()
                },
                Segment::Literal(" s=".into()),
                Segment::Variable {
                    index: CONTEXT_VARIABLES
                        .iter()
                        .position(|v| *v == "status")
                        .expect("status"),
                    name: "status".into()
                },
                Segment::Literal(".".into()),
            ]
        );
        assert_eq!(f.escape, Escape::Plain);
    }

    #[test]
    fn authorizer_families_and_a_bare_prefix() {
        let f = compile("$context.requestId $context.authorizer.claims.sub $context. $x")
            .expect("compiles");
        assert_eq!(names(&f), ["requestId", "authorizer.claims.sub"]);
        assert!(matches!(
            f.segments[2],
            Segment::Variable {
                index: usize::MAX,
                ..
            }
        ));
        assert_eq!(
            f.segments.last(),
            Some(&Segment::Literal(" $context. $x".into()))
        );
    }

    #[test]
    fn unknown_variable_is_refused() {
        let err = compile("$context.requestId $context.foo").expect_err("refused");
        assert_eq!(err, "unknown variable $context.foo");
    }

    #[test]
    fn a_format_needs_a_request_id() {
        let err = compile("$context.status").expect_err("refused");
        assert!(err.contains("$context.requestId"), "{err}");
        assert!(compile("$context.extendedRequestId").is_ok());
    }

    #[test]
    fn empty_and_multi_line_formats_are_refused() {
        assert!(compile("  ").expect_err("empty").contains("empty"));
        assert!(compile("$context.requestId\n$context.status")
            .expect_err("two lines")
            .contains("one line"));
    }

    #[test]
    fn presets_compile_with_their_escaping() {
        for (name, escape, text) in [
            ("json", Escape::Json, PRESET_JSON),
            ("CLF", Escape::Clf, PRESET_CLF),
            ("csv", Escape::Csv, PRESET_CSV),
            ("Xml", Escape::Xml, PRESET_XML),
        ] {
            let f = compile(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.escape, escape, "{name}");
            assert_eq!(f.source, text);
            assert!(names(&f).contains(&"requestId"));
        }
        // A custom format's escaping follows its first character.
        assert_eq!(
            compile(" {\"id\":\"$context.requestId\"}").map(|f| f.escape),
            Ok(Escape::Json)
        );
        assert_eq!(
            compile("<r>$context.requestId</r>").map(|f| f.escape),
            Ok(Escape::Xml)
        );
    }

    #[test]
    fn every_listed_variable_is_known() {
        for v in CONTEXT_VARIABLES {
            assert!(is_context_variable(v));
        }
        assert!(is_context_variable("authorizer.claims.email"));
        assert!(is_context_variable("authorizer.tenant"));
        assert!(!is_context_variable("authorizer."));
        assert!(!is_context_variable("identity.nope"));
    }

    fn with_log(log: &str) -> String {
        minimal("", "").replace(
            "      - name: prod\n",
            &format!("      - name: prod\n        access_log: {log}\n"),
        )
    }

    #[test]
    fn stage_access_log_validates() {
        // Relative to the configuration file's directory (the tests' file is `test.yaml`).
        let snap = check(&with_log("{destination: src/access.log, format: json}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let stage = &snap.api("demo").expect("api").stages["prod"];
        let log = stage.access_log.as_ref().expect("access log");
        assert_eq!(
            log.destination,
            AccessLogDestination::File(PathBuf::from("src/access.log"))
        );
        assert_eq!(log.format.escape, Escape::Json);
        let snap = check(&with_log("{destination: stdout, format: clf}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let stage = &snap.api("demo").expect("api").stages["prod"];
        assert_eq!(
            stage.access_log.as_ref().map(|l| &l.destination),
            Some(&AccessLogDestination::Stdout)
        );
    }

    #[test]
    fn stage_access_log_errors_name_the_key() {
        let list = errors(&with_log(
            "{destination: out.log, format: '$context.requestId $context.foo'}",
        ));
        assert_error(
            &list,
            "apis[0].stages[0].access_log.format",
            "unknown variable $context.foo",
        );
        let list = errors(&with_log("{destination: '', format: json}"));
        assert_error(&list, "apis[0].stages[0].access_log.destination", "empty");
        let list = errors(&with_log("{destination: 'logs/', format: json}"));
        assert_error(
            &list,
            "apis[0].stages[0].access_log.destination",
            "directory",
        );
        let list = errors(&with_log(
            "{destination: out.log, format: '$context.status'}",
        ));
        assert_error(
            &list,
            "apis[0].stages[0].access_log.format",
            "must include $context.requestId",
        );
        let list = errors(&with_log("{destination: out.log, format: json, level: 1}"));
        assert!(!list.is_empty());
    }
}
