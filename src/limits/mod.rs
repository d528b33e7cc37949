//! Throttling and quotas: per-worker token buckets fed by a reconciler (`bucket`,
//! `reconcile`), and exact quota counters (`quota`).

pub mod bucket;
pub mod quota;
pub mod reconcile;
