//! The boundary between a Lambda authorizer's answer and the IAM policy engine: a policy
//! document is compiled once, when the answer arrives, and the compiled form (what the
//! result cache keeps) is evaluated against each request's own method ARN.
//!
//! INTERIM: `auth::policy` (the policy engine, written alongside) is not on `main` yet. Until
//! it lands, this file holds a minimal evaluator of what Lambda authorizers return (Allow /
//! Deny statements on `execute-api:Invoke` with `*` and `?` wildcards in actions and
//! resources; explicit Deny wins), refusing what it does not know (`NotAction`,
//! `NotResource`, `Condition`) as an invalid answer rather than guessing. When the engine
//! lands, [`compile`] and [`CompiledPolicy::evaluate`] become calls into it and nothing
//! else in `auth::lambda` changes.

use serde_json::Value;

/// What a policy says about one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An Allow statement matches and no Deny does.
    Allowed,
    /// A Deny statement matches (whatever else does).
    ExplicitDeny,
    /// Nothing matches: denied, without an explicit deny.
    NotAllowed,
}

/// A policy document compiled for evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledPolicy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<Box<str>>,
    resources: Vec<Box<str>>,
}

/// Compile an authorizer's `policyDocument`. Errors name what is wrong (the answer is then
/// invalid: 500 `AuthorizerConfigurationException`).
pub fn compile(document: &Value) -> Result<CompiledPolicy, String> {
    let doc = document
        .as_object()
        .ok_or("policyDocument is not an object")?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err("policyDocument.Statement is not a list".into()),
        None => return Err("policyDocument has no Statement".into()),
    };
    let mut compiled = Vec::with_capacity(statements.len());
    for (i, s) in statements.into_iter().enumerate() {
        let s = s
            .as_object()
            .ok_or_else(|| format!("Statement[{i}] is not an object"))?;
        for unsupported in ["NotAction", "NotResource", "Condition", "NotPrincipal"] {
            if s.contains_key(unsupported) {
                return Err(format!("Statement[{i}].{unsupported} is not supported"));
            }
        }
        let allow = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => true,
            Some("Deny") => false,
            _ => return Err(format!("Statement[{i}].Effect is not Allow or Deny")),
        };
        compiled.push(Statement {
            allow,
            actions: strings(s.get("Action"), i, "Action")?,
            resources: strings(s.get("Resource"), i, "Resource")?,
        });
    }
    Ok(CompiledPolicy {
        statements: compiled,
    })
}

/// A string or a list of strings.
fn strings(v: Option<&Value>, i: usize, what: &str) -> Result<Vec<Box<str>>, String> {
    let bad = || format!("Statement[{i}].{what} is not a string or a list of strings");
    match v {
        Some(Value::String(s)) => Ok(vec![s.as_str().into()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(Into::into).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
        None => Err(format!("Statement[{i}] has no {what}")),
    }
}

impl CompiledPolicy {
    /// The policy's answer for invoking `method_arn`.
    pub fn evaluate(&self, method_arn: &str) -> Access {
        let mut allowed = false;
        for s in &self.statements {
            let applies = s
                .actions
                .iter()
                .any(|a| glob(a, "execute-api:Invoke", true))
                && s.resources.iter().any(|r| glob(r, method_arn, false));
            if applies {
                if !s.allow {
                    return Access::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Access::Allowed
        } else {
            Access::NotAllowed
        }
    }
}

/// IAM wildcard match: `*` any run of characters (`/` and `:` included), `?` any one.
/// Actions compare without regard to ASCII case, resources exactly.
fn glob(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: u8, b: u8| {
        if fold_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was and what it covers so far: the classic backtracking matcher,
    // linear in practice and never exponential.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/test/GET/pets/7";

    fn policy(statements: Value) -> CompiledPolicy {
        compile(&json!({"Version": "2012-10-17", "Statement": statements})).expect("compiles")
    }

    #[test]
    fn wildcards() {
        assert!(glob("*", "anything/at:all", false));
        assert!(glob(
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/*",
            ARN,
            false
        ));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(!glob("abc", "abcd", false));
        assert!(glob("a*b*c", "aXbYbZc", false));
        assert!(!glob("a*b*c", "aXbYbZ", false));
        assert!(glob("", "", false));
        assert!(!glob("", "x", false));
        assert!(!glob("ABC", "abc", false));
        assert!(glob("execute-api:*", "execute-api:Invoke", true));
        assert!(glob("EXECUTE-API:invoke", "execute-api:Invoke", true));
    }

    #[test]
    fn allow_deny_and_nothing() {
        let p = policy(json!([{
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/*"
        }]));
        assert_eq!(p.evaluate(ARN), Access::Allowed);
        assert_eq!(
            p.evaluate("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/test/POST/pets"),
            Access::NotAllowed
        );
        // Explicit Deny wins over a matching Allow, in either order.
        let p = policy(json!([
            {"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": ["*"]},
            {"Action": "execute-api:*", "Effect": "Deny", "Resource": "*/test/GET/pets/?"}
        ]));
        assert_eq!(p.evaluate(ARN), Access::ExplicitDeny);
        assert_eq!(p.evaluate(&format!("{ARN}7")), Access::Allowed);
        // Another action does not apply.
        let p = policy(json!({"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}));
        assert_eq!(p.evaluate(ARN), Access::NotAllowed);
    }

    #[test]
    fn invalid_documents() {
        for doc in [
            json!("text"),
            json!({}),
            json!({"Statement": "x"}),
            json!({"Statement": [1]}),
            json!({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": [1], "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}),
        ] {
            assert!(compile(&doc).is_err(), "{doc}");
        }
        // An empty statement list is valid and allows nothing.
        let p = compile(&json!({"Statement": []})).expect("compiles");
        assert_eq!(p.evaluate(ARN), Access::NotAllowed);
    }
}
