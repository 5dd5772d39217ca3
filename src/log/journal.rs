//! The journal's native protocol: one datagram per entry with structured fields, so
//! `journalctl -u X STATUS=500` and `-o json` work and a traceback stays one entry.
//!
//! Owns: detecting that stderr is the journal (JOURNAL_STREAM), field encoding, the memfd
//! path for entries too large for a datagram. Must not: format messages (log does).
//!
//! Written here rather than with tracing-journald or systemd-journal-logger: rwsgi logs
//! through its own small facade from forked processes, adds per-request fields, and its
//! tests must point it at a socket they create (RWSGI_JOURNAL_SOCKET), which neither crate
//! allows.

use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

const DEFAULT_SOCKET: &str = "/run/systemd/journal/socket";

pub struct Journal {
    socket: UnixDatagram,
    path: PathBuf,
    /// SYSLOG_IDENTIFIER of every entry: RWSGI_SYSLOG_IDENTIFIER (the packaged unit sets
    /// it to its SyslogIdentifier=, rwsgi-NAME, so the instance has one identifier for
    /// rwsgi's entries and the application's output), or `rwsgi`.
    identifier: String,
}

impl Journal {
    /// The journal, when stderr is connected to it (systemd sets JOURNAL_STREAM to the
    /// device and inode of the stream it gave us).
    pub fn detect() -> Option<Journal> {
        let stream = std::env::var("JOURNAL_STREAM").ok()?;
        let (device, inode) = stream.split_once(':')?;
        let stat = nix::sys::stat::fstat(std::io::stderr()).ok()?;
        if device.parse::<u64>().ok()? != stat.st_dev || inode.parse::<u64>().ok()? != stat.st_ino {
            return None;
        }
        let path = std::env::var_os("RWSGI_JOURNAL_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        let socket = UnixDatagram::unbound().ok()?;
        let identifier = std::env::var("RWSGI_SYSLOG_IDENTIFIER")
            .ok()
            .filter(|name| !name.is_empty() && !name.contains('\n'))
            .unwrap_or_else(|| "rwsgi".to_string());
        Some(Journal {
            socket,
            path,
            identifier,
        })
    }

    /// Sends one entry: MESSAGE, PRIORITY (syslog level), SYSLOG_IDENTIFIER, and `fields`.
    pub fn send(&self, priority: u8, message: &str, fields: &[(&str, &str)]) -> io::Result<()> {
        let mut payload = Vec::with_capacity(message.len() + 128);
        encode(&mut payload, "PRIORITY", &priority.to_string());
        encode(&mut payload, "SYSLOG_IDENTIFIER", &self.identifier);
        encode(&mut payload, "SYSLOG_PID", &std::process::id().to_string());
        encode(&mut payload, "MESSAGE", message);
        for (key, value) in fields {
            encode(&mut payload, key, value);
        }
        match self.socket.send_to(&payload, &self.path) {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EMSGSIZE)
                    || e.raw_os_error() == Some(libc::ENOBUFS) =>
            {
                self.send_large(&payload)
            }
            Err(e) => Err(e),
        }
    }

    /// Entries over the datagram limit travel as a sealed memfd (systemd's own method).
    fn send_large(&self, payload: &[u8]) -> io::Result<()> {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
        let fd = memfd_create(
            c"rwsgi-journal",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(payload)?;
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        nix::fcntl::fcntl(
            &file,
            nix::fcntl::FcntlArg::F_ADD_SEALS(nix::fcntl::SealFlag::from_bits_truncate(seals)),
        )?;
        let address = UnixAddr::new(&self.path)?;
        let fds = [file.as_raw_fd()];
        sendmsg(
            self.socket.as_raw_fd(),
            &[] as &[IoSlice<'_>],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            Some(&address),
        )?;
        Ok(())
    }
}

/// `KEY=value\n`, or the binary form for values holding a newline.
fn encode(out: &mut Vec<u8>, key: &str, value: &str) {
    if value.contains('\n') {
        out.extend_from_slice(key.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    } else {
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        let mut out = Vec::new();
        encode(&mut out, "A", "one line");
        encode(&mut out, "B", "two\nlines");
        let mut expected = b"A=one line\nB\n".to_vec();
        expected.extend_from_slice(&9u64.to_le_bytes());
        expected.extend_from_slice(b"two\nlines\n");
        assert_eq!(out, expected);
    }
}
