//! The reconciler: the one refill engine behind every rate limit, and the mover of tokens
//! between workers ("throttling is global in effect", DESIGN.md).
//!
//! # The lease model
//!
//! Each limit (rate `R` tokens/s, burst `B`) is one global token bucket whose tokens live in
//! three kinds of places: a central pool kept here (`L`, fractions of a token), the
//! limit's shared pool `C` (the whole central tokens, one atomic count in
//! [`TokenPools`], which any worker may take from), and the leases held by the workers
//! ([`LocalBucket`](super::bucket::LocalBucket), one per worker per limit, plain fields, no
//! atomics). Workers never refill on their own, and every token a worker holds it took from
//! `C` itself: a batch when a grant from the reconciler says how many to take (a lease, so
//! a busy core spends locally), or one at a time when its lease is empty (one
//! compare-and-swap). Tokens therefore stay in `C`, usable by any core, until a worker
//! actually takes them: a full bucket admits its whole burst on any core, even burst 1 over
//! many cores, and no token is out of reach while a grant travels. Workers report their
//! cumulative counters (`consumed`, `attempts`, `returned`, `borrowed`, `granted`). The
//! reconciler refills, estimates each worker's demand and grants whole tokens to the
//! workers that need them.
//!
//! Tokens are created only by the refill (into `L`, then moved to `C`: `D` tokens deposited
//! in all) and destroyed only when a request spends one; taking, granting and revoking (a
//! worker puts revoked tokens straight back into `C`) only move them. So the tokens in
//! existence are exactly `L + D - consumed`, and with the workers' reported `consumed`
//! (which lags, so it is too low: the safe side) the reconciler bounds them without ever
//! needing to know where each one is.
//!
//! **Invariant**: `L + D - Σ consumed_i <= B` at all times (the refill stops at it). Hence
//! over any window starting at 0 the workers admit at most `B + R × t`, whatever the mix of
//! cores, delays or lost reports.
//!
//! For the leases, per limit and worker `i` the reconciler keeps the last reported
//! counters, so `outstanding_i = borrowed_i - consumed_i - returned_i` is what the worker is
//! believed to hold. Grants it sent that no report shows applied yet (`issued_i -
//! granted_i`) are counted against the worker's next want, so a grant in flight is not sent
//! twice.
//!
//! Each [`Reconciler::tick`], per limit:
//!
//! 1. **Refill**: `L` grows by `R × dt`, never above `B - (D - Σ consumed_i)` (a full bucket
//!    discards refill).
//! 2. **Demand**: each worker's attempts delta since the last tick, as a rate, smoothed with
//!    an EWMA (alpha 0.5) so one quiet tick does not drop a busy core. A worker whose demand
//!    over the horizon is below a quarter token counts as idle.
//! 3. **Grant**: the whole tokens of `L` go to `C`. Each worker should hold enough for its
//!    demand over a horizon of 3 ticks; `want_i = ceil(demand_i × horizon - outstanding_i -
//!    in-flight grants_i)`. If `C` covers all wants, each is granted its want and the rest
//!    stays in `C`: that is where the banked burst lives, so a burst on any core is served at
//!    once, as a real bucket would. If `C` is short, its tokens are split in proportion to
//!    the wants (largest remainder; ties go round-robin between workers); a core whose
//!    lease runs dry before its grant arrives may take them first (first come, first
//!    served, as in one real bucket). Only WHOLE tokens go to `C`; fractions stay in `L`,
//!    which is what makes tiny limits exact (1 rps over 2 workers admits 1 per second).
//! 4. **Revoke**: a worker that has gone idle gives back what it holds, and when some worker
//!    wants more than `C` can give, every worker holding more than twice its horizon need
//!    does too: a negative grant for the surplus, which the worker puts back into `C` (at
//!    once usable by any core). So no tokens stay stuck on idle cores.
//!
//! At start each bucket is full: the whole burst is in `C` (its fraction in `L`) and the
//! workers hold nothing (see [`Reconciler::new`]).
//!
//! # Timing and lag
//!
//! With a control tick `T` (20 ms is a good value; the reconciler adapts its horizon to the
//! tick it observes): a grant reaches a worker within one worker control tick, and a report
//! reaches the reconciler within one worker control tick, so demand that appears on a core
//! is leased to within about `3T` (60 ms at 20 ms); tokens leased to another core take
//! about one more tick to move (revoke, and the worker puts them back into `C`). A core
//! whose lease is empty takes tokens from `C` meanwhile; it refuses only when `C` is empty
//! too, i.e. when the tokens are leased to other cores (a busy limit). A saturated limit
//! runs at its full rate after the first reconciliation: it refills by `R × T` per tick and
//! is taken at once.
//!
//! One caveat: a token counts against the burst until a report shows it spent, about `2T`
//! after it is spent on a saturated limit (until the next report, and the report's trip).
//! While that pipeline holds `R × 2T` tokens, the invariant leaves room for refill only if
//! `B >= R × 2T`; a smaller burst discards refill and the limit runs at about `B / 2T` per
//! second (simulated: rate 1000, burst 10 at `T = 20 ms` admits 250/s; burst 20, 500/s;
//! burst 40, the full 1000/s). See [`min_burst_for_full_rate`]: configuration checks warn
//! below it, or the control tick should be shorter. API Gateway's defaults (10 000 rps,
//! burst 5 000) are far above.
//!
//! # Messages
//!
//! [`WorkerReport`] (56 bytes) travels worker -> reconciler; it carries CUMULATIVE counters,
//! so reports may be late, duplicated, reordered or dropped (only changed limits need be
//! sent; stale ones are ignored). [`Grant`] (24 bytes) travels reconciler -> worker and is a
//! DELTA: the grant channel must be lossless and FIFO per worker (a crossbeam channel is).
//! A worker applies it with [`LocalBucket::apply`](super::bucket::LocalBucket::apply).
//! Each tick costs `O(limits × workers)` and emits at most one grant per (limit, worker).

use super::bucket::Counters;
use crate::shared::TokenPools;
use std::sync::Arc;
use std::time::Duration;

/// EWMA weight of the newest demand sample.
const ALPHA: f64 = 0.5;
/// A worker is topped up to cover its demand for this many ticks.
const HORIZON_TICKS: f64 = 3.0;
/// Ticks a taken token counts as held before a report shows it spent (see the module docs).
const PIPELINE_TICKS: f64 = 2.0;
/// Tick assumed before the first one has been observed (seconds).
const DEFAULT_TICK: f64 = 0.02;
/// Bounds on the observed tick (seconds).
const MIN_TICK: f64 = 0.001;
const MAX_TICK: f64 = 1.0;
/// Demand over the horizon below this many tokens counts as idle.
const IDLE_NEED: f64 = 0.25;
/// Float slack for whole-token decisions.
const EPS: f64 = 1e-9;
/// Rates and bursts are clamped to this (keeps token arithmetic exact in f64).
const MAX_VALUE: f64 = 1e12;

/// One limit's configuration: `rate` tokens per second, up to `burst` tokens banked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitSpec {
    pub rate: f64,
    pub burst: f64,
}

/// A worker's cumulative counters for one limit (worker -> reconciler).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerReport {
    pub worker: usize,
    pub limit: usize,
    pub counters: Counters,
}

/// Tokens for one worker's lease of one limit (reconciler -> worker): positive lets it take
/// up to that many from the limit's shared pool into its lease, negative revokes up to
/// `-tokens`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub worker: usize,
    pub limit: usize,
    pub tokens: f64,
}

/// The smallest burst at which a limit of `rate` reaches its full rate with a control tick
/// of `tick` (`rate × 2 × tick`; see the module docs). Invalid rates count as 0.
pub fn min_burst_for_full_rate(rate: f64, tick: Duration) -> f64 {
    sanitize(rate) * PIPELINE_TICKS * tick.as_secs_f64()
}

/// NaN, negative -> 0; +inf and huge -> `MAX_VALUE`.
fn sanitize(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        0.0
    } else {
        x.min(MAX_VALUE)
    }
}

/// What the reconciler knows of one worker's lease of one limit.
#[derive(Debug, Clone, Default)]
struct Share {
    /// All positive grants ever sent to this worker.
    issued: f64,
    /// Last reported sum of positive grants the worker applied.
    applied: u64,
    /// Last reported cumulative counters.
    consumed: u64,
    attempts: u64,
    returned: f64,
    borrowed: u64,
    /// `attempts` as of the previous tick (demand = delta / dt).
    attempts_at_tick: u64,
    /// Smoothed demand, requests per second.
    demand: f64,
}

impl Share {
    /// Tokens needed over the horizon (0 for an idle worker).
    fn need(&self, horizon: f64) -> f64 {
        let need = self.demand * horizon;
        if need.is_nan() || need < IDLE_NEED {
            0.0
        } else {
            need
        }
    }

    /// What the worker is believed to hold (high by what it spent since its report).
    fn outstanding(&self) -> f64 {
        (self.borrowed as f64 - self.consumed as f64 - self.returned).max(0.0)
    }

    /// Grants sent that no report shows applied yet.
    fn in_flight(&self) -> f64 {
        (self.issued - self.applied as f64).max(0.0)
    }
}

#[derive(Debug, Clone)]
struct Limit {
    rate: f64,
    burst: f64,
    /// The central pool `L` (fractions of a token).
    pool: f64,
    /// `D`: tokens ever put into `C` by the reconciler.
    deposited: u64,
    shares: Vec<Share>,
    /// Rotates tie-breaks in the largest-remainder split.
    cursor: usize,
    /// Scratch (reused every tick).
    want: Vec<f64>,
    give: Vec<f64>,
    rem: Vec<f64>,
    order: Vec<usize>,
}

impl Limit {
    /// `L + D - Σ consumed`: an upper bound of the tokens in existence (reports lag). A
    /// worker spends only tokens it took, so a report claiming more spent than taken counts
    /// only what was taken.
    fn committed(&self) -> f64 {
        let consumed = self
            .shares
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.consumed.min(s.borrowed)));
        self.pool.max(0.0) + self.deposited.saturating_sub(consumed) as f64
    }

    fn tick(
        &mut self,
        li: usize,
        dt: f64,
        horizon: f64,
        pools: &TokenPools,
        grants: &mut Vec<Grant>,
    ) {
        if dt > 0.0 {
            // 1. Refill, never above the burst counting every token not known spent.
            let room = (self.burst - self.committed()).max(0.0);
            self.pool += (self.rate * dt).min(room);
            // 2. Demand: an EWMA per tick.
            let ddt = dt.max(MIN_TICK);
            for s in &mut self.shares {
                let delta = s.attempts.saturating_sub(s.attempts_at_tick);
                s.attempts_at_tick = s.attempts;
                let sample = delta as f64 / ddt;
                s.demand = ALPHA * sample + (1.0 - ALPHA) * s.demand;
                if s.demand * horizon < EPS {
                    s.demand = 0.0;
                }
            }
        }

        // 3. Wants, in whole tokens.
        self.want.clear();
        self.give.clear();
        let mut total_want = 0.0;
        for s in &self.shares {
            let need = s.need(horizon);
            let want = if need > 0.0 {
                (need - s.outstanding() - s.in_flight() - EPS)
                    .ceil()
                    .max(0.0)
            } else {
                0.0
            };
            total_want += want;
            self.want.push(want);
            self.give.push(0.0);
        }
        // The whole tokens of `L` go to `C`, where any worker can take them.
        let whole = (self.pool + EPS).floor().max(0.0);
        if whole >= 1.0 {
            pools.deposit(li, whole as u64);
            self.deposited = self.deposited.saturating_add(whole as u64);
            self.pool = (self.pool - whole).max(0.0);
        }
        // What `C` holds now (workers may take some meanwhile: it only guides the grants).
        let avail = pools.available(li) as f64;
        let short = total_want > avail;
        if !short {
            // Everyone gets what they want; the rest stays in `C` for a burst on any core.
            self.give.copy_from_slice(&self.want);
        } else {
            // Split what there is in proportion to the wants (each stays within its want).
            self.cursor = apportion(
                avail,
                &self.want,
                self.cursor,
                &mut self.rem,
                &mut self.order,
                &mut self.give,
            );
        }
        // The grants let the workers take that many from `C`: the tokens stay there, usable
        // by any core, until a worker takes them.
        for (i, s) in self.shares.iter_mut().enumerate() {
            let g = self.give[i];
            if g >= 1.0 {
                s.issued += g;
                grants.push(Grant {
                    worker: i,
                    limit: li,
                    tokens: g,
                });
            }
        }

        // 4. Take back what idle workers hold, and when someone is short what over-supplied
        //    ones hold, so no token stays stuck on a core that does not use it.
        for (i, s) in self.shares.iter().enumerate() {
            let need = s.need(horizon);
            if short || need == 0.0 {
                let keep = (2.0 * need).ceil();
                let surplus = (s.outstanding() - keep + EPS).floor();
                if surplus >= 1.0 {
                    grants.push(Grant {
                        worker: i,
                        limit: li,
                        tokens: -surplus,
                    });
                }
            }
        }
    }
}

/// Add to `out` a split of `amount` whole tokens in proportion to `weights`: floors first,
/// then one more token each to the largest remainders (ties rotate from `cursor`). When
/// `amount` is below the sum of integral weights, nobody gets more than its weight.
/// Returns the next cursor: just past the last worker that won a tie-break token, so
/// equal claimants take turns.
fn apportion(
    amount: f64,
    weights: &[f64],
    cursor: usize,
    rem: &mut Vec<f64>,
    order: &mut Vec<usize>,
    out: &mut [f64],
) -> usize {
    let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    let n = weights.len();
    let cursor = cursor % n.max(1);
    if !(amount >= 1.0 && total > 0.0 && total.is_finite()) {
        return cursor;
    }
    let mut next = cursor;
    rem.clear();
    order.clear();
    let mut given = 0.0;
    for (i, (&w, o)) in weights.iter().zip(out.iter_mut()).enumerate() {
        let w = if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let quota = (amount * w / total).min(amount);
        let base = quota.floor();
        *o += base;
        given += base;
        rem.push(quota - base);
        order.push(i);
    }
    let mut left = (amount - given).round().max(0.0) as usize;
    let rem = &*rem;
    order.sort_by(|&a, &b| {
        rem[b]
            .partial_cmp(&rem[a])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| ((a + n - cursor) % n).cmp(&((b + n - cursor) % n)))
    });
    for &i in order.iter() {
        if left == 0 {
            break;
        }
        if rem[i] > EPS {
            if let Some(o) = out.get_mut(i) {
                *o += 1.0;
            }
            left -= 1;
            next = (i + 1) % n;
        }
    }
    next
}

/// The per-process reconciler of all rate limits (runs on one control thread/task).
#[derive(Debug, Clone)]
pub struct Reconciler {
    limits: Vec<Limit>,
    /// Every limit's `C`, shared with the workers.
    pools: Arc<TokenPools>,
    workers: usize,
    last: Duration,
    /// Observed tick length (seconds), 0 until the first tick with time elapsed.
    tick_est: f64,
}

impl Reconciler {
    /// Start with each limit's bucket full (burst): its whole tokens in the shared pool `C`
    /// (see [`Reconciler::pools`]), where the first requests on any core take them, and the
    /// workers' leases empty. `workers == 0` is treated as 1; NaN or negative rates and
    /// bursts as 0.
    pub fn new(specs: Vec<LimitSpec>, workers: usize, now: Duration) -> Reconciler {
        let workers = workers.max(1);
        let pools = Arc::new(TokenPools::new(specs.len()));
        let mut limits = Vec::with_capacity(specs.len());
        for (li, spec) in specs.iter().enumerate() {
            let rate = sanitize(spec.rate);
            let burst = sanitize(spec.burst);
            // At most `MAX_VALUE`, below 2^53: exact as an integer.
            let whole = burst.floor();
            pools.deposit(li, whole as u64);
            limits.push(Limit {
                rate,
                burst,
                pool: (burst - whole).max(0.0),
                deposited: whole as u64,
                shares: vec![Share::default(); workers],
                cursor: 0,
                want: Vec::with_capacity(workers),
                give: Vec::with_capacity(workers),
                rem: Vec::with_capacity(workers),
                order: Vec::with_capacity(workers),
            });
        }
        Reconciler {
            limits,
            pools,
            workers,
            last: now,
            tick_est: 0.0,
        }
    }

    /// The limits' shared pools `C`, for the workers (by limit index).
    pub fn pools(&self) -> Arc<TokenPools> {
        Arc::clone(&self.pools)
    }

    /// Apply a worker's cumulative counters. Stale or duplicate reports change nothing
    /// (counters never go backwards); unknown workers or limits are ignored.
    pub fn report(&mut self, r: WorkerReport) {
        let Some(limit) = self.limits.get_mut(r.limit) else {
            return;
        };
        let Some(s) = limit.shares.get_mut(r.worker) else {
            return;
        };
        let c = r.counters;
        if c.consumed > s.consumed {
            s.consumed = c.consumed;
        }
        if c.borrowed > s.borrowed {
            s.borrowed = c.borrowed;
        }
        if c.granted > s.applied {
            s.applied = c.granted;
        }
        if c.attempts > s.attempts {
            s.attempts = c.attempts;
        }
        if c.returned.is_finite() && c.returned > s.returned {
            // The worker put them back into `C` itself.
            s.returned = c.returned;
        }
    }

    /// Refill and redistribute; `now` is monotonic time (a clock going backwards counts as
    /// no time elapsed). Returns the grants to deliver, at most one per (limit, worker).
    pub fn tick(&mut self, now: Duration) -> Vec<Grant> {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        if dt > 0.0 {
            let d = dt.clamp(MIN_TICK, MAX_TICK);
            self.tick_est = if self.tick_est > 0.0 {
                ALPHA * d + (1.0 - ALPHA) * self.tick_est
            } else {
                d
            };
        }
        let tick = if self.tick_est > 0.0 {
            self.tick_est
        } else {
            DEFAULT_TICK
        };
        let horizon = HORIZON_TICKS * tick;
        let mut grants = Vec::new();
        for (li, limit) in self.limits.iter_mut().enumerate() {
            limit.tick(li, dt, horizon, &self.pools, &mut grants);
        }
        grants
    }

    /// Sum of the reported `consumed` of a limit (0 for an unknown limit).
    pub fn admitted(&self, limit: usize) -> u64 {
        self.limits.get(limit).map_or(0, |l| {
            l.shares
                .iter()
                .fold(0u64, |a, s| a.saturating_add(s.consumed))
        })
    }

    /// Number of workers (at least 1).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Number of limits.
    pub fn limits(&self) -> usize {
        self.limits.len()
    }

    /// The central tokens of a limit, `L + C` now (0 for an unknown limit).
    pub fn pool(&self, limit: usize) -> f64 {
        self.limits.get(limit).map_or(0.0, |l| {
            l.pool.max(0.0) + self.pools.available(limit) as f64
        })
    }

    /// What a worker is believed to hold of a limit (as of its last report).
    pub fn outstanding(&self, limit: usize, worker: usize) -> f64 {
        self.limits
            .get(limit)
            .and_then(|l| l.shares.get(worker))
            .map_or(0.0, Share::outstanding)
    }

    /// A worker's smoothed demand for a limit, requests per second.
    pub fn demand(&self, limit: usize, worker: usize) -> f64 {
        self.limits
            .get(limit)
            .and_then(|l| l.shares.get(worker))
            .map_or(0.0, |s| s.demand)
    }

    /// The (sanitized) rate of a limit, e.g. for `retry_after_secs` (0 for an unknown limit).
    pub fn rate(&self, limit: usize) -> f64 {
        self.limits.get(limit).map_or(0.0, |l| l.rate)
    }

    /// `L + D - Σ consumed` of a limit: the tokens that may exist (reported spending lags),
    /// never above its burst.
    pub fn committed(&self, limit: usize) -> f64 {
        self.limits.get(limit).map_or(0.0, Limit::committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::bucket::{admit_all, LocalBucket};
    use crate::time::{Clock, FakeClock};

    const TICK_MS: u64 = 20;

    /// Deterministic pseudo-random numbers for the chaos runs.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    /// N workers with a LocalBucket per limit, one reconciler, messages delayed by one tick
    /// each way (reports worker -> reconciler, grants reconciler -> worker), a tick every
    /// 20 simulated ms, demand given as requests per simulated ms per worker. A request
    /// checks every limit (peek all, then take all or note the attempt on all).
    struct Sim {
        clock: FakeClock,
        specs: Vec<LimitSpec>,
        rec: Reconciler,
        pools: Arc<TokenPools>,
        /// Limit indexes every request checks.
        ids: Vec<usize>,
        buckets: Vec<Vec<LocalBucket>>,
        grants: Vec<(u64, Grant)>,
        reports: Vec<(u64, WorkerReport)>,
        acc: Vec<f64>,
        /// Per worker, admitted requests per simulated ms.
        admitted: Vec<Vec<u32>>,
        /// Total admitted requests by the end of each ms.
        total: Vec<u64>,
        ms: u64,
        chaos: Option<Lcg>,
    }

    impl Sim {
        fn new(specs: Vec<LimitSpec>, workers: usize) -> Sim {
            let clock = FakeClock::new();
            let rec = Reconciler::new(specs.clone(), workers, clock.now());
            let buckets = vec![vec![LocalBucket::new(); specs.len()]; workers];
            Sim {
                clock,
                pools: rec.pools(),
                ids: (0..specs.len()).collect(),
                rec,
                buckets,
                grants: Vec::new(),
                reports: Vec::new(),
                acc: vec![0.0; workers],
                admitted: vec![Vec::new(); workers],
                total: Vec::new(),
                ms: 0,
                chaos: None,
                specs,
            }
        }

        fn workers(&self) -> usize {
            self.buckets.len()
        }

        fn control_tick(&mut self) {
            let k = self.ms / TICK_MS;
            // Grants sent last tick reach their worker (FIFO, lossless).
            let (due, later): (Vec<_>, Vec<_>) =
                self.grants.drain(..).partition(|(at, _)| *at <= k);
            self.grants = later;
            for (_, g) in due {
                self.buckets[g.worker][g.limit].apply(g.tokens, &self.pools, g.limit);
            }
            // Reports due reach the reconciler (in any order under chaos).
            let (mut due, later): (Vec<_>, Vec<_>) =
                self.reports.drain(..).partition(|(at, _)| *at <= k);
            self.reports = later;
            if let Some(rng) = self.chaos.as_mut() {
                // Shuffle (reorder within the batch).
                for i in (1..due.len()).rev() {
                    let j = (rng.next() as usize) % (i + 1);
                    due.swap(i, j);
                }
            }
            for (_, r) in due {
                self.rec.report(r);
            }
            for g in self.rec.tick(self.clock.now()) {
                self.grants.push((k + 1, g));
            }
            // Workers send their cumulative counters.
            for w in 0..self.workers() {
                for l in 0..self.specs.len() {
                    let r = WorkerReport {
                        worker: w,
                        limit: l,
                        counters: self.buckets[w][l].report(),
                    };
                    match self.chaos.as_mut() {
                        None => self.reports.push((k + 1, r)),
                        Some(rng) => {
                            if rng.chance(10) {
                                continue; // lost
                            }
                            let delay = 1 + rng.next() % 3;
                            self.reports.push((k + delay, r));
                            if rng.chance(10) {
                                let again = 1 + rng.next() % 5;
                                self.reports.push((k + again, r)); // duplicate
                            }
                        }
                    }
                }
            }
            for l in 0..self.specs.len() {
                let burst = self.specs[l].burst.max(0.0);
                assert!(
                    self.rec.committed(l) <= burst + 1e-6,
                    "invariant L + D - consumed <= burst broken at {} ms",
                    self.ms
                );
                // And the tokens really in existence (central and in every lease).
                let real =
                    self.rec.pool(l) + self.buckets.iter().map(|b| b[l].tokens()).sum::<f64>();
                assert!(
                    real <= self.rec.committed(l) + 1e-6,
                    "{real} tokens exist, more than the bound, at {} ms",
                    self.ms
                );
            }
        }

        /// One request on worker `w`, through the workers' own admission path.
        fn request(&mut self, w: usize) -> bool {
            admit_all(&mut self.buckets[w], &self.ids, &self.pools)
        }

        fn step(&mut self, demand: &dyn Fn(usize, u64) -> f64) {
            if self.ms.is_multiple_of(TICK_MS) {
                self.control_tick();
            }
            let mut total = self.total.last().copied().unwrap_or(0);
            // Cores run side by side: who asks first within one ms changes (a fixed
            // pseudo-random order, not periodic), so no worker wins every race for the
            // shared pool.
            let n = self.workers();
            let first = (self.ms.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % n;
            let mut got = vec![0u32; n];
            for k in 0..n {
                let w = (k + first) % n;
                self.acc[w] += demand(w, self.ms);
                while self.acc[w] >= 1.0 {
                    self.acc[w] -= 1.0;
                    if self.request(w) {
                        got[w] += 1;
                    }
                }
            }
            for (w, &g) in got.iter().enumerate() {
                self.admitted[w].push(g);
                total += u64::from(g);
            }
            self.total.push(total);
            // Never above rate * t + burst, per limit, at any ms (window start 0).
            let t = self.ms as f64 / 1000.0;
            for (l, spec) in self.specs.iter().enumerate() {
                let used: u64 = self.buckets.iter().map(|b| b[l].report().consumed).sum();
                let bound = spec.rate.max(0.0) * t + spec.burst.max(0.0);
                assert!(
                    used as f64 <= bound + 1e-6,
                    "limit {l}: {used} admitted by {t} s, bound {bound}"
                );
            }
            self.ms += 1;
            self.clock.advance(Duration::from_millis(1));
        }

        fn run(&mut self, ms: u64, demand: &dyn Fn(usize, u64) -> f64) {
            for _ in 0..ms {
                self.step(demand);
            }
        }

        /// Admitted by all workers in [from_ms, to_ms).
        fn between(&self, from_ms: u64, to_ms: u64) -> u64 {
            let before = if from_ms == 0 {
                0
            } else {
                self.total[from_ms as usize - 1]
            };
            self.total[to_ms as usize - 1] - before
        }

        fn worker_between(&self, w: usize, from_ms: u64, to_ms: u64) -> u64 {
            self.admitted[w][from_ms as usize..to_ms as usize]
                .iter()
                .map(|&n| u64::from(n))
                .sum()
        }

        /// Largest admitted count over any window of `len_ms` starting on a tick.
        fn max_window(&self, len_ms: u64) -> u64 {
            let end = self.ms;
            (0..=end.saturating_sub(len_ms))
                .step_by(TICK_MS as usize)
                .map(|s| self.between(s, s + len_ms))
                .max()
                .unwrap_or(0)
        }
    }

    fn spec(rate: f64, burst: f64) -> Vec<LimitSpec> {
        vec![LimitSpec { rate, burst }]
    }

    /// Demand patterns (requests per ms) for the (a) mixes; total demand 1000/s.
    fn pattern(name: &str, workers: usize) -> Box<dyn Fn(usize, u64) -> f64> {
        let n = workers;
        match name {
            "one" => Box::new(|w, _| if w == 0 { 1.0 } else { 0.0 }),
            "even" => Box::new(move |_, _| 1.0 / n as f64),
            "90/10" => Box::new(|w, _| match w {
                0 => 0.9,
                1 => 0.1,
                _ => 0.0,
            }),
            "moving" => Box::new(move |w, ms| {
                if (ms / 1000) as usize % n == w {
                    1.0
                } else {
                    0.0
                }
            }),
            // On 300 ms, off 200 ms, workers phase-shifted.
            "bursty" => Box::new(move |w, ms| {
                if (ms + 125 * w as u64) % 500 < 300 {
                    2.0 / n as f64
                } else {
                    0.0
                }
            }),
            _ => Box::new(|_, _| 0.0),
        }
    }

    #[test]
    fn a_total_is_global_whatever_the_mix() {
        for workers in [2usize, 4] {
            for name in ["one", "even", "90/10", "moving", "bursty"] {
                let demand = pattern(name, workers);
                let mut sim = Sim::new(spec(100.0, 50.0), workers);
                sim.run(20_000, &*demand);
                let ten = sim.between(0, 10_000);
                let twenty = sim.between(0, 20_000);
                let max1s = sim.max_window(1000);
                eprintln!(
                    "(a) {workers} workers, {name:>6}: admitted 0-10 s {ten} (ideal 1050), \
                     0-20 s {twenty} (ideal 2050), max in any 1 s window {max1s}"
                );
                assert!(
                    (997..=1050).contains(&ten),
                    "{workers} workers {name}: {ten} admitted in 10 s"
                );
                assert!(
                    (1948..=2050).contains(&twenty),
                    "{workers} workers {name}: {twenty} admitted in 20 s"
                );
                // Any 1 s window: at most rate + burst (+ one tick of refill).
                assert!(max1s <= 152, "{workers} workers {name}: {max1s} in 1 s");
            }
        }
    }

    #[test]
    fn b_one_connection_gets_the_whole_rate() {
        let mut sim = Sim::new(spec(100.0, 50.0), 4);
        sim.run(10_000, &|w, _| if w == 0 { 1.0 } else { 0.0 });
        let busy = sim.worker_between(0, 1000, 10_000);
        let per_sec = busy as f64 / 9.0;
        let first = sim.worker_between(0, 0, 1000);
        eprintln!("(b) 1 busy of 4: first second {first}, seconds 1-10 {per_sec:.1}/s");
        assert!(per_sec >= 95.0, "{per_sec}/s");
        for s in 1..10 {
            let n = sim.worker_between(0, s * 1000, (s + 1) * 1000);
            assert!(n >= 95, "second {s}: {n}");
        }
        // The idle workers hold nothing.
        for w in 1..4 {
            assert_eq!(sim.buckets[w][0].tokens(), 0.0);
        }
        assert!(first >= 140, "burst reached the busy core: {first}");
    }

    #[test]
    fn c_limits_below_the_number_of_workers() {
        for (rate, burst, lo, hi) in [(1.0, 1.0, 10u64, 11u64), (0.5, 1.0, 5, 6)] {
            let mut sim = Sim::new(spec(rate, burst), 2);
            sim.run(10_000, &|_, _| 0.05);
            let total = sim.between(0, 10_000);
            let per_worker: Vec<u64> = (0..2).map(|w| sim.worker_between(w, 0, 10_000)).collect();
            eprintln!(
                "(c) rate {rate} burst {burst}, 2 busy workers: {total} in 10 s {per_worker:?}"
            );
            assert!((lo..=hi).contains(&total), "rate {rate}: {total}");
            // Never starved: every window of 2 / rate seconds admits something.
            let win = (2000.0 / rate) as u64;
            for s in (0..=10_000 - win).step_by(TICK_MS as usize) {
                assert!(
                    sim.between(s, s + win) >= 1,
                    "rate {rate}: none in [{s}, +{win}) ms"
                );
            }
            // Both workers get turns.
            assert!(per_worker.iter().all(|&n| n >= 2), "{per_worker:?}");
        }
    }

    #[test]
    fn c_one_rps_on_one_of_two_workers() {
        let mut sim = Sim::new(spec(1.0, 1.0), 2);
        sim.run(10_000, &|w, _| if w == 1 { 0.05 } else { 0.0 });
        let total = sim.between(0, 10_000);
        assert!((10..=11).contains(&total), "{total}");
    }

    #[test]
    fn high_rate_two_busy_workers() {
        let mut sim = Sim::new(spec(10_000.0, 5_000.0), 2);
        sim.run(10_000, &|_, _| 20.0);
        let total = sim.between(0, 10_000);
        let steady = sim.between(1000, 10_000) as f64 / 9.0;
        eprintln!(
            "high rate 10000/5000, 2 busy: {total} in 10 s (ideal 105000), {steady:.0}/s after 1 s"
        );
        assert!(steady >= 9_500.0, "{steady}");
        assert!(total as f64 >= 0.95 * 105_000.0, "{total}");
    }

    #[test]
    fn below_the_limit_everything_passes() {
        // 4 workers at 20/s each against 100/s: nothing should be refused in steady state.
        let mut sim = Sim::new(spec(100.0, 50.0), 4);
        sim.run(10_000, &|_, _| 0.02);
        let total = sim.between(0, 10_000);
        eprintln!("under the limit (80/s of 100/s): {total} of 800 admitted");
        assert!(total >= 790, "{total}");
    }

    #[test]
    fn chaos_reports_late_lost_duplicated_reordered() {
        for name in ["one", "even", "moving"] {
            let demand = pattern(name, 4);
            let mut sim = Sim::new(spec(100.0, 50.0), 4);
            sim.chaos = Some(Lcg(42));
            sim.run(10_000, &*demand);
            let ten = sim.between(0, 10_000);
            eprintln!("chaos {name}: {ten} in 10 s");
            assert!((950..=1050).contains(&ten), "{name}: {ten}");
            let reported = sim.rec.admitted(0);
            let actual: u64 = (0..4).map(|w| sim.buckets[w][0].report().consumed).sum();
            assert!(reported <= actual);
        }
    }

    #[test]
    fn stale_and_duplicate_reports_change_nothing() {
        let mut rec = Reconciler::new(spec(100.0, 50.0), 2, Duration::ZERO);
        let pools = rec.pools();
        assert_eq!(rec.pool(0), 50.0, "a full bucket starts central");
        assert_eq!(rec.outstanding(0, 0), 0.0);
        // Worker 0 shows demand (30 attempts in 20 ms: 1500/s, smoothed 750/s, 45 tokens
        // over the 60 ms horizon): it may take 45; until it does they stay in the pool.
        let mut b = LocalBucket::new();
        for _ in 0..30 {
            b.note_attempt();
        }
        rec.report(WorkerReport {
            worker: 0,
            limit: 0,
            counters: b.report(),
        });
        let g = rec.tick(Duration::from_millis(20));
        assert_eq!(
            g,
            vec![Grant {
                worker: 0,
                limit: 0,
                tokens: 45.0
            }]
        );
        assert_eq!(pools.available(0), 50);
        // Not granted twice while in flight.
        rec.report(WorkerReport {
            worker: 0,
            limit: 0,
            counters: b.report(),
        });
        assert!(rec.tick(Duration::from_millis(40)).is_empty());
        b.apply(45.0, &pools, 0);
        assert_eq!(pools.available(0), 5);
        for _ in 0..10 {
            b.take();
        }
        assert_eq!(b.revoke(5.0), 5.0);
        let newer = WorkerReport {
            worker: 0,
            limit: 0,
            counters: b.report(),
        };
        assert_eq!(
            newer.counters,
            Counters {
                consumed: 10,
                attempts: 40,
                returned: 5.0,
                borrowed: 45,
                granted: 45,
            }
        );
        let older = WorkerReport {
            worker: 0,
            limit: 0,
            counters: Counters {
                consumed: 4,
                attempts: 8,
                returned: 0.0,
                borrowed: 45,
                granted: 45,
            },
        };
        rec.report(newer);
        assert_eq!(rec.outstanding(0, 0), 30.0);
        let committed = rec.committed(0);
        assert_eq!(committed, 40.0, "50 deposited, 10 spent");
        rec.report(older);
        rec.report(newer);
        rec.report(newer);
        assert_eq!(rec.admitted(0), 10);
        assert_eq!(rec.committed(0), committed);
        assert_eq!(rec.outstanding(0, 0), 30.0);
        // A bogus report cannot return more than was out.
        let mut bogus = newer;
        bogus.counters.returned = 1000.0;
        rec.report(bogus);
        assert_eq!(rec.outstanding(0, 0), 0.0);
        assert!(rec.committed(0) <= 50.0);
        // Unknown indices are ignored.
        rec.report(WorkerReport {
            worker: 7,
            limit: 0,
            counters: newer.counters,
        });
        rec.report(WorkerReport {
            worker: 0,
            limit: 9,
            counters: newer.counters,
        });
        assert_eq!(rec.admitted(9), 0);
    }

    #[test]
    fn tokens_taken_from_the_shared_pool_count_until_reported() {
        // Burst 5, no refill: worker 1 takes 3 tokens from C between two ticks and spends
        // 2; the reconciler must count all 3 as gone before any report says so.
        let mut rec = Reconciler::new(spec(0.0, 5.0), 2, Duration::ZERO);
        let pools = rec.pools();
        let mut b = LocalBucket::new();
        for _ in 0..3 {
            assert!(b.borrow_from(&pools, 0));
        }
        b.take();
        b.take();
        rec.tick(Duration::from_millis(20));
        assert_eq!(rec.pool(0), 2.0);
        assert!(rec.committed(0) <= 5.0 + 1e-9);
        assert_eq!(
            rec.committed(0),
            5.0,
            "the borrowed token still held counts"
        );
        rec.report(WorkerReport {
            worker: 1,
            limit: 0,
            counters: b.report(),
        });
        assert_eq!(rec.outstanding(0, 1), 1.0);
        assert_eq!(rec.committed(0), 3.0);
        rec.tick(Duration::from_millis(40));
        assert_eq!(rec.committed(0), 3.0);
    }

    #[test]
    fn revocation_moves_idle_tokens_to_the_busy_worker() {
        let mut sim = Sim::new(spec(10.0, 40.0), 2);
        // Worker 1 is busy for 100 ms at 200/s (it is leased tokens), then stops; worker 0
        // hammers from then on.
        let demand = |w: usize, ms: u64| match (w, ms < 100) {
            (1, true) => 0.2,
            (0, false) => 1.0,
            _ => 0.0,
        };
        sim.run(100, &demand);
        let held = sim.buckets[1][0].tokens();
        assert!(held >= 1.0, "worker 1 holds a lease: {held}");
        let mut moved_at = None;
        for _ in 0..400 {
            sim.step(&demand);
            if moved_at.is_none() && sim.buckets[1][0].tokens() == 0.0 {
                moved_at = Some(sim.ms);
            }
        }
        let at = moved_at.unwrap_or(u64::MAX);
        eprintln!("revocation: idle worker (held {held}) emptied at {at} ms");
        // Its smoothed demand halves every tick: idle after about 5 ticks, revoked then.
        assert!(at <= 100 + 8 * TICK_MS, "idle lease revoked late: {at} ms");
        assert!(sim.buckets[1][0].report().returned >= 1.0);
        assert_eq!(sim.worker_between(1, 100, 500), 0);
    }

    #[test]
    fn an_idle_bucket_stays_in_the_shared_pool() {
        let mut sim = Sim::new(spec(100.0, 50.0), 2);
        sim.run(2000, &|_, _| 0.0);
        assert_eq!(sim.buckets[0][0].tokens(), 0.0);
        assert_eq!(sim.buckets[1][0].tokens(), 0.0);
        assert_eq!(
            sim.pools.available(0),
            50,
            "bucket is full, all of it shared"
        );
        assert_eq!(sim.rec.pool(0), 50.0);
    }

    #[test]
    fn a_full_bucket_admits_its_burst_on_any_core() {
        // The probe: burst 1 on 2 workers answered `429 429 200` (each core's share was
        // 0). Every burst, every worker count, every core: the first `burst` requests at
        // once are admitted, the next refused (no refill: rate 0.001).
        for workers in [2usize, 3, 4, 8] {
            for burst in [1u32, 2, 3, 7, 50] {
                for core in 0..workers {
                    let mut sim = Sim::new(spec(0.001, f64::from(burst)), workers);
                    let n = f64::from(burst + 1);
                    sim.run(1, &move |w, _| if w == core { n } else { 0.0 });
                    let got = sim.worker_between(core, 0, 1);
                    assert_eq!(
                        got,
                        u64::from(burst),
                        "{workers} workers, burst {burst}, core {core}"
                    );
                    // Nothing else anywhere, however long the others ask.
                    sim.run(2000, &|_, _| 0.05);
                    assert_eq!(sim.between(0, 2001), u64::from(burst));
                }
            }
        }
    }

    #[test]
    fn a_refilled_bucket_admits_its_burst_on_another_core() {
        // Worker 0 is busy under the limit for 2 s (it holds a lease), then everything is
        // quiet for 1 s (the bucket refills); a burst on worker 1 gets the whole burst: no
        // token stays parked on the formerly busy core.
        for workers in [2usize, 4] {
            let mut sim = Sim::new(spec(100.0, 50.0), workers);
            sim.run(2000, &|w, _| if w == 0 { 0.05 } else { 0.0 });
            sim.run(1000, &|_, _| 0.0);
            let at = sim.ms;
            sim.run(1, &|w, _| if w == 1 { 60.0 } else { 0.0 });
            let got = sim.worker_between(1, at, at + 1);
            eprintln!(
                "{workers} workers: burst of 60 after a quiet second: {got} admitted, \
                 worker 0 holds {}",
                sim.buckets[0][0].tokens()
            );
            assert_eq!(got, 50);
        }
    }

    #[test]
    fn several_levels_admit_at_the_tightest() {
        // Account 100/s, stage 30/s: the stage limits; the account keeps its tokens.
        let specs = vec![
            LimitSpec {
                rate: 100.0,
                burst: 50.0,
            },
            LimitSpec {
                rate: 30.0,
                burst: 10.0,
            },
        ];
        let mut sim = Sim::new(specs, 4);
        sim.run(10_000, &pattern("90/10", 4));
        let total = sim.between(0, 10_000);
        eprintln!("two levels (100/50 and 30/10): {total} in 10 s (ideal 310)");
        assert!((295..=310).contains(&total), "{total}");
        let account: u64 = (0..4).map(|w| sim.buckets[w][0].report().consumed).sum();
        assert_eq!(account, total);
    }

    #[test]
    fn invalid_inputs_never_panic() {
        let specs = vec![
            LimitSpec {
                rate: f64::NAN,
                burst: 10.0,
            },
            LimitSpec {
                rate: -5.0,
                burst: f64::NAN,
            },
            LimitSpec {
                rate: f64::INFINITY,
                burst: f64::INFINITY,
            },
            LimitSpec {
                rate: 0.0,
                burst: 0.0,
            },
        ];
        let mut rec = Reconciler::new(specs, 0, Duration::from_secs(5));
        assert_eq!(rec.workers(), 1);
        assert_eq!(rec.limits(), 4);
        assert_eq!(rec.rate(0), 0.0);
        rec.report(WorkerReport {
            worker: 0,
            limit: 2,
            counters: Counters {
                consumed: u64::MAX,
                attempts: u64::MAX,
                returned: f64::NAN,
                borrowed: u64::MAX,
                granted: u64::MAX,
            },
        });
        // Time going backwards, standing still, then jumping.
        for t in [1u64, 5, 5, 3, 3600] {
            for g in rec.tick(Duration::from_secs(t)) {
                assert!(g.tokens.is_finite());
            }
        }
        assert_eq!(rec.admitted(2), u64::MAX);
        assert_eq!(rec.admitted(42), 0);
        assert_eq!(rec.pool(42), 0.0);
        assert_eq!(rec.outstanding(42, 0), 0.0);
        assert_eq!(rec.demand(0, 42), 0.0);
        // No limits at all.
        let mut none = Reconciler::new(Vec::new(), 3, Duration::ZERO);
        assert!(none.tick(Duration::from_millis(20)).is_empty());
    }

    #[test]
    fn zero_rate_admits_only_the_burst() {
        let mut sim = Sim::new(spec(0.0, 7.0), 3);
        sim.run(5000, &|_, _| 1.0);
        assert_eq!(sim.between(0, 5000), 7);
    }

    #[test]
    fn grants_are_whole_tokens() {
        let mut rec = Reconciler::new(spec(3.3, 2.5), 2, Duration::ZERO);
        assert_eq!(rec.pool(0), 2.5);
        assert_eq!(rec.pools().available(0), 2, "only whole tokens are shared");
        for k in 1..200u64 {
            for w in 0..2 {
                rec.report(WorkerReport {
                    worker: w,
                    limit: 0,
                    counters: Counters {
                        consumed: 0,
                        attempts: k * 3,
                        returned: 0.0,
                        borrowed: 0,
                        granted: 0,
                    },
                });
            }
            for g in rec.tick(Duration::from_millis(20 * k)) {
                assert_eq!(g.tokens, g.tokens.trunc(), "{g:?}");
            }
            assert!(rec.committed(0) <= 2.5 + 1e-9);
        }
    }

    #[test]
    fn bursts_under_the_limit_are_served_whole() {
        // A client that fires n requests at once every `per` ms on one core: an ideal bucket
        // admits min(n, burst) each time once the first period has passed.
        for (w, n, per, expect) in [
            (4usize, 40.0, 1000u64, 40u64),
            (4, 60.0, 1000, 50),
            (2, 30.0, 500, 30),
            (8, 100.0, 2000, 50),
        ] {
            let mut sim = Sim::new(spec(100.0, 50.0), w);
            sim.run(10_000, &move |wk, ms| {
                if wk == 0 && ms % per == 0 {
                    n
                } else {
                    0.0
                }
            });
            let v: Vec<u64> = (0..10_000 / per)
                .map(|s| sim.between(s * per, (s + 1) * per))
                .collect();
            eprintln!("burst of {n} every {per} ms on 1 of {w} workers: {v:?}");
            assert!(v[1..].iter().all(|&x| x == expect), "{v:?}");
        }
        // The same next to a steady client on another core.
        let mut sim = Sim::new(spec(100.0, 50.0), 4);
        sim.run(10_000, &|wk, ms| match wk {
            0 => 0.06,
            1 if ms % 1000 == 500 => 30.0,
            _ => 0.0,
        });
        let steady = sim.worker_between(0, 0, 10_000);
        let bursts: Vec<u64> = (1..10)
            .map(|s| sim.worker_between(1, s * 1000, (s + 1) * 1000))
            .collect();
        eprintln!("steady 60/s ({steady} of 600) + bursts of 30: {bursts:?}");
        assert!(steady >= 590, "{steady}");
        assert!(bursts.iter().all(|&x| x == 30), "{bursts:?}");
    }

    #[test]
    fn moving_demand_under_the_limit() {
        // 50/s moving to another core every second: nothing refused; 90/s loses about one
        // report/grant round trip (~60 ms of demand) per move.
        for (w, per_ms, min) in [(4usize, 0.05, 500u64), (2, 0.05, 500), (4, 0.09, 800)] {
            let mut sim = Sim::new(spec(100.0, 50.0), w);
            sim.run(10_000, &move |wk, ms| {
                if (ms / 1000) as usize % w == wk {
                    per_ms
                } else {
                    0.0
                }
            });
            let total = sim.between(0, 10_000);
            eprintln!(
                "moving {:.0}/s on {w} workers: {total} of {:.0}",
                per_ms * 1000.0,
                per_ms * 10_000.0
            );
            assert!(total >= min, "{total}");
        }
    }

    #[test]
    fn a_burst_below_the_pipeline_caps_the_rate() {
        // The documented limitation: below rate x 2 ticks of burst, about burst / 2T per second.
        for (rate, burst) in [
            (1000.0, 10.0),
            (1000.0, 20.0),
            (1000.0, 40.0),
            (1000.0, 60.0),
            (100.0, 2.0),
        ] {
            let mut sim = Sim::new(spec(rate, burst), 2);
            sim.run(10_000, &move |_, _| rate / 250.0);
            let got = sim.between(1000, 10_000) as f64 / 9.0;
            let min = min_burst_for_full_rate(rate, Duration::from_millis(TICK_MS));
            let expect = rate.min(burst / (2.0 * TICK_MS as f64 / 1000.0));
            eprintln!("rate {rate} burst {burst} (full rate from burst {min}): {got:.1}/s");
            assert!((got - expect).abs() <= 0.02 * expect, "{got} vs {expect}");
            assert!(
                burst < min || got >= 0.98 * rate,
                "{got}: burst {burst} >= {min}"
            );
        }
        assert_eq!(
            min_burst_for_full_rate(f64::NAN, Duration::from_secs(1)),
            0.0
        );
    }

    #[test]
    fn message_sizes() {
        assert_eq!(std::mem::size_of::<WorkerReport>(), 56);
        assert_eq!(std::mem::size_of::<Grant>(), 24);
    }
}
