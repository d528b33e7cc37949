//! Who may call: the pure algorithms behind API Gateway's authorizers (issue 14), with no
//! knowledge of the pipeline or the configuration file. The pipeline's authorize phase
//! (`pipeline::authorize`) runs them over the request context.
//!
//! - [`jwt`]: JSON Web Tokens and key sets (HTTP APIs' JWT authorizer, REST's Cognito user
//!   pool authorizer): signature, claims, scopes, a per-worker verified-token cache.
//! - [`sigv4`]: AWS Signature Version 4, signing and verifying (IAM authorization; the signer
//!   is shared with the Lambda and AWS-service integrations).
//! - [`policy`]: IAM policy documents (identity policies, Lambda authorizers' policies,
//!   resource policies): ARN wildcards, conditions on source IP, explicit Deny.
//! - [`lambda`]: Lambda authorizers' events, responses and result cache.

pub mod jwt;
pub mod lambda;
pub mod policy;
pub mod sigv4;
