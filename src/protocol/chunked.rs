//! The chunked transfer coding of request bodies (RFC 9112 §7.1): an incremental decoder fed
//! whatever bytes have arrived.
//!
//! Owns: chunk-size lines, extensions, data, trailers. Must not: do I/O or trust sizes (hex
//! overflow and oversized lines are errors, the smuggling vectors of gunicorn #3364/#3327).

/// A chunk-size line longer than this (extensions included) is refused.
const MAX_LINE: usize = 4096;
/// Trailer section size limit.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkError(pub &'static str);

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeLine,
            trailer_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as it can, appending data to `out`. Returns how many
    /// bytes of `input` were used; the rest (a partial line) must be offered again with
    /// more bytes behind it. Bytes after the final CRLF are never consumed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok(pos),
                State::SizeLine => {
                    let Some(line) = take_line(&input[pos..], MAX_LINE)? else {
                        return Ok(pos);
                    };
                    pos += line.len() + 2;
                    let size = parse_size_line(line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    let available = (input.len() - pos) as u64;
                    if available == 0 {
                        return Ok(pos);
                    }
                    let take = remaining.min(available) as usize;
                    out.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    let rest = &input[pos..];
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|b| *b != b'\r') {
                            return Err(ChunkError("chunk data not followed by CRLF"));
                        }
                        return Ok(pos);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ChunkError("chunk data not followed by CRLF"));
                    }
                    pos += 2;
                    self.state = State::SizeLine;
                }
                State::Trailers => {
                    let Some(line) = take_line(&input[pos..], MAX_LINE)? else {
                        return Ok(pos);
                    };
                    pos += line.len() + 2;
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    self.trailer_bytes += line.len() + 2;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(ChunkError("trailer section too large"));
                    }
                    check_trailer(line)?;
                }
            }
        }
    }
}

/// The next CRLF-terminated line (without CRLF), or `None` if it has not fully arrived.
fn take_line(input: &[u8], max: usize) -> Result<Option<&[u8]>, ChunkError> {
    match input.iter().position(|b| *b == b'\n') {
        Some(lf) => {
            if lf == 0 || input[lf - 1] != b'\r' {
                return Err(ChunkError("chunk line not terminated by CRLF"));
            }
            let line = &input[..lf - 1];
            if line.contains(&b'\r') {
                return Err(ChunkError("bare CR in chunk line"));
            }
            Ok(Some(line))
        }
        None if input.len() > max => Err(ChunkError("chunk line too long")),
        None => Ok(None),
    }
}

fn parse_size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError("invalid chunk size"));
    }
    if digits > 15 {
        return Err(ChunkError("chunk size too large"));
    }
    let size = line[..digits].iter().fold(0u64, |n, b| {
        n << 4 | u64::from(super::http::hex_value(*b).expect("hex digit"))
    });
    let extension = &line[digits..];
    let after_ws = super::http::trim_ows(extension);
    if !after_ws.is_empty() && after_ws[0] != b';' {
        return Err(ChunkError("invalid chunk size"));
    }
    if extension
        .iter()
        .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
    {
        return Err(ChunkError("control character in chunk extension"));
    }
    Ok(size)
}

fn check_trailer(line: &[u8]) -> Result<(), ChunkError> {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return Err(ChunkError("malformed trailer field"));
    };
    let name = &line[..colon];
    let valid_name = !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b));
    if !valid_name
        || line[colon..]
            .iter()
            .any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f)
    {
        return Err(ChunkError("malformed trailer field"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let used = decoder.decode(input, &mut out)?;
        assert!(decoder.is_done(), "not done after {used} bytes");
        Ok((out, used))
    }

    #[test]
    fn whole_body_with_extension_and_trailer() {
        let input = b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
        let (out, used) = decode_all(input).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn byte_by_byte() {
        let input = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for b in input {
            pending.push(*b);
            let used = decoder.decode(&pending, &mut out).unwrap();
            pending.drain(..used);
        }
        assert!(decoder.is_done());
        assert_eq!(out, b"0123456789");
    }

    #[test]
    fn malformed() {
        assert!(decode_all(b"zz\r\n").is_err());
        assert!(decode_all(b"ffffffffffffffffff\r\n").is_err());
        assert!(decode_all(b"5\nhello\r\n0\r\n\r\n").is_err(), "bare LF");
        assert!(
            decode_all(b"5\r\nhelloXX0\r\n\r\n").is_err(),
            "missing CRLF after data"
        );
        assert!(
            decode_all(b"5;a\rb\r\nhello\r\n0\r\n\r\n").is_err(),
            "CR in extension"
        );
        assert!(decode_all(b"5 x\r\nhello\r\n0\r\n\r\n").is_err());
        assert!(decode_all(b"0\r\nbad trailer\r\n\r\n").is_err());
    }
}
