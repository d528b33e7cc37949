//! Routing: host -> API and stage (`domain`), then method + path -> route (`resource`).

pub mod domain;
pub mod resource;
