//! Usage-plan quotas: exact global request counters per (usage plan, API key) and period.
//!
//! API Gateway's quota is "at most `limit` requests per DAY, WEEK or MONTH" (tollgate adds
//! HOUR and MINUTE for tests and short demos). Periods are computed in UTC (the settings
//! and their periods are configuration data: `config::quota`, re-exported here):
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

mod calendar;
mod counter;
mod report;
mod state;
mod store;

pub use crate::config::quota::QuotaEntry;
pub use calendar::{Period, QuotaSpec};
pub use counter::QuotaCounter;
pub use report::{live_usage_json, usage_report};
pub use store::QuotaStore;

/// Helpers shared by the quota modules' tests.
#[cfg(test)]
pub(super) mod test_support {
    use std::path::PathBuf;

    use super::calendar::SECS_PER_DAY;
    use super::{Period, QuotaEntry, QuotaSpec};
    use crate::time::days_from_civil;

    pub fn ts(y: i64, m: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, m, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s
    }

    pub fn temp_path(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "tollgate-quota-{tag}-{}-{nanos}.json",
            std::process::id()
        ))
    }

    pub fn entry(plan: &str, key: &str, limit: u64, period: Period) -> QuotaEntry {
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
}
