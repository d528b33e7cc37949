//! A small JSON writer for the events: strings escaped straight from the request's bytes
//! into the event buffer (no intermediate `String`, no `serde_json::Value`). Text that is
//! not UTF-8 (obs-text in a header, `%FF` in a query) is written with U+FFFD in place of
//! the invalid bytes, as `String::from_utf8_lossy` would.

use base64::Engine;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether a byte can be copied into a JSON string as it is (printable ASCII besides `"`
/// and `\`).
#[inline]
fn plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// `"..."`: `bytes` as a JSON string.
#[inline]
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    string_body(out, bytes);
    out.push(b'"');
}

/// Whether every byte is [`plain`]: eight bytes at a time (the usual header, path and
/// body text has nothing to escape).
#[inline]
fn all_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte of `x` is zero (exact for "any": the usual SWAR test).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let x = u64::from_le_bytes(word);
        // >= 0x80, < 0x20 (no high bit, so `x - 0x20` borrows into it), `"`, `\`, DEL.
        let special = x & HIGH != 0
            || x.wrapping_sub(0x20 * ONES) & !x & HIGH != 0
            || has_zero(x ^ (u64::from(b'"') * ONES))
            || has_zero(x ^ (u64::from(b'\\') * ONES))
            || has_zero(x ^ (0x7f * ONES));
        if special {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| plain(b))
}

/// The inside of a JSON string (no quotes).
pub fn string_body(out: &mut Vec<u8>, bytes: &[u8]) {
    if all_plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                escape_str(out, s);
                return;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // The first `valid_up_to` bytes are UTF-8.
                escape_str(out, std::str::from_utf8(valid).unwrap_or_default());
                out.extend_from_slice("\u{FFFD}".as_bytes());
                let skip = e.error_len().unwrap_or(after.len());
                rest = after.get(skip..).unwrap_or_default();
                if rest.is_empty() {
                    return;
                }
            }
        }
    }
}

fn escape_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f | 0x7f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `"key":` (the key is a constant without characters to escape).
#[inline]
pub fn key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `"key":"value",` for a constant key.
#[inline]
pub fn field(out: &mut Vec<u8>, k: &str, value: &[u8]) {
    key(out, k);
    string(out, value);
    out.push(b',');
}

/// `"key":"value",` or `"key":null,`.
#[inline]
pub fn field_or_null(out: &mut Vec<u8>, k: &str, value: Option<&[u8]>) {
    key(out, k);
    match value {
        Some(v) => string(out, v),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
}

/// `"key":N,`.
#[inline]
pub fn number_field(out: &mut Vec<u8>, k: &str, n: u64) {
    key(out, k);
    crate::http::write::push_decimal(out, n);
    out.push(b',');
}

/// Drop a trailing `,` (the end of an object's or array's members).
#[inline]
pub fn trim_comma(out: &mut Vec<u8>) {
    if out.last() == Some(&b',') {
        out.pop();
    }
}

/// Close an object whose members each ended with `,`.
#[inline]
pub fn close_object(out: &mut Vec<u8>) {
    trim_comma(out);
    out.push(b'}');
}

/// `"…"`: `bytes` base64-encoded (standard alphabet, padded).
pub fn base64_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let n = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + n, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, out.get_mut(start..).unwrap_or_default())
        .unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// `%XX` decoded into `out` (cleared first; invalid escapes kept as they are; `+` stays).
pub fn percent_decode(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < raw.len() {
        match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Whether two raw (percent-encoded) texts decode to the same bytes.
pub fn decoded_eq(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    Decoded::new(a).eq(Decoded::new(b))
}

/// The bytes of a percent-encoded text, decoded as they are read.
struct Decoded<'a> {
    raw: &'a [u8],
    i: usize,
}

impl<'a> Decoded<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Decoded { raw, i: 0 }
    }
}

impl Iterator for Decoded<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let b = *self.raw.get(self.i)?;
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                self.raw.get(self.i + 1).copied().and_then(hex),
                self.raw.get(self.i + 2).copied().and_then(hex),
            ) {
                self.i += 3;
                return Some(h << 4 | l);
            }
        }
        self.i += 1;
        Some(b)
    }
}

#[cfg(test)]
mod swar_tests {
    use super::*;

    #[test]
    fn all_plain_agrees_with_the_byte_test() {
        for b in 0..=255u8 {
            for len in [1usize, 7, 8, 9, 16, 17] {
                for at in [0, len / 2, len - 1] {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    assert_eq!(
                        all_plain(&v),
                        v.iter().all(|&c| plain(c)),
                        "byte {b:#x} len {len} at {at}"
                    );
                }
            }
        }
        assert!(all_plain(b""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, bytes);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn strings_are_escaped_as_json() {
        assert_eq!(s(b"plain text"), r#""plain text""#);
        assert_eq!(s(b"q\"b\\n\nr\rt\t"), r#""q\"b\\n\nr\rt\t""#);
        assert_eq!(s(b"\x01\x1f\x7f"), r#""\u0001\u001f\u007f""#);
        assert_eq!(s("€ ü".as_bytes()), "\"€ ü\"");
        // Invalid UTF-8: replaced, the rest kept.
        assert_eq!(s(b"a\xffb\xc3"), "\"a\u{FFFD}b\u{FFFD}\"");
        for t in ["", "x\"y", "\u{2028}", "tab\there"] {
            let v: serde_json::Value = serde_json::from_str(&s(t.as_bytes())).expect("valid");
            assert_eq!(v, serde_json::Value::String(t.into()));
        }
    }

    #[test]
    fn objects_and_base64() {
        let mut out = b"{".to_vec();
        field(&mut out, "a", b"1");
        field_or_null(&mut out, "b", None);
        number_field(&mut out, "c", 42);
        key(&mut out, "d");
        base64_string(&mut out, b"\x89PNG\r\n");
        out.push(b',');
        close_object(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"a":"1","b":null,"c":42,"d":"iVBORw0K"}"#
        );
        let mut out = b"{".to_vec();
        close_object(&mut out);
        assert_eq!(out, b"{}");
    }

    #[test]
    fn percent_decoding() {
        let mut out = Vec::new();
        percent_decode(b"a%20b%2Fc+d", &mut out);
        assert_eq!(out, b"a b/c+d");
        percent_decode(b"100%", &mut out);
        assert_eq!(out, b"100%");
        percent_decode(b"%zz%4", &mut out);
        assert_eq!(out, b"%zz%4");
        assert!(decoded_eq(b"a%20b", b"a b"));
        assert!(decoded_eq(b"%41", b"A"));
        assert!(!decoded_eq(b"a", b"ab"));
        assert!(!decoded_eq(b"%41", b"a"));
    }
}
