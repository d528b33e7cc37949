//! Validation of a stage's `execution_log:` (API Gateway's stage logging settings:
//! `loggingLevel` OFF / ERROR / INFO and `dataTraceEnabled`), plus where the lines go and
//! which header values are never written.

use std::path::PathBuf;

use super::file::ExecutionLogFile;
use super::validate::Errors;

/// What a stage logs (OFF is no settings at all: `Stage::execution_log` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only requests that ended in an error (a gateway response or an integration failure).
    Error,
    /// One line per phase for every request.
    Info,
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The process log (its writer thread, to stderr).
    Stderr,
    Stdout,
    /// Appended to this file (relative paths: to the configuration file's directory).
    File(PathBuf),
}

/// A stage's execution-log settings (level ERROR or INFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionLogSettings {
    pub level: Level,
    /// Log request and response bodies (first 1 KiB) and response headers.
    pub data_trace: bool,
    /// Lower-case header names whose values are replaced by [`REDACTED`].
    pub redact_headers: Vec<String>,
    pub destination: Destination,
}

impl ExecutionLogSettings {
    /// Whether the value of header `name` is to be replaced (case-insensitive).
    pub fn redacts(&self, name: &[u8]) -> bool {
        self.redact_headers
            .iter()
            .any(|r| r.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// What a redacted value is replaced by (the whole value: neither its length nor any of
/// its characters are shown; API Gateway keeps the last few characters of an API key).
pub const REDACTED: &str = "****";

/// Headers redacted when `redact_headers` is not given.
pub const DEFAULT_REDACTED: [&str; 4] = ["authorization", "x-api-key", "cookie", "set-cookie"];

/// `apis[i].stages[j].execution_log` at `path` -> settings; `None` when the level is OFF
/// (or the settings are invalid, with the errors pushed to `e`).
pub(super) fn build_execution_log(
    e: &mut Errors,
    f: &ExecutionLogFile,
    path: &str,
) -> Option<ExecutionLogSettings> {
    let before = e.count();
    let level = match f.level.as_deref() {
        None | Some("OFF") => None,
        Some("ERROR") => Some(Level::Error),
        Some("INFO") => Some(Level::Info),
        Some(other) => {
            e.push(
                format!("{path}.level"),
                format!("unknown level `{other}`: expected OFF, ERROR or INFO"),
            );
            None
        }
    };
    if f.data_trace && level.is_none() && e.count() == before {
        e.push(
            format!("{path}.data_trace"),
            "data tracing needs a level: set `level: INFO` (or ERROR)",
        );
    }
    let redact_headers = match &f.redact_headers {
        None => DEFAULT_REDACTED.iter().map(|h| h.to_string()).collect(),
        Some(list) => {
            let mut names = Vec::with_capacity(list.len());
            for (k, name) in list.iter().enumerate() {
                if name.is_empty() || !name.bytes().all(crate::http::chunked::is_tchar) {
                    e.push(
                        format!("{path}.redact_headers[{k}]"),
                        format!("`{name}` is not a header name"),
                    );
                    continue;
                }
                names.push(name.to_ascii_lowercase());
            }
            names
        }
    };
    let destination = match f.destination.as_deref() {
        None | Some("stderr") => Destination::Stderr,
        Some("stdout") => Destination::Stdout,
        Some("") => {
            e.push(
                format!("{path}.destination"),
                "empty: use `stderr`, `stdout` or a file path",
            );
            Destination::Stderr
        }
        Some(file) => {
            let full = e.base_dir().join(file);
            let parent = full.parent().filter(|p| !p.as_os_str().is_empty());
            if full.is_dir() {
                e.push(
                    format!("{path}.destination"),
                    format!("`{}` is a directory, not a file", full.display()),
                );
            } else if parent.is_some_and(|p| !p.is_dir()) {
                e.push(
                    format!("{path}.destination"),
                    format!("no directory `{}` for the log file", full.display()),
                );
            }
            Destination::File(full)
        }
    };
    if e.count() != before {
        return None;
    }
    Some(ExecutionLogSettings {
        level: level?,
        data_trace: f.data_trace,
        redact_headers,
        destination,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::validate::{from_str, ConfigErrors};
    use crate::config::Snapshot;

    fn config(settings: &str) -> String {
        format!(
            "listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis:
  - id: demo
    routes:
      - route: GET /x
        integration: {{type: MOCK}}
    stages:
      - name: prod
        execution_log: {settings}
"
        )
    }

    fn ok(text: &str) -> Snapshot {
        from_str(Path::new("t.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn settings(s: &Snapshot) -> Option<&ExecutionLogSettings> {
        s.apis[0].stages["prod"].execution_log.as_ref()
    }

    #[track_caller]
    fn refused(text: &str, path: &str, fragment: &str) {
        match from_str(Path::new("t.yaml"), text) {
            Ok(_) => panic!("validated; expected an error at {path}"),
            Err(ConfigErrors(list)) => assert!(
                list.iter()
                    .any(|e| e.path == path && e.reason.contains(fragment)),
                "no error at `{path}` containing `{fragment}`; got:\n{}",
                ConfigErrors(list)
            ),
        }
    }

    const KEY: &str = "apis[0].stages[0].execution_log";

    #[test]
    fn off_by_default_and_when_off() {
        assert_eq!(settings(&ok(&config("{}"))), None);
        assert_eq!(settings(&ok(&config("{level: OFF}"))), None);
    }

    #[test]
    fn defaults_follow_api_gateway() {
        let s = ok(&config("{level: INFO}"));
        let x = settings(&s).expect("INFO is on");
        assert_eq!(x.level, Level::Info);
        assert!(!x.data_trace);
        assert_eq!(x.redact_headers, DEFAULT_REDACTED);
        assert_eq!(x.destination, Destination::Stderr);
        assert!(x.redacts(b"Authorization"));
        assert!(x.redacts(b"X-API-KEY"));
        assert!(!x.redacts(b"accept"));
    }

    #[test]
    fn level_is_off_error_or_info() {
        let s = ok(&config("{level: ERROR, data_trace: true}"));
        let x = settings(&s).expect("ERROR is on");
        assert_eq!(x.level, Level::Error);
        assert!(x.data_trace);
        refused(
            &config("{level: info}"),
            &format!("{KEY}.level"),
            "unknown level",
        );
        refused(
            &config("{level: DEBUG}"),
            &format!("{KEY}.level"),
            "OFF, ERROR or INFO",
        );
    }

    #[test]
    fn data_trace_needs_a_level() {
        refused(
            &config("{data_trace: true}"),
            &format!("{KEY}.data_trace"),
            "needs a level",
        );
    }

    #[test]
    fn redact_headers_are_header_names_matched_in_any_case() {
        let s = ok(&config(
            "{level: INFO, redact_headers: [X-Secret, Proxy-Authorization]}",
        ));
        let x = settings(&s).expect("on");
        assert_eq!(x.redact_headers, ["x-secret", "proxy-authorization"]);
        assert!(x.redacts(b"x-SECRET"));
        // The list replaces the defaults.
        assert!(!x.redacts(b"authorization"));
        refused(
            &config("{level: INFO, redact_headers: [ok, 'bad name']}"),
            &format!("{KEY}.redact_headers[1]"),
            "not a header name",
        );
        refused(
            &config("{level: INFO, redact_headers: ['']}"),
            &format!("{KEY}.redact_headers[0]"),
            "not a header name",
        );
    }

    #[test]
    fn destination_is_stderr_stdout_or_a_file_in_an_existing_directory() {
        let s = ok(&config("{level: INFO, destination: stdout}"));
        assert_eq!(
            settings(&s).map(|x| &x.destination),
            Some(&Destination::Stdout)
        );
        let dir = std::env::temp_dir();
        let file = dir.join("tollgate-exec.log");
        let s = ok(&config(&format!(
            "{{level: INFO, destination: '{}'}}",
            file.display()
        )));
        assert_eq!(
            settings(&s).map(|x| &x.destination),
            Some(&Destination::File(file))
        );
        // Relative to the configuration file's directory.
        let s = ok(&config("{level: INFO, destination: exec.log}"));
        assert_eq!(
            settings(&s).map(|x| &x.destination),
            Some(&Destination::File(PathBuf::from("exec.log")))
        );
        refused(
            &config("{level: INFO, destination: ''}"),
            &format!("{KEY}.destination"),
            "empty",
        );
        refused(
            &config("{level: INFO, destination: /nonexistent-dir-tollgate/exec.log}"),
            &format!("{KEY}.destination"),
            "no directory",
        );
        refused(
            &config(&format!(
                "{{level: INFO, destination: '{}'}}",
                dir.display()
            )),
            &format!("{KEY}.destination"),
            "is a directory",
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        match from_str(Path::new("t.yaml"), &config("{level: INFO, colour: blue}")) {
            Ok(_) => panic!("an unknown key validated"),
            Err(e) => assert!(e.to_string().contains("colour"), "{e}"),
        }
    }
}
