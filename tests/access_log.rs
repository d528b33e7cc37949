//! Access logs per stage, through the real gateway binary and a real upstream: one line per
//! request with the configured fields and their values; the four presets parse (JSON, CSV,
//! XML, CLF); an unknown `$context` variable is refused with its key path; SIGUSR1 reopens
//! the file (logrotate); a destination that blocks drops and counts lines instead of
//! stalling requests; stdout as a destination; a reload switches formats and destinations.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// Generous: the writer hands lines over within ~100 ms.
const DEADLINE: Duration = Duration::from_secs(15);

/// A scratch directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("access-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Dir(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of `path` once it holds at least `n` (panics at the deadline).
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {} line(s), expected {n}: {lines:?}",
            path.display(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_stderr(gw: &Gateway, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let err = gw.stderr();
        if err.contains(needle) {
            return err;
        }
        assert!(
            Instant::now() < deadline,
            "no `{needle}` in the process log:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request_id(r: &Response) -> String {
    r.header("x-amzn-requestid")
        .unwrap_or_else(|| panic!("no x-amzn-requestid: {}", r.describe()))
        .to_string()
}

/// One API `a` (default API of the listener, so `/STAGE/...` paths) with a proxied route,
/// a route requiring an API key and a MOCK route; `stages` is spliced in as the stage list.
fn config(upstream: &str, stages: &str) -> String {
    format!(
        "listeners:
  - name: main
    bind: 127.0.0.1:0
    default_api: a
apis:
  - id: a
    routes:
      - route: GET /proxy/{{proxy+}}
        integration: {{type: HTTP_PROXY, uri: 'http://{upstream}/{{proxy}}'}}
      - route: GET /keyed
        api_key_required: true
        integration: {{type: MOCK, status: 200, body: ok}}
      - route: GET /mock
        integration: {{type: MOCK, status: 200, body: ok}}
    stages:
{stages}api_keys:
  - {{id: key-one, value: key-one-0123456789}}
usage_plans:
  - name: plan
    api_stages: [{{api: a, stage: prod}}]
    keys: [key-one]
"
    )
}

fn stage(name: &str, destination: &str, format: &str) -> String {
    format!("      - name: {name}\n        access_log: {{destination: '{destination}', format: '{format}'}}\n")
}

const ODD_AGENT: &str = "agent \"quoted\", \\ <tag> & 'apos'";

#[test]
fn a_json_line_per_request_with_the_right_values() {
    let up = DemoUpstream::start();
    let dir = Dir::new("json");
    let log = dir.file("access.log");
    let log_s = log.display().to_string();
    // Two stages share one file (one writer); `cached` caches GETs.
    let stages = format!(
        "{}{}        cache: {{cluster_size: 0.5, status_header: {{name: x-cache, hit: Hit, miss: Miss}}}}\n",
        stage("prod", &log_s, "json"),
        stage("cached", &log_s, "json"),
    );
    let gw = Gateway::start(&config(&up.addr(), &stages));

    let proxied = gw.send(&req(
        "GET",
        "/prod/proxy/hello?x=1",
        &[("x-echo-delay-ms", "20"), ("user-agent", ODD_AGENT)],
        b"",
    ));
    assert_eq!(proxied.status, 200, "{}", proxied.describe());
    let keyed = gw.send(&req(
        "GET",
        "/prod/keyed",
        &[("x-api-key", "key-one-0123456789")],
        b"",
    ));
    assert_eq!(keyed.status, 200, "{}", keyed.describe());
    let refused = gw.send(&get("/prod/keyed"));
    assert_eq!(refused.status, 403, "{}", refused.describe());
    let miss = gw.send(&get("/cached/proxy/c"));
    assert_eq!(miss.header("x-cache"), Some("Miss"), "{}", miss.describe());
    let hit = gw.send(&get("/cached/proxy/c"));
    assert_eq!(hit.header("x-cache"), Some("Hit"), "{}", hit.describe());
    // No route under a known stage: REST's 403 Missing Authentication Token, logged too.
    let unrouted = gw.send(&get("/prod/no/such/route"));
    assert_eq!(unrouted.status, 403, "{}", unrouted.describe());
    // No stage at all: nothing to log it under.
    let stageless = gw.send(&get("/nostage/mock"));
    assert_eq!(stageless.status, 403, "{}", stageless.describe());

    let _ = wait_lines(&log, 6);
    // Three flush intervals later, still no line for the stageless request.
    std::thread::sleep(Duration::from_millis(300));
    let lines = wait_lines(&log, 6);
    assert_eq!(
        lines.len(),
        6,
        "one line per request with a stage: {lines:?}"
    );
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let line_of = |r: &Response| {
        let id = request_id(r);
        parsed
            .iter()
            .find(|v| v["requestId"] == id.as_str())
            .unwrap_or_else(|| panic!("no line with requestId {id}: {lines:?}"))
            .clone()
    };
    let num = |v: &serde_json::Value, k: &str| -> u64 {
        v[k].as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{k} is not a number: {v}"))
    };

    let p = line_of(&proxied);
    assert_eq!(p["status"], "200");
    assert_eq!(p["httpMethod"], "GET");
    assert_eq!(p["path"], "/prod/proxy/hello");
    // The matched path after the stage (RequestContext's resourcePath; the template is in
    // routeKey).
    assert_eq!(p["resourcePath"], "/proxy/hello");
    assert_eq!(p["routeKey"], "GET /proxy/{proxy+}");
    assert_eq!(p["protocol"], "HTTP/1.1");
    assert_eq!(p["stage"], "prod");
    assert_eq!(p["apiId"], "a");
    assert_eq!(p["ip"], "127.0.0.1");
    assert_eq!(p["userAgent"], ODD_AGENT, "escaped and read back");
    assert_eq!(p["integrationStatus"], "200");
    assert!(num(&p, "responseLatency") >= 20, "{p}");
    assert!(num(&p, "integrationLatency") >= 20, "{p}");
    assert!(num(&p, "responseLatency") >= num(&p, "integrationLatency"));
    assert_eq!(num(&p, "responseLength"), proxied.body.len() as u64, "{p}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let epoch = num(&p, "requestTimeEpoch");
    assert!(epoch <= now_ms && now_ms - epoch < 600_000, "{p}");
    assert_eq!(p["extendedRequestId"].as_str().map(str::len), Some(16));
    // Undefined values are `-`, as API Gateway writes them.
    assert_eq!(p["apiKeyId"], "-");
    assert_eq!(p["cacheStatus"], "-");
    assert_eq!(p["errorMessage"], "-");
    assert_eq!(p["caller"], "-");

    let k = line_of(&keyed);
    assert_eq!(k["apiKeyId"], "key-one");
    assert_eq!(k["status"], "200");
    assert_eq!(k["integrationLatency"], "-", "MOCK has no integration call");

    let f = line_of(&refused);
    assert_eq!(f["status"], "403");
    assert_eq!(f["errorMessage"], "Forbidden");
    assert_ne!(f["errorResponseType"], "-", "{f}");

    let m = line_of(&miss);
    assert_eq!(m["cacheStatus"], "MISS");
    assert_eq!(m["stage"], "cached");
    let h = line_of(&hit);
    assert_eq!(h["cacheStatus"], "HIT");
    assert_eq!(h["status"], "200");
    assert_eq!(
        h["integrationStatus"], "-",
        "a hit does not call the integration"
    );
    let u = line_of(&unrouted);
    assert_eq!(u["status"], "403");
    assert_eq!(u["stage"], "prod");
    assert_eq!(u["errorMessage"], "Missing Authentication Token");
    assert_eq!(u["errorResponseType"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(u["routeKey"], "-");
}

/// A minimal RFC 4180 line splitter.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("field").push(c),
        }
    }
    assert!(!quoted, "unterminated quote: {line}");
    fields
}

/// Check that `xml` is one element whose tags balance and whose text holds no raw `<`/`&`.
fn xml_well_formed(xml: &str) -> Vec<(String, String)> {
    let mut stack: Vec<String> = Vec::new();
    let mut texts = Vec::new();
    let mut rest = xml.trim();
    assert!(rest.starts_with('<'), "{xml}");
    while !rest.is_empty() {
        if let Some(tag_rest) = rest.strip_prefix('<') {
            let end = tag_rest
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag: {xml}"));
            let tag = &tag_rest[..end];
            assert!(!tag.contains('<'), "{xml}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "unbalanced: {xml}");
            } else {
                let name = tag.split(' ').next().unwrap_or("").to_string();
                // Attribute values are quoted and hold no raw quote.
                assert_eq!(tag.matches('"').count() % 2, 0, "{xml}");
                stack.push(name);
            }
            rest = &tag_rest[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            for (i, _) in text.match_indices('&') {
                let entity = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "raw & in {xml}"
                );
            }
            if let Some(open) = stack.last() {
                texts.push((open.clone(), text.to_string()));
            }
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}: {xml}");
    texts
}

#[test]
fn every_preset_parses() {
    let up = DemoUpstream::start();
    let dir = Dir::new("presets");
    let (clf, csv, xml, json) = (
        dir.file("clf.log"),
        dir.file("csv.log"),
        dir.file("xml.log"),
        dir.file("json.log"),
    );
    let stages = [
        stage("prod", &clf.display().to_string(), "clf"),
        stage("csv", &csv.display().to_string(), "csv"),
        stage("xml", &xml.display().to_string(), "xml"),
        stage("json", &json.display().to_string(), "JSON"),
    ]
    .concat();
    let gw = Gateway::start(&config(&up.addr(), &stages));
    let headers = [("user-agent", ODD_AGENT)];
    let mut ids = Vec::new();
    for s in ["prod", "csv", "xml", "json"] {
        let r = gw.send(&req("GET", &format!("/{s}/proxy/p"), &headers, b""));
        assert_eq!(r.status, 200, "{}", r.describe());
        ids.push(request_id(&r));
    }

    // CLF: `ip caller user [time]"method resource protocol" status length id extended`.
    let line = &wait_lines(&clf, 1)[0];
    let (ip, rest) = line
        .split_once(" - - [")
        .unwrap_or_else(|| panic!("CLF: {line}"));
    assert_eq!(ip, "127.0.0.1");
    let (time, rest) = rest
        .split_once("]\"")
        .unwrap_or_else(|| panic!("CLF: {line}"));
    // dd/Mon/yyyy:HH:MM:SS +0000
    let t: Vec<&str> = time.split(['/', ':', ' ']).collect();
    assert_eq!(t.len(), 7, "CLF time {time}");
    assert_eq!(
        (t[0].len(), t[1].len(), t[2].len(), t[6]),
        (2, 3, 4, "+0000")
    );
    let (request, rest) = rest
        .split_once("\" ")
        .unwrap_or_else(|| panic!("CLF: {line}"));
    assert_eq!(request, "GET /proxy/p HTTP/1.1");
    let tail: Vec<&str> = rest.split(' ').collect();
    assert_eq!(tail.len(), 4, "CLF: {line}");
    assert_eq!(tail[0], "200");
    assert!(tail[1].parse::<u64>().is_ok(), "{line}");
    assert_eq!(tail[2], ids[0]);
    assert_eq!(tail[3].len(), 16);

    // CSV: AWS's 11 columns and tollgate's 8; the odd agent is not among them, but a value
    // with a comma is quoted (error message below is plain).
    let line = &wait_lines(&csv, 1)[0];
    let fields = csv_fields(line);
    assert_eq!(fields.len(), 19, "{line}");
    assert_eq!(fields[0], "127.0.0.1");
    assert_eq!(fields[4], "GET");
    assert_eq!(fields[7], "200");
    assert_eq!(fields[9], ids[1]);
    assert_eq!(fields[14], "200", "integrationStatus: {line}");

    // XML: well formed, the request id in the attribute.
    let line = &wait_lines(&xml, 1)[0];
    assert!(
        line.starts_with(&format!("<request id=\"{}\">", ids[2])),
        "{line}"
    );
    let texts = xml_well_formed(line);
    let text = |tag: &str| {
        texts
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no <{tag}> in {line}"))
    };
    assert_eq!(text("status"), "200");
    assert_eq!(text("resourcePath"), "/proxy/p");
    assert_eq!(text("httpMethod"), "GET");

    // JSON (the preset name in any case).
    let line = &wait_lines(&json, 1)[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["requestId"], ids[3].as_str());
    assert_eq!(v["userAgent"], ODD_AGENT);
}

#[test]
fn custom_formats_escape_by_their_first_character_and_know_every_variable() {
    let up = DemoUpstream::start();
    let dir = Dir::new("custom");
    let (xml, plain) = (dir.file("xml.log"), dir.file("plain.log"));
    // Every variable the issue lists, in a custom XML format.
    let vars = [
        "requestId",
        "extendedRequestId",
        "identity.sourceIp",
        "identity.userAgent",
        "identity.apiKey",
        "identity.apiKeyId",
        "identity.clientCert.subjectDN",
        "requestTime",
        "requestTimeEpoch",
        "httpMethod",
        "resourcePath",
        "path",
        "routeKey",
        "protocol",
        "status",
        "responseLength",
        "responseLatency",
        "integrationLatency",
        "integrationStatus",
        "integration.error",
        "error.message",
        "error.responseType",
        "apiId",
        "stage",
        "domainName",
        "authorizer.principalId",
        "cacheStatus",
        "throttleLevel",
        "traceId",
    ];
    let custom: String = vars
        .iter()
        .enumerate()
        .map(|(i, v)| format!("<v{i}>$context.{v}</v{i}>"))
        .collect();
    let stages = [
        stage(
            "prod",
            &xml.display().to_string(),
            &format!("<r>{custom}</r>"),
        ),
        stage(
            "plain",
            &plain.display().to_string(),
            "$context.requestId ua=$context.identity.userAgent s=$context.status.",
        ),
    ]
    .concat();
    let gw = Gateway::start(&config(&up.addr(), &stages));
    let r = gw.send(&req(
        "GET",
        "/prod/keyed",
        &[
            ("user-agent", ODD_AGENT),
            ("x-api-key", "key-one-0123456789"),
            (
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793",
            ),
        ],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let line = &wait_lines(&xml, 1)[0];
    let texts = xml_well_formed(line);
    assert_eq!(texts.len(), vars.len(), "one value per variable: {line}");
    let value = |v: &str| {
        let i = vars.iter().position(|x| *x == v).expect("listed");
        texts
            .iter()
            .find(|(t, _)| *t == format!("v{i}"))
            .map(|(_, v)| v.clone())
            .expect("value")
    };
    assert_eq!(value("requestId"), request_id(&r));
    assert_eq!(value("identity.apiKey"), "key-one-0123456789");
    assert_eq!(value("identity.apiKeyId"), "key-one");
    assert_eq!(
        value("identity.userAgent"),
        "agent &quot;quoted&quot;, \\ &lt;tag&gt; &amp; &apos;apos&apos;"
    );
    // `$context.traceId` is the X-Amzn-Trace-Id passed to the integration: the caller's
    // root, the gateway's span as the parent, the sampling decision (tests/tracing.rs).
    let trace = value("traceId");
    assert!(
        trace.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=")
            && trace.ends_with(";Sampled=0"),
        "{trace}"
    );
    assert_eq!(value("authorizer.principalId"), "-");
    assert_eq!(value("identity.clientCert.subjectDN"), "-");

    let r = gw.send(&req(
        "GET",
        "/plain/mock",
        &[("user-agent", ODD_AGENT)],
        b"",
    ));
    let line = &wait_lines(&plain, 1)[0];
    assert_eq!(
        line,
        &format!(
            "{} ua=agent \"quoted\", \\\\ <tag> & 'apos' s=200.",
            request_id(&r)
        )
    );
}

#[test]
fn an_unknown_variable_is_refused_with_its_key_path() {
    let dir = Dir::new("check");
    let stages = [
        stage("prod", &dir.file("a.log").display().to_string(), "json"),
        stage(
            "beta",
            &dir.file("b.log").display().to_string(),
            "$context.requestId $context.foo",
        ),
    ]
    .concat();
    let cfg = write_temp("unknown-var.yaml", &config("127.0.0.1:9", &stages));
    let (code, _out, err) = cli(&["check", &cfg.display()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("apis[0].stages[1].access_log.format")
            && err.contains("unknown variable $context.foo"),
        "{err}"
    );
    // And nothing was opened by the check.
    assert!(!dir.file("a.log").exists());
}

#[test]
fn sigusr1_reopens_the_file_after_a_rename() {
    let up = DemoUpstream::start();
    let dir = Dir::new("reopen");
    let log = dir.file("access.log");
    let mut gw = Gateway::start(&config(
        &up.addr(),
        &stage(
            "prod",
            &log.display().to_string(),
            "$context.requestId $context.status",
        ),
    ));
    let first = request_id(&gw.send(&get("/prod/mock")));
    wait_lines(&log, 1);
    let rotated = dir.file("access.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    gw.proc.signal(libc::SIGUSR1);
    wait_stderr(&gw, "access log: reopened 1 file(s)");
    let second = request_id(&gw.send(&get("/prod/mock")));
    let new_lines = wait_lines(&log, 1);
    assert_eq!(new_lines, [format!("{second} 200")]);
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    assert_eq!(old, format!("{first} 200\n"));
    assert!(gw.proc.is_running());
}

#[test]
fn a_blocked_destination_drops_and_counts_lines_and_requests_keep_flowing() {
    let up = DemoUpstream::start();
    let dir = Dir::new("fifo");
    let fifo = dir.file("blocked.fifo");
    let c = std::ffi::CString::new(fifo.display().to_string()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // Nobody ever reads the FIFO: the writer blocks opening it.
    let gw = Gateway::start(&config(
        &up.addr(),
        &stage("prod", &fifo.display().to_string(), "json"),
    ));
    // Long lines fill the writer's queue (64 buffers of 48 KiB) quickly.
    let agent = "a".repeat(2000);
    let request = req("GET", "/prod/mock", &[("user-agent", &agent)], b"");
    let mut client = gw.client();
    for i in 0..4000 {
        let r = client.request(&request);
        assert_eq!(r.status, 200, "request {i}: {}", r.describe());
    }
    let err = wait_stderr(&gw, "access log: ");
    let dropped_line = err
        .lines()
        .find(|l| l.contains("line(s) dropped"))
        .map(str::to_string);
    let deadline = Instant::now() + DEADLINE;
    let mut dropped_line = dropped_line;
    while dropped_line.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        dropped_line = gw
            .stderr()
            .lines()
            .find(|l| l.contains("line(s) dropped"))
            .map(str::to_string);
    }
    let line = dropped_line.unwrap_or_else(|| panic!("no drop line:\n{}", gw.stderr()));
    let n: u64 = line
        .split("access log: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"));
    assert!(n > 0 && n <= 4000, "{line}");
}

#[test]
fn stdout_is_a_destination() {
    let up = DemoUpstream::start();
    let gw = Gateway::start(&config(&up.addr(), &stage("prod", "stdout", "json")));
    let id = request_id(&gw.send(&get("/prod/mock")));
    let mut proc = gw.proc;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let line = proc
            .next_line(deadline)
            .unwrap_or_else(|| panic!("no access log line on stdout: {:?}", proc.stdout_lines()));
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            assert_eq!(v["requestId"], id.as_str(), "{line}");
            assert_eq!(v["status"], "200");
            break;
        }
    }
}

#[test]
fn a_reload_switches_formats_and_destinations() {
    let up = DemoUpstream::start();
    let dir = Dir::new("reload");
    let (a, b) = (dir.file("a.log"), dir.file("b.log"));
    let a_s = a.display().to_string();
    let gw = Gateway::start(&config(&up.addr(), &stage("prod", &a_s, "json")));
    gw.send(&get("/prod/mock"));
    wait_lines(&a, 1);
    let reloaded = config(
        &up.addr(),
        &[
            stage("prod", &a_s, "$context.requestId clf-ish $context.status"),
            stage("beta", &b.display().to_string(), "csv"),
        ]
        .concat(),
    );
    std::fs::write(gw.config.path(), reloaded).expect("rewrite config");
    gw.proc.signal(libc::SIGHUP);
    // The worker (not just the supervisor) has switched.
    wait_stderr(&gw, "worker 0: reloaded configuration in force");
    let id = request_id(&gw.send(&get("/prod/mock")));
    let beta = request_id(&gw.send(&get("/beta/mock")));
    let lines = wait_lines(&a, 2);
    assert!(serde_json::from_str::<serde_json::Value>(&lines[0]).is_ok());
    assert_eq!(lines[1], format!("{id} clf-ish 200"));
    let b_lines = wait_lines(&b, 1);
    assert_eq!(csv_fields(&b_lines[0])[9], beta);
}

#[test]
fn a_throttled_request_logs_the_level_that_refused_it() {
    let up = DemoUpstream::start();
    let dir = Dir::new("throttle");
    let log = dir.file("access.log");
    let stages = format!(
        "{}        throttle: {{rate: 0.01, burst: 1}}\n",
        stage(
            "prod",
            &log.display().to_string(),
            "$context.requestId $context.status $context.throttleLevel $context.error.responseType"
        )
    );
    let gw = Gateway::start(&config(&up.addr(), &stages));
    let mut client = gw.client();
    let responses: Vec<Response> = (0..5).map(|_| client.request(&get("/prod/mock"))).collect();
    let refused = responses
        .iter()
        .find(|r| r.status == 429)
        .unwrap_or_else(|| panic!("no 429 in 5 requests at 0.01/s with burst 1"));
    let lines = wait_lines(&log, 5);
    let id = request_id(refused);
    assert!(
        lines.contains(&format!("{id} 429 stage THROTTLED")),
        "{lines:?}"
    );
    let ok = responses.iter().find(|r| r.status == 200).expect("one 200");
    assert!(
        lines.contains(&format!("{} 200 - -", request_id(ok))),
        "{lines:?}"
    );
}

#[test]
fn http2_streams_are_logged_too() {
    let ok = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs `curl` on PATH; refusing to pass without it"
    );
    let up = DemoUpstream::start();
    let dir = Dir::new("h2");
    let log = dir.file("access.log");
    let yaml = config(
        &up.addr(),
        &stage("prod", &log.display().to_string(), "json"),
    )
    .replace(
        "    default_api: a\n",
        "    default_api: a\n    h2c: true\n",
    );
    let gw = Gateway::start(&yaml);
    let url = format!("http://127.0.0.1:{}/prod/proxy/h2", gw.port);
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--http2-prior-knowledge",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .arg(&url)
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    let id = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("x-amzn-requestid")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no request id: {head}"));
    let line = &wait_lines(&log, 1)[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["requestId"], id.as_str());
    assert_eq!(v["protocol"], "HTTP/2.0");
    assert_eq!(v["status"], "200");
    assert_eq!(v["integrationStatus"], "200");
}
