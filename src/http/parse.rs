//! Request-head parsing with httparse plus the RFC 9112 framing guards.
//!
//! CONTRACT (implemented by the HTTP work):
//! `parse_request_head(buf, limits, head)`:
//! - `Ok(false)`: the head is incomplete and `buf.len() < limits.max_head_bytes` (read more).
//! - `Ok(true)`: `head` is filled (spans into `buf`), `head.head_len` bytes consumed.
//! - `Err(ErrorKind::HeadersTooLarge)`: no complete head within `max_head_bytes`, or more
//!   than `max_headers` fields (431).
//! - `Err(ErrorKind::BadRequest)` (400, caller closes the connection) for: httparse errors
//!   (bad tokens, spaces/control chars in names, bare CR, obs-fold), versions other than
//!   1.0/1.1, a target that is not origin-form (`/...`), absolute-form (`http://h/...`, which
//!   is reduced to its path and its authority used as host) or `*` (OPTIONS only);
//!   both Content-Length and Transfer-Encoding; differing or malformed Content-Length
//!   (duplicates or comma lists of one identical value are accepted); any Transfer-Encoding
//!   other than exactly `chunked` (case-insensitive), or TE on HTTP/1.0; HTTP/1.1 without
//!   exactly one Host; NUL/CR/LF in header values.
//! - `Err(ErrorKind::RequestTooLarge)`: Content-Length above `limits.max_body_bytes`.
//! - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
//!   `Expect: 100-continue` (case-insensitive) sets `expect_continue` (1.1 only).
//! - Never panics on any input; allocates nothing once `head.headers` has grown.

use crate::config::snapshot::HttpLimits;
use crate::error::ErrorKind;
use crate::http::head::Head;

pub fn parse_request_head(buf: &[u8], limits: &HttpLimits, head: &mut Head) -> Result<bool, ErrorKind> {
    let _ = (buf, limits, head);
    todo!()
}
