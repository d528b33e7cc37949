//! Cache keys: API Gateway keys a stage's cache by method and resource (the route), plus the
//! values of the route's cache key parameters. Parameters not listed do not count, so without
//! any, every caller of a route and method shares one entry.
//!
//! Encoding (unambiguous, built into a reused buffer without allocating): the method, a
//! space, the route key, then per parameter a tag byte (`p`, `q`, `h`) followed by each of its
//! values as `0x01`, a 4-byte little-endian length and the raw bytes, and a closing `0x00`. A
//! missing parameter is just the tag and `0x00`; an empty value is `0x01` and length 0.
//! Values are compared as sent (no percent-decoding or case folding), as API Gateway does.

use crate::config::snapshot::{CacheKeyParam, Route};

/// Where the request's values come from.
pub trait KeySource {
    /// The raw value of path parameter `index` (in `Route::param_names` order).
    fn path_param(&self, index: usize) -> Option<&[u8]>;
    /// The raw query string (after `?`), if any.
    fn query(&self) -> Option<&[u8]>;
    /// Call `f` with each value of header `name` (given in lowercase), in order.
    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]));
}

/// Write the cache key of a request with `method` on `route` into `out` (cleared first).
pub fn build(out: &mut Vec<u8>, method: &[u8], route: &Route, src: &impl KeySource) {
    out.clear();
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(route.key.as_bytes());
    for param in &route.cache_key {
        match param {
            CacheKeyParam::Path(i) => {
                out.push(b'p');
                if let Some(v) = src.path_param(*i) {
                    push_value(out, v);
                }
            }
            CacheKeyParam::Query(name) => {
                out.push(b'q');
                if let Some(q) = src.query() {
                    for v in query_values(q, name.as_bytes()) {
                        push_value(out, v);
                    }
                }
            }
            CacheKeyParam::Header(name) => {
                out.push(b'h');
                src.header_values(name, &mut |v| push_value(out, v));
            }
        }
        out.push(0);
    }
}

fn push_value(out: &mut Vec<u8>, v: &[u8]) {
    out.push(1);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(v);
}

/// The values of query parameter `name` in `query`, in order (`a` alone is an empty value).
pub fn query_values<'q>(query: &'q [u8], name: &'q [u8]) -> impl Iterator<Item = &'q [u8]> + 'q {
    query.split(|&b| b == b'&').filter_map(move |pair| {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (n == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::snapshot::{Integration, MockIntegration};
    use crate::routing::resource::RouteMethod;

    struct Fake {
        path: Vec<&'static str>,
        query: Option<&'static str>,
        headers: Vec<(&'static str, &'static str)>,
    }

    impl KeySource for Fake {
        fn path_param(&self, index: usize) -> Option<&[u8]> {
            self.path.get(index).map(|s| s.as_bytes())
        }
        fn query(&self) -> Option<&[u8]> {
            self.query.map(str::as_bytes)
        }
        fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
            for (n, v) in &self.headers {
                if n.eq_ignore_ascii_case(name) {
                    f(v.as_bytes());
                }
            }
        }
    }

    fn route(params: Vec<CacheKeyParam>) -> Route {
        Route {
            key: "GET /items/{id}".into(),
            method: RouteMethod::Any,
            param_names: vec!["id".into()],
            integration: Integration::Mock(MockIntegration {
                status: 200,
                headers: Vec::new(),
                body: Vec::new(),
            }),
            api_key_required: false,
            cache_key: params,
            authorization: Default::default(),
        }
    }

    fn req(
        path: &'static str,
        query: Option<&'static str>,
        headers: Vec<(&'static str, &'static str)>,
    ) -> Fake {
        Fake {
            path: vec![path],
            query,
            headers,
        }
    }

    fn key(route: &Route, r: &Fake) -> Vec<u8> {
        let mut out = Vec::new();
        build(&mut out, b"GET", route, r);
        out
    }

    #[test]
    fn without_parameters_every_caller_shares_one_key() {
        let r = route(Vec::new());
        let a = key(&r, &req("1", Some("q=1"), vec![("x-tenant", "a")]));
        let b = key(&r, &req("2", None, vec![]));
        assert_eq!(a, b);
        assert_eq!(a, b"GET GET /items/{id}");
        // The method is part of the key.
        let mut post = Vec::new();
        build(&mut post, b"POST", &r, &req("1", None, vec![]));
        assert_ne!(a, post);
    }

    #[test]
    fn path_parameter() {
        let r = route(vec![CacheKeyParam::Path(0)]);
        assert_ne!(
            key(&r, &req("1", None, vec![])),
            key(&r, &req("2", None, vec![]))
        );
        assert_eq!(
            key(&r, &req("1", Some("x=1"), vec![])),
            key(&r, &req("1", Some("x=2"), vec![]))
        );
        // Raw values: an encoded slash is not a slash.
        assert_ne!(
            key(&r, &req("a/b", None, vec![])),
            key(&r, &req("a%2Fb", None, vec![]))
        );
    }

    #[test]
    fn query_string_parameter() {
        let r = route(vec![CacheKeyParam::Query("q".into())]);
        let k = |q| key(&r, &req("1", q, vec![]));
        assert_ne!(k(Some("q=1")), k(Some("q=2")));
        // Other parameters do not count; order of others does not matter.
        assert_eq!(k(Some("q=1&x=1")), k(Some("x=2&q=1")));
        // Absent, bare and empty are three different requests... bare and empty both mean "".
        assert_ne!(k(None), k(Some("q=")));
        assert_eq!(k(Some("q")), k(Some("q=")));
        assert_eq!(k(None), k(Some("qq=1")));
        // Repeated values count, in order.
        assert_ne!(k(Some("q=1&q=2")), k(Some("q=2&q=1")));
        assert_ne!(k(Some("q=1&q=2")), k(Some("q=1")));
    }

    #[test]
    fn header_parameter() {
        let r = route(vec![CacheKeyParam::Header("x-tenant".into())]);
        let k = |h| key(&r, &req("1", None, h));
        assert_ne!(k(vec![("x-tenant", "a")]), k(vec![("x-tenant", "b")]));
        assert_eq!(
            k(vec![("X-Tenant", "a")]),
            k(vec![("x-tenant", "a"), ("other", "z")])
        );
        assert_ne!(k(vec![]), k(vec![("x-tenant", "")]));
        // Two fields "a" and "b" differ from one field "a,b" (length-prefixed values).
        assert_ne!(
            k(vec![("x-tenant", "a"), ("x-tenant", "b")]),
            k(vec![("x-tenant", "a,b")])
        );
    }

    #[test]
    fn values_cannot_spill_into_the_next_parameter() {
        let r = route(vec![
            CacheKeyParam::Query("a".into()),
            CacheKeyParam::Query("b".into()),
        ]);
        let k = |q| key(&r, &req("1", Some(q), vec![]));
        assert_ne!(k("a=1&b=2"), k("a=1b&b=2"));
        assert_ne!(k("a=x"), k("b=x"));
    }

    #[test]
    fn query_values_iterates_in_order() {
        let v: Vec<&[u8]> = query_values(b"a=1&b=2&a=3&a", b"a").collect();
        assert_eq!(v, vec![&b"1"[..], b"3", b""]);
    }
}
