//! tollgate: the Amazon API Gateway data plane as a thread-per-core edge proxy on monoio.
//!
//! A request's way through the code (one phase per module, in order; see
//! `pipeline::run`, where every early exit is visible):
//!
//! 1. accept (`net::listener`) on the worker's own SO_REUSEPORT listener;
//! 2. parse the head (`http::parse`) straight from the connection's read buffer, then drop
//!    the headers no client may send (`pipeline::drop_reserved_headers`: spoofed
//!    certificate headers, and names with `_` where the listener says so);
//! 3. route (`routing::domain`, `routing::resource`): host -> API -> stage -> route;
//! 4. method request: the API key (`pipeline::api_key`; authorizers and validation: later);
//! 5. throttle (`pipeline::throttle`): per-core token shares, global quotas;
//! 6. cache (`pipeline::cache`): the stage's shared cache answers hits, coalesces misses;
//! 7. integration request and 8. integration (`pipeline::integration`: MOCK or HTTP_PROXY
//!    through the per-worker upstream pool);
//! 9. integration response and 10. method response: stream back (recording a cacheable
//!    response for the cache), or turn a `GatewayError` into the gateway response from
//!    `error`'s one table.
//!
//! Who owns what: one worker thread per core with its own monoio runtime, listeners,
//! upstream pools and buffers (`runtime::worker`, `Rc` state only); the configuration is an
//! immutable `Arc<config::Snapshot>`, pure data built without a runtime; what outlives a
//! configuration (stage caches, quota counters, the limits' token pools, TLS session
//! resumption) is the runtime's `services::Services`, reconciled with each new
//! snapshot on reload and sent to every worker with it in one message; cross-core work
//! travels as typed messages (`runtime::control`); the one state shared on the request path,
//! the stage caches, is audited in `shared`.
//!
//! The library is the gateway alone: the load generator (`tollgate load`) and the demo
//! upstream (`tollgate demo-upstream`) are the binary's own tools (`src/tools`), built on the
//! library's public wire code. `tests/layers.rs` keeps the modules in layers: the wire
//! (`time`, `error`, `http`, `observe`) < `config` < `routing`, `limits`, `cache`,
//! `upstream` < `pipeline` < `net` < `runtime`, with today's exceptions listed there.

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
