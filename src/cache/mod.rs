//! The per-stage response cache.
//!
//! `store`: the sharded, byte-bounded, TTL-aware key/value store shared by every worker (the
//! one deliberate cross-core lock, see DESIGN.md "Who owns what"); `flight`: request
//! coalescing (one fill in flight per key, the other callers wait for it). Both are plain
//! library code: no HTTP, no runtime; time is passed in.

pub mod flight;
pub mod store;
