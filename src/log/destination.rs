//! Where lines go besides stderr and the journal: `req-logger` and named loggers
//! (`file:PATH`, `stdio`, `syslog[:TAG]`), and the syslog socket.
//!
//! Owns: parsing a destination, opening it, and writing one line to it in one write.
//! Must not: decide which lines go where (`log` and `log-route` do).

use std::io::Write;
use std::path::PathBuf;

use super::INFO;

/// Where `req-logger` (and a named `logger`) sends lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestLogger {
    File(PathBuf),
    Stdio,
    Syslog(String),
}

/// A `logger`/`req-logger` value that names no destination rwsgi writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDestination;

impl std::fmt::Display for UnknownDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expected file:PATH, stdio or syslog[:TAG]")
    }
}

impl std::error::Error for UnknownDestination {}

impl RequestLogger {
    /// `file:PATH`, `stdio` or `syslog[:TAG]`, as `logger` and `req-logger` take them.
    pub fn parse(value: &str) -> Result<RequestLogger, UnknownDestination> {
        match value.split_once(':').map_or((value, ""), |(k, v)| (k, v)) {
            ("file", path) if !path.is_empty() => Ok(RequestLogger::File(PathBuf::from(path))),
            ("stdio", _) => Ok(RequestLogger::Stdio),
            ("syslog", tag) => Ok(RequestLogger::Syslog(if tag.is_empty() {
                "rwsgi".to_string()
            } else {
                tag.to_string()
            })),
            _ => Err(UnknownDestination),
        }
    }
}

/// A destination, opened.
pub(super) enum RequestSink {
    File(std::fs::File),
    Stdio,
    Syslog(std::os::unix::net::UnixDatagram, String),
}

pub(super) fn open_sink(destination: RequestLogger, what: &str) -> Option<RequestSink> {
    match destination {
        RequestLogger::Stdio => Some(RequestSink::Stdio),
        RequestLogger::Syslog(tag) => {
            syslog_socket().map(|socket| RequestSink::Syslog(socket, tag))
        }
        RequestLogger::File(path) => match super::file::open_log_file(&path) {
            Ok(file) => Some(RequestSink::File(file)),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "rwsgi: error: {what} {}: {e}",
                    path.display()
                );
                std::process::exit(2);
            }
        },
    }
}

pub(super) fn syslog_socket() -> Option<std::os::unix::net::UnixDatagram> {
    let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
    socket.connect("/dev/log").ok()?;
    Some(socket)
}

impl RequestSink {
    pub(super) fn write_line(&self, line: &str) {
        match self {
            RequestSink::Syslog(socket, tag) => {
                let _ = socket.send(syslog_line(INFO, tag, line).as_bytes());
            }
            _ => self.write_raw(&format!("{line}\n")),
        }
    }

    /// Exactly `text`, in one write, so lines from several processes never interleave.
    pub(super) fn write_raw(&self, text: &str) {
        match self {
            RequestSink::File(file) => {
                let _ = (&*file).write_all(text.as_bytes());
            }
            RequestSink::Stdio => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            RequestSink::Syslog(..) => self.write_line(text.trim_end_matches('\n')),
        }
    }
}

/// RFC 3164 as /dev/log takes it: `<facility daemon (3) * 8 + priority>TAG[pid]: text`.
pub(super) fn syslog_line(priority: u8, tag: &str, text: &str) -> String {
    format!("<{}>{tag}[{}]: {text}", 24 + priority, std::process::id())
}
