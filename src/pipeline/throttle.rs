//! Phase 5, throttling and quota, in API Gateway's order, most specific first: usage-plan
//! per-method throttle -> usage-plan throttle (per API key) -> stage per-method throttle ->
//! stage throttle -> account throttle. Any empty bucket: 429 `Too Many Requests` with
//! Retry-After (nothing is consumed anywhere). Then the usage plan's quota: 429
//! `Limit Exceeded` once the period's requests are used up.

use crate::config::snapshot::{RateLimitId, Stage, ACCOUNT_LIMIT};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::limits::service::unix_now;
use crate::pipeline::context::{RequestContext, ThrottleLevel};
use crate::pipeline::route::Routed;
use crate::pipeline::worker::WorkerCtx;

/// The rate limits a request must pass, most specific first: (ids, their levels, how many).
pub fn levels(
    snapshot: &Snapshot,
    stage: &Stage,
    route_key: &str,
    key: Option<usize>,
) -> ([RateLimitId; 5], [ThrottleLevel; 5], usize) {
    let binding = key.and_then(|k| snapshot.plan_bindings.get(&(stage.id, k)));
    let mut ids: [RateLimitId; 5] = [0; 5];
    let mut kinds = [ThrottleLevel::Account; 5];
    let mut n = 0;
    let mut push = |id: Option<RateLimitId>, kind: ThrottleLevel| {
        if let Some(id) = id {
            ids[n] = id;
            kinds[n] = kind;
            n += 1;
        }
    };
    if let Some(b) = binding {
        if !b.method_throttles.is_empty() {
            push(
                b.method_throttles.get(route_key).copied(),
                ThrottleLevel::UsagePlanMethod,
            );
        }
        push(b.throttle, ThrottleLevel::UsagePlan);
    }
    if !stage.method_throttles.is_empty() {
        push(
            stage.method_throttles.get(route_key).copied(),
            ThrottleLevel::StageMethod,
        );
    }
    push(stage.throttle, ThrottleLevel::Stage);
    push(Some(ACCOUNT_LIMIT), ThrottleLevel::Account);
    (ids, kinds, n)
}

/// Admit the request or refuse it (429), recording the level that refused in `rc`.
pub fn admit(
    ctx: &WorkerCtx,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<(), GatewayError> {
    let key = rc.api_key;
    let (ids, kinds, n) = levels(snapshot, routed.stage, &routed.route.key, key);
    if let Err((retry, refused)) = ctx.limits.admit(&ids[..n]) {
        rc.throttle = kinds.get(refused).copied();
        return Err(GatewayError::throttled(retry));
    }
    let quota = key
        .and_then(|k| snapshot.plan_bindings.get(&(routed.stage.id, k)))
        .and_then(|b| b.quota);
    if let Some(q) = quota {
        if !ctx.limits.consume_quota(q, unix_now()) {
            rc.throttle = Some(ThrottleLevel::Quota);
            return Err(ErrorKind::QuotaExceeded.into());
        }
    }
    Ok(())
}
