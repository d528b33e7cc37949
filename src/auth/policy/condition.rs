//! The `Condition` element: the operators and keys that can be decided from a request's
//! facts. Anything else is refused when the policy is parsed.

use std::net::IpAddr;

use super::cidr::Cidr;
use super::glob::{glob, ArnPattern};
use super::RequestFacts;

/// A condition key the gateway knows a value for (or knows to be absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// `aws:SourceIp`: the client address.
    SourceIp,
    /// `aws:SourceVpce`: the name of the listener the request came in on.
    SourceVpce,
    /// `aws:PrincipalArn`: the IAM caller's ARN; absent for anonymous callers.
    PrincipalArn,
    /// `aws:PrincipalAccount`: the IAM caller's account; absent for anonymous callers.
    PrincipalAccount,
    /// `aws:username`: the IAM user's name (the last part of a `:user/` ARN); absent for
    /// other callers.
    Username,
}

/// The keys the parser accepts, by lower-case name (IAM's key names are case-insensitive).
pub(crate) const KEYS: &[(&str, Key)] = &[
    ("aws:sourceip", Key::SourceIp),
    ("aws:sourcevpce", Key::SourceVpce),
    ("aws:principalarn", Key::PrincipalArn),
    ("aws:principalaccount", Key::PrincipalAccount),
    ("aws:username", Key::Username),
];

/// A condition operator, without its `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    /// `ArnEquals` and `ArnLike` (IAM treats them alike: both take wildcards).
    ArnLike,
    /// `ArnNotEquals` and `ArnNotLike`.
    ArnNotLike,
    IpAddress,
    NotIpAddress,
    Null,
}

pub(crate) const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringNotEquals", Op::StringNotEquals),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Op::StringNotEqualsIgnoreCase),
    ("StringLike", Op::StringLike),
    ("StringNotLike", Op::StringNotLike),
    ("ArnEquals", Op::ArnLike),
    ("ArnLike", Op::ArnLike),
    ("ArnNotEquals", Op::ArnNotLike),
    ("ArnNotLike", Op::ArnNotLike),
    ("IpAddress", Op::IpAddress),
    ("NotIpAddress", Op::NotIpAddress),
    ("Null", Op::Null),
];

impl Op {
    /// Negated operators hold when no value matches, and when the key is absent.
    pub(crate) fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::ArnNotLike
                | Op::NotIpAddress
        )
    }

    /// Whether this operator applies to `key` (IP operators to `aws:SourceIp` only, ARN
    /// operators to `aws:PrincipalArn` only, string operators to the string keys).
    pub(crate) fn applies_to(self, key: Key) -> bool {
        match self {
            Op::Null => true,
            Op::IpAddress | Op::NotIpAddress => key == Key::SourceIp,
            Op::ArnLike | Op::ArnNotLike => key == Key::PrincipalArn,
            _ => key != Key::SourceIp,
        }
    }
}

/// The values a condition compares with, compiled for its operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Values {
    Strings(Box<[Box<str>]>),
    Arns(Box<[ArnPattern]>),
    Cidrs(Box<[Cidr]>),
    /// `Null`: `true` means "the key must be absent".
    Null(bool),
}

/// One (operator, key, values) triple of a `Condition` block. A statement's conditions all
/// have to hold (AND); a condition holds when any of its values matches (OR), or, for a
/// negated operator, when none does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) op: Op,
    pub(crate) if_exists: bool,
    pub(crate) key: Key,
    pub(crate) values: Values,
}

/// A key's value in a request.
enum Fact<'a> {
    Str(&'a str),
    Ip(IpAddr),
}

fn fact<'a>(key: Key, facts: &RequestFacts<'a>, ip: IpAddr) -> Option<Fact<'a>> {
    match key {
        Key::SourceIp => Some(Fact::Ip(ip)),
        Key::SourceVpce => facts.source_vpce.map(Fact::Str),
        Key::PrincipalArn => facts.caller.map(|c| Fact::Str(c.arn)),
        Key::PrincipalAccount => facts.caller.map(|c| Fact::Str(c.account)),
        Key::Username => facts.caller.and_then(|c| c.username()).map(Fact::Str),
    }
}

impl Condition {
    /// Whether the condition holds for the request (`ip`: the canonical client address).
    ///
    /// A key absent from the request: `Null` compares its absence; `...IfExists` holds;
    /// a negated operator holds; any other fails (IAM's documented rules).
    pub(crate) fn holds(&self, facts: &RequestFacts<'_>, ip: IpAddr) -> bool {
        let value = fact(self.key, facts, ip);
        if let Values::Null(want_absent) = self.values {
            return value.is_none() == want_absent;
        }
        let Some(value) = value else {
            return self.if_exists || self.op.negated();
        };
        let any = match (&self.values, value) {
            (Values::Cidrs(cidrs), Fact::Ip(ip)) => cidrs.iter().any(|c| c.contains(ip)),
            (Values::Arns(arns), Fact::Str(s)) => arns.iter().any(|a| a.matches(s)),
            (Values::Strings(strings), Fact::Str(s)) => strings.iter().any(|v| match self.op {
                Op::StringEquals | Op::StringNotEquals => **v == *s,
                Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => {
                    v.eq_ignore_ascii_case(s)
                }
                _ => glob(v.as_bytes(), s.as_bytes(), false),
            }),
            // The parser pairs operators, keys and values; nothing else is built.
            _ => false,
        };
        any != self.op.negated()
    }
}
