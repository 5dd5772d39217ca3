//! The master (arbiter): a single-threaded process that prepares everything once (sockets,
//! pidfile, Python and the preloaded app), forks the workers and then only reacts: signals
//! and worker notices in, then reap, respawn, recycle, reload, stop.
//!
//! Owns: worker slots and their lifecycle, signal meanings, harakiri and lifetime checks,
//! start-up, reload (re-exec) and shutdown order, vacuum. Must not: serve requests, start
//! threads or a tokio runtime (fork would copy a process whose other threads vanished), or
//! run Python except to load the app and fork.
//!
//! Files: startup.rs (the named start-up steps), generation.rs (first start or reload, the
//! one failure path `Generation::fail`, assembling the master), arbiter.rs (the
//! loop, notices, readiness, stopping), slots.rs (spawn, reap, backoff, retire),
//! cheaper.rs (how many workers the load asks for), checks.rs (periodic duties),
//! reload.rs (re-exec and its hand-off), status.rs (STATUS=, SIGUSR1, the stats inputs),
//! children.rs (attach-daemons, smart daemons and cron: one supervisor), backoff.rs (the
//! respawn backoff every supervisor shares), exit.rs (how a child ended), groups.rs
//! (process groups), spoolers.rs, mules.rs, stats.rs, metrics.rs, observe.rs, page.rs.

use crate::hooks::Phase;

mod alarm_runs;
mod arbiter;
mod backoff;
mod cheaper;
mod checks;
mod children;
mod exit;
mod fifo;
mod generation;
mod groups;
mod life;
pub mod metrics;
pub mod mules;
mod observe;
mod page;
mod reload;
mod slots;
pub mod spoolers;
mod startup;
pub mod stats;
mod stats_clients;
mod status;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use pyo3::prelude::*;

use crate::config::Config;
use crate::ipc::handoff::{self, RetiringWorker};
use crate::ipc::scoreboard::{self, Scoreboard, WorkerState};
use crate::ipc::{signals, Identity, Notice};
use crate::log;
use crate::net::{self, Inherited, InheritedFrom, Listener};
use crate::systemd::Notifier;
use crate::wsgi::host::{self, PythonHost};
use crate::wsgi::interpreter;
use exit::Exit;
pub use generation::hold_after_failure;
use generation::*;
use reload::*;
use slots::*;
use startup::*;
pub use startup::{run, WorkerMain};
use status::*;

/// Exit status when the application cannot be loaded and `need-app` is set (uWSGI's 22).
pub use crate::ipc::EXIT_NO_APP;
/// Exit status when a start-up step fails because of the configuration (a socket, the
/// pidfile, the user, chdir, the Python home): starting again cannot help, so the packaged
/// unit does not retry it (RestartPreventExitStatus=). Parse errors exit with it too.
pub const EXIT_CONFIG: i32 = 2;
/// The file in systemd's RuntimeDirectory where a reload's outcome is written, one line:
/// `ok` or `failed: REASON`. The packaged unit's ExecReload waits for it.
pub const RELOAD_STATUS_FILE: &str = "reload.status";
/// An immediate stop (SIGINT/SIGQUIT) still gives workers this long to die.
const QUICK_STOP_MERCY: Duration = Duration::from_secs(5);
enum Stopping {
    No,
    Graceful { deadline: Instant },
    Quick { deadline: Instant },
}

pub struct Master {
    config: Config,
    args: Vec<String>,
    /// How to run this rwsgi again (reload). Resolved at start: after a package upgrade
    /// replaces the file, reload runs the new one.
    relaunch: host::Command,
    /// The directory rwsgi was started in, before `chdir`: relative paths on the command
    /// line (`--ini app.ini`, `--chdir app`) mean the same thing to a reloaded image.
    launch_dir: Option<PathBuf>,
    /// Runs each forked worker (entry.rs passes `worker::run`).
    worker_main: WorkerMain,
    listeners: Vec<Listener>,
    app: Option<interpreter::Apps>,
    board: Scoreboard,
    notify_read: OwnedFd,
    notify_write: OwnedFd,
    slots: Vec<Slot>,
    retirees: Vec<Retiree>,
    /// Workers of the previous master image, retired once every new worker is ready.
    previous: Vec<(Pid, usize)>,
    /// This image was started by a reload (its outcome is reported once known).
    reloading: bool,
    /// A reload failed: why. The previous generation keeps serving; no worker is forked
    /// until the next reload.
    held: Option<String>,
    /// The application did not load (no need-app): workers answer 500.
    app_failure: Option<String>,
    stopping: Stopping,
    /// Set when the master stops because of a failure rather than a request to stop.
    exit_status: Option<i32>,
    touch_mtimes: Vec<Option<SystemTime>>,
    notifier: Notifier,
    /// READY=1 has been sent for this master image.
    announced_ready: bool,
    next_status: Instant,
    next_watchdog: Option<Instant>,
    /// When this master image started, for the start-up time logged at READY.
    started: Instant,
    stats: Option<stats::StatsServer>,
    /// `metrics = ADDR`.
    metrics: Option<stats::StatsServer>,
    /// Generation, first start, respawns by cause, harakiri: carried across reloads.
    lifetime: metrics::Lifetime,
    /// The last respawns: (unix ms, worker id, new pid, cause), newest last.
    recent_respawns: std::collections::VecDeque<(u64, usize, i32, metrics::Cause)>,
    /// master-fifo: (read end, a write end held so the FIFO never reads as closed).
    fifos: Vec<(OwnedFd, OwnedFd)>,
    /// py-autoreload: when to look next, and the module files with their mtimes.
    autoreload: Option<(Instant, Vec<ModuleFile>)>,
    /// attach-daemon, smart-attach-daemon, cron, unique-cron.
    children: children::Children,
    /// Process groups of daemons and commands being stopped.
    groups: groups::Groups,
    /// Alarm commands: started by the master alone, stopped with their groups.
    alarm_runs: alarm_runs::AlarmRuns,
    spoolers: spoolers::Spoolers,
    mules: mules::Mules,
    /// cheaper busyness: when the current cycle began, and idle cycles in a row.
    busyness_cycle: Instant,
    idle_cycles: u64,
    /// uwsgi.add_timer / add_rb_timer / add_cron / add_file_monitor state.
    signal_clock: crate::uwsgi_api::signals::MasterClock,
}
