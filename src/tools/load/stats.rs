//! What a load thread counts, merged across threads at the end.

use super::histogram::Histogram;
use super::schedule::Lateness;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect (or TLS handshake) failed.
    Connect = 0,
    /// No complete response within the per-request timeout.
    Timeout,
    /// Reading failed, or the server closed the connection before the response was
    /// complete.
    Read,
    /// Writing the request failed.
    Write,
    /// The response was not valid HTTP/1.1.
    Parse,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Errors {
    pub connect: u64,
    pub timeout: u64,
    pub read: u64,
    pub write: u64,
    pub parse: u64,
}

impl Errors {
    pub fn add(&mut self, f: Failure) {
        match f {
            Failure::Connect => self.connect += 1,
            Failure::Timeout => self.timeout += 1,
            Failure::Read => self.read += 1,
            Failure::Write => self.write += 1,
            Failure::Parse => self.parse += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.read + self.write + self.parse
    }

    pub fn merge(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.read += o.read;
        self.write += o.write;
        self.parse += o.parse;
    }
}

impl Failure {
    pub const ALL: [Failure; 5] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::Read,
        Failure::Write,
        Failure::Parse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Read => "read",
            Failure::Write => "write",
            Failure::Parse => "parse",
        }
    }
}

/// Status codes are three digits.
pub const STATUS_SLOTS: usize = 1000;

/// Counts of the measured requests (those sent after the warm-up).
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every measured response, in ns.
    pub latency: Histogram,
    /// Measured responses (any status).
    pub requests: u64,
    /// Bytes received for measured requests (heads and bodies).
    pub bytes: u64,
    /// Responses per status code (index = code).
    pub status: Vec<u64>,
    pub errors: Errors,
    /// Open loop: how late the measured sends were.
    pub lateness: Lateness,
    /// When the last measured request finished, in ns from the start of the run.
    pub last_done_ns: u64,
    /// Requests completed during the warm-up (not otherwise counted).
    pub warmup_requests: u64,
    /// The first error message of each kind (index: `Failure as usize`), warm-up included.
    pub samples: [Option<String>; 5],
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            latency: Histogram::new(),
            requests: 0,
            bytes: 0,
            status: vec![0; STATUS_SLOTS],
            errors: Errors::default(),
            lateness: Lateness::default(),
            last_done_ns: 0,
            warmup_requests: 0,
            samples: Default::default(),
        }
    }

    pub fn record_status(&mut self, code: u16) {
        if let Some(c) = self.status.get_mut(usize::from(code)) {
            *c += 1;
        }
    }

    pub fn merge(&mut self, o: &Stats) {
        self.latency.merge(&o.latency);
        self.requests += o.requests;
        self.bytes += o.bytes;
        for (a, b) in self.status.iter_mut().zip(o.status.iter()) {
            *a += *b;
        }
        self.errors.merge(&o.errors);
        self.lateness.merge(&o.lateness);
        self.last_done_ns = self.last_done_ns.max(o.last_done_ns);
        self.warmup_requests += o.warmup_requests;
        for (a, b) in self.samples.iter_mut().zip(o.samples.iter()) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
    }

    /// Responses whose status is in `lo..hi`.
    pub fn status_range(&self, lo: usize, hi: usize) -> u64 {
        self.status
            .get(lo..hi.min(self.status.len()))
            .map(|s| s.iter().sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_up() {
        let mut a = Stats::new();
        a.requests = 2;
        a.record_status(200);
        a.record_status(503);
        a.errors.add(Failure::Timeout);
        a.latency.record(5_000);
        a.last_done_ns = 10;
        let mut b = Stats::new();
        b.requests = 1;
        b.record_status(200);
        b.errors.add(Failure::Connect);
        b.errors.add(Failure::Parse);
        b.latency.record(7_000);
        b.last_done_ns = 30;
        b.samples[Failure::Connect as usize] = Some("refused".into());
        a.merge(&b);
        assert_eq!(
            a.samples[Failure::Connect as usize].as_deref(),
            Some("refused")
        );
        assert_eq!(a.samples[Failure::Timeout as usize], None);
        assert_eq!(a.requests, 3);
        assert_eq!(a.status[200], 2);
        assert_eq!(a.status_range(200, 300), 2);
        assert_eq!(a.status_range(500, 600), 1);
        assert_eq!(a.errors.total(), 3);
        assert_eq!(a.latency.count(), 2);
        assert_eq!(a.last_done_ns, 30);
        // Out-of-range codes are ignored rather than panicking.
        a.record_status(u16::MAX);
        assert_eq!(a.status_range(0, STATUS_SLOTS), 3);
    }
}
