//! How a child process of the master ended, as `waitpid` reported it: the one typed status
//! every supervisor (worker slots, children, spoolers, mules, alarm commands) judges an exit
//! by, and the words the log uses for it.
//!
//! Must not: reap (slots.rs does, once for every child) or decide what an exit means.

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    /// exit(CODE); 0 is a clean exit.
    Code(i32),
    Killed(Signal),
}

impl Exit {
    /// The process and its end, for a status that says a process ended (None otherwise:
    /// stopped, continued, still alive).
    pub(super) fn from_wait(status: WaitStatus) -> Option<(Pid, Exit)> {
        match status {
            WaitStatus::Exited(pid, code) => Some((pid, Exit::Code(code))),
            WaitStatus::Signaled(pid, signal, _) => Some((pid, Exit::Killed(signal))),
            _ => None,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_is_judged_by_its_status_and_said_in_words() {
        let pid = Pid::from_raw(42);
        let clean = Exit::from_wait(WaitStatus::Exited(pid, 0)).unwrap();
        assert_eq!(clean, (pid, Exit::Code(0)));
        assert!(!clean.1.failed());
        assert_eq!(clean.1.to_string(), "exited");
        let status = Exit::Code(3);
        assert!(status.failed());
        assert_eq!(
            (status.code(), status.to_string().as_str()),
            (3, "exited with status 3")
        );
        let killed = Exit::from_wait(WaitStatus::Signaled(pid, Signal::SIGKILL, false)).unwrap();
        assert!(killed.1.failed());
        assert_eq!(killed.1.code(), 0);
        assert_eq!(killed.1.to_string(), "killed by SIGKILL");
        assert_eq!(Exit::from_wait(WaitStatus::StillAlive), None);
    }
}
