//! A client connection's socket that joins the event loop (epoll) only when an operation
//! first has to wait. A request that nginx sends whole, answered in one write and closed,
//! never costs the two epoll_ctl calls of registering and deregistering: that is most
//! `uwsgi_pass` requests.
//!
//! Owns: non-blocking reads and writes on one accepted socket and its lazy registration.
//! Must not: parse or buffer anything.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

enum Inner {
    /// Not known to epoll yet: every operation is a plain non-blocking syscall.
    Plain(Socket),
    Registered(AsyncFd<Socket>),
    /// Only while switching from Plain to Registered.
    Switching,
}

pub struct ClientSocket {
    inner: Inner,
}

/// Registers a socket with the current thread's event loop.
pub fn watch(socket: Socket, interest: Interest) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the Socket owns its descriptor, which stays open and the same until the
    // AsyncFd (which takes the Socket) is dropped; Socket::as_raw_fd always returns it.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(|e| e.into_parts().1)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl ClientSocket {
    /// `socket` must be non-blocking (accepted with SOCK_NONBLOCK).
    pub fn new(socket: Socket) -> ClientSocket {
        ClientSocket {
            inner: Inner::Plain(socket),
        }
    }

    fn register(&mut self) -> io::Result<()> {
        if let Inner::Plain(_) = self.inner {
            let Inner::Plain(socket) = std::mem::replace(&mut self.inner, Inner::Switching) else {
                unreachable!()
            };
            self.inner = Inner::Registered(watch(socket, Interest::READABLE | Interest::WRITABLE)?);
        }
        Ok(())
    }

    fn socket(&self) -> &Socket {
        match &self.inner {
            Inner::Plain(socket) => socket,
            Inner::Registered(fd) => fd.get_ref(),
            Inner::Switching => unreachable!("a failed registration leaves no socket to use"),
        }
    }

    /// Runs a write-like operation `f` on the descriptor, waiting for writability when it
    /// would block (sendfile uses this).
    pub async fn write_with<R>(
        &mut self,
        mut f: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            if let Inner::Plain(socket) = &self.inner {
                match f(socket.as_fd()) {
                    Err(e) if would_block(&e) => self.register()?,
                    result => return result,
                }
            }
            let Inner::Registered(fd) = &self.inner else {
                unreachable!()
            };
            let mut guard = fd.writable().await?;
            if let Ok(result) = guard.try_io(|inner| f(inner.get_ref().as_fd())) {
                return result;
            }
        }
    }

    /// `drained` says, from a successful result, that the socket has nothing more to give
    /// now (a read shorter than asked): the readiness is then cleared, so the next read waits
    /// for epoll's next edge instead of first trying a recv that would fail with EAGAIN.
    /// Data that arrives later raises a new edge, and tokio's readiness tick keeps an event
    /// seen in between from being cleared.
    fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut(&Socket) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            if let Inner::Plain(socket) = &self.inner {
                match op(socket) {
                    Err(e) if would_block(&e) => self.register()?,
                    result => return Poll::Ready(result),
                }
            }
            let Inner::Registered(fd) = &self.inner else {
                unreachable!()
            };
            let mut guard = if interest == Interest::READABLE {
                ready!(fd.poll_read_ready(cx))?
            } else {
                ready!(fd.poll_write_ready(cx))?
            };
            if let Ok(result) = guard.try_io(|inner| op(inner.get_ref())) {
                if result.as_ref().is_ok_and(&drained) {
                    guard.clear_ready();
                }
                return Poll::Ready(result);
            }
        }
    }
}

impl AsFd for ClientSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}

impl AsyncRead for ClientSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: recv(2) only writes into the uninitialised tail it is given and reports
        // how many bytes it wrote; exactly those are marked initialised and filled below.
        let unfilled = unsafe { buf.unfilled_mut() };
        let asked = unfilled.len();
        let n = ready!(this.poll_io(
            cx,
            Interest::READABLE,
            |s| s.recv(&mut *unfilled),
            |n| *n > 0 && *n < asked
        ))?;
        // SAFETY: recv wrote `n` bytes at the start of the unfilled region.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_io(cx, Interest::WRITABLE, |s| s.send(data), |_| false)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_io(cx, Interest::WRITABLE, |s| s.send_vectored(bufs), |_| false)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket().shutdown(std::net::Shutdown::Write))
    }
}
