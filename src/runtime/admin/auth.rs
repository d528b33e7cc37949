//! The admin token check: `Authorization: Bearer TOKEN`, compared in constant time.

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use crate::config::admin::AdminToken;

/// Whether `authorization` (the header's value, if any) carries `token`. The scheme is
/// case-insensitive (RFC 9110); the comparison is over SHA-256 digests, in constant time,
/// so neither the token's bytes nor its length show in the time taken.
pub fn authorized(token: &AdminToken, authorization: Option<&str>) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, presented)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented = digest(&SHA256, presented.trim_start().as_bytes());
    let expected = digest(&SHA256, token.as_bytes());
    presented.as_ref().ct_eq(expected.as_ref()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::admin::parse_token;

    #[test]
    fn only_the_bearer_token_itself_passes() {
        let t = parse_token(b"0123456789abcdef-token").expect("token");
        assert!(authorized(&t, Some("Bearer 0123456789abcdef-token")));
        assert!(authorized(&t, Some("bearer  0123456789abcdef-token ")));
        assert!(authorized(&t, Some("BEARER 0123456789abcdef-token")));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("0123456789abcdef-token"),
            Some("Basic 0123456789abcdef-token"),
            Some("Bearer 0123456789abcdef-toke"),
            Some("Bearer 0123456789abcdef-token2"),
            Some("Bearer 0123456789abcdef-tokeN"),
            Some("Bearer x 0123456789abcdef-token"),
        ] {
            assert!(!authorized(&t, bad), "{bad:?}");
        }
    }
}
