//! Phases 7-9: integration request, the integration itself, integration response.

pub mod http_proxy;
pub mod mock;
