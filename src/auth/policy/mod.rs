//! IAM policy documents, as API Gateway evaluates them: IAM identity policies (IAM
//! authorization), the policy a Lambda authorizer returns, and REST APIs' resource
//! policies. Pure code: parse a document once ([`Policy::parse`], [`Policy::from_value`])
//! into an immutable [`Policy`] (plain owned data, `Send + Sync`, cheap to share), then
//! evaluate it against each request's [`RequestFacts`] without allocating ([`evaluate`],
//! [`Policy::evaluate`]) to a [`Decision`]. [`combine`] folds the resource policy's decision
//! with the authorizer's the way API Gateway documents it, and [`Denial`] writes API
//! Gateway's 403 messages.
//!
//! What a document may hold (anything else is refused at parse time with a [`PolicyError`]
//! naming the statement and the element):
//! - `Version` (`2012-10-17` or `2008-10-17`; absent means `2008-10-17`, as IAM), `Id`,
//!   `Statement` (one object or an array);
//! - per statement: `Sid`, `Effect` (`Allow` | `Deny`), exactly one of `Action` /
//!   `NotAction` (a string or an array: `*` or `service:action`, wildcards `*` `?`,
//!   case-insensitive), exactly one of `Resource` / `NotResource` (`*` or ARNs with
//!   wildcards, see [`ArnPattern`](glob::ArnPattern); in resource policies API Gateway's
//!   abbreviation `execute-api:/stage/METHOD/path` when [`ParseOptions::api_arn`] is given),
//!   `Principal` / `NotPrincipal` (resource policies only, and one of them required there:
//!   `*`, `{"AWS": "*" | account id | ARN | [...]}`), `Condition` (see [`condition`]).
//!
//! Evaluation is IAM's: a statement applies when its action, resource, principal and every
//! condition match; any applying `Deny` makes the result [`Decision::ExplicitDeny`];
//! otherwise any applying `Allow` makes it [`Decision::Allow`]; otherwise
//! [`Decision::NoMatch`] (an implicit deny).

mod cidr;
mod combine;
mod condition;
mod glob;
mod parse;

use std::net::IpAddr;

pub use cidr::{canonical_ip, Cidr};
pub use combine::{before_authorizer, combine, Authorization, Denial, DenialText, Outcome};
pub use parse::{ParseOptions, PolicyError, PolicyKind};

use condition::Condition;
use glob::{glob, ArnPattern};

/// What evaluating policies decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A statement with `"Effect": "Deny"` applies: nothing else can allow the request.
    ExplicitDeny,
    /// A statement with `"Effect": "Allow"` applies and no `Deny` does.
    Allow,
    /// No statement applies: an implicit deny ("neither allow nor deny").
    NoMatch,
}

/// An authenticated IAM caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The principal's ARN (`arn:aws:iam::123456789012:user/alice`, a role ARN, ...):
    /// `aws:PrincipalArn`, and what `Principal` ARNs are compared with.
    pub arn: &'a str,
    /// The 12-digit account: `aws:PrincipalAccount`, and what account principals
    /// (`123456789012`, `arn:aws:iam::123456789012:root`) are compared with.
    pub account: &'a str,
}

impl<'a> Caller<'a> {
    /// A caller from its ARN, the account taken from the ARN's fifth field; `None` when the
    /// ARN has no 12-digit account there.
    pub fn from_arn(arn: &'a str) -> Option<Caller<'a>> {
        let account = arn.split(':').nth(4)?;
        is_account_id(account).then_some(Caller { arn, account })
    }

    /// `aws:username`: for an IAM user (`arn:...:iam::ACCOUNT:user/path/NAME`) its name,
    /// otherwise `None`.
    pub fn username(&self) -> Option<&'a str> {
        let resource = self.arn.splitn(6, ':').nth(5)?;
        let rest = resource.strip_prefix("user/")?;
        let name = rest.rsplit('/').next()?;
        (!name.is_empty()).then_some(name)
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What a request is, for policy evaluation. Built by the caller from the request context;
/// borrowed, so building it costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The action, `execute-api:Invoke` (or `execute-api:InvalidateCache`).
    pub action: &'a str,
    /// The method ARN:
    /// `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{resource-path}`
    /// (the path without its leading `/`; the root resource is an empty path).
    pub resource: &'a str,
    /// The IAM caller, `None` for an anonymous one (no IAM authorization).
    pub caller: Option<Caller<'a>>,
    /// The client address (`aws:SourceIp`); IPv4-mapped IPv6 addresses count as IPv4.
    pub source_ip: IpAddr,
    /// The listener's name, standing for `aws:SourceVpce`.
    pub source_vpce: Option<&'a str>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// An `Action` / `NotAction` entry: `*` or `service:action`, with wildcards, matched
/// case-insensitively (IAM's action names are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionPattern {
    text: Box<str>,
    wildcard: bool,
}

impl ActionPattern {
    pub(crate) fn new(text: &str) -> ActionPattern {
        ActionPattern {
            text: text.into(),
            wildcard: glob::has_wildcard(text),
        }
    }

    #[inline]
    fn matches(&self, action: &str) -> bool {
        if self.wildcard {
            glob(self.text.as_bytes(), action.as_bytes(), true)
        } else {
            self.text.eq_ignore_ascii_case(action)
        }
    }
}

/// A `Principal` / `NotPrincipal` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalPattern {
    /// `*` or `{"AWS": "*"}`: everyone, anonymous callers too.
    Any,
    /// An account (`123456789012` or `arn:aws:iam::123456789012:root`): any IAM caller of it.
    Account(Box<str>),
    /// One principal's ARN, compared exactly.
    Arn(Box<str>),
}

impl PrincipalPattern {
    fn matches(&self, caller: Option<Caller<'_>>) -> bool {
        match (self, caller) {
            (PrincipalPattern::Any, _) => true,
            (PrincipalPattern::Account(a), Some(c)) => **a == *c.account,
            (PrincipalPattern::Arn(arn), Some(c)) => **arn == *c.arn,
            (_, None) => false,
        }
    }
}

/// A statement's `Principal` (`not: false`) or `NotPrincipal` (`not: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principals {
    pub(crate) not: bool,
    pub(crate) entries: Box<[PrincipalPattern]>,
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<Box<str>>,
    pub(crate) effect: Effect,
    /// `true` for `NotAction`.
    pub(crate) not_action: bool,
    pub(crate) actions: Box<[ActionPattern]>,
    /// `true` for `NotResource`.
    pub(crate) not_resource: bool,
    pub(crate) resources: Box<[ArnPattern]>,
    /// Present in resource policies only.
    pub(crate) principal: Option<Principals>,
    pub(crate) conditions: Box<[Condition]>,
}

impl Statement {
    /// Whether the statement applies to the request (`ip`: the canonical client address).
    #[inline]
    fn applies(&self, facts: &RequestFacts<'_>, ip: IpAddr) -> bool {
        let action = self.actions.iter().any(|a| a.matches(facts.action));
        if action == self.not_action {
            return false;
        }
        let resource = self.resources.iter().any(|r| r.matches(facts.resource));
        if resource == self.not_resource {
            return false;
        }
        if let Some(principals) = &self.principal {
            let principal = principals.entries.iter().any(|p| p.matches(facts.caller));
            if principal == principals.not {
                return false;
            }
        }
        self.conditions.iter().all(|c| c.holds(facts, ip))
    }
}

/// A parsed, compiled policy document. Immutable; evaluating it does not allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) statements: Box<[Statement]>,
}

impl Policy {
    /// Whether this is an identity or a resource policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether the policy has no statements (it decides [`Decision::NoMatch`]).
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// This policy's decision for the request.
    pub fn evaluate(&self, facts: &RequestFacts<'_>) -> Decision {
        evaluate(std::slice::from_ref(self), facts)
    }

    /// The `Sid` of the first statement that decides the request: the first applying `Deny`,
    /// else the first applying `Allow` (`None` when none applies or it has no `Sid`). For
    /// logs; not on the request's fast path.
    pub fn deciding_sid(&self, facts: &RequestFacts<'_>) -> Option<&str> {
        let ip = canonical_ip(facts.source_ip);
        let applying = |e: Effect| {
            self.statements
                .iter()
                .find(|s| s.effect == e && s.applies(facts, ip))
        };
        applying(Effect::Deny)
            .or_else(|| applying(Effect::Allow))
            .and_then(|s| s.sid.as_deref())
    }
}

/// The decision of several policies together (an IAM caller's identity policies): any
/// applying `Deny` wins, then any applying `Allow`, else [`Decision::NoMatch`].
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    facts: &RequestFacts<'_>,
) -> Decision {
    let ip = canonical_ip(facts.source_ip);
    let mut allowed = false;
    for policy in policies {
        for statement in policy.statements.iter() {
            // After an Allow only a Deny can change the answer.
            if allowed && statement.effect == Effect::Allow {
                continue;
            }
            if statement.applies(facts, ip) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::NoMatch
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
