//! A REST API's resource policy, before and after the route's authorizer, as API Gateway's
//! "How API Gateway resource policies affect authorization workflow" describes it (the
//! decision tables are `auth::policy::combine`'s):
//!
//! - [`before`] evaluates the policy for an anonymous caller (`aws:SourceIp`, the listener
//!   as `aws:SourceVpce`, the method ARN). Without authorization and with a Lambda
//!   authorizer an explicit Deny ends the request here, before any authorizer call or cache
//!   lookup. A JWT / Cognito route first verifies its token (a bad token is a 401 even from
//!   a denied address, as API Gateway authenticates before it evaluates), and an IAM route
//!   first authenticates its signature: their policy decisions are applied by [`after`].
//! - [`after`] combines the resource policy's decision (for IAM routes evaluated now, with
//!   the signed caller as principal) with the authorizer's, and writes API Gateway's 403
//!   text for a refusal: `User: {anonymous | caller ARN} is not authorized to perform:
//!   execute-api:Invoke on resource: {method ARN}[ with an explicit deny]`, or a Lambda
//!   authorizer's `User is not authorized to access this resource[ with an explicit deny]`.
//!
//! `aws:SourceIp` is `$context.identity.sourceIp` (`rc.source_ip`): the TCP peer's address.
//! No listener is trusted for a PROXY protocol header or `X-Forwarded-For` today (the
//! configuration has no such setting); when one is added it sets `rc.source_ip`, and the
//! policy follows.
//!
//! Cost: nothing on APIs without a resource policy. With one, the method ARN is written into
//! a buffer this worker reuses (taken by [`before`], handed back when the request's
//! [`Pending`] is dropped), so an evaluation allocates nothing; only a refusal allocates its
//! message.

use std::cell::RefCell;
use std::net::IpAddr;

use super::{method_arn, Outcome, Verdict};
use crate::auth::policy::{
    before_authorizer, combine, Authorization, Caller, Decision, Denial, Outcome as Decided,
    RequestFacts,
};
use crate::config::authorizer::AuthorizationType;
use crate::config::resource_policy::ResourcePolicy;
use crate::config::snapshot::ApiType;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;

/// The action API Gateway authorizes for a method call.
pub const INVOKE: &str = "execute-api:Invoke";

/// HTTP APIs' 403 text (their authorizers refuse without saying why).
pub const FORBIDDEN: &str = "Forbidden";

/// What [`before`] leaves for [`after`]: `None` when the API has no resource policy.
pub type Before = Option<Pending>;

/// A resource policy evaluation in progress.
#[derive(Debug)]
pub struct Pending {
    /// The request's method ARN (this worker's reused buffer).
    arn: String,
    /// The decision for an anonymous caller; `None` on IAM routes, whose caller is known
    /// only after the signature is verified.
    anonymous: Option<Decision>,
}

thread_local! {
    /// This worker's method-ARN buffer (a worker is one thread). A request holds it from
    /// `before` to `after`; a request overlapping it starts from an empty string.
    static ARN: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Pending {
    fn new() -> Pending {
        Pending {
            arn: ARN.with(|b| std::mem::take(&mut *b.borrow_mut())),
            anonymous: None,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut arn = std::mem::take(&mut self.arn);
        arn.clear();
        ARN.with(|b| {
            if let Ok(mut slot) = b.try_borrow_mut() {
                if slot.capacity() < arn.capacity() {
                    *slot = arn;
                }
            }
        });
    }
}

/// The facts of a request for the policy.
fn facts<'a, S: Session>(
    snapshot: &'a Snapshot,
    session: &S,
    rc: &RequestContext,
    arn: &'a str,
    caller: Option<Caller<'a>>,
) -> RequestFacts<'a> {
    RequestFacts {
        action: INVOKE,
        resource: arn,
        caller,
        source_ip: source_ip(rc),
        source_vpce: snapshot
            .listeners
            .get(session.listener())
            .map(|l| l.name.as_str()),
    }
}

/// `aws:SourceIp`: the client address as `$context.identity.sourceIp` has it.
fn source_ip(rc: &RequestContext) -> IpAddr {
    rc.source_ip
}

/// Evaluate the resource policy for what is known before any authorizer (source IP,
/// listener, the method ARN): without authorization or with a Lambda authorizer, an
/// explicit Deny ends the request here.
pub fn before<S: Session>(
    snapshot: &Snapshot,
    session: &S,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<Before, GatewayError> {
    let Some(resource_policy) = routed.api.resource_policy.as_ref() else {
        return Ok(None);
    };
    let mut pending = Pending::new();
    method_arn(snapshot, rc, &mut pending.arn);
    let kind = routed.route.authorization.kind;
    if kind == AuthorizationType::AwsIam {
        return Ok(Some(pending));
    }
    let decision = evaluate(resource_policy, snapshot, session, rc, &pending.arn, None);
    pending.anonymous = Some(decision);
    if matches!(kind, AuthorizationType::None | AuthorizationType::Custom) {
        if let Some(denial) = before_authorizer(Some(decision)) {
            return Err(refuse(routed, denial, None, &pending.arn));
        }
    }
    Ok(Some(pending))
}

fn evaluate<S: Session>(
    resource_policy: &ResourcePolicy,
    snapshot: &Snapshot,
    session: &S,
    rc: &RequestContext,
    arn: &str,
    caller: Option<Caller<'_>>,
) -> Decision {
    let facts = facts(snapshot, session, rc, arn, caller);
    resource_policy.policy.evaluate(&facts)
}

/// Combine the resource policy's decision with the authorizer's outcome.
pub fn after<S: Session>(
    snapshot: &Snapshot,
    session: &S,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
    before: Before,
    outcome: &Outcome,
) -> Result<(), GatewayError> {
    let caller = match &rc.authorizer.iam {
        Some(iam) if outcome.kind == AuthorizationType::AwsIam => Some(Caller {
            arn: &iam.user_arn,
            account: &iam.account_id,
        }),
        _ => None,
    };
    let authorization = match outcome.kind {
        AuthorizationType::None => Authorization::None,
        AuthorizationType::Jwt | AuthorizationType::CognitoUserPools => Authorization::Cognito,
        AuthorizationType::AwsIam => Authorization::Iam {
            identity: decision(outcome.policy.unwrap_or(Verdict::NoMatch)),
            same_account: caller.is_some_and(|c| c.account == snapshot.server.account_id),
        },
        // A simple response (HTTP APIs) has no policy: `isAuthorized` was true.
        AuthorizationType::Custom => {
            Authorization::Lambda(decision(outcome.policy.unwrap_or(Verdict::Allow)))
        }
    };
    let resource_decision = match (&before, routed.api.resource_policy.as_ref()) {
        (Some(p), _) if p.anonymous.is_some() => p.anonymous,
        (Some(p), Some(rp)) => Some(evaluate(rp, snapshot, session, rc, &p.arn, caller)),
        _ => None,
    };
    match combine(resource_decision, authorization) {
        Decided::Allow => Ok(()),
        Decided::Deny(denial) => {
            let caller_arn = caller.map(|c| c.arn);
            Err(match &before {
                Some(p) => refuse(routed, denial, caller_arn, &p.arn),
                None => {
                    // No resource policy: an authorizer's own refusal (rare; the message
                    // names the method, written now).
                    let mut arn = String::new();
                    method_arn(snapshot, rc, &mut arn);
                    refuse(routed, denial, caller_arn, &arn)
                }
            })
        }
    }
}

fn decision(verdict: Verdict) -> Decision {
    match verdict {
        Verdict::Allow => Decision::Allow,
        Verdict::ExplicitDeny => Decision::ExplicitDeny,
        Verdict::NoMatch => Decision::NoMatch,
    }
}

/// The 403 for `denial`: API Gateway's text on REST APIs, `Forbidden` on HTTP APIs.
fn refuse(
    routed: &Routed<'_>,
    denial: Denial,
    caller_arn: Option<&str>,
    arn: &str,
) -> GatewayError {
    if routed.api_type == ApiType::Http {
        return GatewayError::with_message(ErrorKind::AccessDenied, FORBIDDEN);
    }
    GatewayError::with_message(
        ErrorKind::AccessDenied,
        denial.message(caller_arn, INVOKE, arn),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_buffer_is_reused() {
        let mut first = Pending::new();
        first
            .arn
            .push_str("arn:aws:execute-api:us-east-1:123456789012:a/prod/GET/x");
        let capacity = first.arn.capacity();
        // A request overlapping the first starts from an empty string.
        let second = Pending::new();
        assert_eq!(second.arn.capacity(), 0);
        drop(second);
        drop(first);
        let third = Pending::new();
        assert!(third.arn.is_empty(), "handed back cleared: {:?}", third.arn);
        assert_eq!(third.arn.capacity(), capacity, "the grown buffer is kept");
    }

    #[test]
    fn verdicts_are_decisions() {
        assert_eq!(decision(Verdict::Allow), Decision::Allow);
        assert_eq!(decision(Verdict::ExplicitDeny), Decision::ExplicitDeny);
        assert_eq!(decision(Verdict::NoMatch), Decision::NoMatch);
    }
}
