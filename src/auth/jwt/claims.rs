//! A verified token's claims, kept as the payload's own JSON map, and rendered as API
//! Gateway hands them on: every claim becomes a string.
//!
//! - HTTP APIs (`$context.authorizer.jwt.claims.NAME`, payload 2.0 events): strings as they
//!   are, numbers and booleans as their JSON text (`"exp": "1787996002"`), arrays as
//!   `[a b c]` (elements rendered the same way, space-separated: the form HTTP APIs are
//!   seen to send for `cognito:groups`), objects and `null` as JSON text.
//! - REST APIs (`$context.authorizer.claims.NAME`): strings as they are, `exp` and `iat` as
//!   the date text REST's Cognito authorizer is seen to send (`Tue Apr 04 18:39:39 UTC
//!   2023`), other numbers and booleans as JSON text, arrays as their elements joined by
//!   `,` (`admin,editor`), objects and `null` as JSON text.
//!
//! The scopes (`scope`, space-separated, and `scp`, a string or an array) are parsed once,
//! for the route's scope check and `$context.authorizer.jwt.scopes`.

use std::fmt::{self, Write};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::time::{civil_from_unix, month_name};

/// Which API type's rendering of claim values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStyle {
    /// REST APIs' Cognito user pool authorizer (`$context.authorizer.claims`).
    Rest,
    /// HTTP APIs' JWT authorizer (`$context.authorizer.jwt.claims`).
    Http,
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    map: Map<String, Value>,
    exp: i64,
    /// Shared with `$context.authorizer.jwt.scopes` without a copy per request.
    scopes: Rc<[String]>,
    /// How `$context` renders the claims (set by the authorizer that verified them).
    style: ClaimStyle,
}

impl Claims {
    /// Claims from a payload whose `exp` was read as `exp`.
    pub(super) fn from_payload(map: Map<String, Value>, exp: i64) -> Self {
        let mut scopes: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            for part in s.split([' ', '\t']).filter(|p| !p.is_empty()) {
                if !scopes.iter().any(|have| have == part) {
                    scopes.push(part.to_owned());
                }
            }
        };
        if let Some(Value::String(s)) = map.get("scope") {
            add(s);
        }
        match map.get("scp") {
            Some(Value::String(s)) => add(s),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).for_each(add),
            _ => {}
        }
        Claims {
            map,
            exp,
            scopes: scopes.into(),
            style: ClaimStyle::Http,
        }
    }

    /// The rendering `$context` uses for these claims ([`Claims::render_own`]).
    pub fn style(&self) -> ClaimStyle {
        self.style
    }

    pub fn set_style(&mut self, style: ClaimStyle) {
        self.style = style;
    }

    /// Append claim `name` in the claims' own style (see [`Claims::set_style`]).
    pub fn render_own(&self, name: &str, out: &mut dyn Write) -> bool {
        self.render(name, self.style, out)
    }

    /// The token's `exp` (unix seconds).
    pub fn expires_at(&self) -> i64 {
        self.exp
    }

    /// The raw JSON value of claim `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// Every claim, raw.
    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The token's scopes (`scope` and `scp`), in order, without duplicates.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The scopes, shared.
    pub fn scopes_rc(&self) -> Rc<[String]> {
        Rc::clone(&self.scopes)
    }

    /// Whether the token holds at least one of `required` (true when none is required),
    /// as API Gateway checks a route's authorization scopes.
    pub fn has_any_scope<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required.is_empty()
            || required
                .iter()
                .any(|r| self.scopes.iter().any(|s| s == r.as_ref()))
    }

    /// Append claim `name` rendered in `style` to `out`; false (nothing appended) when the
    /// token has no such claim.
    pub fn render(&self, name: &str, style: ClaimStyle, out: &mut dyn Write) -> bool {
        match self.map.get(name) {
            Some(v) => {
                let _ = render_claim(name, v, style, out);
                true
            }
            None => false,
        }
    }

    /// Claim `name` rendered in `style`.
    pub fn rendered(&self, name: &str, style: ClaimStyle) -> Option<String> {
        let mut out = String::new();
        self.render(name, style, &mut out).then_some(out)
    }

    /// Every claim rendered in `style`, as the JSON object of strings an event carries.
    pub fn rendered_map(&self, style: ClaimStyle) -> Map<String, Value> {
        self.map
            .iter()
            .map(|(k, v)| {
                let mut s = String::new();
                let _ = render_claim(k, v, style, &mut s);
                (k.clone(), Value::String(s))
            })
            .collect()
    }
}

fn render_claim(name: &str, v: &Value, style: ClaimStyle, out: &mut dyn Write) -> fmt::Result {
    if style == ClaimStyle::Rest && (name == "exp" || name == "iat") {
        if let Some(secs) = v.as_i64() {
            return java_date(secs, out);
        }
    }
    render_value(v, style, out)
}

fn render_value(v: &Value, style: ClaimStyle, out: &mut dyn Write) -> fmt::Result {
    match v {
        Value::String(s) => out.write_str(s),
        Value::Array(items) => {
            let (open, sep, close) = match style {
                ClaimStyle::Http => ("[", " ", "]"),
                ClaimStyle::Rest => ("", ",", ""),
            };
            out.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_str(sep)?;
                }
                render_value(item, style, out)?;
            }
            out.write_str(close)
        }
        other => write!(out, "{other}"),
    }
}

/// `EEE MMM dd HH:mm:ss UTC yyyy` (Java's `Date.toString()` in UTC).
fn java_date(secs: i64, out: &mut dyn Write) -> fmt::Result {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (y, mo, d, h, mi, s) = civil_from_unix(secs);
    let weekday = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    write!(
        out,
        "{weekday} {} {d:02} {h:02}:{mi:02}:{s:02} UTC {y}",
        month_name(mo)
    )
}
