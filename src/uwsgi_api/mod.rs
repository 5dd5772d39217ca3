//! The `uwsgi` Python module that applications import under rwsgi (uWSGI 2.0's API, written
//! for rwsgi from uWSGI's documentation), and the embedded `uwsgidecorators`.
//!
//! Owns: building the module object and inserting it into `sys.modules` once the interpreter
//! exists (so it works whether rwsgi or a host started Python), the per-process identity the
//! functions report, the fork hooks (`uwsgi.post_fork_hook`) and `uwsgi.atexit`.
//! Must not: fork, serve requests or decide process policy; it only reads the scoreboard and
//! signals the master. Only pyo3's limited-API (abi3) surface is used here.

pub mod cache;
pub mod locks;
pub mod mules;
pub mod shm;
pub mod signals;
pub mod spooler;

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use crate::config::mules::MuleConfig;
use crate::config::source::Entry;
use crate::config::{ApiConfig, SpoolerConfig};
use crate::ipc::scoreboard::{Scoreboard, WorkerState};

/// The uWSGI API level this module follows (what `uwsgi.version` reports).
pub const API_VERSION: (u32, u32, u32) = (2, 0, 31);

/// Our own `uwsgidecorators`, used unless the application's environment has one.
const DECORATORS_SOURCE: &str = include_str!("uwsgidecorators.py");

/// What the functions report about the server; fixed once the master starts.
struct Facts {
    masterpid: i32,
}

static FACTS: OnceLock<Facts> = OnceLock::new();
pub(crate) static BOARD: OnceLock<Scoreboard> = OnceLock::new();
/// This process's worker id (0 in the master) and scoreboard entry + 1 (0: none).
static WORKER_ID: AtomicUsize = AtomicUsize::new(0);
static WORKER_ENTRY: AtomicUsize = AtomicUsize::new(0);
/// Requests served by every worker since the master started, in memory the master mapped.
static TOTAL: OnceLock<&'static AtomicU64> = OnceLock::new();

/// `uwsgi.*` names uWSGI has that rwsgi does not provide, with what to use instead.
const NOT_PROVIDED: &[(&str, &str)] = &[
    (
        "websocket_handshake",
        "serve websockets with an ASGI server",
    ),
    ("websocket_recv", "serve websockets with an ASGI server"),
    ("websocket_recv_nb", "serve websockets with an ASGI server"),
    ("websocket_send", "serve websockets with an ASGI server"),
    (
        "websocket_send_binary",
        "serve websockets with an ASGI server",
    ),
    ("rpc", "call the other service over HTTP"),
    ("register_rpc", "call the other service over HTTP"),
    ("sharedarea_read", "use the cache (cache2) or Redis"),
    ("sharedarea_write", "use the cache (cache2) or Redis"),
    ("async_sleep", "rwsgi has no async loop engine; use threads"),
    ("suspend", "rwsgi has no async loop engine; use threads"),
    (
        "green_schedule",
        "rwsgi has no async loop engine; use threads",
    ),
    ("route", "use the route options in the configuration"),
    ("add_var", "set the variable in nginx (uwsgi_param)"),
    (
        "connection_fd",
        "not available: the connection belongs to rwsgi's event loop",
    ),
    ("chunked_read", "read wsgi.input"),
    ("chunked_read_nb", "read wsgi.input"),
];

/// Called in the master once the scoreboard is mapped (before the first fork).
pub fn set_scoreboard(board: Scoreboard) {
    let _ = BOARD.set(board);
}

/// This worker's scoreboard entry, if it is a worker.
pub fn worker_entry() -> Option<usize> {
    WORKER_ENTRY.load(Ordering::Relaxed).checked_sub(1)
}

/// Called first thing in a forked worker.
pub fn enter_worker(id: usize, entry: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
    WORKER_ENTRY.store(entry + 1, Ordering::Relaxed);
    if let Some(board) = BOARD.get() {
        board
            .entry(entry)
            .worker_id
            .store(id as u64, Ordering::Relaxed);
    }
}

/// A worker finished a request.
pub fn request_done() {
    if let Some(total) = TOTAL.get() {
        total.fetch_add(1, Ordering::Relaxed);
    }
}

/// What `install` needs of the configuration: the groups the module's shared parts are
/// made from, and the figures it reports.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub api: &'a ApiConfig,
    pub spooler: &'a SpoolerConfig,
    pub mules: &'a MuleConfig,
    /// `uwsgi.numproc`: the configured workers.
    pub processes: usize,
    /// `uwsgi.cores`: threads per worker.
    pub threads: usize,
    /// `uwsgi.buffer_size`.
    pub buffer_size: usize,
}

/// Builds `uwsgi` (and `uwsgidecorators` unless the environment has its own) and inserts
/// them into `sys.modules`. `entries` is the configuration as written, for `uwsgi.opt`.
pub fn install(
    py: Python<'_>,
    settings: Settings<'_>,
    entries: &[Entry],
    is_a_reload: bool,
) -> PyResult<()> {
    let _ = FACTS.set(Facts {
        masterpid: std::process::id() as i32,
    });
    if TOTAL.get().is_none() {
        let total = shared_counter().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let _ = TOTAL.set(total);
    }
    cache::configure(settings.api, is_a_reload).map_err(PyValueError::new_err)?;
    locks::configure(settings.api.locks + 1).map_err(PyValueError::new_err)?;
    signals::configure().map_err(PyValueError::new_err)?;
    spooler::configure(settings.spooler).map_err(PyValueError::new_err)?;
    mules::configure(settings.mules).map_err(PyValueError::new_err)?;
    let module = PyModule::new(py, "uwsgi")?;
    module.add("opt", build_opt(py, entries)?)?;
    module.add("numproc", settings.processes)?;
    module.add("cores", settings.threads)?;
    module.add("buffer_size", settings.buffer_size)?;
    module.add("started_on", crate::sys::time::unix_secs())?;
    let (major, minor, revision) = API_VERSION;
    module.add(
        "version",
        PyBytes::new(py, format!("{major}.{minor}.{revision}").as_bytes()),
    )?;
    module.add(
        "version_info",
        PyTuple::new(
            py,
            [
                major.into_pyobject(py)?.into_any(),
                minor.into_pyobject(py)?.into_any(),
                revision.into_pyobject(py)?.into_any(),
                0u32.into_pyobject(py)?.into_any(),
                PyBytes::new(
                    py,
                    format!("rwsgi-{}", env!("CARGO_PKG_VERSION")).as_bytes(),
                )
                .into_any(),
            ],
        )?,
    )?;
    module.add("rwsgi_version", env!("CARGO_PKG_VERSION"))?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    module.add("hostname", PyBytes::new(py, hostname.as_bytes()))?;
    module.add("is_a_reload", is_a_reload)?;
    module.add("post_fork_hook", py.None())?;
    module.add("atexit", py.None())?;
    module.add("SPOOL_OK", -2)?;
    module.add("SPOOL_RETRY", -1)?;
    module.add("SPOOL_IGNORE", 0)?;
    module.add_function(wrap_pyfunction!(worker_id, &module)?)?;
    module.add_function(wrap_pyfunction!(masterpid, &module)?)?;
    module.add_function(wrap_pyfunction!(total_requests, &module)?)?;
    module.add_function(wrap_pyfunction!(request_id, &module)?)?;
    module.add_function(wrap_pyfunction!(workers, &module)?)?;
    module.add_function(wrap_pyfunction!(log, &module)?)?;
    module.add_function(wrap_pyfunction!(set_logvar, &module)?)?;
    module.add_function(wrap_pyfunction!(get_logvar, &module)?)?;
    module.add_function(wrap_pyfunction!(reload, &module)?)?;
    module.add_function(wrap_pyfunction!(stop, &module)?)?;
    module.add_function(wrap_pyfunction!(module_getattr, &module)?)?;
    cache::add_functions(&module)?;
    locks::add_functions(&module)?;
    signals::add_functions(&module)?;
    spooler::add_functions(&module)?;
    mules::add_functions(&module)?;
    let sys_modules = py.import("sys")?.getattr("modules")?;
    sys_modules.set_item("uwsgi", &module)?;
    install_decorators(py, &sys_modules)
}

/// Our `uwsgidecorators`, unless one is importable from the application's sys.path (the
/// PyPI copy of uWSGI's): that one then runs on this module.
fn install_decorators(py: Python<'_>, sys_modules: &Bound<'_, PyAny>) -> PyResult<()> {
    let found = py
        .import("importlib.util")?
        .call_method1("find_spec", ("uwsgidecorators",))?;
    if !found.is_none() {
        return Ok(());
    }
    let code = CString::new(DECORATORS_SOURCE).expect("no NUL in uwsgidecorators.py");
    let module = PyModule::from_code(
        py,
        code.as_c_str(),
        c"<rwsgi>/uwsgidecorators.py",
        c"uwsgidecorators",
    )?;
    sys_modules.set_item("uwsgidecorators", module)
}

/// A counter in an anonymous shared mapping, so every worker adds to the same one.
pub(crate) fn shared_counter() -> nix::Result<&'static AtomicU64> {
    use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
    let length = std::num::NonZeroUsize::new(4096).expect("non-zero");
    // SAFETY: a fresh zero-filled shared mapping that is never unmapped; zero is a valid
    // AtomicU64 and the page is 8-aligned, so the reference is valid for the process's life
    // and fork shares rather than copies it.
    unsafe {
        let base = mmap_anonymous(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )?;
        Ok(&*(base.as_ptr() as *const AtomicU64))
    }
}

/// `uwsgi.opt` as uWSGI builds it: each option as written (short forms by their long
/// name), bytes for a value, True for a bare flag, a list when the option repeats.
fn build_opt<'py>(py: Python<'py>, entries: &[Entry]) -> PyResult<Bound<'py, PyDict>> {
    let opt = PyDict::new(py);
    for entry in entries {
        let key = if entry.key.len() == 1 {
            crate::config::options::find(&entry.key)
                .map(|spec| spec.name.to_string())
                .unwrap_or_else(|| entry.key.clone())
        } else {
            entry.key.clone()
        };
        let value: Bound<'py, PyAny> = match &entry.value {
            None => true.into_pyobject(py)?.to_owned().into_any(),
            Some(text) => PyBytes::new(py, text.as_bytes()).into_any(),
        };
        match opt.get_item(&key)? {
            None => opt.set_item(&key, value)?,
            Some(existing) => match existing.cast::<PyList>() {
                Ok(list) => list.append(value)?,
                Err(_) => opt.set_item(&key, PyList::new(py, [existing, value])?)?,
            },
        }
    }
    Ok(opt)
}

#[pyfunction]
fn worker_id() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

#[pyfunction]
fn masterpid() -> i32 {
    FACTS.get().map(|f| f.masterpid).unwrap_or(0)
}

#[pyfunction]
fn total_requests() -> u64 {
    TOTAL.get().map(|t| t.load(Ordering::Relaxed)).unwrap_or(0)
}

/// As uWSGI: the number of requests this worker had finished when the current one began.
#[pyfunction]
fn request_id() -> u64 {
    match (BOARD.get(), WORKER_ENTRY.load(Ordering::Relaxed)) {
        (Some(board), entry) if entry > 0 => {
            board.entry(entry - 1).requests.load(Ordering::Relaxed)
        }
        _ => 0,
    }
}

/// One dict per live worker, with uWSGI's keys.
#[pyfunction]
fn workers(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    let Some(board) = BOARD.get() else {
        return Ok(list);
    };
    let mut rows = Vec::new();
    for index in 0..board.capacity() {
        let state = board.state(index);
        let entry = board.entry(index);
        let pid = entry.pid.load(Ordering::Relaxed);
        if state == WorkerState::Free || pid == 0 {
            continue;
        }
        rows.push((entry.worker_id.load(Ordering::Relaxed), index, state, pid));
    }
    rows.sort_by_key(|row| row.0);
    for (id, index, state, pid) in rows {
        let entry = board.entry(index);
        let requests = entry.requests.load(Ordering::Relaxed);
        let busy_us = entry.busy_us.load(Ordering::Relaxed);
        let status = match state {
            _ if !board.in_flight(index).is_empty() => "busy",
            WorkerState::Ready => "idle",
            WorkerState::Starting => "starting",
            _ => "stopping",
        };
        let memory = crate::sys::procfs::memory(pid).unwrap_or_default();
        let (vsz, rss) = (memory.virtual_bytes, memory.resident_bytes);
        let row = PyDict::new(py);
        row.set_item("id", id)?;
        row.set_item("pid", pid)?;
        row.set_item("requests", requests)?;
        row.set_item("delta_requests", requests)?;
        row.set_item("exceptions", entry.exceptions.load(Ordering::Relaxed))?;
        row.set_item("harakiri_count", 0)?;
        row.set_item("signals", 0)?;
        row.set_item("signal_queue", 0)?;
        row.set_item("status", PyBytes::new(py, status.as_bytes()))?;
        row.set_item("rss", rss)?;
        row.set_item("vsz", vsz)?;
        row.set_item("running_time", busy_us)?;
        row.set_item("last_spawn", entry.born_ms.load(Ordering::Relaxed) / 1000)?;
        row.set_item("respawn_count", 0)?;
        row.set_item("tx", entry.tx.load(Ordering::Relaxed))?;
        row.set_item("avg_rt", busy_us.checked_div(requests).unwrap_or(0))?;
        row.set_item("apps", PyTuple::empty(py))?;
        list.append(row)?;
    }
    Ok(list)
}

#[pyfunction]
fn log(message: &str) -> bool {
    crate::log::info(message);
    true
}

#[pyfunction]
fn set_logvar(key: &str, value: &str) {
    crate::log::set_logvar(key, value);
}

#[pyfunction]
fn get_logvar(key: &str) -> Option<String> {
    crate::log::get_logvar(key)
}

/// Graceful reload of the whole server (SIGHUP to the master), as uWSGI's.
#[pyfunction]
fn reload() -> bool {
    signal_master(nix::sys::signal::Signal::SIGHUP)
}

/// Stops the server gracefully (SIGTERM to the master).
#[pyfunction]
fn stop() -> bool {
    signal_master(nix::sys::signal::Signal::SIGTERM)
}

fn signal_master(signal: nix::sys::signal::Signal) -> bool {
    let pid = masterpid();
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).is_ok()
}

/// PEP 562 module `__getattr__`: uWSGI names rwsgi does not provide say so and what to use.
#[pyfunction]
#[pyo3(name = "__getattr__")]
fn module_getattr(name: &str) -> PyResult<Py<PyAny>> {
    if let Some((_, instead)) = NOT_PROVIDED.iter().find(|(n, _)| *n == name) {
        return Err(PyAttributeError::new_err(format!(
            "uwsgi.{name} is not provided by rwsgi: {instead} (see rwsgi(8), THE UWSGI MODULE)"
        )));
    }
    Err(PyAttributeError::new_err(format!(
        "module 'uwsgi' has no attribute '{name}' (rwsgi provides uWSGI's API only in part; see rwsgi(8), THE UWSGI MODULE)"
    )))
}

/// In a worker, once its application is loaded (preloaded or lazy): `uwsgi.post_fork_hook`
/// (where `@postfork` functions run), logging a traceback if it raises.
pub fn run_post_fork_hook(py: Python<'_>) {
    crate::wsgi::interpreter::call_uwsgi_hook(py, "post_fork_hook");
}
