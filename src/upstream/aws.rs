//! A call to an AWS service endpoint (the Lambda Invoke API, SQS, S3, DynamoDB, or a local
//! stand-in for one): the request SigV4-signed for its service and region with the
//! configured keys (unsigned without keys), sent whole and its response read whole, over
//! the worker's keep-alive pool (`upstream::call`), before a deadline.
//!
//! Used by the Lambda and AWS-service integrations; the signer is the worker's one
//! (`auth::sigv4::Signer`, shared with the IAM authorizer's verifier and signing-key cache).

use std::cell::RefCell;

use monoio::time::Instant;

use crate::auth::sigv4::{payload_sha256_hex, Credentials, RequestParts, Signer, SigningParams};
use crate::auth::sigv4::{SigningSettings, UriMode};
use crate::config::aws::{AwsCredentials, ServiceEndpoint};
use crate::upstream::call::{call, write_request, CallError, CallResponse};
use crate::upstream::pool::{
    Endpoint, PoolKey, Upstreams, IDLE_TIMEOUT, MAX_IDLE_PER_ORIGIN, NO_GROUP,
};

/// Pool group of connections to https service endpoints (plain ones use `NO_GROUP`), so
/// that a TLS and a plain connection to one address are never mixed up.
pub const AWS_TLS_GROUP: u32 = u32::MAX - 1;

/// One service request, before signing.
#[derive(Debug, Clone, Copy)]
pub struct ServiceRequest<'a> {
    /// The signing name (`lambda`, `sqs`, `s3`, `dynamodb`, ...).
    pub service: &'a str,
    pub region: &'a str,
    pub method: &'a str,
    /// The absolute path as sent (percent-encoded where needed), without the endpoint's
    /// base path (added here).
    pub path: &'a str,
    /// The query string as sent, without `?` (may be empty).
    pub query: &'a str,
    /// Headers besides `host`, `content-length` and the signature's own.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// S3 signs the path as sent and wants `x-amz-content-sha256`.
    pub s3: bool,
}

/// Sign `req` (when `credentials` hold keys) and call `endpoint`; a response body longer
/// than `max_body` is refused. `buf` is the request's buffer (reused by callers).
#[allow(clippy::too_many_arguments)]
pub async fn call_service(
    upstreams: &Upstreams,
    signer: &RefCell<Signer>,
    endpoint: &ServiceEndpoint,
    credentials: &AwsCredentials,
    req: &ServiceRequest<'_>,
    deadline: Instant,
    max_body: usize,
    buf: &mut Vec<u8>,
) -> Result<CallResponse, CallError> {
    let addr = match endpoint.addr {
        Some(a) => a,
        None => upstreams
            .resolve(&endpoint.host, endpoint.port)
            .await
            .map_err(CallError::Connect)?,
    };
    let server_name;
    let tls = match &endpoint.tls {
        Some(config) => {
            server_name = endpoint.server_name().ok_or_else(|| {
                CallError::Connect(std::io::Error::other("endpoint host is not a TLS name"))
            })?;
            Some((config, server_name))
        }
        None => None,
    };
    let ep = Endpoint {
        key: PoolKey {
            addr,
            group: if tls.is_some() {
                AWS_TLS_GROUP
            } else {
                NO_GROUP
            },
        },
        tls,
        proxy_v2: None,
        max_idle: MAX_IDLE_PER_ORIGIN,
        idle_timeout: IDLE_TIMEOUT,
    };
    let full_path;
    let path = if endpoint.base_path.is_empty() {
        req.path
    } else {
        full_path = format!("{}{}", endpoint.base_path, req.path);
        &full_path
    };
    let target: std::borrow::Cow<'_, str> = if req.query.is_empty() {
        std::borrow::Cow::Borrowed(path)
    } else {
        std::borrow::Cow::Owned(format!("{path}?{}", req.query))
    };
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 4);
    for &(name, value) in req.headers {
        headers.push((name, value));
    }
    let signed = credentials.keys().map(|keys| {
        let mut over: Vec<(&[u8], &[u8])> = Vec::with_capacity(headers.len() + 1);
        over.push((b"host", endpoint.host_header.as_bytes()));
        over.extend(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        let parts = RequestParts::new(req.method, path, req.query, &over[..]);
        let hash = payload_sha256_hex(req.body);
        let hash = std::str::from_utf8(&hash).unwrap_or_default();
        let params = SigningParams {
            credentials: Credentials {
                access_key_id: &keys.access_key_id,
                secret_access_key: keys.secret_access_key.expose(),
                session_token: keys.session_token.as_ref().map(|t| t.expose()),
            },
            region: req.region,
            service: req.service,
            time: std::time::SystemTime::now(),
            settings: SigningSettings {
                uri: if req.s3 {
                    UriMode::S3
                } else {
                    UriMode::SERVICE
                },
                content_sha256_header: req.s3,
                session_token_signed: true,
            },
        };
        signer.borrow_mut().sign(&parts, hash, &params)
    });
    let mut all: Vec<(&str, &str)> = headers;
    if let Some(s) = &signed {
        for (name, value) in s.headers() {
            all.push((name, value));
        }
    }
    write_request(
        buf,
        req.method,
        &target,
        &endpoint.host_header,
        &all,
        req.body,
    );
    call(upstreams, &ep, buf, deadline, max_body).await
}
