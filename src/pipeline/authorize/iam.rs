//! AWS_IAM authorization: SigV4-signed requests from the principals of `iam:` and their
//! identity policies. (Skeleton of issue 14: the SigV4 helper owns and completes it; until
//! then such routes answer 500.)

use super::Outcome;
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
    _rc: &mut RequestContext,
) -> Result<Outcome, GatewayError> {
    Err(GatewayError::with_source(
        ErrorKind::Internal,
        "IAM authorization is not wired yet",
    ))
}
