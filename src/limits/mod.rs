//! Throttling and quotas: per-worker token buckets (`bucket`, `worker`) fed by a reconciler
//! (`reconcile`, run by `service` on its own thread), and exact quota counters (`quota`).

pub mod bucket;
pub mod quota;
pub mod reconcile;
pub mod service;
pub mod worker;
