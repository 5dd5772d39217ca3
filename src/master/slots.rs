//! Worker slots: forking a worker into a slot, reaping it, respawning with backoff,
//! retiring it for a successor, and adding or removing slots (SIGTTIN/SIGTTOU).
//!
//! Must not: decide when the pool should grow or shrink (cheaper.rs) or what a signal means.

use super::*;

// Respawning a worker that keeps failing backs off from 1 s, doubling, to 30 s.
pub(super) use super::backoff::{FIRST_BACKOFF, HEALTHY_LIFETIME, MAX_BACKOFF};

/// A place for one worker; its process changes as workers are recycled.
pub(super) struct Slot {
    pub(super) id: usize,
    pub(super) pid: Option<Pid>,
    pub(super) entry: Option<usize>,
    pub(super) born: Instant,
    pub(super) ready: bool,
    /// When the slot may fork again after a failure.
    pub(super) respawn_at: Option<Instant>,
    pub(super) backoff: Duration,
    /// Removed by SIGTTOU: not respawned.
    pub(super) retiring: bool,
    /// Killed by harakiri: respawn at once, not as a failure.
    pub(super) harakiri: bool,
    /// harakiri-graceful-timeout: when SIGTERM was sent; SIGKILL follows after the timeout.
    pub(super) harakiri_sigterm: Option<Instant>,
    pub(super) respawn_count: u64,
    pub(super) harakiri_count: u64,
    /// cheaper: not wanted now; not respawned until the load asks for it.
    pub(super) cheap: bool,
    /// cheaper: the request count last seen and when it last changed (or was busy).
    pub(super) last_requests: u64,
    pub(super) last_active: Instant,
    /// cheaper busyness: the worker's busy time at the last cycle.
    pub(super) busy_us_seen: u64,
}

impl Slot {
    /// A slot with no worker yet, forking when `respawn_at` comes (never while None).
    pub(super) fn new(id: usize, respawn_at: Option<Instant>) -> Slot {
        Slot {
            id,
            pid: None,
            entry: None,
            born: Instant::now(),
            ready: false,
            respawn_at,
            backoff: FIRST_BACKOFF,
            retiring: false,
            harakiri: false,
            harakiri_sigterm: None,
            busy_us_seen: 0,
            respawn_count: 0,
            harakiri_count: 0,
            cheap: false,
            last_requests: 0,
            last_active: Instant::now(),
        }
    }
}

/// How a child process ended, as waitpid reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    /// exit(CODE); 0 is a clean exit.
    Code(i32),
    Killed(Signal),
}

impl Exit {
    /// Anything but exit status 0.
    pub(super) fn failed(self) -> bool {
        self != Exit::Code(0)
    }

    /// The exit status; 0 when killed by a signal.
    pub(super) fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Killed(_) => 0,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(0) => f.write_str("exited"),
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Killed(signal) => write!(f, "killed by {signal}"),
        }
    }
}

/// A worker finishing its requests before it exits; its slot already has a successor.
pub(super) struct Retiree {
    pub(super) pid: Pid,
    pub(super) id: usize,
    pub(super) entry: Option<usize>,
    pub(super) deadline: Instant,
}

impl Master {
    pub(super) fn spawn_due(&mut self) {
        if !matches!(self.stopping, Stopping::No) {
            return;
        }
        let now = Instant::now();
        for daemon in &mut self.daemons {
            if daemon.pid.is_some() || daemon.start_at.is_none_or(|at| at > now) {
                continue;
            }
            match jobs::spawn_shell(&daemon.command) {
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
        self.spoolers
            .spawn_due(self.config.forked_parts(), &self.config.spooler);
        self.mules.spawn_due(self.config.forked_parts());
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if self.held.is_some() {
                break;
            }
            if slot.pid.is_none() && !slot.retiring && slot.respawn_at.is_some_and(|at| at <= now) {
                self.spawn(index);
            }
        }
    }

    pub(super) fn spawn(&mut self, index: usize) {
        let id = self.slots[index].id;
        let Some(entry) = self.board.claim() else {
            log::error(&format!(
                "no free scoreboard entry for worker {id}; retrying"
            ));
            self.slots[index].respawn_at = Some(Instant::now() + FIRST_BACKOFF);
            return;
        };
        match interpreter::fork_with_python() {
            Ok(ForkResult::Child) => {
                // A worker never answers on the stats or metrics sockets; holding them
                // would keep their addresses taken past a reload, when the next master
                // image binds them again while this worker still serves.
                drop(self.stats.take());
                drop(self.metrics.take());
                let notify = self.notify_write.try_clone().expect("dup the notify pipe");
                let identity = Identity {
                    id,
                    entry,
                    board: self.board,
                    notify,
                };
                (self.worker_main)(
                    identity,
                    self.config.worker_parts(),
                    &self.listeners,
                    self.app.as_ref(),
                );
            }
            Ok(ForkResult::Parent { child }) => {
                self.board
                    .entry(entry)
                    .pid
                    .store(child.as_raw(), std::sync::atomic::Ordering::Relaxed);
                self.board
                    .entry(entry)
                    .worker_id
                    .store(id as u64, std::sync::atomic::Ordering::Relaxed);
                let slot = &mut self.slots[index];
                slot.pid = Some(child);
                slot.entry = Some(entry);
                slot.born = Instant::now();
                slot.ready = false;
                slot.respawn_at = None;
                slot.harakiri = false;
                slot.harakiri_sigterm = None;
                slot.busy_us_seen = 0;
                slot.respawn_count += 1;
                log::info(&format!("worker {id} started (pid {child})"));
            }
            Err(e) => {
                self.board.release(entry);
                log::error(&format!("cannot fork worker {id}: {e}"));
                self.slots[index].respawn_at = Some(Instant::now() + FIRST_BACKOFF);
            }
        }
    }

    /// Collects dead workers and decides whether and when each slot forks again.
    pub(super) fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(status) => status,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::error(&format!("waitpid: {e}"));
                    return;
                }
            };
            let (pid, exit) = match status {
                WaitStatus::Exited(pid, code) => (pid, Exit::Code(code)),
                WaitStatus::Signaled(pid, signal, _) => {
                    if signal == Signal::SIGSEGV {
                        for name in &self.config.alarms.alarm_segfault {
                            crate::alarms::raise(name, &format!("process {pid} killed by SIGSEGV"));
                        }
                    }
                    (pid, Exit::Killed(signal))
                }
                _ => continue,
            };
            let (description, failed, code) = (exit.to_string(), exit.failed(), exit.code());
            if let Some(position) = self.retirees.iter().position(|r| r.pid == pid) {
                let retiree = self.retirees.remove(position);
                if let Some(entry) = retiree.entry {
                    self.board.release(entry);
                }
                log::info(&format!(
                    "worker {} (pid {pid}) retired: {description}",
                    retiree.id
                ));
                continue;
            }
            if let Some(daemon) = self.daemons.iter_mut().find(|d| d.pid == Some(pid)) {
                daemon.pid = None;
                if daemon.started.elapsed() >= HEALTHY_LIFETIME {
                    daemon.backoff = FIRST_BACKOFF;
                }
                daemon.start_at = Some(Instant::now() + daemon.backoff);
                log::warn(&format!(
                    "attach-daemon (pid {pid}) {description}; restarting in {} s: {}",
                    daemon.backoff.as_secs(),
                    daemon.command
                ));
                daemon.backoff = (daemon.backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            if self.jobs.reaped(pid, exit) || self.alarm_runs.reaped(pid, &description) {
                continue;
            }
            let stopping = !matches!(self.stopping, Stopping::No);
            if self.spoolers.reaped(pid, &description, failed, stopping)
                || self.mules.reaped(pid, &description, stopping)
            {
                continue;
            }
            if let Some(position) = self.previous.iter().position(|(p, _)| *p == pid) {
                let (_, id) = self.previous.remove(position);
                log::warn(&format!(
                    "worker {id} (pid {pid}) of the previous image {description}"
                ));
                if self.held.is_some() {
                    // Its code is gone with the previous image: only a reload replaces it.
                    log::warn(&format!(
                        "{} worker(s) of the previous generation left after the failed reload; fix the configuration and reload to serve with all of them",
                        self.previous.len()
                    ));
                    self.notifier.status(&self.status_text());
                }
                continue;
            }
            let Some(index) = self.slots.iter().position(|s| s.pid == Some(pid)) else {
                continue;
            };
            self.on_slot_exit(index, pid, &description, failed, code);
        }
    }

    pub(super) fn on_slot_exit(
        &mut self,
        index: usize,
        pid: Pid,
        description: &str,
        failed: bool,
        code: i32,
    ) {
        let stopping = !matches!(self.stopping, Stopping::No);
        let slot = &mut self.slots[index];
        slot.pid = None;
        slot.ready = false;
        if let Some(entry) = slot.entry.take() {
            self.board.release(entry);
        }
        let lived = slot.born.elapsed();
        if stopping {
            log::info(&format!("worker {} (pid {pid}) {description}", slot.id));
            return;
        }
        if code == crate::hooks::EXIT_HOOK_FAILED {
            if self.previous.is_empty() {
                log::error(&format!(
                    "worker {} (pid {pid}): its hook failed: stopping",
                    slot.id
                ));
                self.exit_status = Some(1);
                self.begin_stop(false);
            } else {
                log::error(&format!(
                    "worker {} (pid {pid}): its hook failed; reload failed: the previous workers keep serving the old code",
                    slot.id
                ));
                self.hold_slots();
            }
            return;
        }
        if code == EXIT_NO_APP && self.config.app.need_app {
            log::error(&format!(
                "worker {} (pid {pid}) could not load the application and need-app is set: stopping",
                slot.id
            ));
            self.exit_status = Some(EXIT_NO_APP);
            self.begin_stop(false);
            return;
        }
        let cause = if slot.harakiri {
            metrics::Cause::Harakiri
        } else if failed {
            metrics::Cause::Crash
        } else {
            metrics::Cause::Recycle
        };
        let id = slot.id;
        self.record_respawn(id, pid.as_raw(), cause);
        let slot = &mut self.slots[index];
        if failed && !slot.harakiri && lived < HEALTHY_LIFETIME {
            let delay = slot.backoff;
            slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
            slot.respawn_at = Some(Instant::now() + delay);
            log::warn(&format!(
                "worker {} (pid {pid}) {description} after {:.1} s; respawning in {} s",
                slot.id,
                lived.as_secs_f64(),
                delay.as_secs()
            ));
            return;
        }
        if lived >= HEALTHY_LIFETIME {
            slot.backoff = FIRST_BACKOFF;
        }
        slot.respawn_at = Some(Instant::now());
        let level = if failed { log::warn } else { log::info };
        level(&format!(
            "worker {} (pid {pid}) {description}; respawning",
            slot.id
        ));
    }

    /// Moves a slot's worker to the retirees (signalling it unless it retires on its own)
    /// and lets the slot fork a successor at once.
    pub(super) fn retire_slot(&mut self, index: usize, signal_it: bool) {
        let mercy = self.config.workers.worker_reload_mercy;
        let slot = &mut self.slots[index];
        let Some(pid) = slot.pid.take() else { return };
        if signal_it {
            let _ = kill(pid, Signal::SIGTERM);
        }
        if let Some(entry) = slot.entry {
            self.board.set_state(entry, WorkerState::Draining);
        }
        self.retirees.push(Retiree {
            pid,
            id: slot.id,
            entry: slot.entry.take(),
            deadline: Instant::now() + mercy,
        });
        slot.ready = false;
        slot.respawn_at = (!slot.retiring && !slot.cheap && matches!(self.stopping, Stopping::No))
            .then(Instant::now);
        if slot.respawn_at.is_some() {
            let id = slot.id;
            self.record_respawn(id, pid.as_raw(), metrics::Cause::Recycle);
        }
    }

    /// After a reload, the old image's workers stop once every new worker serves.
    pub(super) fn retire_previous_when_ready(&mut self) {
        if self.previous.is_empty() || !self.slots.iter().all(|s| s.ready || s.retiring || s.cheap)
        {
            return;
        }
        for (pid, id) in std::mem::take(&mut self.previous) {
            let _ = kill(pid, Signal::SIGTERM);
            self.retirees.push(Retiree {
                pid,
                id,
                entry: None,
                deadline: Instant::now() + self.config.workers.worker_reload_mercy,
            });
        }
        log::info(
            "reload complete: every new worker is ready; the previous ones finish their requests",
        );
    }

    pub(super) fn add_worker(&mut self) {
        let id = self.slots.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        log::info(&format!("SIGTTIN: adding worker {id}"));
        self.slots.push(Slot::new(id, Some(Instant::now())));
    }

    pub(super) fn remove_worker(&mut self) {
        if self.slots.iter().filter(|s| !s.retiring).count() <= 1 {
            return;
        }
        let Some(index) = self.slots.iter().rposition(|s| !s.retiring) else {
            return;
        };
        log::info(&format!(
            "SIGTTOU: retiring worker {}",
            self.slots[index].id
        ));
        self.slots[index].retiring = true;
        self.retire_slot(index, true);
        self.slots.remove(index);
    }

    pub(super) fn all_pids(&self) -> Vec<Pid> {
        self.slots
            .iter()
            .filter_map(|s| s.pid)
            .chain(self.daemons.iter().filter_map(|d| d.pid))
            .chain(self.retirees.iter().map(|r| r.pid))
            .chain(self.previous.iter().map(|(pid, _)| *pid))
            .collect()
    }

    pub(super) fn signal_all(&self, signal: Signal) {
        for pid in self.all_pids() {
            let _ = kill(pid, signal);
        }
    }

    /// A failed reload: no new worker is forked; the previous ones keep serving.
    pub(super) fn hold_slots(&mut self) {
        for slot in &mut self.slots {
            slot.respawn_at = None;
        }
    }
}
