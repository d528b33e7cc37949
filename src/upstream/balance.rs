//! Target selection within a target group (API Gateway VPC link -> NLB/ALB), per worker.
//!
//! A [`Balancer`] lives on one worker and is used by that worker only: plain fields, no
//! atomics, no locks. Which targets may be chosen is the caller's business (active health,
//! passive ejection): [`Balancer::pick`] takes it as a `usable` predicate and never returns
//! an unusable target or the `exclude`d one (a target that just failed, on retry).
//!
//! Policies:
//! - [`Policy::RoundRobin`]: nginx's smooth weighted round robin over the usable targets;
//!   weights 1:3 give exactly 1 of every 4 picks to the first, interleaved, not in bursts.
//! - [`Policy::LeastOutstandingRequests`] (ALB's algorithm): the target with the fewest
//!   outstanding requests relative to its weight (`outstanding / weight`, compared exactly
//!   by cross-multiplication). Ties go through the same smooth weighted round robin, so
//!   idle targets share requests evenly (in weight proportion) instead of the first idle
//!   target taking everything. The caller reports [`Balancer::started`] and
//!   [`Balancer::finished`]; the other policies keep the counts too (metrics).
//! - [`Policy::FlowHash`] (NLB-style stickiness): weighted rendezvous hashing (highest random
//!   weight) of `(flow, target index)`. One flow stays on one target while that target is
//!   usable; when a target becomes unusable only its own flows move (spread over the rest in
//!   weight proportion), and when it comes back exactly those flows return.

use std::net::{IpAddr, SocketAddr};

/// How a target group spreads requests over its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    RoundRobin,
    LeastOutstandingRequests,
    FlowHash,
}

/// Per-worker balancing state for one target group.
#[derive(Debug, Clone)]
pub struct Balancer {
    policy: Policy,
    /// Weights, each at least 1.
    weights: Vec<u32>,
    /// Smooth weighted round robin's current weights.
    current: Vec<i64>,
    /// Requests in flight per target (on this worker).
    outstanding: Vec<u32>,
}

impl Balancer {
    /// A balancer over `weights.len()` targets (index `i` has weight `weights[i]`; a weight
    /// of 0 is treated as 1).
    pub fn new(policy: Policy, weights: &[u32]) -> Self {
        let weights: Vec<u32> = weights.iter().map(|&w| w.max(1)).collect();
        let n = weights.len();
        Balancer {
            policy,
            weights,
            current: vec![0; n],
            outstanding: vec![0; n],
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Pick a target index among those with `usable(i) == true`, never `exclude` (a target
    /// that just failed); `None` if no other target is usable. `flow` is the client's flow
    /// hash ([`flow_hash`]), used by [`Policy::FlowHash`] only.
    pub fn pick(
        &mut self,
        usable: &dyn Fn(usize) -> bool,
        flow: u64,
        exclude: Option<usize>,
    ) -> Option<usize> {
        let eligible = |i: usize| Some(i) != exclude && usable(i);
        match self.policy {
            Policy::RoundRobin => smooth_weighted(&self.weights, &mut self.current, &eligible),
            Policy::LeastOutstandingRequests => {
                // Fewest outstanding per weight, then round robin among the tied.
                let mut best: Option<usize> = None;
                for i in (0..self.len()).filter(|&i| eligible(i)) {
                    if best.is_none_or(|b| load_cmp(&self.outstanding, &self.weights, i, b).is_lt())
                    {
                        best = Some(i);
                    }
                }
                let min = best?;
                let (outstanding, weights) = (&self.outstanding, &self.weights);
                let tied = |i: usize| eligible(i) && load_cmp(outstanding, weights, i, min).is_eq();
                smooth_weighted(weights, &mut self.current, &tied)
            }
            Policy::FlowHash => {
                let mut best: Option<(usize, f64)> = None;
                for i in (0..self.len()).filter(|&i| eligible(i)) {
                    let score = rendezvous_score(flow, i, self.weights[i]);
                    if best.is_none_or(|(_, s)| score > s) {
                        best = Some((i, score));
                    }
                }
                best.map(|(i, _)| i)
            }
        }
    }

    /// A request went to `target` (outstanding += 1).
    pub fn started(&mut self, target: usize) {
        if let Some(o) = self.outstanding.get_mut(target) {
            *o = o.saturating_add(1);
        }
    }

    /// A request to `target` completed, successfully or not (outstanding -= 1, saturating).
    pub fn finished(&mut self, target: usize) {
        if let Some(o) = self.outstanding.get_mut(target) {
            *o = o.saturating_sub(1);
        }
    }

    /// Requests in flight to `target` on this worker (0 for an unknown index).
    pub fn outstanding(&self, target: usize) -> u32 {
        self.outstanding.get(target).copied().unwrap_or(0)
    }
}

/// Compare `outstanding / weight` of two targets exactly: a/wa < b/wb  <=>  a*wb < b*wa.
fn load_cmp(outstanding: &[u32], weights: &[u32], a: usize, b: usize) -> std::cmp::Ordering {
    let la = u64::from(outstanding[a]) * u64::from(weights[b]);
    let lb = u64::from(outstanding[b]) * u64::from(weights[a]);
    la.cmp(&lb)
}

/// nginx's smooth weighted round robin over the targets for which `eligible` holds: each
/// eligible target's current weight grows by its weight, the largest wins (the lowest index
/// on a tie) and gives back the total.
fn smooth_weighted(
    weights: &[u32],
    current: &mut [i64],
    eligible: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<(usize, i64)> = None;
    for (i, (&w, cur)) in weights.iter().zip(current.iter_mut()).enumerate() {
        if !eligible(i) {
            continue;
        }
        *cur += i64::from(w);
        total += i64::from(w);
        if best.is_none_or(|(_, c)| *cur > c) {
            best = Some((i, *cur));
        }
    }
    let (b, _) = best?;
    current[b] -= total;
    Some(b)
}

/// splitmix64's finalizer: a fast, well-spread 64-bit mix.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Weighted rendezvous score of `target` for `flow`: `w / -ln(u)` with `u` uniform in
/// (0, 1) derived from the pair, so target `i` wins with probability `w_i / sum(w)`.
fn rendezvous_score(flow: u64, target: usize, weight: u32) -> f64 {
    let h = mix64(flow ^ mix64((target as u64).wrapping_add(0x9e37_79b9_7f4a_7c15)));
    // 53 random bits, centred in their interval: strictly inside (0, 1).
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight) / -u.ln()
}

/// The flow hash of a TCP connection from `client` to `local` (our address): a stable,
/// well-mixed hash of the 4-tuple, the same for every request on one connection and the
/// same across workers and processes (no random seed), so a reload keeps flows in place.
pub fn flow_hash(client: SocketAddr, local: SocketAddr) -> u64 {
    fn ip_bits(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }
    let c = ip_bits(client.ip());
    let l = ip_bits(local.ip());
    let ports = (u64::from(client.port()) << 16) | u64::from(local.port());
    let mut h = 0x243f_6a88_85a3_08d3u64;
    for word in [
        c as u64,
        (c >> 64) as u64,
        l as u64,
        (l >> 64) as u64,
        ports,
    ] {
        h = mix64(h ^ word).wrapping_add(0x9e37_79b9_7f4a_7c15);
    }
    mix64(h)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all(_: usize) -> bool {
        true
    }

    fn counts(
        b: &mut Balancer,
        n: usize,
        picks: usize,
        usable: &dyn Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut c = vec![0; n];
        for _ in 0..picks {
            c[b.pick(usable, 0, None).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn round_robin_is_even() {
        let mut b = Balancer::new(Policy::RoundRobin, &[1, 1, 1]);
        let seq: Vec<usize> = (0..6).map(|_| b.pick(&all, 0, None).unwrap()).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(counts(&mut b, 3, 300, &all), vec![100, 100, 100]);
    }

    #[test]
    fn round_robin_weights_are_proportional_and_smooth() {
        let mut b = Balancer::new(Policy::RoundRobin, &[1, 3]);
        assert_eq!(counts(&mut b, 2, 400, &all), vec![100, 300]);
        // Smooth: the light target is never starved for long, never two in a row.
        let mut b = Balancer::new(Policy::RoundRobin, &[1, 3]);
        let seq: Vec<usize> = (0..8).map(|_| b.pick(&all, 0, None).unwrap()).collect();
        assert_eq!(seq, vec![1, 0, 1, 1, 1, 0, 1, 1]);
        // nginx's textbook example: weights 5, 1, 1.
        let mut b = Balancer::new(Policy::RoundRobin, &[5, 1, 1]);
        let seq: Vec<usize> = (0..7).map(|_| b.pick(&all, 0, None).unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
        // Weight 0 counts as 1.
        let mut b = Balancer::new(Policy::RoundRobin, &[0, 1]);
        assert_eq!(counts(&mut b, 2, 10, &all), vec![5, 5]);
    }

    #[test]
    fn skips_unusable_and_excluded_and_none_when_nothing_left() {
        for policy in [
            Policy::RoundRobin,
            Policy::LeastOutstandingRequests,
            Policy::FlowHash,
        ] {
            let mut b = Balancer::new(policy, &[1, 1, 1]);
            let not1 = |i: usize| i != 1;
            for flow in 0..200u64 {
                let t = b.pick(&not1, flow, Some(2));
                assert_eq!(t, Some(0), "{policy:?}");
                let t = b.pick(&not1, flow, None).unwrap();
                assert_ne!(t, 1, "{policy:?}");
            }
            assert_eq!(b.pick(&|_| false, 7, None), None, "{policy:?}");
            // The excluded target is never returned, even when it is the only usable one.
            assert_eq!(b.pick(&|i| i == 2, 7, Some(2)), None, "{policy:?}");
            assert_eq!(b.pick(&|i| i == 2, 7, None), Some(2), "{policy:?}");
            // Out-of-range exclusion is harmless; empty groups pick nothing.
            assert!(b.pick(&all, 7, Some(99)).is_some());
            let mut empty = Balancer::new(policy, &[]);
            assert!(empty.is_empty());
            assert_eq!(empty.pick(&all, 7, None), None);
        }
    }

    #[test]
    fn round_robin_over_usable_subset_stays_even() {
        let mut b = Balancer::new(Policy::RoundRobin, &[1, 1, 1, 1]);
        let c = counts(&mut b, 4, 300, &|i| i != 2);
        assert_eq!(c, vec![100, 100, 0, 100]);
    }

    #[test]
    fn least_outstanding_prefers_idle_targets() {
        let mut b = Balancer::new(Policy::LeastOutstandingRequests, &[1, 1, 1]);
        b.started(0);
        b.started(0);
        b.started(1);
        assert_eq!(b.outstanding(0), 2);
        assert_eq!(b.pick(&all, 0, None), Some(2));
        b.started(2);
        b.started(2);
        // Now 2, 1, 2: target 1 is least loaded.
        assert_eq!(b.pick(&all, 0, None), Some(1));
        b.finished(0);
        b.finished(0);
        b.finished(0); // saturates at 0
        assert_eq!(b.outstanding(0), 0);
        assert_eq!(b.pick(&all, 0, None), Some(0));
        // Unknown indexes are ignored.
        b.started(99);
        b.finished(99);
        assert_eq!(b.outstanding(99), 0);
    }

    #[test]
    fn least_outstanding_spreads_ties() {
        // Sequential requests (each finished before the next): all idle, ties spread evenly.
        let mut b = Balancer::new(Policy::LeastOutstandingRequests, &[1, 1, 1]);
        let mut c = [0; 3];
        for _ in 0..300 {
            let t = b.pick(&all, 0, None).unwrap();
            b.started(t);
            c[t] += 1;
            b.finished(t);
        }
        assert_eq!(c, [100, 100, 100]);
        // Concurrent requests: each pick goes to a least-loaded target, so loads stay level.
        let mut b = Balancer::new(Policy::LeastOutstandingRequests, &[1, 1, 1]);
        for _ in 0..30 {
            let t = b.pick(&all, 0, None).unwrap();
            b.started(t);
        }
        assert_eq!(
            (0..3).map(|i| b.outstanding(i)).collect::<Vec<_>>(),
            [10, 10, 10]
        );
    }

    #[test]
    fn least_outstanding_uses_weights() {
        let mut b = Balancer::new(Policy::LeastOutstandingRequests, &[1, 3]);
        for _ in 0..40 {
            let t = b.pick(&all, 0, None).unwrap();
            b.started(t);
        }
        assert_eq!((b.outstanding(0), b.outstanding(1)), (10, 30));
        // Idle and sequential: ties follow the weights too.
        let mut b = Balancer::new(Policy::LeastOutstandingRequests, &[1, 3]);
        assert_eq!(counts(&mut b, 2, 400, &all), vec![100, 300]);
    }

    fn flow_of(port: u16) -> u64 {
        flow_hash(
            SocketAddr::from(([198, 51, 100, 20], port)),
            SocketAddr::from(([10, 0, 0, 1], 443)),
        )
    }

    #[test]
    fn flow_hash_is_sticky() {
        let mut b = Balancer::new(Policy::FlowHash, &[1, 1, 1]);
        for port in [1000u16, 2000, 3000, 40000] {
            let flow = flow_of(port);
            assert_eq!(flow, flow_of(port));
            let first = b.pick(&all, flow, None).unwrap();
            for _ in 0..1000 {
                assert_eq!(b.pick(&all, flow, None), Some(first));
            }
        }
    }

    #[test]
    fn flow_hash_spreads_flows() {
        let mut b = Balancer::new(Policy::FlowHash, &[1, 1, 1]);
        let mut c = [0usize; 3];
        for port in 10000..13000u16 {
            c[b.pick(&all, flow_of(port), None).unwrap()] += 1;
        }
        for n in c {
            assert!((600..=1350).contains(&n), "{c:?}");
        }
        // Weighted: 1:3 gives about a quarter to the first.
        let mut b = Balancer::new(Policy::FlowHash, &[1, 3]);
        let mut c = [0usize; 2];
        for port in 10000..14000u16 {
            c[b.pick(&all, flow_of(port), None).unwrap()] += 1;
        }
        assert!((800..=1200).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn flow_hash_moves_only_the_failed_targets_flows() {
        let mut b = Balancer::new(Policy::FlowHash, &[1, 1, 1]);
        let flows: Vec<u64> = (20000..23000u16).map(flow_of).collect();
        let before: Vec<usize> = flows
            .iter()
            .map(|&f| b.pick(&all, f, None).unwrap())
            .collect();
        let without1 = |i: usize| i != 1;
        let mut moved_to = [0usize; 3];
        for (&f, &was) in flows.iter().zip(&before) {
            let now = b.pick(&without1, f, None).unwrap();
            if was == 1 {
                moved_to[now] += 1;
            } else {
                assert_eq!(now, was, "a healthy target's flow moved");
            }
        }
        // The failed target's flows spread over both survivors.
        assert_eq!(moved_to[1], 0);
        assert!(moved_to[0] > 300 && moved_to[2] > 300, "{moved_to:?}");
        // When it comes back, exactly its flows return.
        let after: Vec<usize> = flows
            .iter()
            .map(|&f| b.pick(&all, f, None).unwrap())
            .collect();
        assert_eq!(before, after);
        // Excluding (retry after a failure) behaves like unusable for that pick only.
        for (&f, &was) in flows.iter().zip(&before).take(200) {
            let retry = b.pick(&all, f, Some(was)).unwrap();
            assert_ne!(retry, was);
        }
    }

    #[test]
    fn flow_hash_depends_on_the_whole_tuple() {
        let c = SocketAddr::from(([192, 0, 2, 1], 5000));
        let l = SocketAddr::from(([10, 0, 0, 1], 443));
        let base = flow_hash(c, l);
        assert_eq!(base, flow_hash(c, l));
        assert_ne!(base, flow_hash(SocketAddr::from(([192, 0, 2, 1], 5001)), l));
        assert_ne!(base, flow_hash(SocketAddr::from(([192, 0, 2, 2], 5000)), l));
        assert_ne!(base, flow_hash(c, SocketAddr::from(([10, 0, 0, 1], 444))));
        assert_ne!(base, flow_hash(c, SocketAddr::from(([10, 0, 0, 2], 443))));
        assert_ne!(base, flow_hash(l, c));
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().unwrap();
        assert_ne!(base, flow_hash(v6, l));
    }
}
