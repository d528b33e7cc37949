//! `apis[i].cors`: CORS as HTTP APIs configure it (API Gateway's `corsConfiguration`).
//!
//! SKELETON (issue 15): the helper for CORS fills this in.

use serde::Deserialize;

use super::validate::Errors;

/// `apis[i].cors`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsFile {
    #[serde(default)]
    pub allow_origins: Vec<String>,
}

/// An API's CORS configuration, validated.
#[derive(Debug)]
pub struct Cors {}

pub(super) fn build(e: &mut Errors, f: &CorsFile, path: &str) -> Option<Cors> {
    let _ = f;
    e.push(path.to_string(), "CORS is not built yet");
    None
}
