//! Parse errors: a serde_yaml_ng error turned into one `ConfigError` with its key path.

use super::{clip_path, clip_quoted, ConfigError};
use std::path::Path;

/// Only whitespace and comments: serde would say "EOF while parsing a value".
pub(super) fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

/// Turn a serde_yaml_ng error into one `ConfigError`: the key path it names (if any) becomes
/// the path; line and column go into the reason.
pub(super) fn parse_error(source: &Path, err: &serde_yaml_ng::Error) -> ConfigError {
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
pub(super) fn split_key_path(msg: &str) -> (String, &str) {
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

#[cfg(test)]
mod tests {
    use crate::config::validate::tests::*;

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
}
