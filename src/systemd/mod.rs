//! systemd glue: sockets passed by socket activation, readiness and status notifications,
//! the watchdog. (The journal's native protocol is a log sink: `log::journal`.)
//!
//! Owns: LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (read once, then cleared so the application
//! and its children never see them) and everything sent to NOTIFY_SOCKET. Must not: decide
//! when the server is ready (the master does) or notify from a worker (only the main pid
//! may, so `NotifyAccess=main` suffices; workers drop NOTIFY_SOCKET).

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use sd_notify::NotifyState;

/// The sockets systemd passed could not be read (bad LISTEN_FDS, LISTEN_FDNAMES...).
#[derive(Debug)]
pub struct ActivationError(std::io::Error);

impl std::fmt::Display for ActivationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "socket activation: {}", self.0)
    }
}

impl std::error::Error for ActivationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Takes the sockets systemd passed, with their names; clears the variables.
/// Must run while the process is single-threaded (it changes the environment).
pub fn take_listen_fds() -> Result<Vec<(OwnedFd, String)>, ActivationError> {
    // SAFETY: called at start-up from main's thread before any other thread exists, which
    // is remove_var's precondition.
    let fds =
        unsafe { sd_notify::listen_fds_with_names_and_unset_env() }.map_err(ActivationError)?;
    Ok(fds
        .map(|(fd, name)| {
            // SAFETY: systemd passed `fd` (LISTEN_PID matched this process) and nothing else
            // owns it; from here on this OwnedFd is its only owner.
            (unsafe { OwnedFd::from_raw_fd(fd) }, name)
        })
        .collect())
}

/// Sends to NOTIFY_SOCKET when systemd gave one; does nothing otherwise.
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    pub fn from_environment() -> Notifier {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(states) {
                crate::log::warn(&format!("sd_notify: {e}"));
            }
        }
    }

    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    pub fn ready(&self, status: &str) {
        let pid = std::process::id();
        self.send(&[
            NotifyState::Ready,
            NotifyState::MainPid(pid),
            NotifyState::Status(status),
        ]);
    }

    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading"),
            ]),
            Err(_) => self.send(&[NotifyState::Reloading, NotifyState::Status("reloading")]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// Asks systemd for more start-up time while a slow application import runs.
    pub fn extend_timeout(&self, by: Duration) {
        self.send(&[NotifyState::ExtendTimeoutUsec(
            by.as_micros().min(u32::MAX as u128) as u32,
        )]);
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How often to send WATCHDOG=1 (half of WATCHDOG_USEC), if systemd asked for it.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.enabled).map(|d| d / 2)
    }

    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

/// The packaged unit's instance name (rwsgi@NAME.service): systemd's RuntimeDirectory of
/// that unit is /run/rwsgi/NAME.
pub fn instance_name() -> Option<String> {
    let dirs = std::env::var("RUNTIME_DIRECTORY").ok()?;
    let first = dirs.split(':').next()?;
    let name = first.strip_prefix("/run/rwsgi/")?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

/// `systemctl edit rwsgi@NAME.service`, or a generic hint outside the packaged unit.
fn edit_command() -> Option<String> {
    instance_name().map(|name| format!("systemctl edit rwsgi@{name}.service"))
}

/// How to run the service as another user (rwsgi(8), DEBIAN PACKAGE).
pub fn other_user_hint() -> String {
    match edit_command() {
        Some(edit) => {
            format!("choose the user with `{edit}`: [Service] User=USER Group=GROUP (see rwsgi(8))")
        }
        None => "start rwsgi as root to switch users, or drop the lines".to_string(),
    }
}

/// How to let the service write to `dir` (rwsgi(8), DEBIAN PACKAGE).
pub fn writable_paths_hint(dir: &std::path::Path) -> String {
    match (edit_command(), instance_name()) {
        (Some(edit), Some(name)) => format!(
            "the unit's ProtectSystem=strict leaves only /run/rwsgi/{name}, /var/lib/rwsgi/{name}, /var/log/rwsgi/{name}, /var/cache/rwsgi/{name} and /tmp writable: add it with `{edit}`: [Service] ReadWritePaths={}",
            dir.display()
        ),
        _ => "check its permissions (and the service's ReadWritePaths=)".to_string(),
    }
}

/// Where the service's own files (pidfile, stats socket) belong: its RuntimeDirectory.
pub fn runtime_directory_hint() -> String {
    match instance_name() {
        Some(name) => format!(
            "the service runs as an unprivileged user: write it under /run/rwsgi/{name}/ (its RuntimeDirectory), /var/lib/rwsgi/{name}/ or /var/log/rwsgi/{name}/"
        ),
        None => "check the directory's existence and permissions".to_string(),
    }
}

use crate::sys::shell::MASTER_ONLY_VARIABLES;

/// Called right after fork in the worker, before it starts any thread. Python's
/// `os.environ` (a copy taken when the master started Python) is cleaned by the worker too.
pub fn forget_in_child() {
    for variable in MASTER_ONLY_VARIABLES {
        std::env::remove_var(variable);
    }
}
