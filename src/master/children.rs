//! The commands the master supervises beside the workers, in one place with one backoff
//! (master/backoff.rs): `attach-daemon`/`attach-daemon2` (respawned when they die),
//! `smart-attach-daemon` (started again when the process its pidfile names is gone),
//! `cron` and `unique-cron` (started on schedule, never restarted).
//!
//! Owns: when each command starts, its running pid, judging its exit (a typed `Exit`), and
//! stopping the commands with their process groups (attach-daemons and crons on stop and
//! reload, smart daemons on stop). Must not: block the master (commands are spawned, never
//! waited for here; the master's reaper hands exits back through `reaped`) or touch workers.

use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::backoff::{Backoff, MAX_BACKOFF};
use super::exit::Exit;
use super::groups::Groups;
use crate::log;
use crate::sys::cron::{CronJob, LocalMinute};

/// A smart daemon is not started again until this long after the last start (the first
/// step of its backoff), so a command that daemonizes slowly is not started twice.
const SMART_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A command run beside the workers and respawned when it dies (attach-daemon).
struct Daemon {
    command: String,
    /// attach-daemon2's stopsignal; SIGTERM otherwise.
    stop_signal: Signal,
    pid: Option<Pid>,
    /// When to (re)start it; None while it runs or once it is stopped.
    start_at: Option<Instant>,
    backoff: Backoff,
    started: Instant,
}

/// A command that daemonizes itself and is found by its pidfile (smart-attach-daemon).
struct SmartDaemon {
    pidfile: PathBuf,
    command: String,
    next_start: Instant,
    backoff: Backoff,
}

struct Cron {
    job: CronJob,
    unique: bool,
    running: Option<Pid>,
}

#[derive(Default)]
pub struct Children {
    daemons: Vec<Daemon>,
    smart: Vec<SmartDaemon>,
    crons: Vec<Cron>,
    last_minute: Option<LocalMinute>,
}

impl Children {
    pub fn new(config: &crate::config::ChildrenConfig) -> Children {
        let now = Instant::now();
        Children {
            daemons: config
                .attach_daemons
                .iter()
                .map(|(command, stop_signal)| Daemon {
                    command: command.clone(),
                    stop_signal: Signal::try_from(*stop_signal).unwrap_or(Signal::SIGTERM),
                    pid: None,
                    start_at: Some(now),
                    backoff: Backoff::default(),
                    started: now,
                })
                .collect(),
            smart: config
                .smart_attach_daemons
                .iter()
                .map(|(pidfile, command)| SmartDaemon::new(pidfile.clone(), command.clone()))
                .collect(),
            crons: config
                .crons
                .iter()
                .map(|(job, unique)| Cron {
                    job: job.clone(),
                    unique: *unique,
                    running: None,
                })
                .collect(),
            last_minute: None,
        }
    }

    /// Starts the attach-daemons that are due (not while the server stops).
    pub fn spawn_due(&mut self) {
        let now = Instant::now();
        for daemon in &mut self.daemons {
            if daemon.pid.is_some() || daemon.start_at.is_none_or(|at| at > now) {
                continue;
            }
            match spawn_shell(&daemon.command) {
                Ok(pid) => {
                    log::info(&format!(
                        "attach-daemon started (pid {pid}): {}",
                        daemon.command
                    ));
                    daemon.pid = Some(pid);
                    daemon.start_at = None;
                    daemon.started = now;
                }
                Err(e) => {
                    log::error(&format!("attach-daemon {}: {e}", daemon.command));
                    daemon.start_at = Some(now + MAX_BACKOFF);
                }
            }
        }
    }

    /// Called at least once a second while the server runs (not while it stops): cron
    /// jobs that are due, smart daemons that are gone.
    pub fn tick(&mut self) {
        if !self.crons.is_empty() {
            let now = LocalMinute::now();
            // The first tick only notes the minute: a reload must not rerun this minute's jobs.
            if self.last_minute.is_some_and(|last| last != now) {
                self.run_due_crons(now);
            }
            self.last_minute = Some(now);
        }
        self.check_smart_daemons(Instant::now());
    }

    fn check_smart_daemons(&mut self, now: Instant) {
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
            daemon.next_start = now + daemon.backoff.step();
        }
        for daemon in &mut self.smart {
            if daemon.next_start <= now && daemon_alive(&daemon.pidfile).is_some() {
                daemon.backoff.reset();
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

    /// The master reaped `pid`: returns whether it was one of these commands. An
    /// attach-daemon is started again after its backoff, whatever its exit: it is meant
    /// to run.
    pub fn reaped(&mut self, pid: Pid, exit: Exit) -> bool {
        if let Some(daemon) = self.daemons.iter_mut().find(|d| d.pid == Some(pid)) {
            daemon.pid = None;
            let delay = daemon.backoff.after_exit(daemon.started.elapsed(), true);
            daemon.start_at = Some(Instant::now() + delay);
            log::warn(&format!(
                "attach-daemon (pid {pid}) {exit}; restarting in {} s: {}",
                delay.as_secs(),
                daemon.command
            ));
            return true;
        }
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

    /// The attach-daemons running now.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.daemons.iter().filter_map(|d| d.pid)
    }

    /// On stop and reload: every attach-daemon (with its stop signal) and running cron
    /// command is stopped with its process group; none is restarted (their pids are
    /// forgotten, so their exits are not taken for crashes).
    pub fn stop(&mut self, groups: &mut Groups) {
        for daemon in &mut self.daemons {
            if let Some(pid) = daemon.pid.take() {
                daemon.start_at = None;
                groups.stop(pid, daemon.stop_signal, "attach-daemon");
            }
        }
        for cron in &mut self.crons {
            if let Some(pid) = cron.running.take() {
                groups.stop(pid, Signal::SIGTERM, "cron");
            }
        }
    }

    /// A reload that could not exec: this image goes on, its attach-daemons start again.
    pub fn restart(&mut self) {
        for daemon in &mut self.daemons {
            daemon.start_at = Some(Instant::now());
        }
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
}

impl SmartDaemon {
    fn new(pidfile: PathBuf, command: String) -> SmartDaemon {
        SmartDaemon {
            pidfile,
            command,
            next_start: Instant::now(),
            backoff: Backoff::starting_at(SMART_GRACE),
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
fn spawn_shell(command_line: &str) -> std::io::Result<Pid> {
    crate::sys::shell::shell_command(command_line)
        .spawn()
        .map(|child| Pid::from_raw(child.id() as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A smart daemon found dead is started, then not again before its backoff (5 s,
    /// doubling); once its process is found alive the backoff is back to 5 s.
    #[test]
    fn a_smart_daemon_is_started_again_after_its_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("daemon.pid");
        let mut children = Children::default();
        children
            .smart
            .push(SmartDaemon::new(pidfile.clone(), "true".to_string()));
        let t0 = Instant::now();
        let next = |children: &mut Children, at: u64| {
            children.check_smart_daemons(t0 + Duration::from_secs(at));
            children.smart[0].next_start.duration_since(t0).as_secs()
        };
        assert_eq!(next(&mut children, 0), 5);
        assert_eq!(next(&mut children, 4), 5, "not due yet");
        assert_eq!(next(&mut children, 5), 15);
        assert_eq!(next(&mut children, 15), 35);
        std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
        assert_eq!(next(&mut children, 35), 35, "alive: not started");
        std::fs::remove_file(&pidfile).unwrap();
        assert_eq!(next(&mut children, 36), 41, "the backoff was reset");
    }
}
