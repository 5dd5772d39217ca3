//! The PROXY protocol (HAProxy's, versions 1 and 2) that a load balancer puts in front of
//! each connection to pass on the client's address (`http-enable-proxy-protocol`).
//!
//! Owns: recognising and parsing the header from the first bytes of a connection.
//! Must not: do I/O; the caller reads, passes what it has, and strips what was consumed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line (the specification's figure, CRLF included).
const V1_MAX: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Bytes the header took, to be removed before the request.
    pub len: usize,
    /// The original client, unless the header said UNKNOWN / LOCAL or a non-IP family.
    pub source: Option<(IpAddr, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError(pub &'static str);

/// `Ok(None)`: more bytes are needed. An error means the connection must be closed.
pub fn parse(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let probe = buf.len().min(V2_SIGNATURE.len());
    if buf[..probe] == V2_SIGNATURE[..probe] {
        return if buf.len() < 16 {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let probe = buf.len().min(6);
    if buf[..probe] != b"PROXY "[..probe] {
        return Err(ProxyError("connection does not start with a PROXY header"));
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError("PROXY v1 line too long"))
        } else {
            Ok(None)
        };
    };
    if end + 2 > V1_MAX {
        return Err(ProxyError("PROXY v1 line too long"));
    }
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError("PROXY v1 not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let len = end + 2;
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Some(ProxyHeader { len, source: None })),
        ["PROXY", family @ ("TCP4" | "TCP6"), source, _destination, source_port, _destination_port] =>
        {
            let address: IpAddr = source
                .parse()
                .map_err(|_| ProxyError("PROXY v1: invalid source address"))?;
            if address.is_ipv4() != (*family == "TCP4") {
                return Err(ProxyError("PROXY v1: address does not match its family"));
            }
            let port: u16 = source_port
                .parse()
                .map_err(|_| ProxyError("PROXY v1: invalid source port"))?;
            Ok(Some(ProxyHeader {
                len,
                source: Some((address, port)),
            }))
        }
        _ => Err(ProxyError("PROXY v1: malformed line")),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Err(ProxyError("PROXY v2: unknown version"));
    }
    let command = version_command & 0x0f;
    let family = buf[13];
    let body_len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let len = 16 + body_len;
    if buf.len() < len {
        return Ok(None);
    }
    let body = &buf[16..len];
    let source = match (command, family >> 4) {
        // LOCAL: a health check from the proxy itself; the real peer stands.
        (0, _) => None,
        (1, 1) => {
            if body.len() < 12 {
                return Err(ProxyError("PROXY v2: short IPv4 addresses"));
            }
            let address = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some((IpAddr::V4(address), u16::from_be_bytes([body[8], body[9]])))
        }
        (1, 2) => {
            if body.len() < 36 {
                return Err(ProxyError("PROXY v2: short IPv6 addresses"));
            }
            let octets: [u8; 16] = body[..16].try_into().expect("16 bytes");
            Some((
                IpAddr::V6(Ipv6Addr::from(octets)),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        (1, _) => None,
        _ => return Err(ProxyError("PROXY v2: unknown command")),
    };
    Ok(Some(ProxyHeader { len, source }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET / HTTP/1.1\r\n";
        let header = parse(line).unwrap().unwrap();
        assert_eq!(header.len, 42);
        assert_eq!(header.source, Some(("203.0.113.7".parse().unwrap(), 51234)));
        let v6 = parse(b"PROXY TCP6 2001:db8::1 ::1 4000 443\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(v6.source, Some(("2001:db8::1".parse().unwrap(), 4000)));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().source, None);
        assert_eq!(parse(b"PROXY TCP4 1.2.3"), Ok(None));
        assert_eq!(parse(b"PRO"), Ok(None));
        assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n").is_err());
        assert!(parse(b"PROXY TCP4 ::1 5.6.7.8 1 80\r\n").is_err());
        assert!(parse(&[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30)).is_err());
    }

    #[test]
    fn version_2() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[0x21, 0x11, 0, 12]);
        header.extend_from_slice(&[198, 51, 100, 9, 10, 0, 0, 1]);
        header.extend_from_slice(&443u16.to_be_bytes());
        header.extend_from_slice(&8080u16.to_be_bytes());
        let mut with_request = header.clone();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let parsed = parse(&with_request).unwrap().unwrap();
        assert_eq!(parsed.len, 28);
        assert_eq!(parsed.source, Some(("198.51.100.9".parse().unwrap(), 443)));
        assert_eq!(parse(&header[..20]), Ok(None));
        assert_eq!(parse(&header[..5]), Ok(None));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local).unwrap().unwrap().source, None);
        let mut bad = header.clone();
        bad[12] = 0x31;
        assert!(parse(&bad).is_err());
    }
}
