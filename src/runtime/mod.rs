//! Threads: the supervisor (signals, start/stop) and one pinned monoio worker per core.

pub mod admin;
pub mod control;
pub mod drain;
pub mod shared;
pub mod supervisor;
pub mod worker;
