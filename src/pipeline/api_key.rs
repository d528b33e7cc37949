//! Phase 4 (part), method request: the API key. On a route with `api_key_required`, the
//! `x-api-key` header must name an enabled key that a usage plan associates with this stage,
//! else 403 `{"message":"Forbidden"}` (the INVALID_API_KEY gateway response, whatever is
//! wrong with the key: missing, unknown, disabled or in no usage plan). API keys identify
//! callers for usage plans (throttling and quotas); they do not authenticate anyone. The
//! key found goes to `$context.identity`.
//!
//! With the API's `api_key_source: AUTHORIZER`, the key is not read from the request: it is
//! the Lambda authorizer's `usageIdentifierKey` (the authorize phase ran before), held to
//! the same rules (a known, enabled key in a usage plan of this stage), else 403
//! INVALID_API_KEY.

use crate::config::authorizer::ApiKeySource;
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
    let forbidden = |why: &'static str| GatewayError::with_source(ErrorKind::InvalidApiKey, why);
    // The authorizer's key is shared with its cached answer; hold it while `rc` is written.
    let from_authorizer = match routed.api.api_key_source {
        ApiKeySource::Header => None,
        ApiKeySource::Authorizer => Some(
            rc.authorizer
                .usage_identifier_key
                .clone()
                .ok_or_else(|| forbidden("no usageIdentifierKey from the authorizer"))?,
        ),
    };
    let value = match &from_authorizer {
        Some(key) => key.as_bytes(),
        None => session
            .header("x-api-key")
            .ok_or_else(|| forbidden("no x-api-key header"))?,
    };
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
