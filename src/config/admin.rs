//! `admin.token_file`: the bearer token the admin listener requires (read at load and at
//! every reload; never printed).

use std::fmt;
use std::path::Path;

use super::validate::Errors;

/// Longest token file read, in bytes.
pub const MAX_TOKEN_FILE_BYTES: u64 = 4096;
/// Shortest token accepted, in bytes (a guessable token is refused at load).
pub const MIN_TOKEN_BYTES: usize = 16;

/// The admin listener's bearer token. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

/// Why `text` (a token file's content) is not a usable token, else the token: the file's
/// first line without surrounding whitespace, at least [`MIN_TOKEN_BYTES`] visible ASCII
/// characters (RFC 6750's `b64token` and more: anything a `Bearer` header can carry).
pub fn parse_token(text: &[u8]) -> Result<AdminToken, String> {
    let text = std::str::from_utf8(text).map_err(|_| "the token file is not UTF-8 text")?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(token) = lines.next().map(str::trim) else {
        return Err("the token file is empty".to_string());
    };
    if lines.next().is_some() {
        return Err("the token file holds more than one line".to_string());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token holds a space or a character that is not visible ASCII".to_string());
    }
    if token.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "the token is {} character(s); at least {MIN_TOKEN_BYTES} are required",
            token.len()
        ));
    }
    Ok(AdminToken(token.to_string()))
}

/// `admin.token_file` (relative to the configuration file): read and checked, errors at
/// `admin.token_file`.
pub(super) fn build_admin_token(
    e: &mut Errors,
    token_file: Option<&str>,
    base_dir: &Path,
) -> Option<AdminToken> {
    let name = token_file?;
    if name.is_empty() {
        e.push(
            "admin.token_file",
            "is empty; name the file holding the token",
        );
        return None;
    }
    let path = base_dir.join(name);
    let read = super::bounded::read_capped(&path, MAX_TOKEN_FILE_BYTES)
        .and_then(|bytes| parse_token(&bytes));
    match read {
        Ok(t) => Some(t),
        Err(reason) => {
            e.push("admin.token_file", format!("{}: {reason}", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_one_visible_line_of_sixteen_or_more() {
        let ok = parse_token(b"\n  s3cr3t-token-0123456789 \n\n").expect("valid");
        assert_eq!(ok.as_bytes(), b"s3cr3t-token-0123456789");
        assert_eq!(format!("{ok:?}"), "AdminToken(redacted)");
        for (bad, why) in [
            (&b""[..], "empty"),
            (b"  \n\t\n", "empty"),
            (b"short", "at least 16"),
            (b"two words here 0123456789", "visible ASCII"),
            (b"0123456789abcdef\nsecond-line-0123", "more than one line"),
            (b"\xff\xfe0123456789abcdef", "UTF-8"),
            ("0123456789abcdef\u{e9}".as_bytes(), "visible ASCII"),
        ] {
            let err = parse_token(bad).expect_err(why);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn token_file_errors_name_the_key_and_the_file() {
        let dir = std::env::temp_dir().join(format!("tollgate-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("short"), "abc\n").expect("write");
        std::fs::write(dir.join("good"), "a-good-token-0123456789\n").expect("write");
        let load = |token_file: &str| {
            crate::config::validate::from_str(
                &dir.join("c.yaml"),
                &format!(
                    "admin: {{bind: 127.0.0.1:0, token_file: {token_file}}}
listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis: [{{id: a, routes: [{{route: GET /x, integration: {{type: MOCK}}}}], stages: [{{name: p}}]}}]
"
                ),
            )
        };
        let ok = load("good").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok.admin_token.as_ref().map(AdminToken::as_bytes),
            Some(&b"a-good-token-0123456789"[..])
        );
        for (file, why) in [
            ("absent", "cannot read"),
            ("short", "at least 16"),
            ("\"\"", "is empty"),
        ] {
            let errors = load(file).expect_err(file).0;
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].path, "admin.token_file");
            assert!(errors[0].reason.contains(why), "{}", errors[0].reason);
            assert!(!errors[0].reason.contains("abc"), "the token is not echoed");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
