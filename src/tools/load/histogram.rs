//! The latency histogram: an `hdrhistogram` (HdrHistogram's log-linear buckets at 3
//! significant digits, a relative precision of 1/1024) with the exact minimum, maximum and
//! sum kept beside it.
//!
//! Values are nanoseconds. Values below 2048 ns are counted exactly; above that, every
//! power-of-two range `[2^k, 2^(k+1))` is split into 1024 equal buckets, so a bucket is never
//! wider than 1/1024 of the values in it. The recorded range is 1 µs .. 1 hour: smaller or
//! larger values are clamped to its ends (and counted in `clamped`). `min`, `max` and `mean`
//! are exact, and a quantile is never reported above the true maximum nor below the true
//! minimum.
//!
//! Memory: 33,792 counters (264 KiB); one histogram per load thread, merged at the end.

/// Smallest value recorded (1 µs in ns); smaller values are clamped up to it.
pub const LOWEST: u64 = 1_000;
/// Largest value recorded (1 hour in ns); larger values are clamped down to it.
pub const HIGHEST: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits kept by the buckets (relative precision 1/1024).
const SIGFIG: u8 = 3;

#[derive(Clone)]
pub struct Histogram {
    counts: hdrhistogram::Histogram<u64>,
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
            .field("count", &self.counts.len())
            .field("min", &self.min())
            .field("max", &self.max)
            .field("mean", &self.mean())
            .finish()
    }
}

impl Histogram {
    pub fn new() -> Self {
        // Unit resolution (lowest discernible value 1 ns) so values below 2048 ns are exact.
        let counts = hdrhistogram::Histogram::new_with_bounds(1, HIGHEST, SIGFIG)
            .expect("constant bounds: 1 <= HIGHEST / 2 and 3 significant digits are valid");
        Histogram {
            counts,
            sum: 0,
            min: u64::MAX,
            max: 0,
            clamped: 0,
        }
    }

    fn count_all(&self) -> u64 {
        self.counts.len()
    }

    /// Record one value in nanoseconds (clamped to 1 µs .. 1 h).
    pub fn record(&mut self, ns: u64) {
        let v = ns.clamp(LOWEST, HIGHEST);
        if v != ns {
            self.clamped += 1;
        }
        // `v` is within the histogram's bounds; saturating so that nothing can fail.
        self.counts.saturating_record(v);
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Add everything recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        // Both have the same bounds, so every value of `other` fits.
        self.counts
            .add(&other.counts)
            .expect("histograms with the same bounds add");
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.clamped += other.clamped;
    }

    /// Forget everything recorded.
    #[cfg(test)]
    pub fn reset(&mut self) {
        self.counts.reset();
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
        self.clamped = 0;
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count_all()
    }

    /// Smallest value recorded, exactly (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count_all() == 0 {
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
        match self.count_all() {
            0 => 0.0,
            n => self.sum as f64 / n as f64,
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
        if self.count_all() == 0 {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        self.counts.value_at_quantile(q).clamp(self.min, self.max)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_one_in_1024_and_small_values_are_exact() {
        let h = Histogram::new();
        // Every value from 1 µs to 1 h: its bucket's range [lowest, highest equivalent]
        // holds it and is at most 1/1024 of its lowest value wide (a single value below
        // 2048 ns). Sampled: every value to 70 µs, then a geometric walk to 1 h.
        let mut v = LOWEST;
        while v <= HIGHEST {
            let lo = h.counts.lowest_equivalent(v);
            let hi = h.counts.highest_equivalent(v);
            assert!(lo <= v && v <= hi, "{v}: [{lo}, {hi}]");
            if v < 2048 {
                assert_eq!((lo, hi), (v, v), "{v} is exact");
            } else {
                assert!(
                    (hi - lo + 1) as f64 / lo as f64 <= 1.0 / 1024.0,
                    "{v}: [{lo}, {hi}]"
                );
            }
            v = if v < 70_000 { v + 1 } else { v + v / 997 };
        }
        assert_eq!(
            h.counts.highest_equivalent(HIGHEST),
            h.counts.highest_equivalent(HIGHEST - 1)
        );
        // The documented memory: 33,792 counters.
        assert_eq!(h.counts.distinct_values(), 33_792);
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
        // Rank 50,000 is 50 ms; its bucket (32,768 ns wide) ends at 1526 * 32768 - 1.
        assert_eq!(h.value_at_quantile(0.5), 50_003_967);
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
        assert!(merged.counts == all.counts, "bucket counts differ");
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
