//! `tollgate usage`: a state file as a human table or GetUsage-like JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use super::calendar::{
    date_of_day, parse_date, Period, QuotaSpec, HISTORY_DAYS, MAX_UNIX_SECS, MIN_UNIX_SECS,
    SECS_PER_DAY,
};
use super::state::{read_state, StateFile, StateRecord};

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

/// The live counters of `store` as of `unix_secs`, as `tollgate usage --json` shows a state
/// file (the admin API's `GET /usage`).
pub fn live_usage_json(store: &super::QuotaStore, unix_secs: i64) -> io::Result<String> {
    let file = store.state_at(unix_secs);
    let end_day = unix_secs
        .clamp(MIN_UNIX_SECS, MAX_UNIX_SECS)
        .div_euclid(SECS_PER_DAY);
    usage_json(&file, end_day - (HISTORY_DAYS - 1), end_day)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::limits::quota::test_support::{entry, temp_path, ts};
    use crate::limits::quota::QuotaStore;
    use std::fs;

    #[test]
    fn live_usage_is_the_json_report_of_the_counters_now() {
        let t = ts(2026, 11, 22, 10, 0, 0);
        let store = QuotaStore::new(vec![entry("gold-plan", "key-alpha", 1000, Period::Day)]);
        for _ in 0..7 {
            assert!(store.try_consume(0, t).is_ok());
        }
        let v: serde_json::Value =
            serde_json::from_str(&live_usage_json(&store, t).unwrap()).unwrap();
        assert_eq!(v["usagePlans"][0]["usagePlanId"], "gold-plan");
        assert_eq!(v["usagePlans"][0]["endDate"], "2026-11-22");
        assert_eq!(v["usagePlans"][0]["quotas"][0]["used"], 7);
        assert_eq!(v["usagePlans"][0]["quotas"][0]["remaining"], 993);
        assert_eq!(
            v["usagePlans"][0]["items"]["key-alpha"][30],
            serde_json::json!([7, 993])
        );
        let empty = QuotaStore::new(Vec::new());
        let v: serde_json::Value =
            serde_json::from_str(&live_usage_json(&empty, t).unwrap()).unwrap();
        assert_eq!(v["usagePlans"], serde_json::json!([]));
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
