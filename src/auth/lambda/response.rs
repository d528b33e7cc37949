//! A Lambda authorizer's answer, read the way API Gateway reads it.
//!
//! - REST (TOKEN and REQUEST) and HTTP APIs' IAM-policy answers: `principalId` (a string),
//!   `policyDocument` (an identity policy, compiled by `auth::policy`), an optional `context` and,
//!   for REST, an optional `usageIdentifierKey` (the API key when the API's key source is
//!   `AUTHORIZER`). REST context values must be strings, numbers or booleans; anything else
//!   (an object, a list, null) makes the answer invalid. HTTP APIs also take objects and
//!   lists (AWS's HTTP API examples return them); they are kept as JSON text.
//! - HTTP APIs' simple answers (payload 2.0 with simple responses on): `isAuthorized` (a
//!   boolean) and an optional `context`.
//! - Errors: the function's `Unauthorized` error (`{"errorMessage":"Unauthorized"}`, with
//!   `X-Amz-Function-Error` from the Lambda Invoke API), or a 401 from an HTTP endpoint, is
//!   [`Refusal::Unauthorized`] (401). Any other function error, a non-2xx status, a body that
//!   is not the expected JSON: [`Refusal::Invalid`] (500 `AuthorizerConfigurationException`).

use serde_json::{Map, Value};

use crate::auth::policy::{Decision, ParseOptions, Policy, RequestFacts};

/// Which answer the authorizer's configuration expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// REST TOKEN / REQUEST authorizers: an IAM policy, REST context rules.
    RestPolicy,
    /// HTTP API payload 1.0, or 2.0 without simple responses: an IAM policy.
    HttpPolicy,
    /// HTTP API payload 2.0 with simple responses: `isAuthorized`.
    HttpSimple,
}

/// The authorizer endpoint's reply as received.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    pub status: u16,
    /// The Lambda Invoke API's `X-Amz-Function-Error` header was present: the body is the
    /// function's error.
    pub function_error: bool,
    pub body: &'a [u8],
}

/// Why an answer authorizes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The function said `Unauthorized`: 401 `{"message":"Unauthorized"}`.
    Unauthorized,
    /// A function error or an answer that is not valid: 500
    /// `AuthorizerConfigurationException`. The text is for logs (`$context.authorizer.error`).
    Invalid(String),
}

/// A value of the answer's `context` map.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    String(Box<str>),
    /// As serde_json writes the number.
    Number(Box<str>),
    Bool(bool),
    /// HTTP APIs only: an object, a list or null, as JSON text.
    Json(Box<str>),
}

impl ContextValue {
    /// The value as `$context.authorizer.KEY` shows it ("the returned values are all
    /// stringified").
    pub fn as_text(&self) -> &str {
        match self {
            ContextValue::String(s) | ContextValue::Number(s) | ContextValue::Json(s) => s,
            ContextValue::Bool(true) => "true",
            ContextValue::Bool(false) => "false",
        }
    }
}

/// How the answer decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// A simple answer: every route allowed or none.
    Simple(bool),
    /// An IAM policy, evaluated against each request (its method ARN, source address).
    Policy(Policy),
}

/// A valid answer, compiled: what the result cache keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerResult {
    /// `principalId` (`$context.authorizer.principalId`); none for simple answers.
    pub principal_id: Option<Box<str>>,
    pub grant: Grant,
    /// `context`, in the answer's order (`$context.authorizer.KEY`).
    pub context: Vec<(Box<str>, ContextValue)>,
    /// `usageIdentifierKey`: the API key when the API's key source is `AUTHORIZER`.
    pub usage_identifier_key: Option<Box<str>>,
}

impl AuthorizerResult {
    /// What this answer says about the request `facts` describe (its method ARN as the
    /// resource): a simple `true` allows every method; `false` allows none, without an
    /// explicit deny.
    pub fn decide(&self, facts: &RequestFacts<'_>) -> Decision {
        match &self.grant {
            Grant::Simple(true) => Decision::Allow,
            Grant::Simple(false) => Decision::NoMatch,
            Grant::Policy(p) => p.evaluate(facts),
        }
    }

    /// [`AuthorizerResult::decide`] for invoking `method_arn` by an anonymous caller from
    /// `0.0.0.0` (policies without conditions on the caller).
    pub fn decide_for(&self, method_arn: &str) -> Decision {
        self.decide(&RequestFacts {
            action: "execute-api:Invoke",
            resource: method_arn,
            caller: None,
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            source_vpce: None,
        })
    }

    /// `$context.authorizer.KEY` for a key of the answer's context.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v.as_text())
    }
}

/// Read an authorizer's reply.
pub fn parse(reply: Reply<'_>, expect: Expect) -> Result<AuthorizerResult, Refusal> {
    if reply.status == 401 {
        return Err(Refusal::Unauthorized);
    }
    if !(200..300).contains(&reply.status) {
        return Err(Refusal::Invalid(format!(
            "authorizer endpoint answered {}",
            reply.status
        )));
    }
    let body: Value = serde_json::from_slice(reply.body)
        .map_err(|e| Refusal::Invalid(format!("authorizer answer is not JSON: {e}")))?;
    let Value::Object(body) = body else {
        return Err(Refusal::Invalid(
            "authorizer answer is not a JSON object".into(),
        ));
    };
    // A function error, told by the Invoke API's header or (from emulators and plain HTTP
    // endpoints that do not send it) by the error shape of the body.
    let error_shaped = body.contains_key("errorMessage")
        && !body.contains_key("policyDocument")
        && !body.contains_key("isAuthorized");
    if reply.function_error || error_shaped {
        return match body.get("errorMessage").and_then(Value::as_str) {
            Some("Unauthorized") => Err(Refusal::Unauthorized),
            Some(message) => Err(Refusal::Invalid(format!(
                "authorizer function error: {}",
                truncate(message, 256)
            ))),
            None => Err(Refusal::Invalid("authorizer function error".into())),
        };
    }
    let rest = expect == Expect::RestPolicy;
    let context = match body.get("context") {
        None => Vec::new(),
        Some(Value::Object(map)) => context(map, rest)?,
        Some(Value::Null) if !rest => Vec::new(),
        Some(_) => return Err(Refusal::Invalid("context is not an object".into())),
    };
    if expect == Expect::HttpSimple {
        let allowed = match body.get("isAuthorized") {
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Refusal::Invalid("isAuthorized is not a boolean".into())),
            None => return Err(Refusal::Invalid("answer has no isAuthorized".into())),
        };
        return Ok(AuthorizerResult {
            principal_id: None,
            grant: Grant::Simple(allowed),
            context,
            usage_identifier_key: None,
        });
    }
    let principal_id = match body.get("principalId") {
        Some(Value::String(s)) => s.as_str().into(),
        Some(_) => return Err(Refusal::Invalid("principalId is not a string".into())),
        None => return Err(Refusal::Invalid("answer has no principalId".into())),
    };
    let policy = body
        .get("policyDocument")
        .ok_or_else(|| Refusal::Invalid("answer has no policyDocument".into()))?;
    let policy = Policy::from_value(policy, &ParseOptions::IDENTITY)
        .map_err(|e| Refusal::Invalid(format!("policyDocument: {e}")))?;
    let usage_identifier_key = match body.get("usageIdentifierKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if rest => Some(s.as_str().into()),
        Some(Value::String(_)) => None, // HTTP APIs have no usage plans
        Some(_) => {
            return Err(Refusal::Invalid(
                "usageIdentifierKey is not a string".into(),
            ))
        }
    };
    Ok(AuthorizerResult {
        principal_id: Some(principal_id),
        grant: Grant::Policy(policy),
        context,
        usage_identifier_key,
    })
}

fn context(map: &Map<String, Value>, rest: bool) -> Result<Vec<(Box<str>, ContextValue)>, Refusal> {
    map.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => ContextValue::String(s.as_str().into()),
                Value::Number(n) => ContextValue::Number(n.to_string().into()),
                Value::Bool(b) => ContextValue::Bool(*b),
                _ if rest => {
                    return Err(Refusal::Invalid(format!(
                        "context value of {} is not a string, number or boolean",
                        truncate(k, 64)
                    )))
                }
                other => ContextValue::Json(other.to_string().into()),
            };
            Ok((k.as_str().into(), value))
        })
        .collect()
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/test/GET/pets";

    fn ok(body: &Value) -> Reply<'static> {
        reply(200, false, body)
    }

    fn reply(status: u16, function_error: bool, body: &Value) -> Reply<'static> {
        Reply {
            status,
            function_error,
            body: Box::leak(body.to_string().into_bytes().into_boxed_slice()),
        }
    }

    fn invalid(r: Result<AuthorizerResult, Refusal>) -> String {
        match r {
            Err(Refusal::Invalid(why)) => why,
            other => panic!("expected an invalid answer, got {other:?}"),
        }
    }

    #[test]
    fn awss_rest_example_answer() {
        // AWS's documented output, with all its parts.
        let body = json!({
            "principalId": "yyyyyyyy",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/*"
                }]
            },
            "context": {"stringKey": "value", "numberKey": 1, "booleanKey": true},
            "usageIdentifierKey": "api-key-1"
        });
        let r = parse(ok(&body), Expect::RestPolicy).expect("valid");
        assert_eq!(r.principal_id.as_deref(), Some("yyyyyyyy"));
        assert_eq!(r.usage_identifier_key.as_deref(), Some("api-key-1"));
        assert_eq!(r.context_value("stringKey"), Some("value"));
        assert_eq!(r.context_value("numberKey"), Some("1"));
        assert_eq!(r.context_value("booleanKey"), Some("true"));
        assert_eq!(r.context_value("missing"), None);
        assert_eq!(r.decide_for(ARN), Decision::Allow);
        assert_eq!(
            r.decide_for("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/test/POST/pets"),
            Decision::NoMatch
        );
        // AWS's Deny example.
        let body = json!({
            "principalId": "user",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/"
                }]
            }
        });
        let r = parse(ok(&body), Expect::RestPolicy).expect("valid");
        assert_eq!(
            r.decide_for("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/test/GET/"),
            Decision::ExplicitDeny
        );
        assert!(r.context.is_empty());
        assert_eq!(r.usage_identifier_key, None);
    }

    #[test]
    fn rest_context_values_must_be_scalars() {
        for bad in [
            json!({"a": [1]}),
            json!({"a": {"b": 1}}),
            json!({"a": null}),
        ] {
            let body = json!({
                "principalId": "p",
                "policyDocument": {"Statement": []},
                "context": bad
            });
            let why = invalid(parse(ok(&body), Expect::RestPolicy));
            assert!(why.contains("context value of a"), "{why}");
        }
        let body = json!({"principalId": "p", "policyDocument": {"Statement": []}, "context": 5});
        invalid(parse(ok(&body), Expect::RestPolicy));
        // HTTP APIs keep objects and lists as JSON text (AWS's HTTP API example does so).
        let body = json!({
            "principalId": "p",
            "policyDocument": {"Statement": []},
            "context": {"arrayKey": ["value1", "value2"], "mapKey": {"value1": "value2"}, "n": 1.5}
        });
        let r = parse(ok(&body), Expect::HttpPolicy).expect("valid");
        assert_eq!(r.context_value("arrayKey"), Some(r#"["value1","value2"]"#));
        assert_eq!(r.context_value("mapKey"), Some(r#"{"value1":"value2"}"#));
        assert_eq!(r.context_value("n"), Some("1.5"));
        assert_eq!(
            r.context[0].1,
            ContextValue::Json(r#"["value1","value2"]"#.into())
        );
    }

    #[test]
    fn rest_answers_need_principal_and_policy() {
        for (body, why) in [
            (
                json!({"policyDocument": {"Statement": []}}),
                "no principalId",
            ),
            (
                json!({"principalId": 7, "policyDocument": {"Statement": []}}),
                "principalId is not a string",
            ),
            (json!({"principalId": "p"}), "no policyDocument"),
            (
                json!({"principalId": "p", "policyDocument": {"Statement": "x"}}),
                "Statement",
            ),
            (
                json!({"principalId": "p", "policyDocument": {"Statement": []}, "usageIdentifierKey": 5}),
                "usageIdentifierKey",
            ),
            // A simple answer where a policy is expected.
            (json!({"isAuthorized": true}), "no principalId"),
        ] {
            let got = invalid(parse(ok(&body), Expect::RestPolicy));
            assert!(got.contains(why), "{body}: {got}");
        }
        for body in [&b"not json"[..], b"[1,2]", b"\"allow\"", b""] {
            let r = Reply {
                status: 200,
                function_error: false,
                body,
            };
            invalid(parse(r, Expect::RestPolicy));
        }
    }

    #[test]
    fn http_simple_answers() {
        let body = json!({"isAuthorized": true, "context": {"exampleKey": "exampleValue"}});
        let r = parse(ok(&body), Expect::HttpSimple).expect("valid");
        assert_eq!(r.grant, Grant::Simple(true));
        assert_eq!(r.decide_for(ARN), Decision::Allow);
        assert_eq!(r.decide_for("any other arn"), Decision::Allow);
        assert_eq!(r.context_value("exampleKey"), Some("exampleValue"));
        assert_eq!(r.principal_id, None);
        let r = parse(ok(&json!({"isAuthorized": false})), Expect::HttpSimple).expect("valid");
        assert_eq!(r.decide_for(ARN), Decision::NoMatch);
        for body in [
            json!({"isAuthorized": "true"}),
            json!({"context": {}}),
            json!({"principalId": "p", "policyDocument": {"Statement": []}}),
        ] {
            invalid(parse(ok(&body), Expect::HttpSimple));
        }
    }

    #[test]
    fn http_policy_answers() {
        let body = json!({
            "principalId": "abcdef",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}]
            },
            "context": {"exampleKey": "exampleValue"},
            "usageIdentifierKey": "ignored"
        });
        let r = parse(ok(&body), Expect::HttpPolicy).expect("valid");
        assert_eq!(r.decide_for(ARN), Decision::Allow);
        assert_eq!(r.principal_id.as_deref(), Some("abcdef"));
        // HTTP APIs have no usage plans: the key is not taken.
        assert_eq!(r.usage_identifier_key, None);
        invalid(parse(
            ok(&json!({"isAuthorized": true})),
            Expect::HttpPolicy,
        ));
    }

    #[test]
    fn errors_unauthorized_and_others() {
        // Node's callback("Unauthorized") through the Invoke API.
        let body = json!({"errorMessage": "Unauthorized"});
        assert_eq!(
            parse(reply(200, true, &body), Expect::RestPolicy),
            Err(Refusal::Unauthorized)
        );
        // Python's raise Exception("Unauthorized"): more fields, same message.
        let body =
            json!({"errorMessage": "Unauthorized", "errorType": "Exception", "stackTrace": []});
        assert_eq!(
            parse(reply(200, true, &body), Expect::HttpSimple),
            Err(Refusal::Unauthorized)
        );
        // Without the header (an emulator or a plain endpoint), the error shape tells.
        assert_eq!(
            parse(reply(200, false, &body), Expect::RestPolicy),
            Err(Refusal::Unauthorized)
        );
        // An HTTP endpoint's 401.
        assert_eq!(
            parse(reply(401, false, &json!({})), Expect::RestPolicy),
            Err(Refusal::Unauthorized)
        );
        // Any other error is a configuration error (500), the message kept for logs.
        let body = json!({"errorMessage": "unauthorized"});
        let why = invalid(parse(reply(200, true, &body), Expect::RestPolicy));
        assert!(why.contains("unauthorized"), "{why}");
        let body = json!({"errorMessage": "Task timed out after 3.00 seconds"});
        invalid(parse(reply(200, true, &body), Expect::RestPolicy));
        // A function error whose body is no error object.
        invalid(parse(
            Reply {
                status: 200,
                function_error: true,
                body: b"{}",
            },
            Expect::RestPolicy,
        ));
        for status in [403, 404, 429, 500, 502, 503] {
            let why = invalid(parse(reply(status, false, &json!({})), Expect::RestPolicy));
            assert!(why.contains(&status.to_string()), "{why}");
        }
        // A huge error message is cut for the log.
        let long = "é".repeat(1000);
        let why = invalid(parse(
            reply(200, true, &json!({"errorMessage": long})),
            Expect::RestPolicy,
        ));
        assert!(why.len() < 300, "{}", why.len());
    }
}
