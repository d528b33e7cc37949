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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use super::file::{ConfigFile, DurationText};
use super::snapshot::{RateLimit, RateLimitId};
use super::{bounded, Snapshot};

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
        let mut built = build_api(&mut e, api, &server, &path);
        built.index = i;
        apis.push(Arc::new(built));
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

    let admin_token = super::admin::build_admin_token(
        &mut e,
        file.admin.as_ref().and_then(|a| a.token_file.as_deref()),
        base_dir,
    );
    let iam = file
        .iam
        .as_ref()
        .map(|f| super::iam::build(&mut e, f, "iam"))
        .unwrap_or_default();

    let aws = super::aws::build(&mut e, file.aws.as_ref(), &server.region);

    if !e.list.is_empty() {
        return Err(ConfigErrors(e.list));
    }
    let forwarded_cert_headers = super::custom_domain::forwarded_cert_headers(&domains);
    Ok(Snapshot {
        forwarded_cert_headers,
        stage_count: e.stages,
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
        admin_token,
        iam,
        aws,
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
    /// The directory of the configuration file (relative paths in it are relative to it).
    pub(super) fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// The configuration file's directory (relative paths in the file are relative to it).
    pub(super) fn base_dir_owned(&self) -> PathBuf {
        self.file.parent().unwrap_or(Path::new(".")).to_path_buf()
    }

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
    pub(super) fn duration(&mut self, path: &str, text: &DurationText) -> Option<Duration> {
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

mod api;
mod parse;
mod routes;
mod server;

use api::build_api;
pub(super) use api::build_variable_map;
use parse::{is_blank_yaml, parse_error};
pub(in crate::config) use routes::is_tchar;
pub(super) use routes::parse_method;
pub use server::workers_too_many;
use server::{build_limits, build_listeners, build_server};

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::snapshot::{ApiType, HttpLimits};

    const QUICKSTART: &str = include_str!("../../../examples/quickstart.yaml");

    pub(in crate::config) fn check(text: &str) -> Result<Snapshot, ConfigErrors> {
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
    pub(in crate::config) fn minimal(limits: &str, listener_extra: &str) -> String {
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
}
