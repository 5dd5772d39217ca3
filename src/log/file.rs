//! The `logto` file: opening it with `logfile-chmod`, pointing stdout and stderr at it, and
//! its rotation (`log-maxsize`, `log-backupname`) by the master, followed by the workers.
//!
//! Owns: the log file's path and options. Must not: format lines (the rest of `log` does).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{error, info};

/// `logfile-chmod`, `log-maxsize`, `log-backupname`: set before any log file is opened.
struct FileOptions {
    mode: Option<u32>,
    max_size: u64,
    backup_name: Option<PathBuf>,
}

static FILE_OPTIONS: OnceLock<FileOptions> = OnceLock::new();
/// The `logto` file stderr points at, so it can be rotated and reopened.
static LOG_PATH: OnceLock<PathBuf> = OnceLock::new();

pub fn set_file_options(mode: Option<u32>, max_size: u64, backup_name: Option<PathBuf>) {
    let _ = FILE_OPTIONS.set(FileOptions {
        mode,
        max_size,
        backup_name,
    });
}

pub(super) fn open_log_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = FILE_OPTIONS.get().and_then(|o| o.mode);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode.unwrap_or(0o640))
        .open(path)?;
    if let Some(mode) = mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

/// `logto FILE`: this process's stdout and stderr (and so every worker's, and the
/// application's prints) append to FILE.
pub fn redirect_to(path: &Path) -> std::io::Result<()> {
    let file = open_log_file(path)?;
    nix::unistd::dup2_stdout(&file)?;
    nix::unistd::dup2_stderr(&file)?;
    let _ = LOG_PATH.set(path.to_path_buf());
    Ok(())
}

/// `log-maxsize`, from the master once a second: past the size, the file is renamed to
/// its backup name and a new one opened. Workers follow with `reopen_if_moved`.
pub fn rotate_if_needed() {
    let (Some(path), Some(options)) = (LOG_PATH.get(), FILE_OPTIONS.get()) else {
        return;
    };
    if options.max_size == 0 {
        return;
    }
    let Ok(size) = nix::sys::stat::fstat(std::io::stderr()).map(|s| s.st_size as u64) else {
        return;
    };
    if size < options.max_size {
        return;
    }
    let backup = match &options.backup_name {
        Some(name) => name.clone(),
        None => {
            let now = crate::sys::time::unix_secs();
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{now}"));
            PathBuf::from(name)
        }
    };
    if let Err(e) = std::fs::rename(path, &backup) {
        error(&format!(
            "log-maxsize: cannot rename {} to {}: {e}",
            path.display(),
            backup.display()
        ));
        return;
    }
    match redirect_to(path) {
        Ok(()) => info(&format!(
            "log rotated: {} bytes moved to {}",
            size,
            backup.display()
        )),
        Err(e) => error(&format!(
            "log-maxsize: cannot reopen {}: {e}",
            path.display()
        )),
    }
}

/// Whether this process writes to a `logto` file that may be renamed under it.
pub fn follows_log_file() -> bool {
    LOG_PATH.get().is_some()
}

/// When the `logto` file was renamed or removed (rotation by the master or logrotate),
/// opens the file by its name again, so lines go where the administrator looks.
pub fn reopen_if_moved() {
    let Some(path) = LOG_PATH.get() else {
        return;
    };
    let current = nix::sys::stat::fstat(std::io::stderr()).map(|s| (s.st_dev, s.st_ino));
    let named = nix::sys::stat::stat(path.as_path()).map(|s| (s.st_dev, s.st_ino));
    if current.is_ok() && current == named {
        return;
    }
    if let Err(e) = redirect_to(path) {
        error(&format!("cannot reopen log file {}: {e}", path.display()));
    }
}
