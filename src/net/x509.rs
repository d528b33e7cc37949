//! A small, strict, panic-free DER reader for X.509 certificates: just enough for API
//! Gateway's mTLS context variables (`$context.identity.clientCert.subjectDN`, `issuerDN`,
//! `serialNumber`, `validity.notBefore`, `validity.notAfter`) and for refusing expired
//! server certificates at load.
//!
//! What it reads (RFC 5280, section 4.1):
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING }
//! TBSCertificate ::= SEQUENCE {
//!     version [0] EXPLICIT INTEGER OPTIONAL, serialNumber INTEGER,
//!     signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name,
//!     subjectPublicKeyInfo, issuerUniqueID [1] OPTIONAL, subjectUniqueID [2] OPTIONAL,
//!     extensions [3] EXPLICIT Extensions OPTIONAL }
//! ```
//!
//! Strictness: definite lengths only (short form, or long form with 1..=4 length bytes,
//! minimally encoded); single-byte tags only; every SEQUENCE must be consumed exactly (no
//! trailing bytes inside the certificate, none after it); the inner and outer signature
//! algorithms must be identical; times must be `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ` with a
//! real calendar date; at most one subjectAltName extension. Anything else is an
//! `Err(reason)`. The certificate's grammar has a fixed nesting depth, so the reader walks
//! it with straight-line code: no recursion, every slice access bounds-checked.
//!
//! Names are rendered RFC 4514-style: RDNs in reverse DER order (most specific first, which
//! is also what `openssl x509 -nameopt RFC2253` prints, including the order inside a
//! multi-valued RDN), values escaped with a backslash, control characters as `\XX` hex
//! pairs (so a DN can never smuggle a CR/LF into a header), unknown attribute types as
//! dotted-decimal OID with `#` + the uppercase hex of the value's DER encoding.

use crate::time::{civil_from_days, days_from_civil, days_in_month};

/// The fields of a certificate the gateway reports or checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN, RFC 4514 order, e.g. `CN=acme,O=Acme Corp,C=US`.
    pub subject_dn: String,
    /// Issuer DN, same format as `subject_dn`.
    pub issuer_dn: String,
    /// Lowercase hex of the serial's content octets, without a leading `00` sign octet
    /// (a negative serial, which RFC 5280 forbids, shows as its two's-complement octets).
    pub serial_hex: String,
    /// validity.notBefore as Unix seconds.
    pub not_before: i64,
    /// validity.notAfter as Unix seconds.
    pub not_after: i64,
    /// dNSName entries of the subjectAltName extension, in certificate order.
    pub subject_alt_dns: Vec<String>,
}

impl CertInfo {
    /// Whether `unix` (seconds) lies inside `[not_before, not_after]`.
    pub fn valid_at(&self, unix: i64) -> bool {
        self.not_before <= unix && unix <= self.not_after
    }
}

// Universal tags (all single-byte, class and constructed bit included).
const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_NUMERIC_STRING: u8 = 0x12;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_TELETEX_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_VISIBLE_STRING: u8 = 0x1a;
const TAG_UNIVERSAL_STRING: u8 = 0x1c;
const TAG_BMP_STRING: u8 = 0x1e;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
// Context-specific tags used by TBSCertificate and GeneralName.
const TAG_VERSION: u8 = 0xa0; // [0] EXPLICIT, constructed
const TAG_ISSUER_UID: u8 = 0x81; // [1] IMPLICIT BIT STRING
const TAG_SUBJECT_UID: u8 = 0x82; // [2] IMPLICIT BIT STRING
const TAG_EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT, constructed
const TAG_DNS_NAME: u8 = 0x82; // GeneralName dNSName [2] IMPLICIT IA5String

/// OID content octets for subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// Attribute types with an RFC 4514 (or customary) short name, by OID content octets.
const ATTRIBUTE_NAMES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "STREET"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    // 1.2.840.113549.1.9.1
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "emailAddress",
    ),
    // 0.9.2342.19200300.100.1.25
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    // 0.9.2342.19200300.100.1.1
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// One DER element: its tag, its content octets and its whole encoding.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

/// A cursor over a run of DER elements.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn next_byte(&mut self, what: &str) -> Result<u8, String> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(format!("truncated {what}")),
        }
    }

    /// The tag of the next element, without consuming it.
    fn peek_tag(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads the next element (any tag).
    fn read_any(&mut self) -> Result<Tlv<'a>, String> {
        let start = self.pos;
        let tag = self.next_byte("tag")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tags are not supported".to_string());
        }
        let first = self.next_byte("length")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err("indefinite length is not allowed in DER".to_string());
        } else {
            let count = usize::from(first & 0x7f);
            if count > 4 {
                return Err(format!("length with {count} octets is too long"));
            }
            let mut len: usize = 0;
            for i in 0..count {
                let b = self.next_byte("length")?;
                if i == 0 && b == 0 {
                    return Err("non-minimal length encoding".to_string());
                }
                len = (len << 8) | usize::from(b);
            }
            if len < 0x80 {
                return Err("non-minimal length encoding".to_string());
            }
            len
        };
        let end = match self.pos.checked_add(len) {
            Some(end) if end <= self.buf.len() => end,
            _ => {
                return Err(format!(
                    "element length {len} runs past the end of the input"
                ))
            }
        };
        let content = self.buf.get(self.pos..end).ok_or("length out of range")?;
        let raw = self.buf.get(start..end).ok_or("length out of range")?;
        self.pos = end;
        Ok(Tlv { tag, content, raw })
    }

    /// Reads the next element, which must have tag `tag`.
    fn read(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        if self.is_empty() {
            return Err(format!("missing {what}"));
        }
        let tlv = self.read_any()?;
        if tlv.tag != tag {
            return Err(format!(
                "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
                tlv.tag
            ));
        }
        Ok(tlv)
    }

    /// Reads the next element if it has tag `tag`.
    fn read_optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, String> {
        if self.peek_tag() == Some(tag) {
            self.read_any().map(Some)
        } else {
            Ok(None)
        }
    }

    fn finish(&self, what: &str) -> Result<(), String> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected trailing data in {what}"))
        }
    }
}

/// Parses a DER-encoded X.509 certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, String> {
    parse_certificate_inner(der).map_err(|e| format!("x509: {e}"))
}

fn parse_certificate_inner(der: &[u8]) -> Result<CertInfo, String> {
    let mut outer = Reader::new(der);
    let cert = outer.read(TAG_SEQUENCE, "Certificate")?;
    outer.finish("the input after the Certificate")?;

    let mut cert_r = Reader::new(cert.content);
    let tbs = cert_r.read(TAG_SEQUENCE, "tbsCertificate")?;
    let sig_alg = cert_r.read(TAG_SEQUENCE, "signatureAlgorithm")?;
    cert_r.read(TAG_BIT_STRING, "signatureValue")?;
    cert_r.finish("Certificate")?;

    let mut r = Reader::new(tbs.content);
    let version = match r.read_optional(TAG_VERSION)? {
        Some(v) => {
            let mut vr = Reader::new(v.content);
            let int = vr.read(TAG_INTEGER, "version")?;
            vr.finish("version")?;
            match int.content {
                [n @ 0..=2] => *n,
                _ => return Err("unsupported certificate version".to_string()),
            }
        }
        None => 0,
    };
    let serial = r.read(TAG_INTEGER, "serialNumber")?;
    let serial_hex = serial_hex(serial.content)?;
    let inner_sig_alg = r.read(TAG_SEQUENCE, "signature")?;
    if inner_sig_alg.raw != sig_alg.raw {
        return Err("tbsCertificate.signature differs from signatureAlgorithm".to_string());
    }
    let issuer = r.read(TAG_SEQUENCE, "issuer")?;
    let issuer_dn = format_name(issuer.content)?;
    let validity = r.read(TAG_SEQUENCE, "validity")?;
    let (not_before, not_after) = parse_validity(validity.content)?;
    let subject = r.read(TAG_SEQUENCE, "subject")?;
    let subject_dn = format_name(subject.content)?;
    r.read(TAG_SEQUENCE, "subjectPublicKeyInfo")?;
    if r.read_optional(TAG_ISSUER_UID)?.is_some() && version < 1 {
        return Err("issuerUniqueID in a v1 certificate".to_string());
    }
    if r.read_optional(TAG_SUBJECT_UID)?.is_some() && version < 1 {
        return Err("subjectUniqueID in a v1 certificate".to_string());
    }
    let mut subject_alt_dns = Vec::new();
    if let Some(ext) = r.read_optional(TAG_EXTENSIONS)? {
        if version != 2 {
            return Err("extensions in a pre-v3 certificate".to_string());
        }
        let mut er = Reader::new(ext.content);
        let list = er.read(TAG_SEQUENCE, "extensions")?;
        er.finish("extensions")?;
        subject_alt_dns = parse_extensions(list.content)?;
    }
    r.finish("tbsCertificate")?;

    Ok(CertInfo {
        subject_dn,
        issuer_dn,
        serial_hex,
        not_before,
        not_after,
        subject_alt_dns,
    })
}

fn serial_hex(content: &[u8]) -> Result<String, String> {
    let bytes = match content {
        [] => return Err("empty serialNumber".to_string()),
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes, b"0123456789abcdef");
    Ok(out)
}

fn push_hex(out: &mut String, bytes: &[u8], digits: &[u8; 16]) {
    for &b in bytes {
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 0x0f)]));
    }
}

/// Walks `Extensions ::= SEQUENCE OF Extension` and returns the subjectAltName dNSNames.
fn parse_extensions(content: &[u8]) -> Result<Vec<String>, String> {
    let mut dns = Vec::new();
    let mut seen_san = false;
    let mut r = Reader::new(content);
    while !r.is_empty() {
        let ext = r.read(TAG_SEQUENCE, "Extension")?;
        let mut xr = Reader::new(ext.content);
        let oid = xr.read(TAG_OID, "extnID")?;
        check_oid(oid.content)?;
        if let Some(critical) = xr.read_optional(TAG_BOOLEAN)? {
            if critical.content.len() != 1 {
                return Err("malformed critical flag".to_string());
            }
        }
        let value = xr.read(TAG_OCTET_STRING, "extnValue")?;
        xr.finish("Extension")?;
        if oid.content == OID_SUBJECT_ALT_NAME {
            if seen_san {
                return Err("duplicate subjectAltName extension".to_string());
            }
            seen_san = true;
            let mut vr = Reader::new(value.content);
            let names = vr.read(TAG_SEQUENCE, "GeneralNames")?;
            vr.finish("subjectAltName")?;
            let mut nr = Reader::new(names.content);
            while !nr.is_empty() {
                let name = nr.read_any()?;
                if name.tag == TAG_DNS_NAME {
                    // IA5String, and nothing a DNS name cannot contain (no controls, no
                    // spaces) so it is safe to log or forward.
                    if !name.content.iter().all(u8::is_ascii_graphic) {
                        return Err("dNSName has a character outside printable ASCII".to_string());
                    }
                    dns.push(name.content.iter().map(|&b| char::from(b)).collect());
                }
            }
        }
    }
    Ok(dns)
}

fn parse_validity(content: &[u8]) -> Result<(i64, i64), String> {
    let mut r = Reader::new(content);
    let not_before = parse_time(r.read_any()?)?;
    let not_after = parse_time(r.read_any()?)?;
    r.finish("validity")?;
    Ok((not_before, not_after))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950..=2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(t: Tlv<'_>) -> Result<i64, String> {
    let (year_len, what) = match t.tag {
        TAG_UTC_TIME => (2, "UTCTime is not YYMMDDHHMMSSZ"),
        TAG_GENERALIZED_TIME => (4, "GeneralizedTime is not YYYYMMDDHHMMSSZ"),
        tag => return Err(format!("validity: unexpected time tag 0x{tag:02x}")),
    };
    let (year_digits, rest) = match t.content.split_last() {
        Some((b'Z', body)) if body.len() == year_len + 10 => body.split_at(year_len),
        _ => return Err(what.to_string()),
    };
    let year = match digits(year_digits)? {
        // RFC 5280 4.1.2.5.1: UTCTime years 50..=99 are 19YY, 00..=49 are 20YY.
        yy if year_len == 2 && yy >= 50 => 1900 + yy,
        yy if year_len == 2 => 2000 + yy,
        yyyy => yyyy,
    };
    let field = |i: usize| rest.get(i..i + 2).ok_or("time too short".to_string());
    let month = digits(field(0)?)?;
    let day = digits(field(2)?)?;
    let hour = digits(field(4)?)?;
    let minute = digits(field(6)?)?;
    let second = digits(field(8)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > i64::from(days_in_month(year, month as u32)) {
        return Err("time has an invalid date".to_string());
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time has an invalid time of day".to_string());
    }
    Ok(days_from_civil(year, month as u32, day as u32) * 86_400
        + hour * 3600
        + minute * 60
        + second)
}

fn digits(s: &[u8]) -> Result<i64, String> {
    s.iter().try_fold(0i64, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + i64::from(b - b'0'))
        } else {
            Err("time has a non-digit".to_string())
        }
    })
}

/// Formats Unix seconds the way API Gateway (and `openssl x509 -startdate`) shows validity:
/// `"%b %e %H:%M:%S %Y GMT"`, e.g. `"May 28 12:30:02 2019 GMT"`, `"Jan  1 00:00:00 1970 GMT"`.
pub fn format_validity(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let name = MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{name} {day:>2} {:02}:{:02}:{:02} {year} GMT",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Renders `Name ::= SEQUENCE OF RelativeDistinguishedName` (the SEQUENCE's content) as an
/// RFC 4514 string.
fn format_name(content: &[u8]) -> Result<String, String> {
    // Collect every attribute first, remembering which ones start a new RDN, then emit them
    // in reverse (which reverses the RDNs and, like OpenSSL, the values inside each RDN).
    let mut avas: Vec<(String, bool)> = Vec::new();
    let mut r = Reader::new(content);
    while !r.is_empty() {
        let rdn = r.read(TAG_SET, "RelativeDistinguishedName")?;
        let mut sr = Reader::new(rdn.content);
        if sr.is_empty() {
            return Err("empty RelativeDistinguishedName".to_string());
        }
        let mut first = true;
        while !sr.is_empty() {
            let atv = sr.read(TAG_SEQUENCE, "AttributeTypeAndValue")?;
            let mut ar = Reader::new(atv.content);
            let oid = ar.read(TAG_OID, "attribute type")?;
            if ar.is_empty() {
                return Err("missing attribute value".to_string());
            }
            let value = ar.read_any()?;
            ar.finish("AttributeTypeAndValue")?;
            avas.push((format_attribute(oid.content, value)?, first));
            first = false;
        }
    }
    let mut out = String::new();
    let mut rdn_continues = false;
    for (ava, starts_rdn) in avas.iter().rev() {
        if !out.is_empty() {
            out.push(if rdn_continues { '+' } else { ',' });
        }
        out.push_str(ava);
        rdn_continues = !starts_rdn;
    }
    Ok(out)
}

fn format_attribute(oid: &[u8], value: Tlv<'_>) -> Result<String, String> {
    let name = ATTRIBUTE_NAMES
        .iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, name)| *name);
    let mut out = String::new();
    match name {
        Some(name) => out.push_str(name),
        None => out.push_str(&oid_to_dotted(oid)?),
    }
    out.push('=');
    match (name, decode_string(value)?) {
        (Some(_), Some(text)) => escape_value(&mut out, &text),
        _ => {
            out.push('#');
            push_hex(&mut out, value.raw, b"0123456789ABCDEF");
        }
    }
    Ok(out)
}

/// Decodes a directory string; `Ok(None)` for a type without a string form.
fn decode_string(value: Tlv<'_>) -> Result<Option<String>, String> {
    let bytes = value.content;
    let text = match value.tag {
        TAG_UTF8_STRING => std::str::from_utf8(bytes)
            .map_err(|_| "invalid UTF8String".to_string())?
            .to_string(),
        TAG_PRINTABLE_STRING | TAG_IA5_STRING | TAG_NUMERIC_STRING | TAG_VISIBLE_STRING => {
            if !bytes.is_ascii() {
                return Err("non-ASCII byte in an ASCII string type".to_string());
            }
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        // T.61 is treated as Latin-1, as OpenSSL and most tools do.
        TAG_TELETEX_STRING => bytes.iter().map(|&b| char::from(b)).collect(),
        TAG_BMP_STRING => {
            if !bytes.len().is_multiple_of(2) {
                return Err("BMPString has an odd length".to_string());
            }
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| "invalid BMPString".to_string())?
        }
        TAG_UNIVERSAL_STRING => {
            if !bytes.len().is_multiple_of(4) {
                return Err("UniversalString length is not a multiple of 4".to_string());
            }
            bytes
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or("invalid UniversalString")?
        }
        _ => return Ok(None),
    };
    Ok(Some(text))
}

/// Appends `value` with RFC 4514 escaping: `, + " \ < > ;` always, `#` or space at the
/// start, space at the end, control characters (including NUL, DEL and C1) as `\XX` UTF-8
/// hex pairs.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push('\\');
                    push_hex(out, &[b], b"0123456789ABCDEF");
                }
            }
            c => out.push(c),
        }
    }
}

/// Validates an OID's content octets (non-empty, minimal base-128, no overflow).
fn check_oid(content: &[u8]) -> Result<(), String> {
    oid_arcs(content).map(|_| ())
}

fn oid_arcs(content: &[u8]) -> Result<Vec<u64>, String> {
    if content.is_empty() {
        return Err("empty OBJECT IDENTIFIER".to_string());
    }
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in content {
        if !in_arc && b == 0x80 {
            return Err("non-minimal OBJECT IDENTIFIER arc".to_string());
        }
        if value > (u64::MAX >> 7) {
            return Err("OBJECT IDENTIFIER arc too large".to_string());
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc {
        return Err("truncated OBJECT IDENTIFIER".to_string());
    }
    Ok(arcs)
}

fn oid_to_dotted(content: &[u8]) -> Result<String, String> {
    let arcs = oid_arcs(content)?;
    let mut out = String::new();
    for (i, &arc) in arcs.iter().enumerate() {
        if i == 0 {
            let (a, b) = match arc {
                0..=39 => (0, arc),
                40..=79 => (1, arc - 40),
                _ => (2, arc - 80),
            };
            out.push_str(&format!("{a}.{b}"));
        } else {
            out.push_str(&format!(".{arc}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // ---- helpers -------------------------------------------------------------------------

    /// A unique scratch directory, removed on drop (also when a test fails).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("tollgate-x509-{}-{}", std::process::id(), n));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// These tests need the openssl CLI; without it they fail with this message instead
    /// of passing without checking anything.
    fn require_openssl() {
        let found = Command::new("openssl")
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "this test needs the openssl CLI on PATH (install it, e.g. \
             `apt-get install openssl`); refusing to pass without it"
        );
    }

    /// Runs openssl in `dir`; panics with its stderr on failure; returns stdout.
    fn openssl(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("openssl output is UTF-8")
    }

    const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

    /// `openssl req -x509` self-signed certificate `name`.pem with extra arguments.
    fn self_signed(dir: &Path, name: &str, extra: &[&str]) {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        let mut args = vec!["req", "-x509"];
        args.extend_from_slice(&EC);
        args.extend_from_slice(&["-nodes", "-keyout", &key, "-out", &pem]);
        args.extend_from_slice(extra);
        openssl(dir, &args);
    }

    /// The DER of the first certificate in a PEM file, via rustls-pemfile as the gateway
    /// loads them.
    fn load_der(path: &Path) -> CertificateDer<'static> {
        let pem = std::fs::read(path).expect("read pem");
        let der = rustls_pemfile::certs(&mut &pem[..])
            .next()
            .expect("a certificate")
            .expect("valid PEM");
        der
    }

    /// `subject`, `issuer`, `serial`, `notBefore`, `notAfter` as printed by openssl.
    fn openssl_fields(dir: &Path, pem: &str, nameopt: &str) -> HashMap<String, String> {
        let text = openssl(
            dir,
            &[
                "x509",
                "-in",
                pem,
                "-noout",
                "-subject",
                "-issuer",
                "-serial",
                "-startdate",
                "-enddate",
                "-nameopt",
                nameopt,
            ],
        );
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64
    }

    fn norm_serial(s: &str) -> String {
        let s = s.trim_start_matches('0').to_ascii_lowercase();
        if s.is_empty() {
            "0".to_string()
        } else {
            s
        }
    }

    fn assert_matches_openssl(info: &CertInfo, fields: &HashMap<String, String>) {
        assert_eq!(info.subject_dn, fields["subject"]);
        assert_eq!(info.issuer_dn, fields["issuer"]);
        assert_eq!(
            norm_serial(&info.serial_hex),
            norm_serial(&fields["serial"])
        );
        assert_eq!(format_validity(info.not_before), fields["notBefore"]);
        assert_eq!(format_validity(info.not_after), fields["notAfter"]);
    }

    /// DER TLV with a correctly encoded definite length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let len = content.len();
        if len < 0x80 {
            v.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|&b| b == 0)
                .collect();
            v.push(0x80 | bytes.len() as u8);
            v.extend_from_slice(&bytes);
        }
        v.extend_from_slice(content);
        v
    }

    fn atv(oid: &[u8], value: Vec<u8>) -> Vec<u8> {
        let mut c = tlv(TAG_OID, oid);
        c.extend_from_slice(&value);
        tlv(TAG_SEQUENCE, &c)
    }

    fn name_of(rdns: &[Vec<Vec<u8>>]) -> Result<String, String> {
        let mut c = Vec::new();
        for rdn in rdns {
            c.extend_from_slice(&tlv(TAG_SET, &rdn.concat()));
        }
        format_name(&c)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];

    fn time(tag: u8, s: &str) -> Result<i64, String> {
        let raw = tlv(tag, s.as_bytes());
        let t = Reader::new(&raw).read_any()?;
        parse_time(t)
    }

    // ---- openssl-generated certificates ---------------------------------------------------

    struct Pki {
        dir: TempDir,
        leaf_der: Vec<u8>,
    }

    fn ca_and_leaf() -> Pki {
        let dir = TempDir::new();
        let d = dir.path();
        // An RSA CA (long-form lengths, NULL algorithm parameters) over an EC leaf.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/C=US/ST=Washington/O=Acme Corp/OU=Payments/CN=acme.example",
                "-days",
                "365",
            ],
        );
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(&EC);
        args.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/C=US/O=Acme Corp/CN=leaf.example",
        ]);
        openssl(d, &args);
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=DNS:a.example,DNS:*.b.example\n",
        )
        .expect("write ext file");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "0x0123456789abcdef",
                "-days",
                "30",
                "-extfile",
                "san.ext",
                "-out",
                "leaf.pem",
            ],
        );
        let leaf_der = load_der(&d.join("leaf.pem")).to_vec();
        Pki { dir, leaf_der }
    }

    #[test]
    fn ca_and_leaf_match_openssl() {
        require_openssl();
        let pki = ca_and_leaf();
        let d = pki.dir.path();

        let ca = parse_certificate(&load_der(&d.join("ca.pem"))).expect("parse CA");
        assert_eq!(
            ca.subject_dn,
            "CN=acme.example,OU=Payments,O=Acme Corp,ST=Washington,C=US"
        );
        assert_eq!(ca.issuer_dn, ca.subject_dn);
        assert!(ca.subject_alt_dns.is_empty());
        assert_eq!(ca.not_after - ca.not_before, 365 * 86_400);
        assert_matches_openssl(&ca, &openssl_fields(d, "ca.pem", "RFC2253"));

        let leaf = parse_certificate(&pki.leaf_der).expect("parse leaf");
        assert_eq!(leaf.subject_dn, "CN=leaf.example,O=Acme Corp,C=US");
        assert_eq!(leaf.issuer_dn, ca.subject_dn);
        assert_eq!(leaf.serial_hex, "0123456789abcdef");
        assert_eq!(leaf.subject_alt_dns, vec!["a.example", "*.b.example"]);
        assert_eq!(leaf.not_after - leaf.not_before, 30 * 86_400);
        assert!((leaf.not_before - now()).abs() < 86_400);
        assert!(leaf.valid_at(now()));
        assert_matches_openssl(&leaf, &openssl_fields(d, "leaf.pem", "RFC2253"));
    }

    #[test]
    fn utf8_name_with_comma_is_escaped() {
        require_openssl();
        let dir = TempDir::new();
        self_signed(
            dir.path(),
            "zoe",
            &["-utf8", "-subj", "/CN=Zoë, Ltd", "-days", "1"],
        );
        let info = parse_certificate(&load_der(&dir.path().join("zoe.pem"))).expect("parse");
        assert_eq!(info.subject_dn, "CN=Zoë\\, Ltd");
        assert_eq!(info.issuer_dn, "CN=Zoë\\, Ltd");
        // OpenSSL agrees once told not to hex-escape non-ASCII bytes.
        let fields = openssl_fields(dir.path(), "zoe.pem", "RFC2253,-esc_msb");
        assert_matches_openssl(&info, &fields);
    }

    #[test]
    fn many_attribute_types_and_multi_valued_rdn_match_openssl() {
        require_openssl();
        let dir = TempDir::new();
        self_signed(
            dir.path(),
            "multi",
            &[
                "-utf8",
                "-subj",
                "/DC=com/DC=example/C=DE/ST=Bayern/L=München/O=A\\+B <C>; \"D\"/serialNumber=42\
                 /UID=u1/emailAddress=ops@example.com/OU=Ops+CN=second/CN=#lead",
                "-days",
                "2",
            ],
        );
        let info = parse_certificate(&load_der(&dir.path().join("multi.pem"))).expect("parse");
        assert_eq!(
            info.subject_dn,
            "CN=\\#lead,CN=second+OU=Ops,emailAddress=ops@example.com,UID=u1,\
             serialNumber=42,O=A\\+B \\<C\\>\\; \\\"D\\\",L=München,ST=Bayern,C=DE,\
             DC=example,DC=com"
        );
        let fields = openssl_fields(dir.path(), "multi.pem", "RFC2253,-esc_msb");
        assert_matches_openssl(&info, &fields);
    }

    #[test]
    fn expired_certificate_dates() {
        require_openssl();
        // OpenSSL 3.0's `req`/`x509` have no -not_before/-not_after, so use `openssl ca`
        // with explicit -startdate/-enddate.
        let dir = TempDir::new();
        let d = dir.path();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = dflt\n[dflt]\ndatabase = index.txt\nserial = serial.txt\n\
             new_certs_dir = .\ndefault_md = sha256\npolicy = pol\nunique_subject = no\n\
             [pol]\ncommonName = supplied\n",
        )
        .expect("write ca.cnf");
        std::fs::write(d.join("index.txt"), "").expect("write index");
        std::fs::write(d.join("serial.txt"), "01\n").expect("write serial");
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(&EC);
        args.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "old.key",
            "-out",
            "old.csr",
            "-subj",
            "/CN=expired.example",
        ]);
        openssl(d, &args);
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-selfsign",
                "-keyfile",
                "old.key",
                "-in",
                "old.csr",
                "-out",
                "old.pem",
                "-notext",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ],
        );
        let info = parse_certificate(&load_der(&d.join("old.pem"))).expect("parse");
        assert_eq!(info.subject_dn, "CN=expired.example");
        assert_eq!(info.serial_hex, "01");
        assert_eq!(info.not_before, 1_577_836_800);
        assert_eq!(info.not_after, 1_577_923_200);
        assert_eq!(format_validity(info.not_before), "Jan  1 00:00:00 2020 GMT");
        assert!(!info.valid_at(now()));
        assert_matches_openssl(&info, &openssl_fields(d, "old.pem", "RFC2253"));
    }

    #[test]
    fn generalized_time_after_2049() {
        require_openssl();
        let dir = TempDir::new();
        self_signed(
            dir.path(),
            "long",
            &["-subj", "/CN=long.example", "-days", "15000"],
        );
        let der = load_der(&dir.path().join("long.pem"));
        // notAfter really is a GeneralizedTime (tag 0x18, 15 octets).
        assert!(der.windows(2).any(|w| w == [TAG_GENERALIZED_TIME, 15]));
        let info = parse_certificate(&der).expect("parse");
        assert_eq!(info.not_after - info.not_before, 15_000 * 86_400);
        assert!(info.not_after >= days_from_civil(2050, 1, 1) * 86_400);
        assert_matches_openssl(&info, &openssl_fields(dir.path(), "long.pem", "RFC2253"));
    }

    #[test]
    fn truncations_and_mutations_never_panic() {
        require_openssl();
        let pki = ca_and_leaf();
        let der = &pki.leaf_der;
        assert!(parse_certificate(der).is_ok());
        for n in 0..der.len() {
            assert!(parse_certificate(&der[..n]).is_err(), "prefix {n} accepted");
        }
        let mut extra = der.clone();
        extra.push(0);
        assert!(parse_certificate(&extra)
            .expect_err("trailing byte")
            .contains("trailing"));

        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut xorshift = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ok, mut err) = (0, 0);
        for _ in 0..2000 {
            let mut m = der.clone();
            let i = (xorshift() % m.len() as u64) as usize;
            let b = (xorshift() % 255) as u8 + 1;
            m[i] ^= b; // always changes the byte
            match parse_certificate(&m) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
        // Most mutations land in the key or signature bytes, which the reader skips.
        assert_eq!(ok + err, 2000);
        assert!(err > 0);
    }

    // ---- hand-built DER -------------------------------------------------------------------

    const ALG: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70]; // 1.3.101.112 (Ed25519), no params

    struct Parts {
        version: Option<u8>,
        inner_alg: Vec<u8>,
        extensions: Option<Vec<Vec<u8>>>,
        tbs_trailer: Vec<u8>,
    }

    impl Default for Parts {
        fn default() -> Self {
            Parts {
                version: Some(2),
                inner_alg: tlv(TAG_SEQUENCE, ALG),
                extensions: None,
                tbs_trailer: Vec::new(),
            }
        }
    }

    fn build_cert(p: Parts) -> Vec<u8> {
        let mut tbs = Vec::new();
        if let Some(v) = p.version {
            tbs.extend_from_slice(&tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[v])));
        }
        tbs.extend_from_slice(&tlv(TAG_INTEGER, &[0x00, 0xff, 0x01]));
        tbs.extend_from_slice(&p.inner_alg);
        let name = |cn: &str| {
            let rdn = tlv(TAG_SET, &atv(CN, tlv(TAG_UTF8_STRING, cn.as_bytes())));
            tlv(TAG_SEQUENCE, &rdn)
        };
        tbs.extend_from_slice(&name("issuer"));
        let mut validity = tlv(TAG_UTC_TIME, b"190528123002Z");
        validity.extend_from_slice(&tlv(TAG_GENERALIZED_TIME, b"20600101000000Z"));
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &validity));
        tbs.extend_from_slice(&name("subject"));
        let mut spki = tlv(TAG_SEQUENCE, ALG);
        spki.extend_from_slice(&tlv(TAG_BIT_STRING, &[0; 33]));
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &spki));
        if let Some(exts) = p.extensions {
            tbs.extend_from_slice(&tlv(TAG_EXTENSIONS, &tlv(TAG_SEQUENCE, &exts.concat())));
        }
        tbs.extend_from_slice(&p.tbs_trailer);
        let mut cert = tlv(TAG_SEQUENCE, &tbs);
        cert.extend_from_slice(&tlv(TAG_SEQUENCE, ALG));
        cert.extend_from_slice(&tlv(TAG_BIT_STRING, &[0; 65]));
        tlv(TAG_SEQUENCE, &cert)
    }

    fn san(names: &[(u8, &[u8])], critical: bool) -> Vec<u8> {
        let general: Vec<u8> = names.iter().flat_map(|(t, v)| tlv(*t, v)).collect();
        let mut ext = tlv(TAG_OID, OID_SUBJECT_ALT_NAME);
        if critical {
            ext.extend_from_slice(&tlv(TAG_BOOLEAN, &[0xff]));
        }
        ext.extend_from_slice(&tlv(TAG_OCTET_STRING, &tlv(TAG_SEQUENCE, &general)));
        tlv(TAG_SEQUENCE, &ext)
    }

    fn other_ext() -> Vec<u8> {
        // basicConstraints (2.5.29.19), CA:FALSE
        let mut ext = tlv(TAG_OID, &[0x55, 0x1d, 0x13]);
        ext.extend_from_slice(&tlv(TAG_OCTET_STRING, &tlv(TAG_SEQUENCE, &[])));
        tlv(TAG_SEQUENCE, &ext)
    }

    #[test]
    fn hand_built_certificates() {
        let info = parse_certificate(&build_cert(Parts {
            extensions: Some(vec![
                other_ext(),
                san(
                    &[
                        (0x81, b"me@example.com"),
                        (TAG_DNS_NAME, b"x.example"),
                        (0x87, &[127, 0, 0, 1]),
                        (TAG_DNS_NAME, b"*.y.example"),
                    ],
                    true,
                ),
            ]),
            ..Parts::default()
        }))
        .expect("parse");
        assert_eq!(
            info,
            CertInfo {
                subject_dn: "CN=subject".to_string(),
                issuer_dn: "CN=issuer".to_string(),
                serial_hex: "ff01".to_string(),
                not_before: 1_559_046_602,
                not_after: days_from_civil(2060, 1, 1) * 86_400,
                subject_alt_dns: vec!["x.example".to_string(), "*.y.example".to_string()],
            }
        );
        assert!(info.valid_at(info.not_before) && info.valid_at(info.not_after));
        assert!(!info.valid_at(info.not_before - 1) && !info.valid_at(info.not_after + 1));

        // v1 (no version field) without extensions is fine.
        let v1 = Parts {
            version: None,
            ..Parts::default()
        };
        assert!(parse_certificate(&build_cert(v1)).is_ok());

        let bad = [
            // Extensions in a v1 certificate.
            Parts {
                version: None,
                extensions: Some(vec![other_ext()]),
                ..Parts::default()
            },
            // Unknown version.
            Parts {
                version: Some(3),
                ..Parts::default()
            },
            // Duplicate subjectAltName.
            Parts {
                extensions: Some(vec![
                    san(&[(TAG_DNS_NAME, b"a")], false),
                    san(&[(TAG_DNS_NAME, b"b")], false),
                ]),
                ..Parts::default()
            },
            // dNSName with CR/LF or a space.
            Parts {
                extensions: Some(vec![san(&[(TAG_DNS_NAME, b"a\r\nb")], false)]),
                ..Parts::default()
            },
            Parts {
                extensions: Some(vec![san(&[(TAG_DNS_NAME, b"a b")], false)]),
                ..Parts::default()
            },
            // Inner and outer signature algorithms differ.
            Parts {
                inner_alg: tlv(TAG_SEQUENCE, &[0x06, 0x03, 0x2b, 0x65, 0x71]),
                ..Parts::default()
            },
            // Trailing element inside tbsCertificate.
            Parts {
                tbs_trailer: tlv(TAG_INTEGER, &[1]),
                ..Parts::default()
            },
        ];
        for (i, parts) in bad.into_iter().enumerate() {
            assert!(parse_certificate(&build_cert(parts)).is_err(), "case {i}");
        }
    }

    // ---- unit pieces -------------------------------------------------------------------

    #[test]
    fn format_validity_matches_openssl_style() {
        assert_eq!(format_validity(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(format_validity(1_559_046_602), "May 28 12:30:02 2019 GMT");
        assert_eq!(format_validity(-1), "Dec 31 23:59:59 1969 GMT");
        assert_eq!(format_validity(951_782_400), "Feb 29 00:00:00 2000 GMT");
        // Extremes do not panic.
        let _ = format_validity(i64::MIN);
        let _ = format_validity(i64::MAX);
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        let mut d = -1_000_000;
        while d < 1_000_000 {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
            d += 37;
        }
    }

    #[test]
    fn times() {
        assert_eq!(time(TAG_UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(
            time(TAG_UTC_TIME, "491231235959Z"),
            Ok(days_from_civil(2050, 1, 1) * 86_400 - 1)
        );
        assert_eq!(
            time(TAG_UTC_TIME, "500101000000Z"),
            Ok(days_from_civil(1950, 1, 1) * 86_400)
        );
        assert_eq!(
            time(TAG_GENERALIZED_TIME, "20500101000000Z"),
            Ok(days_from_civil(2050, 1, 1) * 86_400)
        );
        assert_eq!(
            time(TAG_GENERALIZED_TIME, "20190528123002Z"),
            Ok(1_559_046_602)
        );
        assert!(time(TAG_GENERALIZED_TIME, "20240229000000Z").is_ok());
        for bad in [
            "20230229000000Z",
            "21000229000000Z",
            "20231301000000Z",
            "20230100000000Z",
            "20230431000000Z",
            "20230101240000Z",
            "20230101006000Z",
            "20230101000060Z",
            "2023010100000Z",
            "202301010000000Z",
            "20230101000000",
            "20230101000000+0100",
            "2023010100000aZ",
            "20230101000000.5Z",
        ] {
            assert!(time(TAG_GENERALIZED_TIME, bad).is_err(), "{bad}");
        }
        assert!(time(TAG_UTC_TIME, "20230101000000Z").is_err());
        assert!(time(TAG_UTC_TIME, "2301010000Z").is_err());
        assert!(time(TAG_OCTET_STRING, "230101000000Z").is_err());
    }

    #[test]
    fn length_rules() {
        let read = |b: &[u8]| Reader::new(b).read_any().map(|t| t.content.len());
        assert_eq!(read(&[0x04, 0x00]), Ok(0));
        assert_eq!(read(&[0x04, 0x01, 0xaa]), Ok(1));
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend_from_slice(&[0u8; 256]);
        assert_eq!(read(&long), Ok(256));
        assert!(read(&[0x30, 0x80, 0x00, 0x00]).is_err()); // indefinite
        assert!(read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err()); // non-minimal
        assert!(read(&[0x04, 0x82, 0x00, 0x80]).is_err()); // leading zero
        assert!(read(&[0x04, 0x85, 0, 0, 0, 0, 1, 0]).is_err()); // 5 length octets
        assert!(read(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err()); // past the end
        assert!(read(&[0x04, 0x02, 0x01]).is_err()); // truncated content
        assert!(read(&[0x04]).is_err()); // no length
        assert!(read(&[0x04, 0x82, 0x01]).is_err()); // truncated length
        assert!(read(&[0x1f, 0x01, 0x00]).is_err()); // multi-byte tag
        assert!(read(&[]).is_err());
        assert!(parse_certificate(&[]).is_err());
        assert!(parse_certificate(&[0x30, 0x00]).is_err());
        assert!(parse_certificate(&[0x30, 0x80, 0x00, 0x00]).is_err());
    }

    #[test]
    fn names_and_escaping() {
        let utf8 = |s: &str| tlv(TAG_UTF8_STRING, s.as_bytes());
        assert_eq!(name_of(&[]), Ok(String::new()));
        assert_eq!(
            name_of(&[vec![atv(O, utf8("Acme"))], vec![atv(CN, utf8("x"))]]),
            Ok("CN=x,O=Acme".to_string())
        );
        // Special characters, leading '#', leading/trailing spaces, control characters.
        assert_eq!(
            name_of(&[vec![atv(CN, utf8("a,b+c\"d\\e<f>g;h"))]]),
            Ok("CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, utf8("#x#"))]]),
            Ok("CN=\\#x#".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, utf8(" a b "))]]),
            Ok("CN=\\ a b\\ ".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, utf8(" "))]]),
            Ok("CN=\\ ".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, utf8("a\r\nb\0\u{85}"))]]),
            Ok("CN=a\\0D\\0Ab\\00\\C2\\85".to_string())
        );
        // Other string types.
        assert_eq!(
            name_of(&[vec![atv(CN, tlv(TAG_TELETEX_STRING, &[b'Z', b'o', 0xeb]))]]),
            Ok("CN=Zoë".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(
                CN,
                tlv(
                    TAG_BMP_STRING,
                    &[0x00, b'Z', 0x00, 0xeb, 0xd8, 0x3d, 0xde, 0x00]
                )
            )]]),
            Ok("CN=Zë😀".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(
                CN,
                tlv(TAG_UNIVERSAL_STRING, &[0, 0, 0, b'a', 0, 1, 0xf6, 0x00])
            )]]),
            Ok("CN=a😀".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, tlv(TAG_PRINTABLE_STRING, b"US"))]]),
            Ok("CN=US".to_string())
        );
        assert!(name_of(&[vec![atv(CN, tlv(TAG_BMP_STRING, &[0, b'a', 0]))]]).is_err());
        assert!(name_of(&[vec![atv(CN, tlv(TAG_BMP_STRING, &[0xd8, 0x3d]))]]).is_err());
        assert!(name_of(&[vec![atv(CN, tlv(TAG_UNIVERSAL_STRING, &[0, 0x11, 0, 0]))]]).is_err());
        assert!(name_of(&[vec![atv(CN, tlv(TAG_UTF8_STRING, &[0xff]))]]).is_err());
        assert!(name_of(&[vec![atv(CN, tlv(TAG_IA5_STRING, &[0xe9]))]]).is_err());
        // Unknown types and non-string values: OID=#hex of the whole value encoding.
        assert_eq!(
            name_of(&[vec![atv(&[0x2a, 0x03, 0x04], utf8("abc"))]]),
            Ok("1.2.3.4=#0C03616263".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, tlv(TAG_OCTET_STRING, &[0xab]))]]),
            Ok("CN=#0401AB".to_string())
        );
        // Multi-valued RDN, reversed like OpenSSL's RFC2253 output.
        assert_eq!(
            name_of(&[
                vec![atv(O, utf8("Acme"))],
                vec![atv(CN, utf8("a")), atv(O, utf8("b"))],
            ]),
            Ok("O=b+CN=a,O=Acme".to_string())
        );
        // Structural errors.
        assert!(name_of(&[vec![]]).is_err()); // empty RDN
        assert!(format_name(&tlv(TAG_SEQUENCE, &[])).is_err()); // SEQUENCE instead of SET
        assert!(name_of(&[vec![tlv(TAG_SEQUENCE, &tlv(TAG_OID, CN))]]).is_err()); // no value
        let mut two_values = tlv(TAG_OID, CN);
        two_values.extend_from_slice(&utf8("a"));
        two_values.extend_from_slice(&utf8("b"));
        assert!(name_of(&[vec![tlv(TAG_SEQUENCE, &two_values)]]).is_err());
    }

    #[test]
    fn oids_and_serials() {
        assert_eq!(
            oid_to_dotted(&[0x2a, 0x03, 0x04]),
            Ok("1.2.3.4".to_string())
        );
        assert_eq!(
            oid_to_dotted(&[0x88, 0x37, 0x03]),
            Ok("2.999.3".to_string())
        );
        assert_eq!(oid_to_dotted(&[0x00]), Ok("0.0".to_string()));
        assert_eq!(
            oid_to_dotted(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]),
            Ok("0.9.2342.19200300.100.1.25".to_string())
        );
        assert!(oid_to_dotted(&[]).is_err());
        assert!(oid_to_dotted(&[0x2a, 0x80, 0x01]).is_err()); // non-minimal
        assert!(oid_to_dotted(&[0x2a, 0x83]).is_err()); // truncated
        assert!(
            oid_to_dotted(&[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
                .is_err()
        ); // overflows u64
        assert_eq!(serial_hex(&[0x00, 0x80]), Ok("80".to_string()));
        assert_eq!(serial_hex(&[0x00]), Ok("00".to_string()));
        assert_eq!(serial_hex(&[0x7f, 0x0a]), Ok("7f0a".to_string()));
        assert!(serial_hex(&[]).is_err());
    }
}
