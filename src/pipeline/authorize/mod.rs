//! Phase 4a, method request: who may call. Runs after the route is known and before the
//! API key, throttling, the cache and the integration, so that a refused caller touches no
//! upstream, no function and no usage plan:
//!
//! 1. the API's resource policy, evaluated first: an explicit Deny ends the request
//!    before any authorizer is called ([`resource_policy::before`]);
//! 2. the route's authorization: IAM (SigV4, [`iam`]), a JWT or Cognito user-pool
//!    authorizer ([`jwt`]), or a Lambda authorizer ([`lambda`]), each filling
//!    `$context.authorizer.*` / `$context.identity.*`;
//! 3. the resource policy combined with the authorizer's outcome the way API Gateway
//!    documents it ([`resource_policy::after`]).
//!
//! A route without authorization on an API without a resource policy costs one branch.

pub mod iam;
pub mod jwt;
pub mod lambda;
pub mod resource_policy;

use std::fmt::Write;

use crate::config::authorizer::{AuthorizationType, Authorizer};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;
use crate::pipeline::worker::WorkerCtx;

/// What an authorizer's own policy decided (IAM identity policies, a Lambda authorizer's
/// policy document): the input of the resource-policy combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    ExplicitDeny,
    /// No statement matched: an implicit deny.
    NoMatch,
}

/// What the route's authorization established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: AuthorizationType,
    /// The authorizer's policy decision, when it has a policy (IAM, a Lambda authorizer
    /// answering with a policy document); `None` otherwise (JWT, simple responses, NONE).
    pub policy: Option<Verdict>,
}

impl Outcome {
    pub const NONE: Outcome = Outcome {
        kind: AuthorizationType::None,
        policy: None,
    };
}

/// Decide whether the caller may invoke `routed`'s method.
pub async fn authorize<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<(), GatewayError> {
    let auth = &routed.route.authorization;
    let policy = routed.api.resource_policy.as_ref();
    if auth.kind == AuthorizationType::None && policy.is_none() {
        return Ok(());
    }
    let began = monoio::time::Instant::now();
    let result = decide(ctx, session, snapshot, routed, rc).await;
    if rc.trace.export {
        let offset = began.saturating_duration_since(rc.start);
        rc.trace.authorizer = Some((ctx.trace_ids.span_id(), offset, began.elapsed()));
    }
    result
}

/// The resource policy and the route's authorization, in API Gateway's order.
async fn decide<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<(), GatewayError> {
    let auth = &routed.route.authorization;
    let before = resource_policy::before(snapshot, session, routed, rc)?;
    let outcome = match auth.kind {
        AuthorizationType::None => Outcome::NONE,
        AuthorizationType::AwsIam => iam::authorize(ctx, session, snapshot, routed, rc).await?,
        AuthorizationType::Jwt | AuthorizationType::CognitoUserPools => {
            let authorizer = authorizer_of(routed)?;
            jwt::authorize(ctx, session, snapshot, routed, authorizer, rc)?
        }
        AuthorizationType::Custom => {
            let authorizer = authorizer_of(routed)?;
            lambda::authorize(ctx, session, snapshot, routed, authorizer, rc).await?
        }
    };
    resource_policy::after(snapshot, session, routed, rc, before, &outcome)
}

fn authorizer_of<'s>(routed: &Routed<'s>) -> Result<&'s Authorizer, GatewayError> {
    routed
        .route
        .authorization
        .authorizer
        .and_then(|i| routed.api.authorizers.get(i))
        .map(|a| &**a)
        .ok_or_else(|| {
            GatewayError::with_source(ErrorKind::Internal, "route names a missing authorizer")
        })
}

/// The method ARN policies are matched against:
/// `arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{resource-path}` with
/// the request's own path below the stage (as API Gateway builds `methodArn`), written
/// into `out` (cleared first).
pub fn method_arn(snapshot: &Snapshot, rc: &RequestContext, out: &mut String) {
    out.clear();
    let _ = write!(
        out,
        "arn:aws:execute-api:{}:{}:{}/{}/{}",
        snapshot.server.region,
        snapshot.server.account_id,
        rc.api_id(),
        rc.stage_name(),
        rc.method_text(),
    );
    let resource = rc.resource_path();
    out.push_str(if resource.is_empty() { "/" } else { resource });
}
