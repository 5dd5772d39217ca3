//! Mule processes: one per `mule` option (and `mules = N`), forked by the master like
//! spoolers (respawned with backoff, stopped with their process group, started again after
//! a failed reload), and what each one runs: a file as `__main__`, a `module:callable`, or
//! the built-in loop that hands each message to `uwsgi.mule_msg_hook` (`@mulefunc`) and
//! runs the mule's uwsgi signals.
//!
//! Owns: which mule runs what, their pids, what happens to a mule's message when it dies
//! (through `uwsgi_api::mules::after_death`). Must not: carry messages (the kernel queues of
//! `uwsgi_api::mules` do) or block the master (forks only; exits come back via `reaped`).

use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::atomic::{AtomicBool, Ordering};

use super::exit::Exit;
use super::groups::Groups;
use super::life::{self, Life};
use crate::config::mules::{MuleConfig, MuleProgram};
use crate::config::ForkedParts;
use crate::log;
use crate::uwsgi_api::mules as api;
use crate::wsgi::interpreter;

struct Process {
    id: usize,
    program: MuleProgram,
    life: Life,
}

pub struct Mules {
    processes: Vec<Process>,
}

/// One row of the stats document: (id, pid, respawns).
pub type MuleStats = (usize, i32, u64);

impl Mules {
    pub fn new(mules: &MuleConfig) -> Mules {
        let processes = mules
            .programs
            .iter()
            .take(api::count())
            .enumerate()
            .map(|(index, program)| Process {
                id: index + 1,
                program: program.clone(),
                life: Life::due_now(),
            })
            .collect();
        Mules { processes }
    }

    pub fn pids(&self) -> Vec<Pid> {
        life::pids(self.processes.iter().map(|p| &p.life))
    }

    /// When the next respawn is due, if any.
    pub fn next_due(&self) -> Option<std::time::Instant> {
        life::next_due(self.processes.iter().map(|p| &p.life))
    }

    /// Forks every mule that is due. Runs in the single-threaded master.
    pub fn spawn_due(&mut self, config: ForkedParts<'_>) {
        let now = std::time::Instant::now();
        for process in &mut self.processes {
            if !process.life.is_due(now) {
                continue;
            }
            match interpreter::fork_with_python() {
                Ok(ForkResult::Child) => child(config, process.id, &process.program),
                Ok(ForkResult::Parent { child }) => {
                    process.life.forked(child, now);
                    api::set_pid(process.id, child.as_raw());
                    log::info(&format!(
                        "mule {} started (pid {child}): {}",
                        process.id,
                        describe(&process.program)
                    ));
                }
                Err(e) => {
                    log::error(&format!("cannot fork mule {}: {e}", process.id));
                    process.life.fork_failed(now);
                }
            }
        }
    }

    /// A child exited: if it was a mule, accounts for the message it held and schedules its
    /// respawn (not while `stopping`). A mule that ends on its own is respawned too, with
    /// the backoff unless it lived `HEALTHY_LIFETIME`.
    pub(super) fn reaped(&mut self, pid: Pid, exit: Exit, stopping: bool) -> bool {
        let Some(process) = self
            .processes
            .iter_mut()
            .find(|p| p.life.pid() == Some(pid))
        else {
            return false;
        };
        api::set_pid(process.id, 0);
        api::after_death(process.id);
        if stopping {
            process.life.ended_while_stopping();
            log::info(&format!("mule {} (pid {pid}) {exit}", process.id));
            return true;
        }
        // Even a mule that ends cleanly is a failure to the backoff: it is meant to run.
        let delay = process.life.ended(true);
        log::warn(&format!(
            "mule {} (pid {pid}) {exit}; respawning in {} s",
            process.id,
            delay.as_secs()
        ));
        true
    }

    /// Stops every mule with its process group; none is respawned until `restart`. The
    /// messages still queued stay in the kernel (`report_undelivered` counts them at exit).
    pub fn stop(&mut self, groups: &mut Groups, signal: Signal) {
        for process in &mut self.processes {
            if let Some(pid) = process.life.stop() {
                api::set_pid(process.id, 0);
                groups.stop(pid, signal, &format!("mule {}", process.id));
            }
        }
    }

    /// At a reload, once the mules are gone: the next image adopts the queues (through the
    /// environment), so queued messages and those the old workers still send are kept.
    pub fn hand_over(&self) {
        if let Some(queues) = api::export_for_reload() {
            std::env::set_var(api::RELOAD_MULES_VAR, queues);
        }
    }

    /// After a failed reload: the mules start again.
    pub fn restart(&mut self) {
        std::env::remove_var(api::RELOAD_MULES_VAR);
        api::keep_private();
        for process in &mut self.processes {
            process.life.due_again();
        }
    }

    /// At the master's exit (the mules are gone): the messages left in the queues are
    /// counted in the log as lost.
    pub fn report_undelivered(&self, when: &str) {
        if !self.processes.is_empty() {
            api::drain_undelivered(when);
        }
    }

    pub fn stats(&self) -> Vec<MuleStats> {
        self.processes
            .iter()
            .map(|p| (p.id, p.life.raw_pid(), p.life.respawns()))
            .collect()
    }
}

fn describe(program: &MuleProgram) -> String {
    match program {
        MuleProgram::Loop => "message loop (uwsgi.mule_msg_hook)".into(),
        MuleProgram::File(path) => path.display().to_string(),
        MuleProgram::Call { module, callable } => format!("{module}:{callable}"),
    }
}

/// Set by SIGTERM in a looping mule: finish the current message, then exit.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: nix::libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// The mule process: never returns.
fn child(config: ForkedParts<'_>, id: usize, program: &MuleProgram) -> ! {
    let on_sigterm = (*program == MuleProgram::Loop).then_some(on_sigterm as extern "C" fn(_));
    crate::child::settle_helper(config, &format!("mule {id}"), on_sigterm);
    api::enter_mule(id);
    log::set_mule_id(id);
    let status = Python::attach(|py| {
        if config.app.lazy_apps {
            if let Err(e) = interpreter::load_apps(py, config.app, config.hooks) {
                log::error(&format!("mule {id}: cannot load the application: {e:?}"));
            }
        }
        crate::uwsgi_api::run_post_fork_hook(py);
        log::info(&format!("mule {id} ready: {}", describe(program)));
        match program {
            MuleProgram::Loop => message_loop(py, id),
            MuleProgram::File(path) => run_file(py, id, path),
            MuleProgram::Call { module, callable } => run_call(py, id, module, callable),
        }
    });
    interpreter::worker_exit_hooks();
    std::process::exit(status)
}

/// The built-in loop: each message to `uwsgi.mule_msg_hook`, signals in between.
fn message_loop(py: Python<'_>, id: usize) -> i32 {
    let sources = api::loop_sources(id);
    let stop = || STOP.load(Ordering::Relaxed);
    while !stop() {
        let message = match api::wait_message(py, &sources, None, true, &stop) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(e) => {
                log::error(&format!(
                    "mule {id}: {}",
                    interpreter::format_exception(py, &e)
                ));
                continue;
            }
        };
        let hook = py
            .import("uwsgi")
            .and_then(|m| m.getattr("mule_msg_hook"))
            .ok()
            .filter(|h| h.is_callable());
        match hook {
            Some(hook) => {
                if let Err(e) = hook.call1((PyBytes::new(py, &message),)) {
                    log::error(&format!(
                        "mule {id}: uwsgi.mule_msg_hook raised: {}",
                        interpreter::format_exception(py, &e)
                    ));
                }
            }
            None => log::error(&format!(
                "mule {id}: a message of {} bytes arrived but uwsgi.mule_msg_hook is not set (import uwsgidecorators, or set it): message dropped",
                message.len()
            )),
        }
        api::finished();
    }
    log::info(&format!("mule {id}: stopping"));
    0
}

/// `mule = FILE.py`: the file runs as `__main__`; its end ends the mule.
fn run_file(py: Python<'_>, id: usize, path: &std::path::Path) -> i32 {
    let outcome = py.import("runpy").and_then(|runpy| {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("run_name", "__main__")?;
        runpy.call_method(
            "run_path",
            (path.to_string_lossy().as_ref(),),
            Some(&kwargs),
        )
    });
    finish(py, id, &path.display().to_string(), outcome.map(|_| ()))
}

/// `mule = module:callable`: the callable is called; its return ends the mule.
fn run_call(py: Python<'_>, id: usize, module: &str, callable: &str) -> i32 {
    let outcome = py
        .import(module)
        .and_then(|m| m.getattr(callable))
        .and_then(|f| f.call0())
        .map(|_| ());
    finish(py, id, &format!("{module}:{callable}"), outcome)
}

/// The exit status of a program that ended: 0, SystemExit's code, or 1 after a traceback.
fn finish(py: Python<'_>, id: usize, what: &str, outcome: PyResult<()>) -> i32 {
    match outcome {
        Ok(()) => {
            log::info(&format!("mule {id}: {what} ended"));
            0
        }
        Err(e) if e.is_instance_of::<pyo3::exceptions::PySystemExit>(py) => {
            let code = e
                .value(py)
                .getattr("code")
                .ok()
                .and_then(|c| {
                    if c.is_none() {
                        Some(0)
                    } else {
                        c.extract::<i32>().ok()
                    }
                })
                .unwrap_or(1);
            log::info(&format!("mule {id}: {what} exited ({code})"));
            code
        }
        Err(e) => {
            log::error(&format!(
                "mule {id}: {what} raised: {}",
                interpreter::format_exception(py, &e)
            ));
            1
        }
    }
}
