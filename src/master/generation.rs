//! One master generation: what a first start or a reload's image carries (the previous
//! image's workers and sockets), the single failure path of start-up (`Generation::fail`:
//! a first start exits, a reload keeps the previous generation serving), and assembling
//! the master from what the start-up steps prepared.
//!
//! Must not: run start-up steps (startup.rs does) or fork.

use super::*;

/// What start-up prepared for the master besides its configuration.
pub(super) struct Parts {
    /// Mapped before the application loaded (the `uwsgi` module reads it); a held reload
    /// maps a fresh one.
    pub(super) board: Option<Scoreboard>,
    pub(super) listeners: Vec<Listener>,
    pub(super) app: Option<interpreter::Apps>,
    pub(super) app_failure: Option<String>,
    pub(super) stats: Option<stats::StatsServer>,
    pub(super) metrics: Option<stats::StatsServer>,
    /// Counters that outlive one master image (respawns, reloads, start time).
    pub(super) lifetime: metrics::Lifetime,
    pub(super) fifos: Vec<(OwnedFd, OwnedFd)>,
    pub(super) autoreload: Option<(Instant, Vec<ModuleFile>)>,
    pub(super) notifier: Notifier,
}

/// The generation being started, and what to fall back on if it cannot start.
pub(super) struct Generation {
    /// A reload: the previous generation's workers (`previous`) serve until this one can.
    pub(super) reloading: bool,
    /// Copies of the sockets the previous image passed on.
    pub(super) fallback: Vec<Inherited>,
    pub(super) previous: Vec<(Pid, usize)>,
    pub(super) started: Instant,
    pub(super) launch_dir: Option<PathBuf>,
    pub(super) worker_main: WorkerMain,
}

/// A start that failed before the master could run (entry: reading the configuration,
/// logto, the virtualenv): the exit status, or in a reload the previous generation kept.
pub fn hold_after_failure(
    message: &str,
    args: Vec<String>,
    host: PythonHost,
    status: i32,
    worker_main: WorkerMain,
) -> i32 {
    let (generation, _) = Generation::from_environment(worker_main);
    generation.fail(&Config::default(), args, host, message, status)
}

impl Generation {
    /// What the previous master image (if any) passed across exec: its workers and its
    /// sockets. Until the new generation is up, every failure leaves the previous one
    /// serving on copies of those sockets.
    pub(super) fn from_environment(worker_main: WorkerMain) -> (Generation, Vec<Inherited>) {
        stats::import_from_reload();
        let inherited: Vec<Inherited> = std::env::var(handoff::LISTENERS_VAR)
            .map(|text| net::import_from_reload(&text))
            .unwrap_or_default();
        let previous = previous_generation();
        std::env::remove_var(handoff::LISTENERS_VAR);
        std::env::remove_var(handoff::WORKERS_VAR);
        let generation = Generation {
            reloading: !previous.is_empty(),
            fallback: net::duplicate_inherited(&inherited),
            previous,
            started: Instant::now(),
            launch_dir: std::env::current_dir().ok(),
            worker_main,
        };
        (generation, inherited)
    }

    /// A start-up step failed. A first start exits with `status` (2: the configuration
    /// cannot work, which the packaged unit does not retry; 22: no application). A reload
    /// keeps the previous generation serving and tells systemd (READY=1, STATUS=) and
    /// `systemctl reload` (the reload status file) that it failed and why.
    pub(super) fn fail(
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
                log::error(&error.to_string());
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
pub(super) fn assemble(
    config: Config,
    args: Vec<String>,
    host: PythonHost,
    parts: Parts,
    generation: Generation,
) -> Result<(Master, nix::sys::signalfd::SignalFd), StartError> {
    let failed = |what: &'static str| move |e: Errno| StartError::step(format!("{what}: {e}"), 1);
    let signal_fd = signals::master_signalfd().map_err(failed("cannot watch signals"))?;
    let board = match parts.board {
        Some(board) => board,
        None => Scoreboard::new(
            (config.workers.processes * 2 + 16).max(64),
            config.workers.threads,
        )
        .map_err(|e| StartError::step(format!("cannot map the scoreboard: {e}"), 1))?,
    };
    let (notify_read, notify_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(failed("cannot create the notify pipe"))?;
    let slots = initial_slots(&config.workers);
    let touch_mtimes = config
        .master
        .touch_reload
        .iter()
        .map(|p| modified(p))
        .collect();
    let master_daemons = config
        .children
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
    let jobs = jobs::Jobs::new(&config.children);
    let spoolers = spoolers::Spoolers::new(&config.spooler);
    let mules = mules::Mules::new(&config.mules);
    let alarm_runs = alarm_runs::AlarmRuns::new(config.alarms.alarm_freq);
    let master = Master {
        config,
        args,
        relaunch: host.relaunch(),
        launch_dir: generation.launch_dir,
        worker_main: generation.worker_main,
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

/// One slot per worker; with `cheaper`, those past `cheaper-initial` start cheap (unforked).
fn initial_slots(workers: &crate::config::WorkersConfig) -> Vec<Slot> {
    let mut slots: Vec<Slot> = (1..=workers.processes)
        .map(|id| Slot::new(id, Some(Instant::now())))
        .collect();
    if workers.cheaper > 0 {
        let initial = workers
            .cheaper_initial
            .unwrap_or(workers.cheaper)
            .clamp(1, workers.processes);
        for slot in slots.iter_mut().skip(initial) {
            slot.cheap = true;
            slot.respawn_at = None;
        }
    }
    slots
}
