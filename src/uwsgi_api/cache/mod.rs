//! The shared cache behind `uwsgi.cache_*` (`cache2`, legacy `cache`): mapping each
//! configured cache before the first fork, handing the memory to the next master image at a
//! reload, and the Python functions.
//!
//! Owns: the configured caches, the reload hand-off, the Python functions. Must not: call
//! Python while holding a cache's mutex (only copy bytes into an already-allocated object);
//! the table's layout is table.rs's.

mod table;

use std::borrow::Cow;
use std::sync::OnceLock;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyModule, PyString};

use super::error::ConfigureError;
use crate::config::caches::CacheSpec;
use crate::config::ApiConfig;
pub use table::{Cache, Stored};

/// Environment variable carrying `name:fd:len` of each memfd-backed cache across a reload.
pub const RELOAD_CACHES_VAR: &str = "RWSGI_RELOAD_CACHES";

static CACHES: OnceLock<Vec<Cache>> = OnceLock::new();

/// Maps every configured cache (master, before the application loads). Idempotent.
pub fn configure(api: &ApiConfig, reloading: bool) -> Result<(), ConfigureError> {
    if CACHES.get().is_some() {
        return Ok(());
    }
    let mut specs = api.caches.clone();
    if api.legacy_cache_items > 0 {
        specs.push(CacheSpec::legacy(
            api.legacy_cache_items.max(2),
            api.legacy_cache_blocksize,
        ));
    }
    let handed: Vec<(String, i32, usize)> = std::env::var(RELOAD_CACHES_VAR)
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut fields = part.rsplitn(3, ':');
            let len = fields.next()?.parse().ok()?;
            let fd = fields.next()?.parse().ok()?;
            Some((fields.next()?.to_string(), fd, len))
        })
        .collect();
    std::env::remove_var(RELOAD_CACHES_VAR);
    let mut caches = Vec::new();
    for spec in specs {
        if caches.iter().any(|c: &Cache| c.spec.name == spec.name) {
            return Err(ConfigureError::CacheTwice(spec.name));
        }
        let inherited = handed
            .iter()
            .find(|(name, _, _)| *name == spec.name)
            .map(|(_, fd, len)| (*fd, *len));
        let name = spec.name.clone();
        let cache = Cache::open(spec, inherited, reloading)?;
        crate::log::info(&format!(
            "cache '{name}': {} items of up to {} bytes (keys up to {}){}",
            cache.spec.items - 1,
            cache.spec.blocksize,
            cache.spec.keysize,
            match (&cache.spec.store, cache.region.existing) {
                (Some(path), true) => format!(", restored from {}", path.display()),
                (Some(path), false) => format!(", stored in {}", path.display()),
                (None, true) => ", kept across the reload".to_string(),
                (None, false) => String::new(),
            }
        ));
        caches.push(cache);
    }
    // Memfds handed over but no longer configured close here (the OwnedFd of a region
    // stays open; others are closed now).
    for (name, fd, _) in &handed {
        if !caches.iter().any(|c| &c.spec.name == name) {
            let _ = nix::unistd::close(*fd);
        }
    }
    let _ = CACHES.set(caches);
    Ok(())
}

/// Before a reload's exec: lets the memfds survive it and says where they are.
pub fn export_for_reload() -> Option<String> {
    use std::os::fd::AsRawFd;
    let caches = CACHES.get()?;
    let mut parts = Vec::new();
    for cache in caches {
        let Some(fd) = &cache.region.fd else { continue };
        let raw = fd.as_raw_fd();
        // SAFETY: clearing FD_CLOEXEC on a descriptor this process owns.
        unsafe {
            let flags = libc::fcntl(raw, libc::F_GETFD);
            libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
        }
        parts.push(format!("{}:{raw}:{}", cache.spec.name, cache.region.len));
    }
    Some(parts.join(","))
}

fn caches() -> &'static [Cache] {
    CACHES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// The cache a Python call names (None or "": the first one configured). As uWSGI, a call
/// on no cache answers None (cache_num 0, cache_keys raises); rwsgi also logs why, once.
fn pick(name: Option<&str>) -> Option<&'static Cache> {
    let all = caches();
    let found = match name {
        None | Some("") => all.first(),
        Some(name) => all.iter().find(|c| c.spec.name == name),
    };
    if found.is_none() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            crate::log::warn(&match name {
                Some(name) if !name.is_empty() && !all.is_empty() => format!(
                    "uwsgi.cache_*: no cache named '{name}' (remote caches are not provided); the call answers None"
                ),
                _ => "uwsgi.cache_*: no cache is configured (add cache2 = name=NAME,items=N); the call answers None".to_string(),
            });
        });
    }
    found
}

fn no_cache() -> PyErr {
    PyValueError::new_err("no local uWSGI cache available")
}

/// A key or value: bytes, or str encoded as UTF-8 (uWSGI's TypeError otherwise).
fn bytes_of<'a>(object: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = object.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = object.cast::<PyString>() {
        return Ok(Cow::Owned(text.to_str()?.as_bytes().to_vec()));
    }
    let name = object
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "a bytes-like object is required, not '{name}'"
    )))
}

/// As uWSGI: a key over keysize is never found and never stored (the call answers None).
fn key_fits(cache: &Cache, key: &[u8]) -> bool {
    key.len() as u64 <= cache.spec.keysize
}

fn answer(py: Python<'_>, ok: bool) -> Py<PyAny> {
    if ok {
        true.into_pyobject(py)
            .expect("bool")
            .to_owned()
            .into_any()
            .unbind()
    } else {
        py.None()
    }
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_get<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(None);
    };
    if !key_fits(cache, &key) {
        return Ok(None);
    }
    // The object is allocated (GIL held) and filled while the mutex is held; no Python
    // code runs in between.
    cache
        .with_value(&key, |value| {
            PyBytes::new_with(py, value.len(), |buffer| {
                buffer.copy_from_slice(value);
                Ok(())
            })
        })
        .transpose()
}

fn set_or_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
    overwrite: bool,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let value = bytes_of(value)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    // As uWSGI: a key over keysize or a value over blocksize is not stored (None).
    if !key_fits(cache, &key) || value.len() as u64 > cache.spec.blocksize {
        return Ok(py.None());
    }
    let stored = cache.store(&key, &value, expires, overwrite);
    Ok(answer(py, stored == Stored::Yes))
}

#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_set(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    set_or_update(py, key, value, expires, cache, false)
}

#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    set_or_update(py, key, value, expires, cache, true)
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_del(py: Python<'_>, key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    Ok(answer(py, key_fits(cache, &key) && cache.delete(&key)))
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_exists(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    Ok(answer(py, key_fits(cache, &key) && cache.exists(&key)))
}

#[pyfunction]
#[pyo3(signature = (cache=None))]
fn cache_clear(py: Python<'_>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    cache.clear();
    Ok(answer(py, true))
}

fn change_number(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    delta: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    if !key_fits(cache, &key) || cache.spec.blocksize < 8 {
        return Ok(py.None());
    }
    Ok(answer(
        py,
        cache.add_number(&key, delta, expires) == Stored::Yes,
    ))
}

#[pyfunction]
#[pyo3(signature = (key, value=1, expires=0, cache=None))]
fn cache_inc(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    change_number(py, key, value, expires, cache)
}

#[pyfunction]
#[pyo3(signature = (key, value=1, expires=0, cache=None))]
fn cache_dec(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    change_number(py, key, value.wrapping_neg(), expires, cache)
}

/// The 64-bit number under `key` (as cache_inc stores it); as uWSGI, 0 when absent or when
/// the value is not 8 bytes long.
#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_num(key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<i64> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(0);
    };
    if !key_fits(cache, &key) {
        return Ok(0);
    }
    Ok(cache
        .with_value(&key, |value| {
            <[u8; 8]>::try_from(value).map(i64::from_le_bytes).ok()
        })
        .flatten()
        .unwrap_or(0))
}

#[pyfunction]
#[pyo3(signature = (cache=None))]
fn cache_keys<'py>(py: Python<'py>, cache: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let keys = pick(cache).ok_or_else(no_cache)?.keys();
    PyList::new(py, keys.iter().map(|k| PyBytes::new(py, k)))
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(cache_get, module)?)?;
    module.add_function(wrap_pyfunction!(cache_set, module)?)?;
    module.add_function(wrap_pyfunction!(cache_update, module)?)?;
    module.add_function(wrap_pyfunction!(cache_del, module)?)?;
    module.add_function(wrap_pyfunction!(cache_exists, module)?)?;
    module.add_function(wrap_pyfunction!(cache_clear, module)?)?;
    module.add_function(wrap_pyfunction!(cache_inc, module)?)?;
    module.add_function(wrap_pyfunction!(cache_dec, module)?)?;
    module.add_function(wrap_pyfunction!(cache_num, module)?)?;
    module.add_function(wrap_pyfunction!(cache_keys, module)?)?;
    Ok(())
}
