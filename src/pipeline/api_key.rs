//! Phase 4 (part), method request: the API key. On a route with `api_key_required`, the
//! `x-api-key` header must name an enabled key that a usage plan associates with this stage,
//! else 403 `{"message":"Forbidden"}`. API keys identify callers for usage plans (throttling
//! and quotas); they do not authenticate anyone. The key found goes to `$context.identity`.

use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::Session;

/// When the route requires an API key, find it and record it in `rc.api_key` (usage plans
/// then apply).
pub fn identify<S: Session>(
    snapshot: &Snapshot,
    session: &S,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<(), GatewayError> {
    if !routed.route.api_key_required {
        return Ok(());
    }
    let forbidden = |why: &'static str| GatewayError::with_source(ErrorKind::Forbidden, why);
    let value = session
        .header("x-api-key")
        .ok_or_else(|| forbidden("no x-api-key header"))?;
    let text = std::str::from_utf8(value).map_err(|_| forbidden("unknown API key"))?;
    let &key = snapshot
        .api_keys_by_value
        .get(text)
        .ok_or_else(|| forbidden("unknown API key"))?;
    if !snapshot.api_keys.get(key).is_some_and(|k| k.enabled) {
        return Err(forbidden("disabled API key"));
    }
    if !snapshot.plan_bindings.contains_key(&(routed.stage.id, key)) {
        return Err(forbidden("API key not in a usage plan for this stage"));
    }
    rc.set_api_key(key, value);
    Ok(())
}
