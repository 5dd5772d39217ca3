//! The respawn backoff the master's supervised children share (workers' slots, spoolers,
//! mules, attach-daemons, smart-attach-daemons): 1 s, doubling to 30 s, back to the first
//! step after a child that lived 10 s. A smart-attach-daemon's first step is its grace
//! (5 s), so a command that daemonizes slowly is not started twice.
//!
//! Must not: fork, reap or log (the supervisors do); it only says how long to wait.

use std::time::Duration;

/// The first wait before respawning a child that failed.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that lived at least this long is considered healthy: its backoff resets.
pub(super) const HEALTHY_LIFETIME: Duration = Duration::from_secs(10);

/// One child's next wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    first: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::starting_at(FIRST_BACKOFF)
    }
}

impl Backoff {
    /// A backoff whose first (and reset) wait is `first`, doubling to `MAX_BACKOFF`.
    pub(super) fn starting_at(first: Duration) -> Backoff {
        Backoff { first, next: first }
    }

    /// The wait now, without stepping (a fork that failed is tried again after it).
    pub(super) fn current(&self) -> Duration {
        self.next
    }

    /// The wait now, stepping the next one up (doubled, at most `MAX_BACKOFF`).
    pub(super) fn step(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
    }

    /// Back to the first wait (the child proved healthy).
    pub(super) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The wait before respawning a child that lived `lived` and ended `failed` (a clean
    /// end respawns at once and resets), stepping the next one up.
    pub(super) fn after_exit(&mut self, lived: Duration, failed: bool) -> Duration {
        if lived >= HEALTHY_LIFETIME || !failed {
            self.reset();
        }
        if !failed {
            return Duration::ZERO;
        }
        self.step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_limit_and_resets_after_a_healthy_life() {
        let mut backoff = Backoff::default();
        let short = Duration::from_millis(100);
        let waits: Vec<u64> = (0..7)
            .map(|_| backoff.after_exit(short, true).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff.after_exit(HEALTHY_LIFETIME, true), FIRST_BACKOFF);
        assert_eq!(backoff.after_exit(short, false), Duration::ZERO);
        assert_eq!(backoff.current(), FIRST_BACKOFF);
    }

    #[test]
    fn a_backoff_starting_later_doubles_and_resets_to_its_own_first_step() {
        let mut backoff = Backoff::starting_at(Duration::from_secs(5));
        let waits: Vec<u64> = (0..4).map(|_| backoff.step().as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 30]);
        backoff.reset();
        assert_eq!(backoff.current(), Duration::from_secs(5));
    }
}
