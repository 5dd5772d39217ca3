//! Alarm commands, run by the master alone: any process raises an alarm by sending it over
//! the channel `alarms` made (see `alarms::raise`); the master receives it here and starts
//! the command in a process group of its own, so a command's children (`sh -c 'x & y'`)
//! are the master's to stop, and orphans of the group are reaped by the master as their
//! subreaper.
//!
//! Owns: receiving raised alarms, `alarm-freq` across all processes, the process groups of
//! the alarm commands started and which of them still have members, and handing those
//! groups to `Groups` on stop and reload. Must not: wait for a command (they are spawned;
//! the reaper reports exits through `reaped`), or log outside `alarms::quietly` (a log
//! alarm would feed itself).

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::exit::Exit;
use super::groups::Groups;
use crate::alarms;
use crate::log;

pub struct AlarmRuns {
    receiver: Option<UnixDatagram>,
    every: Duration,
    last_run: HashMap<String, Instant>,
    /// The groups of the commands started (each command leads its group: pgid = its pid),
    /// with the alarm's name, until no member is left.
    running: Vec<(Pid, String)>,
}

impl AlarmRuns {
    /// At a reload: the channel goes on to the next image (see `alarms::export_for_reload`).
    pub fn hand_over(&self) {
        alarms::export_for_reload(self.receiver.as_ref());
    }

    /// After a reload's exec failed.
    pub fn keep_private(&self) {
        alarms::keep_private(self.receiver.as_ref());
    }

    /// Takes the channel's receiving end (this master image's; `None` without alarms).
    pub fn new(every: Duration) -> AlarmRuns {
        AlarmRuns {
            receiver: alarms::take_receiver(),
            every,
            last_run: HashMap::new(),
            running: Vec::new(),
        }
    }

    /// For the master's poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.receiver.as_ref().map(|r| r.as_fd())
    }

    /// Runs the alarms raised since the last call. While the server stops or reloads none
    /// is started: it would be stopped at once (and a reload's next image runs its own).
    pub fn run_raised(&mut self, stopping: bool) {
        self.forget_empty_groups();
        let Some(receiver) = &self.receiver else {
            return;
        };
        let mut raised = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(length) = receiver.recv(&mut buffer) {
            raised.extend(alarms::decode(&buffer[..length]));
        }
        for (name, message) in raised {
            if stopping {
                alarms::quietly(|| {
                    log::warn(&format!("alarm {name} not run: the server is stopping"))
                });
                continue;
            }
            let now = Instant::now();
            if self
                .last_run
                .get(&name)
                .is_some_and(|at| now.duration_since(*at) < self.every)
            {
                continue;
            }
            self.last_run.insert(name.clone(), now);
            self.start(name, &message);
        }
    }

    fn start(&mut self, name: String, message: &str) {
        let Some((mut command, text)) = alarms::command(&name, message) else {
            return;
        };
        match command.spawn() {
            Ok(child) => {
                let pid = Pid::from_raw(child.id() as i32);
                alarms::quietly(|| log::info(&format!("alarm {name} (pid {pid}): {text}")));
                self.running.push((pid, name));
            }
            Err(e) => alarms::quietly(|| log::error(&format!("alarm {name}: {text}: {e}"))),
        }
    }

    /// The master reaped `pid`: whether it led an alarm command's group. Its group is still
    /// watched until empty (its children may live on).
    pub(super) fn reaped(&mut self, pid: Pid, exit: Exit) -> bool {
        let Some((_, name)) = self.running.iter().find(|(p, _)| *p == pid) else {
            return false;
        };
        if exit.failed() {
            alarms::quietly(|| log::warn(&format!("alarm {name} (pid {pid}) {exit}")));
        }
        true
    }

    /// A group id is forgotten as soon as its group is empty, before the number can name
    /// another group (the master reaps its children before this runs).
    fn forget_empty_groups(&mut self) {
        self.running
            .retain(|(pgid, _)| killpg(*pgid, None::<Signal>) != Err(Errno::ESRCH));
    }

    /// On stop and reload: every alarm command still running is stopped with its group
    /// (SIGTERM, SIGKILL after the grace period); `Groups` waits for them.
    pub fn stop(&mut self, groups: &mut Groups) {
        self.forget_empty_groups();
        for (pgid, name) in self.running.drain(..) {
            groups.stop(pgid, Signal::SIGTERM, &format!("alarm {name}"));
        }
    }
}
