//! Typed messages from the supervisor to a worker. Each worker polls its own receiver on a
//! short tick, off the request path.

#[derive(Debug)]
pub enum ControlMsg {
    /// Stop accepting, finish in-flight requests, close idle connections, exit.
    Shutdown,
    /// A new configuration: new requests and handshakes use it; in-flight ones finish on the
    /// snapshot they started with.
    Reload(std::sync::Arc<crate::config::Snapshot>),
    /// Tokens from the reconciler: (rate limit, amount); negative amounts revoke.
    Grants(Vec<(usize, f64)>),
    /// After a `Reload`: fresh, empty leases, and the new reconciler's report channel,
    /// quota counters and token pools.
    ResetLimits {
        link: crate::limits::worker::LimitsLink,
    },
    /// An active health-check result for one target (from the checker thread).
    Health(crate::upstream::health::HealthUpdate),
}
