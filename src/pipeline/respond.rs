//! Phase 10 for errors: a `GatewayError` becomes API Gateway's gateway response
//! (`{"message": ...}`, `x-amzn-ErrorType`, `x-amzn-RequestId`) from the one table in
//! `error`, and the connection is kept or closed as the request's state allows.

use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError, GatewayResponse};
use crate::http::write::push_error_response;
use crate::log;
use crate::net::conn::{BodyState, ClientConn, Next};
use crate::pipeline::body::BodyReader;
use crate::pipeline::RequestFacts;
use crate::runtime::worker::WorkerCtx;

/// Answer a request with the gateway response for `err`.
pub async fn error(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    err: GatewayError,
) -> Next {
    if matches!(
        err.kind,
        ErrorKind::IntegrationFailure | ErrorKind::IntegrationTimeout | ErrorKind::Internal
    ) || err.source.is_some()
    {
        log!(
            "request {}: {err}",
            std::str::from_utf8(&facts.id).unwrap_or("-")
        );
    }
    if conn.head.head_len != 0 {
        conn.release_head();
    }
    let mut keep_alive = facts.keep_alive(ctx) && !err.closes_connection();
    if keep_alive {
        match conn.body_state {
            BodyState::Done => {}
            BodyState::Partial => keep_alive = false,
            // Read and drop a body nobody asked for yet, unless the client is waiting for a
            // 100 Continue (then it is cheaper to close than to invite the upload).
            BodyState::Untouched if facts.expect_continue => keep_alive = false,
            BodyState::Untouched => {
                let limits = &snapshot.limits;
                let mut reader = BodyReader::new(
                    facts.body,
                    false,
                    limits.max_body_bytes,
                    limits.body_read_timeout,
                );
                if reader.discard(conn).await.is_err() {
                    keep_alive = false;
                }
            }
        }
    }
    let resp = GatewayResponse::for_kind(err.kind);
    conn.wbuf.clear();
    push_error_response(
        &mut conn.wbuf,
        &resp,
        &ctx.date.now(),
        &facts.id,
        keep_alive,
        facts.version_minor == 0,
        facts.head_only(),
        err.retry_after,
    );
    if conn.flush_wbuf().await.is_err() {
        return Next::Close;
    }
    if !keep_alive {
        conn.linger_close().await;
        return Next::Close;
    }
    Next::KeepAlive
}

/// Answer a request whose head could not be read (malformed, too large, too slow) and close.
pub async fn error_and_close(ctx: &WorkerCtx, conn: &mut ClientConn, kind: ErrorKind) {
    let resp = GatewayResponse::for_kind(kind);
    let id = ctx.ids.next();
    conn.wbuf.clear();
    push_error_response(
        &mut conn.wbuf,
        &resp,
        &ctx.date.now(),
        &id,
        false,
        false,
        false,
        None,
    );
    let _ = conn.flush_wbuf().await;
    conn.linger_close().await;
}
