//! Start-up: the steps from a read configuration to a running master (virtualenv,
//! hooks, sockets, privileges, Python, the preloaded app), and the single failure path
//! (`Generation::fail`): a first start exits, a reload keeps the previous generation.
//!
//! Must not: fork workers (the arbiter does, once assembled).

use super::*;
use crate::config::{AppConfig, MasterConfig, TitlesConfig, WorkerParts};
use crate::hooks::Hooks;

/// How often STATUS= is refreshed with the request count.
pub(super) const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// A worker's entry point, run in each freshly forked worker; it never returns. entry.rs
/// passes `worker::run`, so the master does not depend on the worker.
pub type WorkerMain =
    fn(Identity, WorkerParts<'_>, &[net::Listener], Option<&interpreter::Apps>) -> !;

/// Why start-up stopped before the master could run.
#[derive(Debug)]
pub(super) enum StartError {
    /// A step failed: `Generation::fail` decides what follows (exit with `status`, or in
    /// a reload keep the previous generation serving).
    Step { cause: Cause, status: i32 },
    /// The step already reported and the process exits with this status (need-app on a
    /// first start).
    Exit(i32),
}

/// A failed step's own error (a hook's, a socket's, Python's...), or the step's words;
/// its `Display` is what the log and STATUS= show.
pub(super) type Cause = Box<dyn std::error::Error + Send + Sync>;

impl StartError {
    pub(super) fn step(cause: impl Into<Cause>, status: i32) -> StartError {
        StartError::Step {
            cause: cause.into(),
            status,
        }
    }

    /// A step that failed because of the configuration (see [`EXIT_CONFIG`]).
    pub(super) fn config(cause: impl Into<Cause>) -> StartError {
        StartError::step(cause, EXIT_CONFIG)
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Step { cause, .. } => cause.fmt(f),
            StartError::Exit(status) => write!(f, "exiting with status {status}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Step { cause, .. } => cause.source(),
            StartError::Exit(_) => None,
        }
    }
}

/// Runs the server; returns the process exit status. `args` are the command-line
/// arguments, kept to re-read the configuration on reload; `worker_main` runs each worker.
pub fn run(config: Config, args: Vec<String>, host: PythonHost, worker_main: WorkerMain) -> i32 {
    signals::remember_master();
    // Orphans of the commands rwsgi starts (a daemon's shell died before its children)
    // become the master's children, so it can reap them and know when a group is empty.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::warn(&format!("cannot become a subreaper: {e}"));
    }
    let (generation, inherited) = Generation::from_environment(worker_main);
    let reloading = generation.reloading;
    log::info(&format!(
        "rwsgi {} {} (master pid {})",
        env!("CARGO_PKG_VERSION"),
        if reloading { "reloading" } else { "starting" },
        std::process::id()
    ));
    let parts = match prepare(&config, &args, &host, reloading, inherited) {
        Ok(parts) => parts,
        Err(StartError::Exit(status)) => return status,
        Err(StartError::Step { cause, status }) => {
            let message = cause.to_string();
            return generation.fail(&config, args, host, &message, status);
        }
    };
    let (mut master, signal_fd) = match assemble(config, args, host, parts, generation) {
        Ok(assembled) => assembled,
        Err(e) => {
            log::error(&e.to_string());
            return 1;
        }
    };
    stats::release_handed();
    master.begin_serving(reloading);
    let status = master.arbiter_loop(&signal_fd);
    master.cleanup();
    status
}

/// The start-up steps, in order, up to everything the master needs besides its
/// configuration.
fn prepare(
    config: &Config,
    args: &[String],
    host: &PythonHost,
    reloading: bool,
    inherited: Vec<Inherited>,
) -> Result<Parts, StartError> {
    enter_environment(config)?;
    let notifier = Notifier::from_environment();
    name_master(&config.titles);
    let target = crate::privileges::resolve(&config.privileges)
        .map(|target| crate::privileges::attainable(target, &config.privileges))
        .map_err(StartError::config)?;
    let listeners = open_listeners(config, inherited, &notifier)?;
    let (stats, metrics) = bind_stats_servers(&config.master)?;
    let lifetime = metrics::Lifetime::from_environment();
    let fifos = config
        .master
        .master_fifo
        .iter()
        .map(|path| fifo::open_fifo(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::config)?;
    settle_privileges(config, &listeners, &target)?;
    let board = start_python(config, args, host, reloading, &notifier)?;
    let (app, app_failure) = load_app(config, reloading, &notifier, &listeners)?;
    let autoreload = config.master.py_autoreload.map(|interval| {
        if config.app.lazy_apps {
            log::warn("py-autoreload watches the modules the master imported; with lazy-apps that is none");
        }
        (Instant::now() + interval, Python::attach(interpreter::module_files))
    });
    Ok(Parts {
        board: Some(board),
        listeners,
        app,
        app_failure,
        stats,
        metrics,
        lifetime,
        fifos,
        autoreload,
        notifier,
    })
}

/// Step: the virtualenv, the `exec-asap` hooks, `env` and `chdir`.
fn enter_environment(config: &Config) -> Result<(), StartError> {
    if let Some(home) = &config.app.home {
        activate_virtualenv(home);
    }
    config
        .hooks
        .run_phase(Phase::Asap)
        .map_err(|message| StartError::step(message, 1))?;
    for (key, value) in &config.app.env {
        // Single-threaded here: nothing else reads the environment concurrently.
        std::env::set_var(key, value);
    }
    if let Some(dir) = &config.app.chdir {
        std::env::set_current_dir(dir)
            .map_err(|e| StartError::config(format!("chdir {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Step: the master's process title (`auto-procname`, `procname-master`).
fn name_master(titles: &TitlesConfig) {
    if titles.auto_procname {
        let name = match (&titles.procname_master, &titles.procname) {
            (Some(name), _) | (None, Some(name)) => name.clone(),
            (None, None) => format!("{}rwsgi master", titles.procname_prefix),
        };
        crate::sys::title::set_process_name(&name);
    }
}

/// Step: the sockets: systemd's, the previous image's, and those the configuration binds.
fn open_listeners(
    config: &Config,
    mut inherited: Vec<Inherited>,
    notifier: &Notifier,
) -> Result<Vec<Listener>, StartError> {
    let fds = crate::systemd::take_listen_fds().map_err(|message| StartError::step(message, 1))?;
    inherited.extend(fds.into_iter().map(|(fd, name)| Inherited {
        fd,
        origin: InheritedFrom::Systemd { name },
    }));
    if notifier.enabled() {
        warn_unwritable(config);
    }
    let listeners = net::listeners(&config.listen, inherited).map_err(StartError::config)?;
    if listeners.is_empty() {
        return Err(StartError::config(
            "no socket to serve: set 'http-socket', 'http' or 'socket'",
        ));
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
    Ok(listeners)
}

type StatsServers = (Option<stats::StatsServer>, Option<stats::StatsServer>);

/// Step: the `stats` and `metrics` sockets.
fn bind_stats_servers(master: &MasterConfig) -> Result<StatsServers, StartError> {
    let stats_mode = if master.stats_http {
        stats::Mode::Http
    } else {
        stats::Mode::Raw
    };
    let stats_server =
        bind_stats(master.stats.as_deref(), stats_mode).map_err(StartError::config)?;
    let metrics_server =
        bind_stats(master.metrics.as_deref(), stats::Mode::Metrics).map_err(StartError::config)?;
    Ok((stats_server, metrics_server))
}

/// Step: what root does before it becomes the configured user (socket owner, pidfile,
/// `exec-as-root` hooks), the drop itself, `logto2`, and the `exec-as-user` hooks.
fn settle_privileges(
    config: &Config,
    listeners: &[Listener],
    target: &crate::privileges::Target,
) -> Result<(), StartError> {
    if let Some(owner) = &config.privileges.chown_socket {
        crate::privileges::chown_sockets(listeners, owner, &config.privileges)
            .map_err(StartError::config)?;
    }
    if let Some(path) = &config.master.pidfile {
        write_pidfile(path).map_err(|e| {
            StartError::config(format!("cannot write pidfile {}: {e}", path.display()))
        })?;
    }
    config
        .hooks
        .run_phase(Phase::AsRoot)
        .map_err(|message| StartError::step(message, 1))?;
    if !config.privileges.master_as_root {
        crate::privileges::drop_to(
            target,
            &config.privileges.capabilities,
            config.privileges.no_new_privileges,
        )
        .map_err(|message| StartError::config(format!("cannot drop privileges: {message}")))?;
    }
    if config.logging.logto_after_drop {
        if let Some(path) = &config.logging.logto {
            log::redirect_to(path)
                .map_err(|e| StartError::config(format!("logto2 {}: {e}", path.display())))?;
        }
    }
    config
        .hooks
        .run_phase(Phase::AsUser)
        .map_err(|message| StartError::step(message, 1))
}

/// Step: Python, the scoreboard and the `uwsgi` module.
fn start_python(
    config: &Config,
    args: &[String],
    host: &PythonHost,
    reloading: bool,
    notifier: &Notifier,
) -> Result<Scoreboard, StartError> {
    notifier.status("loading the application");
    interpreter::initialize(&config.app, host).map_err(StartError::config)?;
    // Mapped before the application loads: `import uwsgi` at import time sees the workers'
    // table and the caches, and every worker forked later shares them.
    let board = Scoreboard::new(
        (config.workers.processes * 2 + 16).max(64),
        config.workers.threads,
    )
    .map_err(|e| StartError::step(format!("cannot map the scoreboard: {e}"), 1))?;
    crate::uwsgi_api::set_scoreboard(board);
    install_uwsgi_module(config, args, reloading)?;
    if let Err(e) = Python::attach(crate::wsgi::journal_stream::install) {
        log::warn(&format!(
            "the application's output stays on the service's stream: {e}"
        ));
    }
    Ok(board)
}

/// Step: the preloaded application (none with lazy-apps): (the app, or why it failed when
/// the master serves 500 until it loads).
fn load_app(
    config: &Config,
    reloading: bool,
    notifier: &Notifier,
    listeners: &[Listener],
) -> Result<(Option<interpreter::Apps>, Option<String>), StartError> {
    if config.app.lazy_apps {
        return Ok((None, None));
    }
    let message = match import_with_extended_timeout(notifier, &config.app, &config.hooks) {
        Ok(app) => {
            log::info(&format!("application loaded: {}", app_label(&config.app)));
            Python::attach(interpreter::freeze_heap);
            return Ok((Some(app), None));
        }
        Err(interpreter::LoadError::Hook(message)) => return Err(StartError::step(message, 1)),
        Err(interpreter::LoadError::App(message)) => message,
    };
    let summary = format!(
        "the application did not load: {}",
        message.lines().last().unwrap_or("")
    );
    log::error(&message);
    if reloading {
        return Err(StartError::step(summary, EXIT_NO_APP));
    }
    if config.app.need_app {
        log::error("need-app is set: exiting");
        notifier.status(&format!("failed: {summary} (need-app)"));
        if config.master.vacuum {
            net::vacuum(listeners);
        }
        return Err(StartError::Exit(EXIT_NO_APP));
    }
    log::warn(
        "serving 500 to every request until the application loads (set need-app to exit instead)",
    );
    Ok((None, Some(summary)))
}

impl Master {
    /// The last start-up step, once assembled: the previous generation's workers count as
    /// respawned, and the `hook-master-start` hooks run; the arbiter forks the workers.
    fn begin_serving(&mut self, reloading: bool) {
        for (pid, id) in self.previous.clone() {
            self.record_respawn(id, pid.as_raw(), metrics::Cause::Reload);
        }
        self.notifier.status("starting workers");
        log::info(&format!(
            "master {} {} {} worker(s) of {} thread(s) each",
            std::process::id(),
            if reloading {
                "reloaded; forking"
            } else {
                "forking"
            },
            self.config.workers.processes,
            self.config.workers.threads
        ));
        if let Err(message) = self.config.hooks.run_phase(Phase::MasterStart) {
            if reloading {
                self.hold_previous(&message.to_string());
            } else {
                log::error(&format!("{message}; start aborted"));
                self.exit_status = Some(1);
                self.begin_stop(false);
            }
        }
    }
}

/// Under systemd, warns about paths the server itself writes whose directory the service
/// cannot write (the packaged unit's ProtectSystem=strict), before the write fails.
pub(super) fn warn_unwritable(config: &Config) {
    let stats_path = config
        .master
        .stats
        .as_deref()
        .filter(|spec| spec.contains('/'))
        .map(PathBuf::from);
    let paths = [
        ("logto", config.logging.logto.clone()),
        ("pidfile", config.master.pidfile.clone()),
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
pub(super) fn activate_virtualenv(home: &std::path::Path) {
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
fn install_uwsgi_module(
    config: &Config,
    args: &[String],
    reloading: bool,
) -> Result<(), StartError> {
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
    let settings = crate::uwsgi_api::Settings {
        api: &config.api,
        spooler: &config.spooler,
        mules: &config.mules,
        processes: config.workers.processes,
        threads: config.workers.threads,
        buffer_size: config.request.buffer_size,
    };
    Python::attach(|py| crate::uwsgi_api::install(py, settings, &entries, reloading))
        .map_err(|e| StartError::step(format!("cannot provide the uwsgi module: {e}"), 1))
}

/// Writes the pid to a temporary file renamed into place, so a reader never sees it
/// half-written (uWSGI's safe-pidfile).
pub(super) fn write_pidfile(path: &std::path::Path) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, format!("{}\n", std::process::id()))?;
    std::fs::rename(&temporary, path)
}

/// Imports the application; meanwhile a short-lived helper thread asks systemd for more
/// start-up time. The thread is joined before any fork, so the master forks single-threaded.
pub(super) fn import_with_extended_timeout(
    notifier: &Notifier,
    app: &AppConfig,
    hooks: &Hooks,
) -> Result<interpreter::Apps, interpreter::LoadError> {
    if !notifier.enabled() {
        return Python::attach(|py| interpreter::load_apps(py, app, hooks));
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
        let result = Python::attach(|py| interpreter::load_apps(py, app, hooks));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

pub(super) fn app_label(app: &AppConfig) -> String {
    match (&app.module, &app.wsgi_file) {
        (Some(module), _) => format!("{module}:{}", app.callable),
        (None, Some(file)) => format!("{}:{}", file.display(), app.callable),
        _ => match &app.paste {
            Some(spec) => format!("paste {spec}"),
            None => "mounts only".into(),
        },
    }
}

pub(super) fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A module's source file and its modification time when the master imported it.
pub(super) type ModuleFile = (PathBuf, Option<SystemTime>);
