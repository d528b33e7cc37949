//! Phase 6, cache: on a stage with caching on, a cacheable request (its route and method
//! cached, TTL above zero) is answered from the stage's cache when the entry is there, or
//! waits for a fetch of the same key already under way (request coalescing), or goes to the
//! integration with a `Miss` that records the response for the cache (phase 10, `store`).
//! `Cache-Control: max-age=0` forces a fetch for callers allowed to invalidate the cache.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::entry::{CachedResponse, MAX_BODY};
use crate::cache::flight::Fill;
use crate::cache::key::{self, KeySource};
use crate::cache::stage::StageCache;
use crate::cache::store::Lookup;
use crate::config::snapshot::{CacheSettings, Integration, UnauthorizedStrategy};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::http::write::{push_header, push_status_line};
use crate::pipeline::context::{CacheStatus, RequestContext};
use crate::pipeline::route::Routed;
use crate::pipeline::session::{Next, ResponseBody, Session};
use crate::pipeline::taps::ResponseTaps;
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{discard_unread, head_only, keep_alive};
use crate::services::Services;

/// The warning a caller gets when its `Cache-Control: max-age=0` was ignored
/// (SUCCEED_WITH_RESPONSE_HEADER).
pub const IGNORED_WARNING: &[u8] =
    b"199 tollgate \"Cache-Control: max-age=0 ignored: not authorized to invalidate the cache\"";

/// What the cache phase decided.
pub enum Phase {
    /// Answered from the cache: the request is done.
    Done(Next),
    /// Go to the integration (a cacheable request's recorder is on the response taps).
    Fetch,
}

/// A cacheable request on its way to the integration: the headers its response gets and,
/// when this request fills the cache, the response being recorded.
pub struct Miss<'s> {
    /// (header name, value) saying "miss", when the stage names one.
    pub status_header: Option<(&'s [u8], &'s [u8])>,
    /// Add the "max-age=0 ignored" warning.
    pub warning: bool,
    fill: Option<Fill<'s, CachedResponse>>,
    ttl: Duration,
    cache: &'s StageCache,
    /// Whether a response carrying `Set-Cookie` may be stored.
    set_cookie: bool,
    /// The response so far: head block, then body. Empty until `begin`.
    record: Vec<u8>,
    head_len: usize,
    status: u16,
}

impl<'s> Miss<'s> {
    /// The response head arrives: record it only when it can be cached (2xx, a body of at
    /// most 1 MB when its length is known); otherwise let coalesced waiters go now.
    /// Returns whether the response is being recorded.
    pub fn begin(&mut self, status: u16, length: Option<u64>) -> bool {
        if self.fill.is_none() {
            return false;
        }
        let cacheable = (200..300).contains(&status) && length.is_none_or(|n| n <= MAX_BODY as u64);
        if !cacheable {
            self.abandon();
            return false;
        }
        self.status = status;
        self.record.clear();
        push_status_line(&mut self.record, status);
        true
    }

    /// Whether the response is being recorded.
    pub fn recording(&self) -> bool {
        self.fill.is_some() && self.status != 0
    }

    /// One response header line, as forwarded to the client. A `Set-Cookie` stops the
    /// recording unless the stage opts in (one caller's cookie is never replayed to others;
    /// coalesced waiters then fetch for themselves).
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        if !self.recording() || name.eq_ignore_ascii_case(b"date") {
            return;
        }
        if !self.set_cookie && name.eq_ignore_ascii_case(b"set-cookie") {
            self.abandon();
            return;
        }
        push_header(&mut self.record, name, value);
    }

    /// The head is complete; body bytes follow.
    pub fn end_head(&mut self) {
        self.head_len = self.record.len();
    }

    /// Body bytes as sent to the client. Past 1 MB the response is not cached.
    pub fn body(&mut self, data: &[u8]) {
        if !self.recording() {
            return;
        }
        if self.record.len() - self.head_len + data.len() > MAX_BODY {
            self.abandon();
            return;
        }
        self.record.extend_from_slice(data);
    }

    /// The response was cut short: cache nothing (coalesced waiters fetch for themselves).
    pub fn fail(&mut self) {
        self.abandon();
    }

    fn abandon(&mut self) {
        if let Some(fill) = self.fill.take() {
            fill.abandon();
        }
        self.record = Vec::new();
        self.status = 0;
    }
}

/// Phase 6. On a miss of a cacheable request, the recorder is registered on `taps`.
pub async fn lookup<'s, S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &'s Snapshot,
    services: &'s Services,
    routed: &Routed<'s>,
    taps: &mut ResponseTaps<'s>,
) -> Result<Phase, GatewayError> {
    let Some(settings) = routed.stage.cache.as_ref() else {
        return Ok(Phase::Fetch);
    };
    let canary_bypass = routed.canary
        && !routed
            .stage
            .canary
            .as_ref()
            .is_some_and(|c| c.use_stage_cache);
    let mock = matches!(routed.route.integration, Integration::Mock(_));
    let method = session.method();
    let Some(ttl) = settings.ttl_for(&routed.route.key, method) else {
        return Ok(Phase::Fetch);
    };
    let Some(cache) = services.stage_cache(routed.stage.id) else {
        return Ok(Phase::Fetch);
    };
    if canary_bypass || mock {
        return Ok(Phase::Fetch);
    }

    let mut key = std::mem::take(&mut rc.scratch.cache_key);
    // Cached methods are always known ones (`Method::Other` is never configured).
    key::build(
        &mut key,
        method.as_str().as_bytes(),
        routed.route,
        &Source { routed, session },
    );
    let refresh = wants_refresh(session);
    let allowed = refresh && may_invalidate(snapshot, settings, session);
    let result = decide(
        ctx,
        session,
        rc,
        Lookup1 {
            snapshot,
            settings,
            cache,
            ttl,
            key: &key,
            refresh,
            allowed,
        },
        taps,
    )
    .await;
    rc.scratch.cache_key = key;
    result
}

/// What `decide` needs to know about the lookup.
struct Lookup1<'s, 'k> {
    /// The request's configuration (its API's CORS, for hits).
    snapshot: &'s Snapshot,
    settings: &'s CacheSettings,
    cache: &'s StageCache,
    ttl: Duration,
    key: &'k [u8],
    refresh: bool,
    allowed: bool,
}

async fn decide<'s, S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    l: Lookup1<'s, '_>,
    taps: &mut ResponseTaps<'s>,
) -> Result<Phase, GatewayError> {
    let Lookup1 {
        snapshot,
        settings,
        cache,
        ttl,
        key,
        refresh,
        allowed,
    } = l;
    let status_header = settings
        .status_header
        .as_ref()
        .map(|h| (h.name.as_bytes(), h.miss.as_bytes()));
    let mut miss = Miss {
        status_header,
        warning: false,
        fill: None,
        ttl,
        cache,
        set_cookie: settings.set_cookie,
        record: Vec::new(),
        head_len: 0,
        status: 0,
    };
    if refresh && allowed {
        // Fetch, and replace the entry with what comes back.
        cache.count_miss(ctx.id);
        rc.cache = CacheStatus::Miss;
        miss.fill = Some(cache.store.fill(key));
        taps.cache = Some(miss);
        return Ok(Phase::Fetch);
    }
    if refresh {
        match settings.unauthorized {
            UnauthorizedStrategy::FailWith403 => {
                return Err(ErrorKind::CacheInvalidationDenied.into())
            }
            UnauthorizedStrategy::SucceedWithResponseHeader => miss.warning = true,
            UnauthorizedStrategy::SucceedWithoutResponseHeader => {}
        }
    }
    let hit = match cache.store.lookup(key, cache.now(), settings.coalescing) {
        Lookup::Hit(entry) => Some(entry),
        Lookup::Miss(fill) => {
            miss.fill = Some(fill);
            None
        }
        Lookup::Wait(waiter) => {
            match monoio::time::timeout(settings.coalescing_timeout, waiter).await {
                Ok(Some(entry)) => Some(entry),
                // The leader got nothing cacheable, or took too long: fetch (and fill) alone.
                _ => {
                    miss.fill = Some(cache.store.fill(key));
                    None
                }
            }
        }
    };
    match hit {
        Some(entry) => {
            cache.count_hit(ctx.id);
            rc.cache = CacheStatus::Hit;
            let hit_header = settings
                .status_header
                .as_ref()
                .map(|h| (h.name.as_bytes(), h.hit.as_bytes()));
            let extra = HitHeaders {
                status_header: hit_header,
                warning: miss.warning,
            };
            let next = serve_hit(ctx, session, rc, snapshot, entry, extra).await?;
            Ok(Phase::Done(next))
        }
        None => {
            cache.count_miss(ctx.id);
            rc.cache = CacheStatus::Miss;
            taps.cache = Some(miss);
            Ok(Phase::Fetch)
        }
    }
}

/// Phase 10 for a recorded response: store it (coalesced waiters get it too).
pub fn store(miss: Option<Miss<'_>>) {
    let Some(mut miss) = miss else { return };
    let Some(fill) = miss.fill.take() else { return };
    if miss.status == 0 {
        fill.abandon();
        return;
    }
    let record = std::mem::take(&mut miss.record);
    let entry = Arc::new(CachedResponse::new(miss.status, record, miss.head_len));
    let size = entry.size();
    fill.complete(entry, size, miss.ttl, miss.cache.now());
}

/// What a hit adds to the stored head besides Date and the request id.
struct HitHeaders<'s> {
    /// (header name, value) saying "hit", when the stage names one.
    status_header: Option<(&'s [u8], &'s [u8])>,
    /// Add the "max-age=0 ignored" warning.
    warning: bool,
}

/// Date, request id, the stage's hit header, the warning, and the CORS headers (at most 4).
const HIT_HEADERS: usize = 8;

/// Answer from the cache: the stored head and body, with a fresh Date and request id, and
/// the CORS headers of the request's API for its origin (as on any response).
async fn serve_hit<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    entry: Arc<CachedResponse>,
    extra: HitHeaders<'_>,
) -> Result<Next, GatewayError> {
    session.release_head();
    discard_unread(session).await?;
    let keep_alive = keep_alive(ctx, session);
    rc.status = entry.status();
    rc.response_length = entry.body().len() as u64;
    let date = ctx.date.now();
    let mut headers: [(&[u8], &[u8]); HIT_HEADERS] = [(b"", b""); HIT_HEADERS];
    headers[0] = (b"date", &date);
    headers[1] = (b"x-amzn-requestid", &rc.request_id);
    let mut n = 2;
    if let Some(h) = extra.status_header {
        headers[n] = h;
        n += 1;
    }
    if extra.warning {
        headers[n] = (b"warning", IGNORED_WARNING);
        n += 1;
    }
    let cors = crate::pipeline::cors::config(snapshot, rc);
    if let Some(cors) = cors {
        cors.response_headers(rc.cors.origin(), |name, value| {
            if let Some(slot) = headers.get_mut(n) {
                *slot = (name, value);
                n += 1;
            }
        });
    }
    // An entry stored before the API had CORS may hold the integration's own
    // Access-Control-* headers: they are not replayed (written line by line instead).
    let res = if cors.is_some() && stores_cors_header(entry.head()) {
        send_without_cors_headers(session, &entry, &headers[..n], keep_alive).await
    } else {
        session.send_cached(entry, &headers[..n], keep_alive).await
    };
    if res.is_err() || !session.keeps_alive() {
        return Ok(Next::Close);
    }
    Ok(Next::KeepAlive)
}

/// The `name: value` lines of a stored head (after its status line).
fn stored_headers(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n').skip(1).filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

/// Whether a stored head holds an `Access-Control-*` header.
fn stores_cors_header(head: &[u8]) -> bool {
    stored_headers(head).any(|(name, _)| crate::pipeline::cors::is_cors_header(name))
}

/// Send a cached response without its stored `Access-Control-*` headers, through the
/// session's ordinary head and body calls (the body is copied: entries stored before the
/// API's CORS was configured only).
async fn send_without_cors_headers<S: Session>(
    session: &mut S,
    entry: &CachedResponse,
    headers: &[(&[u8], &[u8])],
    keep_alive: bool,
) -> std::io::Result<()> {
    session.start_response(entry.status());
    for (name, value) in stored_headers(entry.head()) {
        if !crate::pipeline::cors::is_cors_header(name) {
            session.response_header(name, value);
        }
    }
    for (name, value) in headers {
        session.response_header(name, value);
    }
    let bodiless = entry.status() == 204 || entry.status() == 304;
    let body = if bodiless {
        ResponseBody::None
    } else {
        ResponseBody::Length(entry.body().len() as u64)
    };
    session.end_response_head(body, keep_alive);
    if !bodiless && !head_only(session) {
        session.push_body(entry.body());
    }
    session.finish_response().await
}

/// Does the request carry `Cache-Control: max-age=0`?
fn wants_refresh<S: Session>(session: &S) -> bool {
    session
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cache-control"))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"max-age=0"))
}

/// May this caller invalidate the cache? Anyone, unless authorization is required; then
/// callers with an enabled API key the stage lists (until authorizers exist).
fn may_invalidate<S: Session>(snapshot: &Snapshot, settings: &CacheSettings, session: &S) -> bool {
    if !settings.require_authorization {
        return true;
    }
    let Some(value) = session.header("x-api-key") else {
        return false;
    };
    let Some(&index) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| snapshot.api_keys_by_value.get(v))
    else {
        return false;
    };
    snapshot.api_keys.get(index).is_some_and(|k| k.enabled)
        && settings.invalidation_keys.contains(&index)
}

/// The request's values for its cache key.
struct Source<'a, 's, S> {
    routed: &'a Routed<'s>,
    session: &'a S,
}

impl<S: Session> KeySource for Source<'_, '_, S> {
    fn path_param(&self, index: usize) -> Option<&[u8]> {
        self.routed
            .param_at(index, self.session.path())
            .map(str::as_bytes)
    }

    fn query(&self) -> Option<&[u8]> {
        self.session.query()
    }

    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (n, v) in self.session.headers() {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                f(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::Policy;

    #[test]
    fn miss_records_only_cacheable_responses() {
        let cache = StageCache::new("a", "s", 64 << 20, Policy::Lru);
        let new_miss = |fill| Miss {
            status_header: None,
            warning: false,
            fill: Some(fill),
            ttl: Duration::from_secs(60),
            cache: &cache,
            set_cookie: false,
            record: Vec::new(),
            head_len: 0,
            status: 0,
        };
        // 2xx with a body: stored as head + body.
        let mut m = new_miss(cache.store.fill(b"k1"));
        assert!(m.begin(200, Some(4)));
        m.header(b"content-type", b"text/plain");
        m.header(b"Date", b"Mon, 01 Jan 2024 00:00:00 GMT");
        m.end_head();
        m.body(b"ab");
        m.body(b"cd");
        store(Some(m));
        let e = cache.store.get(b"k1", cache.now()).expect("stored");
        assert_eq!(e.head(), b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n");
        assert_eq!(e.body(), b"abcd");

        // Not 2xx: nothing stored.
        let mut m = new_miss(cache.store.fill(b"k2"));
        assert!(!m.begin(503, Some(2)));
        store(Some(m));
        assert!(cache.store.get(b"k2", cache.now()).is_none());

        // Declared over 1 MB: nothing stored; exactly 1 MB is fine.
        let mut m = new_miss(cache.store.fill(b"k3"));
        assert!(!m.begin(200, Some(MAX_BODY as u64 + 1)));
        let mut m2 = new_miss(cache.store.fill(b"k4"));
        assert!(m2.begin(200, Some(MAX_BODY as u64)));
        m2.end_head();
        m2.body(&vec![7u8; MAX_BODY]);
        store(Some(m2));
        store(Some(m));
        assert!(cache.store.get(b"k3", cache.now()).is_none());
        assert_eq!(
            cache.store.get(b"k4", cache.now()).map(|e| e.body().len()),
            Some(MAX_BODY)
        );

        // Unknown length (chunked) growing past 1 MB: dropped mid-way.
        let mut m = new_miss(cache.store.fill(b"k5"));
        assert!(m.begin(200, None));
        m.end_head();
        m.body(&vec![1u8; MAX_BODY]);
        assert!(m.recording());
        m.body(b"x");
        assert!(!m.recording());
        store(Some(m));
        assert!(cache.store.get(b"k5", cache.now()).is_none());

        // Set-Cookie (any case): not stored unless the stage opts in.
        let mut m = new_miss(cache.store.fill(b"k6"));
        assert!(m.begin(200, Some(2)));
        m.header(b"Set-Cookie", b"session=alice");
        assert!(!m.recording());
        m.end_head();
        m.body(b"hi");
        store(Some(m));
        assert!(cache.store.get(b"k6", cache.now()).is_none());
        let mut m = new_miss(cache.store.fill(b"k7"));
        m.set_cookie = true;
        assert!(m.begin(200, Some(2)));
        m.header(b"set-cookie", b"session=alice");
        m.end_head();
        m.body(b"hi");
        store(Some(m));
        let e = cache
            .store
            .get(b"k7", cache.now())
            .expect("stored with the opt-in");
        assert_eq!(
            e.head(),
            b"HTTP/1.1 200 OK\r\nset-cookie: session=alice\r\n"
        );
    }

    #[test]
    fn max_age_zero_is_found_among_directives() {
        use crate::pipeline::session::memory::MemorySession;
        for (v, want) in [
            ("max-age=0", true),
            ("no-cache, MAX-AGE=0", true),
            ("max-age=0 ", true),
            ("max-age=10", false),
            ("max-age=00", false),
            ("no-store", false),
        ] {
            let s = MemorySession::new("GET", "/", Some("a")).header("Cache-Control", v);
            assert_eq!(wants_refresh(&s), want, "{v}");
        }
    }
}
