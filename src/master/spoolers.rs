//! Spooler processes: `spooler-processes` per `spooler` directory, forked by the master like
//! workers (respawned with backoff, recycled after `spooler-max-tasks`, stopped with their
//! process group), and the loop each one runs: scan, lock a task, call `uwsgi.spooler`,
//! act on SPOOL_OK / SPOOL_RETRY / SPOOL_IGNORE.
//!
//! Owns: which spooler runs where, their pids, and running one task at a time under an
//! exclusive lock (so processes sharing a directory never run a task twice, and a task of a
//! killed spooler is unlocked and run again). Must not: write tasks (`uwsgi_api::spooler`
//! does) or block the master (forks only; exits come back through `reaped`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::exit::Exit;
use super::groups::Groups;
use super::life::{self, Life};
use crate::config::{ForkedParts, SpoolerConfig};
use crate::log;
use crate::uwsgi_api::spooler::{self as api, SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY};
use crate::wsgi::interpreter;

struct Process {
    dir: PathBuf,
    life: Life,
}

pub struct Spoolers {
    processes: Vec<Process>,
}

impl Spoolers {
    pub fn new(spooler: &SpoolerConfig) -> Spoolers {
        let processes = api::dirs()
            .iter()
            .flat_map(|dir| std::iter::repeat_n(dir, spooler.processes))
            .take(api::MAX_SPOOLERS)
            .map(|dir| Process {
                dir: dir.clone(),
                life: Life::due_now(),
            })
            .collect();
        Spoolers { processes }
    }

    pub fn pids(&self) -> Vec<Pid> {
        life::pids(self.processes.iter().map(|p| &p.life))
    }

    /// When the next respawn is due, if any.
    pub fn next_due(&self) -> Option<Instant> {
        life::next_due(self.processes.iter().map(|p| &p.life))
    }

    /// Forks every spooler that is due. Runs in the single-threaded master.
    pub fn spawn_due(&mut self, config: ForkedParts<'_>, spooler: &SpoolerConfig) {
        let now = Instant::now();
        for index in 0..self.processes.len() {
            let process = &mut self.processes[index];
            if !process.life.is_due(now) {
                continue;
            }
            match interpreter::fork_with_python() {
                Ok(ForkResult::Child) => child(config, spooler, &process.dir, index + 1),
                Ok(ForkResult::Parent { child }) => {
                    process.life.forked(child, now);
                    api::set_pid(index, child.as_raw());
                    log::info(&format!(
                        "spooler {} started on {} (pid {child})",
                        index + 1,
                        process.dir.display()
                    ));
                }
                Err(e) => {
                    log::error(&format!("cannot fork spooler {}: {e}", index + 1));
                    process.life.fork_failed(now);
                }
            }
        }
    }

    /// A child exited: if it was a spooler, schedules its respawn (not while `stopping`).
    pub(super) fn reaped(&mut self, pid: Pid, exit: Exit, stopping: bool) -> bool {
        let failed = exit.failed();
        let Some(index) = self
            .processes
            .iter()
            .position(|p| p.life.pid() == Some(pid))
        else {
            return false;
        };
        api::set_pid(index, 0);
        let process = &mut self.processes[index];
        if stopping {
            process.life.ended_while_stopping();
            log::info(&format!("spooler {} (pid {pid}) {exit}", index + 1));
            return true;
        }
        let delay = process.life.ended(failed);
        let level = if failed { log::warn } else { log::info };
        level(&format!(
            "spooler {} (pid {pid}) {exit}; respawning in {} s",
            index + 1,
            delay.as_secs()
        ));
        true
    }

    /// Stops every spooler with its process group (the current task finishes on SIGTERM);
    /// none is respawned until `restart`.
    pub fn stop(&mut self, groups: &mut Groups, signal: Signal) {
        for (index, process) in self.processes.iter_mut().enumerate() {
            if let Some(pid) = process.life.stop() {
                api::set_pid(index, 0);
                groups.stop(pid, signal, "spooler");
            }
        }
    }

    /// After a failed reload: the spoolers start again.
    pub fn restart(&mut self) {
        for process in &mut self.processes {
            process.life.due_again();
        }
    }

    pub fn stats(&self) -> Vec<super::stats::SpoolerStats> {
        self.processes
            .iter()
            .map(|p| {
                (
                    p.dir.display().to_string(),
                    p.life.raw_pid(),
                    api::pending(&p.dir, false).len(),
                    p.life.respawns(),
                )
            })
            .collect()
    }
}

/// Set by SIGTERM in a spooler: finish the current task, then exit.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: nix::libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// The spooler process: never returns.
fn child(config: ForkedParts<'_>, spooler: &SpoolerConfig, dir: &Path, id: usize) -> ! {
    crate::child::settle_helper(config, &format!("spooler {id}"), Some(on_sigterm));
    api::enter_spooler();
    log::set_spooler_id(id);
    Python::attach(|py| {
        if config.app.lazy_apps {
            if let Err(e) = interpreter::load_apps(py, config.app, config.hooks) {
                log::error(&format!("spooler {id}: cannot load the application: {e:?}"));
            }
        }
        for module in &spooler.imports {
            if let Err(e) = py.import(module.as_str()) {
                log::error(&format!(
                    "spooler {id}: spooler-import {module}: {}",
                    interpreter::format_exception(py, &e)
                ));
            }
        }
        crate::uwsgi_api::run_post_fork_hook(py);
    });
    log::info(&format!("spooler {id} ready on {}", dir.display()));
    let mut done = 0u64;
    while !STOP.load(Ordering::Relaxed) {
        for task in api::pending(dir, spooler.ordered) {
            if STOP.load(Ordering::Relaxed) {
                break;
            }
            if run_one(spooler, dir, &task, id) {
                done += 1;
            }
            if spooler.max_tasks > 0 && done >= spooler.max_tasks {
                log::info(&format!(
                    "spooler {id}: {done} tasks done (spooler-max-tasks): recycling"
                ));
                leave();
            }
        }
        let until = Instant::now() + spooler.frequency;
        while !STOP.load(Ordering::Relaxed) && Instant::now() < until {
            // uwsgi signals with the `spooler`/`spoolers` target, between tasks.
            Python::attach(|py| crate::uwsgi_api::signals::run_spooler_signals(py, id - 1));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    log::info(&format!("spooler {id}: stopping"));
    leave()
}

fn leave() -> ! {
    interpreter::worker_exit_hooks();
    std::process::exit(0)
}

/// Runs `path` if no other spooler holds it and its `at` has come; true if it was run.
fn run_one(spooler: &SpoolerConfig, dir: &Path, path: &Path, id: usize) -> bool {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut locked) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
    else {
        return false;
    };
    // Another spooler may have finished and removed it between the listing and the lock.
    let same = std::fs::metadata(path)
        .ok()
        .zip(locked.metadata().ok())
        .is_some_and(|(a, b)| a.ino() == b.ino());
    let mut data = Vec::new();
    if !same || locked.read_to_end(&mut data).is_err() {
        return false;
    }
    let task = match api::parse(&data) {
        Ok(task) => task,
        Err(why) => {
            set_aside(dir, path, &why.to_string());
            return false;
        }
    };
    let at = task
        .get(b"at")
        .and_then(|v| String::from_utf8_lossy(v).trim().parse::<f64>().ok());
    if at.is_some_and(|at| at > crate::sys::time::unix_now().as_secs_f64()) {
        return false;
    }
    if let Some(chdir) = &spooler.chdir {
        if let Err(e) = std::env::set_current_dir(chdir) {
            log::error(&format!(
                "spooler {id}: spooler-chdir {}: {e}",
                chdir.display()
            ));
        }
    }
    if spooler.harakiri > 0 {
        nix::unistd::alarm::set(spooler.harakiri);
    }
    let outcome = Python::attach(|py| call_spooler(py, path, &task));
    nix::unistd::alarm::cancel();
    match outcome {
        SPOOL_OK => {
            if let Err(e) = std::fs::remove_file(path) {
                log::error(&format!(
                    "spooler {id}: cannot remove {}: {e}",
                    path.display()
                ));
            }
        }
        SPOOL_RETRY | SPOOL_IGNORE => {}
        other => log::warn(&format!(
            "spooler {id}: {} returned {other}, not SPOOL_OK/RETRY/IGNORE: kept for a retry",
            path.display()
        )),
    }
    true
}

/// Moves a task file that cannot be parsed out of the scan, and says so.
fn set_aside(dir: &Path, path: &Path, why: &str) {
    let aside = dir.join(api::UNPARSEABLE_DIR);
    let target = aside.join(path.file_name().unwrap_or_default());
    let moved = std::fs::create_dir_all(&aside).and_then(|()| std::fs::rename(path, &target));
    match moved {
        Ok(()) => log::error(&format!(
            "spooler: {} cannot be parsed ({why}): moved to {}",
            path.display(),
            target.display()
        )),
        Err(e) => {
            log::error(&format!(
                "spooler: {} cannot be parsed ({why}) nor moved aside ({e}): removing it",
                path.display()
            ));
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Calls `uwsgi.spooler(dict)` (bytes keys and values, `body` and `spooler_task_name`
/// included); an exception is logged with its traceback and means SPOOL_RETRY, as uWSGI.
fn call_spooler(py: Python<'_>, path: &Path, task: &api::Task) -> i64 {
    let function = py
        .import("uwsgi")
        .and_then(|m| m.getattr("spooler"))
        .ok()
        .filter(|f| f.is_callable());
    let Some(function) = function else {
        log::error(&format!(
            "spooler: uwsgi.spooler is not set to a function; {} kept",
            path.display()
        ));
        return SPOOL_RETRY;
    };
    let arguments = PyDict::new(py);
    let build = || -> PyResult<()> {
        for (key, value) in &task.vars {
            arguments.set_item(PyBytes::new(py, key), PyBytes::new(py, value))?;
        }
        if !task.body.is_empty() {
            arguments.set_item(PyBytes::new(py, b"body"), PyBytes::new(py, &task.body))?;
        }
        let name = path.as_os_str().as_encoded_bytes();
        arguments.set_item(
            PyBytes::new(py, b"spooler_task_name"),
            PyBytes::new(py, name),
        )
    };
    if let Err(e) = build() {
        log::error(&interpreter::format_exception(py, &e));
        return SPOOL_RETRY;
    }
    match function.call1((arguments,)) {
        Ok(result) => result.extract::<i64>().unwrap_or(SPOOL_RETRY),
        Err(e) => {
            log::error(&format!(
                "spooler: task {} raised (kept for a retry): {}",
                path.display(),
                interpreter::format_exception(py, &e)
            ));
            SPOOL_RETRY
        }
    }
}
