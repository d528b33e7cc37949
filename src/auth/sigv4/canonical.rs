//! The canonical request's parts: URI encoding, path normalization, the sorted query
//! string, canonical header values. Everything writes into caller-owned buffers so a warm
//! verifier canonicalizes without allocating.

use super::{Headers, UriMode};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`, the bytes SigV4 never encodes.
#[inline]
pub fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// [`is_unreserved`] as a table.
static UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    t
};

/// Percent-encode `bytes` the SigV4 way (every byte but the unreserved ones, as `%XY` with
/// upper-case hex); `/` is kept when `keep_slash` (paths).
pub fn uri_encode(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    let keep = |b: u8| is_unreserved(b) || (keep_slash && b == b'/');
    let mut rest = bytes;
    while !rest.is_empty() {
        // The longest run kept as is, copied at once; then one byte encoded.
        let run = rest.iter().position(|&b| !keep(b)).unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        let Some(&b) = rest.get(run) else {
            break;
        };
        out.extend_from_slice(&[
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 15)],
        ]);
        rest = &rest[run + 1..];
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode `bytes` as a query-string component (`application/x-www-form-urlencoded`
/// rules): `%XY` is the byte XY, `+` is a space, a `%` not followed by two hex digits
/// stays a literal `%`. Bytes are kept as bytes (no UTF-8 check).
pub fn query_decode(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // The longest run without `%` or `+`, copied at once.
        let run = rest
            .iter()
            .position(|&b| b == b'%' || b == b'+')
            .unwrap_or(rest.len());
        out.extend_from_slice(&rest[..run]);
        rest = &rest[run..];
        match rest {
            [b'%', h, l, ..] if hex_val(*h).is_some() && hex_val(*l).is_some() => {
                let (h, l) = (hex_val(*h).unwrap_or(0), hex_val(*l).unwrap_or(0));
                out.push(h << 4 | l);
                rest = &rest[3..];
            }
            [b'+', ..] => {
                out.push(b' ');
                rest = &rest[1..];
            }
            [b, ..] => {
                out.push(*b);
                rest = &rest[1..];
            }
            [] => {}
        }
    }
}

/// `raw` decoded as by [`query_decode`]: `raw` itself when it has nothing to decode, else
/// decoded into `tmp`.
pub fn decoded<'t>(tmp: &'t mut Vec<u8>, raw: &'t [u8]) -> &'t [u8] {
    if raw.iter().any(|&b| b == b'%' || b == b'+') {
        tmp.clear();
        query_decode(tmp, raw);
        tmp
    } else {
        raw
    }
}

/// Lower-case hex of a SHA-256 or HMAC-SHA256 output.
pub fn hex32(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (i, &b) in bytes.iter().take(32).enumerate() {
        out[2 * i] = HEX_LOWER[usize::from(b >> 4)];
        out[2 * i + 1] = HEX_LOWER[usize::from(b & 15)];
    }
    out
}

/// Whether `path` ends in a way that keeps a trailing slash after normalization.
fn ends_with_slash(path: &[u8]) -> bool {
    [&b"/"[..], b"/.", b"/./", b"/..", b"/../"]
        .iter()
        .any(|s| path.ends_with(s))
}

/// The canonical URI of `raw` (the path as sent, without the query) under `mode`:
///
/// - normalized (non-S3 services): a `/` in front if missing, empty and `.` segments
///   dropped, `..` removes the segment before it (never above the root), a trailing slash
///   kept; the same rules as the AWS SDKs' signers;
/// - encoded (non-S3 services): every byte but unreserved ones and `/` percent-encoded,
///   so an already-encoded path is encoded a second time (`%20` → `%2520`);
/// - S3: the path exactly as sent (`/` when empty).
///
/// `segs` is scratch space.
pub fn write_canonical_path(
    out: &mut Vec<u8>,
    raw: &[u8],
    mode: UriMode,
    segs: &mut Vec<(usize, usize)>,
) {
    let emit = |out: &mut Vec<u8>, bytes: &[u8]| {
        if mode.encode_path {
            uri_encode(out, bytes, true);
        } else {
            out.extend_from_slice(bytes);
        }
    };
    if raw.is_empty() {
        out.push(b'/');
        return;
    }
    if !mode.normalize_path {
        emit(out, raw);
        return;
    }
    let needs_root = raw[0] != b'/';
    let has_dot = raw.contains(&b'.');
    let has_double = raw.windows(2).any(|w| w == b"//");
    if !has_dot && !has_double {
        if needs_root {
            out.push(b'/');
        }
        emit(out, raw);
        return;
    }
    segs.clear();
    let mut start = 0;
    for i in 0..=raw.len() {
        if i == raw.len() || raw[i] == b'/' {
            match &raw[start..i] {
                b"" | b"." => {}
                b".." => {
                    segs.pop();
                }
                _ => segs.push((start, i)),
            }
            start = i + 1;
        }
    }
    let begin = out.len();
    for &(s, e) in segs.iter() {
        out.push(b'/');
        emit(out, &raw[s..e]);
    }
    // The root when nothing is left; the trailing slash when the path had one.
    if out.len() == begin || ends_with_slash(raw) {
        out.push(b'/');
    }
}

/// A canonical query string under construction: parameters decoded, re-encoded the SigV4
/// way, sorted by name then value (byte order of the encoded forms). Reused across
/// requests: after the first few requests it no longer allocates.
#[derive(Debug, Default)]
pub struct QueryCanon {
    /// Encoded names and values, back to back.
    arena: Vec<u8>,
    /// (name start, name end, value start, value end) in `arena`.
    pairs: Vec<[u32; 4]>,
    /// One decoded component.
    tmp: Vec<u8>,
}

impl QueryCanon {
    pub fn clear(&mut self) {
        self.arena.clear();
        self.pairs.clear();
    }

    fn push_encoded(&mut self, name: &[u8], value: &[u8]) {
        let ns = self.arena.len();
        uri_encode(&mut self.arena, name, false);
        let ne = self.arena.len();
        uri_encode(&mut self.arena, value, false);
        let ve = self.arena.len();
        self.pairs
            .push([ns as u32, ne as u32, ne as u32, ve as u32]);
    }

    /// Add the parameters of `raw` (a query string as sent, without `?`) whose decoded
    /// name `keep` accepts. Empty parameters (`a=1&&b=2`) are skipped; a name without
    /// `=` has the empty value.
    pub fn add_raw(&mut self, raw: &[u8], mut keep: impl FnMut(&[u8]) -> bool) {
        for piece in raw.split(|&b| b == b'&') {
            if piece.is_empty() {
                continue;
            }
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &b""[..]),
            };
            let name = decoded(&mut self.tmp, name);
            if !keep(name) {
                continue;
            }
            let ns = self.arena.len();
            uri_encode(&mut self.arena, name, false);
            let ne = self.arena.len();
            let value = decoded(&mut self.tmp, value);
            uri_encode(&mut self.arena, value, false);
            let ve = self.arena.len();
            self.pairs
                .push([ns as u32, ne as u32, ne as u32, ve as u32]);
        }
    }

    /// Add one parameter given unencoded.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        self.push_encoded(name, value);
    }

    /// Sort and write `name=value&name=value`.
    pub fn write(&mut self, out: &mut Vec<u8>) {
        let arena = &self.arena;
        let slice = |s: u32, e: u32| &arena[s as usize..e as usize];
        self.pairs.sort_unstable_by(|a, b| {
            slice(a[0], a[1])
                .cmp(slice(b[0], b[1]))
                .then_with(|| slice(a[2], a[3]).cmp(slice(b[2], b[3])))
        });
        for (i, p) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            out.extend_from_slice(slice(p[0], p[1]));
            out.push(b'=');
            out.extend_from_slice(slice(p[2], p[3]));
        }
    }
}

/// A header value as the canonical request has it: leading and trailing spaces removed,
/// runs of spaces inside collapsed to one (spaces only, as the AWS signers do; the HTTP
/// parser has already removed surrounding tabs).
pub fn write_header_value(out: &mut Vec<u8>, v: &[u8]) {
    let start = v.iter().position(|&b| b != b' ').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ').map_or(start, |e| e + 1);
    let v = &v[start..end];
    let mut prev_space = false;
    for &b in v {
        if b == b' ' {
            if !prev_space {
                out.push(b);
            }
            prev_space = true;
        } else {
            out.push(b);
            prev_space = false;
        }
    }
}

/// The canonical headers block for the `;`-separated `signed` names: one line per name,
/// `name:value1,value2` with the values of every header of that name in request order.
pub fn write_canonical_headers<'a, H: Headers<'a> + ?Sized>(
    out: &mut Vec<u8>,
    signed: &[u8],
    headers: &H,
) {
    for name in signed.split(|&b| b == b';') {
        out.extend(name.iter().map(u8::to_ascii_lowercase));
        out.push(b':');
        let mut first = true;
        for (n, v) in headers.each() {
            if n.eq_ignore_ascii_case(name) {
                if !first {
                    out.push(b',');
                }
                write_header_value(out, v);
                first = false;
            }
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str, mode: UriMode) -> String {
        let mut out = Vec::new();
        write_canonical_path(&mut out, raw.as_bytes(), mode, &mut Vec::new());
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn paths_normalized_and_double_encoded_for_services() {
        let m = UriMode::SERVICE;
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/a/b/../..", "/"),
            ("/../..", "/"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/a/./b/", "/a/b/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("foo", "/foo"),
            ("./foo", "/foo"),
            ("/example space/", "/example%20space/"),
            ("/%20", "/%2520"),
            ("/dev/mypath%2Fnext", "/dev/mypath%252Fnext"),
            ("/a+b:c@d", "/a%2Bb%3Ac%40d"),
            ("/\u{1234}", "/%E1%88%B4"),
            ("/-._~09AZaz", "/-._~09AZaz"),
            ("/..a/.b./", "/..a/.b./"),
        ] {
            assert_eq!(path(raw, m), want, "{raw:?}");
        }
    }

    #[test]
    fn paths_as_sent_for_s3() {
        for raw in ["/a//b/../c", "/%20/x y", "/./"] {
            assert_eq!(path(raw, UriMode::S3), raw);
        }
        assert_eq!(path("", UriMode::S3), "/");
        let unnormalized = UriMode {
            normalize_path: false,
            encode_path: true,
        };
        assert_eq!(path("//example//", unnormalized), "//example//");
        assert_eq!(path("/a b/..", unnormalized), "/a%20b/..");
    }

    fn query(raw: &str) -> String {
        let mut q = QueryCanon::default();
        q.add_raw(raw.as_bytes(), |_| true);
        let mut out = Vec::new();
        q.write(&mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn queries_decoded_reencoded_and_sorted() {
        for (raw, want) in [
            ("", ""),
            ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
            (
                "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
                "%E1%88%B4=Value1&Param=Value2&Param-3=Value3",
            ),
            ("a=2&a=1&a=10", "a=1&a=10&a=2"),
            ("flag&a=", "a=&flag="),
            ("a=b+c", "a=b%20c"),
            ("a=b%2Bc", "a=b%2Bc"),
            ("a=b%2bc", "a=b%2Bc"),
            ("a=%zz&b=%4", "a=%25zz&b=%254"),
            ("x=1&&y=2&", "x=1&y=2"),
            ("=v", "=v"),
            ("a=b=c", "a=b%3Dc"),
            ("k=%C3%A9t%C3%A9", "k=%C3%A9t%C3%A9"),
            ("k=\u{e9}", "k=%C3%A9"),
            ("k=%FF", "k=%FF"),
            ("a/b=c:d", "a%2Fb=c%3Ad"),
        ] {
            assert_eq!(query(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn query_filter_sees_decoded_names() {
        let mut q = QueryCanon::default();
        q.add_raw(b"X-Amz-Signature=abc&X%2DAmz-Date=1&b=2", |n| {
            n != b"X-Amz-Signature"
        });
        let mut out = Vec::new();
        q.write(&mut out);
        assert_eq!(out, b"X-Amz-Date=1&b=2");
    }

    #[test]
    fn header_values_trimmed_and_collapsed() {
        for (raw, want) in [
            ("  value1  ", "value1"),
            ("\"a   b   c\"", "\"a b c\""),
            ("a\tb", "a\tb"),
            ("", ""),
            ("   ", ""),
            ("x  ", "x"),
        ] {
            let mut out = Vec::new();
            write_header_value(&mut out, raw.as_bytes());
            assert_eq!(out, want.as_bytes(), "{raw:?}");
        }
    }

    #[test]
    fn canonical_headers_join_repeated_values_in_order() {
        let h: &[(&[u8], &[u8])] = &[
            (b"Host", b"example.com"),
            (b"My-Header1", b"value2"),
            (b"X-Amz-Date", b"20150830T123600Z"),
            (b"my-header1", b" value1 "),
        ];
        let mut out = Vec::new();
        write_canonical_headers(&mut out, b"host;my-header1;x-amz-date;absent", h);
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "host:example.com\nmy-header1:value2,value1\nx-amz-date:20150830T123600Z\nabsent:\n"
        );
    }

    #[test]
    fn encode_and_decode() {
        let mut out = Vec::new();
        uri_encode(&mut out, b"a b/c~", false);
        assert_eq!(out, b"a%20b%2Fc~");
        out.clear();
        query_decode(&mut out, b"%41%4a+%");
        assert_eq!(out, b"AJ %");
        assert_eq!(&hex32(&[0xAB; 32])[..4], b"abab");
    }
}
