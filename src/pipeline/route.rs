//! Phase 3, route: Host -> API -> stage -> method + resource path -> route.

use std::sync::Arc;

use ahash::AHashMap;

use crate::config::snapshot::{Api, ApiType, Canary, Route, Snapshot, Stage};
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::Span;
use crate::pipeline::context::RequestContext;
use crate::pipeline::session::Session;
use crate::routing::domain;
use crate::routing::resource::{Match, PathParams};

/// The route a request resolved to. Path parameter spans and the resource path are offsets
/// into the request's path (`Session::path`), valid until the head is released.
pub struct Routed<'s> {
    pub api: &'s Arc<Api>,
    pub api_type: ApiType,
    pub stage: &'s Arc<Stage>,
    pub route: &'s Arc<Route>,
    pub params: PathParams,
    /// The path matched against the routes (after any stage prefix or base path), within
    /// the request path; `None` for the implicit `/`.
    pub resource_path: Option<Span>,
    /// The custom domain the request was routed through, if any.
    pub domain: Option<usize>,
    /// Served by the stage's canary deployment.
    pub canary: bool,
    /// The stage variables in force (the canary's overrides applied when `canary`).
    pub variables: &'s AHashMap<String, String>,
}

impl Routed<'_> {
    /// Raw value of the named path parameter (`path` is the request's path).
    pub fn param<'b>(&self, name: &str, path: &'b str) -> Option<&'b str> {
        let i = self.route.param_names.iter().position(|n| n == name)?;
        self.param_at(i, path)
    }

    /// Raw value of path parameter `i` (in `Route::param_names` order).
    pub fn param_at<'b>(&self, i: usize, path: &'b str) -> Option<&'b str> {
        if i >= self.params.len {
            return None;
        }
        let (s, e) = *self.params.spans.get(i)?;
        path.get(s as usize..e as usize)
    }

    /// The resource path within `path` (the request's path): `/` when implicit.
    pub fn resource_path<'b>(&self, path: &'b str) -> &'b str {
        self.resource_path
            .and_then(|p| path.get(p.start as usize..p.end as usize))
            .unwrap_or("/")
    }
}

/// The API and stage a request is for, before its route is matched.
pub struct Selected<'s> {
    pub api: &'s Arc<Api>,
    pub stage: &'s Arc<Stage>,
    /// The path matched against the routes (after any stage prefix or base path), within
    /// the request path; `None` for the implicit `/`.
    pub resource_path: Option<Span>,
    pub domain: Option<usize>,
    /// The canary deployment serves this request.
    pub canary: Option<&'s Canary>,
}

/// [`select`] then [`find`].
pub fn resolve<'s, S: Session>(
    snapshot: &'s Snapshot,
    session: &S,
    rc: &mut RequestContext,
    roll: impl FnOnce() -> f64,
) -> Result<Routed<'s>, GatewayError> {
    let selected = select(snapshot, session, rc, roll)?;
    find(session, rc, selected)
}

/// Host -> API -> stage (and the canary choice: `roll` draws a number in [0, 100), asked
/// only on canary stages). Records the API, stage and domain in `rc`.
pub fn select<'s, S: Session>(
    snapshot: &'s Snapshot,
    session: &S,
    rc: &mut RequestContext,
    roll: impl FnOnce() -> f64,
) -> Result<Selected<'s>, GatewayError> {
    let listener = snapshot.listeners.get(session.listener()).ok_or_else(|| {
        GatewayError::with_source(ErrorKind::Internal, "connection from an unknown listener")
    })?;
    // The Host without its port, stripped once for domains and execute-api ids alike.
    let host = session.host().map(domain::strip_port);
    let path = session.path();
    if has_dot_segment(path.as_bytes()) {
        // `.` and `..` (also percent-encoded) would let a `{proxy+}` value climb out of
        // the integration URI's base path at an upstream that resolves them.
        return Err(GatewayError::with_source(
            ErrorKind::BadRequest,
            "dot segment in request path",
        ));
    }
    let domain = request_domain(snapshot, session, host)?;
    let selected = match domain {
        Some(d) => domain::select_by_domain(snapshot, d, path)?,
        None => domain::select(snapshot, listener, host, path)?,
    };
    // A canary stage sends its share of requests to the canary deployment.
    let stage = selected.stage;
    let canary = stage
        .canary
        .as_ref()
        .filter(|c| c.percent > 0.0 && (c.percent >= 100.0 || roll() < c.percent));
    rc.set_route(&selected.api.id, &stage.name, domain, canary.is_some());
    rc.stage_id = Some(stage.id);
    rc.api_index = Some(selected.api.index);
    // The resource path as a span of the request path (or a static "/").
    let (base, start) = (
        selected.resource_path.as_ptr() as usize,
        path.as_ptr() as usize,
    );
    let within = base >= start && base + selected.resource_path.len() <= start + path.len();
    let resource_path =
        within.then(|| Span::new(base - start, base - start + selected.resource_path.len()));
    Ok(Selected {
        api: selected.api,
        stage,
        resource_path,
        domain,
        canary,
    })
}

/// The route of the selected API and stage (+ path parameters). Records the resource
/// path and route key in `rc`.
pub fn find<'s, S: Session>(
    session: &S,
    rc: &mut RequestContext,
    selected: Selected<'s>,
) -> Result<Routed<'s>, GatewayError> {
    let Selected {
        api,
        stage,
        resource_path,
        domain,
        canary,
    } = selected;
    let path = session.path();
    let resource_path = resource_path
        .and_then(|p| path.get(p.start as usize..p.end as usize))
        .unwrap_or("/");
    let no_route = match api.api_type {
        ApiType::Rest => ErrorKind::MissingAuthenticationToken,
        ApiType::Http => ErrorKind::ResourceNotFound,
    };
    let mut params = PathParams::default();
    let (router, variables) = match canary {
        Some(c) => (&c.deployment.router, &c.variables),
        None => (&stage.deployment.router, &stage.variables),
    };
    let by_method = api.api_type == ApiType::Http;
    let route = match router.find_with(session.method(), resource_path, &mut params, by_method) {
        Match::Found(route) => route,
        Match::MethodNotAllowed | Match::NotFound => return Err(no_route.into()),
    };
    rc.set_resource(resource_path, &route.key);
    // Make the spans relative to the request path (the resource path is a slice of it, or
    // a static "/" that has no parameters).
    let (base, start) = (resource_path.as_ptr() as usize, path.as_ptr() as usize);
    let within = base >= start && base <= start + path.len();
    let offset = if within { base - start } else { 0 };
    for span in params.spans.iter_mut().take(params.len) {
        span.0 += offset as u32;
        span.1 += offset as u32;
    }
    let resource_path = within.then(|| Span::new(offset, offset + resource_path.len()));
    Ok(Routed {
        api,
        api_type: api.api_type,
        stage,
        route,
        params,
        resource_path,
        domain,
        canary: canary.is_some(),
        variables,
    })
}

/// Before anything else reads a request on a TLS connection: if it runs on another
/// configuration than the one the connection was last checked against (one pointer
/// comparison otherwise), re-check the connection there (`tls_accept::recheck`: its
/// handshake domain by name, its client certificate against that domain's current
/// mutual-TLS trust). A connection that no longer passes is answered 403 and closed.
pub fn check_connection<S: Session>(
    snapshot: &Arc<Snapshot>,
    session: &mut S,
) -> Result<(), GatewayError> {
    session
        .check_connection(snapshot)
        .map_err(|reason| GatewayError::with_source(ErrorKind::UntrustedConnection, reason))
}

/// The custom domain a request is for (its index in this configuration; `host` is the
/// request's host without its port): on a TLS
/// connection whose client sent SNI, the Host must name the connection's handshake domain
/// (else 421); without SNI, the Host's domain or the handshake domain. On plain listeners,
/// the Host's domain if it is one. The handshake domain is matched by name, so a reload
/// that moves domains around changes nothing for open connections.
fn request_domain<S: Session>(
    snapshot: &Snapshot,
    session: &S,
    host: Option<&str>,
) -> Result<Option<usize>, GatewayError> {
    let domain = choose_domain(snapshot, session, host)?;
    // A domain with mutual TLS is served only on a connection whose handshake was for that
    // domain (so its client verifier ran): never by naming it in the Host of a plain
    // connection or of a TLS connection made for another domain.
    if let Some(d) = domain {
        let Some(dom) = snapshot.domains.get(d) else {
            return Err(GatewayError::with_source(
                ErrorKind::Internal,
                "custom domain index out of range",
            ));
        };
        if dom.mtls.is_some() && !session.tls().is_some_and(|t| t.is_for(dom)) {
            return Err(GatewayError::with_source(
                ErrorKind::Forbidden,
                "mutual-TLS domain requested over a connection not verified for it",
            ));
        }
    }
    Ok(domain)
}

fn choose_domain<S: Session>(
    snapshot: &Snapshot,
    session: &S,
    host: Option<&str>,
) -> Result<Option<usize>, GatewayError> {
    let host_domain = host.and_then(|h| snapshot.domain_for_host(h));
    let Some(tls) = session.tls() else {
        return Ok(host_domain);
    };
    // The handshake domain in this configuration (gone after a reload that removed it: then
    // the connection has no domain to be served on).
    let handshake_domain = || {
        snapshot
            .domains
            .iter()
            .position(|d| tls.is_for(d))
            .map(Some)
            .ok_or(GatewayError::from(ErrorKind::MisdirectedRequest))
    };
    match host_domain {
        // The Host names the handshake's domain.
        Some(i) if snapshot.domains.get(i).is_some_and(|d| tls.is_for(d)) => Ok(Some(i)),
        // Another domain: only without SNI (checked against mutual TLS by the caller).
        Some(i) if tls.sni.is_none() => Ok(Some(i)),
        Some(_) => Err(ErrorKind::MisdirectedRequest.into()),
        None => match &tls.sni {
            None => handshake_domain(),
            // The same unknown name the SNI carried (which got the listener's default
            // certificate).
            Some(sni) if host.is_some_and(|h| h.eq_ignore_ascii_case(sni)) => handshake_domain(),
            Some(_) => Err(ErrorKind::MisdirectedRequest.into()),
        },
    }
}

/// Does the path hold a `.` or `..` segment, literally or percent-encoded (`%2e`)? Segments
/// end at `/` and also at `\`, `%2f` and `%5c` (either case): an upstream that decodes the
/// path, or reads `\` as `/` as browsers' URL parsers do, would see those as separators.
/// A segment's name ends at `;` (or `%3b`): servlet containers strip `;params` before
/// resolving dot segments, so `..;` and `..;jsessionid=x` are dot segments too.
fn has_dot_segment(path: &[u8]) -> bool {
    let escape = |i: usize, hi: u8, lo: u8| {
        path.get(i) == Some(&b'%')
            && path.get(i + 1) == Some(&hi)
            && path.get(i + 2).is_some_and(|b| b.eq_ignore_ascii_case(&lo))
    };
    let mut dots = 0usize;
    let mut other = false;
    // Past a `;` in this segment: path parameters, not part of its name.
    let mut params = false;
    let mut i = 0;
    loop {
        let separator = if i >= path.len() || path[i] == b'/' || path[i] == b'\\' {
            Some(1)
        } else if escape(i, b'2', b'f') || escape(i, b'5', b'c') {
            Some(3)
        } else {
            None
        };
        match separator {
            Some(step) => {
                if !other && (dots == 1 || dots == 2) {
                    return true;
                }
                if i >= path.len() {
                    return false;
                }
                dots = 0;
                other = false;
                params = false;
                i += step;
            }
            None if params => i += 1,
            None if path[i] == b';' => {
                params = true;
                i += 1;
            }
            None if escape(i, b'3', b'b') => {
                params = true;
                i += 3;
            }
            None if path[i] == b'.' => {
                dots += 1;
                i += 1;
            }
            None if escape(i, b'2', b'e') => {
                dots += 1;
                i += 3;
            }
            None => {
                other = true;
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_literal_and_encoded() {
        for p in [
            "/a/../b",
            "/a/./b",
            "/..",
            "/a/%2e%2E/b",
            "/a/.%2e",
            "/a/%2E",
            "/a/..",
            "/a/..%2fadmin",
            "/a/..%2F..%2Fadmin",
            "/a/%2e%2e%5cadmin",
            "/a/..%5C",
            "/a/x%2f..%2fy",
            "/a/x%5c.%5cy",
            "/a\\..\\b",
            "/.",
            "/a/..;/b",
            "/a/..;",
            "/a/.;x=1/b",
            "/a/..;jsessionid=1%2fadmin",
            "/a/%2e%2e%3b/b",
        ] {
            assert!(has_dot_segment(p.as_bytes()), "{p}");
        }
        for p in [
            "/",
            "/a/b",
            "/a/...",
            "/a/.hidden",
            "/a/b.txt",
            "/a/%2e%2e%2e",
            "/a/%2f",
            "/a/...%2f",
            "/a/x.%2f.y",
            "/a/%2f%2f",
            "/a/%5c",
            "/a/..x%5c",
            "/a/%2",
            "/a/%",
            "/a/..x;/b",
            "/a/x;..",
            "/a/;../b",
            "",
        ] {
            assert!(!has_dot_segment(p.as_bytes()), "{p}");
        }
    }
}
