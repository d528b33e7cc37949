//! `--sigv4 KEY:SECRET:REGION[:SESSION_TOKEN]`: every request is signed with AWS Signature
//! Version 4 for service `execute-api`, in the `Authorization` header, with the body's
//! SHA-256 as the payload hash (what API Gateway's `AWS_IAM` authorization checks).
//!
//! A load run repeats one request, so its signature only changes with its `X-Amz-Date`
//! (one-second resolution). Each load thread therefore signs once per second of wall
//! clock ([`RequestSigner::request_at`]: one canonical request, one HMAC, a few
//! allocations) and each connection copies the signed bytes into its own request buffer
//! when the second changes (a memcpy of a few hundred bytes, no allocation). The request
//! loop itself signs nothing: a signature costs 1.5 µs with a warm key (`cargo bench
//! --bench sigv4`, `sign_get`) plus rebuilding the request bytes, which per request would
//! be a sizeable share of a load thread's budget at tens of thousands of requests per
//! second per core; and the gateway's verification cost, which is what a run measures, is
//! the same either way (it verifies every request in full; it caches signing keys, never
//! signatures).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate::auth::sigv4::{
    payload_sha256, Credentials, RequestParts, Signer, SigningParams, SigningSettings,
};

use super::options::{build_request_with, Options};

/// The service requests are signed for.
pub const SERVICE: &str = "execute-api";

/// `--sigv4`'s credentials. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for SigV4Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("region", &self.region)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

impl SigV4Credentials {
    /// `KEY:SECRET:REGION` or `KEY:SECRET:REGION:SESSION_TOKEN`. The error never quotes
    /// the text (it holds a secret).
    pub fn parse(text: &str) -> Result<SigV4Credentials, String> {
        let bad = || {
            "--sigv4: expected KEY:SECRET:REGION or KEY:SECRET:REGION:SESSION_TOKEN, each part non-empty".to_string()
        };
        let mut parts = text.splitn(4, ':');
        let (Some(key), Some(secret), Some(region)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let token = parts.next();
        if key.is_empty()
            || secret.is_empty()
            || region.is_empty()
            || token.is_some_and(str::is_empty)
        {
            return Err(bad());
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("--sigv4: the access key id must be letters and digits".into());
        }
        if !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("--sigv4: the region must be letters, digits and '-'".into());
        }
        let printable = |s: &str| s.bytes().all(|b| (0x21..0x7f).contains(&b));
        if !printable(secret) || !token.is_none_or(printable) {
            return Err(
                "--sigv4: the secret and the session token must be printable ASCII without spaces"
                    .into(),
            );
        }
        Ok(SigV4Credentials {
            access_key_id: key.to_owned(),
            secret_access_key: secret.to_owned(),
            region: region.to_owned(),
            session_token: token.map(str::to_owned),
        })
    }
}

/// One load thread's signer: the run's request, signed for one second at a time.
pub struct RequestSigner {
    opts: Options,
    creds: SigV4Credentials,
    payload_hash: String,
    signer: Signer,
    /// The Unix second `bytes` is signed for (`None`: not yet signed).
    second: Option<i64>,
    bytes: Vec<u8>,
    signatures: u64,
}

impl RequestSigner {
    /// A signer for the request `opts` describes (`opts.sigv4` must be set).
    pub fn new(opts: &Options) -> Option<RequestSigner> {
        let creds = opts.sigv4.clone()?;
        Some(RequestSigner {
            payload_hash: payload_sha256(&opts.body),
            opts: opts.clone(),
            creds,
            signer: Signer::with_cache_capacity(4),
            second: None,
            bytes: Vec::new(),
            signatures: 0,
        })
    }

    /// How many times this signer signed.
    #[cfg(test)]
    pub fn signatures(&self) -> u64 {
        self.signatures
    }

    /// The request bytes signed at `unix_secs` (signed again only when the second changed).
    pub fn request_at(&mut self, unix_secs: i64) -> &[u8] {
        if self.second != Some(unix_secs) {
            self.bytes = self.sign(UNIX_EPOCH + Duration::from_secs(unix_secs.max(0) as u64));
            self.second = Some(unix_secs);
        }
        &self.bytes
    }

    /// The whole request, signed at `time`.
    pub fn sign(&mut self, time: SystemTime) -> Vec<u8> {
        self.signatures += 1;
        let opts = &self.opts;
        let (path, query) = opts
            .target
            .path
            .split_once('?')
            .unwrap_or((opts.target.path.as_str(), ""));
        // What is signed: Host (the URL's authority unless a Host header is given) and
        // every --header; x-amz-date (and x-amz-security-token) are the signer's.
        let has_host = opts
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(opts.headers.len() + 1);
        if !has_host {
            headers.push((b"host", opts.target.authority.as_bytes()));
        }
        headers.extend(
            opts.headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        );
        let req = RequestParts::new(&opts.method, path, query, &headers);
        let params = SigningParams {
            credentials: Credentials {
                access_key_id: &self.creds.access_key_id,
                secret_access_key: &self.creds.secret_access_key,
                session_token: self.creds.session_token.as_deref(),
            },
            region: &self.creds.region,
            service: SERVICE,
            time,
            settings: SigningSettings::default(),
        };
        let signed = self.signer.sign(&req, &self.payload_hash, &params);
        let extra: Vec<(&str, &str)> = signed.headers().collect();
        build_request_with(opts, &extra)
    }
}

/// The Unix second `ns_from_start` nanoseconds after `wall_start`.
pub fn unix_second(wall_start: SystemTime, ns_from_start: u64) -> i64 {
    let at = wall_start + Duration::from_nanos(ns_from_start);
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tools::load::options::parse_args;
    use tollgate::auth::sigv4::{payload_sha256, Verifier, VerifierConfig};

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn opts(extra: &[&str]) -> Options {
        let mut args: Vec<String> = vec![
            "http://127.0.0.1:9090/prod/pets?b=2&a=1".into(),
            "--sigv4".into(),
            format!("{AKID}:{SECRET}:eu-west-3"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        parse_args(&args).unwrap()
    }

    /// Split raw request bytes into (method, path, query, headers, body).
    fn split(raw: &[u8]) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
        let text = std::str::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let mut line = lines.next().unwrap().split(' ');
        let method = line.next().unwrap().to_string();
        let target = line.next().unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        (
            method,
            path.into(),
            query.into(),
            headers,
            body.as_bytes().to_vec(),
        )
    }

    fn verify(raw: &[u8], region: &str, now: SystemTime) -> Result<(), String> {
        let (method, path, query, headers, body) = split(raw);
        let h: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let req = RequestParts::new(&method, &path, &query, &h);
        Verifier::new()
            .verify(
                &req,
                &payload_sha256(&body),
                &VerifierConfig::execute_api(region),
                now,
                |k| {
                    (k == AKID).then_some(Credentials {
                        access_key_id: AKID,
                        secret_access_key: SECRET,
                        session_token: None,
                    })
                },
            )
            .map(|_| ())
            .map_err(|e| e.message())
    }

    #[test]
    fn credentials_parse_and_never_show_the_secret() {
        let c = SigV4Credentials::parse(&format!("{AKID}:{SECRET}:us-east-1")).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.region.as_str()),
            (AKID, "us-east-1")
        );
        assert_eq!(c.session_token, None);
        let c = SigV4Credentials::parse(&format!("{AKID}:{SECRET}:us-east-1:TOKEN/x+y=")).unwrap();
        assert_eq!(c.session_token.as_deref(), Some("TOKEN/x+y="));
        let debug = format!("{c:?}");
        assert!(debug.contains(AKID) && !debug.contains(SECRET) && !debug.contains("TOKEN"));
        for bad in [
            "",
            "KEY",
            "KEY:s3cr3t",
            "KEY::us-east-1",
            ":s3cr3t:us-east-1",
            "KEY:s3cr3t:",
            "KEY:s3cr3t:us-east-1:",
            "KEY:s3c r3t:us-east-1",
            "KEY:s3cr3t:us east",
            "K-Y:s3cr3t:us-east-1",
        ] {
            let err = SigV4Credentials::parse(bad).unwrap_err();
            assert!(err.starts_with("--sigv4"), "{bad}: {err}");
            assert!(!err.contains("s3c"), "the secret is quoted: {err}");
        }
    }

    #[test]
    fn the_signed_request_verifies_and_keeps_its_bytes_within_a_second() {
        let o = opts(&[
            "--method",
            "POST",
            "--body",
            "{\"name\":\"rex\"}",
            "--header",
            "Content-Type: application/json",
        ]);
        let mut s = RequestSigner::new(&o).unwrap();
        let t = 1_700_000_000;
        let first = s.request_at(t).to_vec();
        assert_eq!(s.request_at(t), &first[..]);
        assert_eq!(s.signatures(), 1);
        let text = String::from_utf8_lossy(&first);
        assert!(text.starts_with("POST /prod/pets?b=2&a=1 HTTP/1.1\r\nHost: 127.0.0.1:9090\r\n"));
        assert!(
            text.contains("\r\nx-amz-date: 20231114T221320Z\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\r\nauthorization: AWS4-HMAC-SHA256 Credential={AKID}/20231114/eu-west-3/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
            )),
            "{text}"
        );
        assert!(
            text.ends_with("\r\nContent-Length: 14\r\n\r\n{\"name\":\"rex\"}"),
            "{text}"
        );
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs as u64);
        verify(&first, "eu-west-3", at(t + 10)).unwrap();
        // Another region's gateway refuses it; so does one 5 minutes later.
        assert!(verify(&first, "us-east-1", at(t)).is_err());
        assert!(verify(&first, "eu-west-3", at(t + 301))
            .unwrap_err()
            .starts_with("Signature expired"));

        // The next second: signed again, same length (connections copy it in place).
        let next = s.request_at(t + 1).to_vec();
        assert_eq!(s.signatures(), 2);
        assert_ne!(next, first);
        assert_eq!(next.len(), first.len());
        verify(&next, "eu-west-3", at(t + 1)).unwrap();
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let mut args: Vec<String> = vec![
            "http://h/x".into(),
            "--sigv4".into(),
            format!("{AKID}:{SECRET}:us-east-1:the-token"),
        ];
        args.push("--quiet".into());
        let o = parse_args(&args).unwrap();
        let raw = RequestSigner::new(&o)
            .unwrap()
            .request_at(1_700_000_000)
            .to_vec();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("\r\nx-amz-security-token: the-token\r\n"),
            "{text}"
        );
        assert!(
            text.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{text}"
        );
    }

    #[test]
    fn seconds_follow_the_wall_clock() {
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(unix_second(start, 0), 1_700_000_000);
        assert_eq!(unix_second(start, 99_999_999), 1_700_000_000);
        assert_eq!(unix_second(start, 100_000_000), 1_700_000_001);
    }
}
