//! PLACEHOLDER in the issue5 worktree: replaced by the real module before merging.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters { pub consumed: u64, pub attempts: u64, pub returned: f64 }
#[derive(Debug, Default)]
pub struct LocalBucket { tokens: f64, c: Counters }
impl LocalBucket {
    pub fn new() -> Self { Self::default() }
    pub fn peek(&self) -> bool { self.tokens >= 1.0 }
    pub fn take(&mut self) { self.tokens -= 1.0; self.c.consumed += 1; self.c.attempts += 1; }
    pub fn note_attempt(&mut self) { self.c.attempts += 1; }
    pub fn grant(&mut self, t: f64) { self.tokens += t; }
    pub fn revoke(&mut self, up_to: f64) -> f64 { let r = up_to.min(self.tokens).max(0.0); self.tokens -= r; self.c.returned += r; r }
    pub fn tokens(&self) -> f64 { self.tokens }
    pub fn report(&self) -> Counters { self.c }
}
pub fn retry_after_secs(rate: f64) -> u64 { if rate > 0.0 { (1.0 / rate).ceil().max(1.0) as u64 } else { 1 } }
