//! HTTP/1.1 on the wire: parsing with framing guards, body framing, response writing.

pub mod chunked;
pub mod date;
pub mod head;
pub mod host;
pub mod limits;
pub mod parse;
pub mod write;
