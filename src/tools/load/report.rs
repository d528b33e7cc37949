//! The final report (text or one JSON object) and the live progress line.

use std::collections::BTreeMap;

use serde::Serialize;

use super::options::{Options, Stop};
use super::stats::{Failure, Stats};

#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub method: String,
    pub connections: usize,
    pub threads: usize,
    /// "closed" or "open".
    pub mode: &'static str,
    /// Open loop: the total rate asked for (requests/s).
    pub rate: Option<f64>,
    pub new_connection: bool,
    pub warmup_s: f64,
    /// The measured time: the configured duration, or with `--requests` the time from the
    /// end of the warm-up until the last request finished.
    pub duration_s: f64,
    /// Measured responses (any status).
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Bytes received (heads and bodies).
    pub bytes: u64,
    pub bytes_per_sec: f64,
    pub status: StatusReport,
    pub errors: ErrorReport,
    pub latency_us: LatencyReport,
    /// Responses during the warm-up (not counted anywhere else).
    pub warmup_requests: u64,
    /// The first error message of each kind that occurred (warm-up included).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_samples: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_loop: Option<OpenLoopReport>,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    #[serde(rename = "1xx")]
    pub s1xx: u64,
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
    /// Codes outside 100..=599.
    pub other: u64,
    /// Exact codes: "200": count.
    pub codes: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub total: u64,
    pub connect: u64,
    pub timeout: u64,
    pub read: u64,
    pub write: u64,
    pub parse: u64,
}

/// Latencies in microseconds.
#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct OpenLoopReport {
    pub rate_per_connection: f64,
    /// Measured sends more than 3 ms (the timer slack) after their intended time.
    pub late_sends: u64,
    pub max_lateness_us: f64,
    pub mean_lateness_us: f64,
}

/// Nanoseconds as microseconds (three decimals: ns resolution).
fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

impl Report {
    pub fn new(opts: &Options, stats: &Stats, duration_s: f64) -> Report {
        let per_sec = |n: u64| {
            if duration_s > 0.0 {
                n as f64 / duration_s
            } else {
                0.0
            }
        };
        let codes = stats
            .status
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(code, &n)| (format!("{code:03}"), n))
            .collect();
        let h = &stats.latency;
        let known = stats.status_range(100, 600);
        let all = stats.status_range(0, stats.status.len());
        Report {
            url: opts.url.clone(),
            method: opts.method.clone(),
            connections: opts.connections,
            threads: opts.threads,
            mode: if opts.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            rate: opts.rate,
            new_connection: opts.new_connection,
            warmup_s: opts.warmup.as_secs_f64(),
            duration_s,
            requests: stats.requests,
            requests_per_sec: per_sec(stats.requests),
            bytes: stats.bytes,
            bytes_per_sec: per_sec(stats.bytes),
            status: StatusReport {
                s1xx: stats.status_range(100, 200),
                s2xx: stats.status_range(200, 300),
                s3xx: stats.status_range(300, 400),
                s4xx: stats.status_range(400, 500),
                s5xx: stats.status_range(500, 600),
                other: all - known,
                codes,
            },
            errors: ErrorReport {
                total: stats.errors.total(),
                connect: stats.errors.connect,
                timeout: stats.errors.timeout,
                read: stats.errors.read,
                write: stats.errors.write,
                parse: stats.errors.parse,
            },
            latency_us: LatencyReport {
                min: us(h.min()),
                mean: h.mean().round() / 1e3,
                p50: us(h.value_at_quantile(0.50)),
                p90: us(h.value_at_quantile(0.90)),
                p99: us(h.value_at_quantile(0.99)),
                p99_9: us(h.value_at_quantile(0.999)),
                max: us(h.max()),
            },
            warmup_requests: stats.warmup_requests,
            error_samples: Failure::ALL
                .iter()
                .filter_map(|f| {
                    let s = stats.samples[*f as usize].as_ref()?;
                    Some((f.name(), s.clone()))
                })
                .collect(),
            open_loop: opts.rate.map(|r| OpenLoopReport {
                rate_per_connection: super::schedule::rate_per_connection(r, opts.connections),
                late_sends: stats.lateness.late,
                max_lateness_us: us(stats.lateness.max_ns),
                mean_lateness_us: stats.lateness.mean_ns().round() / 1e3,
            }),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self, opts: &Options) -> String {
        let mut s = String::new();
        let mode = match self.rate {
            Some(r) => format!("open loop at {} req/s", fmt_num(r)),
            None => "closed loop".to_string(),
        };
        let conns = if self.new_connection {
            "a new connection per request"
        } else {
            "keep-alive"
        };
        s.push_str(&format!("tollgate load {} {}\n", self.method, self.url));
        s.push_str(&format!(
            "  {} connection(s) on {} thread(s), {mode}, {conns}, {} warm-up\n",
            self.connections,
            self.threads,
            fmt_secs(self.warmup_s)
        ));
        let stop = match opts.stop {
            Stop::Requests(n) => format!(" ({n} requests asked for)"),
            Stop::Duration(_) => String::new(),
        };
        s.push_str(&format!(
            "  duration   {}{stop}\n",
            fmt_secs(self.duration_s)
        ));
        s.push_str(&format!(
            "  requests   {} ({} req/s)\n",
            self.requests,
            fmt_num(self.requests_per_sec)
        ));
        s.push_str(&format!(
            "  received   {} ({}/s)\n",
            fmt_bytes(self.bytes as f64),
            fmt_bytes(self.bytes_per_sec)
        ));
        let st = &self.status;
        let codes: Vec<String> = st.codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        s.push_str(&format!(
            "  status     2xx {}, 3xx {}, 4xx {}, 5xx {}{}{}  [{}]\n",
            st.s2xx,
            st.s3xx,
            st.s4xx,
            st.s5xx,
            if st.s1xx > 0 {
                format!(", 1xx {}", st.s1xx)
            } else {
                String::new()
            },
            if st.other > 0 {
                format!(", other {}", st.other)
            } else {
                String::new()
            },
            codes.join(", ")
        ));
        let e = &self.errors;
        s.push_str(&format!(
            "  errors     {} (connect {}, timeout {}, read {}, write {}, parse {})\n",
            e.total, e.connect, e.timeout, e.read, e.write, e.parse
        ));
        for (kind, msg) in &self.error_samples {
            s.push_str(&format!("    first {kind} error: {msg}\n"));
        }
        let l = &self.latency_us;
        s.push_str(&format!(
            "  latency    p50 {}, p90 {}, p99 {}, p99.9 {}, max {}, mean {}\n",
            fmt_us(l.p50),
            fmt_us(l.p90),
            fmt_us(l.p99),
            fmt_us(l.p99_9),
            fmt_us(l.max),
            fmt_us(l.mean)
        ));
        if let Some(o) = &self.open_loop {
            s.push_str(&format!(
                "  open loop  {} req/s per connection; {} send(s) more than 3 ms late (max {}, mean {})\n",
                fmt_num(o.rate_per_connection),
                o.late_sends,
                fmt_us(o.max_lateness_us),
                fmt_us(o.mean_lateness_us)
            ));
        }
        s
    }
}

/// `12.3 µs`, `1.23 ms`, `1.23 s`.
pub fn fmt_us(v: f64) -> String {
    if v < 1_000.0 {
        format!("{v:.1} µs")
    } else if v < 1_000_000.0 {
        format!("{:.2} ms", v / 1e3)
    } else {
        format!("{:.2} s", v / 1e6)
    }
}

fn fmt_secs(s: f64) -> String {
    format!("{s:.2} s")
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_bytes(v: f64) -> String {
    if v < 1024.0 {
        format!("{v:.0} B")
    } else if v < 1024.0 * 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else if v < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", v / (1024.0 * 1024.0 * 1024.0))
    }
}

/// The progress line: elapsed, measured requests, current rate, errors.
pub fn progress_line(
    elapsed_s: f64,
    warming_up: bool,
    measured: u64,
    rate: f64,
    errors: u64,
) -> String {
    format!(
        "{:>6.1} s{}  requests {measured}  {} req/s  errors {errors}",
        elapsed_s,
        if warming_up { " (warm-up)" } else { "" },
        fmt_num(rate)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn report_fields() {
        let opts = super::super::options::parse_args(&[
            "http://h/".to_string(),
            "--rate".to_string(),
            "100".to_string(),
            "--connections".to_string(),
            "4".to_string(),
        ])
        .unwrap();
        let mut st = Stats::new();
        st.requests = 10;
        st.bytes = 2_000;
        for _ in 0..9 {
            st.record_status(200);
        }
        st.record_status(503);
        for i in 1..=10u64 {
            st.latency.record(i * 100_000);
        }
        st.errors.add(super::super::stats::Failure::Timeout);
        let r = Report::new(&opts, &st, 2.0);
        assert_eq!(r.requests_per_sec, 5.0);
        assert_eq!(r.bytes_per_sec, 1000.0);
        assert_eq!(r.status.s2xx, 9);
        assert_eq!(r.status.s5xx, 1);
        assert_eq!(r.status.codes.get("200"), Some(&9));
        assert_eq!(r.errors.total, 1);
        assert_eq!(r.errors.timeout, 1);
        // Quantiles are the bucket's highest equivalent value (within 1/1024).
        assert!(r.latency_us.p50 >= 500.0 && r.latency_us.p50 <= 500.0 * (1.0 + 1.0 / 1024.0));
        assert_eq!(r.latency_us.max, 1000.0);
        assert_eq!(r.latency_us.mean, 550.0);
        assert_eq!(r.mode, "open");
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["status"]["2xx"], 9);
        assert_eq!(j["latency_us"]["p99.9"], 1000.0);
        assert_eq!(j["open_loop"]["rate_per_connection"], 25.0);
        let text = r.to_text(&opts);
        assert!(text.contains("requests   10 (5 req/s)"), "{text}");
        assert!(text.contains("p50 500.2 µs"), "{text}");
    }

    #[test]
    fn units() {
        assert_eq!(fmt_us(12.34), "12.3 µs");
        assert_eq!(fmt_us(1234.0), "1.23 ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50 s");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
    }
}
