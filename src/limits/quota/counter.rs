//! The shared counter: one `AtomicU64` per (usage plan, API key) packing the period index and
//! the used count (see the module docs of `limits::quota`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::quota::QuotaSpec;

const USED_BITS: u32 = 40;
const USED_MASK: u64 = (1 << USED_BITS) - 1;
pub(super) const PERIOD_MASK: u32 = (1 << 24) - 1;
/// The counter's "never used" state; no (period, used) pair packs to it because `used` never
/// exceeds `MAX_USED`.
const EMPTY: u64 = u64::MAX;
pub(super) const MAX_USED: u64 = USED_MASK - 1;
// The configuration's largest quota limit is what a counter can count to.
const _: () = assert!(MAX_USED == QuotaSpec::MAX_LIMIT);
/// A call for a period at most this many periods before the stored one is a late call (its
/// caller read the clock before the period rolled over) and is refused. Any other different
/// period is taken as newer, so a counter left idle for a very long time (2^24 periods, minus
/// this window) still starts counting again.
const LATE_WINDOW: u32 = 1024;

fn pack(period: u32, used: u64) -> u64 {
    (u64::from(period & PERIOD_MASK) << USED_BITS) | (used & USED_MASK)
}

fn unpack(word: u64) -> (u32, u64) {
    ((word >> USED_BITS) as u32 & PERIOD_MASK, word & USED_MASK)
}

/// Whether `period` lies at most [`LATE_WINDOW`] periods before `stored` (both modulo 2^24).
pub(super) fn is_late(period: u32, stored: u32) -> bool {
    let behind = stored.wrapping_sub(period) & PERIOD_MASK;
    behind != 0 && behind <= LATE_WINDOW
}

/// One (usage plan, API key) counter shared by every worker. See the module docs.
///
/// Period indices are taken modulo 2^24. A call for a period just before the stored one (a
/// "late" call, whose caller read the clock before another core rolled the period over) is
/// refused with `Err`: counting it in the new period would charge a request to a period it
/// was not made in, and counting it in the old one is impossible once the count was reset.
#[derive(Debug)]
pub struct QuotaCounter {
    word: AtomicU64,
}

impl Default for QuotaCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl QuotaCounter {
    pub fn new() -> Self {
        QuotaCounter {
            word: AtomicU64::new(EMPTY),
        }
    }

    /// Count one request in `period` if `limit` is not reached: `Ok(used after)`, or `Err(())`
    /// when the quota is exhausted (or the call is late, see the type's docs). `limit` above
    /// [`QuotaSpec::MAX_LIMIT`] counts as that maximum. An exhausted quota costs one load, no
    /// write.
    #[allow(clippy::result_unit_err)]
    pub fn try_consume(&self, period: u32, limit: u64) -> Result<u64, ()> {
        let p = period & PERIOD_MASK;
        let limit = limit.min(MAX_USED);
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            let used_after = if cur == EMPTY {
                1
            } else {
                let (stored, used) = unpack(cur);
                if stored == p {
                    used + 1
                } else if is_late(p, stored) {
                    return Err(());
                } else {
                    1
                }
            };
            if used_after > limit {
                return Err(());
            }
            match self.word.compare_exchange_weak(
                cur,
                pack(p, used_after),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(used_after),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Requests counted in `period`; 0 if the counter holds another period.
    pub fn used(&self, period: u32) -> u64 {
        match self.snapshot() {
            Some((stored, used)) if stored == period & PERIOD_MASK => used,
            _ => 0,
        }
    }

    /// The stored (period modulo 2^24, used) pair; `None` if nothing was ever counted.
    pub fn snapshot(&self) -> Option<(u32, u64)> {
        let w = self.word.load(Ordering::Acquire);
        (w != EMPTY).then(|| unpack(w))
    }

    /// Set the count of `period` from the state file (at start-up). Idempotent: for the
    /// period already stored the larger count wins (nothing counted twice, nothing lost); an
    /// unused counter or one holding an older period takes `(period, used)`; a restore for a
    /// period before the stored one is ignored. `used` is capped at the counter's maximum.
    pub fn restore(&self, period: u32, used: u64) {
        let p = period & PERIOD_MASK;
        let used = used.min(MAX_USED);
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            let next = if cur == EMPTY {
                pack(p, used)
            } else {
                let (stored, stored_used) = unpack(cur);
                if stored == p {
                    pack(p, used.max(stored_used))
                } else if is_late(p, stored) {
                    return;
                } else {
                    pack(p, used)
                }
            };
            if next == cur {
                return;
            }
            match self
                .word
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn contend(limit: u64) -> usize {
        let c = QuotaCounter::new();
        let ok = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let mut mine = 0;
                    for _ in 0..100_000 {
                        if c.try_consume(7, limit).is_ok() {
                            mine += 1;
                        }
                    }
                    ok.fetch_add(mine, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(c.used(7), ok.load(Ordering::Relaxed) as u64);
        ok.load(Ordering::Relaxed)
    }

    #[test]
    fn counter_is_exact_under_contention() {
        assert_eq!(contend(500_000), 500_000);
        assert_eq!(contend(1_000_000), 800_000);
    }

    #[test]
    fn counter_basics_and_period_change() {
        let c = QuotaCounter::new();
        assert_eq!(c.used(5), 0);
        assert_eq!(c.snapshot(), None);
        assert_eq!(c.try_consume(5, 0), Err(()));
        assert_eq!(c.try_consume(5, 2), Ok(1));
        assert_eq!(c.try_consume(5, 2), Ok(2));
        assert_eq!(c.try_consume(5, 2), Err(()));
        assert_eq!(c.used(5), 2);
        // A new period resets the count.
        assert_eq!(c.try_consume(6, 2), Ok(1));
        assert_eq!(c.used(5), 0);
        assert_eq!(c.used(6), 1);
        // A late call for period 5 after period 6 started is refused, and counted nowhere.
        assert_eq!(c.try_consume(5, 2), Err(()));
        assert_eq!(c.used(6), 1);
        // Indices are taken modulo 2^24, and wrapping around is just "the next period".
        let c = QuotaCounter::new();
        assert_eq!(c.try_consume(PERIOD_MASK, 5), Ok(1));
        assert_eq!(c.try_consume(PERIOD_MASK + 1, 5), Ok(1));
        assert_eq!(c.used(0), 1);
        assert_eq!(c.try_consume(PERIOD_MASK, 5), Err(()));
        // A counter idle for far longer than the late window counts again.
        assert_eq!(c.try_consume(5_000_000, 5), Ok(1));
        // Limits above the 40-bit maximum are capped, not wrapped.
        let c = QuotaCounter::new();
        c.restore(1, u64::MAX);
        assert_eq!(c.used(1), MAX_USED);
        assert_eq!(c.try_consume(1, u64::MAX), Err(()));
    }

    #[test]
    fn counter_restore() {
        let c = QuotaCounter::new();
        c.restore(9, 40);
        assert_eq!(c.used(9), 40);
        assert_eq!(c.try_consume(9, 42), Ok(41));
        assert_eq!(c.try_consume(9, 42), Ok(42));
        assert_eq!(c.try_consume(9, 42), Err(()));
        // Idempotent: restoring again does not add.
        c.restore(9, 40);
        assert_eq!(c.used(9), 42);
        // An older period is ignored; a newer one replaces.
        c.restore(8, 3);
        assert_eq!(c.used(9), 42);
        c.restore(10, 3);
        assert_eq!(c.used(10), 3);
        assert_eq!(c.used(9), 0);
    }
}
