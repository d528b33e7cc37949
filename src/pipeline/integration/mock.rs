//! MOCK integration: answer from configuration without calling anything.

use crate::config::snapshot::MockIntegration;
use crate::error::GatewayError;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::{Next, ResponseBody, Session};
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{discard_unread, head_only, keep_alive};

pub async fn respond<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    mock: &MockIntegration,
) -> Result<Next, GatewayError> {
    session.release_head();
    discard_unread(session).await?;
    let keep_alive = keep_alive(ctx, session);
    session.start_response(mock.status);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    for (name, value) in &mock.headers {
        if !crate::pipeline::cors::replaces(rc, name.as_bytes()) {
            session.response_header(name.as_bytes(), value.as_bytes());
        }
    }
    // 204 and 304 have no content, hence no Content-Length (RFC 9110 §8.6, §15.3.5).
    let bodiless = mock.status == 204 || mock.status == 304;
    let body = if bodiless {
        ResponseBody::None
    } else {
        ResponseBody::Length(mock.body.len() as u64)
    };
    session.end_response_head(body, keep_alive);
    if !head_only(session) && !bodiless {
        session.push_body(&mock.body);
    }
    rc.status = mock.status;
    rc.response_length = if bodiless { 0 } else { mock.body.len() as u64 };
    if session.finish_response().await.is_err() || !session.keeps_alive() {
        return Ok(Next::Close);
    }
    Ok(Next::KeepAlive)
}
