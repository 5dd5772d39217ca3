//! The master FIFO (`master-fifo`): made (or reused) and opened at start-up, without
//! blocking, for both ends, so the master never waits for a writer and never sees EOF.
//!
//! Owns: creating and opening the FIFO, and why that failed. Must not: read commands (the
//! arbiter does).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Why `master-fifo PATH` cannot be used.
#[derive(Debug)]
pub enum FifoError {
    /// Something else already has the name.
    NotAFifo(PathBuf),
    Io {
        path: PathBuf,
        errno: nix::Error,
    },
}

impl std::fmt::Display for FifoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FifoError::NotAFifo(path) => {
                write!(
                    f,
                    "master-fifo {}: exists and is not a FIFO",
                    path.display()
                )
            }
            FifoError::Io { path, errno } => write!(f, "master-fifo {}: {errno}", path.display()),
        }
    }
}

impl std::error::Error for FifoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FifoError::Io { errno, .. } => Some(errno),
            FifoError::NotAFifo(_) => None,
        }
    }
}

/// Creates (or reuses) a FIFO for master commands, open without blocking: (read, write).
pub(super) fn open_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd), FifoError> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use std::os::unix::fs::FileTypeExt;
    let failed = |errno| FifoError::Io {
        path: path.to_path_buf(),
        errno,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return Err(FifoError::NotAFifo(path.to_path_buf())),
        Err(_) => nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(failed)?,
    }
    let flags = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let read = open(path, OFlag::O_RDONLY | flags, Mode::empty()).map_err(failed)?;
    let write = open(path, OFlag::O_WRONLY | flags, Mode::empty()).map_err(failed)?;
    Ok((read, write))
}
