//! `sh -c COMMAND_LINE` for the commands rwsgi runs (attach-daemon, cron, hooks, alarms).
//!
//! Must not: start the command (callers choose spawn or status and own the child).

use std::os::unix::process::CommandExt;

/// Variables only the service's main process (the master) may act on: systemd's notify and
/// watchdog settings.
pub const MASTER_ONLY_VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The commands are not the service's main process, so they must not see systemd's notify
/// and watchdog variables. Each runs in a process group of its own (the shell leads it), so
/// stopping the group stops the shell's children too. It starts with no signal blocked.
pub fn shell_command(command_line: &str) -> std::process::Command {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    let mut command = std::process::Command::new("/bin/sh");
    command.arg("-c").arg(command_line).process_group(0);
    // The master blocks the signals it reads from its signalfd, a blocked mask survives
    // exec and std's spawn does not clear it: the command would never see the SIGTERM
    // that stops its group (only the SIGKILL after the grace period).
    let nothing = SigSet::empty();
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // sigprocmask, which is async-signal-safe, on a set built before the fork.
    unsafe {
        command.pre_exec(move || {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&nothing), None).map_err(Into::into)
        });
    }
    for variable in MASTER_ONLY_VARIABLES {
        command.env_remove(variable);
    }
    command
}
