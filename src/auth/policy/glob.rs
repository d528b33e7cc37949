//! Wildcard matching: `*` (any run of characters, possibly empty) and `?` (exactly one
//! character), over actions and condition values ([`glob`]) and over ARNs ([`ArnPattern`],
//! IAM's per-segment rule). Nothing here allocates while matching.

/// The byte offset just past the character that starts at `i` (`i < text.len()`): `?` and
/// a `*` growing by one always step over a whole UTF-8 character.
#[inline]
fn next_char(text: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && (text[j] & 0xC0) == 0x80 {
        j += 1;
    }
    j
}

/// Whether `pat` matches all of `text`: `*` matches any run of characters (also `/` and
/// `:`), `?` exactly one character, anything else itself (ASCII case-insensitively when
/// `fold`). Linear in practice: the classic two-pointer walk that backs up only to the last
/// `*`, which is exact because every `*` here matches the same language.
pub(crate) fn glob(pat: &[u8], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // The last `*` seen and the text offset its match currently ends at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    if p + 1 == pat.len() {
                        // A final `*` takes whatever is left.
                        return true;
                    }
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t = next_char(text, t);
                    continue;
                }
                c if c == text[t] || (fold && c.eq_ignore_ascii_case(&text[t])) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                let grown = next_char(text, st);
                star = Some((sp, grown));
                p = sp + 1;
                t = grown;
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// Whether `s` holds a wildcard.
pub(crate) fn has_wildcard(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

/// An ARN pattern, matched the way IAM documents for the `Resource` element and the `Arn*`
/// condition operators: the ARN is a list of colon-separated segments (a method ARN's last
/// segment is `api-id/stage/METHOD/path`); `*` and `?` match within one segment (a `*`
/// spans `/`), and a `*` that is the last character of a pattern segment may also run on
/// across colons into the following segments. So `*`, `arn:aws:execute-api:*` and
/// `arn:aws:execute-api:*:*:*` match every method ARN, and
/// `arn:aws:execute-api:us-east-1:*/prod/*` matches none (its `*` is not at a segment's end,
/// so it cannot cover `account:api-id`). Case-sensitive, as IAM compares resource ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    text: Box<str>,
    /// Byte ranges of the colon-separated segments of `text`.
    segments: Box<[(u32, u32)]>,
    /// The length of the literal start of `text` (before any wildcard): every matching ARN
    /// starts with it, and the whole segments in it need no wildcard matching.
    literal: u32,
    /// How many whole segments (with their colon) the literal start holds.
    literal_segments: u32,
}

impl ArnPattern {
    pub(crate) fn new(text: &str) -> ArnPattern {
        let mut segments = Vec::new();
        let mut start = 0usize;
        for (i, b) in text.bytes().enumerate() {
            if b == b':' {
                segments.push((start as u32, i as u32));
                start = i + 1;
            }
        }
        segments.push((start as u32, text.len() as u32));
        let literal = text
            .bytes()
            .position(|b| b == b'*' || b == b'?')
            .unwrap_or(text.len());
        let literal_segments = segments[..segments.len() - 1]
            .iter()
            .take_while(|&&(_, colon)| (colon as usize) < literal)
            .count();
        ArnPattern {
            text: text.into(),
            segments: segments.into_boxed_slice(),
            literal: literal as u32,
            literal_segments: literal_segments as u32,
        }
    }

    #[inline]
    fn segment(&self, i: usize) -> &[u8] {
        let (s, e) = self.segments[i];
        &self.text.as_bytes()[s as usize..e as usize]
    }

    /// Whether this pattern matches all of `arn`.
    ///
    /// Works at the level of segments: pattern segment `i` is token `2i` (it must match one
    /// whole ARN segment, as a [`glob`]) followed, when it ends with `*`, by token `2i + 1`,
    /// a "star" over whole segments (any number of further ARN segments, the trailing `*`
    /// running on across their colons). All those stars are alike, so the same two-pointer
    /// walk as [`glob`] is exact here too.
    pub(crate) fn matches(&self, arn: &str) -> bool {
        let text = arn.as_bytes();
        let pattern = self.text.as_bytes();
        let literal = self.literal as usize;
        // Fast paths: the literal start must be there; without wildcards that is all.
        if !text.starts_with(&pattern[..literal]) {
            return false;
        }
        if literal == pattern.len() {
            return text.len() == literal;
        }
        let tokens = 2 * self.segments.len();
        let is_star = |k: usize| k % 2 == 1 && self.segment(k / 2).last() == Some(&b'*');
        let skip = |k: usize| k % 2 == 1 && self.segment(k / 2).last() != Some(&b'*');
        // Whole literal segments already matched: start at the first other one (at the same
        // offset in the ARN as in the pattern). `t`: the offset where the current ARN
        // segment starts, `None` past the last one.
        let first = self.literal_segments as usize;
        let (mut p, mut t) = (2 * first, Some(self.segments[first].0 as usize));
        let mut star: Option<(usize, Option<usize>)> = None;
        loop {
            while p < tokens && skip(p) {
                p += 1;
            }
            let Some(ts) = t else {
                while p < tokens && (skip(p) || is_star(p)) {
                    p += 1;
                }
                return p == tokens;
            };
            if p < tokens {
                if is_star(p) {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                let end = segment_end(text, ts);
                if glob(self.segment(p / 2), &text[ts..end], false) {
                    p += 1;
                    t = next_segment(text, end);
                    continue;
                }
            }
            match star {
                Some((sp, Some(st))) => {
                    let grown = next_segment(text, segment_end(text, st));
                    star = Some((sp, grown));
                    p = sp + 1;
                    t = grown;
                }
                _ => return false,
            }
        }
    }
}

/// The end of the ARN segment that starts at `start` (the offset of its colon, or the end).
#[inline]
fn segment_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|&b| b == b':')
        .map_or(text.len(), |i| start + i)
}

/// The start of the segment after the one ending at `end`, `None` when it was the last.
#[inline]
fn next_segment(text: &[u8], end: usize) -> Option<usize> {
    (end < text.len()).then_some(end + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn g(p: &str, t: &str) -> bool {
        glob(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn glob_star_and_question() {
        assert!(g("", ""));
        assert!(!g("", "a"));
        assert!(g("*", ""));
        assert!(g("*", "anything/at:all"));
        assert!(g("a*", "a"));
        assert!(g("a*c", "abbbc"));
        assert!(!g("a*c", "abbbd"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(!g("a?c", "abbc"));
        assert!(g("?", "é"), "? is one character, not one byte");
        assert!(!g("??", "é"));
        assert!(g("*?", "é"));
        assert!(g("a*b*c", "a-b-b-c"));
        assert!(!g("a*b*c", "a-c-b"));
        assert!(g("**", "x"));
        assert!(g("*a*a*a*b", "aaaaaaaaaaaaaaaaaab"));
        assert!(!g("*a*a*a*b", "aaaaaaaaaaaaaaaaaaa"));
        assert!(!g("A", "a"), "case-sensitive unless folding");
        assert!(glob(b"EXECUTE-API:inv*", b"execute-api:Invoke", true));
    }

    fn a(p: &str, t: &str) -> bool {
        ArnPattern::new(p).matches(t)
    }

    const M: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1";

    #[test]
    fn arn_exact_and_star_everywhere() {
        assert!(a(M, M));
        assert!(!a(
            M,
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/2"
        ));
        assert!(a("*", M));
        assert!(a("arn:*", M), "a segment-final * runs on across colons");
        assert!(a("arn:aws:execute-api:*", M));
        assert!(a("arn:aws:execute-api:*:*:*", M));
        assert!(a("arn:aws:execute-api:*:*:*/*", M));
        assert!(a(
            "arn:*:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:*:us-east-1:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a("arn:aws:execute-api:*:123456789012:abc123/*", M));
        assert!(a("arn:aws:execute-api:us-east-1:*:abc123/prod/*", M));
        assert!(a("arn:aws:execute-api:us-east-1:123456789012:*", M));
        assert!(a("arn:aws:execute-api:us-east-1:123456789012:abc123/*", M));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/*",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/pets/*",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/pets/1",
            M
        ));
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/*",
            M
        ));
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/test/*",
            M
        ));
        assert!(!a("arn:aws:execute-api:eu-west-1:*", M));
        assert!(!a("arn:aws:execute-api:*:999999999999:*", M));
    }

    #[test]
    fn arn_question_mark_in_every_position() {
        assert!(a(
            "ar?:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:a?s:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:execute-ap?:us-east-1:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-?:123456789012:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:12345678901?:abc123/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc12?/prod/GET/pets/1",
            M
        ));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/pro?/G?T/pets/?",
            M
        ));
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/G?/pets/1",
            M
        ));
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1?",
            M
        ));
        // `?` never stands for a colon.
        assert!(!a(
            "arn:aws:execute-api:us-east-1?123456789012:abc123/prod/GET/pets/1",
            M
        ));
    }

    #[test]
    fn arn_inner_star_stays_in_its_segment() {
        // Not at a segment's end: cannot cover "123456789012:abc123".
        assert!(!a("arn:aws:execute-api:us-east-1:*/prod/GET/pets/1", M));
        assert!(!a("arn:aws:execute-api:us-*/prod/*", M));
        // At a segment's end it can.
        assert!(a("arn:aws:execute-api:us-*", M));
        // A path holding a colon: an inner `*` stops there, a final one runs on.
        let colon = "arn:aws:execute-api:r:1:api/prod/GET/a:b";
        assert!(a("arn:aws:execute-api:r:1:api/prod/GET/*", colon));
        assert!(!a(
            "arn:aws:execute-api:r:1:api/prod/*/a:b",
            "arn:aws:execute-api:r:1:api/prod/GET/x:y/a:b"
        ));
        assert!(a("arn:aws:execute-api:r:1:api/prod/*/a:b", colon));
        assert!(a("arn:aws:execute-api:r:1:api/*:b", colon));
    }

    /// The rule written down directly (exponential, for small inputs): a `*` followed by
    /// `:` or the end matches anything, another `*` anything without a colon, `?` one
    /// character other than a colon. With `colons: false`, every `*` matches anything and
    /// `?` any character (plain [`glob`]).
    fn reference(p: &[u8], t: &[u8], colons: bool) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') => {
                let free = !colons || p.len() == 1 || p[1] == b':';
                (0..=t.len()).any(|k| {
                    (free || !t[..k].contains(&b':')) && reference(&p[1..], &t[k..], colons)
                })
            }
            Some(b'?') => {
                !t.is_empty() && (!colons || t[0] != b':') && reference(&p[1..], &t[1..], colons)
            }
            Some(&c) => !t.is_empty() && t[0] == c && reference(&p[1..], &t[1..], colons),
        }
    }

    #[test]
    fn matchers_agree_with_the_rule_on_random_inputs() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as usize
        };
        let mut matched = 0;
        for _ in 0..50_000 {
            let plen = next(9);
            let tlen = next(9);
            let p: Vec<u8> = (0..plen).map(|_| b"ab:/*?*:"[next(8)]).collect();
            let t: Vec<u8> = (0..tlen).map(|_| b"ab:/"[next(4)]).collect();
            let (ps, ts) = (
                std::str::from_utf8(&p).unwrap(),
                std::str::from_utf8(&t).unwrap(),
            );
            let want = reference(&p, &t, true);
            assert_eq!(
                ArnPattern::new(ps).matches(ts),
                want,
                "ARN {ps:?} vs {ts:?}"
            );
            assert_eq!(
                glob(&p, &t, false),
                reference(&p, &t, false),
                "glob {ps:?} vs {ts:?}"
            );
            matched += usize::from(want);
        }
        assert!(
            matched > 1_000,
            "the inputs exercise matches too ({matched})"
        );
    }

    #[test]
    fn arn_case_sensitive() {
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/get/pets/1",
            M
        ));
        assert!(!a("ARN:aws:execute-api:*", M));
    }

    #[test]
    fn arn_empty_segments() {
        // The root resource: empty path after the method.
        let root = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/";
        assert!(a(root, root));
        assert!(a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*",
            root
        ));
        assert!(!a(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/?*",
            root
        ));
        assert!(!a(root, M));
        // Empty region and account segments (S3-style ARNs).
        assert!(a("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/key"));
        assert!(!a("arn:aws:s3:::bucket/*", "arn:aws:s3:x::bucket/key"));
        assert!(a("arn:aws:s3:*:*:bucket/*", "arn:aws:s3:::bucket/key"));
        // An empty pattern matches only the empty string.
        assert!(a("", ""));
        assert!(!a("", "x"));
        assert!(!a("arn:aws", "arn:aws:"));
        assert!(a("arn:aws:", "arn:aws:"));
        assert!(a("arn:aws*", "arn:aws:"));
        // Fewer ARN segments than the pattern has.
        assert!(!a("arn:aws:execute-api:*:*:*", "arn:aws:execute-api"));
        assert!(a("arn:aws:execute-api:*:*:*", "arn:aws:execute-api:::"));
    }
}
