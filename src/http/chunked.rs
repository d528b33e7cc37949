//! Incremental `Transfer-Encoding: chunked` decoder (request bodies and upstream responses).
//!
//! CONTRACT (implemented by the HTTP work):
//! - `ChunkedDecoder::new(max_total)`; feed it whatever bytes have arrived with `decode`.
//! - `decode(input)` returns the next step: `Data { start, end }` (a range of `input` holding
//!   body bytes; the decoder has consumed up to `end`), `NeedMore { consumed }` (all of
//!   `input[..consumed]` was framing; call again with more bytes after dropping the consumed
//!   prefix), or `Done { consumed }` (last chunk and trailers read; bytes after `consumed`
//!   belong to the next message). Callers loop until NeedMore or Done.
//! - Errors: `ErrorKind::BadRequest` for a malformed chunk-size line (non-hex, empty, > 16 hex
//!   digits / overflow, missing CRLF after data, a bare LF as a line end, whitespace after
//!   the size not followed by `;`, chunk extensions longer than 4096 bytes, trailer section
//!   longer than 8192 bytes);
//!   `ErrorKind::RequestTooLarge` once the decoded total would exceed `max_total`.
//! - Chunk extensions and trailers are discarded.
//!
//! Implementation: framing (size lines, the CRLF after data, trailers) is read one byte at a
//! time through a small state machine, so input may be split anywhere; data is handed out as
//! ranges of the caller's input, never copied. The size limit is checked as soon as a chunk
//! size is known, before any of that chunk is returned. Framing is read as RFC 9112 §7.1
//! writes it, with no leniency: every line ends in CRLF (a bare LF is refused: §2.2's
//! tolerance covers the start line and header fields only, and a chunk line read two ways
//! is a request-smuggling vector), and whitespace after the size (BWS) is allowed only
//! before a `;` extension. BWS counts towards the 4096-byte extension limit; extension and trailer bytes must be
//! visible characters, SP, HTAB or obs-text; a trailer line must be `token ":" value` (a line
//! starting with SP/HTAB, i.e. obs-fold, is refused). After an error every further call
//! returns the same error; after `Done` every further call returns `Done { consumed: 0 }`.

use crate::error::ErrorKind;

/// Most hex digits a chunk size may have (fits a u64).
const MAX_SIZE_DIGITS: u8 = 16;
/// Longest chunk extension (including BWS and the `;`) per chunk-size line.
const MAX_EXTENSION_BYTES: usize = 4096;
/// Longest trailer section, including its line ends and the final empty line.
const MAX_TRAILER_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Data { start: usize, end: usize },
    NeedMore { consumed: usize },
    Done { consumed: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// Inside the hex digits.
    Size,
    /// Whitespace after the digits, before `;` or the line end.
    SizeWs,
    /// Inside chunk extensions (after a `;`).
    Ext,
    /// Saw CR on the size line; LF must follow.
    SizeLf,
    /// `remaining` data bytes of the current chunk still to hand out.
    Data,
    /// Data finished; CRLF must follow.
    DataEnd,
    /// Saw CR after data; LF must follow.
    DataLf,
    /// At the start of a trailer line or the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// Saw CR at the end of a trailer line; LF must follow.
    TrailerLf,
    /// Saw CR at the start of a line in the trailer section; LF ends the message.
    EndLf,
    Done,
    Failed(ErrorKind),
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_total: u64,
    total: u64,
    /// Size being parsed on the current size line.
    size: u64,
    digits: u8,
    /// Data bytes left in the current chunk.
    remaining: u64,
    ext_len: usize,
    trailer_len: usize,
}

impl ChunkedDecoder {
    pub fn new(max_total: u64) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            max_total,
            total: 0,
            size: 0,
            digits: 0,
            remaining: 0,
            ext_len: 0,
            trailer_len: 0,
        }
    }

    /// Total body bytes decoded so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ErrorKind> {
        let mut pos = 0usize;
        loop {
            match self.state {
                State::Done => return Ok(Step::Done { consumed: pos }),
                State::Failed(kind) => return Err(kind),
                State::Data => {
                    let avail = input.len().saturating_sub(pos);
                    if avail == 0 {
                        return Ok(Step::NeedMore { consumed: pos });
                    }
                    // `n <= avail`, so it fits a usize.
                    let n = self.remaining.min(avail as u64) as usize;
                    self.remaining -= n as u64;
                    self.total = self.total.saturating_add(n as u64);
                    if self.remaining == 0 {
                        self.state = State::DataEnd;
                    }
                    return Ok(Step::Data {
                        start: pos,
                        end: pos + n,
                    });
                }
                _ => {
                    let Some(&b) = input.get(pos) else {
                        return Ok(Step::NeedMore { consumed: pos });
                    };
                    pos += 1;
                    if let Err(kind) = self.framing_byte(b) {
                        self.state = State::Failed(kind);
                        return Err(kind);
                    }
                }
            }
        }
    }

    /// Advances the framing state machine by one byte.
    fn framing_byte(&mut self, b: u8) -> Result<(), ErrorKind> {
        use ErrorKind::BadRequest;
        match self.state {
            State::SizeStart => {
                let d = hex_value(b).ok_or(BadRequest)?;
                self.size = u64::from(d);
                self.digits = 1;
                self.ext_len = 0;
                self.state = State::Size;
            }
            State::Size => {
                if let Some(d) = hex_value(b) {
                    self.digits += 1;
                    if self.digits > MAX_SIZE_DIGITS {
                        return Err(BadRequest);
                    }
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(d)))
                        .ok_or(BadRequest)?;
                } else {
                    self.after_size(b)?;
                }
            }
            State::SizeWs => match b {
                // BWS only ever precedes a chunk extension (`chunk-ext = *( BWS ";" ...)`).
                b' ' | b'\t' => self.count_ext()?,
                b';' => {
                    self.count_ext()?;
                    self.state = State::Ext;
                }
                _ => return Err(BadRequest),
            },
            State::Ext => match b {
                b'\r' => self.state = State::SizeLf,
                _ if is_field_byte(b) => self.count_ext()?,
                _ => return Err(BadRequest),
            },
            State::SizeLf => {
                if b != b'\n' {
                    return Err(BadRequest);
                }
                self.end_size_line()?;
            }
            State::DataEnd => match b {
                b'\r' => self.state = State::DataLf,
                _ => return Err(BadRequest),
            },
            State::DataLf => {
                if b != b'\n' {
                    return Err(BadRequest);
                }
                self.state = State::SizeStart;
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::EndLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(BadRequest);
                }
                self.state = match (self.state, b) {
                    (State::TrailerStart, b'\r') => State::EndLf,
                    (State::EndLf, b'\n') => State::Done,
                    (State::TrailerStart, _) | (State::TrailerName, _) if is_tchar(b) => {
                        State::TrailerName
                    }
                    (State::TrailerName, b':') => State::TrailerValue,
                    (State::TrailerValue, b'\r') => State::TrailerLf,
                    (State::TrailerLf, b'\n') => State::TrailerStart,
                    (State::TrailerValue, _) if is_field_byte(b) => State::TrailerValue,
                    _ => return Err(BadRequest),
                };
            }
            // Not framing states: `decode` never calls us in them.
            State::Data | State::Done | State::Failed(_) => return Err(ErrorKind::Internal),
        }
        Ok(())
    }

    /// A non-hex byte after at least one size digit.
    fn after_size(&mut self, b: u8) -> Result<(), ErrorKind> {
        match b {
            b' ' | b'\t' => {
                self.count_ext()?;
                self.state = State::SizeWs;
            }
            b';' => {
                self.count_ext()?;
                self.state = State::Ext;
            }
            b'\r' => self.state = State::SizeLf,
            _ => return Err(ErrorKind::BadRequest),
        }
        Ok(())
    }

    fn count_ext(&mut self) -> Result<(), ErrorKind> {
        self.ext_len += 1;
        if self.ext_len > MAX_EXTENSION_BYTES {
            return Err(ErrorKind::BadRequest);
        }
        Ok(())
    }

    /// The size line is complete: start the chunk's data, or the trailers after the last chunk.
    fn end_size_line(&mut self) -> Result<(), ErrorKind> {
        let size = self.size;
        self.size = 0;
        self.digits = 0;
        self.ext_len = 0;
        if size == 0 {
            self.trailer_len = 0;
            self.state = State::TrailerStart;
            return Ok(());
        }
        match self.total.checked_add(size) {
            Some(t) if t <= self.max_total => {}
            _ => return Err(ErrorKind::RequestTooLarge),
        }
        self.remaining = size;
        self.state = State::Data;
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 9110 `tchar`.
pub(crate) const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Bytes allowed inside an extension or a trailer value: HTAB, SP, VCHAR, obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outcome of feeding pieces to a decoder the way `pipeline::body` does.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        data: Vec<u8>,
        done: bool,
        /// Bytes left in the caller's buffer after `Done` (the next message).
        leftover: Vec<u8>,
    }

    fn feed(max_total: u64, pieces: &[&[u8]]) -> Result<Outcome, ErrorKind> {
        let mut dec = ChunkedDecoder::new(max_total);
        let mut pending: Vec<u8> = Vec::new();
        let mut data = Vec::new();
        let mut done = false;
        for piece in pieces {
            pending.extend_from_slice(piece);
            if done {
                continue;
            }
            loop {
                match dec.decode(&pending)? {
                    Step::Data { start, end } => {
                        assert!(
                            start < end && end <= pending.len(),
                            "bad data range {start}..{end}"
                        );
                        data.extend_from_slice(&pending[start..end]);
                        pending.drain(..end);
                    }
                    Step::NeedMore { consumed } => {
                        assert_eq!(
                            consumed,
                            pending.len(),
                            "NeedMore must consume everything it saw"
                        );
                        pending.drain(..consumed);
                        break;
                    }
                    Step::Done { consumed } => {
                        assert!(consumed <= pending.len());
                        pending.drain(..consumed);
                        done = true;
                        assert!(dec.is_done());
                        assert_eq!(dec.total(), data.len() as u64);
                        break;
                    }
                }
            }
        }
        Ok(Outcome {
            data,
            done,
            leftover: pending,
        })
    }

    fn whole(input: &[u8]) -> Result<Outcome, ErrorKind> {
        feed(u64::MAX, &[input])
    }

    const BODY: &[u8] = b"5\r\nhello\r\n1;a=b ; c\r\n \r\nA \t;ext=\"q\"\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nY:\r\n\r\nNEXT";

    fn expected() -> Outcome {
        Outcome {
            data: b"hello 0123456789".to_vec(),
            done: true,
            leftover: b"NEXT".to_vec(),
        }
    }

    #[test]
    fn decodes_a_whole_body() {
        assert_eq!(whole(BODY), Ok(expected()));
    }

    #[test]
    fn split_at_every_boundary() {
        for i in 0..=BODY.len() {
            assert_eq!(
                feed(u64::MAX, &[&BODY[..i], &BODY[i..]]),
                Ok(expected()),
                "split at {i}"
            );
            for j in i..=BODY.len() {
                let pieces = [&BODY[..i], &BODY[i..j], &BODY[j..]];
                assert_eq!(
                    feed(u64::MAX, &pieces),
                    Ok(expected()),
                    "split at {i} and {j}"
                );
            }
        }
    }

    #[test]
    fn one_byte_pieces() {
        let pieces: Vec<&[u8]> = BODY.chunks(1).collect();
        assert_eq!(feed(u64::MAX, &pieces), Ok(expected()));
        // Each step sees only the new byte: data comes out one byte at a time.
        let mut dec = ChunkedDecoder::new(u64::MAX);
        let mut out = Vec::new();
        for (i, b) in BODY.iter().enumerate() {
            let one = [*b];
            match dec.decode(&one) {
                Ok(Step::Data { start: 0, end: 1 }) => {
                    out.push(*b);
                    // The byte is consumed; the decoder now wants more.
                    assert_eq!(dec.decode(&[]), Ok(Step::NeedMore { consumed: 0 }));
                }
                Ok(Step::NeedMore { consumed: 1 }) => {}
                Ok(Step::Done { consumed: 1 }) => {
                    assert_eq!(&BODY[i + 1..], b"NEXT");
                    break;
                }
                other => panic!("unexpected {other:?} at byte {i}"),
            }
        }
        assert_eq!(out, b"hello 0123456789");
    }

    #[test]
    fn data_is_returned_in_place() {
        let input = b"3\r\nabc\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(input), Ok(Step::Data { start: 3, end: 6 }));
        assert_eq!(dec.total(), 3);
        assert_eq!(dec.decode(&input[6..]), Ok(Step::Done { consumed: 7 }));
    }

    #[test]
    fn partial_data_and_need_more() {
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(
            dec.decode(b"a\r\n0123"),
            Ok(Step::Data { start: 3, end: 7 })
        );
        assert_eq!(dec.decode(b""), Ok(Step::NeedMore { consumed: 0 }));
        assert_eq!(dec.decode(b"456789\r"), Ok(Step::Data { start: 0, end: 6 }));
        assert_eq!(dec.decode(b"\r"), Ok(Step::NeedMore { consumed: 1 }));
        assert_eq!(dec.decode(b"\n0"), Ok(Step::NeedMore { consumed: 2 }));
        assert_eq!(dec.decode(b"\r\n\r\n"), Ok(Step::Done { consumed: 4 }));
        assert_eq!(dec.total(), 10);
    }

    #[test]
    fn bare_lf_line_ends_are_refused() {
        // Each framing line in turn ends in a bare LF (size line, after data, trailer line,
        // final empty line); everything else is correct.
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhello\n0\r\n\r\n",
            b"5;x\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\n\r\n",
            b"5\r\nhello\r\n0\r\nT: x\n\r\n",
            b"5\r\nhello\r\n0\r\nT: x\r\n\n",
            b"5\r\nhello\r\n0\r\n\n",
        ] {
            let out = whole(bad).map(|o| (o.data, o.done));
            assert_eq!(
                out,
                Err(ErrorKind::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let out = whole(b"5\r\nhello\r\n0\r\nT: x\r\n\r\n").map(|o| (o.data, o.done));
        assert_eq!(out, Ok((b"hello".to_vec(), true)));
    }

    #[test]
    fn whitespace_after_the_size_only_before_an_extension() {
        for bad in [
            &b"5 \r\nhello\r\n0\r\n\r\n"[..],
            b"5\t\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\n",
        ] {
            let out = whole(bad).map(|o| (o.data, o.done));
            assert_eq!(
                out,
                Err(ErrorKind::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn extensions_and_bws() {
        let out = whole(
            b"5;name=value;flag\r\nhello\r\n3 \t ;e\r\nabc\r\n2\t;x\r\nde\r\n0;last=1\r\n\r\n",
        );
        assert_eq!(
            out.map(|o| (o.data, o.done)),
            Ok((b"helloabcde".to_vec(), true))
        );
        // Upper and lower case hex, leading zeros up to 16 digits.
        let out = whole(b"000000000000000B\r\nhello world\r\n0\r\n\r\n");
        assert_eq!(out.map(|o| o.data), Ok(b"hello world".to_vec()));
    }

    #[test]
    fn extension_limit() {
        let mut ok_body = b"1;".to_vec();
        ok_body.extend(std::iter::repeat_n(b'x', MAX_EXTENSION_BYTES - 1));
        ok_body.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(whole(&ok_body).map(|o| o.data), Ok(b"z".to_vec()));
        let mut too_long = b"1;".to_vec();
        too_long.extend(std::iter::repeat_n(b'x', MAX_EXTENSION_BYTES));
        too_long.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(whole(&too_long), Err(ErrorKind::BadRequest));
        // Endless whitespace counts too.
        let mut ws = b"1".to_vec();
        ws.extend(std::iter::repeat_n(b' ', MAX_EXTENSION_BYTES + 1));
        assert_eq!(whole(&ws), Err(ErrorKind::BadRequest));
        // Control bytes inside an extension.
        assert_eq!(
            whole(b"1;a\0b\r\nz\r\n0\r\n\r\n"),
            Err(ErrorKind::BadRequest)
        );
    }

    #[test]
    fn trailers() {
        let out = whole(b"0\r\nExpires: never\r\nX-Sum: \t abc \r\n\r\nrest");
        assert_eq!(
            out.map(|o| (o.data, o.done, o.leftover)),
            Ok((vec![], true, b"rest".to_vec()))
        );
        // Obs-fold, no colon, bad name, control byte, bare CR.
        for bad in [
            &b"0\r\nA: 1\r\n folded\r\n\r\n"[..],
            b"0\r\nNoColon\r\n\r\n",
            b"0\r\n: empty-name\r\n\r\n",
            b"0\r\nBad Name: 1\r\n\r\n",
            b"0\r\nA: 1\x01\r\n\r\n",
            b"0\r\nA: 1\rB: 2\r\n\r\n",
            b"0\r\n\rX",
        ] {
            assert_eq!(
                whole(bad),
                Err(ErrorKind::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn trailer_limit() {
        let mut body = b"0\r\nX: ".to_vec();
        let pad = MAX_TRAILER_BYTES - 3 - 2 - 2; // "X: " + pad + "\r\n" + "\r\n" == limit
        body.extend(std::iter::repeat_n(b'v', pad));
        body.extend_from_slice(b"\r\n\r\n");
        assert_eq!(whole(&body).map(|o| o.done), Ok(true));
        let mut body = b"0\r\nX: ".to_vec();
        body.extend(std::iter::repeat_n(b'v', pad + 1));
        body.extend_from_slice(b"\r\n\r\n");
        assert_eq!(whole(&body), Err(ErrorKind::BadRequest));
    }

    #[test]
    fn bad_sizes() {
        for bad in [
            &b"\r\n"[..],
            b"\n",
            b"g\r\n",
            b" 5\r\nhello\r\n",
            b"-1\r\n",
            b"+1\r\n",
            b"0x5\r\n",
            b";ext\r\n",
            b"5 5\r\nhello\r\n",
            b"5\rX",
            b"5\r\r\n",
            b"5\0\r\n",
        ] {
            assert_eq!(
                whole(bad),
                Err(ErrorKind::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn size_overflow() {
        // 17 digits, even with leading zeros.
        assert_eq!(whole(b"00000000000000001\r\nx"), Err(ErrorKind::BadRequest));
        assert_eq!(whole(b"10000000000000000\r\n"), Err(ErrorKind::BadRequest));
        // 16 digits is the maximum: u64::MAX fits, and the limit then applies.
        let mut dec = ChunkedDecoder::new(u64::MAX);
        assert_eq!(
            dec.decode(b"FFFFFFFFFFFFFFFF\r\nab"),
            Ok(Step::Data { start: 18, end: 20 })
        );
        assert_eq!(
            ChunkedDecoder::new(10 * 1024 * 1024).decode(b"FFFFFFFFFFFFFFFF\r\n"),
            Err(ErrorKind::RequestTooLarge)
        );
    }

    #[test]
    fn missing_crlf_after_data() {
        assert_eq!(
            whole(b"5\r\nhelloX\r\n0\r\n\r\n"),
            Err(ErrorKind::BadRequest)
        );
        assert_eq!(whole(b"5\r\nhello0\r\n\r\n"), Err(ErrorKind::BadRequest));
        assert_eq!(whole(b"5\r\nhello\r0\r\n\r\n"), Err(ErrorKind::BadRequest));
        assert_eq!(
            whole(b"5\r\nhello \r\n0\r\n\r\n"),
            Err(ErrorKind::BadRequest)
        );
    }

    #[test]
    fn too_large() {
        // Exactly the limit is fine.
        assert_eq!(
            feed(10, &[b"a\r\n0123456789\r\n0\r\n\r\n"]).map(|o| o.done),
            Ok(true)
        );
        // Refused as soon as the size is known, before any data.
        let mut dec = ChunkedDecoder::new(10);
        assert_eq!(
            dec.decode(b"b\r\n0123456789a\r\n"),
            Err(ErrorKind::RequestTooLarge)
        );
        assert_eq!(dec.total(), 0);
        // Cumulative: the second chunk pushes it over.
        let mut dec = ChunkedDecoder::new(10);
        assert_eq!(
            dec.decode(b"6\r\n012345\r\n6\r\n012345\r\n"),
            Ok(Step::Data { start: 3, end: 9 })
        );
        assert_eq!(
            dec.decode(b"\r\n6\r\n012345\r\n"),
            Err(ErrorKind::RequestTooLarge)
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(b"z"), Err(ErrorKind::BadRequest));
        assert_eq!(
            dec.decode(b"5\r\nhello\r\n0\r\n\r\n"),
            Err(ErrorKind::BadRequest)
        );
    }

    #[test]
    fn bytes_after_done_are_left_unconsumed() {
        let input = b"0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(input), Ok(Step::Done { consumed: 5 }));
        assert_eq!(dec.decode(&input[5..]), Ok(Step::Done { consumed: 0 }));
        let input = b"2\r\nab\r\n0\r\nT: 1\r\n\r\nPOST";
        let out = whole(input);
        assert_eq!(
            out,
            Ok(Outcome {
                data: b"ab".to_vec(),
                done: true,
                leftover: b"POST".to_vec()
            })
        );
    }

    #[test]
    fn incomplete_body_is_not_done() {
        for i in 0..BODY.len() - 4 {
            let out = feed(u64::MAX, &[&BODY[..i]]);
            assert_eq!(out.map(|o| o.done), Ok(false), "prefix {i}");
        }
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut done = 0usize;
        let alphabet = b"0123456789abcdefABCDEFxX \t;=:\r\n\0\x7f\xff";
        for round in 0..20_000 {
            let mut input: Vec<u8> = if round % 3 == 0 {
                let len = rng.below(200);
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            } else {
                BODY.to_vec()
            };
            for _ in 0..rng.below(5) {
                let at = rng.below(input.len() + 1);
                let byte = if rng.below(2) == 0 {
                    alphabet[rng.below(alphabet.len())]
                } else {
                    rng.next() as u8
                };
                match rng.below(3) {
                    0 if at < input.len() => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ if at < input.len() => {
                        input.remove(at);
                    }
                    _ => {}
                }
            }
            // Feed it in random pieces, checking every step's ranges.
            let max_total = [0, 5, 100, u64::MAX][rng.below(4)];
            let mut dec = ChunkedDecoder::new(max_total);
            let mut rest: &[u8] = &input;
            while !rest.is_empty() {
                let take = 1 + rng.below(rest.len());
                let mut window: &[u8] = &rest[..take];
                rest = &rest[take..];
                loop {
                    match dec.decode(window) {
                        Ok(Step::Data { start, end }) => {
                            assert!(start < end && end <= window.len());
                            window = &window[end..];
                        }
                        Ok(Step::NeedMore { consumed }) => {
                            assert_eq!(consumed, window.len());
                            break;
                        }
                        Ok(Step::Done { consumed }) => {
                            assert!(consumed <= window.len());
                            done += usize::from(consumed > 0);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                assert!(dec.total() <= max_total);
            }
        }
        // The mutated bodies must also reach the end of the message.
        assert!(done > 1000, "only {done} bodies completed");
    }
}
