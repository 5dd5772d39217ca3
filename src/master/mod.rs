//! The master (arbiter): a single-threaded process that prepares everything once (sockets,
//! pidfile, Python and the preloaded app), forks the workers and then only reacts: signals
//! and worker notices in, then reap, respawn, recycle, reload, stop.
//!
//! Owns: worker slots and their lifecycle, signal meanings, harakiri and lifetime checks,
//! start-up, reload (re-exec) and shutdown order, vacuum. Must not: serve requests, start
//! threads or a tokio runtime (fork would copy a process whose other threads vanished), or
//! run Python except to load the app and fork.

use crate::hooks::Phase;

mod alarm_runs;
pub mod cron;
mod groups;
mod jobs;
pub mod metrics;
pub mod mules;
mod observe;
mod page;
pub mod scoreboard;
pub mod signals;
pub mod spoolers;
pub mod stats;

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
use crate::net::{self, Inherited, InheritedFrom, Listener};
use crate::systemd::Notifier;
use crate::wsgi::host::{self, PythonHost};
use crate::wsgi::interpreter;
use crate::{log, worker};
use scoreboard::{Scoreboard, WorkerState};

/// Exit status when the application cannot be loaded and `need-app` is set (uWSGI's 22).
pub const EXIT_NO_APP: i32 = worker::EXIT_NO_APP;
/// Exit status when a start-up step fails because of the configuration (a socket, the
/// pidfile, the user, chdir, the Python home): starting again cannot help, so the packaged
/// unit does not retry it (RestartPreventExitStatus=). Parse errors exit with it too.
pub const EXIT_CONFIG: i32 = 2;
/// The file in systemd's RuntimeDirectory where a reload's outcome is written, one line:
/// `ok` or `failed: REASON`. The packaged unit's ExecReload waits for it.
pub const RELOAD_STATUS_FILE: &str = "reload.status";
/// An immediate stop (SIGINT/SIGQUIT) still gives workers this long to die.
const QUICK_STOP_MERCY: Duration = Duration::from_secs(5);
/// Respawning a worker that keeps failing backs off from 1 s, doubling, to 30 s.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that lived at least this long is considered healthy: its backoff resets.
const HEALTHY_LIFETIME: Duration = Duration::from_secs(10);
/// Workers alive at a reload, handed to the next master image to retire.
const RELOAD_WORKERS_VAR: &str = "RWSGI_RELOAD_WORKERS";

/// A place for one worker; its process changes as workers are recycled.
struct Slot {
    id: usize,
    pid: Option<Pid>,
    entry: Option<usize>,
    born: Instant,
    ready: bool,
    /// When the slot may fork again after a failure.
    respawn_at: Option<Instant>,
    backoff: Duration,
    /// Removed by SIGTTOU: not respawned.
    retiring: bool,
    /// Killed by harakiri: respawn at once, not as a failure.
    harakiri: bool,
    /// harakiri-graceful-timeout: when SIGTERM was sent; SIGKILL follows after the timeout.
    harakiri_sigterm: Option<Instant>,
    respawn_count: u64,
    harakiri_count: u64,
    /// cheaper: not wanted now; not respawned until the load asks for it.
    cheap: bool,
    /// cheaper: the request count last seen and when it last changed (or was busy).
    last_requests: u64,
    last_active: Instant,
    /// cheaper busyness: the worker's busy time at the last cycle.
    busy_us_seen: u64,
}

impl Slot {
    /// A slot with no worker yet, forking when `respawn_at` comes (never while None).
    fn new(id: usize, respawn_at: Option<Instant>) -> Slot {
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

/// A worker finishing its requests before it exits; its slot already has a successor.
struct Retiree {
    pid: Pid,
    id: usize,
    entry: Option<usize>,
    deadline: Instant,
}

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
    /// attach-daemon: (command, pid while running, when to (re)start it, backoff).
    daemons: Vec<Daemon>,
    /// master-fifo: (read end, a write end held so the FIFO never reads as closed).
    fifos: Vec<(OwnedFd, OwnedFd)>,
    /// py-autoreload: when to look next, and the module files with their mtimes.
    autoreload: Option<(Instant, Vec<ModuleFile>)>,
    /// cron, unique-cron, smart-attach-daemon.
    jobs: jobs::Jobs,
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

/// The first request of a worker running longer than `limit_ms`: (thread, start, what).
fn overdue(
    board: &Scoreboard,
    entry: usize,
    now: u64,
    limit_ms: u64,
) -> Option<(usize, u64, String)> {
    board
        .in_flight(entry)
        .into_iter()
        .find(|(_, started, _)| now.saturating_sub(*started) > limit_ms)
}

/// A command run beside the workers (attach-daemon).
struct Daemon {
    command: String,
    /// attach-daemon2's stopsignal; SIGTERM otherwise.
    stop_signal: Signal,
    pid: Option<Pid>,
    start_at: Option<Instant>,
    backoff: Duration,
    started: Instant,
}

/// A module's source file and its modification time when the master imported it.
type ModuleFile = (PathBuf, Option<SystemTime>);

/// Creates (or reuses) a FIFO for master commands, open without blocking.
fn open_fifo(path: &std::path::Path) -> Result<(OwnedFd, OwnedFd), String> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(format!(
                "master-fifo {}: exists and is not a FIFO",
                path.display()
            ))
        }
        Err(_) => nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| format!("master-fifo {}: {e}", path.display()))?,
    }
    let flags = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let read = open(path, OFlag::O_RDONLY | flags, Mode::empty())
        .map_err(|e| format!("master-fifo {}: {e}", path.display()))?;
    let write = open(path, OFlag::O_WRONLY | flags, Mode::empty())
        .map_err(|e| format!("master-fifo {}: {e}", path.display()))?;
    Ok((read, write))
}

/// How often STATUS= is refreshed with the request count.
const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the server; returns the process exit status. `args` are the command-line
/// arguments, kept to re-read the configuration on reload.
pub fn run(config: Config, args: Vec<String>, host: PythonHost) -> i32 {
    signals::remember_master();
    // Orphans of the commands rwsgi starts (a daemon's shell died before its children)
    // become the master's children, so it can reap them and know when a group is empty.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::warn(&format!("cannot become a subreaper: {e}"));
    }
    let (generation, mut inherited) = Generation::from_environment();
    let reloading = generation.reloading;
    log::info(&format!(
        "rwsgi {} {} (master pid {})",
        env!("CARGO_PKG_VERSION"),
        if reloading { "reloading" } else { "starting" },
        std::process::id()
    ));
    if let Some(home) = &config.home {
        activate_virtualenv(home);
    }
    if let Err(message) = config.hooks.run_phase(Phase::Asap) {
        return generation.fail(&config, args, host, &message, 1);
    }
    for (key, value) in &config.env {
        // Single-threaded here: nothing else reads the environment concurrently.
        std::env::set_var(key, value);
    }
    if let Some(dir) = &config.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            let message = format!("chdir {}: {e}", dir.display());
            return generation.fail(&config, args, host, &message, EXIT_CONFIG);
        }
    }
    let notifier = Notifier::from_environment();
    if config.auto_procname {
        let name = match (&config.procname_master, &config.procname) {
            (Some(name), _) | (None, Some(name)) => name.clone(),
            (None, None) => format!("{}rwsgi master", config.procname_prefix),
        };
        set_process_name(&name);
    }
    let target = match crate::privileges::resolve(&config) {
        Ok(target) => crate::privileges::attainable(target, &config),
        Err(message) => return generation.fail(&config, args, host, &message, EXIT_CONFIG),
    };
    match crate::systemd::take_listen_fds() {
        Ok(fds) => inherited.extend(fds.into_iter().map(|(fd, name)| Inherited {
            fd,
            origin: InheritedFrom::Systemd { name },
        })),
        Err(message) => return generation.fail(&config, args, host, &message, 1),
    }
    if notifier.enabled() {
        warn_unwritable(&config);
    }
    let listeners = match net::listeners(&config, inherited) {
        Ok(listeners) => listeners,
        Err(message) => return generation.fail(&config, args, host, &message, EXIT_CONFIG),
    };
    if listeners.is_empty() {
        let message = "no socket to serve: set 'http-socket', 'http' or 'socket'";
        return generation.fail(&config, args, host, message, EXIT_CONFIG);
    }
    for listener in &listeners {
        if listener.from_systemd {
            use std::os::fd::AsRawFd;
            log::info(&format!(
                "fd {} {}: {}, from systemd",
                listener.fd.as_raw_fd(),
                listener.address,
                listener.protocol
            ));
        } else {
            log::info(&format!(
                "listening on {} ({})",
                listener.address, listener.protocol
            ));
        }
    }
    let stats_mode = if config.stats_http {
        stats::Mode::Http
    } else {
        stats::Mode::Raw
    };
    let stats_server = match bind_stats(config.stats.as_deref(), stats_mode) {
        Ok(server) => server,
        Err(message) => return generation.fail(&config, args, host, &message, EXIT_CONFIG),
    };
    let metrics_server = match bind_stats(config.metrics.as_deref(), stats::Mode::Metrics) {
        Ok(server) => server,
        Err(message) => return generation.fail(&config, args, host, &message, EXIT_CONFIG),
    };
    let lifetime = metrics::Lifetime::from_environment();
    let mut fifos = Vec::new();
    for path in &config.master_fifo {
        match open_fifo(path) {
            Ok(pair) => fifos.push(pair),
            Err(message) => return generation.fail(&config, args, host, &message, EXIT_CONFIG),
        }
    }
    if let Some(owner) = &config.chown_socket {
        if let Err(message) = crate::privileges::chown_sockets(&listeners, owner, &config) {
            return generation.fail(&config, args, host, &message, EXIT_CONFIG);
        }
    }
    if let Some(path) = &config.pidfile {
        if let Err(e) = write_pidfile(path) {
            let message = format!("cannot write pidfile {}: {e}", path.display());
            return generation.fail(&config, args, host, &message, EXIT_CONFIG);
        }
    }
    if let Err(message) = config.hooks.run_phase(Phase::AsRoot) {
        return generation.fail(&config, args, host, &message, 1);
    }
    if !config.master_as_root {
        if let Err(message) =
            crate::privileges::drop_to(&target, &config.capabilities, config.no_new_privileges)
        {
            let message = format!("cannot drop privileges: {message}");
            return generation.fail(&config, args, host, &message, EXIT_CONFIG);
        }
    }
    if config.logto_after_drop {
        if let Some(path) = &config.logto {
            if let Err(e) = log::redirect_to(path) {
                let message = format!("logto2 {}: {e}", path.display());
                return generation.fail(&config, args, host, &message, EXIT_CONFIG);
            }
        }
    }
    if let Err(message) = config.hooks.run_phase(Phase::AsUser) {
        return generation.fail(&config, args, host, &message, 1);
    }
    notifier.status("loading the application");
    if let Err(message) = interpreter::initialize(&config, &host) {
        return generation.fail(&config, args, host, &message, EXIT_CONFIG);
    }
    // Mapped before the application loads: `import uwsgi` at import time sees the workers'
    // table and the caches, and every worker forked later shares them.
    let board = match Scoreboard::new((config.processes * 2 + 16).max(64), config.threads) {
        Ok(board) => board,
        Err(e) => {
            let message = format!("cannot map the scoreboard: {e}");
            return generation.fail(&config, args, host, &message, 1);
        }
    };
    crate::uwsgi_api::set_scoreboard(board);
    if let Err(message) = install_uwsgi_module(&config, &args, reloading) {
        return generation.fail(&config, args, host, &message, 1);
    }
    if let Err(e) = Python::attach(crate::wsgi::journal_stream::install) {
        log::warn(&format!(
            "the application's output stays on the service's stream: {e}"
        ));
    }
    let mut app_failure = None;
    let app = if config.lazy_apps {
        None
    } else {
        match import_with_extended_timeout(&notifier, &config) {
            Ok(app) => {
                log::info(&format!("application loaded: {}", app_label(&config)));
                Some(app)
            }
            Err(interpreter::LoadError::Hook(message)) => {
                return generation.fail(&config, args, host, &message, 1);
            }
            Err(interpreter::LoadError::App(message)) => {
                let summary = format!(
                    "the application did not load: {}",
                    message.lines().last().unwrap_or("")
                );
                if reloading {
                    log::error(&message);
                    return generation.fail(&config, args, host, &summary, EXIT_NO_APP);
                }
                log::error(&message);
                if config.need_app {
                    log::error("need-app is set: exiting");
                    notifier.status(&format!("failed: {summary} (need-app)"));
                    if config.vacuum {
                        net::vacuum(&listeners);
                    }
                    return EXIT_NO_APP;
                }
                log::warn("serving 500 to every request until the application loads (set need-app to exit instead)");
                app_failure = Some(summary);
                None
            }
        }
    };
    if app.is_some() {
        Python::attach(interpreter::freeze_heap);
    }
    let autoreload = config.py_autoreload.map(|interval| {
        if config.lazy_apps {
            log::warn("py-autoreload watches the modules the master imported; with lazy-apps that is none");
        }
        (Instant::now() + interval, Python::attach(interpreter::module_files))
    });
    let parts = Parts {
        board: Some(board),
        listeners,
        app,
        app_failure,
        stats: stats_server,
        metrics: metrics_server,
        lifetime,
        fifos,
        autoreload,
        notifier,
    };
    let (mut master, signal_fd) = match assemble(config, args, host, parts, generation) {
        Ok(assembled) => assembled,
        Err(message) => {
            log::error(&message);
            return 1;
        }
    };
    stats::release_handed();
    for (pid, id) in master.previous.clone() {
        master.record_respawn(id, pid.as_raw(), metrics::Cause::Reload);
    }
    master.notifier.status("starting workers");
    log::info(&format!(
        "master {} {} {} worker(s) of {} thread(s) each",
        std::process::id(),
        if reloading {
            "reloaded; forking"
        } else {
            "forking"
        },
        master.config.processes,
        master.config.threads
    ));
    if let Err(message) = master.config.hooks.run_phase(Phase::MasterStart) {
        if reloading {
            master.hold_previous(&message);
        } else {
            log::error(&format!("{message}; start aborted"));
            master.exit_status = Some(1);
            master.begin_stop(false);
        }
    }
    let status = master.arbiter_loop(&signal_fd);
    master.cleanup();
    status
}

/// What start-up prepared for the master besides its configuration.
struct Parts {
    /// Mapped before the application loaded (the `uwsgi` module reads it); a held reload
    /// maps a fresh one.
    board: Option<Scoreboard>,
    listeners: Vec<Listener>,
    app: Option<interpreter::Apps>,
    app_failure: Option<String>,
    stats: Option<stats::StatsServer>,
    metrics: Option<stats::StatsServer>,
    /// Counters that outlive one master image (respawns, reloads, start time).
    lifetime: metrics::Lifetime,
    fifos: Vec<(OwnedFd, OwnedFd)>,
    autoreload: Option<(Instant, Vec<ModuleFile>)>,
    notifier: Notifier,
}

/// The generation being started, and what to fall back on if it cannot start.
struct Generation {
    /// A reload: the previous generation's workers (`previous`) serve until this one can.
    reloading: bool,
    /// Copies of the sockets the previous image passed on.
    fallback: Vec<Inherited>,
    previous: Vec<(Pid, usize)>,
    started: Instant,
    launch_dir: Option<PathBuf>,
}

/// A start that failed before the master could run (entry: reading the configuration,
/// logto, the virtualenv): the exit status, or in a reload the previous generation kept.
pub fn hold_after_failure(message: &str, args: Vec<String>, host: PythonHost, status: i32) -> i32 {
    let (generation, _) = Generation::from_environment();
    generation.fail(&Config::default(), args, host, message, status)
}

impl Generation {
    /// What the previous master image (if any) passed across exec: its workers and its
    /// sockets. Until the new generation is up, every failure leaves the previous one
    /// serving on copies of those sockets.
    fn from_environment() -> (Generation, Vec<Inherited>) {
        stats::import_from_reload();
        let inherited: Vec<Inherited> = std::env::var(net::RELOAD_FDS_VAR)
            .map(|text| net::import_from_reload(&text))
            .unwrap_or_default();
        let previous = previous_generation();
        std::env::remove_var(net::RELOAD_FDS_VAR);
        std::env::remove_var(RELOAD_WORKERS_VAR);
        let generation = Generation {
            reloading: !previous.is_empty(),
            fallback: net::duplicate_inherited(&inherited),
            previous,
            started: Instant::now(),
            launch_dir: std::env::current_dir().ok(),
        };
        (generation, inherited)
    }

    /// A start-up step failed. A first start exits with `status` (2: the configuration
    /// cannot work, which the packaged unit does not retry; 22: no application). A reload
    /// keeps the previous generation serving and tells systemd (READY=1, STATUS=) and
    /// `systemctl reload` (the reload status file) that it failed and why.
    fn fail(
        self,
        config: &Config,
        args: Vec<String>,
        host: PythonHost,
        message: &str,
        status: i32,
    ) -> i32 {
        log::error(message);
        if !self.reloading {
            Notifier::from_environment().status(&format!("failed: {message}"));
            return status;
        }
        let parts = Parts {
            board: None,
            listeners: net::adopt_unchanged(self.fallback),
            app: None,
            app_failure: None,
            stats: stats::take_handed(false),
            metrics: stats::take_handed(true),
            lifetime: metrics::Lifetime::from_environment(),
            fifos: Vec::new(),
            autoreload: None,
            notifier: Notifier::from_environment(),
        };
        let generation = Generation {
            fallback: Vec::new(),
            ..self
        };
        let (mut master, signal_fd) = match assemble(config.clone(), args, host, parts, generation)
        {
            Ok(assembled) => assembled,
            Err(error) => {
                log::error(&error);
                return status;
            }
        };
        master.hold_previous(message);
        let status = master.arbiter_loop(&signal_fd);
        master.cleanup();
        status
    }
}

/// The master around what start-up prepared: signals, scoreboard, notify pipe, slots.
fn assemble(
    config: Config,
    args: Vec<String>,
    host: PythonHost,
    parts: Parts,
    generation: Generation,
) -> Result<(Master, nix::sys::signalfd::SignalFd), String> {
    let signal_fd = signals::master_signalfd().map_err(|e| format!("cannot watch signals: {e}"))?;
    let board = match parts.board {
        Some(board) => board,
        None => Scoreboard::new((config.processes * 2 + 16).max(64), config.threads)
            .map_err(|e| format!("cannot map the scoreboard: {e}"))?,
    };
    let (notify_read, notify_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| format!("cannot create the notify pipe: {e}"))?;
    let mut slots: Vec<Slot> = (1..=config.processes)
        .map(|id| Slot::new(id, Some(Instant::now())))
        .collect();
    if config.cheaper > 0 {
        let initial = config
            .cheaper_initial
            .unwrap_or(config.cheaper)
            .clamp(1, config.processes);
        for slot in slots.iter_mut().skip(initial) {
            slot.cheap = true;
            slot.respawn_at = None;
        }
    }
    let touch_mtimes = config.touch_reload.iter().map(|p| modified(p)).collect();
    let master_daemons = config
        .attach_daemons
        .iter()
        .map(|(command, stop_signal)| Daemon {
            command: command.clone(),
            stop_signal: Signal::try_from(*stop_signal).unwrap_or(Signal::SIGTERM),
            pid: None,
            start_at: Some(Instant::now()),
            backoff: FIRST_BACKOFF,
            started: Instant::now(),
        })
        .collect();
    let jobs = jobs::Jobs::new(&config);
    let spoolers = spoolers::Spoolers::new(&config);
    let alarm_runs = alarm_runs::AlarmRuns::new(config.alarm_freq);
    let mules = mules::Mules::new(&config);
    let master = Master {
        config,
        args,
        relaunch: host.relaunch(),
        launch_dir: generation.launch_dir,
        listeners: parts.listeners,
        app: parts.app,
        board,
        notify_read,
        notify_write,
        slots,
        retirees: Vec::new(),
        previous: generation.previous,
        reloading: generation.reloading,
        held: None,
        app_failure: parts.app_failure,
        stopping: Stopping::No,
        exit_status: None,
        touch_mtimes,
        next_watchdog: parts.notifier.watchdog_interval().map(|_| Instant::now()),
        notifier: parts.notifier,
        announced_ready: false,
        started: generation.started,
        stats: parts.stats,
        metrics: parts.metrics,
        lifetime: parts.lifetime,
        recent_respawns: std::collections::VecDeque::new(),
        daemons: master_daemons,
        fifos: parts.fifos,
        autoreload: parts.autoreload,
        next_status: Instant::now() + STATUS_INTERVAL,
        jobs,
        groups: groups::Groups::default(),
        alarm_runs,
        spoolers,
        mules,
        busyness_cycle: Instant::now(),
        idle_cycles: 0,
        signal_clock: Default::default(),
    };
    Ok((master, signal_fd))
}

/// Under systemd, warns about paths the server itself writes whose directory the service
/// cannot write (the packaged unit's ProtectSystem=strict), before the write fails.
fn warn_unwritable(config: &Config) {
    let stats_path = config
        .stats
        .as_deref()
        .filter(|spec| spec.contains('/'))
        .map(PathBuf::from);
    let paths = [
        ("logto", config.logto.clone()),
        ("pidfile", config.pidfile.clone()),
        ("stats", stats_path),
    ];
    for (what, path) in paths {
        let Some(path) = path else { continue };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Err(e) = nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK) {
            let advice = match e {
                Errno::EROFS => crate::systemd::writable_paths_hint(&dir),
                _ => crate::systemd::runtime_directory_hint(),
            };
            log::warn(&format!(
                "{what} {}: this service cannot write to {} ({e}); {advice}",
                path.display(),
                dir.display(),
            ));
        }
    }
}

/// What `source <venv>/bin/activate` does, for everything rwsgi starts (the application,
/// hooks, daemons, cron): VIRTUAL_ENV, and `<venv>/bin` first on PATH, so a
/// `#!/usr/bin/env python` script runs the venv's Python. uWSGI leaves PATH alone.
/// Runs while the master is single-threaded; a reloaded image finds PATH already set.
fn activate_virtualenv(home: &std::path::Path) {
    let home = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    let bin = home.join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut entries: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if entries.first() != Some(&bin) {
        entries.insert(0, bin);
        if let Ok(joined) = std::env::join_paths(entries) {
            std::env::set_var("PATH", joined);
        }
    }
    std::env::set_var("VIRTUAL_ENV", &home);
}

/// `import uwsgi` (and uwsgidecorators) for the application, with `uwsgi.opt` built from
/// the configuration as written.
fn install_uwsgi_module(config: &Config, args: &[String], reloading: bool) -> Result<(), String> {
    let mut entries = match crate::config::source::from_args(args) {
        Ok(crate::config::source::Request::Serve(entries)) => entries,
        _ => Vec::new(),
    };
    // uWSGI lists the configuration files themselves too (`ini`).
    let mut files = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if let Some(path) = word.strip_prefix("--ini=") {
            files.push(path.to_string());
        } else if word == "--ini" {
            files.extend(words.next().cloned());
        }
    }
    for (index, path) in files.into_iter().enumerate() {
        entries.insert(
            index,
            crate::config::source::Entry {
                key: "ini".into(),
                value: Some(path),
                origin: crate::config::source::Origin::CommandLine,
            },
        );
    }
    Python::attach(|py| crate::uwsgi_api::install(py, config, &entries, reloading))
        .map_err(|e| format!("cannot provide the uwsgi module: {e}"))
}

/// Writes the pid to a temporary file renamed into place, so a reader never sees it
/// half-written (uWSGI's safe-pidfile).
fn write_pidfile(path: &std::path::Path) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, format!("{}\n", std::process::id()))?;
    std::fs::rename(&temporary, path)
}

/// Imports the application; meanwhile a short-lived helper thread asks systemd for more
/// start-up time. The thread is joined before any fork, so the master forks single-threaded.
fn import_with_extended_timeout(
    notifier: &Notifier,
    config: &Config,
) -> Result<interpreter::Apps, interpreter::LoadError> {
    if !notifier.enabled() {
        return Python::attach(|py| interpreter::load_apps(py, config));
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut waited = Duration::ZERO;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if waited >= Duration::from_secs(10) {
                    notifier.extend_timeout(Duration::from_secs(30));
                    waited = Duration::ZERO;
                }
                std::thread::sleep(Duration::from_millis(100));
                waited += Duration::from_millis(100);
            }
        });
        let result = Python::attach(|py| interpreter::load_apps(py, config));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

/// Writes a reload's outcome where the unit's ExecReload waits for it (systemd's
/// RUNTIME_DIRECTORY, when set): written aside and renamed, so it is read whole.
fn report_reload(outcome: &str) {
    let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") else {
        return;
    };
    let Some(dir) = dir
        .to_str()
        .and_then(|d| d.split(':').next())
        .map(PathBuf::from)
    else {
        return;
    };
    let path = dir.join(RELOAD_STATUS_FILE);
    let temporary = dir.join(format!("{RELOAD_STATUS_FILE}.tmp"));
    let written = std::fs::write(&temporary, format!("{}\n", outcome.replace('\n', " ")))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(e) = written {
        log::warn(&format!("cannot write {}: {e}", path.display()));
    }
}

/// Binds a stats or metrics server when the configuration asks for one.
fn bind_stats(spec: Option<&str>, mode: stats::Mode) -> Result<Option<stats::StatsServer>, String> {
    let Some(spec) = spec else { return Ok(None) };
    let server = stats::StatsServer::bind(spec, mode)?;
    let what = match mode {
        stats::Mode::Metrics => "metrics (Prometheus text)",
        _ => "stats server",
    };
    log::info(&format!("{what} on {}", server.local_address()));
    Ok(Some(server))
}

fn previous_generation() -> Vec<(Pid, usize)> {
    let Ok(text) = std::env::var(RELOAD_WORKERS_VAR) else {
        return Vec::new();
    };
    text.split(',')
        .filter_map(|item| {
            let (pid, id) = item.split_once(':')?;
            Some((Pid::from_raw(pid.parse().ok()?), id.parse().ok()?))
        })
        .collect()
}

fn app_label(config: &Config) -> String {
    match (&config.module, &config.wsgi_file) {
        (Some(module), _) => format!("{module}:{}", config.callable),
        (None, Some(file)) => format!("{}:{}", file.display(), config.callable),
        _ => match &config.paste {
            Some(spec) => format!("paste {spec}"),
            None => "mounts only".into(),
        },
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Master {
    fn arbiter_loop(&mut self, signal_fd: &nix::sys::signalfd::SignalFd) -> i32 {
        loop {
            self.spawn_due();
            if let Some(status) = self.check_stop() {
                return status;
            }
            let mut fds = vec![
                PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.notify_read.as_fd(), PollFlags::POLLIN),
            ];
            for server in self.stats.iter().chain(&self.metrics) {
                fds.push(PollFd::new(server.fd(), PollFlags::POLLIN));
            }
            for (read, _) in &self.fifos {
                fds.push(PollFd::new(read.as_fd(), PollFlags::POLLIN));
            }
            fds.extend(
                self.alarm_runs
                    .fd()
                    .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::from(self.poll_timeout_ms())) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    log::error(&format!("poll: {e}"));
                    return 1;
                }
            }
            while let Ok(Some(info)) = signal_fd.read_signal() {
                if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                    self.on_signal(signal);
                }
            }
            self.read_notices();
            self.serve_stats();
            self.read_fifo_commands();
            self.reap();
            let stopping = !matches!(self.stopping, Stopping::No);
            self.alarm_runs.run_raised(stopping);
            self.periodic_checks();
        }
    }

    fn poll_timeout_ms(&self) -> u16 {
        let now = Instant::now();
        let next_respawn = self
            .slots
            .iter()
            .filter(|s| s.pid.is_none())
            .filter_map(|s| s.respawn_at)
            .map(|at| at.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1));
        let watchdog = self
            .next_watchdog
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1));
        let groups = if self.groups.is_empty() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        };
        next_respawn
            .min(watchdog)
            .min(groups)
            .min(Duration::from_secs(1))
            .as_millis() as u16
    }

    fn on_signal(&mut self, signal: Signal) {
        match signal {
            Signal::SIGTERM => self.begin_stop(true),
            Signal::SIGINT | Signal::SIGQUIT => self.begin_stop(false),
            Signal::SIGHUP => self.reload("SIGHUP"),
            Signal::SIGUSR1 => self.log_status(),
            Signal::SIGTTIN => self.add_worker(),
            Signal::SIGTTOU => self.remove_worker(),
            _ => {}
        }
    }

    /// Worker notices: "ready" (app loaded, accepting) and "draining" (it will exit after
    /// its requests; fork its successor now so capacity never drops).
    fn read_notices(&mut self) {
        let mut message = [0u8; 4];
        while let Ok(4) = nix::unistd::read(&self.notify_read, &mut message) {
            let entry = usize::from(u16::from_le_bytes([message[2], message[3]]));
            let Some(index) = self.slots.iter().position(|s| s.entry == Some(entry)) else {
                continue;
            };
            match message[0] {
                worker::NOTIFY_READY => {
                    let slot = &mut self.slots[index];
                    slot.ready = true;
                    log::info(&format!(
                        "worker {} ready {:.1} ms after fork",
                        slot.id,
                        slot.born.elapsed().as_secs_f64() * 1000.0
                    ));
                    self.retire_previous_when_ready();
                    self.announce_ready_when_all_are();
                }
                worker::NOTIFY_DRAINING => self.retire_slot(index, false),
                worker::NOTIFY_NO_APP => self.on_no_app(index),
                _ => {}
            }
        }
    }

    /// uWSGI's master-fifo letters: r/w reload, q graceful stop, Q immediate stop,
    /// s status, + one worker more, - one worker less. Unknown letters are logged.
    fn read_fifo_commands(&mut self) {
        let mut commands = Vec::new();
        for (read, _) in &self.fifos {
            let mut buf = [0u8; 64];
            while let Ok(n) = nix::unistd::read(read, &mut buf) {
                if n == 0 {
                    break;
                }
                commands.extend_from_slice(&buf[..n]);
            }
        }
        for command in commands {
            match command {
                b'r' | b'w' | b'R' | b'c' => self.reload("master-fifo"),
                b'q' => self.begin_stop(true),
                b'Q' => self.begin_stop(false),
                b's' => self.log_status(),
                b'+' => self.add_worker(),
                b'-' => self.remove_worker(),
                b'\n' | b'\r' | b' ' => {}
                other => log::warn(&format!("master-fifo: unknown command {:?}", other as char)),
            }
        }
    }

    fn stats_document(&self) -> String {
        let sockets: Vec<stats::SocketStats> = self
            .listeners
            .iter()
            .map(|l| stats::SocketStats {
                name: l.address.to_string(),
                proto: l.protocol.to_string(),
                backlog: self.config.listen_backlog,
                queue: net::queue::listen_queue(l.fd.as_fd(), &l.address).map_or(0, |q| q.0),
            })
            .collect();
        let workers: Vec<stats::WorkerStats> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let (pid, entry) = (slot.pid?, slot.entry?);
                let record = self.board.entry(entry);
                let load =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                let in_flight = self.board.in_flight(entry);
                Some(stats::WorkerStats {
                    id: slot.id,
                    pid: pid.as_raw(),
                    requests: load(&record.requests),
                    exceptions: load(&record.exceptions),
                    harakiri_count: slot.harakiri_count,
                    respawn_count: slot.respawn_count,
                    busy: (0..self.config.threads)
                        .map(|t| in_flight.iter().any(|(thread, _, _)| *thread == t))
                        .collect(),
                    tx: load(&record.tx),
                    busy_us: load(&record.busy_us),
                    last_spawn: load(&record.born_ms) / 1000,
                })
            })
            .collect();
        stats::document(
            &sockets,
            &workers,
            &self.spoolers.stats(),
            &self.mules.stats(),
        )
    }

    /// READY=1 once every worker has the application loaded and accepts (lazy-apps too).
    fn announce_ready_when_all_are(&mut self) {
        if self.announced_ready || !self.slots.iter().all(|s| s.ready || s.retiring || s.cheap) {
            return;
        }
        self.announced_ready = true;
        let status = self.status_text();
        log::info(&format!(
            "ready: {status} ({:.0} ms after start)",
            self.started.elapsed().as_secs_f64() * 1000.0
        ));
        self.notifier.ready(&status);
        if self.reloading {
            report_reload("ok");
        }
    }

    /// A reload could not start its generation: the previous one keeps serving, systemd
    /// hears READY=1 (the reload is over) with the reason in STATUS=, and so does
    /// `systemctl reload` through the reload status file.
    fn hold_previous(&mut self, reason: &str) {
        for slot in &mut self.slots {
            slot.respawn_at = None;
        }
        self.held = Some(reason.to_string());
        self.announced_ready = true;
        log::error(&format!(
            "reload failed: {reason}; the previous generation ({} worker(s)) keeps serving",
            self.previous.len()
        ));
        self.notifier.ready(&self.status_text());
        report_reload(&format!("failed: {reason}"));
    }

    /// A worker could not import the application (lazy-apps, no need-app: it answers 500).
    /// During a reload that ends the reload: the new workers go, the previous ones stay.
    fn on_no_app(&mut self, index: usize) {
        let reason = format!(
            "the application did not load in worker {} (its error is in the log)",
            self.slots[index].id
        );
        if self.reloading && !self.previous.is_empty() && self.held.is_none() {
            for index in 0..self.slots.len() {
                if self.slots[index].pid.is_some() {
                    self.retire_slot(index, true);
                }
            }
            self.hold_previous(&reason);
            return;
        }
        if self.app_failure.is_none() {
            log::warn("serving 500 to every request until the application loads (set need-app to exit instead)");
            self.app_failure = Some(reason);
            self.notifier.status(&self.status_text());
        }
    }

    fn status_text(&self) -> String {
        let served: u64 = self
            .slots
            .iter()
            .filter_map(|s| s.entry)
            .map(|entry| {
                self.board
                    .entry(entry)
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        let workers = self.slots.iter().filter(|s| s.pid.is_some()).count();
        if let Some(reason) = &self.held {
            return format!(
                "reload failed: {reason}; the previous generation ({} worker(s)) keeps serving",
                self.previous.len()
            );
        }
        let status = format!("{workers} worker(s), {served} request(s) served by the current ones");
        match &self.app_failure {
            Some(reason) => format!("{reason}: answering 500; {status}"),
            None => status,
        }
    }

    /// After a reload, the old image's workers stop once every new worker serves.
    fn retire_previous_when_ready(&mut self) {
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
                deadline: Instant::now() + self.config.worker_reload_mercy,
            });
        }
        log::info(
            "reload complete: every new worker is ready; the previous ones finish their requests",
        );
    }

    /// Moves a slot's worker to the retirees (signalling it unless it retires on its own)
    /// and lets the slot fork a successor at once.
    fn retire_slot(&mut self, index: usize, signal_it: bool) {
        let mercy = self.config.worker_reload_mercy;
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

    /// uWSGI's spare algorithm: all running workers busy → start `cheaper-step` more; a
    /// worker idle for `cheaper-overload` above the `cheaper` minimum → retire it.
    fn cheaper_check(&mut self) {
        if self.config.cheaper == 0 || !matches!(self.stopping, Stopping::No) {
            return;
        }
        let now = Instant::now();
        let mut running = 0;
        let mut busy = 0;
        for slot in &mut self.slots {
            let (Some(_), Some(entry)) = (slot.pid, slot.entry) else {
                continue;
            };
            running += 1;
            let requests = self
                .board
                .entry(entry)
                .requests
                .load(std::sync::atomic::Ordering::Relaxed);
            let in_flight = !self.board.in_flight(entry).is_empty();
            if in_flight {
                busy += 1;
            }
            if in_flight || requests != slot.last_requests {
                slot.last_requests = requests;
                slot.last_active = now;
            }
        }
        let starting = self
            .slots
            .iter()
            .any(|s| !s.cheap && !s.ready && s.pid.is_some());
        if self.config.cheaper_busyness {
            if !starting {
                self.busyness_check(now, running);
            }
            return;
        }
        if running > 0 && busy == running && !starting {
            let added = self.wake_cheap_slots(self.config.cheaper_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper: all {running} worker(s) busy; starting {added} more"
                ));
            }
            return;
        }
        if running > self.config.cheaper {
            let idle = self.slots.iter().rposition(|s| {
                s.pid.is_some()
                    && s.ready
                    && !s.cheap
                    && now.duration_since(s.last_active) >= self.config.cheaper_overload
            });
            if let Some(index) = idle {
                log::info(&format!(
                    "cheaper: worker {} idle; retiring it",
                    self.slots[index].id
                ));
                self.slots[index].cheap = true;
                self.retire_slot(index, true);
            }
        }
    }

    /// Lets up to `count` resting (cheap) slots fork again; returns how many.
    fn wake_cheap_slots(&mut self, count: usize, now: Instant) -> usize {
        let mut added = 0;
        for slot in self.slots.iter_mut().filter(|s| s.cheap && s.pid.is_none()) {
            if added == count {
                break;
            }
            slot.cheap = false;
            slot.respawn_at = Some(now);
            slot.last_active = now;
            added += 1;
        }
        added
    }

    /// uWSGI's busyness algorithm: every cheaper-overload seconds, the share of that time
    /// the workers spent serving; above the maximum, more workers; below the minimum for
    /// `multiplier` cycles in a row, one fewer. A full listen queue adds workers at once.
    fn busyness_check(&mut self, now: Instant, running: usize) {
        let thresholds = self.config.busyness.clone();
        let queued: u64 = self
            .listeners
            .iter()
            .filter_map(|l| net::queue::listen_queue(l.fd.as_fd(), &l.address))
            .map(|(waiting, _)| u64::from(waiting))
            .sum();
        if queued > thresholds.backlog_alert {
            let added = self.wake_cheap_slots(thresholds.backlog_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper busyness: {queued} connections waiting; starting {added} more worker(s)"
                ));
            }
            return;
        }
        let cycle = now.duration_since(self.busyness_cycle);
        if cycle < self.config.cheaper_overload {
            return;
        }
        self.busyness_cycle = now;
        let mut busy_total = 0u64;
        let mut counted = 0u64;
        for slot in &mut self.slots {
            let (Some(_), Some(entry), true) = (slot.pid, slot.entry, slot.ready) else {
                continue;
            };
            let busy = self
                .board
                .entry(entry)
                .busy_us
                .load(std::sync::atomic::Ordering::Relaxed);
            busy_total += busy.saturating_sub(slot.busy_us_seen);
            slot.busy_us_seen = busy;
            counted += 1;
        }
        if counted == 0 {
            return;
        }
        let percent = busy_total * 100 / (counted * cycle.as_micros().max(1) as u64);
        if percent > thresholds.max_percent {
            self.idle_cycles = 0;
            let added = self.wake_cheap_slots(self.config.cheaper_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper busyness: workers {percent}% busy; starting {added} more"
                ));
            }
        } else if percent < thresholds.min_percent {
            self.idle_cycles += 1;
            if self.idle_cycles >= thresholds.multiplier && running > self.config.cheaper {
                self.idle_cycles = 0;
                let last = self
                    .slots
                    .iter()
                    .rposition(|s| s.pid.is_some() && s.ready && !s.cheap);
                if let Some(index) = last {
                    log::info(&format!(
                        "cheaper busyness: workers {percent}% busy for {} cycles; retiring worker {}",
                        thresholds.multiplier, self.slots[index].id
                    ));
                    self.slots[index].cheap = true;
                    self.retire_slot(index, true);
                }
            }
        } else {
            self.idle_cycles = 0;
        }
    }

    fn begin_stop(&mut self, graceful: bool) {
        match (&self.stopping, graceful) {
            (Stopping::Quick { .. }, _) | (Stopping::Graceful { .. }, true) => return,
            _ => {}
        }
        log::info(if graceful {
            "graceful stop: finishing requests in flight"
        } else {
            "immediate stop"
        });
        self.notifier.stopping();
        self.stop_commands();
        self.jobs.stop_smart_daemons(&mut self.groups);
        self.mules.stop(&mut self.groups, Signal::SIGTERM);
        self.spoolers.stop(
            &mut self.groups,
            if graceful {
                Signal::SIGTERM
            } else {
                Signal::SIGINT
            },
        );
        let deadline = Instant::now()
            + if graceful {
                self.config.worker_reload_mercy
            } else {
                QUICK_STOP_MERCY
            };
        self.stopping = if graceful {
            Stopping::Graceful { deadline }
        } else {
            Stopping::Quick { deadline }
        };
        self.signal_all(if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGINT
        });
    }

    /// Stops every attach-daemon, running cron command and alarm command with its process
    /// group; none is restarted (their pids are forgotten, so their exits are not taken for crashes).
    fn stop_commands(&mut self) {
        for daemon in &mut self.daemons {
            if let Some(pid) = daemon.pid.take() {
                daemon.start_at = None;
                self.groups.stop(pid, daemon.stop_signal, "attach-daemon");
            }
        }
        self.jobs.stop_crons(&mut self.groups);
        self.alarm_runs.stop(&mut self.groups);
    }

    /// A failed reload: no new worker is forked; the previous ones keep serving.
    fn hold_slots(&mut self) {
        for slot in &mut self.slots {
            slot.respawn_at = None;
        }
    }

    fn all_pids(&self) -> Vec<Pid> {
        self.slots
            .iter()
            .filter_map(|s| s.pid)
            .chain(self.daemons.iter().filter_map(|d| d.pid))
            .chain(self.retirees.iter().map(|r| r.pid))
            .chain(self.previous.iter().map(|(pid, _)| *pid))
            .collect()
    }

    fn signal_all(&self, signal: Signal) {
        for pid in self.all_pids() {
            let _ = kill(pid, signal);
        }
    }

    /// Graceful reload: a new master image (same pid) re-reads the configuration and
    /// imports the application afresh, adopts the listening sockets (never closed, so no
    /// connection is refused) and forks new workers; the current workers keep serving until
    /// those are ready, then finish their requests.
    fn reload(&mut self, why: &str) {
        if !matches!(self.stopping, Stopping::No) {
            return;
        }
        let app_dir = std::env::current_dir().ok();
        if let Some(dir) = &self.launch_dir {
            let _ = std::env::set_current_dir(dir);
        }
        let back_to_app_dir = || {
            if let Some(dir) = &app_dir {
                let _ = std::env::set_current_dir(dir);
            }
        };
        let checked = crate::config::source::from_args(&self.args)
            .map_err(|e| e.to_string())
            .and_then(|request| match request {
                crate::config::source::Request::Serve(entries) => crate::config::build(&entries)
                    .map_err(|e| e.to_string())
                    .map(|_| ()),
                _ => Err("the command line no longer describes a server".into()),
            });
        if let Err(message) = checked {
            log::error(&format!(
                "{why}: reload refused, the configuration is invalid: {message}"
            ));
            report_reload(&format!("failed: the configuration is invalid: {message}"));
            back_to_app_dir();
            return;
        }
        log::info(&format!(
            "{why}: reloading (new master image, sockets kept)"
        ));
        let exported = match net::export_for_reload(&self.listeners) {
            Ok(text) => text,
            Err(e) => {
                log::error(&format!("reload refused: cannot pass the sockets on: {e}"));
                report_reload(&format!("failed: cannot pass the sockets on: {e}"));
                net::keep_private(&self.listeners);
                back_to_app_dir();
                return;
            }
        };
        let workers: Vec<String> = self
            .slots
            .iter()
            .filter_map(|s| s.pid.map(|pid| format!("{pid}:{}", s.id)))
            .chain(self.retirees.iter().map(|r| format!("{}:{}", r.pid, r.id)))
            .chain(self.previous.iter().map(|(pid, id)| format!("{pid}:{id}")))
            .collect();
        // The next image starts its own daemons: the old ones (their whole process groups)
        // are gone before it execs, so exactly one instance of each runs after the reload.
        self.stop_commands();
        self.spoolers.stop(&mut self.groups, Signal::SIGTERM);
        self.mules.stop(&mut self.groups, Signal::SIGTERM);
        self.groups.wait_all();
        self.mules.hand_over();
        self.notifier.reloading();
        std::env::set_var(net::RELOAD_FDS_VAR, exported);
        stats::export_for_reload(self.stats.iter().chain(&self.metrics));
        std::env::set_var(RELOAD_WORKERS_VAR, workers.join(","));
        if let Some(caches) = crate::uwsgi_api::cache::export_for_reload() {
            std::env::set_var(crate::uwsgi_api::cache::RELOAD_CACHES_VAR, caches);
        }
        std::env::set_var(metrics::LIFETIME_VAR, self.lifetime.encode());
        let error = self.relaunch.exec(&self.args);
        back_to_app_dir();
        log::error(&format!("reload failed: cannot exec: {error}"));
        report_reload(&format!("failed: cannot exec: {error}"));
        // This image goes on: its daemons start again.
        for daemon in &mut self.daemons {
            daemon.start_at = Some(Instant::now());
        }
        self.spoolers.restart();
        self.mules.restart();
        self.notifier.ready(&self.status_text());
        std::env::remove_var(net::RELOAD_FDS_VAR);
        std::env::remove_var(RELOAD_WORKERS_VAR);
        std::env::remove_var(metrics::LIFETIME_VAR);
        net::keep_private(&self.listeners);
        stats::keep_private(self.stats.iter().chain(&self.metrics));
    }

    fn log_status(&self) {
        let now = scoreboard::now_ms();
        for slot in &self.slots {
            let Some(pid) = slot.pid else {
                log::info(&format!("worker {}: not running", slot.id));
                continue;
            };
            let (requests, flight) = match slot.entry {
                Some(entry) => (
                    self.board
                        .entry(entry)
                        .requests
                        .load(std::sync::atomic::Ordering::Relaxed),
                    self.board.in_flight(entry),
                ),
                None => (0, Vec::new()),
            };
            let busy = if flight.is_empty() {
                "idle".to_string()
            } else {
                flight
                    .iter()
                    .map(|(thread, started, what)| {
                        format!(
                            "thread {thread}: {what} for {:.1} s",
                            now.saturating_sub(*started) as f64 / 1000.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            log::info(&format!(
                "worker {} (pid {pid}): up {:.0} s, {requests} request(s), {busy}",
                slot.id,
                slot.born.elapsed().as_secs_f64()
            ));
        }
        for retiree in &self.retirees {
            log::info(&format!(
                "worker {} (pid {}): finishing its requests before exiting",
                retiree.id, retiree.pid
            ));
        }
    }

    fn add_worker(&mut self) {
        let id = self.slots.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        log::info(&format!("SIGTTIN: adding worker {id}"));
        self.slots.push(Slot::new(id, Some(Instant::now())));
    }

    fn remove_worker(&mut self) {
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

    fn spawn_due(&mut self) {
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
        self.spoolers.spawn_due(&self.config);
        self.mules.spawn_due(&self.config);
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

    fn spawn(&mut self, index: usize) {
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
                let identity = worker::Identity {
                    id,
                    entry,
                    board: self.board,
                    notify,
                };
                worker::run(identity, &self.config, &self.listeners, self.app.as_ref());
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
    fn reap(&mut self) {
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
            let (pid, description, failed, code) = match status {
                WaitStatus::Exited(pid, 0) => (pid, "exited".to_string(), false, 0),
                WaitStatus::Exited(pid, code) => {
                    (pid, format!("exited with status {code}"), true, code)
                }
                WaitStatus::Signaled(pid, signal, _) => {
                    if signal == Signal::SIGSEGV {
                        for name in &self.config.alarm_segfault {
                            crate::alarms::raise(name, &format!("process {pid} killed by SIGSEGV"));
                        }
                    }
                    (pid, format!("killed by {signal}"), true, 0)
                }
                _ => continue,
            };
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
            if self.jobs.reaped(pid, &description) || self.alarm_runs.reaped(pid, &description) {
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

    fn on_slot_exit(&mut self, index: usize, pid: Pid, description: &str, failed: bool, code: i32) {
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
        if code == EXIT_NO_APP && self.config.need_app {
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

    /// Once per loop: harakiri, worker lifetimes, stragglers past their mercy, touch-reload.
    fn periodic_checks(&mut self) {
        self.cheaper_check();
        if matches!(self.stopping, Stopping::No) {
            self.jobs.tick();
            crate::uwsgi_api::signals::master_tick(&mut self.signal_clock);
        }
        if !self.config.alarm_backlog.is_empty() {
            for listener in &self.listeners {
                let queue = net::queue::listen_queue(listener.fd.as_fd(), &listener.address);
                if let Some((waiting, limit)) = queue.filter(|(w, l)| *l > 0 && w >= l) {
                    for name in &self.config.alarm_backlog {
                        crate::alarms::raise(
                            name,
                            &format!(
                                "listen queue of {} full ({waiting}/{limit})",
                                listener.address
                            ),
                        );
                    }
                }
            }
        }
        crate::log::rotate_if_needed();
        crate::log::reopen_if_moved();
        let now = Instant::now();
        if let (Some(due), Some(interval)) = (self.next_watchdog, self.notifier.watchdog_interval())
        {
            if now >= due {
                self.notifier.watchdog();
                self.next_watchdog = Some(now + interval);
            }
        }
        if self.announced_ready && now >= self.next_status && matches!(self.stopping, Stopping::No)
        {
            self.notifier.status(&self.status_text());
            self.next_status = now + STATUS_INTERVAL;
        }
        if let Some(limit) = self.config.harakiri {
            self.check_harakiri(limit);
        }
        if let Some(lifetime) = self.config.max_worker_lifetime {
            if matches!(self.stopping, Stopping::No) {
                let expired: Vec<usize> = (0..self.slots.len())
                    .filter(|i| {
                        let s = &self.slots[*i];
                        s.pid.is_some() && s.ready && s.born.elapsed() >= lifetime
                    })
                    .collect();
                for index in expired {
                    log::info(&format!(
                        "worker {}: max-worker-lifetime reached; recycling",
                        self.slots[index].id
                    ));
                    self.retire_slot(index, true);
                }
            }
        }
        for retiree in &self.retirees {
            if now >= retiree.deadline {
                log::warn(&format!(
                    "worker {} (pid {}) still busy after worker-reload-mercy: killing it",
                    retiree.id, retiree.pid
                ));
                let _ = kill(retiree.pid, Signal::SIGKILL);
            }
        }
        if let Some((due, files)) = &mut self.autoreload {
            if now >= *due {
                *due = now + self.config.py_autoreload.unwrap_or(Duration::from_secs(1));
                let changed = files
                    .iter()
                    .find(|(path, modified)| {
                        modified.is_some()
                            && std::fs::metadata(path).and_then(|m| m.modified()).ok() != *modified
                    })
                    .map(|(path, _)| path.display().to_string());
                if let Some(path) = changed {
                    log::info(&format!("py-autoreload: {path} changed"));
                    self.reload("py-autoreload");
                }
            }
        }
        let mut touched = false;
        for (path, last) in self
            .config
            .touch_reload
            .iter()
            .zip(self.touch_mtimes.iter_mut())
        {
            let current = modified(path);
            if current != *last {
                *last = current;
                touched = true;
            }
        }
        if touched {
            self.reload("touch-reload");
        }
    }

    fn check_harakiri(&mut self, limit: Duration) {
        let now = scoreboard::now_ms();
        let limit_ms = limit.as_millis() as u64;
        for slot in &mut self.slots {
            let (Some(pid), Some(entry)) = (slot.pid, slot.entry) else {
                continue;
            };
            if let Some((thread, started, what)) = overdue(&self.board, entry, now, limit_ms) {
                let seconds = now.saturating_sub(started) as f64 / 1000.0;
                let grace = self.config.harakiri_graceful_timeout;
                match (grace, slot.harakiri_sigterm) {
                    (Some(grace), None) => {
                        log::error(&format!(
                            "harakiri: worker {} (pid {pid}) sent SIGTERM after {seconds:.1} s serving {what} (thread {thread}); SIGKILL in {} s",
                            slot.id,
                            grace.as_secs()
                        ));
                        slot.harakiri_sigterm = Some(Instant::now());
                        slot.harakiri = true;
                        slot.harakiri_count += 1;
                        self.lifetime.harakiri += 1;
                        let _ = kill(pid, Signal::SIGTERM);
                    }
                    (Some(grace), Some(sent)) if sent.elapsed() < grace => {}
                    _ => {
                        log::error(&format!(
                            "harakiri: worker {} (pid {pid}) killed after {seconds:.1} s serving {what} (thread {thread})",
                            slot.id,
                        ));
                        if !slot.harakiri {
                            slot.harakiri_count += 1;
                            self.lifetime.harakiri += 1;
                        }
                        slot.harakiri = true;
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
            }
        }
        for retiree in &self.retirees {
            let Some(entry) = retiree.entry else { continue };
            if let Some((_, started, what)) = overdue(&self.board, entry, now, limit_ms) {
                log::error(&format!(
                    "harakiri: retiring worker {} (pid {}) killed after {:.1} s serving {what}",
                    retiree.id,
                    retiree.pid,
                    now.saturating_sub(started) as f64 / 1000.0
                ));
                let _ = kill(retiree.pid, Signal::SIGKILL);
            }
        }
    }

    /// While stopping: exit once every worker is gone, kill them at the deadline.
    fn check_stop(&mut self) -> Option<i32> {
        let deadline = match self.stopping {
            Stopping::No => return None,
            Stopping::Graceful { deadline } | Stopping::Quick { deadline } => deadline,
        };
        self.groups.check();
        if self.all_pids().is_empty() && self.groups.is_empty() {
            log::info("all workers stopped; goodbye");
            return Some(self.exit_status.unwrap_or(0));
        }
        if Instant::now() >= deadline {
            log::warn("workers did not stop in time: killing them");
            self.signal_all(Signal::SIGKILL);
        }
        None
    }

    fn cleanup(&mut self) {
        self.mules.report_undelivered("stop");
        let _ = self.config.hooks.run_phase(Phase::AsUserAtexit);
        if self.config.vacuum {
            net::vacuum(&self.listeners);
            for server in self.stats.iter().chain(&self.metrics) {
                if let Some(path) = &server.path {
                    let _ = std::fs::remove_file(path);
                }
            }
            if let Some(path) = &self.config.pidfile {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Names this process: the kernel's comm (15 bytes at most: `ps -o comm`, top, pgrep) and
/// the command line (`ps aux`).
pub fn set_process_name(name: &str) {
    let bytes: Vec<u8> = name.bytes().filter(|b| *b != 0).take(15).collect();
    if let Ok(name) = std::ffi::CString::new(bytes) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    set_command_line(name);
}

/// What `ps aux` and `/proc/PID/cmdline` show: the kernel reads the process's original
/// argv strings, so the title is written over them (truncated to their length), as uWSGI
/// does. The arguments were copied when main started, and a reload execs with that copy.
fn set_command_line(title: &str) {
    let Some((start, end)) = argv_area() else {
        return;
    };
    let len = end - start;
    if len < 2 {
        return;
    }
    let mut area = vec![0u8; len];
    let title: Vec<u8> = title.bytes().filter(|b| *b != 0).take(len - 1).collect();
    area[..title.len()].copy_from_slice(&title);
    // SAFETY: [start, end) is this process's own argv string area on its initial stack,
    // as the kernel reports it in /proc/self/stat: mapped, writable, and `len` bytes long.
    // Nothing reads argv after main copied it (std::env::args is called once, at start).
    unsafe { std::ptr::copy_nonoverlapping(area.as_ptr(), start as *mut u8, len) };
}

/// arg_start and arg_end from /proc/self/stat (fields 48 and 49).
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (start > 0 && end > start).then_some((start, end))
}
