//! tollgate: the Amazon API Gateway data plane as a thread-per-core edge proxy on monoio.
//!
//! # A request's way through the code
//!
//! The pipeline (`pipeline::run`) reads top to bottom, one phase per module, each phase
//! continuing or stopping the request with a `GatewayError` (every early exit is a `?`). It
//! runs over a protocol-neutral [`pipeline::session::Session`] and one reused
//! [`pipeline::context::RequestContext`] (`$context`), so it never sees the wire:
//!
//! 1. accept (`runtime::worker` on `net::listener`'s SO_REUSEPORT socket), TLS
//!    (`net::tls_accept`: SNI -> custom domain, mutual TLS), then the session: HTTP/1.x
//!    (`net::h1` over `net::conn`, zero-copy spans into the read buffer) or HTTP/2
//!    (`net::h2`: ALPN `h2`, or h2c by prior knowledge; one session per stream);
//! 2. parse the head (`http::parse` for HTTP/1.x; the h2 crate's HPACK for HTTP/2) and drop
//!    the headers no client may send (`pipeline::drop_reserved_headers`); `$context` begins;
//! 3. route (`pipeline::route` over `routing::domain` and `routing::resource`): host -> API ->
//!    stage (canary) -> route with path parameters;
//! 4. method request (`pipeline::api_key`; authorizers and validation come next);
//! 5. throttle (`pipeline::throttle`): per-core token shares of each level, quotas;
//! 6. cache (`pipeline::cache`): hits answered from the stage cache, misses coalesced and
//!    recorded by a tap on the response (`pipeline::taps`);
//! 7. integration request and 8. integration (`pipeline::integration`: MOCK, or HTTP_PROXY
//!    through the per-worker upstream pool and target groups);
//! 9. integration response (`pipeline::integration::stream_back`, splice when both sides are
//!    plain TCP) and 10. method response, or the gateway response for an error from
//!    `error`'s one table (`pipeline::respond`).
//!
//! # Who owns what
//!
//! One worker thread per core with its own monoio runtime, listeners, upstream pools and
//! buffers (`pipeline::worker::WorkerCtx`, `Rc`/`Cell` state only, run by
//! `runtime::worker`). The configuration is an immutable `Arc<config::Snapshot>`, pure data
//! built and tested without a runtime. What outlives a configuration (stage caches, quota
//! counters, the limits' token pools, TLS session resumption, upstream health) is the
//! runtime's [`services::Services`], reconciled with each new snapshot on reload
//! (`services::reconcile`) and sent to every worker with it in one message
//! (`runtime::control`). Cross-core state lives in one audited module, `shared`.
//!
//! # Layers
//!
//! Lower modules never import higher ones (`tests/layers.rs` fails on a back edge or an
//! import cycle, naming the file):
//!
//! ```text
//! time, error, http, observe, transport, shared       the wire: no gateway knowledge
//! routing::resource, upstream::{uri, balance, health} mechanisms the configuration builds
//! config                                              file model -> snapshot (pure data)
//! routing, limits, cache, upstream, services          what the phases use; live state
//! pipeline                                            phases, session trait, $context
//! net                                                 sessions: HTTP/1.x, HTTP/2, TLS accept
//! runtime                                             supervisor, workers, admin
//! ```
//!
//! The library is the gateway alone: the load generator (`tollgate load`) and the demo
//! upstream (`tollgate demo-upstream`) are the binary's own tools (`src/tools`), built on
//! the library's public wire code.

pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod net;
pub mod observe;
pub mod pipeline;
pub mod routing;
pub mod runtime;
pub mod services;
pub mod shared;
pub mod time;
pub mod transport;
pub mod upstream;
