//! Response heads: validating what the application passed to `start_response` and writing
//! the status line and header block with the framing the connection chose.
//!
//! Owns: status and header syntax checks (no CR/LF/NUL: response splitting is impossible),
//! hop-by-hop filtering, Date formatting, head serialization. Must not: do I/O or decide
//! keep-alive (the connection does).

use std::fmt;

/// A status and headers the application gave, already validated and serialized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseStart {
    pub status: u16,
    /// `200 OK`, as the application wrote it.
    pub status_text: Vec<u8>,
    /// `Name: value\r\n` lines, hop-by-hop and Content-Length removed.
    pub headers: Vec<u8>,
    pub content_length: Option<u64>,
    /// The application sent `Connection: close`.
    pub close_requested: bool,
    /// The Date header is decided: the application set one, or a rule removed it.
    pub has_date: bool,
    /// The Server header is decided: the application set one, or a rule removed it.
    pub has_server: bool,
}

/// The headers the server adds of its own accord when the application set none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnHeaders {
    /// `Server: rwsgi`.
    pub server: bool,
    /// The `Date` value (RFC 9110 format), or None to send no Date.
    pub date: Option<[u8; 29]>,
}

impl OwnHeaders {
    /// Behind a front end (uwsgi protocol): only what the application set, as uWSGI.
    pub const NONE: OwnHeaders = OwnHeaders {
        server: false,
        date: None,
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ResponseStart {
    pub fn new(status: &str) -> Result<Self, HeaderError> {
        let bytes = status.as_bytes();
        let valid = bytes.len() >= 4
            && bytes[..3].iter().all(u8::is_ascii_digit)
            && bytes[3] == b' '
            && bytes[0] != b'0'
            && status
                .chars()
                .all(|c| (c as u32) <= 0xff && !c.is_control());
        if !valid {
            return Err(HeaderError(format!(
                "invalid status {status:?} (expected \"NNN Reason\")"
            )));
        }
        let code = status[..3].parse().expect("three digits");
        Ok(ResponseStart {
            status: code,
            status_text: latin1(status),
            ..Default::default()
        })
    }

    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(HeaderError(format!("invalid header name {name:?}")));
        }
        // ASCII (nearly every value) is checked byte by byte; anything else by character.
        let invalid = if value.is_ascii() {
            value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        } else {
            value
                .chars()
                .any(|c| (c as u32) > 0xff || (c.is_control() && c != '\t'))
        };
        if invalid {
            return Err(HeaderError(format!(
                "invalid value for header {name}: control or non-latin-1 character"
            )));
        }
        // Without allocating: header names are matched in place, whatever their case.
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        match () {
            () if is("content-length") => {
                let n = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| HeaderError(format!("invalid Content-Length {value:?}")))?;
                if self.content_length.is_some_and(|previous| previous != n) {
                    return Err(HeaderError("conflicting Content-Length headers".into()));
                }
                self.content_length = Some(n);
                return Ok(());
            }
            () if is("connection") => {
                self.close_requested |= value
                    .split(',')
                    .any(|o| o.trim().eq_ignore_ascii_case("close"));
                return Ok(());
            }
            // Hop-by-hop: the server frames the message itself (PEP 3333 forbids these).
            () if [
                "keep-alive",
                "proxy-authenticate",
                "proxy-authorization",
                "te",
                "trailer",
                "transfer-encoding",
                "upgrade",
            ]
            .iter()
            .any(|hop| is(hop)) =>
            {
                return Ok(())
            }
            () if is("date") => self.has_date = true,
            () if is("server") => self.has_server = true,
            _ => {}
        }
        let value = value.trim();
        self.headers
            .reserve(name.len() + value.len() + 4 + if self.headers.is_empty() { 96 } else { 0 });
        self.headers.extend_from_slice(name.as_bytes());
        self.headers.extend_from_slice(b": ");
        if value.is_ascii() {
            self.headers.extend_from_slice(value.as_bytes());
        } else {
            self.headers.extend(value.chars().map(|c| c as u32 as u8));
        }
        self.headers.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Removes every header called `name` (any case) that `add_header` kept; removing
    /// `Server` or `Date` also keeps the server from adding its own.
    pub fn remove_header(&mut self, name: &str) {
        if name.eq_ignore_ascii_case("server") {
            self.has_server = true;
        } else if name.eq_ignore_ascii_case("date") {
            self.has_date = true;
        }
        let mut kept = Vec::with_capacity(self.headers.len());
        for line in self.headers.split_inclusive(|b| *b == b'\n') {
            let line_name = line.split(|b| *b == b':').next().unwrap_or(b"");
            if !line_name.eq_ignore_ascii_case(name.as_bytes()) {
                kept.extend_from_slice(line);
            }
        }
        self.headers = kept;
    }

    /// Statuses whose responses never carry a body.
    pub fn forbids_body(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }
}

/// How the body that follows the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// Ends when the connection closes (HTTP/1.0 without a known length, or uwsgi).
    UntilClose,
    /// 204, 304, 1xx: no body and, for 1xx/204, no Content-Length either.
    NoBody,
}

/// Writes the complete head. `version` is what the status line speaks.
pub fn write_head(
    out: &mut Vec<u8>,
    version: &[u8],
    start: &ResponseStart,
    framing: Framing,
    close: bool,
    own: &OwnHeaders,
) {
    out.extend_from_slice(version);
    out.push(b' ');
    out.extend_from_slice(&start.status_text);
    out.extend_from_slice(b"\r\n");
    if own.server && !start.has_server {
        out.extend_from_slice(b"Server: rwsgi\r\n");
    }
    if let Some(date) = own.date.filter(|_| !start.has_date) {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&start.headers);
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::NoBody if start.status == 304 => {
            if let Some(n) = start.content_length {
                out.extend_from_slice(b"Content-Length: ");
                push_decimal(out, n);
                out.extend_from_slice(b"\r\n");
            }
        }
        Framing::UntilClose | Framing::NoBody => {}
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A small error response the server itself produces (4xx for bad requests, 500...).
pub fn simple_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    body: &str,
    close: bool,
    own: &OwnHeaders,
) {
    let mut start = ResponseStart {
        status,
        status_text: format!("{status} {reason}").into_bytes(),
        ..Default::default()
    };
    start
        .headers
        .extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    write_head(
        out,
        b"HTTP/1.1",
        &start,
        Framing::Length(body.len() as u64),
        close,
        own,
    );
    out.extend_from_slice(body.as_bytes());
}

pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

fn latin1(s: &str) -> Vec<u8> {
    if s.is_ascii() {
        return s.as_bytes().to_vec();
    }
    s.chars().map(|c| c as u32 as u8).collect()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_validation() {
        let mut start = ResponseStart::new("200 OK").unwrap();
        start.add_header("Content-Type", "text/plain").unwrap();
        start.add_header("Content-Length", "5").unwrap();
        start.add_header("Transfer-Encoding", "chunked").unwrap();
        start.add_header("Connection", "close").unwrap();
        assert!(start.add_header("X-Bad", "a\r\nSet-Cookie: x").is_err());
        assert!(start.add_header("X Bad", "a").is_err());
        assert!(start.add_header("X-Snow", "\u{2603}").is_err());
        assert_eq!(start.headers, b"Content-Type: text/plain\r\n");
        assert_eq!(start.content_length, Some(5));
        assert!(start.close_requested);
        assert!(ResponseStart::new("200").is_err());
        assert!(ResponseStart::new("20x OK").is_err());
        assert!(ResponseStart::new("200 OK\r\n").is_err());
    }

    #[test]
    fn head_layout() {
        let mut start = ResponseStart::new("200 OK").unwrap();
        start.add_header("X-A", "1").unwrap();
        let mut out = Vec::new();
        let mut date = [b' '; 29];
        date[..4].copy_from_slice(b"DATE");
        let own = OwnHeaders {
            server: true,
            date: Some(date),
        };
        write_head(
            &mut out,
            b"HTTP/1.1",
            &start,
            Framing::Length(12),
            true,
            &own,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nServer: rwsgi\r\nDate: DATE                         \r\nX-A: 1\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_head(
            &mut out,
            b"HTTP/1.1",
            &start,
            Framing::Length(12),
            false,
            &OwnHeaders::NONE,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 12\r\n\r\n"
        );
        out.clear();
        start.remove_header("server");
        write_head(
            &mut out,
            b"HTTP/1.1",
            &start,
            Framing::Length(12),
            false,
            &own,
        );
        assert!(!out.windows(7).any(|w| w == b"Server:"), "delheader:Server");
    }
}
