//! Lambda integrations: `AWS_PROXY` (payload format 1.0 / 2.0 events, the function's result
//! as the response) and `AWS` custom (the body as the payload), over the Lambda Invoke API
//! (`upstream::aws`).
//!
//! SKELETON (issue 15): the helper for Lambda integrations fills this in.

use crate::config::lambda_integration::LambdaIntegration;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::{Next, Session};
use crate::pipeline::worker::WorkerCtx;

pub async fn invoke<S: Session>(
    _ctx: &WorkerCtx,
    _session: &mut S,
    _rc: &mut RequestContext,
    _snapshot: &Snapshot,
    _routed: &Routed<'_>,
    _lambda: &LambdaIntegration,
) -> Result<Next, GatewayError> {
    Err(GatewayError::with_source(
        ErrorKind::Internal,
        "Lambda integrations are not built yet",
    ))
}
