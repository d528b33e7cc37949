//! Incremental `Transfer-Encoding: chunked` decoder (request bodies and upstream responses).
//!
//! CONTRACT (implemented by the HTTP work):
//! - `ChunkedDecoder::new(max_total)`; feed it whatever bytes have arrived with `decode`.
//! - `decode(input)` returns the next step: `Data { start, end }` (a range of `input` holding
//!   body bytes; the decoder has consumed up to `end`), `NeedMore { consumed }` (all of
//!   `input[..consumed]` was framing; call again with more bytes after dropping the consumed
//!   prefix), or `Done { consumed }` (last chunk and trailers read; bytes after `consumed`
//!   belong to the next message). Callers loop until NeedMore or Done.
//! - Errors: `ErrorKind::BadRequest` for a malformed chunk-size line (non-hex, empty, > 16 hex
//!   digits / overflow, missing CRLF after data, bare LF is accepted as line end, chunk
//!   extensions longer than 4096 bytes, trailer section longer than 8192 bytes);
//!   `ErrorKind::RequestTooLarge` once the decoded total would exceed `max_total`.
//! - Chunk extensions and trailers are discarded.

use crate::error::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Data { start: usize, end: usize },
    NeedMore { consumed: usize },
    Done { consumed: usize },
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    _todo: (),
}

impl ChunkedDecoder {
    pub fn new(max_total: u64) -> Self {
        let _ = max_total;
        todo!()
    }

    /// Total body bytes decoded so far.
    pub fn total(&self) -> u64 {
        todo!()
    }

    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ErrorKind> {
        let _ = input;
        todo!()
    }
}
