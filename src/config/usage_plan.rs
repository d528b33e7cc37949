//! Validation of `api_keys:` and `usage_plans:`: keys (unique ids and values), plans with
//! their throttles and quota, the API stages they cover and the keys they meter. Produces
//! the per-(stage, key) bindings the throttle phase looks up.

use std::sync::Arc;

use ahash::AHashMap;

use super::file::{ApiKeyFile, UsagePlanFile};
use super::quota::{Period, QuotaEntry, QuotaSpec};
use super::snapshot::{Api, ApiKey, PlanBinding};
use super::validate::Errors;

pub(super) struct Keys {
    pub keys: Vec<ApiKey>,
    pub by_value: AHashMap<String, usize>,
    pub by_id: AHashMap<String, usize>,
}

pub(super) struct Plans {
    pub bindings: AHashMap<(usize, usize), PlanBinding>,
    pub quotas: Vec<QuotaEntry>,
}

pub(super) fn build_api_keys(e: &mut Errors, files: &[ApiKeyFile]) -> Keys {
    let mut keys = Keys {
        keys: Vec::with_capacity(files.len()),
        by_value: AHashMap::new(),
        by_id: AHashMap::new(),
    };
    for (i, k) in files.iter().enumerate() {
        let path = format!("api_keys[{i}]");
        if k.id.is_empty()
            || !k
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            e.push(format!("{path}.id"), "must be letters, digits, '-' or '_'");
        }
        // API Gateway asks for 20 to 128 characters; tollgate accepts shorter ones (the
        // examples use 19) but keeps them header-safe: visible ASCII only.
        if !(1..=128).contains(&k.value.len()) || !k.value.bytes().all(|b| b.is_ascii_graphic()) {
            e.push(
                format!("{path}.value"),
                "must be 1 to 128 visible ASCII characters",
            );
        }
        if keys.by_id.insert(k.id.clone(), i).is_some() {
            e.push(
                format!("{path}.id"),
                format!("duplicate API key id `{}`", k.id),
            );
        }
        if keys.by_value.insert(k.value.clone(), i).is_some() {
            e.push(format!("{path}.value"), "duplicate API key value");
        }
        keys.keys.push(ApiKey {
            id: k.id.clone(),
            name: k.name.clone().unwrap_or_else(|| k.id.clone()),
            enabled: k.enabled,
        });
    }
    keys
}

pub(super) fn build_usage_plans(
    e: &mut Errors,
    files: &[UsagePlanFile],
    apis_by_id: &AHashMap<String, usize>,
    apis: &[Arc<Api>],
    keys: &Keys,
) -> Plans {
    let mut plans = Plans {
        bindings: AHashMap::new(),
        quotas: Vec::new(),
    };
    // (stage id, key) -> plan index, to refuse a key in two plans on one stage.
    let mut owner: AHashMap<(usize, usize), usize> = AHashMap::new();
    let mut plan_names: AHashMap<&str, usize> = AHashMap::new();
    for (i, p) in files.iter().enumerate() {
        let path = format!("usage_plans[{i}]");
        if p.name.is_empty() {
            e.push(format!("{path}.name"), "must not be empty");
        }
        if let Some(first) = plan_names.get(p.name.as_str()) {
            e.push(
                format!("{path}.name"),
                format!(
                    "duplicate usage plan `{}` (first defined at usage_plans[{first}])",
                    p.name
                ),
            );
        } else {
            plan_names.insert(&p.name, i);
        }
        let quota = p.quota.as_ref().and_then(|q| {
            let qpath = format!("{path}.quota");
            let period = match q.period.as_str() {
                "DAY" => Some(Period::Day),
                "WEEK" => Some(Period::Week),
                "MONTH" => Some(Period::Month),
                "HOUR" => Some(Period::Hour),
                "MINUTE" => Some(Period::Minute),
                other => {
                    e.push(
                        format!("{qpath}.period"),
                        format!("`{other}`: expected DAY, WEEK or MONTH (or HOUR, MINUTE)"),
                    );
                    None
                }
            };
            if q.limit < 1 {
                e.push(
                    format!("{qpath}.limit"),
                    format!("must be at least 1, got {}", q.limit),
                );
            }
            if q.offset < 0 || q.offset > i64::from(u32::MAX) {
                e.push(
                    format!("{qpath}.offset"),
                    format!("must be >= 0, got {}", q.offset),
                );
            }
            let spec = QuotaSpec {
                limit: q.limit.max(1) as u64,
                period: period?,
                offset: q.offset.clamp(0, 27) as u32,
            };
            if let Err(reason) = spec.validate() {
                e.push(format!("{qpath}.offset"), reason);
                return None;
            }
            Some(spec)
        });
        if p.api_stages.is_empty() {
            e.push(
                format!("{path}.api_stages"),
                "at least one API stage is required",
            );
        }
        let mut stages = Vec::new();
        for (j, s) in p.api_stages.iter().enumerate() {
            let spath = format!("{path}.api_stages[{j}]");
            match apis_by_id.get(&s.api).and_then(|&a| apis.get(a)) {
                None => e.push(
                    format!("{spath}.api"),
                    format!("no API with id `{}`", s.api),
                ),
                Some(api) => match api.stages.get(&s.stage) {
                    None => e.push(
                        format!("{spath}.stage"),
                        format!("API `{}` has no stage `{}`", s.api, s.stage),
                    ),
                    Some(stage) => stages.push(stage.clone()),
                },
            }
        }
        for (j, m) in p.method_throttle.iter().enumerate() {
            if !stages.iter().any(|s| s.deployment.has_route_key(&m.route)) {
                e.push(
                    format!("{path}.method_throttle[{j}].route"),
                    format!("no route `{}` on the plan's API stages", m.route),
                );
            }
        }
        for (j, key_id) in p.keys.iter().enumerate() {
            let kpath = format!("{path}.keys[{j}]");
            let Some(&key) = keys.by_id.get(key_id) else {
                e.push(kpath, format!("no API key with id `{key_id}`"));
                continue;
            };
            // One bucket set and one quota counter per (plan, key), shared by its stages.
            let throttle = p.throttle.and_then(|t| {
                e.rate_limit(
                    &format!("{path}.throttle"),
                    format!("usage plan {} key {key_id}", p.name),
                    t.rate,
                    t.burst,
                )
            });
            let mut method_throttles = AHashMap::new();
            for (m_i, m) in p.method_throttle.iter().enumerate() {
                let name = format!("usage plan {} key {key_id} route {}", p.name, m.route);
                if let Some(id) = e.rate_limit(
                    &format!("{path}.method_throttle[{m_i}]"),
                    name,
                    m.rate,
                    m.burst,
                ) {
                    method_throttles.insert(m.route.clone(), id);
                }
            }
            let quota = quota.map(|spec| {
                plans.quotas.push(QuotaEntry {
                    plan: p.name.clone(),
                    key_id: key_id.clone(),
                    spec,
                });
                plans.quotas.len() - 1
            });
            for stage in &stages {
                if let Some(&other) = owner.get(&(stage.id, key)) {
                    if other != i {
                        e.push(
                            kpath.clone(),
                            format!(
                                "API key `{key_id}` is already in usage plan `{}` for this stage",
                                files[other].name
                            ),
                        );
                    }
                    continue;
                }
                owner.insert((stage.id, key), i);
                plans.bindings.insert(
                    (stage.id, key),
                    PlanBinding {
                        plan: p.name.clone(),
                        throttle,
                        method_throttles: method_throttles.clone(),
                        quota,
                    },
                );
            }
        }
    }
    plans
}
