//! `apis[i].cors`: CORS as HTTP APIs configure it (API Gateway's `corsConfiguration`), on
//! any API. Validated at load into [`Cors`], where every response header value is already
//! the bytes it is sent as, so that deciding a preflight or decorating a response compares
//! bytes and writes slices: no allocation per request.
//!
//! The rules (docs/BEHAVIOUR.md, "CORS"):
//! - `allow_origins`: `*` (any origin), `scheme://*` (any origin of that scheme: API
//!   Gateway's `https://*` and `http://*`), or `scheme://host[:port]` (normalised: scheme
//!   and host lowercased, a default port, 80 for http and 443 for https, dropped, as browsers
//!   serialise origins). No path, not even a trailing `/`: such an entry would never match.
//! - `allow_methods`, `allow_headers`, `expose_headers`: HTTP tokens, or `*`.
//! - `max_age`: seconds, -1 to 86400 (API Gateway's range).
//! - `allow_credentials: true` with a `*` origin is refused, with API Gateway's message
//!   ("allow-credentials is not supported if 'allow-origin' is *").
//!
//! The decision follows the Fetch standard's CORS check, so that the gateway says yes
//! exactly when a browser would accept its answer: a preflight's method passes when listed,
//! when `*` is listed, or when it is a CORS-safelisted method (GET, HEAD, POST); each
//! requested header must be listed (case-insensitively) or `*` listed. With `*`, the
//! gateway echoes the requested method and headers instead of sending `*`, which browsers
//! take literally on credentialed requests and which never covers `Authorization`.

use serde::Deserialize;

use super::validate::Errors;

/// The longest request `Origin` the gateway echoes or matches: `scheme://host:port` with a
/// 253-character host fits with room to spare.
pub const ORIGIN_MAX: usize = 300;

/// The longest method name (API Gateway's `allowMethods` entries: 1 to 64 characters).
pub const METHOD_MAX: usize = 64;

/// Response header names, as written (lowercase: HTTP/2 requires it).
pub const ALLOW_ORIGIN: &[u8] = b"access-control-allow-origin";
pub const ALLOW_CREDENTIALS: &[u8] = b"access-control-allow-credentials";
pub const ALLOW_METHODS: &[u8] = b"access-control-allow-methods";
pub const ALLOW_HEADERS: &[u8] = b"access-control-allow-headers";
pub const EXPOSE_HEADERS: &[u8] = b"access-control-expose-headers";
pub const MAX_AGE: &[u8] = b"access-control-max-age";
pub const VARY: &[u8] = b"vary";

/// `apis[i].cors`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsFile {
    /// `*`, `scheme://*`, or `scheme://host[:port]` entries.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for (`*`: any).
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for (`*`: any).
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read (`Access-Control-Expose-Headers`).
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Seconds a browser may cache a preflight's answer (-1 to 86400).
    #[serde(default)]
    pub max_age: Option<i64>,
    /// Send `Access-Control-Allow-Credentials: true` (not with a `*` origin).
    #[serde(default)]
    pub allow_credentials: bool,
}

/// An API's CORS configuration, validated, with its header values precomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `*` among the origins.
    any_origin: bool,
    /// `scheme://host[:port]`, normalised (lowercase, no default port).
    origins: Vec<Box<[u8]>>,
    /// `scheme://` prefixes of `scheme://*` entries (lowercase).
    any_of_scheme: Vec<Box<[u8]>>,
    any_method: bool,
    /// Uppercase method names.
    methods: Vec<Box<[u8]>>,
    any_header: bool,
    /// Lowercase header names.
    headers: Vec<Box<[u8]>>,
    /// `Access-Control-Allow-Methods` for a listed set (empty: none listed).
    allow_methods: Box<[u8]>,
    /// `Access-Control-Allow-Headers` for a listed set (empty: none listed).
    allow_headers: Box<[u8]>,
    /// `Access-Control-Expose-Headers` (empty: none).
    expose_headers: Box<[u8]>,
    /// `Access-Control-Max-Age` (empty: not sent).
    max_age: Box<[u8]>,
    credentials: bool,
}

/// How an allowed origin is answered in `Access-Control-Allow-Origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowOrigin<'a> {
    /// `*` (any origin, no credentials).
    Any,
    /// The listed origin, as configured (the request's, byte for byte but for case).
    Listed(&'a [u8]),
    /// The request's own origin (a `scheme://*` entry matched it).
    Echo,
}

/// Why a preflight was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Origin,
    Method,
    Headers,
}

/// A preflight's request, as the decision reads it: the `Origin`, the
/// `Access-Control-Request-Method` and every `Access-Control-Request-Headers` line.
#[derive(Debug, Clone, Copy)]
pub struct PreflightRequest<'a, H> {
    pub origin: &'a [u8],
    pub method: &'a [u8],
    pub headers: H,
}

impl Cors {
    /// Whether responses depend on the request's `Origin` (then they carry
    /// `Vary: Origin`): any origin list but a lone `*`.
    pub fn varies(&self) -> bool {
        !self.any_origin
    }

    pub fn credentials(&self) -> bool {
        self.credentials
    }

    /// How `origin` (the request's `Origin` value) is answered, if it is allowed.
    pub fn allow_origin(&self, origin: &[u8]) -> Option<AllowOrigin<'_>> {
        if self.any_origin {
            return Some(AllowOrigin::Any);
        }
        if let Some(o) = self.origins.iter().find(|o| o.eq_ignore_ascii_case(origin)) {
            return Some(AllowOrigin::Listed(o));
        }
        let echo = self.any_of_scheme.iter().any(|prefix| {
            origin.len() > prefix.len()
                && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
                && is_host_port(&origin[prefix.len()..])
        });
        (echo && origin.len() <= ORIGIN_MAX).then_some(AllowOrigin::Echo)
    }

    /// Whether a preflight may ask for `method` (the Fetch rule: listed, `*`, or a
    /// CORS-safelisted method).
    pub fn allows_method(&self, method: &[u8]) -> bool {
        if method.is_empty() || method.len() > METHOD_MAX || !method.iter().all(|&b| tchar(b)) {
            return false;
        }
        self.any_method
            || matches!(method, b"GET" | b"HEAD" | b"POST")
            || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Whether a preflight may ask for every header named in `lines` (the
    /// `Access-Control-Request-Headers` values: comma-separated names).
    pub fn allows_headers<'h>(&self, lines: impl IntoIterator<Item = &'h [u8]>) -> bool {
        lines.into_iter().all(|line| {
            line.split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|n| !n.is_empty())
                .all(|name| {
                    name.iter().all(|&b| tchar(b))
                        && (self.any_header
                            || self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)))
                })
        })
    }

    /// Decide a preflight: the answer for its origin, or why it is refused.
    pub fn preflight<'h, H: IntoIterator<Item = &'h [u8]>>(
        &self,
        req: PreflightRequest<'_, H>,
    ) -> Result<AllowOrigin<'_>, Refusal> {
        let origin = self.allow_origin(req.origin).ok_or(Refusal::Origin)?;
        if !self.allows_method(req.method) {
            return Err(Refusal::Method);
        }
        if !self.allows_headers(req.headers) {
            return Err(Refusal::Headers);
        }
        Ok(origin)
    }

    /// The headers of an allowed preflight's answer: `origin` is the request's `Origin`,
    /// `allowed` the decision, `method` the requested method and `requested_headers` the
    /// requested header names (one line, or `None` when the request named none or they
    /// were too long to echo), both echoed where `*` is configured.
    pub fn preflight_headers<'a>(
        &'a self,
        origin: &'a [u8],
        allowed: AllowOrigin<'a>,
        method: &'a [u8],
        requested_headers: Option<&'a [u8]>,
        mut emit: impl FnMut(&'a [u8], &'a [u8]),
    ) {
        self.origin_headers(origin, allowed, &mut emit);
        if self.any_method {
            emit(ALLOW_METHODS, method);
        } else if !self.allow_methods.is_empty() {
            emit(ALLOW_METHODS, &self.allow_methods);
        }
        if self.any_header {
            if let Some(h) = requested_headers.filter(|h| !h.is_empty()) {
                emit(ALLOW_HEADERS, h);
            }
        } else if !self.allow_headers.is_empty() {
            emit(ALLOW_HEADERS, &self.allow_headers);
        }
        if !self.max_age.is_empty() {
            emit(MAX_AGE, &self.max_age);
        }
        if self.varies() {
            emit(VARY, b"Origin");
        }
    }

    /// The headers of an actual response (not a preflight) to a request with this `Origin`
    /// (`None`: it sent none).
    pub fn response_headers<'a>(
        &'a self,
        origin: Option<&'a [u8]>,
        mut emit: impl FnMut(&'a [u8], &'a [u8]),
    ) {
        if let Some(origin) = origin {
            if let Some(allowed) = self.allow_origin(origin) {
                self.origin_headers(origin, allowed, &mut emit);
                if !self.expose_headers.is_empty() {
                    emit(EXPOSE_HEADERS, &self.expose_headers);
                }
            }
        }
        if self.varies() {
            emit(VARY, b"Origin");
        }
    }

    /// `Access-Control-Allow-Origin` and `-Allow-Credentials`.
    fn origin_headers<'a>(
        &'a self,
        origin: &'a [u8],
        allowed: AllowOrigin<'a>,
        emit: &mut impl FnMut(&'a [u8], &'a [u8]),
    ) {
        let value: &[u8] = match allowed {
            AllowOrigin::Any => b"*",
            AllowOrigin::Listed(o) => o,
            AllowOrigin::Echo => origin,
        };
        emit(ALLOW_ORIGIN, value);
        if self.credentials {
            emit(ALLOW_CREDENTIALS, b"true");
        }
    }
}

/// An HTTP token character (RFC 9110 `tchar`).
fn tchar(b: u8) -> bool {
    super::validate::is_tchar(b)
}

/// `host[:port]` of an origin, split: a registered name (letters, digits, `-`, `.`, `_`)
/// or a bracketed IPv6 literal, then an optional port of 1 to 5 digits (its value).
fn split_host_port(s: &[u8]) -> Option<(&[u8], Option<u32>)> {
    let host_end = if s.first() == Some(&b'[') {
        let end = s.iter().position(|&b| b == b']')?;
        let literal = &s[1..end];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        ok.then_some(end + 1)?
    } else {
        let end = s.iter().position(|&b| b == b':').unwrap_or(s.len());
        let ok = end > 0
            && s[..end]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        ok.then_some(end)?
    };
    let (host, rest) = s.split_at(host_end);
    match rest.strip_prefix(b":") {
        None if rest.is_empty() => Some((host, None)),
        None => None,
        Some(digits) => {
            if !(1..=5).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let port = digits
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
            Some((host, Some(port)))
        }
    }
}

/// Whether `s` is `host[:port]` with a port of at most 65535.
fn is_host_port(s: &[u8]) -> bool {
    split_host_port(s).is_some_and(|(_, port)| port.is_none_or(|p| p <= 65535))
}

/// A URI scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// What an `allow_origins` entry is.
#[derive(Debug, PartialEq, Eq)]
enum OriginEntry {
    Any,
    /// `scheme://` (lowercase) of a `scheme://*` entry.
    AnyOfScheme(String),
    /// The normalised origin.
    Exact(String),
}

/// Parse one `allow_origins` entry.
fn parse_origin(entry: &str) -> Result<OriginEntry, String> {
    if entry == "*" {
        return Ok(OriginEntry::Any);
    }
    let shape = "an origin is `*`, `scheme://*` (`https://*`) or `scheme://host[:port]` \
                 (`https://www.example.com`)";
    if entry == "null" {
        return Err(format!(
            "`null` is refused: any sandboxed page or local file sends it ({shape})"
        ));
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return Err(format!("`{entry}` has no scheme: {shape}"));
    };
    if !is_scheme(scheme) {
        return Err(format!(
            "`{entry}`: `{scheme}` is not a URI scheme ({shape})"
        ));
    }
    let scheme = scheme.to_ascii_lowercase();
    if rest == "*" {
        return Ok(OriginEntry::AnyOfScheme(format!("{scheme}://")));
    }
    if rest.contains('*') {
        return Err(format!(
            "`{entry}`: the only wildcards are `*` and `{scheme}://*` (any origin of that scheme)"
        ));
    }
    if let Some(at) = rest.find(['/', '?', '#']) {
        let what = if &rest[at..] == "/" {
            "a trailing `/`: browsers send origins without one, so this entry would never \
             match (drop the `/`)"
                .to_string()
        } else {
            format!(
                "`{}` after the host: an origin has no path, query or fragment",
                &rest[at..]
            )
        };
        return Err(format!("`{entry}` has {what}"));
    }
    if rest.contains('@') {
        return Err(format!(
            "`{entry}`: an origin has no user information ({shape})"
        ));
    }
    if !rest.is_ascii() {
        return Err(format!(
            "`{entry}`: write an internationalised host name in its ASCII (`xn--`) form, \
             as browsers send it"
        ));
    }
    let Some((host, port)) = split_host_port(rest.as_bytes()) else {
        return Err(format!(
            "`{entry}`: `{rest}` is not a host with an optional port ({shape})"
        ));
    };
    if port.is_some_and(|p| p == 0 || p > 65535) {
        return Err(format!("`{entry}`: the port must be 1-65535"));
    }
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    // Browsers leave a scheme's default port out of the origins they send.
    let host_port = match port {
        Some(p) if Some(p) != default_port => format!("{}:{p}", String::from_utf8_lossy(host)),
        _ => String::from_utf8_lossy(host).into_owned(),
    }
    .to_ascii_lowercase();
    let origin = format!("{scheme}://{host_port}");
    if origin.len() > ORIGIN_MAX {
        return Err(format!(
            "`{entry}` is longer than any origin a browser sends ({ORIGIN_MAX} bytes)"
        ));
    }
    Ok(OriginEntry::Exact(origin))
}

/// Parse a list of tokens (or `*`): (any, the names normalised by `norm`), errors pushed.
fn tokens(
    e: &mut Errors,
    list: &[String],
    path: &str,
    what: &str,
    max: usize,
    norm: fn(&str) -> String,
) -> (bool, Vec<String>) {
    let mut any = false;
    let mut names: Vec<String> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        if entry == "*" {
            any = true;
            continue;
        }
        if entry.is_empty() || !entry.bytes().all(tchar) {
            e.push(
                format!("{path}[{i}]"),
                format!(
                    "`{entry}` is not {what} (an HTTP token such as {example}) or `*`",
                    example = if what.contains("method") {
                        "`GET`"
                    } else {
                        "`content-type`"
                    }
                ),
            );
            continue;
        }
        if entry.len() > max {
            e.push(
                format!("{path}[{i}]"),
                format!("`{entry}` is longer than {max} characters"),
            );
            continue;
        }
        let n = norm(entry);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    (any, names)
}

fn join(names: &[String]) -> Box<[u8]> {
    names.join(",").into_bytes().into_boxed_slice()
}

/// The longest header name accepted in a list (a generous bound on a real name).
const HEADER_NAME_MAX: usize = 256;

pub(super) fn build(e: &mut Errors, f: &CorsFile, path: &str) -> Option<Cors> {
    let errors_before = e.count();
    let mut any_origin = false;
    let mut origins: Vec<Box<[u8]>> = Vec::new();
    let mut any_of_scheme: Vec<Box<[u8]>> = Vec::new();
    for (i, entry) in f.allow_origins.iter().enumerate() {
        match parse_origin(entry) {
            Ok(OriginEntry::Any) => any_origin = true,
            Ok(OriginEntry::AnyOfScheme(prefix)) => {
                let p = prefix.into_bytes().into_boxed_slice();
                if !any_of_scheme.contains(&p) {
                    any_of_scheme.push(p);
                }
            }
            Ok(OriginEntry::Exact(o)) => {
                let o = o.into_bytes().into_boxed_slice();
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
            Err(reason) => e.push(format!("{path}.allow_origins[{i}]"), reason),
        }
    }
    if f.allow_credentials && any_origin {
        e.push(
            format!("{path}.allow_credentials"),
            "allow-credentials is not supported if 'allow-origin' is * (API Gateway refuses \
             it: list the origins instead)",
        );
    }
    let (any_method, methods) = tokens(
        e,
        &f.allow_methods,
        &format!("{path}.allow_methods"),
        "a method",
        METHOD_MAX,
        str::to_ascii_uppercase,
    );
    let (any_header, headers) = tokens(
        e,
        &f.allow_headers,
        &format!("{path}.allow_headers"),
        "a header name",
        HEADER_NAME_MAX,
        str::to_ascii_lowercase,
    );
    let (any_exposed, exposed) = tokens(
        e,
        &f.expose_headers,
        &format!("{path}.expose_headers"),
        "a header name",
        HEADER_NAME_MAX,
        str::to_ascii_lowercase,
    );
    let max_age = match f.max_age {
        None => Box::default(),
        Some(s) if (-1..=86400).contains(&s) => s.to_string().into_bytes().into_boxed_slice(),
        Some(s) => {
            e.push(
                format!("{path}.max_age"),
                format!("{s} is outside API Gateway's range: -1 to 86400 seconds"),
            );
            Box::default()
        }
    };
    if e.count() != errors_before {
        return None;
    }
    let expose_headers = if any_exposed {
        // `*` exposes every header to requests without credentials; listed names are kept
        // too (they still apply to credentialed requests, for which `*` is literal).
        let mut all = vec!["*".to_string()];
        all.extend(exposed);
        join(&all)
    } else {
        join(&exposed)
    };
    Some(Cors {
        any_origin,
        origins,
        any_of_scheme,
        any_method,
        allow_methods: join(&methods),
        methods: methods
            .into_iter()
            .map(|m| m.into_bytes().into_boxed_slice())
            .collect(),
        any_header,
        allow_headers: join(&headers),
        headers: headers
            .into_iter()
            .map(|h| h.into_bytes().into_boxed_slice())
            .collect(),
        expose_headers,
        max_age,
        credentials: f.allow_credentials,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Build `cors` (a YAML flow mapping) on a one-route API: its `Cors`, or the errors as
    /// (path, reason).
    fn load(cors: &str) -> Result<Cors, Vec<(String, String)>> {
        let yaml = format!(
            "listeners: [{{name: l, bind: 127.0.0.1:0, default_api: a}}]
apis:
  - id: a
    type: HTTP
    cors: {cors}
    routes: [{{route: GET /x, integration: {{type: MOCK, status: 200}}}}]
    stages: [{{name: $default}}]
"
        );
        match crate::config::validate::from_str(Path::new("c.yaml"), &yaml) {
            Ok(s) => Ok(s.apis[0].cors.clone().expect("cors configured")),
            Err(e) => Err(e.0.into_iter().map(|e| (e.path, e.reason)).collect()),
        }
    }

    fn refused(cors: &str, path: &str, words: &str) {
        let errors = load(cors).expect_err(cors);
        assert!(
            errors.iter().any(|(p, r)| p == path && r.contains(words)),
            "{cors}: expected `{words}` at {path}, got {errors:?}"
        );
    }

    /// Every header `response_headers` emits, as strings.
    fn response(c: &Cors, origin: Option<&str>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        c.response_headers(origin.map(str::as_bytes), |n, v| {
            out.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        });
        out
    }

    fn preflight(
        c: &Cors,
        origin: &str,
        method: &str,
        headers: &[&str],
    ) -> Result<Vec<(String, String)>, Refusal> {
        let lines = headers.iter().map(|h| h.as_bytes());
        let allowed = c.preflight(PreflightRequest {
            origin: origin.as_bytes(),
            method: method.as_bytes(),
            headers: lines,
        })?;
        let joined = headers.join(",");
        let mut out = Vec::new();
        c.preflight_headers(
            origin.as_bytes(),
            allowed,
            method.as_bytes(),
            (!headers.is_empty()).then_some(joined.as_bytes()),
            |n, v| {
                out.push((
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ))
            },
        );
        Ok(out)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn origin_entries_are_parsed_and_normalised() {
        use OriginEntry::*;
        let ok = |s: &str| parse_origin(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("*"), Any);
        assert_eq!(ok("https://*"), AnyOfScheme("https://".into()));
        assert_eq!(ok("HTTP://*"), AnyOfScheme("http://".into()));
        assert_eq!(
            ok("https://www.example.com"),
            Exact("https://www.example.com".into())
        );
        assert_eq!(
            ok("https://WWW.Example.COM"),
            Exact("https://www.example.com".into())
        );
        assert_eq!(
            ok("HTTPS://a.example:8443"),
            Exact("https://a.example:8443".into())
        );
        // A scheme's default port is what browsers leave out.
        assert_eq!(
            ok("https://a.example:443"),
            Exact("https://a.example".into())
        );
        assert_eq!(ok("http://a.example:80"), Exact("http://a.example".into()));
        assert_eq!(
            ok("http://a.example:443"),
            Exact("http://a.example:443".into())
        );
        assert_eq!(
            ok("http://localhost:3000"),
            Exact("http://localhost:3000".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:8080"),
            Exact("http://127.0.0.1:8080".into())
        );
        assert_eq!(ok("http://[::1]:8080"), Exact("http://[::1]:8080".into()));
        assert_eq!(
            ok("https://[2001:DB8::1]"),
            Exact("https://[2001:db8::1]".into())
        );
        assert_eq!(
            ok("chrome-extension://abcdefghijklmnop"),
            Exact("chrome-extension://abcdefghijklmnop".into())
        );
        assert_eq!(
            ok("capacitor://localhost"),
            Exact("capacitor://localhost".into())
        );
    }

    #[test]
    fn bad_origin_entries_are_refused_with_the_reason() {
        for (entry, words) in [
            ("https://www.example.com/", "trailing `/`"),
            ("https://www.example.com/app", "no path"),
            ("https://a.example?x=1", "no path, query"),
            ("www.example.com", "no scheme"),
            ("", "no scheme"),
            ("null", "`null` is refused"),
            ("1http://a.example", "not a URI scheme"),
            ("https://*.example.com", "only wildcards"),
            ("*.example.com", "no scheme"),
            ("https://", "not a host"),
            ("https://a.example:", "not a host"),
            ("https://a.example:0", "port must be 1-65535"),
            ("https://a.example:65536", "port must be 1-65535"),
            ("https://a.example:123456", "not a host"),
            ("https://a.example:https", "not a host"),
            ("https://user@a.example", "no user information"),
            ("https://bücher.example", "xn--"),
            ("https://a example", "not a host"),
            ("https://[zz::1]", "not a host"),
            ("https://[::1", "not a host"),
        ] {
            let err = parse_origin(entry).expect_err(entry);
            assert!(err.contains(words), "{entry}: {err}");
        }
        let long = format!("https://{}.example", "a".repeat(ORIGIN_MAX));
        assert!(parse_origin(&long).unwrap_err().contains("longer than"));
    }

    #[test]
    fn host_and_port_of_request_origins() {
        for ok in [
            "a.example",
            "a.example:1",
            "a.example:65535",
            "[::1]",
            "[::1]:80",
            "a_b-c.d",
        ] {
            assert!(is_host_port(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "a.example:",
            "a.example:65536",
            "a.example:123456",
            "a.example/x",
            "a example",
            "a.example:8a",
            "[::1",
            "[]",
            "[::1]x",
            "a,b",
            "\"a\"",
        ] {
            assert!(!is_host_port(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn a_star_origin_with_credentials_is_refused_as_api_gateway_does() {
        refused(
            "{allow_origins: ['*'], allow_credentials: true}",
            "apis[0].cors.allow_credentials",
            "allow-credentials is not supported if 'allow-origin' is *",
        );
        // Listed origins (and scheme wildcards, which echo the origin) may carry them.
        assert!(load("{allow_origins: ['https://a.example'], allow_credentials: true}").is_ok());
        assert!(load("{allow_origins: ['https://*'], allow_credentials: true}").is_ok());
    }

    #[test]
    fn every_list_and_max_age_is_validated() {
        refused(
            "{allow_origins: ['https://a.example/']}",
            "apis[0].cors.allow_origins[0]",
            "trailing `/`",
        );
        refused(
            "{allow_methods: [GET, 'GE T']}",
            "apis[0].cors.allow_methods[1]",
            "not a method",
        );
        refused(
            &format!("{{allow_methods: [{}]}}", "X".repeat(METHOD_MAX + 1)),
            "apis[0].cors.allow_methods[0]",
            "longer than 64",
        );
        refused(
            "{allow_methods: ['']}",
            "apis[0].cors.allow_methods[0]",
            "not a method",
        );
        refused(
            "{allow_headers: ['x-ok', 'bad:name']}",
            "apis[0].cors.allow_headers[1]",
            "not a header name",
        );
        refused(
            "{expose_headers: ['a b']}",
            "apis[0].cors.expose_headers[0]",
            "not a header name",
        );
        refused("{max_age: 86401}", "apis[0].cors.max_age", "-1 to 86400");
        refused("{max_age: -2}", "apis[0].cors.max_age", "-1 to 86400");
        refused(
            "{allow_origin: ['*']}",
            "apis[0].cors.allow_origin",
            "unknown field",
        );
        for ok in ["{max_age: -1}", "{max_age: 0}", "{max_age: 86400}", "{}"] {
            assert!(load(ok).is_ok(), "{ok}");
        }
        // Every problem is reported, not just the first.
        let errors = load("{allow_origins: ['x', 'y'], max_age: 99999}").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn header_values_are_precomputed() {
        let c = load(
            "{allow_origins: ['https://a.example'], allow_methods: [get, POST, get], \
             allow_headers: [Content-Type, X-Api-Key], expose_headers: [X-Request-Id, Date], \
             max_age: 300, allow_credentials: true}",
        )
        .unwrap();
        assert_eq!(&*c.allow_methods, b"GET,POST");
        assert_eq!(&*c.allow_headers, b"content-type,x-api-key");
        assert_eq!(&*c.expose_headers, b"x-request-id,date");
        assert_eq!(&*c.max_age, b"300");
        assert!(c.credentials() && c.varies());
        let star = load("{allow_origins: ['*'], expose_headers: ['*', x-a]}").unwrap();
        assert_eq!(&*star.expose_headers, b"*,x-a");
        assert!(!star.varies());
        assert!(star.max_age.is_empty());
    }

    #[test]
    fn origin_decision_table() {
        let c = load(
            "{allow_origins: ['https://a.example', 'http://localhost:3000', 'https://b.example:443']}",
        )
        .unwrap();
        assert_eq!(
            c.allow_origin(b"https://a.example"),
            Some(AllowOrigin::Listed(b"https://a.example"))
        );
        // Case-insensitive, answered with the configured (lowercase) spelling.
        assert_eq!(
            c.allow_origin(b"https://A.EXAMPLE"),
            Some(AllowOrigin::Listed(b"https://a.example"))
        );
        assert!(c.allow_origin(b"https://b.example").is_some());
        assert!(c.allow_origin(b"http://localhost:3000").is_some());
        for no in [
            &b"http://a.example"[..],
            b"https://a.example:8443",
            b"https://a.example.evil",
            b"https://evil-a.example",
            b"http://localhost:3001",
            b"null",
            b"",
            b"https://a.example/",
        ] {
            assert_eq!(c.allow_origin(no), None, "{}", String::from_utf8_lossy(no));
        }
        let any = load("{allow_origins: ['*', 'https://a.example']}").unwrap();
        assert_eq!(any.allow_origin(b"null"), Some(AllowOrigin::Any));
        assert_eq!(
            any.allow_origin(b"https://x.example"),
            Some(AllowOrigin::Any)
        );
        let scheme = load("{allow_origins: ['https://*', 'http://localhost:3000']}").unwrap();
        assert_eq!(
            scheme.allow_origin(b"https://x.example"),
            Some(AllowOrigin::Echo)
        );
        assert_eq!(
            scheme.allow_origin(b"HTTPS://x.example:8443"),
            Some(AllowOrigin::Echo)
        );
        assert_eq!(scheme.allow_origin(b"http://x.example"), None);
        assert_eq!(scheme.allow_origin(b"https://"), None);
        assert_eq!(scheme.allow_origin(b"https://x.example/path"), None);
        assert_eq!(scheme.allow_origin(b"https://x y"), None);
        let long = format!("https://{}", "a".repeat(ORIGIN_MAX));
        assert_eq!(scheme.allow_origin(long.as_bytes()), None);
        let none = load("{}").unwrap();
        assert_eq!(none.allow_origin(b"https://a.example"), None);
    }

    #[test]
    fn method_and_header_decision_table() {
        let c = load(
            "{allow_origins: ['https://a.example'], allow_methods: [PUT, PATCH], \
             allow_headers: [content-type, x-api-key]}",
        )
        .unwrap();
        // Listed (any case), and the CORS-safelisted methods whatever the list.
        for m in ["PUT", "put", "PATCH", "GET", "HEAD", "POST"] {
            assert!(c.allows_method(m.as_bytes()), "{m}");
        }
        for m in ["DELETE", "OPTIONS", "", "PU T", "get", &"X".repeat(65)] {
            assert!(!c.allows_method(m.as_bytes()), "{m}");
        }
        let lines = |l: &[&'static str]| l.iter().map(|s| s.as_bytes()).collect::<Vec<_>>();
        assert!(c.allows_headers(lines(&[])));
        assert!(c.allows_headers(lines(&["content-type"])));
        assert!(c.allows_headers(lines(&["Content-Type, X-API-Key"])));
        assert!(c.allows_headers(lines(&["content-type", "x-api-key"])));
        assert!(c.allows_headers(lines(&[" content-type ,, "])));
        assert!(!c.allows_headers(lines(&["content-type, authorization"])));
        assert!(!c.allows_headers(lines(&["content-type", "x-other"])));
        assert!(!c.allows_headers(lines(&["content type"])));
        let any =
            load("{allow_origins: ['*'], allow_methods: ['*'], allow_headers: ['*']}").unwrap();
        assert!(any.allows_method(b"PURGE"));
        assert!(!any.allows_method(b"BAD METHOD"));
        assert!(any.allows_headers(lines(&["authorization, x-anything"])));
        assert!(!any.allows_headers(lines(&["bad header"])));
    }

    #[test]
    fn preflight_answers() {
        let c = load(
            "{allow_origins: ['https://a.example'], allow_methods: [GET, PUT], \
             allow_headers: [content-type], expose_headers: [x-id], max_age: 600, \
             allow_credentials: true}",
        )
        .unwrap();
        assert_eq!(
            preflight(&c, "https://a.example", "PUT", &["content-type"]).unwrap(),
            pairs(&[
                ("access-control-allow-origin", "https://a.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET,PUT"),
                ("access-control-allow-headers", "content-type"),
                ("access-control-max-age", "600"),
                ("vary", "Origin"),
            ])
        );
        assert_eq!(
            preflight(&c, "https://b.example", "PUT", &[]),
            Err(Refusal::Origin)
        );
        assert_eq!(
            preflight(&c, "https://a.example", "DELETE", &[]),
            Err(Refusal::Method)
        );
        assert_eq!(
            preflight(&c, "https://a.example", "PUT", &["x-secret"]),
            Err(Refusal::Headers)
        );
        // `*`: the requested method and headers are echoed, origin `*`, no Vary, no
        // credentials; without requested headers, no Allow-Headers.
        let any =
            load("{allow_origins: ['*'], allow_methods: ['*'], allow_headers: ['*']}").unwrap();
        assert_eq!(
            preflight(
                &any,
                "https://x.example",
                "PURGE",
                &["authorization", "x-a"]
            )
            .unwrap(),
            pairs(&[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-methods", "PURGE"),
                ("access-control-allow-headers", "authorization,x-a"),
            ])
        );
        assert_eq!(
            preflight(&any, "https://x.example", "GET", &[]).unwrap(),
            pairs(&[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-methods", "GET"),
            ])
        );
        // A scheme wildcard echoes the request's origin.
        let scheme = load("{allow_origins: ['https://*']}").unwrap();
        assert_eq!(
            preflight(&scheme, "https://x.example:8443", "POST", &[]).unwrap(),
            pairs(&[
                ("access-control-allow-origin", "https://x.example:8443"),
                ("vary", "Origin"),
            ])
        );
    }

    #[test]
    fn actual_response_headers() {
        let c = load(
            "{allow_origins: ['https://a.example'], expose_headers: [x-id, date], \
             allow_methods: [PUT], max_age: 60, allow_credentials: true}",
        )
        .unwrap();
        assert_eq!(
            response(&c, Some("https://a.example")),
            pairs(&[
                ("access-control-allow-origin", "https://a.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "x-id,date"),
                ("vary", "Origin"),
            ])
        );
        // Not allowed, or no Origin: only Vary (the answer depends on the Origin).
        assert_eq!(
            response(&c, Some("https://b.example")),
            pairs(&[("vary", "Origin")])
        );
        assert_eq!(response(&c, None), pairs(&[("vary", "Origin")]));
        let any = load("{allow_origins: ['*']}").unwrap();
        assert_eq!(
            response(&any, Some("https://b.example")),
            pairs(&[("access-control-allow-origin", "*")])
        );
        assert_eq!(response(&any, None), pairs(&[]));
    }
}
