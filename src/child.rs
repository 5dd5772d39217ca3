//! The first steps of a process the master forks: the workers' privileges, no systemd or
//! master-only variables, and for helpers (mules, spoolers) a process group of their own,
//! default signal dispositions and their title. Shared by `master` (helpers) and `worker`.
//!
//! Must not: load the application or run Python code (the caller does, after this).

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use crate::config::{ForkedParts, PrivilegesConfig};
use crate::log;
use crate::wsgi::interpreter;

/// Settles the freshly forked helper `label` (`mule 2`, `spooler 1`); exits if it cannot
/// take the workers' privileges.
pub fn settle_helper(
    config: ForkedParts<'_>,
    label: &str,
    on_sigterm: Option<extern "C" fn(nix::libc::c_int)>,
) {
    crate::ipc::signals::reset_in_child();
    // Its own process group, so stopping it stops what it started.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    if let Some(on_sigterm) = on_sigterm {
        let handler = SigAction::new(
            SigHandler::Handler(on_sigterm),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handlers passed here only store to an atomic (async-signal-safe).
        let _ = unsafe { nix::sys::signal::sigaction(Signal::SIGTERM, &handler) };
    }
    if config.titles.auto_procname {
        crate::sys::title::set_process_name(&format!(
            "{}rwsgi {label}",
            config.titles.procname_prefix
        ));
    }
    drop_privileges(config.privileges, &format!("{label}: "));
    forget_master_environment();
}

/// Takes the workers' privileges if the master kept root (`master-as-root`); exits if it
/// cannot. `prefix` starts the error line. Call it before any thread exists, so the drop
/// covers every thread.
pub fn drop_privileges(privileges: &PrivilegesConfig, prefix: &str) {
    if !privileges.master_as_root {
        return;
    }
    let master = nix::unistd::getppid();
    let dropped = crate::privileges::resolve(privileges).and_then(|target| {
        crate::privileges::drop_to(
            &target,
            &privileges.capabilities,
            privileges.no_new_privileges,
        )
    });
    if let Err(message) = dropped {
        log::error(&format!("{prefix}cannot drop privileges: {message}"));
        std::process::exit(1);
    }
    crate::ipc::signals::die_with_master_again(master);
}

/// What only the master may see: systemd's variables and the master-only ones.
pub fn forget_master_environment() {
    crate::systemd::forget_in_child();
    interpreter::forget_environment(&crate::sys::shell::MASTER_ONLY_VARIABLES);
}
