//! A latency histogram in the style of HdrHistogram: log-linear buckets with a relative
//! precision of 1/1024 (a little better than 3 significant decimal digits).
//!
//! Values are nanoseconds. Values below 2048 ns have a bucket each (exact); above that,
//! every power-of-two range `[2^k, 2^(k+1))` is split into 1024 equal buckets, so a bucket
//! is never wider than 1/1024 of the values in it. The recorded range is 1 µs .. 1 hour:
//! smaller or larger values are clamped to its ends (and counted in `clamped`). The
//! minimum, maximum and sum are tracked exactly, so `min`, `max` and `mean` are exact and a
//! quantile is never reported above the true maximum.
//!
//! Memory: 33,792 counters (264 KiB); one histogram per load thread, merged at the end.

/// Smallest value recorded (1 µs in ns); smaller values are clamped up to it.
pub const LOWEST: u64 = 1_000;
/// Largest value recorded (1 hour in ns); larger values are clamped down to it.
pub const HIGHEST: u64 = 3_600 * 1_000_000_000;

/// Values below this have one bucket each.
const LINEAR: u64 = 2048;
/// Buckets per power-of-two range above `LINEAR`.
const HALF: usize = 1024;
/// `HIGHEST` is below 2^42: ranges 2^11 .. 2^42 need 31 half-ranges of 1024 buckets.
const BUCKETS: usize = LINEAR as usize + 31 * HALF;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    clamped: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max)
            .field("mean", &self.mean())
            .finish()
    }
}

/// Bucket index of `v` (which must be within `LOWEST..=HIGHEST`).
fn index_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= 11
    let shift = msb - 10; // >= 1; (v >> shift) is in 1024..2048
    let sub = (v >> shift) as usize;
    LINEAR as usize + (shift as usize - 1) * HALF + (sub - HALF)
}

/// The smallest and largest value that land in bucket `i`.
fn bounds_of(i: usize) -> (u64, u64) {
    if i < LINEAR as usize {
        return (i as u64, i as u64);
    }
    let j = i - LINEAR as usize;
    let shift = (j / HALF + 1) as u32;
    let sub = (j % HALF + HALF) as u64;
    (sub << shift, ((sub + 1) << shift) - 1)
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0u64; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            clamped: 0,
        }
    }

    /// Record one value in nanoseconds (clamped to 1 µs .. 1 h).
    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(LOWEST, HIGHEST);
        if v != ns {
            self.clamped += 1;
        }
        // `v` is in range, so the index is within `counts`.
        if let Some(c) = self.counts.get_mut(index_of(v)) {
            *c += 1;
        }
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Add everything recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.clamped += other.clamped;
    }

    /// Forget everything recorded.
    #[cfg(test)]
    pub fn reset(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
        self.clamped = 0;
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Exact mean of the (clamped) values recorded (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// How many values were outside 1 µs .. 1 h and clamped.
    #[cfg(test)]
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at quantile `q` (0.0 ..= 1.0): the largest value equivalent (within the
    /// precision) to the value of rank `ceil(q * count)`, never above the exact maximum nor
    /// below the exact minimum. 0 when empty.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bounds_of(i).1.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds_of(i);
            assert!(lo <= hi);
            if let Some(p) = prev_high {
                assert_eq!(lo, p + 1, "gap before bucket {i}");
            }
            assert_eq!(index_of(lo), i);
            assert_eq!(index_of(hi), i);
            if lo < LINEAR {
                assert_eq!(lo, hi, "bucket {i} is exact");
            } else {
                // Width relative to the smallest value in the bucket.
                assert!((hi - lo + 1) as f64 / lo as f64 <= 1.0 / 1024.0);
            }
            prev_high = Some(hi);
        }
        assert!(bounds_of(BUCKETS - 1).1 >= HIGHEST);
        assert!(index_of(HIGHEST) < BUCKETS);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in [1_000u64, 1_001, 1_500, 2_047] {
            h.record(v);
        }
        assert_eq!(h.count(), 4);
        assert_eq!(h.min(), 1_000);
        assert_eq!(h.max(), 2_047);
        assert_eq!(h.value_at_quantile(0.25), 1_000);
        assert_eq!(h.value_at_quantile(0.5), 1_001);
        assert_eq!(h.value_at_quantile(0.75), 1_500);
        assert_eq!(h.value_at_quantile(1.0), 2_047);
        assert_eq!(h.mean(), (1_000.0 + 1_001.0 + 1_500.0 + 2_047.0) / 4.0);
    }

    #[test]
    fn uniform_quantiles_within_precision() {
        // 1 µs .. 100 ms in steps of 1 µs.
        let n = 100_000u64;
        let mut h = Histogram::new();
        for i in 1..=n {
            h.record(i * 1_000);
        }
        for q in [0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999] {
            let exact = ((q * n as f64).ceil() as u64) * 1_000;
            let got = h.value_at_quantile(q);
            assert!(got >= exact, "q={q}: {got} < {exact}");
            assert!(
                (got - exact) as f64 <= exact as f64 / 1024.0,
                "q={q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.value_at_quantile(1.0), n * 1_000);
        assert_eq!(h.value_at_quantile(0.0), 1_000);
        assert!((h.mean() - 50_000_500.0).abs() < 1e-6);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut all = Histogram::new();
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 1_000 + x % 5_000_000_000;
            all.record(v);
            if i % 3 == 0 {
                a.record(v);
            } else {
                b.record(v);
            }
        }
        let mut merged = Histogram::new();
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.count(), all.count());
        assert_eq!(merged.min(), all.min());
        assert_eq!(merged.max(), all.max());
        assert_eq!(merged.mean(), all.mean());
        assert_eq!(merged.counts, all.counts);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.value_at_quantile(q), all.value_at_quantile(q));
        }
    }

    #[test]
    fn max_is_exact() {
        let mut h = Histogram::new();
        h.record(10_000);
        h.record(123_456_789);
        assert_eq!(h.max(), 123_456_789);
        // The top quantile is the exact maximum, not its bucket's upper bound.
        assert_eq!(h.value_at_quantile(1.0), 123_456_789);
        assert_eq!(h.value_at_quantile(0.99), 123_456_789);
    }

    #[test]
    fn out_of_range_values_clamp() {
        let mut h = Histogram::new();
        h.record(0);
        h.record(999);
        h.record(HIGHEST + 1);
        h.record(u64::MAX);
        assert_eq!(h.count(), 4);
        assert_eq!(h.clamped(), 4);
        assert_eq!(h.min(), LOWEST);
        assert_eq!(h.max(), HIGHEST);
        assert_eq!(h.value_at_quantile(0.5), LOWEST);
        assert_eq!(h.value_at_quantile(1.0), HIGHEST);
    }

    #[test]
    fn empty_and_reset() {
        let mut h = Histogram::new();
        assert_eq!(h.value_at_quantile(0.5), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.mean(), 0.0);
        h.record(5_000);
        h.reset();
        assert_eq!(h.count(), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.value_at_quantile(0.99), 0);
    }
}
