//! The binary uwsgi protocol that nginx's `uwsgi_pass` speaks: a 4-byte header (modifier1,
//! little-endian u16 datasize, modifier2) and a block of length-prefixed key/value pairs.
//!
//! Owns: packet syntax and its limits. Must not: do I/O, or give meaning to vars (the WSGI
//! adapter decides which to keep; `UWSGI_*` magic keys are never acted on).

use std::fmt;
use std::ops::Range;

/// The header in front of the vars block.
pub const HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub modifier1: u8,
    /// Key and value ranges into the buffer given to `parse_packet`.
    pub vars: Vec<(Range<usize>, Range<usize>)>,
    /// Header plus vars block: where the body starts.
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    /// Someone spoke HTTP to a uwsgi socket (uWSGI's cryptic "invalid request block size 21573").
    LooksLikeHttp,
    UnsupportedModifier(u8),
    TooLarge {
        size: usize,
        max: usize,
    },
    EmptyKey,
    Overrun,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::LooksLikeHttp => {
                write!(f, "this is a uwsgi socket; HTTP request received (use http-socket for HTTP clients)")
            }
            PacketError::UnsupportedModifier(m) => {
                write!(
                    f,
                    "unsupported uwsgi modifier1 {m} (only 0 and 30 are WSGI requests)"
                )
            }
            PacketError::TooLarge { size, max } => {
                write!(
                    f,
                    "uwsgi vars block of {size} bytes exceeds buffer-size {max}"
                )
            }
            PacketError::EmptyKey => write!(f, "uwsgi var with an empty key"),
            PacketError::Overrun => write!(f, "uwsgi var overruns the vars block"),
        }
    }
}

/// Parses the packet at the start of `buf`; `Ok(None)` means more bytes are needed.
/// `max_vars_size` is `buffer-size` capped at 65535.
pub fn parse_packet(buf: &[u8], max_vars_size: usize) -> Result<Option<Packet>, PacketError> {
    if looks_like_http(buf) {
        return Err(PacketError::LooksLikeHttp);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let modifier1 = buf[0];
    if modifier1 != 0 && modifier1 != 30 {
        return Err(PacketError::UnsupportedModifier(modifier1));
    }
    let size = usize::from(u16::from_le_bytes([buf[1], buf[2]]));
    if size > max_vars_size.min(65535) {
        return Err(PacketError::TooLarge {
            size,
            max: max_vars_size.min(65535),
        });
    }
    let end = HEADER_LEN + size;
    if buf.len() < end {
        return Ok(None);
    }
    let mut vars = Vec::with_capacity(32);
    let mut pos = HEADER_LEN;
    while pos < end {
        let key = take_string(buf, &mut pos, end)?;
        if key.is_empty() {
            return Err(PacketError::EmptyKey);
        }
        let value = take_string(buf, &mut pos, end)?;
        vars.push((key, value));
    }
    Ok(Some(Packet {
        modifier1,
        vars,
        len: end,
    }))
}

/// The value of the first var named `key`.
pub fn find_var<'a>(buf: &'a [u8], packet: &Packet, key: &[u8]) -> Option<&'a [u8]> {
    packet
        .vars
        .iter()
        .find(|(k, _)| &buf[k.clone()] == key)
        .map(|(_, v)| &buf[v.clone()])
}

fn take_string(buf: &[u8], pos: &mut usize, end: usize) -> Result<Range<usize>, PacketError> {
    if *pos + 2 > end {
        return Err(PacketError::Overrun);
    }
    let len = usize::from(u16::from_le_bytes([buf[*pos], buf[*pos + 1]]));
    let start = *pos + 2;
    if start + len > end {
        return Err(PacketError::Overrun);
    }
    *pos = start + len;
    Ok(start..start + len)
}

fn looks_like_http(buf: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] = [
        b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"PATC", b"CONN", b"TRAC",
    ];
    buf.len() >= 4 && METHODS.iter().any(|m| buf.starts_with(m))
}

#[cfg(test)]
fn encode_packet(vars: &[(&[u8], &[u8])], modifier1: u8) -> Vec<u8> {
    let mut block = Vec::new();
    for (key, value) in vars {
        block.extend_from_slice(&(key.len() as u16).to_le_bytes());
        block.extend_from_slice(key);
        block.extend_from_slice(&(value.len() as u16).to_le_bytes());
        block.extend_from_slice(value);
    }
    let mut packet = vec![modifier1];
    packet.extend_from_slice(&(block.len() as u16).to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&block);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let packet = encode_packet(
            &[
                (b"REQUEST_METHOD", b"GET"),
                (b"PATH_INFO", b"/"),
                (b"EMPTY", b""),
            ],
            0,
        );
        let mut buf = packet.clone();
        buf.extend_from_slice(b"body");
        let parsed = parse_packet(&buf, 4096).unwrap().unwrap();
        assert_eq!(parsed.len, packet.len());
        assert_eq!(parsed.vars.len(), 3);
        assert_eq!(&buf[parsed.vars[0].1.clone()], b"GET");
        assert_eq!(&buf[parsed.vars[2].1.clone()], b"");
        assert_eq!(&buf[parsed.len..], b"body");
        for cut in 0..packet.len() {
            assert_eq!(parse_packet(&packet[..cut], 4096), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse_packet(b"GET / HTTP/1.1\r\n", 4096),
            Err(PacketError::LooksLikeHttp)
        );
        assert_eq!(
            parse_packet(&[5, 0, 0, 0], 4096),
            Err(PacketError::UnsupportedModifier(5))
        );
        assert_eq!(
            parse_packet(&[0, 0xff, 0xff, 0], 4096),
            Err(PacketError::TooLarge {
                size: 65535,
                max: 4096
            })
        );
        assert_eq!(
            parse_packet(&[0, 4, 0, 0, 0, 0, 1, 0], 4096),
            Err(PacketError::EmptyKey)
        );
        assert_eq!(
            parse_packet(&[0, 4, 0, 0, 1, 0, b'k', 9], 4096),
            Err(PacketError::Overrun)
        );
    }
}
