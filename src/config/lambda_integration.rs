//! `type: AWS_PROXY` (Lambda proxy) and `type: AWS` with a Lambda ARN (Lambda custom
//! integration): the function, its endpoint and credentials, the payload format.
//!
//! SKELETON (issue 15): the helper for Lambda integrations fills this in.

use super::file::IntegrationFile;
use super::snapshot::ApiType;
use super::validate::Errors;

/// A Lambda integration, validated.
#[derive(Debug)]
pub struct LambdaIntegration {
    /// Proxy (`AWS_PROXY`) or custom (`AWS`).
    pub proxy: bool,
}

/// Build an `AWS_PROXY` integration, or an `AWS` one whose ARN names the Lambda service.
pub(super) fn build(
    e: &mut Errors,
    _api_type: ApiType,
    f: &IntegrationFile,
    path: &str,
) -> Option<LambdaIntegration> {
    let _ = f;
    e.push(
        format!("{path}.type"),
        "Lambda integrations are not built yet",
    );
    None
}
