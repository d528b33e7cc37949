//! CORS (API Gateway HTTP APIs' `corsConfiguration`, on any API with `cors:`): preflight
//! `OPTIONS` requests answered by the gateway without an integration call, and the CORS
//! headers added to every other response of a cross-origin request (gateway errors too),
//! replacing any the integration sent.
//!
//! SKELETON (issue 15): the helper for CORS fills this in. The hooks:
//! - [`begin`] in `run` once the API is known, before its route is matched: answers a
//!   preflight (`Some`), or records in `rc.cors` what the response must carry;
//! - [`add_headers`] after `x-amzn-requestid` wherever a response head is written;
//! - [`replaces`] where integration response headers are copied: drop theirs.

use crate::config::snapshot::Api;
use crate::error::GatewayError;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::{Next, Session};
use crate::pipeline::worker::WorkerCtx;

/// What this request's response carries for CORS (reset per request).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CorsState {}

/// Answer a preflight of an API with CORS configured; else note what the response needs.
pub async fn begin<S: Session>(
    _ctx: &WorkerCtx,
    _session: &mut S,
    _rc: &mut RequestContext,
    _api: &Api,
) -> Result<Option<Next>, GatewayError> {
    Ok(None)
}

/// Add the CORS response headers `rc.cors` calls for.
#[inline]
pub fn add_headers<S: Session>(_ctx: &WorkerCtx, _session: &mut S, _rc: &RequestContext) {}

/// Whether an integration's response header `name` is left out (the gateway's CORS
/// headers replace it).
#[inline]
pub fn replaces(_rc: &RequestContext, _name: &[u8]) -> bool {
    false
}
