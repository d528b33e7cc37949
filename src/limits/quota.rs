//! Usage-plan quotas: exact global request counters per (usage plan, API key) and period.
//!
//! API Gateway's quota is "at most `limit` requests per DAY, WEEK or MONTH" (tollgate adds
//! HOUR and MINUTE for tests and short demos). Periods are computed in UTC:
//!
//! - `DAY`: midnight to midnight; `offset` must be 0.
//! - `WEEK`: starts at 00:00 on weekday `offset` (0 = Sunday, 1 = Monday, ... 6 = Saturday).
//! - `MONTH`: starts at 00:00 on day `offset + 1` of a month (`offset` 0..=27, so the day
//!   exists in every month, February included).
//! - `HOUR`, `MINUTE`: `offset` must be 0.
//!
//! Every worker shares one [`QuotaCounter`] per (plan, key): an `AtomicU64` packing the period
//! index (high 24 bits) and the used count (low 40 bits). Consuming is one CAS loop, so the
//! count is exact across cores: never above the limit, nothing counted twice or lost, and the
//! first request of a new period resets the count in the same CAS.
//!
//! [`QuotaStore`] holds all counters (indexed by a dense id the config assigns), writes them
//! to a JSON state file atomically (`save`) and restores the current period's counts at
//! start-up (`load`), so quotas survive a restart; the most a crash can lose is what was
//! counted since the last save. [`usage_report`] formats a state file for `tollgate usage`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::time::{civil_from_days, days_from_civil, days_in_month};

// ---------------------------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------------------------

const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z: inputs are clamped to years 0..=9999 so no arithmetic can overflow.
const MIN_UNIX_SECS: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z.
const MAX_UNIX_SECS: i64 = 253_402_300_799;
/// 1970-01-01 was a Thursday (Sunday = 0).
const EPOCH_WEEKDAY: i64 = 4;
/// Days of history kept per counter (and shown by the usage report).
const HISTORY_DAYS: i64 = 31;

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
    fn day_aligned(self) -> bool {
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
    /// The largest limit a [`QuotaCounter`] can count to (40 bits, one value kept as a
    /// sentinel).
    pub const MAX_LIMIT: u64 = MAX_USED;

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
    fn index_of(&self, unix_secs: i64) -> i64 {
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
    fn bounds(&self, idx: i64) -> (i64, i64) {
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

// ---------------------------------------------------------------------------------------------
// UTC civil dates (the calendar itself is crate::time's)
// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(unix_secs: i64) -> String {
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
fn date_of_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day index of a `YYYY-MM-DD` date (years 0..=9999), `None` if it is not one.
fn parse_date(s: &str) -> Option<i64> {
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

// ---------------------------------------------------------------------------------------------
// The shared counter
// ---------------------------------------------------------------------------------------------

const USED_BITS: u32 = 40;
const USED_MASK: u64 = (1 << USED_BITS) - 1;
const PERIOD_MASK: u32 = (1 << 24) - 1;
/// The counter's "never used" state; no (period, used) pair packs to it because `used` never
/// exceeds `MAX_USED`.
const EMPTY: u64 = u64::MAX;
const MAX_USED: u64 = USED_MASK - 1;
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
fn is_late(period: u32, stored: u32) -> bool {
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

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// One (usage plan, API key) pair with its plan's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaEntry {
    pub plan: String,
    pub key_id: String,
    pub spec: QuotaSpec,
}

/// Per-entry usage history, updated off the request path.
#[derive(Debug, Default)]
struct History {
    /// The counter's (period, used) when last recorded.
    last: Option<(u32, u64)>,
    /// UTC day index -> requests counted that day (the last [`HISTORY_DAYS`] days).
    days: BTreeMap<i64, u64>,
}

/// All quota counters, indexed by a dense id the config assigns to each (plan, key) pair,
/// plus the names used by the state file and the usage report.
#[derive(Debug)]
pub struct QuotaStore {
    entries: Vec<QuotaEntry>,
    counters: Vec<QuotaCounter>,
    /// (plan, key_id) -> id (the first id, should a pair appear twice).
    by_name: HashMap<(String, String), usize>,
    /// Daily history; the lock also serialises `save`s. Never taken on the request path.
    history: Mutex<Vec<History>>,
}

impl QuotaStore {
    pub fn new(entries: Vec<QuotaEntry>) -> Self {
        let mut by_name = HashMap::with_capacity(entries.len());
        for (id, e) in entries.iter().enumerate() {
            by_name
                .entry((e.plan.clone(), e.key_id.clone()))
                .or_insert(id);
        }
        QuotaStore {
            counters: entries.iter().map(|_| QuotaCounter::new()).collect(),
            history: Mutex::new(entries.iter().map(|_| History::default()).collect()),
            by_name,
            entries,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entry(&self, id: usize) -> Option<&QuotaEntry> {
        self.entries.get(id)
    }

    /// The id of a (plan, key) pair.
    pub fn find(&self, plan: &str, key_id: &str) -> Option<usize> {
        self.by_name
            .get(&(plan.to_string(), key_id.to_string()))
            .copied()
    }

    /// Count one request for entry `id` at `unix_secs`: `Ok(used in the period after)`, or
    /// `Err(())` when the quota is exhausted (answer 429 `{"message":"Limit Exceeded"}`) or the
    /// id is unknown.
    #[allow(clippy::result_unit_err)]
    pub fn try_consume(&self, id: usize, unix_secs: i64) -> Result<u64, ()> {
        let (entry, counter) = self.get(id).ok_or(())?;
        let (period, _, _) = entry.spec.period_of(unix_secs);
        counter.try_consume(period, entry.spec.limit)
    }

    /// Requests counted for entry `id` in the period containing `unix_secs` (0 if unknown).
    pub fn used(&self, id: usize, unix_secs: i64) -> u64 {
        self.get(id).map_or(0, |(entry, counter)| {
            counter.used(entry.spec.period_of(unix_secs).0)
        })
    }

    /// Requests left for entry `id` in the period containing `unix_secs` (0 if unknown).
    pub fn remaining(&self, id: usize, unix_secs: i64) -> u64 {
        self.get(id).map_or(0, |(entry, counter)| {
            let period = entry.spec.period_of(unix_secs).0;
            entry.spec.limit.saturating_sub(counter.used(period))
        })
    }

    /// The end (unix seconds, exclusive) of entry `id`'s period containing `unix_secs`: when
    /// an exhausted quota is available again (for a Retry-After header).
    pub fn period_end(&self, id: usize, unix_secs: i64) -> Option<i64> {
        self.entry(id).map(|e| e.spec.period_of(unix_secs).2)
    }

    fn get(&self, id: usize) -> Option<(&QuotaEntry, &QuotaCounter)> {
        Some((self.entries.get(id)?, self.counters.get(id)?))
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, Vec<History>> {
        // History is plain data: a panic elsewhere while holding the lock leaves it usable.
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add what every counter counted since the last call to the daily history of the UTC day
    /// of `unix_secs`, and forget days older than 31 days. `save` calls it; a periodic tick
    /// may call it too. Requests counted in a period that rolled over between two calls after
    /// the first of them are not seen (the counter was reset): the history is as exact as the
    /// calls are frequent; the counters themselves are always exact.
    pub fn record_daily(&self, unix_secs: i64) {
        let mut history = self.lock_history();
        self.record_daily_locked(&mut history, unix_secs);
    }

    fn record_daily_locked(&self, history: &mut [History], unix_secs: i64) {
        let today = unix_secs
            .clamp(MIN_UNIX_SECS, MAX_UNIX_SECS)
            .div_euclid(SECS_PER_DAY);
        for (counter, h) in self.counters.iter().zip(history.iter_mut()) {
            let now = counter.snapshot();
            let delta = match (h.last, now) {
                (_, None) => 0,
                (Some((lp, lu)), Some((p, u))) if lp == p => u.saturating_sub(lu),
                (_, Some((_, u))) => u,
            };
            if delta > 0 {
                let day = h.days.entry(today).or_insert(0);
                *day = day.saturating_add(delta);
            }
            h.last = now;
            h.days.retain(|&d, _| d > today - HISTORY_DAYS);
        }
    }

    /// Write every counter to `path` as JSON (see the module docs), after recording the daily
    /// history. Atomic: writes `path.tmp`, fsyncs it, renames it over `path` and fsyncs the
    /// directory, so a crash leaves either the old or the new file. Saves are serialised.
    pub fn save(&self, path: &Path, unix_secs: i64) -> io::Result<()> {
        let mut history = self.lock_history();
        self.record_daily_locked(&mut history, unix_secs);
        let mut quotas = Vec::with_capacity(self.entries.len());
        for ((entry, counter), h) in self.entries.iter().zip(&self.counters).zip(history.iter()) {
            quotas.push(self.record_of(entry, counter, h, unix_secs));
        }
        let file = StateFile {
            version: STATE_VERSION,
            saved_at: rfc3339(unix_secs),
            saved_at_unix: unix_secs,
            quotas,
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| io::Error::other(e.to_string()))?;
        bytes.push(b'\n');
        write_atomically(path, &bytes).map_err(|e| named(path, e))
    }

    fn record_of(
        &self,
        entry: &QuotaEntry,
        counter: &QuotaCounter,
        h: &History,
        unix_secs: i64,
    ) -> StateRecord {
        let spec = &entry.spec;
        let cur = spec.index_of(unix_secs);
        // The counter's period: normally the current one; ahead of it only if the clock went
        // back a little since it was counted (then keep that count and its period).
        let (idx, used) = match counter.snapshot() {
            Some((stored, used)) if stored == (cur as u32 & PERIOD_MASK) => (cur, used),
            Some((stored, used)) if is_late(cur as u32, stored) => {
                let ahead = stored.wrapping_sub(cur as u32) & PERIOD_MASK;
                (cur + i64::from(ahead), used)
            }
            _ => (cur, 0),
        };
        let (start, end) = spec.bounds(idx);
        StateRecord {
            plan: entry.plan.clone(),
            key_id: entry.key_id.clone(),
            period: spec.period.name().to_string(),
            offset: spec.offset,
            period_index: idx,
            period_start: rfc3339(start),
            period_start_unix: start,
            period_end: rfc3339(end),
            period_end_unix: end,
            used,
            limit: spec.limit,
            remaining: spec.limit.saturating_sub(used),
            daily: h
                .days
                .iter()
                .map(|(&d, &n)| DailyRecord {
                    date: date_of_day(d),
                    used: n,
                })
                .collect(),
        }
    }

    /// Read a state file written by [`save`](Self::save) and restore the counters whose
    /// (plan, key_id) still exist and whose period (same period kind, offset, start and end)
    /// is the current one at `unix_secs`; counts of past periods and unknown pairs are
    /// dropped. The daily history of known pairs is restored too. Returns how many counters
    /// were restored. A missing file is `Ok(0)`; an unreadable or corrupt one is an error
    /// naming the file.
    pub fn load(&self, path: &Path, unix_secs: i64) -> io::Result<usize> {
        let file = match read_state(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let today = unix_secs
            .clamp(MIN_UNIX_SECS, MAX_UNIX_SECS)
            .div_euclid(SECS_PER_DAY);
        let mut history = self.lock_history();
        let mut restored = 0;
        for rec in &file.quotas {
            let Some(id) = self.find(&rec.plan, &rec.key_id) else {
                continue;
            };
            let (Some(entry), Some(counter), Some(h)) = (
                self.entries.get(id),
                self.counters.get(id),
                history.get_mut(id),
            ) else {
                continue;
            };
            let spec = &entry.spec;
            let (period, start, end) = spec.period_of(unix_secs);
            if rec.period == spec.period.name()
                && rec.offset == spec.offset
                && rec.period_start_unix == start
                && rec.period_end_unix == end
            {
                counter.restore(period, rec.used);
                h.last = counter.snapshot();
                restored += 1;
            }
            for d in &rec.daily {
                if let Some(day) = parse_date(&d.date) {
                    if day > today - HISTORY_DAYS && day <= today {
                        let n = h.days.entry(day).or_insert(0);
                        *n = (*n).max(d.used);
                    }
                }
            }
        }
        Ok(restored)
    }
}

// ---------------------------------------------------------------------------------------------
// State file
// ---------------------------------------------------------------------------------------------

const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    saved_at: String,
    saved_at_unix: i64,
    quotas: Vec<StateRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateRecord {
    plan: String,
    key_id: String,
    period: String,
    offset: u32,
    period_index: i64,
    period_start: String,
    period_start_unix: i64,
    period_end: String,
    period_end_unix: i64,
    used: u64,
    limit: u64,
    remaining: u64,
    #[serde(default)]
    daily: Vec<DailyRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DailyRecord {
    /// UTC date, `YYYY-MM-DD`.
    date: String,
    used: u64,
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("quota state file {}: {e}", path.display()),
    )
}

fn read_state(path: &Path) -> io::Result<StateFile> {
    let bytes = fs::read(path).map_err(|e| named(path, e))?;
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
        named(
            path,
            io::Error::new(io::ErrorKind::InvalidData, format!("corrupt: {e}")),
        )
    })?;
    if file.version != STATE_VERSION {
        return Err(named(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "unsupported version {} (expected {STATE_VERSION})",
                    file.version
                ),
            ),
        ));
    }
    Ok(file)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot fsync a directory; the rename itself is done.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

// ---------------------------------------------------------------------------------------------
// `tollgate usage`
// ---------------------------------------------------------------------------------------------

/// GetUsage-like JSON: one element per usage plan.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageJson {
    saved_at: String,
    usage_plans: Vec<PlanUsageJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanUsageJson {
    usage_plan_id: String,
    start_date: String,
    end_date: String,
    /// key id -> one `[used, remaining]` per day from `start_date` to `end_date`, like
    /// GetUsage (`remaining` is null for HOUR and MINUTE quotas, whose periods do not
    /// follow days).
    items: BTreeMap<String, Vec<(u64, Option<u64>)>>,
    quotas: Vec<KeyQuotaJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyQuotaJson {
    key_id: String,
    period: String,
    offset: u32,
    period_start: String,
    period_end: String,
    limit: u64,
    used: u64,
    remaining: u64,
}

/// Format a state file for `tollgate usage`: per plan and key, the current period, limit,
/// used and remaining (as of the save), and the daily usage of the last 31 days; as a human
/// table, or with `json` as GetUsage-like JSON.
pub fn usage_report(path: &Path, json: bool) -> io::Result<String> {
    let file = read_state(path)?;
    let end_day = file
        .saved_at_unix
        .clamp(MIN_UNIX_SECS, MAX_UNIX_SECS)
        .div_euclid(SECS_PER_DAY);
    let start_day = end_day - (HISTORY_DAYS - 1);
    if json {
        usage_json(&file, start_day, end_day)
    } else {
        Ok(usage_table(path, &file))
    }
}

fn daily_map(rec: &StateRecord) -> BTreeMap<i64, u64> {
    let mut days = BTreeMap::new();
    for d in &rec.daily {
        if let Some(day) = parse_date(&d.date) {
            let n: &mut u64 = days.entry(day).or_insert(0);
            *n = n.saturating_add(d.used);
        }
    }
    days
}

fn usage_json(file: &StateFile, start_day: i64, end_day: i64) -> io::Result<String> {
    let mut plans: Vec<PlanUsageJson> = Vec::new();
    for rec in &file.quotas {
        let pos = match plans.iter().position(|p| p.usage_plan_id == rec.plan) {
            Some(i) => i,
            None => {
                plans.push(PlanUsageJson {
                    usage_plan_id: rec.plan.clone(),
                    start_date: date_of_day(start_day),
                    end_date: date_of_day(end_day),
                    items: BTreeMap::new(),
                    quotas: Vec::new(),
                });
                plans.len() - 1
            }
        };
        let Some(plan) = plans.get_mut(pos) else {
            continue;
        };
        let spec = Period::from_str(&rec.period).ok().map(|period| QuotaSpec {
            limit: rec.limit,
            period,
            offset: rec.offset,
        });
        let days = daily_map(rec);
        let items = (start_day..=end_day)
            .map(|day| {
                let used = days.get(&day).copied().unwrap_or(0);
                let remaining = spec.filter(|s| s.period.day_aligned()).map(|s| {
                    // Remaining at the end of `day`: the limit less what was used from the
                    // start of that day's period through `day`.
                    let (_, start, _) = s.period_of(day * SECS_PER_DAY);
                    // (`min`: clamped extreme dates must not make an inverted range.)
                    let first = start.div_euclid(SECS_PER_DAY).min(day);
                    let spent = days
                        .range(first..=day)
                        .fold(0u64, |a, (_, &n)| a.saturating_add(n));
                    s.limit.saturating_sub(spent)
                });
                (used, remaining)
            })
            .collect();
        plan.items.insert(rec.key_id.clone(), items);
        plan.quotas.push(KeyQuotaJson {
            key_id: rec.key_id.clone(),
            period: rec.period.clone(),
            offset: rec.offset,
            period_start: rec.period_start.clone(),
            period_end: rec.period_end.clone(),
            limit: rec.limit,
            used: rec.used,
            remaining: rec.remaining,
        });
    }
    let out = UsageJson {
        saved_at: file.saved_at.clone(),
        usage_plans: plans,
    };
    let mut s = serde_json::to_string_pretty(&out).map_err(|e| io::Error::other(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

/// Names from the file, made safe for a terminal table.
fn cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn render_table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn usage_table(path: &Path, file: &StateFile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "quota usage from {} (saved {})",
        cell(&path.display().to_string()),
        cell(&file.saved_at)
    );
    if file.quotas.is_empty() {
        out.push_str("no quotas\n");
        return out;
    }
    out.push('\n');
    let mut rows = vec![[
        "PLAN",
        "KEY",
        "PERIOD",
        "PERIOD START",
        "PERIOD END",
        "LIMIT",
        "USED",
        "REMAINING",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for rec in &file.quotas {
        let period = if rec.offset == 0 {
            cell(&rec.period)
        } else {
            format!("{} +{}", cell(&rec.period), rec.offset)
        };
        rows.push(vec![
            cell(&rec.plan),
            cell(&rec.key_id),
            period,
            cell(&rec.period_start),
            cell(&rec.period_end),
            rec.limit.to_string(),
            rec.used.to_string(),
            rec.remaining.to_string(),
        ]);
    }
    render_table(&mut out, &rows);

    let mut daily = vec![["PLAN", "KEY", "DATE (UTC)", "USED"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for rec in &file.quotas {
        for (day, n) in daily_map(rec) {
            daily.push(vec![
                cell(&rec.plan),
                cell(&rec.key_id),
                date_of_day(day),
                n.to_string(),
            ]);
        }
    }
    out.push_str("\ndaily usage (last 31 days):\n");
    if daily.len() == 1 {
        out.push_str("none recorded\n");
    } else {
        render_table(&mut out, &daily);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

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

    fn temp_path(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "tollgate-quota-{tag}-{}-{nanos}.json",
            std::process::id()
        ))
    }

    fn entry(plan: &str, key: &str, limit: u64, period: Period) -> QuotaEntry {
        QuotaEntry {
            plan: plan.into(),
            key_id: key.into(),
            spec: QuotaSpec {
                limit,
                period,
                offset: 0,
            },
        }
    }

    #[test]
    fn store_consume_and_remaining() {
        let store = QuotaStore::new(vec![entry("gold", "k1", 3, Period::Minute)]);
        let t = ts(2026, 11, 22, 10, 0, 30);
        assert_eq!(store.len(), 1);
        assert_eq!(store.find("gold", "k1"), Some(0));
        assert_eq!(store.find("gold", "k2"), None);
        assert_eq!(store.remaining(0, t), 3);
        assert_eq!(store.try_consume(0, t), Ok(1));
        assert_eq!(store.try_consume(0, t), Ok(2));
        assert_eq!(store.try_consume(0, t), Ok(3));
        assert_eq!(store.try_consume(0, t + 29), Err(()));
        assert_eq!(store.remaining(0, t), 0);
        assert_eq!(store.period_end(0, t), Some(t + 30));
        // The next minute starts afresh.
        assert_eq!(store.try_consume(0, t + 30), Ok(1));
        assert_eq!(store.remaining(0, t + 30), 2);
        // Unknown ids.
        assert_eq!(store.try_consume(1, t), Err(()));
        assert_eq!(store.remaining(1, t), 0);
        assert!(store.entry(1).is_none());
    }

    #[test]
    fn save_load_round_trip() {
        let path = temp_path("roundtrip");
        let t = ts(2026, 11, 22, 10, 0, 0);
        let store = QuotaStore::new(vec![
            entry("gold", "k1", 100, Period::Day),
            entry("gold", "k2", 100, Period::Minute),
            entry("gold", "gone", 100, Period::Day),
            entry("silver", "k1", 5, Period::Month),
        ]);
        for _ in 0..7 {
            assert!(store.try_consume(0, t).is_ok());
        }
        assert!(store.try_consume(1, t).is_ok());
        assert!(store.try_consume(2, t).is_ok());
        for _ in 0..5 {
            assert!(store.try_consume(3, t).is_ok());
        }
        assert_eq!(store.try_consume(3, t), Err(()));
        store.save(&path, t).unwrap();
        assert!(!tmp_path(&path).exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"period_start\": \"2026-11-22T00:00:00Z\""));
        assert!(text.contains("\"period_end_unix\""));

        // Restart two minutes later: same day and month, a new minute; "gone" was removed
        // from the config and "bronze" added.
        let later = t + 120;
        let fresh = QuotaStore::new(vec![
            entry("silver", "k1", 5, Period::Month),
            entry("gold", "k2", 100, Period::Minute),
            entry("gold", "k1", 100, Period::Day),
            entry("bronze", "k1", 100, Period::Day),
        ]);
        assert_eq!(fresh.load(&path, later).unwrap(), 2);
        assert_eq!(fresh.remaining(0, later), 0);
        assert_eq!(fresh.try_consume(0, later), Err(()));
        assert_eq!(fresh.remaining(1, later), 100); // minute period is past: dropped
        assert_eq!(fresh.remaining(2, later), 93);
        assert_eq!(fresh.try_consume(2, later), Ok(8));
        assert_eq!(fresh.remaining(3, later), 100);

        // Next day: the DAY counter is not restored; MONTH still is.
        let next_day = QuotaStore::new(vec![
            entry("gold", "k1", 100, Period::Day),
            entry("silver", "k1", 5, Period::Month),
        ]);
        assert_eq!(next_day.load(&path, t + SECS_PER_DAY).unwrap(), 1);
        assert_eq!(next_day.remaining(0, t + SECS_PER_DAY), 100);
        assert_eq!(next_day.remaining(1, t + SECS_PER_DAY), 0);

        // A changed period kind is not restored either.
        let changed = QuotaStore::new(vec![entry("gold", "k1", 100, Period::Hour)]);
        assert_eq!(changed.load(&path, t).unwrap(), 0);

        // Missing file: nothing to restore.
        let missing = temp_path("missing");
        assert_eq!(fresh.load(&missing, t).unwrap(), 0);
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let path = temp_path("corrupt");
        fs::write(&path, b"{\"version\": 1, \"quotas\": [tru").unwrap();
        let store = QuotaStore::new(vec![entry("gold", "k1", 10, Period::Day)]);
        let err = store.load(&path, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("corrupt"), "{msg}");
        let err = usage_report(&path, false).unwrap_err();
        assert!(err.to_string().contains(&path.display().to_string()));

        fs::write(
            &path,
            b"{\"version\": 9, \"saved_at\": \"\", \"saved_at_unix\": 0, \"quotas\": []}",
        )
        .unwrap();
        let msg = store.load(&path, 0).unwrap_err().to_string();
        assert!(msg.contains("version 9"), "{msg}");
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn daily_history_accumulates_across_saves() {
        let path = temp_path("history");
        let d1 = ts(2026, 11, 21, 12, 0, 0);
        let store = QuotaStore::new(vec![entry("gold", "k1", 1000, Period::Month)]);
        for _ in 0..4 {
            assert!(store.try_consume(0, d1).is_ok());
        }
        store.save(&path, d1).unwrap();
        for _ in 0..3 {
            assert!(store.try_consume(0, d1 + 60).is_ok());
        }
        store.save(&path, d1 + 120).unwrap();
        // Saving again with nothing new adds nothing.
        store.save(&path, d1 + 180).unwrap();
        let d2 = d1 + SECS_PER_DAY;
        for _ in 0..5 {
            assert!(store.try_consume(0, d2).is_ok());
        }
        store.save(&path, d2).unwrap();
        let file = read_state(&path).unwrap();
        let daily: Vec<(String, u64)> = file.quotas[0]
            .daily
            .iter()
            .map(|d| (d.date.clone(), d.used))
            .collect();
        assert_eq!(
            daily,
            vec![("2026-11-21".to_string(), 7), ("2026-11-22".to_string(), 5)]
        );
        assert_eq!(file.quotas[0].used, 12);

        // Restart: history and counter come back, and keep accumulating.
        let again = QuotaStore::new(vec![entry("gold", "k1", 1000, Period::Month)]);
        assert_eq!(again.load(&path, d2 + 60).unwrap(), 1);
        assert!(again.try_consume(0, d2 + 60).is_ok());
        again.save(&path, d2 + 120).unwrap();
        let file = read_state(&path).unwrap();
        assert_eq!(file.quotas[0].daily.len(), 2);
        assert_eq!(file.quotas[0].daily[1].used, 6);
        assert_eq!(file.quotas[0].used, 13);

        // Days older than 31 days are forgotten.
        let much_later = d2 + 40 * SECS_PER_DAY;
        again.save(&path, much_later).unwrap();
        let file = read_state(&path).unwrap();
        assert!(file.quotas[0].daily.is_empty());
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn usage_report_table_and_json() {
        let path = temp_path("report");
        let t = ts(2026, 11, 22, 10, 0, 0);
        let store = QuotaStore::new(vec![
            entry("gold-plan", "key-alpha", 1000, Period::Day),
            entry("gold-plan", "key-beta", 50, Period::Week),
            entry("silver\nplan", "key-gamma", 10, Period::Minute),
        ]);
        for _ in 0..12 {
            assert!(store.try_consume(0, t).is_ok());
        }
        for _ in 0..3 {
            assert!(store.try_consume(1, t).is_ok());
        }
        store.save(&path, t).unwrap();

        let table = usage_report(&path, false).unwrap();
        assert!(table.contains("gold-plan"), "{table}");
        assert!(table.contains("key-alpha"), "{table}");
        assert!(table.contains("988"), "{table}");
        assert!(table.contains("47"), "{table}");
        assert!(table.contains("2026-11-22"), "{table}");
        assert!(table.contains("silver?plan"), "{table}");
        assert!(table.contains("REMAINING"), "{table}");

        let json = usage_report(&path, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let plans = v["usagePlans"].as_array().unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0]["usagePlanId"], "gold-plan");
        assert_eq!(plans[0]["endDate"], "2026-11-22");
        assert_eq!(plans[0]["startDate"], "2026-10-23");
        let alpha = plans[0]["items"]["key-alpha"].as_array().unwrap();
        assert_eq!(alpha.len(), 31);
        assert_eq!(alpha[30], serde_json::json!([12, 988]));
        assert_eq!(alpha[29], serde_json::json!([0, 1000]));
        assert_eq!(
            plans[0]["items"]["key-beta"][30],
            serde_json::json!([3, 47])
        );
        assert_eq!(plans[0]["quotas"][0]["remaining"], 988);
        assert_eq!(
            plans[1]["items"]["key-gamma"][30],
            serde_json::json!([0, null])
        );

        assert!(usage_report(&temp_path("absent"), false).is_err());

        // Extreme saved times from a hand-edited file do not panic.
        for saved in [i64::MIN, i64::MAX] {
            let text = format!(
                "{{\"version\":1,\"saved_at\":\"x\",\"saved_at_unix\":{saved},\"quotas\":[{{\
                 \"plan\":\"p\",\"key_id\":\"k\",\"period\":\"DAY\",\"offset\":0,\
                 \"period_index\":0,\"period_start\":\"\",\"period_start_unix\":0,\
                 \"period_end\":\"\",\"period_end_unix\":0,\"used\":1,\"limit\":2,\
                 \"remaining\":1,\"daily\":[{{\"date\":\"0000-01-01\",\"used\":1}}]}}]}}"
            );
            fs::write(&path, text).unwrap();
            assert!(usage_report(&path, true).is_ok());
            assert!(usage_report(&path, false).is_ok());
            let store = QuotaStore::new(vec![entry("p", "k", 2, Period::Day)]);
            assert_eq!(store.load(&path, saved).unwrap(), 0);
        }
        let _ = fs::remove_file(&path);
    }
}
