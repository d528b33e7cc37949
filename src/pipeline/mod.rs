//! The request pipeline: one straight-line `run`, one phase per module, in API Gateway's
//! order. Every phase either continues with a value or stops the request with a
//! `GatewayError` (the `?`), which `respond` turns into the gateway response.

pub mod api_key;
pub mod body;
pub mod cache;
pub mod integration;
pub mod request_id;
pub mod respond;
pub mod route;
pub mod throttle;

use crate::config::snapshot::Integration;
use crate::error::GatewayError;
use crate::http::head::{BodyFraming, Method};
use crate::net::conn::{BodyState, ClientConn, Next};
use crate::runtime::worker::WorkerCtx;

/// Facts about the current request that outlive its head (which is released before the
/// body streams).
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts {
    pub id: [u8; 36],
    pub method: Method,
    pub version_minor: u8,
    /// The client's wish (version and `Connection`); see `keep_alive()`.
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub body: BodyFraming,
}

impl RequestFacts {
    /// Whether the response may keep the connection open: the client asked for it and the
    /// worker is not draining (checked when the response is written, not when it started).
    pub fn keep_alive(&self, ctx: &WorkerCtx) -> bool {
        self.keep_alive && !ctx.drain.is_draining()
    }

    /// Responses to HEAD carry no body.
    pub fn head_only(&self) -> bool {
        self.method == Method::Head
    }
}

/// Remove from the request, whatever the listener and the route: every header named like a
/// forwarded certificate header of any custom domain (`mtls.forward_headers`), also when
/// spelt with `_` for `-` or in another case, which CGI/WSGI upstreams would merge with the
/// real one; and, on a listener with `drop_underscore_headers`, every name holding a `_`.
/// In place, allocation-free; the upstream head is written from what is left.
pub fn drop_reserved_headers(snapshot: &crate::config::Snapshot, conn: &mut ClientConn) {
    let underscores = snapshot
        .listeners
        .get(conn.listener)
        .is_some_and(|l| l.drop_underscore_headers);
    let reserved = &snapshot.forwarded_cert_headers;
    if reserved.is_empty() && !underscores {
        return;
    }
    conn.head.drop_headers(&conn.rbuf, |name| {
        (underscores && name.contains(&b'_'))
            || reserved
                .iter()
                .any(|r| crate::http::head::same_name_modulo_punctuation(name, r.as_bytes()))
    });
}

/// Handle the request whose head is parsed in `conn.head`. On return the head and body
/// have been consumed from `conn.rbuf` (or the connection is to be closed).
pub async fn run(ctx: &WorkerCtx, conn: &mut ClientConn) -> Next {
    let snapshot = ctx.snapshot();
    let services = ctx.services();
    // 2. (end of) parse: before anything reads the headers, drop those no client may send.
    drop_reserved_headers(&snapshot, conn);
    let head = &conn.head;
    let facts = RequestFacts {
        id: ctx.ids.next(),
        method: head.method(),
        version_minor: head.version_minor,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
        body: head.body,
    };

    conn.body_state = match facts.body {
        BodyFraming::None => BodyState::Done,
        _ => BodyState::Untouched,
    };

    let outcome: Result<Next, GatewayError> = async {
        // A TLS connection first meeting a reloaded configuration is re-checked there.
        route::check_connection(&snapshot, conn)?;
        // 3. route: host -> API -> stage -> route (+ path parameters).
        let routed = route::resolve(&snapshot, conn, || ctx.roll_percent())?;
        // 4. method request: the API key (authorizers and validation: later issues).
        let key = api_key::identify(&snapshot, conn, &routed)?;
        // 5. throttling and quota.
        throttle::admit(ctx, &snapshot, &routed, key)?;
        // 6. cache: a hit (or a refused invalidation) ends the request here.
        let mut miss = match cache::lookup(ctx, conn, &facts, &snapshot, &services, &routed).await?
        {
            cache::Phase::Done(next) => return Ok(next),
            cache::Phase::Fetch(miss) => miss,
        };
        // 7.-9. integration request, integration, integration response.
        let next = match &routed.route.integration {
            Integration::Mock(mock) => {
                integration::mock::respond(ctx, conn, &facts, &snapshot, mock).await
            }
            Integration::HttpProxy(proxy) => {
                let miss = miss.as_mut();
                integration::http_proxy::forward(ctx, conn, &facts, &snapshot, &routed, proxy, miss)
                    .await
            }
        };
        // 10. method response: store what the cache recorded.
        if next.is_ok() {
            cache::store(miss);
        }
        next
    }
    .await;

    // 10. method response for errors: the gateway response from the one table.
    match outcome {
        Ok(next) => next,
        Err(err) => respond::error(ctx, conn, &facts, &snapshot, err).await,
    }
}
