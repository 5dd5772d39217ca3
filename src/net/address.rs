//! What a listening socket is, as configured: an address (TCP or a unix path), the protocol
//! spoken on it, and where the line that asked for it was written.
//!
//! Owns: the address syntax (`host:port`, `:port`, `[v6]:port`, a unix path) and its name
//! resolution. Must not: bind, listen or touch the file system (`net` binds).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// The binary uwsgi protocol (what nginx's `uwsgi_pass` speaks).
    #[default]
    Uwsgi,
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Uwsgi => "uwsgi",
            Protocol::Http => "http",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Unix(path) => write!(f, "{}", path.display()),
            ListenAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// One configured listening socket (`socket`, `http-socket`...).
#[derive(Debug, Clone)]
pub struct SocketSpec {
    pub address: ListenAddress,
    pub protocol: Protocol,
    /// Where the option was written (`file:line`, `command line`), for messages.
    pub origin: String,
    /// Written in an ini file (not on the command line): under socket activation a unix
    /// socket of such a line is skipped (see `net::listeners`).
    pub in_file: bool,
}

/// Why an address cannot be listened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    Abstract,
    BadPort(String),
    Unresolvable { host: String, reason: String },
    NoAddress(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Abstract => write!(f, "abstract unix sockets are not supported"),
            AddressError::BadPort(port) => write!(f, "'{port}' is not a port number"),
            AddressError::Unresolvable { host, reason } => {
                write!(f, "cannot resolve '{host}': {reason}")
            }
            AddressError::NoAddress(host) => write!(f, "'{host}' has no address"),
        }
    }
}

impl std::error::Error for AddressError {}

/// `host:port`, `:port` (all IPv4 interfaces), `[v6]:port`, or else a unix socket path.
pub fn parse_address(value: &str) -> Result<ListenAddress, AddressError> {
    if value.starts_with('@') {
        return Err(AddressError::Abstract);
    }
    if value.starts_with('/') || value.starts_with('.') || !value.contains(':') {
        return Ok(ListenAddress::Unix(PathBuf::from(value)));
    }
    let (host, port) = value.rsplit_once(':').expect("checked ':'");
    let port: u16 = port
        .parse()
        .map_err(|_| AddressError::BadPort(port.to_string()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() || host == "*" {
        "0.0.0.0"
    } else {
        host
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| AddressError::Unresolvable {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .next()
        .map(ListenAddress::Tcp)
        .ok_or_else(|| AddressError::NoAddress(host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("[::1]:9000").unwrap(),
            ListenAddress::Tcp("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            parse_address("127.0.0.1:0").unwrap(),
            ListenAddress::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_address("app.sock").unwrap(),
            ListenAddress::Unix("app.sock".into())
        );
        assert_eq!(
            parse_address("127.0.0.1:http").unwrap_err().to_string(),
            "'http' is not a port number"
        );
    }
}
