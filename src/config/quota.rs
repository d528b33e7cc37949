//! A usage plan's quota as configured: at most `limit` requests per DAY, WEEK or MONTH
//! (and tollgate's HOUR and MINUTE), shifted by `offset`, with the UTC periods it means
//! (pure functions of the settings, on crate::time's calendar). The counters that enforce
//! it are `limits::quota`'s.

use std::str::FromStr;

use crate::time::{civil_from_days, days_from_civil};

pub(crate) const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z: inputs are clamped to years 0..=9999 so no arithmetic can overflow.
pub(crate) const MIN_UNIX_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
pub(crate) const MAX_UNIX_SECS: i64 = 253_402_300_799;
/// 1970-01-01 was a Thursday (Sunday = 0).
pub(crate) const EPOCH_WEEKDAY: i64 = 4;

/// A quota period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    /// tollgate extension.
    Hour,
    /// tollgate extension.
    Minute,
}

impl Period {
    /// The API Gateway spelling: `DAY`, `WEEK`, `MONTH` (and `HOUR`, `MINUTE`).
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "DAY",
            Period::Week => "WEEK",
            Period::Month => "MONTH",
            Period::Hour => "HOUR",
            Period::Minute => "MINUTE",
        }
    }

    /// Whether periods start at a UTC midnight (so daily history can be split by period).
    pub(crate) fn day_aligned(self) -> bool {
        matches!(self, Period::Day | Period::Week | Period::Month)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Period {
    type Err = String;

    /// `DAY`, `WEEK`, `MONTH`, `HOUR`, `MINUTE` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, String> {
        let p = match s.to_ascii_uppercase().as_str() {
            "DAY" => Period::Day,
            "WEEK" => Period::Week,
            "MONTH" => Period::Month,
            "HOUR" => Period::Hour,
            "MINUTE" => Period::Minute,
            _ => {
                return Err(format!(
                    "unknown quota period {s:?} (expected DAY, WEEK, MONTH, HOUR or MINUTE)"
                ))
            }
        };
        Ok(p)
    }
}

/// A usage plan's quota: at most `limit` requests per `period`, shifted by `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub limit: u64,
    pub period: Period,
    pub offset: u32,
}

impl QuotaSpec {
    /// The largest limit a `limits::quota::QuotaCounter` can count to (40 bits, one value kept as a
    /// sentinel).
    pub const MAX_LIMIT: u64 = (1 << 40) - 2;

    /// API Gateway's rules: `limit` >= 1; `offset` 0 for DAY (and HOUR, MINUTE), 0..=6 for
    /// WEEK, 0..=27 for MONTH.
    pub fn validate(&self) -> Result<(), String> {
        if self.limit < 1 {
            return Err("quota limit must be at least 1".to_string());
        }
        if self.limit > Self::MAX_LIMIT {
            return Err(format!(
                "quota limit {} is too large (at most {})",
                self.limit,
                Self::MAX_LIMIT
            ));
        }
        match self.period {
            Period::Week if self.offset > 6 => Err(format!(
                "quota offset {} is invalid for WEEK: 0 (Sunday) to 6 (Saturday)",
                self.offset
            )),
            Period::Month if self.offset > 27 => Err(format!(
                "quota offset {} is invalid for MONTH: days after the 1st, 0 to 27",
                self.offset
            )),
            Period::Day | Period::Hour | Period::Minute if self.offset != 0 => Err(format!(
                "quota offset {} is invalid for {}: it must be 0",
                self.offset, self.period
            )),
            _ => Ok(()),
        }
    }

    /// The period containing `unix_secs`: (index, start_unix, end_unix); start inclusive,
    /// end exclusive. The index grows by one per period: days since 1970-01-01 for DAY, weeks
    /// for WEEK, months since 1970-01 (of the month the period starts in) for MONTH, hours and
    /// minutes since the epoch for HOUR and MINUTE. Times before 1970 give negative indices,
    /// returned wrapped (`as u32`); times outside years 0..=9999 are clamped. An offset that
    /// `validate` would refuse is brought into range (WEEK modulo 7, MONTH at most 27, others
    /// ignored) rather than panicking.
    pub fn period_of(&self, unix_secs: i64) -> (u32, i64, i64) {
        let idx = self.index_of(unix_secs);
        let (start, end) = self.bounds(idx);
        (idx as u32, start, end)
    }

    fn week_offset(&self) -> i64 {
        i64::from(self.offset % 7)
    }

    fn month_offset(&self) -> u32 {
        self.offset.min(27)
    }

    /// The full (unwrapped) index of the period containing `unix_secs`.
    pub(crate) fn index_of(&self, unix_secs: i64) -> i64 {
        let t = unix_secs.clamp(MIN_UNIX_SECS, MAX_UNIX_SECS);
        let day = t.div_euclid(SECS_PER_DAY);
        match self.period {
            Period::Day => day,
            Period::Week => (day + EPOCH_WEEKDAY - self.week_offset()).div_euclid(7),
            Period::Month => {
                let (y, m, d) = civil_from_days(day);
                let month = (y - 1970) * 12 + i64::from(m) - 1;
                if d > self.month_offset() {
                    month
                } else {
                    month - 1
                }
            }
            Period::Hour => t.div_euclid(3600),
            Period::Minute => t.div_euclid(60),
        }
    }

    /// Start (inclusive) and end (exclusive) of the period with full index `idx`.
    pub(crate) fn bounds(&self, idx: i64) -> (i64, i64) {
        match self.period {
            Period::Day => (idx * SECS_PER_DAY, (idx + 1) * SECS_PER_DAY),
            Period::Week => {
                let start_day = idx * 7 - EPOCH_WEEKDAY + self.week_offset();
                (start_day * SECS_PER_DAY, (start_day + 7) * SECS_PER_DAY)
            }
            Period::Month => {
                let first = self.month_offset() + 1;
                let start_of = |month: i64| {
                    let y = 1970 + month.div_euclid(12);
                    let m = month.rem_euclid(12) as u32 + 1;
                    days_from_civil(y, m, first) * SECS_PER_DAY
                };
                (start_of(idx), start_of(idx + 1))
            }
            Period::Hour => (idx * 3600, (idx + 1) * 3600),
            Period::Minute => (idx * 60, (idx + 1) * 60),
        }
    }
}

/// One (usage plan, API key) pair with its plan's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaEntry {
    pub plan: String,
    pub key_id: String,
    pub spec: QuotaSpec,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(y: i64, m: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, m, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s
    }

    fn spec(period: Period, offset: u32) -> QuotaSpec {
        QuotaSpec {
            limit: 10,
            period,
            offset,
        }
    }

    #[test]
    fn day_boundaries() {
        let s = spec(Period::Day, 0);
        let last = ts(2026, 11, 22, 23, 59, 59);
        let (i, start, end) = s.period_of(last);
        assert_eq!(start, ts(2026, 11, 22, 0, 0, 0));
        assert_eq!(end, ts(2026, 11, 23, 0, 0, 0));
        assert_eq!(i as i64, days_from_civil(2026, 11, 22));
        let (j, start2, end2) = s.period_of(last + 1);
        assert_eq!(j, i + 1);
        assert_eq!(start2, end);
        assert_eq!(end2, ts(2026, 11, 24, 0, 0, 0));
        assert_eq!(s.period_of(0), (0, 0, SECS_PER_DAY));
        // Before the epoch: still consecutive (wrapped) indices.
        assert_eq!(s.period_of(-1), (u32::MAX, -SECS_PER_DAY, 0));
    }

    #[test]
    fn week_offsets() {
        let sun = ts(2026, 11, 22, 0, 0, 0); // a Sunday
        let mon = ts(2026, 11, 23, 0, 0, 0);
        let w0 = spec(Period::Week, 0);
        let (i, start, end) = w0.period_of(sun);
        assert_eq!((start, end), (sun, sun + 7 * SECS_PER_DAY));
        let (i_prev, s_prev, e_prev) = w0.period_of(sun - 1);
        assert_eq!(i_prev + 1, i);
        assert_eq!((s_prev, e_prev), (sun - 7 * SECS_PER_DAY, sun));
        assert_eq!(w0.period_of(sun + 7 * SECS_PER_DAY - 1).0, i);
        assert_eq!(w0.period_of(sun + 7 * SECS_PER_DAY).0, i + 1);

        let w1 = spec(Period::Week, 1);
        // Sunday belongs to the week that started the Monday before.
        let (_, start, end) = w1.period_of(sun + 3600);
        assert_eq!((start, end), (mon - 7 * SECS_PER_DAY, mon));
        // The known Sunday 2026-11-22 opens week index (days + 4) / 7 for offset 0.
        assert_eq!(i as i64, (days_from_civil(2026, 11, 22) + 4) / 7);
        let (k, start, end) = w1.period_of(mon);
        assert_eq!((start, end), (mon, mon + 7 * SECS_PER_DAY));
        assert_eq!(w1.period_of(mon - 1).0 + 1, k);
        assert_eq!(w1.period_of(mon - 1).2, mon);

        // 1970-01-01 is a Thursday: WEEK offset 4 starts on it.
        assert_eq!(spec(Period::Week, 4).period_of(0), (0, 0, 7 * SECS_PER_DAY));
        let sat = spec(Period::Week, 6).period_of(ts(2026, 11, 22, 12, 0, 0));
        assert_eq!(sat.1, ts(2026, 11, 21, 0, 0, 0));
    }

    #[test]
    fn month_offsets() {
        let m0 = spec(Period::Month, 0);
        let (i, start, end) = m0.period_of(ts(2025, 12, 31, 23, 59, 59));
        assert_eq!(i as i64, (2025 - 1970) * 12 + 11);
        assert_eq!(
            (start, end),
            (ts(2025, 12, 1, 0, 0, 0), ts(2026, 1, 1, 0, 0, 0))
        );
        let (j, start, end) = m0.period_of(ts(2026, 1, 1, 0, 0, 0));
        assert_eq!(j, i + 1);
        assert_eq!(
            (start, end),
            (ts(2026, 1, 1, 0, 0, 0), ts(2026, 2, 1, 0, 0, 0))
        );
        // February of a leap year.
        let (_, start, end) = m0.period_of(ts(2024, 2, 29, 12, 0, 0));
        assert_eq!(
            (start, end),
            (ts(2024, 2, 1, 0, 0, 0), ts(2024, 3, 1, 0, 0, 0))
        );
        assert_eq!(end - start, 29 * SECS_PER_DAY);

        let m14 = spec(Period::Month, 14); // periods start on the 15th
        let (i, start, end) = m14.period_of(ts(2026, 1, 14, 23, 59, 59));
        assert_eq!(
            (start, end),
            (ts(2025, 12, 15, 0, 0, 0), ts(2026, 1, 15, 0, 0, 0))
        );
        assert_eq!(i as i64, (2025 - 1970) * 12 + 11);
        let (j, start, end) = m14.period_of(ts(2026, 1, 15, 0, 0, 0));
        assert_eq!(j, i + 1);
        assert_eq!(
            (start, end),
            (ts(2026, 1, 15, 0, 0, 0), ts(2026, 2, 15, 0, 0, 0))
        );
        let (_, start, end) = m14.period_of(ts(2025, 12, 20, 0, 0, 0));
        assert_eq!(
            (start, end),
            (ts(2025, 12, 15, 0, 0, 0), ts(2026, 1, 15, 0, 0, 0))
        );
        // Across leap February: Feb 15 -> Mar 15 2024 is 29 days.
        let (_, start, end) = m14.period_of(ts(2024, 3, 1, 0, 0, 0));
        assert_eq!(
            (start, end),
            (ts(2024, 2, 15, 0, 0, 0), ts(2024, 3, 15, 0, 0, 0))
        );
        assert_eq!(end - start, 29 * SECS_PER_DAY);
        // Offset 27 (the 28th) exists in a common-year February.
        let (_, start, end) = spec(Period::Month, 27).period_of(ts(2023, 3, 1, 0, 0, 0));
        assert_eq!(
            (start, end),
            (ts(2023, 2, 28, 0, 0, 0), ts(2023, 3, 28, 0, 0, 0))
        );
    }

    #[test]
    fn hour_and_minute() {
        let t = ts(2026, 11, 22, 13, 59, 59);
        let h = spec(Period::Hour, 0);
        let (i, start, end) = h.period_of(t);
        assert_eq!(
            (start, end),
            (ts(2026, 11, 22, 13, 0, 0), ts(2026, 11, 22, 14, 0, 0))
        );
        assert_eq!(h.period_of(t + 1).0, i + 1);
        let m = spec(Period::Minute, 0);
        let (i, start, end) = m.period_of(t);
        assert_eq!((start, end), (t - 59, t + 1));
        assert_eq!(i as i64, t / 60);
        assert_eq!(m.period_of(t + 1), (i + 1, t + 1, t + 61));
    }

    #[test]
    fn validate_rules() {
        let ok = |period, offset| {
            QuotaSpec {
                limit: 1,
                period,
                offset,
            }
            .validate()
        };
        assert!(ok(Period::Day, 0).is_ok());
        assert!(ok(Period::Week, 6).is_ok());
        assert!(ok(Period::Month, 27).is_ok());
        assert!(ok(Period::Hour, 0).is_ok());
        assert!(ok(Period::Minute, 0).is_ok());
        assert!(ok(Period::Day, 1).unwrap_err().contains("DAY"));
        assert!(ok(Period::Week, 7).unwrap_err().contains("WEEK"));
        assert!(ok(Period::Month, 28).unwrap_err().contains("MONTH"));
        assert!(ok(Period::Hour, 1).is_err());
        assert!(ok(Period::Minute, 2).is_err());
        let zero = QuotaSpec {
            limit: 0,
            period: Period::Day,
            offset: 0,
        };
        assert!(zero.validate().unwrap_err().contains("at least 1"));
        let huge = QuotaSpec {
            limit: QuotaSpec::MAX_LIMIT + 1,
            ..zero
        };
        assert!(huge.validate().is_err());
        assert_eq!("week".parse::<Period>(), Ok(Period::Week));
        assert!("fortnight".parse::<Period>().is_err());
    }
}
