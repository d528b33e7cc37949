//! AWS service integrations (`AWS` with an `arn:aws:apigateway:...:{service}:path/...` or
//! `:action/...` URI): the integration request built as API Gateway builds it
//! (`aws_service::request`), the body read whole and converted as `content_handling` says,
//! the call SigV4-signed for the service and sent over the worker's pool
//! (`upstream::aws::call_service`), and the service's answer passed back.
//!
//! Until integration responses exist (mapping templates), the method response is the
//! service's response passed through, as a REST API whose integration response is the
//! default passthrough one: its status, its `Content-Type` (`application/json` when it
//! sent none) and its body, byte for byte; no other service header. The call fails with
//! 504 `Endpoint request timed out` past the integration's timeout, and with the
//! INTEGRATION_FAILURE gateway response when the service cannot be reached or answers
//! garbage (docs/BEHAVIOUR.md, "AWS service integrations").

pub mod request;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use monoio::time::Instant;

use crate::config::aws::ServiceEndpoint;
use crate::config::aws_integration::{AwsServiceIntegration, ContentHandling};
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError, GatewayResponse};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::buffered::read_whole_body;
use crate::pipeline::session::{BodyState, Next, ResponseBody, Session};
use crate::pipeline::taps::ResponseTaps;
use crate::pipeline::worker::WorkerCtx;
use crate::pipeline::{head_only, keep_alive};
use crate::upstream::aws::{call_service, ServiceRequest};
use crate::upstream::call::CallError;
use request::{ServiceParts, Sources};

/// The largest service response passed back (API Gateway's 10 MB payload limit).
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// The largest request body buffer kept for the next request.
const KEPT_BODY_CAPACITY: usize = 64 * 1024;

pub async fn call<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    service: &AwsServiceIntegration,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    // The reused buffers leave the context for the call (moves of a few pointers).
    let mut body = std::mem::take(&mut rc.scratch.body);
    let mut wire = std::mem::take(&mut rc.scratch.upstream_request);
    let result = call_with(
        ctx, session, rc, snapshot, routed, service, &mut body, &mut wire, taps,
    )
    .await;
    body.clear();
    if body.capacity() > KEPT_BODY_CAPACITY {
        body = Vec::new();
    }
    rc.scratch.body = body;
    rc.scratch.upstream_request = wire;
    if let Err(e) = &result {
        if matches!(
            e.kind,
            ErrorKind::IntegrationFailure | ErrorKind::IntegrationTimeout
        ) {
            rc.integration.error = Some(GatewayResponse::for_kind(e.kind).response_type);
        }
    }
    result
}

/// The method request's values, for the parameter mapping.
struct Values<'a, 'r, S> {
    session: &'a S,
    routed: &'a Routed<'r>,
    rc: &'a RequestContext,
    snapshot: &'a Snapshot,
}

impl<S: Session> Sources for Values<'_, '_, S> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.session
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .last()
            .map(|(_, v)| v)
    }
    fn query(&self) -> &[u8] {
        self.session.query().unwrap_or_default()
    }
    fn path_param(&self, name: &str) -> Option<&str> {
        self.routed.param(name, self.session.path())
    }
    fn stage_variable(&self, name: &str) -> Option<&str> {
        self.routed.variables.get(name).map(String::as_str)
    }
    fn context(&self, name: &str, out: &mut String) -> bool {
        self.rc.variable(name, self.snapshot, out)
    }
}

#[allow(clippy::too_many_arguments)]
async fn call_with<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    rc: &mut RequestContext,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    service: &AwsServiceIntegration,
    body: &mut Vec<u8>,
    wire: &mut Vec<u8>,
    taps: &mut ResponseTaps<'_>,
) -> Result<Next, GatewayError> {
    // Where the call goes, and who signs it.
    let configured = service
        .endpoint
        .as_ref()
        .or_else(|| snapshot.aws.endpoints.get(&service.arn.service));
    let default;
    let endpoint = match configured {
        Some(ep) => ep,
        None => {
            default = default_endpoint(snapshot, service)?;
            &default
        }
    };
    // A `{bucket}.s3` ARN goes to the bucket's own host on AWS; on a configured endpoint
    // (a local S3) the bucket leads the path instead.
    let path_style_bucket = if configured.is_some() && service.is_s3() {
        service.arn.subdomain.as_deref()
    } else {
        None
    };
    let credentials = service
        .credentials
        .as_ref()
        .unwrap_or(&snapshot.aws.credentials);

    // 7. Integration request: path, query and headers while the head is readable.
    let content_type = session.header("content-type");
    let binary = content_type.is_some_and(|ct| routed.api.binary_media_types.matches(ct));
    let mut parts = ServiceParts::default();
    {
        let values = Values {
            session: &*session,
            routed,
            rc: &*rc,
            snapshot,
        };
        request::build(
            service,
            path_style_bucket,
            content_type,
            &values,
            &mut parts,
        )
        .map_err(|e| match e {
            request::BuildError::NoPathValue(_) => {
                GatewayError::with_source(ErrorKind::ApiConfigurationError, e)
            }
            request::BuildError::BadHeaderValue(_) => {
                GatewayError::with_source(ErrorKind::BadRequest, e)
            }
        })?;
    }
    // The body, whole (the signature covers its hash), converted as configured.
    read_whole_body(session, body, snapshot.limits.max_body_bytes)
        .await
        .map_err(GatewayError::from)?;
    session.release_head();
    if let Some(handling) = service.content_handling {
        convert_request_body(body, handling, binary)
            .map_err(|why| GatewayError::with_source(ErrorKind::ApiConfigurationError, why))?;
    }

    // 8. The call.
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = ServiceRequest {
        service: &service.signing_name,
        region: &service.arn.region,
        method: service.method.as_str(),
        path: &parts.path,
        query: &parts.query,
        headers: &headers,
        body,
        s3: service.is_s3(),
    };
    let started = Instant::now();
    rc.trace.integration_offset = Some(started.saturating_duration_since(rc.start));
    let deadline = started + service.timeout;
    let answer = call_service(
        &ctx.upstreams,
        ctx.lambda_caches.signer(),
        endpoint,
        credentials,
        &req,
        deadline,
        MAX_RESPONSE_BYTES,
        wire,
    )
    .await
    .map_err(call_error)?;
    rc.integration.status = answer.status;
    rc.integration.latency = Some(started.elapsed());

    // 9.-10. The service's response, passed through.
    let status = answer.status;
    let keep_alive = keep_alive(ctx, session) && session.body_state() == BodyState::Done;
    let bodiless = status == 204 || status == 304;
    let length = if bodiless { 0 } else { answer.body.len() };
    // Response observers (the stage cache's recorder, the execution log's data trace).
    taps.head(status, Some(length as u64), head_only(session));
    session.start_response(status);
    let content_type = answer.header("content-type").unwrap_or(b"application/json");
    session.response_header(b"content-type", content_type);
    taps.header(b"content-type", content_type);
    session.response_header(b"date", &ctx.date.now());
    session.response_header(b"x-amzn-requestid", &rc.request_id);
    crate::pipeline::cors::add_headers(ctx, session, rc);
    taps.end_head(|name, value| session.response_header(name, value));
    session.end_response_head(
        if bodiless {
            ResponseBody::None
        } else {
            ResponseBody::Length(length as u64)
        },
        keep_alive,
    );
    rc.status = status;
    let limit = snapshot.limits.body_read_timeout;
    if head_only(session) || length == 0 {
        match monoio::time::timeout(limit, session.finish_response()).await {
            Ok(Ok(())) => {}
            _ => return Ok(Next::Abort),
        }
    } else {
        if taps.wants_body() {
            taps.body(answer.body.get(..length).unwrap_or_default());
        }
        let sent = monoio::time::timeout(limit, async {
            let (res, _) = session.send_body_owned(answer.body, 0..length).await;
            res?;
            session.finish_response().await
        })
        .await;
        match sent {
            Ok(Ok(())) => rc.response_length = length as u64,
            _ => return Ok(Next::Abort),
        }
    }
    Ok(if session.keeps_alive() {
        Next::KeepAlive
    } else {
        Next::Close
    })
}

/// AWS's own endpoint of the integration's service and region (`{subdomain}.` in front
/// when the ARN names one).
fn default_endpoint(
    snapshot: &Snapshot,
    service: &AwsServiceIntegration,
) -> Result<ServiceEndpoint, GatewayError> {
    let arn = &service.arn;
    let ep = match &arn.subdomain {
        None => snapshot.aws.endpoint(&arn.service, &arn.region),
        Some(sub) => ServiceEndpoint::parse(
            &format!("https://{sub}.{}.{}.amazonaws.com", arn.service, arn.region),
            || {
                snapshot
                    .aws
                    .system_tls
                    .clone()
                    .ok_or_else(|| "the system's TLS trust roots could not be loaded".into())
            },
        ),
    };
    ep.map_err(|why| {
        GatewayError::with_source(
            ErrorKind::ApiConfigurationError,
            format!("{} endpoint: {why}", arn.service),
        )
    })
}

/// A failed call as the gateway response it becomes.
fn call_error(e: CallError) -> GatewayError {
    match e {
        CallError::TimedOut => {
            GatewayError::with_source(ErrorKind::IntegrationTimeout, "AWS service call timed out")
        }
        CallError::TooLarge => GatewayError::with_source(
            ErrorKind::IntegrationFailure,
            format!("the service's response is over {MAX_RESPONSE_BYTES} bytes"),
        ),
        other => GatewayError::with_source(ErrorKind::IntegrationFailure, other),
    }
}

/// API Gateway's request `contentHandling`: `binary` says whether the payload's
/// Content-Type is one of the API's binary media types. CONVERT_TO_TEXT base64-encodes a
/// binary payload; CONVERT_TO_BINARY base64-decodes a text one (failing when it is not
/// base64: API_CONFIGURATION_ERROR, as API Gateway); the other two cases pass as they are.
pub fn convert_request_body(
    body: &mut Vec<u8>,
    handling: ContentHandling,
    binary: bool,
) -> Result<(), &'static str> {
    match (handling, binary) {
        (ContentHandling::ConvertToText, true) => {
            let text = STANDARD.encode(&body[..]);
            body.clear();
            body.extend_from_slice(text.as_bytes());
            Ok(())
        }
        (ContentHandling::ConvertToBinary, false) => {
            let trimmed: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let bytes = STANDARD
                .decode(&trimmed)
                .map_err(|_| "CONVERT_TO_BINARY: the request body is not base64")?;
            body.clear();
            body.extend_from_slice(&bytes);
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_handling_of_request_bodies() {
        use ContentHandling::*;
        let bytes: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0, 0xff];
        // Binary to text: base64.
        let mut b = bytes.clone();
        convert_request_body(&mut b, ConvertToText, true).unwrap();
        assert_eq!(b, b"iVBORwD/");
        // Text stays text.
        let mut b = b"{\"a\":1}".to_vec();
        convert_request_body(&mut b, ConvertToText, false).unwrap();
        assert_eq!(b, b"{\"a\":1}");
        // Text to binary: decoded (whitespace and line breaks tolerated).
        let mut b = b"iVBO\r\nRwD/\n".to_vec();
        convert_request_body(&mut b, ConvertToBinary, false).unwrap();
        assert_eq!(b, bytes);
        // Binary stays binary.
        let mut b = bytes.clone();
        convert_request_body(&mut b, ConvertToBinary, true).unwrap();
        assert_eq!(b, bytes);
        // Not base64.
        let mut b = b"not base64!".to_vec();
        assert!(convert_request_body(&mut b, ConvertToBinary, false).is_err());
        // Empty bodies stay empty.
        let mut b = Vec::new();
        convert_request_body(&mut b, ConvertToBinary, false).unwrap();
        assert!(b.is_empty());
        convert_request_body(&mut b, ConvertToText, true).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn call_errors_become_gateway_responses() {
        assert_eq!(
            call_error(CallError::TimedOut).kind,
            ErrorKind::IntegrationTimeout
        );
        assert_eq!(
            call_error(CallError::TooLarge).kind,
            ErrorKind::IntegrationFailure
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            call_error(CallError::Connect(refused)).kind,
            ErrorKind::IntegrationFailure
        );
        assert_eq!(
            call_error(CallError::Malformed("x")).kind,
            ErrorKind::IntegrationFailure
        );
    }
}
