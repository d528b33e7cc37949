//! TOKEN and REQUEST (Lambda) authorizers. (Skeleton of issue 14: the Lambda helper owns
//! and completes it; until then such routes answer 500.)

use super::Outcome;
use crate::config::authorizer::Authorizer;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;
use crate::pipeline::worker::WorkerCtx;

pub async fn authorize<S: Session>(
    _ctx: &WorkerCtx,
    _session: &mut S,
    _snapshot: &Snapshot,
    _routed: &Routed<'_>,
    _authorizer: &Authorizer,
    _rc: &mut RequestContext,
) -> Result<Outcome, GatewayError> {
    Err(GatewayError::with_source(
        ErrorKind::Internal,
        "Lambda authorizers are not wired yet",
    ))
}
