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
        PathParams {
            len: 0,
            spans: [(0, 0); MAX_PARAMS],
        }
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
    root: Node<T>,
    /// HTTP APIs' `$default` route: used only when nothing else matches.
    default: Option<T>,
    /// Number of routes, `$default` included.
    len: usize,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Router<T> {
    pub fn new() -> Self {
        Router {
            root: Node::new(),
            default: None,
            len: 0,
        }
    }

    /// Number of routes (`$default` included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a `$default` route exists.
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// Add a route. `path` is a template as above or `$default`. Errors (as a reason string):
    /// malformed template (not starting with `/`, bad braces, greedy not last, duplicate param
    /// names, more than MAX_PARAMS params, a `.` or `..` segment), a duplicate (method,
    /// template), or a variable path part beside a sibling one of another name.
    ///
    /// `$default` ignores `method` (it catches every method). One trailing slash on a template
    /// is ignored (`/a/` is `/a`). As in API Gateway, a resource has at most one variable
    /// child: `{id}` beside `{name}`, or `{id}` beside `{proxy+}`, is refused with API
    /// Gateway's message ("A sibling ({id}) of this resource already has a variable path part
    /// -- only one is allowed"), whatever the methods. A failed insert changes nothing.
    pub fn insert(&mut self, method: RouteMethod, path: &str, value: T) -> Result<(), String> {
        if path == DEFAULT_ROUTE {
            if self.default.is_some() {
                return Err(format!("duplicate route '{DEFAULT_ROUTE}'"));
            }
            self.default = Some(value);
            self.len += 1;
            return Ok(());
        }
        if method == RouteMethod::Only(Method::Other) {
            return Err("unsupported route method".to_string());
        }
        let segs = parse_template(path)?;
        // Check first, without changing the trie, then insert.
        let mut node = Some(&self.root);
        for seg in &segs {
            let Some(n) = node else { break };
            node = match seg {
                Seg::Literal(name) => n.literal_child(name),
                Seg::Param(name) => {
                    n.check_variable(name, false)?;
                    n.param.as_deref()
                }
                Seg::Greedy(name) => {
                    n.check_variable(name, true)?;
                    Some(n)
                }
            };
        }
        let greedy = matches!(segs.last(), Some(Seg::Greedy(_)));
        if let Some(n) = node {
            let methods = if greedy { &n.greedy } else { &n.methods };
            if methods.iter().any(|(m, _)| *m == method) {
                return Err(format!(
                    "duplicate route '{} {}'",
                    method_name(method),
                    path
                ));
            }
        }
        let mut node = &mut self.root;
        for seg in &segs {
            match seg {
                Seg::Literal(name) => node = node.literal_child_mut(name),
                Seg::Param(name) => {
                    if node.param.is_none() {
                        node.param_name = Some((*name).into());
                    }
                    node = node.param.get_or_insert_with(|| Box::new(Node::new()));
                }
                Seg::Greedy(name) => {
                    if node.greedy_name.is_none() {
                        node.greedy_name = Some((*name).into());
                    }
                }
            }
        }
        let methods = if greedy {
            &mut node.greedy
        } else {
            &mut node.methods
        };
        methods.push((method, value));
        self.len += 1;
        Ok(())
    }

    /// Find the route for `method` and `path` (no query string; starts with `/`).
    ///
    /// The resource is chosen by path alone (literal > param > greedy, with backtracking);
    /// then the method on it (exact > `ANY`). No resource, or a resource without the method,
    /// falls back to `$default` when there is one (`params` then empty). `Method::Other`
    /// matches no route, `$default` included. A greedy parameter's span runs to the end of
    /// `path`, keeping a trailing slash (`/p/a/b/` on `/p/{proxy+}` gives `a/b/`).
    pub fn find(&self, method: Method, path: &str, params: &mut PathParams) -> Match<'_, T> {
        self.find_with(method, path, params, false)
    }

    /// Like `find`, but with `by_method` a resource without the request's method is a failed
    /// branch and the search backtracks to less specific ones, as HTTP APIs choose routes:
    /// with `GET /pets/dog` and `ANY /{proxy+}`, `POST /pets/dog` gets `ANY /{proxy+}`.
    pub fn find_with(
        &self,
        method: Method,
        path: &str,
        params: &mut PathParams,
        by_method: bool,
    ) -> Match<'_, T> {
        params.clear();
        let filter = by_method.then_some(method);
        let resource = if path.starts_with('/') && u32::try_from(path.len()).is_ok() {
            // Ignore one trailing slash: `/` has no segments, `//` one empty segment.
            let end = if path.ends_with('/') {
                path.len() - 1
            } else {
                path.len()
            };
            self.root.find(path, 0, end, params, filter)
        } else {
            None
        };
        let found = resource.map(|methods| pick(methods, method));
        match found {
            Some(Some(v)) => Match::Found(v),
            _ => {
                params.clear();
                match (&self.default, method) {
                    (Some(d), m) if m != Method::Other => Match::Found(d),
                    _ if found.is_some() => Match::MethodNotAllowed,
                    _ => Match::NotFound,
                }
            }
        }
    }
}

/// One segment of a parsed template.
enum Seg<'a> {
    Literal(&'a str),
    Param(&'a str),
    Greedy(&'a str),
}

/// Above this many literal children a node keeps a hash index of them, so that neither
/// building a router (validation) nor a lookup is linear in the number of siblings.
const LITERAL_INDEX_FROM: usize = 8;

/// One node of the segment trie: the resource reached by the segments so far.
#[derive(Debug)]
struct Node<T> {
    /// Literal children in insertion order, searched linearly while there are few.
    literals: Vec<(Box<str>, Node<T>)>,
    /// Name -> index into `literals`, once there are more than [`LITERAL_INDEX_FROM`].
    literal_index: Option<ahash::AHashMap<Box<str>, usize>>,
    /// The `{param}` child (one per node, as API Gateway allows one variable child).
    param: Option<Box<Node<T>>>,
    /// Its name, for the sibling rule.
    param_name: Option<Box<str>>,
    /// Methods of the greedy `{name+}` child (empty = none).
    greedy: Vec<(RouteMethod, T)>,
    /// Its name (without `+`), for the sibling rule.
    greedy_name: Option<Box<str>>,
    /// Methods of the resource at this node (empty = not a resource).
    methods: Vec<(RouteMethod, T)>,
}

#[cfg(test)]
thread_local! {
    /// Literal-name comparisons and index probes made by this thread's routers (tests only:
    /// the proof that building a router is linear).
    static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline]
fn counted() {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            literals: Vec::new(),
            literal_index: None,
            param: None,
            param_name: None,
            greedy: Vec::new(),
            greedy_name: None,
            methods: Vec::new(),
        }
    }

    /// Index of the literal child `name`.
    fn literal_pos(&self, name: &str) -> Option<usize> {
        match &self.literal_index {
            Some(index) => {
                counted();
                index.get(name).copied()
            }
            None => self.literals.iter().position(|(n, _)| {
                counted();
                &**n == name
            }),
        }
    }

    fn literal_child(&self, name: &str) -> Option<&Node<T>> {
        self.literal_pos(name).map(|i| &self.literals[i].1)
    }

    fn literal_child_mut(&mut self, name: &str) -> &mut Node<T> {
        let i = match self.literal_pos(name) {
            Some(i) => i,
            None => {
                let i = self.literals.len();
                self.literals.push((name.into(), Node::new()));
                if let Some(index) = &mut self.literal_index {
                    index.insert(name.into(), i);
                } else if self.literals.len() > LITERAL_INDEX_FROM {
                    self.literal_index = Some(
                        self.literals
                            .iter()
                            .enumerate()
                            .map(|(i, (n, _))| (n.clone(), i))
                            .collect(),
                    );
                }
                i
            }
        };
        &mut self.literals[i].1
    }

    /// API Gateway's rule: at most one variable child per resource, `{name}` or `{name+}`.
    fn check_variable(&self, name: &str, greedy: bool) -> Result<(), String> {
        let sibling = match (&self.param_name, &self.greedy_name) {
            (Some(p), _) if greedy || &**p != name => format!("{{{p}}}"),
            (_, Some(g)) if !greedy || &**g != name => format!("{{{g}+}}"),
            _ => return Ok(()),
        };
        Err(format!(
            "A sibling ({sibling}) of this resource already has a variable path part -- only one is allowed"
        ))
    }

    /// Depth-first search for the resource matching the segments of `path[pos..end]`, where
    /// `pos` is the index of the `/` in front of the next segment (or `end`: no more segments).
    /// Literal, then param, then greedy; a branch that reaches no resource is abandoned and
    /// its params are popped. Recursion depth is bounded by the trie's depth.
    fn find<'r>(
        &'r self,
        path: &str,
        pos: usize,
        end: usize,
        params: &mut PathParams,
        filter: Option<Method>,
    ) -> Option<&'r [(RouteMethod, T)]> {
        // A resource matches when it has methods (and, when filtering, the wanted one).
        let accept = |methods: &'r [(RouteMethod, T)]| {
            (!methods.is_empty() && filter.is_none_or(|m| pick(methods, m).is_some()))
                .then_some(methods)
        };
        if pos >= end {
            return accept(&self.methods);
        }
        let seg_start = pos + 1;
        let bytes = path.as_bytes();
        let mut seg_end = seg_start;
        while seg_end < end && bytes[seg_end] != b'/' {
            seg_end += 1;
        }
        let seg = path.get(seg_start..seg_end)?;

        if let Some(child) = self.literal_child(seg) {
            if let Some(m) = child.find(path, seg_end, end, params, filter) {
                return Some(m);
            }
        }

        if !seg.is_empty() {
            if let Some(child) = &self.param {
                let saved = params.len;
                if push_span(params, seg_start, seg_end) {
                    if let Some(m) = child.find(path, seg_end, end, params, filter) {
                        return Some(m);
                    }
                }
                params.len = saved;
            }
        }

        // Greedy: one or more remaining segments whose text (trailing slash aside) is not empty.
        // The span runs to the end of the path as given, so a trailing slash is kept.
        if seg_start < end {
            if let Some(m) = accept(&self.greedy) {
                if push_span(params, seg_start, path.len()) {
                    return Some(m);
                }
            }
        }
        None
    }
}

fn push_span(params: &mut PathParams, start: usize, end: usize) -> bool {
    let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end)) else {
        return false;
    };
    match params.spans.get_mut(params.len) {
        Some(slot) => {
            *slot = (s, e);
            params.len += 1;
            true
        }
        None => false,
    }
}

/// The route for `method` among one resource's methods: an exact method beats `ANY`.
/// `Method::Other` matches nothing (not even `ANY`), and HEAD does not match GET.
fn pick<T>(methods: &[(RouteMethod, T)], method: Method) -> Option<&T> {
    if method == Method::Other {
        return None;
    }
    let mut any = None;
    for (m, v) in methods {
        match m {
            RouteMethod::Only(x) if *x == method => return Some(v),
            RouteMethod::Any => any = Some(v),
            RouteMethod::Only(_) => {}
        }
    }
    any
}

fn method_name(m: RouteMethod) -> &'static str {
    match m {
        RouteMethod::Any => "ANY",
        RouteMethod::Only(m) => m.as_str(),
    }
}

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Split and check a template (not `$default`) into segments. `/` gives no segments; one
/// trailing slash is ignored, as it is on requests.
fn parse_template(path: &str) -> Result<Vec<Seg<'_>>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("route path must start with '/'".to_string());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segs = Vec::new();
    if rest.is_empty() {
        return if path.len() <= 1 {
            Ok(segs)
        } else {
            Err(format!("empty path segment in route path '{path}'"))
        };
    }
    let mut names: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        if segs.last().is_some_and(|s| matches!(s, Seg::Greedy(_))) {
            return Err("greedy path parameter must be the last segment".to_string());
        }
        if seg.is_empty() {
            return Err(format!("empty path segment in route path '{path}'"));
        }
        if seg == "." || seg == ".." {
            return Err(format!(
                "route path '{path}' has the dot segment '{seg}': requests with dot segments \
                 are refused (400), so this route could never match"
            ));
        }
        if seg
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'?' | b'#'))
        {
            return Err(format!("invalid character in route path segment '{seg}'"));
        }
        let parsed = if let Some(inner) = seg.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(format!(
                    "path parameter must be a whole segment written '{{name}}': '{seg}'"
                ));
            };
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !valid_param_name(name) {
                return Err(format!(
                    "invalid path parameter name '{inner}' (use letters, digits, '_', '.', '-')"
                ));
            }
            if names.contains(&name) {
                return Err(format!("duplicate path parameter '{name}'"));
            }
            names.push(name);
            if names.len() > MAX_PARAMS {
                return Err(format!("too many path parameters (at most {MAX_PARAMS})"));
            }
            if greedy {
                Seg::Greedy(name)
            } else {
                Seg::Param(name)
            }
        } else if seg.contains(['{', '}']) {
            return Err(format!(
                "path parameter must be a whole segment written '{{name}}': '{seg}'"
            ));
        } else {
            Seg::Literal(seg)
        };
        segs.push(parsed);
    }
    Ok(segs)
}

/// The path parameter names of a route template, in template order (a greedy one without its
/// `+`), after the same checks as [`Router::insert`]. `$default` has none. For building
/// `Route::param_names` and checking integration URIs against the route.
pub fn param_names(template: &str) -> Result<Vec<&str>, String> {
    if template == DEFAULT_ROUTE {
        return Ok(Vec::new());
    }
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|s| match s {
            Seg::Literal(_) => None,
            Seg::Param(n) | Seg::Greedy(n) => Some(n),
        })
        .collect())
}

/// The route key `$default`.
pub const DEFAULT_ROUTE: &str = "$default";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GET: RouteMethod = RouteMethod::Only(Method::Get);
    const POST: RouteMethod = RouteMethod::Only(Method::Post);
    const ANY: RouteMethod = RouteMethod::Any;

    fn router(routes: &[(RouteMethod, &str)]) -> Router<String> {
        let mut r = Router::new();
        for (m, p) in routes {
            r.insert(*m, p, format!("{} {}", method_name(*m), p))
                .unwrap();
        }
        r
    }

    /// (route value, params) for a lookup, or "405"/"404".
    fn lookup(r: &Router<String>, m: Method, path: &str) -> (String, Vec<String>) {
        let mut p = PathParams::default();
        match r.find(m, path, &mut p) {
            Match::Found(v) => (
                v.clone(),
                (0..p.len)
                    .map(|i| p.get(i, path).unwrap().to_string())
                    .collect(),
            ),
            Match::MethodNotAllowed => ("405".into(), vec![]),
            Match::NotFound => ("404".into(), vec![]),
        }
    }

    fn hit(r: &Router<String>, m: Method, path: &str) -> String {
        lookup(r, m, path).0
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        // One variable child per resource (API Gateway's rule), so param and greedy are
        // compared across levels: `/a/{p+}` against `/{top}/b/c`.
        let r = router(&[
            (GET, "/a/b"),
            (GET, "/a/{p+}"),
            (GET, "/c/b"),
            (GET, "/c/{x}"),
            (GET, "/{top}/b/c"),
        ]);
        assert_eq!(hit(&r, Method::Get, "/a/b"), "GET /a/b");
        assert_eq!(hit(&r, Method::Get, "/c/b"), "GET /c/b");
        assert_eq!(
            lookup(&r, Method::Get, "/c/z"),
            ("GET /c/{x}".into(), vec!["z".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/a/z/y"),
            ("GET /a/{p+}".into(), vec!["z/y".into()])
        );
        // `/a/b/c`: literal `a` then `b` has no child `c`, greedy takes it.
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/c"),
            ("GET /a/{p+}".into(), vec!["b/c".into()])
        );
        // `/c/b/c`: `c` then `b` (no child `c`), then `{x}` (no children), then the root's
        // `{top}` branch.
        assert_eq!(
            lookup(&r, Method::Get, "/c/b/c"),
            ("GET /{top}/b/c".into(), vec!["c".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/q/b/c"),
            ("GET /{top}/b/c".into(), vec!["q".into()])
        );
        assert_eq!(hit(&r, Method::Get, "/q/b"), "404");
    }

    #[test]
    fn sibling_variables_are_refused_as_api_gateway_does() {
        let msg = |s: &str| {
            format!("A sibling ({s}) of this resource already has a variable path part -- only one is allowed")
        };
        let cases: [(RouteMethod, &str, RouteMethod, &str, &str); 6] = [
            (GET, "/a/{id}/x", GET, "/a/{name}/y", "{id}"),
            (
                RouteMethod::Only(Method::Delete),
                "/b/{id}",
                GET,
                "/b/{name}",
                "{id}",
            ),
            (GET, "/{id}/posts", ANY, "/{catchall+}", "{id}"),
            (ANY, "/{catchall+}", GET, "/{id}/posts", "{catchall+}"),
            (GET, "/c/{p+}", POST, "/c/{q+}", "{p+}"),
            (GET, "/d/{x}", GET, "/d/{y}", "{x}"),
        ];
        for (m1, p1, m2, p2, sibling) in cases {
            let mut r = router(&[(m1, p1)]);
            assert_eq!(
                r.insert(m2, p2, "x".into()).unwrap_err(),
                msg(sibling),
                "{p1} then {p2}"
            );
            // Nothing changed: the first route still matches, and only it.
            assert_eq!(r.len(), 1);
        }
        // The same variable under other methods, deeper, or beside literals is fine.
        let r = router(&[
            (GET, "/a/{id}"),
            (POST, "/a/{id}/x"),
            (GET, "/a/b"),
            (GET, "/f/{path+}"),
            (POST, "/f/{path+}"),
            (GET, "/f/top"),
        ]);
        assert_eq!(r.len(), 6);
    }

    #[test]
    fn dot_segments_are_refused() {
        let mut r: Router<String> = Router::new();
        for p in ["/a/../b", "/./a", "/a/..", "/a/.", "/.."] {
            let e = r.insert(GET, p, "x".into()).unwrap_err();
            assert!(e.contains("dot segment"), "{p}: {e}");
        }
        // Dots inside a segment are ordinary characters.
        r.insert(GET, "/a/.well-known/x..y", "ok".into()).unwrap();
        assert_eq!(r.len(), 1);
    }

    /// Inserting n sibling literals costs O(n) name comparisons, not O(n²) (the 40,000-route
    /// configuration took 4.4 s to validate with a linear sibling scan), and a lookup stays
    /// O(1) in the number of siblings.
    #[test]
    fn building_is_linear_in_siblings() {
        fn comparisons_for(n: usize) -> u64 {
            COMPARISONS.with(|c| c.set(0));
            let mut r: Router<usize> = Router::new();
            for i in 0..n {
                r.insert(GET, &format!("/r{i}/x"), i).unwrap();
            }
            COMPARISONS.with(|c| c.get())
        }
        let small = comparisons_for(10_000);
        let large = comparisons_for(20_000);
        assert!(small >= 10_000, "{small}");
        // Linear: twice the routes, about twice the comparisons (quadratic would be 4x).
        assert!(large <= small * 2 + 100, "{small} -> {large}");
        assert!(large < 20_000 * 4, "{large} comparisons for 20,000 routes");

        let mut r: Router<usize> = Router::new();
        for i in 0..20_000 {
            r.insert(GET, &format!("/r{i}"), i).unwrap();
        }
        COMPARISONS.with(|c| c.set(0));
        let mut p = PathParams::default();
        assert!(matches!(
            r.find(Method::Get, "/r19999", &mut p),
            Match::Found(&19_999)
        ));
        assert!(COMPARISONS.with(|c| c.get()) <= 2);
    }

    #[test]
    fn backtracking_between_literal_and_param() {
        let r = router(&[(GET, "/a/{x}/c"), (GET, "/a/b/{y}")]);
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/c"),
            ("GET /a/b/{y}".into(), vec!["c".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/d"),
            ("GET /a/b/{y}".into(), vec!["d".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/a/z/c"),
            ("GET /a/{x}/c".into(), vec!["z".into()])
        );
        assert_eq!(hit(&r, Method::Get, "/a/z/d"), "404");

        // Deeper: the literal branch dies two levels down; params pushed on it are popped.
        let r = router(&[(GET, "/a/b/{y}/e"), (GET, "/a/{x}/{z}/f"), (GET, "/{p+}")]);
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/c/e"),
            ("GET /a/b/{y}/e".into(), vec!["c".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/c/f"),
            ("GET /a/{x}/{z}/f".into(), vec!["b".into(), "c".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/a/b/c/g"),
            ("GET /{p+}".into(), vec!["a/b/c/g".into()])
        );
        // An intermediate node without methods is not a resource.
        assert_eq!(
            lookup(&r, Method::Get, "/a/b"),
            ("GET /{p+}".into(), vec!["a/b".into()])
        );
    }

    #[test]
    fn http_api_matching_falls_back_by_method() {
        use RouteMethod::*;
        let r = router(&[
            (Only(Method::Get), "/pets/dog/1"),
            (Only(Method::Get), "/pets/dog/{id}"),
            (Only(Method::Get), "/pets/{proxy+}"),
            (Any, "/{proxy+}"),
        ]);
        let by_method =
            |m: Method, path: &str| match r.find_with(m, path, &mut PathParams::default(), true) {
                Match::Found(v) => v.clone(),
                Match::MethodNotAllowed => "405".into(),
                Match::NotFound => "404".into(),
            };
        assert_eq!(by_method(Method::Get, "/pets/dog/1"), "GET /pets/dog/1");
        assert_eq!(by_method(Method::Get, "/pets/dog/2"), "GET /pets/dog/{id}");
        assert_eq!(by_method(Method::Get, "/pets/cat/1"), "GET /pets/{proxy+}");
        assert_eq!(by_method(Method::Post, "/pets/dog/1"), "ANY /{proxy+}");
        // Resource-first (REST) matching keeps the most specific resource.
        assert_eq!(hit(&r, Method::Post, "/pets/dog/1"), "405");
    }

    #[test]
    fn exact_method_beats_any() {
        let r = router(&[(ANY, "/x"), (GET, "/x"), (POST, "/y")]);
        assert_eq!(hit(&r, Method::Get, "/x"), "GET /x");
        assert_eq!(hit(&r, Method::Delete, "/x"), "ANY /x");
        assert_eq!(hit(&r, Method::Head, "/x"), "ANY /x");
        assert_eq!(hit(&r, Method::Other, "/x"), "405");
    }

    #[test]
    fn method_not_allowed_and_head_is_not_get() {
        let r = router(&[(GET, "/x"), (ANY, "/{p+}")]);
        assert_eq!(hit(&r, Method::Post, "/x"), "405");
        assert_eq!(hit(&r, Method::Head, "/x"), "405");
        assert_eq!(hit(&r, Method::Post, "/y"), "ANY /{p+}");
        assert_eq!(hit(&r, Method::Get, "/"), "404");
    }

    #[test]
    fn default_route_catches_the_unmatched() {
        let mut r = router(&[(GET, "/x"), (GET, "/items/{id}")]);
        r.insert(ANY, "$default", "$default".into()).unwrap();
        assert_eq!(hit(&r, Method::Get, "/x"), "GET /x");
        assert_eq!(
            lookup(&r, Method::Get, "/nope/1"),
            ("$default".into(), vec![])
        );
        assert_eq!(
            lookup(&r, Method::Post, "/items/7"),
            ("$default".into(), vec![])
        );
        assert_eq!(hit(&r, Method::Get, "/"), "$default");
        assert_eq!(hit(&r, Method::Other, "/nope"), "404");
        assert_eq!(hit(&r, Method::Other, "/x"), "405");
        assert!(r.has_default());
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.insert(GET, "$default", "again".into()).unwrap_err(),
            "duplicate route '$default'"
        );
    }

    #[test]
    fn greedy_spans() {
        let r = router(&[(ANY, "/echo/{proxy+}"), (GET, "/echo")]);
        let path = "/echo/a/b";
        let mut p = PathParams::default();
        assert!(
            matches!(r.find(Method::Get, path, &mut p), Match::Found(v) if v == "ANY /echo/{proxy+}")
        );
        assert_eq!((p.len, p.spans[0]), (1, (6, 9)));
        assert_eq!(p.get(0, path), Some("a/b"));
        assert_eq!(p.get(1, path), None);
        assert_eq!(
            lookup(&r, Method::Get, "/echo/a"),
            ("ANY /echo/{proxy+}".into(), vec!["a".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/echo/a/b/"),
            ("ANY /echo/{proxy+}".into(), vec!["a/b/".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/echo/a//b"),
            ("ANY /echo/{proxy+}".into(), vec!["a//b".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "/echo/%2F x"),
            ("ANY /echo/{proxy+}".into(), vec!["%2F x".into()])
        );
        // Nothing after the prefix: the greedy parameter needs one segment.
        assert_eq!(hit(&r, Method::Get, "/echo"), "GET /echo");
        assert_eq!(hit(&r, Method::Get, "/echo/"), "GET /echo");
        assert_eq!(hit(&r, Method::Post, "/echo/"), "405");
        assert_eq!(hit(&r, Method::Post, "/echo//"), "404");
        let r = router(&[(ANY, "/{proxy+}")]);
        assert_eq!(hit(&r, Method::Get, "/"), "404");
        assert_eq!(hit(&r, Method::Get, "//"), "404");
        assert_eq!(
            lookup(&r, Method::Get, "/a"),
            ("ANY /{proxy+}".into(), vec!["a".into()])
        );
        assert_eq!(
            lookup(&r, Method::Get, "//a"),
            ("ANY /{proxy+}".into(), vec!["/a".into()])
        );
    }

    #[test]
    fn multiple_params_in_template_order() {
        let r = router(&[(GET, "/orgs/{org}/repos/{repo}/files/{path+}")]);
        let (v, p) = lookup(&r, Method::Get, "/orgs/acme/repos/gw/files/src/main.rs");
        assert_eq!(v, "GET /orgs/{org}/repos/{repo}/files/{path+}");
        assert_eq!(p, vec!["acme", "gw", "src/main.rs"]);
        assert_eq!(
            param_names("/orgs/{org}/repos/{repo}/files/{path+}").unwrap(),
            vec!["org", "repo", "path"]
        );
        assert_eq!(param_names("$default").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn trailing_slash_root_and_empty_segments() {
        let r = router(&[(GET, "/"), (GET, "/hello"), (GET, "/u/{id}"), (GET, "/t/")]);
        assert_eq!(hit(&r, Method::Get, "/"), "GET /");
        assert_eq!(hit(&r, Method::Get, "/hello"), "GET /hello");
        assert_eq!(hit(&r, Method::Get, "/hello/"), "GET /hello");
        assert_eq!(hit(&r, Method::Get, "/hello//"), "404");
        assert_eq!(hit(&r, Method::Get, "/t"), "GET /t/");
        assert_eq!(
            lookup(&r, Method::Get, "/u/7/"),
            ("GET /u/{id}".into(), vec!["7".into()])
        );
        // Empty segments match no literal and no param.
        assert_eq!(hit(&r, Method::Get, "//"), "404");
        assert_eq!(hit(&r, Method::Get, "//hello"), "404");
        assert_eq!(hit(&r, Method::Get, "/u//"), "404");
        assert_eq!(hit(&r, Method::Get, "/u//x"), "404");
        // Not a path at all.
        assert_eq!(hit(&r, Method::Get, ""), "404");
        assert_eq!(hit(&r, Method::Get, "hello"), "404");
    }

    #[test]
    fn invalid_templates() {
        let mut r: Router<u8> = Router::new();
        let mut err = |p: &str| r.insert(GET, p, 0).unwrap_err();
        assert_eq!(err("a/b"), "route path must start with '/'");
        assert_eq!(err(""), "route path must start with '/'");
        assert_eq!(
            err("/a/{p+}/b"),
            "greedy path parameter must be the last segment"
        );
        assert_eq!(err("/{id}/x/{id}"), "duplicate path parameter 'id'");
        assert_eq!(err("/{id}/{id+}"), "duplicate path parameter 'id'");
        assert!(err("/a//b").contains("empty path segment"));
        assert!(err("//").contains("empty path segment"));
        assert!(err("/a/{b").contains("whole segment"));
        assert!(err("/a/b}").contains("whole segment"));
        assert!(err("/a/x{b}").contains("whole segment"));
        assert!(err("/a/{}").contains("invalid path parameter name"));
        assert!(err("/a/{+}").contains("invalid path parameter name"));
        assert!(err("/a/{b c}").contains("invalid"));
        assert!(err("/a/{{b}}").contains("invalid path parameter name"));
        assert!(err("/a?x").contains("invalid character"));
        let many: String = (0..=MAX_PARAMS).map(|i| format!("/{{p{i}}}")).collect();
        assert!(err(&many).contains("too many path parameters"));
        let max: String = (0..MAX_PARAMS).map(|i| format!("/{{p{i}}}")).collect();
        r.insert(GET, &max, 1).unwrap();
        assert_eq!(
            r.insert(RouteMethod::Only(Method::Other), "/o", 0)
                .unwrap_err(),
            "unsupported route method"
        );
        assert_eq!(r.len(), 1);
        let path: String = (0..MAX_PARAMS).map(|i| format!("/v{i}")).collect();
        let mut p = PathParams::default();
        assert!(matches!(
            r.find(Method::Get, &path, &mut p),
            Match::Found(1)
        ));
        assert_eq!(p.len, MAX_PARAMS);
        assert_eq!(p.get(MAX_PARAMS - 1, &path), Some("v15"));
    }

    #[test]
    fn duplicate_routes() {
        let mut r = router(&[(GET, "/a"), (ANY, "/a"), (GET, "/b/{x}"), (GET, "/c/{p+}")]);
        assert_eq!(
            r.insert(GET, "/a", "x".into()).unwrap_err(),
            "duplicate route 'GET /a'"
        );
        assert_eq!(
            r.insert(GET, "/a/", "x".into()).unwrap_err(),
            "duplicate route 'GET /a/'"
        );
        assert_eq!(
            r.insert(ANY, "/a", "x".into()).unwrap_err(),
            "duplicate route 'ANY /a'"
        );
        assert_eq!(
            r.insert(GET, "/b/{x}", "x".into()).unwrap_err(),
            "duplicate route 'GET /b/{x}'"
        );
        assert_eq!(
            r.insert(GET, "/c/{p+}", "x".into()).unwrap_err(),
            "duplicate route 'GET /c/{p+}'"
        );
        // Same path, other method: distinct.
        r.insert(POST, "/a", "POST /a".into()).unwrap();
        r.insert(POST, "/b/{x}", "POST /b/{x}".into()).unwrap();
        r.insert(POST, "/c/{p+}", "POST /c/{p+}".into()).unwrap();
        assert_eq!(hit(&r, Method::Post, "/a"), "POST /a");
        assert_eq!(hit(&r, Method::Post, "/b/1"), "POST /b/{x}");
        assert_eq!(hit(&r, Method::Post, "/c/1/2"), "POST /c/{p+}");
        assert_eq!(r.len(), 7);
    }

    #[test]
    fn many_routes() {
        let mut routes: Vec<(RouteMethod, String)> = Vec::new();
        for i in 0..30 {
            routes.push((GET, format!("/svc{i}")));
            routes.push((POST, format!("/svc{i}/items/{{id}}")));
            routes.push((ANY, format!("/svc{i}/files/{{path+}}")));
        }
        let mut r = Router::new();
        for (m, p) in &routes {
            r.insert(*m, p, format!("{} {}", method_name(*m), p))
                .unwrap();
        }
        assert_eq!(r.len(), 90);
        for i in 0..30 {
            assert_eq!(
                hit(&r, Method::Get, &format!("/svc{i}")),
                format!("GET /svc{i}")
            );
            assert_eq!(
                lookup(&r, Method::Post, &format!("/svc{i}/items/{i}")),
                (format!("POST /svc{i}/items/{{id}}"), vec![i.to_string()])
            );
            assert_eq!(
                lookup(&r, Method::Put, &format!("/svc{i}/files/a/{i}")),
                (
                    format!("ANY /svc{i}/files/{{path+}}"),
                    vec![format!("a/{i}")]
                )
            );
        }
        assert_eq!(hit(&r, Method::Get, "/svc30"), "404");
        assert_eq!(hit(&r, Method::Get, "/svc3/items/1"), "405");
    }

    #[test]
    fn params_are_reset_between_lookups() {
        let r = router(&[(GET, "/a/{x}"), (GET, "/b")]);
        let mut p = PathParams::default();
        assert!(matches!(
            r.find(Method::Get, "/a/1", &mut p),
            Match::Found(_)
        ));
        assert_eq!(p.len, 1);
        assert!(matches!(r.find(Method::Get, "/b", &mut p), Match::Found(_)));
        assert_eq!(p.len, 0);
        assert!(matches!(
            r.find(Method::Get, "/a/1/2", &mut p),
            Match::NotFound
        ));
        assert_eq!(p.len, 0);
    }
}
