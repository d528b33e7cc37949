//! X.509 certificates for API Gateway's mTLS context variables
//! (`$context.identity.clientCert.subjectDN`, `issuerDN`, `serialNumber`,
//! `validity.notBefore`, `validity.notAfter`) and for refusing expired server certificates at
//! load. The DER is parsed by the `x509-parser` crate (no signature checks: rustls verifies
//! chains and CRLs); this module adds the few structural rules that crate leaves to its
//! callers and renders what the gateway reports.
//!
//! Rules on top of x509-parser (which reads past some things, see `elements`): nothing after
//! the Certificate and nothing after its signatureValue; version v1..v3; the inner and outer
//! signature algorithms identical; no unique identifiers in a v1 and no extensions before a
//! v3 certificate; validity times `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ`; every RDN read whole
//! and one value per attribute; at most one subjectAltName extension, whose dNSNames are
//! printable ASCII. Anything else is an `Err(reason)`, never a panic. Unlike a strict DER
//! reader, x509-parser takes a non-minimal length as the length it spells.
//!
//! Names are rendered RFC 4514-style: RDNs in reverse DER order (most specific first, which
//! is also what `openssl x509 -nameopt RFC2253` prints, including the order inside a
//! multi-valued RDN), values escaped with a backslash, control characters as `\XX` hex
//! pairs (so a DN can never smuggle a CR/LF into a header), unknown attribute types as
//! dotted-decimal OID with `#` + the uppercase hex of the value's DER encoding.

use x509_parser::asn1_rs::{Any, FromDer, Oid, Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::time::days_from_civil;

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

/// Attribute types with an RFC 4514 (or customary) short name, by dotted OID.
const ATTRIBUTE_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.5", "serialNumber"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Parses a DER-encoded X.509 certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, String> {
    parse_certificate_inner(der).map_err(|e| format!("x509: {e}"))
}

fn parse_certificate_inner(der: &[u8]) -> Result<CertInfo, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| match e {
        x509_parser::nom::Err::Incomplete(_) => "truncated certificate".to_string(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => {
            format!("malformed certificate: {e}")
        }
    })?;
    if !rest.is_empty() {
        return Err("unexpected trailing data after the Certificate".to_string());
    }
    // x509-parser stops reading the Certificate SEQUENCE after signatureValue.
    if elements(der)?.len() != 3 {
        return Err("unexpected trailing data in Certificate".to_string());
    }
    let tbs = &cert.tbs_certificate;
    check_time_forms(tbs.as_ref())?;
    let version = tbs.version.0;
    if version > 2 {
        return Err("unsupported certificate version".to_string());
    }
    if tbs.signature != cert.signature_algorithm {
        return Err("tbsCertificate.signature differs from signatureAlgorithm".to_string());
    }
    if version < 1 && (tbs.issuer_uid.is_some() || tbs.subject_uid.is_some()) {
        return Err("unique identifier in a v1 certificate".to_string());
    }
    if version < 2 && !tbs.extensions().is_empty() {
        return Err("extensions in a pre-v3 certificate".to_string());
    }
    let mut subject_alt_dns = Vec::new();
    let san = tbs.subject_alternative_name().map_err(|e| match e {
        X509Error::DuplicateExtensions => "duplicate subjectAltName extension".to_string(),
        e => format!("malformed subjectAltName: {e}"),
    })?;
    for name in san.iter().flat_map(|san| &san.value.general_names) {
        if let GeneralName::DNSName(dns) = name {
            // Nothing a DNS name cannot contain (no controls, no spaces), so it is safe to
            // log or forward.
            if !dns.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("dNSName has a character outside printable ASCII".to_string());
            }
            subject_alt_dns.push(dns.to_string());
        }
    }
    Ok(CertInfo {
        subject_dn: format_name(tbs.subject())?,
        issuer_dn: format_name(tbs.issuer())?,
        serial_hex: serial_hex(tbs.raw_serial())?,
        not_before: unix_seconds(&tbs.validity.not_before),
        not_after: unix_seconds(&tbs.validity.not_after),
        subject_alt_dns,
    })
}

/// The encodings of the elements inside `der`, the encoding of a SEQUENCE or SET (which
/// x509-parser has read, so its ends are known to be sound).
fn elements(der: &[u8]) -> Result<Vec<&[u8]>, String> {
    let malformed = |_| "malformed certificate".to_string();
    let (rest, outer) = Any::from_der(der).map_err(malformed)?;
    if !rest.is_empty() {
        return Err("malformed certificate".to_string());
    }
    let (mut content, mut out) = (outer.data, Vec::new());
    while !content.is_empty() {
        let (rest, _) = Any::from_der(content).map_err(malformed)?;
        out.push(&content[..content.len() - rest.len()]);
        content = rest;
    }
    Ok(out)
}

/// RFC 5280 4.1.2.5: validity holds two times, each `YYMMDDHHMMSSZ` or `YYYYMMDDHHMMSSZ`
/// (x509-parser also takes a UTCTime without seconds or with a `+hhmm` offset).
fn check_time_forms(tbs: &[u8]) -> Result<(), String> {
    let tbs = elements(tbs)?;
    let has_version = tbs.first().is_some_and(|e| e.first() == Some(&0xa0));
    let validity = tbs
        .get(usize::from(has_version) + 3)
        .ok_or("malformed certificate")?;
    let times = elements(validity)?;
    if times.len() != 2 {
        return Err("validity does not hold two times".to_string());
    }
    for time in times {
        let time = Any::from_der(time).map_err(|_| "malformed validity")?.1;
        let (digits, form) = match time.tag() {
            Tag::UtcTime => (12, "UTCTime is not YYMMDDHHMMSSZ"),
            _ => (14, "GeneralizedTime is not YYYYMMDDHHMMSSZ"),
        };
        match time.data.split_last() {
            Some((b'Z', d)) if d.len() == digits && d.iter().all(u8::is_ascii_digit) => {}
            _ => return Err(form.to_string()),
        }
    }
    Ok(())
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

/// A validity time (UTC, whole seconds: see `check_time_forms`) as Unix seconds, through the
/// crate's one calendar.
fn unix_seconds(t: &ASN1Time) -> i64 {
    let t = t.to_datetime();
    let month = u32::from(u8::from(t.month()));
    let days = days_from_civil(i64::from(t.year()), month, u32::from(t.day()));
    days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

/// Formats Unix seconds the way API Gateway (and `openssl x509 -startdate`) shows validity:
/// `"%b %e %H:%M:%S %Y GMT"`, e.g. `"May 28 12:30:02 2019 GMT"`, `"Jan  1 00:00:00 1970 GMT"`.
pub fn format_validity(unix: i64) -> String {
    let (year, month, day, h, m, sec) = crate::time::civil_from_unix(unix);
    let name = crate::time::month_name(month);
    format!("{name} {day:>2} {h:02}:{m:02}:{sec:02} {year} GMT")
}

/// Renders a Name as an RFC 4514 string.
fn format_name(name: &X509Name<'_>) -> Result<String, String> {
    // Collect every attribute first, remembering which ones start a new RDN, then emit them
    // in reverse (which reverses the RDNs and, like OpenSSL, the values inside each RDN).
    // x509-parser stops at the first RDN it cannot read (keeping the ones before it) and
    // reads the first value of an AttributeTypeAndValue (ignoring any more).
    for rdn in elements(name.as_raw()).map_err(|_| "malformed Name")? {
        for ava in elements(rdn)? {
            if elements(ava)?.len() != 2 {
                return Err("AttributeTypeAndValue does not hold one value".to_string());
            }
        }
    }
    let mut avas: Vec<(String, bool)> = Vec::new();
    for rdn in name.iter() {
        for (i, ava) in rdn.iter().enumerate() {
            avas.push((format_attribute(ava)?, i == 0));
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

/// An attribute type OID in dotted decimal, refusing encodings asn1-rs lets through
/// (non-minimal or truncated arcs, arcs past u64); its own rendering also garbles OIDs
/// from 2.48 on.
fn dotted(oid: &Oid<'_>) -> Result<String, String> {
    let (mut out, mut arc, mut in_arc) = (String::new(), 0u64, false);
    for &b in oid.as_bytes() {
        if !in_arc && b == 0x80 {
            return Err("non-minimal OBJECT IDENTIFIER arc".to_string());
        }
        arc = arc
            .checked_mul(128)
            .ok_or("OBJECT IDENTIFIER arc too large")?
            | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            if out.is_empty() {
                let first = arc.min(80) / 40;
                out = format!("{first}.{}", arc - first * 40);
            } else {
                out.push_str(&format!(".{arc}"));
            }
            arc = 0;
        }
    }
    if in_arc || out.is_empty() {
        return Err("truncated OBJECT IDENTIFIER".to_string());
    }
    Ok(out)
}

fn format_attribute(ava: &AttributeTypeAndValue<'_>) -> Result<String, String> {
    let oid = dotted(ava.attr_type())?;
    let name = ATTRIBUTE_NAMES
        .iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, name)| *name);
    let mut out = name.unwrap_or(&oid).to_string();
    out.push('=');
    let value = ava.attr_value();
    match (name, decode_string(value)?) {
        (Some(_), Some(text)) => escape_value(&mut out, &text),
        _ => {
            let der = value
                .to_der_vec()
                .map_err(|_| "cannot re-encode an attribute value".to_string())?;
            out.push('#');
            push_hex(&mut out, &der, b"0123456789ABCDEF");
        }
    }
    Ok(out)
}

/// Decodes a directory string; `Ok(None)` for a type without a string form.
fn decode_string(value: &Any<'_>) -> Result<Option<String>, String> {
    let bytes = value.data;
    if value.header.is_constructed() || !value.header.is_universal() {
        return Ok(None);
    }
    let text = match value.tag() {
        Tag::Utf8String => std::str::from_utf8(bytes)
            .map_err(|_| "invalid UTF8String".to_string())?
            .to_string(),
        Tag::PrintableString | Tag::Ia5String | Tag::NumericString | Tag::VisibleString => {
            if !bytes.is_ascii() {
                return Err("non-ASCII byte in an ASCII string type".to_string());
            }
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        // T.61 is treated as Latin-1, as OpenSSL and most tools do.
        Tag::TeletexString => bytes.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
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
        Tag::UniversalString => {
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

    // Universal and context-specific DER tags for hand-built certificates.
    const TAG_BOOLEAN: u8 = 0x01;
    const TAG_INTEGER: u8 = 0x02;
    const TAG_BIT_STRING: u8 = 0x03;
    const TAG_OCTET_STRING: u8 = 0x04;
    const TAG_OID: u8 = 0x06;
    const TAG_UTF8_STRING: u8 = 0x0c;
    const TAG_PRINTABLE_STRING: u8 = 0x13;
    const TAG_TELETEX_STRING: u8 = 0x14;
    const TAG_IA5_STRING: u8 = 0x16;
    const TAG_UTC_TIME: u8 = 0x17;
    const TAG_GENERALIZED_TIME: u8 = 0x18;
    const TAG_UNIVERSAL_STRING: u8 = 0x1c;
    const TAG_BMP_STRING: u8 = 0x1e;
    const TAG_SEQUENCE: u8 = 0x30;
    const TAG_SET: u8 = 0x31;
    const TAG_VERSION: u8 = 0xa0;
    const TAG_ISSUER_UID: u8 = 0x81;
    const TAG_EXTENSIONS: u8 = 0xa3;
    const TAG_DNS_NAME: u8 = 0x82;
    const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];

    fn atv(oid: &[u8], value: Vec<u8>) -> Vec<u8> {
        let mut c = tlv(TAG_OID, oid);
        c.extend_from_slice(&value);
        tlv(TAG_SEQUENCE, &c)
    }

    /// The content of a Name from its RDNs, each a list of AttributeTypeAndValue encodings.
    fn rdns(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        rdns.iter()
            .flat_map(|rdn| tlv(TAG_SET, &rdn.concat()))
            .collect()
    }

    fn cn(value: &str) -> Vec<u8> {
        rdns(&[vec![atv(CN, tlv(TAG_UTF8_STRING, value.as_bytes()))]])
    }

    /// The subject DN of a certificate whose subject has these RDNs.
    fn name_of(names: &[Vec<Vec<u8>>]) -> Result<String, String> {
        parse_certificate(&build_cert(Parts {
            subject: rdns(names),
            ..Parts::default()
        }))
        .map(|info| info.subject_dn)
    }

    /// notBefore of a certificate whose notBefore is this time element.
    fn time(tag: u8, s: &str) -> Result<i64, String> {
        parse_certificate(&build_cert(Parts {
            not_before: tlv(tag, s.as_bytes()),
            ..Parts::default()
        }))
        .map(|info| info.not_before)
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
        serial: Vec<u8>,
        inner_alg: Vec<u8>,
        subject: Vec<u8>,
        not_before: Vec<u8>,
        issuer_uid: bool,
        extensions: Option<Vec<Vec<u8>>>,
        tbs_trailer: Vec<u8>,
        cert_trailer: Vec<u8>,
    }

    impl Default for Parts {
        fn default() -> Self {
            Parts {
                version: Some(2),
                serial: vec![0x00, 0xff, 0x01],
                inner_alg: tlv(TAG_SEQUENCE, ALG),
                subject: cn("subject"),
                not_before: tlv(TAG_UTC_TIME, b"190528123002Z"),
                issuer_uid: false,
                extensions: None,
                tbs_trailer: Vec::new(),
                cert_trailer: Vec::new(),
            }
        }
    }

    fn build_cert(p: Parts) -> Vec<u8> {
        let mut tbs = Vec::new();
        if let Some(v) = p.version {
            tbs.extend_from_slice(&tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[v])));
        }
        tbs.extend_from_slice(&tlv(TAG_INTEGER, &p.serial));
        tbs.extend_from_slice(&p.inner_alg);
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &cn("issuer")));
        let mut validity = p.not_before;
        validity.extend_from_slice(&tlv(TAG_GENERALIZED_TIME, b"20600101000000Z"));
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &validity));
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &p.subject));
        let mut spki = tlv(TAG_SEQUENCE, ALG);
        spki.extend_from_slice(&tlv(TAG_BIT_STRING, &[0; 33]));
        tbs.extend_from_slice(&tlv(TAG_SEQUENCE, &spki));
        if p.issuer_uid {
            tbs.extend_from_slice(&tlv(TAG_ISSUER_UID, &[0, 1]));
        }
        if let Some(exts) = p.extensions {
            tbs.extend_from_slice(&tlv(TAG_EXTENSIONS, &tlv(TAG_SEQUENCE, &exts.concat())));
        }
        tbs.extend_from_slice(&p.tbs_trailer);
        let mut cert = tlv(TAG_SEQUENCE, &tbs);
        cert.extend_from_slice(&tlv(TAG_SEQUENCE, ALG));
        cert.extend_from_slice(&tlv(TAG_BIT_STRING, &[0; 65]));
        cert.extend_from_slice(&p.cert_trailer);
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

        // v1 (no version field) without extensions is fine, and so is a v2 unique ID.
        let v1 = Parts {
            version: None,
            ..Parts::default()
        };
        assert!(parse_certificate(&build_cert(v1)).is_ok());
        let v2 = Parts {
            version: Some(1),
            issuer_uid: true,
            ..Parts::default()
        };
        assert!(parse_certificate(&build_cert(v2)).is_ok());

        // Each refused with its reason.
        let bad = [
            (
                Parts {
                    version: None,
                    extensions: Some(vec![other_ext()]),
                    ..Parts::default()
                },
                "x509: extensions in a pre-v3 certificate",
            ),
            (
                Parts {
                    version: None,
                    issuer_uid: true,
                    ..Parts::default()
                },
                "x509: unique identifier in a v1 certificate",
            ),
            (
                Parts {
                    version: Some(3),
                    ..Parts::default()
                },
                "x509: unsupported certificate version",
            ),
            (
                Parts {
                    extensions: Some(vec![
                        san(&[(TAG_DNS_NAME, b"a")], false),
                        san(&[(TAG_DNS_NAME, b"b")], false),
                    ]),
                    ..Parts::default()
                },
                "x509: duplicate subjectAltName extension",
            ),
            (
                Parts {
                    extensions: Some(vec![san(&[(TAG_DNS_NAME, b"a\r\nb")], false)]),
                    ..Parts::default()
                },
                "x509: dNSName has a character outside printable ASCII",
            ),
            (
                Parts {
                    extensions: Some(vec![san(&[(TAG_DNS_NAME, b"a b")], false)]),
                    ..Parts::default()
                },
                "x509: dNSName has a character outside printable ASCII",
            ),
            (
                Parts {
                    inner_alg: tlv(TAG_SEQUENCE, &[0x06, 0x03, 0x2b, 0x65, 0x71]),
                    ..Parts::default()
                },
                "x509: tbsCertificate.signature differs from signatureAlgorithm",
            ),
            (
                Parts {
                    cert_trailer: tlv(TAG_INTEGER, &[1]),
                    ..Parts::default()
                },
                "x509: unexpected trailing data in Certificate",
            ),
            (
                Parts {
                    serial: Vec::new(),
                    ..Parts::default()
                },
                "x509: empty serialNumber",
            ),
        ];
        for (i, (parts, reason)) in bad.into_iter().enumerate() {
            assert_eq!(
                parse_certificate(&build_cert(parts)),
                Err(reason.to_string()),
                "case {i}"
            );
        }
        // Refused by the parser itself (its reason names the certificate as malformed).
        let malformed = [
            // Trailing element inside tbsCertificate.
            Parts {
                tbs_trailer: tlv(TAG_INTEGER, &[1]),
                ..Parts::default()
            },
            // Extensions with trailing bytes inside the [3] wrapper.
            Parts {
                extensions: Some(vec![other_ext()]),
                tbs_trailer: vec![0x00],
                ..Parts::default()
            },
            // A malformed subjectAltName value.
            Parts {
                extensions: Some(vec![{
                    let mut ext = tlv(TAG_OID, OID_SUBJECT_ALT_NAME);
                    ext.extend_from_slice(&tlv(TAG_OCTET_STRING, &[0x30, 0x05, 0x82]));
                    tlv(TAG_SEQUENCE, &ext)
                }]),
                ..Parts::default()
            },
        ];
        for (i, parts) in malformed.into_iter().enumerate() {
            let err = parse_certificate(&build_cert(parts)).expect_err("malformed accepted");
            assert!(err.starts_with("x509: malformed"), "case {i}: {err}");
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
        assert_eq!(
            time(TAG_GENERALIZED_TIME, "19000101000000Z"),
            Ok(days_from_civil(1900, 1, 1) * 86_400)
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
        assert!(time(TAG_UTC_TIME, "230101000000+0100").is_err());
        assert!(time(TAG_OCTET_STRING, "230101000000Z").is_err());
    }

    #[test]
    fn malformed_encodings_are_refused() {
        let good = build_cert(Parts::default());
        assert!(parse_certificate(&good).is_ok());
        // The outer length re-encoded: indefinite, too long, too short. (A non-minimal
        // length, which x509-parser reads like the minimal one, is no longer refused.)
        assert_eq!(good[1], 0x81, "tlv() used the 1-octet long form");
        let content = &good[3..];
        let n = good[2];
        let with_len = |len: &[u8]| {
            let mut v = vec![TAG_SEQUENCE];
            v.extend_from_slice(len);
            v.extend_from_slice(content);
            v
        };
        let mut indefinite = with_len(&[0x80]);
        indefinite.extend_from_slice(&[0, 0]);
        let cases = [
            indefinite,
            with_len(&[0x81, n + 1]),
            with_len(&[0x81, n - 1]),
            vec![],
            vec![0x30],
            vec![0x30, 0x00],
            vec![0x30, 0x80, 0x00, 0x00],
            vec![0x1f, 0x01, 0x00],
            vec![0x04, 0x01, 0xaa],
        ];
        for (i, der) in cases.iter().enumerate() {
            let err = parse_certificate(der).expect_err(&format!("case {i} accepted"));
            assert!(err.starts_with("x509: "), "case {i}: {err}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            parse_certificate(&extra),
            Err("x509: unexpected trailing data after the Certificate".to_string())
        );
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
            name_of(&[vec![atv(CN, utf8("a\r\nb\0\u{85}\u{7f}"))]]),
            Ok("CN=a\\0D\\0Ab\\00\\C2\\85\\7F".to_string())
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
            name_of(&[vec![atv(&[0x88, 0x37, 0x03], utf8("a"))]]),
            Ok("2.999.3=#0C0161".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(CN, tlv(TAG_OCTET_STRING, &[0xab]))]]),
            Ok("CN=#0401AB".to_string())
        );
        // A context-specific tag with a string type's number is not a string.
        assert_eq!(
            name_of(&[vec![atv(CN, tlv(0x8c, b"a"))]]),
            Ok("CN=#8C0161".to_string())
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
        let seq_not_set = Parts {
            subject: tlv(TAG_SEQUENCE, &atv(CN, utf8("a"))),
            ..Parts::default()
        };
        assert!(parse_certificate(&build_cert(seq_not_set)).is_err());
        assert!(name_of(&[vec![tlv(TAG_SEQUENCE, &tlv(TAG_OID, CN))]]).is_err()); // no value
        assert!(name_of(&[vec![atv(&[0x2a, 0x80, 0x01], utf8("a"))]]).is_err()); // bad OID
        assert!(name_of(&[vec![atv(&[], utf8("a"))]]).is_err()); // empty OID
        let mut two_values = tlv(TAG_OID, CN);
        two_values.extend_from_slice(&utf8("a"));
        two_values.extend_from_slice(&utf8("b"));
        assert_eq!(
            name_of(&[vec![tlv(TAG_SEQUENCE, &two_values)]]),
            Err("x509: AttributeTypeAndValue does not hold one value".to_string())
        );
        // An unreadable RDN after a good one.
        let mut trailing = cn("a");
        trailing.extend_from_slice(&tlv(TAG_SET, &tlv(TAG_SEQUENCE, &tlv(TAG_OID, CN))));
        let trailing = Parts {
            subject: trailing,
            ..Parts::default()
        };
        assert!(parse_certificate(&build_cert(trailing)).is_err());
        assert!(name_of(&[vec![atv(&[0x2a, 0x83], utf8("a"))]]).is_err()); // truncated OID
        let huge = [
            0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert!(name_of(&[vec![atv(&huge, utf8("a"))]]).is_err()); // arc past u64
        assert_eq!(
            name_of(&[vec![atv(&[0x00], utf8("a"))]]),
            Ok("0.0=#0C0161".to_string())
        );
        assert_eq!(
            name_of(&[vec![atv(
                &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
                utf8("com")
            )]]),
            Ok("DC=com".to_string())
        );
    }

    #[test]
    fn serials() {
        let serial = |bytes: &[u8]| {
            parse_certificate(&build_cert(Parts {
                serial: bytes.to_vec(),
                ..Parts::default()
            }))
            .map(|info| info.serial_hex)
        };
        assert_eq!(serial(&[0x00, 0x80]), Ok("80".to_string()));
        assert_eq!(serial(&[0x00]), Ok("00".to_string()));
        assert_eq!(serial(&[0x7f, 0x0a]), Ok("7f0a".to_string()));
        assert_eq!(serial(&[0xff]), Ok("ff".to_string()));
        assert_eq!(
            serial(&[0x01; 20]),
            Ok("0101010101010101010101010101010101010101".to_string())
        );
    }
}
