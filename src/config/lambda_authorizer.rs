//! `authorizers[j].lambda`: a TOKEN or REQUEST (Lambda) authorizer's function or HTTP
//! endpoint, result cache TTL and identity validation. (Skeleton of issue 14: the Lambda
//! helper owns and completes it.)

use std::time::Duration;

use serde::Deserialize;

use super::authorizer::AuthorizerType;
use super::file::DurationText;
use super::snapshot::ApiType;
use super::validate::Errors;

/// API Gateway's default authorizer result TTL.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(300);
/// The longest TTL API Gateway allows.
pub const MAX_RESULT_TTL: Duration = Duration::from_secs(3600);

/// `apis[i].authorizers[j].lambda`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaAuthorizerFile {
    /// An HTTP endpoint that takes the authorizer event as a JSON POST body and answers
    /// with the authorizer's response.
    #[serde(default)]
    pub uri: Option<String>,
    /// `authorizerResultTtlInSeconds`: 0 turns the cache off; at most 1 h. Default 300 s.
    #[serde(default)]
    pub result_ttl: Option<DurationText>,
    /// TOKEN: a regular expression the token must match, else 401 without a call.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// HTTP APIs: `1.0` or `2.0` (default).
    #[serde(default)]
    pub payload_format_version: Option<String>,
    /// HTTP APIs, payload 2.0: the `{"isAuthorized": …}` simple response.
    #[serde(default)]
    pub enable_simple_responses: bool,
    /// How long to wait for the authorizer. Default 10 s.
    #[serde(default)]
    pub timeout: Option<DurationText>,
}

#[derive(Debug)]
pub struct LambdaAuthorizer {
    pub uri: String,
    pub result_ttl: Duration,
    pub identity_validation_expression: Option<String>,
    pub payload_format_version: String,
    pub enable_simple_responses: bool,
    pub timeout: Duration,
}

pub(super) fn build(
    e: &mut Errors,
    api_type: ApiType,
    kind: AuthorizerType,
    f: &LambdaAuthorizerFile,
    path: &str,
) -> Option<LambdaAuthorizer> {
    let before = e.count();
    let uri = match &f.uri {
        Some(u) => u.clone(),
        None => {
            e.push(format!("{path}.uri"), "required: the authorizer's endpoint");
            String::new()
        }
    };
    let result_ttl = match &f.result_ttl {
        Some(t) => e.duration(&format!("{path}.result_ttl"), t)?,
        None => DEFAULT_RESULT_TTL,
    };
    if result_ttl > MAX_RESULT_TTL {
        e.push(
            format!("{path}.result_ttl"),
            "at most 3600s (API Gateway's limit)",
        );
    }
    if kind != AuthorizerType::Token && f.identity_validation_expression.is_some() {
        e.push(
            format!("{path}.identity_validation_expression"),
            "only TOKEN authorizers validate their identity with an expression",
        );
    }
    let payload_format_version = match (api_type, f.payload_format_version.as_deref()) {
        (ApiType::Rest, None) => "1.0".to_string(),
        (ApiType::Http, None) => "2.0".to_string(),
        (ApiType::Http, Some(v @ ("1.0" | "2.0"))) => v.to_string(),
        (ApiType::Rest, Some(_)) => {
            e.push(
                format!("{path}.payload_format_version"),
                "an HTTP API setting; REST authorizers have one event format",
            );
            "1.0".to_string()
        }
        (ApiType::Http, Some(other)) => {
            e.push(
                format!("{path}.payload_format_version"),
                format!("`{other}`: expected 1.0 or 2.0"),
            );
            "2.0".to_string()
        }
    };
    if f.enable_simple_responses && payload_format_version != "2.0" {
        e.push(
            format!("{path}.enable_simple_responses"),
            "simple responses need an HTTP API with payload_format_version 2.0",
        );
    }
    let timeout = match &f.timeout {
        Some(t) => e.positive_duration(&format!("{path}.timeout"), t)?,
        None => Duration::from_secs(10),
    };
    if e.count() > before {
        return None;
    }
    Some(LambdaAuthorizer {
        uri,
        result_ttl,
        identity_validation_expression: f.identity_validation_expression.clone(),
        payload_format_version,
        enable_simple_responses: f.enable_simple_responses,
        timeout,
    })
}
