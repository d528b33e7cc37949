//! PROXY protocol v2 header (NLB's client-IP preservation).
//!
//! CONTRACT (implemented by the balancing work): `encode_v2(src, dst, out)` appends the
//! binary v2 header for a TCP connection from `src` to `dst` (TCP4 or TCP6; mixed families
//! map v4 to v4-mapped v6) to `out`.
