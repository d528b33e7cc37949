//! Phase 4 (part), method request: the API key. On a route with `api_key_required`, the
//! `x-api-key` header must name an enabled key that a usage plan associates with this stage,
//! else 403 `{"message":"Forbidden"}`. API keys identify callers for usage plans (throttling
//! and quotas); they do not authenticate anyone.

use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::net::conn::ClientConn;
use crate::pipeline::route::Routed;

/// The API key index when the route requires one (usage plans then apply), else `None`.
pub fn identify(
    snapshot: &Snapshot,
    conn: &ClientConn,
    routed: &Routed<'_>,
) -> Result<Option<usize>, GatewayError> {
    if !routed.route.api_key_required {
        return Ok(None);
    }
    let forbidden = |why: &'static str| GatewayError::with_source(ErrorKind::Forbidden, why);
    let value = conn
        .head
        .header(&conn.rbuf, "x-api-key")
        .ok_or_else(|| forbidden("no x-api-key header"))?;
    let value = std::str::from_utf8(value).map_err(|_| forbidden("unknown API key"))?;
    let &key = snapshot
        .api_keys_by_value
        .get(value)
        .ok_or_else(|| forbidden("unknown API key"))?;
    if !snapshot.api_keys.get(key).is_some_and(|k| k.enabled) {
        return Err(forbidden("disabled API key"));
    }
    if !snapshot.plan_bindings.contains_key(&(routed.stage.id, key)) {
        return Err(forbidden("API key not in a usage plan for this stage"));
    }
    Ok(Some(key))
}
