//! SigV4 timestamps: ISO 8601 basic format, UTC (`20150830T123600Z`), to and from Unix
//! seconds, over the crate's one calendar (`crate::time`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::{civil_from_unix, days_from_civil, days_in_month};

/// Length of `YYYYMMDDTHHMMSSZ`.
pub const AMZ_DATE_LEN: usize = 16;

/// Unix seconds of `t` (negative before 1970).
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `secs` as `YYYYMMDDTHHMMSSZ` (years outside 0..=9999 are clamped into four digits).
pub fn format_amz_date(secs: i64) -> [u8; AMZ_DATE_LEN] {
    let (y, mo, d, h, mi, s) = civil_from_unix(secs);
    let y = y.clamp(0, 9999) as u32;
    let mut out = [0u8; AMZ_DATE_LEN];
    put_digits(&mut out[0..4], y);
    put_digits(&mut out[4..6], mo);
    put_digits(&mut out[6..8], d);
    out[8] = b'T';
    put_digits(&mut out[9..11], h);
    put_digits(&mut out[11..13], mi);
    put_digits(&mut out[13..15], s);
    out[15] = b'Z';
    out
}

fn put_digits(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Parse `YYYYMMDDTHHMMSSZ` (exactly; a real calendar date, hours 0..=23, minutes and
/// seconds 0..=59) into Unix seconds.
pub fn parse_amz_date(s: &[u8]) -> Option<i64> {
    if s.len() != AMZ_DATE_LEN || s[8] != b'T' || s[15] != b'Z' {
        return None;
    }
    let y = digits(&s[0..4])?;
    let mo = digits(&s[4..6])?;
    let d = digits(&s[6..8])?;
    let h = digits(&s[9..11])?;
    let mi = digits(&s[11..13])?;
    let sec = digits(&s[13..15])?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_value() {
        let t = parse_amz_date(b"20150830T123600Z").expect("valid");
        assert_eq!(t, 1_440_938_160);
        assert_eq!(&format_amz_date(t), b"20150830T123600Z");
        for secs in (0..4_000_000_000i64).step_by(7_777_777) {
            assert_eq!(parse_amz_date(&format_amz_date(secs)), Some(secs));
        }
    }

    #[test]
    fn refuses_what_is_not_basic_format() {
        for bad in [
            &b"2015-08-30T12:36:00Z"[..],
            b"20150830T123600",
            b"20150830t123600Z",
            b"20150830T123600z",
            b"20150230T123600Z",
            b"20151301T123600Z",
            b"20150830T243600Z",
            b"20150830T126000Z",
            b"20150830T123660Z",
            b"2015083OT123600Z",
            b"20150800T123600Z",
            b"",
        ] {
            assert_eq!(
                parse_amz_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_amz_date(b"20240229T000000Z").is_some());
        assert!(parse_amz_date(b"20230229T000000Z").is_none());
    }

    #[test]
    fn system_time_before_and_after_the_epoch() {
        use std::time::Duration;
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
