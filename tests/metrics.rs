//! `GET /metrics` on the admin listener against the real binary (two workers, so counts are
//! summed over per-worker blocks), a real upstream (`tollgate demo-upstream`) and a dead
//! port. The exposition is parsed back (a small parser below, checking the 0.0.4 text
//! format's shape: `# HELP`/`# TYPE` once per family before its samples, `name{labels}
//! value` lines) and its counts compared with what the clients saw:
//!
//! - Count, 4XXError, 5XXError by api and stage for a known request mix (2xx, a route miss,
//!   a missing API key, an upstream 503, a dead upstream, requests matching no stage);
//! - Latency and IntegrationLatency histograms: `_count` equals the requests (those that
//!   reached the integration), cumulative buckets, `+Inf` = `_count`, `_sum` > 0;
//! - CacheHitCount / CacheMissCount on a cached stage, equal to the `x-cache` header;
//! - 429s by throttle level (stage per-method, stage);
//! - per-route series only on the stage with `detailed_metrics: true`;
//! - labels after a reload: a kept stage keeps counting, a removed one disappears, a new
//!   one appears;
//! - target health (a live and a dead target) and the per-worker gauges;
//! - TLS handshakes and failures by custom domain (`""` before a domain is chosen).

mod common;
mod pki;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use common::*;

// ------------------------------------------------------------------ the exposition

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse the text format; panics (naming the line) on anything malformed, on a sample whose
/// family has no `# TYPE` before it, and on a family declared twice.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeMap<String, ()> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "bad type {line:?}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "family {name} declared twice"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(
                helps.insert(name.to_string(), ()).is_none(),
                "HELP twice for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, after) = parse_labels(&line[open + 1..], line);
                (&line[..open], labels, after)
            }
            None => {
                let (name, rest) = line.split_once(' ').expect("name value");
                (name, BTreeMap::new(), rest)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let value: f64 = rest
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample {line:?} before its # TYPE"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// Labels after `{` up to `}`: returns them and the rest of the line.
fn parse_labels<'a>(s: &'a str, line: &str) -> (BTreeMap<String, String>, &'a str) {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let eq = rest
            .find("=\"")
            .unwrap_or_else(|| panic!("bad labels in {line:?}"));
        let key = rest[..eq].trim_start_matches(',').to_string();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break eq + 2 + i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape in {line:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.insert(key, value);
        rest = &rest[end..];
    }
}

struct Scrape(Vec<Sample>);

impl Scrape {
    /// The value of the one sample `name` with exactly `labels`.
    #[track_caller]
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or_else(|| {
            panic!(
                "no sample {name}{labels:?}; samples of {name}: {:?}",
                self.0
                    .iter()
                    .filter(|s| s.name == name)
                    .map(|s| (&s.labels, s.value))
                    .collect::<Vec<_>>()
            )
        })
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Every sample of `name`.
    fn all(&self, name: &str) -> Vec<&Sample> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    /// The sum over samples of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Check a histogram's shape for `labels` and return (`_count`, `_sum`).
    #[track_caller]
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
        let count = self.get(&format!("{name}_count"), labels);
        let sum = self.get(&format!("{name}_sum"), labels);
        let mut buckets: Vec<(f64, f64)> = self
            .all(&format!("{name}_bucket"))
            .into_iter()
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                    && s.labels.len() == labels.len() + 1
            })
            .map(|s| {
                let le = &s.labels["le"];
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                (bound, s.value)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(buckets.len(), 15, "{name}{labels:?}: 14 bounds and +Inf");
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}{labels:?}: buckets not cumulative: {buckets:?}"
        );
        assert_eq!(buckets.last().map(|b| b.1), Some(count), "+Inf != _count");
        (count, sum)
    }
}

/// GET /metrics on the admin listener: checks the status and content type, parses.
fn scrape(admin: u16) -> Scrape {
    let r = Client::connect(admin).request(&get("/metrics"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Scrape(parse(&r.body_str()))
}

/// A scrape once every worker has registered its block (a worker's series appear when it
/// has started, moments after `ready`) and no request is in flight on any worker: a
/// request is counted after its response is written, and before it stops counting as in
/// flight (`observe::metrics`, "Quiescence"), so this scrape counts every request whose
/// response a client has read.
#[track_caller]
fn settled(gw: &Gateway) -> Scrape {
    let admin = gw.port_of("admin");
    let quiet = wait_until(Duration::from_secs(10), || {
        let s = scrape(admin);
        s.all("tollgate_in_flight_requests").len() == gw.workers
            && s.sum("tollgate_in_flight_requests", &[]) == 0.0
    });
    assert!(quiet, "workers not started or requests still in flight");
    scrape(admin)
}

// ------------------------------------------------------------------ configuration

fn config(upstream: &str, dead: u16) -> String {
    format!(
        r#"admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: demo
api_keys:
  - {{id: k1, value: key-0123456789abcdef}}
apis:
  - id: demo
    type: REST
    routes:
      - route: GET /ok
        integration: {{type: HTTP_PROXY, uri: "http://{upstream}/ok"}}
      - route: GET /down
        integration: {{type: HTTP_PROXY, uri: "http://127.0.0.1:{dead}/down", timeout: 2s}}
      - route: GET /keyed
        api_key_required: true
        integration: {{type: MOCK, body: keyed}}
      - route: GET /limited
        integration: {{type: MOCK, body: limited}}
    stages:
      - name: prod
        detailed_metrics: true
        method_throttle:
          - {{route: GET /limited, rate: 0, burst: 1}}
      - name: cached
        cache:
          cluster_size: 0.01
          status_header: {{name: x-cache, hit: Hit, miss: Miss}}
      - name: tight
        throttle: {{rate: 0, burst: 1}}
"#
    )
}

/// `n` requests on one keep-alive connection; the statuses.
fn statuses(port: u16, request: &[u8], n: usize) -> Vec<u16> {
    let mut c = Client::connect(port);
    (0..n).map(|_| c.request(request).status).collect()
}

fn count(statuses: &[u16], f: impl Fn(u16) -> bool) -> f64 {
    statuses.iter().filter(|s| f(**s)).count() as f64
}

#[track_caller]
fn wait_reloaded(gw: &Gateway, times: usize) {
    let ok = wait_until(Duration::from_secs(10), || {
        gw.stderr()
            .matches("reloaded configuration in force")
            .count()
            >= times * gw.workers
    });
    assert!(ok, "no reload seen:\n{}", gw.stderr());
}

// ------------------------------------------------------------------ tests

#[test]
fn counts_equal_a_known_request_mix() {
    let up = DemoUpstream::start();
    let gw = Gateway::start_with_workers(&config(&up.addr(), dead_port()), 2);
    let admin = gw.port_of("admin");

    // Before any request: the stages are there with zeros, nothing unrouted.
    let s = settled(&gw);
    let prod = [("api", "demo"), ("stage", "prod")];
    assert_eq!(s.get("tollgate_requests_total", &prod), 0.0);
    assert!(s
        .find("tollgate_requests_total", &[("api", ""), ("stage", "")])
        .is_none());

    // prod: 2xx, an upstream 5xx, a dead upstream, a route miss, a missing key, throttled.
    let mut prod_status = Vec::new();
    for _ in 0..3 {
        prod_status.push(gw.send(&get("/prod/ok")).status);
    }
    let ok_2xx = count(&prod_status, |s| s == 200);
    assert_eq!(ok_2xx, 3.0, "{prod_status:?}");
    let r = gw.send(&req("GET", "/prod/ok", &[("x-echo-status", "503")], b""));
    assert_eq!(r.status, 503);
    prod_status.push(r.status);
    for _ in 0..2 {
        let r = gw.send(&get("/prod/down"));
        assert!(r.status == 502 || r.status == 504, "{}", r.describe());
        prod_status.push(r.status);
    }
    let r = gw.send(&get("/prod/nope"));
    assert_eq!(
        r.status, 403,
        "REST route miss: Missing Authentication Token"
    );
    prod_status.push(r.status);
    let r = gw.send(&get("/prod/keyed"));
    assert_eq!(r.status, 403, "missing API key");
    prod_status.push(r.status);
    let limited = statuses(gw.port, &get("/prod/limited"), 4);
    let limited_429 = count(&limited, |s| s == 429);
    assert!(limited_429 >= 3.0, "burst 1, rate 0: {limited:?}");
    prod_status.extend(&limited);

    // tight: the stage throttle.
    let tight = statuses(gw.port, &get("/tight/limited"), 4);
    let tight_429 = count(&tight, |s| s == 429);
    assert!(tight_429 >= 3.0, "{tight:?}");

    // cached: one miss, then hits (the x-cache header says which).
    let mut c = Client::connect(gw.port);
    let (mut hits, mut misses) = (0.0, 0.0);
    for _ in 0..3 {
        let r = c.request(&get("/cached/ok"));
        assert_eq!(r.status, 200);
        match r.header("x-cache") {
            Some("Hit") => hits += 1.0,
            Some("Miss") => misses += 1.0,
            other => panic!("x-cache {other:?}"),
        }
    }
    drop(c);
    assert!(hits >= 1.0 && misses >= 1.0, "hits {hits}, misses {misses}");

    // No stage: counted under empty labels.
    let r = gw.send(&get("/nostage/ok"));
    assert!(r.status >= 400, "{}", r.describe());

    let s = settled(&gw);
    let n = prod_status.len() as f64;
    assert_eq!(s.get("tollgate_requests_total", &prod), n);
    assert_eq!(
        s.get("tollgate_4xx_errors_total", &prod),
        count(&prod_status, |s| (400..500).contains(&s))
    );
    assert_eq!(s.get("tollgate_5xx_errors_total", &prod), 3.0);
    let (latency_count, latency_sum) = s.histogram("tollgate_latency_seconds", &prod);
    assert_eq!(latency_count, n);
    assert!(latency_sum > 0.0);
    // Integration latency: the responses from the upstream (3 x 200, the 503).
    let (ic, isum) = s.histogram("tollgate_integration_latency_seconds", &prod);
    assert_eq!(ic, 4.0);
    assert!(isum > 0.0);
    let level = |stage: &'static str, level: &'static str| {
        s.get(
            "tollgate_throttled_requests_total",
            &[("api", "demo"), ("stage", stage), ("level", level)],
        )
    };
    assert_eq!(level("prod", "stage-method"), limited_429);
    assert_eq!(level("prod", "stage"), 0.0);
    assert_eq!(level("tight", "stage"), tight_429);
    assert_eq!(level("tight", "stage-method"), 0.0);
    assert_eq!(s.get("tollgate_quota_exceeded_total", &prod), 0.0);
    assert_eq!(s.get("tollgate_cache_hits_total", &prod), 0.0);

    let cached = [("api", "demo"), ("stage", "cached")];
    assert_eq!(s.get("tollgate_requests_total", &cached), 3.0);
    assert_eq!(s.get("tollgate_cache_hits_total", &cached), hits);
    assert_eq!(s.get("tollgate_cache_misses_total", &cached), misses);
    assert_eq!(
        s.histogram("tollgate_integration_latency_seconds", &cached)
            .0,
        misses
    );
    let tight_labels = [("api", "demo"), ("stage", "tight")];
    assert_eq!(s.get("tollgate_requests_total", &tight_labels), 4.0);
    assert_eq!(s.get("tollgate_4xx_errors_total", &tight_labels), tight_429);
    assert_eq!(
        s.get("tollgate_requests_total", &[("api", ""), ("stage", "")]),
        1.0
    );

    // Per route: prod only (detailed_metrics), every route key listed, misses in none.
    let route = |key: &'static str| [("api", "demo"), ("stage", "prod"), ("route", key)];
    assert_eq!(
        s.get("tollgate_route_requests_total", &route("GET /ok")),
        4.0
    );
    assert_eq!(
        s.get("tollgate_route_5xx_errors_total", &route("GET /ok")),
        1.0
    );
    assert_eq!(
        s.get("tollgate_route_requests_total", &route("GET /down")),
        2.0
    );
    assert_eq!(
        s.get("tollgate_route_5xx_errors_total", &route("GET /down")),
        2.0
    );
    assert_eq!(
        s.get("tollgate_route_requests_total", &route("GET /keyed")),
        1.0
    );
    assert_eq!(
        s.get("tollgate_route_4xx_errors_total", &route("GET /keyed")),
        1.0
    );
    assert_eq!(
        s.get(
            "tollgate_route_throttled_requests_total",
            &[
                ("api", "demo"),
                ("stage", "prod"),
                ("route", "GET /limited"),
                ("level", "stage-method")
            ]
        ),
        limited_429
    );
    assert_eq!(
        s.histogram("tollgate_route_latency_seconds", &route("GET /ok"))
            .0,
        4.0
    );
    // The route miss counts on the stage, in no route.
    assert_eq!(s.sum("tollgate_route_requests_total", &[]), n - 1.0);
    assert!(s
        .all("tollgate_route_requests_total")
        .iter()
        .all(|x| x.labels["stage"] == "prod"));

    // Per-worker gauges: both workers listed; nothing in flight while we scrape; the
    // upstream pool kept the keep-alive connections.
    for name in [
        "tollgate_open_connections",
        "tollgate_in_flight_requests",
        "tollgate_upstream_idle_connections",
    ] {
        let workers: Vec<&str> = s
            .all(name)
            .iter()
            .map(|x| x.labels["worker"].as_str())
            .collect();
        assert_eq!(workers, vec!["0", "1"], "{name}");
    }
    assert_eq!(s.sum("tollgate_in_flight_requests", &[]), 0.0);
    assert!(s.sum("tollgate_upstream_idle_connections", &[]) >= 1.0);
    // An open client connection is counted (on whichever worker took it).
    let mut held = Client::connect(gw.port);
    assert_eq!(held.request(&get("/prod/limited")).status, 429);
    let opened = wait_until(Duration::from_secs(5), || {
        scrape(admin).sum("tollgate_open_connections", &[]) >= 1.0
    });
    assert!(opened, "the held connection is not counted");
    drop(held);
    let closed = wait_until(Duration::from_secs(5), || {
        scrape(admin).sum("tollgate_open_connections", &[]) == 0.0
    });
    assert!(closed, "a closed connection is still counted");
    assert_eq!(
        settled(&gw).get("tollgate_access_log_lines_dropped_total", &[]),
        0.0
    );
}

#[test]
fn labels_continue_across_a_reload() {
    let up = DemoUpstream::start();
    let yaml = config(&up.addr(), dead_port());
    let gw = Gateway::start_with_workers(&yaml, 2);
    for _ in 0..3 {
        assert_eq!(gw.send(&get("/prod/ok")).status, 200);
    }
    assert_eq!(gw.send(&get("/tight/limited")).status, 200);
    let prod = [("api", "demo"), ("stage", "prod")];
    assert_eq!(settled(&gw).get("tollgate_requests_total", &prod), 3.0);

    // Reload: `tight` removed, `beta` added, prod's routes and settings unchanged but its
    // stage id moves (a stage before it).
    let changed = yaml.replace(
        "    stages:\n      - name: prod\n",
        "    stages:\n      - name: beta\n      - name: prod\n",
    );
    let changed = changed.replace(
        "      - name: tight\n        throttle: {rate: 0, burst: 1}\n",
        "",
    );
    assert!(changed.contains("name: beta") && !changed.contains("tight"));
    std::fs::write(gw.config.path(), &changed).expect("rewrite config");
    gw.proc.signal(libc::SIGHUP);
    wait_reloaded(&gw, 1);

    let s = settled(&gw);
    assert_eq!(
        s.get("tollgate_requests_total", &prod),
        3.0,
        "prod continues"
    );
    assert_eq!(
        s.get(
            "tollgate_route_requests_total",
            &[("api", "demo"), ("stage", "prod"), ("route", "GET /ok")]
        ),
        3.0
    );
    assert_eq!(s.histogram("tollgate_latency_seconds", &prod).0, 3.0);
    assert!(s
        .find(
            "tollgate_requests_total",
            &[("api", "demo"), ("stage", "tight")]
        )
        .is_none());
    assert_eq!(
        s.get(
            "tollgate_requests_total",
            &[("api", "demo"), ("stage", "beta")]
        ),
        0.0
    );

    for _ in 0..2 {
        assert_eq!(gw.send(&get("/prod/ok")).status, 200);
    }
    assert_eq!(gw.send(&get("/beta/ok")).status, 200);
    let s = settled(&gw);
    assert_eq!(s.get("tollgate_requests_total", &prod), 5.0);
    assert_eq!(s.histogram("tollgate_latency_seconds", &prod).0, 5.0);
    assert_eq!(
        s.get(
            "tollgate_requests_total",
            &[("api", "demo"), ("stage", "beta")]
        ),
        1.0
    );
    // beta has no detailed metrics.
    assert!(s
        .all("tollgate_route_requests_total")
        .iter()
        .all(|x| x.labels["stage"] == "prod"));
}

#[test]
fn target_health_is_a_gauge_per_target() {
    let up = DemoUpstream::start();
    let dead = dead_port();
    let yaml = format!(
        r#"admin:
  bind: 127.0.0.1:0
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: tg
apis:
  - id: tg
    routes:
      - route: ANY /pool/{{proxy+}}
        integration:
          type: HTTP_PROXY
          connection_type: VPC_LINK
          target_group: pool
          uri: http://pool.internal/{{proxy}}
    stages:
      - name: prod
target_groups:
  - name: pool
    targets:
      - address: "{live}"
      - address: "127.0.0.1:{dead}"
    health_check: {{path: /health, interval: 1s, timeout: 200ms, healthy_threshold: 1, unhealthy_threshold: 1, matcher: 200-299}}
"#,
        live = up.addr()
    );
    let gw = Gateway::start(&yaml);
    let admin = gw.port_of("admin");
    settled(&gw);
    let dead_addr = format!("127.0.0.1:{dead}");
    let down = wait_until(Duration::from_secs(10), || {
        scrape(admin).find(
            "tollgate_target_healthy",
            &[("target_group", "pool"), ("target", &dead_addr)],
        ) == Some(0.0)
    });
    assert!(
        down,
        "the dead target is not reported down:\n{}",
        gw.stderr()
    );
    let s = scrape(admin);
    assert_eq!(
        s.get(
            "tollgate_target_healthy",
            &[("target_group", "pool"), ("target", &up.addr())]
        ),
        1.0
    );
    assert_eq!(s.all("tollgate_target_healthy").len(), 2);
}

#[test]
fn tls_handshakes_and_failures_by_domain() {
    let certs = pki::gen_certs("metrics-tls");
    let other = pki::gen_certs("metrics-tls-other");
    let yaml = format!(
        "admin:
  bind: 127.0.0.1:0
listeners:
  - name: tls
    bind: 127.0.0.1:0
    tls: {{}}
custom_domains:
  - name: api.localhost
    certificate: '{}'
    key: '{}'
    base_path_mappings:
      - {{base_path: '(none)', api: site, stage: prod}}
apis:
  - id: site
    routes:
      - {{route: GET /x, integration: {{type: MOCK, body: x}}}}
    stages:
      - name: prod
",
        certs.p("server.pem"),
        certs.p("server.key")
    );
    let gw = Gateway::start(&yaml);
    let (tls, admin) = (gw.port_of("tls"), gw.port_of("admin"));
    settled(&gw);
    let name = || rustls::pki_types::ServerName::try_from("api.localhost").expect("name");
    let timeout = Duration::from_secs(5);

    // Two handshakes that succeed.
    let trusting = pki::client_config(
        &[certs.path("ca.pem")],
        None,
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    );
    for _ in 0..2 {
        let sock = pki::tcp_connect(tls, timeout);
        pki::tls_handshake(sock, &trusting, name(), timeout).expect("handshake");
    }
    // One for the domain that the client gives up on (it does not trust the certificate).
    let distrusting = pki::client_config(
        &[other.path("ca.pem")],
        None,
        &[&rustls::version::TLS13],
        &[b"http/1.1"],
    );
    let sock = pki::tcp_connect(tls, timeout);
    assert!(pki::tls_handshake(sock, &distrusting, name(), timeout).is_err());
    // Two that fail before a domain is chosen: an unknown name (no default domain), and
    // bytes that are no ClientHello.
    let sock = pki::tcp_connect(tls, timeout);
    let unknown = rustls::pki_types::ServerName::try_from("nobody.example").expect("name");
    assert!(pki::tls_handshake(sock, &trusting, unknown, timeout).is_err());
    let mut sock = pki::tcp_connect(tls, timeout);
    sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let _ = std::io::Read::read(&mut sock, &mut [0u8; 64]);

    let domain = [("domain", "api.localhost")];
    let none = [("domain", "")];
    let counted = wait_until(Duration::from_secs(5), || {
        let s = scrape(admin);
        s.find("tollgate_tls_handshake_failures_total", &domain) == Some(1.0)
            && s.find("tollgate_tls_handshake_failures_total", &none) == Some(2.0)
            && s.find("tollgate_tls_handshakes_total", &domain) == Some(2.0)
    });
    let s = scrape(admin);
    assert!(
        counted,
        "failures: {:?}",
        s.all("tollgate_tls_handshake_failures_total")
    );
    assert_eq!(s.get("tollgate_tls_handshakes_total", &domain), 2.0);
    assert_eq!(s.get("tollgate_tls_handshakes_total", &none), 0.0);
}

/// HTTP/2 streams are counted like HTTP/1.1 requests (they run through the same pipeline).
#[test]
fn http2_streams_are_counted() {
    let yaml = "admin:
  bind: 127.0.0.1:0
listeners:
  - name: h2c
    bind: 127.0.0.1:0
    default_api: demo
    h2c: true
apis:
  - id: demo
    routes:
      - {route: GET /x, integration: {type: MOCK, body: x}}
    stages:
      - name: prod
        detailed_metrics: true
";
    let gw = Gateway::start(yaml);
    let ok = format!("http://127.0.0.1:{}/prod/x", gw.port);
    let miss = format!("http://127.0.0.1:{}/prod/nope", gw.port);
    // Three requests over HTTP/2, one of them a route miss. One curl per request: curl
    // 7.88 fails ("Error in the HTTP2 framing layer") when it reuses a prior-knowledge
    // connection for a second URL.
    let mut seen = String::new();
    for url in [&ok, &ok, &miss] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
            .args([
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}\\n",
                url,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs `curl` on PATH (`make test-deps` installs it): {e}")
            });
        seen.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(seen, "2 200\n2 200\n2 403\n");
    let s = settled(&gw);
    let prod = [("api", "demo"), ("stage", "prod")];
    assert_eq!(s.get("tollgate_requests_total", &prod), 3.0);
    assert_eq!(s.get("tollgate_4xx_errors_total", &prod), 1.0);
    assert_eq!(s.histogram("tollgate_latency_seconds", &prod).0, 3.0);
    assert_eq!(
        s.get(
            "tollgate_route_requests_total",
            &[("api", "demo"), ("stage", "prod"), ("route", "GET /x")]
        ),
        2.0
    );
}
