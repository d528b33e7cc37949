//! Tracing settings: a stage's `tracing_enabled` / `tracing_sample_rate` and the exporter's
//! `server.tracing`, validated with their key paths.

use std::time::Duration;

use super::file::{StageFile, TracingFile};
use super::snapshot::StageTracing;
use super::validate::Errors;
use crate::observe::trace::export::{Endpoint, ExporterConfig};

/// X-Ray's default rule samples 5% of requests beyond its reservoir (1 request a second);
/// tollgate has no reservoir, so the rate alone.
pub const DEFAULT_SAMPLE_RATE: f64 = 0.05;

/// The most spans the exporter queue may hold.
const MAX_QUEUE: u64 = 1 << 20;

pub(super) fn build_stage(e: &mut Errors, s: &StageFile, spath: &str) -> StageTracing {
    let sample_rate = match s.tracing_sample_rate {
        None => DEFAULT_SAMPLE_RATE,
        Some(r) if r.is_finite() && (0.0..=1.0).contains(&r) => r,
        Some(r) => {
            e.push(
                format!("{spath}.tracing_sample_rate"),
                format!(
                    "must be a number from 0.0 to 1.0 (the share of requests sampled), got {r}"
                ),
            );
            DEFAULT_SAMPLE_RATE
        }
    };
    StageTracing {
        enabled: s.tracing_enabled,
        sample_rate,
    }
}

pub(super) fn build_exporter(e: &mut Errors, f: Option<&TracingFile>) -> ExporterConfig {
    let default = TracingFile::default();
    let f = f.unwrap_or(&default);
    let endpoint = match Endpoint::parse(&f.otlp_endpoint) {
        Ok(ep) => ep,
        Err(reason) => {
            e.push("server.tracing.otlp_endpoint", reason);
            ExporterConfig::default().endpoint
        }
    };
    if f.service_name.trim().is_empty() {
        e.push("server.tracing.service_name", "must not be empty");
    }
    let mut count = |key: &str, v: u64| -> usize {
        if v == 0 || v > MAX_QUEUE {
            e.push(
                format!("server.tracing.{key}"),
                format!("must be from 1 to {MAX_QUEUE} spans, got {v}"),
            );
            return 1;
        }
        v as usize
    };
    let queue = count("queue", f.queue);
    let batch = count("batch", f.batch);
    let flush_interval = e
        .positive_duration("server.tracing.flush_interval", &f.flush_interval)
        .unwrap_or(Duration::from_secs(1));
    let timeout = e
        .positive_duration("server.tracing.timeout", &f.timeout)
        .unwrap_or(Duration::from_secs(2));
    ExporterConfig {
        endpoint,
        service_name: f.service_name.clone(),
        queue,
        batch,
        flush_interval,
        timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::{assert_error, check, errors};

    fn file(server: &str, stage: &str) -> String {
        format!(
            "{server}
listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis:
  - id: demo
    routes: []
    stages:
      - name: prod
{stage}
"
        )
    }

    #[test]
    fn defaults_tracing_off_rate_five_percent_local_collector() {
        let snap = check(&file("", "")).unwrap_or_else(|e| panic!("{e}"));
        let stage = &snap.api("demo").expect("demo").stages["prod"];
        assert_eq!(
            stage.tracing,
            StageTracing {
                enabled: false,
                sample_rate: 0.05
            }
        );
        let t = &snap.server.tracing;
        assert_eq!(t, &ExporterConfig::default());
        assert_eq!(
            t.endpoint,
            Endpoint::parse(crate::observe::trace::export::DEFAULT_ENDPOINT).expect("ok")
        );
        assert_eq!(t.service_name, "tollgate");
        assert_eq!((t.queue, t.batch), (2048, 512));
        assert_eq!(t.flush_interval, Duration::from_secs(1));
        assert_eq!(t.timeout, Duration::from_secs(2));
    }

    #[test]
    fn stage_and_server_keys_are_read() {
        let snap = check(&file(
            "server:\n  tracing: {otlp_endpoint: 'http://10.0.0.1:4000/t', service_name: edge, queue: 8, batch: 2, flush_interval: 50ms, timeout: 300ms}",
            "        tracing_enabled: true\n        tracing_sample_rate: 1",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let stage = &snap.api("demo").expect("demo").stages["prod"];
        assert!(stage.tracing.enabled);
        assert_eq!(stage.tracing.sample_rate, 1.0);
        let t = &snap.server.tracing;
        assert_eq!(t.endpoint.authority, "10.0.0.1:4000");
        assert_eq!(t.endpoint.path, "/t");
        assert_eq!((t.service_name.as_str(), t.queue, t.batch), ("edge", 8, 2));
        assert_eq!(t.timeout, Duration::from_millis(300));
    }

    #[test]
    fn a_rate_outside_zero_to_one_is_refused() {
        for bad in ["1.5", "-0.1", ".nan"] {
            let list = errors(&file("", &format!("        tracing_sample_rate: {bad}")));
            assert_error(
                &list,
                "apis[0].stages[0].tracing_sample_rate",
                "from 0.0 to 1.0",
            );
        }
    }

    #[test]
    fn bad_exporter_settings_are_refused_with_their_paths() {
        let list = errors(&file(
            "server:\n  tracing: {otlp_endpoint: 'https://c/v1/traces', service_name: ' ', queue: 0, batch: 0, flush_interval: 0s, timeout: soon}",
            "",
        ));
        assert_error(&list, "server.tracing.otlp_endpoint", "not an http:// URL");
        assert_error(&list, "server.tracing.service_name", "must not be empty");
        assert_error(&list, "server.tracing.queue", "from 1 to");
        assert_error(&list, "server.tracing.batch", "from 1 to");
        assert_error(&list, "server.tracing.flush_interval", "greater than 0");
        assert_error(&list, "server.tracing.timeout", "");
        let list = errors(&file(
            "server:\n  tracing: {otlp_endpoint: 'http://c:0/'}",
            "",
        ));
        assert_error(&list, "server.tracing.otlp_endpoint", "not a port");
        let list = errors(&file("server:\n  tracing: {nope: 1}", ""));
        assert!(!list.is_empty());
    }
}
