//! `tollgate load`: the bundled load generator (written by the load-generator work).
