//! A REST API's resource policy, before and after the route's authorizer. (Skeleton of
//! issue 14: the policy helper owns and completes it; until then an API with a resource
//! policy answers 500.)

use super::Outcome;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;

/// What the resource policy decided before the authorizer ran (`None`: the API has none).
pub type Before = Option<super::Verdict>;

/// Evaluate the resource policy for what is known before any authorizer (source IP,
/// listener, the method ARN): an explicit Deny ends the request here.
pub fn before<S: Session>(
    _snapshot: &Snapshot,
    _session: &S,
    routed: &Routed<'_>,
    _rc: &mut RequestContext,
) -> Result<Before, GatewayError> {
    if routed.api.resource_policy.is_none() {
        return Ok(None);
    }
    Err(GatewayError::with_source(
        ErrorKind::Internal,
        "resource policies are not wired yet",
    ))
}

/// Combine the resource policy's decision with the authorizer's outcome.
pub fn after<S: Session>(
    _snapshot: &Snapshot,
    _session: &S,
    _routed: &Routed<'_>,
    _rc: &mut RequestContext,
    before: Before,
    outcome: &Outcome,
) -> Result<(), GatewayError> {
    match (before, outcome.policy) {
        (None, None | Some(super::Verdict::Allow)) => Ok(()),
        (None, Some(_)) => Err(GatewayError::new(ErrorKind::AccessDenied)),
        (Some(_), _) => Err(GatewayError::with_source(
            ErrorKind::Internal,
            "resource policies are not wired yet",
        )),
    }
}
