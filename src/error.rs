//! One error type for the whole gateway, and the one table that maps it to an
//! API Gateway gateway response (status, `x-amzn-ErrorType`, default message).
//!
//! Every phase that stops a request returns a [`GatewayError`]; the method-response
//! phase turns it into bytes with [`GatewayResponse::for_kind`]. Later issues make the
//! table customisable per API (gateway responses).

use std::fmt;

/// What went wrong, in API Gateway's gateway-response vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed or ambiguous HTTP framing (400, connection closed).
    BadRequest,
    /// Request line + headers over the limit (431, connection closed).
    HeadersTooLarge,
    /// Payload over the limit (413, connection closed).
    RequestTooLarge,
    /// The client was too slow sending its head or body (408, connection closed).
    RequestTimeout,
    /// No API, stage or route matched on a REST API (403).
    MissingAuthenticationToken,
    /// No route matched on an HTTP API (404).
    ResourceNotFound,
    /// The API refuses this way in, e.g. its execute-api endpoint is disabled (403).
    Forbidden,
    /// `Cache-Control: max-age=0` from a caller not allowed to invalidate the cache, on a
    /// stage whose strategy is FAIL_WITH_403.
    CacheInvalidationDenied,
    /// The Host names another custom domain than the TLS connection's SNI (421).
    MisdirectedRequest,
    /// An open TLS connection no longer passes its domain's mutual TLS after a reload
    /// (its certificate revoked or untrusted, or none on a domain that now requires one):
    /// 403 Forbidden like any unverified connection to an mTLS domain, connection closed.
    UntrustedConnection,
    /// A token bucket at some throttling level is empty (429, with Retry-After).
    Throttled,
    /// The usage plan's quota for this period is used up (429).
    QuotaExceeded,
    /// The integration endpoint refused, reset or sent garbage (502).
    IntegrationFailure,
    /// The integration did not answer within its timeout (504).
    IntegrationTimeout,
    /// No upstream could take the request (503).
    ServiceUnavailable,
    /// A bug or an impossible state inside the gateway (500).
    Internal,
    /// A configuration problem discovered at request time, e.g. an unresolved stage variable (500).
    ApiConfigurationError,
}

/// A request-stopping error: its kind plus the underlying cause, for logs.
#[derive(Debug)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Seconds for a `Retry-After` header (throttling).
    pub retry_after: Option<u64>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            source: None,
            retry_after: None,
        }
    }

    /// A throttled request: 429 with `Retry-After: secs`.
    pub fn throttled(secs: u64) -> Self {
        Self {
            kind: ErrorKind::Throttled,
            source: None,
            retry_after: Some(secs),
        }
    }

    pub fn with_source(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
            retry_after: None,
        }
    }

    /// Whether the client connection must be closed after answering (framing errors).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::BadRequest
                | ErrorKind::HeadersTooLarge
                | ErrorKind::RequestTooLarge
                | ErrorKind::RequestTimeout
                | ErrorKind::UntrustedConnection
        )
    }
}

impl From<ErrorKind> for GatewayError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = GatewayResponse::for_kind(self.kind);
        write!(f, "{} ({})", r.response_type, r.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

/// A gateway response type: what API Gateway sends for an error it produces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayResponse {
    /// API Gateway's gateway-response type name (e.g. `MISSING_AUTHENTICATION_TOKEN`).
    pub response_type: &'static str,
    pub status: u16,
    /// Value of the `x-amzn-ErrorType` header.
    pub error_type: &'static str,
    /// The `message` in the JSON body.
    pub message: &'static str,
}

impl GatewayResponse {
    /// The one table: error kind -> gateway response.
    pub const fn for_kind(kind: ErrorKind) -> GatewayResponse {
        use ErrorKind::*;
        let (response_type, status, error_type, message) = match kind {
            BadRequest => ("BAD_REQUEST", 400, "BadRequestException", "Bad Request"),
            HeadersTooLarge => (
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                431,
                "RequestHeaderFieldsTooLargeException",
                "Request Header Fields Too Large",
            ),
            RequestTooLarge => (
                "REQUEST_TOO_LARGE",
                413,
                "RequestTooLargeException",
                "HTTP content length exceeded 10485760 bytes.",
            ),
            RequestTimeout => (
                "REQUEST_TIMEOUT",
                408,
                "RequestTimeoutException",
                "Request Timeout",
            ),
            MissingAuthenticationToken => (
                "MISSING_AUTHENTICATION_TOKEN",
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            ResourceNotFound => ("RESOURCE_NOT_FOUND", 404, "NotFoundException", "Not Found"),
            Forbidden | UntrustedConnection => {
                ("ACCESS_DENIED", 403, "ForbiddenException", "Forbidden")
            }
            CacheInvalidationDenied => (
                "ACCESS_DENIED",
                403,
                "AccessDeniedException",
                "User is not authorized to perform: execute-api:InvalidateCache",
            ),
            Throttled => ("THROTTLED", 429, "ThrottlingException", "Too Many Requests"),
            QuotaExceeded => (
                "QUOTA_EXCEEDED",
                429,
                "LimitExceededException",
                "Limit Exceeded",
            ),
            MisdirectedRequest => (
                "MISDIRECTED_REQUEST",
                421,
                "MisdirectedRequestException",
                "Misdirected Request",
            ),
            IntegrationFailure => (
                "INTEGRATION_FAILURE",
                502,
                "InternalServerErrorException",
                "Internal server error",
            ),
            IntegrationTimeout => (
                "INTEGRATION_TIMEOUT",
                504,
                "InternalServerErrorException",
                "Endpoint request timed out",
            ),
            ServiceUnavailable => (
                "DEFAULT_5XX",
                503,
                "ServiceUnavailableException",
                "Service Unavailable",
            ),
            Internal => (
                "DEFAULT_5XX",
                500,
                "InternalServerErrorException",
                "Internal server error",
            ),
            ApiConfigurationError => (
                "API_CONFIGURATION_ERROR",
                500,
                "InternalServerErrorException",
                "Internal server error",
            ),
        };
        GatewayResponse {
            response_type,
            status,
            error_type,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_api_gateway_defaults() {
        let r = GatewayResponse::for_kind(ErrorKind::MissingAuthenticationToken);
        assert_eq!((r.status, r.message), (403, "Missing Authentication Token"));
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::ResourceNotFound).status,
            404
        );
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::IntegrationTimeout).status,
            504
        );
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::IntegrationFailure).status,
            502
        );
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::HeadersTooLarge).status,
            431
        );
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::RequestTooLarge).status,
            413
        );
    }

    #[test]
    fn framing_errors_close_the_connection() {
        assert!(GatewayError::new(ErrorKind::BadRequest).closes_connection());
        assert!(GatewayError::new(ErrorKind::UntrustedConnection).closes_connection());
        assert_eq!(
            GatewayResponse::for_kind(ErrorKind::UntrustedConnection),
            GatewayResponse::for_kind(ErrorKind::Forbidden)
        );
        assert!(!GatewayError::new(ErrorKind::ResourceNotFound).closes_connection());
    }
}
