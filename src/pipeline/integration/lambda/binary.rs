//! Which bodies travel base64-encoded, as API Gateway decides it.
//!
//! REST APIs (their `binaryMediaTypes`, "Binary media types for REST APIs"):
//! - request: binary when its `Content-Type` matches a binary media type;
//! - proxy response: a result with `isBase64Encoded: true` is decoded when the first media
//!   type of the request's `Accept` matches one ("API Gateway only honors the first
//!   `Accept` media type"; without `Accept`, only a `*/*` entry matches); otherwise the
//!   base64 text goes out as it is;
//! - custom integrations (the content-type conversion table): `contentHandling` converts
//!   the request (`CONVERT_TO_TEXT`: binary to base64 text, `CONVERT_TO_BINARY`: text to
//!   the bytes its base64 stands for); the function's (text) result is base64-decoded
//!   when the first `Accept` type matches.
//!
//! HTTP APIs (no `binaryMediaTypes` in AWS; here they may still list some): the request
//! body is text only for `text/*`, `application/json`, `application/javascript` and
//! `application/xml` (and not a listed binary type), base64 otherwise (no `Content-Type`
//! too); a result's `isBase64Encoded: true` is always decoded.

use base64::Engine;

use crate::config::binary_media::BinaryMediaTypes;
use crate::config::snapshot::ApiType;

/// The media types HTTP APIs pass to functions as text.
pub fn is_text_media(content_type: &[u8]) -> bool {
    let mt = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let (t, s) = match mt.iter().position(|&b| b == b'/') {
        Some(i) => (&mt[..i], &mt[i + 1..]),
        None => return false,
    };
    t.eq_ignore_ascii_case(b"text")
        || (t.eq_ignore_ascii_case(b"application")
            && (s.eq_ignore_ascii_case(b"json")
                || s.eq_ignore_ascii_case(b"javascript")
                || s.eq_ignore_ascii_case(b"xml")))
}

/// Whether a request body of `content_type` goes to the function base64-encoded.
pub fn request_is_binary(
    api_type: ApiType,
    types: &BinaryMediaTypes,
    content_type: Option<&[u8]>,
) -> bool {
    match (api_type, content_type) {
        (ApiType::Rest, Some(ct)) => types.matches(ct),
        (ApiType::Rest, None) => false,
        (ApiType::Http, Some(ct)) => !is_text_media(ct) || types.matches(ct),
        (ApiType::Http, None) => true,
    }
}

/// The first media range of an `Accept` value.
pub fn first_accept(accept: &[u8]) -> &[u8] {
    accept
        .split(|&b| b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

/// Whether the client's `Accept` asks for binary (REST): its first media range matches a
/// binary media type; with no `Accept`, a `*/*` entry.
pub fn accepts_binary(types: &BinaryMediaTypes, accept: Option<&[u8]>) -> bool {
    match accept.map(first_accept).filter(|a| !a.is_empty()) {
        Some(first) => types.accepts_binary(first),
        None => types.matches(b"*/*"),
    }
}

/// Whether a proxy result marked `isBase64Encoded` is decoded for this client.
pub fn decode_result(api_type: ApiType, types: &BinaryMediaTypes, accept: Option<&[u8]>) -> bool {
    match api_type {
        ApiType::Http => true,
        ApiType::Rest => accepts_binary(types, accept),
    }
}

/// Base64 text (standard alphabet; padding optional, surrounding whitespace ignored) to
/// bytes; `None` when it is not base64.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let t = text.trim_ascii();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .ok()
}

/// Bytes to base64 text.
pub fn encode(bytes: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> BinaryMediaTypes {
        let yaml = format!(
            "listeners: [{{name: a, bind: '127.0.0.1:1'}}]
apis:
  - id: demo
    binary_media_types: [{}]
    routes: []
    stages: [{{name: prod}}]
",
            list.iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let snap = crate::config::validate::from_str(std::path::Path::new("t.yaml"), &yaml)
            .unwrap_or_else(|e| panic!("{e}"));
        snap.api("demo").unwrap().binary_media_types.clone()
    }

    #[test]
    fn text_media_of_http_apis() {
        for t in [
            "text/plain",
            "TEXT/html; charset=utf-8",
            "application/json",
            "application/JSON;charset=UTF-8",
            "application/xml",
            "application/javascript",
        ] {
            assert!(is_text_media(t.as_bytes()), "{t}");
        }
        for t in [
            "application/octet-stream",
            "image/png",
            "application/x-www-form-urlencoded",
            "application/vnd.api+json",
            "multipart/form-data; boundary=x",
            "",
            "json",
        ] {
            assert!(!is_text_media(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn request_bodies() {
        let none = types(&[]);
        let png = types(&["image/png"]);
        let all = types(&["*/*"]);
        use ApiType::{Http, Rest};
        assert!(!request_is_binary(Rest, &none, Some(b"image/png")));
        assert!(request_is_binary(Rest, &png, Some(b"image/png")));
        assert!(!request_is_binary(Rest, &png, Some(b"image/jpeg")));
        assert!(request_is_binary(Rest, &all, Some(b"application/json")));
        assert!(!request_is_binary(Rest, &all, None));
        assert!(request_is_binary(Http, &none, Some(b"image/png")));
        assert!(request_is_binary(Http, &none, None));
        assert!(request_is_binary(
            Http,
            &none,
            Some(b"application/x-www-form-urlencoded")
        ));
        assert!(!request_is_binary(Http, &none, Some(b"application/json")));
        assert!(request_is_binary(Http, &all, Some(b"application/json")));
    }

    #[test]
    fn responses_follow_the_first_accept_type() {
        let png = types(&["image/png"]);
        let all = types(&["*/*"]);
        let webp = types(&["image/webp"]);
        use ApiType::{Http, Rest};
        assert!(decode_result(Rest, &png, Some(b"image/png")));
        assert!(decode_result(Rest, &png, Some(b"image/png, text/html")));
        assert!(!decode_result(Rest, &png, Some(b"text/html, image/png")));
        assert!(decode_result(
            Rest,
            &webp,
            Some(b"image/webp,image/*,*/*;q=0.8")
        ));
        assert!(decode_result(Rest, &all, Some(b"text/html")));
        assert!(decode_result(Rest, &all, None));
        assert!(!decode_result(Rest, &png, None));
        assert!(!decode_result(Rest, &types(&[]), Some(b"*/*")));
        assert!(decode_result(Http, &types(&[]), None));
        assert_eq!(first_accept(b" a/b ;q=1 , c/d"), b"a/b ;q=1");
    }

    #[test]
    fn base64_both_ways() {
        assert_eq!(decode(b"aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode(b" aGk \n"), Some(b"hi".to_vec()));
        assert_eq!(decode(b"not base64!"), None);
        assert_eq!(encode(b"\x89PNG"), b"iVBORw==");
        assert_eq!(
            decode(&encode(b"\x00\xff\x10")),
            Some(b"\x00\xff\x10".to_vec())
        );
    }
}
