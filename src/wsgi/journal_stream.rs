//! The application's `sys.stdout` and `sys.stderr` under the journal: text written there
//! becomes journal entries through `log::app_output` (one per write that ends a line, at
//! the level the text names), with the instance's SYSLOG_IDENTIFIER, instead of lines of
//! the service's stream at priority 6 where a traceback is split into one entry per line.
//!
//! Owns: the Python stream objects that replace sys.stdout/sys.stderr. Must not: change
//! the streams when stderr is not the journal (plain lines, logto files stay as they are).

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Default priorities: stdout 6 (info), stderr 5 (notice) unless the text names a level.
const STDOUT_PRIORITY: u8 = 6;
const STDERR_PRIORITY: u8 = 5;

#[pyfunction]
fn send(priority: u8, text: &str) {
    crate::log::app_output(priority, text);
}

/// A text stream that buffers until a write ends a line, then sends what it holds as one
/// entry; everything else (fileno, buffer, encoding...) is the original stream's.
const STREAM_CLASS: &std::ffi::CStr = cr#"
import io


class JournalStream(io.TextIOBase):
    def __init__(self, original, send, priority):
        self._original = original
        self._send = send
        self._priority = priority
        self._pending = []

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not " + type(text).__name__)
        self._pending.append(text)
        if text.endswith("\n"):
            self.flush()
        return len(text)

    def flush(self):
        if self._pending:
            text = "".join(self._pending)
            self._pending = []
            self._send(self._priority, text)

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self._original.fileno()

    @property
    def encoding(self):
        return getattr(self._original, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._original, "errors", "strict")

    def __getattr__(self, name):
        return getattr(self._original, name)
"#;

/// Replaces sys.stdout and sys.stderr when log entries go to the journal. Called in the
/// master once Python is initialized, before the application is imported.
pub fn install(py: Python<'_>) -> PyResult<()> {
    if !crate::log::journal_active() {
        return Ok(());
    }
    let globals = PyDict::new(py);
    py.run(STREAM_CLASS, Some(&globals), None)?;
    let class = globals
        .get_item("JournalStream")?
        .expect("the class was just defined");
    let sender = wrap_pyfunction!(send, py)?;
    let sys = py.import("sys")?;
    for (name, priority) in [("stdout", STDOUT_PRIORITY), ("stderr", STDERR_PRIORITY)] {
        let original = sys.getattr(name)?;
        if original.is_none() {
            continue;
        }
        let _ = original.call_method0("flush");
        let stream = class.call1((original, &sender, priority))?;
        sys.setattr(name, stream)?;
    }
    Ok(())
}
