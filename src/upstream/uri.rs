//! Integration URI templates: `http://host:port/base/{param}/${stageVariables.name}/{proxy}`.
//!
//! CONTRACT (implemented by the routing work):
//! - `UriTemplate::parse(s)` accepts only `http://` URIs (https arrives with target groups),
//!   with an authority (host[:port], port default 80; IPv6 as `[::1]:port`) that may itself
//!   contain `${stageVariables.x}`. Errors are reason strings.
//! - Placeholders: `{name}` (a path parameter of the route; `{proxy}` for `{proxy+}`) and
//!   `${stageVariables.name}`. `{name}` may appear anywhere after the authority.
//! - `render` appends the URI with every placeholder substituted to `out` and returns
//!   `Err(name)` for a placeholder without a value (the request then fails with 500
//!   API_CONFIGURATION_ERROR). It allocates nothing beyond growing `out`.
//! - `split_rendered(out)` splits a rendered URI into (host, port, path-and-query) where
//!   path-and-query starts with `/` (a bare authority gives `/`).

#[derive(Debug, Clone)]
pub struct UriTemplate {
    _todo: (),
}

/// Supplies placeholder values while rendering.
pub trait UriValues {
    /// Value of path parameter `name` (raw, percent-encoded as received).
    fn path_param(&self, name: &str) -> Option<&str>;
    /// Value of stage variable `name`.
    fn stage_variable(&self, name: &str) -> Option<&str>;
}

impl UriTemplate {
    pub fn parse(s: &str) -> Result<UriTemplate, String> {
        let _ = s;
        todo!()
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        todo!()
    }

    /// Names of the `{path params}` the template uses (validation checks them against the route).
    pub fn path_param_names(&self) -> Vec<&str> {
        todo!()
    }

    pub fn render(&self, values: &dyn UriValues, out: &mut String) -> Result<(), String> {
        let _ = (values, out);
        todo!()
    }
}

/// Split a rendered `http://host[:port]/path?query` into (host, port, path-and-query).
pub fn split_rendered(uri: &str) -> Result<(&str, u16, &str), String> {
    let _ = uri;
    todo!()
}
