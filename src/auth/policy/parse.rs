//! From JSON to a compiled [`Policy`], refusing what cannot be evaluated.

use std::fmt;

use serde_json::{Map, Value};

use super::cidr::Cidr;
use super::condition::{Condition, Op, Values, KEYS, OPS};
use super::glob::{has_wildcard, ArnPattern};
use super::{
    is_account_id, ActionPattern, Effect, Policy, PrincipalPattern, Principals, Statement,
};

/// Who a policy is attached to, which decides whether statements name principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a caller: IAM identity policies, and the policy a Lambda authorizer
    /// returns. No `Principal` / `NotPrincipal` (the caller is the principal).
    Identity,
    /// Attached to the API: a REST API's resource policy. Every statement names its
    /// principals with `Principal` or `NotPrincipal`.
    Resource,
}

/// How to parse a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions<'a> {
    pub kind: PolicyKind,
    /// The API's ARN, `arn:aws:execute-api:{region}:{account}:{api-id}`: when given, a
    /// resource written in API Gateway's abbreviated form `execute-api:/{rest}` is expanded
    /// to `{api_arn}/{rest}` (as API Gateway does when a resource policy is saved).
    /// Without it the abbreviation is refused.
    pub api_arn: Option<&'a str>,
}

impl ParseOptions<'static> {
    /// An identity policy (IAM principal) or a Lambda authorizer's policy.
    pub const IDENTITY: ParseOptions<'static> = ParseOptions {
        kind: PolicyKind::Identity,
        api_arn: None,
    };
}

impl<'a> ParseOptions<'a> {
    /// A resource policy of the API whose ARN is `api_arn` (see [`ParseOptions::api_arn`]).
    pub fn resource(api_arn: Option<&'a str>) -> ParseOptions<'a> {
        ParseOptions {
            kind: PolicyKind::Resource,
            api_arn,
        }
    }
}

/// Why a document was refused: the statement (by index, and `Sid` when it has one), the
/// element (`Condition.IpAddress.aws:SourceIp`), and what is wrong. Its `Display` is one
/// line for a configuration error or an authorizer's execution log, e.g.
/// `Statement[1] (Sid "Office"): Condition.IpAddress.aws:SourceIp: "10.0.0.300/8" is not an IP address or CIDR block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The statement's index in `Statement` (0 when `Statement` is one object); `None` for
    /// the document's top level.
    pub statement: Option<usize>,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
    /// The element, as a dotted path inside the statement (or the document).
    pub element: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.statement {
            write!(f, "Statement[{i}]")?;
            if let Some(sid) = &self.sid {
                write!(f, " (Sid {sid:?})")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}: {}", self.element, self.reason)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// Parses a JSON document (`Version`, `Statement`, ...). See the module documentation
    /// for what is accepted.
    pub fn parse(json: &[u8], options: &ParseOptions<'_>) -> Result<Policy, PolicyError> {
        let value: Value = serde_json::from_slice(json).map_err(|e| PolicyError {
            statement: None,
            sid: None,
            element: "policy".into(),
            reason: format!("not a JSON document: {e}"),
        })?;
        Policy::from_value(&value, options)
    }

    /// Compiles an already parsed document (a Lambda authorizer's `policyDocument`, or a
    /// configuration file's policy turned into JSON).
    pub fn from_value(value: &Value, options: &ParseOptions<'_>) -> Result<Policy, PolicyError> {
        let top = |element: &str, reason: String| PolicyError {
            statement: None,
            sid: None,
            element: element.into(),
            reason,
        };
        let Value::Object(doc) = value else {
            return Err(top("policy", "a policy document is a JSON object".into()));
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(top(
                    key,
                    "unknown element (a policy document holds Version, Id and Statement)".into(),
                ));
            }
        }
        // Policy variables (`${aws:username}`) exist only in version 2012-10-17.
        let variables = match doc.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(v) => {
                return Err(top(
                    "Version",
                    format!("{v} is not a policy language version (2012-10-17 or 2008-10-17)"),
                ))
            }
        };
        if let Some(id) = doc.get("Id") {
            if !id.is_string() {
                return Err(top("Id", "must be a string".into()));
            }
        }
        let statements: Vec<&Value> = match doc.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => {
                return Err(top(
                    "Statement",
                    "must be a statement object or an array of them".into(),
                ))
            }
            None => return Err(top("Statement", "missing".into())),
        };
        let mut compiled = Vec::with_capacity(statements.len());
        for (index, statement) in statements.into_iter().enumerate() {
            let mut cx = Cx {
                index,
                sid: None,
                options,
                variables,
            };
            compiled.push(cx.statement(statement)?);
        }
        Ok(Policy {
            kind: options.kind,
            statements: compiled.into_boxed_slice(),
        })
    }
}

/// The statement being compiled, for error messages.
struct Cx<'o> {
    index: usize,
    sid: Option<String>,
    options: &'o ParseOptions<'o>,
    variables: bool,
}

const STATEMENT_KEYS: &str =
    "Sid, Effect, Action, NotAction, Resource, NotResource, Principal, NotPrincipal, Condition";

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Cx<'_> {
    fn err(&self, element: impl Into<String>, reason: impl Into<String>) -> PolicyError {
        PolicyError {
            statement: Some(self.index),
            sid: self.sid.clone(),
            element: element.into(),
            reason: reason.into(),
        }
    }

    fn statement(&mut self, value: &Value) -> Result<Statement, PolicyError> {
        let Value::Object(s) = value else {
            return Err(self.err(
                "Statement",
                format!("a statement is a JSON object, not {}", describe(value)),
            ));
        };
        match s.get("Sid") {
            None => {}
            Some(Value::String(sid)) => self.sid = Some(sid.clone()),
            Some(v) => {
                return Err(self.err("Sid", format!("must be a string, not {}", describe(v))))
            }
        }
        for key in s.keys() {
            if !STATEMENT_KEYS.split(", ").any(|k| k == key) {
                return Err(self.err(
                    key.as_str(),
                    format!("unknown element (a statement holds {STATEMENT_KEYS})"),
                ));
            }
        }
        let effect = match s.get("Effect") {
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(v) => {
                return Err(self.err("Effect", format!("{v} is neither \"Allow\" nor \"Deny\"")))
            }
            None => return Err(self.err("Effect", "missing")),
        };
        let (not_action, actions) = self.one_of(s, "Action", "NotAction")?;
        let actions = actions
            .into_iter()
            .map(|a| self.action(a, not_action))
            .collect::<Result<Vec<_>, _>>()?
            .into_boxed_slice();
        let (not_resource, resources) = self.one_of(s, "Resource", "NotResource")?;
        let element = if not_resource {
            "NotResource"
        } else {
            "Resource"
        };
        let resources = resources
            .into_iter()
            .map(|r| self.resource(r, element))
            .collect::<Result<Vec<_>, _>>()?
            .into_boxed_slice();
        let principal = self.principal(s)?;
        let conditions = match s.get("Condition") {
            None => Box::default(),
            Some(c) => self.conditions(c)?,
        };
        Ok(Statement {
            sid: self.sid.as_deref().map(Box::from),
            effect,
            not_action,
            actions,
            not_resource,
            resources,
            principal,
            conditions,
        })
    }

    /// Exactly one of `name` / `not_name`, as a non-empty list of strings.
    fn one_of<'v>(
        &self,
        s: &'v Map<String, Value>,
        name: &str,
        not_name: &str,
    ) -> Result<(bool, Vec<&'v str>), PolicyError> {
        let (not, element, value) = match (s.get(name), s.get(not_name)) {
            (Some(_), Some(_)) => {
                return Err(self.err(
                    format!("{name}/{not_name}"),
                    format!("a statement has {name} or {not_name}, not both"),
                ))
            }
            (Some(v), None) => (false, name, v),
            (None, Some(v)) => (true, not_name, v),
            (None, None) => {
                return Err(self.err(
                    name,
                    format!("missing (a statement needs {name} or {not_name})"),
                ))
            }
        };
        Ok((not, self.strings(element, value)?))
    }

    /// A string, or a non-empty array of strings.
    fn strings<'v>(&self, element: &str, value: &'v Value) -> Result<Vec<&'v str>, PolicyError> {
        match value {
            Value::String(one) => Ok(vec![one.as_str()]),
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.as_str()),
                    other => Err(self.err(
                        element,
                        format!("holds {}, where a string was expected", describe(other)),
                    )),
                })
                .collect(),
            Value::Array(_) => Err(self.err(element, "is an empty array")),
            other => Err(self.err(
                element,
                format!(
                    "must be a string or an array of strings, not {}",
                    describe(other)
                ),
            )),
        }
    }

    fn action(&self, action: &str, not: bool) -> Result<ActionPattern, PolicyError> {
        let element = if not { "NotAction" } else { "Action" };
        let ok = action == "*"
            || action
                .split_once(':')
                .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty());
        if !ok {
            return Err(self.err(
                element,
                format!("{action:?} is not an action (\"*\" or \"service:action\", e.g. \"execute-api:Invoke\")"),
            ));
        }
        Ok(ActionPattern::new(action))
    }

    fn no_variables(&self, element: &str, value: &str) -> Result<(), PolicyError> {
        if self.variables && value.contains("${") {
            return Err(self.err(
                element,
                format!("{value:?} uses a policy variable (${{...}}), which the gateway does not substitute"),
            ));
        }
        Ok(())
    }

    fn resource(&self, resource: &str, element: &str) -> Result<ArnPattern, PolicyError> {
        self.no_variables(element, resource)?;
        if resource == "*" || resource.starts_with("arn:") {
            return Ok(ArnPattern::new(resource));
        }
        if let Some(rest) = resource.strip_prefix("execute-api:/") {
            return match self.options.api_arn {
                Some(api) if self.options.kind == PolicyKind::Resource => {
                    Ok(ArnPattern::new(&format!("{api}/{rest}")))
                }
                _ => Err(self.err(
                    element,
                    format!("{resource:?}: the abbreviated form execute-api:/... is for an API's resource policy; write the whole ARN"),
                )),
            };
        }
        Err(self.err(
            element,
            format!("{resource:?} is not a resource (\"*\" or an ARN, e.g. \"arn:aws:execute-api:us-east-1:123456789012:api-id/stage/GET/path\")"),
        ))
    }

    fn principal(&self, s: &Map<String, Value>) -> Result<Option<Principals>, PolicyError> {
        let (not, element, value) =
            match (s.get("Principal"), s.get("NotPrincipal")) {
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        "Principal/NotPrincipal",
                        "a statement has Principal or NotPrincipal, not both",
                    ))
                }
                (Some(v), None) => (false, "Principal", v),
                (None, Some(v)) => (true, "NotPrincipal", v),
                (None, None) => return match self.options.kind {
                    PolicyKind::Identity => Ok(None),
                    PolicyKind::Resource => Err(self.err(
                        "Principal",
                        "missing (a resource policy's statement needs Principal or NotPrincipal)",
                    )),
                },
            };
        if self.options.kind == PolicyKind::Identity {
            return Err(self.err(
                element,
                "not allowed here: an identity policy (or a Lambda authorizer's policy) applies to its caller and names no principal",
            ));
        }
        let entries = match value {
            Value::String(s) if s == "*" => vec![PrincipalPattern::Any],
            Value::Object(map) if !map.is_empty() => {
                let mut entries = Vec::new();
                for (kind, v) in map {
                    let element = format!("{element}.{kind}");
                    if kind != "AWS" {
                        return Err(self.err(
                            element,
                            format!("principal type {kind:?} is not supported (callers through the gateway are AWS principals or anonymous)"),
                        ));
                    }
                    for p in self.strings(&element, v)? {
                        entries.push(self.aws_principal(&element, p)?);
                    }
                }
                entries
            }
            other => {
                return Err(self.err(
                    element,
                    format!("must be \"*\" or an object like {{\"AWS\": ...}}, not {other}"),
                ))
            }
        };
        Ok(Some(Principals {
            not,
            entries: entries.into_boxed_slice(),
        }))
    }

    fn aws_principal(&self, element: &str, p: &str) -> Result<PrincipalPattern, PolicyError> {
        if p == "*" {
            return Ok(PrincipalPattern::Any);
        }
        if is_account_id(p) {
            return Ok(PrincipalPattern::Account(p.into()));
        }
        let fields: Vec<&str> = p.splitn(6, ':').collect();
        let arn_like = fields.len() == 6
            && fields[0] == "arn"
            && !fields[1].is_empty()
            && (fields[2] == "iam" || fields[2] == "sts")
            && is_account_id(fields[4])
            && !fields[5].is_empty();
        if !arn_like {
            return Err(self.err(
                element,
                format!("{p:?} is not \"*\", a 12-digit account id or an IAM/STS principal ARN"),
            ));
        }
        if has_wildcard(p) {
            return Err(self.err(
                element,
                format!("{p:?}: a principal ARN takes no wildcards (use \"*\" with an aws:PrincipalArn condition)"),
            ));
        }
        if fields[2] == "iam" && fields[5] == "root" {
            return Ok(PrincipalPattern::Account(fields[4].into()));
        }
        Ok(PrincipalPattern::Arn(p.into()))
    }

    fn conditions(&self, value: &Value) -> Result<Box<[Condition]>, PolicyError> {
        let Value::Object(ops) = value else {
            return Err(self.err(
                "Condition",
                format!("must be an object of operators, not {}", describe(value)),
            ));
        };
        let mut out = Vec::new();
        for (op_name, keys) in ops {
            let element = format!("Condition.{op_name}");
            if op_name.starts_with("ForAnyValue:") || op_name.starts_with("ForAllValues:") {
                return Err(self.err(
                    element,
                    "set operators (ForAnyValue/ForAllValues) are for multivalued keys; the keys the gateway knows have one value",
                ));
            }
            let (base, if_exists) = match op_name.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (op_name.as_str(), false),
            };
            let Some(&(_, op)) = OPS.iter().find(|(name, _)| *name == base) else {
                let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
                return Err(self.err(
                    element,
                    format!(
                        "unsupported condition operator (supported: {}, each also with IfExists but Null)",
                        names.join(", ")
                    ),
                ));
            };
            if op == Op::Null && if_exists {
                return Err(self.err(element, "Null takes no IfExists"));
            }
            let Value::Object(keys) = keys else {
                return Err(self.err(
                    element,
                    format!(
                        "must be an object of condition keys, not {}",
                        describe(keys)
                    ),
                ));
            };
            if keys.is_empty() {
                return Err(self.err(element, "names no condition key"));
            }
            for (key_name, values) in keys {
                let element = format!("{element}.{key_name}");
                let lower = key_name.to_ascii_lowercase();
                let Some(&(_, key)) = KEYS.iter().find(|(name, _)| *name == lower) else {
                    let hint = if lower == "aws:sourcevpc" {
                        " (there are no VPCs here: use aws:SourceVpce, which is the listener's name)"
                    } else {
                        ""
                    };
                    return Err(self.err(
                        element,
                        format!("unsupported condition key{hint}; supported: aws:SourceIp, aws:SourceVpce, aws:PrincipalArn, aws:PrincipalAccount, aws:username"),
                    ));
                };
                if !op.applies_to(key) {
                    let why = match op {
                        Op::IpAddress | Op::NotIpAddress => {
                            "IP address operators apply to aws:SourceIp only"
                        }
                        Op::ArnLike | Op::ArnNotLike => {
                            "ARN operators apply to aws:PrincipalArn only"
                        }
                        _ => "aws:SourceIp takes IpAddress, NotIpAddress or Null",
                    };
                    return Err(self.err(element, why));
                }
                let values = self.values(&element, op, values)?;
                out.push(Condition {
                    op,
                    if_exists,
                    key,
                    values,
                });
            }
        }
        Ok(out.into_boxed_slice())
    }

    fn values(&self, element: &str, op: Op, value: &Value) -> Result<Values, PolicyError> {
        let items: Vec<&Value> = match value {
            Value::Array(items) if items.is_empty() => {
                return Err(self.err(element, "is an empty array"))
            }
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        if op == Op::Null {
            return match items.as_slice() {
                [Value::Bool(b)] => Ok(Values::Null(*b)),
                [Value::String(s)] if s == "true" => Ok(Values::Null(true)),
                [Value::String(s)] if s == "false" => Ok(Values::Null(false)),
                _ => Err(self.err(element, "Null takes \"true\" or \"false\"")),
            };
        }
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            texts.push(match item {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(self.err(
                        element,
                        format!("holds {}, where a string was expected", describe(other)),
                    ))
                }
            });
        }
        match op {
            Op::IpAddress | Op::NotIpAddress => texts
                .iter()
                .map(|t| Cidr::parse(t).map_err(|why| self.err(element, why)))
                .collect::<Result<Vec<_>, _>>()
                .map(|c| Values::Cidrs(c.into_boxed_slice())),
            Op::ArnLike | Op::ArnNotLike => {
                let mut arns = Vec::with_capacity(texts.len());
                for t in &texts {
                    self.no_variables(element, t)?;
                    if t != "*" && !t.starts_with("arn:") {
                        return Err(self.err(element, format!("{t:?} is not an ARN")));
                    }
                    arns.push(ArnPattern::new(t));
                }
                Ok(Values::Arns(arns.into_boxed_slice()))
            }
            _ => {
                for t in &texts {
                    self.no_variables(element, t)?;
                }
                Ok(Values::Strings(
                    texts.into_iter().map(String::into_boxed_str).collect(),
                ))
            }
        }
    }
}
