//! Accepting connections on one listening socket, in each of the worker's threads: one
//! connection per turn, deferring to a less loaded worker for a moment, and serving a
//! request that is already whole right away, with no task spawned.
//!
//! Owns: the worker's own copies of the listening sockets, its open-connection count, the
//! accept back-off. Must not: bind or close the master's sockets, or read requests.

use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::Interest;

use super::client::{self, ClientSocket};
use super::{connection, Shared};
use crate::config::{ListenAddress, Protocol};
use crate::net::Listener;
use crate::wsgi::environ::Endpoint;

const ACCEPT_BATCH: usize = 1;
/// Connections a worker may hold over the least loaded one before it defers accepting.
const ACCEPT_SLACK: u64 = 2;
/// A deferred connection is taken anyway after this long (the others may be stuck in Python).
const ACCEPT_DEFER_LIMIT: Duration = Duration::from_millis(5);

/// A thread's own descriptor for one of the master's listening sockets.
pub struct WorkerSocket {
    /// Position among the master's listeners (the metrics' listener label).
    index: usize,
    fd: OwnedFd,
    protocol: Protocol,
    address: ListenAddress,
}

pub fn duplicate(listeners: &[Listener]) -> Vec<WorkerSocket> {
    listeners
        .iter()
        .enumerate()
        .map(|(index, l)| WorkerSocket {
            index,
            fd: l
                .fd
                .as_fd()
                .try_clone_to_owned()
                .expect("dup a listening socket"),
            protocol: l.protocol,
            address: l.address.clone(),
        })
        .collect()
}

impl Shared {
    /// Whether this worker should leave the next connection to a less busy one: it holds
    /// more than `ACCEPT_SLACK` connections over the least loaded ready worker. Keep-alive
    /// connections stay where they were accepted, so an early imbalance would last.
    fn should_defer_accept(&self) -> bool {
        let entry = self.identity.board.entry(self.identity.entry);
        let mine = entry.connections.load(Ordering::Relaxed);
        self.identity
            .board
            .fewest_connections_elsewhere(self.identity.entry)
            .is_some_and(|fewest| mine > fewest + ACCEPT_SLACK)
    }

    /// Counts an open client connection until the returned guard drops.
    pub fn open_connection(self: &Arc<Self>) -> ConnectionCount {
        let entry = self.identity.board.entry(self.identity.entry);
        entry.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionCount(self.clone())
    }
}

/// Keeps a worker's open-connection count while a connection lives.
pub struct ConnectionCount(Arc<Shared>);

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        let entry = self.0.identity.board.entry(self.0.identity.entry);
        entry.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every connection accepted on one socket shares.
struct Side {
    /// SERVER_NAME and SERVER_PORT: the socket's address (a unix socket: localhost:80).
    server_name: Arc<str>,
    server_port: Arc<str>,
    tcp: bool,
    /// The socket's position among the master's listeners, protocol and address.
    index: usize,
    protocol: Protocol,
    address: ListenAddress,
}

/// Accepts on one listening socket until the worker drains. Accepted sockets are
/// non-blocking from the start (accept4) and join epoll only if they ever have to wait.
pub async fn accept_loop(shared: Arc<Shared>, socket: WorkerSocket) {
    let WorkerSocket {
        index,
        fd,
        protocol,
        address,
    } = socket;
    let listener = match client::watch(Socket::from(fd), Interest::READABLE) {
        Ok(listener) => listener,
        Err(e) => {
            crate::log::error(&format!("cannot watch listener {address}: {e}"));
            return;
        }
    };
    let (server_name, server_port) = match &address {
        ListenAddress::Tcp(addr) => (addr.ip().to_string(), addr.port().to_string()),
        ListenAddress::Unix(_) => ("localhost".to_string(), "80".to_string()),
    };
    let side = Side {
        server_name: server_name.into(),
        server_port: server_port.into(),
        tcp: matches!(address, ListenAddress::Tcp(_)),
        index,
        protocol,
        address,
    };
    let mut drain = shared.drain_signal();
    let mut deferring_since: Option<Instant> = None;
    loop {
        let mut guard = tokio::select! {
            biased;
            _ = drain.wait_for(|d| *d) => return,
            ready = listener.readable() => match ready {
                Ok(guard) => guard,
                Err(e) => {
                    crate::log::error(&format!("listener {}: {e}", side.address));
                    return;
                }
            },
        };
        // One connection per turn: the worker then serves what is ready before it accepts
        // again, so a burst of new connections spreads over every idle worker instead of
        // piling onto whichever woke first.
        if shared.should_defer_accept()
            && deferring_since.is_none_or(|since| since.elapsed() < ACCEPT_DEFER_LIMIT)
        {
            deferring_since.get_or_insert_with(Instant::now);
            drop(guard);
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        deferring_since = None;
        let back_off = accept_batch(&shared, &side, &listener, &mut guard).await;
        drop(guard);
        if back_off {
            // Out of descriptors or memory: wait instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Accepts up to `ACCEPT_BATCH` connections and starts serving each; true when accepting
/// failed in a way worth backing off for (out of descriptors or memory).
async fn accept_batch(
    shared: &Arc<Shared>,
    side: &Side,
    listener: &AsyncFd<Socket>,
    guard: &mut AsyncFdReadyGuard<'_, Socket>,
) -> bool {
    for _ in 0..ACCEPT_BATCH {
        match listener
            .get_ref()
            .accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        {
            Ok((client, peer)) => start_connection(shared, side, client, peer).await,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                guard.clear_ready();
                break;
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNABORTED) | Some(libc::EINTR)
                ) => {}
            Err(e) => {
                crate::log::warn(&format!("accept on {}: {e}", side.address));
                return true;
            }
        }
    }
    false
}

/// Serves an accepted connection. A request already whole in the socket (nginx writes it
/// as it connects) is usually answered and closed in this first poll, with no task
/// spawned; one that has to wait goes on as its own task.
async fn start_connection(shared: &Arc<Shared>, side: &Side, client: Socket, peer: SockAddr) {
    let (remote_addr, remote_port) = match peer.as_socket() {
        Some(addr) => (addr.ip().to_string(), addr.port().to_string()),
        None => (String::new(), String::new()),
    };
    if side.tcp {
        let _ = client.set_tcp_nodelay(true);
        if shared.so_keepalive {
            let _ = client.set_keepalive(true);
        }
    }
    let endpoint = Endpoint {
        remote_addr,
        remote_port,
        server_name: side.server_name.clone(),
        server_port: side.server_port.clone(),
        listener: side.index,
    };
    let count = shared.open_connection();
    let serve = connection::serve(
        ClientSocket::new(client),
        side.protocol,
        endpoint,
        shared.clone(),
    );
    let mut serve = Box::pin(async move {
        serve.await;
        drop(count);
    });
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(serve.as_mut().poll(cx))).await;
    if first.is_pending() {
        tokio::task::spawn_local(serve);
    }
}
