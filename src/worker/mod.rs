//! A worker process: after fork, one non-blocking event loop per thread over every listener
//! and connection; with `threads = 1` Python runs on that same thread, with no hand-off.
//!
//! Owns: the child's process setup (signals, parent-death signal, lazy app import), the
//! per-thread runtimes, accepting, draining on SIGTERM/SIGHUP or max-requests, and the
//! worker's exit. Must not: fork, bind, or outlive the master.

mod accept;
mod app;
mod body;
mod client;
mod connection;
mod head;
mod request_log;
mod respond;
mod send;
mod static_response;
mod statics;

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::sync::watch;

use crate::config::WorkerParts;
use crate::ipc::scoreboard::WorkerState;
use crate::ipc::{Identity, Notice, EXIT_NO_APP};
use crate::net::Listener;
use crate::wsgi::environ::EnvironTemplate;
use crate::wsgi::interpreter;
use accept::{accept_loop, duplicate, WorkerSocket};

/// How long an idle keep-alive connection may still bring one last request (answered with
/// `Connection: close`) once its worker drains: a client that just sent one is not cut off.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long a connection accepted before the drain, and not yet served, may take to bring
/// its first request (uWSGI's default socket-timeout is 4 s): a loaded client is not cut off,
/// and one that never sends holds the retiring worker no longer than this.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(5);

thread_local! {
    /// Which of the worker's threads (its scoreboard request slot) runs here.
    static THREAD_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// One answered request for [`Shared::account`]: (listener index, bytes received, status,
/// bytes sent).
pub type Accounted = (usize, u64, u16, u64);

/// What every thread of a worker shares.
pub struct Shared {
    pub app: Option<Py<PyAny>>,
    /// `mount` applications, longest prefix first.
    pub mounts: Vec<(String, Py<PyAny>)>,
    pub manage_script_name: bool,
    /// `vhost`: Some(true) chooses by Host, Some(false) by SERVER_NAME.
    pub vhost: Option<bool>,
    pub template: EnvironTemplate,
    pub buffer_size: usize,
    pub limit_post: u64,
    /// Whether request details are collected at all (any of the policies below may log).
    pub log_requests: bool,
    /// `log-format = uwsgi`: uWSGI's default request line, which counts request variables
    /// and response headers.
    pub uwsgi_log_line: bool,
    log_all: bool,
    log_4xx: bool,
    log_5xx: bool,
    log_slow: Option<Duration>,
    /// `add-header` entries, added to every application response.
    pub extra_headers: Vec<(String, String)>,
    /// `http-server-header`: add `Server: rwsgi` on HTTP listeners.
    pub server_header: bool,
    pub memory_report: bool,
    pub log_x_forwarded_for: bool,
    so_keepalive: bool,
    pub max_headers: usize,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// A body read or response write stalled this long is abandoned.
    pub io_timeout: Duration,
    identity: Identity,
    /// Requests after which this worker retires (max-requests plus its delta); 0: never.
    retire_after: u64,
    reload_on_rss_bytes: u64,
    reload_on_as_bytes: u64,
    reload_on_exception: bool,
    /// With mounts: a request under no mountpoint gets 404.
    pub no_default_app: bool,
    /// `route` and friends, in the order written.
    pub routes: Vec<crate::routing::Rule>,
    /// HTTP connections begin with a PROXY protocol header.
    pub proxy_protocol: bool,
    pub statics: statics::Settings,
    min_lifetime: Duration,
    born: Instant,
    served: AtomicU64,
    drain: watch::Sender<bool>,
}

impl Shared {
    pub fn draining(&self) -> bool {
        *self.drain.borrow()
    }

    /// Stops accepting and lets connections finish; tells the master once, so it can fork
    /// the replacement while this worker still serves what it has.
    pub fn start_drain(&self, reason: &str) {
        let started = self
            .drain
            .send_if_modified(|draining| !std::mem::replace(draining, true));
        if started {
            crate::log::info(&format!(
                "draining ({reason}) after {} request(s)",
                self.served()
            ));
            self.identity
                .board
                .set_state(self.identity.entry, WorkerState::Draining);
            self.notify_master(Notice::Draining);
        }
    }

    fn notify_master(&self, notice: Notice) {
        self.identity.notify_master(notice);
    }

    pub fn drain_signal(&self) -> watch::Receiver<bool> {
        self.drain.subscribe()
    }

    /// A request is about to run; true when it is the last before this worker retires
    /// (max-requests), so its response can announce `Connection: close`.
    pub fn begin_request(&self, method: &[u8], uri: &[u8]) -> bool {
        let mut description = Vec::with_capacity(method.len() + 1 + uri.len().min(120));
        description.extend_from_slice(method);
        description.push(b' ');
        description.extend_from_slice(&uri[..uri.len().min(120)]);
        let thread = THREAD_INDEX.with(Cell::get);
        self.identity
            .board
            .begin_request(self.identity.entry, thread, &description);
        crate::log::clear_logvars();
        let served = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.retire_after > 0 && served >= self.retire_after && self.old_enough();
        if last {
            self.start_drain("max-requests reached");
        }
        last
    }

    /// `log-format = uwsgi`: (requests this worker served, requests all workers served,
    /// this thread's index) for uWSGI's request line.
    pub fn counters(&self) -> (u64, u64, usize) {
        let board = &self.identity.board;
        // The scoreboard counts a request when it ends, after its line is written, so this
        // worker's share is taken from `served` (counted as each request begins): the line
        // of a request that another thread of this worker logged just before is counted.
        let this_worker = board
            .entry(self.identity.entry)
            .requests
            .load(Ordering::Relaxed);
        let served = self.served();
        (
            served,
            board.total_requests().saturating_sub(this_worker) + served,
            THREAD_INDEX.with(Cell::get),
        )
    }

    /// `METHOD URI` of this thread's current request (from the scoreboard, so it is known
    /// even when request logging is off).
    pub fn current_request(&self) -> String {
        let thread = THREAD_INDEX.with(Cell::get);
        self.identity.board.description(self.identity.entry, thread)
    }

    /// What the stats server and metrics report: the listener, bytes received and sent,
    /// status, time taken, whether the app raised.
    pub fn account(&self, request: Accounted, took: Duration, exception: bool) {
        let (listener, received, status, sent) = request;
        self.identity
            .board
            .record(listener, status, took.as_micros() as u64, received, sent);
        let entry = self.identity.board.entry(self.identity.entry);
        entry.tx.fetch_add(sent, Ordering::Relaxed);
        entry
            .busy_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if exception {
            entry.exceptions.fetch_add(1, Ordering::Relaxed);
            if self.reload_on_exception {
                self.start_drain("reload-on-exception");
            }
        }
    }

    pub fn end_request(&self) {
        let thread = THREAD_INDEX.with(Cell::get);
        self.identity.board.end_request(self.identity.entry, thread);
        crate::uwsgi_api::request_done();
        if (self.reload_on_rss_bytes > 0 || self.reload_on_as_bytes > 0)
            && !self.draining()
            && self.old_enough()
        {
            let memory = crate::sys::procfs::own_memory().unwrap_or_default();
            let (size, resident) = (memory.virtual_bytes, memory.resident_bytes);
            if self.reload_on_rss_bytes > 0 && resident > self.reload_on_rss_bytes {
                self.start_drain(&format!("reload-on-rss: {} MiB resident", resident >> 20));
            } else if self.reload_on_as_bytes > 0 && size > self.reload_on_as_bytes {
                self.start_drain(&format!("reload-on-as: {} MiB address space", size >> 20));
            }
        }
    }

    fn old_enough(&self) -> bool {
        self.born.elapsed() >= self.min_lifetime
    }

    /// disable-logging, with log-4xx, log-5xx and log-slow as exceptions.
    pub fn should_log(&self, status: u16, took: Duration) -> bool {
        self.log_all
            || (self.log_4xx && (400..500).contains(&status))
            || (self.log_5xx && status >= 500)
            || self.log_slow.is_some_and(|limit| took > limit)
    }

    /// The static file for a GET or HEAD of `path` (decoded), if one is mapped.
    pub fn static_file(
        &self,
        method: &[u8],
        path: &[u8],
        accept_encoding: Option<&[u8]>,
    ) -> Option<statics::StaticFile> {
        if !self.statics.enabled() || (method != b"GET" && method != b"HEAD") {
            return None;
        }
        let accepts_gzip = accept_encoding.is_some_and(|value| {
            String::from_utf8_lossy(value).split(',').any(|coding| {
                let mut parts = coding.split(';').map(str::trim);
                parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                    && parts
                        .filter_map(|p| p.strip_prefix("q="))
                        .all(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
            })
        });
        statics::resolve(&self.statics, path, accepts_gzip)
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

pub fn resident_bytes() -> Option<u64> {
    crate::sys::procfs::own_memory().map(|memory| memory.resident_bytes)
}

/// Runs a worker in a freshly forked child; never returns.
pub fn run(
    identity: Identity,
    config: WorkerParts<'_>,
    listeners: &[Listener],
    preloaded: Option<&interpreter::Apps>,
) -> ! {
    set_up_process(&identity, config);
    run_hooks_or_exit(config.hooks, crate::hooks::Phase::PostFork);
    let apps = load_apps(&identity, config, preloaded);
    // uwsgi.post_fork_hook (@postfork) once the application is in place: right after the
    // fork when it was preloaded, after loading it with lazy-apps.
    Python::attach(crate::uwsgi_api::run_post_fork_hook);
    let shared = Arc::new(Shared::new(config, identity, apps));
    run_hooks_or_exit(config.hooks, crate::hooks::Phase::Accepting);
    if shared.identity.id == 1 {
        run_hooks_or_exit(config.hooks, crate::hooks::Phase::Accepting1);
    }
    serve(&shared, config.workers.threads, listeners);
    crate::log::info(&format!("served {} request(s); exiting", shared.served()));
    interpreter::worker_exit_hooks();
    std::process::exit(0);
}

/// The child becomes a worker: its log label and process title, signals reset, privileges
/// dropped (master-as-root), and what only the master may keep forgotten.
fn set_up_process(identity: &Identity, config: WorkerParts<'_>) {
    crate::log::set_worker_id(identity.id);
    crate::uwsgi_api::enter_worker(identity.id, identity.entry);
    if config.titles.auto_procname {
        let name = match &config.titles.procname {
            Some(name) => name.clone(),
            None => format!(
                "{}rwsgi worker {}",
                config.titles.procname_prefix, identity.id
            ),
        };
        crate::sys::title::set_process_name(&name);
    }
    crate::ipc::signals::reset_in_child();
    // Still single-threaded (no runtime, no Python thread yet), so the drop covers every
    // thread this worker will have.
    crate::child::drop_privileges(config.privileges, "");
    crate::child::forget_master_environment();
}

/// The applications this worker serves: imported now with lazy-apps, else the master's.
/// A failing hook ends the worker; so does a failing import with need-app (without it, the
/// worker stays and answers 500).
fn load_apps(
    identity: &Identity,
    config: WorkerParts<'_>,
    preloaded: Option<&interpreter::Apps>,
) -> Option<interpreter::Apps> {
    if !config.app.lazy_apps {
        return preloaded.map(|apps| Python::attach(|py| apps.clone_ref(py)));
    }
    match Python::attach(|py| interpreter::load_apps(py, config.app, config.hooks)) {
        Ok(apps) => Some(apps),
        Err(interpreter::LoadError::Hook(message)) => {
            crate::log::error(&format!("{message}; start aborted"));
            interpreter::worker_exit_hooks();
            std::process::exit(crate::hooks::EXIT_HOOK_FAILED);
        }
        Err(interpreter::LoadError::App(message)) => {
            crate::log::error(&message);
            if config.app.need_app {
                interpreter::worker_exit_hooks();
                std::process::exit(EXIT_NO_APP);
            }
            // As without lazy-apps: the worker stays, answering 500, so the service
            // is ready (and says why it serves errors) instead of respawning forever.
            crate::log::warn("serving 500 to every request until the application loads (set need-app to exit instead)");
            identity.notify_master(Notice::NoApp);
            None
        }
    }
}

impl Shared {
    /// What the worker's threads share, from the configuration.
    fn new(config: WorkerParts<'_>, identity: Identity, apps: Option<interpreter::Apps>) -> Shared {
        let template = Python::attach(|py| {
            EnvironTemplate::new(
                py,
                config.workers.threads > 1,
                config.workers.processes > 1,
                config.request.file_wrapper,
            )
        })
        .unwrap_or_else(|e| {
            crate::log::error(&format!("cannot build the WSGI environ template: {e}"));
            std::process::exit(1);
        });
        let retire_after = if config.workers.max_requests > 0 {
            config.workers.max_requests
                + (identity.id as u64 - 1) * config.workers.max_requests_delta
        } else {
            0
        };
        let (app, mounts) = match apps {
            Some(apps) => (apps.default, apps.mounts),
            None => (None, Vec::new()),
        };
        Shared {
            app,
            mounts,
            manage_script_name: config.request.manage_script_name,
            vhost: config.request.vhost.then_some(config.request.vhost_host),
            template,
            buffer_size: config.request.buffer_size,
            limit_post: config.request.limit_post,
            uwsgi_log_line: config.logging.log_format.as_deref() == Some(crate::log::UWSGI_FORMAT),
            log_requests: !config.logging.disable_logging
                || config.logging.log_4xx
                || config.logging.log_5xx
                || config.logging.log_slow_ms > 0,
            log_all: !config.logging.disable_logging,
            log_4xx: config.logging.log_4xx,
            log_5xx: config.logging.log_5xx,
            log_slow: (config.logging.log_slow_ms > 0)
                .then(|| Duration::from_millis(config.logging.log_slow_ms)),
            extra_headers: config.request.add_headers.clone(),
            server_header: config.request.http_server_header,
            memory_report: config.logging.memory_report,
            log_x_forwarded_for: config.logging.log_x_forwarded_for,
            so_keepalive: config.request.so_keepalive,
            max_headers: config.request.http_max_headers,
            header_timeout: config.request.http_header_timeout,
            keepalive_timeout: config.request.http_keepalive_timeout,
            io_timeout: config.request.socket_timeout,
            identity,
            retire_after,
            reload_on_rss_bytes: config.workers.reload_on_rss_mib << 20,
            reload_on_as_bytes: config.workers.reload_on_as_mib << 20,
            reload_on_exception: config.workers.reload_on_exception,
            no_default_app: config.request.no_default_app,
            routes: config.request.routes.clone(),
            proxy_protocol: config.request.proxy_protocol,
            statics: statics::Settings::from(config.statics),
            min_lifetime: config.workers.min_worker_lifetime,
            born: Instant::now(),
            served: AtomicU64::new(0),
            drain: watch::Sender::new(false),
        }
    }
}

/// Serves on `threads` event loops (this thread's, which also watches signals, and one per
/// extra thread) until every one has drained; tells the master the worker is ready.
fn serve(shared: &Arc<Shared>, threads: usize, listeners: &[Listener]) {
    let extra_threads: Vec<_> = (1..threads)
        .map(|thread| {
            let shared = shared.clone();
            let sockets = duplicate(listeners);
            std::thread::spawn(move || {
                THREAD_INDEX.with(|t| t.set(thread));
                let _python = interpreter::PythonThread::register();
                event_loop(&shared, sockets, false);
            })
        })
        .collect();
    shared
        .identity
        .board
        .set_state(shared.identity.entry, WorkerState::Ready);
    shared.notify_master(Notice::Ready);
    event_loop(shared, duplicate(listeners), true);
    for thread in extra_threads {
        let _ = thread.join();
    }
}

/// Hooks in a worker: Python may be running, so the GIL is released while they run; a
/// failing one ends the worker with `EXIT_HOOK_FAILED`, and the master ends the start.
fn run_hooks_or_exit(hooks: &crate::hooks::Hooks, phase: crate::hooks::Phase) {
    if hooks.is_empty() {
        return;
    }
    if let Err(message) = hooks.run_phase(phase) {
        crate::log::error(&format!("{message}; start aborted"));
        interpreter::worker_exit_hooks();
        std::process::exit(crate::hooks::EXIT_HOOK_FAILED);
    }
}

fn event_loop(shared: &Arc<Shared>, sockets: Vec<WorkerSocket>, handle_signals: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("build the worker's event loop");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        for socket in sockets {
            tokio::task::spawn_local(accept_loop(shared.clone(), socket));
        }
        if handle_signals {
            tokio::task::spawn_local(watch_signals(shared.clone()));
            tokio::task::spawn_local(uwsgi_signals(shared.clone()));
        }
    });
    // Returns once every accept loop has stopped and every connection has finished.
    runtime.block_on(local);
}

/// SIGTERM (stop) and SIGHUP (reload) both mean: finish what is in flight, then exit.
/// SIGINT and SIGQUIT keep their default action: immediate death.
async fn watch_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        crate::log::error("cannot watch signals; stop will not be graceful");
        return;
    };
    let mut drain = shared.drain_signal();
    let follow_log = crate::log::follows_log_file();
    let mut log_check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = term.recv() => break shared.start_drain("SIGTERM"),
            _ = hup.recv() => break shared.start_drain("SIGHUP"),
            _ = drain.wait_for(|d| *d) => break,
            _ = log_check.tick(), if follow_log => crate::log::reopen_if_moved(),
        }
    }
}

/// How often a worker looks for uWSGI signals (uwsgi.signal, timers, cron) raised for it.
const UWSGI_SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs the handlers of uWSGI signals raised for this worker, on this loop, between the
/// requests it serves (the application runs on this thread too, so never during one).
async fn uwsgi_signals(shared: Arc<Shared>) {
    let mut drain = shared.drain_signal();
    let entry = shared.identity.entry;
    loop {
        tokio::select! {
            _ = drain.wait_for(|d| *d) => return,
            _ = tokio::time::sleep(UWSGI_SIGNAL_POLL) => {}
        }
        let pending = crate::uwsgi_api::signals::take_pending(entry);
        if !pending.is_empty() {
            Python::attach(|py| crate::uwsgi_api::signals::run_handlers(py, &pending));
        }
    }
}
