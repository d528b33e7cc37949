//! A worker's share of one rate limit (written by the limits work; see reconcile.rs).
