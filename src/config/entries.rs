//! What the readers produce and everything after them consumes: one `key = value` entry
//! and where it was written.
//!
//! Owns: `Entry`, `Origin` and the readers' `SourceError`. Must not: read or interpret.

use std::fmt;
use std::rc::Rc;

/// Where an entry was written, for error messages: `app.ini:5` or `command line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    /// A `UWSGI_<OPTION>` environment variable.
    Environment(String),
    File {
        path: Rc<str>,
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => write!(f, "command line"),
            Origin::Environment(variable) => write!(f, "environment {variable}"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// As written (not normalized), so placeholders can refer to it exactly.
    pub key: String,
    /// `None` when the key was written without `=` (a flag set to true).
    pub value: Option<String>,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct SourceError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for SourceError {}
