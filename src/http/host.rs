//! Host names as requests carry them: the port stripped, API Gateway's default endpoint
//! form `{api-id}.execute-api.{suffix}` recognised.

/// The host without its `:port` (`[::1]:8080` -> `[::1]`) and without one trailing dot.
pub fn strip_port(host: &str) -> &str {
    let b = host.as_bytes();
    let end = if b.first() == Some(&b'[') {
        match b.iter().position(|&c| c == b']') {
            Some(i) => i + 1,
            None => b.len(),
        }
    } else {
        // One colon: `name:port`. More: a bare IPv6 address, left alone. One pass.
        let mut colon = None;
        for (i, &c) in b.iter().enumerate() {
            if c == b':' {
                if colon.is_some() {
                    colon = None;
                    break;
                }
                colon = Some(i);
            }
        }
        colon.unwrap_or(b.len())
    };
    let end = if end > 0 && b[end - 1] == b'.' {
        end - 1
    } else {
        end
    };
    // `end` is at an ASCII byte (`:`, `.`, after `]`) or the end: a char boundary.
    host.get(..end).unwrap_or(host)
}

/// A Host value as text: the request parser accepts only ASCII host characters there, so
/// the cheap ASCII check answers; other bytes are read as UTF-8 ("" when they are not).
pub fn host_str(bytes: &[u8]) -> &str {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    } else {
        std::str::from_utf8(bytes).unwrap_or("")
    }
}

/// `{api-id}` of a host `{api-id}.execute-api.{suffix}` (ASCII case-insensitive, port already
/// stripped), or `None` for any other host. The id is one DNS label.
pub fn execute_api_id<'h>(host: &'h str, suffix: &str) -> Option<&'h str> {
    const MIDDLE: &str = ".execute-api";
    let h = host.as_bytes();
    let s = suffix.as_bytes();
    // `{id}.execute-api` then, when the suffix is not empty, `.{suffix}`.
    let tail_len = if s.is_empty() { 0 } else { s.len() + 1 };
    let head_len = h.len().checked_sub(tail_len)?;
    if !s.is_empty() {
        let tail = h.get(head_len..)?;
        if tail.first() != Some(&b'.') || !tail.get(1..)?.eq_ignore_ascii_case(s) {
            return None;
        }
    }
    let id_len = head_len.checked_sub(MIDDLE.len())?;
    if !h
        .get(id_len..head_len)?
        .eq_ignore_ascii_case(MIDDLE.as_bytes())
    {
        return None;
    }
    let id = host.get(..id_len)?;
    if id.is_empty() || id.contains('.') {
        return None;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `strip_port` as it was written with `str` searches (the reference for the byte scan).
    fn reference_strip_port(host: &str) -> &str {
        let h = if host.starts_with('[') {
            match host.find(']') {
                Some(i) => host.get(..=i).unwrap_or(host),
                None => host,
            }
        } else {
            match host.split_once(':') {
                Some((h, port)) if !port.contains(':') => h,
                _ => host,
            }
        };
        h.strip_suffix('.').unwrap_or(h)
    }

    #[test]
    fn strip_port_examples() {
        for (host, bare) in [
            ("api.example.com", "api.example.com"),
            ("api.example.com:8443", "api.example.com"),
            ("api.example.com.:8443", "api.example.com"),
            ("api.example.com.", "api.example.com"),
            ("api.example.com..", "api.example.com."),
            ("127.0.0.1:18223", "127.0.0.1"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("[::1", "[::1"),
            ("::1", "::1"),
            ("h:", "h"),
            (":80", ""),
            ("", ""),
            (".", ""),
            ("é.example:1", "é.example"),
        ] {
            assert_eq!(strip_port(host), bare, "{host}");
        }
    }

    #[test]
    fn strip_port_matches_its_reference() {
        let alphabet = ["a", ":", "[", "]", ".", "1", "é"];
        let mut strings = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for s in &last {
                for a in alphabet {
                    next.push(format!("{s}{a}"));
                }
            }
            strings.extend(next.iter().cloned());
            last = next;
        }
        assert!(strings.len() > 100_000);
        for s in &strings {
            assert_eq!(strip_port(s), reference_strip_port(s), "{s:?}");
        }
    }

    #[test]
    fn host_str_reads_ascii_and_utf8() {
        assert_eq!(host_str(b"127.0.0.1:18223"), "127.0.0.1:18223");
        assert_eq!(host_str(b""), "");
        assert_eq!(
            host_str("caf\u{e9}.example".as_bytes()),
            "caf\u{e9}.example"
        );
        assert_eq!(host_str(b"a\xffb"), "");
    }
}
