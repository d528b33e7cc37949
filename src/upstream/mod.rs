//! Integrations' upstream side: URI templates, per-worker keep-alive pools, the HTTP client.

pub mod client;
pub mod pool;
pub mod uri;
