//! Threads: the supervisor (signals, start/stop, reload, which reconciles the services) and
//! one pinned monoio worker per core; the admin listener; typed control messages.

pub mod admin;
pub mod control;
pub mod supervisor;
pub mod worker;
