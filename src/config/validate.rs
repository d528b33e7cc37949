//! File model -> immutable `Snapshot`, collecting every error with its key path.
//!
//! CONTRACT (implemented by the config work):
//! - `load(path)` reads the file and calls `from_str`.
//! - `from_str(source, text)`: parse errors and validation errors alike come back as
//!   `ConfigErrors`, each naming the file, the key path (`apis[0].stages[1].deployment`)
//!   and the reason; validation reports ALL errors, not the first.
//!
//! A YAML/JSON syntax or shape error (unknown key, wrong type) stops before validation and is
//! reported alone, with the key path serde_yaml_ng knows and the line and column. Once the file
//! has the right shape, every check runs and every failure is reported.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use super::file::{
    ApiFile, ApiTypeFile, ConfigFile, DurationText, IntegrationFile, IntegrationType, LimitsFile,
    ListenerFile, RouteFile, ServerFile, StageFile, StringMap, CURRENT_DEPLOYMENT,
    DEFAULT_INTEGRATION_TIMEOUT, MIN_INTEGRATION_TIMEOUT,
};
use super::snapshot::{
    Api, ApiType, Deployment, HttpLimits, HttpProxyIntegration, Integration, ListenerSpec,
    ListenerTls, MockIntegration, RateLimit, RateLimitId, Route, ServerSettings, Stage,
    DEFAULT_STAGE,
};
use super::{bounded, Snapshot};
use crate::http::head::{is_hop_by_hop, Method};
use crate::routing::resource::{RouteMethod, Router};
use crate::upstream::uri::UriTemplate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Key path, e.g. `apis[0].routes[2].integration.uri` (empty for whole-file errors).
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = clip_quoted(&self.reason);
        if self.path.is_empty() {
            write!(f, "{}: {reason}", self.file.display())
        } else {
            write!(
                f,
                "{}: {}: {reason}",
                self.file.display(),
                clip_path(&self.path)
            )
        }
    }
}

/// Longest quoted value (or key path segment) shown in an error, in characters.
pub const MAX_QUOTED_CHARS: usize = 80;
/// Most errors printed for one file; the rest are counted.
pub const MAX_ERRORS_SHOWN: usize = 100;

/// `reason` with every span quoted in backticks or double quotes cut to
/// [`MAX_QUOTED_CHARS`] characters and an ellipsis (`…`), so a huge bad value is not
/// printed whole. An unclosed quote runs to the end of the text.
pub fn clip_quoted(reason: &str) -> std::borrow::Cow<'_, str> {
    if reason.len() <= MAX_QUOTED_CHARS {
        return reason.into();
    }
    let mut out = String::with_capacity(reason.len().min(1024));
    let mut rest = reason;
    let mut changed = false;
    while let Some(open) = rest.find(['`', '"']) {
        let q = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let (inner, tail) = match after.find(q) {
            Some(close) => (&after[..close], &after[close..]),
            None => (after, ""),
        };
        if inner.chars().nth(MAX_QUOTED_CHARS).is_some() {
            out.extend(inner.chars().take(MAX_QUOTED_CHARS));
            out.push('…');
            changed = true;
        } else {
            out.push_str(inner);
        }
        match tail.chars().next() {
            Some(c) => {
                out.push(c);
                rest = &tail[c.len_utf8()..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    if changed {
        out.into()
    } else {
        reason.into()
    }
}

/// A key path with every segment longer than [`MAX_QUOTED_CHARS`] cut (map keys come from
/// the file).
pub fn clip_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.len() <= MAX_QUOTED_CHARS {
        return path.into();
    }
    path.split('.')
        .map(|seg| {
            if seg.chars().nth(MAX_QUOTED_CHARS).is_some() {
                let mut s: String = seg.chars().take(MAX_QUOTED_CHARS).collect();
                s.push('…');
                s
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
        .into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().take(MAX_ERRORS_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() > MAX_ERRORS_SHOWN {
            write!(
                f,
                "\n({} more error(s) not shown)",
                self.0.len() - MAX_ERRORS_SHOWN
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Read and validate a configuration file. Only a regular file of at most
/// [`bounded::MAX_FILE_BYTES`] is read (see [`bounded::read_capped`]).
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    let whole_file = |reason: String| {
        Err(ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            path: String::new(),
            reason,
        }]))
    };
    let bytes = match bounded::read_capped(path, bounded::MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(reason) => return whole_file(reason),
    };
    match String::from_utf8(bytes) {
        Ok(text) => from_str(path, &text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            whole_file(format!(
                "cannot read the file: it is not UTF-8 text (invalid byte at offset {at})"
            ))
        }
    }
}

pub fn from_str(source: &Path, text: &str) -> Result<Snapshot, ConfigErrors> {
    if is_blank_yaml(text) {
        return Err(ConfigErrors(vec![ConfigError {
            file: source.to_path_buf(),
            path: String::new(),
            reason: "the file is empty; it needs at least `listeners` and `apis`".to_string(),
        }]));
    }
    // Bound what parsing may cost before serde_yaml_ng expands anything.
    if let Err(r) = bounded::check_yaml(text) {
        return Err(ConfigErrors(vec![ConfigError {
            file: source.to_path_buf(),
            path: r.path,
            reason: r.reason,
        }]));
    }
    let file: ConfigFile = match serde_yaml_ng::from_str(text) {
        Ok(f) => f,
        Err(e) => return Err(ConfigErrors(vec![parse_error(source, &e)])),
    };
    build(source, &file)
}

/// Validate an already parsed file model (for callers that build one themselves, e.g. an
/// OpenAPI import) into a snapshot, or every problem found.
pub fn build(source: &Path, file: &ConfigFile) -> Result<Snapshot, ConfigErrors> {
    let mut e = Errors {
        file: source.to_path_buf(),
        list: Vec::new(),
        target_groups: AHashMap::new(),
        rate_limits: Vec::new(),
        stages: 0,
        api_key_ids: AHashMap::new(),
    };
    for (i, k) in file.api_keys.iter().enumerate() {
        e.api_key_ids.entry(k.id.clone()).or_insert(i);
    }
    let mut server = build_server(&mut e, &file.server);
    let t = &file.server.account_throttle;
    if e.rate_limit("server.account_throttle", "account".into(), t.rate, t.burst)
        .is_none()
    {
        // Keep ACCOUNT_LIMIT = 0 valid even when the file's value was refused.
        e.rate_limits.push(RateLimit {
            name: "account".into(),
            rate: 10000.0,
            burst: 5000.0,
        });
    }
    let limits = build_limits(&mut e, &file.limits);

    // Target groups before APIs, so integrations can name them. Relative files (CA bundles)
    // are relative to the configuration file's directory.
    let base_dir = source.parent().unwrap_or(Path::new("."));
    let target_groups =
        super::target_group::build_target_groups(&mut e, &file.target_groups, base_dir);
    for (i, g) in file.target_groups.iter().enumerate() {
        e.target_groups.entry(g.name.clone()).or_insert(i);
    }

    // API ids first (first occurrence wins), so listeners can refer to them.
    let mut apis_by_id: AHashMap<String, usize> = AHashMap::new();
    for (i, api) in file.apis.iter().enumerate() {
        apis_by_id.entry(api.id.clone()).or_insert(i);
    }

    let mut domains_by_name: AHashMap<String, usize> = AHashMap::new();
    for (i, d) in file.custom_domains.iter().enumerate() {
        domains_by_name
            .entry(d.name.to_ascii_lowercase())
            .or_insert(i);
    }
    let listeners = build_listeners(&mut e, &file.listeners, &apis_by_id, &domains_by_name);

    if file.apis.is_empty() {
        e.push("apis", "at least one API is required");
    }
    let mut apis = Vec::with_capacity(file.apis.len());
    for (i, api) in file.apis.iter().enumerate() {
        let path = format!("apis[{i}]");
        if let Some(&first) = apis_by_id.get(&api.id) {
            if first != i {
                e.push(
                    format!("{path}.id"),
                    format!(
                        "duplicate API id `{}` (first defined at apis[{first}])",
                        api.id
                    ),
                );
            }
        }
        apis.push(Arc::new(build_api(&mut e, api, &path)));
    }

    let domains = super::custom_domain::build_domains(
        &mut e,
        &file.custom_domains,
        base_dir,
        &apis_by_id,
        &apis,
        &server.execute_api_suffix,
    );
    server.state_file = base_dir.join(&server.state_file);
    let keys = super::usage_plan::build_api_keys(&mut e, &file.api_keys);
    let plans =
        super::usage_plan::build_usage_plans(&mut e, &file.usage_plans, &apis_by_id, &apis, &keys);

    let admin = file.admin.as_ref().and_then(|a| match a.bind.parse() {
        Ok(addr) if listeners.iter().any(|l| l.name == "admin") => {
            e.push(
                "admin.bind",
                format!(
                    "a listener is named `admin`, the admin listener's name; rename it to use {addr}"
                ),
            );
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            e.push(
                "admin.bind",
                format!("`{}` is not an address such as 127.0.0.1:9901", a.bind),
            );
            None
        }
    });

    if !e.list.is_empty() {
        return Err(ConfigErrors(e.list));
    }
    let stage_caches = crate::cache::stage::for_stages(&apis, e.stages);
    let forwarded_cert_headers = super::custom_domain::forwarded_cert_headers(&domains);
    Ok(Snapshot {
        forwarded_cert_headers,
        stage_caches,
        admin,
        source: source.to_path_buf(),
        server,
        limits,
        listeners,
        apis,
        apis_by_id,
        target_groups,
        domain_index: super::snapshot::DomainIndex::new(&domains),
        domains,
        rate_limits: std::mem::take(&mut e.rate_limits),
        api_keys: keys.keys,
        api_keys_by_value: keys.by_value,
        plan_bindings: plans.bindings,
        quotas: plans.quotas,
    })
}

/// Collects errors for one file (and carries the names other objects may refer to).
pub(super) struct Errors {
    file: PathBuf,
    list: Vec<ConfigError>,
    /// Target group name -> index in `Snapshot::target_groups`.
    target_groups: AHashMap<String, usize>,
    /// Every rate limit seen so far (the account-level one first).
    pub(super) rate_limits: Vec<RateLimit>,
    /// Stages built so far (each gets the next id).
    pub(super) stages: usize,
    /// API key id -> index in `api_keys` (first occurrence), for references from stages.
    pub(super) api_key_ids: AHashMap<String, usize>,
}

impl Errors {
    pub(super) fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        // Clip values quoted from the file now, so that a huge bad value is not kept (or
        // printed) once per error.
        let (path, reason) = (path.into(), reason.into());
        self.list.push(ConfigError {
            file: self.file.clone(),
            path: clip_path(&path).into_owned(),
            reason: clip_quoted(&reason).into_owned(),
        });
    }

    /// Register a token bucket found at `path`; `None` (and an error) when it is invalid.
    pub(super) fn rate_limit(
        &mut self,
        path: &str,
        name: String,
        rate: f64,
        burst: f64,
    ) -> Option<RateLimitId> {
        let mut ok = true;
        if !rate.is_finite() || rate < 0.0 {
            self.push(
                format!("{path}.rate"),
                format!("must be a number >= 0 (requests per second), got {rate}"),
            );
            ok = false;
        }
        if !burst.is_finite() || burst < 0.0 {
            self.push(
                format!("{path}.burst"),
                format!("must be a number >= 0 (requests), got {burst}"),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        self.rate_limits.push(RateLimit { name, rate, burst });
        Some(self.rate_limits.len() - 1)
    }

    pub(super) fn count(&self) -> usize {
        self.list.len()
    }

    /// Parse a duration, reporting a bad one at `path`. `None` when it was refused.
    fn duration(&mut self, path: &str, text: &DurationText) -> Option<Duration> {
        match text.parse() {
            Ok(d) => Some(d),
            Err(reason) => {
                self.push(path, reason);
                None
            }
        }
    }

    /// A duration that must be greater than zero.
    pub(super) fn positive_duration(
        &mut self,
        path: &str,
        text: &DurationText,
    ) -> Option<Duration> {
        let d = self.duration(path, text)?;
        if d.is_zero() {
            self.push(path, "must be greater than 0");
            return None;
        }
        Some(d)
    }
}

// ---------------------------------------------------------------- parse errors

/// Only whitespace and comments: serde would say "EOF while parsing a value".
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

/// Turn a serde_yaml_ng error into one `ConfigError`: the key path it names (if any) becomes
/// the path; line and column go into the reason.
fn parse_error(source: &Path, err: &serde_yaml_ng::Error) -> ConfigError {
    let full = err.to_string();
    let loc = err.location().map(|l| (l.line(), l.column()));
    let mut msg: &str = &full;
    if let Some((line, col)) = loc {
        if let Some(s) = msg.strip_suffix(&format!(" at line {line} column {col}")) {
            msg = s;
        }
    }
    let (mut path, msg) = split_key_path(msg);
    // `unknown field `x`` / `missing field `x``: the key itself is the most exact path.
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((name, _)) = rest.split_once('`') {
                path = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
            }
        }
    }
    let mut reason = msg.to_string();
    if let Some((line, col)) = loc {
        if !reason.contains(&format!("line {line} column {col}")) {
            reason.push_str(&format!(" (line {line}, column {col})"));
        }
    }
    ConfigError {
        file: source.to_path_buf(),
        path: clip_path(&path).into_owned(),
        reason: clip_quoted(&reason).into_owned(),
    }
}

/// serde_yaml_ng prefixes messages with the path of the value, e.g.
/// `apis[0].routes[0]: unknown field ...`. Split it off when it looks like a key path.
fn split_key_path(msg: &str) -> (String, &str) {
    if let Some((p, rest)) = msg.split_once(": ") {
        let looks_like_path = !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-$.[]?".contains(c));
        if looks_like_path {
            return (p.to_string(), rest);
        }
    }
    (String::new(), msg)
}

// ---------------------------------------------------------------- server, limits, listeners

fn build_server(e: &mut Errors, f: &ServerFile) -> ServerSettings {
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
    ServerSettings {
        workers,
        execute_api_suffix: suffix,
        drain_timeout,
        reconcile_interval,
        // Made relative to the configuration file's directory by `build`.
        state_file: PathBuf::from(&f.state_file),
        state_flush_interval,
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
fn check_host_name(s: &str) -> Result<(), String> {
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

fn build_limits(e: &mut Errors, f: &LimitsFile) -> HttpLimits {
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

fn build_listeners(
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
        if let Some(bind) = bind {
            out.push(ListenerSpec {
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

// ---------------------------------------------------------------- APIs, deployments, stages

fn build_api(e: &mut Errors, f: &ApiFile, path: &str) -> Api {
    if f.id.is_empty()
        || !f
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        e.push(
            format!("{path}.id"),
            format!(
                "`{}` is not a valid API id: use lowercase letters, digits and `-` \
                 (it becomes the host name `{{id}}.execute-api.{{suffix}}`)",
                f.id
            ),
        );
    }
    let api_type = match f.api_type {
        ApiTypeFile::Rest => ApiType::Rest,
        ApiTypeFile::Http => ApiType::Http,
    };

    // Deployments: `routes` is the deployment `current`; then the explicit ones.
    let mut deployments: AHashMap<String, Arc<Deployment>> = AHashMap::new();
    let mut order: Vec<String> = Vec::new();
    if let Some(routes) = &f.routes {
        let d = build_deployment(
            e,
            api_type,
            CURRENT_DEPLOYMENT,
            routes,
            &format!("{path}.routes"),
        );
        deployments.insert(CURRENT_DEPLOYMENT.to_string(), d);
        order.push(CURRENT_DEPLOYMENT.to_string());
    }
    for (j, d) in f.deployments.iter().enumerate() {
        let dpath = format!("{path}.deployments[{j}]");
        let built = build_deployment(e, api_type, &d.id, &d.routes, &format!("{dpath}.routes"));
        if !is_name(&d.id, false) {
            e.push(
                format!("{dpath}.id"),
                format!(
                    "`{}` is not a valid deployment id: use letters, digits, `_` and `-`",
                    d.id
                ),
            );
            continue;
        }
        if d.id == CURRENT_DEPLOYMENT && f.routes.is_some() {
            e.push(
                format!("{dpath}.id"),
                format!(
                    "`{CURRENT_DEPLOYMENT}` is already the deployment of this API's `routes`; \
                     rename this deployment or remove `routes`"
                ),
            );
            continue;
        }
        if deployments.contains_key(&d.id) {
            e.push(
                format!("{dpath}.id"),
                format!("duplicate deployment id `{}` in this API", d.id),
            );
            continue;
        }
        deployments.insert(d.id.clone(), built);
        order.push(d.id.clone());
    }

    // Stages.
    if f.stages.is_empty() {
        e.push(format!("{path}.stages"), "at least one stage is required");
    }
    let mut stages: AHashMap<String, Arc<Stage>> = AHashMap::new();
    let mut first_stage: AHashMap<&str, usize> = AHashMap::new();
    for (j, s) in f.stages.iter().enumerate() {
        let spath = format!("{path}.stages[{j}]");
        let mut ok = true;
        if s.name == DEFAULT_STAGE {
            if api_type != ApiType::Http {
                e.push(
                    format!("{spath}.name"),
                    "the `$default` stage is only valid for HTTP APIs (type: HTTP)",
                );
                ok = false;
            }
        } else if !is_name(&s.name, false) {
            e.push(
                format!("{spath}.name"),
                format!(
                    "`{}` is not a valid stage name: use letters, digits, `_` and `-` \
                     (or `$default` on HTTP APIs)",
                    s.name
                ),
            );
            ok = false;
        }
        if let Some(first) = first_stage.get(s.name.as_str()) {
            e.push(
                format!("{spath}.name"),
                format!(
                    "duplicate stage name `{}` (first defined at {path}.stages[{first}])",
                    s.name
                ),
            );
            ok = false;
        } else {
            first_stage.insert(&s.name, j);
        }
        let deployment = deployments.get(&s.deployment).cloned();
        if deployment.is_none() {
            let reason = if s.deployment == CURRENT_DEPLOYMENT && f.routes.is_none() {
                format!(
                    "no deployment `{CURRENT_DEPLOYMENT}`: this API has no `routes` \
                     (add `routes`, or name one of its `deployments`)"
                )
            } else if order.is_empty() {
                format!(
                    "no deployment `{}`: this API has no routes or deployments",
                    s.deployment
                )
            } else {
                format!(
                    "no deployment `{}` in this API (defined: {})",
                    s.deployment,
                    order.join(", ")
                )
            };
            e.push(format!("{spath}.deployment"), reason);
        }
        let variables = build_variables(e, s, &spath);
        let throttle = s.throttle.and_then(|t| {
            e.rate_limit(
                &format!("{spath}.throttle"),
                format!("stage {}/{}", f.id, s.name),
                t.rate,
                t.burst,
            )
        });
        let mut method_throttles = AHashMap::new();
        for (j, m) in s.method_throttle.iter().enumerate() {
            let mpath = format!("{spath}.method_throttle[{j}]");
            if let Some(d) = &deployment {
                if !d.has_route_key(&m.route) {
                    e.push(
                        format!("{mpath}.route"),
                        format!("no route `{}` in the stage's deployment", m.route),
                    );
                    continue;
                }
            }
            let name = format!("stage {}/{} route {}", f.id, s.name, m.route);
            if let Some(id) = e.rate_limit(&mpath, name, m.rate, m.burst) {
                if method_throttles.insert(m.route.clone(), id).is_some() {
                    e.push(
                        format!("{mpath}.route"),
                        format!("duplicate throttle for `{}`", m.route),
                    );
                }
            }
        }
        let cache = s.cache.as_ref().and_then(|c| {
            super::stage_cache::build_cache(e, c, &spath, api_type, deployment.as_deref())
        });
        let canary = s
            .canary
            .as_ref()
            .and_then(|c| super::stage_cache::build_canary(e, c, &spath, &deployments, &variables));
        let id = e.stages;
        e.stages += 1;
        if let (true, Some(deployment)) = (ok, deployment) {
            stages.insert(
                s.name.clone(),
                Arc::new(Stage {
                    name: s.name.clone(),
                    deployment,
                    variables,
                    id,
                    throttle,
                    method_throttles,
                    cache,
                    canary,
                }),
            );
        }
    }

    Api {
        id: f.id.clone(),
        name: f.name.clone().unwrap_or_else(|| f.id.clone()),
        api_type,
        stages,
        disable_execute_api_endpoint: f.disable_execute_api_endpoint,
    }
}

/// `[A-Za-z0-9_-]+` (`-` excluded when `strict`: stage variable names).
fn is_name(s: &str, strict: bool) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (!strict && b == b'-'))
}

fn build_variables(e: &mut Errors, s: &StageFile, spath: &str) -> AHashMap<String, String> {
    build_variable_map(e, &s.variables, &format!("{spath}.variables"))
}

/// Stage variables (or a canary's overrides) at `path`.
pub(super) fn build_variable_map(
    e: &mut Errors,
    map: &StringMap,
    path: &str,
) -> AHashMap<String, String> {
    let mut vars = AHashMap::with_capacity(map.0.len());
    for (name, value) in &map.0 {
        let vpath = format!("{path}.{name}");
        if !is_name(name, true) {
            e.push(
                vpath,
                format!("`{name}` is not a valid stage variable name: use letters, digits and `_`"),
            );
            continue;
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            e.push(
                vpath,
                "the value must not contain whitespace or control characters",
            );
            continue;
        }
        if vars.insert(name.clone(), value.clone()).is_some() {
            e.push(vpath, format!("duplicate stage variable `{name}`"));
        }
    }
    vars
}

// ---------------------------------------------------------------- routes and integrations

fn build_deployment(
    e: &mut Errors,
    api_type: ApiType,
    id: &str,
    routes: &[RouteFile],
    path: &str,
) -> Arc<Deployment> {
    let mut router: Router<Arc<Route>> = Router::new();
    let mut route_keys = Vec::new();
    let mut seen: HashSet<(RouteMethod, &str)> = HashSet::new();
    for (k, r) in routes.iter().enumerate() {
        let rpath = format!("{path}[{k}]");
        let key_path = format!("{rpath}.route");
        let ipath = format!("{rpath}.integration");
        let integration = build_integration(e, &r.integration, &ipath);
        let (method, template) = match parse_route_key(&r.route, api_type) {
            Ok(v) => v,
            Err(reason) => {
                e.push(key_path, reason);
                continue;
            }
        };
        if !seen.insert((method, template)) {
            e.push(key_path, format!("duplicate route `{}`", r.route));
            continue;
        }
        let checked = integration.is_some();
        route_keys.push(r.route.clone());
        let param_names = template_params(template);
        let cache_key = super::stage_cache::build_key_parameters(
            e,
            &r.cache_key_parameters,
            &rpath,
            &param_names,
        );
        let route = Arc::new(Route {
            key: r.route.clone(),
            api_key_required: r.api_key_required,
            method,
            param_names,
            cache_key,
            // The placeholder is never served: the snapshot is refused when this failed.
            integration: integration.unwrap_or_else(|| {
                Integration::Mock(MockIntegration {
                    status: 500,
                    headers: Vec::new(),
                    body: Vec::new(),
                })
            }),
        });
        if let Err(reason) = router.insert(method, template, Arc::clone(&route)) {
            e.push(key_path, reason);
            continue;
        }
        if let (true, Integration::HttpProxy(h)) = (checked, &route.integration) {
            for name in h.uri.path_param_names() {
                if !route.param_names.iter().any(|p| p == name) {
                    e.push(
                        format!("{ipath}.uri"),
                        format!(
                            "uses path parameter `{{{name}}}`, which route `{}` does not define",
                            r.route
                        ),
                    );
                }
            }
        }
    }
    let route_key_set = route_keys.iter().cloned().collect();
    Arc::new(Deployment {
        id: id.to_string(),
        router,
        route_keys,
        route_key_set,
    })
}

const METHODS_HELP: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

pub(super) fn parse_method(s: &str) -> Option<Method> {
    Some(match s {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => return None,
    })
}

/// `"METHOD /path"` or `"$default"` -> (method, template for the router).
fn parse_route_key(key: &str, api_type: ApiType) -> Result<(RouteMethod, &str), String> {
    if key == "$default" {
        if api_type != ApiType::Http {
            return Err("the `$default` route is only valid for HTTP APIs (type: HTTP)".into());
        }
        return Ok((RouteMethod::Any, key));
    }
    let Some((m, p)) = key.split_once(' ') else {
        return Err(format!(
            "`{key}` is not a route key: expected `METHOD /path` (e.g. `GET /orders/{{id}}`) \
             or `$default`"
        ));
    };
    let method = if m == "ANY" {
        RouteMethod::Any
    } else {
        match parse_method(m) {
            Some(m) => RouteMethod::Only(m),
            None => {
                return Err(format!(
                    "unknown method `{m}` in route `{key}`: expected one of {METHODS_HELP} or ANY"
                ))
            }
        }
    };
    if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "path `{p}` in route `{key}` must start with `/` and contain no whitespace"
        ));
    }
    Ok((method, p))
}

/// Parameter names of a template in order, the greedy one without its `+`.
fn template_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|inner| inner.strip_suffix('+').unwrap_or(inner).to_string())
        .collect()
}

/// Returns `None` (after reporting) when anything about the integration is wrong.
fn build_integration(e: &mut Errors, f: &IntegrationFile, path: &str) -> Option<Integration> {
    let before = e.count();
    let kind = f.kind.as_str();
    let not_for = |e: &mut Errors, key: &str, present: bool| {
        if present {
            e.push(
                format!("{path}.{key}"),
                format!("not valid for a {kind} integration"),
            );
        }
    };
    let built = match f.kind {
        IntegrationType::Mock => {
            not_for(e, "uri", f.uri.is_some());
            not_for(e, "method", f.method.is_some());
            not_for(e, "timeout", f.timeout.is_some());
            not_for(e, "connection_type", f.connection_type.is_some());
            not_for(e, "target_group", f.target_group.is_some());
            let status = f.status.unwrap_or(200);
            // A MOCK answer is a final response: 1xx statuses are interim (RFC 9110 §15.2)
            // and would leave the client waiting for the real one.
            if !(200..=599).contains(&status) {
                e.push(
                    format!("{path}.status"),
                    format!("must be between 200 and 599 (a final response), got {status}"),
                );
            }
            let mut headers = Vec::new();
            if let Some(h) = &f.headers {
                let mut seen: HashSet<String> = HashSet::new();
                for (name, value) in &h.0 {
                    let hpath = format!("{path}.headers.{name}");
                    if name.is_empty() || !name.bytes().all(is_tchar) {
                        e.push(hpath, format!("`{name}` is not a valid header name"));
                    } else if is_hop_by_hop(name.as_bytes())
                        || name.eq_ignore_ascii_case("content-length")
                    {
                        e.push(
                            hpath,
                            format!("`{name}` is set by the gateway and cannot be configured"),
                        );
                    } else if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                        e.push(
                            hpath,
                            "the value must not contain control characters (CR, LF, ...)",
                        );
                    } else if !seen.insert(name.to_ascii_lowercase()) {
                        e.push(hpath, format!("duplicate header `{name}`"));
                    } else {
                        headers.push((name.clone(), value.clone()));
                    }
                }
            }
            Integration::Mock(MockIntegration {
                status: u16::try_from(status).unwrap_or(500),
                headers,
                body: f.body.clone().unwrap_or_default().into_bytes(),
            })
        }
        IntegrationType::HttpProxy => {
            not_for(e, "status", f.status.is_some());
            not_for(e, "headers", f.headers.is_some());
            not_for(e, "body", f.body.is_some());
            let uri = match &f.uri {
                None => {
                    e.push(
                        format!("{path}.uri"),
                        "required for an HTTP_PROXY integration",
                    );
                    None
                }
                Some(s) => match UriTemplate::parse(s) {
                    Ok(t) => Some(t),
                    Err(reason) => {
                        e.push(format!("{path}.uri"), format!("`{s}`: {reason}"));
                        None
                    }
                },
            };
            let method = match f.method.as_deref() {
                None => None,
                Some(m) => match parse_method(m) {
                    Some(m) => Some(m),
                    None => {
                        let reason = if m == "ANY" {
                            "ANY is not allowed here; omit `method` to send the request's own method"
                                .to_string()
                        } else {
                            format!("unknown method `{m}`: expected one of {METHODS_HELP}")
                        };
                        e.push(format!("{path}.method"), reason);
                        None
                    }
                },
            };
            let tpath = format!("{path}.timeout");
            let timeout = match &f.timeout {
                None => DEFAULT_INTEGRATION_TIMEOUT,
                Some(t) => match e.duration(&tpath, t) {
                    Some(d) if d < MIN_INTEGRATION_TIMEOUT => {
                        e.push(tpath, format!("must be at least 50ms, got {}", t.0));
                        DEFAULT_INTEGRATION_TIMEOUT
                    }
                    Some(d) => d,
                    None => DEFAULT_INTEGRATION_TIMEOUT,
                },
            };
            let target_group = match (
                f.connection_type.as_deref().unwrap_or("INTERNET"),
                &f.target_group,
            ) {
                ("INTERNET", None) => None,
                ("INTERNET", Some(_)) => {
                    e.push(
                        format!("{path}.target_group"),
                        "needs connection_type: VPC_LINK",
                    );
                    None
                }
                ("VPC_LINK", None) => {
                    e.push(
                        format!("{path}.target_group"),
                        "required with connection_type: VPC_LINK",
                    );
                    None
                }
                ("VPC_LINK", Some(name)) => match e.target_groups.get(name) {
                    Some(&i) => Some(i),
                    None => {
                        let known: Vec<&str> = e.target_groups.keys().map(String::as_str).collect();
                        e.push(
                            format!("{path}.target_group"),
                            format!(
                                "no target group `{name}` (defined: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                        None
                    }
                },
                (other, _) => {
                    e.push(
                        format!("{path}.connection_type"),
                        format!("unknown connection type `{other}`: expected INTERNET or VPC_LINK"),
                    );
                    None
                }
            };
            let uri = uri?;
            Integration::HttpProxy(HttpProxyIntegration {
                uri,
                method,
                timeout,
                target_group,
            })
        }
    };
    if e.count() > before {
        None
    } else {
        Some(built)
    }
}

/// RFC 9110 token character.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const QUICKSTART: &str = include_str!("../../examples/quickstart.yaml");

    fn check(text: &str) -> Result<Snapshot, ConfigErrors> {
        from_str(Path::new("test.yaml"), text)
    }

    /// The errors `text` is refused with (shared with the other config modules' tests).
    pub(in crate::config) fn errors(text: &str) -> Vec<ConfigError> {
        match check(text) {
            Ok(_) => panic!("expected errors, the file validated"),
            Err(ConfigErrors(list)) => list,
        }
    }

    /// Assert some error has exactly `path` and a reason containing `fragment`.
    #[track_caller]
    pub(in crate::config) fn assert_error(list: &[ConfigError], path: &str, fragment: &str) {
        assert!(
            list.iter()
                .any(|e| e.path == path && e.reason.contains(fragment)),
            "no error at `{path}` containing `{fragment}`; got:\n{}",
            ConfigErrors(list.to_vec())
        );
    }

    /// A valid file with no routes at all (so it needs no router): the stage points at an
    /// explicit deployment with an empty route list. `extra_api` and the listener/limits
    /// blocks are spliced in by the tests.
    fn minimal(limits: &str, listener_extra: &str) -> String {
        format!(
            "{limits}
listeners:
  - name: public
    bind: 127.0.0.1:8080
{listener_extra}
apis:
  - id: demo
    routes: []
    stages:
      - name: prod
"
        )
    }

    #[test]
    fn drop_underscore_headers_defaults_to_false() {
        let snap = check(&minimal("", "")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!snap.listeners[0].drop_underscore_headers);
        assert!(snap.forwarded_cert_headers.is_empty());
        let snap = check(&minimal("", "    drop_underscore_headers: true"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(snap.listeners[0].drop_underscore_headers);
        assert!(check(&minimal("", "    drop_underscore_headers: maybe")).is_err());
    }

    // ---- whole files

    #[test]
    fn quickstart_validates() {
        let snap = check(QUICKSTART).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snap.listeners.len(), 1);
        assert_eq!(snap.listeners[0].default_api, Some(0));
        let api = snap.api("demo").expect("api demo");
        assert_eq!(api.name, "Demo API");
        assert_eq!(api.api_type, ApiType::Rest);
        let prod = api.stages.get("prod").expect("stage prod");
        assert_eq!(prod.deployment.id, "current");
        assert_eq!(
            prod.variables.get("upstream").map(String::as_str),
            Some("127.0.0.1:9090")
        );
        assert_eq!(snap.server.execute_api_suffix, "localhost");
        assert_eq!(
            snap.limits.max_head_bytes,
            HttpLimits::default().max_head_bytes
        );
    }

    #[test]
    fn quickstart_as_json_validates() {
        let json = r#"{
	"listeners": [{"name": "public", "bind": "127.0.0.1:8080", "default_api": "demo"}],
	"apis": [{
		"id": "demo", "type": "REST",
		"routes": [
			{"route": "GET /hello", "integration": {"type": "MOCK", "body": "hi"}},
			{"route": "ANY /echo/{proxy+}", "integration": {"type": "HTTP_PROXY",
				"uri": "http://${stageVariables.upstream}/{proxy}", "timeout": "29s"}}
		],
		"stages": [{"name": "prod", "variables": {"upstream": "127.0.0.1:9090"}}]
	}]
}"#;
        check(json).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn minimal_without_routes_validates_and_defaults_apply() {
        let snap = check(&minimal("", "")).unwrap_or_else(|e| panic!("{e}"));
        let d = HttpLimits::default();
        assert_eq!(snap.limits.max_body_bytes, d.max_body_bytes);
        assert_eq!(snap.limits.keepalive_timeout, d.keepalive_timeout);
        assert_eq!(snap.server.workers, None);
        assert_eq!(snap.server.drain_timeout, Duration::from_secs(10));
        let api = snap.api("demo").expect("demo");
        assert_eq!(api.name, "demo");
    }

    #[test]
    fn three_different_errors_are_all_reported() {
        let text = "
server:
  workers: 0
listeners:
  - name: public
    bind: not-an-address
apis:
  - id: demo
    routes: []
    stages:
      - name: prod
        deployment: nope
";
        let list = errors(text);
        assert_eq!(list.len(), 3, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "server.workers", "at least 1");
        assert_error(&list, "listeners[0].bind", "not a socket address");
        assert_error(
            &list,
            "apis[0].stages[0].deployment",
            "no deployment `nope`",
        );
    }

    #[test]
    fn error_display_names_file_key_and_reason() {
        let list = errors(&minimal("limits:\n  max_headers: 0\n", ""));
        assert_eq!(
            list[0].to_string(),
            "test.yaml: limits.max_headers: must be between 1 and 128, got 0"
        );
    }

    #[test]
    fn huge_values_are_clipped_in_errors() {
        let big = "b".repeat(100_000);
        let list = errors(&format!(
            "listeners:\n  - name: public\n    bind: \"{big}\"\napis:\n  - id: demo\n    routes: []\n    stages:\n      - name: prod\n"
        ));
        let shown = list[0].to_string();
        assert!(shown.len() < 300, "{} bytes", shown.len());
        assert!(
            shown.contains(&format!("`{}…`", "b".repeat(MAX_QUOTED_CHARS))),
            "{shown}"
        );
        // A serde type error quotes the value in double quotes.
        let list = errors(&format!("server:\n  workers: \"{big}\"\n"));
        assert!(
            list[0].to_string().len() < 400,
            "{}",
            list[0].to_string().len()
        );
    }

    #[test]
    fn clip_quoted_keeps_prose_and_short_values() {
        let prose = "x".repeat(200);
        assert_eq!(clip_quoted(&prose), prose);
        let short = format!("`abc` and \"def\" {prose}");
        assert_eq!(clip_quoted(&short), short);
        let long = format!("`{}` tail", "é".repeat(100));
        assert_eq!(clip_quoted(&long), format!("`{}…` tail", "é".repeat(80)));
        let unclosed = format!("value `{}", "z".repeat(100));
        assert_eq!(
            clip_quoted(&unclosed),
            format!("value `{}…", "z".repeat(80))
        );
        assert_eq!(
            clip_path(&format!("a.{}.b", "k".repeat(100))),
            format!("a.{}….b", "k".repeat(80))
        );
    }

    #[test]
    fn at_most_100_errors_are_printed() {
        let list: Vec<ConfigError> = (0..150)
            .map(|i| ConfigError {
                file: "f.yaml".into(),
                path: format!("k{i}"),
                reason: "bad".into(),
            })
            .collect();
        let shown = ConfigErrors(list).to_string();
        assert_eq!(shown.lines().count(), MAX_ERRORS_SHOWN + 1);
        assert!(shown.ends_with("(50 more error(s) not shown)"), "{shown}");
    }

    #[test]
    fn workers_capped_to_the_machine() {
        let list = errors(&minimal("server:\n  workers: 1000000\n", ""));
        assert_error(&list, "server.workers", "must be at most");
        let max = bounded::max_workers();
        let ok = check(&minimal(&format!("server:\n  workers: {max}\n"), ""))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.server.workers, Some(max));
        let list = errors(&minimal(&format!("server:\n  workers: {}\n", max + 1), ""));
        assert_error(&list, "server.workers", &format!("at most {max}"));
    }

    #[test]
    fn load_refuses_devices_and_names_the_file() {
        let err = load(Path::new("/dev/zero")).expect_err("refused");
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].reason.contains("not a regular file"), "{err}");
        assert!(err.to_string().starts_with("/dev/zero: "), "{err}");
    }

    #[test]
    fn hostile_yaml_is_refused_before_serde() {
        let list = errors(&format!("x: {}{}", "[".repeat(1000), "]".repeat(1000)));
        assert_eq!(list.len(), 1);
        assert!(list[0].reason.contains("nested deeper than 64"), "{list:?}");
        assert!(list[0].path.starts_with("x[0]"), "{list:?}");
    }

    #[test]
    fn empty_file() {
        let list = errors("# nothing\n");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, "");
        assert!(list[0].reason.contains("empty"));
    }

    #[test]
    fn unreadable_file() {
        let err = load(Path::new("/nonexistent/tollgate.yaml")).expect_err("error");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].path, "");
        assert!(
            err.0[0].reason.contains("cannot read"),
            "{}",
            err.0[0].reason
        );
    }

    // ---- parse errors

    #[test]
    fn unknown_field_named_with_its_path() {
        let text = minimal("", "    colour: blue\n");
        let list = errors(&text);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, "listeners[0].colour");
        assert!(
            list[0].reason.contains("unknown field `colour`"),
            "{}",
            list[0].reason
        );
        assert!(list[0].reason.contains("line 5"), "{}", list[0].reason);
    }

    #[test]
    fn unknown_field_in_route() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    routes:
      - route: GET /a
        integration: {type: MOCK}
        foo: 1
    stages: [{name: prod}]
";
        let list = errors(text);
        assert_eq!(list[0].path, "apis[0].routes[0].foo");
        assert!(list[0].reason.contains("unknown field"));
    }

    #[test]
    fn unknown_top_level_field() {
        let list = errors(&format!("extra: 1\n{}", minimal("", "")));
        assert_eq!(list[0].path, "extra");
    }

    #[test]
    fn missing_field_named() {
        let list = errors("listeners:\n  - bind: 127.0.0.1:80\napis: []\n");
        assert_eq!(list[0].path, "listeners[0].name");
        assert!(list[0].reason.contains("missing field"));
    }

    #[test]
    fn wrong_type_named() {
        let list = errors(&minimal("limits:\n  max_head_bytes: lots\n", ""));
        assert_eq!(list[0].path, "limits.max_head_bytes");
        assert!(
            list[0].reason.contains("invalid type"),
            "{}",
            list[0].reason
        );
    }

    #[test]
    fn unknown_integration_type() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    routes:
      - route: GET /a
        integration: {type: LAMBDA}
    stages: [{name: prod}]
";
        let list = errors(text);
        assert_eq!(list[0].path, "apis[0].routes[0].integration.type");
        assert!(list[0].reason.contains("LAMBDA"));
    }

    #[test]
    fn yaml_syntax_error_has_line() {
        let list = errors("listeners: [\n");
        assert!(list[0].reason.contains("line"), "{}", list[0].reason);
    }

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

    // ---- APIs

    #[test]
    fn no_apis() {
        let list = errors("listeners: [{name: a, bind: '127.0.0.1:1'}]\n");
        assert_error(&list, "apis", "at least one API");
    }

    #[test]
    fn duplicate_api_id() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - {id: demo, routes: [], stages: [{name: prod}]}
  - {id: demo, routes: [], stages: [{name: prod}]}
";
        let list = errors(text);
        assert_error(&list, "apis[1].id", "duplicate API id `demo`");
    }

    #[test]
    fn api_id_charset() {
        let list = errors(&minimal("", "").replace("id: demo", "id: Demo_API"));
        assert_error(&list, "apis[0].id", "not a valid API id");
    }

    #[test]
    fn api_type_http_and_default_name() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - {id: my-api-1, type: HTTP, routes: [], stages: [{name: $default}, {name: dev}]}
";
        let snap = check(text).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("my-api-1").expect("api");
        assert_eq!(api.api_type, ApiType::Http);
        assert!(api.default_stage().is_some());
        // both stages share the one deployment
        let a = &api.stages["$default"].deployment;
        let b = &api.stages["dev"].deployment;
        assert!(Arc::ptr_eq(a, b));
    }

    // ---- stages

    #[test]
    fn no_stages() {
        let list = errors(&minimal("", "").replace("    stages:\n      - name: prod\n", ""));
        assert_error(&list, "apis[0].stages", "at least one stage");
    }

    #[test]
    fn stage_name_charset() {
        let list = errors(&minimal("", "").replace("name: prod", "name: 'my stage'"));
        assert_error(&list, "apis[0].stages[0].name", "not a valid stage name");
    }

    #[test]
    fn duplicate_stage_name() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n      - name: prod\n",
        ));
        assert_error(
            &list,
            "apis[0].stages[1].name",
            "duplicate stage name `prod`",
        );
    }

    #[test]
    fn default_stage_only_on_http_apis() {
        let list = errors(&minimal("", "").replace("name: prod", "name: $default"));
        assert_error(&list, "apis[0].stages[0].name", "only valid for HTTP APIs");
    }

    #[test]
    fn stage_deployment_must_exist() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        deployment: d9\n",
        ));
        assert_error(
            &list,
            "apis[0].stages[0].deployment",
            "no deployment `d9` in this API (defined: current)",
        );
    }

    #[test]
    fn stage_default_deployment_needs_routes() {
        let list =
            errors(&minimal("", "").replace("    routes: []\n", "    deployments: [{id: d1}]\n"));
        assert_error(
            &list,
            "apis[0].stages[0].deployment",
            "this API has no `routes`",
        );
    }

    #[test]
    fn stage_variable_names() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        variables: {ok_1: x, bad-name: y, spaced: 'a b'}\n",
        ));
        assert_eq!(list.len(), 2, "{}", ConfigErrors(list.clone()));
        assert_error(
            &list,
            "apis[0].stages[0].variables.bad-name",
            "not a valid stage variable name",
        );
        assert_error(&list, "apis[0].stages[0].variables.spaced", "whitespace");
    }

    #[test]
    fn stage_variable_values_must_be_strings() {
        let list = errors(&minimal("", "").replace(
            "      - name: prod\n",
            "      - name: prod\n        variables: {port: [1]}\n",
        ));
        assert_eq!(list[0].path, "apis[0].stages[0].variables.port");
    }

    // ---- deployments

    #[test]
    fn routes_and_current_deployment_conflict() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: current}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[0].id",
            "already the deployment of this API's `routes`",
        );
    }

    #[test]
    fn duplicate_deployment_id() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: d1}, {id: d1}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[1].id",
            "duplicate deployment id `d1`",
        );
    }

    #[test]
    fn deployment_id_charset() {
        let list = errors(&minimal("", "").replace(
            "    routes: []\n",
            "    routes: []\n    deployments: [{id: 'd 1'}]\n",
        ));
        assert_error(
            &list,
            "apis[0].deployments[0].id",
            "not a valid deployment id",
        );
    }

    #[test]
    fn explicit_deployments_are_shared() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    deployments: [{id: d1}, {id: d2}]
    stages:
      - {name: a, deployment: d1}
      - {name: b, deployment: d1}
      - {name: c, deployment: d2}
";
        let snap = check(text).unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        assert!(Arc::ptr_eq(
            &api.stages["a"].deployment,
            &api.stages["b"].deployment
        ));
        assert_eq!(api.stages["c"].deployment.id, "d2");
    }

    // ---- routes (these need the router and URI templates)

    fn with_routes(api_type: &str, routes: &str) -> String {
        format!(
            "
listeners: [{{name: a, bind: '127.0.0.1:1'}}]
apis:
  - id: demo
    type: {api_type}
    routes:
{routes}
    stages: [{{name: prod, variables: {{up: '127.0.0.1:9'}}}}]
"
        )
    }

    #[test]
    fn route_key_syntax() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET', integration: {type: MOCK}}
      - {route: 'get /a', integration: {type: MOCK}}
      - {route: 'GET a', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[0].route", "not a route key");
        assert_error(&list, "apis[0].routes[1].route", "unknown method `get`");
        assert_error(&list, "apis[0].routes[2].route", "must start with `/`");
    }

    #[test]
    fn default_route_only_on_http_apis() {
        let route = "      - {route: $default, integration: {type: MOCK}}";
        let list = errors(&with_routes("REST", route));
        assert_error(&list, "apis[0].routes[0].route", "only valid for HTTP APIs");
        check(&with_routes("HTTP", route)).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn duplicate_route() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK}}
      - {route: 'GET /a', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[1].route", "duplicate route `GET /a`");
    }

    #[test]
    fn sibling_variables_refused_with_api_gateways_message() {
        for api_type in ["REST", "HTTP"] {
            let list = errors(&with_routes(
                api_type,
                "      - {route: 'GET /a/{id}/x', integration: {type: MOCK}}
      - {route: 'GET /a/{name}/y', integration: {type: MOCK}}
      - {route: 'DELETE /b/{id}', integration: {type: MOCK}}
      - {route: 'GET /b/{name}', integration: {type: MOCK}}
      - {route: 'GET /{id}/posts', integration: {type: MOCK}}
      - {route: 'ANY /{catchall+}', integration: {type: MOCK}}",
            ));
            let msg = "A sibling ({id}) of this resource already has a variable path part -- only one is allowed";
            assert_error(&list, "apis[0].routes[1].route", msg);
            assert_error(&list, "apis[0].routes[3].route", msg);
            assert_error(&list, "apis[0].routes[5].route", msg);
            assert_eq!(list.len(), 3, "{}", ConfigErrors(list.clone()));
        }
    }

    #[test]
    fn dot_segment_routes_refused() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/../b', integration: {type: MOCK}}
      - {route: 'GET /./c', integration: {type: MOCK}}
      - {route: 'GET /d/.e', integration: {type: MOCK}}",
        ));
        assert_error(&list, "apis[0].routes[0].route", "dot segment '..'");
        assert_error(&list, "apis[0].routes[1].route", "dot segment '.'");
        assert_eq!(list.len(), 2, "{}", ConfigErrors(list.clone()));
    }

    #[test]
    fn malformed_template_reported_by_router() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/{proxy+}/b', integration: {type: MOCK}}",
        ));
        assert_eq!(list.len(), 1, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "apis[0].routes[0].route", "greedy");
    }

    #[test]
    fn routes_in_explicit_deployment_have_their_path() {
        let text = "
listeners: [{name: a, bind: '127.0.0.1:1'}]
apis:
  - id: demo
    deployments:
      - id: d1
        routes:
          - {route: 'GET /a', integration: {type: MOCK, status: 99}}
    stages: [{name: prod, deployment: d1}]
";
        let list = errors(text);
        assert_error(
            &list,
            "apis[0].deployments[0].routes[0].integration.status",
            "between 200 and 599",
        );
    }

    #[test]
    fn param_names_in_order() {
        let snap = check(&with_routes(
            "REST",
            "      - {route: 'GET /a/{x}/b/{y}/{rest+}', integration: {type: MOCK}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let route = match api.stages["prod"].deployment.router.find(
            Method::Get,
            "/a/1/b/2/c/d",
            &mut params,
        ) {
            crate::routing::resource::Match::Found(r) => r,
            other => panic!("no match: {other:?}"),
        };
        assert_eq!(route.param_names, vec!["x", "y", "rest"]);
        assert_eq!(route.key, "GET /a/{x}/b/{y}/{rest+}");
    }

    #[test]
    fn mock_defaults_and_headers() {
        let snap = check(&with_routes(
            "REST",
            "      - route: GET /a
        integration:
          type: MOCK
          headers: {x-b: '1', content-type: text/plain}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let crate::routing::resource::Match::Found(route) = api.stages["prod"]
            .deployment
            .router
            .find(Method::Get, "/a", &mut params)
        else {
            panic!("no match")
        };
        let Integration::Mock(m) = &route.integration else {
            panic!("not a mock")
        };
        assert_eq!(m.status, 200);
        assert!(m.body.is_empty());
        assert_eq!(
            m.headers,
            vec![
                ("x-b".to_string(), "1".to_string()),
                ("content-type".to_string(), "text/plain".to_string())
            ]
        );
    }

    #[test]
    fn forwarded_certificate_headers_cannot_be_gateway_headers() {
        let text = format!(
            "{}custom_domains:
  - name: api.example.com
    certificate: missing.pem
    key: missing.key
    mtls:
      truststore: missing-ca.pem
      forward_headers: {{subject: X_Api_Key, issuer: Host, serial: x-client-serial, validity: 'a b'}}
    base_path_mappings: [{{api: demo, stage: prod}}]
",
            minimal("", "")
        );
        let list = errors(&text);
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.subject",
            "`X_Api_Key` is `x-api-key`, a header the gateway reads or sets itself",
        );
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.issuer",
            "`Host` is `host`",
        );
        assert_error(
            &list,
            "custom_domains[0].mtls.forward_headers.validity",
            "not a valid header name",
        );
        assert!(
            !list
                .iter()
                .any(|e| e.to_string().contains("forward_headers.serial")),
            "{}",
            ConfigErrors(list.clone())
        );
    }

    #[test]
    fn mock_status_range() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK, status: 600}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.status",
            "between 200 and 599 (a final response), got 600",
        );
        for interim in [100, 103, 199] {
            let list = errors(&with_routes(
                "REST",
                &format!(
                    "      - {{route: 'GET /a', integration: {{type: MOCK, status: {interim}}}}}"
                ),
            ));
            assert_error(
                &list,
                "apis[0].routes[0].integration.status",
                &format!("got {interim}"),
            );
        }
    }

    #[test]
    fn mock_header_checks() {
        let list = errors(&with_routes(
            "REST",
            "      - route: GET /a
        integration:
          type: MOCK
          headers: {'bad name': x, content-length: '5', x-a: \"a\\r\\nb\", X-Dup: a, x-dup: b}",
        ));
        assert_eq!(list.len(), 4, "{}", ConfigErrors(list.clone()));
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.bad name",
            "not a valid header name",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.content-length",
            "set by the gateway",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.x-a",
            "control characters",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.headers.x-dup",
            "duplicate header",
        );
    }

    #[test]
    fn keys_of_the_other_integration_type() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: MOCK, uri: 'http://x/', timeout: 1s}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://x/', body: hi}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.uri",
            "not valid for a MOCK integration",
        );
        assert_error(
            &list,
            "apis[0].routes[0].integration.timeout",
            "not valid for a MOCK integration",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.body",
            "not valid for a HTTP_PROXY integration",
        );
    }

    #[test]
    fn proxy_uri_required() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY}}",
        ));
        assert_error(&list, "apis[0].routes[0].integration.uri", "required");
    }

    #[test]
    fn proxy_uri_must_parse() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'ftp://x/'}}",
        ));
        assert_error(&list, "apis[0].routes[0].integration.uri", "`ftp://x/`: ");
    }

    #[test]
    fn proxy_uri_params_must_be_route_params() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a/{id}', integration: {type: HTTP_PROXY, uri: 'http://h/{id}/{other}'}}
      - {route: 'ANY /b/{proxy+}', integration: {type: HTTP_PROXY, uri: 'http://${stageVariables.up}/{proxy}'}}",
        ));
        assert_eq!(list.len(), 1, "{}", ConfigErrors(list.clone()));
        assert_error(&list, "apis[0].routes[0].integration.uri", "`{other}`");
    }

    #[test]
    fn missing_stage_variable_is_not_an_error() {
        check(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://${stageVariables.nope}/'}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn proxy_method() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://h/', method: ANY}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://h/', method: FETCH}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.method",
            "ANY is not allowed",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.method",
            "unknown method `FETCH`",
        );
    }

    #[test]
    fn proxy_timeout() {
        let list = errors(&with_routes(
            "REST",
            "      - {route: 'GET /a', integration: {type: HTTP_PROXY, uri: 'http://h/', timeout: 10ms}}
      - {route: 'GET /b', integration: {type: HTTP_PROXY, uri: 'http://h/', timeout: 1.5s}}",
        ));
        assert_error(
            &list,
            "apis[0].routes[0].integration.timeout",
            "at least 50ms",
        );
        assert_error(
            &list,
            "apis[0].routes[1].integration.timeout",
            "invalid duration `1.5s`",
        );
    }

    #[test]
    fn proxy_defaults() {
        let snap = check(&with_routes(
            "REST",
            "      - {route: 'POST /a', integration: {type: HTTP_PROXY, uri: 'http://h/', method: PUT}}",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let api = snap.api("demo").expect("api");
        let mut params = crate::routing::resource::PathParams::default();
        let crate::routing::resource::Match::Found(route) = api.stages["prod"]
            .deployment
            .router
            .find(Method::Post, "/a", &mut params)
        else {
            panic!("no match")
        };
        let Integration::HttpProxy(h) = &route.integration else {
            panic!("not a proxy")
        };
        assert_eq!(h.timeout, Duration::from_secs(29));
        assert_eq!(h.method, Some(Method::Put));
        assert_eq!(route.method, RouteMethod::Only(Method::Post));
    }
}
