//! An API's binary media types (API Gateway's `binaryMediaTypes`): which payloads travel
//! base64-encoded to and from Lambda (`isBase64Encoded`) and which `content_handling`
//! converts. A request is binary when its `Content-Type` matches a listed type; on REST
//! APIs a response is delivered as binary when the first media type of the client's
//! `Accept` matches one (API Gateway's rule).
//! Entries: `type/subtype`, `type/*`, `*/*`; parameters (`; charset=...`) are ignored and
//! comparisons are case-insensitive.

use super::validate::Errors;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryMediaTypes {
    /// Lowercase `type/subtype` (either part may be `*`).
    types: Vec<(String, String)>,
}

impl BinaryMediaTypes {
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Whether a body of this `Content-Type` is binary.
    pub fn matches(&self, content_type: &[u8]) -> bool {
        if self.types.is_empty() {
            return false;
        }
        let Some((t, s)) = media_type(content_type) else {
            return false;
        };
        self.types.iter().any(|(lt, ls)| {
            (lt == "*" || lt.as_bytes().eq_ignore_ascii_case(t))
                && (ls == "*" || ls.as_bytes().eq_ignore_ascii_case(s))
        })
    }

    /// Whether a response for this `Accept` value is binary: its FIRST media range, taken
    /// literally, matches a listed type (API Gateway honours only the first Accept type, and
    /// `*/*` or `image/*` from the client is not `image/png` from the list: a client that
    /// wants the binary names its type, or the list holds the client's first type, or
    /// `*/*`).
    pub fn accepts_binary(&self, accept: &[u8]) -> bool {
        let first = accept.split(|&b| b == b',').next().unwrap_or_default();
        self.matches(first)
    }
}

/// `type` and `subtype` of a media type, without parameters or spaces.
fn media_type(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let v = v.split(|&b| b == b';').next()?;
    let v = v.trim_ascii();
    let slash = v.iter().position(|&b| b == b'/')?;
    let (t, s) = (v[..slash].trim_ascii(), v[slash + 1..].trim_ascii());
    (!t.is_empty() && !s.is_empty()).then_some((t, s))
}

pub(super) fn build(e: &mut Errors, list: &[String], path: &str) -> BinaryMediaTypes {
    let mut types = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let ok = media_type(entry.as_bytes()).filter(|(t, s)| {
            let token = |x: &[u8]| x == b"*" || x.iter().all(|&b| super::validate::is_tchar(b));
            token(t) && token(s) && !(t == b"*" && *s != b"*")
        });
        match ok {
            Some((t, s)) => types.push((
                String::from_utf8_lossy(t).to_ascii_lowercase(),
                String::from_utf8_lossy(s).to_ascii_lowercase(),
            )),
            None => e.push(
                format!("{path}[{i}]"),
                format!("`{entry}` is not a media type such as image/png, image/* or */*"),
            ),
        }
    }
    BinaryMediaTypes { types }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> BinaryMediaTypes {
        BinaryMediaTypes {
            types: list
                .iter()
                .map(|t| {
                    let (a, b) = t.split_once('/').unwrap();
                    (a.to_string(), b.to_string())
                })
                .collect(),
        }
    }

    #[test]
    fn content_type_matching() {
        let b = types(&["image/png", "application/octet-stream"]);
        assert!(b.matches(b"image/png"));
        assert!(b.matches(b"IMAGE/PNG; charset=binary"));
        assert!(!b.matches(b"image/jpeg"));
        assert!(!b.matches(b""));
        assert!(types(&["image/*"]).matches(b"image/jpeg"));
        assert!(types(&["*/*"]).matches(b"text/plain"));
        assert!(!BinaryMediaTypes::default().matches(b"image/png"));
    }

    #[test]
    fn accept_matching() {
        let b = types(&["image/png"]);
        assert!(b.accepts_binary(b"image/png;q=0.9, text/html"));
        assert!(
            !b.accepts_binary(b"text/html, image/png;q=0.9"),
            "only the first"
        );
        assert!(!b.accepts_binary(b"image/*"));
        assert!(!b.accepts_binary(b"*/*"));
        assert!(!b.accepts_binary(b"application/json"));
        assert!(types(&["*/*"]).accepts_binary(b"application/json"));
        assert!(types(&["*/*"]).accepts_binary(b"*/*"));
        assert!(types(&["image/*"]).accepts_binary(b"image/webp,image/*,*/*;q=0.8"));
    }
}
