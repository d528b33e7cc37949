//! `apis[i].gateway_responses`: API Gateway's customisable gateway responses.
//!
//! SKELETON (issue 15): the helper for gateway responses fills this in.

use serde::Deserialize;

use super::validate::Errors;

/// `apis[i].gateway_responses`: response type -> its customisation.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct GatewayResponsesFile(pub super::file::StringMap);

/// An API's customised gateway responses, validated (empty: the defaults).
#[derive(Debug, Default)]
pub struct GatewayResponses {}

pub(super) fn build(e: &mut Errors, f: &GatewayResponsesFile, path: &str) -> GatewayResponses {
    if !f.0 .0.is_empty() {
        e.push(path.to_string(), "gateway responses are not built yet");
    }
    GatewayResponses::default()
}
