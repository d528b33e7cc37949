//! Services: the live state that outlives a configuration, owned by the runtime (the
//! snapshot itself is pure data, built and tested without a runtime).
//!
//! - the stage caches (`cache::stage::StageCache`), one slot per `Stage::id`;
//! - the quota counters of the usage plans (`limits::quota::QuotaStore`);
//! - the TLS configuration of each custom domain as handshakes use it: the snapshot's, with
//!   session resumption attached (the process-wide ticketer and session stores of
//!   `shared`, which outlive every configuration; mutual-TLS domains get the store
//!   of their trust, so a trust change ends earlier sessions);
//! - the active health of every target (`GroupHealth`), as the checker thread last found
//!   it: a reload keeps it for target groups whose name and target addresses are unchanged
//!   (and that still have a health check), so a target known to be down stays out of
//!   rotation instead of being tried again until the new checker finds it down again;
//! - the link to the limits thread: its report channel and the central token pools of the
//!   rate limits (`limits::worker::LimitsLink`), new for each configuration (every bucket
//!   starts full and the workers' leases start empty, as at start-up).
//!
//! Workers keep their own copy of the active health (`upstream::target`, no shared read on
//! the request path), fed by the checker thread's messages and, on reload, from here.
//!
//! A reload builds the new snapshot, then [`reconcile`] makes the services that go with it
//! from the running ones, keeping what the change left alone; the supervisor then sends
//! every worker ONE message carrying both (`ControlMsg::Reload`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::Receiver;

use rustls::ServerConfig;

use crate::cache::stage::StageCache;
use crate::config::Snapshot;
use crate::limits::quota::QuotaStore;
use crate::limits::reconcile::{Reconciler, WorkerReport};
use crate::limits::service::{self, unix_now};
use crate::limits::worker::LimitsLink;
use crate::log;
use crate::shared;
use crate::upstream::health::HealthUpdate;

/// The live state that goes with one snapshot. Shared (`Arc`) by every worker, the admin
/// listener and the supervisor.
#[derive(Debug)]
pub struct Services {
    /// Each stage's cache, by `Stage::id` (`None`: caching off).
    stage_caches: Vec<Option<Arc<StageCache>>>,
    /// The quota counters; `PlanBinding::quota` indexes them. Also in `limits`.
    quotas: Arc<QuotaStore>,
    /// The limits thread's report channel, the quota counters and the token pools.
    limits: LimitsLink,
    /// Each custom domain's handshake configuration, by index into `Snapshot::domains`.
    tls: Vec<Arc<ServerConfig>>,
    /// Each target group's active health, by index into `Snapshot::target_groups`.
    health: Vec<Arc<GroupHealth>>,
    /// The key sources of the configuration's JWT / Cognito authorizers, registered with
    /// the process's key service thread (`auth::jwt::KeySources`): held so they stay
    /// fetched and refreshed while this configuration runs, and dropped with it.
    jwt_keys: crate::auth::jwt::KeySources,
}

/// One target group's active health as the checker last found it (true: healthy, the
/// state targets start in). Written by the checker thread on each transition, read on
/// reload; never on the request path.
#[derive(Debug)]
pub struct GroupHealth {
    name: String,
    targets: Vec<SocketAddr>,
    active: Box<[AtomicBool]>,
}

impl GroupHealth {
    fn new(name: &str, targets: Vec<SocketAddr>) -> Self {
        GroupHealth {
            name: name.to_string(),
            active: targets.iter().map(|_| AtomicBool::new(true)).collect(),
            targets,
        }
    }

    /// Record a transition of target `t`.
    pub fn set(&self, t: usize, healthy: bool) {
        if let Some(a) = self.active.get(t) {
            a.store(healthy, Ordering::Relaxed);
        }
    }

    /// Each target's state, by position.
    pub fn states(&self) -> Vec<bool> {
        self.active
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }
}

/// The limits thread's half of a new [`Services`]: the supervisor runs it
/// (`limits::service::spawn`).
pub struct LimitsThread {
    pub reconciler: Reconciler,
    pub reports: Receiver<WorkerReport>,
}

/// What a reconcile kept from the running services (for the reload's log line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    /// Stage caches kept with their entries and counters.
    pub caches: usize,
    /// Quota counters that keep counting.
    pub quota_counters: usize,
    /// Target groups whose targets keep their active health.
    pub target_groups: usize,
}

impl Services {
    /// The services of the first snapshot: empty caches, and the quota counters restored
    /// from the state file (`server.state_file`; a missing file is no error).
    pub fn start(snapshot: &Snapshot, workers: usize) -> (Services, LimitsThread) {
        let quotas = QuotaStore::new(snapshot.quotas.clone());
        if !quotas.is_empty() {
            let path = &snapshot.server.state_file;
            match quotas.load(path, unix_now()) {
                Ok(0) => {}
                Ok(n) => log!(
                    "quota state: restored {n} counter(s) from {}",
                    path.display()
                ),
                Err(e) => log!("quota state: {e}; starting from zero"),
            }
        }
        let caches = stage_caches(snapshot, &[]).0;
        let health = target_health(snapshot, &[]).0;
        Services::assemble(snapshot, workers, caches, Arc::new(quotas), health)
    }

    fn assemble(
        snapshot: &Snapshot,
        workers: usize,
        stage_caches: Vec<Option<Arc<StageCache>>>,
        quotas: Arc<QuotaStore>,
        health: Vec<Arc<GroupHealth>>,
    ) -> (Services, LimitsThread) {
        let (reconciler, link, reports) = service::prepare(snapshot, workers, quotas.clone());
        (
            Services {
                stage_caches,
                quotas,
                limits: link,
                tls: tls_configs(snapshot),
                health,
                jwt_keys: crate::auth::jwt::KeySources::register(
                    crate::config::jwt_authorizer::key_sources(snapshot),
                ),
            },
            LimitsThread {
                reconciler,
                reports,
            },
        )
    }

    /// The JWT authorizers' key sources (see `auth::jwt::KeySources`).
    pub fn jwt_keys(&self) -> &crate::auth::jwt::KeySources {
        &self.jwt_keys
    }

    /// The cache of stage `id` (`Stage::id` of the snapshot these services go with).
    #[inline]
    pub fn stage_cache(&self, id: usize) -> Option<&StageCache> {
        self.stage_caches.get(id).and_then(Option::as_deref)
    }

    /// Each custom domain's handshake configuration (session resumption attached), by index
    /// into `Snapshot::domains` of the snapshot these services go with.
    pub fn tls_configs(&self) -> &[Arc<ServerConfig>] {
        &self.tls
    }

    /// The active health of target group `gi` (`Snapshot::target_groups` index).
    pub fn health(&self, gi: usize) -> Option<&Arc<GroupHealth>> {
        self.health.get(gi)
    }

    /// Every target the checker last found unhealthy, as the updates a worker applies to
    /// its own copy after a reload.
    pub fn unhealthy_targets(&self) -> impl Iterator<Item = HealthUpdate> + '_ {
        self.health.iter().enumerate().flat_map(|(group, h)| {
            h.active
                .iter()
                .enumerate()
                .filter(|(_, a)| !a.load(Ordering::Relaxed))
                .map(move |(target, _)| HealthUpdate {
                    group,
                    target,
                    healthy: false,
                })
        })
    }

    /// The quota counters.
    pub fn quotas(&self) -> &Arc<QuotaStore> {
        &self.quotas
    }

    /// What a worker's `WorkerLimits` needs: the report channel, the quota counters and the
    /// token pools.
    pub fn limits(&self) -> &LimitsLink {
        &self.limits
    }
}

/// Reload: the services that go with `new`, made from the running ones (`old`, which went
/// with the previous snapshot):
///
/// - a stage (same API id and stage name) whose cache capacity, eviction policy and
///   Set-Cookie opt-in are unchanged keeps its cache, entries and hit/miss counters
///   included, as API Gateway keeps a stage's cache cluster until its size changes; a
///   changed one gets a new, empty cache; a stage that is gone (or has caching off) drops
///   its cache;
/// - a usage plan's (plan, key) pair whose quota period and offset are unchanged keeps
///   counting on the same counter (a new limit applies to the count so far); changed or new
///   pairs start from zero; removed ones are dropped (`QuotaStore::carry_over`); an
///   unchanged list keeps the very same store;
/// - a target group with a health check whose name and target addresses are unchanged
///   keeps the active health its targets were last found in; other groups start healthy;
/// - the rate limits start over: a new reconciler and full token pools for the new
///   snapshot's limits, with empty worker leases.
///
/// Pure apart from the limits' log lines: no I/O, no thread (the caller spawns the limits
/// thread from the returned [`LimitsThread`]).
pub fn reconcile(old: &Services, new: &Snapshot, workers: usize) -> (Services, LimitsThread, Kept) {
    let (caches, kept_caches) = stage_caches(new, &old.stage_caches);
    let unchanged = old.quotas.len() == new.quotas.len()
        && new
            .quotas
            .iter()
            .enumerate()
            .all(|(i, e)| old.quotas.entry(i) == Some(e));
    let (quotas, kept_quotas) = if unchanged {
        // The same (plan, key, quota) list: the very same store, history and all.
        (Arc::clone(&old.quotas), new.quotas.len())
    } else {
        let (store, kept) = QuotaStore::carry_over(new.quotas.clone(), &old.quotas);
        (Arc::new(store), kept)
    };
    let (health, kept_health) = target_health(new, &old.health);
    let (services, limits) = Services::assemble(new, workers, caches, quotas, health);
    (
        services,
        limits,
        Kept {
            caches: kept_caches,
            quota_counters: kept_quotas,
            target_groups: kept_health,
        },
    )
}

/// The active health of every target group of `snapshot`: the running one from `old` for a
/// group with a health check and the same name and target addresses, else all healthy.
/// Returns them and how many were kept.
fn target_health(snapshot: &Snapshot, old: &[Arc<GroupHealth>]) -> (Vec<Arc<GroupHealth>>, usize) {
    let mut kept = 0;
    let health = snapshot
        .target_groups
        .iter()
        .map(|g| {
            let targets: Vec<SocketAddr> = g.targets.iter().map(|t| t.addr).collect();
            let running = g.health_check.as_ref().and_then(|_| {
                old.iter()
                    .find(|h| h.name == g.name && h.targets == targets)
            });
            match running {
                Some(h) => {
                    kept += 1;
                    Arc::clone(h)
                }
                None => Arc::new(GroupHealth::new(&g.name, targets)),
            }
        })
        .collect();
    (health, kept)
}

/// The handshake configuration of every custom domain: the snapshot's, with the session
/// ticketer and store attached. Mutual TLS: stateful sessions (small tickets, the client
/// chain stays here) in the cache of the domain's trust, re-verified on every resumption
/// (`net::tls_accept`). Otherwise: tickets from the process-wide ticketer, and the one
/// shared store for TLS 1.2 session ids of clients without tickets. Both kinds of store are
/// allocated when the first session is stored.
fn tls_configs(snapshot: &Snapshot) -> Vec<Arc<ServerConfig>> {
    snapshot
        .domains
        .iter()
        .map(|d| {
            let mut config = ServerConfig::clone(&d.server_config);
            match d.trust {
                Some(trust) => {
                    config.ticketer = shared::no_tickets();
                    config.session_storage = shared::mtls_session_cache(&d.name, trust);
                }
                None => {
                    config.ticketer = shared::session_ticketer();
                    config.session_storage = shared::plain_session_cache();
                }
            }
            Arc::new(config)
        })
        .collect()
}

/// A cache for every stage of `snapshot` with caching on, by stage id: the running one from
/// `old` when it fits the stage's settings, else a new one. Returns them and how many were
/// kept.
fn stage_caches(
    snapshot: &Snapshot,
    old: &[Option<Arc<StageCache>>],
) -> (Vec<Option<Arc<StageCache>>>, usize) {
    let mut caches = vec![None; snapshot.stage_count];
    let mut kept = 0;
    for api in &snapshot.apis {
        for stage in api.stages.values() {
            let (Some(c), Some(slot)) = (&stage.cache, caches.get_mut(stage.id)) else {
                continue;
            };
            let running = old.iter().flatten().find(|running| {
                running.api == api.id
                    && running.stage == stage.name
                    && running.fits(c.capacity_bytes, c.policy, c.set_cookie)
            });
            *slot = Some(match running {
                Some(running) => {
                    kept += 1;
                    Arc::clone(running)
                }
                None => Arc::new(
                    StageCache::new(&api.id, &stage.name, c.capacity_bytes, c.policy)
                        .storing_set_cookie(c.set_cookie),
                ),
            });
        }
    }
    (caches, kept)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::cache::entry::CachedResponse;

    /// A state file path that does not exist (nothing to restore).
    fn no_state() -> PathBuf {
        std::env::temp_dir().join(format!(
            "tollgate-services-test-{}-absent.json",
            std::process::id()
        ))
    }

    /// A snapshot with stages `prod` (cache `prod_cache`, or none when empty), `dev`
    /// (no cache) and any `extra` YAML appended to the stage list, and a usage plan `gold`
    /// with quota `quota` for keys `k1` and `k2`.
    fn snapshot(prod_cache: &str, quota: &str, keys: &str) -> Snapshot {
        let state = no_state();
        let text = format!(
            "server: {{state_file: '{}'}}
listeners: [{{name: l, bind: '127.0.0.1:0'}}]
apis:
  - id: demo
    routes:
      - {{route: GET /x, integration: {{type: MOCK}}}}
    stages:
      - {{name: prod{prod_cache}}}
      - {{name: dev, cache: {{cluster_size: 0.5}}}}
api_keys:
  - {{id: k1, name: k1, value: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}
  - {{id: k2, name: k2, value: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}}
usage_plans:
  - name: gold
    api_stages: [{{api: demo, stage: prod}}]
    quota: {quota}
    keys: [{keys}]
",
            state.display()
        );
        crate::config::validate::from_str(Path::new("t.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn stage_id(s: &Snapshot, name: &str) -> usize {
        s.api("demo").expect("api").stages[name].id
    }

    /// Put one entry into `cache`.
    fn fill(cache: &StageCache) {
        let value = Arc::new(CachedResponse::new(
            200,
            b"HTTP/1.1 200 OK\r\nx".to_vec(),
            17,
        ));
        assert!(cache
            .store
            .insert(b"k", value, 18, Duration::from_secs(60), cache.now()));
    }

    #[test]
    fn start_makes_a_cache_per_cached_stage_only() {
        let s = snapshot(
            ", cache: {cluster_size: 0.5}",
            "{limit: 5, period: DAY}",
            "k1",
        );
        let (services, _limits) = Services::start(&s, 2);
        assert!(services.stage_cache(stage_id(&s, "prod")).is_some());
        assert!(services.stage_cache(stage_id(&s, "dev")).is_some());
        let off = snapshot("", "{limit: 5, period: DAY}", "k1");
        let (services, _limits) = Services::start(&off, 2);
        assert!(services.stage_cache(stage_id(&off, "prod")).is_none());
        assert!(services.stage_cache(off.stage_count).is_none());
        assert_eq!(services.quotas().len(), 1);
    }

    #[test]
    fn unchanged_cache_is_kept_with_its_entries() {
        let s = snapshot(
            ", cache: {cluster_size: 0.5}",
            "{limit: 5, period: DAY}",
            "k1",
        );
        let (old, _t) = Services::start(&s, 1);
        let cache = old.stage_cache(stage_id(&s, "prod")).expect("prod cache");
        fill(cache);
        cache.count_hit(0);
        // Same settings (another route added elsewhere would not matter either).
        let again = snapshot(
            ", cache: {cluster_size: 0.5}",
            "{limit: 5, period: DAY}",
            "k1",
        );
        let (new, _t, kept) = reconcile(&old, &again, 1);
        assert_eq!(kept.caches, 2, "prod and dev are unchanged");
        let kept_cache = new
            .stage_cache(stage_id(&again, "prod"))
            .expect("prod cache");
        assert!(std::ptr::eq(kept_cache, cache));
        assert_eq!(kept_cache.stats().entries, 1);
        assert_eq!(kept_cache.stats().hits, 1);
    }

    #[test]
    fn changed_cache_settings_get_a_new_empty_cache() {
        let s = snapshot(
            ", cache: {cluster_size: 0.5}",
            "{limit: 5, period: DAY}",
            "k1",
        );
        let (old, _t) = Services::start(&s, 1);
        let cache = old.stage_cache(stage_id(&s, "prod")).expect("prod cache");
        fill(cache);
        for changed in [
            ", cache: {cluster_size: 1.6}",
            ", cache: {cluster_size: 0.5, eviction: lru}",
            ", cache: {cluster_size: 0.5, cache_responses_with_set_cookie: true}",
        ] {
            let new_snapshot = snapshot(changed, "{limit: 5, period: DAY}", "k1");
            let (new, _t, kept) = reconcile(&old, &new_snapshot, 1);
            assert_eq!(kept.caches, 1, "{changed}: only dev is kept");
            let fresh = new
                .stage_cache(stage_id(&new_snapshot, "prod"))
                .expect("prod cache");
            assert!(!std::ptr::eq(fresh, cache), "{changed}");
            assert_eq!(fresh.stats().entries, 0, "{changed}");
        }
    }

    #[test]
    fn cache_of_a_removed_or_uncached_stage_is_dropped() {
        let s = snapshot(
            ", cache: {cluster_size: 0.5}",
            "{limit: 5, period: DAY}",
            "k1",
        );
        let (old, _t) = Services::start(&s, 1);
        let weak = Arc::downgrade(
            old.stage_caches[stage_id(&s, "prod")]
                .as_ref()
                .expect("prod cache"),
        );
        // Caching turned off on prod.
        let off = snapshot("", "{limit: 5, period: DAY}", "k1");
        let (new, _t, kept) = reconcile(&old, &off, 1);
        assert_eq!(kept.caches, 1);
        assert!(new.stage_cache(stage_id(&off, "prod")).is_none());
        drop(old);
        assert!(weak.upgrade().is_none(), "the old cache is freed");

        // A stage that is gone: its cache is not carried to whatever stage takes its id.
        let (old, _t) = Services::start(&s, 1);
        let other = crate::config::validate::from_str(
            Path::new("t.yaml"),
            "listeners: [{name: l, bind: '127.0.0.1:0'}]
apis:
  - id: demo
    routes:
      - {route: GET /x, integration: {type: MOCK}}
    stages:
      - {name: beta, cache: {cluster_size: 0.5}}
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (new, _t, kept) = reconcile(&old, &other, 1);
        assert_eq!(kept.caches, 0);
        let beta = new
            .stage_cache(other.api("demo").expect("api").stages["beta"].id)
            .expect("beta cache");
        assert_eq!(beta.stage, "beta");
        assert_eq!(new.stage_caches.iter().flatten().count(), 1);
    }

    #[test]
    fn quota_counters_of_unchanged_pairs_keep_counting() {
        let s = snapshot("", "{limit: 5, period: DAY}", "k1, k2");
        let (old, _t) = Services::start(&s, 1);
        let now = unix_now();
        let k1 = old.quotas().find("gold", "k1").expect("k1");
        for _ in 0..3 {
            assert!(old.quotas().try_consume(k1, now).is_ok());
        }
        // A new limit, k2 removed: k1 keeps its count (and its counter).
        let changed = snapshot("", "{limit: 4, period: DAY}", "k1");
        let (new, _t, kept) = reconcile(&old, &changed, 1);
        assert_eq!(kept.quota_counters, 1);
        let id = new.quotas().find("gold", "k1").expect("k1");
        assert!(new.quotas().shares_counter(id, old.quotas(), k1));
        assert_eq!(new.quotas().used(id, now), 3);
        assert_eq!(new.quotas().remaining(id, now), 1);
        assert_eq!(
            new.quotas().find("gold", "k2"),
            None,
            "removed pair dropped"
        );
        // A worker still on the old configuration counts into the same counter.
        assert!(old.quotas().try_consume(k1, now).is_ok());
        assert_eq!(new.quotas().used(id, now), 4);
        assert!(
            new.quotas().try_consume(id, now).is_err(),
            "limit 4 reached"
        );
    }

    #[test]
    fn unchanged_quota_list_keeps_the_very_same_store() {
        let s = snapshot("", "{limit: 5, period: DAY}", "k1, k2");
        let (old, _t) = Services::start(&s, 1);
        let (new, _t, kept) = reconcile(&old, &s, 1);
        assert_eq!(kept.quota_counters, 2);
        assert!(Arc::ptr_eq(new.quotas(), old.quotas()));
    }

    #[test]
    fn quota_counters_restart_when_the_period_changes() {
        let s = snapshot("", "{limit: 5, period: DAY}", "k1");
        let (old, _t) = Services::start(&s, 1);
        let now = unix_now();
        assert!(old.quotas().try_consume(0, now).is_ok());
        let weekly = snapshot("", "{limit: 5, period: WEEK}", "k1");
        let (new, _t, kept) = reconcile(&old, &weekly, 1);
        assert_eq!(kept.quota_counters, 0);
        assert!(!new.quotas().shares_counter(0, old.quotas(), 0));
        assert_eq!(new.quotas().used(0, now), 0);
    }

    #[test]
    fn rate_limits_start_over_with_new_pools() {
        let s = snapshot("", "{limit: 5, period: DAY}", "k1");
        let (old, _t) = Services::start(&s, 1);
        let (new, _t, _) = reconcile(&old, &s, 1);
        assert!(!Arc::ptr_eq(&old.limits().pools, &new.limits().pools));
        assert!(Arc::ptr_eq(&new.limits().quotas, new.quotas()));
    }

    /// A snapshot with target groups `a` (health check `a_check`, empty for none) on
    /// `a_targets` and `b` (checked) on 127.0.0.1:9002.
    fn groups(a_targets: &[&str], a_check: &str) -> Snapshot {
        let targets: String = a_targets
            .iter()
            .map(|t| format!("      - {{address: '{t}'}}\n"))
            .collect();
        let text = format!(
            "server: {{state_file: '{}'}}
listeners: [{{name: l, bind: '127.0.0.1:0'}}]
apis:
  - id: demo
    routes:
      - {{route: GET /x, integration: {{type: MOCK}}}}
    stages: [{{name: prod}}]
target_groups:
  - name: a
    targets:
{targets}{a_check}  - name: b
    targets: [{{address: '127.0.0.1:9002'}}]
    health_check: {{path: /health}}
",
            no_state().display()
        );
        crate::config::validate::from_str(Path::new("t.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    const CHECK: &str = "    health_check: {path: /health}\n";

    #[test]
    fn target_health_is_kept_for_unchanged_groups_only() {
        let s = groups(&["127.0.0.1:9000", "127.0.0.1:9001"], CHECK);
        let (old, _t) = Services::start(&s, 1);
        assert_eq!(old.unhealthy_targets().count(), 0, "targets start healthy");
        old.health(0).expect("a").set(1, false);
        old.health(1).expect("b").set(0, false);
        let down: Vec<(usize, usize)> = old
            .unhealthy_targets()
            .map(|u| (u.group, u.target))
            .collect();
        assert_eq!(down, vec![(0, 1), (1, 0)]);

        // Same groups: both keep what the checker found (the very same board).
        let (same, _t, kept) = reconcile(&old, &s, 1);
        assert_eq!(kept.target_groups, 2);
        assert!(Arc::ptr_eq(
            same.health(0).expect("a"),
            old.health(0).expect("a")
        ));
        assert_eq!(same.health(0).expect("a").states(), vec![true, false]);

        // `a`'s targets changed (one added): it starts healthy; `b` keeps its state.
        let more = groups(
            &["127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9003"],
            CHECK,
        );
        let (new, _t, kept) = reconcile(&old, &more, 1);
        assert_eq!(kept.target_groups, 1);
        assert_eq!(new.health(0).expect("a").states(), vec![true; 3]);
        let down: Vec<(usize, usize)> = new
            .unhealthy_targets()
            .map(|u| (u.group, u.target))
            .collect();
        assert_eq!(down, vec![(1, 0)]);

        // `a` lost its health check: nothing would ever bring its target back, so it
        // starts healthy.
        let unchecked = groups(&["127.0.0.1:9000", "127.0.0.1:9001"], "");
        let (new, _t, kept) = reconcile(&old, &unchecked, 1);
        assert_eq!(kept.target_groups, 1);
        assert_eq!(new.health(0).expect("a").states(), vec![true, true]);
    }
}
