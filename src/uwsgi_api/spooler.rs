//! The spooler's task files and its Python API: `uwsgi.spool()` (alias `send_to_spooler`),
//! `spooler_jobs()`, `spooler_pid()`, `spooler_pids()`, `in_spooler()`, and reading a
//! task back for the spooler process (uWSGI 2.0's semantics, from its documentation).
//!
//! A task is one file: a uwsgi packet (modifier1 17, u16 little-endian sizes, key/value
//! pairs) followed by the raw `body`. It is written to a hidden temporary file in the
//! target directory, synced and renamed into place, so a spooler never sees half a task
//! and a task survives a crash or restart of rwsgi.
//!
//! Owns: the spool directories known to this server (prepared at start: created if missing,
//! refused if not writable), the file format, the shared table of spooler pids.
//! Must not: fork or run tasks (the master's `spoolers` module does both).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use super::error::ConfigureError;
pub use super::error::TaskError;
use crate::config::SpoolerConfig;
use crate::sys::shared_mem::Region;

/// uWSGI's return codes for a spooler function.
pub const SPOOL_OK: i64 = -2;
pub const SPOOL_RETRY: i64 = -1;
pub const SPOOL_IGNORE: i64 = 0;

/// The packet's modifier1 for a spooler task, as uWSGI's.
const MODIFIER_SPOOLER: u8 = 17;
/// Spooler processes whose pids the shared table holds.
pub const MAX_SPOOLERS: usize = 256;
/// Where a task file that cannot be parsed is moved, inside its spool directory.
pub const UNPARSEABLE_DIR: &str = ".rwsgi-unparseable";

/// Directories with spooler processes here, then the external ones.
static DIRS: OnceLock<(Vec<PathBuf>, Vec<PathBuf>)> = OnceLock::new();
static PIDS: OnceLock<&'static [AtomicI32]> = OnceLock::new();
static IN_SPOOLER: AtomicBool = AtomicBool::new(false);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// In the master at start: makes the directories absolute, creates missing ones (as uWSGI
/// does) and refuses any this process cannot write a task into, with its path and error.
pub fn configure(config: &SpoolerConfig) -> Result<(), ConfigureError> {
    let absolute = |dirs: &[PathBuf]| -> Result<Vec<PathBuf>, ConfigureError> {
        dirs.iter()
            .map(|dir| {
                let dir = std::path::absolute(dir)
                    .map_err(|e| ConfigureError::system(format!("spooler {}", dir.display()), e))?;
                prepare(&dir)?;
                Ok(dir)
            })
            .collect()
    };
    let dirs = absolute(&config.dirs)?;
    let external = absolute(&config.external)?;
    let _ = DIRS.set((dirs, external));
    if PIDS.get().is_none() {
        let region = Region::anonymous(MAX_SPOOLERS * std::mem::size_of::<AtomicI32>())
            .map_err(|e| ConfigureError::system("spooler pid table", e))?;
        let _ = PIDS.set(region.view(0, MAX_SPOOLERS));
    }
    Ok(())
}

/// Creates `dir` if missing and checks a task can be written there (a probe file).
fn prepare(dir: &Path) -> Result<(), ConfigureError> {
    if !dir.is_dir() {
        if dir.exists() {
            return Err(ConfigureError::NotADirectory(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            ConfigureError::system(format!("spooler {}: cannot create it", dir.display()), e)
        })?;
        crate::log::info(&format!("spooler {}: created", dir.display()));
    }
    let probe = dir.join(format!(".rwsgi-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            ConfigureError::system(
                format!(
                    "spooler {}: not writable, tasks could not be spooled",
                    dir.display()
                ),
                e,
            )
        })
}

/// The spool directories with spooler processes here.
pub fn dirs() -> &'static [PathBuf] {
    DIRS.get().map(|d| d.0.as_slice()).unwrap_or(&[])
}

/// Called first thing in a spooler process.
pub fn enter_spooler() {
    IN_SPOOLER.store(true, Ordering::Relaxed);
}

/// Spooler process `index`'s pid (0: down or none).
pub fn pid_of(index: usize) -> i32 {
    PIDS.get()
        .and_then(|t| t.get(index))
        .map_or(0, |p| p.load(Ordering::Relaxed))
}

/// The master records spooler process `index`'s pid (0 while it is down).
pub fn set_pid(index: usize, pid: i32) {
    if let Some(slot) = PIDS.get().and_then(|t| t.get(index)) {
        slot.store(pid, Ordering::Relaxed);
    }
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(spool, module)?)?;
    module.add("send_to_spooler", module.getattr("spool")?)?;
    module.add_function(wrap_pyfunction!(spooler_jobs, module)?)?;
    module.add_function(wrap_pyfunction!(spooler_pid, module)?)?;
    module.add_function(wrap_pyfunction!(spooler_pids, module)?)?;
    module.add_function(wrap_pyfunction!(in_spooler, module)?)?;
    Ok(())
}

/// A task as read back: its variables and body.
pub struct Task {
    pub vars: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Task {
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses a task file's bytes; the error says what is wrong.
pub fn parse(data: &[u8]) -> Result<Task, TaskError> {
    if data.len() < 4 {
        return Err(TaskError::TooShort(data.len()));
    }
    if data[0] != MODIFIER_SPOOLER {
        return Err(TaskError::NotATask(data[0]));
    }
    let size = u16::from_le_bytes([data[1], data[2]]) as usize;
    let Some(mut rest) = data.get(4..4 + size) else {
        return Err(TaskError::VariablesPastEnd(size));
    };
    let mut vars = Vec::new();
    let take = |rest: &mut &[u8]| -> Result<Vec<u8>, TaskError> {
        if rest.len() < 2 {
            return Err(TaskError::TruncatedLength);
        }
        let length = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let Some(value) = rest.get(2..2 + length) else {
            return Err(TaskError::VariablePastHeader);
        };
        let value = value.to_vec();
        *rest = &rest[2 + length..];
        Ok(value)
    };
    while !rest.is_empty() {
        let key = take(&mut rest)?;
        let value = take(&mut rest)?;
        vars.push((key, value));
    }
    Ok(Task {
        vars,
        body: data[4 + size..].to_vec(),
    })
}

fn encode(vars: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> Result<Vec<u8>, String> {
    let mut packet = vec![MODIFIER_SPOOLER, 0, 0, 0];
    for (key, value) in vars {
        for part in [key, value] {
            let length = u16::try_from(part.len()).map_err(|_| {
                "a spool variable is larger than 64 KiB: pass it as body".to_string()
            })?;
            packet.extend_from_slice(&length.to_le_bytes());
            packet.extend_from_slice(part);
        }
    }
    let size = u16::try_from(packet.len() - 4).map_err(|_| {
        format!(
            "the spool variables take {} bytes, above uWSGI's 64 KiB limit: pass large data as body",
            packet.len() - 4
        )
    })?;
    packet[1..3].copy_from_slice(&size.to_le_bytes());
    packet.extend_from_slice(body);
    Ok(packet)
}

fn to_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(text) = value.extract::<String>() {
        return Ok(text.into_bytes());
    }
    if value.extract::<i64>().is_ok() || value.extract::<f64>().is_ok() {
        return Ok(value.str()?.to_string().into_bytes());
    }
    Err(PyTypeError::new_err(format!(
        "uwsgi.spool: {what} must be str or bytes (or a number), not {}",
        value.get_type().name()?
    )))
}

/// `uwsgi.spool(dict)` or `uwsgi.spool(key=value...)`: queues a task and returns its file
/// name (bytes). Special keys: `body` (bytes, any size), `spooler` (which directory),
/// `priority` (a number: the sub-directory), `at` (unix time it may run from).
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
fn spool<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let merged = PyDict::new(py);
    match args.len() {
        0 => {}
        1 => merged.update(args.get_item(0)?.cast::<PyDict>()?.as_mapping())?,
        n => {
            return Err(PyTypeError::new_err(format!(
                "uwsgi.spool takes one dict or keyword arguments ({n} positional given)"
            )))
        }
    }
    if let Some(kwargs) = kwargs {
        merged.update(kwargs.as_mapping())?;
    }
    let mut vars = Vec::new();
    let (mut body, mut target, mut priority) = (Vec::new(), None, None);
    for (key, value) in merged.iter() {
        let key = to_bytes(&key, "a key")?;
        let value = to_bytes(&value, "a value")?;
        match key.as_slice() {
            b"body" => body = value,
            b"spooler" => {
                target = Some(PathBuf::from(String::from_utf8_lossy(&value).into_owned()))
            }
            b"priority" => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err(PyValueError::new_err(
                        "uwsgi.spool: priority must be a whole number",
                    ));
                }
                priority = Some(String::from_utf8_lossy(&value).into_owned());
                vars.push((key, value));
            }
            b"at" => {
                if String::from_utf8_lossy(&value)
                    .trim()
                    .parse::<f64>()
                    .is_err()
                {
                    return Err(PyValueError::new_err("uwsgi.spool: at must be a unix time"));
                }
                vars.push((key, value));
            }
            _ => vars.push((key, value)),
        }
    }
    let mut dir = choose_dir(target.as_deref())?;
    if let Some(priority) = priority {
        dir.push(priority);
    }
    let packet = encode(&vars, &body).map_err(PyValueError::new_err)?;
    let path = py.detach(|| write_task(&dir, &packet))?;
    Ok(PyBytes::new(py, path.as_os_str().as_encoded_bytes()))
}

fn choose_dir(target: Option<&Path>) -> PyResult<PathBuf> {
    let (dirs, external) = DIRS
        .get()
        .map(|(d, e)| (d.as_slice(), e.as_slice()))
        .unwrap_or_default();
    let known = || dirs.iter().chain(external);
    match target {
        None => dirs.first().or(external.first()).cloned().ok_or_else(|| {
            PyRuntimeError::new_err("uwsgi.spool: no spooler is configured (spooler = DIR)")
        }),
        Some(target) => {
            let absolute = std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf());
            known().find(|d| **d == absolute).cloned().ok_or_else(|| {
                let names: Vec<String> = known().map(|d| d.display().to_string()).collect();
                PyValueError::new_err(format!(
                    "uwsgi.spool: {} is not a configured spooler (spooler or spooler-external): {}",
                    target.display(),
                    names.join(", ")
                ))
            })
        }
    }
}

/// Writes the task under a hidden temporary name, syncs it and renames it into place.
fn write_task(dir: &Path, packet: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let now = crate::sys::time::unix_now();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!(
        "uwsgi_spoolfile_on_{hostname}_{}_{}_{}_{:09}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed) + 1,
        now.as_secs(),
        now.subsec_nanos()
    );
    let temporary = dir.join(format!(".{name}.tmp"));
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(packet)?;
        file.sync_all()
    });
    let path = dir.join(&name);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temporary, &path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(std::io::Error::new(
            e.kind(),
            format!("uwsgi.spool: cannot write a task in {}: {e}", dir.display()),
        ));
    }
    Ok(path)
}

/// The task files waiting in `dir`: its numeric (priority) sub-directories lowest first,
/// then its own files; with `ordered`, each group by age then name.
pub fn pending(dir: &Path, ordered: bool) -> Vec<PathBuf> {
    let mut priorities = Vec::new();
    let mut own = Vec::new();
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                if let Ok(number) = name.parse::<u64>() {
                    priorities.push((number, entry.path()));
                }
            }
            Ok(kind) if kind.is_file() => own.push(entry.path()),
            _ => {}
        }
    }
    priorities.sort();
    let mut all = Vec::new();
    for (_, sub) in priorities {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map(|l| {
                l.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        sort_if(&mut files, ordered);
        all.extend(files);
    }
    sort_if(&mut own, ordered);
    all.extend(own);
    all
}

fn sort_if(files: &mut [PathBuf], ordered: bool) {
    if ordered {
        files.sort_by_cached_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.clone(),
            )
        });
    }
}

#[pyfunction]
fn spooler_jobs(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for dir in dirs() {
        for path in pending(dir, true) {
            list.append(PyBytes::new(py, path.as_os_str().as_encoded_bytes()))?;
        }
    }
    Ok(list)
}

fn live_pids() -> Vec<i32> {
    PIDS.get()
        .map(|t| {
            t.iter()
                .map(|p| p.load(Ordering::Relaxed))
                .filter(|p| *p > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// The first spooler process's pid (0 without one), as uWSGI's.
#[pyfunction]
fn spooler_pid() -> i32 {
    live_pids().first().copied().unwrap_or(0)
}

#[pyfunction]
fn spooler_pids() -> Vec<i32> {
    live_pids()
}

#[pyfunction]
fn in_spooler() -> bool {
    IN_SPOOLER.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_back_as_written() {
        let vars = vec![
            (b"name".to_vec(), b"value".to_vec()),
            (b"e".to_vec(), Vec::new()),
        ];
        let packet = encode(&vars, b"\0body\xff").unwrap();
        let task = parse(&packet).unwrap();
        assert_eq!(task.vars, vars);
        assert_eq!(task.body, b"\0body\xff");
    }

    #[test]
    fn garbage_and_oversize_are_refused() {
        let refused = |data: &[u8]| parse(data).err().unwrap();
        assert_eq!(refused(b"hel"), TaskError::TooShort(3));
        assert_eq!(
            refused(b"hello world").to_string(),
            "modifier1 104 is not a spooler task (17)"
        );
        assert_eq!(
            refused(&[17, 200, 0, 0, 1]).to_string(),
            "header announces 200 bytes of variables; the file is shorter"
        );
        assert_eq!(refused(&[17, 1, 0, 0, 1]), TaskError::TruncatedLength);
        assert_eq!(
            refused(&[17, 3, 0, 0, 5, 0, b'x']).to_string(),
            "a variable runs past the header's size"
        );
        let big = vec![(b"k".to_vec(), vec![b'x'; 70_000])];
        assert!(encode(&big, b"").is_err());
    }
}
