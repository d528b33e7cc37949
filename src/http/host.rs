//! Host names as requests carry them: the port stripped, API Gateway's default endpoint
//! form `{api-id}.execute-api.{suffix}` recognised.

/// The host without its `:port` (`[::1]:8080` -> `[::1]`) and without one trailing dot.
pub fn strip_port(host: &str) -> &str {
    let h = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        }
    } else {
        match host.split_once(':') {
            // One colon: `name:port`. More: a bare IPv6 address, left alone.
            Some((h, port)) if !port.contains(':') => h,
            _ => host,
        }
    };
    h.strip_suffix('.').unwrap_or(h)
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
