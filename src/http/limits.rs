//! The limits the HTTP/1.1 wire code enforces on a client (API Gateway's defaults); the
//! configuration sets them (`limits:` in the file, `config::snapshot::HttpLimits`).

use std::time::Duration;

/// Client-side HTTP limits (API Gateway's defaults).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Request line + headers, bytes. Default 10240 -> 431 when exceeded.
    pub max_head_bytes: usize,
    /// Number of header fields. Default 100 -> 431 when exceeded.
    pub max_headers: usize,
    /// Payload, bytes. Default 10 MiB (10485760) -> 413 when exceeded.
    pub max_body_bytes: u64,
    /// Time to receive a complete request head once its first byte arrived. Default 10 s -> 408.
    pub header_read_timeout: Duration,
    /// Idle time allowed between requests on a keep-alive connection. Default 60 s -> close.
    pub keepalive_timeout: Duration,
    /// Longest pause between two reads of a request body. Default 30 s -> 408.
    pub body_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 10240,
            max_headers: 100,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}
