//! A Lambda proxy function's result, read as API Gateway reads it:
//!
//! ```text
//! {"statusCode": 200, "headers": {"name": "value"}, "multiValueHeaders": {"name": ["a", "b"]},
//!  "cookies": ["a=1"] (2.0), "body": "...", "isBase64Encoded": false}
//! ```
//!
//! - `statusCode` an integer 100-599 (1xx refused: a final response is needed); `headers`
//!   values strings (numbers and booleans are taken as their JSON text, `null` skips the
//!   header); `multiValueHeaders` arrays of those; `cookies` strings; `body` a string or
//!   `null`; `isBase64Encoded` a boolean or `null`. Other keys are ignored.
//! - `headers` and `multiValueHeaders` merge: a name in both keeps only the multi-value
//!   values (AWS: "only the values from multiValueHeaders will appear").
//! - Payload 1.0: anything else (not JSON, not an object, no `statusCode`, a wrong type)
//!   is malformed (502, the reason for the logs).
//! - Payload 2.0: valid JSON without a `statusCode` (a bare string, number, array or an
//!   object without it) is the body itself, status 200, `content-type: application/json`
//!   (a bare string: its text); with a `statusCode`, the 1.0 rules.
//!
//! Strings are borrowed from the function's answer where they hold no escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::lambda_integration::PayloadFormat;

/// A result the gateway can answer with.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxyResult<'a> {
    pub status: u16,
    /// Response headers in order: `headers` (names not in `multiValueHeaders`), then every
    /// value of `multiValueHeaders`.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// 2.0 `cookies`: each a `set-cookie` header.
    pub cookies: Vec<Cow<'a, str>>,
    pub body: Body<'a>,
    /// `isBase64Encoded`: the body is base64 text.
    pub base64: bool,
    /// 2.0's inference: the whole output is the body.
    pub inferred: bool,
}

/// The response body.
#[derive(Debug, PartialEq, Eq)]
pub enum Body<'a> {
    None,
    /// The `body` string (or a bare JSON string's text).
    Text(Cow<'a, str>),
    /// The function's output as it came (2.0 inference).
    Raw(&'a [u8]),
}

impl ProxyResult<'_> {
    /// Whether the function set `name` (any case).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Why a result is refused (for the execution log and the error's source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Malformed Lambda proxy response: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

/// Read a function's output.
pub fn parse(output: &[u8], format: PayloadFormat) -> Result<ProxyResult<'_>, Malformed> {
    let first = output.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if format == PayloadFormat::V2 && first != Some(b'{') {
        return infer(output);
    }
    if first != Some(b'{') {
        return Err(malformed_top(output));
    }
    match fields(output, format == PayloadFormat::V2) {
        Ok(f) => match f.status {
            Some(status) => {
                let headers = merge(f.headers, f.multi);
                for (n, v) in &headers {
                    check_header(n, v)?;
                }
                for c in &f.cookies {
                    check_header("set-cookie", c)?;
                }
                Ok(ProxyResult {
                    status,
                    headers,
                    cookies: f.cookies,
                    body: f.body.map_or(Body::None, Body::Text),
                    base64: f.base64,
                    inferred: false,
                })
            }
            // Valid JSON already: the object is the body.
            None if format == PayloadFormat::V2 => Ok(inferred(Body::Raw(output))),
            None => Err(Malformed("no statusCode".into())),
        },
        Err(e) => {
            // 2.0: an object without statusCode is the body, whatever its other keys hold.
            if format == PayloadFormat::V2
                && serde_json::from_slice::<HasStatus>(output).is_ok_and(|h| !h.0)
            {
                return infer(output);
            }
            if e.is_data() {
                Err(Malformed(json_error(&e)))
            } else {
                Err(Malformed(format!("not JSON: {}", json_error(&e))))
            }
        }
    }
}

/// 2.0's inference: valid JSON is the body (a bare string: its text).
fn infer(output: &[u8]) -> Result<ProxyResult<'_>, Malformed> {
    let body = match serde_json::from_slice::<Text<'_>>(output) {
        Ok(Text(Some(s))) => Body::Text(s),
        _ => match serde_json::from_slice::<IgnoredAny>(output) {
            Ok(_) => Body::Raw(output),
            Err(e) => return Err(Malformed(format!("not JSON: {}", json_error(&e)))),
        },
    };
    Ok(inferred(body))
}

fn inferred(body: Body<'_>) -> ProxyResult<'_> {
    ProxyResult {
        status: 200,
        headers: vec![(
            Cow::Borrowed("content-type"),
            Cow::Borrowed("application/json"),
        )],
        cookies: Vec::new(),
        body,
        base64: false,
        inferred: true,
    }
}

fn malformed_top(output: &[u8]) -> Malformed {
    match serde_json::from_slice::<IgnoredAny>(output) {
        Ok(_) => Malformed("the result is not a JSON object".into()),
        Err(e) => Malformed(format!("not JSON: {}", json_error(&e))),
    }
}

fn json_error(e: &serde_json::Error) -> String {
    e.to_string()
}

/// Header names are tokens; values hold no control characters besides tab.
fn check_header(name: &str, value: &str) -> Result<(), Malformed> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(Malformed(format!("`{name}` is not a header name")));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Malformed(format!(
            "the value of header `{name}` holds control characters"
        )));
    }
    Ok(())
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

fn merge<'a>(single: Pairs<'a>, multi: Pairs<'a>) -> Pairs<'a> {
    let mut out = Vec::with_capacity(single.len() + multi.len());
    for (n, v) in single {
        if !multi.iter().any(|(m, _)| m.eq_ignore_ascii_case(&n)) {
            out.push((n, v));
        }
    }
    out.extend(multi);
    out
}

/// The fields of a result object, each checked for its type.
#[derive(Default)]
struct Fields<'a> {
    status: Option<u16>,
    headers: Pairs<'a>,
    multi: Pairs<'a>,
    cookies: Vec<Cow<'a, str>>,
    body: Option<Cow<'a, str>>,
    base64: bool,
}

/// The fields of `output` (`v2`: `cookies` is one; 1.0 ignores it).
fn fields(output: &[u8], v2: bool) -> Result<Fields<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(output);
    let f = FieldsVisitor { v2 }.deserialize(&mut de)?;
    de.end()?;
    Ok(f)
}

struct FieldsVisitor {
    v2: bool,
}

impl<'de> DeserializeSeed<'de> for FieldsVisitor {
    type Value = Fields<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fields<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut out = Fields::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "statusCode" => out.status = Some(map.next_value_seed(StatusSeed)?),
                "headers" => {
                    out.headers = map
                        .next_value_seed(HeaderMap { multi: false })?
                        .unwrap_or_default()
                }
                "multiValueHeaders" => {
                    out.multi = map
                        .next_value_seed(HeaderMap { multi: true })?
                        .unwrap_or_default()
                }
                "cookies" if self.v2 => out.cookies = map.next_value_seed(Strings("cookies"))?,
                "body" => out.body = map.next_value::<Text<'de>>()?.0,
                "isBase64Encoded" => out.base64 = map.next_value_seed(Flag)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Whether an object has a `statusCode` key (values unchecked).
struct HasStatus(bool);

impl<'de> de::Deserialize<'de> for HasStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HasStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HasStatus, A::Error> {
                let mut found = false;
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    found |= k == "statusCode";
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(HasStatus(found))
            }
        }
        d.deserialize_map(V)
    }
}

/// A string borrowed where it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string or `null`.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (body)")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `statusCode`: an integer 100-599 (not 1xx: a final response).
struct StatusSeed;

impl<'de> DeserializeSeed<'de> for StatusSeed {
    type Value = u16;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u16, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StatusSeed {
    type Value = u16;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("statusCode as an integer HTTP status (200-599)")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
        if (200..=599).contains(&v) {
            Ok(v as u16)
        } else {
            Err(E::custom(format!(
                "statusCode {v} is not a final HTTP status (200-599)"
            )))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
        self.visit_u64(u64::try_from(v).unwrap_or(0))
    }
}

/// `isBase64Encoded`: a boolean, or `null` (false).
struct Flag;

impl<'de> DeserializeSeed<'de> for Flag {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flag {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("isBase64Encoded as a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A header value: a string, or a number or boolean as its JSON text; `None` for `null`.
struct ValueSeed(&'static str);

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} values as strings", self.0)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `headers` (`{name: value}`) or `multiValueHeaders` (`{name: [value, ...]}`), flattened
/// to pairs; `null` is none.
struct HeaderMap {
    multi: bool,
}

impl<'de> DeserializeSeed<'de> for HeaderMap {
    type Value = Option<Pairs<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderMap {
    type Value = Option<Pairs<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.multi {
            "multiValueHeaders as an object of arrays"
        } else {
            "headers as an object"
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            if self.multi {
                for v in map.next_value_seed(Strings("multiValueHeaders"))? {
                    out.push((name.clone(), v));
                }
            } else if let Some(v) = map.next_value_seed(ValueSeed("headers"))? {
                // A repeated key in `headers`: the last wins.
                out.retain(|(n, _): &(Cow<'_, str>, Cow<'_, str>)| *n != name);
                out.push((name, v));
            }
        }
        Ok(Some(out))
    }
}

/// An array of header-like values (`null` entries skipped); `null` is empty.
struct Strings(&'static str);

impl<'de> DeserializeSeed<'de> for Strings {
    type Value = Vec<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strings {
    type Value = Vec<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as arrays of strings", self.0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed(self.0))? {
            if let Some(v) = v {
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// A custom integration's function error: its `errorMessage` (what API Gateway matches
/// integration responses' selection patterns against), when the error document has one.
pub fn error_message(output: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorDoc {
        #[serde(rename = "errorMessage")]
        error_message: Option<String>,
    }
    serde_json::from_slice::<ErrorDoc>(output)
        .ok()
        .and_then(|d| d.error_message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use PayloadFormat::{V1, V2};

    fn ok(output: &str, format: PayloadFormat) -> ProxyResult<'_> {
        parse(output.as_bytes(), format).unwrap_or_else(|e| panic!("{output}: {e}"))
    }

    fn bad(output: &str, format: PayloadFormat) -> String {
        match parse(output.as_bytes(), format) {
            Ok(r) => panic!("{output} was accepted: {r:?}"),
            Err(e) => e.0,
        }
    }

    fn headers<'a>(r: &'a ProxyResult<'_>) -> Vec<(&'a str, &'a str)> {
        r.headers.iter().map(|(n, v)| (&**n, &**v)).collect()
    }

    #[test]
    fn a_documented_result() {
        let out = r#"{
            "isBase64Encoded": false,
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Single": "s", "x-both": "dropped"},
            "multiValueHeaders": {"X-Both": ["a", "b"], "X-Multi": ["m"]},
            "body": "Hello from Lambda!"
        }"#;
        for f in [V1, V2] {
            let r = ok(out, f);
            assert_eq!(r.status, 201);
            assert_eq!(
                headers(&r),
                [
                    ("Content-Type", "text/plain"),
                    ("X-Single", "s"),
                    ("X-Both", "a"),
                    ("X-Both", "b"),
                    ("X-Multi", "m"),
                ]
            );
            assert_eq!(r.body, Body::Text(Cow::Borrowed("Hello from Lambda!")));
            assert!(!r.base64 && !r.inferred);
        }
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let r = ok(r#"{"statusCode":200,"body":"plain"}"#, V1);
        assert!(matches!(r.body, Body::Text(Cow::Borrowed("plain"))));
        let r = ok(r#"{"statusCode":200,"body":"{\"a\":1}"}"#, V1);
        assert_eq!(r.body, Body::Text(Cow::Owned(r#"{"a":1}"#.into())));
    }

    #[test]
    fn optional_parts_and_lenient_values() {
        let r = ok(
            r#"{"statusCode":204,"headers":null,"body":null,"isBase64Encoded":null,"extra":{"x":1}}"#,
            V1,
        );
        assert_eq!((r.status, r.body, r.base64), (204, Body::None, false));
        assert!(r.headers.is_empty());
        let r = ok(
            r#"{"statusCode":200,"headers":{"x-n":5,"x-b":true,"x-null":null,"x-d":"1","x-d":"2"}}"#,
            V1,
        );
        assert_eq!(headers(&r), [("x-n", "5"), ("x-b", "true"), ("x-d", "2")]);
        let r = ok(
            r#"{"statusCode":200,"multiValueHeaders":{"set-cookie":["a=1",null,"b=2"]},"isBase64Encoded":true,"body":"aGk="}"#,
            V1,
        );
        assert_eq!(headers(&r), [("set-cookie", "a=1"), ("set-cookie", "b=2")]);
        assert!(r.base64);
        assert!(r.has_header("Set-Cookie"));
    }

    #[test]
    fn cookies_in_2_0() {
        let r = ok(
            r#"{"statusCode":200,"cookies":["a=1; Path=/","b=2"],"body":"x"}"#,
            V2,
        );
        assert_eq!(r.cookies, ["a=1; Path=/", "b=2"]);
        assert!(bad(r#"{"statusCode":200,"cookies":"a=1"}"#, V2).contains("cookies"));
        // Not a 1.0 field: ignored.
        let r = ok(r#"{"statusCode":200,"cookies":["a=1"]}"#, V1);
        assert!(r.cookies.is_empty());
        assert!(ok(r#"{"statusCode":200,"cookies":5}"#, V1)
            .cookies
            .is_empty());
    }

    #[test]
    fn malformed_results() {
        for (out, why) in [
            ("not json", "not JSON"),
            ("", "not JSON"),
            (r#""a string""#, "not a JSON object"),
            ("[1,2]", "not a JSON object"),
            (r#"{"body":"x"}"#, "no statusCode"),
            (r#"{"statusCode":"200"}"#, "statusCode"),
            (r#"{"statusCode":200.5}"#, "statusCode"),
            (r#"{"statusCode":99}"#, "not a final HTTP status"),
            (r#"{"statusCode":100}"#, "not a final HTTP status"),
            (r#"{"statusCode":600}"#, "not a final HTTP status"),
            (r#"{"statusCode":-1}"#, "not a final HTTP status"),
            (r#"{"statusCode":200,"body":{"a":1}}"#, "body"),
            (r#"{"statusCode":200,"body":5}"#, "body"),
            (r#"{"statusCode":200,"headers":5}"#, "headers as an object"),
            (
                r#"{"statusCode":200,"headers":{"a":{"b":1}}}"#,
                "headers values",
            ),
            (
                r#"{"statusCode":200,"multiValueHeaders":{"a":"b"}}"#,
                "arrays",
            ),
            (r#"{"statusCode":200,"isBase64Encoded":"true"}"#, "boolean"),
            (
                r#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
                "not a header name",
            ),
            (
                r#"{"statusCode":200,"headers":{"x":"a\r\nb: c"}}"#,
                "control characters",
            ),
            (r#"{"statusCode":200} trailing"#, "trailing"),
        ] {
            let got = bad(out, V1);
            assert!(got.contains(why), "{out}: {got} (wanted {why})");
        }
    }

    #[test]
    fn the_2_0_inference_rule() {
        // AWS's examples: a string, an object without statusCode.
        let r = ok(r#""Hello from Lambda!""#, V2);
        assert!(r.inferred);
        assert_eq!(r.status, 200);
        assert_eq!(headers(&r), [("content-type", "application/json")]);
        assert_eq!(r.body, Body::Text(Cow::Borrowed("Hello from Lambda!")));
        let out = r#"{ "message": "Hello from Lambda!" }"#;
        let r = ok(out, V2);
        assert_eq!(r.body, Body::Raw(out.as_bytes()));
        // Whatever the object's other keys hold.
        let out = r#"{"headers": 5, "body": {"a": 1}}"#;
        assert_eq!(ok(out, V2).body, Body::Raw(out.as_bytes()));
        for out in ["42", "[1,2]", "true", "null", " {} "] {
            let r = ok(out, V2);
            assert_eq!(r.body, Body::Raw(out.as_bytes()), "{out}");
        }
        // Not JSON, or a statusCode of the wrong type: malformed in 2.0 too.
        assert!(bad("not json", V2).contains("not JSON"));
        assert!(bad("{\"a\":", V2).contains("not JSON"));
        assert!(bad(r#"{"statusCode":"200"}"#, V2).contains("statusCode"));
        assert!(bad(r#"{"statusCode":200,"body":{}}"#, V2).contains("body"));
    }

    #[test]
    fn custom_integration_error_messages() {
        assert_eq!(
            error_message(br#"{"errorMessage":"boom","errorType":"Error","trace":[]}"#).as_deref(),
            Some("boom")
        );
        assert_eq!(error_message(b"not json"), None);
        assert_eq!(error_message(br#"{"x":1}"#), None);
    }
}
