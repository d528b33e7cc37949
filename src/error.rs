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
    /// An authorizer refused the caller's identity or found none (401, with
    /// `www-authenticate` for JWT authorizers).
    Unauthorized,
    /// An authorizer or a policy denied the caller (403); the message says which.
    AccessDenied,
    /// A SigV4 signature that does not match (403).
    InvalidSignature,
    /// A malformed SigV4 Authorization header or presigned query (403).
    IncompleteSignature,
    /// A SigV4 request signed too long ago or in the future (403).
    ExpiredToken,
    /// A SigV4 access key that no principal holds (403).
    UnrecognizedClient,
    /// An authorizer answered something unusable, failed or timed out (500).
    AuthorizerConfiguration,
    /// An authorizer could not be reached (500).
    AuthorizerFailure,
}

/// What a gateway response carries besides its table defaults: a message of its own (a
/// policy's denial naming the method ARN, a SigV4 mismatch) and headers
/// (`www-authenticate`). Boxed so that the common error stays small.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Replaces the table's `message` (JSON-escaped when written).
    pub message: Option<String>,
    /// Extra response headers (lowercase names).
    pub headers: Vec<(&'static str, String)>,
}

/// A request-stopping error: its kind plus the underlying cause, for logs.
#[derive(Debug)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Seconds for a `Retry-After` header (throttling).
    pub retry_after: Option<u64>,
    /// A message and headers of its own (authorizers), when not the table's.
    pub detail: Option<Box<ErrorDetail>>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            source: None,
            retry_after: None,
            detail: None,
        }
    }

    /// A throttled request: 429 with `Retry-After: secs`.
    pub fn throttled(secs: u64) -> Self {
        Self {
            kind: ErrorKind::Throttled,
            source: None,
            retry_after: Some(secs),
            detail: None,
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
            detail: None,
        }
    }

    /// `kind` answered with `message` instead of the table's.
    pub fn with_message(kind: ErrorKind, message: impl Into<String>) -> Self {
        let mut e = Self::new(kind);
        e.detail = Some(Box::new(ErrorDetail {
            message: Some(message.into()),
            headers: Vec::new(),
        }));
        e
    }

    /// Add a response header (e.g. `www-authenticate`).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.detail
            .get_or_insert_with(Default::default)
            .headers
            .push((name, value.into()));
        self
    }

    /// The message the response carries: its own or the table's.
    pub fn message(&self) -> &str {
        match self.detail.as_ref().and_then(|d| d.message.as_deref()) {
            Some(m) => m,
            None => GatewayResponse::for_kind(self.kind).message,
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
        write!(f, "{} ({})", r.response_type, self.message())?;
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
            Unauthorized => ("UNAUTHORIZED", 401, "UnauthorizedException", "Unauthorized"),
            AccessDenied => (
                "ACCESS_DENIED",
                403,
                "AccessDeniedException",
                "User is not authorized to access this resource",
            ),
            InvalidSignature => (
                "INVALID_SIGNATURE",
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ),
            ExpiredToken => (
                "EXPIRED_TOKEN",
                403,
                "InvalidSignatureException",
                "Signature expired",
            ),
            IncompleteSignature => (
                "INVALID_SIGNATURE",
                403,
                "IncompleteSignatureException",
                "Incomplete signature",
            ),
            UnrecognizedClient => (
                "INVALID_SIGNATURE",
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            AuthorizerConfiguration => (
                "AUTHORIZER_CONFIGURATION_ERROR",
                500,
                "AuthorizerConfigurationException",
                "Internal server error",
            ),
            AuthorizerFailure => (
                "AUTHORIZER_FAILURE",
                500,
                "AuthorizerFailureException",
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
