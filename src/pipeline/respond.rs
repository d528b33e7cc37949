//! Phase 10 for errors: a `GatewayError` becomes API Gateway's gateway response
//! (`{"message": ...}`, `x-amzn-ErrorType`, `x-amzn-RequestId`) from the one table in
//! `error`, and the connection is kept or closed as the request's state allows.

use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError, GatewayResponse};
use crate::log;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::{BodyState, Next, ResponseBody, Session};
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{head_only, keep_alive};

/// Answer a request with the gateway response for `err`.
pub async fn error<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    _snapshot: &Snapshot,
    err: GatewayError,
) -> Next {
    if matches!(
        err.kind,
        ErrorKind::IntegrationFailure | ErrorKind::IntegrationTimeout | ErrorKind::Internal
    ) || err.source.is_some()
    {
        log!(
            "request {}: {err}",
            std::str::from_utf8(&rc.request_id).unwrap_or("-")
        );
    }
    rc.error = Some(err.kind);
    session.release_head();
    let mut keep_alive = keep_alive(ctx, session) && !err.closes_connection();
    if keep_alive {
        match session.body_state() {
            BodyState::Done => {}
            BodyState::Partial => keep_alive = false,
            // Read and drop a body nobody asked for yet, unless the client is waiting for a
            // 100 Continue (then it is cheaper to close than to invite the upload).
            BodyState::Untouched if session.expect_continue() => keep_alive = false,
            BodyState::Untouched => {
                if session.discard_body().await.is_err() {
                    keep_alive = false;
                }
            }
        }
    }
    let resp = GatewayResponse::for_kind(err.kind);
    // {"message":"..."}: the table's messages hold no characters that need JSON escaping;
    // a message of the error's own (authorizers; the error path only) is escaped.
    let own = err
        .detail
        .as_ref()
        .and_then(|d| d.message.as_deref())
        .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "\"\"".into()));
    let body_len = match &own {
        Some(quoted) => quoted.len() + 12,
        None => resp.message.len() + 14,
    };
    session.start_response(resp.status);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    if let Some(secs) = err.retry_after {
        let mut digits = [0u8; 20];
        session.response_header(b"retry-after", decimal(secs, &mut digits));
    }
    session.response_header(b"content-type", b"application/json");
    session.response_header(b"x-amzn-errortype", resp.error_type.as_bytes());
    if let Some(detail) = &err.detail {
        for (name, value) in &detail.headers {
            session.response_header(name.as_bytes(), value.as_bytes());
        }
    }
    session.end_response_head(ResponseBody::Length(body_len as u64), keep_alive);
    if !head_only(session) {
        match &own {
            Some(quoted) => {
                session.push_body(b"{\"message\":");
                session.push_body(quoted.as_bytes());
                session.push_body(b"}");
            }
            None => {
                session.push_body(b"{\"message\":\"");
                session.push_body(resp.message.as_bytes());
                session.push_body(b"\"}");
            }
        }
    }
    rc.status = resp.status;
    rc.response_length = body_len as u64;
    rc.error_message = err.detail.and_then(|d| d.message);
    if session.flush().await.is_err() {
        return Next::Close;
    }
    if !session.keeps_alive() {
        session.close_after_error().await;
        return Next::Close;
    }
    Next::KeepAlive
}

/// `n` in decimal, written into the end of `buf` (no allocation).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
