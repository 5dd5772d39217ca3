//! Signals as data: the master blocks the signals it handles and reads them from a
//! signalfd in its loop; a forked worker restores default dispositions and an empty mask.
//!
//! Owns: the set of master signals and the child-side reset. Must not: decide what a
//! signal means (the arbiter does).

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub const MASTER_SIGNALS: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGCHLD,
    Signal::SIGUSR1,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

fn master_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in MASTER_SIGNALS {
        set.add(signal);
    }
    set
}

/// Blocks the master's signals and returns a descriptor that reads them.
pub fn master_signalfd() -> nix::Result<SignalFd> {
    let set = master_set();
    set.thread_block()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// The master's pid, recorded before it forks anything: a child compares its parent with it.
static MASTER_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Called by the master at start (and again by a reloaded image: the same pid).
pub fn remember_master() {
    MASTER_PID.store(
        std::process::id() as i32,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// In a freshly forked worker: default dispositions, nothing blocked, SIGPIPE ignored
/// (a client that hangs up must be an error return, not a dead worker), and death with
/// the master.
pub fn reset_in_child() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in MASTER_SIGNALS {
        // SAFETY: installing SIG_DFL runs no handler code.
        let _ = unsafe { sigaction(signal, &default) };
    }
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no handler code.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &ignore) };
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // A master killed between fork and the line above sent no death signal: the child is
    // already someone else's and would live on alone (seen with workers recycled every
    // request while a test killed the master).
    let master = MASTER_PID.load(std::sync::atomic::Ordering::Relaxed);
    if master != 0 && nix::unistd::getppid().as_raw() != master {
        std::process::exit(1);
    }
}

/// After a worker changes its user (master-as-root): the kernel clears the parent-death
/// signal on a change of credentials, so it is set again; a master already gone means exit.
pub fn die_with_master_again(master: nix::unistd::Pid) {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() != master {
        std::process::exit(1);
    }
}
