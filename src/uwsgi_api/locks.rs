//! `uwsgi.lock(n)`, `unlock(n)`, `is_locked(n)` (`locks = N`: locks 0..N; lock 0 always
//! exists): robust process-shared mutexes in memory the master maps before the first fork, so
//! a worker that dies holding one (SIGKILL, harakiri) never leaves the others stuck.
//!
//! Owns: the lock table and the Python functions. Must not: hold the GIL while waiting.

use std::sync::OnceLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyModule;

use super::error::ConfigureError;
use super::shm::RobustMutex;
use crate::sys::shared_mem::Region;

static LOCKS: OnceLock<&'static [RobustMutex]> = OnceLock::new();

/// Maps `count` locks (the master, before the application loads). Idempotent.
pub fn configure(count: usize) -> Result<(), ConfigureError> {
    if LOCKS.get().is_some() {
        return Ok(());
    }
    let len = count * std::mem::size_of::<RobustMutex>();
    let region = Region::anonymous(len).map_err(|e| ConfigureError::system("locks", e))?;
    let base = region.base as *mut RobustMutex;
    // SAFETY: the region holds `count` zeroed mutex slots (mmap'd, page-aligned); each is
    // initialised before any other process exists; the region is never unmapped, so the
    // slice lives as long as the process.
    let locks = unsafe {
        for index in 0..count {
            RobustMutex::init(base.add(index));
        }
        std::slice::from_raw_parts(base as *const RobustMutex, count)
    };
    let _ = LOCKS.set(locks);
    Ok(())
}

fn lock_number(number: i64) -> PyResult<&'static RobustMutex> {
    LOCKS
        .get()
        .and_then(|locks| usize::try_from(number).ok().and_then(|n| locks.get(n)))
        .ok_or_else(|| PyValueError::new_err("Invalid lock number"))
}

/// Waits for lock `n` (default 0) without holding the GIL.
#[pyfunction]
#[pyo3(signature = (n=0))]
fn lock(py: Python<'_>, n: i64) -> PyResult<()> {
    let mutex = lock_number(n)?;
    let recovered = py.detach(|| mutex.lock());
    if recovered {
        crate::log::warn(&format!(
            "uwsgi.lock({n}): its previous holder died holding it; taken over"
        ));
    }
    Ok(())
}

#[pyfunction]
#[pyo3(signature = (n=0))]
fn unlock(n: i64) -> PyResult<()> {
    lock_number(n)?.unlock();
    Ok(())
}

/// Whether lock `n` is held (by anyone, this thread included).
#[pyfunction]
#[pyo3(signature = (n=0))]
fn is_locked(n: i64) -> PyResult<bool> {
    let mutex = lock_number(n)?;
    Ok(match mutex.try_lock() {
        Some(_) => {
            mutex.unlock();
            false
        }
        None => true,
    })
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(lock, module)?)?;
    module.add_function(wrap_pyfunction!(unlock, module)?)?;
    module.add_function(wrap_pyfunction!(is_locked, module)?)?;
    Ok(())
}
