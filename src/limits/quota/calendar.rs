//! The UTC dates of the quota state file and the usage report; the calendar itself is
//! crate::time's and the periods are the configuration's (`config::quota`).

use crate::time::{civil_from_days, days_from_civil, days_in_month};

pub use crate::config::quota::{Period, QuotaSpec};
pub(super) use crate::config::quota::{MAX_UNIX_SECS, MIN_UNIX_SECS, SECS_PER_DAY};

/// Days of history kept per counter (and shown by the usage report).
pub(super) const HISTORY_DAYS: i64 = 31;

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn rfc3339(unix_secs: i64) -> String {
    let day = unix_secs.div_euclid(SECS_PER_DAY);
    let s = unix_secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// `YYYY-MM-DD` of a day index.
pub(super) fn date_of_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day index of a `YYYY-MM-DD` date (years 0..=9999), `None` if it is not one.
pub(super) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::quota::EPOCH_WEEKDAY;
    use crate::limits::quota::test_support::ts;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(ts(2026, 11, 22, 23, 59, 59)),
            "2026-11-22T23:59:59Z"
        );
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-1-01x"), None);
        assert_eq!(parse_date("２０２3-01-01"), None);
        // 2026-11-22 is a Sunday.
        let day = days_from_civil(2026, 11, 22);
        assert_eq!((day + EPOCH_WEEKDAY).rem_euclid(7), 0);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        for p in [
            Period::Day,
            Period::Week,
            Period::Month,
            Period::Hour,
            Period::Minute,
        ] {
            for off in [0, 1, 6, 7, 27, 28, u32::MAX] {
                let s = QuotaSpec {
                    limit: u64::MAX,
                    period: p,
                    offset: off,
                };
                for t in [i64::MIN, -1, 0, 1, i64::MAX] {
                    let (_, start, end) = s.period_of(t);
                    assert!(start < end);
                    let _ = rfc3339(start);
                    let _ = rfc3339(end);
                }
            }
        }
        let _ = rfc3339(i64::MIN);
        let _ = rfc3339(i64::MAX);
    }
}
