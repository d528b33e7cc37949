//! The admin listener: a small HTTP/1.1 endpoint on its own thread (never on a worker), for
//! operators. Paths follow API Gateway's management API:
//!
//! - `DELETE /restapis/{api-id}/stages/{stage}/cache/data`: flush the stage's cache
//!   (FlushStageCache), 202.
//! - `GET /restapis/{api-id}/stages/{stage}/cache`: the stage's CacheHitCount,
//!   CacheMissCount, entries, bytes and capacity as JSON.
//!
//! One request per connection (`connection: close`), handled in turn; bind it to loopback.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Snapshot;
use crate::log;
use crate::services::Services;

/// The configuration in force and its services (replaced together on reload).
type Current = Arc<Mutex<(Arc<Snapshot>, Arc<Services>)>>;

/// The running admin listener.
pub struct Admin {
    pub addr: SocketAddr,
    current: Current,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Bind `addr` and serve `snapshot` (and its `services`) until `stop`.
    pub fn start(
        addr: SocketAddr,
        snapshot: Arc<Snapshot>,
        services: Arc<Services>,
    ) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("admin listener on {addr}: {e}")))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let current = Arc::new(Mutex::new((snapshot, services)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let current = current.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tollgate-admin".into())
                .spawn(move || serve(listener, current, stop))?
        };
        Ok(Admin {
            addr: bound,
            current,
            stop,
            thread: Some(thread),
        })
    }

    /// Serve the configuration now in force (after a reload).
    pub fn set(&self, snapshot: Arc<Snapshot>, services: Arc<Services>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = (snapshot, services);
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, current: Current, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (snapshot, services) =
                    current.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Err(e) = handle(stream, &snapshot, &services) {
                    log!("admin: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                log!("admin: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn handle(mut stream: TcpStream, snapshot: &Snapshot, services: &Services) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (method, path) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                break (
                    req.method.unwrap_or("").to_string(),
                    req.path.unwrap_or("").to_string(),
                );
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => {}
            _ => return reply(&mut stream, 400, r#"{"message":"Bad Request"}"#),
        }
    };
    if method == "GET" && path.split('?').next() == Some("/metrics") {
        return crate::pipeline::metrics::respond(&mut stream, snapshot, services);
    }
    let (status, body) = route(snapshot, services, &method, &path);
    reply(&mut stream, status, &body)
}

/// The admin API itself (no I/O): method and path -> status and JSON body.
pub fn route(snapshot: &Snapshot, services: &Services, method: &str, path: &str) -> (u16, String) {
    let path = path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api, stage, action) = match parts.as_slice() {
        ["restapis", api, "stages", stage, "cache"] => (*api, *stage, "cache"),
        ["restapis", api, "stages", stage, "cache", "data"] => (*api, *stage, "data"),
        _ => return (404, message("No such admin resource")),
    };
    let stage_ref = snapshot
        .apis_by_id
        .get(api)
        .and_then(|&i| snapshot.apis.get(i))
        .and_then(|a| a.stages.get(stage));
    let Some(stage_ref) = stage_ref else {
        return (404, message("Invalid stage identifier specified"));
    };
    let Some(cache) = services.stage_cache(stage_ref.id) else {
        return (400, message("Caching is not enabled on this stage"));
    };
    match (method, action) {
        ("DELETE", "data") => {
            cache.store.flush();
            log!("admin: flushed the cache of stage {api}/{stage}");
            (202, "{}".to_string())
        }
        ("GET", "cache") => {
            let s = cache.stats();
            (
                200,
                format!(
                    "{{\"api\":\"{api}\",\"stage\":\"{stage}\",\"CacheHitCount\":{},\
                     \"CacheMissCount\":{},\"entries\":{},\"bytes\":{},\"capacity_bytes\":{}}}",
                    s.hits, s.misses, s.entries, s.bytes, s.capacity_bytes
                ),
            )
        }
        _ => (405, message("Method Not Allowed")),
    }
}

fn message(m: &str) -> String {
    format!("{{\"message\":\"{m}\"}}")
}

fn reply(stream: &mut TcpStream, status: u16, body: &str) -> io::Result<()> {
    let reason = crate::http::write::reason_phrase(status);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
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

    fn snapshot() -> Snapshot {
        crate::config::validate::from_str(
            Path::new("t.yaml"),
            "listeners: [{name: l, bind: 127.0.0.1:0}]
apis:
  - id: demo
    routes:
      - {route: GET /x, integration: {type: HTTP_PROXY, uri: 'http://127.0.0.1:9/x'}}
    stages:
      - {name: prod, cache: {cluster_size: 0.01}}
      - {name: dev}
",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flush_and_stats_routes() {
        let s = snapshot();
        let (services, _limits) = Services::start(&s, 1);
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
        let (status, body) = route(&s, &services, "GET", "/restapis/demo/stages/prod/cache");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["CacheHitCount"], 1);
        assert_eq!(v["CacheMissCount"], 0);
        assert_eq!(v["entries"], 1);
        assert!(v["bytes"].as_u64().is_some_and(|b| b > 17));
        assert_eq!(
            route(
                &s,
                &services,
                "DELETE",
                "/restapis/demo/stages/prod/cache/data"
            )
            .0,
            202
        );
        assert_eq!(cache.store.stats().entries, 0);
        assert_eq!(
            route(
                &s,
                &services,
                "DELETE",
                "/restapis/demo/stages/nope/cache/data"
            )
            .0,
            404
        );
        assert_eq!(
            route(
                &s,
                &services,
                "DELETE",
                "/restapis/nope/stages/prod/cache/data"
            )
            .0,
            404
        );
        assert_eq!(
            route(
                &s,
                &services,
                "DELETE",
                "/restapis/demo/stages/dev/cache/data"
            )
            .0,
            400
        );
        assert_eq!(
            route(
                &s,
                &services,
                "POST",
                "/restapis/demo/stages/prod/cache/data"
            )
            .0,
            405
        );
        assert_eq!(route(&s, &services, "GET", "/").0, 404);
    }
}
