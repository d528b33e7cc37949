//! MOCK integration: answer from configuration without calling anything.

use crate::config::snapshot::MockIntegration;
use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::http::write::{push_common_headers, push_decimal, push_header, push_status_line};
use crate::net::conn::{ClientConn, Next};
use crate::pipeline::body::discard_unread;
use crate::pipeline::RequestFacts;
use crate::runtime::worker::WorkerCtx;

pub async fn respond(
    ctx: &WorkerCtx,
    conn: &mut ClientConn,
    facts: &RequestFacts,
    snapshot: &Snapshot,
    mock: &MockIntegration,
) -> Result<Next, GatewayError> {
    conn.release_head();
    discard_unread(conn, facts, &snapshot.limits).await?;
    let keep_alive = facts.keep_alive(ctx);
    let w = &mut conn.wbuf;
    w.clear();
    push_status_line(w, mock.status);
    push_common_headers(
        w,
        &ctx.date.now(),
        &facts.id,
        keep_alive,
        facts.version_minor == 0,
    );
    for (name, value) in &mock.headers {
        push_header(w, name.as_bytes(), value.as_bytes());
    }
    // 204 and 304 have no content, hence no Content-Length (RFC 9110 §8.6, §15.3.5).
    let bodiless = mock.status == 204 || mock.status == 304;
    if !bodiless {
        w.extend_from_slice(b"content-length: ");
        push_decimal(w, mock.body.len() as u64);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"\r\n");
    if !facts.head_only() && !bodiless {
        w.extend_from_slice(&mock.body);
    }
    if conn.flush_wbuf().await.is_err() || !keep_alive {
        return Ok(Next::Close);
    }
    Ok(Next::KeepAlive)
}
