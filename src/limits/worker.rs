//! A worker's rate-limit state: one `LocalBucket` per configured limit, spent on the
//! request path with no atomics or locks while it holds tokens (an empty one takes a token
//! from the limit's shared central pool: one compare-and-swap); fed by grants from the
//! reconciler thread and reported back (cumulative counters) on the worker's control tick.

use std::cell::RefCell;
use std::sync::Arc;

use crossbeam::channel::Sender;

use crate::config::snapshot::RateLimitId;
use crate::config::Snapshot;
use crate::limits::bucket::{admit_all, retry_after_secs, Counters, LocalBucket};
use crate::limits::quota::QuotaStore;
use crate::limits::reconcile::WorkerReport;
use crate::shared::TokenPools;

/// Where a worker sends its reports, and the quota counters it shares with the others.
#[derive(Clone)]
pub struct LimitsLink {
    /// Bounded (a preallocated ring): reporting allocates nothing. A full channel drops the
    /// report; counters are cumulative, so the next one carries it.
    pub reports: Sender<WorkerReport>,
    pub quotas: Arc<QuotaStore>,
    /// The limits' central pools (whole tokens any worker may take when its lease is empty).
    pub pools: Arc<TokenPools>,
}

impl std::fmt::Debug for LimitsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitsLink").finish_non_exhaustive()
    }
}

pub struct WorkerLimits {
    worker: usize,
    buckets: RefCell<Vec<LocalBucket>>,
    /// Each limit's configured rate (for Retry-After).
    rates: RefCell<Vec<f64>>,
    /// Counters as last reported (only changed buckets are reported).
    reported: RefCell<Vec<Counters>>,
    link: RefCell<LimitsLink>,
}

impl WorkerLimits {
    /// Empty leases of `snapshot`'s limits (tokens come from the shared pools).
    pub fn new(worker: usize, snapshot: &Snapshot, link: LimitsLink) -> Self {
        let w = WorkerLimits {
            worker,
            buckets: RefCell::new(Vec::new()),
            rates: RefCell::new(Vec::new()),
            reported: RefCell::new(Vec::new()),
            link: RefCell::new(link),
        };
        w.reset(snapshot, None);
        w
    }

    /// Start over for a new configuration (fresh, empty leases).
    pub fn reset(&self, snapshot: &Snapshot, link: Option<LimitsLink>) {
        let n = snapshot.rate_limits.len();
        *self.buckets.borrow_mut() = (0..n).map(|_| LocalBucket::new()).collect();
        *self.rates.borrow_mut() = snapshot.rate_limits.iter().map(|l| l.rate).collect();
        *self.reported.borrow_mut() = vec![Counters::default(); n];
        if let Some(link) = link {
            *self.link.borrow_mut() = link;
        }
    }

    /// Count one request against quota counter `id` (shared by every worker); false when
    /// the period's quota is used up.
    pub fn consume_quota(&self, id: usize, unix_secs: i64) -> bool {
        self.link.borrow().quotas.try_consume(id, unix_secs).is_ok()
    }

    /// Admit a request against every limit in `ids` (all must have a token, leased or from
    /// the limit's central pool; then one is taken from each), or refuse it with the
    /// Retry-After seconds of the slowest empty one. Either way every limit counts the
    /// attempt (its demand).
    pub fn admit(&self, ids: &[RateLimitId]) -> Result<(), (u64, usize)> {
        let mut buckets = self.buckets.borrow_mut();
        if admit_all(&mut buckets, ids, &self.link.borrow().pools) {
            return Ok(());
        }
        let rates = self.rates.borrow();
        let mut retry = 1;
        // The most specific empty level is the one that refused (`$context` reports it).
        let mut refused = None;
        for (n, &i) in ids.iter().enumerate() {
            if buckets.get(i).is_some_and(|b| !b.peek()) {
                refused.get_or_insert(n);
                retry = retry.max(retry_after_secs(rates.get(i).copied().unwrap_or(1.0)));
            }
        }
        Err((retry, refused.unwrap_or(0)))
    }

    /// Apply grants (> 0: take up to that many tokens from the limit's pool) and revocations
    /// (< 0) from the reconciler.
    pub fn apply(&self, grants: &[(RateLimitId, f64)]) {
        let mut buckets = self.buckets.borrow_mut();
        let link = self.link.borrow();
        for &(i, t) in grants {
            if let Some(b) = buckets.get_mut(i) {
                b.apply(t, &link.pools, i);
            }
        }
    }

    /// Send the counters of every bucket that changed since the last report.
    pub fn report(&self) {
        let buckets = self.buckets.borrow();
        let mut reported = self.reported.borrow_mut();
        let link = self.link.borrow();
        for (i, (b, last)) in buckets.iter().zip(reported.iter_mut()).enumerate() {
            let now = b.report();
            if now == *last {
                continue;
            }
            let report = WorkerReport {
                worker: self.worker,
                limit: i,
                counters: now,
            };
            if link.reports.try_send(report).is_ok() {
                *last = now;
            }
        }
    }
}
