//! A worker's view of its target groups: the balancer, active health (from the checker
//! thread, by message) and passive ejection (from this worker's own requests). Per worker,
//! single-threaded, so nothing here is shared with another core.

use std::cell::{Cell, RefCell};

use crate::config::snapshot::TargetGroup;
use crate::config::Snapshot;
use crate::log;
use crate::time::{Clock, RealClock};
use crate::upstream::balance::Balancer;
use crate::upstream::health::{HealthUpdate, PassiveHealth};

struct GroupState {
    balancer: Balancer,
    passive: PassiveHealth,
    /// Active health as last reported by the checker (true without checks).
    active: Vec<bool>,
    /// Whether the "failing open" notice was logged for the current outage.
    failing_open: Cell<bool>,
    /// Scratch per pick (reused): below the connection limit / healthy and below it.
    room: Vec<bool>,
    usable: Vec<bool>,
}

/// The outcome of choosing a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// A healthy target.
    Healthy(usize),
    /// No target is healthy: this one is tried anyway (fail open).
    FailOpen(usize),
    /// Nothing can be tried (all excluded or at their connection limit).
    Nothing,
}

pub struct TargetGroups {
    groups: RefCell<Vec<GroupState>>,
    clock: RealClock,
}

impl TargetGroups {
    pub fn new(snapshot: &Snapshot) -> Self {
        let groups = snapshot
            .target_groups
            .iter()
            .map(|g| {
                let weights: Vec<u32> = g.targets.iter().map(|t| t.weight).collect();
                GroupState {
                    balancer: Balancer::new(g.policy, &weights),
                    passive: PassiveHealth::new(
                        g.targets.len(),
                        g.passive.consecutive_failures,
                        g.passive.ejection,
                        g.passive.max_ejection,
                    ),
                    active: vec![true; g.targets.len()],
                    failing_open: Cell::new(false),
                    room: vec![false; g.targets.len()],
                    usable: vec![false; g.targets.len()],
                }
            })
            .collect();
        TargetGroups {
            groups: RefCell::new(groups),
            clock: RealClock::new(),
        }
    }

    /// Rebuild for a new configuration.
    pub fn reset(&self, snapshot: &Snapshot) {
        let fresh = TargetGroups::new(snapshot);
        *self.groups.borrow_mut() = fresh.groups.into_inner();
    }

    /// Apply an active health-check result sent by the checker thread.
    pub fn apply(&self, update: HealthUpdate) {
        if let Some(slot) = self
            .groups
            .borrow_mut()
            .get_mut(update.group)
            .and_then(|g| g.active.get_mut(update.target))
        {
            *slot = update.healthy;
        }
    }

    /// Choose a target of group `gi` for a request on the client flow `flow`, never
    /// `exclude`. Healthy = actively healthy and not passively ejected, and below the
    /// group's in-use connection limit. With none healthy, every target under its limit is
    /// tried (fail open), and that is logged once per outage.
    pub fn pick(&self, gi: usize, group: &TargetGroup, flow: u64, exclude: Option<usize>) -> Pick {
        let now = self.clock.now();
        let mut groups = self.groups.borrow_mut();
        let Some(g) = groups.get_mut(gi) else {
            return Pick::Nothing;
        };
        let max = group.pool.max_connections as u32;
        let mut any_healthy = false;
        for i in 0..g.active.len() {
            let room = max == 0 || g.balancer.outstanding(i) < max;
            g.room[i] = room;
            g.usable[i] = room && g.active[i] && !g.passive.is_ejected(i, now);
            any_healthy |= g.usable[i];
        }
        let usable = &g.usable;
        if let Some(i) =
            g.balancer
                .pick(&|i| usable.get(i).copied().unwrap_or(false), flow, exclude)
        {
            g.failing_open.set(false);
            return Pick::Healthy(i);
        }
        if any_healthy {
            return Pick::Nothing; // the only healthy one was excluded
        }
        let room = &g.room;
        match g
            .balancer
            .pick(&|i| room.get(i).copied().unwrap_or(false), flow, exclude)
        {
            Some(i) => {
                if !g.failing_open.replace(true) {
                    log!(
                        "target group {}: no healthy target; failing open (trying all targets)",
                        group.name
                    );
                }
                Pick::FailOpen(i)
            }
            None => Pick::Nothing,
        }
    }

    /// A request went to target `t` of group `gi`.
    pub fn started(&self, gi: usize, t: usize) {
        if let Some(g) = self.groups.borrow_mut().get_mut(gi) {
            g.balancer.started(t);
        }
    }

    /// The request to `t` finished; `ok` is false for a connect failure or a 5xx answer.
    pub fn finished(&self, gi: usize, group: &TargetGroup, t: usize, ok: bool) {
        let now = self.clock.now();
        if let Some(g) = self.groups.borrow_mut().get_mut(gi) {
            g.balancer.finished(t);
            if ok {
                g.passive.record_success(t);
            } else if g.passive.record_failure(t, now) {
                if let Some(target) = group.targets.get(t) {
                    let n = g.passive.ejections(t);
                    let doubling = 1u32 << n.saturating_sub(1).min(20);
                    let window = group
                        .passive
                        .ejection
                        .saturating_mul(doubling)
                        .min(group.passive.max_ejection);
                    log!(
                        "target group {}: target {} ejected for {:?} after consecutive failures (ejection {n})",
                        group.name,
                        target.addr,
                        window
                    );
                }
            }
        }
    }
}
