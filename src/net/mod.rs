//! Network plumbing: SO_REUSEPORT listeners, TLS, and the sessions the pipeline runs over
//! (`h1`: HTTP/1.x on a client connection; `h2`: HTTP/2 connections and their streams).

pub mod conn;
pub mod h1;
pub mod h2;
pub mod listener;
pub mod tls_accept;
