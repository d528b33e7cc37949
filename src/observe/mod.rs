//! Observability: the log thread (metrics and access logs arrive with later issues).

pub mod access_log;
pub mod log;
pub mod metrics;
pub mod trace;
