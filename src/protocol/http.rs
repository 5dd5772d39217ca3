//! HTTP/1.1 request heads (RFC 9112): a pure function from bytes to a parsed head or the
//! 4xx/5xx status that a malformed one deserves.
//!
//! Owns: request-line and header syntax (through httparse), message framing (Content-Length,
//! Transfer-Encoding), Host rules, keep-alive and Expect decisions, target splitting.
//! Must not: do I/O, allocate per byte, or know about Python. Anything it accepts must be safe
//! to hand to an application; anything it rejects must never reach one.

use std::ops::Range;

/// The most header fields `parse_request` can be asked to accept.
pub const MAX_HEADERS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// A parsed head; ranges index the buffer given to `parse_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Range<usize>,
    /// The request target as sent (REQUEST_URI), fragment removed.
    pub target: Range<usize>,
    /// The path part, still percent-encoded; for absolute-form targets only the path.
    pub path: Range<usize>,
    pub query: Range<usize>,
    pub minor_version: u8,
    /// Headers to show the application; names containing `_` are left out (see below).
    pub headers: Vec<Header>,
    pub host: Option<Range<usize>>,
    pub framing: BodyFraming,
    /// The client sent a Content-Length header (even `0`, which gives no body framing).
    pub declared_length: bool,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes of the buffer the head took, including the blank line.
    pub len: usize,
}

/// Why a request was refused: the status to answer, and a reason for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

const fn reject(status: u16, reason: &'static str) -> HttpError {
    HttpError { status, reason }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        502 => "Bad Gateway",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Parses one request head from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed; the caller decides when a partial head is too
/// large (`head_too_large`). More than `max_headers` fields (capped at `MAX_HEADERS`) is 431.
pub fn parse_request(buf: &[u8], max_headers: usize) -> Result<Option<RequestHead>, HttpError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut storage[..max_headers.min(MAX_HEADERS)]);
    let Some(len) = parse_syntax(&mut request, buf)? else {
        return Ok(None);
    };
    let base = buf.as_ptr() as usize;
    let method = request.method.expect("complete request has a method");
    let target = request.path.expect("complete request has a target");
    let minor_version = request.version.expect("complete request has a version");
    let mut head = RequestHead {
        method: range_in(base, method.as_bytes()),
        target: range_in(base, target.as_bytes()),
        path: 0..0,
        query: 0..0,
        minor_version,
        headers: Vec::with_capacity(request.headers.len()),
        host: None,
        framing: BodyFraming::None,
        declared_length: false,
        keep_alive: minor_version == 1,
        expect_continue: false,
        len,
    };
    split_target(buf, &mut head, method.as_bytes())?;
    let mut fields = HeaderFacts::default();
    for header in request.headers.iter() {
        fields.note(
            &mut head,
            base,
            header.name.as_bytes(),
            trim_ows(header.value),
        )?;
    }
    fields.decide(&mut head)?;
    Ok(Some(head))
}

/// The request line and header syntax (httparse): the head's length once it is complete,
/// `None` while it is not, or the status a syntax error deserves.
fn parse_syntax<'b>(
    request: &mut httparse::Request<'_, 'b>,
    buf: &'b [u8],
) -> Result<Option<usize>, HttpError> {
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(reject(431, "too many header fields")),
        Err(httparse::Error::Version) => Err(version_error(buf)),
        Err(httparse::Error::HeaderName) => Err(reject(400, "invalid header field name")),
        Err(httparse::Error::HeaderValue) => Err(reject(400, "invalid header field value")),
        Err(httparse::Error::NewLine) => Err(reject(400, "bare CR or malformed line end")),
        Err(httparse::Error::Token) => Err(reject(400, "invalid request line")),
        Err(_) => Err(reject(400, "malformed request")),
    }
}

/// Where `s`, a slice of the buffer that starts at address `base`, lies in that buffer.
fn range_in(base: usize, s: &[u8]) -> Range<usize> {
    let start = s.as_ptr() as usize - base;
    start..start + s.len()
}

/// What the header fields say about the body's framing and the connection, gathered in one
/// pass and decided once every field is seen.
#[derive(Default)]
struct HeaderFacts<'b> {
    content_length: Option<u64>,
    transfer_codings: Vec<&'b [u8]>,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl<'b> HeaderFacts<'b> {
    /// Takes note of one field (`value` without its surrounding whitespace): framing and
    /// connection options here, Host and Expect in the head, and the field itself in the
    /// head's list unless its name holds a `_`.
    fn note(
        &mut self,
        head: &mut RequestHead,
        base: usize,
        name: &[u8],
        value: &'b [u8],
    ) -> Result<(), HttpError> {
        if name.eq_ignore_ascii_case(b"content-length") {
            self.content_length(value)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            for coding in value.split(|b| *b == b',') {
                let coding = trim_ows(coding);
                if !coding.is_empty() {
                    self.transfer_codings.push(coding);
                }
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            if head.host.is_some() {
                return Err(reject(400, "more than one Host header"));
            }
            if !value.iter().all(|b| is_host_byte(*b)) {
                return Err(reject(400, "invalid Host header"));
            }
            head.host = Some(range_in(base, value));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|b| *b == b',') {
                let option = trim_ows(option);
                self.connection_close |= option.eq_ignore_ascii_case(b"close");
                self.connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = head.minor_version == 1;
            } else {
                return Err(reject(417, "unsupported Expect"));
            }
        }
        // A `_` in a name would map to the same HTTP_* key as a `-`: a spoofing hazard
        // (X_Forwarded_For vs X-Forwarded-For). Like nginx and gunicorn, leave them out.
        if !name.contains(&b'_') {
            head.headers.push(Header {
                name: range_in(base, name),
                value: range_in(base, value),
            });
        }
        Ok(())
    }

    /// One Content-Length field: a list of equal values is one value.
    fn content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for part in value.split(|b| *b == b',') {
            let n = parse_content_length(trim_ows(part))?;
            if self.content_length.is_some_and(|previous| previous != n) {
                return Err(reject(400, "conflicting Content-Length values"));
            }
            self.content_length = Some(n);
        }
        Ok(())
    }

    /// With every field seen: Host required in HTTP/1.1, the body's framing (RFC 9112 §6),
    /// whether Expect still matters, and whether the connection stays open.
    fn decide(self, head: &mut RequestHead) -> Result<(), HttpError> {
        let minor_version = head.minor_version;
        if minor_version == 1 && head.host.is_none() {
            return Err(reject(400, "HTTP/1.1 request without Host"));
        }
        if !self.transfer_codings.is_empty() {
            head.framing = self.chunked_framing(minor_version)?;
        } else if let Some(n) = self.content_length {
            head.declared_length = true;
            head.framing = if n == 0 {
                BodyFraming::None
            } else {
                BodyFraming::Length(n)
            };
        }
        if head.framing == BodyFraming::None {
            head.expect_continue = false;
        }
        head.keep_alive = if minor_version == 1 {
            !self.connection_close
        } else {
            self.connection_keep_alive && !self.connection_close
        };
        Ok(())
    }

    /// A Transfer-Encoding request: only `chunked` alone, in HTTP/1.1, without
    /// Content-Length.
    fn chunked_framing(&self, minor_version: u8) -> Result<BodyFraming, HttpError> {
        if minor_version == 0 {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if self.content_length.is_some() {
            return Err(reject(400, "both Content-Length and Transfer-Encoding"));
        }
        let last = self.transfer_codings[self.transfer_codings.len() - 1];
        if !last.eq_ignore_ascii_case(b"chunked") {
            return Err(reject(400, "Transfer-Encoding does not end in chunked"));
        }
        if self.transfer_codings.len() > 1 {
            return Err(reject(501, "unsupported transfer coding"));
        }
        Ok(BodyFraming::Chunked)
    }
}

/// What status a head that has outgrown the buffer gets: 414 while still in the request line.
pub fn head_too_large(buf: &[u8]) -> HttpError {
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(0);
    if buf[start..].contains(&b'\n') {
        reject(431, "request header fields too large")
    } else {
        reject(414, "request line too long")
    }
}

fn version_error(buf: &[u8]) -> HttpError {
    let line_end = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|b| *b == b' ').next().unwrap_or(b"");
    let well_formed = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if well_formed {
        reject(505, "unsupported HTTP version")
    } else {
        reject(400, "invalid HTTP version")
    }
}

/// Fills `path` and `query` from the target: origin-form `/p?q`, absolute-form
/// `http://host/p?q` (only the path), `*` for OPTIONS. Fragments are dropped.
fn split_target(buf: &[u8], head: &mut RequestHead, method: &[u8]) -> Result<(), HttpError> {
    let mut target = head.target.clone();
    // RFC 9112 §3.2 with RFC 3986 §2: a target is ASCII; other bytes must arrive
    // percent-encoded (httparse lets them through).
    if !buf[target.clone()].is_ascii() {
        return Err(reject(400, "raw non-ASCII byte in the request target"));
    }
    if let Some(hash) = buf[target.clone()].iter().position(|b| *b == b'#') {
        target.end = target.start + hash;
        head.target = target.clone();
    }
    let bytes = &buf[target.clone()];
    let mut path_start = target.start;
    if bytes.first() == Some(&b'/') {
        // origin-form
    } else if bytes == b"*" && method == b"OPTIONS" {
        head.path = target.clone();
        head.query = target.end..target.end;
        return Ok(());
    } else if let Some(after_scheme) = strip_scheme(bytes) {
        let authority_start = target.start + (bytes.len() - after_scheme.len());
        let authority_len = after_scheme
            .iter()
            .position(|b| matches!(b, b'/' | b'?'))
            .unwrap_or(after_scheme.len());
        if authority_len == 0 {
            return Err(reject(400, "absolute-form target without a host"));
        }
        path_start = authority_start + authority_len;
    } else {
        return Err(reject(400, "invalid request target"));
    }
    let rest = &buf[path_start..target.end];
    match rest.iter().position(|b| *b == b'?') {
        Some(q) => {
            head.path = path_start..path_start + q;
            head.query = path_start + q + 1..target.end;
        }
        None => {
            head.path = path_start..target.end;
            head.query = target.end..target.end;
        }
    }
    Ok(())
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(reject(400, "invalid Content-Length"));
    }
    Ok(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'%'
        )
}

pub fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Percent-decodes a path for PATH_INFO; an invalid escape is kept as written.
pub fn percent_decode(input: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex_value(input[i + 1]), hex_value(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<RequestHead>, HttpError> {
        parse_request(raw.as_bytes(), 100)
    }

    fn status(raw: &str) -> u16 {
        match parse(raw) {
            Err(e) => e.status,
            Ok(Some(_)) => 200,
            Ok(None) => 0,
        }
    }

    #[test]
    fn simple_get() {
        let raw = "GET /a%20b?x=1#frag HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        let b = raw.as_bytes();
        assert_eq!(&b[head.method.clone()], b"GET");
        assert_eq!(&b[head.path.clone()], b"/a%20b");
        assert_eq!(&b[head.query.clone()], b"x=1");
        assert_eq!(&b[head.target.clone()], b"/a%20b?x=1");
        assert_eq!(head.headers.len(), 2);
        assert!(head.keep_alive);
        assert_eq!(head.framing, BodyFraming::None);
        assert_eq!(head.len, raw.len());
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
        assert_eq!(status("GET / HT"), 0);
    }

    #[test]
    fn absolute_form_and_leading_empty_lines() {
        let raw = "\r\n\r\nGET http://example.com/p/q?z HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(&raw.as_bytes()[head.path.clone()], b"/p/q");
        assert_eq!(&raw.as_bytes()[head.query.clone()], b"z");
        let raw = "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(&raw.as_bytes()[head.path.clone()], b"");
    }

    #[test]
    fn framing_rules() {
        let head = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, BodyFraming::Length(5));
        let head = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, BodyFraming::Length(5));
        let head = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, BodyFraming::Chunked);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400
        );
        assert_eq!(status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
            400,
            "obs-fold"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
            400,
            "space before colon"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
            400,
            "bare CR"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
            400,
            "NUL"
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"),
            400,
            "bad name"
        );
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400,
            "two Hosts"
        );
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTX/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET foo HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.0\r\n\r\n"),
            200,
            "HTTP/1.0 needs no Host"
        );
    }

    #[test]
    fn underscore_headers_are_dropped_and_keep_alive_follows_version() {
        let raw = "GET / HTTP/1.0\r\nX_Forwarded_For: evil\r\nConnection: keep-alive\r\n\r\n";
        let head = parse(raw).unwrap().unwrap();
        assert_eq!(head.headers.len(), 1);
        assert!(head.keep_alive);
        let head = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.keep_alive);
    }

    #[test]
    fn oversized_heads() {
        assert_eq!(head_too_large(b"GET /aaaaaaaaa").status, 414);
        assert_eq!(head_too_large(b"GET / HTTP/1.1\r\nX: aaaa").status, 431);
    }

    #[test]
    fn decoding() {
        assert_eq!(&*percent_decode(b"/a%20b%2Fc%zz%4"), b"/a b/c%zz%4");
    }
}
