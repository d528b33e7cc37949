//! The `server`, `limits` and `listeners` sections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ahash::AHashMap;

use super::Errors;
use crate::config::bounded;
use crate::config::file::{LimitsFile, ListenerFile, ServerFile};
use crate::config::snapshot::{HttpLimits, ListenerSpec, ListenerTls, ServerSettings};

pub(super) fn build_server(e: &mut Errors, f: &ServerFile) -> ServerSettings {
    let workers = match f.workers {
        None => None,
        Some(0) => {
            e.push(
                "server.workers",
                "must be at least 1 (omit it for one worker per core)",
            );
            None
        }
        Some(n) => {
            let max = bounded::max_workers();
            match usize::try_from(n) {
                Ok(n) if n <= max => Some(n),
                _ => {
                    e.push("server.workers", workers_too_many(n, max));
                    None
                }
            }
        }
    };
    let suffix = f.execute_api_suffix.to_ascii_lowercase();
    if let Err(reason) = check_host_name(&suffix) {
        e.push("server.execute_api_suffix", reason);
    }
    let drain_timeout = e
        .duration("server.drain_timeout", &f.drain_timeout)
        .unwrap_or(Duration::from_secs(10));
    let reconcile_interval = e
        .positive_duration(
            "server.throttle_reconcile_interval",
            &f.throttle_reconcile_interval,
        )
        .unwrap_or(Duration::from_millis(20));
    let state_flush_interval = e
        .positive_duration("server.state_flush_interval", &f.state_flush_interval)
        .unwrap_or(Duration::from_secs(2));
    if f.state_file.trim().is_empty() {
        e.push("server.state_file", "must not be empty");
    }
    // AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    if f.region.is_empty()
        || !f
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        e.push(
            "server.region",
            format!("`{}` is not a region name (e.g. us-east-1)", f.region),
        );
    }
    if f.account_id.len() != 12 || !f.account_id.bytes().all(|b| b.is_ascii_digit()) {
        e.push(
            "server.account_id",
            format!("`{}` is not an AWS account id (12 digits)", f.account_id),
        );
    }
    ServerSettings {
        workers,
        execute_api_suffix: suffix,
        drain_timeout,
        reconcile_interval,
        // Made relative to the configuration file's directory by `build`.
        state_file: PathBuf::from(&f.state_file),
        state_flush_interval,
        tracing: crate::config::tracing::build_exporter(e, f.tracing.as_ref()),
        region: f.region.clone(),
        account_id: f.account_id.clone(),
    }
}

/// Why `n` workers are refused on this machine (also for `--workers`).
pub fn workers_too_many(n: u64, max: usize) -> String {
    format!(
        "must be at most {max} ({} per CPU this process may run on, never above {}), got {n}",
        bounded::WORKERS_PER_CPU,
        bounded::MAX_WORKERS_CEILING
    )
}

/// A DNS name: dot-separated labels of letters, digits and `-` (not at a label's ends).
pub(super) fn check_host_name(s: &str) -> Result<(), String> {
    let bad =
        || format!("`{s}` is not a host name (expected e.g. `localhost` or `api.example.com`)");
    if s.is_empty() || s.len() > 253 {
        return Err(bad());
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

pub(super) fn build_limits(e: &mut Errors, f: &LimitsFile) -> HttpLimits {
    let d = HttpLimits::default();
    let mut range = |path: &str, v: u64, lo: u64, hi: u64| -> Option<u64> {
        if v < lo || v > hi {
            e.push(path, format!("must be between {lo} and {hi}, got {v}"));
            None
        } else {
            Some(v)
        }
    };
    let max_head_bytes = range("limits.max_head_bytes", f.max_head_bytes, 1024, 1_048_576)
        .map(|v| v as usize)
        .unwrap_or(d.max_head_bytes);
    let max_headers = range(
        "limits.max_headers",
        f.max_headers,
        1,
        crate::http::parse::HEADER_SLOTS as u64,
    )
    .map(|v| v as usize)
    .unwrap_or(d.max_headers);
    let max_body_bytes = if f.max_body_bytes == 0 {
        e.push("limits.max_body_bytes", "must be at least 1");
        d.max_body_bytes
    } else {
        f.max_body_bytes
    };
    HttpLimits {
        max_head_bytes,
        max_headers,
        max_body_bytes,
        header_read_timeout: e
            .positive_duration("limits.header_read_timeout", &f.header_read_timeout)
            .unwrap_or(d.header_read_timeout),
        keepalive_timeout: e
            .positive_duration("limits.keepalive_timeout", &f.keepalive_timeout)
            .unwrap_or(d.keepalive_timeout),
        body_read_timeout: e
            .positive_duration("limits.body_read_timeout", &f.body_read_timeout)
            .unwrap_or(d.body_read_timeout),
    }
}

pub(super) fn build_listeners(
    e: &mut Errors,
    files: &[ListenerFile],
    apis_by_id: &AHashMap<String, usize>,
    domains_by_name: &AHashMap<String, usize>,
) -> Vec<ListenerSpec> {
    if files.is_empty() {
        e.push("listeners", "at least one listener is required");
    }
    let mut names: AHashMap<&str, usize> = AHashMap::new();
    let mut binds: AHashMap<SocketAddr, usize> = AHashMap::new();
    let mut out = Vec::with_capacity(files.len());
    for (i, l) in files.iter().enumerate() {
        let path = format!("listeners[{i}]");
        if l.name.trim().is_empty() {
            e.push(format!("{path}.name"), "must not be empty");
        } else if let Some(first) = names.get(l.name.as_str()) {
            e.push(
                format!("{path}.name"),
                format!(
                    "duplicate listener name `{}` (first used at listeners[{first}])",
                    l.name
                ),
            );
        } else {
            names.insert(&l.name, i);
        }
        let bind = match l.bind.trim().parse::<SocketAddr>() {
            Ok(a) => {
                // Port 0 asks for a fresh port each time, so such listeners never collide.
                if let Some(first) = binds.get(&a).filter(|_| a.port() != 0) {
                    e.push(
                        format!("{path}.bind"),
                        format!("address {a} is already used by listeners[{first}]"),
                    );
                } else {
                    binds.insert(a, i);
                }
                Some(a)
            }
            Err(_) => {
                e.push(
                    format!("{path}.bind"),
                    format!(
                        "`{}` is not a socket address (expected IP:port, e.g. \
                         127.0.0.1:8080 or [::1]:8080)",
                        l.bind
                    ),
                );
                None
            }
        };
        let default_api = match &l.default_api {
            None => None,
            Some(id) => match apis_by_id.get(id) {
                Some(&idx) => Some(idx),
                None => {
                    e.push(
                        format!("{path}.default_api"),
                        format!("no API with id `{id}`"),
                    );
                    None
                }
            },
        };
        if l.h2c && l.tls.is_some() {
            e.push(
                format!("{path}.h2c"),
                "h2c is for plain listeners; HTTPS listeners offer HTTP/2 through ALPN (custom_domains[].http2)".to_string(),
            );
        }
        let tls = l.tls.as_ref().map(|t| {
            let default_domain = t.default_domain.as_ref().and_then(|d| {
                let found = domains_by_name.get(&d.to_ascii_lowercase()).copied();
                if found.is_none() {
                    e.push(
                        format!("{path}.tls.default_domain"),
                        format!("no custom domain `{d}`"),
                    );
                }
                found
            });
            let handshake_timeout = e
                .positive_duration(
                    &format!("{path}.tls.handshake_timeout"),
                    &t.handshake_timeout,
                )
                .unwrap_or(std::time::Duration::from_secs(10));
            ListenerTls {
                default_domain,
                handshake_timeout,
            }
        });
        let mut trusted_proxies = Vec::new();
        for (k, text) in l.trusted_proxies.iter().enumerate() {
            match crate::auth::policy::Cidr::parse(text) {
                Ok(c) => trusted_proxies.push(c),
                Err(reason) => e.push(format!("{path}.trusted_proxies[{k}]"), reason),
            }
        }
        if let Some(bind) = bind {
            out.push(ListenerSpec {
                trusted_proxies,
                name: l.name.clone(),
                bind,
                default_api,
                tls,
                drop_underscore_headers: l.drop_underscore_headers,
                h2c: l.h2c,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::tests::*;
    use crate::config::validate::ConfigErrors;

    // ---- server

    #[test]
    fn workers_zero() {
        let list = errors(&format!("server:\n  workers: 0\n{}", minimal("", "")));
        assert_error(&list, "server.workers", "at least 1");
    }

    #[test]
    fn bad_duration_named() {
        let list = errors(&format!(
            "server:\n  drain_timeout: 10 seconds\n{}",
            minimal("", "")
        ));
        assert_eq!(list.len(), 1);
        assert_error(
            &list,
            "server.drain_timeout",
            "invalid duration `10 seconds`",
        );
    }

    #[test]
    fn duration_without_unit() {
        let list = errors(&minimal("limits:\n  keepalive_timeout: 60\n", ""));
        assert_error(&list, "limits.keepalive_timeout", "missing unit");
    }

    #[test]
    fn bad_suffix() {
        let list = errors(&format!(
            "server:\n  execute_api_suffix: 'a..b'\n{}",
            minimal("", "")
        ));
        assert_error(&list, "server.execute_api_suffix", "not a host name");
    }

    #[test]
    fn server_values_taken() {
        let snap = check(&format!(
            "server:\n  workers: 3\n  execute_api_suffix: Example.COM\n  drain_timeout: 1500ms\n{}",
            minimal("", "")
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snap.server.workers, Some(3));
        assert_eq!(snap.server.execute_api_suffix, "example.com");
        assert_eq!(snap.server.drain_timeout, Duration::from_millis(1500));
    }

    // ---- limits

    #[test]
    fn max_head_bytes_range() {
        let list = errors(&minimal("limits:\n  max_head_bytes: 100\n", ""));
        assert_error(&list, "limits.max_head_bytes", "between 1024 and 1048576");
        let list = errors(&minimal("limits:\n  max_head_bytes: 2000000\n", ""));
        assert_error(&list, "limits.max_head_bytes", "got 2000000");
    }

    #[test]
    fn max_headers_range() {
        let list = errors(&minimal("limits:\n  max_headers: 129\n", ""));
        assert_error(&list, "limits.max_headers", "between 1 and 128");
    }

    #[test]
    fn max_body_bytes_positive() {
        let list = errors(&minimal("limits:\n  max_body_bytes: 0\n", ""));
        assert_error(&list, "limits.max_body_bytes", "at least 1");
    }

    #[test]
    fn limit_timeouts_positive() {
        let list = errors(&minimal(
            "limits:\n  header_read_timeout: 0s\n  body_read_timeout: 0ms\n",
            "",
        ));
        assert_error(&list, "limits.header_read_timeout", "greater than 0");
        assert_error(&list, "limits.body_read_timeout", "greater than 0");
    }

    #[test]
    fn limits_values_taken() {
        let snap = check(&minimal(
            "limits:\n  max_head_bytes: 4096\n  max_headers: 10\n  max_body_bytes: 5\n  \
             header_read_timeout: 2s\n  keepalive_timeout: 1m\n  body_read_timeout: 1h\n",
            "",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snap.limits.max_head_bytes, 4096);
        assert_eq!(snap.limits.max_headers, 10);
        assert_eq!(snap.limits.max_body_bytes, 5);
        assert_eq!(snap.limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(snap.limits.keepalive_timeout, Duration::from_secs(60));
        assert_eq!(snap.limits.body_read_timeout, Duration::from_secs(3600));
    }

    // ---- listeners

    #[test]
    fn no_listeners() {
        let list = errors("apis:\n  - id: demo\n    routes: []\n    stages: [{name: prod}]\n");
        assert_error(&list, "listeners", "at least one listener");
    }

    #[test]
    fn duplicate_listener_name_and_bind() {
        let text = "
listeners:
  - {name: a, bind: '127.0.0.1:8080'}
  - {name: a, bind: '127.0.0.1:8080'}
  - {name: b, bind: '[::1]:8080'}
apis:
  - id: demo
    routes: []
    stages: [{name: prod}]
";
        let list = errors(text);
        assert_eq!(list.len(), 2, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "listeners[1].name", "duplicate listener name `a`");
        assert_error(&list, "listeners[1].bind", "already used by listeners[0]");
    }

    #[test]
    fn bad_bind() {
        let list = errors(&minimal("", "").replace("127.0.0.1:8080", "localhost:8080"));
        assert_error(&list, "listeners[0].bind", "not a socket address");
    }

    #[test]
    fn default_api_must_exist() {
        let list = errors(&minimal("", "    default_api: other\n"));
        assert_error(&list, "listeners[0].default_api", "no API with id `other`");
    }

    #[test]
    fn trusted_proxies_are_cidrs() {
        let snap =
            check(&minimal("", "    trusted_proxies: [10.0.0.0/8, '::1']\n")).expect("valid");
        let l = &snap.listeners[0];
        assert_eq!(l.trusted_proxies.len(), 2);
        let peer: std::net::IpAddr = "10.1.1.1".parse().expect("ip");
        let xff: [&[u8]; 1] = [b"192.0.2.9, 10.2.2.2"];
        assert_eq!(l.client_ip(peer, xff.into_iter()).to_string(), "192.0.2.9");
        let list = errors(&minimal("", "    trusted_proxies: [10.0.0.0/33]\n"));
        assert_error(&list, "listeners[0].trusted_proxies[0]", "10.0.0.0/33");
    }
}
