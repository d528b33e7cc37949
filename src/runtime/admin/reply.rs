//! An admin answer: status, JSON (or other) body and the few headers the admin API sets.

use std::io::{self, Write};

/// One response; every error is JSON with a `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// `allow` (405 answers).
    pub allow: Option<String>,
    /// `www-authenticate: Bearer` (401 answers).
    pub bearer_challenge: bool,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::with_body(status, "application/json", value.to_string())
    }

    /// Any body, e.g. Prometheus text (`text/plain; version=0.0.4`).
    pub fn with_body(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body,
            allow: None,
            bearer_challenge: false,
        }
    }

    /// `{"message": m}`.
    pub fn message(status: u16, m: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "message": m }))
    }

    /// The whole response (head and body), `connection: close`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = crate::http::write::reason_phrase(self.status);
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = &self.allow {
            head.push_str("allow: ");
            head.push_str(allow);
            head.push_str("\r\n");
        }
        if self.bearer_challenge {
            head.push_str("www-authenticate: Bearer realm=\"tollgate-admin\"\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }

    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.to_bytes())?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_head_and_json_body() {
        let mut r = Reply::message(405, "Method Not Allowed: \"x\"");
        r.allow = Some("GET".into());
        let text = String::from_utf8(r.to_bytes()).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        assert!(
            head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(head.contains("\r\nallow: GET"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(!head.contains("www-authenticate"), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["message"], "Method Not Allowed: \"x\"");
        let mut u = Reply::message(401, "Unauthorized");
        u.bearer_challenge = true;
        let text = String::from_utf8(u.to_bytes()).expect("utf-8");
        assert!(text.contains("\r\nwww-authenticate: Bearer"), "{text}");
        assert!(text.ends_with(r#"{"message":"Unauthorized"}"#), "{text}");
    }
}
