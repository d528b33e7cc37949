//! The two trace header forms, parsed and written without allocation.
//!
//! - AWS X-Ray (`X-Amzn-Trace-Id`, what API Gateway reads and sets):
//!   `Root=1-<8 hex: epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0|1|?`, fields in any
//!   order, other `key=value` fields (`Lineage=`, `Self=`, custom ones) kept.
//! - W3C Trace Context (`traceparent`): `00-<32 hex trace id>-<16 hex parent id>-<2 hex
//!   flags>`, flag bit 0 = sampled (<https://www.w3.org/TR/trace-context/>).
//!
//! One trace id serves both, as the OpenTelemetry AWS X-Ray propagator maps it: the X-Ray
//! root `1-5759e988-bd862e3fe1be46a994272793` is the W3C trace id
//! `5759e988bd862e3fe1be46a994272793` (the epoch and the random part concatenated), and back.

/// A well-formed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent: [u8; 8],
    pub sampled: bool,
}

/// A well-formed `X-Amzn-Trace-Id` (the fields tracing reads; `xray_extras` gives the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XrayHeader {
    pub trace_id: [u8; 16],
    pub parent: Option<[u8; 8]>,
    /// `Sampled=1` / `0`; `None` for `?` or no field (the receiver decides).
    pub sampled: Option<bool>,
}

/// Length of a version-00 `traceparent`.
pub const TRACEPARENT_LEN: usize = 55;
/// Length of `Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy;Parent=zzzzzzzzzzzzzzzz;Sampled=n`.
pub const XRAY_LEN: usize = 74;

fn lower_hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn any_hex_val(b: u8) -> Option<u8> {
    lower_hex_val(b.to_ascii_lowercase())
}

/// Decode `2 * out.len()` hex digits of `text` into `out` (`val` decides which digits count).
fn unhex(text: &[u8], out: &mut [u8], val: fn(u8) -> Option<u8>) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = (val(pair[0])? << 4) | val(pair[1])?;
    }
    Some(())
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes` into `out` (which holds exactly twice as many bytes).
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// A trace id in hex (W3C form).
pub fn hex(trace_id: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex_into(trace_id, &mut out);
    out
}

/// A span id in hex.
pub fn span_hex(span_id: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    hex_into(span_id, &mut out);
    out
}

/// Parse a `traceparent` value (W3C Trace Context, level 1): lowercase hex only, version
/// `ff` invalid, a higher version may carry more fields after a `-`; an all-zero trace or
/// parent id is invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<TraceParent> {
    let v = trim(v);
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let mut version = [0u8; 1];
    unhex(v.get(0..2)?, &mut version, lower_hex_val)?;
    match version[0] {
        0xff => return None,
        0x00 if v.len() != TRACEPARENT_LEN => return None,
        _ if v.len() > TRACEPARENT_LEN && v.get(TRACEPARENT_LEN) != Some(&b'-') => return None,
        _ => {}
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent = [0u8; 8];
    let mut flags = [0u8; 1];
    unhex(&v[3..35], &mut trace_id, lower_hex_val)?;
    unhex(&v[36..52], &mut parent, lower_hex_val)?;
    unhex(&v[53..55], &mut flags, lower_hex_val)?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent,
        sampled: flags[0] & 1 == 1,
    })
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or(&[])
}

/// The `key=value` fields of an X-Ray header, trimmed.
fn xray_fields(v: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], &[u8])> {
    v.split(|&b| b == b';').filter_map(|field| {
        let field = trim(field);
        let eq = field.iter().position(|&b| b == b'=')?;
        Some((trim(&field[..eq]), trim(&field[eq + 1..]), field))
    })
}

/// Parse an `X-Amzn-Trace-Id` value. It needs a well-formed `Root` (version 1); a `Parent`
/// that is there must be 16 hex digits; `Sampled` other than `0`/`1` reads as no decision.
pub fn parse_xray(v: &[u8]) -> Option<XrayHeader> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for (key, value, _) in xray_fields(v) {
        if key.eq_ignore_ascii_case(b"root") {
            if value.len() != 35 || &value[..2] != b"1-" || value[10] != b'-' {
                return None;
            }
            let mut id = [0u8; 16];
            unhex(&value[2..10], &mut id[..4], any_hex_val)?;
            unhex(&value[11..35], &mut id[4..], any_hex_val)?;
            if id == [0; 16] {
                return None;
            }
            root = Some(id);
        } else if key.eq_ignore_ascii_case(b"parent") {
            let mut p = [0u8; 8];
            unhex(value, &mut p, any_hex_val)?;
            parent = Some(p);
        } else if key.eq_ignore_ascii_case(b"sampled") {
            sampled = match value {
                b"1" => Some(true),
                b"0" => Some(false),
                _ => None,
            };
        }
    }
    Some(XrayHeader {
        trace_id: root?,
        parent,
        sampled,
    })
}

/// The fields of an X-Ray header other than `Root`, `Parent` and `Sampled` (each
/// `key=value`, trimmed), passed on unchanged.
pub fn xray_extras(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    xray_fields(v).filter_map(|(key, _, field)| {
        let known = [&b"root"[..], b"parent", b"sampled"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k));
        (!known && !key.is_empty()).then_some(field)
    })
}

/// `00-<trace id>-<parent>-<flags>`.
pub fn format_traceparent(trace_id: &[u8; 16], parent: &[u8; 8], sampled: bool) -> [u8; 55] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[..2].copy_from_slice(b"00");
    hex_into(trace_id, &mut out[3..35]);
    hex_into(parent, &mut out[36..52]);
    out[53..].copy_from_slice(if sampled { b"01" } else { b"00" });
    out
}

/// The X-Ray root of a trace id: `1-<8 hex>-<24 hex>` (35 bytes).
pub fn format_root(trace_id: &[u8; 16]) -> [u8; 35] {
    let mut out = [b'-'; 35];
    out[0] = b'1';
    hex_into(&trace_id[..4], &mut out[2..10]);
    hex_into(&trace_id[4..], &mut out[11..35]);
    out
}

/// `Root=1-…;Parent=…;Sampled=0|1` (the fields API Gateway passes on; extras follow).
pub fn format_xray(trace_id: &[u8; 16], parent: &[u8; 8], sampled: bool) -> [u8; XRAY_LEN] {
    let mut out = [0u8; XRAY_LEN];
    out[..5].copy_from_slice(b"Root=");
    out[5..40].copy_from_slice(&format_root(trace_id));
    out[40..48].copy_from_slice(b";Parent=");
    hex_into(parent, &mut out[48..64]);
    out[64..73].copy_from_slice(b";Sampled=");
    out[73] = if sampled { b'1' } else { b'0' };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_round_trips() {
        let p = parse_traceparent(TP).expect("valid");
        assert!(p.sampled);
        assert_eq!(&format_traceparent(&p.trace_id, &p.parent, true)[..], TP);
        let p0 = parse_traceparent(b" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 ")
            .expect("valid with spaces around");
        assert!(!p0.sampled);
        // Other flag bits do not make it sampled; bit 0 does.
        let p2 = parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03")
            .expect("valid");
        assert!(p2.sampled);
        // A future version may add fields after a dash.
        assert!(parse_traceparent(
            b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"
        )
        .is_some());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            &b""[..],
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            b"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01",
            b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
        ] {
            assert!(
                parse_traceparent(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn xray_parses_fields_in_any_order_and_keeps_extras() {
        let v = b"Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793; Parent=53995c3f42cd8ad8 ;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";
        let x = parse_xray(v).expect("valid");
        assert_eq!(&hex(&x.trace_id), b"5759e988bd862e3fe1be46a994272793");
        assert_eq!(
            x.parent,
            Some([0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8])
        );
        assert_eq!(x.sampled, Some(true));
        let extras: Vec<&[u8]> = xray_extras(v).collect();
        assert_eq!(
            extras,
            vec![
                &b"Self=1-67891234-12456789abcdef012345678"[..],
                b"Lineage=a87bd80c:1|68fd508a:5"
            ]
        );
        // A root alone (what API Gateway adds) is enough; `?` is no decision.
        let r = parse_xray(b"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").expect("ok");
        assert_eq!((r.parent, r.sampled), (None, None));
        assert_eq!(
            &format_root(&r.trace_id)[..],
            b"1-5759e988-bd862e3fe1be46a994272793"
        );
    }

    #[test]
    fn malformed_xray_headers_are_refused() {
        for bad in [
            &b""[..],
            b"Root=1-abc",
            b"Parent=53995c3f42cd8ad8;Sampled=1",
            b"Root=2-5759e988-bd862e3fe1be46a994272793",
            b"Root=1-5759e988-bd862e3fe1be46a99427279",
            b"Root=1-5759e988-bd862e3fe1be46a99427279x",
            b"Root=1-5759e988_bd862e3fe1be46a994272793",
            b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f",
        ] {
            assert!(
                parse_xray(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_two_forms_share_one_trace_id() {
        // The OpenTelemetry X-Ray propagator's mapping: root 1-EPOCH-RANDOM is the W3C
        // trace id EPOCH || RANDOM.
        let x = parse_xray(b"Root=1-5759e988-bd862e3fe1be46a994272793").expect("ok");
        let tp = format_traceparent(&x.trace_id, &[1, 2, 3, 4, 5, 6, 7, 8], false);
        assert_eq!(
            &tp[..],
            b"00-5759e988bd862e3fe1be46a994272793-0102030405060708-00"
        );
        let back = parse_traceparent(&tp).expect("ok");
        let xr = format_xray(&back.trace_id, &back.parent, true);
        assert_eq!(
            &xr[..],
            &b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0102030405060708;Sampled=1"[..]
        );
    }
}
