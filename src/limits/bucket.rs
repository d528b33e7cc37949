//! A worker's lease of one rate limit.
//!
//! Every worker holds one [`LocalBucket`] per limit (account, stage, route, usage plan ...).
//! It is plain data owned by the worker's thread: while it holds tokens the request path
//! touches no atomic and no lock. The bucket never refills itself: every token it holds was
//! taken from the limit's shared central pool ([`TokenPools`], filled by the
//! [`Reconciler`](super::reconcile::Reconciler), the single refill engine of every limit;
//! see `reconcile.rs` for the scheme), either in a batch when a grant from the reconciler
//! says how many to take (on the worker's control tick), or one at a time when the lease is
//! empty (one compare-and-swap), so a full bucket admits its burst on any core.
//!
//! The worker reports its cumulative [`Counters`] to the reconciler every control tick:
//! `consumed` (requests admitted), `attempts` (every request that asked, admitted or not:
//! the demand signal), `returned` (tokens given back on revocation), `borrowed` (tokens
//! taken from the central pool) and `granted` (tokens grants allowed it to take, taken or
//! not). Counters only grow,
//! so a lost, late or duplicated report never breaks the reconciler's accounting.
//!
//! Checking several levels for one request: [`admit_all`] (every level must have a token,
//! from its lease or its central pool, before one is taken from each; otherwise every level
//! counts the attempt, so the demand shows at each of them), and answer 429 with
//! `Retry-After: retry_after_secs(rate of the refusing level)`.

use crate::shared::TokenPools;

/// Largest `Retry-After` value handed out (a zero or invalid rate never accrues a token).
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// A worker's cumulative counters for one limit, as reported to the reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counters {
    /// Requests admitted (tokens spent) since start.
    pub consumed: u64,
    /// Requests that asked for a token since start, admitted or not.
    pub attempts: u64,
    /// Tokens given back to the reconciler on revocation since start.
    pub returned: f64,
    /// Tokens taken from the limit's central pool since start (into the lease, then spent
    /// like leased ones).
    pub borrowed: u64,
    /// The sum of the reconciler's positive grants applied since start (what it allowed
    /// this worker to take from the pool, whether or not the pool still had it).
    pub granted: u64,
}

/// One worker's share of one limit: the tokens leased to it and its cumulative counters.
#[derive(Debug, Clone, Default)]
pub struct LocalBucket {
    tokens: f64,
    consumed: u64,
    attempts: u64,
    returned: f64,
    borrowed: u64,
    granted: u64,
}

impl LocalBucket {
    /// An empty bucket: no tokens until the reconciler grants some.
    pub fn new() -> Self {
        Self::default()
    }

    /// One request asks for a token: counts the attempt, and takes a token if one is held.
    #[inline]
    pub fn try_take(&mut self) -> bool {
        if self.peek() {
            self.take();
            true
        } else {
            self.note_attempt();
            false
        }
    }

    /// Whether a token is held (no side effect). Use with [`take`](Self::take) to check
    /// several levels before taking from all of them.
    #[inline]
    pub fn peek(&self) -> bool {
        self.tokens >= 1.0
    }

    /// Take one token after a successful [`peek`](Self::peek): counts the attempt and the
    /// consumption. Never drives the lease below zero (a take without a token only counts
    /// the attempt).
    #[inline]
    pub fn take(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.consumed = self.consumed.saturating_add(1);
        }
    }

    /// A refused request: counts the attempt (demand) without taking anything.
    #[inline]
    pub fn note_attempt(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
    }

    /// Take one token from `limit`'s central pool into this lease (an empty lease asks
    /// before refusing). False when the pool is empty.
    #[inline]
    pub fn borrow_from(&mut self, pools: &TokenPools, limit: usize) -> bool {
        if pools.take_one(limit) {
            self.tokens += 1.0;
            self.borrowed = self.borrowed.saturating_add(1);
            true
        } else {
            false
        }
    }

    /// Add `tokens` from outside the pools (unit tests only: every real token comes from a
    /// pool). Non-finite or non-positive values are ignored.
    #[cfg(test)]
    pub fn grant(&mut self, tokens: f64) {
        if tokens.is_finite() && tokens > 0.0 {
            self.tokens += tokens;
        }
    }

    /// Give back up to `up_to` tokens (never more than held, never below zero); the amount
    /// given back is added to `returned` and returned.
    pub fn revoke(&mut self, up_to: f64) -> f64 {
        if up_to.is_nan() || up_to <= 0.0 || self.tokens <= 0.0 {
            return 0.0;
        }
        let r = up_to.min(self.tokens);
        self.tokens = (self.tokens - r).max(0.0);
        self.returned += r;
        r
    }

    /// Apply one [`Grant`](super::reconcile::Grant)'s `tokens` for `limit`: positive takes up
    /// to that many whole tokens from the limit's pool into the lease (fewer if other workers
    /// took them first), negative puts up to its magnitude in whole tokens back into the
    /// pool. Returns the tokens given back (0 for a positive grant).
    pub fn apply(&mut self, tokens: f64, pools: &TokenPools, limit: usize) -> f64 {
        if tokens >= 1.0 && tokens.is_finite() {
            let n = tokens.floor() as u64;
            self.granted = self.granted.saturating_add(n);
            let (_, got) = pools.withdraw(limit, n);
            self.tokens += got as f64;
            self.borrowed = self.borrowed.saturating_add(got);
            0.0
        } else if tokens < 0.0 {
            // Whole tokens, straight back into the pool: at once usable by any core.
            let n = (-tokens).min(self.tokens).floor();
            if n < 1.0 {
                return 0.0;
            }
            let back = self.revoke(n);
            pools.deposit(limit, back as u64);
            back
        } else {
            0.0
        }
    }

    /// Tokens currently leased to this worker.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// The cumulative counters to send to the reconciler.
    pub fn report(&self) -> Counters {
        Counters {
            consumed: self.consumed,
            attempts: self.attempts,
            returned: self.returned,
            borrowed: self.borrowed,
            granted: self.granted,
        }
    }
}

/// Admit one request against every limit in `ids` (`buckets[id]` is this worker's lease of
/// limit `id`, `pools` the limits' central pools): each level without a leased token takes
/// one from its central pool; if every level then has one, one is spent at each and the
/// request is admitted. Otherwise nothing is spent and every level counts the attempt.
/// A level that borrowed a token for a request refused at another level keeps it in its
/// lease (the limits thread sees it in `borrowed`), so the pools only ever fall between two
/// of the limits thread's own operations. An unknown id refuses.
#[inline]
pub fn admit_all(buckets: &mut [LocalBucket], ids: &[usize], pools: &TokenPools) -> bool {
    // A cheap look first, so a request that cannot pass borrows nothing.
    let mut ok = ids.iter().all(|&i| {
        buckets
            .get(i)
            .is_some_and(|b| b.peek() || pools.available(i) > 0)
    });
    if ok {
        for &i in ids {
            if let Some(b) = buckets.get_mut(i) {
                if !b.peek() && !b.borrow_from(pools, i) {
                    ok = false;
                    break;
                }
            }
        }
    }
    for &i in ids {
        if let Some(b) = buckets.get_mut(i) {
            if ok {
                b.take();
            } else {
                b.note_attempt();
            }
        }
    }
    ok
}

/// Seconds until one token accrues globally at `rate` tokens/s: `ceil(1 / rate)`, at least 1,
/// at most [`MAX_RETRY_AFTER_SECS`] (also for a zero, negative or NaN rate). Consumes nothing.
pub fn retry_after_secs(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        return MAX_RETRY_AFTER_SECS;
    }
    // The small slack keeps e.g. rate 1/3 at 3 s despite rounding in 1 / rate.
    let secs = (1.0 / rate - 1e-9).ceil();
    if secs >= MAX_RETRY_AFTER_SECS as f64 {
        MAX_RETRY_AFTER_SECS
    } else if secs <= 1.0 {
        1
    } else {
        secs as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bucket_refuses_and_counts_attempts() {
        let mut b = LocalBucket::new();
        assert_eq!(b.tokens(), 0.0);
        assert!(!b.peek());
        assert!(!b.try_take());
        assert!(!b.try_take());
        assert_eq!(
            b.report(),
            Counters {
                consumed: 0,
                attempts: 2,
                returned: 0.0,
                borrowed: 0,
                granted: 0,
            }
        );
    }

    #[test]
    fn try_take_spends_granted_tokens() {
        let mut b = LocalBucket::new();
        b.grant(2.0);
        assert!(b.try_take());
        assert!(b.try_take());
        assert!(!b.try_take());
        assert_eq!(b.tokens(), 0.0);
        let c = b.report();
        assert_eq!((c.consumed, c.attempts), (2, 3));
    }

    #[test]
    fn peek_has_no_side_effect_and_take_counts() {
        let mut b = LocalBucket::new();
        b.grant(1.0);
        assert!(b.peek());
        assert!(b.peek());
        assert_eq!(b.report(), Counters::default());
        b.take();
        assert_eq!(b.tokens(), 0.0);
        assert_eq!((b.report().consumed, b.report().attempts), (1, 1));
        // A take without a token never goes negative and only counts the attempt.
        b.take();
        assert_eq!(b.tokens(), 0.0);
        assert_eq!((b.report().consumed, b.report().attempts), (1, 2));
        b.note_attempt();
        assert_eq!((b.report().consumed, b.report().attempts), (1, 3));
    }

    #[test]
    fn fractional_tokens_do_not_admit() {
        let mut b = LocalBucket::new();
        b.grant(0.5);
        assert!(!b.peek());
        b.grant(0.5);
        assert!(b.try_take());
    }

    #[test]
    fn grant_ignores_invalid_amounts() {
        let mut b = LocalBucket::new();
        b.grant(-3.0);
        b.grant(f64::NAN);
        b.grant(f64::INFINITY);
        b.grant(0.0);
        assert_eq!(b.tokens(), 0.0);
    }

    #[test]
    fn revoke_never_goes_negative() {
        let mut b = LocalBucket::new();
        b.grant(3.0);
        assert_eq!(b.revoke(2.0), 2.0);
        assert_eq!(b.tokens(), 1.0);
        assert_eq!(b.revoke(10.0), 1.0);
        assert_eq!(b.tokens(), 0.0);
        assert_eq!(b.revoke(5.0), 0.0);
        assert_eq!(b.revoke(f64::NAN), 0.0);
        assert_eq!(b.revoke(-1.0), 0.0);
        assert_eq!(b.tokens(), 0.0);
        assert_eq!(b.report().returned, 3.0);
        b.grant(4.0);
        assert_eq!(b.revoke(f64::INFINITY), 4.0);
        assert_eq!(b.report().returned, 7.0);
    }

    #[test]
    fn apply_dispatches_on_sign() {
        let pools = TokenPools::new(1);
        pools.deposit(0, 7);
        let mut b = LocalBucket::new();
        // A positive grant takes that many tokens from the pool.
        assert_eq!(b.apply(5.0, &pools, 0), 0.0);
        assert_eq!((b.tokens(), pools.available(0)), (5.0, 2));
        // A revocation puts them straight back.
        assert_eq!(b.apply(-2.0, &pools, 0), 2.0);
        assert_eq!((b.tokens(), pools.available(0)), (3.0, 4));
        // A grant gets what is left if other workers took the rest first.
        assert!(pools.take_one(0));
        assert_eq!(b.apply(4.0, &pools, 0), 0.0);
        assert_eq!((b.tokens(), pools.available(0)), (6.0, 0));
        assert_eq!(b.apply(-10.0, &pools, 0), 6.0);
        assert_eq!(pools.available(0), 6);
        // Only whole tokens go back; invalid amounts do nothing.
        b.grant(0.5);
        assert_eq!(b.apply(-1.0, &pools, 0), 0.0);
        assert_eq!(b.apply(f64::NAN, &pools, 0), 0.0);
        assert_eq!(b.apply(f64::INFINITY, &pools, 0), 0.0);
        assert_eq!((b.tokens(), pools.available(0)), (0.5, 6));
        let r = b.report();
        assert_eq!((r.returned, r.borrowed, r.granted), (8.0, 8, 9));
    }

    #[test]
    fn an_empty_lease_borrows_from_the_central_pool() {
        let pools = TokenPools::new(2);
        pools.deposit(0, 1);
        let mut b = vec![LocalBucket::new(), LocalBucket::new()];
        // Limit 1 has nothing anywhere: refused, and limit 0's token is not borrowed.
        assert!(!admit_all(&mut b, &[0, 1], &pools));
        assert_eq!(pools.available(0), 1);
        assert_eq!((b[0].report().attempts, b[1].report().attempts), (1, 1));
        // Limit 0 alone: the token comes from the pool and is spent.
        assert!(admit_all(&mut b, &[0], &pools));
        assert_eq!(pools.available(0), 0);
        assert_eq!(
            b[0].report(),
            Counters {
                consumed: 1,
                attempts: 2,
                returned: 0.0,
                borrowed: 1,
                granted: 0,
            }
        );
        assert!(!admit_all(&mut b, &[0], &pools));
        // A leased token is spent before the pool is touched.
        pools.deposit(0, 1);
        b[0].grant(1.0);
        assert!(admit_all(&mut b, &[0], &pools));
        assert_eq!((pools.available(0), b[0].report().borrowed), (1, 1));
        // Unknown ids refuse.
        assert!(!admit_all(&mut b, &[7], &pools));
    }

    #[test]
    fn retry_after_is_time_to_one_token() {
        assert_eq!(retry_after_secs(1.0), 1);
        assert_eq!(retry_after_secs(0.5), 2);
        assert_eq!(retry_after_secs(1000.0), 1);
        assert_eq!(retry_after_secs(1.0 / 3.0), 3);
        assert_eq!(retry_after_secs(0.3), 4);
        assert_eq!(retry_after_secs(0.0), MAX_RETRY_AFTER_SECS);
        assert_eq!(retry_after_secs(-1.0), MAX_RETRY_AFTER_SECS);
        assert_eq!(retry_after_secs(f64::NAN), MAX_RETRY_AFTER_SECS);
        assert_eq!(retry_after_secs(1e-300), MAX_RETRY_AFTER_SECS);
        assert_eq!(retry_after_secs(f64::INFINITY), 1);
    }
}
