//! The respawn backoff the master's supervised children share (workers' slots, spoolers,
//! mules): 1 s, doubling to 30 s, back to the first step after a child that lived 10 s.
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
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    /// The wait now, without stepping (a fork that failed is tried again after it).
    pub(super) fn current(&self) -> Duration {
        self.next
    }

    /// The wait before respawning a child that lived `lived` and ended `failed` (a clean
    /// end respawns at once and resets), stepping the next one up.
    pub(super) fn after_exit(&mut self, lived: Duration, failed: bool) -> Duration {
        if lived >= HEALTHY_LIFETIME || !failed {
            self.next = FIRST_BACKOFF;
        }
        if !failed {
            return Duration::ZERO;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        delay
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
}
