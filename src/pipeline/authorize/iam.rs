//! AWS_IAM authorization: a SigV4-signed request (header or presigned URL) from one of the
//! principals of `iam:`, then that principal's identity policies.
//!
//! 1. No `Authorization` header and no presigned query parameters: 403 `Missing
//!    Authentication Token`, before any body is read.
//! 2. The body is read whole (at most `limits.max_body_bytes`, else 413) and hashed: API
//!    Gateway signs what it received. The integration then replays it from memory
//!    (`rc.scratch.buffered_body`), with a Content-Length even when it came chunked.
//! 3. The signature is verified (`auth::sigv4::Verifier`, service `execute-api` in
//!    `server.region`), path and query as received, `host` from the Host header or, on
//!    HTTP/2, `:authority`. A refusal answers 403 with AWS's own text (the mismatch message
//!    holds the canonical request and string to sign the gateway computed).
//! 4. `$context.identity.*` is filled, then the principal's identity policies decide for
//!    `execute-api:Invoke` on the method ARN. On an API without a resource policy the
//!    decision is final here (IAM with an absent resource policy: Table A within the API's
//!    account, Table B across accounts, as `auth::policy::combine` documents); with one, the
//!    verdict goes to `resource_policy::after`, which combines both.
//!
//! Per-worker state ([`IamState`]): the verifier (its reused buffers and signing-key
//! cache), the verifier settings for the snapshot's region and the method-ARN buffer,
//! borrowed only between awaits. With them a verified request allocates nothing but its
//! `$context.identity` strings (tests/authorizer_iam_alloc.rs).

use std::cell::RefCell;
use std::time::SystemTime;

use super::{Outcome, Verdict};
use crate::auth::policy::{self, Authorization, Decision, RequestFacts};
use crate::auth::sigv4::{
    payload_sha256_hex, Credentials, HeaderFn, RequestParts, Verifier, VerifierConfig, VerifyError,
    EMPTY_PAYLOAD_SHA256,
};
use crate::config::authorizer::AuthorizationType;
use crate::config::Snapshot;
use crate::error::{ErrorKind, GatewayError};
use crate::pipeline::context::RequestContext;
use crate::pipeline::route::Routed;
use crate::pipeline::session::buffered::read_whole_body;
use crate::pipeline::session::{BodyState, Session};
use crate::pipeline::worker::WorkerCtx;

/// The one action `AWS_IAM` routes authorize.
pub const INVOKE: &str = "execute-api:Invoke";

/// This worker's SigV4 state (see [`IamState`]).
struct IamWorker {
    verifier: Verifier,
    /// For `config.region`; replaced when a reload changes `server.region`.
    config: VerifierConfig,
    /// The method ARN of the request being authorized.
    arn: String,
}

/// A worker's AWS_IAM state: built on the first signed request, rebuilt when a reload
/// changes `server.region`. Plain per-worker data (no `Send`, nothing shared).
#[derive(Default)]
pub struct IamState(RefCell<Option<IamWorker>>);

/// Run `f` on this worker's [`IamState`] (`WorkerCtx::iam`).
fn with_state<R>(ctx: &WorkerCtx, f: impl FnOnce(&IamState) -> R) -> R {
    f(&ctx.iam)
}

/// Whether the query may carry a presigned signature (`X-Amz-Algorithm`,
/// `X-Amz-Credential` or `X-Amz-Signature`, or a percent-encoded name that may decode to
/// one: the verifier decides).
fn query_may_be_signed(query: &[u8]) -> bool {
    query.split(|&b| b == b'&').any(|piece| {
        let name = piece.split(|&b| b == b'=').next().unwrap_or(piece);
        matches!(
            name,
            b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
        ) || (name.len() >= 5 && name.contains(&b'%'))
    })
}

/// The gateway error answering a verifier's refusal: API Gateway's kind, and its message.
pub fn refusal(e: &VerifyError) -> GatewayError {
    let kind = match e {
        VerifyError::MissingAuthenticationToken => ErrorKind::MissingAuthenticationToken,
        VerifyError::UnrecognizedClient => ErrorKind::UnrecognizedClient,
        VerifyError::SignatureExpired { .. } | VerifyError::SignatureNotYetCurrent { .. } => {
            ErrorKind::ExpiredToken
        }
        VerifyError::IncompleteSignature(_) => ErrorKind::IncompleteSignature,
        VerifyError::InvalidSignature(_) | VerifyError::SignatureMismatch { .. } => {
            ErrorKind::InvalidSignature
        }
    };
    GatewayError::with_message(kind, e.message())
}

fn verdict(d: Decision) -> Verdict {
    match d {
        Decision::Allow => Verdict::Allow,
        Decision::ExplicitDeny => Verdict::ExplicitDeny,
        Decision::NoMatch => Verdict::NoMatch,
    }
}

pub async fn authorize<S: Session>(
    ctx: &WorkerCtx,
    session: &mut S,
    snapshot: &Snapshot,
    routed: &Routed<'_>,
    rc: &mut RequestContext,
) -> Result<Outcome, GatewayError> {
    // 1. A signature at all; nothing is read from an unsigned caller.
    if session.header("authorization").is_none()
        && !query_may_be_signed(session.query().unwrap_or_default())
    {
        return Err(GatewayError::new(ErrorKind::MissingAuthenticationToken));
    }

    // 2. The body, whole: its hash is signed.
    if session.body_state() != BodyState::Done {
        read_whole_body(
            session,
            &mut rc.scratch.body,
            snapshot.limits.max_body_bytes,
        )
        .await
        .map_err(GatewayError::from)?;
        rc.scratch.buffered_body = true;
    } else {
        rc.scratch.body.clear();
    }
    let digest;
    let payload_hash = if rc.scratch.body.is_empty() {
        EMPTY_PAYLOAD_SHA256
    } else {
        digest = payload_sha256_hex(&rc.scratch.body);
        std::str::from_utf8(&digest).unwrap_or_default()
    };

    // 3. The signature. HTTP/2 has no Host header in `headers()`: `:authority` stands in.
    let host = if session.header("host").is_some() {
        None
    } else {
        session.host()
    };
    let headers = HeaderFn(|| {
        session
            .headers()
            .chain(host.map(|h| (&b"host"[..], h.as_bytes())))
    });
    let method = std::str::from_utf8(session.method_bytes()).unwrap_or_default();
    let req = RequestParts {
        method,
        path: session.path().as_bytes(),
        query: session.query().unwrap_or_default(),
        headers: &headers,
    };
    let iam = &snapshot.iam;
    let region = snapshot.server.region.as_str();

    with_state(ctx, |state| {
        let mut slot = state.0.borrow_mut();
        let w = match &mut *slot {
            Some(w) if w.config.region == region => w,
            _ => slot.insert(IamWorker {
                verifier: Verifier::new(),
                config: VerifierConfig::execute_api(region),
                arn: String::with_capacity(128),
            }),
        };
        let mut found = None;
        w.verifier
            .verify(&req, payload_hash, &w.config, SystemTime::now(), |akid| {
                let (i, p) = iam.principal(akid)?;
                found = Some(i);
                Some(Credentials {
                    access_key_id: &p.access_key_id,
                    secret_access_key: p.secret_access_key.expose(),
                    session_token: p.session_token.as_ref().map(|t| t.expose()),
                })
            })
            .map_err(|e| refusal(&e))?;
        let principal = found
            .and_then(|i| iam.principals.get(i))
            .ok_or_else(|| GatewayError::new(ErrorKind::Internal))?;

        // 4. Who called, then what their policies say.
        rc.authorizer.iam = Some(std::sync::Arc::clone(&principal.identity));
        super::method_arn(snapshot, rc, &mut w.arn);
        let facts = RequestFacts {
            action: INVOKE,
            resource: &w.arn,
            caller: Some(principal.caller()),
            source_ip: rc.source_ip,
            source_vpce: snapshot
                .listeners
                .get(session.listener())
                .map(|l| l.name.as_str()),
        };
        let identity = policy::evaluate(&principal.policies, &facts);
        if routed.api.resource_policy.is_none() {
            let decided = policy::combine(
                None,
                Authorization::Iam {
                    identity,
                    same_account: principal.account_id == snapshot.server.account_id,
                },
            );
            if let policy::Outcome::Deny(denial) = decided {
                let mut message = String::new();
                denial.write_message(&mut message, Some(&principal.arn), INVOKE, &w.arn);
                return Err(GatewayError::with_message(ErrorKind::AccessDenied, message));
            }
        }
        Ok(Outcome {
            kind: AuthorizationType::AwsIam,
            policy: Some(verdict(identity)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_may_be_signed_only_with_presigning_parameters() {
        assert!(!query_may_be_signed(b""));
        assert!(!query_may_be_signed(b"a=1&b=X-Amz-Signature"));
        assert!(!query_may_be_signed(b"X-Amz-Date=20150830T123600Z"));
        assert!(query_may_be_signed(b"a=1&X-Amz-Signature=abc"));
        assert!(query_may_be_signed(b"X-Amz-Algorithm=AWS4-HMAC-SHA256"));
        assert!(query_may_be_signed(b"X-Amz-Credential"));
        assert!(query_may_be_signed(b"X%2DAmz-Signature=abc"));
    }

    #[test]
    fn refusals_map_to_api_gateway_kinds_with_their_own_message() {
        let cases = [
            (
                VerifyError::MissingAuthenticationToken,
                ErrorKind::MissingAuthenticationToken,
            ),
            (
                VerifyError::UnrecognizedClient,
                ErrorKind::UnrecognizedClient,
            ),
            (
                VerifyError::SignatureExpired {
                    signed_at: "20150830T123600Z".into(),
                    earliest: "20150830T124000Z".into(),
                    now: "20150830T124500Z".into(),
                    window: 300,
                },
                ErrorKind::ExpiredToken,
            ),
            (
                VerifyError::SignatureNotYetCurrent {
                    signed_at: "20150830T130000Z".into(),
                    latest: "20150830T125000Z".into(),
                    now: "20150830T124500Z".into(),
                    window: 300,
                },
                ErrorKind::ExpiredToken,
            ),
            (
                VerifyError::IncompleteSignature("x".into()),
                ErrorKind::IncompleteSignature,
            ),
            (
                VerifyError::InvalidSignature("y".into()),
                ErrorKind::InvalidSignature,
            ),
            (
                VerifyError::SignatureMismatch {
                    canonical_request: "c".into(),
                    string_to_sign: "s".into(),
                },
                ErrorKind::InvalidSignature,
            ),
        ];
        for (e, kind) in cases {
            let g = refusal(&e);
            assert_eq!(g.kind, kind, "{e:?}");
            assert_eq!(
                g.detail.as_ref().and_then(|d| d.message.clone()),
                Some(e.message())
            );
        }
    }
}
