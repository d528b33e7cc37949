//! Tools the `tollgate` binary ships beside the gateway, outside the library: the load
//! generator (`tollgate load`), the demo upstream (`tollgate demo-upstream`) and the
//! development token issuer (`tollgate jwt`). They use
//! the library's wire code (`tollgate::http`, `tollgate::net`) like any other client of it.

pub mod demo_upstream;
pub mod jwt;
pub mod load;
