//! Threads: the supervisor (signals, start/stop, reload), one pinned monoio worker per core,
//! and the services (live state that outlives a configuration) they share.

pub mod admin;
pub mod control;
pub mod drain;
pub mod services;
pub mod shared;
pub mod supervisor;
pub mod worker;
