//! Phase 5, throttling and quota, in API Gateway's order, most specific first: usage-plan
//! per-method throttle -> usage-plan throttle (per API key) -> stage per-method throttle ->
//! stage throttle -> account throttle. Any empty bucket: 429 `Too Many Requests` with
//! Retry-After (nothing is consumed anywhere). Then the usage plan's quota: 429
//! `Limit Exceeded` once the period's requests are used up.

use crate::config::snapshot::{RateLimitId, Stage, ACCOUNT_LIMIT};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::limits::service::unix_now;
use crate::pipeline::route::Routed;
use crate::runtime::worker::WorkerCtx;

/// The rate limits a request must pass, most specific first: (ids, how many).
pub fn levels(
    snapshot: &Snapshot,
    stage: &Stage,
    route_key: &str,
    key: Option<usize>,
) -> ([RateLimitId; 5], usize) {
    let binding = key.and_then(|k| snapshot.plan_bindings.get(&(stage.id, k)));
    let mut ids: [RateLimitId; 5] = [0; 5];
    let mut n = 0;
    let mut push = |id: Option<RateLimitId>| {
        if let Some(id) = id {
            ids[n] = id;
            n += 1;
        }
    };
    if let Some(b) = binding {
        if !b.method_throttles.is_empty() {
            push(b.method_throttles.get(route_key).copied());
        }
        push(b.throttle);
    }
    if !stage.method_throttles.is_empty() {
        push(stage.method_throttles.get(route_key).copied());
    }
    push(stage.throttle);
    push(Some(ACCOUNT_LIMIT));
    (ids, n)
}

pub fn admit(
    ctx: &WorkerCtx,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    key: Option<usize>,
) -> Result<(), GatewayError> {
    let (ids, n) = levels(snapshot, routed.stage, &routed.route.key, key);
    ctx.limits
        .admit(&ids[..n])
        .map_err(GatewayError::throttled)?;
    let quota = key
        .and_then(|k| snapshot.plan_bindings.get(&(routed.stage.id, k)))
        .and_then(|b| b.quota);
    if let Some(q) = quota {
        if !ctx.limits.consume_quota(q, unix_now()) {
            return Err(ErrorKind::QuotaExceeded.into());
        }
    }
    Ok(())
}
