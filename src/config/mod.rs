//! Configuration: a raw serde file model (`file`), validated into an immutable
//! [`Snapshot`] (`validate`). `load` reads a path and reports every error at once.

pub mod access_log;
pub mod admin;
pub mod authorizer;
pub mod aws;
pub mod aws_integration;
pub mod binary_media;
pub mod bounded;
pub mod client_certificate;
pub mod cors;
mod custom_domain;
pub mod execution_log;
pub mod file;
pub mod gateway_response;
pub mod iam;
pub mod jwt_authorizer;
pub mod lambda_authorizer;
pub mod lambda_integration;
pub mod quota;
pub mod resource_policy;
pub mod snapshot;
mod stage_cache;
mod target_group;
mod tracing;
mod usage_plan;
pub mod validate;

pub use snapshot::Snapshot;
pub use validate::{load, ConfigError, ConfigErrors};
