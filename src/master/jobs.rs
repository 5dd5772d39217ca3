//! Commands the master runs on a schedule or keeps alive by pidfile: `cron`, `unique-cron`
//! and `smart-attach-daemon`.
//!
//! Owns: when each command starts, its running pid, and stopping smart daemons with the
//! server. Must not: block the master (commands are spawned, never waited for here; the
//! master's reaper hands exits back through `reaped`) or touch workers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::groups::Groups;
use crate::config::ChildrenConfig;
use crate::log;
use crate::sys::cron::{CronJob, LocalMinute};

/// A smart daemon is not started again until this long after the last start, so a
/// command that daemonizes slowly is not started twice.
const SMART_GRACE: Duration = Duration::from_secs(5);
const SMART_MAX_BACKOFF: Duration = Duration::from_secs(30);

struct Cron {
    job: CronJob,
    unique: bool,
    running: Option<Pid>,
}

struct SmartDaemon {
    pidfile: PathBuf,
    command: String,
    next_start: Instant,
    backoff: Duration,
}

pub struct Jobs {
    crons: Vec<Cron>,
    smart: Vec<SmartDaemon>,
    last_minute: Option<LocalMinute>,
}

impl Jobs {
    pub fn new(children: &ChildrenConfig) -> Jobs {
        Jobs {
            crons: children
                .crons
                .iter()
                .map(|(job, unique)| Cron {
                    job: job.clone(),
                    unique: *unique,
                    running: None,
                })
                .collect(),
            smart: children
                .smart_attach_daemons
                .iter()
                .map(|(pidfile, command)| SmartDaemon {
                    pidfile: pidfile.clone(),
                    command: command.clone(),
                    next_start: Instant::now(),
                    backoff: SMART_GRACE,
                })
                .collect(),
            last_minute: None,
        }
    }

    /// Called at least once a second while the server runs (not while it stops).
    pub fn tick(&mut self) {
        if !self.crons.is_empty() {
            let now = LocalMinute::now();
            // The first tick only notes the minute: a reload must not rerun this minute's jobs.
            if self.last_minute.is_some_and(|last| last != now) {
                self.run_due_crons(now);
            }
            self.last_minute = Some(now);
        }
        let now = Instant::now();
        for daemon in &mut self.smart {
            if now < daemon.next_start || daemon_alive(&daemon.pidfile).is_some() {
                continue;
            }
            match spawn_shell(&daemon.command) {
                Ok(pid) => log::info(&format!(
                    "smart-attach-daemon: {} is not running; started (pid {pid}): {}",
                    daemon.pidfile.display(),
                    daemon.command
                )),
                Err(e) => log::error(&format!("smart-attach-daemon {}: {e}", daemon.command)),
            }
            daemon.next_start = now + daemon.backoff;
            daemon.backoff = (daemon.backoff * 2).min(SMART_MAX_BACKOFF);
        }
        for daemon in &mut self.smart {
            if daemon.next_start <= now && daemon_alive(&daemon.pidfile).is_some() {
                daemon.backoff = SMART_GRACE;
            }
        }
    }

    fn run_due_crons(&mut self, now: LocalMinute) {
        for cron in &mut self.crons {
            if !cron.job.is_due(now) {
                continue;
            }
            if let (true, Some(pid)) = (cron.unique, cron.running) {
                log::warn(&format!(
                    "unique-cron: previous run (pid {pid}) still going; skipped: {}",
                    cron.job.command
                ));
                continue;
            }
            match spawn_shell(&cron.job.command) {
                Ok(pid) => {
                    log::info(&format!("cron started (pid {pid}): {}", cron.job.command));
                    cron.running = Some(pid);
                }
                Err(e) => log::error(&format!("cron {}: {e}", cron.job.command)),
            }
        }
    }

    /// The master reaped `pid`: returns whether it was one of these commands.
    pub fn reaped(&mut self, pid: Pid, exit: super::slots::Exit) -> bool {
        if let Some(cron) = self.crons.iter_mut().find(|c| c.running == Some(pid)) {
            cron.running = None;
            let line = format!("cron (pid {pid}) {exit}: {}", cron.job.command);
            if !exit.failed() {
                log::info(&line);
            } else {
                log::warn(&line);
            }
            return true;
        }
        false
    }

    /// On stop (not on reload: a smart daemon outlives the master image that started it,
    /// and the next image finds it by its pidfile). Its process group is stopped when it
    /// has one of its own; otherwise the pid alone.
    pub fn stop_smart_daemons(&self, groups: &mut Groups) {
        for daemon in &self.smart {
            if let Some(pid) = daemon_alive(&daemon.pidfile) {
                log::info(&format!(
                    "smart-attach-daemon: stopping pid {pid} ({})",
                    daemon.pidfile.display()
                ));
                match super::groups::group_of(pid) {
                    Some(pgid) => groups.stop(pgid, Signal::SIGTERM, "smart-attach-daemon"),
                    None => {
                        let _ = kill(pid, Signal::SIGTERM);
                    }
                }
            }
        }
    }

    /// On stop and reload: running cron commands are stopped with their process groups.
    pub fn stop_crons(&mut self, groups: &mut Groups) {
        for cron in &mut self.crons {
            if let Some(pid) = cron.running.take() {
                groups.stop(pid, Signal::SIGTERM, "cron");
            }
        }
    }
}

/// The pid in `pidfile`, if that process exists.
fn daemon_alive(pidfile: &std::path::Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid = Pid::from_raw(text.trim().parse().ok().filter(|p: &i32| *p > 0)?);
    kill(pid, None).ok().map(|_| pid)
}

/// Starts `sh -c COMMAND` without waiting, in a process group of its own. std's Command
/// forks and execs at once, so the master stays single-threaded.
pub fn spawn_shell(command_line: &str) -> std::io::Result<Pid> {
    crate::sys::shell::shell_command(command_line)
        .spawn()
        .map(|child| Pid::from_raw(child.id() as i32))
}
