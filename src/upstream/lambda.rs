//! The Lambda Invoke API client: `POST /2015-03-31/functions/{name}/invocations
//! [?Qualifier=...]` with `X-Amz-Invocation-Type: RequestResponse`, SigV4-signed for the
//! `lambda` service when there are keys (unsigned for SAM local and the Runtime Interface
//! Emulator), over the worker's keep-alive pool (`upstream::aws::call_service`).
//!
//! What comes back is told apart here, not judged: the Invoke API's status (200 for a
//! function that ran, 4xx/5xx when Lambda refused the invocation: 429
//! `TooManyRequestsException`, 404 `ResourceNotFoundException`, 413 payload too large...),
//! `X-Amz-Function-Error` (the function ran and failed: `Unhandled`, `Handled`) with the
//! function's error document, or the function's result. API Gateway's statuses for each
//! are the integration's business (`pipeline::integration::lambda`).

use std::cell::RefCell;

use monoio::time::Instant;

use crate::auth::sigv4::Signer;
use crate::config::aws::{AwsCredentials, ServiceEndpoint};
use crate::upstream::aws::{call_service, ServiceRequest};
use crate::upstream::call::{CallError, CallResponse};
use crate::upstream::pool::Upstreams;

/// Lambda's limit on a synchronous invocation's response payload (6 MB); a longer answer
/// is refused (`CallError::TooLarge`).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// One synchronous invocation.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// `/2015-03-31/functions/{name}/invocations` (the name percent-encoded).
    pub path: &'a str,
    /// `Qualifier=...`, or empty.
    pub query: &'a str,
    /// The function's region (signs the call).
    pub region: &'a str,
    /// The event.
    pub payload: &'a [u8],
    /// `X-Amzn-Trace-Id` to pass on (the function's X-Ray segment parent).
    pub trace_id: Option<&'a str>,
}

/// The headers of an invocation (besides `host`, `content-length` and the signature's).
pub fn headers<'a>(inv: &Invocation<'a>, out: &mut Vec<(&'static str, &'a str)>) {
    out.clear();
    out.push(("x-amz-invocation-type", "RequestResponse"));
    out.push(("content-type", "application/json"));
    if let Some(t) = inv.trace_id.filter(|t| !t.is_empty()) {
        out.push(("x-amzn-trace-id", t));
    }
}

/// The Invoke API's answer.
#[derive(Debug)]
pub struct Invoked {
    /// The Invoke API's status: 200 when the function ran.
    pub status: u16,
    /// `X-Amz-Function-Error` (`Unhandled`, `Handled`): the function failed and `body` is
    /// its error document.
    pub function_error: Option<String>,
    /// `x-amzn-ErrorType` of a refused invocation (`TooManyRequestsException`...).
    pub error_type: Option<String>,
    /// Lambda's request id (`x-amzn-RequestId`).
    pub lambda_request_id: Option<String>,
    /// The function's result, its error document, or Lambda's refusal.
    pub body: Vec<u8>,
}

impl Invoked {
    /// Whether the function ran and returned a result.
    pub fn succeeded(&self) -> bool {
        self.status == 200 && self.function_error.is_none()
    }

    pub fn from_response(r: CallResponse) -> Invoked {
        let text = |name: &str| {
            r.header(name)
                .map(|v| String::from_utf8_lossy(v).trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let function_error = text("x-amz-function-error");
        let error_type = text("x-amzn-errortype").map(|t| {
            // `TooManyRequestsException:http://internal.amazon.com/...` in some answers.
            t.split(':').next().unwrap_or_default().to_string()
        });
        let lambda_request_id = text("x-amzn-requestid");
        Invoked {
            status: r.status,
            function_error,
            error_type,
            lambda_request_id,
            body: r.body,
        }
    }
}

/// Invoke: sign (with keys) and send `inv` to `endpoint`, read the answer whole (at most
/// [`MAX_RESPONSE_BYTES`]) before `deadline`. `buf` holds the request (reused by callers).
#[allow(clippy::too_many_arguments)]
pub async fn invoke(
    upstreams: &Upstreams,
    signer: &RefCell<Signer>,
    endpoint: &ServiceEndpoint,
    credentials: &AwsCredentials,
    inv: &Invocation<'_>,
    deadline: Instant,
    buf: &mut Vec<u8>,
) -> Result<Invoked, CallError> {
    let mut hs = Vec::with_capacity(3);
    headers(inv, &mut hs);
    let req = ServiceRequest {
        service: "lambda",
        region: inv.region,
        method: "POST",
        path: inv.path,
        query: inv.query,
        headers: &hs,
        body: inv.payload,
        s3: false,
    };
    let r = call_service(
        upstreams,
        signer,
        endpoint,
        credentials,
        &req,
        deadline,
        MAX_RESPONSE_BYTES,
        buf,
    )
    .await?;
    Ok(Invoked::from_response(r))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::config::aws::AwsKeys;
    use crate::config::iam::Secret;

    /// A one-connection server answering each request with `answer`; keeps the requests.
    fn server(answer: &'static [u8]) -> (ServiceEndpoint, Arc<Mutex<Vec<Vec<u8>>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        std::thread::spawn(move || {
            let Ok((mut c, _)) = l.accept() else { return };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                // One whole request (head + Content-Length body)?
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        let req: Vec<u8> = buf.drain(..end + 4 + len).collect();
                        keep.lock().unwrap().push(req);
                        if c.write_all(answer).is_err() {
                            return;
                        }
                        continue;
                    }
                }
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let ep =
            ServiceEndpoint::parse(&format!("http://{addr}"), || Err("no tls".into())).unwrap();
        (ep, seen)
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn inv<'a>(payload: &'a [u8]) -> Invocation<'a> {
        Invocation {
            path: "/2015-03-31/functions/my-fn/invocations",
            query: "Qualifier=live",
            region: "eu-west-1",
            payload,
            trace_id: Some("Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e"),
        }
    }

    fn split(req: &[u8]) -> (String, &[u8]) {
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&req[..end]).into_owned(),
            &req[end + 4..],
        )
    }

    #[test]
    fn an_unsigned_invocation() {
        let (ep, seen) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nX-Amzn-RequestId: r-1\r\n\r\n{\"statusCode\":1}");
        let r = run(async {
            let up = Upstreams::default();
            let signer = RefCell::new(Signer::new());
            let deadline = Instant::now() + Duration::from_secs(5);
            invoke(
                &up,
                &signer,
                &ep,
                &AwsCredentials::None,
                &inv(br#"{"a":1}"#),
                deadline,
                &mut Vec::new(),
            )
            .await
        })
        .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.succeeded());
        assert_eq!(r.lambda_request_id.as_deref(), Some("r-1"));
        assert_eq!(r.body, br#"{"statusCode":1}"#);
        let reqs = seen.lock().unwrap();
        let (head, body) = split(&reqs[0]);
        let mut lines = head.lines();
        assert_eq!(
            lines.next(),
            Some("POST /2015-03-31/functions/my-fn/invocations?Qualifier=live HTTP/1.1")
        );
        let rest: Vec<&str> = lines.collect();
        assert!(
            rest.contains(&"x-amz-invocation-type: RequestResponse"),
            "{head}"
        );
        assert!(rest.contains(&"content-type: application/json"), "{head}");
        assert!(
            rest.contains(&"x-amzn-trace-id: Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e"),
            "{head}"
        );
        assert!(rest.contains(&"content-length: 7"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
        assert_eq!(body, br#"{"a":1}"#);
    }

    #[test]
    fn a_signed_invocation_and_a_function_error() {
        let (ep, seen) = server(b"HTTP/1.1 200 OK\r\nX-Amz-Function-Error: Unhandled\r\nContent-Length: 26\r\n\r\n{\"errorMessage\":\"boom\"}   ");
        let keys = AwsCredentials::Keys(Arc::new(AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret("secret".into()),
            session_token: Some(Secret("token-1".into())),
        }));
        let r = run(async {
            let up = Upstreams::default();
            let signer = RefCell::new(Signer::new());
            let deadline = Instant::now() + Duration::from_secs(5);
            invoke(
                &up,
                &signer,
                &ep,
                &keys,
                &inv(b"{}"),
                deadline,
                &mut Vec::new(),
            )
            .await
        })
        .unwrap();
        assert!(!r.succeeded());
        assert_eq!(r.function_error.as_deref(), Some("Unhandled"));
        let reqs = seen.lock().unwrap();
        let (head, _) = split(&reqs[0]);
        let auth = head
            .lines()
            .find_map(|l| l.strip_prefix("authorization: "))
            .unwrap_or_else(|| panic!("no authorization in {head}"));
        let date = head
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-date: "))
            .unwrap();
        assert!(
            auth.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/eu-west-1/lambda/aws4_request, SignedHeaders=",
                &date[..8]
            )),
            "{auth}"
        );
        for signed in [
            "host",
            "x-amz-invocation-type",
            "content-type",
            "x-amz-date",
        ] {
            assert!(auth.contains(signed), "{signed} not signed: {auth}");
        }
        assert!(head.contains("x-amz-security-token: token-1"), "{head}");
    }

    #[test]
    fn refusals_and_limits() {
        let (ep, _) = server(b"HTTP/1.1 429 Too Many Requests\r\nx-amzn-ErrorType: TooManyRequestsException:http://internal.amazon.com/coral/com.amazon.coral.service/\r\nContent-Length: 2\r\n\r\n{}");
        let r = run(async {
            let up = Upstreams::default();
            let signer = RefCell::new(Signer::new());
            let deadline = Instant::now() + Duration::from_secs(5);
            invoke(
                &up,
                &signer,
                &ep,
                &AwsCredentials::None,
                &inv(b"{}"),
                deadline,
                &mut Vec::new(),
            )
            .await
        })
        .unwrap();
        assert_eq!(r.status, 429);
        assert!(!r.succeeded());
        assert_eq!(r.error_type.as_deref(), Some("TooManyRequestsException"));

        let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 6291457\r\n\r\n".to_vec();
        big.resize(big.len() + MAX_RESPONSE_BYTES + 1, b'x');
        let (ep, _) = server(Box::leak(big.into_boxed_slice()));
        let e = run(async {
            let up = Upstreams::default();
            let signer = RefCell::new(Signer::new());
            let deadline = Instant::now() + Duration::from_secs(5);
            invoke(
                &up,
                &signer,
                &ep,
                &AwsCredentials::None,
                &inv(b"{}"),
                deadline,
                &mut Vec::new(),
            )
            .await
        });
        assert!(matches!(e, Err(CallError::TooLarge)), "{e:?}");
    }
}
