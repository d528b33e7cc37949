//! Clocks. Limiters and caches take a [`Clock`] so their tests are exact and instant.

pub mod deadline;

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A monotonic clock.
pub trait Clock {
    /// Time elapsed since this clock's origin.
    fn now(&self) -> Duration;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    pub fn new() -> Self {
        RealClock {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct FakeClock {
    now: Cell<Duration>,
}

impl FakeClock {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        self.now.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_advanced() {
        let c = FakeClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(250));
        assert_eq!(c.now(), Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------------------------
// UTC civil dates (Howard Hinnant's days_from_civil / civil_from_days): the one calendar of
// the crate (quota periods, certificate validity, the Date header).
// ---------------------------------------------------------------------------------------

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (`m` 1..=12, `d` 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1..=12, day 1..=31) `z` days after 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// English month abbreviations, January first (HTTP dates, CLF times, certificate validity).
pub const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The abbreviation of month `m` (1..=12; `???` for anything else).
pub fn month_name(m: u32) -> &'static str {
    MONTH_NAMES
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("???")
}

/// Unix seconds as a UTC civil date and time: (year, month, day, hour, minute, second).
pub fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400) as u32;
    (y, m, d, t / 3600, t / 60 % 60, t % 60)
}

pub fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` (1..=12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            days_from_civil(2024, 2, 29) - days_from_civil(2024, 2, 28),
            1
        );
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert!(d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2026));
    }
}

// ---------------------------------------------------------------------------------------
// Duration strings: the one parser of the crate (configuration durations and the load
// generator's --duration / --timeout / --warmup).
// ---------------------------------------------------------------------------------------

/// What a duration must look like, for error messages.
const DURATION_EXPECTED: &str =
    "expected an integer followed by ms, s, m or h (e.g. \"29s\", \"50ms\")";

/// Parse `<integer><unit>` with unit `ms`, `s`, `m` or `h` (`"29s"`, `"50ms"`, `"2m"`,
/// `"1h"`); surrounding whitespace is ignored. The number and the unit are read by
/// `humantime`; tollgate's rule on top of its grammar is one integer and one of these four
/// units, nothing else: fractions (`1.5s`), spaces (`10 s`), compound (`1h30m`), other
/// units (`10sec`, `10S`, `2d`) and bare numbers (`10`, reason "missing unit") are refused.
/// Every error names the value as written, in backquotes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &t[digits..];
    if digits == 0 {
        return Err(format!("invalid duration `{text}`: {DURATION_EXPECTED}"));
    }
    if unit.is_empty() {
        return Err(format!(
            "invalid duration `{text}`: missing unit; {DURATION_EXPECTED}"
        ));
    }
    if !matches!(unit, "ms" | "s" | "m" | "h") {
        return Err(format!("invalid duration `{text}`: {DURATION_EXPECTED}"));
    }
    humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => {
            format!("invalid duration `{text}`: too large")
        }
        other => format!("invalid duration `{text}`: {other}"),
    })
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn accepted() {
        assert_eq!(parse_duration("29s"), Ok(Duration::from_secs(29)));
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("007s"), Ok(Duration::from_secs(7)));
        assert_eq!(
            parse_duration("5124095576030431h"),
            Ok(Duration::from_secs(5_124_095_576_030_431 * 3600))
        );
    }

    #[test]
    fn refused_with_the_value_and_the_reason() {
        for (bad, reason) in [
            ("", "expected an integer followed by ms, s, m or h"),
            ("   ", "expected an integer"),
            ("s", "expected an integer"),
            ("-1s", "expected an integer"),
            ("+1s", "expected an integer"),
            ("ten", "expected an integer"),
            ("10", "missing unit"),
            ("0", "missing unit"),
            ("1.5s", "expected an integer"),
            ("10 s", "expected an integer"),
            ("10 seconds", "expected an integer"),
            ("1h30m", "expected an integer"),
            ("1h 30m", "expected an integer"),
            ("10sec", "expected an integer"),
            ("10S", "expected an integer"),
            ("10M", "expected an integer"),
            ("2d", "expected an integer"),
            ("250us", "expected an integer"),
            ("10s\u{0}", "expected an integer"),
            ("99999999999999999999h", "too large"),
            ("5124095576030432h", "too large"),
            ("18446744073709551616ms", "too large"),
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(
                err.starts_with(&format!("invalid duration `{bad}`: ")),
                "{bad:?}: {err}"
            );
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }
}
