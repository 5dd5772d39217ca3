//! The master (arbiter): a single-threaded process that prepares everything once (sockets,
//! pidfile, Python and the preloaded app), forks the workers and then only reacts: signals
//! in, then reap, respawn, recycle, stop.
//!
//! Owns: worker slots and their lifecycle, signal meanings, start-up and shutdown order,
//! vacuum. Must not: serve requests, start threads or a tokio runtime (fork would copy a
//! process whose other threads vanished), or run Python except to load the app and fork.

pub mod signals;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use pyo3::prelude::*;

use crate::config::Config;
use crate::net::{self, Listener};
use crate::wsgi::interpreter;
use crate::{log, worker};

/// Exit status when the application cannot be loaded and `need-app` is set (uWSGI's 22).
pub const EXIT_NO_APP: i32 = worker::EXIT_NO_APP;
/// How long a graceful stop waits for in-flight requests (uWSGI's worker-reload-mercy).
const STOP_MERCY: Duration = Duration::from_secs(60);
/// An immediate stop (SIGINT/SIGQUIT) still gives workers this long to die.
const QUICK_STOP_MERCY: Duration = Duration::from_secs(5);
/// Respawning a worker that keeps failing backs off from 1 s, doubling, to 30 s.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that lived at least this long is considered healthy: its backoff resets.
const HEALTHY_LIFETIME: Duration = Duration::from_secs(10);

struct Slot {
    id: usize,
    pid: Option<Pid>,
    born: Instant,
    /// When the slot may fork again after a failure.
    respawn_at: Option<Instant>,
    backoff: Duration,
    retiring: bool,
}

enum Stopping {
    No,
    Graceful { deadline: Instant },
    Quick { deadline: Instant },
}

pub struct Master {
    config: Config,
    listeners: Vec<Listener>,
    app: Option<Py<PyAny>>,
    slots: Vec<Slot>,
    stopping: Stopping,
    /// Set when the master stops because of a failure rather than a request to stop.
    exit_status: Option<i32>,
    pidfile: Option<PathBuf>,
}

/// Runs the server; returns the process exit status.
pub fn run(config: Config) -> i32 {
    for (key, value) in &config.env {
        // Single-threaded here: nothing else reads the environment concurrently.
        std::env::set_var(key, value);
    }
    if let Some(dir) = &config.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            log::error(&format!("chdir {}: {e}", dir.display()));
            return 1;
        }
    }
    let listeners = match net::bind_all(&config) {
        Ok(listeners) => listeners,
        Err(message) => {
            log::error(&message);
            return 1;
        }
    };
    if listeners.is_empty() {
        log::error("no socket to serve: set 'http-socket', 'http' or 'socket'");
        return 2;
    }
    for listener in &listeners {
        log::info(&format!(
            "listening on {} ({})",
            listener.address, listener.protocol
        ));
    }
    if let Err(message) = interpreter::initialize(&config) {
        log::error(&message);
        return 1;
    }
    let app = if config.lazy_apps {
        None
    } else {
        match Python::attach(|py| interpreter::load_app(py, &config)) {
            Ok(app) => {
                log::info(&format!("application loaded: {}", app_label(&config)));
                Some(app)
            }
            Err(message) => {
                log::error(&message);
                if config.need_app {
                    log::error("need-app is set: exiting");
                    if config.vacuum {
                        net::vacuum(&listeners);
                    }
                    return EXIT_NO_APP;
                }
                log::warn("serving 500 to every request until the application loads (set need-app to exit instead)");
                None
            }
        }
    };
    if app.is_some() {
        Python::attach(interpreter::freeze_heap);
    }
    let pidfile = config.pidfile.clone();
    if let Some(path) = &pidfile {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            log::error(&format!("cannot write pidfile {}: {e}", path.display()));
            return 1;
        }
    }
    let signal_fd = match signals::master_signalfd() {
        Ok(fd) => fd,
        Err(e) => {
            log::error(&format!("cannot watch signals: {e}"));
            return 1;
        }
    };
    let slots = (1..=config.processes)
        .map(|id| Slot {
            id,
            pid: None,
            born: Instant::now(),
            respawn_at: Some(Instant::now()),
            backoff: FIRST_BACKOFF,
            retiring: false,
        })
        .collect();
    let mut master = Master {
        config,
        listeners,
        app,
        slots,
        stopping: Stopping::No,
        exit_status: None,
        pidfile,
    };
    log::info(&format!(
        "master {} ready to fork {} worker(s)",
        std::process::id(),
        master.config.processes
    ));
    let status = master.arbiter_loop(&signal_fd);
    master.cleanup();
    status
}

fn app_label(config: &Config) -> String {
    match (&config.module, &config.wsgi_file) {
        (Some(module), _) => format!("{module}:{}", config.callable),
        (None, Some(file)) => format!("{}:{}", file.display(), config.callable),
        _ => "?".into(),
    }
}

impl Master {
    fn arbiter_loop(&mut self, signal_fd: &nix::sys::signalfd::SignalFd) -> i32 {
        loop {
            self.spawn_due();
            if let Some(status) = self.check_stop() {
                return status;
            }
            let mut fds = [PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(self.poll_timeout_ms())) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    log::error(&format!("poll: {e}"));
                    return 1;
                }
            }
            while let Ok(Some(info)) = signal_fd.read_signal() {
                if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                    if let Some(status) = self.on_signal(signal) {
                        return status;
                    }
                }
            }
            if let Some(status) = self.reap() {
                return status;
            }
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
        next_respawn.min(Duration::from_secs(1)).as_millis() as u16
    }

    fn on_signal(&mut self, signal: Signal) -> Option<i32> {
        match signal {
            Signal::SIGTERM => self.begin_stop(true),
            Signal::SIGINT | Signal::SIGQUIT => self.begin_stop(false),
            Signal::SIGHUP => self.reload_workers(),
            Signal::SIGUSR1 => self.log_status(),
            Signal::SIGTTIN => self.add_worker(),
            Signal::SIGTTOU => self.remove_worker(),
            Signal::SIGCHLD => {}
            _ => {}
        }
        None
    }

    fn begin_stop(&mut self, graceful: bool) {
        let signal = if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGINT
        };
        match (&self.stopping, graceful) {
            (Stopping::Quick { .. }, _) | (Stopping::Graceful { .. }, true) => return,
            _ => {}
        }
        log::info(if graceful {
            "SIGTERM: graceful stop; finishing requests in flight"
        } else {
            "immediate stop"
        });
        let deadline = Instant::now()
            + if graceful {
                STOP_MERCY
            } else {
                QUICK_STOP_MERCY
            };
        self.stopping = if graceful {
            Stopping::Graceful { deadline }
        } else {
            Stopping::Quick { deadline }
        };
        self.signal_workers(signal);
    }

    fn signal_workers(&self, signal: Signal) {
        for slot in &self.slots {
            if let Some(pid) = slot.pid {
                let _ = kill(pid, signal);
            }
        }
    }

    /// With preloading, new application code needs a new master image; until that lands
    /// (issue: lifecycle) SIGHUP recycles the workers gracefully, which reloads the code
    /// only with `lazy-apps`.
    fn reload_workers(&mut self) {
        log::info("SIGHUP: recycling workers gracefully");
        for slot in &mut self.slots {
            if let Some(pid) = slot.pid {
                let _ = kill(pid, Signal::SIGTERM);
            }
        }
    }

    fn log_status(&self) {
        for slot in &self.slots {
            let state = match slot.pid {
                Some(pid) => format!("pid {pid}, up {:.0} s", slot.born.elapsed().as_secs_f64()),
                None => "not running".into(),
            };
            log::info(&format!("worker {}: {state}", slot.id));
        }
    }

    fn add_worker(&mut self) {
        let id = self.slots.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        log::info(&format!("SIGTTIN: adding worker {id}"));
        self.slots.push(Slot {
            id,
            pid: None,
            born: Instant::now(),
            respawn_at: Some(Instant::now()),
            backoff: FIRST_BACKOFF,
            retiring: false,
        });
    }

    fn remove_worker(&mut self) {
        if self.slots.iter().filter(|s| !s.retiring).count() <= 1 {
            return;
        }
        if let Some(slot) = self.slots.iter_mut().rev().find(|s| !s.retiring) {
            log::info(&format!("SIGTTOU: retiring worker {}", slot.id));
            slot.retiring = true;
            match slot.pid {
                Some(pid) => {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                None => slot.respawn_at = None,
            }
        }
        self.slots.retain(|s| !(s.retiring && s.pid.is_none()));
    }

    fn spawn_due(&mut self) {
        if !matches!(self.stopping, Stopping::No) {
            return;
        }
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let due = {
                let slot = &self.slots[index];
                slot.pid.is_none() && !slot.retiring && slot.respawn_at.is_some_and(|at| at <= now)
            };
            if due {
                self.spawn(index);
            }
        }
    }

    fn spawn(&mut self, index: usize) {
        let id = self.slots[index].id;
        match interpreter::fork_with_python() {
            Ok(ForkResult::Child) => {
                worker::run(id, &self.config, &self.listeners, self.app.as_ref());
            }
            Ok(ForkResult::Parent { child }) => {
                let slot = &mut self.slots[index];
                slot.pid = Some(child);
                slot.born = Instant::now();
                slot.respawn_at = None;
                log::info(&format!("worker {id} started (pid {child})"));
            }
            Err(e) => {
                log::error(&format!("cannot fork worker {id}: {e}"));
                self.slots[index].respawn_at = Some(Instant::now() + FIRST_BACKOFF);
            }
        }
    }

    /// Collects dead workers; returns an exit status when the master must stop.
    fn reap(&mut self) -> Option<i32> {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
                Ok(status) => status,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::error(&format!("waitpid: {e}"));
                    return None;
                }
            };
            let (pid, description, failed, no_app) = match status {
                WaitStatus::Exited(pid, 0) => (pid, "exited".to_string(), false, false),
                WaitStatus::Exited(pid, code) => (
                    pid,
                    format!("exited with status {code}"),
                    true,
                    code == EXIT_NO_APP,
                ),
                WaitStatus::Signaled(pid, signal, _) => {
                    (pid, format!("killed by {signal}"), true, false)
                }
                _ => continue,
            };
            let Some(index) = self.slots.iter().position(|s| s.pid == Some(pid)) else {
                continue;
            };
            let slot = &mut self.slots[index];
            slot.pid = None;
            let lived = slot.born.elapsed();
            let stopping = !matches!(self.stopping, Stopping::No);
            if stopping || slot.retiring {
                log::info(&format!("worker {} (pid {pid}) {description}", slot.id));
                if slot.retiring {
                    self.slots.remove(index);
                }
                continue;
            }
            if no_app && self.config.need_app {
                log::error(&format!(
                    "worker {} (pid {pid}) could not load the application and need-app is set: stopping",
                    slot.id
                ));
                self.exit_status = Some(EXIT_NO_APP);
                self.begin_stop(false);
                continue;
            }
            if failed && lived < HEALTHY_LIFETIME {
                let delay = slot.backoff;
                slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
                slot.respawn_at = Some(Instant::now() + delay);
                log::warn(&format!(
                    "worker {} (pid {pid}) {description} after {:.1} s; respawning in {} s",
                    slot.id,
                    lived.as_secs_f64(),
                    delay.as_secs()
                ));
            } else {
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
        }
    }

    fn all_dead(&self) -> bool {
        self.slots.iter().all(|s| s.pid.is_none())
    }

    /// While stopping: exit once every worker is gone, kill them at the deadline.
    fn check_stop(&mut self) -> Option<i32> {
        let deadline = match self.stopping {
            Stopping::No => return None,
            Stopping::Graceful { deadline } | Stopping::Quick { deadline } => deadline,
        };
        if self.all_dead() {
            log::info("all workers stopped; goodbye");
            return Some(self.exit_status.unwrap_or(0));
        }
        if Instant::now() >= deadline {
            log::warn("workers did not stop in time: killing them");
            self.signal_workers(Signal::SIGKILL);
        }
        None
    }

    fn cleanup(&mut self) {
        if self.config.vacuum {
            net::vacuum(&self.listeners);
            if let Some(path) = &self.pidfile {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
