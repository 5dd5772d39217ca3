//! The master–worker notify pipe: a worker tells the master it is ready, draining, or
//! without an application, naming its scoreboard entry. One notice is one 4-byte write
//! (kind, 0, entry as little-endian u16), below PIPE_BUF, so notices from many workers
//! never interleave.
//!
//! Must not: block (both ends are non-blocking) or carry anything but these notices.

use std::os::fd::{AsFd, OwnedFd};

use super::scoreboard::Scoreboard;

/// Exit status of a worker whose application could not be loaded (uWSGI's 22).
pub const EXIT_NO_APP: i32 = 22;

/// What a worker tells the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Its application is loaded and it accepts.
    Ready,
    /// It will exit after its requests: fork its successor now so capacity never drops.
    Draining,
    /// lazy-apps without need-app: the application did not load; this worker answers 500.
    NoApp,
}

impl Notice {
    fn code(self) -> u8 {
        match self {
            Notice::Ready => 1,
            Notice::Draining => 2,
            Notice::NoApp => 3,
        }
    }

    fn from_code(code: u8) -> Option<Notice> {
        match code {
            1 => Some(Notice::Ready),
            2 => Some(Notice::Draining),
            3 => Some(Notice::NoApp),
            _ => None,
        }
    }

    /// The bytes of this notice from scoreboard entry `entry`.
    pub fn encode(self, entry: usize) -> [u8; 4] {
        let entry = (entry as u16).to_le_bytes();
        [self.code(), 0, entry[0], entry[1]]
    }

    /// (notice, scoreboard entry) from four bytes; None for an unknown kind.
    pub fn decode(bytes: [u8; 4]) -> Option<(Notice, usize)> {
        let entry = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
        Some((Notice::from_code(bytes[0])?, entry))
    }
}

/// Every notice waiting in the (non-blocking) read end of the pipe.
pub fn read_all(pipe: impl AsFd) -> Vec<(Notice, usize)> {
    let mut notices = Vec::new();
    let mut message = [0u8; 4];
    while let Ok(4) = nix::unistd::read(pipe.as_fd(), &mut message) {
        notices.extend(Notice::decode(message));
    }
    notices
}

/// Who a worker is to the master: what the master hands to the worker's entry point.
pub struct Identity {
    pub id: usize,
    /// Its entry in the scoreboard.
    pub entry: usize,
    pub board: Scoreboard,
    /// The write end of the master's notify pipe.
    pub notify: OwnedFd,
}

impl Identity {
    /// Sends `notice` to the master; a full or closed pipe loses it (the master then
    /// learns from the scoreboard and SIGCHLD).
    pub fn notify_master(&self, notice: Notice) {
        let _ = nix::unistd::write(&self.notify, &notice.encode(self.entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_a_pipe() {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("a pipe");
        for (notice, entry) in [
            (Notice::Ready, 0),
            (Notice::Draining, 7),
            (Notice::NoApp, 65535),
        ] {
            nix::unistd::write(&write, &notice.encode(entry)).unwrap();
        }
        nix::unistd::write(&write, &[9, 0, 1, 0]).unwrap();
        assert_eq!(
            read_all(&read),
            vec![
                (Notice::Ready, 0),
                (Notice::Draining, 7),
                (Notice::NoApp, 65535)
            ]
        );
        assert_eq!(Notice::encode(Notice::Draining, 258), [2, 0, 2, 1]);
    }
}
