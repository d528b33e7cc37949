//! The per-stage response cache (API Gateway's stage cache): a sharded, byte-bounded store
//! shared by every worker (`store`, `flight` for request coalescing), the cached response
//! (`entry`), cache keys (`key`), and the stage's cache with its counters (`stage`).
//! The pipeline's cache phase is `pipeline::cache`.

pub mod entry;
pub mod flight;
pub mod hit;
pub mod key;
pub mod stage;
pub mod store;
