//! Distributed tracing: the trace context of one request (`Trace`), read from and written
//! to the two header forms a caller may send (`header`: AWS X-Ray's `X-Amzn-Trace-Id` and
//! W3C `traceparent`), the per-worker id generator (`IdGen`), the sampler, and the OTLP/HTTP
//! exporter thread (`export`).
//!
//! Nothing here allocates for a request that is not sampled: ids are fixed arrays and the
//! headers are formatted into fixed arrays. What configures tracing lives in the
//! configuration (per stage and `server.tracing`); the pipeline applies it
//! (`pipeline::trace`).

pub mod export;
pub mod header;

pub use export::spans_dropped;

use std::cell::Cell;
use std::time::Duration;

/// The trace context of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trace {
    /// 16 bytes: W3C's trace id; X-Ray's root is `1-` + the first 4 bytes (an epoch in
    /// seconds) in hex + `-` + the other 12 in hex.
    pub trace_id: [u8; 16],
    /// The caller's span (the incoming `Parent` / parent-id), if it sent one.
    pub parent: Option<[u8; 8]>,
    /// The gateway's request span (SERVER).
    pub span_id: [u8; 8],
    /// The gateway's integration span (CLIENT): the parent the upstream is told.
    pub client_span_id: [u8; 8],
    /// The caller's sampling decision, if it made one.
    pub incoming_sampled: Option<bool>,
    /// The decision passed on (and whether spans are exported).
    pub sampled: bool,
    /// Spans of this request are exported (a sampled request on a stage with tracing on).
    pub export: bool,
    /// The incoming `traceparent` was used: its `tracestate` is passed on.
    pub w3c_in: bool,
    /// The incoming `X-Amzn-Trace-Id` names this trace: its other fields are passed on.
    pub xray_in: bool,
    /// When the integration request was sent, from the request's start.
    pub integration_offset: Option<Duration>,
    /// The authorize phase (an authorizer or IAM ran): its span id, when it began (from
    /// the request's start) and how long it took.
    pub authorizer: Option<([u8; 8], Duration, Duration)>,
}

/// Where a request's trace context came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A well-formed `traceparent`.
    W3c,
    /// A well-formed `X-Amzn-Trace-Id`.
    Xray,
    /// Neither header: a new trace.
    New,
    /// A header was present but malformed: a new trace replaces it.
    Replaced,
}

impl Trace {
    /// The trace context for a request carrying these header values (raw, as sent), with
    /// new span ids (and a new trace id, stamped `now_secs()`, when neither header is
    /// usable) from `ids`.
    pub fn accept(
        traceparent: Option<&[u8]>,
        xray: Option<&[u8]>,
        ids: &IdGen,
        now_secs: impl FnOnce() -> u64,
    ) -> (Trace, Origin) {
        let w3c = traceparent.and_then(header::parse_traceparent);
        let amzn = xray.and_then(header::parse_xray);
        let mut t = Trace {
            span_id: ids.span_id(),
            client_span_id: ids.span_id(),
            ..Trace::default()
        };
        let origin = if let Some(p) = w3c {
            t.trace_id = p.trace_id;
            t.parent = Some(p.parent);
            t.incoming_sampled = Some(p.sampled);
            t.w3c_in = true;
            t.xray_in = amzn.is_some_and(|x| x.trace_id == p.trace_id);
            Origin::W3c
        } else if let Some(x) = amzn {
            t.trace_id = x.trace_id;
            t.parent = x.parent;
            t.incoming_sampled = x.sampled;
            t.xray_in = true;
            Origin::Xray
        } else {
            t.trace_id = ids.trace_id(now_secs());
            if traceparent.is_some() || xray.is_some() {
                Origin::Replaced
            } else {
                Origin::New
            }
        };
        (t, origin)
    }
}

/// A per-worker source of random ids (xorshift64*, seeded from the clock and the worker):
/// not cryptographic, unique enough for trace and span ids, and free of locks and
/// allocation.
#[derive(Debug)]
pub struct IdGen {
    state: Cell<u64>,
}

impl IdGen {
    pub fn new(worker: usize) -> IdGen {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // The address of a stack value adds per-process entropy (ASLR).
        let here = &nanos as *const u64 as u64;
        IdGen::with_seed(
            nanos ^ here.rotate_left(32) ^ (worker as u64).wrapping_mul(0xa076_1d64_78bd_642f),
        )
    }

    /// A generator with a fixed seed (tests).
    pub fn with_seed(seed: u64) -> IdGen {
        IdGen {
            state: Cell::new(seed | 1),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A new span id (never all zero, which W3C reserves for "invalid").
    pub fn span_id(&self) -> [u8; 8] {
        let v = self.next_u64();
        (if v == 0 { 1 } else { v }).to_be_bytes()
    }

    /// A new trace id in X-Ray's form: the epoch second, then 96 random bits (valid for
    /// W3C too, and X-Ray accepts it, which wants a time in its first 4 bytes).
    pub fn trace_id(&self, now_secs: u64) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&(now_secs as u32).to_be_bytes());
        id[4..12].copy_from_slice(&self.next_u64().to_be_bytes());
        id[12..].copy_from_slice(&(self.next_u64() as u32 | 1).to_be_bytes());
        id
    }
}

/// The sampling decision for a request: on a stage with tracing off, nothing is exported
/// and the caller's decision is passed on unchanged (not sampled when it made none: X-Ray's
/// passive mode); with tracing on, the caller's decision is honoured (`Sampled=1`/`0`,
/// trace flags `01`/`00`) and a request without one is sampled when `draw` (a uniform 64-bit
/// value) falls under `rate` (0.0 to 1.0).
pub fn decide(enabled: bool, rate: f64, incoming: Option<bool>, draw: u64) -> (bool, bool) {
    if !enabled {
        return (incoming.unwrap_or(false), false);
    }
    let sampled = match incoming {
        Some(s) => s,
        None => under_rate(rate, draw),
    };
    (sampled, sampled)
}

fn under_rate(rate: f64, draw: u64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 || rate.is_nan() {
        return false;
    }
    // The top 53 bits as a uniform value in [0, 1).
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// Nanoseconds since the Unix epoch now.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_honours_the_callers_decision_and_draws_otherwise() {
        // Tracing off: nothing exported, the caller's flag passed on.
        assert_eq!(decide(false, 1.0, Some(true), 0), (true, false));
        assert_eq!(decide(false, 1.0, None, 0), (false, false));
        // Tracing on: Sampled=1 / Sampled=0 honoured whatever the rate.
        assert_eq!(decide(true, 0.0, Some(true), u64::MAX), (true, true));
        assert_eq!(decide(true, 1.0, Some(false), 0), (false, false));
        // No decision: the draw against the rate.
        assert_eq!(decide(true, 0.05, None, 0), (true, true));
        assert_eq!(decide(true, 0.05, None, u64::MAX), (false, false));
        let just_under = ((0.05 * (1u64 << 53) as f64) as u64 - 1) << 11;
        let just_over = ((0.05 * (1u64 << 53) as f64) as u64 + 1) << 11;
        assert!(decide(true, 0.05, None, just_under).0);
        assert!(!decide(true, 0.05, None, just_over).0);
        assert!(!decide(true, 0.0, None, 0).0);
        assert!(decide(true, 1.0, None, u64::MAX).0);
    }

    #[test]
    fn the_sampled_share_follows_the_rate() {
        let ids = IdGen::with_seed(42);
        let n = 100_000;
        let hits = (0..n)
            .filter(|_| decide(true, 0.05, None, ids.next_u64()).0)
            .count();
        assert!((4_000..6_000).contains(&hits), "{hits}");
    }

    #[test]
    fn new_ids_are_well_formed_and_differ() {
        let ids = IdGen::with_seed(7);
        let a = ids.trace_id(0x5759_e988);
        let b = ids.trace_id(0x5759_e988);
        assert_ne!(a, b);
        assert_eq!(&a[..4], &[0x57, 0x59, 0xe9, 0x88]);
        assert_ne!(ids.span_id(), ids.span_id());
        assert_ne!(ids.span_id(), [0; 8]);
    }

    #[test]
    fn accept_prefers_traceparent_then_xray_then_new() {
        let ids = IdGen::with_seed(1);
        let tp = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let (t, o) = Trace::accept(Some(tp), None, &ids, || 1);
        assert_eq!(o, Origin::W3c);
        assert_eq!(
            header::hex(&t.trace_id).as_slice(),
            b"0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            t.parent,
            Some([0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31])
        );
        assert_eq!(t.incoming_sampled, Some(true));
        assert!(t.w3c_in && !t.xray_in);

        let x = b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        let (t, o) = Trace::accept(None, Some(x), &ids, || 1);
        assert_eq!(o, Origin::Xray);
        assert_eq!(
            header::hex(&t.trace_id).as_slice(),
            b"5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(t.incoming_sampled, Some(false));
        assert!(t.xray_in && !t.w3c_in);

        // Both, naming the same trace: traceparent wins, the X-Ray fields are kept.
        let same = b"Root=1-0af76519-16cd43dd8448eb211c80319c;Lineage=a:1";
        let (t, _) = Trace::accept(Some(tp), Some(same), &ids, || 1);
        assert!(t.w3c_in && t.xray_in);

        let (t, o) = Trace::accept(Some(b"00-zz"), None, &ids, || 0x1234_5678);
        assert_eq!(o, Origin::Replaced);
        assert_eq!(&t.trace_id[..4], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!((t.parent, t.incoming_sampled), (None, None));
        let (_, o) = Trace::accept(None, None, &ids, || 1);
        assert_eq!(o, Origin::New);
    }
}
