//! Integrations' upstream side: URI templates, target groups (balancing, health, PROXY
//! protocol), per-worker keep-alive pools, the HTTP client.

pub mod aws;
pub mod balance;
pub mod call;
pub mod client;
pub mod health;
pub mod lambda;
pub mod pool;
pub mod proxy_protocol;
pub mod target;
pub mod uri;
