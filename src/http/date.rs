//! Per-core cached `Date` header value (IMF-fixdate), re-formatted once a second.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time in seconds.
pub fn format_imf_fixdate(unix_secs: u64, out: &mut [u8; 29]) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    let days = unix_secs / 86400;
    let secs_of_day = unix_secs % 86400;
    let weekday = DAYS[(days % 7) as usize];
    let (year, month, day) = crate::time::civil_from_days(days as i64);
    let (year, month, day) = (year as u64, month as usize, u64::from(day));
    let (h, m, s) = (
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60,
    );
    let digit = |n: u64| b'0' + (n % 10) as u8;
    out[0..3].copy_from_slice(weekday);
    out[3] = b',';
    out[4] = b' ';
    out[5] = digit(day / 10);
    out[6] = digit(day);
    out[7] = b' ';
    out[8..11].copy_from_slice(crate::time::month_name(month as u32).as_bytes());
    out[11] = b' ';
    out[12] = digit(year / 1000);
    out[13] = digit(year / 100);
    out[14] = digit(year / 10);
    out[15] = digit(year);
    out[16] = b' ';
    out[17] = digit(h / 10);
    out[18] = digit(h);
    out[19] = b':';
    out[20] = digit(m / 10);
    out[21] = digit(m);
    out[22] = b':';
    out[23] = digit(s / 10);
    out[24] = digit(s);
    out[25..29].copy_from_slice(b" GMT");
}

/// The worker's cached Date value.
#[derive(Debug)]
pub struct DateCache {
    secs: Cell<u64>,
    value: Cell<[u8; 29]>,
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache {
            secs: Cell::new(u64::MAX),
            value: Cell::new([b' '; 29]),
        }
    }
}

impl DateCache {
    /// The current Date value, re-formatted only when the second changed.
    pub fn now(&self) -> [u8; 29] {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.secs.get() {
            let mut v = [0u8; 29];
            format_imf_fixdate(secs, &mut v);
            self.value.set(v);
            self.secs.set(secs);
        }
        self.value.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc_example_and_leap_day() {
        let mut out = [0u8; 29];
        format_imf_fixdate(784_111_777, &mut out);
        assert_eq!(&out, b"Sun, 06 Nov 1994 08:49:37 GMT");
        format_imf_fixdate(1_709_164_800, &mut out); // 2024-02-29 00:00:00
        assert_eq!(&out, b"Thu, 29 Feb 2024 00:00:00 GMT");
        format_imf_fixdate(0, &mut out);
        assert_eq!(&out, b"Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
