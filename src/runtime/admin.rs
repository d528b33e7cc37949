//! The admin listener: a small HTTP/1.1 API on its own thread (never on a worker), for
//! operators. Bind it to loopback; with `admin.token_file` every request must send
//! `Authorization: Bearer TOKEN` (else 401). Routes ([`ROUTES`]; docs/OPERATIONS.md):
//!
//! - `GET /health/live`: 200 while the process runs.
//! - `GET /health/ready`: 200 while serving; 503 while starting or draining.
//! - `POST /reload`: reload as SIGHUP does (on the supervisor thread); the outcome as JSON.
//! - `GET /usage`: quota use per usage plan and key (what `tollgate usage --json` shows).
//! - `GET /config`: the configuration in force, secrets redacted.
//! - `DELETE /restapis/{api-id}/stages/{stage}/cache/data`: flush the stage's cache
//!   (FlushStageCache), 202.
//! - `GET /restapis/{api-id}/stages/{stage}/cache`: the stage's CacheHitCount,
//!   CacheMissCount, entries, bytes and capacity as JSON.
//!
//! One request per connection (`connection: close`), each on its own short-lived thread (at
//! most [`MAX_CONNECTIONS`] at once), read within [`request::READ_DEADLINE`] and
//! [`request::MAX_HEAD`]: a slow or malformed client holds only its own thread, briefly.
//! Every error is JSON with a `message`.

mod auth;
mod config_json;
pub mod reload;
mod reply;
mod request;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::Sender;

use crate::config::Snapshot;
use crate::log;
use crate::services::Services;
pub use reload::{ReloadError, ReloadOutcome, SupervisorRequest};
pub use reply::Reply;
use request::{read_request, ReadError, Request};

/// Most admin connections handled at once; more are answered 503 at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Whether the gateway serves (`GET /health/ready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Readiness {
    /// Workers are starting.
    Starting = 0,
    /// Every worker runs.
    Serving = 1,
    /// SIGTERM/SIGINT: in-flight requests finish, then the process exits.
    Draining = 2,
}

impl Readiness {
    fn from_u8(v: u8) -> Readiness {
        match v {
            1 => Readiness::Serving,
            2 => Readiness::Draining,
            _ => Readiness::Starting,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Starting => "starting",
            Readiness::Serving => "serving",
            Readiness::Draining => "draining",
        }
    }
}

/// What request handlers read: the configuration in force and its services (replaced
/// together on reload), the readiness, and the way to the supervisor.
struct State {
    current: Mutex<(Arc<Snapshot>, Arc<Services>)>,
    readiness: AtomicU8,
    supervisor: Sender<SupervisorRequest>,
    connections: AtomicUsize,
}

impl State {
    fn current(&self) -> (Arc<Snapshot>, Arc<Services>) {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn readiness(&self) -> Readiness {
        Readiness::from_u8(self.readiness.load(Ordering::Acquire))
    }
}

/// The running admin listener.
pub struct Admin {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Bind `addr` and serve `snapshot` (and its `services`) until `stop`; reloads go to
    /// the supervisor through `supervisor`. Readiness starts as [`Readiness::Starting`].
    pub fn start(
        addr: SocketAddr,
        snapshot: Arc<Snapshot>,
        services: Arc<Services>,
        supervisor: Sender<SupervisorRequest>,
    ) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("admin listener on {addr}: {e}")))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let state = Arc::new(State {
            current: Mutex::new((snapshot, services)),
            readiness: AtomicU8::new(Readiness::Starting as u8),
            supervisor,
            connections: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tollgate-admin".into())
                .spawn(move || serve(listener, state, stop))?
        };
        Ok(Admin {
            addr: bound,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// Serve the configuration now in force (after a reload).
    pub fn set(&self, snapshot: Arc<Snapshot>, services: Arc<Services>) {
        *self.state.current.lock().unwrap_or_else(|p| p.into_inner()) = (snapshot, services);
    }

    pub fn set_readiness(&self, r: Readiness) {
        self.state.readiness.store(r as u8, Ordering::Release);
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Counts a connection's handler while it lives.
struct Slot(Arc<State>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn serve(listener: TcpListener, state: Arc<State>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => accepted(stream, &state),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                log!("admin: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn accepted(mut stream: TcpStream, state: &Arc<State>) {
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_write_timeout(Some(request::READ_DEADLINE))
            .is_err()
    {
        return;
    }
    if state.connections.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
        state.connections.fetch_sub(1, Ordering::AcqRel);
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = Reply::message(503, "too many admin connections; retry").write_to(&mut stream);
        return;
    }
    let slot = Slot(state.clone());
    let spawned = std::thread::Builder::new()
        .name("tollgate-admin-conn".into())
        .spawn(move || {
            let state = slot.0.clone();
            if let Err(e) = handle(stream, &state) {
                log!("admin: {e}");
            }
            drop(slot);
        });
    if let Err(e) = spawned {
        log!("admin: cannot start a connection thread: {e}");
    }
}

fn handle(mut stream: TcpStream, state: &State) -> io::Result<()> {
    let reply = match read_request(&mut stream, request::READ_DEADLINE) {
        Ok(req) => respond(state, &req),
        Err(ReadError::Refused(reply)) => reply,
        Err(ReadError::Gone(e)) => {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                log!(
                    "admin: no complete request within {:?}; connection closed",
                    request::READ_DEADLINE
                );
            }
            return Ok(());
        }
    };
    reply.write_to(&mut stream)
}

/// One admin endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Live,
    Ready,
    Reload,
    Usage,
    Config,
    CacheStats,
    CacheFlush,
    Metrics,
}

/// The admin API: (method, path, endpoint); a `{}` segment matches any one segment (its
/// values are passed to the endpoint in order). A path that matches with another method is
/// a 405 with `allow`; no match at all is a 404.
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("GET", "/health/live", Endpoint::Live),
    ("GET", "/health/ready", Endpoint::Ready),
    ("POST", "/reload", Endpoint::Reload),
    ("GET", "/usage", Endpoint::Usage),
    ("GET", "/config", Endpoint::Config),
    ("GET", "/metrics", Endpoint::Metrics),
    ("GET", "/restapis/{}/stages/{}/cache", Endpoint::CacheStats),
    (
        "DELETE",
        "/restapis/{}/stages/{}/cache/data",
        Endpoint::CacheFlush,
    ),
];

/// The segments of `path` that `pattern`'s `{}` segments matched, if it matches.
fn matches<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut pat = pattern.trim_matches('/').split('/');
    let mut got = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/');
    let mut params = Vec::new();
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some("{}"), Some(seg)) if !seg.is_empty() => params.push(seg),
            (Some(p), Some(seg)) if p == seg => {}
            _ => return None,
        }
    }
}

/// `method` and `path` -> the endpoint and its path parameters, or the 404/405 answer.
pub fn resolve<'p>(method: &str, path: &'p str) -> Result<(Endpoint, Vec<&'p str>), Reply> {
    let mut allow: Vec<&str> = Vec::new();
    for &(m, pattern, endpoint) in ROUTES {
        if let Some(params) = matches(pattern, path) {
            if m == method {
                return Ok((endpoint, params));
            }
            allow.push(m);
        }
    }
    if allow.is_empty() {
        return Err(Reply::message(404, "No such admin resource"));
    }
    let mut r = Reply::message(
        405,
        &format!("Method Not Allowed: {} takes {}", path, allow.join(", ")),
    );
    r.allow = Some(allow.join(", "));
    Err(r)
}

/// The answer to `req`: the token first (when one is configured), then the route.
fn respond(state: &State, req: &Request) -> Reply {
    let (snapshot, services) = state.current();
    if let Some(token) = &snapshot.admin_token {
        if !auth::authorized(token, req.authorization.as_deref()) {
            let mut r = Reply::message(401, "Unauthorized");
            r.bearer_challenge = true;
            return r;
        }
    }
    let (endpoint, params) = match resolve(&req.method, &req.path) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    dispatch(endpoint, &params, &snapshot, &services, state)
}

fn dispatch(
    endpoint: Endpoint,
    params: &[&str],
    snapshot: &Snapshot,
    services: &Services,
    state: &State,
) -> Reply {
    match endpoint {
        Endpoint::Live => Reply::json(200, &serde_json::json!({"status": "live"})),
        Endpoint::Ready => {
            let r = state.readiness();
            let status = if r == Readiness::Serving { 200 } else { 503 };
            let mut body = serde_json::json!({"status": r.as_str()});
            if status != 200 {
                body["message"] = format!("not ready: {}", r.as_str()).into();
            }
            Reply::json(status, &body)
        }
        Endpoint::Reload => {
            if state.readiness() == Readiness::Draining {
                return Reply::message(503, "the gateway is draining; no reload");
            }
            reload::request_reload(&state.supervisor, reload::RELOAD_TIMEOUT)
        }
        Endpoint::Usage => usage(services),
        Endpoint::Config => Reply::json(200, &config_json::render(snapshot)),
        Endpoint::Metrics => Reply::with_body(
            200,
            crate::observe::metrics::CONTENT_TYPE,
            crate::pipeline::metrics::render(snapshot, services),
        ),
        Endpoint::CacheStats | Endpoint::CacheFlush => match params {
            [api, stage] => stage_cache(snapshot, services, endpoint, api, stage),
            _ => Reply::message(404, "No such admin resource"),
        },
    }
}

/// `GET /usage`: the live quota counters, as `tollgate usage --json` shows a state file.
fn usage(services: &Services) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    match crate::limits::quota::live_usage_json(services.quotas(), now) {
        Ok(text) => Reply::with_body(200, "application/json", text),
        Err(e) => Reply::message(500, &format!("usage: {e}")),
    }
}

/// The stage cache routes (API Gateway's FlushStageCache and the cache statistics).
fn stage_cache(
    snapshot: &Snapshot,
    services: &Services,
    endpoint: Endpoint,
    api: &str,
    stage: &str,
) -> Reply {
    let stage_ref = snapshot.api(api).and_then(|a| a.stages.get(stage));
    let Some(stage_ref) = stage_ref else {
        return Reply::message(404, "Invalid stage identifier specified");
    };
    let Some(cache) = services.stage_cache(stage_ref.id) else {
        return Reply::message(400, "Caching is not enabled on this stage");
    };
    if endpoint == Endpoint::CacheFlush {
        cache.store.flush();
        log!("admin: flushed the cache of stage {api}/{stage}");
        return Reply::with_body(202, "application/json", "{}".to_string());
    }
    let s = cache.stats();
    Reply::json(
        200,
        &serde_json::json!({
            "api": api,
            "stage": stage,
            "CacheHitCount": s.hits,
            "CacheMissCount": s.misses,
            "entries": s.entries,
            "bytes": s.bytes,
            "capacity_bytes": s.capacity_bytes,
        }),
    )
}

/// `tollgate flush-stage-cache`: ask the admin listener at `admin` to flush a stage's cache.
pub fn flush_stage_cache(admin: &str, api: &str, stage: &str) -> Result<(), String> {
    let addr: SocketAddr = admin
        .parse()
        .map_err(|_| format!("`{admin}` is not an address such as 127.0.0.1:9901"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach the admin listener at {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "DELETE /restapis/{api}/stages/{stage}/cache/data HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("admin listener at {addr}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("admin listener at {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).unwrap_or("");
    if status == "202" {
        return Ok(());
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    Err(format!(
        "flushing {api}/{stage} failed: {} {body}",
        if status.is_empty() {
            "no answer"
        } else {
            status
        }
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn snapshot_with(extra: &str) -> Snapshot {
        crate::config::validate::from_str(
            Path::new("t.yaml"),
            &format!(
                "listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis:
  - id: demo
    routes:
      - {{route: GET /x, integration: {{type: HTTP_PROXY, uri: 'http://127.0.0.1:9/x'}}}}
    stages:
      - {{name: prod, cache: {{cluster_size: 0.01}}}}
      - {{name: dev}}
{extra}"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn state(s: Snapshot) -> (State, crossbeam::channel::Receiver<SupervisorRequest>) {
        let (services, _limits) = Services::start(&s, 1);
        let (tx, rx) = crossbeam::channel::unbounded();
        let state = State {
            current: Mutex::new((Arc::new(s), Arc::new(services))),
            readiness: AtomicU8::new(Readiness::Starting as u8),
            supervisor: tx,
            connections: AtomicUsize::new(0),
        };
        (state, rx)
    }

    fn call(
        state: &State,
        method: &str,
        path: &str,
        auth: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let req = Request {
            method: method.into(),
            path: path.into(),
            authorization: auth.map(str::to_string),
            body_len: 0,
        };
        let r = respond(state, &req);
        let v: serde_json::Value =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{}: {e}", r.body));
        if r.status >= 400 {
            assert!(v["message"].is_string(), "{path}: {}", r.body);
        }
        (r.status, v)
    }

    #[test]
    fn flush_and_stats_routes() {
        let (st, _rx) = state(snapshot_with(""));
        let (s, services) = st.current();
        let cache = services
            .stage_cache(s.api("demo").expect("api").stages["prod"].id)
            .expect("a cache");
        let entry = Arc::new(crate::cache::entry::CachedResponse::new(
            200,
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            17,
        ));
        assert!(cache
            .store
            .insert(b"k", entry, 17, Duration::from_secs(60), cache.now()));
        cache.count_hit(0);
        let (status, v) = call(&st, "GET", "/restapis/demo/stages/prod/cache", None);
        assert_eq!(status, 200);
        assert_eq!(v["CacheHitCount"], 1);
        assert_eq!(v["CacheMissCount"], 0);
        assert_eq!(v["entries"], 1);
        assert!(v["bytes"].as_u64().is_some_and(|b| b > 17));
        let flush = |api: &str, stage: &str| {
            call(
                &st,
                "DELETE",
                &format!("/restapis/{api}/stages/{stage}/cache/data"),
                None,
            )
            .0
        };
        assert_eq!(flush("demo", "prod"), 202);
        assert_eq!(cache.store.stats().entries, 0);
        assert_eq!(flush("demo", "nope"), 404);
        assert_eq!(flush("nope", "prod"), 404);
        assert_eq!(flush("demo", "dev"), 400);
        assert_eq!(
            call(&st, "POST", "/restapis/demo/stages/prod/cache/data", None).0,
            405
        );
        assert_eq!(call(&st, "GET", "/", None).0, 404);
    }

    #[test]
    fn routes_resolve_with_404_and_405() {
        assert_eq!(
            resolve("GET", "/health/live").map(|r| r.0),
            Ok(Endpoint::Live)
        );
        assert_eq!(
            resolve("GET", "/health/ready/").map(|r| r.0),
            Ok(Endpoint::Ready)
        );
        assert_eq!(
            resolve("GET", "/restapis/a/stages/b/cache"),
            Ok((Endpoint::CacheStats, vec!["a", "b"]))
        );
        assert_eq!(
            resolve("DELETE", "/restapis/a/stages/b/cache/data"),
            Ok((Endpoint::CacheFlush, vec!["a", "b"]))
        );
        for (m, p) in [
            ("GET", "/"),
            ("GET", "/health"),
            ("GET", "/health/live/x"),
            ("GET", "/restapis//stages/b/cache"),
            ("GET", "/restapis/a/stages/b"),
            ("GET", "/reloadx"),
        ] {
            assert_eq!(resolve(m, p).map_err(|r| r.status), Err(404), "{m} {p}");
        }
        let r = resolve("GET", "/reload").expect_err("405");
        assert_eq!((r.status, r.allow.as_deref()), (405, Some("POST")));
        let r = resolve("POST", "/health/live").expect_err("405");
        assert_eq!((r.status, r.allow.as_deref()), (405, Some("GET")));
        let r = resolve("GET", "/restapis/a/stages/b/cache/data").expect_err("405");
        assert_eq!(r.allow.as_deref(), Some("DELETE"));
    }

    #[test]
    fn health_follows_readiness() {
        let (st, _rx) = state(snapshot_with(""));
        assert_eq!(
            call(&st, "GET", "/health/live", None),
            (200, serde_json::json!({"status": "live"}))
        );
        let (status, v) = call(&st, "GET", "/health/ready", None);
        assert_eq!((status, v["status"].as_str()), (503, Some("starting")));
        st.readiness
            .store(Readiness::Serving as u8, Ordering::Release);
        assert_eq!(call(&st, "GET", "/health/ready", None).0, 200);
        st.readiness
            .store(Readiness::Draining as u8, Ordering::Release);
        let (status, v) = call(&st, "GET", "/health/ready", None);
        assert_eq!((status, v["status"].as_str()), (503, Some("draining")));
        assert_eq!(call(&st, "GET", "/health/live", None).0, 200);
        assert_eq!(call(&st, "POST", "/reload", None).0, 503);
    }

    #[test]
    fn a_configured_token_guards_every_route() {
        let dir = std::env::temp_dir().join(format!("tollgate-admin-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let token = dir.join("token");
        std::fs::write(&token, "unit-test-token-0123456789\n").expect("write");
        let s = crate::config::validate::from_str(
            &dir.join("t.yaml"),
            "admin: {bind: 127.0.0.1:0, token_file: token}
listeners: [{name: l, bind: 127.0.0.1:0}]
apis: [{id: demo, routes: [{route: GET /x, integration: {type: MOCK}}], stages: [{name: prod}]}]
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (st, _rx) = state(s);
        for path in ["/health/live", "/config", "/nope"] {
            for auth in [
                None,
                Some("Bearer wrong-token-0123456789"),
                Some("unit-test-token-0123456789"),
            ] {
                let (status, v) = call(&st, "GET", path, auth);
                assert_eq!(
                    (status, &v),
                    (401, &serde_json::json!({"message": "Unauthorized"})),
                    "{path} {auth:?}"
                );
            }
        }
        let good = Some("Bearer unit-test-token-0123456789");
        assert_eq!(call(&st, "GET", "/health/live", good).0, 200);
        let (status, v) = call(&st, "GET", "/config", good);
        assert_eq!(status, 200);
        assert_eq!(v["admin"]["token"], config_json::REDACTED);
        assert!(!v.to_string().contains("unit-test-token"));
        assert_eq!(call(&st, "GET", "/nope", good).0, 404);
    }

    #[test]
    fn usage_and_reload_answer_json() {
        let (st, rx) = state(snapshot_with(
            "api_keys: [{id: k1, value: k1-0123456789abcdef}]
usage_plans:
  - {name: gold, quota: {limit: 10, period: DAY}, api_stages: [{api: demo, stage: prod}], keys: [k1]}
",
        ));
        let (status, v) = call(&st, "GET", "/usage", None);
        assert_eq!(status, 200);
        assert_eq!(v["usagePlans"][0]["usagePlanId"], "gold");
        assert_eq!(v["usagePlans"][0]["quotas"][0]["remaining"], 10);
        let supervisor = std::thread::spawn(move || {
            if let Ok(SupervisorRequest::Reload { reply }) = rx.recv() {
                let _ = reply.send(ReloadOutcome::Refused {
                    status: 400,
                    errors: vec![ReloadError {
                        file: "t.yaml".into(),
                        key: "apis".into(),
                        reason: "at least one API is required".into(),
                    }],
                });
            }
        });
        st.readiness
            .store(Readiness::Serving as u8, Ordering::Release);
        let (status, v) = call(&st, "POST", "/reload", None);
        assert_eq!(status, 400);
        assert_eq!(v["reloaded"], false);
        assert_eq!(v["errors"][0]["key"], "apis");
        supervisor.join().expect("supervisor");
    }
}
