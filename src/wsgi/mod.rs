//! The WSGI adapter: calls the application with an environ and turns what it returns into
//! a stream of body blocks, a file to send, or an error with its traceback.
//!
//! Owns: the PEP 3333 call protocol (start_response timing, iterable, close()). Must not:
//! write to sockets or choose framing; the worker's connection code does that with the GIL
//! released.

pub mod block;
pub mod environ;
pub mod host;
pub mod interpreter;
pub mod journal_stream;
pub mod objects;
pub mod strings;

use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyTuple};

use block::Block;
use objects::{FileWrapper, ResponseState, SharedState, StartResponse};

/// A real file behind `wsgi.file_wrapper`, sent with sendfile(2).
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub len: u64,
}

/// The application's answer while it is being sent.
pub struct AppResponse {
    iterable: Py<PyAny>,
    iterator: Option<Py<PyIterator>>,
    /// A list or tuple cannot block between items, so it is gathered whole (and its length
    /// becomes Content-Length); any other iterable is sent block by block as PEP 3333 asks.
    gather_all: bool,
    state: SharedState,
    pub file: Option<FileBody>,
    closed: bool,
}

/// Calls `app(environ, start_response)`.
pub fn call_app(
    py: Python<'_>,
    app: &Py<PyAny>,
    environ: Bound<'_, PyDict>,
) -> PyResult<AppResponse> {
    let state: SharedState = Arc::new(Mutex::new(ResponseState::default()));
    let start_response = Bound::new(
        py,
        StartResponse {
            state: state.clone(),
        },
    )?;
    let result = app.bind(py).call1((environ, start_response))?;
    let file = result
        .cast::<FileWrapper>()
        .ok()
        .and_then(|wrapper| real_file(py, wrapper.borrow().filelike.bind(py)));
    let gather_all = result.is_instance_of::<PyList>() || result.is_instance_of::<PyTuple>();
    Ok(AppResponse {
        iterable: result.unbind(),
        iterator: None,
        gather_all,
        state,
        file,
        closed: false,
    })
}

/// The file's descriptor, position and remaining length, if it is a regular file.
fn real_file(py: Python<'_>, filelike: &Bound<'_, PyAny>) -> Option<FileBody> {
    let fd: i32 = filelike
        .call_method0(intern!(py, "fileno"))
        .ok()?
        .extract()
        .ok()?;
    let position: u64 = filelike
        .call_method0(intern!(py, "tell"))
        .ok()?
        .extract()
        .ok()?;
    // SAFETY: `fd` is open (the file object owns it and outlives this call); dup gives us an
    // independent descriptor we own and close.
    let owned = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .ok()?;
    let file = File::from(owned);
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    Some(FileBody {
        file,
        offset: position,
        len: metadata.len().saturating_sub(position),
    })
}

impl AppResponse {
    pub fn state(&self) -> MutexGuard<'_, ResponseState> {
        objects::lock(&self.state)
    }

    /// Appends the next body block(s) to `out`; returns true when the iterable is exhausted.
    /// Empty blocks are skipped, so `out` is non-empty unless the body ended. The `bytes`
    /// items are held by reference, not copied (see `block`).
    pub fn pull(&mut self, py: Python<'_>, out: &mut Block) -> PyResult<bool> {
        let mut iterator = match &self.iterator {
            Some(it) => it.bind(py).clone(),
            None => {
                let it = self.iterable.bind(py).try_iter()?;
                self.iterator = Some(it.clone().unbind());
                it
            }
        };
        loop {
            self.drain_written(out);
            if !out.is_empty() && !self.gather_all {
                return Ok(false);
            }
            let Some(item) = iterator.next() else {
                self.drain_written(out);
                return Ok(true);
            };
            let item = item?;
            let bytes = item.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "the response iterable must yield bytes, not {}",
                    item.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            out.push_bytes(bytes);
        }
    }

    fn drain_written(&self, out: &mut Block) {
        let mut state = self.state();
        if !state.written.is_empty() {
            out.push_owned(&mut state.written);
        }
    }

    /// Calls the iterable's `close()` once, as PEP 3333 requires on every path.
    pub fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        let iterable = self.iterable.bind(py);
        // A plain list or tuple has no close(); asking would build and discard an
        // AttributeError on every request of the simplest applications.
        if iterable.is_exact_instance_of::<PyList>() || iterable.is_exact_instance_of::<PyTuple>() {
            return Ok(());
        }
        if iterable.hasattr(intern!(py, "close"))? {
            iterable.call_method0(intern!(py, "close"))?;
        }
        Ok(())
    }
}
