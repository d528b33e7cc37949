//! Open-loop (wrk2-style) send schedules, as pure arithmetic on nanosecond offsets from the
//! start of the run.
//!
//! The total rate R is split evenly over the N connections: each sends at R/N per second,
//! its k-th request intended at `phase + k * N/R` seconds. Connection i's phase is `i/R`, so
//! the N schedules interleave and the aggregate is one request every 1/R seconds rather than
//! N requests at once. Intended times are computed from k (never by adding up intervals), so
//! they do not drift.
//!
//! Latency is measured from the intended send time, so when the system under test stalls,
//! the requests that queue up behind it count their waiting time (no coordinated omission);
//! a connection that has fallen behind sends at once and still measures from the intended
//! time. One exception, for the generator's own timer: monoio's timer has a resolution of
//! one millisecond and rounds up, so a connection that was idle and sleeping until its
//! intended time wakes up to ~2 ms late through no fault of the system. When the connection
//! was ready before the intended time and the send is within `TIMER_SLACK_NS` of it, the
//! latency is measured from the actual send instead ([`latency_origin`]).

/// Sends up to this late, by a connection that was idle at the intended time, are the
/// generator's own timer, not the system's doing: monoio rounds a deadline up to the next
/// millisecond tick and then parks for whole milliseconds counted from the current
/// (truncated) tick, so a sleeper wakes 0-2 ms late, plus scheduling.
pub const TIMER_SLACK_NS: u64 = 3_000_000;

/// Each connection's rate when `total` requests/s are split evenly over `connections`.
pub fn rate_per_connection(total: f64, connections: usize) -> f64 {
    total / connections.max(1) as f64
}

/// One connection's schedule of intended send times.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Time between two of this connection's sends, in ns.
    interval_ns: f64,
    /// Offset of this connection's first send, in ns.
    phase_ns: f64,
    /// Index of the next request.
    next: u64,
}

impl Schedule {
    /// The schedule of connection `index` (0-based) of `connections`, which together send
    /// `total_rate` requests per second.
    pub fn new(total_rate: f64, connections: usize, index: usize) -> Schedule {
        let per_conn = rate_per_connection(total_rate, connections);
        let interval_ns = if per_conn > 0.0 {
            1e9 / per_conn
        } else {
            f64::INFINITY
        };
        let phase_ns = if total_rate > 0.0 {
            index as f64 * 1e9 / total_rate
        } else {
            0.0
        };
        Schedule {
            interval_ns,
            phase_ns,
            next: 0,
        }
    }

    /// Time between two of this connection's sends, in ns.
    #[cfg(test)]
    pub fn interval_ns(&self) -> f64 {
        self.interval_ns
    }

    /// Intended send time of request `k` (0-based), in ns from the start of the run.
    pub fn intended(&self, k: u64) -> u64 {
        let t = (self.phase_ns + k as f64 * self.interval_ns).round();
        if t >= u64::MAX as f64 {
            u64::MAX
        } else {
            t as u64
        }
    }

    /// Intended time of the next request; advances the schedule.
    pub fn next_intended(&mut self) -> u64 {
        let t = self.intended(self.next);
        self.next += 1;
        t
    }

    /// How many requests have been taken from the schedule.
    #[cfg(test)]
    pub fn taken(&self) -> u64 {
        self.next
    }
}

/// Where a request's latency is measured from (all times in ns from the start of the run):
/// the intended time, except when the connection was idle at the intended time (`ready`,
/// the end of its previous exchange, is not later) and the actual send (`sent`) is within
/// `TIMER_SLACK_NS` of it: then the lateness is the generator's timer and the actual send
/// time is the origin.
pub fn latency_origin(intended: u64, ready: u64, sent: u64) -> u64 {
    if ready <= intended && sent.saturating_sub(intended) <= TIMER_SLACK_NS {
        sent
    } else {
        intended
    }
}

/// How late the sends were relative to their intended times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lateness {
    /// Sends later than `TIMER_SLACK_NS` after their intended time.
    pub late: u64,
    /// The largest lateness seen, in ns.
    pub max_ns: u64,
    /// Sum of all lateness, in ns.
    pub total_ns: u64,
    /// Sends accounted.
    pub sends: u64,
}

impl Lateness {
    /// Account one send intended at `intended` and made at `sent`.
    pub fn record(&mut self, intended: u64, sent: u64) {
        let l = sent.saturating_sub(intended);
        if l > TIMER_SLACK_NS {
            self.late += 1;
        }
        self.max_ns = self.max_ns.max(l);
        self.total_ns = self.total_ns.saturating_add(l);
        self.sends += 1;
    }

    pub fn merge(&mut self, other: &Lateness) {
        self.late += other.late;
        self.max_ns = self.max_ns.max(other.max_ns);
        self.total_ns = self.total_ns.saturating_add(other.total_ns);
        self.sends += other.sends;
    }

    /// Mean lateness in ns (0 when nothing was sent).
    pub fn mean_ns(&self) -> f64 {
        if self.sends == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.sends as f64
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rate_is_split_evenly() {
        assert_eq!(rate_per_connection(1000.0, 4), 250.0);
        assert_eq!(rate_per_connection(200.0, 64), 3.125);
        assert_eq!(rate_per_connection(10.0, 0), 10.0);
    }

    #[test]
    fn intended_times_are_exactly_spaced() {
        // 1000 req/s over 4 connections: each 250/s, 4 ms apart, phases 0, 1, 2, 3 ms.
        for i in 0..4 {
            let mut s = Schedule::new(1000.0, 4, i);
            assert_eq!(s.interval_ns(), 4.0 * MS as f64);
            for k in 0..1000u64 {
                assert_eq!(s.next_intended(), i as u64 * MS + k * 4 * MS);
            }
            assert_eq!(s.taken(), 1000);
        }
    }

    #[test]
    fn connections_interleave_into_the_total_rate() {
        // All the schedules together: one send every 1 ms, none at the same instant.
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| {
                let s = Schedule::new(1000.0, 4, i);
                (0..250).map(move |k| s.intended(k))
            })
            .collect();
        all.sort_unstable();
        for (n, t) in all.iter().enumerate() {
            assert_eq!(*t, n as u64 * MS);
        }
    }

    #[test]
    fn fractional_rates_do_not_drift() {
        // 7 req/s over 3 connections: 428.571... ms apart; the millionth send is where
        // k * interval says, not where a million additions of a rounded interval would be.
        let s = Schedule::new(7.0, 3, 0);
        let k = 1_000_000u64;
        let exact = k as f64 * 3.0 / 7.0 * 1e9;
        assert!((s.intended(k) as f64 - exact).abs() <= 1.0);
        let s1 = Schedule::new(7.0, 3, 1);
        assert_eq!(s1.intended(0), 142_857_143); // 1/7 s, rounded to the ns
    }

    #[test]
    fn latency_origin_counts_the_systems_delay_only() {
        // Idle connection, woke 0.7 ms or 2.5 ms late (timer): measure from the actual send.
        assert_eq!(
            latency_origin(10 * MS, 8 * MS, 10 * MS + 700_000),
            10 * MS + 700_000
        );
        assert_eq!(
            latency_origin(10 * MS, 8 * MS, 12 * MS + 500_000),
            12 * MS + 500_000
        );
        // Idle connection, on time.
        assert_eq!(latency_origin(10 * MS, 8 * MS, 10 * MS), 10 * MS);
        // Busy: the previous response came 5 ms after this request's intended time; the
        // request waited for it, and that wait counts.
        assert_eq!(latency_origin(10 * MS, 15 * MS, 15 * MS), 10 * MS);
        // Busy, even if only slightly: the system held the connection past the intended time.
        assert_eq!(latency_origin(10 * MS, 10 * MS + 1, 10 * MS + 1), 10 * MS);
        // Idle but far behind (the generator was starved): measured from the intended time.
        assert_eq!(latency_origin(10 * MS, 8 * MS, 20 * MS), 10 * MS);
    }

    #[test]
    fn lateness_accounting() {
        let mut l = Lateness::default();
        l.record(10 * MS, 10 * MS); // on time
        l.record(20 * MS, 21 * MS); // within the timer slack
        l.record(30 * MS, 45 * MS); // 15 ms late
        l.record(40 * MS, 39 * MS); // early counts as 0
        assert_eq!(l.sends, 4);
        assert_eq!(l.late, 1);
        assert_eq!(l.max_ns, 15 * MS);
        assert_eq!(l.total_ns, 16 * MS);
        assert_eq!(l.mean_ns(), 4.0 * MS as f64);
        let mut m = Lateness::default();
        m.record(0, 4 * MS);
        m.merge(&l);
        assert_eq!(m.sends, 5);
        assert_eq!(m.late, 2);
        assert_eq!(m.max_ns, 15 * MS);
        assert_eq!(m.total_ns, 20 * MS);
    }
}
