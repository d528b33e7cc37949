//! Lambda authorizers (REST `TOKEN` and `REQUEST`; HTTP APIs' `REQUEST` with payload
//! format 1.0 or 2.0, simple or IAM-policy answers): the pure parts, with no knowledge of
//! the pipeline, the configuration or the network.
//!
//! - [`event`]: the JSON event API Gateway sends the function, from borrowed request facts
//!   ([`event::EventInput`]).
//! - [`response`]: the function's answer read as API Gateway reads it, compiled into an
//!   [`AuthorizerResult`] (or a [`Refusal`]: 401 `Unauthorized`, 500 invalid).
//!   Policy documents are compiled and evaluated by `auth::policy` (identity policies).
//! - [`cache`]: the result cache (per authorizer, per worker), keyed by the identity
//!   sources' values ([`IdentityKey`]), TTL as API Gateway's.
//!
//! The call itself (an HTTP endpoint taking the event, or the Lambda Invoke API) is made by
//! the authorize phase with `upstream::call`.

pub mod cache;
pub mod event;
pub mod response;

pub use cache::{IdentityKey, ResultCache, DEFAULT_TTL, MAX_TTL};
pub use response::{AuthorizerResult, ContextValue, Expect, Grant, Refusal, Reply};
