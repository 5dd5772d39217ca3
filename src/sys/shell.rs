//! `sh -c COMMAND_LINE` for the commands rwsgi runs (attach-daemon, cron, hooks, alarms).
//!
//! Must not: start the command (callers choose spawn or status and own the child).

use std::os::unix::process::CommandExt;

/// Variables only the service's main process (the master) may act on: systemd's notify and
/// watchdog settings.
pub const MASTER_ONLY_VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The commands are not the service's main process, so they must not see systemd's notify
/// and watchdog variables. Each runs in a process group of its own (the shell leads it), so
/// stopping the group stops the shell's children too.
pub fn shell_command(command_line: &str) -> std::process::Command {
    let mut command = std::process::Command::new("/bin/sh");
    command.arg("-c").arg(command_line).process_group(0);
    for variable in MASTER_ONLY_VARIABLES {
        command.env_remove(variable);
    }
    command
}
