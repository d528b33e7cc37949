//! Command line of `tollgate load`: options (parsed by `clap`), the target URL, durations,
//! headers, and the request bytes built from them.

use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `tollgate load`, as `clap` reads them: each value is checked here (a bad
/// one exits with status 2 naming the option); checks between options are in
/// [`LoadArgs::into_options`].
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Exit status: 0 when the run got at least one response, 1 when it got \
                        none (or the target cannot be resolved), 2 for bad arguments."
)]
pub struct LoadArgs {
    /// http://HOST[:PORT]/PATH or https://...
    #[arg(value_name = "URL")]
    pub url: String,
    /// concurrent connections
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = positive)]
    pub connections: usize,
    /// load threads, each a monoio runtime; connections are spread over them
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = positive)]
    pub threads: usize,
    /// pin thread i to the i-th listed CPU (round robin)
    #[arg(long, value_name = "0,1", value_delimiter = ',', value_parser = cpu)]
    pub cpus: Vec<usize>,
    /// how long to measure [default: 10s]; or --requests
    #[arg(long, value_name = "10s", value_parser = positive_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// stop after N measured requests
    #[arg(long, value_name = "N", value_parser = positive)]
    pub requests: Option<usize>,
    /// open loop at R requests/s in total (latency from the intended send time); without it,
    /// closed loop
    #[arg(long, value_name = "R", value_parser = rate)]
    pub rate: Option<f64>,
    /// a new TCP connection per request (default keep-alive)
    #[arg(long)]
    pub new_connection: bool,
    /// request method
    #[arg(long, value_name = "GET", default_value = "GET", value_parser = method)]
    pub method: String,
    /// add a request header (repeatable)
    #[arg(long = "header", value_name = "'N: v'", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// request body; or --body-file FILE
    #[arg(
        long,
        value_name = "STRING",
        allow_hyphen_values = true,
        conflicts_with = "body_file"
    )]
    pub body: Option<String>,
    /// request body read from FILE
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// per-request timeout
    #[arg(long, value_name = "5s", default_value = "5s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// run this long first without counting
    #[arg(long, value_name = "1s", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// https: do not verify the server certificate; or --cacert FILE
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// https: verify the server certificate against the CA bundle in FILE
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// https: a full handshake on every connection (no session resumption)
    #[arg(long)]
    pub no_resume: bool,
    /// sign every request with AWS SigV4 for execute-api (Authorization header, body hash):
    /// KEY:SECRET:REGION or KEY:SECRET:REGION:SESSION_TOKEN
    #[arg(long, value_name = "KEY:SECRET:REGION")]
    pub sigv4: Option<SecretArg>,
    /// final report as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// no progress line on stderr
    #[arg(long)]
    pub quiet: bool,
}

/// An argument holding a secret: kept as given, never shown by `Debug` (and never quoted
/// in an error: it is parsed after `clap`, by [`LoadArgs::into_options`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(pub String);

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(redacted)")
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(s.to_owned()))
    }
}

/// The parsed target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Host name or address, without IPv6 brackets (for resolution and SNI).
    pub host: String,
    pub port: u16,
    /// The `Host` header value: host (bracketed for IPv6) and the port unless default.
    pub authority: String,
    /// Path and query (origin form), `/` when the URL has none.
    pub path: String,
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Measure for this long (after the warm-up).
    Duration(Duration),
    /// Stop after this many measured requests (after the warm-up).
    Requests(u64),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub target: Target,
    pub connections: usize,
    pub threads: usize,
    pub cpus: Vec<usize>,
    pub stop: Stop,
    /// Open loop at this total rate (requests/s).
    pub rate: Option<f64>,
    pub new_connection: bool,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
    pub warmup: Duration,
    pub insecure: bool,
    /// https: turn TLS session resumption off (every new connection does a full handshake).
    pub no_resume: bool,
    pub cacert: Option<PathBuf>,
    /// Sign every request (`--sigv4`).
    pub sigv4: Option<super::sigv4::SigV4Credentials>,
    pub json: bool,
    pub quiet: bool,
}

impl LoadArgs {
    /// The options of a run: the URL parsed, `--body-file` read, and the checks between
    /// options. Errors are messages for the user.
    pub fn into_options(self) -> Result<Options, String> {
        let target = parse_url(&self.url)?;
        let stop = match (self.duration, self.requests) {
            (_, Some(n)) => Stop::Requests(n as u64),
            (Some(d), None) => Stop::Duration(d),
            (None, None) => Stop::Duration(Duration::from_secs(10)),
        };
        if (self.insecure || self.cacert.is_some()) && !target.https {
            return Err("--insecure and --cacert are for https URLs".into());
        }
        let body = match (self.body, &self.body_file) {
            (Some(text), _) => text.into_bytes(),
            (None, Some(file)) => std::fs::read(file)
                .map_err(|e| format!("--body-file: cannot read {}: {e}", file.display()))?,
            (None, None) => Vec::new(),
        };
        let sigv4 = self
            .sigv4
            .map(|a| super::sigv4::SigV4Credentials::parse(&a.0))
            .transpose()?;
        Ok(Options {
            url: self.url,
            target,
            connections: self.connections,
            // No thread without a connection.
            threads: self.threads.min(self.connections),
            cpus: self.cpus,
            stop,
            rate: self.rate,
            new_connection: self.new_connection,
            method: self.method,
            headers: self.headers,
            body,
            timeout: self.timeout,
            warmup: self.warmup,
            insecure: self.insecure,
            no_resume: self.no_resume,
            cacert: self.cacert,
            sigv4,
            json: self.json,
            quiet: self.quiet,
        })
    }
}

/// Parse `URL [options]` (the arguments after `load`) the way the command does.
#[cfg(test)]
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    use clap::Parser;
    #[derive(clap::Parser)]
    #[command(name = "tollgate load")]
    struct Load {
        #[command(flatten)]
        args: LoadArgs,
    }
    let argv = std::iter::once("load".to_string()).chain(args.iter().cloned());
    Load::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .args
        .into_options()
}

fn positive(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("must be a positive integer".into()),
    }
}

fn cpu(value: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| "not a CPU number (use a list like 0,1)".into())
}

fn rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("must be a positive number (requests/s)".into()),
    }
}

fn method(value: &str) -> Result<String, String> {
    if value.is_empty() || !value.bytes().all(is_tchar) {
        return Err("not a method token".into());
    }
    Ok(value.to_string())
}

/// A duration greater than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

/// A duration option: the configuration's durations (`10s`, `500ms`, `2m`, `1h`; the
/// crate's one parser, [`tollgate::time::parse_duration`]), and on the command line also a
/// bare integer, read as seconds (`--warmup 0`, `--duration 10`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return tollgate::time::parse_duration(&format!("{t}s"))
            .map_err(|_| format!("invalid duration `{text}`: too large"));
    }
    tollgate::time::parse_duration(text)
}

/// `Name: value`: a token name and a value without control characters (other than HTAB).
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err("expected 'Name: value'".into());
    };
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("'{name}' is not a header name"));
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err("the value has control characters".into());
    }
    Ok((name.to_string(), value.to_string()))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `http://host[:port][/path][?query]` or `https://...`.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("URL '{url}': {why}");
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http://HOST[:PORT]/PATH"))?;
    let https = if scheme.eq_ignore_ascii_case("http") {
        false
    } else if scheme.eq_ignore_ascii_case("https") {
        true
    } else {
        return Err(bad("the scheme must be http or https"));
    };
    // Drop a fragment; split authority from path.
    let rest = rest.split('#').next().unwrap_or("");
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.contains('@') {
        return Err(bad("user info is not supported"));
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed '[' in the host"))?;
        let port = match after {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("bad port"))?,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if port == 0 {
        return Err(bad("port 0"));
    }
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = if port == default_port {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad(
            "the path has spaces or control characters (percent-encode them)",
        ));
    }
    Ok(Target {
        https,
        host,
        port,
        authority,
        path,
    })
}

/// The request bytes, built once per connection and sent as they are for every request.
/// Adds `Host` unless given, `Content-Length` for a body unless a length or transfer coding
/// is given, and `Connection: close` with `--new-connection` unless a Connection is given.
pub fn build_request(opts: &Options) -> Vec<u8> {
    build_request_with(opts, &[])
}

/// [`build_request`] with `extra` headers after the `--header`s (a signature's).
pub fn build_request_with(opts: &Options, extra: &[(&str, &str)]) -> Vec<u8> {
    let has = |n: &str| opts.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    let mut out = Vec::with_capacity(128 + opts.body.len());
    out.extend_from_slice(opts.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(opts.target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(opts.target.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let extra = extra.iter().map(|&(n, v)| (n, v));
    for (n, v) in opts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(extra)
    {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let needs_length =
        !opts.body.is_empty() || matches!(opts.method.as_str(), "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", opts.body.len()).as_bytes());
    }
    if opts.new_connection && !has("connection") {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&opts.body);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn no_resume_is_an_https_switch() {
        let on = parse_args(&args(&["https://h/", "--no-resume", "--insecure"]));
        assert!(on.is_ok_and(|o| o.no_resume && o.insecure));
        let off = parse_args(&args(&["https://h/", "--insecure"]));
        assert!(off.is_ok_and(|o| !o.no_resume));
        assert!(parse_args(&args(&["https://h/", "--no-resume=yes"])).is_err());
    }

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:18083/small").unwrap();
        assert_eq!(
            t,
            Target {
                https: false,
                host: "127.0.0.1".into(),
                port: 18083,
                authority: "127.0.0.1:18083".into(),
                path: "/small".into()
            }
        );
        let t = parse_url("https://example.com").unwrap();
        assert!(t.https);
        assert_eq!(
            (t.port, t.authority.as_str(), t.path.as_str()),
            (443, "example.com", "/")
        );
        let t = parse_url("HTTP://example.com:80?q=1#frag").unwrap();
        assert_eq!(
            (t.port, t.authority.as_str(), t.path.as_str()),
            (80, "example.com", "/?q=1")
        );
        let t = parse_url("http://[::1]:8080/a/b?c=d").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(t.path, "/a/b?c=d");
        let t = parse_url("http://[::1]/").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (80, "[::1]"));
        for bad in [
            "127.0.0.1:80/x",
            "ftp://h/",
            "http://",
            "http://h:port/",
            "http://h:0/",
            "http://h:70000/",
            "http://u@h/",
            "http://[::1/",
            "http://h/a b",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for (bad, reason) in [
            ("", "expected an integer"),
            ("s", "expected an integer"),
            ("10x", "expected an integer"),
            ("-1s", "expected an integer"),
            ("1.5s", "expected an integer"),
            ("ten", "expected an integer"),
            ("99999999999999999999", "too large"),
            ("99999999999999999999s", "too large"),
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(
                err.starts_with(&format!("invalid duration `{bad}`: ")) && err.contains(reason),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-Api-Key:  abc def ").unwrap(),
            ("X-Api-Key".to_string(), "abc def".to_string())
        );
        assert_eq!(
            parse_header("Empty:").unwrap(),
            ("Empty".to_string(), String::new())
        );
        assert_eq!(
            parse_header("a:b:c").unwrap(),
            ("a".to_string(), "b:c".to_string())
        );
        for bad in [
            "NoColon",
            ": v",
            "Bad Name: v",
            "X: a\r\nInjected: 1",
            "X: a\nb",
        ] {
            assert!(parse_header(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse_args(&args(&["http://h/"])).unwrap();
        assert_eq!(o.connections, 64);
        assert_eq!(o.threads, 1);
        assert_eq!(o.stop, Stop::Duration(Duration::from_secs(10)));
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.warmup, Duration::from_secs(1));
        assert_eq!(o.method, "GET");
        assert!(o.rate.is_none() && !o.new_connection && !o.json && !o.quiet);

        let o = parse_args(&args(&[
            "--connections=8",
            "--threads",
            "2",
            "--cpus",
            "0,1",
            "--requests",
            "100",
            "--rate",
            "250.5",
            "--new-connection",
            "--method",
            "POST",
            "--header",
            "A: 1",
            "--header=B: 2",
            "--body",
            "hello",
            "--timeout",
            "2s",
            "--warmup",
            "0",
            "--json",
            "--quiet",
            "http://h:81/p",
        ]))
        .unwrap();
        assert_eq!((o.connections, o.threads), (8, 2));
        assert_eq!(o.cpus, vec![0, 1]);
        assert_eq!(o.stop, Stop::Requests(100));
        assert_eq!(o.rate, Some(250.5));
        assert!(o.new_connection && o.json && o.quiet);
        assert_eq!(o.headers.len(), 2);
        assert_eq!(o.body, b"hello");
        assert_eq!(o.warmup, Duration::ZERO);
        assert_eq!(o.target.port, 81);

        // More threads than connections: one connection per thread.
        let o = parse_args(&args(&[
            "http://h/",
            "--connections",
            "2",
            "--threads",
            "4",
        ]))
        .unwrap();
        assert_eq!(o.threads, 2);
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            &["--connections", "8"][..],
            &["http://h/", "http://i/"],
            &["http://h/", "--connections", "0"],
            &["http://h/", "--connections"],
            &["http://h/", "--rate", "-5"],
            &["http://h/", "--rate", "NaN"],
            &["http://h/", "--duration", "1s", "--requests", "5"],
            &["http://h/", "--duration", "0s"],
            &["http://h/", "--bogus"],
            &["http://h/", "--json=yes"],
            &["http://h/", "--method", "GE T"],
            &["http://h/", "--cpus", "0,x"],
            &["http://h/", "--insecure"],
            &["https://h/", "--insecure", "--cacert", "ca.pem"],
            &["http://h/", "--body-file", "/nonexistent/file"],
            &["http://h/", "--sigv4", "KEY:SECRET"],
            &["http://h/", "--sigv4"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn errors_name_the_option_and_the_value() {
        for (bad, words) in [
            (
                &["http://h/", "--connections", "0"][..],
                &["--connections", "'0'"][..],
            ),
            (
                &["http://h/", "--duration", "1.5s"],
                &["--duration", "`1.5s`"],
            ),
            (
                &["http://h/", "--timeout", "0"],
                &["--timeout", "more than 0"],
            ),
            (
                &["http://h/", "--header", "NoColon"],
                &["--header", "Name: value"],
            ),
            (&["http://h/", "--cpus", "0,x"], &["--cpus", "CPU number"]),
            (
                &["http://h/", "--requests", "5", "--duration", "1s"],
                &["--requests", "--duration"],
            ),
            (
                &["http://h/", "--body", "a", "--body-file", "f"],
                &["--body", "--body-file"],
            ),
            (&[], &["<URL>"]),
        ] {
            let err = parse_args(&args(bad)).expect_err("refused");
            for w in words {
                assert!(err.contains(w), "{bad:?}: {w:?} not in {err}");
            }
        }
        // A body may start with a dash.
        let o = parse_args(&args(&["http://h/", "--body", "-x-"])).unwrap();
        assert_eq!(o.body, b"-x-");
        // --cpus as a list, or repeated.
        let o = parse_args(&args(&["http://h/", "--cpus", "2, 3", "--cpus=5"])).unwrap();
        assert_eq!(o.cpus, vec![2, 3, 5]);
    }

    #[test]
    fn request_bytes() {
        let mut o = parse_args(&args(&["http://127.0.0.1:9090/a?b=c"])).unwrap();
        assert_eq!(
            build_request(&o),
            b"GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:9090\r\n\r\n"
        );
        o.method = "POST".into();
        o.body = b"{}".to_vec();
        o.headers = vec![("X-A".into(), "1".into())];
        o.new_connection = true;
        assert_eq!(
            build_request(&o),
            &b"POST /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"[..]
        );
        o.headers = vec![("host".into(), "api.example".into())];
        o.body.clear();
        o.new_connection = false;
        assert_eq!(
            build_request(&o),
            &b"POST /a?b=c HTTP/1.1\r\nhost: api.example\r\nContent-Length: 0\r\n\r\n"[..]
        );
    }
}
