//! Integration URI templates: `http://host:port/base/{param}/${stageVariables.name}/{proxy}`.
//!
//! CONTRACT (implemented by the routing work):
//! - `UriTemplate::parse(s)` accepts only `http://` URIs (https arrives with target groups),
//!   with an authority (`host[:port]`, port default 80; IPv6 as `[::1]:port`) that may itself
//!   contain `${stageVariables.x}`. Errors are reason strings.
//! - Placeholders: `{name}` (a path parameter of the route; `{proxy}` for `{proxy+}`) and
//!   `${stageVariables.name}`. `{name}` may appear anywhere after the authority.
//! - `render` appends the URI with every placeholder substituted to `out` and returns
//!   `Err(name)` for a placeholder without a value (the request then fails with 500
//!   API_CONFIGURATION_ERROR). It allocates nothing beyond growing `out`.
//! - `split_rendered(out)` splits a rendered URI into (host, port, path-and-query) where
//!   path-and-query starts with `/` (a bare authority gives `/`).
//! - An authority without placeholders (the common case) is split and checked once, by
//!   `parse`: `authority()` gives it, `render_path` renders only the path and query (checked
//!   per request with `check_path`), and `static_path()` gives a path and query without
//!   placeholders, which needs no rendering at all.

use std::net::Ipv6Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    PathParam(String),
    StageVar(String),
}

#[derive(Debug, Clone)]
pub struct UriTemplate {
    /// The template as written.
    raw: String,
    /// Literal text (adjacent pieces merged; the scheme normalised to `http://`) and placeholders.
    parts: Vec<Part>,
    /// The authority when it has no placeholders: split and checked once, at parse.
    authority: Option<Authority>,
    /// With `authority`: the parts after it, the path and query (a bare authority gives a
    /// literal `/`), so that a request renders only them. Empty otherwise.
    path_parts: Vec<Part>,
}

/// An integration URI's authority without placeholders, as [`split_rendered`] would split it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// As written; an IPv6 address keeps its brackets (`[::1]`), as a `Host` header needs them.
    pub host: String,
    /// 80 when the URI names none.
    pub port: u16,
}

/// Supplies placeholder values while rendering.
pub trait UriValues {
    /// Value of path parameter `name` (raw, percent-encoded as received).
    fn path_param(&self, name: &str) -> Option<&str>;
    /// Value of stage variable `name`.
    fn stage_variable(&self, name: &str) -> Option<&str>;
}

const SCHEME: &str = "http://";
const STAGE_VARIABLES: &str = "stageVariables.";

impl UriTemplate {
    /// Parse and check an integration URI template. Besides the contract: no whitespace or
    /// control characters, no `#fragment`, no `user@` info, a `/` between the authority and a
    /// query; `{name}` names are `[A-Za-z0-9_.-]+` (`{name+}` means `{name}`), stage variable
    /// names `[A-Za-z0-9_]+`. An authority without placeholders is checked as
    /// [`split_rendered`] would check it (host characters, port 1..=65535, IPv6 address).
    pub fn parse(s: &str) -> Result<UriTemplate, String> {
        let Some(rest) = strip_scheme(s) else {
            return Err(if starts_with_ignore_case(s, "https://") {
                "only http:// integration URIs are supported (https:// arrives with target groups)"
                    .to_string()
            } else {
                "integration URI must start with 'http://'".to_string()
            });
        };
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "integration URI must not contain whitespace or control characters ({c:?})"
            ));
        }
        if s.contains('#') {
            return Err("integration URI must not contain a fragment ('#')".to_string());
        }
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest.get(..auth_end).unwrap_or("");
        if authority.is_empty() {
            return Err("integration URI has an empty host".to_string());
        }
        if rest.as_bytes().get(auth_end) == Some(&b'?') {
            return Err("integration URI needs a '/' between the host and the query".to_string());
        }

        let mut parts = vec![Part::Literal(SCHEME.to_string())];
        let b = rest.as_bytes();
        let mut i = 0;
        let mut lit_start = 0;
        let mut authority_has_placeholder = false;
        while i < b.len() {
            let (open, is_stage_var) = match b[i] {
                b'$' if b.get(i + 1) == Some(&b'{') => (i + 2, true),
                b'{' => (i + 1, false),
                b'}' => return Err("unbalanced '}' in integration URI".to_string()),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let tail = rest.get(open..).unwrap_or("");
            let close = match tail.find(['{', '}']) {
                Some(c) if tail.as_bytes()[c] == b'}' => c,
                _ => return Err("unbalanced '{' in integration URI".to_string()),
            };
            let inner = tail.get(..close).unwrap_or("");
            let part = if is_stage_var {
                match inner.strip_prefix(STAGE_VARIABLES) {
                    Some(name) if valid_stage_var(name) => Part::StageVar(name.to_string()),
                    _ => {
                        return Err(format!(
                            "unsupported placeholder '${{{inner}}}' (use ${{stageVariables.NAME}}, NAME of letters, digits, '_')"
                        ))
                    }
                }
            } else {
                let name = inner.strip_suffix('+').unwrap_or(inner);
                if !valid_param_name(name) {
                    return Err(format!(
                        "invalid path parameter '{{{inner}}}' (use letters, digits, '_', '.', '-')"
                    ));
                }
                if i < auth_end {
                    return Err(format!(
                        "path parameter '{{{inner}}}' may not appear in the host of an integration URI"
                    ));
                }
                Part::PathParam(name.to_string())
            };
            if i < auth_end {
                authority_has_placeholder = true;
            }
            push_literal(&mut parts, rest.get(lit_start..i).unwrap_or(""));
            parts.push(part);
            i = open + close + 1;
            lit_start = i;
        }
        push_literal(&mut parts, rest.get(lit_start..).unwrap_or(""));

        let (authority, path_parts) = if authority_has_placeholder {
            (None, Vec::new())
        } else {
            let (host, port) = parse_authority(authority)?;
            (
                Some(Authority {
                    host: host.to_string(),
                    port,
                }),
                path_parts(&parts, SCHEME.len() + auth_end),
            )
        };
        Ok(UriTemplate {
            raw: s.to_string(),
            parts,
            authority,
            path_parts,
        })
    }

    /// The authority, when it has no placeholders (split and checked at parse).
    pub fn authority(&self) -> Option<&Authority> {
        self.authority.as_ref()
    }

    /// The path and query, when neither the authority nor they hold a placeholder: the
    /// whole target is fixed (`/` for a bare authority), checked at parse.
    pub fn static_path(&self) -> Option<&str> {
        match (&self.authority, self.path_parts.as_slice()) {
            (Some(_), [Part::Literal(path)]) => Some(path),
            _ => None,
        }
    }

    /// With an [`authority`](Self::authority): append the rendered path and query (starting
    /// with `/`) to `out`, as [`render`](Self::render) renders them (same values, same
    /// encoding, same `Err`). Check the result with [`check_path`]. Without one: `Err`
    /// with an empty name, `out` unchanged (use `render` and `split_rendered`).
    pub fn render_path(&self, values: &dyn UriValues, out: &mut String) -> Result<(), String> {
        if self.authority.is_none() {
            return Err(String::new());
        }
        render_parts(&self.path_parts, values, out)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Names of the `{path params}` the template uses (validation checks them against the route).
    /// In order of first use, each once; `{proxy+}` gives `proxy`.
    pub fn path_param_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::PathParam(n) = p {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        names
    }

    /// Names of the stage variables the template uses, in order of first use, each once.
    pub fn stage_variable_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::StageVar(n) = p {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        names
    }

    /// Append the rendered URI to `out`. A placeholder without a value gives `Err` with its
    /// name (`id` for `{id}`, `stageVariables.x` for `${stageVariables.x}`) and leaves `out`
    /// as it was. Values are inserted verbatim, except a path parameter in the query string
    /// (after the first `?`), which is percent-encoded there so it stays one value
    /// (see `push_query_value`); [`split_rendered`] checks the result.
    pub fn render(&self, values: &dyn UriValues, out: &mut String) -> Result<(), String> {
        render_parts(&self.parts, values, out)
    }
}

/// The parts of a template whose authority has no placeholders, from the byte `at` of its
/// first literal (where the path starts) on; a literal `/` when nothing follows.
fn path_parts(parts: &[Part], at: usize) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    if let Some(Part::Literal(first)) = parts.first() {
        push_literal(&mut out, first.get(at..).unwrap_or(""));
    }
    out.extend(parts.iter().skip(1).cloned());
    if out.is_empty() {
        out.push(Part::Literal("/".to_string()));
    }
    out
}

/// [`UriTemplate::render`] over `parts` (the whole template or its path and query).
fn render_parts(parts: &[Part], values: &dyn UriValues, out: &mut String) -> Result<(), String> {
    let start = out.len();
    // Past the `?` (the authority never holds one), a path parameter is a query value.
    let mut in_query = false;
    for part in parts {
        let value = match part {
            Part::Literal(s) => Some(s.as_str()),
            Part::PathParam(n) => values.path_param(n),
            Part::StageVar(n) => values.stage_variable(n),
        };
        match value {
            Some(v) if in_query && matches!(part, Part::PathParam(_)) => push_query_value(out, v),
            Some(v) => {
                out.push_str(v);
                in_query = in_query || v.bytes().any(|b| b == b'?');
            }
            None => {
                out.truncate(start);
                return Err(match part {
                    Part::StageVar(n) => format!("{STAGE_VARIABLES}{n}"),
                    Part::PathParam(n) | Part::Literal(n) => n.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Split a rendered `http://host[:port]/path?query` into (host, port, path-and-query).
///
/// The port defaults to 80; an IPv6 host keeps its brackets (`[::1]:8080` -> `[::1]`), as a
/// `Host` header needs them (strip them to parse an `IpAddr`). Errors: not `http://`,
/// whitespace or control characters anywhere, a `#`, `user@` info, an empty or malformed host,
/// a port that is empty, not a number, 0 or over 65535, or a query with no `/` before it.
pub fn split_rendered(uri: &str) -> Result<(&str, u16, &str), String> {
    let rest = strip_scheme(uri).ok_or_else(|| "not an http:// URI".to_string())?;
    check_chars(uri)?;
    let auth_end = rest
        .bytes()
        .position(|b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    let (host, port) = parse_authority(authority)?;
    let path = if path.is_empty() {
        "/"
    } else if path.starts_with('/') {
        path
    } else {
        return Err("URI needs a '/' between the host and the query".to_string());
    };
    Ok((host, port, path))
}

/// The checks [`split_rendered`] makes, for a path and query rendered by
/// [`UriTemplate::render_path`] (the authority was checked at parse, and the path starts
/// with `/` by construction): no whitespace or control characters, no `#`.
pub fn check_path(path: &str) -> Result<(), String> {
    check_chars(path)
}

/// No whitespace or control characters (ASCII or Unicode), then no `#`: one pass over the
/// bytes, and one by character only for text that is not ASCII.
fn check_chars(s: &str) -> Result<(), String> {
    const WHITESPACE: &str = "URI contains whitespace or control characters";
    let (mut ascii, mut fragment) = (true, false);
    for &b in s.as_bytes() {
        if b >= 0x80 {
            ascii = false;
        } else if b <= b' ' || b == 0x7f {
            return Err(WHITESPACE.to_string());
        } else if b == b'#' {
            fragment = true;
        }
    }
    if !ascii && s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WHITESPACE.to_string());
    }
    if fragment {
        return Err("URI contains a fragment ('#')".to_string());
    }
    Ok(())
}

/// `host[:port]` or `[v6]:port` -> (host, with an IPv6 address's brackets, port).
fn parse_authority(auth: &str) -> Result<(&str, u16), String> {
    if auth.bytes().any(|b| b == b'@') {
        return Err("user info ('user@') in a URI is not supported".to_string());
    }
    let (host, port) = if let Some(r) = auth.strip_prefix('[') {
        let Some(close) = r.bytes().position(|b| b == b']') else {
            return Err(format!("unbalanced '[' in host '{auth}'"));
        };
        let (h, after) = (
            r.get(..close).unwrap_or(""),
            r.get(close + 1..).unwrap_or(""),
        );
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address '{h}'"));
        }
        // `[` + address + `]`.
        let h = auth.get(..h.len() + 2).unwrap_or(auth);
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected text after IPv6 address in '{auth}'")),
        };
        (h, port)
    } else {
        let (h, port) = match auth.bytes().position(|b| b == b':') {
            Some(i) => (auth.get(..i).unwrap_or(""), auth.get(i + 1..)),
            None => (auth, None),
        };
        if h.is_empty() {
            return Err("URI has an empty host".to_string());
        }
        if !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
        {
            return Err(format!("invalid host '{h}'"));
        }
        (h, port)
    };
    let port = match port {
        None => 80,
        Some(p) => parse_port(p).ok_or_else(|| format!("invalid port '{p}'"))?,
    };
    Ok((host, port))
}

/// A port: ASCII digits only (leading zeros allowed), 1..=65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for b in p.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
        if n > u32::from(u16::MAX) {
            return None;
        }
    }
    u16::try_from(n).ok().filter(|&n| n != 0)
}

/// Append a path parameter's raw value (as received in the request path, so still
/// percent-encoded) as a query value: unreserved characters and valid `%XX` escapes are kept
/// (a query decoder then reads the value the path meant), every other byte is
/// percent-encoded, so `&`, `=`, `+`, `;`, `#`, `?`, `/` cannot start another parameter or
/// change the value.
fn push_query_value(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b = value.as_bytes();
    let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
    for (i, &c) in b.iter().enumerate() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~')
            || (c == b'%' && hex(i + 1) && hex(i + 2));
        if keep {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The text after `http://` (scheme matched ignoring case).
fn strip_scheme(s: &str) -> Option<&str> {
    if starts_with_ignore_case(s, SCHEME) {
        s.get(SCHEME.len()..)
    } else {
        None
    }
}

fn push_literal(parts: &mut Vec<Part>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Part::Literal(prev)) = parts.last_mut() {
        prev.push_str(text);
    } else {
        parts.push(Part::Literal(text.to_string()));
    }
}

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_stage_var(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Values {
        params: HashMap<&'static str, &'static str>,
        vars: HashMap<&'static str, &'static str>,
    }

    impl UriValues for Values {
        fn path_param(&self, name: &str) -> Option<&str> {
            self.params.get(name).copied()
        }
        fn stage_variable(&self, name: &str) -> Option<&str> {
            self.vars.get(name).copied()
        }
    }

    fn values(
        params: &[(&'static str, &'static str)],
        vars: &[(&'static str, &'static str)],
    ) -> Values {
        Values {
            params: params.iter().copied().collect(),
            vars: vars.iter().copied().collect(),
        }
    }

    fn render(t: &str, v: &Values) -> Result<String, String> {
        let t = UriTemplate::parse(t).unwrap();
        let mut out = String::new();
        t.render(v, &mut out).map(|()| out)
    }

    #[test]
    fn parse_errors() {
        let err = |s: &str| UriTemplate::parse(s).unwrap_err();
        assert!(err("https://h/").contains("only http://"));
        assert!(err("ftp://h/").contains("must start with 'http://'"));
        assert!(err("").contains("must start with 'http://'"));
        assert!(err("h/x").contains("must start with 'http://'"));
        assert!(err("http://").contains("empty host"));
        assert!(err("http:///x").contains("empty host"));
        assert!(err("http://:80/x").contains("empty host"));
        assert!(err("http://h:0/").contains("invalid port '0'"));
        assert!(err("http://h:65536/").contains("invalid port"));
        assert!(err("http://h:x/").contains("invalid port"));
        assert!(err("http://h:+80/").contains("invalid port"));
        assert!(err("http://h:/").contains("invalid port ''"));
        assert!(err("http://h/{a").contains("unbalanced '{'"));
        assert!(err("http://h/{a{b}}").contains("unbalanced '{'"));
        assert!(err("http://h/a}").contains("unbalanced '}'"));
        assert!(err("http://h/${stageVariables.x").contains("unbalanced '{'"));
        assert!(err("http://h/${foo}").contains("unsupported placeholder '${foo}'"));
        assert!(err("http://h/${stageVariables.}").contains("unsupported placeholder"));
        assert!(err("http://h/${stageVariables.a-b}").contains("unsupported placeholder"));
        assert!(err("http://h/${stagevariables.a}").contains("unsupported placeholder"));
        assert!(err("http://h/{}").contains("invalid path parameter"));
        assert!(err("http://h/{+}").contains("invalid path parameter"));
        assert!(err("http://h/{a/b}").contains("invalid path parameter"));
        assert!(err("http://h/{a$b}").contains("invalid path parameter"));
        assert!(err("http://{host}/x").contains("may not appear in the host"));
        assert!(err("http://h:{port}/x").contains("may not appear in the host"));
        assert!(err("http://h /x").contains("whitespace"));
        assert!(err("http://h/x\r\n").contains("whitespace"));
        // Every whitespace or control character, ASCII (byte path) or not (char path).
        for bad in [
            "\t", "\x0b", "\x0c", "\x7f", "\x1f", "\u{a0}", "\u{2028}", "\u{85}",
        ] {
            assert!(
                err(&format!("http://h/x{bad}y")).contains("whitespace"),
                "{bad:?}"
            );
        }
        assert!(split_rendered("http://h/caf\u{e9}").is_ok());
        assert!(err("http://h/x#frag").contains("fragment"));
        assert!(err("http://h?x=1").contains("'/' between the host and the query"));
        assert!(err("http://u@h/").contains("user info"));
        assert!(err("http://[::1/").contains("unbalanced '['"));
        assert!(err("http://[zz]:80/").contains("invalid IPv6"));
        assert!(err("http://[::1]x/").contains("unexpected text"));
        assert!(err("http://::1/").contains("empty host"));
        assert!(err("http://h!/").contains("invalid host"));
    }

    #[test]
    fn parse_accepts() {
        for s in [
            "http://h",
            "http://h/",
            "HTTP://Backend.Example:8080/a/{id}?q={q}&v=${stageVariables.v}",
            "http://[::1]:9000/x",
            "http://[::1]",
            "http://10.0.0.1:65535/",
            "http://${stageVariables.host}:${stageVariables.port}/p/{proxy+}",
            "http://${stageVariables.url}",
            "http://h/$notaplaceholder/{a.b-c_d}/$",
            "http://h/{id}{id}",
        ] {
            let t = UriTemplate::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.as_str(), s);
        }
        let t =
            UriTemplate::parse("http://h/{a}/${stageVariables.x}/{proxy+}/{a}/${stageVariables.y}")
                .unwrap();
        assert_eq!(t.path_param_names(), vec!["a", "proxy"]);
        assert_eq!(t.stage_variable_names(), vec!["x", "y"]);
        assert!(UriTemplate::parse("http://h/")
            .unwrap()
            .path_param_names()
            .is_empty());
    }

    #[test]
    fn render_substitutes_params_and_stage_vars() {
        let v = values(
            &[("id", "42"), ("proxy", "a/b%20c"), ("q", "x")],
            &[
                ("host", "backend.internal"),
                ("port", "9000"),
                ("v", "2"),
                ("url", "up:81/base"),
            ],
        );
        assert_eq!(
            render("http://h:8080/items/{id}", &v).unwrap(),
            "http://h:8080/items/42"
        );
        assert_eq!(
            render("HTTP://h/{proxy+}?q={q}&v=${stageVariables.v}", &v).unwrap(),
            "http://h/a/b%20c?q=x&v=2"
        );
        assert_eq!(
            render(
                "http://${stageVariables.host}:${stageVariables.port}/p/{proxy}",
                &v
            )
            .unwrap(),
            "http://backend.internal:9000/p/a/b%20c"
        );
        assert_eq!(
            render("http://${stageVariables.url}/{id}", &v).unwrap(),
            "http://up:81/base/42"
        );
        assert_eq!(
            render("http://h/$x/{id}{id}", &v).unwrap(),
            "http://h/$x/4242"
        );

        // Rendering appends.
        let t = UriTemplate::parse("http://h/{id}").unwrap();
        let mut out = String::from(">");
        t.render(&v, &mut out).unwrap();
        assert_eq!(out, ">http://h/42");
    }

    #[test]
    fn path_params_in_the_query_are_percent_encoded() {
        let v = values(
            &[
                ("h", "alice&role=admin"),
                ("proxy", "a/b%20c;d=e+f?g#h"),
                ("u", "caf\u{e9}%zz%4"),
            ],
            &[("q", "/base?x=1")],
        );
        // One value each: `&`, `=`, `+`, `;`, `/`, `?`, `#` cannot add or change parameters.
        assert_eq!(
            render("http://h/send?to={h}&role=user", &v).unwrap(),
            "http://h/send?to=alice%26role%3Dadmin&role=user"
        );
        assert_eq!(
            render("http://h/{proxy}?p={proxy}", &v).unwrap(),
            "http://h/a/b%20c;d=e+f?g#h?p=a%2Fb%20c%3Bd%3De%2Bf%3Fg%23h"
        );
        // Valid escapes are kept, a stray `%` and non-ASCII bytes are encoded.
        assert_eq!(
            render("http://h/x?u={u}", &v).unwrap(),
            "http://h/x?u=caf%C3%A9%25zz%254"
        );
        // A `?` from a stage variable starts the query too; stage variables stay verbatim.
        assert_eq!(
            render("http://h/v1${stageVariables.q}&to={h}", &v).unwrap(),
            "http://h/v1/base?x=1&to=alice%26role%3Dadmin"
        );
        // In the path, values stay raw (the documented behaviour).
        assert_eq!(
            render("http://h/{h}", &v).unwrap(),
            "http://h/alice&role=admin"
        );
    }

    #[test]
    fn render_reports_missing_values() {
        let v = values(&[("id", "1")], &[("v", "2")]);
        assert_eq!(render("http://h/{id}/{other}", &v).unwrap_err(), "other");
        assert_eq!(render("http://h/{proxy+}", &v).unwrap_err(), "proxy");
        assert_eq!(
            render("http://h/{id}?x=${stageVariables.nope}", &v).unwrap_err(),
            "stageVariables.nope"
        );
        // `out` is left as it was.
        let t = UriTemplate::parse("http://h/{id}/{other}").unwrap();
        let mut out = String::from("keep");
        assert!(t.render(&v, &mut out).is_err());
        assert_eq!(out, "keep");
    }

    #[test]
    fn split_rendered_cases() {
        assert_eq!(split_rendered("http://h").unwrap(), ("h", 80, "/"));
        assert_eq!(split_rendered("http://h/").unwrap(), ("h", 80, "/"));
        assert_eq!(
            split_rendered("http://h:8080/a/b?x=1&y").unwrap(),
            ("h", 8080, "/a/b?x=1&y")
        );
        assert_eq!(
            split_rendered("HTTP://Host.Example:1/a").unwrap(),
            ("Host.Example", 1, "/a")
        );
        assert_eq!(
            split_rendered("http://127.0.0.1:65535").unwrap(),
            ("127.0.0.1", 65535, "/")
        );
        assert_eq!(
            split_rendered("http://[::1]:9000/x?y").unwrap(),
            ("[::1]", 9000, "/x?y")
        );
        assert_eq!(
            split_rendered("http://[fe80::1]").unwrap(),
            ("[fe80::1]", 80, "/")
        );
        assert_eq!(
            split_rendered("http://h/a:b@c").unwrap(),
            ("h", 80, "/a:b@c")
        );

        for bad in [
            "https://h/",
            "h/x",
            "",
            "http://",
            "http:///x",
            "http://:80/",
            "http://h:0/",
            "http://h:65536/",
            "http://h:80x/",
            "http://h:/",
            "http://h /x",
            "http://h/a b",
            "http://h/a\tb",
            "http://h/a\r\nX-Injected: 1",
            "http://h?x",
            "http://h/x#y",
            "http://u:p@h/",
            "http://[::1/",
            "http://[nope]/",
            "http://[::1]80/",
            "http://h\u{e9}/",
        ] {
            assert!(split_rendered(bad).is_err(), "{bad:?}");
        }
    }
    #[test]
    fn a_static_authority_is_split_at_parse() {
        let auth = |s: &str| {
            UriTemplate::parse(s)
                .unwrap()
                .authority()
                .map(|a| (a.host.clone(), a.port))
        };
        assert_eq!(
            auth("http://127.0.0.1:18081"),
            Some(("127.0.0.1".into(), 18081))
        );
        assert_eq!(
            auth("HTTP://Up.Example/a/{id}"),
            Some(("Up.Example".into(), 80))
        );
        assert_eq!(auth("http://[::1]:9000/x"), Some(("[::1]".into(), 9000)));
        assert_eq!(auth("http://h:080/"), Some(("h".into(), 80)));
        assert_eq!(auth("http://h/${stageVariables.v}"), Some(("h".into(), 80)));
        assert_eq!(auth("http://${stageVariables.host}/x"), None);
        assert_eq!(auth("http://h:${stageVariables.port}/x"), None);
        assert_eq!(auth("http://${stageVariables.url}"), None);

        let path = |s: &str| {
            UriTemplate::parse(s)
                .unwrap()
                .static_path()
                .map(str::to_string)
        };
        assert_eq!(path("http://h").as_deref(), Some("/"));
        assert_eq!(path("http://h:81/").as_deref(), Some("/"));
        assert_eq!(path("http://h/a/b?x=1&y").as_deref(), Some("/a/b?x=1&y"));
        assert_eq!(path("http://[::1]/$x").as_deref(), Some("/$x"));
        assert_eq!(path("http://h/a/{id}"), None);
        assert_eq!(path("http://h/a?v=${stageVariables.v}"), None);
        assert_eq!(path("http://${stageVariables.h}/a"), None);
    }

    #[test]
    fn render_path_is_the_path_render_and_split_rendered_give() {
        let v = values(
            &[
                ("id", "42"),
                ("proxy", "a/b%20c;d?e"),
                ("sp", "a b"),
                ("hash", "x#y"),
                ("uni", "caf\u{e9}"),
            ],
            &[
                ("v", "2"),
                ("q", "/base?x=1"),
                ("ws", "a\u{a0}b"),
                ("h", "up:81"),
            ],
        );
        for t in [
            "http://h",
            "http://h:8080/",
            "http://h/items/{id}",
            "HTTP://h/{proxy+}?q={proxy}&v=${stageVariables.v}",
            "http://[::1]:9/v1${stageVariables.q}&to={proxy}",
            "http://h/{sp}",
            "http://h/{hash}",
            "http://h/{uni}",
            "http://h/x${stageVariables.ws}",
            "http://h/{missing}",
            "http://h/${stageVariables.missing}",
            "http://h/a?x={hash}",
        ] {
            let tpl = UriTemplate::parse(t).unwrap();
            let mut full = String::new();
            let whole = tpl.render(&v, &mut full).and_then(|()| {
                split_rendered(&full).map(|(h, p, pq)| (h.to_string(), p, pq.to_string()))
            });
            let a = tpl.authority().unwrap();
            let mut path = String::from("keep");
            let parts = tpl.render_path(&v, &mut path).and_then(|()| {
                let pq = path.strip_prefix("keep").unwrap();
                check_path(pq).map(|()| (a.host.clone(), a.port, pq.to_string()))
            });
            assert_eq!(parts, whole, "{t}");
            if let Some(p) = tpl.static_path() {
                assert_eq!(Ok(p), whole.as_ref().map(|w| w.2.as_str()), "{t}");
            }
        }
        // Without a static authority there is no path render.
        let tpl = UriTemplate::parse("http://${stageVariables.h}/x").unwrap();
        let mut out = String::from("keep");
        assert!(tpl.render_path(&v, &mut out).is_err());
        assert_eq!(out, "keep");
    }

    #[test]
    fn check_path_refuses_what_split_rendered_refuses() {
        assert_eq!(check_path("/a/b?c=d&e"), Ok(()));
        assert_eq!(check_path("/caf\u{e9}"), Ok(()));
        for bad in [
            "/a b",
            "/a\tb",
            "/a\x7f",
            "/\u{85}",
            "/\u{2028}",
            "/a\u{e9}\u{a0}",
        ] {
            assert!(
                check_path(bad).unwrap_err().contains("whitespace"),
                "{bad:?}"
            );
        }
        assert!(check_path("/a#b").unwrap_err().contains("fragment"));
        // Whitespace is named before a fragment, as split_rendered does.
        assert!(check_path("/#a b").unwrap_err().contains("whitespace"));
        assert!(check_path("/#\u{e9}\u{a0}")
            .unwrap_err()
            .contains("whitespace"));
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("1"), Some(1));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("0000080"), Some(80));
        for bad in [
            "",
            "0",
            "00",
            "65536",
            "99999999999",
            "+1",
            "-1",
            "1 ",
            "8o",
            "\u{661}",
        ] {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }
}
