//! Method + path template -> route (API Gateway resources and methods, HTTP API routes).
//!
//! CONTRACT (implemented by the routing work):
//! - Templates are `/`, `/a/b`, `/orders/{id}`, `/files/{proxy+}` (greedy, last segment only,
//!   matches one or more remaining segments), or HTTP APIs' `$default` (catch-all used only when
//!   nothing else matches).
//! - Most specific wins: at each segment a literal beats `{param}` beats `{greedy+}`, with
//!   backtracking (so `/a/{x}/c` and `/a/b/{y}` both work). An exact method beats `ANY` on the
//!   same resource.
//! - A trailing slash in the request path is ignored (`/hello/` matches `/hello`); empty inner
//!   segments (`//`) match nothing but a greedy parameter.
//! - Path params are reported as spans (byte offsets into the path given to `find`), in the
//!   order the template names them; at most [`MAX_PARAMS`]. Raw (still percent-encoded).
//! - `find` allocates nothing.

use crate::http::head::Method;

/// Most path parameters one template may have.
pub const MAX_PARAMS: usize = 16;

/// A route's method: one of API Gateway's methods or `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteMethod {
    Any,
    Only(Method),
}

/// Path parameter values of one match, as byte ranges into the matched path.
#[derive(Debug, Clone, Copy)]
pub struct PathParams {
    pub len: usize,
    pub spans: [(u32, u32); MAX_PARAMS],
}

impl Default for PathParams {
    fn default() -> Self {
        PathParams { len: 0, spans: [(0, 0); MAX_PARAMS] }
    }
}

impl PathParams {
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// The i-th parameter's raw value within `path`.
    pub fn get<'p>(&self, i: usize, path: &'p str) -> Option<&'p str> {
        if i >= self.len {
            return None;
        }
        let (s, e) = self.spans[i];
        path.get(s as usize..e as usize)
    }
}

/// Result of a lookup.
#[derive(Debug)]
pub enum Match<'r, T> {
    Found(&'r T),
    /// A resource matched the path but no method on it matches (API Gateway answers as for
    /// no match; kept separate for logs and for CORS/OPTIONS later).
    MethodNotAllowed,
    NotFound,
}

#[derive(Debug)]
pub struct Router<T> {
    _todo: std::marker::PhantomData<T>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Router<T> {
    pub fn new() -> Self {
        todo!()
    }

    /// Add a route. `path` is a template as above or `$default`. Errors (as a reason string):
    /// malformed template (not starting with `/`, bad braces, greedy not last, duplicate param
    /// names, more than MAX_PARAMS params) or a duplicate (method, template).
    pub fn insert(&mut self, method: RouteMethod, path: &str, value: T) -> Result<(), String> {
        let _ = (method, path, value);
        todo!()
    }

    /// Find the route for `method` and `path` (no query string; starts with `/`).
    pub fn find(&self, method: Method, path: &str, params: &mut PathParams) -> Match<'_, T> {
        let _ = (method, path, params);
        todo!()
    }
}
