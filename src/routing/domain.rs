//! Host and path -> (API, stage, resource path).
//!
//! CONTRACT (implemented by the routing work):
//! - Host (port stripped, case-insensitive) `{api-id}.execute-api.{suffix}` selects API
//!   `api-id` (`suffix` = `snapshot.server.execute_api_suffix`); an unknown id -> error.
//!   Any other host (or none) -> the listener's `default_api`, else error.
//! - REST API: the first path segment names the stage; the rest (or `/`) is the resource path.
//! - HTTP API: if the first segment names a stage other than `$default`, that stage and the
//!   rest; else the `$default` stage with the whole path; else error.
//! - Errors: REST semantics `ErrorKind::MissingAuthenticationToken` (unknown host/API/stage,
//!   REST or when no API is selected), `ErrorKind::ResourceNotFound` for an HTTP API without
//!   a matching stage.
//! - Allocates nothing.

use std::sync::Arc;

use crate::config::snapshot::{Api, ListenerSpec, Snapshot, Stage};
use crate::error::ErrorKind;

#[derive(Debug)]
pub struct Selected<'s, 'p> {
    pub api: &'s Arc<Api>,
    pub stage: &'s Arc<Stage>,
    /// The path to match against the stage's routes (starts with `/`).
    pub resource_path: &'p str,
}

pub fn select<'s, 'p>(
    snapshot: &'s Snapshot,
    listener: &ListenerSpec,
    host: Option<&str>,
    path: &'p str,
) -> Result<Selected<'s, 'p>, ErrorKind> {
    let _ = (snapshot, listener, host, path);
    todo!()
}
