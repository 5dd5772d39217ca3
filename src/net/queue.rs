//! How many connections wait in a listening socket's accept queue, as the kernel counts them:
//! TCP_INFO for TCP listeners, the sock_diag netlink interface for unix ones.
//!
//! Owns: asking the kernel. Must not: accept, or change the socket in any way.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::ListenAddress;

/// (connections waiting to be accepted, the queue's limit).
pub type QueueLength = (u32, u32);

pub fn listen_queue(fd: BorrowedFd<'_>, address: &ListenAddress) -> Option<QueueLength> {
    match address {
        ListenAddress::Tcp(_) => tcp_queue(fd),
        ListenAddress::Unix(_) => unix_queue(fd),
    }
}

fn tcp_queue(fd: BorrowedFd<'_>) -> Option<QueueLength> {
    // SAFETY: getsockopt writes at most `len` bytes into the tcp_info we own, and updates
    // `len`; the fd is a valid socket for the duration of the borrow.
    let info = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let status = libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if status != 0 {
            return None;
        }
        info
    };
    // For a listening socket the kernel reports the accept queue in these two fields.
    Some((info.tcpi_unacked, info.tcpi_sacked))
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_RQLEN: u16 = 4;
const TCP_LISTEN_STATE: u32 = 10;

fn unix_queue(fd: BorrowedFd<'_>) -> Option<QueueLength> {
    use nix::sys::socket::{
        recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    };
    let inode = nix::sys::stat::fstat(fd).ok()?.st_ino as u32;
    let netlink = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    // nlmsghdr (16 bytes) + unix_diag_req (24 bytes), native byte order.
    let mut request = Vec::with_capacity(40);
    request.extend_from_slice(&40u32.to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.push(libc::AF_UNIX as u8);
    request.push(0);
    request.extend_from_slice(&0u16.to_ne_bytes());
    request.extend_from_slice(&(1u32 << TCP_LISTEN_STATE).to_ne_bytes());
    request.extend_from_slice(&inode.to_ne_bytes());
    request.extend_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes());
    request.extend_from_slice(&u32::MAX.to_ne_bytes());
    request.extend_from_slice(&u32::MAX.to_ne_bytes());
    send(netlink.as_fd().as_raw_fd(), &request, MsgFlags::empty()).ok()?;
    let mut reply = [0u8; 512];
    let n = recv(netlink.as_fd().as_raw_fd(), &mut reply, MsgFlags::empty()).ok()?;
    parse_unix_diag_reply(&reply[..n])
}

/// The UNIX_DIAG_RQLEN attribute of a sock_diag reply: (queued, limit) for a listener.
fn parse_unix_diag_reply(reply: &[u8]) -> Option<QueueLength> {
    let u16_at = |at: usize| Some(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    let message_len = u32_at(0)? as usize;
    if u16_at(4)? != SOCK_DIAG_BY_FAMILY || message_len > reply.len() {
        return None;
    }
    // nlmsghdr (16) + unix_diag_msg (16), then rtattrs aligned to 4 bytes.
    let mut at = 32;
    while at + 4 <= message_len {
        let len = u16_at(at)? as usize;
        if len < 4 {
            return None;
        }
        if u16_at(at + 2)? == UNIX_DIAG_RQLEN {
            return Some((u32_at(at + 4)?, u32_at(at + 8)?));
        }
        at += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_waiting_connections_on_unix_and_tcp_listeners() {
        let dir = std::env::temp_dir().join(format!("rwsgi-queue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("q.sock");
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let address = ListenAddress::Unix(path.clone());
        assert_eq!(listen_queue(unix.as_fd(), &address).map(|q| q.0), Some(0));
        let clients: Vec<_> = (0..3)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        let (queued, limit) = listen_queue(unix.as_fd(), &address).unwrap();
        assert_eq!(queued, 3);
        assert!(limit >= 3);
        drop(clients);

        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_address = ListenAddress::Tcp(tcp.local_addr().unwrap());
        let _waiting: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap())
            .collect();
        assert_eq!(
            listen_queue(tcp.as_fd(), &tcp_address).map(|q| q.0),
            Some(2)
        );
    }
}
