//! Validation of `target_groups:` (file model -> `TargetGroup`), every error with its key path.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use super::file::TargetGroupFile;
use super::snapshot::{PassiveSettings, PoolSettings, Target, TargetGroup, TargetTls};
use super::validate::Errors;
use crate::upstream::balance::Policy;
use crate::upstream::health::HealthCheckSpec;

/// Build every target group; returns them in file order (failed ones are skipped after
/// their errors were recorded, so indexes are only used when there are no errors).
pub(super) fn build_target_groups(
    e: &mut Errors,
    groups: &[TargetGroupFile],
    base_dir: &Path,
) -> Vec<Arc<TargetGroup>> {
    let mut out = Vec::with_capacity(groups.len());
    let mut names: ahash::AHashMap<&str, usize> = ahash::AHashMap::new();
    for (i, g) in groups.iter().enumerate() {
        let path = format!("target_groups[{i}]");
        if let Some(first) = names.get(g.name.as_str()) {
            e.push(
                format!("{path}.name"),
                format!(
                    "duplicate target group name `{}` (first defined at target_groups[{first}])",
                    g.name
                ),
            );
        } else {
            names.insert(&g.name, i);
        }
        if g.name.is_empty()
            || !g
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            e.push(
                format!("{path}.name"),
                "must be letters, digits, '-' or '_'",
            );
        }
        if let Some(group) = build_group(e, g, &path, base_dir) {
            out.push(Arc::new(group));
        }
    }
    out
}

fn build_group(
    e: &mut Errors,
    g: &TargetGroupFile,
    path: &str,
    base_dir: &Path,
) -> Option<TargetGroup> {
    let before = e.count();
    let policy = match g.balancing.as_deref().unwrap_or("round_robin") {
        "round_robin" => Policy::RoundRobin,
        "least_outstanding_requests" => Policy::LeastOutstandingRequests,
        "flow_hash" => Policy::FlowHash,
        other => {
            e.push(
                format!("{path}.balancing"),
                format!("unknown policy `{other}`: expected round_robin, least_outstanding_requests or flow_hash"),
            );
            Policy::RoundRobin
        }
    };
    if g.targets.is_empty() {
        e.push(format!("{path}.targets"), "at least one target is required");
    }
    let mut targets = Vec::with_capacity(g.targets.len());
    let mut addrs: ahash::AHashSet<std::net::SocketAddr> = ahash::AHashSet::new();
    for (j, t) in g.targets.iter().enumerate() {
        let tpath = format!("{path}.targets[{j}]");
        let addr = resolve_target(&t.address);
        match addr {
            Ok(addr) => {
                if !addrs.insert(addr) {
                    e.push(
                        format!("{tpath}.address"),
                        format!("duplicate target {addr}"),
                    );
                }
                if !(1..=1000).contains(&t.weight) {
                    e.push(
                        format!("{tpath}.weight"),
                        format!("must be between 1 and 1000, got {}", t.weight),
                    );
                }
                targets.push(Target {
                    addr,
                    weight: t.weight.clamp(1, 1000) as u32,
                });
            }
            Err(reason) => e.push(
                format!("{tpath}.address"),
                format!("`{}`: {reason}", t.address),
            ),
        }
    }
    let ppath = format!("{path}.pool");
    if !(0..=100_000).contains(&g.pool.max_idle) {
        e.push(
            format!("{ppath}.max_idle"),
            format!("must be between 0 and 100000, got {}", g.pool.max_idle),
        );
    }
    if !(0..=1_000_000).contains(&g.pool.max_connections) {
        e.push(
            format!("{ppath}.max_connections"),
            format!(
                "must be between 0 (unlimited) and 1000000, got {}",
                g.pool.max_connections
            ),
        );
    }
    let idle_timeout = e.positive_duration(&format!("{ppath}.idle_timeout"), &g.pool.idle_timeout);
    let pool = PoolSettings {
        max_idle: g.pool.max_idle.max(0) as usize,
        idle_timeout: idle_timeout.unwrap_or_default(),
        max_connections: g.pool.max_connections.max(0) as usize,
    };
    let tls = g.tls.as_ref().and_then(|t| {
        let tpath = format!("{path}.tls");
        let file = base_dir.join(&t.ca_file);
        let config = match super::bounded::read_capped(&file, super::bounded::MAX_FILE_BYTES) {
            Ok(pem) => match crate::transport::tls_io::client_config_from_ca_pem(&pem) {
                Ok(c) => Some(c),
                Err(err) => {
                    e.push(
                        format!("{tpath}.ca_file"),
                        format!("{}: {err}", file.display()),
                    );
                    None
                }
            },
            Err(err) => {
                e.push(
                    format!("{tpath}.ca_file"),
                    format!("{}: {err}", file.display()),
                );
                None
            }
        };
        let server_name = match &t.server_name {
            None => None,
            Some(n) => match rustls::pki_types::ServerName::try_from(n.clone()) {
                Ok(name) => Some(name),
                Err(_) => {
                    e.push(
                        format!("{tpath}.server_name"),
                        format!("`{n}` is not a DNS name or IP address"),
                    );
                    None
                }
            },
        };
        config.map(|config| TargetTls {
            config,
            server_name,
        })
    });
    let proxy_protocol_v2 = match g.proxy_protocol.as_deref().unwrap_or("none") {
        "none" => false,
        "v2" => true,
        other => {
            e.push(
                format!("{path}.proxy_protocol"),
                format!("unknown value `{other}`: expected none or v2"),
            );
            false
        }
    };
    let health_check = g.health_check.as_ref().and_then(|h| {
        let hpath = format!("{path}.health_check");
        if !h.path.starts_with('/') || h.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            e.push(
                format!("{hpath}.path"),
                format!(
                    "`{}` must start with '/' and hold no spaces or controls",
                    h.path
                ),
            );
        }
        let interval = e.positive_duration(&format!("{hpath}.interval"), &h.interval);
        let timeout = e.positive_duration(&format!("{hpath}.timeout"), &h.timeout);
        if let (Some(i), Some(t)) = (interval, timeout) {
            if t > i {
                e.push(
                    format!("{hpath}.timeout"),
                    "must not be longer than interval",
                );
            }
        }
        for (key, v) in [
            ("healthy_threshold", h.healthy_threshold),
            ("unhealthy_threshold", h.unhealthy_threshold),
        ] {
            if !(1..=10).contains(&v) {
                e.push(
                    format!("{hpath}.{key}"),
                    format!("must be between 1 and 10, got {v}"),
                );
            }
        }
        let range = parse_matcher(&h.matcher);
        if range.is_none() {
            e.push(
                format!("{hpath}.matcher"),
                format!(
                    "`{}`: expected a status like 200 or a range like 200-399",
                    h.matcher
                ),
            );
        }
        let (status_min, status_max) = range?;
        Some(HealthCheckSpec {
            path: h.path.clone(),
            interval: interval?,
            timeout: timeout?,
            healthy_threshold: h.healthy_threshold.clamp(1, 10) as u32,
            unhealthy_threshold: h.unhealthy_threshold.clamp(1, 10) as u32,
            status_min,
            status_max,
            host: h.host.clone(),
        })
    });
    let apath = format!("{path}.passive");
    if !(0..=1000).contains(&g.passive.consecutive_failures) {
        e.push(
            format!("{apath}.consecutive_failures"),
            format!(
                "must be between 0 (off) and 1000, got {}",
                g.passive.consecutive_failures
            ),
        );
    }
    let ejection = e.positive_duration(&format!("{apath}.ejection"), &g.passive.ejection);
    let max_ejection =
        e.positive_duration(&format!("{apath}.max_ejection"), &g.passive.max_ejection);
    if let (Some(a), Some(b)) = (ejection, max_ejection) {
        if b < a {
            e.push(
                format!("{apath}.max_ejection"),
                "must not be shorter than ejection",
            );
        }
    }
    if e.count() > before {
        return None;
    }
    Some(TargetGroup {
        name: g.name.clone(),
        policy,
        targets,
        pool,
        tls,
        proxy_protocol_v2,
        health_check,
        passive: PassiveSettings {
            consecutive_failures: g.passive.consecutive_failures.clamp(0, 1000) as u32,
            ejection: ejection.unwrap_or_default(),
            max_ejection: max_ejection.unwrap_or_default(),
        },
    })
}

/// `ip:port`, `[v6]:port` or `name:port` (resolved now: config loading is off the request path).
fn resolve_target(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return if a.port() == 0 {
            Err("port must not be 0".into())
        } else {
            Ok(a)
        };
    }
    let (host, port) = s.rsplit_once(':').ok_or("expected host:port")?;
    let port: u16 = port.parse().map_err(|_| format!("bad port `{port}`"))?;
    if port == 0 || host.is_empty() {
        return Err("expected host:port with a non-zero port".into());
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve `{host}`: {err}"))?
        .next()
        .ok_or_else(|| format!("`{host}` has no address"))
}

/// `200` or `200-399`.
fn parse_matcher(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    ((100..=599).contains(&a) && (a..=599).contains(&b)).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::{from_str, ConfigError};

    /// A valid file with one VPC_LINK route on target group `tg` (given as YAML lines).
    fn file(group: &str, integration_extra: &str) -> String {
        format!(
            "listeners:
  - name: l
    bind: 127.0.0.1:0
apis:
  - id: a
    routes:
      - route: ANY /{{proxy+}}
        integration:
          type: HTTP_PROXY
          uri: http://orders.internal/{{proxy}}
{integration_extra}    stages:
      - name: prod
target_groups:
{group}"
        )
    }

    const VPC: &str = "          connection_type: VPC_LINK\n          target_group: tg\n";

    fn errors(text: &str) -> Vec<ConfigError> {
        match from_str(Path::new("t.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    fn assert_error(text: &str, path: &str, fragment: &str) {
        let list = errors(text);
        assert!(
            list.iter()
                .any(|e| e.path == path && e.reason.contains(fragment)),
            "expected `{path}: ...{fragment}...` in {list:#?}"
        );
    }

    const GOOD: &str = "  - name: tg
    balancing: least_outstanding_requests
    targets:
      - address: 127.0.0.1:9001
      - address: 127.0.0.1:9002
        weight: 3
    pool: {max_idle: 8, idle_timeout: 5s, max_connections: 100}
    proxy_protocol: v2
    health_check: {path: /health, interval: 1s, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: 3, matcher: 200-299}
    passive: {consecutive_failures: 3, ejection: 2s, max_ejection: 20s}
";

    #[test]
    fn a_full_target_group_validates_and_is_referenced() {
        let snap = match from_str(Path::new("t.yaml"), &file(GOOD, VPC)) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let g = &snap.target_groups[0];
        assert_eq!(g.policy, Policy::LeastOutstandingRequests);
        assert_eq!(g.targets[1].weight, 3);
        assert_eq!((g.pool.max_idle, g.pool.max_connections), (8, 100));
        assert!(g.proxy_protocol_v2);
        let hc = g
            .health_check
            .as_ref()
            .map(|h| (h.status_min, h.status_max, h.unhealthy_threshold));
        assert_eq!(hc, Some((200, 299, 3)));
        assert_eq!(g.passive.consecutive_failures, 3);
        let route_group = snap.apis[0].stages["prod"].deployment.router.len();
        assert_eq!(route_group, 1);
    }

    #[test]
    fn integration_references_are_checked() {
        let none = "  - name: other\n    targets: [{address: 127.0.0.1:9001}]\n";
        assert_error(
            &file(none, VPC),
            "apis[0].routes[0].integration.target_group",
            "no target group `tg`",
        );
        let only_group = "          target_group: tg\n";
        assert_error(
            &file(GOOD, only_group),
            "apis[0].routes[0].integration.target_group",
            "needs connection_type: VPC_LINK",
        );
        let no_group = "          connection_type: VPC_LINK\n";
        assert_error(
            &file(GOOD, no_group),
            "apis[0].routes[0].integration.target_group",
            "required",
        );
        let bad_type = "          connection_type: DIRECT\n";
        assert_error(
            &file(GOOD, bad_type),
            "apis[0].routes[0].integration.connection_type",
            "INTERNET or VPC_LINK",
        );
    }

    #[test]
    fn group_validators_name_their_keys() {
        let g = |body: &str| file(&format!("  - name: tg\n{body}"), VPC);
        assert_error(
            &g("    targets: []\n"),
            "target_groups[0].targets",
            "at least one",
        );
        assert_error(
            &g("    targets: [{address: nowhere}]\n"),
            "target_groups[0].targets[0].address",
            "host:port",
        );
        assert_error(
            &g("    targets: [{address: 127.0.0.1:1, weight: 0}]\n"),
            "target_groups[0].targets[0].weight",
            "between 1 and 1000",
        );
        assert_error(
            &g("    targets: [{address: 127.0.0.1:1}, {address: 127.0.0.1:1}]\n"),
            "target_groups[0].targets[1].address",
            "duplicate",
        );
        let t = "    targets: [{address: 127.0.0.1:1}]\n";
        assert_error(
            &g(&format!("{t}    balancing: random\n")),
            "target_groups[0].balancing",
            "unknown policy",
        );
        assert_error(
            &g(&format!("{t}    proxy_protocol: v1\n")),
            "target_groups[0].proxy_protocol",
            "none or v2",
        );
        assert_error(
            &g(&format!("{t}    pool: {{max_idle: -1}}\n")),
            "target_groups[0].pool.max_idle",
            "between 0",
        );
        assert_error(
            &g(&format!("{t}    pool: {{max_connections: -1}}\n")),
            "target_groups[0].pool.max_connections",
            "between 0",
        );
        assert_error(
            &g(&format!("{t}    pool: {{idle_timeout: 0s}}\n")),
            "target_groups[0].pool.idle_timeout",
            "greater than 0",
        );
        assert_error(
            &g(&format!("{t}    tls: {{ca_file: /nonexistent/ca.pem}}\n")),
            "target_groups[0].tls.ca_file",
            "cannot read",
        );
        assert_error(
            &g(&format!("{t}    tls: {{ca_file: /dev/zero}}\n")),
            "target_groups[0].tls.ca_file",
            "not a regular file",
        );
        assert_error(
            &g(&format!("{t}    health_check: {{path: health}}\n")),
            "target_groups[0].health_check.path",
            "start with '/'",
        );
        assert_error(
            &g(&format!(
                "{t}    health_check: {{interval: 1s, timeout: 2s}}\n"
            )),
            "target_groups[0].health_check.timeout",
            "not be longer than interval",
        );
        assert_error(
            &g(&format!("{t}    health_check: {{healthy_threshold: 0}}\n")),
            "target_groups[0].health_check.healthy_threshold",
            "between 1 and 10",
        );
        assert_error(
            &g(&format!("{t}    health_check: {{matcher: ok}}\n")),
            "target_groups[0].health_check.matcher",
            "range",
        );
        assert_error(
            &g(&format!(
                "{t}    passive: {{ejection: 10s, max_ejection: 1s}}\n"
            )),
            "target_groups[0].passive.max_ejection",
            "not be shorter",
        );
        assert_error(
            &g(&format!("{t}    passive: {{consecutive_failures: -2}}\n")),
            "target_groups[0].passive.consecutive_failures",
            "between 0",
        );
        let two = format!("  - name: tg\n{t}  - name: tg\n{t}");
        assert_error(&file(&two, VPC), "target_groups[1].name", "duplicate");
        assert_error(
            &file(&format!("  - name: 'a b'\n{t}"), ""),
            "target_groups[0].name",
            "letters",
        );
    }

    #[test]
    fn mock_integrations_refuse_vpc_link_keys() {
        let text = "listeners:\n  - name: l\n    bind: 127.0.0.1:0\napis:\n  - id: a\n    routes:\n      - route: GET /x\n        integration:\n          type: MOCK\n          target_group: tg\n    stages:\n      - name: prod\n";
        assert_error(
            text,
            "apis[0].routes[0].integration.target_group",
            "not valid for a MOCK",
        );
    }

    #[test]
    fn matcher_and_addresses() {
        assert_eq!(parse_matcher("200"), Some((200, 200)));
        assert_eq!(parse_matcher("200-399"), Some((200, 399)));
        assert_eq!(parse_matcher("399-200"), None);
        assert_eq!(parse_matcher("abc"), None);
        assert_eq!(parse_matcher("700"), None);
        assert!(resolve_target("127.0.0.1:9001").is_ok());
        assert!(resolve_target("[::1]:9001").is_ok());
        assert!(resolve_target("localhost:9001").is_ok());
        assert!(resolve_target("127.0.0.1:0").is_err());
        assert!(resolve_target("127.0.0.1").is_err());
        assert!(resolve_target("127.0.0.1:x").is_err());
    }
}
