//! Starting the embedded CPython and loading the WSGI callable.
//!
//! Owns: PyConfig (program_name, virtualenv, signal handlers off), sys.path, importing the
//! app, the fork hooks (`PyOS_BeforeFork` and friends) and a worker's Python exit.
//! Must not: serve requests or decide process policy (the master does).

#[cfg(not(feature = "extension"))]
use std::ffi::CString;
use std::path::{Path, PathBuf};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule};

use crate::config::AppConfig;
use crate::hooks::Hooks;
use crate::wsgi::host::PythonHost;

/// The interpreter this binary was built against (set by build.rs).
#[cfg(not(feature = "extension"))]
const BUILD_PYTHON: &str = env!("RWSGI_BUILD_PYTHON");

/// Why CPython could not be made ready for the application (`initialize`).
#[derive(Debug)]
pub enum InitError {
    /// A Python host's `os.environ` could not follow the process's environment.
    Environ(PyErr),
    /// `sys.argv` or `sys.path` could not be set.
    Sys(PyErr),
    /// The extension module cannot start an interpreter of its own.
    NotEmbedding,
    /// The interpreter's path or the home directory (which one) holds a NUL byte.
    Nul(&'static str),
    /// Py_InitializeFromConfig failed, with CPython's message.
    Start(String),
    /// `home`/`virtualenv` is not a directory.
    NotADirectory(PathBuf),
    /// The virtualenv has no interpreter in bin/.
    NoInterpreter(PathBuf),
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::Environ(e) => write!(f, "cannot update os.environ: {e}"),
            InitError::Sys(e) => write!(f, "cannot prepare sys: {e}"),
            InitError::NotEmbedding => f.write_str(
                "this build of rwsgi is a Python extension module: start it with 'python -m rwsgi'",
            ),
            InitError::Nul(what) => write!(f, "{what} path contains a NUL byte"),
            InitError::Start(message) => write!(f, "cannot start Python: {message}"),
            InitError::NotADirectory(home) => {
                write!(f, "home/virtualenv '{}' is not a directory", home.display())
            }
            InitError::NoInterpreter(home) => {
                write!(f, "virtualenv '{}' has no bin/python3", home.display())
            }
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Environ(e) | InitError::Sys(e) => Some(e),
            _ => None,
        }
    }
}

/// Makes CPython ready to load the application, once per process tree, in the master,
/// before any thread exists: the embedding binary starts it (PyConfig), a Python host
/// already has; either way `sys` is then prepared for the application.
pub fn initialize(app: &AppConfig, host: &PythonHost) -> Result<(), InitError> {
    if host.python_running() {
        Python::attach(adopt_process_environment).map_err(InitError::Environ)?;
    } else {
        start_embedded(app)?;
    }
    Python::attach(|py| {
        crate::log::info(&describe(py));
        prepare_sys(py, app)
    })
    .map_err(InitError::Sys)
}

/// A Python host read its environment when it started, before the configuration's `env`
/// lines (and systemd's variables) changed the process's: make `os.environ` the process's
/// environment again, as an embedded interpreter started now would see it.
fn adopt_process_environment(py: Python<'_>) -> PyResult<()> {
    use std::os::unix::ffi::OsStringExt;
    let environb = py.import("os")?.getattr("environb")?;
    let current: std::collections::HashMap<Vec<u8>, Vec<u8>> = std::env::vars_os()
        .map(|(key, value)| (key.into_vec(), value.into_vec()))
        .collect();
    let known: Vec<Vec<u8>> = environb
        .call_method0("copy")?
        .call_method0("keys")?
        .try_iter()?
        .map(|key| key?.extract())
        .collect::<PyResult<_>>()?;
    for key in known {
        if !current.contains_key(&key) {
            environb.del_item(PyBytes::new(py, &key))?;
        }
    }
    for (key, value) in current {
        environb.set_item(PyBytes::new(py, &key), PyBytes::new(py, &value))?;
    }
    Ok(())
}

/// The extension module is built against the stable ABI, which has no PyConfig: there a
/// running Python is the host and this is never called.
#[cfg(feature = "extension")]
fn start_embedded(_app: &AppConfig) -> Result<(), InitError> {
    Err(InitError::NotEmbedding)
}

/// Starts the embedded CPython with PyConfig: program name (which decides the prefix and a
/// virtualenv's site-packages), no signal handlers of its own, unbuffered stdio.
#[cfg(not(feature = "extension"))]
fn start_embedded(app: &AppConfig) -> Result<(), InitError> {
    let (program_name, python_home) = interpreter_paths(app.home.as_deref())?;
    let program_name = CString::new(program_name.as_os_str().as_encoded_bytes())
        .map_err(|_| InitError::Nul("interpreter"))?;
    let python_home = python_home
        .map(|h| CString::new(h.as_os_str().as_encoded_bytes()))
        .transpose()
        .map_err(|_| InitError::Nul("home"))?;
    // SAFETY: PyConfig is plain C data initialised by PyConfig_InitPythonConfig; the string
    // setters copy their arguments; Py_InitializeFromConfig runs once, on this thread, before
    // any other Python call; PyEval_SaveThread then releases the GIL so `Python::attach`
    // can take it from any thread.
    unsafe {
        let mut py_config = std::mem::MaybeUninit::<ffi::PyConfig>::zeroed();
        let py_config = py_config.as_mut_ptr();
        ffi::PyConfig_InitPythonConfig(py_config);
        // The master owns signals; Python must not install SIGINT handlers of its own.
        (*py_config).install_signal_handlers = 0;
        // Application output reaches the log as it is written, not when a buffer fills.
        (*py_config).buffered_stdio = 0;
        (*py_config).parse_argv = 0;
        if app.no_site {
            (*py_config).site_import = 0;
        }
        let mut status = ffi::PyConfig_SetBytesString(
            py_config,
            &mut (*py_config).program_name,
            program_name.as_ptr(),
        );
        if ffi::PyStatus_Exception(status) == 0 {
            if let Some(home) = &python_home {
                status =
                    ffi::PyConfig_SetBytesString(py_config, &mut (*py_config).home, home.as_ptr());
            }
        }
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::Py_InitializeFromConfig(py_config);
        }
        ffi::PyConfig_Clear(py_config);
        if ffi::PyStatus_Exception(status) != 0 {
            let message = if status.err_msg.is_null() {
                "unknown error".to_string()
            } else {
                std::ffi::CStr::from_ptr(status.err_msg)
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(InitError::Start(message));
        }
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

#[cfg(not(feature = "extension"))]
/// `program_name` decides which prefix and site-packages Python uses. A virtualenv is used
/// by naming its interpreter (setting PyConfig.home to a venv fails: no `encodings`).
fn interpreter_paths(home: Option<&Path>) -> Result<(PathBuf, Option<PathBuf>), InitError> {
    let Some(home) = home else {
        return Ok((PathBuf::from(BUILD_PYTHON), None));
    };
    if !home.is_dir() {
        return Err(InitError::NotADirectory(home.to_path_buf()));
    }
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    if home.join("pyvenv.cfg").is_file() {
        for name in ["python3", "python"] {
            let candidate = home.join("bin").join(name);
            if candidate.exists() {
                return Ok((candidate, None));
            }
        }
        return Err(InitError::NoInterpreter(home));
    }
    Ok((PathBuf::from(BUILD_PYTHON), Some(home)))
}

fn prepare_sys(py: Python<'_>, app: &AppConfig) -> PyResult<()> {
    let sys = py.import("sys")?;
    let mut argv = vec!["rwsgi".to_string()];
    if let Some(args) = &app.pyargv {
        argv.extend(args.split_whitespace().map(str::to_string));
    }
    sys.setattr("argv", PyList::new(py, argv)?)?;
    let path = sys.getattr("path")?.cast_into::<PyList>()?;
    // The embedded interpreter does not put the application's directory on sys.path.
    let mut front: Vec<String> = app
        .pythonpath
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    if let Ok(cwd) = std::env::current_dir() {
        front.push(cwd.display().to_string());
    }
    for (index, entry) in front.iter().enumerate() {
        path.insert(index, entry)?;
    }
    Ok(())
}

/// Imports the application named by `module` or `wsgi-file` and returns the callable.
fn load_app(py: Python<'_>, app: &AppConfig) -> Result<Py<PyAny>, String> {
    let (module, label) = if let Some(name) = &app.module {
        let module = py.import(name.as_str()).map_err(|e| {
            format!(
                "cannot import module '{name}': {}",
                format_exception(py, &e)
            )
        })?;
        (module, format!("module '{name}'"))
    } else if let Some(file) = &app.wsgi_file {
        (load_file(py, file)?, format!("file '{}'", file.display()))
    } else {
        return Err("no application given: set 'module' or 'wsgi-file'".into());
    };
    take_callable(py, &module, &label, &app.callable)
}

/// Every application the configuration names: the default one and the mounted ones.
pub struct Apps {
    pub default: Option<Py<PyAny>>,
    /// Longest mountpoint first.
    pub mounts: Vec<(String, Py<PyAny>)>,
}

impl Apps {
    pub fn clone_ref(&self, py: Python<'_>) -> Apps {
        Apps {
            default: self.default.as_ref().map(|a| a.clone_ref(py)),
            mounts: self
                .mounts
                .iter()
                .map(|(m, a)| (m.clone(), a.clone_ref(py)))
                .collect(),
        }
    }
}

/// Why `load_apps` failed: a `hook-pre-app`/`hook-post-app` (which ends the start), or the
/// application itself (which `need-app` decides about). The application's failure is
/// text: Python's traceback, rendered while the GIL was held.
#[derive(Debug)]
pub enum LoadError {
    Hook(crate::hooks::HookError),
    App(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Hook(e) => e.fmt(f),
            LoadError::App(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Hook(e) => Some(e),
            LoadError::App(_) => None,
        }
    }
}

impl From<String> for LoadError {
    fn from(message: String) -> LoadError {
        LoadError::App(message)
    }
}

/// The running interpreter, as it reports itself (so the answer is right however Python
/// was started): `Python 3.11.9 (main, ...) at /usr/bin/python3; virtualenv /srv/venv`.
pub fn describe(py: Python<'_>) -> String {
    let read = || -> PyResult<String> {
        let sys = py.import("sys")?;
        let text = |name: &str| -> PyResult<String> { sys.getattr(name)?.str()?.extract() };
        let (prefix, base) = (text("prefix")?, text("base_prefix")?);
        let venv = if prefix != base {
            prefix
        } else {
            "none".to_string()
        };
        Ok(format!(
            "Python {} at {}; virtualenv {venv}",
            text("version")?.replace('\n', " "),
            text("executable")?
        ))
    };
    read().unwrap_or_else(|e| format!("Python (cannot read sys: {e})"))
}

/// Imports `import` modules, then loads the default application (if `module`, `wsgi-file`
/// or `paste` names one) and every mount; then `chdir2`.
pub fn load_apps(py: Python<'_>, app: &AppConfig, hooks: &Hooks) -> Result<Apps, LoadError> {
    // Hooks may run commands for a while: without the GIL, as any blocking call.
    py.detach(|| hooks.run_phase(crate::hooks::Phase::PreApp))
        .map_err(LoadError::Hook)?;
    let assignments = hooks.assignments(crate::hooks::Phase::PreApp);
    if !assignments.is_empty() {
        let environ = py
            .import("os")
            .and_then(|os| os.getattr("environ"))
            .map_err(|e| format!("hook putenv: {e}"))?;
        for (key, value) in assignments {
            environ
                .set_item(key, value)
                .map_err(|e| format!("hook putenv:{key}: {e}"))?;
        }
    }
    for name in &app.imports {
        py.import(name.as_str())
            .map_err(|e| format!("import {name}: {}", format_exception(py, &e)))?;
    }
    let default = if let Some(spec) = &app.paste {
        Some(load_paste(py, spec)?)
    } else if app.module.is_some() || app.wsgi_file.is_some() {
        Some(load_app(py, app)?)
    } else {
        None
    };
    let apps = Apps {
        default,
        mounts: load_mounts(py, app)?,
    };
    if let Some(dir) = &app.chdir2 {
        std::env::set_current_dir(dir).map_err(|e| format!("chdir2 {}: {e}", dir.display()))?;
    }
    py.detach(|| hooks.run_phase(crate::hooks::Phase::PostApp))
        .map_err(LoadError::Hook)?;
    Ok(apps)
}

/// `paste = config:/path/app.ini`: PasteDeploy's loadapp, as uWSGI's paste loader.
fn load_paste(py: Python<'_>, spec: &str) -> Result<Py<PyAny>, String> {
    let deploy = py.import("paste.deploy").map_err(|e| {
        format!(
            "paste {spec}: paste.deploy is not importable (pip install PasteDeploy): {}",
            format_exception(py, &e)
        )
    })?;
    let app = deploy
        .call_method1("loadapp", (spec,))
        .map_err(|e| format!("paste {spec}: {}", format_exception(py, &e)))?;
    if !app.is_callable() {
        return Err(format!(
            "paste {spec}: loadapp returned something not callable"
        ));
    }
    Ok(app.unbind())
}

/// The applications of `mount = /prefix=APP`, longest prefix first.
fn load_mounts(py: Python<'_>, app: &AppConfig) -> Result<Vec<(String, Py<PyAny>)>, String> {
    let mut mounts = Vec::new();
    for (mountpoint, spec) in &app.mounts {
        let loaded = if spec.ends_with(".py") || spec.ends_with(".wsgi") {
            let module = load_file(py, Path::new(spec))?;
            take_callable(py, &module, &format!("file '{spec}'"), &app.callable)?
        } else {
            let (name, callable) = spec
                .split_once(':')
                .unwrap_or((spec.as_str(), app.callable.as_str()));
            let module = py.import(name).map_err(|e| {
                format!(
                    "mount {mountpoint}: cannot import module '{name}': {}",
                    format_exception(py, &e)
                )
            })?;
            take_callable(py, &module, &format!("module '{name}'"), callable)?
        };
        mounts.push((mountpoint.clone(), loaded));
    }
    mounts.sort_by_key(|(mountpoint, _)| std::cmp::Reverse(mountpoint.len()));
    Ok(mounts)
}

fn take_callable(
    py: Python<'_>,
    module: &Bound<'_, PyModule>,
    label: &str,
    callable: &str,
) -> Result<Py<PyAny>, String> {
    let (name, factory) = match callable.strip_suffix("()") {
        Some(name) => (name, true),
        None => (callable, false),
    };
    let mut callable = module
        .getattr(name)
        .map_err(|_| format!("{label} has no callable '{name}'"))?;
    if factory {
        callable = callable
            .call0()
            .map_err(|e| format!("{label}: {name}() failed: {}", format_exception(py, &e)))?;
    }
    if !callable.is_callable() {
        return Err(format!("{label}: '{name}' is not callable"));
    }
    Ok(callable.unbind())
}

fn load_file<'py>(py: Python<'py>, file: &Path) -> Result<Bound<'py, PyModule>, String> {
    if !file.is_file() {
        return Err(format!("wsgi-file '{}' does not exist", file.display()));
    }
    // uWSGI's naming, so two files called app.py never share a sys.modules slot.
    let module_name: String = format!("uwsgi_file_{}", file.display())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let run = || -> PyResult<Bound<'py, PyModule>> {
        let util = py.import("importlib.util")?;
        let path = file.display().to_string();
        // An explicit source loader: `.wsgi` files have no suffix importlib recognises.
        let loader = py
            .import("importlib.machinery")?
            .getattr("SourceFileLoader")?
            .call1((module_name.as_str(), path.as_str()))?;
        let spec = util.call_method1("spec_from_loader", (module_name.as_str(), &loader))?;
        let module = util.call_method1("module_from_spec", (&spec,))?;
        py.import("sys")?
            .getattr("modules")?
            .set_item(module_name.as_str(), &module)?;
        loader.call_method1("exec_module", (&module,))?;
        Ok(module.cast_into::<PyModule>()?)
    };
    run().map_err(|e| {
        format!(
            "cannot load wsgi-file '{}': {}",
            file.display(),
            format_exception(py, &e)
        )
    })
}

/// The exception with its traceback, as Python would print it.
pub fn format_exception(py: Python<'_>, error: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1(
            "format_exception",
            (error.get_type(py), error.value(py), error.traceback(py)),
        )?
        .extract::<Vec<String>>()
    });
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => error.to_string(),
    }
}

/// The source files of every module imported so far, with their modification times
/// (py-autoreload compares two such snapshots).
pub fn module_files(py: Python<'_>) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
    let mut files = Vec::new();
    let Ok(modules) = py.import("sys").and_then(|sys| sys.getattr("modules")) else {
        return files;
    };
    let Ok(values) = modules.call_method0("values").and_then(|v| v.try_iter()) else {
        return files;
    };
    for module in values.flatten() {
        let Ok(file) = module
            .getattr("__file__")
            .and_then(|f| f.extract::<String>())
        else {
            continue;
        };
        let path = PathBuf::from(file);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        files.push((path, modified));
    }
    files
}

/// Freezes the objects the master created so that garbage collection in workers does not
/// write to (and so copy) the pages they share with it.
pub fn freeze_heap(py: Python<'_>) {
    if let Ok(gc) = py.import("gc") {
        let _ = gc.call_method0("collect");
        let _ = gc.call_method0("freeze");
    }
}

/// Forks with CPython's fork hooks around it (at-fork handlers, RNG reseeding, lock resets).
/// Returns what `fork` returned.
pub fn fork_with_python() -> nix::Result<nix::unistd::ForkResult> {
    Python::attach(|_py| {
        // SAFETY: called with the GIL held, from the master's only thread (the master never
        // starts threads), which is what PyOS_BeforeFork/AfterFork_* and fork require.
        unsafe {
            ffi::PyOS_BeforeFork();
            let result = nix::unistd::fork();
            match result {
                Ok(nix::unistd::ForkResult::Child) => ffi::PyOS_AfterFork_Child(),
                _ => ffi::PyOS_AfterFork_Parent(),
            }
            result
        }
    })
}

/// Removes variables from Python's `os.environ` (a snapshot taken at start-up).
pub fn forget_environment(names: &[&str]) {
    Python::attach(|py| {
        if let Ok(environ) = py.import("os").and_then(|os| os.getattr("environ")) {
            for name in names {
                let _ = environ.call_method1("pop", (*name, py.None()));
            }
        }
    });
}

/// Calls `uwsgi.NAME()` (`post_fork_hook`, `atexit`) if the `uwsgi` module is loaded and
/// defines it, logging a traceback if it raises.
pub fn call_uwsgi_hook(py: Python<'_>, name: &str) {
    let Ok(modules) = py.import("sys").and_then(|s| s.getattr("modules")) else {
        return;
    };
    let Ok(Some(module)) = modules
        .cast::<PyDict>()
        .map(|d| d.get_item("uwsgi").ok().flatten())
    else {
        return;
    };
    let Ok(hook) = module.getattr(name) else {
        return;
    };
    if hook.is_none() {
        return;
    }
    if let Err(e) = hook.call0() {
        crate::log::error(&format!(
            "uwsgi.{name} raised: {}",
            format_exception(py, &e)
        ));
    }
}

/// A worker's way out: run `uwsgi.atexit` (before Python's own atexit functions), atexit hooks and flush Python's stdio, because a worker never
/// calls Py_Finalize and buffered output would be lost.
pub fn worker_exit_hooks() {
    Python::attach(|py| {
        call_uwsgi_hook(py, "atexit");
        if let Ok(atexit) = py.import("atexit") {
            let _ = atexit.call_method0("_run_exitfuncs");
        }
        if let Ok(sys) = py.import("sys") {
            for stream in ["stdout", "stderr"] {
                if let Ok(s) = sys.getattr(stream) {
                    let _ = s.call_method0("flush");
                }
            }
        }
    });
}

/// Registers a thread that will call Python many times: its thread state is created once
/// and kept, so each later `Python::attach` only takes the GIL (a fresh state per call
/// costs about six times as much).
pub struct PythonThread {
    gil_state: ffi::PyGILState_STATE,
}

impl PythonThread {
    pub fn register() -> Self {
        // SAFETY: PyGILState_Ensure creates this thread's state and takes the GIL;
        // PyEval_SaveThread releases the GIL while the state (and its count) stays alive.
        unsafe {
            let gil_state = ffi::PyGILState_Ensure();
            ffi::PyEval_SaveThread();
            PythonThread { gil_state }
        }
    }
}

impl Drop for PythonThread {
    fn drop(&mut self) {
        // SAFETY: undoes `register` on the same thread, in reverse order.
        unsafe {
            ffi::PyEval_RestoreThread(ffi::PyGILState_GetThisThreadState());
            ffi::PyGILState_Release(self.gil_state);
        }
    }
}
