//! HTTP clients of a stats socket (`stats-http`, `metrics`) whose request head has not all
//! arrived: they wait here, non-blocking, polled with the master's other descriptors, so a
//! slow client (a browser's speculative connection, a loaded machine) never holds the
//! arbiter and still gets the page it asks for.
//!
//! Owns: reading request heads without blocking. Must not: build documents or route
//! (stats.rs does), or block: reads are non-blocking and only the answer's one write
//! waits, up to 200 ms.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

/// How long a client may take to send its request head; one that sends nothing gets the
/// JSON document (as a raw stats client would).
pub const HEAD_WAIT: Duration = Duration::from_secs(2);
/// Clients waiting at once per socket; beyond them a new one is answered at once.
pub const MAX_WAITING: usize = 64;
/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// A connected client and the part of its request head read so far.
pub struct Waiting {
    client: std::fs::File,
    head: Vec<u8>,
    until: Instant,
}

impl Waiting {
    pub fn new(client: socket2::Socket) -> Waiting {
        let _ = client.set_nonblocking(true);
        Waiting {
            client: std::fs::File::from(std::os::fd::OwnedFd::from(client)),
            head: Vec::new(),
            until: Instant::now() + HEAD_WAIT,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.client.as_fd()
    }

    /// Reads what has arrived; true once the head is complete, the client closed or
    /// failed, or its time is up.
    pub fn read_ready(&mut self, now: Instant) -> bool {
        let mut buf = [0u8; 2048];
        loop {
            if self.head.windows(4).any(|w| w == b"\r\n\r\n") || self.head.len() >= MAX_HEAD {
                return true;
            }
            match self.client.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return now >= self.until,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// The head read and the client to answer, blocking again for the answer's write.
    pub fn into_parts(self) -> (String, std::fs::File) {
        let socket = socket2::Socket::from(std::os::fd::OwnedFd::from(self.client));
        let _ = socket.set_nonblocking(false);
        let _ = socket.set_write_timeout(Some(Duration::from_millis(200)));
        let head = String::from_utf8_lossy(&self.head).into_owned();
        (
            head,
            std::fs::File::from(std::os::fd::OwnedFd::from(socket)),
        )
    }
}
