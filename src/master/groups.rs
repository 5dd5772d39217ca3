//! Stopping the process groups of the commands the master starts (attach-daemon, cron,
//! smart-attach-daemon): every such command runs in a process group of its own (see
//! `sys::shell::shell_command`), so a shell's grandchildren are stopped with it.
//!
//! Owns: which groups are being stopped, the SIGKILL after their grace period, and knowing
//! when a group is empty. Must not: decide when to stop (the master does), restart anything,
//! or reap workers (`wait_all` reaps only members of the groups it stops).

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::log;

/// How long a stopped group gets between its stop signal and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

struct Group {
    pgid: Pid,
    what: String,
    kill_at: Instant,
    killed: bool,
}

#[derive(Default)]
pub struct Groups {
    stopping: Vec<Group>,
}

impl Groups {
    /// Sends `signal` to the whole group `pgid`; SIGKILL follows after `GRACE` if any
    /// member is still alive.
    pub fn stop(&mut self, pgid: Pid, signal: Signal, what: &str) {
        if pgid.as_raw() <= 1 || pgid == nix::unistd::getpgrp() {
            return;
        }
        match killpg(pgid, signal) {
            Err(Errno::ESRCH) => return,
            Err(e) => log::warn(&format!("{what}: cannot signal process group {pgid}: {e}")),
            Ok(()) => {}
        }
        log::info(&format!("{what}: process group {pgid} sent {signal}"));
        self.stopping.push(Group {
            pgid,
            what: what.to_string(),
            kill_at: Instant::now() + GRACE,
            killed: false,
        });
    }

    /// Forgets the groups that are empty and SIGKILLs the ones past their grace period.
    /// The master reaps its own children (group leaders, and orphans it adopts as their
    /// subreaper) before this looks, so a zombie does not keep a group alive.
    pub fn check(&mut self) {
        let now = Instant::now();
        self.stopping.retain_mut(|group| {
            if killpg(group.pgid, None::<Signal>) == Err(Errno::ESRCH) {
                log::info(&format!(
                    "{}: process group {} stopped",
                    group.what, group.pgid
                ));
                return false;
            }
            if now >= group.kill_at && !group.killed {
                log::warn(&format!(
                    "{}: process group {} still running after {} s: killing it",
                    group.what,
                    group.pgid,
                    GRACE.as_secs()
                ));
                let _ = killpg(group.pgid, Signal::SIGKILL);
                group.killed = true;
            }
            true
        });
    }

    pub fn is_empty(&self) -> bool {
        self.stopping.is_empty()
    }

    /// Blocks until every group being stopped is empty (used just before a reload execs,
    /// so the next image never runs beside the old daemons). Reaps only group members.
    pub fn wait_all(&mut self) {
        let limit = Instant::now() + GRACE + Duration::from_secs(5);
        while !self.stopping.is_empty() && Instant::now() < limit {
            for group in &self.stopping {
                let members = Pid::from_raw(-group.pgid.as_raw());
                while let Ok(status) = waitpid(members, Some(WaitPidFlag::WNOHANG)) {
                    if status == WaitStatus::StillAlive {
                        break;
                    }
                }
            }
            self.check();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The group to stop for a process the master did not start directly (a smart daemon's
/// pidfile names a grandchild): its own group, unless that is the master's.
pub fn group_of(pid: Pid) -> Option<Pid> {
    let pgid = nix::unistd::getpgid(Some(pid)).ok()?;
    (pgid != nix::unistd::getpgrp()).then_some(pgid)
}
