//! The record the master keeps of one forked helper it supervises beside the workers (a
//! mule, a spooler): its pid while it runs, when it is due to be forked (again), its
//! backoff, when it was born and how often it was respawned. Mules and spoolers keep one
//! each and differ only in what the child runs.
//!
//! Must not: fork, signal, reap or log (the supervisors in mules.rs and spoolers.rs do); it
//! only keeps the record and says when the next fork is due.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::backoff::Backoff;

#[derive(Debug)]
pub(super) struct Life {
    pid: Option<Pid>,
    /// When to fork; `None` while it runs, and while the master is stopping it.
    respawn_at: Option<Instant>,
    backoff: Backoff,
    born: Instant,
    respawns: u64,
}

impl Life {
    /// A helper not forked yet, due at once.
    pub(super) fn due_now() -> Life {
        let now = Instant::now();
        Life {
            pid: None,
            respawn_at: Some(now),
            backoff: Backoff::default(),
            born: now,
            respawns: 0,
        }
    }

    pub(super) fn pid(&self) -> Option<Pid> {
        self.pid
    }

    /// The pid for the stats document and `uwsgi.*_pid()`: 0 while none runs.
    pub(super) fn raw_pid(&self) -> i32 {
        self.pid.map_or(0, Pid::as_raw)
    }

    pub(super) fn respawns(&self) -> u64 {
        self.respawns
    }

    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.pid.is_none() && self.respawn_at.is_some_and(|at| at <= now)
    }

    pub(super) fn forked(&mut self, pid: Pid, now: Instant) {
        self.pid = Some(pid);
        self.respawn_at = None;
        self.born = now;
    }

    /// The fork failed: try again after the current backoff.
    pub(super) fn fork_failed(&mut self, now: Instant) {
        self.respawn_at = Some(now + self.backoff.current());
    }

    /// Its process exited on its own: schedules the respawn and returns the wait. `failed`
    /// as for `Backoff::after_exit`.
    pub(super) fn ended(&mut self, failed: bool) -> Duration {
        self.pid = None;
        let delay = self.backoff.after_exit(self.born.elapsed(), failed);
        self.respawn_at = Some(Instant::now() + delay);
        self.respawns += 1;
        delay
    }

    /// Its process exited while the master stops it: nothing is scheduled.
    pub(super) fn ended_while_stopping(&mut self) {
        self.pid = None;
    }

    /// The master stops it: not respawned until `due_again`. Returns the pid to signal.
    pub(super) fn stop(&mut self) -> Option<Pid> {
        self.respawn_at = None;
        self.pid.take()
    }

    /// After a failed reload: fork it again now.
    pub(super) fn due_again(&mut self) {
        self.respawn_at = Some(Instant::now());
    }
}

/// The pids of the helpers running now.
pub(super) fn pids<'a>(lives: impl Iterator<Item = &'a Life>) -> Vec<Pid> {
    lives.filter_map(Life::pid).collect()
}

/// When the next fork is due, if any is.
pub(super) fn next_due<'a>(lives: impl Iterator<Item = &'a Life>) -> Option<Instant> {
    lives.filter_map(|life| life.respawn_at).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_is_due_until_forked_and_again_after_its_backoff() {
        let mut life = Life::due_now();
        let now = Instant::now();
        assert!(life.is_due(now));
        life.forked(Pid::from_raw(42), now);
        assert!(!life.is_due(now + Duration::from_secs(60)));
        assert_eq!(pids(std::iter::once(&life)), [Pid::from_raw(42)]);
        assert_eq!(next_due(std::iter::once(&life)), None);
        assert_eq!(life.ended(true), Duration::from_secs(1));
        assert_eq!((life.raw_pid(), life.respawns()), (0, 1));
        assert!(!life.is_due(Instant::now()), "not before its backoff");
        assert!(life.is_due(Instant::now() + Duration::from_secs(1)));
    }

    #[test]
    fn a_stopped_helper_is_not_due_until_asked_again() {
        let mut life = Life::due_now();
        life.forked(Pid::from_raw(7), Instant::now());
        assert_eq!(life.stop(), Some(Pid::from_raw(7)));
        life.ended_while_stopping();
        let later = Instant::now() + Duration::from_secs(3600);
        assert!(!life.is_due(later));
        assert_eq!(next_due(std::iter::once(&life)), None);
        life.due_again();
        assert!(life.is_due(later));
        assert_eq!(life.respawns(), 0, "a stop is not a respawn");
    }
}
