//! One error type for the whole gateway, and the one table that maps it to an
//! API Gateway gateway response (status, `x-amzn-ErrorType`, default message).
//!
//! Every phase that stops a request returns a [`GatewayError`]; the method-response
//! phase turns it into bytes with [`GatewayResponse::for_kind`]. Each kind belongs to one
//! of API Gateway's customisable gateway response types ([`ResponseType`],
//! [`ErrorKind::response_type`]): an API's `gateway_responses` customise them
//! (`config::gateway_response`, rendered by `pipeline::respond`).

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
    /// The integration refused the call (Lambda's Invoke API answered 429, 404, 413 ...):
    /// 500, gateway response type INTEGRATION_FAILURE.
    IntegrationRejected,
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
    /// A route requiring an API key got none, or one that is unknown, disabled or in no
    /// usage plan of the stage (403 `Forbidden`, INVALID_API_KEY).
    InvalidApiKey,
    /// The request's Content-Type is not one the integration accepts (415,
    /// e.g. a `passthrough_behavior: NEVER` template miss).
    UnsupportedMediaType,
    /// A request validator refused the request's parameters (400, BAD_REQUEST_PARAMETERS;
    /// the validator's message names them).
    BadRequestParameters,
    /// A request validator refused the request's body (400, BAD_REQUEST_BODY).
    BadRequestBody,
    /// A web ACL blocked the request (403, WAF_FILTERED).
    WafFiltered,
}

impl ErrorKind {
    /// The customisable gateway response type this kind is answered with: its own type
    /// when API Gateway lets that type be customised, else `DEFAULT_4XX` / `DEFAULT_5XX` by
    /// its status (e.g. a 400 framing error, 421, 503).
    pub const fn response_type(self) -> ResponseType {
        use ErrorKind::*;
        match self {
            MissingAuthenticationToken => ResponseType::MissingAuthenticationToken,
            ResourceNotFound => ResponseType::ResourceNotFound,
            RequestTooLarge => ResponseType::RequestTooLarge,
            Forbidden | UntrustedConnection | CacheInvalidationDenied | AccessDenied => {
                ResponseType::AccessDenied
            }
            Throttled => ResponseType::Throttled,
            QuotaExceeded => ResponseType::QuotaExceeded,
            IntegrationFailure | IntegrationRejected => ResponseType::IntegrationFailure,
            IntegrationTimeout => ResponseType::IntegrationTimeout,
            ApiConfigurationError => ResponseType::ApiConfigurationError,
            Unauthorized => ResponseType::Unauthorized,
            InvalidSignature | IncompleteSignature | UnrecognizedClient => {
                ResponseType::InvalidSignature
            }
            ExpiredToken => ResponseType::ExpiredToken,
            AuthorizerConfiguration => ResponseType::AuthorizerConfigurationError,
            AuthorizerFailure => ResponseType::AuthorizerFailure,
            InvalidApiKey => ResponseType::InvalidApiKey,
            UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            BadRequestParameters => ResponseType::BadRequestParameters,
            BadRequestBody => ResponseType::BadRequestBody,
            WafFiltered => ResponseType::WafFiltered,
            BadRequest | HeadersTooLarge | RequestTimeout | MisdirectedRequest => {
                ResponseType::Default4xx
            }
            ServiceUnavailable | Internal => ResponseType::Default5xx,
        }
    }
}

/// API Gateway's customisable gateway response types (`PutGatewayResponse`'s
/// `responseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    Default4xx,
    Default5xx,
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
}

impl ResponseType {
    /// How many types there are.
    pub const COUNT: usize = 21;

    /// Every type, in [`ResponseType::index`] order.
    pub const ALL: [ResponseType; ResponseType::COUNT] = {
        use ResponseType::*;
        [
            Default4xx,
            Default5xx,
            AccessDenied,
            ApiConfigurationError,
            AuthorizerConfigurationError,
            AuthorizerFailure,
            BadRequestParameters,
            BadRequestBody,
            ExpiredToken,
            IntegrationFailure,
            IntegrationTimeout,
            InvalidApiKey,
            InvalidSignature,
            MissingAuthenticationToken,
            QuotaExceeded,
            RequestTooLarge,
            ResourceNotFound,
            Throttled,
            Unauthorized,
            UnsupportedMediaType,
            WafFiltered,
        ]
    };

    /// Position in [`ResponseType::ALL`] (dense, for tables indexed by type).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The type's name as API Gateway spells it (`DEFAULT_4XX`, `INVALID_API_KEY`, ...).
    pub const fn name(self) -> &'static str {
        use ResponseType::*;
        match self {
            Default4xx => "DEFAULT_4XX",
            Default5xx => "DEFAULT_5XX",
            AccessDenied => "ACCESS_DENIED",
            ApiConfigurationError => "API_CONFIGURATION_ERROR",
            AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            AuthorizerFailure => "AUTHORIZER_FAILURE",
            BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            BadRequestBody => "BAD_REQUEST_BODY",
            ExpiredToken => "EXPIRED_TOKEN",
            IntegrationFailure => "INTEGRATION_FAILURE",
            IntegrationTimeout => "INTEGRATION_TIMEOUT",
            InvalidApiKey => "INVALID_API_KEY",
            InvalidSignature => "INVALID_SIGNATURE",
            MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            QuotaExceeded => "QUOTA_EXCEEDED",
            RequestTooLarge => "REQUEST_TOO_LARGE",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            Throttled => "THROTTLED",
            Unauthorized => "UNAUTHORIZED",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            WafFiltered => "WAF_FILTERED",
        }
    }

    /// The type called `name` (exact spelling).
    pub fn from_name(name: &str) -> Option<ResponseType> {
        ResponseType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// API Gateway's documented default status code for the type (`None` for
    /// `DEFAULT_4XX` and `DEFAULT_5XX`, whose status is the answered error's own). What
    /// tollgate answers is the kind's status in [`GatewayResponse::for_kind`]: the same,
    /// except INTEGRATION_FAILURE, answered 502 as API Gateway does for an unreachable or
    /// malformed integration (docs/BEHAVIOUR.md "Gateway responses").
    pub const fn default_status(self) -> Option<u16> {
        use ResponseType::*;
        Some(match self {
            Default4xx | Default5xx => return None,
            AccessDenied
            | ExpiredToken
            | InvalidApiKey
            | InvalidSignature
            | MissingAuthenticationToken
            | WafFiltered => 403,
            ApiConfigurationError | AuthorizerConfigurationError | AuthorizerFailure => 500,
            BadRequestParameters | BadRequestBody => 400,
            IntegrationFailure | IntegrationTimeout => 504,
            QuotaExceeded | Throttled => 429,
            RequestTooLarge => 413,
            ResourceNotFound => 404,
            Unauthorized => 401,
            UnsupportedMediaType => 415,
        })
    }

    /// The fallback type whose customisation applies to this one when it has none of its
    /// own: `DEFAULT_4XX` for 4XX types, `DEFAULT_5XX` for 5XX types (itself for those two).
    pub const fn fallback(self) -> ResponseType {
        match self.default_status() {
            Some(s) if s >= 500 => ResponseType::Default5xx,
            Some(_) => ResponseType::Default4xx,
            None => self,
        }
    }
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
            IntegrationRejected => (
                "INTEGRATION_FAILURE",
                500,
                "InternalServerErrorException",
                "Internal server error",
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
            InvalidApiKey => ("INVALID_API_KEY", 403, "ForbiddenException", "Forbidden"),
            UnsupportedMediaType => (
                "UNSUPPORTED_MEDIA_TYPE",
                415,
                "UnsupportedMediaTypeException",
                "Unsupported Media Type",
            ),
            BadRequestParameters => (
                "BAD_REQUEST_PARAMETERS",
                400,
                "BadRequestException",
                "Missing required request parameters",
            ),
            BadRequestBody => (
                "BAD_REQUEST_BODY",
                400,
                "BadRequestException",
                "Invalid request body",
            ),
            WafFiltered => ("WAF_FILTERED", 403, "ForbiddenException", "Forbidden"),
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

    /// Every kind (the exhaustive match in `ErrorKind::response_type` makes a new kind a
    /// compile error there; add it here too).
    const KINDS: [ErrorKind; 31] = {
        use ErrorKind::*;
        [
            BadRequest,
            HeadersTooLarge,
            RequestTooLarge,
            RequestTimeout,
            MissingAuthenticationToken,
            ResourceNotFound,
            Forbidden,
            CacheInvalidationDenied,
            MisdirectedRequest,
            UntrustedConnection,
            Throttled,
            QuotaExceeded,
            IntegrationFailure,
            IntegrationRejected,
            IntegrationTimeout,
            ServiceUnavailable,
            Internal,
            ApiConfigurationError,
            Unauthorized,
            AccessDenied,
            InvalidSignature,
            IncompleteSignature,
            ExpiredToken,
            UnrecognizedClient,
            AuthorizerConfiguration,
            AuthorizerFailure,
            InvalidApiKey,
            UnsupportedMediaType,
            BadRequestParameters,
            BadRequestBody,
            WafFiltered,
        ]
    };

    #[test]
    fn response_types_are_api_gateways_twenty_one() {
        assert_eq!(ResponseType::ALL.len(), 21);
        for (i, t) in ResponseType::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(ResponseType::from_name(t.name()), Some(t));
        }
        for name in [
            "DEFAULT_4XX",
            "DEFAULT_5XX",
            "ACCESS_DENIED",
            "API_CONFIGURATION_ERROR",
            "AUTHORIZER_CONFIGURATION_ERROR",
            "AUTHORIZER_FAILURE",
            "BAD_REQUEST_PARAMETERS",
            "BAD_REQUEST_BODY",
            "EXPIRED_TOKEN",
            "INTEGRATION_FAILURE",
            "INTEGRATION_TIMEOUT",
            "INVALID_API_KEY",
            "INVALID_SIGNATURE",
            "MISSING_AUTHENTICATION_TOKEN",
            "QUOTA_EXCEEDED",
            "REQUEST_TOO_LARGE",
            "RESOURCE_NOT_FOUND",
            "THROTTLED",
            "UNAUTHORIZED",
            "UNSUPPORTED_MEDIA_TYPE",
            "WAF_FILTERED",
        ] {
            assert!(ResponseType::from_name(name).is_some(), "{name}");
        }
        assert_eq!(ResponseType::from_name("default_4xx"), None);
        assert_eq!(ResponseType::from_name("BAD_REQUEST"), None);
    }

    #[test]
    fn api_gateway_default_statuses_and_fallbacks() {
        use ResponseType::*;
        let cases = [
            (AccessDenied, 403),
            (ApiConfigurationError, 500),
            (AuthorizerConfigurationError, 500),
            (AuthorizerFailure, 500),
            (BadRequestParameters, 400),
            (BadRequestBody, 400),
            (ExpiredToken, 403),
            (IntegrationFailure, 504),
            (IntegrationTimeout, 504),
            (InvalidApiKey, 403),
            (InvalidSignature, 403),
            (MissingAuthenticationToken, 403),
            (QuotaExceeded, 429),
            (RequestTooLarge, 413),
            (ResourceNotFound, 404),
            (Throttled, 429),
            (Unauthorized, 401),
            (UnsupportedMediaType, 415),
            (WafFiltered, 403),
        ];
        for (t, status) in cases {
            assert_eq!(t.default_status(), Some(status), "{}", t.name());
            let fallback = if status >= 500 {
                Default5xx
            } else {
                Default4xx
            };
            assert_eq!(t.fallback(), fallback, "{}", t.name());
        }
        assert_eq!(Default4xx.default_status(), None);
        assert_eq!(Default5xx.default_status(), None);
        assert_eq!(Default4xx.fallback(), Default4xx);
        assert_eq!(Default5xx.fallback(), Default5xx);
    }

    #[test]
    fn every_kind_has_a_customisable_type_of_its_status_class() {
        for kind in KINDS {
            let r = GatewayResponse::for_kind(kind);
            let t = kind.response_type();
            match t {
                ResponseType::Default4xx => assert!((400..500).contains(&r.status), "{kind:?}"),
                ResponseType::Default5xx => assert!((500..600).contains(&r.status), "{kind:?}"),
                // A type of its own: the table names it, and its fallback is of the
                // status's class.
                _ => {
                    assert_eq!(r.response_type, t.name(), "{kind:?}");
                    let class = if r.status >= 500 {
                        ResponseType::Default5xx
                    } else {
                        ResponseType::Default4xx
                    };
                    assert_eq!(t.fallback(), class, "{kind:?}");
                }
            }
            // A kind's table type that is a customisable type's name is that type.
            if let Some(named) = ResponseType::from_name(r.response_type) {
                assert_eq!(named, t, "{kind:?}");
            }
        }
    }

    #[test]
    fn new_kinds_answer_api_gateways_defaults() {
        let r = GatewayResponse::for_kind(ErrorKind::InvalidApiKey);
        assert_eq!(
            (r.status, r.error_type, r.message),
            (403, "ForbiddenException", "Forbidden")
        );
        let r = GatewayResponse::for_kind(ErrorKind::UnsupportedMediaType);
        assert_eq!(
            (r.status, r.error_type, r.message),
            (
                415,
                "UnsupportedMediaTypeException",
                "Unsupported Media Type"
            )
        );
        for k in [ErrorKind::BadRequestParameters, ErrorKind::BadRequestBody] {
            let r = GatewayResponse::for_kind(k);
            assert_eq!((r.status, r.error_type), (400, "BadRequestException"));
        }
        let r = GatewayResponse::for_kind(ErrorKind::WafFiltered);
        assert_eq!(
            (r.status, r.response_type, r.message),
            (403, "WAF_FILTERED", "Forbidden")
        );
        // Not framing errors: the connection stays open.
        for k in [
            ErrorKind::InvalidApiKey,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::BadRequestParameters,
            ErrorKind::BadRequestBody,
            ErrorKind::WafFiltered,
        ] {
            assert!(!GatewayError::new(k).closes_connection(), "{k:?}");
        }
    }
}
