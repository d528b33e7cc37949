//! All quota counters of a configuration with their daily history, saved to and restored
//! from the state file.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::calendar::{
    date_of_day, parse_date, rfc3339, HISTORY_DAYS, MAX_UNIX_SECS, MIN_UNIX_SECS, SECS_PER_DAY,
};
use super::counter::{is_late, QuotaCounter, PERIOD_MASK};
use super::state::{
    named, read_state, write_atomically, DailyRecord, StateFile, StateRecord, STATE_VERSION,
};
use crate::config::quota::QuotaEntry;

/// Per-entry usage history, updated off the request path.
#[derive(Debug, Default, Clone)]
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
    /// Shared with the store of the previous configuration for the pairs a reload kept
    /// (see [`carry_over`](Self::carry_over)).
    counters: Vec<Arc<QuotaCounter>>,
    /// (plan, key_id) -> id (the first id, should a pair appear twice).
    by_name: HashMap<(String, String), usize>,
    /// Daily history. Never taken on the request path, nor held while a save writes the
    /// file (a reload copying it must not wait for an fsync).
    history: Mutex<Vec<History>>,
    /// Serialises `save`s (held across the file write).
    saving: Mutex<()>,
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
            counters: entries
                .iter()
                .map(|_| Arc::new(QuotaCounter::new()))
                .collect(),
            history: Mutex::new(entries.iter().map(|_| History::default()).collect()),
            saving: Mutex::new(()),
            by_name,
            entries,
        }
    }

    /// The store of a reloaded configuration: every (plan, key) pair of `entries` whose
    /// period and offset are unchanged in `old` keeps counting on the very same counter
    /// (workers still on the old configuration count into it too, so no request is lost or
    /// counted twice while they switch), with its daily history; a changed limit applies
    /// to the count so far, as API Gateway's UpdateUsagePlan does. A pair whose period or
    /// offset changed, or that is new, starts from zero; pairs `entries` no longer names
    /// are dropped. Returns the store and how many counters it kept.
    pub fn carry_over(entries: Vec<QuotaEntry>, old: &QuotaStore) -> (QuotaStore, usize) {
        let mut store = QuotaStore::new(entries);
        let old_history = old.lock_history();
        let mut kept = 0;
        {
            let history = store.history.get_mut().unwrap_or_else(|e| e.into_inner());
            for (id, entry) in store.entries.iter().enumerate() {
                let Some(old_id) = old.find(&entry.plan, &entry.key_id) else {
                    continue;
                };
                let (Some(prev), Some(counter)) =
                    (old.entries.get(old_id), old.counters.get(old_id))
                else {
                    continue;
                };
                if prev.spec.period != entry.spec.period || prev.spec.offset != entry.spec.offset {
                    continue;
                }
                if let (Some(slot), Some(h)) = (store.counters.get_mut(id), history.get_mut(id)) {
                    *slot = Arc::clone(counter);
                    *h = old_history.get(old_id).cloned().unwrap_or_default();
                    kept += 1;
                }
            }
        }
        drop(old_history);
        (store, kept)
    }

    /// Whether entry `id` of this store and entry `other_id` of `other` count on the same
    /// counter (a reload kept it).
    pub fn shares_counter(&self, id: usize, other: &QuotaStore, other_id: usize) -> bool {
        match (self.counters.get(id), other.counters.get(other_id)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
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
        Some((self.entries.get(id)?, self.counters.get(id)?.as_ref()))
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
    /// directory, so a crash leaves either the old or the new file. Saves are serialised;
    /// the history lock is released before the file is written.
    pub fn save(&self, path: &Path, unix_secs: i64) -> io::Result<()> {
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        let file = self.state_at(unix_secs);
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| io::Error::other(e.to_string()))?;
        bytes.push(b'\n');
        write_atomically(path, &bytes).map_err(|e| named(path, e))
    }

    /// Every counter and its daily history as of `unix_secs` (recorded first), as the
    /// state file holds them: what `save` writes and the admin API's `/usage` shows.
    pub(super) fn state_at(&self, unix_secs: i64) -> StateFile {
        let mut quotas = Vec::with_capacity(self.entries.len());
        {
            let mut history = self.lock_history();
            self.record_daily_locked(&mut history, unix_secs);
            for ((entry, counter), h) in self.entries.iter().zip(&self.counters).zip(history.iter())
            {
                quotas.push(self.record_of(entry, counter, h, unix_secs));
            }
        }
        StateFile {
            version: STATE_VERSION,
            saved_at: rfc3339(unix_secs),
            saved_at_unix: unix_secs,
            quotas,
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::limits::quota::state::tmp_path;
    use crate::limits::quota::test_support::{entry, temp_path, ts};
    use crate::limits::quota::{usage_report, Period};
    use std::fs;

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
    fn carry_over_shares_counters_and_history_of_kept_pairs() {
        let path = temp_path("carry");
        let t = ts(2026, 11, 22, 10, 0, 0);
        let old = QuotaStore::new(vec![
            entry("gold", "k1", 10, Period::Day),
            entry("gold", "k2", 10, Period::Day),
            entry("gold", "k3", 10, Period::Day),
        ]);
        for id in 0..3 {
            for _ in 0..2 {
                assert!(old.try_consume(id, t).is_ok());
            }
        }
        old.record_daily(t);
        let mut k2_weekly = entry("gold", "k2", 10, Period::Week);
        k2_weekly.spec.offset = 1;
        let (new, kept) = QuotaStore::carry_over(
            vec![
                entry("gold", "k4", 10, Period::Day),
                entry("gold", "k1", 3, Period::Day),
                k2_weekly,
            ],
            &old,
        );
        assert_eq!(kept, 1, "only k1 keeps its period");
        // k1: same counter (new id 1), the new limit applies to the count so far.
        assert!(new.shares_counter(1, &old, 0));
        assert_eq!(new.used(1, t), 2);
        assert_eq!(new.try_consume(1, t), Ok(3));
        assert_eq!(new.try_consume(1, t), Err(()));
        assert_eq!(old.used(0, t), 3, "old workers see the same count");
        // k2 changed period, k4 is new: both from zero; k3 is gone.
        assert_eq!(new.used(2, t), 0);
        assert_eq!(new.used(0, t), 0);
        assert_eq!(new.find("gold", "k3"), None);
        // k1's daily history came along: 2 recorded before, 1 since.
        new.save(&path, t + 60).unwrap();
        let file = read_state(&path).unwrap();
        let k1 = file.quotas.iter().find(|r| r.key_id == "k1").unwrap();
        assert_eq!(k1.daily.len(), 1);
        assert_eq!(k1.daily[0].used, 3);
        let _ = fs::remove_file(&path);
    }
}
