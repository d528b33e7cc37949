//! AWS service integrations (`AWS` with an `arn:aws:apigateway:...:{service}:path/...` or
//! `:action/...` URI): the request SigV4-signed for that service (`upstream::aws`).
//!
//! SKELETON (issue 15): the helper for AWS service integrations fills this in.

use crate::config::aws_integration::AwsServiceIntegration;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::{Next, Session};
use crate::pipeline::worker::WorkerCtx;

pub async fn call<S: Session>(
    _ctx: &WorkerCtx,
    _session: &mut S,
    _rc: &mut RequestContext,
    _snapshot: &Snapshot,
    _routed: &Routed<'_>,
    _service: &AwsServiceIntegration,
) -> Result<Next, GatewayError> {
    Err(GatewayError::with_source(
        ErrorKind::Internal,
        "AWS service integrations are not built yet",
    ))
}
