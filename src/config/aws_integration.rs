//! `type: AWS` with an `arn:aws:apigateway:{region}:{service}:path/...` or `:action/...`
//! URI naming a service other than Lambda: the signed call to that service.
//!
//! SKELETON (issue 15): the helper for AWS service integrations fills this in.

use super::aws::ApigatewayArn;
use super::file::IntegrationFile;
use super::validate::Errors;

/// An AWS service integration, validated.
#[derive(Debug)]
pub struct AwsServiceIntegration {
    pub arn: ApigatewayArn,
}

pub(super) fn build(
    e: &mut Errors,
    f: &IntegrationFile,
    arn: ApigatewayArn,
    path: &str,
) -> Option<AwsServiceIntegration> {
    let _ = (f, arn);
    e.push(
        format!("{path}.uri"),
        "AWS service integrations are not built yet",
    );
    None
}
