//! Phases 7-9: integration request, the integration itself, integration response.

pub mod aws_service;
pub mod exchange;
pub mod http_proxy;
pub mod lambda;
pub mod mock;
pub mod stream_back;
