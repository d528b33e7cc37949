//! Typed messages from the supervisor to a worker. Each worker polls its own receiver on a
//! short tick, off the request path.

#[derive(Debug)]
pub enum ControlMsg {
    /// Stop accepting, finish in-flight requests, close idle connections, exit.
    Shutdown,
    /// A new configuration and the services reconciled for it (`services`): new
    /// requests and handshakes use them; in-flight ones finish on the snapshot (and
    /// services) they started with. The worker's rate-limit leases start over, empty, fed by
    /// the new limits thread.
    Reload {
        snapshot: std::sync::Arc<crate::config::Snapshot>,
        services: std::sync::Arc<crate::services::Services>,
    },
    /// Tokens from the reconciler: (rate limit, amount); negative amounts revoke.
    Grants(Vec<(usize, f64)>),
    /// An active health-check result for one target (from the checker thread).
    Health(crate::upstream::health::HealthUpdate),
    /// Answer with the worker's id once every message sent before this one is handled (the
    /// supervisor's proof that a reload is in force on every worker).
    Applied(crossbeam::channel::Sender<usize>),
}
