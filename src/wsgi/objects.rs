//! The Python objects a WSGI application touches: `wsgi.input`, `start_response` and the
//! `write` callable it returns, and `wsgi.file_wrapper` (PEP 3333).
//!
//! Owns: their Python-visible behaviour and the rules PEP 3333 puts on them (exc_info,
//! header validation at call time, EOF at CONTENT_LENGTH). Must not: do socket I/O; the
//! request body is complete before the application runs.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAssertionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::protocol::response::ResponseStart;

/// A request body, complete before the application is called: a slow client costs this
/// buffer, never a worker blocked in `read()`.
#[derive(Debug)]
pub enum Body {
    Memory(Vec<u8>),
    /// Large bodies are spilled to an unlinked temporary file.
    File {
        file: File,
        len: u64,
    },
    /// Read from the socket straight into the `bytes` that `wsgi.input.read()` returns.
    Bytes(BytesBuffer),
}

/// A `bytes` object allocated at its final size and filled in place by the connection: the
/// body read from the socket is the very object the application gets, with no copy in
/// between. Until it is handed over, this is its only reference.
#[derive(Debug)]
pub struct BytesBuffer {
    object: Py<PyBytes>,
    /// Address of the object's buffer (an address, not a pointer, so `Input` stays Send:
    /// the object it belongs to is what keeps it valid).
    addr: usize,
    len: usize,
    filled: usize,
}

impl BytesBuffer {
    /// A `bytes` of `len` bytes, contents not yet written.
    pub fn new(len: usize) -> PyResult<BytesBuffer> {
        Python::attach(|py| {
            // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes object of n
            // bytes whose contents the caller fills before anyone else sees it (the CPython
            // API's documented way to build one), or NULL with an exception set.
            let object = unsafe {
                let raw = pyo3::ffi::PyBytes_FromStringAndSize(
                    std::ptr::null(),
                    len as pyo3::ffi::Py_ssize_t,
                );
                Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked::<PyBytes>()
            };
            let addr = object.as_bytes().as_ptr() as usize;
            Ok(BytesBuffer {
                object: object.unbind(),
                addr,
                len,
                filled: 0,
            })
        })
    }

    /// The part still to fill.
    pub fn unfilled(&mut self) -> &mut [u8] {
        // SAFETY: `addr` is the start of the object's `len`-byte buffer, which lives as long
        // as `object`; no other reference to the object exists while it is being filled,
        // so nothing reads these bytes meanwhile.
        unsafe {
            std::slice::from_raw_parts_mut(
                (self.addr as *mut u8).add(self.filled),
                self.len - self.filled,
            )
        }
    }

    pub fn advance(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.len);
    }

    pub fn filled(&self) -> usize {
        self.filled
    }

    fn contents(&self) -> &[u8] {
        // SAFETY: as in `unfilled`; the filled prefix is initialised.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.filled) }
    }
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(v) => v.len() as u64,
            Body::File { len, .. } => *len,
            Body::Bytes(buffer) => buffer.filled as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `max` bytes at `offset`.
    fn bytes_at(&self, offset: u64, max: usize) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        let remaining = self.len().saturating_sub(offset);
        let want = (max as u64).min(remaining) as usize;
        match self {
            Body::Memory(v) => Ok(std::borrow::Cow::Borrowed(
                &v[offset as usize..offset as usize + want],
            )),
            Body::File { file, .. } => {
                let mut out = vec![0; want];
                file.read_exact_at(&mut out, offset)?;
                Ok(std::borrow::Cow::Owned(out))
            }
            Body::Bytes(buffer) => Ok(std::borrow::Cow::Borrowed(
                &buffer.contents()[offset as usize..offset as usize + want],
            )),
        }
    }
}

/// `wsgi.input`.
#[pyclass(module = "rwsgi")]
pub struct Input {
    body: Body,
    position: u64,
}

impl Input {
    pub fn new(body: Body) -> Self {
        Input { body, position: 0 }
    }

    pub fn body_len(&self) -> u64 {
        self.body.len()
    }

    fn remaining(&self) -> u64 {
        self.body.len() - self.position
    }

    fn limit(&self, size: Option<i64>) -> usize {
        let remaining = self.remaining();
        match size {
            Some(n) if n >= 0 => (n as u64).min(remaining) as usize,
            _ => remaining as usize,
        }
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        if let Body::Bytes(buffer) = &self.body {
            if self.position == 0 && n == buffer.filled && n == buffer.len {
                // The whole body at once: the object it was read into, not a copy.
                self.position = n as u64;
                return Ok(buffer.object.bind(py).clone());
            }
        }
        let bytes = self.body.bytes_at(self.position, n)?;
        self.position += bytes.len() as u64;
        Ok(PyBytes::new(py, &bytes))
    }

    fn line_length(&self, limit: usize) -> PyResult<usize> {
        const BLOCK: usize = 64 * 1024;
        let mut scanned = 0;
        while scanned < limit {
            let block = self
                .body
                .bytes_at(self.position + scanned as u64, BLOCK.min(limit - scanned))?;
            if let Some(newline) = block.iter().position(|b| *b == b'\n') {
                return Ok(scanned + newline + 1);
            }
            if block.is_empty() {
                break;
            }
            scanned += block.len();
        }
        Ok(limit)
    }
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.limit(size);
        self.take(py, n)
    }

    #[pyo3(signature = (size = None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.line_length(self.limit(size))?;
        self.take(py, n)
    }

    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let mut total = 0u64;
        while self.remaining() > 0 {
            let line = self.readline(py, None)?;
            total += line.as_bytes().len() as u64;
            lines.append(line)?;
            if hint.is_some_and(|h| h > 0 && total >= h as u64) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        self.readline(py, None).map(Some)
    }
}

/// What `start_response` and `write` record, read by the connection.
#[derive(Debug, Default)]
pub struct ResponseState {
    pub start: Option<ResponseStart>,
    pub headers_sent: bool,
    /// Bytes passed to `write()` not yet handed to the connection.
    pub written: Vec<u8>,
}

pub type SharedState = Arc<Mutex<ResponseState>>;

pub fn lock(state: &SharedState) -> std::sync::MutexGuard<'_, ResponseState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[pyclass(module = "rwsgi", frozen)]
pub struct StartResponse {
    pub state: SharedState,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<WriteCallable> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let state = lock(&self.state);
            match (&exc_info, state.start.is_some(), state.headers_sent) {
                (Some(info), _, true) => {
                    // PEP 3333: headers are gone; re-raise the application's exception.
                    let value = info.cast::<PyTuple>()?.get_item(1)?;
                    return Err(PyErr::from_value(value));
                }
                (None, true, _) => {
                    return Err(PyAssertionError::new_err(
                        "start_response() called a second time without exc_info",
                    ))
                }
                _ => {}
            }
        }
        let status = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("status must be a str such as '200 OK'"))?
            .to_str()?;
        let mut start = ResponseStart::new(status).map_err(|e| PyValueError::new_err(e.0))?;
        let headers = headers
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err("headers must be a list of (name, value) tuples"))?;
        for item in headers.iter() {
            let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) = item
                .extract()
                .map_err(|_| PyTypeError::new_err("each header must be a (str, str) tuple"))?;
            start
                .add_header(name.to_str()?, value.to_str()?)
                .map_err(|e| PyValueError::new_err(e.0))?;
        }
        lock(&self.state).start = Some(start);
        let _ = py;
        Ok(WriteCallable {
            state: self.state.clone(),
        })
    }
}

/// The `write(data)` callable of PEP 3333's imperative API.
#[pyclass(module = "rwsgi", frozen)]
pub struct WriteCallable {
    state: SharedState,
}

#[pymethods]
impl WriteCallable {
    fn __call__(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("write() takes bytes"))?;
        lock(&self.state)
            .written
            .extend_from_slice(bytes.as_bytes());
        Ok(())
    }
}

/// `wsgi.file_wrapper`: the connection sends a real file with sendfile(2) from its current
/// position; anything else is iterated in `blksize` blocks.
#[pyclass(module = "rwsgi")]
pub struct FileWrapper {
    pub filelike: Py<PyAny>,
    blksize: i64,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = 65536))]
    fn new(filelike: Py<PyAny>, blksize: i64) -> Self {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let block = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        if block.is_truthy()? {
            Ok(Some(block))
        } else {
            Ok(None)
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr("close")? {
            filelike.call_method0("close")?;
        }
        Ok(())
    }
}
