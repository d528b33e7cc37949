//! PLACEHOLDER in the issue5 worktree: replaced by the real module before merging.
use std::time::Duration;
use super::bucket::Counters;
pub struct LimitSpec { pub rate: f64, pub burst: f64 }
pub struct WorkerReport { pub worker: usize, pub limit: usize, pub counters: Counters }
pub struct Grant { pub worker: usize, pub limit: usize, pub tokens: f64 }
pub struct Reconciler;
impl Reconciler {
    pub fn new(_specs: Vec<LimitSpec>, _workers: usize, _now: Duration) -> (Reconciler, Vec<Grant>) { (Reconciler, Vec::new()) }
    pub fn report(&mut self, _r: WorkerReport) {}
    pub fn tick(&mut self, _now: Duration) -> Vec<Grant> { Vec::new() }
    pub fn admitted(&self, _limit: usize) -> u64 { 0 }
}
