//! Metrics on the request path: a worker's counter block (`observe::metrics`, which holds
//! the cross-core reasoning) and its table of per-stage series for the configuration in
//! force; `record` counts a finished request from its `$context`; `render` is what the
//! admin listener's `GET /metrics` answers.
//!
//! Series are indexed by `Stage::id` of the configuration the table was built for. A
//! request that began before a reload and ends after it ran on the older configuration:
//! it is counted under its stage's labels (`api`, `stage`) in the new table, found by name.
//! Series of a stage that keeps its API id and name continue across reloads
//! (`observe::metrics::Table::build`).

use std::cell::RefCell;
use std::sync::Arc;

use crate::config::Snapshot;
use crate::observe::metrics::{self as m, StageSeries, Table, TableSpec, WorkerBlock};
use crate::pipeline::context::{CacheStatus, RequestContext, ThrottleLevel};
use crate::services::Services;

/// A worker's metrics: its registered block and the table of the configuration in force.
pub struct WorkerMetrics {
    block: Arc<WorkerBlock>,
    /// The worker's own reference to the current table (the block holds another, behind
    /// its mutex, for the admin thread): the request path reads this one, lock-free.
    table: RefCell<Arc<Table>>,
}

/// The identity of a configuration for its table: the snapshot's address. The worker holds
/// the current snapshot alive while its table says so, and a request holds its own, so two
/// live snapshots never share an address.
fn config_id(snapshot: &Arc<Snapshot>) -> usize {
    Arc::as_ptr(snapshot) as usize
}

fn spec(snapshot: &Arc<Snapshot>) -> TableSpec<'_> {
    let mut stages: Vec<Option<(&str, &str, Vec<&str>)>> = vec![None; snapshot.stage_count];
    for api in &snapshot.apis {
        for stage in api.stages.values() {
            let routes = if stage.detailed_metrics {
                let mut keys: Vec<&str> = stage
                    .deployment
                    .route_keys
                    .iter()
                    .map(String::as_str)
                    .collect();
                if let Some(c) = &stage.canary {
                    keys.extend(c.deployment.route_keys.iter().map(String::as_str));
                }
                keys
            } else {
                Vec::new()
            };
            if let Some(slot) = stages.get_mut(stage.id) {
                *slot = Some((api.id.as_str(), stage.name.as_str(), routes));
            }
        }
    }
    TableSpec {
        config: config_id(snapshot),
        stages,
        domains: snapshot.domains.iter().map(|d| d.name.as_str()).collect(),
    }
}

impl WorkerMetrics {
    /// Worker `worker`'s metrics, registered for scrapes.
    pub fn new(worker: usize, snapshot: &Arc<Snapshot>) -> Self {
        let table = Arc::new(Table::build(&spec(snapshot), None));
        let block = Arc::new(WorkerBlock::new(worker, table.clone()));
        m::registry().register(&block);
        WorkerMetrics {
            block,
            table: RefCell::new(table),
        }
    }

    /// A new configuration is in force: its table continues the series whose labels stay
    /// (on the worker's thread, the counters' only writer).
    pub fn reload(&self, snapshot: &Arc<Snapshot>) {
        let table = {
            let old = self.table.borrow();
            Arc::new(Table::build(&spec(snapshot), Some(&old)))
        };
        self.block.publish(table.clone());
        *self.table.borrow_mut() = table;
    }

    pub fn block(&self) -> &WorkerBlock {
        &self.block
    }

    /// Count a client connection as open until the guard drops.
    pub fn connection(&self) -> GaugeGuard<'_> {
        self.block.open_connections.inc();
        GaugeGuard(&self.block.open_connections)
    }

    /// Count a request as in flight until the guard drops.
    pub fn in_flight(&self) -> GaugeGuard<'_> {
        self.block.in_flight.inc();
        GaugeGuard(&self.block.in_flight)
    }

    /// Count a TLS handshake on `snapshot` for custom domain `domain` (its index there;
    /// `None`: it failed before a domain was chosen).
    pub fn tls_handshake(&self, snapshot: &Arc<Snapshot>, domain: Option<usize>, ok: bool) {
        let table = self.table.borrow();
        let series = match domain {
            Some(d) if table.config == config_id(snapshot) => table.domains.get(d),
            Some(d) => snapshot
                .domains
                .get(d)
                .and_then(|dom| table.domain_by_name(&dom.name)),
            None => None,
        }
        .unwrap_or(&table.no_domain);
        if ok {
            series.handshakes.inc();
        } else {
            series.failures.inc();
        }
    }

    /// Set the idle upstream connection gauge.
    pub fn set_idle_upstream(&self, n: usize) {
        self.block.idle_upstream.set(n as i64);
    }
}

/// Decrements its gauge when dropped.
pub struct GaugeGuard<'a>(&'a m::Gauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The series a request counts in: its stage's (by id on the table's configuration, by
/// labels on an older one), or the unrouted series.
fn stage_series<'t>(
    table: &'t Table,
    snapshot: &Arc<Snapshot>,
    stage: Option<usize>,
) -> &'t StageSeries {
    let found = match stage {
        Some(id) if table.config == config_id(snapshot) => {
            table.stages.get(id).and_then(Option::as_ref)
        }
        Some(id) => snapshot.apis.iter().find_map(|api| {
            let st = api.stages.values().find(|s| s.id == id)?;
            table.stage_by_name(&api.id, &st.name)
        }),
        None => None,
    };
    found.unwrap_or(&table.unrouted)
}

fn throttle_index(level: ThrottleLevel) -> Option<usize> {
    match level {
        ThrottleLevel::UsagePlanMethod => Some(0),
        ThrottleLevel::UsagePlan => Some(1),
        ThrottleLevel::StageMethod => Some(2),
        ThrottleLevel::Stage => Some(3),
        ThrottleLevel::Account => Some(4),
        ThrottleLevel::Quota => None,
    }
}

/// The end of a request on worker `ctx` (after `rc.finish()`): count it, and refresh the
/// worker's idle upstream connection gauge.
pub fn finish(
    ctx: &crate::pipeline::worker::WorkerCtx,
    snapshot: &Arc<Snapshot>,
    rc: &RequestContext,
) {
    ctx.metrics.set_idle_upstream(ctx.upstreams.idle_count());
    record(&ctx.metrics, snapshot, rc);
}

/// Count the request `rc` describes (after `rc.finish()`), which ran on `snapshot`, on
/// `metrics`. Allocation-free; relaxed loads and stores on this worker's counters only.
pub fn record(metrics: &WorkerMetrics, snapshot: &Arc<Snapshot>, rc: &RequestContext) {
    let table = metrics.table.borrow();
    let series = stage_series(&table, snapshot, rc.stage_id);
    count(&series.counters, rc);
    if !series.routes().is_empty() {
        if let Some(route) = series.route(rc.route_key()) {
            count(route, rc);
        }
    }
}

fn count(c: &m::RequestCounters, rc: &RequestContext) {
    c.requests.inc();
    match rc.status {
        400..=499 => c.errors_4xx.inc(),
        500..=599 => c.errors_5xx.inc(),
        _ => {}
    }
    if let Some(d) = rc.response_latency {
        c.latency.observe(d);
    }
    if let Some(d) = rc.integration.latency {
        c.integration_latency.observe(d);
    }
    match rc.cache {
        CacheStatus::Hit => c.cache_hits.inc(),
        CacheStatus::Miss => c.cache_misses.inc(),
        CacheStatus::None => {}
    }
    match rc.throttle {
        Some(ThrottleLevel::Quota) => c.quota_exceeded.inc(),
        Some(level) => {
            if let Some(t) = throttle_index(level).and_then(|i| c.throttled.get(i)) {
                t.inc();
            }
        }
        None => {}
    }
}

/// `GET /metrics`: every worker's counters summed, and the target groups' health as the
/// configuration in force sees it, in the Prometheus text format
/// ([`m::CONTENT_TYPE`]).
pub fn render(snapshot: &Snapshot, services: &Services) -> String {
    let mut health = Vec::new();
    for (gi, group) in snapshot.target_groups.iter().enumerate() {
        let states = services.health(gi).map(|h| h.states());
        for (ti, target) in group.targets.iter().enumerate() {
            let up = states
                .as_ref()
                .and_then(|s| s.get(ti).copied())
                .unwrap_or(true);
            health.push((group.name.clone(), target.addr.to_string(), up));
        }
    }
    m::render(&m::registry().blocks(), &health)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    fn snapshot(detailed: bool) -> Arc<Snapshot> {
        let yaml = format!(
            "listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis:
  - id: demo
    routes:
      - {{route: GET /x, integration: {{type: MOCK}}}}
      - {{route: GET /y, integration: {{type: MOCK}}}}
    stages:
      - {{name: prod, detailed_metrics: {detailed}}}
      - {{name: dev}}
"
        );
        Arc::new(
            crate::config::validate::from_str(Path::new("t.yaml"), &yaml)
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn stage_id(s: &Snapshot, name: &str) -> usize {
        s.api("demo").expect("demo").stages[name].id
    }

    fn rc_for(stage: Option<usize>, status: u16) -> RequestContext {
        let mut rc = RequestContext::default();
        rc.stage_id = stage;
        rc.status = status;
        rc.response_latency = Some(Duration::from_millis(3));
        rc
    }

    #[test]
    fn requests_count_by_stage_status_cache_and_throttle_level() {
        let s = snapshot(false);
        let wm = WorkerMetrics::new(900, &s);
        let prod = Some(stage_id(&s, "prod"));
        record(&wm, &s, &rc_for(prod, 200));
        let mut hit = rc_for(prod, 200);
        hit.cache = CacheStatus::Hit;
        record(&wm, &s, &hit);
        let mut throttled = rc_for(prod, 429);
        throttled.throttle = Some(ThrottleLevel::StageMethod);
        record(&wm, &s, &throttled);
        let mut quota = rc_for(prod, 429);
        quota.throttle = Some(ThrottleLevel::Quota);
        record(&wm, &s, &quota);
        let mut bad = rc_for(prod, 502);
        bad.integration.latency = Some(Duration::from_millis(1));
        record(&wm, &s, &bad);
        record(&wm, &s, &rc_for(None, 404));

        let table = wm.table.borrow();
        let c = table.stages[stage_id(&s, "prod")]
            .as_ref()
            .expect("prod")
            .counters
            .read();
        assert_eq!(c.requests, 5);
        assert_eq!(c.errors_4xx, 2);
        assert_eq!(c.errors_5xx, 1);
        assert_eq!(c.cache_hits, 1);
        assert_eq!(c.throttled, [0, 0, 1, 0, 0]);
        assert_eq!(c.quota_exceeded, 1);
        assert_eq!(c.latency.count(), 5);
        assert_eq!(c.integration_latency.count(), 1);
        assert_eq!(table.unrouted.counters.requests.get(), 1);
    }

    #[test]
    fn routes_count_only_with_detailed_metrics() {
        let s = snapshot(true);
        let wm = WorkerMetrics::new(901, &s);
        let mut rc = RequestContext::default();
        rc.stage_id = Some(stage_id(&s, "prod"));
        rc.set_resource("/x", "GET /x");
        rc.status = 200;
        record(&wm, &s, &rc);
        rc.stage_id = Some(stage_id(&s, "dev"));
        record(&wm, &s, &rc);
        let table = wm.table.borrow();
        let prod = table.stages[stage_id(&s, "prod")].as_ref().expect("prod");
        assert_eq!(prod.route("GET /x").expect("x").requests.get(), 1);
        assert_eq!(prod.route("GET /y").expect("y").requests.get(), 0);
        let dev = table.stages[stage_id(&s, "dev")].as_ref().expect("dev");
        assert!(dev.routes().is_empty());
    }

    #[test]
    fn a_request_from_before_a_reload_counts_under_its_labels() {
        let old = snapshot(false);
        let wm = WorkerMetrics::new(902, &old);
        record(&wm, &old, &rc_for(Some(stage_id(&old, "dev")), 200));
        let new = snapshot(true);
        wm.reload(&new);
        // Ended after the reload, ran on the old configuration.
        record(&wm, &old, &rc_for(Some(stage_id(&old, "dev")), 200));
        record(&wm, &new, &rc_for(Some(stage_id(&new, "dev")), 200));
        let table = wm.table.borrow();
        assert_eq!(table.config, config_id(&new));
        let dev = table.stage_by_name("demo", "dev").expect("dev");
        assert_eq!(dev.counters.requests.get(), 3);
        // The scrape side sees the new table.
        assert_eq!(wm.block().table().config, config_id(&new));
    }

    #[test]
    fn guards_and_handshakes() {
        let s = snapshot(false);
        let wm = WorkerMetrics::new(903, &s);
        {
            let _c = wm.connection();
            let _r = wm.in_flight();
            assert_eq!(wm.block().open_connections.get(), 1);
            assert_eq!(wm.block().in_flight.get(), 1);
        }
        assert_eq!(wm.block().open_connections.get(), 0);
        assert_eq!(wm.block().in_flight.get(), 0);
        wm.tls_handshake(&s, None, false);
        assert_eq!(wm.table.borrow().no_domain.failures.get(), 1);
    }
}
