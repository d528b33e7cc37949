//! Target selection within a target group (API Gateway VPC link -> NLB/ALB), per worker.
//!
//! CONTRACT (implemented by the balancing work): see the doc comments on each item.
