//! Listening sockets: binding the configured addresses in the master before any worker
//! exists, and removing the unix socket files rwsgi created (vacuum).
//!
//! Owns: bind/listen/chmod of our own sockets, stale-socket detection, what vacuum may
//! unlink. Must not: accept connections (workers do) or touch sockets it did not create.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::config::{Config, ListenAddress, Protocol};

/// A listening socket ready to be shared by every worker.
#[derive(Debug)]
pub struct Listener {
    pub fd: OwnedFd,
    pub protocol: Protocol,
    /// The real address (a TCP port 0 is resolved).
    pub address: ListenAddress,
    /// Set when rwsgi created the socket file itself: vacuum may remove it while its inode
    /// is unchanged.
    pub created: Option<(PathBuf, u64)>,
}

pub fn bind_all(config: &Config) -> Result<Vec<Listener>, String> {
    config
        .sockets
        .iter()
        .map(|spec| {
            bind_one(&spec.address, config.listen_backlog, config.chmod_socket)
                .map(|(fd, address, created)| Listener {
                    fd,
                    protocol: spec.protocol,
                    address,
                    created,
                })
                .map_err(|e| format!("cannot listen on {} ({}): {e}", spec.address, spec.protocol))
        })
        .collect()
}

type Bound = (OwnedFd, ListenAddress, Option<(PathBuf, u64)>);

fn bind_one(address: &ListenAddress, backlog: i32, chmod: Option<u32>) -> io::Result<Bound> {
    match address {
        ListenAddress::Tcp(addr) => {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(*addr))?;
            socket.listen(backlog)?;
            socket.set_nonblocking(true)?;
            let real = socket
                .local_addr()?
                .as_socket()
                .map(ListenAddress::Tcp)
                .unwrap_or_else(|| address.clone());
            Ok((socket.into(), real, None))
        }
        ListenAddress::Unix(path) => {
            remove_stale_socket(path)?;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.bind(&SockAddr::unix(path)?)?;
            if let Some(mode) = chmod {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            socket.listen(backlog)?;
            socket.set_nonblocking(true)?;
            let inode = std::fs::metadata(path)?.ino();
            Ok((socket.into(), address.clone(), Some((path.clone(), inode))))
        }
    }
}

/// A socket file left by a dead server is replaced; one a live server answers on is not.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    use std::os::unix::fs::FileTypeExt;
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket",
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another server is listening on this socket",
        ));
    }
    std::fs::remove_file(path)
}

/// Removes the socket files this process created, if they are still ours.
pub fn vacuum(listeners: &[Listener]) {
    for listener in listeners {
        if let Some((path, inode)) = &listener.created {
            if std::fs::metadata(path).is_ok_and(|m| m.ino() == *inode) {
                match std::fs::remove_file(path) {
                    Ok(()) => crate::log::info(&format!("vacuum: removed {}", path.display())),
                    Err(e) => {
                        crate::log::warn(&format!("vacuum: cannot remove {}: {e}", path.display()))
                    }
                }
            }
        }
    }
}
