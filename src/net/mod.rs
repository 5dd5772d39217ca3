//! Listening sockets: binding the configured addresses in the master before any worker
//! exists, adopting sockets passed in (by systemd, or by the previous master image across a
//! reload), and removing the unix socket files rwsgi created (vacuum).
//!
//! Owns: bind/listen/chmod of our own sockets, stale-socket detection, matching inherited
//! sockets to configuration, what vacuum may unlink. Must not: accept connections (workers
//! do) or unlink, chmod or re-bind a socket it did not create.

pub mod address;
pub mod queue;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

use crate::ipc::handoff::{self, ListenerHandoff};
pub use address::{parse_address, AddressError, ListenAddress, Protocol, SocketSpec};

/// A listening socket ready to be shared by every worker.
#[derive(Debug)]
pub struct Listener {
    pub fd: OwnedFd,
    pub protocol: Protocol,
    /// The real address (a TCP port 0 is resolved).
    pub address: ListenAddress,
    /// As configured (port 0 stays 0): how a reloaded master recognises the socket.
    pub configured: ListenAddress,
    /// Set when rwsgi created the socket file itself: vacuum may remove it while its inode
    /// is unchanged.
    pub created: Option<(PathBuf, u64)>,
    pub from_systemd: bool,
}

/// A socket this process did not bind itself.
#[derive(Debug)]
pub struct Inherited {
    pub fd: OwnedFd,
    pub origin: InheritedFrom,
}

#[derive(Debug)]
pub enum InheritedFrom {
    /// Socket activation; the name is FileDescriptorName= (or "unknown").
    Systemd { name: String },
    /// Passed by the previous master image on reload, with what it knew of it.
    Reload {
        protocol: Protocol,
        configured: ListenAddress,
        created: Option<(PathBuf, u64)>,
        from_systemd: bool,
    },
}

/// What `listeners` needs of the configuration (`config` converts its `Config`).
#[derive(Debug, Clone, Copy)]
pub struct ListenSettings<'a> {
    pub sockets: &'a [SocketSpec],
    pub listen_backlog: i32,
    pub chmod_socket: Option<u32>,
    /// Protocol of systemd sockets that match no option and have no name.
    pub protocol: Protocol,
}

/// Why the listening sockets could not be had.
#[derive(Debug)]
pub enum ListenError {
    /// A socket systemd or the previous image passed could not be used (`address`: the
    /// configured address it was taken for, if any).
    Inherited {
        address: Option<String>,
        cause: io::Error,
    },
    /// A configured address could not be bound.
    Bind {
        address: String,
        protocol: Protocol,
        cause: io::Error,
    },
}

impl ListenError {
    fn inherited(address: Option<&ListenAddress>) -> impl FnOnce(io::Error) -> ListenError {
        let address = address.map(ToString::to_string);
        move |cause| ListenError::Inherited { address, cause }
    }
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::Inherited {
                address: None,
                cause,
            } => write!(f, "inherited socket: {cause}"),
            ListenError::Inherited {
                address: Some(address),
                cause,
            } => write!(f, "inherited socket for {address}: {cause}"),
            ListenError::Bind {
                address,
                protocol,
                cause,
            } => write!(f, "cannot listen on {address} ({protocol}): {cause}"),
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenError::Inherited { cause, .. } | ListenError::Bind { cause, .. } => Some(cause),
        }
    }
}

/// Binds or adopts every configured socket. A configured address takes, in order: the
/// socket the previous master image held for it (reload), a socket systemd passed whose
/// real address is that address, or a fresh bind. systemd sockets that no option names
/// are served too; sockets of a previous image that are no longer configured are closed.
pub fn listeners<'a>(
    settings: impl Into<ListenSettings<'a>>,
    inherited: Vec<Inherited>,
) -> Result<Vec<Listener>, ListenError> {
    let config = settings.into();
    // systemd passes blocking sockets; a worker's event loop needs non-blocking ones.
    for item in &inherited {
        SockRef::from(&item.fd)
            .set_nonblocking(true)
            .map_err(ListenError::inherited(None))?;
    }
    let mut pool = inherited;
    let mut out = Vec::new();
    let systemd_addresses = systemd_addresses(&pool);
    for spec in config.sockets {
        if out
            .iter()
            .any(|l: &Listener| l.configured == spec.address && l.protocol == spec.protocol)
        {
            // The same socket named twice (say in the unit's ExecStart and in the ini).
            continue;
        }
        if let Some(listener) = take_inherited(&mut pool, spec)? {
            out.push(listener);
        } else if !left_to_systemd(spec, &systemd_addresses) {
            out.push(bind_configured(spec, &config)?);
        }
    }
    for item in pool {
        out.extend(unclaimed(item, config.protocol)?);
    }
    Ok(out)
}

/// Where the sockets systemd passes (now or to the first image of this reload chain) are,
/// for the warning about unix socket lines they make redundant.
fn systemd_addresses(pool: &[Inherited]) -> Vec<String> {
    pool.iter()
        .filter(|item| {
            matches!(
                item.origin,
                InheritedFrom::Systemd { .. }
                    | InheritedFrom::Reload {
                        from_systemd: true,
                        ..
                    }
            )
        })
        .filter_map(|item| socket_address(item.fd.as_fd()).ok())
        .map(|address| address.to_string())
        .collect()
}

/// The inherited socket for `spec`, taken out of the pool: the one the previous image held
/// for it, or a systemd socket at its address.
fn take_inherited(
    pool: &mut Vec<Inherited>,
    spec: &SocketSpec,
) -> Result<Option<Listener>, ListenError> {
    let position = pool.iter().position(|item| match &item.origin {
        InheritedFrom::Reload {
            configured,
            protocol,
            ..
        } => *configured == spec.address && *protocol == spec.protocol,
        InheritedFrom::Systemd { .. } => {
            socket_address(item.fd.as_fd()).is_ok_and(|real| same_address(&real, &spec.address))
        }
    });
    let Some(position) = position else {
        return Ok(None);
    };
    let item = pool.remove(position);
    let (created, from_systemd) = match item.origin {
        InheritedFrom::Reload {
            created,
            from_systemd,
            ..
        } => (created, from_systemd),
        InheritedFrom::Systemd { .. } => (None, true),
    };
    let address =
        socket_address(item.fd.as_fd()).map_err(ListenError::inherited(Some(&spec.address)))?;
    Ok(Some(Listener {
        fd: item.fd,
        protocol: spec.protocol,
        address,
        configured: spec.address.clone(),
        created,
        from_systemd,
    }))
}

/// Whether a unix socket line of the ini is skipped (with a warning) because systemd
/// passes the service its sockets.
fn left_to_systemd(spec: &SocketSpec, systemd_addresses: &[String]) -> bool {
    if systemd_addresses.is_empty()
        || !spec.in_file
        || !matches!(spec.address, ListenAddress::Unix(_))
    {
        return false;
    }
    // An ini written for a root-started uWSGI names its own socket; under a socket unit
    // the service cannot (and need not) create it. The command line (the unit's own
    // ExecStart) is taken as meant.
    crate::log::warn(&format!(
        "{}: socket {} skipped: systemd passes this service its socket ({}); point nginx there, or drop the line",
        spec.origin,
        spec.address,
        systemd_addresses.join(", ")
    ));
    true
}

/// A fresh socket bound for `spec`.
fn bind_configured(
    spec: &SocketSpec,
    config: &ListenSettings<'_>,
) -> Result<Listener, ListenError> {
    let (fd, address, created) =
        bind_listener(&spec.address, config.listen_backlog, config.chmod_socket).map_err(
            |cause| ListenError::Bind {
                address: spec.address.to_string(),
                protocol: spec.protocol,
                cause,
            },
        )?;
    Ok(Listener {
        fd,
        protocol: spec.protocol,
        address,
        configured: spec.address.clone(),
        created,
        from_systemd: false,
    })
}

/// An inherited socket no option claimed: a systemd socket is served (its protocol from its
/// FileDescriptorName=, else `protocol`); one of a previous image's own is closed.
fn unclaimed(item: Inherited, protocol: Protocol) -> Result<Option<Listener>, ListenError> {
    let address = socket_address(item.fd.as_fd()).map_err(ListenError::inherited(None))?;
    let protocol = match &item.origin {
        InheritedFrom::Systemd { name } => match name.as_str() {
            "http" | "http-socket" => Protocol::Http,
            "uwsgi" | "uwsgi-socket" => Protocol::Uwsgi,
            _ => protocol,
        },
        InheritedFrom::Reload {
            from_systemd: true,
            protocol,
            ..
        } => *protocol,
        InheritedFrom::Reload { .. } => {
            crate::log::info(&format!("socket {address} is no longer configured: closed"));
            return Ok(None);
        }
    };
    Ok(Some(Listener {
        fd: item.fd,
        protocol,
        configured: address.clone(),
        address,
        created: None,
        from_systemd: true,
    }))
}

/// The sockets a previous master image passed, kept as they were, without a configuration:
/// a reload that fails goes on serving (and can reload again) on them.
pub fn adopt_unchanged(inherited: Vec<Inherited>) -> Vec<Listener> {
    inherited
        .into_iter()
        .filter_map(|item| {
            let address = socket_address(item.fd.as_fd()).ok()?;
            let (protocol, configured, created, from_systemd) = match item.origin {
                InheritedFrom::Reload {
                    protocol,
                    configured,
                    created,
                    from_systemd,
                } => (protocol, configured, created, from_systemd),
                InheritedFrom::Systemd { name } => {
                    let protocol = if name.starts_with("http") {
                        Protocol::Http
                    } else {
                        Protocol::Uwsgi
                    };
                    (protocol, address.clone(), None, true)
                }
            };
            Some(Listener {
                fd: item.fd,
                protocol,
                address,
                configured,
                created,
                from_systemd,
            })
        })
        .collect()
}

/// Duplicates inherited sockets (the copy keeps its origin), so they survive a failed use.
pub fn duplicate_inherited(inherited: &[Inherited]) -> Vec<Inherited> {
    inherited
        .iter()
        .filter_map(|item| {
            let fd = item.fd.try_clone().ok()?;
            let origin = match &item.origin {
                InheritedFrom::Systemd { name } => InheritedFrom::Systemd { name: name.clone() },
                InheritedFrom::Reload {
                    protocol,
                    configured,
                    created,
                    from_systemd,
                } => InheritedFrom::Reload {
                    protocol: *protocol,
                    configured: configured.clone(),
                    created: created.clone(),
                    from_systemd: *from_systemd,
                },
            };
            Some(Inherited { fd, origin })
        })
        .collect()
}

/// Whether a socket's real address is the configured one: unix paths compared absolute,
/// and a configured wildcard address matches systemd's dual-stack `[::]:port` too.
fn same_address(real: &ListenAddress, configured: &ListenAddress) -> bool {
    match (real, configured) {
        (ListenAddress::Unix(a), ListenAddress::Unix(b)) => {
            let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
            absolute(a) == absolute(b)
        }
        (ListenAddress::Tcp(a), ListenAddress::Tcp(b)) => {
            a == b || (a.port() == b.port() && a.ip().is_unspecified() && b.ip().is_unspecified())
        }
        _ => false,
    }
}

/// The address a listening socket is bound to, as read from the descriptor.
pub fn socket_address(fd: BorrowedFd<'_>) -> io::Result<ListenAddress> {
    let address = SockRef::from(&fd).local_addr()?;
    if let Some(inet) = address.as_socket() {
        return Ok(ListenAddress::Tcp(inet));
    }
    match address.as_pathname() {
        Some(path) => Ok(ListenAddress::Unix(path.to_path_buf())),
        None => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "an unnamed or abstract unix socket",
        )),
    }
}

pub type Bound = (OwnedFd, ListenAddress, Option<(PathBuf, u64)>);

/// The one binder: a listening, non-blocking socket on `address` (the configured sockets,
/// and the stats and metrics servers). A unix socket file is replaced only when it is a
/// socket no server answers on (see `remove_stale_socket`); the file's inode is returned so
/// vacuum removes only what this process created. Sockets systemd or a previous image
/// handed over never come here, so they are never unlinked.
pub fn bind_listener(
    address: &ListenAddress,
    backlog: i32,
    chmod: Option<u32>,
) -> io::Result<Bound> {
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

/// Describes the listeners for the next master image and lets their descriptors survive
/// exec. One line per socket: fd, protocol, configured address, created inode, systemd flag.
pub fn export_for_reload(listeners: &[Listener]) -> io::Result<String> {
    let mut handoffs = Vec::new();
    for listener in listeners {
        nix::fcntl::fcntl(
            &listener.fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )?;
        handoffs.push(ListenerHandoff {
            fd: listener.fd.as_raw_fd(),
            protocol: listener.protocol.to_string(),
            configured: listener.configured.to_string(),
            created: listener.created.clone(),
            from_systemd: listener.from_systemd,
        });
    }
    Ok(handoff::encode_listeners(&handoffs))
}

/// Undoes `export_for_reload` when the exec did not happen.
pub fn keep_private(listeners: &[Listener]) {
    for listener in listeners {
        let _ = nix::fcntl::fcntl(
            &listener.fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
}

/// Reads what `export_for_reload` wrote, taking ownership of the descriptors it names.
pub fn import_from_reload(text: &str) -> Vec<Inherited> {
    handoff::decode_listeners(text)
        .into_iter()
        .filter_map(|handoff| {
            // SAFETY: the previous image of this process left `fd` open across exec for us
            // and nothing else in this image has claimed it; it is checked to be a socket
            // below before use.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(handoff.fd) };
            socket_address(fd.as_fd()).ok()?;
            let _ = nix::fcntl::fcntl(
                &fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            let protocol = if handoff.protocol == "http" {
                Protocol::Http
            } else {
                Protocol::Uwsgi
            };
            let configured = parse_address(&handoff.configured).ok()?;
            Some(Inherited {
                fd,
                origin: InheritedFrom::Reload {
                    protocol,
                    configured,
                    created: handoff.created,
                    from_systemd: handoff.from_systemd,
                },
            })
        })
        .collect()
}
